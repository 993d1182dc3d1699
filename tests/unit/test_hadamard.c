/*
 * test_hadamard.c — the Hadamard matrices (compiler/ir/hadamard.c) and the
 * kiln op Hadamard's lowering (codegen/lower_hadamard.c).
 *
 * The reference is the dense definition of hadamard.h, entry by entry
 * (ir_hadamard_entry: H_m[i/p][j/p] * (-1)^popcount(i%p & j%p)), summed in
 * double: O(n^2), independent of both fast algorithms under test.  Every
 * small matrix is checked to be Hadamard (H H^T = m I), so the reference
 * itself cannot be wrong in a way that matches the code.
 */
#include "cgtest.h"
#include "hadamard.h"
#include "infer.h"

static void dense_ref(const ir_hadamard *h, const double *x, double *y) {
  for (int64_t j = 0; j < h->n; j++) {
    double acc = 0;
    for (int64_t i = 0; i < h->n; i++) acc += x[i] * ir_hadamard_entry(h, i, j);
    y[j] = acc / sqrt((double)h->n);
  }
}

START_TEST(small_matrices_are_hadamard) {
  int8_t *hm = malloc(IR_HADAMARD_MAX_M * IR_HADAMARD_MAX_M);
  int built = 0;
  for (int m = 1; m <= IR_HADAMARD_MAX_M; m++) {
    if (!ir_hadamard_small(m, hm)) continue;
    built++;
    for (int a = 0; a < m; a++)
      for (int b = 0; b < m; b++) {
        int dot = 0;
        for (int c = 0; c < m; c++) dot += hm[a * m + c] * hm[b * m + c];
        ck_assert_msg(dot == (a == b ? m : 0), "order %d: rows %d and %d give %d", m, a, b, dot);
      }
  }
  /* 1 and the Paley orders: I for primes 3,7,11,19,23,31,43,47,59,67,71,79,83,103,107,127
   * and II for 5,13,17,29,37,41,53,61 (orders 12, 60, 84 and 108 come from both) */
  ck_assert_int_eq(built, 1 + 16 + 8 - 4);
  free(hm);
}
END_TEST

START_TEST(factor_choice_and_refusals) {
  ck_assert_int_eq(ir_hadamard_factor(1), 1);
  ck_assert_int_eq(ir_hadamard_factor(4096), 1);
  ck_assert_int_eq(ir_hadamard_factor(12), 12);
  ck_assert_int_eq(ir_hadamard_factor(384), 12);   /* 12 * 32 */
  ck_assert_int_eq(ir_hadamard_factor(20), 20);
  ck_assert_int_eq(ir_hadamard_factor(28 * 4), 28);
  ck_assert_int_eq(ir_hadamard_factor(36), 36);
  ck_assert_int_eq(ir_hadamard_factor(3), 0);      /* no Hadamard matrix of order 3 or 6 */
  ck_assert_int_eq(ir_hadamard_factor(6), 0);
  ck_assert_int_eq(ir_hadamard_factor(13 * 4), 0); /* 52 and 104 = 8 * 13 need 104 | n */
  ck_assert_int_eq(ir_hadamard_factor(13 * 8), 104);
  ck_assert_int_eq(ir_hadamard_factor(0), 0);
}
END_TEST

START_TEST(fast_double_transform_matches_dense) {
  static const int64_t sizes[] = {1, 2, 8, 64, 12, 24, 20, 28, 36, 44, 384, 96};
  ir_hadamard *h = malloc(sizeof *h);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int64_t n = sizes[k];
    ck_assert(ir_hadamard_init(h, n));
    double *x = malloc(n * 3 * sizeof(double)), *want = malloc(n * sizeof(double)), tmp[128];
    float f[384 * 3];
    ct_fill(f, n * 3, (uint32_t)n, -1, 1);
    for (int64_t i = 0; i < n * 3; i++) x[i] = f[i];
    double *xs = malloc(n * sizeof(double));
    for (int64_t i = 0; i < n; i++) xs[i] = x[i * 3 + 1]; /* column 1 of an [n][3] matrix */
    dense_ref(h, xs, want);
    ir_hadamard_apply(h, x + 1, 3, tmp);
    for (int64_t i = 0; i < n; i++)
      ck_assert_msg(fabs(x[i * 3 + 1] - want[i]) < 1e-12, "n=%lld [%lld]: %g vs %g", (long long)n,
                    (long long)i, x[i * 3 + 1], want[i]);
    /* orthogonal: the norm is kept */
    double a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) a += xs[i] * xs[i], b += want[i] * want[i];
    ck_assert(fabs(a - b) < 1e-9 * (1 + a));
    free(x), free(want), free(xs);
  }
  free(h);
}
END_TEST

/* Hadamard over the last axis of [rows, n] through the JIT, against the
 * dense reference, and bit-identical for 1, 2 and 4 threads. */
static void check_lowering(int64_t rows, int64_t n, ir_dtype dt) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "h");
  ir_value_id x = ct_val(g, "x", dt, SHAPE(rows, n)), y = ct_val(g, "y", dt, SHAPE(rows, n));
  ct_node(g, IR_OP_HADAMARD, 1, &x, y);
  ct_io(g, 1, &x, 1, &y);
  ck_assert_int_eq(infer_hadamard(g, 0), KILN_OK);
  size_t es = dt == IR_F64 ? 8 : 4, bytes = (size_t)(rows * n) * es;
  float *xf = malloc((size_t)(rows * n) * sizeof(float));
  ct_fill(xf, rows * n, (uint32_t)(n + rows), -2, 2);
  void *in = malloc(bytes), *out[3] = {malloc(bytes), malloc(bytes), malloc(bytes)};
  for (int64_t i = 0; i < rows * n; i++) {
    if (dt == IR_F64) ((double *)in)[i] = xf[i];
    else ((float *)in)[i] = xf[i];
  }
  cg_jit *j = ct_jit(&ctx, g);
  static const int threads[3] = {1, 2, 4};
  for (int t = 0; t < 3; t++)
    ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){in}, (void *[]){out[t]}, threads[t]),
                     KILN_OK);
  ck_assert_msg(!memcmp(out[0], out[1], bytes) && !memcmp(out[0], out[2], bytes),
                "n=%lld: results differ between thread counts", (long long)n);
  ir_hadamard *h = malloc(sizeof *h);
  ck_assert(ir_hadamard_init(h, n));
  double *xr = malloc((size_t)n * sizeof(double)), *want = malloc((size_t)n * sizeof(double));
  /* the reference is O(n^2): check a few rows of big inputs */
  for (int64_t r = 0; r < rows; r += rows > 8 ? rows / 5 : 1) {
    for (int64_t i = 0; i < n; i++) xr[i] = xf[r * n + i];
    dense_ref(h, xr, want);
    for (int64_t i = 0; i < n; i++) {
      double got = dt == IR_F64 ? ((double *)out[0])[r * n + i] : ((float *)out[0])[r * n + i];
      double tol = dt == IR_F64 ? 1e-12 : 1e-5 * sqrt((double)n);
      ck_assert_msg(fabs(got - want[i]) <= tol * (1 + fabs(want[i])),
                    "n=%lld row %lld [%lld]: got %.9g, want %.9g", (long long)n, (long long)r,
                    (long long)i, got, want[i]);
    }
  }
  free(xr), free(want), free(h), free(xf), free(in);
  for (int t = 0; t < 3; t++) free(out[t]);
  cg_jit_free(j);
  ir_graph_free(g);
}

START_TEST(lowering_powers_of_two) {
  static const int64_t sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 4096};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    check_lowering(sizes[k] >= 4096 ? 24 : 37, sizes[k], IR_F32);
}
END_TEST

START_TEST(lowering_dense_factors) {
  static const int64_t sizes[] = {12, 24, 48, 96, 384, 1536, 20, 28, 40, 36, 44, 60};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) check_lowering(33, sizes[k], IR_F32);
}
END_TEST

START_TEST(lowering_f64_and_parallel) {
  check_lowering(5, 64, IR_F64);
  check_lowering(3, 12, IR_F64);
  /* enough rows that the kernel runs through the thread pool */
  check_lowering(512, 128, IR_F32);
  check_lowering(512, 384, IR_F32);
}
END_TEST

START_TEST(unsupported_size_is_refused) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ctx.diag_stream = NULL;
  ir_graph *g = ir_graph_new(&ctx, "h");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 6)), y = ct_val(g, "y", IR_F32, SHAPE(2, 6));
  ct_node(g, IR_OP_HADAMARD, 1, &x, y);
  ck_assert_int_ne(infer_hadamard(g, 0), KILN_OK);
  ck_assert_msg(strstr(ctx.last_error, "6 elements"), "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("hadamard");
  TCase *tc = tcase_create("hadamard");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, small_matrices_are_hadamard);
  tcase_add_test(tc, factor_choice_and_refusals);
  tcase_add_test(tc, fast_double_transform_matches_dense);
  tcase_add_test(tc, lowering_powers_of_two);
  tcase_add_test(tc, lowering_dense_factors);
  tcase_add_test(tc, lowering_f64_and_parallel);
  tcase_add_test(tc, unsupported_size_is_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
