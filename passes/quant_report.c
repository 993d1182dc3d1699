/*
 * quant_report.c — `--quant-report FILE.md`: how much each quantized node
 * costs in accuracy, measured on the calibration samples.
 *
 * The float graph (a borrowing clone taken before the quantize pass
 * rewrote anything) and the quantized graph both run on every sample of
 * --data, each through the JIT with the tensors of interest tapped as
 * extra outputs.  For every float value the pass replaced by a uint8 one,
 * the report gives the signal-to-quantization-noise ratio
 *
 *     SQNR = 10 log10( sum f^2 / sum (f - dequant(q))^2 )   dB
 *
 * over all samples (about 6 dB per bit: a clean int8 tensor shows 30-45
 * dB; one well below its neighbours marks a node worth --keep-float), and
 * for every graph output the largest absolute error, the error relative
 * to the output's largest magnitude, and for [N, C] outputs the top-1
 * agreement of the rows.  The error at a node includes what the nodes
 * before it contributed, as it does at inference.
 *
 * The float taps of every sample are kept in memory between the two runs
 * (the report is for calibration-sized data sets).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "calibrate.h"
#include "passes.h"

typedef struct report {
  kiln_ctx *ctx;
  int ntaps;             /* float taps: the replaced values, then the outputs */
  int nq;                /* of which the replaced values */
  const ir_value_id *qtaps;  /* quantized graph's taps, same order */
  const ir_graph *qg;
  float **saved;         /* [sample * ntaps + k] float data */
  int64_t *saved_n;
  int cap_samples;
  double *sig, *noise, *maxerr, *maxabs;
  int64_t *rows, *agree;
} report;

static kiln_status save_float(void *user, int sweep, int sample, const void *const *tap,
                              const int64_t *numel) {
  report *r = user;
  if (sample >= r->cap_samples) {
    int cap = r->cap_samples ? 2 * r->cap_samples : 16;
    while (cap <= sample) cap *= 2;
    r->saved = kiln_realloc(r->ctx, r->saved, (size_t)cap * (size_t)r->ntaps * sizeof *r->saved);
    r->saved_n = kiln_realloc(r->ctx, r->saved_n, (size_t)cap * (size_t)r->ntaps * sizeof *r->saved_n);
    memset(r->saved + (size_t)r->cap_samples * (size_t)r->ntaps, 0,
           (size_t)(cap - r->cap_samples) * (size_t)r->ntaps * sizeof *r->saved);
    r->cap_samples = cap;
  }
  for (int k = 0; k < r->ntaps; k++) {
    size_t at = (size_t)sample * (size_t)r->ntaps + (size_t)k;
    r->saved[at] = kiln_malloc(r->ctx, (size_t)numel[k] * sizeof(float) + 1);
    memcpy(r->saved[at], tap[k], (size_t)numel[k] * sizeof(float));
    r->saved_n[at] = numel[k];
  }
  return KILN_OK;
}

static kiln_status compare(void *user, int sweep, int sample, const void *const *tap,
                           const int64_t *numel) {
  report *r = user;
  for (int k = 0; k < r->ntaps; k++) {
    size_t at = (size_t)sample * (size_t)r->ntaps + (size_t)k;
    const float *f = r->saved[at];
    if (numel[k] != r->saved_n[at]) return KILN_ERR_INTERNAL;
    const ir_value *qv = &r->qg->values[r->qtaps[k]];
    bool u8 = qv->dtype == IR_U8 && qv->quant;
    double s = u8 ? qv->quant->scales[0] : 1, z = u8 && qv->quant->zero_points ? qv->quant->zero_points[0] : 0;
    for (int64_t e = 0; e < numel[k]; e++) {
      double q = u8 ? ((const uint8_t *)tap[k])[e] : ((const float *)tap[k])[e];
      double d = (u8 ? (q - z) * s : q) - f[e];
      r->sig[k] += (double)f[e] * f[e];
      r->noise[k] += d * d;
      r->maxerr[k] = fmax(r->maxerr[k], fabs(d));
      r->maxabs[k] = fmax(r->maxabs[k], fabs(f[e]));
    }
    /* top-1 agreement of the rows of a 2-D output */
    const ir_shape *sh = &qv->shape;
    if (k >= r->nq && !u8 && sh->rank == 2 && sh->dims[1] > 1) {
      int64_t C = sh->dims[1];
      for (int64_t row = 0; row < numel[k] / C; row++) {
        const float *a = f + row * C, *b = (const float *)tap[k] + row * C;
        int64_t ia = 0, ib = 0;
        for (int64_t c = 1; c < C; c++) {
          if (a[c] > a[ia]) ia = c;
          if (b[c] > b[ib]) ib = c;
        }
        r->rows[k]++;
        r->agree[k] += ia == ib;
      }
    }
  }
  return KILN_OK;
}

static double sqnr(double sig, double noise) {
  if (noise <= 0) return INFINITY;
  return 10 * log10(sig / noise);
}

kiln_status kiln_quant_report(kiln_ctx *ctx, ir_graph *fg, ir_graph *qg, const ir_value_id *qv,
                              int32_t nvalues, const kiln_options *opt, const char *budget_notes) {
  if (!opt->calib_data) {
    kiln_error(ctx, "--quant-report measures on calibration samples: give --data DIR");
    return KILN_ERR_INVALID_ARGUMENT;
  }
  int nq = 0;
  ir_value_id *ftaps = kiln_calloc(ctx, (size_t)nvalues + (size_t)fg->num_outputs + 1, sizeof *ftaps);
  ir_value_id *qtaps = kiln_calloc(ctx, (size_t)nvalues + (size_t)fg->num_outputs + 1, sizeof *qtaps);
  for (ir_value_id v = 0; v < nvalues; v++) {
    if (qv[v] == IR_NONE || qg->values[qv[v]].dead || fg->values[v].dtype != IR_F32) continue;
    ir_node_id p = qg->values[qv[v]].producer;
    if (p == IR_NONE || (qg->nodes[p].op != IR_OP_QCONV && qg->nodes[p].op != IR_OP_QMAT_MUL &&
                         qg->nodes[p].op != IR_OP_QADD &&
                         qg->nodes[p].op != IR_OP_QUANTIZE_LINEAR))
      continue;
    ftaps[nq] = v;
    qtaps[nq++] = qv[v];
  }
  int ntaps = nq;
  for (int o = 0; o < fg->num_outputs; o++)
    if (fg->values[fg->outputs[o]].dtype == IR_F32) {
      ftaps[ntaps] = fg->outputs[o];
      qtaps[ntaps++] = qg->outputs[o];
    }
  report r = {.ctx = ctx, .ntaps = ntaps, .nq = nq, .qtaps = qtaps, .qg = qg};
  r.sig = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.sig);
  r.noise = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.noise);
  r.maxerr = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.maxerr);
  r.maxabs = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.maxabs);
  r.rows = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.rows);
  r.agree = kiln_calloc(ctx, (size_t)ntaps + 1, sizeof *r.agree);
  kiln_status st = kiln_run_taps(ctx, fg, opt, opt->calib_data, ftaps, ntaps, 1,
                                 "quant report: float", save_float, &r);
  if (!st)
    st = kiln_run_taps(ctx, qg, opt, opt->calib_data, qtaps, ntaps, 1, "quant report: int8",
                       compare, &r);
  FILE *f = NULL;
  if (!st && !(f = fopen(opt->quant_report, "w"))) {
    kiln_error(ctx, "cannot write the quantization report '%s'", opt->quant_report);
    st = KILN_ERR_IO;
  }
  if (!st) {
    int samples = 0;
    for (int i = 0; i < r.cap_samples; i++) samples += r.saved[(size_t)i * (size_t)ntaps] != NULL;
    fprintf(f, "# Quantization report: %s\n\n", qg->name ? qg->name : "model");
    bool w4 = opt->quantize && opt->quantize[1] == '4'; /* w4a8, w4a16: int4 weights per group */
    char wdesc[64];
    if (w4)
      snprintf(wdesc, sizeof wdesc, "int4 per group of %d", opt->group_size > 0 ? opt->group_size : 128);
    fprintf(f, "%s, %s weights, ranges from %s; measured on %d samples of `%s`.\n\n",
            opt->quantize ? opt->quantize : "int8",
            w4 ? wdesc : opt->per_tensor ? "per-tensor" : "per-channel",
            opt->quant_profile ? opt->quant_profile : kiln_calib_method_name(opt->calib_method),
            samples, opt->calib_data);
    if (opt->accuracy_budget > 0)
      fprintf(f, "## Mixed precision\n\n--accuracy-budget %g (max |int8 - fp32| / max |fp32| over "
              "the outputs):\n\n%s\n", opt->accuracy_budget,
              budget_notes ? budget_notes : "- every node quantized: the error is within the budget\n");
    fprintf(f, "## Quantized tensors\n\nSQNR = 10 log10(sum f^2 / sum (f - int8)^2) against the "
            "float model, errors accumulated from the input on.\n\n");
    fprintf(f, "| node | op | tensor | scale | zero point | SQNR (dB) | max abs error |\n");
    fprintf(f, "|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < nq; k++) {
      const ir_value *v = &qg->values[qtaps[k]];
      const ir_node *p = &qg->nodes[v->producer];
      fprintf(f, "| `%s` | %s | `%s` | %.6g | %d | %.1f | %.4g |\n", p->name, ir_ops[p->op].name,
              fg->values[ftaps[k]].name, v->quant->scales[0],
              v->quant->zero_points ? v->quant->zero_points[0] : 0, sqnr(r.sig[k], r.noise[k]),
              r.maxerr[k]);
    }
    fprintf(f, "\n## Outputs\n\n| output | SQNR (dB) | max abs error | max abs error / max |float| "
            "| top-1 agreement |\n|---|---|---|---|---|\n");
    for (int k = nq; k < ntaps; k++) {
      fprintf(f, "| `%s` | %.1f | %.4g | %.4g | ", fg->values[ftaps[k]].name,
              sqnr(r.sig[k], r.noise[k]), r.maxerr[k], r.maxabs[k] > 0 ? r.maxerr[k] / r.maxabs[k] : 0);
      if (r.rows[k])
        fprintf(f, "%.4f (%lld of %lld rows) |\n", (double)r.agree[k] / (double)r.rows[k],
                (long long)r.agree[k], (long long)r.rows[k]);
      else
        fprintf(f, "- |\n");
    }
    if (fclose(f)) st = KILN_ERR_IO;
  }
  for (size_t i = 0; i < (size_t)r.cap_samples * (size_t)ntaps; i++) kiln_free(ctx, r.saved[i]);
  kiln_free(ctx, r.saved);
  kiln_free(ctx, r.saved_n);
  kiln_free(ctx, r.sig);
  kiln_free(ctx, r.noise);
  kiln_free(ctx, r.maxerr);
  kiln_free(ctx, r.maxabs);
  kiln_free(ctx, r.rows);
  kiln_free(ctx, r.agree);
  kiln_free(ctx, ftaps);
  kiln_free(ctx, qtaps);
  return st;
}

/* ---- the error of a quantized variant (--accuracy-budget) ------------------------ */
struct kiln_float_ref {
  report r;              /* saved float outputs; the error fields are reset per use */
  ir_value_id *taps;
};

kiln_status kiln_float_ref_make(kiln_ctx *ctx, ir_graph *fg, const kiln_options *opt,
                                kiln_float_ref **out) {
  kiln_float_ref *f = kiln_calloc(ctx, 1, sizeof *f);
  f->taps = kiln_calloc(ctx, (size_t)fg->num_outputs + 1, sizeof *f->taps);
  int n = 0;
  for (int o = 0; o < fg->num_outputs; o++)
    if (fg->values[fg->outputs[o]].dtype == IR_F32) f->taps[n++] = fg->outputs[o];
  f->r = (report){.ctx = ctx, .ntaps = n, .nq = n, .qtaps = f->taps};
  *out = f;
  return kiln_run_taps(ctx, fg, opt, opt->calib_data, f->taps, n, 1, "accuracy budget: float",
                       save_float, &f->r);
}

kiln_status kiln_output_error(kiln_ctx *ctx, kiln_float_ref *ref, ir_graph *qg,
                              const kiln_options *opt, double *err) {
  report *r = &ref->r;
  int n = r->ntaps;
  r->qg = qg;
  r->sig = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->sig);
  r->noise = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->noise);
  r->maxerr = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->maxerr);
  r->maxabs = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->maxabs);
  r->rows = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->rows);
  r->agree = kiln_calloc(ctx, (size_t)n + 1, sizeof *r->agree);
  /* the outputs keep their value ids through the quantize rewrite */
  kiln_status st = kiln_run_taps(ctx, qg, opt, opt->calib_data, ref->taps, n, 1,
                                 "accuracy budget: int8", compare, r);
  *err = 0;
  for (int k = 0; k < n; k++)
    if (r->maxabs[k] > 0) *err = fmax(*err, r->maxerr[k] / r->maxabs[k]);
  kiln_free(ctx, r->sig);
  kiln_free(ctx, r->noise);
  kiln_free(ctx, r->maxerr);
  kiln_free(ctx, r->maxabs);
  kiln_free(ctx, r->rows);
  kiln_free(ctx, r->agree);
  return st;
}

void kiln_float_ref_free(kiln_ctx *ctx, kiln_float_ref *ref) {
  if (!ref) return;
  report *r = &ref->r;
  for (size_t i = 0; i < (size_t)r->cap_samples * (size_t)r->ntaps; i++) kiln_free(ctx, r->saved[i]);
  kiln_free(ctx, r->saved);
  kiln_free(ctx, r->saved_n);
  kiln_free(ctx, ref->taps);
  kiln_free(ctx, ref);
}
