/*
 * batch.c - libvolley's batch API: three read-only queries at once, one of
 * them wrong, each result reported on its own.
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
    const char *dsn = argc > 1 ? argv[1] : getenv("PGVOLLEY_DSN");
    char err[512];
    volley_client *c;
    /* allow_superuser = 1 only because a throwaway server's role is one */
    if (volley_client_open(NULL, dsn, 1, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "batch: %s\n", err);
        return 2;
    }
    const char *const days[] = {"7"};
    struct volley_query q[] = {
        {NULL, "SELECT count(*) AS tables FROM pg_class WHERE relkind = 'r'", "tables", 0, NULL},
        {NULL, "SELECT now() - make_interval(days => $1::int) AS week_ago", "a week ago", 1, days},
        {NULL, "SELECT * FROM no_such_table", "broken", 0, NULL},
        {NULL, "DELETE FROM pg_class", "refused", 0, NULL},
    };
    size_t n = sizeof(q) / sizeof(q[0]);
    struct volley_result r[sizeof(q) / sizeof(q[0])];
    if (volley_batch_run(c, q, n, 4, r, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "batch: %s\n", err);
        volley_client_close(c);
        return 2;
    }
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].ok)
            printf("%-10s ok, %zu row(s) in %.1f ms: %s = %s\n", q[i].label, r[i].nrows, r[i].ms,
                   r[i].columns[0], r[i].cells[0] ? r[i].cells[0] : "NULL");
        else
            printf("%-10s failed (%s): %s\n", q[i].label, r[i].sqlstate, r[i].error);
        failed += !r[i].ok;
    }
    volley_results_free(r, n);
    volley_client_close(c);
    return failed ? 1 : 0;
}
