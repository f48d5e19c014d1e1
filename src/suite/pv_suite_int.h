/*
 * pv_suite_int.h - internal to src/suite/: the built-in suite's files,
 * embedded at build time (cmake/PvEmbedSuite.cmake writes
 * pv_suite_builtin.c in the build tree from suites/default/).
 */
#ifndef PV_SUITE_INT_H
#define PV_SUITE_INT_H

#include <stddef.h>

struct pv_suite__file {
    const char *path; /* relative to suites/default: "01-simple/01-health_check.sql" */
    const char *text; /* NUL-terminated */
    size_t len;
};

/* Sorted by path. */
extern const struct pv_suite__file pv_suite__builtin_files[];
extern const size_t pv_suite__builtin_nfiles;

#endif /* PV_SUITE_INT_H */
