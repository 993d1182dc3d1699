/*
 * ctx.h — the one context every kiln function receives.
 *
 * kiln has no mutable globals: the allocator, the diagnostics sink and the
 * options travel in a kiln_ctx, so the compiler works as a library, in
 * tests, and in several threads with several contexts.
 *
 * Diagnostics are both printed (to `diag_stream`, stderr by default, NULL
 * for silence) and kept (the text of the last error in `last_error`), so
 * tests can assert on messages without capturing stderr.  Messages follow
 * one format, which scripts parse:
 *
 *     kiln: error: FILE: node 'NAME' (OpType): what
 */
#ifndef KILN_CTX_H
#define KILN_CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kiln.h"

#define KILN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Hard limits that protect the compiler from hostile inputs.  Each is
 * documented in docs/limits.md and has a test. */
enum {
  KILN_MAX_RANK = 8,                 /* dims per tensor */
  KILN_MAX_NODES = 1 << 22,          /* nodes per graph */
  KILN_MAX_VALUES = 1 << 23,         /* values per graph */
  KILN_MAX_INPUTS = 1 << 16,         /* inputs or outputs per node */
  KILN_MAX_SUBGRAPH_DEPTH = 16,      /* nesting of If/Loop/Scan bodies */
  KILN_MAX_MESSAGE_DEPTH = 100,      /* nesting of protobuf messages in a model file */
};
/* Largest tensor, in bytes, the compiler will accept (2^40). */
#define KILN_MAX_TENSOR_BYTES ((int64_t)1 << 40)

typedef struct kiln_allocator {
  void *(*realloc)(void *user, void *ptr, size_t size); /* size 0 frees */
  void *user;
} kiln_allocator;

typedef struct kiln_ctx {
  kiln_allocator alloc;   /* every heap block of the compiler comes from here */
  FILE *diag_stream;      /* where diagnostics are printed; NULL: silent */
  const char *file;       /* input file named in diagnostics ("<input>") */
  int num_errors;         /* errors reported since the last reset */
  char last_error[1024];  /* text of the most recent error, for tests */
  int verbose;            /* >0: progress notes on diag_stream */
  bool timing;            /* print the time of each phase on diag_stream */
} kiln_ctx;

/* Sets up a context with the libc allocator and stderr diagnostics. */
void kiln_ctx_init(kiln_ctx *ctx);

void *kiln_malloc(kiln_ctx *ctx, size_t size);   /* aborts on OOM */
void *kiln_calloc(kiln_ctx *ctx, size_t n, size_t size);
void *kiln_realloc(kiln_ctx *ctx, void *ptr, size_t size);
void kiln_free(kiln_ctx *ctx, void *ptr);
char *kiln_strdup(kiln_ctx *ctx, const char *s);

/* Reports an error not tied to a node: "kiln: error: FILE: what". */
void kiln_error(kiln_ctx *ctx, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_verror(kiln_ctx *ctx, const char *fmt, va_list ap);
/* Reports an error about a named node; name or op may be NULL. */
void kiln_error_node(kiln_ctx *ctx, const char *node_name, const char *op,
                     const char *fmt, ...) KILN_PRINTF(4, 5);
void kiln_warn(kiln_ctx *ctx, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_note(kiln_ctx *ctx, const char *fmt, ...) KILN_PRINTF(2, 3);

/* With ctx->timing, prints "kiln: time: PHASE  12.3 ms" for a phase that
 * took `seconds`. */
void kiln_time(kiln_ctx *ctx, const char *phase, double seconds);
/* Seconds on a monotonic clock, for timing phases. */
double kiln_clock(void);

const char *kiln_status_string(int status);

#endif /* KILN_CTX_H */
