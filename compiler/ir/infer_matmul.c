/*
 * infer_matmul.c — shapes of the matrix products: MatMul (and its
 * integer and quantized forms), Gemm, and Det.
 *
 * MatMul follows numpy.matmul: the last two dims multiply as matrices
 * ([.., M, K] x [.., K, N] -> [.., M, N]) and the leading "batch" dims
 * broadcast.  A 1-D left operand [K] is treated as [1, K] and a 1-D right
 * operand [K] as [K, 1]; the inserted dim is removed from the result, so
 * [K] x [K] is a scalar.  Gemm is the plain 2-D case with optional
 * transposes and a bias C that must broadcast one way to [M, N].
 */
#include "infer.h"
#include "ir.h"

/* The product shape of a and b as numpy.matmul defines it. */
static kiln_status matmul_shape(ir_graph *g, int32_t n, const ir_value *a, const ir_value *b,
                                ir_shape *out) {
  int ra = a->shape.rank, rb = b->shape.rank;
  if (ra == 0 || rb == 0) {
    ir_error_node(g, n, "operand %s is a scalar; MatMul needs rank >= 1", ra == 0 ? "A" : "B");
    return KILN_ERR_INVALID_MODEL;
  }
  if (ra < 0 || rb < 0) {
    out->rank = -1;
    return KILN_OK;
  }
  bool a_vec = ra == 1, b_vec = rb == 1;
  int64_t m = a_vec ? 1 : a->shape.dims[ra - 2], ka = a->shape.dims[ra - 1];
  int64_t kb = b_vec ? b->shape.dims[0] : b->shape.dims[rb - 2], nn = b->shape.dims[rb - 1];
  if (ir_dims_conflict(ka, kb)) {
    ir_error_node(g, n, "inner dims differ: A [.., %lld] cannot multiply B [%lld, ..]",
                  (long long)ka, (long long)kb);
    return KILN_ERR_INVALID_MODEL;
  }
  /* batch dims: everything before the matrix dims */
  ir_shape ba = {.rank = a_vec ? 0 : ra - 2}, bb = {.rank = b_vec ? 0 : rb - 2}, batch;
  for (int i = 0; i < ba.rank; i++) ba.dims[i] = a->shape.dims[i];
  for (int i = 0; i < bb.rank; i++) bb.dims[i] = b->shape.dims[i];
  kiln_status st = ir_broadcast(g, n, &ba, &bb, &batch);
  if (st) return st;
  *out = batch;
  if (!a_vec) out->dims[out->rank++] = m;
  if (!b_vec) out->dims[out->rank++] = nn;
  return KILN_OK;
}

kiln_status infer_matmul(ir_graph *g, int32_t n) {
  const ir_value *a = ir_input(g, n, 0);
  ir_shape s;
  kiln_status st = matmul_shape(g, n, a, ir_input(g, n, 1), &s);
  if (st) return st;
  ir_set_output(g, n, 0, a->dtype, &s);
  return KILN_OK;
}

/* MatMulInteger(A, B, a_zero_point?, b_zero_point?) accumulates in int32. */
kiln_status infer_matmul_integer(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st = matmul_shape(g, n, ir_input(g, n, 0), ir_input(g, n, 1), &s);
  if (st) return st;
  ir_set_output(g, n, 0, IR_I32, &s);
  return KILN_OK;
}

/* QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp): the
 * result has y_zero_point's type. */
kiln_status infer_qlinear_matmul(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st = matmul_shape(g, n, ir_input(g, n, 0), ir_input(g, n, 3), &s);
  if (st) return st;
  ir_set_output(g, n, 0, ir_input(g, n, 7)->dtype, &s);
  return KILN_OK;
}

/* Gemm(A, B, C?) = alpha * A' * B' + beta * C with A' = transA ? A^T : A. */
kiln_status infer_gemm(ir_graph *g, int32_t n) {
  const ir_value *a = ir_input(g, n, 0), *b = ir_input(g, n, 1), *c = ir_input(g, n, 2);
  for (int i = 0; i < 2; i++) {
    const ir_value *v = i ? b : a;
    if (v->shape.rank >= 0 && v->shape.rank != 2) {
      ir_error_node(g, n, "%s must be 2-D, got rank %d", i ? "B" : "A", v->shape.rank);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  bool ta = ir_attr_int_or(g, n, "transA", 0) != 0, tb = ir_attr_int_or(g, n, "transB", 0) != 0;
  int64_t m = IR_DIM_UNKNOWN, ka = IR_DIM_UNKNOWN, kb = IR_DIM_UNKNOWN, nn = IR_DIM_UNKNOWN;
  if (a->shape.rank == 2) {
    m = a->shape.dims[ta ? 1 : 0];
    ka = a->shape.dims[ta ? 0 : 1];
  }
  if (b->shape.rank == 2) {
    kb = b->shape.dims[tb ? 1 : 0];
    nn = b->shape.dims[tb ? 0 : 1];
  }
  if (ir_dims_conflict(ka, kb)) {
    ir_error_node(g, n, "inner dims differ: A' is [.., %lld] but B' is [%lld, ..] (transA=%d, "
                  "transB=%d)", (long long)ka, (long long)kb, ta, tb);
    return KILN_ERR_INVALID_MODEL;
  }
  if (c && c->shape.rank > 2) {
    ir_error_node(g, n, "C must have rank <= 2 to broadcast to [M, N], got rank %d",
                  c->shape.rank);
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t target[2] = {m, nn};
  for (int i = 0; c && i < c->shape.rank; i++) {
    int64_t cd = c->shape.dims[i], td = target[2 - c->shape.rank + i];
    if (cd != 1 && ir_dims_conflict(cd, td)) {
      ir_error_node(g, n, "C dim %d (%lld) does not broadcast to %lld", i, (long long)cd,
                    (long long)td);
      return KILN_ERR_INVALID_MODEL;
    }
    /* a static C dim > 1 also fixes an unknown M or N */
    if (ir_dim_is_static(cd) && cd != 1) target[2 - c->shape.rank + i] = cd;
  }
  ir_shape s = ir_shape_make(2, target);
  ir_set_output(g, n, 0, a->dtype, &s);
  return KILN_OK;
}

/* Det([.., M, M]) -> [..]. */
kiln_status infer_det(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0);
  ir_shape s = x->shape;
  if (s.rank >= 0) {
    if (s.rank < 2) {
      ir_error_node(g, n, "input must have rank >= 2 (square matrices), got rank %d", s.rank);
      return KILN_ERR_INVALID_MODEL;
    }
    if (ir_dims_conflict(s.dims[s.rank - 1], s.dims[s.rank - 2])) {
      ir_error_node(g, n, "matrices must be square, got %lld x %lld",
                    (long long)s.dims[s.rank - 2], (long long)s.dims[s.rank - 1]);
      return KILN_ERR_INVALID_MODEL;
    }
    s.rank -= 2;
  }
  ir_set_output(g, n, 0, x->dtype, &s);
  return KILN_OK;
}

/* kiln.QMatMul(a, b, bias): MatMul's shape, a uint8 result (quantize pass). */
kiln_status infer_qmatmul(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st = matmul_shape(g, n, ir_input(g, n, 0), ir_input(g, n, 1), &s);
  if (st) return st;
  ir_set_output(g, n, 0, IR_U8, &s);
  return KILN_OK;
}
