/*
 * yaml_util.c — shared helpers of the libyaml readers (see yaml_util.h).
 * libyaml's document API keeps the start mark of every node, which is
 * what lets each complaint name its line.
 */
#include "yaml_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

kiln_status kiln_yaml_fail(kiln_ctx *ctx, const char *path, const yaml_node_t *at,
                           const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *saved = ctx->file;
  ctx->file = path;
  if (at)
    kiln_error(ctx, "line %zu: %s", at->start_mark.line + 1, msg);
  else
    kiln_error(ctx, "%s", msg);
  ctx->file = saved;
  return KILN_ERR_INVALID_ARGUMENT;
}

kiln_status kiln_yaml_load(kiln_ctx *ctx, const char *path, const char *what,
                           yaml_document_t *doc) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    const char *saved = ctx->file;
    ctx->file = path;
    kiln_error(ctx, "cannot open the %s", what);
    ctx->file = saved;
    return KILN_ERR_IO;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    return kiln_yaml_fail(ctx, path, NULL, "cannot start the YAML parser");
  }
  yaml_parser_set_input_file(&parser, f);
  bool loaded = yaml_parser_load(&parser, doc);
  fclose(f);
  kiln_status st = KILN_OK;
  if (!loaded)
    st = kiln_yaml_fail(ctx, path, NULL, "line %zu, column %zu: %s%s%s",
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "malformed YAML",
                        parser.context ? " " : "", parser.context ? parser.context : "");
  yaml_parser_delete(&parser);
  return st;
}

const char *kiln_yaml_scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

kiln_status kiln_yaml_int(kiln_ctx *ctx, const char *path, const char *key, const yaml_node_t *n,
                          long long lo, long long hi, long long *out) {
  const char *s = kiln_yaml_scalar(n);
  char *end;
  if (s && *s) {
    *out = strtoll(s, &end, 10);
    if (!*end && *out >= lo && *out <= hi) return KILN_OK;
  }
  return kiln_yaml_fail(ctx, path, n, "'%s' must be an integer from %lld to %lld, not '%s'", key,
                        lo, hi, s ? s : "(a list or map)");
}

kiln_status kiln_yaml_number(kiln_ctx *ctx, const char *path, const char *key,
                             const yaml_node_t *n, double *out) {
  const char *s = kiln_yaml_scalar(n);
  char *end;
  if (s && *s) {
    *out = strtod(s, &end);
    if (!*end && isfinite(*out)) return KILN_OK;
  }
  return kiln_yaml_fail(ctx, path, n, "'%s' must be a finite number, not '%s'", key,
                        s ? s : "(a list or map)");
}

void kiln_yaml_put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\x%02x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}
