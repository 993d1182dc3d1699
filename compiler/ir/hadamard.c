/*
 * hadamard.c — Hadamard matrices (see hadamard.h) and the shape inference
 * of the kiln op `Hadamard`.
 *
 * Powers of two need no table: Sylvester's matrix is the fast
 * Walsh-Hadamard transform.  Other lengths are a power of two times a
 * small order m built by Paley's constructions (R. E. A. C. Paley, "On
 * orthogonal matrices", 1933), from the quadratic character chi of a
 * prime field GF(q) (chi(0) = 0, chi(a) = 1 for squares, -1 otherwise):
 *
 *   Paley I, q = 3 (mod 4), m = q + 1:  H = I + [[0, 1^T], [-1, Q]]
 *   Paley II, q = 1 (mod 4), m = 2(q + 1): C = [[0, 1^T], [1, Q]], each 0 of
 *     C replaced by [[1,-1],[-1,-1]] and each +-1 by +-[[1,1],[1,-1]]
 *
 * where Q[i][j] = chi(j - i) is the Jacobsthal matrix.  Orders 12 (q = 11),
 * 20 (19), 28 (II, q = 13), 36 (II, 17), 44 (43), 60 (59), ... are what
 * QuaRot-style rotations of non-power-of-two widths need (an MLP of
 * width 384 = 12 * 32 or 1536 = 12 * 128).  The unit tests check
 * H H^T = m I for every order built.
 */
#include "hadamard.h"

#include <math.h>
#include <string.h>

#include "infer.h"
#include "ir.h"

static bool is_prime(int q) {
  if (q < 2) return false;
  for (int d = 2; d * d <= q; d++)
    if (q % d == 0) return false;
  return true;
}

/* Quadratic character of a mod prime q. */
static int chi(int a, int q) {
  a = ((a % q) + q) % q;
  if (a == 0) return 0;
  for (int x = 1; x < q; x++)
    if (x * x % q == a) return 1;
  return -1;
}

/* Which construction builds order m: 1 Paley I, 2 Paley II, 0 none. */
static int paley_kind(int m) {
  if (m % 4) return 0;
  if (is_prime(m - 1) && (m - 1) % 4 == 3) return 1;
  if (is_prime(m / 2 - 1) && (m / 2 - 1) % 4 == 1) return 2;
  return 0;
}

bool ir_hadamard_small(int m, int8_t *out) {
  if (m == 1) {
    out[0] = 1;
    return true;
  }
  if (m > IR_HADAMARD_MAX_M) return false;
  int kind = paley_kind(m);
  if (kind == 1) {
    int q = m - 1;
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        int s;
        if (i == 0) s = j == 0 ? 0 : 1;
        else if (j == 0) s = -1;
        else s = chi(j - i, q);
        out[i * m + j] = (int8_t)(s + (i == j));
      }
    return true;
  }
  if (kind == 2) {
    int q = m / 2 - 1, c = q + 1;
    for (int i = 0; i < c; i++)
      for (int j = 0; j < c; j++) {
        int e = i == 0 ? (j == 0 ? 0 : 1) : j == 0 ? 1 : chi(j - i, q);
        /* 2x2 block replacing entry e */
        int b[4];
        if (e == 0) {
          b[0] = 1, b[1] = -1, b[2] = -1, b[3] = -1;
        } else {
          b[0] = e, b[1] = e, b[2] = e, b[3] = -e;
        }
        for (int r = 0; r < 2; r++)
          for (int t = 0; t < 2; t++) out[(2 * i + r) * m + 2 * j + t] = (int8_t)b[r * 2 + t];
      }
    return true;
  }
  return false;
}

int ir_hadamard_factor(int64_t n) {
  if (n < 1) return 0;
  int64_t odd = n;
  int twos = 0;
  while (odd % 2 == 0) odd /= 2, twos++;
  if (odd == 1) return 1;
  /* the smallest Paley order odd * 2^j (j >= 2) whose power of two divides n */
  for (int j = 2; j <= twos && (odd << j) <= IR_HADAMARD_MAX_M; j++)
    if (paley_kind((int)(odd << j))) return (int)(odd << j);
  return 0;
}

bool ir_hadamard_init(ir_hadamard *h, int64_t n) {
  int m = ir_hadamard_factor(n);
  if (!m) return false;
  h->n = n;
  h->m = m;
  h->p = n / m;
  return ir_hadamard_small(m, h->h);
}

void ir_hadamard_apply(const ir_hadamard *h, double *x, int64_t stride, double *tmp) {
  int64_t p = h->p;
  int m = h->m;
  /* FWHT of length p on each of the m rows of the [m][p] view */
  for (int64_t half = 1; half < p; half *= 2)
    for (int64_t g = 0; g < h->n; g += 2 * half)
      for (int64_t j = g; j < g + half; j++) {
        double a = x[j * stride], b = x[(j + half) * stride];
        x[j * stride] = a + b;
        x[(j + half) * stride] = a - b;
      }
  double scale = 1.0 / sqrt((double)h->n);
  /* y[a][c] = sum_b x[b][c] H_m[b][a]: the dense step down each column c */
  for (int64_t c = 0; c < p; c++) {
    for (int b = 0; b < m; b++) tmp[b] = x[(b * p + c) * stride];
    for (int a = 0; a < m; a++) {
      double acc = 0;
      for (int b = 0; b < m; b++) acc += h->h[b * m + a] * tmp[b];
      x[(a * p + c) * stride] = acc * scale;
    }
  }
}

int ir_hadamard_entry(const ir_hadamard *h, int64_t i, int64_t j) {
  int64_t p = h->p;
  int sylvester = __builtin_popcountll((uint64_t)((i % p) & (j % p))) & 1 ? -1 : 1;
  return h->h[(i / p) * h->m + j / p] * sylvester;
}

/* Hadamard(x): x's dtype and shape; the last dim, when static, must have a
 * Hadamard matrix (the lowering and the pass rely on it). */
kiln_status infer_hadamard(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0);
  if (!x) {
    ir_error_node(g, n, "needs an input");
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->dtype != IR_UNDEFINED && x->dtype != IR_F32 && x->dtype != IR_F64) {
    ir_error_node(g, n, "input '%s' is %s; Hadamard takes f32 or f64", x->name,
                  ir_dtype_name(x->dtype));
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->shape.rank == 0) {
    ir_error_node(g, n, "input '%s' is a scalar; Hadamard transforms the last axis", x->name);
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->shape.rank > 0) {
    int64_t len = x->shape.dims[x->shape.rank - 1];
    if (ir_dim_is_static(len) && !ir_hadamard_supported(len)) {
      ir_error_node(g, n,
                    "last axis of '%s' has %lld elements: kiln builds Hadamard matrices of "
                    "2^k times 1, 12, 20, 28, 36, 44, 60, ... (Paley orders up to %d)",
                    x->name, (long long)len, IR_HADAMARD_MAX_M);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  ir_set_output(g, n, 0, x->dtype, &x->shape);
  return KILN_OK;
}
