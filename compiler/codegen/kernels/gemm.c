/*
 * gemm.c — one GEMM kernel generator for every fp32 MatMul, Gemm and
 * (non-depthwise) convolution: five loops around a register-blocked
 * micro-kernel, as BLIS arranges them, with the block sizes taken from a
 * cg_schedule (schedule.h) and the operands described by cg_gemm (gemm.h).
 *
 *   for each parallel item (batch b, M block of mc rows, N block of nc columns):
 *     for pc over K in blocks of kc:                    -- in order: fixes the sums
 *       [IM2COL: gather B[pc:pc+kc, n0:n0+nc] into the item's scratch block]
 *       for jr over the block's columns, nr at a time:   -- B micro-panel stays in L1
 *         for ir over the block's rows, mr at a time:
 *           micro-kernel: acc[mr][nr] (= C tile unless pc is the first block)
 *             for k < kc:  b[v] = B(k, jr + v*lanes)              (nr/lanes vector loads)
 *                          acc[i][v] += A(ir + i, k) * b[v]        (broadcast, FMA)
 *           (the first block starts from the residual, if any, instead of 0)
 *           last block: acc = act(acc + bias), in registers
 *           store the tile
 *
 * The micro-kernel broadcasts A and streams B ("outer product" form, as
 * XNNPACK's *-broadcast kernels and oneDNN's brgemm do), so B's vectors
 * are unit stride: packed panels for constant weights, the image rows
 * themselves for a 1x1 convolution, or a block gathered by im2col.  Edges
 * are static: shapes are known, so the tiles of a full block are one loop
 * and the last partial row tile and column tile are separate code with
 * their own (compile-time) sizes; a partial column tile reads and writes
 * only its valid lanes, so no element outside a tensor is ever touched.
 *
 * Every output element is summed over k = 0..K-1 in order within each kc
 * block, blocks in order, whatever the parallel split: the thread count
 * never changes a result.
 *
 * Sparse weights (docs/sparsity.md) change only the k loop of the micro-
 * kernel: compacted panels leave out all-zero rows (b_skip_zero_rows,
 * a_skip_zero_rows), and the N:M form (b_nm_group) steps over groups of
 * M k's with each column's nonzeros and a lane permute of A.  The sparse B
 * forms walk row tiles outside the column tiles (row_tiles_outer).
 */
#include "kernels/gemm.h"
#include "kernels/gemm_int8.h"

#include <llvm-c/DebugInfo.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The N:M form keeps its slots' weight and index vectors of one step in
 * registers: at most this many of each (slots x vectors of the tile). */
enum { CG_NM_MAX_VECS = 16 };

/* Marks the loop whose latch block is `latch` as not to be unrolled or
 * vectorized by LLVM: the micro-kernel's k loop is already vector code
 * sized to the registers, and LLVM's unrolling of it makes the register
 * allocator spill accumulators.  The schedule's `unroll` is applied by
 * the generator itself. */
void cg_keep_loop(cg_state *s, LLVMBasicBlockRef latch) {
  LLVMValueRef term = LLVMGetBasicBlockTerminator(latch);
  if (!term) return;
  LLVMMetadataRef no_unroll_s = LLVMMDStringInContext2(s->c, "llvm.loop.unroll.disable", 24);
  LLVMMetadataRef no_vec_s = LLVMMDStringInContext2(s->c, "llvm.loop.vectorize.enable", 26);
  LLVMMetadataRef no_vec_v = LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(s->c), 0, 0));
  LLVMMetadataRef nv_ops[2] = {no_vec_s, no_vec_v};
  LLVMMetadataRef props[2] = {LLVMMDNodeInContext2(s->c, &no_unroll_s, 1),
                              LLVMMDNodeInContext2(s->c, nv_ops, 2)};
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(s->c, NULL, 0);
  LLVMMetadataRef ops[3] = {tmp, props[0], props[1]};
  LLVMMetadataRef loop = LLVMMDNodeInContext2(s->c, ops, 3);
  LLVMMetadataReplaceAllUsesWith(tmp, loop);
  unsigned kind = LLVMGetMDKindIDInContext(s->c, "llvm.loop", 9);
  LLVMSetMetadata(term, kind, LLVMMetadataAsValue(s->c, loop));
}

void cg_gemm_init(cg_gemm *g) {
  memset(g, 0, sizeof *g);
  g->a_in = g->b_in = g->bias_in = g->resid_in = -1;
  g->act.op = IR_OP_COUNT;
  g->act.node = -1;
}

cg_target_caps cg_caps_of(const cg_target *t) {
  cg_target_caps c = {.vector_bits = t->vector_bits, .vector_regs = 16, .fma = true};
  if (t->described) c.vector_regs = tgt_vector_registers(&t->desc, t->features);
  c.int8_dot = cg_target_int8_dot(t);
  return c;
}

/* ---- compile-time panels ------------------------------------------------------ */
/* Packs `batches` matrices X[b][r][c] (strides bs, rs, cs) of rows x cols into
 * panels of `w` rows: out[b][r/w][c][r%w], zero past `rows`.  A's panels
 * take rows = M (w = mr) and B's rows = N with X transposed (w = nr). */
static float *pack_panels(cg_state *s, const float *x, int64_t batches, int64_t bs, int64_t rows,
                          int64_t cols, int64_t rs, int64_t cs, int w, int64_t *bytes) {
  int64_t np = ceil_div(rows, w), per = np * cols * w;
  float *p = ir_arena_alloc(&s->arena, (size_t)(batches * per) * sizeof *p + 64);
  memset(p, 0, (size_t)(batches * per) * sizeof *p);
  for (int64_t b = 0; b < batches; b++)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++)
        p[b * per + ((r / w) * cols + c) * w + r % w] = x[b * bs + r * rs + c * cs];
  *bytes = batches * per * (int64_t)sizeof *p;
  return p;
}

/* ---- the emitter's state ---------------------------------------------------------- */
typedef struct gemm_emit {
  cg_state *s;
  const cg_gemm *g;
  const cg_schedule *sc;
  cg_kernel *k;
  LLVMTypeRef vt;            /* <lanes x float> */
  LLVMValueRef a, b, c;      /* operand bases (kernel params or packed globals) */
  LLVMValueRef bias, resid;
  /* per item: element offsets of this batch's operands */
  LLVMValueRef a_off, b_off, c_off, bias_off;
  LLVMValueRef bblock;       /* IM2COL: this item's scratch block (float *) */
  LLVMValueRef n0;           /* IM2COL: first column of the item's block */
  LLVMValueRef pc, kcb;      /* current K block and its length */
  LLVMValueRef first, last;  /* i1: pc is the first / last K block */
  int64_t a_panel, b_panel;  /* elements per batch of packed panels */
  /* b_skip_zero_rows: B holds only the nonzero panel rows; row t of it is
   * k = pc + bkidx[t]; the rows of (batch, panel, K block) q are
   * boffs[q] .. boffs[q+1] */
  LLVMValueRef boffs, bkidx;
  LLVMValueRef bbatch, pcb;  /* B's batch index, the K block's index */
  LLVMValueRef abatch;       /* A's batch index */
  int64_t npanels, nkb;
  bool a_sparse;             /* a_skip_zero_rows: the lists are A's (boffs, bkidx name them) */
  /* the N:M form: b holds, per (batch, panel, group of nm k's), nm_slots
   * vectors of weights per vector of the panel, and bkidx as many vectors
   * of their k within the group (i32 lanes) */
  int nm, nm_slots;
} gemm_emit;

static LLVMValueRef ld_f32(gemm_emit *e, LLVMValueRef base, LLVMValueRef idx) {
  return cg_load(e->s, IR_F32, base, idx);
}

/* A vector of `valid` lanes from base[idx..] (the rest zero); valid == lanes
 * is one vector load. */
static LLVMValueRef ld_vec(gemm_emit *e, LLVMValueRef base, LLVMValueRef idx, int valid,
                           unsigned align) {
  cg_state *s = e->s;
  int lanes = e->sc->lanes;
  if (valid >= lanes) {
    LLVMValueRef v = LLVMBuildLoad2(s->b, e->vt, cg_gep(s, IR_F32, base, idx), "v");
    LLVMSetAlignment(v, align);
    return v;
  }
  LLVMValueRef v = LLVMConstNull(e->vt);
  for (int l = 0; l < valid; l++)
    v = LLVMBuildInsertElement(s->b, v, ld_f32(e, base, cg_addc(s, idx, l)), cg_i32(s, l), "");
  return v;
}

static void st_vec(gemm_emit *e, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v, int valid) {
  cg_state *s = e->s;
  if (valid >= e->sc->lanes) {
    LLVMValueRef st = LLVMBuildStore(s->b, v, cg_gep(s, IR_F32, base, idx));
    LLVMSetAlignment(st, 4);
    return;
  }
  for (int l = 0; l < valid; l++)
    cg_store(s, IR_F32, base, cg_addc(s, idx, l), LLVMBuildExtractElement(s->b, v, cg_i32(s, l), ""));
}

/* A(row, pc + kk) and B(pc + kk, col + v*lanes) addresses, in elements. */
static LLVMValueRef a_index(gemm_emit *e, LLVMValueRef row, int i, LLVMValueRef kk) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  LLVMValueRef kabs = cg_add(s, e->pc, kk);
  if (g->a_kind == CG_OPND_PANELS) /* row is a multiple of mr */
    return cg_add(s, e->a_off,
                  cg_addc(s, cg_mulc(s, cg_add(s, cg_mulc(s, cg_divc(s, row, e->sc->mr), g->K), kabs),
                                     e->sc->mr), i));
  return cg_add(s, e->a_off, cg_add(s, cg_mulc(s, cg_addc(s, row, i), g->a_rs), cg_mulc(s, kabs, g->a_cs)));
}

static LLVMValueRef b_index(gemm_emit *e, LLVMValueRef col, int v, LLVMValueRef kk) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int lanes = e->sc->lanes;
  switch (g->b_kind) {
  case CG_OPND_PANELS: /* col is a multiple of nr */
    return cg_add(s, e->b_off,
                  cg_addc(s, cg_mulc(s, cg_add(s, cg_mulc(s, cg_divc(s, col, e->sc->nr), g->K),
                                               cg_add(s, e->pc, kk)), e->sc->nr), v * lanes));
  case CG_OPND_STRIDED:
    return cg_add(s, e->b_off, cg_addc(s, cg_add(s, cg_mulc(s, cg_add(s, e->pc, kk), g->b_rs), col), v * lanes));
  case CG_OPND_IM2COL: /* the block: [kc][nc] from column n0 */
    return cg_addc(s, cg_add(s, cg_mulc(s, kk, e->sc->nc), cg_sub(s, col, e->n0)), v * lanes);
  }
  return NULL;
}

/* The epilogue on one accumulator vector of C tile (row, col + v*lanes). */
static LLVMValueRef epilogue(gemm_emit *e, LLVMValueRef acc, LLVMValueRef row, LLVMValueRef col,
                             int v, int valid) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int lanes = e->sc->lanes;
  if (e->bias) {
    LLVMValueRef bv;
    if (g->bias_per_row)
      bv = cg_splat(s, ld_f32(e, e->bias, cg_add(s, e->bias_off, row)), (unsigned)lanes);
    else
      bv = ld_vec(e, e->bias, cg_addc(s, col, v * lanes), valid, 4);
    acc = LLVMBuildFAdd(s->b, acc, bv, "");
  }
  if (g->act.op != IR_OP_COUNT) acc = cg_apply_activation(s, &g->act, acc);
  return acc;
}

/* The k loop of one tile: every k of the K block in order, or, for
 * sparse weights, the k of the panel's nonzero rows (mr weights of A, or
 * nr of B, at one k) in this K block, ascending: the same sums as the
 * dense loop less terms that add a zero product.  Row t of a compacted
 * panel is step t of the loop; the other operand is read at that row's k. */
static void dense_steps(gemm_emit *e, LLVMValueRef row, LLVMValueRef col, int mr, int nv,
                        int valid, LLVMValueRef *acc) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int lanes = e->sc->lanes;
  unsigned balign = g->b_kind == CG_OPND_STRIDED ? 4 : (unsigned)(lanes * 4 > 64 ? 64 : lanes * 4);
  LLVMValueRef bv[8];
  bool sparse = e->a_sparse || g->b_skip_zero_rows;
  cg_loop kl;
  LLVMValueRef kk;
  if (sparse) {
    LLVMValueRef panel = e->a_sparse ? cg_add(s, cg_mulc(s, e->abatch, e->npanels), cg_divc(s, row, e->sc->mr))
                                     : cg_add(s, cg_mulc(s, e->bbatch, e->npanels), cg_divc(s, col, e->sc->nr));
    LLVMValueRef q = cg_add(s, cg_mulc(s, panel, e->nkb), e->pcb);
    LLVMValueRef t0 = cg_load(s, IR_I64, e->boffs, q), t1 = cg_load(s, IR_I64, e->boffs, cg_addc(s, q, 1));
    kl = cg_for(s, t0, t1);
    kk = LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->bkidx, kl.i), s->t_i64, "kk");
  } else {
    kl = cg_for(s, cg_i64(s, 0), e->kcb);
    kk = kl.i;
  }
  for (int v = 0; v < nv; v++) {
    /* only a strided B is read past its edge; panels and blocks are zero-padded */
    int vv = g->b_kind == CG_OPND_STRIDED && v == nv - 1 ? valid : lanes;
    LLVMValueRef at = g->b_skip_zero_rows ? cg_addc(s, cg_mulc(s, kl.i, e->sc->nr), v * lanes)
                                          : b_index(e, col, v, kk);
    bv[v] = ld_vec(e, e->b, at, vv, balign);
  }
  if (!sparse && g->b_kind == CG_OPND_PANELS) {
    /* Weights larger than the caches stream from memory once, in the
     * first row tile of each panel; the hardware prefetcher does not run
     * far enough ahead of that stream, so fetch GEMM_PREFETCH steps ahead
     * (a prefetch past the panel's end is harmless: it never faults). */
    enum { GEMM_PREFETCH = 16 };
    for (int v = 0; v < nv; v++) {
      LLVMValueRef p = cg_gep(s, IR_F32, e->b, b_index(e, col, v, cg_addc(s, kl.i, GEMM_PREFETCH)));
      LLVMValueRef args[4] = {p, cg_i32(s, 0), cg_i32(s, 3), cg_i32(s, 1)};
      cg_intrinsic(s, "llvm.prefetch", s->t_ptr, 4, args);
    }
  }
  for (int i = 0; i < mr; i++) {
    LLVMValueRef at = e->a_sparse ? cg_addc(s, cg_mulc(s, kl.i, e->sc->mr), i) : a_index(e, row, i, kk);
    LLVMValueRef av = cg_splat(s, ld_f32(e, e->a, at), (unsigned)lanes);
    for (int v = 0; v < nv; v++)
      cg_set(s, acc[i * nv + v], cg_fmuladd(s, av, bv[v], cg_get(s, e->vt, acc[i * nv + v])));
  }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(s->b);
  cg_end(s, &kl);
  cg_keep_loop(s, latch);
}

/* One lane permute of x by the i32 lanes of idx: vpermilps (within each
 * 128-bit lane) when the groups are 4 or 2 wide, vpermps (across the
 * register) when they are wider; both read the group from the copy of it
 * that the lane's own position sees. */
static LLVMValueRef permute(gemm_emit *e, LLVMValueRef x, LLVMValueRef idx) {
  cg_state *s = e->s;
  const char *name = e->nm <= 4 ? "llvm.x86.avx512.vpermilvar.ps.512" : "llvm.x86.avx512.permvar.sf.512";
  LLVMTypeRef vi = LLVMVectorType(s->t_i32, (unsigned)e->sc->lanes);
  LLVMTypeRef params[2] = {e->vt, vi};
  LLVMTypeRef ft = LLVMFunctionType(e->vt, params, 2, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(s->m, name);
  if (!fn) fn = LLVMAddFunction(s->m, name, ft);
  LLVMValueRef args[2] = {x, idx};
  return LLVMBuildCall2(s->b, ft, fn, args, 2, "");
}

/* The N:M form's k loop: one step per group of nm k's of the K block.  A
 * step loads, per vector of the tile, its nm_slots weight vectors and
 * their index vectors (shared by the mr rows); per row it broadcasts the
 * row's nm A values of the group to every group-wide slice of a register
 * (one load), and per slot permutes them so that each lane holds the A
 * value its weight multiplies, then one FMA.  A lane's slots hold its
 * nonzero weights in ascending k (unused slots weight 0), so each element
 * sums the dense kernel's nonzero products in the dense order. */
static void nm_steps(gemm_emit *e, LLVMValueRef row, LLVMValueRef col, int mr, int nv,
                     LLVMValueRef *acc) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int lanes = e->sc->lanes, m = e->nm, S = e->nm_slots;
  int64_t groups = g->K / m, nr = e->sc->nr;
  LLVMTypeRef vi = LLVMVectorType(s->t_i32, (unsigned)lanes), gt = LLVMVectorType(s->t_f32, (unsigned)m);
  LLVMValueRef panel = cg_add(s, cg_mulc(s, e->bbatch, e->npanels), cg_divc(s, col, nr));
  LLVMValueRef g0 = cg_add(s, cg_mulc(s, panel, groups), cg_mulc(s, e->pcb, e->sc->kc / m));
  cg_loop kl = cg_for(s, cg_i64(s, 0), cg_divc(s, e->kcb, m));
  LLVMValueRef base = cg_mulc(s, cg_add(s, g0, kl.i), S * nr);
  LLVMValueRef wv[CG_NM_MAX_VECS], iv[CG_NM_MAX_VECS];
  for (int t = 0; t < S; t++)
    for (int v = 0; v < nv; v++) {
      LLVMValueRef at = cg_addc(s, base, t * nr + v * lanes);
      wv[t * nv + v] = ld_vec(e, e->b, at, lanes, 4);
      LLVMValueRef ip = cg_gep(s, IR_I32, e->bkidx, at);
      iv[t * nv + v] = LLVMBuildLoad2(s->b, vi, ip, "");
      LLVMSetAlignment(iv[t * nv + v], 4);
    }
  LLVMValueRef mask[16];
  for (int l = 0; l < lanes; l++) mask[l] = cg_i32(s, l % m);
  LLVMValueRef kk = cg_mulc(s, kl.i, m);
  for (int i = 0; i < mr; i++) {
    LLVMValueRef ga = LLVMBuildLoad2(s->b, gt, cg_gep(s, IR_F32, e->a, a_index(e, row, i, kk)), "");
    LLVMSetAlignment(ga, 4);
    LLVMValueRef av = LLVMBuildShuffleVector(s->b, ga, LLVMGetPoison(gt), LLVMConstVector(mask, (unsigned)lanes), "");
    for (int v = 0; v < nv; v++)
      for (int t = 0; t < S; t++)
        cg_set(s, acc[i * nv + v], cg_fmuladd(s, permute(e, av, iv[t * nv + v]), wv[t * nv + v],
                                              cg_get(s, e->vt, acc[i * nv + v])));
  }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(s->b);
  cg_end(s, &kl);
  cg_keep_loop(s, latch);
}

/* One mr x (nv vectors) tile at (row, col); `valid` lanes of the last vector. */
static void micro_tile(gemm_emit *e, LLVMValueRef row, LLVMValueRef col, int mr, int nv, int valid) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int lanes = e->sc->lanes;
  enum { MAXACC = 64 };
  LLVMValueRef acc[MAXACC];
  LLVMValueRef crow[16];
  for (int i = 0; i < mr; i++)
    crow[i] = cg_add(s, e->c_off, cg_add(s, cg_mulc(s, cg_addc(s, row, i), g->ldc), col));
  for (int i = 0; i < mr * nv; i++) acc[i] = cg_var(s, e->vt, LLVMConstNull(e->vt));
  /* A residual is the sums' starting value: each element of it is read
   * before the same element of C is first written, by the same thread,
   * so plan-memory may give C the residual's bytes. */
  if (e->resid) {
    cg_loop init = cg_if(s, e->first);
    for (int i = 0; i < mr; i++)
      for (int v = 0; v < nv; v++)
        cg_set(s, acc[i * nv + v],
               ld_vec(e, e->resid, cg_addc(s, crow[i], v * lanes), v == nv - 1 ? valid : lanes, 4));
    cg_end_if(s, &init);
  }
  /* later K blocks continue the sums already in C */
  cg_loop again = cg_if(s, LLVMBuildNot(s->b, e->first, ""));
  for (int i = 0; i < mr; i++)
    for (int v = 0; v < nv; v++)
      cg_set(s, acc[i * nv + v],
             ld_vec(e, e->c, cg_addc(s, crow[i], v * lanes), v == nv - 1 ? valid : lanes, 4));
  cg_end_if(s, &again);

  if (e->nm) {
    nm_steps(e, row, col, mr, nv, acc);
  } else {
    dense_steps(e, row, col, mr, nv, valid, acc);
  }

  cg_loop fin = cg_if(s, e->last);
  for (int i = 0; i < mr; i++)
    for (int v = 0; v < nv; v++) {
      int vv = v == nv - 1 ? valid : lanes;
      LLVMValueRef r = epilogue(e, cg_get(s, e->vt, acc[i * nv + v]), cg_addc(s, row, i), col, v, vv);
      cg_set(s, acc[i * nv + v], r);
    }
  cg_end_if(s, &fin);
  for (int i = 0; i < mr; i++)
    for (int v = 0; v < nv; v++)
      st_vec(e, e->c, cg_addc(s, crow[i], v * lanes), cg_get(s, e->vt, acc[i * nv + v]),
             v == nv - 1 ? valid : lanes);
}

/* The number of whole tiles of `t` in [lo, hi), which end at full_end at
 * the latest (the static remainder tile comes after them). */
static LLVMValueRef full_tiles(cg_state *s, LLVMValueRef lo, LLVMValueRef hi, int64_t full_end, int t) {
  LLVMValueRef fend = cg_min(s, hi, cg_i64(s, full_end));
  return cg_divc(s, cg_max(s, cg_sub(s, fend, lo), cg_i64(s, 0)), t);
}

/* All row tiles of one column tile: full mr tiles over [m0, m1), then the
 * static remainder rows if this block holds the end of M. */
static void row_tiles(gemm_emit *e, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef col, int nv,
                      int valid) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  int64_t M = e->g->M, mfull = M / mr * mr;
  cg_loop t = cg_for(s, cg_i64(s, 0), full_tiles(s, m0, m1, mfull, mr));
  micro_tile(e, cg_add(s, m0, cg_mulc(s, t.i, mr)), col, mr, nv, valid);
  cg_end(s, &t);
  if (M % mr) {
    cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, m1, cg_i64(s, mfull), ""));
    micro_tile(e, cg_i64(s, mfull), col, (int)(M % mr), nv, valid);
    cg_end_if(s, &tail);
  }
}

/* All column tiles of the item's block [n0, n1) for one row tile of mr
 * rows at `row`: full nr tiles, then the static remainder columns if the
 * block holds the end of N. */
static void col_tiles(gemm_emit *e, LLVMValueRef row, int mr, LLVMValueRef n0, LLVMValueRef n1) {
  cg_state *s = e->s;
  int nr = e->sc->nr, lanes = e->sc->lanes;
  int64_t N = e->g->N, nfull = N / nr * nr;
  cg_loop jt = cg_for(s, cg_i64(s, 0), full_tiles(s, n0, n1, nfull, nr));
  micro_tile(e, row, cg_add(s, n0, cg_mulc(s, jt.i, nr)), mr, nr / lanes, lanes);
  cg_end(s, &jt);
  if (N % nr) {
    int rem = (int)(N % nr);
    int nv = (rem + lanes - 1) / lanes, valid = rem - (nv - 1) * lanes;
    cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, n1, cg_i64(s, nfull), ""));
    micro_tile(e, row, cg_i64(s, nfull), mr, nv, valid);
    cg_end_if(s, &tail);
  }
}

/* The sparse B forms' order: row tiles outside, the block's column tiles
 * inside.  Each kept k (or group of k's, N:M) of a panel reads A at mr
 * rows, a cache line each; walking the panels under one row tile keeps
 * that tile of A (mr x kc) in L1 while the compacted panels of the block
 * (a tenth of a dense block at 90% sparsity) stream, where the dense order
 * would bring the whole M x kc block of A from L2 for every panel
 * (GPT d768 at 90% block:1x16: 2.98x -> 3.81x the dense build; N:M 1:4
 * MatMul 1.47x -> 1.62x the dense kernel). */
static void row_tiles_outer(gemm_emit *e, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                            LLVMValueRef n1) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  int64_t M = e->g->M, mfull = M / mr * mr;
  cg_loop t = cg_for(s, cg_i64(s, 0), full_tiles(s, m0, m1, mfull, mr));
  col_tiles(e, cg_add(s, m0, cg_mulc(s, t.i, mr)), mr, n0, n1);
  cg_end(s, &t);
  if (M % mr) {
    cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, m1, cg_i64(s, mfull), ""));
    col_tiles(e, cg_i64(s, mfull), (int)(M % mr), n0, n1);
    cg_end_if(s, &tail);
  }
}

cg_loop cg_im2col_rows(cg_state *s, const cg_im2col *q, LLVMValueRef n0, LLVMValueRef n1,
                       LLVMValueRef ihb, LLVMValueRef iwb, cg_im2col_span *sp) {
  /* output rows touched by [n0, n1) */
  LLVMValueRef oh0 = cg_divc(s, n0, q->OW), oh1 = cg_divc(s, cg_addc(s, n1, q->OW - 1), q->OW);
  cg_loop oh = cg_for(s, oh0, oh1);
  LLVMValueRef rowbase = cg_mulc(s, oh.i, q->OW);
  sp->ow0 = cg_max(s, cg_i64(s, 0), cg_sub(s, n0, rowbase));
  sp->ow1 = cg_min(s, cg_i64(s, q->OW), cg_sub(s, n1, rowbase));
  sp->at = cg_sub(s, rowbase, n0);
  LLVMValueRef ih = cg_add(s, cg_mulc(s, oh.i, q->sh), ihb);
  LLVMValueRef inside = LLVMBuildAnd(s->b, LLVMBuildICmp(s->b, LLVMIntSGE, ih, cg_i64(s, 0), ""),
                                     LLVMBuildICmp(s->b, LLVMIntSLT, ih, cg_i64(s, q->H), ""), "");
  /* valid ow: 0 <= ow*sw + iwb < W, clipped to [ow0, ow1); empty if the row is outside */
  LLVMValueRef va, vb;
  cg_valid_range(s, iwb, q->sw, q->OW, 0, q->W, &va, &vb);
  sp->va = cg_min(s, cg_max(s, va, sp->ow0), sp->ow1);
  vb = cg_max(s, cg_min(s, vb, sp->ow1), sp->va);
  sp->vb = LLVMBuildSelect(s->b, inside, vb, sp->va, "");
  sp->xrow = cg_add(s, cg_mulc(s, ih, q->W), iwb);
  return oh;
}

/* Gathers B[pc:pc+kcb, n0:n1) of the convolution into the item's block
 * ([kc][nc] from column n0), zeros where the window leaves the image and
 * in the columns past n1 up to a whole nr tile. */
static void im2col_block(gemm_emit *e, LLVMValueRef n1) {
  cg_state *s = e->s;
  const cg_im2col *q = &e->g->conv;
  int64_t nc = e->sc->nc, ksz = q->KH * q->KW;
  LLVMValueRef x = e->k->in[e->g->b_in];
  cg_loop kk = cg_for(s, cg_i64(s, 0), e->kcb);
  LLVMValueRef kabs = cg_add(s, e->pc, kk.i);
  LLVMValueRef ci = cg_divc(s, kabs, ksz), kr = cg_remc(s, kabs, ksz);
  LLVMValueRef kh = cg_divc(s, kr, q->KW), kw = cg_remc(s, kr, q->KW);
  LLVMValueRef ihb = cg_addc(s, cg_mulc(s, kh, q->dh), -q->ph);
  LLVMValueRef iwb = cg_addc(s, cg_mulc(s, kw, q->dw), -q->pw);
  LLVMValueRef xc = cg_add(s, e->b_off, cg_mulc(s, ci, q->H * q->W));
  LLVMValueRef drow = cg_mulc(s, kk.i, nc); /* block row start */
  cg_im2col_span sp;
  cg_loop oh = cg_im2col_rows(s, q, e->n0, n1, ihb, iwb, &sp);
  LLVMValueRef dbase = cg_add(s, drow, sp.at);
  cg_loop z1 = cg_for(s, sp.ow0, sp.va);
  cg_store(s, IR_F32, e->bblock, cg_add(s, dbase, z1.i), cg_const(s, IR_F32, 0));
  cg_end(s, &z1);
  LLVMValueRef xrow = cg_add(s, xc, sp.xrow);
  cg_loop cp = cg_for(s, sp.va, sp.vb);
  cg_store(s, IR_F32, e->bblock, cg_add(s, dbase, cp.i),
           ld_f32(e, x, cg_add(s, xrow, cg_mulc(s, cp.i, q->sw))));
  cg_end(s, &cp);
  cg_loop z2 = cg_for(s, sp.vb, sp.ow1);
  cg_store(s, IR_F32, e->bblock, cg_add(s, dbase, z2.i), cg_const(s, IR_F32, 0));
  cg_end(s, &z2);
  cg_end(s, &oh);
  /* zero columns [n1 - n0, whole nr tiles) so full-width tiles read zeros */
  LLVMValueRef w = cg_sub(s, n1, e->n0);
  LLVMValueRef wpad = cg_mulc(s, cg_divc(s, cg_addc(s, w, e->sc->nr - 1), e->sc->nr), e->sc->nr);
  cg_loop zp = cg_for(s, w, wpad);
  cg_store(s, IR_F32, e->bblock, cg_add(s, drow, zp.i), cg_const(s, IR_F32, 0));
  cg_end(s, &zp);
  cg_end(s, &kk);
}

/* b_skip_zero_rows / a_skip_zero_rows: keeps the rows of `w` weights of
 * the panels p (`batches` x `npanels` panels of `K` rows, `panel`
 * elements per batch) that hold a nonzero, per (batch, panel, K block) in
 * that order, with their k within the block and the offsets of each
 * group, as three constant globals. */
typedef struct compact {
  LLVMValueRef vals, kidx, offs;
} compact;

static compact compact_rows(gemm_emit *e, const float *p, const char *gname, int w, int64_t batches,
                            int64_t npanels, int64_t panel) {
  cg_state *s = e->s;
  const cg_gemm *g = e->g;
  int64_t kc = e->sc->kc, groups = batches * npanels * e->nkb, rows = 0;
  int64_t *offs = ir_arena_alloc(&s->arena, (size_t)(groups + 1) * sizeof *offs);
  int32_t *kidx = ir_arena_alloc(&s->arena, (size_t)(batches * panel / w + 1) * sizeof *kidx);
  float *vals = ir_arena_alloc(&s->arena, (size_t)(batches * panel + w) * sizeof *vals);
  int64_t q = 0;
  for (int64_t b = 0; b < batches; b++)
    for (int64_t j = 0; j < npanels; j++)
      for (int64_t pb = 0; pb < e->nkb; pb++) {
        offs[q++] = rows;
        for (int64_t k = pb * kc; k < g->K && k < (pb + 1) * kc; k++) {
          const float *row = p + b * panel + (j * g->K + k) * w;
          bool nz = false;
          for (int l = 0; l < w; l++) nz |= row[l] != 0;
          if (!nz) continue;
          memcpy(vals + rows * w, row, (size_t)w * sizeof *vals);
          kidx[rows++] = (int32_t)(k - pb * kc);
        }
      }
  offs[q] = rows;
  compact c;
  char name[200];
  snprintf(name, sizeof name, "%s.nz", gname);
  c.vals = cg_const_global(s, name, vals, (rows ? rows : 1) * w * 4);
  snprintf(name, sizeof name, "%s.k", gname);
  c.kidx = cg_const_global(s, name, kidx, (rows ? rows : 1) * 4);
  snprintf(name, sizeof name, "%s.rows", gname);
  c.offs = cg_const_global(s, name, offs, (groups + 1) * 8);
  return c;
}

/* b_nm_group: the N:M form's tables from B's panels p (`batches` x
 * `npanels` panels of K rows of nr, `panel` elements per batch).  Per
 * (batch, panel, group of m k's), per slot t < slots and vector v of the
 * panel: lane l of vals holds the t-th nonzero weight of column v*lanes +
 * l in the group (0 when the column has fewer) and lane l of idx its k
 * within the group.  Returns the slots (the most nonzeros one column holds
 * in one group), or 0 when they exceed CG_NM_MAX_VECS vectors a step. */
static int nm_pack(gemm_emit *e, const float *p, const char *gname, int m, int64_t batches,
                   int64_t npanels, int64_t panel) {
  cg_state *s = e->s;
  int64_t K = e->g->K, nr = e->sc->nr, groups = K / m;
  int slots = 1;
  for (int64_t b = 0; b < batches; b++)
    for (int64_t j = 0; j < npanels; j++)
      for (int64_t k0 = 0; k0 < K; k0 += m)
        for (int64_t c = 0; c < nr; c++) {
          int cnt = 0;
          for (int64_t k = k0; k < k0 + m; k++) cnt += p[b * panel + (j * K + k) * nr + c] != 0;
          slots = cnt > slots ? cnt : slots;
        }
  if (slots * nr / e->sc->lanes > CG_NM_MAX_VECS) return 0;
  int64_t cnt = batches * npanels * groups * slots * nr;
  float *vals = ir_arena_alloc(&s->arena, (size_t)cnt * sizeof *vals);
  int32_t *idx = ir_arena_alloc(&s->arena, (size_t)cnt * sizeof *idx);
  memset(vals, 0, (size_t)cnt * sizeof *vals);
  memset(idx, 0, (size_t)cnt * sizeof *idx);
  for (int64_t b = 0; b < batches; b++)
    for (int64_t j = 0; j < npanels; j++)
      for (int64_t q = 0; q < groups; q++)
        for (int64_t c = 0; c < nr; c++) {
          int64_t at = ((b * npanels + j) * groups + q) * slots * nr + c;
          for (int64_t k = q * m; k < q * m + m; k++) {
            float w = p[b * panel + (j * K + k) * nr + c];
            if (w == 0) continue;
            vals[at] = w, idx[at] = (int32_t)(k - q * m);
            at += nr;
          }
        }
  char name[200];
  snprintf(name, sizeof name, "%s.nm", gname);
  e->b = cg_const_global(s, name, vals, cnt * 4);
  snprintf(name, sizeof name, "%s.nmk", gname);
  e->bkidx = cg_const_global(s, name, idx, cnt * 4);
  return slots;
}

bool cg_sparse_nm_target(const cg_target *t) {
  const char *f = t->features ? strstr(t->features, "+avx512f") : NULL;
  return t->vector_bits >= 512 && !strncmp(t->triple, "x86_64", 6) && f &&
         (f[8] == ',' || f[8] == 0);
}

kiln_status cg_gemm_emit(cg_state *s, int32_t n, const cg_gemm *g, const cg_schedule *sc) {
  cg_target_caps caps = cg_caps_of(s->target);
  const char *bad = cg_schedule_check(&caps, sc);
  if (bad) return cg_unsupported(s, n, "schedule: %s", bad);
  if (sc->mr > 16 || sc->nr / sc->lanes > 8 || sc->mr * (sc->nr / sc->lanes) > 64)
    return cg_unsupported(s, n, "schedule: register block larger than the generator handles");
  gemm_emit e = {.s = s, .g = g, .sc = sc, .vt = LLVMVectorType(s->t_f32, (unsigned)sc->lanes)};
  char gname[160];
  /* compile-time panels (before the kernel: cg_const_global may add globals) */
  if (g->a_kind == CG_OPND_PANELS) {
    int64_t bytes, batches = 1;
    for (int d = 0; d < g->batch_rank; d++)
      if (g->a_bstr[d]) batches = g->a_bstr[d] * g->batch_dims[d] > batches ? g->a_bstr[d] * g->batch_dims[d] : batches;
    const float *p = g->a_data;
    if (g->a_packed)
      bytes = batches * ceil_div(g->M, sc->mr) * g->K * sc->mr * 4;
    else
      p = pack_panels(s, g->a_data, batches, g->M * g->K, g->M, g->K, g->a_data_rs, g->a_data_cs,
                      sc->mr, &bytes);
    e.a_panel = ceil_div(g->M, sc->mr) * g->K * sc->mr;
    snprintf(gname, sizeof gname, "const.%s.A%dx%lld", g->name, sc->mr, (long long)g->K);
    if (g->a_skip_zero_rows && !g->b_skip_zero_rows) {
      e.nkb = ceil_div(g->K, sc->kc);
      e.npanels = ceil_div(g->M, sc->mr);
      compact c = compact_rows(&e, p, gname, sc->mr, batches, e.npanels, e.a_panel);
      e.a = c.vals, e.bkidx = c.kidx, e.boffs = c.offs;
      e.a_sparse = true;
    } else {
      e.a = cg_const_global(s, gname, p, bytes);
    }
  }
  if (g->b_kind == CG_OPND_PANELS) {
    int64_t bytes;
    /* B^T is rows = N, cols = K */
    const float *p = g->b_data;
    if (g->b_packed)
      bytes = g->b_data_batches * ceil_div(g->N, sc->nr) * g->K * sc->nr * 4;
    else
      p = pack_panels(s, g->b_data, g->b_data_batches, g->K * g->N, g->N, g->K, g->b_data_cs,
                      g->b_data_rs, sc->nr, &bytes);
    e.b_panel = ceil_div(g->N, sc->nr) * g->K * sc->nr;
    snprintf(gname, sizeof gname, "const.%s.B%lldx%d", g->name, (long long)g->K, sc->nr);
    /* the N:M form needs whole groups in every K block, A's groups
     * contiguous and the permutes of AVX-512; otherwise the dense kernel */
    int m = g->b_nm_group;
    bool nm = m > 1 && !g->b_skip_zero_rows && g->K % m == 0 && sc->kc % m == 0 &&
              sc->lanes == 16 && sc->lanes % m == 0 && g->a_kind == CG_OPND_STRIDED && g->a_cs == 1 &&
              cg_sparse_nm_target(s->target);
    if (nm) {
      e.npanels = ceil_div(g->N, sc->nr);
      e.nm_slots = nm_pack(&e, p, gname, m, g->b_data_batches, e.npanels, e.b_panel);
      e.nm = e.nm_slots ? m : 0;
    }
    if (e.nm) {
      /* e.b, e.bkidx: the N:M tables */
    } else if (g->b_skip_zero_rows) {
      e.nkb = ceil_div(g->K, sc->kc);
      e.npanels = ceil_div(g->N, sc->nr);
      compact c = compact_rows(&e, p, gname, sc->nr, g->b_data_batches, e.npanels, e.b_panel);
      e.b = c.vals, e.bkidx = c.kidx, e.boffs = c.offs;
    } else {
      e.b = cg_const_global(s, gname, p, bytes);
    }
  }
  if (g->bias_data) {
    int64_t cnt = g->bias_per_row ? g->M : g->N;
    snprintf(gname, sizeof gname, "const.%s.bias", g->name);
    e.bias = cg_const_global(s, gname, g->bias_data, cnt * 4);
  }

  int64_t batches = 1;
  for (int d = 0; d < g->batch_rank; d++) batches *= g->batch_dims[d];
  int64_t mb = sc->par == CG_PAR_N ? 1 : ceil_div(g->M, sc->mc);
  int64_t mc = sc->par == CG_PAR_N ? (g->M + sc->mr - 1) / sc->mr * sc->mr : sc->mc;
  int64_t nb = ceil_div(g->N, sc->nc);
  /* Run-time gathered B needs a private block per item that runs at the
   * same time; the items are capped at GEMM_MAX_SLOTS column groups, each
   * walking the N blocks p, p + slots, ... with its own block, so the
   * scratch stays bounded whatever N is. */
  enum { GEMM_MAX_SLOTS = 16 };
  int64_t slots = g->b_kind == CG_OPND_IM2COL && nb > GEMM_MAX_SLOTS ? GEMM_MAX_SLOTS : nb;
  bool serial = sc->par == CG_PAR_NONE;
  int64_t items = serial ? 1 : batches * mb * slots;
  int64_t per_item_block = sc->kc * sc->nc; /* IM2COL floats */
  if (g->b_kind == CG_OPND_IM2COL) cg_kernel_scratch(s, (serial ? 1 : batches * mb * slots) * per_item_block * 4);
  cg_kernel *k = cg_kernel_begin(s, n, items, 2 * g->K * (g->M * g->N / (mb * slots) + 1));
  e.k = k;
  if (g->a_kind == CG_OPND_STRIDED) e.a = k->in[g->a_in];
  if (g->b_kind != CG_OPND_PANELS) e.b = k->in[g->b_in];
  e.c = k->out[g->c_out];
  if (g->bias_in >= 0) e.bias = k->in[g->bias_in];
  if (g->resid_in >= 0) e.resid = k->in[g->resid_in];

  cg_loop item = cg_for(s, k->begin, k->end);
  /* item -> (batch, M block, column group), or everything for par=none */
  LLVMValueRef bidx, ib, grp;
  cg_loop all_b = {0}, all_i = {0}, all_j = {0};
  if (serial) {
    all_b = cg_for_n(s, batches);
    bidx = all_b.i;
    all_i = cg_for_n(s, mb);
    ib = all_i.i;
    all_j = cg_for_n(s, slots);
    grp = all_j.i;
  } else {
    bidx = cg_divc(s, item.i, mb * slots);
    LLVMValueRef r = cg_remc(s, item.i, mb * slots);
    ib = cg_divc(s, r, slots);
    grp = cg_remc(s, r, slots);
  }
  if (g->b_kind == CG_OPND_IM2COL) {
    LLVMValueRef slot = serial ? cg_i64(s, 0) : item.i;
    e.bblock = cg_gep(s, IR_F32, k->scratch, cg_mulc(s, slot, per_item_block));
  }
  /* the N blocks of this column group */
  cg_loop jbl = cg_for(s, cg_i64(s, 0), cg_divc(s, cg_sub(s, cg_i64(s, nb + slots - 1), grp), slots));
  LLVMValueRef jb = cg_add(s, grp, cg_mulc(s, jbl.i, slots));
  LLVMValueRef idx[KILN_MAX_RANK];
  cg_unravel(s, bidx, g->batch_rank, g->batch_dims, idx);
  LLVMValueRef aoff = cg_dot_strides(s, g->batch_rank, idx, g->a_bstr);
  e.a_off = g->a_kind == CG_OPND_PANELS ? cg_mulc(s, aoff, e.a_panel) : aoff;
  e.abatch = aoff;
  LLVMValueRef boff = cg_dot_strides(s, g->batch_rank, idx, g->b_bstr);
  e.b_off = g->b_kind == CG_OPND_PANELS ? cg_mulc(s, boff, e.b_panel) : boff;
  e.bbatch = boff;
  e.c_off = cg_dot_strides(s, g->batch_rank, idx, g->c_bstr);
  e.bias_off = cg_dot_strides(s, g->batch_rank, idx, g->bias_bstr);
  LLVMValueRef m0 = cg_mulc(s, ib, mc), m1 = cg_min(s, cg_addc(s, m0, mc), cg_i64(s, g->M));
  LLVMValueRef n0 = cg_mulc(s, jb, sc->nc), n1 = cg_min(s, cg_addc(s, n0, sc->nc), cg_i64(s, g->N));
  e.n0 = n0;
  if (g->b_kind == CG_OPND_IM2COL) e.b = e.bblock;

  int64_t nk = ceil_div(g->K, sc->kc);
  cg_loop pc = cg_for_n(s, nk);
  e.pc = cg_mulc(s, pc.i, sc->kc);
  e.pcb = pc.i;
  e.kcb = cg_min(s, cg_i64(s, sc->kc), cg_sub(s, cg_i64(s, g->K), e.pc));
  e.first = LLVMBuildICmp(s->b, LLVMIntEQ, pc.i, cg_i64(s, 0), "first");
  e.last = LLVMBuildICmp(s->b, LLVMIntEQ, pc.i, cg_i64(s, nk - 1), "last");
  if (g->b_kind == CG_OPND_IM2COL) im2col_block(&e, n1);

  /* the tiles of the block: the sparse B forms walk row tiles outside
   * (row_tiles_outer), the dense kernel column tiles outside */
  if (g->b_skip_zero_rows || e.nm) {
    row_tiles_outer(&e, m0, m1, n0, n1);
  } else {
    int nr = sc->nr, lanes = sc->lanes, nvf = nr / lanes;
    int64_t nfull = g->N / nr * nr;
    LLVMValueRef fend = cg_min(s, n1, cg_i64(s, nfull));
    LLVMValueRef ntiles = cg_divc(s, cg_max(s, cg_sub(s, fend, n0), cg_i64(s, 0)), nr);
    cg_loop jt = cg_for(s, cg_i64(s, 0), ntiles);
    row_tiles(&e, m0, m1, cg_add(s, n0, cg_mulc(s, jt.i, nr)), nvf, lanes);
    cg_end(s, &jt);
    if (g->N % nr) {
      int rem = (int)(g->N % nr);
      int nv = (rem + lanes - 1) / lanes, valid = rem - (nv - 1) * lanes;
      cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, n1, cg_i64(s, nfull), ""));
      row_tiles(&e, m0, m1, cg_i64(s, nfull), nv, valid);
      cg_end_if(s, &tail);
    }
  }
  cg_end(s, &pc);
  cg_end(s, &jbl);
  if (serial) {
    cg_end(s, &all_j);
    cg_end(s, &all_i);
    cg_end(s, &all_b);
  }
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

void cg_schedule_for(cg_state *s, int32_t n, const cg_gemm_shape *shape, cg_schedule *out) {
  cg_target_caps caps = cg_caps_of(s->target);
  cg_schedule_default(&caps, shape, out);
  /* a schedule chosen by reorder-layout or `kiln tune` travels as an attribute */
  const char *text = ir_attr_string_or(s->g, n, "schedule", NULL);
  if (text) {
    cg_schedule t = *out;
    if (cg_schedule_parse(text, &t) && !cg_schedule_check(&caps, &t) && t.conv == CG_CONV_GEMM)
      *out = t;
  }
}
