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
 * A pass the pipeline runs twice is labelled "infer-shapes #1", "#2", so
 * every header is distinct.  The header is a comment in the text IR (#)
 * and in Graphviz (//), so a snapshot stays parseable by either tool;
 * with opt->print_dir each snapshot is a file of its own (NN-NAME.kir or
 * .dot), which is what Graphviz needs: one digraph per file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* "infer-shapes", or "infer-shapes #2" for the second run of a pass the
 * pipeline holds twice: every snapshot's header is distinct. */
static void run_label(const kiln_pass_info *const *pipeline, int count, int at, char *buf,
                      size_t size) {
  int nth = 0, total = 0;
  for (int i = 0; i < count; i++)
    if (pipeline[i] == pipeline[at]) {
      total++;
      if (i <= at) nth++;
    }
  if (total > 1)
    snprintf(buf, size, "%s #%d", pipeline[at]->name, nth);
  else
    snprintf(buf, size, "%s", pipeline[at]->name);
}

/* Prints the IR after pass p (labelled `label`, step `step` of the
 * pipeline) to opt->print_stream, or to its own file in opt->print_dir:
 * DIR/NN-NAME[-K].kir or .dot, one whole graph per file, so Graphviz can
 * read each. */
static kiln_status print_ir(ir_graph *g, const kiln_options *opt, const kiln_pass_info *p,
                            const char *label, int step) {
  FILE *out = opt->print_stream ? opt->print_stream : stdout;
  char path[4096];
  if (opt->print_dir) {
    char base[96];
    size_t k = 0;
    for (const char *c = label; *c && k + 1 < sizeof base; c++)
      if (*c != ' ') base[k++] = *c == '#' ? '-' : *c;
    base[k] = 0;
    snprintf(path, sizeof path, "%s/%02d-%s.%s", opt->print_dir, step, base,
             opt->dot ? "dot" : "kir");
    out = fopen(path, "w");
    if (!out) {
      kiln_error(g->ctx, "cannot write '%s': %s", path, strerror(errno));
      return KILN_ERR_IO;
    }
  }
  /* a comment in the format being printed, so a snapshot saved to a file
   * still parses (the text IR's comments start with '#', DOT's with //) */
  if (opt->dot)
    fprintf(out, "// -----// IR after %s //----- //\n", label);
  else
    fprintf(out, "# -----// IR after %s //----- #\n", label);
  if (opt->dot) {
    ir_print_dot_options(g, out, opt->hide_constants);
  } else {
    ir_print_options po = {.full_constants = opt->full_constants, .summary_bytes = 64};
    ir_print(g, out, &po);
  }
  /* what the pass adds (the plan's numbers), as comments the text parser
   * (#) or Graphviz (//) skips, so a dump split at the headers reads back */
  if (p->print_extra) p->print_extra(g, out, opt->dot ? "// " : "# ");
  if (opt->print_dir) {
    if (fclose(out) != 0) {
      kiln_error(g->ctx, "cannot write '%s': %s", path, strerror(errno));
      return KILN_ERR_IO;
    }
  } else {
    fflush(out);
  }
  return KILN_OK;
}

/* True if every live node's outputs have static shapes. */
static bool all_static(const ir_graph *g) {
  for (ir_node_id n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    for (int k = 0; !nd->dead && k < nd->num_outputs; k++)
      if (nd->outputs[k] >= 0 && !ir_shape_is_static(&g->values[nd->outputs[k]].shape)) return false;
  }
  return true;
}

bool kiln_inputs_static(kiln_ctx *ctx, const kiln_graph *g, bool report) {
  bool ok = true;
  for (int i = 0; i < g->num_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (v->shape.rank < 0) {
      if (report)
        kiln_error(ctx, "input '%s' has an unknown rank: give its shape with --shape %s=D0,D1,...",
                   v->name, v->name);
      ok = false;
      continue;
    }
    for (int d = 0; d < v->shape.rank; d++) {
      int64_t dim = v->shape.dims[d];
      if (ir_dim_is_static(dim)) continue;
      if (report)
        kiln_error(ctx, "input '%s' has a symbolic dim%s%s%s: fix it with --shape %s=D0,D1,...",
                   v->name, ir_dim_is_sym(dim) ? " '" : "",
                   ir_dim_is_sym(dim) ? g->syms[ir_dim_sym(dim)] : "",
                   ir_dim_is_sym(dim) ? "'" : "", v->name);
      ok = false;
      break;
    }
  }
  return ok;
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

/* The default pipeline with kiln_rotate_passes inserted before the pass
 * kiln_rotate_before, into buf as a string, so that messages quoting the
 * pipeline show what runs.  The registry's strings hold no spaces (they
 * are one name per line), so the name is found by its commas.  False if
 * the name is missing or buf too small. */
static bool splice_pipeline(const char *list, const char *insert, const char *before, char *buf,
                            size_t size) {
  size_t name = strlen(before);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    if ((size_t)(end - p) == name && !strncmp(p, before, name)) {
      int n = snprintf(buf, size, "%.*s%s,%s", (int)(p - list), list, insert, p);
      return n > 0 && (size_t)n < size;
    }
    p = *end ? end + 1 : end;
  }
  return false;
}

kiln_status kiln_run_passes(kiln_ctx *ctx, kiln_graph *g, const kiln_options *opt) {
  kiln_options defaults;
  if (!opt) {
    kiln_options_init(&defaults);
    opt = &defaults;
  }
  /* --quantize runs its passes before fusion (registry.c); a --passes
   * list is taken as written */
  const char *list = opt->passes      ? opt->passes
                     : opt->quantize ? kiln_quant_pipeline
                                     : kiln_default_pipeline;
  char rotated[1024];
  if (!opt->passes && opt->rotate != KILN_ROTATE_NONE) {
    /* rotations come before quantization: QuaRot rotates, then quantizes */
    const char *before = opt->quantize ? "fold-qdq" : kiln_rotate_before;
    if (!splice_pipeline(list, kiln_rotate_passes, before, rotated, sizeof rotated)) {
      kiln_error(ctx, "--rotate: the default pipeline has no %s to put fuse-rotations before "
                 "(a kiln bug: please report)", kiln_rotate_before);
      return KILN_ERR_INTERNAL;
    }
    list = rotated;
  }
  char pruned[1024];
  if (!opt->passes && opt->prune != KILN_PRUNE_NONE) {
    /* after rotation (pruning rotated weights keeps the zeros it makes),
     * before quantization and fusion, whose ops the prune pass does not
     * match and whose graph no longer has the activations Wanda reads */
    const char *before = opt->quantize ? "fold-qdq" : kiln_prune_before;
    if (!splice_pipeline(list, "prune,eliminate-dead-code", before, pruned, sizeof pruned)) {
      kiln_error(ctx, "--prune: the default pipeline has no %s to put prune before "
                 "(a kiln bug: please report)", before);
      return KILN_ERR_INTERNAL;
    }
    list = pruned;
  }
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
    char label[96];
    run_label(pipeline, count, i, label, sizeof label);
    if (p->needs_static_inputs && !kiln_inputs_static(ctx, g, !opt->symbolic_ok)) {
      if (!opt->symbolic_ok) return KILN_ERR_INVALID_ARGUMENT;
      /* dump shows what it can of a model with symbolic dims */
      kiln_warn(ctx, "%s skipped: the model's inputs have symbolic dims (fix them with --shape "
                "INPUT=D0,D1,...)", p->name);
      continue;
    }
    if (p->needs_static_inputs && opt->symbolic_ok && !all_static(g)) {
      /* and of one whose shapes stay open for another reason (control
       * flow kiln cannot copy, data-dependent shapes) */
      kiln_warn(ctx, "%s skipped: some values have no static shape (kiln compile says why)",
                p->name);
      continue;
    }
    kiln_note(ctx, "running pass %s on %d nodes", label, g->num_nodes);
    double t0 = kiln_clock();
    st = p->run(ctx, g, opt);
    char phase[112];
    snprintf(phase, sizeof phase, "pass %s", label);
    kiln_time(ctx, phase, kiln_clock() - t0);
    if (st) return st;
    st = verify(g, p->name);
    if (st) return st;
    if (opt->print_after_all || (opt->print_after && !strcmp(opt->print_after, p->name))) {
      st = print_ir(g, opt, p, label, i + 1);
      if (st) return st;
    }
  }
  return KILN_OK;
}
