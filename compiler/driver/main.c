/*
 * main.c — the `kiln` command line: dispatches to the subcommands.
 *
 *   kiln dump    MODEL.onnx|GRAPH.kir [--passes LIST] [--print-after NAME]
 *                [--print-after-all] [--format text|dot] [--shape IN=D0,D1..]
 *                [--full-constants]
 *   kiln ops     MODEL.onnx
 *   kiln compile MODEL.onnx -o OUTDIR ...   (cmd_compile.c)
 *   kiln run     MODEL.onnx ...             (cmd_run.c)
 *
 * The command line is a stable contract (docs/cli.md); scripts parse the
 * error format "kiln: error: FILE: node 'NAME' (OpType): what".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "onnx/onnx.h"
#include "passes.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: kiln COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  compile MODEL.onnx -o OUTDIR [--name NAME] [--target host|TRIPLE] [--cpu CPU]\n"
          "          [--shape INPUT=D0,D1,...]... [-O0..-O3] [--weights embedded|external]\n"
          "          [--threads N] [--memory-report] [--memory-svg FILE]\n"
          "      compile a model to OUTDIR/libNAME.a, NAME.h and kiln.h\n"
          "  run MODEL.onnx [--input FILE | --input NAME=FILE]... [--output-dir DIR]\n"
          "          [--threads N] [--shape ...]\n"
          "      compile in memory (JIT), run on .npy/.pb inputs, write outputs as .npy\n"
          "  dump MODEL.onnx|GRAPH.kir [--passes LIST] [--print-after NAME]\n"
          "          [--print-after-all] [--format text|dot] [--shape ...] [--full-constants]\n"
          "      print the IR after the pipeline (or after chosen passes)\n"
          "  ops MODEL.onnx\n"
          "      list the op types a model uses, how often, and whether kiln supports them\n"
          "\n"
          "compile, run and dump also take: --rotate hadamard [--rotate-seed N]\n"
          "      fold Hadamard rotations into a transformer's weights (docs/rotation.md)\n"
          "\n"
          "options: --help, --version\n");
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
  if (!strcmp(cmd, "dump")) return kiln_cmd_dump(argc - 1, argv + 1);
  if (!strcmp(cmd, "ops")) return kiln_cmd_ops(argc - 1, argv + 1);
  if (!strcmp(cmd, "compile")) return kiln_cmd_compile(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return kiln_cmd_run(argc - 1, argv + 1);
  fprintf(stderr, "kiln: error: unknown command '%s' (try kiln --help)\n", cmd);
  return 2;
}
