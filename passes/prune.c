/*
 * prune.c — the prune pass: zeroes weights of Conv, Gemm and MatMul to a
 * sparsity and a pattern (--prune magnitude|wanda --sparsity S --pattern
 * unstructured|N:M|block:RxC; docs/sparsity.md).
 *
 * Which layers.  Every f32 Conv with a constant W, Gemm with a constant B
 * and MatMul with a constant 2-D B.  --prune-layers FILE.yaml sets the
 * sparsity of named nodes (0 leaves one dense); --prune-keep-ends leaves
 * the first and last of these layers in graph order dense (the stem and
 * the classifier are the ones pruning hurts most).
 *
 * Scores.  magnitude: |w|.  wanda (Sun et al., "A Simple and Effective
 * Pruning Approach for Large Language Models", 2023): |w| times the L2
 * norm of the input channel w multiplies, over every sample of --data
 * (taps through the JIT, calibrate.c), so a small weight on a loud channel
 * outranks a larger one on a quiet channel.
 *
 * Patterns, on the weight seen as outputs x reduction:
 *   - unstructured: the lowest-scoring fraction S of each comparison
 *     group: the whole layer (--prune-group layer, the default), or each
 *     output's row on its own (row: what the Wanda paper does, its norms
 *     being per input channel).  On the test language models Wanda beat
 *     magnitude at 50% only with the same group as magnitude's, the
 *     layer (0.1-1.2% lower perplexity; by row it lost by 0.4-2%:
 *     docs/sparsity.md).
 *   - N:M: in every M consecutive elements of the reduction, the N best
 *     stay.  For a convolution the M run along input channels at one
 *     kernel position (what a 1x1 convolution's GEMM reduces over), so the
 *     channels per group must be a multiple of M; for Gemm and MatMul
 *     along K.  S is 1 - N/M.
 *   - block:RxC: R x C tiles of the weight as stored (MatMul's B [K, N],
 *     Gemm's B as transB stores it, Conv's [Cout, Cin/group*kh*kw]), ranked
 *     across the layer by the sum of their scores; the last row and column
 *     of tiles may be partial.  block:1x16 on a MatMul gives rows of 16
 *     outputs along N: one AVX-512 vector of the sparse kernel.
 * Of equal scores the earlier element ranks lower, so it is the one
 * zeroed (a 2:4 group of equal weights keeps its last two), and the
 * result does not depend on the sort.  The pruned weight is a new
 * constant `W.pruned` whose sparsity fact (ir_sparsity: nm, block or csr)
 * records the pattern.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "calibrate.h"
#include "passes.h"

typedef struct layer {
  ir_node_id n;
  ir_value_id w, x;       /* the weight and the data input it multiplies */
  int64_t rows, cols;     /* the weight as a row-major rows x cols matrix */
  int64_t nout, red;      /* outputs, reduction length per output */
  bool red_rows;          /* the reduction runs down the rows (MatMul, Gemm transB=0) */
  int64_t khw, cg, groups;/* Conv: kernel positions, input channels per group, groups */
  int64_t channels;       /* input channels of x (Wanda's norms) */
  double sparsity;        /* this layer's target, -1: leave dense */
  double *norm;           /* Wanda: L2 norm per input channel */
} layer;

typedef struct prune_state {
  kiln_ctx *ctx;
  ir_graph *g;
  const kiln_options *opt;
  layer *layers;
  int count;
} prune_state;

static int64_t flat(const layer *L, int64_t o, int64_t k) {
  return L->red_rows ? k * L->cols + o : o * L->cols + k;
}

/* The input channel of x that reduction index k of output o reads. */
static int64_t channel_of(const layer *L, int64_t o, int64_t k) {
  if (!L->khw) return k;
  return (o / (L->nout / L->groups)) * L->cg + k / L->khw;
}

/* Fills L for node n if it is a layer the pass prunes. */
static bool match_layer(ir_graph *g, ir_node_id n, layer *L) {
  const ir_node *nd = &g->nodes[n];
  memset(L, 0, sizeof *L);
  L->n = n;
  L->sparsity = -1;
  if (nd->num_inputs < 2 || nd->num_outputs < 1) return false;
  ir_value_id x = nd->inputs[0], w = nd->inputs[1];
  if (x < 0 || w < 0) return false;
  const ir_value *xv = &g->values[x], *wv = &g->values[w];
  if (wv->dtype != IR_F32 || xv->dtype != IR_F32 || !ir_const_data(g, w) ||
      g->values[x].storage == IR_STORAGE_CONST || !ir_shape_is_static(&wv->shape) ||
      !ir_shape_is_static(&xv->shape) || wv->layout.kind != IR_LAYOUT_PLAIN)
    return false;
  L->w = w, L->x = x;
  const ir_shape *ws = &wv->shape;
  switch (nd->op) {
  case IR_OP_CONV: {
    if (ws->rank < 3 || xv->shape.rank != ws->rank) return false;
    L->groups = ir_attr_int_or(g, n, "group", 1);
    if (L->groups < 1) return false;
    L->nout = ws->dims[0];
    L->cg = ws->dims[1];
    L->khw = 1;
    for (int d = 2; d < ws->rank; d++) L->khw *= ws->dims[d];
    L->red = L->cg * L->khw;
    L->rows = L->nout, L->cols = L->red;
    L->channels = xv->shape.dims[1];
    return L->nout % L->groups == 0 && L->channels == L->cg * L->groups;
  }
  case IR_OP_GEMM:
  case IR_OP_MAT_MUL: {
    if (ws->rank != 2 || xv->shape.rank < 1) return false;
    bool transb = nd->op == IR_OP_GEMM && ir_attr_int_or(g, n, "transB", 0);
    if (nd->op == IR_OP_GEMM && ir_attr_int_or(g, n, "transA", 0)) return false;
    L->rows = ws->dims[0], L->cols = ws->dims[1];
    L->red_rows = !transb;
    L->red = transb ? L->cols : L->rows;
    L->nout = transb ? L->rows : L->cols;
    L->channels = xv->shape.dims[xv->shape.rank - 1];
    return L->channels == L->red;
  }
  default: return false;
  }
}

/* ---- per-layer sparsity: --prune-layers FILE.yaml ---------------------------------- */
static int find_layer(prune_state *ps, const char *name) {
  for (int i = 0; i < ps->count; i++) {
    const char *nn = ps->g->nodes[ps->layers[i].n].name;
    if (nn && !strcmp(nn, name)) return i;
  }
  return -1;
}

static kiln_status layers_file_error(prune_state *ps, const char *path, const yaml_node_t *at,
                                     const char *what, const char *arg) {
  const char *saved = ps->ctx->file;
  ps->ctx->file = path;
  if (at)
    kiln_error(ps->ctx, "--prune-layers: line %zu: %s%s", at->start_mark.line + 1, what,
               arg ? arg : "");
  else
    kiln_error(ps->ctx, "--prune-layers: %s%s", what, arg ? arg : "");
  ps->ctx->file = saved;
  return KILN_ERR_INVALID_ARGUMENT;
}

/* A map of node name to sparsity in [0, 1); every name must be a layer
 * the pass prunes, so a typo is an error instead of a dense layer. */
static kiln_status read_layers_file(prune_state *ps, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return layers_file_error(ps, path, NULL, "cannot open the file", NULL);
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, f);
  bool loaded = yaml_parser_load(&parser, &doc);
  fclose(f);
  if (!loaded) {
    kiln_status st = layers_file_error(ps, path, NULL, "malformed YAML: ",
                                       parser.problem ? parser.problem : "?");
    yaml_parser_delete(&parser);
    return st;
  }
  yaml_parser_delete(&parser);
  kiln_status st = KILN_OK;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root || root->type != YAML_MAPPING_NODE) {
    st = layers_file_error(ps, path, root, "expected a map of node name to sparsity", NULL);
    goto done;
  }
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start;
       q < root->data.mapping.pairs.top && !st; q++) {
    yaml_node_t *kn = yaml_document_get_node(&doc, q->key);
    yaml_node_t *vn = yaml_document_get_node(&doc, q->value);
    if (!kn || kn->type != YAML_SCALAR_NODE || !vn || vn->type != YAML_SCALAR_NODE) {
      st = layers_file_error(ps, path, kn, "expected 'NODE: SPARSITY' lines", NULL);
      break;
    }
    const char *name = (const char *)kn->data.scalar.value;
    const char *val = (const char *)vn->data.scalar.value;
    int i = find_layer(ps, name);
    if (i < 0) {
      st = layers_file_error(ps, path, kn, "no Conv, Gemm or MatMul with constant weights is named ",
                             name);
      break;
    }
    char *end;
    double s = strtod(val, &end);
    if (end == val || *end || !(s >= 0 && s < 1)) {
      st = layers_file_error(ps, path, vn, "sparsity must be a number in [0, 1), not ", val);
      break;
    }
    ps->layers[i].sparsity = s > 0 ? s : -1;
  }
done:
  yaml_document_delete(&doc);
  return st;
}

/* ---- Wanda's input norms ------------------------------------------------------------ */
typedef struct norm_acc {
  prune_state *ps;
  ir_value_id *taps;
  int ntaps;
  double **sumsq;         /* per tap, per channel */
  int64_t *channels, *inner;
} norm_acc;

static kiln_status add_squares(void *user, int sweep, int sample, const void *const *tap,
                               const int64_t *numel) {
  (void)sweep, (void)sample;
  norm_acc *a = user;
  for (int t = 0; t < a->ntaps; t++) {
    const float *x = tap[t];
    int64_t C = a->channels[t], inner = a->inner[t];
    double *s = a->sumsq[t];
    for (int64_t e = 0; e < numel[t]; e++) {
      double v = x[e];
      s[(e / inner) % C] += v * v;
    }
  }
  return KILN_OK;
}

static kiln_status wanda_norms(prune_state *ps) {
  ir_graph *g = ps->g;
  norm_acc a = {.ps = ps};
  a.taps = kiln_calloc(ps->ctx, (size_t)ps->count + 1, sizeof *a.taps);
  a.sumsq = kiln_calloc(ps->ctx, (size_t)ps->count + 1, sizeof *a.sumsq);
  a.channels = kiln_calloc(ps->ctx, (size_t)ps->count + 1, sizeof *a.channels);
  a.inner = kiln_calloc(ps->ctx, (size_t)ps->count + 1, sizeof *a.inner);
  int *tap_of = kiln_calloc(ps->ctx, (size_t)ps->count + 1, sizeof *tap_of);
  for (int i = 0; i < ps->count; i++) {
    layer *L = &ps->layers[i];
    tap_of[i] = -1;
    if (L->sparsity < 0) continue;
    for (int t = 0; t < a.ntaps; t++)
      if (a.taps[t] == L->x) tap_of[i] = t;
    if (tap_of[i] >= 0) continue;
    int t = tap_of[i] = a.ntaps++;
    a.taps[t] = L->x;
    a.channels[t] = L->channels;
    /* Conv's x is [N, C, spatial...]: a channel's elements are runs of
     * the spatial size; MatMul's x is [..., K]: channel = index mod K */
    const ir_shape *xs = &g->values[L->x].shape;
    a.inner[t] = 1;
    if (L->khw)
      for (int d = 2; d < xs->rank; d++) a.inner[t] *= xs->dims[d];
    a.sumsq[t] = kiln_calloc(ps->ctx, (size_t)L->channels + 1, sizeof **a.sumsq);
  }
  kiln_status st = KILN_OK;
  if (a.ntaps)
    st = kiln_run_taps(ps->ctx, g, ps->opt, ps->opt->calib_data, a.taps, a.ntaps, 1,
                       "wanda norms", add_squares, &a);
  for (int i = 0; i < ps->count && !st; i++) {
    layer *L = &ps->layers[i];
    if (tap_of[i] < 0) continue;
    L->norm = kiln_calloc(ps->ctx, (size_t)L->channels + 1, sizeof *L->norm);
    for (int64_t c = 0; c < L->channels; c++) L->norm[c] = sqrt(a.sumsq[tap_of[i]][c]);
  }
  for (int t = 0; t < a.ntaps; t++) kiln_free(ps->ctx, a.sumsq[t]);
  kiln_free(ps->ctx, a.sumsq);
  kiln_free(ps->ctx, a.taps);
  kiln_free(ps->ctx, a.channels);
  kiln_free(ps->ctx, a.inner);
  kiln_free(ps->ctx, tap_of);
  return st;
}

/* ---- ranking ------------------------------------------------------------------------ */
typedef struct scored {
  double s;
  int64_t i;
} scored;

static int by_score(const void *pa, const void *pb) {
  const scored *a = pa, *b = pb;
  if (a->s != b->s) return a->s < b->s ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Sorts items[0..n) by score, lowest first (ties: lower index first). */
static void rank(scored *items, int64_t n) { qsort(items, (size_t)n, sizeof *items, by_score); }

static double score(const layer *L, const float *w, int64_t o, int64_t k) {
  double s = fabs(w[flat(L, o, k)]);
  return L->norm ? s * L->norm[channel_of(L, o, k)] : s;
}

static int64_t how_many(double sparsity, int64_t n) { return llround(sparsity * (double)n); }

static void prune_unstructured(prune_state *ps, const layer *L, const float *w, float *out) {
  if (ps->opt->prune_group == KILN_PRUNE_GROUP_LAYER) { /* the whole layer at once */
    int64_t n = L->nout * L->red;
    scored *it = kiln_malloc(ps->ctx, (size_t)n * sizeof *it + 1);
    for (int64_t o = 0; o < L->nout; o++)
      for (int64_t k = 0; k < L->red; k++) {
        int64_t e = flat(L, o, k);
        it[e] = (scored){score(L, w, o, k), e};
      }
    rank(it, n);
    for (int64_t e = 0; e < how_many(L->sparsity, n); e++) out[it[e].i] = 0;
    kiln_free(ps->ctx, it);
    return;
  }
  scored *it = kiln_malloc(ps->ctx, (size_t)L->red * sizeof *it + 1);
  for (int64_t o = 0; o < L->nout; o++) { /* each output's row */
    for (int64_t k = 0; k < L->red; k++) it[k] = (scored){score(L, w, o, k), k};
    rank(it, L->red);
    for (int64_t e = 0; e < how_many(L->sparsity, L->red); e++) out[flat(L, o, it[e].i)] = 0;
  }
  kiln_free(ps->ctx, it);
}

static void prune_nm(const layer *L, const float *w, float *out, int N, int M) {
  int64_t step = L->khw ? L->khw : 1; /* Conv: along channels at one kernel position */
  int64_t runs = L->khw ? L->khw : 1, len = L->red / runs;
  scored it[64];
  for (int64_t o = 0; o < L->nout; o++)
    for (int64_t r = 0; r < runs; r++)
      for (int64_t c0 = 0; c0 < len; c0 += M) {
        for (int j = 0; j < M; j++) {
          int64_t k = (c0 + j) * step + r;
          it[j] = (scored){score(L, w, o, k), k};
        }
        rank(it, M);
        for (int j = 0; j < M - N; j++) out[flat(L, o, it[j].i)] = 0;
      }
}

static void prune_blocks(prune_state *ps, const layer *L, const float *w, float *out, int R,
                         int C) {
  int64_t br = (L->rows + R - 1) / R, bc = (L->cols + C - 1) / C, n = br * bc;
  scored *it = kiln_calloc(ps->ctx, (size_t)n + 1, sizeof *it);
  for (int64_t b = 0; b < n; b++) it[b].i = b;
  for (int64_t r = 0; r < L->rows; r++)
    for (int64_t c = 0; c < L->cols; c++) {
      /* back from the stored (r, c) to (output, reduction) */
      int64_t o = L->red_rows ? c : r, k = L->red_rows ? r : c;
      it[(r / R) * bc + c / C].s += score(L, w, o, k);
    }
  rank(it, n);
  for (int64_t e = 0; e < how_many(L->sparsity, n); e++) {
    int64_t b = it[e].i, r0 = (b / bc) * R, c0 = (b % bc) * C;
    for (int64_t r = r0; r < r0 + R && r < L->rows; r++)
      for (int64_t c = c0; c < c0 + C && c < L->cols; c++) out[r * L->cols + c] = 0;
  }
  kiln_free(ps->ctx, it);
}

/* Checks that the pattern fits layer L's shape; reports on its node. */
static kiln_status check_shape(prune_state *ps, const layer *L) {
  const kiln_options *opt = ps->opt;
  ir_graph *g = ps->g;
  if (opt->pattern == KILN_PATTERN_NM) {
    int64_t len = L->khw ? L->cg : L->red;
    if (len % opt->pattern_m)
      ir_error_node(g, L->n, "prune: pattern %d:%d needs the reduction (%s) to be a multiple of "
                    "%d, and it is %lld", opt->pattern_n, opt->pattern_m,
                    L->khw ? "input channels per group" : "K", opt->pattern_m, (long long)len);
    return len % opt->pattern_m ? KILN_ERR_INVALID_ARGUMENT : KILN_OK;
  }
  if (opt->pattern == KILN_PATTERN_BLOCK &&
      (opt->pattern_n > L->rows || opt->pattern_m > L->cols)) {
    ir_error_node(g, L->n, "prune: block %dx%d is larger than the weight '%s' (%lld x %lld as "
                  "stored)", opt->pattern_n, opt->pattern_m, g->values[L->w].name,
                  (long long)L->rows, (long long)L->cols);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  return KILN_OK;
}

static void prune_layer(prune_state *ps, const layer *L) {
  ir_graph *g = ps->g;
  const kiln_options *opt = ps->opt;
  const float *w = ir_const_data(g, L->w);
  int64_t n = L->rows * L->cols;
  float *out = kiln_malloc(ps->ctx, (size_t)n * sizeof *out + 1);
  memcpy(out, w, (size_t)n * sizeof *out);
  ir_sparsity sp = {.kind = IR_SPARSE_CSR};
  switch (opt->pattern) {
  case KILN_PATTERN_NM:
    prune_nm(L, w, out, opt->pattern_n, opt->pattern_m);
    sp = (ir_sparsity){.kind = IR_SPARSE_NM, .n = opt->pattern_n, .m = opt->pattern_m};
    break;
  case KILN_PATTERN_BLOCK:
    prune_blocks(ps, L, w, out, opt->pattern_n, opt->pattern_m);
    sp = (ir_sparsity){.kind = IR_SPARSE_BLOCK, .n = opt->pattern_n, .m = opt->pattern_m};
    break;
  default: prune_unstructured(ps, L, w, out); break;
  }
  int64_t zeros = 0;
  for (int64_t e = 0; e < n; e++) zeros += out[e] == 0;
  char name[512];
  snprintf(name, sizeof name, "%s.pruned", g->values[L->w].name);
  ir_shape shape = g->values[L->w].shape;
  ir_value_id pv = ir_add_const(g, name, IR_F32, &shape, out, n * (int64_t)sizeof *out, false);
  sp.density = (float)((double)(n - zeros) / (double)(n ? n : 1));
  g->values[pv].sparsity = sp;
  g->nodes[L->n].inputs[1] = pv;
  kiln_free(ps->ctx, out);
  kiln_note(ps->ctx, "prune: node '%s': %lld of %lld weights are zero (%.3f)",
            g->nodes[L->n].name ? g->nodes[L->n].name : "?", (long long)zeros, (long long)n,
            (double)zeros / (double)(n ? n : 1));
}

kiln_status pass_prune(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  if (opt->prune == KILN_PRUNE_NONE) {
    kiln_warn(ctx, "prune: no --prune magnitude|wanda given; the pass changes nothing");
    return KILN_OK;
  }
  prune_state ps = {.ctx = ctx, .g = g, .opt = opt};
  ps.layers = kiln_calloc(ctx, (size_t)g->num_nodes + 1, sizeof *ps.layers);
  double dflt = opt->pattern == KILN_PATTERN_NM ? 1 - (double)opt->pattern_n / opt->pattern_m
                                                : opt->sparsity;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    layer L;
    if (g->nodes[n].dead || !match_layer(g, n, &L)) continue;
    L.sparsity = dflt > 0 ? dflt : -1;
    ps.layers[ps.count++] = L;
  }
  kiln_status st = KILN_OK;
  if (opt->prune_keep_ends && ps.count) {
    ps.layers[0].sparsity = -1;
    ps.layers[ps.count - 1].sparsity = -1;
  }
  if (opt->prune_layers) st = read_layers_file(&ps, opt->prune_layers);
  if (!st && opt->pattern == KILN_PATTERN_NM) /* any sparsity > 0 means the pattern */
    for (int i = 0; i < ps.count; i++)
      if (ps.layers[i].sparsity > 0) ps.layers[i].sparsity = dflt;
  for (int i = 0; i < ps.count && !st; i++)
    if (ps.layers[i].sparsity >= 0) st = check_shape(&ps, &ps.layers[i]);
  if (!st && opt->prune == KILN_PRUNE_WANDA) {
    if (!opt->calib_data) {
      kiln_error(ctx, "prune: --prune wanda needs sample data (--data DIR)");
      st = KILN_ERR_INVALID_ARGUMENT;
    } else {
      st = wanda_norms(&ps);
    }
  }
  for (int i = 0; i < ps.count && !st; i++)
    if (ps.layers[i].sparsity >= 0) prune_layer(&ps, &ps.layers[i]);
  for (int i = 0; i < ps.count; i++) kiln_free(ctx, ps.layers[i].norm);
  kiln_free(ctx, ps.layers);
  if (!st) ir_graph_recount_uses(g);
  return st;
}
