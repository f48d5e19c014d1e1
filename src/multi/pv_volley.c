/* pv_volley.c - the public batch API (volley_client_*, volley_batch_run) over pv_batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"

struct volley_client {
    pv_datasets *ds;
    pv_batch_engine *engine;
};

static void put_err(char *err, size_t errlen, const pv_err *e, int rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", e->msg[0] ? e->msg : volley_strerror(rc));
}

int volley_client_open(const char *datasets_file, const char *dsn, int allow_superuser,
                       volley_client **out, char *err, size_t errlen)
{
    pv_err e = {{0}};
    volley_client *c = calloc(1, sizeof(*c));
    if (!c)
        return VOLLEY_ENOMEM;
    int rc = datasets_file ? pv_datasets_load(datasets_file, &c->ds, &e)
                           : pv_datasets_from_dsn(dsn ? dsn : "", &c->ds, &e);
    if (rc == 0) {
        struct pv_batch_opts o = {0};
        o.allow_superuser = allow_superuser != 0;
        rc = pv_batch_engine_create(c->ds, &o, &c->engine, &e);
    }
    if (rc != 0) {
        put_err(err, errlen, &e, rc);
        volley_client_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void volley_client_close(volley_client *c)
{
    if (!c)
        return;
    pv_batch_engine_destroy(c->engine);
    pv_datasets_destroy(c->ds);
    free(c);
}

struct run_ctx {
    struct pv_bresult *res;
    struct volley_result *out;
    void (*on_result)(void *arg, size_t index, const struct volley_result *r);
    void *arg;
};

/* Moves a pv_bresult into a volley_result (types are dropped). */
static void move_result(struct pv_bresult *from, struct volley_result *to)
{
    memset(to, 0, sizeof(*to));
    to->ok = from->ok;
    memcpy(to->sqlstate, from->sqlstate, sizeof(to->sqlstate));
    to->error = from->message;
    to->ncols = from->ncols;
    to->columns = from->cols;
    to->nrows = from->nrows;
    to->cells = from->cells;
    to->truncated = from->truncated;
    to->ms = from->ms;
    for (int i = 0; i < from->ncols; i++)
        free(from->types[i]);
    free(from->types);
    memset(from, 0, sizeof(*from));
}

static void on_result(void *arg, size_t i, const struct pv_bresult *r)
{
    struct run_ctx *x = arg;
    (void)r;
    move_result(&x->res[i], &x->out[i]);
    if (x->on_result)
        x->on_result(x->arg, i, &x->out[i]);
}

int volley_batch_run(volley_client *c, const struct volley_query *queries, size_t n,
                     int max_concurrency, struct volley_result *results,
                     void (*cb)(void *arg, size_t index, const struct volley_result *r), void *arg,
                     char *err, size_t errlen)
{
    pv_err e = {{0}};
    if (n == 0) {
        pv_err_set(&e, VOLLEY_EINVAL, "no queries");
        put_err(err, errlen, &e, VOLLEY_EINVAL);
        return VOLLEY_EINVAL;
    }
    struct pv_bquery *q = calloc(n, sizeof(*q));
    struct pv_bresult *res = calloc(n, sizeof(*res));
    if (!q || !res) {
        free(q);
        free(res);
        return VOLLEY_ENOMEM;
    }
    int rc = 0;
    size_t nds = pv_datasets_count(c->ds);
    for (size_t i = 0; i < n && rc == 0; i++) {
        int idx =
            queries[i].dataset ? pv_datasets_index(c->ds, queries[i].dataset) : (nds == 1 ? 0 : -1);
        if (idx < 0)
            rc = pv_err_set(&e, VOLLEY_EINVAL, "query %zu: %s", i + 1,
                            queries[i].dataset ? "unknown dataset"
                                               : "no dataset given and there are several");
        else if (!queries[i].sql)
            rc = pv_err_set(&e, VOLLEY_EINVAL, "query %zu: no SQL", i + 1);
        q[i].dataset = idx;
        q[i].sql = queries[i].sql;
        q[i].label = queries[i].label;
        q[i].nparams = queries[i].nparams;
        q[i].params = queries[i].params;
    }
    memset(results, 0, n * sizeof(*results));
    struct run_ctx x = {res, results, cb, arg};
    struct pv_batch_callbacks cbs = {on_result, NULL, &x};
    pv_batch *b = NULL;
    if (rc == 0)
        rc = pv_batch_submit(c->engine, q, n, max_concurrency > 0 ? max_concurrency : 1, res, &cbs,
                             &b, &e);
    if (rc == 0)
        pv_batch_wait(b);
    else
        put_err(err, errlen, &e, rc);
    free(q);
    free(res);
    return rc;
}

void volley_results_free(struct volley_result *results, size_t n)
{
    for (size_t i = 0; results && i < n; i++) {
        struct volley_result *r = &results[i];
        for (int k = 0; k < r->ncols; k++)
            free(r->columns[k]);
        for (size_t k = 0; r->cells && k < r->nrows * (size_t)r->ncols; k++)
            free(r->cells[k]);
        free(r->columns);
        free(r->cells);
        free(r->error);
        memset(r, 0, sizeof(*r));
    }
}
