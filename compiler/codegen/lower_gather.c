/*
 * lower_gather.c — ops that read the input at positions held in another
 * tensor: Gather (embedding lookups among them), GatherElements, GatherND,
 * and Compress with a constant condition.
 *
 * Each output piece is a contiguous run of the input whose start comes
 * from an index tensor at run time: a whole row of `inner` elements for
 * Gather and GatherND (one memcpy, inlined by LLVM when short), one
 * element for GatherElements.  Items of the parallel loop are output
 * pieces, so the partition never changes a result.
 *
 * Indices may be any integer type and negative (counting from the end,
 * as ONNX says).  ONNX calls an index outside [-d, d-1] an error (a token
 * id past the vocabulary), and ONNX Runtime reports it: so does kiln.
 * Before the kernel, NAME_run checks every index computed at run time
 * (check_indices) and returns KILN_ERR_INDEX_RANGE at the first one out
 * of range; outputs are then unspecified.  The kernel itself stays inside
 * the input whatever the indices (it reads a valid position and writes
 * zeros instead: index_at), so memory is safe even without the check.
 * Constant indices are checked when the model is compiled instead.
 *
 * Compress with a constant condition is a Gather whose indices (the
 * positions of the true entries) are known at compile time; they become a
 * constant global.  With a condition computed at run time the output's
 * extent depends on the data, which kiln's static shapes cannot express;
 * NonZero and Unique are refused for the same reason.
 */
#include <string.h>

#include "cg.h"
#include "infer.h"

/* Loads index base[at] (integer dtype it) as an i64 in [0, extent):
 * negatives count from the end; *ok is false (and the result 0) when the
 * index is out of range. */
static LLVMValueRef index_at(cg_state *s, ir_dtype it, LLVMValueRef base, LLVMValueRef at,
                             int64_t extent, LLVMValueRef *ok) {
  LLVMValueRef v = cg_load(s, it, base, at);
  v = LLVMBuildIntCast2(s->b, v, s->t_i64, ir_dtypes[it].is_signed, "");
  LLVMValueRef neg = LLVMBuildICmp(s->b, LLVMIntSLT, v, cg_i64(s, 0), "");
  v = LLVMBuildSelect(s->b, neg, cg_addc(s, v, extent), v, "");
  *ok = LLVMBuildICmp(s->b, LLVMIntULT, v, cg_i64(s, extent), "");
  return LLVMBuildSelect(s->b, *ok, v, cg_i64(s, 0), "");
}

/* In NAME_run, before node n's kernel: every index of `idx` (count of
 * them, in tuples of kk whose component j must lie in [-extent[j],
 * extent[j])) is checked, and the run returns KILN_ERR_INDEX_RANGE at the
 * first that is not.  A short scalar loop: index tensors are small next
 * to the data they index. */
static kiln_status check_indices(cg_state *s, int32_t n, ir_value_id idx, int64_t count, int kk,
                                 const int64_t *extents) {
  if (count <= 0 || kk <= 0) return KILN_OK;
  if (ir_const_data(s->g, idx)) { /* known now: an error of the model */
    int64_t *v = ir_arena_alloc(&s->arena, (size_t)(count + 1) * sizeof *v);
    if (ir_const_ints(s->g, idx, v, count) != count) return KILN_OK;
    for (int64_t i = 0; i < count; i++) {
      int64_t d = extents[i % kk];
      if (v[i] < -d || v[i] >= d)
        return cg_unsupported(s, n, "constant index %lld (element %lld of '%s') is out of range "
                                    "[%lld, %lld]", (long long)v[i], (long long)i,
                              s->g->values[idx].name, (long long)-d, (long long)d - 1);
    }
    return KILN_OK;
  }
  ir_dtype it = cg_dtype(s, idx);
  LLVMValueRef base = cg_value_ptr(s, idx); /* computed before the loop, so it dominates */
  LLVMBuilderRef kernel_builder = s->b;
  s->b = s->rb; /* the loop goes into NAME_run */
  cg_loop t = cg_for_n(s, count / kk);
  for (int j = 0; j < kk; j++) {
    LLVMValueRef ok;
    index_at(s, it, base, cg_addc(s, cg_mulc(s, t.i, kk), j), extents[j], &ok);
    cg_run_fail_if(s, LLVMBuildNot(s->b, ok, ""), KILN_ERR_INDEX_RANGE);
  }
  cg_end(s, &t);
  s->b = kernel_builder;
  return KILN_OK;
}

static kiln_status require_int_indices(cg_state *s, int32_t n, ir_value_id idx) {
  if (!ir_dtype_is_int(cg_dtype(s, idx)) || ir_dtypes[cg_dtype(s, idx)].bits < 8)
    return cg_unsupported(s, n, "indices of dtype %s", ir_dtype_name(cg_dtype(s, idx)));
  return KILN_OK;
}

/* dst[0..count) = src[0..count) (elements of dt), or zeros when !ok. */
static void copy_run(cg_state *s, ir_dtype dt, LLVMValueRef dst, LLVMValueRef src, int64_t count,
                     LLVMValueRef ok) {
  int64_t bytes = count * (ir_dtypes[dt].bits / 8);
  cg_memcpy(s, dst, src, cg_i64(s, bytes));
  if (!ok) return;
  cg_loop bad = cg_if(s, LLVMBuildNot(s->b, ok, ""));
  LLVMBuildMemSet(s->b, dst, LLVMConstInt(s->t_i8, 0, 0), cg_i64(s, bytes), 1);
  cg_end_if(s, &bad);
}

/* out[o, q, :] = data[o, idx[q], :] for data [outer, D, inner] and nidx
 * indices, read from input 1 (dtype it) or from the i64 global `table`. */
static void emit_gather(cg_state *s, int32_t n, ir_dtype dt, int64_t outer, int64_t D,
                        int64_t inner, int64_t nidx, ir_dtype it, LLVMValueRef table) {
  if (D == 0 && outer * nidx * inner > 0) { /* every index is out of range */
    cg_emit_fill(s, n, 0, dt, -1, 0);
    return;
  }
  cg_kernel *k = cg_kernel_begin(s, n, outer * nidx, inner);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef o = cg_divc(s, item.i, nidx), q = cg_remc(s, item.i, nidx), ok;
  LLVMValueRef iv = index_at(s, table ? IR_I64 : it, table ? table : k->in[1], q, D, &ok);
  LLVMValueRef src = cg_mulc(s, cg_add(s, cg_mulc(s, o, D), iv), inner);
  copy_run(s, dt, cg_gep(s, dt, k->out[0], cg_mulc(s, item.i, inner)),
           cg_gep(s, dt, k->in[0], src), inner, table ? NULL : ok);
  cg_end(s, &item);
  cg_kernel_end(s, k);
}

kiln_status lower_gather(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), idx = cg_in(s, n, 1);
  kiln_status st = cg_require_copyable(s, n, x);
  if (!st) st = require_int_indices(s, n, idx);
  if (st) return st;
  const ir_shape *xs = cg_shape(s, x);
  int axis = cg_axis(ir_attr_int_or(s->g, n, "axis", 0), xs->rank);
  if (axis < 0) return cg_unsupported(s, n, "axis out of range");
  if ((st = check_indices(s, n, idx, cg_numel(s, idx), 1, &xs->dims[axis]))) return st;
  emit_gather(s, n, cg_bits_dtype(cg_dtype(s, x)), cg_prod(xs->dims, 0, axis), xs->dims[axis],
              cg_prod(xs->dims, axis + 1, xs->rank), cg_numel(s, idx), cg_dtype(s, idx), NULL);
  return KILN_OK;
}

/* out[i] = data[i with coordinate `axis` replaced by idx[i]]; rows of the
 * output, the innermost dim in the loop. */
kiln_status lower_gather_elements(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), idx = cg_in(s, n, 1);
  kiln_status st = cg_require_copyable(s, n, x);
  if (!st) st = require_int_indices(s, n, idx);
  if (st) return st;
  const ir_shape *xs = cg_shape(s, x), *is = cg_shape(s, idx);
  int r = xs->rank;
  int axis = cg_axis(ir_attr_int_or(s->g, n, "axis", 0), r);
  if (axis < 0 || is->rank != r) return cg_unsupported(s, n, "axis or index rank out of range");
  for (int d = 0; d < r; d++) /* other coordinates index the data directly */
    if (d != axis && is->dims[d] > xs->dims[d])
      return cg_unsupported(s, n, "indices are larger than the data on axis %d", d);
  ir_dtype dt = cg_bits_dtype(cg_dtype(s, x)), it = cg_dtype(s, idx);
  int64_t xst[KILN_MAX_RANK];
  cg_strides(xs, xst);
  int64_t inner = is->dims[r - 1], rows = cg_prod(is->dims, 0, r - 1);
  if ((st = check_indices(s, n, idx, rows * inner, 1, &xs->dims[axis]))) return st;
  if (xs->dims[axis] == 0 && rows * inner > 0) {
    cg_emit_fill(s, n, 0, dt, -1, 0);
    return KILN_OK;
  }
  cg_kernel *k = cg_kernel_begin(s, n, rows, inner * 2);
  cg_loop row = cg_for(s, k->begin, k->end);
  LLVMValueRef ri[KILN_MAX_RANK];
  cg_unravel(s, row.i, r - 1, is->dims, ri);
  LLVMValueRef base = cg_i64(s, 0);
  for (int d = 0; d < r - 1; d++)
    if (d != axis) base = cg_add(s, base, cg_mulc(s, ri[d], xst[d]));
  cg_loop j = cg_for_n(s, inner);
  LLVMValueRef at = cg_add(s, cg_mulc(s, row.i, inner), j.i), ok;
  LLVMValueRef iv = index_at(s, it, k->in[1], at, xs->dims[axis], &ok);
  LLVMValueRef src = cg_add(s, base, cg_mulc(s, iv, xst[axis]));
  if (axis != r - 1) src = cg_add(s, src, j.i);
  LLVMValueRef v = cg_load(s, dt, k->in[0], src);
  v = LLVMBuildSelect(s->b, ok, v, LLVMConstNull(LLVMTypeOf(v)), "");
  cg_store(s, dt, k->out[0], at, v);
  cg_end(s, &j);
  cg_end(s, &row);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* indices [..., K] pick slices data[batch, i_0, ..., i_{K-1}, :] where the
 * first batch_dims dims of indices and data are shared. */
kiln_status lower_gather_nd(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), idx = cg_in(s, n, 1);
  kiln_status st = cg_require_copyable(s, n, x);
  if (!st) st = require_int_indices(s, n, idx);
  if (st) return st;
  const ir_shape *xs = cg_shape(s, x), *is = cg_shape(s, idx);
  int r = xs->rank, q = is->rank;
  int64_t b = ir_attr_int_or(s->g, n, "batch_dims", 0);
  int64_t kk = q > 0 ? is->dims[q - 1] : -1;
  if (q < 1 || b < 0 || b >= q || kk < 1 || b + kk > r)
    return cg_unsupported(s, n, "indices shape does not fit the data and batch_dims");
  for (int d = 0; d < b; d++)
    if (is->dims[d] != xs->dims[d])
      return cg_unsupported(s, n, "batch dim %d differs between data and indices", d);
  ir_dtype dt = cg_bits_dtype(cg_dtype(s, x)), it = cg_dtype(s, idx);
  int64_t xst[KILN_MAX_RANK];
  cg_strides(xs, xst);
  int64_t tuples = cg_prod(is->dims, 0, q - 1), per_batch = cg_prod(is->dims, (int)b, q - 1);
  int64_t slice = cg_prod(xs->dims, (int)(b + kk), r), batch_stride = cg_prod(xs->dims, (int)b, r);
  if ((st = check_indices(s, n, idx, tuples * kk, (int)kk, &xs->dims[b]))) return st;
  for (int j = 0; j < kk; j++)
    if (xs->dims[b + j] == 0 && tuples * slice > 0) {
      cg_emit_fill(s, n, 0, dt, -1, 0);
      return KILN_OK;
    }
  cg_kernel *k = cg_kernel_begin(s, n, tuples, slice + kk);
  cg_loop t = cg_for(s, k->begin, k->end);
  LLVMValueRef off = cg_mulc(s, cg_divc(s, t.i, per_batch ? per_batch : 1), batch_stride);
  LLVMValueRef all_ok = LLVMConstInt(s->t_i1, 1, 0);
  for (int j = 0; j < kk; j++) {
    LLVMValueRef ok, iv = index_at(s, it, k->in[1], cg_addc(s, cg_mulc(s, t.i, kk), j),
                                   xs->dims[b + j], &ok);
    off = cg_add(s, off, cg_mulc(s, iv, xst[b + j]));
    all_ok = LLVMBuildAnd(s->b, all_ok, ok, "");
  }
  copy_run(s, dt, cg_gep(s, dt, k->out[0], cg_mulc(s, t.i, slice)), cg_gep(s, dt, k->in[0], off),
           slice, all_ok);
  cg_end(s, &t);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* Compress(x, condition) along `axis` (or of the flattened input): a
 * Gather of the positions where the constant condition is true. */
kiln_status lower_compress(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), cond = cg_in(s, n, 1), y = cg_out(s, n, 0);
  kiln_status st = cg_require_copyable(s, n, x);
  if (st) return st;
  const ir_shape *xs = cg_shape(s, x);
  int64_t outer = 1, D = cg_numel(s, x), inner = 1;
  const ir_attr *a = ir_get_attr(s->g, n, "axis");
  if (a) {
    int axis = cg_axis(a->i, xs->rank);
    if (axis < 0) return cg_unsupported(s, n, "axis out of range");
    outer = cg_prod(xs->dims, 0, axis);
    D = xs->dims[axis];
    inner = cg_prod(xs->dims, axis + 1, xs->rank);
  }
  int64_t len = cg_numel(s, cond);
  const void *data = ir_const_data(s->g, cond);
  if (!data || (cg_dtype(s, cond) != IR_BOOL && !ir_dtype_is_int(cg_dtype(s, cond))))
    return cg_unsupported(s, n, "the condition is computed at run time, so the output's extent "
                                "depends on the data (kiln compiles static shapes only; --bind INPUT=FILE freezes an input)");
  int64_t *pos = ir_arena_alloc(&s->arena, (size_t)(len + 1) * sizeof *pos);
  int64_t count = ir_const_ints(s->g, cond, pos, len), kept = 0;
  if (count != len) return cg_unsupported(s, n, "cannot read the condition");
  for (int64_t i = 0; i < len && i < D; i++)
    if (pos[i]) pos[kept++] = i;
  if (outer * kept * inner != cg_numel(s, y))
    return cg_unsupported(s, n, "output shape does not match the condition");
  char name[96];
  snprintf(name, sizeof name, "compress.%s", s->g->nodes[n].name);
  LLVMValueRef table = cg_const_global(s, name, pos, kept * (int64_t)sizeof *pos);
  emit_gather(s, n, cg_bits_dtype(cg_dtype(s, x)), outer, D, inner, kept, IR_I64, table);
  return KILN_OK;
}

/* NonZero, Unique and NonMaxSuppression: how many elements they output
 * depends on the input values, so no static shape fits every run, even
 * when the model declares one (ONNX test models declare the shape of
 * their one example). */
kiln_status lower_data_dependent(cg_state *s, int32_t n) {
  return cg_unsupported(s, n, "the output shape depends on the input values (a data-dependent "
                              "shape); kiln compiles static shapes only; --bind INPUT=FILE freezes an input");
}
