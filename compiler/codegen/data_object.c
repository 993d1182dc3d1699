/*
 * data_object.c — an embedded weights blob as a relocatable ELF64 object.
 *
 * A model's constants are most of its library (98 MiB of ResNet-50's),
 * and none of them is code.  Handed to LLVM as constant globals they were
 * copied into LLVM's constants, walked by its module passes, and printed
 * byte by byte by the AsmPrinter into a growing buffer: a third of a
 * ResNet-50 compile.  kiln knows the blob's layout already (cg_weights:
 * the same one NAME.weights uses), so it writes the object itself and the
 * code refers to the blob through one symbol.
 *
 * The object, little-endian ELF64, relocatable, no relocations:
 *
 *     ELF header                      64 bytes
 *     .symtab                         the null symbol, then NAME_weights_data
 *     .strtab, .shstrtab              names
 *     section headers                 null, .rodata, .note.GNU-stack,
 *                                     .symtab, .strtab, .shstrtab
 *     .rodata                         the blob, at a 64-byte aligned offset
 *
 * Everything but the blob comes first, so the member is a small head
 * (the archive's symbol table is read from it) and the blob streamed
 * after it from the constants where they are (cg_weights_fwrite): no
 * 100 MB buffer is built only to be written out.
 *
 * The symbol is global (so the archive's symbol table lists it and the
 * linker pulls this member in) but hidden (STV_HIDDEN: a shared library
 * linking libNAME.a does not export it, and the code's references to it
 * may be PC-relative, as LLVM emits them for a hidden declaration).  The
 * empty .note.GNU-stack keeps the linker from asking for an executable
 * stack.  e_machine, e_flags (riscv64's float ABI) and EI_OSABI are
 * copied from the model's own object, so the two link as one.
 */
#include <string.h>

#include "cg.h"

enum {
  EHDR = 64,  /* ELF64 header */
  SHDR = 64,  /* section header */
  SYM = 24,   /* symbol table entry */
  NSEC = 6,
  BLOB_ALIGN = 64,
};

/* section indices */
enum { S_NULL, S_RODATA, S_NOTE, S_SYMTAB, S_STRTAB, S_SHSTRTAB };

static void put(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* A section header at p. */
static void section(unsigned char *p, uint32_t name, uint32_t type, uint64_t flags,
                    uint64_t offset, uint64_t size, uint32_t link, uint32_t info, uint64_t align,
                    uint64_t entsize) {
  put(p + 0, name, 4);
  put(p + 4, type, 4);
  put(p + 8, flags, 8);
  put(p + 16, 0, 8); /* sh_addr */
  put(p + 24, offset, 8);
  put(p + 32, size, 8);
  put(p + 40, link, 4);
  put(p + 44, info, 4);
  put(p + 48, align, 8);
  put(p + 56, entsize, 8);
}

kiln_status cg_weights_object(const cg_weights *w, const char *model_name, const void *like,
                              size_t like_size, const char *member_name, cg_member *out) {
  const unsigned char *lk = like;
  if (like_size < EHDR || memcmp(lk, "\177ELF", 4) || lk[4] != 2 || lk[5] != 1) {
    kiln_error(w->ctx, "internal: the model's object is not little-endian ELF64, so its weights "
               "cannot be embedded beside it (use --weights external)");
    return KILN_ERR_INTERNAL;
  }
  char sym[160];
  cg_weights_symbol(model_name, sym, sizeof sym);
  static const char shstr[] = "\0.rodata\0.note.GNU-stack\0.symtab\0.strtab\0.shstrtab";
  enum { N_RODATA = 1, N_NOTE = 9, N_SYMTAB = 25, N_STRTAB = 33, N_SHSTRTAB = 41 };
  size_t sym_len = strlen(sym);

  size_t o_symtab = EHDR;
  size_t o_strtab = o_symtab + 2 * SYM;
  size_t o_shstr = o_strtab + sym_len + 2;
  size_t o_shdr = align_up(o_shstr + sizeof shstr, 8);
  size_t o_blob = align_up(o_shdr + NSEC * SHDR, BLOB_ALIGN);
  /* a model without constants still defines the symbol, on one aligned block */
  size_t blob = align_up(w->end > 0 ? (size_t)w->end : 1, BLOB_ALIGN);

  unsigned char *p = kiln_calloc(w->ctx, 1, o_blob);
  /* ELF header: identity and machine as the model's object */
  memcpy(p, lk, 16); /* magic, class, data, version, OS ABI and its version */
  put(p + 16, 1 /* ET_REL */, 2);
  memcpy(p + 18, lk + 18, 2); /* e_machine */
  put(p + 20, 1 /* EV_CURRENT */, 4);
  memcpy(p + 48, lk + 48, 4); /* e_flags */
  put(p + 40, o_shdr, 8);     /* e_shoff */
  put(p + 52, EHDR, 2);       /* e_ehsize */
  put(p + 58, SHDR, 2);       /* e_shentsize */
  put(p + 60, NSEC, 2);       /* e_shnum */
  put(p + 62, S_SHSTRTAB, 2); /* e_shstrndx */

  /* symbol 1: NAME_weights_data, the whole of .rodata (symbol 0 stays null) */
  unsigned char *s1 = p + o_symtab + SYM;
  put(s1 + 0, 1, 4);                   /* st_name */
  s1[4] = 1 << 4 | 1;                  /* STB_GLOBAL, STT_OBJECT */
  s1[5] = 2;                           /* STV_HIDDEN */
  put(s1 + 6, S_RODATA, 2);            /* st_shndx */
  put(s1 + 16, (uint64_t)w->end, 8);   /* st_size */
  memcpy(p + o_strtab + 1, sym, sym_len);
  memcpy(p + o_shstr, shstr, sizeof shstr);

  unsigned char *sh = p + o_shdr;
  section(sh + S_RODATA * SHDR, N_RODATA, 1 /* PROGBITS */, 2 /* ALLOC */, o_blob, blob, 0, 0,
          BLOB_ALIGN, 0);
  section(sh + S_NOTE * SHDR, N_NOTE, 1, 0, o_blob, 0, 0, 0, 1, 0);
  section(sh + S_SYMTAB * SHDR, N_SYMTAB, 2 /* SYMTAB */, 0, o_symtab, 2 * SYM, S_STRTAB,
          1 /* first global */, 8, SYM);
  section(sh + S_STRTAB * SHDR, N_STRTAB, 3 /* STRTAB */, 0, o_strtab, sym_len + 2, 0, 0, 1, 0);
  section(sh + S_SHSTRTAB * SHDR, N_SHSTRTAB, 3, 0, o_shstr, sizeof shstr, 0, 0, 1, 0);
  *out = (cg_member){.name = member_name, .data = p, .size = o_blob + blob, .tail = w,
                     .tail_size = blob};
  return KILN_OK;
}
