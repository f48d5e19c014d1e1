/*
 * pv_batch.c - the read-only batch executor: one loop thread, a pool per
 * dataset on the connection core (pv_conn), and a per-query sequence
 * BEGIN READ ONLY -> query -> ROLLBACK -> DISCARD ALL.
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

#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"

/* ---- types ------------------------------------------------------------ */

/* Client-side bound of a query: the dataset's statement_timeout plus this. */
#define BATCH_TIMEOUT_GRACE_MS 5000
/* Idle connections above pool_min are checked this often. */
#define BATCH_REAPER_MS 1000

#define SQLSTATE_CONNECT_FAILED "08001"
#define SQLSTATE_CONN_LOST      "08006"
#define SQLSTATE_READ_ONLY      "25006" /* read_only_sql_transaction: the guard refused */
#define SQLSTATE_SUPERUSER      "42501" /* insufficient_privilege */
#define SQLSTATE_OUT_OF_MEMORY  "53200"
#define SQLSTATE_CANCELLED      "57014"
#define SQLSTATE_UNSUPPORTED    "0A000"
#define SQLSTATE_CANCEL_IGNORED "PV002"

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

struct pool;
struct job;

struct bconn {
    pv_conn core; /* first: the core's callbacks hand back &c->core */
    struct pool *pool;
    enum bc_step step;
    bool step_failed; /* an error result in the current step */
    bool in_idle;
    struct job *job;
    struct bconn *next;                /* idle list */
    struct bconn *all_prev, *all_next; /* every open connection of the pool */
    uint64_t idle_since;
};

struct job {
    struct pv_batch *b;
    size_t index;
    struct job *next; /* pool wait FIFO */
    uint64_t t0;
    size_t cap;      /* cells capacity in rows */
    struct bconn *c; /* the connection carrying the job, while it runs */
    bool cancel_sent;
};

struct pool {
    struct pv_batch_engine *e;
    const struct pv_dataset *d;
    struct bconn *idle;
    int nidle;
    int nopen; /* connecting + connected */
    int nconnecting;
    int running; /* jobs holding a connection */
    struct job *wait_head, *wait_tail;
    int nwaiting;
    struct bconn *all;
    pv_conninfo *ci; /* the dataset's connection string, pinned once resolved */
    /* a host name still to look up (off the loop, uv_getaddrinfo) */
    const char *lookup;
    uv_getaddrinfo_t gai;
    bool resolving;
};
struct pv_batch {
    struct pv_batch_engine *e;
    const struct pv_bquery *q;
    size_t n;
    struct pv_bresult *res;
    struct pv_batch_callbacks cb;
    int max_conc;
    int running;
    size_t done;
    bool *started;
    struct job *jobs;
    _Atomic int cancel;
    bool cancel_done; /* engine processed the cancel */
    bool detached;
    bool finished; /* guarded by e->mu */
    struct pv_batch *next;
};

struct pv_batch_engine {
    const pv_datasets *ds;
    struct pv_batch_opts opts;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t reaper;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    struct pv_batch *inbox;  /* guarded by mu */
    struct pv_batch *active; /* engine thread only */
    bool stop;               /* guarded by mu */
    bool closing;
    uint64_t completions; /* batches completed so far (see schedule) */
    struct pool *pools;
    size_t npools;
};

/* ---- small helpers ---------------------------------------------------- */

static void res_fail(struct pv_bresult *r, const char *sqlstate, const char *msg)
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

/* ---- forward declarations -------------------------------------------- */

static void schedule(struct pv_batch_engine *e);
static void job_finish(struct job *j);
static void conn_release(struct bconn *c);
static void job_begin(struct job *j, struct bconn *c);
static void pool_open(struct pool *p);
static const struct pv_conn_ops bconn_ops;

/* ---- pools -------------------------------------------------------------- */

static struct bconn *bconn_of(pv_conn *pc)
{
    return (struct bconn *)(void *)pc; /* core is the first member */
}

static void idle_push(struct pool *p, struct bconn *c)
{
    c->next = p->idle;
    p->idle = c;
    p->nidle++;
    c->in_idle = true;
    c->idle_since = uv_now(&p->e->loop);
}

static void idle_remove(struct pool *p, struct bconn *c)
{
    if (!c->in_idle)
        return;
    for (struct bconn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            p->nidle--;
            c->in_idle = false;
            return;
        }
    }
}

static struct bconn *idle_pop(struct pool *p)
{
    struct bconn *c = p->idle;
    if (c)
        idle_remove(p, c);
    return c;
}

static void wait_push(struct pool *p, struct job *j)
{
    j->next = NULL;
    if (p->wait_tail)
        p->wait_tail->next = j;
    else
        p->wait_head = j;
    p->wait_tail = j;
    p->nwaiting++;
}

static struct job *wait_pop(struct pool *p)
{
    struct job *j = p->wait_head;
    if (j) {
        p->wait_head = j->next;
        if (!p->wait_head)
            p->wait_tail = NULL;
        p->nwaiting--;
    }
    return j;
}

/* Fails the oldest waiting job (it has no connection coming). */
static void fail_waiter(struct pool *p, const char *sqlstate, const char *msg)
{
    struct job *j = wait_pop(p);
    res_fail(&j->b->res[j->index], sqlstate, msg);
    job_finish(j);
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
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        p->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
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
    if (p->nwaiting > p->nconnecting) {
        fail_waiter(p, sqlstate, msg);
        /* the others waiting get their own attempt (and their own error) */
        if (p->nwaiting > p->nconnecting && p->nopen < p->d->pool_max && !p->e->closing)
            pool_open(p);
    }
    schedule(p->e);
}

static void on_connect_failed(pv_conn *pc, const char *why)
{
    connect_failed(bconn_of(pc), SQLSTATE_CONNECT_FAILED, why);
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
        connect_failed(c, SQLSTATE_SUPERUSER, msg);
        return;
    }
    if (p->e->closing) {
        conn_close(c);
        schedule(p->e);
        return;
    }
    struct job *j = wait_pop(p);
    if (j)
        job_begin(j, c);
    else
        idle_push(p, c);
    schedule(p->e);
}

/* Opens connections for the jobs waiting (the host name resolved). */
static void pool_fill(struct pool *p)
{
    while (p->nwaiting > p->nconnecting && p->nopen < p->d->pool_max && !p->e->closing &&
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
        snprintf(msg, sizeof(msg), "could not translate host name \"%s\" to address: %s",
                 p->lookup, status == 0 ? "no usable address" : uv_strerror(status));
        while (p->nwaiting > 0)
            fail_waiter(p, SQLSTATE_CONNECT_FAILED, msg);
    }
    schedule(p->e);
}

static void pool_open(struct pool *p)
{
    if (p->lookup) {
        if (!p->resolving) {
            struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
            p->gai.data = p;
            p->resolving = uv_getaddrinfo(&p->e->loop, &p->gai, on_resolved, p->lookup, NULL,
                                          &hints) == 0;
            if (!p->resolving && p->nwaiting > 0)
                fail_waiter(p, SQLSTATE_CONNECT_FAILED, "cannot look up the host name");
        }
        return;
    }
    struct bconn *c = calloc(1, sizeof(*c));
    if (!c || pv_conn_start(&c->core, &p->e->loop, pv_conninfo_keywords(p->ci),
                            pv_conninfo_values(p->ci), (uint64_t)p->d->connect_timeout_s * 1000,
                            &bconn_ops) != 0) {
        free(c);
        if (p->nwaiting > p->nconnecting)
            fail_waiter(p, SQLSTATE_CONNECT_FAILED, "out of memory");
        return;
    }
    c->pool = p;
    p->nopen++;
    p->nconnecting++;
    c->all_next = p->all;
    if (p->all)
        p->all->all_prev = c;
    p->all = c;
}

/* ---- the per-query sequence ------------------------------------------- */

static void job_cancel(struct job *j, struct bconn *c)
{
    if (j->cancel_sent)
        return;
    j->cancel_sent = true;
    pv_conn_cancel(&c->core);
}

/* The connection broke while carrying its job (or while idle). */
static void conn_lost(struct bconn *c, const char *why)
{
    struct job *j = c->job;
    c->job = NULL;
    if (j) {
        res_fail(&j->b->res[j->index], SQLSTATE_CONN_LOST,
                 why ? why : PQerrorMessage(c->core.pg));
        c->pool->running--;
    }
    conn_close(c);
    if (j)
        job_finish(j);
    schedule(c->pool->e);
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
    job_finish(j);
    schedule(p->e);
}

static void send_simple(struct bconn *c, const char *sql, enum bc_step next)
{
    c->step = next;
    c->step_failed = false;
    if (!PQsendQuery(c->core.pg, sql) || pv_conn_sent(&c->core) != 0)
        conn_lost(c, NULL);
}

static void on_query_timeout(pv_conn *pc);

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
    pv_conn_timer_start(&c->core, (uint64_t)p->d->statement_timeout_ms + BATCH_TIMEOUT_GRACE_MS,
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
        res_fail(&j->b->res[j->index], SQLSTATE_CONN_LOST, PQerrorMessage(c->core.pg));
        send_simple(c, "ROLLBACK", STEP_ROLLBACK);
        return;
    }
    PQsetSingleRowMode(c->core.pg);
    if (pv_conn_sent(&c->core) != 0)
        conn_lost(c, NULL);
    else if (atomic_load(&j->b->cancel))
        job_cancel(j, c);
}

static void on_query_timeout(pv_conn *pc)
{
    struct bconn *c = bconn_of(pc);
    struct job *j = c->job;
    if (!j)
        return;
    if (!j->cancel_sent) {
        res_fail(&j->b->res[j->index], SQLSTATE_CANCELLED, "statement timeout (client side)");
        job_cancel(j, c);
        pv_conn_timer_start(pc, BATCH_TIMEOUT_GRACE_MS, on_query_timeout);
        return;
    }
    /* the server did not answer the cancel: give the connection up */
    res_fail(&j->b->res[j->index], SQLSTATE_CANCEL_IGNORED,
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
                res_fail(r, SQLSTATE_OUT_OF_MEMORY, "out of memory while storing rows");
            if (rc != 0)
                job_cancel(j, c);
            return;
        }
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY: return;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH: res_fail(r, SQLSTATE_UNSUPPORTED, "COPY is not allowed"); return;
        default: break;
        }
        const char *state = pv_conn_sqlstate(res);
        bool cancelled = strcmp(state, SQLSTATE_CANCELLED) == 0;
        /* a cancel we sent because of the row cap is not an error */
        if (r->truncated && cancelled)
            return;
        if (atomic_load(&j->b->cancel) && cancelled) {
            res_fail(r, SQLSTATE_CANCELLED, "cancelled");
            return;
        }
        res_fail(r, state, pv_conn_message(res));
        return;
    }
    if (st == PGRES_FATAL_ERROR && c->step == STEP_BEGIN)
        res_fail(r, pv_conn_sqlstate(res), pv_conn_message(res));
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
            res_fail(r, SQLSTATE_CANCELLED, "cancelled");
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
            conn_lost(c, NULL);
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
        conn_lost(c, NULL);
        return false;
    }
    return true;
}

static void on_lost(pv_conn *pc, const char *why)
{
    struct bconn *c = bconn_of(pc);
    if (c->job)
        conn_lost(c, why);
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

static const struct pv_conn_ops bconn_ops = {
    .connected = on_connected,
    .connect_failed = on_connect_failed,
    .result = on_result,
    .idle = on_idle,
    .lost = on_lost,
    .freed = on_freed,
};

/* Back to the pool: to a waiting job, or idle. */
static void conn_release(struct bconn *c)
{
    struct pool *p = c->pool;
    struct job *j = wait_pop(p);
    if (j && !p->e->closing) {
        job_begin(j, c);
        return;
    }
    if (j) {
        res_fail(&j->b->res[j->index], SQLSTATE_CANCELLED, "cancelled");
        job_finish(j);
    }
    if (p->e->closing) {
        conn_close(c);
        return;
    }
    idle_push(p, c);
}

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

static void job_finish(struct job *j)
{
    struct pv_batch *b = j->b;
    struct pv_bresult *r = &b->res[j->index];
    if (j->c && j->c->job == j)
        j->c->job = NULL;
    j->c = NULL;
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
    int rc = pv_guard_check(q->sql, &e->opts.guard, &err);
    if (rc != 0) {
        res_fail(&b->res[i], rc == VOLLEY_ENOMEM ? SQLSTATE_OUT_OF_MEMORY : SQLSTATE_READ_ONLY,
                 rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
        job_finish(j);
        return;
    }
    struct bconn *c = idle_pop(p);
    if (c) {
        job_begin(j, c);
        return;
    }
    wait_push(p, j);
    if (p->nwaiting > p->nconnecting && p->nopen < p->d->pool_max)
        pool_open(p);
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
            res_fail(&b->res[i], SQLSTATE_CANCELLED, "cancelled");
            job_cancel(j, j->c);
        }
    }
    /* jobs waiting for a connection leave the pool queues */
    for (size_t k = 0; k < e->npools; k++) {
        struct pool *p = &e->pools[k];
        /* one pass over the queue: b's jobs out, the others back in order */
        struct job *mine = NULL;
        for (int left = p->nwaiting; left > 0; left--) {
            struct job *j = wait_pop(p);
            if (j->b == b) {
                j->next = mine;
                mine = j;
            } else {
                wait_push(p, j);
            }
        }
        while (mine) {
            struct job *j = mine;
            mine = j->next;
            res_fail(&b->res[j->index], SQLSTATE_CANCELLED, "cancelled");
            bool last = b->done + 1 == b->n;
            job_finish(j);
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
        res_fail(&b->res[i], SQLSTATE_CANCELLED, "cancelled");
        bool last = b->done + 1 == b->n;
        job_finish(&b->jobs[i]);
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
static void schedule(struct pv_batch_engine *e)
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
            if (p->running + p->nwaiting >= p->d->max_concurrency)
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
        for (struct bconn *c = p->all, *next; c; c = next) {
            next = c->all_next;
            if (!c->job)
                conn_close(c);
        }
        busy |= p->nopen > 0;
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
    schedule(e);
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
    for (size_t k = 0; k < e->npools; k++) {
        struct pool *p = &e->pools[k];
        for (struct bconn *c = p->idle, *next; c && p->nopen > p->d->pool_min; c = next) {
            next = c->next;
            if (now - c->idle_since >= (uint64_t)p->d->idle_lifetime_s * 1000)
                conn_close(c);
        }
    }
}

static void engine_main(void *arg)
{
    struct pv_batch_engine *e = arg;
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
    uv_timer_start(&e->reaper, on_reaper, BATCH_REAPER_MS, BATCH_REAPER_MS);
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
