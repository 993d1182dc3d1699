/*
 * test_passes.c — the pass registry and manager (--passes parsing, print
 * flags), infer-shapes (overrides, merging with declared shapes),
 * eliminate-dead-code and simplify.  Folding has its own file, test_fold.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graphbuild.h"
#include "passes.h"
#include "testutil.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define I64S(...) ((const int64_t[]){__VA_ARGS__})

static ir_value_id typed(ir_graph *g, const char *name, ir_dtype dt, int rank,
                         const int64_t *dims) {
  ir_shape s = ir_shape_make(rank, dims);
  return ir_add_value(g, name, dt, &s);
}

/* x[2,3] -> Identity -> a -> Relu -> y (output) */
static ir_graph *small_graph(kiln_ctx *ctx) {
  ir_graph *g = ir_graph_new(ctx, "small");
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 3));
  ir_value_id a = gb_val(g, "a"), y = gb_val(g, "y");
  gb_node1(g, IR_OP_IDENTITY, "id", 1, &x, a);
  gb_node1(g, IR_OP_RELU, "relu", 1, &a, y);
  gb_output(g, y);
  return g;
}

/* ---- registry and manager -------------------------------------------------- */

START_TEST(registry_lists_every_pass_once) {
  ck_assert_int_ge(kiln_pass_count, 4);
  for (int i = 0; i < kiln_pass_count; i++) {
    const kiln_pass_info *p = &kiln_pass_table[i];
    ck_assert_ptr_eq(kiln_pass_find(p->name), p);
    ck_assert_ptr_nonnull(p->run);
    ck_assert_int_gt((int)strlen(p->doc), 10);
    for (const char *c = p->name; *c; c++) ck_assert(*c == '-' || (*c >= 'a' && *c <= 'z'));
  }
  ck_assert_ptr_null(kiln_pass_find("fold_constants"));
  ck_assert_ptr_eq(kiln_pass_find("fold-constants")->run, pass_fold_constants);
}
END_TEST

START_TEST(unknown_pass_is_rejected_before_anything_runs) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = small_graph(&ctx);
  kiln_options opt;
  kiln_options_init(&opt);
  opt.passes = "simplify, fold-konstants";
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "unknown pass 'fold-konstants'"));
  /* the message lists the valid names */
  for (int i = 0; i < kiln_pass_count; i++)
    ck_assert_ptr_nonnull(strstr(ctx.last_error, kiln_pass_table[i].name));
  /* simplify did not run: the Identity is still there */
  ck_assert_int_eq(g->num_nodes, 2);

  opt.passes = "simplify,,fold-constants";
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "empty pass name"));

  opt.passes = "simplify";
  opt.print_after = "simplfy";
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "--print-after"));
  ck_assert_int_eq(g->num_nodes, 2);
  ir_graph_free(g);
}
END_TEST

START_TEST(pipeline_runs_in_order_and_empty_runs_nothing) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = small_graph(&ctx);
  kiln_options opt;
  kiln_options_init(&opt);
  opt.passes = "";
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 2);
  opt.passes = " infer-shapes , simplify ";
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 1);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_RELU);
  ck_assert_int_eq(g->values[g->outputs[0]].shape.rank, 2);
  ir_graph_free(g);
}
END_TEST

/* In builds with assertions the verifier checks the input graph first. */
START_TEST(invalid_input_graph_is_caught_before_the_passes) {
#ifndef NDEBUG
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(2));
  ir_value_id a = gb_val(g, "a"), b = gb_val(g, "b");
  gb_node1(g, IR_OP_RELU, "second", 1, &a, b); /* reads a before it is defined */
  gb_node1(g, IR_OP_RELU, "first", 1, &x, a);
  gb_output(g, b);
  ck_assert_int_eq(kiln_run_passes(&ctx, g, NULL), KILN_ERR_INVALID_MODEL);
  ck_assert_int_gt(ctx.num_errors, 0);
  ck_assert_int_eq(g->num_nodes, 2); /* no pass ran */
  ck_assert_str_eq(g->nodes[0].name, "second");
  ir_graph_free(g);
#endif
}
END_TEST

/* Reads a whole temporary file into a malloc'ed string. */
static char *slurp(FILE *f) {
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  return s;
}

static int count_of(const char *hay, const char *needle) {
  int c = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
  return c;
}

START_TEST(print_flags_print_after_the_right_passes) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = small_graph(&ctx);
  kiln_options opt;
  kiln_options_init(&opt);
  opt.passes = "infer-shapes,simplify,eliminate-dead-code";
  opt.print_after_all = true;
  opt.print_stream = tmpfile();
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  char *text = slurp(opt.print_stream);
  fclose(opt.print_stream);
  ck_assert_int_eq(count_of(text, "# -----// IR after "), 3);
  char *a = strstr(text, "# -----// IR after infer-shapes //----- #\n");
  char *b = strstr(text, "# -----// IR after simplify //----- #\n");
  char *c = strstr(text, "# -----// IR after eliminate-dead-code //----- #\n");
  ck_assert(a && b && c && a < b && b < c);
  /* each dump is the graph: it names the output */
  ck_assert_int_eq(count_of(text, "relu"), 3);
  free(text);

  ir_graph_free(g);
  g = small_graph(&ctx);
  opt.print_after_all = false;
  opt.print_after = "simplify";
  opt.dot = true;
  opt.print_stream = tmpfile();
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  text = slurp(opt.print_stream);
  fclose(opt.print_stream);
  ck_assert_int_eq(count_of(text, "// -----// IR after "), 1);
  ck_assert_ptr_nonnull(strstr(text, "IR after simplify"));
  ck_assert_ptr_nonnull(strstr(text, "digraph"));
  free(text);
  ir_graph_free(g);
}
END_TEST

/*
 * torch's `x.view(x.size(0), -1)` on x[N,3,4,4], its result copied to the
 * output through an Identity, plus a branch nobody reads.
 */
static ir_graph *torch_view_graph(kiln_ctx *ctx, ir_value_id *x, ir_value_id *out) {
  ir_graph *g = ir_graph_new(ctx, "view");
  g->opset = 13;
  int64_t N = ir_dim_from_sym(ir_sym(g, "N"));
  *x = gb_input(g, "x", IR_F32, 4, DIMS(N, 3, 4, 4));
  ir_value_id s = gb_val(g, "s"), b = gb_val(g, "b"), u = gb_val(g, "u"), c = gb_val(g, "c");
  ir_value_id y = gb_val(g, "y"), unused = gb_val(g, "unused");
  *out = gb_val(g, "out");
  gb_node1(g, IR_OP_SHAPE, "shape", 1, x, s);
  gb_node1(g, IR_OP_GATHER, "gather", 2, (ir_value_id[]){s, gb_i64(g, "i0", 0, NULL, I64S(0))}, b);
  gb_node1(g, IR_OP_UNSQUEEZE, "unsq", 2, (ir_value_id[]){b, gb_i64(g, "a0", 1, DIMS(1), I64S(0))},
           u);
  ir_node_id cc = gb_node1(g, IR_OP_CONCAT, "concat", 2,
                           (ir_value_id[]){u, gb_i64(g, "m1", 1, DIMS(1), I64S(-1))}, c);
  ir_set_attr_int(g, cc, "axis", 0);
  gb_node1(g, IR_OP_RESHAPE, "view", 2, (ir_value_id[]){*x, c}, y);
  gb_node1(g, IR_OP_IDENTITY, "copy", 1, &y, *out);
  gb_node1(g, IR_OP_SIGMOID, "unused", 1, x, unused);
  gb_output(g, *out);
  return g;
}

START_TEST(default_pipeline_makes_torch_views_static) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, out;
  ir_graph *g = torch_view_graph(&ctx, &x, &out);
  kiln_shape_override ov = {.input = "x", .rank = 4, .dims = {2, 3, 4, 4}};
  kiln_options opt;
  kiln_options_init(&opt);
  opt.shapes = &ov;
  opt.num_shapes = 1;
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 1);
  const ir_node *view = &g->nodes[0];
  ck_assert_int_eq(view->op, IR_OP_RESHAPE);
  ck_assert_int_eq(view->inputs[0], x);
  ck_assert_int_eq(view->outputs[0], out);
  const int64_t *shape = ir_const_data(g, view->inputs[1]);
  ck_assert_ptr_nonnull(shape);
  ck_assert(shape[0] == 2 && shape[1] == -1);
  ck_assert_str_eq(g->values[g->outputs[0]].name, "out");
  ck_assert_int_eq(g->values[out].shape.rank, 2);
  ck_assert_int_eq(g->values[out].shape.dims[0], 2);
  ck_assert_int_eq(g->values[out].shape.dims[1], 48);
  ir_graph_free(g);

  /* without the override the batch is symbolic: the chain must stay (and
   * plan-memory, which needs numbers, is skipped as in kiln dump) */
  g = torch_view_graph(&ctx, &x, &out);
  kiln_options analysis;
  kiln_options_init(&analysis);
  analysis.symbolic_ok = true;
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &analysis), KILN_OK);
  ck_assert_int_eq(gb_count_op(g, IR_OP_SHAPE), 1);
  ck_assert_int_eq(gb_count_op(g, IR_OP_RESHAPE), 1);
  ck_assert_int_eq(gb_count_op(g, IR_OP_SIGMOID), 0);
  ck_assert_int_eq(gb_count_op(g, IR_OP_IDENTITY), 0);
  ir_graph_free(g);
}
END_TEST

/* A Reshape to a shape computed from its own input folds, then goes. */
START_TEST(reshape_to_own_shape_disappears) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 12));
  ir_value_id s = gb_val(g, "s"), r = gb_val(g, "r"), y = gb_val(g, "y");
  gb_node1(g, IR_OP_SHAPE, "shape", 1, &x, s);
  gb_node1(g, IR_OP_RESHAPE, "reshape", 2, (ir_value_id[]){x, s}, r);
  gb_node1(g, IR_OP_RELU, "relu", 1, &r, y);
  gb_output(g, y);
  ck_assert_int_eq(kiln_run_passes(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 1);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_RELU);
  ck_assert_int_eq(g->nodes[0].inputs[0], x);
  ck_assert(g->values[s].dead);
  ir_graph_free(g);
}
END_TEST

/* ---- infer-shapes ------------------------------------------------------------ */

/* x[N,3] and z[N] share the symbol N; r = Relu(x) was declared [N,3]. */
static ir_graph *symbolic_graph(kiln_ctx *ctx, ir_value_id *x, ir_value_id *z, ir_value_id *r) {
  ir_graph *g = ir_graph_new(ctx, "sym");
  int64_t N = ir_dim_from_sym(ir_sym(g, "N"));
  *x = gb_input(g, "x", IR_F32, 2, DIMS(N, 3));
  *z = gb_input(g, "z", IR_F32, 1, DIMS(N));
  *r = typed(g, "r", IR_F32, 2, DIMS(N, 3));
  gb_node1(g, IR_OP_RELU, "relu", 1, x, *r);
  gb_output(g, *r);
  return g;
}

START_TEST(shape_override_binds_a_symbol_everywhere) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, z, r;
  ir_graph *g = symbolic_graph(&ctx, &x, &z, &r);
  kiln_shape_override ov = {.input = "x", .rank = 2, .dims = {4, 3}};
  kiln_options opt;
  kiln_options_init(&opt);
  opt.shapes = &ov;
  opt.num_shapes = 1;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->values[x].shape.dims[0], 4);
  ck_assert_int_eq(g->values[z].shape.dims[0], 4); /* same symbol, other input */
  ck_assert_int_eq(g->values[r].shape.dims[0], 4);
  ck_assert_int_eq(g->values[r].shape.dims[1], 3);
  /* running again is a no-op */
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->values[r].shape.dims[0], 4);
  ir_graph_free(g);
}
END_TEST

START_TEST(bad_shape_overrides_are_reported) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x, z, r;
  ir_graph *g = symbolic_graph(&ctx, &x, &z, &r);
  kiln_options opt;
  kiln_options_init(&opt);
  kiln_shape_override ov[2] = {{.input = "nope", .rank = 1, .dims = {1}}};
  opt.shapes = ov;
  opt.num_shapes = 1;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "no input"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "'x'"));

  ov[0] = (kiln_shape_override){.input = "x", .rank = 3, .dims = {1, 2, 3}};
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "rank 2"));

  /* x and z share N: binding it to 2 and 5 contradicts */
  ov[0] = (kiln_shape_override){.input = "x", .rank = 2, .dims = {2, 3}};
  ov[1] = (kiln_shape_override){.input = "z", .rank = 1, .dims = {5}};
  opt.num_shapes = 2;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "'N'"));
  ir_graph_free(g);
}
END_TEST

/* Changing a dim the model fixed drops stale declared shapes downstream. */
START_TEST(overriding_a_static_dim_reinfers_downstream) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(1, 3));
  ir_value_id r = typed(g, "r", IR_F32, 2, DIMS(1, 3));
  gb_node1(g, IR_OP_RELU, "relu", 1, &x, r);
  gb_output(g, r);
  kiln_shape_override ov = {.input = "x", .rank = 2, .dims = {8, 3}};
  kiln_options opt;
  kiln_options_init(&opt);
  opt.shapes = &ov;
  opt.num_shapes = 1;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_OK);
  ck_assert_int_eq(g->values[r].shape.dims[0], 8);
  ir_graph_free(g);
}
END_TEST

START_TEST(inference_merges_with_declared_shapes) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  int64_t N = ir_dim_from_sym(ir_sym(g, "N"));
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 3));
  ir_value_id a = typed(g, "a", IR_UNDEFINED, 2, DIMS(IR_DIM_UNKNOWN, 3));
  gb_node1(g, IR_OP_RELU, "r1", 1, &x, a);
  ir_value_id w = gb_input(g, "w", IR_F32, 2, DIMS(N, 3));
  ir_value_id b = typed(g, "b", IR_F32, 2, DIMS(5, 3));
  gb_node1(g, IR_OP_NEG, "neg", 1, &w, b);
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_OK);
  /* inference refines an unknown dim and the dtype */
  ck_assert_int_eq(g->values[a].dtype, IR_F32);
  ck_assert_int_eq(g->values[a].shape.dims[0], 2);
  /* a declared static dim beats an inferred symbol */
  ck_assert_int_eq(g->values[b].shape.dims[0], 5);
  ir_graph_free(g);
}
END_TEST

START_TEST(contradicting_declared_shape_names_the_node) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 3));
  ir_value_id y = typed(g, "y", IR_F32, 2, DIMS(2, 4));
  gb_node1(g, IR_OP_RELU, "act", 1, &x, y);
  gb_output(g, y);
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_ERR_INVALID_MODEL);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "node 'act' (Relu)"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "[2,3]"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "[2,4]"));
  ir_graph_free(g);

  g = ir_graph_new(&ctx, "t");
  x = gb_input(g, "x", IR_F32, 1, DIMS(2));
  y = typed(g, "y", IR_I64, 1, DIMS(2));
  gb_node1(g, IR_OP_ABS, "abs", 1, &x, y);
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_ERR_INVALID_MODEL);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "i64"));
  ir_graph_free(g);
}
END_TEST

START_TEST(op_without_inference_is_unsupported) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_STRING, 1, DIMS(2));
  ir_value_id y = gb_val(g, "y");
  gb_node1(g, IR_OP_STRING_NORMALIZER, "norm", 1, &x, y);
  ck_assert(!ir_op_supported(IR_OP_STRING_NORMALIZER));
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_ERR_UNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "node 'norm' (StringNormalizer)"));
  ir_graph_free(g);
}
END_TEST

/* ---- eliminate-dead-code ----------------------------------------------------- */

START_TEST(dce_keeps_what_outputs_need) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(3));
  ir_value_id unused_in = gb_input(g, "unused", IR_F32, 1, DIMS(3));
  ir_value_id w = gb_f32(g, "w", 1, DIMS(3), (const float[]){1, 2, 3});
  ir_value_id y = gb_val(g, "y"), d1 = gb_val(g, "d1"), d2 = gb_val(g, "d2");
  ir_value_id out = gb_val(g, "out"), mask = gb_val(g, "mask");
  gb_node1(g, IR_OP_RELU, "relu", 1, &x, y);
  gb_node1(g, IR_OP_ADD, "dead_add", 2, (ir_value_id[]){x, w}, d1);
  gb_node1(g, IR_OP_NEG, "dead_neg", 1, &d1, d2);
  ir_add_node(g, IR_OP_DROPOUT, "drop", 1, &y, 2, (ir_value_id[]){out, mask});
  gb_output(g, out);
  ck_assert_int_eq(pass_eliminate_dead_code(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 2);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_RELU);
  ck_assert_int_eq(g->nodes[1].op, IR_OP_DROPOUT);
  /* the unread optional mask is cut off the live Dropout */
  ck_assert_int_eq(g->nodes[1].outputs[1], IR_NONE);
  ck_assert(g->values[mask].dead);
  ck_assert(g->values[w].dead);
  ck_assert(g->values[d1].dead && g->values[d2].dead);
  ck_assert(!g->values[x].dead && !g->values[y].dead && !g->values[out].dead);
  ck_assert(!g->values[unused_in].dead); /* inputs are the ABI */
  ck_assert_int_eq(g->num_inputs, 2);
  ck_assert_int_eq(g->outputs[0], out);
  ck_assert_int_eq(g->values[out].producer, 1);
  ck_assert_int_eq(g->values[y].num_uses, 1);
  ir_graph_free(g);
}
END_TEST

/* An If body reading an outer value by name keeps that value's producer,
 * and simplify does not rename it away. */
START_TEST(values_read_by_subgraphs_survive) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(2));
  ir_value_id cond = gb_input(g, "cond", IR_BOOL, 0, NULL);
  ir_value_id t = gb_val(g, "t"), u = gb_val(g, "u"), out = gb_val(g, "out");
  gb_node1(g, IR_OP_RELU, "relu", 1, &x, t);
  gb_node1(g, IR_OP_IDENTITY, "copy", 1, &t, u);
  ir_node_id n = gb_node1(g, IR_OP_IF, "if", 1, &cond, out);
  ir_graph *body = ir_graph_new(&ctx, "then");
  ir_value_id bu = ir_add_value(body, "u", IR_F32, NULL), br = ir_add_value(body, "r", IR_F32, NULL);
  gb_node1(body, IR_OP_NEG, "neg", 1, &bu, br);
  gb_output(body, br);
  ir_set_attr(g, n, "then_branch", IR_ATTR_GRAPH)->graph = body;
  gb_output(g, out);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  /* the copy goes, but "u" survives: Relu now writes it */
  ck_assert_int_eq(g->num_nodes, 2);
  ck_assert_int_eq(g->nodes[0].outputs[0], u);
  ck_assert_int_eq(pass_eliminate_dead_code(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 2);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_RELU);
  ck_assert(!g->values[u].dead);
  ck_assert_int_ge(g->values[u].producer, 0);
  ir_graph_free(g);
}
END_TEST

/* ---- simplify ---------------------------------------------------------------- */

START_TEST(identity_chains_collapse) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(3));
  ir_value_id a = gb_val(g, "a"), b = gb_val(g, "b"), y = gb_val(g, "y"), z = gb_val(g, "z");
  gb_node1(g, IR_OP_IDENTITY, "i1", 1, &x, a);
  gb_node1(g, IR_OP_IDENTITY, "i2", 1, &a, b);
  gb_node1(g, IR_OP_RELU, "relu", 1, &b, y);
  gb_node1(g, IR_OP_ADD, "add", 2, (ir_value_id[]){a, b}, z);
  gb_output(g, y);
  gb_output(g, z);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 2);
  ck_assert_int_eq(g->nodes[0].inputs[0], x);
  ck_assert_int_eq(g->nodes[1].inputs[0], x);
  ck_assert_int_eq(g->nodes[1].inputs[1], x);
  ck_assert_int_eq(g->values[x].num_uses, 3);
  ir_graph_free(g);
}
END_TEST

/* Relu -> t -> Identity -> out: Relu writes `out` itself. */
START_TEST(removed_node_keeps_the_output_name) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(3));
  ir_value_id t = gb_val(g, "t"), out = gb_val(g, "out");
  gb_node1(g, IR_OP_RELU, "relu", 1, &x, t);
  gb_node1(g, IR_OP_IDENTITY, "copy", 1, &t, out);
  gb_output(g, out);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 1);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_RELU);
  ck_assert_int_eq(g->nodes[0].outputs[0], out);
  ck_assert_int_eq(g->outputs[0], out);
  ck_assert_str_eq(g->values[out].name, "out");
  ck_assert_int_eq(g->values[out].producer, 0);
  ck_assert_int_eq(g->values[t].producer, IR_NONE);
  ck_assert_int_eq(g->values[t].num_uses, 0);
  ir_graph_free(g);
}
END_TEST

/* When the source is an input, another output, or read elsewhere, the
 * output needs its own copy: an Identity stays (a no-op Cast becomes one). */
START_TEST(outputs_that_need_a_copy_keep_an_identity) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(3));
  ir_value_id o1 = gb_val(g, "o1"), t = gb_val(g, "t"), o2 = gb_val(g, "o2");
  ir_value_id o3 = gb_val(g, "o3");
  ir_node_id c = gb_node1(g, IR_OP_CAST, "cast", 1, &x, o1);
  ir_set_attr_int(g, c, "to", IR_F32);
  gb_node1(g, IR_OP_RELU, "relu", 1, &x, t);
  gb_node1(g, IR_OP_IDENTITY, "copy", 1, &t, o2);
  gb_node1(g, IR_OP_NEG, "neg", 1, &t, o3);
  gb_output(g, o1);
  gb_output(g, o2);
  gb_output(g, o3);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 4);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_IDENTITY);
  ck_assert_int_eq(g->nodes[0].num_attrs, 0);
  ck_assert_int_eq(g->nodes[0].inputs[0], x);
  ck_assert_int_eq(g->nodes[0].outputs[0], o1);
  ck_assert_int_eq(gb_count_op(g, IR_OP_IDENTITY), 2);
  ck_assert_int_eq(g->values[o2].producer, 2);
  ir_graph_free(g);
}
END_TEST

START_TEST(no_op_casts_reshapes_transposes_go) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 3));
  ir_value_id c1 = typed(g, "c1", IR_F32, 2, DIMS(2, 3));
  ir_value_id c2 = typed(g, "c2", IR_I64, 2, DIMS(2, 3));
  ir_value_id r1 = typed(g, "r1", IR_F32, 2, DIMS(2, 3));
  ir_value_id r2 = typed(g, "r2", IR_F32, 2, DIMS(3, 2));
  ir_value_id t1 = typed(g, "t1", IR_F32, 2, DIMS(2, 3));
  ir_value_id t2 = typed(g, "t2", IR_F32, 2, DIMS(3, 2));
  ir_value_id f1 = typed(g, "f1", IR_F32, 2, DIMS(2, 3));
  ir_value_id sum = gb_val(g, "sum");
  ir_node_id n;
  n = gb_node1(g, IR_OP_CAST, "same_cast", 1, &x, c1);
  ir_set_attr_int(g, n, "to", IR_F32);
  n = gb_node1(g, IR_OP_CAST, "real_cast", 1, &c1, c2);
  ir_set_attr_int(g, n, "to", IR_I64);
  gb_node1(g, IR_OP_RESHAPE, "same_reshape", 2,
           (ir_value_id[]){c1, gb_i64(g, "s1", 1, DIMS(2), I64S(2, 3))}, r1);
  gb_node1(g, IR_OP_RESHAPE, "real_reshape", 2,
           (ir_value_id[]){r1, gb_i64(g, "s2", 1, DIMS(2), I64S(3, 2))}, r2);
  n = gb_node1(g, IR_OP_TRANSPOSE, "same_tr", 1, &r1, t1);
  ir_set_attr_ints(g, n, "perm", I64S(0, 1), 2);
  n = gb_node1(g, IR_OP_TRANSPOSE, "real_tr", 1, &t1, t2);
  ir_set_attr_ints(g, n, "perm", I64S(1, 0), 2);
  n = gb_node1(g, IR_OP_FLATTEN, "same_flat", 1, &t1, f1);
  ir_set_attr_int(g, n, "axis", 1);
  gb_node1(g, IR_OP_SUM, "sum", 4, (ir_value_id[]){f1, r2, t2, c2}, sum);
  gb_output(g, sum);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 4);
  ck_assert_str_eq(g->nodes[0].name, "real_cast");
  ck_assert_str_eq(g->nodes[1].name, "real_reshape");
  ck_assert_str_eq(g->nodes[2].name, "real_tr");
  ck_assert_int_eq(g->nodes[0].inputs[0], x);
  ck_assert_int_eq(g->nodes[1].inputs[0], x);
  ck_assert_int_eq(g->nodes[2].inputs[0], x);
  ck_assert_int_eq(g->nodes[3].inputs[0], x);
  ir_graph_free(g);
}
END_TEST

START_TEST(unsqueeze_squeeze_pairs_cancel) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  g->opset = 13;
  ir_value_id x = gb_input(g, "x", IR_F32, 2, DIMS(2, 3));
  ir_value_id ax = gb_i64(g, "ax", 1, DIMS(1), I64S(1));
  ir_value_id axn = gb_i64(g, "axn", 1, DIMS(1), I64S(-2)); /* axis 1 of the rank-3 value */
  ir_value_id ax0 = gb_i64(g, "ax0", 1, DIMS(1), I64S(0));
  ir_value_id u = typed(g, "u", IR_F32, 3, DIMS(2, 1, 3));
  ir_value_id s = typed(g, "s", IR_F32, 2, DIMS(2, 3));
  ir_value_id s0 = typed(g, "s0", IR_F32, 2, DIMS(2, 3));
  ir_value_id one = gb_input(g, "one", IR_F32, 3, DIMS(2, 1, 3));
  ir_value_id q = typed(g, "q", IR_F32, 2, DIMS(2, 3));
  ir_value_id back = typed(g, "back", IR_F32, 3, DIMS(2, 1, 3));
  ir_value_id y = gb_val(g, "y");
  gb_node1(g, IR_OP_UNSQUEEZE, "unsq", 2, (ir_value_id[]){x, ax}, u);
  gb_node1(g, IR_OP_SQUEEZE, "sq", 2, (ir_value_id[]){u, axn}, s);
  /* squeezing a different axis does not cancel (and is kept) */
  gb_node1(g, IR_OP_SQUEEZE, "sq_other", 2, (ir_value_id[]){u, ax0}, s0);
  /* and the other way round, Squeeze without axes: */
  gb_node1(g, IR_OP_SQUEEZE, "sq_all", 1, &one, q);
  gb_node1(g, IR_OP_UNSQUEEZE, "unsq_back", 2, (ir_value_id[]){q, ax}, back);
  gb_node1(g, IR_OP_SUM, "sum", 4, (ir_value_id[]){s, s0, back, x}, y);
  gb_output(g, y);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ir_node_id sum = gb_producer(g, y);
  ck_assert_int_eq(g->nodes[sum].inputs[0], x);
  ck_assert_int_ne(g->nodes[sum].inputs[1], x);
  ck_assert_int_eq(g->nodes[sum].inputs[2], one);
  ck_assert_int_eq(gb_count_op(g, IR_OP_SQUEEZE), 2);
  ck_assert_int_eq(gb_count_op(g, IR_OP_UNSQUEEZE), 1);
  ck_assert_int_eq(pass_eliminate_dead_code(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(gb_count_op(g, IR_OP_SQUEEZE), 1);
  ir_graph_free(g);
}
END_TEST

/* Inference-mode Dropout goes; a mask someone reads becomes all true. */
START_TEST(dropout_is_removed_and_its_mask_is_constant) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = gb_input(g, "x", IR_F32, 1, DIMS(3));
  ir_value_id d = typed(g, "d", IR_F32, 1, DIMS(3)), m = typed(g, "m", IR_BOOL, 1, DIMS(3));
  ir_value_id y = gb_val(g, "y"), z = gb_val(g, "z");
  ir_add_node(g, IR_OP_DROPOUT, "drop", 1, &x, 2, (ir_value_id[]){d, m});
  gb_node1(g, IR_OP_RELU, "relu", 1, &d, y);
  gb_node1(g, IR_OP_NOT, "not", 1, &m, z);
  gb_output(g, y);
  gb_output(g, z);
  /* a Dropout in training mode stays */
  ir_value_id d2 = gb_val(g, "d2"), y2 = gb_val(g, "y2");
  uint8_t yes = 1;
  ir_value_id train = ir_add_const(g, "train", IR_BOOL, &(ir_shape){.rank = 0}, &yes, 1, false);
  ir_add_node(g, IR_OP_DROPOUT, "train_drop", 3,
              (ir_value_id[]){x, gb_f32(g, "ratio", 0, NULL, (const float[]){0.5f}), train}, 1,
              &d2);
  gb_node1(g, IR_OP_NEG, "neg", 1, &d2, y2);
  gb_output(g, y2);
  ck_assert_int_eq(pass_simplify(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(gb_count_op(g, IR_OP_DROPOUT), 1);
  ck_assert_str_eq(g->nodes[gb_producer(g, d2)].name, "train_drop");
  ck_assert_int_eq(g->nodes[gb_producer(g, y)].inputs[0], x);
  ck_assert_int_eq(g->values[m].storage, IR_STORAGE_CONST);
  const uint8_t *mask = g->values[m].data;
  ck_assert(mask[0] == 1 && mask[1] == 1 && mask[2] == 1);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("passes");
  TCase *tm = tcase_create("manager");
  tcase_add_test(tm, registry_lists_every_pass_once);
  tcase_add_test(tm, unknown_pass_is_rejected_before_anything_runs);
  tcase_add_test(tm, pipeline_runs_in_order_and_empty_runs_nothing);
  tcase_add_test(tm, print_flags_print_after_the_right_passes);
  tcase_add_test(tm, invalid_input_graph_is_caught_before_the_passes);
  tcase_add_test(tm, default_pipeline_makes_torch_views_static);
  tcase_add_test(tm, reshape_to_own_shape_disappears);
  suite_add_tcase(s, tm);
  TCase *ti = tcase_create("infer-shapes");
  tcase_add_test(ti, shape_override_binds_a_symbol_everywhere);
  tcase_add_test(ti, bad_shape_overrides_are_reported);
  tcase_add_test(ti, overriding_a_static_dim_reinfers_downstream);
  tcase_add_test(ti, inference_merges_with_declared_shapes);
  tcase_add_test(ti, contradicting_declared_shape_names_the_node);
  tcase_add_test(ti, op_without_inference_is_unsupported);
  suite_add_tcase(s, ti);
  TCase *td = tcase_create("eliminate-dead-code");
  tcase_add_test(td, dce_keeps_what_outputs_need);
  tcase_add_test(td, values_read_by_subgraphs_survive);
  suite_add_tcase(s, td);
  TCase *tsi = tcase_create("simplify");
  tcase_add_test(tsi, identity_chains_collapse);
  tcase_add_test(tsi, removed_node_keeps_the_output_name);
  tcase_add_test(tsi, outputs_that_need_a_copy_keep_an_identity);
  tcase_add_test(tsi, no_op_casts_reshapes_transposes_go);
  tcase_add_test(tsi, unsqueeze_squeeze_pairs_cancel);
  tcase_add_test(tsi, dropout_is_removed_and_its_mask_is_constant);
  suite_add_tcase(s, tsi);
  return tu_run(s);
}
