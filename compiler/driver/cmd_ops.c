/*
 * cmd_ops.c — `kiln ops MODEL`: which op types a model uses, how often,
 * and whether kiln can compile them.
 *
 * The table comes from reading the model without importing it, so it
 * works on models kiln cannot import (that is what it is for).  An op
 * type kiln has lowering for can still be uncompilable in one model:
 * control flow (If, Loop, Scan) compiles only when inline-control-flow
 * can copy it into the graph (conditions and trip counts known at compile
 * time, or both branches of one static shape), and an op whose output
 * extent depends on the data (NonZero, a Range of computed bounds) only
 * when folding makes it constant.  So when the model imports, `ops` also
 * runs the default pipeline (with --shape and --bind as given) and lists
 * each such node still left, with the reason code generation would give;
 * its op type's status reads "NOT COMPILABLE (N nodes)".
 */
#include <stdio.h>
#include <string.h>

#include "cg.h"
#include "driver.h"
#include "onnx/onnx.h"
#include "passes.h"

static bool is_control_flow(ir_op op) {
  return op == IR_OP_IF || op == IR_OP_LOOP || op == IR_OP_SCAN;
}

/* Node n cannot compile as the pipeline left it: control flow the inline
 * pass could not copy, or an output whose extent depends on the data
 * (static inputs, open output: NonZero, a Range of computed bounds). */
static bool stuck(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->dead) return false;
  if (is_control_flow(nd->op)) return true;
  /* ops the code generator always refuses, whatever shapes the model declares */
  if (!cg_lower_table[nd->op] || cg_lower_table[nd->op] == lower_data_dependent) return true;
  for (int i = 0; i < nd->num_inputs; i++)
    if (nd->inputs[i] >= 0 && !ir_shape_is_static(&g->values[nd->inputs[i]].shape)) return false;
  for (int k = 0; k < nd->num_outputs; k++)
    if (nd->outputs[k] >= 0 && !ir_shape_is_static(&g->values[nd->outputs[k]].shape)) return true;
  return false;
}

/* Imports and runs the pipeline quietly; the graph, or NULL if that
 * failed (ops then reports the table only). */
static ir_graph *try_pipeline(kiln_ctx *ctx, drv_args *a) {
  FILE *saved = ctx->diag_stream;
  ctx->diag_stream = NULL;
  a->opt.symbolic_ok = true;
  ir_graph *g = drv_load(ctx, a->model, &a->opt);
  if (g && kiln_run_passes(ctx, g, &a->opt) != KILN_OK) {
    ir_graph_free(g);
    g = NULL;
  }
  ctx->diag_stream = saved;
  return g;
}

int kiln_cmd_ops(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_OPS);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  int rc = drv_parse(&ctx, &a, argc, argv);
  if (rc) {
    if (rc > 0) drv_print_help(DRV_OPS, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (!a.model) {
    kiln_error(&ctx, "ops: no model given (usage: kiln ops MODEL.onnx)");
    rc = 2;
    goto out;
  }
  ctx.file = a.model;
  onnx_op_count *rows;
  int n;
  if (onnx_count_ops(&ctx, a.model, &rows, &n) != KILN_OK) {
    rc = 1;
    goto out;
  }
  ir_graph *g = try_pipeline(&ctx, &a);
  int left[IR_OP_COUNT] = {0};
  for (ir_node_id k = 0; g && k < g->num_nodes; k++)
    if (stuck(g, k)) left[g->nodes[k].op]++;
  int unsupported = 0, nodes = 0;
  printf("%-32s %7s  %s\n", "op", "count", "status");
  for (int i = 0; i < n; i++) {
    char name[256], status[64];
    snprintf(name, sizeof name, "%s%s%s", rows[i].domain[0] ? rows[i].domain : "",
             rows[i].domain[0] ? "." : "", rows[i].op_type);
    int stuck = 0;
    if (!rows[i].domain[0])
      for (int op = 0; op < IR_OP_COUNT; op++)
        if (left[op] && !strcmp(ir_ops[op].name, rows[i].op_type)) stuck = left[op];
    if (!rows[i].supported)
      snprintf(status, sizeof status, "UNSUPPORTED");
    else if (stuck)
      snprintf(status, sizeof status, "NOT COMPILABLE (%d node%s)", stuck, stuck == 1 ? "" : "s");
    else
      snprintf(status, sizeof status, "supported");
    printf("%-32s %7d  %s\n", name, rows[i].count, status);
    unsupported += !rows[i].supported || stuck;
    nodes += rows[i].count;
  }
  printf("%d op type%s, %d node%s, %d op type%s unsupported or not compilable\n", n,
         n == 1 ? "" : "s", nodes, nodes == 1 ? "" : "s", unsupported, unsupported == 1 ? "" : "s");
  for (ir_node_id k = 0; g && k < g->num_nodes; k++) {
    if (!stuck(g, k)) continue;
    char why[640];
    if (is_control_flow(g->nodes[k].op))
      pass_control_flow_why(g, k, why, sizeof why);
    else if (!cg_lower_table[g->nodes[k].op])
      snprintf(why, sizeof why, "no code generation for this op yet");
    else
      snprintf(why, sizeof why, "its output shape depends on the input values (kiln compiles "
                                "static shapes only; --bind INPUT=VALUE freezes an input)");
    printf("node '%s' (%s) cannot be compiled: %s\n", g->nodes[k].name, ir_ops[g->nodes[k].op].name,
           why);
  }
  bool has_control_flow = false;
  for (int i = 0; i < n; i++)
    has_control_flow |= !rows[i].domain[0] && (!strcmp(rows[i].op_type, "If") ||
                                               !strcmp(rows[i].op_type, "Loop") ||
                                               !strcmp(rows[i].op_type, "Scan"));
  if (!g && has_control_flow)
    printf("(the model does not import or pass the pipeline as given, so control flow was not "
           "checked: kiln compile says why)\n");
  ir_graph_free(g);
  onnx_op_counts_free(&ctx, rows, n);
  rc = unsupported ? 1 : 0;
out:
  drv_args_free(&ctx, &a);
  return rc;
}
