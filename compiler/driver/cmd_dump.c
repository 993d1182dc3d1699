/*
 * cmd_dump.c — `kiln dump`: import, run passes, print the IR.
 *
 * Without --print-after/--print-after-all the final graph is printed once
 * after the pipeline (with the memory plan's numbers once plan-memory has
 * run); with them, only the requested snapshots are printed (by the pass
 * manager), as `opt -print-after` does, each to stdout or, with -o DIR,
 * to a file of its own (DIR/NN-PASS.kir or .dot: Graphviz reads one
 * digraph per file).  `--passes ""` prints the graph as imported.
 *
 * A model whose inputs keep symbolic dims is still dumped: plan-memory,
 * which needs numbers, is skipped with a warning (opt.symbolic_ok).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "driver.h"
#include "memory.h"
#include "passes.h"

static void help(void) {
  drv_print_help(DRV_DUMP, stdout);
  printf("\npasses:\n");
  for (int p = 0; p < kiln_pass_count; p++)
    printf("  %-22s %s\n", kiln_pass_table[p].name, kiln_pass_table[p].doc);
  printf("default pipeline: %s\n", kiln_default_pipeline);
  printf("--rotate hadamard adds %s before %s\n", kiln_rotate_passes, kiln_rotate_before);
}

int kiln_cmd_dump(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_DUMP);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  int rc = drv_parse(&ctx, &a, argc, argv);
  ctx.verbose = a.verbose;
  ctx.timing = a.time;
  if (rc) {
    if (rc > 0) help();
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (!a.model) {
    kiln_error(&ctx, "dump: no model given (usage: kiln dump MODEL.onnx|GRAPH.kir ...)");
    rc = 2;
    goto out;
  }
  /* options that only shape one format are refused with the other, not
   * ignored */
  if (a.opt.hide_constants && !a.opt.dot) {
    kiln_error(&ctx, "dump: --hide-constants shapes Graphviz pictures: add --format dot");
    rc = 2;
    goto out;
  }
  if (a.opt.full_constants && a.opt.dot) {
    kiln_error(&ctx, "dump: --full-constants shapes the text IR; Graphviz pictures show no "
                     "constant values");
    rc = 2;
    goto out;
  }
  bool snapshots = a.opt.print_after || a.opt.print_after_all;
  if (a.outdir && !snapshots) {
    kiln_error(&ctx, "dump: -o DIR writes one file per snapshot of --print-after or "
                     "--print-after-all; without them the graph goes to stdout");
    rc = 2;
    goto out;
  }
  if (a.opt.dot && a.opt.print_after_all && !a.outdir) {
    kiln_error(&ctx, "dump: --format dot --print-after-all makes one picture per pass: give -o DIR "
                     "to write them as DIR/NN-PASS.dot");
    rc = 2;
    goto out;
  }
  if (a.outdir) {
    if (mkdir(a.outdir, 0777) != 0 && errno != EEXIST) {
      kiln_error(&ctx, "cannot create the folder '%s': %s", a.outdir, strerror(errno));
      rc = 1;
      goto out;
    }
    a.opt.print_dir = a.outdir;
  }
  a.opt.symbolic_ok = true;
  ir_graph *g = drv_load(&ctx, a.model, &a.opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  if (kiln_run_passes(&ctx, g, &a.opt) != KILN_OK) {
    rc = 1;
  } else if (!snapshots) {
    if (a.opt.dot) {
      ir_print_dot_options(g, stdout, a.opt.hide_constants);
    } else {
      ir_print_options po = {.full_constants = a.opt.full_constants};
      ir_print(g, stdout, &po);
    }
    /* a planned graph's numbers follow as comments (as after
     * --print-after plan-memory); planned means every activation has an
     * offset, which a dump parsed back also has, so the text round-trips */
    ir_memory_stats st;
    if (ir_memory_stats_compute(g, &st) && st.num_tensors > 0)
      ir_memory_report_prefixed(g, stdout, a.opt.dot ? "// " : "# ");
  } else if (a.outdir) {
    printf("kiln: wrote the snapshots to %s/\n", a.outdir);
  }
  ir_graph_free(g);
out:
  drv_args_free(&ctx, &a);
  return rc;
}
