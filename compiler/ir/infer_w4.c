/*
 * infer_w4.c — shape inference and checks of kiln.MatMulW4, the 4-bit
 * weight matrix product the quantize pass writes for --quantize w4a16
 * and w4a8 (docs/quantization.md, "4-bit weights").
 *
 *   y = MatMulW4(x, w, scales[, bias]) {group_size = G}
 *
 *   x       f32 [.., M, K] (w4a16), or u8 [.., M, K] with a per-tensor
 *           quant record (w4a8: the int8 activation of the profile)
 *   w       i4 [K, N] constant, ONNX packing: flat element e in the low
 *           nibble of byte e/2 when e is even, so each byte holds two
 *           neighbouring columns of one row
 *   scales  f32 [K/G, N]: one scale per group of G rows of one column
 *   bias    f32 [N] (optional)
 *   y       f32 [.., M, N]
 *
 * These checks are the op's verifier: a hand-written .kir with the wrong
 * shapes is refused here, before the lowering sees it.
 */
#include "infer.h"
#include "ir.h"

kiln_status infer_matmul_w4(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0), *w = ir_input(g, n, 1), *sc = ir_input(g, n, 2);
  const ir_value *b = g->nodes[n].num_inputs > 3 ? ir_input(g, n, 3) : NULL;
  if (!x || !w || !sc) {
    ir_error_node(g, n, "needs inputs x, w and scales");
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t G = ir_attr_int_or(g, n, "group_size", 0);
  if (G < 2 || G % 2) {
    ir_error_node(g, n, "group_size %lld: must be an even number >= 2 (32, 64 or 128 from "
                  "--group-size)", (long long)G);
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->dtype != IR_UNDEFINED && x->dtype != IR_F32 && x->dtype != IR_U8) {
    ir_error_node(g, n, "input '%s' is %s; MatMulW4 takes f32 (w4a16) or u8 (w4a8)", x->name,
                  ir_dtype_name(x->dtype));
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->dtype == IR_U8 && (!x->quant || x->quant->kind != IR_QUANT_TENSOR)) {
    ir_error_node(g, n, "u8 input '%s' needs a per-tensor scale and zero point", x->name);
    return KILN_ERR_INVALID_MODEL;
  }
  if (w->dtype != IR_I4 || w->shape.rank != 2 || !ir_shape_is_static(&w->shape)) {
    ir_error_node(g, n, "weights '%s' must be a static i4 [K, N] tensor, not %s of rank %d", w->name,
                  ir_dtype_name(w->dtype), w->shape.rank);
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t K = w->shape.dims[0], N = w->shape.dims[1];
  if (K % G || N % 2) {
    ir_error_node(g, n, "weights [%lld, %lld]: K must be a multiple of group_size %lld and N even",
                  (long long)K, (long long)N, (long long)G);
    return KILN_ERR_INVALID_MODEL;
  }
  if (sc->dtype != IR_F32 || sc->shape.rank != 2 || sc->shape.dims[0] != K / G ||
      sc->shape.dims[1] != N) {
    ir_error_node(g, n, "scales '%s' must be f32 [%lld, %lld] (one per group of %lld rows and "
                  "column)", sc->name, (long long)(K / G), (long long)N, (long long)G);
    return KILN_ERR_INVALID_MODEL;
  }
  if (b && (b->dtype != IR_F32 || ir_shape_numel(&b->shape) != N)) {
    ir_error_node(g, n, "bias '%s' must be f32 with %lld values", b->name, (long long)N);
    return KILN_ERR_INVALID_MODEL;
  }
  if (x->shape.rank == 0 || (x->shape.rank > 0 && ir_dims_conflict(x->shape.dims[x->shape.rank - 1], K))) {
    ir_error_node(g, n, "input '%s' must be [.., M, %lld]", x->name, (long long)K);
    return KILN_ERR_INVALID_MODEL;
  }
  ir_shape s = x->shape;
  if (s.rank > 0) s.dims[s.rank - 1] = N;
  ir_set_output(g, n, 0, IR_F32, &s);
  return KILN_OK;
}
