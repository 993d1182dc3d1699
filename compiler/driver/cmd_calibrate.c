/*
 * cmd_calibrate.c — `kiln calibrate`: activation ranges for quantization.
 *
 *   kiln calibrate MODEL.onnx --data DIR -o PROFILE.yaml
 *                  [--method minmax|percentile[:P]|entropy|mse] [--shape ...] [--threads N]
 *                  (options: compiler/driver/cli.c)
 *
 * Loads the model, runs the default pipeline up to fusion
 * (kiln_calib_pipeline: the tensors named in the profile are those
 * `--quantize int8 --profile` sees, since quantize runs at that point too),
 * then the calibrate pass (passes/calibrate.c) on the samples of DIR,
 * which writes the profile.  Input dims the model leaves symbolic
 * and --shape does not fix are taken from the first sample, as `kiln run`
 * takes them from its input files.
 */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "onnx/samples.h"
#include "passes.h"

/* --shape overrides from sample 0 for inputs with non-static dims. */
static kiln_status shapes_from_first_sample(kiln_ctx *ctx, kiln_options *opt, const ir_graph *g,
                                            const char *dir) {
  bool all_static = true;
  for (int i = 0; i < g->num_inputs; i++) all_static &= ir_shape_is_static(&g->values[g->inputs[i]].shape);
  if (all_static) return KILN_OK;
  kiln_samples s;
  kiln_status st = kiln_samples_open(ctx, dir, g, &s);
  if (st) return st;
  kiln_host_tensor *t = kiln_calloc(ctx, (size_t)g->num_inputs + 1, sizeof *t);
  st = kiln_samples_load(&s, 0, t);
  for (int i = 0; !st && i < g->num_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    bool given = false;
    for (int k = 0; k < opt->num_shapes; k++) given |= !strcmp(opt->shapes[k].input, v->name);
    if (given || ir_shape_is_static(&v->shape)) continue;
    kiln_shape_override o = {.input = kiln_strdup(ctx, v->name), .rank = t[i].rank};
    memcpy(o.dims, t[i].dims, sizeof o.dims);
    opt->shapes = kiln_realloc(ctx, opt->shapes, (size_t)(opt->num_shapes + 1) * sizeof o);
    opt->shapes[opt->num_shapes++] = o;
  }
  for (int i = 0; i < g->num_inputs; i++) kiln_tensor_free(ctx, &t[i]);
  kiln_free(ctx, t);
  kiln_samples_close(&s);
  return st;
}

int kiln_cmd_calibrate(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_CALIBRATE);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  ir_graph *g = NULL;
  int rc = drv_parse(&ctx, &a, argc, argv);
  if (rc) {
    if (rc > 0) drv_print_help(DRV_CALIBRATE, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  drv_ctx_init(&ctx, &a);
  kiln_options *opt = &a.opt;
  if (!a.model || !opt->calib_data || !opt->calib_output) {
    kiln_error(&ctx, "calibrate: %s (usage: kiln calibrate MODEL.onnx --data DIR -o PROFILE.yaml)",
               !a.model           ? "no model given"
               : !opt->calib_data ? "no samples given (--data DIR)"
                                  : "no output given (-o PROFILE.yaml)");
    rc = 2;
    goto out;
  }
  g = drv_load(&ctx, a.model, opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  /* the pipeline up to (not including) fusion: the tensors recorded are
   * the ones `quantize` sees when it runs there, before fuse-ops folds a
   * Conv's output into its Relu */
  if (!opt->passes) opt->passes = kiln_calib_pipeline;
  if (shapes_from_first_sample(&ctx, opt, g, opt->calib_data) != KILN_OK ||
      kiln_run_passes(&ctx, g, opt) != KILN_OK || !drv_inputs_static(&ctx, g) ||
      pass_calibrate(&ctx, g, opt) != KILN_OK)
    rc = 1;
out:
  ir_graph_free(g);
  drv_args_free(&ctx, &a);
  return rc;
}
