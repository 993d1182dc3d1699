/*
 * test_codegen_ops.c — the non-elementwise lowerings against plain C
 * references: MatMul (batched, broadcast, 1-D), Gemm (transposes, bias
 * shapes, constant and run-time B), Conv (groups, pads, strides,
 * dilations, auto_pad, 1-D), pools, Softmax/LogSoftmax, Concat, Transpose
 * and the views.
 *
 * Tolerance: sums of products accumulate in float (with FMA) while the
 * references use double, so results must agree within 1e-5 * (1 + |want|)
 * for the short reductions used here.
 */
#include "cgtest.h"
#include "onnx_build.h"
#include "passes.h"

/* Runs g (one input per array in `in`, outputs into `out`) with 3 threads. */
static void run_graph(kiln_ctx *ctx, ir_graph *g, const void *const *in, void *const *out) {
  cg_jit *j = ct_jit(ctx, g);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, out, 3), KILN_OK);
  cg_jit_free(j);
}

/* ---- MatMul ------------------------------------------------------------------------ */
/* y = a @ b for shapes a [.., M, K], b [.., K, N] given as batch strides. */
static void ref_matmul(const float *a, const float *b, double *y, int64_t nb, const int64_t *ab,
                       const int64_t *bb, int64_t M, int64_t K, int64_t N) {
  for (int64_t t = 0; t < nb; t++)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++) s += (double)a[ab[t] + i * K + k] * b[bb[t] + k * N + j];
        y[(t * M + i) * N + j] = s;
      }
}

START_TEST(matmul_batched_and_1d) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "mm");
  /* [2,1,3,4] @ [5,4,6] -> [2,5,3,6];  [4] @ [2,4,3] -> [2,3];  [2,3,4] @ [4] -> [2,3] */
  ir_value_id a = ct_val(g, "a", IR_F32, SHAPE(2, 1, 3, 4)), b = ct_val(g, "b", IR_F32, SHAPE(5, 4, 6));
  ir_value_id v = ct_val(g, "v", IR_F32, SHAPE(4)), c = ct_val(g, "c", IR_F32, SHAPE(2, 4, 3));
  ir_value_id d = ct_val(g, "d", IR_F32, SHAPE(2, 3, 4));
  ir_value_id y1 = ct_val(g, "y1", IR_F32, SHAPE(2, 5, 3, 6)), y2 = ct_val(g, "y2", IR_F32, SHAPE(2, 3));
  ir_value_id y3 = ct_val(g, "y3", IR_F32, SHAPE(2, 3));
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){a, b}, y1);
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){v, c}, y2);
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){d, v}, y3);
  ct_io(g, 5, (ir_value_id[]){a, b, v, c, d}, 3, (ir_value_id[]){y1, y2, y3});
  float A[24], B[120], V[4], C[24], D[24], Y1[180], Y2[6], Y3[6];
  ct_fill(A, 24, 1, -1, 1);
  ct_fill(B, 120, 2, -1, 1);
  ct_fill(V, 4, 3, -1, 1);
  ct_fill(C, 24, 4, -1, 1);
  ct_fill(D, 24, 5, -1, 1);
  run_graph(&ctx, g, (const void *[]){A, B, V, C, D}, (void *[]){Y1, Y2, Y3});
  double w[180];
  int64_t ab[10], bb[10];
  for (int t = 0; t < 10; t++) {
    ab[t] = (t / 5) * 12; /* a's batch dims [2,1] broadcast over b's [5] */
    bb[t] = (t % 5) * 24;
  }
  ref_matmul(A, B, w, 10, ab, bb, 3, 4, 6);
  ct_close(Y1, w, 180, 1e-5, "MatMul batched");
  ref_matmul(V, C, w, 2, (int64_t[]){0, 0}, (int64_t[]){0, 12}, 1, 4, 3);
  ct_close(Y2, w, 6, 1e-5, "MatMul 1-D @ batched");
  ref_matmul(D, V, w, 2, (int64_t[]){0, 12}, (int64_t[]){0, 0}, 3, 4, 1);
  ct_close(Y3, w, 6, 1e-5, "MatMul batched @ 1-D");
  ir_graph_free(g);
}
END_TEST

/* ---- Gemm ------------------------------------------------------------------------------ */
START_TEST(gemm_transposes_and_bias) {
  enum { M = 5, K = 7, N = 9 };
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "gemm");
  float A[M * K], At[K * M], B[K * N], Bt[N * K], C1[N], C2[M], Y[4][M * N];
  ct_fill(A, M * K, 1, -1, 1);
  ct_fill(B, K * N, 2, -1, 1);
  ct_fill(C1, N, 3, -1, 1);
  ct_fill(C2, M, 4, -1, 1);
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) At[k * M + i] = A[i * K + k];
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) Bt[j * K + k] = B[k * N + j];
  ir_shape sbt = SHAPE(N, K);
  ir_value_id a = ct_val(g, "a", IR_F32, SHAPE(M, K)), at = ct_val(g, "at", IR_F32, SHAPE(K, M));
  ir_value_id b = ct_val(g, "b", IR_F32, SHAPE(K, N)), bt = ct_val(g, "bt", IR_F32, sbt);
  ir_value_id bconst = ir_add_const(g, "bconst", IR_F32, &sbt, Bt, sizeof Bt, false);
  ir_value_id c1 = ct_val(g, "c1", IR_F32, SHAPE(N)), c2 = ct_val(g, "c2", IR_F32, SHAPE(M, 1));
  ir_value_id y[4];
  for (int i = 0; i < 4; i++) y[i] = ct_val(g, "y", IR_F32, SHAPE(M, N));
  /* plain, alpha/beta, bias [N] */
  ir_node_id n0 = ct_node(g, IR_OP_GEMM, 3, (ir_value_id[]){a, b, c1}, y[0]);
  ir_set_attr_float(g, n0, "alpha", 0.5f);
  ir_set_attr_float(g, n0, "beta", 2.0f);
  /* transA, transB with B only known at run time, bias [M, 1] */
  ir_node_id n1 = ct_node(g, IR_OP_GEMM, 3, (ir_value_id[]){at, bt, c2}, y[1]);
  ir_set_attr_int(g, n1, "transA", 1);
  ir_set_attr_int(g, n1, "transB", 1);
  /* transB with a constant B (transposed at compile time), no bias */
  ir_node_id n2 = ct_node(g, IR_OP_GEMM, 2, (ir_value_id[]){a, bconst}, y[2]);
  ir_set_attr_int(g, n2, "transB", 1);
  /* beta = 0 ignores C */
  ir_node_id n3 = ct_node(g, IR_OP_GEMM, 3, (ir_value_id[]){a, b, c1}, y[3]);
  ir_set_attr_float(g, n3, "beta", 0);
  ct_io(g, 6, (ir_value_id[]){a, at, b, bt, c1, c2}, 4, y);
  run_graph(&ctx, g, (const void *[]){A, At, B, Bt, C1, C2}, (void *[]){Y[0], Y[1], Y[2], Y[3]});
  double w[4][M * N];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)A[i * K + k] * B[k * N + j];
      w[0][i * N + j] = 0.5 * s + 2.0 * C1[j];
      w[1][i * N + j] = s + C2[i];
      w[2][i * N + j] = s;
      w[3][i * N + j] = s;
    }
  ct_close(Y[0], w[0], M * N, 1e-5, "Gemm alpha beta");
  ct_close(Y[1], w[1], M * N, 1e-5, "Gemm transA transB");
  ct_close(Y[2], w[2], M * N, 1e-5, "Gemm constant transB");
  ct_close(Y[3], w[3], M * N, 1e-5, "Gemm beta 0");
  ir_graph_free(g);
}
END_TEST

/* ---- Conv ---------------------------------------------------------------------------------- */
typedef struct conv_geo {
  int nsp;
  int64_t n, c, m, group, in[3], out[3], k[3], stride[3], dil[3], pad[3];
} conv_geo;

/* Direct convolution with bounds checks, the obvious way. */
static void ref_conv(const conv_geo *q, const float *x, const float *w, const float *b, double *y) {
  int64_t cg = q->c / q->group, mg = q->m / q->group;
  int64_t in1 = q->nsp > 1 ? q->in[1] : 1, out1 = q->nsp > 1 ? q->out[1] : 1;
  int64_t k1 = q->nsp > 1 ? q->k[1] : 1;
  for (int64_t n = 0; n < q->n; n++)
    for (int64_t m = 0; m < q->m; m++)
      for (int64_t o0 = 0; o0 < q->out[0]; o0++)
        for (int64_t o1 = 0; o1 < out1; o1++) {
          double s = b ? b[m] : 0;
          for (int64_t c = 0; c < cg; c++)
            for (int64_t a0 = 0; a0 < q->k[0]; a0++)
              for (int64_t a1 = 0; a1 < k1; a1++) {
                int64_t i0 = o0 * q->stride[0] + a0 * q->dil[0] - q->pad[0];
                int64_t i1 = q->nsp > 1 ? o1 * q->stride[1] + a1 * q->dil[1] - q->pad[1] : 0;
                if (i0 < 0 || i0 >= q->in[0] || i1 < 0 || i1 >= in1) continue;
                int64_t ch = (m / mg) * cg + c;
                s += (double)x[((n * q->c + ch) * q->in[0] + i0) * in1 + i1] *
                     w[((m * cg + c) * q->k[0] + a0) * k1 + a1];
              }
          y[((n * q->m + m) * q->out[0] + o0) * out1 + o1] = s;
        }
}

START_TEST(conv_2d_groups_pads_strides_dilations) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "conv");
  /* X [2,4,7,9], W [6,2,3,2], group 2, pads (1,0) begin (2,1) end, strides (2,1), dilations (1,2) */
  conv_geo q = {.nsp = 2, .n = 2, .c = 4, .m = 6, .group = 2, .in = {7, 9}, .k = {3, 2},
                .stride = {2, 1}, .dil = {1, 2}, .pad = {1, 0}};
  q.out[0] = (7 + 1 + 2 - (1 * 2 + 1)) / 2 + 1; /* 4 */
  q.out[1] = (9 + 0 + 1 - (2 * 1 + 1)) / 1 + 1; /* 8 */
  ir_shape ws = SHAPE(6, 2, 3, 2), bs = SHAPE(6);
  float X[2 * 4 * 7 * 9], W[72], Bv[6], Y[2 * 6 * 4 * 8], Y2[2 * 6 * 7 * 9];
  ct_fill(X, 504, 1, -1, 1);
  ct_fill(W, 72, 2, -1, 1);
  ct_fill(Bv, 6, 3, -1, 1);
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 4, 7, 9));
  ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, W, sizeof W, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, Bv, sizeof Bv, false);
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(2, 6, q.out[0], q.out[1]));
  ir_value_id y2 = ct_val(g, "y2", IR_F32, SHAPE(2, 6, 7, 9));
  ir_node_id n = ct_node(g, IR_OP_CONV, 3, (ir_value_id[]){x, w, b}, y);
  ir_set_attr_int(g, n, "group", 2);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){1, 0, 2, 1}, 4);
  ir_set_attr_ints(g, n, "strides", (int64_t[]){2, 1}, 2);
  ir_set_attr_ints(g, n, "dilations", (int64_t[]){1, 2}, 2);
  /* auto_pad SAME_UPPER, stride 1: output as large as the input */
  ir_node_id n2 = ct_node(g, IR_OP_CONV, 2, (ir_value_id[]){x, w}, y2);
  ir_set_attr_int(g, n2, "group", 2);
  ir_set_attr_string(g, n2, "auto_pad", "SAME_UPPER");
  ct_io(g, 1, &x, 2, (ir_value_id[]){y, y2});
  run_graph(&ctx, g, (const void *[]){X}, (void *[]){Y, Y2});
  double want[2 * 6 * 7 * 9];
  ref_conv(&q, X, W, Bv, want);
  ct_close(Y, want, 2 * 6 * 4 * 8, 1e-5, "Conv");
  /* SAME_UPPER with kernel (3,2): total pads (2,1) -> begin (1,0) */
  conv_geo s = {.nsp = 2, .n = 2, .c = 4, .m = 6, .group = 2, .in = {7, 9}, .out = {7, 9},
                .k = {3, 2}, .stride = {1, 1}, .dil = {1, 1}, .pad = {1, 0}};
  ref_conv(&s, X, W, NULL, want);
  ct_close(Y2, want, 2 * 6 * 7 * 9, 1e-5, "Conv SAME_UPPER");
  ir_graph_free(g);
}
END_TEST

START_TEST(conv_1d_depthwise) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "conv1d");
  conv_geo q = {.nsp = 1, .n = 1, .c = 3, .m = 3, .group = 3, .in = {20}, .out = {10}, .k = {4},
                .stride = {2}, .dil = {1}, .pad = {1}};
  ir_shape ws = SHAPE(3, 1, 4);
  float X[60], W[12], Y[30];
  ct_fill(X, 60, 5, -1, 1);
  ct_fill(W, 12, 6, -1, 1);
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(1, 3, 20));
  ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, W, sizeof W, false);
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(1, 3, 10));
  ir_node_id n = ct_node(g, IR_OP_CONV, 2, (ir_value_id[]){x, w}, y);
  ir_set_attr_int(g, n, "group", 3);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){1, 1}, 2);
  ir_set_attr_ints(g, n, "strides", (int64_t[]){2}, 1);
  ir_set_attr_ints(g, n, "kernel_shape", (int64_t[]){4}, 1);
  ct_io(g, 1, &x, 1, &y);
  run_graph(&ctx, g, (const void *[]){X}, (void *[]){Y});
  double want[30];
  ref_conv(&q, X, W, NULL, want);
  ct_close(Y, want, 30, 1e-5, "Conv 1-D depthwise");
  ir_graph_free(g);
}
END_TEST


START_TEST(conv_channel_blocks) {
  /* >= 8 output channels per group and constant weights: the packed,
   * channel-vectorized kernel.  24 channels in 2 groups: one full and one
   * partial block of 8 per group; plus a 1-D case */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "convb");
  conv_geo q = {.nsp = 2, .n = 2, .c = 6, .m = 24, .group = 2, .in = {9, 11}, .k = {3, 3},
                .stride = {2, 1}, .dil = {1, 2}, .pad = {1, 2}};
  q.out[0] = (9 + 1 + 1 - 3) / 2 + 1;       /* pads 1,1: 5 */
  q.out[1] = (11 + 2 + 0 - (2 * 2 + 1)) + 1; /* pads 2,0: 9 */
  conv_geo r = {.nsp = 1, .n = 1, .c = 5, .m = 9, .group = 1, .in = {30}, .out = {15}, .k = {5},
                .stride = {2}, .dil = {1}, .pad = {2}};
  ir_shape ws = SHAPE(24, 3, 3, 3), bs = SHAPE(24), ws1 = SHAPE(9, 5, 5);
  static float X[2 * 6 * 9 * 11], W[24 * 27], Bv[24], Y[2 * 24 * 5 * 9], X1[150], W1[225], Y1[135];
  ct_fill(X, 2 * 6 * 99, 21, -1, 1);
  ct_fill(W, 24 * 27, 22, -1, 1);
  ct_fill(Bv, 24, 23, -1, 1);
  ct_fill(X1, 150, 24, -1, 1);
  ct_fill(W1, 225, 25, -1, 1);
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 6, 9, 11)), x1 = ct_val(g, "x1", IR_F32, SHAPE(1, 5, 30));
  ir_value_id w = ir_add_const(g, "w", IR_F32, &ws, W, sizeof W, false);
  ir_value_id w1 = ir_add_const(g, "w1", IR_F32, &ws1, W1, sizeof W1, false);
  ir_value_id b = ir_add_const(g, "b", IR_F32, &bs, Bv, sizeof Bv, false);
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(2, 24, q.out[0], q.out[1]));
  ir_value_id y1 = ct_val(g, "y1", IR_F32, SHAPE(1, 9, 15));
  ir_node_id n = ct_node(g, IR_OP_CONV, 3, (ir_value_id[]){x, w, b}, y);
  ir_set_attr_int(g, n, "group", 2);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){1, 2, 1, 0}, 4);
  ir_set_attr_ints(g, n, "strides", (int64_t[]){2, 1}, 2);
  ir_set_attr_ints(g, n, "dilations", (int64_t[]){1, 2}, 2);
  ir_node_id n1 = ct_node(g, IR_OP_CONV, 2, (ir_value_id[]){x1, w1}, y1);
  ir_set_attr_ints(g, n1, "pads", (int64_t[]){2, 2}, 2);
  ir_set_attr_ints(g, n1, "strides", (int64_t[]){2}, 1);
  ct_io(g, 2, (ir_value_id[]){x, x1}, 2, (ir_value_id[]){y, y1});
  run_graph(&ctx, g, (const void *[]){X, X1}, (void *[]){Y, Y1});
  static double want[2 * 24 * 5 * 9];
  ref_conv(&q, X, W, Bv, want);
  ct_close(Y, want, 2 * 24 * 5 * 9, 1e-5, "Conv channel blocks");
  ref_conv(&r, X1, W1, NULL, want);
  ct_close(Y1, want, 135, 1e-5, "Conv 1-D channel blocks");
  ir_graph_free(g);
}
END_TEST

/* ---- pools --------------------------------------------------------------------------------- */
START_TEST(pools) {
  enum { H = 7, Wd = 8 };
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "pool");
  /* 3x3 windows, stride 2, pads 1: out 4x4; AveragePool also with ceil-mode sized output 4x5 */
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 3, H, Wd));
  ir_value_id mx = ct_val(g, "max", IR_F32, SHAPE(2, 3, 4, 4));
  ir_value_id idx = ct_val(g, "idx", IR_I64, SHAPE(2, 3, 4, 4));
  ir_value_id av = ct_val(g, "avg", IR_F32, SHAPE(2, 3, 4, 4));
  ir_value_id avp = ct_val(g, "avgpad", IR_F32, SHAPE(2, 3, 4, 4));
  ir_value_id gap = ct_val(g, "gap", IR_F32, SHAPE(2, 3, 1, 1));
  ir_value_id outs[5] = {mx, idx, av, avp, gap};
  ir_node_id n0 = ir_add_node(g, IR_OP_MAX_POOL, "mp", 1, &x, 2, (ir_value_id[]){mx, idx});
  ir_node_id n1 = ct_node(g, IR_OP_AVERAGE_POOL, 1, &x, av);
  ir_node_id n2 = ct_node(g, IR_OP_AVERAGE_POOL, 1, &x, avp);
  ir_set_attr_int(g, n2, "count_include_pad", 1);
  ir_node_id nodes[3] = {n0, n1, n2};
  for (int i = 0; i < 3; i++) {
    ir_set_attr_ints(g, nodes[i], "kernel_shape", (int64_t[]){3, 3}, 2);
    ir_set_attr_ints(g, nodes[i], "strides", (int64_t[]){2, 2}, 2);
    ir_set_attr_ints(g, nodes[i], "pads", (int64_t[]){1, 1, 1, 1}, 4);
  }
  ct_node(g, IR_OP_GLOBAL_AVERAGE_POOL, 1, &x, gap);
  ct_io(g, 1, &x, 5, outs);
  float X[2 * 3 * H * Wd], MX[96], AV[96], AVP[96], GAP[6];
  int64_t IDX[96];
  ct_fill(X, 2 * 3 * H * Wd, 9, -3, 3);
  run_graph(&ctx, g, (const void *[]){X}, (void *[]){MX, IDX, AV, AVP, GAP});
  double wmx[96], wav[96], wavp[96], wgap[6];
  for (int p = 0; p < 6; p++) {
    double s = 0;
    for (int i = 0; i < H * Wd; i++) s += X[p * H * Wd + i];
    wgap[p] = s / (H * Wd);
    for (int oh = 0; oh < 4; oh++)
      for (int ow = 0; ow < 4; ow++) {
        double best = -INFINITY, sum = 0;
        int64_t arg = -1, cnt = 0, cntpad = 0;
        for (int kh = 0; kh < 3; kh++)
          for (int kw = 0; kw < 3; kw++) {
            int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
            if (ih >= -1 && ih <= H && iw >= -1 && iw <= Wd) cntpad++;
            if (ih < 0 || ih >= H || iw < 0 || iw >= Wd) continue;
            int64_t at = (int64_t)p * H * Wd + ih * Wd + iw;
            cnt++;
            sum += X[at];
            if (X[at] > best) best = X[at], arg = at;
          }
        int o = p * 16 + oh * 4 + ow;
        wmx[o] = best;
        wav[o] = sum / cnt;
        wavp[o] = sum / cntpad;
        ck_assert_int_eq(IDX[o], arg);
      }
  }
  ct_close(MX, wmx, 96, 0, "MaxPool");
  ct_close(AV, wav, 96, 1e-6, "AveragePool");
  ct_close(AVP, wavp, 96, 1e-6, "AveragePool count_include_pad");
  ct_close(GAP, wgap, 6, 1e-6, "GlobalAveragePool");
  ir_graph_free(g);
}
END_TEST

/* ---- Softmax --------------------------------------------------------------------------------- */
static void ref_softmax(const float *x, double *y, int64_t outer, int64_t len, int64_t inner, bool log_) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t l = 0; l < len; l++) mx = fmax(mx, x[(o * len + l) * inner + i]);
      for (int64_t l = 0; l < len; l++) sum += exp(x[(o * len + l) * inner + i] - mx);
      for (int64_t l = 0; l < len; l++) {
        double v = x[(o * len + l) * inner + i];
        y[(o * len + l) * inner + i] = log_ ? v - mx - log(sum) : exp(v - mx) / sum;
      }
    }
}

START_TEST(softmax_axes_and_opsets) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  float X[2 * 3 * 4], Y[3][24];
  ct_fill(X, 24, 4, -5, 5);
  double want[24];
  for (int opset = 11; opset <= 13; opset += 2) {
    ir_graph *g = ir_graph_new(&ctx, "sm");
    g->opset = opset;
    ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 3, 4)), y[3];
    for (int i = 0; i < 3; i++) y[i] = ct_val(g, "y", IR_F32, SHAPE(2, 3, 4));
    ir_node_id a = ct_node(g, IR_OP_SOFTMAX, 1, &x, y[0]);
    ir_set_attr_int(g, a, "axis", 1);
    ct_node(g, IR_OP_LOG_SOFTMAX, 1, &x, y[1]); /* default axis */
    ir_node_id c = ct_node(g, IR_OP_SOFTMAX, 1, &x, y[2]);
    ir_set_attr_int(g, c, "axis", -1);
    ct_io(g, 1, &x, 3, y);
    run_graph(&ctx, g, (const void *[]){X}, (void *[]){Y[0], Y[1], Y[2]});
    if (opset >= 13) {
      ref_softmax(X, want, 2, 3, 4, false); /* along axis 1 only */
      ct_close(Y[0], want, 24, 1e-6, "Softmax axis 1 (opset 13)");
      ref_softmax(X, want, 6, 4, 1, true);
      ct_close(Y[1], want, 24, 1e-5, "LogSoftmax default axis -1 (opset 13)");
    } else {
      ref_softmax(X, want, 2, 12, 1, false); /* flattened at axis 1 */
      ct_close(Y[0], want, 24, 1e-6, "Softmax axis 1 (opset 11)");
      ref_softmax(X, want, 2, 12, 1, true); /* default axis 1 */
      ct_close(Y[1], want, 24, 1e-5, "LogSoftmax default axis 1 (opset 11)");
    }
    ref_softmax(X, want, 6, 4, 1, false);
    ct_close(Y[2], want, 24, 1e-6, "Softmax axis -1");
    ir_graph_free(g);
  }
}
END_TEST

/* Rows longer than a vector take the vector path: whole vectors, then a
 * scalar tail (37 = 2 x 16 + 5 with AVX-512, 4 x 8 + 5 with AVX2). */
START_TEST(softmax_long_rows) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  enum { R = 5, L = 37 };
  float X[R * L], Y[2][R * L];
  double want[R * L];
  ct_fill(X, R * L, 7, -30, 30);
  X[3] = -1e30f; /* e^(x - max) underflows to 0 */
  ir_graph *g = ir_graph_new(&ctx, "sm");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(R, L)), y[2];
  for (int i = 0; i < 2; i++) y[i] = ct_val(g, "y", IR_F32, SHAPE(R, L));
  ct_node(g, IR_OP_SOFTMAX, 1, &x, y[0]);
  ct_node(g, IR_OP_LOG_SOFTMAX, 1, &x, y[1]);
  ct_io(g, 1, &x, 2, y);
  run_graph(&ctx, g, (const void *[]){X}, (void *[]){Y[0], Y[1]});
  ref_softmax(X, want, R, L, 1, false);
  ct_close(Y[0], want, R * L, 1e-6, "Softmax of rows of 37");
  ref_softmax(X, want, R, L, 1, true);
  ct_close(Y[1], want, R * L, 1e-5, "LogSoftmax of rows of 37");
  ir_graph_free(g);
}
END_TEST

/* ---- data movement ------------------------------------------------------------------------ */
START_TEST(concat_transpose_and_views) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "move");
  ir_value_id a = ct_val(g, "a", IR_F32, SHAPE(2, 1, 3)), b = ct_val(g, "b", IR_F32, SHAPE(2, 2, 3));
  ir_value_id c = ct_val(g, "c", IR_F32, SHAPE(2, 3, 4, 5));
  ir_value_id cat = ct_val(g, "cat", IR_F32, SHAPE(2, 4, 3));
  ir_value_id tr = ct_val(g, "tr", IR_F32, SHAPE(2, 4, 5, 3));
  ir_value_id tr2 = ct_val(g, "tr2", IR_F32, SHAPE(5, 4, 3, 2));
  ir_value_id fl = ct_val(g, "flat", IR_F32, SHAPE(2, 60));
  ir_value_id rs = ct_val(g, "rs", IR_F32, SHAPE(24));
  ir_value_id neg = ct_val(g, "neg", IR_F32, SHAPE(24));
  ir_node_id n0 = ct_node(g, IR_OP_CONCAT, 3, (ir_value_id[]){a, b, a}, cat);
  ir_set_attr_int(g, n0, "axis", -2);
  ir_node_id n1 = ct_node(g, IR_OP_TRANSPOSE, 1, &c, tr);
  ir_set_attr_ints(g, n1, "perm", (int64_t[]){0, 2, 3, 1}, 4);
  ct_node(g, IR_OP_TRANSPOSE, 1, &c, tr2); /* default: reverse */
  ct_node(g, IR_OP_FLATTEN, 1, &c, fl);   /* a view that is a graph output: copied */
  ct_node(g, IR_OP_RESHAPE, 1, &cat, rs); /* a view read by a node */
  ct_node(g, IR_OP_NEG, 1, &rs, neg);
  /* outputs: also input c itself and `cat` twice */
  ir_value_id outs[] = {cat, tr, tr2, fl, neg, c, cat};
  ct_io(g, 3, (ir_value_id[]){a, b, c}, 7, outs);
  float A[6], B[12], C[120], CAT[24], TR[120], TR2[120], FL[120], NEG[24], CC[120], CAT2[24];
  ct_fill(A, 6, 1, -1, 1);
  ct_fill(B, 12, 2, -1, 1);
  ct_fill(C, 120, 3, -1, 1);
  run_graph(&ctx, g, (const void *[]){A, B, C}, (void *[]){CAT, TR, TR2, FL, NEG, CC, CAT2});
  for (int n = 0; n < 2; n++)
    for (int r = 0; r < 4; r++)
      for (int k = 0; k < 3; k++) {
        float want = r == 0 || r == 3 ? A[n * 3 + k] : B[(n * 2 + r - 1) * 3 + k];
        ck_assert(CAT[(n * 4 + r) * 3 + k] == want);
      }
  for (int i = 0; i < 24; i++) {
    ck_assert(NEG[i] == -CAT[i]);
    ck_assert(CAT2[i] == CAT[i]);
  }
  for (int n = 0; n < 2; n++)
    for (int ch = 0; ch < 3; ch++)
      for (int h = 0; h < 4; h++)
        for (int w = 0; w < 5; w++) {
          float v = C[((n * 3 + ch) * 4 + h) * 5 + w];
          ck_assert(TR[((n * 4 + h) * 5 + w) * 3 + ch] == v);
          ck_assert(TR2[((w * 4 + h) * 3 + ch) * 2 + n] == v);
        }
  ck_assert(!memcmp(FL, C, sizeof C));
  ck_assert(!memcmp(CC, C, sizeof C));
  ir_graph_free(g);
}
END_TEST

START_TEST(concat_int64_repeated_input) {
  /* Concat(a, b, a) along axis 1: the last block repeats a */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "cat");
  ir_value_id a = ct_val(g, "a", IR_I64, SHAPE(2, 1)), b = ct_val(g, "b", IR_I64, SHAPE(2, 2));
  ir_value_id y = ct_val(g, "y", IR_I64, SHAPE(2, 4));
  ir_node_id n = ct_node(g, IR_OP_CONCAT, 3, (ir_value_id[]){a, b, a}, y);
  ir_set_attr_int(g, n, "axis", 1);
  ct_io(g, 2, (ir_value_id[]){a, b}, 1, &y);
  int64_t A[2] = {1, 2}, B[4] = {10, 11, 20, 21}, Y[8];
  run_graph(&ctx, g, (const void *[]){A, B}, (void *[]){Y});
  int64_t want[8] = {1, 10, 11, 1, 2, 20, 21, 2};
  for (int i = 0; i < 8; i++) ck_assert_int_eq(Y[i], want[i]);
  ir_graph_free(g);
}
END_TEST


/* ---- through the importer and the pass pipeline ------------------------------------------ */
START_TEST(onnx_model_end_to_end) {
  /* x [N,3,8,8] (N symbolic, fixed by a shape override) -> Conv(16, 3x3, pad 1) -> Relu
   * -> GlobalAveragePool -> Flatten -> Gemm(transB, constant) -> Softmax */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  static float W[16 * 3 * 9], Bc[16], Wg[5 * 16], Bg[5], X[2 * 3 * 64], Y[2 * 5];
  ct_fill(W, 16 * 27, 31, -0.5f, 0.5f);
  ct_fill(Bc, 16, 32, -0.5f, 0.5f);
  ct_fill(Wg, 80, 33, -1, 1);
  ct_fill(Bg, 5, 34, -1, 1);
  ct_fill(X, 2 * 3 * 64, 35, -1, 1);
  Onnx__ModelProto *m = ob_model(17);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "x", 1, "N,3,8,8");
  ob_output(gp, "probs", 1, "N,5");
  ob_initializer(gp, ob_tensor("w", 1, "16,3,3,3", W, sizeof W));
  ob_initializer(gp, ob_tensor("bc", 1, "16", Bc, sizeof Bc));
  ob_initializer(gp, ob_tensor("wg", 1, "5,16", Wg, sizeof Wg));
  ob_initializer(gp, ob_tensor("bg", 1, "5", Bg, sizeof Bg));
  Onnx__NodeProto *conv = ob_node(gp, "Conv", "conv", "x,w,bc", "c");
  ob_attr_ints(conv, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ob_attr_ints(conv, "kernel_shape", (int64_t[]){3, 3}, 2);
  ob_node(gp, "Relu", "relu", "c", "r");
  ob_node(gp, "GlobalAveragePool", "gap", "r", "p");
  ob_node(gp, "Flatten", "flat", "p", "f");
  Onnx__NodeProto *gemm = ob_node(gp, "Gemm", "fc", "f,wg,bg", "logits");
  ob_attr_int(gemm, "transB", 1);
  ob_node(gp, "Softmax", "softmax", "logits", "probs");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_msg(g, "%s", ctx.last_error);
  kiln_options opt;
  kiln_options_init(&opt);
  kiln_shape_override shape = {.input = "x", .rank = 4, .dims = {2, 3, 8, 8}};
  opt.shapes = &shape;
  opt.num_shapes = 1;
  ck_assert_msg(kiln_run_passes(&ctx, g, &opt) == KILN_OK, "%s", ctx.last_error);
  cg_jit *j = NULL;
  ck_assert_msg(cg_jit_compile(&ctx, g, &opt, "e2e", &j) == KILN_OK, "%s", ctx.last_error);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){X}, (void *[]){Y}, 2), KILN_OK);
  ck_assert_int_eq(cg_jit_model(j)->inputs[0].shape[0], 2);
  cg_jit_free(j);

  conv_geo q = {.nsp = 2, .n = 2, .c = 3, .m = 16, .group = 1, .in = {8, 8}, .out = {8, 8},
                .k = {3, 3}, .stride = {1, 1}, .dil = {1, 1}, .pad = {1, 1}};
  static double c[2 * 16 * 64];
  ref_conv(&q, X, W, Bc, c);
  double want[10];
  for (int n = 0; n < 2; n++) {
    double pooled[16], logits[5], mx = -INFINITY, sum = 0;
    for (int ch = 0; ch < 16; ch++) {
      double acc = 0;
      for (int i = 0; i < 64; i++) acc += fmax(0, c[(n * 16 + ch) * 64 + i]);
      pooled[ch] = acc / 64;
    }
    for (int o = 0; o < 5; o++) {
      logits[o] = Bg[o];
      for (int ch = 0; ch < 16; ch++) logits[o] += pooled[ch] * Wg[o * 16 + ch];
      mx = fmax(mx, logits[o]);
    }
    for (int o = 0; o < 5; o++) sum += exp(logits[o] - mx);
    for (int o = 0; o < 5; o++) want[n * 5 + o] = exp(logits[o] - mx) / sum;
  }
  ct_close(Y, want, 10, 1e-5, "model");
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("codegen_ops");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, matmul_batched_and_1d);
  tcase_add_test(tc, gemm_transposes_and_bias);
  tcase_add_test(tc, conv_2d_groups_pads_strides_dilations);
  tcase_add_test(tc, conv_1d_depthwise);
  tcase_add_test(tc, conv_channel_blocks);
  tcase_add_test(tc, pools);
  tcase_add_test(tc, softmax_axes_and_opsets);
  tcase_add_test(tc, softmax_long_rows);
  tcase_add_test(tc, concat_transpose_and_views);
  tcase_add_test(tc, concat_int64_repeated_input);
  tcase_add_test(tc, onnx_model_end_to_end);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
