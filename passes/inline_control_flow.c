/*
 * inline_control_flow.c — the `inline-control-flow` pass: If, Loop and
 * Scan become straight-line nodes of the enclosing graph.
 *
 * kiln compiles static dataflow graphs: a generated `run` calls one kernel
 * per node, in order.  Control flow fits that model when it can be decided
 * or bounded at compile time, which is the common case in exported
 * models (a Loop over a fixed number of steps, a Scan over a sequence of
 * static length, an If on a flag):
 *
 *   If with a condition known at compile time: the taken branch is copied
 *     into the graph.  With a run-time condition, both branches are copied
 *     and each output becomes Where(cond, then, else), which needs the two
 *     branches to give the same dtype and static shape (both run: ops are
 *     pure, and integer division never traps in kiln).
 *   Loop(M, cond, v...) with M and cond known: the body is copied once per
 *     iteration, iteration t getting the constant t as its counter and the
 *     previous iteration's loop-carried values; each iteration's condition
 *     output must be known at compile time too (typically Identity of its
 *     input).  Scan outputs are stacked along a new first axis (Unsqueeze,
 *     Concat).
 *   Scan: the number of steps is the static extent of the scanned axis.
 *     Step t reads slice t (or T-1-t for reverse direction) of every scan
 *     input with Gather, and the scan outputs are stacked along
 *     scan_output_axes.  Opset 8's batched form (batch first, then time)
 *     runs the same per batch element and stacks the batch back.
 *
 * Copying a body maps its values into the graph: body inputs to the
 * values bound to them, constants to new constants (copies: the body is
 * freed), captured outer values (see compiler/onnx/import.c) to the
 * graph's value of the same name, and every node output to a new value.
 * Each copied node is inferred as it is added, and values a decision
 * depends on (a condition, a trip count) are evaluated with the constant
 * interpreter of fold-constants, without changing the graph.  Results are
 * wired to the control-flow node's own output values through Identity
 * nodes (simplify removes them), so graph outputs keep their names.
 *
 * Control flow nested in a body is copied with it (its subgraphs deep,
 * captures renamed: see clone_graph) and then inlined in turn, so an If
 * inside an If whose conditions are constants becomes straight-line code.
 *
 * Anything else stays as it is and is refused at code generation with
 * the reason (pass_control_flow_why): a trip count or condition only known
 * at run time, branches of different shapes, or more than CF_MAX_NODES
 * copied nodes.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "const_eval.h"
#include "passes.h"

enum { CF_MAX_NODES = 1 << 16, CF_EVAL_DEPTH = 64 };

typedef struct cf_state {
  ir_graph *g;
  ir_arena scratch;     /* evaluation results and maps; freed per node */
  int64_t budget;       /* nodes the pass may still add */
  int inlined;
} cf_state;

/* ---- evaluating values at compile time ------------------------------------------ */
/* Fills t with v's value if it is a constant or computable from constants
 * (at most `depth` producers up); false otherwise.  Changes nothing. */
static bool known(cf_state *s, ir_value_id v, pass_tensor *t, int depth) {
  ir_graph *g = s->g;
  const ir_value *val = &g->values[v];
  memset(t, 0, sizeof *t);
  if (!ir_shape_is_static(&val->shape)) return false;
  if (val->storage == IR_STORAGE_CONST) {
    if (!val->data) return false;
    *t = (pass_tensor){true, val->dtype, val->shape, val->data, val->nbytes};
    return true;
  }
  ir_node_id p = val->producer;
  if (p < 0 || depth <= 0) return false;
  const ir_node *nd = &g->nodes[p];
  pass_tensor *ins = ir_arena_alloc(&s->scratch, (size_t)(nd->num_inputs + 1) * sizeof *ins);
  pass_tensor *outs = ir_arena_alloc(&s->scratch, (size_t)(nd->num_outputs + 1) * sizeof *outs);
  memset(outs, 0, (size_t)(nd->num_outputs + 1) * sizeof *outs);
  for (int i = 0; i < nd->num_inputs; i++) {
    if (nd->inputs[i] < 0) {
      memset(&ins[i], 0, sizeof ins[i]);
      continue;
    }
    if (!known(s, nd->inputs[i], &ins[i], depth - 1)) return false;
  }
  /* the interpreter reports model errors on the node; a failed evaluation
   * here only means "not known" */
  kiln_ctx *ctx = g->ctx;
  FILE *saved = ctx->diag_stream;
  int errors = ctx->num_errors;
  ctx->diag_stream = NULL;
  kiln_status st = pass_eval_node(g, p, ins, outs, &s->scratch);
  ctx->diag_stream = saved;
  ctx->num_errors = errors;
  if (st) return false;
  for (int k = 0; k < nd->num_outputs; k++)
    if (nd->outputs[k] == v && outs[k].present && outs[k].data) {
      *t = outs[k];
      return true;
    }
  return false;
}

static bool known_int(cf_state *s, ir_value_id v, int64_t *out) {
  pass_tensor t;
  if (v < 0 || !known(s, v, &t, CF_EVAL_DEPTH) || ir_shape_numel(&t.shape) != 1) return false;
  if (!ir_dtype_is_int(t.dtype) && t.dtype != IR_BOOL) return false;
  *out = pass_get_int(&t, 0);
  return true;
}

/* ---- building nodes ---------------------------------------------------------------------- */
/* Adds node op(ins) -> a new value named after `base` (or into `into` if
 * >= 0) and infers it; returns the output value or IR_NONE on a model
 * error (already reported). */
static ir_value_id add(cf_state *s, ir_op op, const char *base, int nin, const ir_value_id *ins,
                       ir_value_id into, ir_node_id *made) {
  ir_graph *g = s->g;
  ir_shape unknown = {.rank = -1};
  ir_value_id y = into >= 0 ? into : ir_add_value(g, base, IR_UNDEFINED, &unknown);
  ir_node_id n = ir_add_node(g, op, NULL, nin, ins, 1, &y);
  s->budget--;
  if (made) *made = n;
  return y;
}

static kiln_status infer(cf_state *s, ir_node_id n) { return pass_infer_node(s->g, n); }

static ir_value_id const_scalar(cf_state *s, const char *base, ir_dtype dt, int64_t v) {
  ir_shape sc = {.rank = 0};
  uint8_t buf[8];
  if (dt == IR_BOOL) buf[0] = v != 0;
  else memcpy(buf, &v, 8);
  return ir_add_const(s->g, base, dt, &sc, buf, dt == IR_BOOL ? 1 : 8, false);
}

/* y = op(x) with an int axis: Gather(x, const index) along `axis`. */
static ir_value_id gather(cf_state *s, ir_value_id x, int64_t index, int64_t axis, kiln_status *st) {
  ir_node_id n;
  ir_value_id in[2] = {x, const_scalar(s, "cf.index", IR_I64, index)};
  ir_value_id y = add(s, IR_OP_GATHER, "cf.slice", 2, in, IR_NONE, &n);
  ir_set_attr_int(s->g, n, "axis", axis);
  *st = infer(s, n);
  return y;
}

/* Unsqueeze(x) at `axis`, as the graph's opset spells it. */
static ir_value_id unsqueeze(cf_state *s, ir_value_id x, int64_t axis, kiln_status *st) {
  ir_graph *g = s->g;
  ir_node_id n;
  ir_value_id y;
  if (g->opset >= 13) {
    ir_shape one = ir_shape_make(1, (int64_t[]){1});
    ir_value_id ax = ir_add_const(g, "cf.axes", IR_I64, &one, &axis, 8, false);
    y = add(s, IR_OP_UNSQUEEZE, "cf.piece", 2, (ir_value_id[]){x, ax}, IR_NONE, &n);
  } else {
    y = add(s, IR_OP_UNSQUEEZE, "cf.piece", 1, &x, IR_NONE, &n);
    ir_set_attr_ints(g, n, "axes", &axis, 1);
  }
  *st = infer(s, n);
  return y;
}

/* Concat(pieces...) along axis into `into`. */
static kiln_status concat(cf_state *s, const ir_value_id *pieces, int count, int64_t axis,
                          ir_value_id into) {
  ir_node_id n;
  add(s, IR_OP_CONCAT, "cf.stack", count, pieces, into, &n);
  ir_set_attr_int(s->g, n, "axis", axis);
  return infer(s, n);
}

/* Stacks `count` values of equal shape along a new axis into `into`
 * (reversed order if `reverse`). */
static kiln_status stack(cf_state *s, const ir_value_id *vals, int count, int64_t axis,
                         bool reverse, ir_value_id into) {
  kiln_status st = KILN_OK;
  ir_value_id *pieces = ir_arena_alloc(&s->scratch, (size_t)(count + 1) * sizeof *pieces);
  for (int t = 0; t < count && !st; t++) pieces[t] = unsqueeze(s, vals[reverse ? count - 1 - t : t], axis, &st);
  return st ? st : concat(s, pieces, count, axis, into);
}

static kiln_status identity(cf_state *s, ir_value_id x, ir_value_id into) {
  ir_node_id n;
  add(s, IR_OP_IDENTITY, "cf.out", 1, &x, into, &n);
  return infer(s, n);
}

/* ---- copying a body ------------------------------------------------------------------------ */
/*
 * Nested control flow.  A body may hold If, Loop or Scan nodes of its own
 * (a voice-activity detector switches on the sample rate inside a branch).
 * Copying such a node copies its subgraphs too, deep, so the copy owns
 * them (the original body is freed when its node retires).  A subgraph
 * reads values of its direct parent by name (captures, see
 * compiler/onnx/import.c); the parent's values get new names in the
 * graph ("If_0/then/x"), so each capture is renamed to match: `renames`
 * maps a name the subgraph captured to the graph value now holding it.
 * ONNX names are unique across scopes, so one map serves every depth.
 * The copied node then sits in the enclosing graph like any other
 * control-flow node, and the pass reaches it later in the same walk.
 */
typedef struct cf_rename {
  const char *from, *to;
} cf_rename;

static ir_graph *clone_graph(kiln_ctx *ctx, const ir_graph *b, const cf_rename *rn, int nrn);

static bool copy_attr(ir_graph *g, ir_node_id n, const ir_attr *a, const cf_rename *rn, int nrn) {
  if (a->kind == IR_ATTR_GRAPHS) return false; /* ir_attr holds no list of graphs */
  ir_graph *sub = NULL;
  if (a->kind == IR_ATTR_GRAPH && a->graph && !(sub = clone_graph(g->ctx, a->graph, rn, nrn)))
    return false;
  ir_attr *c = ir_set_attr(g, n, a->name, a->kind);
  c->graph = sub;
  c->i = a->i;
  c->f = a->f;
  c->count = a->count;
  c->s_len = a->s_len;
  if (a->s) {
    char *str = ir_arena_alloc(&g->arena, (size_t)a->s_len + 1);
    memcpy(str, a->s, (size_t)a->s_len + 1);
    c->s = str;
  }
  if (a->ints) c->ints = ir_arena_dup(&g->arena, a->ints, (size_t)a->count * sizeof *a->ints);
  if (a->floats) c->floats = ir_arena_dup(&g->arena, a->floats, (size_t)a->count * sizeof *a->floats);
  if (a->strings) {
    const char **ss = ir_arena_alloc(&g->arena, (size_t)(a->count + 1) * sizeof *ss);
    for (int i = 0; i < a->count; i++) ss[i] = ir_arena_strdup(&g->arena, a->strings[i]);
    c->strings = ss;
  }
  if (a->tensor) {
    int nt = a->kind == IR_ATTR_TENSOR ? 1 : a->count;
    ir_tensor *ts = ir_arena_dup(&g->arena, a->tensor, (size_t)nt * sizeof *ts);
    for (int i = 0; i < nt; i++)
      if (ts[i].data) ts[i].data = ir_arena_dup(&g->arena, ts[i].data, (size_t)ts[i].nbytes);
    c->tensor = ts;
  }
  return true;
}

/* A capture: an input-storage value no node makes that is not one of the
 * graph's declared inputs. */
static bool is_capture(const ir_graph *b, ir_value_id v) {
  if (b->values[v].storage != IR_STORAGE_INPUT || b->values[v].producer >= 0) return false;
  for (int i = 0; i < b->num_inputs; i++)
    if (b->inputs[i] == v) return false;
  return true;
}

/* A deep copy of body b (same value and node ids), its captures renamed
 * as `rn` says and every payload copied into the copy's own arena.  NULL
 * if b holds something this copy cannot carry (quantization records). */
static ir_graph *clone_graph(kiln_ctx *ctx, const ir_graph *b, const cf_rename *rn, int nrn) {
  ir_graph *c = ir_graph_new(ctx, b->name);
  c->opset = b->opset;
  c->ir_version = b->ir_version;
  for (int32_t i = 0; i < b->num_syms; i++) ir_sym(c, b->syms[i]); /* same indices */
  for (ir_value_id v = 0; v < b->num_values; v++) {
    const ir_value *bv = &b->values[v];
    const char *name = bv->name;
    if (is_capture(b, v))
      for (int r = 0; r < nrn; r++)
        if (!strcmp(rn[r].from, name)) name = rn[r].to;
    ir_value_id id = bv->storage == IR_STORAGE_CONST
                         ? ir_add_const(c, name, bv->dtype, &bv->shape, bv->data, bv->nbytes, false)
                         : ir_add_value_unique(c, name, bv->dtype, &bv->shape);
    ir_value *cv = &c->values[id];
    assert(id == v);
    if (bv->quant) {
      ir_graph_free(c);
      return NULL;
    }
    cv->storage = bv->storage;
    cv->layout = bv->layout;
    cv->sparsity = bv->sparsity;
    cv->dead = bv->dead;
  }
  c->inputs = ir_arena_dup(&c->arena, b->inputs, (size_t)(b->num_inputs + 1) * sizeof *c->inputs);
  c->num_inputs = b->num_inputs;
  c->outputs = ir_arena_dup(&c->arena, b->outputs, (size_t)(b->num_outputs + 1) * sizeof *c->outputs);
  c->num_outputs = b->num_outputs;
  for (ir_node_id n = 0; n < b->num_nodes; n++) {
    const ir_node *bn = &b->nodes[n];
    ir_node_id id = ir_add_node(c, bn->op, bn->name, bn->num_inputs, bn->inputs, bn->num_outputs,
                                bn->outputs);
    c->nodes[id].dead = bn->dead;
    for (int a = 0; a < bn->num_attrs; a++)
      if (!copy_attr(c, id, &bn->attrs[a], rn, nrn)) {
        ir_graph_free(c);
        return NULL;
      }
  }
  return c;
}

typedef struct body_map {
  cf_state *s;
  const ir_graph *b;
  ir_value_id *map;     /* map[body value] = graph value, IR_NONE until made */
} body_map;

/* The graph's value for body value v (constants and captures on demand). */
static ir_value_id mapped(body_map *m, ir_value_id v) {
  if (v < 0) return IR_NONE;
  if (m->map[v] >= 0) return m->map[v];
  const ir_value *bv = &m->b->values[v];
  if (bv->storage == IR_STORAGE_CONST)
    m->map[v] = ir_add_const(m->s->g, bv->name, bv->dtype, &bv->shape, bv->data, bv->nbytes, false);
  else if (bv->storage == IR_STORAGE_INPUT && bv->producer < 0)
    m->map[v] = ir_find_value(m->s->g, bv->name); /* a capture of the enclosing graph */
  return m->map[v];
}

/* Collects into rn every name a subgraph captures at any depth (see
 * clone_graph), paired with the name of the graph value that now holds
 * the body value of that name.  Names resolving to nothing stay as they
 * are (the subgraph then fails to inline, and codegen says why). */
static void collect_renames(body_map *m, const ir_graph *sub, cf_rename **rn, int *n, int *cap) {
  for (ir_value_id v = 0; v < sub->num_values; v++) {
    if (!is_capture(sub, v)) continue;
    ir_value_id bv = ir_find_value(m->b, sub->values[v].name);
    ir_value_id gv = bv >= 0 ? mapped(m, bv) : IR_NONE;
    if (gv < 0) continue;
    if (*n == *cap) {
      cf_rename *bigger = ir_arena_alloc(&m->s->scratch, (size_t)(2 * *cap + 8) * sizeof *bigger);
      if (*n) memcpy(bigger, *rn, (size_t)*n * sizeof *bigger);
      *rn = bigger;
      *cap = 2 * *cap + 8;
    }
    (*rn)[(*n)++] = (cf_rename){sub->values[v].name, m->s->g->values[gv].name};
  }
  for (ir_node_id k = 0; k < sub->num_nodes; k++)
    for (int a = 0; a < sub->nodes[k].num_attrs; a++)
      if (sub->nodes[k].attrs[a].kind == IR_ATTR_GRAPH && sub->nodes[k].attrs[a].graph)
        collect_renames(m, sub->nodes[k].attrs[a].graph, rn, n, cap);
}

static const cf_rename *a_renames(body_map *m, const ir_attr *a, int *n) {
  cf_rename *rn = NULL;
  int cap = 0;
  *n = 0;
  if (a->kind == IR_ATTR_GRAPH && a->graph) collect_renames(m, a->graph, &rn, n, &cap);
  return rn;
}

/* Copies body b into the graph with its inputs bound to binds[], writing
 * the graph values of its outputs to outs[].  *ok is false (and nothing is
 * wired) when the body cannot be copied. */
static kiln_status copy_body(cf_state *s, const ir_graph *b, const ir_value_id *binds,
                             const char *prefix, ir_value_id *outs, bool *ok) {
  ir_graph *g = s->g;
  *ok = false;
  if (b->num_nodes > s->budget) return KILN_OK;
  /* an If branch declares no inputs; a (malformed) one that does has
   * nothing to bind them to, so it is not copied */
  if (b->num_inputs > 0 && !binds) return KILN_OK;
  body_map m = {s, b, ir_arena_alloc(&s->scratch, (size_t)(b->num_values + 1) * sizeof *m.map)};
  for (int32_t v = 0; v < b->num_values; v++) m.map[v] = IR_NONE;
  for (int i = 0; i < b->num_inputs; i++) m.map[b->inputs[i]] = binds[i];
  for (int32_t n = 0; n < b->num_nodes; n++) {
    const ir_node *bn = &b->nodes[n];
    if (bn->dead) continue;
    ir_value_id *ins = ir_arena_alloc(&s->scratch, (size_t)(bn->num_inputs + bn->num_outputs + 1) * sizeof *ins);
    ir_value_id *os = ins + bn->num_inputs;
    for (int i = 0; i < bn->num_inputs; i++) {
      ins[i] = mapped(&m, bn->inputs[i]);
      if (bn->inputs[i] >= 0 && ins[i] < 0) return KILN_OK; /* an unresolved name */
    }
    for (int k = 0; k < bn->num_outputs; k++) {
      ir_value_id bo = bn->outputs[k];
      if (bo < 0) {
        os[k] = IR_NONE;
        continue;
      }
      char name[256];
      snprintf(name, sizeof name, "%s/%s", prefix, b->values[bo].name);
      os[k] = m.map[bo] = ir_add_value(g, name, b->values[bo].dtype, &b->values[bo].shape);
    }
    char nname[256];
    snprintf(nname, sizeof nname, "%s/%s", prefix, bn->name);
    ir_node_id c = ir_add_node(g, bn->op, nname, bn->num_inputs, ins, bn->num_outputs, os);
    s->budget--;
    for (int a = 0; a < bn->num_attrs; a++) {
      int nrn = 0;
      const cf_rename *rn = a_renames(&m, &bn->attrs[a], &nrn);
      if (!copy_attr(g, c, &bn->attrs[a], rn, nrn)) return KILN_OK; /* left to codegen's message */
    }
    kiln_status st = infer(s, c);
    if (st) return st;
  }
  for (int k = 0; k < b->num_outputs; k++) {
    outs[k] = mapped(&m, b->outputs[k]);
    if (outs[k] < 0) return KILN_OK;
  }
  *ok = true;
  return KILN_OK;
}

/* Retires control-flow node n: dead, its outputs unproduced, its bodies
 * freed (nothing refers to them any more: copies took their data). */
static void retire(cf_state *s, ir_node_id n) {
  ir_node *nd = &s->g->nodes[n];
  nd->dead = true;
  for (int k = 0; k < nd->num_outputs; k++)
    if (nd->outputs[k] >= 0) s->g->values[nd->outputs[k]].producer = IR_NONE;
  for (int a = 0; a < nd->num_attrs; a++)
    if (nd->attrs[a].kind == IR_ATTR_GRAPH) {
      ir_graph_free(nd->attrs[a].graph);
      nd->attrs[a].graph = NULL;
      nd->attrs[a].kind = IR_ATTR_UNDEFINED;
    }
  s->inlined++;
}

static const ir_graph *body_attr(ir_graph *g, ir_node_id n, const char *name) {
  const ir_attr *a = ir_get_attr(g, n, name);
  return a && a->kind == IR_ATTR_GRAPH ? a->graph : NULL;
}

/* ---- If ------------------------------------------------------------------------------------ */
static kiln_status inline_if(cf_state *s, ir_node_id n) {
  ir_graph *g = s->g;
  const ir_graph *tb = body_attr(g, n, "then_branch"), *eb = body_attr(g, n, "else_branch");
  if (!tb || !eb) return KILN_OK;
  int nout = g->nodes[n].num_outputs;
  ir_value_id cond = g->nodes[n].inputs[0];
  const char *name = g->nodes[n].name;
  ir_value_id *a = ir_arena_alloc(&s->scratch, (size_t)(2 * nout + 1) * sizeof *a), *b = a + nout;
  int64_t c;
  bool ok;
  char prefix[200];
  kiln_status st;
  if (known_int(s, cond, &c)) {
    snprintf(prefix, sizeof prefix, "%s/%s", name, c ? "then" : "else");
    if ((st = copy_body(s, c ? tb : eb, NULL, prefix, a, &ok)) || !ok) return st;
  } else {
    if (g->opset < 9) return KILN_OK; /* no Where to select with */
    snprintf(prefix, sizeof prefix, "%s/then", name);
    if ((st = copy_body(s, tb, NULL, prefix, a, &ok)) || !ok) return st;
    snprintf(prefix, sizeof prefix, "%s/else", name);
    if ((st = copy_body(s, eb, NULL, prefix, b, &ok)) || !ok) return st;
    for (int k = 0; k < nout; k++) {
      const ir_value *x = &g->values[a[k]], *y = &g->values[b[k]];
      if (x->dtype != y->dtype || !ir_shape_is_static(&x->shape) || !ir_shape_equal(&x->shape, &y->shape))
        return KILN_OK; /* the copies are unused: dead code removes them */
    }
    for (int k = 0; k < nout; k++) {
      ir_node_id w;
      a[k] = add(s, IR_OP_WHERE, "cf.select", 3, (ir_value_id[]){cond, a[k], b[k]}, IR_NONE, &w);
      if ((st = infer(s, w))) return st;
    }
  }
  const ir_node *nd = &g->nodes[n];
  ir_value_id *outs = ir_arena_dup(&s->scratch, nd->outputs, (size_t)nout * sizeof *outs);
  retire(s, n);
  for (int k = 0; k < nout && !st; k++)
    if (outs[k] >= 0) st = identity(s, a[k], outs[k]);
  return st;
}

/* ---- Loop ------------------------------------------------------------------------------------ */
static kiln_status inline_loop(cf_state *s, ir_node_id n) {
  ir_graph *g = s->g;
  const ir_graph *b = body_attr(g, n, "body");
  const ir_node *nd = &g->nodes[n];
  int carried = nd->num_inputs - 2, nout = nd->num_outputs;
  if (!b || carried < 0 || b->num_inputs != carried + 2) return KILN_OK;
  int scans = b->num_outputs - 1 - carried;
  int64_t trips, c = 1;
  if (nd->inputs[0] < 0 || !known_int(s, nd->inputs[0], &trips) || trips < 0) return KILN_OK;
  if (nd->inputs[1] >= 0 && !known_int(s, nd->inputs[1], &c)) return KILN_OK;
  if (trips * (b->num_nodes + 4) > s->budget) return KILN_OK;
  ir_value_id *cur = ir_arena_alloc(&s->scratch, (size_t)(carried + 2) * sizeof *cur);
  for (int k = 0; k < carried; k++) cur[k] = nd->inputs[2 + k];
  ir_value_id *binds = ir_arena_alloc(&s->scratch, (size_t)(carried + 3) * sizeof *binds);
  ir_value_id *outs = ir_arena_alloc(&s->scratch, (size_t)(b->num_outputs + 1) * sizeof *outs);
  ir_value_id *pieces = ir_arena_alloc(&s->scratch, (size_t)(scans * trips + 1) * sizeof *pieces);
  char name[128];
  snprintf(name, sizeof name, "%s", nd->name);
  int64_t t = 0;
  kiln_status st = KILN_OK;
  for (; t < trips && c; t++) {
    binds[0] = const_scalar(s, "cf.iter", IR_I64, t);
    binds[1] = const_scalar(s, "cf.cond", IR_BOOL, 1);
    for (int k = 0; k < carried; k++) binds[2 + k] = cur[k];
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%s/%lld", name, (long long)t);
    bool ok;
    if ((st = copy_body(s, b, binds, prefix, outs, &ok)) || !ok) return st;
    if (!known_int(s, outs[0], &c)) return KILN_OK; /* a condition decided at run time */
    for (int k = 0; k < carried; k++) cur[k] = outs[1 + k];
    for (int k = 0; k < scans; k++) pieces[k * trips + t] = outs[1 + carried + k];
  }
  int64_t done = t;
  nd = &g->nodes[n];
  ir_value_id *res = ir_arena_dup(&s->scratch, nd->outputs, (size_t)nout * sizeof *res);
  for (int k = carried; k < nout; k++)
    if (res[k] >= 0 && done == 0) return KILN_OK; /* an empty scan output has no known shape */
  retire(s, n);
  for (int k = 0; k < nout && !st; k++) {
    if (res[k] < 0) continue;
    if (k < carried) st = identity(s, cur[k], res[k]);
    else st = stack(s, pieces + (k - carried) * trips, (int)done, 0, false, res[k]);
  }
  return st;
}

/* ---- Scan ------------------------------------------------------------------------------------- */
typedef struct scan_plan {
  int states, inputs, outputs;      /* N, M, K */
  int64_t steps;
  const int64_t *in_axes, *in_dirs, *out_axes, *out_dirs;
  int n_in_axes, n_in_dirs, n_out_axes, n_out_dirs;
} scan_plan;

/* Runs the body over `steps` steps: xs[j] the scan inputs (scanned along
 * in_axes), st0 the initial states; final states go to fin[], each scan
 * output stacked into a new value in stacked[] (or into into[k] if given). */
static kiln_status run_scan(cf_state *s, const ir_graph *b, const scan_plan *p, const ir_value_id *xs,
                            const ir_value_id *st0, const char *prefix, ir_value_id *fin,
                            ir_value_id *stacked, bool *ok) {
  ir_graph *g = s->g;
  kiln_status st = KILN_OK;
  ir_value_id *binds = ir_arena_alloc(&s->scratch, (size_t)(p->states + p->inputs + 1) * sizeof *binds);
  ir_value_id *outs = ir_arena_alloc(&s->scratch, (size_t)(b->num_outputs + 1) * sizeof *outs);
  ir_value_id *pieces = ir_arena_alloc(&s->scratch, (size_t)(p->outputs * p->steps + 1) * sizeof *pieces);
  for (int k = 0; k < p->states; k++) fin[k] = st0[k];
  for (int64_t t = 0; t < p->steps; t++) {
    for (int k = 0; k < p->states; k++) binds[k] = fin[k];
    for (int j = 0; j < p->inputs && !st; j++) {
      int64_t axis = j < p->n_in_axes ? p->in_axes[j] : 0;
      int rank = g->values[xs[j]].shape.rank;
      if (axis < 0) axis += rank;
      bool rev = j < p->n_in_dirs && p->in_dirs[j];
      binds[p->states + j] = gather(s, xs[j], rev ? p->steps - 1 - t : t, axis, &st);
    }
    if (st) return st;
    char pre[220];
    snprintf(pre, sizeof pre, "%s/%lld", prefix, (long long)t);
    if ((st = copy_body(s, b, binds, pre, outs, ok)) || !*ok) return st;
    for (int k = 0; k < p->states; k++) fin[k] = outs[k];
    for (int k = 0; k < p->outputs; k++) pieces[k * p->steps + t] = outs[p->states + k];
  }
  for (int k = 0; k < p->outputs && !st; k++) {
    int64_t axis = k < p->n_out_axes ? p->out_axes[k] : 0;
    int rank = g->values[pieces[k * p->steps]].shape.rank + 1;
    if (axis < 0) axis += rank;
    bool rev = k < p->n_out_dirs && p->out_dirs[k];
    if (stacked[k] < 0) {
      ir_shape unknown = {.rank = -1};
      stacked[k] = ir_add_value(g, "cf.scan", IR_UNDEFINED, &unknown);
    }
    st = stack(s, pieces + k * p->steps, (int)p->steps, axis, rev, stacked[k]);
  }
  return st;
}

static kiln_status inline_scan(cf_state *s, ir_node_id n) {
  ir_graph *g = s->g;
  const ir_graph *b = body_attr(g, n, "body");
  const ir_node *nd = &g->nodes[n];
  bool v8 = g->opset > 0 && g->opset < 9;
  int first = v8 ? 1 : 0;
  scan_plan p = {.inputs = (int)ir_attr_int_or(g, n, "num_scan_inputs", -1)};
  p.states = nd->num_inputs - first - p.inputs;
  p.outputs = b ? b->num_outputs - p.states : -1;
  if (!b || p.inputs < 1 || p.states < 0 || p.outputs < 0) return KILN_OK;
  if (v8 && nd->num_inputs > 0 && nd->inputs[0] >= 0) return KILN_OK; /* sequence_lens */
  p.n_in_axes = ir_attr_ints(g, n, "scan_input_axes", &p.in_axes);
  p.n_in_dirs = ir_attr_ints(g, n, v8 ? "directions" : "scan_input_directions", &p.in_dirs);
  p.n_out_axes = ir_attr_ints(g, n, "scan_output_axes", &p.out_axes);
  p.n_out_dirs = ir_attr_ints(g, n, "scan_output_directions", &p.out_dirs);
  if (v8) p.n_in_axes = p.n_out_axes = p.n_out_dirs = 0;
  const ir_value *x0 = &g->values[nd->inputs[first + p.states]];
  if (!ir_shape_is_static(&x0->shape) || x0->shape.rank < (v8 ? 2 : 1)) return KILN_OK;
  int64_t axis0 = p.n_in_axes ? p.in_axes[0] : 0;
  if (axis0 < 0) axis0 += x0->shape.rank;
  int64_t batch = v8 ? x0->shape.dims[0] : 1;
  p.steps = x0->shape.dims[v8 ? 1 : axis0];
  if (p.steps < 1 || batch < 1 || batch * p.steps * (b->num_nodes + 8) > s->budget) return KILN_OK;

  int nio = p.states + p.inputs + 1;
  ir_value_id *xs = ir_arena_alloc(&s->scratch, (size_t)nio * sizeof *xs);
  ir_value_id *st0 = ir_arena_alloc(&s->scratch, (size_t)nio * sizeof *st0);
  ir_value_id *fin = ir_arena_alloc(&s->scratch, (size_t)nio * sizeof *fin);
  ir_value_id *res = ir_arena_dup(&s->scratch, nd->outputs, (size_t)nd->num_outputs * sizeof *res);
  int nout = nd->num_outputs;
  ir_value_id *bfin = ir_arena_alloc(&s->scratch, (size_t)(batch * nio + 1) * sizeof *bfin);
  ir_value_id *bscan = ir_arena_alloc(&s->scratch, (size_t)(batch * (p.outputs + 1) + 1) * sizeof *bscan);
  const char *name = nd->name;
  char prefix[200];
  kiln_status st = KILN_OK;
  bool ok = true;
  for (int64_t bi = 0; bi < batch && ok && !st; bi++) {
    for (int k = 0; k < p.states && !st; k++) {
      ir_value_id v = g->nodes[n].inputs[first + k];
      st0[k] = v8 ? gather(s, v, bi, 0, &st) : v;
    }
    for (int j = 0; j < p.inputs && !st; j++) {
      ir_value_id v = g->nodes[n].inputs[first + p.states + j];
      xs[j] = v8 ? gather(s, v, bi, 0, &st) : v;
    }
    if (st) return st;
    ir_value_id *sc = bscan + bi * (p.outputs + 1);
    for (int k = 0; k < p.outputs; k++)
      sc[k] = !v8 && p.states + k < nout ? res[p.states + k] : IR_NONE;
    snprintf(prefix, sizeof prefix, v8 ? "%s/b%lld" : "%s", name, (long long)bi);
    st = run_scan(s, b, &p, xs, st0, prefix, bfin + bi * nio, sc, &ok);
  }
  if (st || !ok) return st;
  retire(s, n);
  for (int k = 0; k < p.states && k < nout && !st; k++) {
    if (res[k] < 0) continue;
    if (!v8) {
      st = identity(s, bfin[k], res[k]);
      continue;
    }
    ir_value_id *per = ir_arena_alloc(&s->scratch, (size_t)(batch + 1) * sizeof *per);
    for (int64_t bi = 0; bi < batch; bi++) per[bi] = bfin[bi * nio + k];
    st = stack(s, per, (int)batch, 0, false, res[k]);
  }
  for (int k = 0; v8 && k < p.outputs && p.states + k < nout && !st; k++) {
    if (res[p.states + k] < 0) continue;
    ir_value_id *per = ir_arena_alloc(&s->scratch, (size_t)(batch + 1) * sizeof *per);
    for (int64_t bi = 0; bi < batch; bi++) per[bi] = bscan[bi * (p.outputs + 1) + k];
    st = stack(s, per, (int)batch, 0, false, res[p.states + k]);
  }
  return st;
}

kiln_status pass_inline_control_flow(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  (void)opt;
  cf_state s = {.g = g, .budget = CF_MAX_NODES};
  ir_arena_init(&s.scratch, ctx);
  kiln_status st = KILN_OK;
  /* num_nodes grows as bodies are copied: control flow nested in a body
   * is copied as a node and reached later in this same walk */
  for (ir_node_id n = 0; n < g->num_nodes && !st; n++) {
    if (g->nodes[n].dead) continue;
    switch (g->nodes[n].op) {
    case IR_OP_IF: st = inline_if(&s, n); break;
    case IR_OP_LOOP: st = inline_loop(&s, n); break;
    case IR_OP_SCAN: st = inline_scan(&s, n); break;
    default: break;
    }
    ir_arena_free(&s.scratch);
  }
  if (!st && s.inlined) {
    ir_graph_compact(g);
    st = ir_graph_toposort(g);
  }
  kiln_note(ctx, "inline-control-flow: inlined %d nodes", s.inlined);
  ir_arena_free(&s.scratch);
  return st;
}

/* ---- why a control-flow node stayed ------------------------------------------------------- */
/* The first graph input (by name) that value v depends on, or NULL. */
static const char *input_behind(const ir_graph *g, ir_value_id v, int depth) {
  if (v < 0 || depth > CF_EVAL_DEPTH) return NULL;
  const ir_value *val = &g->values[v];
  if (val->storage == IR_STORAGE_INPUT) return val->name;
  if (val->producer < 0) return NULL;
  const ir_node *nd = &g->nodes[val->producer];
  for (int i = 0; i < nd->num_inputs; i++) {
    const char *in = input_behind(g, nd->inputs[i], depth + 1);
    if (in) return in;
  }
  return NULL;
}

/* "the condition is only known at run time" plus, when a graph input
 * decides it, the --bind that would make it a constant. */
static void run_time(const ir_graph *g, ir_value_id v, const char *what, char *buf, size_t size) {
  const char *in = input_behind(g, v, 0);
  if (in)
    snprintf(buf, size, "%s is only known at run time: it depends on graph input '%s' (--bind "
                        "%s=VALUE makes it a constant)", what, in, in);
  else
    snprintf(buf, size, "%s is only known at run time", what);
}

void pass_control_flow_why(ir_graph *g, ir_node_id n, char *buf, size_t size) {
  cf_state s = {.g = g, .budget = CF_MAX_NODES};
  ir_arena_init(&s.scratch, g->ctx);
  const ir_node *nd = &g->nodes[n];
  int64_t c;
  char why[400];
  if (nd->op == IR_OP_IF) {
    if (known_int(&s, nd->inputs[0], &c)) {
      snprintf(buf, size, "the condition is %s at compile time, but the %s branch could not be "
                          "copied into the graph (more than %d nodes, or it reads a value kiln "
                          "cannot resolve)", c ? "true" : "false", c ? "then" : "else",
               CF_MAX_NODES);
    } else {
      run_time(g, nd->inputs[0], "the condition", why, sizeof why);
      if (g->opset < 9)
        snprintf(buf, size, "%s, and opset %d has no Where to select between both branches", why,
                 g->opset);
      else
        snprintf(buf, size, "%s, and the branches' outputs differ in dtype or static shape (kiln "
                            "computes both branches and selects, which needs equal static "
                            "shapes)", why);
    }
  } else if (nd->op == IR_OP_LOOP) {
    if (nd->inputs[0] < 0 || !known_int(&s, nd->inputs[0], &c)) {
      run_time(g, nd->inputs[0], "the trip count", why, sizeof why);
      snprintf(buf, size, "%s (kiln unrolls loops, so the number of iterations must be a "
                          "constant)", why);
    } else if (nd->num_inputs > 1 && nd->inputs[1] >= 0 && !known_int(&s, nd->inputs[1], &c)) {
      run_time(g, nd->inputs[1], "the loop condition", why, sizeof why);
      snprintf(buf, size, "%s (kiln unrolls loops, so every iteration's condition must be a "
                          "constant)", why);
    } else {
      snprintf(buf, size, "an iteration's condition is only known at run time, or the loop is too "
                          "long to unroll (more than %d copied nodes)", CF_MAX_NODES);
    }
  } else {
    snprintf(buf, size, "kiln unrolls Scan over the static extent of the scanned axis; this one "
                        "has run-time sequence lengths, an unknown extent or too many steps "
                        "(more than %d copied nodes)", CF_MAX_NODES);
  }
  ir_arena_free(&s.scratch);
}
