/*
 * test_tables.c — every table indexed by an enum is in step with the enum.
 *
 * A _Static_assert on an array declared [COUNT] compares COUNT with itself;
 * these checks look at each row instead, so a row missing in the middle of
 * a designated-initializer table, a duplicated op name or a lowering for an
 * op the importer can never produce fails here.
 */
#include <string.h>

#include "cg.h"
#include "testutil.h"

/* ops.def: each row named, documented, found again by name, sane arity. */
START_TEST(op_rows_are_complete_and_unique) {
  for (int i = 0; i < IR_OP_COUNT; i++) {
    const ir_op_info *op = &ir_ops[i];
    ck_assert_msg(op->name && *op->name, "op %d has no name", i);
    ck_assert_msg(op->domain, "op %s has no domain", op->name);
    ck_assert_msg(op->doc && *op->doc, "op %s has no doc line", op->name);
    /* the lookup returns the first row of that name: a duplicate fails */
    ck_assert_msg(ir_op_lookup(op->domain, op->name) == (ir_op)i, "op %s:%s is listed twice",
                  op->domain, op->name);
    ck_assert_msg(op->min_inputs >= 0 && (op->max_inputs < 0 || op->max_inputs >= op->min_inputs),
                  "op %s: inputs %d..%d", op->name, op->min_inputs, op->max_inputs);
    ck_assert_msg(op->min_outputs >= 0 &&
                      (op->max_outputs < 0 || op->max_outputs >= op->min_outputs),
                  "op %s: outputs %d..%d", op->name, op->min_outputs, op->max_outputs);
  }
}
END_TEST

/* dtype.c: every dtype after UNDEFINED has its names, found again by name. */
START_TEST(dtype_rows_are_complete) {
  for (int dt = 1; dt < IR_DTYPE_COUNT; dt++) {
    const ir_dtype_info *d = &ir_dtypes[dt];
    ck_assert_msg(d->name && *d->name && d->onnx_name && *d->onnx_name, "dtype %d has no row",
                  dt);
    ck_assert_msg(ir_dtype_from_name(d->name, (int)strlen(d->name)) == (ir_dtype)dt,
                  "dtype %s is not found by its name", d->name);
    /* only strings have no fixed width */
    ck_assert_msg((d->bits == 0) == (dt == IR_STRING), "dtype %s has %d bits", d->name, d->bits);
  }
}
END_TEST

/* status.c: every status has its own message; past the end is "unknown". */
START_TEST(status_strings_are_complete) {
  const char *unknown = kiln_status_string(KILN_STATUS_COUNT_);
  ck_assert_ptr_nonnull(unknown);
  ck_assert_ptr_eq(kiln_status_string(-1), unknown);
  for (int s = 0; s < KILN_STATUS_COUNT_; s++) {
    const char *m = kiln_status_string(s);
    ck_assert_msg(m && *m && m != unknown, "status %d has no message", s);
    for (int t = 0; t < s; t++)
      ck_assert_msg(strcmp(m, kiln_status_string(t)), "statuses %d and %d share a message", t, s);
  }
}
END_TEST

/* lower_table.c: a lowering is reachable only for an op the importer and
 * the passes accept, i.e. one with shape inference; anything else is a row
 * under the wrong index. */
START_TEST(lowerings_are_for_supported_ops) {
  int lowered = 0;
  for (int i = 0; i < IR_OP_COUNT; i++) {
    if (!cg_lower_table[i]) continue;
    lowered++;
    ck_assert_msg(ir_ops[i].infer, "op %s is lowered but has no shape inference", ir_ops[i].name);
  }
  /* the table is not empty: the loop above checked something */
  ck_assert_int_gt(lowered, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tables");
  TCase *tc = tcase_create("tables");
  tcase_add_test(tc, op_rows_are_complete_and_unique);
  tcase_add_test(tc, dtype_rows_are_complete);
  tcase_add_test(tc, status_strings_are_complete);
  tcase_add_test(tc, lowerings_are_for_supported_ops);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
