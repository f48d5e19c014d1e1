/*
 * pv_suite.h - a suite of workload files grouped into categories, for
 * `pgvolley suite` (docs/suite.md): a directory with one sub-directory per
 * category, each holding its tests (*.sql workload files), or the built-in
 * default suite for the schema of `pgvolley init`, embedded in the binary.
 *
 *   mysuite/01-simple/01-health_check.sql
 *   mysuite/01-simple/02-now.sql
 *   mysuite/02-indexed/pk_lookup.sql
 *
 * Categories and tests run in the order of their names (byte order); a
 * leading "NN-" (digits and a dash) orders them and is not part of the
 * name: the category above is "simple", the test "health_check" (the file
 * name without ".sql"). A file's settings (-- CONCURRENCY:, -- DURATION:,
 * -- EXEC_COUNT:) and targets (-- TARGET:) are read by the workload parser
 * (pv_workload.h) when the test is loaded.
 *
 * Only this directory structure is a suite: *.sql files directly in the
 * suite's directory, or sub-directories of categories, are an error
 * (named), as are an empty suite and a category without tests.
 */
#ifndef PV_SUITE_H
#define PV_SUITE_H

#include <stddef.h>

#include "common/pv_common.h"
#include "workload/pv_workload.h"

struct pv_suite_test {
    char *category;   /* "simple" */
    char *name;       /* "health_check" */
    char *file;       /* as the suite names it: "01-simple/01-health_check.sql" */
    char *path;       /* the file to read (the suite's directory joined), or NULL: built-in */
    const char *text; /* built-in: the embedded text (static), else NULL */
    size_t len;
};

typedef struct pv_suite pv_suite;

/** The built-in default suite. @return 0 or VOLLEY_ENOMEM. */
int pv_suite_builtin(pv_suite **out, pv_err *err);

/**
 * The suite in directory dir (see above).
 * @return 0, VOLLEY_EINPUT (not a suite: err names the path and says why),
 *         VOLLEY_EIO (cannot read a directory) or VOLLEY_ENOMEM.
 */
int pv_suite_open(const char *dir, pv_suite **out, pv_err *err);

/** NULL is a no-op. */
void pv_suite_destroy(pv_suite *s);

/** "default", or the directory's base name. */
const char *pv_suite_name(const pv_suite *s);
/** "built-in", or the directory as given. */
const char *pv_suite_source(const pv_suite *s);
size_t pv_suite_count(const pv_suite *s);
/** The i-th test in run order; borrowed. */
const struct pv_suite_test *pv_suite_get(const pv_suite *s, size_t i);

/**
 * Keeps only the tests that match one of the n shell patterns (fnmatch,
 * where '*' also matches '/') by "category/name" or by category alone:
 * "joins", "indexed/pk_*", "concurrent/heavy_*". n 0 keeps every test.
 * @return 0, or VOLLEY_EINPUT when no test matches (the suite is then
 *         unchanged; err names the patterns).
 */
int pv_suite_filter(pv_suite *s, const char *const *patterns, size_t n, pv_err *err);

/**
 * Adds test i's file to w (pv_workload_add_path or, built-in,
 * pv_workload_add_text with the file's name in the suite as its path).
 * @return as pv_workload_add_path.
 */
int pv_suite_load(const pv_suite *s, size_t i, pv_workload *w, pv_err *err);

/**
 * Writes the built-in suite's files under dir (created if missing, as are
 * the category directories), to copy and adapt. Refuses to replace any
 * existing file (nothing is written then). @return 0, VOLLEY_EINPUT (a
 * file exists: named) or VOLLEY_EIO (err names the path).
 */
int pv_suite_export(const char *dir, pv_err *err);

#endif /* PV_SUITE_H */
