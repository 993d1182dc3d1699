/*
 * schedule.h — every decision a heavy kernel makes, in one plain struct.
 *
 * The algorithm of a kernel (what a GEMM or a convolution computes) is
 * written once, in kernels/gemm.c; *how* it is computed — the register
 * block, the cache blocks, which loops run in parallel, how the operands
 * are packed — is a cg_schedule value.  This is the split Halide and TVM
 * make between algorithm and schedule: the default policy below fills a
 * schedule from the target description, `kiln tune` will search the same
 * struct, and `--tuning` will replay one.  Nothing outside a schedule
 * chooses a tile size.
 *
 * A schedule never changes what is summed, only in which order the
 * partial sums over K are formed (kc); parallel loops only ever split
 * output tiles, never a reduction, so for a given schedule the results are
 * bit-identical for every thread count.
 *
 * Text form (what `--print-schedule` and the IR attribute `schedule` show,
 * and what cg_schedule_parse reads back):
 *
 *     mr=12 nr=32 kc=256 mc=96 nc=512 lanes=16 unroll=1 par=mn
 *     mr=7 nr=32 kc=1152 mc=7 nc=64 lanes=16 unroll=1 par=mn conv=direct
 *     mr=8 nr=16 kc=9 mc=4 nc=16 lanes=16 unroll=1 par=mn conv=depthwise
 */
#ifndef KILN_CG_SCHEDULE_H
#define KILN_CG_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* Which output loops are split over threads. */
typedef enum {
  CG_PAR_MN = 0,   /* (N block, M block) tiles */
  CG_PAR_N,        /* N blocks only: each item walks all of M (run-time
                    * packed B is packed once per item and reused) */
  CG_PAR_NONE,     /* one item */
} cg_par;

/* How a convolution is computed (MatMul and Gemm are always GEMM). */
typedef enum {
  CG_CONV_GEMM = 0, /* kernels/gemm.c: weights x image columns (im2col) */
  CG_CONV_DIRECT,   /* kernels/conv_nchwc.c: blocked activations, read in
                     * place.  The fields mean: mr pixels of an output row
                     * x nr output channels in registers, kc = input
                     * channels x taps per cache block, mc output rows and
                     * nc output channels per parallel item. */
  CG_CONV_DEPTHWISE, /* kernels/depthwise.c on blocked activations: mr
                      * pixels of an output row per tile, mc output rows
                      * per parallel item; the other fields are fixed by
                      * the problem (nr = nc = lanes: one channel block,
                      * kc = the taps, unroll 1, par mn) so that one
                      * schedule has one spelling. */
} cg_conv_algo;

typedef struct cg_schedule {
  int lanes;       /* fp32 lanes of one vector register */
  int mr, nr;      /* register block: mr rows x nr columns of accumulators
                    * (nr a multiple of lanes); mr * nr / lanes vector
                    * registers hold the accumulators */
  int64_t kc;      /* K per cache block: partial sums are formed over kc at
                    * a time, in order (this, and only this, fixes the
                    * summation order) */
  int64_t mc;      /* rows of A per parallel item (a multiple of mr) */
  int64_t nc;      /* columns of B per parallel item (a multiple of nr) */
  int unroll;      /* copies of the k-step body per loop iteration */
  cg_par par;
  cg_conv_algo conv; /* text: `conv=direct`, `conv=depthwise` (absent: gemm) */
} cg_schedule;

/* What the default policy needs to know about a GEMM-shaped kernel. */
typedef struct cg_gemm_shape {
  int64_t M, N, K;     /* C[M,N] += A[M,K] B[K,N], per batch */
  int64_t batch;
  bool b_runtime_pack; /* B is gathered into a scratch panel at run time (im2col) */
} cg_gemm_shape;

/* The facts of a target the policy reads (from cg_target). */
typedef struct cg_target_caps {
  int vector_bits;     /* 0: no SIMD */
  int vector_regs;     /* architectural vector (or FP) registers */
  bool fma;
  int int8_dot;        /* int32 lanes of the widest vpdpbusd (an exact 4-way u8 x s8 dot
                        * product): 16 with AVX-512 VNNI and BW, 8 with AVX-VNNI (or
                        * AVX-512 VNNI and VL) on 256-bit vectors, 0 without */
} cg_target_caps;

/* Fills *out from the target's capabilities and the problem's shape. */
void cg_schedule_default(const cg_target_caps *caps, const cg_gemm_shape *shape,
                         cg_schedule *out);
/* Checks that a schedule can drive the kernel it is given to (register
 * block within the target's registers, nr a multiple of lanes, blocks
 * positive and multiples of the register block).  Returns NULL if valid,
 * else a static description of the first problem. */
const char *cg_schedule_check(const cg_target_caps *caps, const cg_schedule *s);
/* Text form (see the top of this file) into buf; returns buf. */
char *cg_schedule_format(const cg_schedule *s, char *buf, size_t size);
/* Parses the text form; false on any unknown key or bad value (fields not
 * named keep their value in *out). */
bool cg_schedule_parse(const char *text, cg_schedule *out);

#endif /* KILN_CG_SCHEDULE_H */
