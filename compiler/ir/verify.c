/*
 * verify.c — checks a graph's invariants; the pass manager runs it between
 * passes so a broken pass is caught where it breaks, not three passes on.
 *
 * One walk over the values checks what each value must hold on its own
 * (name, rank, dims, enum fields, quantization, constant payload size);
 * a hash set of names catches duplicates.  Then one walk over the live
 * nodes in order checks SSA and acyclicity together: a `defined` mark is
 * set for graph inputs and constants up front and for each node's outputs
 * after its inputs were checked, so an input that is not yet marked is
 * either a use before its definition (a cycle, or a node out of order)
 * or a use of a value nothing defines; an output that is already marked
 * is a second definition.  Graph outputs must be defined at the end.
 *
 * Subgraphs (If/Loop bodies) are not verified: they may read values of
 * the enclosing graph by name, which this IR does not model yet.
 *
 * Attributes must have the kinds ONNX's schemas give them (attr_kinds.h).
 *
 * Every problem is reported (up to a cap), naming the node when there is
 * one; the result is KILN_ERR_INVALID_MODEL if any was found.
 */
#include <stdarg.h>
#include <string.h>

#include "attr_kinds.h"
#include "ir.h"

enum { MAX_REPORTS = 20 };

typedef struct verifier {
  ir_graph *g;
  bool require_shapes;
  int errors;
  int32_t *first_prod; /* per value: first live node writing it */
  uint8_t *defined;    /* per value: defined so far in the walk */
} verifier;

static void node_error(verifier *vf, ir_node_id n, const char *fmt, ...) KILN_PRINTF(3, 4);
static void node_error(verifier *vf, ir_node_id n, const char *fmt, ...) {
  if (vf->errors++ >= MAX_REPORTS) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ir_error_node(vf->g, n, "%s", msg);
}

static void graph_error(verifier *vf, const char *fmt, ...) KILN_PRINTF(2, 3);
static void graph_error(verifier *vf, const char *fmt, ...) {
  if (vf->errors++ >= MAX_REPORTS) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kiln_error(vf->g->ctx, "graph '%s': %s", vf->g->name ? vf->g->name : "", msg);
}

static const char *vname(const ir_graph *g, ir_value_id v) {
  return g->values[v].name ? g->values[v].name : "?";
}

/* Checks one value's own fields. */
static void check_value(verifier *vf, ir_value_id v) {
  const ir_graph *g = vf->g;
  const ir_value *val = &g->values[v];
  const char *nm = vname(g, v);
  if (!val->name) graph_error(vf, "value #%d has no name", v);
  if (!ir_dtype_valid((int)val->dtype) && val->dtype != IR_UNDEFINED)
    graph_error(vf, "value %s has an invalid dtype %d", nm, (int)val->dtype);
  if (val->shape.rank < -1 || val->shape.rank > KILN_MAX_RANK) {
    graph_error(vf, "value %s has rank %d (the limit is %d)", nm, val->shape.rank, KILN_MAX_RANK);
    return;
  }
  for (int i = 0; i < val->shape.rank; i++) {
    int64_t d = val->shape.dims[i];
    if (ir_dim_is_sym(d) && ir_dim_sym(d) >= g->num_syms)
      graph_error(vf, "value %s: dim %d names symbol #%d, which does not exist", nm, i,
                  ir_dim_sym(d));
  }
  if ((unsigned)val->layout.kind > IR_LAYOUT_PACKED ||
      (unsigned)val->sparsity.kind > IR_SPARSE_CSR || (unsigned)val->storage > IR_STORAGE_CONST)
    graph_error(vf, "value %s has an invalid layout, sparsity or storage kind", nm);
  if (!(val->sparsity.density >= 0 && val->sparsity.density <= 1))
    graph_error(vf, "value %s: sparsity density %g is outside [0, 1]", nm,
                (double)val->sparsity.density);
  const ir_quant *q = val->quant;
  if (q) {
    if ((unsigned)q->kind > IR_QUANT_GROUP || q->count < 0 || (q->count > 0 && !q->scales))
      graph_error(vf, "value %s has malformed quantization parameters", nm);
    else if (q->kind == IR_QUANT_TENSOR && q->count != 1)
      graph_error(vf, "value %s is quantized per tensor but has %lld scales", nm,
                  (long long)q->count);
    else if ((q->kind == IR_QUANT_CHANNEL || q->kind == IR_QUANT_GROUP) && val->shape.rank >= 0 &&
             (q->axis < 0 || q->axis >= val->shape.rank))
      graph_error(vf, "value %s is quantized along axis %d of a rank-%d tensor", nm, q->axis,
                  val->shape.rank);
  }
  if (val->storage != IR_STORAGE_CONST) return;
  int64_t numel = ir_shape_numel(&val->shape);
  if (!ir_dtype_valid((int)val->dtype) || numel < 0) {
    graph_error(vf, "constant %s needs a dtype and a static shape", nm);
    return;
  }
  if (numel > KILN_MAX_TENSOR_BYTES)
    graph_error(vf, "constant %s has %lld elements (the limit is 2^40)", nm, (long long)numel);
  else if (val->nbytes < 0 || val->nbytes > KILN_MAX_TENSOR_BYTES)
    graph_error(vf, "constant %s has a size of %lld bytes", nm, (long long)val->nbytes);
  else if (val->layout.kind == IR_LAYOUT_PACKED) {
    int64_t pn = ir_packed_numel(&val->shape, &val->layout);
    if (pn < 0)
      graph_error(vf, "constant %s: packed layout (%d, axis %d) does not fit its shape", nm,
                  val->layout.block, val->layout.block2);
    else if (val->data && ir_dtype_bytes(val->dtype, pn) != val->nbytes)
      graph_error(vf, "constant %s holds %lld bytes but its packed layout needs %lld", nm,
                  (long long)val->nbytes, (long long)ir_dtype_bytes(val->dtype, pn));
  } else if (val->data && val->dtype != IR_STRING && ir_dtype_bytes(val->dtype, numel) != val->nbytes)
    graph_error(vf, "constant %s holds %lld bytes but %lld %s elements need %lld", nm,
                (long long)val->nbytes, (long long)numel, ir_dtype_name(val->dtype),
                (long long)ir_dtype_bytes(val->dtype, numel));
}

/* Reports values sharing a name, with an open-addressing set of ids. */
static void check_names(verifier *vf) {
  ir_graph *g = vf->g;
  uint32_t cap = 16;
  while (cap < (uint32_t)g->num_values * 2) cap *= 2;
  int32_t *set = kiln_malloc(g->ctx, cap * sizeof *set);
  memset(set, 0xff, cap * sizeof *set);
  for (ir_value_id v = 0; v < g->num_values; v++) {
    const char *nm = g->values[v].name;
    if (!nm) continue;
    uint32_t i = (uint32_t)ir_hash_bytes(nm, strlen(nm)) & (cap - 1);
    for (; set[i] >= 0; i = (i + 1) & (cap - 1))
      if (!strcmp(g->values[set[i]].name, nm)) {
        graph_error(vf, "two values are named %s (#%d and #%d)", nm, set[i], v);
        break;
      }
    if (set[i] < 0) set[i] = v;
  }
  kiln_free(g->ctx, set);
}

static void check_shape_known(verifier *vf, ir_node_id n, ir_value_id v) {
  if (!vf->require_shapes) return;
  const ir_value *val = &vf->g->values[v];
  if (val->dtype == IR_UNDEFINED)
    node_error(vf, n, "value %s has no dtype", vname(vf->g, v));
  else if (val->shape.rank < 0)
    node_error(vf, n, "value %s has an unknown rank", vname(vf->g, v));
}

/* Attribute kinds against the ONNX schemas (attr_kinds.h): typed getters
 * would read an attribute of the wrong kind as absent, and compile the
 * op with its default instead. */
static void check_attrs(verifier *vf, ir_node_id n) {
  const ir_node *nd = &vf->g->nodes[n];
  if (nd->num_attrs && !nd->attrs) {
    node_error(vf, n, "malformed attribute list");
    return;
  }
  for (int32_t i = 0; i < nd->num_attrs; i++) {
    const ir_attr *a = &nd->attrs[i];
    unsigned ok = a->name ? ir_attr_kinds_allowed(nd->op, a->name, vf->g->opset) : 0;
    if (!ok || (ok & 1u << a->kind)) continue;
    char want[64] = "";
    for (int k = 0; k < 32; k++)
      if (ok & 1u << k)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", *want ? " or " : "",
                 ir_attr_kind_name(k));
    node_error(vf, n, "attribute '%s' is %s, but %s takes %s", a->name,
               ir_attr_kind_name(a->kind), ir_ops[nd->op].name, want);
  }
}

/* "2", "1 to 3" or "1 or more" (max < 0: variadic). */
static const char *arity_text(int min, int max, char *buf, size_t n) {
  if (max < 0)
    snprintf(buf, n, "%d or more", min);
  else if (min == max)
    snprintf(buf, n, "%d", min);
  else
    snprintf(buf, n, "%d to %d", min, max);
  return buf;
}

/* Op, arity, SSA order and the producer links of one node. */
static void check_node(verifier *vf, ir_node_id n) {
  ir_graph *g = vf->g;
  const ir_node *nd = &g->nodes[n];
  if (nd->op >= IR_OP_COUNT || (int)nd->op < 0) {
    node_error(vf, n, "invalid op #%d", (int)nd->op);
    return;
  }
  const ir_op_info *oi = &ir_ops[nd->op];
  check_attrs(vf, n);
  if (nd->num_inputs < 0 || nd->num_outputs < 0 || (nd->num_inputs && !nd->inputs) ||
      (nd->num_outputs && !nd->outputs)) {
    node_error(vf, n, "malformed input or output list");
    return;
  }
  char range[48];
  if (nd->num_inputs < oi->min_inputs || (oi->max_inputs >= 0 && nd->num_inputs > oi->max_inputs))
    node_error(vf, n, "has %d inputs; %s takes %s", nd->num_inputs, oi->name,
               arity_text(oi->min_inputs, oi->max_inputs, range, sizeof range));
  if (nd->num_outputs < oi->min_outputs ||
      (oi->max_outputs >= 0 && nd->num_outputs > oi->max_outputs))
    node_error(vf, n, "has %d outputs; %s gives %s", nd->num_outputs, oi->name,
               arity_text(oi->min_outputs, oi->max_outputs, range, sizeof range));
  for (int32_t i = 0; i < nd->num_inputs; i++) {
    ir_value_id v = nd->inputs[i];
    if (v == IR_NONE) {
      /* variadic ops are exempt, as in the importer: their leading slots
       * changed meaning across opsets (Scan-8 starts with an optional
       * sequence_lens) */
      if (i < oi->min_inputs && oi->max_inputs >= 0)
        node_error(vf, n, "required input %d is missing", i);
      continue;
    }
    if (v < 0 || v >= g->num_values) {
      node_error(vf, n, "input %d refers to value #%d, which does not exist", i, v);
      continue;
    }
    if (!vf->defined[v]) {
      int32_t p = vf->first_prod[v];
      if (p == n)
        node_error(vf, n, "input %s is this node's own output", vname(g, v));
      else if (p >= 0)
        node_error(vf, n, "input %s is used before it is defined (by node '%s', later)",
                   vname(g, v), g->nodes[p].name ? g->nodes[p].name : "");
      else
        node_error(vf, n, "input %s is never defined", vname(g, v));
    }
    check_shape_known(vf, n, v);
  }
  for (int32_t i = 0; i < nd->num_outputs; i++) {
    ir_value_id v = nd->outputs[i];
    if (v == IR_NONE) {
      if (i < oi->min_outputs) node_error(vf, n, "required output %d is missing", i);
      continue;
    }
    if (v < 0 || v >= g->num_values) {
      node_error(vf, n, "output %d refers to value #%d, which does not exist", i, v);
      continue;
    }
    const ir_value *val = &g->values[v];
    if (vf->defined[v] == 2) {
      if (vf->first_prod[v] == n)
        node_error(vf, n, "output %s is written twice by this node", vname(g, v));
      else
        node_error(vf, n, "output %s is already produced by node '%s'", vname(g, v),
                   g->nodes[vf->first_prod[v]].name ? g->nodes[vf->first_prod[v]].name : "");
      continue;
    }
    if (vf->defined[v]) {
      node_error(vf, n, "output %s is %s", vname(g, v),
                 val->storage == IR_STORAGE_CONST ? "a constant" : "a graph input");
      continue;
    }
    vf->defined[v] = 2; /* by a node */
    if (val->producer != n)
      node_error(vf, n, "value %s's producer link is stale (says node #%d)", vname(g, v),
                 val->producer);
    check_shape_known(vf, n, v);
  }
}

kiln_status ir_verify(ir_graph *g, bool require_shapes) {
  kiln_ctx *ctx = g->ctx;
  verifier vf = {.g = g, .require_shapes = require_shapes};
  size_t nv = (size_t)g->num_values + 1;
  vf.first_prod = kiln_malloc(ctx, nv * sizeof *vf.first_prod);
  vf.defined = kiln_calloc(ctx, nv, 1);
  for (ir_value_id v = 0; v < g->num_values; v++) {
    vf.first_prod[v] = IR_NONE;
    check_value(&vf, v);
    if (g->values[v].storage == IR_STORAGE_CONST) vf.defined[v] = 1;
  }
  check_names(&vf);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead || !nd->outputs) continue;
    for (int32_t i = 0; i < nd->num_outputs; i++) {
      ir_value_id v = nd->outputs[i];
      if (v >= 0 && v < g->num_values && vf.first_prod[v] < 0) vf.first_prod[v] = n;
    }
  }
  for (int32_t i = 0; i < g->num_inputs; i++) {
    ir_value_id v = g->inputs[i];
    if (v < 0 || v >= g->num_values) {
      graph_error(&vf, "graph input %d refers to value #%d, which does not exist", i, v);
      continue;
    }
    if (vf.defined[v] && g->values[v].storage != IR_STORAGE_CONST)
      graph_error(&vf, "value %s is listed twice as a graph input", vname(g, v));
    if (require_shapes && (g->values[v].dtype == IR_UNDEFINED || g->values[v].shape.rank < 0))
      graph_error(&vf, "graph input %s has no dtype or rank", vname(g, v));
    vf.defined[v] = 1;
  }
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    if (!g->nodes[n].dead) check_node(&vf, n);
  for (int32_t i = 0; i < g->num_outputs; i++) {
    ir_value_id v = g->outputs[i];
    if (v < 0 || v >= g->num_values)
      graph_error(&vf, "graph output %d refers to value #%d, which does not exist", i, v);
    else if (!vf.defined[v])
      graph_error(&vf, "graph output %s is never defined", vname(g, v));
    else if (require_shapes && (g->values[v].dtype == IR_UNDEFINED || g->values[v].shape.rank < 0))
      graph_error(&vf, "graph output %s has no dtype or rank", vname(g, v));
  }
  if (vf.errors > MAX_REPORTS)
    kiln_error(ctx, "graph '%s': %d more problems not shown", g->name ? g->name : "",
               vf.errors - MAX_REPORTS);
  kiln_free(ctx, vf.first_prod);
  kiln_free(ctx, vf.defined);
  return vf.errors ? KILN_ERR_INVALID_MODEL : KILN_OK;
}
