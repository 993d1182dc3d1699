/*
 * memory_live.c — lifetimes, and the checker that proves a memory plan
 * safe from the graph and its offsets alone.
 *
 * Lifetimes.  Steps number the live nodes in execution order.  A value is
 * live from its producer's step to its last reader's step, both included:
 * a node's inputs and outputs are live together while it runs.  A value
 * nobody reads is still written, so it lives for its producer's step.  The
 * code generator copies a graph output that is a view (Flatten -> output)
 * out of its source's bytes after the last node, so such a source lives to
 * step num_steps, "the end of the run"; so does any value an If or Loop
 * body reads by name (the IR does not list those reads as uses yet).
 *
 * Which bytes hold the same data.  Following views and slices back, every
 * byte of a value is a byte of some value that was *computed* there (its
 * origin): a view's bytes are its input's; a Split output sitting at its
 * slice of the input has the input's bytes of that slice; a Concat output
 * has, in each slice whose input sits right there, that input's bytes,
 * and elsewhere its own (the copy it writes).  Two values agree on a byte
 * when it traces back to the same byte of the same origin
 * (ir_mem_same_data).  Tracing per byte, not per group of related values,
 * matters: after Split(x) -> a, b and Concat(a, x), the concat output
 * shares a's bytes with x but not the bytes where it copies x.
 *
 * The checker does not trust the planner.  It re-derives from the offsets
 * which Split outputs and Concat inputs sit at their slices, then accepts
 * two values live at a common step and sharing a byte only if
 *   - they hold the same data on every byte they share, or
 *   - they are an *in-place* pair: an elementwise node writes its output
 *     over one of its inputs at exactly the same bytes, and that input is
 *     read for the last time there, so the two touch at that step only.
 * A view not at its input's offset is an error too: the code generator
 * aliases views whatever the plan says.  A sweep over values sorted by
 * their first step compares only values whose lifetimes meet.
 */
#include "memory.h"
#include "passes.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool ir_mem_is_view(ir_op op) {
  switch (op) {
  case IR_OP_RESHAPE:
  case IR_OP_FLATTEN:
  case IR_OP_SQUEEZE:
  case IR_OP_UNSQUEEZE:
  case IR_OP_IDENTITY:
  case IR_OP_DROPOUT: return true;
  default: return false;
  }
}

bool ir_mem_in_place_ok(ir_op op) {
  switch (op) {
  /* unary */
  case IR_OP_ABS: case IR_OP_ACOS: case IR_OP_ACOSH: case IR_OP_ASIN: case IR_OP_ASINH:
  case IR_OP_ATAN: case IR_OP_ATANH: case IR_OP_BITWISE_NOT: case IR_OP_CEIL: case IR_OP_CELU:
  case IR_OP_COS: case IR_OP_COSH: case IR_OP_ELU: case IR_OP_ERF: case IR_OP_EXP:
  case IR_OP_FLOOR: case IR_OP_GELU: case IR_OP_HARD_SIGMOID: case IR_OP_HARD_SWISH:
  case IR_OP_IS_INF: case IR_OP_IS_NAN: case IR_OP_LEAKY_RELU: case IR_OP_LOG: case IR_OP_MISH:
  case IR_OP_NEG: case IR_OP_NOT: case IR_OP_RECIPROCAL: case IR_OP_RELU: case IR_OP_ROUND:
  case IR_OP_SELU: case IR_OP_SHRINK: case IR_OP_SIGMOID: case IR_OP_SIGN: case IR_OP_SIN:
  case IR_OP_SINH: case IR_OP_SOFTPLUS: case IR_OP_SOFTSIGN: case IR_OP_SQRT: case IR_OP_TAN:
  case IR_OP_TANH: case IR_OP_THRESHOLDED_RELU: case IR_OP_CAST: case IR_OP_CLIP:
  /* binary and variadic, with broadcasting */
  case IR_OP_ADD: case IR_OP_AND: case IR_OP_BIT_SHIFT: case IR_OP_BITWISE_AND:
  case IR_OP_BITWISE_OR: case IR_OP_BITWISE_XOR: case IR_OP_DIV: case IR_OP_EQUAL:
  case IR_OP_GREATER: case IR_OP_GREATER_OR_EQUAL: case IR_OP_LESS: case IR_OP_LESS_OR_EQUAL:
  case IR_OP_MOD: case IR_OP_MUL: case IR_OP_OR: case IR_OP_POW: case IR_OP_PRELU:
  case IR_OP_SUB: case IR_OP_XOR: case IR_OP_MAX: case IR_OP_MEAN: case IR_OP_MIN:
  case IR_OP_SUM: case IR_OP_WHERE: return true;
  default: return false;
  }
}

bool ir_mem_in_place_input(ir_op op, int i) {
  /* a fused kernel reads its residual (input 3) element by element as it
   * writes the same element, in the first K block, so the output may take
   * the residual's bytes; its other inputs are read across many outputs */
  if (op == IR_OP_FUSED_CONV || op == IR_OP_FUSED_MAT_MUL) return i == 3;
  return ir_mem_in_place_ok(op);
}

int64_t ir_mem_numel(const ir_graph *g, ir_value_id v) {
  return ir_shape_numel(&g->values[v].shape);
}

/* Bytes of a static value, or -1 if unknown or beyond the tensor limit. */
static int64_t value_bytes(const ir_graph *g, ir_value_id v) {
  const ir_value *val = &g->values[v];
  int64_t n = ir_shape_numel(&val->shape);
  if (n < 0 || !ir_dtype_valid((int)val->dtype) || n > KILN_MAX_TENSOR_BYTES) return -1;
  int64_t b = ir_dtype_bytes(val->dtype, n);
  return b > KILN_MAX_TENSOR_BYTES ? -1 : b;
}

int64_t ir_mem_slice_offset(const ir_graph *g, ir_node_id n, bool split, int i) {
  const ir_node *nd = &g->nodes[n];
  ir_value_id whole = split ? nd->inputs[0] : nd->outputs[0];
  int count = split ? nd->num_outputs : nd->num_inputs;
  if (whole < 0 || i >= count) return -1;
  const ir_shape *s = &g->values[whole].shape;
  if (!ir_shape_is_static(s) || s->rank < 1) return -1;
  int64_t axis = ir_attr_int_or(g, n, "axis", 0);
  if (axis < 0) axis += s->rank;
  if (axis < 0 || axis >= s->rank) return -1;
  for (int d = 0; d < axis; d++)
    if (s->dims[d] != 1) return -1;
  int64_t at = 0;
  for (int k = 0; k < i; k++) {
    ir_value_id p = split ? nd->outputs[k] : nd->inputs[k];
    int64_t b = p >= 0 ? value_bytes(g, p) : -1;
    if (b < 0) return -1;
    at += b;
  }
  return at;
}

/* ---- lifetimes ----------------------------------------------------------------- */
void ir_mem_live_compute(const ir_graph *g, const int32_t *order, int32_t num_steps,
                         ir_mem_live *lv, ir_value_id *bad) {
  kiln_ctx *ctx = g->ctx;
  int32_t nv = g->num_values, nn = g->num_nodes;
  memset(lv, 0, sizeof *lv);
  *bad = IR_NONE;
  lv->order = kiln_malloc(ctx, ((size_t)nn + 1) * sizeof *lv->order);
  if (order) {
    memcpy(lv->order, order, (size_t)num_steps * sizeof *order);
  } else {
    num_steps = 0;
    for (int32_t n = 0; n < nn; n++)
      if (!g->nodes[n].dead) lv->order[num_steps++] = n;
  }
  lv->num_steps = num_steps;
  lv->step_of = kiln_malloc(ctx, ((size_t)nn + 1) * sizeof *lv->step_of);
  for (int32_t n = 0; n < nn; n++) lv->step_of[n] = -1;
  lv->kind = kiln_calloc(ctx, (size_t)nv + 1, 1);
  lv->def = kiln_malloc(ctx, ((size_t)nv + 1) * sizeof *lv->def);
  lv->last = kiln_malloc(ctx, ((size_t)nv + 1) * sizeof *lv->last);
  lv->bytes = kiln_calloc(ctx, (size_t)nv + 1, sizeof *lv->bytes);
  lv->source = kiln_malloc(ctx, ((size_t)nv + 1) * sizeof *lv->source);
  bool *is_io = kiln_calloc(ctx, (size_t)nv + 1, sizeof *is_io);
  bool *is_out = kiln_calloc(ctx, (size_t)nv + 1, sizeof *is_out);
  for (int32_t i = 0; i < g->num_inputs; i++) is_io[g->inputs[i]] = true;
  for (int32_t i = 0; i < g->num_outputs; i++) is_io[g->outputs[i]] = is_out[g->outputs[i]] = true;
  for (ir_value_id v = 0; v < nv; v++) {
    lv->def[v] = lv->last[v] = -1;
    lv->source[v] = IR_NONE;
  }

  for (int32_t s = 0; s < num_steps; s++) {
    ir_node_id n = lv->order[s];
    const ir_node *nd = &g->nodes[n];
    lv->step_of[n] = s;
    for (int i = 0; i < nd->num_outputs; i++) {
      ir_value_id o = nd->outputs[i];
      if (o < 0) continue;
      lv->def[o] = lv->last[o] = s;
      const ir_value *val = &g->values[o];
      if (val->dead || val->storage != IR_STORAGE_ACTIVATION || is_io[o]) continue;
      int64_t b = value_bytes(g, o);
      if (b < 0) {
        if (*bad == IR_NONE) *bad = o;
        continue;
      }
      lv->bytes[o] = b;
      ir_value_id x = nd->num_inputs > 0 ? nd->inputs[0] : IR_NONE;
      if (i == 0 && ir_mem_is_view(nd->op) && x >= 0) {
        lv->source[o] = x;
        lv->kind[o] = lv->kind[x] != IR_MEM_NONE ? IR_MEM_VIEW : IR_MEM_NONE;
      } else {
        lv->kind[o] = IR_MEM_OWN;
      }
    }
    for (int i = 0; i < nd->num_inputs; i++) {
      ir_value_id x = nd->inputs[i];
      if (x >= 0 && s > lv->last[x]) lv->last[x] = s;
    }
    /* a view that is a graph output is copied out of x's bytes at the end */
    if (ir_mem_is_view(nd->op) && nd->num_inputs > 0 && nd->num_outputs > 0 &&
        nd->inputs[0] >= 0 && nd->outputs[0] >= 0 && is_out[nd->outputs[0]])
      lv->last[nd->inputs[0]] = num_steps;
  }
  /* If/Loop bodies read outer values by name, uses the IR does not list:
   * keep every value a subgraph names to the end of the run */
  bool *captured = kiln_calloc(ctx, (size_t)nv + 1, sizeof *captured);
  pass_mark_captured(g, captured);
  for (ir_value_id v = 0; v < nv; v++)
    if (captured[v] && lv->def[v] >= 0) lv->last[v] = num_steps;
  kiln_free(ctx, captured);
  kiln_free(ctx, is_io);
  kiln_free(ctx, is_out);
}

void ir_mem_live_free(const ir_graph *g, ir_mem_live *lv) {
  kiln_ctx *ctx = g->ctx;
  kiln_free(ctx, lv->order);
  kiln_free(ctx, lv->step_of);
  kiln_free(ctx, lv->kind);
  kiln_free(ctx, lv->def);
  kiln_free(ctx, lv->last);
  kiln_free(ctx, lv->bytes);
  kiln_free(ctx, lv->source);
  memset(lv, 0, sizeof *lv);
}

/* ---- same data ----------------------------------------------------------------- */
void ir_mem_slices_init(const ir_graph *g, ir_mem_slices *sl) {
  kiln_ctx *ctx = g->ctx;
  sl->slot = kiln_malloc(ctx, ((size_t)g->num_nodes + 1) * sizeof *sl->slot);
  int32_t total = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    sl->slot[n] = total;
    total += g->nodes[n].num_inputs;
  }
  sl->concat_in = kiln_calloc(ctx, (size_t)total + 1, 1);
  sl->split_out = kiln_calloc(ctx, (size_t)g->num_values + 1, 1);
}

void ir_mem_slices_free(const ir_graph *g, ir_mem_slices *sl) {
  kiln_free(g->ctx, sl->slot);
  kiln_free(g->ctx, sl->concat_in);
  kiln_free(g->ctx, sl->split_out);
  memset(sl, 0, sizeof *sl);
}

/* The origin of byte k of v (see the essay): *origin and *at; returns how
 * many bytes from k on trace back the same way, contiguously. */
static int64_t origin_of(const ir_graph *g, const ir_mem_live *lv, const ir_mem_slices *sl,
                         ir_value_id v, int64_t k, ir_value_id *origin, int64_t *at) {
  int64_t run = value_bytes(g, v) - k;
  for (;;) {
    if (lv->kind[v] == IR_MEM_VIEW) {
      v = lv->source[v];
      continue;
    }
    ir_node_id n = g->values[v].producer;
    if (n < 0) break;
    const ir_node *nd = &g->nodes[n];
    if (nd->op == IR_OP_SPLIT && sl->split_out[v]) {
      int j = 0;
      while (nd->outputs[j] != v) j++;
      k += ir_mem_slice_offset(g, n, true, j);
      v = nd->inputs[0];
      continue;
    }
    if (nd->op == IR_OP_CONCAT && ir_mem_slice_offset(g, n, false, 0) >= 0) {
      int64_t start = 0;
      int i = 0;
      for (; i < nd->num_inputs; i++) {
        int64_t b = value_bytes(g, nd->inputs[i]);
        if (k < start + b) {
          if (start + b - k < run) run = start + b - k;
          break;
        }
        start += b;
      }
      if (i < nd->num_inputs && sl->concat_in[sl->slot[n] + i]) {
        k -= start;
        v = nd->inputs[i];
        continue;
      }
    }
    break;
  }
  *origin = v;
  *at = k;
  return run;
}

bool ir_mem_same_data(const ir_graph *g, const ir_mem_live *lv, const ir_mem_slices *sl,
                      ir_value_id u, int64_t pu, ir_value_id v, int64_t pv) {
  int64_t lo = pu > pv ? pu : pv;
  int64_t hi = pu + lv->bytes[u] < pv + lv->bytes[v] ? pu + lv->bytes[u] : pv + lv->bytes[v];
  for (int64_t p = lo; p < hi;) {
    ir_value_id ou, ov;
    int64_t ku, kv;
    int64_t ru = origin_of(g, lv, sl, u, p - pu, &ou, &ku);
    int64_t rv = origin_of(g, lv, sl, v, p - pv, &ov, &kv);
    if (ou != ov || ku != kv) return false;
    p += ru < rv ? ru : rv;
  }
  return true;
}

/* What the checker and the report derive from a planned graph. */
typedef struct derived {
  ir_mem_live lv;
  ir_mem_slices sl;      /* slices, as the offsets place them */
  int64_t workspace;
  int32_t views, concat_slices, split_slices, in_place;
} derived;

static bool in_ws(const derived *d, ir_value_id v) {
  return d->lv.kind[v] != IR_MEM_NONE && d->lv.bytes[v] > 0;
}

static void fail(char *why, size_t size, const char *fmt, ...) KILN_PRINTF(3, 4);
static void fail(char *why, size_t size, const char *fmt, ...) {
  if (!why || !size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, size, fmt, ap);
  va_end(ap);
}

/* True if node t writes output y over input a in place (same bytes, same
 * element count, a read for the last time at t). */
static bool in_place_pair(const ir_graph *g, const derived *d, ir_value_id a, ir_value_id y) {
  const ir_mem_live *lv = &d->lv;
  int32_t t = lv->def[y];
  if (lv->last[a] != t || lv->kind[y] != IR_MEM_OWN) return false;
  const ir_node *nd = &g->nodes[lv->order[t]];
  if (nd->num_outputs != 1 || nd->outputs[0] != y) return false;
  bool is_input = false;
  for (int i = 0; i < nd->num_inputs; i++) is_input |= nd->inputs[i] == a && ir_mem_in_place_input(nd->op, i);
  return is_input && g->values[a].offset == g->values[y].offset && lv->bytes[a] == lv->bytes[y] &&
         ir_mem_numel(g, a) == ir_mem_numel(g, y);
}

/* Lifetimes, slices and reuse counts of g's plan.  Returns false
 * (with why) if a value lacks a static shape or a view is misplaced. */
static bool derive(const ir_graph *g, derived *d, char *why, size_t why_size) {
  memset(d, 0, sizeof *d);
  ir_value_id bad;
  ir_mem_live_compute(g, NULL, 0, &d->lv, &bad);
  ir_mem_slices_init(g, &d->sl);
  ir_mem_live *lv = &d->lv;
  int32_t nv = g->num_values;
  if (bad != IR_NONE) {
    fail(why, why_size, "value '%s' has no static shape", g->values[bad].name);
    return false;
  }
  d->workspace = g->workspace_size;
  for (ir_value_id v = 0; v < nv; v++) {
    if (!in_ws(d, v)) continue;
    int64_t end = g->values[v].offset + lv->bytes[v];
    if (end > d->workspace) d->workspace = ir_mem_align(end);
  }
  for (int32_t s = 0; s < lv->num_steps; s++) {
    ir_node_id n = lv->order[s];
    const ir_node *nd = &g->nodes[n];
    if (ir_mem_is_view(nd->op) && nd->num_outputs > 0 && nd->outputs[0] >= 0 &&
        lv->kind[nd->outputs[0]] == IR_MEM_VIEW) {
      ir_value_id y = nd->outputs[0], x = nd->inputs[0];
      if (g->values[y].offset != g->values[x].offset) {
        fail(why, why_size, "view '%s' is at offset %lld, not at its input '%s''s %lld",
             g->values[y].name, (long long)g->values[y].offset, g->values[x].name,
             (long long)g->values[x].offset);
        return false;
      }
      d->views++;
    } else if (nd->op == IR_OP_CONCAT && nd->outputs[0] >= 0 && in_ws(d, nd->outputs[0])) {
      ir_value_id c = nd->outputs[0];
      for (int i = 0; i < nd->num_inputs; i++) {
        ir_value_id x = nd->inputs[i];
        int64_t at = ir_mem_slice_offset(g, n, false, i);
        if (x >= 0 && at >= 0 && in_ws(d, x) &&
            g->values[x].offset == g->values[c].offset + at) {
          d->sl.concat_in[d->sl.slot[n] + i] = 1;
          d->concat_slices++;
        }
      }
    } else if (nd->op == IR_OP_SPLIT && nd->inputs[0] >= 0 && in_ws(d, nd->inputs[0])) {
      ir_value_id x = nd->inputs[0];
      for (int i = 0; i < nd->num_outputs; i++) {
        ir_value_id y = nd->outputs[i];
        int64_t at = ir_mem_slice_offset(g, n, true, i);
        if (y >= 0 && at >= 0 && in_ws(d, y) &&
            g->values[y].offset == g->values[x].offset + at) {
          d->sl.split_out[y] = 1;
          d->split_slices++;
        }
      }
    } else if (nd->num_outputs == 1 && nd->outputs[0] >= 0 &&
               in_ws(d, nd->outputs[0])) {
      for (int i = 0; i < nd->num_inputs; i++)
        if (nd->inputs[i] >= 0 && in_ws(d, nd->inputs[i]) &&
            in_place_pair(g, d, nd->inputs[i], nd->outputs[0])) {
          d->in_place++;
          break;
        }
    }
  }
  return true;
}

static void derived_free(const ir_graph *g, derived *d) {
  ir_mem_live_free(g, &d->lv);
  ir_mem_slices_free(g, &d->sl);
}

/* Workspace values sorted by first step (then id), for sweeps. */
static int32_t sorted_values(const ir_graph *g, const derived *d, ir_value_id **out) {
  int32_t count = 0;
  ir_value_id *vs = kiln_malloc(g->ctx, ((size_t)g->num_values + 1) * sizeof *vs);
  for (int32_t s = 0; s < d->lv.num_steps; s++) {
    const ir_node *nd = &g->nodes[d->lv.order[s]];
    for (int i = 0; i < nd->num_outputs; i++)
      if (nd->outputs[i] >= 0 && in_ws(d, nd->outputs[i])) vs[count++] = nd->outputs[i];
  }
  *out = vs;
  return count;
}

bool ir_memory_check(const ir_graph *g, char *why, size_t why_size) {
  derived d;
  bool ok = derive(g, &d, why, why_size);
  const ir_mem_live *lv = &d.lv;
  for (ir_value_id v = 0; ok && v < g->num_values; v++) {
    const ir_value *val = &g->values[v];
    if (lv->kind[v] == IR_MEM_NONE) {
      if (val->offset != -1) {
        fail(why, why_size, "value '%s' is not in the workspace but has offset %lld", val->name,
             (long long)val->offset);
        ok = false;
      }
      continue;
    }
    if (val->offset < 0 || val->offset % IR_MEM_ALIGN) {
      fail(why, why_size, "value '%s' has offset %lld, not a multiple of %d", val->name,
           (long long)val->offset, IR_MEM_ALIGN);
      ok = false;
    } else if (g->workspace_size > 0 && val->offset + lv->bytes[v] > g->workspace_size) {
      fail(why, why_size, "value '%s' ends at %lld, past the workspace size %lld", val->name,
           (long long)(val->offset + lv->bytes[v]), (long long)g->workspace_size);
      ok = false;
    }
  }
  ir_value_id *vs = NULL;
  int32_t count = ok ? sorted_values(g, &d, &vs) : 0;
  for (int32_t i = 0; ok && i < count; i++) {
    ir_value_id a = vs[i];
    int64_t a0 = g->values[a].offset, a1 = a0 + lv->bytes[a];
    for (int32_t j = i + 1; ok && j < count && lv->def[vs[j]] <= lv->last[a]; j++) {
      ir_value_id b = vs[j];
      int64_t b0 = g->values[b].offset, b1 = b0 + lv->bytes[b];
      if (a1 <= b0 || b1 <= a0) continue;
      if (ir_mem_same_data(g, lv, &d.sl, a, a0, b, b0)) continue;
      if (in_place_pair(g, &d, a, b) || in_place_pair(g, &d, b, a)) continue;
      fail(why, why_size,
           "'%s' [%lld, %lld) live at steps %d..%d and '%s' [%lld, %lld) live at steps %d..%d "
           "share bytes",
           g->values[a].name, (long long)a0, (long long)a1, lv->def[a], lv->last[a],
           g->values[b].name, (long long)b0, (long long)b1, lv->def[b], lv->last[b]);
      ok = false;
    }
  }
  kiln_free(g->ctx, vs);
  derived_free(g, &d);
  return ok;
}

/* ---- numbers ------------------------------------------------------------------ */
static int cmp_range(const void *pa, const void *pb) {
  const int64_t *a = pa, *b = pb;
  return a[0] < b[0] ? -1 : a[0] > b[0];
}

/*
 * The lower bound: at every step, the measure of the union of the
 * (64-byte rounded) byte ranges of the values live then; its maximum.
 * Bytes that views, slices or in-place outputs share count once, so this
 * is what any placement of this schedule with these sharings must hold.
 */
static int64_t lower_bound(const ir_graph *g, const derived *d, int32_t *peak_step) {
  const ir_mem_live *lv = &d->lv;
  ir_value_id *vs;
  int32_t count = sorted_values(g, d, &vs);
  ir_value_id *active = kiln_malloc(g->ctx, ((size_t)count + 1) * sizeof *active);
  int64_t *ranges = kiln_malloc(g->ctx, ((size_t)count + 1) * 2 * sizeof *ranges);
  int32_t na = 0, next = 0;
  int64_t best = 0;
  *peak_step = 0;
  for (int32_t t = 0; t <= lv->num_steps; t++) {
    int32_t k = 0;
    for (int32_t i = 0; i < na; i++)
      if (lv->last[active[i]] >= t) active[k++] = active[i];
    na = k;
    while (next < count && lv->def[vs[next]] <= t) active[na++] = vs[next++];
    for (int32_t i = 0; i < na; i++) {
      ranges[2 * i] = g->values[active[i]].offset;
      ranges[2 * i + 1] = ranges[2 * i] + ir_mem_align(lv->bytes[active[i]]);
    }
    qsort(ranges, (size_t)na, 2 * sizeof *ranges, cmp_range);
    int64_t total = 0, lo = 0, hi = -1;
    for (int32_t i = 0; i < na; i++) {
      if (ranges[2 * i] > hi) {
        if (hi > lo) total += hi - lo;
        lo = ranges[2 * i];
        hi = ranges[2 * i + 1];
      } else if (ranges[2 * i + 1] > hi) {
        hi = ranges[2 * i + 1];
      }
    }
    if (hi > lo) total += hi - lo;
    if (total > best) {
      best = total;
      *peak_step = t;
    }
  }
  kiln_free(g->ctx, vs);
  kiln_free(g->ctx, active);
  kiln_free(g->ctx, ranges);
  return best;
}

bool ir_memory_stats_compute(const ir_graph *g, ir_memory_stats *st) {
  memset(st, 0, sizeof *st);
  derived d;
  if (!derive(g, &d, NULL, 0)) {
    derived_free(g, &d);
    return false;
  }
  for (ir_value_id v = 0; v < g->num_values; v++)
    if (in_ws(&d, v) && g->values[v].offset < 0) { /* not planned */
      derived_free(g, &d);
      return false;
    }
  int32_t peak;
  st->workspace = d.workspace;
  st->lower_bound = lower_bound(g, &d, &peak);
  st->num_steps = d.lv.num_steps;
  for (ir_value_id v = 0; v < g->num_values; v++) {
    if (d.lv.kind[v] == IR_MEM_OWN) st->naive += ir_mem_align(d.lv.bytes[v]);
    st->num_tensors += in_ws(&d, v);
  }
  st->in_place = d.in_place;
  st->views = d.views;
  st->concat_slices = d.concat_slices;
  st->split_slices = d.split_slices;
  derived_free(g, &d);
  return true;
}
