/*
 * module.c — one LLVM module per graph: buffers, kernels, NAME_run and the
 * kiln_model descriptor.
 *
 * The order of work in cg_build_module:
 *
 *   1. check   every live node has a lowering and static shapes; report
 *              all problems at once (the CLI promises that);
 *   2. place   graph inputs and outputs in the caller's buffers; other
 *              values get a home lazily: constants become private globals,
 *              activations a 64-byte aligned workspace offset (the
 *              plan-memory pass's ir_value.offset when it set one, else the
 *              next free offset), views (cg_alias) another value's bytes;
 *   3. lower   each node through cg_lower_table; a hook emits one kernel
 *              and cg_kernel_end appends its call to NAME_run's body, which
 *              is straight-line code;
 *   4. finish  copy graph outputs that live elsewhere (an output that is a
 *              view, an input or a constant) into the caller's buffer,
 *              return 0, and only now, with the workspace size known, emit
 *              the argument checks at the top of NAME_run;
 *   5. export  NAME_run_typed and the `const kiln_model NAME_model`.
 *
 * Kernel arguments are `noalias`: a node's outputs never overlap its inputs
 * because every activation has its own bytes.  If a memory plan makes a
 * node write in place, the overlap test below drops `noalias` for that pair.
 *
 * Functions that cross into C (NAME_run, NAME_run_typed, the runtime's
 * rt_*) follow the target's C ABI: pointers and i64 need nothing, and the
 * i32 status and thread counts get `signext` where the ISA's description
 * asks for it (riscv64, abi_int32).  Kernels and tasks are internal.
 *
 * External weights (--weights external).  Constants then live in the
 * mapping of NAME.weights instead of .rodata: cg_weights records each
 * one's file offset, NAME_run first asks the runtime for the mapping's
 * base (rt_weights_base: the one in kiln_run_options, if it is the file
 * this model was compiled with; else the run fails with KILN_ERR_WEIGHTS)
 * and hands `base + offset` to kernels like any other buffer.  Every
 * kernel also receives the base itself, for the constants hooks make
 * while lowering (cg_const_global: packed weights, index tables).  A hook
 * may ask for such a constant before its kernel exists, so
 * cg_const_global returns a stand-in (the argument of a dummy function)
 * that resolve_weights_refs replaces by `base + offset` in whichever
 * function uses it, once all kernels are built.  Nothing about the bytes
 * goes through LLVM, so weights larger than memory compile.
 *
 * Embedded weights in a library (`kiln compile` without --weights
 * external) use the same layout, in a data object of the archive
 * (data_object.c) that defines NAME_weights_data: a constant's address is
 * then a link-time constant, `NAME_weights_data + offset`, so kernels need
 * no base parameter and no stand-ins.  Only the JIT (`kiln run`) still
 * hands constants to LLVM as globals.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cg.h"

static int64_t align64(int64_t x) { return (x + 63) & ~(int64_t)63; }

int64_t cg_numel(const cg_state *s, ir_value_id v) { return ir_shape_numel(cg_shape(s, v)); }

static int64_t value_bytes(const cg_state *s, ir_value_id v) {
  return ir_dtype_bytes(cg_dtype(s, v), cg_numel(s, v));
}

kiln_status cg_unsupported(cg_state *s, int32_t n, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ir_error_node(s->g, n, "%s", msg);
  return KILN_ERR_UNSUPPORTED;
}

kiln_status cg_require_dtypes(cg_state *s, int32_t n, const ir_dtype *ok) {
  const ir_node *nd = &s->g->nodes[n];
  for (int i = 0; i < nd->num_inputs + nd->num_outputs; i++) {
    ir_value_id v = i < nd->num_inputs ? nd->inputs[i] : nd->outputs[i - nd->num_inputs];
    if (v < 0) continue;
    bool found = false;
    for (const ir_dtype *d = ok; *d != IR_UNDEFINED; d++) found |= *d == cg_dtype(s, v);
    if (!found)
      return cg_unsupported(s, n, "no code generation for dtype %s (value '%s')",
                            ir_dtype_name(cg_dtype(s, v)), s->g->values[v].name);
  }
  return KILN_OK;
}

/* ---- buffers ------------------------------------------------------------------ */
/* Constants come from a mapped NAME.weights whose base NAME_run finds at
 * run time (not a blob linked in, not LLVM globals). */
static bool external_weights(const cg_state *s) { return s->weights && !s->weights->embed; }

/* `NAME_weights_data + offset`: a constant of the embedded blob. */
static LLVMValueRef blob_at(cg_state *s, int64_t offset) {
  LLVMValueRef off = cg_i64(s, offset);
  return LLVMConstInBoundsGEP2(s->t_i8, s->wblob, &off, 1);
}

/* A stand-in for "weights base + offset" (see the top of this file). */
static LLVMValueRef weights_ref(cg_state *s, int64_t offset) {
  if (s->num_wrefs == s->cap_wrefs) {
    s->cap_wrefs = s->cap_wrefs ? 2 * s->cap_wrefs : 16;
    s->wrefs = kiln_realloc(s->ctx, s->wrefs, (size_t)s->cap_wrefs * sizeof *s->wrefs);
  }
  LLVMValueRef dummy = LLVMAddFunction(s->m, "kiln.weights.ref",
                                       LLVMFunctionType(s->t_void, &s->t_ptr, 1, 0));
  s->wrefs[s->num_wrefs++] = (cg_weights_ref){dummy, offset};
  return LLVMGetParam(dummy, 0);
}

/* Replaces every use of the stand-ins by `base + offset` computed in the
 * using kernel's entry block from its weights parameter; after a failed
 * build (ok false) by poison, so that the dummies can be deleted. */
static void resolve_weights_refs(cg_state *s, bool ok) {
  LLVMBuilderRef b = LLVMCreateBuilderInContext(s->c);
  for (int32_t i = 0; i < s->num_wrefs; i++) {
    LLVMValueRef arg = LLVMGetParam(s->wrefs[i].dummy, 0);
    for (LLVMUseRef u; (u = LLVMGetFirstUse(arg));) {
      LLVMValueRef user = LLVMGetUser(u), repl = LLVMGetPoison(s->t_ptr);
      if (ok) {
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInstructionParent(user));
        unsigned nparams = LLVMCountParams(fn);
        /* kernels: (buffers..., [scratch], weights, begin, end) */
        assert(nparams >= 3 && "weights used outside a kernel");
        LLVMPositionBuilderBefore(b, LLVMGetBasicBlockTerminator(LLVMGetEntryBasicBlock(fn)));
        LLVMValueRef off = cg_i64(s, s->wrefs[i].offset);
        repl = LLVMBuildInBoundsGEP2(b, s->t_i8, LLVMGetParam(fn, nparams - 3), &off, 1, "w");
      }
      for (int k = 0; k < LLVMGetNumOperands(user); k++)
        if (LLVMGetOperand(user, (unsigned)k) == arg) LLVMSetOperand(user, (unsigned)k, repl);
    }
    LLVMDeleteFunction(s->wrefs[i].dummy);
  }
  LLVMDisposeBuilder(b);
  kiln_free(s->ctx, s->wrefs);
  s->wrefs = NULL;
  s->num_wrefs = s->cap_wrefs = 0;
}

LLVMValueRef cg_const_global(cg_state *s, const char *name, const void *data, int64_t nbytes) {
  if (s->weights) {
    int64_t offset = cg_weights_add(s->weights, data, nbytes, true);
    return s->weights->embed ? blob_at(s, offset) : weights_ref(s, offset);
  }
  LLVMValueRef init = LLVMConstStringInContext2(s->c, data, (size_t)nbytes, 1);
  LLVMValueRef gv = LLVMAddGlobal(s->m, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(gv, 64);
  return gv;
}

/* Gives v a home if it has none yet (see step 2 above). */
static void place(cg_state *s, ir_value_id v) {
  cg_buf *b = &s->bufs[v];
  if (b->home != CG_HOME_NONE) return;
  const ir_value *val = &s->g->values[v];
  if (val->storage == IR_STORAGE_CONST) {
    /* the global itself is made on first use (value_ptr): a kernel that
     * reads a repacked copy must not drag the original into the object */
    b->home = CG_HOME_CONST;
    return;
  }
  b->home = CG_HOME_WORKSPACE;
  if (val->offset >= 0) {
    b->offset = val->offset; /* planned; ws_size already covers it */
  } else {
    b->offset = align64(s->ws_size);
    s->ws_size = b->offset + value_bytes(s, v);
  }
}

/* The value whose bytes v's are, following views. */
static ir_value_id root_of(const cg_state *s, ir_value_id v) {
  while (s->bufs[v].home == CG_HOME_ALIAS) v = s->bufs[v].alias;
  return v;
}

void cg_alias(cg_state *s, ir_value_id view, ir_value_id of) {
  assert(s->bufs[view].home == CG_HOME_NONE || s->bufs[view].home == CG_HOME_OUTPUT);
  assert(!s->bufs[view].ptr);
  place(s, of);
  s->bufs[view].home = CG_HOME_ALIAS;
  s->bufs[view].alias = of;
}

/* The pointer to v's bytes inside NAME_run (emitted once, in its body). */
static LLVMValueRef value_ptr(cg_state *s, ir_value_id v) {
  place(s, v);
  cg_buf *b = &s->bufs[v];
  if (b->ptr) return b->ptr;
  LLVMValueRef idx;
  switch (b->home) {
  case CG_HOME_INPUT:
  case CG_HOME_OUTPUT:
    idx = cg_i64(s, b->index);
    b->ptr = LLVMBuildLoad2(s->rb, s->t_ptr,
                            LLVMBuildInBoundsGEP2(s->rb, s->t_ptr,
                                                  b->home == CG_HOME_INPUT ? s->run_inputs
                                                                           : s->run_outputs,
                                                  &idx, 1, ""),
                            s->g->values[v].name);
    break;
  case CG_HOME_CONST:
    if (s->weights) { /* inside the blob: linked in, or the mapping of NAME.weights */
      int64_t offset = cg_weights_add(s->weights, s->g->values[v].data, value_bytes(s, v), false);
      if (s->weights->embed) {
        b->ptr = blob_at(s, offset);
      } else {
        idx = cg_i64(s, offset);
        b->ptr = LLVMBuildInBoundsGEP2(s->rb, s->t_i8, s->run_wbase, &idx, 1, s->g->values[v].name);
      }
      break;
    }
    if (!b->global) {
      char name[96];
      snprintf(name, sizeof name, "const.%s", s->g->values[v].name);
      b->global = cg_const_global(s, name, s->g->values[v].data, value_bytes(s, v));
    }
    b->ptr = b->global;
    break;
  case CG_HOME_WORKSPACE:
    idx = cg_i64(s, b->offset);
    b->ptr = LLVMBuildInBoundsGEP2(s->rb, s->t_i8, s->run_ws, &idx, 1, s->g->values[v].name);
    break;
  case CG_HOME_ALIAS: b->ptr = value_ptr(s, b->alias); break;
  case CG_HOME_NONE: assert(0 && "unplaced value");
  }
  return b->ptr;
}

/* True if the bytes of a and b may overlap (caller buffers are distinct
 * from each other and from the workspace by contract). */
static bool may_overlap(const cg_state *s, ir_value_id a, ir_value_id b) {
  a = root_of(s, a);
  b = root_of(s, b);
  if (a == b) return true;
  const cg_buf *x = &s->bufs[a], *y = &s->bufs[b];
  if (x->home != CG_HOME_WORKSPACE || y->home != CG_HOME_WORKSPACE) return false;
  return x->offset < y->offset + value_bytes(s, b) && y->offset < x->offset + value_bytes(s, a);
}

/* ---- functions ------------------------------------------------------------------- */
static void add_fn_attr(cg_state *s, LLVMValueRef fn, unsigned idx, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(s->c, kind, 0));
}

/* Every function gets the target's CPU and features, so the vectorizer
 * and the backend use the full ISA (the JIT and the archive alike). */
static void set_target_attrs(cg_state *s, LLVMValueRef fn) {
  const char *kv[2][2] = {{"target-cpu", s->target->cpu},
                          {"target-features", s->target->features}};
  for (int i = 0; i < 2; i++)
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(s->c, kv[i][0], (unsigned)strlen(kv[i][0]),
                                                      kv[i][1], (unsigned)strlen(kv[i][1])));
  add_fn_attr(s, fn, LLVMAttributeFunctionIndex, "nounwind");
}

/* Some C ABIs (riscv64) keep a 32-bit int sign-extended in its 64-bit
 * register across calls, and LLVM must be told so per argument and return
 * value, as clang does: `signext` on an int of a function C code calls
 * (NAME_run) or that kiln calls in C code (rt_resolve_threads).  idx is
 * LLVMAttributeReturnIndex or 1 + the argument's position; a call site
 * repeats its callee's attributes. */
static void abi_int32(cg_state *s, LLVMValueRef fn_or_call, unsigned idx) {
  if (!s->target->desc.sign_extend_i32) return;
  unsigned kind = LLVMGetEnumAttributeKindForName("signext", 7);
  LLVMAttributeRef a = LLVMCreateEnumAttribute(s->c, kind, 0);
  if (LLVMIsACallInst(fn_or_call))
    LLVMAddCallSiteAttribute(fn_or_call, idx, a);
  else
    LLVMAddAttributeAtIndex(fn_or_call, idx, a);
}

static LLVMValueRef runtime_fn(cg_state *s, const char *name, LLVMTypeRef ret, int n,
                               LLVMTypeRef *params) {
  LLVMValueRef fn = LLVMGetNamedFunction(s->m, name);
  if (!fn) fn = LLVMAddFunction(s->m, name, LLVMFunctionType(ret, params, (unsigned)n, 0));
  return fn;
}

static LLVMValueRef call_fn(LLVMBuilderRef b, LLVMValueRef fn, int n, LLVMValueRef *args) {
  return LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n, "");
}

/* The number of pointer arguments of k's function: node inputs, node
 * outputs, the scratch pointer if the hook asked for one, and the weights
 * base with external weights. */
static int kernel_ptr_args(const cg_state *s, const cg_kernel *k) {
  const ir_node *nd = &s->g->nodes[k->node];
  return nd->num_inputs + nd->num_outputs + (k->scratch != NULL) + (k->weights != NULL);
}

void cg_kernel_scratch(cg_state *s, int64_t bytes) {
  assert(!s->k && "ask for scratch before cg_kernel_begin");
  s->scratch_bytes = bytes > 0 ? bytes : 1;
}

cg_kernel *cg_kernel_begin(cg_state *s, int32_t n, int64_t items, int64_t work_per_item) {
  assert(!s->k && "kernels do not nest");
  const ir_node *nd = &s->g->nodes[n];
  int nio = nd->num_inputs + nd->num_outputs;
  int64_t scratch = s->scratch_bytes;
  s->scratch_bytes = 0;
  int nargs = nio + (scratch > 0) + external_weights(s);
  cg_kernel *k = ir_arena_alloc(&s->arena, sizeof *k);
  k->node = n;
  k->items = items;
  /* in double: the product of two large counts must not overflow */
  k->parallel = items > 1 && (double)items * (double)work_per_item >= CG_PARALLEL_MIN_WORK;
  k->in = ir_arena_alloc(&s->arena, (size_t)(nd->num_inputs + 1) * sizeof *k->in);
  k->out = ir_arena_alloc(&s->arena, (size_t)(nd->num_outputs + 1) * sizeof *k->out);

  LLVMTypeRef *params = ir_arena_alloc(&s->arena, (size_t)(nargs + 2) * sizeof *params);
  for (int i = 0; i < nargs; i++) params[i] = s->t_ptr;
  params[nargs] = params[nargs + 1] = s->t_i64;
  char fname[160];
  snprintf(fname, sizeof fname, "%s.%s", ir_ops[nd->op].name, nd->name);
  k->fn = LLVMAddFunction(s->m, fname, LLVMFunctionType(s->t_void, params, (unsigned)nargs + 2, 0));
  LLVMSetLinkage(k->fn, LLVMInternalLinkage);
  set_target_attrs(s, k->fn);
  add_fn_attr(s, k->fn, LLVMAttributeFunctionIndex, "noinline");

  ir_value_id *vals = ir_arena_alloc(&s->arena, (size_t)(nargs + 1) * sizeof *vals);
  for (int i = 0; i < nio; i++) {
    vals[i] = i < nd->num_inputs ? nd->inputs[i] : nd->outputs[i - nd->num_inputs];
    if (vals[i] >= 0) place(s, vals[i]);
  }
  for (int i = 0; i < nio; i++) {
    LLVMValueRef p = LLVMGetParam(k->fn, (unsigned)i);
    bool is_in = i < nd->num_inputs;
    if (is_in)
      k->in[i] = vals[i] >= 0 ? p : NULL;
    else
      k->out[i - nd->num_inputs] = vals[i] >= 0 ? p : NULL;
    if (vals[i] < 0) continue;
    bool alias_free = true;
    for (int j = 0; j < nio; j++) {
      bool j_out = j >= nd->num_inputs;
      if (j != i && vals[j] >= 0 && (!is_in || j_out) && may_overlap(s, vals[i], vals[j]))
        alias_free = false;
    }
    unsigned idx = (unsigned)i + 1;
    if (alias_free) add_fn_attr(s, k->fn, idx, "noalias");
    add_fn_attr(s, k->fn, idx, "nocapture");
    if (is_in) add_fn_attr(s, k->fn, idx, "readonly");
  }
  if (scratch > 0) {
    /* private bytes at the end of the workspace, never shared with a value */
    k->scratch = LLVMGetParam(k->fn, (unsigned)nio);
    /* Kernels run one after another, so every kernel's scratch starts at
     * the same place, past the values placed so far: the workspace grows
     * by the largest scratch, not by their sum. */
    k->scratch_offset = align64(s->ws_size);
    if (k->scratch_offset + scratch > s->scratch_end) s->scratch_end = k->scratch_offset + scratch;
    add_fn_attr(s, k->fn, (unsigned)nio + 1, "noalias");
    add_fn_attr(s, k->fn, (unsigned)nio + 1, "nocapture");
  }
  if (external_weights(s)) { /* the mapping's base, last pointer (resolve_weights_refs) */
    k->weights = LLVMGetParam(k->fn, (unsigned)nargs - 1);
    add_fn_attr(s, k->fn, (unsigned)nargs, "readonly");
    add_fn_attr(s, k->fn, (unsigned)nargs, "nocapture");
  }
  k->begin = LLVMGetParam(k->fn, (unsigned)nargs);
  k->end = LLVMGetParam(k->fn, (unsigned)nargs + 1);
  k->entry = LLVMAppendBasicBlockInContext(s->c, k->fn, "entry");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(s->c, k->fn, "start");
  LLVMPositionBuilderAtEnd(s->b, body);
  s->k = k;
  return k;
}

/* void task(env, begin, end): kernel(env[0], ..., env[nargs-1], begin, end). */
static LLVMValueRef make_task(cg_state *s, cg_kernel *k, int nargs) {
  char name[192];
  snprintf(name, sizeof name, "%s.task", LLVMGetValueName(k->fn));
  LLVMValueRef fn = LLVMAddFunction(s->m, name, s->t_kernel_task);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  set_target_attrs(s, fn);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(s->c);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(s->c, fn, "entry"));
  LLVMValueRef *args = ir_arena_alloc(&s->arena, (size_t)(nargs + 2) * sizeof *args);
  for (int i = 0; i < nargs; i++) {
    LLVMValueRef idx = cg_i64(s, i);
    args[i] = LLVMBuildLoad2(b, s->t_ptr,
                             LLVMBuildInBoundsGEP2(b, s->t_ptr, LLVMGetParam(fn, 0), &idx, 1, ""),
                             "");
  }
  args[nargs] = LLVMGetParam(fn, 1);
  args[nargs + 1] = LLVMGetParam(fn, 2);
  call_fn(b, k->fn, nargs + 2, args);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return fn;
}

/* The kiln_run_options NAME_run hands to the runtime, with the thread
 * count resolved once per run (computed at the first parallel kernel). */
static LLVMValueRef run_options(cg_state *s) {
  if (!s->run_local_opt) {
    LLVMBuilderRef ab = LLVMCreateBuilderInContext(s->c);
    LLVMPositionBuilderAtEnd(ab, s->run_entry);
    /* laid out as kiln_run_options {int num_threads; const kiln_weights
     * *weights;}, so the runtime reads it with the struct's alignment */
    LLVMTypeRef fields[2] = {s->t_i32, s->t_ptr};
    LLVMTypeRef opt_t = LLVMStructTypeInContext(s->c, fields, 2, 0);
    s->run_local_opt = LLVMBuildAlloca(ab, opt_t, "opts");
    LLVMBuildStore(ab, LLVMConstNull(opt_t), s->run_local_opt);
    LLVMDisposeBuilder(ab);
    LLVMTypeRef params[2] = {s->t_ptr, s->t_i32};
    LLVMValueRef fn = runtime_fn(s, "rt_resolve_threads", s->t_i32, 2, params);
    LLVMValueRef args[2] = {s->run_opt, cg_i32(s, s->threads)};
    LLVMValueRef call = call_fn(s->rb, fn, 2, args);
    for (int i = 0; i < 2; i++) {
      abi_int32(s, fn, i ? 2 : LLVMAttributeReturnIndex);
      abi_int32(s, call, i ? 2 : LLVMAttributeReturnIndex);
    }
    LLVMBuildStore(s->rb, call, LLVMBuildStructGEP2(s->rb, opt_t, s->run_local_opt, 0, ""));
    LLVMBuildStore(s->rb, LLVMConstNull(s->t_ptr),
                   LLVMBuildStructGEP2(s->rb, opt_t, s->run_local_opt, 1, ""));
  }
  return s->run_local_opt;
}

void cg_kernel_end(cg_state *s, cg_kernel *k) {
  LLVMBuildRetVoid(s->b);
  LLVMBasicBlockRef start = LLVMGetNextBasicBlock(k->entry);
  LLVMPositionBuilderAtEnd(s->b, k->entry);
  LLVMBuildBr(s->b, start);
  s->k = NULL;
  s->num_kernels++;
  if (k->items <= 0) return; /* empty tensors: nothing to run */

  const ir_node *nd = &s->g->nodes[k->node];
  int nio = nd->num_inputs + nd->num_outputs, nargs = kernel_ptr_args(s, k);
  LLVMValueRef *args = ir_arena_alloc(&s->arena, (size_t)(nargs + 2) * sizeof *args);
  for (int i = 0; i < nio; i++) {
    ir_value_id v = i < nd->num_inputs ? nd->inputs[i] : nd->outputs[i - nd->num_inputs];
    /* a parameter the body never reads (a weight the kernel repacked at
     * compile time) gets NULL, so its constant is never emitted */
    bool used = LLVMGetFirstUse(LLVMGetParam(k->fn, (unsigned)i)) != NULL;
    args[i] = v >= 0 && used ? value_ptr(s, v) : LLVMConstNull(s->t_ptr);
  }
  if (k->scratch) {
    LLVMValueRef off = cg_i64(s, k->scratch_offset);
    args[nio] = LLVMBuildInBoundsGEP2(s->rb, s->t_i8, s->run_ws, &off, 1, "scratch");
  }
  if (k->weights) args[nargs - 1] = s->run_wbase;
  if (!k->parallel) {
    args[nargs] = cg_i64(s, 0);
    args[nargs + 1] = cg_i64(s, k->items);
    call_fn(s->rb, k->fn, nargs + 2, args);
    return;
  }
  for (int i = 0; i < nargs; i++) {
    LLVMValueRef idx = cg_i64(s, i);
    LLVMBuildStore(s->rb, args[i],
                   LLVMBuildInBoundsGEP2(s->rb, s->t_ptr, s->run_env, &idx, 1, ""));
  }
  LLVMTypeRef params[4] = {s->t_ptr, s->t_i64, s->t_ptr, s->t_ptr};
  LLVMValueRef pf = runtime_fn(s, "rt_parallel_for", s->t_void, 4, params);
  LLVMValueRef pargs[4] = {run_options(s), cg_i64(s, k->items), make_task(s, k, nargs),
                           s->run_env};
  call_fn(s->rb, pf, 4, pargs);
}

/* ---- NAME_run ---------------------------------------------------------------------- */
/* A private i64 constant whose value is set when known (file size and
 * hash come after lowering); loads of it fold away in the optimizer. */
static LLVMValueRef late_i64(cg_state *s, const char *name) {
  LLVMValueRef gv = LLVMAddGlobal(s->m, s->t_i64, name);
  LLVMSetInitializer(gv, cg_i64(s, 0));
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  return gv;
}

/* The block after the argument checks of an external-weights NAME_run:
 *   base = rt_weights_base(opt, size, hash); if (!base) return KILN_ERR_WEIGHTS; */
static void begin_weights(cg_state *s, LLVMBuilderRef b) {
  LLVMPositionBuilderAtEnd(b, s->run_wcheck);
  LLVMTypeRef params[3] = {s->t_ptr, s->t_i64, s->t_i64};
  LLVMValueRef fn = runtime_fn(s, "rt_weights_base", s->t_ptr, 3, params);
  LLVMValueRef args[3] = {
      s->run_opt,
      LLVMBuildLoad2(b, s->t_i64, late_i64(s, "kiln.weights.size"), "weights_size"),
      LLVMBuildLoad2(b, s->t_i64, late_i64(s, "kiln.weights.hash"), "weights_hash")};
  s->run_wbase = LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, args, 3, "weights");
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "no_weights");
  LLVMBuildCondBr(b, LLVMBuildIsNull(b, s->run_wbase, ""), fail, s->run_body);
  LLVMPositionBuilderAtEnd(b, fail);
  LLVMBuildRet(b, cg_i32(s, KILN_ERR_WEIGHTS));
}

void cg_set_weights_hash(LLVMModuleRef m, const char *name, uint64_t hash) {
  LLVMValueRef gv = LLVMGetNamedGlobal(m, "kiln.weights.hash");
  assert(gv && "not an external-weights module");
  LLVMTypeRef i64 = LLVMGlobalGetValueType(gv);
  LLVMSetInitializer(gv, LLVMConstInt(i64, hash, 0));
  /* the descriptor's last field, kiln_model.weights_hash */
  char mname[160];
  snprintf(mname, sizeof mname, "%s_model", name);
  LLVMValueRef model = LLVMGetNamedGlobal(m, mname);
  LLVMValueRef init = LLVMGetInitializer(model);
  int n = LLVMGetNumOperands(init);
  LLVMValueRef fields[16];
  assert(n <= 16);
  for (int i = 0; i < n; i++) fields[i] = LLVMGetOperand(init, (unsigned)i);
  fields[n - 1] = LLVMConstInt(i64, hash, 0);
  LLVMSetInitializer(model, LLVMConstNamedStruct(LLVMTypeOf(init), fields, (unsigned)n));
}

static void begin_run(cg_state *s) {
  char name[160];
  snprintf(name, sizeof name, "%s_run", s->name);
  LLVMTypeRef params[4] = {s->t_ptr, s->t_ptr, s->t_ptr, s->t_ptr};
  s->run_fn = LLVMAddFunction(s->m, name, LLVMFunctionType(s->t_i32, params, 4, 0));
  set_target_attrs(s, s->run_fn);
  abi_int32(s, s->run_fn, LLVMAttributeReturnIndex);
  s->run_inputs = LLVMGetParam(s->run_fn, 0);
  s->run_outputs = LLVMGetParam(s->run_fn, 1);
  s->run_ws = LLVMGetParam(s->run_fn, 2);
  s->run_opt = LLVMGetParam(s->run_fn, 3);
  s->run_entry = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "entry");
  if (external_weights(s))
    s->run_wcheck = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "weights");
  s->run_body = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "body");
  LLVMBuilderRef ab = LLVMCreateBuilderInContext(s->c);
  LLVMPositionBuilderAtEnd(ab, s->run_entry);
  s->run_env = LLVMBuildAlloca(ab, LLVMArrayType2(s->t_ptr, (uint64_t)s->max_args + 1), "env");
  if (external_weights(s)) begin_weights(s, ab);
  LLVMDisposeBuilder(ab);
  LLVMPositionBuilderAtEnd(s->rb, s->run_body);
}

/* if (bad) return status; — continues in a fresh block. */
static void check(cg_state *s, LLVMBuilderRef b, LLVMValueRef bad, int status) {
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "fail");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "ok");
  LLVMBuildCondBr(b, bad, fail, ok);
  LLVMPositionBuilderAtEnd(b, fail);
  LLVMBuildRet(b, cg_i32(s, status));
  LLVMPositionBuilderAtEnd(b, ok);
}

static LLVMValueRef is_null(LLVMBuilderRef b, LLVMValueRef p) { return LLVMBuildIsNull(b, p, ""); }

LLVMValueRef cg_value_ptr(cg_state *s, ir_value_id v) { return value_ptr(s, v); }

void cg_run_fail_if(cg_state *s, LLVMValueRef bad, int status) { check(s, s->rb, bad, status); }

static void finish_run(cg_state *s) {
  ir_graph *g = s->g;
  /* outputs living elsewhere are copied into the caller's buffer */
  for (int j = 0; j < g->num_outputs; j++) {
    ir_value_id v = g->outputs[j];
    ir_value_id r = root_of(s, v);
    place(s, r);
    if (s->bufs[r].home == CG_HOME_OUTPUT && s->bufs[r].index == j) continue;
    LLVMValueRef idx = cg_i64(s, j);
    LLVMValueRef dst = LLVMBuildLoad2(
        s->rb, s->t_ptr, LLVMBuildInBoundsGEP2(s->rb, s->t_ptr, s->run_outputs, &idx, 1, ""), "");
    LLVMBuildMemCpy(s->rb, dst, 1, value_ptr(s, v), 1, cg_i64(s, value_bytes(s, v)));
  }
  LLVMBuildRet(s->rb, cg_i32(s, KILN_OK));

  /* argument checks, now that the workspace size is known */
  LLVMBuilderRef b = LLVMCreateBuilderInContext(s->c);
  LLVMPositionBuilderAtEnd(b, s->run_entry);
  LLVMValueRef bad = LLVMConstInt(s->t_i1, 0, 0);
  if (g->num_inputs) bad = LLVMBuildOr(b, bad, is_null(b, s->run_inputs), "");
  if (g->num_outputs) bad = LLVMBuildOr(b, bad, is_null(b, s->run_outputs), "");
  if (s->ws_size) bad = LLVMBuildOr(b, bad, is_null(b, s->run_ws), "");
  check(s, b, bad, KILN_ERR_INVALID_ARGUMENT);
  bad = LLVMConstInt(s->t_i1, 0, 0);
  for (int k = 0; k < g->num_inputs + g->num_outputs; k++) {
    bool in = k < g->num_inputs;
    LLVMValueRef idx = cg_i64(s, in ? k : k - g->num_inputs);
    LLVMValueRef p = LLVMBuildLoad2(
        b, s->t_ptr,
        LLVMBuildInBoundsGEP2(b, s->t_ptr, in ? s->run_inputs : s->run_outputs, &idx, 1, ""), "");
    bad = LLVMBuildOr(b, bad, is_null(b, p), "");
  }
  check(s, b, bad, KILN_ERR_INVALID_ARGUMENT);
  /* opt->num_threads < 0 is invalid; NULL opt means defaults */
  LLVMBasicBlockRef has_opt = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "has_opt");
  LLVMBasicBlockRef opt_ok = LLVMAppendBasicBlockInContext(s->c, s->run_fn, "opt_ok");
  LLVMBuildCondBr(b, is_null(b, s->run_opt), opt_ok, has_opt);
  LLVMPositionBuilderAtEnd(b, has_opt);
  LLVMValueRef nt = LLVMBuildLoad2(b, s->t_i32, s->run_opt, "num_threads");
  check(s, b, LLVMBuildICmp(b, LLVMIntSLT, nt, cg_i32(s, 0), ""), KILN_ERR_INVALID_ARGUMENT);
  LLVMBuildBr(b, opt_ok);
  LLVMPositionBuilderAtEnd(b, opt_ok);
  LLVMValueRef addr = LLVMBuildPtrToInt(b, s->run_ws, s->t_i64, "");
  check(s, b, LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, addr, cg_i64(s, 63), ""), cg_i64(s, 0), ""),
        KILN_ERR_MISALIGNED);
  LLVMBuildBr(b, s->run_wcheck ? s->run_wcheck : s->run_body);
  LLVMDisposeBuilder(b);
}

/* int NAME_run_typed(in0, ..., out0, ..., workspace, opt) */
static void emit_run_typed(cg_state *s) {
  ir_graph *g = s->g;
  int n = g->num_inputs + g->num_outputs;
  LLVMTypeRef *params = ir_arena_alloc(&s->arena, (size_t)(n + 2) * sizeof *params);
  for (int i = 0; i < n + 2; i++) params[i] = s->t_ptr;
  char name[160];
  snprintf(name, sizeof name, "%s_run_typed", s->name);
  LLVMValueRef fn = LLVMAddFunction(s->m, name, LLVMFunctionType(s->t_i32, params, (unsigned)n + 2, 0));
  set_target_attrs(s, fn);
  abi_int32(s, fn, LLVMAttributeReturnIndex);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(s->c);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(s->c, fn, "entry"));
  LLVMValueRef ins = LLVMBuildAlloca(b, LLVMArrayType2(s->t_ptr, (uint64_t)g->num_inputs + 1), "ins");
  LLVMValueRef outs = LLVMBuildAlloca(b, LLVMArrayType2(s->t_ptr, (uint64_t)g->num_outputs + 1), "outs");
  for (int i = 0; i < n; i++) {
    bool in = i < g->num_inputs;
    LLVMValueRef idx = cg_i64(s, in ? i : i - g->num_inputs);
    LLVMBuildStore(b, LLVMGetParam(fn, (unsigned)i),
                   LLVMBuildInBoundsGEP2(b, s->t_ptr, in ? ins : outs, &idx, 1, ""));
  }
  LLVMValueRef args[4] = {ins, outs, LLVMGetParam(fn, (unsigned)n), LLVMGetParam(fn, (unsigned)n + 1)};
  LLVMValueRef call = call_fn(b, s->run_fn, 4, args);
  abi_int32(s, call, LLVMAttributeReturnIndex);
  LLVMBuildRet(b, call);
  LLVMDisposeBuilder(b);
}

/* ---- the kiln_model descriptor ---------------------------------------------------- */
static LLVMValueRef cstring(cg_state *s, const char *str, const char *gname) {
  LLVMValueRef init = LLVMConstStringInContext2(s->c, str, strlen(str), 0);
  LLVMValueRef gv = LLVMAddGlobal(s->m, LLVMTypeOf(init), gname);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  return gv;
}

static LLVMValueRef private_const(cg_state *s, LLVMValueRef init, const char *gname) {
  LLVMValueRef gv = LLVMAddGlobal(s->m, LLVMTypeOf(init), gname);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  return gv;
}

/* kiln_tensor_info[count] for the given values. */
static LLVMValueRef tensor_infos(cg_state *s, LLVMTypeRef info_t, const ir_value_id *vals,
                                 int count, const char *what) {
  LLVMValueRef *infos = ir_arena_alloc(&s->arena, (size_t)(count + 1) * sizeof *infos);
  for (int i = 0; i < count; i++) {
    const ir_value *v = &s->g->values[vals[i]];
    LLVMValueRef dims[KILN_MAX_RANK + 1];
    for (int d = 0; d < v->shape.rank; d++) dims[d] = cg_i64(s, v->shape.dims[d]);
    char gname[64];
    snprintf(gname, sizeof gname, "%s.shape.%d", what, i);
    LLVMValueRef shape = v->shape.rank > 0
                             ? private_const(s, LLVMConstArray2(s->t_i64, dims, (uint64_t)v->shape.rank), gname)
                             : LLVMConstNull(s->t_ptr);
    snprintf(gname, sizeof gname, "%s.name.%d", what, i);
    LLVMValueRef fields[4] = {cstring(s, v->name, gname), cg_i32(s, (int32_t)v->dtype),
                              cg_i32(s, v->shape.rank), shape};
    infos[i] = LLVMConstNamedStruct(info_t, fields, 4);
  }
  if (!count) return LLVMConstNull(s->t_ptr);
  return private_const(s, LLVMConstArray2(info_t, infos, (uint64_t)count), what);
}

static void emit_model(cg_state *s) {
  ir_graph *g = s->g;
  /* struct layouts follow the target's C ABI through its data layout */
  LLVMTypeRef info_t = LLVMStructCreateNamed(s->c, "kiln_tensor_info");
  LLVMTypeRef info_fields[4] = {s->t_ptr, s->t_i32, s->t_i32, s->t_ptr};
  LLVMStructSetBody(info_t, info_fields, 4, 0);
  LLVMTypeRef model_t = LLVMStructCreateNamed(s->c, "kiln_model");
  LLVMTypeRef model_fields[9] = {s->t_ptr, s->t_i32, s->t_i32, s->t_ptr, s->t_ptr,
                                 s->t_size, s->t_ptr, s->t_i64, s->t_i64};
  LLVMStructSetBody(model_t, model_fields, 9, 0);
  int64_t wsize = external_weights(s) ? cg_weights_file_size(s->weights) : 0;
  LLVMValueRef fields[9] = {
      cstring(s, s->name, "model.name"),
      cg_i32(s, g->num_inputs),
      cg_i32(s, g->num_outputs),
      tensor_infos(s, info_t, g->inputs, g->num_inputs, "inputs"),
      tensor_infos(s, info_t, g->outputs, g->num_outputs, "outputs"),
      LLVMConstInt(s->t_size, (unsigned long long)s->ws_size, 0),
      s->run_fn,
      cg_i64(s, wsize),
      cg_i64(s, 0), /* weights_hash: cg_set_weights_hash, once the file is written */
  };
  char name[160];
  snprintf(name, sizeof name, "%s_model", s->name);
  LLVMValueRef gv = LLVMAddGlobal(s->m, model_t, name);
  LLVMSetInitializer(gv, LLVMConstNamedStruct(model_t, fields, 9));
  LLVMSetGlobalConstant(gv, 1);
  if (external_weights(s))
    LLVMSetInitializer(LLVMGetNamedGlobal(s->m, "kiln.weights.size"), cg_i64(s, wsize));
}

/* ---- checks before lowering --------------------------------------------------------- */
static bool value_ok(cg_state *s, int32_t n, ir_value_id v) {
  const ir_value *val = &s->g->values[v];
  const char *why = NULL;
  if (val->dtype == IR_UNDEFINED || val->shape.rank < 0)
    why = "has no inferred dtype or shape";
  else if (!ir_shape_is_static(&val->shape))
    why = "has a dim that is not a number (fix symbolic input dims with --shape)";
  else if (ir_shape_numel(&val->shape) < 0 || value_bytes(s, v) > KILN_MAX_TENSOR_BYTES)
    why = "is too large";
  else if (val->storage == IR_STORAGE_CONST && value_bytes(s, v) > 0 &&
           (!val->data || val->nbytes < value_bytes(s, v)))
    why = "is a constant without (enough) data";
  if (!why) return true;
  if (n >= 0)
    ir_error_node(s->g, n, "value '%s' %s", val->name, why);
  else
    kiln_error(s->ctx, "graph input or output '%s' %s", val->name, why);
  return false;
}

/* True if node n's inputs all have static shapes but some output, of
 * known rank, does not: the output's extent depends on input values
 * (NonZero, Unique, Compress with a computed condition, ...). */
static bool data_dependent(const ir_graph *g, int32_t n) {
  const ir_node *nd = &g->nodes[n];
  for (int i = 0; i < nd->num_inputs; i++) {
    ir_value_id v = nd->inputs[i];
    if (v >= 0 && (g->values[v].shape.rank < 0 || !ir_shape_is_static(&g->values[v].shape)))
      return false;
  }
  for (int i = 0; i < nd->num_outputs; i++) {
    ir_value_id v = nd->outputs[i];
    if (v >= 0 && g->values[v].shape.rank >= 0 && !ir_shape_is_static(&g->values[v].shape))
      return true;
  }
  return false;
}

/* True if node n reads a value `tainted` marks, and then marks its
 * outputs: values downstream of a refused control-flow node have no
 * static shapes, and reporting each of them would bury the one message
 * that matters. */
static bool downstream(const ir_graph *g, int32_t n, bool *tainted) {
  const ir_node *nd = &g->nodes[n];
  bool t = false;
  for (int i = 0; i < nd->num_inputs; i++) t |= nd->inputs[i] >= 0 && tainted[nd->inputs[i]];
  for (int i = 0; t && i < nd->num_outputs; i++)
    if (nd->outputs[i] >= 0) tainted[nd->outputs[i]] = true;
  return t;
}

static kiln_status check_graph(cg_state *s) {
  ir_graph *g = s->g;
  kiln_status st = KILN_OK;
  bool *tainted = kiln_calloc(s->ctx, (size_t)g->num_values + 1, 1);
  for (int32_t n = 0; n < g->num_nodes; n++) {
    const ir_node *nd = &g->nodes[n];
    if (nd->dead || downstream(g, n, tainted)) continue;
    if (nd->op == IR_OP_IF || nd->op == IR_OP_LOOP || nd->op == IR_OP_SCAN) {
      /* control flow the inline pass left: its hook says why, and what
       * depends on it is not reported again */
      st = lower_control_flow(s, n);
      for (int i = 0; i < nd->num_outputs; i++)
        if (nd->outputs[i] >= 0) tainted[nd->outputs[i]] = true;
      continue;
    }
    if (data_dependent(g, n)) {
      ir_error_node(g, n, "the output shape depends on the input values (a data-dependent "
                          "shape); kiln compiles static shapes only; --bind INPUT=FILE freezes an input");
      st = KILN_ERR_UNSUPPORTED;
      continue;
    }
    if (!cg_lower_table[nd->op]) {
      ir_error_node(g, n, "no code generation for this op yet");
      st = KILN_ERR_UNSUPPORTED;
      continue;
    }
    for (int i = 0; i < nd->num_inputs + nd->num_outputs; i++) {
      ir_value_id v = i < nd->num_inputs ? nd->inputs[i] : nd->outputs[i - nd->num_inputs];
      if (v >= 0 && !value_ok(s, n, v)) st = st ? st : KILN_ERR_UNSUPPORTED;
    }
  }
  for (int k = 0; k < g->num_inputs + g->num_outputs; k++) {
    ir_value_id v = k < g->num_inputs ? g->inputs[k] : g->outputs[k - g->num_inputs];
    ir_node_id p = g->values[v].producer;
    if (p >= 0 && !g->nodes[p].dead && data_dependent(g, p)) continue; /* reported above */
    if (tainted[v]) continue;                                           /* likewise */
    if (!value_ok(s, -1, v)) st = st ? st : KILN_ERR_UNSUPPORTED;
    else if (g->values[v].dtype > IR_BF16) {
      kiln_error(s->ctx, "graph input or output '%s' has dtype %s, which the kiln.h ABI lacks",
                 g->values[v].name, ir_dtype_name(g->values[v].dtype));
      st = st ? st : KILN_ERR_UNSUPPORTED;
    }
  }
  kiln_free(s->ctx, tainted);
  return st;
}

/* Homes of graph inputs and outputs, and the end of planned offsets. */
static void place_io(cg_state *s) {
  ir_graph *g = s->g;
  for (int i = 0; i < g->num_inputs; i++) {
    cg_buf *b = &s->bufs[g->inputs[i]];
    b->home = CG_HOME_INPUT;
    b->index = i;
  }
  for (int j = 0; j < g->num_outputs; j++) {
    ir_value_id v = g->outputs[j];
    cg_buf *b = &s->bufs[v];
    if (b->home != CG_HOME_NONE || g->values[v].storage == IR_STORAGE_CONST) continue;
    b->home = CG_HOME_OUTPUT; /* the first listing of a value produces it */
    b->index = j;
  }
  for (ir_value_id v = 0; v < g->num_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->offset >= 0 && s->bufs[v].home == CG_HOME_NONE && val->storage != IR_STORAGE_CONST &&
        ir_shape_is_static(&val->shape)) {
      int64_t end = val->offset + value_bytes(s, v);
      if (end > s->ws_size) s->ws_size = end;
    }
  }
}

kiln_status cg_build_module(kiln_ctx *ctx, ir_graph *g, const cg_target *t, const char *name,
                            int threads, cg_weights *weights, LLVMContextRef c,
                            LLVMModuleRef *out, int64_t *workspace_size) {
  cg_state st = {.ctx = ctx, .g = g, .target = t, .name = name, .threads = threads, .c = c,
                 .weights = weights};
  cg_state *s = &st;
  *out = NULL;
  kiln_status status = check_graph(s);
  if (status) return status;

  ir_arena_init(&s->arena, ctx);
  s->t_void = LLVMVoidTypeInContext(c);
  s->t_i1 = LLVMInt1TypeInContext(c);
  s->t_i8 = LLVMInt8TypeInContext(c);
  s->t_i32 = LLVMInt32TypeInContext(c);
  s->t_i64 = LLVMInt64TypeInContext(c);
  s->t_f32 = LLVMFloatTypeInContext(c);
  s->t_f64 = LLVMDoubleTypeInContext(c);
  s->t_ptr = LLVMPointerTypeInContext(c, 0);
  s->t_size = LLVMIntPtrTypeInContext(c, t->layout);
  LLVMTypeRef task_params[3] = {s->t_ptr, s->t_i64, s->t_i64};
  s->t_kernel_task = LLVMFunctionType(s->t_void, task_params, 3, 0);

  s->m = LLVMModuleCreateWithNameInContext(name, c);
  LLVMSetTarget(s->m, t->triple);
  LLVMSetModuleDataLayout(s->m, t->layout);
  s->b = LLVMCreateBuilderInContext(c);
  s->rb = LLVMCreateBuilderInContext(c);
  s->bufs = ir_arena_alloc(&s->arena, (size_t)(g->num_values + 1) * sizeof *s->bufs);
  for (int32_t n = 0; n < g->num_nodes; n++) {
    int a = g->nodes[n].num_inputs + g->nodes[n].num_outputs + 1; /* + scratch */
    if (a > s->max_args) s->max_args = a;
  }

  if (weights && weights->embed) { /* defined by the archive's data object */
    char sym[160];
    cg_weights_symbol(name, sym, sizeof sym);
    s->wblob = LLVMAddGlobal(s->m, s->t_i8, sym);
    LLVMSetGlobalConstant(s->wblob, 1);
    LLVMSetVisibility(s->wblob, LLVMHiddenVisibility);
    LLVMSetAlignment(s->wblob, 64);
  }
  place_io(s);
  begin_run(s);
  for (int32_t n = 0; n < g->num_nodes; n++) {
    if (g->nodes[n].dead) continue;
    /* keep lowering after a failure to report every unsupported node */
    kiln_status r = cg_lower_table[g->nodes[n].op](s, n);
    assert(!s->k || r);
    if (r && s->k) { /* a hook gave up midway: drop its kernel */
      LLVMDeleteFunction(s->k->fn);
      s->k = NULL;
    }
    if (r && !status) status = r;
  }
  if (!status) {
    if (s->scratch_end > s->ws_size) s->ws_size = s->scratch_end;
    s->ws_size = align64(s->ws_size); /* aligned_alloc(64, size) needs a multiple of 64 */
    finish_run(s);
    emit_run_typed(s);
    emit_model(s);
  }
  resolve_weights_refs(s, !status);
  LLVMDisposeBuilder(s->b);
  LLVMDisposeBuilder(s->rb);
  ir_arena_free(&s->arena);
  if (status) {
    LLVMDisposeModule(s->m);
    return status;
  }
  *out = s->m;
  *workspace_size = s->ws_size;
  return KILN_OK;
}
