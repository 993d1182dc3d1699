/*
 * ir.h — kiln's graph IR.
 *
 * A graph is a list of nodes in a topological order and a table of values.
 * Both are referred to by small integer ids (ir_value_id, ir_node_id) that
 * index arrays owned by the graph, never by pointers: rewrites only edit
 * ids, pointers into the arrays stay valid until the next ir_add_*, and
 * dumps are deterministic because ids are assigned in import order.
 *
 * Everything a graph refers to (names, attributes, constant payloads,
 * shapes) lives in the graph's arena and is freed by ir_graph_free.
 * Constant payloads may instead point into a read-only file mapping the
 * graph holds (ONNX external data), so multi-gigabyte weights are never
 * copied.
 *
 * Values are in SSA form: each has at most one producer.  Graph inputs and
 * constants have none.  A value id of IR_NONE in a node's input list marks
 * an omitted optional input (ONNX's empty name).
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "ctx.h"
#include "dtype.h"
#include "ops.h"

typedef int32_t ir_value_id;
typedef int32_t ir_node_id;
#define IR_NONE (-1)

/* ---- shapes ---------------------------------------------------------------
 * A dim is an int64: >= 0 is a static extent; IR_DIM_UNKNOWN is an extent
 * nobody knows; other negative values encode a named symbolic dim, whose
 * name is graph->syms[ir_dim_sym(d)] ("N", "seq_len").  Symbols let shape
 * inference carry "same batch as the input" through a graph. */
#define IR_DIM_UNKNOWN INT64_MIN
static inline bool ir_dim_is_static(int64_t d) { return d >= 0; }
static inline bool ir_dim_is_sym(int64_t d) { return d < 0 && d != IR_DIM_UNKNOWN; }
static inline int32_t ir_dim_sym(int64_t d) { return (int32_t)(-d - 1); }
static inline int64_t ir_dim_from_sym(int32_t sym) { return -(int64_t)sym - 1; }

typedef struct ir_shape {
  int rank;                    /* -1 while the rank itself is unknown */
  int64_t dims[KILN_MAX_RANK]; /* see the dim encoding above */
} ir_shape;

/* ---- layout, sparsity, quantization, storage ----------------------------- */
typedef enum {
  IR_LAYOUT_PLAIN = 0,   /* dense row-major in the ONNX shape */
  IR_LAYOUT_BLOCKED,     /* channels split in blocks innermost: NCHW16c */
  IR_LAYOUT_PACKED,      /* GEMM panels laid out for a micro-kernel */
} ir_layout_kind;

typedef struct ir_layout {
  ir_layout_kind kind;
  int block;             /* channel block (BLOCKED) or panel width (PACKED) */
  int block2;            /* PACKED: the axis cut into panels of `block` */
} ir_layout;
/* Elements a PACKED constant's payload holds: the panel axis rounded up to
 * whole panels, laid out [axis / block][the other dims, row-major][block]
 * (a MatMul weight [K, N] packed on axis 1 is [N/nr][K][nr], the panels
 * the GEMM micro-kernel streams; a Conv weight [M, C, kh, kw] on axis 0 is
 * [M/mr][C*kh*kw][mr]).  -1 if the layout does not fit the shape. */
int64_t ir_packed_numel(const ir_shape *shape, const ir_layout *layout);

typedef enum {
  IR_SPARSE_DENSE = 0,
  IR_SPARSE_NM,          /* N of every M consecutive elements are nonzero */
  IR_SPARSE_BLOCK,       /* zero blocks of bh x bw dropped */
  IR_SPARSE_CSR,         /* compressed sparse rows */
} ir_sparsity_kind;

typedef struct ir_sparsity {
  ir_sparsity_kind kind;
  int n, m;              /* N:M pattern, or block height/width */
  float density;         /* fraction of nonzero elements (0 < density <= 1),
                          * or 0 when not recorded; set by prune and
                          * detect-sparsity from the payload, printed so
                          * that `kiln dump` shows each weight's density */
} ir_sparsity;

typedef enum {
  IR_QUANT_NONE = 0,
  IR_QUANT_TENSOR,       /* one scale and zero point */
  IR_QUANT_CHANNEL,      /* one per index of `axis` */
  IR_QUANT_GROUP,        /* one per `group_size` elements along `axis` */
} ir_quant_kind;

typedef struct ir_quant {
  ir_quant_kind kind;
  int axis;              /* channel or group axis */
  int group_size;        /* elements per group (GROUP only) */
  int64_t count;         /* number of scales */
  float *scales;         /* `count` scales */
  int32_t *zero_points;  /* `count` zero points; NULL means all zero */
} ir_quant;

typedef enum {
  IR_STORAGE_ACTIVATION = 0, /* computed by a node, lives in the workspace */
  IR_STORAGE_INPUT,          /* graph input, caller's buffer */
  IR_STORAGE_OUTPUT,         /* graph output, caller's buffer */
  IR_STORAGE_CONST,          /* compile-time constant (weights) */
} ir_storage;

/* ---- values --------------------------------------------------------------- */
typedef struct ir_value {
  const char *name;      /* unique in the graph; the ONNX name when imported */
  ir_dtype dtype;        /* IR_UNDEFINED until inferred */
  ir_shape shape;        /* rank -1 until inferred */
  ir_layout layout;      /* how elements sit in memory */
  ir_sparsity sparsity;  /* sparse encoding of a constant, DENSE otherwise */
  ir_quant *quant;       /* NULL unless the value is quantized */
  ir_storage storage;
  ir_node_id producer;   /* node that computes it, IR_NONE otherwise */
  const void *data;      /* CONST: payload, or NULL if only the hash is known */
  int64_t nbytes;        /* CONST: payload bytes */
  uint64_t hash;         /* CONST: content hash (FNV-1a 64 of the payload) */
  int64_t offset;        /* workspace offset after plan-memory, else -1 */
  int32_t num_uses;      /* maintained by ir_graph_recount_uses */
  bool dead;             /* nothing uses it any more (set by eliminate-dead-code);
                          * ids are never reused, so dead values stay in the
                          * table and printers and codegen skip them */
} ir_value;

/* ---- attributes (ONNX AttributeProto kinds, same numbering) --------------- */
typedef enum {
  IR_ATTR_UNDEFINED = 0,
  IR_ATTR_FLOAT = 1,
  IR_ATTR_INT = 2,
  IR_ATTR_STRING = 3,
  IR_ATTR_TENSOR = 4,
  IR_ATTR_GRAPH = 5,
  IR_ATTR_FLOATS = 6,
  IR_ATTR_INTS = 7,
  IR_ATTR_STRINGS = 8,
  IR_ATTR_TENSORS = 9,
  IR_ATTR_GRAPHS = 10,
} ir_attr_kind;

/* A tensor held in an attribute (ConstantOfShape's value, ...). */
typedef struct ir_tensor {
  ir_dtype dtype;
  int rank;
  int64_t dims[KILN_MAX_RANK];
  const void *data;      /* dense row-major payload in the graph's arena */
  int64_t nbytes;
} ir_tensor;

typedef struct ir_graph ir_graph;

typedef struct ir_attr {
  const char *name;
  ir_attr_kind kind;
  int64_t i;             /* INT */
  float f;               /* FLOAT */
  const char *s;         /* STRING (NUL-terminated; ONNX strings are bytes) */
  int64_t s_len;         /* STRING length in bytes */
  int32_t count;         /* number of elements of a list kind */
  int64_t *ints;         /* INTS */
  float *floats;         /* FLOATS */
  const char **strings;  /* STRINGS */
  ir_tensor *tensor;     /* TENSOR (one), or TENSORS (`count` of them) */
  ir_graph *graph;       /* GRAPH (subgraph bodies; not yet lowered) */
} ir_attr;

/* ---- nodes ---------------------------------------------------------------- */
typedef struct ir_node {
  const char *name;      /* ONNX node name, or a generated "op_N" */
  ir_op op;              /* row of the op table (ops.def) */
  int32_t num_inputs, num_outputs, num_attrs;
  ir_value_id *inputs;   /* IR_NONE for an omitted optional input */
  ir_value_id *outputs;  /* IR_NONE for an omitted optional output */
  ir_attr *attrs;        /* sorted by name so dumps are deterministic */
  bool dead;             /* removed; dropped by ir_graph_compact */
} ir_node;

/* ---- graphs --------------------------------------------------------------- */
typedef struct ir_mapping {
  struct ir_mapping *next;
  void *addr;            /* mmap'ed file region, unmapped with the graph */
  size_t len;
} ir_mapping;

struct ir_graph {
  kiln_ctx *ctx;         /* allocator and diagnostics */
  ir_arena arena;        /* owns names, attributes, shapes, payloads */
  const char *name;      /* graph name (from the model) */
  ir_value *values;      /* values[id]; grows with ir_add_value */
  int32_t num_values, cap_values;
  ir_node *nodes;        /* nodes in topological order */
  int32_t num_nodes, cap_nodes;
  ir_value_id *inputs;   /* graph inputs, in the model's order */
  int32_t num_inputs;
  ir_value_id *outputs;  /* graph outputs, in the model's order */
  int32_t num_outputs;
  const char **syms;     /* names of symbolic dims */
  int32_t num_syms;
  int32_t opset;         /* default-domain opset version of the model */
  int32_t ir_version;    /* ONNX IR version of the model, 0 if parsed */
  ir_mapping *mappings;  /* file mappings payloads may point into */
  int32_t *name_index;   /* open-addressing hash of value names: id + 1, 0 empty */
  int32_t cap_name_index;/* slots in name_index (a power of two, or 0) */
  int64_t workspace_size;/* bytes of workspace the plan-memory pass's offsets
                          * need (a multiple of 64); 0 before planning */
};

ir_graph *ir_graph_new(kiln_ctx *ctx, const char *name);
void ir_graph_free(ir_graph *g);
/* A copy with its own value and node tables that borrows names, payloads
 * and attribute contents from g (which must outlive it); subgraph
 * attributes are dropped.  For compiling a variant of g (clone.c). */
ir_graph *ir_graph_clone_borrowing(ir_graph *g);

/* Adds a value named `name` (made unique with a suffix if taken).  A
 * value's name is fixed once added: the name index keys on it. */
ir_value_id ir_add_value(ir_graph *g, const char *name, ir_dtype dtype, const ir_shape *shape);
/* The value named `name`, or IR_NONE; O(1) through the name index. */
ir_value_id ir_find_value(const ir_graph *g, const char *name);
/* Same for a caller that has already checked `name` is unique (the
 * parser reports duplicates itself instead of renaming them). */
ir_value_id ir_add_value_unique(ir_graph *g, const char *name, ir_dtype dtype,
                                const ir_shape *shape);
/* Adds a constant; `data` is copied into the arena unless `borrow` is set,
 * in which case it must outlive the graph (e.g. a mapping in g->mappings). */
ir_value_id ir_add_const(ir_graph *g, const char *name, ir_dtype dtype, const ir_shape *shape,
                         const void *data, int64_t nbytes, bool borrow);
/* Adds a node reading `inputs` and writing `outputs`; sets producers.
 * Appended at the end: call ir_graph_toposort if it must run earlier. */
ir_node_id ir_add_node(ir_graph *g, ir_op op, const char *name, int num_inputs,
                       const ir_value_id *inputs, int num_outputs, const ir_value_id *outputs);
/* Sets an attribute on a node (replacing one of the same name). */
ir_attr *ir_set_attr(ir_graph *g, ir_node_id n, const char *name, ir_attr_kind kind);
void ir_set_attr_int(ir_graph *g, ir_node_id n, const char *name, int64_t v);
void ir_set_attr_float(ir_graph *g, ir_node_id n, const char *name, float v);
void ir_set_attr_ints(ir_graph *g, ir_node_id n, const char *name, const int64_t *v, int count);
void ir_set_attr_string(ir_graph *g, ir_node_id n, const char *name, const char *s);

/* Attribute lookup; the _or forms return `dflt` when absent. */
const ir_attr *ir_get_attr(const ir_graph *g, ir_node_id n, const char *name);
int64_t ir_attr_int_or(const ir_graph *g, ir_node_id n, const char *name, int64_t dflt);
float ir_attr_float_or(const ir_graph *g, ir_node_id n, const char *name, float dflt);
const char *ir_attr_string_or(const ir_graph *g, ir_node_id n, const char *name, const char *dflt);
/* INTS attribute: returns the count (0 if absent) and sets *out. */
int ir_attr_ints(const ir_graph *g, ir_node_id n, const char *name, const int64_t **out);

/* Freezes graph input `name` into a constant holding `data` (copied), so
 * the graph is specialised on that value: what `--bind INPUT=FILE` does
 * for models whose shape operands (Reshape's shape, Slice's starts,
 * Resize's sizes, TopK's k) arrive as inputs.  The dtype and every static
 * dim must match what the model declares.  Reports and returns non-OK
 * otherwise, or when no input has that name. */
kiln_status ir_bind_input(ir_graph *g, const char *name, ir_dtype dtype, int rank,
                          const int64_t *dims, const void *data, int64_t nbytes);
/* Returns the id of the symbol named `name`, adding it if new. */
int32_t ir_sym(ir_graph *g, const char *name);

/* Element count of a static shape; -1 if any dim is not static or the
 * count overflows. */
int64_t ir_shape_numel(const ir_shape *s);
bool ir_shape_is_static(const ir_shape *s);
/* True if the static dims of s alone (symbolic and unknown dims count as
 * 1) hold more than KILN_MAX_TENSOR_BYTES bytes of dtype dt (IR_UNDEFINED:
 * 1 byte per element).  Readers refuse such shapes so that later stages
 * can multiply dims without overflow. */
bool ir_shape_too_large(ir_dtype dt, const ir_shape *s);
bool ir_shape_equal(const ir_shape *a, const ir_shape *b);
ir_shape ir_shape_make(int rank, const int64_t *dims);

/* Replaces every use of `from` (node inputs and graph outputs) by `to`. */
void ir_replace_uses(ir_graph *g, ir_value_id from, ir_value_id to);
/* Recomputes every value's num_uses (graph outputs count as uses). */
void ir_graph_recount_uses(ir_graph *g);
/* Drops dead nodes, keeping order; node ids change, value ids do not. */
void ir_graph_compact(ir_graph *g);
/* Reorders nodes topologically (stable: keeps the current order where it
 * can).  Returns KILN_ERR_INVALID_MODEL and reports if there is a cycle. */
kiln_status ir_graph_toposort(ir_graph *g);

/* FNV-1a 64-bit hash used for constant summaries and weights files. */
uint64_t ir_hash_bytes(const void *data, size_t n);

/* Constant payload of a value if it is a CONST with data, else NULL. */
static inline const void *ir_const_data(const ir_graph *g, ir_value_id v) {
  return v >= 0 && g->values[v].storage == IR_STORAGE_CONST ? g->values[v].data : NULL;
}
/* Reads a constant integer tensor (any int dtype or bool) as int64s.
 * Returns the element count, or -1 if v is not a constant with data, not
 * integer, or has more than `max` elements. */
int64_t ir_const_ints(const ir_graph *g, ir_value_id v, int64_t *out, int64_t max);
/* Reads a constant scalar (or one-element tensor) of any numeric dtype as
 * a double; false if v is not such a constant. */
bool ir_const_scalar(const ir_graph *g, ir_value_id v, double *out);
static inline ir_value *ir_val(ir_graph *g, ir_value_id v) { return &g->values[v]; }
static inline ir_node *ir_nod(ir_graph *g, ir_node_id n) { return &g->nodes[n]; }
/* Diagnostic about node n: "kiln: error: FILE: node 'NAME' (Op): what". */
void ir_error_node(ir_graph *g, ir_node_id n, const char *fmt, ...) KILN_PRINTF(3, 4);

/* ---- verifier, printer, parser, DOT (one file each) ----------------------- */
/* Checks types, shapes, SSA, acyclicity and that every use is defined.
 * `require_shapes`: every value must have a known dtype and rank. */
kiln_status ir_verify(ir_graph *g, bool require_shapes);

typedef struct ir_print_options {
  bool full_constants;   /* print every constant in full, not a summary */
  int64_t summary_bytes; /* constants up to this size print in full (default 64) */
} ir_print_options;
/* Prints the text form (see docs/ir.md); `opt` may be NULL. */
void ir_print(const ir_graph *g, FILE *out, const ir_print_options *opt);
/* Parses the text form; reports errors with line:column and returns NULL. */
ir_graph *ir_parse(kiln_ctx *ctx, const char *text, size_t len, const char *filename);
/* Writes a Graphviz digraph. */
void ir_print_dot(const ir_graph *g, FILE *out);
/* The same, leaving constants (and their edges) out if hide_constants. */
void ir_print_dot_options(const ir_graph *g, FILE *out, bool hide_constants);

#endif /* KILN_IR_H */
