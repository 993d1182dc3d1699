/*
 * args.c — option parsing shared by the subcommands, and model loading.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "onnx/onnx.h"
#include "onnx/tensor_io.h"
#include "passes.h"

/* "INPUT=D0,D1,..." -> a shape override.  The input name may itself hold
 * '=' characters only if quoted by the shell as one word; the last '='
 * separates name from dims. */
static int parse_shape(kiln_ctx *ctx, kiln_options *opt, const char *spec) {
  const char *eq = strrchr(spec, '=');
  if (!eq || eq == spec) {
    kiln_error(ctx, "--shape '%s': expected INPUT=D0,D1,...", spec);
    return -1;
  }
  kiln_shape_override o = {0};
  o.input = kiln_strdup(ctx, spec);
  ((char *)o.input)[eq - spec] = 0;
  const char *p = eq + 1;
  while (*p) {
    if (o.rank == KILN_MAX_RANK) {
      kiln_error(ctx, "--shape '%s': more than %d dims", spec, KILN_MAX_RANK);
      kiln_free(ctx, (void *)o.input);
      return -1;
    }
    char *end;
    errno = 0;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || errno || (*end && *end != ',')) {
      kiln_error(ctx, "--shape '%s': dims must be non-negative integers", spec);
      kiln_free(ctx, (void *)o.input);
      return -1;
    }
    o.dims[o.rank++] = d;
    p = *end ? end + 1 : end;
  }
  opt->shapes = kiln_realloc(ctx, opt->shapes, (size_t)(opt->num_shapes + 1) * sizeof o);
  opt->shapes[opt->num_shapes++] = o;
  return 1;
}

static int need_value(kiln_ctx *ctx, int argc, char **argv, int i) {
  if (i + 1 >= argc) {
    kiln_error(ctx, "option %s needs a value", argv[i]);
    return 0;
  }
  return 1;
}

int drv_parse_common(kiln_ctx *ctx, kiln_options *opt, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--shape")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    return parse_shape(ctx, opt, argv[++*i]);
  }
  if (!strncmp(a, "--shape=", 8)) return parse_shape(ctx, opt, a + 8);
  if (!strcmp(a, "--bind")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    const char *spec = argv[++*i], *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
      kiln_error(ctx, "--bind '%s': expected INPUT=FILE", spec);
      return -1;
    }
    kiln_bind b = {.input = kiln_strdup(ctx, spec), .path = eq + 1};
    ((char *)b.input)[eq - spec] = 0;
    opt->binds = kiln_realloc(ctx, opt->binds, (size_t)(opt->num_binds + 1) * sizeof b);
    opt->binds[opt->num_binds++] = b;
    return 1;
  }
  if (!strcmp(a, "--passes")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    opt->passes = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--print-after")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    opt->print_after = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--print-after-all")) {
    opt->print_after_all = true;
    return 1;
  }
  if (!strcmp(a, "--memory-report")) {
    opt->memory_report = true;
    return 1;
  }
  if (!strcmp(a, "--memory-svg")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    opt->memory_svg = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--rotate")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    if (strcmp(argv[++*i], "hadamard")) {
      kiln_error(ctx, "--rotate '%s': expected hadamard", argv[*i]);
      return -1;
    }
    opt->rotate = KILN_ROTATE_HADAMARD;
    return 1;
  }
  if (!strcmp(a, "--rotate-seed")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(argv[++*i], &end, 10);
    if (*end || errno || argv[*i][0] == '-') {
      kiln_error(ctx, "--rotate-seed '%s': expected a non-negative integer", argv[*i]);
      return -1;
    }
    opt->rotate_seed = seed;
    return 1;
  }
  if (!strcmp(a, "--full-constants")) {
    opt->full_constants = true;
    return 1;
  }
  if (!strcmp(a, "--format")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    const char *f = argv[++*i];
    if (strcmp(f, "text") && strcmp(f, "dot")) {
      kiln_error(ctx, "--format '%s': expected text or dot", f);
      return -1;
    }
    opt->dot = !strcmp(f, "dot");
    return 1;
  }
  if (!strcmp(a, "--threads")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    char *end;
    long t = strtol(argv[++*i], &end, 10);
    if (*end || t < 0 || t > 4096) {
      kiln_error(ctx, "--threads '%s': expected a count from 0 to 4096", argv[*i]);
      return -1;
    }
    opt->threads = (int)t;
    return 1;
  }
  if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
    opt->opt_level = a[2] - '0';
    return 1;
  }
  if (!strcmp(a, "--target")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    opt->target = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--cpu")) {
    if (!need_value(ctx, argc, argv, *i)) return -1;
    opt->cpu = argv[++*i];
    return 1;
  }
  return 0;
}

void drv_options_free(kiln_ctx *ctx, kiln_options *opt) {
  for (int i = 0; i < opt->num_shapes; i++) kiln_free(ctx, (void *)opt->shapes[i].input);
  kiln_free(ctx, opt->shapes);
  opt->shapes = NULL;
  opt->num_shapes = 0;
  for (int i = 0; i < opt->num_binds; i++) kiln_free(ctx, (void *)opt->binds[i].input);
  kiln_free(ctx, opt->binds);
  opt->binds = NULL;
  opt->num_binds = 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* --bind: each named input becomes a constant holding its file's tensor. */
static ir_graph *apply_binds(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt) {
  const char *model = ctx->file;
  for (int i = 0; g && i < opt->num_binds; i++) {
    kiln_host_tensor t;
    kiln_status st = kiln_tensor_read(ctx, opt->binds[i].path, &t);
    ctx->file = model;
    if (!st) {
      st = ir_bind_input(g, opt->binds[i].input, t.dtype, t.rank, t.dims, t.data, t.nbytes);
      kiln_tensor_free(ctx, &t);
    }
    if (st) {
      ir_graph_free(g);
      g = NULL;
    }
  }
  return g;
}

ir_graph *drv_load(kiln_ctx *ctx, const char *path, const kiln_options *opt) {
  ctx->file = path;
  if (!ends_with(path, ".kir")) return apply_binds(ctx, onnx_import_file(ctx, path, opt), opt);
  FILE *f = fopen(path, "rb");
  if (!f) {
    kiln_error(ctx, "cannot open: %s", strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = kiln_malloc(ctx, cap);
  size_t got;
  while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) buf = kiln_realloc(ctx, buf, cap *= 2);
  }
  fclose(f);
  ir_graph *g = ir_parse(ctx, buf, len, path);
  kiln_free(ctx, buf);
  return apply_binds(ctx, g, opt);
}

/* Every graph input must have numbers for dims; names the first symbol. */
bool drv_inputs_static(kiln_ctx *ctx, const ir_graph *g) {
  bool ok = true;
  for (int i = 0; i < g->num_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    for (int d = 0; d < v->shape.rank; d++) {
      int64_t dim = v->shape.dims[d];
      if (ir_dim_is_static(dim)) continue;
      kiln_error(ctx, "input '%s' has a symbolic dim%s%s%s: fix it with --shape %s=D0,D1,...",
                 v->name, ir_dim_is_sym(dim) ? " '" : "",
                 ir_dim_is_sym(dim) ? g->syms[ir_dim_sym(dim)] : "", ir_dim_is_sym(dim) ? "'" : "",
                 v->name);
      ok = false;
      break;
    }
    if (v->shape.rank < 0) {
      kiln_error(ctx, "input '%s' has an unknown rank: give its shape with --shape", v->name);
      ok = false;
    }
  }
  return ok;
}

kiln_status drv_prepare_for_codegen(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt) {
  if (kiln_run_passes(ctx, g, opt) != KILN_OK) return KILN_ERR_INVALID_MODEL;
  if (!drv_inputs_static(ctx, g)) return KILN_ERR_INVALID_ARGUMENT;
  /* a --passes list is the user's whole pipeline; otherwise the planner
   * runs last, once every shape is static */
  if (!opt->passes) return pass_plan_memory(ctx, g, opt);
  return KILN_OK;
}
