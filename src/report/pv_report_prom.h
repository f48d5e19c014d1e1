/*
 * pv_report_prom.h - the result of `pgvolley run` in the Prometheus text
 * exposition format 0.0.4 (what `--prometheus FILE` writes for the node
 * exporter's textfile collector, and what `--metrics-listen` serves on
 * /metrics). `promtool check metrics` accepts it (tested).
 *
 * Metric families (all prefixed pgvolley_, base units, counters _total):
 *
 *   run_info{version,protocol,target_host,target_port,target_dbname,
 *            server_version}                       gauge 1 (never a password
 *                                                  or a DSN: the model has none)
 *   run_start_time_seconds, run_duration_seconds   gauges (epoch s; clock start
 *                                                  to the last counted end)
 *   run_finished, run_interrupted                  gauges 0/1
 *   concurrency, target_rate                       gauges (target_rate: the open
 *                                                  model's executions/s now, 0 closed)
 *   in_flight, pool_connections{state=open|in_use}, pool_waiting
 *                                                  gauges of a run in progress
 *                                                  (0 once it finished)
 *   pool_connections_max{state=open|in_use}       gauge: the most at once so far
 *   executions_total{query,status=ok|failed}       counter
 *   failures_total{query,sqlstate}                 counter
 *   retries_total{query}, rows_total{query}        counters
 *   query_duration_seconds{query}                  histogram of the successes
 *                                                  (_count == succeeded)
 *   open model only (some run has a rate):
 *   query_intended_duration_seconds{query},
 *   schedule_lag_seconds{query}                    histograms
 *   dropped_total{query}                           counter
 *
 * The query label is the workload file's name (pv_query.name); a name that
 * repeats gets " (2)", " (3)" ... in file order. There is no series for the
 * whole run: every counter and histogram bucket of the run is the sum of
 * its queries' (sum without (query) (...)), as Prometheus asks of labels.
 * Only a result that holds no queries (a progress-only view of a run in
 * progress) is written as the whole run, without the query label.
 *
 * A concurrency sweep (pv_report.sweep) adds concurrency="N" to every
 * series but run_info. Histogram buckets (le, seconds): PV_PROM_BUCKETS;
 * a pv_hist bucket counts below le when its midpoint is <= le, so a bucket
 * count is exact up to the pv_hist's resolution (1/1024 of the value);
 * _sum and _count are exact.
 */
#ifndef PV_REPORT_PROM_H
#define PV_REPORT_PROM_H

#include <stdint.h>

#include "common/pv_buf.h"
#include "report/pv_report.h"

/* The upper bounds of the latency histograms' buckets, in seconds, as
   written in le (the +Inf bucket follows them). */
#define PV_PROM_BUCKETS                                                                            \
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",   \
        "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"

/* The Content-Type of the text format 0.0.4 (for an HTTP response). */
#define PV_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The gauges of a run in progress (what struct pv_progress reads without
   locks); the report's last run is then a snapshot, not a final result. */
struct pv_prom_live {
    uint64_t in_flight;    /* executions sent, not yet ended */
    uint64_t pool_open;    /* connections open */
    uint64_t pool_in_use;  /* connections in use */
    uint64_t pool_waiting; /* executions waiting for a connection */
};

/**
 * Appends r in the text format to out. live: NULL when every run of r has
 * finished; else the gauges of r's last run, which is in progress
 * (run_finished 0). @return 0 or VOLLEY_ENOMEM (out is then to be
 * discarded).
 */
int pv_report_prom(const struct pv_report *r, const struct pv_prom_live *live, pv_buf *out);

/** Appends s to out as a label value: \ " and newline escaped (\\ \" \n). */
void pv_report_prom_label(pv_buf *out, const char *s);

#endif /* PV_REPORT_PROM_H */
