/*
 * epilogue.c — activations applied to a kernel's accumulators while they
 * are still in registers (the `act` of a fused Conv / MatMul).
 *
 * The common activations of CNNs (Relu, Clip/Relu6, LeakyRelu,
 * HardSigmoid, HardSwish, Sigmoid) have a vector form here.  Every other
 * unary op with an f32 scalar function (Gelu, Tanh, Elu, ...) is applied
 * lane by lane through lower_elementwise.c's scalar functions, so a fused
 * kernel computes exactly what the separate elementwise node would have:
 * fusion saves the round trip through memory, never changes a rounding.
 */
#include <math.h>
#include <string.h>

#include "kernels/gemm.h"

static LLVMValueRef splat_f(cg_state *s, LLVMValueRef like, double v) {
  LLVMValueRef c = cg_const(s, IR_F32, v);
  LLVMTypeRef t = LLVMTypeOf(like);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? cg_splat(s, c, LLVMGetVectorSize(t)) : c;
}
static LLVMValueRef lt(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(s->b, LLVMRealOLT, a, b, "");
}
static LLVMValueRef gt(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(s->b, LLVMRealOGT, a, b, "");
}
/* max(lo, min(hi, v)), NaN kept (as lower_elementwise's clamp) */
static LLVMValueRef clamp(cg_state *s, LLVMValueRef v, LLVMValueRef lo, LLVMValueRef hi) {
  v = LLVMBuildSelect(s->b, lt(s, v, lo), lo, v, "");
  return LLVMBuildSelect(s->b, gt(s, v, hi), hi, v, "");
}

bool cg_epilogue_supports(ir_op op) {
  switch (op) {
  case IR_OP_RELU: case IR_OP_CLIP: case IR_OP_LEAKY_RELU: case IR_OP_HARD_SIGMOID:
  case IR_OP_HARD_SWISH: case IR_OP_SIGMOID: case IR_OP_TANH: case IR_OP_GELU:
    return true;
  default:
    return false;
  }
}

LLVMValueRef cg_apply_activation(cg_state *s, const cg_activation *act, LLVMValueRef v) {
  switch (act->op) {
  case IR_OP_COUNT:
    return v;
  case IR_OP_RELU:
    return LLVMBuildSelect(s->b, lt(s, v, splat_f(s, v, 0)), splat_f(s, v, 0), v, "");
  case IR_OP_CLIP:
    return clamp(s, v, splat_f(s, v, act->lo), splat_f(s, v, act->hi));
  case IR_OP_LEAKY_RELU: {
    float a = ir_attr_float_or(s->g, act->node, "alpha", 0.01f);
    return LLVMBuildSelect(s->b, lt(s, v, splat_f(s, v, 0)),
                           LLVMBuildFMul(s->b, splat_f(s, v, a), v, ""), v, "");
  }
  case IR_OP_HARD_SIGMOID: {
    float a = ir_attr_float_or(s->g, act->node, "alpha", 0.2f);
    float b = ir_attr_float_or(s->g, act->node, "beta", 0.5f);
    LLVMValueRef u = LLVMBuildFAdd(s->b, LLVMBuildFMul(s->b, splat_f(s, v, a), v, ""), splat_f(s, v, b), "");
    return clamp(s, u, splat_f(s, v, 0), splat_f(s, v, 1));
  }
  case IR_OP_HARD_SWISH: {
    LLVMValueRef u = LLVMBuildFAdd(s->b, LLVMBuildFMul(s->b, splat_f(s, v, 1.0 / 6.0), v, ""),
                                   splat_f(s, v, 0.5), "");
    return LLVMBuildFMul(s->b, v, clamp(s, u, splat_f(s, v, 0), splat_f(s, v, 1)), "");
  }
  case IR_OP_SIGMOID: {
    LLVMValueRef neg = LLVMBuildFNeg(s->b, v, "");
    LLVMValueRef ex = cg_exp(s, neg);
    LLVMValueRef one = splat_f(s, v, 1);
    return LLVMBuildFDiv(s->b, one, LLVMBuildFAdd(s->b, one, ex, ""), "");
  }
  case IR_OP_GELU: {
    /* lower_elementwise.c's f_gelu, the same operations on all lanes:
     * 0.5 x (1 + erf(x / sqrt 2)); the tanh form goes lane by lane */
    const char *approx = ir_attr_string_or(s->g, act->node, "approximate", "none");
    if (strcmp(approx, "none")) break;
    LLVMValueRef inner = cg_erf_f32(s, LLVMBuildFMul(s->b, v, splat_f(s, v, 0.7071067811865476), ""));
    return LLVMBuildFMul(s->b, LLVMBuildFMul(s->b, splat_f(s, v, 0.5), v, ""),
                         LLVMBuildFAdd(s->b, splat_f(s, v, 1), inner, ""), "");
  }
  default:
    break;
  }
  /* lane by lane through the op's scalar function */
  LLVMTypeRef t = LLVMTypeOf(v);
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return cg_unary_scalar(s, act->node, act->op, v);
  unsigned lanes = LLVMGetVectorSize(t);
  LLVMValueRef out = v;
  for (unsigned l = 0; l < lanes; l++) {
    LLVMValueRef x = LLVMBuildExtractElement(s->b, v, cg_i32(s, (int32_t)l), "");
    out = LLVMBuildInsertElement(s->b, out, cg_unary_scalar(s, act->node, act->op, x),
                                 cg_i32(s, (int32_t)l), "");
  }
  return out;
}

kiln_status cg_fused_epilogue(cg_state *s, int32_t n, cg_gemm *g) {
  if (cg_in(s, n, 2) >= 0) g->bias_in = 2;
  if (cg_in(s, n, 3) >= 0) g->resid_in = 3;
  const char *act = ir_attr_string_or(s->g, n, "activation", NULL);
  if (!act) return KILN_OK;
  ir_op op = ir_op_lookup("", act);
  if (op == IR_OP_COUNT || !cg_epilogue_supports(op))
    return cg_unsupported(s, n, "activation '%s' in an epilogue", act);
  g->act.op = op;
  g->act.node = n;
  g->act.lo = ir_attr_float_or(s->g, n, "min", -INFINITY);
  g->act.hi = ir_attr_float_or(s->g, n, "max", INFINITY);
  return KILN_OK;
}
