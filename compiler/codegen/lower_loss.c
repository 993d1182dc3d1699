/*
 * lower_loss.c — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Both take scores x [N, C, d1..dk], integer targets t [N, d1..dk] and
 * optional class weights w [C], and view x as [N, C, D] (D = d1*...*dk,
 * 1 without trailing dims).  For each of the N*D positions p = (n, d):
 *
 *     c      = t[p]                       (the target class)
 *     lp(c)  = x[n, c, d]                 NLL: x holds log-probabilities
 *            = x[n, c, d] - lse(n, d)     SCE: log-softmax over C, with
 *              lse = max_c x + log(sum_c e^(x - max))
 *     w(p)   = w[c] (1 without weights), 0 where t[p] == ignore_index
 *     l(p)   = -lp(c) * w(p)
 *
 * reduction "none" writes l as an [N, d1..dk] tensor; "sum" writes
 * sum_p l(p); "mean" writes sum_p l(p) / sum_p w(p) (with no weights and
 * no ignore_index, the plain mean).  SCE's optional second output is the
 * whole log-softmax [N, C, d1..dk].
 *
 * Sums run in f64 in the fixed order of p, in one kernel call (one item):
 * losses are rarely in a hot path and the order must not depend on the
 * thread count.  With "none" each position is an independent item.  A
 * target outside [0, C) that is not ignored is clamped for the loads, so
 * a bad label gives a wrong number, never an out-of-bounds read.
 */
#include <math.h>
#include <string.h>

#include "cg.h"

static const ir_dtype float_types[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_I32, IR_I64,
                                       IR_UNDEFINED};

kiln_status lower_loss(cg_state *s, int32_t n) {
  bool sce = s->g->nodes[n].op == IR_OP_SOFTMAX_CROSS_ENTROPY_LOSS;
  ir_value_id x = cg_in(s, n, 0), t = cg_in(s, n, 1), w = cg_in(s, n, 2);
  ir_value_id logp = cg_out(s, n, 1);
  kiln_status st = cg_require_dtypes(s, n, float_types);
  if (st) return st;
  ir_dtype dt = cg_dtype(s, x), tdt = cg_dtype(s, t);
  if (!ir_dtypes[dt].is_float) return cg_unsupported(s, n, "scores must be floating point");
  if (tdt != IR_I32 && tdt != IR_I64) return cg_unsupported(s, n, "targets must be int32 or int64");
  const ir_shape *xs = cg_shape(s, x);
  if (xs->rank < 2) return cg_unsupported(s, n, "scores need shape [N, C, ...]");
  const char *red = ir_attr_string_or(s->g, n, "reduction", "mean");
  bool none = !strcmp(red, "none"), mean = !strcmp(red, "mean");
  if (!none && !mean && strcmp(red, "sum"))
    return cg_unsupported(s, n, "unknown reduction '%s'", red);
  const ir_attr *ii = ir_get_attr(s->g, n, "ignore_index");
  int64_t N = xs->dims[0], C = xs->dims[1], D = cg_prod(xs->dims, 2, xs->rank);
  ir_dtype ct = cg_compute_dtype(dt);
  LLVMTypeRef vt = cg_val_type(s, ct), dbl = s->t_f64;

  cg_kernel *k = cg_kernel_begin(s, n, none ? N * D : 1, (none ? 1 : N * D) * C * (sce ? 25 : 1));
  LLVMValueRef sum = NULL, wsum = NULL;
  cg_loop item = {0};
  if (!none) {
    sum = cg_var(s, dbl, LLVMConstReal(dbl, 0));
    wsum = cg_var(s, dbl, LLVMConstReal(dbl, 0));
  }
  /* p runs over this call's items ("none") or over every position */
  item = none ? cg_for(s, k->begin, k->end) : cg_for_n(s, N * D);
  LLVMValueRef p = item.i;
  /* x[n, c, d] is at (n*C + c)*D + d = base + c*D */
  LLVMValueRef base = cg_add(s, cg_mulc(s, cg_divc(s, p, D), C * D), cg_remc(s, p, D));
  LLVMValueRef tv = cg_load_as(s, tdt, k->in[1], p, IR_I64);
  LLVMValueRef tc = cg_max(s, cg_min(s, tv, cg_i64(s, C - 1)), cg_i64(s, 0));
  LLVMValueRef lse = NULL;
  if (sce) {
    LLVMValueRef mx = cg_var(s, vt, cg_const(s, ct, -INFINITY));
    cg_loop c = cg_for_n(s, C);
    LLVMValueRef v = cg_load_as(s, dt, k->in[0], cg_add(s, base, cg_mulc(s, c.i, D)), ct);
    LLVMValueRef m = cg_get(s, vt, mx);
    cg_set(s, mx, LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, m, ""), v, m, ""));
    cg_end(s, &c);
    LLVMValueRef mxv = cg_get(s, vt, mx);
    LLVMValueRef se = cg_var(s, vt, cg_const(s, ct, 0));
    c = cg_for_n(s, C);
    LLVMValueRef dv = LLVMBuildFSub(s->b, cg_load_as(s, dt, k->in[0], cg_add(s, base, cg_mulc(s, c.i, D)), ct), mxv, "");
    cg_set(s, se, LLVMBuildFAdd(s->b, cg_get(s, vt, se), cg_exp(s, dv), ""));
    cg_end(s, &c);
    LLVMValueRef total = cg_get(s, vt, se);
    lse = LLVMBuildFAdd(s->b, mxv, cg_intrinsic(s, "llvm.log", vt, 1, &total), "");
    if (logp >= 0) {
      c = cg_for_n(s, C);
      LLVMValueRef at = cg_add(s, base, cg_mulc(s, c.i, D));
      LLVMValueRef r = LLVMBuildFSub(s->b, cg_load_as(s, dt, k->in[0], at, ct), lse, "");
      cg_store(s, cg_dtype(s, logp), k->out[1], at, cg_cast(s, r, ct, cg_dtype(s, logp)));
      cg_end(s, &c);
    }
  }
  LLVMValueRef lp = cg_load_as(s, dt, k->in[0], cg_add(s, base, cg_mul(s, tc, cg_i64(s, D))), ct);
  if (sce) lp = LLVMBuildFSub(s->b, lp, lse, "");
  LLVMValueRef wv = w >= 0 ? cg_load_as(s, cg_dtype(s, w), k->in[2], tc, IR_F64) : LLVMConstReal(dbl, 1);
  if (ii) {
    LLVMValueRef ign = LLVMBuildICmp(s->b, LLVMIntEQ, tv, cg_i64(s, ii->i), "");
    wv = LLVMBuildSelect(s->b, ign, LLVMConstReal(dbl, 0), wv, "");
  }
  /* -lp * w; an ignored position is 0 even if lp is not finite */
  LLVMValueRef l = LLVMBuildFMul(s->b, LLVMBuildFNeg(s->b, cg_cast(s, lp, ct, IR_F64), ""), wv, "");
  l = LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOEQ, wv, LLVMConstReal(dbl, 0), ""),
                      LLVMConstReal(dbl, 0), l, "");
  ir_dtype odt = cg_dtype(s, cg_out(s, n, 0));
  if (none) {
    cg_store(s, odt, k->out[0], p, cg_cast(s, l, IR_F64, odt));
  } else {
    cg_set(s, sum, LLVMBuildFAdd(s->b, cg_get(s, dbl, sum), l, ""));
    cg_set(s, wsum, LLVMBuildFAdd(s->b, cg_get(s, dbl, wsum), wv, ""));
  }
  cg_end(s, &item);
  if (!none) {
    /* the one output element is written by the one item */
    cg_loop once = cg_for(s, k->begin, k->end);
    LLVMValueRef r = cg_get(s, dbl, sum);
    if (mean) r = LLVMBuildFDiv(s->b, r, cg_get(s, dbl, wsum), "");
    cg_store(s, odt, k->out[0], cg_i64(s, 0), cg_cast(s, r, IR_F64, odt));
    cg_end(s, &once);
  }
  cg_kernel_end(s, k);
  return KILN_OK;
}
