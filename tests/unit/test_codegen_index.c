/*
 * test_codegen_index.c — the indexing and resampling lowerings against
 * plain C references: Gather (axes, negative and scalar indices, constant
 * embedding tables, out-of-range indices), GatherElements, GatherND with
 * batch_dims, ScatterElements / Scatter / ScatterND with reductions and
 * duplicate indices, OneHot, Compress, Resize and Upsample, and the
 * refusal of NonZero.
 *
 * The Resize reference is ONNX's own algorithm written out literally:
 * interpolate one axis at a time, each output coordinate taking the n
 * nearest input points of an edge-padded line (n = 2 for nearest and
 * linear, 4 for cubic), in double.  The compiled kernels tabulate taps
 * and sum over tap combinations in float instead, so resampled values
 * agree within 1e-5 * (1 + |want|); everything else must match exactly.
 * Every graph runs with one thread and with four, bit-identical.
 */
#include "cgtest.h"

static void run_det(kiln_ctx *ctx, ir_graph *g, const void *const *in, void *const *out,
                    const size_t *bytes, int nout) {
  cg_jit *j = ct_jit(ctx, g);
  const kiln_model *m = cg_jit_model(j);
  ck_assert_int_eq(ct_run(m, in, out, 1), KILN_OK);
  void *again[16];
  for (int i = 0; i < nout; i++) again[i] = malloc(bytes[i] + 1);
  ck_assert_int_eq(ct_run(m, in, again, 4), KILN_OK);
  for (int i = 0; i < nout; i++) {
    ck_assert_msg(!memcmp(again[i], out[i], bytes[i]), "output %d differs with 4 threads", i);
    free(again[i]);
  }
  cg_jit_free(j);
}

static ir_value_id const_i64(ir_graph *g, const char *name, const int64_t *v, int n) {
  ir_shape s = ir_shape_make(1, (int64_t[]){n});
  return ir_add_const(g, name, IR_I64, &s, v, n * (int64_t)sizeof *v, false);
}

/* ---- Gather ----------------------------------------------------------------------- */
START_TEST(gather_axes_scalar_embedding) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "gather");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(3, 4, 5)), i1 = ct_val(g, "i1", IR_I32, SHAPE(2, 2));
  ir_value_id y1 = ct_val(g, "y1", IR_F32, SHAPE(3, 2, 2, 5));
  ir_node_id n1 = ct_node(g, IR_OP_GATHER, 2, (ir_value_id[]){x, i1}, y1);
  ir_set_attr_int(g, n1, "axis", -2);
  ir_value_id a = ct_val(g, "a", IR_I64, SHAPE(4, 3)), is = ct_val(g, "is", IR_I64, SHAPE());
  ir_value_id y2 = ct_val(g, "y2", IR_I64, SHAPE(3));
  ct_node(g, IR_OP_GATHER, 2, (ir_value_id[]){a, is}, y2);
  /* embedding lookup in a constant table (50 and -51, out of range, come
   * after the checked run) */
  enum { V = 50, E = 16 };
  float table[V * E];
  ct_fill(table, V * E, 7, -1, 1);
  ir_shape ts = SHAPE(V, E);
  ir_value_id tab = ir_add_const(g, "table", IR_F32, &ts, table, sizeof table, false);
  ir_value_id ids = ct_val(g, "ids", IR_I64, SHAPE(3, 7)), emb = ct_val(g, "emb", IR_F32, SHAPE(3, 7, E));
  ct_node(g, IR_OP_GATHER, 2, (ir_value_id[]){tab, ids}, emb);
  ct_io(g, 5, (ir_value_id[]){x, i1, a, is, ids}, 3, (ir_value_id[]){y1, y2, emb});
  float X[60], Y1[60], EMB[3 * 7 * E];
  int32_t I1[4] = {0, -1, 2, -4};
  int64_t A[12], IS = -1, Y2[3], IDS[21];
  ct_fill(X, 60, 1, -1, 1);
  for (int i = 0; i < 12; i++) A[i] = i * 1000003;
  for (int i = 0; i < 21; i++) IDS[i] = (i * 17) % V - (i % 3 == 0 ? V : 0);
  IDS[4] = V - 1;
  IDS[9] = -V;
  run_det(&ctx, g, (const void *[]){X, I1, A, &IS, IDS}, (void *[]){Y1, Y2, EMB},
          (size_t[]){sizeof Y1, sizeof Y2, sizeof EMB}, 3);
  for (int o = 0; o < 3; o++)
    for (int q = 0; q < 4; q++)
      for (int k = 0; k < 5; k++) {
        int idx = I1[q] < 0 ? I1[q] + 4 : I1[q];
        ck_assert(Y1[(o * 4 + q) * 5 + k] == X[(o * 4 + idx) * 5 + k]);
      }
  for (int k = 0; k < 3; k++) ck_assert(Y2[k] == A[9 + k]);
  for (int t = 0; t < 21; t++)
    for (int e = 0; e < E; e++) {
      int64_t id = IDS[t] < 0 ? IDS[t] + V : IDS[t];
      float want = id >= 0 && id < V ? table[id * E + e] : 0.0f;
      ck_assert_msg(EMB[t * E + e] == want, "embedding %d", t);
    }
  /* a token id past the vocabulary (either end) makes the run return
   * KILN_ERR_INDEX_RANGE, with 1 and 4 threads, as ONNX Runtime errs */
  cg_jit *j = ct_jit(&ctx, g);
  int64_t bad[2][2] = {{4, V}, {9, -V - 1}};
  for (int b = 0; b < 2; b++) {
    int64_t keep = IDS[bad[b][0]];
    IDS[bad[b][0]] = bad[b][1];
    for (int threads = 1; threads <= 4; threads += 3)
      ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){X, I1, A, &IS, IDS},
                              (void *[]){Y1, Y2, EMB}, threads),
                       KILN_ERR_INDEX_RANGE);
    IDS[bad[b][0]] = keep;
  }
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){X, I1, A, &IS, IDS},
                          (void *[]){Y1, Y2, EMB}, 1),
                   KILN_OK);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

START_TEST(gather_elements_and_nd) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "ge");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 3, 4)), ie = ct_val(g, "ie", IR_I64, SHAPE(2, 2, 3));
  ir_value_id ye = ct_val(g, "ye", IR_F32, SHAPE(2, 2, 3));
  ir_node_id n0 = ct_node(g, IR_OP_GATHER_ELEMENTS, 2, (ir_value_id[]){x, ie}, ye);
  ir_set_attr_int(g, n0, "axis", 1);
  ir_value_id il = ct_val(g, "il", IR_I32, SHAPE(2, 3, 2)), yl = ct_val(g, "yl", IR_F32, SHAPE(2, 3, 2));
  ir_node_id n1 = ct_node(g, IR_OP_GATHER_ELEMENTS, 2, (ir_value_id[]){x, il}, yl);
  ir_set_attr_int(g, n1, "axis", -1);
  /* GatherND: tuples of 2 picking rows of 4; and batch_dims 1 with single indices */
  ir_value_id in = ct_val(g, "in", IR_I64, SHAPE(3, 2)), yn = ct_val(g, "yn", IR_F32, SHAPE(3, 4));
  ct_node(g, IR_OP_GATHER_ND, 2, (ir_value_id[]){x, in}, yn);
  ir_value_id ib = ct_val(g, "ib", IR_I64, SHAPE(2, 2, 1)), yb = ct_val(g, "yb", IR_F32, SHAPE(2, 2, 4));
  ir_node_id n3 = ct_node(g, IR_OP_GATHER_ND, 2, (ir_value_id[]){x, ib}, yb);
  ir_set_attr_int(g, n3, "batch_dims", 1);
  ct_io(g, 5, (ir_value_id[]){x, ie, il, in, ib}, 4, (ir_value_id[]){ye, yl, yn, yb});
  float X[24], YE[12], YL[12], YN[12], YB[16];
  int64_t IE[12], IN[6] = {1, 2, 0, -1, -2, 0}, IB[4] = {2, 0, -1, 1};
  int32_t IL[12];
  ct_fill(X, 24, 1, -1, 1);
  for (int i = 0; i < 12; i++) {
    IE[i] = (i * 5) % 3 - (i % 2 ? 3 : 0);
    IL[i] = (i * 7) % 4 - (i % 3 ? 0 : 4);
  }
  run_det(&ctx, g, (const void *[]){X, IE, IL, IN, IB}, (void *[]){YE, YL, YN, YB},
          (size_t[]){sizeof YE, sizeof YL, sizeof YN, sizeof YB}, 4);
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 3; c++) {
        int64_t k = IE[(a * 2 + b) * 3 + c];
        ck_assert(YE[(a * 2 + b) * 3 + c] == X[(a * 3 + (k < 0 ? k + 3 : k)) * 4 + c]);
      }
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 2; c++) {
        int32_t k = IL[(a * 3 + b) * 2 + c];
        ck_assert(YL[(a * 3 + b) * 2 + c] == X[(a * 3 + b) * 4 + (k < 0 ? k + 4 : k)]);
      }
  for (int t = 0; t < 3; t++)
    for (int e = 0; e < 4; e++) {
      int64_t i0 = IN[2 * t] < 0 ? IN[2 * t] + 2 : IN[2 * t], i1 = IN[2 * t + 1] < 0 ? IN[2 * t + 1] + 3 : IN[2 * t + 1];
      ck_assert(YN[t * 4 + e] == X[(i0 * 3 + i1) * 4 + e]);
    }
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < 2; t++)
      for (int e = 0; e < 4; e++) {
        int64_t i = IB[b * 2 + t] < 0 ? IB[b * 2 + t] + 3 : IB[b * 2 + t];
        ck_assert(YB[(b * 2 + t) * 4 + e] == X[(b * 3 + i) * 4 + e]);
      }
  ir_graph_free(g);
}
END_TEST

/* ---- Scatter ------------------------------------------------------------------------------ */
START_TEST(scatter_reductions) {
  enum { R = 300, C = 200 };
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "scatter");
  /* big ScatterElements along axis 0 with duplicates, add: parallel over columns */
  ir_value_id d = ct_val(g, "d", IR_F32, SHAPE(R, C)), ix = ct_val(g, "ix", IR_I64, SHAPE(R, C));
  ir_value_id up = ct_val(g, "up", IR_F32, SHAPE(R, C)), y0 = ct_val(g, "y0", IR_F32, SHAPE(R, C));
  ir_node_id n0 = ir_add_node(g, IR_OP_SCATTER_ELEMENTS, NULL, 3, (ir_value_id[]){d, ix, up}, 1, &y0);
  ir_set_attr_string(g, n0, "reduction", "add");
  /* old Scatter, axis 1, int64, last write wins */
  ir_value_id a = ct_val(g, "a", IR_I64, SHAPE(2, 5)), ai = ct_val(g, "ai", IR_I32, SHAPE(2, 3));
  ir_value_id au = ct_val(g, "au", IR_I64, SHAPE(2, 3)), y1 = ct_val(g, "y1", IR_I64, SHAPE(2, 5));
  ir_node_id n1 = ir_add_node(g, IR_OP_SCATTER, NULL, 3, (ir_value_id[]){a, ai, au}, 1, &y1);
  ir_set_attr_int(g, n1, "axis", 1);
  /* ScatterND: slices of [4,4,4] multiplied (index 1 twice), elements of [8] replaced, max */
  ir_value_id s = ct_val(g, "s", IR_F32, SHAPE(4, 4, 4)), si = ct_val(g, "si", IR_I64, SHAPE(3, 1));
  ir_value_id su = ct_val(g, "su", IR_F32, SHAPE(3, 4, 4)), y2 = ct_val(g, "y2", IR_F32, SHAPE(4, 4, 4));
  ir_node_id n2 = ir_add_node(g, IR_OP_SCATTER_ND, NULL, 3, (ir_value_id[]){s, si, su}, 1, &y2);
  ir_set_attr_string(g, n2, "reduction", "mul");
  ir_value_id v = ct_val(g, "v", IR_I32, SHAPE(8)), vi = ct_val(g, "vi", IR_I64, SHAPE(4, 1));
  ir_value_id vu = ct_val(g, "vu", IR_I32, SHAPE(4)), y3 = ct_val(g, "y3", IR_I32, SHAPE(8));
  ir_value_id y4 = ct_val(g, "y4", IR_I32, SHAPE(8));
  ir_add_node(g, IR_OP_SCATTER_ND, NULL, 3, (ir_value_id[]){v, vi, vu}, 1, &y3);
  ir_node_id n4 = ir_add_node(g, IR_OP_SCATTER_ND, NULL, 3, (ir_value_id[]){v, vi, vu}, 1, &y4);
  ir_set_attr_string(g, n4, "reduction", "max");
  ct_io(g, 12, (ir_value_id[]){d, ix, up, a, ai, au, s, si, su, v, vi, vu}, 5,
        (ir_value_id[]){y0, y1, y2, y3, y4});
  float *D = malloc(R * C * 4), *UP = malloc(R * C * 4), *Y0 = malloc(R * C * 4), *W0 = malloc(R * C * 4);
  int64_t *IX = malloc(R * C * 8);
  ct_fill(D, R * C, 1, -1, 1);
  ct_fill(UP, R * C, 2, -1, 1);
  for (int i = 0; i < R * C; i++) IX[i] = (i * 7 + i / 13) % (2 * R) - R;
  int64_t A[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, AU[6] = {-1, -2, -3, -4, -5, -6}, Y1[10];
  int32_t AI[6] = {4, 0, 4, -1, 1, 1};
  float S[64], SU[48], Y2[64];
  int64_t SI[3] = {1, -1, 1}, VI[4] = {0, 7, -8, 3};
  int32_t V[8] = {5, 5, 5, 5, 5, 5, 5, 5}, VU[4] = {1, 9, 3, 4}, Y3[8], Y4[8];
  ct_fill(S, 64, 3, -1, 1);
  ct_fill(SU, 48, 4, -1, 1);
  run_det(&ctx, g, (const void *[]){D, IX, UP, A, AI, AU, S, SI, SU, V, VI, VU},
          (void *[]){Y0, Y1, Y2, Y3, Y4},
          (size_t[]){R * C * sizeof(float), sizeof Y1, sizeof Y2, sizeof Y3, sizeof Y4}, 5);
  /* references apply the updates in index order, in float */
  memcpy(W0, D, R * C * 4);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) {
      int64_t k = IX[i * C + j] < 0 ? IX[i * C + j] + R : IX[i * C + j];
      W0[k * C + j] += UP[i * C + j];
    }
  ck_assert(!memcmp(Y0, W0, R * C * 4));
  int64_t W1[10];
  memcpy(W1, A, sizeof A);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) W1[i * 5 + (AI[i * 3 + j] + 5) % 5] = AU[i * 3 + j];
  ck_assert(!memcmp(Y1, W1, sizeof W1));
  float W2[64];
  memcpy(W2, S, sizeof S);
  for (int t = 0; t < 3; t++)
    for (int e = 0; e < 16; e++) W2[((SI[t] + 4) % 4) * 16 + e] *= SU[t * 16 + e];
  ck_assert(!memcmp(Y2, W2, sizeof W2));
  int32_t W3[8] = {1, 5, 5, 4, 5, 5, 5, 9}, W4[8] = {5, 5, 5, 5, 5, 5, 5, 9};
  W3[0] = 3; /* index -8 is 0 again, written after 1 */
  ck_assert(!memcmp(Y3, W3, sizeof W3));
  ck_assert(!memcmp(Y4, W4, sizeof W4));
  free(D), free(UP), free(Y0), free(W0), free(IX);
  ir_graph_free(g);
}
END_TEST

/* ---- OneHot, Compress ----------------------------------------------------------------------- */
START_TEST(one_hot_and_compress) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "onehot");
  ir_value_id ind = ct_val(g, "ind", IR_I64, SHAPE(2, 3)), vals = ct_val(g, "vals", IR_F32, SHAPE(2));
  ir_value_id depth = const_i64(g, "depth", (int64_t[]){5}, 1);
  ir_value_id oh = ct_val(g, "oh", IR_F32, SHAPE(2, 5, 3));
  ir_node_id n0 = ct_node(g, IR_OP_ONE_HOT, 3, (ir_value_id[]){ind, depth, vals}, oh);
  ir_set_attr_int(g, n0, "axis", 1);
  ir_value_id fi = ct_val(g, "fi", IR_F32, SHAPE(4)), iv = ct_val(g, "iv", IR_I32, SHAPE(2));
  ir_value_id oh2 = ct_val(g, "oh2", IR_I32, SHAPE(4, 5));
  ct_node(g, IR_OP_ONE_HOT, 3, (ir_value_id[]){fi, depth, iv}, oh2);
  /* Compress with constant conditions: along axis 1, and flattened (short condition) */
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 3, 2));
  ir_shape c3 = SHAPE(3), c5 = SHAPE(5);
  ir_value_id cond = ir_add_const(g, "cond", IR_BOOL, &c3, (uint8_t[]){1, 0, 1}, 3, false);
  ir_value_id cflat = ir_add_const(g, "cflat", IR_BOOL, &c5, (uint8_t[]){0, 1, 1, 0, 1}, 5, false);
  ir_value_id cy = ct_val(g, "cy", IR_F32, SHAPE(2, 2, 2)), fy = ct_val(g, "fy", IR_F32, SHAPE(3));
  ir_node_id n2 = ct_node(g, IR_OP_COMPRESS, 2, (ir_value_id[]){x, cond}, cy);
  ir_set_attr_int(g, n2, "axis", 1);
  ct_node(g, IR_OP_COMPRESS, 2, (ir_value_id[]){x, cflat}, fy);
  ct_io(g, 5, (ir_value_id[]){ind, vals, fi, iv, x}, 4, (ir_value_id[]){oh, oh2, cy, fy});
  int64_t IND[6] = {0, 4, -1, 7, -5, 2};
  float VALS[2] = {-1, 3}, FI[4] = {1.9f, -2.2f, 4, 5}, OH[30], X[12], CY[8], FY[3];
  int32_t IV[2] = {0, 42}, OH2[20];
  ct_fill(X, 12, 1, -1, 1);
  run_det(&ctx, g, (const void *[]){IND, VALS, FI, IV, X}, (void *[]){OH, OH2, CY, FY},
          (size_t[]){sizeof OH, sizeof OH2, sizeof CY, sizeof FY}, 4);
  for (int a = 0; a < 2; a++)
    for (int dd = 0; dd < 5; dd++)
      for (int b = 0; b < 3; b++) {
        int64_t k = IND[a * 3 + b];
        k = k < 0 ? k + 5 : k;
        ck_assert(OH[(a * 5 + dd) * 3 + b] == (k == dd ? 3.0f : -1.0f));
      }
  for (int i = 0; i < 4; i++)
    for (int dd = 0; dd < 5; dd++) {
      int64_t k = (int64_t)FI[i];
      k = k < 0 ? k + 5 : k;
      ck_assert_int_eq(OH2[i * 5 + dd], k == dd ? 42 : 0);
    }
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 2; c++) ck_assert(CY[(a * 2 + b) * 2 + c] == X[(a * 3 + 2 * b) * 2 + c]);
  ck_assert(FY[0] == X[1] && FY[1] == X[2] && FY[2] == X[4]);
  ir_graph_free(g);
}
END_TEST

START_TEST(non_zero_is_refused) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "nz");
  /* ONNX test models declare the output shape of their one example */
  ir_value_id x = ct_val(g, "x", IR_BOOL, SHAPE(2, 2)), y = ct_val(g, "y", IR_I64, SHAPE(2, 3));
  ct_node(g, IR_OP_NON_ZERO, 1, &x, y);
  ct_io(g, 1, &x, 1, &y);
  kiln_options o = ct_options();
  cg_jit *j = NULL;
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(ctx.last_error, "(NonZero): the output shape depends on the input values"),
                "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

/* ---- Resize ----------------------------------------------------------------------------------- */

typedef struct rz_case {
  const char *mode, *coord, *nearest;
  double scale[2];       /* H, W scales, or 0 with sizes */
  int64_t size[2];       /* output H, W */
  double cubic_a;
  int exclude;
  const double *roi;     /* H, W start then end, or NULL */
  double extrap;
} rz_case;

/* ONNX's get_neighbor: the n points nearest to x on the edge-padded line
 * (ties to the smaller index), as indices into the line (may be outside). */
static void rz_neighbors(double x, int n, int len, int *idx) {
  int pad = (n + 1) / 2, total = len + 2 * pad, chosen = 0;
  bool used[64] = {false};
  for (; chosen < n; chosen++) {
    int best = -1;
    for (int i = 0; i < total; i++)
      if (!used[i] && (best < 0 || fabs(x + pad - i) < fabs(x + pad - best))) best = i;
    used[best] = true;
  }
  for (int i = 0, k = 0; i < total; i++)
    if (used[i]) idx[k++] = i - pad;
}

static double rz_1d(const rz_case *c, const double *line, int len, double scale, int out_len,
                    int x, int axis) {
  double ow = scale * len, xo;
  if (!strcmp(c->coord, "align_corners")) xo = ow == 1 ? 0 : x * (len - 1) / (ow - 1);
  else if (!strcmp(c->coord, "asymmetric")) xo = x / scale;
  else if (!strcmp(c->coord, "pytorch_half_pixel")) xo = out_len > 1 ? (x + 0.5) / scale - 0.5 : 0;
  else if (!strcmp(c->coord, "tf_crop_and_resize")) {
    double a = c->roi[axis], b = c->roi[2 + axis];
    xo = (ow == 1 ? (b - a) * (len - 1) / 2 : x * (b - a) * (len - 1) / (ow - 1)) + a * (len - 1);
    if (xo < 0 || xo > len - 1) return c->extrap;
  } else xo = (x + 0.5) / scale - 0.5;
  double ratio = xo == floor(xo) ? 1 : xo - floor(xo), w[4];
  int n;
  if (!strcmp(c->mode, "nearest")) {
    n = 2;
    bool up = ratio == 1 || (!strcmp(c->nearest, "ceil")) ||
              (!strcmp(c->nearest, "round_prefer_ceil") && ratio >= 0.5) ||
              (!strcmp(c->nearest, "round_prefer_floor") && ratio > 0.5);
    w[0] = !up, w[1] = up;
  } else if (!strcmp(c->mode, "linear")) {
    n = 2, w[0] = 1 - ratio, w[1] = ratio;
  } else {
    double A = c->cubic_a, t = ratio;
    n = 4;
    w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
    w[3] = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
  }
  int idx[4];
  rz_neighbors(xo, n, len, idx);
  if (c->exclude) {
    double sum = 0;
    for (int k = 0; k < n; k++) {
      if (idx[k] < 0 || idx[k] >= len) w[k] = 0;
      sum += w[k];
    }
    for (int k = 0; k < n; k++) w[k] /= sum;
  }
  double r = 0;
  for (int k = 0; k < n; k++) r += w[k] * line[idx[k] < 0 ? 0 : idx[k] >= len ? len - 1 : idx[k]];
  return r;
}

/* Resizes an [H, W] plane: W first for every input row, then H. */
static double rz_2d(const rz_case *c, const float *plane, int H, int W, const double *sc,
                    const int64_t *osz, int oh, int ow) {
  double col[64], row[64];
  for (int i = 0; i < H; i++) {
    for (int j = 0; j < W; j++) row[j] = plane[i * W + j];
    col[i] = rz_1d(c, row, W, sc[1], (int)osz[1], ow, 1);
  }
  return rz_1d(c, col, H, sc[0], (int)osz[0], oh, 0);
}

START_TEST(resize_modes) {
  enum { N = 1, C = 2, H = 4, W = 5 };
  static const double roi[4] = {0.4, 0.6, 1.2, 1.7};
  static const rz_case cases[] = {
      {"nearest", "half_pixel", "round_prefer_ceil", {1.5, 2.4}, {6, 12}, -0.75, 0, NULL, 0},
      {"nearest", "asymmetric", "floor", {0}, {3, 7}, -0.75, 0, NULL, 0},
      {"nearest", "align_corners", "round_prefer_floor", {0}, {7, 8}, -0.75, 0, NULL, 0},
      {"linear", "half_pixel", "", {2, 0.6}, {8, 3}, -0.75, 0, NULL, 0},
      {"linear", "align_corners", "", {0}, {7, 3}, -0.75, 0, NULL, 0},
      {"linear", "pytorch_half_pixel", "", {0}, {3, 4}, -0.75, 0, NULL, 0},
      {"linear", "tf_crop_and_resize", "", {0}, {3, 3}, -0.75, 0, roi, 10},
      {"cubic", "half_pixel", "", {0.8, 1.7}, {3, 8}, -0.5, 1, NULL, 0},
      {"cubic", "asymmetric", "", {0}, {9, 10}, -0.75, 0, NULL, 0},
      {"cubic", "align_corners", "", {2, 2}, {8, 10}, -0.75, 0, NULL, 0},
  };
  enum { NC = sizeof cases / sizeof cases[0] };
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "resize");
  g->opset = 13;
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(N, C, H, W)), y[NC];
  for (int i = 0; i < NC; i++) {
    const rz_case *c = &cases[i];
    y[i] = ct_val(g, "y", IR_F32, SHAPE(N, C, c->size[0], c->size[1]));
    ir_value_id in[4] = {x, IR_NONE, IR_NONE, IR_NONE};
    char name[32];
    if (c->roi) {
      float r[8] = {0, 0, (float)c->roi[0], (float)c->roi[1], 1, 1, (float)c->roi[2], (float)c->roi[3]};
      ir_shape rs = SHAPE(8);
      snprintf(name, sizeof name, "roi%d", i);
      in[1] = ir_add_const(g, name, IR_F32, &rs, r, sizeof r, false);
    }
    snprintf(name, sizeof name, "ss%d", i);
    if (c->scale[0]) {
      float sc[4] = {1, 1, (float)c->scale[0], (float)c->scale[1]};
      ir_shape ss = SHAPE(4);
      in[2] = ir_add_const(g, name, IR_F32, &ss, sc, sizeof sc, false);
    } else {
      in[3] = const_i64(g, name, (int64_t[]){N, C, c->size[0], c->size[1]}, 4);
    }
    ir_node_id n = ct_node(g, IR_OP_RESIZE, 4, in, y[i]);
    ir_set_attr_string(g, n, "mode", c->mode);
    ir_set_attr_string(g, n, "coordinate_transformation_mode", c->coord);
    if (c->nearest[0]) ir_set_attr_string(g, n, "nearest_mode", c->nearest);
    ir_set_attr_float(g, n, "cubic_coeff_a", (float)c->cubic_a);
    ir_set_attr_int(g, n, "exclude_outside", c->exclude);
    ir_set_attr_float(g, n, "extrapolation_value", (float)c->extrap);
  }
  ct_io(g, 1, &x, NC, y);
  float X[N * C * H * W], *Y[NC];
  size_t bytes[NC];
  ct_fill(X, N * C * H * W, 1, -2, 2);
  for (int i = 0; i < NC; i++) {
    bytes[i] = (size_t)(N * C * cases[i].size[0] * cases[i].size[1]) * sizeof(float);
    Y[i] = malloc(bytes[i]);
  }
  run_det(&ctx, g, (const void *[]){X}, (void *const *)Y, bytes, NC);
  for (int i = 0; i < NC; i++) {
    const rz_case *c = &cases[i];
    double sc[2];
    for (int a = 0; a < 2; a++)
      sc[a] = c->scale[0] ? (double)(float)c->scale[a] : (double)c->size[a] / (a ? W : H);
    int64_t oh = c->size[0], ow = c->size[1];
    for (int p = 0; p < N * C; p++)
      for (int r = 0; r < oh; r++)
        for (int q = 0; q < ow; q++) {
          double want = rz_2d(c, X + p * H * W, H, W, sc, c->size, r, q);
          float got = Y[i][(p * oh + r) * ow + q];
          ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "case %d (%s %s) at %d,%d,%d: %g vs %g",
                        i, c->mode, c->coord, p, r, q, got, want);
        }
    free(Y[i]);
  }
  ir_graph_free(g);
}
END_TEST

START_TEST(upsample_and_int_nearest) {
  enum { BC = 8, BH = 40, BW = 50 };
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "up");
  g->opset = 9;
  ir_value_id x = ct_val(g, "x", IR_I32, SHAPE(1, 1, 2, 3)), y = ct_val(g, "y", IR_I32, SHAPE(1, 1, 4, 9));
  ir_shape ss = SHAPE(4);
  ir_value_id sc = ir_add_const(g, "sc", IR_F32, &ss, (float[]){1, 1, 2, 3}, 16, false);
  ct_node(g, IR_OP_UPSAMPLE, 2, (ir_value_id[]){x, sc}, y);
  /* big enough to run on several threads: rows repeated by the upsampling
   * are copied within an item, computed afresh at an item's start */
  ir_value_id b = ct_val(g, "b", IR_I32, SHAPE(1, BC, BH, BW));
  ir_value_id by = ct_val(g, "by", IR_I32, SHAPE(1, BC, 2 * BH, 2 * BW));
  ir_value_id sc2 = ir_add_const(g, "sc2", IR_F32, &ss, (float[]){1, 1, 2, 2}, 16, false);
  ct_node(g, IR_OP_UPSAMPLE, 2, (ir_value_id[]){b, sc2}, by);
  ct_io(g, 2, (ir_value_id[]){x, b}, 2, (ir_value_id[]){y, by});
  int32_t X[6] = {1, 2, 3, 4, 5, 6}, Y[36];
  int32_t *B = malloc(BC * BH * BW * 4), *BY = malloc(BC * BH * BW * 16);
  for (int i = 0; i < BC * BH * BW; i++) B[i] = i * 3 + 1;
  run_det(&ctx, g, (const void *[]){X, B}, (void *[]){Y, BY},
          (size_t[]){sizeof Y, (size_t)BC * BH * BW * 16}, 2);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 9; c++) ck_assert_int_eq(Y[r * 9 + c], X[(r / 2) * 3 + c / 3]);
  for (int ch = 0; ch < BC; ch++)
    for (int r = 0; r < 2 * BH; r++)
      for (int c = 0; c < 2 * BW; c++)
        ck_assert_int_eq(BY[(ch * 2 * BH + r) * 2 * BW + c], B[(ch * BH + r / 2) * BW + c / 2]);
  free(B);
  free(BY);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("codegen_index");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, gather_axes_scalar_embedding);
  tcase_add_test(tc, gather_elements_and_nd);
  tcase_add_test(tc, scatter_reductions);
  tcase_add_test(tc, one_hot_and_compress);
  tcase_add_test(tc, non_zero_is_refused);
  tcase_add_test(tc, resize_modes);
  tcase_add_test(tc, upsample_and_int_nearest);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
