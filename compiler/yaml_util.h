/*
 * yaml_util.h — what every libyaml reader of kiln needs: load a file as a
 * document, report a problem naming the file and the line of the node it
 * is about, read a scalar as a string, an integer in a range or a finite
 * number.  The tuning database (kernels/tuning.c) reads through these.
 */
#ifndef KILN_YAML_UTIL_H
#define KILN_YAML_UTIL_H

#include <stdbool.h>
#include <yaml.h>

#include "ctx.h"

/* Loads the YAML file at path into *doc (delete it with
 * yaml_document_delete).  A syntax error, a file cut short included, is
 * reported as "PATH: line L, column C: problem"; a file that cannot be
 * opened as "PATH: cannot open the WHAT". */
kiln_status kiln_yaml_load(kiln_ctx *ctx, const char *path, const char *what,
                           yaml_document_t *doc);
/* Reports "PATH: line L: what" (the line of `at`, or none if NULL);
 * returns KILN_ERR_INVALID_ARGUMENT. */
kiln_status kiln_yaml_fail(kiln_ctx *ctx, const char *path, const yaml_node_t *at,
                           const char *fmt, ...) KILN_PRINTF(4, 5);
/* The text of a scalar node, NULL for a list, a map or no node. */
const char *kiln_yaml_scalar(const yaml_node_t *n);
/* Scalar `n` of key `key` as an integer in lo..hi, or a finite number;
 * anything else is reported (with the line) and fails. */
kiln_status kiln_yaml_int(kiln_ctx *ctx, const char *path, const char *key, const yaml_node_t *n,
                          long long lo, long long hi, long long *out);
kiln_status kiln_yaml_number(kiln_ctx *ctx, const char *path, const char *key,
                             const yaml_node_t *n, double *out);
/* A quoted YAML scalar of s (escapes '"', '\\' and control bytes). */
void kiln_yaml_put_string(FILE *f, const char *s);

#endif
