/*
 * cli.c — the options of every subcommand, in one table, and the one
 * parser and help printer that read it.
 *
 * Each row names an option, the commands that take it, its value and a
 * line of help.  Parsing walks argv once: a word that is an option of the
 * current command is applied; an option of another command is refused by
 * name ("--target is an option of kiln compile, not of kiln run"), so a
 * flag meant elsewhere is never silently ignored; anything else starting
 * with '-' is unknown; the one remaining word is the model.  `CMD --help`
 * prints the rows of CMD, so the help cannot miss an option the parser
 * takes, and tests/cli/check_docs.py checks docs/cli.md against it.
 *
 * Values may follow as the next word or after '=' (`--threads=4`).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "calibrate.h"
#include "passes.h"

enum { ALL_BUILD = DRV_COMPILE | DRV_RUN | DRV_DUMP | DRV_BENCH };
enum { WITH_MODEL = ALL_BUILD | DRV_OPS | DRV_INFO | DRV_CALIBRATE | DRV_TUNE };
/* the commands that build the graph --quantize rewrites (docs/quantization.md) */
enum { QUANT = DRV_COMPILE | DRV_RUN | DRV_DUMP };
/* ...and the ones kiln tune takes too: it tunes the int8 kernels of the
 * graph they make */
enum { QUANT_TUNE = QUANT | DRV_TUNE };

typedef int (*drv_setter)(kiln_ctx *ctx, drv_args *a, const char *opt, const char *value);

typedef struct drv_option {
  const char *name;   /* "--shape"; "-O0..-O3" is the level family */
  const char *alias;  /* a second spelling ("-o" for --output-dir), or NULL */
  const char *value;  /* what the value looks like; NULL for a flag */
  unsigned cmds;      /* DRV_* bits of the commands that take it */
  drv_setter set;
  const char *help;   /* one line */
} drv_option;

/* ---- setters -------------------------------------------------------------------- */
static int bad(kiln_ctx *ctx, const char *opt, const char *value, const char *want) {
  kiln_error(ctx, "%s '%s': expected %s", opt, value, want);
  return -1;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static bool parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

/* "INPUT=D0,D1,..." -> a shape override.  The last '=' separates the
 * input name (which may itself hold '=') from the dims. */
static int set_shape(kiln_ctx *ctx, drv_args *a, const char *opt, const char *spec) {
  const char *eq = strrchr(spec, '=');
  if (!eq || eq == spec) return bad(ctx, opt, spec, "INPUT=D0,D1,...");
  kiln_shape_override o = {0};
  const char *p = eq + 1;
  while (*p) {
    if (o.rank == KILN_MAX_RANK) {
      kiln_error(ctx, "%s '%s': more than %d dims", opt, spec, KILN_MAX_RANK);
      return -1;
    }
    char *end;
    errno = 0;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || errno || (*end && *end != ','))
      return bad(ctx, opt, spec, "INPUT=D0,D1,... with non-negative integer dims");
    o.dims[o.rank++] = d;
    p = *end ? end + 1 : end;
  }
  o.input = kiln_strdup(ctx, spec);
  ((char *)o.input)[eq - spec] = 0;
  kiln_options *k = &a->opt;
  k->shapes = kiln_realloc(ctx, k->shapes, (size_t)(k->num_shapes + 1) * sizeof o);
  k->shapes[k->num_shapes++] = o;
  return 0;
}

/* "INPUT=FILE" or "INPUT=V[,V...]": numbers are a literal (see
 * drv_bind_literal), anything else a .npy/.pb file. */
static int set_bind(kiln_ctx *ctx, drv_args *a, const char *opt, const char *spec) {
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec || !eq[1]) return bad(ctx, opt, spec, "INPUT=FILE or INPUT=V[,V...]");
  kiln_bind b = {.input = kiln_strdup(ctx, spec), .path = eq + 1};
  ((char *)b.input)[eq - spec] = 0;
  kiln_options *k = &a->opt;
  k->binds = kiln_realloc(ctx, k->binds, (size_t)(k->num_binds + 1) * sizeof b);
  k->binds[k->num_binds++] = b;
  return 0;
}

static int set_outdir(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->outdir = v;
  return 0;
}

static int set_name(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->name = v;
  return 0;
}

static int set_target(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.target = v;
  return 0;
}

static int set_cpu(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.cpu = v;
  return 0;
}

static int set_level(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)v;
  a->opt.opt_level = opt[2] - '0';
  return 0;
}

static int set_weights(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!strcmp(v, "external"))
    a->opt.weights = KILN_WEIGHTS_EXTERNAL;
  else if (!strcmp(v, "embedded"))
    a->opt.weights = KILN_WEIGHTS_EMBEDDED;
  else
    return bad(ctx, opt, v, "embedded or external");
  return 0;
}

static int set_threads(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  long t;
  /* the runtime clamps a run's thread count to 256 (docs/abi.md#threads);
   * a larger number here would be silently lowered, so it is refused */
  if (!parse_long(v, 0, 256, &t)) return bad(ctx, opt, v, "a count from 0 (all cores) to 256");
  a->opt.threads = (int)t;
  return 0;
}

static int set_memory_report(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.memory_report = true;
  return 0;
}

static int set_memory_svg(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.memory_svg = v;
  return 0;
}

static int set_emit_llvm(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.emit_llvm = v;
  return 0;
}

static int set_print_schedule(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.print_schedule = true;
  return 0;
}

static int set_tuning(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.tuning = v;
  return 0;
}

static int set_passes(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.passes = v;
  return 0;
}

static int set_print_after(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.print_after = v;
  return 0;
}

static int set_print_after_all(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.print_after_all = true;
  return 0;
}

static int set_format(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "text") && strcmp(v, "dot")) return bad(ctx, opt, v, "text or dot");
  a->opt.dot = !strcmp(v, "dot");
  return 0;
}

static int set_full_constants(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.full_constants = true;
  return 0;
}

static int set_hide_constants(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.hide_constants = true;
  return 0;
}

static int set_rotate(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "hadamard")) return bad(ctx, opt, v, "hadamard");
  a->opt.rotate = KILN_ROTATE_HADAMARD;
  return 0;
}

static int set_rotate_seed(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  /* strtoull would take " -1" as 2^64-1: the word must start with a digit */
  if (v[0] < '0' || v[0] > '9') return bad(ctx, opt, v, "a non-negative integer");
  char *end;
  errno = 0;
  unsigned long long seed = strtoull(v, &end, 10);
  if (*end || errno) return bad(ctx, opt, v, "a non-negative integer");
  a->opt.rotate_seed = seed;
  a->rotate_seed_given = true;
  return 0;
}

static int set_input(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)opt;
  a->inputs = kiln_realloc(ctx, a->inputs, (size_t)(a->num_inputs + 1) * sizeof *a->inputs);
  a->inputs[a->num_inputs++] = v;
  return 0;
}

static int set_expect(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->expect = v;
  return 0;
}

static int set_rtol(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!parse_double(v, &a->rtol)) return bad(ctx, opt, v, "a non-negative number");
  a->rtol_given = true;
  return 0;
}

static int set_atol(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!parse_double(v, &a->atol)) return bad(ctx, opt, v, "a non-negative number");
  a->atol_given = true;
  return 0;
}

static int set_iterations(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  long n;
  if (!parse_long(v, 1, 100000000, &n)) return bad(ctx, opt, v, "a count from 1");
  a->iterations = (int)n;
  return 0;
}

static int set_warmup(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  long n;
  if (!parse_long(v, 0, 100000000, &n)) return bad(ctx, opt, v, "a count from 0");
  a->warmup = (int)n;
  return 0;
}

static int set_verbose(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->verbose = true;
  a->time = true;
  return 0;
}

static int set_time(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->time = true;
  return 0;
}

static int set_quantize(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "int8") && strcmp(v, "w8a8") && strcmp(v, "w4a8") && strcmp(v, "w4a16"))
    return bad(ctx, opt, v, "int8, w8a8, w4a8 or w4a16");
  a->opt.quantize = v;
  return 0;
}

static int set_group_size(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "32") && strcmp(v, "64") && strcmp(v, "128")) return bad(ctx, opt, v, "32, 64 or 128");
  a->opt.group_size = atoi(v);
  return 0;
}

static int set_profile(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.quant_profile = v;
  return 0;
}

static int set_data(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.calib_data = v;
  return 0;
}

static int set_method(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)opt;
  return kiln_calib_parse_method(ctx, v, &a->opt) ? -1 : 0;
}

static int set_per_channel(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)v;
  a->opt.per_tensor = !strcmp(opt, "--per-tensor");
  return 0;
}

static int set_keep_float(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.keep_float = v;
  return 0;
}

static int set_quant_report(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.quant_report = v;
  return 0;
}

static int set_accuracy_budget(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  double x;
  if (!parse_double(v, &x) || !(x > 0 && x < 1e9))
    return bad(ctx, opt, v, "a positive relative error (e.g. 0.01)");
  a->opt.accuracy_budget = x;
  return 0;
}

static int set_profile_output(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  if (a->cmd == DRV_TUNE)
    a->tune_output = v;
  else
    a->opt.calib_output = v;
  return 0;
}

static int set_runner(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!*v) return bad(ctx, opt, v, "a command");
  a->runner = v;
  return 0;
}

static int set_budget(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!parse_double(v, &a->budget) || !(a->budget > 0 && a->budget <= 86400))
    return bad(ctx, opt, v, "seconds, more than 0 and at most 86400");
  return 0;
}

static int set_prune(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!strcmp(v, "magnitude"))
    a->opt.prune = KILN_PRUNE_MAGNITUDE;
  else if (!strcmp(v, "wanda"))
    a->opt.prune = KILN_PRUNE_WANDA;
  else
    return bad(ctx, opt, v, "magnitude or wanda");
  return 0;
}

static int set_sparsity(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  double x;
  /* 1 would zero every weight: the layer computes nothing but its bias */
  if (!parse_double(v, &x) || !(x < 1))
    return bad(ctx, opt, v, "a fraction of weights to zero in [0, 1)");
  a->opt.sparsity = x;
  return 0;
}

/* "unstructured", "N:M" (0 < N < M <= 64) or "block:RxC" */
static int set_pattern(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  kiln_options *k = &a->opt;
  int n, m, used = 0;
  if (!strcmp(v, "unstructured")) {
    k->pattern = KILN_PATTERN_UNSTRUCTURED;
  } else if (sscanf(v, "block:%dx%d%n", &n, &m, &used) == 2 && !v[used] && n > 0 && m > 0 &&
             n <= 4096 && m <= 4096) {
    k->pattern = KILN_PATTERN_BLOCK;
    k->pattern_n = n, k->pattern_m = m;
  } else if (sscanf(v, "%d:%d%n", &n, &m, &used) == 2 && !v[used] && n > 0 && n < m && m <= 64) {
    k->pattern = KILN_PATTERN_NM;
    k->pattern_n = n, k->pattern_m = m;
  } else {
    return bad(ctx, opt, v, "unstructured, N:M with 0 < N < M <= 64 (2:4), or block:RxC (block:1x16)");
  }
  a->pattern_given = true;
  return 0;
}

static int set_prune_layers(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.prune_layers = v;
  return 0;
}

static int set_prune_keep_ends(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->opt.prune_keep_ends = true;
  return 0;
}

static int set_prune_group(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (!strcmp(v, "layer"))
    a->opt.prune_group = KILN_PRUNE_GROUP_LAYER;
  else if (!strcmp(v, "row"))
    a->opt.prune_group = KILN_PRUNE_GROUP_ROW;
  else
    return bad(ctx, opt, v, "layer or row");
  a->prune_group_given = true;
  return 0;
}

static int set_conv_layout(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "blocked") && strcmp(v, "plain")) return bad(ctx, opt, v, "blocked or plain");
  a->opt.conv_plain = !strcmp(v, "plain");
  return 0;
}

static int set_sparse(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  if (strcmp(v, "on") && strcmp(v, "off")) return bad(ctx, opt, v, "on or off");
  a->opt.sparse_off = !strcmp(v, "off");
  return 0;
}

static int set_sparsity_report(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt;
  a->opt.sparsity_report = v;
  return 0;
}

static int set_help(kiln_ctx *ctx, drv_args *a, const char *opt, const char *v) {
  (void)ctx, (void)opt, (void)v;
  a->help = true;
  return 0;
}

/* ---- the table --------------------------------------------------------------------- */
static const drv_option options[] = {
    {"--output-dir", "-o", "DIR", DRV_COMPILE | DRV_RUN | DRV_DUMP, set_outdir,
     "where to write: the library (compile), the outputs (run, default .), one file per "
     "snapshot (dump)"},
    {"--name", NULL, "NAME", DRV_COMPILE, set_name,
     "C identifier of the library (default: the model file's stem made into one)"},
    {"--target", NULL, "host|TRIPLE", DRV_COMPILE | DRV_DUMP | DRV_TUNE, set_target,
     "host (default) or a Linux triple of x86_64, aarch64, riscv64 (tune: with --runner)"},
    {"--cpu", NULL, "CPU", DRV_COMPILE | DRV_DUMP | DRV_TUNE, set_cpu,
     "an LLVM CPU of the target (--cpu help lists them)"},
    {"--shape", NULL, "INPUT=D0,D1,...", WITH_MODEL, set_shape,
     "fix an input's dims (repeatable); run takes them from the input files"},
    {"--bind", NULL, "INPUT=FILE|V[,V...]", WITH_MODEL, set_bind,
     "freeze an input to a tensor file or to literal values (repeatable)"},
    {"-O0..-O3", NULL, NULL, DRV_COMPILE | DRV_RUN | DRV_BENCH, set_level,
     "optimization level (default -O2)"},
    {"--weights", NULL, "embedded|external", DRV_COMPILE, set_weights,
     "constants inside the library (default) or in OUTDIR/NAME.weights"},
    {"--threads", NULL, "N", DRV_COMPILE | DRV_RUN | DRV_BENCH | DRV_CALIBRATE | DRV_TUNE, set_threads,
     "threads per run, 0 to 256 (0, the default: KILN_NUM_THREADS or all cores)"},
    {"--passes", NULL, "LIST", DRV_COMPILE | DRV_RUN | DRV_DUMP, set_passes,
     "comma-separated pipeline replacing the default one (kiln dump --help lists passes)"},
    {"--memory-report", NULL, NULL, DRV_COMPILE | DRV_RUN | DRV_DUMP, set_memory_report,
     "print plan-memory's numbers (workspace, lower bound, reuse)"},
    {"--memory-svg", NULL, "FILE", DRV_COMPILE | DRV_RUN | DRV_DUMP, set_memory_svg,
     "draw the memory plan as an SVG picture"},
    {"--emit-llvm", NULL, "FILE", DRV_COMPILE | DRV_RUN, set_emit_llvm,
     "write the optimized LLVM module as text"},
    {"--print-schedule", NULL, NULL, DRV_COMPILE | DRV_RUN | DRV_DUMP, set_print_schedule,
     "print each GEMM kernel's schedule and where it came from (default, given, tuned + gain)"},
    {"--tuning", NULL, "TUNING.yaml", ALL_BUILD, set_tuning,
     "schedules from a kiln tune database; kernels without a record are listed"},
    {"--rotate", NULL, "hadamard", ALL_BUILD, set_rotate,
     "fold Hadamard rotations into a transformer's weights (docs/rotation.md)"},
    {"--rotate-seed", NULL, "N", ALL_BUILD, set_rotate_seed,
     "seed of the residual stream's random signs under --rotate (default 0)"},
    {"--prune", NULL, "magnitude|wanda", ALL_BUILD, set_prune,
     "zero weights of Conv, Gemm and MatMul by |w| or by Wanda's |w| x input norm (--data)"},
    {"--sparsity", NULL, "S", ALL_BUILD, set_sparsity,
     "fraction of each layer's weights --prune zeroes, in [0, 1)"},
    {"--pattern", NULL, "unstructured|N:M|block:RxC", ALL_BUILD, set_pattern,
     "what --prune zeroes: single weights (default), N of every M, or R x C blocks"},
    {"--prune-layers", NULL, "FILE.yaml", ALL_BUILD, set_prune_layers,
     "per-layer sparsity under --prune: a map of node name to sparsity"},
    {"--prune-keep-ends", NULL, NULL, ALL_BUILD, set_prune_keep_ends,
     "--prune leaves the first and last prunable layers dense"},
    {"--prune-group", NULL, "layer|row", ALL_BUILD, set_prune_group,
     "what an unstructured --prune ranks together: the whole layer (default) or each output's row"},
    {"--conv-layout", NULL, "blocked|plain", ALL_BUILD, set_conv_layout,
     "activations of convolution chains in NCHWc blocks with the direct kernel (default), or plain NCHW"},
    {"--sparse", NULL, "on|off", ALL_BUILD, set_sparse,
     "record sparse weights (pruned, or mostly zero in the model) as IR facts (default on)"},
    {"--sparsity-report", NULL, "FILE", ALL_BUILD, set_sparsity_report,
     "per GEMM layer: sparsity pattern, density, kernel chosen and estimated gain (Markdown)"},
    {"--input", NULL, "[NAME=]FILE", DRV_RUN, set_input,
     "an input tensor (.npy or .pb), in input order or by name (repeatable)"},
    {"--expect", NULL, "DIR", DRV_RUN, set_expect,
     "compare the outputs with reference files in DIR (NAME.npy or output_K.pb)"},
    {"--rtol", NULL, "R", DRV_RUN, set_rtol, "relative tolerance of --expect (default 1e-4)"},
    {"--atol", NULL, "A", DRV_RUN, set_atol, "absolute tolerance of --expect (default 1e-5)"},
    {"--print-after", NULL, "NAME", DRV_DUMP, set_print_after,
     "print the IR after each run of pass NAME instead of at the end"},
    {"--print-after-all", NULL, NULL, DRV_DUMP, set_print_after_all,
     "print the IR after every pass"},
    {"--format", NULL, "text|dot", DRV_DUMP, set_format, "text IR (default) or Graphviz"},
    {"--full-constants", NULL, NULL, DRV_DUMP, set_full_constants,
     "print constants in full, not as summaries"},
    {"--hide-constants", NULL, NULL, DRV_DUMP, set_hide_constants,
     "leave constants out of Graphviz pictures"},
    {"--iterations", NULL, "K", DRV_BENCH, set_iterations, "timed runs (default 100)"},
    {"--warmup", NULL, "K", DRV_BENCH, set_warmup, "untimed runs first (default 5)"},
    {"--quantize", NULL, "int8|w8a8|w4a8|w4a16", QUANT_TUNE, set_quantize,
     "int8: Conv, Gemm and MatMul to int8 kernels; w8a8, w4a8, w4a16: the linear layers (Gemm, "
     "MatMul) with int8 or int4 weights and int8 or float activations (all but w4a16 need "
     "--profile or --data)"},
    {"--group-size", NULL, "32|64|128", QUANT, set_group_size,
     "rows of K sharing one weight scale under --quantize w4a8/w4a16 (default 128)"},
    {"--profile", NULL, "PROFILE.yaml", QUANT_TUNE, set_profile,
     "activation ranges written by kiln calibrate"},
    {"--data", NULL, "DIR", QUANT_TUNE | DRV_BENCH | DRV_CALIBRATE, set_data,
     "calibration samples (NNN.npy / NNN.pb, or a folder per sample; --prune wanda too)"},
    {"--method", NULL, "METHOD", QUANT_TUNE | DRV_CALIBRATE, set_method,
     "range from the samples: percentile[:P] (default, P 99.99), minmax, entropy or mse"},
    {"--per-channel", NULL, NULL, QUANT_TUNE, set_per_channel,
     "one weight scale per output channel (default)"},
    {"--per-tensor", NULL, NULL, QUANT_TUNE, set_per_channel, "one weight scale per tensor"},
    {"--keep-float", NULL, "NODE[,NODE...]", QUANT_TUNE, set_keep_float,
     "leave these nodes in float"},
    {"--quant-report", NULL, "FILE.md", QUANT, set_quant_report,
     "per-node SQNR and output error on --data, as Markdown"},
    {"--accuracy-budget", NULL, "X", QUANT, set_accuracy_budget,
     "keep the most sensitive nodes float until the outputs' relative error is <= X"},
    {"--output", "-o", "FILE.yaml", DRV_CALIBRATE | DRV_TUNE, set_profile_output,
     "where kiln calibrate writes the profile, kiln tune its records (added to the file)"},
    {"--runner", NULL, "'CMD'", DRV_TUNE, set_runner,
     "run each candidate, a program for --target, with CMD ({} is its path); read its time"},
    {"--budget", NULL, "SECONDS", DRV_TUNE, set_budget,
     "time kiln tune spends measuring, split by the kernels' FLOPs (default 60)"},
    {"--verbose", "-v", NULL, DRV_COMPILE | DRV_RUN | DRV_DUMP | DRV_BENCH | DRV_CALIBRATE | DRV_TUNE,
     set_verbose,
     "progress notes and the time of each phase"},
    {"--time", NULL, NULL, DRV_COMPILE | DRV_RUN | DRV_DUMP | DRV_BENCH | DRV_CALIBRATE | DRV_TUNE,
     set_time,
     "the time of each phase: import, every pass, lowering, LLVM optimization, emission"},
    {"--help", "-h", NULL, ~0u, set_help, "this help"},
};
enum { NUM_OPTIONS = sizeof options / sizeof options[0] };

static const struct {
  unsigned bit;
  const char *name, *usage, *what;
} commands[] = {
    {DRV_COMPILE, "compile", "MODEL.onnx -o OUTDIR [options]",
     "compile a model to OUTDIR/libNAME.a, NAME.h and kiln.h; link with libNAME.a -lpthread -lm"},
    {DRV_RUN, "run", "MODEL.onnx [--input [NAME=]FILE]... [options]",
     "compile in memory (JIT), run on .npy/.pb inputs, write each output as DIR/NAME.npy"},
    {DRV_DUMP, "dump", "MODEL.onnx|GRAPH.kir [options]",
     "print the IR after the pipeline, or after chosen passes"},
    {DRV_OPS, "ops", "MODEL.onnx [options]",
     "list the op types a model uses, and whether kiln can compile each node"},
    {DRV_INFO, "info", "MODEL.onnx [options]",
     "inputs, outputs, opset, parameters, FLOPs, and the flags the model needs"},
    {DRV_BENCH, "bench", "MODEL.onnx [options]",
     "compile in memory, run on generated inputs, print latency and throughput"},
    {DRV_CALIBRATE, "calibrate", "MODEL.onnx --data DIR -o PROFILE.yaml [options]",
     "run the model on sample inputs and write activation ranges for --quantize int8"},
    {DRV_TUNE, "tune", "MODEL.onnx -o TUNING.yaml [options]",
     "measure kernel schedules on this machine; the fastest go to TUNING.yaml for --tuning"},
};

static const char *command_name(unsigned bit) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].bit == bit) return commands[i].name;
  return "?";
}

static bool is_level(const char *w) {
  return w[0] == '-' && w[1] == 'O' && w[2] >= '0' && w[2] <= '3' && !w[3];
}

/* The row naming word (a name, alias, or "NAME=value" of either). */
static const drv_option *find_option(const char *w, unsigned cmd, const char **inline_value) {
  *inline_value = NULL;
  if (is_level(w))
    for (int i = 0; i < NUM_OPTIONS; i++)
      if (options[i].set == set_level) return &options[i];
  const char *eq = strchr(w, '=');
  size_t len = eq ? (size_t)(eq - w) : strlen(w);
  /* two sweeps: a spelling two rows share (-o: --output-dir, or calibrate's
   * --output) means the row of the current command; only then one of another
   * command's, which drv_parse refuses by name */
  for (int sweep = 0; sweep < 2; sweep++) {
    for (int i = 0; i < NUM_OPTIONS; i++) {
      const drv_option *o = &options[i];
      bool hit = (strlen(o->name) == len && !strncmp(o->name, w, len)) ||
                 (o->alias && strlen(o->alias) == len && !strncmp(o->alias, w, len));
      if (!hit || (!sweep && !(o->cmds & cmd))) continue;
      if (eq && !o->value) return NULL; /* "--print-after-all=x" */
      *inline_value = eq ? eq + 1 : NULL;
      return o;
    }
  }
  return NULL;
}

/* "kiln compile, kiln run" */
static void owners(unsigned cmds, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0] && n < size; i++)
    if (cmds & commands[i].bit)
      n += (size_t)snprintf(buf + n, size - n, "%skiln %s", n ? ", " : "", commands[i].name);
}

void drv_print_help(unsigned cmd, FILE *out) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].bit == cmd)
      fprintf(out, "usage: kiln %s %s\n%s\n\noptions:\n", commands[i].name, commands[i].usage,
              commands[i].what);
  for (int i = 0; i < NUM_OPTIONS; i++) {
    const drv_option *o = &options[i];
    if (!(o->cmds & cmd)) continue;
    char left[64];
    if (o->alias)
      snprintf(left, sizeof left, "%s, %s%s%s", o->alias, o->name, o->value ? " " : "",
               o->value ? o->value : "");
    else
      snprintf(left, sizeof left, "%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
    fprintf(out, "  %-32s %s\n", left, o->help);
  }
}

void drv_args_init(drv_args *a, unsigned cmd) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd;
  kiln_options_init(&a->opt);
  a->rtol = 1e-4;
  a->atol = 1e-5;
  a->iterations = 100;
  a->warmup = 5;
  a->budget = 60;
}

void drv_args_free(kiln_ctx *ctx, drv_args *a) {
  kiln_options *k = &a->opt;
  for (int i = 0; i < k->num_shapes; i++) kiln_free(ctx, (void *)k->shapes[i].input);
  kiln_free(ctx, k->shapes);
  for (int i = 0; i < k->num_binds; i++) kiln_free(ctx, (void *)k->binds[i].input);
  kiln_free(ctx, k->binds);
  kiln_free(ctx, a->inputs);
  k->shapes = NULL;
  k->binds = NULL;
  a->inputs = NULL;
  k->num_shapes = k->num_binds = a->num_inputs = 0;
}

/* The prune options only mean something together: each one without
 * --prune, or --prune without a sparsity to reach, is refused rather
 * than ignored.  N:M fixes the sparsity itself (1 - N/M). */
static int check_prune(kiln_ctx *ctx, drv_args *a, const char *cmd) {
  const kiln_options *k = &a->opt;
  bool pruning = k->prune != KILN_PRUNE_NONE;
  const char *stray = k->sparsity >= 0      ? "--sparsity"
                      : a->pattern_given    ? "--pattern"
                      : k->prune_layers     ? "--prune-layers"
                      : k->prune_keep_ends  ? "--prune-keep-ends"
                      : a->prune_group_given ? "--prune-group"
                                            : NULL;
  if (stray && !pruning) {
    kiln_error(ctx, "%s: %s without --prune magnitude|wanda prunes nothing", cmd, stray);
    return -1;
  }
  if (k->prune != KILN_PRUNE_NONE && k->passes && !strstr(k->passes, "prune")) {
    kiln_error(ctx, "%s: --prune adds to the default pipeline, which --passes replaces; name "
               "prune in the --passes list too", cmd);
    return -1;
  }
  if (k->prune != KILN_PRUNE_NONE && k->pattern != KILN_PATTERN_NM && k->sparsity < 0 &&
      !k->prune_layers) {
    kiln_error(ctx, "%s: --prune needs --sparsity S (or --pattern N:M, or --prune-layers)", cmd);
    return -1;
  }
  if (k->pattern == KILN_PATTERN_NM && k->sparsity >= 0 &&
      fabs(k->sparsity - (1 - (double)k->pattern_n / k->pattern_m)) > 1e-9) {
    kiln_error(ctx, "%s: --pattern %d:%d zeroes %g of the weights; --sparsity %g contradicts it "
               "(leave --sparsity out)", cmd, k->pattern_n, k->pattern_m,
               1 - (double)k->pattern_n / k->pattern_m, k->sparsity);
    return -1;
  }
  if (k->prune == KILN_PRUNE_WANDA && !k->calib_data) {
    kiln_error(ctx, "%s: --prune wanda weighs each weight by its input's norm on sample data: "
               "give --data DIR", cmd);
    return -1;
  }
  if (a->cmd == DRV_BENCH && k->calib_data && k->prune != KILN_PRUNE_WANDA) {
    kiln_error(ctx, "%s: --data is only read by --prune wanda here", cmd);
    return -1;
  }
  return 0;
}

int drv_parse(kiln_ctx *ctx, drv_args *a, int argc, char **argv) {
  const char *cmd = command_name(a->cmd);
  for (int i = 1; i < argc; i++) {
    const char *w = argv[i];
    if (w[0] != '-' || !w[1]) {
      if (a->model) {
        kiln_error(ctx, "%s: unexpected argument '%s' (the model is '%s')", cmd, w, a->model);
        return -1;
      }
      a->model = w;
      continue;
    }
    const char *value;
    const drv_option *o = find_option(w, a->cmd, &value);
    if (!o) {
      kiln_error(ctx, "%s: unknown option '%s' (kiln %s --help lists its options)", cmd, w, cmd);
      return -1;
    }
    if (!(o->cmds & a->cmd)) {
      char who[128];
      owners(o->cmds, who, sizeof who);
      int len = (int)strcspn(w, "=");
      kiln_error(ctx, "%s: %.*s is not an option of kiln %s (it is one of %s)", cmd, len, w, cmd,
                 who);
      return -1;
    }
    if (o->value && !value) {
      if (i + 1 >= argc) {
        kiln_error(ctx, "%s: option %s needs a value (%s)", cmd, w, o->value);
        return -1;
      }
      value = argv[++i];
    }
    if (o->set(ctx, a, w, value) < 0) return -1;
    if (a->help) return 1;
  }
  /* options that would do nothing are refused, not ignored: --passes
   * replaces the pipeline --rotate adds to, and a seed seeds nothing
   * unless fuse-rotations runs (--rotate, or --passes naming it) */
  if (a->opt.rotate != KILN_ROTATE_NONE && a->opt.passes) {
    kiln_error(ctx, "%s: --rotate adds to the default pipeline, which --passes replaces; name "
               "fuse-rotations in the --passes list instead", cmd);
    return -1;
  }
  if (a->rotate_seed_given && a->opt.rotate == KILN_ROTATE_NONE && !a->opt.passes) {
    kiln_error(ctx, "%s: --rotate-seed without --rotate hadamard seeds nothing", cmd);
    return -1;
  }
  if (a->opt.group_size && !(a->opt.quantize && (!strcmp(a->opt.quantize, "w4a8") ||
                                                 !strcmp(a->opt.quantize, "w4a16")))) {
    kiln_error(ctx, "%s: --group-size applies to --quantize w4a8 or w4a16 only", cmd);
    return -1;
  }
  return check_prune(ctx, a, cmd);
}
