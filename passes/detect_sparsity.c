/*
 * detect_sparsity.c — the `detect-sparsity` pass: records, as IR facts,
 * which weights of the GEMM kernel's nodes are sparse and in what pattern,
 * whether the prune pass made them so or the model arrived that way (a
 * network pruned in PyTorch and exported keeps its zeros in dense
 * initializers).  `--sparse off` turns it off; `--sparsity-report FILE`
 * writes one Markdown row per layer.
 *
 * For every FusedConv / FusedMatMul / Conv / MatMul the GEMM kernel takes
 * (cg_gemm_shape_of) whose weight is a plain f32 constant:
 *   - a weight that already carries a sparsity kind (set by prune, kept
 *     through BatchNormalization folding) keeps it; its density is
 *     recounted from the payload;
 *   - any other weight of at least KILN_SPARSE_MIN_ELEMS elements whose
 *     density is at most KILN_SPARSE_MAX_DENSITY gets the most specific
 *     pattern its zeros satisfy: 1 x V blocks along the stored rows
 *     (V = 16, 8, 4: a MatMul's B [K, N] has them along N, the vector
 *     axis of its kernel) when nearly all zeros lie in whole blocks, else
 *     N:M along the reduction (1:4, 2:4, 4:8; a convolution's groups run
 *     along input channels at one kernel position, as prune makes them),
 *     else csr.
 * Dense weights are left alone.  The payload is never changed, so this
 * pass cannot change any output.
 *
 * Which kernel runs is reorder-layout's cost model's choice: the sparse
 * GEMM (zero rows of one vector skipped, MatMul and Gemm weights) when at
 * most CG_SPARSE_MAX_ROW_DENSITY of those rows hold a nonzero, else the
 * dense GEMM; the report shows that choice, its estimated gain and the
 * FLOP ratio skipping every zero could at most gain (1 / density).
 */
#include <stdio.h>
#include <string.h>

#include "cg.h"
#include "kernels/gemm.h"
#include "passes.h"

/* Weights denser than this are dense for the detector: a sparse kernel
 * reading index lists does not beat the dense GEMM above about half
 * zeros (the block-sparse literature's break-even is 50-70% sparsity). */
#define KILN_SPARSE_MAX_DENSITY 0.5
/* Smaller weights are not worth a pattern: their layers cost little. */
enum { KILN_SPARSE_MIN_ELEMS = 256 };

typedef struct wview {
  const float *w;
  int64_t rows, cols;  /* as stored, row-major */
  bool conv;           /* reduction along cols (Conv), else down rows (MatMul B [K, N]) */
  int64_t khw;         /* Conv: kernel positions */
} wview;

/* True if every M consecutive reduction elements hold at most N nonzeros. */
static bool holds_nm(const wview *v, int N, int M) {
  if (v->conv) {
    int64_t cg = v->cols / v->khw;
    if (cg % M) return false;
    for (int64_t o = 0; o < v->rows; o++)
      for (int64_t s = 0; s < v->khw; s++)
        for (int64_t c0 = 0; c0 < cg; c0 += M) {
          int nz = 0;
          for (int j = 0; j < M; j++) nz += v->w[o * v->cols + (c0 + j) * v->khw + s] != 0;
          if (nz > N) return false;
        }
    return true;
  }
  if (v->rows % M) return false;
  for (int64_t c = 0; c < v->cols; c++)
    for (int64_t k0 = 0; k0 < v->rows; k0 += M) {
      int nz = 0;
      for (int j = 0; j < M; j++) nz += v->w[(k0 + j) * v->cols + c] != 0;
      if (nz > N) return false;
    }
  return true;
}

/* Fraction of 1 x V blocks along the stored rows that hold a nonzero. */
static double block_density(const wview *v, int V) {
  int64_t blocks = 0, live = 0;
  for (int64_t r = 0; r < v->rows; r++)
    for (int64_t c0 = 0; c0 < v->cols; c0 += V) {
      bool nz = false;
      for (int64_t c = c0; c < c0 + V && c < v->cols; c++) nz |= v->w[r * v->cols + c] != 0;
      blocks++;
      live += nz;
    }
  return blocks ? (double)live / (double)blocks : 1;
}

/* Blocks first: whole vectors of zeros are what a kernel skips cheapest,
 * and a weight with zero rows of 16 often fits an N:M pattern as well. */
static ir_sparsity classify(const wview *v, double density) {
  static const int widths[] = {16, 8, 4};
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
    if (widths[i] <= v->cols && block_density(v, widths[i]) <= density * 1.05 + 1e-9)
      return (ir_sparsity){.kind = IR_SPARSE_BLOCK, .n = 1, .m = widths[i]};
  static const int nm[][2] = {{1, 4}, {2, 4}, {4, 8}};
  for (size_t i = 0; i < sizeof nm / sizeof nm[0]; i++)
    if (density <= (double)nm[i][0] / nm[i][1] && holds_nm(v, nm[i][0], nm[i][1]))
      return (ir_sparsity){.kind = IR_SPARSE_NM, .n = nm[i][0], .m = nm[i][1]};
  return (ir_sparsity){.kind = IR_SPARSE_CSR};
}

static const char *pattern_text(const ir_sparsity *sp, char *buf, size_t size) {
  switch (sp->kind) {
  case IR_SPARSE_NM: snprintf(buf, size, "%d:%d", sp->n, sp->m); break;
  case IR_SPARSE_BLOCK: snprintf(buf, size, "block %dx%d", sp->n, sp->m); break;
  case IR_SPARSE_CSR: snprintf(buf, size, "unstructured"); break;
  default: snprintf(buf, size, "dense"); break;
  }
  return buf;
}

kiln_status pass_detect_sparsity(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  FILE *report = NULL;
  if (opt->sparsity_report) {
    report = fopen(opt->sparsity_report, "w");
    if (!report) {
      kiln_error(ctx, "--sparsity-report: cannot write '%s'", opt->sparsity_report);
      return KILN_ERR_IO;
    }
    fprintf(report, "# Sparsity report: %s\n\n", g->name ? g->name : "model");
    fprintf(report, "Detection %s; sparse weights: density at most %.2f, at least %d elements "
            "(or pruned).\n\n", opt->sparse_off ? "off (--sparse off)" : "on",
            KILN_SPARSE_MAX_DENSITY, KILN_SPARSE_MIN_ELEMS);
    fprintf(report, "| node | op | weight | shape | pattern | density | kernel | estimated gain "
            "| FLOP bound (1/density) |\n|---|---|---|---|---|---|---|---|---|\n");
  }
  /* the report names the kernel reorder-layout's cost model will choose
   * (the same test, cg_sparse_row_density, at the target's vector width) */
  int lanes = 0;
  bool nm_target = false;
  if (report) {
    cg_target t;
    kiln_status st = cg_target_init(ctx, &t, opt->target, opt->cpu, opt->opt_level);
    if (st) {
      fclose(report);
      return st;
    }
    cg_target_caps caps = cg_caps_of(&t);
    nm_target = cg_sparse_nm_target(&t);
    cg_target_dispose(&t);
    lanes = caps.vector_bits >= 64 ? caps.vector_bits / 32 : 4;
  }
  int sparse_layers = 0;
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    if (g->nodes[n].dead) continue;
    cg_gemm_shape sh;
    if (!cg_gemm_shape_of(g, n, &sh, NULL)) continue;
    ir_value_id w = g->nodes[n].inputs[1];
    ir_value *wv = &g->values[w];
    const float *data = ir_const_data(g, w);
    if (!data || wv->dtype != IR_F32 || wv->layout.kind != IR_LAYOUT_PLAIN ||
        wv->shape.rank < 2)
      continue;
    bool conv = g->nodes[n].op == IR_OP_CONV || g->nodes[n].op == IR_OP_FUSED_CONV;
    if (!conv && wv->shape.rank != 2) continue;
    int64_t numel = ir_shape_numel(&wv->shape), nz = 0;
    for (int64_t e = 0; e < numel; e++) nz += data[e] != 0;
    double density = numel ? (double)nz / (double)numel : 1;
    wview v = {.w = data, .rows = wv->shape.dims[0], .cols = numel / wv->shape.dims[0],
               .conv = conv, .khw = 1};
    for (int d = 2; conv && d < wv->shape.rank; d++) v.khw *= wv->shape.dims[d];
    ir_sparsity sp = wv->sparsity;
    if (!opt->sparse_off) {
      if (sp.kind == IR_SPARSE_DENSE && numel >= KILN_SPARSE_MIN_ELEMS &&
          density <= KILN_SPARSE_MAX_DENSITY)
        sp = classify(&v, density);
      if (sp.kind != IR_SPARSE_DENSE) {
        sp.density = (float)(nz ? density : 0);
        wv->sparsity = sp;
        sparse_layers++;
      }
    }
    if (report) {
      char pat[32], dims[96] = "";
      size_t len = 0;
      for (int d = 0; d < wv->shape.rank && len < sizeof dims; d++)
        len += (size_t)snprintf(dims + len, sizeof dims - len, "%s%lld", d ? "x" : "",
                                (long long)wv->shape.dims[d]);
      /* MatMul: rows of one vector of B; 1x1 convolution: runs of 8 output
       * channels of A (reorder_layout.c's sparse_schedule) */
      double rows = opt->sparse_off ? -1
                    : conv          ? cg_sparse_col_density(g, n, 8)
                                    : cg_sparse_row_density(g, n, lanes);
      bool sparse = rows >= 0 && rows <= CG_SPARSE_MAX_ROW_DENSITY;
      /* a 1x1 convolution whose runs of `lanes` output channels are mostly
       * zero takes the direct kernel's sparse form when reorder-layout
       * blocks its activations (a chain of convolutions) */
      double runs = opt->sparse_off || !conv ? -1 : cg_sparse_direct_density(g, n, lanes);
      bool direct = runs >= 0 && runs <= CG_SPARSE_DIRECT_MAX_DENSITY;
      if (direct) sparse = true, rows = runs;
      /* N:M weights: the N:M form when its slots per group pay (nm_schedule) */
      int group = 0, slots = 0;
      double nm = opt->sparse_off || conv || sparse || !nm_target || lanes != 16
                      ? -1 : cg_sparse_nm_density(g, n, lanes, &group, &slots);
      if (nm >= 0 && nm <= CG_SPARSE_NM_MAX_DENSITY) sparse = true, rows = 2 * nm;
      char kernel[96];
      if (sparse && group)
        snprintf(kernel, sizeof kernel, "sparse N:M (%d of every %d k per column)", slots, group);
      else if (!sparse)
        snprintf(kernel, sizeof kernel, "dense GEMM");
      else if (direct)
        snprintf(kernel, sizeof kernel, "sparse direct, blocked chain (%.0f%% of %dx1 runs kept)",
                 runs * 100, lanes);
      else if (conv)
        snprintf(kernel, sizeof kernel, "sparse GEMM (%.0f%% of 8x1 runs kept)", rows * 100);
      else
        snprintf(kernel, sizeof kernel, "sparse GEMM (%.0f%% of 1x%d rows kept)", rows * 100, lanes);
      fprintf(report, "| %s | %s | %s | %s | %s | %.4f | %s | %.2fx | %.2fx |\n",
              g->nodes[n].name ? g->nodes[n].name : "?", ir_ops[g->nodes[n].op].name, wv->name,
              dims, pattern_text(&sp, pat, sizeof pat), density, kernel,
              sparse && rows > 0 ? 1 / rows : 1.0, density > 0 ? 1 / density : 0.0);
    }
  }
  if (report) {
    fprintf(report, "\nThe sparse GEMM skips the all-zero rows of %d weights of a MatMul or Gemm "
            "weight, and the all-zero runs of 8 output channels at one input channel of a 1x1 "
            "convolution; the direct kernel's sparse form skips the runs of %d output channels "
            "of a 1x1 convolution whose activations are blocked; the N:M form (AVX-512) keeps "
            "each column's nonzeros per group of M k and issues a permute and an FMA for each, "
            "taken when at most a quarter of each group is kept. The estimated gain is 1 / the "
            "fraction kept (the work left out; for N:M, 1 / twice the fraction: the permutes). "
            "Other convolutions run the dense kernel. The FLOP bound is what skipping every zero "
            "could at most save.\n", lanes, lanes);
    if (fclose(report)) {
      kiln_error(ctx, "--sparsity-report: error writing '%s'", opt->sparsity_report);
      return KILN_ERR_IO;
    }
  }
  kiln_note(ctx, "detect-sparsity: %d sparse weights", sparse_layers);
  return KILN_OK;
}
