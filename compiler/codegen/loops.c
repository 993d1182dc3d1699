/*
 * loops.c — the small vocabulary lowerings are written in: counted loops,
 * i64 index arithmetic, typed loads and stores, casts and math calls.
 *
 * The aim is that a lowering reads like the C loop nest it stands for.
 * Loops are emitted in the plainest form LLVM understands best:
 *
 *     head:  i = phi [lo, pre], [i + 1, latch];  br (i < hi), body, exit
 *     body:  ...
 *     latch: br head
 *
 * with `nsw` index arithmetic and inbounds GEPs, so scalar evolution can
 * compute trip counts and the loop vectorizer can widen inner loops.
 * Accumulators are stack variables (cg_var) that SROA promotes to phis,
 * which keeps hooks free of phi bookkeeping.
 *
 * Everything here emits at the position of s->b (the current kernel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

LLVMValueRef cg_i64(cg_state *s, int64_t v) {
  return LLVMConstInt(s->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef cg_i32(cg_state *s, int32_t v) {
  return LLVMConstInt(s->t_i32, (unsigned long long)(int64_t)v, 1);
}

/* ---- loops and conditions --------------------------------------------------- */
cg_loop cg_for(cg_state *s, LLVMValueRef lo, LLVMValueRef hi) {
  cg_loop l;
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(s->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(pre);
  l.head_ = LLVMAppendBasicBlockInContext(s->c, fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(s->c, fn, "body");
  l.exit_ = LLVMAppendBasicBlockInContext(s->c, fn, "after");
  LLVMBuildBr(s->b, l.head_);
  LLVMPositionBuilderAtEnd(s->b, l.head_);
  l.phi_ = LLVMBuildPhi(s->b, s->t_i64, "i");
  LLVMAddIncoming(l.phi_, &lo, &pre, 1);
  LLVMBuildCondBr(s->b, LLVMBuildICmp(s->b, LLVMIntSLT, l.phi_, hi, ""), body, l.exit_);
  LLVMPositionBuilderAtEnd(s->b, body);
  l.i = l.phi_;
  return l;
}

cg_loop cg_for_n(cg_state *s, int64_t n) { return cg_for(s, cg_i64(s, 0), cg_i64(s, n)); }

void cg_end(cg_state *s, cg_loop *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(s->b, l->phi_, cg_i64(s, 1), "i.next");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(s->b);
  LLVMBuildBr(s->b, l->head_);
  LLVMAddIncoming(l->phi_, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(s->b, l->exit_);
}

cg_loop cg_if(cg_state *s, LLVMValueRef cond) {
  cg_loop l = {0};
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(s->b));
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(s->c, fn, "then");
  l.exit_ = LLVMAppendBasicBlockInContext(s->c, fn, "endif");
  LLVMBuildCondBr(s->b, cond, then, l.exit_);
  LLVMPositionBuilderAtEnd(s->b, then);
  return l;
}

void cg_end_if(cg_state *s, cg_loop *l) {
  LLVMBuildBr(s->b, l->exit_);
  LLVMPositionBuilderAtEnd(s->b, l->exit_);
}

/* ---- index arithmetic ---------------------------------------------------------- */
LLVMValueRef cg_add(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWAdd(s->b, a, b, "");
}
LLVMValueRef cg_sub(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWSub(s->b, a, b, "");
}
LLVMValueRef cg_mul(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWMul(s->b, a, b, "");
}
LLVMValueRef cg_addc(cg_state *s, LLVMValueRef a, int64_t c) {
  return c ? cg_add(s, a, cg_i64(s, c)) : a;
}
LLVMValueRef cg_mulc(cg_state *s, LLVMValueRef a, int64_t c) {
  if (c == 0) return cg_i64(s, 0);
  return c == 1 ? a : cg_mul(s, a, cg_i64(s, c));
}
LLVMValueRef cg_divc(cg_state *s, LLVMValueRef a, int64_t c) {
  return c == 1 ? a : LLVMBuildUDiv(s->b, a, cg_i64(s, c), "");
}
LLVMValueRef cg_remc(cg_state *s, LLVMValueRef a, int64_t c) {
  return c == 1 ? cg_i64(s, 0) : LLVMBuildURem(s->b, a, cg_i64(s, c), "");
}
LLVMValueRef cg_min(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSLT, a, b, ""), a, b, "");
}
LLVMValueRef cg_max(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSGT, a, b, ""), a, b, "");
}

void cg_unravel(cg_state *s, LLVMValueRef flat, int rank, const int64_t *dims, LLVMValueRef *idx) {
  for (int d = rank - 1; d > 0; d--) {
    idx[d] = dims[d] == 1 ? cg_i64(s, 0) : cg_remc(s, flat, dims[d]);
    flat = cg_divc(s, flat, dims[d]);
  }
  if (rank > 0) idx[0] = flat;
}

LLVMValueRef cg_dot_strides(cg_state *s, int rank, LLVMValueRef *idx, const int64_t *strides) {
  LLVMValueRef sum = cg_i64(s, 0);
  for (int d = 0; d < rank; d++)
    if (strides[d]) sum = cg_add(s, sum, cg_mulc(s, idx[d], strides[d]));
  return sum;
}

/* floor(a / c) for any sign of a, c > 0. */
static LLVMValueRef floor_divc(cg_state *s, LLVMValueRef a, int64_t c) {
  if (c == 1) return a;
  LLVMValueRef q = LLVMBuildSDiv(s->b, a, cg_i64(s, c), "");
  LLVMValueRef r = LLVMBuildSRem(s->b, a, cg_i64(s, c), "");
  LLVMValueRef neg = LLVMBuildICmp(s->b, LLVMIntSLT, r, cg_i64(s, 0), "");
  return cg_sub(s, q, LLVMBuildZExt(s->b, neg, s->t_i64, ""));
}

void cg_valid_range(cg_state *s, LLVMValueRef base, int64_t step, int64_t count, int64_t lo,
                    int64_t hi, LLVMValueRef *first, LLVMValueRef *last) {
  /* lo <= base + t*step  <=>  t >= ceil((lo - base) / step) = -floor((base - lo) / step) */
  LLVMValueRef f = cg_sub(s, cg_i64(s, 0), floor_divc(s, cg_addc(s, base, -lo), step));
  /* base + t*step <= hi - 1  <=>  t <= floor((hi - 1 - base) / step) */
  LLVMValueRef l = cg_addc(s, floor_divc(s, cg_sub(s, cg_i64(s, hi - 1), base), step), 1);
  f = cg_max(s, f, cg_i64(s, 0));
  l = cg_min(s, l, cg_i64(s, count));
  *first = f;
  *last = cg_max(s, l, f);
}

/* ---- types, memory ---------------------------------------------------------------- */
LLVMTypeRef cg_mem_type(cg_state *s, ir_dtype dt) {
  switch (dt) {
  case IR_F32: return s->t_f32;
  case IR_F64: return s->t_f64;
  case IR_F16: return LLVMHalfTypeInContext(s->c);
  case IR_BF16: return LLVMBFloatTypeInContext(s->c);
  case IR_BOOL: case IR_I8: case IR_U8: return s->t_i8;
  case IR_I16: case IR_U16: return LLVMInt16TypeInContext(s->c);
  case IR_I32: case IR_U32: return s->t_i32;
  case IR_I64: case IR_U64: return s->t_i64;
  default: return s->t_i8; /* sub-byte and exotic types are never loaded this way */
  }
}

LLVMTypeRef cg_val_type(cg_state *s, ir_dtype dt) {
  return dt == IR_BOOL ? s->t_i1 : cg_mem_type(s, dt);
}

LLVMValueRef cg_const(cg_state *s, ir_dtype dt, double v) {
  LLVMTypeRef t = cg_val_type(s, dt);
  if (ir_dtypes[dt].is_float) return LLVMConstReal(t, v);
  if (dt == IR_BOOL) return LLVMConstInt(t, v != 0, 0);
  if (ir_dtypes[dt].is_signed) return LLVMConstInt(t, (unsigned long long)(int64_t)v, 1);
  return LLVMConstInt(t, (unsigned long long)v, 0);
}

LLVMValueRef cg_gep(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(s->b, cg_mem_type(s, dt), base, &idx, 1, "");
}

LLVMValueRef cg_vload(cg_state *s, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(s->b, vt, cg_gep(s, IR_F32, base, idx), "");
  LLVMSetAlignment(v, align);
  return v;
}

void cg_vstore(cg_state *s, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v, unsigned align) {
  LLVMValueRef st = LLVMBuildStore(s->b, v, cg_gep(s, IR_F32, base, idx));
  LLVMSetAlignment(st, align);
}

LLVMValueRef cg_load(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef v = LLVMBuildLoad2(s->b, cg_mem_type(s, dt), cg_gep(s, dt, base, idx), "");
  if (dt == IR_BOOL) v = LLVMBuildICmp(s->b, LLVMIntNE, v, LLVMConstInt(s->t_i8, 0, 0), "");
  return v;
}

void cg_store(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v) {
  if (dt == IR_BOOL) v = LLVMBuildZExt(s->b, v, s->t_i8, "");
  LLVMBuildStore(s->b, v, cg_gep(s, dt, base, idx));
}

void cg_memcpy(cg_state *s, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef bytes) {
  LLVMBuildMemCpy(s->b, dst, 1, src, 1, bytes);
}

void cg_memset_zero(cg_state *s, LLVMValueRef dst, LLVMValueRef bytes) {
  LLVMBuildMemSet(s->b, dst, LLVMConstInt(s->t_i8, 0, 0), bytes, 1);
}

LLVMValueRef cg_var(cg_state *s, LLVMTypeRef t, LLVMValueRef init) {
  LLVMBuilderRef ab = LLVMCreateBuilderInContext(s->c);
  LLVMPositionBuilderAtEnd(ab, s->k->entry);
  LLVMValueRef var = LLVMBuildAlloca(ab, t, "acc");
  LLVMDisposeBuilder(ab);
  if (init) LLVMBuildStore(s->b, init, var);
  return var;
}

LLVMValueRef cg_get(cg_state *s, LLVMTypeRef t, LLVMValueRef var) {
  return LLVMBuildLoad2(s->b, t, var, "");
}

void cg_set(cg_state *s, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(s->b, v, var); }

/* ---- calls ------------------------------------------------------------------------- */
static LLVMValueRef call(cg_state *s, LLVMValueRef fn, int nargs, LLVMValueRef *args) {
  return LLVMBuildCall2(s->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)nargs, "");
}

static LLVMValueRef intrinsic_decl(cg_state *s, const char *name, LLVMTypeRef *types, int n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  if (!id) {
    fprintf(stderr, "kiln: internal error: no LLVM intrinsic %s\n", name);
    abort();
  }
  return LLVMGetIntrinsicDeclaration(s->m, id, types, (size_t)n);
}

LLVMValueRef cg_intrinsic(cg_state *s, const char *name, LLVMTypeRef t, int nargs,
                          LLVMValueRef *args) {
  return call(s, intrinsic_decl(s, name, &t, 1), nargs, args);
}

static LLVMValueRef byte_addr(cg_state *s, LLVMValueRef base, LLVMValueRef byte_off) {
  return LLVMBuildGEP2(s->b, s->t_i8, base, &byte_off, 1, "");
}

LLVMValueRef cg_masked_load(cg_state *s, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef byte_off,
                            LLVMValueRef mask, LLVMValueRef passthru) {
  LLVMTypeRef types[2] = {vt, LLVMTypeOf(base)};
  LLVMValueRef args[4] = {byte_addr(s, base, byte_off), cg_i32(s, 1), mask, passthru};
  return call(s, intrinsic_decl(s, "llvm.masked.load", types, 2), 4, args);
}

void cg_masked_store(cg_state *s, LLVMValueRef v, LLVMValueRef base, LLVMValueRef byte_off, LLVMValueRef mask) {
  LLVMTypeRef types[2] = {LLVMTypeOf(v), LLVMTypeOf(base)};
  LLVMValueRef args[4] = {v, byte_addr(s, base, byte_off), cg_i32(s, 1), mask};
  call(s, intrinsic_decl(s, "llvm.masked.store", types, 2), 4, args);
}

LLVMValueRef cg_libm(cg_state *s, const char *name, LLVMTypeRef t, int nargs, LLVMValueRef *args) {
  LLVMValueRef fn = LLVMGetNamedFunction(s->m, name);
  if (!fn) {
    LLVMTypeRef params[4] = {t, t, t, t};
    fn = LLVMAddFunction(s->m, name, LLVMFunctionType(t, params, (unsigned)nargs, 0));
    /* errno is of no interest to generated code: let LLVM treat the call as
     * pure so it can hoist it and keep loops around it simple */
    const char *attrs[] = {"nounwind", "willreturn", "memory"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
      unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                              LLVMCreateEnumAttribute(s->c, kind, 0));
    }
  }
  return call(s, fn, nargs, args);
}

LLVMValueRef cg_splat(cg_state *s, LLVMValueRef v, unsigned lanes) {
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), lanes);
  LLVMValueRef one = LLVMBuildInsertElement(s->b, LLVMGetPoison(vt), v, cg_i32(s, 0), "");
  return LLVMBuildShuffleVector(s->b, one, LLVMGetPoison(vt),
                                LLVMConstNull(LLVMVectorType(s->t_i32, lanes)), "splat");
}

LLVMValueRef cg_fmuladd(cg_state *s, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return cg_intrinsic(s, "llvm.fmuladd", LLVMTypeOf(a), 3, args);
}

/* ---- arithmetic and casts ------------------------------------------------------------ */
/* Integer division that never traps: x/0 is 0 and MIN/-1 wraps to MIN. */
static LLVMValueRef safe_idiv(cg_state *s, bool is_signed, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
  LLVMValueRef is0 = LLVMBuildICmp(s->b, LLVMIntEQ, b, zero, "");
  if (!is_signed) {
    LLVMValueRef q = LLVMBuildUDiv(s->b, a, LLVMBuildSelect(s->b, is0, one, b, ""), "");
    return LLVMBuildSelect(s->b, is0, zero, q, "");
  }
  LLVMValueRef m1 = LLVMBuildICmp(s->b, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
  LLVMValueRef safe = LLVMBuildSelect(s->b, LLVMBuildOr(s->b, is0, m1, ""), one, b, "");
  LLVMValueRef q = LLVMBuildSDiv(s->b, a, safe, "");
  q = LLVMBuildSelect(s->b, m1, LLVMBuildSub(s->b, zero, a, ""), q, "");
  return LLVMBuildSelect(s->b, is0, zero, q, "");
}

LLVMValueRef cg_arith_op(cg_state *s, cg_arith op, ir_dtype dt, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  bool sgn = ir_dtypes[dt].is_signed;
  if (ir_dtypes[dt].is_float) {
    switch (op) {
    case CG_ADD: return LLVMBuildFAdd(s->b, a, b, "");
    case CG_SUB: return LLVMBuildFSub(s->b, a, b, "");
    case CG_MUL: return LLVMBuildFMul(s->b, a, b, "");
    case CG_DIV: return LLVMBuildFDiv(s->b, a, b, "");
    case CG_MIN: return cg_intrinsic(s, "llvm.minimum", LLVMTypeOf(a), 2, args);
    case CG_MAX: return cg_intrinsic(s, "llvm.maximum", LLVMTypeOf(a), 2, args);
    }
  }
  if (dt == IR_BOOL) {
    switch (op) {
    case CG_ADD: case CG_MAX: return LLVMBuildOr(s->b, a, b, "");
    case CG_MUL: case CG_MIN: return LLVMBuildAnd(s->b, a, b, "");
    default: return LLVMBuildXor(s->b, a, b, "");
    }
  }
  switch (op) {
  case CG_ADD: return LLVMBuildAdd(s->b, a, b, "");
  case CG_SUB: return LLVMBuildSub(s->b, a, b, "");
  case CG_MUL: return LLVMBuildMul(s->b, a, b, "");
  case CG_DIV: return safe_idiv(s, sgn, a, b);
  case CG_MIN: return cg_intrinsic(s, sgn ? "llvm.smin" : "llvm.umin", LLVMTypeOf(a), 2, args);
  case CG_MAX: return cg_intrinsic(s, sgn ? "llvm.smax" : "llvm.umax", LLVMTypeOf(a), 2, args);
  }
  return NULL;
}

/* bfloat16 is the top half of a float32: widening is a shift. */
static LLVMValueRef bf16_to_f32(cg_state *s, LLVMValueRef v) {
  LLVMValueRef bits = LLVMBuildBitCast(s->b, v, LLVMInt16TypeInContext(s->c), "");
  bits = LLVMBuildShl(s->b, LLVMBuildZExt(s->b, bits, s->t_i32, ""), cg_i32(s, 16), "");
  return LLVMBuildBitCast(s->b, bits, s->t_f32, "");
}

/* float32 -> bfloat16 rounding to nearest even (NaN stays a quiet NaN),
 * as ONNX Runtime does; written with integer ops because LLVM would call
 * a compiler-runtime helper (__truncsfbf2) that older libgcc lacks. */
static LLVMValueRef f32_to_bf16(cg_state *s, LLVMValueRef v) {
  LLVMValueRef bits = LLVMBuildBitCast(s->b, v, s->t_i32, "");
  LLVMValueRef lsb = LLVMBuildAnd(s->b, LLVMBuildLShr(s->b, bits, cg_i32(s, 16), ""), cg_i32(s, 1), "");
  LLVMValueRef r = LLVMBuildAdd(s->b, bits, LLVMBuildAdd(s->b, lsb, cg_i32(s, 0x7fff), ""), "");
  LLVMValueRef nan = LLVMBuildFCmp(s->b, LLVMRealUNO, v, v, "");
  LLVMValueRef qnan = LLVMBuildOr(s->b, bits, cg_i32(s, 0x00400000), "");
  r = LLVMBuildLShr(s->b, LLVMBuildSelect(s->b, nan, qnan, r, ""), cg_i32(s, 16), "");
  r = LLVMBuildTrunc(s->b, r, LLVMInt16TypeInContext(s->c), "");
  return LLVMBuildBitCast(s->b, r, LLVMBFloatTypeInContext(s->c), "");
}

/* float64 -> float32 rounding to odd: an inexact result gets its lowest
 * bit set (after stepping towards zero if rounding went away from it).
 * Rounding that to a narrower type (f16, bf16) then equals rounding the
 * double directly, without the libgcc helper (__truncdfhf2) LLVM calls. */
static LLVMValueRef f64_to_f32_odd(cg_state *s, LLVMValueRef v) {
  LLVMValueRef f = LLVMBuildFPTrunc(s->b, v, s->t_f32, "");
  LLVMValueRef back = LLVMBuildFPExt(s->b, f, s->t_f64, "");
  LLVMValueRef inexact = LLVMBuildFCmp(s->b, LLVMRealONE, back, v, "");
  LLVMValueRef fabs_args[1] = {back};
  LLVMValueRef ab = cg_intrinsic(s, "llvm.fabs", s->t_f64, 1, fabs_args);
  fabs_args[0] = v;
  LLVMValueRef av = cg_intrinsic(s, "llvm.fabs", s->t_f64, 1, fabs_args);
  LLVMValueRef away = LLVMBuildFCmp(s->b, LLVMRealOGT, ab, av, "");
  LLVMValueRef bits = LLVMBuildBitCast(s->b, f, s->t_i32, "");
  bits = LLVMBuildSub(s->b, bits, LLVMBuildZExt(s->b, LLVMBuildAnd(s->b, inexact, away, ""), s->t_i32, ""), "");
  bits = LLVMBuildOr(s->b, bits, LLVMBuildZExt(s->b, inexact, s->t_i32, ""), "");
  return LLVMBuildBitCast(s->b, bits, s->t_f32, "");
}

LLVMValueRef cg_cast(cg_state *s, LLVMValueRef v, ir_dtype from, ir_dtype to) {
  LLVMTypeRef t = cg_val_type(s, to);
  bool ff = ir_dtypes[from].is_float, tf = ir_dtypes[to].is_float;
  if (from == to) return v;
  /* bfloat16 goes through float32 by hand, as does float64 -> float16 */
  if (from == IR_BF16) return cg_cast(s, bf16_to_f32(s, v), IR_F32, to);
  if (to == IR_BF16) {
    v = from == IR_F64 ? f64_to_f32_odd(s, v) : cg_cast(s, v, from, IR_F32);
    return f32_to_bf16(s, v);
  }
  if (from == IR_F64 && to == IR_F16) return cg_cast(s, f64_to_f32_odd(s, v), IR_F32, to);
  if (to == IR_BOOL) {
    LLVMValueRef zero = LLVMConstNull(LLVMTypeOf(v));
    return ff ? LLVMBuildFCmp(s->b, LLVMRealUNE, v, zero, "")
              : LLVMBuildICmp(s->b, LLVMIntNE, v, zero, "");
  }
  if (ff && tf) return LLVMBuildFPCast(s->b, v, t, "");
  if (!ff && tf) {
    return (from != IR_BOOL && ir_dtypes[from].is_signed) ? LLVMBuildSIToFP(s->b, v, t, "")
                                                          : LLVMBuildUIToFP(s->b, v, t, "");
  }
  if (ff) {
    /* saturating conversion: out-of-range and NaN inputs give defined results */
    LLVMTypeRef types[2] = {t, LLVMTypeOf(v)};
    const char *name = ir_dtypes[to].is_signed ? "llvm.fptosi.sat" : "llvm.fptoui.sat";
    return call(s, intrinsic_decl(s, name, types, 2), 1, &v);
  }
  return LLVMBuildIntCast2(s->b, v, t, from != IR_BOOL && ir_dtypes[from].is_signed, "");
}

/* ---- static shape helpers ------------------------------------------------------------- */
void cg_strides(const ir_shape *shape, int64_t *strides) {
  int64_t st = 1;
  for (int d = shape->rank - 1; d >= 0; d--) {
    strides[d] = st;
    st *= shape->dims[d];
  }
}

void cg_broadcast_strides(const ir_shape *out, const ir_shape *in, int64_t *strides) {
  int64_t own[KILN_MAX_RANK];
  cg_strides(in, own);
  int lead = out->rank - in->rank;
  for (int d = 0; d < out->rank; d++) {
    int di = d - lead;
    strides[d] = (di < 0 || in->dims[di] == 1) ? 0 : own[di];
  }
}

int cg_collapse(int rank, int64_t *dims, int n, int64_t (*strides)[KILN_MAX_RANK]) {
  int r = 0;
  for (int d = 0; d < rank; d++) {
    if (dims[d] == 1) continue;
    bool merge = r > 0;
    for (int k = 0; k < n && merge; k++) merge = strides[k][r - 1] == strides[k][d] * dims[d];
    if (merge) {
      dims[r - 1] *= dims[d];
      for (int k = 0; k < n; k++) strides[k][r - 1] = strides[k][d];
      continue;
    }
    dims[r] = dims[d];
    for (int k = 0; k < n; k++) strides[k][r] = strides[k][d];
    r++;
  }
  return r;
}

int64_t cg_prod(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int d = from; d < to; d++) p *= dims[d];
  return p;
}

int cg_axis(int64_t axis, int rank) {
  if (axis < 0) axis += rank;
  return (axis < 0 || axis >= rank) ? -1 : (int)axis;
}
