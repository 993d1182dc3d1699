/*
 * weights_file.c — the layout and the writer of NAME.weights
 * (`kiln compile --weights external`; format in runtime/rt.h).
 *
 * Layout.  While cg_build_module lowers the graph, every constant a kernel
 * reads is appended here (cg_weights_add) at the next 64-byte aligned
 * offset after a one-page header: graph constants by reference to their
 * payload, constants a hook makes (packed convolution weights, transposed
 * matrices, index tables) as copies, since the hook's buffers die with the
 * build.  The generated code bakes each offset in; the file is what it
 * reads, byte for byte, so loading it is an mmap and nothing else.
 *
 * Writing is one streaming pass in offset order that also computes the
 * content hash (FNV-1a 64 over the payload, padding included):
 *
 *   - payloads that live in one of the graph's file mappings (ONNX
 *     external data) are read in 8 MiB chunks, and after each chunk its
 *     pages are dropped from this process (MADV_DONTNEED; the mapping is
 *     private, read-only and never written, so the pages simply come back
 *     from the file if touched again).  Importing and compiling a model
 *     whose weights exceed memory thus never holds more than a chunk of
 *     them resident;
 *   - chunks that are all zeros are not written at all: the file is sized
 *     with ftruncate at the end, so they read back as zeros and take no
 *     disk space (sparse files stay sparse);
 *   - the file is written under NAME.weights.tmp and renamed at the end,
 *     so a failed or interrupted compile never leaves a file that looks
 *     complete.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cg.h"
#include "rt.h"

enum { CHUNK = 8 << 20 };

static int64_t align_up(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

void cg_weights_init(cg_weights *w, kiln_ctx *ctx, const ir_graph *g, bool embed) {
  memset(w, 0, sizeof *w);
  w->ctx = ctx;
  w->g = g;
  w->embed = embed;
  ir_arena_init(&w->arena, ctx);
  w->end = embed ? 0 : RT_WEIGHTS_HEADER_SIZE; /* a file starts with its header page */
}

void cg_weights_symbol(const char *model_name, char *buf, size_t size) {
  snprintf(buf, size, "%s_weights_data", model_name);
}

void cg_weights_free(cg_weights *w) {
  ir_arena_free(&w->arena);
  kiln_free(w->ctx, w->entries);
  w->entries = NULL;
  w->count = w->cap = 0;
}

int64_t cg_weights_add(cg_weights *w, const void *data, int64_t nbytes, bool copy) {
  if (w->count == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 64;
    w->entries = kiln_realloc(w->ctx, w->entries, (size_t)w->cap * sizeof *w->entries);
  }
  int64_t offset = align_up(w->end, RT_WEIGHTS_ALIGN);
  if (copy && nbytes > 0) data = ir_arena_dup(&w->arena, data, (size_t)nbytes);
  w->entries[w->count++] = (cg_weights_entry){data, nbytes, offset};
  w->end = offset + nbytes;
  return offset;
}

bool cg_weights_fwrite(const cg_weights *w, FILE *f, int64_t size) {
  static const unsigned char zeros[4096];
  int64_t pos = 0;
  for (int32_t i = 0; i <= w->count; i++) {
    int64_t at = i < w->count ? w->entries[i].offset : size;
    for (int64_t n; pos < at; pos += n) {
      n = at - pos < (int64_t)sizeof zeros ? at - pos : (int64_t)sizeof zeros;
      if (fwrite(zeros, 1, (size_t)n, f) != (size_t)n) return false;
    }
    if (i == w->count) break;
    const cg_weights_entry *e = &w->entries[i];
    if (e->nbytes && fwrite(e->data, 1, (size_t)e->nbytes, f) != (size_t)e->nbytes) return false;
    pos = e->offset + e->nbytes;
  }
  return true;
}

int64_t cg_weights_file_size(const cg_weights *w) { return align_up(w->end, 4096); }

/* True if [p, p + n) lies inside one of g's read-only file mappings. */
static bool is_mapped(const ir_graph *g, const void *p, int64_t n) {
  for (const ir_mapping *m = g->mappings; m; m = m->next) {
    const char *a = m->addr;
    if ((const char *)p >= a && (const char *)p + n <= a + m->len) return true;
  }
  return false;
}

/* Drops the pages of a mapped range that lie wholly before p + n from
 * this process (see the top of the file).  The page holding p may start
 * before it: bytes there were streamed already or are not ours to keep
 * resident either, and a mapping starts on a page. */
static void drop_pages(const void *p, int64_t n, int64_t page) {
  uintptr_t lo = (uintptr_t)p / (uintptr_t)page * (uintptr_t)page;
  uintptr_t hi = ((uintptr_t)p + (uintptr_t)n) / (uintptr_t)page * (uintptr_t)page;
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* FNV-1a 64 of n zero bytes after h. */
static uint64_t hash_zeros(uint64_t h, int64_t n) {
  for (int64_t i = 0; i < n; i++) h *= RT_FNV_PRIME;
  return h;
}

/* FNV-1a 64 of p[0, n) after h; *nonzero tells whether any byte is set. */
static uint64_t hash_bytes(uint64_t h, const unsigned char *p, int64_t n, bool *nonzero) {
  unsigned char any = 0;
  for (int64_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= RT_FNV_PRIME;
    any |= p[i];
  }
  *nonzero = any != 0;
  return h;
}

static bool write_at(int fd, const void *data, int64_t n, int64_t offset) {
  const char *p = data;
  while (n > 0) {
    ssize_t r = pwrite(fd, p, (size_t)n, (off_t)offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= r;
    offset += r;
  }
  return true;
}

kiln_status cg_write_weights(cg_weights *w, const char *path, const char *model_name) {
  kiln_ctx *ctx = w->ctx;
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    kiln_error(ctx, "cannot write %s: %s", tmp, strerror(errno));
    return KILN_ERR_IO;
  }
  int64_t page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
  int64_t total = cg_weights_file_size(w), pos = RT_WEIGHTS_HEADER_SIZE;
  uint64_t h = RT_FNV_OFFSET;
  bool ok = true;
  for (int32_t i = 0; ok && i < w->count; i++) {
    const cg_weights_entry *e = &w->entries[i];
    assert(e->offset >= pos && "entries in increasing offset order");
    h = hash_zeros(h, e->offset - pos);
    bool mapped = is_mapped(w->g, e->data, e->nbytes);
    for (int64_t done = 0; ok && done < e->nbytes; done += CHUNK) {
      int64_t n = e->nbytes - done < CHUNK ? e->nbytes - done : CHUNK;
      const unsigned char *p = (const unsigned char *)e->data + done;
      bool nonzero;
      h = hash_bytes(h, p, n, &nonzero);
      if (nonzero) ok = write_at(fd, p, n, e->offset + done);
      if (mapped) drop_pages(p, n, page);
    }
    pos = e->offset + e->nbytes;
  }
  h = hash_zeros(h, total - pos);

  rt_weights_header hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.magic, RT_WEIGHTS_MAGIC, sizeof hd.magic);
  hd.version = RT_WEIGHTS_VERSION;
  hd.header_size = RT_WEIGHTS_HEADER_SIZE;
  hd.total_size = (uint64_t)total;
  hd.hash = h;
  hd.alignment = RT_WEIGHTS_ALIGN;
  hd.num_constants = (uint32_t)w->count;
  snprintf(hd.model, sizeof hd.model, "%s", model_name);
  if (ok) ok = write_at(fd, &hd, sizeof hd, 0);
  if (ok) ok = ftruncate(fd, (off_t)total) == 0;
  int err = errno;
  if (close(fd) && ok) {
    ok = false;
    err = errno;
  }
  if (ok && rename(tmp, path)) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    kiln_error(ctx, "cannot write %s: %s", path, strerror(err));
    unlink(tmp);
    return KILN_ERR_IO;
  }
  w->hash = h;
  return KILN_OK;
}
