/*
 * batch.c - libvolley's batch API: four read-only queries at once, two of
 * them wrong, each result reported on its own with its column's type.
 *
 *   make && cc -Iinclude examples/batch.c build/libvolley.a \
 *      $(pkg-config --libs libpq libuv jansson inih) -lpg_query -lpthread -lm -o batch
 *   ./batch "host=/tmp dbname=postgres"        # or: pgvolley ephemeral -- ./batch
 */
#include <stdio.h>
#include <stdlib.h>

#include "volley.h"

int main(int argc, char **argv)
{
    char err[512];
    struct volley_client_options co;
    volley_client_options_init(&co);
    co.dsn = argc > 1 ? argv[1] : getenv("PGVOLLEY_DSN");
    co.allow_superuser = 1; /* only because a throwaway server's role is one */
    volley_client *c;
    if (volley_client_open(&co, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "batch: %s\n", err);
        return 2;
    }
    const char *const days[] = {"7"};
    struct volley_query q[] = {
        {.sql = "SELECT count(*) AS tables FROM pg_class WHERE relkind = 'r'", .label = "tables"},
        {.sql = "SELECT now() - make_interval(days => $1::int) AS week_ago",
         .label = "a week ago",
         .nparams = 1,
         .params = days},
        {.sql = "SELECT * FROM no_such_table", .label = "broken"},
        {.sql = "DELETE FROM pg_class", .label = "refused"},
    };
    size_t n = sizeof(q) / sizeof(q[0]);
    struct volley_result r[sizeof(q) / sizeof(q[0])];
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    bo.max_concurrency = 4;
    if (volley_batch_run(c, q, n, &bo, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "batch: %s\n", err);
        volley_client_close(c);
        return 2;
    }
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].ok)
            printf("%-10s ok, %zu row(s) in %.1f ms: %s::%s = %s\n", q[i].label, r[i].nrows,
                   r[i].ms, r[i].columns[0], r[i].types[0], r[i].cells[0] ? r[i].cells[0] : "NULL");
        else
            printf("%-10s failed (%s): %s\n", q[i].label, r[i].sqlstate, r[i].error);
        failed += !r[i].ok;
    }
    volley_results_free(r, n);
    volley_client_close(c);
    return failed ? 1 : 0;
}
