/* cli_judge.c - thresholds in `pgvolley run` (cli_judge.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_judge.h"
#include "common/pv_buf.h"

struct cli_judge {
    pv_thresholds *t;
    bool abort_on_fail;
    uint64_t last_check_ns;
    char aborted[512]; /* "" until --abort-on-fail stopped a run */
};

/* Checks of the live figures at most this often. */
#define CLI_JUDGE_CHECK_NS 1000000000ull

int cli_judge_create(const char *const *exprs, int n, bool abort_on_fail, const pv_workload *wl,
                     struct cli_judge **out)
{
    pv_err err = {{0}};
    *out = NULL;
    struct cli_judge *j = calloc(1, sizeof(*j));
    if (!j || pv_thresholds_create(&j->t) != 0) {
        free(j);
        cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
        return CLI_EXIT_INTERNAL;
    }
    j->abort_on_fail = abort_on_fail;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = pv_thresholds_add_option(j->t, exprs[i], &err);
        if (rc == VOLLEY_EINPUT)
            cli_usage_error("run", "--threshold '%s': %s", exprs[i], err.msg);
    }
    for (size_t i = 0; i < pv_workload_count(wl) && rc == 0; i++) {
        rc = pv_thresholds_add_target(j->t, pv_workload_query(wl, i), &err);
        if (rc == VOLLEY_EINPUT)
            cli_error("%s", err.msg);
    }
    if (rc == 0) {
        rc = pv_thresholds_bind(j->t, wl, &err);
        if (rc == VOLLEY_EINPUT)
            cli_usage_error("run", "--threshold %s", err.msg);
    }
    if (rc == VOLLEY_ENOMEM)
        cli_error("%s", volley_strerror(rc));
    if (rc != 0 || pv_thresholds_count(j->t) == 0) {
        cli_judge_destroy(j);
        return rc == 0 ? CLI_EXIT_OK : cli_exit_for(rc);
    }
    *out = j;
    return CLI_EXIT_OK;
}

void cli_judge_destroy(struct cli_judge *j)
{
    if (!j)
        return;
    pv_thresholds_destroy(j->t);
    free(j);
}

const pv_thresholds *cli_judge_thresholds(const struct cli_judge *j)
{
    return j ? j->t : NULL;
}

const char *cli_judge_aborted(const struct cli_judge *j)
{
    return j && j->aborted[0] ? j->aborted : NULL;
}

bool cli_judge_tick(struct cli_judge *j, pv_run *run)
{
    if (!j || !j->abort_on_fail || j->aborted[0])
        return false;
    uint64_t now = pv_now_ns();
    if (now - j->last_check_ns < CLI_JUDGE_CHECK_NS)
        return false;
    j->last_check_ns = now;
    struct pv_progress p;
    pv_run_progress(run, &p);
    if (p.connecting || p.warming_up)
        return false;
    /* the figures as of the last interval boundary */
    struct pv_run_result *snap = NULL;
    if (pv_run_snapshot(run, &snap) != 0)
        return false; /* out of memory: judged at the end instead */
    double interval = snap->timeline.interval_s > 0 ? snap->timeline.interval_s : 1.0;
    struct pv_threshold_live live = {.planned = p.total, .grace_s = pv_threshold_grace(interval)};
    for (size_t i = 0; i < pv_thresholds_count(j->t); i++) {
        const struct pv_threshold *th = pv_thresholds_get(j->t, i);
        if (pv_threshold_doomed(th, snap, &live, j->aborted, sizeof(j->aborted))) {
            pv_run_stop(run);
            break;
        }
    }
    pv_run_result_free(snap);
    return j->aborted[0] != '\0';
}

bool cli_judge_verdict(const struct cli_judge *j, const struct pv_run_result *const *runs,
                       size_t nruns, bool sweep)
{
    if (!j)
        return true;
    bool all = true;
    pv_buf line = PV_BUF_INIT;
    for (size_t i = 0; i < pv_thresholds_count(j->t); i++) {
        const struct pv_threshold *th = pv_thresholds_get(j->t, i);
        for (size_t r = 0; r < nruns; r++) {
            double m = pv_threshold_measure(th, runs[r]);
            if (pv_threshold_pass(th, m))
                continue;
            all = false;
            pv_buf_reset(&line);
            pv_threshold_describe(&line, th, m, sweep ? runs[r]->concurrency : 0);
            fprintf(stderr, "pgvolley run: threshold failed: %s\n",
                    pv_buf_ok(&line) == 0 ? pv_buf_str(&line) : th->expr);
        }
    }
    pv_buf_fini(&line);
    return all;
}
