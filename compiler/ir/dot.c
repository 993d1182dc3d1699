/*
 * dot.c — writes a graph as a Graphviz digraph, for looking at models
 * (`kiln dump --format dot | dot -Tsvg`).
 *
 * Ops are rounded boxes labelled with the op and the last component of the
 * node's name ("/layer1/0/conv1/Conv" shows as "Conv"); values are edges
 * labelled with dtype and shape, drawn from their producer to each
 * consumer.  Values without a producer get a vertex of their own, with a
 * shape per kind so they stand apart: graph inputs are inverted houses,
 * constants are notes, graph outputs are houses at the bottom, and a value
 * used but defined nowhere (a broken graph) is a red octagon.
 *
 * Vertex ids are derived from value and node ids and everything is walked
 * in id order, so the output is deterministic.  Dead nodes are skipped,
 * like in the text form.
 */
#include <inttypes.h>
#include <string.h>

#include "ir.h"

/* Writes s with DOT string escapes (no quotes). */
static void dot_escape(FILE *out, const char *s, size_t max) {
  for (size_t i = 0; s && s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      fputc(' ', out);
    else
      fputc(c, out);
  }
}

/* "f32[N,3,224,224]" */
static void put_type(FILE *out, const ir_graph *g, const ir_value *v) {
  fputs(ir_dtype_valid((int)v->dtype) ? ir_dtypes[v->dtype].name : "?", out);
  if (v->shape.rank < 0) {
    fputs("[*]", out);
    return;
  }
  fputc('[', out);
  for (int i = 0; i < v->shape.rank && i < KILN_MAX_RANK; i++) {
    int64_t d = v->shape.dims[i];
    if (i) fputc(',', out);
    if (ir_dim_is_static(d))
      fprintf(out, "%" PRId64, d);
    else if (ir_dim_is_sym(d) && ir_dim_sym(d) < g->num_syms)
      dot_escape(out, g->syms[ir_dim_sym(d)], 32);
    else
      fputc('?', out);
  }
  fputc(']', out);
}

/* Last '/'-separated component of a node name, which is where exporters
 * put the distinguishing part. */
static const char *short_name(const char *name) {
  if (!name) return "";
  const char *s = strrchr(name, '/');
  return s && s[1] ? s + 1 : name;
}

void ir_print_dot(const ir_graph *g, FILE *out) { ir_print_dot_options(g, out, false); }

/* hide_constants: constants (weights, shape operands) get no vertex and
 * no edge: in exported models they can be half of all vertices. */
void ir_print_dot_options(const ir_graph *g, FILE *out, bool hide_constants) {
  kiln_ctx *ctx = g->ctx;
  int32_t nv = g->num_values;
  /* producer by structure (first live node writing the value), as the
   * text printer does, rather than trusting the producer links */
  int32_t *prod = kiln_malloc(ctx, ((size_t)nv + 1) * sizeof *prod);
  uint8_t *is_input = kiln_calloc(ctx, (size_t)nv + 1, 1),
          *used = kiln_calloc(ctx, (size_t)nv + 1, 1);
  for (int32_t v = 0; v < nv; v++) prod[v] = IR_NONE;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int32_t i = 0; i < nd->num_outputs; i++)
      if (nd->outputs[i] >= 0 && nd->outputs[i] < nv && prod[nd->outputs[i]] < 0)
        prod[nd->outputs[i]] = n;
    for (int32_t i = 0; i < nd->num_inputs; i++)
      if (nd->inputs[i] >= 0 && nd->inputs[i] < nv) used[nd->inputs[i]] = 1;
  }
  for (int32_t i = 0; i < g->num_inputs; i++)
    if (g->inputs[i] >= 0 && g->inputs[i] < nv) is_input[g->inputs[i]] = used[g->inputs[i]] = 1;
  for (int32_t i = 0; i < g->num_outputs; i++)
    if (g->outputs[i] >= 0 && g->outputs[i] < nv) used[g->outputs[i]] = 1;

  fputs("digraph \"", out);
  dot_escape(out, g->name, 200);
  fputs("\" {\n  rankdir=TB;\n", out);
  fputs("  node [fontname=\"Helvetica\", fontsize=10];\n", out);
  fputs("  edge [fontname=\"Helvetica\", fontsize=9];\n", out);
  /* value vertices: inputs, constants, undefined */
  for (int32_t v = 0; v < nv; v++) {
    if (!used[v] || prod[v] >= 0) continue;
    const ir_value *val = &g->values[v];
    bool is_output = false;
    for (int32_t i = 0; i < g->num_outputs; i++) is_output |= g->outputs[i] == v;
    /* a constant graph output keeps its vertex: its edge to the output
     * needs one */
    if (hide_constants && val->storage == IR_STORAGE_CONST && !is_output) continue;
    const char *style = is_input[v] ? "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\""
                        : val->storage == IR_STORAGE_CONST
                            ? "shape=note, style=filled, fillcolor=\"#fff3cd\""
                            : "shape=octagon, color=red";
    fprintf(out, "  v%" PRId32 " [%s, label=\"", v, style);
    dot_escape(out, val->name, 64);
    fputs("\\n", out);
    put_type(out, g, val);
    fputs("\"];\n", out);
  }
  /* op vertices and the edges into them */
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    fprintf(out,
            "  n%" PRId32 " [shape=box, style=\"rounded,filled\", fillcolor=\"#e9ecef\", label=\"",
            n);
    if (nd->op < IR_OP_COUNT) {
      if (ir_ops[nd->op].domain[0]) fprintf(out, "%s.", ir_ops[nd->op].domain);
      fputs(ir_ops[nd->op].name, out);
    } else {
      fputs("?", out);
    }
    const char *sn = short_name(nd->name);
    if (*sn && nd->op < IR_OP_COUNT && strcmp(sn, ir_ops[nd->op].name)) {
      fputs("\\n", out);
      dot_escape(out, sn, 32);
    }
    fputs("\"];\n", out);
    for (int32_t i = 0; i < nd->num_inputs; i++) {
      ir_value_id v = nd->inputs[i];
      if (v < 0 || v >= nv) continue;
      if (hide_constants && prod[v] < 0 && g->values[v].storage == IR_STORAGE_CONST) continue;
      if (prod[v] >= 0)
        fprintf(out, "  n%" PRId32 " -> n%" PRId32 " [label=\"", prod[v], n);
      else
        fprintf(out, "  v%" PRId32 " -> n%" PRId32 " [label=\"", v, n);
      put_type(out, g, &g->values[v]);
      fputs("\"];\n", out);
    }
  }
  /* graph outputs */
  for (int32_t i = 0; i < g->num_outputs; i++) {
    ir_value_id v = g->outputs[i];
    if (v < 0 || v >= nv) continue;
    fprintf(out, "  out%" PRId32 " [shape=house, style=filled, fillcolor=\"#d1e7dd\", label=\"", i);
    dot_escape(out, g->values[v].name, 64);
    fputs("\"];\n", out);
    if (prod[v] >= 0)
      fprintf(out, "  n%" PRId32 " -> out%" PRId32 " [label=\"", prod[v], i);
    else
      fprintf(out, "  v%" PRId32 " -> out%" PRId32 " [label=\"", v, i);
    put_type(out, g, &g->values[v]);
    fputs("\"];\n", out);
  }
  fputs("}\n", out);
  kiln_free(ctx, prod);
  kiln_free(ctx, is_input);
  kiln_free(ctx, used);
}
