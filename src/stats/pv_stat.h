/*
 * pv_stat.h - statistics of one group of executions (a scenario, a file,
 * a whole run): counts, latency histogram and errors by SQLSTATE.
 *
 * Identities (tested):
 *   executions == succeeded + failed
 *   pv_hist_count(latency) == succeeded     (latency is of successful executions)
 *   sum_ns == sum of the latencies of all executions, failed ones included
 *   sum over errors[i].count == failed
 *   an execution retried after a transient error counts once, with the
 *   outcome and latency of its last attempt; retries counts the extra attempts
 *
 * A pv_stat is owned by one thread while it records; groups are combined
 * with pv_stat_merge afterwards.
 */
#ifndef PV_STAT_H
#define PV_STAT_H

#include <stdint.h>

#include "common/pv_common.h"
#include "stats/pv_hist.h"

/* Errors are kept by SQLSTATE; the first message seen for a code is kept. */
struct pv_errstat {
    char sqlstate[6];
    char *message;
    uint64_t count;
};

struct pv_stat {
    uint64_t succeeded;
    uint64_t failed;
    uint64_t rows;    /* rows returned (or affected) by successful executions */
    uint64_t sum_ns;  /* latency of every execution, ok or failed */
    uint64_t retries; /* extra attempts after transient errors (not executions) */
    pv_hist *latency; /* created at the first success: NULL while there is none */
    struct pv_errstat *errors;
    size_t nerrors;
    size_t errcap;
};

/* Latency summary in milliseconds (of successful executions). */
struct pv_latency_ms {
    double min, avg, stddev, p50, p90, p95, p99, p999, max;
};

/** Zeroes s (its histogram comes with the first success). @return 0. */
int pv_stat_init(struct pv_stat *s);
/** Frees what s owns; safe on a zeroed struct. */
void pv_stat_fini(struct pv_stat *s);

/** Records a successful execution. @return 0 or VOLLEY_ENOMEM. */
int pv_stat_ok(struct pv_stat *s, uint64_t latency_ns, uint64_t rows);

/**
 * Records a failed execution with its SQLSTATE (5 characters; "" is
 * recorded as "XX000") and message (copied the first time a code is seen).
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_stat_fail(struct pv_stat *s, uint64_t latency_ns, const char *sqlstate, const char *message);

/** dst += src. @return 0 or VOLLEY_ENOMEM. */
int pv_stat_merge(struct pv_stat *dst, const struct pv_stat *src);

/** dst += src, taking src's histogram when dst has none yet (src is then
    left without one: merge it nowhere else). @return 0 or VOLLEY_ENOMEM. */
int pv_stat_merge_move(struct pv_stat *dst, struct pv_stat *src);

/** Executions recorded (succeeded + failed). */
static inline uint64_t pv_stat_executions(const struct pv_stat *s)
{
    return s->succeeded + s->failed;
}

/** Fills out from h, in ms (all zero when h is NULL or empty). */
void pv_latency_of(const pv_hist *h, struct pv_latency_ms *out);

/** Fills out from the histogram (all zero when nothing succeeded). */
static inline void pv_stat_latency(const struct pv_stat *s, struct pv_latency_ms *out)
{
    pv_latency_of(s->latency, out);
}

/** Sorts errors by count, descending (then by SQLSTATE). */
void pv_stat_sort_errors(struct pv_stat *s);

#endif /* PV_STAT_H */
