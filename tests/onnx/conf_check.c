/*
 * conf_check.c — one backend-suite test, run inside a forked child.
 *
 * The path is the one `kiln run` takes: onnx_import_file, the default
 * pass pipeline (kiln_run_passes, plan-memory its last pass), cg_jit_compile, then the
 * generated `run` on each test_data_set_N/input_K.pb, every output
 * compared with output_K.pb.  Inputs and outputs pair with the graph's by position, as
 * the ONNX backend runner pairs them.
 *
 * Symbolic input dims are fixed from the input files (kiln compiles for
 * static shapes); a data set whose inputs have other dims than the one
 * compiled is compiled again for its own.
 *
 * Comparison.  Floats: |got - want| <= atol + rtol * |want| elementwise,
 * rtol 1e-3 and atol 1e-7 by default, looser only where a row of
 * `tolerances` below says why; NaN must meet NaN, an infinity the same
 * infinity.  Every other dtype must match bit for bit.  Shapes and dtypes
 * must match exactly.  A failure names the worst element: the one whose
 * error exceeds its bound by the largest factor.
 *
 * Verdicts.  A model kiln refuses at import, or whose passes or lowering
 * return KILN_ERR_UNSUPPORTED, is UNSUPPORTED with kiln's first error
 * message.  Any other compile error, a failed run or a wrong number is a
 * FAIL.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cg.h"
#include "conformance.h"
#include "onnx/onnx.h"
#include "onnx/tensor_io.h"
#include "passes.h"
#include "text.h"

/* ---- tolerances ------------------------------------------------------------------
 * Looser bounds, each with the numerical reason.  `match` is a substring
 * of the test id ("node/test_foo"); the first matching row wins. */
typedef struct conf_tol {
  const char *match;
  double rtol, atol;
  const char *why;
} conf_tol;

static const conf_tol tolerances[] = {
    /* ONNX 1.12's reference truncates f32 to bf16; kiln rounds to nearest
     * even (as IEEE conversions, ONNX >= 1.14 and ONNX Runtime do): the two
     * differ by at most one bf16 ulp, 2^-7 relative */
    {"test_cast_FLOAT_to_BFLOAT16", 7.9e-3, 0, "reference truncates, kiln rounds to nearest"},
    {"test_castlike_FLOAT_to_BFLOAT16", 7.9e-3, 0, "reference truncates, kiln rounds to nearest"},
    {NULL, 0, 0, NULL},
};

static void tolerance_for(const char *id, double *rtol, double *atol) {
  *rtol = 1e-3;
  *atol = 1e-7;
  for (const conf_tol *t = tolerances; t->match; t++)
    if (strstr(id, t->match)) {
      *rtol = t->rtol;
      *atol = t->atol;
      return;
    }
}

/* ---- tests that stay out by design ------------------------------------------------ */
static const struct {
  const char *match;
  const char *why;
} out_of_scope[] = {
    {"test_adagrad", "training op (ai.onnx.preview.training)"},
    {"test_adam", "training op (ai.onnx.preview.training)"},
    {"test_momentum", "training op (ai.onnx.preview.training)"},
    {"test_nesterov_momentum", "training op (ai.onnx.preview.training)"},
    {"test_gradient", "training op (ai.onnx.preview.training)"},
    {"test_strnorm", "string tensors"},
    {"test_string", "string tensors"},
    {"test_regex", "string tensors"},
    {"test_equal_string", "string tensors"},
    {"test_cast_FLOAT_to_STRING", "string tensors"},
    {"test_cast_STRING_to_FLOAT", "string tensors"},
    {"test_castlike_FLOAT_to_STRING", "string tensors"},
    {"test_castlike_STRING_to_FLOAT", "string tensors"},
    {"test_sequence", "sequence types"},
    {"test_split_to_sequence", "sequence types"},
    {"test_optional", "optional types"},
    {"test_identity_opt", "optional types"},
    {"test_if_opt", "optional types"},
    {"test_loop16_seq_none", "optional types"},
    {"test_identity_sequence", "sequence types"},
    {"test_if_seq", "sequence types"},
    {"test_loop13_seq", "sequence types"},
    {"node/test_training_dropout", "random draws: the reference comes from numpy's generator"},
    {"test_bernoulli", "random draws: the reference comes from numpy's generator"},
    {NULL, NULL},
};

const char *conf_out_of_scope(const char *id) {
  for (int i = 0; out_of_scope[i].match; i++)
    if (strstr(id, out_of_scope[i].match)) return out_of_scope[i].why;
  return NULL;
}

/* ---- reporting ---------------------------------------------------------------------- */
typedef struct child {
  const conf_test *t;
  const conf_child_opts *o;
  FILE *out;
  kiln_ctx ctx;
  char *diag;               /* what kiln printed (open_memstream) */
  size_t diag_len;
  FILE *diag_stream;
  size_t mark;              /* first_error looks at diagnostics from here on */
} child;

/* The first error kiln reported, without "kiln: error: FILE: ". */
static void first_error(child *c, char *buf, size_t n) {
  fflush(c->diag_stream);
  const char *e = c->diag && c->mark <= c->diag_len ? strstr(c->diag + c->mark, "kiln: error: ") : NULL;
  if (!e) {
    snprintf(buf, n, "%.*s", (int)n - 1, c->ctx.last_error[0] ? c->ctx.last_error : "no message");
    return;
  }
  e += strlen("kiln: error: ");
  const char *file = c->ctx.file;
  if (file && !strncmp(e, file, strlen(file)) && e[strlen(file)] == ':') e += strlen(file) + 2;
  else if (!strncmp(e, c->t->dir, strlen(c->t->dir))) {
    /* a tensor file of the test: keep its name relative to the test */
    e += strlen(c->t->dir) + 1;
  }
  size_t k = 0;
  for (; e[k] && e[k] != '\n' && k + 1 < n; k++) buf[k] = e[k];
  buf[k] = 0;
}

static void result(child *c, conf_status st, const char *fmt, ...) KILN_PRINTF(3, 4);
static void result(child *c, conf_status st, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  fprintf(c->out, "RESULT %s %s\n", conf_status_name(st), msg);
  fflush(c->out);
}

/* ---- the ops a model uses ------------------------------------------------------------- */
static void report_ops(child *c, const char *model, const ir_graph *g) {
  onnx_op_count *rows;
  int n;
  if (onnx_count_ops(&c->ctx, model, &rows, &n) != KILN_OK) return;
  for (int i = 0; i < n; i++) {
    const char *dt = "-";
    ir_op op = ir_op_lookup(rows[i].domain, rows[i].op_type);
    for (int32_t k = 0; g && op < IR_OP_COUNT && k < g->num_nodes; k++) {
      const ir_node *nd = &g->nodes[k];
      if (nd->dead || nd->op != op) continue;
      ir_value_id v = nd->num_inputs && nd->inputs[0] >= 0 ? nd->inputs[0]
                      : nd->num_outputs                    ? nd->outputs[0]
                                                           : IR_NONE;
      if (v >= 0 && g->values[v].dtype != IR_UNDEFINED) dt = ir_dtype_name(g->values[v].dtype);
      break;
    }
    fprintf(c->out, "OP %s%s%s %d %s\n", rows[i].domain, *rows[i].domain ? ":" : "",
            rows[i].op_type, g ? (int)g->opset : 0, dt);
  }
  onnx_op_counts_free(&c->ctx, rows, n);
}

/* ---- data sets ---------------------------------------------------------------------------- */
typedef struct data_set {
  char dir[1300];
  kiln_host_tensor *in, *out;
  int num_in, num_out;
} data_set;

/* Counts prefix_K.pb files in dir (K = 0, 1, ... without gaps). */
static int count_files(const char *dir, const char *prefix) {
  int k = 0;
  for (;; k++) {
    char p[1400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
    if (stat(p, &sb)) return k;
  }
}

static bool read_files(child *c, const char *dir, const char *prefix, int n,
                       kiln_host_tensor *ts) {
  for (int k = 0; k < n; k++) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
    if (kiln_tensor_read(&c->ctx, p, &ts[k]) != KILN_OK) return false;
  }
  return true;
}

static void free_set(child *c, data_set *d) {
  for (int k = 0; k < d->num_in; k++) kiln_tensor_free(&c->ctx, &d->in[k]);
  for (int k = 0; k < d->num_out; k++) kiln_tensor_free(&c->ctx, &d->out[k]);
  free(d->in);
  free(d->out);
}

/* Reads every test_data_set_N; returns the count, or -1 (reported). */
static int read_sets(child *c, data_set **out) {
  struct dirent **list;
  int n = scandir(c->t->dir, &list, NULL, alphasort);
  int count = 0;
  data_set *sets = calloc((size_t)(n > 0 ? n : 1), sizeof *sets);
  bool ok = true;
  for (int i = 0; i < n; i++) {
    if (ok && !strncmp(list[i]->d_name, "test_data_set_", 14)) {
      data_set *d = &sets[count++];
      snprintf(d->dir, sizeof d->dir, "%s/%.255s", c->t->dir, list[i]->d_name);
      d->num_in = count_files(d->dir, "input");
      d->num_out = count_files(d->dir, "output");
      d->in = calloc((size_t)d->num_in + 1, sizeof *d->in);
      d->out = calloc((size_t)d->num_out + 1, sizeof *d->out);
      ok = read_files(c, d->dir, "input", d->num_in, d->in) &&
           read_files(c, d->dir, "output", d->num_out, d->out);
    }
    free(list[i]);
  }
  free(list);
  *out = sets;
  if (ok) return count;
  for (int i = 0; i < count; i++) free_set(c, &sets[i]);
  free(sets);
  *out = NULL;
  return -1;
}

/* ---- compiling ------------------------------------------------------------------------------ */
enum { MAX_INPUTS = 256 };

typedef struct compiled {
  ir_graph *g;
  cg_jit *jit;
  const kiln_model *m;
  kiln_options opt;
  kiln_shape_override shapes[64];
  int slot[MAX_INPUTS];      /* the data set input that feeds model input j */
  int num_shape_inputs;      /* graph inputs that feed a shape operand */
  int num_bound;             /* of those, bound to the data set's values */
  char bound[256];           /* their names, for the PASS line */
  conf_status fail;          /* the verdict when compiling failed */
  char why[512];
} compiled;

static void compiled_free(compiled *cm) {
  if (cm->jit) cg_jit_free(cm->jit);
  ir_graph_free(cm->g);
  memset(cm, 0, sizeof *cm);
}

/* A compile step failed with status st: UNSUPPORTED when kiln says so. */
static bool refused(child *c, compiled *cm, kiln_status st, const char *step) {
  char msg[400];
  first_error(c, msg, sizeof msg);
  cm->fail = st == KILN_ERR_UNSUPPORTED ? CONF_UNSUPPORTED : CONF_FAIL;
  if (st == KILN_ERR_UNSUPPORTED) snprintf(cm->why, sizeof cm->why, "%s", msg);
  else snprintf(cm->why, sizeof cm->why, "%s: %s (%s)", step, msg, kiln_status_string(st));
  return false;
}

/* Inputs whose values decide shapes (Reshape's shape, Resize's scales,
 * Slice's starts, axes inputs, ...): kiln compiles static shapes, so these
 * must be constants by code generation. */
static bool shape_operand(ir_op op, int i) {
  switch (op) {
  case IR_OP_RESHAPE: case IR_OP_EXPAND: case IR_OP_TILE: case IR_OP_SQUEEZE:
  case IR_OP_UNSQUEEZE: case IR_OP_SPLIT: case IR_OP_TOP_K: case IR_OP_ONE_HOT:
  case IR_OP_CENTER_CROP_PAD: case IR_OP_UPSAMPLE:
    return i == 1;
  case IR_OP_REDUCE_L1: case IR_OP_REDUCE_L2: case IR_OP_REDUCE_LOG_SUM:
  case IR_OP_REDUCE_LOG_SUM_EXP: case IR_OP_REDUCE_MAX: case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MIN: case IR_OP_REDUCE_PROD: case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_SUM_SQUARE:
    return i == 1;
  case IR_OP_RESIZE: return i >= 1;           /* roi, scales, sizes */
  case IR_OP_SLICE: return i >= 1;            /* starts, ends, axes, steps */
  case IR_OP_PAD: return i == 1 || i == 3;    /* pads, axes */
  case IR_OP_RANGE: return true;
  case IR_OP_CONSTANT_OF_SHAPE: return i == 0;
  case IR_OP_MAX_UNPOOL: return i == 2;       /* output_shape */
  case IR_OP_LOOP: return i <= 1;             /* trip count and condition: the unrolling */
  case IR_OP_COMPRESS: return i == 1;         /* the condition: how many slices stay */
  default: return false;
  }
}

/* Does v decide a shape operand, directly or through computation (the
 * size of a window computed as Range(0, Cast(size)))?  Nodes are in
 * topological order, so one forward sweep marks everything v reaches. */
static bool feeds_shape_operand(const ir_graph *g, ir_value_id v) {
  bool *reached = calloc((size_t)g->num_values, sizeof *reached), found = false;
  reached[v] = true;
  for (int32_t n = 0; n < g->num_nodes && !found; n++) {
    const ir_node *nd = &g->nodes[n];
    bool any = false;
    for (int i = 0; i < nd->num_inputs; i++) {
      if (nd->inputs[i] < 0 || !reached[nd->inputs[i]]) continue;
      any = true;
      found |= shape_operand(nd->op, i);
    }
    for (int o = 0; any && o < nd->num_outputs; o++)
      if (nd->outputs[o] >= 0) reached[nd->outputs[o]] = true;
  }
  free(reached);
  return found;
}

/* Turns graph input `pos` into a constant holding tensor t (what
 * `kiln compile/run --bind NAME=FILE` does). */
static bool bind_input(compiled *cm, int pos, const kiln_host_tensor *t) {
  ir_graph *g = cm->g;
  char name[256];
  snprintf(name, sizeof name, "%s", g->values[g->inputs[pos]].name);
  FILE *saved = g->ctx->diag_stream;
  g->ctx->diag_stream = NULL; /* a mismatch only means "do not bind" here */
  kiln_status st = ir_bind_input(g, name, t->dtype, t->rank, t->dims, t->data, t->nbytes);
  g->ctx->diag_stream = saved;
  if (st) return false;
  size_t len = strlen(cm->bound);
  snprintf(cm->bound + len, sizeof cm->bound - len, "%s%s", len ? ", " : "", name);
  cm->num_bound++;
  return true;
}

/* Compiles the model with symbolic input dims fixed from data set d's
 * inputs and, if `bind`, the inputs that feed shape operands bound to
 * d's values.  On failure leaves the verdict in cm->fail and cm->why. */
static bool compile(child *c, const char *model, const data_set *d, compiled *cm, bool ops,
                    bool bind) {
  kiln_options_init(&cm->opt);
  cm->opt.threads = c->o->threads;
  cm->g = onnx_import_file(&c->ctx, model, &cm->opt);
  if (!cm->g) {
    if (ops) report_ops(c, model, NULL);
    return refused(c, cm, KILN_ERR_UNSUPPORTED, "import");
  }
  if ((d && d->num_in != cm->g->num_inputs) || cm->g->num_inputs > MAX_INPUTS) {
    if (ops) report_ops(c, model, cm->g);
    cm->fail = CONF_FAIL;
    snprintf(cm->why, sizeof cm->why, "the model has %d inputs, the test gives %d",
             cm->g->num_inputs, d ? d->num_in : 0);
    return false;
  }
  int nover = 0;
  for (int i = 0; d && i < cm->g->num_inputs && nover < 64; i++) {
    const ir_value *v = &cm->g->values[cm->g->inputs[i]];
    if (ir_shape_is_static(&v->shape)) continue;
    kiln_shape_override *o = &cm->shapes[nover++];
    o->input = v->name;
    o->rank = d->in[i].rank;
    memcpy(o->dims, d->in[i].dims, sizeof o->dims);
  }
  if (nover) {
    /* the names point into the first graph: keep it until the second import */
    ir_graph *first = cm->g;
    for (int i = 0; i < nover; i++) cm->shapes[i].input = kiln_strdup(&c->ctx, cm->shapes[i].input);
    cm->opt.shapes = cm->shapes;
    cm->opt.num_shapes = nover;
    cm->g = onnx_import_file(&c->ctx, model, &cm->opt);
    ir_graph_free(first);
    for (int i = 0; i < nover; i++) kiln_free(&c->ctx, (char *)cm->shapes[i].input);
    cm->opt.shapes = NULL;
    cm->opt.num_shapes = 0;
    if (!cm->g) {
      if (ops) report_ops(c, model, NULL);
      return refused(c, cm, KILN_ERR_UNSUPPORTED, "import");
    }
  }
  /* which data set input feeds which remaining graph input */
  int ng = cm->g->num_inputs, j = 0;
  for (int i = 0; i < ng; i++) {
    bool shape = feeds_shape_operand(cm->g, cm->g->inputs[j]);
    cm->num_shape_inputs += shape;
    if (shape && bind && d && bind_input(cm, j, &d->in[i])) continue;
    cm->slot[j++] = i;
  }
  /* the default pipeline, plan-memory last, as `kiln run` and `kiln
   * compile` run it */
  kiln_status st = kiln_run_passes(&c->ctx, cm->g, &cm->opt);
  if (ops) report_ops(c, model, cm->g);
  if (st) return refused(c, cm, st, "passes");
  st = cg_jit_compile(&c->ctx, cm->g, &cm->opt, "model", &cm->jit);
  if (st) return refused(c, cm, st, "code generation");
  cm->m = cg_jit_model(cm->jit);
  return true;
}

/* The suite's bfloat16 tensors were written when numpy had no bfloat16:
 * their files say UINT16 and hold the bits.  Where the model says bf16,
 * take the file's bits as bf16. */
static void adopt_bf16(const compiled *cm, data_set *d) {
  const kiln_model *m = cm->m;
  for (int i = 0; i < m->num_inputs; i++) {
    kiln_host_tensor *t = &d->in[cm->slot[i]];
    if (t->dtype == IR_U16 && m->inputs[i].dtype == KILN_BF16) t->dtype = IR_BF16;
  }
  for (int o = 0; o < d->num_out && o < m->num_outputs; o++)
    if (d->out[o].dtype == IR_U16 && m->outputs[o].dtype == KILN_BF16) d->out[o].dtype = IR_BF16;
}

/* Do data set d's inputs have exactly the compiled dtypes and dims? */
static bool inputs_fit(const compiled *cm, const data_set *d) {
  const kiln_model *m = cm->m;
  if (d->num_in != m->num_inputs + cm->num_bound) return false;
  for (int i = 0; i < m->num_inputs; i++) {
    const kiln_tensor_info *info = &m->inputs[i];
    const kiln_host_tensor *t = &d->in[cm->slot[i]];
    if ((int)t->dtype != (int)info->dtype || t->rank != info->rank) return false;
    for (int k = 0; k < info->rank; k++)
      if (t->dims[k] != info->shape[k]) return false;
  }
  return true;
}

/* ---- comparing ---------------------------------------------------------------------------------- */
static double float_at(ir_dtype dt, const void *p, int64_t i) {
  switch (dt) {
  case IR_F32: return ((const float *)p)[i];
  case IR_F64: return ((const double *)p)[i];
  case IR_F16: return ir_f16_to_f32(((const uint16_t *)p)[i]);
  case IR_BF16: return ir_bf16_to_f32(((const uint16_t *)p)[i]);
  default: return NAN;
  }
}

/* Element i of a non-float tensor as text. */
static void format_elem(ir_dtype dt, const void *p, int64_t i, char *buf, size_t n) {
  switch (dt) {
  case IR_BOOL: snprintf(buf, n, "%s", ((const uint8_t *)p)[i] ? "true" : "false"); break;
  case IR_I8: snprintf(buf, n, "%d", ((const int8_t *)p)[i]); break;
  case IR_U8: snprintf(buf, n, "%u", ((const uint8_t *)p)[i]); break;
  case IR_I16: snprintf(buf, n, "%d", ((const int16_t *)p)[i]); break;
  case IR_U16: snprintf(buf, n, "%u", ((const uint16_t *)p)[i]); break;
  case IR_I32: snprintf(buf, n, "%d", ((const int32_t *)p)[i]); break;
  case IR_U32: snprintf(buf, n, "%u", ((const uint32_t *)p)[i]); break;
  case IR_I64: snprintf(buf, n, "%lld", (long long)((const int64_t *)p)[i]); break;
  case IR_U64: snprintf(buf, n, "%llu", (unsigned long long)((const uint64_t *)p)[i]); break;
  default: {
    /* sub-byte and 8-bit float types: show the raw byte */
    snprintf(buf, n, "0x%02x", ((const uint8_t *)p)[i]);
  }
  }
}

static void format_shape(const ir_dtype dt, int rank, const int64_t *dims, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s[", ir_dtype_name(dt));
  for (int d = 0; d < rank && (size_t)k < n; d++)
    k += snprintf(buf + k, n - (size_t)k, "%s%lld", d ? "," : "", (long long)dims[d]);
  if ((size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
}

/* Compares output `o` of data set `set`; on a mismatch writes the
 * message into msg and returns false. */
static bool compare(child *c, int set, int o, const kiln_tensor_info *info, const void *got,
                    const kiln_host_tensor *want, char *msg, size_t n) {
  ir_dtype dt = (ir_dtype)info->dtype;
  bool same = dt == want->dtype && info->rank == want->rank;
  for (int d = 0; same && d < info->rank; d++) same = info->shape[d] == want->dims[d];
  if (!same) {
    char a[160], b[160];
    format_shape(dt, info->rank, info->shape, a, sizeof a);
    format_shape(want->dtype, want->rank, want->dims, b, sizeof b);
    snprintf(msg, n, "data set %d output %d: got %s, want %s", set, o, a, b);
    return false;
  }
  int64_t numel = kiln_tensor_numel(want);
  if (!ir_dtypes[dt].is_float || (dt != IR_F32 && dt != IR_F64 && dt != IR_F16 && dt != IR_BF16)) {
    int64_t size = ir_dtype_bytes(dt, 1);
    if (ir_dtypes[dt].bits < 8) {
      /* packed sub-byte types: compare whole bytes */
      if (!memcmp(got, want->data, (size_t)want->nbytes)) return true;
      for (int64_t i = 0; i < want->nbytes; i++)
        if (((const uint8_t *)got)[i] != ((const uint8_t *)want->data)[i]) {
          snprintf(msg, n, "data set %d output %d byte %lld: got 0x%02x want 0x%02x", set, o,
                   (long long)i, ((const uint8_t *)got)[i], ((const uint8_t *)want->data)[i]);
          return false;
        }
      return true;
    }
    for (int64_t i = 0; i < numel; i++) {
      const uint8_t *a = (const uint8_t *)got + i * size, *b = (const uint8_t *)want->data + i * size;
      bool eq = dt == IR_BOOL ? (*a != 0) == (*b != 0) : !memcmp(a, b, (size_t)size);
      if (eq) continue;
      char ga[64], wb[64];
      format_elem(dt, got, i, ga, sizeof ga);
      format_elem(dt, want->data, i, wb, sizeof wb);
      snprintf(msg, n, "data set %d output %d element %lld: got %s want %s (exact)", set, o,
               (long long)i, ga, wb);
      return false;
    }
    return true;
  }
  double rtol, atol;
  tolerance_for(c->t->id, &rtol, &atol);
  int64_t worst = -1;
  double worst_ratio = 1, worst_err = 0;
  for (int64_t i = 0; i < numel; i++) {
    double a = float_at(dt, got, i), b = float_at(dt, want->data, i);
    double err, ratio;
    if (isnan(b) || isnan(a)) {
      if (isnan(a) && isnan(b)) continue;
      err = INFINITY;
      ratio = INFINITY;
    } else if (isinf(b) || isinf(a)) {
      if (a == b) continue;
      err = INFINITY;
      ratio = INFINITY;
    } else {
      err = fabs(a - b);
      ratio = err / (atol + rtol * fabs(b));
    }
    if (ratio > worst_ratio || (worst < 0 && ratio > 1)) {
      worst = i;
      worst_ratio = ratio;
      worst_err = err;
    }
  }
  if (worst < 0) return true;
  snprintf(msg, n, "data set %d output %d element %lld: got %.9g want %.9g (err %.3g)", set, o,
           (long long)worst, float_at(dt, got, worst), float_at(dt, want->data, worst), worst_err);
  return false;
}

/* Runs data set d on the compiled model; false (with a RESULT) on failure. */
static bool run_set(child *c, const compiled *cm, int set, const data_set *d) {
  const kiln_model *m = cm->m;
  if (d->num_out > m->num_outputs) {
    result(c, CONF_FAIL, "the test expects %d outputs, the model has %d", d->num_out,
           m->num_outputs);
    return false;
  }
  const void **ins = calloc((size_t)m->num_inputs + 1, sizeof *ins);
  void **outs = calloc((size_t)m->num_outputs + 1, sizeof *outs);
  for (int i = 0; i < m->num_inputs; i++) ins[i] = d->in[cm->slot[i]].data;
  for (int o = 0; o < m->num_outputs; o++) {
    const kiln_tensor_info *info = &m->outputs[o];
    int64_t numel = 1;
    for (int k = 0; k < info->rank; k++) numel *= info->shape[k];
    size_t bytes = (size_t)ir_dtype_bytes((ir_dtype)info->dtype, numel);
    /* poison the buffers so an output never written shows up */
    outs[o] = malloc(bytes + 1);
    memset(outs[o], 0xa5, bytes + 1);
  }
  size_t ws = (m->workspace_size + 63) / 64 * 64;
  void *workspace = aligned_alloc(64, ws ? ws : 64);
  kiln_run_options ro = {.num_threads = c->o->threads};
  int st = m->run(ins, outs, workspace, &ro);
  bool ok = st == 0;
  if (!ok) result(c, CONF_FAIL, "data set %d: run returned %d (%s)", set, st, kiln_status_string(st));
  char msg[512];
  for (int o = 0; ok && o < d->num_out; o++)
    if (!compare(c, set, o, &m->outputs[o], outs[o], &d->out[o], msg, sizeof msg)) {
      result(c, CONF_FAIL, "%s", msg);
      ok = false;
    }
  free(workspace);
  for (int o = 0; o < m->num_outputs; o++) free(outs[o]);
  free(outs);
  free((void *)ins);
  return ok;
}

/* Reports the first input of data set d that does not fit the model. */
static void misfit(child *c, const compiled *cm, int set, const data_set *d) {
  const kiln_model *m = cm->m;
  for (int i = 0; i < m->num_inputs; i++) {
    const kiln_tensor_info *info = &m->inputs[i];
    const kiln_host_tensor *t = &d->in[cm->slot[i]];
    char a[160], b[160];
    format_shape((ir_dtype)info->dtype, info->rank, info->shape, a, sizeof a);
    format_shape(t->dtype, t->rank, t->dims, b, sizeof b);
    if (strcmp(a, b)) {
      result(c, CONF_FAIL, "data set %d input %d is %s; the model declares %s", set, cm->slot[i],
             b, a);
      return;
    }
  }
  result(c, CONF_FAIL, "data set %d has %d inputs; the model takes %d", set, d->num_in,
         m->num_inputs);
}

/* ---- the test ------------------------------------------------------------------------------------ */
void conf_check(const conf_test *t, const conf_child_opts *o, FILE *out) {
  child c = {.t = t, .o = o, .out = out};
  kiln_ctx_init(&c.ctx);
  c.diag_stream = open_memstream(&c.diag, &c.diag_len);
  c.ctx.diag_stream = c.diag_stream;
  char model[1100];
  snprintf(model, sizeof model, "%s/model.onnx", t->dir);

  data_set *sets = NULL;
  int nsets = read_sets(&c, &sets);
  compiled cm = {0};
  if (nsets < 0) {
    /* data kiln cannot read (strings, sequences, optionals): the model's
     * own refusal says more, if it has one */
    char msg[512];
    first_error(&c, msg, sizeof msg);
    fflush(c.diag_stream);
    c.mark = c.diag_len;
    if (compile(&c, model, NULL, &cm, true, false))
      result(&c, CONF_UNSUPPORTED, "test data: %s", msg);
    else
      result(&c, cm.fail, "%s", cm.why);
  } else {
    const data_set *first = nsets ? &sets[0] : NULL;
    bool ok = compile(&c, model, first, &cm, true, false);
    if (!ok && cm.fail == CONF_UNSUPPORTED && cm.num_shape_inputs && first) {
      /* kiln refused an input-dependent shape: try again with the inputs
       * that decide shapes bound to the data set's values */
      compiled refusal = cm;
      refusal.g = NULL;
      refusal.jit = NULL;
      compiled_free(&cm);
      ok = compile(&c, model, first, &cm, false, true);
      if (!ok) {
        compiled_free(&cm);
        cm = refusal;
      }
    }
    if (!ok) result(&c, cm.fail, "%s", cm.why);
    for (int i = 0; ok && i < nsets; i++) {
      if (i > 0 && cm.num_bound) {
        /* bound values are the data set's own: compile again for each */
        compiled_free(&cm);
        if (!compile(&c, model, &sets[i], &cm, false, true)) {
          result(&c, cm.fail, "data set %d: %s", i, cm.why);
          ok = false;
          break;
        }
      }
      adopt_bf16(&cm, &sets[i]);
      if (!inputs_fit(&cm, &sets[i])) {
        /* another shape: compile again for this data set */
        bool bind = cm.num_bound > 0;
        compiled_free(&cm);
        if (!compile(&c, model, &sets[i], &cm, false, bind)) {
          result(&c, cm.fail, "data set %d: %s", i, cm.why);
          ok = false;
          break;
        }
        adopt_bf16(&cm, &sets[i]);
        if (!inputs_fit(&cm, &sets[i])) {
          misfit(&c, &cm, i, &sets[i]);
          ok = false;
          break;
        }
      }
      ok = run_set(&c, &cm, i, &sets[i]);
    }
    if (ok && cm.num_bound) result(&c, CONF_PASS, "bound: %s", cm.bound);
    else if (ok) result(&c, CONF_PASS, "%s", "");
  }
  compiled_free(&cm);
  for (int i = 0; i < (nsets > 0 ? nsets : 0); i++) free_set(&c, &sets[i]);
  free(sets);
  fclose(c.diag_stream);
  free(c.diag);
}
