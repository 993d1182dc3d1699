/*
 * infer_quant.c — shapes and types of QuantizeLinear, DequantizeLinear and
 * DynamicQuantizeLinear.
 *
 * The quantize ops keep x's shape; what needs care is the element type:
 *
 *  - QuantizeLinear writes the type of y_zero_point when it is given, else
 *    the output_dtype attribute (opset 21), else uint8;
 *  - DequantizeLinear writes the type of x_scale (float until opset 19
 *    allowed float16 and bfloat16 scales), or output_dtype when set;
 *  - DynamicQuantizeLinear always writes uint8 plus a float scale and a
 *    uint8 zero point, both scalars.
 *
 * The scale (and zero point, which must have the scale's shape) is a
 * scalar for per-tensor quantization, a vector along `axis` (default 1)
 * for per-axis quantization, and, with block_size (opset 21), a tensor of
 * x's rank whose `axis` dim counts blocks.
 */
#include "infer.h"
#include "ir.h"

/* Checks a scale and zero point against x for node n's axis/block_size. */
static kiln_status check_params(ir_graph *g, int32_t n, const ir_value *x, const ir_value *scale,
                                const ir_value *zp, const char *sname) {
  if (zp && scale->shape.rank >= 0 && zp->shape.rank >= 0) {
    bool same = zp->shape.rank == scale->shape.rank;
    for (int i = 0; same && i < zp->shape.rank; i++)
      same = !ir_dims_conflict(zp->shape.dims[i], scale->shape.dims[i]);
    if (!same) {
      ir_error_node(g, n, "the zero point must have the shape of %s", sname);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  int rs = scale->shape.rank, rx = x->shape.rank;
  int64_t block = ir_attr_int_or(g, n, "block_size", 0);
  if (block < 0) {
    ir_error_node(g, n, "block_size must not be negative, got %lld", (long long)block);
    return KILN_ERR_INVALID_MODEL;
  }
  if (rs < 0 || rx < 0) return KILN_OK;
  if (rs == 0 || (!block && rs == 1 && scale->shape.dims[0] == 1)) return KILN_OK; /* per tensor */
  if (!block && rs != 1) {
    ir_error_node(g, n, "%s must be a scalar or 1-D (per axis) without block_size, got rank %d",
                  sname, rs);
    return KILN_ERR_INVALID_MODEL;
  }
  int axis;
  kiln_status st = ir_norm_axis(g, n, ir_attr_int_or(g, n, "axis", 1), rx, &axis);
  if (st) return st;
  if (!block) {
    if (ir_dims_conflict(scale->shape.dims[0], x->shape.dims[axis])) {
      ir_error_node(g, n, "%s has %lld values but axis %d of the input has %lld", sname,
                    (long long)scale->shape.dims[0], axis, (long long)x->shape.dims[axis]);
      return KILN_ERR_INVALID_MODEL;
    }
    return KILN_OK;
  }
  if (rs != rx) {
    ir_error_node(g, n, "with block_size, %s must have the input's rank %d, got %d", sname, rx, rs);
    return KILN_ERR_INVALID_MODEL;
  }
  for (int i = 0; i < rx; i++) {
    int64_t want = x->shape.dims[i];
    if (i == axis) want = ir_dim_is_static(want) ? (want + block - 1) / block : IR_DIM_UNKNOWN;
    if (ir_dims_conflict(scale->shape.dims[i], want)) {
      ir_error_node(g, n, "%s dim %d is %lld but should be %lld (block_size %lld)", sname, i,
                    (long long)scale->shape.dims[i], (long long)want, (long long)block);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  return KILN_OK;
}

/* QuantizeLinear(x, y_scale, y_zero_point?) -> y. */
kiln_status infer_quantize_linear(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0), *scale = ir_input(g, n, 1),
                 *zp = ir_input(g, n, 2);
  ir_dtype attr;
  kiln_status st = ir_dtype_attr(g, n, "output_dtype", IR_UNDEFINED, &attr);
  if (st) return st;
  if (zp && attr != IR_UNDEFINED && zp->dtype != IR_UNDEFINED && zp->dtype != attr) {
    ir_error_node(g, n, "output_dtype %s differs from the zero point's type %s",
                  ir_dtype_name(attr), ir_dtype_name(zp->dtype));
    return KILN_ERR_INVALID_MODEL;
  }
  if ((st = check_params(g, n, x, scale, zp, "y_scale"))) return st;
  ir_dtype dt = zp ? zp->dtype : attr != IR_UNDEFINED ? attr : IR_U8;
  ir_set_output(g, n, 0, dt, &x->shape);
  return KILN_OK;
}

/* DequantizeLinear(x, x_scale, x_zero_point?) -> y. */
kiln_status infer_dequantize_linear(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0), *scale = ir_input(g, n, 1),
                 *zp = ir_input(g, n, 2);
  ir_dtype attr;
  kiln_status st = ir_dtype_attr(g, n, "output_dtype", IR_UNDEFINED, &attr);
  if (st) return st;
  if (zp && zp->dtype != IR_UNDEFINED && x->dtype != IR_UNDEFINED && zp->dtype != x->dtype) {
    ir_error_node(g, n, "x_zero_point has type %s but x has type %s", ir_dtype_name(zp->dtype),
                  ir_dtype_name(x->dtype));
    return KILN_ERR_INVALID_MODEL;
  }
  if ((st = check_params(g, n, x, scale, zp, "x_scale"))) return st;
  ir_dtype dt = attr != IR_UNDEFINED ? attr : scale->dtype != IR_UNDEFINED ? scale->dtype : IR_F32;
  ir_set_output(g, n, 0, dt, &x->shape);
  return KILN_OK;
}

/* DynamicQuantizeLinear(x) -> y (uint8), y_scale (float), y_zero_point (uint8). */
kiln_status infer_dynamic_quantize_linear(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0);
  ir_shape scalar = {.rank = 0};
  ir_set_output(g, n, 0, IR_U8, &x->shape);
  if (ir_has_output(g, n, 1)) ir_set_output(g, n, 1, IR_F32, &scalar);
  if (ir_has_output(g, n, 2)) ir_set_output(g, n, 2, IR_U8, &scalar);
  return KILN_OK;
}

/* kiln.QAdd(a, b): two uint8 tensors of one shape (no broadcasting: the
 * quantize pass only fuses residual connections), a uint8 result. */
kiln_status infer_qadd(ir_graph *g, int32_t n) {
  const ir_value *a = ir_input(g, n, 0), *b = ir_input(g, n, 1);
  if (a->dtype != IR_U8 || b->dtype != IR_U8) {
    ir_error_node(g, n, "inputs must be uint8, got %s and %s", ir_dtype_name(a->dtype),
                  ir_dtype_name(b->dtype));
    return KILN_ERR_INVALID_MODEL;
  }
  if (a->shape.rank >= 0 && b->shape.rank >= 0 && !ir_shape_equal(&a->shape, &b->shape)) {
    ir_error_node(g, n, "inputs must have one shape (QAdd does not broadcast)");
    return KILN_ERR_INVALID_MODEL;
  }
  ir_shape s = a->shape;
  ir_set_output(g, n, 0, IR_U8, &s);
  return KILN_OK;
}
