/*
 * cmd_calibrate.c — `kiln calibrate`: activation ranges for quantization.
 *
 *   kiln calibrate MODEL.onnx --data DIR -o PROFILE.yaml
 *                  [--method minmax|percentile[:P]|entropy|mse] [--shape ...] [--threads N]
 *
 * Loads the model, runs the default pipeline (so the tensors named in the
 * profile are those `--quantize int8 --profile` will see after the same
 * pipeline), then the calibrate pass (passes/calibrate.c) on the samples
 * of DIR, which writes the profile.  Input dims the model leaves symbolic
 * and --shape does not fix are taken from the first sample, as `kiln run`
 * takes them from its input files.
 */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "onnx/samples.h"
#include "passes.h"

static const char usage_text[] =
    "usage: kiln calibrate MODEL.onnx --data DIR -o PROFILE.yaml\n"
    "                      [--method minmax|percentile[:P]|entropy|mse] [--shape INPUT=D0,...]...\n"
    "                      [--threads N]\n"
    "runs the model on every sample of DIR (NNN.npy / NNN.pb, or a folder per sample with\n"
    "NAME.npy or input_K.pb per input) and writes each quantizable tensor's range to PROFILE.yaml\n";

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
  kiln_ctx ctx;
  kiln_ctx_init(&ctx);
  kiln_options opt;
  kiln_options_init(&opt);
  const char *path = NULL;
  int rc = 0;
  ir_graph *g = NULL;
  for (int i = 1; i < argc; i++) {
    int r = drv_parse_common(&ctx, &opt, argc, argv, &i);
    if (r < 0) {
      rc = 2;
      goto out;
    }
    if (r) continue;
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      goto out;
    }
    if (!strcmp(a, "-o")) {
      if (i + 1 >= argc) {
        kiln_error(&ctx, "option -o needs a value");
        rc = 2;
        goto out;
      }
      opt.calib_output = argv[++i];
      continue;
    }
    if (a[0] == '-' || path) {
      kiln_error(&ctx, "calibrate: unexpected argument '%s'", a);
      rc = 2;
      goto out;
    }
    path = a;
  }
  if (!path || !opt.calib_data || !opt.calib_output) {
    kiln_error(&ctx, "calibrate: %s (usage: kiln calibrate MODEL.onnx --data DIR -o PROFILE.yaml)",
               !path ? "no model given" : !opt.calib_data ? "no samples given (--data DIR)"
                                                          : "no output given (-o PROFILE.yaml)");
    rc = 2;
    goto out;
  }
  g = drv_load(&ctx, path, &opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  if (shapes_from_first_sample(&ctx, &opt, g, opt.calib_data) != KILN_OK ||
      kiln_run_passes(&ctx, g, &opt) != KILN_OK || !drv_inputs_static(&ctx, g) ||
      pass_calibrate(&ctx, g, &opt) != KILN_OK)
    rc = 1;
out:
  ir_graph_free(g);
  drv_options_free(&ctx, &opt);
  return rc;
}
