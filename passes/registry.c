/*
 * registry.c — every pass kiln has, once, with a one-line description.
 *
 * The table is the single list `--passes` names are checked against, that
 * `kiln dump --help` prints and that docs/passes.md mirrors.  Adding a pass
 * means writing passes/NAME.c, declaring pass_NAME in passes.h and adding
 * one row here.  Rows are in the order of the default pipeline (with
 * fuse-rotations where --rotate hadamard puts it), then the passes that
 * only run when asked for.
 */
#include "passes.h"

#include <string.h>

#include "memory.h"

const kiln_pass_info kiln_pass_table[] = {
    {.name = "infer-shapes", .run = pass_infer_shapes,
     .doc = "apply --shape overrides, then infer every value's dtype and shape"},
    {.name = "simplify", .run = pass_simplify,
     .doc = "remove no-op nodes: Identity, inference Dropout, same-type Cast, same-shape Reshape, ..."},
    {.name = "fold-constants", .run = pass_fold_constants,
     .doc = "evaluate nodes whose inputs are constants (and Shape/Size of static shapes)"},
    {.name = "inline-control-flow", .run = pass_inline_control_flow,
     .doc = "unroll Loop and Scan with static trip counts, resolve or select If branches"},
    {.name = "eliminate-dead-code", .run = pass_eliminate_dead_code,
     .doc = "remove nodes and constants no graph output depends on"},
    {.name = "fold-qdq", .run = pass_fold_qdq,
     .doc = "turn QDQ-wrapped Conv/Gemm/MatMul and QLinearConv/QLinearMatMul into kiln.QConv/QMatMul"},
    {.name = "quantize", .run = pass_quantize,
     .doc = "rewrite Conv, Gemm, MatMul into int8 kiln ops (QConv, QMatMul) with calibrated ranges"},
    {.name = "fuse-rotations", .run = pass_fuse_rotations,
     .doc = "fold Hadamard rotations into a transformer's weights (QuaRot); --rotate hadamard"},
    {.name = "prune", .run = pass_prune,
     .doc = "zero Conv, Gemm and MatMul weights to --sparsity in --pattern, by magnitude or Wanda; "
            "--prune"},
    {.name = "fuse-ops", .run = pass_fuse_ops,
     .doc = "fold BatchNormalization into convolutions; bias, residual Add and activation into "
            "FusedConv / FusedMatMul epilogues"},
    {.name = "detect-sparsity", .run = pass_detect_sparsity,
     .doc = "record each GEMM weight's sparsity pattern and density (pruned or mostly zero); "
            "--sparse off, --sparsity-report"},
    {.name = "reorder-layout", .run = pass_reorder_layout,
     .doc = "fix each heavy kernel's schedule (GEMM, direct convolution, blocked depthwise) and pack its constant weights as it reads them"},
    {.name = "plan-memory", .run = pass_plan_memory,
     .doc = "fix the execution order and give every activation a 64-byte aligned workspace offset",
     .needs_static_inputs = true, .print_extra = ir_memory_report_prefixed},
    {.name = "calibrate", .run = pass_calibrate,
     .doc = "run the model on --data samples through the JIT and write activation ranges (a profile)"},
};
const int kiln_pass_count = (int)(sizeof kiln_pass_table / sizeof kiln_pass_table[0]);

/*
 * The default pipeline: what `kiln compile`, `run`, `dump`, `bench` and the
 * conformance tests run when --passes is absent.  One pass per line, so
 * adding a pass to it is one line.
 *
 * Shapes first, so simplify can see same-shape Reshapes; simplify before
 * folding, so Identity chains do not hide constants; control flow after
 * folding, which settles trip counts and conditions, then inference,
 * simplify and folding again, because folding makes torch's
 * Shape->Gather->Concat->Reshape chains static and their Reshapes often
 * turn out to be no-ops (and unrolled bodies fold further); dead code
 * next, to sweep what the others orphaned; fusion on the final graph, so
 * that it sees every reader of a value it folds away; then the kernels'
 * schedules and packed weights, and the memory plan last, once the graph,
 * every shape and every kernel's scratch are final.
 */
/* The front half, up to the first sweep of dead code: the graph as the
 * model wrote it, cleaned.  Calibration runs this much (kiln_calib_pipeline)
 * so the tensors it records are the ones `quantize` sees; fusion would
 * remove the intermediates (a Conv's output before its Relu). */
#define PIPELINE_FRONT \
  "infer-shapes,"      \
  "simplify,"          \
  "fold-constants,"    \
  "inline-control-flow," \
  "infer-shapes,"      \
  "simplify,"          \
  "fold-constants,"    \
  "eliminate-dead-code"
/* The back half: fusion, the weights' sparsity facts (on the fused
 * kernels' final weights, BatchNormalization folded), the kernels'
 * schedules and packed weights, the memory plan. */
#define PIPELINE_BACK \
  "fuse-ops,"         \
  "detect-sparsity,"  \
  "reorder-layout,"   \
  "plan-memory"

const char kiln_default_pipeline[] = PIPELINE_FRONT "," PIPELINE_BACK;
/* --quantize int8: QDQ folding and quantization on the unfused graph (they
 * match plain Conv/Gemm/MatMul), a sweep of the float weights they
 * orphan, then fusion and layout of the float ops that remain. */
const char kiln_quant_pipeline[] =
    PIPELINE_FRONT ","
    "fold-qdq,"
    "quantize,"
    "eliminate-dead-code," PIPELINE_BACK;
const char kiln_calib_pipeline[] = PIPELINE_FRONT;

/*
 * --rotate hadamard: these passes go into the default pipeline just before
 * kiln_rotate_before (the pass manager splices them in, so the pipeline
 * above stays the one list).  The rotation wants the simplified, folded,
 * swept graph, and its dead-code sweep drops the weights it replaced; both
 * must come before fuse-ops, whose kiln.FusedMatMul nodes the rotation's
 * matcher does not know, and before reorder-layout packs the weights the
 * rotation rewrites.
 */
const char kiln_rotate_passes[] =
    "fuse-rotations,"
    "eliminate-dead-code";
const char kiln_rotate_before[] = "fuse-ops";
/* --prune: the prune pass goes in just before this one (after any
 * rotation; before fold-qdq under --quantize, see manager.c). */
const char kiln_prune_before[] = "fuse-ops";

const kiln_pass_info *kiln_pass_find(const char *name) {
  for (int i = 0; i < kiln_pass_count; i++)
    if (!strcmp(kiln_pass_table[i].name, name)) return &kiln_pass_table[i];
  return NULL;
}
