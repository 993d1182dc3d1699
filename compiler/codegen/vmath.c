/*
 * vmath.c — exp and erf of f32 as straight-line LLVM IR, on a scalar or a
 * vector alike.
 *
 * LLVM has no vector libm here: `llvm.exp` on a vector, and every libm
 * call, becomes one scalar call per lane.  A GPT block's Gelu spent a
 * fifth of the model's time in erff that way.  These versions are
 * polynomials with branch-free range selection, so a vectorized loop or a
 * kernel's epilogue computes 16 lanes at once, and a scalar loop and a
 * vector epilogue given the same inputs compute the same bits (the same
 * IR on another type).
 *
 *   exp(x)   x = n ln2 + r, |r| <= ln2/2 (Cody-Waite, ln2 in two parts);
 *            exp(r) by a degree-6 polynomial; 2^n as two exponent-field
 *            scalings, so n from -150 (subnormal results) to 128 works.
 *            Arguments are clamped to [-104, 88.8]: 0 and +inf beyond.
 *   erf(x)   |x| < 1: x + x (P(x^2) - 1), P of degree 6;
 *            1 <= |x| < 4: 1 - R(|x| - 2.5), R of degree 15 fitting erfc
 *            with an absolute error of 6.3e-10 (the subtraction from 1
 *            is what an ulp of the result measures, and |x| - 2.5 is
 *            exact); |x| >= 4: +-1 (erfc(4) is below half an ulp of 1).
 *            No division and no exp: Gelu is a transformer MLP's epilogue.
 *
 * The coefficients are least-squares fits on Chebyshev nodes
 * (tools/fit_vmath.py prints them and their error: relative 1.9e-9 for
 * exp's polynomial and 1.4e-9 for erf's small one, absolute 6.3e-10 for
 * erf's large one); with float rounding the
 * results are within 2 ulp of the true values on this machine's sweep
 * (tests/unit/test_codegen_nn.c).  NaN comes out NaN.
 */
#include <math.h>

#include "cg.h"

static LLVMValueRef kf(cg_state *s, LLVMValueRef like, double v) {
  LLVMValueRef c = cg_const(s, IR_F32, v);
  LLVMTypeRef t = LLVMTypeOf(like);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? cg_splat(s, c, LLVMGetVectorSize(t)) : c;
}

static LLVMTypeRef int_like(cg_state *s, LLVMValueRef like) {
  LLVMTypeRef t = LLVMTypeOf(like), i32 = LLVMInt32TypeInContext(s->c);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(i32, LLVMGetVectorSize(t)) : i32;
}

static LLVMValueRef ki(cg_state *s, LLVMTypeRef it, int32_t v) {
  LLVMValueRef c = cg_i32(s, v);
  return LLVMGetTypeKind(it) == LLVMVectorTypeKind ? cg_splat(s, c, LLVMGetVectorSize(it)) : c;
}

/* c[0] + x (c[1] + x (c[2] + ...)) */
static LLVMValueRef horner(cg_state *s, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = kf(s, x, c[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = cg_fmuladd(s, p, x, kf(s, x, c[i]));
  return p;
}

static LLVMValueRef fsel_lt(cg_state *s, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f) {
  return LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOLT, a, b, ""), t, f, "");
}

/* p 2^n for an integer-valued float n in [-150, 128]: p times two powers
 * whose exponent fields are in range, one after the other (their product
 * alone would overflow or underflow where p 2^n does not). */
static LLVMValueRef scale_pow2(cg_state *s, LLVMValueRef p, LLVMValueRef n, LLVMValueRef like) {
  LLVMTypeRef it = int_like(s, like);
  LLVMValueRef ni = LLVMBuildFPToSI(s->b, n, it, "");
  LLVMValueRef h = LLVMBuildAShr(s->b, ni, ki(s, it, 1), "");
  LLVMValueRef rest = LLVMBuildSub(s->b, ni, h, "");
  LLVMValueRef e1 = LLVMBuildShl(s->b, LLVMBuildAdd(s->b, h, ki(s, it, 127), ""), ki(s, it, 23), "");
  LLVMValueRef e2 = LLVMBuildShl(s->b, LLVMBuildAdd(s->b, rest, ki(s, it, 127), ""), ki(s, it, 23), "");
  LLVMTypeRef ft = LLVMTypeOf(like);
  p = LLVMBuildFMul(s->b, p, LLVMBuildBitCast(s->b, e1, ft, ""), "");
  return LLVMBuildFMul(s->b, p, LLVMBuildBitCast(s->b, e2, ft, ""), "");
}

LLVMValueRef cg_exp_f32(cg_state *s, LLVMValueRef x) {
  static const double c[7] = {1.0000000005920207, 1.0000000361258987, 0.49999991493036761,
                              0.16666420832119327, 0.041668358033050287, 0.0083747715201048459,
                              0.0013829420594103879};
  /* clamp (a NaN passes both selects unchanged, and stays NaN below) */
  LLVMValueRef lo = kf(s, x, -104.0), hi = kf(s, x, 88.8);
  LLVMValueRef xc = fsel_lt(s, x, lo, lo, x);
  xc = fsel_lt(s, hi, xc, hi, xc);
  LLVMValueRef n = cg_intrinsic(s, "llvm.roundeven", LLVMTypeOf(x), 1,
                                (LLVMValueRef[]){LLVMBuildFMul(s->b, xc, kf(s, x, 1.4426950408889634), "")});
  /* ln2 = 0.693145751953125 + 1.428606765330187e-06: the first part has
   * few bits, so n * it is exact */
  LLVMValueRef r = cg_fmuladd(s, n, kf(s, x, -0.693145751953125), xc);
  r = cg_fmuladd(s, n, kf(s, x, -1.428606765330187e-06), r);
  LLVMValueRef p = horner(s, r, c, 7);
  LLVMValueRef y = scale_pow2(s, p, n, x);
  /* beyond the clamp: +inf above, 0 below; NaN in, NaN out */
  y = fsel_lt(s, hi, x, kf(s, x, INFINITY), y);
  y = fsel_lt(s, x, lo, kf(s, x, 0.0), y);
  return LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealUNO, x, x, ""), x, y, "");
}

LLVMValueRef cg_erf_f32(cg_state *s, LLVMValueRef x) {
  /* P(t) - 1: x + x (P(t) - 1) rounds better than x P(t) (the leading
   * 1.128... loses half an ulp as a float; 0.128... much less) */
  static const double small[7] = {1.1283791665100513 - 1.0, -0.37612628843325058, 0.11283612428244469,
                                  -0.026854808537195629, 0.0051900535777748003,
                                  -0.00080243541281048436, 7.8982102051219916e-05};
  /* erfc(|x|) on [1, 4] as a polynomial in t = |x| - 2.5 (exact in
   * float there), erf = 1 - erfc: Horner steps only, no division and
   * no exp (half the instructions of erfc = e^-x^2 P(1/x), which made
   * Gelu the dearest part of a transformer's MLP epilogue) */
  static const double large[16] = {
      0.00040695236772203097, -0.0021782785040527801, 0.0054456886524393037, -0.008350211774345145,
      0.0086226042977080048, -0.0061165875598231155, 0.0027975546881847317, -0.00054453383031219187,
      -0.00025873011727366602, 0.00025342417791097906, -8.110047294177978e-05, -7.7564453525541867e-06,
      1.5719270829520245e-05, -3.4626537144959051e-06, -8.9013714676044672e-07, 3.5129914338992785e-07};
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef ax = cg_intrinsic(s, "llvm.fabs", t, 1, &x);
  /* |x| < 1 */
  LLVMValueRef ys = cg_fmuladd(s, x, horner(s, LLVMBuildFMul(s->b, x, x, ""), small, 7), x);
  /* 1 <= |x|: |x| clamped to [1, 4] (erf rounds to 1 from 3.93 on) */
  LLVMValueRef a = fsel_lt(s, ax, kf(s, x, 1.0), kf(s, x, 1.0), ax);
  a = fsel_lt(s, kf(s, x, 4.0), a, kf(s, x, 4.0), a);
  LLVMValueRef r = horner(s, LLVMBuildFSub(s->b, a, kf(s, x, 2.5), ""), large, 16);
  LLVMValueRef yl = LLVMBuildFSub(s->b, kf(s, x, 1.0), r, "");
  LLVMValueRef yl_signed = cg_intrinsic(s, "llvm.copysign", t, 2, (LLVMValueRef[]){yl, x});
  LLVMValueRef y = fsel_lt(s, ax, kf(s, x, 1.0), ys, yl_signed);
  /* the large branch saturates at 4, and a NaN compares false: keep it */
  return LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealUNO, x, x, ""), x, y, "");
}

LLVMValueRef cg_exp(cg_state *s, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMTypeRef et = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
  if (LLVMGetTypeKind(et) == LLVMFloatTypeKind) return cg_exp_f32(s, x);
  return cg_intrinsic(s, "llvm.exp", t, 1, &x);
}
