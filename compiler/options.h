/*
 * options.h — what the user asked for, as one struct every pass and the
 * code generator read.  Filled by the CLI (compiler/driver) or by a
 * library user; kiln_options_init sets the defaults the CLI documents.
 */
#ifndef KILN_OPTIONS_H
#define KILN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"

typedef struct ir_graph kiln_graph;

/* --shape INPUT=D0,D1,...: fixes an input's dims (symbolic ones included). */
typedef struct kiln_shape_override {
  const char *input;
  int rank;
  int64_t dims[KILN_MAX_RANK];
} kiln_shape_override;

/* --bind INPUT=FILE or INPUT=V[,V...]: freezes a graph input to the
 * tensor in FILE, or to literal numbers in the input's declared dtype. */
typedef struct kiln_bind {
  const char *input;
  const char *path;           /* .npy or TensorProto .pb, or the literal */
} kiln_bind;

typedef enum { KILN_WEIGHTS_EMBEDDED = 0, KILN_WEIGHTS_EXTERNAL } kiln_weights_mode;

/* --method of `kiln calibrate` and --data: how a tensor's range is chosen
 * from its statistics (docs/quantization.md). */
typedef enum {
  KILN_CALIB_PERCENTILE = 0, /* clip |x| at a percentile (the default, 99.99) */
  KILN_CALIB_MINMAX,         /* the observed min and max */
  KILN_CALIB_ENTROPY,        /* least KL divergence (TensorRT) */
  KILN_CALIB_MSE,            /* least mean squared quantization error */
} kiln_calib_method;
/* --rotate: which rotations fuse-rotations folds into the weights. */
typedef enum { KILN_ROTATE_NONE = 0, KILN_ROTATE_HADAMARD } kiln_rotate_mode;
/* --prune: how the prune pass scores weights (docs/sparsity.md). */
typedef enum {
  KILN_PRUNE_NONE = 0,
  KILN_PRUNE_MAGNITUDE,      /* |w| */
  KILN_PRUNE_WANDA,          /* |w| x the L2 norm of its input channel on --data */
} kiln_prune_method;
/* --prune-group: which weights an unstructured pattern ranks against
 * each other. */
typedef enum {
  KILN_PRUNE_GROUP_LAYER = 0, /* the whole layer (default) */
  KILN_PRUNE_GROUP_ROW,       /* each output's row on its own (the Wanda paper's choice) */
} kiln_prune_group;
/* --pattern: the shape of what is zeroed. */
typedef enum {
  KILN_PATTERN_UNSTRUCTURED = 0,
  KILN_PATTERN_NM,           /* at most N nonzeros in every M along the reduction */
  KILN_PATTERN_BLOCK,        /* whole R x C blocks of the weight matrix */
} kiln_prune_pattern;

typedef struct kiln_options {
  int opt_level;              /* -O0..-O3; default 2 */
  const char *target;         /* "host" or an LLVM triple */
  const char *cpu;            /* LLVM CPU name; NULL: host CPU or generic */
  int threads;                /* default thread count baked into the library */
  kiln_weights_mode weights;
  const char *passes;         /* comma-separated pipeline; NULL: the default one */
  const char *print_after;    /* print the IR after the pass of this name */
  bool print_after_all;
  bool dot;                   /* print graphs as Graphviz instead of text */
  bool full_constants;        /* print constants in full */
  kiln_shape_override *shapes;
  int num_shapes;
  kiln_bind *binds;           /* applied by the driver right after import */
  int num_binds;
  FILE *print_stream;         /* where --print-after output goes; stdout if NULL */
  bool memory_report;         /* --memory-report: plan-memory prints its numbers
                               * (ir_memory_report) to print_stream */
  const char *emit_llvm;      /* --emit-llvm FILE: the optimized LLVM module as text */
  bool print_schedule;        /* --print-schedule: each GEMM kernel's schedule and where
                               * it came from, on stderr, as the code generator uses it */
  const char *tuning;         /* --tuning FILE: schedules from this tuning database
                               * (kernels/tuning.h) for the kernels it has a record
                               * of; the others are reported; NULL: none */
  const char *memory_svg;     /* --memory-svg FILE: plan-memory writes a picture
                               * of the plan there (ir_memory_svg); NULL: none */
  /* quantization (docs/quantization.md) */
  const char *quantize;       /* --quantize int8|w8a8|w4a8|w4a16: run the quantize pass; NULL: float */
  const char *quant_profile;  /* --profile PROFILE.yaml from `kiln calibrate` */
  const char *calib_data;     /* --data DIR: calibrate on these samples */
  const char *calib_output;   /* where the calibrate pass writes the profile; NULL: stdout */
  kiln_calib_method calib_method; /* --method */
  double calib_percentile;    /* --method percentile:P (default 99.99) */
  bool per_tensor;            /* --per-tensor weight scales (default per channel) */
  int group_size;             /* --group-size: rows of K per int4 weight scale (w4a8,
                               * w4a16); 0: the default, 128 */
  const char *keep_float;     /* --keep-float NODE[,NODE...]: nodes left in float */
  const char *quant_report;   /* --quant-report FILE.md: per-node SQNR on --data */
  double accuracy_budget;     /* --accuracy-budget X: keep the most sensitive nodes float
                               * until the outputs' relative error is <= X; 0: off */
  bool hide_constants;        /* Graphviz pictures leave constants out */
  const char *print_dir;      /* snapshots of --print-after(-all) go to files
                               * DIR/NN-PASS.kir (.dot) instead of print_stream */
  bool symbolic_ok;           /* a pass that needs static input shapes
                               * (plan-memory) is skipped with a note instead
                               * of failing when an input is symbolic: dump */
  kiln_rotate_mode rotate;    /* --rotate hadamard: the default pipeline ends with
                               * fuse-rotations (and a dead-code sweep) */
  uint64_t rotate_seed;       /* --rotate-seed N: seeds the random signs of the
                               * residual-stream rotation (default 0) */
  /* pruning and sparse kernels (docs/sparsity.md) */
  kiln_prune_method prune;    /* --prune: the default pipeline runs the prune pass */
  double sparsity;            /* --sparsity S in [0, 1); < 0: not given */
  kiln_prune_pattern pattern; /* --pattern */
  int pattern_n, pattern_m;   /* N:M, or block rows x columns */
  const char *prune_layers;   /* --prune-layers FILE.yaml: node name -> sparsity */
  bool prune_keep_ends;       /* --prune-keep-ends: first and last prunable layers stay dense */
  kiln_prune_group prune_group; /* --prune-group: an unstructured pattern's ranking group */
  bool sparse_off;            /* --sparse off: no sparse facts or kernels for any weight */
  bool conv_plain;            /* --conv-layout plain: no blocked activations (every
                               * convolution on the GEMM kernel) */
  const char *sparsity_report;/* --sparsity-report FILE: per layer pattern, density, kernel */
} kiln_options;

void kiln_options_init(kiln_options *opt);

#endif
