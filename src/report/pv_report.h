/*
 * pv_report.h - writers for the result of `pgvolley run`: a terminal table
 * (seed 002's summary layout), JSON (schema "pgvolley.report/1", documented
 * in docs/report-schema.md) and Markdown.
 *
 * One model in, text out: every writer appends to a pv_buf and never
 * prints; the caller writes the buffer (atomically, for files). Nothing a
 * writer emits can contain a password: the model holds none.
 *
 * A report holds one run, or several for a concurrency sweep (-c 1,5,10):
 * the table then has a row per level, JSON has "sweep": true and "runs".
 */
#ifndef PV_REPORT_H
#define PV_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pv_buf.h"
#include "engine/pv_run.h"
#include "engine/pv_target.h"

/*
 * A suite (pgvolley suite, docs/suite.md): one run per test, each with its
 * label, its own thresholds and verdict, and the diagnosis the caller may
 * attach (issue 12). Every string and array is borrowed.
 */
struct pv_report_test {
    const char *name;     /* "pk_lookup" */
    const char *category; /* "indexed" */
    const char *file;     /* the file as the suite names it: "indexed/pk_lookup.sql" */
    /* the test's own thresholds (its -- TARGET:), evaluated on its run; NULL: none */
    const struct pv_thresholds *thresholds;
    bool pass; /* every threshold passed and no execution failed */
    /* the diagnosis of a test that missed a target (contract 3 of the
       issue 12 plan): a JSON object's text, put as runs[i].diagnosis, or
       NULL; and its findings, one line each, shown under the table (a line
       starting "note: " is shown as a note: what could not be read) */
    const char *diagnosis_json;
    const char *const *findings;
    size_t nfindings;
};

struct pv_report_suite {
    const char *name;                   /* "default", or the directory's base name */
    const char *source;                 /* "built-in", or the directory as given */
    const struct pv_report_test *tests; /* one per run, in run order */
};

struct pv_report {
    const struct pv_target_info *target;     /* borrowed */
    size_t nruns;                            /* >= 1 */
    const struct pv_run_result *const *runs; /* borrowed, in sweep order */
    bool sweep;                              /* several concurrency levels asked for */
    bool interrupted;                        /* stopped by Ctrl-C: partial */
    double started_at;                       /* epoch seconds */
    int shard_index, shard_count;            /* --shard I/N; shard_count 0 = not sharded */
    /* thresholds given (--threshold, -- TARGET:): evaluated on each run by
       every writer; NULL or empty: none (no "thresholds" in the JSON) */
    const struct pv_thresholds *thresholds; /* borrowed */
    const char *aborted; /* why the caller stopped the run (--abort-on-fail), or NULL */
    /* a suite: each run is a test (r->thresholds is then unused: each test
       has its own); NULL: a run or a sweep */
    const struct pv_report_suite *suite;
};

/** Why the run was stopped early: r->aborted, else why a run of the report
    stopped itself (pv_run_result.aborted), else NULL. */
const char *pv_report_aborted(const struct pv_report *r);

/*
 * Every writer appends to out and returns 0 or VOLLEY_ENOMEM; on
 * VOLLEY_ENOMEM out holds a partial text (or has its oom flag set) and is
 * to be discarded. The text grows with the number of scenarios (the JSON
 * report about 620 bytes each, the table about 130); the summary does not.
 */

/**
 * Pretty-printed JSON with a trailing newline, written as it goes: besides
 * the text it needs memory for one scenario's objects at a time, not for a
 * tree of the whole report. @return 0 or VOLLEY_ENOMEM.
 */
int pv_report_json(const struct pv_report *r, pv_buf *out);

/**
 * Terminal table: per file and per scenario rows (name, executions, ok,
 * failed, avg, p50, p95, p99, max ms, QPS), a total row, a summary block
 * (executions, sequential time = sum of latencies, wall time, speedup,
 * throughput, pool) and errors by SQLSTATE. For a sweep: one row per level.
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_report_table(const struct pv_report *r, pv_buf *out);

/**
 * The table without its row per file and scenario: target, config, the
 * total row, the summary block and the errors (a sweep's table is already
 * one row per level, and is written whole). Its size does not depend on
 * the number of scenarios: the report of last resort when the full one
 * could not be rendered. @return 0 or VOLLEY_ENOMEM.
 */
int pv_report_summary(const struct pv_report *r, pv_buf *out);

/** The same content as the table, as GitHub-flavoured Markdown. */
int pv_report_markdown(const struct pv_report *r, pv_buf *out);

/**
 * One point of a run's timeline as one line of compact JSON, the object the
 * report's "timeline" array holds (docs/report-schema.md), appended to out
 * (`pgvolley serve` streams them as the run goes). run gives the queries'
 * names and the rate (only its rate, nqueries, queries[i].query and
 * timeline.nqueries are read). @return 0 or VOLLEY_ENOMEM.
 */
int pv_report_timeline_point(const struct pv_run_result *run, const struct pv_tl_point *p,
                             pv_buf *out);

/** Queries per second of n executions over wall_s (0 when wall_s is 0). */
double pv_report_qps(uint64_t n, double wall_s);

#endif /* PV_REPORT_H */
