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
 * The schedule is the default policy's for the target being compiled for
 * (its vector width and register count), or one the node already carries
 * (from a tuning record or a hand-written text IR), if valid.
 *
 * Activations stay plain row-major NCHW between kernels: the GEMM kernel
 * reads an image directly (1x1 convolutions) or gathers it block by block
 * (im2col into its scratch), so no reorder nodes are needed; a blocked
 * NCHWc activation layout for chains of convolutions is future work, for
 * which ir_layout already has the BLOCKED kind.
 *
 * Weights shared by several nodes are packed once per distinct panel width.
 */
#include <string.h>

#include "cg.h"
#include "kernels/gemm.h"
#include "passes.h"

/* The cost model of sparse weights: a MatMul-shaped node whose weight has
 * a sparsity fact (detect-sparsity) and at most CG_SPARSE_MAX_ROW_DENSITY
 * of its rows of one vector holding a nonzero gets the kernel that skips
 * zero panel rows (`sparse = 1`) with panels one vector wide (nr = lanes,
 * so a zero 1 x lanes block is a skipped step) and the tallest register
 * block the generator and the registers allow.  Otherwise the default
 * dense schedule stays: a pruned layer is never given the slower kernel
 * by this model. */
static bool sparse_schedule(ir_graph *g, ir_node_id n, const cg_target_caps *caps,
                            cg_schedule *sc) {
  int lanes = sc->lanes;
  if (g->nodes[n].op == IR_OP_CONV || g->nodes[n].op == IR_OP_FUSED_CONV) {
    /* a 1x1 convolution's weight is A: runs of mr = 8 output channels at
     * one input channel are skipped when zero (block:8x1 or 16x1 pruning),
     * B is the image, two vectors of pixels wide when the registers hold
     * 8 x 2 accumulators, two B vectors and a broadcast */
    cg_schedule t = *sc;
    t.mr = 8;
    t.nr = caps->vector_regs >= 8 * 2 + 2 + 1 ? 2 * lanes : lanes;
    double cols = cg_sparse_col_density(g, n, t.mr);
    if (cols < 0 || cols > CG_SPARSE_MAX_ROW_DENSITY) return false;
    t.mc = (t.mc + t.mr - 1) / t.mr * t.mr;
    t.nc = (t.nc + t.nr - 1) / t.nr * t.nr;
    if (cg_schedule_check(caps, &t)) return false;
    *sc = t;
    ir_set_attr_int(g, n, "sparse", 1);
    return true;
  }
  double rows = cg_sparse_row_density(g, n, lanes);
  if (rows < 0 || rows > CG_SPARSE_MAX_ROW_DENSITY) return false;
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

kiln_status pass_reorder_layout(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  cg_target t;
  kiln_status st = cg_target_init(ctx, &t, opt->target, opt->cpu, opt->opt_level);
  if (st) return st;
  cg_target_caps caps = cg_caps_of(&t);
  cg_target_dispose(&t);
  int32_t count = g->num_nodes;
  for (ir_node_id n = 0; n < count; n++) {
    if (g->nodes[n].dead) continue;
    cg_gemm_shape sh;
    int axis;
    if (!cg_gemm_shape_of(g, n, &sh, &axis)) continue;
    cg_schedule sc;
    cg_schedule_default(&caps, &sh, &sc);
    const char *given = ir_attr_string_or(g, n, "schedule", NULL), *source = "default";
    if (!given && !opt->sparse_off && sparse_schedule(g, n, &caps, &sc)) source = "sparse";
    if (given) {
      cg_schedule t2 = sc;
      const char *why = NULL;
      if (!cg_schedule_parse(given, &t2)) why = "cannot be parsed";
      else if ((why = cg_schedule_check(&caps, &t2)) == NULL) sc = t2, source = "given";
      if (why) kiln_warn(ctx, "node '%s': schedule \"%s\" ignored: %s", g->nodes[n].name, given, why);
    }
    char text[160];
    ir_set_attr_string(g, n, "schedule", cg_schedule_format(&sc, text, sizeof text));
    if (opt->print_schedule)
      fprintf(stderr, "schedule %s (%s, M=%lld N=%lld K=%lld batch=%lld): %s [%s]\n",
              g->nodes[n].name, ir_ops[g->nodes[n].op].name, (long long)sh.M, (long long)sh.N,
              (long long)sh.K, (long long)sh.batch, text, source);
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
  return KILN_OK;
}
