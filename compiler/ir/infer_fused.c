/*
 * infer_fused.c — shapes of the fused ops fuse-ops creates.
 *
 * FusedConv(X, W, B?, R?) and FusedMatMul(A, B, bias?, R?) have the shape
 * of the Conv / MatMul they grew from.  What fusion adds is checked here
 * so a hand-written text IR cannot ask the kernel for something it does
 * not do: the residual R has exactly the output's shape and dtype (no
 * broadcasting), FusedMatMul's bias is one value per output column, and
 * the activation is one the epilogue can apply.
 */
#include <string.h>

#include "infer.h"
#include "ir.h"

/* The checks common to both: residual input 3 and the activation attribute. */
static kiln_status check_epilogue(ir_graph *g, int32_t n) {
  const ir_node *nd = &g->nodes[n];
  const ir_value *y = &g->values[nd->outputs[0]];
  if (nd->num_inputs > 3 && nd->inputs[3] >= 0) {
    const ir_value *r = &g->values[nd->inputs[3]];
    if (r->shape.rank >= 0 && y->shape.rank >= 0 &&
        (!ir_shape_equal(&r->shape, &y->shape) || r->dtype != y->dtype)) {
      ir_error_node(g, n, "residual input must have the output's shape and dtype");
      return KILN_ERR_INVALID_MODEL;
    }
  }
  const char *act = ir_attr_string_or(g, n, "activation", NULL);
  if (act) {
    ir_op op = ir_op_lookup("", act);
    bool ok = op == IR_OP_RELU || op == IR_OP_CLIP || op == IR_OP_LEAKY_RELU ||
              op == IR_OP_HARD_SIGMOID || op == IR_OP_HARD_SWISH || op == IR_OP_SIGMOID ||
              op == IR_OP_TANH || op == IR_OP_GELU;
    if (!ok) {
      ir_error_node(g, n, "activation '%s' cannot be fused", act);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  return KILN_OK;
}

kiln_status infer_fused_conv(ir_graph *g, int32_t n) {
  kiln_status st = infer_conv(g, n);
  return st ? st : check_epilogue(g, n);
}

kiln_status infer_fused_matmul(ir_graph *g, int32_t n) {
  kiln_status st = infer_matmul(g, n);
  if (st) return st;
  const ir_node *nd = &g->nodes[n];
  const ir_value *y = &g->values[nd->outputs[0]];
  if (nd->num_inputs > 2 && nd->inputs[2] >= 0 && y->shape.rank >= 1) {
    const ir_value *b = &g->values[nd->inputs[2]];
    if (b->shape.rank != 1 || b->shape.dims[0] != y->shape.dims[y->shape.rank - 1] ||
        b->dtype != y->dtype) {
      ir_error_node(g, n, "bias must be one value per output column");
      return KILN_ERR_INVALID_MODEL;
    }
  }
  return check_epilogue(g, n);
}
