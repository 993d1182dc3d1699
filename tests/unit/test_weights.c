/*
 * test_weights.c — `--weights external` end to end, and "run allocates
 * nothing".
 *
 * One graph exercises every way a constant reaches generated code: a Conv
 * whose weights and bias the lowering packs into channel blocks, a Resize
 * with compile-time tap tables, a Compress with a constant condition (an
 * index table), a Gemm whose constant B is transposed at compile time, a
 * plain constant operand (Add), and a constant that is itself a graph
 * output (copied out of the weights at the end of a run).  The Conv is big
 * enough to run through the thread pool, so the weights base also travels
 * through task environments.
 *
 * The graph is compiled three times with cg_write_library: `emb`
 * (embedded), `ext` (external) and `other` (external, other constants).
 * The tests then
 *   - read NAME.weights as bytes and check the format: header fields,
 *     file size, content hash recomputed here, constants stored the way
 *     kernels read them (the transposed Gemm matrix, not the original);
 *   - link tests/unit/data/weights_main.c against the three libraries with
 *     the system C compiler and check its report: ext's outputs equal
 *     emb's bit for bit with 1 and 3 threads, the file is mapped shared,
 *     and every error case gives its status (missing, truncated, another
 *     model's file, no weights, another model's mapping, corruption);
 *   - link tests/unit/data/noalloc_main.c, which interposes malloc and
 *     friends, and check that runs of both models allocate nothing, with 1
 *     and with 4 threads, after one warm-up run.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgtest.h"
#include "rt.h"

enum { H = 12, CIN = 4, COUT = 16, KEPT = 10, GN = 10, GK = KEPT * 4 * H * H };

/* The test graph; `seed` varies every constant. */
static ir_graph *build_graph(kiln_ctx *ctx, uint32_t seed, float *g_out) {
  ir_graph *g = ir_graph_new(ctx, "wt");
  g->opset = 13;
  static float W[COUT * CIN * 9], B[COUT], G[GN * GK], bias[GN], table[7];
  ct_fill(W, COUT * CIN * 9, seed, -1, 1);
  ct_fill(B, COUT, seed + 1, -1, 1);
  ct_fill(G, GN * GK, seed + 2, -0.1f, 0.1f);
  ct_fill(bias, GN, seed + 3, -1, 1);
  ct_fill(table, 7, seed + 4, -5, 5);
  if (g_out) memcpy(g_out, G, sizeof G);
  ir_shape ws = SHAPE(COUT, CIN, 3, 3), bs = SHAPE(COUT), ss = SHAPE(4), cs = SHAPE(COUT),
           shs = SHAPE(2), gs = SHAPE(GN, GK), gbs = SHAPE(GN), ts = SHAPE(7);
  uint8_t cond[COUT] = {1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0};
  float scales[4] = {1, 1, 2, 2};
  int64_t shape[2] = {1, GK};
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(1, CIN, H, H));
  ir_value_id w = ir_add_const(g, "W", IR_F32, &ws, W, sizeof W, false);
  ir_value_id b = ir_add_const(g, "B", IR_F32, &bs, B, sizeof B, false);
  ir_value_id sc = ir_add_const(g, "scales", IR_F32, &ss, scales, sizeof scales, false);
  ir_value_id cd = ir_add_const(g, "cond", IR_BOOL, &cs, cond, sizeof cond, false);
  ir_value_id sh = ir_add_const(g, "shape", IR_I64, &shs, shape, sizeof shape, false);
  ir_value_id gm = ir_add_const(g, "G", IR_F32, &gs, G, sizeof G, false);
  ir_value_id gb = ir_add_const(g, "bias", IR_F32, &gbs, bias, sizeof bias, false);
  ir_value_id tb = ir_add_const(g, "table", IR_F32, &ts, table, sizeof table, false);
  ir_value_id c = ct_val(g, "c", IR_F32, SHAPE(1, COUT, H, H));
  ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(1, COUT, 2 * H, 2 * H));
  ir_value_id k = ct_val(g, "k", IR_F32, SHAPE(1, KEPT, 2 * H, 2 * H));
  ir_value_id f = ct_val(g, "f", IR_F32, SHAPE(1, GK));
  ir_value_id g0 = ct_val(g, "g0", IR_F32, SHAPE(1, GN)), y = ct_val(g, "y", IR_F32, SHAPE(1, GN));
  ir_node_id n = ct_node(g, IR_OP_CONV, 3, (ir_value_id[]){x, w, b}, c);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  n = ct_node(g, IR_OP_RESIZE, 3, (ir_value_id[]){c, IR_NONE, sc}, r);
  ir_set_attr_string(g, n, "mode", "linear");
  n = ct_node(g, IR_OP_COMPRESS, 2, (ir_value_id[]){r, cd}, k);
  ir_set_attr_int(g, n, "axis", 1);
  ct_node(g, IR_OP_RESHAPE, 2, (ir_value_id[]){k, sh}, f);
  n = ct_node(g, IR_OP_GEMM, 2, (ir_value_id[]){f, gm}, g0);
  ir_set_attr_int(g, n, "transB", 1);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){g0, gb}, y);
  ct_io(g, 1, &x, 3, (ir_value_id[]){y, r, tb});
  return g;
}

/* A fresh temporary folder with OUT/{emb,ext,other} compiled. */
typedef struct fixture {
  char dir[64];
  char emb[128], ext[128], other[128];
  float G[GN * GK];
} fixture;

static void compile(kiln_ctx *ctx, uint32_t seed, const char *name, kiln_weights_mode mode,
                    const char *outdir, float *g_out) {
  ir_graph *g = build_graph(ctx, seed, g_out);
  kiln_options o = ct_options();
  o.weights = mode;
  ck_assert_msg(cg_write_library(ctx, g, &o, name, outdir) == KILN_OK, "%s", ctx->last_error);
  ir_graph_free(g);
}

static void setup(fixture *fx) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/kiln-weights-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(fx->dir));
  snprintf(fx->emb, sizeof fx->emb, "%s/emb", fx->dir);
  snprintf(fx->ext, sizeof fx->ext, "%s/ext", fx->dir);
  snprintf(fx->other, sizeof fx->other, "%s/other", fx->dir);
  compile(&ctx, 7, "emb", KILN_WEIGHTS_EMBEDDED, fx->emb, NULL);
  compile(&ctx, 7, "ext", KILN_WEIGHTS_EXTERNAL, fx->ext, fx->G);
  compile(&ctx, 8, "other", KILN_WEIGHTS_EXTERNAL, fx->other, NULL);
}

static void teardown(fixture *fx) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, getenv("KILN_KEEP") ? "true %s" : "rm -rf %s", fx->dir);
  ck_assert_int_eq(system(cmd), 0);
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc((size_t)n + 1);
  ck_assert_int_eq(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *size = (size_t)n;
  return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

/* Position of needle in hay, or -1. */
static long find(const unsigned char *hay, size_t n, const void *needle, size_t len) {
  for (size_t i = 0; i + len <= n; i++)
    if (!memcmp(hay + i, needle, len)) return (long)i;
  return -1;
}

/* The value printed after `key` by a driver program; fails if absent. */
static long report(const char *text, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\n%s ", key);
  const char *p = strstr(text, pat);
  ck_assert_msg(p != NULL, "no '%s' in the report:\n%s", key, text);
  return strtol(p + strlen(pat), NULL, 10);
}

/* Builds and runs a driver linked against the given libraries; returns
 * its stdout (with a leading newline, for report()). */
static char *run_driver(const fixture *fx, const char *source, const char *flags,
                        const char *libs, const char *args) {
  char cmd[4096], out[160];
  snprintf(out, sizeof out, "%s/report.txt", fx->dir);
  snprintf(cmd, sizeof cmd,
           "cc -std=gnu11 -O1 %s -o %s/prog %s -I%s %s -lpthread -lm && "
           "(echo; %s/prog %s) > %s",
           flags, fx->dir, tu_src_path(source), fx->ext, libs, fx->dir, args, out);
  ck_assert_msg(system(cmd) == 0, "building or running the program failed: %s", cmd);
  size_t n;
  char *text = (char *)read_file(out, &n);
  text[n] = 0;
  return text;
}

START_TEST(weights_file_format) {
  fixture fx;
  setup(&fx);
  char path[200];
  snprintf(path, sizeof path, "%s/ext.weights", fx.ext);
  size_t n;
  unsigned char *file = read_file(path, &n);
  rt_weights_header h;
  memcpy(&h, file, sizeof h);
  ck_assert_mem_eq(h.magic, "KILNWTS", 8);
  ck_assert_uint_eq(h.version, 1);
  ck_assert_uint_eq(h.header_size, 4096);
  ck_assert_uint_eq(h.total_size, n);
  ck_assert_uint_eq(n % 4096, 0);
  ck_assert_uint_eq(h.alignment, 64);
  ck_assert_str_eq(h.model, "ext");
  /* packed conv weights and bias, 3 resize tables (2 dims x 2), compress
   * table, transposed G, bias, table: at least 7 constants */
  ck_assert_uint_ge(h.num_constants, 7);
  for (size_t i = sizeof h; i < 4096; i++) ck_assert_uint_eq(file[i], 0);
  /* the hash is standard FNV-1a 64 of the payload, recomputed here */
  uint64_t fnv = 0xcbf29ce484222325ull;
  for (size_t i = 4096; i < n; i++) fnv = (fnv ^ file[i]) * 0x100000001b3ull;
  ck_assert_uint_eq(h.hash, fnv);
  /* the Gemm reads G transposed: G^T's first row (G's first column) is
   * stored at an aligned offset, G's own first row is not */
  float gt[GN], grow[16];
  for (int i = 0; i < GN; i++) gt[i] = fx.G[(size_t)i * GK];
  memcpy(grow, fx.G, sizeof grow);
  long at = find(file, n, gt, sizeof gt);
  ck_assert_int_ge(at, 4096);
  ck_assert_int_eq(at % 64, 0);
  ck_assert_int_eq(find(file, n, grow, sizeof grow), -1);
  /* the payload holds the weights: the embedded library carries them, the
   * external one does not, and NAME.h names the file */
  struct stat se, sx;
  snprintf(path, sizeof path, "%s/libemb.a", fx.emb);
  ck_assert_int_eq(stat(path, &se), 0);
  snprintf(path, sizeof path, "%s/libext.a", fx.ext);
  ck_assert_int_eq(stat(path, &sx), 0);
  ck_assert_int_ge(se.st_size - sx.st_size, (off_t)sizeof fx.G);
  snprintf(path, sizeof path, "%s/emb.weights", fx.emb);
  ck_assert_int_ne(access(path, F_OK), 0);
  snprintf(path, sizeof path, "%s/ext.h", fx.ext);
  size_t hn;
  char *header = (char *)read_file(path, &hn);
  header[hn] = 0;
  char want[128];
  snprintf(want, sizeof want, "#define ext_WEIGHTS_SIZE ((uint64_t)%zuu)", n);
  ck_assert_msg(strstr(header, want), "%s", header);
  ck_assert_ptr_nonnull(strstr(header, "#define ext_WEIGHTS_FILE \"ext.weights\""));
  ck_assert_ptr_nonnull(strstr(header, "kiln_weights_open(&ext_model"));
  free(header);
  free(file);
  teardown(&fx);
}
END_TEST

/* Embedded weights are one archive member, emb_weights.o, written by kiln
 * (data_object.c) rather than LLVM: an ELF object of the model object's
 * machine whose one global, hidden, read-only symbol emb_weights_data
 * holds the same bytes as the external file's payload (G transposed at an
 * aligned offset), listed in the archive's symbol table so that the
 * linker finds it. */
static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

START_TEST(embedded_weights_object) {
  fixture fx;
  setup(&fx);
  char path[200];
  snprintf(path, sizeof path, "%s/libemb.a", fx.emb);
  size_t n;
  unsigned char *ar = read_file(path, &n);
  ck_assert_int_ge(find(ar, n, "emb_weights_data", 17), 0); /* the "/" symbol table */
  long hdr = find(ar, n, "emb_weights.o/", 14);
  ck_assert_int_gt(hdr, 0);
  long model = find(ar, n, "emb.o/", 6);
  ck_assert_int_gt(model, 0);
  const unsigned char *o = ar + hdr + 60, *mo = ar + model + 60;
  size_t size = (size_t)strtoull((const char *)ar + hdr + 48, NULL, 10);
  ck_assert_uint_le((size_t)(o - ar) + size, n);
  ck_assert_mem_eq(o, "\177ELF", 4);
  ck_assert_uint_eq(le(o + 16, 2), 1);             /* ET_REL */
  ck_assert_uint_eq(le(o + 18, 2), le(mo + 18, 2)); /* e_machine of the model's object */
  ck_assert_uint_eq(le(o + 48, 4), le(mo + 48, 4)); /* e_flags */
  uint64_t shoff = le(o + 40, 8), shnum = le(o + 60, 2);
  ck_assert_uint_eq(shnum, 6);
  const unsigned char *rodata = o + shoff + 64, *symtab = o + shoff + 3 * 64;
  ck_assert_uint_eq(le(rodata + 4, 4), 1);  /* PROGBITS */
  ck_assert_uint_eq(le(rodata + 8, 8), 2);  /* ALLOC, not WRITE or EXEC */
  ck_assert_uint_eq(le(rodata + 48, 8), 64);
  uint64_t doff = le(rodata + 24, 8), dsize = le(rodata + 32, 8);
  ck_assert_uint_eq(doff % 64, 0);
  ck_assert_uint_le(doff + dsize, size);
  const unsigned char *sym = o + le(symtab + 24, 8) + 24; /* symbol 1 */
  ck_assert_uint_eq(sym[4], 0x11);          /* GLOBAL OBJECT */
  ck_assert_uint_eq(sym[5], 2);             /* HIDDEN */
  ck_assert_uint_eq(le(sym + 6, 2), 1);     /* in .rodata */
  /* the payload: the external file's bytes after its header page */
  snprintf(path, sizeof path, "%s/ext.weights", fx.ext);
  size_t wn;
  unsigned char *file = read_file(path, &wn);
  uint64_t used = le(sym + 16, 8);
  ck_assert_uint_le(used, dsize);
  ck_assert_uint_le(used, wn - 4096);
  ck_assert_mem_eq(o + doff, file + 4096, used);
  float gt[GN];
  for (int i = 0; i < GN; i++) gt[i] = fx.G[(size_t)i * GK];
  long at = find(o + doff, dsize, gt, sizeof gt);
  ck_assert_int_ge(at, 0);
  ck_assert_int_eq(at % 64, 0);
  free(file);
  free(ar);
  teardown(&fx);
}
END_TEST

START_TEST(external_matches_embedded_and_errors) {
  fixture fx;
  setup(&fx);
  char ext[200], other[200], trunc[200], corrupt[200], missing[200];
  snprintf(ext, sizeof ext, "%s/ext.weights", fx.ext);
  snprintf(other, sizeof other, "%s/other.weights", fx.other);
  snprintf(trunc, sizeof trunc, "%s/truncated.weights", fx.dir);
  snprintf(corrupt, sizeof corrupt, "%s/corrupted.weights", fx.dir);
  snprintf(missing, sizeof missing, "%s/missing.weights", fx.dir);
  size_t n;
  unsigned char *file = read_file(ext, &n);
  write_bytes(trunc, file, n - 4096); /* the last page lost */
  file[n / 2] ^= 0x40;                /* one payload bit flipped, header intact */
  write_bytes(corrupt, file, n);
  free(file);

  char libs[600], args[1200];
  snprintf(libs, sizeof libs, "%s/libemb.a %s/libext.a %s/libother.a", fx.emb, fx.ext, fx.other);
  snprintf(args, sizeof args, "%s %s %s %s %s", ext, other, trunc, corrupt, missing);
  char *r = run_driver(&fx, "tests/unit/data/weights_main.c", "-Wall -Wextra -Werror", libs, args);
  ck_assert_int_eq(report(r, "emb_weights_size"), 0);
  ck_assert_int_eq(report(r, "ext_weights_size"), (long)n);
  ck_assert_int_eq(report(r, "open"), KILN_OK);
  ck_assert_int_eq(report(r, "shared_mapping"), 1);
  ck_assert_int_eq(report(r, "run_t1"), KILN_OK);
  ck_assert_int_eq(report(r, "same_t1"), 1);
  ck_assert_int_eq(report(r, "run_t3"), KILN_OK);
  ck_assert_int_eq(report(r, "same_t3"), 1);
  ck_assert_int_eq(report(r, "verify"), KILN_OK);
  ck_assert_int_eq(report(r, "run_null_opt"), KILN_ERR_WEIGHTS);
  ck_assert_int_eq(report(r, "run_no_weights"), KILN_ERR_WEIGHTS);
  ck_assert_int_eq(report(r, "open_other_own"), KILN_OK);
  ck_assert_int_eq(report(r, "run_wrong_weights"), KILN_ERR_WEIGHTS);
  ck_assert_int_eq(report(r, "open_missing"), KILN_ERR_IO);
  ck_assert_int_eq(report(r, "open_truncated"), KILN_ERR_WEIGHTS);
  ck_assert_int_eq(report(r, "open_other"), KILN_ERR_WEIGHTS);
  ck_assert_int_eq(report(r, "open_embedded"), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(report(r, "open_null"), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(report(r, "bad_is_null"), 1);
  ck_assert_int_eq(report(r, "open_corrupted"), KILN_OK); /* the header is intact */
  ck_assert_int_eq(report(r, "verify_corrupted"), KILN_ERR_WEIGHTS);
  free(r);
  teardown(&fx);
}
END_TEST

START_TEST(run_allocates_nothing) {
  fixture fx;
  setup(&fx);
  char libs[600], args[300];
  snprintf(libs, sizeof libs, "%s/libemb.a %s/libext.a", fx.emb, fx.ext);
  const int threads[2] = {1, 4};
  for (int i = 0; i < 2; i++) {
    snprintf(args, sizeof args, "%s/ext.weights %d", fx.ext, threads[i]);
    char *r = run_driver(&fx, "tests/unit/data/noalloc_main.c", "-Wall", libs, args);
    ck_assert_int_eq(report(r, "probe"), 2); /* the interposed malloc and free count */
    ck_assert_int_eq(report(r, "run_status"), KILN_OK);
    ck_assert_msg(report(r, "counted") == 0, "%d threads: runs allocated:\n%s", threads[i], r);
    /* more than one thread: the warm-up created the pool, and the
     * interposition saw it (the pool's calloc at least) */
    if (threads[i] > 1) ck_assert_int_ge(report(r, "warmup"), 1);
    free(r);
  }
  teardown(&fx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("weights");
  TCase *tc = tcase_create("external");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, weights_file_format);
  tcase_add_test(tc, embedded_weights_object);
  tcase_add_test(tc, external_matches_embedded_and_errors);
  tcase_add_test(tc, run_allocates_nothing);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
