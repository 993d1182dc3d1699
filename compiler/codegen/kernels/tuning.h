/*
 * tuning.h — the tuning database: schedules `kiln tune` measured, keyed by
 * where they were measured and what they compute (schema: docs/tuning.md).
 *
 * A record is the best schedule found for one (target triple, CPU name,
 * CPU features, kernel signature, thread count); the reorder-layout pass
 * applies the records that match the build (--tuning FILE), and `kiln tune`
 * reads an existing file, keeps the faster of two records with one key and
 * writes it back.
 */
#ifndef KILN_CG_TUNING_H
#define KILN_CG_TUNING_H

#include <stdbool.h>
#include <stddef.h>

#include "ir.h"
#include "kernels/schedule.h"

#define CG_TUNING_VERSION 1

typedef struct cg_tuning_record {
  char *target;       /* normalized LLVM triple */
  char *cpu;          /* LLVM CPU name */
  char *features;     /* LLVM feature string of the CPU ("" if none) */
  char *kernel;       /* cg_kernel_signature */
  int threads;        /* threads the time was measured with */
  char *schedule;     /* cg_schedule text form */
  double time_us;     /* median time of one run of the kernel, this schedule */
  double default_us;  /* the same for the default schedule, measured alongside */
  char *kiln;         /* kiln version that measured it */
  int line;           /* line in the file it was read from (0: made in memory) */
} cg_tuning_record;

typedef struct cg_tuning_db {
  cg_tuning_record *records;
  int count, cap;
} cg_tuning_db;

/* Reads a tuning file into *db (which it initializes).  Every problem
 * names the file and the line: a version other than CG_TUNING_VERSION, an
 * unknown key, a missing or bad value, a file cut short (the `count` key,
 * written last, is missing or disagrees with the records read). */
kiln_status cg_tuning_read(kiln_ctx *ctx, const char *path, cg_tuning_db *db);
/* Writes *db to path ("-": stdout), records in their order. */
kiln_status cg_tuning_write(kiln_ctx *ctx, const cg_tuning_db *db, const char *path);
/* Adds a copy of *r, or replaces the record of the same key if r is
 * faster (time_us lower); returns true if r was kept. */
bool cg_tuning_put(kiln_ctx *ctx, cg_tuning_db *db, const cg_tuning_record *r);
/* The record of this key, or NULL. */
const cg_tuning_record *cg_tuning_find(const cg_tuning_db *db, const char *target, const char *cpu,
                                       const char *features, int threads, const char *kernel);
/* Whether any record was measured on this target, CPU and features. */
bool cg_tuning_has_cpu(const cg_tuning_db *db, const char *target, const char *cpu,
                       const char *features);
void cg_tuning_free(kiln_ctx *ctx, cg_tuning_db *db);

/* The thread count a build's records are looked up with: `threads` if
 * positive, else what the runtime would use by default (KILN_NUM_THREADS,
 * else the online cores of this machine). */
int cg_tuning_threads(int threads);

/* The kernel signature of node n computed by algorithm algo: its op (with
 * "/direct" or "/depthwise" for those kernels; nothing for the GEMM
 * kernel), every input's dtype, shape, layout and whether it is a
 * constant, the outputs' dtypes and shapes, and its attributes (the fused
 * epilogue among them) except `schedule`, as one line.  Weights packed for
 * a schedule read as plain (the packing follows the schedule, it does not
 * select it).  Returns buf. */
char *cg_kernel_signature(const ir_graph *g, ir_node_id n, cg_conv_algo algo, char *buf, size_t size);

#endif
