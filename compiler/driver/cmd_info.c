/*
 * cmd_info.c — `kiln info MODEL.onnx`: what a model is and what it needs.
 *
 * Prints the model's metadata (IR version, opset, producer), its inputs
 * and outputs as declared (dtypes, shapes with symbolic dims), its
 * parameters (initializer elements and bytes), an estimate of the
 * arithmetic of one run, and the flags the model needs before `kiln
 * compile` accepts it:
 *
 *   --shape  for every input with a symbolic dim (`run` takes those from
 *            its input files instead);
 *   --bind   for graph inputs that decide a shape or control flow: found
 *            by running the default pipeline with every symbolic dim set
 *            to 1 and looking at what is still not static (a node whose
 *            inputs are static but whose output is not, and control flow
 *            inline-control-flow left, with its reason).
 *
 * FLOPs: MatMul, Gemm and Conv (and their integer forms) count two per
 * multiply-accumulate; every other node one per output element.  With
 * symbolic dims the count is for every such dim set to 1, and says so.
 */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "onnx/onnx.h"
#include "passes.h"

static void print_value(const ir_graph *g, const ir_value *v) {
  printf("  %-24s %s[", v->name, ir_dtype_name(v->dtype));
  for (int d = 0; d < v->shape.rank; d++) {
    int64_t dim = v->shape.dims[d];
    if (ir_dim_is_static(dim))
      printf("%s%lld", d ? "," : "", (long long)dim);
    else
      printf("%s%s", d ? "," : "", ir_dim_is_sym(dim) ? g->syms[ir_dim_sym(dim)] : "?");
  }
  printf("%s\n", v->shape.rank < 0 ? "?]" : "]");
}

static bool symbolic(const ir_value *v) {
  return v->shape.rank < 0 || !ir_shape_is_static(&v->shape);
}

/* Multiply-accumulates of the heavy ops (0 for others). */
static double macs(const ir_graph *g, const ir_node *nd) {
  const ir_value *y = nd->num_outputs ? &g->values[nd->outputs[0]] : NULL;
  if (!y || nd->outputs[0] < 0 || !ir_shape_is_static(&y->shape)) return 0;
  double out = (double)ir_shape_numel(&y->shape);
  const ir_value *a = &g->values[nd->inputs[0]];
  const ir_value *w = nd->num_inputs > 1 && nd->inputs[1] >= 0 ? &g->values[nd->inputs[1]] : NULL;
  switch (nd->op) {
  case IR_OP_MAT_MUL:
  case IR_OP_MAT_MUL_INTEGER:
    return a->shape.rank >= 1 ? out * (double)a->shape.dims[a->shape.rank - 1] : 0;
  case IR_OP_GEMM: {
    int64_t trans = 0;
    for (int i = 0; i < nd->num_attrs; i++)
      if (!strcmp(nd->attrs[i].name, "transA")) trans = nd->attrs[i].i;
    return a->shape.rank == 2 ? out * (double)a->shape.dims[trans ? 0 : 1] : 0;
  }
  case IR_OP_CONV:
  case IR_OP_CONV_INTEGER: {
    if (!w || w->shape.rank < 2 || !ir_shape_is_static(&w->shape)) return 0;
    double k = 1;
    for (int d = 1; d < w->shape.rank; d++) k *= (double)w->shape.dims[d];
    return out * k;
  }
  case IR_OP_CONV_TRANSPOSE: {
    if (!w || w->shape.rank < 2 || !ir_shape_is_static(&w->shape) || !ir_shape_is_static(&a->shape))
      return 0;
    double k = 1;
    for (int d = 1; d < w->shape.rank; d++) k *= (double)w->shape.dims[d];
    return (double)ir_shape_numel(&a->shape) * k;
  }
  default: return 0;
  }
}

static double flops(const ir_graph *g) {
  double sum = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    double m = macs(g, nd);
    if (m > 0) {
      sum += 2 * m;
      continue;
    }
    for (int k = 0; k < nd->num_outputs; k++)
      if (nd->outputs[k] >= 0 && ir_shape_is_static(&g->values[nd->outputs[k]].shape))
        sum += (double)ir_shape_numel(&g->values[nd->outputs[k]].shape);
  }
  return sum;
}

/* The first non-constant graph input behind value v (NULL if none). */
static const char *input_behind(const ir_graph *g, ir_value_id v, int depth) {
  if (v < 0 || depth > 64) return NULL;
  const ir_value *val = &g->values[v];
  if (val->storage == IR_STORAGE_INPUT && val->producer < 0) return val->name;
  if (val->producer < 0) return NULL;
  const ir_node *nd = &g->nodes[val->producer];
  for (int i = 0; i < nd->num_inputs; i++) {
    const char *in = input_behind(g, nd->inputs[i], depth + 1);
    if (in) return in;
  }
  return NULL;
}

/* Lists what still keeps g from compiling after the pipeline; returns
 * how many lines it printed. */
static int needs_after_pipeline(ir_graph *g) {
  int lines = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    if (nd->op == IR_OP_IF || nd->op == IR_OP_LOOP || nd->op == IR_OP_SCAN) {
      char why[640];
      pass_control_flow_why(g, n, why, sizeof why);
      printf("  node '%s' (%s): %s\n", nd->name, ir_ops[nd->op].name, why);
      lines++;
      continue;
    }
    bool in_static = true, out_static = true;
    for (int i = 0; i < nd->num_inputs; i++)
      in_static &= nd->inputs[i] < 0 || !symbolic(&g->values[nd->inputs[i]]);
    for (int k = 0; k < nd->num_outputs; k++)
      out_static &= nd->outputs[k] < 0 || !symbolic(&g->values[nd->outputs[k]]);
    if (!in_static || out_static) continue;
    const char *in = NULL;
    for (int i = 1; i < nd->num_inputs && !in; i++) in = input_behind(g, nd->inputs[i], 0);
    if (in)
      printf("  --bind %s=VALUE: node '%s' (%s) has an output shape that depends on input '%s'\n",
             in, nd->name, ir_ops[nd->op].name, in);
    else
      printf("  node '%s' (%s): its output shape depends on the data (kiln compiles static "
             "shapes only)\n", nd->name, ir_ops[nd->op].name);
    lines++;
  }
  return lines;
}

int kiln_cmd_info(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_INFO);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  ir_graph *g = NULL;
  int rc = drv_parse(&ctx, &a, argc, argv);
  if (rc) {
    if (rc > 0) drv_print_help(DRV_INFO, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (!a.model) {
    kiln_error(&ctx, "info: no model given (usage: kiln info MODEL.onnx)");
    rc = 2;
    goto out;
  }
  onnx_model_meta_info meta;
  if (onnx_model_meta(&ctx, a.model, &meta) != KILN_OK) {
    rc = 1;
    goto out;
  }
  g = drv_load(&ctx, a.model, &a.opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  printf("model     %s\n", a.model);
  printf("graph     %s, %lld nodes, ONNX IR version %lld, opset %lld\n", g->name,
         (long long)meta.num_nodes, (long long)meta.ir_version, (long long)meta.opset);
  printf("producer  %s\n", meta.producer[0] ? meta.producer : "(not recorded)");
  printf("inputs\n");
  int num_symbolic = 0;
  for (int i = 0; i < g->num_inputs; i++) {
    print_value(g, &g->values[g->inputs[i]]);
    num_symbolic += symbolic(&g->values[g->inputs[i]]);
  }
  printf("outputs\n");
  for (int i = 0; i < g->num_outputs; i++) print_value(g, &g->values[g->outputs[i]]);
  int64_t params = 0, bytes = 0;
  for (ir_value_id v = 0; v < g->num_values; v++)
    if (g->values[v].storage == IR_STORAGE_CONST && ir_shape_is_static(&g->values[v].shape)) {
      params += ir_shape_numel(&g->values[v].shape);
      bytes += g->values[v].nbytes;
    }
  char pb[64];
  drv_bytes(bytes, pb, sizeof pb);
  printf("parameters %lld elements, %s\n", (long long)params, pb);

  /* the pipeline with every symbolic dim at 1 (unless --shape says) */
  int user_shapes = a.opt.num_shapes;
  for (int i = 0; i < g->num_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (!symbolic(v) || v->shape.rank < 0) continue;
    bool given = false;
    for (int k = 0; k < a.opt.num_shapes; k++) given |= !strcmp(a.opt.shapes[k].input, v->name);
    if (given) continue;
    kiln_shape_override o = {.input = kiln_strdup(&ctx, v->name), .rank = v->shape.rank};
    for (int d = 0; d < v->shape.rank; d++)
      o.dims[d] = ir_dim_is_static(v->shape.dims[d]) ? v->shape.dims[d] : 1;
    a.opt.shapes = kiln_realloc(&ctx, a.opt.shapes, (size_t)(a.opt.num_shapes + 1) * sizeof o);
    a.opt.shapes[a.opt.num_shapes++] = o;
  }
  a.opt.symbolic_ok = true;
  FILE *saved = ctx.diag_stream;
  ctx.diag_stream = NULL;
  kiln_status st = kiln_run_passes(&ctx, g, &a.opt);
  ctx.diag_stream = saved;
  if (st) {
    printf("FLOPs     unknown: the default pipeline fails on this model (%s)\n", ctx.last_error);
  } else {
    double f = flops(g);
    printf("FLOPs     %.4g per run (%.3f GFLOP)%s\n", f, f * 1e-9,
           num_symbolic ? ", with every symbolic dim set to 1" : "");
  }
  printf("needs\n");
  int lines = 0;
  for (int k = user_shapes; k < a.opt.num_shapes; k++) {
    printf("  --shape %s=D0,D1,... for kiln compile: the input has symbolic dims (kiln run takes "
           "them from its files)\n", a.opt.shapes[k].input);
    lines++;
  }
  if (!st) lines += needs_after_pipeline(g);
  if (!lines) printf("  nothing: kiln compile %s -o OUTDIR should work as is\n", a.model);
out:
  ir_graph_free(g);
  drv_args_free(&ctx, &a);
  return rc;
}
