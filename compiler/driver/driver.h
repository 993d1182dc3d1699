/*
 * driver.h — subcommands of the `kiln` tool and the option parsing they
 * share.  Each kiln_cmd_* takes argv starting at the command name and
 * returns the process exit status (0 ok, 1 error in the input, 2 usage).
 */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include <stdbool.h>
#include <stdio.h>

#include "ir.h"
#include "options.h"

#define KILN_VERSION "0.1.0"
#define KILN_LLVM_VERSION "19"

int kiln_cmd_dump(int argc, char **argv);
int kiln_cmd_ops(int argc, char **argv);
int kiln_cmd_compile(int argc, char **argv);
int kiln_cmd_run(int argc, char **argv);
int kiln_cmd_calibrate(int argc, char **argv);
int kiln_cmd_info(int argc, char **argv);
int kiln_cmd_bench(int argc, char **argv);
int kiln_cmd_tune(int argc, char **argv);

/* The subcommands, as bits: an option row (cli.c) says which take it. */
enum {
  DRV_COMPILE = 1 << 0,
  DRV_RUN = 1 << 1,
  DRV_DUMP = 1 << 2,
  DRV_OPS = 1 << 3,
  DRV_INFO = 1 << 4,
  DRV_BENCH = 1 << 5,
  DRV_CALIBRATE = 1 << 6,
  DRV_TUNE = 1 << 7,
};

/* Everything a command line said, parsed by drv_parse. */
typedef struct drv_args {
  unsigned cmd;          /* the DRV_* bit of the command */
  kiln_options opt;      /* what the passes and the code generator read */
  const char *model;     /* the one positional word */
  const char *outdir;    /* -o/--output-dir, NULL if not given */
  const char *name;      /* compile --name */
  const char **inputs;   /* run --input words, in order */
  int num_inputs;
  const char *expect;    /* run --expect DIR */
  double rtol, atol;     /* its tolerances */
  bool rtol_given, atol_given;
  int iterations, warmup;/* bench */
  const char *tune_output;/* tune -o TUNING.yaml */
  double budget;         /* tune --budget SECONDS (default 60) */
  const char *runner;    /* tune --runner 'CMD' */
  bool pattern_given;    /* --pattern (refused without --prune) */
  bool prune_group_given; /* --prune-group (refused without --prune) */
  bool rotate_seed_given;/* --rotate-seed (refused without --rotate or --passes) */
  bool verbose;          /* -v: notes and times */
  bool time;             /* --time: the time of each phase */
  bool help;             /* --help was given (and printed) */
} drv_args;

void drv_args_init(drv_args *a, unsigned cmd);
void drv_args_free(kiln_ctx *ctx, drv_args *a);
/* Parses argv (argv[0] is the command name) against the option table:
 * 0 ok, 1 --help was asked for (print it with drv_print_help), -1 a
 * usage error (reported; exit 2). */
int drv_parse(kiln_ctx *ctx, drv_args *a, int argc, char **argv);
/* `kiln CMD --help`: usage line, what it does, every option it takes. */
void drv_print_help(unsigned cmd, FILE *out);

/* A command's context: diagnostics without a file name until the model is
 * known (usage errors read "kiln: error: what"), timing as asked. */
void drv_ctx_init(kiln_ctx *ctx, const drv_args *a);
/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
double drv_now(void);
/* "1.5 MiB (1572864 bytes)" into buf (cmd_compile.c). */
void drv_bytes(int64_t n, char *buf, size_t size);

/* Every graph input must have static dims by code generation; reports
 * each that does not (naming its symbol and the --shape fix). */
bool drv_inputs_static(kiln_ctx *ctx, const ir_graph *g);
/* What compile, run and bench do before code generation: the pipeline
 * (the default one, plan-memory last, or --passes), then the static-input
 * check (kiln_inputs_static). */
kiln_status drv_prepare_for_codegen(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt);
/* Loads a model: ONNX by default, the text IR for files ending in .kir. */
ir_graph *drv_load(kiln_ctx *ctx, const char *path, const kiln_options *opt);

#endif
