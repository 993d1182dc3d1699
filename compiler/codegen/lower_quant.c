/*
 * lower_quant.c — linear quantization: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger and QLinearMatMul.  (ConvInteger
 * and QLinearConv are in lower_qconv.c.)
 *
 *     QuantizeLinear:    q = saturate(round_half_even(x / scale) + zero_point)
 *     DequantizeLinear:  x = (q - zero_point) * scale
 *
 * Scale and zero point are per tensor (one element) or per axis (one per
 * index of `axis`, default 1); which one is read from their shapes.  They
 * are loaded at run time, so they may be graph inputs.  The quantized
 * type is the zero point's (uint8 when it is omitted); int8, uint8, int16,
 * uint16 and int32 (dequantize) are lowered.  Quantization computes in
 * f32 (f64 for f64 inputs) exactly like the reference: divide, round half
 * to even, add the zero point, clamp.
 *
 * DynamicQuantizeLinear finds min(0, min x) and max(0, max x) in one
 * serial pass (a reduction: never split between threads), then
 *     scale = (max - min) / 255,  zero_point = saturate(round(-min / scale)),
 * and quantizes to uint8 with them.
 *
 * MatMulInteger accumulates (a - a_zp) * (b - b_zp) in int32 (a_zp per
 * tensor or per row of A, b_zp per tensor or per column of B).
 * QLinearMatMul does the same on its quantized inputs and requantizes:
 *     y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zp).
 * Both broadcast batch dims like MatMul; items are output rows.
 */
#include <math.h>
#include <string.h>

#include "cg.h"

/* The range of a quantized integer type. */
static void qrange(ir_dtype dt, double *lo, double *hi) {
  switch (dt) {
  case IR_I8: *lo = -128, *hi = 127; break;
  case IR_U8: *lo = 0, *hi = 255; break;
  case IR_I16: *lo = -32768, *hi = 32767; break;
  case IR_U16: *lo = 0, *hi = 65535; break;
  default: *lo = -2147483648.0, *hi = 2147483647.0; break;
  }
}

static bool qtype(ir_dtype dt) {
  return dt == IR_I8 || dt == IR_U8 || dt == IR_I16 || dt == IR_U16 || dt == IR_I32;
}

/* saturate(round_half_even(v) + zp) as dtype q; v and zp in float type ft. */
static LLVMValueRef quantize(cg_state *s, ir_dtype ft, ir_dtype q, LLVMValueRef v, LLVMValueRef zp) {
  LLVMTypeRef t = cg_val_type(s, ft);
  double lo, hi;
  qrange(q, &lo, &hi);
  v = cg_intrinsic(s, "llvm.roundeven", t, 1, &v);
  v = LLVMBuildFAdd(s->b, v, zp, "");
  v = cg_arith_op(s, CG_MAX, ft, v, cg_const(s, ft, lo));
  v = cg_arith_op(s, CG_MIN, ft, v, cg_const(s, ft, hi));
  /* v is now an integer within q's range: for 8- and 16-bit types convert
   * through a plain int32 conversion, which vectorizes (LLVM 14 scalarizes
   * the saturating conversions: most of QuantizeLinear's time) */
  if (q != IR_I32 && (ft == IR_F32 || ft == IR_F64)) {
    LLVMValueRef nan = LLVMBuildFCmp(s->b, LLVMRealUNO, v, v, "");
    v = LLVMBuildSelect(s->b, nan, cg_const(s, ft, 0), v, ""); /* NaN gives 0, as the saturating cast did */
    return LLVMBuildTrunc(s->b, LLVMBuildFPToSI(s->b, v, s->t_i32, ""), cg_val_type(s, q), "");
  }
  return cg_cast(s, v, ft, q);
}

/* Per-tensor or per-axis parameters of a (de)quantize node for x: *inner
 * and *count describe the axis (count 1: per tensor). */
static kiln_status quant_axis(cg_state *s, int32_t n, ir_value_id x, ir_value_id scale,
                              int64_t *count, int64_t *inner) {
  const ir_shape *xs = cg_shape(s, x);
  int64_t ns = cg_numel(s, scale);
  *count = 1;
  *inner = 1;
  if (ns == 1) return KILN_OK;
  if (cg_shape(s, scale)->rank != 1 || ir_get_attr(s->g, n, "block_size"))
    return cg_unsupported(s, n, "blocked quantization");
  int axis = cg_axis(ir_attr_int_or(s->g, n, "axis", 1), xs->rank);
  if (axis < 0 || xs->dims[axis] != ns)
    return cg_unsupported(s, n, "scale has %lld values, not one per index of axis",
                          (long long)ns);
  *count = ns;
  *inner = cg_prod(xs->dims, axis + 1, xs->rank);
  return KILN_OK;
}

/* ---- QuantizeLinear, DequantizeLinear -------------------------------------------- */
kiln_status lower_quantize(cg_state *s, int32_t n) {
  bool deq = s->g->nodes[n].op == IR_OP_DEQUANTIZE_LINEAR;
  ir_value_id x = cg_in(s, n, 0), scale = cg_in(s, n, 1), zp = cg_in(s, n, 2), y = cg_out(s, n, 0);
  ir_dtype xt = cg_dtype(s, x), st = cg_dtype(s, scale), yt = cg_dtype(s, y);
  ir_dtype qt = deq ? xt : yt, ft = deq ? yt : xt;
  if (!qtype(qt) || (ft != IR_F32 && ft != IR_F64 && ft != IR_F16 && ft != IR_BF16 &&
                     !(ft == IR_I32 && !deq)))
    return cg_unsupported(s, n, "no code generation for %s to %s", ir_dtype_name(xt),
                          ir_dtype_name(yt));
  if (zp >= 0 && (cg_dtype(s, zp) != qt || cg_numel(s, zp) != cg_numel(s, scale)))
    return cg_unsupported(s, n, "zero point must match the quantized type and the scale");
  int64_t count, inner;
  kiln_status sst = quant_axis(s, n, x, scale, &count, &inner);
  if (sst) return sst;
  ir_dtype ct = (ft == IR_F64 || st == IR_F64) ? IR_F64 : IR_F32;
  int64_t numel = cg_numel(s, x), block = count > 1 ? inner : 4096;
  int64_t items = block ? (numel + block - 1) / block : 0;

  cg_kernel *k = cg_kernel_begin(s, n, items, block * 4);
  cg_loop it = cg_for(s, k->begin, k->end);
  LLVMValueRef pi = count > 1 ? cg_remc(s, it.i, count) : cg_i64(s, 0);
  LLVMValueRef sc = cg_load_as(s, st, k->in[1], pi, ct);
  LLVMValueRef z = zp >= 0 ? cg_load_as(s, qt, k->in[2], pi, ct) : cg_const(s, ct, 0);
  LLVMValueRef lo = cg_mulc(s, it.i, block);
  LLVMValueRef hi = count > 1 ? cg_addc(s, lo, block) : cg_min(s, cg_addc(s, lo, block), cg_i64(s, numel));
  cg_loop e = cg_for(s, lo, hi);
  LLVMValueRef v = cg_load_as(s, xt, k->in[0], e.i, ct), r;
  if (deq)
    r = cg_cast(s, LLVMBuildFMul(s->b, LLVMBuildFSub(s->b, v, z, ""), sc, ""), ct, yt);
  else
    r = quantize(s, ct, qt, LLVMBuildFDiv(s->b, v, sc, ""), z);
  cg_store(s, yt, k->out[0], e.i, r);
  cg_end(s, &e);
  cg_end(s, &it);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* ---- DynamicQuantizeLinear ------------------------------------------------------- */
kiln_status lower_dynamic_quantize(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0);
  if (cg_dtype(s, x) != IR_F32 || cg_dtype(s, cg_out(s, n, 0)) != IR_U8)
    return cg_unsupported(s, n, "DynamicQuantizeLinear lowers float to uint8 only");
  int64_t numel = cg_numel(s, x);
  LLVMTypeRef vt = s->t_f32;
  cg_kernel *k = cg_kernel_begin(s, n, 1, numel * 2);
  LLVMValueRef mn = cg_var(s, vt, cg_const(s, IR_F32, 0)), mx = cg_var(s, vt, cg_const(s, IR_F32, 0));
  cg_loop e = cg_for_n(s, numel);
  LLVMValueRef v = cg_load(s, IR_F32, k->in[0], e.i);
  cg_set(s, mn, cg_arith_op(s, CG_MIN, IR_F32, cg_get(s, vt, mn), v));
  cg_set(s, mx, cg_arith_op(s, CG_MAX, IR_F32, cg_get(s, vt, mx), v));
  cg_end(s, &e);
  LLVMValueRef lo = cg_get(s, vt, mn);
  LLVMValueRef scale = LLVMBuildFDiv(s->b, LLVMBuildFSub(s->b, cg_get(s, vt, mx), lo, ""),
                                     cg_const(s, IR_F32, 255), "");
  /* all zeros: scale 0 would divide by zero; any scale then gives q = zp = 0 */
  LLVMValueRef zero = LLVMBuildFCmp(s->b, LLVMRealOEQ, scale, cg_const(s, IR_F32, 0), "");
  LLVMValueRef div = LLVMBuildSelect(s->b, zero, cg_const(s, IR_F32, 1), scale, "");
  LLVMValueRef zpf = quantize(s, IR_F32, IR_U8, LLVMBuildFDiv(s->b, LLVMBuildFNeg(s->b, lo, ""), div, ""),
                              cg_const(s, IR_F32, 0));
  cg_store(s, IR_F32, k->out[1], cg_i64(s, 0), scale);
  cg_store(s, IR_U8, k->out[2], cg_i64(s, 0), zpf);
  LLVMValueRef zpv = cg_cast(s, zpf, IR_U8, IR_F32);
  e = cg_for_n(s, numel);
  v = LLVMBuildFDiv(s->b, cg_load(s, IR_F32, k->in[0], e.i), div, "");
  cg_store(s, IR_U8, k->out[0], e.i, quantize(s, IR_F32, IR_U8, v, zpv));
  cg_end(s, &e);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* ---- MatMulInteger, QLinearMatMul ------------------------------------------------ */
typedef struct mm_geo {
  int64_t M, K, N, batch;
  int brank;                          /* batch dims of the output */
  int64_t bdims[KILN_MAX_RANK];
  int64_t astr[KILN_MAX_RANK], bstr[KILN_MAX_RANK]; /* batch strides in elements */
} mm_geo;

/* Geometry of a 2-D or batched product a [.., M, K] @ b [.., K, N] (rank >= 2). */
static bool mm_geometry(const ir_shape *as, const ir_shape *bs, const ir_shape *ys, mm_geo *q) {
  if (as->rank < 2 || bs->rank < 2 || ys->rank < 2) return false;
  q->M = as->dims[as->rank - 2];
  q->K = as->dims[as->rank - 1];
  q->N = bs->dims[bs->rank - 1];
  if (bs->dims[bs->rank - 2] != q->K) return false;
  q->brank = ys->rank - 2;
  ir_shape yb = ir_shape_make(q->brank, ys->dims);
  ir_shape ab = ir_shape_make(as->rank - 2, as->dims), bb = ir_shape_make(bs->rank - 2, bs->dims);
  cg_broadcast_strides(&yb, &ab, q->astr);
  cg_broadcast_strides(&yb, &bb, q->bstr);
  for (int d = 0; d < q->brank; d++) {
    q->bdims[d] = ys->dims[d];
    q->astr[d] *= q->M * q->K;
    q->bstr[d] *= q->K * q->N;
  }
  q->batch = cg_prod(ys->dims, 0, q->brank);
  return true;
}

/* Zero point index: 0 per tensor, else row (A) or column (B). */
static LLVMValueRef zp_index(cg_state *s, ir_value_id zp, LLVMValueRef per) {
  return cg_numel(s, zp) > 1 ? per : cg_i64(s, 0);
}

kiln_status lower_matmul_integer(cg_state *s, int32_t n) {
  bool qlinear = s->g->nodes[n].op == IR_OP_QLINEAR_MAT_MUL;
  /* MatMulInteger: A, B, a_zp, b_zp;  QLinearMatMul: a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp */
  int ia = 0, ib = qlinear ? 3 : 1, iaz = 2, ibz = qlinear ? 5 : 3;
  ir_value_id a = cg_in(s, n, ia), b = cg_in(s, n, ib), y = cg_out(s, n, 0);
  ir_value_id az = cg_in(s, n, iaz), bz = cg_in(s, n, ibz);
  ir_dtype at = cg_dtype(s, a), bt = cg_dtype(s, b), yt = cg_dtype(s, y);
  if ((at != IR_U8 && at != IR_I8) || (bt != IR_U8 && bt != IR_I8) ||
      (qlinear ? (yt != IR_U8 && yt != IR_I8) : yt != IR_I32))
    return cg_unsupported(s, n, "no code generation for %s x %s -> %s", ir_dtype_name(at),
                          ir_dtype_name(bt), ir_dtype_name(yt));
  mm_geo q;
  if (!mm_geometry(cg_shape(s, a), cg_shape(s, b), cg_shape(s, y), &q))
    return cg_unsupported(s, n, "operands must be at least 2-D");
  if (qlinear && (cg_numel(s, cg_in(s, n, 1)) != 1 || cg_numel(s, cg_in(s, n, 4)) != 1 ||
                  cg_numel(s, cg_in(s, n, 6)) != 1 ||
                  (cg_in(s, n, 7) >= 0 && cg_numel(s, cg_in(s, n, 7)) != 1)))
    return cg_unsupported(s, n, "per-row or per-column scales");
  if ((az >= 0 && cg_numel(s, az) != 1 && cg_numel(s, az) != q.M) ||
      (bz >= 0 && cg_numel(s, bz) != 1 && cg_numel(s, bz) != q.N))
    return cg_unsupported(s, n, "zero points must be per tensor, per row of A or per column of B");

  cg_kernel *k = cg_kernel_begin(s, n, q.batch * q.M, q.N * q.K);
  cg_loop row = cg_for(s, k->begin, k->end);
  LLVMValueRef bi = cg_divc(s, row.i, q.M), i = cg_remc(s, row.i, q.M), bidx[KILN_MAX_RANK];
  cg_unravel(s, bi, q.brank, q.bdims, bidx);
  LLVMValueRef abase = cg_add(s, cg_dot_strides(s, q.brank, bidx, q.astr), cg_mulc(s, i, q.K));
  LLVMValueRef bbase = cg_dot_strides(s, q.brank, bidx, q.bstr);
  LLVMValueRef azv = az >= 0 ? cg_load_as(s, at, k->in[iaz], zp_index(s, az, i), IR_I32) : cg_i32(s, 0);
  LLVMValueRef mult = NULL, yzp = NULL;
  if (qlinear) {
    LLVMValueRef as_ = cg_load(s, IR_F32, k->in[1], cg_i64(s, 0));
    LLVMValueRef bs_ = cg_load(s, IR_F32, k->in[4], cg_i64(s, 0));
    LLVMValueRef ys_ = cg_load(s, IR_F32, k->in[6], cg_i64(s, 0));
    mult = LLVMBuildFDiv(s->b, LLVMBuildFMul(s->b, as_, bs_, ""), ys_, "");
    yzp = cg_in(s, n, 7) >= 0 ? cg_load_as(s, yt, k->in[7], cg_i64(s, 0), IR_F32)
                              : cg_const(s, IR_F32, 0);
  }
  cg_loop j = cg_for_n(s, q.N);
  LLVMValueRef bzv = bz >= 0 ? cg_load_as(s, bt, k->in[ibz], zp_index(s, bz, j.i), IR_I32) : cg_i32(s, 0);
  LLVMValueRef acc = cg_var(s, s->t_i32, cg_i32(s, 0));
  cg_loop kk = cg_for_n(s, q.K);
  LLVMValueRef av = LLVMBuildSub(s->b, cg_load_as(s, at, k->in[ia], cg_add(s, abase, kk.i), IR_I32), azv, "");
  LLVMValueRef bv = LLVMBuildSub(s->b, cg_load_as(s, bt, k->in[ib],
                                                  cg_add(s, bbase, cg_add(s, cg_mulc(s, kk.i, q.N), j.i)), IR_I32),
                                 bzv, "");
  cg_set(s, acc, LLVMBuildAdd(s->b, cg_get(s, s->t_i32, acc), LLVMBuildMul(s->b, av, bv, ""), ""));
  cg_end(s, &kk);
  LLVMValueRef r = cg_get(s, s->t_i32, acc);
  LLVMValueRef yo = cg_add(s, cg_mulc(s, row.i, q.N), j.i);
  if (qlinear) {
    LLVMValueRef f = LLVMBuildFMul(s->b, cg_cast(s, r, IR_I32, IR_F32), mult, "");
    cg_store(s, yt, k->out[0], yo, quantize(s, IR_F32, yt, f, yzp));
  } else {
    cg_store(s, IR_I32, k->out[0], yo, r);
  }
  cg_end(s, &j);
  cg_end(s, &row);
  cg_kernel_end(s, k);
  return KILN_OK;
}
