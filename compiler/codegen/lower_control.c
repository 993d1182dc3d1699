/*
 * lower_control.c — If, Loop and Scan that reach code generation.
 *
 * kiln runs control flow by copying it into the graph (the
 * inline-control-flow pass, nested control flow included); generated code
 * has no branches between kernels.  A control-flow node still here is one
 * the pass could not copy, and this hook says why in the user's terms
 * (the pass knows best: pass_control_flow_why).
 */
#include "cg.h"
#include "passes.h"

kiln_status lower_control_flow(cg_state *s, int32_t n) {
  char why[640];
  pass_control_flow_why(s->g, n, why, sizeof why);
  return cg_unsupported(s, n, "cannot be compiled: %s", why);
}
