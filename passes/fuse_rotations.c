/*
 * fuse_rotations.c — the `fuse-rotations` pass: fold orthogonal (Hadamard)
 * rotations into a transformer's weights, QuaRot-style.
 *
 * Why.  The hidden states of large language models have a few channels
 * hundreds of times larger than the rest; round-to-nearest 4-bit (and
 * often 8-bit) activation quantization then wastes its range on them.  An
 * orthogonal rotation Q spreads every channel over all the others, and a
 * network computes the same function if every linear layer reading a
 * rotated value takes Q^T into its weights.  Hadamard matrices are the
 * rotation of choice: entries +-1/sqrt(n), so they flatten outliers as well
 * as any rotation, and where a rotation cannot be folded they run in
 * n log n adds (the kiln op Hadamard).  Following QuaRot (Ashkboos et al.,
 * "QuaRot: Outlier-Free 4-Bit Inference in Rotated LLMs", 2024) and
 * SliceGPT (Ashkboos et al., 2024) for the LayerNorm case:
 *
 *   1. Find the normalisations (rotate_match.c: LayerNormalization, its
 *      decomposed form, decomposed RMSNorm) and, from their inputs, the
 *      residual stream: the values joined by residual Adds.  Every value
 *      of the stream must be written by a constant linear layer, an
 *      embedding Gather of a constant table, or a constant, and read only
 *      by norms, residual Adds and (RMSNorm models) constant linears;
 *      anything else makes the rotation inexact, and the pass refuses the
 *      graph, naming the node.
 *   2. Fold each norm's scale g and shift b into the linears reading it:
 *      (n g + b) W + c = n (diag(g) W) + (b W + c).  Every reader must be a
 *      constant linear for that.
 *   3. LayerNorm is not rotation invariant (it subtracts the mean), RMSNorm
 *      is.  A LayerNorm stream is first mean-centred: every writer is
 *      multiplied by C = I - 11^T/d, after which each LayerNorm computes
 *      exactly an RMSNorm and is replaced by one.
 *   4. R1: x' = x C D H / sqrt(d), D a random +-1 diagonal (seeded by
 *      --rotate-seed): writers W <- W C D H, embedding tables and constants
 *      likewise; readers W <- H^T D W.  The stream itself is never
 *      transformed at run time.
 *   5. R2: inside attention, the value projection's output columns and the
 *      output projection's rows get a per-head Hadamard (block diagonal
 *      over heads); attention mixes tokens, never channels, so it commutes.
 *   6. Where no folding is possible — the input of an MLP's down
 *      projection, after a nonlinearity — an online rotation z -> z D H
 *      (a Mul by random signs, then the Hadamard op) is inserted and its
 *      transpose folded into the down projection.
 *
 * Weights are transformed in double and written back as new f32
 * constants (shared weights are never edited in place).  The result is
 * the same function up to rounding; the exactness tests compare outputs
 * within 1e-4.  What R2 or the online rotation cannot handle is left alone
 * and reported; step 1's refusals are errors, because a partial R1 is not
 * a rotation at all.
 *
 * Report: one line per norm and per writer of the stream, as '#' comments
 * on the print stream when --print-after fuse-rotations (or
 * --print-after-all) shows the result; otherwise, under -v, one summary
 * line per stream on stderr ("kiln: note: FILE: fuse-rotations: ...").
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "hadamard.h"
#include "passes.h"
#include "rotate.h"

/* A constant being rewritten: the input `slot` of `node` (or, node
 * IR_NONE, a new bias to add after linear `lin`).  Held as a rows x cols
 * double matrix; linear weights in math orientation (k x n). */
typedef struct rot_edit {
  ir_node_id node;
  int slot;
  double *w;
  int64_t rows, cols;
  bool trans;                /* stored transposed: Gemm transB */
  ir_shape shape;            /* shape of the new constant */
  int lin;                   /* new-bias edits: the linear (index) they follow */
} rot_edit;

typedef struct rot_lin {
  rot_linear l;
  int weight;                /* edit of W */
  int bias;                  /* edit of its bias, -1 while none is known */
} rot_lin;

typedef struct rot_state {
  kiln_ctx *ctx;
  ir_graph *g;
  const kiln_options *opt;
  rot_uses u;
  rot_norm *norms;
  int num_norms;
  int32_t *norm_of_node;     /* norm index + 1 for the nodes reading a norm's x */
  int32_t *comp;             /* comp[v]: stream component + 1, or 0 */
  rot_edit *edits;
  int num_edits, cap_edits;
  rot_lin *lins;
  int num_lins, cap_lins;
  int32_t *lin_of_node;      /* index + 1 */
  char *report;
  size_t report_len, report_cap;
} rot_state;

/* One component of the residual stream and what touches it. */
typedef struct rot_comp {
  int id;
  int64_t d;
  int32_t *writers, *gathers, *readers; /* node ids */
  int num_writers, num_gathers, num_readers;
  rot_use *consts;           /* (node, slot) of constants added into the stream */
  int num_consts;
  int32_t *norms;            /* norm indexes */
  int num_norms;
  bool layer, rms;           /* which norms read it */
} rot_comp;

static void KILN_PRINTF(2, 3) report(rot_state *s, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  if (s->report_len + len + 2 > s->report_cap) {
    s->report_cap = (s->report_len + len + 2) * 2;
    s->report = kiln_realloc(s->ctx, s->report, s->report_cap);
  }
  memcpy(s->report + s->report_len, line, len);
  s->report_len += len;
  s->report[s->report_len++] = '\n';
  s->report[s->report_len] = 0;
}

static const char *node_name(const ir_graph *g, ir_node_id n) {
  return g->nodes[n].name ? g->nodes[n].name : ir_ops[g->nodes[n].op].name;
}

/* ---- constants under edit ------------------------------------------------ */

static int edit_find(rot_state *s, ir_node_id node, int slot) {
  for (int i = 0; i < s->num_edits; i++)
    if (s->edits[i].node == node && s->edits[i].slot == slot && node >= 0) return i;
  return -1;
}

static int edit_push(rot_state *s, rot_edit e) {
  if (s->num_edits == s->cap_edits) {
    s->cap_edits = s->cap_edits ? 2 * s->cap_edits : 16;
    s->edits = kiln_realloc(s->ctx, s->edits, (size_t)s->cap_edits * sizeof *s->edits);
  }
  s->edits[s->num_edits] = e;
  return s->num_edits++;
}

/* The constant at node.inputs[slot] as a double matrix: its last axis is
 * the columns.  `cols` > 0 widens a last axis of 1 (a broadcast) to that
 * many columns, so each column can be rotated separately. */
static int edit_const(rot_state *s, ir_node_id node, int slot, int64_t cols) {
  int i = edit_find(s, node, slot);
  if (i >= 0) return i;
  ir_graph *g = s->g;
  ir_value_id v = g->nodes[node].inputs[slot];
  const ir_value *val = &g->values[v];
  const float *src = rot_const_f32(g, v);
  rot_edit e = {.node = node, .slot = slot, .shape = val->shape, .lin = -1};
  int64_t numel = ir_shape_numel(&val->shape), last = rot_last_dim(g, v);
  if (e.shape.rank == 0) {
    e.shape.rank = 1;
    e.shape.dims[0] = 1;
    last = 1;
  }
  e.cols = cols > 0 ? cols : last;
  e.rows = last ? numel / last : 0;
  e.shape.dims[e.shape.rank - 1] = e.cols;
  e.w = kiln_calloc(s->ctx, (size_t)(e.rows * e.cols) + 1, sizeof *e.w);
  for (int64_t r = 0; r < e.rows; r++)
    for (int64_t c = 0; c < e.cols; c++) e.w[r * e.cols + c] = src[r * last + (last == 1 ? 0 : c)];
  return edit_push(s, e);
}

/* The weight of linear l as a k x n double matrix. */
static int edit_weight(rot_state *s, const rot_linear *l) {
  int i = edit_find(s, l->node, 1);
  if (i >= 0) return i;
  ir_graph *g = s->g;
  ir_value_id v = g->nodes[l->node].inputs[1];
  const float *src = rot_const_f32(g, v);
  rot_edit e = {.node = l->node, .slot = 1, .rows = l->k, .cols = l->n, .trans = l->trans,
                .shape = g->values[v].shape, .lin = -1};
  e.w = kiln_calloc(s->ctx, (size_t)(l->k * l->n) + 1, sizeof *e.w);
  for (int64_t r = 0; r < l->k; r++)
    for (int64_t c = 0; c < l->n; c++)
      e.w[r * l->n + c] = l->trans ? src[c * l->k + r] : src[r * l->n + c];
  return edit_push(s, e);
}

static int lin_record(rot_state *s, const rot_linear *l) {
  if (s->lin_of_node[l->node]) return s->lin_of_node[l->node] - 1;
  if (s->num_lins == s->cap_lins) {
    s->cap_lins = s->cap_lins ? 2 * s->cap_lins : 16;
    s->lins = kiln_realloc(s->ctx, s->lins, (size_t)s->cap_lins * sizeof *s->lins);
  }
  rot_lin r = {.l = *l, .weight = edit_weight(s, l), .bias = -1};
  s->lins[s->num_lins] = r;
  s->lin_of_node[l->node] = ++s->num_lins;
  return s->num_lins - 1;
}

/* x := x * op for each row's columns [lo, lo + nb*b) in blocks of b, where
 * op is the normalized Hadamard of size b: W <- W (I (x) H_b). */
static void cols_hadamard(rot_state *s, rot_edit *e, int64_t lo, int64_t hi, int64_t b) {
  ir_hadamard *h = kiln_malloc(s->ctx, sizeof *h);
  double tmp[IR_HADAMARD_MAX_M];
  ir_hadamard_init(h, b);
  for (int64_t r = 0; r < e->rows; r++)
    for (int64_t c = lo; c < hi; c += b) ir_hadamard_apply(h, e->w + r * e->cols + c, 1, tmp);
  kiln_free(s->ctx, h);
}

/* W <- (I (x) H_b)^T W over rows [lo, hi): the op down each column. */
static void rows_hadamard(rot_state *s, rot_edit *e, int64_t lo, int64_t hi, int64_t b) {
  ir_hadamard *h = kiln_malloc(s->ctx, sizeof *h);
  double tmp[IR_HADAMARD_MAX_M];
  ir_hadamard_init(h, b);
  for (int64_t c = 0; c < e->cols; c++)
    for (int64_t r = lo; r < hi; r += b) ir_hadamard_apply(h, e->w + r * e->cols + c, e->cols, tmp);
  kiln_free(s->ctx, h);
}

/* The bias constant added right after linear `li`'s output, if any. */
static int lin_bias(rot_state *s, int li) {
  rot_lin *lr = &s->lins[li];
  if (lr->bias >= 0) return lr->bias;
  ir_graph *g = s->g;
  const ir_node *nd = &g->nodes[lr->l.node];
  if (nd->op == IR_OP_GEMM && nd->num_inputs > 2 && nd->inputs[2] >= 0 &&
      rot_const_f32(g, nd->inputs[2]))
    return lr->bias = edit_const(s, lr->l.node, 2, lr->l.n);
  ir_value_id y = nd->outputs[0];
  if (rot_num_uses(&s->u, y) == 1 && s->u.start[y + 1] - s->u.start[y] == 1) {
    rot_use use = s->u.list[s->u.start[y]];
    const ir_node *ad = &g->nodes[use.node];
    ir_value_id c = ad->inputs[1 - use.slot];
    if (ad->op == IR_OP_ADD && rot_const_f32(g, c) && rot_last_dim(g, c) == lr->l.n &&
        ir_shape_numel(&g->values[c].shape) == lr->l.n)
      return lr->bias = edit_const(s, use.node, 1 - use.slot, lr->l.n);
  }
  return -1;
}

/* ---- step 1: the residual stream ------------------------------------------ */

static void push_id(kiln_ctx *ctx, int32_t **list, int *count, int32_t v) {
  for (int i = 0; i < *count; i++)
    if ((*list)[i] == v) return;
  if ((*count & (*count - 1)) == 0 || *count == 0)
    *list = kiln_realloc(ctx, *list, (size_t)(*count ? 2 * *count : 4) * sizeof **list);
  (*list)[(*count)++] = v;
}

static void push_const(kiln_ctx *ctx, rot_comp *c, ir_node_id node, int slot) {
  for (int i = 0; i < c->num_consts; i++)
    if (c->consts[i].node == node && c->consts[i].slot == slot) return;
  if ((c->num_consts & (c->num_consts - 1)) == 0 || c->num_consts == 0)
    c->consts = kiln_realloc(ctx, c->consts,
                             (size_t)(c->num_consts ? 2 * c->num_consts : 4) * sizeof *c->consts);
  c->consts[c->num_consts++] = (rot_use){node, slot};
}

static bool is_view(ir_op op) {
  return op == IR_OP_RESHAPE || op == IR_OP_FLATTEN || op == IR_OP_SQUEEZE ||
         op == IR_OP_UNSQUEEZE || op == IR_OP_IDENTITY;
}

static kiln_status refuse(rot_state *s, ir_node_id n, ir_value_id v, const char *why) {
  if (n >= 0)
    ir_error_node(s->g, n, "fuse-rotations: %s ('%s' is on the residual stream); the rotation "
                  "would not be exact, so the graph is refused", why, s->g->values[v].name);
  else
    kiln_error(s->ctx, "fuse-rotations: '%s' is on the residual stream and %s; the rotation "
               "would not be exact, so the graph is refused", s->g->values[v].name, why);
  return KILN_ERR_UNSUPPORTED;
}

/* Grows component c from the norm inputs over residual Adds, checking
 * every producer and reader of every stream value. */
static kiln_status grow_stream(rot_state *s, rot_comp *c, ir_value_id seed) {
  ir_graph *g = s->g;
  int32_t *queue = kiln_malloc(s->ctx, (size_t)g->num_values * sizeof *queue);
  int head = 0, tail = 0;
  queue[tail++] = seed;
  s->comp[seed] = c->id + 1;
  kiln_status st = KILN_OK;
#define ADD_STREAM(val)                                                   \
  do {                                                                    \
    ir_value_id add_ = (val);                                             \
    if (!s->comp[add_]) {                                                 \
      s->comp[add_] = c->id + 1;                                          \
      queue[tail++] = add_;                                               \
    }                                                                     \
  } while (0)
  while (head < tail && !st) {
    ir_value_id v = queue[head++];
    const ir_value *val = &g->values[v];
    if (val->dtype != IR_F32 || rot_last_dim(g, v) != c->d) {
      st = refuse(s, val->producer, v, "its last dim differs from the stream's width or it is not f32");
      break;
    }
    if (s->u.is_output[v]) {
      st = refuse(s, IR_NONE, v, "is a graph output, which would come out rotated");
      break;
    }
    ir_node_id p = val->producer;
    if (p < 0) {
      st = refuse(s, IR_NONE, v, val->storage == IR_STORAGE_INPUT
                                     ? "is a graph input (kiln can only rotate what it computes)"
                                     : "is a constant read by a norm");
      break;
    }
    const ir_node *pd = &g->nodes[p];
    rot_linear lin;
    switch (pd->op) {
    case IR_OP_ADD:
    case IR_OP_SUB:
      for (int i = 0; i < 2; i++) {
        if (rot_const_f32(g, pd->inputs[i])) {
          int64_t last = rot_last_dim(g, pd->inputs[i]);
          if (last != c->d && last != 1 && g->values[pd->inputs[i]].shape.rank > 0) {
            st = refuse(s, p, v, "a constant added to it broadcasts along the channels");
            break;
          }
          push_const(s->ctx, c, p, i);
        } else if (ir_const_data(g, pd->inputs[i])) {
          st = refuse(s, p, v, "a non-f32 constant is added to it");
          break;
        } else {
          ADD_STREAM(pd->inputs[i]);
        }
      }
      break;
    case IR_OP_MUL:
    case IR_OP_DIV:
      if (rot_is_scalar_const(g, pd->inputs[1])) ADD_STREAM(pd->inputs[0]);
      else if (pd->op == IR_OP_MUL && rot_is_scalar_const(g, pd->inputs[0])) ADD_STREAM(pd->inputs[1]);
      else st = refuse(s, p, v, "it is a product with something other than a scalar constant");
      break;
    case IR_OP_MAT_MUL:
    case IR_OP_GEMM:
      if (!rot_match_linear(g, p, &lin) || lin.n != c->d)
        st = refuse(s, p, v, "it is written by a matrix product that is not a linear layer "
                             "with constant 2-D f32 weights");
      else
        push_id(s->ctx, &c->writers, &c->num_writers, p);
      break;
    case IR_OP_GATHER: {
      ir_value_id table = pd->inputs[0];
      if (!rot_const_f32(g, table) || g->values[table].shape.rank != 2 ||
          ir_attr_int_or(g, p, "axis", 0) != 0)
        st = refuse(s, p, v, "it is gathered from something other than a constant 2-D table");
      else
        push_id(s->ctx, &c->gathers, &c->num_gathers, p);
      break;
    }
    default:
      if (is_view(pd->op) && rot_last_dim(g, pd->inputs[0]) == c->d) ADD_STREAM(pd->inputs[0]);
      else st = refuse(s, p, v, "kiln cannot rotate through the op that writes it");
    }
    if (st) break;
    /* readers */
    for (int32_t k = s->u.start[v]; k < s->u.start[v + 1] && !st; k++) {
      rot_use use = s->u.list[k];
      const ir_node *nd = &g->nodes[use.node];
      int ni = s->norm_of_node[use.node];
      if (ni && s->norms[ni - 1].x == v) {
        push_id(s->ctx, &c->norms, &c->num_norms, ni - 1);
        if (s->norms[ni - 1].kind == ROT_NORM_RMS_OPS) c->rms = true;
        else c->layer = true;
        continue;
      }
      switch (nd->op) {
      case IR_OP_ADD:
      case IR_OP_SUB:
        ADD_STREAM(nd->outputs[0]);
        break;
      case IR_OP_MUL:
      case IR_OP_DIV:
        if (rot_is_scalar_const(g, nd->inputs[1 - use.slot]) && (nd->op == IR_OP_MUL || use.slot == 0))
          ADD_STREAM(nd->outputs[0]);
        else
          st = refuse(s, use.node, v, "it is multiplied by something other than a scalar constant");
        break;
      case IR_OP_MAT_MUL:
      case IR_OP_GEMM:
        if (use.slot == 0 && rot_match_linear(g, use.node, &lin))
          push_id(s->ctx, &c->readers, &c->num_readers, use.node);
        else
          st = refuse(s, use.node, v, "it is read by a matrix product that is not a linear layer "
                                      "with constant weights");
        break;
      default:
        if (is_view(nd->op) && rot_last_dim(g, nd->outputs[0]) == c->d) ADD_STREAM(nd->outputs[0]);
        else st = refuse(s, use.node, v, "it is read by an op that does not commute with a rotation");
      }
    }
  }
#undef ADD_STREAM
  kiln_free(s->ctx, queue);
  return st;
}

/* ---- the rewrite ---------------------------------------------------------- */

/* splitmix64; the signs take its top bit (the low bit alternates for the
 * first outputs of a small seed). */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Writer side of R1 on one edit: each row w <- w C D H (C if centre). */
static void r1_columns(rot_state *s, rot_edit *e, const double *sign, bool centre) {
  for (int64_t r = 0; r < e->rows; r++) {
    double *w = e->w + r * e->cols, mean = 0;
    if (centre) {
      for (int64_t c = 0; c < e->cols; c++) mean += w[c];
      mean /= (double)e->cols;
    }
    for (int64_t c = 0; c < e->cols; c++) w[c] = (w[c] - mean) * sign[c];
  }
  cols_hadamard(s, e, 0, e->cols, e->cols);
}

/* Reader side of R1: W <- H^T D W. */
static void r1_rows(rot_state *s, rot_edit *e, const double *sign) {
  for (int64_t r = 0; r < e->rows; r++)
    for (int64_t c = 0; c < e->cols; c++) e->w[r * e->cols + c] *= sign[r];
  rows_hadamard(s, e, 0, e->rows, e->rows);
}

/* Largest divisor of g that has a Hadamard matrix (1 if only 1). */
static int64_t hadamard_block(int64_t g) {
  for (int64_t b = g; b > 1; b--)
    if (g % b == 0 && ir_hadamard_supported(b)) return b;
  return 1;
}

static ir_value_id new_value_like(ir_graph *g, ir_value_id like, const char *suffix) {
  char name[256];
  snprintf(name, sizeof name, "%s%s", g->values[like].name, suffix);
  ir_shape shape = g->values[like].shape; /* ir_add_value may move the table */
  return ir_add_value(g, name, g->values[like].dtype, &shape);
}

static ir_value_id new_scalar(ir_graph *g, const char *name, float v) {
  ir_shape sh = {.rank = 0};
  return ir_add_const(g, name, IR_F32, &sh, &v, sizeof v, false);
}

/* LayerNormalization(x) -> x / Sqrt(ReduceMean(x * x) + eps); returns the
 * new normalised value. */
static ir_value_id layer_op_to_rms(ir_graph *g, const rot_norm *r) {
  char name[256];
  const char *base = node_name(g, r->node);
  ir_value_id x = r->x;
  ir_shape red = g->values[x].shape;
  red.dims[red.rank - 1] = 1;
  ir_value_id sq = new_value_like(g, x, "/rms_sq");
  snprintf(name, sizeof name, "%s/rms_mean", g->values[x].name);
  ir_value_id ms = ir_add_value(g, name, IR_F32, &red);
  snprintf(name, sizeof name, "%s/rms_var", g->values[x].name);
  ir_value_id ad = ir_add_value(g, name, IR_F32, &red);
  snprintf(name, sizeof name, "%s/rms_std", g->values[x].name);
  ir_value_id sd = ir_add_value(g, name, IR_F32, &red);
  ir_value_id y = new_value_like(g, x, "/rms");
  snprintf(name, sizeof name, "%s/rms_eps", base);
  ir_value_id eps = new_scalar(g, name, (float)r->eps);
  snprintf(name, sizeof name, "%s/rms_sq", base);
  ir_add_node(g, IR_OP_MUL, name, 2, (ir_value_id[]){x, x}, 1, &sq);
  snprintf(name, sizeof name, "%s/rms_mean", base);
  int64_t axis = -1;
  if (g->opset >= 18) {
    ir_shape one = {.rank = 1, .dims = {1}};
    ir_value_id axes = ir_add_const(g, "rms_axes", IR_I64, &one, &axis, sizeof axis, false);
    ir_add_node(g, IR_OP_REDUCE_MEAN, name, 2, (ir_value_id[]){sq, axes}, 1, &ms);
  } else {
    ir_node_id m = ir_add_node(g, IR_OP_REDUCE_MEAN, name, 1, &sq, 1, &ms);
    ir_set_attr_ints(g, m, "axes", &axis, 1);
  }
  snprintf(name, sizeof name, "%s/rms_add_eps", base);
  ir_add_node(g, IR_OP_ADD, name, 2, (ir_value_id[]){ms, eps}, 1, &ad);
  snprintf(name, sizeof name, "%s/rms_sqrt", base);
  ir_add_node(g, IR_OP_SQRT, name, 1, &ad, 1, &sd);
  snprintf(name, sizeof name, "%s/rms_div", base);
  ir_add_node(g, IR_OP_DIV, name, 2, (ir_value_id[]){x, sd}, 1, &y);
  return y;
}

static const char *norm_kind_name(rot_norm_kind k) {
  return k == ROT_NORM_LAYER_OP ? "LayerNormalization" : k == ROT_NORM_LAYER_OPS ? "LayerNorm ops"
                                                                                  : "RMSNorm ops";
}

/* Writes every edit back as a new f32 constant read by its node. */
static void write_edits(rot_state *s) {
  ir_graph *g = s->g;
  for (int i = 0; i < s->num_edits; i++) {
    rot_edit *e = &s->edits[i];
    int64_t n = e->rows * e->cols;
    float *f = kiln_malloc(s->ctx, (size_t)(n ? n : 1) * sizeof *f);
    for (int64_t r = 0; r < e->rows; r++)
      for (int64_t c = 0; c < e->cols; c++)
        f[e->trans ? c * e->rows + r : r * e->cols + c] = (float)e->w[r * e->cols + c];
    char name[256];
    ir_node_id owner = e->node >= 0 ? e->node : s->lins[e->lin].l.node;
    if (e->node >= 0)
      snprintf(name, sizeof name, "%s.rot", g->values[g->nodes[e->node].inputs[e->slot]].name);
    else
      snprintf(name, sizeof name, "%s/folded_bias", g->values[g->nodes[owner].outputs[0]].name);
    ir_value_id v = ir_add_const(g, name, IR_F32, &e->shape, f, n * (int64_t)sizeof *f, false);
    kiln_free(s->ctx, f);
    if (e->node >= 0) {
      g->nodes[e->node].inputs[e->slot] = v;
      continue;
    }
    /* a new bias: the linear writes y0 and Add(y0, v) writes y, which
     * keeps its name and readers (it may be a graph output) */
    ir_value_id y = g->nodes[owner].outputs[0];
    ir_value_id y0 = new_value_like(g, y, "/unbiased");
    g->nodes[owner].outputs[0] = y0;
    g->values[y0].producer = owner;
    snprintf(name, sizeof name, "%s/folded_bias", node_name(g, owner));
    ir_add_node(g, IR_OP_ADD, name, 2, (ir_value_id[]){y0, v}, 1, &y);
  }
}

/* Steps 2-6 on one checked component. */
static void rotate_component(rot_state *s, rot_comp *c) {
  ir_graph *g = s->g;
  int64_t d = c->d;
  bool centre = c->layer;
  double *sign = kiln_malloc(s->ctx, (size_t)d * sizeof *sign);
  uint64_t seed = s->opt ? s->opt->rotate_seed : 0;
  seed ^= (uint64_t)c->id * 0x2545F4914F6CDD1Dull;
  for (int64_t i = 0; i < d; i++) sign[i] = splitmix(&seed) >> 63 ? -1.0 : 1.0;
  report(s, "residual stream of width %lld: %d norm(s) (%s), %d writer(s), %d embedding(s), "
            "%d constant(s); R1 = randomized Hadamard %lld (seed %llu)%s",
         (long long)d, c->num_norms, c->layer ? "LayerNorm -> RMSNorm" : "RMSNorm", c->num_writers,
         c->num_gathers, c->num_consts, (long long)d,
         (unsigned long long)(s->opt ? s->opt->rotate_seed : 0),
         centre ? ", writers mean-centred" : "");

  /* step 2 first: b W uses the weights as they were */
  for (int k = 0; k < c->num_norms; k++) {
    rot_norm *r = &s->norms[c->norms[k]];
    const float *gs = r->scale >= 0 ? rot_const_f32(g, r->scale) : NULL;
    const float *bs = r->bias >= 0 ? rot_const_f32(g, r->bias) : NULL;
    char names[512] = "";
    size_t len = 0;
    int nread = 0;
    for (int32_t q = s->u.start[r->out]; q < s->u.start[r->out + 1]; q++) {
      rot_linear l;
      rot_match_linear(g, s->u.list[q].node, &l);
      int li = lin_record(s, &l);
      rot_edit *w = &s->edits[s->lins[li].weight];
      if (bs) {
        int bi = lin_bias(s, li);
        if (bi < 0) {
          rot_edit e = {.node = IR_NONE, .slot = 0, .rows = 1, .cols = l.n, .lin = li,
                        .shape = {.rank = 1, .dims = {l.n}}};
          e.w = kiln_calloc(s->ctx, (size_t)l.n, sizeof *e.w);
          bi = s->lins[li].bias = edit_push(s, e);
          w = &s->edits[s->lins[li].weight];
        }
        rot_edit *b = &s->edits[bi];
        for (int64_t j = 0; j < l.n; j++) {
          double acc = 0;
          for (int64_t i = 0; i < l.k; i++) acc += bs[i] * w->w[i * l.n + j];
          for (int64_t r2 = 0; r2 < b->rows; r2++) b->w[r2 * b->cols + j] += acc;
        }
      }
      if (gs)
        for (int64_t i = 0; i < l.k; i++)
          for (int64_t j = 0; j < l.n; j++) w->w[i * l.n + j] *= gs[i];
      r1_rows(s, w, sign);
      nread++;
      if (len < sizeof names - 1)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'", nread > 1 ? ", " : "",
                                node_name(g, l.node));
    }
    report(s, "  norm '%s' (%s%s): %s%s folded into %d linear(s) %s, which read the rotated "
              "stream", node_name(g, r->node), norm_kind_name(r->kind),
           centre ? ", now RMSNorm" : "", gs ? "scale" : "no scale", bs ? " and shift" : "",
           nread, names);
  }
  for (int k = 0; k < c->num_readers; k++) {
    rot_linear l;
    rot_match_linear(g, c->readers[k], &l);
    r1_rows(s, &s->edits[s->lins[lin_record(s, &l)].weight], sign);
    report(s, "  linear '%s' reads the stream directly: R1 folded into its rows",
           node_name(g, l.node));
  }
  for (int k = 0; k < c->num_gathers; k++) {
    ir_node_id gn = c->gathers[k];
    r1_columns(s, &s->edits[edit_const(s, gn, 0, d)], sign, centre);
    report(s, "  embedding '%s': R1 folded into its table", node_name(g, gn));
  }
  for (int k = 0; k < c->num_consts; k++) {
    rot_use cu = c->consts[k];
    ir_value_id cv = g->nodes[cu.node].inputs[cu.slot];
    r1_columns(s, &s->edits[edit_const(s, cu.node, cu.slot, d)], sign, centre);
    report(s, "  constant '%s' added to the stream by '%s': R1 folded in", g->values[cv].name,
           node_name(g, cu.node));
  }
  for (int k = 0; k < c->num_writers; k++) {
    rot_linear l;
    rot_match_linear(g, c->writers[k], &l);
    int li = lin_record(s, &l);
    r1_columns(s, &s->edits[s->lins[li].weight], sign, centre);
    /* a Gemm's C is its own stream constant */
    const ir_node *wd = &g->nodes[l.node];
    if (wd->op == IR_OP_GEMM && wd->num_inputs > 2 && wd->inputs[2] >= 0)
      r1_columns(s, &s->edits[lin_bias(s, li)], sign, centre);
    ir_value_id z = wd->inputs[0];
    const char *why = NULL;
    rot_head_path hp;
    int64_t b = 1;
    if (rot_match_head_path(g, &s->u, z, &hp, &why)) {
      b = hadamard_block(hp.block);
      if (b == 1) why = "the head size has no Hadamard matrix";
    }
    if (b > 1) {
      /* R2: V columns and O rows, block diagonal */
      rot_linear vl;
      rot_match_linear(g, hp.v_linear, &vl);
      int vi = lin_record(s, &vl);
      cols_hadamard(s, &s->edits[s->lins[vi].weight], hp.lo, hp.hi, b);
      bool bias_done = false;
      for (int q = 0; q < hp.num_consts; q++) {
        int ei = edit_const(s, hp.const_node[q], hp.const_slot[q], 0);
        bias_done |= ei == s->lins[vi].bias;
        cols_hadamard(s, &s->edits[ei], hp.const_lo[q], hp.const_hi[q], b);
      }
      if (s->lins[vi].bias >= 0 && !bias_done)
        cols_hadamard(s, &s->edits[s->lins[vi].bias], hp.lo, hp.hi, b);
      rows_hadamard(s, &s->edits[s->lins[li].weight], 0, l.k, b);
      report(s, "  writer '%s': R1 folded into its columns; R2 = per-head Hadamard %lld folded "
                "into it and into value projection '%s' (columns %lld..%lld)",
             node_name(g, l.node), (long long)b, node_name(g, vl.node), (long long)hp.lo,
             (long long)hp.hi - 1);
      continue;
    }
    if (ir_hadamard_supported(l.k)) {
      /* online, randomized: z W = (z D H) (H^T D W).  The signs matter:
       * after GELU or ReLU every channel has a positive mean, which a
       * plain H gathers into its first output channel, an outlier of its
       * own; random signs spread it like any other direction. */
      rot_edit *w = &s->edits[s->lins[li].weight];
      float *signs = kiln_malloc(s->ctx, (size_t)l.k * sizeof *signs);
      for (int64_t i = 0; i < l.k; i++) {
        signs[i] = splitmix(&seed) >> 63 ? -1.0f : 1.0f;
        for (int64_t j = 0; j < w->cols; j++) w->w[i * w->cols + j] *= signs[i];
      }
      rows_hadamard(s, w, 0, l.k, l.k);
      char name[256];
      snprintf(name, sizeof name, "%s/signs", node_name(g, l.node));
      ir_shape ks = {.rank = 1, .dims = {l.k}};
      ir_value_id sv = ir_add_const(g, name, IR_F32, &ks, signs, l.k * (int64_t)sizeof *signs, false);
      kiln_free(s->ctx, signs);
      ir_value_id zs = new_value_like(g, z, "/signed"), zh = new_value_like(g, z, "/hadamard");
      snprintf(name, sizeof name, "%s/signs", node_name(g, l.node));
      ir_add_node(g, IR_OP_MUL, name, 2, (ir_value_id[]){z, sv}, 1, &zs);
      snprintf(name, sizeof name, "%s/hadamard", node_name(g, l.node));
      ir_add_node(g, IR_OP_HADAMARD, name, 1, &zs, 1, &zh);
      g->nodes[l.node].inputs[0] = zh;
      report(s, "  writer '%s': R1 folded into its columns; online randomized Hadamard %lld on "
                "its input (not an attention output: %s), its transpose folded into its rows",
             node_name(g, l.node), (long long)l.k, why ? why : "?");
    } else {
      report(s, "  writer '%s': R1 folded into its columns; its input (width %lld) is not "
                "rotated: no Hadamard matrix of that size",
             node_name(g, l.node), (long long)l.k);
    }
  }
  kiln_free(s->ctx, sign);
}

/* Norm rewrites after the weights: drop the affine part, LayerNorm -> RMSNorm. */
static void rewrite_norms(rot_state *s, rot_comp *c) {
  ir_graph *g = s->g;
  for (int k = 0; k < c->num_norms; k++) {
    rot_norm *r = &s->norms[c->norms[k]];
    ir_value_id normed = r->normed;
    if (r->kind == ROT_NORM_LAYER_OP) {
      normed = layer_op_to_rms(g, r);
      g->nodes[r->node].dead = true;
    } else if (r->kind == ROT_NORM_LAYER_OPS) {
      ir_replace_uses(g, r->centred, r->x);
      g->nodes[r->sub_node].dead = true;
      g->nodes[r->x_readers[0]].dead = true; /* the mean */
    }
    if (r->out != normed) ir_replace_uses(g, r->out, normed);
    if (r->scale_node >= 0) g->nodes[r->scale_node].dead = true;
    if (r->bias_node >= 0) g->nodes[r->bias_node].dead = true;
  }
}

static void free_comp(kiln_ctx *ctx, rot_comp *c) {
  kiln_free(ctx, c->writers);
  kiln_free(ctx, c->gathers);
  kiln_free(ctx, c->readers);
  kiln_free(ctx, c->consts);
  kiln_free(ctx, c->norms);
}

/* Checks what step 1 cannot see from the stream alone. */
static kiln_status check_component(rot_state *s, rot_comp *c) {
  ir_graph *g = s->g;
  if (c->layer && (c->rms || c->num_readers)) {
    ir_node_id n = c->num_readers ? c->readers[0] : s->norms[c->norms[0]].node;
    ir_error_node(g, n, "fuse-rotations: the residual stream is read by LayerNorm and by %s; "
                  "it cannot be mean-centred for both, so the graph is refused",
                  c->num_readers ? "this linear directly" : "an RMSNorm");
    return KILN_ERR_UNSUPPORTED;
  }
  if (!ir_hadamard_supported(c->d)) {
    ir_error_node(g, s->norms[c->norms[0]].node,
                  "fuse-rotations: the residual stream has width %lld, which has no Hadamard "
                  "matrix in kiln (2^k times 1, 12, 20, 28, ...)", (long long)c->d);
    return KILN_ERR_UNSUPPORTED;
  }
  for (int k = 0; k < c->num_norms; k++) {
    const rot_norm *r = &s->norms[c->norms[k]];
    if (s->u.is_output[r->out]) {
      ir_error_node(g, r->node, "fuse-rotations: the norm's output '%s' is a graph output; its "
                    "scale cannot be folded away", g->values[r->out].name);
      return KILN_ERR_UNSUPPORTED;
    }
    for (int32_t q = s->u.start[r->out]; q < s->u.start[r->out + 1]; q++) {
      rot_linear l;
      rot_use use = s->u.list[q];
      if (use.slot != 0 || !rot_match_linear(g, use.node, &l)) {
        ir_error_node(g, use.node, "fuse-rotations: reads the output of norm '%s' but is not a "
                      "linear layer with constant weights, so the norm's scale cannot be folded "
                      "and the rotation would not be exact", node_name(g, r->node));
        return KILN_ERR_UNSUPPORTED;
      }
      if (s->comp[g->nodes[use.node].outputs[0]]) {
        ir_error_node(g, use.node, "fuse-rotations: a linear reading a norm writes the residual "
                      "stream directly; kiln does not rotate such blocks");
        return KILN_ERR_UNSUPPORTED;
      }
    }
  }
  for (int k = 0; k < c->num_writers; k++) {
    ir_value_id in = s->g->nodes[c->writers[k]].inputs[0];
    if (s->comp[in]) {
      ir_error_node(g, c->writers[k], "fuse-rotations: a linear reads and writes the residual "
                    "stream; kiln does not rotate such blocks");
      return KILN_ERR_UNSUPPORTED;
    }
  }
  return KILN_OK;
}

kiln_status pass_fuse_rotations(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  rot_state st = {.ctx = ctx, .g = g, .opt = opt};
  rot_state *s = &st;
  rot_uses_build(ctx, g, &s->u);
  s->norm_of_node = kiln_calloc(ctx, (size_t)g->num_nodes + 1, sizeof *s->norm_of_node);
  s->lin_of_node = kiln_calloc(ctx, (size_t)g->num_nodes + 1, sizeof *s->lin_of_node);
  s->comp = kiln_calloc(ctx, (size_t)g->num_values + 1, sizeof *s->comp);
  kiln_status status = KILN_OK;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    rot_norm r;
    if (g->nodes[n].dead || !rot_match_norm(g, &s->u, n, &r)) continue;
    if ((s->num_norms & (s->num_norms - 1)) == 0)
      s->norms = kiln_realloc(ctx, s->norms, (size_t)(s->num_norms ? 2 * s->num_norms : 4) * sizeof r);
    s->norms[s->num_norms++] = r;
    for (int k = 0; k < 2; k++)
      if (r.x_readers[k] >= 0) s->norm_of_node[r.x_readers[k]] = s->num_norms;
  }
  rot_comp comps[16];
  int num_comps = 0;
  for (int k = 0; k < s->num_norms && !status; k++) {
    if (s->comp[s->norms[k].x]) continue;
    if (num_comps == 16) {
      ir_error_node(g, s->norms[k].node, "fuse-rotations: more than 16 residual streams");
      status = KILN_ERR_UNSUPPORTED;
      break;
    }
    rot_comp *c = &comps[num_comps];
    memset(c, 0, sizeof *c);
    c->id = num_comps++;
    c->d = s->norms[k].d;
    status = grow_stream(s, c, s->norms[k].x);
    if (!status) status = check_component(s, c);
  }
  if (!status && num_comps == 0)
    kiln_warn(ctx, "fuse-rotations: no LayerNorm or RMSNorm reading a residual stream in '%s'; "
                   "nothing rotated", g->name ? g->name : "graph");
  if (!status && num_comps) {
    for (int k = 0; k < num_comps; k++) rotate_component(s, &comps[k]);
    write_edits(s);
    for (int k = 0; k < num_comps; k++) rewrite_norms(s, &comps[k]);
    ir_graph_compact(g);
    status = ir_graph_toposort(g);
    for (ir_node_id n = 0; n < g->num_nodes && !status; n++) status = pass_infer_node(g, n);
    ir_graph_recount_uses(g);
  }
  if (s->report_len) {
    bool printing = opt && (opt->print_after_all ||
                            (opt->print_after && !strcmp(opt->print_after, "fuse-rotations")));
    FILE *out = opt && opt->print_stream ? opt->print_stream : stdout;
    for (char *line = s->report; *line;) {
      char *end = strchr(line, '\n');
      *end = 0;
      /* the IR printout gets the whole report as comments; otherwise each
       * stream's summary line is a note (shown under -v) */
      if (printing)
        fprintf(out, "# fuse-rotations: %s\n", line);
      else if (line[0] != ' ')
        kiln_note(ctx, "fuse-rotations: %s", line);
      line = end + 1;
    }
  }
  for (int k = 0; k < num_comps; k++) free_comp(ctx, &comps[k]);
  for (int i = 0; i < s->num_edits; i++) kiln_free(ctx, s->edits[i].w);
  kiln_free(ctx, s->edits);
  kiln_free(ctx, s->lins);
  kiln_free(ctx, s->norms);
  kiln_free(ctx, s->norm_of_node);
  kiln_free(ctx, s->lin_of_node);
  kiln_free(ctx, s->comp);
  kiln_free(ctx, s->report);
  rot_uses_free(ctx, &s->u);
  return status;
}
