/*
 * depthwise.c — the depthwise convolution kernel (group = input channels =
 * output channels, one filter per channel: MobileNet's 3x3 and 5x5 layers).
 *
 * A depthwise layer does KH*KW multiply-adds per output element, so it is
 * bound by moving its planes, not by arithmetic; the GEMM kernel does not
 * fit it (one output channel per group leaves nothing to block in
 * registers).  What pays is touching each input element few times, with
 * vector loads and no per-element branches:
 *
 *   for each plane (image n, channel c), by parallel item:
 *     copy the input plane into the item's scratch plane, whose border is
 *     the zero padding (zeroed once per item: only interiors are copied)
 *     for each output row, 16 (a vector of) output columns at a time:
 *       acc = sum over taps (kh, kw), in that order, of
 *             w[c, kh, kw] * scratch[oh*sh + kh*dh][ow*sw + kw*dw ...]
 *       (a stride sw > 1 is one wide load and a lane shuffle)
 *       epilogue in registers: + bias[c], + residual, activation; store
 *
 * The scratch plane is wide enough that the last vector of a row reads
 * zeros rather than past the plane, so the only partial vector is the
 * last store of a row.  Planes go to items in turn (item i takes planes
 * i, i + items, ...), so each item's scratch plane is private and the
 * scratch stays bounded however many channels there are.  Every output
 * element sums its taps in the same order whatever the split, so results
 * are bit-identical for every thread count.
 */
#include "kernels/depthwise.h"

#include <string.h>

#include "kernels/conv_nchwc.h"
#include "kernels/gemm.h"

enum {
  DW_MAX_TAPS = 64,    /* larger kernels keep lower_conv.c's direct loops */
  DW_MAX_STRIDE = 4,   /* a stride is a load of lanes * stride floats */
  DW_SLOTS = 16,       /* at most this many items (and scratch planes) */
  DW_UNROLL = 4,       /* vectors of one row computed side by side */
};

static bool static_f32(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].dtype == IR_F32 && ir_shape_is_static(&g->values[v].shape);
}

bool cg_depthwise_of(const ir_graph *g, ir_node_id n) {
  const ir_node *nd = &g->nodes[n];
  if ((nd->op != IR_OP_CONV && nd->op != IR_OP_FUSED_CONV) || nd->num_inputs < 2) return false;
  ir_value_id x = nd->inputs[0], w = nd->inputs[1], y = nd->outputs[0];
  if (!static_f32(g, x) || !static_f32(g, w) || !static_f32(g, y)) return false;
  const ir_shape *xs = &g->values[x].shape, *ws = &g->values[w].shape;
  if (xs->rank < 3 || xs->rank > 4 || ws->rank != xs->rank) return false;
  if (g->values[w].layout.kind != IR_LAYOUT_PLAIN) return false;
  int64_t group = ir_attr_int_or(g, n, "group", 1);
  int64_t C = xs->dims[1];
  if (group != C || C < 1 || ws->dims[0] != C || ws->dims[1] != 1) return false;
  int64_t taps = 1;
  for (int d = 2; d < ws->rank; d++) taps *= ws->dims[d];
  if (taps > DW_MAX_TAPS) return false;
  const int64_t *v;
  int cnt = ir_attr_ints(g, n, "strides", &v);
  for (int i = 0; i < cnt; i++)
    if (v[i] < 1 || v[i] > DW_MAX_STRIDE) return false;
  for (int i = 2; i < 4 && nd->num_inputs > i; i++) /* bias, residual */
    if (nd->inputs[i] >= 0 && !static_f32(g, nd->inputs[i])) return false;
  return true;
}

typedef struct dw_emit {
  cg_state *s;
  LLVMTypeRef vt;             /* <lanes x float> */
  int lanes;
  int64_t KH, KW, sh, sw, dh, dw;
  int64_t OH, OW, Ws;         /* output plane; scratch row length */
  LLVMValueRef pad;           /* the item's scratch plane (float *) */
  LLVMValueRef taps[DW_MAX_TAPS]; /* this plane's weights, splat */
  LLVMValueRef bias;          /* splat, or NULL */
  LLVMValueRef resid, y;      /* plane bases (float *), resid may be NULL */
  const cg_activation *act;
} dw_emit;

/* lanes outputs of row `oh` from column `ow0`: the taps' strided vectors. */
static LLVMValueRef taps_at(dw_emit *e, LLVMValueRef oh, LLVMValueRef ow0) {
  cg_state *s = e->s;
  LLVMValueRef acc = NULL;
  LLVMValueRef row0 = cg_mulc(s, cg_mulc(s, oh, e->sh), e->Ws);
  LLVMValueRef col0 = cg_mulc(s, ow0, e->sw);
  LLVMTypeRef wide = LLVMVectorType(s->t_f32, (unsigned)(e->lanes * e->sw));
  LLVMValueRef pick = NULL;
  if (e->sw > 1) {
    LLVMValueRef m[64];
    for (int l = 0; l < e->lanes; l++) m[l] = cg_i32(s, (int32_t)(l * e->sw));
    pick = LLVMConstVector(m, (unsigned)e->lanes);
  }
  for (int64_t kh = 0; kh < e->KH; kh++)
    for (int64_t kw = 0; kw < e->KW; kw++) {
      LLVMValueRef idx = cg_add(s, cg_addc(s, row0, kh * e->dh * e->Ws + kw * e->dw), col0);
      LLVMValueRef p = cg_gep(s, IR_F32, e->pad, idx);
      LLVMValueRef v = LLVMBuildLoad2(s->b, e->sw > 1 ? wide : e->vt, p, "x");
      LLVMSetAlignment(v, 4);
      if (e->sw > 1) v = LLVMBuildShuffleVector(s->b, v, LLVMGetPoison(wide), pick, "xs");
      LLVMValueRef wv = e->taps[kh * e->KW + kw];
      acc = acc ? cg_fmuladd(s, v, wv, acc) : LLVMBuildFMul(s->b, v, wv, "");
    }
  return acc;
}

/* bias, residual, activation on the vector of outputs at `at` (valid
 * lanes), then the store. */
static void finish(dw_emit *e, LLVMValueRef acc, LLVMValueRef at, int valid) {
  cg_state *s = e->s;
  if (e->bias) acc = LLVMBuildFAdd(s->b, acc, e->bias, "");
  if (e->resid) {
    LLVMValueRef r;
    if (valid == e->lanes) {
      r = cg_vload(s, e->vt, e->resid, at, 4);
    } else {
      r = LLVMConstNull(e->vt);
      for (int l = 0; l < valid; l++)
        r = LLVMBuildInsertElement(s->b, r, cg_load(s, IR_F32, e->resid, cg_addc(s, at, l)),
                                   cg_i32(s, l), "");
    }
    acc = LLVMBuildFAdd(s->b, acc, r, "");
  }
  if (e->act->op != IR_OP_COUNT) acc = cg_apply_activation(s, e->act, acc);
  if (valid == e->lanes) {
    cg_vstore(s, e->y, at, acc, 4);
    return;
  }
  for (int l = 0; l < valid; l++)
    cg_store(s, IR_F32, e->y, cg_addc(s, at, l), LLVMBuildExtractElement(s->b, acc, cg_i32(s, l), ""));
}

/* One output row: groups of DW_UNROLL vectors (independent FMA chains, so
 * the adds' latency overlaps), single vectors, then the partial one. */
static void emit_row(dw_emit *e, LLVMValueRef oh) {
  cg_state *s = e->s;
  int L = e->lanes;
  LLVMValueRef rowout = cg_mulc(s, oh, e->OW);
  int64_t full = e->OW / L, groups = full / DW_UNROLL;
  if (groups > 0) {
    cg_loop j = cg_for_n(s, groups);
    LLVMValueRef acc[DW_UNROLL];
    LLVMValueRef ow0 = cg_mulc(s, j.i, (int64_t)DW_UNROLL * L);
    for (int u = 0; u < DW_UNROLL; u++) acc[u] = taps_at(e, oh, cg_addc(s, ow0, u * L));
    for (int u = 0; u < DW_UNROLL; u++) finish(e, acc[u], cg_add(s, rowout, cg_addc(s, ow0, u * L)), L);
    cg_end(s, &j);
  }
  if (full % DW_UNROLL) {
    cg_loop j = cg_for(s, cg_i64(s, groups * DW_UNROLL), cg_i64(s, full));
    LLVMValueRef ow0 = cg_mulc(s, j.i, L);
    finish(e, taps_at(e, oh, ow0), cg_add(s, rowout, ow0), L);
    cg_end(s, &j);
  }
  if (e->OW % L) {
    LLVMValueRef ow0 = cg_i64(s, full * L);
    finish(e, taps_at(e, oh, ow0), cg_add(s, rowout, ow0), (int)(e->OW % L));
  }
}

/* A FusedConv's activation and residual input (-1: none); a plain Conv
 * has neither. */
static kiln_status fused_epilogue(cg_state *s, int32_t n, cg_activation *act, int *resid_in) {
  *act = (cg_activation){.op = IR_OP_COUNT};
  *resid_in = -1;
  if (s->g->nodes[n].op != IR_OP_FUSED_CONV) return KILN_OK;
  cg_gemm fused;
  cg_gemm_init(&fused);
  kiln_status st = cg_fused_epilogue(s, n, &fused);
  if (st) return st;
  *act = fused.act;
  *resid_in = fused.resid_in;
  return KILN_OK;
}

kiln_status cg_depthwise_emit(cg_state *s, int32_t n, const cg_window *win) {
  ir_value_id x = cg_in(s, n, 0);
  const ir_shape *xs = cg_shape(s, x);
  bool two = win->nsp == 2;
  int hi = two ? 0 : -1, wi = two ? 1 : 0; /* 1-d: a 1 x W image */
  int64_t N = xs->dims[0], C = xs->dims[1];
  int64_t H = two ? win->in[hi] : 1, W = win->in[wi];
  int lanes = s->target->vector_bits >= 512 ? 16 : s->target->vector_bits >= 256 ? 8 : 4;
  dw_emit e = {.s = s, .lanes = lanes, .vt = LLVMVectorType(s->t_f32, (unsigned)lanes),
               .KH = two ? win->kernel[hi] : 1, .KW = win->kernel[wi],
               .sh = two ? win->stride[hi] : 1, .sw = win->stride[wi],
               .dh = two ? win->dilation[hi] : 1, .dw = win->dilation[wi],
               .OH = two ? win->out[hi] : 1, .OW = win->out[wi]};
  int64_t pt = two ? win->pad_begin[hi] : 0, pb = two ? win->pad_end[hi] : 0;
  int64_t pl = win->pad_begin[wi], pr = win->pad_end[wi];
  if (e.sw > DW_MAX_STRIDE || e.KH * e.KW > DW_MAX_TAPS)
    return cg_unsupported(s, n, "depthwise kernel of this stride or size");

  cg_activation act;
  int resid_in;
  kiln_status st = fused_epilogue(s, n, &act, &resid_in);
  if (st) return st;
  bool has_bias = cg_in(s, n, 2) >= 0, has_resid = resid_in >= 0;
  e.act = &act;

  /* the scratch plane: padded input, wide enough for the last vector of
   * every row (columns up to OWv*sw + (KW-1)*dw) and the last row's taps */
  int64_t OWv = (e.OW + lanes - 1) / lanes * lanes;
  int64_t Ws = pl + W + pr, need = OWv * e.sw + (e.KW - 1) * e.dw;
  e.Ws = Ws = Ws > need ? Ws : need;
  int64_t Hs = pt + H + pb, needh = (e.OH - 1) * e.sh + (e.KH - 1) * e.dh + 1;
  Hs = Hs > needh ? Hs : needh;
  int64_t plane = Hs * Ws; /* floats */
  plane = (plane + 15) / 16 * 16; /* keep each slot 64-byte aligned */
  int64_t planes = N * C, items = planes < DW_SLOTS ? planes : DW_SLOTS;
  cg_kernel_scratch(s, items * plane * 4);
  int64_t per_plane = e.OH * e.OW * e.KH * e.KW * 2 + H * W;
  cg_kernel *k = cg_kernel_begin(s, n, items, per_plane * ((planes + items - 1) / items));

  cg_loop item = cg_for(s, k->begin, k->end);
  e.pad = cg_gep(s, IR_F32, k->scratch, cg_mulc(s, item.i, plane));
  /* zero once: the copies below only ever write the interior */
  cg_memset_zero(s, e.pad, cg_i64(s, plane * 4));
  LLVMValueRef nplanes = cg_divc(s, cg_sub(s, cg_i64(s, planes + items - 1), item.i), items);
  cg_loop pl_loop = cg_for(s, cg_i64(s, 0), nplanes);
  LLVMValueRef p = cg_add(s, item.i, cg_mulc(s, pl_loop.i, items)); /* n * C + c */
  LLVMValueRef c = cg_remc(s, p, C);
  LLVMValueRef src = cg_gep(s, IR_F32, k->in[0], cg_mulc(s, p, H * W));
  if (pl == 0 && pr == 0 && Ws == W) {
    cg_memcpy(s, cg_gep(s, IR_F32, e.pad, cg_i64(s, pt * Ws)), src, cg_i64(s, H * W * 4));
  } else {
    cg_loop r = cg_for_n(s, H);
    cg_memcpy(s, cg_gep(s, IR_F32, e.pad, cg_addc(s, cg_mulc(s, r.i, Ws), pt * Ws + pl)),
              cg_gep(s, IR_F32, src, cg_mulc(s, r.i, W)), cg_i64(s, W * 4));
    cg_end(s, &r);
  }
  for (int64_t t = 0; t < e.KH * e.KW; t++)
    e.taps[t] = cg_splat(s, cg_load(s, IR_F32, k->in[1], cg_addc(s, cg_mulc(s, c, e.KH * e.KW), t)),
                         (unsigned)lanes);
  e.bias = has_bias ? cg_splat(s, cg_load(s, IR_F32, k->in[2], c), (unsigned)lanes) : NULL;
  LLVMValueRef out_off = cg_mulc(s, p, e.OH * e.OW);
  e.y = cg_gep(s, IR_F32, k->out[0], out_off);
  e.resid = has_resid ? cg_gep(s, IR_F32, k->in[3], out_off) : NULL;
  cg_loop oh = cg_for_n(s, e.OH);
  emit_row(&e, oh.i);
  cg_end(s, &oh);
  cg_end(s, &pl_loop);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* ---- depthwise on blocked activations ------------------------------------------- */
/*
 * Inside a chain of blocked activations ([C/L][N][H][W][L], ir.h) a
 * depthwise layer keeps the layout, and the vectors run along channels
 * instead of along the row: a vector is one pixel's L channels, a tap's
 * weights are one vector per channel block, and the image is read in
 * place.  Compared with the plain kernel above there is no padded copy of
 * the plane, no lane shuffle for a stride, and no partial vector at the
 * end of a row (56- and 28-wide rows are 3.5 and 1.75 vectors of 16):
 *
 *   for each parallel item (channel block, image, mc output rows):
 *     for each output row, each tile of mr pixels:
 *       for each kh inside the image (range computed per row):
 *         load the input vectors the tile's taps read, once each
 *         (a stride-1 tile of mr pixels reads mr + KW - 1 of them)
 *         acc[r] += x(ih, (ow0 + r)*sw + kw*dw - pw) * w(kh, kw)  for each kw
 *       + bias, + residual, activation, in registers; one store per pixel
 *
 * Tiles at a row's ends whose taps fall into the padding are separate
 * code that leaves those products out, as in conv_nchwc.c.  The tile
 * width mr and the rows per item mc are the schedule's (conv=depthwise,
 * schedule.h): the default policy's, a given one, or a tuned one.  Each output
 * sums its taps in (kh, kw) order whatever the split: bit-identical for
 * every thread count.
 */
/* DWB_MAX_MR bounds what a schedule may ask for (the accumulator array);
 * the default policy stops at DWB_DEFAULT_MR */
enum { DWB_MAX_MR = 16, DWB_DEFAULT_MR = 8, DWB_MAX_SPAN = DWB_MAX_MR * DW_MAX_STRIDE + DW_MAX_TAPS };

bool cg_depthwise_blocked_of(const ir_graph *g, ir_node_id n, int lanes) {
  if (g->nodes[n].dead || !cg_depthwise_of(g, n) || lanes < 4) return false;
  const ir_node *nd = &g->nodes[n];
  const ir_shape *xs = &g->values[nd->inputs[0]].shape;
  if (xs->rank != 4 || xs->dims[1] % lanes) return false;
  /* the tile's input vectors must fit one row's span */
  const int64_t *v;
  int cnt = ir_attr_ints(g, n, "dilations", &v);
  for (int i = 0; i < cnt; i++)
    if (v[i] != 1) return false;
  const char *ap = ir_attr_string_or(g, n, "auto_pad", "NOTSET");
  return !strcmp(ap, "NOTSET") || !strcmp(ap, "VALID");
}

typedef struct dwb_emit {
  cg_state *s;
  LLVMTypeRef vt;
  int L, mr;
  int64_t N, H, W, OH, OW, KH, KW, sh, sw, ph, pw;
  LLVMValueRef x, y, w, bias, resid; /* bases: x, y, resid at this item's (block, image) */
  const cg_activation *act;
} dwb_emit;

/* Pixels ow0 .. ow0+mr-1 of row oh (kh in [kh0, kh1) inside the image).
 * ow0s >= 0: ow0 known at compile time, an edge tile. */
static void dwb_tile(dwb_emit *e, LLVMValueRef oh, LLVMValueRef kh0, LLVMValueRef kh1,
                     LLVMValueRef ow0, int64_t ow0s, int mr) {
  cg_state *s = e->s;
  LLVMValueRef acc[DWB_MAX_MR];
  for (int r = 0; r < mr; r++) acc[r] = cg_var(s, e->vt, LLVMConstNull(e->vt));
  cg_loop kh = cg_for(s, kh0, kh1);
  LLVMValueRef ih = cg_addc(s, cg_add(s, cg_mulc(s, oh, e->sh), kh.i), -e->ph);
  /* x(ih, iw0), iw0 = ow0*sw - pw: the tile's input vector j is at iw0 + j */
  LLVMValueRef xrow = cg_mulc(s, cg_add(s, cg_mulc(s, ih, e->W), cg_addc(s, cg_mulc(s, ow0, e->sw), -e->pw)),
                              e->L);
  LLVMValueRef wrow = cg_mulc(s, kh.i, e->KW * e->L);
  LLVMValueRef in[DWB_MAX_SPAN] = {0}, wv[DW_MAX_TAPS] = {0};
  for (int r = 0; r < mr; r++)
    for (int64_t kw = 0; kw < e->KW; kw++) {
      int64_t j = r * e->sw + kw;
      if (ow0s >= 0) { /* edge tile: leave the padding's products out */
        int64_t iw = ow0s * e->sw - e->pw + j;
        if (iw < 0 || iw >= e->W) continue;
      }
      if (!in[j]) {
        in[j] = cg_vload(s, e->vt, e->x, cg_addc(s, xrow, j * e->L), 4);
      }
      if (!wv[kw]) {
        wv[kw] = cg_vload(s, e->vt, e->w, cg_addc(s, wrow, kw * e->L), (unsigned)(e->L * 4 > 64 ? 64 : e->L * 4));
      }
      cg_set(s, acc[r], cg_fmuladd(s, in[j], wv[kw], cg_get(s, e->vt, acc[r])));
    }
  cg_end(s, &kh);
  for (int r = 0; r < mr; r++) {
    LLVMValueRef a = cg_get(s, e->vt, acc[r]);
    LLVMValueRef at = cg_mulc(s, cg_add(s, cg_mulc(s, oh, e->OW), cg_addc(s, ow0, r)), e->L);
    if (e->bias) a = LLVMBuildFAdd(s->b, a, e->bias, "");
    if (e->resid) {
      LLVMValueRef rv = cg_vload(s, e->vt, e->resid, at, 4);
      a = LLVMBuildFAdd(s->b, a, rv, "");
    }
    if (e->act->op != IR_OP_COUNT) a = cg_apply_activation(s, e->act, a);
    cg_vstore(s, e->y, at, a, 4);
  }
}

typedef struct dwb_row_ctx {
  dwb_emit *e;
  LLVMValueRef oh, kh0, kh1;
} dwb_row_ctx;

static void dwb_row_tile(void *ctx, LLVMValueRef ow0, int64_t ow0s, int mr) {
  dwb_row_ctx *r = ctx;
  dwb_tile(r->e, r->oh, r->kh0, r->kh1, ow0, ow0s, mr);
}

static void dwb_row(dwb_emit *e, LLVMValueRef oh) {
  cg_state *s = e->s;
  dwb_row_ctx r = {.e = e, .oh = oh};
  cg_valid_range(s, cg_addc(s, cg_mulc(s, oh, e->sh), -e->ph), 1, e->KH, 0, e->H, &r.kh0, &r.kh1);
  cg_row_tiles(s, e->OW, e->mr, e->W, e->sw, e->pw, e->KW, dwb_row_tile, &r);
}

void cg_depthwise_shape_of(const ir_graph *g, ir_node_id n, cg_dw_shape *sh) {
  const ir_node *nd = &g->nodes[n];
  const ir_shape *xs = &g->values[nd->inputs[0]].shape, *ws = &g->values[nd->inputs[1]].shape,
                 *ys = &g->values[nd->outputs[0]].shape;
  const int64_t *v;
  int cnt = ir_attr_ints(g, n, "strides", &v);
  *sh = (cg_dw_shape){.N = xs->dims[0], .C = xs->dims[1], .OH = ys->dims[2], .OW = ys->dims[3],
                      .KH = ws->dims[2], .KW = ws->dims[3], .sw = cnt >= 2 ? v[1] : 1};
}

void cg_depthwise_schedule_default(const cg_target_caps *caps, const cg_dw_shape *sh,
                                   cg_schedule *out) {
  cg_schedule s = {.lanes = caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4, .unroll = 1,
                   .par = CG_PAR_MN, .conv = CG_CONV_DEPTHWISE};
  s.nr = s.nc = s.lanes;
  s.kc = sh->KH * sh->KW;
  /* the register block: mr accumulators, the (mr-1)*sw + KW input vectors
   * a kernel row of the tile reads and its KW weights in the registers */
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  s.mr = DWB_DEFAULT_MR;
  while (s.mr > 1 && s.mr + (s.mr - 1) * sh->sw + 2 * sh->KW > regs) s.mr--;
  /* items: (channel block, image, mc rows), enough of them to share out */
  int64_t planes = sh->C / s.lanes * sh->N, groups = (16 + planes - 1) / planes;
  if (groups > sh->OH) groups = sh->OH;
  if (groups < 1) groups = 1;
  s.mc = (sh->OH + groups - 1) / groups;
  *out = s;
}

const char *cg_depthwise_schedule_check(const cg_target_caps *caps, const cg_dw_shape *sh,
                                        const cg_schedule *sc) {
  if (sc->conv != CG_CONV_DEPTHWISE) return "not a depthwise schedule";
  int lanes = caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4;
  if (sc->lanes != lanes) return "lanes must be the target's vector width in floats";
  if (sc->mr < 1 || sc->mr > DWB_MAX_MR) return "mr (pixels per tile) must be in 1..16";
  if (sh->sw > DW_MAX_STRIDE || (sc->mr - 1) * sh->sw + sh->KW > DWB_MAX_SPAN)
    return "the tile's window is wider than the kernel handles";
  if (sc->mc < 1) return "mc (output rows per item) must be positive";
  if (sc->nr != sc->lanes || sc->nc != sc->lanes) return "nr and nc must be lanes (one channel block)";
  if (sc->kc != sh->KH * sh->KW) return "kc must be the taps (KH x KW)";
  if (sc->unroll != 1 || sc->par != CG_PAR_MN) return "unroll must be 1 and par mn";
  return NULL;
}

kiln_status cg_depthwise_blocked_emit(cg_state *s, int32_t n, const cg_window *win,
                                      const cg_schedule *given) {
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0);
  const ir_layout *xl = &s->g->values[x].layout, *yl = &s->g->values[y].layout;
  int L = xl->block;
  if (xl->kind != IR_LAYOUT_BLOCKED || yl->kind != IR_LAYOUT_BLOCKED || yl->block != L || win->nsp != 2)
    return cg_unsupported(s, n, "depthwise convolution between different layouts");
  const ir_shape *xs = cg_shape(s, x);
  dwb_emit e = {.s = s, .L = L, .vt = LLVMVectorType(s->t_f32, (unsigned)L), .N = xs->dims[0],
                .H = win->in[0], .W = win->in[1], .OH = win->out[0], .OW = win->out[1],
                .KH = win->kernel[0], .KW = win->kernel[1], .sh = win->stride[0],
                .sw = win->stride[1], .ph = win->pad_begin[0], .pw = win->pad_begin[1]};
  int64_t C = xs->dims[1];
  if (C % L || win->dilation[0] != 1 || win->dilation[1] != 1 || e.sw > DW_MAX_STRIDE ||
      e.KH * e.KW > DW_MAX_TAPS)
    return cg_unsupported(s, n, "blocked depthwise convolution of this shape");
  cg_target_caps caps = cg_caps_of(s->target);
  cg_dw_shape dsh;
  cg_depthwise_shape_of(s->g, n, &dsh);
  cg_schedule sc;
  if (given) {
    sc = *given;
  } else {
    cg_depthwise_schedule_default(&caps, &dsh, &sc);
  }
  const char *bad = cg_depthwise_schedule_check(&caps, &dsh, &sc);
  if (bad) return cg_unsupported(s, n, "blocked depthwise schedule: %s", bad);
  if (sc.lanes != L) return cg_unsupported(s, n, "blocked depthwise: blocks of %d, the schedule's lanes are %d", L, sc.lanes);
  e.mr = sc.mr;

  cg_activation act;
  int resid_in;
  kiln_status st = fused_epilogue(s, n, &act, &resid_in);
  if (st) return st;
  if (resid_in >= 0) {
    const ir_layout *rl = &s->g->values[cg_in(s, n, resid_in)].layout;
    if (rl->kind != IR_LAYOUT_BLOCKED || rl->block != L)
      return cg_unsupported(s, n, "blocked depthwise convolution with a plain residual");
  }
  e.act = &act;

  /* weights [C/L][KH][KW][L], packed at compile time */
  int64_t taps = e.KH * e.KW;
  const float *w = ir_const_data(s->g, cg_in(s, n, 1));
  float *wp = ir_arena_alloc(&s->arena, (size_t)(C * taps) * sizeof *wp + 64);
  for (int64_t c = 0; c < C; c++)
    for (int64_t t = 0; t < taps; t++) wp[((c / L) * taps + t) * L + c % L] = w[c * taps + t];
  char gname[200];
  snprintf(gname, sizeof gname, "const.%s.dw%d", s->g->values[cg_in(s, n, 1)].name, L);
  LLVMValueRef wglob = cg_const_global(s, gname, wp, C * taps * 4);

  /* items: (channel block, image, mc rows) */
  int64_t planes = C / L * e.N, mc = sc.mc < e.OH ? sc.mc : e.OH, rgroups = (e.OH + mc - 1) / mc;
  cg_kernel *k = cg_kernel_begin(s, n, planes * rgroups, mc * e.OW * L * taps * 2);
  /* item -> (row group, plane): rows slowest, as the direct convolution
   * orders its items, so a thread keeps its band of rows across layers */
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef rg = cg_divc(s, item.i, planes), plane = cg_remc(s, item.i, planes);
  LLVMValueRef cb = cg_divc(s, plane, e.N); /* plane = cb * N + image */
  e.x = cg_gep(s, IR_F32, k->in[0], cg_mulc(s, plane, e.H * e.W * L));
  LLVMValueRef yoff = cg_mulc(s, plane, e.OH * e.OW * L);
  e.y = cg_gep(s, IR_F32, k->out[0], yoff);
  e.resid = resid_in >= 0 ? cg_gep(s, IR_F32, k->in[resid_in], yoff) : NULL;
  e.w = cg_gep(s, IR_F32, wglob, cg_mulc(s, cb, taps * L));
  if (cg_in(s, n, 2) >= 0) {
    e.bias = cg_vload(s, e.vt, k->in[2], cg_mulc(s, cb, L), 4);
  }
  LLVMValueRef oh0 = cg_mulc(s, rg, mc), oh1 = cg_min(s, cg_addc(s, oh0, mc), cg_i64(s, e.OH));
  cg_loop oh = cg_for(s, oh0, oh1);
  dwb_row(&e, oh.i);
  cg_end(s, &oh);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
