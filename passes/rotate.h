/*
 * rotate.h — what fuse-rotations (fuse_rotations.c) shares with its
 * pattern matchers (rotate_match.c): the recognised pieces of a pre-norm
 * transformer, and the small graph queries both halves use.
 */
#ifndef KILN_ROTATE_H
#define KILN_ROTATE_H

#include "ir.h"

/* Readers of each value: the (node, input slot) pairs, built once. */
typedef struct rot_use {
  ir_node_id node;
  int slot;
} rot_use;

typedef struct rot_uses {
  int32_t *start;            /* uses of v: list[start[v] .. start[v + 1]) */
  rot_use *list;
  bool *is_output;           /* v is a graph output */
} rot_uses;

void rot_uses_build(kiln_ctx *ctx, const ir_graph *g, rot_uses *u);
void rot_uses_free(kiln_ctx *ctx, rot_uses *u);
static inline int32_t rot_num_uses(const rot_uses *u, ir_value_id v) {
  return u->start[v + 1] - u->start[v] + (u->is_output[v] ? 1 : 0);
}

typedef enum {
  ROT_NORM_LAYER_OP,         /* LayerNormalization over the last axis */
  ROT_NORM_LAYER_OPS,        /* ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div, as exported */
  ROT_NORM_RMS_OPS,          /* x * 1/sqrt(mean(x^2) + eps), as exported */
} rot_norm_kind;

/* A normalisation over the last axis, followed by an optional per-channel
 * scale and shift:  out = core(x) * scale + bias. */
typedef struct rot_norm {
  rot_norm_kind kind;
  ir_node_id node;           /* LayerNormalization, or the op producing `normed` */
  ir_value_id x;             /* the normalised input: the residual stream */
  ir_value_id normed;        /* core(x), before the scale (IR_NONE for the op form) */
  ir_value_id centred;       /* LAYER_OPS: x - mean(x), the Sub's output */
  ir_node_id sub_node;       /* LAYER_OPS: that Sub */
  ir_value_id scale, bias;   /* f32 constants of d elements, or IR_NONE */
  ir_node_id scale_node, bias_node; /* the Mul and Add applying them (ops forms) */
  ir_value_id out;           /* what the linears read */
  ir_node_id x_readers[2];   /* the pattern's nodes that read x (IR_NONE if fewer) */
  double eps;
  int64_t d;
} rot_norm;

/* Recognises a norm whose core ends at node n (the LayerNormalization, or
 * the Div/Mul producing the normalised value).  Fills *r and returns true
 * only if every intermediate value is private to the pattern. */
bool rot_match_norm(ir_graph *g, const rot_uses *u, ir_node_id n, rot_norm *r);

/* A linear layer y = x W (+ c): MatMul(x, W) or Gemm(x, W, c) with W a 2-D
 * f32 constant; Gemm only with transA = 0, alpha = beta = 1. */
typedef struct rot_linear {
  ir_node_id node;
  int64_t k, n;              /* W is k x n in math orientation */
  bool trans;                /* Gemm transB: W is stored n x k */
} rot_linear;
bool rot_match_linear(ir_graph *g, ir_node_id n, rot_linear *l);

/* The path from an attention output projection's input back to the value
 * projection (R2): reshapes, head transposes, the probabilities x V
 * MatMul, a split of a fused QKV output, bias adds. */
typedef struct rot_head_path {
  ir_node_id v_linear;       /* the value projection */
  int64_t lo, hi;            /* the V columns of its output */
  int64_t block;             /* gcd of every extent and offset on the path: any
                              * block-diagonal rotation whose block divides it
                              * commutes with everything on the path */
  int num_consts;
  ir_node_id const_node[8];  /* bias adds on the path: constant at node.inputs[slot] */
  int const_slot[8];
  int64_t const_lo[8], const_hi[8]; /* columns of that constant's last axis */
} rot_head_path;
/* Walks back from value y (read by the projection); false with *why set
 * when the path is not one kiln can rotate exactly. */
bool rot_match_head_path(ir_graph *g, const rot_uses *u, ir_value_id y, rot_head_path *p,
                         const char **why);

/* Small queries. */
int64_t rot_last_dim(const ir_graph *g, ir_value_id v);
const float *rot_const_f32(const ir_graph *g, ir_value_id v);
bool rot_is_scalar_const(const ir_graph *g, ir_value_id v);

#endif
