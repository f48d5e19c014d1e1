/* cli_diag.c - the diagnosis of a suite test that missed a target. */
#include "cli/cli_diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"

/* pg_stat_activity read every this many ms during a test */
#define CLI_DIAG_SAMPLE_MS 100

void cli_diag_result_fini(struct cli_diag_result *r)
{
    if (!r)
        return;
    free(r->json);
    for (size_t i = 0; i < r->nfindings; i++)
        free(r->findings[i]);
    free(r->findings);
    memset(r, 0, sizeof(*r));
}

void cli_diag_sampler_start(const pv_target *target, pv_diag_sampler **out, char *why, size_t cap)
{
    pv_err err = {{0}};
    *out = NULL;
    why[0] = '\0';
    if (pv_diag_sampler_start(pv_target_keywords(target), pv_target_values(target),
                              CLI_DIAG_SAMPLE_MS, out, &err) != 0) {
        *out = NULL;
        snprintf(why, cap, "no waits sampled during the test: %s", err.msg);
    }
}

/* The findings, then the notes (prefixed), as owned lines. */
static int collect_lines(const pv_diag *d, const char *sampler_why, struct cli_diag_result *out)
{
    size_t nf = pv_diag_nfindings(d), nn = pv_diag_nnotes(d);
    size_t n = nf + nn + (sampler_why && sampler_why[0] ? 1 : 0);
    out->findings = calloc(n ? n : 1, sizeof(*out->findings));
    if (!out->findings)
        return VOLLEY_ENOMEM;
    pv_buf b = PV_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        pv_buf_reset(&b);
        if (i < nf)
            pv_buf_printf(&b, "%s", pv_diag_finding(d, i));
        else if (i < nf + nn)
            pv_buf_printf(&b, "note: %s", pv_diag_note(d, i - nf));
        else
            pv_buf_printf(&b, "note: %s", sampler_why);
        if (pv_buf_ok(&b) != 0 || !(out->findings[i] = pv_strdup(pv_buf_str(&b)))) {
            pv_buf_fini(&b);
            return VOLLEY_ENOMEM;
        }
        out->nfindings++;
    }
    pv_buf_fini(&b);
    return 0;
}

int cli_diag_test(const pv_target *target, const pv_workload *wl, uint64_t seed,
                  pv_diag_sampler *sampler, const char *sampler_why, struct cli_diag_result *out,
                  pv_err *err)
{
    memset(out, 0, sizeof(*out));
    pv_diag_sampler_stop(sampler);
    const struct pv_query *q = pv_workload_query(wl, 0);
    size_t n = q->nsteps > 0 ? (size_t)q->nsteps : 1;
    const char **sql = calloc(n, sizeof(*sql));
    if (!sql)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        sql[i] = q->nsteps > 0 ? q->steps[i].sql : q->sql;

    /* one parameter set as the run drew them (same seed, first stream) */
    struct pv_scenario_scratch x;
    pv_scenario_scratch_init(&x, seed, 0);
    const char *const *vals = NULL;
    int rc = q->nscenarios > 0 ? pv_scenario_values(&q->scenarios[0], &x, &vals) : 0;
    pv_diag *d = NULL;
    if (rc == 0) {
        struct pv_diag_request req = {
            .statements = sql,
            .nstatements = n,
            .param_values = vals,
            .nparams = vals ? (size_t)q->nparams : 0,
            .sampler = sampler,
        };
        rc = pv_diag_gather(pv_target_keywords(target), pv_target_values(target), &req, &d, err);
    } else {
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        pv_buf b = PV_BUF_INIT;
        if (pv_diag_json(d, &b) != 0 || pv_buf_ok(&b) != 0 ||
            collect_lines(d, sampler_why, out) != 0) {
            pv_buf_fini(&b);
            cli_diag_result_fini(out);
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        } else {
            out->json = b.data; /* ownership moves to out */
        }
    }
    pv_diag_destroy(d);
    pv_scenario_scratch_fini(&x);
    free(sql);
    return rc;
}

int cli_diag_pgtmp_start(pv_pgtmp **out, pv_err *err)
{
    static const char *const preload[] = {"shared_preload_libraries=pg_stat_statements", NULL};
    struct pv_pgtmp_opts opts = {.extra_settings = preload};
    cli_pgtmp_env(&opts);
    if (pv_pgtmp_start(&opts, out, err) != 0) {
        opts.extra_settings = NULL;
        return pv_pgtmp_start(&opts, out, err);
    }
    /* a failure leaves the diagnosis' note about the extension */
    pv_conninfo *ci = NULL;
    PGconn *pg = NULL;
    pv_err ignored = {{0}};
    if (pv_conninfo_create(pv_pgtmp_conninfo(*out), "pgvolley", &ci, &ignored) == 0 &&
        pv_conn_connect_blocking(pv_conninfo_keywords(ci), pv_conninfo_values(ci), &pg, &ignored) ==
            0)
        PQclear(PQexec(pg, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"));
    PQfinish(pg);
    pv_conninfo_destroy(ci);
    return 0;
}
