/*
 * parse.c — reads the text IR (docs/ir.md) back into a graph.
 *
 * A hand-written recursive-descent parser over the tokens of lex.c, one
 * function per grammar rule.  Values are created where the text declares
 * them, so a parsed graph numbers its values in declaration order.  Uses
 * may come before declarations (an out-of-order graph prints that way):
 * a use that does not resolve at once is recorded as a fixup and resolved
 * when the graph's closing brace is reached; what is still unknown then
 * is an error pointing at the use.
 *
 * Error handling: the first error is reported as FILE:LINE:COL and sets
 * ps->failed; every rule returns false and unwinds.  All memory a graph
 * refers to lives in its arena (or, for subgraphs, in graphs attached to
 * it as soon as they are parsed), so a failed parse frees everything with
 * one ir_graph_free plus the parser's own scratch arrays.  Counts are
 * checked against the limits in ctx.h before anything is allocated for
 * them, so hostile text cannot ask for more memory than its own length.
 */
#include <string.h>

#include "ir.h"
#include "parse.h"
#include "text.h"

/* A use of a name not yet declared, patched when the graph ends. */
typedef struct fixup {
  int kind;            /* FIX_* */
  int32_t index, slot; /* node id and slot, or list index */
  const char *name;    /* in the graph arena */
  int line, col;
} fixup;
enum { FIX_NODE_IN, FIX_NODE_OUT, FIX_GRAPH_IN, FIX_GRAPH_OUT };

/* Per-graph state (subgraphs get their own). */
typedef struct gstate {
  ir_graph *g;
  int32_t *map; /* open addressing: name -> value id, -1 empty */
  uint32_t map_cap;
  fixup *fix;
  int32_t nfix, capfix;
  ir_value_id *ins, *outs, *dflt; /* graph inputs, outputs, values whose storage defaults */
  int32_t nins, capins, nouts, capouts, ndflt, capdflt;
  int depth;          /* subgraph nesting */
  bool any_statement; /* `symbols` must come first */
} gstate;

static ir_graph *parse_graph(ir_parser *ps, int depth);

/* ---- the name table ---------------------------------------------------- */
static uint32_t map_find(const gstate *gs, const char *name) {
  uint32_t h = (uint32_t)ir_hash_bytes(name, strlen(name)), mask = gs->map_cap - 1;
  for (uint32_t i = h & mask;; i = (i + 1) & mask)
    if (gs->map[i] < 0 || !strcmp(gs->g->values[gs->map[i]].name, name)) return i;
}

static ir_value_id lookup(const gstate *gs, const char *name) {
  return gs->map_cap ? gs->map[map_find(gs, name)] : IR_NONE;
}

static void map_insert(ir_parser *ps, gstate *gs, ir_value_id v) {
  if ((uint32_t)gs->g->num_values * 2 > gs->map_cap) { /* keep the load under 1/2 */
    uint32_t old_cap = gs->map_cap;
    int32_t *old = gs->map;
    gs->map_cap = old_cap ? old_cap * 2 : 64;
    gs->map = kiln_malloc(ps->ctx, gs->map_cap * sizeof *gs->map);
    memset(gs->map, 0xff, gs->map_cap * sizeof *gs->map);
    for (uint32_t i = 0; i < old_cap; i++)
      if (old[i] >= 0) gs->map[map_find(gs, gs->g->values[old[i]].name)] = old[i];
    kiln_free(ps->ctx, old);
  }
  gs->map[map_find(gs, gs->g->values[v].name)] = v;
}

/* ---- references and declarations -------------------------------------- */
/* Resolves the VALUE token t, or records a fixup and returns IR_NONE. */
static ir_value_id use_value(ir_parser *ps, gstate *gs, const ir_token *t, int kind, int32_t index,
                             int32_t slot) {
  const char *name = ir_lex_name(ps, t);
  if (!name) return IR_NONE;
  ir_value_id v = lookup(gs, name);
  if (v >= 0) return v;
  fixup f = {.kind = kind,
             .index = index,
             .slot = slot,
             .line = t->line,
             .col = t->col,
             .name = ir_arena_strdup(&gs->g->arena, name)};
  IR_PUSH(ps, gs->fix, gs->nfix, gs->capfix, f);
  return IR_NONE;
}

static bool parse_dim(ir_parser *ps, ir_graph *g, int64_t *d) {
  if (ir_lex_is(ps, '?')) {
    *d = IR_DIM_UNKNOWN;
    ir_lex_next(ps);
    return true;
  }
  if (ps->tok.kind == IR_TOK_IDENT || ps->tok.kind == IR_TOK_STRING) {
    const char *s = ir_lex_name(ps, &ps->tok);
    if (!s) return false;
    *d = ir_dim_from_sym(ir_sym(g, s));
    ir_lex_next(ps);
    return true;
  }
  if (ps->tok.kind == IR_TOK_INT) return ir_lex_int(ps, 0, INT64_MAX, d);
  ir_lex_error(ps, "expected a dimension (integer, symbol or '?')");
  return false;
}

/* '[' '*' ']' | '[' [dim {',' dim}] ']' */
static bool parse_shape(ir_parser *ps, ir_graph *g, ir_shape *s) {
  memset(s, 0, sizeof *s);
  if (!ir_lex_expect(ps, '[', "to open a shape")) return false;
  if (ir_lex_is(ps, '*')) {
    ir_lex_next(ps);
    s->rank = -1;
    return ir_lex_expect(ps, ']', "after '*' (unknown rank)");
  }
  while (!ir_lex_is(ps, ']')) {
    if (s->rank && !ir_lex_expect(ps, ',', "between dims")) return false;
    if (s->rank == KILN_MAX_RANK) {
      ir_lex_error(ps, "rank exceeds the limit of %d dims", KILN_MAX_RANK);
      return false;
    }
    if (!parse_dim(ps, g, &s->dims[s->rank++])) return false;
  }
  ir_lex_next(ps);
  return true;
}

/* An enum keyword inside an annotation. */
static bool parse_kind(ir_parser *ps, const char *const *names, int count, const char *what,
                       int *k) {
  *k = ps->tok.kind == IR_TOK_IDENT ? ir_text_lookup(names, count, ps->tok.p, ps->tok.len) : -1;
  if (*k < 0) {
    ir_lex_error(ps, "unknown %s kind", what);
    return false;
  }
  ir_lex_next(ps);
  return true;
}

static bool parse_int32(ir_parser *ps, int32_t *out) {
  int64_t v;
  if (!ir_lex_int(ps, INT32_MIN, INT32_MAX, &v)) return false;
  *out = (int32_t)v;
  return true;
}

/* quant(KIND [, axis N] [, group_size N] [, scales [..]] [, zero_points [..]]) */
static bool parse_quant(ir_parser *ps, gstate *gs, ir_value *v) {
  ir_quant *q = ir_arena_alloc(&gs->g->arena, sizeof *q);
  int k;
  if (!ir_lex_expect(ps, '(', "after quant") || !parse_kind(ps, ir_text_quants, 4, "quant", &k))
    return false;
  q->kind = (ir_quant_kind)k;
  float *sc = NULL;
  int32_t *zp = NULL, nsc = 0, capsc = 0, nzp = 0, capzp = 0;
  bool has_zp = false, ok = true;
  int zp_line = 0, zp_col = 0;
  while (ok && ir_lex_is(ps, ',')) {
    ir_lex_next(ps);
    if (ir_lex_is_ident(ps, "axis") || ir_lex_is_ident(ps, "group_size")) {
      bool axis = ps->tok.p[0] == 'a';
      ir_lex_next(ps);
      ok = parse_int32(ps, axis ? &q->axis : &q->group_size);
    } else if (ir_lex_is_ident(ps, "scales") || ir_lex_is_ident(ps, "zero_points")) {
      bool scales = ps->tok.p[0] == 's';
      if (!scales) {
        has_zp = true;
        zp_line = ps->tok.line;
        zp_col = ps->tok.col;
      }
      ir_lex_next(ps);
      ok = ir_lex_expect(ps, '[', "to open the list");
      while (ok && !ir_lex_is(ps, ']')) {
        if ((scales ? nsc : nzp) && !(ok = ir_lex_expect(ps, ',', "between list elements"))) break;
        if (scales) {
          uint64_t bits;
          uint32_t b32;
          float f;
          if (!(ok = ir_lex_float_bits(ps, IR_F32, &bits))) break;
          b32 = (uint32_t)bits;
          memcpy(&f, &b32, 4);
          IR_PUSH(ps, sc, nsc, capsc, f);
        } else {
          int32_t z;
          if (!(ok = parse_int32(ps, &z))) break;
          IR_PUSH(ps, zp, nzp, capzp, z);
        }
      }
      if (ok) ir_lex_next(ps);
    } else {
      ir_lex_error(ps, "expected axis, group_size, scales or zero_points");
      ok = false;
    }
  }
  if (ok && has_zp && nzp != nsc) {
    ir_lex_error_at(ps, zp_line, zp_col, "quant has %d scales but %d zero points", nsc, nzp);
    ok = false;
  }
  if (ok) {
    q->count = nsc;
    q->scales = ir_arena_dup(&gs->g->arena, sc, (size_t)nsc * sizeof *sc);
    q->zero_points = has_zp ? ir_arena_dup(&gs->g->arena, zp, (size_t)nzp * sizeof *zp) : NULL;
    v->quant = q;
    ok = ir_lex_expect(ps, ')', "to close quant(...)");
  }
  kiln_free(ps->ctx, sc);
  kiln_free(ps->ctx, zp);
  return ok;
}

/* Annotations after a type, in any order, each at most once. */
static bool parse_annotations(ir_parser *ps, gstate *gs, ir_value *v, bool *has_storage) {
  static const char *const keys[] = {"layout", "sparse", "quant", "storage", "offset"};
  bool seen[5] = {0};
  for (;;) {
    int key = ps->tok.kind == IR_TOK_IDENT ? ir_text_lookup(keys, 5, ps->tok.p, ps->tok.len) : -1;
    if (key < 0) return true;
    if (seen[key]) {
      ir_lex_error(ps, "%s given twice", keys[key]);
      return false;
    }
    seen[key] = true;
    ir_lex_next(ps);
    int k;
    bool ok = true;
    switch (key) {
    case 0:
      ok = ir_lex_expect(ps, '(', "after layout") &&
           parse_kind(ps, ir_text_layouts, 3, "layout", &k);
      if (!ok) return false;
      v->layout.kind = (ir_layout_kind)k;
      if (ir_lex_is(ps, ',')) {
        ir_lex_next(ps);
        ok = parse_int32(ps, &v->layout.block);
        if (ok && ir_lex_is(ps, ',')) {
          ir_lex_next(ps);
          ok = parse_int32(ps, &v->layout.block2);
        }
      }
      break;
    case 1:
      ok = ir_lex_expect(ps, '(', "after sparse") &&
           parse_kind(ps, ir_text_sparsity, 4, "sparsity", &k);
      if (!ok) return false;
      v->sparsity.kind = (ir_sparsity_kind)k;
      /* sparse(KIND[, N, M][, density D]) */
      if (ir_lex_is(ps, ',')) {
        ir_lex_next(ps);
        if (!ir_lex_is_ident(ps, "density")) {
          ok = parse_int32(ps, &v->sparsity.n) && ir_lex_expect(ps, ',', "between N and M") &&
               parse_int32(ps, &v->sparsity.m);
          if (ok && ir_lex_is(ps, ',')) {
            ir_lex_next(ps);
            if (!ir_lex_is_ident(ps, "density")) {
              ir_lex_error(ps, "expected 'density D' after the sparsity's N and M");
              return false;
            }
          }
        }
        if (ok && ir_lex_is_ident(ps, "density")) {
          uint64_t bits;
          ir_lex_next(ps);
          if (!ir_lex_float_bits(ps, IR_F32, &bits)) return false;
          memcpy(&v->sparsity.density, &(uint32_t){(uint32_t)bits}, 4);
        }
      }
      break;
    case 2:
      if (!parse_quant(ps, gs, v)) return false;
      continue; /* parse_quant consumed the ')' */
    case 3:
      ok = ir_lex_expect(ps, '(', "after storage") &&
           parse_kind(ps, ir_text_storages, 4, "storage", &k);
      if (ok) v->storage = (ir_storage)k;
      *has_storage = true;
      break;
    default:
      ok = ir_lex_expect(ps, '(', "after offset") &&
           ir_lex_int(ps, INT64_MIN, INT64_MAX, &v->offset);
      break;
    }
    if (!ok || !ir_lex_expect(ps, ')', "to close the annotation")) return false;
  }
}

/* `%name : dtype shape annotations`, the name token already consumed.
 * Returns the new value's id or IR_NONE after an error. */
static ir_value_id parse_decl(ir_parser *ps, gstate *gs, const ir_token *name_tok,
                              ir_storage site) {
  ir_graph *g = gs->g;
  const char *name = ir_lex_name(ps, name_tok);
  if (!name) return IR_NONE;
  if (lookup(gs, name) >= 0) {
    ir_lex_error_at(ps, name_tok->line, name_tok->col, "redefinition of value %%%s", name);
    return IR_NONE;
  }
  if (g->num_values >= KILN_MAX_VALUES) {
    ir_lex_error_at(ps, name_tok->line, name_tok->col, "more than %d values", KILN_MAX_VALUES);
    return IR_NONE;
  }
  char *own = ir_arena_strdup(&g->arena, name); /* ps->buf is reused below */
  if (!ir_lex_expect(ps, ':', "and a type after the value name")) return IR_NONE;
  ir_dtype dt;
  ir_shape shape;
  int line = ps->tok.line, col = ps->tok.col;
  if (!ir_parse_dtype(ps, &dt) || !parse_shape(ps, g, &shape)) return IR_NONE;
  if (ir_shape_too_large(dt, &shape)) {
    ir_lex_error_at(ps, line, col, "value %%%s is too large: its dims hold more than 2^40 bytes "
                    "(the limit)", own);
    return IR_NONE;
  }
  ir_value_id v = ir_add_value_unique(g, own, dt, &shape);
  g->values[v].name = own; /* exactly as written, even "" */
  map_insert(ps, gs, v);
  bool has_storage = false;
  g->values[v].storage = site;
  if (!parse_annotations(ps, gs, &g->values[v], &has_storage)) return IR_NONE;
  if (!has_storage && site == IR_STORAGE_ACTIVATION)
    IR_PUSH(ps, gs->dflt, gs->ndflt, gs->capdflt, v);
  return v;
}

/* summary(bytes N, hash H) | '[' elems ']' */
static bool parse_payload(ir_parser *ps, gstate *gs, ir_value *v) {
  if (ir_lex_is_ident(ps, "summary")) {
    ir_lex_next(ps);
    uint64_t h;
    if (!ir_lex_expect(ps, '(', "after summary")) return false;
    if (!ir_lex_is_ident(ps, "bytes")) {
      ir_lex_error(ps, "expected 'bytes'");
      return false;
    }
    ir_lex_next(ps);
    if (!ir_lex_int(ps, 0, KILN_MAX_TENSOR_BYTES, &v->nbytes) ||
        !ir_lex_expect(ps, ',', "after bytes"))
      return false;
    if (!ir_lex_is_ident(ps, "hash")) {
      ir_lex_error(ps, "expected 'hash'");
      return false;
    }
    ir_lex_next(ps);
    if (!ir_lex_u64(ps, &h)) return false;
    v->hash = h;
    v->data = NULL;
    return ir_lex_expect(ps, ')', "to close summary(...)");
  }
  if (!ir_lex_is(ps, '[')) {
    ir_lex_error(ps, "expected a constant payload: [elements] or summary(bytes N, hash H)");
    return false;
  }
  void *data;
  if (!ir_parse_elems(ps, gs->g, v->dtype, ir_shape_numel(&v->shape), "constant", &data,
                      &v->nbytes))
    return false;
  v->data = data;
  v->hash = ir_hash_bytes(data, (size_t)v->nbytes);
  return true;
}

/* ---- attributes ----------------------------------------------------------- */
/* One `name = value` pair, set on node n. */
static bool parse_attr(ir_parser *ps, gstate *gs, ir_node_id n) {
  ir_graph *g = gs->g;
  if (ps->tok.kind != IR_TOK_IDENT && ps->tok.kind != IR_TOK_STRING) {
    ir_lex_error(ps, "expected an attribute name");
    return false;
  }
  int line = ps->tok.line, col = ps->tok.col;
  const char *s = ir_lex_name(ps, &ps->tok);
  if (!s) return false;
  char *name = ir_arena_strdup(&g->arena, s); /* ps->buf is reused below */
  if (ir_get_attr(g, n, name)) {
    ir_lex_error_at(ps, line, col, "duplicate attribute '%s'", name);
    return false;
  }
  ir_lex_next(ps);
  if (!ir_lex_expect(ps, '=', "after the attribute name")) return false;
  static const char *const typed[] = {"ints", "floats", "strings", "tensors", "graphs"};
  static const ir_attr_kind typed_kind[] = {IR_ATTR_INTS, IR_ATTR_FLOATS, IR_ATTR_STRINGS,
                                            IR_ATTR_TENSORS, IR_ATTR_GRAPHS};
  int k = ps->tok.kind == IR_TOK_IDENT ? ir_text_lookup(typed, 5, ps->tok.p, ps->tok.len) : -1;
  if (ir_lex_is_ident(ps, "graph")) {
    if (gs->depth >= KILN_MAX_SUBGRAPH_DEPTH) {
      ir_lex_error(ps, "subgraphs nested deeper than %d", KILN_MAX_SUBGRAPH_DEPTH);
      return false;
    }
    ir_graph *sub = parse_graph(ps, gs->depth + 1);
    if (!sub) return false;
    ir_set_attr(g, n, name, IR_ATTR_GRAPH)->graph = sub; /* owned by g from here */
    return true;
  }
  ir_attr *a = ir_set_attr(g, n, name, IR_ATTR_UNDEFINED);
  if (ps->tok.kind == IR_TOK_INT) {
    a->kind = IR_ATTR_INT;
    return ir_lex_int(ps, INT64_MIN, INT64_MAX, &a->i);
  }
  if (ir_lex_at_number(ps)) {
    uint64_t bits;
    a->kind = IR_ATTR_FLOAT;
    if (!ir_lex_float_bits(ps, IR_F32, &bits)) return false;
    memcpy(&a->f, &(uint32_t){(uint32_t)bits}, 4);
    return true;
  }
  if (ps->tok.kind == IR_TOK_STRING) {
    size_t len;
    const char *str = ir_lex_decode(ps, &ps->tok, &len);
    if (ps->failed) return false;
    a->kind = IR_ATTR_STRING;
    a->s = ir_arena_strndup(&g->arena, str, len);
    a->s_len = (int64_t)len;
    ir_lex_next(ps);
    return true;
  }
  if (ir_lex_is(ps, '[')) return ir_parse_list(ps, g, a, IR_ATTR_UNDEFINED);
  if (k >= 0) {
    ir_lex_next(ps);
    return ir_parse_list(ps, g, a, typed_kind[k]);
  }
  if (ir_lex_is_ident(ps, "tensor")) {
    ir_lex_next(ps);
    a->kind = IR_ATTR_TENSOR;
    a->tensor = ir_arena_alloc(&g->arena, sizeof *a->tensor);
    return ir_parse_tensor(ps, g, a->tensor);
  }
  if (ir_lex_is_ident(ps, "undefined")) {
    ir_lex_next(ps);
    return true;
  }
  ir_lex_error(ps, "expected an attribute value");
  return false;
}

/* ---- nodes and statements ----------------------------------------------- */
typedef struct pending {
  int32_t slot;
  ir_token tok;
} pending;

/* [results '='] Op '(' args ')' ['{' attrs '}'] ['@' name] */
static bool parse_node(ir_parser *ps, gstate *gs) {
  ir_graph *g = gs->g;
  ir_value_id *outs = NULL, *ins = NULL;
  pending *pend_out = NULL, *pend_in = NULL;
  int32_t nout = 0, cout = 0, nin = 0, cin = 0, npo = 0, cpo = 0, npi = 0, cpi = 0;
  bool ok = true;
  int line = ps->tok.line, col = ps->tok.col;
  while (ps->tok.kind == IR_TOK_VALUE || ir_lex_is_ident(ps, "_")) {
    if (nout == KILN_MAX_INPUTS) {
      ir_lex_error(ps, "more than %d results", KILN_MAX_INPUTS);
      ok = false;
      break;
    }
    ir_value_id v = IR_NONE;
    if (ps->tok.kind == IR_TOK_VALUE) {
      ir_token t = ps->tok;
      ir_lex_next(ps);
      if (ir_lex_is(ps, ':')) {
        if ((v = parse_decl(ps, gs, &t, IR_STORAGE_ACTIVATION)) < 0) {
          ok = false;
          break;
        }
      } else {
        IR_PUSH(ps, pend_out, npo, cpo, ((pending){nout, t}));
      }
    } else {
      ir_lex_next(ps);
    }
    IR_PUSH(ps, outs, nout, cout, v);
    if (!ir_lex_is(ps, ',')) break;
    ir_lex_next(ps);
  }
  if (ok && nout && !ir_lex_expect(ps, '=', "after the results")) ok = false;
  ir_op op = IR_OP_COUNT;
  if (ok) {
    if (ps->tok.kind != IR_TOK_IDENT) {
      ir_lex_error(ps, "expected an op name");
      ok = false;
    } else {
      /* domain.Name splits at the last dot: "com.microsoft.Gelu" */
      char opname[128], domain[128];
      const char *p = ps->tok.p, *dot = NULL;
      for (size_t i = 0; i < ps->tok.len; i++)
        if (p[i] == '.') dot = p + i;
      size_t dlen = dot ? (size_t)(dot - p) : 0, nlen = ps->tok.len - (dot ? dlen + 1 : 0);
      if (dlen < sizeof domain && nlen < sizeof opname) {
        memcpy(domain, p, dlen);
        domain[dlen] = 0;
        memcpy(opname, dot ? dot + 1 : p, nlen);
        opname[nlen] = 0;
        op = ir_op_lookup(domain, opname);
      }
      if (op == IR_OP_COUNT) {
        ir_lex_error(ps, "unknown op '%.*s'", (int)(ps->tok.len < 200 ? ps->tok.len : 200), p);
        ok = false;
      } else {
        ir_lex_next(ps);
      }
    }
  }
  ok = ok && ir_lex_expect(ps, '(', "to open the op's inputs");
  while (ok && !ir_lex_is(ps, ')')) {
    if (nin && !(ok = ir_lex_expect(ps, ',', "between inputs"))) break;
    if (nin == KILN_MAX_INPUTS) {
      ir_lex_error(ps, "more than %d inputs", KILN_MAX_INPUTS);
      ok = false;
      break;
    }
    if (ps->tok.kind == IR_TOK_VALUE) {
      IR_PUSH(ps, pend_in, npi, cpi, ((pending){nin, ps->tok}));
    } else if (!ir_lex_is_ident(ps, "_")) {
      ir_lex_error(ps, "expected an input (%%name, or _ for none)");
      ok = false;
      break;
    }
    IR_PUSH(ps, ins, nin, cin, IR_NONE);
    ir_lex_next(ps);
  }
  if (ok) ir_lex_next(ps); /* ')' */
  if (ok && g->num_nodes >= KILN_MAX_NODES) {
    ir_lex_error_at(ps, line, col, "more than %d nodes", KILN_MAX_NODES);
    ok = false;
  }
  if (ok) {
    ir_node_id n = ir_add_node(g, op, NULL, nin, ins, nout, outs);
    for (int32_t i = 0; i < npi; i++)
      g->nodes[n].inputs[pend_in[i].slot] =
          use_value(ps, gs, &pend_in[i].tok, FIX_NODE_IN, n, pend_in[i].slot);
    for (int32_t i = 0; i < npo; i++)
      g->nodes[n].outputs[pend_out[i].slot] =
          use_value(ps, gs, &pend_out[i].tok, FIX_NODE_OUT, n, pend_out[i].slot);
    if (ir_lex_is(ps, '{')) {
      ir_lex_next(ps);
      while (ok && !ir_lex_is(ps, '}')) {
        if (g->nodes[n].num_attrs && !(ok = ir_lex_expect(ps, ',', "between attributes"))) break;
        ok = parse_attr(ps, gs, n);
      }
      if (ok) ir_lex_next(ps);
    }
    if (ok && ps->tok.kind == IR_TOK_NODE) {
      const char *name = ir_lex_name(ps, &ps->tok);
      if ((ok = name != NULL)) g->nodes[n].name = ir_arena_strdup(&g->arena, name);
      ir_lex_next(ps);
    }
  }
  kiln_free(ps->ctx, outs);
  kiln_free(ps->ctx, ins);
  kiln_free(ps->ctx, pend_out);
  kiln_free(ps->ctx, pend_in);
  return ok && !ps->failed;
}

static bool parse_symbols(ir_parser *ps, gstate *gs) {
  if (gs->any_statement) {
    ir_lex_error(ps, "'symbols' must be the first statement of a graph");
    return false;
  }
  ir_lex_next(ps);
  do {
    if (gs->g->num_syms && !ir_lex_expect(ps, ',', "between symbols")) return false;
    if (ps->tok.kind != IR_TOK_IDENT && ps->tok.kind != IR_TOK_STRING) {
      ir_lex_error(ps, "expected a symbol name");
      return false;
    }
    const char *s = ir_lex_name(ps, &ps->tok);
    if (!s) return false;
    int32_t before = gs->g->num_syms;
    if (ir_sym(gs->g, s) != before) {
      ir_lex_error(ps, "duplicate symbol '%s'", s);
      return false;
    }
    ir_lex_next(ps);
  } while (ir_lex_is(ps, ','));
  return true;
}

/* input/output/const/value lines, and nodes. */
static bool parse_statement(ir_parser *ps, gstate *gs) {
  if (ir_lex_is_ident(ps, "symbols")) return parse_symbols(ps, gs);
  gs->any_statement = true;
  bool is_input = ir_lex_is_ident(ps, "input"), is_output = ir_lex_is_ident(ps, "output");
  bool is_const = ir_lex_is_ident(ps, "const"), is_value = ir_lex_is_ident(ps, "value");
  if (!is_input && !is_output && !is_const && !is_value) {
    if (ps->tok.kind == IR_TOK_IDENT || ps->tok.kind == IR_TOK_VALUE) return parse_node(ps, gs);
    ir_lex_error(ps, "expected a statement (input, output, const, value or a node)");
    return false;
  }
  ir_lex_next(ps);
  if (ps->tok.kind != IR_TOK_VALUE) {
    ir_lex_error(ps, "expected a value name (%%name)");
    return false;
  }
  ir_token t = ps->tok;
  ir_lex_next(ps);
  if (is_output || (is_input && !ir_lex_is(ps, ':'))) {
    if ((is_input ? gs->nins : gs->nouts) >= KILN_MAX_INPUTS) {
      ir_lex_error_at(ps, t.line, t.col, "more than %d graph %s", KILN_MAX_INPUTS,
                      is_input ? "inputs" : "outputs");
      return false;
    }
    if (is_input) {
      ir_value_id v = use_value(ps, gs, &t, FIX_GRAPH_IN, gs->nins, 0);
      IR_PUSH(ps, gs->ins, gs->nins, gs->capins, v);
    } else {
      ir_value_id v = use_value(ps, gs, &t, FIX_GRAPH_OUT, gs->nouts, 0);
      IR_PUSH(ps, gs->outs, gs->nouts, gs->capouts, v);
    }
    return !ps->failed;
  }
  ir_storage site = is_input   ? IR_STORAGE_INPUT
                    : is_const ? IR_STORAGE_CONST
                               : IR_STORAGE_ACTIVATION;
  ir_value_id v = parse_decl(ps, gs, &t, site);
  if (v < 0) return false;
  if (is_input) {
    if (gs->nins >= KILN_MAX_INPUTS) {
      ir_lex_error_at(ps, t.line, t.col, "more than %d graph inputs", KILN_MAX_INPUTS);
      return false;
    }
    IR_PUSH(ps, gs->ins, gs->nins, gs->capins, v);
  }
  if (is_const) {
    if (gs->g->values[v].storage != IR_STORAGE_CONST) {
      ir_lex_error_at(ps, t.line, t.col, "a const's storage is always const");
      return false;
    }
    if (!ir_lex_expect(ps, '=', "and a payload after the constant's type")) return false;
    if (!parse_payload(ps, gs, &gs->g->values[v])) return false;
  }
  return true;
}

/* Resolves fixups, installs the input/output lists, applies default
 * storage and derives producers and use counts. */
static bool finish_graph(ir_parser *ps, gstate *gs) {
  ir_graph *g = gs->g;
  for (int32_t i = 0; i < gs->nfix; i++) {
    const fixup *f = &gs->fix[i];
    ir_value_id v = lookup(gs, f->name);
    if (v < 0) {
      ir_lex_error_at(ps, f->line, f->col, "use of undefined value %%%s", f->name);
      return false;
    }
    switch (f->kind) {
    case FIX_NODE_IN: g->nodes[f->index].inputs[f->slot] = v; break;
    case FIX_NODE_OUT: g->nodes[f->index].outputs[f->slot] = v; break;
    case FIX_GRAPH_IN: gs->ins[f->index] = v; break;
    default: gs->outs[f->index] = v; break;
    }
  }
  g->num_inputs = gs->nins;
  g->inputs = ir_arena_dup(&g->arena, gs->ins, (size_t)gs->nins * sizeof *gs->ins);
  g->num_outputs = gs->nouts;
  g->outputs = ir_arena_dup(&g->arena, gs->outs, (size_t)gs->nouts * sizeof *gs->outs);
  uint8_t *is_out = kiln_calloc(ps->ctx, (size_t)g->num_values + 1, 1);
  for (int32_t i = 0; i < g->num_outputs; i++) is_out[g->outputs[i]] = 1;
  for (int32_t i = 0; i < gs->ndflt; i++)
    g->values[gs->dflt[i]].storage =
        is_out[gs->dflt[i]] ? IR_STORAGE_OUTPUT : IR_STORAGE_ACTIVATION;
  kiln_free(ps->ctx, is_out);
  for (ir_value_id v = 0; v < g->num_values; v++) g->values[v].producer = IR_NONE;
  for (ir_node_id n = 0; n < g->num_nodes; n++)
    for (int32_t i = 0; i < g->nodes[n].num_outputs; i++)
      if (g->nodes[n].outputs[i] >= 0) g->values[g->nodes[n].outputs[i]].producer = n;
  ir_graph_recount_uses(g);
  return true;
}

/* graph @name [opset N] [ir_version N] '{' statements '}' */
static ir_graph *parse_graph(ir_parser *ps, int depth) {
  if (!ir_lex_is_ident(ps, "graph")) {
    ir_lex_error(ps, "expected 'graph'");
    return NULL;
  }
  ir_lex_next(ps);
  if (ps->tok.kind != IR_TOK_NODE) {
    ir_lex_error(ps, "expected the graph's name (@name)");
    return NULL;
  }
  const char *name = ir_lex_name(ps, &ps->tok);
  if (!name) return NULL;
  gstate gs = {.g = ir_graph_new(ps->ctx, name), .depth = depth};
  ir_graph *g = gs.g;
  ir_lex_next(ps);
  bool ok = true, seen_opset = false, seen_irv = false;
  while (ok && (ir_lex_is_ident(ps, "opset") || ir_lex_is_ident(ps, "ir_version"))) {
    bool opset = ps->tok.p[0] == 'o';
    if (opset ? seen_opset : seen_irv) {
      ir_lex_error(ps, "%s given twice", opset ? "opset" : "ir_version");
      ok = false;
      break;
    }
    *(opset ? &seen_opset : &seen_irv) = true;
    ir_lex_next(ps);
    int32_t v = 0;
    ok = parse_int32(ps, &v);
    *(opset ? &g->opset : &g->ir_version) = v;
  }
  ok = ok && ir_lex_expect(ps, '{', "to open the graph's body");
  while (ok && !ir_lex_is(ps, '}')) {
    if (ps->tok.kind == IR_TOK_EOF) {
      ir_lex_error(ps, "unexpected end of input: missing '}'");
      ok = false;
      break;
    }
    ok = parse_statement(ps, &gs);
  }
  if (ok) {
    ir_lex_next(ps);
    ok = finish_graph(ps, &gs);
  }
  kiln_free(ps->ctx, gs.map);
  kiln_free(ps->ctx, gs.fix);
  kiln_free(ps->ctx, gs.ins);
  kiln_free(ps->ctx, gs.outs);
  kiln_free(ps->ctx, gs.dflt);
  if (ok && !ps->failed) return g;
  ir_graph_free(g);
  return NULL;
}

ir_graph *ir_parse(kiln_ctx *ctx, const char *text, size_t len, const char *filename) {
  ir_parser ps = {.ctx = ctx, .start = text, .cur = text, .end = text + len, .line = 1, .col = 1};
  ps.filename = filename ? filename : ctx->file ? ctx->file : "<input>";
  ir_lex_next(&ps);
  ir_graph *g = parse_graph(&ps, 0);
  if (g && ps.tok.kind != IR_TOK_EOF) {
    ir_lex_error(&ps, "unexpected text after the graph's closing brace");
    ir_graph_free(g);
    g = NULL;
  }
  kiln_free(ctx, ps.buf);
  return g;
}
