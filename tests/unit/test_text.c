/*
 * test_text.c — the text IR: round trips of hand-built graphs covering
 * every field, exact number formats, parse errors with their positions,
 * robustness against truncated and mutated text, and DOT output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------- */
static char *print_str(const ir_graph *g, const ir_print_options *po) {
  char *s = NULL;
  size_t n;
  FILE *m = open_memstream(&s, &n);
  ir_print(g, m, po);
  fclose(m);
  return s;
}

static char *dot_str(const ir_graph *g) {
  char *s = NULL;
  size_t n;
  FILE *m = open_memstream(&s, &n);
  ir_print_dot(g, m);
  fclose(m);
  return s;
}

/* Prints g, parses the text, prints again: the two texts must be equal.
 * Returns the parsed graph (the caller frees it) and the text in *text. */
static ir_graph *round_trip(kiln_ctx *ctx, const ir_graph *g, const ir_print_options *po,
                            char **text) {
  char *s1 = print_str(g, po);
  ir_graph *g2 = ir_parse(ctx, s1, strlen(s1), "rt.kir");
  ck_assert_msg(g2 != NULL, "printed text does not parse: %s\n%.3000s", ctx->last_error, s1);
  char *s2 = print_str(g2, po);
  ck_assert_msg(!strcmp(s1, s2), "round trip differs:\n%.1500s\n----\n%.1500s", s1, s2);
  free(s2);
  if (text)
    *text = s1;
  else
    free(s1);
  return g2;
}

static ir_value_id find_value(const ir_graph *g, const char *name) {
  for (ir_value_id v = 0; v < g->num_values; v++)
    if (!strcmp(g->values[v].name, name)) return v;
  return IR_NONE;
}

static ir_node_id find_node(const ir_graph *g, const char *name) {
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    if (!strcmp(g->nodes[n].name, name)) return n;
  return IR_NONE;
}

static ir_quant *make_quant(ir_graph *g, ir_quant_kind kind, int axis, int group, int count,
                            bool zp) {
  ir_quant *q = ir_arena_alloc(&g->arena, sizeof *q);
  q->kind = kind;
  q->axis = axis;
  q->group_size = group;
  q->count = count;
  q->scales = ir_arena_alloc(&g->arena, (size_t)count * sizeof *q->scales);
  for (int i = 0; i < count; i++) q->scales[i] = 1.0f / (float)(3 + 7 * i); /* inexact in decimal */
  if (zp) {
    q->zero_points = ir_arena_alloc(&g->arena, (size_t)count * sizeof *q->zero_points);
    for (int i = 0; i < count; i++) q->zero_points[i] = i - 1;
  }
  return q;
}

/* A graph using every feature the text form carries. */
static ir_graph *build_everything(kiln_ctx *ctx) {
  ir_graph *g = ir_graph_new(ctx, "every/thing");
  g->opset = 19;
  g->ir_version = 9;
  int32_t n_sym = ir_sym(g, "N"), s_sym = ir_sym(g, "seq len");
  ir_sym(g, "unused_sym");
  ir_shape sx =
      ir_shape_make(3, (int64_t[]){ir_dim_from_sym(n_sym), ir_dim_from_sym(s_sym), IR_DIM_UNKNOWN});
  ir_value_id x = ir_add_value(g, "input.1", IR_F32, &sx);
  ir_value_id ids = ir_add_value(g, "onnx::ids", IR_I64, NULL); /* unknown rank */
  g->values[x].storage = g->values[ids].storage = IR_STORAGE_INPUT;
  g->values[ids].layout = (ir_layout){IR_LAYOUT_BLOCKED, 16, 0};
  g->values[ids].quant = make_quant(g, IR_QUANT_TENSOR, 0, 0, 1, true);
  g->values[ids].offset = 0;

  float small[3] = {0.1f, -2.5f, 1e-40f};
  ir_shape s3 = ir_shape_make(1, (int64_t[]){3});
  ir_value_id c_small = ir_add_const(g, "small", IR_F32, &s3, small, sizeof small, false);
  float big[40];
  for (int i = 0; i < 40; i++) big[i] = (float)i / 7.0f;
  ir_shape s40 = ir_shape_make(2, (int64_t[]){4, 10});
  ir_value_id c_big = ir_add_const(g, "big/weight", IR_F32, &s40, big, sizeof big, false);
  g->values[c_big].sparsity = (ir_sparsity){IR_SPARSE_NM, 2, 4, 0.5f};
  g->values[c_big].quant = make_quant(g, IR_QUANT_CHANNEL, 0, 0, 4, true);
  ir_value_id c_nodata = ir_add_const(g, "nodata", IR_F16, &s40, NULL, 80, false);
  g->values[c_nodata].hash = 0xfeedfacecafebeefull;
  g->values[c_nodata].quant = make_quant(g, IR_QUANT_GROUP, 1, 5, 8, false);
  g->values[c_nodata].layout = (ir_layout){IR_LAYOUT_PACKED, 8, 4};
  int8_t i8s[2] = {-128, 127};
  ir_value_id c_i8 =
      ir_add_const(g, "i8s", IR_I8, &(ir_shape){.rank = 1, .dims = {2}}, i8s, 2, false);

  ir_value_id a = ir_add_value(g, "/layer1/Conv_output_0", IR_F32, &sx);
  ir_value_id b = ir_add_value(g, "b", IR_F32, &sx);
  ir_value_id mask = ir_add_value(g, "mask", IR_BOOL, &sx);
  ir_value_id out = ir_add_value(g, "out", IR_F32, &sx);
  ir_value_id dangling = ir_add_value(g, "dangling", IR_UNDEFINED, NULL);
  g->values[b].offset = 4096;
  g->values[b].layout = (ir_layout){IR_LAYOUT_BLOCKED, 8, 0};
  g->values[mask].storage = IR_STORAGE_CONST; /* odd but representable */
  g->values[out].storage = IR_STORAGE_OUTPUT;

  ir_node_id n0 = ir_add_node(g, IR_OP_ADD, "/layer1/Add", 2, (ir_value_id[]){x, c_small}, 1, &a);
  ir_set_attr_int(g, n0, "i", -42);
  ir_set_attr_float(g, n0, "f", 0.1f);
  ir_set_attr_float(g, n0, "whole", 3.0f);
  ir_set_attr_ints(g, n0, "ints", (int64_t[]){1, -2, INT64_MAX}, 3);
  ir_set_attr_ints(g, n0, "empty_ints", NULL, 0);
  ir_attr *s = ir_set_attr(g, n0, "bytes", IR_ATTR_STRING);
  s->s = ir_arena_dup(&g->arena, "a\0b\"\\\n\xff", 8);
  s->s_len = 7;
  ir_attr *fl = ir_set_attr(g, n0, "floats", IR_ATTR_FLOATS);
  fl->count = 3;
  fl->floats = ir_arena_dup(&g->arena, (float[]){1.0f, NAN, -INFINITY}, 12);
  ir_attr *st = ir_set_attr(g, n0, "strings", IR_ATTR_STRINGS);
  st->count = 2;
  st->strings = ir_arena_alloc(&g->arena, 2 * sizeof *st->strings);
  st->strings[0] = "x y";
  st->strings[1] = "";
  ir_attr *t = ir_set_attr(g, n0, "tensor", IR_ATTR_TENSOR);
  t->tensor = ir_arena_alloc(&g->arena, sizeof *t->tensor);
  *t->tensor = (ir_tensor){.dtype = IR_I32,
                           .rank = 2,
                           .dims = {1, 2},
                           .data = ir_arena_dup(&g->arena, (int32_t[]){7, -7}, 8),
                           .nbytes = 8};
  ir_attr *ts = ir_set_attr(g, n0, "tensors", IR_ATTR_TENSORS);
  ts->count = 2;
  ts->tensor = ir_arena_alloc(&g->arena, 2 * sizeof *ts->tensor);
  ts->tensor[0] = (ir_tensor){.dtype = IR_F64,
                              .rank = 0,
                              .data = ir_arena_dup(&g->arena, (double[]){M_PI}, 8),
                              .nbytes = 8};
  ts->tensor[1] = (ir_tensor){.dtype = IR_F32, .rank = 1, .dims = {1000}, .nbytes = 4000};
  ir_set_attr(g, n0, "nothing", IR_ATTR_UNDEFINED);

  /* a subgraph attribute */
  ir_graph *sub = ir_graph_new(ctx, "body");
  sub->opset = 19;
  ir_value_id si = ir_add_value(sub, "si", IR_F32, &s3);
  ir_value_id so = ir_add_value(sub, "so", IR_F32, &s3);
  sub->values[si].storage = IR_STORAGE_INPUT;
  sub->values[so].storage = IR_STORAGE_OUTPUT;
  ir_node_id sn = ir_add_node(sub, IR_OP_NEG, "inner", 1, &si, 1, &so);
  ir_set_attr_string(sub, sn, "note", "nested");
  sub->inputs = ir_arena_dup(&sub->arena, &si, sizeof si);
  sub->num_inputs = 1;
  sub->outputs = ir_arena_dup(&sub->arena, &so, sizeof so);
  sub->num_outputs = 1;
  ir_set_attr(g, n0, "body", IR_ATTR_GRAPH)->graph = sub;

  ir_add_node(g, IR_OP_MUL, "mul", 2, (ir_value_id[]){a, c_big}, 1, &b);
  /* omitted optional input and output; a use of a value nobody defines */
  ir_add_node(g, IR_OP_CLIP, "clip", 3, (ir_value_id[]){b, IR_NONE, dangling}, 1, &out);
  ir_add_node(g, IR_OP_DROPOUT, "drop", 1, &b, 2, (ir_value_id[]){IR_NONE, mask});
  ir_add_node(g, IR_OP_CONCAT, "", 3, (ir_value_id[]){c_nodata, c_i8, ids}, 0, NULL);
  g->inputs = ir_arena_dup(&g->arena, (ir_value_id[]){x, ids}, 2 * sizeof(ir_value_id));
  g->num_inputs = 2;
  g->outputs = ir_arena_dup(&g->arena, (ir_value_id[]){out, a}, 2 * sizeof(ir_value_id));
  g->num_outputs = 2;
  return g;
}

/* ---- round trips ------------------------------------------------------------ */
START_TEST(every_feature_round_trips) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = build_everything(&ctx);
  char *text;
  ir_graph *g2 = round_trip(&ctx, g, NULL, &text);
  /* graph-level fields */
  ck_assert_str_eq(g2->name, "every/thing");
  ck_assert_int_eq(g2->opset, 19);
  ck_assert_int_eq(g2->ir_version, 9);
  ck_assert_int_eq(g2->num_syms, 3);
  ck_assert_str_eq(g2->syms[1], "seq len");
  ck_assert_int_eq(g2->num_inputs, 2);
  ck_assert_str_eq(g2->values[g2->inputs[1]].name, "onnx::ids");
  ck_assert_str_eq(g2->values[g2->outputs[0]].name, "out");
  ck_assert_str_eq(g2->values[g2->outputs[1]].name, "/layer1/Conv_output_0");
  /* values */
  ir_value *x = &g2->values[find_value(g2, "input.1")];
  ck_assert_int_eq(x->dtype, IR_F32);
  ck_assert_int_eq(x->shape.rank, 3);
  ck_assert_str_eq(g2->syms[ir_dim_sym(x->shape.dims[1])], "seq len");
  ck_assert(x->shape.dims[2] == IR_DIM_UNKNOWN);
  ck_assert_int_eq(x->storage, IR_STORAGE_INPUT);
  ir_value *ids = &g2->values[find_value(g2, "onnx::ids")];
  ck_assert_int_eq(ids->shape.rank, -1);
  ck_assert_int_eq(ids->layout.kind, IR_LAYOUT_BLOCKED);
  ck_assert_int_eq(ids->layout.block, 16);
  ck_assert_int_eq(ids->offset, 0);
  ck_assert_int_eq(ids->quant->kind, IR_QUANT_TENSOR);
  ck_assert(ids->quant->scales[0] == 1.0f / 3.0f);
  ck_assert_int_eq(ids->quant->zero_points[0], -1);
  ir_value *small = &g2->values[find_value(g2, "small")];
  ck_assert_ptr_nonnull(small->data);
  ck_assert_int_eq(small->nbytes, 12);
  ck_assert(!memcmp(small->data, (float[]){0.1f, -2.5f, 1e-40f}, 12));
  ir_value *big = &g2->values[find_value(g2, "big/weight")];
  const ir_value *big0 = &g->values[find_value(g, "big/weight")];
  ck_assert_ptr_null(big->data); /* 160 bytes > 64: summary only */
  ck_assert_int_eq(big->nbytes, 160);
  ck_assert(big->hash == big0->hash);
  ck_assert_int_eq(big->sparsity.kind, IR_SPARSE_NM);
  ck_assert_int_eq(big->sparsity.m, 4);
  ck_assert_int_eq(big->quant->kind, IR_QUANT_CHANNEL);
  ck_assert_int_eq(big->quant->count, 4);
  for (int i = 0; i < 4; i++) ck_assert(big->quant->scales[i] == big0->quant->scales[i]);
  ir_value *nodata = &g2->values[find_value(g2, "nodata")];
  ck_assert(nodata->hash == 0xfeedfacecafebeefull);
  ck_assert_int_eq(nodata->quant->group_size, 5);
  ck_assert_ptr_null(nodata->quant->zero_points);
  ck_assert_int_eq(nodata->layout.block2, 4);
  ck_assert_int_eq(g2->values[find_value(g2, "b")].offset, 4096);
  ck_assert_int_eq(g2->values[find_value(g2, "mask")].storage, IR_STORAGE_CONST);
  ck_assert_int_eq(g2->values[find_value(g2, "out")].storage, IR_STORAGE_OUTPUT);
  ck_assert_int_eq(g2->values[find_value(g2, "/layer1/Conv_output_0")].storage,
                   IR_STORAGE_ACTIVATION); /* a graph output, stated explicitly */
  ck_assert_int_eq(g2->values[find_value(g2, "dangling")].producer, IR_NONE);
  /* nodes and attributes */
  ck_assert_int_eq(g2->num_nodes, 5);
  ir_node_id n0 = find_node(g2, "/layer1/Add");
  ck_assert_int_eq(n0, 0);
  ck_assert_int_eq(ir_attr_int_or(g2, n0, "i", 0), -42);
  ck_assert(ir_attr_float_or(g2, n0, "f", 0) == 0.1f);
  ck_assert_int_eq(ir_get_attr(g2, n0, "whole")->kind, IR_ATTR_FLOAT);
  const int64_t *ints;
  ck_assert_int_eq(ir_attr_ints(g2, n0, "ints", &ints), 3);
  ck_assert(ints[2] == INT64_MAX);
  ck_assert_int_eq(ir_get_attr(g2, n0, "empty_ints")->kind, IR_ATTR_INTS);
  const ir_attr *s = ir_get_attr(g2, n0, "bytes");
  ck_assert_int_eq(s->s_len, 7);
  ck_assert(!memcmp(s->s, "a\0b\"\\\n\xff", 7));
  const ir_attr *fl = ir_get_attr(g2, n0, "floats");
  ck_assert(isnan(fl->floats[1]) && fl->floats[2] == -INFINITY);
  ck_assert_str_eq(ir_get_attr(g2, n0, "strings")->strings[0], "x y");
  const ir_tensor *t = ir_get_attr(g2, n0, "tensor")->tensor;
  ck_assert_int_eq(t->dtype, IR_I32);
  ck_assert(!memcmp(t->data, (int32_t[]){7, -7}, 8));
  const ir_attr *ts = ir_get_attr(g2, n0, "tensors");
  ck_assert_int_eq(ts->count, 2);
  ck_assert(*(const double *)ts->tensor[0].data == M_PI);
  ck_assert_ptr_null(ts->tensor[1].data);
  ck_assert_int_eq(ts->tensor[1].nbytes, 4000);
  ck_assert_int_eq(ir_get_attr(g2, n0, "nothing")->kind, IR_ATTR_UNDEFINED);
  const ir_graph *sub = ir_get_attr(g2, n0, "body")->graph;
  ck_assert_str_eq(sub->name, "body");
  ck_assert_str_eq(ir_attr_string_or(sub, 0, "note", ""), "nested");
  ir_node_id clip = find_node(g2, "clip");
  ck_assert_int_eq(g2->nodes[clip].inputs[1], IR_NONE);
  ir_node_id drop = find_node(g2, "drop");
  ck_assert_int_eq(g2->nodes[drop].outputs[0], IR_NONE);
  ck_assert_int_eq(g2->nodes[4].num_outputs, 0);
  ck_assert_str_eq(g2->nodes[4].name, "Concat_4");
  /* producers and use counts are derived */
  ck_assert_int_eq(g2->values[find_value(g2, "b")].producer, find_node(g2, "mul"));
  ck_assert_int_eq(g2->values[find_value(g2, "b")].num_uses, 2);
  free(text);
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

START_TEST(full_constants_and_summary_threshold) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = build_everything(&ctx);
  /* full: every constant with data comes back with the same bytes */
  ir_print_options full = {.full_constants = true};
  ir_graph *g2 = round_trip(&ctx, g, &full, NULL);
  const ir_value *big = &g2->values[find_value(g2, "big/weight")];
  const ir_value *big0 = &g->values[find_value(g, "big/weight")];
  ck_assert_ptr_nonnull(big->data);
  ck_assert(!memcmp(big->data, big0->data, 160));
  ck_assert(big->hash == big0->hash);
  ir_graph_free(g2);
  /* a tiny threshold summarises even the 3-element constant */
  ir_print_options tiny = {.summary_bytes = 4};
  char *text;
  g2 = round_trip(&ctx, g, &tiny, &text);
  ck_assert_ptr_null(g2->values[find_value(g2, "small")].data);
  ck_assert_ptr_nonnull(strstr(text, "const %small : f32[3] = summary(bytes 12, hash 0x"));
  ck_assert_ptr_nonnull(strstr(text, "const %i8s : i8[2] = [-128, 127]"));
  free(text);
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

/* Every f16 and bf16 bit pattern, and pseudo-random f32/f64 patterns,
 * survive print and parse exactly (NaN payloads included). */
START_TEST(floats_are_exact) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "floats");
  enum { NH = 65536, NF = 20000 };
  uint16_t *h = malloc(NH * 2);
  for (int i = 0; i < NH; i++) h[i] = (uint16_t)i;
  uint32_t *f = malloc(NF * 4);
  uint64_t *d = malloc(NF * 8), r = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < NF; i++) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    f[i] = (uint32_t)(r >> 32);
    d[i] = r ^ (r << 17);
  }
  ir_value_id vals[4];
  vals[0] = ir_add_const(g, "h", IR_F16, &(ir_shape){.rank = 1, .dims = {NH}}, h, NH * 2, false);
  vals[1] = ir_add_const(g, "bh", IR_BF16, &(ir_shape){.rank = 1, .dims = {NH}}, h, NH * 2, false);
  vals[2] = ir_add_const(g, "f", IR_F32, &(ir_shape){.rank = 1, .dims = {NF}}, f, NF * 4, false);
  vals[3] = ir_add_const(g, "d", IR_F64, &(ir_shape){.rank = 1, .dims = {NF}}, d, NF * 8, false);
  ir_add_node(g, IR_OP_CONCAT, "all", 4, vals, 0, NULL);
  ir_print_options full = {.full_constants = true};
  ir_graph *g2 = round_trip(&ctx, g, &full, NULL);
  ck_assert(!memcmp(g2->values[find_value(g2, "h")].data, h, NH * 2));
  ck_assert(!memcmp(g2->values[find_value(g2, "bh")].data, h, NH * 2));
  ck_assert(!memcmp(g2->values[find_value(g2, "f")].data, f, NF * 4));
  ck_assert(!memcmp(g2->values[find_value(g2, "d")].data, d, NF * 8));
  free(h);
  free(f);
  free(d);
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

START_TEST(short_readable_numbers) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  const char *src =
      "graph @g { const %c : f32[6] = [0.1, 1, 1e10, 65504, 1e-7, -0] "
      "const %h : f16[2] = [0.1, 65504] Concat(%c, %h) {a = 1.0, b = 0.3} }";
  ir_graph *g = ir_parse(&ctx, src, strlen(src), "n.kir");
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  char *text = print_str(g, NULL);
  ck_assert_ptr_nonnull(strstr(text, "[0.1, 1.0, 10000000000.0, 65504.0, 1e-07, -0.0]"));
  ck_assert_ptr_nonnull(strstr(text, "f16[2] = [0.1, 65504.0]"));
  ck_assert_ptr_nonnull(strstr(text, "{a = 1.0, b = 0.3}"));
  free(text);
  ir_graph_free(g);
}
END_TEST

/* Dead nodes and values nothing refers to are not printed; the printer
 * does not depend on value ids, so a shuffled graph prints the same. */
START_TEST(dead_and_unreferenced_are_dropped) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "g");
  ir_shape s = ir_shape_make(1, (int64_t[]){4});
  ir_value_id garbage = ir_add_value(g, "garbage", IR_F32, &s);
  ir_value_id x = ir_add_value(g, "x", IR_F32, &s);
  ir_value_id y = ir_add_value(g, "y", IR_F32, &s);
  ir_value_id z = ir_add_value(g, "z", IR_F32, &s);
  ir_add_node(g, IR_OP_RELU, "r", 1, &x, 1, &y);
  ir_node_id dead = ir_add_node(g, IR_OP_NEG, "dead", 1, &y, 1, &z);
  g->nodes[dead].dead = true;
  g->inputs = ir_arena_dup(&g->arena, &x, sizeof x);
  g->num_inputs = 1;
  g->outputs = ir_arena_dup(&g->arena, &y, sizeof y);
  g->num_outputs = 1;
  (void)garbage;
  char *text;
  ir_graph *g2 = round_trip(&ctx, g, NULL, &text);
  ck_assert_ptr_null(strstr(text, "garbage"));
  ck_assert_ptr_null(strstr(text, "dead"));
  ck_assert_ptr_null(strstr(text, "%z"));
  ck_assert_int_eq(g2->num_values, 2);
  ck_assert_int_eq(g2->num_nodes, 1);
  /* deterministic: printing twice gives the same text */
  char *again = print_str(g, NULL);
  ck_assert_str_eq(text, again);
  free(again);
  free(text);
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

START_TEST(other_domains_print_qualified) {
  /* kiln's own ops, once ops.def has any, print as domain.Name */
  ir_op op = IR_OP_COUNT;
  for (int i = 0; i < IR_OP_COUNT && op == IR_OP_COUNT; i++)
    if (ir_ops[i].domain[0] && ir_ops[i].min_inputs <= 1 && ir_ops[i].min_outputs <= 1)
      op = (ir_op)i;
  if (op == IR_OP_COUNT) return;
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "g");
  ir_value_id x = ir_add_value(g, "x", IR_F32, NULL), y = ir_add_value(g, "y", IR_F32, NULL);
  ir_add_node(g, op, "k", ir_ops[op].min_inputs, &x, ir_ops[op].min_outputs, &y);
  char *text;
  ir_graph *g2 = round_trip(&ctx, g, NULL, &text);
  char want[128];
  snprintf(want, sizeof want, "%s.%s(", ir_ops[op].domain, ir_ops[op].name);
  ck_assert_ptr_nonnull(strstr(text, want));
  ck_assert_int_eq(g2->nodes[0].op, op);
  free(text);
  ir_graph_free(g2);
  ir_graph_free(g);
}
END_TEST

/* ---- parse errors ------------------------------------------------------------- */
static const struct {
  const char *text, *where, *what;
} bad_texts[] = {
    {"", "bad.kir:1:1:", "expected 'graph'"},
    {"graph main {}", "bad.kir:1:7:", "expected the graph's name"},
    {"graph @g {\n  input %x : f32[2]\n", "bad.kir:3:1:", "missing '}'"},
    {"graph @g {\n  %y : f32[2] = Relu(%x)\n}", "bad.kir:2:22:", "use of undefined value %x"},
    {"graph @g { input %x : f33[2] }", "bad.kir:1:23:", "expected a dtype"},
    {"graph @g { input %x : f32[2,-3] }", "bad.kir:1:29:", "out of range"},
    {"graph @g { input %x : f32[1,2,3,4,5,6,7,8,9] }", "bad.kir:1:43:", "rank exceeds"},
    {"graph @g { input %x : f32[2]\n input %x : f32[2] }",
     "bad.kir:2:8:", "redefinition of value %x"},
    {"graph @g { input %x : f32[2] %y : f32[2] = Frobnicate(%x) }",
     "bad.kir:1:44:", "unknown op 'Frobnicate'"},
    {"graph @g { const %c : f32[3] = [1, 2] }",
     "bad.kir:1:32:", "has 2 elements but its shape holds 3"},
    {"graph @g { const %c : i8[1] = [300] }", "bad.kir:1:32:", "out of range [-128, 127]"},
    {"graph @g { input %\"a\\q\" : f32[2] }", "bad.kir:1:18:", "bad escape"},
    {"graph @g { input %\"abc : f32[2] }", "bad.kir:1:18:", "unterminated string"},
    {"graph @g { input %x : f32[2] %y : f32[2] = Relu(%x) {a = 1, a = 2} }",
     "bad.kir:1:61:", "duplicate attribute 'a'"},
    {"graph @g { input %x : f32[2] %y : f32[2] = Relu(%x) {a = []} }",
     "bad.kir:1:59:", "empty list needs its kind"},
    {"graph @g { } graph", "bad.kir:1:14:", "unexpected text after"},
    {"graph @g { input %x : f32[2]\0 }", "bad.kir:1:29:", "unexpected byte 0x00"},
    {"graph @g { const %c : f32[1] = [1e] }", "bad.kir:1:33:", "exponent has no digits"},
    {"graph @g { input %x : f32[2] layout(blocked, 16x4) }", "bad.kir:1:46:", "malformed number"},
    {"graph @g { input %x : f32[2] quant(tensor, scales [1, 2], zero_points [1]) }",
     "bad.kir:1:59:", "2 scales but 1 zero points"},
    {"graph @g { input %x : f32[2] symbols N }", "bad.kir:1:30:", "must be the first statement"},
    {"graph @g { const %c : f32[1] = [nan(0x3f800000)] }",
     "bad.kir:1:37:", "not a 32-bit NaN pattern"},
    {"graph @g { input %x : f32[2] layout(diagonal) }", "bad.kir:1:37:", "unknown layout kind"},
    {"graph @g { const %c : string[1] = [1] }", "bad.kir:1:35:", "cannot be written in full"},
    {"graph @g { input %x : f32[2] output _ }", "bad.kir:1:37:", "expected a value name"},
    {"graph @g { input %x : f32[2] %y : f32[2] = Relu(%x) {a = ints [1.5]} }",
     "bad.kir:1:64:", "expected an integer"},
    {"graph @g { input % : f32[2] }", "bad.kir:1:18:", "expected a name after '%'"},
    {"graph @g { const %c : f32[1] storage(input) = [1] }",
     "bad.kir:1:18:", "storage is always const"},
    {"graph @g { const %c : f32[4611686018427387904] = [1] }", "bad.kir:1:23:", "value %c is too large"},
};

START_TEST(parse_errors_point_at_the_problem) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  const char *text = bad_texts[_i].text;
  size_t len = strlen(text);
  if (strstr(bad_texts[_i].what, "0x00")) len += 3; /* the NUL and what follows */
  ctx.num_errors = 0;
  ir_graph *g = ir_parse(&ctx, text, len, "bad.kir");
  ck_assert_msg(g == NULL, "parsed: %s", text);
  ck_assert_int_eq(ctx.num_errors, 1); /* the first error only */
  ck_assert_msg(
      strstr(ctx.last_error, bad_texts[_i].where) && strstr(ctx.last_error, bad_texts[_i].what),
      "for %s\n  got: %s\n  want: %s %s", text, ctx.last_error, bad_texts[_i].where,
      bad_texts[_i].what);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "kiln: error: "));
}
END_TEST

START_TEST(subgraph_depth_is_limited) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  char text[4096] = "";
  for (int i = 0; i < KILN_MAX_SUBGRAPH_DEPTH + 2; i++)
    strcat(text, "graph @g { value %x : bool[] If(%x) {b = ");
  ir_graph *g = ir_parse(&ctx, text, strlen(text), "deep.kir");
  ck_assert_ptr_null(g);
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "nested deeper than 16"));
}
END_TEST

/* Every prefix of a valid text and many random mutations of it must be
 * handled without crashing (this runs under CK_FORK, so a crash fails);
 * whatever does parse must round-trip. */
START_TEST(truncated_and_mutated_text_is_safe) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = build_everything(&ctx);
  ir_print_options full = {.full_constants = true};
  char *text = print_str(g, &full);
  size_t len = strlen(text);
  for (size_t n = 0; n < len; n += 3) {
    ir_graph *p = ir_parse(&ctx, text, n, "cut.kir");
    ck_assert_msg(p == NULL || n + 1 >= len, "prefix of %zu bytes parsed", n);
    ir_graph_free(p);
  }
  char *buf = malloc(len + 1);
  uint64_t r = 12345;
  int parsed = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(buf, text, len + 1);
    for (int k = 0; k < 1 + iter % 4; k++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (size_t)(r >> 33) % len;
      static const char pool[] = "%@\"\\[](){},:=*?_-.0123456789xeE#\n abcf";
      buf[at] = (r >> 20) & 1 ? pool[(r >> 24) % (sizeof pool - 1)] : (char)(r >> 40);
    }
    ir_graph *p = ir_parse(&ctx, buf, len, "fuzz.kir");
    if (p) {
      parsed++;
      ir_graph_free(round_trip(&ctx, p, &full, NULL));
      ir_verify(p, false); /* must not crash either */
      ir_graph_free(p);
    }
  }
  ck_assert_int_gt(parsed, 0); /* some mutations (inside names, digits) stay valid */
  free(buf);
  free(text);
  ir_graph_free(g);
}
END_TEST

/* ---- DOT ----------------------------------------------------------------------- */
START_TEST(dot_shows_ops_values_and_types) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = build_everything(&ctx);
  char *d = dot_str(g);
  ck_assert_ptr_nonnull(strstr(d, "digraph \"every/thing\" {"));
  ck_assert_ptr_nonnull(strstr(d, "shape=invhouse")); /* inputs */
  ck_assert_ptr_nonnull(strstr(d, "shape=note"));     /* constants */
  ck_assert_ptr_nonnull(strstr(d, "shape=house"));    /* outputs */
  ck_assert_ptr_nonnull(strstr(d, "shape=octagon"));  /* undefined */
  ck_assert_ptr_nonnull(
      strstr(d, "n0 [shape=box, style=\"rounded,filled\", fillcolor=\"#e9ecef\", label=\"Add\"]"));
  ck_assert_ptr_nonnull(strstr(d, "n1 -> n2 [label=\"f32[N,seq len,?]\"]"));
  ck_assert_ptr_nonnull(strstr(d, "label=\"Clip\\nclip\""));
  ck_assert_ptr_nonnull(strstr(d, "label=\"input.1\\nf32[N,seq len,?]\""));
  char *d2 = dot_str(g);
  ck_assert_str_eq(d, d2);
  ck_assert(d[strlen(d) - 2] == '}');
  free(d);
  free(d2);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("text");
  TCase *tc = tcase_create("round_trip");
  tcase_add_test(tc, every_feature_round_trips);
  tcase_add_test(tc, full_constants_and_summary_threshold);
  tcase_add_test(tc, floats_are_exact);
  tcase_add_test(tc, short_readable_numbers);
  tcase_add_test(tc, dead_and_unreferenced_are_dropped);
  tcase_add_test(tc, other_domains_print_qualified);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("errors");
  tcase_add_loop_test(te, parse_errors_point_at_the_problem, 0,
                      (int)(sizeof bad_texts / sizeof bad_texts[0]));
  tcase_add_test(te, subgraph_depth_is_limited);
  tcase_add_test(te, truncated_and_mutated_text_is_safe);
  tcase_set_timeout(te, 120);
  suite_add_tcase(s, te);
  TCase *td = tcase_create("dot");
  tcase_add_test(td, dot_shows_ops_values_and_types);
  suite_add_tcase(s, td);
  return tu_run(s);
}
