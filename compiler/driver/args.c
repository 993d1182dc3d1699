/*
 * args.c — what the subcommands share after parsing (cli.c): model
 * loading with --bind, the static-input check, the front half of code
 * generation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "onnx/onnx.h"
#include "onnx/tensor_io.h"
#include "passes.h"

void drv_ctx_init(kiln_ctx *ctx, const drv_args *a) {
  kiln_ctx_init(ctx);
  ctx->file = NULL; /* usage errors name no file */
  ctx->verbose = a && a->verbose;
  ctx->timing = a && a->time;
}

double drv_now(void) { return kiln_clock(); }

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* True if s is a comma-separated list of numbers: `--bind sr=16000`. */
static bool is_literal(const char *s) {
  while (*s) {
    char *end;
    strtod(s, &end);
    if (end == s || (*end && *end != ',')) return false;
    s = *end ? end + 1 : end;
  }
  return true;
}

/* The tensor of a literal --bind: the values in the input's declared
 * dtype, shaped as the declaration says (a scalar for one value and a
 * rank-0 input, a list for a rank-1 one, any declared static shape with
 * that many elements). */
static kiln_status bind_literal(kiln_ctx *ctx, const ir_graph *g, const kiln_bind *b,
                                kiln_host_tensor *t) {
  memset(t, 0, sizeof *t);
  ir_value_id v = IR_NONE;
  for (int i = 0; i < g->num_inputs; i++)
    if (!strcmp(g->values[g->inputs[i]].name, b->input)) v = g->inputs[i];
  if (v < 0) return KILN_OK; /* ir_bind_input names the inputs */
  const ir_value *in = &g->values[v];
  int64_t count = 1;
  for (const char *p = b->path; *p; p++) count += *p == ',';
  ir_dtype dt = in->dtype;
  if (!ir_dtype_valid((int)dt) || ir_dtypes[dt].bits < 8 || dt == IR_STRING) {
    kiln_error(ctx, "--bind %s=%s: input '%s' is %s; literal values need a number dtype (give "
               "a .npy or .pb file)", b->input, b->path, b->input, ir_dtype_name(dt));
    return KILN_ERR_INVALID_ARGUMENT;
  }
  t->dtype = dt;
  if (in->shape.rank >= 0 && ir_shape_is_static(&in->shape) && ir_shape_numel(&in->shape) == count) {
    t->rank = in->shape.rank;
    memcpy(t->dims, in->shape.dims, (size_t)t->rank * sizeof *t->dims);
  } else if (in->shape.rank == 1 || (in->shape.rank < 0 && count > 1)) {
    t->rank = 1;
    t->dims[0] = count;
  } else if (!(in->shape.rank <= 0 && count == 1)) {
    kiln_error(ctx, "--bind %s=%s: %lld values do not fill input '%s' of rank %d", b->input,
               b->path, (long long)count, b->input, in->shape.rank);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  /* an integer input takes integers: "1.5" is a mistake, not 1 */
  for (const char *p = b->path; !ir_dtypes[dt].is_float && *p;) {
    char *end;
    errno = 0;
    strtoll(p, &end, 10);
    if (end == p || (*end && *end != ',') || errno) {
      kiln_error(ctx, "--bind %s=%s: input '%s' is %s, so its values must be integers", b->input,
                 b->path, b->input, ir_dtype_name(dt));
      return KILN_ERR_INVALID_ARGUMENT;
    }
    p = *end ? end + 1 : end;
  }
  t->nbytes = ir_dtype_bytes(dt, count);
  t->data = kiln_calloc(ctx, (size_t)t->nbytes + 1, 1);
  const char *p = b->path;
  for (int64_t i = 0; i < count; i++) {
    char *end;
    double d = strtod(p, &end);
    long long ll = strtoll(p, NULL, 10);
    unsigned long long ull = strtoull(p, NULL, 10);
    p = *end ? end + 1 : end;
    void *at = (char *)t->data + i * (ir_dtypes[dt].bits / 8);
    switch (dt) {
    case IR_F32: *(float *)at = (float)d; break;
    case IR_F64: *(double *)at = d; break;
    case IR_BOOL: *(uint8_t *)at = d != 0; break;
    case IR_I8: *(int8_t *)at = (int8_t)ll; break;
    case IR_U8: *(uint8_t *)at = (uint8_t)ll; break;
    case IR_I16: *(int16_t *)at = (int16_t)ll; break;
    case IR_U16: *(uint16_t *)at = (uint16_t)ll; break;
    case IR_I32: *(int32_t *)at = (int32_t)ll; break;
    case IR_U32: *(uint32_t *)at = (uint32_t)ll; break;
    case IR_I64: *(int64_t *)at = (int64_t)ll; break;
    case IR_U64: *(uint64_t *)at = (uint64_t)ull; break;
    default:
      kiln_error(ctx, "--bind %s=%s: literal values of dtype %s are not supported (give a .npy "
                 "file)", b->input, b->path, ir_dtype_name(dt));
      kiln_tensor_free(ctx, t);
      return KILN_ERR_INVALID_ARGUMENT;
    }
  }
  return KILN_OK;
}

/* --bind: each named input becomes a constant holding its file's tensor
 * or the literal values.  A word that reads as numbers is a literal; to
 * bind a file named like a number, write ./16000. */
static ir_graph *apply_binds(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt) {
  const char *model = ctx->file;
  for (int i = 0; g && i < opt->num_binds; i++) {
    kiln_host_tensor t;
    kiln_status st = is_literal(opt->binds[i].path) ? bind_literal(ctx, g, &opt->binds[i], &t)
                                                    : kiln_tensor_read(ctx, opt->binds[i].path, &t);
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
  double t0 = kiln_clock();
  if (!ends_with(path, ".kir")) {
    ir_graph *g = onnx_import_file(ctx, path, opt);
    kiln_time(ctx, "import", kiln_clock() - t0);
    return apply_binds(ctx, g, opt);
  }
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

bool drv_inputs_static(kiln_ctx *ctx, const ir_graph *g) { return kiln_inputs_static(ctx, g, true); }

kiln_status drv_prepare_for_codegen(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt) {
  /* the default pipeline ends with plan-memory, which checks the inputs
   * itself; a --passes list is the user's whole pipeline, and code
   * generation still needs static inputs */
  if (kiln_run_passes(ctx, g, opt) != KILN_OK) return KILN_ERR_INVALID_MODEL;
  if (!drv_inputs_static(ctx, g)) return KILN_ERR_INVALID_ARGUMENT;
  return KILN_OK;
}
