/*
 * test_codegen_dtypes.c — dtype coverage and general semantics of the
 * elementwise lowerings that the ONNX backend suite exercises: optional
 * inputs left out (Clip with x alone), half-precision types computed
 * through f32, integer Pow, casts between every pair of dtypes, ...
 *
 * Each test builds a graph with the IR API, JITs it and compares with a C
 * reference computed here.  Float results within 1e-6 * (1 + |want|)
 * unless a test says otherwise.
 */
#include <stdio.h>

#include "cgtest.h"
#include "onnx/onnx.h"
#include "onnx_build.h"
#include "passes.h"
#include "text.h"

/* ---- optional inputs ---------------------------------------------------------------- */
START_TEST(clip_without_min_or_max) {
  /* Clip(x), Clip(x, min) and Clip(x, , max): the omitted bounds do not clamp */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "clip");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 5)), lo = ct_val(g, "lo", IR_F32, SHAPE());
  ir_value_id hi = ct_val(g, "hi", IR_F32, SHAPE());
  ir_value_id y0 = ct_val(g, "y0", IR_F32, SHAPE(2, 5)), y1 = ct_val(g, "y1", IR_F32, SHAPE(2, 5));
  ir_value_id y2 = ct_val(g, "y2", IR_F32, SHAPE(2, 5));
  ct_node(g, IR_OP_CLIP, 1, &x, y0);
  ct_node(g, IR_OP_CLIP, 2, (ir_value_id[]){x, lo}, y1);
  ct_node(g, IR_OP_CLIP, 3, (ir_value_id[]){x, IR_NONE, hi}, y2);
  ct_io(g, 3, (ir_value_id[]){x, lo, hi}, 3, (ir_value_id[]){y0, y1, y2});
  cg_jit *j = ct_jit(&ctx, g);
  float xs[10], l = -0.5f, h = 0.25f, r0[10], r1[10], r2[10];
  ct_fill(xs, 10, 3, -2, 2);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){xs, &l, &h}, (void *[]){r0, r1, r2}, 1),
                   KILN_OK);
  for (int i = 0; i < 10; i++) {
    ck_assert_float_eq(r0[i], xs[i]);
    ck_assert_float_eq(r1[i], xs[i] < l ? l : xs[i]);
    ck_assert_float_eq(r2[i], xs[i] > h ? h : xs[i]);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- legacy operand conventions ---------------------------------------------------- */
START_TEST(prelu_opset6_slope_is_per_channel) {
  /* PRelu-6 with a [C] slope: one slope per channel (axis 1), not numpy's
   * alignment with the last axis */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *mp = ob_model(6);
  Onnx__GraphProto *gp = mp->graph;
  ob_input(gp, "x", 1, "2,3,4");
  ob_output(gp, "y", 1, "2,3,4");
  float slope[3] = {0.5f, -2, 3};
  ob_initializer(gp, ob_tensor("slope", 1, "3", slope, sizeof slope));
  ob_node(gp, "PRelu", "p", "x,slope", "y");
  ir_graph *g = ob_import(&ctx, mp);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ck_assert_int_eq(kiln_run_passes(&ctx, g, NULL), KILN_OK);
  cg_jit *j = ct_jit(&ctx, g);
  float x[24], y[24];
  ct_fill(x, 24, 7, -3, 3);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){x}, (void *[]){y}, 1), KILN_OK);
  for (int i = 0; i < 24; i++) {
    float a = slope[(i / 4) % 3];
    ck_assert_float_eq(y[i], x[i] < 0 ? a * x[i] : x[i]);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- half precision ------------------------------------------------------------------ */
START_TEST(half_types_compute_in_f32_and_round_once) {
  /* f16 Add (broadcast) and Sigmoid, casts f32 -> f16 -> f64, f32 -> bf16
   * -> f32, CastLike: every result is the f32 computation rounded once */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "half");
  ir_value_id a = ct_val(g, "a", IR_F16, SHAPE(4, 8)), b = ct_val(g, "b", IR_F16, SHAPE(8));
  ir_value_id f = ct_val(g, "f", IR_F32, SHAPE(4, 8));
  ir_value_id sum = ct_val(g, "sum", IR_F16, SHAPE(4, 8)), sig = ct_val(g, "sig", IR_F16, SHAPE(4, 8));
  ir_value_id h = ct_val(g, "h", IR_F16, SHAPE(4, 8)), d = ct_val(g, "d", IR_F64, SHAPE(4, 8));
  ir_value_id bf = ct_val(g, "bf", IR_BF16, SHAPE(4, 8)), back = ct_val(g, "back", IR_F32, SHAPE(4, 8));
  ir_value_id like = ct_val(g, "like", IR_F16, SHAPE(4, 8));
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){a, b}, sum);
  ct_node(g, IR_OP_SIGMOID, 1, &a, sig);
  ir_set_attr_int(g, ct_node(g, IR_OP_CAST, 1, &f, h), "to", IR_F16);
  ir_set_attr_int(g, ct_node(g, IR_OP_CAST, 1, &h, d), "to", IR_F64);
  ir_set_attr_int(g, ct_node(g, IR_OP_CAST, 1, &f, bf), "to", IR_BF16);
  ir_set_attr_int(g, ct_node(g, IR_OP_CAST, 1, &bf, back), "to", IR_F32);
  ct_node(g, IR_OP_CAST_LIKE, 2, (ir_value_id[]){f, sum}, like);
  ct_io(g, 3, (ir_value_id[]){a, b, f}, 6, (ir_value_id[]){sum, sig, d, bf, back, like});
  cg_jit *j = ct_jit(&ctx, g);
  float af[32], bff[8], fx[32];
  uint16_t ah[32], bh[8], rsum[32], rsig[32], rbf[32], rlike[32];
  double rd[32];
  float rback[32];
  ct_fill(af, 32, 1, -4, 4);
  ct_fill(bff, 8, 2, -4, 4);
  ct_fill(fx, 32, 3, -100, 100);
  for (int i = 0; i < 32; i++) ah[i] = ir_f32_to_f16(af[i]);
  for (int i = 0; i < 8; i++) bh[i] = ir_f32_to_f16(bff[i]);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){ah, bh, fx},
                          (void *[]){rsum, rsig, rd, rbf, rback, rlike}, 1), KILN_OK);
  for (int i = 0; i < 32; i++) {
    float x = ir_f16_to_f32(ah[i]), y = ir_f16_to_f32(bh[i % 8]);
    ck_assert_uint_eq(rsum[i], ir_f32_to_f16(x + y));
    float want = (float)(1 / (1 + exp(-(double)x)));
    ck_assert_msg(fabsf(ir_f16_to_f32(rsig[i]) - want) <= 1e-3f, "sigmoid[%d]", i);
    ck_assert(rd[i] == (double)ir_f16_to_f32(ir_f32_to_f16(fx[i])));
    ck_assert_uint_eq(rbf[i], ir_f32_to_bf16(fx[i])); /* round to nearest even */
    ck_assert_float_eq(rback[i], ir_bf16_to_f32(rbf[i]));
    ck_assert_uint_eq(rlike[i], ir_f32_to_f16(fx[i]));
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- integer Pow ------------------------------------------------------------------------- */
START_TEST(pow_with_integer_base) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "pow");
  ir_value_id a = ct_val(g, "a", IR_I32, SHAPE(6)), e = ct_val(g, "e", IR_I32, SHAPE(6));
  ir_value_id fe = ct_val(g, "fe", IR_F32, SHAPE(6)), b = ct_val(g, "b", IR_I64, SHAPE(6));
  ir_value_id y0 = ct_val(g, "y0", IR_I32, SHAPE(6)), y1 = ct_val(g, "y1", IR_I64, SHAPE(6));
  ct_node(g, IR_OP_POW, 2, (ir_value_id[]){a, e}, y0);
  ct_node(g, IR_OP_POW, 2, (ir_value_id[]){b, fe}, y1);
  ct_io(g, 4, (ir_value_id[]){a, e, b, fe}, 2, (ir_value_id[]){y0, y1});
  cg_jit *j = ct_jit(&ctx, g);
  int32_t av[6] = {2, -3, 5, 7, 0, 1}, ev[6] = {10, 3, 0, 2, 4, 30}, r0[6];
  int64_t bv[6] = {3, 2, -2, 10, 4, 1 << 20}, r1[6];
  float fv[6] = {2, 0.5f, 3, 15, 1.5f, 2};
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){av, ev, bv, fv}, (void *[]){r0, r1}, 1),
                   KILN_OK);
  int32_t w0[6] = {1024, -27, 1, 49, 0, 1};
  int64_t w1[6] = {9, 1, -8, 1000000000000000LL, 8, 1LL << 40};
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(r0[i], w0[i]);
    ck_assert_int_eq(r1[i], w1[i]);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- pooling dtypes and index order ------------------------------------------------------ */
START_TEST(maxpool_integers_and_column_major_indices) {
  /* MaxPool on int8 (negative values) and uint8, 2x2 windows stride 2 on
   * 4x6, Indices in storage_order 1; AveragePool on f16 */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "pool");
  ir_value_id xi = ct_val(g, "xi", IR_I8, SHAPE(1, 1, 4, 6)), xu = ct_val(g, "xu", IR_U8, SHAPE(1, 1, 4, 6));
  ir_value_id xh = ct_val(g, "xh", IR_F16, SHAPE(1, 1, 4, 6));
  ir_value_id yi = ct_val(g, "yi", IR_I8, SHAPE(1, 1, 2, 3)), ii = ct_val(g, "ii", IR_I64, SHAPE(1, 1, 2, 3));
  ir_value_id yu = ct_val(g, "yu", IR_U8, SHAPE(1, 1, 2, 3)), yh = ct_val(g, "yh", IR_F16, SHAPE(1, 1, 2, 3));
  int64_t k2[2] = {2, 2};
  ir_node_id a = ir_add_node(g, IR_OP_MAX_POOL, "a", 1, &xi, 2, (ir_value_id[]){yi, ii});
  ir_node_id b = ct_node(g, IR_OP_MAX_POOL, 1, &xu, yu);
  ir_node_id c = ct_node(g, IR_OP_AVERAGE_POOL, 1, &xh, yh);
  ir_node_id all[3] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    ir_set_attr_ints(g, all[i], "kernel_shape", k2, 2);
    ir_set_attr_ints(g, all[i], "strides", k2, 2);
  }
  ir_set_attr_int(g, a, "storage_order", 1);
  ct_io(g, 3, (ir_value_id[]){xi, xu, xh}, 4, (ir_value_id[]){yi, ii, yu, yh});
  cg_jit *j = ct_jit(&ctx, g);
  int8_t vi[24], ri[6];
  uint8_t vu[24], ru[6];
  uint16_t vh[24], rh[6];
  int64_t rind[6];
  for (int t = 0; t < 24; t++) {
    vi[t] = (int8_t)(-100 - (t * 7) % 23);
    vu[t] = (uint8_t)(200 + (t * 5) % 50);
    vh[t] = ir_f32_to_f16((float)t * 0.25f - 2);
  }
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){vi, vu, vh}, (void *[]){ri, rind, ru, rh}, 1),
                   KILN_OK);
  for (int oh = 0; oh < 2; oh++)
    for (int ow = 0; ow < 3; ow++) {
      int best = -1, bu = -1, at = 0;
      float sum = 0;
      for (int kh = 0; kh < 2; kh++)
        for (int kw = 0; kw < 2; kw++) {
          int h = 2 * oh + kh, w = 2 * ow + kw, f = h * 6 + w;
          if (best < 0 || vi[f] > vi[best]) best = f, at = w * 4 + h; /* column-major */
          if (bu < 0 || vu[f] > vu[bu]) bu = f;
          sum += ir_f16_to_f32(vh[f]);
        }
      int o = oh * 3 + ow;
      ck_assert_int_eq(ri[o], vi[best]);
      ck_assert_int_eq(rind[o], at);
      ck_assert_int_eq(ru[o], vu[bu]);
      ck_assert_uint_eq(rh[o], ir_f32_to_f16(sum / 4));
    }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- data-dependent output shapes ---------------------------------------------------------- */
START_TEST(data_dependent_shapes_refused_by_name) {
  /* NonMaxSuppression with a declared output shape is still refused:
   * the number of boxes it keeps depends on the scores */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "nms");
  ir_value_id b = ct_val(g, "b", IR_F32, SHAPE(1, 6, 4)), sc = ct_val(g, "s", IR_F32, SHAPE(1, 1, 6));
  ir_value_id y = ct_val(g, "y", IR_I64, SHAPE(3, 3));
  ir_add_node(g, IR_OP_NON_MAX_SUPPRESSION, "nms", 2, (ir_value_id[]){b, sc}, 1, &y);
  ct_io(g, 2, (ir_value_id[]){b, sc}, 1, &y);
  kiln_options o = ct_options();
  cg_jit *j = NULL;
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_ptr_null(j);
  ck_assert_msg(strstr(ctx.last_error, "node 'nms' (NonMaxSuppression): the output shape depends on "
                                       "the input values"), "%s", ctx.last_error);
  ir_graph_free(g);

  /* TopK with a run-time k and Range with a run-time limit: declared
   * output shapes do not make them static (a different k or limit at run
   * time would silently disagree) */
  tu_ctx(&ctx);
  g = ir_graph_new(&ctx, "dd");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(3, 4)), k = ct_val(g, "k", IR_I64, SHAPE(1));
  ir_value_id v = ct_val(g, "v", IR_F32, SHAPE(3, 2)), i = ct_val(g, "i", IR_I64, SHAPE(3, 2));
  ir_add_node(g, IR_OP_TOP_K, "topk", 2, (ir_value_id[]){x, k}, 2, (ir_value_id[]){v, i});
  float zero = 0, one = 1;
  ir_shape rank0 = SHAPE();
  ir_value_id a = ir_add_const(g, "a", IR_F32, &rank0, &zero, 4, false);
  ir_value_id d = ir_add_const(g, "d", IR_F32, &rank0, &one, 4, false);
  ir_value_id lim = ct_val(g, "lim", IR_F32, SHAPE()), r = ct_val(g, "r", IR_F32, SHAPE(5));
  ir_add_node(g, IR_OP_RANGE, "range", 3, (ir_value_id[]){a, lim, d}, 1, &r);
  ct_io(g, 3, (ir_value_id[]){x, k, lim}, 3, (ir_value_id[]){v, i, r});
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_int_eq(ctx.num_errors, 2);
  ck_assert_msg(strstr(ctx.last_error, "node 'range' (Range): the output shape depends on the input "
                                       "values"), "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

/* ---- MatMul and Gemm beyond f32/f64 --------------------------------------------------------- */
START_TEST(matmul_gemm_integer_and_half) {
  /* MatMul i32 [2,3,4] x [4,5] and f16 [3,4] x [4,5] (f32 accumulation,
   * one rounding); Gemm i64 with transB, alpha 2, beta 3 and a [5] C */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "mm");
  ir_value_id a = ct_val(g, "a", IR_I32, SHAPE(2, 3, 4)), b = ct_val(g, "b", IR_I32, SHAPE(4, 5));
  ir_value_id ah = ct_val(g, "ah", IR_F16, SHAPE(3, 4)), bh = ct_val(g, "bh", IR_F16, SHAPE(4, 5));
  ir_value_id ga = ct_val(g, "ga", IR_I64, SHAPE(3, 4)), gb = ct_val(g, "gb", IR_I64, SHAPE(5, 4));
  ir_value_id gc = ct_val(g, "gc", IR_I64, SHAPE(5));
  ir_value_id y = ct_val(g, "y", IR_I32, SHAPE(2, 3, 5)), yh = ct_val(g, "yh", IR_F16, SHAPE(3, 5));
  ir_value_id gy = ct_val(g, "gy", IR_I64, SHAPE(3, 5));
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){a, b}, y);
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){ah, bh}, yh);
  ir_node_id gm = ct_node(g, IR_OP_GEMM, 3, (ir_value_id[]){ga, gb, gc}, gy);
  ir_set_attr_int(g, gm, "transB", 1);
  ir_set_attr_float(g, gm, "alpha", 2);
  ir_set_attr_float(g, gm, "beta", 3);
  ct_io(g, 7, (ir_value_id[]){a, b, ah, bh, ga, gb, gc}, 3, (ir_value_id[]){y, yh, gy});
  cg_jit *j = ct_jit(&ctx, g);
  int32_t av[24], bv[20], ry[30];
  uint16_t ahv[12], bhv[20], ryh[15];
  int64_t gav[12], gbv[20], gcv[5], rgy[15];
  float fa[12], fb[20];
  ct_fill(fa, 12, 61, -2, 2);
  ct_fill(fb, 20, 62, -2, 2);
  for (int i = 0; i < 24; i++) av[i] = (i * 37) % 19 - 9;
  for (int i = 0; i < 20; i++) {
    bv[i] = (i * 11) % 13 - 6;
    gbv[i] = (int64_t)1 << (i % 7);
    bhv[i] = ir_f32_to_f16(fb[i]);
  }
  for (int i = 0; i < 12; i++) {
    gav[i] = i - 5;
    ahv[i] = ir_f32_to_f16(fa[i]);
  }
  for (int i = 0; i < 5; i++) gcv[i] = 100 * i;
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){av, bv, ahv, bhv, gav, gbv, gcv},
                          (void *[]){ry, ryh, rgy}, 1), KILN_OK);
  for (int bt = 0; bt < 2; bt++)
    for (int m = 0; m < 3; m++)
      for (int nn = 0; nn < 5; nn++) {
        int32_t want = 0;
        for (int k = 0; k < 4; k++) want += av[(bt * 3 + m) * 4 + k] * bv[k * 5 + nn];
        ck_assert_int_eq(ry[(bt * 3 + m) * 5 + nn], want);
      }
  for (int m = 0; m < 3; m++)
    for (int nn = 0; nn < 5; nn++) {
      float acc = 0;
      int64_t gw = 0;
      for (int k = 0; k < 4; k++) {
        acc += ir_f16_to_f32(ahv[m * 4 + k]) * ir_f16_to_f32(bhv[k * 5 + nn]);
        gw += gav[m * 4 + k] * gbv[nn * 4 + k];
      }
      ck_assert_msg(fabsf(ir_f16_to_f32(ryh[m * 5 + nn]) - acc) <= 1e-3f * (1 + fabsf(acc)), "f16 matmul");
      ck_assert_int_eq(rgy[m * 5 + nn], 2 * gw + 3 * gcv[nn]);
    }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

START_TEST(softmax_half_precision) {
  /* Softmax and LogSoftmax on f16 along the last axis: within an f16
   * rounding of the double-precision result */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "sm");
  ir_value_id x = ct_val(g, "x", IR_F16, SHAPE(3, 7)), y = ct_val(g, "y", IR_F16, SHAPE(3, 7));
  ir_value_id ly = ct_val(g, "ly", IR_F16, SHAPE(3, 7));
  ct_node(g, IR_OP_SOFTMAX, 1, &x, y);
  ct_node(g, IR_OP_LOG_SOFTMAX, 1, &x, ly);
  g->opset = 13;
  ct_io(g, 1, &x, 2, (ir_value_id[]){y, ly});
  cg_jit *j = ct_jit(&ctx, g);
  float xf[21];
  uint16_t xh[21], r[21], lr[21];
  ct_fill(xf, 21, 71, -6, 6);
  for (int i = 0; i < 21; i++) xh[i] = ir_f32_to_f16(xf[i]);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){xh}, (void *[]){r, lr}, 1), KILN_OK);
  for (int row = 0; row < 3; row++) {
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < 7; c++) mx = fmax(mx, ir_f16_to_f32(xh[row * 7 + c]));
    for (int c = 0; c < 7; c++) sum += exp(ir_f16_to_f32(xh[row * 7 + c]) - mx);
    for (int c = 0; c < 7; c++) {
      double v = ir_f16_to_f32(xh[row * 7 + c]) - mx;
      double p = exp(v) / sum, lp = v - log(sum);
      ck_assert_msg(fabs(ir_f16_to_f32(r[row * 7 + c]) - p) <= 1e-3 * (fabs(p) + 1e-3), "softmax");
      ck_assert_msg(fabs(ir_f16_to_f32(lr[row * 7 + c]) - lp) <= 1e-3 * (1 + fabs(lp)), "logsoftmax");
    }
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST


/* The vector path of integer MaxPool (lower_pool.c int_max_pool_2d):
 * uint8, int8 and int16 images, kernels 1..3 (and 7), strides 1 and 2,
 * pads on every side, ceil_mode windows past the edge, rows wider and
 * narrower than a vector (the last vector overlapping), random values
 * including both ends of each type, against a C window loop; 1 vs 3
 * threads bit for bit. */
static void check_int_maxpool(ir_dtype dt, int C, int H, int W, int K, int S, int pb, int pe, bool ceil) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  int OH = (H + pb + pe - K + (ceil ? S - 1 : 0)) / S + 1, OW = (W + pb + pe - K + (ceil ? S - 1 : 0)) / S + 1;
  if (ceil && (OH - 1) * S >= H + pb) OH--; /* ONNX: the last window starts inside */
  if (ceil && (OW - 1) * S >= W + pb) OW--;
  ir_graph *g = ir_graph_new(&ctx, "ipool");
  ir_value_id x = ct_val(g, "x", dt, SHAPE(2, C, H, W)), y = ct_val(g, "y", dt, SHAPE(2, C, OH, OW));
  ir_node_id n = ct_node(g, IR_OP_MAX_POOL, 1, &x, y);
  ir_set_attr_ints(g, n, "kernel_shape", (int64_t[]){K, K}, 2);
  ir_set_attr_ints(g, n, "strides", (int64_t[]){S, S}, 2);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){pb, pb, pe, pe}, 4);
  if (ceil) ir_set_attr_int(g, n, "ceil_mode", 1);
  ct_io(g, 1, &x, 1, &y);
  cg_jit *j = ct_jit(&ctx, g);
  int eb = dt == IR_I16 ? 2 : 1;
  int64_t nx = 2LL * C * H * W, ny = 2LL * C * OH * OW;
  uint8_t *xb = malloc((size_t)(nx * eb)), *y1 = malloc((size_t)(ny * eb)), *y3 = malloc((size_t)(ny * eb));
  uint32_t r = 7u + (uint32_t)(H * 31 + W * 7 + K + S * 3);
  for (int64_t i = 0; i < nx * eb; i++) xb[i] = (uint8_t)((r = r * 1664525u + 1013904223u) >> 24);
  xb[0] = 0, xb[nx * eb - 1] = 255;
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){xb}, (void *[]){y1}, 1), KILN_OK);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){xb}, (void *[]){y3}, 3), KILN_OK);
  ck_assert(!memcmp(y1, y3, (size_t)(ny * eb)));
  for (int64_t p = 0; p < 2LL * C; p++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        long best = dt == IR_U8 ? 0 : dt == IR_I8 ? -128 : -32768;
        for (int kh = 0; kh < K; kh++)
          for (int kw = 0; kw < K; kw++) {
            int h = oh * S - pb + kh, w = ow * S - pb + kw;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            int64_t f = (p * H + h) * W + w;
            long v = dt == IR_U8 ? xb[f] : dt == IR_I8 ? (int8_t)xb[f] : ((int16_t *)(void *)xb)[f];
            if (v > best) best = v;
          }
        int64_t o = (p * OH + oh) * OW + ow;
        long got = dt == IR_U8 ? y1[o] : dt == IR_I8 ? (int8_t)y1[o] : ((int16_t *)(void *)y1)[o];
        ck_assert_msg(got == best, "%s %dx%d k%d s%d pads %d,%d%s: y[%lld,%d,%d] = %ld, want %ld",
                      ir_dtype_name(dt), H, W, K, S, pb, pe, ceil ? " ceil" : "", (long long)p, oh, ow, got, best);
      }
  cg_jit_free(j);
  ir_graph_free(g);
  free(xb), free(y1), free(y3);
}

START_TEST(maxpool_integer_vectors) {
  check_int_maxpool(IR_U8, 3, 112, 112, 3, 2, 1, 1, false); /* ResNet's stem pool */
  check_int_maxpool(IR_U8, 2, 9, 70, 3, 1, 1, 1, false);
  check_int_maxpool(IR_U8, 2, 8, 131, 2, 2, 0, 0, true);
  check_int_maxpool(IR_I8, 2, 11, 40, 3, 2, 0, 1, true);
  check_int_maxpool(IR_I8, 1, 5, 5, 5, 1, 2, 2, false);
  check_int_maxpool(IR_I16, 2, 6, 37, 7, 2, 3, 3, false);
  check_int_maxpool(IR_U8, 1, 17, 66, 1, 1, 0, 0, false);
}
END_TEST

int main(void) {
  Suite *s = suite_create("codegen_dtypes");
  TCase *tc = tcase_create("dtypes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, clip_without_min_or_max);
  tcase_add_test(tc, prelu_opset6_slope_is_per_channel);
  tcase_add_test(tc, half_types_compute_in_f32_and_round_once);
  tcase_add_test(tc, pow_with_integer_base);
  tcase_add_test(tc, maxpool_integers_and_column_major_indices);
  tcase_add_test(tc, maxpool_integer_vectors);
  tcase_add_test(tc, data_dependent_shapes_refused_by_name);
  tcase_add_test(tc, matmul_gemm_integer_and_half);
  tcase_add_test(tc, softmax_half_precision);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
