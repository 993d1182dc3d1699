/*
 * ctx.c — allocation and diagnostics through a kiln_ctx.
 *
 * Allocation failure inside the compiler is not a user error we can report
 * usefully, so kiln_malloc aborts with a message instead of threading NULL
 * checks through every pass.
 */
#include "ctx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *libc_realloc(void *user, void *ptr, size_t size) {
  (void)user;
  if (size == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, size);
}

void kiln_ctx_init(kiln_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
  ctx->alloc.realloc = libc_realloc;
  ctx->diag_stream = stderr;
  ctx->file = "<input>";
}

void *kiln_realloc(kiln_ctx *ctx, void *ptr, size_t size) {
  if (size == 0) size = 1;
  void *p = ctx->alloc.realloc(ctx->alloc.user, ptr, size);
  if (!p) {
    fprintf(stderr, "kiln: fatal: out of memory allocating %zu bytes\n", size);
    abort();
  }
  return p;
}

void *kiln_malloc(kiln_ctx *ctx, size_t size) { return kiln_realloc(ctx, NULL, size); }

void *kiln_calloc(kiln_ctx *ctx, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    fprintf(stderr, "kiln: fatal: allocation of %zu x %zu bytes overflows\n", n, size);
    abort();
  }
  void *p = kiln_malloc(ctx, n * size);
  memset(p, 0, n * size);
  return p;
}

void kiln_free(kiln_ctx *ctx, void *ptr) {
  if (ptr) ctx->alloc.realloc(ctx->alloc.user, ptr, 0);
}

char *kiln_strdup(kiln_ctx *ctx, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = kiln_malloc(ctx, n);
  memcpy(p, s, n);
  return p;
}

/* Formats "kiln: KIND: FILE: [node 'N' (Op): ]what", keeps it and prints it. */
static void report(kiln_ctx *ctx, const char *kind, const char *node_name,
                   const char *op, const char *fmt, va_list ap) {
  char msg[sizeof ctx->last_error];
  /* no file (a usage error before any was named): "kiln: error: what" */
  size_t n = ctx->file ? (size_t)snprintf(msg, sizeof msg, "kiln: %s: %s: ", kind, ctx->file)
                       : (size_t)snprintf(msg, sizeof msg, "kiln: %s: ", kind);
  if (n < sizeof msg && (node_name || op))
    n += (size_t)snprintf(msg + n, sizeof msg - n, "node '%s' (%s): ",
                          node_name ? node_name : "", op ? op : "?");
  if (n < sizeof msg) vsnprintf(msg + n, sizeof msg - n, fmt, ap);
  if (ctx->diag_stream) fprintf(ctx->diag_stream, "%s\n", msg);
  if (kind[0] == 'e') {
    ctx->num_errors++;
    memcpy(ctx->last_error, msg, sizeof msg);
  }
}

void kiln_verror(kiln_ctx *ctx, const char *fmt, va_list ap) {
  report(ctx, "error", NULL, NULL, fmt, ap);
}

void kiln_error(kiln_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(ctx, "error", NULL, NULL, fmt, ap);
  va_end(ap);
}

void kiln_error_node(kiln_ctx *ctx, const char *node_name, const char *op,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(ctx, "error", node_name ? node_name : "", op ? op : "?", fmt, ap);
  va_end(ap);
}

void kiln_warn(kiln_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(ctx, "warning", NULL, NULL, fmt, ap);
  va_end(ap);
}

void kiln_note(kiln_ctx *ctx, const char *fmt, ...) {
  if (ctx->verbose <= 0) return;
  va_list ap;
  va_start(ap, fmt);
  report(ctx, "note", NULL, NULL, fmt, ap);
  va_end(ap);
}

double kiln_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void kiln_time(kiln_ctx *ctx, const char *phase, double seconds) {
  if (ctx->timing && ctx->diag_stream)
    fprintf(ctx->diag_stream, "kiln: time: %-32s %10.2f ms\n", phase, seconds * 1e3);
}
