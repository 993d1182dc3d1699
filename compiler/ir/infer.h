/*
 * infer.h — shape-inference hooks named in ops.def, and the helpers they
 * share.  Hooks live in infer_<family>.c; each sets the dtype and shape of
 * a node's outputs from its inputs and attributes, and reports invalid
 * input through ir_error_node.
 *
 * Shapes may be partly unknown (symbolic or IR_DIM_UNKNOWN dims, rank -1);
 * a hook propagates what it can and leaves the rest unknown rather than
 * failing: fold-constants often makes them static later.
 */
#ifndef KILN_INFER_H
#define KILN_INFER_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "dtype.h"
#include "kiln.h"

struct ir_graph;
struct ir_shape;

/* Numpy-style broadcast of a and b into out; reports on node n and returns
 * non-OK if two static dims disagree. */
kiln_status ir_broadcast(struct ir_graph *g, int32_t n, const struct ir_shape *a,
                         const struct ir_shape *b, struct ir_shape *out);
/* Sets output `i` of node n. */
void ir_set_output(struct ir_graph *g, int32_t n, int i, int dtype, const struct ir_shape *s);

/* ---- infer_util.c: helpers shared by the hooks --------------------------- */
struct ir_value;
/* Input i of node n, or NULL when it is omitted (IR_NONE) or past the end. */
const struct ir_value *ir_input(struct ir_graph *g, int32_t n, int i);
/* Normalises an axis in [-rank, rank-1] to [0, rank-1]; reports on node n
 * and returns KILN_ERR_INVALID_MODEL when it is out of range. */
kiln_status ir_norm_axis(struct ir_graph *g, int32_t n, int64_t axis, int rank, int *out);
/* ir_norm_axis over a list, also rejecting repeated axes. */
kiln_status ir_norm_axes(struct ir_graph *g, int32_t n, const int64_t *axes, int count, int rank,
                         int *out);
/* Checks that the first `count` inputs of node n are present (ONNX allows
 * an empty name for any input; only optional ones may be empty). */
kiln_status ir_require_inputs(struct ir_graph *g, int32_t n, int count);
/* Reports (on node n) and returns KILN_ERR_LIMIT when `rank` exceeds
 * KILN_MAX_RANK; shape-building hooks call it before writing dims. */
kiln_status ir_check_rank(struct ir_graph *g, int32_t n, int64_t rank);
/* Reads constant integer input i of node n (an axes, shape or pads list).
 * *count is the number of values, or -1 when the input is omitted or not a
 * constant yet (the caller then infers what it can without the values).
 * Fails, reporting on node n, when a constant holds more than `max` values
 * or is not of an integer type. */
kiln_status ir_input_ints(struct ir_graph *g, int32_t n, int i, int64_t *out, int max,
                          int *count);
/* The same for a float constant input (Resize scales): f32 or f64 data. */
kiln_status ir_input_floats(struct ir_graph *g, int32_t n, int i, double *out, int max,
                            int *count);
/* Length of 1-D input i when its shape says it statically, else -1: the
 * rank a non-constant shape or axes input implies. */
int64_t ir_input_len(struct ir_graph *g, int32_t n, int i);
/* Product of dims, symbol-aware: static product if all are static (unknown
 * on overflow), 0 if any is a static 0, the lone non-static dim if all the
 * others are 1, else IR_DIM_UNKNOWN. */
int64_t ir_dim_product(const int64_t *dims, int count);
/* Two dims the model says are equal: the more informative of them (static
 * over symbolic over unknown).  Sets *conflict if both are static and
 * differ. */
int64_t ir_dim_merge(int64_t a, int64_t b, bool *conflict);
/* A shape of `rank` unknown dims (rank -1: unknown rank). */
void ir_shape_unknown(struct ir_shape *s, int rank);

/* infer_elementwise.c */
kiln_status infer_unary(struct ir_graph *g, int32_t n);        /* same dtype and shape */
kiln_status infer_unary_bool(struct ir_graph *g, int32_t n);   /* same shape, bool (IsNaN) */
kiln_status infer_binary(struct ir_graph *g, int32_t n);       /* broadcast, dtype of input 0 */
kiln_status infer_compare(struct ir_graph *g, int32_t n);      /* broadcast, bool result */
kiln_status infer_variadic(struct ir_graph *g, int32_t n);     /* Max/Min/Sum/Mean */

/* infer_shape_ops.c: ops that read, build or rewrite shapes */
kiln_status infer_shape(struct ir_graph *g, int32_t n);            /* Shape: [k] int64 */
kiln_status infer_size(struct ir_graph *g, int32_t n);             /* Size: int64 scalar */
kiln_status infer_constant(struct ir_graph *g, int32_t n);         /* from its value attribute */
kiln_status infer_constant_of_shape(struct ir_graph *g, int32_t n);
kiln_status infer_range(struct ir_graph *g, int32_t n);
kiln_status infer_reshape(struct ir_graph *g, int32_t n);
kiln_status infer_flatten(struct ir_graph *g, int32_t n);
kiln_status infer_squeeze(struct ir_graph *g, int32_t n);
kiln_status infer_unsqueeze(struct ir_graph *g, int32_t n);
kiln_status infer_expand(struct ir_graph *g, int32_t n);

/* infer_tensor.c: ops that convert, join, split or rearrange tensors */
kiln_status infer_cast(struct ir_graph *g, int32_t n);
kiln_status infer_cast_like(struct ir_graph *g, int32_t n);
kiln_status infer_where(struct ir_graph *g, int32_t n);
kiln_status infer_concat(struct ir_graph *g, int32_t n);
kiln_status infer_split(struct ir_graph *g, int32_t n);
kiln_status infer_transpose(struct ir_graph *g, int32_t n);
kiln_status infer_tile(struct ir_graph *g, int32_t n);
kiln_status infer_depth_to_space(struct ir_graph *g, int32_t n);
kiln_status infer_space_to_depth(struct ir_graph *g, int32_t n);
kiln_status infer_reverse_sequence(struct ir_graph *g, int32_t n);

/* infer_resize.c: ops that change extents by padding, cropping or scaling */
kiln_status infer_pad(struct ir_graph *g, int32_t n);
kiln_status infer_center_crop_pad(struct ir_graph *g, int32_t n);
kiln_status infer_resize(struct ir_graph *g, int32_t n);
kiln_status infer_upsample(struct ir_graph *g, int32_t n);

/* infer_index.c: ops that select or write elements by index */
kiln_status infer_gather(struct ir_graph *g, int32_t n);
kiln_status infer_gather_elements(struct ir_graph *g, int32_t n);
kiln_status infer_gather_nd(struct ir_graph *g, int32_t n);
kiln_status infer_scatter_elements(struct ir_graph *g, int32_t n); /* and Scatter */
kiln_status infer_scatter_nd(struct ir_graph *g, int32_t n);
kiln_status infer_slice(struct ir_graph *g, int32_t n);
kiln_status infer_one_hot(struct ir_graph *g, int32_t n);
kiln_status infer_compress(struct ir_graph *g, int32_t n);
kiln_status infer_non_zero(struct ir_graph *g, int32_t n);
kiln_status infer_unique(struct ir_graph *g, int32_t n);

/* ---- infer_window.c: helpers of the neural-network hooks ---------------- */
/* True if node n has output i (present and not IR_NONE). */
bool ir_has_output(struct ir_graph *g, int32_t n, int i);
/* Two dims that must be equal but are both static and differ. */
bool ir_dims_conflict(int64_t a, int64_t b);
/* The better-known of two dims that must be equal: static, then symbolic. */
int64_t ir_dim_unify(int64_t a, int64_t b);
/* a * b on dims: static operands give a static product (IR_DIM_UNKNOWN on
 * overflow), a symbol times 1 stays the symbol, anything else is
 * IR_DIM_UNKNOWN. */
int64_t ir_dim_mul(int64_t a, int64_t b);
/* True if the model's default-domain opset is at least v (an opset of 0,
 * as in graphs built by hand, counts as the newest). */
bool ir_opset_at_least(const struct ir_graph *g, int v);
/* Reads a dtype-valued INT attribute (RandomNormal's dtype, Window's
 * output_datatype), `dflt` when absent; rejects numbers that are no dtype. */
kiln_status ir_dtype_attr(struct ir_graph *g, int32_t n, const char *name, ir_dtype dflt,
                          ir_dtype *out);

/* Sliding-window attributes of Conv and the pools (ONNX's convPool set). */
typedef enum {
  IR_AUTO_PAD_NOTSET = 0,   /* explicit `pads` */
  IR_AUTO_PAD_SAME_UPPER,   /* out = ceil(in / stride), odd padding at the end */
  IR_AUTO_PAD_SAME_LOWER,   /* same, odd padding at the beginning */
  IR_AUTO_PAD_VALID,        /* no padding */
} ir_auto_pad;

typedef struct ir_window {
  int rank;                             /* spatial dims */
  int64_t kernel[KILN_MAX_RANK];        /* IR_DIM_UNKNOWN if not known yet */
  int64_t strides[KILN_MAX_RANK];
  int64_t dilations[KILN_MAX_RANK];
  int64_t pads[2 * KILN_MAX_RANK];      /* all begins, then all ends */
  ir_auto_pad auto_pad;
  bool ceil_mode;
} ir_window;

/* Reads kernel_shape, strides, dilations, pads, auto_pad and ceil_mode of
 * node n for `rank` spatial dims, checking lengths and signs.  kernel_shape
 * defaults to `kernel` (a weight's spatial dims) when given, else it is
 * required. */
kiln_status ir_window_read(struct ir_graph *g, int32_t n, int rank, const int64_t *kernel,
                           ir_window *w);
/* Output extent of spatial dim i for an input extent `in` (any dim
 * encoding); reports a window that does not fit the padded input. */
kiln_status ir_window_out_dim(struct ir_graph *g, int32_t n, const ir_window *w, int i, int64_t in,
                              int64_t *out);

/* ---- neural-network hooks, one family per file --------------------------- */
/* infer_conv.c */
kiln_status infer_conv(struct ir_graph *g, int32_t n);
kiln_status infer_conv_integer(struct ir_graph *g, int32_t n);
kiln_status infer_qlinear_conv(struct ir_graph *g, int32_t n);
kiln_status infer_qadd(struct ir_graph *g, int32_t n);           /* kiln.QAdd */
kiln_status infer_qconv(struct ir_graph *g, int32_t n);          /* kiln.QConv */
kiln_status infer_deform_conv(struct ir_graph *g, int32_t n);
kiln_status infer_conv_transpose(struct ir_graph *g, int32_t n);
kiln_status infer_col2im(struct ir_graph *g, int32_t n);
/* infer_pool.c */
kiln_status infer_pool(struct ir_graph *g, int32_t n);          /* Average/Max/LpPool */
kiln_status infer_global_pool(struct ir_graph *g, int32_t n);   /* Global*Pool */
kiln_status infer_max_roi_pool(struct ir_graph *g, int32_t n);
kiln_status infer_roi_align(struct ir_graph *g, int32_t n);
kiln_status infer_max_unpool(struct ir_graph *g, int32_t n);
/* infer_fused.c */
kiln_status infer_fused_conv(struct ir_graph *g, int32_t n);
kiln_status infer_fused_matmul(struct ir_graph *g, int32_t n);
/* infer_matmul.c */
kiln_status infer_matmul(struct ir_graph *g, int32_t n);
kiln_status infer_matmul_integer(struct ir_graph *g, int32_t n);
kiln_status infer_qlinear_matmul(struct ir_graph *g, int32_t n);
kiln_status infer_qmatmul(struct ir_graph *g, int32_t n);        /* kiln.QMatMul */
kiln_status infer_gemm(struct ir_graph *g, int32_t n);
kiln_status infer_det(struct ir_graph *g, int32_t n);
/* infer_einsum.c */
kiln_status infer_einsum(struct ir_graph *g, int32_t n);
/* infer_norm.c */
kiln_status infer_batch_norm(struct ir_graph *g, int32_t n);
kiln_status infer_layer_norm(struct ir_graph *g, int32_t n);
kiln_status infer_instance_norm(struct ir_graph *g, int32_t n);
kiln_status infer_group_norm(struct ir_graph *g, int32_t n);
kiln_status infer_lrn(struct ir_graph *g, int32_t n);
kiln_status infer_lp_norm(struct ir_graph *g, int32_t n);
kiln_status infer_mvn(struct ir_graph *g, int32_t n);
kiln_status infer_softmax(struct ir_graph *g, int32_t n);       /* also LogSoftmax, Hardmax */
/* infer_reduce.c */
kiln_status infer_reduce(struct ir_graph *g, int32_t n);        /* every Reduce* */
kiln_status infer_arg_reduce(struct ir_graph *g, int32_t n);    /* ArgMax, ArgMin */
kiln_status infer_top_k(struct ir_graph *g, int32_t n);
kiln_status infer_cumsum(struct ir_graph *g, int32_t n);
/* infer_rnn.c */
kiln_status infer_rnn(struct ir_graph *g, int32_t n);           /* RNN, GRU, LSTM */
/* infer_quant.c */
kiln_status infer_quantize_linear(struct ir_graph *g, int32_t n);
kiln_status infer_dequantize_linear(struct ir_graph *g, int32_t n);
kiln_status infer_dynamic_quantize_linear(struct ir_graph *g, int32_t n);
/* infer_signal.c */
kiln_status infer_window(struct ir_graph *g, int32_t n);        /* Hann/Hamming/BlackmanWindow */
kiln_status infer_dft(struct ir_graph *g, int32_t n);
kiln_status infer_stft(struct ir_graph *g, int32_t n);
kiln_status infer_mel_weight_matrix(struct ir_graph *g, int32_t n);
/* infer_misc_nn.c */
kiln_status infer_dropout(struct ir_graph *g, int32_t n);
kiln_status infer_clip(struct ir_graph *g, int32_t n);
kiln_status infer_non_max_suppression(struct ir_graph *g, int32_t n);
kiln_status infer_random(struct ir_graph *g, int32_t n);        /* RandomNormal, RandomUniform */
kiln_status infer_random_like(struct ir_graph *g, int32_t n);   /* *Like, Bernoulli */
kiln_status infer_multinomial(struct ir_graph *g, int32_t n);
kiln_status infer_nll_loss(struct ir_graph *g, int32_t n);
kiln_status infer_softmax_ce_loss(struct ir_graph *g, int32_t n);
kiln_status infer_grid_sample(struct ir_graph *g, int32_t n);
kiln_status infer_affine_grid(struct ir_graph *g, int32_t n);
kiln_status infer_eye_like(struct ir_graph *g, int32_t n);
kiln_status infer_trilu(struct ir_graph *g, int32_t n);
/* infer_control.c */
kiln_status infer_if(struct ir_graph *g, int32_t n);
kiln_status infer_loop(struct ir_graph *g, int32_t n);
kiln_status infer_scan(struct ir_graph *g, int32_t n);
/* infer_text.c */
kiln_status infer_tfidf_vectorizer(struct ir_graph *g, int32_t n);
/* Decodes TfIdfVectorizer's n-gram pool: for the k-th n-gram its offset in
 * pool_int64s, its length and its output column (arrays may be NULL to
 * count only); *count n-grams, *columns output columns.  Reports and
 * fails on a malformed pool, UNSUPPORTED for string pools. */
kiln_status ir_tfidf_pool(struct ir_graph *g, int32_t n, int64_t *offset, int64_t *size,
                          int64_t *column, int64_t *count, int64_t *columns);
/* hadamard.c: the kiln op Hadamard */
kiln_status infer_hadamard(struct ir_graph *g, int32_t n);
/* infer_w4.c: the kiln op MatMulW4 (4-bit weights) */
kiln_status infer_matmul_w4(struct ir_graph *g, int32_t n);

#endif
