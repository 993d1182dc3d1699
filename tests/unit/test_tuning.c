/*
 * test_tuning.c — the tuning database (kernels/tuning.c): the YAML writer
 * and reader round-trip, the best record per key is kept, every malformed
 * file (wrong version, unknown keys, bad values, any truncation) is refused
 * with the file and the line named, and the kernel signature is stable and
 * ignores the schedule it keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgtest.h"
#include "graphbuild.h"
#include "kernels/tuning.h"

static cg_tuning_record rec(const char *kernel, const char *schedule, double t, double d) {
  return (cg_tuning_record){.target = "x86_64-unknown-linux-gnu", .cpu = "skylake",
                            .features = "+avx2,+fma", .kernel = (char *)kernel, .threads = 2,
                            .schedule = (char *)schedule, .time_us = t, .default_us = d,
                            .kiln = "0.1.0"};
}

static const char *tmp_path(const char *stem) {
  static char buf[256];
  snprintf(buf, sizeof buf, "/tmp/kiln_test_tuning_%d_%s.yaml", (int)getpid(), stem);
  return buf;
}

static void write_text(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, len, f), len);
  fclose(f);
}

static char *read_text(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = 0;
  *len = (size_t)n;
  fclose(f);
  return s;
}

static const char *S1 = "mr=6 nr=16 kc=256 mc=96 nc=512 lanes=8 unroll=1 par=mn";
static const char *S2 = "mr=4 nr=24 kc=128 mc=64 nc=96 lanes=8 unroll=2 par=n";

START_TEST(round_trip_and_best_record) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_tuning_db db = {0};
  /* a signature with the characters YAML would read otherwise */
  const char *k1 = "FusedConv f32[1,64,56,56] \"q\" #x: y \\ ->";
  cg_tuning_record a = rec(k1, S1, 100, 120), b = rec("MatMul f32[1,512]", S2, 50.5, 60.25);
  ck_assert(cg_tuning_put(&ctx, &db, &a));
  ck_assert(cg_tuning_put(&ctx, &db, &b));
  /* slower for the same key: kept out; faster: replaces */
  cg_tuning_record slow = rec(k1, S2, 110, 120), fast = rec(k1, S2, 90, 120);
  ck_assert(!cg_tuning_put(&ctx, &db, &slow));
  ck_assert_str_eq(db.records[0].schedule, S1);
  ck_assert(cg_tuning_put(&ctx, &db, &fast));
  ck_assert_int_eq(db.count, 2);
  ck_assert_str_eq(db.records[0].schedule, S2);
  /* another thread count is another key */
  cg_tuning_record t4 = rec(k1, S1, 70, 80);
  t4.threads = 4;
  ck_assert(cg_tuning_put(&ctx, &db, &t4));
  ck_assert_int_eq(db.count, 3);

  const char *path = tmp_path("rt");
  ck_assert_int_eq(cg_tuning_write(&ctx, &db, path), KILN_OK);
  cg_tuning_db back;
  ck_assert_msg(cg_tuning_read(&ctx, path, &back) == KILN_OK, "%s", ctx.last_error);
  ck_assert_int_eq(back.count, db.count);
  for (int i = 0; i < db.count; i++) {
    const cg_tuning_record *x = &db.records[i], *y = &back.records[i];
    ck_assert_str_eq(x->target, y->target);
    ck_assert_str_eq(x->cpu, y->cpu);
    ck_assert_str_eq(x->features, y->features);
    ck_assert_str_eq(x->kernel, y->kernel);
    ck_assert_str_eq(x->schedule, y->schedule);
    ck_assert_str_eq(x->kiln, y->kiln);
    ck_assert_int_eq(x->threads, y->threads);
    ck_assert_double_eq_tol(x->time_us, y->time_us, 1e-9);
    ck_assert_double_eq_tol(x->default_us, y->default_us, 1e-9);
    ck_assert_int_gt(y->line, 0);
  }
  const cg_tuning_record *f =
      cg_tuning_find(&back, "x86_64-unknown-linux-gnu", "skylake", "+avx2,+fma", 4, k1);
  ck_assert_ptr_nonnull(f);
  ck_assert_double_eq_tol(f->time_us, 70, 1e-9);
  ck_assert_ptr_null(cg_tuning_find(&back, "x86_64-unknown-linux-gnu", "znver3", "+avx2,+fma", 4, k1));
  ck_assert(cg_tuning_has_cpu(&back, "x86_64-unknown-linux-gnu", "skylake", "+avx2,+fma"));
  ck_assert(!cg_tuning_has_cpu(&back, "x86_64-unknown-linux-gnu", "skylake", "+avx2"));
  /* writing what was read gives the same bytes */
  size_t n1, n2;
  char *t1 = read_text(path, &n1);
  ck_assert_int_eq(cg_tuning_write(&ctx, &back, path), KILN_OK);
  char *t2 = read_text(path, &n2);
  ck_assert_uint_eq(n1, n2);
  ck_assert_int_eq(memcmp(t1, t2, n1), 0);
  free(t1);
  free(t2);
  cg_tuning_free(&ctx, &back);
  cg_tuning_free(&ctx, &db);
  unlink(path);
  ck_assert_int_eq(ctx.num_errors, 0);
}
END_TEST

static const char *GOOD_RECORD =
    "  - target: x86_64-unknown-linux-gnu\n"
    "    cpu: skylake\n"
    "    features: \"+avx2\"\n"
    "    threads: 2\n"
    "    kernel: \"MatMul f32[4,64]\"\n"
    "    schedule: \"mr=6 nr=16 kc=64 mc=6 nc=16 lanes=8 unroll=1 par=mn\"\n"
    "    time_us: 10\n"
    "    default_us: 12\n"
    "    kiln: 0.1.0\n";

/* Reads text as a tuning file; returns the error text ("" if it read). */
static const char *read_error(const char *text) {
  static kiln_ctx ctx;
  tu_ctx(&ctx);
  const char *path = tmp_path("bad");
  write_text(path, text, strlen(text));
  cg_tuning_db db;
  kiln_status st = cg_tuning_read(&ctx, path, &db);
  unlink(path);
  if (st == KILN_OK) {
    cg_tuning_free(&ctx, &db);
    return "";
  }
  ck_assert_int_ge(ctx.num_errors, 1);
  ck_assert_msg(strstr(ctx.last_error, "kiln_test_tuning_"), "no file named: %s", ctx.last_error);
  return ctx.last_error;
}

START_TEST(malformed_files_name_the_line) {
  char buf[2048];
  static const struct {
    const char *before, *record_edit, *after, *want;
  } cases[] = {
      {"version: 2\nrecords:\n", NULL, "count: 1\n", "line 1: unsupported version 2"},
      {"version: one\nrecords:\n", NULL, "count: 1\n", "line 1: 'version' must be an integer"},
      {"records:\n", NULL, "count: 1\n", "missing 'version'"},
      {"version: 1\nextra: 3\nrecords:\n", NULL, "count: 1\n", "line 2: unknown key 'extra'"},
      {"version: 1\nrecords:\n", "    colour: red\n", "count: 1\n", "line 12: unknown key 'colour'"},
      {"version: 1\nrecords:\n", "    threads: 3\n", "count: 1\n", "line 12: 'threads' given twice"},
      {"version: 1\nrecords:\n", NULL, "count: 2\n", "line 12: 'count' is 2 but 1 records"},
      {"version: 1\nrecords:\n", NULL, "", "no 'count' after the records: the file is truncated"},
      {"version: 1\nrecords: 5\n", "", "count: 0\n", "line 2: 'records' must be a list"},
      {"version: 1\nrecords:\n  - 7\n", "", "count: 1\n", "line 3: each entry of 'records' must be a map"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].record_edit && !*cases[i].record_edit)
      snprintf(buf, sizeof buf, "%s%s", cases[i].before, cases[i].after);
    else
      snprintf(buf, sizeof buf, "%s%s%s%s", cases[i].before, GOOD_RECORD,
               cases[i].record_edit ? cases[i].record_edit : "", cases[i].after);
    const char *err = read_error(buf);
    ck_assert_msg(strstr(err, cases[i].want), "case %zu: want '%s', got '%s'", i, cases[i].want, err);
  }
  /* bad values, each on its own line of the record (lines 3..11) */
  static const struct {
    const char *from, *to, *want;
  } values[] = {
      {"threads: 2", "threads: 0", "line 6: 'threads' must be an integer from 1 to 256"},
      {"threads: 2", "threads: [2]", "line 6: 'threads' must be an integer"},
      {"time_us: 10", "time_us: fast", "line 9: 'time_us' must be a finite number"},
      {"time_us: 10", "time_us: -1", "line 9: 'time_us' must be a positive time"},
      {"default_us: 12", "default_us: .nan", "line 10: 'default_us' must be a finite number"},
      {"par=mn", "par=xy", "line 8: 'schedule' must name every field"},
      {"mr=6 ", "", "line 8: 'schedule' must name every field"},
      {"cpu: skylake", "cpu: \"\"", "line 4: 'cpu' must be a non-empty string"},
      {"    kiln: 0.1.0\n", "", "line 3: record is missing 'kiln'"},
  };
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char rec_text[1024];
    const char *at = strstr(GOOD_RECORD, values[i].from);
    ck_assert_ptr_nonnull(at);
    snprintf(rec_text, sizeof rec_text, "%.*s%s%s", (int)(at - GOOD_RECORD), GOOD_RECORD,
             values[i].to, at + strlen(values[i].from));
    snprintf(buf, sizeof buf, "version: 1\nrecords:\n%scount: 1\n", rec_text);
    const char *err = read_error(buf);
    ck_assert_msg(strstr(err, values[i].want), "value %zu: want '%s', got '%s'", i, values[i].want,
                  err);
  }
  snprintf(buf, sizeof buf, "version: 1\nrecords:\n%scount: 1\n", GOOD_RECORD);
  ck_assert_str_eq(read_error(buf), "");
}
END_TEST

/* Every prefix of a written file (short of its final newline) is refused:
 * truncation is never read as a smaller database. */
START_TEST(every_truncation_is_refused) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_tuning_db db = {0};
  cg_tuning_record a = rec("Conv f32[1,8,8,8]", S1, 10, 11), b = rec("Conv f32[1,8,4,4]", S2, 5, 6);
  cg_tuning_put(&ctx, &db, &a);
  cg_tuning_put(&ctx, &db, &b);
  const char *path = tmp_path("full");
  ck_assert_int_eq(cg_tuning_write(&ctx, &db, path), KILN_OK);
  size_t n;
  char *text = read_text(path, &n);
  unlink(path);
  char *cut = malloc(n + 1);
  for (size_t len = 0; len + 1 < n; len++) {
    memcpy(cut, text, len);
    cut[len] = 0;
    const char *err = read_error(cut);
    ck_assert_msg(*err, "a file cut to %zu of %zu bytes was read", len, n);
  }
  free(cut);
  free(text);
  cg_tuning_free(&ctx, &db);
}
END_TEST

START_TEST(missing_file_is_an_io_error) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_tuning_db db;
  ck_assert_int_eq(cg_tuning_read(&ctx, "/nonexistent/t.yaml", &db), KILN_ERR_IO);
  ck_assert(strstr(ctx.last_error, "/nonexistent/t.yaml"));
}
END_TEST

START_TEST(signature_is_stable_and_ignores_the_schedule) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  char s1[512], s2[512], s3[512];
  ir_graph *gs[2];
  for (int k = 0; k < 2; k++) {
    ir_graph *g = gs[k] = ir_graph_new(&ctx, "g");
    int64_t xd[2] = {4, 64 * (k + 1)}, wd[2] = {64 * (k + 1), 32};
    float w[128 * 32] = {0};
    ir_value_id x = gb_input(g, "x", IR_F32, 2, xd);
    ir_value_id wv = gb_f32(g, "w", 2, wd, w);
    int64_t yd[2] = {4, 32};
    ir_shape ys = ir_shape_make(2, yd);
    ir_value_id y = ir_add_value(g, "y", IR_F32, &ys);
    ir_value_id ins[2] = {x, wv};
    gb_node1(g, IR_OP_MAT_MUL, "mm", 2, ins, y);
    gb_output(g, y);
  }
  cg_kernel_signature(gs[0], 0, CG_CONV_GEMM, s1, sizeof s1);
  ir_set_attr_string(gs[0], 0, "schedule", S1);
  cg_kernel_signature(gs[0], 0, CG_CONV_GEMM, s2, sizeof s2);
  ck_assert_str_eq(s1, s2);
  ck_assert_msg(strstr(s1, "MatMul") && strstr(s1, "f32[4,64]") && strstr(s1, "f32[64,32]:const"),
                "%s", s1);
  ir_set_attr_int(gs[0], 0, "transA", 1); /* any other attribute is part of it */
  cg_kernel_signature(gs[0], 0, CG_CONV_GEMM, s2, sizeof s2);
  ck_assert_str_ne(s1, s2);
  cg_kernel_signature(gs[1], 0, CG_CONV_GEMM, s3, sizeof s3); /* another K */
  ck_assert_str_ne(s1, s3);
  /* the algorithm is part of it: a direct convolution's record is never a
   * GEMM kernel's, nor the other way round */
  cg_kernel_signature(gs[0], 0, CG_CONV_DIRECT, s3, sizeof s3);
  ck_assert_str_ne(s2, s3);
  ck_assert_msg(strstr(s3, "MatMul/direct "), "%s", s3);
  ck_assert_str_ne(s1, s3);
  ir_graph_free(gs[0]);
  ir_graph_free(gs[1]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tuning");
  TCase *tc = tcase_create("database");
  tcase_add_test(tc, round_trip_and_best_record);
  tcase_add_test(tc, malformed_files_name_the_line);
  tcase_add_test(tc, every_truncation_is_refused);
  tcase_add_test(tc, missing_file_is_an_io_error);
  tcase_add_test(tc, signature_is_stable_and_ignores_the_schedule);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
