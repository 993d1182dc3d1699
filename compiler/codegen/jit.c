/*
 * jit.c — runs a graph in this process through ORC LLJIT (`kiln run`,
 * `kiln tune`, the conformance and unit tests).
 *
 * The JIT takes the very object file the library path writes: the module
 * is built, optimized and emitted for the host by the same functions, and
 * the object is handed to LLJIT's linker.  So what the tests run is what
 * users link.  Weights are always embedded here (`kiln run` has no
 * weights file to map); --weights external only changes where constants
 * live, which the library tests cover.
 *
 * Symbol resolution.  Generated code calls the runtime (rt_*,
 * kiln_status_string) and a handful of libm/libc functions.  The runtime
 * is compiled into kiln itself with hidden visibility, so the dynamic
 * symbol table cannot find it: we define those symbols as absolute
 * addresses taken here.  Math and memory functions are listed the same way
 * (which also makes sure libm is linked into every program that uses the
 * JIT), and a process search generator resolves anything else LLVM's
 * backend may call.
 */
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cg.h"
#include "rt.h"

struct cg_jit {
  kiln_ctx *ctx;
  LLVMOrcLLJITRef jit;
  const kiln_model *model;
};

#if defined(__riscv)
/* runtime/half.c: the riscv64 runtime carries the half-precision helpers
 * GCC 12's libgcc lacks (runtime/meson.build, runtime_extra) */
float __extendhfsf2(float h);
float __truncsfhf2(float f);
#endif

typedef struct { const char *name; void (*fn)(void); } host_symbol;
#define SYM(f) {#f, (void (*)(void))f}

static const host_symbol host_symbols[] = {
    SYM(rt_parallel_for), SYM(rt_resolve_threads), SYM(rt_weights_base),
    SYM(kiln_status_string),
    SYM(memcpy), SYM(memmove), SYM(memset),
    SYM(expf), SYM(exp), SYM(expm1f), SYM(expm1), SYM(logf), SYM(log), SYM(log1pf), SYM(log1p),
    SYM(powf), SYM(pow), SYM(sinf), SYM(sin), SYM(cosf), SYM(cos), SYM(tanf), SYM(tan),
    SYM(asinf), SYM(asin), SYM(acosf), SYM(acos), SYM(atanf), SYM(atan), SYM(sinhf), SYM(sinh),
    SYM(coshf), SYM(cosh), SYM(tanhf), SYM(tanh), SYM(asinhf), SYM(asinh), SYM(acoshf),
    SYM(acosh), SYM(atanhf), SYM(atanh), SYM(erff), SYM(erf), SYM(fmodf), SYM(fmod),
    SYM(floorf), SYM(floor), SYM(ceilf), SYM(ceil), SYM(sqrtf), SYM(sqrt), SYM(roundevenf),
    SYM(roundeven), SYM(fminf), SYM(fmaxf), SYM(fmin), SYM(fmax),
#if defined(__riscv)
    SYM(__extendhfsf2), SYM(__truncsfhf2),
#endif
};

static kiln_status llvm_failed(kiln_ctx *ctx, LLVMErrorRef e, const char *what) {
  char *msg = LLVMGetErrorMessage(e);
  kiln_error(ctx, "internal error: JIT %s failed: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return KILN_ERR_INTERNAL;
}

static kiln_status define_host_symbols(cg_jit *j) {
  size_t n = sizeof host_symbols / sizeof host_symbols[0];
  LLVMOrcCSymbolMapPair pairs[sizeof host_symbols / sizeof host_symbols[0]];
  for (size_t i = 0; i < n; i++) {
    pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->jit, host_symbols[i].name);
    pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)host_symbols[i].fn;
    pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported |
                                      LLVMJITSymbolGenericFlagsCallable;
    pairs[i].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(pairs, n));
  if (e) return llvm_failed(j->ctx, e, "defining runtime symbols");
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
      &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) return llvm_failed(j->ctx, e, "process symbol search");
  LLVMOrcJITDylibAddGenerator(jd, gen);
  return KILN_OK;
}

kiln_status cg_jit_compile(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *name,
                           cg_jit **out) {
  *out = NULL;
  cg_target t;
  /* always the host: the code runs here */
  kiln_status st = cg_target_init(ctx, &t, "host", NULL, opt ? opt->opt_level : 2);
  if (st) return st;
  LLVMContextRef c = LLVMContextCreate();
  LLVMModuleRef m = NULL;
  LLVMMemoryBufferRef obj = NULL;
  int64_t ws;
  double t0 = kiln_clock();
  st = cg_build_module(ctx, g, &t, name, opt ? opt->threads : 0, NULL, c, &m, &ws);
  kiln_time(ctx, "lowering to LLVM IR", kiln_clock() - t0);
  if (!st) st = cg_optimize(ctx, &t, m);
  if (!st) st = cg_emit_object(ctx, &t, m, &obj);
  if (m) LLVMDisposeModule(m);
  LLVMContextDispose(c);
  cg_target_dispose(&t);
  if (st) return st;

  cg_jit *j = kiln_calloc(ctx, 1, sizeof *j);
  j->ctx = ctx;
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, NULL);
  if (e) {
    LLVMDisposeMemoryBuffer(obj);
    kiln_free(ctx, j);
    return llvm_failed(ctx, e, "creation");
  }
  st = define_host_symbols(j);
  if (!st) {
    e = LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), obj);
    obj = NULL; /* owned by the JIT now, even on failure */
    if (e) st = llvm_failed(ctx, e, "adding the object");
  }
  if (obj) LLVMDisposeMemoryBuffer(obj);
  char sym[160];
  snprintf(sym, sizeof sym, "%s_model", name);
  LLVMOrcExecutorAddress addr = 0;
  if (!st && (e = LLVMOrcLLJITLookup(j->jit, &addr, sym))) st = llvm_failed(ctx, e, "linking");
  if (st) {
    cg_jit_free(j);
    return st;
  }
  j->model = (const kiln_model *)(uintptr_t)addr;
  *out = j;
  return KILN_OK;
}

const kiln_model *cg_jit_model(const cg_jit *j) { return j->model; }

void cg_jit_free(cg_jit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
  }
  kiln_free(j->ctx, j);
}
