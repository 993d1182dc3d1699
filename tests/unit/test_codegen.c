/*
 * test_codegen.c — the code generation pipeline end to end: graphs built
 * with the IR API are JIT-compiled and run, and compared against plain C
 * references computed here.  Also: elementwise ops with broadcasting,
 * results bit-identical for 1, 2 and 4 threads, run's argument checks,
 * unsupported-op reporting, and a library written to disk, linked with the
 * system C compiler and run.  (Matrix, convolution, pooling, softmax and
 * data-movement ops: test_codegen_ops.c.)
 *
 * Tolerances: elementwise float results within 1e-5 * (1 + |want|) of a
 * double-precision reference evaluated on the same float inputs.
 */
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "cgtest.h"

/* ---- unary ops ------------------------------------------------------------------ */
typedef struct unary_case {
  ir_op op;
  double (*ref)(double x, const void *arg);
  float lo, hi;          /* input range */
  float alpha;           /* attribute "alpha" if nonzero */
} unary_case;

static double r_relu(double x, const void *a) { return x < 0 ? 0 : x; }
static double r_sigmoid(double x, const void *a) { return 1 / (1 + exp(-x)); }
static double r_tanh(double x, const void *a) { return tanh(x); }
static double r_exp(double x, const void *a) { return exp(x); }
static double r_log(double x, const void *a) { return log(x); }
static double r_sqrt(double x, const void *a) { return sqrt(x); }
static double r_abs(double x, const void *a) { return fabs(x); }
static double r_neg(double x, const void *a) { return -x; }
static double r_erf(double x, const void *a) { return erf(x); }
static double r_floor(double x, const void *a) { return floor(x); }
static double r_round(double x, const void *a) { return nearbyint(x); }
static double r_softplus(double x, const void *a) { return log1p(exp(x)); }
static double r_leaky(double x, const void *a) { return x < 0 ? 0.1 * x : x; }
static double r_elu(double x, const void *a) { return x < 0 ? 0.5 * expm1(x) : x; }
static double r_hardswish(double x, const void *a) {
  return x * fmax(0, fmin(1, x / 6 + 0.5));
}
static double r_gelu(double x, const void *a) { return 0.5 * x * (1 + erf(x / sqrt(2))); }
static double r_sin(double x, const void *a) { return sin(x); }
static double r_reciprocal(double x, const void *a) { return 1 / x; }
static double r_sign(double x, const void *a) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

static const unary_case unary_cases[] = {
    {IR_OP_RELU, r_relu, -2, 2, 0},         {IR_OP_SIGMOID, r_sigmoid, -8, 8, 0},
    {IR_OP_TANH, r_tanh, -4, 4, 0},         {IR_OP_EXP, r_exp, -5, 5, 0},
    {IR_OP_LOG, r_log, 0.01f, 10, 0},       {IR_OP_SQRT, r_sqrt, 0, 9, 0},
    {IR_OP_ABS, r_abs, -3, 3, 0},           {IR_OP_NEG, r_neg, -3, 3, 0},
    {IR_OP_ERF, r_erf, -3, 3, 0},           {IR_OP_FLOOR, r_floor, -5, 5, 0},
    {IR_OP_ROUND, r_round, -5, 5, 0},       {IR_OP_SOFTPLUS, r_softplus, -30, 30, 0},
    {IR_OP_LEAKY_RELU, r_leaky, -2, 2, 0.1f}, {IR_OP_ELU, r_elu, -3, 3, 0.5f},
    {IR_OP_HARD_SWISH, r_hardswish, -5, 5, 0}, {IR_OP_GELU, r_gelu, -4, 4, 0},
    {IR_OP_SIN, r_sin, -6, 6, 0},           {IR_OP_RECIPROCAL, r_reciprocal, 0.5f, 4, 0},
    {IR_OP_SIGN, r_sign, -2, 2, 0},
};
enum { NUNARY = sizeof unary_cases / sizeof unary_cases[0] };

START_TEST(unary_ops_match_reference) {
  /* one graph: input k feeds op k, whose result is output k */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "unary");
  ir_shape s = SHAPE(3, 5, 70);
  ir_value_id in[NUNARY], out[NUNARY];
  for (int k = 0; k < NUNARY; k++) {
    in[k] = ct_val(g, "x", IR_F32, s);
    out[k] = ct_val(g, "y", IR_F32, s);
    ir_node_id n = ct_node(g, unary_cases[k].op, 1, &in[k], out[k]);
    if (unary_cases[k].alpha) ir_set_attr_float(g, n, "alpha", unary_cases[k].alpha);
  }
  ct_io(g, NUNARY, in, NUNARY, out);
  cg_jit *j = ct_jit(&ctx, g);
  int64_t n = ir_shape_numel(&s);
  float *x = malloc(sizeof(float) * n * NUNARY), *y = malloc(sizeof(float) * n * NUNARY);
  double *want = malloc(sizeof(double) * n);
  const void *ins[NUNARY];
  void *outs[NUNARY];
  for (int k = 0; k < NUNARY; k++) {
    ct_fill(x + k * n, n, k + 1, unary_cases[k].lo, unary_cases[k].hi);
    ins[k] = x + k * n;
    outs[k] = y + k * n;
  }
  ck_assert_int_eq(ct_run(cg_jit_model(j), ins, outs, 1), KILN_OK);
  for (int k = 0; k < NUNARY; k++) {
    for (int64_t i = 0; i < n; i++) want[i] = unary_cases[k].ref(x[k * n + i], NULL);
    ct_close(y + k * n, want, n, 1e-5, ir_ops[unary_cases[k].op].name);
  }
  free(x);
  free(y);
  free(want);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST


/* ---- exp and erf of vmath.c against libm, in ulps ---------------------------------- */
static double ulps(float got, double want) {
  float w = (float)want;
  if (isnan(want)) return isnan(got) ? 0 : INFINITY;
  if (got == w) return 0;
  if (isinf(w) || isinf(got)) return INFINITY;
  float a = fabsf(w);
  double ulp = a < FLT_MIN ? 0x1p-149 : (double)(nextafterf(a, INFINITY) - a);
  return fabs((double)got - want) / ulp;
}

START_TEST(exp_erf_within_two_ulp) {
  /* a dense sweep over each function's interesting range, plus the
   * special values; both ops in one graph, JIT-compiled (vectorized loops) */
  enum { NS = 400000, NX = NS + 10 };
  static const float special[10] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f,
                                    88.7f, -103.9f, 3.99f};
  float *xe = malloc(sizeof(float) * NX), *xf = malloc(sizeof(float) * NX);
  float *ye = malloc(sizeof(float) * NX), *yf = malloc(sizeof(float) * NX);
  for (int i = 0; i < NS; i++) {
    xe[i] = -110.0f + 200.0f * (float)i / NS; /* exp: underflow to overflow */
    xf[i] = -6.0f + 12.0f * (float)i / NS;    /* erf: both branches and the saturation */
  }
  memcpy(xe + NS, special, sizeof special);
  memcpy(xf + NS, special, sizeof special);
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "vmath");
  ir_shape s = SHAPE(NX);
  ir_value_id a = ct_val(g, "a", IR_F32, s), b = ct_val(g, "b", IR_F32, s);
  ir_value_id ea = ct_val(g, "ea", IR_F32, s), fb = ct_val(g, "fb", IR_F32, s);
  ct_node(g, IR_OP_EXP, 1, &a, ea);
  ct_node(g, IR_OP_ERF, 1, &b, fb);
  ct_io(g, 2, (ir_value_id[]){a, b}, 2, (ir_value_id[]){ea, fb});
  cg_jit *j = ct_jit(&ctx, g);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){xe, xf}, (void *[]){ye, yf}, 2), KILN_OK);
  double worst_e = 0, worst_f = 0;
  int at_e = 0, at_f = 0;
  for (int i = 0; i < NX; i++) {
    double ue = ulps(ye[i], exp((double)xe[i])), uf = ulps(yf[i], erf((double)xf[i]));
    if (ue > worst_e) worst_e = ue, at_e = i;
    if (uf > worst_f) worst_f = uf, at_f = i;
  }
  fprintf(stderr, "vmath: exp within %.2f ulp, erf within %.2f ulp of libm (double)\n", worst_e, worst_f);
  ck_assert_msg(worst_e <= 2, "exp: %.2f ulp at x = %.9g (got %.9g)", worst_e, xe[at_e], ye[at_e]);
  ck_assert_msg(worst_f <= 2, "erf: %.2f ulp at x = %.9g (got %.9g)", worst_f, xf[at_f], yf[at_f]);
  free(xe), free(xf), free(ye), free(yf);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- binary ops with broadcasting ----------------------------------------------- */
START_TEST(binary_ops_broadcast) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "binary");
  ir_shape sa = SHAPE(2, 3, 4, 5), sb = SHAPE(3, 1, 5), sc = SHAPE(4, 1), sd = SHAPE(1, 6);
  ir_shape so = SHAPE(4, 6);
  ir_value_id a = ct_val(g, "a", IR_F32, sa), b = ct_val(g, "b", IR_F32, sb);
  ir_value_id c = ct_val(g, "c", IR_F32, sc), d = ct_val(g, "d", IR_F32, sd);
  ir_value_id add = ct_val(g, "add", IR_F32, sa), sub = ct_val(g, "sub", IR_F32, sa);
  ir_value_id mul = ct_val(g, "mul", IR_F32, so), div = ct_val(g, "div", IR_F32, sa);
  ir_value_id less = ct_val(g, "less", IR_BOOL, sa), mx = ct_val(g, "max", IR_F32, sa);
  ir_value_id where = ct_val(g, "where", IR_F32, sa), pw = ct_val(g, "pow", IR_F32, so);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){a, b}, add);
  ct_node(g, IR_OP_SUB, 2, (ir_value_id[]){b, a}, sub);
  ct_node(g, IR_OP_MUL, 2, (ir_value_id[]){c, d}, mul);
  ct_node(g, IR_OP_DIV, 2, (ir_value_id[]){a, b}, div);
  ct_node(g, IR_OP_LESS, 2, (ir_value_id[]){a, b}, less);
  ct_node(g, IR_OP_MAX, 3, (ir_value_id[]){a, b, add}, mx);
  ct_node(g, IR_OP_WHERE, 3, (ir_value_id[]){less, a, b}, where);
  ct_node(g, IR_OP_POW, 2, (ir_value_id[]){d, c}, pw);
  ir_value_id outs_v[] = {add, sub, mul, div, less, mx, where, pw};
  ct_io(g, 4, (ir_value_id[]){a, b, c, d}, 8, outs_v);
  cg_jit *j = ct_jit(&ctx, g);

  float A[120], Bv[15], C[4], D[6], ADD[120], SUB[120], MUL[24], DIV[120], MAX[120], WH[120],
      POW[24];
  uint8_t LESS[120];
  ct_fill(A, 120, 1, -2, 2);
  ct_fill(Bv, 15, 2, 0.5f, 2);
  ct_fill(C, 4, 3, 0.5f, 2);
  ct_fill(D, 6, 4, 0.5f, 3);
  const void *ins[] = {A, Bv, C, D};
  void *outs[] = {ADD, SUB, MUL, DIV, LESS, MAX, WH, POW};
  ck_assert_int_eq(ct_run(cg_jit_model(j), ins, outs, 2), KILN_OK);
  double w[6][120];
  for (int64_t i = 0; i < 120; i++) {
    double x = A[i], y = Bv[ct_bidx(&sa, &sb, i)];
    w[0][i] = x + y;
    w[1][i] = y - x;
    w[2][i] = x / y;
    w[3][i] = fmax(fmax(x, y), (float)(x + y));
    w[4][i] = x < y ? x : y;
    ck_assert_int_eq(LESS[i], x < y);
  }
  ct_close(ADD, w[0], 120, 1e-6, "Add");
  ct_close(SUB, w[1], 120, 1e-6, "Sub");
  ct_close(DIV, w[2], 120, 1e-6, "Div");
  ct_close(MAX, w[3], 120, 1e-6, "Max");
  ct_close(WH, w[4], 120, 0, "Where");
  for (int64_t i = 0; i < 24; i++) {
    w[5][i] = (double)C[i / 6] * D[i % 6];
    w[0][i] = pow(D[i % 6], C[i / 6]);
  }
  ct_close(MUL, w[5], 24, 1e-6, "Mul (outer product)");
  ct_close(POW, w[0], 24, 1e-5, "Pow");
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

START_TEST(integer_ops) {
  /* int64 add with broadcasting, int32 division that must not trap, casts */
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "ints");
  ir_shape s = SHAPE(2, 4), r = SHAPE(4);
  ir_value_id a = ct_val(g, "a", IR_I64, s), b = ct_val(g, "b", IR_I64, r);
  ir_value_id p = ct_val(g, "p", IR_I32, r), q = ct_val(g, "q", IR_I32, r);
  ir_value_id sum = ct_val(g, "sum", IR_I64, s), quo = ct_val(g, "quo", IR_I32, r);
  ir_value_id md = ct_val(g, "mod", IR_I32, r), f = ct_val(g, "f", IR_F32, s);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){a, b}, sum);
  ct_node(g, IR_OP_DIV, 2, (ir_value_id[]){p, q}, quo);
  ct_node(g, IR_OP_MOD, 2, (ir_value_id[]){p, q}, md);
  ir_node_id cast = ct_node(g, IR_OP_CAST, 1, &sum, f);
  ir_set_attr_int(g, cast, "to", IR_F32);
  ct_io(g, 4, (ir_value_id[]){a, b, p, q}, 4, (ir_value_id[]){sum, quo, md, f});
  cg_jit *j = ct_jit(&ctx, g);
  int64_t A[8] = {1, -2, 3, 1LL << 40, 5, 6, -7, 8}, Bv[4] = {10, 20, 30, 40}, SUM[8];
  int32_t P[4] = {7, -7, 5, INT32_MIN}, Q[4] = {2, 2, 0, -1}, QUO[4], MOD[4];
  float F[8];
  const void *ins[] = {A, Bv, P, Q};
  void *outs[] = {SUM, QUO, MOD, F};
  ck_assert_int_eq(ct_run(cg_jit_model(j), ins, outs, 1), KILN_OK);
  for (int i = 0; i < 8; i++) {
    ck_assert_int_eq(SUM[i], A[i] + Bv[i % 4]);
    ck_assert(F[i] == (float)SUM[i]);
  }
  ck_assert_int_eq(QUO[0], 3);
  ck_assert_int_eq(QUO[1], -3);  /* truncation, like C */
  ck_assert_int_eq(QUO[2], 0);   /* x / 0 is defined as 0 instead of trapping */
  ck_assert_int_eq(QUO[3], INT32_MIN); /* MIN / -1 wraps instead of trapping */
  ck_assert_int_eq(MOD[0], 1);
  ck_assert_int_eq(MOD[1], 1);   /* fmod=0: the sign of the divisor */
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST



START_TEST(scalars_empty_tensors_and_constant_outputs) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "edge");
  ir_shape scalar = {.rank = 0}, empty = SHAPE(0, 3), cs = SHAPE(2);
  float cdata[2] = {4.5f, -1};
  ir_value_id a = ct_val(g, "a", IR_F32, scalar), b = ct_val(g, "b", IR_F32, scalar);
  ir_value_id e = ct_val(g, "e", IR_F32, empty), c = ir_add_const(g, "c", IR_F32, &cs, cdata, 8, false);
  ir_value_id s = ct_val(g, "s", IR_F32, scalar), er = ct_val(g, "er", IR_F32, empty);
  ir_value_id sc = ct_val(g, "sc", IR_F32, cs);
  ct_node(g, IR_OP_MUL, 2, (ir_value_id[]){a, b}, s);
  ct_node(g, IR_OP_RELU, 1, &e, er);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){c, s}, sc); /* scalar broadcast over a constant */
  ct_io(g, 3, (ir_value_id[]){a, b, e}, 4, (ir_value_id[]){s, er, c, sc});
  cg_jit *j = ct_jit(&ctx, g);
  float A = 1.5f, Bv = -2, E[1], S = 0, ER[1] = {7}, C[2] = {0, 0}, SC[2];
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){&A, &Bv, E}, (void *[]){&S, ER, C, SC}, 2),
                   KILN_OK);
  ck_assert(S == -3.0f);
  ck_assert(ER[0] == 7); /* nothing written for an empty tensor */
  ck_assert(C[0] == 4.5f && C[1] == -1);
  ck_assert(SC[0] == 1.5f && SC[1] == -4);
  ck_assert_int_eq(cg_jit_model(j)->inputs[0].rank, 0);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------ */
/* A network big enough that every node runs through rt_parallel_for:
 * Conv -> Relu -> Add(bias) -> Softmax(axis 1) -> Reshape -> MatMul. */
static ir_graph *big_graph(kiln_ctx *ctx, float *w, float *bias, float *mat) {
  ir_graph *g = ir_graph_new(ctx, "big");
  g->opset = 17;
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(2, 8, 40, 40));
  ct_fill(w, 16 * 8 * 9, 7, -0.3f, 0.3f);
  ct_fill(bias, 16, 8, -1, 1);
  ct_fill(mat, 40 * 24, 9, -1, 1);
  ir_shape ws = SHAPE(16, 8, 3, 3), bs = SHAPE(16, 1, 1), ms = SHAPE(40, 24);
  ir_value_id W = ir_add_const(g, "w", IR_F32, &ws, w, 16 * 8 * 9 * 4, false);
  ir_value_id B = ir_add_const(g, "b", IR_F32, &bs, bias, 16 * 4, false);
  ir_value_id M = ir_add_const(g, "m", IR_F32, &ms, mat, 40 * 24 * 4, false);
  ir_value_id c = ct_val(g, "c", IR_F32, SHAPE(2, 16, 40, 40));
  ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(2, 16, 40, 40));
  ir_value_id a = ct_val(g, "a", IR_F32, SHAPE(2, 16, 40, 40));
  ir_value_id sm = ct_val(g, "sm", IR_F32, SHAPE(2, 16, 40, 40));
  ir_value_id rs = ct_val(g, "rs", IR_F32, SHAPE(32, 40, 40));
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(32, 40, 24));
  ir_node_id conv = ct_node(g, IR_OP_CONV, 2, (ir_value_id[]){x, W}, c);
  ir_set_attr_ints(g, conv, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  ct_node(g, IR_OP_RELU, 1, &c, r);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){r, B}, a);
  ir_node_id sn = ct_node(g, IR_OP_SOFTMAX, 1, &a, sm);
  ir_set_attr_int(g, sn, "axis", 1);
  ct_node(g, IR_OP_RESHAPE, 1, &sm, rs);
  ct_node(g, IR_OP_MAT_MUL, 2, (ir_value_id[]){rs, M}, y);
  ct_io(g, 1, &x, 2, (ir_value_id[]){y, sm});
  return g;
}

START_TEST(results_identical_for_any_thread_count) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  static float w[16 * 8 * 9], bias[16], mat[40 * 24];
  ir_graph *g = big_graph(&ctx, w, bias, mat);
  cg_jit *j = ct_jit(&ctx, g);
  const kiln_model *m = cg_jit_model(j);
  enum { NX = 2 * 8 * 40 * 40, NY = 32 * 40 * 24, NS = 2 * 16 * 40 * 40 };
  float *x = malloc(NX * 4), *y[3], *sm[3];
  ct_fill(x, NX, 11, -1, 1);
  int threads[3] = {1, 2, 4};
  for (int t = 0; t < 3; t++) {
    y[t] = malloc(NY * 4);
    sm[t] = malloc(NS * 4);
    const void *ins[] = {x};
    void *outs[] = {y[t], sm[t]};
    ck_assert_int_eq(ct_run(m, ins, outs, threads[t]), KILN_OK);
  }
  for (int t = 1; t < 3; t++) {
    ck_assert_msg(!memcmp(y[0], y[t], NY * 4), "MatMul output differs with %d threads", threads[t]);
    ck_assert_msg(!memcmp(sm[0], sm[t], NS * 4), "Softmax output differs with %d threads", threads[t]);
  }
  /* and the numbers are right: softmax over channels sums to 1 */
  for (int p = 0; p < 1600; p += 37) {
    double sum = 0;
    for (int ch = 0; ch < 16; ch++) sum += sm[0][ch * 1600 + p];
    ck_assert_msg(fabs(sum - 1) < 1e-5, "softmax sum %g", sum);
  }
  for (int t = 0; t < 3; t++) {
    free(y[t]);
    free(sm[t]);
  }
  free(x);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST


/* Two threads run one model at once, each with its own workspace and 2
 * threads asked for: one gets the pool, the other runs alone; both must
 * produce the single-threaded result. */
typedef struct run_job {
  const kiln_model *m;
  const float *x;
  float *y, *sm;
  int status;
} run_job;

static void *run_job_main(void *arg) {
  run_job *jb = arg;
  for (int rep = 0; rep < 5 && !jb->status; rep++)
    jb->status = ct_run(jb->m, (const void *[]){jb->x}, (void *[]){jb->y, jb->sm}, 2);
  return NULL;
}

START_TEST(concurrent_runs_agree) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  static float w[16 * 8 * 9], bias[16], mat[40 * 24];
  ir_graph *g = big_graph(&ctx, w, bias, mat);
  cg_jit *j = ct_jit(&ctx, g);
  enum { NX = 2 * 8 * 40 * 40, NY = 32 * 40 * 24, NS = 2 * 16 * 40 * 40 };
  float *x = malloc(NX * 4), *ref_y = malloc(NY * 4), *ref_sm = malloc(NS * 4);
  ct_fill(x, NX, 12, -1, 1);
  ck_assert_int_eq(ct_run(cg_jit_model(j), (const void *[]){x}, (void *[]){ref_y, ref_sm}, 1), KILN_OK);
  run_job jobs[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    jobs[i] = (run_job){cg_jit_model(j), x, malloc(NY * 4), malloc(NS * 4), 0};
    ck_assert_int_eq(pthread_create(&t[i], NULL, run_job_main, &jobs[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    ck_assert_int_eq(jobs[i].status, KILN_OK);
    ck_assert(!memcmp(jobs[i].y, ref_y, NY * 4));
    ck_assert(!memcmp(jobs[i].sm, ref_sm, NS * 4));
    free(jobs[i].y);
    free(jobs[i].sm);
  }
  free(x);
  free(ref_y);
  free(ref_sm);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- run's argument checks ------------------------------------------------------------ */
START_TEST(run_checks_arguments) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(4)), h = ct_val(g, "h", IR_F32, SHAPE(4));
  ir_value_id y = ct_val(g, "y", IR_F32, SHAPE(4));
  ct_node(g, IR_OP_EXP, 1, &x, h); /* h lives in the workspace */
  ct_node(g, IR_OP_NEG, 1, &h, y);
  ct_io(g, 1, &x, 1, &y);
  cg_jit *j = ct_jit(&ctx, g);
  const kiln_model *m = cg_jit_model(j);
  ck_assert_uint_ge(m->workspace_size, 16);
  ck_assert_uint_eq(m->workspace_size % 64, 0);
  float in[4] = {0, 1, 2, 3}, out[4];
  const void *ins[] = {in}, *no_in[] = {NULL};
  void *outs[] = {out}, *no_out[] = {NULL};
  char *buf = aligned_alloc(64, m->workspace_size + 64);
  kiln_run_options bad = {.num_threads = -1};
  ck_assert_int_eq(m->run(NULL, outs, buf, NULL), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(ins, NULL, buf, NULL), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(no_in, outs, buf, NULL), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(ins, no_out, buf, NULL), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(ins, outs, NULL, NULL), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(ins, outs, buf, &bad), KILN_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(m->run(ins, outs, buf + 8, NULL), KILN_ERR_MISALIGNED);
  ck_assert_int_eq(m->run(ins, outs, buf + 32, NULL), KILN_ERR_MISALIGNED);
  ck_assert_int_eq(m->run(ins, outs, buf, NULL), KILN_OK);
  for (int i = 0; i < 4; i++) ck_assert(out[i] == -expf(in[i]));
  ck_assert_str_eq(m->name, "m");
  ck_assert_int_eq(m->num_inputs, 1);
  ck_assert_str_eq(m->inputs[0].name, "x");
  ck_assert_int_eq(m->inputs[0].dtype, KILN_F32);
  ck_assert_int_eq(m->outputs[0].rank, 1);
  ck_assert_int_eq(m->outputs[0].shape[0], 4);
  free(buf);
  cg_jit_free(j);
  ir_graph_free(g);
}
END_TEST

/* ---- diagnostics ------------------------------------------------------------------------ */
START_TEST(unsupported_nodes_all_reported) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  char *text = NULL;
  size_t len = 0;
  ctx.diag_stream = open_memstream(&text, &len);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(4)), a = ct_val(g, "a", IR_F32, SHAPE(4));
  ir_value_id b = ct_val(g, "b", IR_F32, SHAPE(4)), y = ct_val(g, "y", IR_F32, SHAPE(4));
  ir_add_node(g, IR_OP_BERNOULLI, "first_bad", 1, &x, 1, &a);
  ir_add_node(g, IR_OP_RELU, "fine", 1, &a, 1, &b);
  ir_add_node(g, IR_OP_RANDOM_UNIFORM_LIKE, "second_bad", 1, &b, 1, &y);
  ct_io(g, 1, &x, 1, &y);
  kiln_options o = ct_options();
  cg_jit *j = NULL;
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_ptr_null(j);
  fflush(ctx.diag_stream);
  ck_assert_int_eq(ctx.num_errors, 2);
  ck_assert_msg(strstr(text, "node 'first_bad' (Bernoulli)"), "%s", text);
  ck_assert_msg(strstr(text, "node 'second_bad' (RandomUniformLike)"), "%s", text);
  fclose(ctx.diag_stream);
  free(text);
  ir_graph_free(g);
}
END_TEST

START_TEST(symbolic_dims_rejected) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_shape s = SHAPE(1, 4);
  s.dims[0] = ir_dim_from_sym(ir_sym(g, "N"));
  ir_value_id x = ct_val(g, "x", IR_F32, s), y = ct_val(g, "y", IR_F32, s);
  ct_node(g, IR_OP_RELU, 1, &x, y);
  ct_io(g, 1, &x, 1, &y);
  kiln_options o = ct_options();
  cg_jit *j = NULL;
  ck_assert_int_eq(cg_jit_compile(&ctx, g, &o, "m", &j), KILN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(ctx.last_error, "--shape"), "%s", ctx.last_error);
  ir_graph_free(g);
}
END_TEST

START_TEST(c_identifiers) {
  char buf[64];
  cg_c_identifier("input.1", buf, sizeof buf);
  ck_assert_str_eq(buf, "input_1");
  cg_c_identifier("0x", buf, sizeof buf);
  ck_assert_str_eq(buf, "_0x");
  cg_c_identifier("int", buf, sizeof buf);
  ck_assert_str_eq(buf, "int_");
  cg_c_identifier("workspace", buf, sizeof buf);
  ck_assert_str_eq(buf, "workspace_");
  cg_c_identifier("a/b:c", buf, sizeof buf);
  ck_assert_str_eq(buf, "a_b_c");
}
END_TEST

/* ---- the library on disk ------------------------------------------------------------------- */
static const char test_main_c[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include \"tiny.h\"\n"
    "int main(void) {\n"
    "  float x[2 * 3], y[2 * 3], p[2 * 3];\n"
    "  for (int i = 0; i < 6; i++) x[i] = (float)i / 2 - 1.25f;\n"
    "  void *ws = aligned_alloc(64, tiny_WORKSPACE_SIZE ? tiny_WORKSPACE_SIZE : 64);\n"
    "  kiln_run_options opt = {.num_threads = 2};\n"
    "  int st = tiny_run_typed(x, y, p, ws, &opt);\n"
    "  if (st) { printf(\"status %d: %s\\n\", st, kiln_status_string(st)); return 1; }\n"
    "  for (int i = 0; i < 6; i++) printf(\"%.9g %.9g\\n\", y[i], p[i]);\n"
    "  printf(\"%s %d %d %s\\n\", tiny_model.name, tiny_model.num_inputs, tiny_model.num_outputs,\n"
    "         tiny_model.outputs[1].name);\n"
    "  printf(\"%s\\n\", kiln_status_string(KILN_ERR_MISALIGNED));\n"
    "  free(ws);\n"
    "  return 0;\n"
    "}\n";

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

START_TEST(library_links_with_system_cc) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "tiny");
  g->opset = 17;
  float bias[3] = {0.5f, -1, 2};
  ir_shape bs = SHAPE(3);
  ir_value_id x = ct_val(g, "input.1", IR_F32, SHAPE(2, 3));
  ir_value_id b = ir_add_const(g, "bias", IR_F32, &bs, bias, sizeof bias, false);
  ir_value_id r = ct_val(g, "r", IR_F32, SHAPE(2, 3)), y = ct_val(g, "y", IR_F32, SHAPE(2, 3));
  ir_value_id p = ct_val(g, "probs", IR_F32, SHAPE(2, 3));
  ct_node(g, IR_OP_RELU, 1, &x, r);
  ct_node(g, IR_OP_ADD, 2, (ir_value_id[]){r, b}, y);
  ct_node(g, IR_OP_SOFTMAX, 1, &y, p);
  ct_io(g, 1, &x, 2, (ir_value_id[]){y, p});

  char dir[] = "/tmp/kiln-cg-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char out[512], cmd[2048], path[600];
  snprintf(out, sizeof out, "%s/out", dir);
  kiln_options o = ct_options();
  ck_assert_msg(cg_write_library(&ctx, g, &o, "tiny", out) == KILN_OK, "%s", ctx.last_error);
  snprintf(path, sizeof path, "%s/main.c", dir);
  write_text(path, test_main_c);
  snprintf(cmd, sizeof cmd,
           "cc -std=c11 -Wall -Wextra -Werror -o %s/prog %s -I%s %s/libtiny.a -lpthread -lm && "
           "%s/prog > %s/out.txt",
           dir, path, out, out, dir, dir);
  ck_assert_msg(system(cmd) == 0, "building or running the program failed: %s", cmd);

  snprintf(path, sizeof path, "%s/out.txt", dir);
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  float got_y[6], got_p[6];
  for (int i = 0; i < 6; i++) ck_assert_int_eq(fscanf(f, "%g %g", &got_y[i], &got_p[i]), 2);
  char name[32], outname[32], status[128];
  int nin, nout;
  ck_assert_int_eq(fscanf(f, "%31s %d %d %31s ", name, &nin, &nout, outname), 4);
  ck_assert_ptr_nonnull(fgets(status, sizeof status, f));
  fclose(f);
  ck_assert_str_eq(name, "tiny");
  ck_assert_int_eq(nin, 1);
  ck_assert_int_eq(nout, 2);
  ck_assert_str_eq(outname, "probs");
  ck_assert_ptr_nonnull(strstr(status, "aligned"));
  double want_y[6], want_p[6];
  for (int row = 0; row < 2; row++) {
    double sum = 0;
    for (int c = 0; c < 3; c++) {
      double xv = (float)(row * 3 + c) / 2 - 1.25f;
      want_y[row * 3 + c] = (xv < 0 ? 0 : xv) + bias[c];
      sum += exp(want_y[row * 3 + c]);
    }
    for (int c = 0; c < 3; c++) want_p[row * 3 + c] = exp(want_y[row * 3 + c]) / sum;
  }
  ct_close(got_y, want_y, 6, 1e-6, "y");
  ct_close(got_p, want_p, 6, 1e-6, "probs");

  /* the header declares what the archive defines, with C-safe names */
  snprintf(path, sizeof path, "%s/tiny.h", out);
  f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  ck_assert_ptr_nonnull(strstr(text, "extern const kiln_model tiny_model;"));
  ck_assert_ptr_nonnull(strstr(text, "const float *input_1,"));
  ck_assert_ptr_nonnull(strstr(text, "float *probs,"));
  ck_assert_ptr_nonnull(strstr(text, "#define tiny_WORKSPACE_SIZE"));
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
  ir_graph_free(g);
}
END_TEST

/* Cross targets with and without runtime objects: test_targets.c. */
START_TEST(unknown_target_is_refused) {
  kiln_ctx ctx;
  tu_ctx(&ctx);
  ir_graph *g = ir_graph_new(&ctx, "t");
  ir_value_id x = ct_val(g, "x", IR_F32, SHAPE(4)), y = ct_val(g, "y", IR_F32, SHAPE(4));
  ct_node(g, IR_OP_RELU, 1, &x, y);
  ct_io(g, 1, &x, 1, &y);
  kiln_options o = ct_options();
  o.target = "no-such-arch-linux";
  ck_assert_int_eq(cg_write_library(&ctx, g, &o, "t", "/nonexistent/dir"), KILN_ERR_INVALID_ARGUMENT);
  ir_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("codegen");
  TCase *tc = tcase_create("elementwise");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, unary_ops_match_reference);
  tcase_add_test(tc, exp_erf_within_two_ulp);
  tcase_add_test(tc, binary_ops_broadcast);
  tcase_add_test(tc, integer_ops);
  tcase_add_test(tc, scalars_empty_tensors_and_constant_outputs);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipeline");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, results_identical_for_any_thread_count);
  tcase_add_test(tc, concurrent_runs_agree);
  tcase_add_test(tc, run_checks_arguments);
  tcase_add_test(tc, unsupported_nodes_all_reported);
  tcase_add_test(tc, symbolic_dims_rejected);
  tcase_add_test(tc, c_identifiers);
  tcase_add_test(tc, library_links_with_system_cc);
  tcase_add_test(tc, unknown_target_is_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
