/*
 * conv_nchwc.h — the direct convolution kernel on blocked activations
 * (kernels/conv_nchwc.c), and the plan that decides which activations of
 * a graph are blocked.
 *
 * A chain of convolutions (ResNet's body) keeps its activations in the
 * BLOCKED layout of ir.h, NCHW16c on AVX-512: channels in blocks of one
 * vector, innermost.  A convolution whose input or output is blocked is
 * computed by the direct kernel: vectors along output channels, a register
 * block of pixels of one output row, the input read in place (no im2col),
 * every edge resolved at compile time.  The kernel also reads a plain
 * input and writes a plain output, so a chain's first and last
 * convolutions do the layout change themselves and the graph needs no
 * reorder nodes.
 */
#ifndef KILN_CG_CONV_NCHWC_H
#define KILN_CG_CONV_NCHWC_H

#include "cg.h"
#include "kernels/schedule.h"

/* What the direct kernel's default policy reads. */
typedef struct cg_nchwc_shape {
  int64_t N, C, M;           /* images, input and output channels */
  int64_t H, W, OH, OW;
  int64_t KH, KW;
  bool out_plain;            /* the output is written plain (a chain's end) */
} cg_nchwc_shape;

/* True if node n (Conv or FusedConv) can be computed by the direct kernel
 * with `lanes` f32 lanes: 2-d, one group, static f32 shapes, constant
 * plain weights, output channels a multiple of lanes, input channels a
 * multiple of lanes or fewer than lanes; with sparse_kernels (no --sparse
 * off), not a sparse weight the sparse GEMM kernel takes.  Reads the
 * IR only. */
bool cg_nchwc_conv_of(const ir_graph *g, ir_node_id n, int lanes, bool sparse_kernels);
/* True if node n is a MaxPool that can run on blocked activations: 2-d,
 * f32, no indices output, channels a multiple of lanes. */
bool cg_nchwc_pool_of(const ir_graph *g, ir_node_id n, int lanes);
/* True if node n is a GlobalAveragePool or GlobalMaxPool that can read a
 * blocked activation (2-d f32, channels a multiple of lanes); it writes
 * plain, so a chain ends at it without scattered stores. */
bool cg_nchwc_global_pool_of(const ir_graph *g, ir_node_id n, int lanes);
/* Marks every activation that is produced by such a convolution (or such
 * a MaxPool or depthwise convolution) and read only by such convolutions
 * (as the image, input 0, or the residual, input 3), MaxPools, depthwise
 * convolutions or global pools, and is not a graph output, as BLOCKED
 * (block = lanes, axis 1); a MaxPool's or depthwise convolution's input
 * and output are both blocked or both plain.  Returns how many values it
 * marked. */
int cg_nchwc_plan(ir_graph *g, int lanes, bool sparse_kernels);
/* True if node n reads or writes a blocked activation: it must be (and
 * can be) computed by the direct kernel. */
bool cg_nchwc_node(const ir_graph *g, ir_node_id n);
/* Input channels per block of the kernel's k loop: lanes, or all C when
 * C is below lanes (a plain RGB input). */
int64_t cg_nchwc_cblk(int64_t C, int lanes);
/* True if node n, a convolution the direct kernel takes, is better on it
 * even with plain input and output: it would need im2col on the GEMM
 * kernel (a KxK, strided or padded window) and its output rows are whole
 * vectors, so the direct kernel's tiles store transposed, a vector at a
 * time (MobileNetV2's stem). */
bool cg_nchwc_plain_pays(const ir_graph *g, ir_node_id n, int lanes, bool sparse_kernels);
/* The problem of such a node. */
void cg_nchwc_shape_of(const ir_graph *g, ir_node_id n, cg_nchwc_shape *sh);
/* The default schedule of the direct kernel (conv = direct): mr pixels of
 * a row by nr output channels in registers, kc input channels x taps per
 * cache block, mc output rows and nc output channels per parallel item. */
void cg_nchwc_schedule_default(const cg_target_caps *caps, const cg_nchwc_shape *sh,
                               cg_schedule *out);
/* The schedule of the direct kernel's sparse form (a 1x1 convolution
 * whose weight cg_sparse_direct_pays for; reorder-layout marks the node
 * `sparse`): nr = lanes (the skipped runs), one K block, mr the most
 * pixels of a row up to 14. */
void cg_nchwc_sparse_schedule(const cg_target_caps *caps, const cg_nchwc_shape *sh, cg_schedule *out);
/* Checks a conv = direct schedule against the target (lanes its vector
 * width, the register block within the generator's limits) and the
 * problem (nr divides M, kc whole channel blocks x taps, unroll divides
 * the channel block, mc >= 1 rows, nc a multiple of nr, par mn or none);
 * NULL if valid, else a static description of the first problem.  This is
 * the whole check of a direct schedule: cg_schedule_check's GEMM rules
 * (mc a multiple of mr) do not apply to it. */
const char *cg_nchwc_schedule_check(const cg_target_caps *caps, const cg_nchwc_shape *sh,
                                    const cg_schedule *sc);
/* One output row of a direct kernel cut into tiles of mr pixels.  The
 * full tiles whose window stays inside the row (input columns ow0*sw -
 * pw .. (ow0 + mr - 1)*sw + span - 1 - pw within [0, W)) are one loop
 * (`each` gets ow0s = -1); the tiles at the row's ends and a short last
 * tile are separate calls with their first column known at compile time
 * (ow0s >= 0), so an edge tile can leave the padding's products out.
 * Shared by the direct convolution and the blocked depthwise kernel. */
typedef void (*cg_row_tile_fn)(void *ctx, LLVMValueRef ow0, int64_t ow0s, int mr);
void cg_row_tiles(cg_state *s, int64_t OW, int mr, int64_t W, int64_t sw, int64_t pw, int64_t span,
                  cg_row_tile_fn each, void *ctx);
/* Emits the kernel of MaxPool node n whose input and output are blocked. */
kiln_status cg_nchwc_pool_emit(cg_state *s, int32_t n);
/* Emits the kernel of global pooling node n whose input is blocked. */
kiln_status cg_nchwc_global_pool_emit(cg_state *s, int32_t n);
/* Emits node n's kernel under schedule sc. */
kiln_status cg_nchwc_emit(cg_state *s, int32_t n, const cg_schedule *sc);

#endif /* KILN_CG_CONV_NCHWC_H */
