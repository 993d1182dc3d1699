/*
 * test_targets.c — target descriptions (targets/<isa>/target.yaml and
 * their loader), triple lookup, target machines for cross triples, the
 * choice of runtime objects, the ABI attributes and lane counts the code
 * generator derives from a description, and the riscv64 runtime's
 * half-precision helpers.
 *
 * Running cross-compiled code is tests/models/cross.py's job (qemu).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blobs.h"
#include "cgtest.h"
#include "kernels/gemm.h"
#include "targets/target.h"

/* The half helpers under other names, so they do not replace libgcc's in
 * this test program (which uses libgcc's, through _Float16, as reference). */
#define __extendhfsf2 test_extendhfsf2
#define __truncsfhf2 test_truncsfhf2
#include "../../runtime/half.c"
#undef __extendhfsf2
#undef __truncsfhf2

static const char *const isas[] = {"x86_64", "aarch64", "riscv64"};

/* ---- the YAML files ------------------------------------------------------------- */
START_TEST(each_description_loads_and_is_the_embedded_one) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ck_assert_int_eq(tgt_builtin_count(), 3);
  for (int i = 0; i < 3; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "targets/%s/target.yaml", isas[i]);
    tgt_desc file, builtin;
    ck_assert_msg(tgt_load_file(&ctx, tu_src_path(rel), &file) == KILN_OK, "%s", ctx.last_error);
    ck_assert_int_eq(file.version, TGT_VERSION);
    ck_assert_str_eq(file.isa, isas[i]);
    /* the triple starts with the isa, which is among the aliases */
    ck_assert_int_eq(strncmp(file.triple, file.isa, strlen(file.isa)), 0);
    bool self = false;
    for (int a = 0; a < file.num_aliases; a++) self |= !strcmp(file.aliases[a], file.isa);
    ck_assert(self);
    ck_assert(file.elf_machine > 0);
    ck_assert(file.cpu[0] && file.cross_cc[0] && file.qemu[0] && file.num_packages > 0);
    /* the build embeds the same text under "<isa>/target.yaml" */
    int b = 0;
    while (b < tgt_builtin_count() && strncmp(tgt_builtin_name(b), isas[i], strlen(isas[i]))) b++;
    ck_assert_int_lt(b, tgt_builtin_count());
    ck_assert_int_eq(tgt_builtin(&ctx, b, &builtin), KILN_OK);
    ck_assert_int_eq(memcmp(&file, &builtin, sizeof file), 0);
  }
  ck_assert_int_eq(ctx.num_errors, 0);
}
END_TEST

START_TEST(descriptions_hold_the_isa_facts) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc d;
  char canon[128];
  /* ELF machine numbers are fixed by the psABIs: EM_X86_64, EM_AARCH64, EM_RISCV */
  const unsigned machine[3] = {62, 183, 243};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(tgt_find(&ctx, isas[i], &d, canon, sizeof canon), KILN_OK);
    ck_assert_uint_eq(d.elf_machine, machine[i]);
    ck_assert_str_eq(canon, d.triple);
  }
  ck_assert_int_eq(tgt_find(&ctx, "aarch64", &d, canon, sizeof canon), KILN_OK);
  ck_assert_ptr_nonnull(strstr(d.features, "+neon"));
  ck_assert_int_eq(d.vector_bits, 128);
  ck_assert(!d.sign_extend_i32);
  ck_assert_int_eq(tgt_find(&ctx, "riscv64", &d, canon, sizeof canon), KILN_OK);
  ck_assert_str_eq(d.features, "+m,+a,+f,+d,+c"); /* rv64gc: portable, no V */
  ck_assert_int_eq(d.vector_bits, 0);
  ck_assert(d.sign_extend_i32);
  ck_assert_uint_eq(d.elf_flags_mask & 0x6, 0x6); /* the float ABI bits */
}
END_TEST

/* Parses text and checks it is refused with a message containing `want`. */
static void refused(const char *text, const char *want) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc d;
  kiln_status st = tgt_parse(&ctx, "bad.yaml", text, strlen(text), &d);
  ck_assert_msg(st == KILN_ERR_INVALID_ARGUMENT, "accepted: %s", text);
  ck_assert_msg(strstr(ctx.last_error, "bad.yaml: ") && strstr(ctx.last_error, want),
                "message '%s' lacks '%s'", ctx.last_error, want);
}

/* A valid description with one line replaced (or dropped if `with` is ""). */
static const char *edited(const char *key, const char *with) {
  static char buf[2048];
  static const char *const lines[] = {
      "version: 1\n", "isa: toy\n", "triple: toy-unknown-linux-gnu\n", "aliases: [toy, toy64]\n",
      "elf_machine: 4242\n", "elf_flags_mask: 0x6\n", "cpu: generic\n", "features: [+a, -b]\n",
      "vector_bits: 128\n", "vector_features: {+w: 256}\n", "vector_registers: 16\n", "sign_extend_i32: false\n",
      "cross_cc: toy-linux-gnu-gcc\n", "qemu: qemu-toy\n", "packages: [gcc-toy]\n"};
  size_t n = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    const char *l = lines[i];
    if (key && !strncmp(l, key, strlen(key)) && l[strlen(key)] == ':') l = with;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", l);
  }
  return buf;
}

START_TEST(a_valid_description_parses) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc d;
  const char *text = edited(NULL, NULL);
  ck_assert_msg(tgt_parse(&ctx, "ok.yaml", text, strlen(text), &d) == KILN_OK, "%s", ctx.last_error);
  ck_assert_str_eq(d.isa, "toy");
  ck_assert_int_eq(d.num_aliases, 2);
  ck_assert_str_eq(d.aliases[1], "toy64");
  ck_assert_uint_eq(d.elf_machine, 4242);
  ck_assert_uint_eq(d.elf_flags_mask, 6);
  ck_assert_str_eq(d.features, "+a,-b");
  ck_assert_int_eq(d.num_vector_features, 1);
  ck_assert_str_eq(d.vector_features[0].feature, "+w");
  ck_assert_int_eq(d.vector_features[0].bits, 256);
  ck_assert_str_eq(d.packages[0], "gcc-toy");
  /* vector_features is optional */
  text = edited("vector_features", "");
  ck_assert_int_eq(tgt_parse(&ctx, "ok.yaml", text, strlen(text), &d), KILN_OK);
  ck_assert_int_eq(d.num_vector_features, 0);
}
END_TEST

START_TEST(malformed_descriptions_are_refused_clearly) {
  refused("version: 1\nisa: [toy\n", "line 3");                   /* YAML syntax */
  refused("", "empty target description");
  refused("- version\n- 1\n", "a target description is a map");
  refused(edited("version", ""), "missing 'version'");
  refused(edited("version", "version: 2\n"), "unsupported version 2 (this kiln reads version 1)");
  refused(edited("version", "version: one\n"), "'version' must be an integer");
  refused(edited("cpu", ""), "missing 'cpu'");
  refused(edited("cpu", "cpu: generic\ncpus: x\n"), "line 8: unknown key 'cpus'");
  refused(edited("cpu", "cpu: generic\ncpu: other\n"), "'cpu' appears twice");
  refused(edited("vector_bits", "vector_bits: wide\n"), "line 9: 'vector_bits' must be an integer");
  refused(edited("vector_bits", "vector_bits: 12\n"), "multiple of 8");
  refused(edited("sign_extend_i32", "sign_extend_i32: maybe\n"), "must be true or false");
  refused(edited("aliases", "aliases: toy\n"), "'aliases' must be a list");
  refused(edited("aliases", "aliases: []\n"), "at least one arch");
  refused(edited("aliases", "aliases: [a, b, c, d, e, f, g, h, i]\n"), "more than 8 entries");
  refused(edited("features", "features: [avx]\n"), "feature 'avx' must start with + or -");
  refused(edited("features", "features: [[+a]]\n"), "must be a non-empty string");
  refused(edited("vector_features", "vector_features: [+w]\n"), "must be a map");
  refused(edited("triple", "triple: other-unknown-linux-gnu\n"), "must be a full triple starting with the isa");
  refused(edited("elf_machine", "elf_machine: 0\n"), "ELF e_machine number");
  refused(edited("elf_machine", "elf_machine: -3\n"), "must be an integer in");
  refused(edited("cpu", "cpu: two words\n"), "must not contain spaces");
  refused(edited("qemu", "qemu: "
                         "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n"),
          "'qemu' is longer than 63 bytes");
}
END_TEST

START_TEST(missing_file_is_an_io_error) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc d;
  ck_assert_int_eq(tgt_load_file(&ctx, "/nonexistent/target.yaml", &d), KILN_ERR_IO);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "/nonexistent/target.yaml"));
}
END_TEST

/* ---- triples ------------------------------------------------------------------------ */
START_TEST(triple_aliases_are_normalized) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc d;
  char canon[128];
  static const char *const cases[][3] = {
      {"aarch64-linux-gnu", "aarch64", "aarch64-linux-gnu"},
      {"aarch64-unknown-linux-gnu", "aarch64", "aarch64-unknown-linux-gnu"},
      {"arm64-linux-gnu", "aarch64", "aarch64-linux-gnu"},
      {"arm64", "aarch64", "aarch64-unknown-linux-gnu"},
      {"riscv64-linux-gnu", "riscv64", "riscv64-linux-gnu"},
      {"riscv64gc-unknown-linux-gnu", "riscv64", "riscv64-unknown-linux-gnu"},
      {"x86_64-pc-linux-gnu", "x86_64", "x86_64-pc-linux-gnu"},
      {"amd64-linux-gnu", "x86_64", "x86_64-linux-gnu"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_msg(tgt_find(&ctx, cases[i][0], &d, canon, sizeof canon) == KILN_OK, "%s",
                  ctx.last_error);
    ck_assert_str_eq(d.isa, cases[i][1]);
    ck_assert_str_eq(canon, cases[i][2]);
  }
  ck_assert_int_eq(tgt_find(&ctx, "mips64-linux-gnu", &d, canon, sizeof canon),
                   KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "unknown target 'mips64-linux-gnu'"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "x86_64, aarch64, riscv64"));
  /* a prefix of an alias is not the alias */
  ck_assert(!tgt_match(&ctx, "aarch-linux-gnu", &d, canon, sizeof canon));
  ck_assert(!tgt_match(&ctx, "riscv64gcv-linux-gnu", &d, canon, sizeof canon));
}
END_TEST

START_TEST(vector_bits_follow_features) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  tgt_desc x, r;
  char canon[128];
  ck_assert_int_eq(tgt_find(&ctx, "x86_64", &x, canon, sizeof canon), KILN_OK);
  ck_assert_int_eq(tgt_find(&ctx, "riscv64", &r, canon, sizeof canon), KILN_OK);
  ck_assert_int_eq(tgt_vector_bits(&x, ""), 128);
  ck_assert_int_eq(tgt_vector_bits(&x, "+sse2,+avx,+avx2,-avx512f"), 256);
  ck_assert_int_eq(tgt_vector_bits(&x, "+avx,+avx512f"), 512);
  ck_assert_int_eq(tgt_vector_bits(&x, "+avx512f,-avx512f,-avx"), 128); /* last mention wins */
  ck_assert_int_eq(tgt_vector_bits(&x, "+avx512fp16"), 128);            /* whole names only */
  ck_assert_int_eq(tgt_vector_bits(&r, "+m,+a,+f,+d,+c"), 0);
  ck_assert_int_eq(tgt_vector_bits(&r, "+m,+v"), 128);
  ck_assert_int_eq(tgt_vector_bits(&r, "+v,+zvl256b"), 256);
}
END_TEST

/* ---- target machines ------------------------------------------------------------------ */
START_TEST(cross_triples_get_portable_defaults) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_target t;
  ck_assert_msg(cg_target_init(&ctx, &t, "arm64-linux-gnu", NULL, 2) == KILN_OK, "%s",
                ctx.last_error);
  ck_assert_str_eq(t.triple, "aarch64-unknown-linux-gnu");
  ck_assert_str_eq(t.cpu, t.desc.cpu);
  ck_assert_str_eq(t.features, t.desc.features);
  ck_assert_int_eq(t.vector_bits, 128);
  ck_assert(!t.host);
  ck_assert_int_eq(LLVMPointerSize(t.layout), 8);
  cg_target_dispose(&t);

  ck_assert_int_eq(cg_target_init(&ctx, &t, "riscv64gc-unknown-linux-gnu", NULL, 2), KILN_OK);
  ck_assert_str_eq(t.triple, "riscv64-unknown-linux-gnu");
  ck_assert_str_eq(t.cpu, "generic-rv64");
  ck_assert_str_eq(t.features, "+m,+a,+f,+d,+c");
  ck_assert_int_eq(t.vector_bits, 0);
  cg_target_dispose(&t);

  /* an explicit CPU brings its own features */
  ck_assert_int_eq(cg_target_init(&ctx, &t, "riscv64-linux-gnu", "spacemit-x60", 2), KILN_OK);
  ck_assert_str_eq(t.cpu, "spacemit-x60");
  ck_assert_str_eq(t.features, "");
  cg_target_dispose(&t);

  /* the host keeps this machine's CPU, and finds its description */
  ck_assert_int_eq(cg_target_init(&ctx, &t, "host", NULL, 2), KILN_OK);
  ck_assert(t.host);
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
  ck_assert(t.described);
#endif
  cg_target_dispose(&t);

  ck_assert_int_eq(cg_target_init(&ctx, &t, "aarch64-apple-darwin", NULL, 2), KILN_ERR_UNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "Linux only"));
  ck_assert_int_eq(cg_target_init(&ctx, &t, "no-such-arch-linux", NULL, 2),
                   KILN_ERR_INVALID_ARGUMENT);
}
END_TEST

/* ---- runtime objects -------------------------------------------------------------------- */
static unsigned elf_machine_of(const cg_member *m) {
  const unsigned char *p = m->data;
  return (unsigned)(p[0x12] | p[0x13] << 8);
}

START_TEST(runtime_objects_are_picked_by_isa) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_member members[64];
  int found_isas = 0;
  for (int i = 0; i < 3; i++) {
    cg_target t;
    const char *triple = i == 0 ? "x86_64-linux-gnu" : i == 1 ? "aarch64-linux-gnu" : "riscv64-linux-gnu";
    ck_assert_int_eq(cg_target_init(&ctx, &t, triple, NULL, 2), KILN_OK);
    int n = 0;
    ck_assert_int_le(cg_runtime_objects_count, 64);
    kiln_status st = cg_runtime_for(&ctx, &t, cg_runtime_objects, cg_runtime_objects_count,
                                    members, &n);
    if (st == KILN_OK) {
      found_isas++;
      /* each a distinct member, all of this ISA, the pool among them */
      bool pool = false;
      for (int a = 0; a < n; a++) {
        ck_assert_uint_eq(elf_machine_of(&members[a]), t.desc.elf_machine);
        pool |= !strcmp(members[a].name, "rt_pool.o");
        for (int b = 0; b < a; b++) ck_assert_str_ne(members[a].name, members[b].name);
      }
      ck_assert(pool);
    } else {
      ck_assert_int_eq(st, KILN_ERR_UNSUPPORTED);
    }
    /* with no objects at all: the error names the triple and the packages */
    ck_assert_int_eq(cg_runtime_for(&ctx, &t, cg_runtime_objects, 0, members, &n),
                     KILN_ERR_UNSUPPORTED);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(ctx.last_error, "no kiln runtime for target"));
    ck_assert_ptr_nonnull(strstr(ctx.last_error, t.triple));
    ck_assert_ptr_nonnull(strstr(ctx.last_error, t.desc.packages[0]));
    ck_assert_ptr_nonnull(strstr(ctx.last_error, t.desc.cross_cc));
    cg_target_dispose(&t);
  }
  ck_assert_int_ge(found_isas, 1); /* at least the build machine's */
}
END_TEST

/* ---- code generation per target ---------------------------------------------------------- */
/* A graph with a channel-block Conv (8 output channels) and a parallel
 * kernel, so NAME_run calls rt_resolve_threads. */
static ir_graph *conv_graph(kiln_ctx *ctx) {
  ir_graph *g = ir_graph_new(ctx, "t");
  g->opset = 17;
  static float w[8 * 4 * 9];
  for (int i = 0; i < 8 * 4 * 9; i++) w[i] = (float)(i % 7) - 3;
  ir_shape wsh = SHAPE(8, 4, 3, 3);
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(1, 4, 64, 64));
  ir_value_id wv = ir_add_const(g, "w", IR_F32, &wsh, w, sizeof w, false);
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(1, 8, 64, 64));
  ir_node_id n = ct_node(g, IR_OP_CONV, 2, (ir_value_id[]){x, wv}, y);
  ir_set_attr_ints(g, n, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ct_io(g, 1, &x, 1, &y);
  return g;
}

/* The optimized LLVM IR of g for a triple (the caller frees it). */
static char *module_text(kiln_ctx *ctx, ir_graph *g, const char *triple) {
  cg_target t;
  ck_assert_int_eq(cg_target_init(ctx, &t, triple, NULL, 2), KILN_OK);
  LLVMContextRef c = LLVMContextCreate();
  LLVMModuleRef m = NULL;
  int64_t ws;
  ck_assert_msg(cg_build_module(ctx, g, &t, "t", 0, NULL, c, &m, &ws) == KILN_OK, "%s", ctx->last_error);
  ck_assert_int_eq(cg_optimize(ctx, &t, m), KILN_OK);
  char *text = LLVMPrintModuleToString(m);
  LLVMDisposeModule(m);
  LLVMContextDispose(c);
  cg_target_dispose(&t);
  return text;
}

START_TEST(int_returns_follow_the_c_abi) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = conv_graph(&ctx);
  /* riscv64 keeps 32-bit ints sign-extended across calls: say so */
  char *rv = module_text(&ctx, g, "riscv64-linux-gnu");
  ck_assert_msg(strstr(rv, "define signext") && strstr(rv, "i32 @t_run("), "%s", rv);
  ck_assert_ptr_nonnull(strstr(rv, "declare signext i32 @rt_resolve_threads(ptr, i32 signext)"));
  ck_assert_ptr_nonnull(strstr(rv, "\"target-features\"=\"+m,+a,+f,+d,+c\""));
  LLVMDisposeMessage(rv);
  /* AArch64 and x86-64 do not */
  char *a64 = module_text(&ctx, g, "aarch64-linux-gnu");
  ck_assert_ptr_null(strstr(a64, "signext"));
  ck_assert_ptr_nonnull(strstr(a64, "declare i32 @rt_resolve_threads(ptr, i32)"));
  LLVMDisposeMessage(a64);
  ir_graph_free(g);
}
END_TEST

START_TEST(conv_lanes_follow_vector_registers) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = conv_graph(&ctx);
  /* The default schedule sizes the GEMM register block from each target's
   * vector width and register count; before optimization the
   * accumulator vector type is explicit in the module. */
  struct { const char *triple; int lanes, max_acc_regs; } want[] = {
      {"aarch64-linux-gnu", 4, 28},   /* NEON: 32 x 128-bit */
      {"riscv64-linux-gnu", 4, 5},    /* scalar FP: 32 registers = 8 "vectors" of 4 */
      {"x86_64-linux-gnu", 4, 14},    /* SSE2 baseline: 16 xmm */
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    cg_target t;
    ck_assert_int_eq(cg_target_init(&ctx, &t, want[i].triple, NULL, 0), KILN_OK);
    cg_target_caps caps = cg_caps_of(&t);
    cg_gemm_shape sh = {.M = 64, .N = 3136, .K = 576, .batch = 1};
    cg_schedule sc;
    cg_schedule_default(&caps, &sh, &sc);
    ck_assert_int_eq(sc.lanes, want[i].lanes);
    int acc = sc.mr * sc.nr / sc.lanes;
    ck_assert_msg(acc <= want[i].max_acc_regs && acc >= 2, "%s: %d accumulators", want[i].triple, acc);
    ck_assert_ptr_null(cg_schedule_check(&caps, &sc));
    LLVMContextRef c = LLVMContextCreate();
    LLVMModuleRef m = NULL;
    int64_t ws;
    ck_assert_int_eq(cg_build_module(&ctx, g, &t, "t", 0, NULL, c, &m, &ws), KILN_OK);
    char *text = LLVMPrintModuleToString(m);
    char vec[32];
    snprintf(vec, sizeof vec, "<%d x float>", sc.lanes);
    ck_assert_msg(strstr(text, vec), "%s: no %s", want[i].triple, vec);
    LLVMDisposeMessage(text);
    LLVMDisposeModule(m);
    LLVMContextDispose(c);
    cg_target_dispose(&t);
  }
  /* AVX-512 doubles the registers and quadruples the lanes */
  cg_target_caps avx512 = {.vector_bits = 512, .vector_regs = 32, .fma = true};
  cg_gemm_shape sh = {.M = 1024, .N = 1024, .K = 1024, .batch = 1};
  cg_schedule sc;
  cg_schedule_default(&avx512, &sh, &sc);
  ck_assert_int_eq(sc.lanes, 16);
  ck_assert_int_ge(sc.mr * sc.nr / sc.lanes, 16);
  ck_assert_int_le(sc.mr * sc.nr / sc.lanes + sc.nr / sc.lanes + 1, 31);
  ir_graph_free(g);
}
END_TEST

START_TEST(soft_float_cpu_is_refused_on_riscv64) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = conv_graph(&ctx);
  kiln_options o = ct_options();
  o.target = "riscv64-linux-gnu";
  o.cpu = "generic-rv64"; /* no F or D: LLVM picks the lp64 (soft-float) ABI */
  char dir[] = "/tmp/kiln-tgt-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  kiln_status st = cg_write_library(&ctx, g, &o, "t", dir);
  ck_assert_int_eq(st, KILN_ERR_UNSUPPORTED);
  /* refused for the ABI, or earlier if this kiln has no riscv64 runtime */
  ck_assert_msg(strstr(ctx.last_error, "float ABI") || strstr(ctx.last_error, "no kiln runtime"),
                "%s", ctx.last_error);
  char path[128];
  snprintf(path, sizeof path, "%s/libt.a", dir);
  ck_assert_ptr_null(fopen(path, "rb")); /* nothing written */
  rmdir(dir);
  ir_graph_free(g);
}
END_TEST

/* ---- the riscv64 runtime's half helpers ---------------------------------------------------- */
static uint32_t u32_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

START_TEST(half_helpers_round_like_libgcc) {
#ifdef __FLT16_MAX__
  /* every half widens exactly */
  for (uint32_t h = 0; h < 0x10000; h++) {
    uint16_t h16 = (uint16_t)h;
    _Float16 v;
    memcpy(&v, &h16, 2);
    float want = (float)v, got = test_extendhfsf2(float_of(h));
    if (want != want)
      ck_assert_msg(got != got, "extend %04x: NaN expected", h);
    else
      ck_assert_msg(u32_of(got) == u32_of(want), "extend %04x", h);
  }
  /* narrowing: every float near each half and near each halfway point
   * between neighbours (where rounding to even decides), plus a sweep */
  for (uint32_t h = 0; h < 0x7c00; h++) {
    uint16_t a16 = (uint16_t)h, b16 = (uint16_t)(h + 1);
    _Float16 a, b;
    memcpy(&a, &a16, 2);
    memcpy(&b, &b16, 2);
    uint32_t mid = u32_of(((float)a + (float)b) / 2);
    for (uint32_t base = 0; base < 2; base++)
      for (int d = -2; d <= 2; d++)
        for (uint32_t sign = 0; sign < 2; sign++) {
          uint32_t bits = ((base ? mid : u32_of((float)a)) + (uint32_t)d) | sign << 31;
          float f = float_of(bits);
          _Float16 w = (_Float16)f;
          uint16_t want;
          memcpy(&want, &w, 2);
          uint16_t got = (uint16_t)(u32_of(test_truncsfhf2(f)) & 0xffff);
          ck_assert_msg(got == want, "trunc %08x: got %04x want %04x", bits, got, want);
        }
  }
  for (uint64_t bits = 0; bits < (1ull << 32); bits += 65521) {
    float f = float_of((uint32_t)bits);
    _Float16 w = (_Float16)f;
    uint16_t want;
    memcpy(&want, &w, 2);
    uint16_t got = (uint16_t)(u32_of(test_truncsfhf2(f)) & 0xffff);
    if (f != f)
      ck_assert_msg((got & 0x7c00) == 0x7c00 && (got & 0x3ff), "trunc NaN %08x", (uint32_t)bits);
    else
      ck_assert_msg(got == want, "trunc %08x: got %04x want %04x", (uint32_t)bits, got, want);
  }
#else
  printf("half_helpers_round_like_libgcc: no _Float16 in this compiler, reference skipped\n");
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("targets");
  TCase *tc = tcase_create("descriptions");
  tcase_add_test(tc, each_description_loads_and_is_the_embedded_one);
  tcase_add_test(tc, descriptions_hold_the_isa_facts);
  tcase_add_test(tc, a_valid_description_parses);
  tcase_add_test(tc, malformed_descriptions_are_refused_clearly);
  tcase_add_test(tc, missing_file_is_an_io_error);
  tcase_add_test(tc, triple_aliases_are_normalized);
  tcase_add_test(tc, vector_bits_follow_features);
  suite_add_tcase(s, tc);
  tc = tcase_create("codegen");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, cross_triples_get_portable_defaults);
  tcase_add_test(tc, runtime_objects_are_picked_by_isa);
  tcase_add_test(tc, int_returns_follow_the_c_abi);
  tcase_add_test(tc, conv_lanes_follow_vector_registers);
  tcase_add_test(tc, soft_float_cpu_is_refused_on_riscv64);
  tcase_add_test(tc, half_helpers_round_like_libgcc);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
