/*
 * gemm_int8.h — the packed int8 GEMM generator behind kiln.QConv and
 * kiln.QMatMul (u8 activations x s8 weights, int32 accumulators,
 * requantized to u8 in registers as compiler/ir/qmath.h specifies).
 *
 * Both ops become Y(r, c) = requant(bias'(.) + sum_k S(r, k) * V(k, c)):
 * the micro-kernel broadcasts 4 consecutive k of S (one 32-bit word) and
 * multiplies them with a vector of V, whose bytes are grouped by four
 * along k ([panel of nr columns][k/4][nr][4]), which is what VNNI's
 * vpdpbusd reads.  For QConv, S is the weights (rows = output channels,
 * packed at compile time into [k/4][mr][4] panels) and V the im2col of
 * the u8 image (packed at run time per item); for QMatMul, S is the rows
 * of A (packed at run time) and V the weights (compile time).
 *
 * The input zero point z is folded into a per-channel bias at compile
 * time: sum (x - z) w = sum x w - z * sum w (int32 ring arithmetic, so
 * exact).  Bits are the reference loops' (lower_qlinear.c) for every
 * schedule and thread count: no reduction is split.
 */
#ifndef KILN_CG_GEMM_INT8_H
#define KILN_CG_GEMM_INT8_H

#include "cg.h"
#include "kernels/schedule.h"

/* Emits node n (kiln.QConv or kiln.QMatMul) with the packed kernel.
 * Returns KILN_OK and sets *done when it did; *done false (and nothing
 * emitted) when the node does not fit the kernel (weights not constant,
 * depthwise or tiny convolutions), so the caller falls back to the
 * reference loops.  mult/shift are the requantization tables (int32 per
 * channel, constant globals), zx/zy the zero points, lo/hi the clamp. */
kiln_status cg_qgemm_emit(cg_state *s, int32_t n, const int32_t *mult, const int32_t *shift,
                          int32_t zx, int32_t zy, int32_t lo, int32_t hi, bool *done);
/* The problem an int8 kernel solves: rows x cols outputs per batch, K
 * products each (QConv: output channels per group x output positions,
 * batches = images x groups; QMatMul: rows of A x N, one batch). */
typedef struct cg_qgemm_shape {
  int64_t rows, cols, K, batch;
} cg_qgemm_shape;
/* True if node n (kiln.QConv or kiln.QMatMul) runs on the packed kernel:
 * constant plain weights and bias, a 1-d or 2-d window, at least 4 output
 * channels per group.  Fills its shape. */
bool cg_qgemm_shape_of(const ir_graph *g, ir_node_id n, cg_qgemm_shape *sh);
/* True when the int8 kernel runs vpdpbusd on vectors of `lanes` int32
 * lanes on target t: 16 with AVX-512 VNNI and BW at 512 bits; 8 with
 * AVX-VNNI, or AVX-512 VNNI and VL (its 256-bit form).  4 lanes always
 * take the generic dot product, which the tests reach that way on any
 * host. */
bool cg_target_vnni(const cg_target *t, int lanes);
/* The widest of those (16, 8) within the target's vectors, 0 if none. */
int cg_target_int8_dot(const cg_target *t);
/* The default schedule (lanes are int32 lanes; nr a multiple of them;
 * kc is the whole K, rounded up to groups of 4). */
void cg_qgemm_schedule_default(const cg_target_caps *caps, const cg_qgemm_shape *sh, cg_schedule *out);
/* Why schedule sc cannot drive the int8 kernel on sh (NULL: it can): 4, 8
 * or 16 lanes within the registers (see cg_target_vnni), mr 1..16, nr 1..4 vectors, mc and nc multiples of
 * mr and nr, kc the whole K, par mn, unroll 1, no conv=. */
const char *cg_qgemm_schedule_check(const cg_target_caps *caps, const cg_qgemm_shape *sh,
                                    const cg_schedule *sc);
/* The schedule the int8 kernel uses for node n: its `schedule`
 * attribute if valid (reorder-layout writes the default, a given or a
 * tuned one there), else the default. */
void cg_qgemm_schedule(cg_state *s, int32_t n, const cg_qgemm_shape *sh, cg_schedule *out);

#endif /* KILN_CG_GEMM_INT8_H */
