/*
 * cli_diag.h - the diagnosis of a suite test that missed a target (issue 12
 * item 3): pv_diag's sampler of pg_stat_activity around the test's run,
 * then pv_diag_gather on the test's statements, into the test's report.
 */
#ifndef PV_CLI_DIAG_H
#define PV_CLI_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/pv_target.h"
#include "pgtmp/pv_pgtmp.h"
#include "suite/pv_diag.h"
#include "workload/pv_workload.h"

/* What a diagnosis gives the report; owned (cli_diag_result_fini). */
struct cli_diag_result {
    char *json;      /* the diagnosis object's text (runs[i].diagnosis) */
    char **findings; /* one line each, then the notes as "note: ..." */
    size_t nfindings;
};

void cli_diag_result_fini(struct cli_diag_result *r);

/**
 * Starts the sampler on its own connection to target. A sampler that
 * cannot start (the connection fails) is not an error: *out is NULL and
 * *why says why, for the diagnosis' notes (why: caller's buffer of cap).
 */
void cli_diag_sampler_start(const pv_target *target, pv_diag_sampler **out, char *why, size_t cap);

/**
 * Diagnoses the test whose workload is wl (its first file: a suite test is
 * one file), with one parameter set drawn with seed, the sampler's waits
 * (stopped here; NULL: none, sampler_why says why) and out filled.
 * @return 0; VOLLEY_ECONNECT or VOLLEY_ENOMEM with err set (the caller
 *         says so and goes on: a diagnosis is never worth a suite's result).
 */
int cli_diag_test(const pv_target *target, const pv_workload *wl, uint64_t seed,
                  pv_diag_sampler *sampler, const char *sampler_why, struct cli_diag_result *out,
                  pv_err *err);

/**
 * Starts the throwaway server of `suite --ephemeral` and `demo` with
 * pg_stat_statements preloaded and created in its database, so that a
 * diagnosis has the statements' statistics. A PostgreSQL without the module
 * (its server does not start with it) gets a server without it, and the
 * diagnosis says so in a note.
 * @return as pv_pgtmp_start.
 */
int cli_diag_pgtmp_start(pv_pgtmp **out, pv_err *err);

#endif /* PV_CLI_DIAG_H */
