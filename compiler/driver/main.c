/*
 * main.c — the `kiln` command line: dispatches to the subcommands.
 *
 *   kiln compile MODEL.onnx -o OUTDIR ...   (cmd_compile.c)
 *   kiln run     MODEL.onnx ...             (cmd_run.c)
 *   kiln dump    MODEL.onnx|GRAPH.kir ...   (cmd_dump.c)
 *   kiln ops     MODEL.onnx                 (cmd_ops.c)
 *   kiln info    MODEL.onnx                 (cmd_info.c)
 *   kiln bench   MODEL.onnx ...             (cmd_bench.c)
 *
 * Every command's options are rows of one table (cli.c); `kiln CMD
 * --help` prints them.  The command line is a stable contract
 * (docs/cli.md); scripts parse the error format
 * "kiln: error: FILE: node 'NAME' (OpType): what".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} commands[] = {
    {"compile", kiln_cmd_compile, "compile a model to a static library and C header"},
    {"run", kiln_cmd_run, "compile in memory and run on .npy/.pb inputs"},
    {"dump", kiln_cmd_dump, "print the IR after the pipeline or after chosen passes"},
    {"ops", kiln_cmd_ops, "list a model's op types and whether kiln can compile them"},
    {"info", kiln_cmd_info, "a model's inputs, outputs, size, FLOPs and the flags it needs"},
    {"bench", kiln_cmd_bench, "latency and throughput on generated inputs"},
    {"calibrate", kiln_cmd_calibrate, "activation ranges from sample inputs, for --quantize int8"},
    {"tune", kiln_cmd_tune, "measure kernel schedules on this machine into a tuning file"},
};
enum { NUM_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
  fprintf(out, "usage: kiln COMMAND [ARGS]   (kiln COMMAND --help for its options)\n\ncommands:\n");
  for (int i = 0; i < NUM_COMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].what);
  fprintf(out, "\noptions: --help, --version\ndocumentation: docs/cli.md\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("kiln %s (LLVM %s)\n", KILN_VERSION, KILN_LLVM_VERSION);
    return 0;
  }
  for (int i = 0; i < NUM_COMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "kiln: error: unknown command '%s' (kiln --help lists them)\n", cmd);
  return 2;
}
