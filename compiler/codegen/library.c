/*
 * library.c — `kiln compile`'s back half: graph to OUTDIR/libNAME.a,
 * OUTDIR/NAME.h and OUTDIR/kiln.h (and OUTDIR/NAME.weights).
 *
 *     cg_target_init -> cg_build_module [-> cg_write_weights -> cg_set_weights_hash]
 *       -> cg_optimize -> cg_emit_object [-> cg_weights_object]
 *       -> cg_write_archive(NAME.o + runtime objects [+ NAME_weights.o])
 *       -> cg_write_header -> kiln.h
 *
 * The constants never pass through LLVM: cg_build_module lays them out in
 * a cg_weights blob.  With --weights external the blob is the weights
 * file, written right after the module is built, before LLVM optimizes
 * it: its content hash goes into the code, and the copies of packed
 * weights can be freed before LLVM's own memory peaks.  Embedded, the blob
 * becomes one more archive member, NAME_weights.o (data_object.c).
 *
 * The runtime objects (thread pool, status strings, and helpers an ISA's
 * libgcc lacks) were compiled when kiln was built, for the build machine
 * and for every other ISA whose cross compiler was installed, and are
 * embedded in kiln (blobs.h).  Every archive carries those of its ISA,
 * picked by ELF e_machine, so users link `libNAME.a -lpthread -lm` and
 * nothing else.  An ISA without them is refused with the packages that
 * would provide them, instead of writing a library that cannot link.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobs.h"
#include "cg.h"

/* e_machine and e_flags of a little-endian ELF64 object; false if it is
 * not one (the runtime objects and kiln's output always are). */
static bool elf64_header(const void *data, size_t size, unsigned *machine, unsigned *flags) {
  const unsigned char *p = data;
  if (size < 64 || memcmp(p, "\177ELF", 4) || p[4] != 2 /* ELFCLASS64 */ || p[5] != 1 /* LSB */)
    return false;
  *machine = (unsigned)(p[0x12] | p[0x13] << 8);
  *flags = (unsigned)(p[0x30] | p[0x31] << 8 | p[0x32] << 16 | (unsigned)p[0x33] << 24);
  return true;
}

kiln_status cg_runtime_for(kiln_ctx *ctx, const cg_target *t, const cg_blob *objs, int n,
                           cg_member *out, int *count) {
  *count = 0;
  for (int i = 0; t->described && i < n; i++) {
    unsigned machine, flags;
    if (elf64_header(objs[i].data, objs[i].size, &machine, &flags) &&
        machine == t->desc.elf_machine)
      out[(*count)++] = (cg_member){.name = objs[i].name, .data = objs[i].data, .size = objs[i].size};
  }
  if (*count) return KILN_OK;
  if (!t->described) {
    kiln_error(ctx, "no kiln runtime for target %s: kiln has no description of this ISA "
               "(targets/<isa>/target.yaml)", t->triple);
    return KILN_ERR_UNSUPPORTED;
  }
  char pkgs[512] = "";
  size_t len = 0;
  for (int i = 0; i < t->desc.num_packages && len < sizeof pkgs; i++)
    len += (size_t)snprintf(pkgs + len, sizeof pkgs - len, "%s%s", i ? " " : "",
                            t->desc.packages[i]);
  kiln_error(ctx, "no kiln runtime for target %s: this kiln was built without the %s cross "
             "compiler (%s); install it (apt-get install %s), then reconfigure and rebuild kiln "
             "(see docs/targets.md)", t->triple, t->desc.isa, t->desc.cross_cc, pkgs);
  return KILN_ERR_UNSUPPORTED;
}

/* The ABI bits of e_flags (riscv64: the float ABI) of the model's object
 * must be those of the runtime, or the two do not link: a --cpu without
 * the D extension makes LLVM pick the soft-float ABI. */
static kiln_status check_abi(kiln_ctx *ctx, const cg_target *t, const cg_member *obj,
                             const cg_member *rt) {
  unsigned m1, f1, m2, f2, mask = t->desc.elf_flags_mask;
  if (!elf64_header(obj->data, obj->size, &m1, &f1) || !elf64_header(rt->data, rt->size, &m2, &f2))
    return KILN_OK;
  if (m1 == m2 && (f1 & mask) == (f2 & mask)) return KILN_OK;
  kiln_error(ctx, "the code for %s (cpu '%s') has ELF machine %u, flags 0x%x, but kiln's %s "
             "runtime has machine %u, flags 0x%x (the bits 0x%x must agree: the float ABI); "
             "pick a CPU with the ISA's standard ABI, or leave out --cpu", t->triple, t->cpu, m1,
             f1 & mask, t->desc.isa, m2, f2 & mask, mask);
  return KILN_ERR_UNSUPPORTED;
}

/* Writes bytes to dir/file. */
static kiln_status write_file(kiln_ctx *ctx, const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, size, f) == size;
  if (f) ok &= fclose(f) == 0;
  if (!ok) {
    kiln_error(ctx, "cannot write %s: %s", path, strerror(errno));
    return KILN_ERR_IO;
  }
  return KILN_OK;
}

/* mkdir -p: creates dir and any missing parents. */
static kiln_status make_dir(kiln_ctx *ctx, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p) continue;
    char c = *p;
    *p = 0;
    struct stat st;
    if (stat(path, &st)) {
      if (mkdir(path, 0777) && errno != EEXIST) {
        kiln_error(ctx, "cannot create directory %s: %s", path, strerror(errno));
        return KILN_ERR_IO;
      }
    } else if (!S_ISDIR(st.st_mode)) {
      kiln_error(ctx, "%s exists and is not a directory", path);
      return KILN_ERR_IO;
    }
    *p = c;
    if (!c) return KILN_OK;
  }
}

kiln_status cg_write_library(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt,
                             const char *name, const char *outdir) {
  return cg_write_library_info(ctx, g, opt, name, outdir, NULL);
}

kiln_status cg_write_library_info(kiln_ctx *ctx, ir_graph *g, const kiln_options *opt,
                                  const char *name, const char *outdir, cg_library_info *info) {
  cg_target t;
  kiln_status st = cg_target_init(ctx, &t, opt->target, opt->cpu, opt->opt_level);
  if (st) return st;
  /* the runtime members for this ISA, after the model's object */
  /* + the model's objects (split.c) and its weights object */
  cg_member *members = kiln_calloc(ctx, (size_t)cg_runtime_objects_count + CG_MAX_MODULE_PARTS + 1,
                                   sizeof *members);
  int runtime_count = 0;
  st = cg_runtime_for(ctx, &t, cg_runtime_objects, cg_runtime_objects_count, members + 1,
                      &runtime_count);
  if (st) {
    kiln_free(ctx, members);
    cg_target_dispose(&t);
    return st;
  }

  LLVMContextRef c = LLVMContextCreate();
  LLVMModuleRef m = NULL;
  int64_t ws = 0, wsize = 0;
  bool external = opt->weights == KILN_WEIGHTS_EXTERNAL;
  cg_weights weights;
  cg_weights_init(&weights, ctx, g, !external);
  char path[4096], objname[160], wobjname[160];
  double t0 = kiln_clock();
  st = cg_build_module(ctx, g, &t, name, opt->threads, &weights, c, &m, &ws);
  kiln_time(ctx, "lowering to LLVM IR", kiln_clock() - t0);
  if (!st) st = make_dir(ctx, outdir);
  if (!st && external) {
    snprintf(path, sizeof path, "%s/%s.weights", outdir, name);
    st = cg_write_weights(&weights, path, name);
    if (!st) cg_set_weights_hash(m, name, weights.hash);
    wsize = cg_weights_file_size(&weights);
  }
  if (external) cg_weights_free(&weights); /* written: free before LLVM's peak */
  /* LLVM's half of the work on every core: the module in parts, an object
   * each (split.c); --emit-llvm prints one whole module instead */
  cg_module_part parts[CG_MAX_MODULE_PARTS];
  LLVMMemoryBufferRef objs[CG_MAX_MODULE_PARTS] = {0};
  int nparts = 1;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int max_parts = opt->emit_llvm || cpus < 2 ? 1 : cpus > CG_MAX_MODULE_PARTS ? CG_MAX_MODULE_PARTS
                                                                            : (int)cpus;
  if (!st) {
    t0 = kiln_clock();
    st = cg_split_module(ctx, m, name, max_parts, parts, &nparts);
    if (nparts > 1) kiln_time(ctx, "splitting the module", kiln_clock() - t0);
  }
  if (!st && opt->emit_llvm) {
    st = cg_optimize(ctx, &t, m);
    if (!st && LLVMPrintModuleToFile(m, opt->emit_llvm, NULL)) {
      kiln_error(ctx, "--emit-llvm: cannot write %s", opt->emit_llvm);
      st = KILN_ERR_IO;
    }
    if (!st) st = cg_emit_object(ctx, &t, m, &objs[0]);
  } else if (!st) {
    st = cg_emit_parts(ctx, &t, opt, parts, nparts, objs);
  }
  if (!st) {
    snprintf(objname, sizeof objname, "%s.o", name);
    members[0] = (cg_member){.name = objname, .data = LLVMGetBufferStart(objs[0]),
                             .size = LLVMGetBufferSize(objs[0])};
    st = check_abi(ctx, &t, &members[0], &members[1]);
  }
  int count = runtime_count + 1;
  char partnames[CG_MAX_MODULE_PARTS][170];
  for (int p = 1; !st && p < nparts; p++) {
    snprintf(partnames[p], sizeof partnames[p], "%s.%d.o", name, p);
    members[count++] = (cg_member){.name = partnames[p], .data = LLVMGetBufferStart(objs[p]),
                                   .size = LLVMGetBufferSize(objs[p])};
  }
  int weights_member = -1;
  if (!st && !external) {
    snprintf(wobjname, sizeof wobjname, "%s_weights.o", name);
    st = cg_weights_object(&weights, name, members[0].data, members[0].size, wobjname,
                           &members[count]);
    if (!st) weights_member = count++;
  }
  if (!st) st = make_dir(ctx, outdir);
  if (!st) {
    snprintf(path, sizeof path, "%s/lib%s.a", outdir, name);
    t0 = kiln_clock();
    st = cg_write_archive(ctx, path, members, count);
    kiln_time(ctx, "writing the archive", kiln_clock() - t0);
  }
  cg_weights_free(&weights); /* the archive's weights member streamed from it */
  if (!st) {
    snprintf(path, sizeof path, "%s/%s.h", outdir, name);
    st = cg_write_header(ctx, g, name, ws, wsize, path);
  }
  for (int i = 0; !st && i < cg_shipped_files_count; i++) {
    snprintf(path, sizeof path, "%s/%s", outdir, cg_shipped_files[i].name);
    st = write_file(ctx, path, cg_shipped_files[i].data, cg_shipped_files[i].size);
  }
  if (!st && info) {
    info->workspace_size = ws;
    info->weights_file_size = wsize;
  }
  if (weights_member >= 0) kiln_free(ctx, (void *)members[weights_member].data);
  for (int p = 0; p < nparts; p++)
    if (objs[p]) LLVMDisposeMemoryBuffer(objs[p]);
  for (int p = 1; p < nparts; p++) {
    LLVMDisposeModule(parts[p].m);
    LLVMContextDispose(parts[p].c);
  }
  if (m) LLVMDisposeModule(m);
  LLVMContextDispose(c);
  kiln_free(ctx, members);
  cg_target_dispose(&t);
  return st;
}
