/*
 * pv_threshold.h - thresholds a run must meet: `--threshold EXPR` and a
 * workload file's `-- TARGET:` header, their evaluation against a run's
 * result, their place in the reports, and the decision of --abort-on-fail.
 *
 * An expression is `METRIC OP VALUE[UNIT]`, white space optional:
 *
 *   METRIC  avg, min, max, stddev, p50, p90, p95, p99, p999 (any pN: p75,
 *           p99.9, p(95); p999 is 99.9, p9999 99.99), qps, error_rate,
 *           failed, executions, succeeded
 *   OP      <, <=, >, >=
 *   VALUE   a number >= 0; latencies take ms (the default), s or us;
 *           error_rate takes a percentage (0.1%) or a bare fraction
 *           (0.001); qps and the counts take a bare number
 *
 * `--threshold` may name a query first: `lookup.sql: p95 < 5ms` (its name
 * as in the report, or its path); without it the threshold is of the whole
 * run. A `-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000` header holds a
 * comma-separated list, each of the file's own query.
 *
 * What is measured: latencies are of the successful executions (as the
 * report's latency_ms), in ms; qps is executions / wall time (as the
 * report's qps); error_rate is failed / executions, in %. A latency or a
 * rate with nothing to measure (no success, no execution) is NaN: the
 * threshold fails ("nothing measured").
 */
#ifndef PV_THRESHOLD_H
#define PV_THRESHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "engine/pv_run.h"
#include "workload/pv_workload.h"

enum pv_threshold_metric {
    PV_TM_AVG,
    PV_TM_MIN,
    PV_TM_MAX,
    PV_TM_STDDEV,
    PV_TM_PCT, /* a percentile: pct */
    PV_TM_QPS,
    PV_TM_ERROR_RATE,
    PV_TM_FAILED,
    PV_TM_EXECUTIONS,
    PV_TM_SUCCEEDED,
};

enum pv_threshold_op { PV_TOP_LT, PV_TOP_LE, PV_TOP_GT, PV_TOP_GE };

struct pv_threshold {
    enum pv_threshold_metric metric;
    double pct; /* PV_TM_PCT: the percentile, 0 < pct <= 100 */
    enum pv_threshold_op op;
    double limit; /* in the metric's unit (pv_threshold_unit) */
    char *expr;   /* as written, white space trimmed, without the scope */
    char *scope;  /* a query's name or path, or NULL: the whole run */
    char *source; /* "option", or "PATH:LINE" of a TARGET header */
    /* the scope's query, once bound (pv_thresholds_bind, or the TARGET's
       own query); NULL: matched by name at evaluation. Borrowed. */
    const struct pv_query *query;
};

/* A list of thresholds; opaque. */
typedef struct pv_thresholds pv_thresholds;

/** @return 0 or VOLLEY_ENOMEM. */
int pv_thresholds_create(pv_thresholds **out);
/** NULL is a no-op. */
void pv_thresholds_destroy(pv_thresholds *t);

size_t pv_thresholds_count(const pv_thresholds *t);
/** The i-th threshold, in the order added; borrowed from t. */
const struct pv_threshold *pv_thresholds_get(const pv_thresholds *t, size_t i);

/**
 * Adds one `--threshold` text: `[SCOPE:] EXPR`.
 * @return 0, VOLLEY_EINPUT (err says what is wrong, without the option's
 *         name: "unknown unit 'xs' after 5 (ms, s or us)") or VOLLEY_ENOMEM.
 */
int pv_thresholds_add_option(pv_thresholds *t, const char *text, pv_err *err);

/**
 * Adds every threshold of q's `-- TARGET:` header (q->target; nothing when
 * it has none), each scoped to q.
 * @return 0, VOLLEY_EINPUT ("PATH:LINE:COL: TARGET: what") or VOLLEY_ENOMEM.
 */
int pv_thresholds_add_target(pv_thresholds *t, const struct pv_query *q, pv_err *err);

/**
 * Binds each scoped `--threshold` to the one query of wl whose name or
 * path is its scope. @return 0, or VOLLEY_EINPUT when a scope names no
 * query or several ("--threshold 'x.sql: p95 < 5ms': no query is named
 * x.sql (the queries: a.sql, b.sql)").
 */
int pv_thresholds_bind(pv_thresholds *t, const pv_workload *wl, pv_err *err);

/** The unit of a metric's figures: "ms", "qps", "%" or "count". */
const char *pv_threshold_unit(const struct pv_threshold *th);

/** What run measured for th (NaN: nothing to measure, or no such query). */
double pv_threshold_measure(const struct pv_threshold *th, const struct pv_run_result *run);

/** Whether measured (from pv_threshold_measure) meets th; NaN never does. */
bool pv_threshold_pass(const struct pv_threshold *th, double measured);

/**
 * Whether every threshold of t passes on every run of runs[0, nruns).
 * t may be NULL (true).
 */
bool pv_thresholds_all_pass(const pv_thresholds *t, const struct pv_run_result *const *runs,
                            size_t nruns);

/**
 * The line for a failed threshold, without a newline:
 * "p95 < 5ms (query lookup.sql): measured 7.31 ms" (whole run: "(whole
 * run)"; level > 0 adds ", c=LEVEL" inside the parentheses).
 */
void pv_threshold_describe(pv_buf *out, const struct pv_threshold *th, double measured, int level);

/* ---- --abort-on-fail ------------------------------------------------------ */

/* What the decision knows beside the snapshot. */
struct pv_threshold_live {
    uint64_t planned; /* count-based: executions the run will count at most; 0: time-based */
    double grace_s;   /* time-based: no decision on the cumulative figures before this */
};

/** The grace of a time-based run: PV_THRESHOLD_GRACE_INTERVALS intervals, at least 3 s. */
#define PV_THRESHOLD_GRACE_INTERVALS 3
double pv_threshold_grace(double interval_s);

/**
 * Whether th can no longer pass, given snap (a run's cumulative figures so
 * far: pv_run_snapshot, or a final result).
 *
 * Count-based runs (live->planned > 0) are decided only when it is
 * certain, whatever the remaining executions do: for the metrics that only
 * grow or shrink (max <, min >, failed <, executions <, succeeded <), once
 * the bound is crossed; for error_rate, avg, pN (<), qps (>), succeeded
 * and executions (>), when even the most favourable remaining executions
 * (all failing or all succeeding, at no latency) cannot bring the final
 * figure within the limit; everything else once every planned execution
 * ended.
 *
 * Time-based runs (planned 0) follow k6's abortOnFail: the monotone
 * metrics as above at once; the others (but counts with > or >=, which
 * only grow with time) when the cumulative figures fail after
 * live->grace_s of the run (snap->wall_s).
 *
 * why (cap bytes, may be NULL) gets a reason: "p95 < 5ms (whole run)
 * cannot pass: measured 7.31 ms" / "... already 12 of at most 100 ...".
 */
bool pv_threshold_doomed(const struct pv_threshold *th, const struct pv_run_result *snap,
                         const struct pv_threshold_live *live, char *why, size_t cap);

/* ---- reports --------------------------------------------------------------- */

struct pv_report;

/**
 * The run's `thresholds` array for the JSON report: [{"expr", "scope"
 * (or null), "source", "measured" (null when NaN), "unit", "limit",
 * "pass"}]. @return a new reference, or NULL when out of memory.
 */
json_t *pv_threshold_json(const pv_thresholds *t, const struct pv_run_result *run);

/**
 * The Thresholds block of the table (markdown false) or of the Markdown
 * report: per threshold (and level, for a sweep) the measured value and
 * pass or FAIL. Nothing when r has no thresholds. @return 0 or VOLLEY_ENOMEM.
 */
int pv_threshold_block(const struct pv_report *r, pv_buf *out, bool markdown);

#endif /* PV_THRESHOLD_H */
