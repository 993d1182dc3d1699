/*
 * plan_memory.c — the plan-memory pass: execution order and workspace
 * offsets for every activation.
 *
 * An ahead-of-time compiler knows every tensor's size and lifetime before
 * the model runs, so the generated code needs exactly one workspace, with
 * every activation at a fixed offset in it.  This pass chooses the order
 * the nodes run in and those offsets (ir_value.offset, 64-byte aligned),
 * and records the workspace size (ir_graph.workspace_size).  Graph inputs,
 * graph outputs and constants are not in the workspace: the caller owns
 * the first two, the weights are read-only data.
 *
 * The plan is made in four steps for a given order:
 *
 *  1. Lifetimes (memory_live.c): a value is live from its producer's step
 *     to its last reader's step.
 *
 *  2. Sharing.  Values are grouped into *buffers*: a union-find whose
 *     members carry their byte offset inside the buffer.  Buffers join by
 *       - views: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
 *         outputs are their input's bytes (always: the code generator
 *         aliases them), which keeps the input's buffer alive as long as
 *         any view of it is used;
 *       - Split: an output that is a contiguous slice of the input (every
 *         dim before the axis is 1) is a view of that slice;
 *       - Concat: when the slices are contiguous, each input's producer
 *         writes straight into its slice of the output (later concats
 *         first, so nested concats chain);
 *       - in place: an elementwise op whose input dies at that node writes
 *         its output over it (same size; only between buffers of exactly
 *         that size, so no larger buffer is kept alive longer).
 *     A merge is accepted only if no two members of the joined buffer
 *     that share a byte are live at the same step, unless they hold the
 *     same data on those bytes (traced byte by byte through views and the
 *     slices decided so far: ir_mem_same_data) or are the in-place pair
 *     itself.  Slices must start on 64-byte boundaries.
 *
 *  3. Placement: each buffer is a rectangle (its lifetime by its size);
 *     rectangles are placed with best fit — each into the smallest gap
 *     among the already placed rectangles that overlap it in time, else
 *     above them all — taking them largest first (greedy by size: the
 *     TFLite arena planner; Pisarchyk & Lee, "Efficient Memory Management
 *     for Deep Neural Net Inference", 2020), and also largest area first
 *     and earliest first, keeping the best of the three.
 *
 *  4. Choice: the above runs for the graph's own order and for a greedy
 *     memory-aware topological order — repeatedly run the ready node that
 *     adds the fewest bytes (its new buffers minus the buffers it reads
 *     last), ties to the earlier node — each with and without Split and
 *     Concat slices (a slice keeps the whole concat buffer reserved from
 *     its first producer on, which now and then costs more than the copy
 *     saves).  The smallest workspace wins; ties go to slices, then to the
 *     graph's order (stable dumps).  The winning order is written back
 *     into g->nodes.
 *
 * In builds with assertions the result is re-checked by ir_memory_check,
 * which proves the plan from the graph alone.  docs/passes.md describes
 * the contract the code generator follows.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "passes.h"

/* Pairs a merge may compare before it gives up (keeps huge groups cheap). */
enum { MAX_MERGE_PAIRS = 1 << 20 };

typedef struct plan {
  const ir_graph *g;
  kiln_ctx *ctx;
  ir_mem_live lv;
  int32_t *parent;       /* buffer union-find: parent value */
  int64_t *delta;        /* offset from the parent's start */
  int32_t *next;         /* circular list of a buffer's members */
  ir_mem_slices sl;      /* the Split outputs and Concat inputs made slices */
  int64_t *offset;       /* result per value */
  int64_t workspace;
} plan;

static bool in_ws(const plan *p, ir_value_id v) {
  return p->lv.kind[v] != IR_MEM_NONE && p->lv.bytes[v] > 0;
}

/* Root of v's buffer; *dv = v's offset from the root's start.  Path
 * compression keeps chains of in-place merges short. */
static int32_t buf_find(plan *p, int32_t v, int64_t *dv) {
  int32_t r = v;
  int64_t total = 0;
  while (p->parent[r] != r) {
    total += p->delta[r];
    r = p->parent[r];
  }
  int64_t rest = total;
  for (int32_t x = v; p->parent[x] != x;) {
    int32_t nx = p->parent[x];
    int64_t dx = p->delta[x];
    p->parent[x] = r;
    p->delta[x] = rest;
    rest -= dx;
    x = nx;
  }
  if (dv) *dv = total;
  return r;
}

static int32_t buf_count(const plan *p, int32_t root) {
  int32_t c = 0, m = root;
  do {
    c++;
    m = p->next[m];
  } while (m != root);
  return c;
}

/* Extent of the buffer rooted at r: [*lo, *hi) in deltas. */
static void buf_extent(plan *p, int32_t r, int64_t *lo, int64_t *hi) {
  *lo = INT64_MAX;
  *hi = INT64_MIN;
  int32_t m = r;
  do {
    int64_t d;
    buf_find(p, m, &d);
    if (d < *lo) *lo = d;
    if (d + p->lv.bytes[m] > *hi) *hi = d + p->lv.bytes[m];
    m = p->next[m];
  } while (m != r);
}

/* At step t, may u (at du) and w (at dw) share bytes as the in-place pair
 * of output y over one of t's inputs read for the last time? */
static bool in_place_pair(plan *p, ir_value_id u, int64_t du, ir_value_id w, int64_t dw,
                          int32_t t, ir_value_id y) {
  if (t < 0) return false;
  if (w == y) {
    ir_value_id tmp = u;
    u = w;
    w = tmp;
    int64_t td = du;
    du = dw;
    dw = td;
  }
  if (u != y || p->lv.last[w] != t || du != dw || p->lv.bytes[w] != p->lv.bytes[y] ||
      ir_mem_numel(p->g, w) != ir_mem_numel(p->g, y))
    return false;
  const ir_node *nd = &p->g->nodes[p->lv.order[t]];
  for (int i = 0; i < nd->num_inputs; i++)
    if (nd->inputs[i] == w) return true;
  return false;
}

/*
 * Moves x's buffer so that x starts `at` bytes after y's start, joining
 * the two buffers, if that is safe: no two members that would share a
 * byte are live at a common step unless they hold the same data there
 * (with the slices decided so far, including the one being tried) or are
 * the in-place pair of output y over input x at step t (t >= 0).
 */
static bool try_merge(plan *p, ir_value_id x, ir_value_id y, int64_t at, int32_t t) {
  int64_t dx, dy;
  int32_t rx = buf_find(p, x, &dx), ry = buf_find(p, y, &dy);
  if (rx == ry) return false;
  int64_t shift = dy + at - dx;
  if (shift % IR_MEM_ALIGN) return false;
  if ((int64_t)buf_count(p, rx) * buf_count(p, ry) > MAX_MERGE_PAIRS) return false;
  const ir_mem_live *lv = &p->lv;
  int32_t a = rx;
  do {
    int64_t da;
    buf_find(p, a, &da);
    da += shift;
    int32_t b = ry;
    do {
      int64_t db;
      buf_find(p, b, &db);
      bool bytes_meet = da < db + lv->bytes[b] && db < da + lv->bytes[a];
      bool times_meet = lv->def[a] <= lv->last[b] && lv->def[b] <= lv->last[a];
      if (bytes_meet && times_meet && !ir_mem_same_data(p->g, lv, &p->sl, a, da, b, db) &&
          !in_place_pair(p, a, da, b, db, t, t >= 0 ? y : IR_NONE))
        return false;
      b = p->next[b];
    } while (b != ry);
    a = p->next[a];
  } while (a != rx);

  p->parent[rx] = ry;
  p->delta[rx] = shift;
  int32_t tmp = p->next[rx]; /* splice the member lists */
  p->next[rx] = p->next[ry];
  p->next[ry] = tmp;
  return true;
}

/* Step 2 of the essay: views, split and concat slices (if `slices`), in
 * place. */
static void share(plan *p, bool slices) {
  const ir_graph *g = p->g;
  const ir_mem_live *lv = &p->lv;
  for (int32_t s = 0; s < lv->num_steps; s++) {
    const ir_node *nd = &g->nodes[lv->order[s]];
    ir_value_id y = nd->num_outputs > 0 ? nd->outputs[0] : IR_NONE;
    if (y >= 0 && lv->kind[y] == IR_MEM_VIEW && in_ws(p, y)) {
      bool ok = try_merge(p, y, nd->inputs[0], 0, -1);
      assert(ok && "a view always fits its input's buffer");
      (void)ok;
    }
  }
  for (int32_t s = 0; s < lv->num_steps; s++) {
    ir_node_id n = lv->order[s];
    const ir_node *nd = &g->nodes[n];
    if (!slices || nd->op != IR_OP_SPLIT || nd->inputs[0] < 0 || !in_ws(p, nd->inputs[0]))
      continue;
    for (int i = 0; i < nd->num_outputs; i++) {
      ir_value_id y = nd->outputs[i];
      int64_t at = ir_mem_slice_offset(g, n, true, i);
      if (y < 0 || at < 0 || lv->kind[y] != IR_MEM_OWN || !in_ws(p, y)) continue;
      p->sl.split_out[y] = 1; /* tried as decided; undone if unsafe */
      if (!try_merge(p, y, nd->inputs[0], at, -1)) p->sl.split_out[y] = 0;
    }
  }
  for (int32_t s = lv->num_steps - 1; s >= 0; s--) {
    ir_node_id n = lv->order[s];
    const ir_node *nd = &g->nodes[n];
    ir_value_id c = nd->outputs[0];
    if (!slices || nd->op != IR_OP_CONCAT || c < 0 || lv->kind[c] != IR_MEM_OWN || !in_ws(p, c))
      continue;
    for (int i = 0; i < nd->num_inputs; i++) {
      ir_value_id x = nd->inputs[i];
      if (x < 0 || !in_ws(p, x)) continue;
      int uses = 0;
      for (int k = 0; k < nd->num_inputs; k++) uses += nd->inputs[k] == x;
      int64_t at = ir_mem_slice_offset(g, n, false, i);
      if (uses != 1 || at < 0) continue;
      p->sl.concat_in[p->sl.slot[n] + i] = 1;
      if (!try_merge(p, x, c, at, -1)) p->sl.concat_in[p->sl.slot[n] + i] = 0;
    }
  }
  for (int32_t s = 0; s < lv->num_steps; s++) {
    const ir_node *nd = &g->nodes[lv->order[s]];
    if (nd->num_outputs != 1) continue;
    ir_value_id y = nd->outputs[0];
    if (y < 0 || lv->kind[y] != IR_MEM_OWN || !in_ws(p, y)) continue;
    for (int i = 0; i < nd->num_inputs; i++) {
      ir_value_id x = nd->inputs[i];
      if (x < 0 || !ir_mem_in_place_input(nd->op, i) || !in_ws(p, x) || lv->bytes[x] != lv->bytes[y] || lv->last[x] != s ||
          ir_mem_numel(g, x) != ir_mem_numel(g, y) ||
          /* an element's bytes move when the layouts differ (a plain
           * residual of a blocked convolution output) */
          g->values[x].layout.kind != g->values[y].layout.kind)
        continue;
      /* only between buffers of exactly this size */
      int64_t lo_x, hi_x, lo_y, hi_y;
      buf_extent(p, buf_find(p, x, NULL), &lo_x, &hi_x);
      buf_extent(p, buf_find(p, y, NULL), &lo_y, &hi_y);
      if (hi_x - lo_x != lv->bytes[y] || hi_y - lo_y != lv->bytes[y]) continue;
      if (try_merge(p, x, y, 0, s)) break;
    }
  }
}

/* ---- placement ----------------------------------------------------------------- */
typedef struct rect {
  int32_t root;
  int32_t start, end;    /* steps, inclusive */
  int64_t lo;            /* lowest member delta */
  int64_t size;          /* aligned extent */
  int64_t offset;        /* placed offset of delta lo */
} rect;

static int cmp_rect_size(const void *pa, const void *pb) {
  const rect *a = pa, *b = pb;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  int32_t la = a->end - a->start, lb = b->end - b->start;
  if (la != lb) return la > lb ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return a->root < b->root ? -1 : a->root > b->root;
}

static int cmp_rect_offset(const void *pa, const void *pb) {
  const rect *a = *(const rect *const *)pa, *b = *(const rect *const *)pb;
  if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
  return a->root < b->root ? -1 : a->root > b->root;
}

static int cmp_rect_area(const void *pa, const void *pb) {
  const rect *a = pa, *b = pb;
  double xa = (double)a->size * (a->end - a->start + 1);
  double xb = (double)b->size * (b->end - b->start + 1);
  if (xa != xb) return xa > xb ? -1 : 1;
  return cmp_rect_size(pa, pb);
}

static int cmp_rect_start(const void *pa, const void *pb) {
  const rect *a = pa, *b = pb;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return cmp_rect_size(pa, pb);
}

/* Best fit in the order `cmp` sorts the rectangles into (step 3);
 * returns the workspace size. */
static int64_t place_with(plan *p, rect *rs, int32_t count, int (*cmp)(const void *, const void *)) {
  qsort(rs, (size_t)count, sizeof *rs, cmp);
  rect **near = kiln_malloc(p->ctx, ((size_t)count + 1) * sizeof *near);
  int64_t top = 0;
  for (int32_t i = 0; i < count; i++) {
    rect *r = &rs[i];
    int32_t nn = 0;
    for (int32_t j = 0; j < i; j++)
      if (rs[j].start <= r->end && r->start <= rs[j].end) near[nn++] = &rs[j];
    qsort(near, (size_t)nn, sizeof *near, cmp_rect_offset);
    int64_t prev = 0, best = -1, best_gap = INT64_MAX;
    for (int32_t j = 0; j < nn; j++) {
      int64_t gap = near[j]->offset - prev;
      if (gap >= r->size && gap < best_gap) {
        best = prev;
        best_gap = gap;
      }
      if (near[j]->offset + near[j]->size > prev) prev = near[j]->offset + near[j]->size;
    }
    r->offset = best >= 0 ? best : prev;
    if (r->offset + r->size > top) top = r->offset + r->size;
  }
  kiln_free(p->ctx, near);
  return top;
}

/* Step 3: best fit in three orders — by size (the paper's), by area
 * (size times lifetime), by start — keeping the smallest workspace (ties
 * to the earlier order).  Each order wins on some graphs; all are cheap. */
static int64_t place(plan *p, rect *rs, int32_t count) {
  int (*const orders[])(const void *, const void *) = {cmp_rect_size, cmp_rect_area,
                                                        cmp_rect_start};
  int64_t best = INT64_MAX;
  int which = 0;
  for (int i = 0; i < 3; i++) {
    int64_t w = place_with(p, rs, count, orders[i]);
    if (w < best) {
      best = w;
      which = i;
    }
  }
  return which == 2 ? best : place_with(p, rs, count, orders[which]);
}

/* Plans g for `order`, with or without Split/Concat slices; fills p (free
 * with plan_free). */
static void plan_order(plan *p, const ir_graph *g, const int32_t *order, int32_t steps,
                       bool slices) {
  kiln_ctx *ctx = g->ctx;
  memset(p, 0, sizeof *p);
  p->g = g;
  p->ctx = ctx;
  ir_value_id bad;
  ir_mem_live_compute(g, order, steps, &p->lv, &bad);
  assert(bad == IR_NONE);
  size_t nv = (size_t)g->num_values + 1;
  p->parent = kiln_malloc(ctx, nv * sizeof *p->parent);
  p->delta = kiln_calloc(ctx, nv, sizeof *p->delta);
  p->next = kiln_malloc(ctx, nv * sizeof *p->next);
  ir_mem_slices_init(g, &p->sl);
  p->offset = kiln_malloc(ctx, nv * sizeof *p->offset);
  for (int32_t v = 0; v < g->num_values; v++) {
    p->parent[v] = p->next[v] = v;
    p->offset[v] = p->lv.kind[v] != IR_MEM_NONE ? 0 : -1; /* empty values sit at 0 */
  }
  share(p, slices);

  rect *rs = kiln_malloc(ctx, nv * sizeof *rs);
  int32_t count = 0;
  for (int32_t v = 0; v < g->num_values; v++) {
    if (!in_ws(p, v) || buf_find(p, v, NULL) != v) continue;
    rect *r = &rs[count++];
    int64_t hi;
    buf_extent(p, v, &r->lo, &hi);
    r->root = v;
    r->size = ir_mem_align(hi - r->lo);
    r->start = INT32_MAX;
    r->end = INT32_MIN;
    int32_t m = v;
    do {
      if (p->lv.def[m] < r->start) r->start = p->lv.def[m];
      if (p->lv.last[m] > r->end) r->end = p->lv.last[m];
      m = p->next[m];
    } while (m != v);
  }
  p->workspace = place(p, rs, count);
  int64_t *root_off = kiln_malloc(ctx, nv * sizeof *root_off);
  for (int32_t i = 0; i < count; i++) root_off[rs[i].root] = rs[i].offset - rs[i].lo;
  for (int32_t v = 0; v < g->num_values; v++) {
    if (!in_ws(p, v)) continue;
    int64_t d;
    int32_t r = buf_find(p, v, &d);
    p->offset[v] = root_off[r] + d;
  }
  kiln_free(ctx, root_off);
  kiln_free(ctx, rs);
}

static void plan_free(plan *p) {
  kiln_ctx *ctx = p->ctx;
  ir_mem_live_free(p->g, &p->lv);
  kiln_free(ctx, p->parent);
  kiln_free(ctx, p->delta);
  kiln_free(ctx, p->next);
  ir_mem_slices_free(p->g, &p->sl);
  kiln_free(ctx, p->offset);
}

/* ---- a memory-aware order (step 4) ------------------------------------------------ */
typedef struct heap_item {
  int64_t score;         /* bytes the node adds when it runs */
  int32_t node, version;
} heap_item;

static bool heap_less(const heap_item *a, const heap_item *b) {
  if (a->score != b->score) return a->score < b->score;
  return a->node < b->node;
}

static void heap_push(heap_item *h, int32_t *n, heap_item it) {
  int32_t i = (*n)++;
  h[i] = it;
  while (i > 0 && heap_less(&h[i], &h[(i - 1) / 2])) {
    heap_item t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static heap_item heap_pop(heap_item *h, int32_t *n) {
  heap_item top = h[0];
  h[0] = h[--*n];
  for (int32_t i = 0;;) {
    int32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < *n && heap_less(&h[l], &h[m])) m = l;
    if (r < *n && heap_less(&h[r], &h[m])) m = r;
    if (m == i) break;
    heap_item t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

/* The value whose bytes v's are, following views. */
static ir_value_id view_root(const ir_mem_live *lv, ir_value_id v) {
  while (lv->kind[v] == IR_MEM_VIEW) v = lv->source[v];
  return v;
}

typedef struct sched {
  const ir_graph *g;
  const ir_mem_live *lv; /* lifetimes in the graph's order (kinds, sizes, pins) */
  int32_t *pending;      /* per root value: consumer nodes still to run */
  bool *pinned;          /* per root: lives to the end of the run */
  ir_value_id *roots;    /* scratch: distinct input roots of a node */
} sched;

/* Distinct workspace roots node n reads; returns their count. */
static int node_roots(const sched *s, ir_node_id n, ir_value_id *roots) {
  const ir_node *nd = &s->g->nodes[n];
  int k = 0;
  for (int i = 0; i < nd->num_inputs; i++) {
    ir_value_id x = nd->inputs[i];
    if (x < 0 || s->lv->kind[x] == IR_MEM_NONE) continue;
    ir_value_id r = view_root(s->lv, x);
    bool seen = false;
    for (int j = 0; j < k; j++) seen |= roots[j] == r;
    if (!seen) roots[k++] = r;
  }
  return k;
}

static int64_t node_score(const sched *s, ir_node_id n) {
  const ir_node *nd = &s->g->nodes[n];
  int64_t score = 0;
  for (int i = 0; i < nd->num_outputs; i++) {
    ir_value_id o = nd->outputs[i];
    /* an output nobody reads is freed as soon as it is written */
    if (o >= 0 && s->lv->kind[o] == IR_MEM_OWN && (s->pending[o] > 0 || s->pinned[o]))
      score += s->lv->bytes[o];
  }
  int k = node_roots(s, n, s->roots);
  for (int j = 0; j < k; j++)
    if (s->pending[s->roots[j]] == 1 && !s->pinned[s->roots[j]]) score -= s->lv->bytes[s->roots[j]];
  return score;
}

/* Fills order[] with a greedy memory-aware topological order of the live
 * nodes listed in lv (see step 4). */
static void greedy_order(const ir_graph *g, const ir_mem_live *lv, int32_t *order) {
  kiln_ctx *ctx = g->ctx;
  int32_t nn = g->num_nodes, nv = g->num_values, steps = lv->num_steps;
  sched s = {.g = g, .lv = lv};
  s.pending = kiln_calloc(ctx, (size_t)nv + 1, sizeof *s.pending);
  s.pinned = kiln_calloc(ctx, (size_t)nv + 1, sizeof *s.pinned);
  int max_in = 1;
  for (int32_t i = 0; i < steps; i++)
    if (g->nodes[lv->order[i]].num_inputs > max_in) max_in = g->nodes[lv->order[i]].num_inputs;
  s.roots = kiln_malloc(ctx, (size_t)max_in * sizeof *s.roots);
  ir_value_id *roots = kiln_malloc(ctx, (size_t)max_in * sizeof *roots);

  /* consumers per root (CSR) and unmet producer edges per node */
  int32_t *start = kiln_calloc(ctx, (size_t)nv + 2, sizeof *start);
  int32_t *waiting = kiln_calloc(ctx, (size_t)nn + 1, sizeof *waiting);
  for (int32_t i = 0; i < steps; i++) {
    ir_node_id n = lv->order[i];
    int k = node_roots(&s, n, roots);
    for (int j = 0; j < k; j++) start[roots[j] + 1]++;
    const ir_node *nd = &g->nodes[n];
    for (int j = 0; j < nd->num_inputs; j++)
      if (nd->inputs[j] >= 0 && g->values[nd->inputs[j]].producer >= 0) waiting[n]++;
  }
  for (ir_value_id v = 0; v < nv; v++) {
    s.pending[v] = start[v + 1];
    start[v + 1] += start[v];
    if (lv->kind[v] != IR_MEM_NONE && lv->last[v] == steps) s.pinned[view_root(lv, v)] = true;
  }
  int32_t *users = kiln_malloc(ctx, ((size_t)start[nv] + 1) * sizeof *users);
  int32_t *fill = kiln_calloc(ctx, (size_t)nv + 1, sizeof *fill);
  for (int32_t i = 0; i < steps; i++) {
    ir_node_id n = lv->order[i];
    int k = node_roots(&s, n, roots);
    for (int j = 0; j < k; j++) users[start[roots[j]] + fill[roots[j]]++] = n;
  }

  /* reader nodes per value, one entry per input slot */
  int32_t *rstart = kiln_calloc(ctx, (size_t)nv + 2, sizeof *rstart);
  for (int32_t i = 0; i < steps; i++) {
    const ir_node *nd = &g->nodes[lv->order[i]];
    for (int j = 0; j < nd->num_inputs; j++)
      if (nd->inputs[j] >= 0 && g->values[nd->inputs[j]].producer >= 0) rstart[nd->inputs[j] + 1]++;
  }
  for (ir_value_id v = 0; v < nv; v++) rstart[v + 1] += rstart[v];
  int32_t *readers = kiln_malloc(ctx, ((size_t)rstart[nv] + 1) * sizeof *readers);
  memset(fill, 0, ((size_t)nv + 1) * sizeof *fill);
  for (int32_t i = 0; i < steps; i++) {
    ir_node_id n = lv->order[i];
    const ir_node *nd = &g->nodes[n];
    for (int j = 0; j < nd->num_inputs; j++) {
      ir_value_id x = nd->inputs[j];
      if (x >= 0 && g->values[x].producer >= 0) readers[rstart[x] + fill[x]++] = n;
    }
  }

  int32_t *version = kiln_calloc(ctx, (size_t)nn + 1, sizeof *version);
  bool *done = kiln_calloc(ctx, (size_t)nn + 1, sizeof *done);
  /* every push is a node becoming ready (once per reader edge at most)
   * or a score change (once per root and consumer) */
  heap_item *heap =
      kiln_malloc(ctx, ((size_t)steps + (size_t)start[nv] + (size_t)rstart[nv] + 1) * sizeof *heap);
  int32_t hn = 0, count = 0;
  for (int32_t i = 0; i < steps; i++)
    if (!waiting[lv->order[i]])
      heap_push(heap, &hn, (heap_item){node_score(&s, lv->order[i]), lv->order[i], 0});
  while (hn > 0) {
    heap_item it = heap_pop(heap, &hn);
    if (done[it.node] || it.version != version[it.node]) continue;
    ir_node_id n = it.node;
    done[n] = true;
    order[count++] = n;
    int k = node_roots(&s, n, roots);
    for (int j = 0; j < k; j++) {
      ir_value_id r = roots[j];
      if (--s.pending[r] != 1) continue;
      /* one reader of r is left; running it frees r, so its score drops */
      for (int32_t e = start[r]; e < start[r + 1]; e++) {
        ir_node_id m = users[e];
        if (!done[m] && !waiting[m])
          heap_push(heap, &hn, (heap_item){node_score(&s, m), m, ++version[m]});
      }
    }
    /* nodes reading n's outputs lose one unmet edge per input slot */
    const ir_node *nd = &g->nodes[n];
    for (int i = 0; i < nd->num_outputs; i++) {
      ir_value_id o = nd->outputs[i];
      if (o < 0) continue;
      for (int32_t e = rstart[o]; e < rstart[o + 1]; e++) {
        ir_node_id m = readers[e];
        if (--waiting[m] == 0)
          heap_push(heap, &hn, (heap_item){node_score(&s, m), m, ++version[m]});
      }
    }
  }
  assert(count == steps);
  kiln_free(ctx, heap);
  kiln_free(ctx, readers);
  kiln_free(ctx, rstart);
  kiln_free(ctx, done);
  kiln_free(ctx, version);
  kiln_free(ctx, fill);
  kiln_free(ctx, users);
  kiln_free(ctx, waiting);
  kiln_free(ctx, start);
  kiln_free(ctx, roots);
  kiln_free(ctx, s.roots);
  kiln_free(ctx, s.pinned);
  kiln_free(ctx, s.pending);
}

/* ---- the pass ----------------------------------------------------------------------- */
/* Puts g's nodes in `order` and re-links producers. */
static void apply_order(ir_graph *g, const int32_t *order) {
  int32_t nn = g->num_nodes;
  ir_node *sorted = kiln_malloc(g->ctx, ((size_t)nn + 1) * sizeof *sorted);
  for (int32_t i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
  if (nn) memcpy(g->nodes, sorted, (size_t)nn * sizeof *sorted);
  kiln_free(g->ctx, sorted);
  for (ir_value_id v = 0; v < g->num_values; v++) g->values[v].producer = IR_NONE;
  for (int32_t n = 0; n < nn; n++)
    for (int i = 0; i < g->nodes[n].num_outputs; i++)
      if (g->nodes[n].outputs[i] >= 0) g->values[g->nodes[n].outputs[i]].producer = n;
}

/* --memory-report and --memory-svg FILE, when the options ask for them. */
static kiln_status write_outputs(kiln_ctx *ctx, const ir_graph *g, const kiln_options *opt) {
  if (opt && opt->memory_report) {
    FILE *out = opt->print_stream ? opt->print_stream : stdout;
    ir_memory_report(g, out);
    fflush(out);
  }
  if (opt && opt->memory_svg) {
    FILE *f = fopen(opt->memory_svg, "w");
    if (!f) {
      kiln_error(ctx, "cannot write the memory picture '%s': %s", opt->memory_svg, strerror(errno));
      return KILN_ERR_IO;
    }
    ir_memory_svg(g, f);
    if (fclose(f) != 0) {
      kiln_error(ctx, "cannot write the memory picture '%s': %s", opt->memory_svg, strerror(errno));
      return KILN_ERR_IO;
    }
  }
  return KILN_OK;
}

/* The control-flow node (If, Loop, Scan) value v comes from, directly or
 * through other nodes, or IR_NONE. */
static ir_node_id control_flow_behind(const ir_graph *g, ir_value_id v, int depth) {
  ir_node_id p = v >= 0 ? g->values[v].producer : IR_NONE;
  if (p < 0 || depth > 256) return IR_NONE;
  ir_op op = g->nodes[p].op;
  if (op == IR_OP_IF || op == IR_OP_LOOP || op == IR_OP_SCAN) return p;
  for (int i = 0; i < g->nodes[p].num_inputs; i++) {
    ir_node_id c = control_flow_behind(g, g->nodes[p].inputs[i], depth + 1);
    if (c >= 0) return c;
  }
  return IR_NONE;
}

/* Reports why value `bad` has no static size in the user's terms: control
 * flow inline-control-flow could not copy (with its reason), or else a
 * symbolic input dim. */
static void explain_no_size(ir_graph *g, ir_value_id bad) {
  ir_node_id cf = control_flow_behind(g, bad, 0);
  if (cf >= 0) {
    char why[640];
    pass_control_flow_why(g, cf, why, sizeof why);
    ir_error_node(g, cf, "cannot be compiled: %s", why);
    return;
  }
  ir_error_node(g, g->values[bad].producer,
                "value '%s' has no static size; plan-memory needs every activation's size "
                "(fix symbolic input dims with --shape)",
                g->values[bad].name);
}

kiln_status pass_plan_memory(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  ir_graph_compact(g);
  for (ir_value_id v = 0; v < g->num_values; v++) g->values[v].offset = -1;
  g->workspace_size = 0;

  ir_mem_live lv;
  ir_value_id bad;
  ir_mem_live_compute(g, NULL, 0, &lv, &bad);
  if (bad != IR_NONE) {
    explain_no_size(g, bad);
    ir_mem_live_free(g, &lv);
    return KILN_ERR_UNSUPPORTED;
  }
  int32_t steps = lv.num_steps;
  int32_t *orders[2];
  orders[0] = kiln_malloc(ctx, ((size_t)steps + 1) * sizeof *orders[0]);
  orders[1] = kiln_malloc(ctx, ((size_t)steps + 1) * sizeof *orders[1]);
  memcpy(orders[0], lv.order, (size_t)steps * sizeof *lv.order);
  greedy_order(g, &lv, orders[1]);
  ir_mem_live_free(g, &lv);

  /* candidates in order of preference; the first smallest wins */
  plan best;
  int which = -1;
  for (int c = 0; c < 4; c++) {
    plan cand;
    plan_order(&cand, g, orders[c & 1], steps, c < 2);
    kiln_note(ctx, "plan-memory: workspace %lld bytes in the %s order, %s slices",
              (long long)cand.workspace, c & 1 ? "memory-aware" : "graph's",
              c < 2 ? "with" : "without");
    if (which < 0 || cand.workspace < best.workspace) {
      if (which >= 0) plan_free(&best);
      best = cand;
      which = c & 1;
    } else {
      plan_free(&cand);
    }
  }

  apply_order(g, orders[which]);
  for (ir_value_id v = 0; v < g->num_values; v++) g->values[v].offset = best.offset[v];
  g->workspace_size = ir_mem_align(best.workspace);
  plan_free(&best);
  kiln_free(ctx, orders[0]);
  kiln_free(ctx, orders[1]);

#ifndef NDEBUG
  char why[512];
  if (!ir_memory_check(g, why, sizeof why)) {
    kiln_error(ctx, "plan-memory made an invalid plan (a kiln bug: please report): %s", why);
    return KILN_ERR_INTERNAL;
  }
#endif
  return write_outputs(ctx, g, opt);
}
