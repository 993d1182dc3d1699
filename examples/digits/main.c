/*
 * main.c — classifies the ten sample digits with the kiln-compiled model.
 *
 * Build (what the README's first command does):
 *   kiln compile examples/digits/digits.onnx -o out/digits
 *   cc examples/digits/main.c -Iout/digits out/digits/libdigits.a -lpthread -lm -o out/digits/classify
 *   out/digits/classify examples/digits/samples.bin
 *
 * The model is driven through the generic kiln_model descriptor, the way a
 * program that loads any kiln model would: sizes come from the tensor infos
 * and the workspace from workspace_size.  It is plain C99 plus POSIX
 * (posix_memalign): it builds with -std=c99 -Wall -Werror.
 */
#define _POSIX_C_SOURCE 200112L /* posix_memalign: C99 has no aligned allocator */
#include <stdio.h>
#include <stdlib.h>

#include "digits.h"

enum { NUM_SAMPLES = 10, PIXELS = 64, CLASSES = 10 };

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/digits/samples.bin";
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  static float images[NUM_SAMPLES][PIXELS];
  unsigned char labels[NUM_SAMPLES];
  if (fread(images, sizeof images, 1, f) != 1 || fread(labels, sizeof labels, 1, f) != 1) {
    fprintf(stderr, "%s: truncated sample file\n", path);
    fclose(f);
    return 1;
  }
  fclose(f);

  const kiln_model *m = &digits_model;
  void *workspace = NULL;
  if (posix_memalign(&workspace, 64, m->workspace_size + 64)) return 1;
  int correct = 0;
  for (int i = 0; i < NUM_SAMPLES; i++) {
    float logits[CLASSES];
    const void *in[1] = {images[i]};
    void *out[1] = {logits};
    int st = m->run(in, out, workspace, NULL);
    if (st) {
      fprintf(stderr, "run failed: %s\n", kiln_status_string(st));
      free(workspace);
      return 1;
    }
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
      if (logits[c] > logits[best]) best = c;
    correct += best == labels[i];
    printf("sample %d: predicted %d, label %d\n", i, best, labels[i]);
  }
  printf("%d/%d correct\n", correct, NUM_SAMPLES);
  free(workspace);
  return correct >= NUM_SAMPLES - 1 ? 0 : 1;
}
