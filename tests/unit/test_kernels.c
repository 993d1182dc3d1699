/*
 * test_kernels.c — the kernel layer (compiler/codegen/kernels/) against C
 * references: shapes chosen to hit every edge the generators special-case
 * (partial vectors, odd strides, asymmetric padding, dilation, 1-d), each
 * run at 1 and 3 threads, which must agree bit for bit.
 */
#include "cgtest.h"
#include "kernels/conv_nchwc.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"
#include "passes.h"

static void run_threads(kiln_ctx *ctx, ir_graph *g, const void *const *in, float *out, size_t bytes) {
  cg_jit *j = ct_jit(ctx, g);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, (void *[]){out}, 1), KILN_OK);
  float *again = malloc(bytes);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, (void *[]){again}, 3), KILN_OK);
  ck_assert_msg(!memcmp(out, again, bytes), "output differs between 1 and 3 threads");
  free(again);
  cg_jit_free(j);
}

/* ---- depthwise convolution -------------------------------------------------------- */
typedef struct dw_case {
  int N, C, H, W, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr;
  bool bias, fused; /* fused: FusedConv with a residual and Clip(0, 6) */
} dw_case;

static void check_depthwise(const dw_case *t) {
  bool one_d = t->H == 0;
  int H = one_d ? 1 : t->H, KH = one_d ? 1 : t->KH;
  int OH = (H + t->pt + t->pb - (t->dh * (KH - 1) + 1)) / t->sh + 1;
  int OW = (t->W + t->pl + t->pr - (t->dw * (t->KW - 1) + 1)) / t->sw + 1;
  int64_t nx = (int64_t)t->N * t->C * H * t->W, ny = (int64_t)t->N * t->C * OH * OW;
  float *X = malloc(sizeof(float) * nx), *Wt = malloc(sizeof(float) * t->C * KH * t->KW);
  float *B = malloc(sizeof(float) * t->C), *R = malloc(sizeof(float) * ny), *Y = malloc(sizeof(float) * ny);
  double *want = calloc((size_t)ny, sizeof(double));
  ct_fill(X, nx, 1, -1, 1);
  ct_fill(Wt, t->C * KH * t->KW, 2, -1, 1);
  ct_fill(B, t->C, 3, -1, 1);
  ct_fill(R, ny, 4, -2, 2);

  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "dw");
  ir_shape xs = one_d ? SHAPE(t->N, t->C, t->W) : SHAPE(t->N, t->C, H, t->W);
  ir_shape ws = one_d ? SHAPE(t->C, 1, t->KW) : SHAPE(t->C, 1, KH, t->KW);
  ir_shape ys = one_d ? SHAPE(t->N, t->C, OW) : SHAPE(t->N, t->C, OH, OW);
  ir_shape bs = SHAPE(t->C);
  ir_value_id x = ct_val(g, "x", IR_F32, xs), y = ct_val(g, "y", IR_F32, ys);
  ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, Wt, sizeof(float) * t->C * KH * t->KW, false);
  ir_value_id b = t->bias ? ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * t->C, false) : IR_NONE;
  ir_value_id r = t->fused ? ct_val(g, "r", IR_F32, ys) : IR_NONE;
  ir_value_id ins[4] = {x, w, b, r};
  ir_node_id n = ct_node(g, t->fused ? IR_OP_FUSED_CONV : IR_OP_CONV, t->fused ? 4 : t->bias ? 3 : 2, ins, y);
  ir_set_attr_int(g, n, "group", t->C);
  if (one_d) {
    ir_set_attr_ints(g, n, "strides", (int64_t[]){t->sw}, 1);
    ir_set_attr_ints(g, n, "dilations", (int64_t[]){t->dw}, 1);
    ir_set_attr_ints(g, n, "pads", (int64_t[]){t->pl, t->pr}, 2);
  } else {
    ir_set_attr_ints(g, n, "strides", (int64_t[]){t->sh, t->sw}, 2);
    ir_set_attr_ints(g, n, "dilations", (int64_t[]){t->dh, t->dw}, 2);
    ir_set_attr_ints(g, n, "pads", (int64_t[]){t->pt, t->pl, t->pb, t->pr}, 4);
  }
  if (t->fused) {
    ir_set_attr_string(g, n, "activation", "Clip");
    ir_set_attr_float(g, n, "min", 0);
    ir_set_attr_float(g, n, "max", 6);
  }
  ck_assert_msg(cg_depthwise_of(g, n), "the depthwise kernel takes this case");
  ir_value_id gin[2] = {x, r};
  ct_io(g, t->fused ? 2 : 1, gin, 1, &y);
  run_threads(&ctx, g, (const void *[]){X, R}, Y, sizeof(float) * ny);

  for (int nn = 0; nn < t->N; nn++)
    for (int c = 0; c < t->C; c++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double acc = 0;
          for (int a = 0; a < KH; a++)
            for (int e = 0; e < t->KW; e++) {
              int ih = oh * t->sh - t->pt + a * t->dh, iw = ow * t->sw - t->pl + e * t->dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= t->W) continue;
              acc += (double)X[((nn * t->C + c) * H + ih) * t->W + iw] * Wt[(c * KH + a) * t->KW + e];
            }
          int64_t o = ((int64_t)(nn * t->C + c) * OH + oh) * OW + ow;
          if (t->bias) acc += B[c];
          if (t->fused) acc = fmin(6, fmax(0, acc + R[o]));
          want[o] = acc;
        }
  ct_close(Y, want, ny, 1e-5, "depthwise");
  free(X), free(Wt), free(B), free(R), free(Y), free(want);
  ir_graph_free(g);
}

START_TEST(depthwise_strides_pads_dilations) {
  static const dw_case cases[] = {
      /* N C  H  W  KH KW sh sw dh dw pt pl pb pr bias fused */
      {1, 3, 13, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, false},   /* MobileNet 3x3, row of 2+ vectors and a tail */
      {2, 5, 14, 33, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, false, false},  /* stride 2, asymmetric pads */
      {1, 4, 9, 20, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, true, true},     /* 5x5, fused Clip + residual */
      {1, 2, 11, 71, 3, 3, 3, 3, 2, 2, 1, 1, 0, 3, true, false},   /* stride 3, dilation 2 */
      {1, 20, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, true},     /* more planes than slots, one partial vector */
      {1, 3, 0, 45, 0, 5, 1, 2, 1, 1, 0, 2, 0, 2, true, false},    /* 1-d */
      {1, 2, 6, 130, 1, 7, 1, 1, 1, 3, 0, 9, 0, 9, false, true},   /* a wide row: groups of vectors */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_depthwise(&cases[i]);
}
END_TEST

/* ---- GEMM with zero panel rows skipped (sparse weights) ----------------------------- */
/* y = FusedMatMul(x [M, K], W [K, N], bias) + residual, Relu, built twice:
 * dense, and with the integer attribute `attr` = value (a sparse form);
 * the sparse one must equal the dense kernel bit for bit (it leaves out
 * only products with a zero weight) and a C reference within 1e-5, each
 * at 1 and 3 threads (run_threads). */
/* x [M, K], W [K, N], bias [N] and residual [M, N], uniform in [-1, 1]
 * from seeds seed .. seed + 3. */
static void fused_inputs(int M, int K, int N, uint32_t seed, float **X, float **W, float **B, float **R) {
  *X = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * K * N);
  *B = malloc(sizeof(float) * N), *R = malloc(sizeof(float) * M * N);
  ct_fill(*X, (int64_t)M * K, seed, -1, 1);
  ct_fill(*W, (int64_t)K * N, seed + 1, -1, 1);
  ct_fill(*B, N, seed + 2, -1, 1);
  ct_fill(*R, (int64_t)M * N, seed + 3, -1, 1);
}

static void check_fused_pair(int M, int K, int N, const float *X, const float *W, const float *B,
                             const float *R, const char *attr, int value, const char *sched,
                             const char *what) {
  float *Y[2] = {malloc(sizeof(float) * M * N), malloc(sizeof(float) * M * N)};
  double *want = calloc((size_t)M * N, sizeof(double));
  for (int variant = 0; variant < 2; variant++) {
    kiln_ctx ctx;
    tu_ctx(&ctx);
    ir_graph *g = ir_graph_new(&ctx, "sg");
    ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(M, K)), y = ct_val(g, "y", IR_F32, SHAPE(M, N));
    ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(M, N));
    ir_shape ws = SHAPE(K, N), bs = SHAPE(N);
    ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, W, sizeof(float) * K * N, false);
    ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * N, false);
    ir_node_id n = ct_node(g, IR_OP_FUSED_MAT_MUL, 4, (ir_value_id[]){x, w, b, r}, y);
    ir_set_attr_string(g, n, "activation", "Relu");
    if (sched) ir_set_attr_string(g, n, "schedule", sched);
    if (variant) ir_set_attr_int(g, n, attr, value);
    ct_io(g, 2, (ir_value_id[]){x, r}, 1, &y);
    run_threads(&ctx, g, (const void *[]){X, R}, Y[variant], sizeof(float) * M * N);
    ir_graph_free(g);
  }
  ck_assert_msg(!memcmp(Y[0], Y[1], sizeof(float) * M * N), "%s: the sparse and dense kernels differ", what);
  for (int m = 0; m < M; m++)
    for (int c = 0; c < N; c++) {
      double acc = R[m * N + c] + B[c];
      for (int k = 0; k < K; k++) acc += (double)X[m * K + k] * W[k * N + c];
      want[m * N + c] = fmax(0, acc);
    }
  ct_close(Y[1], want, (int64_t)M * N, 1e-5, what);
  free(Y[0]), free(Y[1]), free(want);
}

/* y = FusedMatMul(x [M, K], W [K, N], bias) + residual, Relu; W zero in
 * 1 x `blk` blocks except every `keep`-th, and in whole rows.  The sparse
 * form (attribute sparse = 1, schedule `sched` or the default) must equal
 * the dense kernel bit for bit (it leaves out only products with a zero
 * weight) and a C reference within 1e-5, at 1 and 3 threads. */
static void check_sparse_gemm(int M, int K, int N, int blk, int keep, const char *sched) {
  float *X, *W, *B, *R;
  fused_inputs(M, K, N, 11, &X, &W, &B, &R);
  int64_t nblk = 0;
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j += blk, nblk++)
      if (nblk % keep || k % 7 == 3)
        for (int c = j; c < j + blk && c < N; c++) W[k * N + c] = 0;
  check_fused_pair(M, K, N, X, W, B, R, "sparse", 1, sched, "sparse gemm");
  free(X), free(W), free(B), free(R);
}

/* A 1x1 convolution (W [M, C] is A) with zero runs of 8 output channels
 * at one input channel skipped: equal to the dense kernel bit for bit and
 * to a C reference within 1e-5, at 1 and 3 threads. */
static void check_sparse_conv1x1(int N, int M, int C, int H, int W, int keep) {
  int64_t nx = (int64_t)N * C * H * W, ny = (int64_t)N * M * H * W;
  float *X = malloc(sizeof(float) * nx), *Wt = malloc(sizeof(float) * M * C);
  float *B = malloc(sizeof(float) * M), *Y[2] = {malloc(sizeof(float) * ny), malloc(sizeof(float) * ny)};
  double *want = calloc((size_t)ny, sizeof(double));
  ct_fill(X, nx, 21, -1, 1);
  ct_fill(Wt, M * C, 22, -1, 1);
  ct_fill(B, M, 23, -1, 1);
  int64_t run = 0;
  for (int m0 = 0; m0 < M; m0 += 8)
    for (int c = 0; c < C; c++, run++)
      if (run % keep)
        for (int m = m0; m < m0 + 8 && m < M; m++) Wt[m * C + c] = 0;
  for (int variant = 0; variant < 2; variant++) {
    kiln_ctx ctx;
    tu_ctx(&ctx);
    ir_graph *g = ir_graph_new(&ctx, "sc");
    ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), y = ct_val(g, "y", IR_F32, SHAPE(N, M, H, W));
    ir_shape ws = SHAPE(M, C, 1, 1), bs = SHAPE(M);
    ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, Wt, sizeof(float) * M * C, false);
    ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * M, false);
    ir_node_id n = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w, b}, y);
    ir_set_attr_string(g, n, "activation", "Relu");
    if (variant) ir_set_attr_int(g, n, "sparse", 1);
    ct_io(g, 1, &x, 1, &y);
    run_threads(&ctx, g, (const void *[]){X}, Y[variant], sizeof(float) * ny);
    ir_graph_free(g);
  }
  ck_assert_msg(!memcmp(Y[0], Y[1], sizeof(float) * ny), "sparse and dense 1x1 convolutions differ");
  for (int nn = 0; nn < N; nn++)
    for (int m = 0; m < M; m++)
      for (int p = 0; p < H * W; p++) {
        double acc = B[m];
        for (int c = 0; c < C; c++) acc += (double)X[((int64_t)nn * C + c) * H * W + p] * Wt[m * C + c];
        want[((int64_t)nn * M + m) * H * W + p] = fmax(0, acc);
      }
  ct_close(Y[1], want, ny, 1e-5, "sparse conv1x1");
  free(X), free(Wt), free(B), free(Y[0]), free(Y[1]), free(want);
}

START_TEST(sparse_conv1x1_skips_zero_runs) {
  check_sparse_conv1x1(2, 20, 24, 5, 7, 4);   /* M past a whole mr, a partial pixel vector */
  check_sparse_conv1x1(1, 32, 300, 6, 6, 5);  /* K over several kc blocks */
}
END_TEST

START_TEST(sparse_gemm_skips_zero_rows) {
  /* partial last panel, K over several kc blocks, M not a multiple of mr */
  check_sparse_gemm(37, 100, 70, 4, 5, "mr=4 nr=8 kc=32 mc=8 nc=16 lanes=4 unroll=1 par=mn");
  check_sparse_gemm(19, 64, 48, 8, 10, NULL);  /* the host's default schedule */
  check_sparse_gemm(5, 33, 16, 16, 3, NULL);   /* one panel; whole blocks of 16 */
}
END_TEST

/* ---- the N:M form (b_nm_group) ------------------------------------------------------ */
/* y = Relu(FusedMatMul(x [M, K], W [K, N], bias) + residual) with W pruned
 * to n:m down K (the n largest of each group of m per column; some groups
 * left with fewer, or none, so that unused slots are exercised).  The N:M
 * form (attribute sparse_nm = m, schedule `sched` or the default) must
 * equal the dense kernel bit for bit (it sums the same nonzero products in
 * the same order) and a C reference within 1e-5, at 1 and 3 threads.  On a
 * host without AVX-512 the lowering keeps the dense kernel, and the
 * comparison holds trivially: the test says so. */
static void check_nm_gemm(int M, int K, int N, int nkeep, int m, const char *sched) {
  float *X, *W, *B, *R;
  fused_inputs(M, K, N, 21, &X, &W, &B, &R);
  for (int k0 = 0; k0 < K; k0 += m)
    for (int c = 0; c < N; c++) {
      /* keep the nkeep largest |w| of the group (fewer in every 5th, none in every 11th) */
      int keep = (k0 / m + c) % 11 == 0 ? 0 : (k0 / m + c) % 5 == 0 ? nkeep - 1 : nkeep;
      for (int drop = m - keep; drop > 0; drop--) {
        int lo = -1;
        for (int k = k0; k < k0 + m; k++)
          if (W[k * N + c] != 0 && (lo < 0 || fabsf(W[k * N + c]) < fabsf(W[lo * N + c]))) lo = k;
        W[lo * N + c] = 0;
      }
    }
  kiln_ctx tctx;
  tu_ctx(&tctx);
  cg_target tg;
  ck_assert_int_eq(cg_target_init(&tctx, &tg, "host", NULL, 2), KILN_OK);
  if (!cg_sparse_nm_target(&tg)) fprintf(stderr, "nm gemm: NOT RUN: the host has no AVX-512, dense kernel only\n");
  cg_target_dispose(&tg);
  check_fused_pair(M, K, N, X, W, B, R, "sparse_nm", m, sched, "nm gemm");
  free(X), free(W), free(B), free(R);
}

START_TEST(sparse_nm_gemm) {
  /* M not a multiple of mr, a partial last panel, K blocks 64, 64, 64, 8 */
  check_nm_gemm(37, 200, 70, 2, 4, "mr=6 nr=16 kc=64 mc=12 nc=32 lanes=16 unroll=1 par=mn");
  /* 4:8 with panels two vectors wide (the second partial), K blocks 40, 40, 16 */
  check_nm_gemm(19, 96, 48, 4, 8, "mr=4 nr=32 kc=40 mc=8 nc=64 lanes=16 unroll=1 par=mn");
  check_nm_gemm(5, 64, 40, 1, 4, NULL); /* 1:4, the host's default schedule */
}
END_TEST

/* The cost model's side: cg_sparse_nm_density reads the slots per group
 * from the weight (not the fact's N), and only 1:4-sparse weights are
 * under CG_SPARSE_NM_MAX_DENSITY (2:4 and 4:8 keep the dense kernel). */
START_TEST(sparse_nm_density) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  enum { K = 16, N = 16 };
  float W[K * N];
  for (int pass = 0; pass < 3; pass++) {
    int keep = pass == 0 ? 1 : pass == 1 ? 2 : 4, m = pass == 2 ? 8 : 4;
    for (int k = 0; k < K; k++)
      for (int c = 0; c < N; c++) W[k * N + c] = (k + c) % m < keep ? 1.0f + (float)k : 0;
    ir_graph *g = ir_graph_new(&ctx, "nmd");
    ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(4, K)), y = ct_val(g, "y", IR_F32, SHAPE(4, N));
    ir_shape ws = SHAPE(K, N);
    ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, W, sizeof W, false);
    g->values[w].sparsity = (ir_sparsity){.kind = IR_SPARSE_NM, .n = pass == 2 ? 4 : 2, .m = m};
    ir_node_id n = ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){x, w}, y);
    int group = 0, slots = 0;
    double d = cg_sparse_nm_density(g, n, 16, &group, &slots);
    ck_assert_int_eq(group, m);
    ck_assert_int_eq(slots, keep);
    ck_assert(fabs(d - (double)keep / m) < 1e-12);
    ck_assert_int_eq(d <= CG_SPARSE_NM_MAX_DENSITY, pass == 0);
    g->values[w].sparsity.kind = IR_SPARSE_CSR; /* no N:M fact: the form does not apply */
    ck_assert(cg_sparse_nm_density(g, n, 16, &group, &slots) < 0);
    ir_graph_free(g);
  }
}
END_TEST

/* ---- direct convolution on blocked activations ------------------------------------- */
/* Two convolutions in a chain, as reorder-layout plans them:
 *   t = Relu(conv1(x) + b1)          x plain -> t blocked (the chain's start)
 *   y = Relu(conv2(t) + b2 + t)      t blocked, residual t blocked -> y plain (its end)
 * conv1 has the case's window (strides, pads, dilation), conv2 is 3x3,
 * stride 1, padding 1 (at least 2 vectors of channels, so that the plan
 * blocks t: see cg_nchwc_plan).  `sched2` (conv=direct fields, lanes taken from
 * the plan) overrides conv2's schedule: several K blocks, a tall or short
 * tile, unrolled channel loop, one item.  Checked against a C reference
 * within 1e-5, 1 vs 3 threads bit for bit. */
typedef struct nchwc_case {
  int N, Cb, Mb, H, W, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr; /* Cb, Mb: channels in vectors */
  int mr, kcb, unroll, mc; /* conv2's schedule: 0 keeps the default field (mr -1: expect mr = lanes) */
} nchwc_case;

static void ref_conv(const float *x, const float *w, const float *b, const float *res, double *y,
                     int N, int C, int M, int H, int W, int KH, int KW, int sh, int sw, int dh, int dw,
                     int pt, int pl, int OH, int OW) {
  for (int nn = 0; nn < N; nn++)
    for (int m = 0; m < M; m++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double acc = b[m];
          for (int c = 0; c < C; c++)
            for (int a = 0; a < KH; a++)
              for (int e = 0; e < KW; e++) {
                int ih = oh * sh - pt + a * dh, iw = ow * sw - pl + e * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += (double)x[(((int64_t)nn * C + c) * H + ih) * W + iw] * w[((m * C + c) * KH + a) * KW + e];
              }
          int64_t o = (((int64_t)nn * M + m) * OH + oh) * OW + ow;
          if (res) acc += res[o];
          y[o] = fmax(0, acc);
        }
}

/* The host's f32 lanes for the blocked layout, 0 when it has no vector
 * registers (then the blocked tests say plainly that they did not run). */
static int host_lanes(kiln_ctx *ctx, const char *what) {
  cg_target tg;
  ck_assert_int_eq(cg_target_init(ctx, &tg, "host", NULL, 2), KILN_OK);
  int L = tg.vector_bits >= 128 ? tg.vector_bits / 32 : 0;
  cg_target_dispose(&tg);
  if (!L) fprintf(stderr, "%s: NOT RUN: the host has no vector registers, no blocked layout\n", what);
  return L;
}

static void check_nchwc(const nchwc_case *t) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt = ct_options();
  int L = host_lanes(&ctx, "nchwc");
  if (!L) return;
  int C = t->Cb * L, M = t->Mb * L;
  int OH = (t->H + t->pt + t->pb - (t->dh * (t->KH - 1) + 1)) / t->sh + 1;
  int OW = (t->W + t->pl + t->pr - (t->dw * (t->KW - 1) + 1)) / t->sw + 1;
  int64_t nx = (int64_t)t->N * C * t->H * t->W, ny = (int64_t)t->N * M * OH * OW;
  int64_t nw1 = (int64_t)M * C * t->KH * t->KW, nw2 = (int64_t)M * M * 9;
  float *X = malloc(sizeof(float) * nx), *W1 = malloc(sizeof(float) * nw1), *W2 = malloc(sizeof(float) * nw2);
  float *B1 = malloc(sizeof(float) * M), *B2 = malloc(sizeof(float) * M), *Y = malloc(sizeof(float) * ny);
  double *tref = malloc(sizeof(double) * ny), *want = malloc(sizeof(double) * ny);
  float *T = calloc((size_t)ny, sizeof(float));
  ct_fill(X, nx, 31, -1, 1);
  ct_fill(W1, nw1, 32, -0.3f, 0.3f);
  ct_fill(W2, nw2, 33, -0.1f, 0.1f);
  ct_fill(B1, M, 34, -0.2f, 0.2f);
  ct_fill(B2, M, 35, -0.2f, 0.2f);

  ir_graph *g = ir_graph_new(&ctx, "nchwc");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(t->N, C, t->H, t->W));
  ir_value_id tv = ct_val(g, "t", IR_F32, SHAPE(t->N, M, OH, OW));
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(t->N, M, OH, OW));
  ir_shape w1s = SHAPE(M, C, t->KH, t->KW), w2s = SHAPE(M, M, 3, 3), bs = SHAPE(M);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &w1s, W1, sizeof(float) * nw1, false);
  ir_value_id w2 = ir_add_const(g, "w2", IR_F32, &w2s, W2, sizeof(float) * nw2, false);
  ir_value_id b1 = ir_add_const(g, "b1", IR_F32, &bs, B1, sizeof(float) * M, false);
  ir_value_id b2 = ir_add_const(g, "b2", IR_F32, &bs, B2, sizeof(float) * M, false);
  ir_node_id n1 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w1, b1}, tv);
  ir_set_attr_ints(g, n1, "strides", (int64_t[]){t->sh, t->sw}, 2);
  ir_set_attr_ints(g, n1, "dilations", (int64_t[]){t->dh, t->dw}, 2);
  ir_set_attr_ints(g, n1, "pads", (int64_t[]){t->pt, t->pl, t->pb, t->pr}, 4);
  ir_set_attr_string(g, n1, "activation", "Relu");
  ir_node_id n2 = ct_node(g, IR_OP_FUSED_CONV, 4, (ir_value_id[]){tv, w2, b2, tv}, y);
  ir_set_attr_ints(g, n2, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n2, "activation", "Relu");
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  ck_assert_int_eq(pass_reorder_layout(&ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED && g->values[tv].layout.block == L,
                "the chain's activation is blocked");
  ck_assert_msg(g->values[y].layout.kind == IR_LAYOUT_PLAIN, "a graph output stays plain");
  cg_schedule sc = {0};
  ck_assert(cg_schedule_parse(ir_attr_string_or(g, n2, "schedule", ""), &sc) && sc.conv == CG_CONV_DIRECT);
  if (t->mr > 0) sc.mr = t->mr;
  if (t->mr < 0) /* rows of whole vectors: the policy stores transposed tiles of L pixels */
    ck_assert_msg(sc.mr == L && sc.nr == L, "plain output of whole-vector rows: %s", ir_attr_string_or(g, n2, "schedule", ""));
  if (t->kcb) sc.kc = (int64_t)t->kcb * 9 * L;
  if (t->unroll) sc.unroll = t->unroll;
  if (t->mc) sc.mc = t->mc;
  char text[160];
  ir_set_attr_string(g, n2, "schedule", cg_schedule_format(&sc, text, sizeof text));
  run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * ny);

  ref_conv(X, W1, B1, NULL, tref, t->N, C, M, t->H, t->W, t->KH, t->KW, t->sh, t->sw, t->dh, t->dw,
           t->pt, t->pl, OH, OW);
  for (int64_t i = 0; i < ny; i++) T[i] = (float)tref[i];
  ref_conv(T, W2, B2, T, want, t->N, M, M, OH, OW, 3, 3, 1, 1, 1, 1, 1, 1, OH, OW);
  ct_close(Y, want, ny, 1e-5, text);
  free(X), free(W1), free(W2), free(B1), free(B2), free(Y), free(tref), free(want), free(T);
  ir_graph_free(g);
}

START_TEST(nchwc_chain_edges_and_schedules) {
  static const nchwc_case cases[] = {
      /* N Cb Mb  H   W KH KW sh sw dh dw pt pl pb pr   mr kcb unroll mc */
      {1, 1, 2, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* ResNet 3x3 on a 9x9 plane */
      {2, 2, 2, 11, 13, 3, 3, 2, 2, 1, 1, 1, 0, 2, 1, 3, 1, 2, 1},  /* stride 2, asymmetric pads, 2 images, K blocks */
      {1, 1, 3, 8, 17, 3, 5, 1, 2, 2, 1, 2, 2, 2, 2, 5, 1, 4, 2},   /* dilation, 3x5, a wide row of edge + interior tiles */
      {1, 3, 2, 7, 7, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 7, 2, 1, 7},    /* 1x1 stride 2 (downsample) */
      {2, 1, 2, 5, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, -1, 0, 0, 0},  /* rows of 32: transposed plain stores */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_nchwc(&cases[i]);
}
END_TEST

/* A network's stem, as ResNet's: an RGB image (3 channels, fewer than a
 * vector: one channel block of 3) -> conv 3x3 stride 2 -> MaxPool 3x3
 * stride 2 pad 1 on blocked activations -> conv 3x3 with that as its
 * residual -> plain output.  Against a C reference, 1 vs 3 threads. */
START_TEST(nchwc_rgb_stem_and_maxpool) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt = ct_options();
  int L = host_lanes(&ctx, "nchwc stem");
  if (!L) return;
  int N = 1, C = 3, M = 2 * L, H = 23, W = 21;
  int OH = (H + 2 - 3) / 2 + 1, OW = (W + 2 - 3) / 2 + 1;   /* conv1: 3x3 s2 p1 */
  int PH = (OH + 2 - 3) / 2 + 1, PW = (OW + 2 - 3) / 2 + 1; /* pool: 3x3 s2 p1 */
  int64_t nx = (int64_t)N * C * H * W, nt = (int64_t)N * M * OH * OW, np_ = (int64_t)N * M * PH * PW;
  float *X = malloc(sizeof(float) * nx), *W1 = malloc(sizeof(float) * M * C * 9);
  float *W2 = malloc(sizeof(float) * M * M * 9), *B = malloc(sizeof(float) * M);
  float *T = calloc((size_t)nt, sizeof(float)), *P = calloc((size_t)np_, sizeof(float));
  float *Y = malloc(sizeof(float) * np_);
  double *tref = malloc(sizeof(double) * nt), *want = malloc(sizeof(double) * np_);
  ct_fill(X, nx, 41, -1, 1);
  ct_fill(W1, M * C * 9, 42, -0.5f, 0.5f);
  ct_fill(W2, M * M * 9, 43, -0.1f, 0.1f);
  ct_fill(B, M, 44, -0.2f, 0.2f);

  ir_graph *g = ir_graph_new(&ctx, "stem");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W));
  ir_value_id tv = ct_val(g, "t", IR_F32, SHAPE(N, M, OH, OW)), pv = ct_val(g, "p", IR_F32, SHAPE(N, M, PH, PW));
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(N, M, PH, PW));
  ir_shape w1s = SHAPE(M, C, 3, 3), w2s = SHAPE(M, M, 3, 3), bs = SHAPE(M);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &w1s, W1, sizeof(float) * M * C * 9, false);
  ir_value_id w2 = ir_add_const(g, "w2", IR_F32, &w2s, W2, sizeof(float) * M * M * 9, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * M, false);
  ir_node_id n1 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w1, b}, tv);
  ir_set_attr_ints(g, n1, "strides", (int64_t[]){2, 2}, 2);
  ir_set_attr_ints(g, n1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n1, "activation", "Relu");
  ir_node_id mp = ct_node(g, IR_OP_MAX_POOL, 1, &tv, pv);
  ir_set_attr_ints(g, mp, "kernel_shape", (int64_t[]){3, 3}, 2);
  ir_set_attr_ints(g, mp, "strides", (int64_t[]){2, 2}, 2);
  ir_set_attr_ints(g, mp, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_node_id n2 = ct_node(g, IR_OP_FUSED_CONV, 4, (ir_value_id[]){pv, w2, b, pv}, y);
  ir_set_attr_ints(g, n2, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n2, "activation", "Relu");
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  ck_assert_int_eq(pass_reorder_layout(&ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED && g->values[pv].layout.kind == IR_LAYOUT_BLOCKED,
                "the stem's activations are blocked");
  run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * np_);

  ref_conv(X, W1, B, NULL, tref, N, C, M, H, W, 3, 3, 2, 2, 1, 1, 1, 1, OH, OW);
  for (int64_t i = 0; i < nt; i++) T[i] = (float)tref[i];
  for (int m = 0; m < M; m++)
    for (int a = 0; a < PH; a++)
      for (int c = 0; c < PW; c++) {
        float mx = -INFINITY;
        for (int i = 0; i < 3; i++)
          for (int j = 0; j < 3; j++) {
            int ih = a * 2 - 1 + i, iw = c * 2 - 1 + j;
            if (ih >= 0 && ih < OH && iw >= 0 && iw < OW && T[(m * OH + ih) * OW + iw] > mx)
              mx = T[(m * OH + ih) * OW + iw];
          }
        P[(m * PH + a) * PW + c] = mx;
      }
  ref_conv(P, W2, B, P, want, N, M, M, PH, PW, 3, 3, 1, 1, 1, 1, 1, 1, PH, PW);
  ct_close(Y, want, np_, 1e-5, "stem");
  free(X), free(W1), free(W2), free(B), free(T), free(P), free(Y), free(tref), free(want);
  ir_graph_free(g);
}
END_TEST

/* A MobileNet block on blocked activations, as reorder-layout plans it:
 *   t = Relu(conv1x1(x) + b1)                 x plain -> t blocked
 *   d = Relu(dwconv3x3(t) + bd [+ t])         blocked -> blocked (residual t at stride 1)
 *   y = Relu(conv3x3(d) + b2)                 d blocked -> y plain
 * The depthwise window has the case's stride and pads; its rows hold
 * interior tiles, edge tiles at both ends and a short last tile.  Against
 * a C reference within 1e-5, 1 vs 3 threads bit for bit. */
static void ref_dw(const float *x, const float *w, const float *b, const float *res, double *y, int N, int C,
                   int H, int W, int s, int pt, int pl, int OH, int OW) {
  for (int nc = 0; nc < N * C; nc++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        double acc = b[nc % C];
        for (int a = 0; a < 3; a++)
          for (int e = 0; e < 3; e++) {
            int ih = oh * s - pt + a, iw = ow * s - pl + e;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
              acc += (double)x[((int64_t)nc * H + ih) * W + iw] * w[(nc % C) * 9 + a * 3 + e];
          }
        int64_t o = ((int64_t)nc * OH + oh) * OW + ow;
        if (res) acc += res[o];
        y[o] = fmax(0, acc);
      }
}

static void check_dw_blocked(int N, int H, int W, int stride, int pt, int pl, int pb, int pr) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt = ct_options();
  int L = host_lanes(&ctx, "blocked depthwise");
  if (!L) return;
  /* enough channel blocks that the last conv keeps its input blocked
   * (C*9 >= 256: cg_nchwc_plan) */
  int C = L * (256 / (9 * L) + 1);
  int OH = (H + pt + pb - 3) / stride + 1, OW = (W + pl + pr - 3) / stride + 1;
  bool resid = stride == 1 && OH == H && OW == W;
  int64_t nx = (int64_t)N * C * H * W, nd = (int64_t)N * C * OH * OW;
  float *X = malloc(sizeof(float) * nx), *W1 = malloc(sizeof(float) * C * C), *WD = malloc(sizeof(float) * C * 9);
  float *W2 = malloc(sizeof(float) * C * C * 9), *B = malloc(sizeof(float) * C), *Y = malloc(sizeof(float) * nd);
  float *T = calloc((size_t)nx, sizeof(float)), *D = calloc((size_t)nd, sizeof(float));
  double *tmp = malloc(sizeof(double) * (nx > nd ? nx : nd)), *want = malloc(sizeof(double) * nd);
  ct_fill(X, nx, 51, -1, 1);
  ct_fill(W1, C * C, 52, -0.2f, 0.2f);
  ct_fill(WD, C * 9, 53, -0.5f, 0.5f);
  ct_fill(W2, C * C * 9, 54, -0.05f, 0.05f);
  ct_fill(B, C, 55, -0.2f, 0.2f);

  ir_graph *g = ir_graph_new(&ctx, "dwblocked");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), tv = ct_val(g, "t", IR_F32, SHAPE(N, C, H, W));
  ir_value_id dv = ct_val(g, "d", IR_F32, SHAPE(N, C, OH, OW)), y = ct_val(g, "y", IR_F32, SHAPE(N, C, OH, OW));
  ir_shape w1s = SHAPE(C, C, 1, 1), wds = SHAPE(C, 1, 3, 3), w2s = SHAPE(C, C, 3, 3), bs = SHAPE(C);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &w1s, W1, sizeof(float) * C * C, false);
  ir_value_id wd = ir_add_const(g, "wd", IR_F32, &wds, WD, sizeof(float) * C * 9, false);
  ir_value_id w2 = ir_add_const(g, "w2", IR_F32, &w2s, W2, sizeof(float) * C * C * 9, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * C, false);
  ir_node_id n1 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w1, b}, tv);
  ir_set_attr_string(g, n1, "activation", "Relu");
  ir_node_id n2 = ct_node(g, IR_OP_FUSED_CONV, resid ? 4 : 3, (ir_value_id[]){tv, wd, b, tv}, dv);
  ir_set_attr_int(g, n2, "group", C);
  ir_set_attr_ints(g, n2, "strides", (int64_t[]){stride, stride}, 2);
  ir_set_attr_ints(g, n2, "pads", (int64_t[]){pt, pl, pb, pr}, 4);
  ir_set_attr_string(g, n2, "activation", "Relu");
  ir_node_id n3 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){dv, w2, b}, y);
  ir_set_attr_ints(g, n3, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n3, "activation", "Relu");
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  ck_assert_int_eq(pass_reorder_layout(&ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED && g->values[dv].layout.kind == IR_LAYOUT_BLOCKED,
                "the depthwise layer's input and output are blocked");
  cg_schedule dsc = {0};
  ck_assert_msg(cg_schedule_parse(ir_attr_string_or(g, n2, "schedule", ""), &dsc) && dsc.conv == CG_CONV_DEPTHWISE,
                "a blocked depthwise layer gets a depthwise schedule, not a direct one: %s",
                ir_attr_string_or(g, n2, "schedule", "(none)"));
  run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * nd);

  ref_conv(X, W1, B, NULL, tmp, N, C, C, H, W, 1, 1, 1, 1, 1, 1, 0, 0, H, W);
  for (int64_t i = 0; i < nx; i++) T[i] = (float)tmp[i];
  ref_dw(T, WD, B, resid ? T : NULL, tmp, N, C, H, W, stride, pt, pl, OH, OW);
  for (int64_t i = 0; i < nd; i++) D[i] = (float)tmp[i];
  ref_conv(D, W2, B, NULL, want, N, C, C, OH, OW, 3, 3, 1, 1, 1, 1, 1, 1, OH, OW);
  char what[96];
  snprintf(what, sizeof what, "blocked depthwise %dx%d stride %d pads %d,%d,%d,%d", H, W, stride, pt, pl, pb, pr);
  ct_close(Y, want, nd, 1e-5, what);
  free(X), free(W1), free(WD), free(W2), free(B), free(Y), free(T), free(D), free(tmp), free(want);
  ir_graph_free(g);
}

START_TEST(nchwc_depthwise_blocked) {
  check_dw_blocked(1, 9, 29, 1, 1, 1, 1, 1);  /* 29 columns: edge, interior run, short last tile; residual */
  check_dw_blocked(2, 8, 23, 2, 1, 1, 1, 1);  /* stride 2, two images */
  check_dw_blocked(1, 7, 7, 2, 0, 0, 1, 1);   /* MobileNet's asymmetric (TF-style) padding */
  check_dw_blocked(1, 5, 6, 1, 1, 1, 1, 1);   /* a row shorter than a tile: both ends in one tile */
}
END_TEST

/* A chain's end at a global pool: t = Relu(conv3x3(x) + b) is blocked
 * (its only reader is the pool, which reads blocked and writes plain), so
 * the convolution stores whole vectors.  Average and max, 2 images, a
 * 5x7 plane; against a C reference, 1 vs 3 threads bit for bit. */
static void check_global_pool_blocked(ir_op op) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt = ct_options();
  int L = host_lanes(&ctx, "blocked global pool");
  if (!L) return;
  int N = 2, C = L * (256 / (9 * L) + 1), M = 2 * L, H = 5, W = 7;
  int64_t nx = (int64_t)N * C * H * W, nt = (int64_t)N * M * H * W;
  float *X = malloc(sizeof(float) * nx), *Wt = malloc(sizeof(float) * M * C * 9), *B = malloc(sizeof(float) * M);
  float *Y = malloc(sizeof(float) * N * M);
  double *tref = malloc(sizeof(double) * nt), *want = malloc(sizeof(double) * N * M);
  ct_fill(X, nx, 61, -1, 1);
  ct_fill(Wt, M * C * 9, 62, -0.1f, 0.1f);
  ct_fill(B, M, 63, -0.2f, 0.2f);
  ir_graph *g = ir_graph_new(&ctx, "gpool");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), tv = ct_val(g, "t", IR_F32, SHAPE(N, M, H, W));
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(N, M, 1, 1));
  ir_shape ws = SHAPE(M, C, 3, 3), bs = SHAPE(M);
  ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, Wt, sizeof(float) * M * C * 9, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * M, false);
  ir_node_id n1 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w, b}, tv);
  ir_set_attr_ints(g, n1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n1, "activation", "Relu");
  ct_node(g, op, 1, &tv, y);
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  ck_assert_int_eq(pass_reorder_layout(&ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED, "the pool's input is blocked");
  run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * N * M);
  ref_conv(X, Wt, B, NULL, tref, N, C, M, H, W, 3, 3, 1, 1, 1, 1, 1, 1, H, W);
  for (int i = 0; i < N * M; i++) {
    double acc = op == IR_OP_GLOBAL_MAX_POOL ? -INFINITY : 0;
    for (int p = 0; p < H * W; p++) {
      double v = (float)tref[(int64_t)i * H * W + p];
      acc = op == IR_OP_GLOBAL_MAX_POOL ? fmax(acc, v) : acc + v;
    }
    want[i] = op == IR_OP_GLOBAL_MAX_POOL ? acc : acc / (H * W);
  }
  ct_close(Y, want, N * M, 1e-5, op == IR_OP_GLOBAL_MAX_POOL ? "blocked global max pool" : "blocked global average pool");
  free(X), free(Wt), free(B), free(Y), free(tref), free(want);
  ir_graph_free(g);
}

START_TEST(nchwc_global_pool_blocked) {
  check_global_pool_blocked(IR_OP_GLOBAL_AVERAGE_POOL);
  check_global_pool_blocked(IR_OP_GLOBAL_MAX_POOL);
}
END_TEST

/* The direct kernel's sparse form, in a chain of blocked activations:
 *   t = Relu(conv3x3(x) + b)                x plain -> t blocked
 *   u = Relu(conv1x1(t) + b [+ t])          pruned weight: runs of L output
 *                                           channels zero at 3 of 4 input
 *                                           channels; stride 1 with a
 *                                           residual, or stride 2
 *   y = Relu(conv3x3(u) + b)                u blocked -> y plain
 * The 1x1 gets the sparse schedule (nr = lanes) and matches a C
 * reference; 1 vs 3 threads bit for bit. */
static void check_sparse_direct(int N, int H, int W, int stride) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt = ct_options();
  int L = host_lanes(&ctx, "sparse direct convolution");
  if (!L) return;
  int C = L * (256 / (9 * L) + 1);
  int OH = (H - 1) / stride + 1, OW = (W - 1) / stride + 1;
  bool resid = stride == 1;
  int64_t nx = (int64_t)N * C * H * W, nu = (int64_t)N * C * OH * OW;
  float *X = malloc(sizeof(float) * nx), *W1 = malloc(sizeof(float) * C * C * 9), *WS = malloc(sizeof(float) * C * C);
  float *W2 = malloc(sizeof(float) * C * C * 9), *B = malloc(sizeof(float) * C), *Y = malloc(sizeof(float) * nu);
  float *T = calloc((size_t)nx, sizeof(float)), *U = calloc((size_t)nu, sizeof(float));
  double *tmp = malloc(sizeof(double) * (nx > nu ? nx : nu)), *want = malloc(sizeof(double) * nu);
  ct_fill(X, nx, 71, -1, 1);
  ct_fill(W1, C * C * 9, 72, -0.05f, 0.05f);
  ct_fill(WS, C * C, 73, -0.3f, 0.3f);
  ct_fill(W2, C * C * 9, 74, -0.05f, 0.05f);
  ct_fill(B, C, 75, -0.2f, 0.2f);
  /* keep the runs of L output channels at input channels c % 4 == panel % 4 */
  for (int m = 0; m < C; m++)
    for (int c = 0; c < C; c++)
      if (c % 4 != (m / L) % 4) WS[m * C + c] = 0;

  ir_graph *g = ir_graph_new(&ctx, "sparsedirect");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), tv = ct_val(g, "t", IR_F32, SHAPE(N, C, H, W));
  ir_value_id uv = ct_val(g, "u", IR_F32, SHAPE(N, C, OH, OW)), y = ct_val(g, "y", IR_F32, SHAPE(N, C, OH, OW));
  ir_shape w3s = SHAPE(C, C, 3, 3), w1s = SHAPE(C, C, 1, 1), bs = SHAPE(C);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &w3s, W1, sizeof(float) * C * C * 9, false);
  ir_value_id ws = ir_add_const(g, "ws", IR_F32, &w1s, WS, sizeof(float) * C * C, false);
  ir_value_id w2 = ir_add_const(g, "w2", IR_F32, &w3s, W2, sizeof(float) * C * C * 9, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * C, false);
  g->values[ws].sparsity = (ir_sparsity){.kind = IR_SPARSE_BLOCK, .n = L, .m = 1, .density = 0.25f};
  ir_node_id n1 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w1, b}, tv);
  ir_set_attr_ints(g, n1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n1, "activation", "Relu");
  ir_node_id n2 = ct_node(g, IR_OP_FUSED_CONV, resid ? 4 : 3, (ir_value_id[]){tv, ws, b, tv}, uv);
  ir_set_attr_ints(g, n2, "strides", (int64_t[]){stride, stride}, 2);
  ir_set_attr_string(g, n2, "activation", "Relu");
  ir_node_id n3 = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){uv, w2, b}, y);
  ir_set_attr_ints(g, n3, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ir_set_attr_string(g, n3, "activation", "Relu");
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  ck_assert_int_eq(pass_reorder_layout(&ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED && g->values[uv].layout.kind == IR_LAYOUT_BLOCKED,
                "the pruned 1x1 convolution stays in the blocked chain");
  cg_schedule sc = {0};
  ck_assert(ir_attr_int_or(g, n2, "sparse", 0) == 1);
  ck_assert(cg_schedule_parse(ir_attr_string_or(g, n2, "schedule", ""), &sc) && sc.nr == L);
  run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * nu);

  ref_conv(X, W1, B, NULL, tmp, N, C, C, H, W, 3, 3, 1, 1, 1, 1, 1, 1, H, W);
  for (int64_t i = 0; i < nx; i++) T[i] = (float)tmp[i];
  ref_conv(T, WS, B, resid ? T : NULL, tmp, N, C, C, H, W, 1, 1, stride, stride, 1, 1, 0, 0, OH, OW);
  for (int64_t i = 0; i < nu; i++) U[i] = (float)tmp[i];
  ref_conv(U, W2, B, NULL, want, N, C, C, OH, OW, 3, 3, 1, 1, 1, 1, 1, 1, OH, OW);
  char what[64];
  snprintf(what, sizeof what, "sparse direct %dx%d stride %d", H, W, stride);
  ct_close(Y, want, nu, 1e-5, what);
  free(X), free(W1), free(WS), free(W2), free(B), free(Y), free(T), free(U), free(tmp), free(want);
  ir_graph_free(g);
}

START_TEST(nchwc_sparse_1x1) {
  check_sparse_direct(1, 6, 31, 1); /* 31 columns: tiles of the row and a short last one; residual */
  check_sparse_direct(2, 9, 14, 2); /* stride 2 (a downsample), two images */
}
END_TEST

/* Schedules given as the `schedule` attribute before reorder-layout (a
 * hand-written text IR, or a kiln tune candidate), on a chain of the
 * direct and the blocked depthwise kernels:
 *   t = Relu(conv3x3(x) + b)      x plain -> t blocked (direct, conv1)
 *   d = Relu(dw3x3(t) + b)        blocked -> blocked   (depthwise)
 *   y = Relu(conv3x3(d) + b + d)  blocked -> y plain   (direct, conv2, residual)
 * A valid schedule is kept as given; an invalid one (a field the kernel
 * cannot follow, the other kernel's schedule) falls back to the default.
 * Every output sums its products in the same order under any of these
 * schedules (K blocks resume from the stored partial sums, edge tiles
 * leave out products with the padding, items only split the output), so
 * each build's output must equal the default build's bit for bit, at 1
 * and 3 threads. */
typedef struct given_case {
  const char *conv1, *dw, *conv2; /* with {L} lanes, {M} channels, {L9} one channel block x 9
                                   * taps, {K1} {K2} conv1's and conv2's K; NULL: none */
  bool taken[3];
} given_case;

static ir_graph *given_chain(kiln_ctx *ctx, int L, int M, const char *const given[3], ir_node_id nodes[3],
                             const float *W1, const float *WD, const float *W2, const float *B) {
  int C = L, H = 11, W = 13, N = 2;
  ir_graph *g = ir_graph_new(ctx, "given");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), tv = ct_val(g, "t", IR_F32, SHAPE(N, M, H, W));
  ir_value_id dv = ct_val(g, "d", IR_F32, SHAPE(N, M, H, W)), y = ct_val(g, "y", IR_F32, SHAPE(N, M, H, W));
  ir_shape w1s = SHAPE(M, C, 3, 3), wds = SHAPE(M, 1, 3, 3), w2s = SHAPE(M, M, 3, 3), bs = SHAPE(M);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &w1s, W1, sizeof(float) * M * C * 9, false);
  ir_value_id wd = ir_add_const(g, "wd", IR_F32, &wds, WD, sizeof(float) * M * 9, false);
  ir_value_id w2 = ir_add_const(g, "w2", IR_F32, &w2s, W2, sizeof(float) * M * M * 9, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, B, sizeof(float) * M, false);
  nodes[0] = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){x, w1, b}, tv);
  nodes[1] = ct_node(g, IR_OP_FUSED_CONV, 3, (ir_value_id[]){tv, wd, b}, dv);
  ir_set_attr_int(g, nodes[1], "group", M);
  nodes[2] = ct_node(g, IR_OP_FUSED_CONV, 4, (ir_value_id[]){dv, w2, b, dv}, y);
  for (int i = 0; i < 3; i++) {
    ir_set_attr_ints(g, nodes[i], "pads", (int64_t[]){1, 1, 1, 1}, 4);
    ir_set_attr_string(g, nodes[i], "activation", "Relu");
    if (given[i]) ir_set_attr_string(g, nodes[i], "schedule", given[i]);
  }
  ct_io(g, 1, &x, 1, &y);
  ir_graph_recount_uses(g);
  kiln_options opt = ct_options();
  ck_assert_int_eq(pass_reorder_layout(ctx, g, &opt), KILN_OK);
  ck_assert_msg(g->values[tv].layout.kind == IR_LAYOUT_BLOCKED && g->values[dv].layout.kind == IR_LAYOUT_BLOCKED,
                "the chain's activations are blocked");
  return g;
}

/* fmt with {L}, {M}, {L9}, {K1}, {K2} replaced by their values */
static void given_text(const char *fmt, int L, int M, int K1, int K2, char *out, size_t size) {
  static const char *const keys[] = {"{L}", "{M}", "{L9}", "{K1}", "{K2}"};
  int vals[] = {L, M, 9 * L, K1, K2};
  size_t n = 0;
  while (*fmt && n + 12 < size) {
    size_t k = 0;
    while (k < 5 && strncmp(fmt, keys[k], strlen(keys[k]))) k++;
    if (k < 5) {
      n += (size_t)snprintf(out + n, size - n, "%d", vals[k]);
      fmt += strlen(keys[k]);
    } else {
      out[n++] = *fmt++;
    }
  }
  out[n] = 0;
}

START_TEST(nchwc_given_schedules) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  int L = host_lanes(&ctx, "given schedules");
  if (!L) return;
  /* channels enough that conv2 keeps its input blocked (M*9 >= 256) */
  int M = L * (256 / (9 * L) + 1), C = L;
  int64_t nx = 2LL * C * 11 * 13, ny = 2LL * M * 11 * 13;
  float *X = malloc(sizeof(float) * nx), *W1 = malloc(sizeof(float) * M * C * 9), *WD = malloc(sizeof(float) * M * 9);
  float *W2 = malloc(sizeof(float) * M * M * 9), *B = malloc(sizeof(float) * M);
  float *Y0 = malloc(sizeof(float) * ny), *Y = malloc(sizeof(float) * ny);
  ct_fill(X, nx, 71, -1, 1);
  ct_fill(W1, M * C * 9, 72, -0.3f, 0.3f);
  ct_fill(WD, M * 9, 73, -0.5f, 0.5f);
  ct_fill(W2, M * M * 9, 74, -0.05f, 0.05f);
  ct_fill(B, M, 75, -0.2f, 0.2f);
  ir_node_id nodes[3];
  char def[3][160];
  const char *none[3] = {NULL, NULL, NULL};
  ir_graph *g = given_chain(&ctx, L, M, none, nodes, W1, WD, W2, B);
  for (int i = 0; i < 3; i++) snprintf(def[i], sizeof def[i], "%s", ir_attr_string_or(g, nodes[i], "schedule", ""));
  run_threads(&ctx, g, (const void *[]){X}, Y0, sizeof(float) * ny);
  ir_graph_free(g);

  static const given_case cases[] = {
      /* tiles of 5 pixels (a row of 13: edges, an interior run, a short last tile), one
       * channel block per K block, 3 rows per item (not a multiple of mr), unrolled ci loop */
      {NULL, NULL, "mr=5 nr={L} kc={L9} mc=3 nc={L} lanes={L} unroll=4 par=mn conv=direct", {1, 1, 1}},
      /* every kernel given: a whole row per tile, one item (par=none); tiles of 3,
       * 2 rows per item; 2 pixels x all channels, one row per item */
      {"mr=13 nr={M} kc={K1} mc=11 nc={M} lanes={L} unroll=2 par=none conv=direct",
       "mr=3 nr={L} kc=9 mc=2 nc={L} lanes={L} unroll=1 par=mn conv=depthwise",
       "mr=2 nr={M} kc={K2} mc=1 nc={M} lanes={L} unroll=1 par=mn conv=direct", {1, 1, 1}},
      /* refused, the default kept: kc not whole channel blocks x taps; a depthwise
       * tile wider than the kernel takes; lanes not the target's */
      {"mr=4 nr={L} kc=10 mc=2 nc={L} lanes={L} unroll=1 par=mn conv=direct",
       "mr=17 nr={L} kc=9 mc=2 nc={L} lanes={L} unroll=1 par=mn conv=depthwise",
       "mr=4 nr={L} kc={K2} mc=2 nc={L} lanes=4 unroll=1 par=mn conv=direct", {0, 0, 0}},
      /* the other kernel's schedule: refused */
      {"mr=4 nr={L} kc=9 mc=2 nc={L} lanes={L} unroll=1 par=mn conv=depthwise",
       "mr=4 nr={L} kc={L9} mc=2 nc={L} lanes={L} unroll=1 par=mn conv=direct", NULL, {0, 0, 0}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const char *fmt[3] = {cases[c].conv1, cases[c].dw, cases[c].conv2};
    char text[3][160];
    const char *given[3];
    for (int i = 0; i < 3; i++) {
      given[i] = NULL;
      if (!fmt[i]) continue;
      given_text(fmt[i], L, M, 9 * C, 9 * M, text[i], sizeof text[i]);
      given[i] = text[i];
    }
    g = given_chain(&ctx, L, M, given, nodes, W1, WD, W2, B);
    for (int i = 0; i < 3; i++) {
      const char *got = ir_attr_string_or(g, nodes[i], "schedule", "");
      const char *want = given[i] && cases[c].taken[i] ? given[i] : def[i];
      ck_assert_msg(!strcmp(got, want), "case %zu node %d: schedule \"%s\", expected \"%s\"", c, i, got, want);
    }
    run_threads(&ctx, g, (const void *[]){X}, Y, sizeof(float) * ny);
    int64_t bad = 0;
    while (bad < ny && !memcmp(&Y[bad], &Y0[bad], sizeof *Y)) bad++;
    ck_assert_msg(bad == ny, "case %zu: output %lld is %.9g under the given schedules, %.9g under the default",
                  c, (long long)bad, bad < ny ? Y[bad] : 0, bad < ny ? Y0[bad] : 0);
    ir_graph_free(g);
  }
  free(X), free(W1), free(WD), free(W2), free(B), free(Y0), free(Y);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("depthwise");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, depthwise_strides_pads_dilations);
  tcase_add_test(tc, sparse_gemm_skips_zero_rows);
  tcase_add_test(tc, sparse_conv1x1_skips_zero_runs);
  tcase_add_test(tc, sparse_nm_gemm);
  tcase_add_test(tc, sparse_nm_density);
  tcase_add_test(tc, nchwc_chain_edges_and_schedules);
  tcase_add_test(tc, nchwc_depthwise_blocked);
  tcase_add_test(tc, nchwc_global_pool_blocked);
  tcase_add_test(tc, nchwc_sparse_1x1);
  tcase_add_test(tc, nchwc_rgb_stem_and_maxpool);
  tcase_add_test(tc, nchwc_given_schedules);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
