/*
 * arena.h — bump allocation for memory that lives as long as a graph or a
 * pass.  Freed in one call; individual blocks are never freed.  Blocks are
 * 16-byte aligned, enough for every scalar type kiln stores.
 */
#ifndef KILN_ARENA_H
#define KILN_ARENA_H

#include <stddef.h>

#include "ctx.h"

typedef struct ir_arena_chunk ir_arena_chunk;
typedef struct ir_arena_adopted ir_arena_adopted;

typedef struct ir_arena {
  kiln_ctx *ctx;          /* allocator the chunks come from */
  ir_arena_chunk *head;   /* newest chunk first */
  size_t used;            /* bytes handed out, for statistics */
  ir_arena_adopted *adopted; /* blocks of ctx's allocator freed with the arena */
} ir_arena;

void ir_arena_init(ir_arena *a, kiln_ctx *ctx);
void ir_arena_free(ir_arena *a);
void *ir_arena_alloc(ir_arena *a, size_t size);   /* zeroed */
void *ir_arena_dup(ir_arena *a, const void *p, size_t size);
char *ir_arena_strdup(ir_arena *a, const char *s);
char *ir_arena_strndup(ir_arena *a, const char *s, size_t n);
/* Takes ownership of `block`, allocated by a->ctx's allocator: it is freed
 * with the arena.  How a large payload another owner allocated (a tensor
 * the protobuf unpacker copied out of the model file) joins a graph
 * without being copied once more. */
void ir_arena_adopt(ir_arena *a, void *block);

#endif
