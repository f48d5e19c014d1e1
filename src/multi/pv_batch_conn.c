/*
 * pv_batch_conn.c - the batch executor's pools (one per dataset) on the
 * connection core, and the read-only sequence every query runs:
 * BEGIN READ ONLY + SET LOCAL statement_timeout -> the query alone in the
 * extended protocol, single-row mode, row cap -> ROLLBACK -> DISCARD ALL.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_conn.h"
#include "multi/pv_batch_int.h"

/*
 * The read-only sequence a connection runs for one job; the connection's
 * own state (connecting, idle, busy, cancelling, parked, closed) is the
 * core's (pv_conn.h).
 *   STEP_BEGIN     "BEGIN READ ONLY; SET LOCAL statement_timeout" sent
 *   STEP_QUERY     the query sent (extended protocol, single-row mode)
 *   STEP_ROLLBACK  "ROLLBACK" sent (always, whatever the query did)
 *   STEP_DISCARD   "DISCARD ALL" sent; then back to the pool
 */
enum bc_step { STEP_NONE, STEP_BEGIN, STEP_QUERY, STEP_ROLLBACK, STEP_DISCARD };

struct bconn {
    pv_conn core; /* first: the core's callbacks hand back &c->core */
    struct pool *pool;
    enum bc_step step;
    bool step_failed; /* an error result in the current step */
    bool in_idle;
    struct job *job;
    struct pv_dlink idle; /* in pool->idle */
    struct pv_dlink all;  /* in pool->all */
    uint64_t idle_since;
};

/* ---- forward declarations -------------------------------------------- */

static void conn_release(struct bconn *c);
static void job_begin(struct job *j, struct bconn *c);
static void pool_open(struct pool *p);
static const struct pv_conn_ops bconn_ops;

static void type_name(Oid oid, char *buf, size_t cap)
{
    static const struct {
        Oid oid;
        const char *name;
    } types[] = {
        {16, "bool"},        {17, "bytea"},         {18, "char"},       {19, "name"},
        {20, "int8"},        {21, "int2"},          {23, "int4"},       {25, "text"},
        {26, "oid"},         {114, "json"},         {700, "float4"},    {701, "float8"},
        {1042, "bpchar"},    {1043, "varchar"},     {1082, "date"},     {1083, "time"},
        {1114, "timestamp"}, {1184, "timestamptz"}, {1186, "interval"}, {1700, "numeric"},
        {2950, "uuid"},      {3802, "jsonb"},       {869, "inet"},      {1000, "_bool"},
        {1007, "_int4"},     {1009, "_text"},       {1016, "_int8"},    {2249, "record"},
        {2278, "void"},      {705, "unknown"},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(types); i++) {
        if (types[i].oid == oid) {
            snprintf(buf, cap, "%s", types[i].name);
            return;
        }
    }
    snprintf(buf, cap, "oid:%u", (unsigned)oid);
}

/* ---- pools -------------------------------------------------------------- */

static struct bconn *bconn_of(pv_conn *pc)
{
    return (struct bconn *)(void *)pc; /* core is the first member */
}

static void idle_push(struct pool *p, struct bconn *c)
{
    pv_dlist_push(&p->idle, &c->idle);
    c->in_idle = true;
    c->idle_since = uv_now(&p->e->loop);
}

static void idle_remove(struct pool *p, struct bconn *c)
{
    if (c->in_idle)
        pv_dlist_remove(&p->idle, &c->idle);
    c->in_idle = false;
}

static struct bconn *idle_pop(struct pool *p)
{
    if (!p->idle.head)
        return NULL;
    struct bconn *c = PV_CONTAINER_OF(p->idle.head, struct bconn, idle);
    idle_remove(p, c);
    return c;
}

void pv_batch__wait_push(struct pool *p, struct job *j)
{
    pv_fifo_push(&p->wait, &j->link);
}

struct job *pv_batch__wait_pop(struct pool *p)
{
    struct pv_slink *l = pv_fifo_pop(&p->wait);
    return l ? PV_CONTAINER_OF(l, struct job, link) : NULL;
}

/* Fails the oldest waiting job (it has no connection coming). */
static void fail_waiter(struct pool *p, const char *sqlstate, const char *msg)
{
    struct job *j = pv_batch__wait_pop(p);
    pv_batch__res_fail(&j->b->res[j->index], sqlstate, msg);
    pv_batch__job_finish(j);
}

static void conn_close(struct bconn *c)
{
    if (!pv_conn_is_open(&c->core))
        return;
    struct pool *p = c->pool;
    idle_remove(p, c);
    if (pv_conn_state(&c->core) == PV_CONN_CONNECTING)
        p->nconnecting--;
    p->nopen--;
    pv_dlist_remove(&p->all, &c->all);
    if (c->job)
        c->job->c = NULL;
    pv_conn_close(&c->core);
}

/* A connect failed or was refused: fail one waiting job with the reason. */
static void connect_failed(struct bconn *c, const char *sqlstate, const char *why)
{
    struct pool *p = c->pool;
    char msg[512];
    pv_first_line(msg, sizeof(msg), why);
    conn_close(c);
    if (p->wait.n > p->nconnecting) {
        fail_waiter(p, sqlstate, msg);
        /* the others waiting get their own attempt (and their own error) */
        if (p->wait.n > p->nconnecting && p->nopen < p->d->pool_max && !p->e->closing)
            pool_open(p);
    }
    pv_batch__schedule(p->e);
}

static void on_connect_failed(pv_conn *pc, const char *why)
{
    connect_failed(bconn_of(pc), PV_SQLSTATE_CONNECT_FAILED, why);
}

static void on_connected(pv_conn *pc)
{
    struct bconn *c = bconn_of(pc);
    struct pool *p = c->pool;
    p->nconnecting--;
    const char *su = PQparameterStatus(c->core.pg, "is_superuser");
    if (su && strcmp(su, "on") == 0 && !p->e->opts.allow_superuser) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "refused: dataset '%s' connects as a superuser, which could bypass the "
                 "read-only guard; use an ordinary role (or pass --allow-superuser)",
                 p->d->name);
        connect_failed(c, PV_SQLSTATE_SUPERUSER, msg);
        return;
    }
    if (p->e->closing) {
        conn_close(c);
        pv_batch__schedule(p->e);
        return;
    }
    struct job *j = pv_batch__wait_pop(p);
    if (j)
        job_begin(j, c);
    else
        idle_push(p, c);
    pv_batch__schedule(p->e);
}

/* Opens connections for the jobs waiting (the host name resolved). */
static void pool_fill(struct pool *p)
{
    while (p->wait.n > p->nconnecting && p->nopen < p->d->pool_max && !p->e->closing &&
           !p->lookup) {
        int before = p->nopen;
        pool_open(p);
        if (p->nopen == before)
            break;
    }
}

/*
 * The dataset's host name, looked up on libuv's thread pool: on success it
 * is pinned (pv_conninfo_pin) and never looked up again; on failure the
 * waiting jobs fail and the next job tries again.
 */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pool *p = req->data;
    p->resolving = false;
    int rc = status == 0 ? pv_conninfo_pin(p->ci, res) : VOLLEY_EINVAL;
    uv_freeaddrinfo(res);
    if (rc == 0) {
        p->lookup = NULL;
        pool_fill(p);
    } else {
        char msg[512];
        snprintf(msg, sizeof(msg), "could not translate host name \"%s\" to address: %s", p->lookup,
                 status == 0 ? "no usable address" : uv_strerror(status));
        while (p->wait.n > 0)
            fail_waiter(p, PV_SQLSTATE_CONNECT_FAILED, msg);
    }
    pv_batch__schedule(p->e);
}

static void pool_open(struct pool *p)
{
    if (p->lookup) {
        if (!p->resolving) {
            struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
            p->gai.data = p;
            p->resolving =
                uv_getaddrinfo(&p->e->loop, &p->gai, on_resolved, p->lookup, NULL, &hints) == 0;
            if (!p->resolving && p->wait.n > 0)
                fail_waiter(p, PV_SQLSTATE_CONNECT_FAILED, "cannot look up the host name");
        }
        return;
    }
    struct bconn *c = calloc(1, sizeof(*c));
    if (!c ||
        pv_conn_start(&c->core, &p->e->loop, pv_conninfo_keywords(p->ci), pv_conninfo_values(p->ci),
                      (uint64_t)p->d->connect_timeout_s * 1000, &bconn_ops) != 0) {
        free(c);
        if (p->wait.n > p->nconnecting)
            fail_waiter(p, PV_SQLSTATE_CONNECT_FAILED, "out of memory");
        return;
    }
    c->pool = p;
    p->nopen++;
    p->nconnecting++;
    pv_dlist_push(&p->all, &c->all);
}

/* ---- the per-query sequence ------------------------------------------- */

static void on_query_timeout(pv_conn *pc);

void pv_batch__job_cancel(struct job *j)
{
    if (j->cancel_sent || !j->c)
        return;
    j->cancel_sent = true;
    pv_conn_cancel(&j->c->core);
    /* a cancel request the server never answers ends the job in 5 s */
    pv_conn_timer_start(&j->c->core, PV_BATCH_TIMEOUT_GRACE_MS, on_query_timeout);
}

/* The connection broke while carrying its job (or while idle). */
static void conn_lost(struct bconn *c, const char *sqlstate, const char *why)
{
    struct job *j = c->job;
    c->job = NULL;
    if (j) {
        pv_batch__res_fail(&j->b->res[j->index], sqlstate, why ? why : PQerrorMessage(c->core.pg));
        c->pool->running--;
    }
    conn_close(c);
    if (j)
        pv_batch__job_finish(j);
    pv_batch__schedule(c->pool->e);
}

/* c's job is over (ok or not): c goes back to the pool or is closed. */
static void job_end(struct bconn *c, bool close)
{
    struct job *j = c->job;
    struct pool *p = c->pool;
    c->job = NULL;
    c->step = STEP_NONE;
    p->running--;
    if (close || !pv_conn_done(&c->core))
        conn_close(c);
    else
        conn_release(c);
    pv_batch__job_finish(j);
    pv_batch__schedule(p->e);
}

static void send_simple(struct bconn *c, const char *sql, enum bc_step next)
{
    c->step = next;
    c->step_failed = false;
    if (!PQsendQuery(c->core.pg, sql) || pv_conn_sent(&c->core) != 0)
        pv_conn_lost(&c->core, NULL);
}

static void job_begin(struct job *j, struct bconn *c)
{
    struct pool *p = c->pool;
    c->job = j;
    j->c = c;
    p->running++;
    j->t0 = pv_now_ns();
    char sql[128];
    /* standard_conforming_strings pinned so the server reads string
       literals exactly as the guard's parser did */
    snprintf(sql, sizeof(sql),
             "BEGIN READ ONLY; SET LOCAL statement_timeout = %d; "
             "SET LOCAL standard_conforming_strings = on",
             p->d->statement_timeout_ms);
    /* client-side bound: the server's timeout plus a grace period */
    pv_conn_timer_start(&c->core, (uint64_t)p->d->statement_timeout_ms + PV_BATCH_TIMEOUT_GRACE_MS,
                        on_query_timeout);
    send_simple(c, sql, STEP_BEGIN);
}

static void send_query(struct bconn *c)
{
    struct job *j = c->job;
    const struct pv_bquery *q = &j->b->q[j->index];
    c->step = STEP_QUERY;
    c->step_failed = false;
    if (!PQsendQueryParams(c->core.pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0)) {
        pv_batch__res_fail(&j->b->res[j->index], PV_SQLSTATE_CONN_LOST, PQerrorMessage(c->core.pg));
        send_simple(c, "ROLLBACK", STEP_ROLLBACK);
        return;
    }
    PQsetSingleRowMode(c->core.pg);
    if (pv_conn_sent(&c->core) != 0)
        pv_conn_lost(&c->core, NULL);
    else if (atomic_load(&j->b->cancel))
        pv_batch__job_cancel(j);
}

static void on_query_timeout(pv_conn *pc)
{
    struct bconn *c = bconn_of(pc);
    struct job *j = c->job;
    if (!j)
        return;
    if (!j->cancel_sent) {
        pv_batch__res_fail(&j->b->res[j->index], PV_SQLSTATE_CANCELLED,
                           "statement timeout (client side)");
        pv_batch__job_cancel(j);
        return;
    }
    /* the server did not answer the cancel: give the connection up */
    pv_batch__res_fail(&j->b->res[j->index], PV_SQLSTATE_CANCEL_IGNORED,
                       "timeout: the server did not answer the cancel request; connection closed");
    job_end(c, true);
}

/* Stores one row of a single-row-mode result. */
static int store_row(struct job *j, const PGresult *res)
{
    struct pv_bresult *r = &j->b->res[j->index];
    int nf = PQnfields(res);
    if (r->ncols == 0 && nf > 0) {
        r->cols = calloc((size_t)nf, sizeof(char *));
        r->types = calloc((size_t)nf, sizeof(char *));
        if (!r->cols || !r->types)
            return -1;
        r->ncols = nf;
        for (int i = 0; i < nf; i++) {
            char tn[32];
            type_name(PQftype(res, i), tn, sizeof(tn));
            r->cols[i] = strdup(PQfname(res, i));
            r->types[i] = strdup(tn);
            if (!r->cols[i] || !r->types[i])
                return -1;
        }
    }
    if (PQntuples(res) == 0 || nf != r->ncols)
        return 0;
    int max_rows = j->b->e->pools[j->b->q[j->index].dataset].d->max_rows;
    if (r->nrows >= (size_t)max_rows) {
        r->truncated = true;
        return 1; /* caller cancels the rest */
    }
    if (r->nrows == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        if (cap > (size_t)max_rows)
            cap = (size_t)max_rows;
        char **cells = realloc(r->cells, cap * (size_t)nf * sizeof(char *));
        if (!cells)
            return -1;
        r->cells = cells;
        j->cap = cap;
    }
    char **row = r->cells + r->nrows * (size_t)nf;
    for (int i = 0; i < nf; i++) {
        row[i] = PQgetisnull(res, 0, i) ? NULL : strdup(PQgetvalue(res, 0, i));
        if (!PQgetisnull(res, 0, i) && !row[i]) {
            for (int k = 0; k < i; k++)
                free(row[k]);
            return -1;
        }
    }
    r->nrows++;
    return 0;
}

static void handle_result(struct bconn *c, PGresult *res)
{
    struct job *j = c->job;
    struct pv_bresult *r = &j->b->res[j->index];
    ExecStatusType st = PQresultStatus(res);
    if (c->step == STEP_QUERY) {
        switch (st) {
        case PGRES_SINGLE_TUPLE:
        case PGRES_TUPLES_OK: {
            int rc = store_row(j, res);
            if (rc < 0)
                pv_batch__res_fail(r, PV_SQLSTATE_OUT_OF_MEMORY,
                                   "out of memory while storing rows");
            if (rc != 0)
                pv_batch__job_cancel(j);
            return;
        }
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY: return;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            pv_batch__res_fail(r, PV_SQLSTATE_UNSUPPORTED, "COPY is not allowed");
            return;
        default: break;
        }
        const char *state = pv_conn_sqlstate(res);
        bool cancelled = strcmp(state, PV_SQLSTATE_CANCELLED) == 0;
        /* a cancel we sent because of the row cap is not an error */
        if (r->truncated && cancelled)
            return;
        if (atomic_load(&j->b->cancel) && cancelled) {
            pv_batch__res_fail(r, PV_SQLSTATE_CANCELLED, "cancelled");
            return;
        }
        pv_batch__res_fail(r, state, pv_conn_message(res));
        return;
    }
    if (st == PGRES_FATAL_ERROR && c->step == STEP_BEGIN)
        pv_batch__res_fail(r, pv_conn_sqlstate(res), pv_conn_message(res));
    /* errors of ROLLBACK / DISCARD ALL: step_done closes the connection */
}

/* The last result of the current step arrived. */
static void step_done(struct bconn *c)
{
    struct job *j = c->job;
    struct pv_bresult *r = &j->b->res[j->index];
    switch (c->step) {
    case STEP_BEGIN:
        if (!r->ok && r->message) {
            send_simple(c, "ROLLBACK", STEP_ROLLBACK);
            return;
        }
        if (atomic_load(&j->b->cancel)) {
            pv_batch__res_fail(r, PV_SQLSTATE_CANCELLED, "cancelled");
            send_simple(c, "ROLLBACK", STEP_ROLLBACK);
            return;
        }
        send_query(c);
        return;
    case STEP_QUERY:
        r->ms = (double)(pv_now_ns() - j->t0) / 1e6;
        if (!r->message)
            r->ok = true;
        send_simple(c, "ROLLBACK", STEP_ROLLBACK);
        return;
    case STEP_ROLLBACK:
        if (c->step_failed) {
            job_end(c, true);
            return;
        }
        send_simple(c, "DISCARD ALL", STEP_DISCARD);
        return;
    case STEP_DISCARD:
        /* a cancel request may still be in flight: never reuse such a
           connection, or it could cancel the next query */
        job_end(c, c->step_failed || j->cancel_sent);
        return;
    case STEP_NONE: return;
    }
}

/* ---- the core's callbacks ---------------------------------------------- */

static bool on_result(pv_conn *pc, PGresult *res)
{
    struct bconn *c = bconn_of(pc);
    if (!c->job)
        return false;
    if (!res) {
        if (PQstatus(c->core.pg) == CONNECTION_BAD) {
            pv_conn_lost(&c->core, NULL);
            return false;
        }
        step_done(c);
        return pv_conn_is_open(pc);
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR)
        c->step_failed = true;
    handle_result(c, res);
    if (c->step == STEP_QUERY && st == PGRES_COPY_OUT) {
        pv_conn_lost(&c->core, NULL);
        return false;
    }
    return true;
}

static void on_lost(pv_conn *pc, const char *sqlstate, const char *why)
{
    struct bconn *c = bconn_of(pc);
    if (c->job)
        conn_lost(c, sqlstate, why);
    else
        conn_close(c);
}

/* Never parked: a connection whose job sent a cancel is closed (job_end). */
static void on_idle(pv_conn *pc)
{
    conn_release(bconn_of(pc));
}

static void on_freed(pv_conn *pc)
{
    free(bconn_of(pc));
}

/* connected, connect_failed, result, idle, lost, freed */
static const struct pv_conn_ops bconn_ops = {on_connected, on_connect_failed, on_result,
                                             on_idle,      on_lost,           on_freed};

/* Back to the pool: to a waiting job, or idle. */
static void conn_release(struct bconn *c)
{
    struct pool *p = c->pool;
    struct job *j = pv_batch__wait_pop(p);
    if (j && !p->e->closing) {
        job_begin(j, c);
        return;
    }
    if (j) {
        pv_batch__res_fail(&j->b->res[j->index], PV_SQLSTATE_CANCELLED, "cancelled");
        pv_batch__job_finish(j);
    }
    if (p->e->closing) {
        conn_close(c);
        return;
    }
    idle_push(p, c);
}

/* ---- what the engine asks of a pool ----------------------------------- */

void pv_batch__pool_acquire(struct pool *p, struct job *j)
{
    struct bconn *c = idle_pop(p);
    if (c) {
        job_begin(j, c);
        return;
    }
    pv_batch__wait_push(p, j);
    if (p->wait.n > p->nconnecting && p->nopen < p->d->pool_max)
        pool_open(p);
}

void pv_batch__pool_reap(struct pool *p, uint64_t now_ms)
{
    for (struct pv_dlink *l = p->idle.head, *next; l && p->nopen > p->d->pool_min; l = next) {
        struct bconn *c = PV_CONTAINER_OF(l, struct bconn, idle);
        next = l->next;
        if (now_ms - c->idle_since >= (uint64_t)p->d->idle_lifetime_s * 1000)
            conn_close(c);
    }
}

bool pv_batch__pool_close_idle(struct pool *p)
{
    for (struct pv_dlink *l = p->all.head, *next; l; l = next) {
        struct bconn *c = PV_CONTAINER_OF(l, struct bconn, all);
        next = l->next;
        if (!c->job)
            conn_close(c);
    }
    return p->nopen > 0;
}
