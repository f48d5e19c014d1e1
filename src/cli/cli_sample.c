/*
 * cli_sample.c - runs the workload's PARAMETERS_QUERY queries once, before
 * the runs, on one blocking connection, and gives their rows to the
 * workload (pv_workload_set_sample).
 */
#include <libpq-fe.h>
#include <stdlib.h>

#include "cli/cli_run.h"
#include "engine/pv_conn.h"
#include "engine/pv_target.h"

/* One query's rows into the workload; returns an exit code. */
static int sample_one(PGconn *c, pv_workload *wl, size_t qi, const struct pv_sample_query *sq)
{
    pv_err err = {{0}};
    PGresult *res = PQexecParams(c, sq->sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        pv_first_line(msg, sizeof(msg), res ? pv_conn_message(res) : PQerrorMessage(c));
        bool lost = PQstatus(c) != CONNECTION_OK;
        cli_error("%s:%d:%d: PARAMETERS_QUERY failed: %s%s%s", sq->path, sq->line, sq->col,
                  res ? pv_conn_sqlstate(res) : "", res ? " " : "", msg);
        PQclear(res);
        return lost ? CLI_EXIT_CONNECT : CLI_EXIT_USAGE;
    }
    size_t nrows = (size_t)PQntuples(res);
    int ncols = PQnfields(res);
    const char **cells = calloc(nrows * (size_t)ncols + 1, sizeof(*cells));
    if (!cells) {
        PQclear(res);
        cli_error("out of memory");
        return CLI_EXIT_INTERNAL;
    }
    for (size_t r = 0; r < nrows; r++) {
        for (int k = 0; k < ncols; k++)
            cells[r * (size_t)ncols + (size_t)k] =
                PQgetisnull(res, (int)r, k) ? NULL : PQgetvalue(res, (int)r, k);
    }
    int rc = pv_workload_set_sample(wl, qi, nrows, ncols, cells, &err);
    free(cells);
    PQclear(res);
    if (rc != 0) {
        cli_error("%s", err.msg);
        return cli_exit_for(rc);
    }
    return CLI_EXIT_OK;
}

int cli_sample_params(pv_workload *wl, const pv_target *target)
{
    PGconn *c = NULL;
    int code = CLI_EXIT_OK;
    for (size_t i = 0; i < pv_workload_count(wl) && code == CLI_EXIT_OK; i++) {
        const struct pv_query *q = pv_workload_query(wl, i);
        struct pv_sample_query sq;
        if (q->nscenarios != 1 || !pv_scenario_sample_query(&q->scenarios[0], q, &sq))
            continue;
        if (!c) {
            pv_err err = {{0}};
            int rc = pv_conn_connect_blocking(pv_target_keywords(target), pv_target_values(target),
                                              &c, &err);
            if (rc != 0) {
                cli_error("cannot connect to the server: %s", err.msg);
                return cli_exit_for(rc);
            }
        }
        code = sample_one(c, wl, i, &sq);
    }
    PQfinish(c);
    return code;
}
