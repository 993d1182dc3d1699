/*
 * depthwise.h — the depthwise convolution kernel (kernels/depthwise.c):
 * one filter per channel, vectors along the output row, a fused epilogue.
 */
#ifndef KILN_CG_DEPTHWISE_H
#define KILN_CG_DEPTHWISE_H

#include "cg.h"
#include "kernels/schedule.h"

/* True if node n (Conv or FusedConv) is a 1-d or 2-d f32 depthwise
 * convolution (group = input channels = output channels) the kernel
 * takes: static shapes, at most 64 taps, strides up to 4.  Reads the IR
 * only, so fuse-ops asks the same question the lowering does. */
bool cg_depthwise_of(const ir_graph *g, ir_node_id n);
/* Emits node n's kernel; win is its window (cg_window_init). */
kiln_status cg_depthwise_emit(cg_state *s, int32_t n, const cg_window *win);

/* True if node n is such a depthwise convolution that can also run on
 * blocked activations with `lanes` lanes: 2-d, channels a multiple of
 * lanes, no dilation (conv_nchwc.c's plan asks). */
bool cg_depthwise_blocked_of(const ir_graph *g, ir_node_id n, int lanes);
/* The problem of such a node, as the blocked kernel's schedule sees it. */
typedef struct cg_dw_shape {
  int64_t N, C, OH, OW;   /* images, channels, output plane */
  int64_t KH, KW, sw;     /* window and column stride */
} cg_dw_shape;
void cg_depthwise_shape_of(const ir_graph *g, ir_node_id n, cg_dw_shape *sh);
/* The blocked kernel's default schedule (conv = depthwise): mr, the
 * pixels of a tile, the most up to 8 whose accumulators, input vectors
 * and weights fit the registers; mc, the output rows per item, enough
 * items (16) to share out.  nr = nc = lanes, kc = KH*KW, unroll 1, par mn
 * (fixed: see schedule.h). */
void cg_depthwise_schedule_default(const cg_target_caps *caps, const cg_dw_shape *sh,
                                   cg_schedule *out);
/* Checks a conv = depthwise schedule against the target and the problem
 * (mr in 1..16 and its window within the kernel's bounds, mc >= 1, the
 * fixed fields at their values); NULL if valid. */
const char *cg_depthwise_schedule_check(const cg_target_caps *caps, const cg_dw_shape *sh,
                                        const cg_schedule *sc);
/* Emits node n's kernel when its input and output are blocked, under
 * schedule sc (reorder-layout's `schedule` attribute; NULL: the default). */
kiln_status cg_depthwise_blocked_emit(cg_state *s, int32_t n, const cg_window *win,
                                      const cg_schedule *sc);

#endif /* KILN_CG_DEPTHWISE_H */
