/*
 * cmd_compile.c — `kiln compile`: an ONNX model to a static library.
 *
 *   kiln compile MODEL.onnx -o OUTDIR [options]   (kiln compile --help)
 *
 * writes OUTDIR/libNAME.a, OUTDIR/NAME.h and OUTDIR/kiln.h (docs/abi.md), and
 * with --weights external OUTDIR/NAME.weights, the constants the library
 * then maps at run time instead of carrying them.
 * The steps are the same as every other command's front half — load,
 * run the default pass pipeline (--passes may replace it) — then the code
 * generator's library writer (compiler/codegen/library.c).
 *
 * NAME defaults to the model file's stem made into a C identifier
 * ("resnet-18.onnx" -> resnet_18).  Every input dim must be a number by
 * the time code is generated: symbolic dims ("batch") need --shape.
 * On success it prints two lines: the NAME chosen and the files written,
 * then the workspace and weight bytes.
 */
#include <stdio.h>
#include <string.h>

#include "cg.h"
#include "driver.h"
#include "passes.h"

static bool is_c_identifier(const char *s) {
  char buf[128];
  if (strlen(s) >= 64) return false;
  cg_c_identifier(s, buf, sizeof buf);
  return !strcmp(buf, s);
}

/* "dir/resnet-18.onnx" -> "resnet_18". */
static void default_name(const char *path, char *out, size_t size) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char stem[128];
  snprintf(stem, sizeof stem, "%s", base);
  char *dot = strrchr(stem, '.');
  if (dot && dot != stem) *dot = 0;
  cg_c_identifier(stem, out, size);
}

/* Bytes of the constants the compiled graph reads: the weights a library
 * with embedded weights carries (before packing). */
static int64_t constant_bytes(const ir_graph *g) {
  int64_t sum = 0;
  for (ir_value_id v = 0; v < g->num_values; v++)
    if (!g->values[v].dead && g->values[v].storage == IR_STORAGE_CONST) sum += g->values[v].nbytes;
  return sum;
}

/* "1.5 MiB (1572864 bytes)" */
void drv_bytes(int64_t n, char *buf, size_t size) {
  if (n >= (1 << 20))
    snprintf(buf, size, "%.1f MiB (%lld bytes)", (double)n / (1 << 20), (long long)n);
  else if (n >= 1024)
    snprintf(buf, size, "%.1f KiB (%lld bytes)", (double)n / 1024, (long long)n);
  else
    snprintf(buf, size, "%lld bytes", (long long)n);
}

int kiln_cmd_compile(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_COMPILE);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  int rc = drv_parse(&ctx, &a, argc, argv);
  ctx.verbose = a.verbose;
  ctx.timing = a.time;
  if (rc) {
    if (rc > 0) drv_print_help(DRV_COMPILE, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (a.opt.cpu && !strcmp(a.opt.cpu, "help")) {
    rc = cg_list_cpus(&ctx, a.opt.target, stdout) == KILN_OK ? 0 : 1;
    goto out;
  }
  if (!a.model || !a.outdir) {
    kiln_error(&ctx, "compile: %s (usage: kiln compile MODEL.onnx -o OUTDIR ...)",
               a.model ? "no output directory given (-o OUTDIR)" : "no model given");
    rc = 2;
    goto out;
  }
  char name[80];
  if (a.name) {
    if (!is_c_identifier(a.name)) {
      kiln_error(&ctx, "--name '%s' is not a C identifier (letters, digits, '_'; under 64 chars)",
                 a.name);
      rc = 2;
      goto out;
    }
    snprintf(name, sizeof name, "%s", a.name);
  } else {
    default_name(a.model, name, sizeof name);
  }
  /* a bad --target or --cpu is reported before the model is read */
  if (cg_check_target(&ctx, a.opt.target, a.opt.cpu) != KILN_OK) {
    rc = 1;
    goto out;
  }
  double t0 = drv_now();
  ir_graph *g = drv_load(&ctx, a.model, &a.opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  cg_library_info info = {0};
  if (drv_prepare_for_codegen(&ctx, g, &a.opt) != KILN_OK ||
      cg_write_library_info(&ctx, g, &a.opt, name, a.outdir, &info) != KILN_OK) {
    rc = 1;
  } else {
    char ws[64], wb[64];
    drv_bytes(info.workspace_size, ws, sizeof ws);
    drv_bytes(a.opt.weights == KILN_WEIGHTS_EXTERNAL ? info.weights_file_size : constant_bytes(g),
              wb, sizeof wb);
    /* say so when the file's stem had to change to become the NAME */
    char stem[128];
    const char *base = strrchr(a.model, '/') ? strrchr(a.model, '/') + 1 : a.model;
    snprintf(stem, sizeof stem, "%s", base);
    if (strrchr(stem, '.') && strrchr(stem, '.') != stem) *strrchr(stem, '.') = 0;
    bool renamed = !a.name && strcmp(stem, name);
    printf("kiln: compiled %s as '%s'%s: %s/lib%s.a, %s/%s.h, %s/kiln.h", a.model, name,
           renamed ? " (its file name made a C identifier; --name sets another)" : "", a.outdir,
           name, a.outdir, name, a.outdir);
    if (a.opt.weights == KILN_WEIGHTS_EXTERNAL) printf(", %s/%s.weights", a.outdir, name);
    printf("\nkiln: workspace %s, weights %s%s, %.2f s\n", ws, wb,
           a.opt.weights == KILN_WEIGHTS_EXTERNAL ? " in the weights file" : " embedded",
           drv_now() - t0);
  }
  ir_graph_free(g);
out:
  drv_args_free(&ctx, &a);
  return rc;
}
