/*
 * pv_report_suite.h - internal to src/report/: the parts of the report of
 * a suite (struct pv_report_suite; docs/suite.md): the "suite" and "test"
 * objects of the JSON report, and the table and Markdown of seed 002's
 * summary (pv_report_suite.c).
 */
#ifndef PV_REPORT_SUITE_H
#define PV_REPORT_SUITE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/pv_buf.h"
#include "report/pv_report.h"

/**
 * The top-level "suite" object: name, source, tests, passed, failed,
 * categories (in the order of their first test: name, tests, passed,
 * failed, and the means over their tests of avg_ms, p95_ms and qps) and
 * overall (the same means over every test, executions and failed: the
 * totals). @return a new reference, or NULL when out of memory.
 */
json_t *pv_report__suite_json(const struct pv_report *r);

/** runs[i].test: {"name", "category", "file", "pass"}. NULL when out of memory. */
json_t *pv_report__test_json(const struct pv_report_test *t);

/** runs[i].diagnosis: the caller's JSON text parsed (a string when it does
    not parse). NULL when out of memory. */
json_t *pv_report__raw_json(const char *text);

/**
 * Seed 002's summary of a suite, as a terminal table (markdown false) or
 * Markdown: a row per test (test, executions, errors, avg, p95, QPS,
 * target: pass, FAIL or - without one), the means per category and
 * overall, the totals, then per test that missed a target its failed
 * thresholds and the diagnosis' findings. @return 0 or VOLLEY_ENOMEM.
 */
int pv_report__suite_table(const struct pv_report *r, pv_buf *out, bool markdown);

#endif /* PV_REPORT_SUITE_H */
