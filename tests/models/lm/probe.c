/*
 * probe.c — how large the channels are that each linear layer of a model
 * reads, as kiln computes them: the figure rotation is meant to change.
 *
 *   lm_probe MODEL.onnx TOKENS.bin WINDOWS [--rotate hadamard] [--rotate-seed N]
 *
 * Imports the model, runs the same pipeline as `kiln run` (with the
 * rotation when asked) up to fuse-ops, then makes the activation input of
 * every linear layer (MatMul or Gemm with a constant 2-D weight) an extra
 * graph output, runs the rest of the pipeline (fuse-ops turns the linears
 * into kiln.FusedMatMul, which is why the probe looks before it; the
 * memory plan must know the extra outputs, which is why it comes after),
 * JIT-compiles and runs it on WINDOWS windows of int64 tokens read from
 * TOKENS.bin (the model's input shape each).  For each linear it prints
 * the largest over channels of max|x| (over all tokens) divided by the
 * median over channels: how far the largest channel sticks out.
 *
 *   linear NAME WIDTH RATIO
 *   summary linears N max RATIO median RATIO
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "onnx/onnx.h"
#include "passes.h"

/* The pipeline of `kiln run` split before kiln_rotate_before (fuse-ops):
 * head gets the passes before it, with kiln_rotate_passes when rotating
 * (where the manager puts them), tail the rest.  Both are taken from the
 * registry's strings, so the probe follows the pipeline as it changes. */
static int split_pipeline(bool rotate, char *head, char *tail, size_t size) {
  const char *list = kiln_default_pipeline;
  size_t name = strlen(kiln_rotate_before);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    if ((size_t)(end - p) == name && !strncmp(p, kiln_rotate_before, name)) {
      /* p - list - 1: without the comma before the name */
      int n = snprintf(head, size, "%.*s%s%s", (int)(p - list - 1), list, rotate ? "," : "",
                       rotate ? kiln_rotate_passes : "");
      int m = snprintf(tail, size, "%s", p);
      return n > 0 && (size_t)n < size && m > 0 && (size_t)m < size ? 0 : -1;
    }
    p = *end ? end + 1 : end;
  }
  return -1;
}

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static float median(float *v, int64_t n) {
  qsort(v, (size_t)n, sizeof *v, cmp_f);
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: lm_probe MODEL.onnx TOKENS.bin WINDOWS [--rotate hadamard] "
                    "[--rotate-seed N]\n");
    return 2;
  }
  kiln_ctx ctx;
  kiln_ctx_init(&ctx);
  kiln_options opt;
  kiln_options_init(&opt);
  for (int i = 4; i < argc; i++) {
    if (!strcmp(argv[i], "--rotate") && i + 1 < argc && !strcmp(argv[i + 1], "hadamard"))
      opt.rotate = KILN_ROTATE_HADAMARD, i++;
    else if (!strcmp(argv[i], "--rotate-seed") && i + 1 < argc)
      opt.rotate_seed = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "lm_probe: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int windows = atoi(argv[3]);
  ctx.file = argv[1];
  char head[1024], tail[1024];
  if (split_pipeline(opt.rotate != KILN_ROTATE_NONE, head, tail, sizeof head)) {
    fprintf(stderr, "lm_probe: no %s in the default pipeline '%s'\n", kiln_rotate_before,
            kiln_default_pipeline);
    return 1;
  }
  ir_graph *g = onnx_import_file(&ctx, argv[1], &opt);
  opt.passes = head;
  if (!g || kiln_run_passes(&ctx, g, &opt)) return 1;
  if (g->num_inputs != 1 || g->values[g->inputs[0]].dtype != IR_I64) {
    fprintf(stderr, "lm_probe: expected one int64 input\n");
    return 1;
  }
  /* the linears' activation inputs become outputs */
  int nlin = 0;
  ir_node_id *lin = calloc((size_t)g->num_nodes + 1, sizeof *lin);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if ((nd->op != IR_OP_MAT_MUL && nd->op != IR_OP_GEMM) || nd->num_inputs < 2) continue;
    const ir_value *w = &g->values[nd->inputs[1]];
    const ir_value *x = &g->values[nd->inputs[0]];
    if (w->storage != IR_STORAGE_CONST || w->shape.rank != 2 || x->storage != IR_STORAGE_ACTIVATION)
      continue;
    lin[nlin++] = n;
  }
  int nout = g->num_outputs + nlin;
  ir_value_id *outs = ir_arena_alloc(&g->arena, (size_t)nout * sizeof *outs);
  memcpy(outs, g->outputs, (size_t)g->num_outputs * sizeof *outs);
  for (int k = 0; k < nlin; k++) {
    ir_value_id x = g->nodes[lin[k]].inputs[0];
    g->values[x].storage = IR_STORAGE_OUTPUT;
    outs[g->num_outputs + k] = x;
  }
  g->outputs = outs;
  g->num_outputs = nout;
  ir_graph_recount_uses(g);
  /* the rest of the pipeline renumbers nodes (fusion, the memory plan's
   * order): the linears are named now and found later by output slot */
  const char **names = calloc((size_t)nlin + 1, sizeof *names);
  for (int k = 0; k < nlin; k++)
    names[k] = g->nodes[lin[k]].name ? strdup(g->nodes[lin[k]].name) : "?";
  opt.passes = tail;
  if (kiln_run_passes(&ctx, g, &opt)) return 1;
  cg_jit *j = NULL;
  if (cg_jit_compile(&ctx, g, &opt, "probe", &j)) return 1;
  const kiln_model *m = cg_jit_model(j);

  int64_t tokens = ir_shape_numel(&g->values[g->inputs[0]].shape);
  int64_t *tok = malloc((size_t)tokens * sizeof *tok);
  void **bufs = calloc((size_t)nout, sizeof *bufs);
  float **peak = calloc((size_t)nlin, sizeof *peak);
  int64_t *width = calloc((size_t)nlin, sizeof *width), *numel = calloc((size_t)nout, sizeof *numel);
  for (int k = 0; k < nout; k++) {
    numel[k] = ir_shape_numel(&g->values[g->outputs[k]].shape);
    bufs[k] = malloc((size_t)numel[k] * 4);
  }
  for (int k = 0; k < nlin; k++) {
    const ir_shape *sh = &g->values[g->outputs[g->num_outputs - nlin + k]].shape;
    width[k] = sh->dims[sh->rank - 1];
    peak[k] = calloc((size_t)width[k], sizeof **peak);
  }
  void *ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64 + 64);
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  for (int w = 0; w < windows; w++) {
    if (fread(tok, sizeof *tok, (size_t)tokens, f) != (size_t)tokens) {
      fprintf(stderr, "lm_probe: %s holds fewer than %d windows\n", argv[2], windows);
      return 1;
    }
    kiln_run_options ro = {.num_threads = 1};
    if (m->run((const void *const[]){tok}, bufs, ws, &ro)) return 1;
    for (int k = 0; k < nlin; k++) {
      const float *x = bufs[g->num_outputs - nlin + k];
      for (int64_t i = 0; i < numel[g->num_outputs - nlin + k]; i++) {
        float a = x[i] < 0 ? -x[i] : x[i];
        float *p = &peak[k][i % width[k]];
        if (a > *p) *p = a;
      }
    }
  }
  fclose(f);
  float *ratio = calloc((size_t)nlin + 1, sizeof *ratio);
  for (int k = 0; k < nlin; k++) {
    float mx = 0;
    for (int64_t c = 0; c < width[k]; c++) mx = peak[k][c] > mx ? peak[k][c] : mx;
    float med = median(peak[k], width[k]);
    ratio[k] = med > 0 ? mx / med : 0;
    printf("linear %s %lld %.2f\n", names[k], (long long)width[k], ratio[k]);
  }
  float rmax = 0;
  for (int k = 0; k < nlin; k++) rmax = ratio[k] > rmax ? ratio[k] : rmax;
  float rmed = nlin ? median(ratio, nlin) : 0;
  printf("summary linears %d max %.2f median %.2f\n", nlin, rmax, rmed);
  cg_jit_free(j);
  ir_graph_free(g);
  return 0;
}
