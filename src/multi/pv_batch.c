/*
 * pv_batch.c - the read-only batch executor: its loop thread, batches and
 * their scheduling, and the public API (pools and the per-query sequence are
 * in pv_batch_conn.c).
 *
 * Threads: pv_batch_submit/cancel run on the caller's thread and only touch
 * the engine's mutex-protected inbox (then wake the loop); everything else
 * runs on the engine thread. A batch's results are written by the engine
 * thread only, and read by the caller after on_done / pv_batch_wait.
 */
#include "multi/pv_batch.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "multi/pv_batch_int.h"

/* ---- results ---------------------------------------------------------- */

void pv_batch__res_fail(struct pv_bresult *r, const char *sqlstate, const char *msg)
{
    if (!r->ok && r->message)
        return; /* keep the first error */
    r->ok = false;
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate);
    char line[1024];
    pv_first_line(line, sizeof(line), msg);
    free(r->message);
    r->message = strdup(line);
}

void pv_bresult_fini(struct pv_bresult *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ncols; i++) {
        free(r->cols ? r->cols[i] : NULL);
        free(r->types ? r->types[i] : NULL);
    }
    for (size_t i = 0; r->cells && i < r->nrows * (size_t)r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    free(r->cols);
    free(r->types);
    free(r->message);
    memset(r, 0, sizeof(*r));
}

/* Names of the common built-in types; others are shown as "oid:N". */

/* ---- batches and scheduling ------------------------------------------- */

static void batch_complete(struct pv_batch *b)
{
    struct pv_batch_engine *e = b->e;
    for (struct pv_batch **pp = &e->active; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    e->completions++;
    if (b->cb.on_done)
        b->cb.on_done(b->cb.arg);
    if (b->detached) {
        free(b->started);
        free(b->jobs);
        free(b);
        return;
    }
    uv_mutex_lock(&e->mu);
    b->finished = true;
    uv_cond_broadcast(&e->cond);
    uv_mutex_unlock(&e->mu);
}

void pv_batch__job_finish(struct job *j)
{
    struct pv_batch *b = j->b;
    struct pv_bresult *r = &b->res[j->index];
    j->c = NULL; /* its connection let go of it already */
    if (r->ms == 0 && j->t0)
        r->ms = (double)(pv_now_ns() - j->t0) / 1e6;
    b->running--;
    b->done++;
    if (b->cb.on_result)
        b->cb.on_result(b->cb.arg, j->index, r);
    if (b->done == b->n)
        batch_complete(b);
}

/* Starts query i of b: guard, then a connection (or the wait queue). */
static void job_start(struct pv_batch *b, size_t i)
{
    struct pv_batch_engine *e = b->e;
    struct job *j = &b->jobs[i];
    const struct pv_bquery *q = &b->q[i];
    struct pool *p = &e->pools[q->dataset];
    j->b = b;
    j->index = i;
    b->started[i] = true;
    b->running++;
    pv_err err = {{0}};
    struct pv_guard_opts g = e->opts.guard;
    if (!q->internal) { /* the dataset's table allow-lists */
        g.allow_schemas = (const char *const *)p->d->allow_schemas;
        g.allow_tables = (const char *const *)p->d->allow_tables;
    }
    g.explain_analyze = q->explain_analyze;
    int rc = pv_guard_check(q->sql, &g, &err);
    if (rc != 0) {
        pv_batch__res_fail(&b->res[i],
                           rc == VOLLEY_ENOMEM ? PV_SQLSTATE_OUT_OF_MEMORY : PV_SQLSTATE_READ_ONLY,
                           rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
        pv_batch__job_finish(j);
        return;
    }
    pv_batch__pool_acquire(p, j);
}

/*
 * Cancels what is left of b: running queries get a cancel request (they end
 * with 57014 and still roll back), queued ones fail at once. May complete
 * (and free, if detached) b.
 */
static void batch_cancel_now(struct pv_batch *b)
{
    struct pv_batch_engine *e = b->e;
    b->cancel_done = true;
    for (size_t i = 0; i < b->n; i++) {
        struct job *j = &b->jobs[i];
        if (b->started[i] && j->c) {
            pv_batch__res_fail(&b->res[i], PV_SQLSTATE_CANCELLED, "cancelled");
            pv_batch__job_cancel(j);
        }
    }
    /* jobs waiting for a connection leave the pool queues */
    for (size_t k = 0; k < e->npools; k++) {
        struct pool *p = &e->pools[k];
        /* one pass over the queue: b's jobs out, the others back in order */
        struct job *mine = NULL;
        for (int left = p->wait.n; left > 0; left--) {
            struct job *j = pv_batch__wait_pop(p);
            if (j->b == b) {
                j->next = mine;
                mine = j;
            } else {
                pv_batch__wait_push(p, j);
            }
        }
        while (mine) {
            struct job *j = mine;
            mine = j->next;
            pv_batch__res_fail(&b->res[j->index], PV_SQLSTATE_CANCELLED, "cancelled");
            bool last = b->done + 1 == b->n;
            pv_batch__job_finish(j);
            if (last)
                return;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->started[i])
            continue;
        b->started[i] = true;
        b->running++;
        b->jobs[i].b = b;
        b->jobs[i].index = i;
        pv_batch__res_fail(&b->res[i], PV_SQLSTATE_CANCELLED, "cancelled");
        bool last = b->done + 1 == b->n;
        pv_batch__job_finish(&b->jobs[i]);
        if (last)
            return;
    }
}

static void maybe_shutdown(struct pv_batch_engine *e);

/*
 * Starts what may start. A batch can complete (and be freed by its waiter)
 * inside job_start or batch_cancel_now - even another batch than the one at
 * hand, through a failed connect - so after any completion the walk starts
 * again from the head and never touches a batch pointer it held before.
 */
void pv_batch__schedule(struct pv_batch_engine *e)
{
again:
    for (struct pv_batch *b = e->active; b; b = b->next) {
        uint64_t seen = e->completions;
        if (atomic_load(&b->cancel) && !b->cancel_done) {
            batch_cancel_now(b);
            goto again;
        }
        for (size_t i = 0; i < b->n && b->running < b->max_conc; i++) {
            if (b->started[i])
                continue;
            struct pool *p = &e->pools[b->q[i].dataset];
            if (p->running + p->wait.n >= p->d->max_concurrency)
                continue;
            job_start(b, i);
            if (e->completions != seen)
                goto again;
        }
    }
    maybe_shutdown(e);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* When closing and nothing runs any more: close connections and handles. */
static void maybe_shutdown(struct pv_batch_engine *e)
{
    if (!e->closing || e->active)
        return;
    bool busy = false;
    for (size_t k = 0; k < e->npools; k++) {
        struct pool *p = &e->pools[k];
        busy |= pv_batch__pool_close_idle(p);
    }
    if (busy || uv_is_closing((uv_handle_t *)&e->wake))
        return;
    uv_close((uv_handle_t *)&e->wake, on_handle_closed);
    uv_close((uv_handle_t *)&e->reaper, on_handle_closed);
}

/* ---- engine thread ---------------------------------------------------- */

static void on_wake(uv_async_t *a)
{
    struct pv_batch_engine *e = a->data;
    uv_mutex_lock(&e->mu);
    struct pv_batch *in = e->inbox;
    e->inbox = NULL;
    bool stop = e->stop;
    uv_mutex_unlock(&e->mu);
    while (in) {
        struct pv_batch *b = in;
        in = in->next;
        b->next = e->active;
        e->active = b;
    }
    if (stop && !e->closing) {
        e->closing = true;
        for (struct pv_batch *b = e->active; b; b = b->next)
            atomic_store(&b->cancel, 1);
    }
    pv_batch__schedule(e);
}

/* Closes idle connections above pool_min after idle_lifetime_s. */
static void on_reaper(uv_timer_t *t)
{
    struct pv_batch_engine *e = t->data;
    if (e->closing) {
        maybe_shutdown(e);
        return;
    }
    uint64_t now = uv_now(&e->loop);
    for (size_t k = 0; k < e->npools; k++)
        pv_batch__pool_reap(&e->pools[k], now);
}

static void engine_main(void *arg)
{
    struct pv_batch_engine *e = arg;
    /* named for top, gdb and the test that checks no name lookup runs here */
    pthread_setname_np(pthread_self(), "pv-batch");
    uv_run(&e->loop, UV_RUN_DEFAULT);
}

/* ---- public ----------------------------------------------------------- */

static void pools_free(struct pv_batch_engine *e)
{
    for (size_t k = 0; e->pools && k < e->npools; k++)
        pv_conninfo_destroy(e->pools[k].ci);
    free(e->pools);
}

int pv_batch_engine_create(const pv_datasets *ds, const struct pv_batch_opts *opts,
                           pv_batch_engine **out, pv_err *err)
{
    struct pv_batch_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return VOLLEY_ENOMEM;
    int rc = VOLLEY_ENOMEM;
    e->ds = ds;
    if (opts)
        e->opts = *opts;
    e->npools = pv_datasets_count(ds);
    e->pools = calloc(e->npools ? e->npools : 1, sizeof(*e->pools));
    if (!e->pools)
        goto fail;
    for (size_t k = 0; k < e->npools; k++) {
        struct pool *p = &e->pools[k];
        p->e = e;
        p->d = pv_datasets_get(ds, k);
        pv_err cerr;
        rc = pv_conninfo_create(p->d->dsn, "pgvolley-multi", &p->ci, &cerr);
        if (rc == 0) /* the guard parses UTF-8: the server must send and read UTF-8 too */
            rc = pv_conninfo_set(p->ci, "client_encoding", "UTF8");
        if (rc != 0) {
            /* cerr never echoes the DSN: it may hold a password */
            if (rc != VOLLEY_ENOMEM)
                pv_err_set(err, rc, "dataset '%s': %s", p->d->name, cerr.msg);
            goto fail;
        }
        p->lookup = pv_conninfo_host_to_resolve(p->ci);
    }
    rc = VOLLEY_EIO;
    if (uv_loop_init(&e->loop) != 0)
        goto fail;
    uv_mutex_init(&e->mu);
    uv_cond_init(&e->cond);
    uv_async_init(&e->loop, &e->wake, on_wake);
    e->wake.data = e;
    uv_timer_init(&e->loop, &e->reaper);
    e->reaper.data = e;
    uv_timer_start(&e->reaper, on_reaper, PV_BATCH_REAPER_MS, PV_BATCH_REAPER_MS);
    if (uv_thread_create(&e->thread, engine_main, e) != 0) {
        /* cannot happen in practice; the loop's handles are left unclosed */
        return pv_err_set(err, VOLLEY_EIO, "cannot start the batch engine thread");
    }
    *out = e;
    return 0;
fail:
    pools_free(e);
    free(e);
    return rc;
}

void pv_batch_engine_destroy(pv_batch_engine *e)
{
    if (!e)
        return;
    uv_mutex_lock(&e->mu);
    e->stop = true;
    uv_mutex_unlock(&e->mu);
    uv_async_send(&e->wake);
    uv_thread_join(&e->thread);
    uv_loop_close(&e->loop);
    uv_cond_destroy(&e->cond);
    uv_mutex_destroy(&e->mu);
    pools_free(e);
    free(e);
}

const pv_datasets *pv_batch_datasets(const pv_batch_engine *e)
{
    return e->ds;
}

int pv_batch_submit(pv_batch_engine *e, const struct pv_bquery *q, size_t n, int max_concurrency,
                    struct pv_bresult *results, const struct pv_batch_callbacks *cb, pv_batch **out,
                    pv_err *err)
{
    if (n == 0)
        return pv_err_set(err, VOLLEY_EINVAL, "no queries");
    for (size_t i = 0; i < n; i++) {
        if (q[i].dataset < 0 || (size_t)q[i].dataset >= e->npools)
            return pv_err_set(err, VOLLEY_EINVAL, "query %zu: no dataset %d", i + 1, q[i].dataset);
        if (!q[i].sql)
            return pv_err_set(err, VOLLEY_EINVAL, "query %zu: no SQL", i + 1);
    }
    struct pv_batch *b = calloc(1, sizeof(*b));
    bool *started = calloc(n, sizeof(*started));
    struct job *jobs = calloc(n, sizeof(*jobs));
    if (!b || !started || !jobs) {
        free(b);
        free(started);
        free(jobs);
        return VOLLEY_ENOMEM;
    }
    memset(results, 0, n * sizeof(*results));
    b->e = e;
    b->q = q;
    b->n = n;
    b->res = results;
    if (cb)
        b->cb = *cb;
    b->max_conc = max_concurrency > 0 ? max_concurrency : 1;
    b->started = started;
    b->jobs = jobs;
    b->detached = out == NULL;
    if (out)
        *out = b;
    uv_mutex_lock(&e->mu);
    b->next = e->inbox;
    e->inbox = b;
    uv_mutex_unlock(&e->mu);
    uv_async_send(&e->wake);
    return 0;
}

void pv_batch_cancel(pv_batch *b)
{
    atomic_store(&b->cancel, 1);
    uv_async_send(&b->e->wake);
}

void pv_batch_wait(pv_batch *b)
{
    struct pv_batch_engine *e = b->e;
    uv_mutex_lock(&e->mu);
    while (!b->finished)
        uv_cond_wait(&e->cond, &e->mu);
    uv_mutex_unlock(&e->mu);
    free(b->started);
    free(b->jobs);
    free(b);
}

int pv_batch_run(pv_batch_engine *e, const struct pv_bquery *q, size_t n, int max_concurrency,
                 struct pv_bresult *results, pv_err *err)
{
    pv_batch *b;
    int rc = pv_batch_submit(e, q, n, max_concurrency, results, NULL, &b, err);
    if (rc == 0)
        pv_batch_wait(b);
    return rc;
}
