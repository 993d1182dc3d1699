/*
 * driver.h — subcommands of the `kiln` tool and the option parsing they
 * share.  Each kiln_cmd_* takes argv starting at the command name and
 * returns the process exit status (0 ok, 1 error in the input, 2 usage).
 */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include <stdbool.h>

#include "ir.h"
#include "options.h"

#define KILN_VERSION "0.1.0"
#define KILN_LLVM_VERSION "19"

int kiln_cmd_dump(int argc, char **argv);
int kiln_cmd_ops(int argc, char **argv);
int kiln_cmd_compile(int argc, char **argv);
int kiln_cmd_run(int argc, char **argv);
int kiln_cmd_calibrate(int argc, char **argv);

/* Parses one option shared by several commands at argv[*i] (--shape,
 * --passes, --print-after, --print-after-all, --format, --threads, -O*,
 * --target, --cpu, --full-constants), advancing *i past its value.
 * Returns 1 if consumed, 0 if not an option it knows, -1 on a bad value
 * (already reported). */
int drv_parse_common(kiln_ctx *ctx, kiln_options *opt, int argc, char **argv, int *i);
/* Frees what drv_parse_common allocated in opt (the --shape list). */
void drv_options_free(kiln_ctx *ctx, kiln_options *opt);
/* Every graph input must have static dims by code generation; reports
 * each that does not (naming its symbol and the --shape fix). */
bool drv_inputs_static(kiln_ctx *ctx, const ir_graph *g);
/* What compile and run do before code generation: the pipeline (the
 * default one or --passes), the static-input check, then plan-memory
 * unless --passes gave the whole pipeline. */
kiln_status drv_prepare_for_codegen(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt);
/* Loads a model: ONNX by default, the text IR for files ending in .kir. */
ir_graph *drv_load(kiln_ctx *ctx, const char *path, const kiln_options *opt);

#endif
