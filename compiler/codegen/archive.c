/*
 * archive.c — writes libNAME.a: a System V / GNU `ar` archive with a
 * symbol table, without running `ar`.
 *
 * Layout (all header fields are space-padded ASCII, every member starts
 * at an even offset, odd-sized members get one '\n' of padding):
 *
 *     "!<arch>\n"
 *     header "/"       symbol table: count, member offsets, NUL-terminated names
 *     header "//"      long names ("name/\n" each), only if a name has > 15 chars
 *     header "NAME.o/" the model, then the runtime members
 *
 * The 60-byte header is name[16] date[12] uid[6] gid[6] mode[8] size[10]
 * "`\n".  The symbol table is what lets a linker find which member
 * defines a symbol without reading them all; GNU ld and lld require it.
 * Counts and offsets in it are 32-bit big-endian ("/"), or 64-bit in a
 * "/SYM64/" table when the archive passes 4 GiB (weights embedded).
 * Dates, owners and modes are fixed, so archives are reproducible.
 *
 * Symbols come from each member's ELF symbol table: global and weak
 * symbols that the member defines (ELF64 little-endian: x86_64, aarch64,
 * riscv64 — the targets kiln supports).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* ---- reading an ELF64 symbol table ------------------------------------------ */
static uint64_t rd(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

typedef struct sym_list {
  const char **names;    /* point into the members' string tables */
  int *member;           /* member index of each name */
  int count, cap;
  kiln_ctx *ctx;
} sym_list;

static void sym_push(sym_list *l, const char *name, int member) {
  if (l->count == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->names = kiln_realloc(l->ctx, l->names, (size_t)l->cap * sizeof *l->names);
    l->member = kiln_realloc(l->ctx, l->member, (size_t)l->cap * sizeof *l->member);
  }
  l->names[l->count] = name;
  l->member[l->count++] = member;
}

/* Adds the symbols member m defines; false if it is not an ELF64 LE object
 * we can read. */
static bool elf_symbols(const cg_member *mem, int m, sym_list *out) {
  const unsigned char *p = mem->data;
  size_t size = mem->size - mem->tail_size; /* the tables lie in the head */
  if (size < 64 || memcmp(p, "\177ELF", 4) || p[4] != 2 || p[5] != 1) return false;
  uint64_t shoff = rd(p + 0x28, 8), shentsize = rd(p + 0x3A, 2), shnum = rd(p + 0x3C, 2);
  if (shentsize < 64 || shoff > size || shnum > (size - shoff) / shentsize) return false;
  for (uint64_t i = 0; i < shnum; i++) {
    const unsigned char *sh = p + shoff + i * shentsize;
    if (rd(sh + 4, 4) != 2 /* SHT_SYMTAB */) continue;
    uint64_t off = rd(sh + 0x18, 8), len = rd(sh + 0x20, 8), link = rd(sh + 0x28, 4);
    uint64_t entsize = rd(sh + 0x38, 8);
    if (entsize < 24 || off > size || len > size - off || link >= shnum) return false;
    const unsigned char *strsh = p + shoff + link * shentsize;
    uint64_t stroff = rd(strsh + 0x18, 8), strlen_ = rd(strsh + 0x20, 8);
    if (stroff > size || strlen_ > size - stroff || strlen_ == 0 || p[stroff + strlen_ - 1])
      return false;
    for (uint64_t k = 1; k < len / entsize; k++) {
      const unsigned char *sym = p + off + k * entsize;
      unsigned bind = sym[4] >> 4, type = sym[4] & 15;
      uint64_t shndx = rd(sym + 6, 2), name = rd(sym, 4);
      bool global = bind == 1 || bind == 2 || bind == 10; /* GLOBAL, WEAK, GNU_UNIQUE */
      if (!global || shndx == 0 /* UNDEF */ || type == 3 || type == 4 || name >= strlen_) continue;
      if (p[stroff + name]) sym_push(out, (const char *)p + stroff + name, m);
    }
  }
  return true;
}

/* ---- writing ------------------------------------------------------------------- */
static void header(FILE *f, const char *name, uint64_t size, const char *mode) {
  char h[96]; /* 60 used: every field fits (sizes < 10^10 are checked) */
  snprintf(h, sizeof h, "%-16s%-12s%-6s%-6s%-8s%-10llu`\n", name, "0", "0", "0", mode,
           (unsigned long long)size);
  fwrite(h, 1, 60, f);
}

static void put_be(FILE *f, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) fputc((int)(v >> (8 * i)) & 0xff, f);
}

static uint64_t even(uint64_t x) { return x + (x & 1); }

kiln_status cg_write_archive(kiln_ctx *ctx, const char *path, const cg_member *members, int count) {
  sym_list syms = {.ctx = ctx};
  for (int m = 0; m < count; m++) {
    if (!elf_symbols(&members[m], m, &syms)) {
      kiln_error(ctx, "internal error: archive member '%s' is not an ELF64 little-endian object",
                 members[m].name);
      kiln_free(ctx, syms.names);
      kiln_free(ctx, syms.member);
      return KILN_ERR_INTERNAL;
    }
  }
  /* long names */
  size_t longlen = 0;
  for (int m = 0; m < count; m++)
    if (strlen(members[m].name) > 15) longlen += strlen(members[m].name) + 2;
  /* sizes, then member offsets; the table's width depends on the total */
  uint64_t names_len = 0;
  for (int i = 0; i < syms.count; i++) names_len += strlen(syms.names[i]) + 1;
  uint64_t body = 0;
  for (int m = 0; m < count; m++) body += 60 + even(members[m].size);
  int width = 4;
  uint64_t symtab_size = 4 + 4 * (uint64_t)syms.count + names_len;
  uint64_t first = 8 + 60 + even(symtab_size) + (longlen ? 60 + even(longlen) : 0);
  if (first + body > UINT32_MAX) {
    width = 8;
    symtab_size = 8 + 8 * (uint64_t)syms.count + names_len;
    first = 8 + 60 + even(symtab_size) + (longlen ? 60 + even(longlen) : 0);
  }
  for (int m = 0; m < count; m++)
    if (members[m].size >= 10000000000ull) {
      kiln_error(ctx, "archive member '%s' is too large for the ar format", members[m].name);
      kiln_free(ctx, syms.names);
      kiln_free(ctx, syms.member);
      return KILN_ERR_LIMIT;
    }
  uint64_t *offset = kiln_malloc(ctx, (size_t)(count + 1) * sizeof *offset);
  offset[0] = first;
  for (int m = 1; m < count; m++) offset[m] = offset[m - 1] + 60 + even(members[m - 1].size);

  FILE *f = fopen(path, "wb");
  if (!f) {
    kiln_error(ctx, "cannot write %s: %s", path, strerror(errno));
    kiln_free(ctx, offset);
    kiln_free(ctx, syms.names);
    kiln_free(ctx, syms.member);
    return KILN_ERR_IO;
  }
  fwrite("!<arch>\n", 1, 8, f);
  header(f, width == 4 ? "/" : "/SYM64/", symtab_size, "0");
  put_be(f, (uint64_t)syms.count, width);
  for (int i = 0; i < syms.count; i++) put_be(f, offset[syms.member[i]], width);
  for (int i = 0; i < syms.count; i++) fwrite(syms.names[i], 1, strlen(syms.names[i]) + 1, f);
  if (symtab_size & 1) fputc('\n', f);
  if (longlen) {
    header(f, "//", longlen, "");
    for (int m = 0; m < count; m++)
      if (strlen(members[m].name) > 15) fprintf(f, "%s/\n", members[m].name);
    if (longlen & 1) fputc('\n', f);
  }
  size_t longpos = 0;
  for (int m = 0; m < count; m++) {
    char name[32];
    size_t len = strlen(members[m].name);
    if (len > 15) {
      snprintf(name, sizeof name, "/%zu", longpos);
      longpos += len + 2;
    } else {
      snprintf(name, sizeof name, "%s/", members[m].name);
    }
    header(f, name, members[m].size, "644");
    fwrite(members[m].data, 1, members[m].size - members[m].tail_size, f);
    if (members[m].tail && !cg_weights_fwrite(members[m].tail, f, (int64_t)members[m].tail_size))
      break; /* ferror(f) says so below */
    if (members[m].size & 1) fputc('\n', f);
  }
  bool ok = !ferror(f);
  ok &= fclose(f) == 0;
  kiln_free(ctx, offset);
  kiln_free(ctx, syms.names);
  kiln_free(ctx, syms.member);
  if (!ok) {
    kiln_error(ctx, "cannot write %s: %s", path, strerror(errno));
    return KILN_ERR_IO;
  }
  return KILN_OK;
}
