/*
 * cg.h — code generation: from a planned IR graph to native code.
 *
 *   ir_graph --cg_build_module--> LLVM module --cg_optimize--> optimized module
 *            --cg_emit_object--> NAME.o --cg_write_archive--> libNAME.a (+ runtime objects)
 *                                       \--cg_jit_load--> ORC LLJIT, in this process
 *            --cg_write_header--> NAME.h
 *
 * Both the library and the JIT go through the same module and the same
 * object emission, so the code the tests run is the code users link.
 *
 * What the module holds (see docs/codegen.md for a worked example):
 *   - one *kernel* function per node: `void (ptr in..., ptr out..., i64 begin,
 *     i64 end)` that computes items [begin, end) of the node's outermost
 *     parallel dimension.  Buffers are `noalias` arguments so LLVM's loop
 *     vectorizer needs no run-time alias checks.
 *   - for kernels with enough work, a *task* wrapper `void (ptr env, i64,
 *     i64)` that rt_parallel_for calls on each thread;
 *   - `int NAME_run(inputs, outputs, workspace, opt)`, which validates its
 *     arguments and calls the kernels in graph order, and `NAME_run_typed`;
 *   - constants as private 64-byte aligned read-only globals;
 *   - the `const kiln_model NAME_model` descriptor of runtime/kiln.h.
 *
 * Lowering an op (see "Adding a lowering" in docs/codegen.md): write a hook
 * `kiln_status lower_x(cg_state *s, int32_t node)` in lower_<family>.c,
 * list it in lower_table.c.  A hook checks what it supports (reporting with
 * ir_error_node and returning KILN_ERR_UNSUPPORTED otherwise), then
 *
 *     cg_kernel *k = cg_kernel_begin(s, node, items, work_per_item);
 *     cg_loop r = cg_for(s, k->begin, k->end);
 *       ... loads from k->in[i], stores to k->out[0], using the helpers below
 *     cg_end(s, &r);
 *     cg_kernel_end(s, k);
 *
 * Shapes are all static at this point; hooks read them at compile time and
 * emit only the arithmetic that depends on loop variables.
 */
#ifndef KILN_CG_H
#define KILN_CG_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"
#include "options.h"
#include "targets/target.h"

/* ---- targets, optimization and object emission (emit.c) ----------------- */
typedef struct cg_target {
  char *triple;              /* normalized LLVM triple */
  char *cpu;                 /* LLVM CPU name ("skylake", "generic") */
  char *features;            /* LLVM feature string ("+avx2,+fma,...") */
  bool host;                 /* code can run in this process (JIT) */
  int opt_level;             /* 0..3 */
  LLVMTargetMachineRef tm;
  LLVMTargetDataRef layout;  /* the data layout of tm */
  tgt_desc desc;             /* the ISA's description (targets/<isa>/target.yaml) */
  bool described;            /* false only for a host ISA kiln has no description of */
  int vector_bits;           /* SIMD register width the features give (0: scalar only);
                              * a hint for blocking, never needed for correctness */
} cg_target;

/* Sets up a target machine.  `target` is "host" (or NULL): this machine's
 * triple, CPU and features; or a triple whose arch one of
 * targets/<isa>/target.yaml names (aarch64-linux-gnu, arm64-linux-gnu,
 * riscv64gc-unknown-linux-gnu, ...): that ISA's portable CPU and features
 * unless `cpu` names one (an explicit CPU brings its own features). */
/* `--cpu help`: the CPU names LLVM knows for --target (host if NULL), one
 * per line to out. */
kiln_status cg_list_cpus(kiln_ctx *ctx, const char *target, FILE *out);
/* Checks --target and --cpu as compile would use them (cg_target_init,
 * then dispose): an unknown arch, OS or CPU is reported here. */
kiln_status cg_check_target(kiln_ctx *ctx, const char *target, const char *cpu);
/* Checks that LLVM knows every feature in the comma-separated `features`
 * for triple and cpu (the target descriptions' lists, in tests). */
kiln_status cg_check_features(kiln_ctx *ctx, const char *triple, const char *cpu,
                              const char *features);
kiln_status cg_target_init(kiln_ctx *ctx, cg_target *t, const char *target, const char *cpu,
                           int opt_level);
void cg_target_dispose(cg_target *t);
/* Verifies the module and runs LLVM's default<On> pipeline for the target. */
kiln_status cg_optimize(kiln_ctx *ctx, const cg_target *t, LLVMModuleRef m);
/* Emits a relocatable object into memory (the caller disposes *out). */
kiln_status cg_emit_object(kiln_ctx *ctx, const cg_target *t, LLVMModuleRef m,
                           LLVMMemoryBufferRef *out);

/* ---- the weights blob (weights_file.c, data_object.c) ---------------------- */
/* Every constant the generated code reads, in the form it reads it, at a
 * 64-byte aligned offset, filled in by cg_build_module for `kiln compile`.
 * Two homes for the same layout:
 *   - external (--weights external): NAME.weights (format in runtime/rt.h),
 *     offsets counted from the start of the file, after its header page;
 *   - embedded: one read-only data object NAME_weights.o in libNAME.a,
 *     written by kiln directly (data_object.c) rather than handed to LLVM
 *     as constant globals: LLVM's optimizer and AsmPrinter walking 100 MB
 *     of constants were a third of a ResNet-50 compile.  The code reads it
 *     through the hidden symbol NAME_weights_data.
 * `kiln run` (the JIT) passes no cg_weights and gets LLVM globals. */
typedef struct cg_weights_entry {
  const void *data;          /* a graph constant's payload (maybe inside a file
                              * mapping of the graph) or a copy in the arena */
  int64_t nbytes;
  int64_t offset;            /* file offset; entries are in increasing order */
} cg_weights_entry;

typedef struct cg_weights {
  kiln_ctx *ctx;
  const ir_graph *g;         /* its mappings tell which payloads are file-backed */
  ir_arena arena;            /* copies of constants made during lowering */
  cg_weights_entry *entries;
  int32_t count, cap;
  int64_t end;               /* end of the last entry */
  uint64_t hash;             /* payload hash, set by cg_write_weights */
  bool embed;                /* embedded in the archive, not a file */
} cg_weights;

void cg_weights_init(cg_weights *w, kiln_ctx *ctx, const ir_graph *g, bool embed);
void cg_weights_free(cg_weights *w);
/* Appends `nbytes` of data at the next aligned offset and returns that
 * offset.  `copy`: data is temporary, keep a copy; else it must outlive w. */
int64_t cg_weights_add(cg_weights *w, const void *data, int64_t nbytes, bool copy);
/* The file's size: header, entries, zeros up to a page boundary. */
int64_t cg_weights_file_size(const cg_weights *w);
/* Writes the file at `path` (through a temporary name, so a failed compile
 * leaves no half-written file) and sets w->hash.  Payloads inside file
 * mappings are streamed: each chunk's pages leave the process once
 * written, so weights larger than memory pass through; all-zero chunks
 * become holes. */
kiln_status cg_write_weights(cg_weights *w, const char *path, const char *model_name);
/* The symbol an embedded blob is defined as: NAME_weights_data. */
void cg_weights_symbol(const char *model_name, char *buf, size_t size);
/* Writes the blob's bytes, entries at their offsets and zeros between
 * them, then zeros up to `size` bytes in all; false on a write error. */
bool cg_weights_fwrite(const cg_weights *w, FILE *f, int64_t size);

/* ---- whole-graph entry points -------------------------------------------- */
/* Builds the module for g (shapes static and inferred) in LLVM context c.
 * `name` is the C identifier the symbols derive from; `threads` is the
 * default thread count baked in (0: decided at run time).  `weights` NULL
 * embeds constants as read-only globals; otherwise they are laid out in
 * *weights and read through the mapping of NAME.weights, and the module
 * is complete once cg_set_weights_hash has given it the file's hash.
 * Reports every node it cannot lower, then fails. */
kiln_status cg_build_module(kiln_ctx *ctx, ir_graph *g, const cg_target *t, const char *name,
                            int threads, cg_weights *weights, LLVMContextRef c,
                            LLVMModuleRef *out, int64_t *workspace_size);
/* Bakes the content hash of the written weights file into module m (the
 * kiln_model descriptor and NAME_run's check). */
void cg_set_weights_hash(LLVMModuleRef m, const char *name, uint64_t hash);

/* ---- parallel code generation (split.c) -------------------------------------- */
enum { CG_MAX_MODULE_PARTS = 8 };
typedef struct cg_module_part {
  LLVMContextRef c;          /* part 0: the module's own context */
  LLVMModuleRef m;
} cg_module_part;
/* Cuts library module m (of model `name`) into at most max_parts modules,
 * each in its own context, that together define what m did: parts[0] is
 * m itself, the others are new (the caller disposes their modules and
 * contexts).  Small modules stay whole (*nparts 1). */
kiln_status cg_split_module(kiln_ctx *ctx, LLVMModuleRef m, const char *name, int max_parts,
                            cg_module_part *parts, int *nparts);
/* cg_optimize + cg_emit_object for each part, on a thread each (part 0 on
 * the calling one, with t); objs[p] receives part p's object. */
kiln_status cg_emit_parts(kiln_ctx *ctx, const cg_target *t, const kiln_options *opt,
                          cg_module_part *parts, int n, LLVMMemoryBufferRef *objs);

/* Writes OUTDIR/libNAME.a, OUTDIR/NAME.h and OUTDIR/kiln.h (library.c). */
kiln_status cg_write_library(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt,
                             const char *name, const char *outdir);
/* What cg_write_library_info reports about the library it wrote. */
typedef struct cg_library_info {
  int64_t workspace_size;    /* bytes of NAME_WORKSPACE_SIZE */
  int64_t weights_file_size; /* bytes of NAME.weights; 0 with embedded weights */
} cg_library_info;
/* cg_write_library, filling *info (if non-NULL) on success. */
kiln_status cg_write_library_info(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt,
                                  const char *name, const char *outdir, cg_library_info *info);

/* A model compiled into this process (jit.c). */
typedef struct cg_jit cg_jit;
kiln_status cg_jit_compile(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt, const char *name,
                           cg_jit **out);
const kiln_model *cg_jit_model(const cg_jit *j);
void cg_jit_free(cg_jit *j);

/* ---- the library writers (archive.c, header.c) -------------------------- */
typedef struct cg_member {
  const char *name;          /* file name inside the archive ("NAME.o") */
  const void *data;          /* the member, or its first size - tail_size bytes */
  size_t size;
  const cg_weights *tail;    /* if set: the blob's bytes follow data, streamed
                              * from the entries (cg_weights_fwrite) */
  size_t tail_size;
} cg_member;
/* The embedded blob as an archive member NAME_weights.o (data_object.c):
 * an ELF64 relocatable object with one 64-byte aligned read-only section
 * holding the blob and defining the hidden global cg_weights_symbol.
 * e_machine, e_flags and the OS ABI are copied from `like` (the model's
 * own object), so the linker treats both alike.  The ELF headers and
 * tables come first, in out->data (kiln_malloc'ed, the caller frees it),
 * and the blob last, as out's tail, so it is streamed from the entries
 * instead of copied. */
kiln_status cg_weights_object(const cg_weights *w, const char *model_name, const void *like,
                              size_t like_size, const char *member_name, cg_member *out);
/* The runtime objects of t's ISA among objs (embedded in kiln, blobs.h):
 * the ELF64 objects whose e_machine is the ISA's, stored into out (room
 * for n) as archive members.  None is an error naming the packages that
 * would provide them. */
typedef struct cg_blob cg_blob;
kiln_status cg_runtime_for(kiln_ctx *ctx, const cg_target *t, const cg_blob *objs, int n,
                           cg_member *out, int *count);
/* Writes a System V / GNU ar archive with a symbol table ("/" member)
 * listing the global symbols the ELF members define. */
kiln_status cg_write_archive(kiln_ctx *ctx, const char *path, const cg_member *members, int count);
/* Writes NAME.h for g; weights_size > 0 for a --weights external model. */
kiln_status cg_write_header(kiln_ctx *ctx, const ir_graph *g, const char *name,
                            int64_t workspace_size, int64_t weights_size, const char *path);
/* Makes `in` a C identifier into out (size >= 2): other characters become
 * '_', a leading digit gets a '_' before it, keywords get a '_' after. */
void cg_c_identifier(const char *in, char *out, size_t size);

/* ---- lowering state ------------------------------------------------------ */
/* Where a value's buffer lives. */
typedef enum {
  CG_HOME_NONE = 0,          /* not placed yet */
  CG_HOME_INPUT,             /* inputs[index] of the run call */
  CG_HOME_OUTPUT,            /* outputs[index] of the run call */
  CG_HOME_CONST,             /* a read-only global */
  CG_HOME_WORKSPACE,         /* workspace + offset */
  CG_HOME_ALIAS,             /* the buffer of another value (views) */
} cg_home;

typedef struct cg_buf {
  cg_home home;
  int32_t index;             /* INPUT/OUTPUT position */
  int64_t offset;            /* WORKSPACE byte offset */
  ir_value_id alias;         /* ALIAS: the value whose bytes these are */
  LLVMValueRef global;       /* CONST: the global (embedded weights) */
  LLVMValueRef ptr;          /* the pointer in NAME_run, once computed */
} cg_buf;

typedef struct cg_kernel {
  int32_t node;
  int64_t items;             /* parallel extent: the kernel computes [begin, end) */
  bool parallel;             /* called through rt_parallel_for */
  LLVMValueRef fn;
  LLVMValueRef *in;          /* one pointer per node input; NULL if omitted */
  LLVMValueRef *out;         /* one pointer per node output; NULL if omitted */
  LLVMValueRef begin, end;   /* i64 */
  LLVMBasicBlockRef entry;   /* holds the allocas of cg_var */
  LLVMValueRef scratch;      /* private workspace bytes (cg_kernel_scratch), else NULL */
  int64_t scratch_offset;    /* their workspace offset */
  LLVMValueRef weights;      /* external weights: the mapping's base, else NULL */
} cg_kernel;

/* A constant of external weights used before its kernel existed: an
 * argument of a dummy function stands in for "weights base + offset" and
 * is replaced in every function that uses it when the module is done. */
typedef struct cg_weights_ref {
  LLVMValueRef dummy;        /* the dummy function */
  int64_t offset;            /* file offset of the constant */
} cg_weights_ref;

typedef struct cg_state {
  kiln_ctx *ctx;
  ir_graph *g;
  const cg_target *target;
  const char *name;          /* C identifier prefix of exported symbols */
  int threads;               /* baked default thread count */
  LLVMContextRef c;
  LLVMModuleRef m;
  LLVMBuilderRef b;          /* builds kernels */
  LLVMBuilderRef rb;         /* appends to NAME_run's body */
  /* common types */
  LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr, t_size;
  LLVMTypeRef t_kernel_task; /* void (ptr, i64, i64) */
  /* NAME_run */
  LLVMValueRef run_fn;
  LLVMValueRef run_inputs, run_outputs, run_ws, run_opt; /* its parameters */
  LLVMBasicBlockRef run_entry, run_body;
  LLVMValueRef run_env;      /* [max_args x ptr] for task environments */
  LLVMValueRef run_local_opt;/* kiln_run_options with the resolved thread count */
  int max_args;
  /* buffers */
  cg_buf *bufs;              /* bufs[value id] */
  int64_t ws_size;           /* workspace bytes so far */
  cg_kernel *k;              /* the kernel being built, if any */
  ir_arena arena;            /* scratch for the whole build */
  int num_kernels;
  int64_t scratch_bytes;     /* asked for by cg_kernel_scratch, taken by cg_kernel_begin */
  int64_t scratch_end;       /* end of the largest kernel scratch (shared by all kernels) */
  /* the weights blob (NULL: constants are LLVM globals, as for the JIT) */
  cg_weights *weights;
  LLVMValueRef wblob;        /* embedded blob: the external symbol NAME_weights_data */
  LLVMBasicBlockRef run_wcheck; /* NAME_run's block that finds the mapping */
  LLVMValueRef run_wbase;    /* the mapping's base inside NAME_run */
  cg_weights_ref *wrefs;     /* placeholders of cg_const_global */
  int32_t num_wrefs, cap_wrefs;
} cg_state;

/* A lowering hook: emits the code of node n (see the top of this file). */
typedef kiln_status (*cg_lower_fn)(cg_state *s, int32_t n);
extern const cg_lower_fn cg_lower_table[IR_OP_COUNT];

/* Nodes below this much work (about one scalar op per unit) run serially:
 * waking threads costs more than it saves. */
#define CG_PARALLEL_MIN_WORK (1 << 15)

/* ---- kernels and buffers (module.c) -------------------------------------- */
/* Starts the kernel of node n over `items` parallel items, each worth
 * about `work_per_item` scalar ops.  The builder s->b is left in the
 * kernel's body. */
cg_kernel *cg_kernel_begin(cg_state *s, int32_t n, int64_t items, int64_t work_per_item);
/* Gives the next kernel `bytes` of private, 64-byte aligned workspace
 * (k->scratch), for state a node needs beyond its outputs (recurrent
 * states, partial results).  Call just before cg_kernel_begin.  The bytes
 * are shared by all items: a parallel kernel gives each item its own
 * slice. */
void cg_kernel_scratch(cg_state *s, int64_t bytes);
/* Finishes the kernel and appends its call to NAME_run. */
void cg_kernel_end(cg_state *s, cg_kernel *k);
/* Makes value `view` share the bytes of value `of` (Reshape and friends);
 * no code is emitted.  Graph outputs are copied at the end of the run. */
void cg_alias(cg_state *s, ir_value_id view, ir_value_id of);
/* The pointer to v's bytes in NAME_run (for code a hook adds to NAME_run
 * itself, such as run-time checks; kernels get theirs as arguments). */
LLVMValueRef cg_value_ptr(cg_state *s, ir_value_id v);
/* In NAME_run at s->rb: `if (bad) return status;`, continuing after it. */
void cg_run_fail_if(cg_state *s, LLVMValueRef bad, int status);

/* Shape and size of a value (static by now). */
static inline const ir_shape *cg_shape(const cg_state *s, ir_value_id v) {
  return &s->g->values[v].shape;
}
static inline ir_dtype cg_dtype(const cg_state *s, ir_value_id v) { return s->g->values[v].dtype; }
int64_t cg_numel(const cg_state *s, ir_value_id v);
/* Node input/output value ids. */
static inline ir_value_id cg_in(const cg_state *s, int32_t n, int i) {
  return i < s->g->nodes[n].num_inputs ? s->g->nodes[n].inputs[i] : IR_NONE;
}
static inline ir_value_id cg_out(const cg_state *s, int32_t n, int i) {
  return i < s->g->nodes[n].num_outputs ? s->g->nodes[n].outputs[i] : IR_NONE;
}
/* Reports that node n is unsupported as lowered ("what") and returns
 * KILN_ERR_UNSUPPORTED, so hooks can `return cg_unsupported(...)`. */
kiln_status cg_unsupported(cg_state *s, int32_t n, const char *fmt, ...) KILN_PRINTF(3, 4);
/* Checks that every input and output of n has a dtype in `ok` (a list
 * ending with IR_UNDEFINED); reports otherwise. */
kiln_status cg_require_dtypes(cg_state *s, int32_t n, const ir_dtype *ok);
/* A pointer to `nbytes` read-only bytes, 64-byte aligned (e.g. weights a
 * hook repacks at compile time), for use inside kernels: a private global
 * with embedded weights, a place in the weights file with external ones.
 * Use it as a pointer only (loads, GEPs), not as an LLVM constant. */
LLVMValueRef cg_const_global(cg_state *s, const char *name, const void *data, int64_t nbytes);

/* ---- loops, index arithmetic and memory (loops.c) ------------------------ */
typedef struct cg_loop {
  LLVMValueRef i;            /* the induction variable (i64) */
  LLVMValueRef phi_;
  LLVMBasicBlockRef head_, exit_;
} cg_loop;
/* for (i = lo; i < hi; i++) { <builder here> } ... cg_end(s, &l). */
cg_loop cg_for(cg_state *s, LLVMValueRef lo, LLVMValueRef hi);
cg_loop cg_for_n(cg_state *s, int64_t n); /* 0 .. n */
void cg_end(cg_state *s, cg_loop *l);
/* if (cond) { <builder here> } ... cg_end_if(s, &l). */
cg_loop cg_if(cg_state *s, LLVMValueRef cond);
void cg_end_if(cg_state *s, cg_loop *l);

LLVMValueRef cg_i64(cg_state *s, int64_t v);
LLVMValueRef cg_i32(cg_state *s, int32_t v);
/* A constant of dtype's computation type (see cg_val_type). */
LLVMValueRef cg_const(cg_state *s, ir_dtype dt, double v);
/* i64 index arithmetic (nsw). */
LLVMValueRef cg_add(cg_state *s, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_sub(cg_state *s, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_mul(cg_state *s, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_addc(cg_state *s, LLVMValueRef a, int64_t c);
LLVMValueRef cg_mulc(cg_state *s, LLVMValueRef a, int64_t c);
LLVMValueRef cg_divc(cg_state *s, LLVMValueRef a, int64_t c); /* a >= 0, c > 0 */
LLVMValueRef cg_remc(cg_state *s, LLVMValueRef a, int64_t c); /* a >= 0, c > 0 */
LLVMValueRef cg_min(cg_state *s, LLVMValueRef a, LLVMValueRef b); /* signed */
LLVMValueRef cg_max(cg_state *s, LLVMValueRef a, LLVMValueRef b);
/* Splits a row-major flat index into `rank` indices over dims. */
void cg_unravel(cg_state *s, LLVMValueRef flat, int rank, const int64_t *dims, LLVMValueRef *idx);
/* sum idx[d] * strides[d], skipping zero strides. */
LLVMValueRef cg_dot_strides(cg_state *s, int rank, LLVMValueRef *idx, const int64_t *strides);
/* The t in [0, count) with lo <= base + t*step < hi form [*first, *last)
 * (empty: *first == *last); step > 0.  The clamped loop bounds of
 * padded windows. */
void cg_valid_range(cg_state *s, LLVMValueRef base, int64_t step, int64_t count, int64_t lo,
                    int64_t hi, LLVMValueRef *first, LLVMValueRef *last);

/* Types: memory representation and computation type (bool: i8 / i1). */
LLVMTypeRef cg_mem_type(cg_state *s, ir_dtype dt);
LLVMTypeRef cg_val_type(cg_state *s, ir_dtype dt);
/* &base[idx] in elements of dt (inbounds). */
LLVMValueRef cg_gep(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_load(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx);
void cg_store(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v);
/* A vector of vt (f32 lanes) loaded from / stored to &base[idx] (idx in
 * floats), with `align` bytes of alignment: 4 when only the element is
 * known aligned, more for packed constants. */
LLVMValueRef cg_vload(cg_state *s, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx, unsigned align);
void cg_vstore(cg_state *s, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v, unsigned align);
/* Masked vector load / store of vt at base + byte_off (alignment 1):
 * lanes off in `mask` (<lanes x i1>) are not accessed, so they may lie
 * outside the buffer (the address is computed without inbounds); a load
 * gives `passthru`'s lanes there.  One instruction each where the target
 * has masked moves (AVX-512BW for bytes); LLVM scalarizes them elsewhere. */
LLVMValueRef cg_masked_load(cg_state *s, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef byte_off,
                            LLVMValueRef mask, LLVMValueRef passthru);
void cg_masked_store(cg_state *s, LLVMValueRef v, LLVMValueRef base, LLVMValueRef byte_off, LLVMValueRef mask);
void cg_memcpy(cg_state *s, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef bytes);
void cg_memset_zero(cg_state *s, LLVMValueRef dst, LLVMValueRef bytes);
/* Converts a computation value between dtypes (ONNX Cast semantics). */
LLVMValueRef cg_cast(cg_state *s, LLVMValueRef v, ir_dtype from, ir_dtype to);
/* A stack variable in the kernel's entry block (promoted to registers by
 * the optimizer); handy for accumulators. */
LLVMValueRef cg_var(cg_state *s, LLVMTypeRef t, LLVMValueRef init);
LLVMValueRef cg_get(cg_state *s, LLVMTypeRef t, LLVMValueRef var);
void cg_set(cg_state *s, LLVMValueRef var, LLVMValueRef v);

/* Arithmetic on computation values of dtype dt (float or integer). */
typedef enum { CG_ADD, CG_SUB, CG_MUL, CG_DIV, CG_MIN, CG_MAX } cg_arith;
LLVMValueRef cg_arith_op(cg_state *s, cg_arith op, ir_dtype dt, LLVMValueRef a, LLVMValueRef b);
/* A vector of `lanes` copies of v (explicit SIMD where a hook wants it;
 * LLVM legalizes any width for the target). */
LLVMValueRef cg_splat(cg_state *s, LLVMValueRef v, unsigned lanes);
/* a * b + c with llvm.fmuladd (floats, scalars or vectors). */
LLVMValueRef cg_fmuladd(cg_state *s, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
/* exp and erf of f32 (a scalar or a vector) as polynomials (vmath.c):
 * vectorizable, within 2 ulp; cg_exp falls back to llvm.exp for other
 * float types. */
LLVMValueRef cg_exp_f32(cg_state *s, LLVMValueRef x);
LLVMValueRef cg_erf_f32(cg_state *s, LLVMValueRef x);
LLVMValueRef cg_exp(cg_state *s, LLVMValueRef x);
/* Calls an overloaded LLVM intrinsic ("llvm.exp") on values of type t. */
LLVMValueRef cg_intrinsic(cg_state *s, const char *name, LLVMTypeRef t, int nargs,
                          LLVMValueRef *args);
/* Calls a libm function of one type (e.g. "tanhf"; linked with -lm). */
LLVMValueRef cg_libm(cg_state *s, const char *name, LLVMTypeRef t, int nargs, LLVMValueRef *args);

/* ---- static shape helpers (loops.c) -------------------------------------- */
/* Row-major element strides of a shape. */
void cg_strides(const ir_shape *shape, int64_t *strides);
/* Strides of `in` indexed by the dims of the broadcast shape `out` (0 for
 * broadcast and missing dims). */
void cg_broadcast_strides(const ir_shape *out, const ir_shape *in, int64_t *strides);
/* Merges adjacent dims that every one of the n stride lists walks
 * contiguously (or not at all), and drops size-1 dims, in place; returns
 * the new rank.  [8,64,56,56] with a [1,64,1,1] operand becomes [512,3136]. */
int cg_collapse(int rank, int64_t *dims, int n, int64_t (*strides)[KILN_MAX_RANK]);
int64_t cg_prod(const int64_t *dims, int from, int to); /* dims[from..to) */
/* Normalizes a possibly negative axis; -1 if out of range. */
int cg_axis(int64_t axis, int rank);

/* ---- shared by the conv and pool lowerings (lower_pool.c) ---------------- */
typedef struct cg_window {
  int nsp;                        /* spatial dims */
  int64_t in[KILN_MAX_RANK];      /* input extents */
  int64_t out[KILN_MAX_RANK];     /* output extents */
  int64_t kernel[KILN_MAX_RANK];
  int64_t stride[KILN_MAX_RANK];
  int64_t dilation[KILN_MAX_RANK];
  int64_t pad_begin[KILN_MAX_RANK];
  int64_t pad_end[KILN_MAX_RANK];
} cg_window;
/* Reads kernel_shape (or takes `kernel` if non-NULL), strides, dilations,
 * pads and auto_pad of node n for input x and output y (N, C, spatial...). */
kiln_status cg_window_init(cg_state *s, int32_t n, const ir_shape *x, const ir_shape *y,
                           const int64_t *kernel, cg_window *w);

/* ---- byte movers (lower_copy.c) ------------------------------------------ */
/* The unsigned integer dtype of dt's storage width (u8/u16/u32/u64), or
 * IR_UNDEFINED for strings and 4-bit types: ops that only move elements
 * copy every dtype as one of these, so one kernel serves f16 and i16. */
ir_dtype cg_bits_dtype(ir_dtype dt);
/* Reports (on node n) and fails if value v cannot be moved as bits. */
kiln_status cg_require_copyable(cg_state *s, int32_t n, ir_value_id v);

enum { CG_COPY_MAX_RANK = 2 * KILN_MAX_RANK };
/* A strided copy: for every index i over dims,
 *   dst[dst_base + sum_d i_d * dst_stride[d]] = src[src_base + sum_d i_d * src_stride[d]]
 * (element offsets).  Source strides may be 0 (broadcast: Expand, Tile) or
 * negative (Slice with negative steps); Transpose, DepthToSpace and the
 * rest are permuted strides.  Rank up to twice KILN_MAX_RANK because Tile
 * splits each axis into (repeat, extent). */
typedef struct cg_copy {
  int rank;
  int64_t dims[CG_COPY_MAX_RANK];
  int64_t src_stride[CG_COPY_MAX_RANK];
  int64_t dst_stride[CG_COPY_MAX_RANK];
  int64_t src_base, dst_base;
} cg_copy;
/* Sets dst strides to the dense row-major strides of c->dims, base 0. */
void cg_copy_dense_dst(cg_copy *c);
/* Emits one kernel of node n copying its input `in` into its output `out`
 * as c says, moving elements as dtype dt (see cg_bits_dtype).  Picks a
 * memcpy per row, a tiled transpose or a strided loop; c is simplified in
 * place. */
void cg_emit_copy(cg_state *s, int32_t n, int in, int out, ir_dtype dt, cg_copy *c);
/* Emits one kernel of node n setting every element of its output `out` to
 * one value of dtype dt: element 0 of input `value_in` read at run time if
 * value_in >= 0, else the constant `bits`. */
void cg_emit_fill(cg_state *s, int32_t n, int out, ir_dtype dt, int value_in, uint64_t bits);
/* ---- reductions over a set of axes (lower_reduce.c) ---------------------- */
/* The input's dims split into kept dims (one output element, and one
 * parallel item, per kept index) and reduced dims (walked by nested loops
 * in row-major order); adjacent dims of a kind are merged, extent-1 dims
 * dropped.  Strides are in input elements. */
typedef struct cg_reduce_plan {
  int nkeep, nred;
  int64_t keep_dims[KILN_MAX_RANK], keep_strides[KILN_MAX_RANK];
  int64_t red_dims[KILN_MAX_RANK], red_strides[KILN_MAX_RANK];
  int64_t items;             /* product of the kept dims: output elements */
  int64_t len;               /* product of the reduced dims: elements per output */
} cg_reduce_plan;
void cg_reduce_plan_init(const ir_shape *x, const bool *reduced, cg_reduce_plan *p);
/* Input offset of the first element reduced into output element `item`. */
LLVMValueRef cg_reduce_base(cg_state *s, const cg_reduce_plan *p, LLVMValueRef item);
/* Opens the loops over the reduced dims (loops[] has KILN_MAX_RANK
 * entries) and returns the input offset of the current element. */
LLVMValueRef cg_reduce_loops(cg_state *s, const cg_reduce_plan *p, LLVMValueRef base,
                             cg_loop *loops);
void cg_reduce_loops_end(cg_state *s, const cg_reduce_plan *p, cg_loop *loops);
/* Reduces x[base .. base + len) (contiguous, f32 or f64) with a fixed
 * lane-interleaved order that vectorizes (see lower_reduce.c):
 * SUM: x, SQ: x^2, SQ_DEV: (x - center)^2, ABS: |x|, MAX, MIN. */
typedef enum { CG_LANE_SUM, CG_LANE_SQ, CG_LANE_SQ_DEV, CG_LANE_ABS, CG_LANE_MAX, CG_LANE_MIN } cg_lane_op;
LLVMValueRef cg_lane_reduce(cg_state *s, cg_lane_op op, ir_dtype dt, LLVMValueRef x,
                            LLVMValueRef base, int64_t len, LLVMValueRef center);
/* The dtype arithmetic on dt is done in: f16 and bf16 widen to f32. */
ir_dtype cg_compute_dtype(ir_dtype dt);
/* cg_load converted to dtype `to`. */
LLVMValueRef cg_load_as(cg_state *s, ir_dtype dt, LLVMValueRef base, LLVMValueRef idx,
                        ir_dtype to);

/* ---- lowering hooks, by family ------------------------------------------- */
/* lower_elementwise.c */
kiln_status lower_unary(cg_state *s, int32_t n);
kiln_status lower_binary(cg_state *s, int32_t n);
kiln_status lower_variadic(cg_state *s, int32_t n);
kiln_status lower_where(cg_state *s, int32_t n);
kiln_status lower_clip(cg_state *s, int32_t n);
kiln_status lower_cast(cg_state *s, int32_t n);
/* f32 x through unary op's scalar function, reading node n's attributes;
 * cg_unary_has_scalar tells which ops have one. */
LLVMValueRef cg_unary_scalar(cg_state *s, int32_t n, ir_op op, LLVMValueRef x);
bool cg_unary_has_scalar(ir_op op);
/* lower_matmul.c */
kiln_status lower_matmul(cg_state *s, int32_t n);
kiln_status lower_gemm(cg_state *s, int32_t n);
/* lower_conv.c */
kiln_status lower_conv(cg_state *s, int32_t n);
/* lower_pool.c */
kiln_status lower_pool(cg_state *s, int32_t n);
kiln_status lower_global_pool(cg_state *s, int32_t n);
/* lower_shape.c */
kiln_status lower_view(cg_state *s, int32_t n);
kiln_status lower_concat(cg_state *s, int32_t n);
kiln_status lower_transpose(cg_state *s, int32_t n);
kiln_status lower_split(cg_state *s, int32_t n);
kiln_status lower_shape_of(cg_state *s, int32_t n);
/* lower_copy.c */
kiln_status lower_slice(cg_state *s, int32_t n);
kiln_status lower_expand(cg_state *s, int32_t n);
kiln_status lower_tile(cg_state *s, int32_t n);
kiln_status lower_depth_to_space(cg_state *s, int32_t n);
kiln_status lower_space_to_depth(cg_state *s, int32_t n);
/* lower_pad.c */
kiln_status lower_pad(cg_state *s, int32_t n);
kiln_status lower_center_crop_pad(cg_state *s, int32_t n);
kiln_status lower_reverse_sequence(cg_state *s, int32_t n);
/* lower_fill.c */
kiln_status lower_constant_of_shape(cg_state *s, int32_t n);
kiln_status lower_range(cg_state *s, int32_t n);
kiln_status lower_eye_like(cg_state *s, int32_t n);
kiln_status lower_trilu(cg_state *s, int32_t n);
kiln_status lower_one_hot(cg_state *s, int32_t n);
/* lower_gather.c */
kiln_status lower_gather(cg_state *s, int32_t n);
kiln_status lower_gather_elements(cg_state *s, int32_t n);
kiln_status lower_gather_nd(cg_state *s, int32_t n);
kiln_status lower_compress(cg_state *s, int32_t n);
kiln_status lower_data_dependent(cg_state *s, int32_t n); /* refuses NonZero, Unique */
/* lower_scatter.c */
kiln_status lower_scatter_elements(cg_state *s, int32_t n);
kiln_status lower_scatter_nd(cg_state *s, int32_t n);
/* lower_resize.c */
kiln_status lower_resize(cg_state *s, int32_t n);
/* lower_conv_transpose.c */
kiln_status lower_conv_transpose(cg_state *s, int32_t n);
/* lower_quant.c, lower_qconv.c */
kiln_status lower_quantize(cg_state *s, int32_t n);
kiln_status lower_dynamic_quantize(cg_state *s, int32_t n);
kiln_status lower_matmul_integer(cg_state *s, int32_t n);
kiln_status lower_conv_integer(cg_state *s, int32_t n);
/* lower_qlinear.c: kiln.QConv and kiln.QMatMul (arithmetic in ir/qmath.h) */
kiln_status lower_qadd(cg_state *s, int32_t n);
kiln_status lower_qconv(cg_state *s, int32_t n);
kiln_status lower_qmatmul(cg_state *s, int32_t n);
/* qmath.h's requantization of an i32 accumulator with i32 mult and shift
 * (run-time values): clamp(zp + rshift_round(acc * mult, shift), lo, hi),
 * as i32. */
LLVMValueRef cg_requant(cg_state *s, LLVMValueRef acc, LLVMValueRef mult, LLVMValueRef shift,
                        int32_t zp, int32_t lo, int32_t hi);
/* lower_reduce.c */
kiln_status lower_reduce(cg_state *s, int32_t n);
kiln_status lower_arg_reduce(cg_state *s, int32_t n);
/* lower_einsum.c */
kiln_status lower_einsum(cg_state *s, int32_t n);
/* lower_lp_pool.c */
kiln_status lower_lp_pool(cg_state *s, int32_t n);
/* lower_norm.c */
kiln_status lower_layer_norm(cg_state *s, int32_t n);
kiln_status lower_batch_norm(cg_state *s, int32_t n);
kiln_status lower_instance_norm(cg_state *s, int32_t n);
kiln_status lower_group_norm(cg_state *s, int32_t n);
kiln_status lower_lrn(cg_state *s, int32_t n);
kiln_status lower_lp_norm(cg_state *s, int32_t n);
kiln_status lower_mvn(cg_state *s, int32_t n);
/* lower_rnn.c */
kiln_status lower_rnn(cg_state *s, int32_t n);
/* lower_scan.c */
kiln_status lower_cumsum(cg_state *s, int32_t n);
kiln_status lower_top_k(cg_state *s, int32_t n);
kiln_status lower_hardmax(cg_state *s, int32_t n);
/* lower_softmax.c */
kiln_status lower_softmax(cg_state *s, int32_t n);
/* lower_loss.c: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss */
kiln_status lower_loss(cg_state *s, int32_t n);
/* lower_random.c: Dropout (training mode draws a mask; otherwise a view) */
kiln_status lower_dropout(cg_state *s, int32_t n);
/* lower_control.c: explains why an If, Loop or Scan was not unrolled */
kiln_status lower_control_flow(cg_state *s, int32_t n);
/* lower_text.c */
kiln_status lower_tfidf_vectorizer(cg_state *s, int32_t n);
/* lower_sample.c */
kiln_status lower_grid_sample(cg_state *s, int32_t n);
kiln_status lower_roi_align(cg_state *s, int32_t n);
/* lower_pool.c (beside the pools) */
kiln_status lower_max_unpool(cg_state *s, int32_t n);
/* lower_linalg.c */
kiln_status lower_det(cg_state *s, int32_t n);
/* lower_signal.c */
kiln_status lower_window(cg_state *s, int32_t n);
kiln_status lower_mel_weight_matrix(cg_state *s, int32_t n);
kiln_status lower_dft(cg_state *s, int32_t n);
kiln_status lower_stft(cg_state *s, int32_t n);
/* lower_hadamard.c: the kiln op Hadamard (fast Walsh-Hadamard transform) */
kiln_status lower_hadamard(cg_state *s, int32_t n);
/* lower_matmul_w4.c: the kiln op MatMulW4 (4-bit weights, packed) */
kiln_status lower_matmul_w4(cg_state *s, int32_t n);

#endif /* KILN_CG_H */
