/*
 * emit.c — target machines, LLVM's optimization pipeline, object files.
 *
 * A cg_target wraps one LLVMTargetMachine.  "host" means the triple LLVM
 * was configured for (LLVMGetDefaultTargetTriple) with this machine's CPU
 * name and feature string, so `-O2` code uses AVX2/AVX-512/NEON where the
 * machine has it.  A named triple (--target aarch64-linux-gnu) is looked
 * up in the target descriptions (targets/<isa>/target.yaml, tgt_find),
 * which spell its arch canonically and give the portable CPU and features
 * used unless --cpu names a CPU: generic Armv8-A with NEON, RV64GC, the
 * x86-64 baseline.  Code is position independent (PIC): users link
 * libNAME.a into PIE executables and shared libraries alike.
 *
 * Optimization is LLVM's own `default<On>` pipeline through LLVMRunPasses,
 * with the target machine attached so the cost models of the loop and SLP
 * vectorizers know the vector width.  kiln emits plain counted loops and
 * leaves vectorization, unrolling and interleaving to LLVM.
 *
 * CPU names.  LLVM's C API cannot list or check CPUs, and LLVM itself only
 * warns about an unknown one ("'foo' is not a recognized processor",
 * once per subtarget it makes) and then may abort (x86-64 code for a
 * 32-bit CPU: "64-bit code requested on a subtarget that doesn't support
 * it!").  So a --cpu is first tried in a child process (probe_cpu): it
 * makes the target machine and one empty function's object with its
 * stderr in a pipe.  A warning or a death there becomes one clear error
 * here, before the real target machine exists; CPU "help" makes LLVM
 * print its table, which cg_list_cpus turns into the list of names.
 *
 * Debugging aid: with KILN_DUMP_LLVM=FILE in the environment, the
 * optimized module is printed to FILE (read-only use of the environment).
 */
#include <errno.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg.h"

static void init_llvm(void) {
  /* idempotent registrations; cheap after the first call */
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
}

/* True if the OS component (the third) of a normalized triple is Linux:
 * kiln writes ELF archives and its runtime objects follow glibc's ABI. */
static bool triple_is_linux(const char *triple) {
  const char *os = triple;
  for (int i = 0; i < 2 && os; i++) os = strchr(os, '-') ? strchr(os, '-') + 1 : NULL;
  return os && !strncmp(os, "linux", 5);
}

/* In a child process: makes the target machine and, unless `help`, one
 * empty function's object, with stderr into fd `wfd`.  Exits 0 if that
 * worked; LLVM may abort instead. */
static void probe_child(int wfd, const char *triple, const char *cpu, const char *features,
                        bool help) {
  dup2(wfd, 2);
  LLVMTargetRef tgt;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &tgt, &err)) _exit(3);
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(tgt, triple, cpu, features,
                                                    LLVMCodeGenLevelNone, LLVMRelocPIC,
                                                    LLVMCodeModelDefault);
  if (!tm) _exit(4);
  if (help) _exit(0);
  LLVMContextRef c = LLVMContextCreate();
  LLVMModuleRef m = LLVMModuleCreateWithNameInContext("probe", c);
  LLVMSetTarget(m, triple);
  LLVMValueRef f =
      LLVMAddFunction(m, "probe", LLVMFunctionType(LLVMVoidTypeInContext(c), NULL, 0, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(c);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c, f, "entry"));
  LLVMBuildRetVoid(b);
  LLVMMemoryBufferRef obj;
  _exit(LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &err, &obj) ? 5 : 0);
}

/* Runs probe_child; its stderr goes to out (NUL-terminated, truncated to
 * size).  Returns false if the child did not exit 0 (LLVM aborted). */
static bool probe(kiln_ctx *ctx, const char *triple, const char *cpu, const char *features,
                  bool help, char *out, size_t size) {
  int fds[2];
  out[0] = 0;
  if (pipe(fds)) {
    kiln_error(ctx, "cannot check CPU '%s': pipe: %s", cpu, strerror(errno));
    return false;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    kiln_error(ctx, "cannot check CPU '%s': fork: %s", cpu, strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    probe_child(fds[1], triple, cpu, features, help);
  }
  close(fds[1]);
  size_t len = 0;
  for (;;) {
    char chunk[4096];
    ssize_t got = read(fds[0], chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    size_t keep = (size_t)got < size - 1 - len ? (size_t)got : size - 1 - len;
    memcpy(out + len, chunk, keep);
    len += keep;
  }
  out[len] = 0;
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The CPU names in LLVM's help table ("  name - Select the name
 * processor."), one per line into names; returns how many. */
static int parse_cpu_table(char *text, const char **names, int max) {
  char *p = strstr(text, "Available CPUs for this target:");
  int n = 0;
  if (!p) return 0;
  p = strchr(p, '\n');
  while (p && n < max) {
    p++;
    char *eol = strchr(p, '\n');
    if (eol) *eol = 0;
    char *dash = strstr(p, " - ");
    if (!dash && *p) break; /* the end of the table */
    if (dash) {
      char *start = p;
      while (*start == ' ') start++;
      char *end = dash;
      while (end > start && end[-1] == ' ') end--;
      *end = 0;
      if (*start) names[n++] = start;
    }
    p = eol;
  }
  return n;
}

/* Edit distance, for "did you mean". */
static int distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

enum { PROBE_BYTES = 1 << 18, MAX_CPUS = 1024 };

/* Checks that LLVM knows `cpu` for `triple` and can make code for it
 * there; reports otherwise (with the closest names). */
static kiln_status check_cpu(kiln_ctx *ctx, const char *triple, const char *cpu,
                             const char *target) {
  char *text = kiln_malloc(ctx, PROBE_BYTES);
  kiln_status st = KILN_OK;
  bool ran = probe(ctx, triple, cpu, "", false, text, PROBE_BYTES);
  if (strstr(text, "is not a recognized processor")) {
    bool listed = probe(ctx, triple, "help", "", true, text, PROBE_BYTES);
    const char **names = kiln_malloc(ctx, MAX_CPUS * sizeof *names);
    int n = listed ? parse_cpu_table(text, names, MAX_CPUS) : 0;
    char near[256] = "";
    size_t k = 0;
    /* near misses only: a typo, not any short name */
    int most = (int)strlen(cpu) / 3 < 2 ? (int)strlen(cpu) / 3 : 2, shown = 0;
    for (int want = 0; want <= most && k < sizeof near; want++)
      for (int i = 0; i < n && k < sizeof near && shown < 5; i++)
        if (distance(cpu, names[i]) == want) {
          k += (size_t)snprintf(near + k, sizeof near - k, "%s%s", k ? ", " : "", names[i]);
          shown++;
        }
    kiln_error(ctx, "--cpu '%s': LLVM knows no such CPU for %s%s%s%s (kiln compile --target %s "
               "--cpu help lists the %d it knows)", cpu, triple, k ? "; did you mean " : "",
               near, k ? "?" : "", target ? target : "host", n);
    kiln_free(ctx, names);
    st = KILN_ERR_INVALID_ARGUMENT;
  } else if (!ran) {
    const char *why = strstr(text, "LLVM ERROR: ");
    char line[256] = "";
    if (why) {
      why += strlen("LLVM ERROR: ");
      size_t len = strcspn(why, "\n");
      snprintf(line, sizeof line, ": %.*s", (int)(len < 200 ? len : 200), why);
    }
    kiln_error(ctx, "--cpu '%s': LLVM cannot make code for %s with this CPU%s", cpu, triple,
               line);
    st = KILN_ERR_INVALID_ARGUMENT;
  }
  kiln_free(ctx, text);
  return st;
}

/* The triple a --target means (host or a described ISA), into *triple
 * (an LLVM message); reports a bad --target. */
static kiln_status resolve_triple(kiln_ctx *ctx, const char *target, char **triple) {
  char canon[256];
  tgt_desc d;
  if (!target || !strcmp(target, "host")) {
    char *host = LLVMGetDefaultTargetTriple();
    *triple = LLVMNormalizeTargetTriple(host);
    LLVMDisposeMessage(host);
    return KILN_OK;
  }
  kiln_status st = tgt_find(ctx, target, &d, canon, sizeof canon);
  if (!st) *triple = LLVMNormalizeTargetTriple(canon);
  return st;
}

kiln_status cg_list_cpus(kiln_ctx *ctx, const char *target, FILE *out) {
  init_llvm();
  char *triple;
  kiln_status st = resolve_triple(ctx, target, &triple);
  if (st) return st;
  char *text = kiln_malloc(ctx, PROBE_BYTES);
  const char **names = kiln_malloc(ctx, MAX_CPUS * sizeof *names);
  probe(ctx, triple, "help", "", true, text, PROBE_BYTES);
  int n = parse_cpu_table(text, names, MAX_CPUS);
  if (!n) {
    kiln_error(ctx, "LLVM listed no CPUs for %s", triple);
    st = KILN_ERR_INTERNAL;
  } else {
    fprintf(out, "CPUs LLVM knows for %s (--cpu NAME):\n", triple);
    for (int i = 0; i < n; i++) fprintf(out, "  %s\n", names[i]);
  }
  kiln_free(ctx, names);
  kiln_free(ctx, text);
  LLVMDisposeMessage(triple);
  return st;
}

kiln_status cg_check_target(kiln_ctx *ctx, const char *target, const char *cpu) {
  cg_target t;
  kiln_status st = cg_target_init(ctx, &t, target, cpu, 0);
  if (!st) cg_target_dispose(&t);
  return st;
}

kiln_status cg_check_features(kiln_ctx *ctx, const char *triple, const char *cpu,
                              const char *features) {
  init_llvm();
  char *text = kiln_malloc(ctx, PROBE_BYTES);
  bool ran = probe(ctx, triple, cpu, features, false, text, PROBE_BYTES);
  kiln_status st = KILN_OK;
  const char *bad = strstr(text, "is not a recognized feature");
  if (bad || !ran) {
    const char *line = text;
    if (bad)
      while (bad > text && bad[-1] != '\n') bad--;
    line = bad ? bad : text;
    kiln_error(ctx, "features '%s' of cpu '%s' for %s: %.*s", features, cpu, triple,
               (int)strcspn(line, "\n"), line);
    st = KILN_ERR_INVALID_ARGUMENT;
  }
  kiln_free(ctx, text);
  return st;
}

kiln_status cg_target_init(kiln_ctx *ctx, cg_target *t, const char *target, const char *cpu,
                           int opt_level) {
  memset(t, 0, sizeof *t);
  init_llvm();
  char canon[256];
  t->host = !target || !strcmp(target, "host");
  if (t->host) {
    char *host = LLVMGetDefaultTargetTriple();
    t->triple = LLVMNormalizeTargetTriple(host);
    LLVMDisposeMessage(host);
    /* kiln may run on an ISA it has no description of; the JIT still works */
    t->described = tgt_match(ctx, t->triple, &t->desc, canon, sizeof canon);
    t->cpu = cpu ? LLVMCreateMessage(cpu) : LLVMGetHostCPUName();
    t->features = cpu ? LLVMCreateMessage("") : LLVMGetHostCPUFeatures();
  } else {
    kiln_status st = tgt_find(ctx, target, &t->desc, canon, sizeof canon);
    if (st) return st;
    t->described = true;
    t->triple = LLVMNormalizeTargetTriple(canon);
    if (!triple_is_linux(t->triple)) {
      kiln_error(ctx, "target '%s' (%s) is not Linux: kiln writes ELF libraries for Linux only",
                 target, t->triple);
      cg_target_dispose(t);
      return KILN_ERR_UNSUPPORTED;
    }
    /* a named triple means a portable library: the ISA's baseline, from
     * its description, unless --cpu picks a CPU (which brings its own) */
    t->cpu = LLVMCreateMessage(cpu ? cpu : t->desc.cpu);
    t->features = LLVMCreateMessage(cpu ? "" : t->desc.features);
  }
  /* a --cpu is tried in a child first: LLVM would warn and may abort */
  if (cpu && check_cpu(ctx, t->triple, cpu, target) != KILN_OK) {
    cg_target_dispose(t);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  t->vector_bits = t->described ? tgt_vector_bits(&t->desc, t->features) : 128;
  t->opt_level = opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level;

  LLVMTargetRef tgt;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &tgt, &err)) {
    kiln_error(ctx, "unknown target '%s': %s", target ? target : "host", err ? err : "");
    LLVMDisposeMessage(err);
    cg_target_dispose(t);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  static const LLVMCodeGenOptLevel levels[4] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                LLVMCodeGenLevelDefault,
                                                LLVMCodeGenLevelAggressive};
  t->tm = LLVMCreateTargetMachine(tgt, t->triple, t->cpu, t->features, levels[t->opt_level],
                                  LLVMRelocPIC, LLVMCodeModelDefault);
  if (!t->tm) {
    kiln_error(ctx, "cannot create a target machine for '%s' (cpu '%s')", t->triple, t->cpu);
    cg_target_dispose(t);
    return KILN_ERR_INVALID_ARGUMENT;
  }
  t->layout = LLVMCreateTargetDataLayout(t->tm);
  return KILN_OK;
}

void cg_target_dispose(cg_target *t) {
  if (t->layout) LLVMDisposeTargetData(t->layout);
  if (t->tm) LLVMDisposeTargetMachine(t->tm);
  LLVMDisposeMessage(t->triple);
  LLVMDisposeMessage(t->cpu);
  LLVMDisposeMessage(t->features);
  memset(t, 0, sizeof *t);
}

kiln_status cg_optimize(kiln_ctx *ctx, const cg_target *t, LLVMModuleRef m) {
  char *err = NULL;
  if (LLVMVerifyModule(m, LLVMReturnStatusAction, &err)) {
    kiln_error(ctx, "internal error: kiln built an invalid LLVM module: %s", err);
    LLVMDisposeMessage(err);
    return KILN_ERR_INTERNAL;
  }
  LLVMDisposeMessage(err);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  bool vec = t->opt_level >= 2;
  LLVMPassBuilderOptionsSetLoopVectorization(po, vec);
  LLVMPassBuilderOptionsSetSLPVectorization(po, vec);
  LLVMPassBuilderOptionsSetLoopInterleaving(po, vec);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, t->opt_level >= 1);
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", t->opt_level);
  double t0 = kiln_clock();
  LLVMErrorRef e = LLVMRunPasses(m, pipeline, t->tm, po);
  kiln_time(ctx, "LLVM optimization", kiln_clock() - t0);
  LLVMDisposePassBuilderOptions(po);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    kiln_error(ctx, "internal error: LLVM pipeline %s failed: %s", pipeline, msg);
    LLVMDisposeErrorMessage(msg);
    return KILN_ERR_INTERNAL;
  }
  const char *dump = getenv("KILN_DUMP_LLVM");
  if (dump && *dump) LLVMPrintModuleToFile(m, dump, NULL);
  return KILN_OK;
}

kiln_status cg_emit_object(kiln_ctx *ctx, const cg_target *t, LLVMModuleRef m,
                           LLVMMemoryBufferRef *out) {
  char *err = NULL;
  double t0 = kiln_clock();
  LLVMBool failed = LLVMTargetMachineEmitToMemoryBuffer(t->tm, m, LLVMObjectFile, &err, out);
  kiln_time(ctx, "object emission (LLVM codegen)", kiln_clock() - t0);
  if (failed) {
    kiln_error(ctx, "internal error: LLVM could not emit an object for %s: %s", t->triple,
               err ? err : "");
    LLVMDisposeMessage(err);
    return KILN_ERR_INTERNAL;
  }
  return KILN_OK;
}
