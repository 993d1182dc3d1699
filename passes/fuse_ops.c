/*
 * fuse_ops.c — the `fuse-ops` pass: fold what follows a convolution or a
 * matrix product into the kernel that computes it.
 *
 * A network spends most of its time in Conv and MatMul, and most of the
 * rest re-reading their outputs for the cheap ops that follow: a bias Add,
 * a residual Add, an activation.  Each such op reads and writes the whole
 * tensor once more.  The GEMM kernel (compiler/codegen/kernels/gemm.c)
 * instead applies them to its accumulators while they are still in
 * registers (the *epilogue*), so this pass rewrites
 *
 *     Conv -> [BatchNormalization] -> [Add residual] -> [activation]
 *     MatMul -> [Add bias[N]] -> [Add residual] -> [activation]
 *     Gemm (B constant, C a bias) -> [Add residual] -> [activation]
 *
 * into one kiln.FusedConv(X, W, B, R) or kiln.FusedMatMul(A, B, bias, R)
 * whose `activation` attribute names the activation (with its own
 * attributes copied over, Clip's bounds as `min` and `max`).  The epilogue
 * order is fixed — bias, residual, activation — which is the order ResNet,
 * MobileNet and transformer blocks use; a chain in another order stops the
 * fusion where the order breaks.
 *
 * BatchNormalization after a convolution with constant weights is folded
 * into the weights and bias (y = s*(conv(x) + b - mean) + beta with
 * s = gamma / sqrt(var + eps)): exact up to rounding, and the BN disappears.
 *
 * First, the Gelu that exporters spell out, x * 0.5 * (1 + erf(x / sqrt 2))
 * in five elementwise nodes (PyTorch's nn.GELU before opset 20), becomes
 * one Gelu node, so it can join the chain as its activation.
 *
 * A link of the chain is taken only when the intermediate value has no
 * other reader and is not a graph output, and only where the fused kernel
 * exists: f32, a convolution the GEMM kernel handles (1-d or 2-d, constant
 * weights, at least 8 output channels per group) or the depthwise kernel
 * handles (kernels/depthwise.c), a product at least 8
 * columns wide.  The residual must have exactly the output's shape.
 */
#include <math.h>
#include <string.h>

#include "cg.h"
#include "kernels/depthwise.h"
#include "passes.h"

enum { FUSE_MIN_COLUMNS = 8, FUSE_MIN_CHANNELS = 8 };

typedef struct fuse_state {
  ir_graph *g;
  ir_node_id *consumer; /* consumer[v]: the one node reading v, or IR_NONE */
  bool *is_output;
  int fused_nodes, folded_bn;
} fuse_state;

static bool is_f32(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].dtype == IR_F32 && g->values[v].shape.rank >= 0 &&
         ir_shape_is_static(&g->values[v].shape);
}

/* The single node reading v, or IR_NONE when v is read twice, not at all,
 * or is a graph output. */
static ir_node_id only_reader(const fuse_state *f, ir_value_id v) {
  if (v < 0 || f->is_output[v] || f->g->values[v].num_uses != 1) return IR_NONE;
  return f->consumer[v];
}

static bool conv_fusable(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_CONV || !is_f32(g, nd->inputs[0]) || !is_f32(g, nd->outputs[0])) return false;
  ir_value_id w = nd->inputs[1];
  const ir_value *wv = &g->values[w];
  if (!ir_const_data(g, w) || wv->dtype != IR_F32 || (wv->shape.rank != 3 && wv->shape.rank != 4))
    return false;
  int64_t group = ir_attr_int_or(g, n, "group", 1);
  if (cg_depthwise_of(g, n)) return true;
  return group >= 1 && wv->shape.dims[0] % group == 0 && wv->shape.dims[0] / group >= FUSE_MIN_CHANNELS;
}

static int64_t last_dim(const ir_graph *g, ir_value_id v) {
  const ir_shape *s = &g->values[v].shape;
  return s->rank >= 1 ? s->dims[s->rank - 1] : 1;
}

static bool matmul_fusable(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_MAT_MUL || !is_f32(g, nd->inputs[0]) || !is_f32(g, nd->inputs[1]) ||
      !is_f32(g, nd->outputs[0]))
    return false;
  return g->values[nd->inputs[1]].shape.rank >= 2 && last_dim(g, nd->outputs[0]) >= FUSE_MIN_COLUMNS;
}

/* Gemm that is a plain product plus a bias: A [M,K] untransposed, alpha 1,
 * B constant, C absent or a constant of N values with beta 1. */
static bool gemm_fusable(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_GEMM || !is_f32(g, nd->inputs[0]) || !is_f32(g, nd->outputs[0])) return false;
  if (ir_attr_int_or(g, n, "transA", 0) || ir_attr_float_or(g, n, "alpha", 1) != 1) return false;
  ir_value_id b = nd->inputs[1];
  if (!ir_const_data(g, b) || !is_f32(g, b) || g->values[b].shape.rank != 2) return false;
  int64_t N = last_dim(g, nd->outputs[0]);
  if (N < FUSE_MIN_COLUMNS) return false;
  ir_value_id c = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  if (c < 0) return true;
  return ir_attr_float_or(g, n, "beta", 1) == 1 && ir_const_data(g, c) && is_f32(g, c) &&
         ir_shape_numel(&g->values[c].shape) == N && last_dim(g, c) == N;
}

/* x's other operand when `add` is Add(x, other) or Add(other, x). */
static ir_value_id other_operand(const ir_graph *g, ir_node_id add, ir_value_id x) {
  const ir_node *nd = &g->nodes[add];
  if (nd->op != IR_OP_ADD || nd->num_inputs != 2) return IR_NONE;
  if (nd->inputs[0] == x && nd->inputs[1] != x) return nd->inputs[1];
  if (nd->inputs[1] == x && nd->inputs[0] != x) return nd->inputs[0];
  return IR_NONE;
}

/* A constant holding one value per output column: [N], [1,N], [1,1,N]... */
static bool is_column_bias(const ir_graph *g, ir_value_id v, int64_t N) {
  if (!ir_const_data(g, v) || !is_f32(g, v)) return false;
  return ir_shape_numel(&g->values[v].shape) == N && last_dim(g, v) == N;
}

static ir_value_id add_const_f32(ir_graph *g, const char *base, const char *suffix, const float *data,
                                 int rank, const int64_t *dims) {
  char name[256];
  snprintf(name, sizeof name, "%s%s", base, suffix);
  ir_shape sh = ir_shape_make(rank, dims);
  return ir_add_const(g, name, IR_F32, &sh, data, ir_shape_numel(&sh) * 4, false);
}

/* Folds BatchNormalization node bn (reading conv n's output) into n's
 * weights and bias.  False (and nothing changed) unless every BN operand
 * is a constant. */
static bool fold_batch_norm(fuse_state *f, ir_node_id n, ir_node_id bn) {
  ir_graph *g = f->g;
  const ir_node *b = &g->nodes[bn];
  if (b->num_outputs > 1 && b->outputs[1] >= 0) return false; /* training outputs */
  if (ir_attr_int_or(g, bn, "training_mode", 0)) return false;
  const float *p[4];
  for (int i = 0; i < 4; i++) {
    ir_value_id v = b->inputs[i + 1];
    if (!ir_const_data(g, v) || g->values[v].dtype != IR_F32) return false;
    p[i] = ir_const_data(g, v);
  }
  ir_value_id w = g->nodes[n].inputs[1];
  const ir_shape ws = g->values[w].shape;
  int64_t M = ws.dims[0], per = ir_shape_numel(&ws) / M;
  for (int i = 0; i < 4; i++)
    if (ir_shape_numel(&g->values[b->inputs[i + 1]].shape) != M) return false;
  ir_value_id old_b = g->nodes[n].num_inputs > 2 ? g->nodes[n].inputs[2] : IR_NONE;
  const float *bias = old_b >= 0 ? ir_const_data(g, old_b) : NULL;
  if (old_b >= 0 && !bias) return false;
  double eps = ir_attr_float_or(g, bn, "epsilon", 1e-5f);
  float *nw = ir_arena_alloc(&g->arena, (size_t)(M * per) * sizeof *nw);
  float *nb = ir_arena_alloc(&g->arena, (size_t)M * sizeof *nb);
  const float *wd = ir_const_data(g, w);
  for (int64_t m = 0; m < M; m++) {
    double sc = p[0][m] / sqrt((double)p[3][m] + eps);
    for (int64_t i = 0; i < per; i++) nw[m * per + i] = (float)(wd[m * per + i] * sc);
    nb[m] = (float)(((bias ? bias[m] : 0.0) - p[2][m]) * sc + p[1][m]);
  }
  const char *base = g->values[w].name;
  ir_value_id y = g->nodes[bn].outputs[0];
  ir_value_id nwv = add_const_f32(g, base, ".bn", nw, ws.rank, ws.dims);
  ir_value_id nbv = add_const_f32(g, base, ".bn_bias", nb, 1, &M);
  /* a per-channel scale keeps every zero (pruned weights stay sparse) */
  g->values[nwv].sparsity = g->values[w].sparsity;
  ir_node *nd = &g->nodes[n]; /* ir_add_const may have moved the arrays */
  ir_value_id in[3] = {nd->inputs[0], nwv, nbv};
  nd->inputs = ir_arena_dup(&g->arena, in, sizeof in);
  nd->num_inputs = 3;
  ir_value_id old_y = nd->outputs[0];
  nd->outputs[0] = y;
  g->values[y].producer = n;
  g->values[old_y].producer = IR_NONE;
  g->nodes[bn].dead = true;
  f->folded_bn++;
  return true;
}

/* Follows n's output down the chain and rewrites n as the fused op. */
static void fuse_chain(fuse_state *f, ir_node_id n) {
  ir_graph *g = f->g;
  ir_op op = g->nodes[n].op;
  bool conv = op == IR_OP_CONV;
  ir_value_id cur = g->nodes[n].outputs[0];
  if (conv) {
    ir_node_id c = only_reader(f, cur);
    if (c >= 0 && g->nodes[c].op == IR_OP_BATCH_NORMALIZATION && g->nodes[c].inputs[0] == cur &&
        fold_batch_norm(f, n, c))
      cur = g->nodes[n].outputs[0];
  }
  ir_value_id bias = IR_NONE, resid = IR_NONE;
  ir_node_id act = IR_NONE;
  ir_node_id absorbed[3];
  int nabs = 0;
  int64_t N = last_dim(g, cur);
  for (;;) {
    ir_node_id c = only_reader(f, cur);
    if (c < 0 || g->nodes[c].dead) break;
    ir_value_id y = g->nodes[c].outputs[0];
    if (!is_f32(g, y) || !ir_shape_equal(&g->values[y].shape, &g->values[cur].shape)) break;
    ir_value_id o = other_operand(g, c, cur);
    if (o >= 0 && op == IR_OP_MAT_MUL && bias < 0 && resid < 0 && act < 0 && is_column_bias(g, o, N)) {
      bias = o;
    } else if (o >= 0 && resid < 0 && act < 0 && is_f32(g, o) &&
               ir_shape_equal(&g->values[o].shape, &g->values[cur].shape)) {
      resid = o;
    } else if (act < 0 && g->nodes[c].num_inputs >= 1 && g->nodes[c].inputs[0] == cur &&
               ir_ops[g->nodes[c].op].max_outputs == 1 &&
               (g->nodes[c].op == IR_OP_RELU || g->nodes[c].op == IR_OP_LEAKY_RELU ||
                g->nodes[c].op == IR_OP_HARD_SIGMOID || g->nodes[c].op == IR_OP_HARD_SWISH ||
                g->nodes[c].op == IR_OP_SIGMOID || g->nodes[c].op == IR_OP_TANH ||
                g->nodes[c].op == IR_OP_GELU || g->nodes[c].op == IR_OP_CLIP)) {
      if (g->nodes[c].op == IR_OP_CLIP) { /* bounds must be known now */
        const ir_node *cn = &g->nodes[c];
        double v;
        for (int i = 1; i < cn->num_inputs; i++)
          if (cn->inputs[i] >= 0 && !ir_const_scalar(g, cn->inputs[i], &v)) goto stop;
      }
      act = c;
    } else {
      break;
    }
    absorbed[nabs++] = c;
    cur = y;
    if (nabs == 3) break;
  }
stop:
  if (!nabs) return; /* nothing to fuse (a folded BN alone leaves a plain Conv) */

  ir_node *nd = &g->nodes[n];
  ir_value_id in[4] = {nd->inputs[0], nd->inputs[1], IR_NONE, resid};
  if (conv) {
    in[2] = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  } else if (op == IR_OP_GEMM) {
    /* B^T packed as [K, N] and C as a bias of N values */
    ir_value_id b = nd->inputs[1];
    const ir_shape *bs = &g->values[b].shape;
    const float *bd = ir_const_data(g, b);
    bool tb = ir_attr_int_or(g, n, "transB", 0);
    int64_t K = tb ? bs->dims[1] : bs->dims[0], NN = tb ? bs->dims[0] : bs->dims[1];
    ir_value_id c = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
    if (tb) {
      float *t = ir_arena_alloc(&g->arena, (size_t)(K * NN) * sizeof *t);
      for (int64_t i = 0; i < NN; i++)
        for (int64_t k = 0; k < K; k++) t[k * NN + i] = bd[i * K + k];
      int64_t dims[2] = {K, NN};
      in[1] = add_const_f32(g, g->values[b].name, ".T", t, 2, dims);
    }
    if (c >= 0 && g->values[c].shape.rank != 1)
      in[2] = add_const_f32(g, g->values[c].name, ".bias", ir_const_data(g, c), 1, &NN);
    else
      in[2] = c;
    nd = &g->nodes[n];
  } else {
    in[2] = bias;
    if (bias >= 0 && g->values[bias].shape.rank != 1) {
      in[2] = add_const_f32(g, g->values[bias].name, ".bias", ir_const_data(g, bias), 1, &N);
      nd = &g->nodes[n];
    }
  }
  int nin = in[3] >= 0 ? 4 : in[2] >= 0 ? 3 : 2;
  nd->inputs = ir_arena_dup(&g->arena, in, sizeof(ir_value_id) * (size_t)nin);
  nd->num_inputs = nin;
  if (op == IR_OP_GEMM) { /* its attributes mean nothing to FusedMatMul */
    nd->num_attrs = 0;
    nd->attrs = NULL;
  }
  nd->op = conv ? IR_OP_FUSED_CONV : IR_OP_FUSED_MAT_MUL;
  ir_value_id old_y = nd->outputs[0];
  g->values[old_y].producer = IR_NONE;
  nd->outputs[0] = cur;
  g->values[cur].producer = n;
  if (act >= 0) {
    const ir_node *an = &g->nodes[act];
    ir_set_attr_string(g, n, "activation", ir_ops[an->op].name);
    an = &g->nodes[act];
    for (int i = 0; i < an->num_attrs; i++) {
      const ir_attr *a = &g->nodes[act].attrs[i];
      if (a->kind == IR_ATTR_FLOAT) ir_set_attr_float(g, n, a->name, a->f);
      if (a->kind == IR_ATTR_STRING) ir_set_attr_string(g, n, a->name, a->s);
    }
    if (g->nodes[act].op == IR_OP_CLIP) {
      const ir_node *cn = &g->nodes[act];
      double lo = cn->num_inputs > 1 && cn->inputs[1] >= 0 ? 0 : -INFINITY;
      double hi = cn->num_inputs > 2 && cn->inputs[2] >= 0 ? 0 : INFINITY;
      if (cn->num_inputs > 1 && cn->inputs[1] >= 0) ir_const_scalar(g, cn->inputs[1], &lo);
      if (cn->num_inputs > 2 && cn->inputs[2] >= 0) ir_const_scalar(g, cn->inputs[2], &hi);
      if (cn->num_inputs == 1) { /* opset < 11: bounds are attributes */
        lo = ir_attr_float_or(g, act, "min", -INFINITY);
        hi = ir_attr_float_or(g, act, "max", INFINITY);
      }
      ir_set_attr_float(g, n, "min", (float)lo);
      ir_set_attr_float(g, n, "max", (float)hi);
    }
  }
  for (int i = 0; i < nabs; i++) g->nodes[absorbed[i]].dead = true;
  f->fused_nodes += nabs;
}

/* ---- Gelu spelled out ---------------------------------------------------------- */
/* v is a scalar constant within a relative 1e-6 of want. */
static bool const_near(const ir_graph *g, ir_value_id v, double want) {
  double c;
  return v >= 0 && ir_const_scalar(g, v, &c) && fabs(c - want) <= 1e-6 * fabs(want);
}

/* Node n is a binary `op` of x and a constant near c (either order). */
static bool op_with_const(const ir_graph *g, ir_node_id n, ir_op op, ir_value_id x, double c) {
  if (n < 0 || g->nodes[n].dead || g->nodes[n].op != op || g->nodes[n].num_inputs != 2) return false;
  const ir_value_id *in = g->nodes[n].inputs;
  if (op == IR_OP_DIV) return in[0] == x && const_near(g, in[1], c);
  return (in[0] == x && const_near(g, in[1], c)) || (in[1] == x && const_near(g, in[0], c));
}

/* erf node e inside x * 0.5 * (1 + erf(x / sqrt 2)), in either order of the
 * two Muls, every intermediate read once: the final Mul becomes Gelu(x),
 * the other four nodes die.  Returns true if it rewrote. */
static bool gelu_from_erf(fuse_state *f, ir_node_id e) {
  ir_graph *g = f->g;
  ir_value_id d = g->nodes[e].inputs[0];
  ir_node_id dn = g->values[d].producer;
  if (dn < 0 || only_reader(f, d) != e || g->nodes[dn].num_inputs != 2) return false;
  /* x / sqrt 2, x * (1 / sqrt 2) or (1 / sqrt 2) * x */
  ir_value_id x = g->nodes[dn].inputs[0];
  if (!op_with_const(g, dn, IR_OP_DIV, x, M_SQRT2) && !op_with_const(g, dn, IR_OP_MUL, x, M_SQRT1_2)) {
    x = g->nodes[dn].inputs[1];
    if (!op_with_const(g, dn, IR_OP_MUL, x, M_SQRT1_2)) return false;
  }
  if (!is_f32(g, x)) return false;
  ir_node_id a = only_reader(f, g->nodes[e].outputs[0]);
  if (!op_with_const(g, a, IR_OP_ADD, g->nodes[e].outputs[0], 1.0)) return false;
  ir_value_id av = g->nodes[a].outputs[0];
  ir_node_id m = only_reader(f, av);
  if (m < 0 || g->nodes[m].op != IR_OP_MUL || g->nodes[m].num_inputs != 2) return false;
  ir_value_id other = g->nodes[m].inputs[0] == av ? g->nodes[m].inputs[1] : g->nodes[m].inputs[0];
  ir_node_id last, half;
  if (other == x) { /* (x * (1 + erf)) * 0.5 */
    half = m;
    last = only_reader(f, g->nodes[m].outputs[0]);
    if (!op_with_const(g, last, IR_OP_MUL, g->nodes[m].outputs[0], 0.5)) return false;
  } else { /* (x * 0.5) * (1 + erf) */
    half = g->values[other].producer;
    last = m;
    if (only_reader(f, other) != m || !op_with_const(g, half, IR_OP_MUL, x, 0.5)) return false;
  }
  ir_value_id y = g->nodes[last].outputs[0];
  if (!is_f32(g, y) || !ir_shape_equal(&g->values[y].shape, &g->values[x].shape)) return false;
  ir_node *ln = &g->nodes[last];
  ln->op = IR_OP_GELU;
  ln->inputs = ir_arena_dup(&g->arena, &x, sizeof x);
  ln->num_inputs = 1;
  ln->num_attrs = 0;
  ln->attrs = NULL;
  g->nodes[dn].dead = g->nodes[e].dead = g->nodes[a].dead = g->nodes[half].dead = true;
  return true;
}

static void find_readers(fuse_state *f) {
  ir_graph *g = f->g;
  ir_graph_recount_uses(g);
  for (int32_t v = 0; v < g->num_values; v++) f->consumer[v] = IR_NONE;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    if (g->nodes[n].dead) continue;
    for (int i = 0; i < g->nodes[n].num_inputs; i++)
      if (g->nodes[n].inputs[i] >= 0) f->consumer[g->nodes[n].inputs[i]] = n;
  }
}

kiln_status pass_fuse_ops(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  (void)opt;
  ir_graph_recount_uses(g);
  ir_arena scratch;
  ir_arena_init(&scratch, ctx);
  fuse_state f = {.g = g};
  f.consumer = ir_arena_alloc(&scratch, (size_t)g->num_values * sizeof *f.consumer);
  f.is_output = ir_arena_alloc(&scratch, (size_t)g->num_values * sizeof *f.is_output);
  for (int32_t i = 0; i < g->num_outputs; i++) f.is_output[g->outputs[i]] = true;
  pass_mark_captured(g, f.is_output); /* subgraph readers are invisible readers */
  find_readers(&f);
  int gelus = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    if (!g->nodes[n].dead && g->nodes[n].op == IR_OP_ERF && gelu_from_erf(&f, n)) gelus++;
  if (gelus) find_readers(&f);
  int32_t count = g->num_nodes;
  for (ir_node_id n = 0; n < count; n++) {
    if (g->nodes[n].dead) continue;
    if (conv_fusable(g, n) || matmul_fusable(g, n) || gemm_fusable(g, n)) fuse_chain(&f, n);
  }
  ir_arena_free(&scratch);
  ir_graph_compact(g);
  ir_graph_recount_uses(g);
  /* a residual may be computed after the node it now feeds */
  return ir_graph_toposort(g);
}
