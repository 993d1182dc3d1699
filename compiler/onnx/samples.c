/*
 * samples.c — reading a folder of sample inputs (format in samples.h).
 *
 * The listing is sorted by name so every run sees the samples in the same
 * order (readdir's order is the file system's), which keeps calibration
 * profiles reproducible.  Each entry is classified once: a regular file
 * ending in .npy or .pb is a sample of a one-input model; a folder is a
 * sample holding one file per input.  Per input, a folder may name the
 * file after the input (NAME.npy, NAME.pb) or after its position
 * (input_K.pb, input_K.npy, as the ONNX backend test data does); the
 * first that exists wins.
 */
#include "samples.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void kiln_format_type(char *buf, size_t size, ir_dtype dt, int rank, const int64_t *dims) {
  int k = snprintf(buf, size, "%s[", ir_dtype_name(dt));
  for (int d = 0; d < rank && k > 0 && (size_t)k < size; d++) {
    if (dims[d] >= 0)
      k += snprintf(buf + k, size - (size_t)k, "%s%lld", d ? "," : "", (long long)dims[d]);
    else
      k += snprintf(buf + k, size - (size_t)k, "%s?", d ? "," : "");
  }
  if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static char *join(kiln_ctx *ctx, const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = kiln_malloc(ctx, n);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file of input k inside sample folder `sub`, or NULL. */
static char *input_file(kiln_ctx *ctx, const char *sub, const char *name, int k) {
  char buf[64];
  const char *suffixes[] = {".npy", ".pb"};
  for (int i = 0; i < 2; i++) {
    size_t n = strlen(name) + 8;
    char *f = kiln_malloc(ctx, n);
    snprintf(f, n, "%s%s", name, suffixes[i]);
    char *p = join(ctx, sub, f);
    kiln_free(ctx, f);
    if (is_file(p)) return p;
    kiln_free(ctx, p);
  }
  for (int i = 0; i < 2; i++) {
    snprintf(buf, sizeof buf, "input_%d%s", k, i ? ".npy" : ".pb");
    char *p = join(ctx, sub, buf);
    if (is_file(p)) return p;
    kiln_free(ctx, p);
  }
  return NULL;
}

kiln_status kiln_samples_open(kiln_ctx *ctx, const char *dir, const ir_graph *g,
                              kiln_samples *out) {
  memset(out, 0, sizeof *out);
  out->ctx = ctx;
  out->g = g;
  DIR *d = opendir(dir);
  if (!d) {
    kiln_error(ctx, "calibration data folder '%s': %s", dir, strerror(errno));
    return KILN_ERR_IO;
  }
  int n = 0, cap = 0;
  char **names = NULL;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) names = kiln_realloc(ctx, names, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *names);
    names[n++] = kiln_strdup(ctx, e->d_name);
  }
  closedir(d);
  if (n) qsort(names, (size_t)n, sizeof *names, by_name);

  int ni = g->num_inputs;
  kiln_status st = KILN_OK;
  out->dir = kiln_strdup(ctx, dir);
  for (int i = 0; i < n && !st; i++) {
    char *p = join(ctx, dir, names[i]);
    struct stat sb;
    bool folder = stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
    bool tensor = !folder && (ends_with(names[i], ".npy") || ends_with(names[i], ".pb"));
    if (!folder && !tensor) {
      kiln_free(ctx, p);
      continue;
    }
    if (tensor && ni != 1) {
      kiln_error(ctx, "calibration data '%s': the model has %d inputs, so each sample must be a "
                 "folder holding one file per input (NAME.npy or input_K.pb)", p, ni);
      st = KILN_ERR_INVALID_ARGUMENT;
      kiln_free(ctx, p);
      break;
    }
    out->paths = kiln_realloc(ctx, out->paths, (size_t)(out->count + 1) * (size_t)ni * sizeof *out->paths);
    char **row = out->paths + (size_t)out->count * (size_t)ni;
    if (tensor) {
      row[0] = p;
    } else {
      for (int k = 0; k < ni; k++) {
        const char *in = g->values[g->inputs[k]].name;
        row[k] = input_file(ctx, p, in, k);
        if (!row[k]) {
          kiln_error(ctx, "calibration sample '%s' has no file for input '%s' (expected %s.npy, "
                     "%s.pb or input_%d.pb)", p, in, in, in, k);
          st = KILN_ERR_INVALID_ARGUMENT;
          for (int j = 0; j < k; j++) kiln_free(ctx, row[j]);
          break;
        }
      }
      kiln_free(ctx, p);
      if (st) break;
    }
    out->count++;
  }
  for (int i = 0; i < n; i++) kiln_free(ctx, names[i]);
  kiln_free(ctx, names);
  if (!st && out->count == 0) {
    kiln_error(ctx, "calibration data folder '%s' holds no samples (expected NNN.npy or NNN.pb "
               "files, or one subfolder per sample)", dir);
    st = KILN_ERR_INVALID_ARGUMENT;
  }
  if (st) kiln_samples_close(out);
  return st;
}

kiln_status kiln_samples_load(kiln_samples *s, int i, kiln_host_tensor *t) {
  const ir_graph *g = s->g;
  int ni = g->num_inputs;
  memset(t, 0, (size_t)ni * sizeof *t);
  kiln_status st = KILN_OK;
  for (int k = 0; k < ni && !st; k++) {
    const char *path = s->paths[(size_t)i * (size_t)ni + (size_t)k];
    const char *saved = s->ctx->file;
    st = kiln_tensor_read(s->ctx, path, &t[k]);
    s->ctx->file = saved;
    if (st) break;
    const ir_value *v = &g->values[g->inputs[k]];
    bool same = t[k].dtype == v->dtype && t[k].rank == v->shape.rank;
    for (int d = 0; same && d < v->shape.rank; d++)
      same = !ir_dim_is_static(v->shape.dims[d]) || v->shape.dims[d] == t[k].dims[d];
    if (!same) {
      char got[256], want[256];
      kiln_format_type(got, sizeof got, t[k].dtype, t[k].rank, t[k].dims);
      kiln_format_type(want, sizeof want, v->dtype, v->shape.rank, v->shape.dims);
      kiln_error(s->ctx, "calibration sample '%s' for input '%s' is %s; the model takes %s", path,
                 v->name, got, want);
      st = KILN_ERR_INVALID_ARGUMENT;
    }
  }
  if (st)
    for (int k = 0; k < ni; k++) kiln_tensor_free(s->ctx, &t[k]);
  return st;
}

void kiln_samples_close(kiln_samples *s) {
  if (s->paths)
    for (size_t k = 0; k < (size_t)s->count * (size_t)s->g->num_inputs; k++)
      kiln_free(s->ctx, s->paths[k]);
  kiln_free(s->ctx, s->paths);
  kiln_free(s->ctx, s->dir);
  memset(s, 0, sizeof *s);
}
