/*
 * cli_judge.h - thresholds in `pgvolley run`: --threshold and the files'
 * -- TARGET: headers gathered and checked before the run, --abort-on-fail
 * on the progress tick, and the verdict after the report (cli_judge.c).
 */
#ifndef PV_CLI_JUDGE_H
#define PV_CLI_JUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/pv_run.h"
#include "report/pv_threshold.h"
#include "workload/pv_workload.h"

struct cli_judge;

/**
 * The thresholds of exprs[0, n) (--threshold texts) and of wl's TARGET
 * headers, each scope bound to its query. *out is NULL when there is
 * none. Prints its errors ("--threshold 'p95 < 5xs': unknown unit ...",
 * "PATH:LINE:COL: TARGET: ...").
 * @return CLI_EXIT_OK, CLI_EXIT_USAGE or CLI_EXIT_INTERNAL (out of memory).
 */
int cli_judge_create(const char *const *exprs, int n, bool abort_on_fail, const pv_workload *wl,
                     struct cli_judge **out);
/** NULL is a no-op. */
void cli_judge_destroy(struct cli_judge *j);

/** The thresholds (borrowed), or NULL for j NULL. */
const pv_thresholds *cli_judge_thresholds(const struct cli_judge *j);

/**
 * With --abort-on-fail, on the progress tick of a running level: checks
 * the figures so far (at most once per second) and stops run when a
 * threshold can no longer pass (pv_threshold_doomed). j may be NULL.
 * @return true when it stopped the run (once; cli_judge_aborted says why).
 */
bool cli_judge_tick(struct cli_judge *j, pv_run *run);

/** Why --abort-on-fail stopped the run, or NULL. j may be NULL. */
const char *cli_judge_aborted(const struct cli_judge *j);

/**
 * After the report: one line on stderr per failed threshold and level
 * ("pgvolley run: threshold failed: p95 < 5ms (query lookup.sql): measured
 * 7.31 ms"). @return true when every threshold passed (also for j NULL).
 */
bool cli_judge_verdict(const struct cli_judge *j, const struct pv_run_result *const *runs,
                       size_t nruns, bool sweep);

#endif /* PV_CLI_JUDGE_H */
