/*
 * status.c — kiln_status_string, shared by the runtime and the compiler.
 */
#include "kiln.h"

/* Sized by its rows so the assertion below fails when a status is added
 * at the end of kiln_status without a name; tests/unit/test_tables.c
 * checks that every status has one. */
static const char *const status_names[] = {
    [KILN_OK] = "success",
    [KILN_ERR_INVALID_ARGUMENT] = "invalid argument (null pointer, bad option or shape)",
    [KILN_ERR_MISALIGNED] = "workspace is not 64-byte aligned",
    [KILN_ERR_INVALID_MODEL] = "invalid model",
    [KILN_ERR_UNSUPPORTED] = "unsupported operator, dtype or attribute",
    [KILN_ERR_IO] = "file missing, unreadable or truncated",
    [KILN_ERR_NOMEM] = "out of memory",
    [KILN_ERR_LIMIT] = "a hard limit was exceeded",
    [KILN_ERR_WEIGHTS] = "weights file missing or does not match the model",
    [KILN_ERR_INTERNAL] = "internal error in kiln",
    [KILN_ERR_INDEX_RANGE] = "an index input is out of range (a Gather index past the data, such as a token id past the vocabulary)",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == KILN_STATUS_COUNT_,
               "status names out of step with kiln_status");

__attribute__((visibility("default"))) const char *kiln_status_string(int status) {
  if (status < 0 || status >= KILN_STATUS_COUNT_) return "unknown status";
  return status_names[status];
}
