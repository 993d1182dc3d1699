/*
 * gemm_int8.c — the packed int8 GEMM generator (see gemm_int8.h):
 *
 *   for each parallel item (batch b, row block of mc, column group):
 *     for each column block [n0, n1) of the group (nc columns):
 *       [QConv: gather the block's u8 columns into panels [nr][k/4][nr][4]]
 *       for each panel of nr columns:
 *         for each row tile of mr rows:
 *           acc[mr][nr / lanes] = 0 (int32)
 *           for g < ceil(K / 4):
 *             v[j]   = 4*lanes bytes of V panel at (g, j*lanes)
 *             s[i]   = the 32-bit word S(row + i, 4g .. 4g + 3), broadcast
 *             acc[i][j] = dot4(acc[i][j], u8 operand, s8 operand)
 *           y = clamp(zy + rshift_round((acc + bias') * mult, shift)) -> u8, stored
 *
 * dot4 adds, per int32 lane, the four products of unsigned by signed
 * bytes.  With AVX-512 VNNI it is vpdpbusd (exact: its products and sums
 * are formed in 32 bits, no 16-bit intermediate saturates).  Elsewhere it
 * is written in plain LLVM vector IR (widen to i32, multiply, add the four
 * lanes of each group), which every backend lowers exactly — NEON,
 * RISC-V V or scalar code; AVX2 machines without VNNI take that path too
 * rather than vpmaddubsw, whose 16-bit pair sums saturate for 8-bit
 * weights.
 *
 * K is not blocked: the int32 sums are exact whatever the order, and a
 * whole-K tile keeps the requantization in the same registers as the
 * sums.  Rows past M and k past K are zero in the packed weights; columns
 * past N are computed from whatever the block holds there and never
 * stored.
 */
#include "kernels/gemm_int8.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* True if the comma-separated LLVM feature string enables `f` ("avx512vnni"). */
static bool has_feature(const char *features, const char *f) {
  size_t n = strlen(f);
  for (const char *p = features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n + 1 && p[0] == '+' && !strncmp(p + 1, f, n)) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

bool cg_target_vnni(const cg_target *t, int lanes) {
  if (lanes * 32 > t->vector_bits) return false;
  if (lanes == 16) return has_feature(t->features, "avx512vnni") && has_feature(t->features, "avx512bw");
  return lanes == 8 &&
         (has_feature(t->features, "avxvnni") ||
          (has_feature(t->features, "avx512vnni") && has_feature(t->features, "avx512vl")));
}

int cg_target_int8_dot(const cg_target *t) {
  return cg_target_vnni(t, 16) ? 16 : cg_target_vnni(t, 8) ? 8 : 0;
}

/* The longest thread's share of `items` work items (all `p` units but
 * the last of each batch, `last`) dealt to T threads, largest first. */
static double makespan(int64_t per_batch, int64_t batch, double p, double last, int T) {
  double load[8] = {0};
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < per_batch; i++) {
      int t = 0;
      for (int u = 1; u < T; u++)
        if (load[u] < load[t]) t = u;
      load[t] += i == per_batch - 1 ? last : p;
    }
  double m = 0;
  for (int t = 0; t < T; t++) m = load[t] > m ? load[t] : m;
  return m;
}

/* Columns per parallel item: whole panels of nr, at most cap_panels of
 * them (the block's packed bytes in L2), chosen so the items share out
 * evenly over 2 and 4 threads.  Column blocks cost nothing to split (each
 * packs only its own columns), but a block holding the short tail panel
 * is short: 784 columns in blocks of 3 panels made 5 long items and a
 * third of one, 82% of two threads busy; blocks of 2 make 8 and a sixth. */
static int64_t balanced_block(int64_t cols, int64_t nr, int lanes, int64_t cap_panels, int64_t batch) {
  int64_t full = cols / nr, rem = cols % nr;
  double tail = rem ? (double)round_up(rem, lanes) / (double)nr : 0, units = (double)full + tail;
  int64_t panels = full + (rem ? 1 : 0), best_p = 1;
  double best = 0;
  for (int64_t p = 1; p <= panels && p <= cap_panels; p++) {
    int64_t per_batch = ceil_div(panels, p);
    double last = units - (double)(per_batch - 1) * (double)p, work = units * (double)batch;
    double imb2 = makespan(per_batch, batch, (double)p, last, 2) * 2 / work;
    double imb4 = makespan(per_batch, batch, (double)p, last, 4) * 4 / work;
    /* a little per item: each re-reads the weights (from L2 at best) */
    double cost = 0.7 * imb2 + 0.3 * imb4 + 0.004 * (double)(per_batch * batch);
    if (p == 1 || cost <= best) best = cost, best_p = p;
  }
  return best_p * nr;
}

bool cg_qgemm_shape_of(const ir_graph *g, ir_node_id n, cg_qgemm_shape *sh) {
  const ir_node *nd = &g->nodes[n];
  if ((nd->op != IR_OP_QCONV && nd->op != IR_OP_QMAT_MUL) || nd->num_inputs < 2 || nd->num_outputs < 1)
    return false;
  ir_value_id x = nd->inputs[0], w = nd->inputs[1], bias = nd->num_inputs > 2 ? nd->inputs[2] : IR_NONE;
  if (x < 0 || w < 0 || nd->outputs[0] < 0 || !ir_const_data(g, w) ||
      g->values[w].layout.kind != IR_LAYOUT_PLAIN || (bias >= 0 && !ir_const_data(g, bias)))
    return false;
  const ir_shape *xs = &g->values[x].shape, *ws = &g->values[w].shape, *ys = &g->values[nd->outputs[0]].shape;
  if (nd->op == IR_OP_QMAT_MUL) {
    if (ws->rank != 2) return false;
    int64_t K = ws->dims[0], numel = 1;
    for (int d = 0; d < xs->rank; d++) numel *= xs->dims[d];
    *sh = (cg_qgemm_shape){.rows = K ? numel / K : 0, .cols = ws->dims[1], .K = K, .batch = 1};
    return K >= 1 && sh->cols >= 1 && sh->rows >= 1;
  }
  int64_t group = ir_attr_int_or(g, n, "group", 1);
  if (xs->rank < 3 || xs->rank > 4 || ws->rank != xs->rank || ys->rank != xs->rank || group < 1 ||
      xs->dims[1] % group || ws->dims[0] % group || ws->dims[0] / group < 4)
    return false; /* depthwise, 3-d windows: the reference loops */
  int64_t K = ws->dims[1], cols = 1;
  for (int d = 2; d < ws->rank; d++) K *= ws->dims[d], cols *= ys->dims[d];
  *sh = (cg_qgemm_shape){.rows = ws->dims[0] / group, .cols = cols, .K = K, .batch = xs->dims[0] * group};
  return cols >= 1 && K >= 1;
}

void cg_qgemm_schedule_default(const cg_target_caps *caps, const cg_qgemm_shape *sh, cg_schedule *out) {
  cg_schedule sc = {.unroll = 1, .par = CG_PAR_MN};
  bool vnni = caps->int8_dot > 0;
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  sc.lanes = vnni ? caps->int8_dot : caps->vector_bits >= 128 ? caps->vector_bits / 32 : 4;
  /* VNNI: 8 x 3 accumulators + 3 loads + a broadcast fill 28 of 32
   * registers; with 16 (AVX-VNNI without AVX-512), 6 x 2 + 2 + 1 fill 15.
   * The generic dot product needs temporaries for the widened bytes, so a
   * smaller block. */
  sc.mr = !vnni ? 4 : regs >= 32 ? 8 : 6;
  sc.nr = (vnni && regs >= 32 ? 3 : 2) * sc.lanes;
  if (sh->cols <= sc.lanes) sc.nr = sc.lanes;
  int64_t K4 = ceil_div(sh->K, 4);
  sc.kc = K4 * 4;
  /* columns: a few blocks per thread, each block's packed bytes in L2 */
  int64_t cap = (256 * 1024) / (K4 * 4) / sc.nr * sc.nr;
  if (cap < sc.nr) cap = sc.nr;
  sc.nc = balanced_block(sh->cols, sc.nr, sc.lanes, cap / sc.nr, sh->batch);
  int64_t items = sh->batch * ceil_div(sh->cols, sc.nc);
  sc.mc = round_up(sh->rows, sc.mr);
  if (items < 4 && sh->rows >= 2 * sc.mr) {
    int64_t mb = ceil_div(4, items);
    if (mb > sh->rows / sc.mr) mb = sh->rows / sc.mr;
    sc.mc = round_up(ceil_div(sh->rows, mb), sc.mr);
  }
  *out = sc;
}

const char *cg_qgemm_schedule_check(const cg_target_caps *caps, const cg_qgemm_shape *sh,
                                    const cg_schedule *t) {
  /* any lane count the registers hold: 16 and 8 take vpdpbusd where the
   * target has it at that width, 4 always the generic dot product (so
   * tests reach it on any host) */
  int maxl = caps->vector_bits > 128 ? caps->vector_bits / 32 : 4;
  if (t->conv != CG_CONV_GEMM) return "the int8 kernel takes no conv= (it is a GEMM)";
  if (!(t->lanes == 4 || t->lanes == 8 || t->lanes == 16) || t->lanes > maxl)
    return "lanes must be 4, 8 or 16 and within the target's vectors";
  if (t->mr < 1 || t->mr > 16) return "mr must be 1..16";
  if (t->nr < t->lanes || t->nr % t->lanes || t->nr / t->lanes > 4) return "nr must be 1 to 4 vectors";
  if (t->mc < t->mr || t->mc % t->mr) return "mc must be a positive multiple of mr";
  if (t->nc < t->nr || t->nc % t->nr) return "nc must be a positive multiple of nr";
  if (t->kc != ceil_div(sh->K, 4) * 4) return "kc must be the whole K (rounded up to groups of 4)";
  if (t->par != CG_PAR_MN || t->unroll != 1) return "the int8 kernel splits (M, N) tiles and does not unroll";
  return NULL;
}

void cg_qgemm_schedule(cg_state *s, int32_t n, const cg_qgemm_shape *sh, cg_schedule *out) {
  cg_target_caps caps = cg_caps_of(s->target);
  cg_qgemm_schedule_default(&caps, sh, out);
  const char *text = ir_attr_string_or(s->g, n, "schedule", NULL);
  cg_schedule t = *out;
  if (text && cg_schedule_parse(text, &t) && !cg_qgemm_schedule_check(&caps, sh, &t)) *out = t;
}

/* ---- the emitter ------------------------------------------------------------------ */
typedef struct qemit {
  cg_state *s;
  const cg_schedule *sc;
  bool vnni, conv;           /* vnni: vpdpbusd at this width; conv: S = weights (s8),
                              * V = image (u8); else the reverse */
  bool masked_bytes;         /* AVX-512BW: im2col rows by masked 64-byte moves */
  bool tap_major;            /* QConv: K ordered (kh, kw, c), packed by pack_columns_taps */
  int lanes;
  int64_t K4;
  LLVMTypeRef vi32, vb;      /* <lanes x i32>, <4*lanes x i8> */
  LLVMValueRef S, V;         /* byte bases */
  LLVMValueRef out;          /* u8 output base */
  LLVMValueRef bias, mult, shift; /* i32 tables (bias' includes -z * column sums) */
  bool per_row;              /* tables indexed by row (conv) or column (matmul) */
  bool small_mult;           /* every multiplier mult * 2^-shift <= 1/2: the shifted
                              * product fits int32 (the VNNI epilogue's premise) */
  bool zy_in_round;          /* every shift <= 52: z_y * 2^shift joins the rounding
                              * constant of the VNNI epilogue without overflow */
  int32_t zy, lo, hi;
  int64_t ldc;
} qemit;

/* acc + per-lane sum of 4 (u8 u) * (s8 w) products. */
static LLVMValueRef dot4(qemit *e, LLVMValueRef acc, LLVMValueRef u, LLVMValueRef w) {
  cg_state *s = e->s;
  if (e->vnni) { /* one intrinsic per width; AVX-VNNI takes the same ones */
    char name[40];
    snprintf(name, sizeof name, "llvm.x86.avx512.vpdpbusd.%d", e->lanes * 32);
    LLVMValueRef fn = LLVMGetNamedFunction(s->m, name);
    LLVMTypeRef params[3] = {e->vi32, e->vi32, e->vi32};
    LLVMTypeRef ft = LLVMFunctionType(e->vi32, params, 3, 0);
    if (!fn) fn = LLVMAddFunction(s->m, name, ft);
    LLVMValueRef args[3] = {acc, u, w};
    return LLVMBuildCall2(s->b, ft, fn, args, 3, "");
  }
  int L = e->lanes;
  LLVMTypeRef wide = LLVMVectorType(s->t_i32, (unsigned)(4 * L));
  LLVMValueRef uu = LLVMBuildZExt(s->b, LLVMBuildBitCast(s->b, u, e->vb, ""), wide, "");
  LLVMValueRef ww = LLVMBuildSExt(s->b, LLVMBuildBitCast(s->b, w, e->vb, ""), wide, "");
  LLVMValueRef p = LLVMBuildMul(s->b, uu, ww, "");
  LLVMValueRef mask[64];
  for (int t = 0; t < 4; t++) {
    for (int l = 0; l < L; l++) mask[l] = cg_i32(s, 4 * l + t);
    LLVMValueRef part = LLVMBuildShuffleVector(s->b, p, LLVMGetPoison(wide), LLVMConstVector(mask, (unsigned)L), "");
    acc = LLVMBuildAdd(s->b, acc, part, "");
  }
  return acc;
}

static LLVMValueRef load_vec(cg_state *s, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef byte_off,
                             unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(s->b, t, cg_gep(s, IR_U8, base, byte_off), "");
  LLVMSetAlignment(v, align);
  return v;
}

static void store_u8(qemit *e, LLVMValueRef q, LLVMValueRef off, int valid) {
  cg_state *s = e->s;
  if (valid >= e->lanes) {
    LLVMValueRef st = LLVMBuildStore(s->b, q, cg_gep(s, IR_U8, e->out, off));
    LLVMSetAlignment(st, 1);
    return;
  }
  for (int l = 0; l < valid; l++)
    cg_store(s, IR_U8, e->out, cg_addc(s, off, l), LLVMBuildExtractElement(s->b, q, cg_i32(s, l), ""));
}

/* qmath.h's requantization of 16 lanes of one output channel (acc, the
 * accumulator without bias') with vpmuldq: the 64-bit products of the
 * even lanes, then of the odd ones moved down, plus one per-row constant
 * (bias' * mult, the rounding half, and z_y * 2^shift when zy_in_round),
 * shifted by the channel's one shift, and the low halves put back in
 * order.  The true sum (acc + bias') * mult + half + z_y 2^shift is below
 * 2^63 in magnitude, so the wrap-around 64-bit sum of its parts is that
 * value, and an arithmetic shift of z_y 2^shift adds z_y exactly.  Exact
 * when the multiplier is at most 1/2 (small_mult): the shifted product
 * then fits int32, so clamping in 32 bits is clamping the spec's int64.
 * About half the instructions of the generic int64 form (sign extensions
 * and vpmullq on two halves), which took a quarter of a 1x1 layer's time;
 * folding bias' and z_y into the constant saves two more of its twelve. */
static void epilogue_vnni(qemit *e, LLVMValueRef acc, LLVMValueRef row, LLVMValueRef off, int valid) {
  cg_state *s = e->s;
  enum { L = 16 };
  LLVMTypeRef v8 = LLVMVectorType(s->t_i64, 8);
  LLVMValueRef sh = LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->shift, row), s->t_i64, "");
  LLVMValueRef m = LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->mult, row), s->t_i64, "");
  LLVMValueRef bm = LLVMBuildMul(s->b, LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->bias, row), s->t_i64, ""), m, "");
  LLVMValueRef c = LLVMBuildAdd(s->b, bm, LLVMBuildShl(s->b, cg_i64(s, 1), cg_addc(s, sh, -1), ""), "");
  if (e->zy_in_round) c = LLVMBuildAdd(s->b, c, LLVMBuildShl(s->b, cg_i64(s, e->zy), sh, ""), "");
  LLVMValueRef shv = cg_splat(s, sh, 8), cv = cg_splat(s, c, 8), m64 = cg_splat(s, m, 8);
  LLVMValueRef inter[L];
  for (int l = 0; l < L; l++) inter[l] = cg_i32(s, l % 2 ? L + l - 1 : l); /* low dword of qword l/2 of each */
  /* as 8 qwords: the even lanes sign-extended in place (shl, ashr), the odd
   * ones by an arithmetic shift; both multiplied by a sign-extended 32-bit
   * value, which LLVM selects as vpmuldq */
  LLVMValueRef q = LLVMBuildBitCast(s->b, acc, v8, ""), c32 = cg_splat(s, cg_i64(s, 32), 8);
  LLVMValueRef src[2] = {LLVMBuildAShr(s->b, LLVMBuildShl(s->b, q, c32, ""), c32, ""), LLVMBuildAShr(s->b, q, c32, "")};
  LLVMValueRef part[2];
  for (int i = 0; i < 2; i++) {
    LLVMValueRef p = LLVMBuildAdd(s->b, LLVMBuildMul(s->b, src[i], m64, ""), cv, "");
    part[i] = LLVMBuildBitCast(s->b, LLVMBuildAShr(s->b, p, shv, ""), e->vi32, "");
  }
  LLVMValueRef v = LLVMBuildShuffleVector(s->b, part[0], part[1], LLVMConstVector(inter, L), "");
  if (!e->zy_in_round) v = LLVMBuildAdd(s->b, v, cg_splat(s, cg_i32(s, e->zy), L), "");
  v = cg_min(s, cg_max(s, v, cg_splat(s, cg_i32(s, e->lo), L)), cg_splat(s, cg_i32(s, e->hi), L));
  store_u8(e, LLVMBuildTrunc(s->b, v, LLVMVectorType(s->t_i8, L), ""), off, valid);
}

/* Requantizes one accumulator vector for rows `row` / columns `col` and
 * stores its `valid` lanes at out[off ..]. */
static void epilogue(qemit *e, LLVMValueRef acc, LLVMValueRef row, LLVMValueRef col, LLVMValueRef off,
                     int valid) {
  cg_state *s = e->s;
  unsigned L = (unsigned)e->lanes;
  LLVMTypeRef v64 = LLVMVectorType(s->t_i64, L);
  LLVMValueRef b, mu, sh;
  if (e->per_row) {
    b = cg_splat(s, cg_load(s, IR_I32, e->bias, row), L);
    mu = cg_splat(s, LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->mult, row), s->t_i64, ""), L);
    sh = cg_splat(s, LLVMBuildSExt(s->b, cg_load(s, IR_I32, e->shift, row), s->t_i64, ""), L);
  } else { /* the tables are padded to whole panels */
    b = load_vec(s, e->vi32, e->bias, cg_mulc(s, col, 4), 4);
    mu = LLVMBuildSExt(s->b, load_vec(s, e->vi32, e->mult, cg_mulc(s, col, 4), 4), v64, "");
    sh = LLVMBuildSExt(s->b, load_vec(s, e->vi32, e->shift, cg_mulc(s, col, 4), 4), v64, "");
  }
  if (e->vnni && e->lanes == 16 && e->per_row && e->small_mult) {
    epilogue_vnni(e, acc, row, off, valid);
    return;
  }
  LLVMValueRef one = cg_splat(s, cg_i64(s, 1), L);
  LLVMValueRef v = LLVMBuildSExt(s->b, LLVMBuildAdd(s->b, acc, b, ""), v64, "");
  LLVMValueRef half = LLVMBuildShl(s->b, one, LLVMBuildSub(s->b, sh, one, ""), "");
  v = LLVMBuildAShr(s->b, LLVMBuildAdd(s->b, LLVMBuildMul(s->b, v, mu, ""), half, ""), sh, "");
  v = LLVMBuildAdd(s->b, v, cg_splat(s, cg_i64(s, e->zy), L), "");
  LLVMValueRef lo = cg_splat(s, cg_i64(s, e->lo), L), hi = cg_splat(s, cg_i64(s, e->hi), L);
  v = LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSLT, v, lo, ""), lo, v, "");
  v = LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSGT, v, hi, ""), hi, v, "");
  store_u8(e, LLVMBuildTrunc(s->b, v, LLVMVectorType(s->t_i8, L), ""), off, valid);
}

/* One tile: rows [row, row + mr_t) x nv vectors of columns from `col`;
 * srow[i] is the byte offset of S(row + i, 0) and sstep the bytes from
 * one group of 4 k to the next; vpanel the byte offset of the V panel;
 * `valid` lanes of the last vector are stored. */
static void micro_tile(qemit *e, LLVMValueRef row, LLVMValueRef *srow, int64_t sstep, LLVMValueRef vpanel,
                       LLVMValueRef col, LLVMValueRef out_off, int mr_t, int nv, int valid) {
  cg_state *s = e->s;
  int L = e->lanes, nr = e->sc->nr;
  LLVMValueRef acc[64];
  for (int i = 0; i < mr_t * nv; i++) acc[i] = cg_var(s, e->vi32, LLVMConstNull(e->vi32));
  cg_loop gl = cg_for_n(s, e->K4);
  LLVMValueRef vv[4];
  LLVMValueRef voff = cg_add(s, vpanel, cg_mulc(s, gl.i, (int64_t)nr * 4));
  for (int v = 0; v < nv; v++) vv[v] = load_vec(s, e->vi32, e->V, cg_addc(s, voff, v * L * 4), 4);
  LLVMValueRef gs = cg_mulc(s, gl.i, sstep);
  for (int i = 0; i < mr_t; i++) {
    LLVMValueRef word = LLVMBuildLoad2(s->b, s->t_i32, cg_gep(s, IR_U8, e->S, cg_add(s, srow[i], gs)), "");
    LLVMSetAlignment(word, 1);
    LLVMValueRef sb = cg_splat(s, word, (unsigned)L);
    for (int v = 0; v < nv; v++) {
      LLVMValueRef a = cg_get(s, e->vi32, acc[i * nv + v]);
      cg_set(s, acc[i * nv + v], e->conv ? dot4(e, a, vv[v], sb) : dot4(e, a, sb, vv[v]));
    }
  }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(s->b);
  cg_end(s, &gl);
  cg_keep_loop(s, latch);
  for (int i = 0; i < mr_t; i++)
    for (int v = 0; v < nv; v++) {
      LLVMValueRef r = cg_addc(s, row, i), c = cg_addc(s, col, v * L);
      LLVMValueRef o = cg_add(s, out_off, cg_add(s, cg_mulc(s, r, e->ldc), c));
      epilogue(e, cg_get(s, e->vi32, acc[i * nv + v]), r, c, o, v == nv - 1 ? valid : L);
    }
}

/* Byte offsets of S(row + i, 0): panels for QConv's weights, rows of the
 * item's packed A for QMatMul. */
typedef struct srows {
  LLVMValueRef base;         /* conv: the group's first panel; matmul: the item's rows */
  LLVMValueRef m0;           /* matmul: first row of the item */
} srows;

static int64_t s_step(qemit *e) { return e->conv ? (int64_t)e->sc->mr * 4 : 4; }

static void s_offsets(qemit *e, const srows *sr, LLVMValueRef row, int mr_t, LLVMValueRef *out) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  for (int i = 0; i < mr_t; i++) {
    if (e->conv) /* row is a multiple of mr */
      out[i] = cg_add(s, sr->base, cg_addc(s, cg_mulc(s, cg_divc(s, row, mr), e->K4 * mr * 4), i * 4));
    else
      out[i] = cg_add(s, sr->base, cg_mulc(s, cg_addc(s, cg_sub(s, row, sr->m0), i), e->K4 * 4));
  }
}

/* All row tiles of [m0, m1) against one V panel holding columns from col
 * (nv vectors, `valid` lanes in the last).  `row_tab` offsets the rows
 * into the per-row tables (the group's first channel). */
static void row_tiles(qemit *e, const srows *sr, int64_t R, LLVMValueRef m0, LLVMValueRef m1,
                      LLVMValueRef vpanel, LLVMValueRef col, LLVMValueRef out_off, int nv, int valid) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  int64_t mfull = R / mr * mr;
  LLVMValueRef srow[16];
  LLVMValueRef fend = cg_min(s, m1, cg_i64(s, mfull));
  LLVMValueRef nt = cg_divc(s, cg_max(s, cg_sub(s, fend, m0), cg_i64(s, 0)), mr);
  cg_loop t = cg_for(s, cg_i64(s, 0), nt);
  LLVMValueRef row = cg_add(s, m0, cg_mulc(s, t.i, mr));
  s_offsets(e, sr, row, mr, srow);
  micro_tile(e, row, srow, s_step(e), vpanel, col, out_off, mr, nv, valid);
  cg_end(s, &t);
  if (R % mr) {
    cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, m1, cg_i64(s, mfull), ""));
    s_offsets(e, sr, cg_i64(s, mfull), (int)(R % mr), srow);
    micro_tile(e, cg_i64(s, mfull), srow, s_step(e), vpanel, col, out_off, (int)(R % mr), nv,
               valid);
    cg_end_if(s, &tail);
  }
}

/* The column panels of block [n0, n1) of `cols` columns: vpanel(p) is
 * vbase + p * K4 * nr * 4. */
static void col_panels(qemit *e, const srows *sr, int64_t R, int64_t cols, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1, LLVMValueRef vbase,
                       LLVMValueRef out_off) {
  cg_state *s = e->s;
  int nr = e->sc->nr, L = e->lanes;
  int64_t pbytes = e->K4 * nr * 4, nfull = cols / nr * nr;
  LLVMValueRef fend = cg_min(s, n1, cg_i64(s, nfull));
  LLVMValueRef np = cg_divc(s, cg_max(s, cg_sub(s, fend, n0), cg_i64(s, 0)), nr);
  cg_loop p = cg_for(s, cg_i64(s, 0), np);
  row_tiles(e, sr, R, m0, m1, cg_add(s, vbase, cg_mulc(s, p.i, pbytes)), cg_add(s, n0, cg_mulc(s, p.i, nr)),
            out_off, nr / L, L);
  cg_end(s, &p);
  if (cols % nr) {
    int rem = (int)(cols % nr), nv = (rem + L - 1) / L, valid = rem - (nv - 1) * L;
    cg_loop tail = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGT, n1, cg_i64(s, nfull), ""));
    row_tiles(e, sr, R, m0, m1, cg_add(s, vbase, cg_mulc(s, cg_divc(s, cg_sub(s, cg_i64(s, nfull), n0), nr), pbytes)),
              cg_i64(s, nfull), out_off, nv, valid);
    cg_end_if(s, &tail);
  }
}

/* ---- QConv: the image's columns, gathered and grouped by 4 ------------------------- */
typedef struct qconv_geo {
  int64_t C, H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw;
  bool pointwise;            /* 1x1, unit stride, no padding: rows are the image's planes */
} qconv_geo;

/* One output row's span of an im2col row, 64 columns per step: the
 * columns [ow0, ow1) of the span are stored with one masked store, the
 * input bytes of [va, vb) read with one masked load (two and an even-lane
 * shuffle at stride 2), the zero point elsewhere.  This replaced a memcpy
 * call and two byte loops per (k, output row), whose call overhead was a
 * third of ResNet-50's int8 time at OW <= 56 (perf: memmove, memset). */
/* The <64 x i1> mask of lanes [lo, hi) (i64 values, any range), built as
 * the bits of one i64: a compare per lane on 64 byte lanes costs four
 * vector compares and mask merges. */
static LLVMValueRef lane_mask(cg_state *s, LLVMValueRef lo, LLVMValueRef hi, uint64_t pattern) {
  LLVMValueRef ones = LLVMConstAllOnes(s->t_i64), b[2] = {lo, hi};
  for (int i = 0; i < 2; i++) { /* bits below b: b <= 0 none, b >= 64 all */
    LLVMValueRef c = cg_min(s, cg_max(s, b[i], cg_i64(s, 0)), cg_i64(s, 63));
    LLVMValueRef low = LLVMBuildSub(s->b, LLVMBuildShl(s->b, cg_i64(s, 1), c, ""), cg_i64(s, 1), "");
    b[i] = LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSGE, b[i], cg_i64(s, 64), ""), ones, low, "");
  }
  LLVMValueRef m = LLVMBuildAnd(s->b, b[1], LLVMBuildNot(s->b, b[0], ""), "");
  m = LLVMBuildAnd(s->b, m, LLVMConstInt(s->t_i64, pattern, 0), "");
  return LLVMBuildBitCast(s->b, m, LLVMVectorType(LLVMInt1TypeInContext(s->c), 64), "");
}

/* One output row's span of an im2col row, 64 columns per step: the
 * columns [ow0, ow1) of the span are stored with one masked store, the
 * input bytes of [va, vb) read with one masked load (two and an even-lane
 * shuffle at stride 2), the zero point elsewhere.  This replaced a memcpy
 * call and two byte loops per (k, output row), whose call overhead was a
 * third of ResNet-50's int8 time at OW <= 56 (perf: memmove, memset). */
static void masked_row(qemit *e, const qconv_geo *q, LLVMValueRef x, LLVMValueRef xrow, LLVMValueRef dst,
                       const cg_im2col_span *sp, LLVMValueRef z) {
  cg_state *s = e->s;
  enum { L = 64 };
  LLVMTypeRef vb = LLVMVectorType(s->t_i8, L);
  LLVMValueRef even[L], cat[2 * L];
  for (int l = 0; l < 2 * L; l++) cat[l] = cg_i32(s, l);
  for (int l = 0; l < L; l++) even[l] = cg_i32(s, 2 * l);
  for (int64_t c0 = 0; c0 < q->OW; c0 += L) {
    LLVMValueRef keep = lane_mask(s, cg_addc(s, sp->ow0, -c0), cg_addc(s, sp->ow1, -c0), ~0ull);
    LLVMValueRef v;
    if (q->sw == 1) {
      LLVMValueRef in = lane_mask(s, cg_addc(s, sp->va, -c0), cg_addc(s, sp->vb, -c0), ~0ull);
      v = cg_masked_load(s, vb, x, cg_addc(s, xrow, c0), in, cg_splat(s, z, L));
    } else { /* bytes 2*ow of 128 from 2*c0: the even ones of [2 va, 2 vb) */
      LLVMValueRef lo = cg_mulc(s, cg_addc(s, sp->va, -c0), 2), hi = cg_mulc(s, cg_addc(s, sp->vb, -c0), 2);
      LLVMValueRef m0 = lane_mask(s, lo, hi, 0x5555555555555555ull);
      LLVMValueRef m1 = lane_mask(s, cg_addc(s, lo, -L), cg_addc(s, hi, -L), 0x5555555555555555ull);
      LLVMValueRef wm = LLVMBuildShuffleVector(s->b, m0, m1, LLVMConstVector(cat, 2 * L), "");
      LLVMValueRef w = cg_masked_load(s, LLVMVectorType(s->t_i8, 2 * L), x, cg_addc(s, xrow, 2 * c0), wm,
                                      cg_splat(s, z, 2 * L));
      v = LLVMBuildShuffleVector(s->b, w, LLVMGetPoison(LLVMTypeOf(w)), LLVMConstVector(even, L), "");
    }
    cg_masked_store(s, v, dst, cg_addc(s, sp->at, c0), keep);
  }
}

/* dst[0 .. n1 - n0) = row k of the im2col matrix over columns [n0, n1),
 * the input zero point where the window leaves the image. */
static void im2col_row(qemit *e, const qconv_geo *q, LLVMValueRef x, LLVMValueRef xoff, LLVMValueRef k,
                       LLVMValueRef dst, LLVMValueRef n0, LLVMValueRef n1, int32_t zx) {
  cg_state *s = e->s;
  int64_t ksz = q->KH * q->KW;
  LLVMValueRef ci = cg_divc(s, k, ksz), kr = cg_remc(s, k, ksz);
  LLVMValueRef xc = cg_add(s, xoff, cg_mulc(s, ci, q->H * q->W));
  if (q->pointwise) {
    cg_memcpy(s, dst, cg_gep(s, IR_U8, x, cg_add(s, xc, n0)), cg_sub(s, n1, n0));
    return;
  }
  LLVMValueRef kh = cg_divc(s, kr, q->KW), kw = cg_remc(s, kr, q->KW);
  LLVMValueRef ihb = cg_addc(s, cg_mulc(s, kh, q->dh), -q->ph);
  LLVMValueRef iwb = cg_addc(s, cg_mulc(s, kw, q->dw), -q->pw);
  LLVMValueRef z = LLVMConstInt(s->t_i8, (unsigned long long)(zx & 255), 0);
  const cg_im2col win = {.H = q->H, .W = q->W, .OH = q->OH, .OW = q->OW, .KH = q->KH, .KW = q->KW,
                         .sh = q->sh, .sw = q->sw, .dh = q->dh, .dw = q->dw, .ph = q->ph, .pw = q->pw};
  cg_im2col_span sp;
  cg_loop oh = cg_im2col_rows(s, &win, n0, n1, ihb, iwb, &sp);
  if (e->masked_bytes && (q->sw == 1 || q->sw == 2)) {
    masked_row(e, q, x, cg_add(s, xc, sp.xrow), dst, &sp, z);
    cg_end(s, &oh);
    return;
  }
  LLVMValueRef dbase = sp.at, ow1 = sp.ow1, va = sp.va, vb = sp.vb;
  cg_loop z1 = cg_for(s, sp.ow0, va);
  LLVMBuildStore(s->b, z, cg_gep(s, IR_U8, dst, cg_add(s, dbase, z1.i)));
  cg_end(s, &z1);
  LLVMValueRef xrow = cg_add(s, xc, sp.xrow);
  if (q->sw == 1) {
    cg_memcpy(s, cg_gep(s, IR_U8, dst, cg_add(s, dbase, va)), cg_gep(s, IR_U8, x, cg_add(s, xrow, va)),
              cg_sub(s, vb, va));
  } else {
    cg_loop cp = cg_for(s, va, vb);
    LLVMValueRef b = LLVMBuildLoad2(s->b, s->t_i8, cg_gep(s, IR_U8, x, cg_add(s, xrow, cg_mulc(s, cp.i, q->sw))), "");
    LLVMBuildStore(s->b, b, cg_gep(s, IR_U8, dst, cg_add(s, dbase, cp.i)));
    cg_end(s, &cp);
  }
  cg_loop z2 = cg_for(s, vb, ow1);
  LLVMBuildStore(s->b, z, cg_gep(s, IR_U8, dst, cg_add(s, dbase, z2.i)));
  cg_end(s, &z2);
  cg_end(s, &oh);
}

/* Interleaves four rows of bytes (row t at rows + t * rstride, columns
 * [0, n1 - n0)) into k group g of the block's panels ([nc / nr][K4][nr][4]
 * bytes): out[4c + t] = row t, column c, `lanes` columns per shuffle.
 * `tail_masked` reads each row's last partial chunk with a masked load
 * (AVX-512BW), for rows that are the image's planes themselves, whose end
 * may be the end of the tensor; otherwise the rows are scratch rows of nc
 * bytes and the bytes past n1 - n0 are read and never used. */
static void interleave4(qemit *e, LLVMValueRef base, LLVMValueRef rows, int64_t rstride, LLVMValueRef block,
                        LLVMValueRef g, LLVMValueRef n0, LLVMValueRef n1, bool tail_masked) {
  cg_state *s = e->s;
  int L = e->lanes, nr = e->sc->nr;
  LLVMTypeRef rv = LLVMVectorType(s->t_i8, (unsigned)L);
  LLVMValueRef cat[128], mix[256], lane[64];
  for (int i = 0; i < 2 * L; i++) cat[i] = cg_i32(s, i);
  for (int c = 0; c < L; c++)
    for (int t = 0; t < 4; t++) mix[4 * c + t] = cg_i32(s, t * L + c);
  for (int l = 0; l < L; l++) lane[l] = LLVMConstInt(s->t_i64, (unsigned long long)l, 0);
  LLVMValueRef width = cg_sub(s, n1, n0);
  LLVMValueRef chunks = cg_divc(s, cg_addc(s, width, L - 1), L);
  cg_loop ch = cg_for(s, cg_i64(s, 0), chunks);
  LLVMValueRef c0 = cg_mulc(s, ch.i, L);
  LLVMValueRef r[4], keep = NULL;
  if (tail_masked) /* lanes below width - c0 */
    keep = LLVMBuildICmp(s->b, LLVMIntSLT, LLVMConstVector(lane, (unsigned)L),
                         cg_splat(s, cg_sub(s, width, c0), (unsigned)L), "");
  for (int t = 0; t < 4; t++) {
    LLVMValueRef off = cg_add(s, rows, cg_addc(s, c0, t * rstride));
    r[t] = tail_masked ? cg_masked_load(s, rv, base, off, keep, LLVMConstNull(rv)) : load_vec(s, rv, base, off, 1);
  }
  LLVMValueRef ab = LLVMBuildShuffleVector(s->b, r[0], r[1], LLVMConstVector(cat, (unsigned)(2 * L)), "");
  LLVMValueRef cd = LLVMBuildShuffleVector(s->b, r[2], r[3], LLVMConstVector(cat, (unsigned)(2 * L)), "");
  LLVMValueRef all = LLVMBuildShuffleVector(s->b, ab, cd, LLVMConstVector(mix, (unsigned)(4 * L)), "");
  LLVMValueRef panel = cg_divc(s, c0, nr), within = cg_remc(s, c0, nr);
  LLVMValueRef off = cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, panel, e->K4), g), (int64_t)nr * 4),
                            cg_mulc(s, within, 4));
  LLVMValueRef st = LLVMBuildStore(s->b, all, cg_gep(s, IR_U8, block, off));
  LLVMSetAlignment(st, 4);
  cg_end(s, &ch);
}

/* Packs columns [n0, n1) of the image into the block's panels
 * ([nc / nr][K4][nr][4] bytes), K in the weights' order (c, kh, kw): for
 * each group of 4 k, the 4 im2col rows go to `tmp` (4 rows of nc bytes),
 * then are interleaved.  A pointwise convolution's rows are the image's
 * planes, interleaved where they lie when the target has masked loads. */
static void pack_columns(qemit *e, const qconv_geo *q, int64_t K, LLVMValueRef x, LLVMValueRef xoff,
                         LLVMValueRef block, LLVMValueRef tmp, LLVMValueRef n0, LLVMValueRef n1, int32_t zx) {
  cg_state *s = e->s;
  int64_t nc = e->sc->nc;
  cg_loop g = cg_for_n(s, e->K4);
  if (q->pointwise && e->masked_bytes && K % 4 == 0) {
    LLVMValueRef rows = cg_add(s, cg_add(s, xoff, cg_mulc(s, g.i, 4 * q->H * q->W)), n0);
    interleave4(e, x, rows, q->H * q->W, block, g.i, n0, n1, true);
    cg_end(s, &g);
    return;
  }
  for (int t = 0; t < 4; t++) {
    LLVMValueRef k = cg_addc(s, cg_mulc(s, g.i, 4), t);
    LLVMValueRef dst = cg_gep(s, IR_U8, tmp, cg_i64(s, t * nc));
    if (K % 4 && t >= K % 4) {
      cg_loop in = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSLT, k, cg_i64(s, K), ""));
      im2col_row(e, q, x, xoff, k, dst, n0, n1, zx);
      cg_end_if(s, &in);
      cg_loop out = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGE, k, cg_i64(s, K), ""));
      cg_loop zl = cg_for_n(s, nc);
      LLVMBuildStore(s->b, LLVMConstInt(s->t_i8, 0, 0), cg_gep(s, IR_U8, dst, zl.i));
      cg_end(s, &zl);
      cg_end_if(s, &out);
    } else {
      im2col_row(e, q, x, xoff, k, dst, n0, n1, zx);
    }
  }
  interleave4(e, tmp, cg_i64(s, 0), nc, block, g.i, n0, n1, false);
  cg_end(s, &g);
}

/* The packing of a KxK or strided window with K ordered (kh, kw, c)
 * (tap_major: channels per group a multiple of 4, AVX-512BW): for each
 * tap and chunk of up to QCONV_TAP_ROWS channels, the chunk's im2col rows
 * go to `tmp`, one output row's span and masks serving every channel of
 * the chunk, then each 4 rows are interleaved into their k group.  In the
 * (c, kh, kw) order the span, the masks and the row loop were built anew
 * for every k and output row: 3.3 of ResNet-50's 16.3 ms (a probe that
 * skipped this packing), against 0.6 ms for its pointwise convolutions. */
enum { QCONV_TAP_ROWS = 64 };

static void pack_columns_taps(qemit *e, const qconv_geo *q, int64_t Cg, LLVMValueRef x, LLVMValueRef xoff,
                              LLVMValueRef block, LLVMValueRef tmp, LLVMValueRef n0, LLVMValueRef n1,
                              int32_t zx) {
  cg_state *s = e->s;
  int64_t nc = e->sc->nc, rows = Cg < QCONV_TAP_ROWS ? Cg : QCONV_TAP_ROWS, plane = q->H * q->W;
  LLVMValueRef z = LLVMConstInt(s->t_i8, (unsigned long long)(zx & 255), 0);
  const cg_im2col win = {.H = q->H, .W = q->W, .OH = q->OH, .OW = q->OW, .KH = q->KH, .KW = q->KW,
                         .sh = q->sh, .sw = q->sw, .dh = q->dh, .dw = q->dw, .ph = q->ph, .pw = q->pw};
  cg_loop tap = cg_for_n(s, q->KH * q->KW);
  LLVMValueRef kh = cg_divc(s, tap.i, q->KW), kw = cg_remc(s, tap.i, q->KW);
  LLVMValueRef ihb = cg_addc(s, cg_mulc(s, kh, q->dh), -q->ph);
  LLVMValueRef iwb = cg_addc(s, cg_mulc(s, kw, q->dw), -q->pw);
  cg_loop chunk = cg_for_n(s, ceil_div(Cg, rows));
  LLVMValueRef c0 = cg_mulc(s, chunk.i, rows);
  LLVMValueRef cnt = cg_min(s, cg_i64(s, rows), cg_sub(s, cg_i64(s, Cg), c0)); /* a multiple of 4 */
  LLVMValueRef xc = cg_add(s, xoff, cg_mulc(s, c0, plane));
  cg_im2col_span sp;
  cg_loop oh = cg_im2col_rows(s, &win, n0, n1, ihb, iwb, &sp);
  cg_loop c = cg_for(s, cg_i64(s, 0), cnt);
  masked_row(e, q, x, cg_add(s, cg_add(s, xc, cg_mulc(s, c.i, plane)), sp.xrow),
             cg_gep(s, IR_U8, tmp, cg_mulc(s, c.i, nc)), &sp, z);
  cg_end(s, &c);
  cg_end(s, &oh);
  cg_loop g4 = cg_for(s, cg_i64(s, 0), cg_divc(s, cnt, 4));
  LLVMValueRef g = cg_add(s, cg_mulc(s, tap.i, Cg / 4), cg_add(s, cg_divc(s, c0, 4), g4.i));
  interleave4(e, tmp, cg_mulc(s, g4.i, 4 * nc), nc, block, g, n0, n1, false);
  cg_end(s, &g4);
  cg_end(s, &chunk);
  cg_end(s, &tap);
}

/* Compile-time tables: bias'[c] = bias[c] - z * wsum[c] (int32 wrap-around),
 * mult, shift, padded to `padded` entries. */
static void tables(qemit *e, int32_t n, const int32_t *bias, const int8_t *w, int64_t count, int64_t K,
                   int64_t w_cs, int64_t w_ks, const int32_t *mult, const int32_t *shift, int32_t z,
                   int64_t padded) {
  cg_state *s = e->s;
  int32_t *b = ir_arena_alloc(&s->arena, (size_t)padded * 4 * 3);
  memset(b, 0, (size_t)padded * 4 * 3);
  int32_t *m = b + padded, *sh = m + padded;
  for (int64_t c = 0; c < count; c++) {
    int64_t sum = 0;
    for (int64_t k = 0; k < K; k++) sum += w[c * w_cs + k * w_ks];
    uint32_t v = (uint32_t)(bias ? bias[c] : 0) - (uint32_t)((int64_t)z * sum);
    b[c] = (int32_t)v;
    m[c] = mult[c];
    sh[c] = shift[c];
  }
  for (int64_t c = count; c < padded; c++) sh[c] = 1;
  e->small_mult = e->zy_in_round = true;
  for (int64_t c = 0; c < count; c++) {
    e->small_mult &= ldexp((double)mult[c], -shift[c]) <= 0.5;
    e->zy_in_round &= shift[c] <= 52;
  }
  char name[64];
  snprintf(name, sizeof name, "qbias_%d", n);
  e->bias = cg_const_global(s, name, b, padded * 4);
  snprintf(name, sizeof name, "qmult_%d", n);
  e->mult = cg_const_global(s, name, m, padded * 4);
  snprintf(name, sizeof name, "qshift_%d", n);
  e->shift = cg_const_global(s, name, sh, padded * 4);
}

static void emit_init(qemit *e, cg_state *s, const cg_schedule *sc, int64_t K) {
  e->s = s;
  e->sc = sc;
  e->vnni = cg_target_vnni(s->target, sc->lanes);
  e->masked_bytes = s->target->vector_bits >= 512 && has_feature(s->target->features, "avx512bw");
  e->lanes = sc->lanes;
  e->K4 = ceil_div(K, 4);
  e->vi32 = LLVMVectorType(s->t_i32, (unsigned)sc->lanes);
  e->vb = LLVMVectorType(s->t_i8, (unsigned)(4 * sc->lanes));
}

/* What the QConv kernels below need of the node. */
typedef struct qconv_items {
  const qconv_geo *q;
  int64_t K, Cg, C, M, Mg, group, cols, mpan;
  int32_t zx;
  int64_t block;             /* bytes of one column block's panels */
  int64_t per_pack;          /* ... plus the packing's rows of tmp */
} qconv_items;

enum { QCONV_PREPACK_MAX_BYTES = 4 << 20 };

/* The item's image (b = img * group + gi): its input offset, its output
 * offset, and the weights and tables of its group. */
static void qconv_batch(qemit *e, const qconv_items *it, LLVMValueRef b, LLVMValueRef *xoff,
                        LLVMValueRef *out_off, srows *sr) {
  cg_state *s = e->s;
  int mr = e->sc->mr;
  LLVMValueRef img = cg_divc(s, b, it->group), gi = cg_remc(s, b, it->group);
  *xoff = cg_mulc(s, cg_add(s, cg_mulc(s, img, it->C), cg_mulc(s, gi, it->Cg)), it->q->H * it->q->W);
  *out_off = cg_mulc(s, cg_add(s, cg_mulc(s, img, it->M), cg_mulc(s, gi, it->Mg)), it->cols);
  sr->base = cg_mulc(s, gi, it->mpan * e->K4 * mr * 4);
  /* rows index the tables through the group's first channel: offset the
   * table bases rather than every row */
  LLVMValueRef row0 = cg_mulc(s, gi, it->Mg);
  e->bias = cg_gep(s, IR_I32, e->bias, row0);
  e->mult = cg_gep(s, IR_I32, e->mult, row0);
  e->shift = cg_gep(s, IR_I32, e->shift, row0);
}

static void pack_block(qemit *e, const qconv_items *it, LLVMValueRef x, LLVMValueRef xoff, LLVMValueRef dst,
                       LLVMValueRef tmp, LLVMValueRef n0, LLVMValueRef n1) {
  if (e->tap_major)
    pack_columns_taps(e, it->q, it->Cg, x, xoff, dst, tmp, n0, n1, it->zx);
  else
    pack_columns(e, it->q, it->K, x, xoff, dst, tmp, n0, n1, it->zx);
}

/* One kernel: each item (image and group, row block, group of column
 * blocks) packs its column blocks into its own scratch and runs its rows
 * over them. */
static void packed_per_item(qemit *e, const qconv_items *it, int32_t n, int64_t batch, int64_t nb, int64_t mb) {
  cg_state *s = e->s;
  int64_t nc = e->sc->nc, mc = e->sc->mc;
  enum { QGEMM_MAX_SLOTS = 16 };
  int64_t slots = nb > QGEMM_MAX_SLOTS ? QGEMM_MAX_SLOTS : nb;
  int64_t items = batch * mb * slots;
  cg_kernel_scratch(s, items * it->per_pack);
  cg_kernel *k = cg_kernel_begin(s, n, items, 2 * it->K * it->Mg * it->cols / (mb * slots) + 1);
  e->V = k->scratch;
  e->out = k->out[0];
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef b = cg_divc(s, item.i, mb * slots), r = cg_remc(s, item.i, mb * slots);
  LLVMValueRef ib = cg_divc(s, r, slots), grp = cg_remc(s, r, slots);
  LLVMValueRef vbase = cg_mulc(s, item.i, it->per_pack);
  LLVMValueRef tmp = cg_gep(s, IR_U8, k->scratch, cg_addc(s, vbase, it->block));
  LLVMValueRef xoff, out_off;
  srows sr;
  qconv_batch(e, it, b, &xoff, &out_off, &sr);
  LLVMValueRef m0 = cg_mulc(s, ib, mc), m1 = cg_min(s, cg_addc(s, m0, mc), cg_i64(s, it->Mg));
  cg_loop jbl = cg_for(s, cg_i64(s, 0), cg_divc(s, cg_sub(s, cg_i64(s, nb + slots - 1), grp), slots));
  LLVMValueRef jb = cg_add(s, grp, cg_mulc(s, jbl.i, slots));
  LLVMValueRef n0 = cg_mulc(s, jb, nc), n1 = cg_min(s, cg_addc(s, n0, nc), cg_i64(s, it->cols));
  pack_block(e, it, k->in[0], xoff, cg_gep(s, IR_U8, k->scratch, vbase), tmp, n0, n1);
  /* the block's panels hold columns from n0 */
  col_panels(e, &sr, it->Mg, it->cols, m0, m1, n0, n1, vbase, out_off);
  cg_end(s, &jbl);
  cg_end(s, &item);
  cg_kernel_end(s, k);
}

/* Two kernels sharing one scratch (every kernel's scratch starts at the
 * same workspace offset, and kernels run in order): the first packs each
 * (image and group, column block) once, the second runs every (image and
 * group, row block, column block) over the packed panels. */
static void prepacked(qemit *e, const qconv_items *it, int32_t n, int64_t batch, int64_t nb, int64_t mb) {
  cg_state *s = e->s;
  int64_t nc = e->sc->nc, mc = e->sc->mc, packs = batch * nb;
  LLVMValueRef tables[3] = {e->bias, e->mult, e->shift};
  cg_kernel_scratch(s, packs * it->per_pack);
  cg_kernel *k = cg_kernel_begin(s, n, packs, it->K * nc + 1);
  int64_t shared = k->scratch_offset;
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef b = cg_divc(s, item.i, nb), jb = cg_remc(s, item.i, nb), xoff, out_off;
  srows sr;
  qconv_batch(e, it, b, &xoff, &out_off, &sr);
  LLVMValueRef n0 = cg_mulc(s, jb, nc), n1 = cg_min(s, cg_addc(s, n0, nc), cg_i64(s, it->cols));
  /* the blocks packed, then each item's rows of tmp */
  LLVMValueRef tmp = cg_gep(s, IR_U8, k->scratch,
                            cg_addc(s, cg_mulc(s, item.i, it->per_pack - it->block), packs * it->block));
  pack_block(e, it, k->in[0], xoff, cg_gep(s, IR_U8, k->scratch, cg_mulc(s, item.i, it->block)), tmp, n0, n1);
  cg_end(s, &item);
  cg_kernel_end(s, k);

  e->bias = tables[0], e->mult = tables[1], e->shift = tables[2];
  cg_kernel_scratch(s, packs * it->block);
  k = cg_kernel_begin(s, n, packs * mb, 2 * it->K * mc * nc + 1);
  assert(k->scratch_offset == shared);
  (void)shared;
  e->V = k->scratch;
  e->out = k->out[0];
  item = cg_for(s, k->begin, k->end);
  /* row blocks innermost: the items of one column block are adjacent */
  LLVMValueRef p = cg_divc(s, item.i, mb), ib = cg_remc(s, item.i, mb);
  b = cg_divc(s, p, nb), jb = cg_remc(s, p, nb);
  qconv_batch(e, it, b, &xoff, &out_off, &sr);
  LLVMValueRef m0 = cg_mulc(s, ib, mc), m1 = cg_min(s, cg_addc(s, m0, mc), cg_i64(s, it->Mg));
  n0 = cg_mulc(s, jb, nc), n1 = cg_min(s, cg_addc(s, n0, nc), cg_i64(s, it->cols));
  col_panels(e, &sr, it->Mg, it->cols, m0, m1, n0, n1, cg_mulc(s, p, it->block), out_off);
  cg_end(s, &item);
  cg_kernel_end(s, k);
}

static kiln_status emit_qconv(cg_state *s, int32_t n, const int32_t *mult, const int32_t *shift, int32_t zx,
                              int32_t zy, int32_t lo, int32_t hi, bool *done) {
  ir_value_id x = cg_in(s, n, 0), w = cg_in(s, n, 1), bias = cg_in(s, n, 2);
  const ir_shape *xs = cg_shape(s, x), *ws = cg_shape(s, w), *ys = cg_shape(s, cg_out(s, n, 0));
  int64_t group = ir_attr_int_or(s->g, n, "group", 1);
  int64_t Nimg = xs->dims[0], C = xs->dims[1], M = ws->dims[0], Cg = C / group, Mg = M / group;
  cg_qgemm_shape shape;
  if (!cg_qgemm_shape_of(s->g, n, &shape)) return KILN_OK; /* depthwise, non-constant or 3-d: the reference loops */
  cg_window win;
  kiln_status st = cg_window_init(s, n, xs, ys, ws->dims + 2, &win);
  if (st) return st;
  bool two = win.nsp == 2;
  int hi_ = two ? 0 : -1, wi = two ? 1 : 0;
  qconv_geo q = {.C = C, .H = hi_ >= 0 ? win.in[hi_] : 1, .W = win.in[wi],
                 .OH = hi_ >= 0 ? win.out[hi_] : 1, .OW = win.out[wi],
                 .KH = hi_ >= 0 ? win.kernel[hi_] : 1, .KW = win.kernel[wi],
                 .sh = hi_ >= 0 ? win.stride[hi_] : 1, .sw = win.stride[wi],
                 .dh = hi_ >= 0 ? win.dilation[hi_] : 1, .dw = win.dilation[wi],
                 .ph = hi_ >= 0 ? win.pad_begin[hi_] : 0, .pw = win.pad_begin[wi]};
  q.pointwise = q.KH == 1 && q.KW == 1 && q.sh == 1 && q.sw == 1 && q.ph == 0 && q.pw == 0 &&
                win.pad_end[0] == 0 && (!two || win.pad_end[1] == 0);
  int64_t K = Cg * q.KH * q.KW, cols = q.OH * q.OW, batch = Nimg * group;
  assert(shape.rows == Mg && shape.cols == cols && shape.K == K && shape.batch == batch);
  cg_schedule sc;
  cg_qgemm_schedule(s, n, &shape, &sc);
  qemit e = {.conv = true, .per_row = true, .zy = zy, .lo = lo, .hi = hi, .ldc = cols};
  emit_init(&e, s, &sc, K);
  int mr = sc.mr, nr = sc.nr;
  int64_t K4 = e.K4, mpan = ceil_div(Mg, mr), taps = q.KH * q.KW;
  e.tap_major = !q.pointwise && e.masked_bytes && Cg % 4 == 0 && (q.sw == 1 || q.sw == 2);
  /* weights: [group][Mg / mr][K4][mr][4], zero past Mg and K; k is
   * (c, kh, kw) as in the model, or (kh, kw, c) for the tap-major packing */
  const int8_t *wd = ir_const_data(s->g, w);
  int64_t wbytes = group * mpan * K4 * mr * 4;
  int8_t *wp = ir_arena_alloc(&s->arena, (size_t)wbytes);
  memset(wp, 0, (size_t)wbytes);
  for (int64_t gi = 0; gi < group; gi++)
    for (int64_t m = 0; m < Mg; m++)
      for (int64_t k = 0; k < K; k++) {
        int64_t kk = e.tap_major ? k % taps * Cg + k / taps : k;
        wp[(((gi * mpan + m / mr) * K4 + kk / 4) * mr + m % mr) * 4 + kk % 4] = wd[(gi * Mg + m) * K + k];
      }
  char name[160];
  snprintf(name, sizeof name, "const.%s.q%dx%lld", s->g->values[w].name, mr, (long long)K4);
  e.S = cg_const_global(s, name, wp, wbytes);
  tables(&e, n, bias >= 0 ? ir_const_data(s->g, bias) : NULL, wd, M, K, K, 1, mult, shift, zx, M);

  int64_t nc = sc.nc, mc = sc.mc;
  int64_t nb = ceil_div(cols, nc), mb = ceil_div(Mg, mc);
  int64_t tmp_rows = e.tap_major ? (Cg < QCONV_TAP_ROWS ? Cg : QCONV_TAP_ROWS) : 4;
  int64_t block = K4 * nr * 4 * (nc / nr), per_pack = block + tmp_rows * nc + 64;
  qconv_items it = {.q = &q, .K = K, .Cg = Cg, .C = C, .M = M, .Mg = Mg, .group = group, .cols = cols,
                    .mpan = mpan, .zx = zx, .block = block, .per_pack = per_pack};
  /* Row blocks (few columns: ResNet-50's last stage has 49) each packed
   * the same columns again; pack them once, in a kernel of their own, when
   * the blocks fit a few MB of scratch. */
  if (mb > 1 && batch * nb * per_pack <= QCONV_PREPACK_MAX_BYTES)
    prepacked(&e, &it, n, batch, nb, mb);
  else
    packed_per_item(&e, &it, n, batch, nb, mb);
  *done = true;
  return KILN_OK;
}

static kiln_status emit_qmatmul(cg_state *s, int32_t n, const int32_t *mult, const int32_t *shift, int32_t za,
                                int32_t zy, int32_t lo, int32_t hi, bool *done) {
  ir_value_id a = cg_in(s, n, 0), w = cg_in(s, n, 1), bias = cg_in(s, n, 2);
  const ir_shape *bs = cg_shape(s, w);
  cg_qgemm_shape shape;
  if (!cg_qgemm_shape_of(s->g, n, &shape)) return KILN_OK;
  int64_t K = bs->dims[0], N = bs->dims[1], R = K ? cg_numel(s, a) / K : 0;
  assert(shape.rows == R && shape.cols == N && shape.K == K);
  cg_schedule sc;
  cg_qgemm_schedule(s, n, &shape, &sc);
  qemit e = {.conv = false, .per_row = false, .zy = zy, .lo = lo, .hi = hi, .ldc = N};
  emit_init(&e, s, &sc, K);
  int nr = sc.nr;
  int64_t K4 = e.K4, npan = ceil_div(N, nr);
  const int8_t *wd = ir_const_data(s->g, w);
  int64_t wbytes = npan * K4 * nr * 4;
  int8_t *wp = ir_arena_alloc(&s->arena, (size_t)wbytes);
  memset(wp, 0, (size_t)wbytes);
  for (int64_t k = 0; k < K; k++)
    for (int64_t j = 0; j < N; j++) wp[((j / nr * K4 + k / 4) * nr + j % nr) * 4 + k % 4] = wd[k * N + j];
  char name[160];
  snprintf(name, sizeof name, "const.%s.q%lldx%d", s->g->values[w].name, (long long)K4, nr);
  e.V = cg_const_global(s, name, wp, wbytes);
  tables(&e, n, bias >= 0 ? ir_const_data(s->g, bias) : NULL, wd, N, K, 1, N, mult, shift, za, npan * nr);

  int64_t nc = sc.nc, mc = sc.mc, nb = ceil_div(N, nc), mb = ceil_div(R, mc);
  int64_t items = mb * nb, per_item = mc * K4 * 4 + 64;
  cg_kernel_scratch(s, items * per_item);
  cg_kernel *k = cg_kernel_begin(s, n, items, 2 * K * mc * nc + 1);
  e.out = k->out[0];
  e.S = k->scratch;
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef ib = cg_divc(s, item.i, nb), jb = cg_remc(s, item.i, nb);
  LLVMValueRef m0 = cg_mulc(s, ib, mc), m1 = cg_min(s, cg_addc(s, m0, mc), cg_i64(s, R));
  LLVMValueRef n0 = cg_mulc(s, jb, nc), n1 = cg_min(s, cg_addc(s, n0, nc), cg_i64(s, N));
  LLVMValueRef sbase = cg_mulc(s, item.i, per_item);
  /* the item's rows of A, each padded with zeros to K4 * 4 bytes */
  cg_loop rl = cg_for(s, m0, m1);
  LLVMValueRef dst = cg_add(s, sbase, cg_mulc(s, cg_sub(s, rl.i, m0), K4 * 4));
  cg_memcpy(s, cg_gep(s, IR_U8, k->scratch, dst), cg_gep(s, IR_U8, k->in[0], cg_mulc(s, rl.i, K)), cg_i64(s, K));
  for (int64_t t = K; t < K4 * 4; t++)
    LLVMBuildStore(s->b, LLVMConstInt(s->t_i8, 0, 0), cg_gep(s, IR_U8, k->scratch, cg_addc(s, dst, t)));
  cg_end(s, &rl);
  srows sr = {.base = sbase, .m0 = m0};
  col_panels(&e, &sr, R, N, m0, m1, n0, n1, cg_mulc(s, cg_divc(s, n0, nr), K4 * nr * 4), cg_i64(s, 0));
  cg_end(s, &item);
  cg_kernel_end(s, k);
  *done = true;
  return KILN_OK;
}

kiln_status cg_qgemm_emit(cg_state *s, int32_t n, const int32_t *mult, const int32_t *shift, int32_t zx,
                          int32_t zy, int32_t lo, int32_t hi, bool *done) {
  *done = false;
  if (s->g->nodes[n].op == IR_OP_QCONV) return emit_qconv(s, n, mult, shift, zx, zy, lo, hi, done);
  return emit_qmatmul(s, n, mult, shift, zx, zy, lo, hi, done);
}
