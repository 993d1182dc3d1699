/*
 * opscan.c — which operators a model uses, and which kiln refuses.
 *
 * Before building any IR the importer walks every node of the model,
 * subgraphs (If/Loop/Scan bodies) included, and tallies each distinct
 * (domain, op_type).  Each distinct type is looked up in the op table once
 * (ir_op_lookup is a linear scan; a model has millions of nodes but only
 * dozens of types).  The tally serves three purposes:
 *
 *   - the importer refuses a model with unsupported ops up front, naming
 *     every unsupported type at once with its first node and its count,
 *     instead of failing on the first one and making the user iterate;
 *   - node building finds each node's ir_op through the same table;
 *   - `kiln ops MODEL` prints it (onnx_count_ops).
 *
 * Constant is supported although it has no infer hook: the importer folds
 * it into a constant value, so it never reaches the IR as a node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_internal.h"

static const char *canonical_domain(const char *d) {
  return (!d || !strcmp(d, "ai.onnx")) ? "" : d;
}

static uint32_t hash2(const char *a, const char *b) {
  uint32_t h = 2166136261u;
  for (; *a; a++) h = (h ^ (unsigned char)*a) * 16777619u;
  h = (h ^ 0xff) * 16777619u;
  for (; *b; b++) h = (h ^ (unsigned char)*b) * 16777619u;
  return h;
}

static void slot_put(onnx_optable *t, int32_t row) {
  uint32_t mask = (uint32_t)t->cap_slots - 1;
  uint32_t i = hash2(t->rows[row].domain, t->rows[row].op_type) & mask;
  while (t->slots[i]) i = (i + 1) & mask;
  t->slots[i] = row + 1;
}

onnx_optype *onnx_optable_get(kiln_ctx *ctx, onnx_optable *t, const char *domain,
                              const char *op_type) {
  domain = canonical_domain(domain);
  if (!op_type) op_type = "";
  if (t->cap_slots) {
    uint32_t mask = (uint32_t)t->cap_slots - 1;
    for (uint32_t i = hash2(domain, op_type) & mask; t->slots[i]; i = (i + 1) & mask) {
      onnx_optype *r = &t->rows[t->slots[i] - 1];
      if (!strcmp(r->op_type, op_type) && !strcmp(r->domain, domain)) return r;
    }
  }
  if (t->num_rows == t->cap_rows) {
    t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 32;
    t->rows = kiln_realloc(ctx, t->rows, (size_t)t->cap_rows * sizeof *t->rows);
  }
  int32_t row = t->num_rows++;
  onnx_optype *r = &t->rows[row];
  memset(r, 0, sizeof *r);
  r->domain = domain;
  r->op_type = op_type;
  r->op = ir_op_lookup(domain, op_type);
  r->supported = r->op == IR_OP_CONSTANT || ir_op_supported(r->op);
  if (2 * t->num_rows > t->cap_slots) {
    kiln_free(ctx, t->slots);
    t->cap_slots = t->cap_slots ? 2 * t->cap_slots : 64;
    t->slots = kiln_calloc(ctx, (size_t)t->cap_slots, sizeof *t->slots);
    for (int32_t i = 0; i < t->num_rows; i++) slot_put(t, i);
  } else {
    slot_put(t, row);
  }
  return r;
}

void onnx_optable_free(kiln_ctx *ctx, onnx_optable *t) {
  kiln_free(ctx, t->rows);
  kiln_free(ctx, t->slots);
  memset(t, 0, sizeof *t);
}

void onnx_scan_ops(kiln_ctx *ctx, onnx_optable *t, const Onnx__GraphProto *gp, int max_depth) {
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *np = gp->node[i];
    onnx_optype *r = onnx_optable_get(ctx, t, np->domain, np->op_type);
    if (!r->count++) {
      r->first_node = np->name ? np->name : "";
      r->first_index = (int)i;
    }
    if (max_depth <= 0) continue;
    for (size_t a = 0; a < np->n_attribute; a++) {
      const Onnx__AttributeProto *ap = np->attribute[a];
      if (ap->g) onnx_scan_ops(ctx, t, ap->g, max_depth - 1);
      for (size_t k = 0; k < ap->n_graphs; k++) onnx_scan_ops(ctx, t, ap->graphs[k], max_depth - 1);
    }
  }
}

const char *onnx_op_label(const char *domain, const char *op_type, char *buf, size_t n) {
  domain = canonical_domain(domain);
  if (!*domain) return op_type ? op_type : "";
  snprintf(buf, n, "%s:%s", domain, op_type ? op_type : "");
  return buf;
}

int onnx_report_unsupported(kiln_ctx *ctx, const onnx_optable *t) {
  int bad = 0;
  for (int32_t i = 0; i < t->num_rows; i++) {
    const onnx_optype *r = &t->rows[i];
    if (r->supported) continue;
    char label[256], node[64];
    const char *name = r->first_node;
    if (!*name) {
      snprintf(node, sizeof node, "#%d", r->first_index);
      name = node;
    }
    kiln_error_node(ctx, name, onnx_op_label(r->domain, r->op_type, label, sizeof label),
                    "unsupported operator (%d node%s)", r->count, r->count == 1 ? "" : "s");
    bad++;
  }
  return bad;
}

static int compare_rows(const void *a, const void *b) {
  const onnx_op_count *x = a, *y = b;
  int c = strcmp(x->domain, y->domain);
  return c ? c : strcmp(x->op_type, y->op_type);
}

kiln_status onnx_count_ops(kiln_ctx *ctx, const char *path, onnx_op_count **rows,
                           int *num_rows) {
  *rows = NULL;
  *num_rows = 0;
  ctx->file = path;
  unsigned char *buf;
  size_t len;
  kiln_status st = onnx_read_file(ctx, path, &buf, &len);
  if (st) return st;
  ProtobufCAllocator pa = onnx_pb_allocator(ctx);
  Onnx__ModelProto *m;
  st = onnx_unpack_model(ctx, buf, len, &m);
  kiln_free(ctx, buf);
  if (st) return st;
  if (!m->graph) {
    kiln_error(ctx, "not a valid ONNX model: it has no graph");
    onnx__model_proto__free_unpacked(m, &pa);
    return KILN_ERR_INVALID_MODEL;
  }
  onnx_optable t = {0};
  onnx_scan_ops(ctx, &t, m->graph, KILN_MAX_SUBGRAPH_DEPTH);
  onnx_op_count *out = kiln_calloc(ctx, (size_t)t.num_rows + 1, sizeof *out);
  for (int32_t i = 0; i < t.num_rows; i++) {
    out[i].domain = kiln_strdup(ctx, t.rows[i].domain);
    out[i].op_type = kiln_strdup(ctx, t.rows[i].op_type);
    out[i].count = t.rows[i].count;
    out[i].supported = t.rows[i].supported;
  }
  qsort(out, (size_t)t.num_rows, sizeof *out, compare_rows);
  *rows = out;
  *num_rows = t.num_rows;
  onnx_optable_free(ctx, &t);
  onnx__model_proto__free_unpacked(m, &pa);
  return KILN_OK;
}

void onnx_op_counts_free(kiln_ctx *ctx, onnx_op_count *rows, int num_rows) {
  for (int i = 0; i < num_rows; i++) {
    kiln_free(ctx, (char *)rows[i].domain);
    kiln_free(ctx, (char *)rows[i].op_type);
  }
  kiln_free(ctx, rows);
}

kiln_status onnx_model_meta(kiln_ctx *ctx, const char *path, onnx_model_meta_info *out) {
  memset(out, 0, sizeof *out);
  ctx->file = path;
  unsigned char *buf;
  size_t len;
  kiln_status st = onnx_read_file(ctx, path, &buf, &len);
  if (st) return st;
  ProtobufCAllocator pa = onnx_pb_allocator(ctx);
  Onnx__ModelProto *m;
  st = onnx_unpack_model(ctx, buf, len, &m);
  kiln_free(ctx, buf);
  if (st) return st;
  out->ir_version = m->has_ir_version ? m->ir_version : 0;
  snprintf(out->producer, sizeof out->producer, "%s%s%s", m->producer_name ? m->producer_name : "",
           m->producer_version && *m->producer_version ? " " : "",
           m->producer_version ? m->producer_version : "");
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) out->opset = o->version;
  }
  out->num_nodes = m->graph ? (int64_t)m->graph->n_node : 0;
  onnx__model_proto__free_unpacked(m, &pa);
  return KILN_OK;
}
