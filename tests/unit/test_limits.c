/*
 * test_limits.c — every hard limit of ctx.h (docs/limits.md), at the limit
 * and one past it, in each reader that enforces it: the ONNX importer
 * (from bytes, or from unpacked protos for counts too large to serialize
 * in a test) and the text-IR parser.
 *
 * "At the limit" must not be refused *for the limit*: the model may still
 * fail later for another reason, and the test checks that the reason is
 * that other one.  Models with millions of nodes share one NodeProto
 * through an array of pointers: the count checks run before any node is
 * looked at, so the test stays small and fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "onnx/onnx_internal.h"
#include "onnx_build.h"
#include "passes.h"
#include "testutil.h"

enum { F32 = 1, U8 = 2, I64 = 7 };

/* Imports m (consumed) from bytes; returns the graph, or NULL with
 * ctx->last_error set. */
static ir_graph *import(kiln_ctx *ctx, Onnx__ModelProto *m) {
  tu_ctx(ctx);
  return ob_import(ctx, m);
}

#define ASSERT_IMPORT_FAILS(m, what)                                           \
  do {                                                                         \
    kiln_ctx c_;                                                               \
    ir_graph *g_ = import(&c_, (m));                                           \
    ck_assert_ptr_null(g_);                                                    \
    ck_assert_msg(strstr(c_.last_error, (what)), "want '%s', got: %s", (what), \
                  c_.last_error);                                              \
  } while (0)

#define ASSERT_IMPORTS(m)                                                      \
  do {                                                                         \
    kiln_ctx c_;                                                               \
    ir_graph *g_ = import(&c_, (m));                                           \
    ck_assert_msg(g_ != NULL, "%s", c_.last_error);                            \
    ir_graph_free(g_);                                                         \
  } while (0)

/* Parses text; returns the graph or NULL with ctx->last_error set. */
static ir_graph *parse(kiln_ctx *ctx, const char *text) {
  tu_ctx(ctx);
  return ir_parse(ctx, text, strlen(text), "limits.kir");
}

#define ASSERT_PARSE_FAILS(text, what)                                         \
  do {                                                                         \
    kiln_ctx c_;                                                               \
    ck_assert_ptr_null(parse(&c_, (text)));                                    \
    ck_assert_msg(strstr(c_.last_error, (what)), "want '%s', got: %s", (what), \
                  c_.last_error);                                              \
  } while (0)

#define ASSERT_PARSES(text)                                                    \
  do {                                                                         \
    kiln_ctx c_;                                                               \
    ir_graph *g_ = parse(&c_, (text));                                         \
    ck_assert_msg(g_ != NULL, "%s", c_.last_error);                            \
    ir_graph_free(g_);                                                         \
  } while (0)

/* A growing string buffer for generated text IR. */
typedef struct {
  char *p;
  size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s) {
  size_t k = strlen(s);
  if (b->n + k + 1 > b->cap) {
    b->cap = 2 * (b->n + k + 1);
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, k + 1);
  b->n += k;
}

/* ---- KILN_MAX_RANK ------------------------------------------------------ */

START_TEST(rank) {
  ck_assert_int_eq(KILN_MAX_RANK, 8);
  /* an initializer */
  Onnx__ModelProto *m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "1,1,1,1,1,1,1,1", (float[]){1}, 4));
  ASSERT_IMPORTS(m);
  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "1,1,1,1,1,1,1,1,1", (float[]){1}, 4));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' has rank 9; kiln supports at most 8 dims");

  /* the status is KILN_ERR_LIMIT */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__TensorProto *t = ob_tensor("w", F32, "1,1,1,1,1,1,1,1,1", (float[]){1}, 4);
  ir_arena arena;
  ir_arena_init(&arena, &ctx);
  onnx_extdata ext;
  onnx_extdata_init(&ext, &ctx, NULL, NULL);
  onnx_tensor out;
  ck_assert_int_eq(onnx_decode_tensor(&ext, &arena, NULL, NULL, t, &out), KILN_ERR_LIMIT);
  onnx__tensor_proto__free_unpacked(t, NULL);
  ir_arena_free(&arena);

  /* a graph input's type, and a value_info hint */
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1,1,1,1,1,1,1,1");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, NULL);
  ASSERT_IMPORTS(m);
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1,1,1,1,1,1,1,1,1");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, NULL);
  ASSERT_IMPORT_FAILS(m, "input 'x' has rank 9; kiln supports at most 8 dims");
  m = ob_relu_model();
  ob_value_info(m->graph, "y", F32, "1,1,1,1,1,1,1,1,1");
  ASSERT_IMPORT_FAILS(m, "value 'y' has rank 9");

  /* the text IR: a value and a tensor attribute */
  ASSERT_PARSES("graph @g { input %x : f32[1,1,1,1,1,1,1,1] output %x }");
  ASSERT_PARSE_FAILS("graph @g { input %x : f32[1,1,1,1,1,1,1,1,1] output %x }",
                     "limits.kir:1:43: rank exceeds the limit of 8 dims");
  ASSERT_PARSES("graph @g { input %x : f32[1] %y : f32[1] = ConstantOfShape(%x) "
                "{value = tensor(f32[1,1,1,1,1,1,1,1], [0.0])} output %y }");
  ASSERT_PARSE_FAILS("graph @g { input %x : f32[1] %y : f32[1] = ConstantOfShape(%x) "
                     "{value = tensor(f32[1,1,1,1,1,1,1,1,1], [0.0])} output %y }",
                     "rank exceeds the limit of 8 dims");
}
END_TEST

/* ---- KILN_MAX_TENSOR_BYTES ---------------------------------------------- */

START_TEST(tensor_bytes) {
  ck_assert(KILN_MAX_TENSOR_BYTES == (int64_t)1 << 40);
  /* exactly 2^40 bytes passes the size check and fails for lack of data */
  Onnx__ModelProto *m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", U8, "1099511627776", NULL, 0));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' has no data");
  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", U8, "1099511627777", NULL, 0));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' is too large");
  /* the dtype's size counts: 2^38 f32 is 2^40 bytes */
  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "262144,1048576", NULL, 0));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' has no data");
  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "262145,1048576", NULL, 0));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' is too large");
  /* a product that overflows int64 */
  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "4294967296,4294967296,4294967296", NULL, 0));
  ASSERT_IMPORT_FAILS(m, "tensor 'w' is too large");

  /* declared types of inputs, outputs and hints (symbolic dims count as 1) */
  m = ob_model(17);
  ob_input(m->graph, "x", U8, "N,1024,1073741824");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", U8, NULL);
  ASSERT_IMPORTS(m);
  m = ob_model(17);
  ob_input(m->graph, "x", U8, "N,1025,1073741824");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", U8, NULL);
  ASSERT_IMPORT_FAILS(m, "input 'x' is too large: its dims hold more than 1099511627776 bytes");
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "N");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, "4611686018427387904,4");
  ASSERT_IMPORT_FAILS(m, "output 'y' is too large");
  m = ob_relu_model();
  ob_value_info(m->graph, "y", F32, "9223372036854775807,9223372036854775807");
  ASSERT_IMPORT_FAILS(m, "value 'y' is too large");

  /* --shape cannot smuggle a huge shape in either */
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "N,3");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, NULL);
  kiln_options opt = {0};
  kiln_shape_override o = {.input = "x", .rank = 2, .dims = {(int64_t)1 << 40, 3}};
  opt.shapes = &o;
  opt.num_shapes = 1;
  size_t len;
  unsigned char *buf = ob_pack(m, &len);
  ob_free(m);
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ck_assert_ptr_null(onnx_import_bytes(&ctx, buf, len, NULL, &opt));
  ck_assert_msg(strstr(ctx.last_error, "--shape: input 'x' is too large"), "%s", ctx.last_error);
  o.dims[0] = 1 << 20;
  ir_graph *g = onnx_import_bytes(&ctx, buf, len, NULL, &opt);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ir_graph_free(g);
  free(buf);

  /* the text IR */
  ASSERT_PARSES("graph @g { input %x : u8[1099511627776] output %x }");
  ASSERT_PARSES("graph @g { input %x : f32[N,262144,1048576] output %x }");
  ASSERT_PARSE_FAILS("graph @g { input %x : u8[1099511627777] output %x }",
                     "limits.kir:1:23: value %x is too large: its dims hold more than 2^40 bytes");
  ASSERT_PARSE_FAILS("graph @g { input %x : f32[N,262145,1048576] output %x }",
                     "value %x is too large");
  ASSERT_PARSE_FAILS("graph @g { input %x : f32[1] %y : f32[1] = ConstantOfShape(%x) "
                     "{value = tensor(u8[1099511627777], [0])} output %y }",
                     "more than 2^40 elements");
}
END_TEST

/* Shapes that inference computes, or that --shape gives a symbol, obey the
 * same limit. */
START_TEST(inferred_bytes) {
  kiln_ctx ctx;
  const char *fmt = "graph @g opset 17 { input %%x : f32[1] const %%s : i64[2] = [%s] "
                    "%%y : f32[*] = Expand(%%x, %%s) output %%y }";
  char text[256];
  snprintf(text, sizeof text, fmt, "262144, 1048576"); /* 2^38 f32: 2^40 bytes */
  ir_graph *g = parse(&ctx, text);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_OK);
  ck_assert_int_eq(g->values[ir_find_value(g, "y")].shape.dims[0], 262144);
  ir_graph_free(g);
  snprintf(text, sizeof text, fmt, "262145, 1048576");
  g = parse(&ctx, text);
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, NULL), KILN_ERR_LIMIT);
  ck_assert_msg(strstr(ctx.last_error, "node 'Expand_0' (Expand): output 'y' would hold more "
                       "than 2^40 bytes (the limit)"), "%s", ctx.last_error);
  ir_graph_free(g);

  g = parse(&ctx, "graph @g { input %x : f32[N, N] %y : f32[N, N] = Relu(%x) output %y }");
  kiln_options opt = {0};
  kiln_shape_override o = {.input = "x", .rank = 2, .dims = {524288, 524288}};
  opt.shapes = &o;
  opt.num_shapes = 1;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_OK);
  ir_graph_free(g);
  g = parse(&ctx, "graph @g { input %x : f32[N, N] %y : f32[N, N] = Relu(%x) output %y }");
  o.dims[0] = o.dims[1] = 524289;
  ck_assert_int_eq(pass_infer_shapes(&ctx, g, &opt), KILN_ERR_LIMIT);
  ck_assert_msg(strstr(ctx.last_error, "--shape: value 'x' would hold more than 2^40 bytes"),
                "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

/* fold-constants creates at most 256 MB of constants beyond the model's
 * own, and leaves nodes whose inputs exceed 256 MB to run time: a 12 KB
 * model of 200 ConstantOfShape nodes used to take 6.6 GB and two minutes. */
START_TEST(fold_budget) {
  kiln_ctx ctx;
  sbuf b = {0};
  put(&b, "graph @g opset 17 { const %s : i64[1] = [4194304]");
  for (int i = 0; i < 20; i++) {
    char line[160];
    snprintf(line, sizeof line, " %%c%d : f32[4194304] = ConstantOfShape(%%s) "
             "{value = tensor(f32[1], [%d.0])} @cos%d", i, i, i);
    put(&b, line);
  }
  put(&b, " %y : f32[4194304] = Sum(%c0"); /* 17 x 16 MB of inputs */
  for (int i = 0; i < 16; i++) put(&b, ", %c0");
  put(&b, ") @sum output %y");
  for (int i = 1; i < 20; i++) {
    char line[16];
    snprintf(line, sizeof line, " output %%c%d", i);
    put(&b, line);
  }
  put(&b, " }");
  ir_graph *g = parse(&ctx, b.p);
  free(b.p);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ck_assert_int_eq(pass_fold_constants(&ctx, g, NULL), KILN_OK);
  int left = 0, sums = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    left += g->nodes[n].op == IR_OP_CONSTANT_OF_SHAPE;
    sums += g->nodes[n].op == IR_OP_SUM;
  }
  /* 16 x 16 MB fold (outputs become Identity(constant)), 4 are left */
  ck_assert_int_eq(left, 4);
  ck_assert_int_eq(sums, 1);
  ir_graph_free(g);
}
END_TEST

/* ---- KILN_MAX_SUBGRAPH_DEPTH -------------------------------------------- */

/* An If chain whose node at each level holds the next level as
 * `then_branch` (import only: no else_branch needed). */
static Onnx__ModelProto *nested_model(int levels) {
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  Onnx__NodeProto *n = ob_node(m->graph, "If", "r0", "x", "y");
  for (int d = 1; d <= levels; d++) {
    Onnx__GraphProto *sg = ob_graph("level");
    Onnx__NodeProto *sn = ob_node(sg, "If", "r", "x", "z");
    ob_output(sg, "z", F32, NULL);
    ob_attr_graph(n, "then_branch", sg);
    n = sn;
  }
  ob_output(m->graph, "y", F32, "1");
  return m;
}

/* The same in text: `levels` nested `body = graph @sN { ... }`. */
static char *nested_text(int levels) {
  sbuf b = {0};
  put(&b, "graph @g { input %x : f32[1] %y : f32[1] = Relu(%x)");
  for (int d = 1; d <= levels; d++) put(&b, " {body = graph @s { value %x : f32[1] %z : f32[1] = Relu(%x)");
  for (int d = 1; d <= levels; d++) put(&b, " output %z }}");
  put(&b, " output %y }");
  return b.p;
}

START_TEST(subgraph_depth) {
  ck_assert_int_eq(KILN_MAX_SUBGRAPH_DEPTH, 16);
  ASSERT_IMPORTS(nested_model(KILN_MAX_SUBGRAPH_DEPTH));
  ASSERT_IMPORT_FAILS(nested_model(KILN_MAX_SUBGRAPH_DEPTH + 1),
                      "subgraphs are nested deeper than 16 levels");
  char *ok = nested_text(KILN_MAX_SUBGRAPH_DEPTH), *bad = nested_text(KILN_MAX_SUBGRAPH_DEPTH + 1);
  ASSERT_PARSES(ok);
  ASSERT_PARSE_FAILS(bad, "subgraphs nested deeper than 16");
  free(ok);
  free(bad);
}
END_TEST

/* ---- KILN_MAX_MESSAGE_DEPTH --------------------------------------------- */

/* Appends a base-128 varint. */
static size_t varint(unsigned char *p, uint64_t v) {
  size_t n = 0;
  do {
    p[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

/* Wraps buf[0..len) as length-delimited field `field` (in place, moving it
 * right); returns the new length. */
static size_t wrap(unsigned char *buf, size_t len, int field) {
  unsigned char hdr[16];
  size_t h = varint(hdr, (uint64_t)field << 3 | 2);
  h += varint(hdr + h, len);
  memmove(buf + h, buf, len);
  memcpy(buf, hdr, h);
  return len + h;
}

/* A ModelProto nesting `depth` messages: ModelProto > GraphProto >
 * ValueInfoProto > TypeProto > (Sequence > TypeProto)*.  Each TypeProto
 * level is one message, Sequence another. */
static unsigned char *deep_model(int depth, size_t *len) {
  unsigned char *buf = calloc(1, 16 * (size_t)depth + 64);
  size_t n = 0;
  int levels = depth - 4; /* below TypeProto */
  for (int i = 0; i < levels; i++)
    n = wrap(buf, n, i % 2 == 0 ? 1 /* Sequence.elem_type */ : 4 /* TypeProto.sequence_type */);
  if (levels % 2) n = wrap(buf, n, 4); /* end on a TypeProto at depth 4 */
  n = wrap(buf, n, 2);                  /* ValueInfoProto.type */
  memmove(buf + 3, buf, n);             /* ValueInfoProto.name = "x" */
  memcpy(buf, "\x0a\x01x", 3);
  n = wrap(buf, n + 3, 11); /* GraphProto.input */
  n = wrap(buf, n, 7);      /* ModelProto.graph */
  *len = n;
  return buf;
}

START_TEST(message_depth) {
  ck_assert_int_eq(KILN_MAX_MESSAGE_DEPTH, 100);
  kiln_ctx ctx;
  tu_ctx(&ctx);
  for (int depth = KILN_MAX_MESSAGE_DEPTH - 1; depth <= KILN_MAX_MESSAGE_DEPTH + 2; depth++) {
    size_t len;
    unsigned char *buf = deep_model(depth, &len);
    Onnx__ModelProto *m;
    kiln_status st = onnx_unpack_model(&ctx, buf, len, &m);
    if (depth <= KILN_MAX_MESSAGE_DEPTH) {
      ck_assert_msg(st == KILN_OK, "depth %d: %s", depth, ctx.last_error);
      ck_assert_ptr_nonnull(m->graph);
      ck_assert_int_eq(m->graph->n_input, 1);
      ProtobufCAllocator pa = onnx_pb_allocator(&ctx);
      onnx__model_proto__free_unpacked(m, &pa);
    } else {
      ck_assert_int_eq(st, KILN_ERR_LIMIT);
      ck_assert_ptr_null(m);
      ck_assert_msg(strstr(ctx.last_error, "nested more than 100 deep"), "%s", ctx.last_error);
    }
    free(buf);
  }
  /* ten thousand levels (70 KB) overflowed protobuf-c's stack before */
  size_t len;
  unsigned char *buf = deep_model(10000, &len);
  ck_assert_ptr_null(onnx_import_bytes(&ctx, buf, len, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "nested more than 100 deep"), "%s", ctx.last_error);
  free(buf);
}
END_TEST

/* ---- KILN_MAX_INPUTS ---------------------------------------------------- */

/* "x,x,...,x" with n names. */
static char *names(int n) {
  char *s = malloc(2 * (size_t)n + 1);
  for (int i = 0; i < n; i++) memcpy(s + 2 * i, "x,", 2);
  s[2 * n - 1] = 0;
  return s;
}

START_TEST(node_inputs) {
  ck_assert_int_eq(KILN_MAX_INPUTS, 65536);
  char *at = names(KILN_MAX_INPUTS), *over = names(KILN_MAX_INPUTS + 1);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "2");
  ob_node(m->graph, "Sum", "s", at, "y");
  ob_output(m->graph, "y", F32, NULL);
  ASSERT_IMPORTS(m);
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "2");
  ob_node(m->graph, "Sum", "s", over, "y");
  ob_output(m->graph, "y", F32, NULL);
  ASSERT_IMPORT_FAILS(m, "node 's' (Sum): has 65537 inputs and 1 outputs; the limit is 65536");

  /* text: "%x, %x, ..." */
  for (int n = KILN_MAX_INPUTS; n <= KILN_MAX_INPUTS + 1; n++) {
    sbuf b = {0};
    put(&b, "graph @g { input %x : f32[2] %y : f32[2] = Sum(%x");
    for (int i = 1; i < n; i++) put(&b, ", %x");
    put(&b, ") output %y }");
    if (n == KILN_MAX_INPUTS)
      ASSERT_PARSES(b.p);
    else
      ASSERT_PARSE_FAILS(b.p, "more than 65536 inputs");
    free(b.p);
  }
  free(at);
  free(over);
}
END_TEST

START_TEST(graph_inputs) {
  /* graph inputs count against the same limit (the text form could not
   * hold more), in the importer and the parser */
  for (int n = KILN_MAX_INPUTS; n <= KILN_MAX_INPUTS + 1; n++) {
    Onnx__ModelProto *m = ob_model(17);
    for (int i = 0; i < n; i++) {
      char name[16];
      snprintf(name, sizeof name, "x%d", i);
      ob_input(m->graph, name, F32, "1");
    }
    ob_node(m->graph, "Relu", "r", "x0", "y");
    ob_output(m->graph, "y", F32, NULL);
    if (n == KILN_MAX_INPUTS)
      ASSERT_IMPORTS(m);
    else
      ASSERT_IMPORT_FAILS(m, "graph 'g' has 65537 inputs and 1 outputs; the limit is 65536");
    sbuf b = {0};
    put(&b, "graph @g {");
    for (int i = 0; i < n; i++) {
      char line[48];
      snprintf(line, sizeof line, " input %%x%d : f32[1]", i);
      put(&b, line);
    }
    put(&b, " output %x0 }");
    if (n == KILN_MAX_INPUTS)
      ASSERT_PARSES(b.p);
    else
      ASSERT_PARSE_FAILS(b.p, "more than 65536 graph inputs");
    free(b.p);
  }
}
END_TEST

/* ---- KILN_MAX_NODES and KILN_MAX_VALUES --------------------------------- *
 * Counts this large are built as unpacked protos that repeat one NodeProto
 * pointer, and imported with onnx_import_proto. */

/* A model whose graph has `count` copies of node `np` (not owned). */
static Onnx__ModelProto *repeated_model(Onnx__NodeProto *np, size_t count) {
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_output(m->graph, "y", F32, NULL);
  m->graph->node = malloc(count * sizeof *m->graph->node);
  for (size_t i = 0; i < count; i++) m->graph->node[i] = np;
  m->graph->n_node = count;
  return m;
}

static void free_repeated(Onnx__ModelProto *m) {
  free(m->graph->node);
  m->graph->node = NULL;
  m->graph->n_node = 0;
  ob_free(m);
}

START_TEST(node_count) {
  ck_assert_int_eq(KILN_MAX_NODES, 1 << 22);
  Onnx__GraphProto *tmp = ob_graph("tmp");
  Onnx__NodeProto *np = ob_node(tmp, "Relu", "r", "x", "y");
  kiln_ctx ctx;
  tu_ctx(&ctx);
  /* at the limit: refused, but for the duplicate definition of y */
  Onnx__ModelProto *m = repeated_model(np, KILN_MAX_NODES);
  ck_assert_ptr_null(onnx_import_proto(&ctx, m, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "value 'y' is defined twice"), "%s", ctx.last_error);
  free_repeated(m);
  m = repeated_model(np, (size_t)KILN_MAX_NODES + 1);
  ck_assert_ptr_null(onnx_import_proto(&ctx, m, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "graph 'g' has 4194305 nodes"), "%s", ctx.last_error);
  ck_assert_msg(strstr(ctx.last_error, "the limits are 4194304 and 8388608"), "%s",
                ctx.last_error);
  free_repeated(m);
  onnx__graph_proto__free_unpacked(tmp, NULL);
}
END_TEST

START_TEST(value_count) {
  ck_assert_int_eq(KILN_MAX_VALUES, 1 << 23);
  /* a Split with KILN_MAX_INPUTS outputs, repeated: 128 of them make
   * 2^23 values, with the graph input one more */
  Onnx__GraphProto *tmp = ob_graph("tmp");
  Onnx__NodeProto *np = ob_node(tmp, "Split", "s", "x", "y");
  char **outs = malloc(KILN_MAX_INPUTS * sizeof *outs);
  for (int i = 0; i < KILN_MAX_INPUTS; i++) outs[i] = np->output[0];
  free(np->output);
  np->output = outs;
  np->n_output = KILN_MAX_INPUTS;
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = repeated_model(np, 127);
  ck_assert_ptr_null(onnx_import_proto(&ctx, m, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "defined twice"), "%s", ctx.last_error);
  free_repeated(m);
  m = repeated_model(np, 128);
  ck_assert_ptr_null(onnx_import_proto(&ctx, m, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "128 nodes and 8388609 values"), "%s", ctx.last_error);
  free_repeated(m);
  /* initializers count too */
  Onnx__TensorProto *t = ob_tensor("w", F32, "1", (float[]){1}, 4);
  m = ob_relu_model();
  m->graph->initializer = malloc((size_t)KILN_MAX_VALUES * sizeof *m->graph->initializer);
  for (int i = 0; i < KILN_MAX_VALUES; i++) m->graph->initializer[i] = t;
  m->graph->n_initializer = KILN_MAX_VALUES;
  ck_assert_ptr_null(onnx_import_proto(&ctx, m, NULL, NULL));
  ck_assert_msg(strstr(ctx.last_error, "1 nodes and 8388610 values"), "%s", ctx.last_error);
  free(m->graph->initializer);
  m->graph->initializer = NULL;
  m->graph->n_initializer = 0;
  ob_free(m);
  onnx__tensor_proto__free_unpacked(t, NULL);
  np->n_output = 1; /* the other slots repeat the first name */
  onnx__graph_proto__free_unpacked(tmp, NULL);
}
END_TEST

int main(void) {
  /* one case per test, so CK_RUN_CASE=node_count runs just one */
  const struct {
    const char *name;
    const TTest *test;
  } tests[] = {
      {"rank", rank},
      {"tensor_bytes", tensor_bytes},
      {"inferred_bytes", inferred_bytes},
      {"fold_budget", fold_budget},
      {"subgraph_depth", subgraph_depth},
      {"message_depth", message_depth},
      {"node_inputs", node_inputs},
      {"graph_inputs", graph_inputs},
      {"node_count", node_count},
      {"value_count", value_count},
  };
  Suite *s = suite_create("limits");
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    TCase *tc = tcase_create(tests[i].name);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, tests[i].test);
    suite_add_tcase(s, tc);
  }
  return tu_run(s);
}
