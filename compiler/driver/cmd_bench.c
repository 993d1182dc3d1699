/*
 * cmd_bench.c — `kiln bench MODEL.onnx`: how fast one run is.
 *
 * Compiles the model in memory like `kiln run` (same passes, same LLVM
 * module), fills every input with generated data, runs --warmup untimed
 * runs, then --iterations timed ones, and prints the latency
 * distribution (min, median, p90, p99, mean) and the throughput, as
 * onnxruntime_perf_test does.  Generated data: floats uniform in [-1, 1)
 * from a fixed seed (so runs are repeatable), integers and booleans 0
 * (a valid index or token id for any model).  Symbolic input dims need
 * --shape, as in `kiln compile`.
 *
 * Each run is timed alone with CLOCK_MONOTONIC; the percentiles are the
 * nearest-rank values of the sorted times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "driver.h"
#include "passes.h"

static int cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return a < b ? -1 : a > b;
}

/* Nearest-rank percentile p (0..100) of sorted t[0..n). */
static double percentile(const double *t, int n, double p) {
  int k = (int)(p / 100.0 * n + 0.999999) - 1;
  if (k < 0) k = 0;
  if (k >= n) k = n - 1;
  return t[k];
}

/* Fills a buffer of dtype dt: floats from a 64-bit LCG, others zero. */
static void fill(void *data, int dtype, int64_t numel, uint64_t *seed) {
  for (int64_t i = 0; i < numel; i++) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(*seed >> 11) / (double)(1ull << 53) * 2 - 1;
    if (dtype == KILN_F32) ((float *)data)[i] = (float)u;
    else if (dtype == KILN_F64) ((double *)data)[i] = u;
  }
}

static int bench(kiln_ctx *ctx, const drv_args *a, const kiln_model *m) {
  const void **ins = kiln_calloc(ctx, (size_t)m->num_inputs + 1, sizeof *ins);
  void **outs = kiln_calloc(ctx, (size_t)m->num_outputs + 1, sizeof *outs);
  uint64_t seed = 42;
  for (int i = 0; i < m->num_inputs; i++) {
    const kiln_tensor_info *t = &m->inputs[i];
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++) numel *= t->shape[d];
    void *buf = kiln_calloc(ctx, (size_t)ir_dtype_bytes((ir_dtype)t->dtype, numel) + 1, 1);
    fill(buf, t->dtype, numel, &seed);
    ins[i] = buf;
  }
  for (int o = 0; o < m->num_outputs; o++) {
    const kiln_tensor_info *t = &m->outputs[o];
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++) numel *= t->shape[d];
    outs[o] = kiln_calloc(ctx, (size_t)ir_dtype_bytes((ir_dtype)t->dtype, numel) + 1, 1);
  }
  size_t ws = (m->workspace_size + 63) / 64 * 64;
  void *workspace = aligned_alloc(64, ws ? ws : 64);
  kiln_run_options ro = {.num_threads = a->opt.threads};
  double *times = kiln_calloc(ctx, (size_t)a->iterations + 1, sizeof *times);
  int st = workspace ? KILN_OK : KILN_ERR_NOMEM;
  for (int r = 0; !st && r < a->warmup; r++) st = m->run(ins, outs, workspace, &ro);
  double total = 0;
  for (int r = 0; !st && r < a->iterations; r++) {
    double t0 = drv_now();
    st = m->run(ins, outs, workspace, &ro);
    times[r] = drv_now() - t0;
    total += times[r];
  }
  int rc = 0;
  if (st) {
    kiln_error(ctx, "run failed: %s (status %d)", kiln_status_string(st), st);
    rc = 1;
  } else {
    int n = a->iterations;
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    double mean = total / n;
    char threads[48];
    if (a->opt.threads)
      snprintf(threads, sizeof threads, "%d", a->opt.threads);
    else
      snprintf(threads, sizeof threads, "default (KILN_NUM_THREADS or all cores)");
    printf("kiln: bench %s: %d runs after %d warm-up, threads %s, workspace %lld bytes\n", a->model,
           n, a->warmup, threads, (long long)m->workspace_size);
    printf("latency ms  min %.4f  median %.4f  p90 %.4f  p99 %.4f  mean %.4f  max %.4f\n",
           times[0] * 1e3, percentile(times, n, 50) * 1e3, percentile(times, n, 90) * 1e3,
           percentile(times, n, 99) * 1e3, mean * 1e3, times[n - 1] * 1e3);
    printf("throughput  %.2f runs/s\n", 1.0 / mean);
  }
  free(workspace);
  kiln_free(ctx, times);
  for (int i = 0; i < m->num_inputs; i++) kiln_free(ctx, (void *)ins[i]);
  for (int o = 0; o < m->num_outputs; o++) kiln_free(ctx, outs[o]);
  kiln_free(ctx, (void *)ins);
  kiln_free(ctx, outs);
  return rc;
}

int kiln_cmd_bench(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_BENCH);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  ir_graph *g = NULL;
  cg_jit *jit = NULL;
  int rc = drv_parse(&ctx, &a, argc, argv);
  ctx.verbose = a.verbose;
  ctx.timing = a.time;
  if (rc) {
    if (rc > 0) drv_print_help(DRV_BENCH, stdout);
    rc = rc > 0 ? 0 : 2;
    goto out;
  }
  if (!a.model) {
    kiln_error(&ctx, "bench: no model given (usage: kiln bench MODEL.onnx [options])");
    rc = 2;
    goto out;
  }
  g = drv_load(&ctx, a.model, &a.opt);
  if (!g || drv_prepare_for_codegen(&ctx, g, &a.opt) != KILN_OK ||
      cg_jit_compile(&ctx, g, &a.opt, "model", &jit) != KILN_OK) {
    rc = 1;
    goto out;
  }
  rc = bench(&ctx, &a, cg_jit_model(jit));
out:
  if (jit) cg_jit_free(jit);
  ir_graph_free(g);
  drv_args_free(&ctx, &a);
  return rc;
}
