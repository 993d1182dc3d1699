/*
 * test_plan_memory.c — the plan-memory pass on hand-built graphs: chains,
 * diamonds, residual adds, concats of branches, splits, reshape views, a
 * badly ordered graph; lower bounds worked out by hand; the plan checker
 * on corrupted plans; the report, the dump section and the SVG; and
 * random graphs planned, checked, and run through the JIT with and
 * without the plan (results must be bit-identical, on a workspace filled
 * with garbage).
 *
 * Sizes are chosen so every tensor is a multiple of 64 bytes, which keeps
 * the hand-computed workspaces exact.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plantest.h"

/* ---- chains ------------------------------------------------------------------------- */
START_TEST(chain_of_non_elementwise_ops_alternates_two_buffers) {
  /* in -> Softmax a -> Softmax b -> Softmax c -> Softmax out: each node
   * needs its input and output apart, and nothing more */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "chain");
  ir_value_id in = f32(g, "in", 4, 256), a = f32(g, "a", 4, 256), b = f32(g, "b", 4, 256);
  ir_value_id c = f32(g, "c", 4, 256), out = f32(g, "out", 4, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, a, b);
  unary(g, IR_OP_SOFTMAX, b, c);
  unary(g, IR_OP_SOFTMAX, c, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.lower_bound, 2 * 4096);
  ck_assert_int_eq(ms.workspace, 2 * 4096);
  ck_assert_int_eq(ms.naive, 3 * 4096);
  ck_assert_int_eq(ms.in_place, 0);
  ck_assert(!overlap(g, a, b) && !overlap(g, b, c));
  ck_assert_int_eq(off(g, a), off(g, c)); /* a is dead when c is made */
  ck_assert_int_eq(off(g, in), -1);       /* caller's buffers stay out */
  ck_assert_int_eq(off(g, out), -1);
  ir_graph_free(g);
}
END_TEST

START_TEST(elementwise_chain_runs_in_place) {
  /* Softmax a -> Relu r -> Exp e -> Softmax out: r over a, e over r */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "inplace");
  ir_value_id in = f32(g, "in", 1, 1024), a = f32(g, "a", 1, 1024), r = f32(g, "r", 1, 1024);
  ir_value_id e = f32(g, "e", 1, 1024), out = f32(g, "out", 1, 1024);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_RELU, a, r);
  unary(g, IR_OP_EXP, r, e);
  unary(g, IR_OP_SOFTMAX, e, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(off(g, r), off(g, a));
  ck_assert_int_eq(off(g, e), off(g, a));
  ck_assert_int_eq(ms.in_place, 2);
  ck_assert_int_eq(ms.workspace, 4096);
  ck_assert_int_eq(ms.lower_bound, 4096);
  ir_graph_free(g);
}
END_TEST

START_TEST(no_in_place_over_an_input_read_later) {
  /* r = Relu(a) cannot take a's bytes: Add reads a afterwards; the Add
   * itself may write over either input, both die there */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "later");
  ir_value_id in = f32(g, "in", 1, 256), a = f32(g, "a", 1, 256), r = f32(g, "r", 1, 256);
  ir_value_id s = f32(g, "s", 1, 256), out = f32(g, "out", 1, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_RELU, a, r);
  binary(g, IR_OP_ADD, r, a, s);
  unary(g, IR_OP_SOFTMAX, s, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert(!overlap(g, a, r));
  ck_assert(off(g, s) == off(g, r) || off(g, s) == off(g, a));
  ck_assert_int_eq(ms.in_place, 1);
  ck_assert_int_eq(ms.lower_bound, 2 * 1024);
  ir_graph_free(g);
}
END_TEST

START_TEST(no_in_place_when_sizes_differ_or_output_is_caller_owned) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "sizes");
  ir_value_id in = f32(g, "in", 1, 256), a = f32(g, "a", 1, 256);
  ir_value_id bias = f32(g, "bias", 4, 256), b = f32(g, "b", 4, 256), out = f32(g, "out", 4, 256);
  ir_value_id r = f32(g, "r", 4, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, bias, b);
  binary(g, IR_OP_ADD, a, b, r);        /* broadcast: a is smaller; b can host r */
  unary(g, IR_OP_RELU, r, out);         /* out is the caller's: no in place */
  ct_io(g, 2, (ir_value_id[]){in, bias}, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert(!overlap(g, a, r));
  ck_assert_int_eq(off(g, r), off(g, b));
  ck_assert_int_eq(ms.in_place, 1);
  ck_assert_int_eq(off(g, out), -1);
  ir_graph_free(g);
}
END_TEST

/* ---- diamonds and residual blocks -------------------------------------------------- */
START_TEST(diamond_keeps_the_fork_alive_until_both_branches_ran) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "diamond");
  ir_value_id in = f32(g, "in", 1, 512), a = f32(g, "a", 1, 512), b = f32(g, "b", 1, 512);
  ir_value_id c = f32(g, "c", 1, 512), out = f32(g, "out", 1, 512);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, a, b);
  unary(g, IR_OP_SOFTMAX, a, c);
  binary(g, IR_OP_ADD, b, c, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.lower_bound, 3 * 2048); /* a, b and c at the second branch */
  ck_assert_int_eq(ms.workspace, 3 * 2048);
  ck_assert(!overlap(g, a, b) && !overlap(g, a, c) && !overlap(g, b, c));
  ir_graph_free(g);
}
END_TEST

START_TEST(residual_blocks_add_in_place) {
  /* x -> [MatMul h -> MatMul h2 -> Add(x, h2)] x 4 -> out */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "residual");
  ir_value_id in = f32(g, "in", 1, 256), w = weight(g, "w", 256, 256);
  ir_value_id x = f32(g, "x0", 1, 256);
  unary(g, IR_OP_SOFTMAX, in, x);
  ir_value_id adds[4];
  for (int k = 0; k < 4; k++) {
    ir_value_id h = f32(g, "h", 1, 256), h2 = f32(g, "h2", 1, 256), y = f32(g, "y", 1, 256);
    binary(g, IR_OP_MAT_MUL, x, w, h);
    binary(g, IR_OP_MAT_MUL, h, w, h2);
    binary(g, IR_OP_ADD, x, h2, y);
    adds[k] = y;
    x = y;
  }
  ir_value_id out = f32(g, "out", 1, 256);
  unary(g, IR_OP_SOFTMAX, x, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.in_place, 4);
  ck_assert_int_eq(ms.lower_bound, 3 * 1024); /* x, h, h2 at the second MatMul */
  ck_assert_int_eq(ms.workspace, 3 * 1024);
  for (int k = 0; k < 4; k++) {
    ir_node_id n = g->values[adds[k]].producer;
    ir_value_id a = g->nodes[n].inputs[0], b = g->nodes[n].inputs[1];
    ck_assert(off(g, adds[k]) == off(g, a) || off(g, adds[k]) == off(g, b));
  }
  ir_graph_free(g);
}
END_TEST

START_TEST(lower_bound_by_hand) {
  /* a 1024 B, b 2048 B, c 256 B, d 1024 B; out = Add(a, d):
   *   step 0 {a} 1024, 1 {a,b} 3072, 2 {a,b,c} 3328, 3 {a,c,d} 2304,
   *   step 4 {a,d} 2048  ->  lower bound 3328, reached by best fit */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "bound");
  ir_value_id in = f32(g, "in", 1, 16);
  ir_value_id a = f32(g, "a", 1, 256), b = f32(g, "b", 1, 512), c = f32(g, "c", 1, 64);
  ir_value_id d = f32(g, "d", 1, 256), out = f32(g, "out", 1, 256);
  binary(g, IR_OP_MAT_MUL, in, weight(g, "w1", 16, 256), a);
  binary(g, IR_OP_MAT_MUL, a, weight(g, "w2", 256, 512), b);
  binary(g, IR_OP_MAT_MUL, b, weight(g, "w3", 512, 64), c);
  binary(g, IR_OP_MAT_MUL, c, weight(g, "w4", 64, 256), d);
  binary(g, IR_OP_ADD, a, d, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.lower_bound, 3328);
  ck_assert_int_eq(ms.workspace, 3328);
  ck_assert_int_eq(ms.naive, 1024 + 2048 + 256 + 1024);
  ck_assert_int_eq(ms.num_steps, 5);
  ir_graph_free(g);
}
END_TEST

START_TEST(memory_aware_order_beats_a_bad_order) {
  /* two branches, each a big tensor reduced to a small one; the graph
   * lists both big ones first (peak 8256 B); running each branch to its
   * end first needs 4224 B */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "order");
  ir_value_id in = f32(g, "in", 1, 16), W = weight(g, "W", 16, 1024), V = weight(g, "V", 1024, 16);
  ir_value_id a1 = f32(g, "a1", 1, 1024), b1 = f32(g, "b1", 1, 1024);
  ir_value_id a2 = f32(g, "a2", 1, 16), b2 = f32(g, "b2", 1, 16), out = f32(g, "out", 1, 16);
  node1(g, IR_OP_MAT_MUL, "A1", 2, (ir_value_id[]){in, W}, a1);
  node1(g, IR_OP_MAT_MUL, "B1", 2, (ir_value_id[]){in, W}, b1);
  node1(g, IR_OP_MAT_MUL, "A2", 2, (ir_value_id[]){a1, V}, a2);
  node1(g, IR_OP_MAT_MUL, "B2", 2, (ir_value_id[]){b1, V}, b2);
  node1(g, IR_OP_ADD, "sum", 2, (ir_value_id[]){a2, b2}, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.workspace, 4224);
  ck_assert_int_eq(ms.lower_bound, 4224);
  const char *want[] = {"A1", "A2", "B1", "B2", "sum"};
  for (int i = 0; i < 5; i++) ck_assert_str_eq(g->nodes[i].name, want[i]);
  ck_assert_int_eq(g->values[b2].producer, 3); /* producers follow the new order */
  ir_graph_free(g);
}
END_TEST

START_TEST(equally_good_order_is_kept) {
  /* the greedy order would run the small branch first; both orders need
   * the same workspace, so the graph's order stays (stable dumps) */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "keep");
  ir_value_id in = f32(g, "in", 1, 64), a = f32(g, "a", 1, 256), b = f32(g, "b", 1, 64);
  ir_value_id out = f32(g, "out", 1, 320);
  node1(g, IR_OP_MAT_MUL, "big", 2, (ir_value_id[]){in, weight(g, "w", 64, 256)}, a);
  node1(g, IR_OP_SOFTMAX, "small", 1, &in, b);
  ir_node_id n = node1(g, IR_OP_CONCAT, "join", 2, (ir_value_id[]){a, b}, out);
  ir_set_attr_int(g, n, "axis", 1);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.workspace, 1280);
  ck_assert_str_eq(g->nodes[0].name, "big");
  ck_assert_str_eq(g->nodes[1].name, "small");
  ir_graph_free(g);
}
END_TEST

/* ---- views ------------------------------------------------------------------------------ */
START_TEST(reshape_is_a_view_that_keeps_its_source_alive) {
  /* a -> Reshape r; an unrelated t is made while r still lives, so t must
   * not take a's bytes although a itself is read for the last time */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "view");
  ir_value_id in = f32(g, "in", 2, 128), a = f32(g, "a", 2, 128);
  ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(256)), t = f32(g, "t", 1, 256);
  ir_value_id out = f32(g, "out", 1, 256), flat = f32(g, "flat", 1, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  binary(g, IR_OP_RESHAPE, a, shape_const(g, 1, (int64_t[]){256}), r);
  ir_node_id fl = node1(g, IR_OP_FLATTEN, NULL, 1, &in, flat); /* a view of a graph input */
  ir_set_attr_int(g, fl, "axis", 0);
  unary(g, IR_OP_SOFTMAX, flat, t);
  binary(g, IR_OP_ADD, r, t, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(off(g, r), off(g, a));
  ck_assert(!overlap(g, a, t));
  ck_assert_int_eq(off(g, flat), -1); /* the input's bytes, not the workspace's */
  ck_assert_int_eq(ms.views, 1);
  ck_assert_int_eq(ms.lower_bound, 2 * 1024);
  ir_graph_free(g);
}
END_TEST

START_TEST(view_that_is_a_graph_output_pins_its_source) {
  /* out1 = Flatten(a) is copied from a's bytes after the last node, so a
   * lives to the end: the later b must not reuse a's bytes */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "pin");
  ir_value_id in = f32(g, "in", 1, 256), a = f32(g, "a", 1, 256), out1 = f32(g, "out1", 1, 256);
  ir_value_id b = f32(g, "b", 1, 256), c = f32(g, "c", 1, 256), out2 = f32(g, "out2", 1, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  node1(g, IR_OP_FLATTEN, NULL, 1, &a, out1);
  unary(g, IR_OP_SOFTMAX, in, b);
  unary(g, IR_OP_SOFTMAX, b, c);
  unary(g, IR_OP_SOFTMAX, c, out2);
  ct_io(g, 1, &in, 2, (ir_value_id[]){out1, out2});
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert(!overlap(g, a, b) && !overlap(g, a, c));
  ck_assert_int_eq(ms.lower_bound, 3 * 1024);
  ck_assert_int_eq(ms.views, 0); /* out1 is the caller's; a is copied there */
  ir_graph_free(g);
}
END_TEST

START_TEST(values_a_subgraph_reads_live_to_the_end) {
  /* an If body names %a, a read the IR does not list: %a must outlive the
   * If, so the later %b and %c may not take its bytes */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "capture");
  ir_value_id in = f32(g, "in", 1, 256), cond = ct_val(g, "cond", IR_BOOL, SHAPE(1));
  ir_value_id a = f32(g, "a", 1, 256), o = f32(g, "o", 1, 256), b = f32(g, "b", 1, 256);
  ir_value_id c = f32(g, "c", 1, 256), out = f32(g, "out", 1, 256);
  unary(g, IR_OP_SOFTMAX, in, a);
  ir_node_id n = node1(g, IR_OP_IF, "if", 1, &cond, o);
  for (int k = 0; k < 2; k++) {
    ir_attr *at = ir_set_attr(g, n, k ? "else_branch" : "then_branch", IR_ATTR_GRAPH);
    at->graph = ir_graph_new(&ctx, "body");
    ir_value_id inner = ct_val(at->graph, "a", IR_F32, SHAPE(1, 256));
    ir_value_id res = ct_val(at->graph, "res", IR_F32, SHAPE(1, 256));
    unary(at->graph, IR_OP_RELU, inner, res);
    ct_io(at->graph, 0, &res, 1, &res); /* no inputs */
  }
  unary(g, IR_OP_SOFTMAX, o, b);
  unary(g, IR_OP_SOFTMAX, b, c);
  unary(g, IR_OP_SOFTMAX, c, out);
  ct_io(g, 2, (ir_value_id[]){in, cond}, 1, &out);
  plan(&ctx, g);
  ck_assert(!overlap(g, a, o) && !overlap(g, a, b) && !overlap(g, a, c));
  ir_graph_free(g);
}
END_TEST

/* ---- concat and split ------------------------------------------------------------- */
START_TEST(concat_branches_write_into_their_slices) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "concat");
  ir_value_id in = f32(g, "in", 1, 32), a = f32(g, "a", 1, 32), b = f32(g, "b", 1, 64);
  ir_value_id c = f32(g, "c", 1, 96), out = f32(g, "out", 1, 96);
  unary(g, IR_OP_SOFTMAX, in, a);
  binary(g, IR_OP_MAT_MUL, in, weight(g, "w", 32, 64), b);
  ir_node_id n = node1(g, IR_OP_CONCAT, NULL, 2, (ir_value_id[]){a, b}, c);
  ir_set_attr_int(g, n, "axis", 1);
  unary(g, IR_OP_SOFTMAX, c, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(off(g, a), off(g, c));
  ck_assert_int_eq(off(g, b), off(g, c) + 128);
  ck_assert_int_eq(ms.concat_slices, 2);
  ck_assert_int_eq(ms.workspace, 384);
  ck_assert_int_eq(ms.lower_bound, 384);
  ir_graph_free(g);
}
END_TEST

START_TEST(concat_slices_need_contiguity_alignment_and_a_free_producer) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "concat2");
  /* rows of 2 along axis 1: the slices interleave, so no slice reuse */
  ir_value_id in = f32(g, "in", 2, 32), a = f32(g, "a", 2, 32), b = f32(g, "b", 2, 32);
  ir_value_id c = f32(g, "c", 2, 64), out = f32(g, "out", 2, 64);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, in, b);
  ir_node_id n = node1(g, IR_OP_CONCAT, NULL, 2, (ir_value_id[]){a, b}, c);
  ir_set_attr_int(g, n, "axis", 1);
  /* along axis 0 they are contiguous, but x appears twice, and 3 floats
   * (12 bytes) would misalign the slice after it */
  ir_value_id x = f32(g, "x", 1, 3), y = f32(g, "y", 1, 16), in2 = f32(g, "in2", 1, 3);
  ir_value_id cat2 = f32(g, "cat2", 1, 22), out2 = f32(g, "out2", 1, 22);
  unary(g, IR_OP_SOFTMAX, in2, x);
  binary(g, IR_OP_MAT_MUL, x, weight(g, "w", 3, 16), y);
  n = node1(g, IR_OP_CONCAT, NULL, 3, (ir_value_id[]){x, y, x}, cat2);
  ir_set_attr_int(g, n, "axis", 1);
  unary(g, IR_OP_SOFTMAX, cat2, out2);
  unary(g, IR_OP_SOFTMAX, c, out);
  ct_io(g, 2, (ir_value_id[]){in, in2}, 2, (ir_value_id[]){out, out2});
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.concat_slices, 0);
  ck_assert(!overlap(g, a, c) && !overlap(g, b, c) && !overlap(g, y, cat2));
  ir_graph_free(g);
}
END_TEST

START_TEST(nested_concats_chain_their_slices) {
  /* c1 = Concat(a, b) is itself the first slice of c2 = Concat(c1, d) */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "nested");
  ir_value_id in = f32(g, "in", 1, 16);
  ir_value_id a = f32(g, "a", 1, 16), b = f32(g, "b", 1, 16), d = f32(g, "d", 1, 32);
  ir_value_id c1 = f32(g, "c1", 1, 32), c2 = f32(g, "c2", 1, 64), out = f32(g, "out", 1, 64);
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_EXP, in, b);
  ir_node_id n = node1(g, IR_OP_CONCAT, NULL, 2, (ir_value_id[]){a, b}, c1);
  ir_set_attr_int(g, n, "axis", -1);
  binary(g, IR_OP_MAT_MUL, in, weight(g, "w", 16, 32), d);
  n = node1(g, IR_OP_CONCAT, NULL, 2, (ir_value_id[]){c1, d}, c2);
  ir_set_attr_int(g, n, "axis", 1);
  unary(g, IR_OP_SOFTMAX, c2, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.concat_slices, 4);
  ck_assert_int_eq(off(g, c1), off(g, c2));
  ck_assert_int_eq(off(g, a), off(g, c2));
  ck_assert_int_eq(off(g, b), off(g, c2) + 64);
  ck_assert_int_eq(off(g, d), off(g, c2) + 128);
  ck_assert_int_eq(ms.workspace, 256);
  ir_graph_free(g);
}
END_TEST

START_TEST(split_outputs_are_slices_of_the_input) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "split");
  ir_value_id in = f32(g, "in", 1, 64), x = f32(g, "x", 1, 64);
  ir_value_id y0 = f32(g, "y0", 1, 32), y1 = f32(g, "y1", 1, 32), out = f32(g, "out", 1, 32);
  unary(g, IR_OP_SOFTMAX, in, x);
  ir_node_id n = ir_add_node(g, IR_OP_SPLIT, NULL, 1, &x, 2, (ir_value_id[]){y0, y1});
  ir_set_attr_int(g, n, "axis", 1);
  binary(g, IR_OP_MUL, y0, y1, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(ms.split_slices, 2);
  ck_assert_int_eq(off(g, y0), off(g, x));
  ck_assert_int_eq(off(g, y1), off(g, x) + 128);
  ck_assert_int_eq(ms.workspace, 256);
  /* interleaved slices (2 rows) stay copies */
  ir_graph *g2 = ir_graph_new(&ctx, "split2");
  in = f32(g2, "in", 2, 64);
  x = f32(g2, "x", 2, 64);
  y0 = f32(g2, "y0", 2, 32);
  y1 = f32(g2, "y1", 2, 32);
  out = f32(g2, "out", 2, 32);
  unary(g2, IR_OP_SOFTMAX, in, x);
  n = ir_add_node(g2, IR_OP_SPLIT, NULL, 1, &x, 2, (ir_value_id[]){y0, y1});
  ir_set_attr_int(g2, n, "axis", 1);
  binary(g2, IR_OP_MUL, y0, y1, out);
  ct_io(g2, 1, &in, 1, &out);
  ms = plan(&ctx, g2);
  ck_assert_int_eq(ms.split_slices, 0);
  ck_assert(!overlap(g2, x, y0) && !overlap(g2, x, y1));
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

START_TEST(slices_share_bytes_only_where_the_data_is_the_same) {
  /* Split(sm) -> part, part1; cat = Concat(part, sm); sm is read later.
   * Putting part at cat's first slice would also put sm there, over the
   * bytes where cat copies sm: same family of values, different data.
   * Putting sm at cat's second slice is right: part and part1 then sit
   * where cat holds sm's data. */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "slices");
  ir_value_id in = f32(g, "in", 1, 64), sm = f32(g, "sm", 1, 64), part = f32(g, "part", 1, 32);
  ir_value_id part1 = f32(g, "part1", 1, 32), cat = f32(g, "cat", 1, 96);
  ir_value_id out = f32(g, "out", 1, 96), out2 = f32(g, "out2", 1, 64);
  unary(g, IR_OP_SOFTMAX, in, sm);
  ir_node_id n = ir_add_node(g, IR_OP_SPLIT, NULL, 1, &sm, 2, (ir_value_id[]){part, part1});
  ir_set_attr_int(g, n, "axis", 1);
  n = node1(g, IR_OP_CONCAT, NULL, 2, (ir_value_id[]){part, sm}, cat);
  ir_set_attr_int(g, n, "axis", 1);
  unary(g, IR_OP_SOFTMAX, cat, out);
  unary(g, IR_OP_RELU, sm, out2);
  ct_io(g, 1, &in, 2, (ir_value_id[]){out, out2});
  ir_memory_stats ms = plan(&ctx, g);
  ck_assert_int_eq(off(g, sm), off(g, cat) + 128);
  ck_assert_int_eq(off(g, part), off(g, cat) + 128);
  ck_assert_int_eq(off(g, part1), off(g, cat) + 256);
  ck_assert_int_eq(ms.split_slices, 2);
  ck_assert_int_eq(ms.concat_slices, 1);
  ck_assert_int_eq(ms.workspace, 384);

  /* the wrong placement: cat's copy of sm would overwrite sm's second half */
  g->values[sm].offset = g->values[part].offset = g->values[cat].offset = 0;
  g->values[part1].offset = 128;
  char why[512];
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "'sm'") && strstr(why, "'cat'") && strstr(why, "share bytes"), "%s",
                why);
  ir_graph_free(g);
}
END_TEST

/* ---- errors, idempotence ------------------------------------------------------------- */
START_TEST(symbolic_sizes_are_reported) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "dyn");
  ir_shape s = ir_shape_make(2, (int64_t[]){ir_dim_from_sym(ir_sym(g, "N")), 8});
  ir_value_id in = ir_add_value(g, "in", IR_F32, &s), a = ir_add_value(g, "a", IR_F32, &s);
  ir_value_id out = ir_add_value(g, "out", IR_F32, &s);
  node1(g, IR_OP_SOFTMAX, "sm", 1, &in, a);
  node1(g, IR_OP_RELU, "act", 1, &a, out);
  ct_io(g, 1, &in, 1, &out);
  kiln_options opt;
  kiln_options_init(&opt);
  ck_assert_int_eq(pass_plan_memory(&ctx, g, &opt), KILN_ERR_UNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "node 'sm' (Softmax)"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "'a'"));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "--shape"));
  ir_graph_free(g);
}
END_TEST

START_TEST(planning_twice_gives_the_same_plan) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "twice");
  ir_value_id in = f32(g, "in", 1, 64);
  ir_value_id v[6] = {f32(g, "v0", 1, 64),  f32(g, "v1", 1, 128), f32(g, "v2", 1, 192),
                      f32(g, "v3", 1, 64),  f32(g, "v4", 1, 128), f32(g, "v5", 1, 192)};
  unary(g, IR_OP_SOFTMAX, in, v[0]);
  binary(g, IR_OP_MAT_MUL, v[0], weight(g, "w1", 64, 128), v[1]);
  binary(g, IR_OP_MAT_MUL, v[1], weight(g, "w2", 128, 192), v[2]);
  unary(g, IR_OP_RELU, in, v[3]);
  binary(g, IR_OP_MAT_MUL, v[3], weight(g, "w3", 64, 128), v[4]);
  binary(g, IR_OP_MAT_MUL, v[4], weight(g, "w4", 128, 192), v[5]);
  ir_value_id out = f32(g, "out", 1, 192);
  binary(g, IR_OP_ADD, v[2], v[5], out);
  ct_io(g, 1, &in, 1, &out);
  plan(&ctx, g);
  int64_t first[6];
  for (int k = 0; k < 6; k++) first[k] = off(g, v[k]);
  int64_t ws = g->workspace_size;
  plan(&ctx, g);
  for (int k = 0; k < 6; k++) ck_assert_int_eq(off(g, v[k]), first[k]);
  ck_assert_int_eq(g->workspace_size, ws);
  ir_graph_free(g);
}
END_TEST

/* ---- the checker catches broken plans -------------------------------------------------- */
/* in -> Softmax a -> Softmax b -> Relu r -> Reshape v -> Softmax out */
static ir_graph *checked_graph(kiln_ctx *ctx, ir_value_id *vals) {
  ir_graph *g = ir_graph_new(ctx, "check");
  ir_value_id in = f32(g, "in", 1, 256), a = f32(g, "a", 1, 256), b = f32(g, "b", 1, 256);
  ir_value_id r = f32(g, "r", 1, 256), v = ct_val(g, "v", IR_F32, SHAPE(256));
  ir_value_id out = ct_val(g, "out", IR_F32, SHAPE(256));
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, a, b);
  unary(g, IR_OP_RELU, b, r);
  binary(g, IR_OP_RESHAPE, r, shape_const(g, 1, (int64_t[]){256}), v);
  unary(g, IR_OP_SOFTMAX, v, out);
  ct_io(g, 1, &in, 1, &out);
  plan(ctx, g);
  vals[0] = a, vals[1] = b, vals[2] = r, vals[3] = v;
  return g;
}

START_TEST(checker_rejects_broken_plans) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x[4];
  char why[512];
  ir_graph *g = checked_graph(&ctx, x);
  ck_assert_int_eq(off(g, x[2]), off(g, x[1])); /* r in place over b */
  ck_assert_int_eq(off(g, x[3]), off(g, x[2])); /* v views r */

  /* a and b live together (Softmax is not elementwise) */
  g->values[x[1]].offset = g->values[x[0]].offset;
  g->values[x[2]].offset = g->values[x[3]].offset = g->values[x[0]].offset;
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "'a'") && strstr(why, "'b'") && strstr(why, "share bytes"), "%s", why);
  ir_graph_free(g);

  g = checked_graph(&ctx, x);
  g->values[x[3]].offset += 1024; /* a view away from its input */
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "view 'v'"), "%s", why);
  ir_graph_free(g);

  g = checked_graph(&ctx, x);
  g->values[x[0]].offset += 32; /* misaligned */
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "'a'") && strstr(why, "multiple of 64"), "%s", why);
  ir_graph_free(g);

  g = checked_graph(&ctx, x);
  g->values[x[0]].offset = g->workspace_size; /* past the end */
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "past the workspace"), "%s", why);
  ir_graph_free(g);

  g = checked_graph(&ctx, x);
  g->values[g->inputs[0]].offset = 0; /* a caller's buffer in the workspace */
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "'in'") && strstr(why, "not in the workspace"), "%s", why);
  ir_graph_free(g);

  /* in place is only for elementwise ops: make b's producer a Softmax over
   * a and place b on a */
  g = checked_graph(&ctx, x);
  ir_node_id n = g->values[x[2]].producer;
  g->nodes[n].op = IR_OP_SOFTMAX;
  ck_assert(!ir_memory_check(g, why, sizeof why));
  ck_assert_msg(strstr(why, "'b'") && strstr(why, "'r'"), "%s", why);
  ir_graph_free(g);
}
END_TEST

/* ---- report, dump section, SVG --------------------------------------------------------- */
static char *capture_report(const ir_graph *g) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_memory_report(g, f);
  fclose(f);
  return buf;
}

/* The grouped number after `label` in a report ("  lower bound   2,048 bytes"). */
static long long report_number(const char *text, const char *label) {
  const char *p = strstr(text, label);
  ck_assert_msg(p != NULL, "no '%s' in:\n%s", label, text);
  p += strlen(label);
  long long v = 0;
  while (*p == ' ') p++;
  for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
    if (*p != ',') v = v * 10 + (*p - '0');
  return v;
}

START_TEST(report_lists_the_numbers) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_value_id x[4];
  ir_graph *g = ir_graph_new(&ctx, "unplanned");
  ir_value_id in = f32(g, "in", 1, 16), o = f32(g, "o", 1, 16), t = f32(g, "t", 1, 16);
  unary(g, IR_OP_SOFTMAX, in, t);
  unary(g, IR_OP_SOFTMAX, t, o);
  ct_io(g, 1, &in, 1, &o);
  char *text = capture_report(g);
  ck_assert_msg(strstr(text, "none (run plan-memory"), "%s", text);
  free(text);
  ir_graph_free(g);

  g = checked_graph(&ctx, x);
  text = capture_report(g);
  ck_assert_msg(strstr(text, "memory plan of 'check': 5 steps, 4 tensors in the workspace"), "%s",
                text);
  ck_assert_int_eq(report_number(text, "  workspace "), 2048);
  ck_assert_int_eq(report_number(text, "  lower bound "), 2048);
  ck_assert_int_eq(report_number(text, "  naive sum "), 3072);
  ck_assert_msg(strstr(text, "2,048 bytes (2.00 KiB)"), "%s", text);
  ck_assert_msg(strstr(text, "workspace / lower bound 1.000"), "%s", text);
  ck_assert_msg(strstr(text, "reuse: 1 in place, 1 view, 0 concat slices, 0 split slices"), "%s",
                text);
  free(text);
  ir_graph_free(g);
}
END_TEST

START_TEST(dump_after_plan_memory_has_a_report_section) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "dump");
  ir_value_id in = f32(g, "in", 1, 16), t = f32(g, "t", 1, 16), o = f32(g, "o", 1, 16);
  unary(g, IR_OP_SOFTMAX, in, t);
  unary(g, IR_OP_SOFTMAX, t, o);
  ct_io(g, 1, &in, 1, &o);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  kiln_options opt;
  kiln_options_init(&opt);
  opt.passes = "plan-memory";
  opt.print_after = "plan-memory";
  opt.print_stream = f;
  ck_assert_int_eq(kiln_run_passes(&ctx, g, &opt), KILN_OK);
  fclose(f);
  ck_assert_msg(strstr(buf, "# -----// IR after plan-memory //----- #"), "%s", buf);
  ck_assert_msg(strstr(buf, "offset(0)"), "%s", buf);
  ck_assert_msg(strstr(buf, "\n# memory plan of 'dump'"), "%s", buf);
  ck_assert_msg(strstr(buf, "\n#   workspace / lower bound 1.000"), "%s", buf);
  /* the section is comments: the dump still parses */
  ir_graph *back = ir_parse(&ctx, strstr(buf, "graph"), strlen(strstr(buf, "graph")), "dump");
  ck_assert_msg(back != NULL, "%s", ctx.last_error);
  ck_assert_int_eq(back->values[ir_find_value(back, "t")].offset, 0);
  ir_graph_free(back);
  free(buf);

  /* memory_report and memory_svg options make the pass write both */
  char path[] = "/tmp/kiln-plan-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  buf = NULL;
  f = open_memstream(&buf, &len);
  kiln_options_init(&opt);
  opt.memory_report = true;
  opt.memory_svg = path;
  opt.print_stream = f;
  ck_assert_int_eq(pass_plan_memory(&ctx, g, &opt), KILN_OK);
  fclose(f);
  ck_assert_msg(strstr(buf, "lower bound"), "%s", buf);
  free(buf);
  FILE *svg = fopen(path, "r");
  char head[64] = {0};
  ck_assert_uint_gt(fread(head, 1, sizeof head - 1, svg), 0);
  fclose(svg);
  unlink(path);
  ck_assert_msg(strstr(head, "<?xml"), "%s", head);
  opt.memory_svg = "/nonexistent-dir/plan.svg";
  opt.memory_report = false;
  ck_assert_int_eq(pass_plan_memory(&ctx, g, &opt), KILN_ERR_IO);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "/nonexistent-dir/plan.svg"));
  ir_graph_free(g);
}
END_TEST

static int count_of(const char *hay, const char *needle) {
  int c = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
  return c;
}

START_TEST(svg_draws_every_tensor_with_a_tooltip) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "pic<&>");
  ir_value_id in = f32(g, "in", 1, 64), a = f32(g, "a<b&c", 1, 64), b = f32(g, "b", 1, 64);
  ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(64)), out = ct_val(g, "out", IR_F32, SHAPE(64));
  unary(g, IR_OP_SOFTMAX, in, a);
  unary(g, IR_OP_SOFTMAX, a, b);
  binary(g, IR_OP_RESHAPE, b, shape_const(g, 1, (int64_t[]){64}), r);
  unary(g, IR_OP_SOFTMAX, r, out);
  ct_io(g, 1, &in, 1, &out);
  ir_memory_stats ms = plan(&ctx, g);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_memory_svg(g, f);
  fclose(f);
  ck_assert(!strncmp(buf, "<?xml", 5));
  ck_assert_ptr_nonnull(strstr(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  ck_assert_ptr_nonnull(strstr(buf, "</svg>\n"));
  ck_assert_int_eq(count_of(buf, "<title>"), ms.num_tensors);
  ck_assert_int_eq(count_of(buf, "stroke-dasharray=\"4 2\""), ms.views);
  ck_assert_ptr_nonnull(strstr(buf, "<title>a&lt;b&amp;c\n256 bytes at offset"));
  ck_assert_ptr_nonnull(strstr(buf, "memory plan of 'pic&lt;&amp;&gt;'"));
  ck_assert_ptr_nonnull(strstr(buf, "execution step"));
  /* the axis names the unit its ticks are in (this plan is small: bytes) */
  ck_assert_ptr_nonnull(strstr(buf, "workspace offset (B, as the ticks)"));
  ck_assert_ptr_nonnull(strstr(buf, ">0 B</text>"));
  ck_assert_ptr_null(strstr(buf, " MiB</text>"));
  ck_assert_ptr_nonnull(strstr(buf, "lower bound"));
  ck_assert_ptr_null(strstr(buf, "a<b"));
  free(buf);
  ir_graph_free(g);
}
END_TEST

Suite *plan_memory_suite(void);
Suite *plan_memory_suite(void) {
  Suite *s = suite_create("plan_memory");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 240);
  tcase_add_test(t, chain_of_non_elementwise_ops_alternates_two_buffers);
  tcase_add_test(t, elementwise_chain_runs_in_place);
  tcase_add_test(t, no_in_place_over_an_input_read_later);
  tcase_add_test(t, no_in_place_when_sizes_differ_or_output_is_caller_owned);
  tcase_add_test(t, diamond_keeps_the_fork_alive_until_both_branches_ran);
  tcase_add_test(t, residual_blocks_add_in_place);
  tcase_add_test(t, lower_bound_by_hand);
  tcase_add_test(t, memory_aware_order_beats_a_bad_order);
  tcase_add_test(t, equally_good_order_is_kept);
  tcase_add_test(t, reshape_is_a_view_that_keeps_its_source_alive);
  tcase_add_test(t, view_that_is_a_graph_output_pins_its_source);
  tcase_add_test(t, values_a_subgraph_reads_live_to_the_end);
  tcase_add_test(t, concat_branches_write_into_their_slices);
  tcase_add_test(t, concat_slices_need_contiguity_alignment_and_a_free_producer);
  tcase_add_test(t, nested_concats_chain_their_slices);
  tcase_add_test(t, split_outputs_are_slices_of_the_input);
  tcase_add_test(t, slices_share_bytes_only_where_the_data_is_the_same);
  tcase_add_test(t, symbolic_sizes_are_reported);
  tcase_add_test(t, planning_twice_gives_the_same_plan);
  tcase_add_test(t, checker_rejects_broken_plans);
  tcase_add_test(t, report_lists_the_numbers);
  tcase_add_test(t, dump_after_plan_memory_has_a_report_section);
  tcase_add_test(t, svg_draws_every_tensor_with_a_tooltip);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run(plan_memory_suite()); }
