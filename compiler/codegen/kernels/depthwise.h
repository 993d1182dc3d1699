/*
 * depthwise.h — the depthwise convolution kernel (kernels/depthwise.c):
 * one filter per channel, vectors along the output row, a fused epilogue.
 */
#ifndef KILN_CG_DEPTHWISE_H
#define KILN_CG_DEPTHWISE_H

#include "cg.h"

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
/* Emits node n's kernel when its input and output are blocked. */
kiln_status cg_depthwise_blocked_emit(cg_state *s, int32_t n, const cg_window *win);

#endif /* KILN_CG_DEPTHWISE_H */
