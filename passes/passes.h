/*
 * passes.h — the pass registry and the pass manager.
 *
 * A pass is a function `kiln_status pass_NAME(kiln_ctx *, kiln_graph *,
 * const kiln_options *)` in passes/NAME.c, named after the verb it
 * performs in kebab-case (`fold-constants` is pass_fold_constants in
 * fold_constants.c).  The registry (registry.c) lists every pass once with
 * a one-line description; the pass manager runs a pipeline from it:
 *
 *     import -> infer-shapes -> simplify -> fold-constants
 *            -> inline-control-flow -> infer-shapes -> simplify
 *            -> fold-constants -> eliminate-dead-code
 *            -> [--rotate: fuse-rotations -> eliminate-dead-code]
 *            -> [--prune: prune -> eliminate-dead-code]
 *            -> fuse-ops -> detect-sparsity -> reorder-layout -> plan-memory -> lower
 *
 * Between passes it re-runs the verifier in builds with assertions (the
 * default debugoptimized build), and prints the IR after a named pass or
 * after every pass when asked.
 */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir.h"
#include "options.h"

typedef kiln_status (*kiln_pass_fn)(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);

typedef struct kiln_pass_info {
  const char *name;      /* kebab-case verb: "fold-constants" */
  kiln_pass_fn run;
  const char *doc;       /* one line for `kiln dump --help` and docs/passes.md */
  /* The pass needs every graph input's dims to be numbers (plan-memory
   * sizes every tensor).  The manager checks that first and reports the
   * --shape fix, or skips the pass with a note under opt->symbolic_ok. */
  bool needs_static_inputs;
  /* What a dump after this pass adds below the IR (plan-memory: the
   * plan's numbers), each line starting with `prefix`; NULL: nothing. */
  void (*print_extra)(const kiln_graph *g, FILE *out, const char *prefix);
} kiln_pass_info;

extern const kiln_pass_info kiln_pass_table[];
extern const int kiln_pass_count;

/* The pipeline every command runs when --passes is absent (registry.c):
 * comma-separated names, ending with plan-memory. */
extern const char kiln_default_pipeline[];
/* The default pipeline with fold-qdq,quantize,eliminate-dead-code before
 * fuse-ops: what --quantize runs when --passes is absent. */
extern const char kiln_quant_pipeline[];
/* The default pipeline up to its first eliminate-dead-code (no fusion, no
 * memory plan): the graph `kiln calibrate` records tensors of. */
extern const char kiln_calib_pipeline[];
/* True if every graph input has static dims; otherwise, with `report`,
 * reports each one that does not (naming the symbol and the --shape
 * fix).  Defined in manager.c. */
bool kiln_inputs_static(kiln_ctx *ctx, const kiln_graph *g, bool report);
/* What opt->rotate adds to the default pipeline (registry.c): the passes
 * kiln_rotate_passes, inserted before the pass named kiln_rotate_before. */
extern const char kiln_rotate_passes[];
extern const char kiln_rotate_before[];
/* --prune inserts the prune pass before this pass of the default pipeline. */
extern const char kiln_prune_before[];

const kiln_pass_info *kiln_pass_find(const char *name);
/* Runs a comma-separated list of passes (opt->passes, or the default
 * pipeline), verifying and printing between them as opt asks. */
kiln_status kiln_run_passes(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);

kiln_status pass_infer_shapes(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_fold_constants(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_eliminate_dead_code(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_simplify(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_inline_control_flow(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_fuse_ops(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_reorder_layout(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_plan_memory(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_calibrate(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_fold_qdq(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_quantize(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_fuse_rotations(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_prune(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);
kiln_status pass_detect_sparsity(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt);

/* ---- helpers the passes share -------------------------------------------- */
/* Runs node n's shape-inference hook and merges the result with what its
 * outputs already record (importer hints or an earlier run): inference
 * fills unknown dims and dtypes, a recorded static dim survives an inferred
 * symbol, and a contradiction between two static facts is reported on the
 * node.  Nodes whose op has no hook are left alone (KILN_OK).
 * Defined in infer_shapes.c. */
kiln_status pass_infer_node(ir_graph *g, ir_node_id n);
/* Sets captured[v] for every value of g that a subgraph (an If or Loop
 * body, at any depth) may read by name.  The IR does not model such
 * captures yet, so passes that delete or rename values treat these like
 * graph outputs.  Conservative: any name a subgraph mentions counts.
 * Defined in eliminate_dead_code.c. */
void pass_mark_captured(const ir_graph *g, bool *captured);
/* Why inline-control-flow left If/Loop/Scan node n in the graph, in the
 * user's terms (which input to --bind, ...), written into buf.  Used by
 * code generation's refusal and by `kiln ops`.  Defined in
 * inline_control_flow.c. */
void pass_control_flow_why(ir_graph *g, ir_node_id n, char *buf, size_t size);

#endif
