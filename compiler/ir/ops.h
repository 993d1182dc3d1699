/*
 * ops.h — the op table.
 *
 * Every op kiln knows, ONNX's and kiln's own, is one row of ops.def.  The
 * rows expand into the ir_op enum, the name table and the per-op hooks
 * below; other per-op tables (lowering, constant evaluation) are arrays
 * indexed by ir_op, checked row by row against this one by
 * tests/unit/test_tables.c.
 *
 * An op is *supported* when it has a shape-inference hook: the importer
 * refuses every other op (listing all of them at once).
 */
#ifndef KILN_OPS_H
#define KILN_OPS_H

#include <stdint.h>

#include "kiln.h"

typedef enum {
#define OP(id, name, domain, min_in, max_in, min_out, max_out, infer, doc) IR_OP_##id,
#include "ops.def"
#undef OP
  IR_OP_COUNT
} ir_op;

struct ir_graph;
/* Infers dtype and shape of node n's outputs from its inputs and attributes.
 * Reports with ir_error_node and returns non-OK on invalid input. */
typedef kiln_status (*ir_infer_fn)(struct ir_graph *g, int32_t n);

typedef struct ir_op_info {
  const char *name;      /* ONNX op_type, or kiln's own op name */
  const char *domain;    /* "" for the ONNX default domain, "kiln" for ours */
  int8_t min_inputs, max_inputs;   /* max -1: variadic */
  int8_t min_outputs, max_outputs; /* max -1: variadic */
  ir_infer_fn infer;     /* NULL: known but unsupported */
  const char *doc;       /* one line: what the op computes */
} ir_op_info;

/* IR_OP_COUNT rows; declared without a size so that ops.c's definition
 * takes its size from its rows and its _Static_assert can fail. */
extern const ir_op_info ir_ops[];

/* Finds an op by domain and name ("" and "ai.onnx" are the same domain);
 * returns IR_OP_COUNT if unknown. */
ir_op ir_op_lookup(const char *domain, const char *name);
static inline int ir_op_supported(ir_op op) { return op < IR_OP_COUNT && ir_ops[op].infer != 0; }

#endif
