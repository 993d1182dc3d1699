/*
 * test_fuse_rotations.c — the fuse-rotations pass on small transformers
 * written in the text IR: each graph is compiled as is and after the pass,
 * and both run on the same tokens; outputs must agree within 1e-5 of the
 * largest magnitude (the pass only reorders float arithmetic).  Weights
 * are the graph's f32 constants named r_*, filled with seeded random
 * values after parsing, so the text holds only the structure.
 *
 * The graphs cover the forms the pass recognises: decomposed RMSNorm with
 * a gated MLP and separate Q/K/V (Llama), LayerNormalization with a fused
 * QKV split, biases, a positional constant and a scalar scale on the
 * stream, at width 12 so R1, R2 and the online rotation take the
 * 12-factor path (GPT), and decomposed LayerNorm read by Gemm with transB.
 * Then the refusals: a norm read by a nonlinearity, a stream value that is
 * a graph output, and a graph without norms (left alone).
 */
#include "cgtest.h"
#include "passes.h"

static const char llama_rms[] =
    "graph @llama opset 17 {\n"
    "  input %tok : i64[1,5]\n"
    "  const %r_emb : f32[11,8] = summary(bytes 352, hash 0x1)\n"
    "  const %r_g1 : f32[8] = summary(bytes 32, hash 0x1)\n"
    "  const %r_g2 : f32[8] = summary(bytes 32, hash 0x1)\n"
    "  const %r_g3 : f32[8] = summary(bytes 32, hash 0x1)\n"
    "  const %r_wq : f32[8,8] = summary(bytes 256, hash 0x1)\n"
    "  const %r_wk : f32[8,8] = summary(bytes 256, hash 0x1)\n"
    "  const %r_wv : f32[8,8] = summary(bytes 256, hash 0x1)\n"
    "  const %r_wo : f32[8,8] = summary(bytes 256, hash 0x1)\n"
    "  const %r_wg : f32[8,12] = summary(bytes 384, hash 0x1)\n"
    "  const %r_wu : f32[8,12] = summary(bytes 384, hash 0x1)\n"
    "  const %r_wd : f32[12,8] = summary(bytes 384, hash 0x1)\n"
    "  const %r_head : f32[8,11] = summary(bytes 352, hash 0x1)\n"
    "  const %eps : f32[] = [1e-5]\n"
    "  const %one : f32[] = [1]\n"
    "  const %heads : i64[4] = [1, 5, 2, 4]\n"
    "  const %flat : i64[3] = [1, 5, 8]\n"
    "  %x : f32[1,5,8] = Gather(%r_emb, %tok)\n"
    "  %sq1 : f32[1,5,8] = Mul(%x, %x)\n"
    "  %m1 : f32[1,5,1] = ReduceMean(%sq1) {axes = [-1]}\n"
    "  %a1 : f32[1,5,1] = Add(%m1, %eps)\n"
    "  %s1 : f32[1,5,1] = Sqrt(%a1)\n"
    "  %i1 : f32[1,5,1] = Div(%one, %s1)\n"
    "  %n1 : f32[1,5,8] = Mul(%x, %i1)\n"
    "  %y1 : f32[1,5,8] = Mul(%n1, %r_g1)\n"
    "  %q : f32[1,5,8] = MatMul(%y1, %r_wq)\n"
    "  %k : f32[1,5,8] = MatMul(%y1, %r_wk)\n"
    "  %v : f32[1,5,8] = MatMul(%y1, %r_wv)\n"
    "  %q4 : f32[1,5,2,4] = Reshape(%q, %heads)\n"
    "  %k4 : f32[1,5,2,4] = Reshape(%k, %heads)\n"
    "  %v4 : f32[1,5,2,4] = Reshape(%v, %heads)\n"
    "  %qt : f32[1,2,5,4] = Transpose(%q4) {perm = [0, 2, 1, 3]}\n"
    "  %kt : f32[1,2,4,5] = Transpose(%k4) {perm = [0, 2, 3, 1]}\n"
    "  %vt : f32[1,2,5,4] = Transpose(%v4) {perm = [0, 2, 1, 3]}\n"
    "  %sc : f32[1,2,5,5] = MatMul(%qt, %kt)\n"
    "  %p : f32[1,2,5,5] = Softmax(%sc) {axis = -1}\n"
    "  %o : f32[1,2,5,4] = MatMul(%p, %vt)\n"
    "  %ot : f32[1,5,2,4] = Transpose(%o) {perm = [0, 2, 1, 3]}\n"
    "  %of : f32[1,5,8] = Reshape(%ot, %flat)\n"
    "  %att : f32[1,5,8] = MatMul(%of, %r_wo)\n"
    "  %x2 : f32[1,5,8] = Add(%x, %att)\n"
    "  %sq2 : f32[1,5,8] = Mul(%x2, %x2)\n"
    "  %m2 : f32[1,5,1] = ReduceMean(%sq2) {axes = [-1]}\n"
    "  %a2 : f32[1,5,1] = Add(%m2, %eps)\n"
    "  %s2 : f32[1,5,1] = Sqrt(%a2)\n"
    "  %i2 : f32[1,5,1] = Div(%one, %s2)\n"
    "  %n2 : f32[1,5,8] = Mul(%x2, %i2)\n"
    "  %y2 : f32[1,5,8] = Mul(%n2, %r_g2)\n"
    "  %gate : f32[1,5,12] = MatMul(%y2, %r_wg)\n"
    "  %sig : f32[1,5,12] = Sigmoid(%gate)\n"
    "  %silu : f32[1,5,12] = Mul(%gate, %sig)\n"
    "  %up : f32[1,5,12] = MatMul(%y2, %r_wu)\n"
    "  %h : f32[1,5,12] = Mul(%silu, %up)\n"
    "  %down : f32[1,5,8] = MatMul(%h, %r_wd)\n"
    "  %x3 : f32[1,5,8] = Add(%x2, %down)\n"
    "  %sq3 : f32[1,5,8] = Mul(%x3, %x3)\n"
    "  %m3 : f32[1,5,1] = ReduceMean(%sq3) {axes = [-1]}\n"
    "  %a3 : f32[1,5,1] = Add(%m3, %eps)\n"
    "  %s3 : f32[1,5,1] = Sqrt(%a3)\n"
    "  %n3 : f32[1,5,8] = Div(%x3, %s3)\n"
    "  %y3 : f32[1,5,8] = Mul(%r_g3, %n3)\n"
    "  %logits : f32[1,5,11] = MatMul(%y3, %r_head)\n"
    "  output %logits\n"
    "}\n";

/* width 12: every rotation through the 12-factor path; LayerNormalization,
 * fused QKV, biases, a position table, a scalar scale of the stream */
static const char gpt_ln12[] =
    "graph @gpt opset 17 {\n"
    "  input %tok : i64[1,5]\n"
    "  const %r_emb : f32[11,12] = summary(bytes 528, hash 0x1)\n"
    "  const %r_pos : f32[1,5,12] = summary(bytes 240, hash 0x1)\n"
    "  const %r_g1 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_b1 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_g2 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_b2 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_g3 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_b3 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_wqkv : f32[12,36] = summary(bytes 1728, hash 0x1)\n"
    "  const %r_bqkv : f32[36] = summary(bytes 144, hash 0x1)\n"
    "  const %r_wo : f32[12,12] = summary(bytes 576, hash 0x1)\n"
    "  const %r_bo : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_w1 : f32[12,24] = summary(bytes 1152, hash 0x1)\n"
    "  const %r_bb1 : f32[24] = summary(bytes 96, hash 0x1)\n"
    "  const %r_w2 : f32[24,12] = summary(bytes 1152, hash 0x1)\n"
    "  const %r_bb2 : f32[12] = summary(bytes 48, hash 0x1)\n"
    "  const %r_head : f32[12,11] = summary(bytes 528, hash 0x1)\n"
    "  const %two : f32[] = [2]\n"
    "  const %split : i64[3] = [12, 12, 12]\n"
    "  const %heads : i64[4] = [1, 5, 3, 4]\n"
    "  const %flat : i64[3] = [1, 5, 12]\n"
    "  %e : f32[1,5,12] = Gather(%r_emb, %tok)\n"
    "  %e2 : f32[1,5,12] = Mul(%e, %two)\n"
    "  %x : f32[1,5,12] = Add(%e2, %r_pos)\n"
    "  %y1 : f32[1,5,12] = LayerNormalization(%x, %r_g1, %r_b1) {axis = -1, epsilon = 1e-5}\n"
    "  %qkv0 : f32[1,5,36] = MatMul(%y1, %r_wqkv)\n"
    "  %qkv : f32[1,5,36] = Add(%r_bqkv, %qkv0)\n"
    "  %q : ?[*], %k : ?[*], %v : ?[*] = Split(%qkv, %split) {axis = 2}\n"
    "  %q4 : f32[1,5,3,4] = Reshape(%q, %heads)\n"
    "  %k4 : f32[1,5,3,4] = Reshape(%k, %heads)\n"
    "  %v4 : f32[1,5,3,4] = Reshape(%v, %heads)\n"
    "  %qt : f32[1,3,5,4] = Transpose(%q4) {perm = [0, 2, 1, 3]}\n"
    "  %kt : f32[1,3,4,5] = Transpose(%k4) {perm = [0, 2, 3, 1]}\n"
    "  %vt : f32[1,3,5,4] = Transpose(%v4) {perm = [0, 2, 1, 3]}\n"
    "  %sc : f32[1,3,5,5] = MatMul(%qt, %kt)\n"
    "  %p : f32[1,3,5,5] = Softmax(%sc) {axis = -1}\n"
    "  %o : f32[1,3,5,4] = MatMul(%p, %vt)\n"
    "  %ot : f32[1,5,3,4] = Transpose(%o) {perm = [0, 2, 1, 3]}\n"
    "  %of : f32[1,5,12] = Reshape(%ot, %flat)\n"
    "  %att0 : f32[1,5,12] = MatMul(%of, %r_wo)\n"
    "  %att : f32[1,5,12] = Add(%att0, %r_bo)\n"
    "  %x2 : f32[1,5,12] = Add(%x, %att)\n"
    "  %y2 : f32[1,5,12] = LayerNormalization(%x2, %r_g2, %r_b2) {axis = -1, epsilon = 1e-5}\n"
    "  %f0 : f32[1,5,24] = MatMul(%y2, %r_w1)\n"
    "  %f1 : f32[1,5,24] = Add(%f0, %r_bb1)\n"
    "  %f2 : f32[1,5,24] = Relu(%f1)\n"
    "  %f3 : f32[1,5,12] = MatMul(%f2, %r_w2)\n"
    "  %f4 : f32[1,5,12] = Add(%f3, %r_bb2)\n"
    "  %x3 : f32[1,5,12] = Add(%x2, %f4)\n"
    "  %y3 : f32[1,5,12] = LayerNormalization(%x3, %r_g3, %r_b3) {axis = -1, epsilon = 1e-5}\n"
    "  %logits : f32[1,5,11] = MatMul(%y3, %r_head)\n"
    "  output %logits\n"
    "}\n";

/* decomposed LayerNorm read by Gemm (transB) on a 2-D stream of width 16 */
static const char ln_ops_gemm[] =
    "graph @lnops opset 17 {\n"
    "  input %tok : i64[5]\n"
    "  const %r_emb : f32[11,16] = summary(bytes 704, hash 0x1)\n"
    "  const %r_g1 : f32[16] = summary(bytes 64, hash 0x1)\n"
    "  const %r_b1 : f32[16] = summary(bytes 64, hash 0x1)\n"
    "  const %r_w1 : f32[32,16] = summary(bytes 2048, hash 0x1)\n"
    "  const %r_c1 : f32[32] = summary(bytes 128, hash 0x1)\n"
    "  const %r_w2 : f32[16,32] = summary(bytes 2048, hash 0x1)\n"
    "  const %r_c2 : f32[16] = summary(bytes 64, hash 0x1)\n"
    "  const %r_g2 : f32[16] = summary(bytes 64, hash 0x1)\n"
    "  const %r_b2 : f32[16] = summary(bytes 64, hash 0x1)\n"
    "  const %r_head : f32[11,16] = summary(bytes 704, hash 0x1)\n"
    "  const %eps : f32[] = [1e-5]\n"
    "  const %two : f32[] = [2]\n"
    "  %x : f32[5,16] = Gather(%r_emb, %tok)\n"
    "  %mu : f32[5,1] = ReduceMean(%x) {axes = [-1]}\n"
    "  %c : f32[5,16] = Sub(%x, %mu)\n"
    "  %c2 : f32[5,16] = Pow(%c, %two)\n"
    "  %var : f32[5,1] = ReduceMean(%c2) {axes = [-1]}\n"
    "  %ve : f32[5,1] = Add(%var, %eps)\n"
    "  %sd : f32[5,1] = Sqrt(%ve)\n"
    "  %n : f32[5,16] = Div(%c, %sd)\n"
    "  %ng : f32[5,16] = Mul(%n, %r_g1)\n"
    "  %y : f32[5,16] = Add(%ng, %r_b1)\n"
    "  %h : f32[5,32] = Gemm(%y, %r_w1, %r_c1) {transB = 1}\n"
    "  %t : f32[5,32] = Tanh(%h)\n"
    "  %w : f32[5,16] = Gemm(%t, %r_w2, %r_c2) {transB = 1}\n"
    "  %x2 : f32[5,16] = Add(%w, %x)\n"
    "  %y2 : f32[5,16] = LayerNormalization(%x2, %r_g2, %r_b2) {axis = 1}\n"
    "  %logits : f32[5,11] = Gemm(%y2, %r_head) {transB = 1}\n"
    "  output %logits\n"
    "}\n";

/* Parses text and fills its r_* constants with seeded values. */
static ir_graph *build(kiln_ctx *ctx, const char *text) {
  ir_graph *g = ir_parse(ctx, text, strlen(text), "test.kir");
  ck_assert_msg(g, "parse: %s", ctx->last_error);
  uint32_t seed = 1;
  for (ir_value_id v = 0; v < g->num_values; v++) {
    ir_value *val = &g->values[v];
    if (val->storage != IR_STORAGE_CONST || strncmp(val->name, "r_", 2)) continue;
    int64_t n = ir_shape_numel(&val->shape);
    float *w = ir_arena_alloc(&g->arena, (size_t)n * sizeof *w);
    bool scale = val->name[2] == 'g';
    ct_fill(w, n, seed++, scale ? 0.5f : -0.5f, scale ? 1.5f : 0.5f);
    val->data = w;
    val->nbytes = n * (int64_t)sizeof *w;
  }
  return g;
}

static kiln_status run_passes(kiln_ctx *ctx, ir_graph *g, const char *passes) {
  kiln_options o = ct_options();
  o.passes = passes;
  return kiln_run_passes(ctx, g, &o);
}

static void run(kiln_ctx *ctx, ir_graph *g, const int64_t *tok, float *out) {
  cg_jit *j = ct_jit(ctx, g);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){tok}, (void *[]){out}, 1), KILN_OK);
  cg_jit_free(j);
}

static int count_op(const ir_graph *g, ir_op op) {
  int c = 0;
  for (int n = 0; n < g->num_nodes; n++) c += !g->nodes[n].dead && g->nodes[n].op == op;
  return c;
}

/* Rotated and plain graphs agree; returns the rotated graph for checks. */
static ir_graph *check_exact(kiln_ctx *ctx, const char *text, int64_t nout) {
  static const int64_t tok[5] = {3, 1, 4, 1, 5};
  ir_graph *plain = build(ctx, text), *rot = build(ctx, text);
  ck_assert_int_eq(run_passes(ctx, plain, "infer-shapes"), KILN_OK);
  ck_assert_int_eq(run_passes(ctx, rot, "infer-shapes,fuse-rotations,eliminate-dead-code"), KILN_OK);
  float *a = malloc((size_t)nout * sizeof *a), *b = malloc((size_t)nout * sizeof *b);
  run(ctx, plain, tok, a);
  run(ctx, rot, tok, b);
  double mx = 0, err = 0;
  for (int64_t i = 0; i < nout; i++) {
    mx = fmax(mx, fabs(a[i]));
    err = fmax(err, fabs(a[i] - b[i]));
  }
  ck_assert_msg(mx > 0.1, "degenerate output");
  ck_assert_msg(err <= 1e-5 * mx, "rotated output differs: max error %g of %g", err, mx);
  free(a), free(b);
  ir_graph_free(plain);
  return rot;
}

START_TEST(rms_llama_block) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = check_exact(&ctx, llama_rms, 5 * 11);
  /* the scales are gone, the norms stay, one online rotation of width 12 */
  ck_assert_int_eq(count_op(g, IR_OP_HADAMARD), 1);
  ck_assert_int_eq(count_op(g, IR_OP_SQRT), 3);
  ir_value_id g1 = ir_find_value(g, "r_g1"), y1 = ir_find_value(g, "y1");
  ck_assert(g->values[g1].dead && g->values[y1].dead && g->values[y1].producer == IR_NONE);
  ir_graph_free(g);
}
END_TEST

START_TEST(layer_norm_width_12) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = check_exact(&ctx, gpt_ln12, 5 * 11);
  ck_assert_int_eq(count_op(g, IR_OP_LAYER_NORMALIZATION), 0);
  ck_assert_int_eq(count_op(g, IR_OP_HADAMARD), 1);   /* before the MLP's second linear */
  ck_assert_int_eq(count_op(g, IR_OP_SQRT), 3);       /* three RMSNorms */
  ir_graph_free(g);
}
END_TEST

START_TEST(layer_norm_ops_and_gemm) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = check_exact(&ctx, ln_ops_gemm, 5 * 11);
  ck_assert_int_eq(count_op(g, IR_OP_SUB), 0);        /* the centring is gone */
  ck_assert_int_eq(count_op(g, IR_OP_LAYER_NORMALIZATION), 0);
  ck_assert_int_eq(count_op(g, IR_OP_HADAMARD), 1);
  ir_graph_free(g);
}
END_TEST

/* Replaces the first occurrence of `from` in text (a static buffer). */
static const char *edit(const char *text, const char *from, const char *to) {
  static char buf[8192];
  const char *at = strstr(text, from);
  ck_assert(at);
  snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
  return buf;
}

static void check_refused(const char *text, const char *message) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ctx.diag_stream = NULL;
  ir_graph *g = build(&ctx, text);
  ck_assert_int_ne(run_passes(&ctx, g, "infer-shapes,fuse-rotations"), KILN_OK);
  ck_assert_msg(strstr(ctx.last_error, message), "message: %s", ctx.last_error);
  ir_graph_free(g);
}

START_TEST(refusals) {
  /* the first norm's output read by a nonlinearity: its scale cannot be folded */
  check_refused(edit(llama_rms, "%k : f32[1,5,8] = MatMul(%y1, %r_wk)",
                     "%k0 : f32[1,5,8] = Relu(%y1)\n  %k : f32[1,5,8] = MatMul(%k0, %r_wk)"),
                "is not a linear layer with constant weights");
  /* a stream value is a graph output */
  check_refused(edit(llama_rms, "output %logits", "output %logits\n  output %x2"),
                "is a graph output");
  /* a stream value read by an op that does not commute with a rotation */
  check_refused(edit(gpt_ln12, "%x2 : f32[1,5,12] = Add(%x, %att)",
                     "%xr : f32[1,5,12] = Relu(%x)\n  %x2 : f32[1,5,12] = Add(%xr, %att)"),
                "does not commute with a rotation");
}
END_TEST

START_TEST(no_norm_left_alone) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ctx.diag_stream = NULL;
  const char *mlp = "graph @mlp opset 17 {\n  input %x : f32[2,4]\n"
                    "  const %r_w : f32[4,4] = summary(bytes 64, hash 0x1)\n"
                    "  %y : f32[2,4] = MatMul(%x, %r_w)\n  output %y\n}\n";
  ir_graph *g = build(&ctx, mlp);
  ck_assert_int_eq(run_passes(&ctx, g, "infer-shapes,fuse-rotations"), KILN_OK);
  ck_assert_int_eq(g->num_nodes, 1);
  ck_assert_int_eq(g->nodes[0].inputs[1], ir_find_value(g, "r_w"));
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fuse_rotations");
  TCase *tc = tcase_create("fuse_rotations");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, rms_llama_block);
  tcase_add_test(tc, layer_norm_width_12);
  tcase_add_test(tc, layer_norm_ops_and_gemm);
  tcase_add_test(tc, refusals);
  tcase_add_test(tc, no_norm_left_alone);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
