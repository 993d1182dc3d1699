/*
 * attrs.c — ONNX attributes into ir_attr, and Constant nodes into
 * constant values.
 *
 * AttributeProto is a tagged union whose tag (`type`) uses the same
 * numbering as ir_attr_kind.  Scalars and lists are copied into the
 * graph's arena; tensors are decoded like initializers; a GRAPH attribute
 * (If/Loop/Scan bodies) is imported recursively as an ir_graph of its own,
 * owned by the attribute and freed with the graph.  Kinds kiln has no use
 * for (sparse tensors outside Constant, type protos, lists of graphs) are
 * refused by name rather than dropped, so a model never silently loses
 * meaning.  For the same reason an attribute the op's ONNX schema does not
 * define in the model's opset is refused (attr_kinds.def lists each op's
 * attributes per opset, generated from ONNX's schemas).
 *
 * Constant nodes never become IR nodes: their one attribute (value,
 * value_float(s), value_int(s), sparse_value) becomes a constant value
 * named after the node's output, exactly as if it had been an
 * initializer.  String constants are refused: kiln computes on numbers.
 */
#include <string.h>

#include "attr_kinds.h"
#include "onnx_internal.h"

/* AttributeProto.AttributeType values kiln's enum does not name. */
enum {
  ONNX_ATTR_SPARSE_TENSOR = 11,
  ONNX_ATTR_SPARSE_TENSORS = 12,
  ONNX_ATTR_TYPE_PROTO = 13,
  ONNX_ATTR_TYPE_PROTOS = 14,
};

static const char *kind_name(int kind) {
  static const char *names[] = {"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH",
                                "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS",
                                "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  return kind >= 0 && kind < (int)(sizeof names / sizeof names[0]) ? names[kind] : "unknown";
}

int onnx_attr_kind(const Onnx__AttributeProto *a) {
  if (a->has_type && a->type) return (int)a->type;
  /* IR version 1 had no `type`: take the field in use */
  if (a->has_f) return IR_ATTR_FLOAT;
  if (a->has_i) return IR_ATTR_INT;
  if (a->has_s) return IR_ATTR_STRING;
  if (a->t) return IR_ATTR_TENSOR;
  if (a->g) return IR_ATTR_GRAPH;
  if (a->sparse_tensor) return ONNX_ATTR_SPARSE_TENSOR;
  if (a->tp) return ONNX_ATTR_TYPE_PROTO;
  if (a->n_floats) return IR_ATTR_FLOATS;
  if (a->n_ints) return IR_ATTR_INTS;
  if (a->n_strings) return IR_ATTR_STRINGS;
  if (a->n_tensors) return IR_ATTR_TENSORS;
  if (a->n_graphs) return IR_ATTR_GRAPHS;
  if (a->n_sparse_tensors) return ONNX_ATTR_SPARSE_TENSORS;
  if (a->n_type_protos) return ONNX_ATTR_TYPE_PROTOS;
  return IR_ATTR_UNDEFINED;
}

kiln_status onnx_add_const(onnx_importer *im, ir_graph *g, const onnx_where *w, const char *name,
                           const onnx_tensor *t, ir_value_id *out) {
  if (!ir_dtypes[t->dtype].supported) {
    onnx_report(im->ctx, w, "constant '%s': unsupported data type %s", name,
                ir_dtypes[t->dtype].onnx_name);
    return KILN_ERR_UNSUPPORTED;
  }
  *out = ir_add_const(g, name, t->dtype, &t->shape, t->data, t->nbytes, t->stable);
  return KILN_OK;
}

/* Decodes a tensor attribute into an ir_tensor in g's arena. */
static kiln_status import_tensor(onnx_importer *im, ir_graph *g, const onnx_where *w,
                                 const char *label, const Onnx__TensorProto *tp, ir_tensor *out) {
  onnx_tensor t;
  kiln_status st = onnx_decode_tensor(&im->ext, &g->arena, w, label, tp, &t);
  if (st) return st;
  if (!ir_dtypes[t.dtype].supported) {
    onnx_report(im->ctx, w, "%s: unsupported data type %s", label, ir_dtypes[t.dtype].onnx_name);
    return KILN_ERR_UNSUPPORTED;
  }
  out->dtype = t.dtype;
  out->rank = t.shape.rank;
  memcpy(out->dims, t.shape.dims, sizeof out->dims);
  out->nbytes = t.nbytes;
  out->data = t.stable ? t.data : ir_arena_dup(&g->arena, t.data, (size_t)t.nbytes);
  return KILN_OK;
}

kiln_status onnx_import_attr(onnx_importer *im, ir_graph *g, ir_node_id n,
                             const Onnx__AttributeProto *ap, const onnx_where *w) {
  kiln_ctx *ctx = im->ctx;
  if (!ap->name || !*ap->name) {
    onnx_report(ctx, w, "an attribute has no name");
    return KILN_ERR_INVALID_MODEL;
  }
  char label[320];
  snprintf(label, sizeof label, "attribute '%s'", ap->name);
  if (ap->ref_attr_name && *ap->ref_attr_name) {
    onnx_report(ctx, w, "%s refers to function attribute '%s' outside a function", label,
                ap->ref_attr_name);
    return KILN_ERR_INVALID_MODEL;
  }
  if (ir_get_attr(g, n, ap->name)) {
    onnx_report(ctx, w, "%s is given twice", label);
    return KILN_ERR_INVALID_MODEL;
  }
  int kind = onnx_attr_kind(ap);
  if (kind <= IR_ATTR_UNDEFINED || kind == IR_ATTR_GRAPHS || kind > IR_ATTR_GRAPHS) {
    onnx_report(ctx, w, "%s has kind %s: unsupported attribute kind", label, kind_name(kind));
    return kind == IR_ATTR_UNDEFINED ? KILN_ERR_INVALID_MODEL : KILN_ERR_UNSUPPORTED;
  }
  /* An attribute the op's schema does not define in this opset (Relu with
   * `alpha`) is refused, as the ONNX checker and ONNX Runtime refuse it:
   * kiln would ignore it and compute something other than what the
   * model's author asked for. */
  const ir_op op = g->nodes[n].op;
  if (ir_attr_defined(op, ap->name, g->opset) == 0) {
    onnx_report(ctx, w, "%s is not defined for %s in opset %d", label, ir_ops[op].name,
                g->opset);
    return KILN_ERR_INVALID_MODEL;
  }
  /* decode first: a failed tensor or subgraph must not leave a half attribute */
  ir_tensor *tensors = NULL;
  ir_graph *sub = NULL;
  int32_t count = 0;
  if (kind == IR_ATTR_TENSOR || kind == IR_ATTR_TENSORS) {
    count = kind == IR_ATTR_TENSOR ? 1 : (int32_t)ap->n_tensors;
    if (kind == IR_ATTR_TENSOR && !ap->t) {
      onnx_report(ctx, w, "%s is a TENSOR but holds none", label);
      return KILN_ERR_INVALID_MODEL;
    }
    tensors = ir_arena_alloc(&g->arena, (size_t)count * sizeof *tensors);
    for (int32_t i = 0; i < count; i++) {
      kiln_status st = import_tensor(im, g, w, label, kind == IR_ATTR_TENSOR ? ap->t : ap->tensors[i],
                                     &tensors[i]);
      if (st) return st;
    }
  } else if (kind == IR_ATTR_GRAPH) {
    if (!ap->g) {
      onnx_report(ctx, w, "%s is a GRAPH but holds none", label);
      return KILN_ERR_INVALID_MODEL;
    }
    char name[320];
    snprintf(name, sizeof name, "%s.%s", g->nodes[n].name, ap->name);
    sub = onnx_import_subgraph(im, ap->g, name, w);
    if (!sub) return KILN_ERR_INVALID_MODEL;
  }
  ir_attr *a = ir_set_attr(g, n, ap->name, (ir_attr_kind)kind);
  switch (kind) {
  case IR_ATTR_FLOAT: a->f = ap->f; break;
  case IR_ATTR_INT: a->i = ap->i; break;
  case IR_ATTR_STRING:
    a->s = ir_arena_strndup(&g->arena, (const char *)ap->s.data, ap->s.len);
    a->s_len = (int64_t)ap->s.len;
    break;
  case IR_ATTR_FLOATS:
    a->count = (int32_t)ap->n_floats;
    a->floats = ir_arena_dup(&g->arena, ap->floats, ap->n_floats * sizeof *ap->floats);
    break;
  case IR_ATTR_INTS:
    a->count = (int32_t)ap->n_ints;
    a->ints = ir_arena_dup(&g->arena, ap->ints, ap->n_ints * sizeof *ap->ints);
    break;
  case IR_ATTR_STRINGS:
    a->count = (int32_t)ap->n_strings;
    a->strings = ir_arena_alloc(&g->arena, ap->n_strings * sizeof *a->strings);
    for (size_t i = 0; i < ap->n_strings; i++)
      a->strings[i] = ir_arena_strndup(&g->arena, (const char *)ap->strings[i].data,
                                       ap->strings[i].len);
    break;
  case IR_ATTR_TENSOR:
  case IR_ATTR_TENSORS:
    a->tensor = tensors;
    a->count = kind == IR_ATTR_TENSORS ? count : 0;
    break;
  case IR_ATTR_GRAPH: a->graph = sub; break;
  }
  return KILN_OK;
}

/* A scalar (rank 0) or 1-d constant from a float/int attribute list. */
static void list_tensor(ir_graph *g, ir_dtype dt, int rank, const void *src, size_t n,
                        onnx_tensor *t) {
  memset(t, 0, sizeof *t);
  t->dtype = dt;
  t->shape.rank = rank;
  if (rank) t->shape.dims[0] = (int64_t)n;
  t->numel = (int64_t)n;
  t->nbytes = ir_dtype_bytes(dt, t->numel);
  t->data = ir_arena_dup(&g->arena, src, (size_t)t->nbytes);
  t->stable = true;
}

kiln_status onnx_import_constant(onnx_importer *im, ir_graph *g, const Onnx__NodeProto *np,
                                 const onnx_where *w, ir_value_id *out) {
  kiln_ctx *ctx = im->ctx;
  if (np->n_input || np->n_output != 1 || !np->output[0] || !*np->output[0]) {
    onnx_report(ctx, w, "Constant needs no inputs and exactly one named output");
    return KILN_ERR_INVALID_MODEL;
  }
  if (np->n_attribute != 1) {
    onnx_report(ctx, w, "Constant needs exactly one value attribute, got %zu", np->n_attribute);
    return KILN_ERR_INVALID_MODEL;
  }
  const Onnx__AttributeProto *ap = np->attribute[0];
  const char *an = ap->name ? ap->name : "";
  int kind = onnx_attr_kind(ap);
  onnx_tensor t;
  kiln_status st = KILN_OK;
  if (!strcmp(an, "value") && kind == IR_ATTR_TENSOR && ap->t) {
    st = onnx_decode_tensor(&im->ext, &g->arena, w, "attribute 'value'", ap->t, &t);
  } else if (!strcmp(an, "sparse_value") && kind == ONNX_ATTR_SPARSE_TENSOR && ap->sparse_tensor) {
    st = onnx_decode_sparse(&im->ext, &g->arena, w, "attribute 'sparse_value'", ap->sparse_tensor,
                            &t);
  } else if (!strcmp(an, "value_float") && kind == IR_ATTR_FLOAT) {
    list_tensor(g, IR_F32, 0, &ap->f, 1, &t);
  } else if (!strcmp(an, "value_floats") && kind == IR_ATTR_FLOATS) {
    list_tensor(g, IR_F32, 1, ap->floats, ap->n_floats, &t);
  } else if (!strcmp(an, "value_int") && kind == IR_ATTR_INT) {
    list_tensor(g, IR_I64, 0, &ap->i, 1, &t);
  } else if (!strcmp(an, "value_ints") && kind == IR_ATTR_INTS) {
    list_tensor(g, IR_I64, 1, ap->ints, ap->n_ints, &t);
  } else if (!strcmp(an, "value_string") || !strcmp(an, "value_strings")) {
    onnx_report(ctx, w, "attribute '%s': string constants are unsupported", an);
    return KILN_ERR_UNSUPPORTED;
  } else {
    onnx_report(ctx, w, "Constant has attribute '%s' of kind %s; expected value, value_float(s), "
                "value_int(s) or sparse_value", an, kind_name(kind));
    return KILN_ERR_INVALID_MODEL;
  }
  if (st) return st;
  return onnx_add_const(im, g, w, np->output[0], &t, out);
}
