/*
 * cmd_tune.c — `kiln tune MODEL.onnx -o TUNING.yaml`: measure schedules for
 * this machine and keep the fastest in a tuning database (docs/tuning.md).
 *
 * 1. The model goes through the pipeline up to fuse-ops: the graph whose
 *    heavy kernels reorder-layout will schedule, with the activations
 *    planned as that pass plans them (blocked or plain), which decides a
 *    convolution's kernel.  Each node the GEMM generator, the direct
 *    convolution or the blocked depthwise kernel computes is a kernel;
 *    nodes with one signature (cg_kernel_signature, which names the
 *    algorithm) are one kernel, measured once.
 * 2. Candidates: every register block that fits the vector registers,
 *    crossed with a few kc, mc, nc, unroll and parallel splits (for the
 *    depthwise kernel: pixels per tile and rows per item), ranked by an
 *    analytical cost model per kernel (cost_gemm, cost_direct,
 *    cost_depthwise below: FMA issue against loads and latency, padding,
 *    bytes from L1/L2/memory, the balance of parallel items over the
 *    threads).  The model only orders the space; the measurement decides.
 * 3. Measuring: a candidate is the kernel alone, in a one-node graph with
 *    its `schedule` attribute set, run through reorder-layout and
 *    plan-memory and JIT-compiled; it runs on fixed generated inputs for
 *    warm-up runs, then timed repeats; the time is the median of the
 *    repeats inside Tukey's fences (outliers of a shared machine out).  Its
 *    output must match the default schedule's within what a changed
 *    summation order can explain, or it is rejected and reported.
 * 4. Search: the top of the ranking first (half the kernel's budget), then
 *    hill climbing from the best (one field changed at a time) until its
 *    budget is spent or no neighbour is faster.  The budget (--budget) is
 *    split across kernels by their share of the model's time under the
 *    default schedules (each timed briefly first).
 * 5. The winner and the default are re-timed alternately (a few rounds),
 *    so a lucky sample on a noisy machine does not pick a loser; the
 *    winner is kept only if it is still faster by more than 3%.  Records are added to -o
 *    (an existing file is read first; the faster record per key is kept).
 *
 * All measuring happens in this process on this machine, so the records
 * are keyed by the host's triple, CPU and features.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg.h"
#include "driver.h"
#include "kernels/conv_nchwc.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"
#include "kernels/gemm_int8.h"
#include "kernels/tuning.h"
#include "passes.h"

/* Caches the cost model assumes (the target descriptions do not give
 * cache sizes yet): a 32 KiB L1 and a 1 MiB L2 per core. */
enum { L1_BYTES = 32 << 10, L2_BYTES = 1 << 20 };

typedef struct kernel {
  ir_node_id node;   /* first node with this signature */
  char *sig;
  int uses;          /* nodes with this signature */
  double flops;      /* of one use */
  cg_conv_algo algo; /* which generator: GEMM, direct convolution, blocked depthwise */
  cg_gemm_shape shape; /* algo GEMM */
  cg_nchwc_shape conv; /* algo direct */
  cg_dw_shape dw;      /* algo depthwise */
  bool int8;           /* kiln.QConv / kiln.QMatMul on kernels/gemm_int8.c */
  cg_qgemm_shape q;    /* int8 */
  int64_t K;         /* products summed per output (the rounding tolerance) */
  cg_schedule def;
  double weight;     /* its share of the budget: the default's time x uses */
} kernel;

typedef struct candidate {
  cg_schedule s;
  double cost;
} candidate;

/* A compiled kernel, ready to be timed again: in this process (jit), or
 * a program for --target that the --runner command runs (prog). */
typedef struct compiled {
  cg_jit *jit;
  const kiln_model *m;
  void **ins, **outs;
  void *ws;
  char *prog;        /* --runner: the program's path */
  float *sample;     /* --runner: the output values it printed */
  int64_t nsample;
} compiled;

typedef struct tuner {
  kiln_ctx *ctx;
  kiln_ctx quiet;        /* candidates' diagnostics: kept, not printed */
  const drv_args *a;
  ir_graph *g;
  cg_target_caps caps;
  int threads;
  bool tty;
  double t_start, budget;
  int done, total;       /* kernels */
  int measured;          /* candidates, all kernels */
  double best_gain;
  const cg_target *target; /* what the records are keyed by */
  const char *runner;      /* --runner template, NULL: measure here */
  char dir[64];            /* --runner: scratch folder of libraries and programs */
  int seq;                 /* programs built */
} tuner;

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

/* ---- the one-node graph ------------------------------------------------------------- */
static void push(ir_graph *g, ir_value_id **list, int32_t *count, ir_value_id v) {
  ir_value_id *l = ir_arena_alloc(&g->arena, ((size_t)*count + 1) * sizeof *l);
  if (*count) memcpy(l, *list, (size_t)*count * sizeof *l);
  l[(*count)++] = v;
  *list = l;
}

/* The layout a value of the one-node graph keeps: blocked activations
 * stay blocked (the kernel reads and writes them in place, and the
 * signature names the layout), anything else is plain. */
static ir_layout blocked_or_plain(const ir_value *x) {
  return x->layout.kind == IR_LAYOUT_BLOCKED ? x->layout : (ir_layout){0};
}

/* Node n of g alone: its constants (borrowed from g), its other inputs as
 * graph inputs (blocked ones too: the timing inputs are buffers of the
 * same size), its outputs as graph outputs, its attributes, and the
 * schedule text. */
static ir_graph *kernel_graph(kiln_ctx *ctx, const ir_graph *g, ir_node_id n, const char *sched) {
  ir_graph *k = ir_graph_new(ctx, "kernel");
  const ir_node *nd = &g->nodes[n];
  ir_value_id ins[64], outs[8];
  int ni = nd->num_inputs < 64 ? nd->num_inputs : 64, no = nd->num_outputs < 8 ? nd->num_outputs : 8;
  for (int i = 0; i < ni; i++) {
    ir_value_id v = nd->inputs[i];
    ins[i] = IR_NONE;
    if (v < 0) continue;
    const ir_value *x = &g->values[v];
    ir_value_id have = ir_find_value(k, x->name);
    if (have >= 0) {
      ins[i] = have;
    } else if (x->storage == IR_STORAGE_CONST) {
      ins[i] = ir_add_const(k, x->name, x->dtype, &x->shape, ir_const_data(g, v), x->nbytes, true);
    } else {
      ins[i] = ir_add_value(k, x->name, x->dtype, &x->shape);
      k->values[ins[i]].storage = IR_STORAGE_INPUT;
      k->values[ins[i]].layout = blocked_or_plain(x);
      push(k, &k->inputs, &k->num_inputs, ins[i]);
    }
    k->values[ins[i]].quant = x->quant; /* an int8 kernel's scales (g outlives k) */
  }
  for (int o = 0; o < no; o++) {
    ir_value_id v = nd->outputs[o];
    outs[o] = IR_NONE;
    if (v < 0) continue;
    outs[o] = ir_add_value(k, g->values[v].name, g->values[v].dtype, &g->values[v].shape);
    k->values[outs[o]].storage = IR_STORAGE_OUTPUT;
    k->values[outs[o]].layout = blocked_or_plain(&g->values[v]);
    k->values[outs[o]].quant = g->values[v].quant;
    push(k, &k->outputs, &k->num_outputs, outs[o]);
  }
  ir_node_id kn = ir_add_node(k, nd->op, nd->name, ni, ins, no, outs);
  ir_node *dst = &k->nodes[kn];
  dst->attrs = ir_arena_alloc(&k->arena, (size_t)nd->num_attrs * sizeof *dst->attrs + 1);
  for (int a = 0; a < nd->num_attrs; a++)
    if (strcmp(nd->attrs[a].name, "schedule") && nd->attrs[a].kind != IR_ATTR_GRAPH)
      dst->attrs[dst->num_attrs++] = nd->attrs[a];
  if (sched) ir_set_attr_string(k, kn, "schedule", sched);
  ir_graph_recount_uses(k);
  return k;
}

static void compiled_free(kiln_ctx *ctx, compiled *c) {
  if (c->prog) {
    unlink(c->prog);
    kiln_free(ctx, c->prog);
    kiln_free(ctx, c->sample);
    memset(c, 0, sizeof *c);
    return;
  }
  if (!c->jit) return;
  for (int i = 0; i < c->m->num_inputs; i++) kiln_free(ctx, c->ins[i]);
  for (int o = 0; o < c->m->num_outputs; o++) kiln_free(ctx, c->outs[o]);
  kiln_free(ctx, c->ins);
  kiln_free(ctx, c->outs);
  free(c->ws);
  cg_jit_free(c->jit);
  memset(c, 0, sizeof *c);
}

static int64_t numel_of(const kiln_tensor_info *t) {
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= t->shape[d];
  return n;
}

/* ---- --runner: a program per candidate ------------------------------------------- */
/* The program the runner runs: the kernel's library, generated inputs (the
 * same generator and seed as in process), warm-up, repeats, and on stdout
 * the robust median and up to 256 evenly spaced values of the first output,
 * which stand for the output in the comparison with the default's. */
static const char harness_c[] =
    "#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <time.h>\n"
    "#include \"kernel.h\"\n"
    "static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);\n"
    "  return (double)t.tv_sec + t.tv_nsec * 1e-9; }\n"
    "static int cmp(const void *a, const void *b) { double x = *(const double *)a, "
    "y = *(const double *)b; return x < y ? -1 : x > y; }\n"
    "static int64_t numel(const kiln_tensor_info *t) { int64_t n = 1; "
    "for (int d = 0; d < t->rank; d++) n *= t->shape[d]; return n; }\n"
    "int main(void) {\n"
    "  const kiln_model *m = &kernel_model;\n"
    "  void *in[64], *out[8]; uint64_t seed = 7;\n"
    "  for (int i = 0; i < m->num_inputs && i < 64; i++) {\n"
    "    int64_t n = numel(&m->inputs[i]); float *x = calloc((size_t)n * 8 + 8, 1); in[i] = x;\n"
    "    if (m->inputs[i].dtype == KILN_F32) for (int64_t e = 0; e < n; e++) {\n"
    "      seed = seed * 6364136223846793005ull + 1442695040888963407ull;\n"
    "      x[e] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 2 - 1); }\n"
    "    if (m->inputs[i].dtype == KILN_U8 || m->inputs[i].dtype == KILN_I8) for (int64_t e = 0; e < n; e++) {\n"
    "      seed = seed * 6364136223846793005ull + 1442695040888963407ull;\n"
    "      ((uint8_t *)x)[e] = (uint8_t)(seed >> 56); } }\n"
    "  for (int o = 0; o < m->num_outputs && o < 8; o++) "
    "out[o] = calloc((size_t)numel(&m->outputs[o]) * 8 + 8, 1);\n"
    "  void *ws = aligned_alloc(64, (m->workspace_size + 127) / 64 * 64);\n"
    "  kiln_run_options ro = {.num_threads = THREADS};\n"
    "  double t0 = now();\n"
    "  for (int w = 0; w < 2; w++) if (m->run((const void *const *)in, out, ws, &ro)) return 1;\n"
    "  double one = (now() - t0) / 2; int reps = one > 0 ? (int)(0.05 / one) : 200;\n"
    "  if (reps < 5) reps = 5; if (reps > 200) reps = 200;\n"
    "  double s[200];\n"
    "  for (int r = 0; r < reps; r++) { double a = now();\n"
    "    if (m->run((const void *const *)in, out, ws, &ro)) return 1; s[r] = now() - a; }\n"
    "  qsort(s, (size_t)reps, sizeof *s, cmp);\n"
    "  double q1 = s[reps / 4], q3 = s[3 * reps / 4], iqr = q3 - q1; int lo = 0, hi = reps;\n"
    "  while (lo < reps && s[lo] < q1 - 1.5 * iqr) lo++;\n"
    "  while (hi > lo && s[hi - 1] > q3 + 1.5 * iqr) hi--;\n"
    "  printf(\"kiln-time-us: %.9g\\n\", s[lo + (hi - lo) / 2] * 1e6);\n"
    "  int64_t n = numel(&m->outputs[0]), step = n > 256 ? n / 256 : 1;\n"
    "  for (int64_t i = 0; i < n; i += step) printf(\"kiln-check: %.9g\\n\",\n"
    "    m->outputs[0].dtype == KILN_U8 ? (double)((uint8_t *)out[0])[i]\n"
    "    : m->outputs[0].dtype == KILN_I8 ? (double)((int8_t *)out[0])[i] : (double)((float *)out[0])[i]);\n"
    "  return 0;\n}\n";

static int shell(const char *cmd) {
  int st = system(cmd);
  return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes kg as a library for the target, links the harness with it. */
static kiln_status runner_build(tuner *t, ir_graph *kg, const kiln_options *o, compiled *c) {
  char lib[96];
  snprintf(lib, sizeof lib, "%s/lib", t->dir);
  if (cg_write_library_info(&t->quiet, kg, o, "kernel", lib, NULL)) return KILN_ERR_INVALID_MODEL;
  const char *cc = t->target->host ? "cc" : t->target->desc.cross_cc;
  char prog[96], cmd[1024];
  snprintf(prog, sizeof prog, "%s/kernel%d", t->dir, t->seq++);
  snprintf(cmd, sizeof cmd, "%s -O2 %s -DTHREADS=%d -I%s %s/harness.c %s/libkernel.a -lpthread -lm "
           "-o %s 2>%s/cc.log", cc, t->target->host ? "" : "-static", t->threads, lib, t->dir, lib,
           prog, t->dir);
  if (shell(cmd)) {
    snprintf(t->quiet.last_error, sizeof t->quiet.last_error, "linking with %s failed (%s/cc.log)",
             cc, t->dir);
    return KILN_ERR_IO;
  }
  c->prog = kiln_strdup(t->ctx, prog);
  return KILN_OK;
}

/* Runs the --runner command on c's program ("{}" in the template is its
 * path, else the path is appended); the time it printed, -1 on failure. */
static double runner_time(tuner *t, compiled *c) {
  char cmd[2048];
  const char *at = strstr(t->runner, "{}");
  if (at)
    snprintf(cmd, sizeof cmd, "%.*s%s%s", (int)(at - t->runner), t->runner, c->prog, at + 2);
  else
    snprintf(cmd, sizeof cmd, "%s %s", t->runner, c->prog);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[256];
  double us = -1;
  int64_t n = 0, cap = 0;
  float *sample = NULL;
  while (fgets(line, sizeof line, p)) {
    double v;
    if (sscanf(line, "kiln-time-us: %lf", &v) == 1) us = v;
    else if (sscanf(line, "kiln-check: %lf", &v) == 1) {
      if (n == cap) sample = kiln_realloc(t->ctx, sample, (size_t)(cap = cap * 2 + 256) * sizeof *sample);
      sample[n++] = (float)v;
    }
  }
  if (pclose(p) != 0) us = -1;
  kiln_free(t->ctx, c->sample);
  c->sample = sample;
  c->nsample = n;
  return us > 0 ? us : -1;
}

/* Compiles kernel k under schedule s; inputs are filled from a fixed seed,
 * so every candidate of a kernel sees the same data. */
static kiln_status compile_kernel(tuner *t, const kernel *k, const cg_schedule *s, compiled *c) {
  memset(c, 0, sizeof *c);
  char text[160];
  cg_schedule_format(s, text, sizeof text);
  ir_graph *kg = kernel_graph(&t->quiet, t->g, k->node, text);
  kiln_options o = t->a->opt;
  o.passes = "reorder-layout,plan-memory";
  o.print_schedule = false;
  o.tuning = NULL;
  o.threads = t->threads;
  o.emit_llvm = NULL;
  o.memory_report = false;
  o.memory_svg = NULL;
  t->quiet.num_errors = 0;
  /* --runner for another target: build for it.  For the host, keep
   * "host": its triple and CPU named explicitly take the vector width from
   * the target description (4 lanes on x86_64), not from the CPU, and the
   * defaults above were made for the host's (a direct convolution's
   * schedule names its lanes, and one for 16 is refused on 4) */
  if (t->runner && !t->target->host) {
    o.target = t->target->triple;
    o.cpu = t->target->cpu;
  }
  kiln_status st = drv_prepare_for_codegen(&t->quiet, kg, &o);
  /* reorder-layout falls back to the default for a schedule it refuses */
  if (!st && strcmp(ir_attr_string_or(kg, 0, "schedule", ""), text)) {
    snprintf(t->quiet.last_error, sizeof t->quiet.last_error, "the schedule was not applied");
    st = KILN_ERR_INVALID_ARGUMENT;
  }
  if (!st) st = t->runner ? runner_build(t, kg, &o, c) : cg_jit_compile(&t->quiet, kg, &o, "kernel", &c->jit);
  ir_graph_free(kg);
  if (st) {
    compiled_free(t->ctx, c); /* nothing was compiled; a --runner program would be removed */
    memset(c, 0, sizeof *c);
    return st;
  }
  if (c->prog) return KILN_OK;
  c->m = cg_jit_model(c->jit);
  c->ins = kiln_calloc(t->ctx, (size_t)c->m->num_inputs + 1, sizeof *c->ins);
  c->outs = kiln_calloc(t->ctx, (size_t)c->m->num_outputs + 1, sizeof *c->outs);
  uint64_t seed = 7;
  for (int i = 0; i < c->m->num_inputs; i++) {
    int64_t n = numel_of(&c->m->inputs[i]);
    float *x = kiln_calloc(t->ctx, (size_t)ir_dtype_bytes((ir_dtype)c->m->inputs[i].dtype, n) + 4, 1);
    if (c->m->inputs[i].dtype == KILN_F32)
      for (int64_t e = 0; e < n; e++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[e] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 2 - 1);
      }
    if (c->m->inputs[i].dtype == KILN_U8 || c->m->inputs[i].dtype == KILN_I8) /* an int8 kernel's */
      for (int64_t e = 0; e < n; e++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ((uint8_t *)x)[e] = (uint8_t)(seed >> 56);
      }
    c->ins[i] = x;
  }
  for (int o2 = 0; o2 < c->m->num_outputs; o2++) {
    int64_t n = numel_of(&c->m->outputs[o2]);
    c->outs[o2] = kiln_calloc(t->ctx, (size_t)ir_dtype_bytes((ir_dtype)c->m->outputs[o2].dtype, n) + 4, 1);
  }
  size_t ws = (c->m->workspace_size + 63) / 64 * 64;
  c->ws = aligned_alloc(64, ws ? ws : 64);
  return KILN_OK;
}

static int cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return a < b ? -1 : a > b;
}

/* Median of the samples inside Tukey's fences (q1 - 1.5 IQR, q3 + 1.5 IQR). */
static double robust_median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  double q1 = x[n / 4], q3 = x[(3 * n) / 4], iqr = q3 - q1;
  int lo = 0, hi = n;
  while (lo < n && x[lo] < q1 - 1.5 * iqr) lo++;
  while (hi > lo && x[hi - 1] > q3 + 1.5 * iqr) hi--;
  return x[lo + (hi - lo) / 2];
}

/* Times c: warm-up runs, then repeats for about `seconds` (5 to 200);
 * the robust median in microseconds, or -1 if a run failed. */
static double time_compiled(tuner *t, compiled *c, double seconds) {
  if (c->prog) return runner_time(t, c);
  kiln_run_options ro = {.num_threads = t->threads};
  double t0 = drv_now();
  for (int w = 0; w < 2; w++)
    if (c->m->run((const void *const *)c->ins, c->outs, c->ws, &ro)) return -1;
  double one = (drv_now() - t0) / 2;
  int reps = one > 0 ? (int)(seconds / one) : 200;
  if (reps < 5) reps = 5;
  if (reps > 200) reps = 200;
  double samples[200];
  for (int r = 0; r < reps; r++) {
    double s0 = drv_now();
    if (c->m->run((const void *const *)c->ins, c->outs, c->ws, &ro)) return -1;
    samples[r] = drv_now() - s0;
  }
  return robust_median(samples, reps) * 1e6;
}

/* ---- the cost model ------------------------------------------------------------------ */
/* Estimated cycles of one run of kernel sh under schedule s: the
 * micro-kernel's issue rate, the padding of edge tiles, the bytes each
 * level of the memory hierarchy supplies, and the parallel items'
 * balance over the threads.  Only the order it gives matters. */
static double cost_gemm(const cg_target_caps *caps, const cg_gemm_shape *sh, const cg_schedule *s,
                        int threads) {
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  int nv = s->nr / s->lanes, acc = s->mr * nv;
  /* per step of k: acc FMAs and nv + mr loads at 2 per cycle, and no
   * faster than one FMA latency (4) per accumulator chain */
  double step = fmax(fmax(acc / 2.0, (nv + s->mr) / 2.0), 4.0);
  if (acc + nv + 1 > regs - 1) step *= 2.5; /* spills */
  step += 1.0 / s->unroll;                  /* loop overhead */
  int64_t Mp = round_up(sh->M, s->mr), Np = round_up(sh->N, s->nr);
  double tiles = (double)sh->batch * (double)(Mp / s->mr) * (double)(Np / s->nr);
  double compute = tiles * (double)sh->K * step;
  /* L1: the B micro-panel and the A sliver of one tile over kc */
  double l1_set = (double)s->kc * (s->nr + s->mr) * 4;
  double l1_pen = l1_set > L1_BYTES / 2 ? (double)sh->K * tiles * (s->nr + s->mr) * 4 / 32.0 : 0;
  /* L2: A's block (mc x kc) is swept by every B micro-panel of the item */
  int64_t mc = s->par == CG_PAR_N ? Mp : s->mc;
  double l2_set = (double)mc * s->kc * 4 + (double)s->kc * s->nc * 4;
  double a_bytes = (double)sh->batch * sh->M * sh->K * 4 * (double)ceil_div(sh->N, s->nc);
  double b_bytes = (double)sh->batch * sh->N * sh->K * 4 * (double)ceil_div(sh->M, mc);
  double mem = (a_bytes + b_bytes) / (l2_set > L2_BYTES / 2 ? 8.0 : 32.0);
  if (sh->b_runtime_pack) mem += b_bytes / 8.0; /* each row block gathers its columns */
  double work = compute + l1_pen + mem;
  double items = s->par == CG_PAR_NONE ? 1
                 : s->par == CG_PAR_N  ? (double)sh->batch * ceil_div(sh->N, s->nc)
                                       : (double)sh->batch * ceil_div(sh->M, mc) * ceil_div(sh->N, s->nc);
  double per_thread = ceil(items / threads);
  return work / items * per_thread + 2000.0 * per_thread;
}

/* Puts s into the form the kernel runs it in (blocks multiples of the
 * register block, no larger than the problem, par=n walking all of M),
 * so two spellings of one schedule are measured once. */
static bool normalize_gemm(const cg_target_caps *caps, const cg_gemm_shape *sh, cg_schedule *s) {
  if (s->mr < 1 || s->nr < s->lanes || s->kc < 1 || s->unroll < 1) return false;
  if (s->kc > sh->K) s->kc = sh->K;
  int64_t nk = ceil_div(sh->K, s->kc);
  s->kc = ceil_div(sh->K, nk); /* even blocks */
  s->mc = round_up(s->mc < sh->M ? s->mc : sh->M, s->mr);
  s->nc = round_up(s->nc < sh->N ? s->nc : sh->N, s->nr);
  if (s->mc < s->mr) s->mc = s->mr;
  if (s->nc < s->nr) s->nc = s->nr;
  if (s->par == CG_PAR_N || s->par == CG_PAR_NONE) s->mc = round_up(sh->M, s->mr);
  return cg_schedule_check(caps, s) == NULL;
}

static int cmp_candidate(const void *pa, const void *pb) {
  double a = ((const candidate *)pa)->cost, b = ((const candidate *)pb)->cost;
  return a < b ? -1 : a > b;
}

/* A ranked space being filled: candidates and their costs. */
typedef struct ranking {
  candidate *c;
  int n, cap;
} ranking;

/* Adds s unless one of the last 64 added is the same schedule (the loops
 * that fill a space make normalized duplicates next to each other). */
static void ranking_add(tuner *t, ranking *sp, const cg_schedule *s, double cost) {
  for (int i = sp->n - 1; i >= 0 && i >= sp->n - 64; i--)
    if (!memcmp(&sp->c[i].s, s, sizeof *s)) return;
  if (sp->n == sp->cap) sp->c = kiln_realloc(t->ctx, sp->c, (size_t)(sp->cap = sp->cap * 2 + 256) * sizeof *sp->c);
  sp->c[sp->n++] = (candidate){*s, cost};
}

/* The space ranked by cost, cheapest first. */
static candidate *ranking_sorted(ranking *sp, int *count) {
  qsort(sp->c, (size_t)sp->n, sizeof *sp->c, cmp_candidate);
  *count = sp->n;
  return sp->c;
}

/* The GEMM kernel's space, ranked by cost (deduplicated after normalizing). */
static candidate *rank_gemm(tuner *t, const kernel *k, int *count) {
  const cg_gemm_shape *sh = &k->shape;
  int regs = t->caps.vector_regs > 0 ? t->caps.vector_regs : 16;
  if (t->caps.vector_bits < 128) regs /= 4;
  static const int64_t kcs[] = {64, 128, 256, 384, 512, 1 << 30};
  static const int64_t mcs[] = {1, 48, 96, 192, 384, 1 << 30};
  static const int64_t ncs[] = {1, 64, 128, 256, 512, 1 << 30};
  static const int unrolls[] = {1, 2, 4};
  ranking sp = {0};
  for (int nv = 1; nv <= 4; nv++)
    for (int mr = 1; mr <= 16; mr++) {
      if (mr * nv + nv + 1 > regs - 1 || mr * nv > 28) continue;
      for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 6; b++)
          for (size_t d = 0; d < 6; d++)
            for (size_t u = 0; u < 3; u++)
              for (int par = CG_PAR_MN; par <= CG_PAR_N; par++) {
                cg_schedule s = {.lanes = k->def.lanes, .mr = mr, .nr = nv * k->def.lanes,
                                 .kc = kcs[a], .mc = mcs[b], .nc = ncs[d],
                                 .unroll = unrolls[u], .par = (cg_par)par};
                if (d == 0) s.nc = s.nr; /* one register block */
                if (b == 0) s.mc = s.mr;
                if (normalize_gemm(&t->caps, sh, &s)) ranking_add(t, &sp, &s, cost_gemm(&t->caps, sh, &s, t->threads));
              }
    }
  return ranking_sorted(&sp, count);
}

/* ---- the direct convolution and the blocked depthwise kernel ------------------------- */
/* Cycles of one step of the direct kernel's inner loop (one input channel
 * at one tap) for a tile of mr pixels x nv vectors: the FMAs, the weight
 * loads and pixel broadcasts at 2 per cycle, no faster than an FMA
 * latency per accumulator chain, spills past the registers. */
static double direct_step(int regs, int mr, int nv) {
  if (mr < 1) return 0;
  int acc = mr * nv;
  double step = fmax(fmax(acc / 2.0, (nv + mr) / 2.0), 4.0);
  return acc + nv + 1 > regs - 1 ? step * 2.5 : step;
}

/* Estimated cycles of one run of the direct convolution sh under s: the
 * tiles' steps (a row's short last tile at its own width), the partial
 * sums re-read per K block (lane by lane into a plain output), the
 * weights of a K block from L2 when they outgrow half of L1, an input
 * row band from L2 per panel when it outgrows L1, the input re-read per
 * channel group, and the items' balance over the threads. */
static double cost_direct(const cg_target_caps *caps, const cg_nchwc_shape *sh, const cg_schedule *s,
                          int threads) {
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  int L = s->lanes, nv = s->nr / L;
  int64_t taps = sh->KH * sh->KW, cblk = cg_nchwc_cblk(sh->C, L), cb = sh->C / cblk;
  int64_t cbs = s->kc / (taps * cblk), nkb = ceil_div(cb, cbs), panels = sh->M / s->nr;
  /* cycles per step of a row's tiles, with a cycle of loop overhead per
   * `unroll` steps of each */
  double row = (double)(sh->OW / s->mr) * direct_step(regs, s->mr, nv) +
               direct_step(regs, (int)(sh->OW % s->mr), nv) +
               (double)ceil_div(sh->OW, s->mr) / s->unroll;
  double rows = (double)sh->N * sh->OH * panels;
  double compute = rows * row * (double)sh->C * taps;
  double tiles = rows * ceil_div(sh->OW, s->mr);
  double resum = (double)(nkb - 1) * tiles * s->mr * nv * (sh->out_plain ? 2.0 * L : 2.0);
  double wbytes = (double)s->kc * s->nr * 4;
  double l1_pen = wbytes > L1_BYTES / 2 ? tiles * (double)sh->C * taps * s->nr * 4 / 32.0 : 0;
  double band = (double)sh->KH * sh->W * cbs * cblk * 4;
  double band_pen = band > L1_BYTES ? rows * nkb * band / 32.0 : 0;
  int64_t cgroups = ceil_div(panels, s->nc / s->nr), rgroups = ceil_div(sh->OH, s->mc);
  double in_bytes = (double)sh->N * cgroups * sh->C * sh->H * sh->W * 4;
  double wall = (double)s->kc * s->nc * 4 > L2_BYTES / 2
                    ? (double)sh->N * sh->OH * sh->M * sh->C * taps * 4 / 8.0 : 0;
  double work = compute + resum + l1_pen + band_pen + in_bytes / 32.0 + wall;
  double items = s->par == CG_PAR_NONE ? 1 : (double)sh->N * cgroups * rgroups;
  double per_thread = ceil(items / threads);
  return work / items * per_thread + 2000.0 * per_thread;
}

/* The direct kernel's form of s: a tile no wider than the row, kc whole
 * channel blocks x taps in even K blocks, nc whole panels in even groups,
 * mc rows in even groups, par mn; false if it cannot drive the kernel. */
static bool normalize_direct(const tuner *t, const cg_nchwc_shape *sh, cg_schedule *s) {
  if (s->mr < 1 || s->nr < s->lanes || s->nr % s->lanes || s->kc < 1 || s->mc < 1 || s->nc < 1 ||
      s->unroll < 1)
    return false;
  s->conv = CG_CONV_DIRECT;
  s->par = CG_PAR_MN;
  if (s->mr > sh->OW) s->mr = (int)sh->OW;
  if (sh->M % s->nr) return false;
  int64_t taps = sh->KH * sh->KW, cblk = cg_nchwc_cblk(sh->C, s->lanes), cb = sh->C / cblk;
  int64_t cbs = s->kc / (taps * cblk);
  if (cbs < 1) cbs = 1;
  if (cbs > cb) cbs = cb;
  cbs = ceil_div(cb, ceil_div(cb, cbs));
  s->kc = cbs * taps * cblk;
  int64_t panels = sh->M / s->nr, per = s->nc / s->nr;
  if (per < 1) per = 1;
  if (per > panels) per = panels;
  s->nc = ceil_div(panels, ceil_div(panels, per)) * s->nr;
  if (s->mc > sh->OH) s->mc = sh->OH;
  s->mc = ceil_div(sh->OH, ceil_div(sh->OH, s->mc));
  return cg_nchwc_schedule_check(&t->caps, sh, s) == NULL;
}

static candidate *rank_direct(tuner *t, const kernel *k, int *count) {
  const cg_nchwc_shape *sh = &k->conv;
  int regs = t->caps.vector_regs > 0 ? t->caps.vector_regs : 16;
  int L = k->def.lanes;
  static const int64_t cbss[] = {1, 2, 4, 8, 16, 1 << 30};
  static const int64_t ncs[] = {1, 2, 4, 1 << 30}; /* panels per item */
  static const int64_t mcs[] = {1, 2, 4, 7, 8, 14, 28, 1 << 30};
  static const int unrolls[] = {1, 2, 4};
  int64_t taps = sh->KH * sh->KW, cblk = cg_nchwc_cblk(sh->C, L);
  ranking sp = {0};
  for (int nv = 1; nv <= 4; nv++)
    for (int mr = 1; mr <= 16; mr++) {
      if (mr * nv + nv + 1 > regs - 1 || mr * nv > 28) continue;
      for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 4; b++)
          for (size_t d = 0; d < 9; d++)
            for (size_t u = 0; u < 3; u++) {
              cg_schedule s = {.lanes = L, .mr = mr, .nr = nv * L, .kc = cbss[a] * taps * cblk,
                               .nc = ncs[b] * nv * L, .mc = d < 8 ? mcs[d] : k->def.mc,
                               .unroll = unrolls[u], .par = CG_PAR_MN, .conv = CG_CONV_DIRECT};
              if (ncs[b] == 1 << 30) s.nc = sh->M;
              if (cbss[a] == 1 << 30) s.kc = sh->C * taps;
              if (normalize_direct(t, sh, &s)) ranking_add(t, &sp, &s, cost_direct(&t->caps, sh, &s, t->threads));
            }
    }
  return ranking_sorted(&sp, count);
}

/* Estimated cycles of one run of the blocked depthwise kernel: per tile
 * and kernel row, mr x KW FMAs, (mr-1)*sw + KW input and KW weight loads
 * at 2 per cycle, no faster than KW dependent FMAs per accumulator; twice
 * that past the registers; the items' balance over the threads. */
static double cost_depthwise(const cg_target_caps *caps, const cg_dw_shape *sh, const cg_schedule *s,
                             int threads) {
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  double tile[2];
  int widths[2] = {s->mr, (int)(sh->OW % s->mr)};
  for (int i = 0; i < 2; i++) {
    int mr = widths[i];
    if (mr < 1) {
      tile[i] = 0;
      continue;
    }
    double fma = (double)mr * sh->KW, loads = (double)(mr - 1) * sh->sw + 2.0 * sh->KW;
    double step = fmax(fmax(fma / 2.0, loads / 2.0), 4.0 * sh->KW);
    if (mr + (mr - 1) * sh->sw + 2 * sh->KW > regs) step *= 2.0;
    tile[i] = step * sh->KH + 2.0 * mr; /* + the epilogue and stores */
  }
  double planes = (double)sh->N * (sh->C / s->lanes);
  double work = planes * sh->OH * ((double)(sh->OW / s->mr) * tile[0] + tile[1]);
  double items = planes * ceil_div(sh->OH, s->mc);
  double per_thread = ceil(items / threads);
  return work / items * per_thread + 2000.0 * per_thread;
}

static bool normalize_depthwise(const tuner *t, const cg_dw_shape *sh, cg_schedule *s) {
  if (s->mr < 1 || s->mc < 1) return false;
  s->conv = CG_CONV_DEPTHWISE;
  s->nr = s->nc = s->lanes;
  s->kc = sh->KH * sh->KW;
  s->unroll = 1;
  s->par = CG_PAR_MN;
  if (s->mr > sh->OW) s->mr = (int)sh->OW;
  if (s->mc > sh->OH) s->mc = sh->OH;
  s->mc = ceil_div(sh->OH, ceil_div(sh->OH, s->mc));
  return cg_depthwise_schedule_check(&t->caps, sh, s) == NULL;
}

static candidate *rank_depthwise(tuner *t, const kernel *k, int *count) {
  static const int64_t mcs[] = {1, 2, 4, 7, 8, 14, 28, 56, 1 << 30};
  ranking sp = {0};
  for (int mr = 1; mr <= 16; mr++)
    for (size_t d = 0; d < 10; d++) {
      cg_schedule s = k->def;
      s.mr = mr;
      s.mc = d < 9 ? mcs[d] : k->def.mc;
      if (normalize_depthwise(t, &k->dw, &s)) ranking_add(t, &sp, &s, cost_depthwise(&t->caps, &k->dw, &s, t->threads));
    }
  return ranking_sorted(&sp, count);
}

/* Kernel k's space, ranked by its generator's cost model. */
/* ---- the int8 kernel ------------------------------------------------------------------ */
/* Estimated cycles of one run of the int8 kernel (kernels/gemm_int8.c) on
 * sh under s: per group of 4 k, mr x nv dot products (vpdpbusd, 2 per
 * cycle; the generic form widens, multiplies and adds, about 3 cycles a
 * vector), nv loads and mr broadcasts at 2 per cycle, no faster than a
 * 5-cycle latency per chain; the epilogue (about 3 cycles a vector); the
 * tail panel's unused lanes and tail tile's unused rows; the packing of
 * each column block (once: row blocks share it); the weights read again
 * per column block; the items' balance. */
static double cost_qgemm(const cg_target_caps *caps, const cg_qgemm_shape *sh, const cg_schedule *s,
                         int threads) {
  int regs = caps->vector_regs > 0 ? caps->vector_regs : 16;
  bool vnni = caps->int8_dot >= s->lanes;
  int nv = s->nr / s->lanes, acc = s->mr * nv;
  double step = fmax(fmax(vnni ? acc / 2.0 : acc * 3.0, (nv + s->mr) / 2.0), 5.0);
  if (acc + nv + 1 > regs - (vnni ? 1 : 5)) step *= 2.5; /* spills */
  double K4 = (double)ceil_div(sh->K, 4);
  /* vectors of columns computed: whole panels, then the tail's vectors */
  double vecs = (double)(sh->cols / s->nr) * nv + (double)ceil_div(sh->cols % s->nr, s->lanes);
  double tiles_m = (double)ceil_div(sh->rows, s->mr);
  double compute = (double)sh->batch * tiles_m * (vecs / nv) * (K4 * step + acc * 3.0);
  double pack = (double)sh->batch * (double)sh->cols * (double)sh->K / 16.0;
  double nb = (double)ceil_div(sh->cols, s->nc), mb = (double)ceil_div(sh->rows, s->mc);
  double weights = (double)sh->batch * nb * (double)sh->rows * (double)sh->K / 32.0;
  double work = compute + pack + weights;
  double items = (double)sh->batch * nb * mb, per_thread = ceil(items / threads);
  return work / items * per_thread + 2000.0 * per_thread;
}

/* Puts s into the form the int8 kernel runs it in (kc the whole K, blocks
 * multiples of the register block and no larger than the problem). */
static bool normalize_qgemm(const cg_target_caps *caps, const cg_qgemm_shape *sh, cg_schedule *s) {
  if (s->mr < 1 || s->lanes < 1 || s->nr < s->lanes) return false;
  s->kc = ceil_div(sh->K, 4) * 4;
  s->unroll = 1;
  s->par = CG_PAR_MN;
  s->mc = round_up(s->mc < sh->rows ? s->mc : sh->rows, s->mr);
  s->nc = round_up(s->nc < sh->cols ? s->nc : sh->cols, s->nr);
  if (s->mc < s->mr) s->mc = s->mr;
  if (s->nc < s->nr) s->nc = s->nr;
  return cg_qgemm_schedule_check(caps, sh, s) == NULL;
}

/* The int8 kernel's space (register block, row and column blocks) at the
 * default's lanes, ranked by cost. */
static candidate *rank_qgemm(tuner *t, const kernel *k, int *count) {
  const cg_qgemm_shape *sh = &k->q;
  int regs = t->caps.vector_regs > 0 ? t->caps.vector_regs : 16;
  static const int64_t mcs[] = {1, 32, 64, 128, 256, 1 << 30};
  static const int64_t ncs[] = {1, 2, 4, 8, 16, 1 << 30}; /* panels */
  ranking sp = {0};
  for (int nv = 1; nv <= 4; nv++)
    for (int mr = 1; mr <= 16; mr++) {
      if (mr * nv + nv + 1 > regs - 1) continue;
      for (size_t b = 0; b < 6; b++)
        for (size_t d = 0; d < 6; d++) {
          cg_schedule s = k->def;
          s.mr = mr;
          s.nr = nv * s.lanes;
          s.mc = b == 0 ? mr : mcs[b];
          s.nc = ncs[d] >= (1 << 30) ? ncs[d] : ncs[d] * s.nr;
          if (normalize_qgemm(&t->caps, sh, &s)) ranking_add(t, &sp, &s, cost_qgemm(&t->caps, sh, &s, t->threads));
        }
    }
  return ranking_sorted(&sp, count);
}

static candidate *rank_space(tuner *t, const kernel *k, int *count) {
  if (k->int8) return rank_qgemm(t, k, count);
  switch (k->algo) {
  case CG_CONV_DIRECT: return rank_direct(t, k, count);
  case CG_CONV_DEPTHWISE: return rank_depthwise(t, k, count);
  default: return rank_gemm(t, k, count);
  }
}

static bool normalize(const tuner *t, const kernel *k, cg_schedule *s) {
  if (k->int8) return normalize_qgemm(&t->caps, &k->q, s);
  switch (k->algo) {
  case CG_CONV_DIRECT: return normalize_direct(t, &k->conv, s);
  case CG_CONV_DEPTHWISE: return normalize_depthwise(t, &k->dw, s);
  default: return normalize_gemm(&t->caps, &k->shape, s);
  }
}

/* ---- search ------------------------------------------------------------------------- */
typedef struct search {
  tuner *t;
  const kernel *k;
  compiled def, best;        /* kept compiled for the final re-timing */
  cg_schedule best_s;
  double def_us, best_us;
  float *ref;                /* the default schedule's first output */
  int64_t ref_n;
  double ref_max;
  cg_schedule *seen;
  int num_seen, cap_seen;
  int measured, rejected;
  double deadline;
} search;

static bool seen_before(search *z, const cg_schedule *s) {
  for (int i = 0; i < z->num_seen; i++)
    if (!memcmp(&z->seen[i], s, sizeof *s)) return true;
  if (z->num_seen == z->cap_seen)
    z->seen = kiln_realloc(z->t->ctx, z->seen, (size_t)(z->cap_seen = z->cap_seen * 2 + 16) * sizeof *z->seen);
  z->seen[z->num_seen++] = *s;
  return false;
}

static void progress(const search *z) {
  tuner *t = z->t;
  if (!t->tty) return;
  double left = t->budget - (drv_now() - t->t_start);
  fprintf(stderr, "\rkiln: tune: kernel %d/%d, %d candidates measured, best speed-up %.2fx, %.0f s "
          "left   ", t->done + 1, t->total, t->measured, t->best_gain, left > 0 ? left : 0);
  fflush(stderr);
}

/* The values of c's first output as floats (*owned: a copy the caller
 * frees): a --runner program prints them, an int8 kernel's bytes are
 * widened. */
static float *output_values(tuner *t, const compiled *c, int64_t *n, bool *owned) {
  *owned = false;
  if (c->prog) {
    *n = c->nsample;
    return c->sample;
  }
  const kiln_tensor_info *o = &c->m->outputs[0];
  *n = numel_of(o);
  if (o->dtype == KILN_F32) return c->outs[0];
  float *v = kiln_malloc(t->ctx, (size_t)*n * sizeof *v + 4);
  for (int64_t i = 0; i < *n; i++)
    v[i] = o->dtype == KILN_I8 ? (float)((const int8_t *)c->outs[0])[i] : (float)((const uint8_t *)c->outs[0])[i];
  *owned = true;
  return v;
}

/* Compiles, checks and times one candidate; true if it became the best. */
static bool try_candidate(search *z, const cg_schedule *s) {
  tuner *t = z->t;
  if (seen_before(z, s)) return false;
  compiled c;
  char text[160];
  cg_schedule_format(s, text, sizeof text);
  z->measured++;
  t->measured++;
  if (compile_kernel(t, z->k, s, &c)) {
    z->rejected++;
    kiln_warn(t->ctx, "tune: kernel '%s': candidate \"%s\" rejected: it failed to compile: %s",
              t->g->nodes[z->k->node].name, text, t->quiet.last_error);
    return false;
  }
  double us = time_compiled(t, &c, 0.05);
  /* the output must be the default's up to the rounding of another
   * summation order: |error| grows like sqrt(K) ulps of the largest value;
   * an int8 kernel's integer sums have no rounding, its bytes must match */
  int64_t ny;
  bool owned;
  float *y = output_values(t, &c, &ny, &owned);
  if (ny != z->ref_n) us = -1;
  double tol = z->k->int8 ? 0 : 1e-5 * sqrt((double)z->k->K) * (z->ref_max > 0 ? z->ref_max : 1), worst = 0;
  for (int64_t i = 0; i < z->ref_n && i < ny; i++) {
    double d = fabs((double)y[i] - (double)z->ref[i]);
    if (!(d <= worst)) worst = d; /* NaN counts as worst */
  }
  if (owned) kiln_free(t->ctx, y);
  if (us < 0 || !(worst <= tol)) {
    z->rejected++;
    if (us < 0)
      kiln_warn(t->ctx, "tune: kernel '%s': candidate \"%s\" rejected: its run failed",
                t->g->nodes[z->k->node].name, text);
    else
      kiln_warn(t->ctx, "tune: kernel '%s': candidate \"%s\" rejected: outputs differ from the "
                "default schedule's by %.3g (rounding allows %.3g)", t->g->nodes[z->k->node].name,
                text, worst, tol);
    compiled_free(t->ctx, &c);
    return false;
  }
  progress(z);
  if (us < z->best_us) {
    compiled_free(t->ctx, &z->best);
    z->best = c;
    z->best_us = us;
    z->best_s = *s;
    return true;
  }
  compiled_free(t->ctx, &c);
  return false;
}

/* The neighbours of s: one field moved one step. */
static int neighbours(const tuner *t, const kernel *k, const cg_schedule *s, cg_schedule *out) {
  int n = 0;
  for (int m = 0; m < 14; m++) {
    cg_schedule x = *s;
    switch (m) {
    case 0: x.mr--; break;
    case 1: x.mr++; break;
    case 2: x.nr -= x.lanes; break;
    case 3: x.nr += x.lanes; break;
    case 4: x.kc /= 2; break;
    case 5: x.kc *= 2; break;
    case 6: x.mc /= 2; break;
    case 7: x.mc *= 2; break;
    case 8: x.nc /= 2; break;
    case 9: x.nc *= 2; break;
    case 10: x.unroll = x.unroll == 1 ? 2 : 1; break;
    case 11: x.unroll = x.unroll >= 4 ? 2 : 4; break;
    case 12: x.par = x.par == CG_PAR_MN ? CG_PAR_N : CG_PAR_MN; break;
    case 13: x.mc = x.mr; x.par = CG_PAR_MN; break;
    }
    int regs = t->caps.vector_regs > 0 ? t->caps.vector_regs : 16;
    if (x.mr * (x.nr / (x.lanes ? x.lanes : 1)) + x.nr / (x.lanes ? x.lanes : 1) + 1 > regs - 1)
      continue; /* keep within the registers, as the ranked space does */
    if (normalize(t, k, &x)) out[n++] = x;
  }
  return n;
}

/* Searches kernel k for `seconds`; fills *r (schedule and times). */
static kiln_status tune_kernel(tuner *t, const kernel *k, double seconds, cg_tuning_record *r,
                               char *sched_text, size_t size, int *measured, int *rejected,
                               double *cand_us) {
  search z = {.t = t, .k = k, .best_us = INFINITY};
  z.deadline = drv_now() + seconds;
  if (compile_kernel(t, k, &k->def, &z.def)) {
    kiln_error(t->ctx, "tune: kernel '%s': the default schedule does not compile: %s",
               t->g->nodes[k->node].name, t->quiet.last_error);
    return KILN_ERR_INVALID_MODEL;
  }
  seen_before(&z, &k->def);
  z.def_us = time_compiled(t, &z.def, 0.05);
  if (z.def_us < 0) {
    kiln_error(t->ctx, "tune: kernel '%s': a run failed", t->g->nodes[k->node].name);
    compiled_free(t->ctx, &z.def);
    kiln_free(t->ctx, z.seen);
    return KILN_ERR_INVALID_MODEL;
  }
  bool ref_owned;
  z.ref = output_values(t, &z.def, &z.ref_n, &ref_owned);
  for (int64_t i = 0; i < z.ref_n; i++) z.ref_max = fmax(z.ref_max, fabs(z.ref[i]));
  z.best_us = z.def_us;
  z.best_s = k->def;

  int n;
  candidate *space = rank_space(t, k, &n);
  /* the top of the ranking, for half the budget (at least one) */
  double half = drv_now() + seconds / 2;
  for (int i = 0; i < n && i < 16 && (i == 0 || drv_now() < half); i++) try_candidate(&z, &space[i].s);
  kiln_free(t->ctx, space);
  /* hill climbing around the best */
  bool moved = true;
  cg_schedule nb[16];
  while (moved && drv_now() < z.deadline) {
    moved = false;
    cg_schedule from = z.best_s;
    int m = neighbours(t, k, &from, nb);
    for (int i = 0; i < m && drv_now() < z.deadline; i++)
      if (try_candidate(&z, &nb[i])) moved = true;
  }
  /* re-time the winner against the default, alternately */
  double d[3], b[3];
  bool have_best = z.best.jit != NULL || z.best.prog != NULL;
  for (int round = 0; round < 3; round++) {
    d[round] = time_compiled(t, &z.def, 0.03);
    b[round] = have_best ? time_compiled(t, &z.best, 0.03) : d[round];
  }
  qsort(d, 3, sizeof *d, cmp_double);
  qsort(b, 3, sizeof *b, cmp_double);
  double def_us = d[1], best_us = b[1];
  cg_schedule win = z.best_s;
  /* a gain within the noise of a shared machine (3%) keeps the default;
   * the best candidate's re-timed median is reported either way */
  *cand_us = have_best ? best_us : -1;
  if (!have_best || !(best_us < 0.97 * def_us)) win = k->def, best_us = def_us;
  cg_schedule_format(&win, sched_text, size);
  r->schedule = sched_text;
  r->time_us = best_us;
  r->default_us = def_us;
  *measured = z.measured;
  *rejected = z.rejected;
  if (def_us / best_us > t->best_gain) t->best_gain = def_us / best_us;
  compiled_free(t->ctx, &z.best);
  compiled_free(t->ctx, &z.def);
  if (ref_owned) kiln_free(t->ctx, z.ref);
  kiln_free(t->ctx, z.seen);
  return KILN_OK;
}

/* ---- the command -------------------------------------------------------------------- */
static int tune(kiln_ctx *ctx, drv_args *a) {
  /* the pipeline up to (not including) reorder-layout; under --quantize
   * the one that makes the int8 kernels */
  const char *pipeline = a->opt.quantize ? kiln_quant_pipeline : kiln_default_pipeline;
  const char *cut = strstr(pipeline, ",reorder-layout");
  if (!cut) {
    kiln_error(ctx, "tune: the default pipeline has no reorder-layout pass");
    return 1;
  }
  char *front = kiln_strdup(ctx, pipeline);
  front[cut - pipeline] = 0;
  kiln_options o = a->opt;
  o.passes = front;
  o.tuning = NULL;
  ir_graph *g = drv_load(ctx, a->model, &o);
  int rc = 1;
  cg_tuning_db db = {0};
  kernel *ks = NULL;
  int nk = 0;
  cg_target tg = {0};
  bool have_target = false;
  tuner t = {0};
  if (!g || kiln_run_passes(ctx, g, &o) != KILN_OK || !drv_inputs_static(ctx, g)) goto out;
  if (!a->runner && ((a->opt.target && strcmp(a->opt.target, "host")) || a->opt.cpu)) {
    kiln_error(ctx, "tune: --target and --cpu need --runner: without it candidates run here, in "
               "this process, on this CPU");
    goto out;
  }
  if (cg_target_init(ctx, &tg, a->runner ? a->opt.target : "host", a->runner ? a->opt.cpu : NULL,
                     o.opt_level))
    goto out;
  have_target = true;
  if (!access(a->tune_output, F_OK) && cg_tuning_read(ctx, a->tune_output, &db)) goto out;

  t = (tuner){.ctx = ctx, .a = a, .g = g, .caps = cg_caps_of(&tg),
             .threads = cg_tuning_threads(a->opt.threads), .tty = isatty(2),
             .budget = a->budget, .t_start = drv_now()};
  kiln_ctx_init(&t.quiet);
  t.quiet.diag_stream = NULL;
  t.target = &tg;
  t.runner = a->runner;
  if (t.runner) {
    snprintf(t.dir, sizeof t.dir, "/tmp/kiln-tune-XXXXXX");
    char hpath[96];
    snprintf(hpath, sizeof hpath, "%s/harness.c", mkdtemp(t.dir) ? t.dir : "/nonexistent");
    FILE *hf = fopen(hpath, "w");
    if (!hf || fputs(harness_c, hf) < 0 || fclose(hf)) {
      kiln_error(ctx, "tune: cannot write %s", hpath);
      goto out;
    }
  }
  /* the layouts reorder-layout will choose (blocked activations, docs/kernels.md):
   * they decide which kernel computes a convolution, and the one-node
   * graphs below keep them, so a kernel is measured reading and writing
   * what it will read and write in the model */
  int lanes = t.caps.vector_bits >= 128 ? t.caps.vector_bits / 32 : 0;
  bool sparse = !a->opt.sparse_off;
  if (lanes && !a->opt.conv_plain) cg_nchwc_plan(g, lanes, sparse);
  /* the distinct kernels */
  double total_flops = 0;
  int sparse_direct = 0;
  ks = kiln_calloc(ctx, (size_t)g->num_nodes + 1, sizeof *ks);
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    if (g->nodes[n].dead) continue;
    kernel k = {.node = n, .uses = 1};
    /* the same choice of kernel as reorder-layout's (depthwise_schedule,
     * direct_schedule, qgemm_schedule, then the GEMM) */
    if (cg_qgemm_shape_of(g, n, &k.q)) {
      k.int8 = true;
      k.algo = CG_CONV_GEMM;
      cg_qgemm_schedule_default(&t.caps, &k.q, &k.def);
      k.K = k.q.K;
      k.flops = 2.0 * (double)k.q.rows * (double)k.q.cols * (double)k.q.K * (double)k.q.batch;
    } else if (lanes && cg_depthwise_of(g, n) && cg_nchwc_node(g, n)) {
      k.algo = CG_CONV_DEPTHWISE;
      cg_depthwise_shape_of(g, n, &k.dw);
      cg_depthwise_schedule_default(&t.caps, &k.dw, &k.def);
      k.K = k.dw.KH * k.dw.KW;
      k.flops = 2.0 * k.dw.N * k.dw.C * k.dw.OH * k.dw.OW * k.K;
    } else if (lanes && !cg_depthwise_of(g, n) &&
               (cg_nchwc_node(g, n) || (!a->opt.conv_plain && cg_nchwc_plain_pays(g, n, lanes, sparse)))) {
      if (sparse && cg_sparse_direct_pays(g, n, lanes)) {
        sparse_direct++; /* the sparse form keeps its cost model's schedule */
        continue;
      }
      k.algo = CG_CONV_DIRECT;
      cg_nchwc_shape_of(g, n, &k.conv);
      cg_nchwc_schedule_default(&t.caps, &k.conv, &k.def);
      k.K = k.conv.C * k.conv.KH * k.conv.KW;
      k.flops = 2.0 * k.conv.N * k.conv.M * k.conv.OH * k.conv.OW * k.K;
    } else if (cg_gemm_shape_of(g, n, &k.shape, NULL)) {
      k.algo = CG_CONV_GEMM;
      cg_schedule_default(&t.caps, &k.shape, &k.def);
      k.K = k.shape.K;
      k.flops = 2.0 * (double)k.shape.M * (double)k.shape.N * (double)k.shape.K * (double)k.shape.batch;
    } else {
      continue;
    }
    char sig[1024];
    cg_kernel_signature(g, n, k.algo, sig, sizeof sig);
    total_flops += k.flops;
    int i = 0;
    while (i < nk && strcmp(ks[i].sig, sig)) i++;
    if (i < nk) {
      ks[i].uses++;
      continue;
    }
    k.sig = kiln_strdup(ctx, sig);
    ks[nk++] = k;
  }
  if (sparse_direct)
    printf("kiln: tune %s: %d pruned convolutions run on the direct kernel's sparse form, whose "
           "schedule is not searched\n", a->model, sparse_direct);
  t.total = nk;
  if (!nk) {
    kiln_warn(ctx, "tune: the model has no kernel with a schedule (GEMM, direct convolution, "
              "blocked depthwise); nothing to tune");
    rc = 0;
    goto out;
  }
  printf("kiln: tune %s: %d distinct kernels, %.3g GFLOP per run, budget %.0f s, %d thread%s, "
         "cpu %s\n", a->model, nk, total_flops / 1e9, a->budget, t.threads,
         t.threads == 1 ? "" : "s", tg.cpu);
  /* The budget follows the time, not the FLOPs: a depthwise layer does
   * 3% of MobileNetV2's FLOPs in about a third of its time, and by FLOPs
   * its kernels got one candidate each.  So every default is timed once,
   * briefly, first (a kernel that fails here fails again below, with its
   * error; its weight is then its FLOPs, which only orders the rest). */
  for (int i = 0; i < nk; i++) {
    compiled c;
    double us = compile_kernel(&t, &ks[i], &ks[i].def, &c) ? -1 : time_compiled(&t, &c, 0.01);
    compiled_free(ctx, &c);
    ks[i].weight = (us > 0 ? us : ks[i].flops * 1e-3) * ks[i].uses;
  }
  double model_def = 0, model_tuned = 0;
  for (int i = 0; i < nk; i++) {
    kernel *k = &ks[i];
    /* this kernel's share of the time left, by its share of the default time left */
    double weight_left = 0;
    for (int j = i; j < nk; j++) weight_left += ks[j].weight;
    double left = t.budget - (drv_now() - t.t_start);
    double seconds = left > 0 ? left * k->weight / weight_left : 0;
    char text[160];
    cg_tuning_record r = {.target = tg.triple, .cpu = tg.cpu, .features = tg.features,
                          .kernel = k->sig, .threads = t.threads, .kiln = KILN_VERSION};
    int measured, rejected;
    double cand_us;
    if (tune_kernel(&t, k, seconds, &r, text, sizeof text, &measured, &rejected, &cand_us)) goto out;
    t.done++;
    if (t.tty) fprintf(stderr, "\r\033[K");
    char kept[64] = "";
    if (r.time_us == r.default_us && cand_us > 0) /* the default kept: how close the best came */
      snprintf(kept, sizeof kept, ", best other %.1f us", cand_us);
    printf("  %-28s x%-2d %9.1f us -> %9.1f us  %.2fx  (%d measured, %d rejected%s)  %s\n",
           g->nodes[k->node].name, k->uses, r.default_us, r.time_us, r.default_us / r.time_us,
           measured, rejected, kept, text);
    model_def += r.default_us * k->uses;
    model_tuned += r.time_us * k->uses;
    cg_tuning_put(ctx, &db, &r);
  }
  if (cg_tuning_write(ctx, &db, a->tune_output)) goto out;
  printf("kiln: kernels' time per run %.1f us -> %.1f us (%.2fx), %.1f s; records in %s\n",
         model_def, model_tuned, model_def / model_tuned, drv_now() - t.t_start, a->tune_output);
  rc = 0;
out:
  if (t.dir[0]) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t.dir); /* a folder mkdtemp made for this run */
    if (shell(cmd)) kiln_warn(ctx, "tune: could not remove %s", t.dir);
  }
  for (int i = 0; i < nk; i++) kiln_free(ctx, ks[i].sig);
  kiln_free(ctx, ks);
  cg_tuning_free(ctx, &db);
  if (have_target) cg_target_dispose(&tg);
  ir_graph_free(g);
  kiln_free(ctx, front);
  return rc;
}

int kiln_cmd_tune(int argc, char **argv) {
  drv_args a;
  drv_args_init(&a, DRV_TUNE);
  kiln_ctx ctx;
  drv_ctx_init(&ctx, NULL);
  int rc = drv_parse(&ctx, &a, argc, argv);
  ctx.verbose = a.verbose;
  ctx.timing = a.time;
  if (rc) {
    if (rc > 0) drv_print_help(DRV_TUNE, stdout);
    rc = rc > 0 ? 0 : 2;
  } else if (!a.model || !a.tune_output) {
    kiln_error(&ctx, "tune: %s (usage: kiln tune MODEL.onnx -o TUNING.yaml [options])",
               a.model ? "no -o TUNING.yaml given" : "no model given");
    rc = 2;
  } else {
    rc = tune(&ctx, &a);
  }
  drv_args_free(&ctx, &a);
  return rc;
}
