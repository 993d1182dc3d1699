/*
 * quantize.c — the quantize pass: float Conv, Gemm and MatMul become
 * kiln's integer ops, QConv and QMatMul (post-training static
 * quantization, Jacob et al., "Quantization and Training of Neural
 * Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018).
 *
 * What it needs.  A range [lo, hi] for every activation a quantized op
 * reads or writes: from a calibration profile (--profile, written by
 * `kiln calibrate`) or measured on the spot (--data DIR, calibrate.c).
 * Every quantized node's input and output must be in it; a profile made
 * for another model therefore fails on the first tensor it lacks.
 *
 * The rewrite, node by node in graph order:
 *
 *   - Conv (constant W, optional constant B), Gemm (constant B, transA 0,
 *     constant or no C) and MatMul (constant 2-D B) with f32 data become
 *     QConv / QMatMul.  Weights are quantized now, to int8 in [-127, 127]
 *     with one scale per output channel (--per-tensor: one scale), Gemm's
 *     alpha, beta and transB folded in (QMatMul's B is [K, N]).  The bias
 *     becomes int32 with scale s_x * s_w[c].  Scales and zero points live
 *     in the values' ir_quant records, so `kiln dump` shows them.
 *   - The input is the uint8 form of x if an earlier rewrite produced one,
 *     else a QuantizeLinear inserted before the node.
 *   - A Relu, or a Clip with constant bounds, that is the output's only
 *     reader is fused: it becomes the op's act_min/act_max clamp, and its
 *     output's range is the one used.
 *   - An Add whose two inputs are already uint8 and of one shape (a
 *     residual connection), with a Relu or Clip it is the only reader of,
 *     becomes kiln.QAdd (qmath.h): the block stays integer from conv to
 *     conv.
 *   - Data movers that commute with a monotonic per-tensor quantization
 *     (MaxPool, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Identity)
 *     whose input is already uint8 run on the uint8 values and pass the
 *     scale and zero point on, so conv -> relu -> pool -> flatten -> gemm
 *     stays integer throughout.
 *   - Every float value that was replaced by a uint8 one gets a
 *     DequantizeLinear writing the original value, for float readers and
 *     graph outputs; eliminate-dead-code drops the ones nobody reads.
 *
 * The integer arithmetic (zero points, dyadic requantization, clamps) is
 * specified in compiler/ir/qmath.h.  Nodes named by --keep-float, and
 * nodes of other shapes or dtypes, stay in float.
 *
 * The modes for language models' linear layers (docs/quantization.md,
 * "Linear layers: w8a8, w4a8, w4a16") leave Conv in float:
 *
 *   - w8a8: Gemm and MatMul as above (int8 weights per column, uint8
 *     activations and outputs from the profile), nothing else.
 *   - w4a16: weight-only.  Gemm and MatMul become kiln.MatMulW4 with int4
 *     weights, round-to-nearest in [-7, 7], one f32 scale per group of
 *     --group-size rows of K and column; float input and output, the bias
 *     kept in float.  Needs no profile.
 *   - w4a8: the same int4 weights, and the input quantized to uint8 with
 *     the profile's range (a QuantizeLinear, shared by the linears reading
 *     one value); the group sums are exact int32, the output float.
 *
 * The w4 rewrite lives in its own functions below (quantize_matmul_w4 and
 * its helpers), apart from the int8 ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "passes.h"
#include "qmath.h"

/* --quantize's scheme */
typedef enum { QMODE_INT8, QMODE_W8A8, QMODE_W4A8, QMODE_W4A16 } qmode;

typedef struct qstate {
  kiln_ctx *ctx;
  qmode mode;
  ir_graph *g;
  const kiln_options *opt;
  kiln_calib_profile prof;
  bool prof_loaded;          /* read (or calibrated) on the first range needed, so
                              * a model the pass leaves alone (QDQ already folded by
                              * fold-qdq) needs neither --profile nor --data */
  char prof_name[512];       /* "profile 'P.yaml'" or "the calibration on 'DIR'" */
  char *budget_notes;        /* --accuracy-budget's decisions, markdown lines for the report */
  ir_value_id *qv;           /* qv[v]: the uint8 value standing for float v, or IR_NONE */
  int32_t num_values0;       /* values before the pass (qv's size): only those
                              * can be replaced */
} qstate;

static ir_quant *tensor_quant(ir_graph *g, float scale, int32_t zp) {
  ir_quant *q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = IR_QUANT_TENSOR;
  q->count = 1;
  q->scales = ir_arena_alloc(&g->arena, sizeof *q->scales);
  q->scales[0] = scale;
  q->zero_points = ir_arena_alloc(&g->arena, sizeof *q->zero_points);
  q->zero_points[0] = zp;
  return q;
}

static ir_value_id scalar_const(ir_graph *g, const char *name, ir_dtype dt, const void *data) {
  ir_shape s = {.rank = 0};
  return ir_add_const(g, name, dt, &s, data, ir_dtype_bytes(dt, 1), false);
}

/* Loads the ranges: the --profile file, or a calibration on --data. */
static kiln_status load_profile(qstate *q, ir_node_id n) {
  const kiln_options *opt = q->opt;
  kiln_status st;
  if (opt->quant_profile) {
    st = kiln_profile_read(q->ctx, opt->quant_profile, &q->prof);
    snprintf(q->prof_name, sizeof q->prof_name, "profile '%s'", opt->quant_profile);
  } else if (opt->calib_data) {
    st = kiln_calibrate(q->ctx, q->g, opt, opt->calib_data, &q->prof);
    snprintf(q->prof_name, sizeof q->prof_name, "the calibration on '%s'", opt->calib_data);
  } else {
    ir_error_node(q->g, n, "--quantize %s needs activation ranges: --profile PROFILE.yaml (from "
                  "kiln calibrate) or --data DIR", opt->quantize);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  q->prof_loaded = !st;
  return st;
}

/* The profile's range of value v, read by node n; reports if missing. */
static const kiln_tensor_stats *range_of(qstate *q, ir_node_id n, ir_value_id v) {
  if (!q->prof_loaded && load_profile(q, n)) return NULL;
  const kiln_tensor_stats *t = kiln_profile_find(&q->prof, q->g->values[v].name);
  if (!t) {
    bool other = q->prof.model && q->g->name && strcmp(q->prof.model, q->g->name);
    ir_error_node(q->g, n, "%s has no range for tensor '%s'%s%s%s", q->prof_name,
                  q->g->values[v].name, other ? " (it was made for model '" : "",
                  other ? q->prof.model : "",
                  other ? "'; calibrate this model with kiln calibrate)" : "; was it made for this model?");
  }
  return t;
}

/* The uint8 form of float value x (read by node n), quantizing it with a
 * new QuantizeLinear when no rewrite produced one yet. */
static ir_value_id quantized_input(qstate *q, ir_node_id n, ir_value_id x) {
  if (q->qv[x] != IR_NONE) return q->qv[x];
  const kiln_tensor_stats *t = range_of(q, n, x);
  if (!t) return IR_NONE;
  ir_graph *g = q->g;
  float scale;
  int32_t zp;
  kiln_quant_params_u8(t->lo, t->hi, &scale, &zp);
  uint8_t zp8 = (uint8_t)zp;
  char name[256];
  snprintf(name, sizeof name, "%s.scale", g->values[x].name);
  ir_value_id sv = scalar_const(g, name, IR_F32, &scale);
  snprintf(name, sizeof name, "%s.zero_point", g->values[x].name);
  ir_value_id zv = scalar_const(g, name, IR_U8, &zp8);
  snprintf(name, sizeof name, "%s.q", g->values[x].name);
  ir_shape shape = g->values[x].shape; /* ir_add_value may move g->values */
  ir_value_id xq = ir_add_value(g, name, IR_U8, &shape);
  g->values[xq].quant = tensor_quant(g, scale, zp);
  ir_value_id ins[3] = {x, sv, zv};
  snprintf(name, sizeof name, "%s.quantize", g->values[x].name);
  ir_add_node(g, IR_OP_QUANTIZE_LINEAR, name, 3, ins, 1, &xq);
  q->qv[x] = xq;
  return xq;
}

/* Reads a constant f32 tensor's payload, or NULL. */
static const float *f32_const(const ir_graph *g, ir_value_id v) {
  if (v < 0 || g->values[v].dtype != IR_F32) return NULL;
  return ir_const_data(g, v);
}

/* Weights as a [rows, cols] float matrix; `channel_axis` 0 means one scale
 * per row (Conv: M x C*K), 1 per column (QMatMul's B: K x N).  Writes the
 * int8 constant and its ir_quant. */
static ir_value_id quantize_weights(qstate *q, const char *name, const float *w, int64_t rows,
                                    int64_t cols, int channel_axis, const ir_shape *shape,
                                    float **scales_out) {
  ir_graph *g = q->g;
  int64_t nch = channel_axis ? cols : rows;
  bool per_tensor = q->opt->per_tensor;
  float *scales = ir_arena_alloc(&g->arena, (size_t)nch * sizeof *scales);
  double all = 0;
  for (int64_t i = 0; i < rows * cols; i++) all = fmax(all, fabs(w[i]));
  for (int64_t c = 0; c < nch; c++) {
    double amax = 0;
    for (int64_t k = 0; k < (channel_axis ? rows : cols); k++)
      amax = fmax(amax, fabs(channel_axis ? w[k * cols + c] : w[c * cols + k]));
    scales[c] = kiln_weight_scale(per_tensor ? all : amax);
  }
  int8_t *wq = kiln_malloc(q->ctx, (size_t)(rows * cols) + 1);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++)
      wq[r * cols + c] = kiln_quant_weight(w[r * cols + c], scales[channel_axis ? c : r]);
  ir_value_id v = ir_add_const(g, name, IR_I8, shape, wq, rows * cols, false);
  kiln_free(q->ctx, wq);
  ir_quant *qq = ir_arena_alloc(&g->arena, sizeof *qq);
  if (per_tensor) {
    qq->kind = IR_QUANT_TENSOR;
    qq->count = 1;
  } else {
    qq->kind = IR_QUANT_CHANNEL;
    qq->axis = channel_axis;
    qq->count = nch;
  }
  qq->scales = scales;
  g->values[v].quant = qq;
  *scales_out = scales;
  return v;
}

/* int32 bias of scale sx * sw[c] from float bias b (NULL: zeros). */
static ir_value_id quantize_bias(qstate *q, const char *name, const float *b, int64_t n,
                                 double sx, const float *sw, bool sw_per_channel) {
  ir_graph *g = q->g;
  int32_t *bq = kiln_malloc(q->ctx, (size_t)n * sizeof *bq + 1);
  ir_quant *qq = ir_arena_alloc(&g->arena, sizeof *qq);
  qq->kind = IR_QUANT_CHANNEL;
  qq->count = n;
  qq->scales = ir_arena_alloc(&g->arena, (size_t)n * sizeof *qq->scales);
  for (int64_t c = 0; c < n; c++) {
    double s = sx * sw[sw_per_channel ? c : 0];
    qq->scales[c] = (float)s;
    bq[c] = b ? kiln_quant_bias(b[c], s) : 0;
  }
  ir_shape shape = {.rank = 1, .dims = {n}};
  ir_value_id v = ir_add_const(g, name, IR_I32, &shape, bq, n * 4, false);
  kiln_free(q->ctx, bq);
  g->values[v].quant = qq;
  return v;
}

/* The node whose output fuses into n's: the only reader of y, if it is a
 * Relu or a Clip with constant bounds and y is not a graph output. */
static ir_node_id fused_activation(qstate *q, ir_value_id y, double *lo, double *hi) {
  ir_graph *g = q->g;
  if (g->values[y].num_uses != 1 || g->values[y].storage == IR_STORAGE_OUTPUT) return IR_NONE;
  for (ir_node_id m = 0; m < g->num_nodes; m++) {
    ir_node *nd = &g->nodes[m];
    if (nd->dead || nd->num_inputs < 1 || nd->inputs[0] != y) continue;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (nd->op == IR_OP_RELU) {
      *lo = 0;
      return m;
    }
    if (nd->op != IR_OP_CLIP) return IR_NONE;
    double v;
    if (g->opset < 11) {
      *lo = ir_attr_float_or(g, m, "min", -INFINITY);
      *hi = ir_attr_float_or(g, m, "max", INFINITY);
      return m;
    }
    if (nd->num_inputs > 1 && nd->inputs[1] >= 0) {
      if (!ir_const_scalar(g, nd->inputs[1], &v)) return IR_NONE;
      *lo = v;
    }
    if (nd->num_inputs > 2 && nd->inputs[2] >= 0) {
      if (!ir_const_scalar(g, nd->inputs[2], &v)) return IR_NONE;
      *hi = v;
    }
    return m;
  }
  return IR_NONE;
}

static int32_t clamp_q(double v) { return v < 0 ? 0 : v > 255 ? 255 : (int32_t)v; }

/* Gives n's (possibly fused) output its uint8 value; returns it, or
 * IR_NONE after reporting.  Sets the act_min/act_max of the new node. */
static ir_value_id quantized_output(qstate *q, ir_node_id n, ir_value_id y, int32_t *act_lo,
                                    int32_t *act_hi, float *sy, int32_t *zy) {
  ir_graph *g = q->g;
  double flo, fhi;
  ir_node_id act = fused_activation(q, y, &flo, &fhi);
  ir_value_id f = act != IR_NONE ? g->nodes[act].outputs[0] : y;
  const kiln_tensor_stats *t = range_of(q, n, f);
  if (!t) return IR_NONE;
  kiln_quant_params_u8(t->lo, t->hi, sy, zy);
  *act_lo = 0;
  *act_hi = 255;
  if (act != IR_NONE) {
    if (isfinite(flo)) *act_lo = clamp_q(*zy + nearbyint(flo / *sy));
    if (isfinite(fhi)) *act_hi = clamp_q(*zy + nearbyint(fhi / *sy));
    g->nodes[act].dead = true;
  }
  char name[256];
  snprintf(name, sizeof name, "%s.q", g->values[f].name);
  ir_shape shape = g->values[f].shape; /* ir_add_value may move g->values */
  ir_value_id yq = ir_add_value(g, name, IR_U8, &shape);
  g->values[yq].quant = tensor_quant(g, *sy, *zy);
  q->qv[f] = yq;
  return yq;
}

static void copy_attrs(ir_graph *g, ir_node_id from, ir_node_id to) {
  ir_node *src = &g->nodes[from];
  ir_attr *a = ir_arena_alloc(&g->arena, (size_t)src->num_attrs * sizeof *a + 1);
  if (src->num_attrs) memcpy(a, src->attrs, (size_t)src->num_attrs * sizeof *a);
  g->nodes[to].attrs = a;
  g->nodes[to].num_attrs = src->num_attrs;
}

/* The multiplier s_x * s_w / s_y must have a dyadic form (qmath.h). */
static bool multiplier_ok(qstate *q, ir_node_id n, double sx, const float *sw, int64_t count,
                          double sy) {
  for (int64_t c = 0; c < count; c++) {
    double m = sx * sw[c] / sy;
    if (!(m > 0 && m < (double)(1 << 30))) {
      ir_error_node(q->g, n, "requantization factor %g of channel %lld is out of range (the "
                    "calibrated output range is degenerate)", m, (long long)c);
      return false;
    }
  }
  return true;
}

static kiln_status quantize_conv(qstate *q, ir_node_id n) {
  ir_graph *g = q->g;
  ir_node *nd = &g->nodes[n];
  ir_value_id x = nd->inputs[0], wv = nd->inputs[1], bv = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  ir_value_id y = nd->outputs[0];
  const float *w = f32_const(g, wv), *b = bv >= 0 ? f32_const(g, bv) : NULL;
  ir_shape wshape = g->values[wv].shape; /* a copy: adding values moves g->values */
  const ir_shape *ws = &wshape;
  if (!w || (bv >= 0 && !b) || g->values[x].dtype != IR_F32 || ws->rank < 3 ||
      !ir_shape_is_static(ws))
    return KILN_OK; /* not a shape this pass handles: stays float */
  const char *nm = nd->name;
  ir_value_id xq = quantized_input(q, n, x);
  if (xq == IR_NONE) return KILN_ERR_INVALID_ARGUMENT;
  double sx = g->values[xq].quant->scales[0];
  int64_t M = ws->dims[0], per = ir_shape_numel(ws) / M;
  char name[256];
  float *sw;
  snprintf(name, sizeof name, "%s.qweight", g->values[wv].name);
  ir_value_id wq = quantize_weights(q, name, f32_const(g, wv), M, per, 0, &wshape, &sw);
  int64_t nsw = g->values[wq].quant->count;
  snprintf(name, sizeof name, "%s.qbias", bv >= 0 ? g->values[bv].name : nm);
  ir_value_id bq = quantize_bias(q, name, b, M, sx, sw, nsw > 1);
  int32_t lo, hi, zy;
  float sy;
  ir_value_id yq = quantized_output(q, n, y, &lo, &hi, &sy, &zy);
  if (yq == IR_NONE) return KILN_ERR_INVALID_ARGUMENT;
  if (!multiplier_ok(q, n, sx, sw, nsw, sy)) return KILN_ERR_INVALID_ARGUMENT;
  ir_value_id ins[3] = {xq, wq, bq};
  nm = g->nodes[n].name;
  ir_node_id qn = ir_add_node(g, IR_OP_QCONV, nm, 3, ins, 1, &yq);
  copy_attrs(g, n, qn);
  ir_set_attr_int(g, qn, "act_min", lo);
  ir_set_attr_int(g, qn, "act_max", hi);
  g->nodes[n].dead = true;
  return pass_infer_node(g, qn);
}

static kiln_status quantize_matmul_w4(qstate *q, ir_node_id n, const float *bk, const float *bias,
                                      int64_t K, int64_t N); /* below, with the w4 modes */

/* Gemm (transA 0, constant B and C) and MatMul (constant 2-D B). */
static kiln_status quantize_matmul(qstate *q, ir_node_id n) {
  ir_graph *g = q->g;
  ir_node *nd = &g->nodes[n];
  bool gemm = nd->op == IR_OP_GEMM;
  ir_value_id a = nd->inputs[0], bv = nd->inputs[1], cv = gemm && nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  ir_value_id y = nd->outputs[0];
  const float *b = f32_const(g, bv), *c = cv >= 0 ? f32_const(g, cv) : NULL;
  ir_shape bshape = g->values[bv].shape, ashape = g->values[a].shape; /* copies, as above */
  const ir_shape *bs = &bshape, *as = &ashape;
  if (!b || (cv >= 0 && !c) || g->values[a].dtype != IR_F32 || bs->rank != 2 || as->rank < 2)
    return KILN_OK;
  bool transb = gemm && ir_attr_int_or(g, n, "transB", 0);
  if (gemm && ir_attr_int_or(g, n, "transA", 0)) return KILN_OK;
  double alpha = gemm ? ir_attr_float_or(g, n, "alpha", 1) : 1, beta = gemm ? ir_attr_float_or(g, n, "beta", 1) : 1;
  int64_t K = bs->dims[transb ? 1 : 0], N = bs->dims[transb ? 0 : 1];
  int64_t nc = cv >= 0 ? ir_shape_numel(&g->values[cv].shape) : 0;
  if (cv >= 0 && nc != 1 && nc != N) return KILN_OK; /* a per-row C: not a bias */
  /* B as [K, N] with alpha folded in; C as a length-N bias with beta */
  float *bk = kiln_malloc(q->ctx, (size_t)(K * N) * sizeof *bk + 1);
  for (int64_t k = 0; k < K; k++)
    for (int64_t j = 0; j < N; j++) bk[k * N + j] = (float)(alpha * (transb ? b[j * K + k] : b[k * N + j]));
  float *bias = NULL;
  if (c) {
    bias = kiln_malloc(q->ctx, (size_t)N * sizeof *bias);
    for (int64_t j = 0; j < N; j++) bias[j] = (float)(beta * c[nc == 1 ? 0 : j]);
  }
  kiln_status st = KILN_ERR_INVALID_ARGUMENT;
  if (q->mode == QMODE_W4A8 || q->mode == QMODE_W4A16) {
    st = quantize_matmul_w4(q, n, bk, bias, K, N);
    kiln_free(q->ctx, bk);
    kiln_free(q->ctx, bias);
    return st;
  }
  ir_value_id aq = quantized_input(q, n, a);
  if (aq != IR_NONE) {
    double sa = g->values[aq].quant->scales[0];
    char name[256];
    float *sw;
    ir_shape kn = {.rank = 2, .dims = {K, N}};
    snprintf(name, sizeof name, "%s.qweight", g->values[bv].name);
    ir_value_id bq = quantize_weights(q, name, bk, K, N, 1, &kn, &sw);
    int64_t nsw = g->values[bq].quant->count;
    snprintf(name, sizeof name, "%s.qbias", cv >= 0 ? g->values[cv].name : g->nodes[n].name);
    ir_value_id cq = quantize_bias(q, name, bias, N, sa, sw, nsw > 1);
    int32_t lo, hi, zy;
    float sy;
    ir_value_id yq = quantized_output(q, n, y, &lo, &hi, &sy, &zy);
    if (yq != IR_NONE && multiplier_ok(q, n, sa, sw, nsw, sy)) {
      ir_value_id ins[3] = {aq, bq, cq};
      ir_node_id qn = ir_add_node(g, IR_OP_QMAT_MUL, g->nodes[n].name, 3, ins, 1, &yq);
      ir_set_attr_int(g, qn, "act_min", lo);
      ir_set_attr_int(g, qn, "act_max", hi);
      g->nodes[n].dead = true;
      st = pass_infer_node(g, qn);
    }
  }
  kiln_free(q->ctx, bk);
  kiln_free(q->ctx, bias);
  return st;
}

/* ---- 4-bit weights (w4a16, w4a8) ---- */

/* The group size of --group-size (default 128). */
static int64_t w4_group(const qstate *q) { return q->opt->group_size > 0 ? q->opt->group_size : 128; }

/* B [K, N] to int4 by round-to-nearest, symmetric in [-7, 7] per group of
 * G rows and column: scale = max |w| / 7 over the group.  Writes the i4
 * constant (ONNX packing: flat element e in the low nibble of byte e/2
 * when e is even) and the f32 [K/G, N] scales. */
static void quantize_weights_w4(qstate *q, const char *base, const float *b, int64_t K, int64_t N,
                                int64_t G, ir_value_id *wq, ir_value_id *sq) {
  ir_graph *g = q->g;
  int64_t ng = K / G;
  float *sc = kiln_malloc(q->ctx, (size_t)(ng * N) * sizeof *sc + 1);
  uint8_t *packed = kiln_calloc(q->ctx, (size_t)(K * N / 2) + 1, 1);
  for (int64_t gi = 0; gi < ng; gi++)
    for (int64_t j = 0; j < N; j++) {
      double amax = 0;
      for (int64_t k = gi * G; k < (gi + 1) * G; k++) amax = fmax(amax, fabs(b[k * N + j]));
      float s = amax > 0 ? (float)(amax / 7.0) : 1.0f;
      sc[gi * N + j] = s;
      for (int64_t k = gi * G; k < (gi + 1) * G; k++) {
        double v = nearbyint((double)b[k * N + j] / s);
        int qv = (int)(v < -7 ? -7 : v > 7 ? 7 : v);
        int64_t e = k * N + j;
        packed[e / 2] |= (uint8_t)((qv & 15) << (e % 2 ? 4 : 0));
      }
    }
  char name[300];
  ir_shape kn = {.rank = 2, .dims = {K, N}}, gn = {.rank = 2, .dims = {ng, N}};
  snprintf(name, sizeof name, "%s.w4", base);
  *wq = ir_add_const(g, name, IR_I4, &kn, packed, K * N / 2, false);
  snprintf(name, sizeof name, "%s.w4_scales", base);
  *sq = ir_add_const(g, name, IR_F32, &gn, sc, ng * N * (int64_t)sizeof *sc, false);
  kiln_free(q->ctx, packed);
  kiln_free(q->ctx, sc);
}

/* Gemm / MatMul with B [K, N] (alpha folded in) and an optional bias of N
 * floats into kiln.MatMulW4 writing y itself (f32). */
static kiln_status quantize_matmul_w4(qstate *q, ir_node_id n, const float *bk, const float *bias,
                                      int64_t K, int64_t N) {
  ir_graph *g = q->g;
  int64_t G = w4_group(q);
  if (K % G || N % 2) {
    kiln_warn(q->ctx, "node '%s' (%s) stays float: K = %lld is not a multiple of --group-size "
              "%lld, or N = %lld is odd", g->nodes[n].name, ir_ops[g->nodes[n].op].name,
              (long long)K, (long long)G, (long long)N);
    return KILN_OK;
  }
  ir_value_id a = g->nodes[n].inputs[0], y = g->nodes[n].outputs[0];
  if (q->mode == QMODE_W4A8) {
    a = quantized_input(q, n, a);
    if (a == IR_NONE) return KILN_ERR_INVALID_ARGUMENT;
  }
  char base[256];
  snprintf(base, sizeof base, "%s", g->values[g->nodes[n].inputs[1]].name);
  ir_value_id ins[4] = {a, IR_NONE, IR_NONE, IR_NONE};
  quantize_weights_w4(q, base, bk, K, N, G, &ins[1], &ins[2]);
  int nin = 3;
  if (bias) {
    char name[256];
    snprintf(name, sizeof name, "%s.w4_bias", g->nodes[n].name);
    ir_shape ns = {.rank = 1, .dims = {N}};
    ins[nin++] = ir_add_const(g, name, IR_F32, &ns, bias, N * (int64_t)sizeof *bias, false);
  }
  ir_node_id qn = ir_add_node(g, IR_OP_MATMUL_W4, g->nodes[n].name, nin, ins, 1, &y);
  ir_set_attr_int(g, qn, "group_size", G);
  g->nodes[n].dead = true;
  return pass_infer_node(g, qn);
}

/* An Add of two values that are already uint8 (a residual connection:
 * the block's last conv and the shortcut), with its Relu, becomes
 * kiln.QAdd: one pass over bytes instead of two dequantizations, a float
 * Add, a Relu and a quantization over floats.  Shapes must match (no
 * broadcasting); scale ratios kiln_requant_pair cannot hold stay float. */
static kiln_status quantize_add(qstate *q, ir_node_id n) {
  ir_graph *g = q->g;
  ir_node *nd = &g->nodes[n];
  ir_value_id a = nd->inputs[0], b = nd->inputs[1], y = nd->outputs[0];
  if (b < 0 || b >= q->num_values0 || q->qv[a] == IR_NONE || q->qv[b] == IR_NONE ||
      g->values[y].dtype != IR_F32 || !ir_shape_is_static(&g->values[y].shape) ||
      !ir_shape_equal(&g->values[a].shape, &g->values[y].shape) ||
      !ir_shape_equal(&g->values[b].shape, &g->values[y].shape))
    return KILN_OK;
  ir_value_id aq = q->qv[a], bq = q->qv[b];
  double flo, fhi;
  ir_node_id act = fused_activation(q, y, &flo, &fhi);
  /* a profile of an older kiln has no range here: the Add stays float */
  if (!q->prof_loaded && load_profile(q, n)) return KILN_ERR_INVALID_ARGUMENT;
  const kiln_tensor_stats *t =
      kiln_profile_find(&q->prof, g->values[act != IR_NONE ? g->nodes[act].outputs[0] : y].name);
  if (!t) return KILN_OK;
  float sy;
  int32_t zy, ma, mb, sh;
  kiln_quant_params_u8(t->lo, t->hi, &sy, &zy);
  if (!kiln_requant_pair(g->values[aq].quant->scales[0] / sy, g->values[bq].quant->scales[0] / sy,
                         &ma, &mb, &sh))
    return KILN_OK;
  int32_t lo, hi;
  ir_value_id yq = quantized_output(q, n, y, &lo, &hi, &sy, &zy);
  if (yq == IR_NONE) return KILN_ERR_INVALID_ARGUMENT;
  ir_value_id ins[2] = {aq, bq};
  ir_node_id qn = ir_add_node(g, IR_OP_QADD, g->nodes[n].name, 2, ins, 1, &yq);
  ir_set_attr_int(g, qn, "act_min", lo);
  ir_set_attr_int(g, qn, "act_max", hi);
  g->nodes[n].dead = true;
  return pass_infer_node(g, qn);
}

static bool is_mover(ir_op op) {
  return op == IR_OP_MAX_POOL || op == IR_OP_FLATTEN || op == IR_OP_RESHAPE ||
         op == IR_OP_SQUEEZE || op == IR_OP_UNSQUEEZE || op == IR_OP_TRANSPOSE ||
         op == IR_OP_IDENTITY;
}

/* A data mover on a uint8 input runs on it and hands the quantization on. */
static kiln_status move_quantized(qstate *q, ir_node_id n) {
  ir_graph *g = q->g;
  ir_node *nd = &g->nodes[n];
  ir_value_id x = nd->inputs[0], y = nd->outputs[0];
  for (int o = 1; o < nd->num_outputs; o++)
    if (nd->outputs[o] >= 0) return KILN_OK; /* MaxPool's indices */
  if (g->values[y].dtype != IR_F32) return KILN_OK;
  ir_value_id xq = q->qv[x];
  ir_value_id *ins = ir_arena_dup(&g->arena, nd->inputs, (size_t)nd->num_inputs * sizeof *ins);
  ins[0] = xq;
  char name[256];
  snprintf(name, sizeof name, "%s.q", g->values[y].name);
  ir_shape shape = g->values[y].shape; /* ir_add_value may move g->values */
  ir_value_id yq = ir_add_value(g, name, IR_U8, &shape);
  g->values[yq].quant = g->values[xq].quant;
  int nin = g->nodes[n].num_inputs;
  ir_node_id qn = ir_add_node(g, g->nodes[n].op, g->nodes[n].name, nin, ins, 1, &yq);
  copy_attrs(g, n, qn);
  g->nodes[n].dead = true;
  q->qv[y] = yq;
  return pass_infer_node(g, qn);
}

/* --keep-float NODE[,NODE...]: marks the named nodes; unknown names are
 * an error listing them. */
static kiln_status keep_float_set(qstate *q, bool *keep) {
  const char *list = q->opt->keep_float;
  if (!list) return KILN_OK;
  kiln_status st = KILN_OK;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    bool found = false;
    for (ir_node_id n = 0; n < q->g->num_nodes; n++)
      if (!q->g->nodes[n].dead && strlen(q->g->nodes[n].name) == len &&
          !strncmp(q->g->nodes[n].name, p, len))
        keep[n] = found = true;
    if (!found && len) {
      kiln_error(q->ctx, "--keep-float: the model has no node named '%.*s'", (int)len, p);
      st = KILN_ERR_INVALID_ARGUMENT;
    }
    p += len;
    if (*p == ',') p++;
  }
  return st;
}

/* The rewrite itself, on q->g, skipping the nodes marked in keep[] (node
 * ids of q->g, which must have as many nodes as when keep was made).
 * Leaves q->qv for the report; the caller frees it. */
static kiln_status rewrite(qstate *q, const bool *keep) {
  kiln_ctx *ctx = q->ctx;
  ir_graph *g = q->g;
  kiln_status st = KILN_OK;
  ir_graph_recount_uses(g);
  int32_t nn = g->num_nodes;
  q->num_values0 = g->num_values;
  size_t cap = (size_t)q->num_values0 + 1;
  q->qv = kiln_malloc(ctx, cap * sizeof *q->qv);
  for (size_t v = 0; v < cap; v++) q->qv[v] = IR_NONE;
  for (ir_node_id n = 0; n < nn && !st; n++) {
    ir_node *nd = &g->nodes[n];
    if (nd->dead || keep[n] || nd->num_inputs < 1 || nd->inputs[0] < 0 ||
        nd->inputs[0] >= q->num_values0)
      continue;
    if (nd->op == IR_OP_CONV && q->mode == QMODE_INT8) /* the linear modes leave Conv float */
      st = quantize_conv(q, n);
    else if (nd->op == IR_OP_GEMM || nd->op == IR_OP_MAT_MUL)
      st = quantize_matmul(q, n);
    else if (nd->op == IR_OP_ADD && q->mode == QMODE_INT8)
      st = quantize_add(q, n);
    else if (is_mover(nd->op) && q->qv[nd->inputs[0]] != IR_NONE &&
             (q->mode == QMODE_INT8 || q->mode == QMODE_W8A8)) /* w4a8's u8 inputs are not
                                                                 * outputs to carry on */
      st = move_quantized(q, n);
  }
  /* float readers and graph outputs of replaced values read a dequantized copy */
  bool *read = kiln_calloc(ctx, (size_t)g->num_values + 1, sizeof *read);
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    for (int i = 0; !g->nodes[n].dead && i < g->nodes[n].num_inputs; i++)
      if (g->nodes[n].inputs[i] >= 0) read[g->nodes[n].inputs[i]] = true;
  for (int o = 0; o < g->num_outputs; o++) read[g->outputs[o]] = true;
  for (ir_value_id v = 0; v < q->num_values0 && !st; v++) {
    ir_value_id vq = q->qv[v];
    if (vq == IR_NONE || !read[v] || g->values[v].producer == IR_NONE ||
        !g->nodes[g->values[v].producer].dead)
      continue;
    const ir_quant *qq = g->values[vq].quant;
    char name[256];
    snprintf(name, sizeof name, "%s.dq_scale", g->values[v].name);
    ir_value_id sv = scalar_const(g, name, IR_F32, &qq->scales[0]);
    uint8_t zp8 = (uint8_t)qq->zero_points[0];
    snprintf(name, sizeof name, "%s.dq_zero_point", g->values[v].name);
    ir_value_id zv = scalar_const(g, name, IR_U8, &zp8);
    ir_value_id ins[3] = {vq, sv, zv};
    snprintf(name, sizeof name, "%s.dequantize", g->values[v].name);
    ir_add_node(g, IR_OP_DEQUANTIZE_LINEAR, name, 3, ins, 1, &v);
  }
  kiln_free(ctx, read);
  if (!st) {
    ir_graph_compact(g);
    st = ir_graph_toposort(g);
    ir_graph_recount_uses(g);
  }
  return st;
}

static bool quantizable(const qstate *q, ir_node_id n) {
  ir_op op = q->g->nodes[n].op;
  return !q->g->nodes[n].dead &&
         ((op == IR_OP_CONV && q->mode == QMODE_INT8) || op == IR_OP_GEMM || op == IR_OP_MAT_MUL);
}

/* The output error of g quantized except the nodes in keep[], against
 * the float reference (a clone is rewritten and run; g is unchanged). */
static kiln_status error_with(qstate *q, kiln_float_ref *ref, const bool *keep, double *err) {
  qstate c = *q;
  c.g = ir_graph_clone_borrowing(q->g);
  c.qv = NULL;
  kiln_ctx *ctx = q->ctx;
  kiln_status st = rewrite(&c, keep);
  if (!st) st = kiln_output_error(ctx, ref, c.g, q->opt, err);
  kiln_free(ctx, c.qv);
  ir_graph_free(c.g);
  return st;
}

/*
 * --accuracy-budget X: automatic mixed precision.  The error of a
 * quantized graph is the largest |int8 - fp32| / max |fp32| over its
 * outputs on the --data samples.  Each candidate node's sensitivity is
 * the error when it alone is quantized; starting from everything
 * quantized, the most sensitive nodes are kept in float one at a time
 * until the error is within the budget.  Marks the kept nodes in keep[].
 */
static kiln_status choose_float_nodes(qstate *q, bool *keep) {
  kiln_ctx *ctx = q->ctx;
  ir_graph *g = q->g;
  const kiln_options *opt = q->opt;
  if (!opt->calib_data) {
    kiln_error(ctx, "--accuracy-budget measures the error on calibration samples: give --data DIR");
    return KILN_ERR_INVALID_ARGUMENT;
  }
  kiln_float_ref *ref = NULL;
  kiln_status st = kiln_float_ref_make(ctx, g, opt, &ref);
  int32_t nn = g->num_nodes;
  double *sens = kiln_calloc(ctx, (size_t)nn + 1, sizeof *sens);
  bool *only = kiln_calloc(ctx, (size_t)nn + 1, sizeof *only);
  double err = 0;
  if (!st) st = error_with(q, ref, keep, &err);
  int kept = 0;
  if (!st && err > opt->accuracy_budget) {
    for (ir_node_id n = 0; n < nn && !st; n++) {
      if (!quantizable(q, n) || keep[n]) continue;
      for (ir_node_id m = 0; m < nn; m++) only[m] = m != n;
      st = error_with(q, ref, only, &sens[n]);
    }
    while (!st && err > opt->accuracy_budget) {
      ir_node_id worst = IR_NONE;
      for (ir_node_id n = 0; n < nn; n++)
        if (quantizable(q, n) && !keep[n] && (worst == IR_NONE || sens[n] > sens[worst])) worst = n;
      if (worst == IR_NONE) break;
      keep[worst] = true;
      kept++;
      st = error_with(q, ref, keep, &err);
      char line[512];
      snprintf(line, sizeof line, "node '%s' (%s) kept in float: quantized alone it gives error "
               "%.4g, the largest of the nodes left; error now %.4g", g->nodes[worst].name,
               ir_ops[g->nodes[worst].op].name, sens[worst], err);
      if (ctx->diag_stream) fprintf(ctx->diag_stream, "kiln: --accuracy-budget %g: %s\n", opt->accuracy_budget, line);
      size_t have = q->budget_notes ? strlen(q->budget_notes) : 0;
      q->budget_notes = kiln_realloc(ctx, q->budget_notes, have + strlen(line) + 8);
      snprintf(q->budget_notes + have, strlen(line) + 8, "- %s\n", line);
    }
  }
  if (!st && err > opt->accuracy_budget)
    kiln_warn(ctx, "--accuracy-budget %g: the error is %.4g even with every node in float",
              opt->accuracy_budget, err);
  kiln_free(ctx, sens);
  kiln_free(ctx, only);
  kiln_float_ref_free(ctx, ref);
  return st;
}

kiln_status pass_quantize(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  static const char *const modes[] = {[QMODE_INT8] = "int8", [QMODE_W8A8] = "w8a8",
                                      [QMODE_W4A8] = "w4a8", [QMODE_W4A16] = "w4a16"};
  int mode = -1;
  for (int i = 0; opt->quantize && i < 4; i++)
    if (!strcmp(opt->quantize, modes[i])) mode = i;
  if (mode < 0) {
    kiln_error(ctx, "the quantize pass needs --quantize int8, w8a8, w4a8 or w4a16%s%s%s",
               opt->quantize ? " (not '" : "", opt->quantize ? opt->quantize : "",
               opt->quantize ? "')" : "");
    return KILN_ERR_INVALID_ARGUMENT;
  }
  qstate q = {.ctx = ctx, .g = g, .opt = opt, .mode = (qmode)mode};
  /* --quant-report compares with the float graph as it is now */
  ir_graph *float_g = opt->quant_report ? ir_graph_clone_borrowing(g) : NULL;
  bool *keep = kiln_calloc(ctx, (size_t)g->num_nodes + 1, sizeof *keep);
  kiln_status st = keep_float_set(&q, keep);
  if (!st && opt->accuracy_budget > 0) {
    /* the ranges once, before any clone is rewritten */
    for (ir_node_id n = 0; n < g->num_nodes && !q.prof_loaded && !st; n++)
      if (quantizable(&q, n) && !keep[n] && q.mode != QMODE_W4A16) st = load_profile(&q, n);
    if (!st) st = choose_float_nodes(&q, keep);
  }
  if (!st) st = rewrite(&q, keep);
  kiln_free(ctx, keep);
  if (q.prof_loaded) kiln_profile_free(ctx, &q.prof);
  if (!st && float_g)
    st = kiln_quant_report(ctx, float_g, g, q.qv, q.num_values0, opt, q.budget_notes);
  ir_graph_free(float_g);
  kiln_free(ctx, q.budget_notes);
  kiln_free(ctx, q.qv);
  return st;
}
