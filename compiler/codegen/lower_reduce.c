/*
 * lower_reduce.c — the Reduce* family (Sum, Mean, Max, Min, Prod, L1, L2,
 * LogSum, LogSumExp, SumSquare), ArgMax/ArgMin, and the reduction plan the
 * normalisations share (cg_reduce_plan).
 *
 * Plan.  The input's dims are split into *kept* and *reduced* ones.  Each
 * kept index is one output element and one parallel item; the reduced dims
 * are walked by nested loops in row-major order.  Adjacent dims of the same
 * kind whose strides chain are merged and extent-1 dims dropped, so the
 * common cases (reduce the last axes, reduce the middle of NCHW) become one
 * or two loops.  The output is laid out like the kept dims in order, with
 * or without keepdims, so item i writes output element i.
 *
 * Order.  An output element is reduced by one item alone, in the fixed
 * row-major order of the reduced dims (or, for one contiguous f32/f64 run,
 * in vector lanes combined in a fixed order: cg_lane_reduce), so results
 * are the same for every thread count (no reduction is ever split).
 *
 * Precision.  Floats accumulate in their own type (f16/bf16 in f32);
 * integers in their own type, wrapping like the ONNX reference's numpy.
 * ReduceLogSumExp subtracts the maximum first (a second pass), so large
 * inputs do not overflow; an all -inf (or empty) input gives -inf.
 * ReduceMean of integers truncates towards zero.
 *
 * ArgMax/ArgMin scan the axis and keep the first extreme (the last with
 * select_last_index); NaN is never selected over a number.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "cg.h"

/* ---- the plan ------------------------------------------------------------------ */
void cg_reduce_plan_init(const ir_shape *x, const bool *reduced, cg_reduce_plan *p) {
  memset(p, 0, sizeof *p);
  int64_t strides[KILN_MAX_RANK];
  cg_strides(x, strides);
  p->items = 1;
  p->len = 1;
  for (int d = 0; d < x->rank; d++) {
    int64_t ext = x->dims[d];
    if (reduced[d]) p->len *= ext; else p->items *= ext;
    if (ext == 1) continue;
    int *cnt = reduced[d] ? &p->nred : &p->nkeep;
    int64_t *dims = reduced[d] ? p->red_dims : p->keep_dims;
    int64_t *st = reduced[d] ? p->red_strides : p->keep_strides;
    /* merge with the previous dim of this kind if that one is its outer
     * neighbour (only extent-1 dims between), which the strides show */
    if (*cnt > 0 && st[*cnt - 1] == strides[d] * ext) {
      dims[*cnt - 1] *= ext;
      st[*cnt - 1] = strides[d];
    } else {
      dims[*cnt] = ext;
      st[*cnt] = strides[d];
      (*cnt)++;
    }
  }
}

LLVMValueRef cg_reduce_base(cg_state *s, const cg_reduce_plan *p, LLVMValueRef item) {
  LLVMValueRef idx[KILN_MAX_RANK];
  cg_unravel(s, item, p->nkeep, p->keep_dims, idx);
  return cg_dot_strides(s, p->nkeep, idx, p->keep_strides);
}

LLVMValueRef cg_reduce_loops(cg_state *s, const cg_reduce_plan *p, LLVMValueRef base,
                             cg_loop *loops) {
  LLVMValueRef off = base;
  for (int d = 0; d < p->nred; d++) {
    loops[d] = cg_for_n(s, p->red_dims[d]);
    off = cg_add(s, off, cg_mulc(s, loops[d].i, p->red_strides[d]));
  }
  return off;
}

void cg_reduce_loops_end(cg_state *s, const cg_reduce_plan *p, cg_loop *loops) {
  for (int d = p->nred - 1; d >= 0; d--) cg_end(s, &loops[d]);
}

/* ---- contiguous sums in lanes ------------------------------------------------------ */
/* A sequential float sum is one long dependency chain that LLVM may not
 * reorder.  Over a contiguous run the sum is instead kept in CG_LANES
 * interleaved partial sums (lane l takes elements l, l + CG_LANES, ...),
 * one vector register, which LLVM turns into vector adds; the lanes are
 * then added in order 0..CG_LANES-1 and the tail elements after them.
 * The order is fixed by len alone, so results are the same on every
 * thread and every run. */
enum { CG_LANES = 8 };

LLVMValueRef cg_lane_reduce(cg_state *s, cg_lane_op op, ir_dtype dt, LLVMValueRef x,
                            LLVMValueRef base, int64_t len, LLVMValueRef center) {
  assert(dt == IR_F32 || dt == IR_F64);
  LLVMTypeRef vt = cg_val_type(s, dt), vec = LLVMVectorType(vt, CG_LANES);
  bool is_max = op == CG_LANE_MAX, is_min = op == CG_LANE_MIN;
  double init = is_max ? -INFINITY : is_min ? INFINITY : 0;
  int64_t nv = len / CG_LANES;
  LLVMValueRef vc = center ? cg_splat(s, center, CG_LANES) : NULL;
  /* one step: acc (+) term(v), on vectors or scalars alike */
  #define LANE_STEP(acc, v, c)                                                              \
    (op == CG_LANE_SQ_DEV ? cg_fmuladd(s, LLVMBuildFSub(s->b, v, c, ""),                      \
                                       LLVMBuildFSub(s->b, v, c, ""), acc)                    \
     : op == CG_LANE_SQ   ? cg_fmuladd(s, v, v, acc)                                          \
     : op == CG_LANE_ABS  ? LLVMBuildFAdd(s->b, acc, cg_intrinsic(s, "llvm.fabs", LLVMTypeOf(v), 1, &v), "") \
     : is_max || is_min   ? cg_intrinsic(s, is_max ? "llvm.maximum" : "llvm.minimum", LLVMTypeOf(v), 2, \
                                         (LLVMValueRef[]){acc, v})                             \
                          : LLVMBuildFAdd(s->b, acc, v, ""))
  LLVMValueRef total = cg_const(s, dt, init);
  if (nv > 0) {
    LLVMValueRef vacc = cg_var(s, vec, cg_splat(s, cg_const(s, dt, init), CG_LANES));
    cg_loop i = cg_for_n(s, nv);
    LLVMValueRef ld = LLVMBuildLoad2(s->b, vec, cg_gep(s, dt, x, cg_add(s, base, cg_mulc(s, i.i, CG_LANES))), "");
    LLVMSetAlignment(ld, (unsigned)ir_dtype_bytes(dt, 1));
    cg_set(s, vacc, LANE_STEP(cg_get(s, vec, vacc), ld, vc));
    cg_end(s, &i);
    LLVMValueRef va = cg_get(s, vec, vacc);
    total = LLVMBuildExtractElement(s->b, va, cg_i32(s, 0), "");
    for (int l = 1; l < CG_LANES; l++) {
      LLVMValueRef e = LLVMBuildExtractElement(s->b, va, cg_i32(s, l), "");
      total = is_max || is_min ? cg_intrinsic(s, is_max ? "llvm.maximum" : "llvm.minimum", vt, 2,
                                              (LLVMValueRef[]){total, e})
                               : LLVMBuildFAdd(s->b, total, e, "");
    }
  }
  if (len % CG_LANES) {
    LLVMValueRef acc = cg_var(s, vt, total);
    cg_loop t = cg_for(s, cg_i64(s, nv * CG_LANES), cg_i64(s, len));
    LLVMValueRef v = cg_load(s, dt, x, cg_add(s, base, t.i));
    cg_set(s, acc, LANE_STEP(cg_get(s, vt, acc), v, center));
    cg_end(s, &t);
    total = cg_get(s, vt, acc);
  }
  #undef LANE_STEP
  return total;
}

/* ---- helpers ----------------------------------------------------------------- */
/* The type reductions of dt compute in: f16/bf16 widen to f32. */
ir_dtype cg_compute_dtype(ir_dtype dt) {
  return (dt == IR_F16 || dt == IR_BF16) ? IR_F32 : dt;
}

LLVMValueRef cg_load_as(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx,
                        ir_dtype to) {
  return cg_cast(s, cg_load(s, dt, base, idx), dt, to);
}

/* The extreme value of a dtype: +inf/-inf for floats, the integer bounds. */
static LLVMValueRef extreme(cg_state *s, ir_dtype dt, bool largest) {
  if (ir_dtypes[dt].is_float) return cg_const(s, dt, largest ? INFINITY : -INFINITY);
  LLVMTypeRef t = cg_val_type(s, dt);
  unsigned bits = LLVMGetIntTypeWidth(t);
  if (dt == IR_BOOL) return LLVMConstInt(t, largest, 0);
  if (ir_dtypes[dt].is_signed) {
    unsigned long long min = 1ull << (bits - 1);
    return LLVMConstInt(t, largest ? min - 1 : min, 0);
  }
  return largest ? LLVMConstAllOnes(t) : LLVMConstInt(t, 0, 0);
}

/* max/min that ignore NaN on neither side: ONNX's reference (numpy
 * maximum) propagates NaN, as llvm.maximum does. */
static LLVMValueRef pick(cg_state *s, bool max, ir_dtype dt, LLVMValueRef a, LLVMValueRef b) {
  return cg_arith_op(s, max ? CG_MAX : CG_MIN, dt, a, b);
}

/* The axes a Reduce* node reduces, as flags; false with a report if they
 * are not known at compile time.  *identity: empty axes with
 * noop_with_empty_axes. */
static kiln_status reduce_flags(cg_state *s, int32_t n, int rank, bool *reduced, bool *identity) {
  int64_t axes[KILN_MAX_RANK];
  int count;
  ir_value_id ax = cg_in(s, n, 1);
  *identity = false;
  if (ax >= 0) {
    bool empty = cg_numel(s, ax) == 0; /* known empty, even as a run-time input */
    count = empty ? 0 : (int)ir_const_ints(s->g, ax, axes, KILN_MAX_RANK);
    if (count < 0) return cg_unsupported(s, n, "axes must be a constant");
  } else {
    const int64_t *a;
    count = ir_attr_ints(s->g, n, "axes", &a);
    for (int i = 0; i < count && i < KILN_MAX_RANK; i++) axes[i] = a[i];
  }
  for (int d = 0; d < rank; d++) reduced[d] = count == 0;
  if (count == 0 && ir_attr_int_or(s->g, n, "noop_with_empty_axes", 0)) {
    *identity = true;
    for (int d = 0; d < rank; d++) reduced[d] = false;
  }
  for (int i = 0; i < count; i++) {
    int a = cg_axis(axes[i], rank);
    if (a < 0) return cg_unsupported(s, n, "axis %lld out of range", (long long)axes[i]);
    reduced[a] = true;
  }
  return KILN_OK;
}

/* ---- Reduce* ----------------------------------------------------------------- */
/* The accumulator's start value. */
static LLVMValueRef reduce_init(cg_state *s, ir_op op, ir_dtype ct) {
  if (op == IR_OP_REDUCE_MAX || op == IR_OP_REDUCE_MIN) return extreme(s, ct, op == IR_OP_REDUCE_MIN);
  return cg_const(s, ct, op == IR_OP_REDUCE_PROD ? 1 : 0);
}

/* acc (+) v; shift is LogSumExp's maximum. */
static LLVMValueRef reduce_combine(cg_state *s, ir_op op, ir_dtype ct, LLVMValueRef a, LLVMValueRef v,
                                   LLVMValueRef shift) {
  LLVMTypeRef vt = cg_val_type(s, ct);
  switch (op) {
  case IR_OP_REDUCE_MAX: return pick(s, true, ct, a, v);
  case IR_OP_REDUCE_MIN: return pick(s, false, ct, a, v);
  case IR_OP_REDUCE_PROD: return cg_arith_op(s, CG_MUL, ct, a, v);
  case IR_OP_REDUCE_L1: {
    LLVMValueRef av = v;
    if (ir_dtypes[ct].is_float)
      av = cg_intrinsic(s, "llvm.fabs", vt, 1, &v);
    else if (ir_dtypes[ct].is_signed)
      av = cg_intrinsic(s, "llvm.abs", vt, 2, (LLVMValueRef[]){v, LLVMConstInt(s->t_i1, 0, 0)});
    return cg_arith_op(s, CG_ADD, ct, a, av);
  }
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE: return cg_arith_op(s, CG_ADD, ct, a, cg_arith_op(s, CG_MUL, ct, v, v));
  case IR_OP_REDUCE_LOG_SUM_EXP: {
    LLVMValueRef d = LLVMBuildFSub(s->b, v, shift, "");
    return LLVMBuildFAdd(s->b, a, cg_exp(s, d), "");
  }
  default: return cg_arith_op(s, CG_ADD, ct, a, v); /* Sum, Mean, LogSum */
  }
}

/* The final value from the accumulator; count is the i64 number of
 * elements reduced (Mean). */
static LLVMValueRef reduce_finish(cg_state *s, ir_op op, ir_dtype ct, LLVMValueRef r,
                                  LLVMValueRef count, LLVMValueRef shift) {
  LLVMTypeRef vt = cg_val_type(s, ct);
  switch (op) {
  case IR_OP_REDUCE_MEAN:
    return cg_arith_op(s, CG_DIV, ct, r, cg_cast(s, count, IR_I64, ct));
  case IR_OP_REDUCE_L2: return cg_intrinsic(s, "llvm.sqrt", vt, 1, &r);
  case IR_OP_REDUCE_LOG_SUM: return cg_intrinsic(s, "llvm.log", vt, 1, &r);
  case IR_OP_REDUCE_LOG_SUM_EXP:
    return LLVMBuildFAdd(s->b, cg_intrinsic(s, "llvm.log", vt, 1, &r), shift, "");
  default: return r;
  }
}

/* LogSumExp's shift: the maximum if finite, else 0 (so -inf inputs give
 * log(0) + 0 = -inf and +inf gives +inf, without inf - inf). */
static LLVMValueRef finite_or_zero(cg_state *s, ir_dtype ct, LLVMValueRef m) {
  LLVMValueRef fin = LLVMBuildFCmp(s->b, LLVMRealOEQ, LLVMBuildFSub(s->b, m, m, ""),
                                   cg_const(s, ct, 0), ""); /* m - m is 0 iff finite */
  return LLVMBuildSelect(s->b, fin, m, cg_const(s, ct, 0), "");
}

/* Axes from a run-time input (the ONNX node tests feed them so).  The
 * output shape is static, so only which dims are reduced is unknown: one
 * serial item computes, per input dim, whether it is reduced and the
 * output strides, then walks the input in row-major order accumulating
 * into private scratch, each output seeing its elements in row-major
 * order (as constant axes do, except their contiguous lanes). */
static kiln_status reduce_runtime_axes(cg_state *s, int32_t n, ir_dtype dt, ir_dtype ct) {
  ir_op op = s->g->nodes[n].op;
  ir_value_id x = cg_in(s, n, 0), ax = cg_in(s, n, 1), y = cg_out(s, n, 0);
  const ir_shape *xs = cg_shape(s, x);
  ir_dtype at = cg_dtype(s, ax);
  int64_t na = cg_numel(s, ax), nx = cg_numel(s, x), ny = cg_numel(s, y);
  int rank = xs->rank;
  if (at != IR_I64 && at != IR_I32) return cg_unsupported(s, n, "axes must be int64");
  int64_t esz = ir_dtype_bytes(ct, 1);
  cg_kernel_scratch(s, 2 * ny * esz); /* accumulators, LogSumExp maxima */
  cg_kernel *k = cg_kernel_begin(s, n, nx ? 1 : 0, nx * 2);
  LLVMValueRef red[KILN_MAX_RANK], ostr[KILN_MAX_RANK];
  for (int d = 0; d < rank; d++) red[d] = LLVMConstInt(s->t_i1, 0, 0);
  for (int64_t a = 0; a < na; a++) {
    LLVMValueRef av = cg_cast(s, cg_load(s, at, k->in[1], cg_i64(s, a)), at, IR_I64);
    LLVMValueRef neg = LLVMBuildICmp(s->b, LLVMIntSLT, av, cg_i64(s, 0), "");
    av = LLVMBuildSelect(s->b, neg, cg_addc(s, av, rank), av, "");
    for (int d = 0; d < rank; d++)
      red[d] = LLVMBuildOr(s->b, red[d], LLVMBuildICmp(s->b, LLVMIntEQ, av, cg_i64(s, d), ""), "");
  }
  LLVMValueRef prod = cg_i64(s, 1), count = cg_i64(s, 1);
  for (int d = rank - 1; d >= 0; d--) {
    LLVMValueRef ext = cg_i64(s, xs->dims[d]);
    ostr[d] = LLVMBuildSelect(s->b, red[d], cg_i64(s, 0), prod, "");
    prod = LLVMBuildSelect(s->b, red[d], prod, cg_mul(s, prod, ext), "");
    count = LLVMBuildSelect(s->b, red[d], cg_mul(s, count, ext), count, "");
  }
  LLVMValueRef acc = k->scratch, mx = cg_gep(s, ct, k->scratch, cg_i64(s, ny));
  cg_loop o = cg_for_n(s, ny);
  cg_store(s, ct, acc, o.i, reduce_init(s, op, ct));
  cg_store(s, ct, mx, o.i, cg_const(s, ct, -INFINITY));
  cg_end(s, &o);
  LLVMValueRef idx[KILN_MAX_RANK];
  if (op == IR_OP_REDUCE_LOG_SUM_EXP) {
    cg_loop i = cg_for_n(s, nx);
    cg_unravel(s, i.i, rank, xs->dims, idx);
    LLVMValueRef oi = cg_i64(s, 0);
    for (int d = 0; d < rank; d++) oi = cg_add(s, oi, cg_mul(s, idx[d], ostr[d]));
    LLVMValueRef v = cg_load_as(s, dt, k->in[0], i.i, ct);
    cg_loop in = cg_if(s, LLVMBuildICmp(s->b, LLVMIntULT, oi, cg_i64(s, ny), ""));
    cg_store(s, ct, mx, oi, pick(s, true, ct, cg_load(s, ct, mx, oi), v));
    cg_end_if(s, &in);
    cg_end(s, &i);
    o = cg_for_n(s, ny);
    cg_store(s, ct, mx, o.i, finite_or_zero(s, ct, cg_load(s, ct, mx, o.i)));
    cg_end(s, &o);
  }
  cg_loop i = cg_for_n(s, nx);
  cg_unravel(s, i.i, rank, xs->dims, idx);
  LLVMValueRef oi = cg_i64(s, 0);
  for (int d = 0; d < rank; d++) oi = cg_add(s, oi, cg_mul(s, idx[d], ostr[d]));
  LLVMValueRef v = cg_load_as(s, dt, k->in[0], i.i, ct);
  /* axes that disagree with the static output shape must not write past it */
  cg_loop in = cg_if(s, LLVMBuildICmp(s->b, LLVMIntULT, oi, cg_i64(s, ny), ""));
  cg_store(s, ct, acc, oi, reduce_combine(s, op, ct, cg_load(s, ct, acc, oi), v, cg_load(s, ct, mx, oi)));
  cg_end_if(s, &in);
  cg_end(s, &i);
  o = cg_for_n(s, ny);
  LLVMValueRef r = reduce_finish(s, op, ct, cg_load(s, ct, acc, o.i), count, cg_load(s, ct, mx, o.i));
  cg_store(s, dt, k->out[0], o.i, cg_cast(s, r, ct, dt));
  cg_end(s, &o);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* Reductions whose innermost kept dim is contiguous (ReduceSum over axis 0
 * of [R, C], over H of NHWC...): walking each output's elements one by one
 * would stride through memory.  Instead an item is a run of `row` outputs
 * that are adjacent in both input and output; the output row is the
 * accumulator, and each reduced index adds a contiguous input row to it,
 * which vectorizes.  Every output element still combines its inputs in
 * the row-major order of the reduced dims, exactly as the generic loop
 * does, so the results are the same bits. */
static kiln_status reduce_rows(cg_state *s, int32_t n, const cg_reduce_plan *p, ir_dtype dt) {
  ir_op op = s->g->nodes[n].op;
  int64_t row = p->keep_dims[p->nkeep - 1], items = p->items / row;
  cg_kernel *k = cg_kernel_begin(s, n, items, p->len * row * 2);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef idx[KILN_MAX_RANK];
  cg_unravel(s, item.i, p->nkeep - 1, p->keep_dims, idx);
  LLVMValueRef base = cg_dot_strides(s, p->nkeep - 1, idx, p->keep_strides);
  LLVMValueRef yb = cg_mulc(s, item.i, row);
  cg_loop j = cg_for_n(s, row);
  cg_store(s, dt, k->out[0], cg_add(s, yb, j.i), reduce_init(s, op, dt));
  cg_end(s, &j);
  cg_loop loops[KILN_MAX_RANK];
  LLVMValueRef off = cg_reduce_loops(s, p, base, loops);
  j = cg_for_n(s, row);
  LLVMValueRef at = cg_add(s, yb, j.i);
  LLVMValueRef v = cg_load(s, dt, k->in[0], cg_add(s, off, j.i));
  cg_store(s, dt, k->out[0], at, reduce_combine(s, op, dt, cg_load(s, dt, k->out[0], at), v, NULL));
  cg_end(s, &j);
  cg_reduce_loops_end(s, p, loops);
  if (op == IR_OP_REDUCE_MEAN || op == IR_OP_REDUCE_L2 || op == IR_OP_REDUCE_LOG_SUM) {
    j = cg_for_n(s, row);
    at = cg_add(s, yb, j.i);
    cg_store(s, dt, k->out[0], at,
             reduce_finish(s, op, dt, cg_load(s, dt, k->out[0], at), cg_i64(s, p->len), NULL));
    cg_end(s, &j);
  }
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

kiln_status lower_reduce(cg_state *s, int32_t n) {
  static const ir_dtype ok[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_I8, IR_U8, IR_I16, IR_U16,
                                IR_I32, IR_U32, IR_I64, IR_U64, IR_BOOL, IR_UNDEFINED};
  ir_op op = s->g->nodes[n].op;
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0), ax = cg_in(s, n, 1);
  ir_dtype dt = cg_dtype(s, x);
  bool found = false;
  for (const ir_dtype *d = ok; *d; d++) found |= *d == dt;
  if (!found || cg_dtype(s, y) != dt)
    return cg_unsupported(s, n, "no code generation for dtype %s", ir_dtype_name(dt));
  bool is_float = ir_dtypes[dt].is_float;
  bool needs_float = op == IR_OP_REDUCE_L2 || op == IR_OP_REDUCE_LOG_SUM ||
                     op == IR_OP_REDUCE_LOG_SUM_EXP;
  if (needs_float && !is_float)
    return cg_unsupported(s, n, "%s of %s", ir_ops[op].name, ir_dtype_name(dt));
  if (dt == IR_BOOL && op != IR_OP_REDUCE_MAX && op != IR_OP_REDUCE_MIN)
    return cg_unsupported(s, n, "%s of bool", ir_ops[op].name);
  ir_dtype ct = cg_compute_dtype(dt);
  LLVMTypeRef vt = cg_val_type(s, ct);
  if (ax >= 0 && s->g->values[ax].storage != IR_STORAGE_CONST && cg_numel(s, ax) > 0)
    return reduce_runtime_axes(s, n, dt, ct);
  const ir_shape *xs = cg_shape(s, x);
  bool reduced[KILN_MAX_RANK] = {false}, identity;
  kiln_status st = reduce_flags(s, n, xs->rank, reduced, &identity);
  if (st) return st;
  cg_reduce_plan p;
  cg_reduce_plan_init(xs, reduced, &p);
  if (!identity && dt == ct && op != IR_OP_REDUCE_LOG_SUM_EXP && p.nkeep > 0 && p.nred > 0 &&
      p.keep_strides[p.nkeep - 1] == 1 && p.keep_dims[p.nkeep - 1] >= 4)
    return reduce_rows(s, n, &p, dt);

  cg_kernel *k = cg_kernel_begin(s, n, p.items, p.len * 2);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef base = cg_reduce_base(s, &p, item.i);
  cg_loop loops[KILN_MAX_RANK];
  if (identity) {
    cg_store(s, dt, k->out[0], item.i, cg_load(s, dt, k->in[0], base));
    cg_end(s, &item);
    cg_kernel_end(s, k);
    return KILN_OK;
  }
  LLVMValueRef shift = NULL; /* LogSumExp: the finite maximum, or 0 */
  if (op == IR_OP_REDUCE_LOG_SUM_EXP) {
    LLVMValueRef mx = cg_var(s, vt, cg_const(s, ct, -INFINITY));
    LLVMValueRef off = cg_reduce_loops(s, &p, base, loops);
    cg_set(s, mx, pick(s, true, ct, cg_get(s, vt, mx), cg_load_as(s, dt, k->in[0], off, ct)));
    cg_reduce_loops_end(s, &p, loops);
    shift = finite_or_zero(s, ct, cg_get(s, vt, mx));
  }
  /* one contiguous run of f32/f64: vector lanes (cg_lane_reduce) */
  int lane = -1;
  if ((dt == IR_F32 || dt == IR_F64) && p.nred == 1 && p.red_strides[0] == 1) {
    switch (op) {
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_LOG_SUM: lane = CG_LANE_SUM; break;
    case IR_OP_REDUCE_SUM_SQUARE: case IR_OP_REDUCE_L2: lane = CG_LANE_SQ; break;
    case IR_OP_REDUCE_L1: lane = CG_LANE_ABS; break;
    case IR_OP_REDUCE_MAX: lane = CG_LANE_MAX; break;
    case IR_OP_REDUCE_MIN: lane = CG_LANE_MIN; break;
    default: break;
    }
  }
  LLVMValueRef total;
  if (lane >= 0) {
    total = cg_lane_reduce(s, (cg_lane_op)lane, dt, k->in[0], base, p.len, NULL);
  } else {
    LLVMValueRef acc = cg_var(s, vt, reduce_init(s, op, ct));
    LLVMValueRef off = cg_reduce_loops(s, &p, base, loops);
    LLVMValueRef v = cg_load_as(s, dt, k->in[0], off, ct);
    cg_set(s, acc, reduce_combine(s, op, ct, cg_get(s, vt, acc), v, shift));
    cg_reduce_loops_end(s, &p, loops);
    total = cg_get(s, vt, acc);
  }
  LLVMValueRef r = reduce_finish(s, op, ct, total, cg_i64(s, p.len), shift);
  cg_store(s, dt, k->out[0], item.i, cg_cast(s, r, ct, dt));
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* ---- ArgMax, ArgMin ------------------------------------------------------------ */
kiln_status lower_arg_reduce(cg_state *s, int32_t n) {
  bool is_max = s->g->nodes[n].op == IR_OP_ARG_MAX;
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0);
  ir_dtype dt = cg_dtype(s, x);
  if (dt == IR_BOOL || dt == IR_STRING || dt > IR_BF16 || dt == IR_C64 || dt == IR_C128 ||
      cg_dtype(s, y) != IR_I64)
    return cg_unsupported(s, n, "no code generation for dtype %s", ir_dtype_name(dt));
  const ir_shape *xs = cg_shape(s, x);
  int rank = xs->rank ? xs->rank : 1;
  int axis = cg_axis(ir_attr_int_or(s->g, n, "axis", 0), rank);
  if (axis < 0) return cg_unsupported(s, n, "axis out of range");
  bool last = ir_attr_int_or(s->g, n, "select_last_index", 0) != 0;
  int64_t outer = cg_prod(xs->dims, 0, axis), len = xs->rank ? xs->dims[axis] : 1;
  int64_t inner = cg_prod(xs->dims, axis + 1, xs->rank);
  ir_dtype ct = cg_compute_dtype(dt);
  LLVMTypeRef vt = cg_val_type(s, ct);

  cg_kernel *k = cg_kernel_begin(s, n, outer * inner, len * 2);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef base = cg_add(s, cg_mulc(s, cg_divc(s, item.i, inner), len * inner),
                             cg_remc(s, item.i, inner));
  LLVMValueRef best = cg_var(s, vt, cg_load_as(s, dt, k->in[0], base, ct));
  LLVMValueRef arg = cg_var(s, s->t_i64, cg_i64(s, 0));
  cg_loop l = cg_for(s, cg_i64(s, 1), cg_i64(s, len));
  LLVMValueRef v = cg_load_as(s, dt, k->in[0], cg_add(s, base, cg_mulc(s, l.i, inner)), ct);
  LLVMValueRef b = cg_get(s, vt, best), better;
  if (ir_dtypes[ct].is_float) {
    LLVMRealPredicate pr = is_max ? (last ? LLVMRealOGE : LLVMRealOGT)
                                  : (last ? LLVMRealOLE : LLVMRealOLT);
    better = LLVMBuildFCmp(s->b, pr, v, b, "");
    /* a number replaces a NaN start */
    LLVMValueRef bnan = LLVMBuildFCmp(s->b, LLVMRealUNO, b, b, "");
    LLVMValueRef vnum = LLVMBuildFCmp(s->b, LLVMRealORD, v, v, "");
    better = LLVMBuildOr(s->b, better, LLVMBuildAnd(s->b, bnan, vnum, ""), "");
  } else {
    bool sg = ir_dtypes[ct].is_signed;
    LLVMIntPredicate pr = is_max ? (last ? (sg ? LLVMIntSGE : LLVMIntUGE) : (sg ? LLVMIntSGT : LLVMIntUGT))
                                 : (last ? (sg ? LLVMIntSLE : LLVMIntULE) : (sg ? LLVMIntSLT : LLVMIntULT));
    better = LLVMBuildICmp(s->b, pr, v, b, "");
  }
  cg_set(s, best, LLVMBuildSelect(s->b, better, v, b, ""));
  cg_set(s, arg, LLVMBuildSelect(s->b, better, l.i, cg_get(s, s->t_i64, arg), ""));
  cg_end(s, &l);
  cg_store(s, IR_I64, k->out[0], item.i, cg_get(s, s->t_i64, arg));
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
