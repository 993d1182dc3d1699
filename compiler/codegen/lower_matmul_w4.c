/*
 * lower_matmul_w4.c — kiln.MatMulW4: a matrix product with 4-bit weights
 * (--quantize w4a16 and w4a8; infer_w4.c describes the operands).
 *
 *   y[r, j] = bias[j] + s_x · Σ_g s[g, j] · Σ_{k in group g} x'[r, k] · w[k, j]
 *
 * with x' = x (f32, s_x = 1) or x' = x_q − z_x (u8, summed exactly in
 * int32 inside a group).  The weights stay packed in memory — K·N/2 bytes,
 * two neighbouring columns per byte as the ONNX int4 layout has them —
 * and are unpacked in registers: a load of NB/2 bytes, the low nibbles
 * sign-extended by a shift left then an arithmetic shift right, the high
 * nibbles by the arithmetic shift alone, one shuffle interleaving them
 * into NB columns, then a conversion to f32 (or i32).  NB, the column
 * block, is chosen at compile time (64 lanes when N allows: a decode-shaped
 * product, one row, streams 32 bytes of each weight row per k step, half
 * a cache line, and LLVM splits the vector into the target's registers).
 *
 * This is memory-bound at one token (GEMV): the point of 4-bit weights is
 * that they are 8x fewer bytes than f32.  Parallel items are (row, column
 * block) pairs; every output element is summed by one item in one fixed
 * order (groups ascending, k ascending within a group), so the results
 * are the same for every thread count.
 */
#include "cg.h"

/* NB lanes of the unpacked weights of row k, columns j0 .. j0+NB-1, as
 * <NB x i8> (signed, -8..7). */
static LLVMValueRef unpack_row(cg_state *s, LLVMValueRef w, LLVMValueRef byte_off, unsigned nb) {
  LLVMTypeRef half = LLVMVectorType(s->t_i8, nb / 2);
  LLVMValueRef p = cg_gep(s, IR_U8, w, byte_off);
  LLVMValueRef v = LLVMBuildLoad2(s->b, half, p, "w4");
  LLVMSetAlignment(v, 1);
  LLVMValueRef four = cg_splat(s, LLVMConstInt(s->t_i8, 4, 0), nb / 2);
  LLVMValueRef lo = LLVMBuildAShr(s->b, LLVMBuildShl(s->b, v, four, ""), four, "lo");
  LLVMValueRef hi = LLVMBuildAShr(s->b, v, four, "hi");
  LLVMValueRef mask[128];
  for (unsigned i = 0; i < nb / 2; i++) {
    mask[2 * i] = LLVMConstInt(s->t_i32, i, 0);
    mask[2 * i + 1] = LLVMConstInt(s->t_i32, nb / 2 + i, 0);
  }
  return LLVMBuildShuffleVector(s->b, lo, hi, LLVMConstVector(mask, nb), "w");
}

/* Scale and zero point of a per-tensor quantized value. */
static bool tensor_q(cg_state *s, ir_value_id v, double *scale, int32_t *zp) {
  const ir_quant *q = s->g->values[v].quant;
  if (!q || q->kind != IR_QUANT_TENSOR || q->count != 1 || !q->scales) return false;
  *scale = q->scales[0];
  *zp = q->zero_points ? q->zero_points[0] : 0;
  return true;
}

kiln_status lower_matmul_w4(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), w = cg_in(s, n, 1), sc = cg_in(s, n, 2);
  ir_value_id bias = s->g->nodes[n].num_inputs > 3 ? cg_in(s, n, 3) : IR_NONE, y = cg_out(s, n, 0);
  bool u8 = cg_dtype(s, x) == IR_U8;
  if ((!u8 && cg_dtype(s, x) != IR_F32) || cg_dtype(s, w) != IR_I4 || cg_dtype(s, sc) != IR_F32 ||
      cg_dtype(s, y) != IR_F32 || (bias >= 0 && cg_dtype(s, bias) != IR_F32))
    return cg_unsupported(s, n, "expects f32 or u8 x i4 weights, f32 scales and bias -> f32");
  const ir_shape *ws = cg_shape(s, w);
  int64_t K = ws->dims[0], N = ws->dims[1], G = ir_attr_int_or(s->g, n, "group_size", 0);
  if (ws->rank != 2 || G < 2 || K % G || N % 2) return cg_unsupported(s, n, "bad weight shape");
  int64_t rows = cg_numel(s, x) / (K ? K : 1);
  double sx = 1;
  int32_t zx = 0;
  if (u8 && !tensor_q(s, x, &sx, &zx)) return cg_unsupported(s, n, "u8 input needs a per-tensor scale");
  unsigned nb = 2;
  for (unsigned c = 64; c > 2; c /= 2)
    if (N % c == 0) {
      nb = c;
      break;
    }
  int64_t blocks = N / nb;
  LLVMTypeRef vf = LLVMVectorType(s->t_f32, nb), vi = LLVMVectorType(s->t_i32, nb);

  cg_kernel *k = cg_kernel_begin(s, n, rows * blocks, K * nb);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef r = cg_divc(s, item.i, blocks), j0 = cg_mulc(s, cg_remc(s, item.i, blocks), nb);
  LLVMValueRef xbase = cg_mulc(s, r, K);
  LLVMValueRef acc = cg_var(s, vf, LLVMConstNull(vf));
  cg_loop gl = cg_for_n(s, K / G);
  LLVMValueRef gacc = cg_var(s, u8 ? vi : vf, LLVMConstNull(u8 ? vi : vf));
  cg_loop kl = cg_for_n(s, G);
  LLVMValueRef kk = cg_add(s, cg_mulc(s, gl.i, G), kl.i);
  /* byte offset of w[kk, j0]: (kk * N + j0) / 2, with N and j0 even */
  LLVMValueRef off = cg_add(s, cg_mulc(s, kk, N / 2), cg_divc(s, j0, 2));
  LLVMValueRef wv = unpack_row(s, k->in[1], off, nb);
  LLVMValueRef xi = cg_add(s, xbase, kk);
  if (u8) {
    LLVMValueRef xv = LLVMBuildSub(s->b, cg_load_as(s, IR_U8, k->in[0], xi, IR_I32), cg_i32(s, zx), "");
    LLVMValueRef prod = LLVMBuildMul(s->b, LLVMBuildSExt(s->b, wv, vi, ""), cg_splat(s, xv, nb), "");
    cg_set(s, gacc, LLVMBuildAdd(s->b, cg_get(s, vi, gacc), prod, ""));
  } else {
    LLVMValueRef xv = cg_splat(s, cg_load(s, IR_F32, k->in[0], xi), nb);
    cg_set(s, gacc, cg_fmuladd(s, LLVMBuildSIToFP(s->b, wv, vf, ""), xv, cg_get(s, vf, gacc)));
  }
  cg_end(s, &kl);
  LLVMValueRef gsum = cg_get(s, u8 ? vi : vf, gacc);
  if (u8) gsum = LLVMBuildSIToFP(s->b, gsum, vf, "");
  LLVMValueRef sp = cg_gep(s, IR_F32, k->in[2], cg_add(s, cg_mulc(s, gl.i, N), j0));
  LLVMValueRef sv = LLVMBuildLoad2(s->b, vf, sp, "s");
  LLVMSetAlignment(sv, 4);
  cg_set(s, acc, cg_fmuladd(s, gsum, sv, cg_get(s, vf, acc)));
  cg_end(s, &gl);
  LLVMValueRef out = cg_get(s, vf, acc);
  if (u8) out = LLVMBuildFMul(s->b, out, cg_splat(s, LLVMConstReal(s->t_f32, sx), nb), "");
  if (bias >= 0) {
    LLVMValueRef bv = LLVMBuildLoad2(s->b, vf, cg_gep(s, IR_F32, k->in[3], j0), "b");
    LLVMSetAlignment(bv, 4);
    out = LLVMBuildFAdd(s->b, out, bv, "");
  }
  LLVMValueRef st = LLVMBuildStore(s->b, out, cg_gep(s, IR_F32, k->out[0], cg_add(s, cg_mulc(s, r, N), j0)));
  LLVMSetAlignment(st, 4);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}
