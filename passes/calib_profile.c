/*
 * calib_profile.c — calibration profiles in YAML (schema in
 * docs/quantization.md).
 *
 * Written with fprintf in a fixed key order, so a profile diffs well and
 * reads well when edited by hand; read with libyaml's document API, which
 * keeps the line of every node, so each complaint names the line: a wrong
 * version, an unknown key, a range that is not two finite numbers with
 * lo <= hi, a tensor entry cut short by a truncated file.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "calibrate.h"
#include "yaml_util.h"

/* the YAML helpers every reader shares (compiler/yaml_util.c) */
#define put_name kiln_yaml_put_string

kiln_status kiln_profile_write(kiln_ctx *ctx, const kiln_calib_profile *p, const char *path) {
  bool to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if (!f) {
    kiln_error(ctx, "cannot write the profile '%s'", path);
    return KILN_ERR_IO;
  }
  fprintf(f, "# kiln calibration profile (schema: docs/quantization.md)\n");
  fprintf(f, "version: %d\nmodel: ", p->version);
  put_name(f, p->model ? p->model : "");
  fprintf(f, "\nmethod: %s\n", kiln_calib_method_name(p->method));
  if (p->method == KILN_CALIB_PERCENTILE) fprintf(f, "percentile: %.10g\n", p->percentile);
  fprintf(f, "samples: %d\ntensors:\n", p->samples);
  for (int i = 0; i < p->count; i++) {
    const kiln_tensor_stats *t = &p->tensors[i];
    fprintf(f, "  - name: ");
    put_name(f, t->name);
    /* the range round-trips exactly (%.17g), so --profile and --data agree */
    fprintf(f, "\n    range: [%.17g, %.17g]\n", t->lo, t->hi);
    fprintf(f, "    min: %.9g\n    max: %.9g\n    mean: %.6g\n    std: %.6g\n", t->min, t->max,
            t->mean, t->std);
    fprintf(f, "    count: %lld\n    abs_p99: %.6g\n    abs_p99.99: %.6g\n", (long long)t->count,
            t->p99, t->p9999);
  }
  bool bad = ferror(f);
  if (!to_stdout) bad |= fclose(f) != 0;
  if (bad) {
    kiln_error(ctx, "cannot write the profile '%s'", path);
    return KILN_ERR_IO;
  }
  return KILN_OK;
}

/* ---- reading --------------------------------------------------------------------- */
typedef struct reader {
  kiln_ctx *ctx;
  const char *path;
  yaml_document_t doc;
} reader;

static kiln_status KILN_PRINTF(3, 4) fail(reader *r, const yaml_node_t *at, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kiln_yaml_fail(r->ctx, r->path, at, "%s", msg);
}

#define scalar kiln_yaml_scalar

static yaml_node_t *node(reader *r, int id) { return yaml_document_get_node(&r->doc, id); }

static kiln_status number(reader *r, const char *key, const yaml_node_t *n, double *out) {
  return kiln_yaml_number(r->ctx, r->path, key, n, out);
}

static kiln_status integer(reader *r, const char *key, const yaml_node_t *n, long long lo,
                           long long hi, long long *out) {
  return kiln_yaml_int(r->ctx, r->path, key, n, lo, hi, out);
}

static kiln_status read_tensor(reader *r, yaml_node_t *n, kiln_tensor_stats *t) {
  if (n->type != YAML_MAPPING_NODE) return fail(r, n, "each entry of 'tensors' must be a map");
  bool have_name = false, have_range = false;
  kiln_status st = KILN_OK;
  for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top && !st; q++) {
    yaml_node_t *kn = node(r, q->key), *vn = node(r, q->value);
    const char *k = scalar(kn);
    if (!k) return fail(r, kn, "keys must be plain words");
    if (!strcmp(k, "name")) {
      if (!scalar(vn) || !*scalar(vn)) return fail(r, vn, "'name' must be a tensor name");
      t->name = kiln_strdup(r->ctx, scalar(vn));
      have_name = true;
    } else if (!strcmp(k, "range")) {
      if (vn->type != YAML_SEQUENCE_NODE ||
          vn->data.sequence.items.top - vn->data.sequence.items.start != 2)
        return fail(r, vn, "'range' must be a list of two numbers [lo, hi]");
      if ((st = number(r, "range", node(r, vn->data.sequence.items.start[0]), &t->lo)) ||
          (st = number(r, "range", node(r, vn->data.sequence.items.start[1]), &t->hi)))
        return st;
      if (t->lo > t->hi) return fail(r, vn, "'range' has lo %g above hi %g", t->lo, t->hi);
      have_range = true;
    } else if (!strcmp(k, "min")) {
      st = number(r, k, vn, &t->min);
    } else if (!strcmp(k, "max")) {
      st = number(r, k, vn, &t->max);
    } else if (!strcmp(k, "mean")) {
      st = number(r, k, vn, &t->mean);
    } else if (!strcmp(k, "std")) {
      st = number(r, k, vn, &t->std);
    } else if (!strcmp(k, "abs_p99")) {
      st = number(r, k, vn, &t->p99);
    } else if (!strcmp(k, "abs_p99.99")) {
      st = number(r, k, vn, &t->p9999);
    } else if (!strcmp(k, "count")) {
      long long c;
      st = integer(r, k, vn, 0, INT64_MAX, &c);
      t->count = c;
    } else {
      return fail(r, kn, "unknown key '%s' in a tensor entry (expected name, range, min, max, "
                  "mean, std, count, abs_p99, abs_p99.99)", k);
    }
  }
  if (st) return st;
  if (!have_name) return fail(r, n, "tensor entry without a 'name'");
  if (!have_range) return fail(r, n, "tensor '%s' has no 'range'", t->name);
  return KILN_OK;
}

kiln_status kiln_profile_read(kiln_ctx *ctx, const char *path, kiln_calib_profile *out) {
  memset(out, 0, sizeof *out);
  reader r = {.ctx = ctx, .path = path};
  kiln_status st = kiln_yaml_load(ctx, path, "calibration profile", &r.doc);
  if (st) return st;
  yaml_node_t *root = yaml_document_get_root_node(&r.doc);
  if (!root || root->type != YAML_MAPPING_NODE) {
    st = fail(&r, root, "not a calibration profile (expected a map with version, method, "
              "samples and tensors)");
    goto done;
  }
  bool have_version = false, have_tensors = false, have_method = false;
  out->percentile = 99.99;
  out->source = path;
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top && !st;
       q++) {
    yaml_node_t *kn = node(&r, q->key), *vn = node(&r, q->value);
    const char *k = scalar(kn);
    long long v;
    if (!k) {
      st = fail(&r, kn, "keys must be plain words");
    } else if (!strcmp(k, "version")) {
      if (!(st = integer(&r, k, vn, 0, 1 << 30, &v)) && v != KILN_PROFILE_VERSION)
        st = fail(&r, vn, "profile version %lld; this kiln reads version %d", v,
                  KILN_PROFILE_VERSION);
      out->version = (int)v;
      have_version = true;
    } else if (!strcmp(k, "model")) {
      if (!scalar(vn)) st = fail(&r, vn, "'model' must be a name");
      else out->model = kiln_strdup(ctx, scalar(vn));
    } else if (!strcmp(k, "method")) {
      kiln_options o;
      kiln_options_init(&o);
      const char *s = scalar(vn);
      if (!s || strchr(s, ':') || kiln_calib_parse_method(ctx, s, &o))
        st = fail(&r, vn, "'method' must be minmax, percentile, entropy or mse");
      out->method = o.calib_method;
      have_method = true;
    } else if (!strcmp(k, "percentile")) {
      if (!(st = number(&r, k, vn, &out->percentile)) &&
          !(out->percentile > 50 && out->percentile <= 100))
        st = fail(&r, vn, "'percentile' must be in (50, 100]");
    } else if (!strcmp(k, "samples")) {
      st = integer(&r, k, vn, 1, 1 << 30, &v);
      out->samples = (int)v;
    } else if (!strcmp(k, "tensors")) {
      if (vn->type != YAML_SEQUENCE_NODE) {
        st = fail(&r, vn, "'tensors' must be a list of entries");
        break;
      }
      have_tensors = true;
      int n = (int)(vn->data.sequence.items.top - vn->data.sequence.items.start);
      out->tensors = kiln_calloc(ctx, (size_t)n + 1, sizeof *out->tensors);
      for (int i = 0; i < n && !st; i++) {
        st = read_tensor(&r, node(&r, vn->data.sequence.items.start[i]), &out->tensors[i]);
        out->count = i + 1;
        for (int j = 0; j < i && !st; j++)
          if (!strcmp(out->tensors[j].name, out->tensors[i].name))
            st = fail(&r, node(&r, vn->data.sequence.items.start[i]), "tensor '%s' is listed twice",
                      out->tensors[i].name);
      }
    } else {
      st = fail(&r, kn, "unknown key '%s' (expected version, model, method, percentile, samples, "
                "tensors)", k);
    }
  }
  if (!st && !have_version) st = fail(&r, root, "no 'version' key: is this a kiln calibration profile?");
  if (!st && !have_method) st = fail(&r, root, "no 'method' key");
  if (!st && !have_tensors) st = fail(&r, root, "no 'tensors' list (a truncated file?)");
done:
  yaml_document_delete(&r.doc);
  if (st) kiln_profile_free(ctx, out);
  return st;
}
