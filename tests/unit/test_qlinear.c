/*
 * test_qlinear.c — kiln's integer arithmetic (compiler/ir/qmath.h) and its
 * reference lowering (lower_qlinear.c): kiln.QConv and kiln.QMatMul
 * against a C rendering of the spec on awkward shapes (odd extents,
 * groups, strides, dilations, padding), on saturating values (inputs all
 * 255, weights all -128 or 127, zero points at both ends), with fused
 * clamps, and bit-identical for 1 and 3 threads; kiln.QAdd on every pair
 * of byte values.
 */
#include <check.h>
#include <stdint.h>

#include "cgtest.h"
#include "kernels/gemm_int8.h"
#include "qmath.h"

/* The dyadic multiplier approximates the real one to 2^-30 relative. */
START_TEST(requant_matches_real_product) {
  uint32_t s = 7;
  for (int i = 0; i < 200000; i++) {
    s = s * 1664525u + 1013904223u;
    double m = ldexp(1.0 + (s >> 8) / 16777216.0, (int)(s % 40) - 36); /* 2^-36 .. 2^4 */
    s = s * 1664525u + 1013904223u;
    int32_t acc = (int32_t)s >> (s % 17);
    kiln_requant r = kiln_requant_from_real(m);
    ck_assert(r.shift >= 1 && r.shift <= 62);
    ck_assert(r.mult == 0 || (r.mult >= (1 << 30)));
    int32_t got = kiln_requant_apply(acc, r, 0, INT32_MIN, INT32_MAX);
    double exact = (double)acc * m;
    if (fabs(exact) < 2e9)
      ck_assert_msg(fabs(got - exact) <= 0.5 + fabs(exact) * ldexp(1, -30) + 1e-9,
                    "acc %d m %g: got %d, exact %.3f", acc, m, got, exact);
  }
  /* half-way cases round up (toward +infinity) */
  kiln_requant half = kiln_requant_from_real(0.5);
  ck_assert_int_eq(kiln_requant_apply(3, half, 0, -1000, 1000), 2);
  ck_assert_int_eq(kiln_requant_apply(-3, half, 0, -1000, 1000), -1);
  /* saturation at both ends of uint8 and at the int32 extremes */
  kiln_requant one = kiln_requant_from_real(1.0);
  ck_assert_int_eq(kiln_requant_apply(INT32_MAX, one, 10, 0, 255), 255);
  ck_assert_int_eq(kiln_requant_apply(INT32_MIN, one, 10, 0, 255), 0);
  ck_assert_int_eq(kiln_requant_apply(-10, one, 10, 0, 255), 0);
  ck_assert_int_eq(kiln_requant_apply(245, one, 10, 0, 255), 255);
  ck_assert_int_eq(kiln_requant_apply(INT32_MAX, kiln_requant_from_real(1e-12), 7, 0, 255), 7);
}
END_TEST

START_TEST(activation_and_weight_params) {
  float s;
  int32_t z;
  kiln_quant_params_u8(-1.0, 3.0, &s, &z);
  ck_assert_float_eq_tol(s, 4.0f / 255, 1e-9);
  ck_assert_int_eq(z, 64); /* round(1 / (4/255)) = round(63.75) */
  kiln_quant_params_u8(0.5, 2.0, &s, &z); /* widened to contain 0 */
  ck_assert_int_eq(z, 0);
  ck_assert_float_eq_tol(s, 2.0f / 255, 1e-9);
  kiln_quant_params_u8(-2.0, -1.0, &s, &z);
  ck_assert_int_eq(z, 255);
  kiln_quant_params_u8(0, 0, &s, &z); /* an all-zero tensor */
  ck_assert(s == 1.0f && z == 0);
  float ws = kiln_weight_scale(2.54);
  ck_assert_int_eq(kiln_quant_weight(2.54f, ws), 127);
  ck_assert_int_eq(kiln_quant_weight(-2.54f, ws), -127);
  ck_assert_int_eq(kiln_quant_weight(-9.0f, ws), -127); /* never -128 */
  ck_assert_int_eq(kiln_quant_bias(1e30, 1e-6), 2147483647);
}
END_TEST

/* ---- the lowering against the spec ------------------------------------------- */
static ir_quant *qt(ir_graph *g, ir_quant_kind kind, int axis, int64_t count, const float *scales,
                    const int32_t *zps) {
  ir_quant *q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = kind;
  q->axis = axis;
  q->count = count;
  q->scales = ir_arena_dup(&g->arena, scales, (size_t)count * sizeof *scales);
  q->zero_points = zps ? ir_arena_dup(&g->arena, zps, (size_t)count * sizeof *zps) : NULL;
  return q;
}

typedef struct conv_case {
  int64_t N, C, H, W, M, KH, KW, group, stride, dil, pad;
  int32_t zx, zy, act_min, act_max;
  int fill;              /* 0 random, 1 x all 255 and w all -128, 2 x all 255 and w all 127 */
  const char *schedule;  /* the node's `schedule`: NULL default (the packed kernel when it
                          * applies), "reference" the plain loops, or a kernel schedule */
  bool per_tensor;       /* one weight scale instead of one per output channel */
} conv_case;

/* Fills x, w, b; runs QConv through the JIT at 1 and 3 threads and checks
 * every element against the spec. */
static void run_conv(const conv_case *c) {
  kiln_ctx ctx;
  kiln_ctx_init(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "qconv");
  int64_t Cg = c->C / c->group;
  int64_t OH = (c->H + 2 * c->pad - c->dil * (c->KH - 1) - 1) / c->stride + 1;
  int64_t OW = (c->W + 2 * c->pad - c->dil * (c->KW - 1) - 1) / c->stride + 1;
  int64_t nx = c->N * c->C * c->H * c->W, nw = c->M * Cg * c->KH * c->KW, ny = c->N * c->M * OH * OW;
  uint8_t *x = malloc((size_t)nx);
  int8_t *w = malloc((size_t)nw);
  int32_t *b = malloc((size_t)c->M * 4);
  float *sw = malloc((size_t)c->M * 4);
  uint32_t s = 99;
  for (int64_t i = 0; i < nx; i++) x[i] = c->fill ? 255 : (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t i = 0; i < nw; i++)
    w[i] = c->fill == 1 ? -128 : c->fill == 2 ? 127 : (int8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t m = 0; m < c->M; m++) {
    b[m] = (int32_t)((s = s * 1664525u + 1013904223u) >> 20) - 2048;
    sw[m] = 0.001f * (float)(1 + m % 5);
  }
  float sx = 0.02f, sy = 0.5f;
  ir_shape xs = SHAPE(c->N, c->C, c->H, c->W), ws = SHAPE(c->M, Cg, c->KH, c->KW), bs = SHAPE(c->M);
  ir_value_id xv = ct_val(g, "x", IR_U8, xs), yv = ct_val(g, "y", IR_U8, SHAPE(c->N, c->M, OH, OW));
  ir_value_id wv = ir_add_const(g, "w", IR_I8, &ws, w, nw, false);
  float sb[64];
  for (int64_t m = 0; m < c->M; m++) sb[m] = sx * sw[m];
  ir_value_id bv = ir_add_const(g, "b", IR_I32, &bs, b, c->M * 4, false);
  g->values[xv].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sx, &c->zx);
  g->values[yv].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sy, &c->zy);
  if (c->per_tensor)
    for (int64_t m = 0; m < c->M; m++) sw[m] = sw[0], sb[m] = sb[0];
  g->values[wv].quant = c->per_tensor ? qt(g, IR_QUANT_TENSOR, 0, 1, sw, NULL) : qt(g, IR_QUANT_CHANNEL, 0, c->M, sw, NULL);
  g->values[bv].quant = qt(g, IR_QUANT_CHANNEL, 0, c->M, sb, NULL);
  ct_io(g, 1, &xv, 1, &yv);
  ir_value_id ins[3] = {xv, wv, bv};
  ir_node_id n = ct_node(g, IR_OP_QCONV, 3, ins, yv);
  int64_t k2[2] = {c->KH, c->KW}, st2[2] = {c->stride, c->stride}, d2[2] = {c->dil, c->dil};
  int64_t p4[4] = {c->pad, c->pad, c->pad, c->pad};
  ir_set_attr_ints(g, n, "kernel_shape", k2, 2);
  ir_set_attr_ints(g, n, "strides", st2, 2);
  ir_set_attr_ints(g, n, "dilations", d2, 2);
  ir_set_attr_ints(g, n, "pads", p4, 4);
  ir_set_attr_int(g, n, "group", c->group);
  ir_set_attr_int(g, n, "act_min", c->act_min);
  ir_set_attr_int(g, n, "act_max", c->act_max);
  if (c->schedule) ir_set_attr_string(g, n, "schedule", c->schedule);
  cg_jit *j = ct_jit(&ctx, g);
  uint8_t *y1 = malloc((size_t)ny), *y3 = malloc((size_t)ny);
  const void *in[1] = {x};
  void *out1[1] = {y1}, *out3[1] = {y3};
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, out1, 1), KILN_OK);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, out3, 3), KILN_OK);
  ck_assert(!memcmp(y1, y3, (size_t)ny));
  int64_t saturated = 0;
  for (int64_t nn = 0; nn < c->N; nn++)
    for (int64_t m = 0; m < c->M; m++) {
      kiln_requant r = kiln_requant_from_real((double)sx * sw[m] / sy);
      int64_t gidx = m / (c->M / c->group);
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          int32_t acc = b[m];
          for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t kh = 0; kh < c->KH; kh++)
              for (int64_t kw = 0; kw < c->KW; kw++) {
                int64_t ih = oh * c->stride + kh * c->dil - c->pad, iw = ow * c->stride + kw * c->dil - c->pad;
                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                int32_t xv8 = x[((nn * c->C + gidx * Cg + ci) * c->H + ih) * c->W + iw];
                acc += (xv8 - c->zx) * w[((m * Cg + ci) * c->KH + kh) * c->KW + kw];
              }
          int32_t want = kiln_requant_apply(acc, r, c->zy, c->act_min, c->act_max);
          int64_t at = ((nn * c->M + m) * OH + oh) * OW + ow;
          saturated += want == c->act_min || want == c->act_max;
          ck_assert_msg(y1[at] == want, "%s: y[%lld] = %d, spec %d (acc %d)",
                        c->schedule ? c->schedule : "default", (long long)at, y1[at], want, acc);
        }
    }
  if (c->fill) ck_assert_int_gt(saturated, 0);
  cg_jit_free(j);
  ir_graph_free(g);
  free(x), free(w), free(b), free(sw), free(y1), free(y3);
}

START_TEST(qconv_shapes_and_saturation) {
  static const conv_case cases[] = {
      {1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 128, 100, 0, 255, 0, NULL, false},
      {2, 6, 9, 8, 6, 3, 2, 3, 2, 1, 0, 7, 0, 0, 255, 0, NULL, false},     /* groups, stride, no pad */
      {1, 4, 8, 8, 8, 3, 3, 4, 1, 2, 2, 0, 3, 3, 255, 0, NULL, false},     /* depthwise-ish, dilation, fused Relu */
      {1, 5, 6, 6, 3, 1, 1, 1, 1, 1, 0, 255, 128, 20, 200, 0, NULL, false}, /* 1x1, clamp */
      {1, 16, 5, 5, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 255, 1, NULL, false},    /* all 255 x all -128: saturates low */
      {1, 16, 5, 5, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 255, 2, NULL, false},    /* all 255 x all 127: saturates high */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_conv(&cases[i]);
}
END_TEST

/* QMatMul of A [2, M, K] by B [K, N] under `schedule` (as conv_case),
 * against the spec, at 1 and 3 threads. */
static void run_matmul(int64_t M, int64_t K, int64_t N, int fill, int32_t za, const char *schedule) {
  kiln_ctx ctx;
  kiln_ctx_init(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "qmm");
  uint8_t *a = malloc((size_t)(2 * M * K));
  int8_t *bw = malloc((size_t)(K * N));
  int32_t *bias = malloc((size_t)N * 4);
  float *sw = malloc((size_t)N * 4), *sb = malloc((size_t)N * 4);
  uint32_t s = 5 + (uint32_t)(M * 31 + K * 7 + N);
  for (int64_t i = 0; i < 2 * M * K; i++) a[i] = fill ? 255 : (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t i = 0; i < K * N; i++)
    bw[i] = fill == 1 ? -128 : fill == 2 ? 127 : (int8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t j = 0; j < N; j++) {
    bias[j] = (int32_t)((s = s * 1664525u + 1013904223u) >> 22) - 512;
    sw[j] = 0.002f * (float)(1 + j % 3);
  }
  float sa = 0.05f, sy = 0.25f;
  int32_t zy = 60;
  for (int64_t j = 0; j < N; j++) sb[j] = sa * sw[j];
  ir_shape bs = SHAPE(K, N), cs = SHAPE(N);
  ir_value_id av = ct_val(g, "a", IR_U8, SHAPE(2, M, K)), yv = ct_val(g, "y", IR_U8, SHAPE(2, M, N));
  ir_value_id bv = ir_add_const(g, "b", IR_I8, &bs, bw, K * N, false);
  ir_value_id cv = ir_add_const(g, "c", IR_I32, &cs, bias, N * 4, false);
  g->values[av].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sa, &za);
  g->values[yv].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sy, &zy);
  g->values[bv].quant = qt(g, IR_QUANT_CHANNEL, 1, N, sw, NULL);
  g->values[cv].quant = qt(g, IR_QUANT_CHANNEL, 0, N, sb, NULL);
  ct_io(g, 1, &av, 1, &yv);
  ir_value_id ins[3] = {av, bv, cv};
  ir_node_id n = ct_node(g, IR_OP_QMAT_MUL, 3, ins, yv);
  if (schedule) ir_set_attr_string(g, n, "schedule", schedule);
  cg_jit *j = ct_jit(&ctx, g);
  uint8_t *y1 = malloc((size_t)(2 * M * N)), *y3 = malloc((size_t)(2 * M * N));
  const void *in[1] = {a};
  void *o1[1] = {y1}, *o3[1] = {y3};
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, o1, 1), KILN_OK);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, o3, 3), KILN_OK);
  ck_assert(!memcmp(y1, y3, (size_t)(2 * M * N)));
  for (int64_t row = 0; row < 2 * M; row++)
    for (int64_t jj = 0; jj < N; jj++) {
      int32_t acc = bias[jj];
      for (int64_t k = 0; k < K; k++) acc += (a[row * K + k] - za) * bw[k * N + jj];
      int32_t want = kiln_requant_apply(acc, kiln_requant_from_real((double)sa * sw[jj] / sy), zy, 0, 255);
      ck_assert_msg(y1[row * N + jj] == want, "%s %lldx%lldx%lld fill %d: y[%lld,%lld] = %d, spec %d",
                    schedule ? schedule : "default", (long long)M, (long long)K, (long long)N, fill,
                    (long long)row, (long long)jj, y1[row * N + jj], want);
    }
  cg_jit_free(j);
  ir_graph_free(g);
  free(a), free(bw), free(bias), free(sw), free(sb), free(y1), free(y3);
}

START_TEST(qmatmul_shapes_and_saturation) {
  static const int64_t dims[][3] = {{1, 1, 1}, {3, 17, 5}, {7, 64, 33}, {2, 300, 3}};
  for (int fill = 0; fill < 3; fill++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
      run_matmul(dims[d][0], dims[d][1], dims[d][2], fill, fill ? 0 : 131, NULL);
}
END_TEST

/* The packed kernel (kernels/gemm_int8.c) on every edge: M, N, K not
 * multiples of the register block (rows, columns, 4-byte k groups), the
 * im2col padding with the zero point, 1x1 and strided windows, groups,
 * per-tensor and per-channel weights; under the default schedule (VNNI
 * where the host has it), a tiny generic-path schedule (4 lanes) that
 * makes many items and tails, the reference loops, and an 8-lane schedule
 * (256-bit vpdpbusd where the host has AVX-VNNI or AVX-512 VNNI with VL,
 * else the generic path again). */
static const char *const kernel_schedules[] = {NULL, "lanes=4 mr=3 nr=8 mc=6 nc=16", "reference",
                                               "lanes=8 mr=5 nr=16 mc=10 nc=32"};

START_TEST(qconv_kernel_edges) {
  static const int64_t geo[][4] = {{1, 1, 0, 1}, {3, 1, 1, 1}, {3, 2, 1, 1}, {1, 2, 0, 1}, {3, 1, 2, 2}};
  static const int64_t hw[][2] = {{5, 7}, {9, 9}};
  static const int32_t zps[] = {0, 77, 255};
  int idx = 0;
  for (size_t sc = 0; sc < 4; sc++)
    for (int64_t M = 4; M <= 13; M += 9)
      for (int64_t C = 1; C <= 5; C += 4)
        for (size_t h = 0; h < 2; h++)
          for (size_t q = 0; q < sizeof geo / sizeof geo[0]; q++, idx++) {
            conv_case c = {1 + (idx % 7 == 0), C, hw[h][0], hw[h][1], M, geo[q][0], geo[q][0], 1,
                           geo[q][1], geo[q][3], geo[q][2], zps[idx % 3], 3 + idx % 250, 0, 255, 0,
                           kernel_schedules[sc], idx % 2 == 1};
            run_conv(&c);
          }
  /* groups with at least 4 channels each take the kernel too */
  for (size_t sc = 0; sc < 4; sc++) {
    conv_case c = {2, 8, 6, 5, 10, 3, 3, 2, 1, 1, 1, 19, 40, 0, 255, 0, kernel_schedules[sc], false};
    run_conv(&c);
  }
}
END_TEST

/* Channels per group a multiple of 4: on AVX-512BW hosts the kernel packs
 * KxK and strided windows tap by tap with K ordered (kh, kw, c), in
 * chunks of 64 channels (68 and 132 leave short chunks), and interleaves
 * pointwise planes in place (49 and 35 columns end in partial chunks at
 * the end of the tensor).  Elsewhere these take the (c, kh, kw) packing,
 * which the same spec checks. */
START_TEST(qconv_kernel_tap_major) {
  static const conv_case cases[] = {
      {1, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 77, 5, 0, 255, 0, NULL, false},
      {1, 68, 7, 7, 20, 3, 3, 1, 1, 1, 1, 13, 100, 0, 255, 0, NULL, true},
      {2, 132, 9, 8, 17, 3, 3, 1, 2, 1, 1, 200, 60, 0, 255, 0, NULL, false},   /* stride 2, 2 images */
      {1, 16, 11, 10, 9, 3, 3, 1, 1, 2, 2, 0, 0, 0, 255, 0, NULL, false},      /* dilation 2 */
      {1, 24, 9, 9, 16, 5, 5, 2, 2, 1, 2, 31, 9, 0, 255, 0, NULL, false},      /* 5x5, groups of 12 */
      {1, 64, 14, 14, 24, 1, 1, 1, 2, 1, 0, 7, 3, 0, 255, 0, NULL, false},     /* strided 1x1 */
      {1, 72, 7, 7, 40, 1, 1, 1, 1, 1, 0, 90, 128, 0, 255, 0, NULL, false},    /* pointwise, 49 columns */
      {2, 16, 5, 7, 8, 1, 1, 2, 1, 1, 0, 255, 1, 0, 255, 0, NULL, true},       /* pointwise, groups */
      {1, 68, 7, 7, 20, 3, 3, 1, 1, 1, 1, 13, 100, 0, 255, 1, NULL, false},    /* saturating low */
      {1, 68, 7, 7, 20, 3, 3, 1, 1, 1, 1, 0, 0, 0, 255, 2, NULL, false},       /* saturating high */
  };
  for (size_t sc = 0; sc < 4; sc++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && sc != 2; i++) {
      conv_case c = cases[i];
      c.schedule = kernel_schedules[sc];
      run_conv(&c);
    }
}
END_TEST

/* The int8 schedule API that reorder-layout and kiln tune use: the
 * default passes its own check on every target width, VNNI or not, for
 * shapes with tails; schedules the kernel cannot run are refused. */
START_TEST(qgemm_schedule_default_and_check) {
  static const cg_target_caps caps[] = {
      {.vector_bits = 512, .vector_regs = 32, .fma = true, .int8_dot = 16},
      {.vector_bits = 256, .vector_regs = 16, .fma = true, .int8_dot = 8},
      {.vector_bits = 512, .vector_regs = 32, .fma = true},
      {.vector_bits = 256, .vector_regs = 16, .fma = true},
      {.vector_bits = 128, .vector_regs = 32, .fma = true},
  };
  static const int64_t shapes[][4] = {{64, 12544, 147, 1}, {512, 49, 4608, 1}, {5, 7, 3, 2},
                                      {2048, 1, 1, 1}, {4, 3136, 64, 6}};
  for (size_t c = 0; c < 5; c++)
    for (size_t i = 0; i < 5; i++) {
      cg_qgemm_shape sh = {shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]};
      cg_schedule sc;
      cg_qgemm_schedule_default(&caps[c], &sh, &sc);
      const char *why = cg_qgemm_schedule_check(&caps[c], &sh, &sc);
      ck_assert_msg(!why, "caps %zu shape %zu: default refused: %s", c, i, why);
      ck_assert_int_eq(sc.lanes, caps[c].int8_dot ? caps[c].int8_dot : caps[c].vector_bits / 32);
      /* the accumulators, the image vectors and a broadcast fit the registers */
      ck_assert_int_le(sc.mr * (sc.nr / sc.lanes) + sc.nr / sc.lanes + 1, caps[c].vector_regs);
      ck_assert_int_eq(sc.kc, (sh.K + 3) / 4 * 4);
      cg_schedule bad = sc;
      bad.mr = 17;
      ck_assert_ptr_nonnull(cg_qgemm_schedule_check(&caps[c], &sh, &bad));
      bad = sc, bad.nr = sc.lanes * 5, bad.nc = bad.nr;
      ck_assert_ptr_nonnull(cg_qgemm_schedule_check(&caps[c], &sh, &bad));
      bad = sc, bad.kc = sc.kc + 4;
      ck_assert_ptr_nonnull(cg_qgemm_schedule_check(&caps[c], &sh, &bad));
      bad = sc, bad.mc = sc.mr + 1;
      ck_assert_ptr_nonnull(cg_qgemm_schedule_check(&caps[c], &sh, &bad));
      bad = sc, bad.conv = CG_CONV_DIRECT;
      ck_assert_ptr_nonnull(cg_qgemm_schedule_check(&caps[c], &sh, &bad));
    }
}
END_TEST

START_TEST(qconv_kernel_saturation) {
  for (size_t sc = 0; sc < 4; sc++)
    for (int fill = 1; fill <= 2; fill++)
      for (int pt = 0; pt < 2; pt++) {
        conv_case c = {1, 37, 6, 6, 9, 3, 3, 1, 1, 1, 1, 0, 0, 0, 255, fill, kernel_schedules[sc], pt};
        run_conv(&c);
        conv_case d = {1, 64, 4, 4, 20, 1, 1, 1, 1, 1, 0, 255, 255, 5, 250, fill, kernel_schedules[sc], pt};
        run_conv(&d);
      }
}
END_TEST

START_TEST(qmatmul_kernel_edges) {
  static const int64_t dims[][3] = {{1, 1, 1}, {1, 5, 17}, {4, 3, 16}, {5, 8, 49}, {9, 33, 50}, {2, 131, 7}};
  for (size_t sc = 0; sc < 4; sc++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
      for (int fill = 0; fill < 3; fill++)
        run_matmul(dims[d][0], dims[d][1], dims[d][2], fill, fill == 1 ? 255 : (int32_t)(d * 40), kernel_schedules[sc]);
}
END_TEST


/* ---- kiln.QAdd ------------------------------------------------------------------ */
/* One shift for both multipliers, each within 2^-20 of the real ratio;
 * ratios the int32 lanes cannot hold are refused. */
START_TEST(qadd_pair_multipliers) {
  static const double ratios[][2] = {{1, 1}, {0.37, 2.9}, {0.001, 0.5}, {700, 3}, {0.0011, 0.0009}};
  for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
    int32_t ma, mb, sh;
    ck_assert(kiln_requant_pair(ratios[i][0], ratios[i][1], &ma, &mb, &sh));
    ck_assert(sh >= 1 && sh <= 30);
    ck_assert(ma < (1 << 21) && mb < (1 << 21) && (ma >= (1 << 20) || mb >= (1 << 20)));
    ck_assert(fabs(ldexp(ma, -sh) - ratios[i][0]) <= ldexp(1, -sh));
    ck_assert(fabs(ldexp(mb, -sh) - ratios[i][1]) <= ldexp(1, -sh));
  }
  int32_t ma, mb, sh;
  ck_assert(!kiln_requant_pair(2000, 1, &ma, &mb, &sh));
  ck_assert(!kiln_requant_pair(1e-4, 1e-5, &ma, &mb, &sh));
  ck_assert(!kiln_requant_pair(0, 1, &ma, &mb, &sh));
}
END_TEST

/* Every pair of byte values (a [256, 256] grid: a = row, b = column),
 * against kiln_qadd_apply and within one step of the real-valued result,
 * bit-identical at 1 and 3 threads; zero points at both ends and inside,
 * with and without a fused Relu clamp. */
static void run_qadd(float sa, int32_t za, float sb, int32_t zb, float sy, int32_t zy, int32_t lo, int32_t hi) {
  kiln_ctx ctx;
  kiln_ctx_init(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "qadd");
  ir_value_id av = ct_val(g, "a", IR_U8, SHAPE(256, 256)), bv = ct_val(g, "b", IR_U8, SHAPE(256, 256));
  ir_value_id yv = ct_val(g, "y", IR_U8, SHAPE(256, 256));
  g->values[av].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sa, &za);
  g->values[bv].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sb, &zb);
  g->values[yv].quant = qt(g, IR_QUANT_TENSOR, 0, 1, &sy, &zy);
  ir_value_id ins[2] = {av, bv};
  ct_io(g, 2, ins, 1, &yv);
  ir_node_id n = ct_node(g, IR_OP_QADD, 2, ins, yv);
  ir_set_attr_int(g, n, "act_min", lo);
  ir_set_attr_int(g, n, "act_max", hi);
  cg_jit *j = ct_jit(&ctx, g);
  static uint8_t a[65536], b[65536], y1[65536], y3[65536];
  for (int i = 0; i < 65536; i++) a[i] = (uint8_t)(i >> 8), b[i] = (uint8_t)i;
  const void *in[2] = {a, b};
  void *o1[1] = {y1}, *o3[1] = {y3};
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, o1, 1), KILN_OK);
  ck_assert_int_eq(ct_run(cg_jit_model(j), in, o3, 3), KILN_OK);
  ck_assert(!memcmp(y1, y3, sizeof y1));
  int32_t ma, mb, sh;
  ck_assert(kiln_requant_pair((double)sa / sy, (double)sb / sy, &ma, &mb, &sh));
  for (int i = 0; i < 65536; i++) {
    int32_t want = kiln_qadd_apply(a[i], b[i], za, zb, ma, mb, sh, zy, lo, hi);
    ck_assert_msg(y1[i] == want, "a %d b %d: y %d, spec %d", a[i], b[i], y1[i], want);
    double real = zy + nearbyint(((double)sa * (a[i] - za) + (double)sb * (b[i] - zb)) / sy);
    real = real < lo ? lo : real > hi ? hi : real;
    ck_assert_msg(fabs(y1[i] - real) <= 1, "a %d b %d: y %d, real %g", a[i], b[i], y1[i], real);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}

START_TEST(qadd_every_byte_pair) {
  run_qadd(0.02f, 0, 0.05f, 255, 0.06f, 7, 0, 255);
  run_qadd(0.1f, 128, 0.003f, 3, 0.0125f, 255, 0, 255);   /* sums far past both ends */
  run_qadd(0.04f, 17, 0.04f, 200, 0.05f, 90, 90, 255);   /* a fused Relu: clamp at zy */
  run_qadd(1.0f, 255, 1.0f, 255, 0.25f, 0, 0, 255);       /* multipliers near 2^2 */
}
END_TEST

int main(void) {
  Suite *s = suite_create("qlinear");
  TCase *tc = tcase_create("qlinear");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, requant_matches_real_product);
  tcase_add_test(tc, activation_and_weight_params);
  tcase_add_test(tc, qconv_shapes_and_saturation);
  tcase_add_test(tc, qmatmul_shapes_and_saturation);
  tcase_add_test(tc, qconv_kernel_edges);
  tcase_add_test(tc, qconv_kernel_saturation);
  tcase_add_test(tc, qconv_kernel_tap_major);
  tcase_add_test(tc, qgemm_schedule_default_and_check);
  tcase_add_test(tc, qmatmul_kernel_edges);
  tcase_add_test(tc, qadd_pair_multipliers);
  tcase_add_test(tc, qadd_every_byte_pair);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
