/*
 * clone.c — a copy of a graph that borrows from the original.
 *
 * Calibration compiles a variant of the graph being optimised (its
 * intermediate values made outputs) and plans its memory, which reorders
 * nodes and writes offsets; the graph the pipeline continues with must not
 * see any of that.  The copy has its own value and node tables, so those
 * edits stay in it, but shares everything immutable with the original:
 * names, constant payloads, attribute contents, quantization records.
 * The original must therefore outlive the copy.  Subgraph attributes are
 * dropped (an If or Loop left after inline-control-flow cannot be compiled
 * anyway, and the copy must not free bodies it does not own).
 */
#include <string.h>

#include "ir.h"

ir_graph *ir_graph_clone_borrowing(ir_graph *g) {
  ir_graph *c = ir_graph_new(g->ctx, g->name);
  for (ir_value_id v = 0; v < g->num_values; v++) {
    const ir_value *src = &g->values[v];
    ir_value_id id = ir_add_value_unique(c, src->name, src->dtype, &src->shape);
    ir_value *dst = &c->values[id];
    const char *name = dst->name;
    *dst = *src;
    dst->name = name;
  }
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *src = &g->nodes[n];
    ir_node_id id = ir_add_node(c, src->op, src->name, src->num_inputs, src->inputs,
                                src->num_outputs, src->outputs);
    ir_node *dst = &c->nodes[id];
    dst->dead = src->dead;
    dst->attrs = ir_arena_alloc(&c->arena, (size_t)src->num_attrs * sizeof *dst->attrs + 1);
    for (int a = 0; a < src->num_attrs; a++)
      if (src->attrs[a].kind != IR_ATTR_GRAPH) dst->attrs[dst->num_attrs++] = src->attrs[a];
  }
  /* ir_add_node set producers in node order: restore the original's,
   * which may name dead nodes the same way */
  for (ir_value_id v = 0; v < g->num_values; v++) c->values[v].producer = g->values[v].producer;
  c->num_inputs = g->num_inputs;
  c->inputs = ir_arena_dup(&c->arena, g->inputs, (size_t)g->num_inputs * sizeof *g->inputs + 1);
  c->num_outputs = g->num_outputs;
  c->outputs = ir_arena_dup(&c->arena, g->outputs, (size_t)g->num_outputs * sizeof *g->outputs + 1);
  c->syms = g->syms;
  c->num_syms = g->num_syms;
  c->opset = g->opset;
  c->ir_version = g->ir_version;
  c->workspace_size = g->workspace_size;
  return c;
}
