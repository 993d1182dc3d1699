/*
 * cmd_run.c — `kiln run`: compile in memory and run on tensor files.
 *
 *   kiln run MODEL.onnx [--input [NAME=]FILE]... [-o DIR] [options]   (kiln run --help)
 *
 * The model goes through the same passes and the same LLVM module as
 * `kiln compile`, then ORC LLJIT instead of the object writer, so what
 * `run` computes is bit for bit what the linked library computes.
 *
 * Inputs are .npy or ONNX TensorProto .pb files, given in the model's
 * input order or as NAME=FILE.  A symbolic input dim that --shape does not
 * fix is taken from the input file, the way a user expects `run` to work
 * on whatever tensor they hand it.  Every output is written as
 * DIR/<output name made safe for a file name>.npy (DIR: -o, default the
 * current folder), and one line says where they went.
 *
 * --expect DIR compares each output with a reference file in DIR
 * (NAME.npy, NAME.pb or output_K.pb as in the ONNX test data sets):
 * element-wise |got - want| <= atol + rtol * |want|, reporting for each
 * output that differs how many elements do, the largest difference and
 * where.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg.h"
#include "driver.h"
#include "onnx/tensor_io.h"
#include "passes.h"

/* "onnx::Add_3/out" -> "onnx__Add_3_out": letters, digits, '.', '-', '_'. */
static void safe_file_name(const char *in, char *out, size_t size) {
  size_t k = 0;
  for (; *in && k + 1 < size; in++) {
    char c = *in;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    out[k++] = ok ? c : '_';
  }
  if (k == 0 || out[0] == '.') out[k ? 0 : k++] = '_';
  out[k] = 0;
}

typedef struct input_spec {
  const char *name; /* NULL: positional */
  const char *path;
  kiln_host_tensor t;
} input_spec;

/* "x (f32[1,3,224,224]), mask (i64[1,N])" into buf. */
static void list_inputs(const ir_graph *g, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (int i = 0; i < g->num_inputs && n < size; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    n += (size_t)snprintf(buf + n, size - n, "%s%s (%s[", i ? ", " : "", v->name,
                          ir_dtype_name(v->dtype));
    for (int d = 0; d < v->shape.rank && n < size; d++) {
      int64_t dim = v->shape.dims[d];
      if (ir_dim_is_static(dim))
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? "," : "", (long long)dim);
      else
        n += (size_t)snprintf(buf + n, size - n, "%s%s", d ? "," : "",
                              ir_dim_is_sym(dim) ? g->syms[ir_dim_sym(dim)] : "?");
    }
    if (n < size) n += (size_t)snprintf(buf + n, size - n, "])");
  }
  if (!g->num_inputs) snprintf(buf, size, "none");
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Splits NAME=FILE.  A prefix naming one of the graph's inputs is a name;
 * a word that is an existing file is a path (file names may hold '=');
 * anything else names an input the model does not have. */
static bool resolve_name(kiln_ctx *ctx, const ir_graph *g, input_spec *in, char *word) {
  char *eq = strchr(word, '=');
  in->name = NULL;
  in->path = word;
  if (!eq) return true;
  *eq = 0;
  for (int i = 0; i < g->num_inputs; i++)
    if (!strcmp(g->values[g->inputs[i]].name, word)) {
      in->name = word;
      in->path = eq + 1;
      return true;
    }
  *eq = '=';
  if (file_exists(word)) return true;
  char names[1024];
  list_inputs(g, names, sizeof names);
  kiln_error(ctx, "--input %s: the model has no input named '%.*s'; its inputs are: %s", word,
             (int)(eq - word), word, names);
  return false;
}

/* Matches the files to the graph's inputs; fills by_input[i]. */
static bool match_inputs(kiln_ctx *ctx, const ir_graph *g, input_spec *specs, int n,
                         input_spec **by_input) {
  int next = 0;
  bool ok = true;
  for (int k = 0; k < n; k++) {
    int slot = -1;
    if (specs[k].name) {
      for (int i = 0; i < g->num_inputs; i++)
        if (!strcmp(g->values[g->inputs[i]].name, specs[k].name)) slot = i;
    } else {
      while (next < g->num_inputs && by_input[next]) next++;
      slot = next < g->num_inputs ? next : -1;
      if (slot < 0) {
        char names[1024];
        list_inputs(g, names, sizeof names);
        kiln_error(ctx, "--input '%s': the model has only %d input%s: %s", specs[k].path,
                   g->num_inputs, g->num_inputs == 1 ? "" : "s", names);
        ok = false;
        continue;
      }
    }
    if (by_input[slot]) {
      kiln_error(ctx, "input '%s' is given twice", g->values[g->inputs[slot]].name);
      ok = false;
    }
    by_input[slot] = &specs[k];
  }
  for (int i = 0; i < g->num_inputs; i++)
    if (!by_input[i]) {
      kiln_error(ctx, "input '%s' is missing: pass it with --input %s=FILE",
                 g->values[g->inputs[i]].name, g->values[g->inputs[i]].name);
      ok = false;
    }
  return ok;
}

/* Adds --shape overrides from the files for inputs whose dims are not all
 * static and that the user did not fix. */
static void shapes_from_files(kiln_ctx *ctx, kiln_options *opt, const ir_graph *g,
                              input_spec **by_input) {
  for (int i = 0; i < g->num_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (ir_shape_is_static(&v->shape)) continue;
    bool given = false;
    for (int k = 0; k < opt->num_shapes; k++) given |= !strcmp(opt->shapes[k].input, v->name);
    if (given) continue;
    kiln_shape_override o = {.input = kiln_strdup(ctx, v->name), .rank = by_input[i]->t.rank};
    memcpy(o.dims, by_input[i]->t.dims, sizeof o.dims);
    opt->shapes = kiln_realloc(ctx, opt->shapes, (size_t)(opt->num_shapes + 1) * sizeof o);
    opt->shapes[opt->num_shapes++] = o;
  }
}

/* "f32[1,3]" */
static void type_text(int dtype, int rank, const int64_t *dims, char *buf, size_t size) {
  int k = snprintf(buf, size, "%s[", ir_dtype_name((ir_dtype)dtype));
  for (int d = 0; d < rank && (size_t)k < size; d++)
    k += snprintf(buf + k, size - (size_t)k, "%s%lld", d ? "," : "", (long long)dims[d]);
  if ((size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
}

/* The file's dtype and shape must be exactly the compiled input's. */
static bool check_input(kiln_ctx *ctx, const kiln_tensor_info *info, const input_spec *in) {
  bool same = (int)in->t.dtype == (int)info->dtype && in->t.rank == info->rank;
  for (int d = 0; same && d < info->rank; d++) same = in->t.dims[d] == info->shape[d];
  if (same) return true;
  char want[256], got[256];
  type_text(info->dtype, info->rank, info->shape, want, sizeof want);
  type_text(in->t.dtype, in->t.rank, in->t.dims, got, sizeof got);
  kiln_error(ctx, "input '%s' from '%s' is %s; the model takes %s", info->name, in->path, got, want);
  return false;
}

/* ---- --expect ------------------------------------------------------------------------ */
/* IEEE half bits to float. */
static double half_to_double(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return (h & 0x8000) ? -v : v;
}

/* Element i of a tensor of dtype dt as a double (NAN if not a number type). */
static double element(ir_dtype dt, const void *data, int64_t i) {
  switch (dt) {
  case IR_F32: return ((const float *)data)[i];
  case IR_F64: return ((const double *)data)[i];
  case IR_F16: return half_to_double(((const uint16_t *)data)[i]);
  case IR_BF16: {
    uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  case IR_BOOL:
  case IR_U8: return ((const uint8_t *)data)[i];
  case IR_I8: return ((const int8_t *)data)[i];
  case IR_U16: return ((const uint16_t *)data)[i];
  case IR_I16: return ((const int16_t *)data)[i];
  case IR_U32: return ((const uint32_t *)data)[i];
  case IR_I32: return ((const int32_t *)data)[i];
  case IR_U64: return (double)((const uint64_t *)data)[i];
  case IR_I64: return (double)((const int64_t *)data)[i];
  default: return NAN;
  }
}

/* Finds the reference of output k (named `name`) in dir; NULL if none. */
static bool find_reference(const char *dir, const char *name, int k, char *path, size_t size) {
  char safe[256];
  safe_file_name(name, safe, sizeof safe);
  snprintf(path, size, "%s/%s.npy", dir, safe);
  if (file_exists(path)) return true;
  snprintf(path, size, "%s/%s.pb", dir, safe);
  if (file_exists(path)) return true;
  snprintf(path, size, "%s/output_%d.pb", dir, k);
  return file_exists(path);
}

/* Compares output k with its reference; reports and returns false when
 * they differ beyond the tolerances. */
static bool compare(kiln_ctx *ctx, const drv_args *a, const kiln_tensor_info *info, int k,
                    const kiln_host_tensor *got) {
  char path[4096];
  if (!find_reference(a->expect, info->name, k, path, sizeof path)) {
    kiln_error(ctx, "--expect %s: no reference for output '%s' (looked for NAME.npy, NAME.pb, "
               "output_%d.pb)", a->expect, info->name, k);
    return false;
  }
  kiln_host_tensor want;
  const char *saved = ctx->file;
  kiln_status st = kiln_tensor_read(ctx, path, &want);
  ctx->file = saved;
  if (st) return false;
  bool ok = want.dtype == got->dtype && want.rank == got->rank;
  for (int d = 0; ok && d < got->rank; d++) ok = want.dims[d] == got->dims[d];
  if (!ok) {
    char w[256], g[256];
    type_text(want.dtype, want.rank, want.dims, w, sizeof w);
    type_text(got->dtype, got->rank, got->dims, g, sizeof g);
    kiln_error(ctx, "output '%s' is %s; the reference %s is %s", info->name, g, path, w);
    kiln_tensor_free(ctx, &want);
    return false;
  }
  int64_t n = kiln_tensor_numel(got), bad = 0, worst = -1;
  double worst_excess = 0, max_abs = 0;
  for (int64_t i = 0; i < n; i++) {
    double x = element(got->dtype, got->data, i), y = element(want.dtype, want.data, i);
    if (isnan(x) && isnan(y)) continue;
    double diff = fabs(x - y);
    if (isnan(diff)) diff = INFINITY;
    if (diff > max_abs) max_abs = diff;
    double excess = diff - (a->atol + a->rtol * fabs(y));
    if (excess > 0 || (isinf(x) != isinf(y))) {
      bad++;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (bad) {
    kiln_error(ctx, "output '%s' differs from %s: %lld of %lld elements beyond atol %g + rtol %g; "
               "largest difference %g; worst at flat index %lld: got %.9g, want %.9g",
               info->name, path, (long long)bad, (long long)n, a->atol, a->rtol, max_abs,
               (long long)worst, element(got->dtype, got->data, worst),
               element(want.dtype, want.data, worst));
  } else {
    printf("kiln: output '%s' matches %s (largest difference %g)\n", info->name, path, max_abs);
  }
  kiln_tensor_free(ctx, &want);
  return bad == 0;
}

/* ---- running --------------------------------------------------------------------------- */
static int run_model(kiln_ctx *ctx, const drv_args *a, const kiln_model *m, input_spec **by_input,
                     const char *outdir) {
  bool ok = true;
  for (int i = 0; i < m->num_inputs; i++) ok &= check_input(ctx, &m->inputs[i], by_input[i]);
  if (!ok) return 1;
  const void **ins = kiln_calloc(ctx, (size_t)m->num_inputs + 1, sizeof *ins);
  void **outs = kiln_calloc(ctx, (size_t)m->num_outputs + 1, sizeof *outs);
  kiln_host_tensor *res = kiln_calloc(ctx, (size_t)m->num_outputs + 1, sizeof *res);
  for (int i = 0; i < m->num_inputs; i++) ins[i] = by_input[i]->t.data;
  for (int o = 0; o < m->num_outputs; o++) {
    const kiln_tensor_info *info = &m->outputs[o];
    res[o].dtype = (ir_dtype)info->dtype;
    res[o].rank = info->rank;
    if (info->rank) /* a scalar's shape may be NULL */
      memcpy(res[o].dims, info->shape, (size_t)info->rank * sizeof *info->shape);
    res[o].nbytes = ir_dtype_bytes(res[o].dtype, kiln_tensor_numel(&res[o]));
    res[o].data = kiln_calloc(ctx, (size_t)res[o].nbytes + 1, 1);
    outs[o] = res[o].data;
  }
  size_t ws = (m->workspace_size + 63) / 64 * 64;
  void *workspace = aligned_alloc(64, ws ? ws : 64);
  kiln_run_options ro = {.num_threads = a->opt.threads};
  double t0 = drv_now();
  int st = workspace ? m->run(ins, outs, workspace, &ro) : KILN_ERR_NOMEM;
  double seconds = drv_now() - t0;
  kiln_time(ctx, "run", seconds);
  int rc = 0;
  if (st) {
    kiln_error(ctx, "run failed: %s (status %d)", kiln_status_string(st), st);
    rc = 1;
  } else {
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
      kiln_error(ctx, "cannot create the output folder '%s': %s", outdir, strerror(errno));
      rc = 1;
    }
    for (int o = 0; o < m->num_outputs && !rc; o++) {
      char safe[256], path[4096];
      safe_file_name(m->outputs[o].name, safe, sizeof safe);
      snprintf(path, sizeof path, "%s/%s.npy", outdir, safe);
      if (kiln_tensor_write_npy(ctx, path, &res[o]) != KILN_OK) rc = 1;
    }
    if (!rc) {
      printf("kiln: ran %s in %.3f ms (workspace %lld bytes); wrote", a->model, seconds * 1e3,
             (long long)m->workspace_size);
      for (int o = 0; o < m->num_outputs; o++) {
        char safe[256], type[256];
        safe_file_name(m->outputs[o].name, safe, sizeof safe);
        type_text(m->outputs[o].dtype, m->outputs[o].rank, m->outputs[o].shape, type, sizeof type);
        printf("%s %s/%s.npy (%s)", o ? "," : "", outdir, safe, type);
      }
      printf("\n");
    }
    if (!rc && a->expect) {
      bool same = true; /* every output is compared, even after a mismatch */
      for (int o = 0; o < m->num_outputs; o++) same &= compare(ctx, a, &m->outputs[o], o, &res[o]);
      if (!same) rc = 1;
    }
  }
  free(workspace);
  for (int o = 0; o < m->num_outputs; o++) kiln_tensor_free(ctx, &res[o]);
  kiln_free(ctx, res);
  kiln_free(ctx, outs);
  kiln_free(ctx, (void *)ins);
  return rc;
}

int kiln_cmd_run(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_RUN);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  input_spec *specs = NULL, **by_input = NULL;
  char **words = NULL;
  ir_graph *g = NULL;
  cg_jit *jit = NULL;
  int rc = drv_parse(&ctx, &a, argc, argv);
  ctx.verbose = a.verbose;
  ctx.timing = a.time;
  if (rc) {
    if (rc > 0) drv_print_help(DRV_RUN, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (!a.model) {
    kiln_error(&ctx, "run: no model given (usage: kiln run MODEL.onnx --input FILE ...)");
    rc = 2;
    goto out;
  }
  if (!a.expect && (a.rtol_given || a.atol_given)) {
    kiln_error(&ctx, "run: --rtol and --atol are the tolerances of --expect DIR, which is missing");
    rc = 2;
    goto out;
  }
  const char *outdir = a.outdir ? a.outdir : ".";
  words = kiln_calloc(&ctx, (size_t)a.num_inputs + 1, sizeof *words);
  specs = kiln_calloc(&ctx, (size_t)a.num_inputs + 1, sizeof *specs);
  g = drv_load(&ctx, a.model, &a.opt);
  if (!g) {
    rc = 1;
    goto out;
  }
  by_input = kiln_calloc(&ctx, (size_t)g->num_inputs + 1, sizeof *by_input);
  for (int k = 0; k < a.num_inputs; k++) {
    words[k] = kiln_strdup(&ctx, a.inputs[k]);
    if (!resolve_name(&ctx, g, &specs[k], words[k])) {
      rc = 1;
      continue;
    }
    const char *saved = ctx.file;
    if (kiln_tensor_read(&ctx, specs[k].path, &specs[k].t) != KILN_OK) rc = 1;
    ctx.file = saved;
  }
  if (rc || !match_inputs(&ctx, g, specs, a.num_inputs, by_input)) {
    rc = 1;
    goto out;
  }
  shapes_from_files(&ctx, &a.opt, g, by_input);
  if (drv_prepare_for_codegen(&ctx, g, &a.opt) != KILN_OK ||
      cg_jit_compile(&ctx, g, &a.opt, "model", &jit) != KILN_OK) {
    rc = 1;
    goto out;
  }
  rc = run_model(&ctx, &a, cg_jit_model(jit), by_input, outdir);
out:
  if (jit) cg_jit_free(jit);
  ir_graph_free(g);
  for (int k = 0; k < a.num_inputs && specs; k++) {
    kiln_tensor_free(&ctx, &specs[k].t);
    kiln_free(&ctx, words[k]);
  }
  kiln_free(&ctx, by_input);
  kiln_free(&ctx, specs);
  kiln_free(&ctx, words);
  drv_args_free(&ctx, &a);
  return rc;
}
