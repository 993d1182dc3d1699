/*
 * target.h — target descriptions: what kiln knows about each ISA it
 * compiles for, read from targets/<isa>/target.yaml (schema in
 * docs/targets.md).
 *
 * A description holds the data the code generator and the build need
 * but LLVM does not decide for us: which spellings of a triple name the
 * ISA, the CPU and features a portable library is compiled for, how wide
 * its vector registers are, ABI details of calls into C, which ELF
 * objects carry its runtime, and which cross tools build and run its
 * programs.  Keeping these in data rather than in C tables means a new
 * ISA is a new folder, not edits scattered over the code generator.
 *
 * The YAML files are embedded into kiln at build time (tools/embed.c), so
 * an installed kiln never looks for its source tree; tgt_load_file reads
 * one from disk for tests and for checking an edited description.
 */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "ctx.h"

/* The schema version this kiln reads (the `version` key). */
#define TGT_VERSION 1

enum {
  TGT_NAME_MAX = 64,     /* bytes of a name, triple or CPU, with the NUL */
  TGT_LIST_MAX = 8,      /* entries of a list or map */
  TGT_FEATURES_MAX = 256 /* bytes of the joined feature string */
};

typedef struct tgt_vector_feature {
  char feature[TGT_NAME_MAX]; /* "+avx512f" */
  int bits;                   /* vector register width it implies */
} tgt_vector_feature;

typedef struct tgt_desc {
  int version;                              /* schema version (TGT_VERSION) */
  char isa[TGT_NAME_MAX];                   /* folder name and canonical arch: "aarch64" */
  char triple[TGT_NAME_MAX];                /* the Linux triple used when only an arch is named */
  char aliases[TGT_LIST_MAX][TGT_NAME_MAX]; /* first triple components naming this ISA */
  int num_aliases;
  unsigned elf_machine;                     /* e_machine of its objects (EM_AARCH64 = 183) */
  unsigned elf_flags_mask;                  /* e_flags bits that must agree to link (float ABI) */
  char cpu[TGT_NAME_MAX];                   /* LLVM CPU of a portable library */
  char features[TGT_FEATURES_MAX];          /* its LLVM features, comma-joined: "+m,+a" */
  int vector_bits;                          /* SIMD register width with those (0: none) */
  tgt_vector_feature vector_features[TGT_LIST_MAX]; /* features that widen vectors */
  int num_vector_features;
  int vector_registers;                     /* SIMD (or FP) registers kernels may block into */
  tgt_vector_feature register_features[TGT_LIST_MAX]; /* features that add registers
                                             * (+avx512f: 32); `bits` holds the count */
  int num_register_features;
  bool sign_extend_i32;                     /* C ABI: 32-bit ints sign-extended in registers */
  char cross_cc[TGT_NAME_MAX];              /* C cross compiler: runtime objects, tests */
  char qemu[TGT_NAME_MAX];                  /* user-mode emulator running its programs */
  char packages[TGT_LIST_MAX][TGT_NAME_MAX];/* Debian packages providing those two */
  int num_packages;
} tgt_desc;

/* Parses one description from `size` bytes of YAML.  `source` names the
 * text in errors ("aarch64/target.yaml: line 7: ..."); every problem
 * (syntax, unknown or missing key, wrong type, unsupported version) is an
 * error naming the line, and returns KILN_ERR_INVALID_ARGUMENT. */
kiln_status tgt_parse(kiln_ctx *ctx, const char *source, const void *text, size_t size,
                      tgt_desc *out);
/* tgt_parse on a file's contents. */
kiln_status tgt_load_file(kiln_ctx *ctx, const char *path, tgt_desc *out);

/* The descriptions built into kiln, in a fixed order. */
int tgt_builtin_count(void);
/* The name of builtin i ("aarch64/target.yaml") and its parsed form. */
const char *tgt_builtin_name(int i);
kiln_status tgt_builtin(kiln_ctx *ctx, int i, tgt_desc *out);

/* tgt_find without the error for an unknown arch: false if none matches
 * (the host may be an ISA kiln has no description of). */
bool tgt_match(kiln_ctx *ctx, const char *triple, tgt_desc *out, char *canon, size_t canon_size);
/* Finds the builtin description whose aliases contain the arch (first
 * component) of `triple`, and writes into `canon` the triple with that
 * arch spelled as the ISA ("arm64-linux-gnu" -> "aarch64-linux-gnu"), or
 * the description's own triple when `triple` is a bare arch ("riscv64gc").
 * An unknown arch is an error listing the known ones. */
kiln_status tgt_find(kiln_ctx *ctx, const char *triple, tgt_desc *out, char *canon,
                     size_t canon_size);

/* The vector register width for an LLVM feature string: the widest of
 * d->vector_bits and the listed vector features enabled in `features`. */
int tgt_vector_bits(const tgt_desc *d, const char *features);
/* The vector registers a kernel may hold accumulators in with those
 * features: the largest of d->vector_registers and the listed
 * register_features enabled in `features`. */
int tgt_vector_registers(const tgt_desc *d, const char *features);

#endif /* KILN_TARGET_H */
