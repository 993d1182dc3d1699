/*
 * kiln_bench.c — the kiln side of bench/bench.py: a program linked against
 * one kiln-generated library (`cc kiln_bench.c libNAME.a -lpthread -lm`,
 * KILN_MODEL defined to NAME_model), driven line by line on stdin so the
 * benchmark can interleave it with ONNX Runtime (bench/ort_bench.js speaks
 * the same protocol) while both keep their warm state.
 *
 *   kiln_bench THREADS IN_0.bin ... OUT_0.bin ...
 *
 * At start it reads each input (raw little-endian bytes of the size the
 * model's tensor info gives), runs the model once, writes each output raw
 * (bench.py compares them with ONNX Runtime's) and prints "ready".  Then
 * for each line "run N" it runs the model N times and prints the wall time
 * of each run in milliseconds on one line; "quit" or end of input ends it.
 * Runs allocate nothing: inputs, outputs and the workspace are allocated
 * once, as a real program would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

extern const kiln_model KILN_MODEL;

static size_t tensor_bytes(const kiln_tensor_info *t) {
  static const int sizes[] = {[KILN_F32] = 4, [KILN_U8] = 1, [KILN_I8] = 1, [KILN_U16] = 2,
                              [KILN_I16] = 2, [KILN_I32] = 4, [KILN_I64] = 8, [KILN_BOOL] = 1,
                              [KILN_F16] = 2, [KILN_F64] = 8, [KILN_U32] = 4, [KILN_U64] = 8};
  size_t n = (size_t)sizes[t->dtype];
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
  const kiln_model *m = &KILN_MODEL;
  if (argc != 2 + m->num_inputs + m->num_outputs || m->num_inputs > 64 || m->num_outputs > 64) {
    fprintf(stderr, "usage: %s THREADS IN*%d OUT*%d\n", argv[0], m->num_inputs, m->num_outputs);
    return 2;
  }
  kiln_run_options opt = {.num_threads = atoi(argv[1])};
  const void *ins[64];
  void *outs[64];
  for (int i = 0; i < m->num_inputs; i++) {
    size_t n = tensor_bytes(&m->inputs[i]);
    void *buf = malloc(n + 1);
    FILE *f = fopen(argv[2 + i], "rb");
    if (!buf || !f || fread(buf, 1, n, f) != n) {
      fprintf(stderr, "%s: cannot read %zu bytes\n", argv[2 + i], n);
      return 1;
    }
    fclose(f);
    ins[i] = buf;
  }
  for (int o = 0; o < m->num_outputs; o++) outs[o] = calloc(1, tensor_bytes(&m->outputs[o]) + 1);
  void *ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64 + 64);

  int st = m->run(ins, outs, ws, &opt);
  if (st) {
    fprintf(stderr, "run: %s\n", kiln_status_string(st));
    return 1;
  }
  for (int o = 0; o < m->num_outputs; o++) {
    const char *path = argv[2 + m->num_inputs + o];
    size_t n = tensor_bytes(&m->outputs[o]);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(outs[o], 1, n, f) != n || fclose(f)) {
      fprintf(stderr, "%s: cannot write\n", path);
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);

  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    int n;
    if (strncmp(line, "quit", 4) == 0) break;
    if (sscanf(line, "run %d", &n) != 1 || n < 1) {
      fprintf(stderr, "kiln_bench: bad command: %s", line);
      return 2;
    }
    for (int r = 0; r < n; r++) {
      double t0 = now_ms();
      st = m->run(ins, outs, ws, &opt);
      double t1 = now_ms();
      if (st) {
        fprintf(stderr, "run: %s\n", kiln_status_string(st));
        return 1;
      }
      printf(r ? " %.4f" : "%.4f", t1 - t0);
    }
    printf("\n");
    fflush(stdout);
  }
  return 0;
}
