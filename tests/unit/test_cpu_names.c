/*
 * test_cpu_names.c — --cpu and feature names are checked against LLVM
 * before a target machine exists (compiler/codegen/emit.c): an unknown
 * CPU, a CPU of another ISA or one that cannot run the target's code is
 * an error with kiln's message (LLVM's warnings and aborts stay in the
 * probing child), and every target description's CPU and features are
 * names LLVM knows.
 */
#include <stdio.h>
#include <string.h>

#include "cgtest.h"
#include "targets/target.h"

START_TEST(descriptions_name_cpus_and_features_llvm_knows) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  for (int i = 0; i < tgt_builtin_count(); i++) {
    tgt_desc d;
    ck_assert_int_eq(tgt_builtin(&ctx, i, &d), KILN_OK);
    ck_assert_msg(cg_check_features(&ctx, d.triple, d.cpu, d.features) == KILN_OK, "%s: %s",
                  tgt_builtin_name(i), ctx.last_error);
  }
  /* and a feature LLVM does not know is caught */
  ck_assert_int_eq(cg_check_features(&ctx, "aarch64-unknown-linux-gnu", "generic", "+neon,+nosuchfeat"),
                   KILN_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(ctx.last_error, "'+nosuchfeat' is not a recognized feature"), "%s",
                ctx.last_error);
}
END_TEST

START_TEST(bad_cpus_are_errors_not_aborts) {
  static const struct {
    const char *target, *cpu, *want;
  } cases[] = {
      {"x86_64-linux-gnu", "nosuchcpu", "LLVM knows no such CPU for x86_64"},
      {"x86_64-linux-gnu", "skylak", "did you mean skylake?"},
      {"x86_64-linux-gnu", "i686", "64-bit code requested"},
      {"aarch64-linux-gnu", "skylake", "LLVM knows no such CPU for aarch64"},
      {"riscv64-linux-gnu", "cortex-a76", "LLVM knows no such CPU for riscv64"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kiln_ctx ctx;
    tu_ctx(&ctx);
    cg_target t;
    ck_assert_int_eq(cg_target_init(&ctx, &t, cases[i].target, cases[i].cpu, 2),
                     KILN_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(ctx.last_error, cases[i].want), "%s --cpu %s: %s", cases[i].target,
                  cases[i].cpu, ctx.last_error);
  }
  /* good ones still make a target machine */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  cg_target t;
  ck_assert_msg(cg_target_init(&ctx, &t, "aarch64-linux-gnu", "cortex-a76", 2) == KILN_OK, "%s",
                ctx.last_error);
  cg_target_dispose(&t);
  ck_assert_msg(cg_check_target(&ctx, "x86_64-linux-gnu", "x86-64-v3") == KILN_OK, "%s",
                ctx.last_error);
}
END_TEST

START_TEST(cpu_help_lists_names) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_int_eq(cg_list_cpus(&ctx, "riscv64-linux-gnu", f), KILN_OK);
  fclose(f);
  ck_assert_msg(strstr(text, "\n  sifive-u74\n") && strstr(text, "\n  generic-rv64\n"), "%s", text);
  ck_assert_ptr_null(strstr(text, "skylake"));
  free(text);
}
END_TEST

Suite *cpu_names_suite(void);
Suite *cpu_names_suite(void) {
  Suite *s = suite_create("cpu_names");
  TCase *t = tcase_create("cpu");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, descriptions_name_cpus_and_features_llvm_knows);
  tcase_add_test(t, bad_cpus_are_errors_not_aborts);
  tcase_add_test(t, cpu_help_lists_names);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run(cpu_names_suite()); }
