/*
 * eval.c — runs a kiln-compiled language model over many windows, the
 * way a user links it (`cc eval.c libNAME.a -lpthread -lm`).
 *
 *   lm_eval WINDOWS TOKENS.bin LOGITS.bin [THREADS]
 *
 * TOKENS.bin holds WINDOWS inputs back to back (raw, in the model's input
 * type and shape); LOGITS.bin receives the WINDOWS outputs back to back.
 * KILN_MODEL is defined on the command line to NAME_model.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kiln.h"

extern const kiln_model KILN_MODEL;

static size_t bytes(const kiln_tensor_info *t, size_t elem) {
  size_t n = elem;
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

int main(int argc, char **argv) {
  const kiln_model *m = &KILN_MODEL;
  if (argc < 4 || m->num_inputs != 1 || m->num_outputs != 1 || m->inputs[0].dtype != KILN_I64 ||
      m->outputs[0].dtype != KILN_F32) {
    fprintf(stderr, "usage: lm_eval WINDOWS TOKENS.bin LOGITS.bin [THREADS] (int64 in, f32 out)\n");
    return 2;
  }
  long windows = atol(argv[1]);
  kiln_run_options opt = {.num_threads = argc > 4 ? atoi(argv[4]) : 1};
  size_t in_bytes = bytes(&m->inputs[0], 8), out_bytes = bytes(&m->outputs[0], 4);
  void *in = malloc(in_bytes), *out = malloc(out_bytes);
  void *ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64 + 64);
  FILE *fi = fopen(argv[2], "rb"), *fo = fopen(argv[3], "wb");
  if (!fi || !fo) {
    perror("lm_eval");
    return 1;
  }
  for (long w = 0; w < windows; w++) {
    if (fread(in, 1, in_bytes, fi) != in_bytes) {
      fprintf(stderr, "lm_eval: %s holds fewer than %ld windows\n", argv[2], windows);
      return 1;
    }
    int st = m->run((const void *const[]){in}, (void *const[]){out}, ws, &opt);
    if (st) {
      fprintf(stderr, "lm_eval: run: %s\n", kiln_status_string(st));
      return 1;
    }
    fwrite(out, 1, out_bytes, fo);
  }
  fclose(fi);
  return fclose(fo) ? 1 : 0;
}
