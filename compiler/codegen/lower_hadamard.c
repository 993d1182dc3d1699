/*
 * lower_hadamard.c — the kiln op Hadamard: y = x * H_n / sqrt(n) over the
 * last axis (H_n as compiler/ir/hadamard.h defines it).
 *
 * The fuse-rotations pass puts this op where a rotation cannot be folded
 * into weights (before an MLP's down projection, QuaRot's online
 * rotation), so it runs on every token and must cost a few passes over the
 * row, not n^2 multiplies.  Each row (one parallel item) is transformed in
 * the output buffer:
 *
 *   1. the first four butterfly levels on each block of 16, as 16-lane
 *      vectors (a shuffle, an add, a subtract and a select per level),
 *      reading the input and writing the output; for p = 8 an 8-point
 *      transform per block of 8, below that a copy;
 *   2. the remaining levels three at a time (radix 8: 8 loads, 24
 *      add/subs, 8 stores per octet of 8-lane vectors), then one pass of
 *      radix 4 or 2 for what is left: one pass over the row per three
 *      levels instead of per two (n = 4096: 3 passes, not 4); the inner
 *      loops walk contiguous runs of at least 8 elements;
 *   3. for n = m * p with m > 1 (12, 20, ...), the dense m x m step down
 *      each of the p columns of the [m][p] view, as m sums of m signed
 *      terms in a fixed order, vectorised across columns.
 *
 * Then n log2(p) + n m adds and one multiply by 1/sqrt(n) per element (in
 * the last level, or in the dense step).  A row is never split between
 * threads and every sum's order is fixed here, so results are identical
 * for every thread count.
 */
#include <math.h>

#include "cg.h"
#include "hadamard.h"

static const ir_dtype float_types[] = {IR_F32, IR_F64, IR_UNDEFINED};

typedef struct {
  cg_state *s;
  ir_dtype dt;
  LLVMValueRef out;          /* the output buffer, transformed in place */
  LLVMValueRef row;          /* first element of the row */
  int64_t n;
} row_ctx;

static LLVMValueRef hadd(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(s->b, a, b, "");
}
static LLVMValueRef hsub(cg_state *s, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFSub(s->b, a, b, "");
}
static LLVMValueRef scaled(row_ctx *r, LLVMValueRef v, double scale) {
  return scale == 1.0 ? v : LLVMBuildFMul(r->s->b, v, cg_const(r->s, r->dt, scale), "");
}

/* Levels h = 1, 2, 4 on each block of 8, from `in` into the output. */
static void block8(row_ctx *r, LLVMValueRef in, double scale) {
  cg_state *s = r->s;
  cg_loop blk = cg_for_n(s, r->n / 8);
  LLVMValueRef at = cg_add(s, r->row, cg_mulc(s, blk.i, 8)), v[8];
  for (int i = 0; i < 8; i++) v[i] = cg_load(s, r->dt, in, cg_addc(s, at, i));
  for (int h = 1; h < 8; h *= 2)
    for (int g = 0; g < 8; g += 2 * h)
      for (int j = g; j < g + h; j++) {
        LLVMValueRef a = v[j], b = v[j + h];
        v[j] = hadd(s, a, b);
        v[j + h] = hsub(s, a, b);
      }
  for (int i = 0; i < 8; i++) cg_store(s, r->dt, r->out, cg_addc(s, at, i), scaled(r, v[i], scale));
  cg_end(s, &blk);
}

/* Levels h = 1, 2, 4, 8 on each block of 16, from `in` into the output,
 * as explicit 16-lane vectors: at level h, lane i pairs with lane i ^ h
 * (one shuffle) and keeps v + partner if bit h of i is clear, else
 * partner - v (one select).  LLVM legalises the width for the target. */
static void block16(row_ctx *r, LLVMValueRef in, double scale) {
  cg_state *s = r->s;
  LLVMTypeRef et = cg_val_type(s, r->dt), vt = LLVMVectorType(et, 16);
  cg_loop blk = cg_for_n(s, r->n / 16);
  LLVMValueRef at = cg_add(s, r->row, cg_mulc(s, blk.i, 16));
  LLVMValueRef v = LLVMBuildLoad2(s->b, vt, cg_gep(s, r->dt, in, at), "");
  LLVMSetAlignment(v, ir_dtypes[r->dt].bits / 8);
  for (int h = 1; h < 16; h *= 2) {
    LLVMValueRef mask[16], sel[16];
    for (int i = 0; i < 16; i++) {
      mask[i] = cg_i32(s, i ^ h);
      sel[i] = LLVMConstInt(s->t_i1, (i & h) != 0, 0);
    }
    LLVMValueRef p = LLVMBuildShuffleVector(s->b, v, LLVMGetUndef(vt), LLVMConstVector(mask, 16), "");
    v = LLVMBuildSelect(s->b, LLVMConstVector(sel, 16), hsub(s, p, v), hadd(s, v, p), "");
  }
  if (scale != 1.0) v = LLVMBuildFMul(s->b, v, cg_splat(s, cg_const(s, r->dt, scale), 16), "");
  LLVMValueRef st = LLVMBuildStore(s->b, v, cg_gep(s, r->dt, r->out, at));
  LLVMSetAlignment(st, ir_dtypes[r->dt].bits / 8);
  cg_end(s, &blk);
}

/* Loads (or stores) `lanes` elements at out[at]: a vector when lanes > 1. */
static LLVMValueRef vload(row_ctx *r, LLVMValueRef at, int lanes) {
  cg_state *s = r->s;
  if (lanes == 1) return cg_load(s, r->dt, r->out, at);
  LLVMValueRef v = LLVMBuildLoad2(s->b, LLVMVectorType(cg_val_type(s, r->dt), (unsigned)lanes),
                                  cg_gep(s, r->dt, r->out, at), "");
  LLVMSetAlignment(v, ir_dtypes[r->dt].bits / 8);
  return v;
}
static void vstore(row_ctx *r, LLVMValueRef at, LLVMValueRef v, int lanes) {
  cg_state *s = r->s;
  if (lanes == 1) {
    cg_store(s, r->dt, r->out, at, v);
    return;
  }
  LLVMSetAlignment(LLVMBuildStore(s->b, v, cg_gep(s, r->dt, r->out, at)), ir_dtypes[r->dt].bits / 8);
}

/* Levels h, 2h, ... (log2(radix) of them; radix 2, 4 or 8), in place on
 * the output: one pass over the row loads `radix` vectors h apart, does
 * the levels' butterflies in registers in ascending order and stores them.
 * For h a multiple of the lanes the inner loop moves explicit vectors
 * (the loop vectorizer would need run-time overlap checks between out[j]
 * and out[j + h]); radix 8 takes 8 lanes so its 8 vectors fit in AVX2's
 * 16 registers with room for the sums, radix 2 and 4 take 16. */
static void level(row_ctx *r, int64_t h, int radix, double scale) {
  cg_state *s = r->s;
  int want = radix == 8 ? 8 : 16;
  int lanes = h % want == 0 ? want : 1;
  cg_loop grp = cg_for_n(s, r->n / (radix * h));
  LLVMValueRef base = cg_add(s, r->row, cg_mulc(s, grp.i, radix * h));
  cg_loop j = cg_for_n(s, h / lanes);
  LLVMValueRef at = cg_add(s, base, cg_mulc(s, j.i, lanes)), v[8];
  for (int i = 0; i < radix; i++) v[i] = vload(r, cg_addc(s, at, i * h), lanes);
  for (int t = 1; t < radix; t *= 2)
    for (int i = 0; i < radix; i++)
      if (!(i & t)) {
        LLVMValueRef a = v[i], b = v[i + t];
        v[i] = hadd(s, a, b);
        v[i + t] = hsub(s, a, b);
      }
  for (int i = 0; i < radix; i++) {
    LLVMValueRef y = v[i];
    if (scale != 1.0)
      y = LLVMBuildFMul(s->b, y, lanes > 1 ? cg_splat(s, cg_const(s, r->dt, scale), (unsigned)lanes)
                                           : cg_const(s, r->dt, scale), "");
    vstore(r, cg_addc(s, at, i * h), y, lanes);
  }
  cg_end(s, &j);
  cg_end(s, &grp);
}

/* y[a][c] = scale * sum_b H_m[b][a] x[b][c] for every column c of [m][p]. */
static void dense(row_ctx *r, const ir_hadamard *hd, double scale) {
  cg_state *s = r->s;
  int m = hd->m;
  int64_t p = hd->p;
  LLVMValueRef *x = ir_arena_alloc(&s->arena, (size_t)m * sizeof *x);
  cg_loop c = cg_for_n(s, p);
  LLVMValueRef at = cg_add(s, r->row, c.i);
  for (int b = 0; b < m; b++) x[b] = cg_load(s, r->dt, r->out, cg_addc(s, at, b * p));
  for (int a = 0; a < m; a++) {
    LLVMValueRef acc = hd->h[a] > 0 ? x[0] : LLVMBuildFNeg(s->b, x[0], "");
    for (int b = 1; b < m; b++) acc = hd->h[b * m + a] > 0 ? hadd(s, acc, x[b]) : hsub(s, acc, x[b]);
    cg_store(s, r->dt, r->out, cg_addc(s, at, a * p), scaled(r, acc, scale));
  }
  cg_end(s, &c);
}

kiln_status lower_hadamard(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, float_types);
  if (st) return st;
  ir_value_id x = cg_in(s, n, 0);
  const ir_shape *xs = cg_shape(s, x);
  if (xs->rank < 1) return cg_unsupported(s, n, "needs an input of rank >= 1");
  int64_t len = xs->dims[xs->rank - 1];
  ir_hadamard *hd = ir_arena_alloc(&s->arena, sizeof *hd);
  if (!ir_hadamard_init(hd, len))
    return cg_unsupported(s, n, "no Hadamard matrix of size %lld", (long long)len);
  int64_t rows = len ? cg_numel(s, x) / len : 0;
  int levels = 0;
  while (((int64_t)1 << levels) < hd->p) levels++;
  double scale = 1.0 / sqrt((double)len);

  cg_kernel *k = cg_kernel_begin(s, n, rows, len * (levels + hd->m + 1));
  cg_loop item = cg_for(s, k->begin, k->end);
  ir_dtype dt = cg_dtype(s, x);
  row_ctx r = {.s = s, .dt = dt, .out = k->out[0], .row = cg_mulc(s, item.i, len), .n = len};
  /* the multiply by 1/sqrt(n) rides on the last butterfly level unless
   * the dense step follows */
  double last = hd->m == 1 ? scale : 1.0;
  int done = 0;
  if (hd->p >= 16) {
    block16(&r, k->in[0], levels == 4 ? last : 1.0);
    done = 4;
  } else if (hd->p >= 8) {
    block8(&r, k->in[0], levels == 3 ? last : 1.0);
    done = 3;
  } else {
    cg_memcpy(s, cg_gep(s, dt, k->out[0], r.row), cg_gep(s, dt, k->in[0], r.row),
              cg_i64(s, len * ir_dtypes[dt].bits / 8));
  }
  while (done < levels) {
    int take = levels - done >= 3 ? 3 : levels - done; /* levels in this pass */
    level(&r, (int64_t)1 << done, 1 << take, done + take == levels ? last : 1.0);
    done += take;
  }
  if (hd->m > 1) dense(&r, hd, scale);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
