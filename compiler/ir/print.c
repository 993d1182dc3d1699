/*
 * print.c — writes a graph as text (the format is specified in docs/ir.md;
 * parse.c reads it back).
 *
 * The text is a function of the graph's structure, not of its value ids:
 * a parsed graph numbers its values in the order the text declares them,
 * which differs from the original numbering, and print(parse(print(g)))
 * must still equal print(g) byte for byte.  So every value is declared at
 * exactly one *site*, chosen by rules that only look at structure:
 *
 *   const  a CONST value no live node produces      (listed in id order)
 *   node   otherwise, the first live node output slot that names it
 *   input  otherwise, its first place in the graph input list
 *   value  otherwise (a value used but defined nowhere: a broken graph)
 *
 * Every other mention is a bare `%name`.  Lines come in a fixed order —
 * symbols, inputs, consts, values, nodes, outputs — and consts and values
 * appear in id order, which a parse preserves.  Values nothing refers to
 * (garbage left by passes, since ids are never reused) and dead nodes are
 * not printed: the text shows the graph as ir_graph_compact leaves it.
 *
 * The fields a value's declaration site implies (storage) are printed only
 * when they differ; derived fields (producer, num_uses) are not printed.
 */
#include <inttypes.h>
#include <string.h>

#include "ir.h"
#include "text.h"

enum { SITE_NONE = 0, SITE_INPUT, SITE_CONST, SITE_NODE, SITE_VALUE };

typedef struct printer {
  const ir_graph *g;
  FILE *out;
  bool full;             /* print every constant in full */
  int64_t summary_bytes; /* larger constants print as a summary */
  uint8_t *site;         /* per value: SITE_* */
  uint8_t *is_output;    /* per value: in the graph output list */
  int32_t *decl_node;    /* SITE_NODE: node whose output declares it */
  int32_t *decl_slot;    /* SITE_NODE: output slot; SITE_INPUT: input index */
} printer;

static void print_graph(const ir_graph *g, FILE *out, const ir_print_options *opt, int indent);

static bool valid_value(const ir_graph *g, ir_value_id v) { return v >= 0 && v < g->num_values; }

static const char *enum_name(const char *const *names, int count, int k) {
  return k >= 0 && k < count ? names[k] : "?";
}

static void put_indent(FILE *out, int n) {
  for (int i = 0; i < n; i++) fputc(' ', out);
}

static void put_ref(printer *p, ir_value_id v) {
  if (!valid_value(p->g, v))
    fputc('_', p->out);
  else
    ir_text_put_name(p->out, '%', p->g->values[v].name, false);
}

static void put_shape(printer *p, const ir_shape *s) {
  FILE *out = p->out;
  if (s->rank < 0) {
    fputs("[*]", out);
    return;
  }
  fputc('[', out);
  for (int i = 0; i < s->rank && i < KILN_MAX_RANK; i++) {
    int64_t d = s->dims[i];
    if (i) fputc(',', out);
    if (ir_dim_is_static(d))
      fprintf(out, "%" PRId64, d);
    else if (ir_dim_is_sym(d) && ir_dim_sym(d) < p->g->num_syms)
      ir_text_put_name(out, 0, p->g->syms[ir_dim_sym(d)], true);
    else
      fputc('?', out);
  }
  fputc(']', out);
}

static void put_dtype(FILE *out, ir_dtype dt) {
  fputs(ir_dtype_valid((int)dt) ? ir_dtypes[dt].name : "?", out);
}

static void put_f32_list(FILE *out, const float *v, int64_t n) {
  char buf[48];
  fputc('[', out);
  for (int64_t i = 0; v && i < n; i++) {
    ir_text_fmt_f32(buf, v[i]);
    fprintf(out, "%s%s", i ? ", " : "", buf);
  }
  fputc(']', out);
}

/* Elements of a dense payload, loaded with memcpy because payloads may sit
 * unaligned in a file mapping. */
static void put_elems(FILE *out, ir_dtype dt, const unsigned char *d, int64_t numel) {
  char buf[48];
  if (dt == IR_C64 || dt == IR_C128) numel *= 2; /* real, imaginary interleaved */
  fputc('[', out);
  for (int64_t i = 0; i < numel; i++) {
    if (i) fputs(", ", out);
    switch (dt) {
#define INT_CASE(DT, T, FMT, CAST)                   \
  case DT: {                                         \
    T x;                                             \
    memcpy(&x, d + i * (int64_t)sizeof x, sizeof x); \
    fprintf(out, FMT, (CAST)x);                      \
    break;                                           \
  }
      INT_CASE(IR_I8, int8_t, "%d", int)
      INT_CASE(IR_U8, uint8_t, "%u", unsigned)
      INT_CASE(IR_I16, int16_t, "%d", int)
      INT_CASE(IR_U16, uint16_t, "%u", unsigned)
      INT_CASE(IR_I32, int32_t, "%" PRId32, int32_t)
      INT_CASE(IR_U32, uint32_t, "%" PRIu32, uint32_t)
      INT_CASE(IR_I64, int64_t, "%" PRId64, int64_t)
      INT_CASE(IR_U64, uint64_t, "%" PRIu64, uint64_t)
#undef INT_CASE
    case IR_BOOL:
      if (d[i] <= 1)
        fputs(d[i] ? "true" : "false", out);
      else
        fprintf(out, "%u", d[i]);
      break;
    case IR_F32:
    case IR_C64: {
      float x;
      memcpy(&x, d + i * 4, 4);
      ir_text_fmt_f32(buf, x);
      fputs(buf, out);
      break;
    }
    case IR_F64:
    case IR_C128: {
      double x;
      memcpy(&x, d + i * 8, 8);
      ir_text_fmt_f64(buf, x);
      fputs(buf, out);
      break;
    }
    case IR_F16:
    case IR_BF16: {
      uint16_t x;
      memcpy(&x, d + i * 2, 2);
      if (dt == IR_F16)
        ir_text_fmt_f16(buf, x);
      else
        ir_text_fmt_bf16(buf, x);
      fputs(buf, out);
      break;
    }
    case IR_U4:
    case IR_I4: { /* element 0 in the low nibble (ONNX packing) */
      int nib = (d[i / 2] >> (4 * (i & 1))) & 0xf;
      fprintf(out, "%d", dt == IR_I4 && nib >= 8 ? nib - 16 : nib);
      break;
    }
    default:
      /* 8-bit floats print as their bit patterns */
      fprintf(out, "0x%02x", d[i]);
      break;
    }
  }
  fputc(']', out);
}

/* A payload prints in full only if its size matches its dtype and static
 * shape; anything else (strings, corrupt sizes) prints as a summary. */
static int64_t printable_numel(ir_dtype dt, const ir_shape *s, int64_t nbytes) {
  if (!ir_dtype_valid((int)dt) || dt == IR_STRING || s->rank > KILN_MAX_RANK) return -1;
  int64_t n = ir_shape_numel(s);
  if (n < 0 || n > KILN_MAX_TENSOR_BYTES || ir_dtype_bytes(dt, n) != nbytes) return -1;
  return n;
}

static void put_quant(printer *p, const ir_quant *q) {
  FILE *out = p->out;
  fprintf(out, " quant(%s", enum_name(ir_text_quants, 4, (int)q->kind));
  if (q->axis || q->kind == IR_QUANT_CHANNEL || q->kind == IR_QUANT_GROUP)
    fprintf(out, ", axis %d", q->axis);
  if (q->group_size || q->kind == IR_QUANT_GROUP) fprintf(out, ", group_size %d", q->group_size);
  int64_t n = q->count > 0 && q->scales ? q->count : 0;
  fputs(", scales ", out);
  put_f32_list(out, q->scales, n);
  if (q->zero_points) {
    fputs(", zero_points [", out);
    for (int64_t i = 0; i < n; i++) fprintf(out, "%s%" PRId32, i ? ", " : "", q->zero_points[i]);
    fputc(']', out);
  }
  fputc(')', out);
}

/* Storage a declaration site implies (docs/ir.md, "storage"). */
static ir_storage default_storage(const printer *p, ir_value_id v) {
  switch (p->site[v]) {
  case SITE_INPUT: return IR_STORAGE_INPUT;
  case SITE_CONST: return IR_STORAGE_CONST;
  default: return p->is_output[v] ? IR_STORAGE_OUTPUT : IR_STORAGE_ACTIVATION;
  }
}

/* `%name : type annotations` */
static void put_decl(printer *p, ir_value_id v) {
  const ir_value *val = &p->g->values[v];
  FILE *out = p->out;
  put_ref(p, v);
  fputs(" : ", out);
  put_dtype(out, val->dtype);
  put_shape(p, &val->shape);
  const ir_layout *l = &val->layout;
  if (l->kind != IR_LAYOUT_PLAIN || l->block || l->block2) {
    fprintf(out, " layout(%s", enum_name(ir_text_layouts, 3, (int)l->kind));
    if (l->block || l->block2) fprintf(out, ", %d", l->block);
    if (l->block2) fprintf(out, ", %d", l->block2);
    fputc(')', out);
  }
  const ir_sparsity *sp = &val->sparsity;
  if (sp->kind != IR_SPARSE_DENSE || sp->n || sp->m || sp->density > 0) {
    fprintf(out, " sparse(%s", enum_name(ir_text_sparsity, 4, (int)sp->kind));
    if (sp->n || sp->m) fprintf(out, ", %d, %d", sp->n, sp->m);
    if (sp->density > 0) {
      char buf[48];
      ir_text_fmt_f32(buf, sp->density);
      fprintf(out, ", density %s", buf);
    }
    fputc(')', out);
  }
  if (val->quant) put_quant(p, val->quant);
  if (val->storage != default_storage(p, v))
    fprintf(out, " storage(%s)", enum_name(ir_text_storages, 4, (int)val->storage));
  if (val->offset != -1) fprintf(out, " offset(%" PRId64 ")", val->offset);
}

static void put_const_payload(printer *p, const ir_value *val) {
  int64_t numel = printable_numel(val->dtype, &val->shape, val->nbytes);
  if (val->data && numel >= 0 && (p->full || val->nbytes <= p->summary_bytes))
    put_elems(p->out, val->dtype, val->data, numel);
  else
    fprintf(p->out, "summary(bytes %" PRId64 ", hash 0x%016" PRIx64 ")", val->nbytes, val->hash);
}

static void put_tensor(printer *p, const ir_tensor *t) {
  FILE *out = p->out;
  fputs("tensor(", out);
  put_dtype(out, t->dtype);
  ir_shape s = {.rank = t->rank};
  fputc('[', out);
  for (int i = 0; i < t->rank && i < KILN_MAX_RANK; i++) {
    s.dims[i] = t->dims[i];
    fprintf(out, "%s%" PRId64, i ? "," : "", t->dims[i]);
  }
  fputs("], ", out);
  int64_t numel = t->rank >= 0 ? printable_numel(t->dtype, &s, t->nbytes) : -1;
  if (t->data && numel >= 0)
    put_elems(out, t->dtype, t->data, numel);
  else
    fprintf(out, "bytes %" PRId64, t->nbytes);
  fputc(')', out);
}

static void put_attr_value(printer *p, const ir_attr *a, int indent) {
  FILE *out = p->out;
  char buf[48];
  int32_t n = a->count > 0 ? a->count : 0;
  switch (a->kind) {
  case IR_ATTR_INT: fprintf(out, "%" PRId64, a->i); return;
  case IR_ATTR_FLOAT:
    ir_text_fmt_f32(buf, a->f);
    fputs(buf, out);
    return;
  case IR_ATTR_STRING:
    ir_text_put_string(out, a->s ? a->s : "", a->s ? (size_t)a->s_len : 0);
    return;
  case IR_ATTR_INTS:
    if (!n || !a->ints) {
      fputs("ints []", out);
      return;
    }
    fputc('[', out);
    for (int32_t i = 0; i < n; i++) fprintf(out, "%s%" PRId64, i ? ", " : "", a->ints[i]);
    fputc(']', out);
    return;
  case IR_ATTR_FLOATS:
    if (!n || !a->floats) {
      fputs("floats []", out);
      return;
    }
    put_f32_list(out, a->floats, n);
    return;
  case IR_ATTR_STRINGS:
    if (!n || !a->strings) {
      fputs("strings []", out);
      return;
    }
    fputc('[', out);
    for (int32_t i = 0; i < n; i++) {
      const char *s = a->strings[i] ? a->strings[i] : "";
      if (i) fputs(", ", out);
      ir_text_put_string(out, s, strlen(s));
    }
    fputc(']', out);
    return;
  case IR_ATTR_TENSOR:
    if (a->tensor)
      put_tensor(p, a->tensor);
    else
      fputs("undefined", out);
    return;
  case IR_ATTR_TENSORS:
    if (!n || !a->tensor) {
      fputs("tensors []", out);
      return;
    }
    fputc('[', out);
    for (int32_t i = 0; i < n; i++) {
      if (i) fputs(", ", out);
      put_tensor(p, &a->tensor[i]);
    }
    fputc(']', out);
    return;
  case IR_ATTR_GRAPH:
    if (a->graph) {
      ir_print_options o = {.full_constants = p->full, .summary_bytes = p->summary_bytes};
      print_graph(a->graph, out, &o, indent + 2);
    } else {
      fputs("undefined", out);
    }
    return;
  case IR_ATTR_GRAPHS: fputs("graphs []", out); return; /* ir_attr has no list of graphs */
  default: fputs("undefined", out); return;
  }
}

static void put_node(printer *p, ir_node_id n, int indent) {
  const ir_node *nd = &p->g->nodes[n];
  FILE *out = p->out;
  put_indent(out, indent);
  for (int32_t i = 0; i < nd->num_outputs; i++) {
    ir_value_id v = nd->outputs[i];
    if (i) fputs(", ", out);
    if (valid_value(p->g, v) && p->site[v] == SITE_NODE && p->decl_node[v] == n &&
        p->decl_slot[v] == i)
      put_decl(p, v);
    else
      put_ref(p, v);
  }
  if (nd->num_outputs > 0) fputs(" = ", out);
  if (nd->op < IR_OP_COUNT) {
    if (ir_ops[nd->op].domain[0]) fprintf(out, "%s.", ir_ops[nd->op].domain);
    fputs(ir_ops[nd->op].name, out);
  } else {
    fputs("kiln.invalid_op", out);
  }
  fputc('(', out);
  for (int32_t i = 0; i < nd->num_inputs; i++) {
    if (i) fputs(", ", out);
    put_ref(p, nd->inputs[i]);
  }
  fputc(')', out);
  if (nd->num_attrs > 0) {
    fputs(" {", out);
    for (int32_t i = 0; i < nd->num_attrs; i++) {
      if (i) fputs(", ", out);
      ir_text_put_name(out, 0, nd->attrs[i].name, true);
      fputs(" = ", out);
      put_attr_value(p, &nd->attrs[i], indent);
    }
    fputc('}', out);
  }
  fputc(' ', out);
  ir_text_put_name(out, '@', nd->name, false);
  fputc('\n', out);
}

/* Decides each referenced value's declaration site (see the top). */
static void assign_sites(printer *p) {
  const ir_graph *g = p->g;
  uint8_t *used = kiln_calloc(g->ctx, (size_t)g->num_values + 1, 1);
  for (int32_t i = 0; i < g->num_inputs; i++)
    if (valid_value(g, g->inputs[i])) used[g->inputs[i]] = 1;
  for (int32_t i = 0; i < g->num_outputs; i++)
    if (valid_value(g, g->outputs[i])) used[g->outputs[i]] = p->is_output[g->outputs[i]] = 1;
  for (int32_t n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int32_t i = 0; i < nd->num_inputs; i++)
      if (valid_value(g, nd->inputs[i])) used[nd->inputs[i]] = 1;
    for (int32_t i = 0; i < nd->num_outputs; i++) {
      ir_value_id v = nd->outputs[i];
      if (!valid_value(g, v) || p->site[v] == SITE_NODE) continue;
      used[v] = 1;
      p->site[v] = SITE_NODE;
      p->decl_node[v] = n;
      p->decl_slot[v] = i;
    }
  }
  for (int32_t i = g->num_inputs - 1; i >= 0; i--) { /* last write wins: first index */
    ir_value_id v = g->inputs[i];
    if (valid_value(g, v) && p->site[v] != SITE_NODE) {
      p->site[v] = SITE_INPUT;
      p->decl_slot[v] = i;
    }
  }
  for (ir_value_id v = 0; v < g->num_values; v++) {
    if (!used[v] || p->site[v] == SITE_NODE) continue;
    if (g->values[v].storage == IR_STORAGE_CONST)
      p->site[v] = SITE_CONST;
    else if (p->site[v] == SITE_NONE)
      p->site[v] = SITE_VALUE;
  }
  kiln_free(g->ctx, used);
}

static void print_graph(const ir_graph *g, FILE *out, const ir_print_options *opt, int indent) {
  kiln_ctx *ctx = g->ctx;
  size_t nv = (size_t)g->num_values + 1;
  printer p = {.g = g, .out = out};
  p.full = opt && opt->full_constants;
  p.summary_bytes = opt && opt->summary_bytes ? opt->summary_bytes : 64;
  p.site = kiln_calloc(ctx, nv, 1);
  p.is_output = kiln_calloc(ctx, nv, 1);
  p.decl_node = kiln_calloc(ctx, nv, sizeof *p.decl_node);
  p.decl_slot = kiln_calloc(ctx, nv, sizeof *p.decl_slot);
  assign_sites(&p);

  fputs("graph ", out);
  ir_text_put_name(out, '@', g->name, false);
  if (g->opset) fprintf(out, " opset %" PRId32, g->opset);
  if (g->ir_version) fprintf(out, " ir_version %" PRId32, g->ir_version);
  fputs(" {\n", out);
  int in = indent + 2;
  if (g->num_syms > 0) {
    put_indent(out, in);
    fputs("symbols ", out);
    for (int32_t i = 0; i < g->num_syms; i++) {
      if (i) fputs(", ", out);
      ir_text_put_name(out, 0, g->syms[i], true);
    }
    fputc('\n', out);
  }
  for (int32_t i = 0; i < g->num_inputs; i++) {
    ir_value_id v = g->inputs[i];
    put_indent(out, in);
    fputs("input ", out);
    if (valid_value(g, v) && p.site[v] == SITE_INPUT && p.decl_slot[v] == i)
      put_decl(&p, v);
    else
      put_ref(&p, v);
    fputc('\n', out);
  }
  for (ir_value_id v = 0; v < g->num_values; v++) {
    if (p.site[v] != SITE_CONST) continue;
    put_indent(out, in);
    fputs("const ", out);
    put_decl(&p, v);
    fputs(" = ", out);
    put_const_payload(&p, &g->values[v]);
    fputc('\n', out);
  }
  for (ir_value_id v = 0; v < g->num_values; v++) {
    if (p.site[v] != SITE_VALUE) continue;
    put_indent(out, in);
    fputs("value ", out);
    put_decl(&p, v);
    fputc('\n', out);
  }
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    if (!g->nodes[n].dead) put_node(&p, n, in);
  for (int32_t i = 0; i < g->num_outputs; i++) {
    put_indent(out, in);
    fputs("output ", out);
    put_ref(&p, g->outputs[i]);
    fputc('\n', out);
  }
  put_indent(out, indent);
  fputc('}', out);
  kiln_free(ctx, p.site);
  kiln_free(ctx, p.is_output);
  kiln_free(ctx, p.decl_node);
  kiln_free(ctx, p.decl_slot);
}

void ir_print(const ir_graph *g, FILE *out, const ir_print_options *opt) {
  print_graph(g, out, opt, 0);
  fputc('\n', out);
}
