/*
 * target.c — reads target descriptions (targets/<isa>/target.yaml) with
 * libyaml, and finds the one a triple names.
 *
 * The YAML is loaded as a document (libyaml's node graph) and walked
 * against a table of keys: each row names a key, its type and where it
 * goes in tgt_desc.  The schema is strict on purpose: an unknown key is
 * an error (a typo must not silently leave a default in place), every key
 * but `vector_features` is required, and the `version` key is checked
 * before anything else, so a description written for a newer kiln is
 * refused with a message about the version rather than about some key
 * this kiln does not know.  Errors name the source and the line:
 *
 *     kiln: error: riscv64/target.yaml: line 9: 'vector_bits' must be an integer
 *
 * The descriptions built into kiln come from tgt_embedded.c, which
 * tools/embed.c writes at build time from the YAML files.
 */
#include "targets/target.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "blobs.h"

/* ---- the schema ------------------------------------------------------------- */
typedef enum {
  F_INT,        /* int */
  F_UINT,       /* unsigned, decimal or 0x hex */
  F_BOOL,       /* true / false */
  F_STRING,     /* char[TGT_NAME_MAX] */
  F_LIST,       /* char[TGT_LIST_MAX][TGT_NAME_MAX] + count */
  F_FEATURES,   /* a list of LLVM features, joined into char[TGT_FEATURES_MAX] */
  F_VECTOR_MAP, /* {feature: bits} into tgt_vector_feature[] + count */
} field_type;

typedef struct field {
  const char *key;
  field_type type;
  size_t offset;       /* of the value in tgt_desc */
  size_t count_offset; /* of the entry count, for lists and maps */
  bool required;
} field;

#define AT(m) offsetof(tgt_desc, m)
static const field fields[] = {
    {"version", F_INT, AT(version), 0, true},
    {"isa", F_STRING, AT(isa), 0, true},
    {"triple", F_STRING, AT(triple), 0, true},
    {"aliases", F_LIST, AT(aliases), AT(num_aliases), true},
    {"elf_machine", F_UINT, AT(elf_machine), 0, true},
    {"elf_flags_mask", F_UINT, AT(elf_flags_mask), 0, true},
    {"cpu", F_STRING, AT(cpu), 0, true},
    {"features", F_FEATURES, AT(features), 0, true},
    {"vector_bits", F_INT, AT(vector_bits), 0, true},
    {"vector_features", F_VECTOR_MAP, AT(vector_features), AT(num_vector_features), false},
    {"vector_registers", F_INT, AT(vector_registers), 0, true},
    {"register_features", F_VECTOR_MAP, AT(register_features), AT(num_register_features), false},
    {"sign_extend_i32", F_BOOL, AT(sign_extend_i32), 0, true},
    {"cross_cc", F_STRING, AT(cross_cc), 0, true},
    {"qemu", F_STRING, AT(qemu), 0, true},
    {"packages", F_LIST, AT(packages), AT(num_packages), true},
};
#undef AT
enum { NUM_FIELDS = sizeof fields / sizeof fields[0] };

/* ---- errors -------------------------------------------------------------------- */
typedef struct parse_state {
  kiln_ctx *ctx;
  const char *source;
  yaml_document_t *doc;
} parse_state;

/* Reports "SOURCE: line N: what" and returns KILN_ERR_INVALID_ARGUMENT. */
static kiln_status KILN_PRINTF(3, 4)
    fail(parse_state *p, const yaml_node_t *at, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *saved = p->ctx->file;
  p->ctx->file = p->source;
  if (at)
    kiln_error(p->ctx, "line %zu: %s", at->start_mark.line + 1, msg);
  else
    kiln_error(p->ctx, "%s", msg);
  p->ctx->file = saved;
  return KILN_ERR_INVALID_ARGUMENT;
}

/* ---- values ---------------------------------------------------------------------- */
static const char *scalar(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static kiln_status get_int(parse_state *p, const char *key, const yaml_node_t *n, long long lo,
                           long long hi, long long *out) {
  const char *s = scalar(n);
  char *end = NULL;
  errno = 0;
  long long v = s && *s ? strtoll(s, &end, 0) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi)
    return fail(p, n, "'%s' must be an integer in [%lld, %lld]", key, lo, hi);
  *out = v;
  return KILN_OK;
}

static kiln_status get_string(parse_state *p, const char *key, const yaml_node_t *n, char *out,
                              size_t size) {
  const char *s = scalar(n);
  if (!s || !*s) return fail(p, n, "'%s' must be a non-empty string", key);
  if (strlen(s) >= size) return fail(p, n, "'%s' is longer than %zu bytes", key, size - 1);
  if (strpbrk(s, " \t\n,")) return fail(p, n, "'%s' must not contain spaces or commas", key);
  memcpy(out, s, strlen(s) + 1);
  return KILN_OK;
}

/* Checks that n is a sequence of at most TGT_LIST_MAX scalars. */
static kiln_status check_list(parse_state *p, const char *key, const yaml_node_t *n) {
  if (n->type != YAML_SEQUENCE_NODE) return fail(p, n, "'%s' must be a list ([a, b])", key);
  long count = n->data.sequence.items.top - n->data.sequence.items.start;
  if (count > TGT_LIST_MAX) return fail(p, n, "'%s' has more than %d entries", key, TGT_LIST_MAX);
  return KILN_OK;
}

static kiln_status get_value(parse_state *p, const field *f, const yaml_node_t *n, tgt_desc *d) {
  char *at = (char *)d + f->offset;
  int *count = (int *)((char *)d + f->count_offset);
  long long v;
  kiln_status st = KILN_OK;
  switch (f->type) {
  case F_INT:
    if (!(st = get_int(p, f->key, n, 0, 1 << 20, &v))) *(int *)at = (int)v;
    return st;
  case F_UINT:
    if (!(st = get_int(p, f->key, n, 0, UINT32_MAX, &v))) *(unsigned *)at = (unsigned)v;
    return st;
  case F_BOOL: {
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "false"))) {
      *(bool *)at = s[0] == 't';
      return KILN_OK;
    }
    return fail(p, n, "'%s' must be true or false", f->key);
  }
  case F_STRING: return get_string(p, f->key, n, at, TGT_NAME_MAX);
  case F_LIST:
    if ((st = check_list(p, f->key, n))) return st;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
      char(*list)[TGT_NAME_MAX] = (char(*)[TGT_NAME_MAX])at;
      if ((st = get_string(p, f->key, yaml_document_get_node(p->doc, *i), list[*count],
                           TGT_NAME_MAX)))
        return st;
      ++*count;
    }
    return KILN_OK;
  case F_FEATURES: {
    if ((st = check_list(p, f->key, n))) return st;
    size_t len = 0;
    at[0] = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
      const yaml_node_t *e = yaml_document_get_node(p->doc, *i);
      char feat[TGT_NAME_MAX];
      if ((st = get_string(p, f->key, e, feat, sizeof feat))) return st;
      if (feat[0] != '+' && feat[0] != '-')
        return fail(p, e, "feature '%s' must start with + or -", feat);
      if (len + strlen(feat) + 2 > TGT_FEATURES_MAX)
        return fail(p, e, "'%s' is longer than %d bytes", f->key, TGT_FEATURES_MAX - 1);
      len += (size_t)snprintf(at + len, TGT_FEATURES_MAX - len, "%s%s", len ? "," : "", feat);
    }
    return KILN_OK;
  }
  case F_VECTOR_MAP: {
    if (n->type != YAML_MAPPING_NODE)
      return fail(p, n, "'%s' must be a map ({+feature: bits})", f->key);
    tgt_vector_feature *vf = (tgt_vector_feature *)at;
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
      const yaml_node_t *k = yaml_document_get_node(p->doc, q->key);
      if (*count == TGT_LIST_MAX)
        return fail(p, k, "'%s' has more than %d entries", f->key, TGT_LIST_MAX);
      if ((st = get_string(p, f->key, k, vf[*count].feature, TGT_NAME_MAX))) return st;
      if ((st = get_int(p, f->key, yaml_document_get_node(p->doc, q->value), 8, 1 << 16, &v)))
        return st;
      vf[(*count)++].bits = (int)v;
    }
    return KILN_OK;
  }
  }
  return KILN_OK;
}

/* The pair of the root mapping whose key is `key`, or NULL. */
static yaml_node_pair_t *find_pair(yaml_document_t *doc, yaml_node_t *root, const char *key) {
  yaml_node_pair_t *end = root->data.mapping.pairs.top;
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < end; q++) {
    const char *k = scalar(yaml_document_get_node(doc, q->key));
    if (k && !strcmp(k, key)) return q;
  }
  return NULL;
}

/* Consistency checks the types alone do not give. */
static kiln_status check_desc(parse_state *p, yaml_node_t *root, const tgt_desc *d) {
  size_t len = strcspn(d->triple, "-");
  if (len != strlen(d->isa) || strncmp(d->triple, d->isa, len) || !d->triple[len])
    return fail(p, root, "'triple' (%s) must be a full triple starting with the isa (%s-)",
                d->triple, d->isa);
  if (!d->num_aliases) return fail(p, root, "'aliases' must name at least one arch");
  if (d->vector_bits % 8) return fail(p, root, "'vector_bits' must be a multiple of 8");
  if (!d->elf_machine || d->elf_machine > 0xffff)
    return fail(p, root, "'elf_machine' must be an ELF e_machine number (1..65535)");
  return KILN_OK;
}

kiln_status tgt_parse(kiln_ctx *ctx, const char *source, const void *text, size_t size,
                      tgt_desc *out) {
  memset(out, 0, sizeof *out);
  yaml_parser_t parser;
  yaml_document_t doc;
  parse_state p = {.ctx = ctx, .source = source, .doc = &doc};
  if (!yaml_parser_initialize(&parser)) return fail(&p, NULL, "cannot start the YAML parser");
  yaml_parser_set_input_string(&parser, text, size);
  if (!yaml_parser_load(&parser, &doc)) {
    kiln_status st = fail(&p, NULL, "line %zu, column %zu: %s%s%s", parser.problem_mark.line + 1,
                          parser.problem_mark.column + 1,
                          parser.problem ? parser.problem : "malformed YAML",
                          parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return st;
  }
  yaml_parser_delete(&parser);

  kiln_status st = KILN_OK;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  bool seen[NUM_FIELDS] = {0};
  if (!root) {
    st = fail(&p, NULL, "empty target description");
    goto done;
  }
  if (root->type != YAML_MAPPING_NODE) {
    st = fail(&p, root, "a target description is a map of keys (version: 1, isa: ...)");
    goto done;
  }
  /* the version first: a newer schema may have keys this kiln lacks */
  yaml_node_pair_t *vp = find_pair(&doc, root, "version");
  if (!vp) {
    st = fail(&p, root, "missing 'version' (this kiln reads version %d)", TGT_VERSION);
    goto done;
  }
  if ((st = get_value(&p, &fields[0], yaml_document_get_node(&doc, vp->value), out))) goto done;
  if (out->version != TGT_VERSION) {
    st = fail(&p, yaml_document_get_node(&doc, vp->value),
              "unsupported version %d (this kiln reads version %d)", out->version, TGT_VERSION);
    goto done;
  }
  yaml_node_pair_t *end = root->data.mapping.pairs.top;
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < end; q++) {
    yaml_node_t *k = yaml_document_get_node(&doc, q->key);
    const char *key = scalar(k);
    int f = 0;
    while (f < NUM_FIELDS && !(key && !strcmp(key, fields[f].key))) f++;
    if (f == NUM_FIELDS) {
      st = fail(&p, k, "unknown key '%s'", key ? key : "(not a string)");
      goto done;
    }
    if (seen[f]) {
      st = fail(&p, k, "'%s' appears twice", key);
      goto done;
    }
    seen[f] = true;
    if (f && (st = get_value(&p, &fields[f], yaml_document_get_node(&doc, q->value), out)))
      goto done;
  }
  for (int f = 0; f < NUM_FIELDS; f++)
    if (fields[f].required && !seen[f]) {
      st = fail(&p, root, "missing '%s'", fields[f].key);
      goto done;
    }
  st = check_desc(&p, root, out);
done:
  yaml_document_delete(&doc);
  return st;
}

kiln_status tgt_load_file(kiln_ctx *ctx, const char *path, tgt_desc *out) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    kiln_error(ctx, "cannot open target description %s: %s", path, strerror(errno));
    return KILN_ERR_IO;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  do {
    if (len == cap) buf = kiln_realloc(ctx, buf, cap = cap ? 2 * cap : 4096);
    n = fread(buf + len, 1, cap - len, f);
    len += n;
  } while (n > 0 && len < (1u << 20));
  bool bad = ferror(f) || len >= (1u << 20);
  fclose(f);
  kiln_status st = KILN_OK;
  if (bad) {
    kiln_error(ctx, "cannot read target description %s (or larger than 1 MiB)", path);
    st = KILN_ERR_IO;
  } else {
    st = tgt_parse(ctx, path, buf, len, out);
  }
  kiln_free(ctx, buf);
  return st;
}

/* ---- the built-in descriptions ------------------------------------------------------ */
/* tgt_embedded.c, written by tools/embed.c */
extern const cg_blob tgt_builtin_files[];
extern const int tgt_builtin_files_count;

int tgt_builtin_count(void) { return tgt_builtin_files_count; }

const char *tgt_builtin_name(int i) { return tgt_builtin_files[i].name; }

kiln_status tgt_builtin(kiln_ctx *ctx, int i, tgt_desc *out) {
  const cg_blob *b = &tgt_builtin_files[i];
  return tgt_parse(ctx, b->name, b->data, b->size, out);
}

bool tgt_match(kiln_ctx *ctx, const char *triple, tgt_desc *out, char *canon, size_t canon_size) {
  size_t len = strcspn(triple, "-");
  for (int i = 0; i < tgt_builtin_count(); i++) {
    /* a broken builtin is a build problem: it is reported, the search goes on */
    if (tgt_builtin(ctx, i, out)) continue;
    for (int a = 0; a < out->num_aliases; a++) {
      if (strlen(out->aliases[a]) != len || strncmp(out->aliases[a], triple, len)) continue;
      if (!triple[len])
        snprintf(canon, canon_size, "%s", out->triple);
      else
        snprintf(canon, canon_size, "%s%s", out->isa, triple + len);
      return true;
    }
  }
  memset(out, 0, sizeof *out);
  return false;
}

kiln_status tgt_find(kiln_ctx *ctx, const char *triple, tgt_desc *out, char *canon,
                     size_t canon_size) {
  if (tgt_match(ctx, triple, out, canon, canon_size)) return KILN_OK;
  char known[512] = "";
  size_t kn = 0;
  for (int i = 0; i < tgt_builtin_count() && kn < sizeof known; i++)
    if (!tgt_builtin(ctx, i, out))
      kn += (size_t)snprintf(known + kn, sizeof known - kn, "%s%s", kn ? ", " : "", out->isa);
  memset(out, 0, sizeof *out);
  kiln_error(ctx, "unknown target '%s': kiln has no description of the ISA '%.*s' (it knows %s;"
             " see docs/targets.md)", triple, (int)strcspn(triple, "-"), triple,
             kn ? known : "none");
  return KILN_ERR_INVALID_ARGUMENT;
}

/* True if the comma-separated LLVM feature list enables `feature` ("+avx"):
 * the last mention wins, as in LLVM. */
static bool has_feature(const char *features, const char *feature) {
  bool on = false;
  const char *name = feature + (feature[0] == '+' || feature[0] == '-');
  size_t n = strlen(name);
  for (const char *f = features; f && *f;) {
    size_t len = strcspn(f, ",");
    if ((f[0] == '+' || f[0] == '-') && len == n + 1 && !strncmp(f + 1, name, n)) on = f[0] == '+';
    f += len + (f[len] == ',');
  }
  return on;
}

int tgt_vector_bits(const tgt_desc *d, const char *features) {
  int bits = d->vector_bits;
  for (int i = 0; i < d->num_vector_features; i++)
    if (d->vector_features[i].bits > bits && has_feature(features, d->vector_features[i].feature))
      bits = d->vector_features[i].bits;
  return bits;
}

int tgt_vector_registers(const tgt_desc *d, const char *features) {
  int regs = d->vector_registers;
  for (int i = 0; i < d->num_register_features; i++)
    if (d->register_features[i].bits > regs && has_feature(features, d->register_features[i].feature))
      regs = d->register_features[i].bits;
  return regs;
}
