/*
 * cli_timeline.h - `pgvolley run --timeline FILE`: the run's finished
 * intervals written as CSV while the run goes (polled from the main
 * thread's loop), one row per interval and query and one "(all)" row per
 * interval; the columns are documented in docs/report-schema.md.
 */
#ifndef PV_CLI_TIMELINE_H
#define PV_CLI_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "engine/pv_run.h"
#include "workload/pv_workload.h"

/* How often the CSV is brought up to date during a run. */
#define CLI_TIMELINE_POLL_MS 100

struct cli_timeline {
    FILE *f; /* NULL: no --timeline (every call below is then a no-op) */
    const char *path;
    const pv_workload *wl; /* borrowed */
    uv_timer_t timer;
    bool timer_init;
    pv_run *run; /* being polled, or NULL */
    int level;
    bool rate;
    uint64_t seq;
    bool failed; /* a write failed (reported once, at the end) */
};

/** Creates path (replacing it) and writes the header row. Prints its error.
    @return CLI_EXIT_OK or CLI_EXIT_USAGE. */
int cli_timeline_open(struct cli_timeline *t, const char *path, const pv_workload *wl);
/** Polls run's finished intervals every CLI_TIMELINE_POLL_MS on loop;
    level is the run's concurrency, rate whether it runs the open model
    (the rate and lag columns are empty otherwise). */
void cli_timeline_start(struct cli_timeline *t, uv_loop_t *loop, pv_run *run, int level, bool rate);
/** After pv_run_wait: stops polling and writes the intervals left. */
void cli_timeline_end(struct cli_timeline *t);
/** Closes the timer (before the loop closes) and the file. Prints a write
    error. @return CLI_EXIT_OK or CLI_EXIT_INTERNAL. */
int cli_timeline_close(struct cli_timeline *t);
/** PGVOLLEY_TIMELINE_CAP (for tests: a lower cap of kept points), or 0. */
int cli_timeline_cap(void);

#endif /* PV_CLI_TIMELINE_H */
