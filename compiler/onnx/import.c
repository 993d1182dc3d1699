/*
 * import.c — ONNX ModelProto into an ir_graph.
 *
 * The model is unpacked by protobuf-c (code generated from onnx.proto at
 * build time) and then checked and translated in one sweep per graph:
 *
 *   1. model: opset imports (default domain 1..21), IR version, and a scan
 *      of every op type (opscan.c) so that all unsupported operators are
 *      reported together before any work is done;
 *   2. values: initializers and Constant nodes become constants, graph
 *      inputs (those not also initializers) become inputs, every node
 *      output becomes a value.  A name defined twice is an error: ONNX
 *      graphs are SSA;
 *   3. hints: value_info and the graph outputs' types give dtypes and
 *      shapes (symbolic dims as named symbols) to intermediate values;
 *   4. nodes: inputs are resolved by name (empty name: omitted optional
 *      input), arity is checked against the op table, attributes are
 *      converted (attrs.c), subgraphs imported recursively;
 *   5. order: ir_graph_toposort, because exporters do not always emit
 *      nodes in order; a cycle is an error.
 *
 * Creating every value before any node lets nodes appear in any order and
 * lets subgraphs see all of their enclosing graph's values.
 *
 * Outer-scope references.  An If/Loop/Scan body may read a value of an
 * enclosing graph by name without declaring it as a body input.  kiln
 * resolves such a name through the chain of enclosing graphs at import
 * time and gives the body a stand-in value of the same name: a constant
 * borrowing the outer payload if the outer value is a constant, otherwise
 * a value with storage IR_STORAGE_INPUT that is *not* listed in the
 * body's `inputs` — a capture, bound by name to the enclosing value when
 * the body is lowered.  Intermediate bodies capture too, so every level
 * binds only to its direct parent.
 *
 * Names are looked up through the graph's name index (ir_find_value), so
 * import is linear in the model size.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.h"
#include "onnx_internal.h"

/* Highest default-domain opset kiln knows the semantics of. */
enum { ONNX_MAX_OPSET = 21 };
/* Initializers from this size up are adopted, not copied (define_values). */
enum { ADOPT_MIN_BYTES = 4096 };

/* ---- files and protobuf memory ------------------------------------------ */

static void *pb_alloc(void *user, size_t size) {
  kiln_ctx *ctx = user;
  return ctx->alloc.realloc(ctx->alloc.user, NULL, size ? size : 1);
}

static void pb_free(void *user, void *ptr) {
  kiln_ctx *ctx = user;
  if (ptr) ctx->alloc.realloc(ctx->alloc.user, ptr, 0);
}

ProtobufCAllocator onnx_pb_allocator(kiln_ctx *ctx) {
  return (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = ctx};
}

kiln_status onnx_read_file(kiln_ctx *ctx, const char *path, unsigned char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    kiln_error(ctx, "cannot open: %s", strerror(errno));
    return KILN_ERR_IO;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
    kiln_error(ctx, "not a regular file");
    fclose(f);
    return KILN_ERR_IO;
  }
  size_t n = (size_t)sb.st_size;
  unsigned char *p = kiln_malloc(ctx, n ? n : 1);
  if (n && fread(p, 1, n, f) != n) {
    kiln_error(ctx, "cannot read %zu bytes: %s", n, ferror(f) ? strerror(errno) : "file shrank");
    kiln_free(ctx, p);
    fclose(f);
    return KILN_ERR_IO;
  }
  fclose(f);
  *buf = p;
  *len = n;
  return KILN_OK;
}

char *onnx_dirname(kiln_ctx *ctx, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return kiln_strdup(ctx, ".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = kiln_malloc(ctx, n + 1);
  memcpy(d, path, n);
  d[n] = 0;
  return d;
}

/* ---- types and shapes ---------------------------------------------------- */

/* A copy of `s` from graph `from` with its symbols re-interned in `to`
 * (symbol ids are per graph). */
static ir_shape shape_between(ir_graph *to, const ir_graph *from, const ir_shape *s) {
  ir_shape r = *s;
  for (int i = 0; i < s->rank; i++)
    if (ir_dim_is_sym(s->dims[i]))
      r.dims[i] = ir_dim_from_sym(ir_sym(to, from->syms[ir_dim_sym(s->dims[i])]));
  return r;
}

static const char *type_kind_name(Onnx__TypeProto__ValueCase c) {
  switch (c) {
  case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "a sequence";
  case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "a map";
  case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "an optional";
  case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "a sparse tensor";
  default: return "an unknown";
  }
}

/* Refuses a declared shape too large for kiln (see ir_shape_too_large):
 * later stages multiply dims freely and must not overflow. */
static kiln_status check_extent(kiln_ctx *ctx, const char *what, ir_dtype dt, const ir_shape *s) {
  if (!ir_shape_too_large(dt, s)) return KILN_OK;
  kiln_error(ctx, "%s is too large: its dims hold more than %lld bytes (the limit)", what,
             (long long)KILN_MAX_TENSOR_BYTES);
  return KILN_ERR_LIMIT;
}

/*
 * Reads a TypeProto into dtype and shape.  `strict` (graph inputs and
 * outputs): the type must be a dense tensor of a dtype kiln supports.
 * Otherwise (value_info hints) anything but a tensor type is ignored.
 * Returns KILN_OK with *dt = IR_UNDEFINED, rank -1 for "nothing known".
 */
static kiln_status read_type(onnx_importer *im, ir_graph *g, const char *what,
                             const Onnx__TypeProto *tp, bool strict, ir_dtype *dt, ir_shape *shape) {
  kiln_ctx *ctx = im->ctx;
  *dt = IR_UNDEFINED;
  shape->rank = -1;
  if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return KILN_OK;
  if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
    if (!strict) return KILN_OK;
    kiln_error(ctx, "%s has %s type; only dense tensors are supported (unsupported type)", what,
               type_kind_name(tp->value_case));
    return KILN_ERR_UNSUPPORTED;
  }
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  int32_t et = tt->has_elem_type ? tt->elem_type : 0;
  if (et && !ir_dtype_valid(et)) {
    kiln_error(ctx, "%s has unknown element type %d", what, et);
    return KILN_ERR_INVALID_MODEL;
  }
  if (et && !ir_dtypes[et].supported) {
    kiln_error(ctx, "%s: unsupported data type %s", what, ir_dtypes[et].onnx_name);
    return KILN_ERR_UNSUPPORTED;
  }
  *dt = (ir_dtype)et;
  if (!tt->shape) return KILN_OK;
  if (tt->shape->n_dim > KILN_MAX_RANK) {
    kiln_error(ctx, "%s has rank %zu; kiln supports at most %d dims", what, tt->shape->n_dim,
               KILN_MAX_RANK);
    return KILN_ERR_LIMIT;
  }
  shape->rank = (int)tt->shape->n_dim;
  for (int i = 0; i < shape->rank; i++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
      shape->dims[i] = d->dim_value;
    else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
             d->dim_param && *d->dim_param)
      shape->dims[i] = ir_dim_from_sym(ir_sym(g, d->dim_param));
    else
      shape->dims[i] = IR_DIM_UNKNOWN; /* absent, empty name, or a negative "unknown" */
  }
  return check_extent(ctx, what, *dt, shape);
}

/* Fills in what a hint knows and the value does not yet. */
static void apply_hint(ir_graph *g, ir_value_id v, ir_dtype dt, const ir_shape *s) {
  ir_value *val = &g->values[v];
  if (val->storage == IR_STORAGE_CONST || val->storage == IR_STORAGE_INPUT) return;
  if (val->dtype == IR_UNDEFINED) val->dtype = dt;
  if (val->shape.rank < 0) val->shape = *s;
}

/* ---- name resolution ------------------------------------------------------ */

/* The value `name` as seen from scope `level`: local, or captured from an
 * enclosing graph (see the essay above).  IR_NONE if undefined. */
static ir_value_id resolve(onnx_importer *im, int level, const char *name) {
  ir_graph *g = im->scopes[level];
  ir_value_id v = ir_find_value(g, name);
  if (v != IR_NONE || level == 0) return v;
  ir_value_id ov = resolve(im, level - 1, name);
  if (ov == IR_NONE) return IR_NONE;
  const ir_graph *outer = im->scopes[level - 1];
  const ir_value *o = &outer->values[ov];
  ir_shape s = shape_between(g, outer, &o->shape);
  if (o->storage == IR_STORAGE_CONST)
    return ir_add_const(g, name, o->dtype, &s, o->data, o->nbytes, true);
  v = ir_add_value(g, name, o->dtype, &s);
  g->values[v].storage = IR_STORAGE_INPUT;
  return v;
}

/* "node 'name'" context for a NodeProto; unnamed nodes are "#index". */
static onnx_where node_where(const Onnx__NodeProto *np, size_t index, char *buf, size_t n,
                             char *opbuf, size_t opn) {
  const char *name = np->name;
  if (!name || !*name) {
    snprintf(buf, n, "#%zu", index);
    name = buf;
  }
  return (onnx_where){.node = name, .op = onnx_op_label(np->domain, np->op_type, opbuf, opn)};
}

/* Reports a second definition of `name`; true if it is taken. */
static bool defined_twice(onnx_importer *im, ir_graph *g, const onnx_where *w, const char *name) {
  if (ir_find_value(g, name) == IR_NONE) return false;
  onnx_report(im->ctx, w, "value '%s' is defined twice (ONNX graphs are SSA)", name);
  return true;
}

/* ---- graph import --------------------------------------------------------- */

/* Step 2: constants, inputs and node outputs. */
static kiln_status define_values(onnx_importer *im, ir_graph *g, const Onnx__GraphProto *gp) {
  kiln_ctx *ctx = im->ctx;
  bool top = im->depth == 0;
  int64_t total = (int64_t)gp->n_initializer + (int64_t)gp->n_sparse_initializer +
                  (int64_t)gp->n_input;
  for (size_t i = 0; i < gp->n_node; i++) total += (int64_t)gp->node[i]->n_output;
  if (gp->n_node > KILN_MAX_NODES || total > KILN_MAX_VALUES) {
    kiln_error(ctx, "graph '%s' has %zu nodes and %lld values; the limits are %d and %d", g->name,
               gp->n_node, (long long)total, KILN_MAX_NODES, KILN_MAX_VALUES);
    return KILN_ERR_LIMIT;
  }
  if (gp->n_input > KILN_MAX_INPUTS || gp->n_output > KILN_MAX_INPUTS) {
    kiln_error(ctx, "graph '%s' has %zu inputs and %zu outputs; the limit is %d", g->name,
               gp->n_input, gp->n_output, KILN_MAX_INPUTS);
    return KILN_ERR_LIMIT;
  }
  kiln_status st;
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    if (!tp->name || !*tp->name) {
      kiln_error(ctx, "initializer %zu of graph '%s' has no name", i, g->name);
      return KILN_ERR_INVALID_MODEL;
    }
    if (defined_twice(im, g, NULL, tp->name)) return KILN_ERR_INVALID_MODEL;
    onnx_tensor t;
    ir_value_id v;
    if ((st = onnx_decode_tensor(&im->ext, &g->arena, NULL, NULL, tp, &t))) return st;
    if (!t.stable && tp->has_raw_data && t.data == tp->raw_data.data &&
        tp->raw_data.len >= ADOPT_MIN_BYTES) {
      /* the weights: the graph takes the unpacker's copy instead of making
       * its own (the message is ours, and freeing it skips a NULL field) */
      Onnx__TensorProto *own = gp->initializer[i];
      ir_arena_adopt(&g->arena, own->raw_data.data);
      own->raw_data.data = NULL;
      own->raw_data.len = 0;
      t.stable = true;
    }
    if ((st = onnx_add_const(im, g, NULL, tp->name, &t, &v))) return st;
  }
  for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
    const Onnx__SparseTensorProto *sp = gp->sparse_initializer[i];
    const char *name = sp->values ? sp->values->name : NULL;
    if (!name || !*name) {
      kiln_error(ctx, "sparse initializer %zu of graph '%s' has no name", i, g->name);
      return KILN_ERR_INVALID_MODEL;
    }
    if (defined_twice(im, g, NULL, name)) return KILN_ERR_INVALID_MODEL;
    char label[320];
    snprintf(label, sizeof label, "sparse initializer '%s'", name);
    onnx_tensor t;
    ir_value_id v;
    if ((st = onnx_decode_sparse(&im->ext, &g->arena, NULL, label, sp, &t)) ||
        (st = onnx_add_const(im, g, NULL, name, &t, &v)))
      return st;
  }
  g->inputs = ir_arena_alloc(&g->arena, (gp->n_input + 1) * sizeof *g->inputs);
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (!vi->name || !*vi->name) {
      kiln_error(ctx, "input %zu of graph '%s' has no name", i, g->name);
      return KILN_ERR_INVALID_MODEL;
    }
    ir_value_id v = ir_find_value(g, vi->name);
    /* an input that is also an initializer is a constant with a default;
     * kiln compiles it as the constant */
    if (v != IR_NONE && g->values[v].storage == IR_STORAGE_CONST) continue;
    if (defined_twice(im, g, NULL, vi->name)) return KILN_ERR_INVALID_MODEL;
    char what[320];
    snprintf(what, sizeof what, "input '%s'", vi->name);
    ir_dtype dt;
    ir_shape s;
    if ((st = read_type(im, g, what, vi->type, true, &dt, &s))) return st;
    if (top && dt == IR_UNDEFINED) {
      kiln_error(ctx, "%s has no tensor type", what);
      return KILN_ERR_INVALID_MODEL;
    }
    v = ir_add_value(g, vi->name, dt, &s);
    g->values[v].storage = IR_STORAGE_INPUT;
    g->inputs[g->num_inputs++] = v;
  }
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *np = gp->node[i];
    char nb[32], ob[256];
    onnx_where w = node_where(np, i, nb, sizeof nb, ob, sizeof ob);
    if (onnx_optable_get(ctx, &im->ops, np->domain, np->op_type)->op == IR_OP_CONSTANT) {
      if (np->n_output == 1 && np->output[0] && defined_twice(im, g, &w, np->output[0]))
        return KILN_ERR_INVALID_MODEL;
      ir_value_id v;
      if ((st = onnx_import_constant(im, g, np, &w, &v))) return st;
      continue;
    }
    for (size_t k = 0; k < np->n_output; k++) {
      const char *name = np->output[k];
      if (!name || !*name) continue;
      if (defined_twice(im, g, &w, name)) return KILN_ERR_INVALID_MODEL;
      ir_add_value(g, name, IR_UNDEFINED, NULL);
    }
  }
  return KILN_OK;
}

/* Step 3 and the graph outputs. */
static kiln_status apply_types(onnx_importer *im, ir_graph *g, const Onnx__GraphProto *gp) {
  kiln_ctx *ctx = im->ctx;
  kiln_status st;
  for (size_t i = 0; i < gp->n_value_info; i++) {
    const Onnx__ValueInfoProto *vi = gp->value_info[i];
    ir_value_id v = vi->name ? ir_find_value(g, vi->name) : IR_NONE;
    if (v == IR_NONE) continue; /* a hint about nothing */
    char what[320];
    snprintf(what, sizeof what, "value '%s'", vi->name);
    ir_dtype dt;
    ir_shape s;
    if ((st = read_type(im, g, what, vi->type, false, &dt, &s))) return st;
    apply_hint(g, v, dt, &s);
  }
  if (!gp->n_output) {
    kiln_error(ctx, "graph '%s' has no outputs", g->name);
    return KILN_ERR_INVALID_MODEL;
  }
  g->outputs = ir_arena_alloc(&g->arena, gp->n_output * sizeof *g->outputs);
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__ValueInfoProto *vi = gp->output[i];
    ir_value_id v = vi->name && *vi->name ? resolve(im, im->depth, vi->name) : IR_NONE;
    if (v == IR_NONE) {
      kiln_error(ctx, "graph output '%s' is not produced by any node, input or initializer",
                 vi->name ? vi->name : "");
      return KILN_ERR_INVALID_MODEL;
    }
    char what[320];
    snprintf(what, sizeof what, "output '%s'", vi->name);
    ir_dtype dt;
    ir_shape s;
    if ((st = read_type(im, g, what, vi->type, true, &dt, &s))) return st;
    apply_hint(g, v, dt, &s);
    if (g->values[v].storage == IR_STORAGE_ACTIVATION) g->values[v].storage = IR_STORAGE_OUTPUT;
    g->outputs[g->num_outputs++] = v;
  }
  return KILN_OK;
}

/* Number of names left after dropping trailing empty ones. */
static size_t trim_names(char **names, size_t n) {
  while (n > 0 && (!names[n - 1] || !*names[n - 1])) n--;
  return n;
}

/* Checks a node's input or output count against the op table.  Fixed-arity
 * positions below `min` must be present; variadic ops (If's outputs, Scan's
 * inputs) are exempt because their leading slots changed meaning across
 * opsets (Scan-8 starts with an optional sequence_lens). */
static kiln_status check_arity(onnx_importer *im, const onnx_where *w, const char *what,
                               size_t n, int min, int max, const ir_value_id *ids) {
  if ((int64_t)n < min || (max >= 0 && (int64_t)n > max)) {
    if (max < 0)
      onnx_report(im->ctx, w, "takes at least %d %ss, got %zu", min, what, n);
    else if (min == max)
      onnx_report(im->ctx, w, "takes %d %s%s, got %zu", min, what, min == 1 ? "" : "s", n);
    else
      onnx_report(im->ctx, w, "takes %d to %d %ss, got %zu", min, max, what, n);
    return KILN_ERR_INVALID_MODEL;
  }
  for (int i = 0; max >= 0 && i < min; i++)
    if (ids[i] == IR_NONE) {
      onnx_report(im->ctx, w, "required %s %d is empty", what, i);
      return KILN_ERR_INVALID_MODEL;
    }
  return KILN_OK;
}

/* Step 4: one node. */
static kiln_status import_node(onnx_importer *im, ir_graph *g, const Onnx__NodeProto *np,
                               size_t index) {
  kiln_ctx *ctx = im->ctx;
  char nb[32], ob[256];
  onnx_where w = node_where(np, index, nb, sizeof nb, ob, sizeof ob);
  const onnx_optype *row = onnx_optable_get(ctx, &im->ops, np->domain, np->op_type);
  assert(row->supported && row->op != IR_OP_CONSTANT);
  const ir_op_info *info = &ir_ops[row->op];
  if (np->n_input > KILN_MAX_INPUTS || np->n_output > KILN_MAX_INPUTS) {
    onnx_report(ctx, &w, "has %zu inputs and %zu outputs; the limit is %d", np->n_input,
                np->n_output, KILN_MAX_INPUTS);
    return KILN_ERR_LIMIT;
  }
  size_t ni = trim_names(np->input, np->n_input), no = trim_names(np->output, np->n_output);
  ir_value_id *ids = kiln_malloc(ctx, (ni + no + 1) * sizeof *ids);
  ir_value_id *ins = ids, *outs = ids + ni;
  kiln_status st = KILN_OK;
  for (size_t i = 0; i < ni && !st; i++) {
    ins[i] = IR_NONE;
    if (!*np->input[i]) continue;
    ins[i] = resolve(im, im->depth, np->input[i]);
    if (ins[i] == IR_NONE) {
      onnx_report(ctx, &w, "input '%s' is not defined (no node, graph input or initializer "
                  "produces it)", np->input[i]);
      st = KILN_ERR_INVALID_MODEL;
    }
  }
  for (size_t i = 0; i < no; i++)
    outs[i] = *np->output[i] ? ir_find_value(g, np->output[i]) : IR_NONE;
  if (!st) st = check_arity(im, &w, "input", ni, info->min_inputs, info->max_inputs, ins);
  if (!st) st = check_arity(im, &w, "output", no, info->min_outputs, info->max_outputs, outs);
  if (st) {
    kiln_free(ctx, ids);
    return st;
  }
  ir_node_id n = ir_add_node(g, row->op, np->name, (int)ni, ins, (int)no, outs);
  kiln_free(ctx, ids);
  w.node = g->nodes[n].name;
  for (size_t a = 0; a < np->n_attribute; a++)
    if ((st = onnx_import_attr(im, g, n, np->attribute[a], &w))) return st;
  return KILN_OK;
}

/* Imports one graph at scope im->depth; NULL after reporting. */
static ir_graph *import_graph(onnx_importer *im, const Onnx__GraphProto *gp, const char *name) {
  ir_graph *g = ir_graph_new(im->ctx, gp->name && *gp->name ? gp->name : name);
  g->opset = im->opset;
  g->ir_version = im->ir_version;
  if (im->depth == 0) im->ext.owner = g;
  im->scopes[im->depth] = g;
  kiln_status st = define_values(im, g, gp);
  if (!st && im->depth == 0) {
    /* --shape overrides apply to the main graph's inputs */
    for (int i = 0; !st && im->opt && i < im->opt->num_shapes; i++) {
      const kiln_shape_override *o = &im->opt->shapes[i];
      ir_value_id v = ir_find_value(g, o->input);
      if (v == IR_NONE || g->values[v].storage != IR_STORAGE_INPUT) {
        kiln_error(im->ctx, "--shape: the model has no input named '%s'", o->input);
        st = KILN_ERR_INVALID_ARGUMENT;
        break;
      }
      ir_shape *s = &g->values[v].shape;
      for (int d = 0; s->rank >= 0 && d < s->rank && d < o->rank; d++)
        if (ir_dim_is_static(s->dims[d]) && s->dims[d] != o->dims[d]) {
          kiln_error(im->ctx, "--shape: input '%s' has dim %d = %lld in the model, not %lld",
                     o->input, d, (long long)s->dims[d], (long long)o->dims[d]);
          st = KILN_ERR_INVALID_ARGUMENT;
          break;
        }
      if (!st && s->rank >= 0 && s->rank != o->rank) {
        kiln_error(im->ctx, "--shape: input '%s' has rank %d in the model, not %d", o->input,
                   s->rank, o->rank);
        st = KILN_ERR_INVALID_ARGUMENT;
      }
      if (!st) {
        *s = ir_shape_make(o->rank, o->dims);
        char what[320];
        snprintf(what, sizeof what, "--shape: input '%s'", o->input);
        st = check_extent(im->ctx, what, g->values[v].dtype, s);
      }
    }
  }
  if (!st) st = apply_types(im, g, gp);
  for (size_t i = 0; !st && i < gp->n_node; i++) {
    const Onnx__NodeProto *np = gp->node[i];
    if (onnx_optable_get(im->ctx, &im->ops, np->domain, np->op_type)->op == IR_OP_CONSTANT)
      continue;
    st = import_node(im, g, np, i);
  }
  if (!st) onnx_upgrade_legacy(g);
  if (!st) st = ir_graph_toposort(g);
  if (st) {
    ir_graph_free(g);
    return NULL;
  }
  return g;
}

ir_graph *onnx_import_subgraph(onnx_importer *im, const Onnx__GraphProto *gp, const char *name,
                               const onnx_where *w) {
  if (im->depth >= KILN_MAX_SUBGRAPH_DEPTH) {
    onnx_report(im->ctx, w, "subgraphs are nested deeper than %d levels",
                KILN_MAX_SUBGRAPH_DEPTH);
    return NULL;
  }
  im->depth++;
  ir_graph *sub = import_graph(im, gp, name);
  im->depth--;
  return sub;
}

/* ---- the model ------------------------------------------------------------ */

/* Step 1: versions (after the op scan, which says whether the default
 * domain is used at all). */
static kiln_status read_versions(onnx_importer *im, const Onnx__ModelProto *m) {
  kiln_ctx *ctx = im->ctx;
  if (m->has_ir_version && m->ir_version < 0) {
    kiln_error(ctx, "the model has a negative IR version (%lld)", (long long)m->ir_version);
    return KILN_ERR_INVALID_MODEL;
  }
  im->ir_version = m->has_ir_version && m->ir_version < INT32_MAX ? (int32_t)m->ir_version : 0;
  int64_t opset = 0;
  bool imported = false;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    const char *d = o->domain ? o->domain : "";
    if (*d && strcmp(d, "ai.onnx")) continue;
    int64_t v = o->has_version ? o->version : 0;
    if (imported && opset != v) {
      kiln_error(ctx, "the model imports the default ONNX domain twice (opsets %lld and %lld)",
                 (long long)opset, (long long)v);
      return KILN_ERR_INVALID_MODEL;
    }
    opset = v;
    imported = true;
  }
  bool uses_default = false;
  for (int32_t i = 0; i < im->ops.num_rows; i++) uses_default |= !*im->ops.rows[i].domain;
  if (!imported) {
    if (im->ir_version >= 3 && uses_default) {
      kiln_error(ctx, "the model does not import the default ONNX domain (no opset_import)");
      return KILN_ERR_INVALID_MODEL;
    }
    opset = 1; /* IR versions 1 and 2 predate opset_import; or no op needs it */
  }
  if (opset < 1 || opset > ONNX_MAX_OPSET) {
    kiln_error(ctx, "the model uses ONNX opset %lld; kiln supports opsets 1 to %d",
               (long long)opset, ONNX_MAX_OPSET);
    return KILN_ERR_UNSUPPORTED;
  }
  im->opset = (int32_t)opset;
  return KILN_OK;
}

ir_graph *onnx_import_proto(kiln_ctx *ctx, const Onnx__ModelProto *m, const char *dir,
                            const kiln_options *opt) {
  if (!m->graph) {
    kiln_error(ctx, "not a valid ONNX model: it has no graph");
    return NULL;
  }
  onnx_importer im = {.ctx = ctx, .opt = opt};
  onnx_extdata_init(&im.ext, ctx, dir, NULL);
  ir_graph *g = NULL;
  /* unsupported ops first: they are what the user most needs to know */
  onnx_scan_ops(ctx, &im.ops, m->graph, KILN_MAX_SUBGRAPH_DEPTH);
  if (!onnx_report_unsupported(ctx, &im.ops) && !read_versions(&im, m))
    g = import_graph(&im, m->graph, "main");
  onnx_extdata_fini(&im.ext);
  onnx_optable_free(ctx, &im.ops);
  return g;
}

/* Imports the serialized model in data[0..len); frees `owned` (the file
 * buffer, or NULL) as soon as it is unpacked, to halve peak memory. */
static ir_graph *import_model(kiln_ctx *ctx, const void *data, size_t len, const char *dir,
                              const kiln_options *opt, void *owned) {
  Onnx__ModelProto *m;
  kiln_status st = onnx_unpack_model(ctx, data, len, &m);
  kiln_free(ctx, owned);
  if (st) return NULL;
  ir_graph *g = onnx_import_proto(ctx, m, dir, opt);
  ProtobufCAllocator pa = onnx_pb_allocator(ctx);
  onnx__model_proto__free_unpacked(m, &pa);
  return g;
}

ir_graph *onnx_import_bytes(kiln_ctx *ctx, const void *data, size_t len, const char *dir,
                            const kiln_options *opt) {
  return import_model(ctx, data, len, dir, opt, NULL);
}

/* The file mapped read-only, its pages faulted in at once (MAP_POPULATE):
 * the unpacker copies every payload out of it anyway, so reading it into a
 * buffer first was one more 100 MB copy for ResNet-50.  NULL (and *len 0
 * for an empty file, which mmap refuses) when it cannot be mapped. */
static void *map_file(const char *path, size_t *len, bool *empty) {
  *len = 0;
  *empty = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat sb;
  void *p = NULL;
  if (!fstat(fd, &sb) && S_ISREG(sb.st_mode)) {
    if (sb.st_size == 0) {
      *empty = true;
    } else {
      p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p == MAP_FAILED) p = NULL;
      else *len = (size_t)sb.st_size;
    }
  }
  close(fd);
  return p;
}

ir_graph *onnx_import_file(kiln_ctx *ctx, const char *path, const kiln_options *opt) {
  ctx->file = path;
  size_t len;
  bool empty;
  void *map = map_file(path, &len, &empty);
  unsigned char *buf = NULL;
  if (!map && !empty && onnx_read_file(ctx, path, &buf, &len)) return NULL; /* it says why */
  char *dir = onnx_dirname(ctx, path);
  ir_graph *g = import_model(ctx, map ? map : buf ? (const void *)buf : "", len, dir, opt, buf);
  if (map) munmap(map, len);
  kiln_free(ctx, dir);
  return g;
}
