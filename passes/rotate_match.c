/*
 * rotate_match.c — the patterns fuse-rotations recognises, as exporters
 * write them (torch 1.13 at opset 17; the forms are the ONNX spellings of
 * what every framework computes):
 *
 *   LayerNorm   LayerNormalization(x, g, b) over the last axis, or
 *               c = x - ReduceMean(x); c / Sqrt(ReduceMean(c^2) + eps) * g + b
 *   RMSNorm     x * 1 / Sqrt(ReduceMean(x * x) + eps) * g   (also x / Sqrt(...),
 *               Reciprocal(Sqrt(...)), Pow(x, 2) for x * x)
 *   linear      MatMul(x, W) or Gemm(x, W, c) with W a 2-D f32 constant
 *   attention   out-projection input <- Reshape <- Transpose <- MatMul(P, V)
 *               <- Transpose <- Reshape <- [Split | Slice] <- [+ bias] <- V linear
 *
 * A match requires every intermediate value to be private to the pattern:
 * folding the scale away or rotating V's columns changes those values, so
 * a foreign reader would see something else.
 */
#include <string.h>

#include "passes.h"
#include "rotate.h"

void rot_uses_build(kiln_ctx *ctx, const ir_graph *g, rot_uses *u) {
  int32_t nv = g->num_values;
  u->start = kiln_calloc(ctx, (size_t)nv + 2, sizeof *u->start);
  u->is_output = kiln_calloc(ctx, (size_t)nv + 1, sizeof *u->is_output);
  for (int32_t i = 0; i < g->num_outputs; i++) u->is_output[g->outputs[i]] = true;
  for (int32_t n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int i = 0; i < nd->num_inputs; i++)
      if (nd->inputs[i] >= 0) u->start[nd->inputs[i] + 1]++;
  }
  for (int32_t v = 0; v < nv; v++) u->start[v + 1] += u->start[v];
  u->list = kiln_calloc(ctx, (size_t)u->start[nv] + 1, sizeof *u->list);
  int32_t *fill = kiln_calloc(ctx, (size_t)nv + 1, sizeof *fill);
  for (int32_t n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int i = 0; i < nd->num_inputs; i++) {
      ir_value_id v = nd->inputs[i];
      if (v >= 0) u->list[u->start[v] + fill[v]++] = (rot_use){n, i};
    }
  }
  kiln_free(ctx, fill);
}

void rot_uses_free(kiln_ctx *ctx, rot_uses *u) {
  kiln_free(ctx, u->start);
  kiln_free(ctx, u->list);
  kiln_free(ctx, u->is_output);
}

int64_t rot_last_dim(const ir_graph *g, ir_value_id v) {
  const ir_shape *s = &g->values[v].shape;
  return s->rank >= 1 ? s->dims[s->rank - 1] : -1;
}

const float *rot_const_f32(const ir_graph *g, ir_value_id v) {
  if (v < 0 || g->values[v].dtype != IR_F32) return NULL;
  return ir_const_data(g, v);
}

bool rot_is_scalar_const(const ir_graph *g, ir_value_id v) {
  return ir_const_data(g, v) && ir_shape_numel(&g->values[v].shape) == 1;
}

static bool scalar_is(const ir_graph *g, ir_value_id v, double want) {
  double x;
  return rot_is_scalar_const(g, v) && ir_const_scalar(g, v, &x) && x == want;
}

/* Every reader of v is node a or node b (graph outputs count as foreign). */
static bool used_only_by(const rot_uses *u, ir_value_id v, ir_node_id a, ir_node_id b) {
  if (u->is_output[v]) return false;
  for (int32_t i = u->start[v]; i < u->start[v + 1]; i++)
    if (u->list[i].node != a && u->list[i].node != b) return false;
  return true;
}

static ir_node *producer(ir_graph *g, ir_value_id v, ir_op op) {
  if (v < 0 || g->values[v].producer < 0) return NULL;
  ir_node *nd = &g->nodes[g->values[v].producer];
  return nd->op == op ? nd : NULL;
}

/* ReduceMean over the last axis only, keeping it. */
static bool is_last_axis_mean(ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_REDUCE_MEAN || ir_attr_int_or(g, n, "keepdims", 1) != 1) return false;
  int rank = g->values[nd->inputs[0]].shape.rank;
  int64_t axes[2];
  int count;
  const int64_t *attr;
  if (nd->num_inputs > 1 && nd->inputs[1] >= 0) {
    count = (int)ir_const_ints(g, nd->inputs[1], axes, 2);
  } else {
    count = ir_attr_ints(g, n, "axes", &attr);
    if (count == 1) axes[0] = attr[0];
  }
  return rank >= 1 && count == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

/* s = Sqrt(ReduceMean(src^2) + eps), each intermediate private.  Returns
 * src and eps, and the node squaring src. */
static bool match_rms_denominator(ir_graph *g, const rot_uses *u, ir_value_id s,
                                  ir_value_id *src, double *eps, ir_node_id *square) {
  ir_node *sq = producer(g, s, IR_OP_SQRT); /* s's single reader: checked by the caller */
  if (!sq) return false;
  ir_value_id a = sq->inputs[0];
  ir_node *add = producer(g, a, IR_OP_ADD);
  if (!add || rot_num_uses(u, a) != 1) return false;
  int e = rot_is_scalar_const(g, add->inputs[1]) ? 1 : rot_is_scalar_const(g, add->inputs[0]) ? 0 : -1;
  if (e < 0 || !ir_const_scalar(g, add->inputs[e], eps)) return false;
  ir_value_id m = add->inputs[1 - e];
  if (rot_num_uses(u, m) != 1 || g->values[m].producer < 0) return false;
  ir_node_id mean = g->values[m].producer;
  if (!is_last_axis_mean(g, mean)) return false;
  ir_value_id q = g->nodes[mean].inputs[0];
  if (rot_num_uses(u, q) != 1 || g->values[q].producer < 0) return false;
  ir_node_id qn = g->values[q].producer;
  const ir_node *qd = &g->nodes[qn];
  if (qd->op == IR_OP_MUL && qd->inputs[0] == qd->inputs[1]) *src = qd->inputs[0];
  else if (qd->op == IR_OP_POW && scalar_is(g, qd->inputs[1], 2.0)) *src = qd->inputs[0];
  else return false;
  *square = qn;
  return true;
}

/* The value v = 1 / s: Reciprocal(s) or Div(1, s).  Returns s. */
static ir_value_id match_reciprocal(ir_graph *g, const rot_uses *u, ir_value_id v) {
  if (v < 0 || rot_num_uses(u, v) != 1 || g->values[v].producer < 0) return IR_NONE;
  const ir_node *nd = &g->nodes[g->values[v].producer];
  if (nd->op == IR_OP_RECIPROCAL) return nd->inputs[0];
  if (nd->op == IR_OP_DIV && scalar_is(g, nd->inputs[0], 1.0)) return nd->inputs[1];
  return IR_NONE;
}

/* A per-channel f32 constant of d elements along the last axis. */
static bool channel_const(const ir_graph *g, ir_value_id v, int64_t d) {
  if (!rot_const_f32(g, v)) return false;
  return ir_shape_numel(&g->values[v].shape) == d && rot_last_dim(g, v) == d;
}

static bool match_norm_ops(ir_graph *g, const rot_uses *u, ir_node_id n, rot_norm *r) {
  const ir_node *nd = &g->nodes[n];
  ir_value_id src = IR_NONE, s = IR_NONE;
  if (nd->op == IR_OP_DIV) {
    src = nd->inputs[0];
    s = nd->inputs[1];
  } else if (nd->op == IR_OP_MUL) {
    for (int i = 0; i < 2 && s < 0; i++)
      if ((s = match_reciprocal(g, u, nd->inputs[1 - i])) >= 0) src = nd->inputs[i];
  }
  if (s < 0 || rot_num_uses(u, s) != 1) return false;
  ir_value_id sq_src;
  ir_node_id square;
  if (!match_rms_denominator(g, u, s, &sq_src, &r->eps, &square) || sq_src != src) return false;
  r->normed = nd->outputs[0];
  r->node = n;
  r->x_readers[0] = square;
  r->x_readers[1] = n;
  r->kind = ROT_NORM_RMS_OPS;
  r->x = src;
  r->centred = IR_NONE;
  r->sub_node = IR_NONE;
  /* x - ReduceMean(x) makes it a LayerNorm */
  ir_node *sub = producer(g, src, IR_OP_SUB);
  if (sub && used_only_by(u, src, square, n)) {
    ir_value_id x = sub->inputs[0], mean = sub->inputs[1];
    ir_node_id mn = g->values[mean].producer;
    if (mn >= 0 && rot_num_uses(u, mean) == 1 && is_last_axis_mean(g, mn) &&
        g->nodes[mn].inputs[0] == x) {
      r->kind = ROT_NORM_LAYER_OPS;
      r->x = x;
      r->centred = src;
      r->sub_node = g->values[src].producer;
      r->x_readers[0] = mn;
      r->x_readers[1] = r->sub_node;
    }
  }
  r->d = rot_last_dim(g, r->x);
  if (r->d <= 0 || g->values[r->x].dtype != IR_F32) return false;
  /* the affine part: * g, then + b */
  r->scale = r->bias = IR_NONE;
  r->scale_node = r->bias_node = IR_NONE;
  r->out = r->normed;
  ir_value_id v = r->out;
  if (rot_num_uses(u, v) == 1 && u->start[v + 1] - u->start[v] == 1) {
    ir_node_id m = u->list[u->start[v]].node;
    const ir_node *md = &g->nodes[m];
    int other = u->list[u->start[v]].slot == 0 ? 1 : 0;
    if (md->op == IR_OP_MUL && md->num_inputs == 2 && channel_const(g, md->inputs[other], r->d)) {
      r->scale = md->inputs[other];
      r->scale_node = m;
      r->out = v = md->outputs[0];
    }
  }
  if (rot_num_uses(u, v) == 1 && u->start[v + 1] - u->start[v] == 1) {
    ir_node_id a = u->list[u->start[v]].node;
    const ir_node *ad = &g->nodes[a];
    int other = u->list[u->start[v]].slot == 0 ? 1 : 0;
    if (ad->op == IR_OP_ADD && channel_const(g, ad->inputs[other], r->d)) {
      r->bias = ad->inputs[other];
      r->bias_node = a;
      r->out = ad->outputs[0];
    }
  }
  return true;
}

bool rot_match_norm(ir_graph *g, const rot_uses *u, ir_node_id n, rot_norm *r) {
  const ir_node *nd = &g->nodes[n];
  memset(r, 0, sizeof *r);
  if (nd->op == IR_OP_DIV || nd->op == IR_OP_MUL) return match_norm_ops(g, u, n, r);
  if (nd->op != IR_OP_LAYER_NORMALIZATION) return false;
  ir_value_id x = nd->inputs[0];
  int rank = g->values[x].shape.rank;
  int64_t axis = ir_attr_int_or(g, n, "axis", -1);
  if (rank < 1 || (axis != -1 && axis != rank - 1)) return false;
  for (int k = 1; k < nd->num_outputs; k++)
    if (nd->outputs[k] >= 0 && rot_num_uses(u, nd->outputs[k]) > 0) return false;
  r->kind = ROT_NORM_LAYER_OP;
  r->node = n;
  r->x = x;
  r->d = rot_last_dim(g, x);
  if (r->d <= 0 || g->values[x].dtype != IR_F32) return false;
  r->normed = r->centred = IR_NONE;
  r->sub_node = r->scale_node = r->bias_node = IR_NONE;
  r->scale = nd->inputs[1];
  r->bias = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  if (!channel_const(g, r->scale, r->d) || (r->bias >= 0 && !channel_const(g, r->bias, r->d)))
    return false;
  r->eps = ir_attr_float_or(g, n, "epsilon", 1e-5f);
  r->out = nd->outputs[0];
  r->x_readers[0] = n;
  r->x_readers[1] = IR_NONE;
  return true;
}

bool rot_match_linear(ir_graph *g, ir_node_id n, rot_linear *l) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_MAT_MUL && nd->op != IR_OP_GEMM) return false;
  if (nd->num_inputs < 2 || nd->inputs[1] < 0) return false;
  const ir_value *w = &g->values[nd->inputs[1]];
  if (!rot_const_f32(g, nd->inputs[1]) || w->shape.rank != 2) return false;
  if (g->values[nd->inputs[0]].dtype != IR_F32 || g->values[nd->inputs[0]].shape.rank < 1)
    return false;
  l->node = n;
  l->trans = false;
  if (nd->op == IR_OP_GEMM) {
    if (ir_attr_int_or(g, n, "transA", 0) || ir_attr_float_or(g, n, "alpha", 1) != 1 ||
        ir_attr_float_or(g, n, "beta", 1) != 1)
      return false;
    l->trans = ir_attr_int_or(g, n, "transB", 0) != 0;
  }
  l->k = w->shape.dims[l->trans ? 1 : 0];
  l->n = w->shape.dims[l->trans ? 0 : 1];
  return rot_last_dim(g, nd->inputs[0]) == l->k;
}

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a < 0 ? -a : a;
}

/* Slice of the last axis only, step 1: its first column. */
static bool last_axis_slice(ir_graph *g, ir_node_id n, int64_t *start) {
  const ir_node *nd = &g->nodes[n];
  ir_value_id x = nd->inputs[0];
  int rank = g->values[x].shape.rank;
  int64_t st[KILN_MAX_RANK], en[KILN_MAX_RANK], ax[KILN_MAX_RANK], sp[KILN_MAX_RANK];
  if (nd->num_inputs < 3) return false; /* opset < 10 attribute form: not exported by torch */
  int64_t k = ir_const_ints(g, nd->inputs[1], st, KILN_MAX_RANK);
  if (k < 0 || ir_const_ints(g, nd->inputs[2], en, KILN_MAX_RANK) != k) return false;
  for (int64_t i = 0; i < k; i++) ax[i] = i;
  if (nd->num_inputs > 3 && nd->inputs[3] >= 0 && ir_const_ints(g, nd->inputs[3], ax, KILN_MAX_RANK) != k)
    return false;
  for (int64_t i = 0; i < k; i++) sp[i] = 1;
  if (nd->num_inputs > 4 && nd->inputs[4] >= 0 && ir_const_ints(g, nd->inputs[4], sp, KILN_MAX_RANK) != k)
    return false;
  for (int64_t i = 0; i < k; i++) {
    int64_t a = ax[i] < 0 ? ax[i] + rank : ax[i];
    int64_t dim = g->values[x].shape.dims[a];
    int64_t s = st[i] < 0 ? st[i] + dim : st[i];
    s = s < 0 ? 0 : s > dim ? dim : s;
    if (a != rank - 1) {
      if (s != 0 || en[i] < dim || sp[i] != 1) return false; /* a real cut of another axis */
      continue;
    }
    if (sp[i] != 1) return false;
    *start = s;
    return true;
  }
  return false;
}

bool rot_match_head_path(ir_graph *g, const rot_uses *u, ir_value_id y, rot_head_path *p,
                         const char **why) {
  memset(p, 0, sizeof *p);
  ir_value_id v = y;
  int64_t lo = 0, hi = rot_last_dim(g, y), block = hi;
  for (int step = 0; step < 64; step++) {
    int64_t len = rot_last_dim(g, v);
    if (len <= 0) return *why = "a value on the path has no static last dim", false;
    block = gcd64(gcd64(gcd64(block, len), lo), hi - lo);
    ir_node_id pn = g->values[v].producer;
    if (pn < 0) return *why = "the path starts at a graph input or constant", false;
    if (rot_num_uses(u, v) != 1)
      return *why = "a value on the path has other readers, which would see it rotated", false;
    const ir_node *nd = &g->nodes[pn];
    rot_linear lin;
    switch (nd->op) {
    case IR_OP_RESHAPE:
    case IR_OP_FLATTEN:
    case IR_OP_SQUEEZE:
    case IR_OP_UNSQUEEZE:
    case IR_OP_IDENTITY:
      if (lo != 0 || hi != len) return *why = "a reshape of part of a row", false;
      v = nd->inputs[0];
      lo = 0;
      hi = rot_last_dim(g, v);
      continue;
    case IR_OP_TRANSPOSE: {
      const int64_t *perm;
      int cnt = ir_attr_ints(g, pn, "perm", &perm), rank = g->values[v].shape.rank;
      if (cnt != rank || perm[rank - 1] != rank - 1)
        return *why = "a transpose moves the channel axis", false;
      v = nd->inputs[0];
      continue;
    }
    case IR_OP_MAT_MUL:
    case IR_OP_GEMM:
      if (rot_match_linear(g, pn, &lin)) {
        p->v_linear = pn;
        p->lo = lo;
        p->hi = hi;
        p->block = block;
        return true;
      }
      if (nd->op == IR_OP_GEMM || g->values[nd->inputs[1]].shape.rank < 2 ||
          g->values[nd->inputs[0]].shape.rank < 2)
        return *why = "a matrix product contracts the channel axis", false;
      v = nd->inputs[1]; /* P x V: V's channels pass through */
      continue;
    case IR_OP_ADD: {
      int c = rot_const_f32(g, nd->inputs[1]) ? 1 : rot_const_f32(g, nd->inputs[0]) ? 0 : -1;
      if (c < 0 || rot_last_dim(g, nd->inputs[c]) != len || p->num_consts == 8)
        return *why = "an addition of something other than a bias", false;
      p->const_node[p->num_consts] = pn;
      p->const_slot[p->num_consts] = c;
      p->const_lo[p->num_consts] = lo;
      p->const_hi[p->num_consts++] = hi;
      v = nd->inputs[1 - c];
      continue;
    }
    case IR_OP_MUL:
    case IR_OP_DIV:
      if (rot_is_scalar_const(g, nd->inputs[1])) v = nd->inputs[0];
      else if (nd->op == IR_OP_MUL && rot_is_scalar_const(g, nd->inputs[0])) v = nd->inputs[1];
      else return *why = "a product with something other than a scalar", false;
      continue;
    case IR_OP_SPLIT: {
      ir_value_id x = nd->inputs[0];
      int rank = g->values[x].shape.rank;
      int64_t axis = ir_attr_int_or(g, pn, "axis", 0);
      if (axis != -1 && axis != rank - 1) return *why = "a split along another axis", false;
      int64_t off = 0;
      for (int k = 0; k < nd->num_outputs && nd->outputs[k] != v; k++)
        off += rot_last_dim(g, nd->outputs[k]);
      lo += off;
      hi += off;
      v = x;
      continue;
    }
    case IR_OP_SLICE: {
      int64_t start;
      if (!last_axis_slice(g, pn, &start)) return *why = "a slice that is not of channels", false;
      lo += start;
      hi += start;
      v = nd->inputs[0];
      continue;
    }
    default:
      return *why = "an op kiln cannot rotate through", false;
    }
  }
  return *why = "the path is too long", false;
}
