/*
 * onnx.h — the ONNX importer: ModelProto in, ir_graph out.
 */
#ifndef KILN_ONNX_H
#define KILN_ONNX_H

#include "ir.h"
#include "options.h"

/* Reads the model at `path` (external data is resolved relative to its
 * folder and memory-mapped).  On failure reports every problem found
 * (every unsupported op at once) and returns NULL. */
ir_graph *onnx_import_file(kiln_ctx *ctx, const char *path, const kiln_options *opt);
/* Same from bytes in memory; external data resolves against `dir`
 * (NULL: external data is refused). */
ir_graph *onnx_import_bytes(kiln_ctx *ctx, const void *data, size_t len, const char *dir,
                            const kiln_options *opt);

/* One row of `kiln ops`: an op type the model uses, how often, and
 * whether kiln supports it. */
typedef struct onnx_op_count {
  const char *domain, *op_type;
  int count;
  int supported;
} onnx_op_count;
/* Lists the op types of a model without importing it; the caller frees
 * *rows (and the strings in it) with kiln_free via onnx_op_counts_free. */
kiln_status onnx_count_ops(kiln_ctx *ctx, const char *path, onnx_op_count **rows, int *num_rows);
void onnx_op_counts_free(kiln_ctx *ctx, onnx_op_count *rows, int num_rows);

/* What `kiln info` shows about a model file beyond its graph. */
typedef struct onnx_model_meta_info {
  int64_t ir_version;    /* ModelProto.ir_version, 0 if absent */
  int64_t opset;         /* the default domain's opset version, 0 if absent */
  char producer[256];    /* "pytorch 2.1.0", "" if absent */
  int64_t num_nodes;     /* nodes of the main graph */
} onnx_model_meta_info;
/* Reads those without importing the model (opscan.c). */
kiln_status onnx_model_meta(kiln_ctx *ctx, const char *path, onnx_model_meta_info *out);

#endif
