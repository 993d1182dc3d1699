/*
 * gemm_shape.c — which nodes the GEMM kernel computes, and the problem
 * size it sees, read from the IR alone (no LLVM): the reorder-layout pass
 * asks this before it packs a node's weights for the kernel, and the
 * lowerings ask the same question, so the two cannot disagree.
 */
#include <string.h>

#include "kernels/gemm.h"

static bool static_f32(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].dtype == IR_F32 && ir_shape_is_static(&g->values[v].shape);
}

bool cg_gemm_shape_of(const ir_graph *g, ir_node_id n, cg_gemm_shape *sh, int *weight_axis) {
  const ir_node *nd = &g->nodes[n];
  memset(sh, 0, sizeof *sh);
  if (nd->num_inputs < 2 || !static_f32(g, nd->inputs[0]) || !static_f32(g, nd->outputs[0]))
    return false;
  ir_value_id w = nd->inputs[1];
  const ir_shape *ws = &g->values[w].shape, *ys = &g->values[nd->outputs[0]].shape;
  if (nd->op == IR_OP_CONV || nd->op == IR_OP_FUSED_CONV) {
    if (!static_f32(g, w) || !ir_const_data(g, w) || ws->rank < 3 || ws->rank > 4 || ys->rank != ws->rank)
      return false;
    int64_t group = ir_attr_int_or(g, n, "group", 1);
    if (group < 1 || ws->dims[0] % group) return false;
    int64_t Mg = ws->dims[0] / group, ksize = 1, plane = 1;
    for (int d = 2; d < ws->rank; d++) ksize *= ws->dims[d], plane *= ys->dims[d];
    if (Mg < CG_GEMM_MIN_CHANNELS || plane <= 0) return false;
    bool pointwise = ksize == 1;
    const int64_t *v;
    int cnt = ir_attr_ints(g, n, "strides", &v);
    for (int i = 0; i < cnt; i++) pointwise = pointwise && v[i] == 1;
    cnt = ir_attr_ints(g, n, "pads", &v);
    for (int i = 0; i < cnt; i++) pointwise = pointwise && v[i] == 0;
    *sh = (cg_gemm_shape){.M = Mg, .N = plane, .K = ws->dims[1] * ksize,
                          .batch = ys->dims[0] * group, .b_runtime_pack = !pointwise};
    if (weight_axis) *weight_axis = group == 1 ? 0 : -1; /* packed in the IR per whole tensor only */
    return true;
  }
  if (nd->op == IR_OP_MAT_MUL || nd->op == IR_OP_FUSED_MAT_MUL) {
    const ir_shape *as = &g->values[nd->inputs[0]].shape;
    if (!static_f32(g, w) || as->rank < 1 || ws->rank < 2) return false;
    int64_t N = ws->dims[ws->rank - 1], K = ws->dims[ws->rank - 2];
    int64_t M = as->rank >= 2 ? as->dims[as->rank - 2] : 1;
    if (N < CG_GEMM_MIN_COLUMNS || M <= 0 || K <= 0) return false;
    int64_t outer = ir_shape_numel(ys) / (M * N);
    *sh = (cg_gemm_shape){.M = M, .N = N, .K = K, .batch = outer};
    if (weight_axis) *weight_axis = ws->rank == 2 && ir_const_data(g, w) ? 1 : -1;
    return true;
  }
  return false;
}

double cg_sparse_row_density(const ir_graph *g, ir_node_id n, int lanes) {
  cg_gemm_shape sh;
  int axis;
  if (lanes < 1 || !cg_gemm_shape_of(g, n, &sh, &axis) || axis != 1) return -1;
  ir_value_id w = g->nodes[n].inputs[1];
  const ir_value *wv = &g->values[w];
  const float *x = ir_const_data(g, w);
  if (!x || wv->sparsity.kind == IR_SPARSE_DENSE || wv->layout.kind != IR_LAYOUT_PLAIN) return -1;
  int64_t K = wv->shape.dims[0], N = wv->shape.dims[1], rows = 0, live = 0;
  for (int64_t k = 0; k < K; k++)
    for (int64_t j = 0; j < N; j += lanes) {
      bool nz = false;
      for (int64_t c = j; c < j + lanes && c < N; c++) nz |= x[k * N + c] != 0;
      rows++;
      live += nz;
    }
  return rows ? (double)live / (double)rows : -1;
}

double cg_sparse_nm_density(const ir_graph *g, ir_node_id n, int lanes, int *group, int *slots) {
  cg_gemm_shape sh;
  int axis;
  if (lanes < 1 || !cg_gemm_shape_of(g, n, &sh, &axis) || axis != 1) return -1;
  ir_value_id w = g->nodes[n].inputs[1];
  const ir_value *wv = &g->values[w];
  const float *x = ir_const_data(g, w);
  if (!x || wv->sparsity.kind != IR_SPARSE_NM || wv->layout.kind != IR_LAYOUT_PLAIN) return -1;
  int m = wv->sparsity.m;
  int64_t K = wv->shape.dims[0], N = wv->shape.dims[1];
  if (m < 2 || m > lanes || lanes % m || K % m) return -1;
  int most = 0;
  for (int64_t k0 = 0; k0 < K; k0 += m)
    for (int64_t c = 0; c < N; c++) {
      int cnt = 0;
      for (int64_t k = k0; k < k0 + m; k++) cnt += x[k * N + c] != 0;
      most = cnt > most ? cnt : most;
    }
  *group = m;
  *slots = most ? most : 1;
  return (double)*slots / m;
}

/* The fraction of runs of `mr` rows of the row-major M x K matrix x at one
 * column that hold a nonzero (the last run of a column may be short). */
static double run_density(const float *x, int64_t M, int64_t K, int mr) {
  int64_t runs = 0, live = 0;
  for (int64_t m0 = 0; m0 < M; m0 += mr)
    for (int64_t k = 0; k < K; k++) {
      bool nz = false;
      for (int64_t m = m0; m < m0 + mr && m < M; m++) nz |= x[m * K + k] != 0;
      runs++;
      live += nz;
    }
  return runs ? (double)live / (double)runs : -1;
}

double cg_sparse_col_density(const ir_graph *g, ir_node_id n, int mr) {
  cg_gemm_shape sh;
  int axis;
  if (mr < 1 || !cg_gemm_shape_of(g, n, &sh, &axis) || axis != 0 || sh.b_runtime_pack) return -1;
  ir_value_id w = g->nodes[n].inputs[1];
  const ir_value *wv = &g->values[w];
  const float *x = ir_const_data(g, w);
  if (!x || wv->sparsity.kind == IR_SPARSE_DENSE || wv->layout.kind != IR_LAYOUT_PLAIN) return -1;
  return run_density(x, sh.M, sh.K, mr);
}

bool cg_sparse_conv_pays(const ir_graph *g, ir_node_id n) {
  double d = cg_sparse_col_density(g, n, CG_SPARSE_CONV_MR);
  return d >= 0 && d <= CG_SPARSE_MAX_ROW_DENSITY;
}

double cg_sparse_direct_density(const ir_graph *g, ir_node_id n, int lanes) {
  /* any 1x1 convolution without groups or padding (strided ones too: the
   * direct kernel reads the image in place, there is no im2col) */
  const ir_node *nd = &g->nodes[n];
  if (lanes < 4 || (nd->op != IR_OP_CONV && nd->op != IR_OP_FUSED_CONV) || nd->num_inputs < 2 ||
      ir_attr_int_or(g, n, "group", 1) != 1)
    return -1;
  const int64_t *pads;
  int np = ir_attr_ints(g, n, "pads", &pads);
  for (int i = 0; i < np; i++)
    if (pads[i]) return -1;
  const ir_value *wv = &g->values[nd->inputs[1]];
  const float *x = ir_const_data(g, nd->inputs[1]);
  if (!x || wv->dtype != IR_F32 || wv->sparsity.kind == IR_SPARSE_DENSE || wv->layout.kind != IR_LAYOUT_PLAIN ||
      wv->shape.rank != 4 || wv->shape.dims[2] != 1 || wv->shape.dims[3] != 1 || wv->shape.dims[0] % lanes)
    return -1;
  return run_density(x, wv->shape.dims[0], wv->shape.dims[1], lanes);
}

bool cg_sparse_direct_pays(const ir_graph *g, ir_node_id n, int lanes) {
  double d = cg_sparse_direct_density(g, n, lanes);
  return d >= 0 && d <= CG_SPARSE_DIRECT_MAX_DENSITY;
}

void cg_pack_panels_f32(const float *x, const ir_shape *shape, int axis, int w, float *out) {
  int64_t numel = ir_shape_numel(shape), d = shape->dims[axis];
  int64_t inner = 1; /* elements after the axis */
  for (int i = axis + 1; i < shape->rank; i++) inner *= shape->dims[i];
  int64_t outer = numel / (d * inner), rest = numel / d;
  int64_t np = (d + w - 1) / w;
  memset(out, 0, (size_t)(np * w * rest) * sizeof *out);
  /* x[o][a][i] -> out[a / w][o * inner + i][a % w] */
  for (int64_t o = 0; o < outer; o++)
    for (int64_t a = 0; a < d; a++)
      for (int64_t i = 0; i < inner; i++)
        out[((a / w) * rest + o * inner + i) * w + a % w] = x[(o * d + a) * inner + i];
}
