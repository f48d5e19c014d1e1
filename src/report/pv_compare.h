/*
 * pv_compare.h - `pgvolley compare`: two JSON reports (schema
 * "pgvolley.report/1"), a baseline and a new run, compared per query
 * (matched by name) and overall, level by level for a sweep (matched by
 * concurrency; two single runs are matched whatever their concurrency).
 *
 * Figures: throughput (qps) and latency avg, p50, p95, p99 and max (ms, of
 * the successful executions). change = (new - base) / base, in %.
 * A regression: throughput down, or a latency up, by more than
 * max_regression_pct (default 10, seed 004's rule).
 *
 * Noise: when both run objects carry a `timeline` (per-interval figures),
 * the run-to-run noise of a figure is estimated from its per-interval
 * values, Welch-style: noise = 2 * sqrt(var_base / n_base + var_new /
 * n_new), var the sample variance of the intervals' values (qps for qps,
 * avg/p50/p95/p99/max for the same figure), n their number (at least 2 each). A change
 * beyond the limit but with |new - base| <= noise is "within noise", not a
 * regression. Without timelines the noise is unknown (and said so).
 */
#ifndef PV_COMPARE_H
#define PV_COMPARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"

#define PV_COMPARE_DEFAULT_PCT 10.0

enum pv_compare_format { PV_COMPARE_TABLE, PV_COMPARE_MARKDOWN, PV_COMPARE_JSON };

enum pv_compare_verdict {
    PV_CMP_OK,         /* within the limit */
    PV_CMP_IMPROVED,   /* better by more than the limit */
    PV_CMP_REGRESSION, /* worse by more than the limit, beyond the noise */
    PV_CMP_NOISE,      /* beyond the limit, but within the noise */
    PV_CMP_NA,         /* cannot be compared (missing, or a zero baseline) */
    PV_CMP_INFO,       /* shown, never gated: max (one slow execution moves it) */
};

/* One figure of one group (a query, or the whole run) at one level. */
struct pv_compare_row {
    int concurrency;    /* the new run's */
    char *scope;        /* a query's name, or NULL: overall */
    const char *metric; /* "qps", "avg", "p50", "p95", "p99", "max" */
    double base, new_;  /* NaN when missing */
    double change_pct;  /* NaN when it cannot be computed */
    double noise_pct;   /* the noise relative to base, in %; NaN when unknown */
    enum pv_compare_verdict verdict;
};

typedef struct pv_compare pv_compare;

/**
 * Compares two parsed reports (borrowed); names are what messages and the
 * output call them (file names). max_regression_pct >= 0.
 * @return 0, VOLLEY_EINPUT (err: "NAME: not a pgvolley report ...") or
 *         VOLLEY_ENOMEM. *out is owned by the caller (pv_compare_destroy).
 */
int pv_compare_json(const json_t *base, const char *base_name, const json_t *new_,
                    const char *new_name, double max_regression_pct, pv_compare **out, pv_err *err);

/**
 * Reads and compares two report files. @return as pv_compare_json, and
 * VOLLEY_EIO / VOLLEY_EINPUT for a file that cannot be read or is not
 * JSON ("PATH:LINE:COL: what").
 */
int pv_compare_files(const char *base_path, const char *new_path, double max_regression_pct,
                     pv_compare **out, pv_err *err);

/** NULL is a no-op. */
void pv_compare_destroy(pv_compare *c);

/** Number of regressions (rows with PV_CMP_REGRESSION). */
size_t pv_compare_regressions(const pv_compare *c);

/** The rows, in output order; borrowed from c. */
size_t pv_compare_nrows(const pv_compare *c);
const struct pv_compare_row *pv_compare_row(const pv_compare *c, size_t i);

/** "ok", "improved", "REGRESSION", "within noise", "n/a". */
const char *pv_compare_verdict_name(enum pv_compare_verdict v);

/**
 * The comparison as a table, a Markdown table fit for a pull-request
 * comment, or JSON ({"schema": "pgvolley.compare/1", ...}).
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_compare_write(const pv_compare *c, enum pv_compare_format format, pv_buf *out);

#endif /* PV_COMPARE_H */
