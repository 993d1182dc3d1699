/*
 * lower_rnn.c — the recurrent layers RNN, GRU and LSTM: all directions,
 * activations (with their alpha/beta), clip, sequence_lens, initial
 * states, LSTM peepholes, GRU linear_before_reset, and both layouts.
 *
 * Shapes (layout 0; layout 1 swaps seq and batch in X/Y and puts batch
 * first in the states):
 *     X [seq, batch, in]   W [dirs, G*H, in]   R [dirs, G*H, H]   B [dirs, 2*G*H]
 *     Y [seq, dirs, batch, H]   Y_h, Y_c, initial_h, initial_c [dirs, batch, H]
 * with G = 1 (RNN), 3 (GRU: z, r, h) or 4 (LSTM: i, o, f, c).
 *
 * One (direction, batch row) pair is one parallel item: its sequence is
 * independent of every other, so threads never share a sum.  An item keeps
 * its state in private scratch (cg_kernel_scratch): h and c [H] and the
 * gate pre-activations [G*H].  For each time step (backwards for the
 * reverse direction, over the first sequence_lens[b] steps only):
 *
 *     gates[j] = Wb[j] + Rb[j] + x_t . W[j] + h . R[j]        (fixed order)
 *     RNN:   h = f(gates)
 *     GRU:   z = f(gz), r = f(gr),
 *            n = g(Wbh + x_t . Wh + r * (h . Rh + Rbh))        linear_before_reset
 *            n = g(Wbh + x_t . Wh + (r * h) . Rh + Rbh)        otherwise
 *            h = (1 - z) * n + z * h
 *     LSTM:  i = f(gi + Pi*c), f = f(gf + Pf*c), c~ = g(gc),
 *            c = f*c + i*c~, o = f(go + Po*c), h = o * h(c)
 *
 * Y gets h at every processed step and zeros past sequence_lens; Y_h and
 * Y_c the last state.  clip, when set, clamps every pre-activation.
 * Activations are consumed from `activations` per direction (f, g, h as
 * the op has them), alpha/beta values in order by the activations that
 * take them.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "cg.h"

typedef enum {
  ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_HARD_SIGMOID, ACT_LEAKY_RELU, ACT_THRESHOLDED_RELU,
  ACT_SCALED_TANH, ACT_AFFINE, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS,
} act_kind;

typedef struct act {
  act_kind kind;
  double alpha, beta;
} act;

static const struct {
  const char *name;
  act_kind kind;
  int params;          /* alpha, alpha+beta */
  double alpha, beta;  /* defaults */
} act_table[] = {
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0},          {"Tanh", ACT_TANH, 0, 0, 0},
    {"Relu", ACT_RELU, 0, 0, 0},                {"HardSigmoid", ACT_HARD_SIGMOID, 2, 0.2, 0.5},
    {"LeakyRelu", ACT_LEAKY_RELU, 1, 0.01, 0},  {"ThresholdedRelu", ACT_THRESHOLDED_RELU, 1, 1, 0},
    {"ScaledTanh", ACT_SCALED_TANH, 2, 1, 1},   {"Affine", ACT_AFFINE, 2, 1, 0},
    {"Elu", ACT_ELU, 1, 1, 0},                  {"Softsign", ACT_SOFTSIGN, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0},
};

static LLVMValueRef apply_act(cg_state *s, ir_dtype ct, const act *a, LLVMValueRef v) {
  LLVMTypeRef t = cg_val_type(s, ct);
  LLVMValueRef zero = cg_const(s, ct, 0), one = cg_const(s, ct, 1);
  LLVMValueRef al = cg_const(s, ct, a->alpha), be = cg_const(s, ct, a->beta);
  switch (a->kind) {
  case ACT_SIGMOID: {
    LLVMValueRef nv = LLVMBuildFNeg(s->b, v, "");
    LLVMValueRef e = cg_exp(s, nv);
    return LLVMBuildFDiv(s->b, one, LLVMBuildFAdd(s->b, one, e, ""), "");
  }
  case ACT_TANH: return cg_libm(s, ct == IR_F64 ? "tanh" : "tanhf", t, 1, &v);
  case ACT_RELU: return cg_arith_op(s, CG_MAX, ct, v, zero);
  case ACT_HARD_SIGMOID: {
    LLVMValueRef r = cg_fmuladd(s, v, al, be);
    return cg_arith_op(s, CG_MIN, ct, cg_arith_op(s, CG_MAX, ct, r, zero), one);
  }
  case ACT_LEAKY_RELU: {
    LLVMValueRef neg = LLVMBuildFCmp(s->b, LLVMRealOLT, v, zero, "");
    return LLVMBuildSelect(s->b, neg, LLVMBuildFMul(s->b, v, al, ""), v, "");
  }
  case ACT_THRESHOLDED_RELU:
    return LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, al, ""), v, zero, "");
  case ACT_SCALED_TANH: {
    LLVMValueRef bv = LLVMBuildFMul(s->b, v, be, "");
    return LLVMBuildFMul(s->b, al, cg_libm(s, ct == IR_F64 ? "tanh" : "tanhf", t, 1, &bv), "");
  }
  case ACT_AFFINE: return cg_fmuladd(s, v, al, be);
  case ACT_ELU: {
    LLVMValueRef em1 = cg_libm(s, ct == IR_F64 ? "expm1" : "expm1f", t, 1, &v);
    LLVMValueRef neg = LLVMBuildFCmp(s->b, LLVMRealOLT, v, zero, "");
    return LLVMBuildSelect(s->b, neg, LLVMBuildFMul(s->b, al, em1, ""), v, "");
  }
  case ACT_SOFTSIGN: {
    LLVMValueRef av = cg_intrinsic(s, "llvm.fabs", t, 1, &v);
    return LLVMBuildFDiv(s->b, v, LLVMBuildFAdd(s->b, one, av, ""), "");
  }
  case ACT_SOFTPLUS: {
    LLVMValueRef e = cg_exp(s, v);
    return cg_libm(s, ct == IR_F64 ? "log1p" : "log1pf", t, 1, &e);
  }
  }
  return v;
}

typedef struct rnn_info {
  ir_op op;
  int G, nact;                 /* gates, activations per direction */
  int64_t seq, batch, in, H, dirs;
  bool layout1, reverse_only, lbr;
  double clip;                 /* 0: none */
  act acts[2][3];
} rnn_info;

static kiln_status parse_acts(cg_state *s, int32_t n, rnn_info *r) {
  static const char *dflt[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
  const char *const *names = dflt[r->op == IR_OP_RNN ? 0 : r->op == IR_OP_GRU ? 1 : 2];
  const ir_attr *an = ir_get_attr(s->g, n, "activations");
  const ir_attr *aa = ir_get_attr(s->g, n, "activation_alpha");
  const ir_attr *ab = ir_get_attr(s->g, n, "activation_beta");
  int ia = 0, ib = 0;
  for (int d = 0; d < r->dirs; d++)
    for (int i = 0; i < r->nact; i++) {
      const char *name = names[i];
      if (an && an->kind == IR_ATTR_STRINGS) {
        int idx = d * r->nact + i;
        if (an->count == r->nact) idx = i; /* one list shared by both directions */
        if (idx >= an->count) return cg_unsupported(s, n, "too few activations");
        name = an->strings[idx];
      }
      size_t t = 0;
      while (t < sizeof act_table / sizeof act_table[0] && strcasecmp(act_table[t].name, name)) t++;
      if (t == sizeof act_table / sizeof act_table[0])
        return cg_unsupported(s, n, "activation '%s'", name);
      act *a = &r->acts[d][i];
      a->kind = act_table[t].kind;
      a->alpha = act_table[t].alpha;
      a->beta = act_table[t].beta;
      if (act_table[t].params >= 1 && aa && ia < aa->count) a->alpha = aa->floats[ia++];
      if (act_table[t].params >= 2 && ab && ib < ab->count) a->beta = ab->floats[ib++];
    }
  return KILN_OK;
}

/* sum_k v[voff + k] * m[moff + k] over k < len, added to init, in order. */
static LLVMValueRef dot(cg_state *s, ir_dtype ct, ir_dtype vd, LLVMValueRef v, LLVMValueRef voff,
                        ir_dtype md, LLVMValueRef m, LLVMValueRef moff, int64_t len,
                        LLVMValueRef init, LLVMValueRef gate /* may be NULL: v * gate[k] */,
                        LLVMValueRef goff) {
  LLVMTypeRef vt = cg_val_type(s, ct);
  LLVMValueRef acc = cg_var(s, vt, init);
  cg_loop k = cg_for_n(s, len);
  LLVMValueRef a = cg_load_as(s, vd, v, cg_add(s, voff, k.i), ct);
  if (gate) a = LLVMBuildFMul(s->b, a, cg_load(s, ct, gate, cg_add(s, goff, k.i)), "");
  LLVMValueRef b = cg_load_as(s, md, m, cg_add(s, moff, k.i), ct);
  cg_set(s, acc, cg_fmuladd(s, a, b, cg_get(s, vt, acc)));
  cg_end(s, &k);
  return cg_get(s, vt, acc);
}

kiln_status lower_rnn(cg_state *s, int32_t n) {
  static const ir_dtype ok[] = {IR_F32, IR_F64, IR_F16, IR_I32, IR_UNDEFINED};
  kiln_status st = cg_require_dtypes(s, n, ok);
  if (st) return st;
  rnn_info r;
  memset(&r, 0, sizeof r);
  r.op = s->g->nodes[n].op;
  r.G = r.op == IR_OP_RNN ? 1 : r.op == IR_OP_GRU ? 3 : 4;
  r.nact = r.op == IR_OP_RNN ? 1 : r.op == IR_OP_GRU ? 2 : 3;
  ir_value_id X = cg_in(s, n, 0), W = cg_in(s, n, 1), R = cg_in(s, n, 2), B = cg_in(s, n, 3);
  ir_value_id SL = cg_in(s, n, 4), H0 = cg_in(s, n, 5);
  ir_value_id C0 = r.op == IR_OP_LSTM ? cg_in(s, n, 6) : IR_NONE;
  ir_value_id P = r.op == IR_OP_LSTM ? cg_in(s, n, 7) : IR_NONE;
  ir_value_id Y = cg_out(s, n, 0), YH = cg_out(s, n, 1), YC = r.op == IR_OP_LSTM ? cg_out(s, n, 2) : IR_NONE;
  ir_dtype dt = cg_dtype(s, X), ct = cg_compute_dtype(dt);
  if (dt == IR_I32 || (SL >= 0 && cg_dtype(s, SL) != IR_I32))
    return cg_unsupported(s, n, "float inputs and int32 sequence_lens expected");
  const ir_shape *xs = cg_shape(s, X), *wsh = cg_shape(s, W);
  if (xs->rank != 3 || wsh->rank != 3) return cg_unsupported(s, n, "X and W must be 3-D");
  r.layout1 = ir_attr_int_or(s->g, n, "layout", 0) == 1;
  r.seq = xs->dims[r.layout1 ? 1 : 0];
  r.batch = xs->dims[r.layout1 ? 0 : 1];
  r.in = xs->dims[2];
  r.dirs = wsh->dims[0];
  r.H = ir_attr_int_or(s->g, n, "hidden_size", wsh->dims[1] / r.G);
  if (wsh->dims[1] != r.G * r.H || wsh->dims[2] != r.in)
    return cg_unsupported(s, n, "W does not match hidden_size and the input size");
  /* every operand must have the extents the loops will walk */
  int64_t D0 = wsh->dims[0], GH0 = r.G * r.H;
  const ir_shape *rs = cg_shape(s, R);
  bool ok_shapes = rs->rank == 3 && rs->dims[0] == D0 && rs->dims[1] == GH0 && rs->dims[2] == r.H;
  if (B >= 0) ok_shapes &= cg_numel(s, B) == D0 * 2 * GH0;
  if (SL >= 0) ok_shapes &= cg_numel(s, SL) == r.batch;
  if (H0 >= 0) ok_shapes &= cg_numel(s, H0) == D0 * r.batch * r.H;
  if (C0 >= 0) ok_shapes &= cg_numel(s, C0) == D0 * r.batch * r.H;
  if (P >= 0) ok_shapes &= cg_numel(s, P) == D0 * 3 * r.H;
  if (Y >= 0) ok_shapes &= cg_numel(s, Y) == r.seq * D0 * r.batch * r.H;
  if (YH >= 0) ok_shapes &= cg_numel(s, YH) == D0 * r.batch * r.H;
  if (YC >= 0) ok_shapes &= cg_numel(s, YC) == D0 * r.batch * r.H;
  if (!ok_shapes) return cg_unsupported(s, n, "R, B, sequence_lens, states or outputs do not match "
                                              "W, X and hidden_size");
  const char *dir = ir_attr_string_or(s->g, n, "direction", "forward");
  bool bidi = !strcmp(dir, "bidirectional");
  r.reverse_only = !strcmp(dir, "reverse");
  if ((!bidi && !r.reverse_only && strcmp(dir, "forward")) || r.dirs != (bidi ? 2 : 1))
    return cg_unsupported(s, n, "direction '%s' with %lld weight sets", dir, (long long)r.dirs);
  if (ir_attr_int_or(s->g, n, "input_forget", 0))
    return cg_unsupported(s, n, "input_forget (coupled input and forget gates)");
  r.lbr = ir_attr_int_or(s->g, n, "linear_before_reset", 0) != 0;
  const ir_attr *ca = ir_get_attr(s->g, n, "clip");
  r.clip = ca ? ca->f : 0;
  st = parse_acts(s, n, &r);
  if (st) return st;
  int64_t H = r.H, G = r.G, GH = G * H, D = r.dirs, Bt = r.batch, T = r.seq;
  int64_t esz = ir_dtype_bytes(ct, 1);
  int64_t per_item = (2 + G + 1) * H; /* h, c, gates, spare */

  cg_kernel_scratch(s, D * Bt * per_item * esz);
  cg_kernel *k = cg_kernel_begin(s, n, D * Bt, T * GH * (r.in + H) * 2);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef d = cg_divc(s, item.i, Bt), b = cg_remc(s, item.i, Bt);
  LLVMValueRef sbase = cg_mulc(s, item.i, per_item);
  LLVMValueRef hb = sbase, cb = cg_addc(s, sbase, H), gb = cg_addc(s, sbase, 2 * H);
  LLVMValueRef spare = cg_addc(s, sbase, (2 + G) * H);
  /* the state index of (d, b): [dirs, batch, H] or [batch, dirs, H] */
  LLVMValueRef state = r.layout1 ? cg_add(s, cg_mulc(s, b, D), d) : cg_add(s, cg_mulc(s, d, Bt), b);
  state = cg_mulc(s, state, H);
  cg_loop j = cg_for_n(s, H);
  LLVMValueRef h0 = H0 >= 0 ? cg_load_as(s, cg_dtype(s, H0), k->in[5], cg_add(s, state, j.i), ct) : cg_const(s, ct, 0);
  LLVMValueRef c0 = C0 >= 0 ? cg_load_as(s, cg_dtype(s, C0), k->in[6], cg_add(s, state, j.i), ct) : cg_const(s, ct, 0);
  cg_store(s, ct, k->scratch, cg_add(s, hb, j.i), h0);
  cg_store(s, ct, k->scratch, cg_add(s, cb, j.i), c0);
  cg_end(s, &j);
  LLVMValueRef len = SL >= 0 ? cg_cast(s, cg_load(s, IR_I32, k->in[4], b), IR_I32, IR_I64) : cg_i64(s, T);
  len = cg_max(s, cg_min(s, len, cg_i64(s, T)), cg_i64(s, 0));
  LLVMValueRef rev = r.reverse_only ? LLVMConstInt(s->t_i1, 1, 0)
                                    : LLVMBuildICmp(s->b, LLVMIntEQ, d, cg_i64(s, 1), "");
  LLVMValueRef wbase = cg_mulc(s, d, GH * r.in), rbase = cg_mulc(s, d, GH * H);
  LLVMValueRef bbase = cg_mulc(s, d, 2 * GH), pbase = cg_mulc(s, d, 3 * H);
  /* ---- the time loop ---- */
  cg_loop step = cg_for(s, cg_i64(s, 0), len);
  LLVMValueRef t = LLVMBuildSelect(s->b, rev, cg_sub(s, cg_addc(s, len, -1), step.i), step.i, "");
  LLVMValueRef xoff = r.layout1 ? cg_add(s, cg_mulc(s, b, T), t) : cg_add(s, cg_mulc(s, t, Bt), b);
  xoff = cg_mulc(s, xoff, r.in);
  /* gate pre-activations; GRU's h gate (rows 2H..3H) gets only its input part here */
  cg_loop g = cg_for_n(s, GH);
  LLVMValueRef init = cg_const(s, ct, 0);
  if (B >= 0) {
    LLVMValueRef wb = cg_load_as(s, cg_dtype(s, B), k->in[3], cg_add(s, bbase, g.i), ct);
    LLVMValueRef rb = cg_load_as(s, cg_dtype(s, B), k->in[3], cg_add(s, cg_addc(s, bbase, GH), g.i), ct);
    bool gru = r.op == IR_OP_GRU;
    init = gru ? LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, LLVMIntSLT, g.i, cg_i64(s, 2 * H), ""),
                                 LLVMBuildFAdd(s->b, wb, rb, ""), wb, "")
               : LLVMBuildFAdd(s->b, wb, rb, "");
  }
  LLVMValueRef acc = dot(s, ct, dt, k->in[0], xoff, cg_dtype(s, W), k->in[1],
                         cg_add(s, wbase, cg_mulc(s, g.i, r.in)), r.in, init, NULL, NULL);
  cg_store(s, ct, k->scratch, cg_add(s, gb, g.i), acc);
  cg_end(s, &g);
  LLVMValueRef recur_rows = cg_i64(s, r.op == IR_OP_GRU ? 2 * H : GH);
  g = cg_for(s, cg_i64(s, 0), recur_rows);
  LLVMValueRef at = cg_add(s, gb, g.i);
  acc = dot(s, ct, ct, k->scratch, hb, cg_dtype(s, R), k->in[2], cg_add(s, rbase, cg_mulc(s, g.i, H)),
            H, cg_load(s, ct, k->scratch, at), NULL, NULL);
  cg_store(s, ct, k->scratch, at, acc);
  cg_end(s, &g);

  const act *f = &r.acts[0][0], *ga = &r.acts[0][1], *ha = &r.acts[0][2];
  const act *f1 = &r.acts[D - 1][0], *ga1 = &r.acts[D - 1][1], *ha1 = &r.acts[D - 1][2];
  /* activation of direction d: select between the two directions' results */
#define ACT(which, which1, v)                                                                     \
  (D == 2 ? LLVMBuildSelect(s->b, rev, apply_act(s, ct, which1, v), apply_act(s, ct, which, v), "") \
          : apply_act(s, ct, which, v))
#define CLIP(v)                                                                                   \
  (r.clip > 0 ? cg_arith_op(s, CG_MIN, ct, cg_arith_op(s, CG_MAX, ct, v, cg_const(s, ct, -r.clip)), \
                            cg_const(s, ct, r.clip))                                             \
              : v)
  LLVMValueRef yoff_t = r.layout1 ? cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, b, T), t), D), d)
                                  : cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, t, D), d), Bt), b);
  yoff_t = cg_mulc(s, yoff_t, H);
  if (r.op == IR_OP_GRU) {
    /* r into the spare row, then the h gate's recurrent part */
    j = cg_for_n(s, H);
    LLVMValueRef rg = cg_load(s, ct, k->scratch, cg_add(s, gb, cg_addc(s, j.i, H)));
    cg_store(s, ct, k->scratch, cg_add(s, spare, j.i), ACT(f, f1, CLIP(rg)));
    cg_end(s, &j);
    j = cg_for_n(s, H);
    LLVMValueRef row = cg_add(s, rbase, cg_mulc(s, cg_addc(s, j.i, 2 * H), H));
    LLVMValueRef rbh = B >= 0 ? cg_load_as(s, cg_dtype(s, B), k->in[3],
                                           cg_add(s, cg_addc(s, bbase, GH + 2 * H), j.i), ct)
                              : cg_const(s, ct, 0);
    LLVMValueRef rv = cg_load(s, ct, k->scratch, cg_add(s, spare, j.i)), hpart;
    if (r.lbr) {
      hpart = dot(s, ct, ct, k->scratch, hb, cg_dtype(s, R), k->in[2], row, H, rbh, NULL, NULL);
      hpart = LLVMBuildFMul(s->b, rv, hpart, "");
    } else {
      hpart = dot(s, ct, ct, k->scratch, hb, cg_dtype(s, R), k->in[2], row, H, rbh, k->scratch, spare);
    }
    LLVMValueRef hg = cg_add(s, gb, cg_addc(s, j.i, 2 * H));
    LLVMValueRef nv = LLVMBuildFAdd(s->b, cg_load(s, ct, k->scratch, hg), hpart, "");
    /* h is still needed by later rows' dots: stash n in the gate row */
    cg_store(s, ct, k->scratch, hg, ACT(ga, ga1, CLIP(nv)));
    cg_end(s, &j);
    j = cg_for_n(s, H);
    LLVMValueRef z = ACT(f, f1, CLIP(cg_load(s, ct, k->scratch, cg_add(s, gb, j.i))));
    LLVMValueRef nn = cg_load(s, ct, k->scratch, cg_add(s, gb, cg_addc(s, j.i, 2 * H)));
    LLVMValueRef hp = cg_load(s, ct, k->scratch, cg_add(s, hb, j.i));
    LLVMValueRef hn = cg_fmuladd(s, z, LLVMBuildFSub(s->b, hp, nn, ""), nn); /* (1-z)n + zh */
    cg_store(s, ct, k->scratch, cg_add(s, hb, j.i), hn);
    if (Y >= 0) cg_store(s, dt, k->out[0], cg_add(s, yoff_t, j.i), cg_cast(s, hn, ct, dt));
    cg_end(s, &j);
  } else {
    j = cg_for_n(s, H);
    LLVMValueRef hn;
    if (r.op == IR_OP_RNN) {
      hn = ACT(f, f1, CLIP(cg_load(s, ct, k->scratch, cg_add(s, gb, j.i))));
    } else {
      LLVMValueRef gv[4];
      for (int q = 0; q < 4; q++) gv[q] = cg_load(s, ct, k->scratch, cg_add(s, gb, cg_addc(s, j.i, q * H)));
      LLVMValueRef cp = cg_load(s, ct, k->scratch, cg_add(s, cb, j.i));
      LLVMValueRef pv[3] = {NULL, NULL, NULL}; /* Pi, Po, Pf */
      if (P >= 0)
        for (int q = 0; q < 3; q++)
          pv[q] = cg_load_as(s, cg_dtype(s, P), k->in[7], cg_add(s, cg_addc(s, pbase, q * H), j.i), ct);
      LLVMValueRef iv = gv[0], fv = gv[2];
      if (P >= 0) iv = cg_fmuladd(s, pv[0], cp, iv), fv = cg_fmuladd(s, pv[2], cp, fv);
      LLVMValueRef ig = ACT(f, f1, CLIP(iv)), fg = ACT(f, f1, CLIP(fv));
      LLVMValueRef cg_ = ACT(ga, ga1, CLIP(gv[3]));
      LLVMValueRef cn = cg_fmuladd(s, fg, cp, LLVMBuildFMul(s->b, ig, cg_, ""));
      LLVMValueRef ov = gv[1];
      if (P >= 0) ov = cg_fmuladd(s, pv[1], cn, ov);
      LLVMValueRef og = ACT(f, f1, CLIP(ov));
      hn = LLVMBuildFMul(s->b, og, ACT(ha, ha1, cn), "");
      cg_store(s, ct, k->scratch, cg_add(s, cb, j.i), cn);
    }
    /* the dots of this step are done: h can be overwritten in place */
    cg_store(s, ct, k->scratch, cg_add(s, hb, j.i), hn);
    if (Y >= 0) cg_store(s, dt, k->out[0], cg_add(s, yoff_t, j.i), cg_cast(s, hn, ct, dt));
    cg_end(s, &j);
  }
#undef ACT
#undef CLIP
  cg_end(s, &step);
  /* zeros past the sequence length */
  if (Y >= 0) {
    cg_loop tz = cg_for(s, len, cg_i64(s, T));
    LLVMValueRef yo = r.layout1 ? cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, b, T), tz.i), D), d)
                                : cg_add(s, cg_mulc(s, cg_add(s, cg_mulc(s, tz.i, D), d), Bt), b);
    yo = cg_mulc(s, yo, H);
    j = cg_for_n(s, H);
    cg_store(s, dt, k->out[0], cg_add(s, yo, j.i), cg_cast(s, cg_const(s, ct, 0), ct, dt));
    cg_end(s, &j);
    cg_end(s, &tz);
  }
  j = cg_for_n(s, H);
  if (YH >= 0)
    cg_store(s, dt, k->out[1], cg_add(s, state, j.i),
             cg_cast(s, cg_load(s, ct, k->scratch, cg_add(s, hb, j.i)), ct, dt));
  if (YC >= 0)
    cg_store(s, dt, k->out[2], cg_add(s, state, j.i),
             cg_cast(s, cg_load(s, ct, k->scratch, cg_add(s, cb, j.i)), ct, dt));
  cg_end(s, &j);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
