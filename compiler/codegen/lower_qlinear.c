/*
 * lower_qlinear.c — the reference lowering of kiln's integer ops,
 * kiln.QConv and kiln.QMatMul, written by the quantize pass.
 *
 * The arithmetic is specified once, in compiler/ir/qmath.h; this file is
 * its plain-loop rendering, kept deliberately simple because it is the
 * yardstick the packed int8 micro-kernels (VNNI, vpmaddubsw, NEON dot
 * product) are checked against bit for bit.  Scales and zero points come
 * from the ir_quant records of the operands; the per-channel dyadic
 * multipliers (kiln_requant_from_real) are computed here at compile time
 * and stored as two int32 tables next to the code.
 *
 * Parallel items are output planes (n, m) for QConv and output rows for
 * QMatMul; each output element sums in one fixed order (channel, then
 * kernel position; k ascending), and integer sums are exact anyway, so the
 * results are the same for every thread count.
 */
#include "cg.h"
#include "qmath.h"

#include <string.h>

#include "kernels/gemm_int8.h"

/* Scale and zero point of a per-tensor quantized value. */
static bool tensor_q(cg_state *s, ir_value_id v, double *scale, int32_t *zp) {
  const ir_quant *q = s->g->values[v].quant;
  if (!q || q->kind != IR_QUANT_TENSOR || q->count != 1 || !q->scales) return false;
  *scale = q->scales[0];
  *zp = q->zero_points ? q->zero_points[0] : 0;
  return true;
}

/* The per-channel requantization tables of an op whose input has scale
 * sx, weights w (per tensor, or per index of `axis`, `channels` of them)
 * and output scale sy: mult[c], shift[c] (qmath.h), in the arena. */
static bool requant_tables(cg_state *s, double sx, ir_value_id w, int axis, int64_t channels, double sy,
                           int32_t **mult, int32_t **shift) {
  const ir_quant *q = s->g->values[w].quant;
  if (!q || !q->scales || (q->zero_points && q->count > 0 && q->zero_points[0]) ||
      !(q->count == 1 || (q->kind == IR_QUANT_CHANNEL && q->axis == axis && q->count == channels)))
    return false;
  for (int64_t c = 0; q->zero_points && c < q->count; c++)
    if (q->zero_points[c]) return false;
  int32_t *m = ir_arena_alloc(&s->arena, (size_t)channels * sizeof *m);
  int32_t *sh = ir_arena_alloc(&s->arena, (size_t)channels * sizeof *sh);
  for (int64_t c = 0; c < channels; c++) {
    kiln_requant r = kiln_requant_from_real(sx * q->scales[q->count == 1 ? 0 : c] / sy);
    m[c] = r.mult;
    sh[c] = r.shift;
  }
  *mult = m;
  *shift = sh;
  return true;
}

/* The tables as constants next to the code, for the reference loops. */
static void table_globals(cg_state *s, int32_t n, const int32_t *m, const int32_t *sh, int64_t channels,
                          LLVMValueRef *mult, LLVMValueRef *shift) {
  char name[64];
  snprintf(name, sizeof name, "qmult_%d", n);
  *mult = cg_const_global(s, name, m, channels * (int64_t)sizeof *m);
  snprintf(name, sizeof name, "qshift_%d", n);
  *shift = cg_const_global(s, name, sh, channels * (int64_t)sizeof *sh);
}

LLVMValueRef cg_requant(cg_state *s, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift,
                        int32_t zp, int32_t lo, int32_t hi) {
  LLVMTypeRef i64 = s->t_i64;
  LLVMValueRef a = LLVMBuildSExt(s->b, acc, i64, ""), mu = LLVMBuildSExt(s->b, mult, i64, "");
  LLVMValueRef sh = LLVMBuildSExt(s->b, shift, i64, "");
  LLVMValueRef half = LLVMBuildShl(s->b, cg_i64(s, 1), LLVMBuildSub(s->b, sh, cg_i64(s, 1), ""), "");
  LLVMValueRef v = LLVMBuildAShr(s->b, LLVMBuildAdd(s->b, LLVMBuildMul(s->b, a, mu, ""), half, ""), sh, "");
  v = LLVMBuildAdd(s->b, v, cg_i64(s, zp), "");
  v = cg_max(s, v, cg_i64(s, lo));
  v = cg_min(s, v, cg_i64(s, hi));
  return LLVMBuildTrunc(s->b, v, s->t_i32, "");
}

/* A node whose `schedule` attribute is "reference" keeps the plain loops
 * (the tests' oracle for the packed kernel, kernels/gemm_int8.c). */
static bool ref_only(cg_state *s, int32_t n) {
  const char *sc = ir_attr_string_or(s->g, n, "schedule", NULL);
  return sc && !strcmp(sc, "reference");
}

/* act_min/act_max of node n, within [0, 255]. */
static void act_range(cg_state *s, int32_t n, int32_t *lo, int32_t *hi) {
  int64_t a = ir_attr_int_or(s->g, n, "act_min", 0), b = ir_attr_int_or(s->g, n, "act_max", 255);
  *lo = (int32_t)(a < 0 ? 0 : a > 255 ? 255 : a);
  *hi = (int32_t)(b < *lo ? *lo : b > 255 ? 255 : b);
}

kiln_status lower_qconv(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), w = cg_in(s, n, 1), bias = cg_in(s, n, 2), y = cg_out(s, n, 0);
  if (cg_dtype(s, x) != IR_U8 || cg_dtype(s, w) != IR_I8 || cg_dtype(s, y) != IR_U8 ||
      (bias >= 0 && cg_dtype(s, bias) != IR_I32))
    return cg_unsupported(s, n, "expects u8 x s8 (+ i32 bias) -> u8");
  const ir_shape *xs = cg_shape(s, x), *ws = cg_shape(s, w), *ys = cg_shape(s, y);
  if (xs->rank < 3 || ws->rank != xs->rank) return cg_unsupported(s, n, "input needs N, C and spatial dims");
  int64_t group = ir_attr_int_or(s->g, n, "group", 1);
  int64_t N = xs->dims[0], C = xs->dims[1], M = ws->dims[0];
  if (group < 1 || C % group || M % group || ws->dims[1] * group != C)
    return cg_unsupported(s, n, "channels do not match W and group");
  if (bias >= 0 && cg_numel(s, bias) != M) return cg_unsupported(s, n, "bias must have one value per output channel");
  double sx, sy;
  int32_t zx, zy, lo, hi, *mt, *sht;
  LLVMValueRef mult, shift;
  if (!tensor_q(s, x, &sx, &zx) || !tensor_q(s, y, &sy, &zy) || !requant_tables(s, sx, w, 0, M, sy, &mt, &sht))
    return cg_unsupported(s, n, "needs per-tensor input/output and per-tensor or per-output-channel "
                          "symmetric weight quantization");
  act_range(s, n, &lo, &hi);
  bool done = false;
  kiln_status pst = ref_only(s, n) ? KILN_OK : cg_qgemm_emit(s, n, mt, sht, zx, zy, lo, hi, &done);
  if (pst || (!ref_only(s, n) && done)) return pst;
  table_globals(s, n, mt, sht, M, &mult, &shift);
  int64_t Cg = C / group, Mg = M / group;
  cg_window win;
  kiln_status st = cg_window_init(s, n, xs, ys, ws->dims + 2, &win);
  if (st) return st;
  int nsp = win.nsp;
  int64_t in_plane = cg_prod(win.in, 0, nsp), out_plane = cg_prod(win.out, 0, nsp);
  int64_t ksize = cg_prod(win.kernel, 0, nsp), in_str[KILN_MAX_RANK], k_str[KILN_MAX_RANK];
  for (int d = nsp - 1; d >= 0; d--) {
    in_str[d] = d == nsp - 1 ? 1 : in_str[d + 1] * win.in[d + 1];
    k_str[d] = d == nsp - 1 ? 1 : k_str[d + 1] * win.kernel[d + 1];
  }

  cg_kernel *k = cg_kernel_begin(s, n, N * M, out_plane * Cg * ksize);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef m = cg_remc(s, item.i, M), nn = cg_divc(s, item.i, M), g = cg_divc(s, m, Mg);
  LLVMValueRef mu = cg_load(s, IR_I32, mult, m), sh = cg_load(s, IR_I32, shift, m);
  LLVMValueRef b0 = bias >= 0 ? cg_load(s, IR_I32, k->in[2], m) : cg_i32(s, 0);
  LLVMValueRef xbase0 = cg_mulc(s, cg_add(s, cg_mulc(s, nn, C), cg_mulc(s, g, Cg)), in_plane);
  LLVMValueRef wbase0 = cg_mulc(s, m, Cg * ksize);
  cg_loop ol = cg_for_n(s, out_plane);
  LLVMValueRef oidx[KILN_MAX_RANK], base[KILN_MAX_RANK], klo[KILN_MAX_RANK], khi[KILN_MAX_RANK];
  cg_unravel(s, ol.i, nsp, win.out, oidx);
  for (int d = 0; d < nsp; d++) {
    base[d] = cg_addc(s, cg_mulc(s, oidx[d], win.stride[d]), -win.pad_begin[d]);
    cg_valid_range(s, base[d], win.dilation[d], win.kernel[d], 0, win.in[d], &klo[d], &khi[d]);
  }
  LLVMValueRef acc = cg_var(s, s->t_i32, b0);
  cg_loop cl = cg_for_n(s, Cg);
  LLVMValueRef xoff = cg_add(s, xbase0, cg_mulc(s, cl.i, in_plane));
  LLVMValueRef woff = cg_add(s, wbase0, cg_mulc(s, cl.i, ksize));
  cg_loop kl[KILN_MAX_RANK];
  for (int d = 0; d < nsp; d++) {
    kl[d] = cg_for(s, klo[d], khi[d]);
    LLVMValueRef xi = cg_add(s, base[d], cg_mulc(s, kl[d].i, win.dilation[d]));
    xoff = cg_add(s, xoff, cg_mulc(s, xi, in_str[d]));
    woff = cg_add(s, woff, cg_mulc(s, kl[d].i, k_str[d]));
  }
  LLVMValueRef xv = LLVMBuildSub(s->b, cg_load_as(s, IR_U8, k->in[0], xoff, IR_I32), cg_i32(s, zx), "");
  LLVMValueRef wv = cg_load_as(s, IR_I8, k->in[1], woff, IR_I32);
  cg_set(s, acc, LLVMBuildAdd(s->b, cg_get(s, s->t_i32, acc), LLVMBuildMul(s->b, xv, wv, ""), ""));
  for (int d = nsp - 1; d >= 0; d--) cg_end(s, &kl[d]);
  cg_end(s, &cl);
  LLVMValueRef r = cg_requant(s, cg_get(s, s->t_i32, acc), mu, sh, zy, lo, hi);
  cg_store(s, IR_U8, k->out[0], cg_add(s, cg_mulc(s, item.i, out_plane), ol.i),
           LLVMBuildTrunc(s->b, r, s->t_i8, ""));
  cg_end(s, &ol);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

kiln_status lower_qmatmul(cg_state *s, int32_t n) {
  ir_value_id a = cg_in(s, n, 0), b = cg_in(s, n, 1), bias = cg_in(s, n, 2), y = cg_out(s, n, 0);
  if (cg_dtype(s, a) != IR_U8 || cg_dtype(s, b) != IR_I8 || cg_dtype(s, y) != IR_U8 ||
      (bias >= 0 && cg_dtype(s, bias) != IR_I32))
    return cg_unsupported(s, n, "expects u8 x s8 (+ i32 bias) -> u8");
  const ir_shape *as = cg_shape(s, a), *bs = cg_shape(s, b);
  if (as->rank < 2 || bs->rank != 2 || as->dims[as->rank - 1] != bs->dims[0])
    return cg_unsupported(s, n, "expects A [..., M, K] and a 2-D B [K, N]");
  int64_t K = bs->dims[0], N = bs->dims[1], rows = cg_numel(s, a) / (K ? K : 1);
  if (bias >= 0 && cg_numel(s, bias) != N) return cg_unsupported(s, n, "bias must have one value per column");
  double sa, sy;
  int32_t za, zy, lo, hi, *mt, *sht;
  LLVMValueRef mult, shift;
  if (!tensor_q(s, a, &sa, &za) || !tensor_q(s, y, &sy, &zy) || !requant_tables(s, sa, b, 1, N, sy, &mt, &sht))
    return cg_unsupported(s, n, "needs per-tensor A and Y and per-tensor or per-column symmetric "
                          "B quantization");
  act_range(s, n, &lo, &hi);
  bool done = false;
  kiln_status pst = ref_only(s, n) ? KILN_OK : cg_qgemm_emit(s, n, mt, sht, za, zy, lo, hi, &done);
  if (pst || (!ref_only(s, n) && done)) return pst;
  table_globals(s, n, mt, sht, N, &mult, &shift);

  cg_kernel *k = cg_kernel_begin(s, n, rows, N * K);
  cg_loop row = cg_for(s, k->begin, k->end);
  LLVMValueRef abase = cg_mulc(s, row.i, K);
  cg_loop j = cg_for_n(s, N);
  LLVMValueRef b0 = bias >= 0 ? cg_load(s, IR_I32, k->in[2], j.i) : cg_i32(s, 0);
  LLVMValueRef acc = cg_var(s, s->t_i32, b0);
  cg_loop kk = cg_for_n(s, K);
  LLVMValueRef av = LLVMBuildSub(s->b, cg_load_as(s, IR_U8, k->in[0], cg_add(s, abase, kk.i), IR_I32),
                                 cg_i32(s, za), "");
  LLVMValueRef bv = cg_load_as(s, IR_I8, k->in[1], cg_add(s, cg_mulc(s, kk.i, N), j.i), IR_I32);
  cg_set(s, acc, LLVMBuildAdd(s->b, cg_get(s, s->t_i32, acc), LLVMBuildMul(s->b, av, bv, ""), ""));
  cg_end(s, &kk);
  LLVMValueRef r = cg_requant(s, cg_get(s, s->t_i32, acc), cg_load(s, IR_I32, mult, j.i),
                              cg_load(s, IR_I32, shift, j.i), zy, lo, hi);
  cg_store(s, IR_U8, k->out[0], cg_add(s, cg_mulc(s, row.i, N), j.i), LLVMBuildTrunc(s->b, r, s->t_i8, ""));
  cg_end(s, &j);
  cg_end(s, &row);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* kiln.QAdd: qmath.h's formula in 32-bit lanes, items of 4096 elements
 * (the loop vectorizes: u8 loads widened, two multiplies, one shift). */
kiln_status lower_qadd(cg_state *s, int32_t n) {
  ir_value_id a = cg_in(s, n, 0), b = cg_in(s, n, 1), y = cg_out(s, n, 0);
  if (cg_dtype(s, a) != IR_U8 || cg_dtype(s, b) != IR_U8 || cg_dtype(s, y) != IR_U8 ||
      cg_numel(s, a) != cg_numel(s, y) || cg_numel(s, b) != cg_numel(s, y))
    return cg_unsupported(s, n, "expects u8 + u8 of one shape -> u8");
  double sa, sb, sy;
  int32_t za, zb, zy, ma, mb, shift, lo, hi;
  if (!tensor_q(s, a, &sa, &za) || !tensor_q(s, b, &sb, &zb) || !tensor_q(s, y, &sy, &zy))
    return cg_unsupported(s, n, "needs per-tensor quantization of A, B and Y");
  if (!kiln_requant_pair(sa / sy, sb / sy, &ma, &mb, &shift))
    return cg_unsupported(s, n, "scale ratios %g and %g are out of range", sa / sy, sb / sy);
  act_range(s, n, &lo, &hi);
  int64_t numel = cg_numel(s, y), block = 4096;
  cg_kernel *k = cg_kernel_begin(s, n, (numel + block - 1) / block, block);
  cg_loop it = cg_for(s, k->begin, k->end);
  LLVMValueRef first = cg_mulc(s, it.i, block);
  cg_loop e = cg_for(s, first, cg_min(s, cg_addc(s, first, block), cg_i64(s, numel)));
  LLVMValueRef av = LLVMBuildSub(s->b, cg_load_as(s, IR_U8, k->in[0], e.i, IR_I32), cg_i32(s, za), "");
  LLVMValueRef bv = LLVMBuildSub(s->b, cg_load_as(s, IR_U8, k->in[1], e.i, IR_I32), cg_i32(s, zb), "");
  LLVMValueRef v = LLVMBuildAdd(s->b, LLVMBuildMul(s->b, av, cg_i32(s, ma), ""),
                                LLVMBuildMul(s->b, bv, cg_i32(s, mb), ""), "");
  v = LLVMBuildAShr(s->b, LLVMBuildAdd(s->b, v, cg_i32(s, 1 << (shift - 1)), ""), cg_i32(s, shift), "");
  v = LLVMBuildAdd(s->b, v, cg_i32(s, zy), "");
  v = cg_min(s, cg_max(s, v, cg_i32(s, lo)), cg_i32(s, hi));
  cg_store(s, IR_U8, k->out[0], e.i, LLVMBuildTrunc(s->b, v, s->t_i8, ""));
  cg_end(s, &e);
  cg_end(s, &it);
  cg_kernel_end(s, k);
  return KILN_OK;
}
