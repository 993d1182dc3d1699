/*
 * lower_pool.c — MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
 * and the window geometry Conv shares (cg_window_init).
 *
 * Geometry.  For spatial dim d, output position o reads input positions
 * o*stride - pad_begin + k*dilation for k in [0, kernel).  auto_pad
 * SAME_UPPER/SAME_LOWER split the total padding
 *     max(0, (out - 1)*stride + (kernel - 1)*dilation + 1 - in)
 * with the odd element at the end (UPPER) or the beginning (LOWER); VALID
 * pads nothing.  The output extents come from the (already inferred)
 * output shape, which also covers ceil_mode.
 *
 * Pools.  Parallel items are (n, c) planes.  For each output position the
 * window is clamped to the input with cg_valid_range, so padding is never
 * read.  AveragePool divides by the number of elements inside the input
 * (count_include_pad = 0) or inside the padded input (= 1).  MaxPool's
 * optional Indices output is the flat index into X: row-major for
 * storage_order 0, and with the spatial dims taken in reverse
 * (column-major within the plane) for storage_order 1.  f16 and bf16 are
 * computed in f32; MaxPool also takes the integer types (opset 12: int8,
 * uint8), starting from the type's lowest value.
 */
#include <math.h>
#include <string.h>

#include "cg.h"
#include "kernels/conv_nchwc.h"

static const ir_dtype float_types[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_UNDEFINED};

/* The lowest value of computation type ct: -inf, or the integer minimum. */
static LLVMValueRef lowest(cg_state *s, ir_dtype ct) {
  if (ir_dtypes[ct].is_float) return cg_const(s, ct, -INFINITY);
  LLVMTypeRef t = cg_val_type(s, ct);
  if (!ir_dtypes[ct].is_signed) return LLVMConstInt(t, 0, 0);
  return LLVMConstInt(t, 1ull << (LLVMGetIntTypeWidth(t) - 1), 0);
}

/* v > a in computation type ct (false when v is NaN, as max pooling wants). */
static LLVMValueRef greater(cg_state *s, ir_dtype ct, LLVMValueRef v, LLVMValueRef a) {
  if (ir_dtypes[ct].is_float) return LLVMBuildFCmp(s->b, LLVMRealOGT, v, a, "");
  return LLVMBuildICmp(s->b, ir_dtypes[ct].is_signed ? LLVMIntSGT : LLVMIntUGT, v, a, "");
}

kiln_status cg_window_init(cg_state *s, int32_t n, const ir_shape *x, const ir_shape *y,
                           const int64_t *kernel, cg_window *w) {
  memset(w, 0, sizeof *w);
  w->nsp = x->rank - 2;
  int nsp = w->nsp;
  const int64_t *ks = kernel, *st, *dil, *pads;
  int nk = ir_attr_ints(s->g, n, "kernel_shape", &ks);
  if (!nk && kernel) ks = kernel, nk = nsp;
  int nst = ir_attr_ints(s->g, n, "strides", &st);
  int ndil = ir_attr_ints(s->g, n, "dilations", &dil);
  int npad = ir_attr_ints(s->g, n, "pads", &pads);
  if (nk != nsp || (nst && nst != nsp) || (ndil && ndil != nsp) || (npad && npad != 2 * nsp))
    return cg_unsupported(s, n, "kernel_shape, strides, dilations or pads do not match the "
                                "%d spatial dims", nsp);
  const char *auto_pad = ir_attr_string_or(s->g, n, "auto_pad", "NOTSET");
  for (int d = 0; d < nsp; d++) {
    w->in[d] = x->dims[d + 2];
    w->out[d] = y->dims[d + 2];
    w->kernel[d] = ks[d];
    w->stride[d] = nst ? st[d] : 1;
    w->dilation[d] = ndil ? dil[d] : 1;
    if (w->kernel[d] < 1 || w->stride[d] < 1 || w->dilation[d] < 1)
      return cg_unsupported(s, n, "kernel, stride and dilation must be positive");
    if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
      int64_t total = (w->out[d] - 1) * w->stride[d] + (w->kernel[d] - 1) * w->dilation[d] + 1 -
                      w->in[d];
      if (total < 0) total = 0;
      w->pad_begin[d] = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
      w->pad_end[d] = total - w->pad_begin[d];
    } else if (!strcmp(auto_pad, "NOTSET")) {
      w->pad_begin[d] = npad ? pads[d] : 0;
      w->pad_end[d] = npad ? pads[d + nsp] : 0;
    } else if (strcmp(auto_pad, "VALID")) {
      return cg_unsupported(s, n, "unknown auto_pad '%s'", auto_pad);
    }
  }
  return KILN_OK;
}

/* MaxPool of a 2-D integer image without Indices and without dilation
 * (the uint8 activations of an int8 network), separably and in vectors:
 * per output row, the max over the window's rows, column by column, into
 * a row of `tmp` bordered with the lowest value, then the max over the
 * window's columns of that row (stride 2: the even lanes of two vectors).
 * Integer max is exact and commutative, so the result equals the window
 * loop's.  The plain loop was 3.4% of ResNet-50 int8 (perf). */
static bool int_max_pool_2d(cg_state *s, int32_t n, const cg_window *win, ir_dtype dt) {
  int64_t W = win->in[1], H = win->in[0], OW = win->out[1], OH = win->out[0];
  int64_t KW = win->kernel[1], sw = win->stride[1], pw = win->pad_begin[1];
  /* L lanes: the register's, halved while a row is shorter (the last
   * vector of a row overlaps the one before it) */
  int eb = (int)ir_dtype_bytes(dt, 1), L = s->target->vector_bits / 8 / eb;
  while (L > 4 && (OW < L || W < L)) L /= 2;
  if (L < 4 || OW < L || W < L || win->dilation[0] != 1 || win->dilation[1] != 1 || sw > 2) return false;
  /* tmp[pw + w] = column max of input column w; borders hold the lowest */
  int64_t span = (OW - 1) * sw + KW, tmpn = (span > pw + W ? span : pw + W) + 2 * L;
  LLVMTypeRef et = cg_val_type(s, dt), vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef low = lowest(s, dt), vlow = cg_splat(s, low, (unsigned)L);
  bool sgn = ir_dtypes[dt].is_signed;
  int64_t planes = cg_shape(s, cg_in(s, n, 0))->dims[0] * cg_shape(s, cg_in(s, n, 0))->dims[1];
  cg_kernel_scratch(s, planes * tmpn * eb);
  cg_kernel *k = cg_kernel_begin(s, n, planes, OH * OW * win->kernel[0] * KW);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef tmp = cg_gep(s, dt, k->scratch, cg_mulc(s, item.i, tmpn));
  LLVMValueRef xbase = cg_mulc(s, item.i, H * W), ybase = cg_mulc(s, item.i, OH * OW);
  cg_loop f = cg_for_n(s, tmpn); /* the borders (the middle is rewritten per row) */
  cg_store(s, dt, tmp, f.i, low);
  cg_end(s, &f);
  cg_loop oh = cg_for_n(s, OH);
  LLVMValueRef base = cg_addc(s, cg_mulc(s, oh.i, win->stride[0]), -win->pad_begin[0]), khlo, khhi;
  cg_valid_range(s, base, 1, win->kernel[0], 0, H, &khlo, &khhi);
  LLVMValueRef r0 = cg_add(s, xbase, cg_mulc(s, cg_add(s, base, khlo), W));
  LLVMValueRef rows = cg_sub(s, khhi, khlo);
  /* column maxima: whole vectors, then the last L columns again (W >= L) */
  int64_t nvec = W / L;
  for (int part = 0; part < 2; part++) {
    if (part == 1 && W % L == 0) break;
    cg_loop c = part ? cg_for(s, cg_i64(s, 0), cg_i64(s, 1)) : cg_for_n(s, nvec);
    LLVMValueRef w0 = part ? cg_i64(s, W - L) : cg_mulc(s, c.i, L);
    LLVMValueRef acc = cg_var(s, vt, vlow);
    cg_loop r = cg_for(s, cg_i64(s, 0), rows);
    LLVMValueRef at = cg_add(s, cg_add(s, r0, cg_mulc(s, r.i, W)), w0);
    LLVMValueRef v = LLVMBuildLoad2(s->b, vt, cg_gep(s, dt, k->in[0], at), "");
    LLVMSetAlignment(v, (unsigned)eb);
    LLVMValueRef a = cg_get(s, vt, acc);
    cg_set(s, acc, LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, sgn ? LLVMIntSGT : LLVMIntUGT, v, a, ""), v, a, ""));
    cg_end(s, &r);
    LLVMValueRef st = LLVMBuildStore(s->b, cg_get(s, vt, acc), cg_gep(s, dt, tmp, cg_addc(s, w0, pw)));
    LLVMSetAlignment(st, (unsigned)eb);
    cg_end(s, &c);
  }
  /* row maxima over KW columns of tmp, L outputs at a time, the last L again */
  LLVMValueRef even[64];
  for (int l = 0; l < L; l++) even[l] = cg_i32(s, 2 * l);
  LLVMTypeRef wt = LLVMVectorType(et, (unsigned)(2 * L));
  for (int part = 0; part < 2; part++) {
    if (part == 1 && OW % L == 0) break;
    cg_loop c = part ? cg_for(s, cg_i64(s, 0), cg_i64(s, 1)) : cg_for_n(s, OW / L);
    LLVMValueRef o0 = part ? cg_i64(s, OW - L) : cg_mulc(s, c.i, L);
    LLVMValueRef acc = vlow;
    for (int64_t kw = 0; kw < KW; kw++) {
      LLVMValueRef at = cg_addc(s, cg_mulc(s, o0, sw), kw), v;
      v = LLVMBuildLoad2(s->b, sw == 1 ? vt : wt, cg_gep(s, dt, tmp, at), "");
      LLVMSetAlignment(v, (unsigned)eb);
      if (sw == 2) /* the even lanes of 2L */
        v = LLVMBuildShuffleVector(s->b, v, LLVMGetPoison(wt), LLVMConstVector(even, (unsigned)L), "");
      acc = LLVMBuildSelect(s->b, LLVMBuildICmp(s->b, sgn ? LLVMIntSGT : LLVMIntUGT, v, acc, ""), v, acc, "");
    }
    LLVMValueRef st = LLVMBuildStore(s->b, acc, cg_gep(s, dt, k->out[0], cg_add(s, ybase, cg_add(s, cg_mulc(s, oh.i, OW), o0))));
    LLVMSetAlignment(st, (unsigned)eb);
    cg_end(s, &c);
  }
  cg_end(s, &oh);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return true;
}

kiln_status lower_pool(cg_state *s, int32_t n) {
  static const ir_dtype ok[] = {IR_F32, IR_F64, IR_F16, IR_BF16, IR_I8, IR_U8, IR_I16, IR_U16,
                                IR_I32, IR_U32, IR_I64, IR_U64, IR_UNDEFINED}; /* I64: indices */
  kiln_status st = cg_require_dtypes(s, n, ok);
  if (st) return st;
  bool is_max = s->g->nodes[n].op == IR_OP_MAX_POOL;
  ir_value_id x = cg_in(s, n, 0), y = cg_out(s, n, 0), ind = cg_out(s, n, 1);
  /* a chain of convolutions' blocked activations (reorder-layout) */
  if (s->g->values[x].layout.kind == IR_LAYOUT_BLOCKED) return cg_nchwc_pool_emit(s, n);
  const ir_shape *xs = cg_shape(s, x);
  ir_dtype dt = cg_dtype(s, x), ct = cg_compute_dtype(dt);
  if (!is_max && !ir_dtypes[dt].is_float)
    return cg_unsupported(s, n, "average pooling of %s", ir_dtype_name(dt));
  if (xs->rank < 3) return cg_unsupported(s, n, "pooling needs N, C and spatial dims");
  bool col_major = ind >= 0 && ir_attr_int_or(s->g, n, "storage_order", 0);
  cg_window win;
  st = cg_window_init(s, n, xs, cg_shape(s, y), NULL, &win);
  if (st) return st;
  int nsp = win.nsp;
  if (is_max && ind < 0 && nsp == 2 && !ir_dtypes[dt].is_float && ir_dtype_bytes(dt, 1) <= 4 &&
      int_max_pool_2d(s, n, &win, dt))
    return KILN_OK;
  bool include_pad = ir_attr_int_or(s->g, n, "count_include_pad", 0);
  int64_t in_plane = cg_prod(win.in, 0, nsp), out_plane = cg_prod(win.out, 0, nsp);
  int64_t in_str[KILN_MAX_RANK];
  for (int d = nsp - 1; d >= 0; d--) in_str[d] = d == nsp - 1 ? 1 : in_str[d + 1] * win.in[d + 1];
  int64_t col_str[KILN_MAX_RANK]; /* storage_order 1: the first spatial dim varies fastest */
  for (int d = 0; d < nsp; d++) col_str[d] = d == 0 ? 1 : col_str[d - 1] * win.in[d - 1];
  LLVMTypeRef vt = cg_val_type(s, ct);

  int64_t planes = xs->dims[0] * xs->dims[1];
  cg_kernel *k = cg_kernel_begin(s, n, planes, out_plane * cg_prod(win.kernel, 0, nsp));
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef xbase = cg_mulc(s, item.i, in_plane), yoff = cg_mulc(s, item.i, out_plane);
  cg_loop ol[KILN_MAX_RANK];
  LLVMValueRef base[KILN_MAX_RANK], klo[KILN_MAX_RANK], khi[KILN_MAX_RANK];
  LLVMValueRef count = cg_i64(s, 1);
  for (int d = 0; d < nsp; d++) {
    ol[d] = cg_for_n(s, win.out[d]);
    yoff = cg_add(s, yoff, cg_mulc(s, ol[d].i, cg_prod(win.out, d + 1, nsp)));
    base[d] = cg_addc(s, cg_mulc(s, ol[d].i, win.stride[d]), -win.pad_begin[d]);
    cg_valid_range(s, base[d], win.dilation[d], win.kernel[d], 0, win.in[d], &klo[d], &khi[d]);
    LLVMValueRef lo = klo[d], hi = khi[d];
    if (include_pad)
      cg_valid_range(s, base[d], win.dilation[d], win.kernel[d], -win.pad_begin[d],
                     win.in[d] + win.pad_end[d], &lo, &hi);
    count = cg_mul(s, count, cg_sub(s, hi, lo));
  }
  LLVMValueRef acc = cg_var(s, vt, is_max ? lowest(s, ct) : cg_const(s, ct, 0));
  LLVMValueRef arg = ind >= 0 ? cg_var(s, s->t_i64, cg_i64(s, 0)) : NULL;
  cg_loop kl[KILN_MAX_RANK];
  LLVMValueRef xoff = xbase, coff = xbase;
  for (int d = 0; d < nsp; d++) {
    kl[d] = cg_for(s, klo[d], khi[d]);
    LLVMValueRef xi = cg_add(s, base[d], cg_mulc(s, kl[d].i, win.dilation[d]));
    xoff = cg_add(s, xoff, cg_mulc(s, xi, in_str[d]));
    if (col_major) coff = cg_add(s, coff, cg_mulc(s, xi, col_str[d]));
  }
  LLVMValueRef v = cg_load_as(s, dt, k->in[0], xoff, ct), a = cg_get(s, vt, acc);
  if (is_max) {
    LLVMValueRef gt = greater(s, ct, v, a);
    cg_set(s, acc, LLVMBuildSelect(s->b, gt, v, a, ""));
    if (arg)
      cg_set(s, arg, LLVMBuildSelect(s->b, gt, col_major ? coff : xoff, cg_get(s, s->t_i64, arg), ""));
  } else {
    cg_set(s, acc, LLVMBuildFAdd(s->b, a, v, ""));
  }
  for (int d = nsp - 1; d >= 0; d--) cg_end(s, &kl[d]);
  LLVMValueRef r = cg_get(s, vt, acc);
  if (!is_max) r = LLVMBuildFDiv(s->b, r, LLVMBuildSIToFP(s->b, count, vt, ""), "");
  cg_store(s, dt, k->out[0], yoff, cg_cast(s, r, ct, dt));
  if (arg) cg_store(s, IR_I64, k->out[1], yoff, cg_get(s, s->t_i64, arg));
  for (int d = nsp - 1; d >= 0; d--) cg_end(s, &ol[d]);
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

kiln_status lower_global_pool(cg_state *s, int32_t n) {
  kiln_status st = cg_require_dtypes(s, n, float_types);
  if (st) return st;
  bool is_max = s->g->nodes[n].op == IR_OP_GLOBAL_MAX_POOL;
  ir_value_id x = cg_in(s, n, 0);
  if (s->g->values[x].layout.kind == IR_LAYOUT_BLOCKED) return cg_nchwc_global_pool_emit(s, n);
  const ir_shape *xs = cg_shape(s, x);
  ir_dtype dt = cg_dtype(s, x), ct = cg_compute_dtype(dt);
  if (xs->rank < 2) return cg_unsupported(s, n, "global pooling needs N and C");
  int64_t planes = xs->dims[0] * xs->dims[1], plane = cg_prod(xs->dims, 2, xs->rank);
  LLVMTypeRef vt = cg_val_type(s, ct);

  cg_kernel *k = cg_kernel_begin(s, n, planes, plane);
  cg_loop item = cg_for(s, k->begin, k->end);
  LLVMValueRef base = cg_mulc(s, item.i, plane);
  LLVMValueRef acc = cg_var(s, vt, cg_const(s, ct, is_max ? -INFINITY : 0));
  cg_loop i = cg_for_n(s, plane);
  LLVMValueRef v = cg_load_as(s, dt, k->in[0], cg_add(s, base, i.i), ct), a = cg_get(s, vt, acc);
  if (is_max)
    cg_set(s, acc, LLVMBuildSelect(s->b, LLVMBuildFCmp(s->b, LLVMRealOGT, v, a, ""), v, a, ""));
  else
    cg_set(s, acc, LLVMBuildFAdd(s->b, a, v, ""));
  cg_end(s, &i);
  LLVMValueRef r = cg_get(s, vt, acc);
  if (!is_max) r = LLVMBuildFDiv(s->b, r, cg_const(s, ct, (double)plane), "");
  cg_store(s, dt, k->out[0], item.i, cg_cast(s, r, ct, dt));
  cg_end(s, &item);
  cg_kernel_end(s, k);
  return KILN_OK;
}

/* MaxUnpool(X, I, output_shape?): Y is zero except at the positions I
 * names, which get X's values.  I holds flat indices into the *default*
 * output, [N, C, (in - 1) * stride + kernel - pads...], as MaxPool's
 * Indices give them; when output_shape asks for a larger Y, each index is
 * unravelled over the default shape and written at the same coordinates
 * of Y (ONNX's reference does so).  One serial kernel (zero, then
 * scatter): indices from anywhere may collide across planes, and an index
 * outside Y is skipped, never written. */
kiln_status lower_max_unpool(cg_state *s, int32_t n) {
  ir_value_id x = cg_in(s, n, 0), ind = cg_in(s, n, 1), y = cg_out(s, n, 0);
  kiln_status st = cg_require_copyable(s, n, y);
  if (st) return st;
  ir_dtype idt = cg_dtype(s, ind);
  if (idt != IR_I64 && idt != IR_I32) return cg_unsupported(s, n, "indices must be int64");
  const ir_shape *xs = cg_shape(s, x), *ys = cg_shape(s, y);
  int rank = ys->rank, nsp = rank - 2;
  const int64_t *ks, *st_, *pads;
  int nk = ir_attr_ints(s->g, n, "kernel_shape", &ks), nst = ir_attr_ints(s->g, n, "strides", &st_);
  int npad = ir_attr_ints(s->g, n, "pads", &pads);
  if (nsp < 1 || nk != nsp || (nst && nst != nsp) || (npad && npad != 2 * nsp))
    return cg_unsupported(s, n, "kernel_shape, strides or pads do not match the spatial dims");
  int64_t def[KILN_MAX_RANK]; /* the default output shape the indices refer to */
  def[0] = xs->dims[0];
  def[1] = xs->dims[1];
  bool same = true;
  for (int d = 0; d < nsp; d++) {
    def[d + 2] = (xs->dims[d + 2] - 1) * (nst ? st_[d] : 1) + ks[d] -
                 (npad ? pads[d] + pads[d + nsp] : 0);
    same &= def[d + 2] == ys->dims[d + 2];
  }
  int64_t ystr[KILN_MAX_RANK];
  cg_strides(ys, ystr);
  ir_dtype dt = cg_bits_dtype(cg_dtype(s, y));
  int64_t nx = cg_numel(s, x), ny = cg_numel(s, y), ndef = cg_prod(def, 0, rank);
  cg_kernel *k = cg_kernel_begin(s, n, 1, ny + nx * rank);
  cg_loop z = cg_for(s, cg_mulc(s, k->begin, ny), cg_mulc(s, k->end, ny));
  cg_store(s, dt, k->out[0], z.i, cg_const(s, dt, 0));
  cg_end(s, &z);
  cg_loop i = cg_for(s, cg_mulc(s, k->begin, nx), cg_mulc(s, k->end, nx));
  LLVMValueRef at = cg_load_as(s, idt, k->in[1], i.i, IR_I64);
  LLVMValueRef ok = LLVMBuildAnd(s->b, LLVMBuildICmp(s->b, LLVMIntSGE, at, cg_i64(s, 0), ""),
                                 LLVMBuildICmp(s->b, LLVMIntSLT, at, cg_i64(s, ndef), ""), "");
  cg_loop in = cg_if(s, ok);
  LLVMValueRef dst = at;
  if (!same) {
    /* the same coordinates in Y; Y is at least as large as the default in
     * every dim unless output_shape shrinks it, hence the check */
    LLVMValueRef idx[KILN_MAX_RANK], fits = LLVMConstInt(s->t_i1, 1, 0);
    cg_unravel(s, at, rank, def, idx);
    for (int d = 2; d < rank; d++)
      fits = LLVMBuildAnd(s->b, fits, LLVMBuildICmp(s->b, LLVMIntSLT, idx[d], cg_i64(s, ys->dims[d]), ""), "");
    dst = LLVMBuildSelect(s->b, fits, cg_dot_strides(s, rank, idx, ystr), cg_i64(s, -1), "");
  }
  cg_loop put = cg_if(s, LLVMBuildICmp(s->b, LLVMIntSGE, dst, cg_i64(s, 0), ""));
  cg_store(s, dt, k->out[0], dst, cg_load(s, dt, k->in[0], i.i));
  cg_end_if(s, &put);
  cg_end_if(s, &in);
  cg_end(s, &i);
  cg_kernel_end(s, k);
  return KILN_OK;
}
