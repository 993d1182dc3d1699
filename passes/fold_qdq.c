/*
 * fold_qdq.c — the fold-qdq pass: pre-quantized ONNX models onto kiln's
 * integer ops.
 *
 * Quantization tools ship int8 models in two forms, and this pass turns
 * both into the kiln.QConv / kiln.QMatMul that the quantize pass writes,
 * so they run on the same integer kernels:
 *
 *   QDQ (ONNX Runtime's quantize_static, PyTorch's export): float ops
 *   wrapped in DequantizeLinear / QuantizeLinear,
 *
 *       xq -> DQ -> Conv|Gemm|MatMul (W = DQ(const int8), B) [-> Relu|Clip] -> Q -> yq
 *
 *   QOperator: QLinearConv and QLinearMatMul, which hold the same
 *   information as operands.
 *
 * A residual Add between two dequantized uint8 tensors of one shape whose
 * result is quantized again (DQ + DQ -> Add [-> Relu|Clip] -> Q) becomes
 * kiln.QAdd.
 *
 * The scales and zero points come from the model's own Q/DQ constants
 * (so no calibration is needed) and become ir_quant records of xq, the
 * weights and yq.  A pattern is folded only when it fits kiln's scheme
 * (compiler/ir/qmath.h): uint8 activations with one scale, int8 weights
 * with zero point 0 and one scale per tensor or per output channel, a
 * float bias (quantized here with s_x * s_w) or an int32 one.  Anything
 * else is left as it is and runs as the plain ONNX ops.
 *
 * Semantics.  ONNX requantizes in float (round(acc * s_x * s_w / s_y));
 * kiln uses the dyadic fixed-point multiplier of qmath.h, which can differ
 * by one unit where the float product lands within rounding error of a
 * half.  ConvInteger and MatMulInteger return the raw int32 accumulator,
 * not a requantized uint8, so they do not map onto these ops and keep
 * their own lowering.  The pass runs only with --quantize int8 (it is
 * not in the default pipeline, which keeps the ONNX semantics exactly).
 */
#include <math.h>
#include <string.h>

#include "passes.h"
#include "qmath.h"

/* One quantization's parameters, read from constant scale and zero-point
 * operands. */
typedef struct qparams {
  int64_t count;         /* 1: per tensor */
  const float *scales;
  int32_t zps[1];        /* zero point of a per-tensor activation */
  bool zp_all_zero;
} qparams;

static bool read_params(const ir_graph *g, ir_value_id scale, ir_value_id zp, ir_dtype qt,
                        qparams *p) {
  const void *sd = ir_const_data(g, scale);
  if (!sd || g->values[scale].dtype != IR_F32) return false;
  p->count = ir_shape_numel(&g->values[scale].shape);
  p->scales = sd;
  p->zps[0] = 0;
  p->zp_all_zero = true;
  if (zp >= 0) {
    const void *zd = ir_const_data(g, zp);
    if (!zd || g->values[zp].dtype != qt || ir_shape_numel(&g->values[zp].shape) != p->count)
      return false;
    for (int64_t i = 0; i < p->count; i++) {
      int32_t z = qt == IR_U8 ? ((const uint8_t *)zd)[i] : ((const int8_t *)zd)[i];
      if (z) p->zp_all_zero = false;
      if (i == 0) p->zps[0] = z;
    }
  } else if (qt != IR_U8 && qt != IR_I8) {
    return false;
  }
  for (int64_t i = 0; i < p->count; i++)
    if (!(p->scales[i] > 0) || !isfinite(p->scales[i])) return false;
  return true;
}

/* The live DequantizeLinear writing v, or IR_NONE. */
static ir_node_id dq_of(const ir_graph *g, ir_value_id v) {
  ir_node_id p = v >= 0 ? g->values[v].producer : IR_NONE;
  return p != IR_NONE && !g->nodes[p].dead && g->nodes[p].op == IR_OP_DEQUANTIZE_LINEAR ? p : IR_NONE;
}

/* The only live reader of v, or IR_NONE (graph outputs count as readers). */
static ir_node_id only_reader(const ir_graph *g, ir_value_id v) {
  if (g->values[v].storage == IR_STORAGE_OUTPUT) return IR_NONE;
  ir_node_id found = IR_NONE;
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    for (int i = 0; !g->nodes[n].dead && i < g->nodes[n].num_inputs; i++)
      if (g->nodes[n].inputs[i] == v) {
        if (found != IR_NONE && found != n) return IR_NONE;
        found = n;
      }
  return found;
}

/* Gives per-tensor uint8 value v the quantization (s, z); false if it
 * already has a different one. */
static bool set_tensor_quant(ir_graph *g, ir_value_id v, float s, int32_t z) {
  ir_quant *q = g->values[v].quant;
  if (q) return q->kind == IR_QUANT_TENSOR && q->count == 1 && q->scales[0] == s &&
                (q->zero_points ? q->zero_points[0] : 0) == z;
  q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = IR_QUANT_TENSOR;
  q->count = 1;
  q->scales = ir_arena_dup(&g->arena, &s, sizeof s);
  q->zero_points = ir_arena_dup(&g->arena, &z, sizeof z);
  g->values[v].quant = q;
  return true;
}

/* An int8 weight constant [rows, cols] (transposed from [cols, rows] when
 * `transpose`) with its scales along `axis` (count 1: per tensor). */
static ir_value_id weight_const(ir_graph *g, ir_value_id w, const ir_shape *shape, bool transpose,
                                const qparams *p, int axis) {
  const int8_t *src = ir_const_data(g, w);
  int64_t n = ir_shape_numel(shape);
  int8_t *d = ir_arena_alloc(&g->arena, (size_t)n + 1);
  if (transpose) {
    int64_t rows = shape->dims[0], cols = shape->dims[1];
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++) d[r * cols + c] = src[c * rows + r];
  } else {
    memcpy(d, src, (size_t)n);
  }
  char name[256];
  snprintf(name, sizeof name, "%s.qweight", g->values[w].name);
  ir_value_id v = ir_add_const(g, name, IR_I8, shape, d, n, true);
  ir_quant *q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = p->count == 1 ? IR_QUANT_TENSOR : IR_QUANT_CHANNEL;
  q->axis = p->count == 1 ? 0 : axis;
  q->count = p->count;
  q->scales = ir_arena_dup(&g->arena, p->scales, (size_t)p->count * sizeof *p->scales);
  g->values[v].quant = q;
  return v;
}

/* int32 bias of length n and scale sx * sw[c]: from a float constant b
 * (times beta), from DequantizeLinear(int32 constant), or zeros. */
static bool bias_const(ir_graph *g, ir_value_id b, double beta, int64_t n, double sx,
                       const qparams *w, const char *base, ir_value_id *out) {
  int32_t *d = ir_arena_alloc(&g->arena, (size_t)n * sizeof *d + 4);
  float *sc = ir_arena_alloc(&g->arena, (size_t)n * sizeof *sc + 4);
  const float *bf = NULL;
  const int32_t *bi = NULL;
  qparams bp = {0};
  if (b >= 0) {
    ir_node_id dq = dq_of(g, b);
    if (dq != IR_NONE) {
      ir_value_id src = g->nodes[dq].inputs[0];
      bi = ir_const_data(g, src);
      if (!bi || g->values[src].dtype != IR_I32 ||
          !read_params(g, g->nodes[dq].inputs[1], -1, IR_I32, &bp))
        return false;
    } else {
      bf = ir_const_data(g, b);
      if (!bf || g->values[b].dtype != IR_F32) return false;
    }
    int64_t nb = ir_shape_numel(&g->values[bi ? g->nodes[dq].inputs[0] : b].shape);
    if (nb != n && nb != 1) return false;
    for (int64_t c = 0; c < n; c++) {
      int64_t i = nb == 1 ? 0 : c;
      double v = bi ? (double)bi[i] * bp.scales[bp.count == 1 ? 0 : i] : (double)bf[i];
      sc[c] = (float)(sx * w->scales[w->count == 1 ? 0 : c]);
      d[c] = kiln_quant_bias(beta * v, sx * w->scales[w->count == 1 ? 0 : c]);
    }
  } else {
    for (int64_t c = 0; c < n; c++) sc[c] = (float)(sx * w->scales[w->count == 1 ? 0 : c]);
  }
  char name[256];
  snprintf(name, sizeof name, "%s.qbias", base);
  ir_shape s = {.rank = 1, .dims = {n}};
  *out = ir_add_const(g, name, IR_I32, &s, d, n * 4, true);
  ir_quant *q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = IR_QUANT_CHANNEL;
  q->count = n;
  q->scales = sc;
  g->values[*out].quant = q;
  return true;
}

/* Follows a float op's output to the QuantizeLinear that requantizes it,
 * through an optional Relu or Clip: sets *q (the Q node), the clamp in
 * real units and the nodes to delete. */
static bool find_requant(ir_graph *g, ir_value_id y, ir_node_id *qn, ir_node_id *act, double *lo,
                         double *hi, qparams *yp) {
  *act = IR_NONE;
  *lo = -INFINITY;
  *hi = INFINITY;
  ir_node_id r = only_reader(g, y);
  if (r == IR_NONE) return false;
  if (g->nodes[r].op == IR_OP_RELU || g->nodes[r].op == IR_OP_CLIP) {
    *act = r;
    if (g->nodes[r].op == IR_OP_RELU) {
      *lo = 0;
    } else {
      double v;
      const ir_node *c = &g->nodes[r];
      if (c->num_inputs > 1 && c->inputs[1] >= 0) {
        if (!ir_const_scalar(g, c->inputs[1], &v)) return false;
        *lo = v;
      }
      if (c->num_inputs > 2 && c->inputs[2] >= 0) {
        if (!ir_const_scalar(g, c->inputs[2], &v)) return false;
        *hi = v;
      }
    }
    r = only_reader(g, g->nodes[r].outputs[0]);
    if (r == IR_NONE) return false;
  }
  const ir_node *q = &g->nodes[r];
  if (q->op != IR_OP_QUANTIZE_LINEAR || g->values[q->outputs[0]].dtype != IR_U8 ||
      !read_params(g, q->inputs[1], q->num_inputs > 2 ? q->inputs[2] : -1, IR_U8, yp) ||
      yp->count != 1)
    return false;
  *qn = r;
  return true;
}

static int32_t clamp_u8(double v) { return v < 0 ? 0 : v > 255 ? 255 : (int32_t)v; }

/* Writes the integer node replacing `n` (and act, q) and returns it. */
static ir_node_id emit(ir_graph *g, ir_node_id n, ir_op op, ir_value_id x, ir_value_id w,
                       ir_value_id b, ir_value_id y, const qparams *yp, double lo, double hi,
                       bool copy_attrs) {
  int32_t zy = yp->zps[0];
  float sy = yp->scales[0];
  int32_t amin = isfinite(lo) ? clamp_u8(zy + nearbyint(lo / sy)) : 0;
  int32_t amax = isfinite(hi) ? clamp_u8(zy + nearbyint(hi / sy)) : 255;
  ir_value_id ins[3] = {x, w, b};
  const char *name = g->nodes[n].name;
  ir_node_id qn = ir_add_node(g, op, name, 3, ins, 1, &y);
  if (copy_attrs) {
    ir_node *src = &g->nodes[n];
    for (int a = 0; a < src->num_attrs; a++) {
      /* QLinearConv and Conv share their geometry attributes */
      ir_attr *d = ir_set_attr(g, qn, src->attrs[a].name, src->attrs[a].kind);
      const char *keep = d->name;
      *d = src->attrs[a];
      d->name = keep;
    }
  }
  ir_set_attr_int(g, qn, "act_min", amin);
  ir_set_attr_int(g, qn, "act_max", amax);
  g->nodes[n].dead = true;
  return qn;
}

static bool weights_ok(const ir_graph *g, ir_value_id w, const qparams *p, int64_t channels) {
  return ir_const_data(g, w) && g->values[w].dtype == IR_I8 && p->zp_all_zero &&
         (p->count == 1 || p->count == channels);
}

/* DQ -> Conv|Gemm|MatMul [-> Relu|Clip] -> Q. */
static kiln_status fold_qdq_node(ir_graph *g, ir_node_id n) {
  ir_node *nd = &g->nodes[n];
  ir_op op = nd->op;
  ir_node_id dx = dq_of(g, nd->inputs[0]), dw = dq_of(g, nd->inputs[1]);
  if (dx == IR_NONE || dw == IR_NONE) return KILN_OK;
  const ir_node *X = &g->nodes[dx], *W = &g->nodes[dw];
  ir_value_id xq = X->inputs[0], wq = W->inputs[0];
  qparams xp, wp, yp;
  if (g->values[xq].dtype != IR_U8 ||
      !read_params(g, X->inputs[1], X->num_inputs > 2 ? X->inputs[2] : -1, IR_U8, &xp) ||
      xp.count != 1 ||
      !read_params(g, W->inputs[1], W->num_inputs > 2 ? W->inputs[2] : -1, IR_I8, &wp))
    return KILN_OK;
  int64_t waxis = ir_attr_int_or(g, dw, "axis", 1);
  ir_node_id qn, act;
  double lo, hi;
  if (!find_requant(g, nd->outputs[0], &qn, &act, &lo, &hi, &yp)) return KILN_OK;
  ir_shape wshape = g->values[wq].shape; /* a copy: adding values moves g->values */
  const ir_shape *ws = &wshape;
  ir_value_id y = g->nodes[qn].outputs[0], wv, bv;
  ir_node_id made;
  if (op == IR_OP_CONV) {
    if (ws->rank < 3 || !weights_ok(g, wq, &wp, ws->dims[0]) || (wp.count > 1 && waxis != 0))
      return KILN_OK;
    ir_value_id b = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
    if (!set_tensor_quant(g, xq, xp.scales[0], xp.zps[0]) ||
        !bias_const(g, b, 1, ws->dims[0], xp.scales[0], &wp, g->nodes[n].name, &bv))
      return KILN_OK;
    wv = weight_const(g, wq, ws, false, &wp, 0);
    set_tensor_quant(g, y, yp.scales[0], yp.zps[0]);
    made = emit(g, n, IR_OP_QCONV, xq, wv, bv, y, &yp, lo, hi, true);
  } else {
    bool gemm = op == IR_OP_GEMM, tb = gemm && ir_attr_int_or(g, n, "transB", 0);
    if (ws->rank != 2 || (gemm && (ir_attr_int_or(g, n, "transA", 0) ||
                                   ir_attr_float_or(g, n, "alpha", 1) != 1)))
      return KILN_OK;
    int64_t N = ws->dims[tb ? 0 : 1];
    /* the per-column axis of B: 1 of [K, N], 0 of the transposed [N, K] */
    if (!weights_ok(g, wq, &wp, N) || (wp.count > 1 && waxis != (tb ? 0 : 1))) return KILN_OK;
    ir_value_id c = gemm && nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
    double beta = gemm ? ir_attr_float_or(g, n, "beta", 1) : 1;
    if (!set_tensor_quant(g, xq, xp.scales[0], xp.zps[0]) ||
        !bias_const(g, c, beta, N, xp.scales[0], &wp, g->nodes[n].name, &bv))
      return KILN_OK;
    ir_shape kn = {.rank = 2, .dims = {ws->dims[tb ? 1 : 0], N}};
    wv = weight_const(g, wq, &kn, tb, &wp, 1);
    set_tensor_quant(g, y, yp.scales[0], yp.zps[0]);
    made = emit(g, n, IR_OP_QMAT_MUL, xq, wv, bv, y, &yp, lo, hi, false);
  }
  if (act != IR_NONE) g->nodes[act].dead = true;
  g->nodes[qn].dead = true;
  return pass_infer_node(g, made);
}

/* DQ(aq) + DQ(bq) [-> Relu|Clip] -> Q, one shape on both sides (a
 * residual connection): kiln.QAdd (qmath.h; like the requantization of the
 * convolutions it can differ from ONNX's float sum by one unit). */
static kiln_status fold_qdq_add(ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  ir_node_id da = dq_of(g, nd->inputs[0]), db = dq_of(g, nd->inputs[1]);
  if (da == IR_NONE || db == IR_NONE) return KILN_OK;
  const ir_node *A = &g->nodes[da], *B = &g->nodes[db];
  ir_value_id aq = A->inputs[0], bq = B->inputs[0];
  qparams ap, bp, yp;
  ir_node_id qn, act;
  double lo, hi;
  if (g->values[aq].dtype != IR_U8 || g->values[bq].dtype != IR_U8 ||
      !ir_shape_is_static(&g->values[nd->outputs[0]].shape) ||
      !ir_shape_equal(&g->values[aq].shape, &g->values[nd->outputs[0]].shape) ||
      !ir_shape_equal(&g->values[bq].shape, &g->values[nd->outputs[0]].shape) ||
      !read_params(g, A->inputs[1], A->num_inputs > 2 ? A->inputs[2] : -1, IR_U8, &ap) || ap.count != 1 ||
      !read_params(g, B->inputs[1], B->num_inputs > 2 ? B->inputs[2] : -1, IR_U8, &bp) || bp.count != 1 ||
      !find_requant(g, nd->outputs[0], &qn, &act, &lo, &hi, &yp))
    return KILN_OK;
  int32_t ma, mb, sh;
  if (!kiln_requant_pair((double)ap.scales[0] / yp.scales[0], (double)bp.scales[0] / yp.scales[0], &ma,
                         &mb, &sh) ||
      !set_tensor_quant(g, aq, ap.scales[0], ap.zps[0]) || !set_tensor_quant(g, bq, bp.scales[0], bp.zps[0]))
    return KILN_OK;
  ir_value_id y = g->nodes[qn].outputs[0];
  set_tensor_quant(g, y, yp.scales[0], yp.zps[0]);
  int32_t zy = yp.zps[0];
  ir_value_id ins[2] = {aq, bq};
  ir_node_id made = ir_add_node(g, IR_OP_QADD, g->nodes[n].name, 2, ins, 1, &y);
  ir_set_attr_int(g, made, "act_min", isfinite(lo) ? clamp_u8(zy + nearbyint(lo / yp.scales[0])) : 0);
  ir_set_attr_int(g, made, "act_max", isfinite(hi) ? clamp_u8(zy + nearbyint(hi / yp.scales[0])) : 255);
  g->nodes[n].dead = true;
  if (act != IR_NONE) g->nodes[act].dead = true;
  g->nodes[qn].dead = true;
  return pass_infer_node(g, made);
}

/* QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B?) and QLinearMatMul(a, as,
 * az, b, bs, bz, ys, yz). */
static kiln_status fold_qlinear(ir_graph *g, ir_node_id n) {
  ir_node *nd = &g->nodes[n];
  bool conv = nd->op == IR_OP_QLINEAR_CONV;
  ir_value_id x = nd->inputs[0], w = nd->inputs[3], y = nd->outputs[0];
  qparams xp, wp, yp;
  if (g->values[x].dtype != IR_U8 || g->values[y].dtype != IR_U8 ||
      !read_params(g, nd->inputs[1], nd->inputs[2], IR_U8, &xp) || xp.count != 1 ||
      !read_params(g, nd->inputs[4], nd->inputs[5], IR_I8, &wp) ||
      !read_params(g, nd->inputs[6], nd->inputs[7], IR_U8, &yp) || yp.count != 1)
    return KILN_OK;
  ir_shape wshape = g->values[w].shape; /* a copy: adding values moves g->values */
  const ir_shape *ws = &wshape;
  int64_t ch = conv ? ws->dims[0] : ws->dims[1];
  if ((conv ? ws->rank < 3 : ws->rank != 2) || !weights_ok(g, w, &wp, ch)) return KILN_OK;
  ir_value_id b = conv && nd->num_inputs > 8 ? nd->inputs[8] : IR_NONE, bv;
  const int32_t *bi = b >= 0 ? ir_const_data(g, b) : NULL;
  if ((b >= 0 && (!bi || ir_shape_numel(&g->values[b].shape) != ch)) ||
      !set_tensor_quant(g, x, xp.scales[0], xp.zps[0]) ||
      !bias_const(g, IR_NONE, 1, ch, xp.scales[0], &wp, g->nodes[n].name, &bv))
    return KILN_OK;
  if (bi) memcpy((void *)g->values[bv].data, bi, (size_t)ch * 4); /* already int32 at s_x * s_w */
  g->values[bv].hash = ir_hash_bytes(g->values[bv].data, (size_t)ch * 4);
  ir_value_id wv = weight_const(g, w, ws, false, &wp, conv ? 0 : 1);
  set_tensor_quant(g, y, yp.scales[0], yp.zps[0]);
  ir_node_id made = emit(g, n, conv ? IR_OP_QCONV : IR_OP_QMAT_MUL, x, wv, bv, y, &yp, -INFINITY,
                         INFINITY, conv);
  return pass_infer_node(g, made);
}

static bool is_mover(const ir_graph *g, ir_node_id n) {
  ir_op op = g->nodes[n].op;
  for (int o = 1; o < g->nodes[n].num_outputs; o++)
    if (g->nodes[n].outputs[o] >= 0) return false; /* MaxPool's indices */
  return op == IR_OP_MAX_POOL || op == IR_OP_FLATTEN || op == IR_OP_RESHAPE ||
         op == IR_OP_SQUEEZE || op == IR_OP_UNSQUEEZE || op == IR_OP_TRANSPOSE ||
         op == IR_OP_IDENTITY;
}

/*
 * Q(movers(DQ(q, s, z)), s, z) -> movers(q).  Tools wrap every op in Q/DQ,
 * data movers included (DQ -> MaxPool -> Q), and leave Q(DQ(x)) pairs
 * between consecutive quantized ops.  With equal scale and zero point on
 * both sides, a data mover commutes with the (monotonic) dequantization
 * and Q(DQ(q)) is q exactly, so the uint8 values flow straight through.
 */
static kiln_status fold_requantize(ir_graph *g, ir_node_id n) {
  enum { MAX_CHAIN = 8 };
  ir_node_id chain[MAX_CHAIN];
  int len = 0;
  const ir_node *Q = &g->nodes[n];
  qparams qp, dp;
  if (g->values[Q->outputs[0]].dtype != IR_U8 ||
      !read_params(g, Q->inputs[1], Q->num_inputs > 2 ? Q->inputs[2] : -1, IR_U8, &qp) ||
      qp.count != 1)
    return KILN_OK;
  ir_value_id v = Q->inputs[0];
  ir_node_id p = g->values[v].producer;
  while (p != IR_NONE && !g->nodes[p].dead && is_mover(g, p) && len < MAX_CHAIN) {
    chain[len++] = p;
    p = g->values[g->nodes[p].inputs[0]].producer;
  }
  if (p == IR_NONE || g->nodes[p].dead || g->nodes[p].op != IR_OP_DEQUANTIZE_LINEAR) return KILN_OK;
  const ir_node *D = &g->nodes[p];
  ir_value_id q = D->inputs[0], out = g->nodes[n].outputs[0];
  if (g->values[q].dtype != IR_U8 ||
      !read_params(g, D->inputs[1], D->num_inputs > 2 ? D->inputs[2] : -1, IR_U8, &dp) ||
      dp.count != 1 || dp.scales[0] != qp.scales[0] || dp.zps[0] != qp.zps[0] ||
      !set_tensor_quant(g, q, dp.scales[0], dp.zps[0]))
    return KILN_OK;
  set_tensor_quant(g, out, qp.scales[0], qp.zps[0]);
  g->nodes[n].dead = true;
  if (!len) {
    if (g->values[out].storage != IR_STORAGE_OUTPUT) {
      ir_replace_uses(g, out, q);
      return KILN_OK;
    }
    return pass_infer_node(g, ir_add_node(g, IR_OP_IDENTITY, g->nodes[n].name, 1, &q, 1, &out));
  }
  for (int i = len - 1; i >= 0; i--) {
    ir_node_id m = chain[i];
    ir_value_id y = out;
    if (i) {
      char name[256];
      snprintf(name, sizeof name, "%s.q", g->values[g->nodes[m].outputs[0]].name);
      ir_shape shape = g->values[g->nodes[m].outputs[0]].shape; /* ir_add_value moves values */
      y = ir_add_value(g, name, IR_U8, &shape);
      g->values[y].quant = g->values[q].quant;
    }
    ir_value_id *ins = ir_arena_dup(&g->arena, g->nodes[m].inputs,
                                    (size_t)g->nodes[m].num_inputs * sizeof *ins);
    ins[0] = q;
    ir_node_id made = ir_add_node(g, g->nodes[m].op, g->nodes[m].name, g->nodes[m].num_inputs,
                                  ins, 1, &y);
    g->nodes[made].attrs = g->nodes[m].attrs;
    g->nodes[made].num_attrs = g->nodes[m].num_attrs;
    kiln_status st = pass_infer_node(g, made);
    if (st) return st;
    q = y;
  }
  return KILN_OK;
}

kiln_status pass_fold_qdq(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  kiln_status st = KILN_OK;
  int32_t nn = g->num_nodes;
  bool *keep = kiln_calloc(ctx, (size_t)nn + 1, sizeof *keep);
  if (opt->keep_float)
    for (ir_node_id n = 0; n < nn; n++) {
      /* the name as a whole item of the comma-separated list */
      size_t len = strlen(g->nodes[n].name);
      for (const char *p = opt->keep_float; len && (p = strstr(p, g->nodes[n].name)); p++)
        if ((p == opt->keep_float || p[-1] == ',') && (p[len] == 0 || p[len] == ',')) keep[n] = true;
    }
  for (ir_node_id n = 0; n < nn && !st; n++)
    if (!g->nodes[n].dead && g->nodes[n].op == IR_OP_QUANTIZE_LINEAR) st = fold_requantize(g, n);
  for (ir_node_id n = 0; n < nn && !st; n++) {
    ir_op op = g->nodes[n].op;
    if (g->nodes[n].dead || keep[n]) continue;
    if (op == IR_OP_CONV || op == IR_OP_GEMM || op == IR_OP_MAT_MUL)
      st = fold_qdq_node(g, n);
    else if (op == IR_OP_QLINEAR_CONV || op == IR_OP_QLINEAR_MAT_MUL)
      st = fold_qlinear(g, n);
    else if (op == IR_OP_ADD)
      st = fold_qdq_add(g, n);
  }
  kiln_free(ctx, keep);
  if (st) return st;
  ir_graph_compact(g);
  st = ir_graph_toposort(g);
  ir_graph_recount_uses(g);
  return st;
}
