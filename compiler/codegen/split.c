/*
 * split.c — a library's module cut into parts that LLVM optimizes and
 * emits on separate cores.
 *
 * After the weights left the module (data_object.c), LLVM's optimizer and
 * code generator were most of a `kiln compile`, single-threaded on a
 * machine with cores to spare.  Their work divides cleanly: NAME_run
 * calls one kernel per heavy node (or hands one task per kernel to the
 * thread pool), kernels are `noinline`, and no kernel calls another.  So
 * the kernels are dealt out into parts, each part becomes a module of its
 * own LLVM context (LLVM contexts are independent, one thread each), and
 * each is optimized and emitted into its own object of libNAME.a:
 *
 *   1. roots: the internal functions NAME_run refers to (kernels, tasks),
 *      weighed by their instructions and those of the internal functions
 *      they call (shared loops helpers), and dealt to the lightest part,
 *      heaviest first;
 *   2. every root gets a name unique to the model, NAME.kernel.N, and
 *      hidden external linkage, so that NAME_run (or a task) can call it
 *      in another object of the same link without exporting it;
 *   3. the module, as bitcode, is read back into a fresh context per
 *      extra part; each part keeps the bodies of its own roots and turns
 *      every other definition that others see (roots elsewhere, NAME_run,
 *      NAME_run_typed, the kiln_model descriptor) into a declaration.
 *      Internal functions and globals no longer used are dropped by the
 *      optimizer as usual.
 *
 * The split depends only on the module, so archives stay reproducible, and
 * every function is optimized by the same pipeline it would be in one
 * module: kernels do the same arithmetic (models_e2e checks the library
 * bit-identical to `kiln run`, which does not split).
 */
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* Below this many instructions in all, a second part costs more (bitcode
 * round trip, a second target machine) than it saves. */
enum { SPLIT_MIN_INSTRUCTIONS = 20000 };

typedef struct root {
  LLVMValueRef fn;
  int64_t weight;
  int part;
  char name[200]; /* its name in every part */
} root;

static bool is_internal_definition(LLVMValueRef v) {
  return v && LLVMIsAFunction(v) && LLVMCountBasicBlocks(v) > 0 &&
         (LLVMGetLinkage(v) == LLVMInternalLinkage || LLVMGetLinkage(v) == LLVMPrivateLinkage);
}

static int64_t count_instructions(LLVMValueRef fn) {
  int64_t n = 0;
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) n++;
  return n;
}

/* Instructions of fn and of the internal functions it reaches; `seen`
 * holds the functions counted so far for this root. */
static int64_t weigh(kiln_ctx *ctx, LLVMValueRef fn, LLVMValueRef **seen, int *nseen, int *cap) {
  for (int i = 0; i < *nseen; i++)
    if ((*seen)[i] == fn) return 0;
  if (*nseen == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    *seen = kiln_realloc(ctx, *seen, (size_t)*cap * sizeof **seen);
  }
  (*seen)[(*nseen)++] = fn;
  int64_t w = count_instructions(fn);
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      for (int k = 0; k < LLVMGetNumOperands(i); k++) {
        LLVMValueRef op = LLVMGetOperand(i, (unsigned)k);
        if (is_internal_definition(op)) w += weigh(ctx, op, seen, nseen, cap);
      }
  return w;
}

/* Makes fn a declaration: every value it defines is replaced (in its own
 * body only, as nothing outside uses them) by poison, then its
 * instructions and blocks are erased. */
static void delete_body(LLVMValueRef fn) {
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      if (LLVMGetTypeKind(LLVMTypeOf(i)) != LLVMVoidTypeKind)
        LLVMReplaceAllUsesWith(i, LLVMGetPoison(LLVMTypeOf(i)));
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i; (i = LLVMGetFirstInstruction(bb));) LLVMInstructionEraseFromParent(i);
  for (LLVMBasicBlockRef bb; (bb = LLVMGetFirstBasicBlock(fn));) LLVMDeleteBasicBlock(bb);
  LLVMSetLinkage(fn, LLVMExternalLinkage);
}

static int by_weight(const void *a, const void *b) {
  const root *x = a, *y = b;
  if (x->weight != y->weight) return x->weight > y->weight ? -1 : 1;
  return 0;
}

/* Keeps in part `part` of module m only what belongs there (see step 3). */
static void keep_part(LLVMModuleRef m, const root *roots, int nroots, int part) {
  for (int r = 0; r < nroots; r++) {
    LLVMValueRef fn = LLVMGetNamedFunction(m, roots[r].name);
    if (fn && roots[r].part != part && LLVMCountBasicBlocks(fn)) delete_body(fn);
  }
  if (part == 0) return;
  for (LLVMValueRef fn = LLVMGetFirstFunction(m); fn; fn = LLVMGetNextFunction(fn)) {
    if (!LLVMCountBasicBlocks(fn) || LLVMGetLinkage(fn) != LLVMExternalLinkage) continue;
    const char *name = LLVMGetValueName(fn);
    bool mine = false;
    for (int r = 0; r < nroots && !mine; r++)
      mine = roots[r].part == part && !strcmp(name, roots[r].name);
    if (!mine) delete_body(fn); /* NAME_run, NAME_run_typed */
  }
  for (LLVMValueRef gv = LLVMGetFirstGlobal(m); gv; gv = LLVMGetNextGlobal(gv))
    if (LLVMGetInitializer(gv) && LLVMGetLinkage(gv) == LLVMExternalLinkage)
      LLVMSetInitializer(gv, NULL); /* the kiln_model descriptor: part 0 defines it */
}

kiln_status cg_split_module(kiln_ctx *ctx, LLVMModuleRef m, const char *name, int max_parts,
                            cg_module_part *parts, int *nparts) {
  parts[0] = (cg_module_part){LLVMGetModuleContext(m), m};
  *nparts = 1;
  char run_name[200];
  snprintf(run_name, sizeof run_name, "%s_run", name);
  LLVMValueRef run = LLVMGetNamedFunction(m, run_name);
  if (max_parts < 2 || !run) return KILN_OK;

  /* 1. the roots, weighed */
  root *roots = NULL;
  int nroots = 0, cap = 0;
  int64_t total = 0;
  LLVMValueRef *seen = NULL;
  int nseen = 0, seen_cap = 0;
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(run); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      for (int k = 0; k < LLVMGetNumOperands(i); k++) {
        LLVMValueRef op = LLVMGetOperand(i, (unsigned)k);
        if (!is_internal_definition(op)) continue;
        bool dup = false;
        for (int r = 0; r < nroots && !dup; r++) dup = roots[r].fn == op;
        if (dup) continue;
        if (nroots == cap) {
          cap = cap ? 2 * cap : 64;
          roots = kiln_realloc(ctx, roots, (size_t)cap * sizeof *roots);
        }
        nseen = 0;
        int64_t w = weigh(ctx, op, &seen, &nseen, &seen_cap);
        roots[nroots++] = (root){.fn = op, .weight = w};
        total += w;
      }
  kiln_free(ctx, seen);
  int n = max_parts < nroots ? max_parts : nroots;
  if (n < 2 || total < SPLIT_MIN_INSTRUCTIONS) {
    kiln_free(ctx, roots);
    return KILN_OK;
  }
  /* dealt heaviest first to the lightest part; ties keep module order */
  qsort(roots, (size_t)nroots, sizeof *roots, by_weight);
  int64_t load[CG_MAX_MODULE_PARTS] = {0};
  for (int r = 0; r < nroots; r++) {
    int best = 0;
    for (int p = 1; p < n; p++)
      if (load[p] < load[best]) best = p;
    roots[r].part = best;
    load[best] += roots[r].weight;
  }
  /* 2. roots become NAME.kernel.N, hidden, external: a task and its kernel
   * may be dealt to different parts */
  for (int r = 0; r < nroots; r++) {
    snprintf(roots[r].name, sizeof roots[r].name, "%s.kernel.%d", name, r);
    LLVMSetValueName2(roots[r].fn, roots[r].name, strlen(roots[r].name));
    LLVMSetLinkage(roots[r].fn, LLVMExternalLinkage);
    LLVMSetVisibility(roots[r].fn, LLVMHiddenVisibility);
  }
  /* 3. one context per extra part, from the bitcode */
  LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(m);
  kiln_status st = KILN_OK;
  for (int p = 1; p < n && !st; p++) {
    LLVMContextRef c = LLVMContextCreate();
    LLVMModuleRef mp = NULL;
    if (LLVMParseBitcodeInContext2(c, bc, &mp)) {
      kiln_error(ctx, "internal error: the module's bitcode did not read back for part %d", p);
      LLVMContextDispose(c);
      st = KILN_ERR_INTERNAL;
      break;
    }
    keep_part(mp, roots, nroots, p);
    parts[(*nparts)++] = (cg_module_part){c, mp};
  }
  LLVMDisposeMemoryBuffer(bc);
  if (!st) keep_part(m, roots, nroots, 0);
  kiln_free(ctx, roots);
  return st;
}

/* ---- optimizing and emitting the parts in parallel ---------------------------- */
typedef struct part_job {
  kiln_ctx ctx;              /* a private copy: silent, errors kept in last_error */
  cg_target t;
  cg_module_part *part;
  LLVMMemoryBufferRef obj;
  kiln_status st;
  double t_opt, t_emit;
  pthread_t thread;
} part_job;

static void *part_main(void *arg) {
  part_job *j = arg;
  double t0 = kiln_clock();
  j->st = cg_optimize(&j->ctx, &j->t, j->part->m);
  j->t_opt = kiln_clock() - t0;
  if (!j->st) {
    t0 = kiln_clock();
    j->st = cg_emit_object(&j->ctx, &j->t, j->part->m, &j->obj);
    j->t_emit = kiln_clock() - t0;
  }
  return NULL;
}

kiln_status cg_emit_parts(kiln_ctx *ctx, const cg_target *t, const kiln_options *opt,
                          cg_module_part *parts, int n, LLVMMemoryBufferRef *objs) {
  part_job jobs[CG_MAX_MODULE_PARTS];
  kiln_status st = KILN_OK;
  int started = 0;
  for (int p = 0; p < n; p++) {
    jobs[p] = (part_job){.ctx = *ctx, .part = &parts[p]};
    jobs[p].ctx.diag_stream = NULL;
    jobs[p].ctx.timing = false;
    objs[p] = NULL;
  }
  /* part 0 on this thread with t, the others with target machines of their
   * own (one is not to be shared between threads) */
  for (int p = 1; p < n && !st; p++) {
    st = cg_target_init(ctx, &jobs[p].t, opt->target, opt->cpu, opt->opt_level);
    if (st) break;
    if (pthread_create(&jobs[p].thread, NULL, part_main, &jobs[p])) {
      cg_target_dispose(&jobs[p].t);
      kiln_error(ctx, "cannot start a thread to compile part %d of the module", p);
      st = KILN_ERR_INTERNAL;
      break;
    }
    started = p;
  }
  if (!st) {
    jobs[0].t = *t;
    part_main(&jobs[0]);
  }
  for (int p = 1; p <= started; p++) {
    pthread_join(jobs[p].thread, NULL);
    cg_target_dispose(&jobs[p].t);
  }
  for (int p = 0; p < n; p++) {
    if (!st && p <= started) {
      char what[64];
      snprintf(what, sizeof what, "LLVM optimization, part %d/%d", p + 1, n);
      kiln_time(ctx, n > 1 ? what : "LLVM optimization", jobs[p].t_opt);
      snprintf(what, sizeof what, "object emission (LLVM codegen), part %d/%d", p + 1, n);
      kiln_time(ctx, n > 1 ? what : "object emission (LLVM codegen)", jobs[p].t_emit);
    }
    if (!st && jobs[p].st) {
      kiln_error(ctx, "%s", jobs[p].ctx.last_error);
      st = jobs[p].st;
    }
    objs[p] = jobs[p].obj;
  }
  return st;
}
