/*
 * attr_kinds.c — the attribute-kind table (see attr_kinds.h).
 *
 * Rows come from attr_kinds.def in op-table order, so the rows of one op
 * are found by binary search on the op and a short scan.  An attribute
 * whose kind changed between opsets (Cast's `to` was a STRING before opset
 * 6) has one row per span of opsets; a graph without an opset (text IR
 * written by hand) accepts the kind of any span.  SCHEMA rows say from
 * which opset each op has a schema at all, so that ir_attr_defined can
 * tell "this op has no such attribute" from "nothing is known".
 */
#include <stdint.h>
#include <string.h>

#include "attr_kinds.h"

typedef struct attr_rule {
  ir_op op;
  const char *name;
  ir_attr_kind kind;
  int first, last; /* opsets; last 0: no end */
} attr_rule;

static const attr_rule rules[] = {
#define ATTR(id, nm, k, f, l) {IR_OP_##id, nm, IR_ATTR_##k, f, l},
#include "attr_kinds.def"
#undef ATTR
};
enum { NUM_RULES = sizeof rules / sizeof rules[0] };

/* The opset each op's first schema belongs to (0: no schema in the table). */
static const int8_t schema_first[IR_OP_COUNT] = {
#define SCHEMA(id, f) [IR_OP_##id] = f,
#include "attr_kinds.def"
};
/* The last opset the table covers. */
static const int schema_opsets =
#define SCHEMA_OPSETS(n) n
#include "attr_kinds.def"
    ;

/* First row of op in rules[] (NUM_RULES if none). */
static int first_rule(ir_op op) {
  int lo = 0, hi = NUM_RULES;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (rules[mid].op < op)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

unsigned ir_attr_kinds_allowed(ir_op op, const char *name, int opset) {
  int lo = first_rule(op);
  unsigned any = 0, here = 0;
  for (int i = lo; i < NUM_RULES && rules[i].op == op; i++) {
    const attr_rule *r = &rules[i];
    if (strcmp(r->name, name)) continue;
    any |= 1u << r->kind;
    if (opset >= r->first && (!r->last || opset <= r->last)) here |= 1u << r->kind;
  }
  /* in an opset the attribute does not exist in, kiln ignores it: no
   * constraint */
  return opset ? here : any;
}

int ir_attr_defined(ir_op op, const char *name, int opset) {
  if (op < 0 || op >= IR_OP_COUNT || !schema_first[op] || opset < schema_first[op] ||
      opset > schema_opsets)
    return -1;
  for (int i = first_rule(op); i < NUM_RULES && rules[i].op == op; i++)
    if (!strcmp(rules[i].name, name) && opset >= rules[i].first &&
        (!rules[i].last || opset <= rules[i].last))
      return 1;
  return 0;
}

const char *ir_attr_kind_name(int kind) {
  static const char *const names[] = {"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH",
                                      "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS"};
  return kind >= 0 && kind < (int)(sizeof names / sizeof names[0]) ? names[kind] : "?";
}
