/*
 * test_control_flow.c — If, Loop and Scan from ONNX models through the
 * importer, the default pipeline (whose inline-control-flow pass unrolls
 * them) and the JIT, against results computed here; and the refusals,
 * which must say why.
 */
#include <stdio.h>

#include "cgtest.h"
#include "onnx/onnx.h"
#include "onnx_build.h"
#include "passes.h"

enum { F32 = 1, I64 = 7, BOOL = 9 };

/* Imports m, runs the default pipeline and checks no control flow is left. */
static ir_graph *prepare(kiln_ctx *ctx, Onnx__ModelProto *m) {
  ir_graph *g = ob_import(ctx, m);
  ck_assert_msg(g != NULL, "import: %s", ctx->last_error);
  ck_assert_msg(kiln_run_passes(ctx, g, NULL) == KILN_OK, "passes: %s", ctx->last_error);
  for (int32_t n = 0; n < g->num_nodes; n++)
    ck_assert_msg(g->nodes[n].op != IR_OP_IF && g->nodes[n].op != IR_OP_LOOP &&
                      g->nodes[n].op != IR_OP_SCAN,
                  "%s left in the graph", ir_ops[g->nodes[n].op].name);
  return g;
}

/* then: x + 1 (x captured), else: x * 2 */
static Onnx__ModelProto *if_model(bool const_cond, bool cond_value) {
  Onnx__ModelProto *m = ob_model(13);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "x", F32, "3");
  if (const_cond) {
    uint8_t c = cond_value;
    ob_initializer(gp, ob_tensor("c", BOOL, "", &c, 1));
  } else {
    ob_input(gp, "c", BOOL, "scalar");
  }
  float one = 1, two = 2;
  Onnx__GraphProto *tb = ob_graph("then");
  ob_initializer(tb, ob_tensor("one", F32, "", &one, 4));
  ob_node(tb, "Add", "add", "x,one", "t");
  ob_output(tb, "t", F32, "3");
  Onnx__GraphProto *eb = ob_graph("else");
  ob_initializer(eb, ob_tensor("two", F32, "", &two, 4));
  ob_node(eb, "Mul", "mul", "x,two", "e");
  ob_output(eb, "e", F32, "3");
  Onnx__NodeProto *n = ob_node(gp, "If", "if", "c", "y");
  ob_attr_graph(n, "then_branch", tb);
  ob_attr_graph(n, "else_branch", eb);
  ob_output(gp, "y", F32, "3");
  return m;
}

START_TEST(if_with_run_time_condition_selects) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = prepare(&ctx, if_model(false, false));
  cg_jit *j = ct_jit(&ctx, g);
  float x[3] = {1, -2, 3.5f}, y[3];
  for (uint8_t c = 0; c < 2; c++) {
    ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){x, &c}, (void *[]){y}, 1), KILN_OK);
    for (int i = 0; i < 3; i++) ck_assert_float_eq(y[i], c ? x[i] + 1 : x[i] * 2);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

START_TEST(if_with_constant_condition_keeps_one_branch) {
  for (int c = 0; c < 2; c++) {
    kiln_ctx ctx;
    tu_ctx(&ctx);
    ir_graph *g = prepare(&ctx, if_model(true, c));
    for (int32_t n = 0; n < g->num_nodes; n++) ck_assert_int_ne(g->nodes[n].op, IR_OP_WHERE);
    cg_jit *j = ct_jit(&ctx, g);
    float x[3] = {1, -2, 3.5f}, y[3];
    ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){x}, (void *[]){y}, 1), KILN_OK);
    for (int i = 0; i < 3; i++) ck_assert_float_eq(y[i], c ? x[i] + 1 : x[i] * 2);
    cg_jit_free(j);
    ir_graph_free(g);
  }
}
END_TEST

/* Loop(M, cond, y): y += float(iter) each step; the scan output stacks
 * the running values. */
static Onnx__ModelProto *loop_model(bool runtime_trips) {
  Onnx__ModelProto *m = ob_model(11);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "y", F32, "2");
  if (runtime_trips) {
    ob_input(gp, "M", I64, "scalar");
  } else {
    int64_t trips = 4;
    ob_initializer(gp, ob_tensor("M", I64, "", &trips, 8));
  }
  uint8_t yes = 1;
  ob_initializer(gp, ob_tensor("cond", BOOL, "", &yes, 1));
  Onnx__GraphProto *b = ob_graph("body");
  ob_input(b, "i", I64, "scalar");
  ob_input(b, "c_in", BOOL, "scalar");
  ob_input(b, "y_in", F32, "2");
  ob_node(b, "Identity", "keep", "c_in", "c_out");
  ob_attr_int(ob_node(b, "Cast", "cast", "i", "fi"), "to", F32);
  ob_node(b, "Add", "add", "y_in,fi", "y_out");
  ob_node(b, "Identity", "copy", "y_out", "scan");
  ob_output(b, "c_out", BOOL, "scalar");
  ob_output(b, "y_out", F32, "2");
  ob_output(b, "scan", F32, "2");
  Onnx__NodeProto *n = ob_node(gp, "Loop", "loop", "M,cond,y", "y_final,ys");
  ob_attr_graph(n, "body", b);
  ob_output(gp, "y_final", F32, "2");
  ob_output(gp, "ys", F32, "4,2");
  return m;
}

START_TEST(loop_with_constant_trip_count_unrolls) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = prepare(&ctx, loop_model(false));
  cg_jit *j = ct_jit(&ctx, g);
  float y[2] = {10, -1}, fin[2], ys[8];
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){y}, (void *[]){fin, ys}, 1), KILN_OK);
  float acc[2] = {y[0], y[1]};
  for (int t = 0; t < 4; t++)
    for (int k = 0; k < 2; k++) {
      acc[k] += (float)t;
      ck_assert_float_eq(ys[t * 2 + k], acc[k]);
    }
  ck_assert_float_eq(fin[0], acc[0]);
  ck_assert_float_eq(fin[1], acc[1]);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

START_TEST(loop_with_run_time_trip_count_is_refused_with_the_reason) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ob_import(&ctx, loop_model(true));
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(kiln_run_passes(&ctx, g, NULL), KILN_OK);
  kiln_options o = ct_options();
  cg_jit *j = NULL;
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(ctx.last_error, "(Loop): cannot be compiled: the trip count is only known "
                                       "at run time: it depends on graph input 'M' (--bind M=VALUE"),
                "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

START_TEST(scan_reverse_input_and_output_axis) {
  /* running sums over x [2, 3] scanned along axis 1 in reverse, the scan
   * output stacked along axis 1 as well */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(11);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "init", F32, "2");
  ob_input(gp, "x", F32, "2,3");
  Onnx__GraphProto *b = ob_graph("body");
  ob_input(b, "s_in", F32, "2");
  ob_input(b, "v", F32, "2");
  ob_node(b, "Add", "add", "s_in,v", "s_out");
  ob_node(b, "Identity", "copy", "s_out", "o");
  ob_output(b, "s_out", F32, "2");
  ob_output(b, "o", F32, "2");
  Onnx__NodeProto *n = ob_node(gp, "Scan", "scan", "init,x", "final,outs");
  ob_attr_graph(n, "body", b);
  ob_attr_int(n, "num_scan_inputs", 1);
  int64_t one = 1;
  ob_attr_ints(n, "scan_input_axes", &one, 1);
  ob_attr_ints(n, "scan_input_directions", &one, 1);
  ob_attr_ints(n, "scan_output_axes", &one, 1);
  ob_output(gp, "final", F32, "2");
  ob_output(gp, "outs", F32, "2,3");
  ir_graph *g = prepare(&ctx, m);
  cg_jit *j = ct_jit(&ctx, g);
  float init[2] = {100, 200}, x[6] = {1, 2, 3, 4, 5, 6}, fin[2], outs[6];
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){init, x}, (void *[]){fin, outs}, 1), KILN_OK);
  for (int r = 0; r < 2; r++) {
    float acc = init[r];
    for (int t = 0; t < 3; t++) {
      acc += x[r * 3 + (2 - t)]; /* reverse: last column first */
      ck_assert_float_eq(outs[r * 3 + t], acc);
    }
    ck_assert_float_eq(fin[r], acc);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("control_flow");
  TCase *tc = tcase_create("unroll");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, if_with_run_time_condition_selects);
  tcase_add_test(tc, if_with_constant_condition_keeps_one_branch);
  tcase_add_test(tc, loop_with_constant_trip_count_unrolls);
  tcase_add_test(tc, loop_with_run_time_trip_count_is_refused_with_the_reason);
  tcase_add_test(tc, scan_reverse_input_and_output_axis);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
