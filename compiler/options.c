/*
 * options.c — the defaults behind kiln_options.
 *
 * The CLI documents these defaults (docs/cli.md), and a library user who
 * only calls kiln_options_init gets exactly what `kiln compile` does with
 * no flags: -O2 for the host CPU, weights embedded in the object, the
 * thread count chosen at run time and the default pass pipeline.
 */
#include "options.h"

#include <string.h>

void kiln_options_init(kiln_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->opt_level = 2;
  opt->target = "host";
  opt->cpu = NULL;           /* host CPU for "host", generic otherwise */
  opt->threads = 0;          /* 0: KILN_NUM_THREADS or all cores at run time */
  opt->weights = KILN_WEIGHTS_EMBEDDED;
  opt->passes = NULL;        /* kiln_default_pipeline */
  opt->print_stream = NULL;  /* stdout */
  opt->calib_method = KILN_CALIB_PERCENTILE;
  opt->calib_percentile = 99.99;
  opt->sparsity = -1;        /* not given */
}
