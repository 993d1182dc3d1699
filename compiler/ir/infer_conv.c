/*
 * infer_conv.c — shapes of the convolutions: Conv, ConvInteger,
 * QLinearConv, DeformConv, ConvTranspose, and Col2Im (the inverse of the
 * im2col step a convolution is often lowered to).
 *
 * A convolution reads X = [N, C, D1..Dk] and W = [M, C/group, K1..Kk]
 * and writes [N, M, O1..Ok], each Oi from the window formula in
 * infer_util.c.  The transposed convolution swaps the roles: W = [C,
 * M/group, K1..Kk] and
 *
 *     Oi = stride * (Di - 1) + output_padding + ((Ki - 1) * dilation + 1)
 *          - pad_begin - pad_end
 *
 * unless output_shape is given (then Oi is taken from it) or auto_pad is
 * SAME_* (then Oi = Di * stride, the padding absorbing the rest).
 *
 * Channel counts are checked whenever both sides are static: these
 * mismatches are the most common way a hand-edited model goes wrong, and
 * catching them here names the node instead of failing in a kernel.
 */
#include <string.h>

#include "infer.h"
#include "ir.h"

/* The rank a convolution works at, from X and W (which must agree);
 * -1 if neither is known. */
static kiln_status conv_rank(ir_graph *g, int32_t n, const ir_value *x, const ir_value *w,
                             const char *xname, int *rank) {
  int xr = x->shape.rank, wr = w->shape.rank;
  if (xr >= 0 && xr < 3) {
    ir_error_node(g, n, "%s must have rank >= 3 (N, C, spatial dims), got rank %d", xname, xr);
    return KILN_ERR_INVALID_MODEL;
  }
  if (wr >= 0 && wr < 3) {
    ir_error_node(g, n, "W must have rank >= 3 (M, C/group, kernel dims), got rank %d", wr);
    return KILN_ERR_INVALID_MODEL;
  }
  if (xr >= 0 && wr >= 0 && xr != wr) {
    ir_error_node(g, n, "%s has rank %d but W has rank %d", xname, xr, wr);
    return KILN_ERR_INVALID_MODEL;
  }
  *rank = xr >= 0 ? xr : wr;
  return KILN_OK;
}

static int64_t dim_or_unknown(const ir_value *v, int i) {
  return v && v->shape.rank > i ? v->shape.dims[i] : IR_DIM_UNKNOWN;
}

/* Reads the window of a convolution whose weight is w, checking that an
 * explicit kernel_shape matches the weight's spatial dims. */
static kiln_status conv_window(ir_graph *g, int32_t n, const ir_value *w, int rank, ir_window *win) {
  int64_t kw[KILN_MAX_RANK] = {0};
  for (int i = 0; i < rank - 2; i++) kw[i] = dim_or_unknown(w, i + 2);
  kiln_status st = ir_window_read(g, n, rank - 2, kw, win);
  if (st) return st;
  for (int i = 0; i < rank - 2; i++) {
    if (ir_dims_conflict(win->kernel[i], kw[i])) {
      ir_error_node(g, n, "kernel_shape[%d] = %lld but W has spatial dim %lld", i,
                    (long long)win->kernel[i], (long long)kw[i]);
      return KILN_ERR_INVALID_MODEL;
    }
    win->kernel[i] = ir_dim_unify(win->kernel[i], kw[i]);
  }
  return KILN_OK;
}

static kiln_status read_group(ir_graph *g, int32_t n, int64_t *group) {
  *group = ir_attr_int_or(g, n, "group", 1);
  if (*group < 1) {
    ir_error_node(g, n, "group must be positive, got %lld", (long long)*group);
    return KILN_ERR_INVALID_MODEL;
  }
  return KILN_OK;
}

/* The bias, if present, must be a vector of the output channels. */
static kiln_status check_bias(ir_graph *g, int32_t n, const ir_value *b, int64_t m) {
  if (!b || b->shape.rank < 0) return KILN_OK;
  if (b->shape.rank != 1) {
    ir_error_node(g, n, "bias must be 1-D, got rank %d", b->shape.rank);
    return KILN_ERR_INVALID_MODEL;
  }
  if (ir_dims_conflict(b->shape.dims[0], m)) {
    ir_error_node(g, n, "bias has %lld elements but there are %lld output channels",
                  (long long)b->shape.dims[0], (long long)m);
    return KILN_ERR_INVALID_MODEL;
  }
  return KILN_OK;
}

/*
 * The forward convolution shared by Conv, ConvInteger, QLinearConv and
 * DeformConv: x and w as in the essay, b the bias or NULL.
 */
static kiln_status conv_forward(ir_graph *g, int32_t n, const ir_value *x, const ir_value *w,
                                const ir_value *b, ir_shape *out) {
  int rank;
  kiln_status st = conv_rank(g, n, x, w, "X", &rank);
  if (st) return st;
  if (rank < 0) {
    out->rank = -1;
    return KILN_OK;
  }
  ir_window win;
  if ((st = conv_window(g, n, w, rank, &win))) return st;
  int64_t group;
  if ((st = read_group(g, n, &group))) return st;
  int64_t c = dim_or_unknown(x, 1), wc = dim_or_unknown(w, 1), m = dim_or_unknown(w, 0);
  if (ir_dim_is_static(c) && ir_dim_is_static(wc) && c != wc * group) {
    ir_error_node(g, n,
                  "X has %lld channels but W expects %lld (W dim 1 = %lld times group %lld)",
                  (long long)c, (long long)(wc * group), (long long)wc, (long long)group);
    return KILN_ERR_INVALID_MODEL;
  }
  if (ir_dim_is_static(m) && m % group) {
    ir_error_node(g, n, "W has %lld output channels, not a multiple of group %lld",
                  (long long)m, (long long)group);
    return KILN_ERR_INVALID_MODEL;
  }
  if ((st = check_bias(g, n, b, m))) return st;
  out->rank = rank;
  out->dims[0] = dim_or_unknown(x, 0);
  out->dims[1] = m;
  for (int i = 0; i < rank - 2; i++)
    if ((st = ir_window_out_dim(g, n, &win, i, dim_or_unknown(x, i + 2), &out->dims[i + 2])))
      return st;
  return KILN_OK;
}

kiln_status infer_conv(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0);
  ir_shape s;
  kiln_status st = conv_forward(g, n, x, ir_input(g, n, 1), ir_input(g, n, 2), &s);
  if (st) return st;
  ir_set_output(g, n, 0, x->dtype, &s);
  return KILN_OK;
}

/* ConvInteger(x, w, x_zero_point?, w_zero_point?) accumulates in int32. */
kiln_status infer_conv_integer(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st = conv_forward(g, n, ir_input(g, n, 0), ir_input(g, n, 1), NULL, &s);
  if (st) return st;
  ir_set_output(g, n, 0, IR_I32, &s);
  return KILN_OK;
}

/* QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?): the
 * result has y_zero_point's type. */
kiln_status infer_qlinear_conv(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st =
      conv_forward(g, n, ir_input(g, n, 0), ir_input(g, n, 3), ir_input(g, n, 8), &s);
  if (st) return st;
  ir_set_output(g, n, 0, ir_input(g, n, 7)->dtype, &s);
  return KILN_OK;
}

/* DeformConv(X, W, offset, B?, mask?): a convolution whose sampling points
 * move by `offset`, which therefore has the output's spatial dims. */
kiln_status infer_deform_conv(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0), *off = ir_input(g, n, 2);
  ir_shape s;
  kiln_status st = conv_forward(g, n, x, ir_input(g, n, 1), ir_input(g, n, 3), &s);
  if (st) return st;
  if (s.rank >= 0 && off->shape.rank >= 0) {
    if (off->shape.rank != s.rank) {
      ir_error_node(g, n, "offset has rank %d but X has rank %d", off->shape.rank, s.rank);
      return KILN_ERR_INVALID_MODEL;
    }
    for (int i = 2; i < s.rank; i++) {
      if (ir_dims_conflict(off->shape.dims[i], s.dims[i])) {
        ir_error_node(g, n, "offset dim %d is %lld but the output has %lld there", i,
                      (long long)off->shape.dims[i], (long long)s.dims[i]);
        return KILN_ERR_INVALID_MODEL;
      }
      s.dims[i] = ir_dim_unify(s.dims[i], off->shape.dims[i]);
    }
  }
  ir_set_output(g, n, 0, x->dtype, &s);
  return KILN_OK;
}

/* ConvTranspose(X, W, B?), see the essay. */
kiln_status infer_conv_transpose(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0), *w = ir_input(g, n, 1);
  int rank;
  kiln_status st = conv_rank(g, n, x, w, "X", &rank);
  if (st) return st;
  ir_shape s = {.rank = -1};
  if (rank < 0) {
    ir_set_output(g, n, 0, x->dtype, &s);
    return KILN_OK;
  }
  int ns = rank - 2;
  ir_window win;
  if ((st = conv_window(g, n, w, rank, &win))) return st;
  int64_t group;
  if ((st = read_group(g, n, &group))) return st;
  int64_t c = dim_or_unknown(x, 1), wc = dim_or_unknown(w, 0);
  if (ir_dims_conflict(c, wc)) {
    ir_error_node(g, n, "X has %lld channels but W has %lld input channels (W dim 0)",
                  (long long)c, (long long)wc);
    return KILN_ERR_INVALID_MODEL;
  }
  c = ir_dim_unify(c, wc);
  if (ir_dim_is_static(c) && c % group) {
    ir_error_node(g, n, "X has %lld channels, not a multiple of group %lld", (long long)c,
                  (long long)group);
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t m = ir_dim_mul(dim_or_unknown(w, 1), group);
  if ((st = check_bias(g, n, ir_input(g, n, 2), m))) return st;

  const int64_t *opad, *oshape;
  int nopad = ir_attr_ints(g, n, "output_padding", &opad);
  int noshape = ir_attr_ints(g, n, "output_shape", &oshape);
  if (ir_get_attr(g, n, "output_padding") && nopad != ns) {
    ir_error_node(g, n, "output_padding has %d values but the input has %d spatial dims", nopad,
                  ns);
    return KILN_ERR_INVALID_MODEL;
  }
  for (int i = 0; i < nopad; i++)
    if (opad[i] < 0) {
      ir_error_node(g, n, "output_padding[%d] = %lld is negative", i, (long long)opad[i]);
      return KILN_ERR_INVALID_MODEL;
    }
  /* output_shape lists the spatial dims; some exporters include N and C */
  if (ir_get_attr(g, n, "output_shape") && noshape != ns && noshape != rank) {
    ir_error_node(g, n, "output_shape has %d values but the input has %d spatial dims", noshape,
                  ns);
    return KILN_ERR_INVALID_MODEL;
  }
  if (noshape == rank) oshape += 2;

  s.rank = rank;
  s.dims[0] = dim_or_unknown(x, 0);
  s.dims[1] = m;
  for (int i = 0; i < ns; i++) {
    int64_t in = dim_or_unknown(x, i + 2), k = win.kernel[i], st_ = win.strides[i];
    int64_t op = nopad ? opad[i] : 0, *o = &s.dims[i + 2];
    if (noshape) {
      if (oshape[i] < 1) {
        ir_error_node(g, n, "output_shape[%d] = %lld must be positive", i, (long long)oshape[i]);
        return KILN_ERR_INVALID_MODEL;
      }
      *o = oshape[i];
    } else if (win.auto_pad == IR_AUTO_PAD_SAME_UPPER || win.auto_pad == IR_AUTO_PAD_SAME_LOWER) {
      *o = ir_dim_mul(in, st_);
    } else if (!ir_dim_is_static(k)) {
      *o = IR_DIM_UNKNOWN;
    } else {
      int64_t eff = (k - 1) * win.dilations[i] + 1;
      int64_t pads = win.auto_pad == IR_AUTO_PAD_VALID ? 0 : win.pads[i] + win.pads[ns + i];
      if (!ir_dim_is_static(in)) {
        *o = (st_ == 1 && eff == 1 && op == 0 && pads == 0) ? in : IR_DIM_UNKNOWN;
        continue;
      }
      *o = st_ * (in - 1) + op + eff - pads;
      if (*o < 1) {
        ir_error_node(g, n, "spatial dim %d: the padding (%lld) leaves no output", i,
                      (long long)pads);
        return KILN_ERR_INVALID_MODEL;
      }
    }
  }
  ir_set_output(g, n, 0, x->dtype, &s);
  return KILN_OK;
}

/*
 * Col2Im(input [N, C * prod(block_shape), L], image_shape, block_shape)
 * -> [N, C, image_shape...].  L must be the number of block positions the
 * window formula gives over the image, which is checked when everything
 * is known.
 */
kiln_status infer_col2im(ir_graph *g, int32_t n) {
  const ir_value *x = ir_input(g, n, 0);
  ir_value_id img_id = g->nodes[n].inputs[1], blk_id = g->nodes[n].inputs[2];
  const ir_value *img = &g->values[img_id], *blk = &g->values[blk_id];
  if (x->shape.rank >= 0 && x->shape.rank != 3) {
    ir_error_node(g, n, "input must have rank 3 (N, C * prod(block_shape), L), got rank %d",
                  x->shape.rank);
    return KILN_ERR_INVALID_MODEL;
  }
  for (int k = 0; k < 2; k++) {
    const ir_value *v = k ? blk : img;
    if (v->shape.rank >= 0 && v->shape.rank != 1) {
      ir_error_node(g, n, "%s must be 1-D, got rank %d", k ? "block_shape" : "image_shape",
                    v->shape.rank);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  int64_t image[KILN_MAX_RANK], block[KILN_MAX_RANK];
  int64_t ni = ir_const_ints(g, img_id, image, KILN_MAX_RANK - 2);
  int64_t nb = ir_const_ints(g, blk_id, block, KILN_MAX_RANK - 2);
  if (ni >= 0 && nb >= 0 && ni != nb) {
    ir_error_node(g, n, "image_shape has %lld values but block_shape has %lld", (long long)ni,
                  (long long)nb);
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t ns = ni >= 0 ? ni : nb;
  if (ns < 0 && img->shape.rank == 1 && ir_dim_is_static(img->shape.dims[0]))
    ns = img->shape.dims[0];
  if (ns < 0 && blk->shape.rank == 1 && ir_dim_is_static(blk->shape.dims[0]))
    ns = blk->shape.dims[0];
  ir_shape s = {.rank = -1};
  if (ns < 0) {
    ir_set_output(g, n, 0, x->dtype, &s);
    return KILN_OK;
  }
  if (ns < 1 || ns > KILN_MAX_RANK - 2) {
    ir_error_node(g, n, "image_shape must have between 1 and %d values, got %lld",
                  KILN_MAX_RANK - 2, (long long)ns);
    return KILN_ERR_INVALID_MODEL;
  }
  int64_t cb = dim_or_unknown(x, 1), prod = 1;
  for (int i = 0; i < ni; i++)
    if (image[i] < 1) {
      ir_error_node(g, n, "image_shape[%d] = %lld must be positive", i, (long long)image[i]);
      return KILN_ERR_INVALID_MODEL;
    }
  for (int i = 0; i < nb; i++) {
    if (block[i] < 1) {
      ir_error_node(g, n, "block_shape[%d] = %lld must be positive", i, (long long)block[i]);
      return KILN_ERR_INVALID_MODEL;
    }
    prod = ir_dim_mul(prod, block[i]);
  }
  s.rank = (int)ns + 2;
  s.dims[0] = dim_or_unknown(x, 0);
  s.dims[1] = IR_DIM_UNKNOWN;
  if (nb >= 0 && ir_dim_is_static(cb) && ir_dim_is_static(prod)) {
    if (cb % prod) {
      ir_error_node(g, n, "input dim 1 (%lld) is not a multiple of prod(block_shape) = %lld",
                    (long long)cb, (long long)prod);
      return KILN_ERR_INVALID_MODEL;
    }
    s.dims[1] = cb / prod;
  }
  for (int i = 0; i < ns; i++) s.dims[i + 2] = ni >= 0 ? image[i] : IR_DIM_UNKNOWN;
  /* strides, dilations and pads are checked in any case; L when known */
  int64_t kw[KILN_MAX_RANK] = {0};
  for (int i = 0; i < ns; i++) kw[i] = nb >= 0 ? block[i] : IR_DIM_UNKNOWN;
  ir_window win;
  kiln_status st = ir_window_read(g, n, (int)ns, kw, &win);
  if (st) return st;
  int64_t l = dim_or_unknown(x, 2);
  if (ni >= 0 && nb >= 0 && ir_dim_is_static(l)) {
    int64_t blocks = 1, o;
    for (int i = 0; i < ns; i++) {
      if ((st = ir_window_out_dim(g, n, &win, i, image[i], &o))) return st;
      blocks = ir_dim_mul(blocks, o);
    }
    if (ir_dims_conflict(blocks, l)) {
      ir_error_node(g, n, "input has %lld blocks (dim 2) but the image holds %lld",
                    (long long)l, (long long)blocks);
      return KILN_ERR_INVALID_MODEL;
    }
  }
  ir_set_output(g, n, 0, x->dtype, &s);
  return KILN_OK;
}

/* kiln.QConv(x, w, bias): Conv's geometry, a uint8 result (quantize pass). */
kiln_status infer_qconv(ir_graph *g, int32_t n) {
  ir_shape s;
  kiln_status st = conv_forward(g, n, ir_input(g, n, 0), ir_input(g, n, 1), ir_input(g, n, 2), &s);
  if (st) return st;
  ir_set_output(g, n, 0, IR_U8, &s);
  return KILN_OK;
}
