/*
 * tune_ab.c — default against tuned schedules, in one process (bench/tune_ab.sh).
 *
 * Links two kiln libraries of one model (NAME_A: the default schedules,
 * NAME_B: compiled with --tuning), runs them alternately on the same
 * generated inputs and prints the median and minimum thread CPU time and
 * wall time of each, their ratio, and the largest output difference.
 * Alternating runs and CPU time keep the comparison fair on a shared
 * machine, where wall time of separate processes drifts with the load.
 *
 *   cc -DMODEL_A=a_model -DMODEL_B=b_model tune_ab.c liba.a libb.a -lpthread -lm
 *   ./tune_ab ROUNDS THREADS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kiln.h"

extern const kiln_model MODEL_A, MODEL_B;

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static size_t numel(const kiln_tensor_info *t) {
  size_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 15, threads = argc > 2 ? atoi(argv[2]) : 1;
  if (rounds < 1 || rounds > 1000) return 2;
  const kiln_model *m[2] = {&MODEL_A, &MODEL_B};
  void *ins[2][16], *outs[2][16], *ws[2];
  for (int k = 0; k < 2; k++) {
    if (m[k]->num_inputs > 16 || m[k]->num_outputs > 16) return 2;
    for (int i = 0; i < m[k]->num_inputs; i++) {
      size_t n = numel(&m[k]->inputs[i]);
      float *x = calloc(n * 8 + 8, 1);
      if (m[k]->inputs[i].dtype == KILN_F32)
        for (size_t e = 0; e < n; e++) x[e] = (float)((e * 2654435761u) % 1000) / 500.0f - 1;
      ins[k][i] = x;
    }
    for (int o = 0; o < m[k]->num_outputs; o++) outs[k][o] = calloc(numel(&m[k]->outputs[o]) * 8 + 8, 1);
    ws[k] = aligned_alloc(64, (m[k]->workspace_size + 127) / 64 * 64);
  }
  kiln_run_options ro = {.num_threads = threads};
  double *cpu[2], *wall[2];
  for (int k = 0; k < 2; k++) cpu[k] = calloc((size_t)rounds, sizeof(double)), wall[k] = calloc((size_t)rounds, sizeof(double));
  for (int r = -2; r < rounds; r++) /* two warm-up rounds */
    for (int k = 0; k < 2; k++) {
      double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
      if (m[k]->run((const void *const *)ins[k], outs[k], ws[k], &ro)) return 1;
      if (r >= 0) cpu[k][r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall[k][r] = clock_s(CLOCK_MONOTONIC) - w0;
    }
  double maxd = 0;
  if (m[0]->outputs[0].dtype == KILN_F32)
    for (size_t i = 0; i < numel(&m[0]->outputs[0]); i++) {
      double d = ((float *)outs[0][0])[i] - ((float *)outs[1][0])[i];
      if (d < 0) d = -d;
      if (!(d <= maxd)) maxd = d;
    }
  for (int k = 0; k < 2; k++) qsort(cpu[k], (size_t)rounds, sizeof(double), cmp), qsort(wall[k], (size_t)rounds, sizeof(double), cmp);
  int h = rounds / 2;
  printf("cpu ms   median default %.2f tuned %.2f speed-up %.3f | min default %.2f tuned %.2f speed-up %.3f\n",
         cpu[0][h] * 1e3, cpu[1][h] * 1e3, cpu[0][h] / cpu[1][h], cpu[0][0] * 1e3, cpu[1][0] * 1e3, cpu[0][0] / cpu[1][0]);
  printf("wall ms  median default %.2f tuned %.2f speed-up %.3f\n", wall[0][h] * 1e3, wall[1][h] * 1e3,
         wall[0][h] / wall[1][h]);
  printf("max |output difference| %.3g\n", maxd);
  return 0;
}
