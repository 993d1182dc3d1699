/*
 * attr_kinds.h — which kind each ONNX attribute must have.
 *
 * kiln reads attributes through typed getters (ir_attr_int_or,
 * ir_attr_ints, ...) that treat an attribute of another kind as absent:
 * convenient for defaults, but a model that gives Transpose's `perm` as a
 * FLOAT would then be compiled with the default permutation, silently.
 * The verifier closes that hole with this table, generated from ONNX's own
 * operator schemas (tools/gen-attr-kinds.py -> attr_kinds.def): an
 * attribute the schema knows must have the schema's kind for the graph's
 * opset.  Attributes the schema does not know, and kiln's own ops, are not
 * constrained by the verifier; the importer refuses the first kind
 * (ir_attr_defined), as the ONNX checker and ONNX Runtime do.
 */
#ifndef KILN_ATTR_KINDS_H
#define KILN_ATTR_KINDS_H

#include <stdbool.h>

#include "ir.h"

/* The kinds attribute `name` of `op` may have in `opset` (0: any opset),
 * as a bit set (1u << IR_ATTR_INT | ...); 0 if nothing is known. */
unsigned ir_attr_kinds_allowed(ir_op op, const char *name, int opset);
/* Whether the schema of `op` in `opset` defines an attribute `name`:
 * 1 yes, 0 no, -1 unknown (kiln's own op, no ONNX schema of the op in that
 * opset, or an opset past the table).  Attributes of kinds an ir_attr
 * cannot hold (Constant's sparse_value, Optional's type) are not in the
 * table: the importer refuses those by kind before asking. */
int ir_attr_defined(ir_op op, const char *name, int opset);
/* "INT", "FLOATS", ... ("?" for values out of range). */
const char *ir_attr_kind_name(int kind);

#endif
