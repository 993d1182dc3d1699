/*
 * kiln.h — the stable ABI between a kiln-generated library and its caller.
 *
 * Every library that `kiln compile` writes exports one `kiln_model`
 * descriptor (declared in the generated NAME.h).  A caller that only knows
 * this header can drive any model generically: read the tensor infos,
 * allocate buffers and a 64-byte aligned workspace of `workspace_size`
 * bytes, and call `run`.  `run` allocates nothing, so two threads may run
 * the same model at once with two workspaces.  A model compiled with
 * `--weights external` also needs its weights file, mapped with
 * kiln_weights_open and passed in kiln_run_options.
 *
 * This header is shipped verbatim into every output directory and is also
 * used by the compiler itself, so it must stay plain C99 with no kiln
 * internals.
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_ABI_VERSION 1

/* Element types, numbered as ONNX TensorProto.DataType so files and
 * tools can pass them through unchanged. */
typedef enum {
  KILN_UNDEFINED = 0,
  KILN_F32 = 1,
  KILN_U8 = 2,
  KILN_I8 = 3,
  KILN_U16 = 4,
  KILN_I16 = 5,
  KILN_I32 = 6,
  KILN_I64 = 7,
  KILN_STRING = 8,
  KILN_BOOL = 9,
  KILN_F16 = 10,
  KILN_F64 = 11,
  KILN_U32 = 12,
  KILN_U64 = 13,
  KILN_C64 = 14,
  KILN_C128 = 15,
  KILN_BF16 = 16
} kiln_dtype;

/* Status codes returned by `run` and by the compiler library. */
typedef enum {
  KILN_OK = 0,
  KILN_ERR_INVALID_ARGUMENT = 1, /* null pointer, bad option, bad shape */
  KILN_ERR_MISALIGNED = 2,       /* workspace not 64-byte aligned */
  KILN_ERR_INVALID_MODEL = 3,    /* malformed model or IR */
  KILN_ERR_UNSUPPORTED = 4,      /* an op, dtype or attribute kiln lacks */
  KILN_ERR_IO = 5,               /* file missing, unreadable, truncated */
  KILN_ERR_NOMEM = 6,            /* allocation failed (compiler only) */
  KILN_ERR_LIMIT = 7,            /* a hard limit was exceeded */
  KILN_ERR_WEIGHTS = 8,          /* weights file missing or mismatched */
  KILN_ERR_INTERNAL = 9,         /* a bug in kiln: please report */
  KILN_ERR_INDEX_RANGE = 10,     /* run: an index input (Gather, GatherElements,
                                  * GatherND) is out of range; outputs unspecified */
  KILN_STATUS_COUNT_
} kiln_status;

typedef struct {
  const char *name;      /* the ONNX value name */
  kiln_dtype dtype;
  int rank;
  const int64_t *shape;  /* `rank` dims; buffers are dense row-major */
} kiln_tensor_info;

/* A weights file mapped into memory by kiln_weights_open (opaque). */
typedef struct kiln_weights kiln_weights;

/* Options of one run.  Zero-initialise it (`kiln_run_options opt = {0};`)
 * and set what you need; a NULL pointer means all defaults.  Fields are
 * only ever appended, and a model reads only the fields it knows. */
typedef struct {
  int num_threads; /* 0: KILN_NUM_THREADS if set, else all cores */
  /* Models compiled with --weights external read their constants from
   * this mapping (see kiln_weights_open); without it such a model's run
   * returns KILN_ERR_WEIGHTS.  Embedded models ignore it: NULL (zero)
   * means "weights are inside the library". */
  const kiln_weights *weights;
} kiln_run_options;

typedef struct kiln_model {
  const char *name;
  int num_inputs, num_outputs;
  const kiln_tensor_info *inputs, *outputs;
  size_t workspace_size; /* bytes, for a 64-byte aligned buffer */
  int (*run)(const void *const *inputs, void *const *outputs, void *workspace,
             const kiln_run_options *opt); /* 0 on success, else a kiln_status */
  /* The weights file a --weights external model needs: its exact size in
   * bytes and the content hash its header records.  Both 0 for a model
   * whose weights are embedded in the library. */
  uint64_t weights_size;
  uint64_t weights_hash;
} kiln_model;

/* A short English description of a status code; never NULL. */
const char *kiln_status_string(int status);

/* ---- external weights (kiln compile --weights external) --------------------
 *
 * Such a model keeps its constants, already packed the way its kernels
 * read them, in OUTDIR/NAME.weights.  Map the file once, pass the mapping
 * in every run's options, close it when no run uses it any more:
 *
 *     kiln_weights *w;
 *     int st = kiln_weights_open(&NAME_model, "NAME.weights", &w);
 *     if (st) { fprintf(stderr, "%s\n", kiln_status_string(st)); ... }
 *     kiln_run_options opt = {.weights = w};
 *     st = NAME_run_typed(..., workspace, &opt);
 *     kiln_weights_close(w);
 *
 * The file is mapped read-only and shared (mmap PROT_READ, MAP_SHARED):
 * nothing is read or copied at open beyond its header, runs read the
 * constants straight from the page cache, and processes that map the same
 * file share one copy of it in memory.  A mapping is immutable, so any
 * number of threads may run with it at once. */

/* Maps the weights file at `path` for model `m` and checks its header:
 * magic, format version, that the file is as long as the header says and
 * that size and content hash are the ones m was compiled with.  Returns
 * KILN_OK and sets *out, or
 *   KILN_ERR_INVALID_ARGUMENT  a NULL argument, or m's weights are embedded;
 *   KILN_ERR_IO                the file cannot be opened, read or mapped;
 *   KILN_ERR_WEIGHTS           not a kiln weights file, truncated, or made
 *                              for another model (size or hash differ);
 *   KILN_ERR_NOMEM             the handle could not be allocated.
 * Open allocates one small handle; runs allocate nothing. */
int kiln_weights_open(const kiln_model *m, const char *path, kiln_weights **out);

/* Reads every byte of the mapping and recomputes the content hash: detects
 * a file damaged after it was written (open checks only the header).
 * KILN_OK or KILN_ERR_WEIGHTS (KILN_ERR_INVALID_ARGUMENT for NULL). */
int kiln_weights_verify(const kiln_weights *w);

/* Unmaps the file and frees the handle; NULL is a no-op.  No run may be
 * using it. */
void kiln_weights_close(kiln_weights *w);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
