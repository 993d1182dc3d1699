/*
 * lower_softmax.c — Softmax and LogSoftmax.
 *
 * The input is viewed as [outer, len, inner] around the reduced axis:
 * opset >= 13 reduces the one dim `axis` (inner = the dims after it);
 * older opsets flatten the input at `axis` to 2-D and reduce the whole
 * second part (len = everything from axis on, inner = 1).  Each of the
 * outer*inner vectors is one parallel item, computed in three passes with
 * the usual max subtraction for range safety:
 *
 *     mx  = max_l x[l]
 *     sum = sum_l e^(x[l] - mx)          (y[l] holds e^(x[l] - mx))
 *     y[l] = y[l] / sum                  Softmax
 *     y[l] = x[l] - mx - log(sum)        LogSoftmax
 *
 * A vector is never split between threads, so the sums (in order l = 0,
 * 1, ...) are the same for every thread count.  f16 and bf16 compute in
 * f32 and recompute e^(x - mx) in the last pass rather than keep it in
 * the half-precision output.
 */
#include <math.h>

#include "cg.h"

static const ir_dtype float_types[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_UNDEFINED};


/* The lanes of v combined pairwise, halves folded onto each other
 * (log2(lanes) shuffles instead of a chain of lanes extracts): the max
 * (a NaN lane loses, as in the scalar max) or the sum. */
static LLVMValueRef hreduce(cg_state *s, LLVMValueRef v, int lanes, bool is_max) {
  for (int w = lanes / 2; w >= 1; w /= 2) {
    LLVMValueRef m[64];
    for (int i = 0; i < lanes; i++) m[i] = cg_i32(s, i < w ? i + w : i);
    LLVMValueRef hi = LLVMBuildShuffleVector(s->b, v, LLVMGetPoison(LLVMTypeOf(v)),
                                             LLVMConstVector(m, (unsigned)lanes), "");
    v = is_max ? LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, hi, v, ""), hi, v, "")
               : LLVMBuildFAdd(s->b, v, hi, "");
  }
  return LLVMBuildExtractElement(s->b, v, cg_i32(s, 0), "");
}

/* f32 rows along the last axis (attention's scores): the same three
 * passes on vectors of `lanes`, the last len % lanes elements scalar.
 * The max and the sum are kept per lane and the lanes combined by a
 * fixed tree at the end, then the tail: a fixed order, so still the same
 * for every thread count (a row is one item).  Softmax multiplies by the
 * sum's reciprocal (one division a row, not one a vector: within an ulp
 * of the quotient, as ONNX Runtime's MLAS does). */
static kiln_status softmax_rows(cg_state *s, int32_t n, bool is_log, int64_t rows, int64_t len,
                                int lanes) {
  LLVMTypeRef ft = s->t_f32, vt = LLVMVectorType(ft, (unsigned)lanes);
  int64_t nv = len / lanes, tail0 = nv * lanes;
  cg_kernel *k = cg_kernel_begin(s, n, rows, len * 12);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef base = cg_mulc(s, item.i, len);
  LLVMValueRef x = cg_gep(s, IR_F32, k->in[0], base), y = cg_gep(s, IR_F32, k->out[0], base);
#define VLOAD(p, idx) cg_vload(s, vt, p, idx, 4)
  /* max, NaN ignored as in the scalar form (a NaN then spreads through exp) */
  LLVMValueRef mxv = cg_var(s, vt, cg_splat(s, cg_const(s, IR_F32, -INFINITY), (unsigned)lanes));
  cg_loop l = cg_for_n(s, nv);
  LLVMValueRef v = VLOAD(x, cg_mulc(s, l.i, lanes)), m = cg_get(s, vt, mxv);
  cg_set(s, mxv, LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, m, ""), v, m, ""));
  cg_end(s, &l);
  LLVMValueRef mx = hreduce(s, cg_get(s, vt, mxv), lanes, true);
  for (int64_t i = tail0; i < len; i++) {
    LLVMValueRef e = cg_load(s, IR_F32, x, cg_i64(s, i));
    mx = LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, e, mx, ""), e, mx, "");
  }
  LLVMValueRef mxs = cg_splat(s, mx, (unsigned)lanes);
  /* e^(x - max) (stored for Softmax), summed per lane */
  LLVMValueRef acc = cg_var(s, vt, LLVMConstNull(vt));
  l = cg_for_n(s, nv);
  LLVMValueRef at = cg_mulc(s, l.i, lanes);
  LLVMValueRef e = cg_exp(s, LLVMBuildFSub(s->b, VLOAD(x, at), mxs, ""));
  if (!is_log) cg_vstore(s, y, at, e, 4);
  cg_set(s, acc, LLVMBuildFAdd(s->b, cg_get(s, vt, acc), e, ""));
  cg_end(s, &l);
  LLVMValueRef total = hreduce(s, cg_get(s, vt, acc), lanes, false);
  for (int64_t i = tail0; i < len; i++) {
    LLVMValueRef te = cg_exp(s, LLVMBuildFSub(s->b, cg_load(s, IR_F32, x, cg_i64(s, i)), mx, ""));
    if (!is_log) cg_store(s, IR_F32, y, cg_i64(s, i), te);
    total = LLVMBuildFAdd(s->b, total, te, "");
  }
  /* normalize */
  LLVMValueRef shift = is_log ? LLVMBuildFAdd(s->b, mx, cg_intrinsic(s, "llvm.log", ft, 1, &total), "") : NULL;
  LLVMValueRef inv = is_log ? NULL : LLVMBuildFDiv(s->b, cg_const(s, IR_F32, 1.0), total, "");
  LLVMValueRef by = cg_splat(s, is_log ? shift : inv, (unsigned)lanes);
  l = cg_for_n(s, nv);
  at = cg_mulc(s, l.i, lanes);
  cg_vstore(s, y, at, is_log ? LLVMBuildFSub(s->b, VLOAD(x, at), by, "") : LLVMBuildFMul(s->b, VLOAD(y, at), by, ""), 4);
  cg_end(s, &l);
  for (int64_t i = tail0; i < len; i++) {
    LLVMValueRef idx = cg_i64(s, i);
    cg_store(s, IR_F32, y, idx, is_log ? LLVMBuildFSub(s->b, cg_load(s, IR_F32, x, idx), shift, "")
                                       : LLVMBuildFMul(s->b, cg_load(s, IR_F32, y, idx), inv, ""));
  }
#undef VLOAD
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

kiln_status lower_softmax(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, float_types);
  if (st) return st;
  bool is_log = s->g->nodes[n].op == IR_OP_LOG_SOFTMAX;
  ir_value_id x = cg_in(s, n, 0);
  const ir_shape *xs = cg_shape(s, x);
  ir_dtype dt = cg_dtype(s, x), ct = cg_compute_dtype(dt);
  bool half = ct != dt;
  bool legacy = s->g->opset > 0 && s->g->opset < 13;
  int rank = xs->rank ? xs->rank : 1;
  int axis = cg_axis(ir_attr_int_or(s->g, n, "axis", legacy ? 1 : -1), rank);
  if (axis < 0) return cg_unsupported(s, n, "axis out of range");
  int64_t outer = cg_prod(xs->dims, 0, axis);
  int64_t len = legacy ? cg_prod(xs->dims, axis, xs->rank) : (xs->rank ? xs->dims[axis] : 1);
  int64_t inner = legacy ? 1 : cg_prod(xs->dims, axis + 1, xs->rank);
  LLVMTypeRef vt = cg_val_type(s, ct);
  int lanes = s->target->vector_bits >= 128 ? s->target->vector_bits / 32 : 0;
  if (dt == IR_F32 && inner == 1 && lanes && len >= lanes) return softmax_rows(s, n, is_log, outer, len, lanes);

  cg_kernel *k = cg_kernel_begin(s, n, outer * inner, len * 25);
  cg_loop item = cg_for(s, k->begin, k->end);
  /* element l of the vector: (o*len + l)*inner + i */
  LLVMValueRef base = cg_add(s, cg_mulc(s, cg_divc(s, item.i, inner), len * inner),
                             cg_remc(s, item.i, inner));
  LLVMValueRef mx = cg_var(s, vt, cg_const(s, ct, -INFINITY));
  cg_loop l = cg_for_n(s, len);
  LLVMValueRef at = cg_add(s, base, cg_mulc(s, l.i, inner));
  LLVMValueRef v = cg_load_as(s, dt, k->in[0], at, ct), m = cg_get(s, vt, mx);
  cg_set(s, mx, LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, m, ""), v, m, ""));
  cg_end(s, &l);
  LLVMValueRef mxv = cg_get(s, vt, mx);

  LLVMValueRef sum = cg_var(s, vt, cg_const(s, ct, 0));
  l = cg_for_n(s, len);
  at = cg_add(s, base, cg_mulc(s, l.i, inner));
  LLVMValueRef d = LLVMBuildFSub(s->b, cg_load_as(s, dt, k->in[0], at, ct), mxv, "");
  LLVMValueRef e = cg_exp(s, d);
  if (!is_log && !half) cg_store(s, dt, k->out[0], at, e);
  cg_set(s, sum, LLVMBuildFAdd(s->b, cg_get(s, vt, sum), e, ""));
  cg_end(s, &l);
  LLVMValueRef total = cg_get(s, vt, sum);

  LLVMValueRef shift = NULL;
  if (is_log) {
    LLVMValueRef lg = cg_intrinsic(s, "llvm.log", vt, 1, &total);
    shift = LLVMBuildFAdd(s->b, mxv, lg, "");
  }
  l = cg_for_n(s, len);
  at = cg_add(s, base, cg_mulc(s, l.i, inner));
  LLVMValueRef r;
  if (is_log) {
    r = LLVMBuildFSub(s->b, cg_load_as(s, dt, k->in[0], at, ct), shift, "");
  } else if (half) {
    LLVMValueRef dd = LLVMBuildFSub(s->b, cg_load_as(s, dt, k->in[0], at, ct), mxv, "");
    r = LLVMBuildFDiv(s->b, cg_exp(s, dd), total, "");
  } else {
    r = LLVMBuildFDiv(s->b, cg_load(s, dt, k->out[0], at), total, "");
  }
  cg_store(s, dt, k->out[0], at, cg_cast(s, r, ct, dt));
  cg_end(s, &l);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
