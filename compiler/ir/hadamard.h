/*
 * hadamard.h — the Hadamard matrices kiln uses, defined once.
 *
 * The kiln op `Hadamard` (ops.def) computes, over the last axis of its
 * input, y = x * H_n / sqrt(n) (x a row vector).  H_n is the n x n matrix
 *
 *     H_n[i][j] = H_m[i / p][j / p] * S_p[i % p][j % p],   n = m * p,
 *
 * where p is a power of two, S_p the Sylvester matrix
 * (S_p[a][b] = (-1)^popcount(a & b)) and H_m a small Hadamard matrix from
 * Paley's constructions (m = 1, or 12, 20, 28, ... up to 128; see
 * hadamard.c).  Every supported n therefore factors as a fast
 * Walsh-Hadamard transform of length p on each of m rows and one dense
 * m x m step across them.  The fuse-rotations pass folds these same
 * matrices into weights, and the lowering (codegen/lower_hadamard.c)
 * computes them at run time, so both must agree on this definition; the
 * unit tests check the fast forms against the dense formula above.
 */
#ifndef KILN_HADAMARD_H
#define KILN_HADAMARD_H

#include <stdbool.h>
#include <stdint.h>

/* Largest dense factor m kiln builds (the dense step costs m adds per element). */
enum { IR_HADAMARD_MAX_M = 128 };

typedef struct ir_hadamard {
  int64_t n;              /* transform length */
  int64_t p;              /* power-of-two part handled by the FWHT */
  int m;                  /* dense factor: n = m * p */
  int8_t h[IR_HADAMARD_MAX_M * IR_HADAMARD_MAX_M]; /* H_m, row-major, entries +-1 */
} ir_hadamard;

/* The dense factor kiln uses for length n (1 for powers of two), or 0 when
 * kiln has no Hadamard matrix of that length: n's odd part o must have a
 * Paley order o * 2^j (j >= 2) of at most IR_HADAMARD_MAX_M dividing n
 * (so 12 = 3*4 and 24 work, 3 and 6 do not: no Hadamard matrix exists). */
int ir_hadamard_factor(int64_t n);
static inline bool ir_hadamard_supported(int64_t n) { return n >= 1 && ir_hadamard_factor(n) > 0; }
/* Fills h for length n; false when unsupported. */
bool ir_hadamard_init(ir_hadamard *h, int64_t n);
/* Writes H_m (m x m, +-1, row-major) for a Paley order m (or m = 1). */
bool ir_hadamard_small(int m, int8_t *out);
/* x[0], x[stride], ..., x[(n-1)*stride] := x * H_n / sqrt(n), in double
 * with the fast algorithm; tmp holds m doubles.  Applying it to every
 * column of a matrix W computes H_n^T W / sqrt(n). */
void ir_hadamard_apply(const ir_hadamard *h, double *x, int64_t stride, double *tmp);
/* H_n[i][j] of the definition above, straight from the formula (tests). */
int ir_hadamard_entry(const ir_hadamard *h, int64_t i, int64_t j);

#endif
