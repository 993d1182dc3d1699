/*
 * test_import.c — the ONNX importer on models built in the test
 * (onnx_build.h) and imported from memory: what it reads (initializers,
 * Constant nodes, every attribute kind, typed and raw tensors, symbolic
 * dims, value_info, subgraphs and outer-scope captures) and how it refuses
 * bad input (truncated or garbage bytes, undefined values, cycles, size
 * mismatches, limits, unsupported ops).  External data and other
 * file-based paths are in test_import_files.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "onnx_build.h"
#include "options.h"
#include "testutil.h"

enum { F32 = 1, U8 = 2, I8 = 3, U16 = 4, I16 = 5, I32 = 6, I64 = 7, STR = 8, BOOL = 9,
       F16 = 10, F64 = 11, U32 = 12, U64 = 13, C64 = 14, BF16 = 16, U4 = 21, I4 = 22 };


/* Asserts that importing m fails with a message containing `what`. */
#define ASSERT_REFUSED(m, what)                                         \
  do {                                                                  \
    kiln_ctx c_;                                                        \
    tu_ctx(&c_);                                                        \
    ir_graph *g_ = ob_import(&c_, (m));                                \
    ck_assert_ptr_null(g_);                                             \
    ck_assert_int_gt(c_.num_errors, 0);                                 \
    ck_assert_msg(strstr(c_.last_error, (what)), "got: %s", c_.last_error); \
  } while (0)

static ir_value_id find(ir_graph *g, const char *name) {
  ir_value_id v = ir_find_value(g, name);
  ck_assert_msg(v != IR_NONE, "no value '%s'", name);
  return v;
}

static ir_node_id node(ir_graph *g, const char *name) {
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    if (!strcmp(g->nodes[n].name, name)) return n;
  ck_abort_msg("no node '%s'", name);
  return IR_NONE;
}


START_TEST(imports_inputs_initializers_and_symbolic_dims) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(13);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "x", F32, "N,3,?");
  ob_input(gp, "b", F32, "3"); /* also an initializer: a constant */
  float w[3] = {1, -2, 3.5f}, b[3] = {4, 5, 6};
  ob_initializer(gp, ob_tensor("w", F32, "3", w, sizeof w));
  ob_initializer(gp, ob_tensor("b", F32, "3", b, sizeof b));
  ob_node(gp, "Add", "add", "x,w", "s");
  ob_node(gp, "Add", "add2", "s,b", "y");
  ob_output(gp, "y", F32, "N,3,?");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(g->opset, 13);
  ck_assert_int_eq(g->ir_version, 8);
  ck_assert_str_eq(g->name, "g");
  ck_assert_int_eq(g->num_inputs, 1);
  ir_value *x = ir_val(g, g->inputs[0]);
  ck_assert_str_eq(x->name, "x");
  ck_assert_int_eq(x->storage, IR_STORAGE_INPUT);
  ck_assert_int_eq(x->dtype, IR_F32);
  ck_assert_int_eq(x->shape.rank, 3);
  ck_assert(ir_dim_is_sym(x->shape.dims[0]));
  ck_assert_str_eq(g->syms[ir_dim_sym(x->shape.dims[0])], "N");
  ck_assert_int_eq(x->shape.dims[1], 3);
  ck_assert(x->shape.dims[2] == IR_DIM_UNKNOWN);
  ir_value *wv = ir_val(g, find(g, "w"));
  ck_assert_int_eq(wv->storage, IR_STORAGE_CONST);
  ck_assert_int_eq(wv->nbytes, sizeof w);
  ck_assert_mem_eq(wv->data, w, sizeof w);
  ck_assert_int_eq(ir_val(g, find(g, "b"))->storage, IR_STORAGE_CONST);
  ck_assert_int_eq(g->num_nodes, 2);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_ADD);
  ck_assert_str_eq(g->nodes[0].name, "add");
  ck_assert_int_eq(g->nodes[0].inputs[1], find(g, "w"));
  ck_assert_int_eq(g->num_outputs, 1);
  ir_value *y = ir_val(g, g->outputs[0]);
  ck_assert_int_eq(y->storage, IR_STORAGE_OUTPUT);
  ck_assert_int_eq(y->producer, 1);
  /* the output's declared type is a hint: same symbol N */
  ck_assert_int_eq(y->shape.rank, 3);
  ck_assert(y->shape.dims[0] == x->shape.dims[0]);
  ir_graph_free(g);
}
END_TEST

START_TEST(value_info_gives_intermediate_types) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F16, "B,4");
  ob_node(m->graph, "Relu", "r1", "x", "t");
  ob_node(m->graph, "Relu", "r2", "t", "y");
  ob_output(m->graph, "y", F16, NULL);
  ob_value_info(m->graph, "t", F16, "B,4");
  ob_value_info(m->graph, "nowhere", F32, "1"); /* hints about nothing are ignored */
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  ir_value *t = ir_val(g, find(g, "t"));
  ck_assert_int_eq(t->dtype, IR_F16);
  ck_assert_int_eq(t->shape.rank, 2);
  ck_assert_str_eq(g->syms[ir_dim_sym(t->shape.dims[0])], "B");
  ck_assert_int_eq(t->storage, IR_STORAGE_ACTIVATION);
  ck_assert_int_eq(ir_val(g, find(g, "y"))->shape.rank, -1);
  ck_assert_int_eq(ir_find_value(g, "nowhere"), IR_NONE);
  ir_graph_free(g);
}
END_TEST

START_TEST(nodes_out_of_order_are_sorted) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_node(m->graph, "Neg", "third", "b", "y");
  ob_node(m->graph, "Relu", "second", "a", "b");
  ob_node(m->graph, "Abs", "first", "x", "a");
  ob_output(m->graph, "y", F32, "1");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  ck_assert_str_eq(g->nodes[0].name, "first");
  ck_assert_str_eq(g->nodes[1].name, "second");
  ck_assert_str_eq(g->nodes[2].name, "third");
  ck_assert_int_eq(ir_val(g, find(g, "y"))->producer, 2);
  ir_graph_free(g);
}
END_TEST

START_TEST(constant_nodes_become_constants) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  Onnx__GraphProto *gp = m->graph;
  int32_t tv[4] = {1, 2, 3, 4};
  ob_attr_tensor(ob_node(gp, "Constant", "c0", "", "t"), "value",
                 ob_tensor(NULL, I32, "2,2", tv, sizeof tv));
  ob_attr_float(ob_node(gp, "Constant", "c1", "", "f"), "value_float", 2.5f);
  float fs[3] = {1, 2, 3};
  ob_attr_floats(ob_node(gp, "Constant", "c2", "", "fs"), "value_floats", fs, 3);
  ob_attr_int(ob_node(gp, "Constant", "c3", "", "i"), "value_int", -7);
  int64_t is[2] = {10, 20};
  ob_attr_ints(ob_node(gp, "Constant", "c4", "", "is"), "value_ints", is, 2);
  ob_node(gp, "Add", "a", "f,fs", "y");
  ob_output(gp, "y", F32, "3");
  ob_output(gp, "t", I32, "2,2"); /* a constant may be an output */
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(g->num_nodes, 1); /* Constants are folded away */
  ir_value *t = ir_val(g, find(g, "t"));
  ck_assert_int_eq(t->storage, IR_STORAGE_CONST);
  ck_assert_int_eq(t->dtype, IR_I32);
  ck_assert_int_eq(t->shape.rank, 2);
  ck_assert_mem_eq(t->data, tv, sizeof tv);
  double d;
  ck_assert(ir_const_scalar(g, find(g, "f"), &d));
  ck_assert(d == 2.5);
  ck_assert_int_eq(ir_val(g, find(g, "f"))->shape.rank, 0);
  ir_value *fsv = ir_val(g, find(g, "fs"));
  ck_assert_int_eq(fsv->shape.rank, 1);
  ck_assert_int_eq(fsv->shape.dims[0], 3);
  ck_assert_mem_eq(fsv->data, fs, sizeof fs);
  ck_assert(ir_const_scalar(g, find(g, "i"), &d));
  ck_assert(d == -7);
  ck_assert_int_eq(ir_val(g, find(g, "i"))->dtype, IR_I64);
  int64_t got[4];
  ck_assert_int_eq(ir_const_ints(g, find(g, "is"), got, 4), 2);
  ck_assert_int_eq(got[1], 20);
  ck_assert_int_eq(g->outputs[1], find(g, "t"));
  ir_graph_free(g);
}
END_TEST

START_TEST(string_constants_are_refused) {
  Onnx__ModelProto *m = ob_model(17);
  ob_attr_string(ob_node(m->graph, "Constant", "cs", "", "s"), "value_string", "hello");
  ob_output(m->graph, "s", STR, NULL);
  ASSERT_REFUSED(m, "string constants are unsupported");
  m = ob_model(17);
  Onnx__TensorProto *t = ob_tensor("st", STR, "1", NULL, 0);
  OB_PUSH(t->string_data, t->n_string_data, ((ProtobufCBinaryData){2, (uint8_t *)strdup("hi")}));
  ob_initializer(m->graph, t);
  ob_output(m->graph, "st", STR, NULL);
  ASSERT_REFUSED(m, "string tensors are unsupported");
}
END_TEST

START_TEST(sparse_constant_is_densified) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  Onnx__NodeProto *n = ob_node(m->graph, "Constant", "sp", "", "d");
  Onnx__AttributeProto *a = ob_attr(n, "sparse_value", 11 /* SPARSE_TENSOR */);
  a->sparse_tensor = malloc(sizeof *a->sparse_tensor);
  onnx__sparse_tensor_proto__init(a->sparse_tensor);
  float vals[2] = {5, 7};
  int64_t idx[4] = {0, 1, 2, 0}; /* [NNZ, rank] coordinates: (0,1) and (2,0) */
  a->sparse_tensor->values = ob_tensor(NULL, F32, "2", vals, sizeof vals);
  a->sparse_tensor->indices = ob_tensor(NULL, I64, "2,2", idx, sizeof idx);
  OB_PUSH(a->sparse_tensor->dims, a->sparse_tensor->n_dims, 3);
  OB_PUSH(a->sparse_tensor->dims, a->sparse_tensor->n_dims, 2);
  ob_output(m->graph, "d", F32, "3,2");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  const float *d = ir_val(g, find(g, "d"))->data;
  float want[6] = {0, 5, 0, 0, 7, 0};
  ck_assert_mem_eq(d, want, sizeof want);
  ir_graph_free(g);
}
END_TEST

/* A sparse initializer with [NNZ] linear indices; and an index past the end. */
static Onnx__ModelProto *sparse_init_model(int64_t last_index) {
  Onnx__ModelProto *m = ob_model(17);
  Onnx__SparseTensorProto *sp = malloc(sizeof *sp);
  onnx__sparse_tensor_proto__init(sp);
  int64_t vals[2] = {-4, 9}, idx[2] = {1, last_index};
  sp->values = ob_tensor("s", I64, "2", vals, sizeof vals);
  sp->indices = ob_tensor(NULL, I64, "2", idx, sizeof idx);
  OB_PUSH(sp->dims, sp->n_dims, 2);
  OB_PUSH(sp->dims, sp->n_dims, 2);
  OB_PUSH(m->graph->sparse_initializer, m->graph->n_sparse_initializer, sp);
  ob_output(m->graph, "s", I64, "2,2");
  return m;
}

START_TEST(sparse_initializer_is_densified) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ob_import(&ctx, sparse_init_model(3));
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  int64_t got[4];
  ck_assert_int_eq(ir_const_ints(g, find(g, "s"), got, 4), 4);
  ck_assert(got[0] == 0 && got[1] == -4 && got[2] == 0 && got[3] == 9);
  ir_graph_free(g);
  ASSERT_REFUSED(sparse_init_model(4), "sparse initializer 's': index 1 of 2 is out of range");
}
END_TEST

/* Every dtype through its typed field, compared with its raw bytes. */
START_TEST(typed_fields_decode_like_raw_data) {
  struct {
    int dtype;
    const void *raw;
    size_t nbytes;
  } cases[] = {
      {F32, (float[]){1.5f, -2}, 8},         {F64, (double[]){3.25, -1}, 16},
      {I64, (int64_t[]){-5, 1LL << 40}, 16}, {I32, (int32_t[]){-9, 70000}, 8},
      {I16, (int16_t[]){-300, 7}, 4},        {I8, (int8_t[]){-128, 127}, 2},
      {U8, (uint8_t[]){0, 255}, 2},          {U16, (uint16_t[]){65535, 1}, 4},
      {BOOL, (uint8_t[]){1, 0}, 2},          {F16, (uint16_t[]){0x3c00, 0xc000}, 4},
      {BF16, (uint16_t[]){0x3f80, 0x4000}, 4}, {U32, (uint32_t[]){4000000000u, 3}, 8},
      {U64, (uint64_t[]){1ULL << 63, 2}, 16}, {U4, (uint8_t[]){0x21}, 1},
      {I4, (uint8_t[]){0xf1}, 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    kiln_ctx ctx;
    tu_ctx(&ctx);
    Onnx__ModelProto *m = ob_model(17);
    int dt = cases[c].dtype;
    ob_initializer(m->graph, ob_tensor("raw", dt, "2", cases[c].raw, cases[c].nbytes));
    Onnx__TensorProto *t = ob_tensor("typed", dt, "2", NULL, 0);
    const void *r = cases[c].raw;
    for (int i = 0; i < 2; i++) switch (dt) {
      case F32: OB_PUSH(t->float_data, t->n_float_data, ((const float *)r)[i]); break;
      case F64: OB_PUSH(t->double_data, t->n_double_data, ((const double *)r)[i]); break;
      case I64: OB_PUSH(t->int64_data, t->n_int64_data, ((const int64_t *)r)[i]); break;
      case U32: OB_PUSH(t->uint64_data, t->n_uint64_data, ((const uint32_t *)r)[i]); break;
      case U64: OB_PUSH(t->uint64_data, t->n_uint64_data, ((const uint64_t *)r)[i]); break;
      case I32: OB_PUSH(t->int32_data, t->n_int32_data, ((const int32_t *)r)[i]); break;
      case I16: OB_PUSH(t->int32_data, t->n_int32_data, ((const int16_t *)r)[i]); break;
      case I8: OB_PUSH(t->int32_data, t->n_int32_data, ((const int8_t *)r)[i]); break;
      case U8: case BOOL: OB_PUSH(t->int32_data, t->n_int32_data, ((const uint8_t *)r)[i]); break;
      case U16: case F16: case BF16:
        OB_PUSH(t->int32_data, t->n_int32_data, ((const uint16_t *)r)[i]);
        break;
      case U4: case I4: /* two 4-bit elements packed in one int32 entry */
        if (i == 0) OB_PUSH(t->int32_data, t->n_int32_data, ((const uint8_t *)r)[0]);
        break;
      }
    ob_initializer(m->graph, t);
    ob_input(m->graph, "x", dt, "2");
    ob_node(m->graph, "Identity", "id", "x", "y");
    ob_output(m->graph, "y", dt, "2");
    ir_graph *g = ob_import(&ctx, m);
    ck_assert_msg(g != NULL, "dtype %d: %s", dt, ctx.last_error);
    ir_value *a = ir_val(g, find(g, "raw")), *b = ir_val(g, find(g, "typed"));
    ck_assert_int_eq(a->dtype, dt);
    ck_assert_int_eq(b->nbytes, (int64_t)cases[c].nbytes);
    ck_assert_mem_eq(a->data, cases[c].raw, cases[c].nbytes);
    ck_assert_msg(!memcmp(b->data, cases[c].raw, cases[c].nbytes), "dtype %d typed differs", dt);
    ck_assert(a->hash == b->hash);
    ir_graph_free(g);
  }
}
END_TEST

START_TEST(every_attribute_kind_is_read) {
  /* The importer refuses attribute names an op's schema lacks, and no op
   * has every kind, so the kinds are spread over real attributes of four
   * nodes.  (No default-domain op has a TENSORS attribute.) */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "2");
  float k[2] = {3, 4};
  ob_initializer(m->graph, ob_tensor("k", F32, "2", k, sizeof k));
  Onnx__NodeProto *n = ob_node(m->graph, "LSTM", "lstm", "x,k,k", "y");
  ob_attr_int(n, "hidden_size", 42);
  ob_attr_float(n, "clip", 0.5f);
  ob_attr_string(n, "direction", "same_upper");
  ob_attr_floats(n, "activation_alpha", (float[]){0.25f, 8}, 2);
  Onnx__AttributeProto *ss = ob_attr(n, "activations", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
  OB_PUSH(ss->strings, ss->n_strings, ((ProtobufCBinaryData){1, (uint8_t *)strdup("a")}));
  OB_PUSH(ss->strings, ss->n_strings, ((ProtobufCBinaryData){2, (uint8_t *)strdup("bc")}));
  /* IR version 1 style: no type, the field in use says INT */
  Onnx__AttributeProto *old = ob_attr(n, "input_forget", 0);
  old->has_i = 1;
  old->i = 5;
  ob_attr_ints(ob_node(m->graph, "Transpose", "tr", "x", "t"), "perm", (int64_t[]){1, -2, 3}, 3);
  int64_t tv[3] = {7, 8, 9};
  ob_attr_tensor(ob_node(m->graph, "ConstantOfShape", "cos", "x", "c"), "value",
                 ob_tensor(NULL, I64, "3", tv, sizeof tv));
  /* a body that reads x (an outer input) and k (an outer constant) */
  Onnx__GraphProto *body = ob_graph("body");
  ob_node(body, "Add", "inner", "x,k", "z");
  ob_output(body, "z", F32, NULL);
  ob_attr_graph(ob_node(m->graph, "If", "if", "x", "f"), "then_branch", body);
  ob_output(m->graph, "y", F32, "2");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ir_node_id lstm = node(g, "lstm"), tr = node(g, "tr"), cos = node(g, "cos"), nif = node(g, "if");
  ck_assert_int_eq(ir_attr_int_or(g, lstm, "hidden_size", 0), 42);
  ck_assert_int_eq(ir_attr_int_or(g, lstm, "input_forget", 0), 5);
  ck_assert(ir_attr_float_or(g, lstm, "clip", 0) == 0.5f);
  ck_assert_str_eq(ir_attr_string_or(g, lstm, "direction", ""), "same_upper");
  ck_assert_int_eq(ir_get_attr(g, lstm, "direction")->s_len, 10);
  const int64_t *is;
  ck_assert_int_eq(ir_attr_ints(g, tr, "perm", &is), 3);
  ck_assert_int_eq(is[1], -2);
  const ir_attr *a = ir_get_attr(g, lstm, "activation_alpha");
  ck_assert_int_eq(a->kind, IR_ATTR_FLOATS);
  ck_assert(a->count == 2 && a->floats[1] == 8);
  a = ir_get_attr(g, lstm, "activations");
  ck_assert(a->kind == IR_ATTR_STRINGS && a->count == 2);
  ck_assert_str_eq(a->strings[1], "bc");
  a = ir_get_attr(g, cos, "value");
  ck_assert(a->kind == IR_ATTR_TENSOR && a->tensor->dtype == IR_I64 && a->tensor->rank == 1);
  ck_assert_mem_eq(a->tensor->data, tv, sizeof tv);
  /* attributes are sorted by name */
  for (int i = 1; i < g->nodes[lstm].num_attrs; i++)
    ck_assert_int_lt(strcmp(g->nodes[lstm].attrs[i - 1].name, g->nodes[lstm].attrs[i].name), 0);
  /* the subgraph and its captures */
  a = ir_get_attr(g, nif, "then_branch");
  ck_assert(a->kind == IR_ATTR_GRAPH && a->graph);
  ir_graph *b = a->graph;
  ck_assert_str_eq(b->name, "body");
  ck_assert_int_eq(b->opset, 17);
  ck_assert_int_eq(b->num_inputs, 0);
  ck_assert_int_eq(b->num_nodes, 1);
  ir_value *cx = ir_val(b, find(b, "x")), *ck = ir_val(b, find(b, "k"));
  ck_assert_int_eq(cx->storage, IR_STORAGE_INPUT); /* a capture, bound by name */
  ck_assert_int_eq(cx->dtype, IR_F32);
  ck_assert_int_eq(ck->storage, IR_STORAGE_CONST); /* outer constant, borrowed */
  ck_assert_ptr_eq(ck->data, ir_val(g, find(g, "k"))->data);
  ir_graph_free(g);
}
END_TEST

START_TEST(subgraph_captures_through_levels_and_depth_limit) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "N");
  Onnx__NodeProto *outer = ob_node(m->graph, "If", "r", "x", "y");
  Onnx__GraphProto *mid = ob_graph("mid");
  Onnx__NodeProto *mn = ob_node(mid, "If", "n", "x", "m");
  ob_output(mid, "m", F32, NULL);
  Onnx__GraphProto *inner = ob_graph("inner");
  ob_node(inner, "Abs", "a", "x", "z"); /* x lives two levels up */
  ob_output(inner, "z", F32, NULL);
  ob_attr_graph(mn, "then_branch", inner);
  ob_attr_graph(outer, "then_branch", mid);
  ob_output(m->graph, "y", F32, NULL);
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ir_graph *gm = ir_get_attr(g, 0, "then_branch")->graph;
  ir_graph *gi = ir_get_attr(gm, 0, "then_branch")->graph;
  ir_value *xm = ir_val(gm, find(gm, "x")), *xi = ir_val(gi, find(gi, "x"));
  ck_assert_int_eq(xm->storage, IR_STORAGE_INPUT);
  ck_assert_int_eq(xi->storage, IR_STORAGE_INPUT);
  /* symbols are per graph: N re-interned in each */
  ck_assert_str_eq(gi->syms[ir_dim_sym(xi->shape.dims[0])], "N");
  ir_graph_free(g);

  /* nesting deeper than KILN_MAX_SUBGRAPH_DEPTH */
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  Onnx__NodeProto *n = ob_node(m->graph, "If", "r0", "x", "y");
  for (int d = 1; d <= KILN_MAX_SUBGRAPH_DEPTH + 1; d++) {
    Onnx__GraphProto *sg = ob_graph("level");
    Onnx__NodeProto *sn = ob_node(sg, "If", "r", "x", "z");
    ob_output(sg, "z", F32, NULL);
    ob_attr_graph(n, "then_branch", sg);
    n = sn;
  }
  ob_output(m->graph, "y", F32, "1");
  ASSERT_REFUSED(m, "nested deeper");
}
END_TEST

START_TEST(optional_inputs_and_trailing_outputs) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_input(m->graph, "z", F32, "1");
  ob_node(m->graph, "Relu", "r", "x,", "y,");  /* trailing empty names dropped */
  ob_node(m->graph, "Sum", "s", "y,,z", "w");  /* an omitted input in the middle */
  ob_output(m->graph, "w", F32, "1");
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_msg(g != NULL, "%s", ctx.last_error);
  ck_assert_int_eq(g->nodes[0].num_inputs, 1);
  ck_assert_int_eq(g->nodes[0].num_outputs, 1);
  ck_assert_int_eq(g->nodes[1].num_inputs, 3);
  ck_assert_int_eq(g->nodes[1].inputs[1], IR_NONE);
  ir_graph_free(g);

  m = ob_relu_model();
  m->graph->node[0]->input[0][0] = 0; /* the one required input empty */
  ASSERT_REFUSED(m, "takes 1 input, got 0");
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_node(m->graph, "Add", "a", ",x", "y");
  ob_output(m->graph, "y", F32, "1");
  ASSERT_REFUSED(m, "required input 0 is empty");
  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_node(m->graph, "Add", "a", "x,x,x", "y");
  ob_output(m->graph, "y", F32, "1");
  ASSERT_REFUSED(m, "node 'a' (Add): takes 2 inputs, got 3");
}
END_TEST

START_TEST(shape_overrides_fix_input_dims) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  kiln_options opt;
  memset(&opt, 0, sizeof opt);
  kiln_shape_override o = {.input = "x", .rank = 2, .dims = {8, 3}};
  opt.shapes = &o;
  opt.num_shapes = 1;
  Onnx__ModelProto *m = ob_model(17);
  ob_input(m->graph, "x", F32, "N,3");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, NULL);
  size_t len;
  unsigned char *buf = ob_pack(m, &len);
  ir_graph *g = onnx_import_bytes(&ctx, buf, len, NULL, &opt);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(ir_val(g, g->inputs[0])->shape.dims[0], 8);
  ir_graph_free(g);
  o.dims[1] = 4; /* contradicts the model's static 3 */
  ck_assert_ptr_null(onnx_import_bytes(&ctx, buf, len, NULL, &opt));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "has dim 1 = 3"));
  o.input = "nope";
  ck_assert_ptr_null(onnx_import_bytes(&ctx, buf, len, NULL, &opt));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "no input named 'nope'"));
  free(buf);
  ob_free(m);
}
END_TEST

START_TEST(unsupported_ops_are_all_listed) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  char *diag = NULL;
  size_t diag_len = 0;
  ctx.diag_stream = open_memstream(&diag, &diag_len);
  Onnx__ModelProto *m = ob_model(17);
  Onnx__GraphProto *gp = m->graph;
  ob_input(gp, "x", F32, "1,1,4,4");
  ob_input(gp, "w", F32, "1,1,1,1");
  ob_node(gp, "StringNormalizer", "conv1", "x,w", "a");
  ob_node(gp, "Relu", "relu", "a", "b");
  ob_node(gp, "StringNormalizer", "conv2", "b,w", "c");
  ob_node(gp, "SplitToSequence", "", "c,c", "d");
  Onnx__NodeProto *custom = ob_node(gp, "FancyOp", "fancy", "d", "y");
  custom->domain = strdup("com.example");
  ob_output(gp, "y", F32, NULL);
  ck_assert_ptr_null(ob_import(&ctx, m));
  fclose(ctx.diag_stream);
  ck_assert_int_eq(ctx.num_errors, 3);
  ck_assert_ptr_nonnull(strstr(diag, "node 'conv1' (StringNormalizer): unsupported operator (2 nodes)"));
  ck_assert_ptr_nonnull(strstr(diag, "node '#3' (SplitToSequence): unsupported operator (1 node)"));
  ck_assert_ptr_nonnull(
      strstr(diag, "node 'fancy' (com.example:FancyOp): unsupported operator (1 node)"));
  ck_assert_ptr_null(strstr(diag, "Relu"));
  free(diag);
}
END_TEST

START_TEST(malformed_bytes_are_refused) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  size_t len;
  Onnx__ModelProto *m = ob_relu_model();
  float w[64] = {0};
  ob_initializer(m->graph, ob_tensor("w", F32, "64", w, sizeof w));
  unsigned char *buf = ob_pack(m, &len);
  ob_free(m);
  /* every truncation fails cleanly (or, if it cuts at a field boundary
   * and still makes a valid model, succeeds) */
  for (size_t cut = 0; cut < len; cut++) {
    ir_graph *g = onnx_import_bytes(&ctx, buf, cut, NULL, NULL);
    if (g)
      ir_graph_free(g);
    else
      ck_assert_int_gt(ctx.num_errors, 0);
  }
  ck_assert_ptr_null(onnx_import_bytes(&ctx, buf, len / 2, NULL, NULL));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "malformed or truncated"));
  /* bit flips in a valid model never crash */
  unsigned char *mut = malloc(len);
  unsigned seed = 12345;
  for (int round = 0; round < 3000; round++) {
    memcpy(mut, buf, len);
    for (int k = 0; k < 1 + round % 4; k++) {
      seed = seed * 1103515245u + 12345u;
      mut[(seed >> 8) % len] ^= (unsigned char)(1u << ((seed >> 4) % 8));
    }
    ir_graph *g = onnx_import_bytes(&ctx, mut, len, NULL, NULL);
    ir_graph_free(g);
  }
  /* plain garbage */
  for (size_t i = 0; i < len; i++) {
    seed = seed * 1103515245u + 12345u;
    mut[i] = (unsigned char)(seed >> 16);
  }
  ck_assert_ptr_null(onnx_import_bytes(&ctx, mut, len, NULL, NULL));
  ck_assert_ptr_null(onnx_import_bytes(&ctx, "", 0, NULL, NULL));
  ck_assert_ptr_nonnull(strstr(ctx.last_error, "no graph"));
  free(mut);
  free(buf);
}
END_TEST

START_TEST(graph_errors_are_reported) {
  Onnx__ModelProto *m = ob_model(17);
  onnx__graph_proto__free_unpacked(m->graph, NULL);
  m->graph = NULL;
  ASSERT_REFUSED(m, "no graph");

  m = ob_relu_model();
  free(m->graph->node[0]->input[0]);
  m->graph->node[0]->input[0] = strdup("ghost");
  ASSERT_REFUSED(m, "node 'r' (Relu): input 'ghost' is not defined");

  m = ob_relu_model();
  ob_node(m->graph, "Neg", "again", "x", "y");
  ASSERT_REFUSED(m, "value 'y' is defined twice");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("x", F32, "1", (float[]){1}, 4));
  ob_initializer(m->graph, ob_tensor("x", F32, "1", (float[]){1}, 4));
  ASSERT_REFUSED(m, "value 'x' is defined twice");

  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_node(m->graph, "Add", "a", "x,c", "b");
  ob_node(m->graph, "Relu", "c", "b", "c");
  ob_output(m->graph, "c", F32, "1");
  ASSERT_REFUSED(m, "cycle");

  m = ob_relu_model();
  ob_output(m->graph, "missing", F32, "1");
  ASSERT_REFUSED(m, "graph output 'missing' is not produced");

  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ASSERT_REFUSED(m, "has no outputs");

  m = ob_relu_model();
  ob_input(m->graph, "untyped", -1, NULL);
  ASSERT_REFUSED(m, "input 'untyped' has no tensor type");

  m = ob_relu_model();
  free(m->graph->node[0]->op_type);
  m->graph->node[0]->op_type = strdup("LeakyRelu");
  ob_attr_float(m->graph->node[0], "alpha", 1);
  ob_attr_float(m->graph->node[0], "alpha", 2);
  ASSERT_REFUSED(m, "attribute 'alpha' is given twice");

  /* names the op's schema lacks in the model's opset, as the ONNX checker
   * and ONNX Runtime refuse them */
  m = ob_relu_model();
  ob_attr_float(m->graph->node[0], "alpha", 0.1f);
  ASSERT_REFUSED(m, "node 'r' (Relu): attribute 'alpha' is not defined for Relu in opset 17");
  m = ob_relu_model();
  ob_attr_ints(m->graph->node[0], "consumed_inputs", (int64_t[]){0}, 1);
  ASSERT_REFUSED(m, "attribute 'consumed_inputs' is not defined for Relu in opset 17");

  m = ob_relu_model();
  ob_attr(m->graph->node[0], "empty", 0);
  ASSERT_REFUSED(m, "has kind UNDEFINED");

  m = ob_relu_model();
  ob_attr(m->graph->node[0], "tp", 13);
  ASSERT_REFUSED(m, "TYPE_PROTO: unsupported attribute kind");
}
END_TEST

START_TEST(opsets_are_checked) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ASSERT_REFUSED(ob_model(22), "opset 22; kiln supports opsets 1 to 21");
  Onnx__ModelProto *m = ob_relu_model();
  m->opset_import[0]->version = 0;
  ASSERT_REFUSED(m, "opset 0");
  m = ob_relu_model();
  m->opset_import[0]->version = -5; /* was mistaken for a missing import */
  ASSERT_REFUSED(m, "the model uses ONNX opset -5; kiln supports opsets 1 to 21");
  m = ob_relu_model();
  onnx__operator_set_id_proto__free_unpacked(m->opset_import[0], NULL);
  m->n_opset_import = 0;
  ASSERT_REFUSED(m, "does not import the default ONNX domain");
  /* other domains do not count; "ai.onnx" is the default domain */
  m = ob_relu_model();
  Onnx__OperatorSetIdProto *ml = malloc(sizeof *ml);
  onnx__operator_set_id_proto__init(ml);
  ml->domain = strdup("ai.onnx.ml");
  ml->has_version = 1;
  ml->version = 99;
  OB_PUSH(m->opset_import, m->n_opset_import, ml);
  free(m->opset_import[0]->domain);
  m->opset_import[0]->domain = strdup("ai.onnx");
  m->opset_import[0]->version = 21;
  ir_graph *g = ob_import(&ctx, m);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(g->opset, 21);
  ir_graph_free(g);
}
END_TEST

START_TEST(tensor_sizes_and_limits_are_checked) {
  Onnx__ModelProto *m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", F32, "2,3", (float[5]){0}, 20));
  ASSERT_REFUSED(m, "tensor 'w': raw_data has 20 bytes, but 6 x f32 needs 24");

  m = ob_relu_model();
  Onnx__TensorProto *t = ob_tensor("w", F32, "3", NULL, 0);
  OB_PUSH(t->float_data, t->n_float_data, 1.0f);
  ob_initializer(m->graph, t);
  ASSERT_REFUSED(m, "tensor 'w': float_data has 1 entries, but 3 x f32 needs 3");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("w", I64, "4", NULL, 0));
  ASSERT_REFUSED(m, "tensor 'w' has no data");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("deep", F32, "1,1,1,1,1,1,1,1,1", (float[]){1}, 4));
  ASSERT_REFUSED(m, "tensor 'deep' has rank 9; kiln supports at most 8 dims");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("huge", F32, "4294967296,4294967296", NULL, 0));
  ASSERT_REFUSED(m, "tensor 'huge' is too large");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("big", U8, "2000000000000", NULL, 0));
  ASSERT_REFUSED(m, "tensor 'big' is too large");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("neg", F32, "-1", NULL, 0));
  ASSERT_REFUSED(m, "tensor 'neg' has negative dim 0");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("odd", 99, "1", (float[]){1}, 4));
  ASSERT_REFUSED(m, "tensor 'odd' has unknown data type 99");

  m = ob_relu_model();
  ob_initializer(m->graph, ob_tensor("cplx", C64, "1", (float[]){1, 2}, 8));
  ASSERT_REFUSED(m, "unsupported data type COMPLEX64");

  m = ob_model(17);
  ob_input(m->graph, "x", F32, "1,1,1,1,1,1,1,1,1");
  ob_node(m->graph, "Relu", "r", "x", "y");
  ob_output(m->graph, "y", F32, NULL);
  ASSERT_REFUSED(m, "input 'x' has rank 9");
}
END_TEST

int main(void) {
  Suite *s = suite_create("import");
  TCase *tc = tcase_create("import");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, imports_inputs_initializers_and_symbolic_dims);
  tcase_add_test(tc, value_info_gives_intermediate_types);
  tcase_add_test(tc, nodes_out_of_order_are_sorted);
  tcase_add_test(tc, constant_nodes_become_constants);
  tcase_add_test(tc, string_constants_are_refused);
  tcase_add_test(tc, sparse_constant_is_densified);
  tcase_add_test(tc, sparse_initializer_is_densified);
  tcase_add_test(tc, typed_fields_decode_like_raw_data);
  tcase_add_test(tc, every_attribute_kind_is_read);
  tcase_add_test(tc, subgraph_captures_through_levels_and_depth_limit);
  tcase_add_test(tc, optional_inputs_and_trailing_outputs);
  tcase_add_test(tc, shape_overrides_fix_input_dims);
  tcase_add_test(tc, unsupported_ops_are_all_listed);
  tcase_add_test(tc, malformed_bytes_are_refused);
  tcase_add_test(tc, graph_errors_are_reported);
  tcase_add_test(tc, opsets_are_checked);
  tcase_add_test(tc, tensor_sizes_and_limits_are_checked);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
