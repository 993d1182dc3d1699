/*
 * lower_matmul.c — MatMul (numpy semantics: batched, broadcast batch dims,
 * 1-D operands) and Gemm (alpha * A' * B' + beta * C).
 *
 * Loop order i-k-j ("row times panel"): for each output row,
 *
 *     y[i, :] = 0
 *     for k:  a = A[i, k];  y[i, :] += a * B[k, :]
 *
 * The inner loop streams one row of B and the output row, both unit
 * stride, which LLVM vectorizes with fused multiply-adds; the output row
 * stays in L1 across k.  Each output element accumulates over k in order
 * in every configuration, so results never depend on the thread count.
 * Parallel items are output rows (batch * M).
 *
 * Gemm with transB (PyTorch's Linear) and a constant B gets B transposed
 * at compile time so the same loop applies; a non-constant transposed B
 * falls back to dot products along k.  Packed GEMM micro-kernels are the
 * job of later passes (IR_LAYOUT_PACKED).
 *
 * Other dtypes take the dot-product form with a private accumulator:
 * f16 and bf16 accumulate in f32 and round once per output element (an
 * output row used as the accumulator would round after every k);
 * integers wrap around in their own width, as numpy's matmul does.
 */
#include <string.h>

#include "cg.h"
#include "kernels/gemm.h"

static const ir_dtype mm_types[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_I32, IR_I64,
                                    IR_U32, IR_U64, IR_UNDEFINED};

/* y[yoff + j] = sum_k A(k) * B(k, j) for j < N with A(k) = a[aoff + k*astep]
 * and B(k, j) = b[boff + k*bk + j*bj], accumulated in dt's computation
 * type (f32 for halves): the form for every dtype but f32 and f64. */
static void dot_row(cg_state *s, ir_dtype dt, LLVMValueRef a, LLVMValueRef aoff, int64_t astep,
                    LLVMValueRef b, LLVMValueRef boff, int64_t bk, int64_t bj, LLVMValueRef y,
                    LLVMValueRef yoff, int64_t K, int64_t N) {
  ir_dtype ct = cg_compute_dtype(dt);
  LLVMTypeRef vt = cg_val_type(s, ct);
  cg_loop j = cg_for_n(s, N);
  LLVMValueRef acc = cg_var(s, vt, cg_const(s, ct, 0));
  cg_loop k = cg_for_n(s, K);
  LLVMValueRef av = cg_load_as(s, dt, a, cg_add(s, aoff, cg_mulc(s, k.i, astep)), ct);
  LLVMValueRef bv = cg_load_as(s, dt, b, cg_add(s, boff, cg_add(s, cg_mulc(s, k.i, bk), cg_mulc(s, j.i, bj))), ct);
  cg_set(s, acc, cg_arith_op(s, CG_ADD, ct, cg_get(s, vt, acc), cg_arith_op(s, CG_MUL, ct, av, bv)));
  cg_end(s, &k);
  cg_store(s, dt, y, cg_add(s, yoff, j.i), cg_cast(s, cg_get(s, vt, acc), ct, dt));
  cg_end(s, &j);
}

static bool wide_float(ir_dtype dt) { return dt == IR_F32 || dt == IR_F64; }

/* y[yoff + j] = 0 for j < N, then y[yoff + j] += A(k) * B[boff + k*N + j]
 * where A(k) = a[aoff + k*astep]. */
static void row_times_panel(cg_state *s, ir_dtype dt, LLVMValueRef a, LLVMValueRef aoff,
                            int64_t astep, LLVMValueRef b, LLVMValueRef boff, LLVMValueRef y,
                            LLVMValueRef yoff, int64_t K, int64_t N) {
  cg_loop j = cg_for_n(s, N);
  cg_store(s, dt, y, cg_add(s, yoff, j.i), cg_const(s, dt, 0));
  cg_end(s, &j);
  cg_loop k = cg_for_n(s, K);
  LLVMValueRef av = cg_load(s, dt, a, cg_add(s, aoff, cg_mulc(s, k.i, astep)));
  LLVMValueRef brow = cg_add(s, boff, cg_mulc(s, k.i, N));
  j = cg_for_n(s, N);
  LLVMValueRef yi = cg_add(s, yoff, j.i);
  LLVMValueRef acc = cg_fmuladd(s, av, cg_load(s, dt, b, cg_add(s, brow, j.i)), cg_load(s, dt, y, yi));
  cg_store(s, dt, y, yi, acc);
  cg_end(s, &j);
  cg_end(s, &k);
}

kiln_status lower_matmul(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, mm_types);
  if (st) return st;
  ir_value_id a = cg_in(s, n, 0), b = cg_in(s, n, 1), y = cg_out(s, n, 0);
  const ir_shape *as = cg_shape(s, a), *bs = cg_shape(s, b);
  if (as->rank < 1 || bs->rank < 1) return cg_unsupported(s, n, "MatMul of a scalar");
  ir_dtype dt = cg_dtype(s, y);
  /* 1-D operands: A [K] is [1, K]; B [K] is [K, 1]; neither has batch dims */
  int64_t M = as->rank >= 2 ? as->dims[as->rank - 2] : 1;
  int64_t K = as->dims[as->rank - 1];
  int64_t N = bs->rank >= 2 ? bs->dims[bs->rank - 1] : 1;
  if ((bs->rank >= 2 ? bs->dims[bs->rank - 2] : bs->dims[0]) != K)
    return cg_unsupported(s, n, "inner dims differ");
  ir_shape ab = {.rank = as->rank >= 2 ? as->rank - 2 : 0};
  ir_shape bb = {.rank = bs->rank >= 2 ? bs->rank - 2 : 0};
  memcpy(ab.dims, as->dims, sizeof(int64_t) * (size_t)ab.rank);
  memcpy(bb.dims, bs->dims, sizeof(int64_t) * (size_t)bb.rank);
  ir_shape batch = {.rank = ab.rank > bb.rank ? ab.rank : bb.rank};
  for (int d = 0; d < batch.rank; d++) {
    int da = d - (batch.rank - ab.rank), db = d - (batch.rank - bb.rank);
    int64_t x = da >= 0 ? ab.dims[da] : 1, z = db >= 0 ? bb.dims[db] : 1;
    batch.dims[d] = x == 1 ? z : x;
  }
  int64_t astr[KILN_MAX_RANK], bstr[KILN_MAX_RANK];
  cg_broadcast_strides(&batch, &ab, astr);
  cg_broadcast_strides(&batch, &bb, bstr);
  int64_t nbatch = ir_shape_numel(&batch);
  if (nbatch * M * N != cg_numel(s, y)) return cg_unsupported(s, n, "output shape mismatch");

  cg_gemm_shape gsh;
  if (cg_gemm_shape_of(s->g, n, &gsh, NULL)) {
    /* the kernel layer: A in place, B packed at compile time when constant */
    cg_gemm g;
    cg_gemm_init(&g);
    g.M = M, g.N = N, g.K = K, g.name = s->g->values[b].name;
    g.batch_rank = batch.rank;
    memcpy(g.batch_dims, batch.dims, sizeof(int64_t) * (size_t)batch.rank);
    int64_t cstr[KILN_MAX_RANK];
    cg_strides(&batch, cstr);
    for (int d = 0; d < batch.rank; d++) {
      g.a_bstr[d] = astr[d] * M * K;
      g.c_bstr[d] = cstr[d] * M * N;
    }
    g.a_kind = CG_OPND_STRIDED, g.a_in = 0, g.a_rs = K, g.a_cs = 1;
    const float *bdata = ir_const_data(s->g, b);
    if (bdata) {
      g.b_kind = CG_OPND_PANELS, g.b_data = bdata, g.b_data_rs = N, g.b_data_cs = 1;
      g.b_packed = s->g->values[b].layout.kind == IR_LAYOUT_PACKED;
      g.b_data_batches = ir_shape_numel(&bb);
      memcpy(g.b_bstr, bstr, sizeof bstr);
      /* reorder-layout's cost model chose the sparse form (docs/sparsity.md) */
      g.b_skip_zero_rows = ir_attr_int_or(s->g, n, "sparse", 0) != 0;
      g.b_nm_group = (int)ir_attr_int_or(s->g, n, "sparse_nm", 0);
    } else {
      g.b_kind = CG_OPND_STRIDED, g.b_in = 1, g.b_rs = N;
      for (int d = 0; d < batch.rank; d++) g.b_bstr[d] = bstr[d] * K * N;
    }
    g.c_out = 0, g.ldc = N;
    if (s->g->nodes[n].op == IR_OP_FUSED_MAT_MUL) {
      kiln_status fs = cg_fused_epilogue(s, n, &g);
      if (fs) return fs;
    }
    cg_schedule sc;
    cg_schedule_for(s, n, &gsh, &sc);
    const ir_layout *bl = &s->g->values[b].layout;
    if (g.b_packed && (bl->block != sc.nr || bl->block2 != 1))
      return cg_unsupported(s, n, "weights packed in panels of %d but the schedule's nr is %d",
                            bl->block, sc.nr);
    return cg_gemm_emit(s, n, &g, &sc);
  }
  if (s->g->nodes[n].op != IR_OP_MAT_MUL) return cg_unsupported(s, n, "fused MatMul of this dtype or shape");

  cg_kernel *k = cg_kernel_begin(s, n, nbatch * M, K * N);
  cg_loop row = cg_for(s, k->begin, k->end);
  LLVMValueRef bi = cg_divc(s, row.i, M), m = cg_remc(s, row.i, M);
  LLVMValueRef idx[KILN_MAX_RANK];
  cg_unravel(s, bi, batch.rank, batch.dims, idx);
  LLVMValueRef aoff = cg_add(s, cg_mulc(s, cg_dot_strides(s, batch.rank, idx, astr), M * K),
                             cg_mulc(s, m, K));
  LLVMValueRef boff = cg_mulc(s, cg_dot_strides(s, batch.rank, idx, bstr), K * N);
  if (wide_float(dt))
    row_times_panel(s, dt, k->in[0], aoff, 1, k->in[1], boff, k->out[0], cg_mulc(s, row.i, N), K, N);
  else
    dot_row(s, dt, k->in[0], aoff, 1, k->in[1], boff, N, 1, k->out[0], cg_mulc(s, row.i, N), K, N);
  cg_end(s, &row);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* B [N, K] as a constant [K, N] global, or NULL if B is not constant. */
static LLVMValueRef transposed_const(cg_state *s, ir_value_id b, int64_t N, int64_t K) {
  const void *data = ir_const_data(s->g, b);
  if (!data) return NULL;
  int64_t es = ir_dtype_bytes(cg_dtype(s, b), 1);
  char *t = ir_arena_alloc(&s->arena, (size_t)(N * K * es) + 1);
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < K; j++)
      memcpy(t + (j * N + i) * es, (const char *)data + (i * K + j) * es, (size_t)es);
  char name[96];
  snprintf(name, sizeof name, "const.%s.T", s->g->values[b].name);
  return cg_const_global(s, name, t, N * K * es);
}

kiln_status lower_gemm(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, mm_types);
  if (st) return st;
  ir_value_id a = cg_in(s, n, 0), b = cg_in(s, n, 1), c = cg_in(s, n, 2), y = cg_out(s, n, 0);
  const ir_shape *as = cg_shape(s, a), *bs = cg_shape(s, b), *ys = cg_shape(s, y);
  if (as->rank != 2 || bs->rank != 2 || ys->rank != 2)
    return cg_unsupported(s, n, "Gemm needs 2-D A, B and Y");
  bool ta = ir_attr_int_or(s->g, n, "transA", 0), tb = ir_attr_int_or(s->g, n, "transB", 0);
  double alpha = ir_attr_float_or(s->g, n, "alpha", 1), beta = ir_attr_float_or(s->g, n, "beta", 1);
  int64_t M = ys->dims[0], N = ys->dims[1], K = as->dims[ta ? 0 : 1];
  ir_dtype dt = cg_dtype(s, y);
  int64_t cstr[KILN_MAX_RANK] = {0};
  bool use_c = c >= 0 && beta != 0;
  if (use_c) {
    if (cg_shape(s, c)->rank > 2) return cg_unsupported(s, n, "C of rank > 2");
    cg_broadcast_strides(ys, cg_shape(s, c), cstr);
  }
  bool wide = wide_float(dt);
  ir_dtype ct = cg_compute_dtype(dt);
  if (!ir_dtypes[dt].is_float && (alpha != (double)(int64_t)alpha || beta != (double)(int64_t)beta))
    return cg_unsupported(s, n, "integer Gemm with a fractional alpha or beta");
  const float *bconst = ir_const_data(s->g, b);
  const void *cconst = use_c ? ir_const_data(s->g, c) : NULL;
  int64_t cn = use_c ? cg_numel(s, c) : 0;
  /* C as a per-column bias (constant [N], [1,N] or a scalar) or, with
   * beta 1, as a residual of Y's shape */
  bool c_bias = use_c && cconst && cg_dtype(s, c) == IR_F32 && (cn == 1 || (cn == N && cstr[1] == 1 && cstr[0] == 0));
  bool c_resid = use_c && !c_bias && beta == 1 && cn == M * N && cstr[0] == N && cstr[1] == 1;
  if (dt == IR_F32 && bconst && N >= 8 && M > 0 && K > 0 && (!use_c || c_bias || c_resid)) {
    cg_gemm g;
    cg_gemm_init(&g);
    g.M = M, g.N = N, g.K = K, g.name = s->g->values[b].name;
    g.a_kind = CG_OPND_STRIDED, g.a_in = 0, g.a_rs = ta ? 1 : K, g.a_cs = ta ? M : 1;
    const float *bd = bconst;
    if (alpha != 1) { /* folded into the packed weights */
      float *sb = ir_arena_alloc(&s->arena, (size_t)(K * N) * sizeof *sb);
      for (int64_t i = 0; i < K * N; i++) sb[i] = (float)(alpha * bconst[i]);
      bd = sb;
    }
    g.b_kind = CG_OPND_PANELS, g.b_data = bd, g.b_data_batches = 1;
    g.b_data_rs = tb ? 1 : N, g.b_data_cs = tb ? K : 1;
    g.c_out = 0, g.ldc = N;
    if (c_bias) {
      float *bias = ir_arena_alloc(&s->arena, (size_t)N * sizeof *bias);
      for (int64_t j = 0; j < N; j++) bias[j] = (float)(beta * ((const float *)cconst)[cn == 1 ? 0 : j]);
      g.bias_data = bias;
    } else if (c_resid) {
      g.resid_in = 2;
    }
    cg_gemm_shape sh = {.M = M, .N = N, .K = K, .batch = 1};
    cg_schedule sc;
    cg_schedule_for(s, n, &sh, &sc);
    return cg_gemm_emit(s, n, &g, &sc);
  }
  LLVMValueRef bt = tb && wide ? transposed_const(s, b, N, K) : NULL;

  cg_kernel *k = cg_kernel_begin(s, n, M, K * N);
  LLVMValueRef bp = bt ? bt : k->in[1];
  cg_loop m = cg_for(s, k->begin, k->end);
  LLVMValueRef yoff = cg_mulc(s, m.i, N);
  /* A'(m, k) = A[m*K + k], or A[k*M + m] when transposed */
  LLVMValueRef aoff = ta ? m.i : cg_mulc(s, m.i, K);
  int64_t astep = ta ? M : 1;
  if (!wide) {
    dot_row(s, dt, k->in[0], aoff, astep, bp, cg_i64(s, 0), tb ? 1 : N, tb ? K : 1, k->out[0], yoff,
            K, N);
  } else if (!tb || bt) {
    row_times_panel(s, dt, k->in[0], aoff, astep, bp, cg_i64(s, 0), k->out[0], yoff, K, N);
  } else {
    /* B [N, K] only known at run time: one dot product per element */
    cg_loop j = cg_for_n(s, N);
    LLVMValueRef acc = cg_var(s, cg_val_type(s, dt), cg_const(s, dt, 0));
    cg_loop kk = cg_for_n(s, K);
    LLVMValueRef av = cg_load(s, dt, k->in[0], cg_add(s, aoff, cg_mulc(s, kk.i, astep)));
    LLVMValueRef bv = cg_load(s, dt, bp, cg_add(s, cg_mulc(s, j.i, K), kk.i));
    cg_set(s, acc, cg_fmuladd(s, av, bv, cg_get(s, cg_val_type(s, dt), acc)));
    cg_end(s, &kk);
    cg_store(s, dt, k->out[0], cg_add(s, yoff, j.i), cg_get(s, cg_val_type(s, dt), acc));
    cg_end(s, &j);
  }
  if (alpha != 1 || use_c) { /* y = alpha * y + beta * C */
    cg_loop j = cg_for_n(s, N);
    LLVMValueRef yi = cg_add(s, yoff, j.i);
    LLVMValueRef v = cg_load_as(s, dt, k->out[0], yi, ct);
    if (alpha != 1) v = cg_arith_op(s, CG_MUL, ct, v, cg_const(s, ct, alpha));
    if (use_c) {
      LLVMValueRef ci = cg_add(s, cg_mulc(s, m.i, cstr[0]), cg_mulc(s, j.i, cstr[1]));
      LLVMValueRef cv = cg_load_as(s, cg_dtype(s, c), k->in[2], ci, ct);
      if (beta != 1) cv = cg_arith_op(s, CG_MUL, ct, cv, cg_const(s, ct, beta));
      v = cg_arith_op(s, CG_ADD, ct, v, cv);
    }
    cg_store(s, dt, k->out[0], yi, cg_cast(s, v, ct, dt));
    cg_end(s, &j);
  }
  cg_end(s, &m);
  cg_kernel_end(s, k);
  return KILN_OK;
}
