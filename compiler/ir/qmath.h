/*
 * qmath.h — kiln's integer quantization arithmetic: the one specification
 * that the quantize pass, the reference lowering (lower_qlinear.c), the
 * packed int8 kernels and the tests all follow, bit for bit.
 *
 * Values.  A quantized activation is uint8 with one scale s and zero point
 * z: x ~ s * (q - z).  A weight is int8 in [-127, 127] with one scale per
 * output channel (or one for the whole tensor) and zero point 0.  A bias
 * is int32 with scale s_x * s_w[c] and zero point 0.
 *
 * kiln.QConv(x, w, b) -> y, geometry as ONNX Conv (pads, strides,
 * dilations, group; w is [M, C/group, K...]):
 *
 *     acc[n,m,o] = b[m] + sum over c, k of (x[n, c, o*stride + k*dilation - pad] - z_x) * w[m, c, k]
 *
 * where window positions outside x contribute nothing (the input is
 * padded with z_x).  kiln.QMatMul(a, b, bias) -> y, a [..., M, K] uint8,
 * b [K, N] int8 with per-column scales:
 *
 *     acc[..., i, j] = bias[j] + sum over k of (a[..., i, k] - z_a) * b[k, j]
 *
 * Both accumulate in int32 with wrap-around (a ring: any summation order,
 * including z_x * column-sum compensation folded into the bias, gives the
 * same bits), then requantize per output channel c:
 *
 *     y = clamp(z_y + rshift_round(acc * mult[c], shift[c]), act_min, act_max)
 *
 * with the dyadic multiplier of HAWQ-V3 (Yao et al., 2021): the real
 * factor s_x * s_w[c] / s_y is written mult * 2^-shift with mult a 31-bit
 * integer in [2^30, 2^31) and shift in [1, 62]; the product is formed in
 * int64 and rshift_round(v, s) = (v + 2^(s-1)) >> s (arithmetic shift:
 * round half up).  act_min/act_max are 0/255, or tighter when a Relu or
 * Clip was fused into the op.
 *
 * kiln.QAdd(a, b) -> y, a and b uint8 of one shape (a residual connection):
 *
 *     y = clamp(z_y + rshift_round((a - z_a) * m_a + (b - z_b) * m_b, shift), act_min, act_max)
 *
 * with m_a * 2^-shift ~ s_a / s_y and m_b * 2^-shift ~ s_b / s_y sharing
 * one shift (kiln_requant_pair): the larger multiplier in [2^20, 2^21),
 * so each product is below 2^29 and the whole sum, rounding term
 * included, fits int32 (vector lanes of 32 bits, no widening).  The
 * multipliers keep 21 bits: the result is off the real-valued one by at
 * most 2^-19 of an output step before rounding.
 *
 * No float arithmetic runs at inference.
 */
#ifndef KILN_QMATH_H
#define KILN_QMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* The dyadic form of a positive real multiplier. */
typedef struct kiln_requant {
  int32_t mult;          /* in [2^30, 2^31), or 0 for a multiplier below 2^-31 */
  int32_t shift;         /* right shift in [1, 62] */
} kiln_requant;

/* m > 0 and m < 2^30 (the quantize pass checks). */
static inline kiln_requant kiln_requant_from_real(double m) {
  kiln_requant r = {0, 1};
  if (!(m > 0)) return r;
  int e;
  double f = frexp(m, &e); /* m = f * 2^e, f in [0.5, 1) */
  int64_t q = llround(f * 2147483648.0);
  if (q == ((int64_t)1 << 31)) {
    q >>= 1;
    e++;
  }
  int shift = 31 - e;
  if (shift > 62) return r; /* below 2^-31: every int32 accumulator rounds to 0 */
  if (shift < 1) shift = 1, q = INT32_MAX; /* unreachable for real models */
  r.mult = (int32_t)q;
  r.shift = shift;
  return r;
}

static inline int32_t kiln_requant_apply(int32_t acc, kiln_requant r, int32_t zp, int32_t lo,
                                         int32_t hi) {
  int64_t v = ((int64_t)acc * r.mult + ((int64_t)1 << (r.shift - 1))) >> r.shift;
  v += zp;
  return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* One shift for two multipliers ra, rb > 0 (QAdd): false when the larger
 * one is out of [2^-10, 2^10), where the shift would leave [1, 30]
 * (the quantize pass then leaves the Add in float). */
static inline bool kiln_requant_pair(double ra, double rb, int32_t *ma, int32_t *mb, int32_t *shift) {
  double top = ra > rb ? ra : rb;
  if (!(ra > 0 && rb > 0 && top >= 0x1p-10 && top < 0x1p10)) return false;
  int e;
  frexp(top, &e); /* top = f * 2^e, f in [0.5, 1): top * 2^(21 - e) in [2^20, 2^21) */
  int sh = 21 - e;
  if (sh < 1 || sh > 30) return false;
  double qa = nearbyint(ldexp(ra, sh)), qb = nearbyint(ldexp(rb, sh));
  if (qa >= 0x1p21) qa = 0x1p21 - 1; /* rounding up to 2^21 would break the bound */
  if (qb >= 0x1p21) qb = 0x1p21 - 1;
  *ma = (int32_t)qa;
  *mb = (int32_t)qb;
  *shift = sh;
  return true;
}

static inline int32_t kiln_qadd_apply(int32_t a, int32_t b, int32_t za, int32_t zb, int32_t ma,
                                      int32_t mb, int32_t shift, int32_t zy, int32_t lo, int32_t hi) {
  int32_t v = ((a - za) * ma + (b - zb) * mb + (1 << (shift - 1))) >> shift;
  v += zy;
  return v < lo ? lo : v > hi ? hi : v;
}

/* uint8 scale and zero point covering [lo, hi] (lo <= 0 <= hi; widened to
 * contain 0 otherwise). */
static inline void kiln_quant_params_u8(double lo, double hi, float *scale, int32_t *zp) {
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  double s = (hi - lo) / 255.0;
  if (!(s > 1e-30)) s = 1; /* an all-zero tensor: any scale represents it */
  *scale = (float)s;
  double z = nearbyint(-lo / (double)*scale);
  *zp = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* int8 weight scale for a channel whose largest magnitude is amax. */
static inline float kiln_weight_scale(double amax) {
  return amax > 0 ? (float)(amax / 127.0) : 1.0f;
}

static inline int8_t kiln_quant_weight(float w, float scale) {
  double q = nearbyint((double)w / scale);
  return (int8_t)(q < -127 ? -127 : q > 127 ? 127 : q);
}

/* An int32 bias of scale s (s_x * s_w[c]). */
static inline int32_t kiln_quant_bias(double b, double s) {
  double q = nearbyint(b / s);
  return (int32_t)(q < -2147483647.0 ? -2147483647.0 : q > 2147483647.0 ? 2147483647.0 : q);
}

#endif
