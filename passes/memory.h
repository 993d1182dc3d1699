/*
 * memory.h — what a memory plan means, and tools to look at one.
 *
 * The plan-memory pass (plan_memory.c) fixes the execution order and gives
 * every activation a byte offset in one workspace (ir_value.offset,
 * ir_graph.workspace_size).  This header holds what the pass, its checker,
 * its report and the code generator must agree on:
 *
 *   - which ops are *views* (their output is their input's bytes: the code
 *     generator aliases them) and which may run *in place* (elementwise:
 *     an output may sit on an input of the same size);
 *   - lifetimes: a value is live from the step of its producer to the step
 *     of its last reader, inclusive; a view that is a graph output keeps
 *     its source's bytes live to the end of the run (the code generator
 *     copies it out last), and so does a value a subgraph reads by name;
 *   - which bytes of two values hold the same data (through views and
 *     Split/Concat slices);
 *   - the checker, which re-derives every sharing of bytes from the graph
 *     and the offsets alone and rejects any overlap it cannot justify;
 *   - the lower bound, the report and the SVG picture.
 *
 * docs/passes.md (plan-memory) states the same contract in prose.
 */
#ifndef KILN_MEMORY_H
#define KILN_MEMORY_H

#include <stdio.h>

#include "ir.h"

/* Every workspace offset and buffer size is a multiple of this. */
#define IR_MEM_ALIGN 64

static inline int64_t ir_mem_align(int64_t x) {
  return (x + IR_MEM_ALIGN - 1) & ~(int64_t)(IR_MEM_ALIGN - 1);
}

/* Ops whose output 0 shares its input 0's bytes: Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity, Dropout (the code generator's views). */
bool ir_mem_is_view(ir_op op);
/* Elementwise ops (with broadcasting) whose single output may take the
 * bytes of an input of the same element count and width that dies there:
 * every output element is computed from the input elements at the same
 * flat index, read before the write. */
bool ir_mem_in_place_ok(ir_op op);
/* True if op's output may take the bytes of its input i (the elementwise
 * ops: any input; fused kernels: their residual). */
bool ir_mem_in_place_input(ir_op op, int i);

/* How a value uses the workspace. */
typedef enum {
  IR_MEM_NONE = 0,   /* not in the workspace: input, output, constant, dead,
                      * or a view of such a value */
  IR_MEM_OWN,        /* an activation that needs bytes of its own */
  IR_MEM_VIEW,       /* output of a view of a workspace value: its bytes */
} ir_mem_kind;

/* Lifetimes of every value over one execution order. */
typedef struct ir_mem_live {
  int32_t num_steps;     /* live nodes in the order; step num_steps = end of run */
  int32_t *order;        /* order[step] = node id */
  int32_t *step_of;      /* step_of[node id], -1 for dead nodes */
  uint8_t *kind;         /* ir_mem_kind per value */
  int32_t *def, *last;   /* per value: producer's step, last reader's step */
  int64_t *bytes;        /* per value: payload bytes of its static shape */
  ir_value_id *source;   /* per view value: the value it views, else IR_NONE */
} ir_mem_live;

/* Computes lifetimes for `order` (node ids, `num_steps` of them; NULL: the
 * graph's live nodes in array order).  Values of non-static shape get
 * kind NONE and *bad set to one of them (else IR_NONE).  Free with
 * ir_mem_live_free. */
void ir_mem_live_compute(const ir_graph *g, const int32_t *order, int32_t num_steps,
                         ir_mem_live *out, ir_value_id *bad);
void ir_mem_live_free(const ir_graph *g, ir_mem_live *lv);

/* Element count of a value's static shape. */
int64_t ir_mem_numel(const ir_graph *g, ir_value_id v);
/* Bytes before Concat input i (or Split output i) along `axis` when the
 * pieces are contiguous slices of the whole (every dim before the axis is
 * 1), else -1.  `whole` is the concat output or the split input. */
int64_t ir_mem_slice_offset(const ir_graph *g, ir_node_id n, bool split, int i);

/* Which Split outputs and Concat inputs sit at their slice of the whole
 * (share its bytes), as a plan decides. */
typedef struct ir_mem_slices {
  int32_t *slot;         /* slot[node]: index of its first input in concat_in */
  uint8_t *concat_in;    /* per node input: a Concat input at its slice */
  uint8_t *split_out;    /* per value: a Split output at its slice */
} ir_mem_slices;
void ir_mem_slices_init(const ir_graph *g, ir_mem_slices *sl);
void ir_mem_slices_free(const ir_graph *g, ir_mem_slices *sl);
/* True if u placed at byte pu and v at pv hold the same data on every
 * byte where they meet: each such byte traces back, through views and
 * slices, to the same byte of the same computed value. */
bool ir_mem_same_data(const ir_graph *g, const ir_mem_live *lv, const ir_mem_slices *sl,
                      ir_value_id u, int64_t pu, ir_value_id v, int64_t pv);

/* Numbers describing a planned graph (computed from the graph alone). */
typedef struct ir_memory_stats {
  int64_t workspace;     /* bytes of workspace the plan needs */
  int64_t lower_bound;   /* most bytes simultaneously live over the schedule */
  int64_t naive;         /* sum of every activation's own bytes, no reuse */
  int32_t num_steps;     /* nodes in the schedule */
  int32_t num_tensors;   /* values with workspace bytes (views included) */
  int32_t in_place;      /* elementwise outputs written over a dying input */
  int32_t views;         /* view outputs sharing their input's bytes */
  int32_t concat_slices; /* Concat inputs produced straight into their slice */
  int32_t split_slices;  /* Split outputs that are slices of the input */
} ir_memory_stats;

/* Verifies the plan on g: alignment, bounds, views at their input's
 * offset, and that no two values live at the same time share a byte
 * unless one is a view or slice of the other or an elementwise op writes
 * one over the other as its last read.  On failure writes why (naming
 * the values) into `why` and returns false. */
bool ir_memory_check(const ir_graph *g, char *why, size_t why_size);
/* Fills *st from g (offsets, order, shapes).  Returns false if some
 * activation has no static shape or no offset (the graph is not planned). */
bool ir_memory_stats_compute(const ir_graph *g, ir_memory_stats *st);

/* Prints the plan's numbers: workspace, lower bound, naive sum, the ratio
 * and the reuse counts.  ir_memory_report_prefixed puts `prefix` before
 * every line ("// " inside IR dumps). */
void ir_memory_report(const ir_graph *g, FILE *out);
void ir_memory_report_prefixed(const ir_graph *g, FILE *out, const char *prefix);
/* Writes an SVG picture of the plan: execution step on x, workspace
 * offset on y, one rectangle per tensor with a tooltip. */
void ir_memory_svg(const ir_graph *g, FILE *out);

#endif
