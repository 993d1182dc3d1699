/*
 * conv_nchwc.c — direct convolution on blocked (NCHWc) activations.
 *
 * The GEMM kernel computes a convolution as weights x image columns: the
 * vectors run along output pixels, and a KxK or strided convolution first
 * gathers its columns (im2col) into scratch, 9x the input for a 3x3.  On
 * the small planes of a network's late stages that layout wastes lanes (a
 * 7x7 plane is 49 pixels: four 16-lane vectors hold 64) and the gather
 * costs a fifth of the time.  Here the vectors run along output channels,
 * as in oneDNN's and MLAS's NCHWc kernels:
 *
 *   activations  BLOCKED: [C/L][N][H][W][L], L = lanes (ir.h); a chain's
 *                first input may be plain NCHW, its last output plain
 *   weights      packed at compile time: [M/nr][C/L][KH][KW][L][nr]
 *
 *   for each parallel item (image, nc output channels, mc output rows):
 *     for each K block (kc / (KH*KW*L) input channel blocks):   -- in order
 *       for each output row, for each tile of mr pixels, for each nr panel:
 *         acc[mr][nr/L] = first block ? residual or 0 : the output so far
 *         for each input channel block cb, each kh inside the image:
 *           for each kw (unrolled; the pixels it keeps inside the image
 *           are known at compile time for the edge tiles):
 *             for ci < L:  w[v] = weights(cb, kh, kw, ci, v)      (nr/L loads)
 *                          acc[r][v] += x(cb, ih, iw(r, kw), ci) * w[v]
 *         last block: + bias, activation, in registers; store
 *
 * The image is read in place: a pixel's L input channels are adjacent, so
 * each broadcast walks one cache line.  Tiles stay inside one output row,
 * so the tiles at the row's ends, where some kernel columns fall into
 * the padding, are separate code that leaves those products out (no
 * masks, no zero-filled copy); interior tiles are one loop.  Rows whose
 * kernel row falls outside the image skip it (the range of valid kh is
 * computed per row).
 *
 * Every output element sums over K blocks in order, and within one over
 * (cb, kh, kw, ci) in order, whatever the split into items: results are
 * bit-identical for every thread count.
 */
#include "kernels/conv_nchwc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/depthwise.h"
#include "kernels/gemm.h"

enum { NCHWC_MAX_MR = 16, NCHWC_MAX_NV = 4 };

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static bool static_f32(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].dtype == IR_F32 && ir_shape_is_static(&g->values[v].shape);
}

/* ---- which nodes, which values (IR only) ---------------------------------------- */
bool cg_nchwc_conv_of(const ir_graph *g, ir_node_id n, int lanes, bool sparse_kernels) {
  const ir_node *nd = &g->nodes[n];
  if (nd->dead || (nd->op != IR_OP_CONV && nd->op != IR_OP_FUSED_CONV) || nd->num_inputs < 2 ||
      lanes < 4)
    return false;
  ir_value_id x = nd->inputs[0], w = nd->inputs[1], y = nd->outputs[0];
  if (!static_f32(g, x) || !static_f32(g, w) || !static_f32(g, y) || !ir_const_data(g, w))
    return false;
  if (g->values[w].layout.kind != IR_LAYOUT_PLAIN) return false;
  /* sparse weights that reorder-layout's cost model gives the sparse GEMM
   * kernel (1x1 convolutions whose runs of 8 output channels are mostly
   * zero: reorder_layout.c, sparse_schedule) stay there, unless their runs
   * of `lanes` are mostly zero too: the direct kernel's sparse form takes
   * those (cg_nchwc_sparse_schedule) */
  if (sparse_kernels && cg_sparse_conv_pays(g, n) && !cg_sparse_direct_pays(g, n, lanes)) return false;
  const ir_shape *xs = &g->values[x].shape, *ws = &g->values[w].shape;
  if (xs->rank != 4 || ws->rank != 4 || ir_attr_int_or(g, n, "group", 1) != 1) return false;
  /* input channels in whole blocks of lanes, or fewer than lanes (an RGB
   * image: such an input is never blocked, see cg_nchwc_cblk) */
  if ((xs->dims[1] % lanes && xs->dims[1] > lanes) || ws->dims[0] % lanes || ws->dims[1] != xs->dims[1])
    return false;
  for (int i = 2; i < 4 && nd->num_inputs > i; i++) /* bias, residual */
    if (nd->inputs[i] >= 0 && !static_f32(g, nd->inputs[i])) return false;
  /* auto_pad is resolved into pads by then; the window attributes must be
   * the plain 2-d ones */
  const char *ap = ir_attr_string_or(g, n, "auto_pad", "NOTSET");
  return !strcmp(ap, "NOTSET") || !strcmp(ap, "VALID");
}

bool cg_nchwc_pool_of(const ir_graph *g, ir_node_id n, int lanes) {
  const ir_node *nd = &g->nodes[n];
  if (nd->dead || nd->op != IR_OP_MAX_POOL || nd->num_inputs != 1 || lanes < 4) return false;
  if (nd->num_outputs > 1 && nd->outputs[1] >= 0) return false; /* indices */
  ir_value_id x = nd->inputs[0], y = nd->outputs[0];
  if (!static_f32(g, x) || !static_f32(g, y) || g->values[x].shape.rank != 4) return false;
  const char *ap = ir_attr_string_or(g, n, "auto_pad", "NOTSET");
  return g->values[x].shape.dims[1] % lanes == 0 && (!strcmp(ap, "NOTSET") || !strcmp(ap, "VALID"));
}

bool cg_nchwc_global_pool_of(const ir_graph *g, ir_node_id n, int lanes) {
  const ir_node *nd = &g->nodes[n];
  if (nd->dead || (nd->op != IR_OP_GLOBAL_AVERAGE_POOL && nd->op != IR_OP_GLOBAL_MAX_POOL) ||
      nd->num_inputs != 1 || lanes < 4)
    return false;
  ir_value_id x = nd->inputs[0], y = nd->outputs[0];
  return static_f32(g, x) && static_f32(g, y) && g->values[x].shape.rank == 4 &&
         g->values[x].shape.dims[1] % lanes == 0;
}

int cg_nchwc_plan(ir_graph *g, int lanes, bool sparse_kernels) {
  /* ok: direct convolutions (image 0, residual 3); keep: blocked MaxPool
   * (0) and depthwise convolutions (0, residual 3), whose input, output
   * and residual are all blocked or all plain */
  bool *ok = calloc((size_t)g->num_nodes + 1, 1), *keep = calloc((size_t)g->num_nodes + 1, 1);
  bool *reads = calloc((size_t)g->num_nodes + 1, 1); /* global pools: read blocked, write plain */
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    ok[n] = cg_nchwc_conv_of(g, n, lanes, sparse_kernels);
    keep[n] = cg_nchwc_pool_of(g, n, lanes) || cg_depthwise_blocked_of(g, n, lanes);
    reads[n] = cg_nchwc_global_pool_of(g, n, lanes);
  }
  /* readers: every use must be one of those */
  bool *bad = calloc((size_t)g->num_values + 1, 1);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead) continue;
    for (int i = 0; i < nd->num_inputs; i++) {
      ir_value_id v = nd->inputs[i];
      if (v >= 0 && !((ok[n] || keep[n]) && (i == 0 || i == 3)) && !(reads[n] && i == 0)) bad[v] = true;
    }
  }
  for (int i = 0; i < g->num_outputs; i++) bad[g->outputs[i]] = true;
  bool *blk = calloc((size_t)g->num_values + 1, 1);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    if (!ok[n] && !keep[n]) continue;
    ir_value_id y = g->nodes[n].outputs[0];
    const ir_value *v = &g->values[y];
    blk[y] = !bad[y] && v->num_uses > 0 && v->layout.kind == IR_LAYOUT_PLAIN;
  }
  /* A chain's last convolution writes its plain output one lane at a time
   * (a scatter): about one store per output element against C*KH*KW/32
   * vector FMAs.  Where that is more than an eighth of the work (MobileNet's
   * expansions, 24 input channels), its input stays plain instead, which
   * may end the chain one convolution earlier, unless its output rows are
   * whole vectors (then the tiles store transposed, a vector at a time).
   * Repeat until stable: every rule only unblocks. */
  for (bool changed = true; changed;) {
    changed = false;
    for (ir_node_id n = 0; n < g->num_nodes; n++) {
      const ir_node *nd = &g->nodes[n];
      if (keep[n]) {
        ir_value_id x = nd->inputs[0], y = nd->outputs[0];
        ir_value_id r = nd->num_inputs > 3 ? nd->inputs[3] : -1;
        bool all = blk[x] && blk[y] && (r < 0 || blk[r]), none = !blk[x] && !blk[y] && (r < 0 || !blk[r]);
        if (!all && !none) {
          blk[x] = blk[y] = false;
          if (r >= 0) blk[r] = false;
          changed = true;
        }
      }
      if (!ok[n]) continue;
      ir_value_id x = nd->inputs[0], y = nd->outputs[0];
      const ir_shape *ws = &g->values[nd->inputs[1]].shape;
      int64_t reduce = ws->dims[1] * ws->dims[2] * ws->dims[3];
      bool whole_rows = g->values[y].shape.dims[3] % lanes == 0;
      if (blk[x] && !blk[y] && reduce < 256 && !whole_rows) blk[x] = false, changed = true;
    }
  }
  int marked = 0;
  for (ir_value_id y = 0; y < g->num_values; y++)
    if (blk[y]) {
      g->values[y].layout = (ir_layout){.kind = IR_LAYOUT_BLOCKED, .block = lanes, .block2 = 1};
      marked++;
    }
  free(ok);
  free(keep);
  free(reads);
  free(bad);
  free(blk);
  return marked;
}

bool cg_nchwc_plain_pays(const ir_graph *g, ir_node_id n, int lanes, bool sparse_kernels) {
  if (!cg_nchwc_conv_of(g, n, lanes, sparse_kernels)) return false;
  const ir_node *nd = &g->nodes[n];
  const ir_shape *ws = &g->values[nd->inputs[1]].shape, *ys = &g->values[nd->outputs[0]].shape;
  bool pointwise = ws->dims[2] == 1 && ws->dims[3] == 1;
  const int64_t *v;
  int cnt = ir_attr_ints(g, n, "strides", &v);
  for (int i = 0; i < cnt; i++) pointwise = pointwise && v[i] == 1;
  cnt = ir_attr_ints(g, n, "pads", &v);
  for (int i = 0; i < cnt; i++) pointwise = pointwise && v[i] == 0;
  return !pointwise && ys->dims[3] % lanes == 0;
}

bool cg_nchwc_node(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if (nd->op != IR_OP_CONV && nd->op != IR_OP_FUSED_CONV) return false;
  bool blocked = g->values[nd->outputs[0]].layout.kind == IR_LAYOUT_BLOCKED;
  for (int i = 0; i < nd->num_inputs; i++)
    if (nd->inputs[i] >= 0 && g->values[nd->inputs[i]].layout.kind == IR_LAYOUT_BLOCKED) blocked = true;
  return blocked;
}

int64_t cg_nchwc_cblk(int64_t C, int lanes) { return C % lanes ? C : lanes; }

void cg_nchwc_shape_of(const ir_graph *g, ir_node_id n, cg_nchwc_shape *sh) {
  const ir_node *nd = &g->nodes[n];
  const ir_shape *xs = &g->values[nd->inputs[0]].shape, *ws = &g->values[nd->inputs[1]].shape,
                 *ys = &g->values[nd->outputs[0]].shape;
  *sh = (cg_nchwc_shape){.N = xs->dims[0], .C = xs->dims[1], .M = ws->dims[0],
                         .H = xs->dims[2], .W = xs->dims[3], .OH = ys->dims[2], .OW = ys->dims[3],
                         .KH = ws->dims[2], .KW = ws->dims[3],
                         .out_plain = g->values[nd->outputs[0]].layout.kind != IR_LAYOUT_BLOCKED};
}

/* ---- the schedule ---------------------------------------------------------------- */
static double coverage(int64_t extent, int64_t b) {
  return (double)extent / (double)(ceil_div(extent, b) * b);
}

/* Output rows per item (mc) when items take nc output channels each: at
 * least 8 items when the shape allows, as few splits of the rows as that
 * needs. */
static int64_t rows_per_item(const cg_nchwc_shape *sh, int64_t nc) {
  int64_t groups = ceil_div(8, sh->N * (sh->M / nc));
  if (groups > sh->OH) groups = sh->OH;
  if (groups < 1) groups = 1;
  return ceil_div(sh->OH, groups);
}

void cg_nchwc_schedule_default(const cg_target_caps *caps, const cg_nchwc_shape *sh,
                               cg_schedule *out) {
  cg_schedule s = {.unroll = 1, .par = CG_PAR_MN, .conv = CG_CONV_DIRECT};
  s.lanes = caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4;
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  if (caps->vector_bits < 128) regs = regs / 4;
  /* the register block: most FMAs per load among those whose accumulators,
   * weight vectors and a broadcast fit the registers with one to spare,
   * discounted by the pixels a row's last tile leaves idle; nr divides M
   * (no channel tail) */
  double best = -1;
  /* a plain input of a few channels (an RGB stem) reads strided scalars
   * for its broadcasts and LLVM hoists those of the unrolled kw steps: with
   * 24 accumulators ResNet's 7x7 stem spent a quarter of its instructions
   * on spills (perf annotate, 2026-12-03).  Keep a third of the registers
   * free for them there (20 accumulators of 32 registers: the stem ran
   * 20% faster). */
  bool few = sh->C < s.lanes;
  int max_acc = few ? regs * 5 / 8 : 28;
  for (int nv = 1; nv <= NCHWC_MAX_NV; nv++) {
    if (sh->M % ((int64_t)nv * s.lanes)) continue;
    for (int mr = 1; mr <= NCHWC_MAX_MR; mr++) {
      int acc = mr * nv;
      if (acc + nv + 1 > regs - 1 || acc > max_acc) continue;
      double score = (double)acc / (double)(mr + nv) * coverage(sh->OW, mr);
      if (score > best + 1e-9) best = score, s.mr = mr, s.nr = nv * s.lanes;
    }
  }
  /* a plain output whose rows are whole vectors: tiles of one vector of
   * pixels by one of channels, stored as a transposed tile (whole vectors
   * along a row of each channel's plane) instead of lane by lane */
  if (sh->out_plain && sh->OW % s.lanes == 0 && s.lanes <= 16 && s.lanes + 2 <= regs - 1 &&
      sh->M % s.lanes == 0)
    s.mr = s.lanes, s.nr = s.lanes;
  /* kc: whole input channel blocks, the weights of one K block (kc x nr
   * floats) at most 24 KiB (one block at least) so they stay in half of
   * L1 while every tile of the item sweeps them: against 64 KiB (L2),
   * ResNet-50 ran 2-3% faster at two threads, 1-2% at one (A/B runs on
   * this machine, 2026-12-03); a plain output is one block (its partial
   * sums would be re-read with scalar gathers) */
  int64_t cblk = cg_nchwc_cblk(sh->C, s.lanes);
  int64_t taps = sh->KH * sh->KW, cb = sh->C / cblk, per_cb = taps * cblk;
  /* a few channels: the ci loop stays a loop (unrolled, its steps' loads
   * are what spilled above) */
  int64_t want = (24 << 10) / (per_cb * s.nr * 4);
  if (want < 1) want = 1;
  if (want > cb || sh->out_plain) want = cb;
  int64_t nkb = ceil_div(cb, want);
  s.kc = ceil_div(cb, nkb) * per_cb;
  /* items: nc channels x mc rows, at least 8 when the shape allows, whole
   * rows and as few splits of the rows as that needs */
  s.nc = s.nr;
  s.mc = rows_per_item(sh, s.nc);
  *out = s;
}

void cg_nchwc_sparse_schedule(const cg_target_caps *caps, const cg_nchwc_shape *sh, cg_schedule *out) {
  cg_nchwc_schedule_default(caps, sh, out);
  cg_schedule s = *out;
  /* one vector of output channels per panel (the runs that are skipped);
   * a broadcast per pixel and nonzero, so the FMAs per load grow with the
   * pixels of a tile: the most that divide the row (no short last tile),
   * at most 14 (accumulators plus a weight and a broadcast in 16 or 32
   * registers) */
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  int most = regs - 3 < 14 ? regs - 3 : 14;
  if (most < 1) most = 1;
  s.nr = s.lanes;
  s.mr = (int)(sh->OW < most ? sh->OW : most);
  for (int mr = s.mr; mr >= most / 2 && mr >= 1; mr--)
    if (sh->OW % mr == 0) {
      s.mr = mr;
      break;
    }
  s.kc = sh->C * sh->KH * sh->KW; /* one K block: the nonzeros of a panel are few */
  s.unroll = 1;
  /* items: 4 panels (64 channels) each when M allows, rows as the dense
   * policy splits them */
  s.nc = sh->M % (4 * s.nr) == 0 ? 4 * s.nr : s.nr;
  s.mc = rows_per_item(sh, s.nc);
  *out = s;
}

const char *cg_nchwc_schedule_check(const cg_target_caps *caps, const cg_nchwc_shape *sh,
                                    const cg_schedule *sc) {
  /* cg_schedule_check's GEMM rules do not all apply here: mc counts
   * output rows and mr pixels of one row, so mc need not be a multiple of
   * mr (the default's often is not: 7 rows per item, tiles of 6 pixels) */
  if (sc->conv != CG_CONV_DIRECT) return "not a direct convolution schedule";
  int lanes = caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4;
  if (sc->lanes != lanes) return "lanes must be the target's vector width in floats";
  if (sc->mr < 1 || sc->mr > NCHWC_MAX_MR) return "mr (pixels per tile) must be in 1..16";
  if (sc->nr < sc->lanes || sc->nr % sc->lanes) return "nr must be a positive multiple of lanes";
  if (sc->nr / sc->lanes > NCHWC_MAX_NV) return "nr above 4 vectors";
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  if (sc->mr * (sc->nr / sc->lanes) > 4 * regs) return "register block far larger than the registers";
  if (sh->M % sc->nr) return "nr must divide the output channels";
  int64_t cblk = cg_nchwc_cblk(sh->C, sc->lanes);
  if (sc->kc < 1 || sc->kc % (sh->KH * sh->KW * cblk)) return "kc must be whole channel blocks x taps";
  if (sc->mc < 1) return "mc (output rows per item) must be positive";
  if (sc->nc < sc->nr || sc->nc % sc->nr) return "nc must be a positive multiple of nr";
  if (sc->unroll < 1 || sc->unroll > 16 || cblk % sc->unroll) return "unroll must divide the channel block";
  if (sc->par != CG_PAR_MN && sc->par != CG_PAR_NONE) return "par must be mn or none";
  return NULL;
}

/* ---- the emitter ----------------------------------------------------------------- */
typedef struct nchwc_emit {
  cg_state *s;
  const cg_schedule *sc;
  cg_nchwc_shape q;
  int64_t sh, sw, dh, dw, ph, pw;
  int L, nv;
  int64_t cblk;                       /* input channels per block: L, or all of a few */
  bool in_blocked, out_blocked, resid_blocked;
  LLVMTypeRef vt;
  LLVMValueRef x, w, y, bias, resid;  /* bases */
  LLVMValueRef n, ocb;                /* this item's image and channel panel (of nr) */
  LLVMValueRef cb0, cb1;              /* this K block's input channel blocks */
  LLVMValueRef first, last;
  cg_activation act;
} nchwc_emit;

/* Element offset of (image n, channel c, row h, column w) of a plane of
 * C channels, H x W, in the blocked or plain layout. */
static LLVMValueRef act_off(nchwc_emit *e, bool blocked, int64_t C, int64_t H, int64_t W,
                            LLVMValueRef c, LLVMValueRef h, LLVMValueRef w) {
  cg_state *s = e->s;
  LLVMValueRef pix = cg_add(s, cg_mulc(s, h, W), w);
  if (blocked) {
    LLVMValueRef blk = cg_add(s, cg_mulc(s, cg_divc(s, c, e->L), e->q.N), e->n);
    return cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, blk, H * W), pix), e->L), cg_remc(s, c, e->L));
  }
  return cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, e->n, C), c), H * W), pix);
}

/* A vector of L output-layout elements: channels c .. c+L-1 at one pixel. */
static LLVMValueRef ld_chan(nchwc_emit *e, LLVMValueRef base, bool blocked, LLVMValueRef c,
                            LLVMValueRef oh, LLVMValueRef ow) {
  cg_state *s = e->s;
  LLVMValueRef at = act_off(e, blocked, e->q.M, e->q.OH, e->q.OW, c, oh, ow);
  if (blocked) {
    LLVMValueRef v = cg_vload(s, e->vt, base, at, 4);
    return v;
  }
  LLVMValueRef v = LLVMConstNull(e->vt);
  int64_t plane = e->q.OH * e->q.OW;
  for (int l = 0; l < e->L; l++)
    v = LLVMBuildInsertElement(s->b, v, cg_load(s, IR_F32, base, cg_addc(s, at, l * plane)),
                               cg_i32(s, l), "");
  return v;
}

static void st_chan(nchwc_emit *e, LLVMValueRef c, LLVMValueRef oh, LLVMValueRef ow, LLVMValueRef v) {
  cg_state *s = e->s;
  LLVMValueRef at = act_off(e, e->out_blocked, e->q.M, e->q.OH, e->q.OW, c, oh, ow);
  if (e->out_blocked) {
    cg_vstore(s, e->y, at, v, 4);
    return;
  }
  int64_t plane = e->q.OH * e->q.OW;
  for (int l = 0; l < e->L; l++)
    cg_store(s, IR_F32, e->y, cg_addc(s, at, l * plane), LLVMBuildExtractElement(s->b, v, cg_i32(s, l), ""));
}

/* Transposes the L x L matrix whose rows are m[0..L-1] (L a power of two):
 * log2(L) stages, each exchanging the off-diagonal b x b blocks of every
 * 2b x 2b block with one two-input shuffle per row. */
static void transpose(cg_state *s, LLVMValueRef *m, int L) {
  for (int b = 1; b < L; b *= 2)
    for (int i = 0; i < L; i++) {
      if (i % (2 * b) >= b) continue;
      LLVMValueRef lo[64], hi[64];
      for (int j = 0; j < L; j++) {
        bool first = j % (2 * b) < b;
        /* row i keeps its j in the first half of each 2b group and takes
         * row i+b's j-b in the second; row i+b the other way round */
        lo[j] = cg_i32(s, first ? j : L + j - b);
        hi[j] = cg_i32(s, first ? j + b : L + j);
      }
      LLVMValueRef a = m[i], c = m[i + b];
      m[i] = LLVMBuildShuffleVector(s->b, a, c, LLVMConstVector(lo, (unsigned)L), "");
      m[i + b] = LLVMBuildShuffleVector(s->b, a, c, LLVMConstVector(hi, (unsigned)L), "");
    }
}

/* One tile: pixels ow0 .. ow0+mr-1 of row oh, all nr channels of the item's
 * panel.  ow0s >= 0 is ow0 known at compile time (an edge tile: each kw
 * keeps only the pixels inside the image); -1 is an interior tile. */
static void tile(nchwc_emit *e, LLVMValueRef oh, LLVMValueRef kh0, LLVMValueRef kh1, LLVMValueRef ow0,
                 int64_t ow0s, int mr) {
  cg_state *s = e->s;
  const cg_nchwc_shape *q = &e->q;
  int L = e->L, nv = e->nv, nr = e->sc->nr;
  LLVMValueRef acc[NCHWC_MAX_MR * NCHWC_MAX_NV];
  LLVMValueRef c0 = cg_mulc(s, e->ocb, nr);
  for (int i = 0; i < mr * nv; i++) acc[i] = cg_var(s, e->vt, LLVMConstNull(e->vt));
  if (e->resid) {
    cg_loop init = cg_if(s, e->first);
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++)
        cg_set(s, acc[r * nv + v], ld_chan(e, e->resid, e->resid_blocked, cg_addc(s, c0, v * L), oh,
                                           cg_addc(s, ow0, r)));
    cg_end_if(s, &init);
  }
  cg_loop again = cg_if(s, LLVMBuildNot(s->b, e->first, ""));
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++)
      cg_set(s, acc[r * nv + v], ld_chan(e, e->y, e->out_blocked, cg_addc(s, c0, v * L), oh,
                                         cg_addc(s, ow0, r)));
  cg_end_if(s, &again);

  /* input: the pixel stride and the channel stride within a block */
  int64_t pstride = e->in_blocked ? L : 1, cstride = e->in_blocked ? 1 : q->H * q->W;
  cg_loop cb = cg_for(s, e->cb0, e->cb1);
  cg_loop kh = cg_for(s, kh0, kh1);
  LLVMValueRef ih = cg_addc(s, cg_add(s, cg_mulc(s, oh, e->sh), cg_mulc(s, kh.i, e->dh)), -e->ph);
  /* x(cb, ih, iw = 0, ci = 0) */
  LLVMValueRef xrow = act_off(e, e->in_blocked, q->C, q->H, q->W, cg_mulc(s, cb.i, e->cblk), ih, cg_i64(s, 0));
  LLVMValueRef xcol = cg_mulc(s, cg_addc(s, cg_mulc(s, ow0, e->sw), -e->pw), pstride);
  xrow = cg_add(s, xrow, xcol);
  /* weights(ocb, cb, kh, kw = 0, ci = 0, 0) */
  LLVMValueRef wrow = cg_mulc(
      s, cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, e->ocb, q->C / e->cblk), cb.i), q->KH), kh.i),
      q->KW * e->cblk * nr);
  for (int64_t kw = 0; kw < q->KW; kw++) {
    /* the pixels r whose column iw = (ow0 + r)*sw + kw*dw - pw is inside */
    int rlo = 0, rhi = mr;
    if (ow0s >= 0) {
      while (rlo < mr && (ow0s + rlo) * e->sw + kw * e->dw - e->pw < 0) rlo++;
      while (rhi > rlo && (ow0s + rhi - 1) * e->sw + kw * e->dw - e->pw >= q->W) rhi--;
      if (rlo >= rhi) continue;
    }
    int U = e->sc->unroll;
    cg_loop ci = cg_for_n(s, e->cblk / U);
    for (int u = 0; u < U; u++) {
      LLVMValueRef c = cg_addc(s, cg_mulc(s, ci.i, U), u);
      LLVMValueRef wv[NCHWC_MAX_NV];
      LLVMValueRef wat = cg_add(s, cg_addc(s, wrow, kw * e->cblk * nr), cg_mulc(s, c, nr));
      for (int v = 0; v < nv; v++) {
        wv[v] = cg_vload(s, e->vt, e->w, cg_addc(s, wat, v * L), (unsigned)(L * 4 > 64 ? 64 : L * 4));
      }
      LLVMValueRef xat = cg_add(s, cg_addc(s, xrow, kw * e->dw * pstride), cg_mulc(s, c, cstride));
      for (int r = rlo; r < rhi; r++) {
        LLVMValueRef a = cg_splat(s, cg_load(s, IR_F32, e->x, cg_addc(s, xat, r * e->sw * pstride)),
                                  (unsigned)L);
        for (int v = 0; v < nv; v++)
          cg_set(s, acc[r * nv + v], cg_fmuladd(s, a, wv[v], cg_get(s, e->vt, acc[r * nv + v])));
      }
    }
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(s->b);
    cg_end(s, &ci);
    cg_keep_loop(s, latch);
  }
  cg_end(s, &kh);
  cg_end(s, &cb);

  cg_loop fin = cg_if(s, e->last);
  for (int v = 0; v < nv; v++) {
    LLVMValueRef bv = NULL;
    if (e->bias) {
      bv = cg_vload(s, e->vt, e->bias, cg_addc(s, c0, v * L), 4);
    }
    for (int r = 0; r < mr; r++) {
      LLVMValueRef a = cg_get(s, e->vt, acc[r * nv + v]);
      if (bv) a = LLVMBuildFAdd(s->b, a, bv, "");
      if (e->act.op != IR_OP_COUNT) a = cg_apply_activation(s, &e->act, a);
      cg_set(s, acc[r * nv + v], a);
    }
  }
  cg_end_if(s, &fin);
  if (!e->out_blocked && mr == L && (L & (L - 1)) == 0) {
    /* plain output, a tile of L pixels of one row: transpose each L x L
     * block in registers, then every channel's L pixels are one store */
    int64_t plane = q->OH * q->OW;
    for (int v = 0; v < nv; v++) {
      LLVMValueRef m[NCHWC_MAX_MR];
      for (int r = 0; r < L; r++) m[r] = cg_get(s, e->vt, acc[r * nv + v]);
      transpose(s, m, L);
      LLVMValueRef at = act_off(e, false, q->M, q->OH, q->OW, cg_addc(s, c0, v * L), oh, ow0);
      for (int l = 0; l < L; l++) {
        cg_vstore(s, e->y, cg_addc(s, at, l * plane), m[l], 4);
      }
    }
    return;
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++)
      st_chan(e, cg_addc(s, c0, v * L), oh, cg_addc(s, ow0, r), cg_get(s, e->vt, acc[r * nv + v]));
}

/* ---- the sparse form (1x1, pruned weights) ---------------------------------------- */
/*
 * A 1x1 convolution (strided too) whose runs of L output channels at one
 * input channel are mostly zero (block:16x1 pruning) keeps its chain of blocked
 * activations and skips those runs.  The weights become, at compile time,
 * per panel of L output channels the list of input channels with a
 * nonzero run: their offsets in the input (channel block and lane, or the
 * plane of a plain input) and their L weights:
 *
 *   for each tile of mr pixels of a row, each panel of L channels:
 *     acc[r] = residual or 0
 *     for j in the panel's nonzeros (in channel order):
 *       w = weights[j]                                   (one vector)
 *       acc[r] += x[pixel r + offset[j]] * w             (broadcast)
 *     + bias, activation; store
 *
 * The sums run over the kept channels in order, so the result is the
 * dense kernel's up to the zero products it leaves out, and the same for
 * every thread count.
 */
typedef struct sparse_panels {
  LLVMValueRef start, off, w; /* i64 [panels + 1], i64 [nnz], f32 [nnz][L] */
} sparse_panels;

static sparse_panels sparse_pack(nchwc_emit *e, const float *w, const char *name, bool in_blocked) {
  cg_state *s = e->s;
  const cg_nchwc_shape *q = &e->q;
  int64_t L = e->L, P = q->M / L;
  /* room for every run; the globals take only the kept ones */
  int64_t *start = ir_arena_alloc(&s->arena, (size_t)(P + 1) * sizeof *start);
  int64_t *off = ir_arena_alloc(&s->arena, (size_t)(P * q->C + 1) * sizeof *off);
  float *vals = ir_arena_alloc(&s->arena, (size_t)(P * q->C + 1) * (size_t)L * sizeof *vals);
  int64_t j = 0;
  for (int64_t p = 0; p < P; p++) {
    start[p] = j;
    for (int64_t c = 0; c < q->C; c++) {
      bool nz = false;
      for (int64_t l = 0; l < L; l++) nz |= w[(p * L + l) * q->C + c] != 0;
      if (!nz) continue;
      /* blocked: channel block c/L of all N images, lane c%L; plain: plane c */
      off[j] = in_blocked ? (c / L) * q->N * q->H * q->W * L + c % L : c * q->H * q->W;
      for (int64_t l = 0; l < L; l++) vals[j * L + l] = w[(p * L + l) * q->C + c];
      j++;
    }
  }
  start[P] = j;
  int64_t nnz = j;
  char gname[220];
  sparse_panels sp;
  snprintf(gname, sizeof gname, "const.%s.sparse%d.start", name, (int)L);
  sp.start = cg_const_global(s, gname, start, (P + 1) * 8);
  snprintf(gname, sizeof gname, "const.%s.sparse%d.off", name, (int)L);
  sp.off = cg_const_global(s, gname, off, (nnz + 1) * 8);
  snprintf(gname, sizeof gname, "const.%s.sparse%d.w", name, (int)L);
  sp.w = cg_const_global(s, gname, vals, (nnz + 1) * L * 4);
  return sp;
}

static void sparse_tile(nchwc_emit *e, const sparse_panels *sp, LLVMValueRef oh, LLVMValueRef ow0, int mr) {
  cg_state *s = e->s;
  const cg_nchwc_shape *q = &e->q;
  int L = e->L;
  LLVMValueRef acc[NCHWC_MAX_MR];
  LLVMValueRef c0 = cg_mulc(s, e->ocb, L);
  for (int r = 0; r < mr; r++)
    acc[r] = cg_var(s, e->vt, e->resid ? ld_chan(e, e->resid, e->resid_blocked, c0, oh, cg_addc(s, ow0, r))
                                       : LLVMConstNull(e->vt));
  /* the tile's first pixel in the input (row oh*sh, column ow0*sw), its
   * channel left out; pixel r is r*sw columns on */
  LLVMValueRef pix = cg_add(s, cg_mulc(s, cg_mulc(s, oh, e->sh), q->W), cg_mulc(s, ow0, e->sw));
  int64_t pstride = (e->in_blocked ? L : 1) * e->sw;
  LLVMValueRef xpix = e->in_blocked ? cg_mulc(s, cg_add(s, cg_mulc(s, e->n, q->H * q->W), pix), L)
                                    : cg_add(s, cg_mulc(s, e->n, q->C * q->H * q->W), pix);
  LLVMValueRef j0 = cg_load(s, IR_I64, sp->start, e->ocb), j1 = cg_load(s, IR_I64, sp->start, cg_addc(s, e->ocb, 1));
  cg_loop j = cg_for(s, j0, j1);
  LLVMValueRef at = cg_add(s, xpix, cg_load(s, IR_I64, sp->off, j.i));
  LLVMValueRef wv = cg_vload(s, e->vt, sp->w, cg_mulc(s, j.i, L), (unsigned)(L * 4 > 64 ? 64 : L * 4));
  for (int r = 0; r < mr; r++) {
    LLVMValueRef a = cg_splat(s, cg_load(s, IR_F32, e->x, cg_addc(s, at, r * pstride)), (unsigned)L);
    cg_set(s, acc[r], cg_fmuladd(s, a, wv, cg_get(s, e->vt, acc[r])));
  }
  cg_end(s, &j);
  LLVMValueRef bv = NULL;
  if (e->bias) {
    bv = cg_vload(s, e->vt, e->bias, c0, 4);
  }
  for (int r = 0; r < mr; r++) {
    LLVMValueRef a = cg_get(s, e->vt, acc[r]);
    if (bv) a = LLVMBuildFAdd(s->b, a, bv, "");
    if (e->act.op != IR_OP_COUNT) a = cg_apply_activation(s, &e->act, a);
    st_chan(e, c0, oh, cg_addc(s, ow0, r), a);
  }
}

static void sparse_row(nchwc_emit *e, const sparse_panels *sp, LLVMValueRef oh) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  int64_t full = e->q.OW / mr;
  if (full > 0) {
    cg_loop t = cg_for_n(s, full);
    sparse_tile(e, sp, oh, cg_mulc(s, t.i, mr), mr);
    cg_end(s, &t);
  }
  if (e->q.OW % mr) sparse_tile(e, sp, oh, cg_i64(s, full * mr), (int)(e->q.OW % mr));
}

static bool tile_inside(int64_t ow0, int mr, int64_t W, int64_t sw, int64_t pw, int64_t span) {
  return ow0 * sw - pw >= 0 && (ow0 + mr - 1) * sw + span - 1 - pw < W;
}

void cg_row_tiles(cg_state *s, int64_t OW, int mr, int64_t W, int64_t sw, int64_t pw, int64_t span,
                  cg_row_tile_fn each, void *ctx) {
  int64_t full = OW / mr;
  /* interior full tiles form one run [tlo, thi) between the edge tiles */
  int64_t tlo = 0, thi = full;
  while (tlo < full && !tile_inside(tlo * mr, mr, W, sw, pw, span)) tlo++;
  while (thi > tlo && !tile_inside((thi - 1) * mr, mr, W, sw, pw, span)) thi--;
  for (int64_t t = 0; t < tlo; t++) each(ctx, cg_i64(s, t * mr), t * mr, mr);
  if (thi > tlo) {
    cg_loop t = cg_for(s, cg_i64(s, tlo), cg_i64(s, thi));
    each(ctx, cg_mulc(s, t.i, mr), -1, mr);
    cg_end(s, &t);
  }
  for (int64_t t = thi > tlo ? thi : tlo; t < full; t++) each(ctx, cg_i64(s, t * mr), t * mr, mr);
  if (OW % mr) each(ctx, cg_i64(s, full * mr), full * mr, (int)(OW % mr));
}

/* A row's tiles for cg_row_tiles: the row and its kernel rows inside. */
typedef struct row_ctx {
  nchwc_emit *e;
  LLVMValueRef oh, kh0, kh1;
} row_ctx;

static void row_tile(void *ctx, LLVMValueRef ow0, int64_t ow0s, int mr) {
  row_ctx *r = ctx;
  tile(r->e, r->oh, r->kh0, r->kh1, ow0, ow0s, mr);
}

/* All tiles of output row oh. */
static void row(nchwc_emit *e, LLVMValueRef oh) {
  cg_state *s = e->s;
  /* the kernel rows inside the image: ih = oh*sh + kh*dh - ph in [0, H) */
  row_ctx r = {.e = e, .oh = oh};
  cg_valid_range(s, cg_addc(s, cg_mulc(s, oh, e->sh), -e->ph), e->dh, e->q.KH, 0, e->q.H, &r.kh0, &r.kh1);
  cg_row_tiles(s, e->q.OW, e->sc->mr, e->q.W, e->sw, e->pw, (e->q.KW - 1) * e->dw + 1, row_tile, &r);
}

/* ---- MaxPool on blocked activations ---------------------------------------------- */
kiln_status cg_nchwc_pool_emit(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0);
  const ir_layout *xl = &s->g->values[x].layout, *yl = &s->g->values[y].layout;
  if (xl->kind != IR_LAYOUT_BLOCKED || yl->kind != IR_LAYOUT_BLOCKED || xl->block != yl->block)
    return cg_unsupported(s, n, "MaxPool between different layouts");
  const ir_shape *xs = cg_shape(s, x);
  cg_window win;
  kiln_status st = cg_window_init(s, n, xs, cg_shape(s, y), NULL, &win);
  if (st) return st;
  int L = xl->block;
  int64_t N = xs->dims[0], C = xs->dims[1], H = win.in[0], W = win.in[1], OH = win.out[0], OW = win.out[1];
  LLVMTypeRef vt = LLVMVectorType(s->t_f32, (unsigned)L);
  /* items: (channel block, image, output row); each output pixel's L
   * channels are one vector, the max over the window's taps inside the
   * image (padding never wins); a NaN never wins, as in lower_pool.c */
  int64_t items = C / L * N * OH;
  cg_kernel *k = cg_kernel_begin(s, n, items, OW * win.kernel[0] * win.kernel[1] * 2);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef blk = cg_divc(s, item.i, OH), oh = cg_remc(s, item.i, OH);
  LLVMValueRef xb = cg_mulc(s, blk, H * W * L), yb = cg_mulc(s, cg_add(s, cg_mulc(s, blk, OH), oh), OW * L);
  LLVMValueRef kh0, kh1;
  cg_valid_range(s, cg_addc(s, cg_mulc(s, oh, win.stride[0]), -win.pad_begin[0]), win.dilation[0],
                 win.kernel[0], 0, H, &kh0, &kh1);
  cg_loop ow = cg_for_n(s, OW);
  LLVMValueRef kw0, kw1;
  cg_valid_range(s, cg_addc(s, cg_mulc(s, ow.i, win.stride[1]), -win.pad_begin[1]), win.dilation[1],
                 win.kernel[1], 0, W, &kw0, &kw1);
  LLVMValueRef acc = cg_var(s, vt, cg_splat(s, cg_const(s, IR_F32, -INFINITY), (unsigned)L));
  cg_loop kh = cg_for(s, kh0, kh1);
  LLVMValueRef ih = cg_add(s, cg_addc(s, cg_mulc(s, oh, win.stride[0]), -win.pad_begin[0]),
                           cg_mulc(s, kh.i, win.dilation[0]));
  cg_loop kw = cg_for(s, kw0, kw1);
  LLVMValueRef iw = cg_add(s, cg_addc(s, cg_mulc(s, ow.i, win.stride[1]), -win.pad_begin[1]),
                           cg_mulc(s, kw.i, win.dilation[1]));
  LLVMValueRef at = cg_add(s, xb, cg_mulc(s, cg_add(s, cg_mulc(s, ih, W), iw), L));
  LLVMValueRef v = cg_vload(s, vt, k->in[0], at, 4);
  LLVMValueRef a = cg_get(s, vt, acc);
  cg_set(s, acc, LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, a, ""), v, a, ""));
  cg_end(s, &kw);
  cg_end(s, &kh);
  cg_vstore(s, k->out[0], cg_add(s, yb, cg_mulc(s, ow.i, L)), cg_get(s, vt, acc), 4);
  cg_end(s, &ow);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* GlobalAveragePool / GlobalMaxPool of a blocked activation, written
 * plain ([N][C][1][1]: a pixel's L channels are adjacent there too): one
 * vector per (channel block, image), its pixels taken in order, so the
 * sums are the plain kernel's (lower_pool.c) lane for lane. */
kiln_status cg_nchwc_global_pool_emit(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0);
  const ir_layout *xl = &s->g->values[x].layout;
  if (xl->kind != IR_LAYOUT_BLOCKED || s->g->values[y].layout.kind != IR_LAYOUT_PLAIN)
    return cg_unsupported(s, n, "global pooling of a blocked input needs a plain output");
  bool is_max = s->g->nodes[n].op == IR_OP_GLOBAL_MAX_POOL;
  const ir_shape *xs = cg_shape(s, x);
  int L = xl->block;
  int64_t N = xs->dims[0], C = xs->dims[1], plane = xs->dims[2] * xs->dims[3];
  LLVMTypeRef vt = LLVMVectorType(s->t_f32, (unsigned)L);
  cg_kernel *k = cg_kernel_begin(s, n, C / L * N, plane * L);
  cg_loop item = cg_for(s, k->begin, k->end); /* item = cb * N + image */
  LLVMValueRef cb = cg_divc(s, item.i, N), img = cg_remc(s, item.i, N);
  LLVMValueRef acc = cg_var(s, vt, cg_splat(s, cg_const(s, IR_F32, is_max ? -INFINITY : 0), (unsigned)L));
  cg_loop p = cg_for_n(s, plane);
  LLVMValueRef v = cg_vload(s, vt, k->in[0], cg_mulc(s, cg_add(s, cg_mulc(s, item.i, plane), p.i), L), 4);
  LLVMValueRef a = cg_get(s, vt, acc);
  cg_set(s, acc, is_max ? LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, a, ""), v, a, "")
                        : LLVMBuildFAdd(s->b, a, v, ""));
  cg_end(s, &p);
  LLVMValueRef r = cg_get(s, vt, acc);
  if (!is_max) r = LLVMBuildFDiv(s->b, r, cg_splat(s, cg_const(s, IR_F32, (double)plane), (unsigned)L), "");
  cg_vstore(s, k->out[0], cg_add(s, cg_mulc(s, img, C), cg_mulc(s, cb, L)), r, 4);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* [M/nr][C/L][KH][KW][L][nr] from W [M][C][KH][KW] (L: the channel block). */
static float *pack_weights(cg_state *s, const float *w, const cg_nchwc_shape *q, int64_t L, int nr,
                           int64_t *bytes) {
  int64_t taps = q->KH * q->KW, n = q->M * q->C * taps;
  float *p = ir_arena_alloc(&s->arena, (size_t)n * sizeof *p + 64);
  for (int64_t m = 0; m < q->M; m++)
    for (int64_t c = 0; c < q->C; c++)
      for (int64_t t = 0; t < taps; t++)
        p[((((m / nr) * (q->C / L) + c / L) * taps + t) * L + c % L) * nr + m % nr] =
            w[(m * q->C + c) * taps + t];
  *bytes = n * 4;
  return p;
}

kiln_status cg_nchwc_emit(cg_state *s, int32_t n, const cg_schedule *sc) {
  nchwc_emit e = {.s = s, .sc = sc, .L = sc->lanes, .nv = sc->nr / sc->lanes};
  cg_nchwc_shape_of(s->g, n, &e.q);
  cg_target_caps caps = cg_caps_of(s->target);
  const char *bad = cg_nchwc_schedule_check(&caps, &e.q, sc);
  if (bad) return cg_unsupported(s, n, "direct convolution schedule: %s", bad);
  const cg_nchwc_shape *q = &e.q;
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0);
  cg_window win;
  kiln_status st = cg_window_init(s, n, cg_shape(s, x), cg_shape(s, y), cg_shape(s, cg_in(s, n, 1))->dims + 2, &win);
  if (st) return st;
  e.sh = win.stride[0], e.sw = win.stride[1], e.dh = win.dilation[0], e.dw = win.dilation[1];
  e.ph = win.pad_begin[0], e.pw = win.pad_begin[1];
  e.in_blocked = s->g->values[x].layout.kind == IR_LAYOUT_BLOCKED;
  e.out_blocked = s->g->values[y].layout.kind == IR_LAYOUT_BLOCKED;
  for (int i = 0; i < 4; i++) {
    const ir_layout *l = i == 1 ? NULL : i < s->g->nodes[n].num_inputs && cg_in(s, n, i) >= 0
                                             ? &s->g->values[cg_in(s, n, i)].layout : NULL;
    if (l && l->kind == IR_LAYOUT_BLOCKED && l->block != e.L)
      return cg_unsupported(s, n, "blocked input %d has blocks of %d, the schedule's lanes are %d", i,
                            l->block, e.L);
  }
  if (e.out_blocked && s->g->values[y].layout.block != e.L)
    return cg_unsupported(s, n, "blocked output has blocks of %d, the schedule's lanes are %d",
                          s->g->values[y].layout.block, e.L);
  e.act.op = IR_OP_COUNT;
  e.act.node = -1;
  cg_gemm fused;
  cg_gemm_init(&fused);
  if (s->g->nodes[n].op == IR_OP_FUSED_CONV) {
    if ((st = cg_fused_epilogue(s, n, &fused))) return st;
    e.act = fused.act;
  } else if (cg_in(s, n, 2) >= 0) {
    fused.bias_in = 2;
  }
  e.vt = LLVMVectorType(s->t_f32, (unsigned)e.L);

  int64_t wbytes;
  e.cblk = cg_nchwc_cblk(q->C, e.L);
  if (e.in_blocked && e.cblk != e.L) return cg_unsupported(s, n, "a blocked input of %lld channels", (long long)q->C);
  /* reorder-layout marks the pruned 1x1 convolutions whose runs of L
   * output channels are mostly zero (cg_sparse_direct_pays) */
  bool sparse = ir_attr_int_or(s->g, n, "sparse", 0) != 0;
  if (sparse && (q->KH != 1 || q->KW != 1 || e.dh != 1 || e.dw != 1 || e.ph || e.pw ||
                 win.pad_end[0] || win.pad_end[1] || sc->nr != e.L || sc->kc != q->C))
    return cg_unsupported(s, n, "the sparse direct kernel takes unpadded 1x1 convolutions with nr = "
                                "lanes and one K block");
  sparse_panels sp = {0};
  LLVMValueRef wglob = NULL;
  const char *wname = s->g->values[cg_in(s, n, 1)].name;
  if (sparse) {
    sp = sparse_pack(&e, ir_const_data(s->g, cg_in(s, n, 1)), wname, e.in_blocked);
  } else {
    const float *wp = pack_weights(s, ir_const_data(s->g, cg_in(s, n, 1)), q, e.cblk, sc->nr, &wbytes);
    char gname[200];
    snprintf(gname, sizeof gname, "const.%s.nchwc%d", wname, sc->nr);
    wglob = cg_const_global(s, gname, wp, wbytes);
  }

  int64_t ocb_n = q->M / sc->nr, per_item_ocb = sc->nc / sc->nr;
  int64_t cgroups = ceil_div(ocb_n, per_item_ocb), rgroups = ceil_div(q->OH, sc->mc);
  int64_t items = sc->par == CG_PAR_NONE ? 1 : q->N * cgroups * rgroups;
  int64_t flops = 2 * q->N * q->M * q->OH * q->OW * q->C * q->KH * q->KW;
  cg_kernel *k = cg_kernel_begin(s, n, items, flops / items + 1);
  e.x = k->in[0], e.y = k->out[0], e.w = wglob;
  if (fused.bias_in >= 0) e.bias = k->in[fused.bias_in];
  if (fused.resid_in >= 0) {
    e.resid = k->in[fused.resid_in];
    e.resid_blocked = s->g->values[cg_in(s, n, fused.resid_in)].layout.kind == IR_LAYOUT_BLOCKED;
  }

  cg_loop item = cg_for(s, k->begin, k->end);
  cg_loop all = {0};
  LLVMValueRef it = item.i;
  if (sc->par == CG_PAR_NONE) {
    all = cg_for_n(s, q->N * cgroups * rgroups);
    it = all.i;
  }
  /* item -> (row group, image, channel group), rows slowest: the pool
   * gives each thread a contiguous range of items (runtime/pool.c), so a
   * thread computes the same band of rows in every layer and reads what
   * it wrote (2-3% at two threads on ResNet-50 and MobileNetV2, against
   * channel groups slowest) */
  LLVMValueRef rg = cg_divc(s, it, q->N * cgroups), rest = cg_remc(s, it, q->N * cgroups);
  e.n = cg_divc(s, rest, cgroups);
  LLVMValueRef cgi = cg_remc(s, rest, cgroups);
  LLVMValueRef oh0 = cg_mulc(s, rg, sc->mc), oh1 = cg_min(s, cg_addc(s, oh0, sc->mc), cg_i64(s, q->OH));
  LLVMValueRef p0 = cg_mulc(s, cgi, per_item_ocb);
  LLVMValueRef p1 = cg_min(s, cg_addc(s, p0, per_item_ocb), cg_i64(s, ocb_n));

  int64_t cbs = sc->kc / (q->KH * q->KW * e.cblk), ncb = q->C / e.cblk, nkb = ceil_div(ncb, cbs);
  cg_loop pc = cg_for_n(s, nkb);
  e.cb0 = cg_mulc(s, pc.i, cbs);
  e.cb1 = cg_min(s, cg_addc(s, e.cb0, cbs), cg_i64(s, ncb));
  e.first = LLVMBuildICmp(s->b, LLVMIntEQ, pc.i, cg_i64(s, 0), "first");
  e.last = LLVMBuildICmp(s->b, LLVMIntEQ, pc.i, cg_i64(s, nkb - 1), "last");
  cg_loop ohl = cg_for(s, oh0, oh1);
  cg_loop pl = cg_for(s, p0, p1);
  e.ocb = pl.i;
  if (sparse)
    sparse_row(&e, &sp, ohl.i);
  else
    row(&e, ohl.i);
  cg_end(s, &pl);
  cg_end(s, &ohl);
  cg_end(s, &pc);
  if (sc->par == CG_PAR_NONE) cg_end(s, &all);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
