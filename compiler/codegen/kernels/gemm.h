/*
 * gemm.h — the GEMM kernel generator: C = epilogue(A · B) for MatMul,
 * Gemm and convolutions, driven by a cg_schedule.
 *
 * A problem is described by where each operand comes from, not by which
 * ONNX op asked for it:
 *
 *   A(m, k)   PANELS   packed at compile time into [ceil(M/mr)][K][mr]
 *                      (convolution weights), zero rows past M;
 *             STRIDED  read in place: a + m*a_rs + k*a_cs (a MatMul's
 *                      activations, a transposed Gemm operand).
 *   B(k, n)   PANELS   packed at compile time into [ceil(N/nr)][K][nr]
 *                      (MatMul / Gemm weights), zero columns past N;
 *             STRIDED  read in place, unit stride along n: b + k*b_rs + n
 *                      (a 1x1 convolution's input, attention's second
 *                      operand);
 *             IM2COL   gathered at run time from an NCHW image, one kc x nc
 *                      block at a time, into the kernel's scratch (the
 *                      columns of a KxK or strided convolution).
 *   C(m, n)   c + m*ldc + n, written once per element, after the
 *             epilogue (bias per row or per column, a residual tensor
 *             laid out as C, then an activation) is applied in registers.
 *
 * Batches (MatMul's broadcast batch dims, a convolution's images and
 * groups) are the outermost parallel dimension; each operand has its own
 * batch strides, 0 where it is broadcast.
 */
#ifndef KILN_CG_GEMM_H
#define KILN_CG_GEMM_H

#include "cg.h"
#include "kernels/schedule.h"

typedef enum { CG_OPND_PANELS, CG_OPND_STRIDED, CG_OPND_IM2COL } cg_opnd_kind;

/* A convolution's geometry, for IM2COL: B(k, n) with k = (c, kh, kw) over
 * the group's input channels and n = (oh, ow) over the output plane. */
typedef struct cg_im2col {
  int64_t H, W;              /* input plane */
  int64_t OH, OW;            /* output plane */
  int64_t KH, KW, sh, sw, dh, dw, ph, pw;
} cg_im2col;

/* One output row's share of an im2col block over columns [n0, n1), for
 * the kernel offset (ihb, iwb) = (kh*dh - ph, kw*dw - pw). */
typedef struct cg_im2col_span {
  LLVMValueRef ow0, ow1;     /* the row's output columns in [n0, n1) */
  LLVMValueRef va, vb;       /* of those, the ones whose input is inside the image
                              * (empty when the input row is outside) */
  LLVMValueRef at;           /* column ow is element at + ow of the block's row */
  LLVMValueRef xrow;         /* the plane offset of input (ih, iwb): column ow reads xrow + ow*sw */
} cg_im2col_span;
/* Opens the loop over the output rows that [n0, n1) touches and fills
 * *sp for its row; the caller fills the row and closes the loop. */
cg_loop cg_im2col_rows(cg_state *s, const cg_im2col *q, LLVMValueRef n0, LLVMValueRef n1,
                       LLVMValueRef ihb, LLVMValueRef iwb, cg_im2col_span *sp);

/* An activation applied in the epilogue. */
typedef struct cg_activation {
  ir_op op;                  /* IR_OP_COUNT: none; else Relu, Clip, Sigmoid, ... */
  int32_t node;              /* node whose attributes parameterise it (alpha, ...) */
  float lo, hi;              /* Clip's bounds */
} cg_activation;

typedef struct cg_gemm {
  int64_t M, N, K;
  /* batches: batch index b unravels over batch_dims; operand X's offset is
   * sum_d idx[d] * X_bstr[d] elements (0 strides broadcast) */
  int batch_rank;
  int64_t batch_dims[KILN_MAX_RANK];
  int64_t a_bstr[KILN_MAX_RANK], b_bstr[KILN_MAX_RANK], c_bstr[KILN_MAX_RANK];
  /* A */
  cg_opnd_kind a_kind;
  int a_in;                  /* STRIDED: node input holding A */
  int64_t a_rs, a_cs;
  bool a_packed;             /* PANELS: a_data is already in panels of mr (layout PACKED) */
  bool a_skip_zero_rows;     /* PANELS: as b_skip_zero_rows, for A's panels (mr weights
                              * of one k): a 1x1 convolution's sparse weights */
  const float *a_data;       /* PANELS: A as [batches of A][M][K] row-major... */
  int64_t a_data_rs, a_data_cs;  /* ...with these strides within one batch */
  /* B */
  cg_opnd_kind b_kind;
  int b_in;                  /* STRIDED, IM2COL: node input holding B / the image */
  int64_t b_rs;              /* STRIDED: row stride */
  bool b_packed;             /* PANELS: b_data is already in panels of nr (layout PACKED) */
  const float *b_data;       /* PANELS: B with these strides within one batch */
  int64_t b_data_rs, b_data_cs;
  int64_t b_data_batches;    /* PANELS: distinct batches of B held in b_data */
  bool b_skip_zero_rows;     /* PANELS: the k-steps whose panel row (nr weights) is all
                              * zero are left out at compile time: each panel keeps
                              * its nonzero rows and their k as constant lists (sparse
                              * weights, docs/sparsity.md) */
  int b_nm_group;            /* PANELS, A STRIDED with unit column stride: the N:M form
                              * when > 0 (N:M sparse weights, docs/sparsity.md): each
                              * group of this many k keeps, per column, only its
                              * nonzero weights and their k, and the kernel selects
                              * the matching A values with a lane permute */
  cg_im2col conv;            /* IM2COL */
  /* C */
  int c_out;                 /* node output holding C */
  int64_t ldc;
  /* epilogue */
  int bias_in;               /* node input with the bias, -1 none */
  const float *bias_data;    /* or a bias known at compile time (Gemm's beta*C) */
  bool bias_per_row;         /* true: one value per m (conv); false: per n */
  int64_t bias_bstr[KILN_MAX_RANK]; /* per-row bias offset per batch (conv groups) */
  int resid_in;              /* node input laid out as C, added; -1 none */
  cg_activation act;
  const char *name;          /* names the packed constants */
} cg_gemm;

/* The kernel takes convolutions with at least this many output channels
 * per group (fewer: the direct loops of lower_conv.c) and products at
 * least this many columns wide. */
enum { CG_GEMM_MIN_CHANNELS = 8, CG_GEMM_MIN_COLUMNS = 8 };

/* True if node n (Conv, MatMul or their fused forms) is computed by the
 * GEMM kernel; fills the problem size the schedule policy needs and the
 * axis of its weight (input 1) the kernel packs into panels, or -1 when
 * the weight cannot be packed in the IR (not a constant, batched, grouped). */
bool cg_gemm_shape_of(const ir_graph *g, ir_node_id n, cg_gemm_shape *sh, int *weight_axis);
/* Sparse weights: the dense kernel with zero panel rows skipped
 * (b_skip_zero_rows) is chosen for node n when its weight carries a
 * sparsity fact and at most this fraction of its rows of `lanes` weights
 * (the panel rows at nr = lanes) hold a nonzero; the dense kernel's wider
 * register block does more work per load, so the rows skipped must pay
 * for it. */
#define CG_SPARSE_MAX_ROW_DENSITY 0.5
/* The fraction of rows of `lanes` weights of node n's constant 2-D B [K, N]
 * that hold a nonzero, for a MatMul-shaped GEMM node whose weight has a
 * sparsity fact; -1 when the sparse path does not apply. */
double cg_sparse_row_density(const ir_graph *g, ir_node_id n, int lanes);
/* The same for a 1x1 stride-1 convolution (no groups) whose weight W [M, C]
 * is A: the fraction of runs of `mr` output channels at one input channel
 * that hold a nonzero; -1 when the sparse path does not apply. */
double cg_sparse_col_density(const ir_graph *g, ir_node_id n, int mr);
/* The runs of output channels the sparse 1x1 convolution kernel skips
 * (its mr), and whether node n's weight is sparse enough for that kernel
 * to pay: reorder-layout's cost model gives it the kernel, and the direct
 * convolution leaves it alone. */
enum { CG_SPARSE_CONV_MR = 8 };
bool cg_sparse_conv_pays(const ir_graph *g, ir_node_id n);
/* The same question for the sparse form of the direct convolution on
 * blocked activations (kernels/conv_nchwc.c), for any unpadded 1x1
 * convolution without groups (strided too) whose weight has a sparsity
 * fact: its vectors run along output channels, so what it skips are the
 * all-zero runs of `lanes` output channels at one input channel
 * (block:16x1 pruning on AVX-512); it pays when at most this fraction of
 * them holds a nonzero.  Such a convolution
 * stays in a chain of blocked activations instead of taking the GEMM
 * kernel above. */
#define CG_SPARSE_DIRECT_MAX_DENSITY 0.6
bool cg_sparse_direct_pays(const ir_graph *g, ir_node_id n, int lanes);
/* That fraction of runs holding a nonzero; -1 when the form does not apply. */
double cg_sparse_direct_density(const ir_graph *g, ir_node_id n, int lanes);
/* The N:M form (b_nm_group): a MatMul-shaped node whose constant 2-D B
 * [K, N] has an N:M sparsity fact.  Fills the group (M of the fact) and
 * the most nonzeros one column holds in one group (the kernel's slots per
 * group, at most N) and returns slots / group, the fraction of the dense
 * kernel's multiply-adds it issues (plus as many lane permutes); -1 when
 * the form does not apply (no N:M fact, K not a multiple of the group,
 * a group that does not divide `lanes`). */
double cg_sparse_nm_density(const ir_graph *g, ir_node_id n, int lanes, int *group, int *slots);
/* The form pays when slots / group is at most this.  Every kept product
 * costs a permute and an FMA, and on the machine measured (Zen 5) the
 * permutes take the FMA's issue slots: a 128x768x3072 MatMul at 1:4 ran
 * 1.62x the dense kernel, at 2:4 and 4:8 0.95-1.0x (docs/sparsity.md), so
 * 2:4 and 4:8 keep the dense kernel. */
#define CG_SPARSE_NM_MAX_DENSITY 0.25
/* True when target t has the variable lane permutes the N:M form is
 * written with (x86 AVX-512: vpermilps, vpermps); elsewhere the cost
 * model keeps N:M weights on the dense kernel. */
bool cg_sparse_nm_target(const cg_target *t);
/* Packs a row-major f32 tensor into panels of w along `axis` (the PACKED
 * layout of ir.h; out holds ir_packed_numel elements). */
void cg_pack_panels_f32(const float *x, const ir_shape *shape, int axis, int w, float *out);

/* Fills the problem-independent defaults (no bias, no residual, no act). */
void cg_gemm_init(cg_gemm *g);
/* The target facts the schedule policy reads. */
cg_target_caps cg_caps_of(const cg_target *t);
/* Emits node n's kernel for problem g under schedule sc (checked first;
 * see cg_schedule_check).  Packs compile-time panels as it goes. */
kiln_status cg_gemm_emit(cg_state *s, int32_t n, const cg_gemm *g, const cg_schedule *sc);
/* The schedule of node n: its `schedule` attribute if it has a valid one
 * (set by reorder-layout or `kiln tune`), else the default policy's. */
void cg_schedule_for(cg_state *s, int32_t n, const cg_gemm_shape *shape, cg_schedule *out);
/* Fills g's epilogue from fused node n (FusedConv / FusedMatMul): bias
 * input 2 (bias_per_row and bias_bstr are the caller's), residual input 3,
 * the `activation` attribute with its parameters. */
kiln_status cg_fused_epilogue(cg_state *s, int32_t n, cg_gemm *g);
/* Marks the loop whose latch block is `latch` as not to be unrolled or
 * vectorized by LLVM (a micro-kernel's k loop, already sized to the
 * registers). */
void cg_keep_loop(cg_state *s, LLVMBasicBlockRef latch);
/* True when op can be applied to vectors in an epilogue. */
bool cg_epilogue_supports(ir_op op);
/* Applies act to a vector or scalar value v of f32 (epilogue.c). */
LLVMValueRef cg_apply_activation(cg_state *s, const cg_activation *act, LLVMValueRef v);

#endif /* KILN_CG_GEMM_H */
