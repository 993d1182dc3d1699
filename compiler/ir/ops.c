/*
 * ops.c — expands ops.def into the op info table and looks ops up by name.
 */
#include "ops.h"

#include <stddef.h>
#include <string.h>

#include "infer.h"

/* Sized by its rows, not by IR_OP_COUNT, so the assertion below compares
 * two independent counts (tests/unit/test_tables.c checks every row). */
const ir_op_info ir_ops[] = {
#define OP(id, nm, dom, min_in, max_in, min_out, max_out, inf, dc) \
  [IR_OP_##id] = {.name = nm, .domain = dom, .min_inputs = min_in, .max_inputs = max_in, \
                  .min_outputs = min_out, .max_outputs = max_out, .infer = inf, .doc = dc},
#include "ops.def"
#undef OP
};
_Static_assert(sizeof ir_ops / sizeof ir_ops[0] == IR_OP_COUNT, "op table out of step with ir_op");

/* "" and "ai.onnx" both name the default domain. */
static const char *canonical_domain(const char *d) {
  return (!d || !strcmp(d, "ai.onnx")) ? "" : d;
}

ir_op ir_op_lookup(const char *domain, const char *name) {
  domain = canonical_domain(domain);
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (!strcmp(ir_ops[i].name, name) && !strcmp(ir_ops[i].domain, domain)) return (ir_op)i;
  return IR_OP_COUNT;
}
