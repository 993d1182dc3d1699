/*
 * samples.h — a folder of sample inputs: the calibration data of
 * `kiln calibrate`, `--quantize ... --data DIR` and (later) Wanda pruning.
 *
 * The folder holds one sample per entry, taken in name order:
 *
 *     DIR/000.npy, DIR/001.pb, ...       a one-input model: one file per sample
 *     DIR/000/NAME.npy, DIR/000/input_K.pb, ...
 *                                        any model: a subfolder per sample, one
 *                                        file per input, named after the input
 *                                        (.npy or .pb) or by its position K as
 *                                        in the ONNX test data sets
 *
 * Files of other kinds and names starting with '.' are ignored.  Opening
 * the folder only lists it (and reports an empty folder or a subfolder
 * that lacks an input); each sample is read when asked for and checked
 * against the graph input it feeds (dtype, rank, every static dim), so a
 * thousand-sample folder costs one sample's memory.
 */
#ifndef KILN_SAMPLES_H
#define KILN_SAMPLES_H

#include "tensor_io.h"

typedef struct kiln_samples {
  kiln_ctx *ctx;
  const ir_graph *g;     /* the graph whose inputs the samples feed */
  char *dir;
  int count;             /* samples found */
  char **paths;          /* count * g->num_inputs file paths, sample-major */
} kiln_samples;

/* Lists DIR for graph g.  Reports (naming DIR) and fails if DIR cannot be
 * read, holds no sample, or a sample lacks a file for some input. */
kiln_status kiln_samples_open(kiln_ctx *ctx, const char *dir, const ir_graph *g,
                              kiln_samples *out);
/* Reads sample i into t[0 .. g->num_inputs) (graph input order) and
 * checks each against its input; on failure reports the file and leaves
 * every t[k] zeroed. */
kiln_status kiln_samples_load(kiln_samples *s, int i, kiln_host_tensor *t);
void kiln_samples_close(kiln_samples *s);

/* "f32[1,3,8,8]" of a dtype and dims, for messages. */
void kiln_format_type(char *buf, size_t size, ir_dtype dt, int rank, const int64_t *dims);

#endif
