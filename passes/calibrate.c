/*
 * calibrate.c — the calibrate pass: activation ranges for quantization.
 *
 * Post-training quantization maps each float activation x to 8 bits by
 * x ~ scale * (q - zero_point), which only works if the range [lo, hi]
 * that scale and zero point cover is known at compile time.  The range is
 * measured: the float model runs on a few representative inputs (the
 * calibration samples, docs/quantization.md) and we watch every tensor a
 * quantized kernel will read or write (kiln_calib_wanted).
 *
 * How.  A borrowing clone of the optimised graph makes the watched
 * values extra graph outputs, is planned and compiled by the same JIT as
 * `kiln run`, and runs on each sample, so the statistics are those of the
 * exact code kiln generates.  Two sweeps over the samples: the first
 * gathers min, max, mean and the largest |x|; the second fills a histogram
 * of |x| with KILN_CALIB_BINS bins over [0, max |x|].  (A one-sweep
 * histogram would have to re-bin whenever the range grows; two exact
 * sweeps are simpler and calibration sets are small.)
 *
 * Choosing the range.  All methods but minmax pick a clipping threshold T
 * on |x|, and the range is [max(min, -T), min(max, T)] — symmetric clipping
 * as in TensorRT, which for the non-negative output of a Relu is [0, T].
 * The number of levels the range is cut into is 256 for a non-negative
 * tensor and 128 per side otherwise (uint8 over [-T, T]).
 *
 *   minmax      [min, max]: no clipping, so an outlier stretches the step.
 *   percentile  T = the P-th percentile of |x| (default 99.99): clips the
 *               rarest values (as in NVIDIA's pytorch-quantization).
 *   entropy     T minimising KL(P || Q), P the histogram clipped at T (the
 *               clipped mass added to the last bin), Q that histogram
 *               merged into the available levels and spread back over the
 *               non-empty bins (Migacz, "8-bit Inference with TensorRT",
 *               GTC 2017).
 *   mse         T minimising the expected squared error: for values
 *               below T, step^2 / 12 (uniform rounding error); above T,
 *               the clipping error (|x| - T)^2, both from bin centres
 *               (as in Banner et al., "ACIQ", 2019, but measured rather
 *               than fitted to a Laplace law).
 *
 * Every range is widened to contain 0, so zero (padding, Relu's floor) is
 * exactly representable.
 */
#include "calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"
#include "onnx/samples.h"
#include "passes.h"

const char *kiln_calib_method_name(kiln_calib_method m) {
  switch (m) {
  case KILN_CALIB_MINMAX: return "minmax";
  case KILN_CALIB_ENTROPY: return "entropy";
  case KILN_CALIB_MSE: return "mse";
  default: return "percentile";
  }
}

kiln_status kiln_calib_parse_method(kiln_ctx *ctx, const char *s, kiln_options *opt) {
  static const kiln_calib_method all[] = {KILN_CALIB_MINMAX, KILN_CALIB_PERCENTILE,
                                          KILN_CALIB_ENTROPY, KILN_CALIB_MSE};
  for (int i = 0; i < 4; i++) {
    const char *name = kiln_calib_method_name(all[i]);
    size_t n = strlen(name);
    if (strncmp(s, name, n) || (s[n] && !(s[n] == ':' && all[i] == KILN_CALIB_PERCENTILE)))
      continue;
    opt->calib_method = all[i];
    if (s[n] == ':') {
      char *end;
      double p = strtod(s + n + 1, &end);
      if (end == s + n + 1 || *end || !(p > 50 && p <= 100)) {
        kiln_error(ctx, "--method '%s': the percentile must be a number in (50, 100]", s);
        return KILN_ERR_INVALID_ARGUMENT;
      }
      opt->calib_percentile = p;
    }
    return KILN_OK;
  }
  kiln_error(ctx, "--method '%s': expected minmax, percentile[:P], entropy or mse", s);
  return KILN_ERR_INVALID_ARGUMENT;
}

static bool float_act(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].dtype == IR_F32 && g->values[v].storage != IR_STORAGE_CONST;
}

void kiln_calib_wanted(const ir_graph *g, bool *wanted) {
  memset(wanted, 0, (size_t)g->num_values * sizeof *wanted);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead || (nd->op != IR_OP_CONV && nd->op != IR_OP_GEMM && nd->op != IR_OP_MAT_MUL))
      continue;
    if (float_act(g, nd->inputs[0])) wanted[nd->inputs[0]] = true;
    if (nd->op == IR_OP_MAT_MUL && float_act(g, nd->inputs[1])) wanted[nd->inputs[1]] = true;
    if (float_act(g, nd->outputs[0])) wanted[nd->outputs[0]] = true;
  }
  /* in graph order: an Add of two of those (a residual connection, which
   * quantize makes a kiln.QAdd), and a Relu or Clip reading one of those
   * (quantize fuses it) */
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead || !float_act(g, nd->outputs[0])) continue;
    if (nd->op == IR_OP_ADD && nd->inputs[0] >= 0 && nd->inputs[1] >= 0 && wanted[nd->inputs[0]] &&
        wanted[nd->inputs[1]])
      wanted[nd->outputs[0]] = true;
    if ((nd->op == IR_OP_RELU || nd->op == IR_OP_CLIP) && nd->inputs[0] >= 0 && wanted[nd->inputs[0]])
      wanted[nd->outputs[0]] = true;
  }
}

/* ---- range methods ---------------------------------------------------------------- */
static double bin_width(const kiln_tensor_stats *t) {
  double a = fmax(fabs(t->min), fabs(t->max));
  return a > 0 ? a / KILN_CALIB_BINS : 0;
}

/* The smallest |x| below which a fraction `q` of the elements lie. */
static double hist_quantile(const kiln_tensor_stats *t, double q) {
  double w = bin_width(t);
  int64_t total = t->zeros;
  for (int i = 0; i < KILN_CALIB_BINS; i++) total += t->hist[i];
  if (!total || w == 0) return 0;
  double want = q * (double)total, seen = (double)t->zeros;
  if (seen >= want) return 0;
  for (int i = 0; i < KILN_CALIB_BINS; i++) {
    seen += (double)t->hist[i];
    if (seen >= want) return (i + 1) * w;
  }
  return KILN_CALIB_BINS * w;
}

/* KL(P || Q) at a threshold of `nb` bins: P is the histogram clipped
 * there, the clipped mass added to its last bin; Q is the unclipped part
 * merged into `levels` levels, each level's mass spread evenly over its
 * non-empty bins.  Leaving the clipped mass out of Q is what makes
 * clipping cost something (TensorRT's formulation). */
static double kl_at(const int64_t *h, int nb, int levels, double *p, double *q) {
  double tail = 0;
  for (int i = 0; i < KILN_CALIB_BINS; i++) {
    if (i < nb)
      p[i] = (double)h[i];
    else
      tail += (double)h[i];
  }
  p[nb - 1] += tail;
  for (int l = 0; l < levels; l++) {
    int lo = (int)((int64_t)l * nb / levels), hi = (int)((int64_t)(l + 1) * nb / levels);
    double mass = 0;
    int nonzero = 0;
    for (int i = lo; i < hi; i++) {
      mass += (double)h[i];
      nonzero += h[i] != 0;
    }
    for (int i = lo; i < hi; i++) q[i] = h[i] ? mass / nonzero : 0;
  }
  double ps = 0, qs = 0;
  for (int i = 0; i < nb; i++) ps += p[i], qs += q[i];
  if (ps == 0 || qs == 0) return INFINITY;
  /* a bin P has and Q lacks (only the last, through the tail) gets a
   * small floor, as in TensorRT, instead of an infinite divergence */
  double kl = 0;
  for (int i = 0; i < nb; i++)
    if (p[i] > 0) kl += p[i] / ps * log((p[i] / ps) / (q[i] > 0 ? q[i] / qs : 1e-4 / qs));
  return kl;
}

static double entropy_threshold(const kiln_tensor_stats *t, int levels) {
  double p[KILN_CALIB_BINS], q[KILN_CALIB_BINS];
  double best = INFINITY;
  int best_nb = KILN_CALIB_BINS;
  for (int nb = levels; nb <= KILN_CALIB_BINS; nb++) {
    double kl = kl_at(t->hist, nb, levels, p, q);
    if (kl < best) best = kl, best_nb = nb;
  }
  return best_nb * bin_width(t);
}

static double mse_threshold(const kiln_tensor_stats *t, int levels, bool sided) {
  double w = bin_width(t), best = INFINITY, best_t = KILN_CALIB_BINS * w;
  for (int nb = 16; nb <= KILN_CALIB_BINS; nb++) {
    double T = nb * w, step = (sided ? T : 2 * T) / (levels * (sided ? 1 : 2) - 1), err = 0;
    for (int i = 0; i < KILN_CALIB_BINS; i++) {
      if (!t->hist[i]) continue;
      double c = (i + 0.5) * w;
      err += (double)t->hist[i] * (c <= T ? step * step / 12 : (c - T) * (c - T));
    }
    if (err < best) best = err, best_t = T;
  }
  return best_t;
}

void kiln_calib_choose_range(kiln_tensor_stats *t, kiln_calib_method method, double percentile) {
  bool sided = t->min >= 0;
  int levels = sided ? 256 : 128;
  t->p99 = hist_quantile(t, 0.99);
  t->p9999 = hist_quantile(t, 0.9999);
  double T;
  switch (method) {
  case KILN_CALIB_MINMAX: T = INFINITY; break;
  case KILN_CALIB_ENTROPY: T = entropy_threshold(t, levels); break;
  case KILN_CALIB_MSE: T = mse_threshold(t, levels, sided); break;
  default: T = hist_quantile(t, percentile / 100); break;
  }
  t->lo = fmin(0, fmax(t->min, -T));
  t->hi = fmax(0, fmin(t->max, T));
}

/* ---- running the samples ------------------------------------------------------------ */
static void progress(bool tty, const char *what, int done, int total) {
  if (!tty) return;
  int width = 30, fill = total ? done * width / total : width;
  fprintf(stderr, "\r%s [%.*s%*s] %d/%d", what, fill, "##############################",
          width - fill, "", done, total);
  if (done == total) fputc('\n', stderr);
  fflush(stderr);
}

kiln_status kiln_run_taps(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *dir,
                          const ir_value_id *taps, int ntaps, int sweeps, const char *what,
                          kiln_tap_fn fn, void *user) {
  kiln_samples samples;
  kiln_status st = kiln_samples_open(ctx, dir, g, &samples);
  if (st) return st;
  /* where each tap is read: a sample input, an output of the model, or
   * an output the clone adds */
  ir_graph *c = ir_graph_clone_borrowing(g);
  int norig = c->num_outputs;
  int *from_input = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *from_input);
  int *from_output = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *from_output);
  ir_value_id *outs = ir_arena_alloc(&c->arena, (size_t)(norig + ntaps + 1) * sizeof *outs);
  memcpy(outs, c->outputs, (size_t)norig * sizeof *outs);
  for (int k = 0; k < ntaps; k++) {
    ir_value_id v = taps[k];
    from_input[k] = from_output[k] = -1;
    for (int i = 0; i < g->num_inputs; i++)
      if (g->inputs[i] == v) from_input[k] = i;
    for (int o = 0; o < c->num_outputs; o++)
      if (outs[o] == v) from_output[k] = o;
    if (from_input[k] < 0 && from_output[k] < 0) {
      from_output[k] = c->num_outputs;
      outs[c->num_outputs++] = v;
      c->values[v].storage = IR_STORAGE_OUTPUT;
    }
  }
  c->outputs = outs;

  kiln_options copt = *opt;
  copt.memory_report = false;
  copt.memory_svg = NULL;
  cg_jit *jit = NULL;
  st = pass_plan_memory(ctx, c, &copt);
  if (!st) st = cg_jit_compile(ctx, c, &copt, "kiln_taps", &jit);
  const kiln_model *m = jit ? cg_jit_model(jit) : NULL;
  kiln_host_tensor *in = kiln_calloc(ctx, (size_t)g->num_inputs + 1, sizeof *in);
  void **obuf = kiln_calloc(ctx, (size_t)(m ? m->num_outputs : 0) + 1, sizeof *obuf);
  const void **ibuf = kiln_calloc(ctx, (size_t)g->num_inputs + 1, sizeof *ibuf);
  const void **tap = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *tap);
  int64_t *numel = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *numel);
  void *ws = NULL;
  bool tty = ctx->diag_stream == stderr && isatty(2);
  if (m) {
    for (int o = 0; o < m->num_outputs; o++) {
      int64_t n = 1;
      for (int d = 0; d < m->outputs[o].rank; d++) n *= m->outputs[o].shape[d];
      obuf[o] = kiln_calloc(ctx, (size_t)ir_dtype_bytes((ir_dtype)m->outputs[o].dtype, n) + 1, 1);
    }
    ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64 + 64);
    if (!ws) st = KILN_ERR_NOMEM;
  }
  for (int sweep = 0; sweep < sweeps && !st; sweep++) {
    char label[96];
    snprintf(label, sizeof label, "%s%s", what, sweeps > 1 ? (sweep ? " (2/2)" : " (1/2)") : "");
    for (int i = 0; i < samples.count && !st; i++) {
      progress(tty, label, i, samples.count);
      if ((st = kiln_samples_load(&samples, i, in))) break;
      for (int k = 0; k < g->num_inputs; k++) ibuf[k] = in[k].data;
      kiln_run_options ro = {.num_threads = opt->threads};
      int rs = m->run(ibuf, obuf, ws, &ro);
      if (rs) {
        kiln_error(ctx, "run on sample %d failed: %s", i, kiln_status_string(rs));
        st = KILN_ERR_INTERNAL;
      }
      for (int k = 0; k < ntaps && !st; k++) {
        if (from_input[k] >= 0) {
          tap[k] = in[from_input[k]].data;
          numel[k] = kiln_tensor_numel(&in[from_input[k]]);
        } else {
          const kiln_tensor_info *info = &m->outputs[from_output[k]];
          tap[k] = obuf[from_output[k]];
          numel[k] = 1;
          for (int d = 0; d < info->rank; d++) numel[k] *= info->shape[d];
        }
      }
      if (!st) st = fn(user, sweep, i, tap, numel);
      for (int k = 0; k < g->num_inputs; k++) kiln_tensor_free(ctx, &in[k]);
    }
    if (!st) progress(tty, label, samples.count, samples.count);
  }
  free(ws);
  if (m)
    for (int o = 0; o < m->num_outputs; o++) kiln_free(ctx, obuf[o]);
  kiln_free(ctx, obuf);
  kiln_free(ctx, (void *)ibuf);
  kiln_free(ctx, (void *)tap);
  kiln_free(ctx, numel);
  kiln_free(ctx, in);
  kiln_free(ctx, from_input);
  kiln_free(ctx, from_output);
  cg_jit_free(jit);
  ir_graph_free(c);
  if (!st && samples.count == 0) st = KILN_ERR_INVALID_ARGUMENT;
  kiln_samples_close(&samples);
  return st;
}

/* Statistics of the watched tensors: sweep 0 min/max/moments, sweep 1
 * the histogram of |x| (whose bin width needs sweep 0's extremes). */
typedef struct stats_acc {
  kiln_calib_profile *p;
  double *sum, *sumsq;
  int samples;
} stats_acc;

static kiln_status accumulate(void *user, int sweep, int sample, const void *const *tap,
                              const int64_t *numel) {
  stats_acc *a = user;
  if (sweep == 0 && sample >= a->samples) a->samples = sample + 1;
  for (int k = 0; k < a->p->count; k++) {
    kiln_tensor_stats *t = &a->p->tensors[k];
    const float *x = tap[k];
    int64_t n = numel[k];
    if (!sweep) {
      for (int64_t e = 0; e < n; e++) {
        double v = x[e];
        if (v < t->min) t->min = v;
        if (v > t->max) t->max = v;
        a->sum[k] += v;
        a->sumsq[k] += v * v;
      }
      t->count += n;
    } else {
      double bw = bin_width(t);
      for (int64_t e = 0; e < n; e++) {
        if (x[e] == 0) {
          t->zeros++;
          continue;
        }
        int b = bw > 0 ? (int)(fabs(x[e]) / bw) : 0;
        t->hist[b < KILN_CALIB_BINS ? b : KILN_CALIB_BINS - 1]++;
      }
    }
  }
  return KILN_OK;
}

kiln_status kiln_calibrate(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *dir,
                           kiln_calib_profile *out) {
  memset(out, 0, sizeof *out);
  bool *wanted = kiln_calloc(ctx, (size_t)g->num_values + 1, sizeof *wanted);
  kiln_calib_wanted(g, wanted);
  ir_value_id *taps = kiln_calloc(ctx, (size_t)g->num_values + 1, sizeof *taps);
  int nw = 0;
  for (ir_value_id v = 0; v < g->num_values; v++)
    if (wanted[v] && !g->values[v].dead) taps[nw++] = v;
  out->version = KILN_PROFILE_VERSION;
  out->model = kiln_strdup(ctx, g->name ? g->name : "main");
  out->method = opt->calib_method;
  out->percentile = opt->calib_percentile;
  out->count = nw;
  out->tensors = kiln_calloc(ctx, (size_t)nw + 1, sizeof *out->tensors);
  for (int k = 0; k < nw; k++) {
    kiln_tensor_stats *t = &out->tensors[k];
    t->name = kiln_strdup(ctx, g->values[taps[k]].name);
    t->min = INFINITY;
    t->max = -INFINITY;
    t->hist = kiln_calloc(ctx, KILN_CALIB_BINS, sizeof *t->hist);
  }
  stats_acc acc = {.p = out};
  acc.sum = kiln_calloc(ctx, (size_t)nw + 1, sizeof *acc.sum);
  acc.sumsq = kiln_calloc(ctx, (size_t)nw + 1, sizeof *acc.sumsq);
  kiln_status st = kiln_run_taps(ctx, g, opt, dir, taps, nw, 2, "calibrating", accumulate, &acc);
  out->samples = acc.samples;
  for (int k = 0; k < nw && !st; k++) {
    kiln_tensor_stats *t = &out->tensors[k];
    if (!isfinite(t->min) || !isfinite(t->max)) {
      kiln_error(ctx, "calibration: tensor '%s' holds a NaN or infinite value (or no elements)",
                 t->name);
      st = KILN_ERR_INVALID_ARGUMENT;
      break;
    }
    double n = t->count ? (double)t->count : 1;
    t->mean = acc.sum[k] / n;
    t->std = sqrt(fmax(0, acc.sumsq[k] / n - t->mean * t->mean));
    kiln_calib_choose_range(t, opt->calib_method, opt->calib_percentile);
  }
  kiln_free(ctx, acc.sum);
  kiln_free(ctx, acc.sumsq);
  kiln_free(ctx, taps);
  kiln_free(ctx, wanted);
  if (st) kiln_profile_free(ctx, out);
  return st;
}

const kiln_tensor_stats *kiln_profile_find(const kiln_calib_profile *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (!strcmp(p->tensors[i].name, name)) return &p->tensors[i];
  return NULL;
}

void kiln_profile_free(kiln_ctx *ctx, kiln_calib_profile *p) {
  for (int i = 0; i < p->count; i++) {
    kiln_free(ctx, p->tensors[i].name);
    kiln_free(ctx, p->tensors[i].hist);
  }
  kiln_free(ctx, p->tensors);
  kiln_free(ctx, p->model);
  memset(p, 0, sizeof *p);
}

/* The pass: calibrates on opt->calib_data and writes the profile to
 * opt->calib_output (stdout when unset).  The graph is left unchanged. */
kiln_status pass_calibrate(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  if (!opt->calib_data) {
    kiln_error(ctx, "the calibrate pass needs calibration samples (--data DIR)");
    return KILN_ERR_INVALID_ARGUMENT;
  }
  kiln_calib_profile p;
  kiln_status st = kiln_calibrate(ctx, g, opt, opt->calib_data, &p);
  if (st) return st;
  st = kiln_profile_write(ctx, &p, opt->calib_output ? opt->calib_output : "-");
  kiln_profile_free(ctx, &p);
  return st;
}
