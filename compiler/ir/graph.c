/*
 * graph.c — building and editing graphs: values, nodes, attributes, use
 * counts, compaction and topological order.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

ir_graph *ir_graph_new(kiln_ctx *ctx, const char *name) {
  ir_graph *g = kiln_calloc(ctx, 1, sizeof *g);
  g->ctx = ctx;
  ir_arena_init(&g->arena, ctx);
  g->name = ir_arena_strdup(&g->arena, name ? name : "main");
  return g;
}

void ir_graph_free(ir_graph *g) {
  if (!g) return;
  kiln_ctx *ctx = g->ctx;
  for (ir_mapping *m = g->mappings; m; m = m->next) munmap(m->addr, m->len);
  /* subgraph attributes own their own arenas */
  for (int32_t n = 0; n < g->num_nodes; n++)
    for (int32_t a = 0; a < g->nodes[n].num_attrs; a++)
      if (g->nodes[n].attrs[a].kind == IR_ATTR_GRAPH) ir_graph_free(g->nodes[n].attrs[a].graph);
  kiln_free(ctx, g->values);
  kiln_free(ctx, g->nodes);
  kiln_free(ctx, g->name_index);
  ir_arena_free(&g->arena);
  kiln_free(ctx, g);
}

/*
 * The name index: an open-addressing hash table (linear probing) from a
 * value's name to its id, so importers and parsers resolve names and
 * ir_add_value checks collisions in O(1) instead of scanning every value.
 * Slots hold id + 1 (0 is empty); the table doubles when half full.
 * Values are never removed, so no tombstones are needed.
 */
static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static void index_put(int32_t *slots, int32_t cap, const char *name, ir_value_id id) {
  uint32_t mask = (uint32_t)cap - 1;
  uint32_t i = name_hash(name) & mask;
  while (slots[i]) i = (i + 1) & mask;
  slots[i] = id + 1;
}

static void index_add(ir_graph *g, ir_value_id id) {
  if (2 * (g->num_values + 1) > g->cap_name_index) {
    int32_t cap = g->cap_name_index ? 2 * g->cap_name_index : 128;
    while (2 * (g->num_values + 1) > cap) cap *= 2;
    int32_t *slots = kiln_calloc(g->ctx, (size_t)cap, sizeof *slots);
    for (ir_value_id v = 0; v < g->num_values; v++)
      if (v != id && g->values[v].name) index_put(slots, cap, g->values[v].name, v);
    kiln_free(g->ctx, g->name_index);
    g->name_index = slots;
    g->cap_name_index = cap;
  }
  index_put(g->name_index, g->cap_name_index, g->values[id].name, id);
}

ir_value_id ir_find_value(const ir_graph *g, const char *name) {
  if (!g->cap_name_index || !name) return IR_NONE;
  uint32_t mask = (uint32_t)g->cap_name_index - 1;
  for (uint32_t i = name_hash(name) & mask; g->name_index[i]; i = (i + 1) & mask) {
    ir_value_id id = g->name_index[i] - 1;
    if (!strcmp(g->values[id].name, name)) return id;
  }
  return IR_NONE;
}

static bool name_taken(const ir_graph *g, const char *name) {
  return ir_find_value(g, name) != IR_NONE;
}

/* Appends a value; `check` makes a taken name unique with a suffix. */
static ir_value_id add_value(ir_graph *g, const char *name, ir_dtype dtype, const ir_shape *shape,
                             bool check) {
  if (g->num_values == g->cap_values) {
    g->cap_values = g->cap_values ? 2 * g->cap_values : 64;
    g->values = kiln_realloc(g->ctx, g->values, (size_t)g->cap_values * sizeof *g->values);
  }
  ir_value_id id = g->num_values++;
  ir_value *v = &g->values[id];
  memset(v, 0, sizeof *v);
  char buf[64];
  if (!name || !*name) {
    snprintf(buf, sizeof buf, "v%d", id);
    name = buf;
  }
  if (check && name_taken(g, name)) {
    /* generated names get a numeric suffix until unique */
    size_t n = strlen(name) + 24;
    char *u = kiln_malloc(g->ctx, n);
    for (int k = 1;; k++) {
      snprintf(u, n, "%s.%d", name, k);
      if (!name_taken(g, u)) break;
    }
    v->name = ir_arena_strdup(&g->arena, u);
    kiln_free(g->ctx, u);
  } else {
    v->name = ir_arena_strdup(&g->arena, name);
  }
  index_add(g, id);
  v->dtype = dtype;
  if (shape)
    v->shape = *shape;
  else
    v->shape.rank = -1;
  v->producer = IR_NONE;
  v->offset = -1;
  return id;
}

ir_value_id ir_add_value(ir_graph *g, const char *name, ir_dtype dtype, const ir_shape *shape) {
  return add_value(g, name, dtype, shape, true);
}

ir_value_id ir_add_value_unique(ir_graph *g, const char *name, ir_dtype dtype,
                                const ir_shape *shape) {
  return add_value(g, name, dtype, shape, false);
}

static uint64_t hash_more(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t ir_hash_bytes(const void *data, size_t n) {
  return hash_more(1469598103934665603ull, data, n);
}

/* ir_hash_bytes of a constant's payload.  One that lies in a file mapping
 * of g (ONNX external data, maybe larger than memory) is hashed in chunks,
 * and each chunk's pages are dropped from the process once hashed
 * (MADV_DONTNEED: the mapping is private and never written, so touched
 * pages come back from the file): importing it keeps almost none of it
 * resident. */
static uint64_t hash_payload(const ir_graph *g, const void *data, size_t n) {
  const unsigned char *p = data;
  const ir_mapping *in = NULL;
  for (const ir_mapping *m = g->mappings; m && n >= ((size_t)1 << 20); m = m->next)
    if (p >= (const unsigned char *)m->addr && p + n <= (const unsigned char *)m->addr + m->len)
      in = m;
  if (!in) return ir_hash_bytes(data, n);
  size_t page = sysconf(_SC_PAGESIZE) > 0 ? (size_t)sysconf(_SC_PAGESIZE) : 4096;
  uint64_t h = 1469598103934665603ull;
  for (size_t done = 0, chunk = (size_t)8 << 20; done < n; done += chunk) {
    size_t len = n - done < chunk ? n - done : chunk;
    h = hash_more(h, p + done, len);
    /* whole pages up to the end of this chunk (a mapping starts on a page) */
    uintptr_t lo = (uintptr_t)(p + done) / page * page, hi = (uintptr_t)(p + done + len) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
  }
  return h;
}

ir_value_id ir_add_const(ir_graph *g, const char *name, ir_dtype dtype, const ir_shape *shape,
                         const void *data, int64_t nbytes, bool borrow) {
  ir_value_id id = ir_add_value(g, name, dtype, shape);
  ir_value *v = &g->values[id];
  v->storage = IR_STORAGE_CONST;
  v->nbytes = nbytes;
  v->data = (borrow || !data) ? data : ir_arena_dup(&g->arena, data, (size_t)nbytes);
  v->hash = data ? (borrow ? hash_payload(g, data, (size_t)nbytes)
                          : ir_hash_bytes(v->data, (size_t)nbytes)) : 0;
  return id;
}

ir_node_id ir_add_node(ir_graph *g, ir_op op, const char *name, int num_inputs,
                       const ir_value_id *inputs, int num_outputs, const ir_value_id *outputs) {
  if (g->num_nodes == g->cap_nodes) {
    g->cap_nodes = g->cap_nodes ? 2 * g->cap_nodes : 64;
    g->nodes = kiln_realloc(g->ctx, g->nodes, (size_t)g->cap_nodes * sizeof *g->nodes);
  }
  ir_node_id id = g->num_nodes++;
  ir_node *n = &g->nodes[id];
  memset(n, 0, sizeof *n);
  n->op = op;
  if (name && *name) {
    n->name = ir_arena_strdup(&g->arena, name);
  } else {
    char buf[48];
    snprintf(buf, sizeof buf, "%s_%d", op < IR_OP_COUNT ? ir_ops[op].name : "op", id);
    n->name = ir_arena_strdup(&g->arena, buf);
  }
  n->num_inputs = num_inputs;
  n->num_outputs = num_outputs;
  n->inputs = ir_arena_dup(&g->arena, inputs, (size_t)num_inputs * sizeof *inputs);
  n->outputs = ir_arena_dup(&g->arena, outputs, (size_t)num_outputs * sizeof *outputs);
  for (int i = 0; i < num_outputs; i++)
    if (outputs[i] >= 0) g->values[outputs[i]].producer = id;
  return id;
}

ir_attr *ir_set_attr(ir_graph *g, ir_node_id id, const char *name, ir_attr_kind kind) {
  ir_node *n = &g->nodes[id];
  int pos = 0;
  while (pos < n->num_attrs && strcmp(n->attrs[pos].name, name) < 0) pos++;
  if (pos < n->num_attrs && !strcmp(n->attrs[pos].name, name)) {
    memset(&n->attrs[pos], 0, sizeof n->attrs[pos]);
  } else {
    /* arena arrays cannot grow in place: copy into a larger one */
    ir_attr *a = ir_arena_alloc(&g->arena, (size_t)(n->num_attrs + 1) * sizeof *a);
    /* memcpy from a NULL attrs array is undefined even for zero bytes */
    if (pos) memcpy(a, n->attrs, (size_t)pos * sizeof *a);
    if (n->num_attrs > pos)
      memcpy(a + pos + 1, n->attrs + pos, (size_t)(n->num_attrs - pos) * sizeof *a);
    n->attrs = a;
    n->num_attrs++;
  }
  ir_attr *a = &n->attrs[pos];
  a->name = ir_arena_strdup(&g->arena, name);
  a->kind = kind;
  return a;
}

void ir_set_attr_int(ir_graph *g, ir_node_id n, const char *name, int64_t v) {
  ir_set_attr(g, n, name, IR_ATTR_INT)->i = v;
}

void ir_set_attr_float(ir_graph *g, ir_node_id n, const char *name, float v) {
  ir_set_attr(g, n, name, IR_ATTR_FLOAT)->f = v;
}

void ir_set_attr_ints(ir_graph *g, ir_node_id n, const char *name, const int64_t *v, int count) {
  ir_attr *a = ir_set_attr(g, n, name, IR_ATTR_INTS);
  a->count = count;
  a->ints = ir_arena_dup(&g->arena, v, (size_t)count * sizeof *v);
}

void ir_set_attr_string(ir_graph *g, ir_node_id n, const char *name, const char *s) {
  ir_attr *a = ir_set_attr(g, n, name, IR_ATTR_STRING);
  a->s = ir_arena_strdup(&g->arena, s);
  a->s_len = (int64_t)strlen(s);
}

const ir_attr *ir_get_attr(const ir_graph *g, ir_node_id id, const char *name) {
  const ir_node *n = &g->nodes[id];
  for (int i = 0; i < n->num_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

int64_t ir_attr_int_or(const ir_graph *g, ir_node_id n, const char *name, int64_t dflt) {
  const ir_attr *a = ir_get_attr(g, n, name);
  return a && a->kind == IR_ATTR_INT ? a->i : dflt;
}

float ir_attr_float_or(const ir_graph *g, ir_node_id n, const char *name, float dflt) {
  const ir_attr *a = ir_get_attr(g, n, name);
  return a && a->kind == IR_ATTR_FLOAT ? a->f : dflt;
}

const char *ir_attr_string_or(const ir_graph *g, ir_node_id n, const char *name,
                              const char *dflt) {
  const ir_attr *a = ir_get_attr(g, n, name);
  return a && a->kind == IR_ATTR_STRING ? a->s : dflt;
}

int ir_attr_ints(const ir_graph *g, ir_node_id n, const char *name, const int64_t **out) {
  const ir_attr *a = ir_get_attr(g, n, name);
  if (!a || a->kind != IR_ATTR_INTS) {
    *out = NULL;
    return 0;
  }
  *out = a->ints;
  return a->count;
}

int32_t ir_sym(ir_graph *g, const char *name) {
  for (int32_t i = 0; i < g->num_syms; i++)
    if (!strcmp(g->syms[i], name)) return i;
  const char **s = ir_arena_alloc(&g->arena, (size_t)(g->num_syms + 1) * sizeof *s);
  if (g->num_syms) memcpy(s, g->syms, (size_t)g->num_syms * sizeof *s);
  s[g->num_syms] = ir_arena_strdup(&g->arena, name);
  g->syms = s;
  return g->num_syms++;
}

int64_t ir_shape_numel(const ir_shape *s) {
  if (s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (!ir_dim_is_static(s->dims[i])) return -1;
    if (s->dims[i] && n > INT64_MAX / s->dims[i]) return -1;
    n *= s->dims[i];
  }
  return n;
}

bool ir_shape_is_static(const ir_shape *s) { return ir_shape_numel(s) >= 0; }

bool ir_shape_too_large(ir_dtype dt, const ir_shape *s) {
  int bits = ir_dtype_valid((int)dt) && ir_dtypes[dt].bits ? ir_dtypes[dt].bits : 8;
  int64_t numel = 1;
  for (int i = 0; i < s->rank && i < KILN_MAX_RANK; i++) {
    int64_t d = s->dims[i];
    if (!ir_dim_is_static(d) || d == 0) continue;
    /* numel <= 2^40 and bits <= 128, so neither product overflows */
    if (numel > KILN_MAX_TENSOR_BYTES / d || numel * d > KILN_MAX_TENSOR_BYTES * 8 / bits)
      return true;
    numel *= d;
  }
  return false;
}

bool ir_shape_equal(const ir_shape *a, const ir_shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

ir_shape ir_shape_make(int rank, const int64_t *dims) {
  ir_shape s = {.rank = rank};
  for (int i = 0; i < rank && i < KILN_MAX_RANK; i++) s.dims[i] = dims[i];
  return s;
}

void ir_replace_uses(ir_graph *g, ir_value_id from, ir_value_id to) {
  for (int32_t n = 0; n < g->num_nodes; n++) {
    ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int i = 0; i < nd->num_inputs; i++)
      if (nd->inputs[i] == from) nd->inputs[i] = to;
  }
  for (int32_t i = 0; i < g->num_outputs; i++)
    if (g->outputs[i] == from) g->outputs[i] = to;
}

void ir_graph_recount_uses(ir_graph *g) {
  for (int32_t v = 0; v < g->num_values; v++) g->values[v].num_uses = 0;
  for (int32_t n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int i = 0; i < nd->num_inputs; i++)
      if (nd->inputs[i] >= 0) g->values[nd->inputs[i]].num_uses++;
  }
  for (int32_t i = 0; i < g->num_outputs; i++) g->values[g->outputs[i]].num_uses++;
}

/* Rewrites every producer link after nodes moved. */
static void relink_producers(ir_graph *g) {
  for (int32_t v = 0; v < g->num_values; v++) g->values[v].producer = IR_NONE;
  for (int32_t n = 0; n < g->num_nodes; n++)
    for (int i = 0; i < g->nodes[n].num_outputs; i++)
      if (g->nodes[n].outputs[i] >= 0) g->values[g->nodes[n].outputs[i]].producer = n;
}

void ir_graph_compact(ir_graph *g) {
  int32_t k = 0;
  for (int32_t n = 0; n < g->num_nodes; n++) {
    if (!g->nodes[n].dead) {
      g->nodes[k++] = g->nodes[n];
      continue;
    }
    /* a dropped node's bodies go with it (nothing borrows from a body:
     * bodies borrow from their parent, not the other way round) */
    for (int32_t a = 0; a < g->nodes[n].num_attrs; a++)
      if (g->nodes[n].attrs[a].kind == IR_ATTR_GRAPH) {
        ir_graph_free(g->nodes[n].attrs[a].graph);
        g->nodes[n].attrs[a].graph = NULL;
        g->nodes[n].attrs[a].kind = IR_ATTR_UNDEFINED;
      }
  }
  g->num_nodes = k;
  relink_producers(g);
}

/*
 * Kahn's algorithm over node ids.  Ready nodes are taken lowest id first,
 * so a graph that is already in order keeps its order exactly and dumps
 * stay stable across passes.
 */
kiln_status ir_graph_toposort(ir_graph *g) {
  kiln_ctx *ctx = g->ctx;
  int32_t nn = g->num_nodes;
  relink_producers(g);
  int32_t *pending = kiln_calloc(ctx, (size_t)nn + 1, sizeof *pending);
  /* consumers as a CSR adjacency: node -> nodes reading its outputs */
  int32_t *start = kiln_calloc(ctx, (size_t)nn + 1, sizeof *start);
  for (int32_t n = 0; n < nn; n++)
    for (int i = 0; i < g->nodes[n].num_inputs; i++) {
      ir_value_id v = g->nodes[n].inputs[i];
      if (v >= 0 && g->values[v].producer >= 0) {
        start[g->values[v].producer]++;
        pending[n]++;
      }
    }
  for (int32_t n = 0, sum = 0; n <= nn; n++) {
    int32_t c = n < nn ? start[n] : 0;
    start[n] = sum;
    sum += c;
  }
  int32_t *fill = kiln_calloc(ctx, (size_t)nn + 1, sizeof *fill);
  int32_t *adj = kiln_calloc(ctx, (size_t)start[nn] + 1, sizeof *adj);
  for (int32_t n = 0; n < nn; n++)
    for (int i = 0; i < g->nodes[n].num_inputs; i++) {
      ir_value_id v = g->nodes[n].inputs[i];
      if (v >= 0 && g->values[v].producer >= 0) {
        int32_t p = g->values[v].producer;
        adj[start[p] + fill[p]++] = n;
      }
    }
  /* a binary min-heap of ready node ids */
  int32_t *heap = kiln_calloc(ctx, (size_t)nn + 1, sizeof *heap);
  int32_t hn = 0;
#define HEAP_PUSH(x)                                                        \
  do {                                                                      \
    int32_t i_ = hn++;                                                      \
    heap[i_] = (x);                                                         \
    while (i_ > 0 && heap[(i_ - 1) / 2] > heap[i_]) {                       \
      int32_t t_ = heap[i_]; heap[i_] = heap[(i_ - 1) / 2]; heap[(i_ - 1) / 2] = t_; \
      i_ = (i_ - 1) / 2;                                                    \
    }                                                                       \
  } while (0)
  for (int32_t n = 0; n < nn; n++)
    if (!pending[n]) HEAP_PUSH(n);
  int32_t *order = kiln_calloc(ctx, (size_t)nn + 1, sizeof *order);
  int32_t done = 0;
  while (hn > 0) {
    int32_t n = heap[0];
    heap[0] = heap[--hn];
    for (int32_t i = 0;;) {
      int32_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < hn && heap[l] < heap[m]) m = l;
      if (r < hn && heap[r] < heap[m]) m = r;
      if (m == i) break;
      int32_t t = heap[i]; heap[i] = heap[m]; heap[m] = t;
      i = m;
    }
    order[done++] = n;
    for (int32_t e = start[n]; e < start[n + 1]; e++)
      if (--pending[adj[e]] == 0) HEAP_PUSH(adj[e]);
  }
#undef HEAP_PUSH
  kiln_status st = KILN_OK;
  if (done < nn) {
    for (int32_t n = 0; n < nn; n++)
      if (pending[n]) {
        kiln_error_node(ctx, g->nodes[n].name, ir_ops[g->nodes[n].op].name,
                        "graph has a cycle through this node");
        break;
      }
    st = KILN_ERR_INVALID_MODEL;
  } else {
    ir_node *sorted = kiln_malloc(ctx, (size_t)(nn ? nn : 1) * sizeof *sorted);
    for (int32_t i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
    if (nn) memcpy(g->nodes, sorted, (size_t)nn * sizeof *sorted);
    kiln_free(ctx, sorted);
    relink_producers(g);
  }
  kiln_free(ctx, pending);
  kiln_free(ctx, start);
  kiln_free(ctx, fill);
  kiln_free(ctx, adj);
  kiln_free(ctx, heap);
  kiln_free(ctx, order);
  return st;
}

void ir_error_node(ir_graph *g, ir_node_id n, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const ir_node *nd = &g->nodes[n];
  kiln_error_node(g->ctx, nd->name, nd->op < IR_OP_COUNT ? ir_ops[nd->op].name : "?", "%s", msg);
}

/* A double as int64, truncated; NaN and values out of range (whose cast
 * is undefined behaviour) give 0.  Only integer readers use the result,
 * and they read integer dtypes. */
static int64_t double_to_i64(double d) {
  return d > -9223372036854775808.0 && d < 9223372036854775808.0 ? (int64_t)d : 0;
}

/* Element i of a constant payload as int64 or double, by dtype. */
static bool load_elem(ir_dtype dt, const void *data, int64_t i, int64_t *iv, double *dv) {
  switch (dt) {
#define CASE(DT, T) \
  case DT: *iv = (int64_t)((const T *)data)[i]; *dv = (double)((const T *)data)[i]; return true;
    CASE(IR_I8, int8_t) CASE(IR_U8, uint8_t) CASE(IR_I16, int16_t) CASE(IR_U16, uint16_t)
    CASE(IR_I32, int32_t) CASE(IR_U32, uint32_t) CASE(IR_I64, int64_t) CASE(IR_U64, uint64_t)
    CASE(IR_BOOL, uint8_t)
#undef CASE
  case IR_F32: *dv = ((const float *)data)[i]; *iv = double_to_i64(*dv); return true;
  case IR_F64: *dv = ((const double *)data)[i]; *iv = double_to_i64(*dv); return true;
  default: return false;
  }
}

int64_t ir_const_ints(const ir_graph *g, ir_value_id v, int64_t *out, int64_t max) {
  const void *data = ir_const_data(g, v);
  if (!data) return -1;
  const ir_value *val = &g->values[v];
  if (!ir_dtype_is_int(val->dtype) && val->dtype != IR_BOOL) return -1;
  int64_t n = ir_shape_numel(&val->shape);
  if (n < 0 || n > max) return -1;
  double d;
  for (int64_t i = 0; i < n; i++)
    if (!load_elem(val->dtype, data, i, &out[i], &d)) return -1;
  return n;
}

bool ir_const_scalar(const ir_graph *g, ir_value_id v, double *out) {
  const void *data = ir_const_data(g, v);
  if (!data || ir_shape_numel(&g->values[v].shape) != 1) return false;
  int64_t iv;
  return load_elem(g->values[v].dtype, data, 0, &iv, out);
}

kiln_status ir_bind_input(ir_graph *g, const char *name, ir_dtype dtype, int rank,
                          const int64_t *dims, const void *data, int64_t nbytes) {
  int pos = -1;
  for (int32_t i = 0; i < g->num_inputs; i++)
    if (!strcmp(g->values[g->inputs[i]].name, name)) pos = i;
  if (pos < 0) {
    kiln_error(g->ctx, "--bind: the model has no input named '%s'", name);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  ir_value *v = &g->values[g->inputs[pos]];
  bool fits = v->dtype == dtype && (v->shape.rank < 0 || v->shape.rank == rank);
  for (int d = 0; fits && v->shape.rank >= 0 && d < rank; d++)
    fits = !ir_dim_is_static(v->shape.dims[d]) || v->shape.dims[d] == dims[d];
  if (!fits || rank > KILN_MAX_RANK) {
    kiln_error(g->ctx, "--bind: the value given for input '%s' is %s of rank %d, which does "
               "not match the model's declaration (%s of rank %d)", name, ir_dtype_name(dtype),
               rank, ir_dtype_name(v->dtype), v->shape.rank);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  v->storage = IR_STORAGE_CONST;
  v->shape = ir_shape_make(rank, dims);
  v->nbytes = nbytes;
  v->data = nbytes ? ir_arena_dup(&g->arena, data, (size_t)nbytes) : ir_arena_alloc(&g->arena, 1);
  v->hash = ir_hash_bytes(v->data, (size_t)nbytes);
  memmove(&g->inputs[pos], &g->inputs[pos + 1], (size_t)(g->num_inputs - pos - 1) * sizeof *g->inputs);
  g->num_inputs--;
  return KILN_OK;
}

int64_t ir_packed_numel(const ir_shape *shape, const ir_layout *l) {
  int64_t numel = ir_shape_numel(shape);
  if (l->kind != IR_LAYOUT_PACKED || numel < 0 || l->block < 1 || l->block2 < 0 ||
      l->block2 >= shape->rank || shape->dims[l->block2] == 0)
    return -1;
  int64_t d = shape->dims[l->block2];
  return (d + l->block - 1) / l->block * l->block * (numel / d);
}
