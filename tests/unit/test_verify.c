/*
 * test_verify.c — the verifier accepts well-formed graphs and catches each
 * kind of broken invariant, naming the node and the problem.
 */
#include <stdlib.h>
#include <string.h>

#include "attr_kinds.h"
#include "testutil.h"

/* x -> Relu "r" -> y -> Neg "n" -> z, output z; all shapes known. */
static ir_graph *chain(kiln_ctx *ctx, ir_value_id *x, ir_value_id *y, ir_value_id *z) {
  ir_graph *g = ir_graph_new(ctx, "chain");
  ir_shape s = ir_shape_make(2, (int64_t[]){2, 3});
  *x = ir_add_value(g, "x", IR_F32, &s);
  *y = ir_add_value(g, "y", IR_F32, &s);
  *z = ir_add_value(g, "z", IR_F32, &s);
  g->values[*x].storage = IR_STORAGE_INPUT;
  ir_add_node(g, IR_OP_RELU, "r", 1, x, 1, y);
  ir_add_node(g, IR_OP_NEG, "n", 1, y, 1, z);
  g->inputs = ir_arena_dup(&g->arena, x, sizeof *x);
  g->num_inputs = 1;
  g->outputs = ir_arena_dup(&g->arena, z, sizeof *z);
  g->num_outputs = 1;
  return g;
}

/* Runs the verifier collecting every diagnostic it prints. */
static kiln_status verify_text(ir_graph *g, bool require_shapes, char **diags) {
  size_t n;
  FILE *m = open_memstream(diags, &n);
  FILE *saved = g->ctx->diag_stream;
  g->ctx->diag_stream = m;
  kiln_status st = ir_verify(g, require_shapes);
  g->ctx->diag_stream = saved;
  fclose(m);
  return st;
}

/* Asserts the verifier fails with a message containing `want`. */
static void expect_error(ir_graph *g, bool require_shapes, const char *want) {
  char *d = NULL;
  kiln_status st = verify_text(g, require_shapes, &d);
  ck_assert_int_eq(st, KILN_ERR_INVALID_MODEL);
  ck_assert_msg(strstr(d, want) != NULL, "want '%s' in:\n%s", want, d);
  free(d);
}

START_TEST(valid_graph_passes) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ck_assert_int_eq(ir_verify(g, true), KILN_OK);
  /* constants and omitted optional inputs are fine too */
  ir_value_id lo = ir_add_const(g, "lo", IR_F32, &(ir_shape){.rank = 0}, (float[]){0}, 4, false);
  ir_value_id c = ir_add_value(g, "c", IR_F32, &g->values[z].shape);
  ir_add_node(g, IR_OP_CLIP, "clip", 3, (ir_value_id[]){z, lo, IR_NONE}, 1, &c);
  g->outputs[0] = c;
  ck_assert_int_eq(ir_verify(g, true), KILN_OK);
  /* a dead node is ignored, whatever it says */
  ir_node_id d = ir_add_node(g, IR_OP_ADD, "dead", 1, &x, 1, &y);
  g->nodes[d].dead = true;
  g->values[y].producer = 0;
  ck_assert_int_eq(ir_verify(g, true), KILN_OK);
  ck_assert_int_eq(ctx.num_errors, 0);
  ir_graph_free(g);
}
END_TEST

START_TEST(undefined_input) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_value_id ghost = ir_add_value(g, "ghost", IR_F32, &g->values[x].shape);
  g->nodes[1].inputs[0] = ghost;
  expect_error(g, false, "node 'n' (Neg): input ghost is never defined");
  g->nodes[1].inputs[0] = 99;
  expect_error(g, false, "node 'n' (Neg): input 0 refers to value #99, which does not exist");
  ir_graph_free(g);
}
END_TEST

START_TEST(use_before_definition) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_node tmp = g->nodes[0];
  g->nodes[0] = g->nodes[1];
  g->nodes[1] = tmp;
  g->values[y].producer = 1;
  g->values[z].producer = 0;
  expect_error(g, false,
               "node 'n' (Neg): input y is used before it is defined (by node 'r', later)");
  /* a cycle is a use before definition whatever the order */
  ck_assert_int_eq(ir_graph_toposort(g), KILN_OK);
  g->nodes[0].inputs[0] = z;
  expect_error(g, false,
               "node 'r' (Relu): input z is used before it is defined (by node 'n', later)");
  /* and so is a node reading its own output */
  g->nodes[0].inputs[0] = y;
  expect_error(g, false, "node 'r' (Relu): input y is this node's own output");
  ir_graph_free(g);
}
END_TEST

START_TEST(double_producer) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_add_node(g, IR_OP_EXP, "again", 1, &x, 1, &y);
  expect_error(g, false, "node 'again' (Exp): output y is already produced by node 'r'");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  ir_add_node(g, IR_OP_EXP, "overwrites_input", 1, &y, 1, &x);
  expect_error(g, false, "node 'overwrites_input' (Exp): output x is a graph input");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  ir_value_id k = ir_add_const(g, "k", IR_F32, &g->values[x].shape, NULL, 24, false);
  ir_add_node(g, IR_OP_EXP, "overwrites_const", 1, &y, 1, &k);
  expect_error(g, false, "node 'overwrites_const' (Exp): output k is a constant");
  ir_graph_free(g);
}
END_TEST

START_TEST(duplicate_names) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  g->values[z].name = g->values[y].name;
  expect_error(g, false, "graph 'chain': two values are named y (#1 and #2)");
  ir_graph_free(g);
}
END_TEST

START_TEST(bad_arity) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_add_node(g, IR_OP_ADD, "add1", 1, &z, 0, NULL);
  expect_error(g, false, "node 'add1' (Add): has 1 inputs; Add takes 2");
  expect_error(g, false, "node 'add1' (Add): has 0 outputs; Add gives 1");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  ir_value_id o[2] = {ir_add_value(g, "o1", IR_F32, NULL), IR_NONE};
  ir_add_node(g, IR_OP_TOP_K, "topk", 2, (ir_value_id[]){z, z}, 2, o);
  expect_error(g, false, "node 'topk' (TopK): required output 1 is missing");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  ir_value_id go = ir_add_value(g, "go", IR_F32, NULL);
  ir_add_node(g, IR_OP_GEMM, "gemm", 2, (ir_value_id[]){z, IR_NONE}, 1, &go);
  expect_error(g, false, "node 'gemm' (Gemm): required input 1 is missing");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  g->nodes[0].op = IR_OP_COUNT;
  expect_error(g, false, "node 'r' (?): invalid op");
  ir_graph_free(g);
}
END_TEST

START_TEST(missing_shapes) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  g->values[y].dtype = IR_UNDEFINED;
  ck_assert_int_eq(ir_verify(g, false), KILN_OK); /* only required when asked */
  expect_error(g, true, "node 'r' (Relu): value y has no dtype");
  g->values[y].dtype = IR_F32;
  g->values[z].shape.rank = -1;
  expect_error(g, true, "node 'n' (Neg): value z has an unknown rank");
  expect_error(g, true, "graph output z has no dtype or rank");
  g->values[z].shape.rank = KILN_MAX_RANK + 1;
  expect_error(g, false, "value z has rank 9 (the limit is 8)");
  ir_graph_free(g);
}
END_TEST

START_TEST(graph_outputs_and_constants) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_value_id lost = ir_add_value(g, "lost", IR_F32, NULL);
  g->outputs[0] = lost;
  expect_error(g, false, "graph 'chain': graph output lost is never defined");
  g->outputs[0] = z;
  ir_value_id c = ir_add_const(g, "c", IR_F32, &g->values[z].shape, (float[6]){0}, 20, false);
  ir_add_node(g, IR_OP_ADD, "use_c", 2, (ir_value_id[]){z, c}, 1,
              (ir_value_id[]){ir_add_value(g, "s", IR_F32, NULL)});
  expect_error(g, false, "constant c holds 20 bytes but 6 f32 elements need 24");
  ir_graph_free(g);
  g = chain(&ctx, &x, &y, &z);
  ir_add_const(g, "dyn", IR_F32, &(ir_shape){.rank = 1, .dims = {IR_DIM_UNKNOWN}}, NULL, 4, false);
  expect_error(g, false, "constant dyn needs a dtype and a static shape");
  ir_graph_free(g);
}
END_TEST

START_TEST(stale_links_and_bad_fields) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  g->values[z].producer = 0;
  expect_error(g, false, "node 'n' (Neg): value z's producer link is stale (says node #0)");
  g->values[z].producer = 1;
  g->values[y].shape.dims[0] = ir_dim_from_sym(5);
  expect_error(g, false, "value y: dim 0 names symbol #5, which does not exist");
  g->values[y].shape.dims[0] = 2;
  g->values[y].quant = ir_arena_alloc(&g->arena, sizeof(ir_quant));
  *g->values[y].quant =
      (ir_quant){.kind = IR_QUANT_CHANNEL, .axis = 2, .count = 1, .scales = (float[]){1.0f}};
  expect_error(g, false, "value y is quantized along axis 2 of a rank-2 tensor");
  ir_graph_free(g);
}
END_TEST

/* The verifier reports every problem, not just the first. */
START_TEST(reports_all_problems) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  ir_add_node(g, IR_OP_ADD, "a1", 1, &z, 1, (ir_value_id[]){ir_add_value(g, "p", IR_F32, NULL)});
  ir_add_node(g, IR_OP_ADD, "a2", 1, &z, 1, (ir_value_id[]){ir_add_value(g, "q", IR_F32, NULL)});
  char *d = NULL;
  ck_assert_int_eq(verify_text(g, false, &d), KILN_ERR_INVALID_MODEL);
  ck_assert_ptr_nonnull(strstr(d, "node 'a1'"));
  ck_assert_ptr_nonnull(strstr(d, "node 'a2'"));
  ck_assert_int_eq(ctx.num_errors, 2);
  free(d);
  ir_graph_free(g);
}
END_TEST

/* Attributes must have the kind ONNX's schema gives them for the graph's
 * opset; unknown attributes and kiln's own ops are not constrained. */
START_TEST(attribute_kinds) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, y, z;
  ir_graph *g = chain(&ctx, &x, &y, &z);
  g->opset = 17;
  ir_node_id t = ir_add_node(g, IR_OP_TRANSPOSE, "t", 1, &z, 1,
                             (ir_value_id[]){ir_add_value(g, "tz", IR_F32, NULL)});
  ir_set_attr_ints(g, t, "perm", (int64_t[]){1, 0}, 2);
  ir_set_attr_float(g, t, "frobnication", 2.0f); /* unknown: fine */
  ck_assert_int_eq(ir_verify(g, false), KILN_OK);
  ir_set_attr_float(g, t, "perm", 1.5f);
  expect_error(g, false, "node 't' (Transpose): attribute 'perm' is FLOAT, but Transpose takes INTS");
  ir_set_attr_ints(g, t, "perm", (int64_t[]){1, 0}, 2);
  ir_node_id c = ir_add_node(g, IR_OP_CAST, "c", 1, &z, 1,
                             (ir_value_id[]){ir_add_value(g, "cz", IR_F32, NULL)});
  ir_set_attr_string(g, c, "to", "FLOAT"); /* a STRING before opset 6 */
  expect_error(g, false, "attribute 'to' is STRING, but Cast takes INT");
  g->opset = 5;
  ck_assert_int_eq(ir_verify(g, false), KILN_OK);
  g->opset = 0; /* no opset: any kind the attribute ever had */
  ck_assert_int_eq(ir_verify(g, false), KILN_OK);
  ir_set_attr_float(g, c, "to", 1.0f);
  expect_error(g, false, "attribute 'to' is FLOAT, but Cast takes INT or STRING");
  ir_graph_free(g);

  /* every row of the generated table is found (the lookup binary-searches,
   * so the rows must follow the op enum) */
  struct { ir_op op; const char *name; ir_attr_kind kind; int first, last; } rows[] = {
#define ATTR(id, nm, k, f, l) {IR_OP_##id, nm, IR_ATTR_##k, f, l},
#include "attr_kinds.def"
#undef ATTR
  };
  int n = (int)(sizeof rows / sizeof rows[0]);
  ck_assert_int_gt(n, 300);
  for (int i = 0; i < n; i++) {
    if (i) ck_assert_int_le(rows[i - 1].op, rows[i].op);
    ck_assert(ir_attr_kinds_allowed(rows[i].op, rows[i].name, rows[i].first) & 1u << rows[i].kind);
    ck_assert(ir_attr_kinds_allowed(rows[i].op, rows[i].name, 0) & 1u << rows[i].kind);
  }
  ck_assert_uint_eq(ir_attr_kinds_allowed(IR_OP_RELU, "alpha", 17), 0);
}
END_TEST

/* ir_attr_defined, the importer's test for attribute names. */
START_TEST(attribute_names_per_opset) {
  ck_assert_int_eq(ir_attr_defined(IR_OP_RELU, "alpha", 17), 0);
  ck_assert_int_eq(ir_attr_defined(IR_OP_LEAKY_RELU, "alpha", 17), 1);
  /* Relu's consumed_inputs ended with opset 5 */
  ck_assert_int_eq(ir_attr_defined(IR_OP_RELU, "consumed_inputs", 5), 1);
  ck_assert_int_eq(ir_attr_defined(IR_OP_RELU, "consumed_inputs", 6), 0);
  /* from the changelog part of the table: Resize-18 added antialias,
   * ReduceMean-18 moved axes to an input */
  ck_assert_int_eq(ir_attr_defined(IR_OP_RESIZE, "antialias", 17), 0);
  ck_assert_int_eq(ir_attr_defined(IR_OP_RESIZE, "antialias", 18), 1);
  ck_assert_int_eq(ir_attr_defined(IR_OP_REDUCE_MEAN, "axes", 17), 1);
  ck_assert_int_eq(ir_attr_defined(IR_OP_REDUCE_MEAN, "axes", 18), 0);
  ck_assert_int_eq(ir_attr_defined(IR_OP_GELU, "approximate", 20), 1);
  /* unknown: no schema of Gelu before opset 20, no opset past the table */
  ck_assert_int_eq(ir_attr_defined(IR_OP_GELU, "approximate", 17), -1);
  ck_assert_int_eq(ir_attr_defined(IR_OP_RELU, "alpha", 99), -1);
  ck_assert_int_eq(ir_attr_defined(IR_OP_RELU, "alpha", 0), -1);

  /* every row is defined over its whole span, and its op has a schema
   * from the row's first opset on */
  struct { ir_op op; const char *name; int first, last; } rows[] = {
#define ATTR(id, nm, k, f, l) {IR_OP_##id, nm, f, l},
#include "attr_kinds.def"
  };
  int n = (int)(sizeof rows / sizeof rows[0]);
  ck_assert_int_gt(n, 300);
  for (int i = 0; i < n; i++) {
    ck_assert_msg(ir_attr_defined(rows[i].op, rows[i].name, rows[i].first) == 1, "%s.%s @%d",
                  ir_ops[rows[i].op].name, rows[i].name, rows[i].first);
    if (rows[i].last)
      ck_assert_msg(ir_attr_defined(rows[i].op, rows[i].name, rows[i].last) == 1, "%s.%s @%d",
                    ir_ops[rows[i].op].name, rows[i].name, rows[i].last);
  }
  /* an op with a schema answers 0, not "unknown", for a name it lacks */
  int schemas = 0;
#define SCHEMA(id, f) schemas += ir_attr_defined(IR_OP_##id, "no such attribute", 21) == 0;
#include "attr_kinds.def"
  ck_assert_int_gt(schemas, 150);
}
END_TEST

int main(void) {
  Suite *s = suite_create("verify");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, valid_graph_passes);
  tcase_add_test(tc, undefined_input);
  tcase_add_test(tc, use_before_definition);
  tcase_add_test(tc, double_producer);
  tcase_add_test(tc, duplicate_names);
  tcase_add_test(tc, bad_arity);
  tcase_add_test(tc, missing_shapes);
  tcase_add_test(tc, graph_outputs_and_constants);
  tcase_add_test(tc, stale_links_and_bad_fields);
  tcase_add_test(tc, reports_all_problems);
  tcase_add_test(tc, attribute_kinds);
  tcase_add_test(tc, attribute_names_per_opset);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
