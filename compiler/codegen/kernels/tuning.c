/*
 * tuning.c — the tuning database in YAML (schema: docs/tuning.md), and the
 * kernel signature that keys it.
 *
 * Written with fprintf in a fixed key order, so a file diffs well and
 * reads well; read with libyaml's document API through yaml_util, so each
 * complaint names its line.  The `count` key is written after the records:
 * a file cut short anywhere loses it (or breaks the YAML), so truncation
 * is always reported rather than read as a smaller database.
 */
#include "kernels/tuning.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/schedule.h"
#include "ops.h"
#include "yaml_util.h"

/* ---- the database in memory -------------------------------------------------------- */
static bool same_key(const cg_tuning_record *a, const char *target, const char *cpu,
                     const char *features, int threads, const char *kernel) {
  return a->threads == threads && !strcmp(a->target, target) && !strcmp(a->cpu, cpu) &&
         !strcmp(a->features, features) && !strcmp(a->kernel, kernel);
}

const cg_tuning_record *cg_tuning_find(const cg_tuning_db *db, const char *target, const char *cpu,
                                       const char *features, int threads, const char *kernel) {
  for (int i = 0; i < db->count; i++)
    if (same_key(&db->records[i], target, cpu, features, threads, kernel)) return &db->records[i];
  return NULL;
}

bool cg_tuning_has_cpu(const cg_tuning_db *db, const char *target, const char *cpu,
                       const char *features) {
  for (int i = 0; i < db->count; i++) {
    const cg_tuning_record *r = &db->records[i];
    if (!strcmp(r->target, target) && !strcmp(r->cpu, cpu) && !strcmp(r->features, features))
      return true;
  }
  return false;
}

static void record_free(kiln_ctx *ctx, cg_tuning_record *r) {
  kiln_free(ctx, r->target);
  kiln_free(ctx, r->cpu);
  kiln_free(ctx, r->features);
  kiln_free(ctx, r->kernel);
  kiln_free(ctx, r->schedule);
  kiln_free(ctx, r->kiln);
}

static void record_copy(kiln_ctx *ctx, cg_tuning_record *dst, const cg_tuning_record *src) {
  *dst = *src;
  dst->target = kiln_strdup(ctx, src->target);
  dst->cpu = kiln_strdup(ctx, src->cpu);
  dst->features = kiln_strdup(ctx, src->features);
  dst->kernel = kiln_strdup(ctx, src->kernel);
  dst->schedule = kiln_strdup(ctx, src->schedule);
  dst->kiln = kiln_strdup(ctx, src->kiln);
}

bool cg_tuning_put(kiln_ctx *ctx, cg_tuning_db *db, const cg_tuning_record *r) {
  cg_tuning_record *old = (cg_tuning_record *)cg_tuning_find(db, r->target, r->cpu, r->features,
                                                             r->threads, r->kernel);
  if (old) {
    if (!(r->time_us < old->time_us)) return false;
    record_free(ctx, old);
    record_copy(ctx, old, r);
    return true;
  }
  if (db->count == db->cap) {
    db->cap = db->cap ? 2 * db->cap : 16;
    db->records = kiln_realloc(ctx, db->records, (size_t)db->cap * sizeof *db->records);
  }
  record_copy(ctx, &db->records[db->count++], r);
  return true;
}

void cg_tuning_free(kiln_ctx *ctx, cg_tuning_db *db) {
  for (int i = 0; i < db->count; i++) record_free(ctx, &db->records[i]);
  kiln_free(ctx, db->records);
  memset(db, 0, sizeof *db);
}

/* ---- writing ------------------------------------------------------------------------ */
kiln_status cg_tuning_write(kiln_ctx *ctx, const cg_tuning_db *db, const char *path) {
  bool to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if (!f) {
    kiln_error(ctx, "cannot write the tuning file '%s'", path);
    return KILN_ERR_IO;
  }
  fprintf(f, "# kiln tuning database (schema: docs/tuning.md)\nversion: %d\nrecords:\n",
          CG_TUNING_VERSION);
  for (int i = 0; i < db->count; i++) {
    const cg_tuning_record *r = &db->records[i];
    fprintf(f, "  - target: ");
    kiln_yaml_put_string(f, r->target);
    fprintf(f, "\n    cpu: ");
    kiln_yaml_put_string(f, r->cpu);
    fprintf(f, "\n    features: ");
    kiln_yaml_put_string(f, r->features);
    fprintf(f, "\n    threads: %d\n    kernel: ", r->threads);
    kiln_yaml_put_string(f, r->kernel);
    fprintf(f, "\n    schedule: ");
    kiln_yaml_put_string(f, r->schedule);
    fprintf(f, "\n    time_us: %.6g\n    default_us: %.6g\n    kiln: ", r->time_us, r->default_us);
    kiln_yaml_put_string(f, r->kiln);
    fputc('\n', f);
  }
  fprintf(f, "count: %d\n", db->count);
  bool bad = ferror(f);
  if (!to_stdout) bad |= fclose(f) != 0;
  if (bad) {
    kiln_error(ctx, "cannot write the tuning file '%s'", path);
    return KILN_ERR_IO;
  }
  return KILN_OK;
}

/* ---- reading ------------------------------------------------------------------------ */
enum { F_TARGET, F_CPU, F_FEATURES, F_THREADS, F_KERNEL, F_SCHEDULE, F_TIME, F_DEFAULT, F_KILN,
       NUM_FIELDS };
static const char *const field_names[NUM_FIELDS] = {
    "target", "cpu", "features", "threads", "kernel", "schedule", "time_us", "default_us", "kiln"};

static kiln_status read_record(kiln_ctx *ctx, const char *path, yaml_document_t *doc,
                               yaml_node_t *n, cg_tuning_record *r) {
  memset(r, 0, sizeof *r); /* freed by the caller on failure too */
  if (n->type != YAML_MAPPING_NODE)
    return kiln_yaml_fail(ctx, path, n, "each entry of 'records' must be a map");
  r->line = (int)n->start_mark.line + 1;
  bool seen[NUM_FIELDS] = {0};
  char **strings[NUM_FIELDS] = {[F_TARGET] = &r->target, [F_CPU] = &r->cpu,
                                [F_FEATURES] = &r->features, [F_KERNEL] = &r->kernel,
                                [F_SCHEDULE] = &r->schedule, [F_KILN] = &r->kiln};
  for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
    yaml_node_t *kn = yaml_document_get_node(doc, q->key), *vn = yaml_document_get_node(doc, q->value);
    const char *k = kiln_yaml_scalar(kn);
    int f = 0;
    while (f < NUM_FIELDS && (!k || strcmp(k, field_names[f]))) f++;
    if (f == NUM_FIELDS)
      return kiln_yaml_fail(ctx, path, kn,
                            "unknown key '%s' in a record (keys: target, cpu, features, threads, "
                            "kernel, schedule, time_us, default_us, kiln)",
                            k ? k : "(not a scalar)");
    if (seen[f]) return kiln_yaml_fail(ctx, path, kn, "'%s' given twice in one record", k);
    seen[f] = true;
    kiln_status st;
    if (strings[f]) {
      const char *s = kiln_yaml_scalar(vn);
      if (!s || (f != F_FEATURES && !*s))
        return kiln_yaml_fail(ctx, path, vn, "'%s' must be a %sstring", k,
                              f == F_FEATURES ? "" : "non-empty ");
      *strings[f] = kiln_strdup(ctx, s);
      if (f == F_SCHEDULE) {
        cg_schedule sc = {0};
        if (!cg_schedule_parse(s, &sc) || !sc.mr || !sc.nr || !sc.kc || !sc.mc || !sc.nc ||
            !sc.lanes || !sc.unroll)
          return kiln_yaml_fail(ctx, path, vn,
                                "'schedule' must name every field (mr=.. nr=.. kc=.. mc=.. nc=.. "
                                "lanes=.. unroll=.. par=mn|n|none), not '%s'", s);
      }
    } else if (f == F_THREADS) {
      long long t;
      if ((st = kiln_yaml_int(ctx, path, k, vn, 1, 256, &t))) return st;
      r->threads = (int)t;
    } else {
      double *x = f == F_TIME ? &r->time_us : &r->default_us;
      if ((st = kiln_yaml_number(ctx, path, k, vn, x))) return st;
      if (!(*x > 0)) return kiln_yaml_fail(ctx, path, vn, "'%s' must be a positive time", k);
    }
  }
  for (int f = 0; f < NUM_FIELDS; f++)
    if (!seen[f])
      return kiln_yaml_fail(ctx, path, n, "record is missing '%s' (truncated file?)",
                            field_names[f]);
  return KILN_OK;
}

kiln_status cg_tuning_read(kiln_ctx *ctx, const char *path, cg_tuning_db *db) {
  memset(db, 0, sizeof *db);
  yaml_document_t doc;
  kiln_status st = kiln_yaml_load(ctx, path, "tuning file", &doc);
  if (st) return st;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  yaml_node_t *records = NULL, *count_node = NULL;
  long long version = -1, count = -1;
  if (!root || root->type != YAML_MAPPING_NODE) {
    st = kiln_yaml_fail(ctx, path, root,
                        "not a tuning file (expected a map with version, records and count)");
    goto done;
  }
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top && !st;
       q++) {
    yaml_node_t *kn = yaml_document_get_node(&doc, q->key), *vn = yaml_document_get_node(&doc, q->value);
    const char *k = kiln_yaml_scalar(kn);
    if (k && !strcmp(k, "version")) {
      if ((st = kiln_yaml_int(ctx, path, k, vn, 0, 1 << 30, &version))) break;
      if (version != CG_TUNING_VERSION)
        st = kiln_yaml_fail(ctx, path, vn, "unsupported version %lld (this kiln reads version %d)",
                            version, CG_TUNING_VERSION);
    } else if (k && !strcmp(k, "records")) {
      records = vn;
      if (vn->type != YAML_SEQUENCE_NODE &&
          !(vn->type == YAML_SCALAR_NODE && !*kiln_yaml_scalar(vn)))
        st = kiln_yaml_fail(ctx, path, vn, "'records' must be a list of records");
    } else if (k && !strcmp(k, "count")) {
      count_node = vn;
      st = kiln_yaml_int(ctx, path, k, vn, 0, 1 << 30, &count);
    } else {
      st = kiln_yaml_fail(ctx, path, kn, "unknown key '%s' (keys: version, records, count)",
                          k ? k : "(not a scalar)");
    }
  }
  if (st) goto done;
  if (version < 0) {
    st = kiln_yaml_fail(ctx, path, root, "missing 'version' (this kiln reads version %d)",
                        CG_TUNING_VERSION);
    goto done;
  }
  int read = 0;
  if (records && records->type == YAML_SEQUENCE_NODE)
    for (yaml_node_item_t *i = records->data.sequence.items.start;
         i < records->data.sequence.items.top; i++) {
      cg_tuning_record r;
      st = read_record(ctx, path, &doc, yaml_document_get_node(&doc, *i), &r);
      if (!st) cg_tuning_put(ctx, db, &r), read++;
      record_free(ctx, &r);
      if (st) goto done;
    }
  if (count < 0) {
    st = kiln_yaml_fail(ctx, path, NULL,
                        "line %zu: no 'count' after the records: the file is truncated",
                        root->end_mark.line + 1);
  } else if (count != read) {
    st = kiln_yaml_fail(ctx, path, count_node, "'count' is %lld but %d records were read "
                        "(truncated or edited file?)", count, read);
  }
done:
  if (st) cg_tuning_free(ctx, db);
  yaml_document_delete(&doc);
  return st;
}

int cg_tuning_threads(int threads) {
  if (threads > 0) return threads;
  const char *env = getenv("KILN_NUM_THREADS");
  if (env && *env) {
    char *end;
    long t = strtol(env, &end, 10);
    if (!*end && t > 0) return t > 256 ? 256 : (int)t;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* ---- the kernel signature ------------------------------------------------------------ */
typedef struct sbuf {
  char *p;
  size_t n, size;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
static void put(sbuf *b, const char *fmt, ...) {
  if (b->n >= b->size) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b->p + b->n, b->size - b->n, fmt, ap);
  va_end(ap);
  if (k > 0) b->n += (size_t)k;
}

static void put_value(sbuf *b, const ir_graph *g, ir_value_id v) {
  if (v < 0) {
    put(b, " -");
    return;
  }
  const ir_value *x = &g->values[v];
  put(b, " %s[", ir_dtype_name(x->dtype));
  for (int d = 0; d < x->shape.rank; d++) put(b, "%s%lld", d ? "," : "", (long long)x->shape.dims[d]);
  put(b, "]");
  if (x->layout.kind == IR_LAYOUT_BLOCKED) put(b, ":blocked%d", (int)x->layout.block);
  if (x->storage == IR_STORAGE_CONST) put(b, ":const");
}

char *cg_kernel_signature(const ir_graph *g, ir_node_id n, cg_conv_algo algo, char *buf, size_t size) {
  sbuf b = {buf, 0, size};
  buf[0] = 0;
  const ir_node *nd = &g->nodes[n];
  /* the algorithm after the op: a convolution whose activations are plain
   * may run on the GEMM kernel (--conv-layout plain) or on the direct one
   * (cg_nchwc_plain_pays), and their schedules mean different things.
   * The GEMM kernel's signature has no suffix, as before there were others. */
  put(&b, "%s%s", ir_ops[nd->op].name,
      algo == CG_CONV_DIRECT ? "/direct" : algo == CG_CONV_DEPTHWISE ? "/depthwise" : "");
  for (int i = 0; i < nd->num_inputs; i++) put_value(&b, g, nd->inputs[i]);
  put(&b, " ->");
  for (int i = 0; i < nd->num_outputs; i++) put_value(&b, g, nd->outputs[i]);
  for (int a = 0; a < nd->num_attrs; a++) {
    const ir_attr *at = &nd->attrs[a];
    if (!strcmp(at->name, "schedule")) continue;
    put(&b, " %s=", at->name);
    switch (at->kind) {
    case IR_ATTR_INT: put(&b, "%lld", (long long)at->i); break;
    case IR_ATTR_FLOAT: put(&b, "%.9g", (double)at->f); break;
    case IR_ATTR_STRING: put(&b, "%s", at->s); break;
    case IR_ATTR_INTS:
      for (int i = 0; i < at->count; i++) put(&b, "%s%lld", i ? "," : "", (long long)at->ints[i]);
      break;
    case IR_ATTR_FLOATS:
      for (int i = 0; i < at->count; i++) put(&b, "%s%.9g", i ? "," : "", (double)at->floats[i]);
      break;
    case IR_ATTR_STRINGS:
      for (int i = 0; i < at->count; i++) put(&b, "%s%s", i ? "," : "", at->strings[i]);
      break;
    default: put(&b, "(kind %d)", (int)at->kind); break;
    }
  }
  return buf;
}
