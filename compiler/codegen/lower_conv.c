/*
 * lower_conv.c — N-d convolution (Conv), NCHW, with groups, pads, strides,
 * dilations and auto_pad, as direct loops in one of two shapes.
 *
 * Channel blocks (constant weights, >= CONV_BLOCK_MIN output channels per
 * group — most convolutions of real networks).  The weights are repacked
 * at compile time into blocks of `lanes` output channels,
 *
 *     packed[g][block][c][kernel position][lane]    (zero beyond the group)
 *
 * and each output position accumulates one LLVM vector of `lanes` output
 * channels:
 *
 *     acc = bias[block]
 *     for c, for each kernel position inside the input:
 *       acc += packed[g][block][c][kp][:] * x[n, g*Cg + c, input position]
 *
 * One vector load, one broadcast and one FMA per step, whatever the image
 * size: small late-stage planes (7x7, 14x14) run as fast as large ones.
 * The sum over c is kept in CONV_CHAINS interleaved partial sums (channel
 * c goes to chain c % CONV_CHAINS, the remainder of Cg to chain 0), added
 * at the end, so FMAs overlap instead of waiting on each other; the order
 * is fixed at compile time, so it is the same on every thread.
 * Parallel items are (n, g, block, output row).
 *
 * `lanes` follows the target's vector registers (cg_target.vector_bits):
 * 8 where there are SIMD registers (NEON, SSE/AVX, RVV), 4 on a scalar-FP
 * ISA (RV64GC), where 4 chains of 8 scalar sums would not fit the 32
 * float registers and the inner loop would spill.  Each lane is its own
 * output channel, so the lane count changes the speed, never a result;
 * nor does the choice between the two shapes depend on it (CONV_BLOCK_MIN),
 * so every target sums in the same order.
 *
 * Rows (everything else: depthwise, few channels per group, weights known
 * only at run time).  Parallel items are output planes (n, m); for each
 * input channel and kernel position the plane is swept once,
 *
 *     y[n, m, o] += W[m, c, kp] * x[n, g*Cg + c, o*stride + kp*dilation - pad]
 *
 * with the innermost loop along the last output dim, which LLVM
 * vectorizes (unit stride when stride is 1).
 *
 * Neither shape tests bounds per element: for every spatial dim the range
 * of kernel (or output) positions that lands inside the input is computed
 * up front (cg_valid_range).  Every output element sums its products in an
 * order fixed at compile time, whatever the partition, so results do not
 * depend on the thread count.
 */
#include <assert.h>
#include <string.h>

#include "cg.h"
#include "kernels/conv_nchwc.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"

/* Output channels per group from which channel blocks pay off. */
enum { CONV_BLOCK_MIN = 8 };

static const ir_dtype float_types[] = {IR_F32, IR_F64, IR_UNDEFINED};

typedef struct conv_info {
  ir_dtype dt;
  int lanes;                 /* output channels per block (channel blocks) */
  int64_t N, C, M, group, Cg, Mg;
  cg_window win;
  int nsp;
  int64_t in_plane, out_plane, ksize;
  int64_t in_str[KILN_MAX_RANK], out_str[KILN_MAX_RANK], k_str[KILN_MAX_RANK];
} conv_info;

static void strides_of(const int64_t *dims, int n, int64_t *str) {
  for (int d = n - 1; d >= 0; d--) str[d] = d == n - 1 ? 1 : str[d + 1] * dims[d + 1];
}

/* ---- rows ------------------------------------------------------------------- */
static void emit_rows(cg_state *s, int32_t n, const conv_info *q, bool has_bias) {
  const cg_window *win = &q->win;
  int nsp = q->nsp;
  ir_dtype dt = q->dt;
  cg_kernel *k = cg_kernel_begin(s, n, q->N * q->M, q->Cg * q->ksize * q->out_plane);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef b = cg_divc(s, item.i, q->M), m = cg_remc(s, item.i, q->M);
  LLVMValueRef g = cg_divc(s, m, q->Mg);
  LLVMValueRef ybase = cg_mulc(s, item.i, q->out_plane);
  LLVMValueRef init = has_bias ? cg_load(s, dt, k->in[2], m) : cg_const(s, dt, 0);
  cg_loop p = cg_for_n(s, q->out_plane);
  cg_store(s, dt, k->out[0], cg_add(s, ybase, p.i), init);
  cg_end(s, &p);

  cg_loop c = cg_for_n(s, q->Cg);
  /* x[n, g*Cg + c, :] and W[m, c, :] */
  LLVMValueRef ch = cg_add(s, cg_mulc(s, g, q->Cg), c.i);
  LLVMValueRef xc = cg_mulc(s, cg_add(s, cg_mulc(s, b, q->C), ch), q->in_plane);
  LLVMValueRef wc = cg_mulc(s, cg_add(s, cg_mulc(s, m, q->Cg), c.i), q->ksize);
  cg_loop kl[KILN_MAX_RANK];
  LLVMValueRef kidx[KILN_MAX_RANK];
  for (int d = 0; d < nsp; d++) {
    kl[d] = cg_for_n(s, win->kernel[d]);
    kidx[d] = kl[d].i;
  }
  LLVMValueRef wv = cg_load(s, dt, k->in[1], cg_add(s, wc, cg_dot_strides(s, nsp, kidx, q->k_str)));
  /* output loops over the valid ranges; input index = o*stride + off */
  cg_loop ol[KILN_MAX_RANK];
  LLVMValueRef xoff = xc, yoff = ybase;
  for (int d = 0; d < nsp; d++) {
    LLVMValueRef off = cg_addc(s, cg_mulc(s, kidx[d], win->dilation[d]), -win->pad_begin[d]);
    LLVMValueRef lo, hi;
    cg_valid_range(s, off, win->stride[d], win->out[d], 0, win->in[d], &lo, &hi);
    ol[d] = cg_for(s, lo, hi);
    LLVMValueRef xi = cg_add(s, cg_mulc(s, ol[d].i, win->stride[d]), off);
    xoff = cg_add(s, xoff, cg_mulc(s, xi, q->in_str[d]));
    yoff = cg_add(s, yoff, cg_mulc(s, ol[d].i, q->out_str[d]));
  }
  LLVMValueRef acc = cg_load(s, dt, k->out[0], yoff);
  acc = cg_fmuladd(s, wv, cg_load(s, dt, k->in[0], xoff), acc);
  cg_store(s, dt, k->out[0], yoff, acc);
  for (int d = nsp - 1; d >= 0; d--) cg_end(s, &ol[d]);
  for (int d = nsp - 1; d >= 0; d--) cg_end(s, &kl[d]);
  cg_end(s, &c);
  cg_end(s, &item);
  cg_kernel_end(s, k);
}

/* ---- channel blocks ----------------------------------------------------------- */
/* Packs W [M, Cg, k...] (and the bias) into lanes-channel blocks. */
static void pack_weights(cg_state *s, const conv_info *q, const float *w, const float *bias,
                         int64_t blocks, LLVMValueRef *wg, LLVMValueRef *bg, const char *name) {
  int64_t per_block = q->Cg * q->ksize * q->lanes;
  float *pw = ir_arena_alloc(&s->arena, (size_t)(q->group * blocks * per_block) * sizeof *pw);
  float *pb = ir_arena_alloc(&s->arena, (size_t)(q->group * blocks * q->lanes) * sizeof *pb);
  for (int64_t g = 0; g < q->group; g++)
    for (int64_t bl = 0; bl < blocks; bl++)
      for (int l = 0; l < q->lanes; l++) {
        int64_t mg = bl * q->lanes + l, m = g * q->Mg + mg;
        if (mg >= q->Mg) continue; /* zero lanes past the group's channels */
        pb[(g * blocks + bl) * q->lanes + l] = bias ? bias[m] : 0;
        for (int64_t c = 0; c < q->Cg; c++)
          for (int64_t kp = 0; kp < q->ksize; kp++)
            pw[((g * blocks + bl) * q->Cg * q->ksize + c * q->ksize + kp) * q->lanes + l] =
                w[(m * q->Cg + c) * q->ksize + kp];
      }
  char gname[96];
  snprintf(gname, sizeof gname, "const.%s.packed", name);
  *wg = cg_const_global(s, gname, pw, q->group * blocks * per_block * (int64_t)sizeof *pw);
  snprintf(gname, sizeof gname, "const.%s.bias.packed", name);
  *bg = cg_const_global(s, gname, pb, q->group * blocks * q->lanes * (int64_t)sizeof *pb);
}

/* What the channel-block kernel's inner loops need. */
typedef struct block_ctx {
  const conv_info *q;
  LLVMTypeRef vt;            /* <lanes x float> */
  LLVMValueRef x, wg;        /* input, packed weights */
  LLVMValueRef xn, wblk;     /* x[n, g*Cg, :] and the block's packed weights */
  LLVMValueRef base[KILN_MAX_RANK], klo[KILN_MAX_RANK], khi[KILN_MAX_RANK];
} block_ctx;

/* acc[j] += packed[c0 + j] * x[c0 + j] over the valid kernel positions,
 * for j < count.  The count channels are interleaved innermost so their
 * FMA chains overlap (one chain alone waits on FMA latency). */
static void accumulate(cg_state *s, const block_ctx *bc, LLVMValueRef c0, int count,
                       LLVMValueRef *acc) {
  const conv_info *q = bc->q;
  cg_loop kl[KILN_MAX_RANK];
  LLVMValueRef xoff = cg_add(s, bc->xn, cg_mulc(s, c0, q->in_plane));
  LLVMValueRef kp = cg_i64(s, 0);
  for (int d = 0; d < q->nsp; d++) {
    kl[d] = cg_for(s, bc->klo[d], bc->khi[d]);
    LLVMValueRef xi = cg_add(s, bc->base[d], cg_mulc(s, kl[d].i, q->win.dilation[d]));
    xoff = cg_add(s, xoff, cg_mulc(s, xi, q->in_str[d]));
    kp = cg_add(s, kp, cg_mulc(s, kl[d].i, q->k_str[d]));
  }
  LLVMValueRef woff = cg_add(s, bc->wblk, cg_mulc(s, cg_add(s, cg_mulc(s, c0, q->ksize), kp), q->lanes));
  for (int j = 0; j < count; j++) {
    LLVMValueRef wi = cg_addc(s, woff, (int64_t)j * q->ksize * q->lanes);
    LLVMValueRef wv = LLVMBuildLoad2(s->b, bc->vt, cg_gep(s, IR_F32, bc->wg, wi), "w");
    LLVMSetAlignment(wv, 4 * q->lanes);
    LLVMValueRef xv = cg_load(s, IR_F32, bc->x, cg_addc(s, xoff, (int64_t)j * q->in_plane));
    cg_set(s, acc[j], cg_fmuladd(s, wv, cg_splat(s, xv, q->lanes), cg_get(s, bc->vt, acc[j])));
  }
  for (int d = q->nsp - 1; d >= 0; d--) cg_end(s, &kl[d]);
}

enum { CONV_CHAINS = 4 }; /* independent accumulators per output position */

static void emit_blocks(cg_state *s, int32_t n, const conv_info *q, const float *w,
                        const float *bias, const char *wname) {
  const cg_window *win = &q->win;
  int nsp = q->nsp;
  int64_t blocks = (q->Mg + q->lanes - 1) / q->lanes;
  block_ctx bc = {.q = q, .vt = LLVMVectorType(s->t_f32, q->lanes)};
  LLVMValueRef bg;
  pack_weights(s, q, w, bias, blocks, &bc.wg, &bg, wname);
  LLVMTypeRef vt = bc.vt;
  int64_t rows = q->out_plane / win->out[nsp - 1], row_len = win->out[nsp - 1];
  int64_t items = q->N * q->group * blocks * rows;

  cg_kernel *k = cg_kernel_begin(s, n, items, row_len * q->Cg * q->ksize * q->lanes);
  bc.x = k->in[0];
  cg_loop item = cg_for(s, k->begin, k->end);
  /* item = ((n*group + g)*blocks + block)*rows + row */
  LLVMValueRef row = cg_remc(s, item.i, rows), gb = cg_divc(s, item.i, rows);
  LLVMValueRef blk = cg_remc(s, gb, q->group * blocks);   /* g*blocks + block */
  LLVMValueRef b = cg_divc(s, gb, q->group * blocks);
  LLVMValueRef g = cg_divc(s, blk, blocks), bl = cg_remc(s, blk, blocks);
  LLVMValueRef o[KILN_MAX_RANK];
  cg_unravel(s, row, nsp - 1, win->out, o);
  bc.xn = cg_mulc(s, cg_add(s, cg_mulc(s, b, q->C), cg_mulc(s, g, q->Cg)), q->in_plane);
  bc.wblk = cg_mulc(s, blk, q->Cg * q->ksize * q->lanes);
  /* output channel m = g*Mg + bl*LANES + lane; y offset of lane 0 */
  LLVMValueRef m0 = cg_add(s, cg_mulc(s, g, q->Mg), cg_mulc(s, bl, q->lanes));
  LLVMValueRef lanes = cg_min(s, cg_i64(s, q->lanes), cg_sub(s, cg_i64(s, q->Mg), cg_mulc(s, bl, q->lanes)));
  LLVMValueRef ybase = cg_mulc(s, cg_add(s, cg_mulc(s, b, q->M), m0), q->out_plane);
  LLVMValueRef yrow = cg_add(s, ybase, cg_dot_strides(s, nsp - 1, o, q->out_str));
  LLVMValueRef bias_v = LLVMBuildLoad2(s->b, vt, cg_gep(s, IR_F32, bg, cg_mulc(s, blk, q->lanes)), "bias");
  LLVMSetAlignment(bias_v, 4 * q->lanes);
  /* kernel ranges of the outer spatial dims are fixed for the whole row */
  for (int d = 0; d < nsp - 1; d++) {
    bc.base[d] = cg_addc(s, cg_mulc(s, o[d], win->stride[d]), -win->pad_begin[d]);
    cg_valid_range(s, bc.base[d], win->dilation[d], win->kernel[d], 0, win->in[d], &bc.klo[d], &bc.khi[d]);
  }

  int last = nsp - 1;
  cg_loop ow = cg_for_n(s, row_len);
  bc.base[last] = cg_addc(s, cg_mulc(s, ow.i, win->stride[last]), -win->pad_begin[last]);
  cg_valid_range(s, bc.base[last], win->dilation[last], win->kernel[last], 0, win->in[last],
                 &bc.klo[last], &bc.khi[last]);
  LLVMValueRef acc[CONV_CHAINS];
  for (int j = 0; j < CONV_CHAINS; j++)
    acc[j] = cg_var(s, vt, j ? LLVMConstNull(vt) : bias_v);
  /* channels in groups of CONV_CHAINS, then the rest into the first chain */
  int64_t full = q->Cg / CONV_CHAINS * CONV_CHAINS;
  if (full) {
    cg_loop c = cg_for_n(s, q->Cg / CONV_CHAINS);
    accumulate(s, &bc, cg_mulc(s, c.i, CONV_CHAINS), CONV_CHAINS, acc);
    cg_end(s, &c);
  }
  if (full < q->Cg) {
    cg_loop c = cg_for(s, cg_i64(s, full), cg_i64(s, q->Cg));
    accumulate(s, &bc, c.i, 1, acc);
    cg_end(s, &c);
  }
  LLVMValueRef result = LLVMBuildFAdd(
      s->b, LLVMBuildFAdd(s->b, cg_get(s, vt, acc[0]), cg_get(s, vt, acc[1]), ""),
      LLVMBuildFAdd(s->b, cg_get(s, vt, acc[2]), cg_get(s, vt, acc[3]), ""), "");
  /* scatter the lanes to their channel planes */
  cg_loop l = cg_for(s, cg_i64(s, 0), lanes);
  LLVMValueRef yi = cg_add(s, cg_add(s, yrow, ow.i), cg_mulc(s, l.i, q->out_plane));
  cg_store(s, IR_F32, k->out[0], yi, LLVMBuildExtractElement(s->b, result, l.i, ""));
  cg_end(s, &l);
  cg_end(s, &ow);
  cg_end(s, &item);
  cg_kernel_end(s, k);
}

/* ---- as a GEMM (kernels/gemm.c) -------------------------------------------------- */
/* Per image and group: Y[m, p] = sum_k W[m, k] * cols[k, p] with k over
 * (input channel, kernel position) and p over output positions.  W is
 * packed into mr-row panels at compile time; the columns are the image
 * itself for a 1x1 convolution with unit stride and no padding, otherwise
 * they are gathered (im2col) block by block into scratch. */
static kiln_status emit_gemm(cg_state *s, int32_t n, const conv_info *q, const float *w, bool fused) {
  const cg_window *win = &q->win;
  bool two = q->nsp == 2;
  cg_gemm g;
  cg_gemm_init(&g);
  g.M = q->Mg, g.N = q->out_plane, g.K = q->Cg * q->ksize, g.name = s->g->values[cg_in(s, n, 1)].name;
  g.batch_rank = 2;
  g.batch_dims[0] = q->N, g.batch_dims[1] = q->group;
  g.a_kind = CG_OPND_PANELS, g.a_data = w, g.a_data_rs = g.K, g.a_data_cs = 1;
  const ir_layout *wl = &s->g->values[cg_in(s, n, 1)].layout;
  g.a_packed = wl->kind == IR_LAYOUT_PACKED;
  g.a_bstr[0] = 0, g.a_bstr[1] = 1;
  /* reorder-layout's cost model chose the sparse form (docs/sparsity.md) */
  g.a_skip_zero_rows = ir_attr_int_or(s->g, n, "sparse", 0) != 0;
  g.c_out = 0, g.ldc = q->out_plane;
  g.c_bstr[0] = q->M * q->out_plane, g.c_bstr[1] = q->Mg * q->out_plane;
  g.b_bstr[0] = q->C * q->in_plane, g.b_bstr[1] = q->Cg * q->in_plane;
  g.b_in = 0;
  bool pointwise = q->ksize == 1;
  for (int d = 0; d < q->nsp; d++)
    pointwise = pointwise && win->stride[d] == 1 && win->pad_begin[d] == 0 && win->pad_end[d] == 0;
  if (pointwise) {
    g.b_kind = CG_OPND_STRIDED, g.b_rs = q->in_plane;
  } else {
    g.b_kind = CG_OPND_IM2COL;
    int hi = two ? 0 : -1, wi = two ? 1 : 0; /* 1-d: a 1 x W image */
    g.conv = (cg_im2col){
        .H = hi >= 0 ? win->in[hi] : 1, .W = win->in[wi],
        .OH = hi >= 0 ? win->out[hi] : 1, .OW = win->out[wi],
        .KH = hi >= 0 ? win->kernel[hi] : 1, .KW = win->kernel[wi],
        .sh = hi >= 0 ? win->stride[hi] : 1, .sw = win->stride[wi],
        .dh = hi >= 0 ? win->dilation[hi] : 1, .dw = win->dilation[wi],
        .ph = hi >= 0 ? win->pad_begin[hi] : 0, .pw = win->pad_begin[wi]};
  }
  if (fused) {
    kiln_status st = cg_fused_epilogue(s, n, &g);
    if (st) return st;
  } else if (cg_in(s, n, 2) >= 0) {
    g.bias_in = 2;
  }
  g.bias_per_row = true;
  g.bias_bstr[0] = 0, g.bias_bstr[1] = q->Mg;
  cg_gemm_shape sh = {.M = g.M, .N = g.N, .K = g.K, .batch = q->N * q->group,
                      .b_runtime_pack = g.b_kind == CG_OPND_IM2COL};
  cg_schedule sc;
  cg_schedule_for(s, n, &sh, &sc);
  if (g.a_packed && (wl->block != sc.mr || wl->block2 != 0))
    return cg_unsupported(s, n, "weights packed in panels of %d but the schedule's mr is %d",
                          wl->block, sc.mr);
  return cg_gemm_emit(s, n, &g, &sc);
}

kiln_status lower_conv(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, float_types);
  if (st) return st;
  ir_value_id x = cg_in(s, n, 0), w = cg_in(s, n, 1), bias = cg_in(s, n, 2), y = cg_out(s, n, 0);
  const ir_shape *xs = cg_shape(s, x), *ws = cg_shape(s, w), *ys = cg_shape(s, y);
  if (xs->rank < 3 || ws->rank != xs->rank || ys->rank != xs->rank)
    return cg_unsupported(s, n, "Conv needs N, C and at least one spatial dim");
  conv_info q = {.dt = cg_dtype(s, y), .group = ir_attr_int_or(s->g, n, "group", 1)};
  q.N = xs->dims[0];
  q.C = xs->dims[1];
  q.M = ws->dims[0];
  q.Cg = ws->dims[1];
  if (q.group < 1 || q.C != q.Cg * q.group || q.M % q.group)
    return cg_unsupported(s, n, "channels (%lld in, %lld out) do not split into %lld groups",
                          (long long)q.C, (long long)q.M, (long long)q.group);
  q.Mg = q.M / q.group;
  q.lanes = s->target->vector_bits >= 128 ? 8 : 4;
  st = cg_window_init(s, n, xs, ys, ws->dims + 2, &q.win);
  if (st) return st;
  q.nsp = q.win.nsp;
  q.in_plane = cg_prod(q.win.in, 0, q.nsp);
  q.out_plane = cg_prod(q.win.out, 0, q.nsp);
  q.ksize = cg_prod(q.win.kernel, 0, q.nsp);
  strides_of(q.win.in, q.nsp, q.in_str);
  strides_of(q.win.out, q.nsp, q.out_str);
  strides_of(q.win.kernel, q.nsp, q.k_str);

  const float *wdata = ir_const_data(s->g, w);
  const float *bdata = bias >= 0 ? ir_const_data(s->g, bias) : NULL;
  bool fused = s->g->nodes[n].op == IR_OP_FUSED_CONV;
  /* the kernel layer: every f32 convolution with constant weights and
   * enough output channels per group is a GEMM (weights as A, image
   * columns as B); depthwise ones have a kernel of their own; 3-d ones
   * and few channels per group keep the direct loops below */
  const char *stext = ir_attr_string_or(s->g, n, "schedule", NULL);
  if (q.nsp <= 2 && cg_depthwise_of(s->g, n)) {
    if (!cg_nchwc_node(s->g, n)) return cg_depthwise_emit(s, n, &q.win);
    /* the blocked kernel follows reorder-layout's schedule (conv=depthwise),
     * or its default when the pass did not run */
    cg_schedule dw = {0};
    if (stext && !(cg_schedule_parse(stext, &dw) && dw.conv == CG_CONV_DEPTHWISE))
      return cg_unsupported(s, n, "blocked depthwise convolution with schedule \"%s\"", stext);
    return cg_depthwise_blocked_emit(s, n, &q.win, stext ? &dw : NULL);
  }
  /* blocked activations, or a schedule that asks for it: the direct kernel */
  cg_schedule dsc = {0};
  bool direct = stext && cg_schedule_parse(stext, &dsc) && dsc.conv == CG_CONV_DIRECT;
  if (cg_nchwc_node(s->g, n) || direct) {
    if (!direct) return cg_unsupported(s, n, "blocked activations without a direct schedule "
                                             "(reorder-layout sets it)");
    return cg_nchwc_emit(s, n, &dsc);
  }
  cg_gemm_shape gsh;
  if (q.nsp <= 2 && cg_gemm_shape_of(s->g, n, &gsh, NULL)) return emit_gemm(s, n, &q, wdata, fused);
  /* reorder-layout packs only what the GEMM kernel reads */
  assert(s->g->values[w].layout.kind == IR_LAYOUT_PLAIN);
  if (fused) return cg_unsupported(s, n, "fused convolution of this dtype or shape");
  bool blocks = q.dt == IR_F32 && wdata && (bias < 0 || bdata) && q.Mg >= CONV_BLOCK_MIN &&
                q.out_plane > 0;
  if (blocks)
    emit_blocks(s, n, &q, wdata, bdata, s->g->values[w].name);
  else
    emit_rows(s, n, &q, bias >= 0);
  return KILN_OK;
}
