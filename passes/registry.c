/*
 * registry.c — every pass kiln has, once, with a one-line description.
 *
 * The table is the single list `--passes` names are checked against, that
 * `kiln dump --help` prints and that docs/passes.md mirrors.  Adding a pass
 * means writing passes/NAME.c, declaring pass_NAME in passes.h and adding
 * one row here.  Rows are in the order of the default pipeline, then the
 * passes that only run when asked for.
 */
#include "passes.h"

#include <string.h>

const kiln_pass_info kiln_pass_table[] = {
    {"infer-shapes", pass_infer_shapes,
     "apply --shape overrides, then infer every value's dtype and shape"},
    {"simplify", pass_simplify,
     "remove no-op nodes: Identity, inference Dropout, same-type Cast, same-shape Reshape, ..."},
    {"fold-constants", pass_fold_constants,
     "evaluate nodes whose inputs are constants (and Shape/Size of static shapes)"},
    {"inline-control-flow", pass_inline_control_flow,
     "unroll Loop and Scan with static trip counts, resolve or select If branches"},
    {"eliminate-dead-code", pass_eliminate_dead_code,
     "remove nodes and constants no graph output depends on"},
    {"fuse-rotations", pass_fuse_rotations,
     "fold Hadamard rotations into a transformer's weights (QuaRot); --rotate hadamard"},
    {"plan-memory", pass_plan_memory,
     "fix the execution order and give every activation a 64-byte aligned workspace offset"},
};
const int kiln_pass_count = (int)(sizeof kiln_pass_table / sizeof kiln_pass_table[0]);

/*
 * Shapes first, so simplify can see same-shape Reshapes; simplify before
 * folding, so Identity chains do not hide constants; control flow after
 * folding, which settles trip counts and conditions, then inference,
 * simplify and folding again, because folding makes torch's
 * Shape->Gather->Concat->Reshape chains static and their Reshapes often
 * turn out to be no-ops (and unrolled bodies fold further); dead code
 * last, to sweep what the others orphaned.
 */
const char kiln_default_pipeline[] =
    "infer-shapes,simplify,fold-constants,inline-control-flow,infer-shapes,simplify,"
    "fold-constants,eliminate-dead-code";

/* --rotate hadamard: the default pipeline, then the rotation on the
 * simplified, folded graph, then a sweep of the weights it replaced. */
const char kiln_rotate_pipeline[] =
    "infer-shapes,simplify,fold-constants,inline-control-flow,infer-shapes,simplify,"
    "fold-constants,eliminate-dead-code,fuse-rotations,eliminate-dead-code";

const kiln_pass_info *kiln_pass_find(const char *name) {
  for (int i = 0; i < kiln_pass_count; i++)
    if (!strcmp(kiln_pass_table[i].name, name)) return &kiln_pass_table[i];
  return NULL;
}
