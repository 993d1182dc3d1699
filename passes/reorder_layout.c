/*
 * reorder_layout.c — the `reorder-layout` pass: fix each heavy kernel's
 * schedule and lay its constant weights out the way that schedule reads
 * them, as facts of the IR.
 *
 * The GEMM micro-kernel (compiler/codegen/kernels/gemm.c) streams its
 * weights as panels: a MatMul weight [K, N] as [N/nr][K][nr], a
 * convolution weight [M, C, kh, kw] as [M/mr][C*kh*kw][mr].  Packing is
 * done once, here, at compile time (as ONNX Runtime's MlasGemmPackB does
 * at session start), so the packed constant is what `kiln dump` shows,
 * what --weights external writes and what the kernel maps: a value with
 * `layout(packed, W, AXIS)` whose payload is the panels (ir.h,
 * ir_packed_numel).  The node gets a `schedule` attribute holding every
 * decision of its kernel (kernels/schedule.h); the lowering follows it
 * and checks that the panels match it.
 *
 * The schedule is, in order of precedence: one the node already carries
 * (a hand-written text IR, or a dump after this pass), if valid; the
 * record of a tuning file (--tuning, kernels/tuning.h) for this target
 * triple, CPU, features, thread count and kernel signature, if valid; the
 * default policy's for the target (its vector width and register count).
 * With --tuning, every kernel left without a record is reported by name,
 * and a file with no record at all for this CPU says so: a foreign
 * schedule is never applied, and a missing one never goes unnoticed.
 *
 * Activations: first, every activation that a convolution the direct
 * kernel can take (kernels/conv_nchwc.h) produces and that only such
 * convolutions read is given the BLOCKED layout (NCHW16c on AVX-512);
 * each convolution that reads or writes a blocked activation gets the
 * direct kernel's schedule (`conv=direct`) and keeps its weights plain in
 * the IR (the lowering packs them as [M/nr][C/L][kh][kw][L][nr]); a
 * depthwise convolution on blocked activations gets the blocked depthwise
 * kernel's (`conv=depthwise`).  All three kernels' schedules follow the
 * precedence above; each is checked by its own kernel's rules.  The
 * first convolution of a chain reads its plain input and the last one
 * writes its plain output itself, so no reorder nodes are needed.  Every
 * other activation stays plain NCHW: the GEMM kernel reads an image in
 * place (1x1 convolutions) or gathers it block by block (im2col).
 * `--conv-layout plain` leaves every activation plain.
 *
 * Weights shared by several nodes are packed once per distinct panel width.
 */
#include <stdio.h>
#include <string.h>

#include "cg.h"
#include "kernels/conv_nchwc.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"
#include "kernels/gemm_int8.h"
#include "kernels/tuning.h"
#include "passes.h"

/* What applying a tuning file needs, and the kernels it had no record
 * for (names, comma-separated, reported in one warning at the end). */
typedef struct tuning_use {
  const kiln_options *opt;
  cg_tuning_db db;
  const cg_target *t;
  int threads;
  char *untuned;
  size_t untuned_len;
  int missing;
} tuning_use;

/* The kernels --tuning had no record for, listed in one warning. */
static void report_untuned(kiln_ctx *ctx, const tuning_use *tu, int kernels) {
  if (!tu->missing) return;
  const cg_target *t = tu->t;
  if (!cg_tuning_has_cpu(&tu->db, t->triple, t->cpu, t->features))
    kiln_warn(ctx, "%s: no record for this CPU (%s, cpu %s, features \"%s\"): all %d kernels use "
              "the default schedule: %s", tu->opt->tuning, t->triple, t->cpu, t->features, kernels,
              tu->untuned);
  else
    kiln_warn(ctx, "%s: %d of %d kernels have no record for %d thread%s (default schedule): %s",
              tu->opt->tuning, tu->missing, kernels, tu->threads, tu->threads == 1 ? "" : "s",
              tu->untuned);
}

/* Why schedule sc cannot drive node n on kernel `algo` (NULL: it can).
 * Each kernel has its own rules: the GEMM's blocks are multiples of its
 * register block, the direct convolution's mc counts rows (not a multiple
 * of mr), the depthwise kernel's fixed fields must hold their values. */
static const char *schedule_problem(const cg_target_caps *caps, const ir_graph *g, ir_node_id n,
                                    cg_conv_algo algo, const cg_schedule *sc) {
  cg_qgemm_shape qs;
  if (cg_qgemm_shape_of(g, n, &qs)) return cg_qgemm_schedule_check(caps, &qs, sc);
  if (sc->conv != algo) {
    switch (algo) {
    case CG_CONV_DIRECT: return "this node runs on the direct convolution kernel (conv=direct)";
    case CG_CONV_DEPTHWISE: return "this node runs on the blocked depthwise kernel (conv=depthwise)";
    default: return "this node runs on the GEMM kernel (no conv=direct or conv=depthwise)";
    }
  }
  if (algo == CG_CONV_DIRECT) {
    cg_nchwc_shape sh;
    cg_nchwc_shape_of(g, n, &sh);
    return cg_nchwc_schedule_check(caps, &sh, sc);
  }
  if (algo == CG_CONV_DEPTHWISE) {
    cg_dw_shape sh;
    cg_depthwise_shape_of(g, n, &sh);
    return cg_depthwise_schedule_check(caps, &sh, sc);
  }
  return cg_schedule_check(caps, sc);
}

/* The text of a schedule over *sc (the default: fields the text does not
 * name keep its values), if valid for node n on `algo`; else *sc stays
 * and the reason is returned. */
static const char *take_schedule(const cg_target_caps *caps, const ir_graph *g, ir_node_id n,
                                 cg_conv_algo algo, const char *text, cg_schedule *sc) {
  cg_schedule t2 = *sc;
  if (!cg_schedule_parse(text, &t2)) return "cannot be parsed";
  const char *why = schedule_problem(caps, g, n, algo, &t2);
  if (!why) *sc = t2;
  return why;
}

/* The given schedule of node n (its `schedule` attribute), if valid, over
 * *sc; a refused one is reported and the default stays.  True if one was
 * given (valid or not: a node that carries a schedule never takes a
 * tuning record). */
static bool given_schedule(kiln_ctx *ctx, const cg_target_caps *caps, const ir_graph *g, ir_node_id n,
                           cg_conv_algo algo, const char *given, cg_schedule *sc, const char **source) {
  if (!given) return false;
  const char *why = take_schedule(caps, g, n, algo, given, sc);
  if (why) kiln_warn(ctx, "node '%s': schedule \"%s\" ignored: %s", g->nodes[n].name, given, why);
  else *source = "given";
  return true;
}

/* The tuning file's record for node n on `algo`, if any and valid, over
 * *sc; a kernel without one joins the untuned list.  Called before any
 * weight is packed (packing follows the schedule, it is not part of the
 * kernel's identity). */
static void tuned_schedule(kiln_ctx *ctx, tuning_use *tu, const cg_target_caps *caps, const ir_graph *g,
                           ir_node_id n, cg_conv_algo algo, cg_schedule *sc, const char **source,
                           char *buf, size_t size) {
  char sig[1024];
  cg_kernel_signature(g, n, algo, sig, sizeof sig);
  const cg_target *t = tu->t;
  const cg_tuning_record *r = cg_tuning_find(&tu->db, t->triple, t->cpu, t->features, tu->threads, sig);
  const char *why = r ? take_schedule(caps, g, n, algo, r->schedule, sc) : NULL;
  if (r && !why) {
    snprintf(buf, size, "tuned: %.2fx the default's speed in the record (%.1f vs %.1f us), %s line %d",
             r->default_us / r->time_us, r->time_us, r->default_us, tu->opt->tuning, r->line);
    *source = buf;
    return;
  }
  if (why) kiln_warn(ctx, "%s: line %d: node '%s': schedule \"%s\" ignored: %s", tu->opt->tuning,
                     r->line, g->nodes[n].name, r->schedule, why);
  size_t len = strlen(g->nodes[n].name);
  tu->untuned = kiln_realloc(ctx, tu->untuned, tu->untuned_len + len + 3);
  if (tu->untuned_len) memcpy(tu->untuned + tu->untuned_len, ", ", 2), tu->untuned_len += 2;
  memcpy(tu->untuned + tu->untuned_len, g->nodes[n].name, len + 1);
  tu->untuned_len += len;
  tu->missing++;
}

/* Where node n's schedule came from, and its text (for --print-schedule). */
typedef struct settled {
  const char *source;        /* "default", "sparse", "given", or buf ("tuned: ...") */
  char buf[192];
  char text[160];
} settled;

/* Settles node n's schedule on `algo`: its given one if valid, else (when
 * `tunable`) the tuning file's record if any, else *sc as it stands with
 * st->source as the caller set it; then writes it to the node's
 * `schedule` attribute, the one all three kernels' lowerings read. */
static void settle_schedule(kiln_ctx *ctx, tuning_use *tu, const cg_target_caps *caps, ir_graph *g,
                            ir_node_id n, cg_conv_algo algo, bool tunable, cg_schedule *sc, settled *st) {
  if (!given_schedule(ctx, caps, g, n, algo, ir_attr_string_or(g, n, "schedule", NULL), sc, &st->source) &&
      tu && tunable)
    tuned_schedule(ctx, tu, caps, g, n, algo, sc, &st->source, st->buf, sizeof st->buf);
  ir_set_attr_string(g, n, "schedule", cg_schedule_format(sc, st->text, sizeof st->text));
}

/* The cost model of sparse weights: a MatMul-shaped node whose weight has
 * a sparsity fact (detect-sparsity) and at most CG_SPARSE_MAX_ROW_DENSITY
 * of its rows of one vector holding a nonzero gets the kernel that skips
 * zero panel rows (`sparse = 1`) with panels one vector wide (nr = lanes,
 * so a zero 1 x lanes block is a skipped step) and the tallest register
 * block the generator and the registers allow.  Otherwise the default
 * dense schedule stays: a pruned layer is never given the slower kernel
 * by this model. */
static bool nm_schedule(ir_graph *g, ir_node_id n, const cg_target_caps *caps, cg_schedule *sc);

static bool sparse_schedule(ir_graph *g, ir_node_id n, const cg_target_caps *caps,
                            bool nm_target, cg_schedule *sc) {
  int lanes = sc->lanes;
  if (g->nodes[n].op == IR_OP_CONV || g->nodes[n].op == IR_OP_FUSED_CONV) {
    /* a 1x1 convolution's weight is A: runs of mr = 8 output channels at
     * one input channel are skipped when zero (block:8x1 or 16x1 pruning),
     * B is the image, two vectors of pixels wide when the registers hold
     * 8 x 2 accumulators, two B vectors and a broadcast */
    cg_schedule t = *sc;
    t.mr = CG_SPARSE_CONV_MR;
    t.nr = caps->vector_regs >= 8 * 2 + 2 + 1 ? 2 * lanes : lanes;
    if (!cg_sparse_conv_pays(g, n)) return false;
    t.mc = (t.mc + t.mr - 1) / t.mr * t.mr;
    t.nc = (t.nc + t.nr - 1) / t.nr * t.nr;
    if (cg_schedule_check(caps, &t)) return false;
    *sc = t;
    ir_set_attr_int(g, n, "sparse", 1);
    return true;
  }
  double rows = cg_sparse_row_density(g, n, lanes);
  if (rows < 0 || rows > CG_SPARSE_MAX_ROW_DENSITY) return nm_target && nm_schedule(g, n, caps, sc);
  cg_schedule t = *sc;
  t.nr = lanes;
  t.mr = caps->vector_regs - 2 < 16 ? caps->vector_regs - 2 : 16; /* + a B vector, a broadcast */
  if (t.mr < 1) return false;
  t.mc = (t.mc + t.mr - 1) / t.mr * t.mr;
  t.nc = (t.nc + t.nr - 1) / t.nr * t.nr;
  if (cg_schedule_check(caps, &t)) return false;
  *sc = t;
  ir_set_attr_int(g, n, "sparse", 1);
  return true;
}

/* N:M weights (2:4, 4:8) on a target with the lane permutes
 * (cg_sparse_nm_target): the N:M form when its slots per group of M are
 * at most CG_SPARSE_NM_MAX_DENSITY of M.  Panels one vector wide, the
 * tallest register block that leaves room for a step's weight and index
 * vectors, a broadcast and a permuted copy, and K blocks of whole groups.
 * Otherwise the dense schedule stays. */
static bool nm_schedule(ir_graph *g, ir_node_id n, const cg_target_caps *caps, cg_schedule *sc) {
  int group, slots;
  double d = cg_sparse_nm_density(g, n, sc->lanes, &group, &slots);
  if (d < 0 || d > CG_SPARSE_NM_MAX_DENSITY || sc->lanes != 16) return false;
  cg_schedule t = *sc;
  t.nr = t.lanes;
  t.mr = caps->vector_regs - 2 * slots - 2;
  t.mr = t.mr < 16 ? t.mr : 16;
  if (t.mr < 4) return false;
  t.kc = t.kc / group * group;
  if (t.kc < group) t.kc = group;
  t.mc = (t.mc + t.mr - 1) / t.mr * t.mr;
  t.nc = (t.nc + t.nr - 1) / t.nr * t.nr;
  if (cg_schedule_check(caps, &t)) return false;
  *sc = t;
  ir_set_attr_int(g, n, "sparse_nm", group);
  return true;
}

/* A convolution on the direct kernel: one that reads or writes a blocked
 * activation, whose given schedule asks for it, or (plain_too) one that
 * the direct kernel beats even on plain activations (cg_nchwc_plain_pays).
 * Its schedule is the given one if valid, else the tuning file's record
 * (signature with "/direct") if valid, else the direct kernel's default
 * policy.  The sparse form keeps its cost model's schedule, as the sparse
 * GEMM does (kiln tune does not search it). */
static bool direct_schedule(kiln_ctx *ctx, ir_graph *g, ir_node_id n, const cg_target_caps *caps,
                            int lanes, bool plain_too, bool sparse, bool print, tuning_use *tu) {
  const char *given = ir_attr_string_or(g, n, "schedule", NULL);
  cg_schedule t = {0};
  bool asked = given && cg_schedule_parse(given, &t) && t.conv == CG_CONV_DIRECT;
  if (cg_depthwise_of(g, n)) return false; /* its own kernel: depthwise_schedule */
  if (!cg_nchwc_node(g, n) && !(asked && cg_nchwc_conv_of(g, n, lanes, sparse)) &&
      !(plain_too && cg_nchwc_plain_pays(g, n, lanes, sparse)))
    return false;
  cg_nchwc_shape sh;
  cg_nchwc_shape_of(g, n, &sh);
  cg_schedule sc;
  /* pruned weights whose runs of `lanes` output channels are mostly zero:
   * the direct kernel's sparse form (given schedules do not apply to it) */
  bool sparse_direct = sparse && !given && cg_sparse_direct_pays(g, n, lanes);
  if (sparse_direct) {
    cg_nchwc_sparse_schedule(caps, &sh, &sc);
    ir_set_attr_int(g, n, "sparse", 1);
  } else {
    cg_nchwc_schedule_default(caps, &sh, &sc);
  }
  settled chosen = {.source = sparse_direct ? "sparse" : "default"};
  settle_schedule(ctx, tu, caps, g, n, CG_CONV_DIRECT, !sparse_direct, &sc, &chosen);
  if (print)
    fprintf(stderr, "schedule %s (%s, direct, C=%lld M=%lld %lldx%lld -> %lldx%lld, kernel %lldx%lld, "
            "%s -> %s): %s [%s]\n", g->nodes[n].name, ir_ops[g->nodes[n].op].name, (long long)sh.C,
            (long long)sh.M, (long long)sh.H, (long long)sh.W, (long long)sh.OH, (long long)sh.OW,
            (long long)sh.KH, (long long)sh.KW,
            g->values[g->nodes[n].inputs[0]].layout.kind == IR_LAYOUT_BLOCKED ? "blocked" : "plain",
            sh.out_plain ? "plain" : "blocked", chosen.text, chosen.source);
  return true;
}

/* A depthwise convolution on blocked activations (cg_nchwc_plan blocks
 * its input and output together): the blocked depthwise kernel, whose
 * schedule (`conv=depthwise`: pixels per tile, rows per item) is the given
 * one if valid, else the tuning file's record (signature with
 * "/depthwise"), else its default policy.  The plain depthwise kernel has
 * no schedule. */
static bool depthwise_schedule(kiln_ctx *ctx, ir_graph *g, ir_node_id n, const cg_target_caps *caps,
                               bool print, tuning_use *tu) {
  if (!cg_depthwise_of(g, n) || !cg_nchwc_node(g, n)) return false;
  cg_dw_shape sh;
  cg_depthwise_shape_of(g, n, &sh);
  cg_schedule sc;
  cg_depthwise_schedule_default(caps, &sh, &sc);
  settled chosen = {.source = "default"};
  settle_schedule(ctx, tu, caps, g, n, CG_CONV_DEPTHWISE, true, &sc, &chosen);
  if (print)
    fprintf(stderr, "schedule %s (%s, depthwise, C=%lld -> %lldx%lld, kernel %lldx%lld, stride %lld, "
            "blocked): %s [%s]\n", g->nodes[n].name, ir_ops[g->nodes[n].op].name, (long long)sh.C,
            (long long)sh.OH, (long long)sh.OW, (long long)sh.KH, (long long)sh.KW, (long long)sh.sw,
            chosen.text, chosen.source);
  return true;
}

/* kiln.QConv and kiln.QMatMul on the packed int8 kernel
 * (kernels/gemm_int8.c): the default, a given or a tuned schedule, written
 * to the node.  Their activations stay plain and their weights are packed
 * by the kernel itself.  `schedule = "reference"` (the plain loops the
 * tests use as the oracle) is left as it is. */
static bool qgemm_schedule(kiln_ctx *ctx, ir_graph *g, ir_node_id n, const cg_target_caps *caps, bool print,
                           tuning_use *tu) {
  cg_qgemm_shape sh;
  if (!cg_qgemm_shape_of(g, n, &sh)) return false;
  const char *given = ir_attr_string_or(g, n, "schedule", NULL);
  if (given && !strcmp(given, "reference")) return true;
  cg_schedule sc;
  cg_qgemm_schedule_default(caps, &sh, &sc);
  settled chosen = {.source = "default"};
  settle_schedule(ctx, tu, caps, g, n, CG_CONV_GEMM, true, &sc, &chosen);
  if (print)
    fprintf(stderr, "schedule %s (%s, int8, rows=%lld cols=%lld K=%lld batch=%lld): %s [%s]\n",
            g->nodes[n].name, ir_ops[g->nodes[n].op].name, (long long)sh.rows, (long long)sh.cols,
            (long long)sh.K, (long long)sh.batch, chosen.text, chosen.source);
  return true;
}

kiln_status pass_reorder_layout(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  cg_target t;
  kiln_status st = cg_target_init(ctx, &t, opt->target, opt->cpu, opt->opt_level);
  if (st) return st;
  cg_target_caps caps = cg_caps_of(&t);
  tuning_use tu = {.opt = opt, .t = &t, .threads = cg_tuning_threads(opt->threads)};
  if (opt->tuning && (st = cg_tuning_read(ctx, opt->tuning, &tu.db))) {
    cg_target_dispose(&t);
    return st;
  }
  tuning_use *tup = opt->tuning ? &tu : NULL;
  int kernels = 0;
  int lanes = caps.vector_bits >= 128 ? caps.vector_bits / 32 : 0;
  if (lanes && !opt->conv_plain) cg_nchwc_plan(g, lanes, !opt->sparse_off);
  bool nm_target = cg_sparse_nm_target(&t);
  int32_t count = g->num_nodes;
  for (ir_node_id n = 0; n < count; n++) {
    if (g->nodes[n].dead) continue;
    if (lanes && (depthwise_schedule(ctx, g, n, &caps, opt->print_schedule, tup) ||
                  direct_schedule(ctx, g, n, &caps, lanes, !opt->conv_plain, !opt->sparse_off,
                                  opt->print_schedule, tup))) {
      kernels++;
      continue;
    }
    if (qgemm_schedule(ctx, g, n, &caps, opt->print_schedule, tup)) {
      kernels++;
      continue;
    }
    cg_gemm_shape sh;
    int axis;
    if (!cg_gemm_shape_of(g, n, &sh, &axis)) continue;
    kernels++;
    cg_schedule sc;
    cg_schedule_default(&caps, &sh, &sc);
    settled chosen = {.source = "default"};
    bool sparse = !ir_attr_string_or(g, n, "schedule", NULL) && !opt->sparse_off &&
                  sparse_schedule(g, n, &caps, nm_target, &sc);
    if (sparse) chosen.source = ir_attr_int_or(g, n, "sparse_nm", 0) ? "sparse n:m" : "sparse";
    /* (a sparse kernel keeps the cost model's schedule: kiln tune does not
     * search it yet) */
    settle_schedule(ctx, tup, &caps, g, n, CG_CONV_GEMM, !sparse, &sc, &chosen);
    if (opt->print_schedule)
      fprintf(stderr, "schedule %s (%s, M=%lld N=%lld K=%lld batch=%lld): %s [%s]\n",
              g->nodes[n].name, ir_ops[g->nodes[n].op].name, (long long)sh.M, (long long)sh.N,
              (long long)sh.K, (long long)sh.batch, chosen.text, chosen.source);
    ir_value_id w = g->nodes[n].inputs[1];
    if (axis < 0 || g->values[w].layout.kind != IR_LAYOUT_PLAIN) continue;
    ir_layout want = {.kind = IR_LAYOUT_PACKED, .block = axis == 0 ? sc.mr : sc.nr, .block2 = axis};
    /* the same weight packed the same way by an earlier node */
    char name[256];
    snprintf(name, sizeof name, "%s.packed%d", g->values[w].name, want.block);
    ir_value_id p = ir_find_value(g, name);
    if (p < 0 || g->values[p].layout.kind != IR_LAYOUT_PACKED || g->values[p].layout.block != want.block) {
      ir_shape shape = g->values[w].shape;
      int64_t pn = ir_packed_numel(&shape, &want);
      float *data = ir_arena_alloc(&g->arena, (size_t)pn * sizeof *data);
      cg_pack_panels_f32(ir_const_data(g, w), &shape, axis, want.block, data);
      p = ir_add_const(g, name, IR_F32, &shape, data, pn * 4, true);
      g->values[p].layout = want;
      g->values[p].sparsity = g->values[w].sparsity; /* the panels hold the same zeros */
    }
    g->nodes[n].inputs[1] = p;
    ir_graph_recount_uses(g);
    if (g->values[w].num_uses == 0) g->values[w].dead = true; /* only the panels are read now */
  }
  if (opt->tuning) report_untuned(ctx, &tu, kernels);
  kiln_free(ctx, tu.untuned);
  cg_tuning_free(ctx, &tu.db);
  cg_target_dispose(&t);
  return KILN_OK;
}
