/*
 * lower_elementwise.c — every op that computes each output element from
 * the elements at the same (broadcast) position of its inputs: unary maps
 * (Relu, Exp, ...), binary ops with numpy broadcasting (Add, Pow, Less,
 * ...), the variadic Max/Min/Sum/Mean, Where, Clip and Cast.
 *
 * One loop nest serves them all; ops differ only in a *scalar function*
 * that turns loaded input elements into the output element.  Adding an op
 * is one function and one table row.
 *
 * The loop nest.  Each input gets strides over the output's dims (0 where
 * it is broadcast).  Adjacent dims merge when every input is contiguous
 * across them (or broadcast across both), so `[8,64,56,56] + [1,64,1,1]`
 * becomes [8*64 rows] x [3136 elements] with the bias stride 0 inside the
 * row.  Then:
 *   - everything contiguous (one merged dim): items are blocks of
 *     EW_BLOCK elements, one flat loop per kernel call;
 *   - otherwise: items are rows; each row finds its input offsets by
 *     unravelling the row index, then runs a unit-stride (or stride-0)
 *     inner loop.
 * Inner loops are plain and branch-free, which LLVM vectorizes.  Each
 * element is computed the same way whatever the partition, so results do
 * not depend on the thread count.
 *
 * Half precision.  f16 and bf16 elements are widened to f32 as they are
 * loaded and the result is rounded back once as it is stored, so every
 * scalar function (and libm, which has no half entry points) sees f32.
 * This is the "compute in f32, round once" convention of ONNX Runtime's
 * CPU kernels; against a reference that rounds after every step (numpy
 * float16) it differs by at most an ulp or two of f16.
 */
#include <math.h>
#include <string.h>

#include "cg.h"

enum { EW_BLOCK = 4096, EW_MAX_INPUTS = 64 };

/* A scalar function: x[i] is input i's element (NULL for an omitted
 * input), dt[i] its dtype; returns the output element. */
#define S_ARGS cg_state *s, int32_t n, const ir_dtype *dt, LLVMValueRef *x
typedef LLVMValueRef (*scalar_fn)(S_ARGS);

typedef struct ew_row {
  scalar_fn fn;
  unsigned dtypes;  /* bit (1 << dtype) set for each supported dtype of input 0 */
  int cost;         /* rough scalar ops per element, for the threading decision */
  int num_inputs;   /* inputs the function reads (0: all); CastLike's second
                     * input only lends its dtype and is never loaded */
} ew_row;

#define DT(d) (1u << (d))
/* f16 and bf16 are computed in f32 (see emit_elementwise) */
#define FLOATS (DT(IR_F32) | DT(IR_F64) | DT(IR_F16) | DT(IR_BF16))
#define SINTS (DT(IR_I8) | DT(IR_I16) | DT(IR_I32) | DT(IR_I64))
#define UINTS (DT(IR_U8) | DT(IR_U16) | DT(IR_U32) | DT(IR_U64))
#define INTS (SINTS | UINTS)
#define NUMS (FLOATS | INTS)
#define BOOLS DT(IR_BOOL)

/* ---- small helpers for scalar functions ------------------------------------ */
#define B (s->b)
#define K(v) cg_const(s, dt[0], (v))
#define T0 LLVMTypeOf(x[0])
#define FLT (ir_dtypes[dt[0]].is_float)

static float fattr(cg_state *s, int32_t n, const char *name, float dflt) {
  return ir_attr_float_or(s->g, n, name, dflt);
}
/* libm call by base name: "tanh" is tanhf for f32. */
static LLVMValueRef libm1(cg_state *s, ir_dtype d, const char *base, LLVMValueRef v) {
  char name[32];
  snprintf(name, sizeof name, "%s%s", base, d == IR_F32 ? "f" : "");
  return cg_libm(s, name, LLVMTypeOf(v), 1, &v);
}
static LLVMValueRef intr1(cg_state *s, const char *name, LLVMValueRef v) {
  return cg_intrinsic(s, name, LLVMTypeOf(v), 1, &v);
}
static LLVMValueRef sel(cg_state *s, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(B, c, a, b, "");
}
static LLVMValueRef flt(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(B, LLVMRealOLT, a, b, "");
}
static LLVMValueRef fgt(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(B, LLVMRealOGT, a, b, "");
}
static LLVMValueRef add_f(cg_state *s, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(B, a, b, ""); }
static LLVMValueRef mul_f(cg_state *s, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(B, a, b, ""); }
static LLVMValueRef div_f(cg_state *s, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(B, a, b, ""); }
/* max(lo, min(hi, v)) keeping NaN */
static LLVMValueRef clamp(cg_state *s, LLVMValueRef v, LLVMValueRef lo, LLVMValueRef hi) {
  v = sel(s, flt(s, v, lo), lo, v);
  return sel(s, fgt(s, v, hi), hi, v);
}
static LLVMValueRef sigmoid(cg_state *s, ir_dtype d, LLVMValueRef v) {
  LLVMValueRef one = cg_const(s, d, 1);
  return div_f(s, one, add_f(s, one, cg_exp(s, LLVMBuildFNeg(B, v, ""))));
}
/* log(1 + e^v), exact for large v where e^v overflows */
static LLVMValueRef softplus(cg_state *s, ir_dtype d, LLVMValueRef v) {
  LLVMValueRef big = fgt(s, v, cg_const(s, d, 20));
  return sel(s, big, v, libm1(s, d, "log1p", cg_exp(s, v)));
}

/* ---- unary ---------------------------------------------------------------------- */
static LLVMValueRef f_abs(S_ARGS) {
  if (FLT) return intr1(s, "llvm.fabs", x[0]);
  if (!ir_dtypes[dt[0]].is_signed) return x[0];
  LLVMValueRef a[2] = {x[0], LLVMConstInt(s->t_i1, 0, 0)};
  return cg_intrinsic(s, "llvm.abs", T0, 2, a);
}
static LLVMValueRef f_neg(S_ARGS) {
  return FLT ? LLVMBuildFNeg(B, x[0], "") : LLVMBuildNeg(B, x[0], "");
}
static LLVMValueRef f_relu(S_ARGS) {
  LLVMValueRef neg = FLT ? flt(s, x[0], K(0)) : LLVMBuildICmp(B, LLVMIntSLT, x[0], K(0), "");
  return sel(s, neg, K(0), x[0]);
}
static LLVMValueRef f_sigmoid(S_ARGS) { return sigmoid(s, dt[0], x[0]); }
static LLVMValueRef f_exp(S_ARGS) { return cg_exp(s, x[0]); }
static LLVMValueRef f_log(S_ARGS) { return intr1(s, "llvm.log", x[0]); }
static LLVMValueRef f_sqrt(S_ARGS) { return intr1(s, "llvm.sqrt", x[0]); }
static LLVMValueRef f_floor(S_ARGS) { return intr1(s, "llvm.floor", x[0]); }
static LLVMValueRef f_ceil(S_ARGS) { return intr1(s, "llvm.ceil", x[0]); }
static LLVMValueRef f_round(S_ARGS) { return intr1(s, "llvm.roundeven", x[0]); }
static LLVMValueRef f_sin(S_ARGS) { return intr1(s, "llvm.sin", x[0]); }
static LLVMValueRef f_cos(S_ARGS) { return intr1(s, "llvm.cos", x[0]); }
static LLVMValueRef f_reciprocal(S_ARGS) { return div_f(s, K(1), x[0]); }
/* unary libm functions, one line each */
#define LIBM(fname, base) \
  static LLVMValueRef fname(S_ARGS) { return libm1(s, dt[0], base, x[0]); }
LIBM(f_tanh, "tanh")
LIBM(f_tan, "tan")
LIBM(f_asin, "asin")
LIBM(f_acos, "acos")
LIBM(f_atan, "atan")
LIBM(f_sinh, "sinh")
LIBM(f_cosh, "cosh")
LIBM(f_asinh, "asinh")
LIBM(f_acosh, "acosh")
LIBM(f_atanh, "atanh")
static LLVMValueRef f_erf(S_ARGS) {
  return dt[0] == IR_F32 ? cg_erf_f32(s, x[0]) : libm1(s, dt[0], "erf", x[0]);
}
static LLVMValueRef f_sign(S_ARGS) {
  LLVMValueRef pos, neg;
  if (FLT) {
    pos = fgt(s, x[0], K(0));
    neg = flt(s, x[0], K(0));
  } else {
    bool sg = ir_dtypes[dt[0]].is_signed;
    pos = LLVMBuildICmp(B, sg ? LLVMIntSGT : LLVMIntUGT, x[0], K(0), "");
    neg = sg ? LLVMBuildICmp(B, LLVMIntSLT, x[0], K(0), "") : LLVMConstInt(s->t_i1, 0, 0);
  }
  return sel(s, pos, K(1), sel(s, neg, K(-1), K(0)));
}
static LLVMValueRef f_softplus(S_ARGS) { return softplus(s, dt[0], x[0]); }
static LLVMValueRef f_softsign(S_ARGS) {
  return div_f(s, x[0], add_f(s, K(1), intr1(s, "llvm.fabs", x[0])));
}
static LLVMValueRef f_leaky_relu(S_ARGS) {
  LLVMValueRef a = K(fattr(s, n, "alpha", 0.01f));
  return sel(s, flt(s, x[0], K(0)), mul_f(s, a, x[0]), x[0]);
}
static LLVMValueRef f_elu(S_ARGS) {
  LLVMValueRef a = K(fattr(s, n, "alpha", 1.0f));
  return sel(s, flt(s, x[0], K(0)), mul_f(s, a, libm1(s, dt[0], "expm1", x[0])), x[0]);
}
static LLVMValueRef f_selu(S_ARGS) {
  LLVMValueRef a = K(fattr(s, n, "alpha", 1.67326319217681884765625f));
  LLVMValueRef g = K(fattr(s, n, "gamma", 1.05070102214813232421875f));
  LLVMValueRef neg = mul_f(s, a, libm1(s, dt[0], "expm1", x[0]));
  return mul_f(s, g, sel(s, fgt(s, x[0], K(0)), x[0], neg));
}
static LLVMValueRef f_celu(S_ARGS) {
  LLVMValueRef a = K(fattr(s, n, "alpha", 1.0f));
  LLVMValueRef neg = mul_f(s, a, libm1(s, dt[0], "expm1", div_f(s, x[0], a)));
  return sel(s, fgt(s, x[0], K(0)), x[0], neg);
}
static LLVMValueRef f_thresholded_relu(S_ARGS) {
  return sel(s, fgt(s, x[0], K(fattr(s, n, "alpha", 1.0f))), x[0], K(0));
}
static LLVMValueRef f_hard_sigmoid(S_ARGS) {
  LLVMValueRef v = add_f(s, mul_f(s, K(fattr(s, n, "alpha", 0.2f)), x[0]), K(fattr(s, n, "beta", 0.5f)));
  return clamp(s, v, K(0), K(1));
}
static LLVMValueRef f_hard_swish(S_ARGS) {
  LLVMValueRef v = add_f(s, mul_f(s, K(1.0 / 6.0), x[0]), K(0.5));
  return mul_f(s, x[0], clamp(s, v, K(0), K(1)));
}
static LLVMValueRef f_gelu(S_ARGS) {
  const char *approx = ir_attr_string_or(s->g, n, "approximate", "none");
  LLVMValueRef inner;
  if (!strcmp(approx, "tanh")) {
    /* tanh(sqrt(2/pi) * (x + 0.044715 x^3)) */
    LLVMValueRef x3 = mul_f(s, x[0], mul_f(s, x[0], x[0]));
    LLVMValueRef u = mul_f(s, K(0.7978845608028654), add_f(s, x[0], mul_f(s, K(0.044715), x3)));
    inner = libm1(s, dt[0], "tanh", u);
  } else {
    LLVMValueRef u = mul_f(s, x[0], K(0.7071067811865476));
    inner = dt[0] == IR_F32 ? cg_erf_f32(s, u) : libm1(s, dt[0], "erf", u);
  }
  /* kernels/epilogue.c computes the same f32 sequence on vectors */
  return mul_f(s, mul_f(s, K(0.5), x[0]), add_f(s, K(1), inner));
}
static LLVMValueRef f_mish(S_ARGS) {
  return mul_f(s, x[0], libm1(s, dt[0], "tanh", softplus(s, dt[0], x[0])));
}
static LLVMValueRef f_shrink(S_ARGS) {
  LLVMValueRef bias = K(fattr(s, n, "bias", 0)), l = K(fattr(s, n, "lambd", 0.5f));
  LLVMValueRef lo = flt(s, x[0], LLVMBuildFNeg(B, l, "")), hi = fgt(s, x[0], l);
  return sel(s, lo, add_f(s, x[0], bias), sel(s, hi, LLVMBuildFSub(B, x[0], bias, ""), K(0)));
}
static LLVMValueRef f_not(S_ARGS) { return LLVMBuildNot(B, x[0], ""); }
static LLVMValueRef f_is_nan(S_ARGS) { return LLVMBuildFCmp(B, LLVMRealUNO, x[0], x[0], ""); }
static LLVMValueRef f_is_inf(S_ARGS) {
  LLVMValueRef pos = LLVMBuildFCmp(B, LLVMRealOEQ, x[0], K(INFINITY), "");
  LLVMValueRef neg = LLVMBuildFCmp(B, LLVMRealOEQ, x[0], K(-INFINITY), "");
  LLVMValueRef no = LLVMConstInt(s->t_i1, 0, 0);
  if (!ir_attr_int_or(s->g, n, "detect_positive", 1)) pos = no;
  if (!ir_attr_int_or(s->g, n, "detect_negative", 1)) neg = no;
  return LLVMBuildOr(B, pos, neg, "");
}

static const ew_row unary_rows[IR_OP_COUNT] = {
    [IR_OP_ABS] = {f_abs, NUMS, 1},
    [IR_OP_ACOS] = {f_acos, FLOATS, 20},
    [IR_OP_ACOSH] = {f_acosh, FLOATS, 20},
    [IR_OP_ASIN] = {f_asin, FLOATS, 20},
    [IR_OP_ASINH] = {f_asinh, FLOATS, 20},
    [IR_OP_ATAN] = {f_atan, FLOATS, 20},
    [IR_OP_ATANH] = {f_atanh, FLOATS, 20},
    [IR_OP_BITWISE_NOT] = {f_not, INTS, 1},
    [IR_OP_CEIL] = {f_ceil, FLOATS, 1},
    [IR_OP_CELU] = {f_celu, FLOATS, 20},
    [IR_OP_COS] = {f_cos, FLOATS, 20},
    [IR_OP_COSH] = {f_cosh, FLOATS, 20},
    [IR_OP_ELU] = {f_elu, FLOATS, 20},
    [IR_OP_ERF] = {f_erf, FLOATS, 20},
    [IR_OP_EXP] = {f_exp, FLOATS, 20},
    [IR_OP_FLOOR] = {f_floor, FLOATS, 1},
    [IR_OP_GELU] = {f_gelu, FLOATS, 25},
    [IR_OP_HARD_SIGMOID] = {f_hard_sigmoid, FLOATS, 2},
    [IR_OP_HARD_SWISH] = {f_hard_swish, FLOATS, 3},
    [IR_OP_IS_INF] = {f_is_inf, FLOATS, 1},
    [IR_OP_IS_NAN] = {f_is_nan, FLOATS, 1},
    [IR_OP_LEAKY_RELU] = {f_leaky_relu, FLOATS, 1},
    [IR_OP_LOG] = {f_log, FLOATS, 20},
    [IR_OP_MISH] = {f_mish, FLOATS, 40},
    [IR_OP_NEG] = {f_neg, FLOATS | SINTS, 1},
    [IR_OP_NOT] = {f_not, BOOLS, 1},
    [IR_OP_RECIPROCAL] = {f_reciprocal, FLOATS, 2},
    [IR_OP_RELU] = {f_relu, FLOATS | SINTS, 1},
    [IR_OP_ROUND] = {f_round, FLOATS, 1},
    [IR_OP_SELU] = {f_selu, FLOATS, 20},
    [IR_OP_SHRINK] = {f_shrink, FLOATS, 2},
    [IR_OP_SIGMOID] = {f_sigmoid, FLOATS, 20},
    [IR_OP_SIGN] = {f_sign, NUMS, 2},
    [IR_OP_SIN] = {f_sin, FLOATS, 20},
    [IR_OP_SINH] = {f_sinh, FLOATS, 20},
    [IR_OP_SOFTPLUS] = {f_softplus, FLOATS, 25},
    [IR_OP_SOFTSIGN] = {f_softsign, FLOATS, 3},
    [IR_OP_SQRT] = {f_sqrt, FLOATS, 4},
    [IR_OP_TAN] = {f_tan, FLOATS, 20},
    [IR_OP_TANH] = {f_tanh, FLOATS, 20},
    [IR_OP_THRESHOLDED_RELU] = {f_thresholded_relu, FLOATS, 1},
};

/* ---- binary ----------------------------------------------------------------------- */
static LLVMValueRef f_add(S_ARGS) { return cg_arith_op(s, CG_ADD, dt[0], x[0], x[1]); }
static LLVMValueRef f_sub(S_ARGS) { return cg_arith_op(s, CG_SUB, dt[0], x[0], x[1]); }
static LLVMValueRef f_mul(S_ARGS) { return cg_arith_op(s, CG_MUL, dt[0], x[0], x[1]); }
static LLVMValueRef f_div(S_ARGS) { return cg_arith_op(s, CG_DIV, dt[0], x[0], x[1]); }
static LLVMValueRef f_pow(S_ARGS) {
  if (FLT) {
    LLVMValueRef a[2] = {x[0], cg_cast(s, x[1], dt[1], dt[0])};
    return cg_intrinsic(s, "llvm.pow", T0, 2, a);
  }
  /* integer base: pow in f64 (exact while the result fits 2^53), then back
   * to the base's type, saturating as a cast does */
  LLVMValueRef a[2] = {cg_cast(s, x[0], dt[0], IR_F64), cg_cast(s, x[1], dt[1], IR_F64)};
  return cg_cast(s, cg_intrinsic(s, "llvm.pow", s->t_f64, 2, a), IR_F64, dt[0]);
}
static LLVMValueRef f_prelu(S_ARGS) {
  return sel(s, flt(s, x[0], K(0)), mul_f(s, x[1], x[0]), x[0]);
}
static LLVMValueRef f_mod(S_ARGS) {
  if (FLT) return LLVMBuildFRem(B, x[0], x[1], ""); /* fmod=1 is required for floats */
  LLVMTypeRef t = T0;
  LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
  bool sg = ir_dtypes[dt[0]].is_signed;
  /* never trap: x % 0 is 0, and x % -1 is 0 */
  LLVMValueRef is0 = LLVMBuildICmp(B, LLVMIntEQ, x[1], zero, "");
  LLVMValueRef bad = sg ? LLVMBuildOr(B, is0, LLVMBuildICmp(B, LLVMIntEQ, x[1], LLVMConstAllOnes(t), ""), "") : is0;
  LLVMValueRef d = sel(s, bad, one, x[1]);
  LLVMValueRef r = sg ? LLVMBuildSRem(B, x[0], d, "") : LLVMBuildURem(B, x[0], d, "");
  r = sel(s, bad, zero, r);
  if (!sg || ir_attr_int_or(s->g, n, "fmod", 0)) return r;
  /* Python semantics: the result takes the divisor's sign */
  LLVMValueRef fix = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntNE, r, zero, ""),
                                  LLVMBuildICmp(B, LLVMIntNE, LLVMBuildICmp(B, LLVMIntSLT, r, zero, ""),
                                                LLVMBuildICmp(B, LLVMIntSLT, x[1], zero, ""), ""), "");
  return sel(s, fix, LLVMBuildAdd(B, r, x[1], ""), r);
}
static LLVMValueRef compare(cg_state *s, const ir_dtype *dt, LLVMValueRef *x, LLVMRealPredicate fp,
                            LLVMIntPredicate sp, LLVMIntPredicate up) {
  if (FLT) return LLVMBuildFCmp(B, fp, x[0], x[1], "");
  bool sg = dt[0] != IR_BOOL && ir_dtypes[dt[0]].is_signed;
  return LLVMBuildICmp(B, sg ? sp : up, x[0], x[1], "");
}
static LLVMValueRef f_equal(S_ARGS) { return compare(s, dt, x, LLVMRealOEQ, LLVMIntEQ, LLVMIntEQ); }
static LLVMValueRef f_less(S_ARGS) { return compare(s, dt, x, LLVMRealOLT, LLVMIntSLT, LLVMIntULT); }
static LLVMValueRef f_less_eq(S_ARGS) { return compare(s, dt, x, LLVMRealOLE, LLVMIntSLE, LLVMIntULE); }
static LLVMValueRef f_greater(S_ARGS) { return compare(s, dt, x, LLVMRealOGT, LLVMIntSGT, LLVMIntUGT); }
static LLVMValueRef f_greater_eq(S_ARGS) { return compare(s, dt, x, LLVMRealOGE, LLVMIntSGE, LLVMIntUGE); }
static LLVMValueRef f_and(S_ARGS) { return LLVMBuildAnd(B, x[0], x[1], ""); }
static LLVMValueRef f_or(S_ARGS) { return LLVMBuildOr(B, x[0], x[1], ""); }
static LLVMValueRef f_xor(S_ARGS) { return LLVMBuildXor(B, x[0], x[1], ""); }
static LLVMValueRef f_bit_shift(S_ARGS) {
  /* shifting by the bit width or more gives 0 (LLVM would give poison) */
  unsigned bits = LLVMGetIntTypeWidth(T0);
  LLVMValueRef big = LLVMBuildICmp(B, LLVMIntUGE, x[1], LLVMConstInt(T0, bits, 0), "");
  bool left = !strcmp(ir_attr_string_or(s->g, n, "direction", "LEFT"), "LEFT");
  LLVMValueRef r = left ? LLVMBuildShl(B, x[0], x[1], "") : LLVMBuildLShr(B, x[0], x[1], "");
  return sel(s, big, LLVMConstInt(T0, 0, 0), r);
}

static const ew_row binary_rows[IR_OP_COUNT] = {
    [IR_OP_ADD] = {f_add, NUMS, 1},
    [IR_OP_AND] = {f_and, BOOLS, 1},
    [IR_OP_BIT_SHIFT] = {f_bit_shift, UINTS, 1},
    [IR_OP_BITWISE_AND] = {f_and, INTS, 1},
    [IR_OP_BITWISE_OR] = {f_or, INTS, 1},
    [IR_OP_BITWISE_XOR] = {f_xor, INTS, 1},
    [IR_OP_DIV] = {f_div, NUMS, 4},
    [IR_OP_EQUAL] = {f_equal, NUMS | BOOLS, 1},
    [IR_OP_GREATER] = {f_greater, NUMS, 1},
    [IR_OP_GREATER_OR_EQUAL] = {f_greater_eq, NUMS, 1},
    [IR_OP_LESS] = {f_less, NUMS, 1},
    [IR_OP_LESS_OR_EQUAL] = {f_less_eq, NUMS, 1},
    [IR_OP_MOD] = {f_mod, NUMS, 4},
    [IR_OP_MUL] = {f_mul, NUMS, 1},
    [IR_OP_OR] = {f_or, BOOLS, 1},
    [IR_OP_POW] = {f_pow, NUMS, 20},
    [IR_OP_PRELU] = {f_prelu, FLOATS, 1},
    [IR_OP_SUB] = {f_sub, NUMS, 1},
    [IR_OP_XOR] = {f_xor, BOOLS, 1},
};

/* ---- variadic, Where, Clip, Cast ------------------------------------------------------ */
static LLVMValueRef fold(cg_state *s, int32_t n, const ir_dtype *dt, LLVMValueRef *x, cg_arith op) {
  LLVMValueRef acc = x[0];
  for (int i = 1; i < s->g->nodes[n].num_inputs; i++) acc = cg_arith_op(s, op, dt[0], acc, x[i]);
  return acc;
}
static LLVMValueRef f_max(S_ARGS) { return fold(s, n, dt, x, CG_MAX); }
static LLVMValueRef f_min(S_ARGS) { return fold(s, n, dt, x, CG_MIN); }
static LLVMValueRef f_sum(S_ARGS) { return fold(s, n, dt, x, CG_ADD); }
static LLVMValueRef f_mean(S_ARGS) {
  return div_f(s, fold(s, n, dt, x, CG_ADD), K(s->g->nodes[n].num_inputs));
}

static const ew_row variadic_rows[IR_OP_COUNT] = {
    [IR_OP_MAX] = {f_max, NUMS, 1},
    [IR_OP_MEAN] = {f_mean, FLOATS, 1},
    [IR_OP_MIN] = {f_min, NUMS, 1},
    [IR_OP_SUM] = {f_sum, NUMS, 1},
};

static LLVMValueRef f_where(S_ARGS) { return sel(s, x[0], x[1], x[2]); }

static LLVMValueRef f_clip(S_ARGS) {
  /* opset >= 11: optional min and max inputs; before: attributes */
  LLVMValueRef v = x[0];
  LLVMValueRef lo = x[1], hi = x[2];
  const ir_attr *amin = ir_get_attr(s->g, n, "min"), *amax = ir_get_attr(s->g, n, "max");
  if (!lo && amin) lo = K(amin->f);
  if (!hi && amax) hi = K(amax->f);
  if (FLT) {
    if (lo) v = sel(s, flt(s, v, lo), lo, v);
    if (hi) v = sel(s, fgt(s, v, hi), hi, v);
    return v;
  }
  if (lo) v = cg_arith_op(s, CG_MAX, dt[0], v, lo);
  if (hi) v = cg_arith_op(s, CG_MIN, dt[0], v, hi);
  return v;
}

static LLVMValueRef f_cast(S_ARGS) {
  return cg_cast(s, x[0], dt[0], cg_dtype(s, cg_out(s, n, 0)));
}

/* ---- the loop nest ---------------------------------------------------------------------- */
static bool is_half(ir_dtype d) { return d == IR_F16 || d == IR_BF16; }

static kiln_status emit_elementwise(cg_state *s, int32_t n, const ew_row *row) {
  const ir_node *nd = &s->g->nodes[n];
  int nin = row->num_inputs && row->num_inputs < nd->num_inputs ? row->num_inputs : nd->num_inputs;
  ir_value_id y = nd->outputs[0];
  const ir_shape *ys = cg_shape(s, y);
  ir_dtype ydt = cg_dtype(s, y);
  ir_dtype dt[EW_MAX_INPUTS] = {0};
  if (nin > EW_MAX_INPUTS) return cg_unsupported(s, n, "more than %d inputs", EW_MAX_INPUTS);
  int64_t dims[KILN_MAX_RANK];
  int64_t (*strides)[KILN_MAX_RANK] = ir_arena_alloc(&s->arena, EW_MAX_INPUTS * sizeof *strides);
  memcpy(dims, ys->dims, sizeof dims);
  ir_dtype mem_dt[EW_MAX_INPUTS] = {0}; /* as stored; dt[] is as computed */
  for (int k = 0; k < nin; k++) {
    ir_value_id v = nd->inputs[k];
    mem_dt[k] = v >= 0 ? cg_dtype(s, v) : IR_UNDEFINED;
    dt[k] = is_half(mem_dt[k]) ? IR_F32 : mem_dt[k];
    if (v >= 0) cg_broadcast_strides(ys, cg_shape(s, v), strides[k]);
    else memset(strides[k], 0, sizeof strides[k]);
  }
  int r = cg_collapse(ys->rank, dims, nin, strides);
  int64_t total = ir_shape_numel(ys);
  int64_t inner = r ? dims[r - 1] : 1;
  bool flat = r <= 1;
  int64_t items = flat ? (total + EW_BLOCK - 1) / EW_BLOCK : total / inner;
  cg_kernel *k = cg_kernel_begin(s, n, items, (flat ? EW_BLOCK : inner) * row->cost);

  LLVMValueRef base[EW_MAX_INPUTS], lo, hi;
  LLVMValueRef out_base = cg_i64(s, 0);
  cg_loop rows = {0};
  if (flat) {
    lo = cg_mulc(s, k->begin, EW_BLOCK);
    hi = cg_min(s, cg_mulc(s, k->end, EW_BLOCK), cg_i64(s, total));
    for (int i = 0; i < nin; i++) base[i] = cg_i64(s, 0);
  } else {
    rows = cg_for(s, k->begin, k->end);
    LLVMValueRef idx[KILN_MAX_RANK];
    cg_unravel(s, rows.i, r - 1, dims, idx);
    for (int i = 0; i < nin; i++) base[i] = cg_dot_strides(s, r - 1, idx, strides[i]);
    out_base = cg_mulc(s, rows.i, inner);
    lo = cg_i64(s, 0);
    hi = cg_i64(s, inner);
  }
  cg_loop j = cg_for(s, lo, hi);
  /* slots past the node's inputs read as omitted (Clip with only x) */
  LLVMValueRef x[EW_MAX_INPUTS] = {0};
  for (int i = 0; i < nin; i++) {
    int64_t st = r ? strides[i][r - 1] : 0;
    x[i] = k->in[i] ? cg_load(s, mem_dt[i], k->in[i], cg_add(s, base[i], cg_mulc(s, j.i, st))) : NULL;
    if (x[i] && is_half(mem_dt[i])) x[i] = cg_cast(s, x[i], mem_dt[i], IR_F32);
  }
  LLVMValueRef res = row->fn(s, n, dt, x);
  if (is_half(ydt) && LLVMTypeOf(res) == s->t_f32)
    res = cg_cast(s, res, IR_F32, ydt); /* the one rounding */
  cg_store(s, ydt, k->out[0], cg_add(s, out_base, j.i), res);
  cg_end(s, &j);
  if (!flat) cg_end(s, &rows);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* Checks input `which`'s dtype against the row. */
static kiln_status check_row(cg_state *s, int32_t n, const ew_row *row, int which) {
  if (!row->fn) return cg_unsupported(s, n, "no code generation for this op yet");
  ir_dtype d = cg_dtype(s, cg_in(s, n, which));
  if (!(row->dtypes & DT(d)))
    return cg_unsupported(s, n, "no code generation for dtype %s", ir_dtype_name(d));
  return KILN_OK;
}

kiln_status lower_unary(cg_state *s, int32_t n) {
  const ew_row *row = &unary_rows[s->g->nodes[n].op];
  kiln_status st = check_row(s, n, row, 0);
  return st ? st : emit_elementwise(s, n, row);
}

kiln_status lower_binary(cg_state *s, int32_t n) {
  const ew_row *row = &binary_rows[s->g->nodes[n].op];
  kiln_status st = check_row(s, n, row, 0);
  return st ? st : emit_elementwise(s, n, row);
}

kiln_status lower_variadic(cg_state *s, int32_t n) {
  const ew_row *row = &variadic_rows[s->g->nodes[n].op];
  kiln_status st = check_row(s, n, row, 0);
  for (int i = 1; !st && i < s->g->nodes[n].num_inputs; i++)
    if (cg_dtype(s, cg_in(s, n, i)) != cg_dtype(s, cg_in(s, n, 0)))
      st = cg_unsupported(s, n, "inputs of different dtypes");
  return st ? st : emit_elementwise(s, n, row);
}

kiln_status lower_where(cg_state *s, int32_t n) {
  static const ew_row row = {f_where, NUMS | BOOLS, 1, 0};
  kiln_status st = check_row(s, n, &row, 1);
  return st ? st : emit_elementwise(s, n, &row);
}

kiln_status lower_clip(cg_state *s, int32_t n) {
  static const ew_row row = {f_clip, NUMS, 2, 0};
  kiln_status st = check_row(s, n, &row, 0);
  return st ? st : emit_elementwise(s, n, &row);
}

/* Cast and CastLike (whose target dtype is its output's, inferred from
 * the second input). */
kiln_status lower_cast(cg_state *s, int32_t n) {
  static const ew_row row = {f_cast, NUMS | BOOLS, 1, 1};
  kiln_status st = check_row(s, n, &row, 0);
  ir_dtype to = cg_dtype(s, cg_out(s, n, 0));
  if (!st && !(row.dtypes & DT(to)))
    st = cg_unsupported(s, n, "no code generation for a cast to %s", ir_dtype_name(to));
  return st ? st : emit_elementwise(s, n, &row);
}

/* One f32 element through a unary op's scalar function, with the
 * attributes of node n: the epilogue of a fused kernel applies the
 * activations it has no vector form for this way (kernels/epilogue.c). */
LLVMValueRef cg_unary_scalar(cg_state *s, int32_t n, ir_op op, LLVMValueRef x) {
  const ir_dtype dt[1] = {IR_F32};
  LLVMValueRef xs[1] = {x};
  return unary_rows[op].fn ? unary_rows[op].fn(s, n, dt, xs) : x;
}

bool cg_unary_has_scalar(ir_op op) { return unary_rows[op].fn && (unary_rows[op].dtypes & DT(IR_F32)); }
