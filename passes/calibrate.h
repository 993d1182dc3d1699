/*
 * calibrate.h — activation statistics and calibration profiles, shared by
 * `kiln calibrate`, the calibrate pass and the quantize pass.
 *
 * A profile records, per tensor a quantized kernel reads or writes, the
 * range [lo, hi] that the chosen method picked from the statistics the
 * float model produced on the calibration samples, plus a summary of those
 * statistics.  Its YAML form is documented in docs/quantization.md.
 */
#ifndef KILN_CALIBRATE_H
#define KILN_CALIBRATE_H

#include "ir.h"
#include "options.h"

#define KILN_PROFILE_VERSION 1
/* Bins of |x| between 0 and the largest |x| seen. */
enum { KILN_CALIB_BINS = 2048 };

typedef struct kiln_tensor_stats {
  char *name;            /* the value's name in the optimised graph */
  double lo, hi;         /* the range the method chose; lo <= 0 <= hi */
  double min, max;       /* observed extremes */
  double mean, std;      /* over every element of every sample */
  int64_t count;         /* elements seen */
  double p99, p9999;     /* percentiles of |x| (from the histogram) */
  int64_t *hist;         /* KILN_CALIB_BINS counts of nonzero |x| over [0, absmax]; NULL
                          * when read back from a profile */
  int64_t zeros;         /* elements exactly 0: outside hist, since 0 quantizes without
                          * error (a Relu's output is often half zeros, and that spike
                          * would dominate the entropy and mse searches) */
} kiln_tensor_stats;

typedef struct kiln_calib_profile {
  int version;           /* KILN_PROFILE_VERSION */
  char *model;           /* the graph's name, for a mismatch message */
  kiln_calib_method method;
  double percentile;     /* for KILN_CALIB_PERCENTILE */
  int samples;
  int count;
  kiln_tensor_stats *tensors;
  const char *source;    /* file it was read from (messages), or NULL */
} kiln_calib_profile;

/* "minmax", "percentile", "entropy", "mse". */
const char *kiln_calib_method_name(kiln_calib_method m);
/* Parses --method's value ("percentile:99.9" included) into opt. */
kiln_status kiln_calib_parse_method(kiln_ctx *ctx, const char *s, kiln_options *opt);

/* True for values whose range a quantized kernel needs: the data input and
 * output of every Conv, Gemm and MatMul, and the output of a Relu or Clip
 * that reads one (quantize fuses it). */
void kiln_calib_wanted(const ir_graph *g, bool *wanted);

/* Runs g (shapes static, after the pipeline) through the JIT on every
 * sample of the folder `dir` and fills a profile for the wanted values
 * with opt's method.  g is not modified. */
kiln_status kiln_calibrate(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *dir,
                           kiln_calib_profile *out);
/* Called by kiln_run_taps after each run: tap[k] holds value taps[k]
 * (numel[k] elements) for sample `sample` of sweep `sweep`. */
typedef kiln_status (*kiln_tap_fn)(void *user, int sweep, int sample, const void *const *tap,
                                   const int64_t *numel);
/* Compiles g (static shapes) with the tapped values made outputs, in a
 * borrowing clone, and runs it `sweeps` times over the samples of `dir`,
 * calling fn after each run; a progress bar labelled `what` shows on a
 * terminal.  g is not modified. */
kiln_status kiln_run_taps(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *dir,
                          const ir_value_id *taps, int ntaps, int sweeps, const char *what,
                          kiln_tap_fn fn, void *user);
/* Picks [lo, hi] for t from its statistics (t->hist set) by `method`. */
void kiln_calib_choose_range(kiln_tensor_stats *t, kiln_calib_method method, double percentile);

/* --quant-report (quant_report.c): runs the float graph fg and its
 * quantized form qg on the --data samples and writes per-node SQNR and the
 * outputs' errors to opt->quant_report.  qv[v] (v < nvalues) is the uint8
 * value of qg that replaced float value v, or IR_NONE.  `budget_notes`
 * (markdown list lines, may be NULL): what --accuracy-budget kept in float. */
kiln_status kiln_quant_report(kiln_ctx *ctx, ir_graph *fg, ir_graph *qg, const ir_value_id *qv,
                              int32_t nvalues, const kiln_options *opt, const char *budget_notes);

/* The float outputs of fg on the --data samples, kept to measure
 * quantized variants against (--accuracy-budget). */
typedef struct kiln_float_ref kiln_float_ref;
kiln_status kiln_float_ref_make(kiln_ctx *ctx, ir_graph *fg, const kiln_options *opt,
                                kiln_float_ref **out);
/* max over the outputs of max |q - f| / max |f| on those samples. */
kiln_status kiln_output_error(kiln_ctx *ctx, kiln_float_ref *ref, ir_graph *qg,
                              const kiln_options *opt, double *err);
void kiln_float_ref_free(kiln_ctx *ctx, kiln_float_ref *ref);

kiln_status kiln_profile_write(kiln_ctx *ctx, const kiln_calib_profile *p, const char *path);
/* Reads and checks a profile; errors name the file and the line. */
kiln_status kiln_profile_read(kiln_ctx *ctx, const char *path, kiln_calib_profile *out);
const kiln_tensor_stats *kiln_profile_find(const kiln_calib_profile *p, const char *name);
void kiln_profile_free(kiln_ctx *ctx, kiln_calib_profile *p);

#endif
