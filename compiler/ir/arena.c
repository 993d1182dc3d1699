/*
 * arena.c — chunked bump allocator.  Big requests get a chunk of their own
 * so a 100 MB constant does not waste the tail of a shared chunk.
 */
#include "arena.h"

#include <string.h>

struct ir_arena_chunk {
  ir_arena_chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
};

struct ir_arena_adopted {
  ir_arena_adopted *next;
  void *block;
};

enum { CHUNK_SIZE = 64 * 1024 };

void ir_arena_init(ir_arena *a, kiln_ctx *ctx) {
  a->ctx = ctx;
  a->head = NULL;
  a->used = 0;
  a->adopted = NULL;
}

void ir_arena_free(ir_arena *a) {
  for (ir_arena_adopted *d = a->adopted; d; d = d->next) kiln_free(a->ctx, d->block);
  a->adopted = NULL; /* the records themselves live in the chunks */
  for (ir_arena_chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    kiln_free(a->ctx, c);
  }
  a->head = NULL;
  a->used = 0;
}

void ir_arena_adopt(ir_arena *a, void *block) {
  ir_arena_adopted *d = ir_arena_alloc(a, sizeof *d);
  d->block = block;
  d->next = a->adopted;
  a->adopted = d;
}

/* Uninitialised bytes: the callers below fill them (zeroing a 100 MB
 * constant only to copy over it was a tenth of a ResNet-50 compile). */
static void *alloc_raw(ir_arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ir_arena_chunk *c = a->head;
  if (!c || c->size - c->used < size) {
    size_t cap = size > CHUNK_SIZE / 4 ? size : CHUNK_SIZE;
    ir_arena_chunk *n = kiln_malloc(a->ctx, sizeof *n + cap);
    n->size = cap;
    n->used = 0;
    if (c && size > CHUNK_SIZE / 4) {
      /* keep bumping in the current chunk; put the big one behind it */
      n->next = c->next;
      c->next = n;
    } else {
      n->next = c;
      a->head = n;
    }
    c = n;
  }
  void *p = c->data + c->used;
  c->used += size;
  a->used += size;
  return p;
}

void *ir_arena_alloc(ir_arena *a, size_t size) {
  void *p = alloc_raw(a, size);
  memset(p, 0, size);
  return p;
}

void *ir_arena_dup(ir_arena *a, const void *p, size_t size) {
  void *q = alloc_raw(a, size);
  if (size) memcpy(q, p, size);
  return q;
}

char *ir_arena_strndup(ir_arena *a, const char *s, size_t n) {
  char *q = alloc_raw(a, n + 1);
  if (n) memcpy(q, s, n); /* s may be NULL when n is 0 (an empty protobuf string) */
  q[n] = 0;
  return q;
}

char *ir_arena_strdup(ir_arena *a, const char *s) { return ir_arena_strndup(a, s, strlen(s)); }
