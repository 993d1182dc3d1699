/*
 * manager.c — the pass manager: runs a pipeline named by a string.
 *
 * A pipeline is a comma-separated list of registry names ("infer-shapes,
 * fold-constants").  The whole list is checked before anything runs, so a
 * typo in the last name does not leave a half-optimised graph behind, and
 * the error lists every valid name.
 *
 * Between passes, in builds with assertions, the verifier re-checks the
 * graph: a pass that breaks an invariant is caught right after it ran, with
 * its name in the message, instead of as a crash three passes later (the
 * QBE and LLVM habit).  On request the IR is printed after one named pass
 * or after every pass, each dump under an MLIR-style header line:
 *
 *     # -----// IR after fold-constants //----- #      (text IR)
 *     // -----// IR after fold-constants //----- //   (Graphviz)
 *
 * The header is a `//` comment in both the text IR and Graphviz, so the
 * output of --print-after-all stays parseable by either tool once split.
 */
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "passes.h"

/* Longest pipeline accepted; far more than any sensible list. */
enum { MAX_PIPELINE = 256 };

/* Writes "a, b, c" (every registered name) into buf. */
static void valid_names(char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (int i = 0; i < kiln_pass_count && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", kiln_pass_table[i].name);
}

/*
 * Splits `list` into passes.  Spaces around names are ignored; an empty
 * list is an empty pipeline (dump the imported graph as is), but an empty
 * name inside a list ("a,,b") is a mistake worth reporting.
 */
static kiln_status parse_pipeline(kiln_ctx *ctx, const char *list,
                                  const kiln_pass_info **out, int *count) {
  *count = 0;
  const char *p = list;
  while (*p == ' ') p++;
  if (!*p) return KILN_OK;
  for (;;) {
    const char *start = p;
    while (*p && *p != ',') p++;
    const char *end = p;
    while (start < end && *start == ' ') start++;
    while (end > start && end[-1] == ' ') end--;
    char name[64];
    size_t len = (size_t)(end - start);
    const kiln_pass_info *pass = NULL;
    if (len > 0 && len < sizeof name) {
      memcpy(name, start, len);
      name[len] = 0;
      pass = kiln_pass_find(name);
    }
    if (!pass) {
      char names[512];
      valid_names(names, sizeof names);
      if (len == 0)
        kiln_error(ctx, "empty pass name in pipeline '%s'; valid passes: %s", list, names);
      else
        kiln_error(ctx, "unknown pass '%.*s' in pipeline '%s'; valid passes: %s", (int)len, start,
                   list, names);
      return KILN_ERR_INVALID_ARGUMENT;
    }
    if (*count == MAX_PIPELINE) {
      kiln_error(ctx, "pipeline '%.40s...' has more than %d passes", list, MAX_PIPELINE);
      return KILN_ERR_INVALID_ARGUMENT;
    }
    out[(*count)++] = pass;
    if (!*p) return KILN_OK;
    p++; /* the comma */
  }
}

static void print_ir(ir_graph *g, const kiln_options *opt, const char *after) {
  FILE *out = opt->print_stream ? opt->print_stream : stdout;
  /* a comment in the format being printed, so a snapshot saved to a file
   * still parses (the text IR's comments start with '#', DOT's with //) */
  if (opt->dot)
    fprintf(out, "// -----// IR after %s //----- //\n", after);
  else
    fprintf(out, "# -----// IR after %s //----- #\n", after);
  if (opt->dot) {
    ir_print_dot(g, out);
  } else {
    ir_print_options po = {.full_constants = opt->full_constants, .summary_bytes = 64};
    ir_print(g, out, &po);
  }
  /* the plan's numbers, as comments the text parser (#) or Graphviz (//)
   * skips, so a dump split at the headers still reads back */
  if (!strcmp(after, "plan-memory")) ir_memory_report_prefixed(g, out, opt->dot ? "// " : "# ");
  fflush(out);
}

/* Checks the input graph (after == NULL) in every build: it comes from a
 * user's file, and passes may assume a valid graph.  Re-checks the graph
 * after pass `after` ran in debug builds only: a failure there is a kiln
 * bug, and the check costs time on every pass. */
static kiln_status verify(ir_graph *g, const char *after) {
#ifdef NDEBUG
  if (after) return KILN_OK;
#endif
  if (ir_verify(g, false) != KILN_OK) {
    if (after)
      kiln_error(g->ctx, "the IR is invalid after pass '%s' (a kiln bug: please report)", after);
    return after ? KILN_ERR_INTERNAL : KILN_ERR_INVALID_MODEL;
  }
  return KILN_OK;
}

kiln_status kiln_run_passes(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  kiln_options defaults;
  if (!opt) {
    kiln_options_init(&defaults);
    opt = &defaults;
  }
  const char *list = opt->passes            ? opt->passes
                     : opt->rotate != KILN_ROTATE_NONE ? kiln_rotate_pipeline
                                                       : kiln_default_pipeline;
  const kiln_pass_info *pipeline[MAX_PIPELINE];
  int count;
  kiln_status st = parse_pipeline(ctx, list, pipeline, &count);
  if (st) return st;

  if (opt->print_after) {
    const kiln_pass_info *p = kiln_pass_find(opt->print_after);
    if (!p) {
      char names[512];
      valid_names(names, sizeof names);
      kiln_error(ctx, "unknown pass '%s' in --print-after; valid passes: %s", opt->print_after,
                 names);
      return KILN_ERR_INVALID_ARGUMENT;
    }
    bool present = false;
    for (int i = 0; i < count; i++) present |= pipeline[i] == p;
    if (!present)
      kiln_warn(ctx, "--print-after=%s: that pass is not in the pipeline '%s'", p->name, list);
  }

  /* The importer's (or parser's) graph is checked too: passes may assume
   * a valid graph, so a broken input must stop here, not inside a pass. */
  st = verify(g, NULL);
  if (st) return st;
  for (int i = 0; i < count; i++) {
    const kiln_pass_info *p = pipeline[i];
    kiln_note(ctx, "running pass %s on %d nodes", p->name, g->num_nodes);
    st = p->run(ctx, g, opt);
    if (st) return st;
    st = verify(g, p->name);
    if (st) return st;
    if (opt->print_after_all || (opt->print_after && !strcmp(opt->print_after, p->name)))
      print_ir(g, opt, p->name);
  }
  return KILN_OK;
}
