/*
 * cli_prom.h - Prometheus for `pgvolley run` (cli_prom.c): the text-format
 * file of --prometheus FILE (node exporter's textfile collector), and the
 * /metrics server of --metrics-listen ADDR:PORT (--metrics-linger SEC).
 *
 * One per process (`run` is one command per process): the state is
 * cli_prom.c's. cmd_run.c calls, in this order:
 *   cli_prom_start          before anything runs (checks and binds)
 *   cli_prom_target         once the target is known
 *   cli_prom_run_begin/_end around each concurrency level
 *   cli_prom_report         with the final report (also an interrupted one)
 *   cli_prom_forget         before the runs are destroyed
 *   cli_prom_stop           at the end (lingers, then stops the server)
 * Each is a no-op when neither option was given.
 */
#ifndef PV_CLI_PROM_H
#define PV_CLI_PROM_H

#include "cli/cli_run.h"
#include "report/pv_report.h"

/** Checks --prometheus FILE (as -o), parses --metrics-listen and starts its
    server. Prints its errors. @return CLI_EXIT_OK or CLI_EXIT_USAGE (bad
    address, port in use, file not writable: nothing ran). */
int cli_prom_start(const struct cli_run_opts *o);

/** The target of the run (copied). */
void cli_prom_target(const struct pv_target_info *t);

/** A level starts: run is borrowed until cli_prom_run_end or cli_prom_forget
    (its live figures come from pv_run_snapshot and pv_run_progress). */
void cli_prom_run_begin(pv_run *run);

/** The level that ran ended with res (borrowed until cli_prom_forget), or
    NULL when it failed. */
void cli_prom_run_end(const struct pv_run_result *res);

/** Writes --prometheus FILE (atomically) from the final report and makes
    it what /metrics serves from now on. Prints its errors.
    @return CLI_EXIT_OK or CLI_EXIT_INTERNAL. */
int cli_prom_report(const struct cli_run_opts *o, const struct pv_report *rep);

/** Drops every borrowed run and result (the server keeps the final text). */
void cli_prom_forget(void);

/** Serves the final metrics --metrics-linger seconds more (a signal ends
    the wait), then stops the server. */
void cli_prom_stop(void);

#endif /* PV_CLI_PROM_H */
