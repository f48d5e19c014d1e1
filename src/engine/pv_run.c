/*
 * pv_run.c - worker threads, per-thread pools and the per-connection state
 * machine that drive a run.
 *
 * Ownership: each worker thread owns its loop, its connections, its
 * executions and its statistics. The only shared state touched while the
 * run goes on is a handful of atomics (the work counters, the stop flag and
 * the progress counters); statistics are merged after the threads joined.
 */
#include "engine/pv_run.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine/pv_pgwatch.h"

/* ---- types ------------------------------------------------------------ */

/* Results of at most this many rows may be read whole (see exec_send). */
#define PV_RUN_SMALL_RESULT 100

/*
 * Connection states (one enum, one dispatch in on_poll):
 *   CS_CONNECTING  PQconnectPoll in progress; the timer enforces connect_timeout.
 *   CS_IDLE        connected, in the idle list, watching for a server close.
 *   CS_PREPARING   PQsendPrepare sent for the bound execution's query.
 *   CS_BUSY        the execution's query sent; reading its results.
 *   CS_CANCELLING  a cancel request went out (command timeout or stop); still
 *                  reading results; the timer bounds the wait (then hard close).
 */
enum conn_state { CS_CONNECTING, CS_IDLE, CS_PREPARING, CS_BUSY, CS_CANCELLING };

struct worker;

struct exec {
    struct exec *next; /* free list or pending FIFO */
    uint32_t scen;     /* flat scenario index */
    bool warm;         /* started during warmup: not counted */
    bool interrupted;  /* cancelled by pv_run_stop: not counted */
    bool timed_out;    /* command timeout passed and a cancel was sent */
    bool failed;
    bool prep_pending; /* pipeline: a prepare's result comes before this query's */
    int attempts;      /* retries done so far */
    uint64_t t_claim, t_send, deadline, rows;
    char sqlstate[6];
    char message[256];
};

struct exec_fifo {
    struct exec *head, *tail;
    int n;
};

struct conn {
    struct worker *w;
    PGconn *pg;
    PGcancel *cancel;
    struct pv_pgwatch watch;
    uv_timer_t timer;
    uv_work_t cancel_work;
    enum conn_state state;
    struct exec *exec;
    uint8_t *prepared; /* bit per query: named statement exists */
    uint64_t born_ns;
    int index; /* position in w->conns */
    struct conn *idle_prev, *idle_next;
    struct conn *done_next; /* w->done_head list */
    bool in_idle, dead;
    bool cancel_queued;   /* cancel_work is in libuv's thread pool (until cancel_done) */
    bool parked;          /* finished while its cancel was queued: reused after cancel_done */
    bool preparing;       /* a PQsendPrepare is outstanding (even if cancelling) */
    uint64_t deadline_ns; /* command timeout of the request in flight; 0 = none */
    /* pipeline mode (--pipeline N > 1): the executions sent in one pipeline,
       in order; c->exec is unused then */
    struct exec_fifo pq;
    int refs; /* timer handle + cancel work in flight */
    char cancel_err[256];
};

struct worker {
    pv_run *run;
    int id;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t pool_timer;
    bool wake_open; /* guarded by run->stop_mu */
    uv_thread_t thread;

    int slots, slots_free;
    int pool_max, idle_cap;
    struct conn **conns;
    int nconns;
    int nconnecting;
    struct conn *idle_head;
    int nidle;
    int in_use, max_in_use;
    struct exec *execs, *free_execs;
    struct exec_fifo pend;   /* waiting for a connection, oldest first */
    struct exec *retry_head; /* waiting out a backoff (unsorted; rare) */
    uv_timer_t retry_timer;
    uv_timer_t sweep_timer; /* command timeouts (on_timeout_sweep) */
    /* connections whose request finished in this loop iteration; each
       holds a reference until on_done_check gives it its next execution */
    uv_check_t done_check;
    struct conn *done_head;
    uint64_t rng; /* xorshift state for backoff jitter */
    /* next scenario of this worker's round robin over all of them, in
       timed runs and warm-ups (count-based runs share r->next_item) */
    uint64_t next_scen;
    int cpu; /* --pin-threads: the CPU this worker runs on; -1 = any */
    bool pin_failed;

    bool connect_phase, no_more, stopping, finished;
    uint64_t start_ns, measure_ns, end_ns, last_done_ns, connected_ns;

    struct pv_stat *stats; /* one per flat scenario */
    uint8_t *buffered;     /* per scenario: small results, read whole */
    struct pv_pool_stats pool;
    _Atomic uint64_t done, failed;
    int rc; /* first internal error (VOLLEY_ENOMEM) */
};

struct scen_ref {
    uint32_t query, scen;
};

struct pv_run {
    struct pv_run_config cfg;
    struct pv_run_result result;
    size_t nscen;
    struct scen_ref *scen;
    uint64_t *cum; /* cum[i] = executions of scenarios 0..i (count-based) */
    uint64_t total_items;
    char (*stmt_names)[32];
    size_t nqueries;

    int nworkers;
    struct worker *workers;
    _Atomic uint64_t next_item; /* count-based runs: next item to claim */
    _Atomic int stop;
    _Atomic int workers_left;
    _Atomic int clock_started;
    uv_barrier_t barrier;
    uv_mutex_t stop_mu;
    uint64_t t0;
    uint64_t timeout_ns; /* command timeout; 0 = none */
    bool started, joined, barrier_init;
};

/* ---- helpers ---------------------------------------------------------- */

const char *pv_protocol_name(enum pv_protocol p)
{
    switch (p) {
    case PV_PROTOCOL_PREPARED: return "prepared";
    case PV_PROTOCOL_EXTENDED: return "extended";
    case PV_PROTOCOL_SIMPLE: return "simple";
    }
    return "?";
}

void pv_run_config_defaults(struct pv_run_config *cfg)
{
    int c = cfg->concurrency > 0 ? cfg->concurrency : 1;
    if (cfg->pool.size < 0)
        cfg->pool.size = PV_MAX(1, c / 4);
    if (cfg->pool.max_overflow < 0)
        cfg->pool.max_overflow = c;
    if (cfg->pool.timeout_s <= 0)
        cfg->pool.timeout_s = 30;
    if (cfg->pool.recycle_s <= 0)
        cfg->pool.recycle_s = 3600;
    if (cfg->pool.connect_timeout_s <= 0)
        cfg->pool.connect_timeout_s = 30;
    if (cfg->threads <= 0)
        cfg->threads = 1;
}

static uint64_t ms_of(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

static void exec_fail(struct exec *e, const char *sqlstate, const char *msg)
{
    if (e->failed)
        return; /* keep the first error of the execution */
    e->failed = true;
    snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
    pv_first_line(e->message, sizeof(e->message), msg);
}

/* ---- forward declarations -------------------------------------------- */

static void conn_open(struct worker *w);
static void conn_close(struct conn *c);
static void conn_release(struct conn *c);
static void exec_start(struct worker *w, struct conn *c, struct exec *e);
static void exec_finish(struct worker *w, struct exec *e, uint64_t t_end);
static void worker_fill(struct worker *w);
static void worker_maybe_finish(struct worker *w);
static struct exec *worker_claim(struct worker *w);
static bool conn_expired(const struct conn *c, uint64_t now);
static void on_done_check(uv_check_t *h);
static void on_poll(uv_poll_t *h, int status, int events);
static bool pipelined(const pv_run *r);
static void pipe_abandon(struct conn *c, const char *sqlstate, const char *why);
static void pipe_start(struct worker *w, struct conn *c, struct exec *e);
static void pipe_send(struct worker *w, struct conn *c);

/* ---- pending FIFO ----------------------------------------------------- */

/* An execution FIFO (executions waiting for a connection, or a connection's
   pipeline), linked through exec.next. */
static void fifo_push(struct exec_fifo *f, struct exec *e)
{
    e->next = NULL;
    if (f->tail)
        f->tail->next = e;
    else
        f->head = e;
    f->tail = e;
    f->n++;
}

static struct exec *fifo_pop(struct exec_fifo *f)
{
    struct exec *e = f->head;
    if (e) {
        f->head = e->next;
        if (!f->head)
            f->tail = NULL;
        f->n--;
    }
    return e;
}

static void on_pool_timer(uv_timer_t *t);

/* Arms the pool timer for the oldest waiting execution (FIFO: the head). */
static void pool_timer_arm(struct worker *w)
{
    if (!w->pend.head || w->finished) {
        if (!w->finished)
            uv_timer_stop(&w->pool_timer);
        return;
    }
    uint64_t now = pv_now_ns();
    uint64_t d = w->pend.head->deadline;
    uint64_t ms = d > now ? (d - now + 999999) / 1000000 : 0;
    uv_timer_start(&w->pool_timer, on_pool_timer, ms, 0);
}

static void on_pool_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = pv_now_ns();
    char msg[160];
    snprintf(msg, sizeof(msg),
             "pool timeout: no connection within %.3g s (pool size %d, overflow %d)",
             w->run->cfg.pool.timeout_s, w->run->cfg.pool.size, w->run->cfg.pool.max_overflow);
    while (w->pend.head && w->pend.head->deadline <= now) {
        struct exec *e = fifo_pop(&w->pend);
        w->pool.timeouts++;
        if (!e->warm)
            pv_hist_record(w->pool.acquire_wait, now - e->t_claim);
        exec_fail(e, "PV001", msg);
        e->t_send = now;
        exec_finish(w, e, now);
    }
    pool_timer_arm(w);
    worker_fill(w);
}

/* ---- idle list -------------------------------------------------------- */

static void idle_push(struct worker *w, struct conn *c)
{
    c->idle_prev = NULL;
    c->idle_next = w->idle_head;
    if (w->idle_head)
        w->idle_head->idle_prev = c;
    w->idle_head = c;
    c->in_idle = true;
    w->nidle++;
}

static void idle_remove(struct worker *w, struct conn *c)
{
    if (!c->in_idle)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        w->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    c->in_idle = false;
    w->nidle--;
}

static struct conn *idle_pop(struct worker *w)
{
    struct conn *c = w->idle_head;
    if (c)
        idle_remove(w, c);
    return c;
}

/* ---- connection lifetime ---------------------------------------------- */

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    if (c->cancel)
        PQfreeCancel(c->cancel);
    free(c->prepared);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static int conn_watch(struct conn *c, int events)
{
    return pv_pgwatch_set(&c->watch, &c->w->loop, c->pg, events, on_poll, c);
}

/* c stops carrying its execution; returns it. */
static struct exec *conn_detach(struct conn *c)
{
    struct exec *e = c->exec;
    if (e) {
        c->exec = NULL;
        c->w->in_use--;
    }
    return e;
}

/* Closes c now; whatever execution it carried must have been dealt with. */
static void conn_close(struct conn *c)
{
    struct worker *w = c->w;
    if (c->dead)
        return;
    c->dead = true;
    idle_remove(w, c);
    if (c->state == CS_CONNECTING)
        w->nconnecting--;
    /* swap-remove from the connection array */
    struct conn *last = w->conns[--w->nconns];
    w->conns[c->index] = last;
    last->index = c->index;
    pv_pgwatch_close(&c->watch);
    if (c->state != CS_CONNECTING)
        w->pool.closed++;
    PQfinish(c->pg);
    c->pg = NULL;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void on_connect_timeout(uv_timer_t *t);
static void conn_connect_step(struct conn *c);

static void conn_open(struct worker *w)
{
    pv_run *r = w->run;
    struct conn *c = calloc(1, sizeof(*c));
    uint8_t *prepared = calloc((r->nqueries + 7) / 8 + 1, 1);
    if (!c || !prepared) {
        free(c);
        free(prepared);
        w->rc = VOLLEY_ENOMEM;
        return;
    }
    c->w = w;
    c->prepared = prepared;
    c->watch.fd = -1;
    c->state = CS_CONNECTING;
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    c->refs = 1;
    c->index = w->nconns;
    w->conns[w->nconns++] = c;
    w->nconnecting++;
    c->pg =
        PQconnectStartParams(pv_target_keywords(r->cfg.target), pv_target_values(r->cfg.target), 0);
    if (!c->pg) {
        w->rc = VOLLEY_ENOMEM;
        conn_close(c);
        return;
    }
    PQsetNoticeProcessor(c->pg, pv_notice_ignore, NULL);
    uint64_t ms = ms_of(r->cfg.pool.connect_timeout_s);
    if (ms)
        uv_timer_start(&c->timer, on_connect_timeout, ms, 0);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_connect_step(c); /* reports the failure */
        return;
    }
    /* As after PQconnectStart: behave as if PQconnectPoll said WRITING. */
    if (conn_watch(c, UV_WRITABLE) != 0)
        conn_connect_step(c);
}

/* A connection attempt ended in failure: fail the oldest waiting execution
   with the reason (so a dead server cannot leave executions waiting). */
static void conn_connect_failed(struct conn *c, const char *why)
{
    struct worker *w = c->w;
    char msg[256];
    pv_first_line(msg, sizeof(msg), why);
    w->pool.connect_failed++;
    conn_close(c);
    if (w->connect_phase)
        return;
    /* Only fail an execution that has no other connection coming. */
    if (w->pend.n > w->nconnecting) {
        struct exec *e = fifo_pop(&w->pend);
        uint64_t now = pv_now_ns();
        exec_fail(e, "08001", msg);
        e->t_send = now;
        exec_finish(w, e, now);
        pool_timer_arm(w);
        if (w->pend.n > w->nconnecting && w->nconns < w->pool_max && !w->stopping)
            conn_open(w);
    }
    worker_fill(w);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->state == CS_CONNECTING)
        conn_connect_failed(c, "connection timeout expired");
}

static void conn_connected(struct conn *c)
{
    struct worker *w = c->w;
    uv_timer_stop(&c->timer);
    PQsetnonblocking(c->pg, 1);
    if (pipelined(w->run) && !PQenterPipelineMode(c->pg)) {
        conn_connect_failed(c, "cannot enter pipeline mode");
        return;
    }
    c->cancel = PQgetCancel(c->pg);
    c->born_ns = pv_now_ns();
    c->state = CS_IDLE;
    w->nconnecting--;
    w->pool.opened++;
    if (conn_watch(c, UV_READABLE) != 0) {
        conn_close(c);
        return;
    }
    if (w->connect_phase) {
        idle_push(w, c);
        return;
    }
    conn_release(c);
    worker_fill(w);
}

static void conn_connect_step(struct conn *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    /*
     * libpq may have closed the socket and opened another (the next host or
     * address): it can get the same descriptor number, which epoll no longer
     * watches. A fresh poll handle per step registers whatever socket is
     * current.
     */
    pv_pgwatch_close(&c->watch);
    switch (st) {
    case PGRES_POLLING_READING:
        if (conn_watch(c, UV_READABLE) != 0)
            conn_connect_failed(c, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, UV_WRITABLE) != 0)
            conn_connect_failed(c, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_OK: conn_connected(c); return;
    default: conn_connect_failed(c, PQerrorMessage(c->pg)); return;
    }
}

/* A connection broke while carrying an execution (or while idle). */
static void conn_lost(struct conn *c, const char *why)
{
    struct worker *w = c->w;
    if (pipelined(w->run) && (c->state == CS_BUSY || c->state == CS_CANCELLING)) {
        w->pool.lost++;
        pipe_abandon(c, "08006", why ? why : PQerrorMessage(c->pg));
        if (w->pend.n > w->nconnecting && w->nconns < w->pool_max && !w->stopping)
            conn_open(w);
        worker_fill(w);
        return;
    }
    struct exec *e = conn_detach(c);
    if (e) {
        w->pool.lost++;
        exec_fail(e, "08006", why ? why : PQerrorMessage(c->pg));
    }
    conn_close(c);
    if (e)
        exec_finish(w, e, pv_now_ns());
    /* Executions waiting for a connection get a new one. */
    if (w->pend.n > w->nconnecting && w->nconns < w->pool_max && !w->stopping)
        conn_open(w);
    worker_fill(w);
}

/* Gives c to the oldest waiting execution, keeps it idle, or closes it. */
static void conn_release(struct conn *c)
{
    struct worker *w = c->w;
    pv_run *r = w->run;
    c->state = CS_IDLE;
    if (w->pend.head && !w->stopping) {
        if (conn_expired(c, pv_now_ns())) {
            conn_close(c);
            conn_open(w);
            return;
        }
        if (pipelined(r)) {
            pipe_start(w, c, NULL);
            return;
        }
        struct exec *e = fifo_pop(&w->pend);
        pool_timer_arm(w);
        exec_start(w, c, e);
        return;
    }
    if (w->nidle >= w->idle_cap || w->stopping || conn_expired(c, pv_now_ns())) {
        conn_close(c);
        return;
    }
    idle_push(w, c);
}

/* ---- cancel ----------------------------------------------------------- */

static void cancel_work(uv_work_t *req)
{
    struct conn *c = req->data;
    /* PQcancel blocks (it opens a new connection): run off the loop. */
    if (!PQcancel(c->cancel, c->cancel_err, sizeof(c->cancel_err)))
        c->cancel_err[sizeof(c->cancel_err) - 1] = '\0';
}

static void cancel_done(uv_work_t *req, int status)
{
    (void)status;
    struct conn *c = req->data;
    c->cancel_queued = false;
    if (c->parked && !c->dead) {
        /* the cancel has reached the server: it can no longer hit a new query */
        c->parked = false;
        conn_release(c);
        worker_fill(c->w);
    }
    conn_unref(c);
}

static void on_cancel_grace(uv_timer_t *t);

/*
 * c finished its request while a cancel request for it is still queued or
 * on its way (the query ended just as its timeout passed). A cancel that
 * reaches the server during the next query would cancel that one instead,
 * so c waits, idle and out of the pool, until cancel_done. Returns whether
 * it was parked.
 */
static bool conn_park(struct conn *c)
{
    if (!c->cancel_queued)
        return false;
    c->state = CS_IDLE;
    c->parked = true;
    return true;
}

/* Asks the server to cancel c's query; bounds the wait with grace_ms. */
static void conn_cancel(struct conn *c, uint64_t grace_ms)
{
    c->state = CS_CANCELLING;
    /* one cancel request at a time: a uv_work_t cannot be queued twice */
    if (c->cancel && !c->cancel_queued) {
        c->cancel_work.data = c;
        c->refs++;
        if (uv_queue_work(&c->w->loop, &c->cancel_work, cancel_work, cancel_done) == 0)
            c->cancel_queued = true;
        else
            c->refs--;
    }
    uv_timer_start(&c->timer, on_cancel_grace, grace_ms, 0);
}

static void on_cancel_grace(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->state == CS_CANCELLING && pipelined(c->w->run)) {
        struct worker *w = c->w;
        for (struct exec *e = c->pq.head; e; e = e->next)
            if (e->timed_out && !e->interrupted)
                exec_fail(e, "PV002",
                          "command timeout: the server did not answer the cancel request; "
                          "connection closed");
        pipe_abandon(c, NULL, NULL);
        worker_fill(w);
        return;
    }
    if (c->state != CS_CANCELLING || !c->exec)
        return;
    struct exec *e = c->exec;
    if (e->timed_out && !e->interrupted) {
        exec_fail(e, "PV002",
                  "command timeout: the server did not answer the cancel request; "
                  "connection closed");
    }
    struct worker *w = c->w;
    conn_detach(c);
    conn_close(c);
    exec_finish(w, e, pv_now_ns());
    worker_fill(w);
}

/* The command timeout of c's request passed: cancel it on the server. */
static void conn_timed_out(struct conn *c)
{
    if (c->state == CS_BUSY && c->pq.n > 0) {
        for (struct exec *e = c->pq.head; e; e = e->next)
            e->timed_out = true;
        conn_cancel(c, 5000);
        return;
    }
    if ((c->state != CS_BUSY && c->state != CS_PREPARING) || !c->exec)
        return;
    c->exec->timed_out = true;
    conn_cancel(c, 5000);
}

/*
 * Command timeouts are checked by one sweep per worker rather than a timer
 * per query: arming and disarming a timer for every query cost more client
 * CPU than anything else pgvolley does itself (see docs/performance.md).
 * The sweep's period is 1/20 of the timeout, kept between 5 ms and 1 s, so
 * a timeout fires at most 5% or 5 ms late, whichever is more (a 20 ms
 * timeout up to 25% late).
 */
static void on_timeout_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = pv_now_ns();
    for (int i = w->nconns - 1; i >= 0; i--) {
        if (i >= w->nconns)
            continue; /* a cancel path closed connections */
        struct conn *c = w->conns[i];
        if (c->deadline_ns && now >= c->deadline_ns &&
            (c->state == CS_BUSY || c->state == CS_PREPARING)) {
            c->deadline_ns = 0;
            conn_timed_out(c);
        }
    }
}

/* ---- executions ------------------------------------------------------- */

static const struct pv_query *query_of(const pv_run *r, uint32_t scen, const struct pv_scenario **s)
{
    const struct scen_ref *ref = &r->scen[scen];
    const struct pv_query *q = pv_workload_query(r->cfg.workload, ref->query);
    *s = &q->scenarios[ref->scen];
    return q;
}

static int conn_flush(struct conn *c)
{
    int f = PQflush(c->pg);
    if (f < 0)
        return -1;
    return conn_watch(c, f ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void exec_send(struct worker *w, struct conn *c)
{
    pv_run *r = w->run;
    struct exec *e = c->exec;
    const struct pv_scenario *s;
    uint32_t qi = r->scen[e->scen].query;
    const struct pv_query *q = query_of(r, e->scen, &s);
    const char *const *values = (const char *const *)s->values;
    int ok;

    e->t_send = pv_now_ns();
    switch (r->cfg.protocol) {
    case PV_PROTOCOL_PREPARED:
        if (!(c->prepared[qi / 8] & (1u << (qi % 8)))) {
            ok = PQsendPrepare(c->pg, r->stmt_names[qi], q->sql, q->nparams, NULL);
            c->state = CS_PREPARING;
            c->preparing = true;
            goto sent;
        }
        ok = PQsendQueryPrepared(c->pg, r->stmt_names[qi], s->nparams, values, NULL, NULL, 0);
        break;
    case PV_PROTOCOL_EXTENDED:
        ok = PQsendQueryParams(c->pg, q->sql, s->nparams, NULL, values, NULL, NULL, 0);
        break;
    default: ok = PQsendQuery(c->pg, q->sql); break;
    }
    c->state = CS_BUSY;
    /*
     * Rows are counted, never kept. A scenario starts in single-row mode, so
     * a result of any size needs constant memory (libpq 15 has no chunked
     * mode); once its executions have returned few rows it is read whole,
     * which costs a fifth less client CPU per query than a PGresult per row.
     */
    if (ok && !w->buffered[e->scen])
        PQsetSingleRowMode(c->pg);
sent:
    if (!ok || conn_flush(c) != 0) {
        conn_lost(c, NULL);
        return;
    }
    if (r->timeout_ns)
        c->deadline_ns = e->t_send + r->timeout_ns;
}

/* ---- pipeline mode ---------------------------------------------------- */

static bool pipelined(const pv_run *r)
{
    return r->cfg.pipeline > 1;
}

/* Fails every execution of c's pipeline (why = NULL: they were interrupted
   or already failed) and closes c. */
static void pipe_abandon(struct conn *c, const char *sqlstate, const char *why)
{
    struct worker *w = c->w;
    struct exec *e;
    uint64_t now = pv_now_ns();
    char msg[256]; /* why may be PQerrorMessage(c->pg), freed by conn_close */
    if (why) {
        pv_first_line(msg, sizeof(msg), why);
        why = msg;
    }
    if (c->state == CS_BUSY || c->state == CS_CANCELLING)
        w->in_use--; /* a pipeline was in flight (see pipe_send) */
    conn_close(c);
    while ((e = fifo_pop(&c->pq)) != NULL) {
        if (why && !e->interrupted)
            exec_fail(e, sqlstate, why);
        exec_finish(w, e, now);
    }
}

/*
 * Sends c's queued executions as one pipeline: for each, its statement's
 * prepare if this connection lacks it, then the query; one sync at the end.
 * An error aborts the rest of the pipeline (counted as PV003); the sync
 * brings the connection back.
 */
static void pipe_send(struct worker *w, struct conn *c)
{
    pv_run *r = w->run;
    uint64_t now = pv_now_ns();
    w->in_use++;
    if (w->in_use > w->max_in_use)
        w->max_in_use = w->in_use;
    for (struct exec *e = c->pq.head; e; e = e->next) {
        const struct pv_scenario *s;
        uint32_t qi = r->scen[e->scen].query;
        const struct pv_query *q = query_of(r, e->scen, &s);
        const char *const *values = (const char *const *)s->values;
        int ok = 1;
        if (!e->warm && now >= e->t_claim)
            pv_hist_record(w->pool.acquire_wait, now - e->t_claim);
        e->t_send = now;
        if (r->cfg.protocol == PV_PROTOCOL_PREPARED) {
            if (!(c->prepared[qi / 8] & (1u << (qi % 8)))) {
                ok = PQsendPrepare(c->pg, r->stmt_names[qi], q->sql, q->nparams, NULL);
                c->prepared[qi / 8] |= (uint8_t)(1u << (qi % 8)); /* undone if it fails */
                e->prep_pending = true;
            }
            ok = ok &&
                 PQsendQueryPrepared(c->pg, r->stmt_names[qi], s->nparams, values, NULL, NULL, 0);
        } else {
            ok = PQsendQueryParams(c->pg, q->sql, s->nparams, NULL, values, NULL, NULL, 0);
        }
        if (!ok) {
            w->pool.lost++;
            pipe_abandon(c, "08006", PQerrorMessage(c->pg));
            worker_fill(w);
            return;
        }
    }
    c->state = CS_BUSY;
    if (!PQpipelineSync(c->pg) || conn_flush(c) != 0) {
        w->pool.lost++;
        pipe_abandon(c, "08006", PQerrorMessage(c->pg));
        worker_fill(w);
        return;
    }
    if (r->timeout_ns)
        c->deadline_ns = now + r->timeout_ns;
}

/* Starts a pipeline on idle connection c: e (may be NULL) first, then
   executions waiting for a connection, up to --pipeline of them. */
static void pipe_start(struct worker *w, struct conn *c, struct exec *e)
{
    if (e)
        fifo_push(&c->pq, e);
    while (c->pq.n < w->run->cfg.pipeline && w->pend.head)
        fifo_push(&c->pq, fifo_pop(&w->pend));
    pool_timer_arm(w);
    pipe_send(w, c);
}

static void handle_result(struct conn *c, struct exec *e, PGresult *res);

/* Reads what arrived for c's pipeline. */
static void pipe_read(struct conn *c)
{
    struct worker *w = c->w;
    pv_run *r = w->run;
    while (c->pq.n > 0 && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        struct exec *e = c->pq.head;
        if (!res) {
            /* the end of one command's results */
            if (e->prep_pending) {
                e->prep_pending = false;
                if (e->failed) {
                    uint32_t qi = r->scen[e->scen].query;
                    c->prepared[qi / 8] &= (uint8_t) ~(1u << (qi % 8));
                }
                continue;
            }
            e = fifo_pop(&c->pq);
            exec_finish(w, e, pv_now_ns());
            if (c->pq.n == 0) /* the sync's result comes next (read below) */
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_ABORTED)
            exec_fail(e, "PV003", "pipeline aborted: an earlier query in the same pipeline failed");
        else if (st != PGRES_PIPELINE_SYNC)
            handle_result(c, e, res);
        PQclear(res);
        if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            /* PQgetResult would return the COPY state for ever */
            conn_lost(c, "COPY TO STDOUT is not supported in a workload");
            return;
        }
    }
    if (c->pq.n > 0)
        return;
    /* every execution is done: wait for the sync, then release */
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res)
            break;
        ExecStatusType st = PQresultStatus(res);
        PQclear(res);
        if (st == PGRES_PIPELINE_SYNC) {
            uv_timer_stop(&c->timer);
            w->in_use--;
            if (PQstatus(c->pg) == CONNECTION_BAD) {
                c->state = CS_IDLE; /* nothing in flight: in_use is already down */
                conn_lost(c, NULL);
            } else if (!conn_park(c)) {
                c->state = CS_IDLE;
                conn_release(c);
            }
            worker_fill(w);
            return;
        }
    }
}

static void exec_start(struct worker *w, struct conn *c, struct exec *e)
{
    if (pipelined(w->run)) {
        pipe_start(w, c, e);
        return;
    }
    uint64_t now = pv_now_ns();
    c->exec = e;
    w->in_use++;
    if (w->in_use > w->max_in_use)
        w->max_in_use = w->in_use;
    if (!e->warm && now >= e->t_claim)
        pv_hist_record(w->pool.acquire_wait, now - e->t_claim);
    exec_send(w, c);
}

static bool retryable(const char *sqlstate)
{
    return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "40001") == 0 ||
           strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P03") == 0;
}

static void on_retry_timer(uv_timer_t *t);

static void retry_timer_arm(struct worker *w)
{
    if (w->finished)
        return;
    if (!w->retry_head) {
        uv_timer_stop(&w->retry_timer);
        return;
    }
    uint64_t due = UINT64_MAX, now = pv_now_ns();
    for (struct exec *e = w->retry_head; e; e = e->next)
        due = PV_MIN(due, e->deadline);
    uv_timer_start(&w->retry_timer, on_retry_timer, due > now ? (due - now + 999999) / 1000000 : 0,
                   0);
}

/*
 * A transient failure with attempts left: keep the slot, wait a backoff of
 * 10 ms * 2^attempt (at most 1 s) times a jitter in [0.5, 1.5), then try
 * again on any connection. Returns false when e must be finished instead.
 */
static bool exec_retry(struct worker *w, struct exec *e)
{
    if (!e->failed || e->interrupted || w->stopping || e->attempts >= w->run->cfg.retries ||
        !retryable(e->sqlstate))
        return false;
    e->attempts++;
    if (!e->warm)
        w->stats[e->scen].retries++;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    uint64_t base = 10000000ull << PV_MIN(e->attempts - 1, 7);
    base = PV_MIN(base, 1000000000ull);
    uint64_t jitter = base / 2 + w->rng % (base + 1);
    e->deadline = pv_now_ns() + jitter;
    e->next = w->retry_head;
    w->retry_head = e;
    retry_timer_arm(w);
    return true;
}

static void exec_acquire(struct worker *w, struct exec *e);

static void on_retry_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = pv_now_ns();
    struct exec **pp = &w->retry_head;
    while (*pp) {
        struct exec *e = *pp;
        if (e->deadline > now) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        e->failed = e->timed_out = false;
        e->rows = 0;
        e->sqlstate[0] = e->message[0] = '\0';
        e->t_claim = pv_now_ns();
        exec_acquire(w, e);
    }
    retry_timer_arm(w);
    worker_fill(w);
}

/* Records e (unless warm or interrupted) and frees its slot - or retries it. */
static void exec_finish(struct worker *w, struct exec *e, uint64_t t_end)
{
    if (exec_retry(w, e))
        return;
    uint64_t lat = t_end >= e->t_send ? t_end - e->t_send : 0;
    if (!e->failed)
        w->buffered[e->scen] = e->rows <= PV_RUN_SMALL_RESULT;
    if (!e->warm && !e->interrupted) {
        struct pv_stat *st = &w->stats[e->scen];
        int rc = e->failed ? pv_stat_fail(st, lat, e->sqlstate, e->message)
                           : pv_stat_ok(st, lat, e->rows);
        if (rc != 0)
            w->rc = rc;
        atomic_store_explicit(&w->done, atomic_load_explicit(&w->done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (e->failed)
            atomic_store_explicit(&w->failed,
                                  atomic_load_explicit(&w->failed, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        if (t_end > w->last_done_ns)
            w->last_done_ns = t_end;
    }
    e->next = w->free_execs;
    w->free_execs = e;
    w->slots_free++;
}

static void handle_result(struct conn *c, struct exec *e, PGresult *res)
{
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE: e->rows += (uint64_t)PQntuples(res); break;
    case PGRES_COMMAND_OK:
        if (c->state != CS_PREPARING && !e->prep_pending)
            e->rows += strtoull(PQcmdTuples(res), NULL, 10);
        break;
    case PGRES_EMPTY_QUERY: break;
    case PGRES_COPY_IN:
        exec_fail(e, "0A000", "COPY FROM STDIN is not supported in a workload");
        PQputCopyEnd(c->pg, "pgvolley sends no COPY data");
        break;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        exec_fail(e, "0A000", "COPY TO STDOUT is not supported in a workload");
        break;
    default: {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (!msg)
            msg = PQresultErrorMessage(res);
        if (e->timed_out && !e->interrupted && state && strcmp(state, "57014") == 0) {
            char buf[128];
            snprintf(buf, sizeof(buf),
                     "command timeout after %.3g s: query cancelled on the server",
                     c->w->run->cfg.command_timeout_s);
            exec_fail(e, state, buf);
        } else {
            exec_fail(e, state && *state ? state : "08006", msg);
        }
        break;
    }
    }
}

static bool conn_expired(const struct conn *c, uint64_t now)
{
    return c->born_ns + (uint64_t)(c->w->run->cfg.pool.recycle_s * 1e9) < now;
}

/*
 * c finished its request: it takes the next execution itself rather than
 * going through the idle list, so that connections finishing together are
 * not closed as surplus idle ones (conn_release keeps at most idle_cap).
 */
static void conn_reuse(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    if (!w->pend.head && !w->stopping && !conn_expired(c, now)) {
        struct exec *e = worker_claim(w);
        if (e) {
            exec_start(w, c, e);
            return;
        }
    }
    conn_release(c);
}

/* Drops the references of the done list (the worker is finishing). */
static void done_drop(struct worker *w)
{
    struct conn *c;
    while ((c = w->done_head) != NULL) {
        w->done_head = c->done_next;
        conn_unref(c);
    }
}

static void on_done_check(uv_check_t *h)
{
    struct worker *w = h->data;
    struct conn *c = w->done_head, *next;
    uint64_t now = pv_now_ns(); /* one clock read for the whole burst */
    w->done_head = NULL;
    uv_check_stop(h);
    for (; c; c = next) {
        next = c->done_next;
        if (!c->dead && c->state == CS_IDLE && !c->exec)
            conn_reuse(c, now);
        conn_unref(c);
    }
    worker_fill(w);
}

/* The last result of the current request arrived. */
static void request_done(struct conn *c)
{
    struct worker *w = c->w;
    pv_run *r = w->run;
    struct exec *e = c->exec;
    uint64_t now = pv_now_ns();
    uv_timer_stop(&c->timer);

    if (c->preparing) {
        c->preparing = false;
        if (!e->failed) {
            /* the statement exists now, even if a cancel raced with it */
            uint32_t qi = r->scen[e->scen].query;
            c->prepared[qi / 8] |= (uint8_t)(1u << (qi % 8));
            if (c->state == CS_PREPARING) {
                exec_send(w, c);
                return;
            }
        }
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, NULL);
        return;
    }
    if (c->state == CS_CANCELLING && e->timed_out && !e->interrupted && !e->failed) {
        /* finished just as the timeout passed: it still exceeded it */
        char buf[128];
        snprintf(buf, sizeof(buf), "command timeout after %.3g s", r->cfg.command_timeout_s);
        exec_fail(e, "57014", buf);
    }
    /* after a stop request e->interrupted is set: nothing is recorded */
    conn_detach(c);
    exec_finish(w, e, now);
    if (conn_park(c)) {
        worker_fill(w);
        return;
    }
    if (w->stopping) {
        conn_release(c);
        worker_fill(w);
        return;
    }
    /*
     * The next query goes out in on_done_check, after every connection
     * ready in this loop iteration has been read. Sending wakes a backend,
     * which the kernel tends to place on this thread's CPU, where it takes
     * over; reading the other results first and sending in a burst just
     * before the loop waits again raised throughput by 9% and cut CPU per
     * query by 8% on the point lookup (medians of 10 alternating runs,
     * docs/performance.md).
     */
    c->state = CS_IDLE;
    c->refs++;
    c->done_next = w->done_head;
    w->done_head = c;
    uv_check_start(&w->done_check, on_done_check);
}

static void conn_read(struct conn *c)
{
    if (!PQconsumeInput(c->pg)) {
        /* conn_lost also opens a replacement if executions wait */
        conn_lost(c, NULL);
        return;
    }
    if (pipelined(c->w->run) && c->state != CS_IDLE) {
        /* executions in flight, or only the pipeline's sync still to come */
        pipe_read(c);
        return;
    }
    if (!c->exec) {
        /* idle (or parked): a notice, or the server closing the connection */
        if (PQstatus(c->pg) == CONNECTION_BAD)
            conn_lost(c, NULL);
        return;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            request_done(c);
            return;
        }
        handle_result(c, c->exec, res);
        bool copy_out = PQresultStatus(res) == PGRES_COPY_OUT;
        PQclear(res);
        if (copy_out) {
            conn_lost(c, "COPY TO STDOUT is not supported in a workload");
            return;
        }
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    if (c->state == CS_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if (status < 0) {
        conn_lost(c, uv_strerror(status));
        return;
    }
    if ((events & UV_WRITABLE) && conn_flush(c) != 0) {
        conn_lost(c, NULL);
        return;
    }
    if (events & UV_READABLE)
        conn_read(c);
}

/* ---- work claiming ---------------------------------------------------- */

static bool claim(struct worker *w, uint32_t *scen, bool *warm)
{
    pv_run *r = w->run;
    if (atomic_load_explicit(&r->stop, memory_order_relaxed))
        return false;
    bool timed = r->cfg.duration_s > 0;
    if (w->measure_ns > w->start_ns || timed) {
        uint64_t now = pv_now_ns();
        if (now < w->measure_ns) {
            *scen = (uint32_t)(w->next_scen++ % r->nscen);
            *warm = true;
            return true;
        }
        if (timed && now >= w->end_ns)
            return false;
    }
    *warm = false;
    if (timed) {
        /*
         * Each worker cycles through the scenarios from its own offset: the
         * same even spread as one shared counter, without a cache line
         * bouncing between the workers' CPUs on every query.
         */
        *scen = (uint32_t)(w->next_scen++ % r->nscen);
        return true;
    }
    uint64_t k = atomic_fetch_add_explicit(&r->next_item, 1, memory_order_relaxed);
    if (k >= r->total_items)
        return false;
    /* first scenario whose cumulative count exceeds k */
    size_t lo = 0, hi = r->nscen - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->cum[mid] > k)
            hi = mid;
        else
            lo = mid + 1;
    }
    *scen = (uint32_t)lo;
    return true;
}

/* Claims the next execution into a free slot, or NULL when there is none. */
static struct exec *worker_claim(struct worker *w)
{
    uint32_t scen;
    bool warm;
    if (w->slots_free == 0 || w->stopping || w->no_more || w->rc != 0)
        return NULL;
    if (!claim(w, &scen, &warm)) {
        w->no_more = true;
        return NULL;
    }
    struct exec *e = w->free_execs;
    w->free_execs = e->next;
    w->slots_free--;
    /* everything but the error text (written only on failure) */
    memset(e, 0, offsetof(struct exec, message));
    e->scen = scen;
    e->warm = warm;
    e->t_claim = pv_now_ns();
    return e;
}

static void worker_fill(struct worker *w)
{
    struct exec *e;
    if (pipelined(w->run)) {
        /* fill each idle connection with a whole pipeline before sending */
        struct conn *c;
        while (w->slots_free > 0 && (c = idle_pop(w)) != NULL) {
            while (c->pq.n < w->run->cfg.pipeline && w->pend.head)
                fifo_push(&c->pq, fifo_pop(&w->pend));
            while (c->pq.n < w->run->cfg.pipeline && (e = worker_claim(w)) != NULL)
                fifo_push(&c->pq, e);
            if (c->pq.n == 0) {
                idle_push(w, c);
                break;
            }
            pool_timer_arm(w);
            pipe_send(w, c);
        }
    }
    while ((e = worker_claim(w)) != NULL)
        exec_acquire(w, e);
    worker_maybe_finish(w);
}

/* Gives e an idle connection, or queues it (opening one if the pool may). */
static void exec_acquire(struct worker *w, struct exec *e)
{
    struct conn *c = idle_pop(w);
    if (c) {
        exec_start(w, c, e);
        return;
    }
    e->deadline = e->t_claim + (uint64_t)(w->run->cfg.pool.timeout_s * 1e9);
    fifo_push(&w->pend, e);
    /* a connection on its way serves one execution, or a pipeline of them */
    int per = pipelined(w->run) ? w->run->cfg.pipeline : 1;
    if (w->pend.n > w->nconnecting * per && w->nconns < w->pool_max)
        conn_open(w);
    if (w->pend.n == 1)
        pool_timer_arm(w);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void worker_maybe_finish(struct worker *w)
{
    if (w->finished || w->connect_phase)
        return;
    bool done =
        (w->no_more || w->stopping || w->rc != 0) && w->slots_free == w->slots && w->pend.n == 0;
    if (!done)
        return;
    w->finished = true;
    done_drop(w);
    while (w->nconns > 0)
        conn_close(w->conns[w->nconns - 1]);
    uv_close((uv_handle_t *)&w->pool_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->sweep_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->done_check, on_handle_closed);
    uv_mutex_lock(&w->run->stop_mu);
    w->wake_open = false;
    uv_close((uv_handle_t *)&w->wake, on_handle_closed);
    uv_mutex_unlock(&w->run->stop_mu);
}

/* Stop requested: drop waiting executions, cancel those in flight. */
static void worker_begin_stop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    struct exec *e;
    while ((e = fifo_pop(&w->pend)) != NULL) {
        e->interrupted = true;
        exec_finish(w, e, pv_now_ns());
    }
    while ((e = w->retry_head) != NULL) {
        w->retry_head = e->next;
        e->interrupted = true;
        exec_finish(w, e, pv_now_ns());
    }
    for (int i = w->nconns - 1; i >= 0; i--) {
        struct conn *c = w->conns[i];
        if (c->state == CS_CONNECTING) {
            conn_close(c);
        } else if (c->exec) {
            c->exec->interrupted = true;
            if (c->state != CS_CANCELLING)
                conn_cancel(c, 2000);
        } else if (c->pq.n > 0) {
            for (struct exec *x = c->pq.head; x; x = x->next)
                x->interrupted = true;
            if (c->state != CS_CANCELLING)
                conn_cancel(c, 2000);
        }
    }
    worker_maybe_finish(w);
}

static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    if (atomic_load(&w->run->stop))
        worker_begin_stop(w);
}

/* ---- threads ---------------------------------------------------------- */

static void worker_main(void *arg)
{
    struct worker *w = arg;
    pv_run *r = w->run;

    if (w->cpu >= 0) {
        cpu_set_t *set = CPU_ALLOC((size_t)w->cpu + 1);
        size_t size = CPU_ALLOC_SIZE((size_t)w->cpu + 1);
        w->pin_failed = set == NULL;
        if (set) {
            CPU_ZERO_S(size, set);
            CPU_SET_S((size_t)w->cpu, size, set);
            w->pin_failed = pthread_setaffinity_np(pthread_self(), size, set) != 0;
            CPU_FREE(set);
        }
    }

    /* Phase 1: open the connections the slots need, all at once. */
    w->connect_phase = true;
    int per = pipelined(r) ? r->cfg.pipeline : 1;
    int initial = PV_MIN((w->slots + per - 1) / per, w->pool_max);
    for (int i = 0; i < initial && w->rc == 0; i++)
        conn_open(w);
    while (w->nconnecting > 0 && !atomic_load(&r->stop))
        uv_run(&w->loop, UV_RUN_ONCE);
    w->connected_ns = pv_now_ns();
    w->connect_phase = false;
    /* the idle list's extra connections beyond idle_cap stay: they are in use soon */

    /* Phase 2: everyone connected; start the clock together. */
    uv_barrier_wait(&r->barrier);
    w->start_ns = pv_now_ns();
    w->measure_ns = w->start_ns + (uint64_t)(r->cfg.warmup_s * 1e9);
    w->end_ns = w->measure_ns + (uint64_t)(r->cfg.duration_s * 1e9);
    atomic_store(&r->clock_started, 1);
    if (atomic_load(&r->stop))
        worker_begin_stop(w);
    worker_fill(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (atomic_fetch_sub(&r->workers_left, 1) == 1 && r->cfg.on_done)
        r->cfg.on_done(r->cfg.on_done_arg);
}

static int split(int total, int parts, int i)
{
    return total / parts + (i < total % parts ? 1 : 0);
}

int pv_run_create(const struct pv_run_config *cfg, pv_run **out, pv_err *err)
{
    if (!cfg->target || !cfg->workload || pv_workload_count(cfg->workload) == 0)
        return pv_err_set(err, VOLLEY_EINVAL, "nothing to run");
    if (cfg->concurrency < 1 || cfg->concurrency > 10000)
        return pv_err_set(err, VOLLEY_EINVAL, "concurrency must be between 1 and 10000, not %d",
                          cfg->concurrency);
    if (cfg->pool.size < 1 || cfg->pool.max_overflow < 0)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "pool size must be at least 1 and overflow at least 0");
    if ((long)cfg->pool.size + cfg->pool.max_overflow > 100000)
        return pv_err_set(err, VOLLEY_EINVAL, "pool size + overflow is too large");
    if (cfg->pipeline < 0 || cfg->pipeline > 1000)
        return pv_err_set(err, VOLLEY_EINVAL, "pipeline depth must be between 1 and 1000");
    if (cfg->pipeline > 1 && cfg->protocol == PV_PROTOCOL_SIMPLE)
        return pv_err_set(err, VOLLEY_EINVAL,
                          "--pipeline needs --protocol extended or prepared (libpq pipelines "
                          "only the extended protocol)");
    if (cfg->retries < 0 || cfg->retries > 100)
        return pv_err_set(err, VOLLEY_EINVAL, "retries must be between 0 and 100");
    if (cfg->duration_s < 0 || cfg->warmup_s < 0 || cfg->command_timeout_s < 0)
        return pv_err_set(err, VOLLEY_EINVAL, "durations and timeouts cannot be negative");
    const pv_workload *wl = cfg->workload;
    size_t nq = pv_workload_count(wl);
    if (cfg->protocol == PV_PROTOCOL_SIMPLE) {
        for (size_t i = 0; i < nq; i++) {
            const struct pv_query *q = pv_workload_query(wl, i);
            if (q->nparams > 0)
                return pv_err_set(err, VOLLEY_EINVAL,
                                  "%s: a query with parameters needs --protocol extended or "
                                  "prepared (parameters are never spliced into SQL text)",
                                  q->path);
        }
    }

    pv_run *r = calloc(1, sizeof(*r));
    if (!r)
        return VOLLEY_ENOMEM;
    if (uv_mutex_init(&r->stop_mu) != 0) {
        free(r);
        return VOLLEY_ENOMEM;
    }
    r->cfg = *cfg;
    r->timeout_ns = (uint64_t)(cfg->command_timeout_s * 1e9);
    r->nqueries = nq;
    r->result.nqueries = nq;
    r->nscen = pv_workload_scenario_count(wl);
    r->scen = calloc(r->nscen, sizeof(*r->scen));
    r->cum = calloc(r->nscen, sizeof(*r->cum));
    r->stmt_names = calloc(nq, sizeof(*r->stmt_names));
    r->result.queries = calloc(nq, sizeof(*r->result.queries));
    if (!r->scen || !r->cum || !r->stmt_names || !r->result.queries)
        goto oom;
    size_t k = 0;
    uint64_t cum = 0;
    for (size_t i = 0; i < nq; i++) {
        const struct pv_query *q = pv_workload_query(wl, i);
        snprintf(r->stmt_names[i], sizeof(r->stmt_names[i]), "pgvolley_%zu", i);
        r->result.queries[i].query = q;
        for (size_t j = 0; j < q->nscenarios; j++, k++) {
            r->scen[k].query = (uint32_t)i;
            r->scen[k].scen = (uint32_t)j;
            cum += q->scenarios[j].exec_count;
            r->cum[k] = cum;
        }
    }
    r->total_items = cum;

    int c = cfg->concurrency;
    int pool_total = cfg->pool.size + cfg->pool.max_overflow;
    int nw = PV_MIN(PV_MAX(cfg->threads, 1), c);
    nw = PV_MIN(nw, pool_total);
    r->nworkers = nw;
    r->workers = calloc((size_t)nw, sizeof(*r->workers));
    if (!r->workers)
        goto oom;
    for (int i = 0; i < nw; i++) {
        struct worker *w = &r->workers[i];
        w->run = r;
        w->id = i;
        w->slots = w->slots_free = split(c, nw, i);
        w->pool_max = split(pool_total, nw, i);
        w->idle_cap = PV_MAX(1, split(cfg->pool.size, nw, i));
        w->conns = calloc((size_t)w->pool_max, sizeof(*w->conns));
        w->execs = calloc((size_t)w->slots, sizeof(*w->execs));
        w->stats = calloc(r->nscen, sizeof(*w->stats));
        w->buffered = calloc(r->nscen, 1);
        if (!w->conns || !w->execs || !w->stats || !w->buffered)
            goto oom;
        for (int j = 0; j < w->slots; j++) {
            w->execs[j].next = w->free_execs;
            w->free_execs = &w->execs[j];
        }
        for (size_t j = 0; j < r->nscen; j++)
            if (pv_stat_init(&w->stats[j]) != 0)
                goto oom;
        if (pv_hist_create(&w->pool.acquire_wait) != 0)
            goto oom;
    }
    *out = r;
    return 0;

oom:
    r->started = true; /* nothing to stop */
    r->joined = true;
    pv_run_destroy(r);
    return VOLLEY_ENOMEM;
}

/* The CPUs this process may run on, in order; sized for any number of CPUs. */
static int allowed_cpus(int **out, int *n)
{
    for (size_t ncpu = CPU_SETSIZE; ncpu <= ((size_t)1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        size_t size = CPU_ALLOC_SIZE(ncpu);
        if (!set)
            return VOLLEY_ENOMEM;
        if (sched_getaffinity(0, size, set) != 0) {
            CPU_FREE(set);
            if (errno == EINVAL) /* the kernel's mask is larger: try a larger set */
                continue;
            return VOLLEY_EIO;
        }
        int count = CPU_COUNT_S(size, set), k = 0;
        int *cpus = count > 0 ? malloc((size_t)count * sizeof(*cpus)) : NULL;
        if (!cpus) {
            CPU_FREE(set);
            return count > 0 ? VOLLEY_ENOMEM : VOLLEY_EIO;
        }
        for (size_t c = 0; c < ncpu && k < count; c++) {
            if (CPU_ISSET_S(c, size, set))
                cpus[k++] = (int)c;
        }
        CPU_FREE(set);
        *out = cpus;
        *n = k;
        return 0;
    }
    return VOLLEY_EIO;
}

static void noop_work(uv_work_t *req)
{
    (void)req;
}

static void noop_after_work(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Makes libuv start its (process-wide) thread pool from the calling thread. */
static void threadpool_start(void)
{
    uv_loop_t loop;
    uv_work_t req;
    if (uv_loop_init(&loop) != 0)
        return; /* then the pool starts later, pinned: slower cancels, nothing worse */
    if (uv_queue_work(&loop, &req, noop_work, noop_after_work) == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int pv_run_start(pv_run *r, pv_err *err)
{
    if (uv_barrier_init(&r->barrier, (unsigned)r->nworkers) != 0)
        return pv_err_set(err, VOLLEY_EIO, "cannot create a thread barrier");
    r->barrier_init = true;
    r->t0 = pv_now_ns();
    r->result.started_at = pv_wall_time();
    atomic_store(&r->workers_left, r->nworkers);
    int *cpus = NULL, ncpus = 0;
    if (r->cfg.pin_threads) {
        int rc = allowed_cpus(&cpus, &ncpus);
        if (rc != 0)
            return pv_err_set(err, rc, "cannot read the CPUs this process may use");
        /* libuv starts its thread pool (cancel requests) on first use, and
           threads inherit their creator's affinity: start it from here */
        threadpool_start();
    }
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        w->cpu = ncpus > 0 ? cpus[i % ncpus] : -1;
        if (uv_loop_init(&w->loop) != 0)
            return pv_err_set(err, VOLLEY_EIO, "cannot create an event loop");
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        uv_timer_init(&w->loop, &w->pool_timer);
        w->pool_timer.data = w;
        uv_timer_init(&w->loop, &w->retry_timer);
        w->retry_timer.data = w;
        uv_timer_init(&w->loop, &w->sweep_timer);
        w->sweep_timer.data = w;
        uv_check_init(&w->loop, &w->done_check);
        w->done_check.data = w;
        if (r->timeout_ns) {
            uint64_t every = PV_MIN(PV_MAX(r->timeout_ns / 20 / 1000000, 5), 1000);
            uv_timer_start(&w->sweep_timer, on_timeout_sweep, every, every);
        }
        w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ r->t0;
        w->next_scen = (uint64_t)i * r->nscen / (uint64_t)r->nworkers;
        w->wake_open = true;
    }
    free(cpus);
    for (int i = 0; i < r->nworkers; i++) {
        if (uv_thread_create(&r->workers[i].thread, worker_main, &r->workers[i]) != 0) {
            /* cannot happen in practice; threads already started would wait
               at the barrier forever, so this is fatal for the process */
            return pv_err_set(err, VOLLEY_EIO, "cannot start worker thread %d", i);
        }
    }
    r->started = true;
    return 0;
}

void pv_run_stop(pv_run *r)
{
    atomic_store(&r->stop, 1);
    uv_mutex_lock(&r->stop_mu);
    for (int i = 0; i < r->nworkers; i++)
        if (r->workers[i].wake_open)
            uv_async_send(&r->workers[i].wake);
    uv_mutex_unlock(&r->stop_mu);
}

void pv_run_progress(const pv_run *r, struct pv_progress *p)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < r->nworkers; i++) {
        p->done += atomic_load_explicit(&r->workers[i].done, memory_order_relaxed);
        p->failed += atomic_load_explicit(&r->workers[i].failed, memory_order_relaxed);
    }
    p->total = r->cfg.duration_s > 0 ? 0 : r->total_items;
    p->connecting = !atomic_load(&((pv_run *)r)->clock_started);
    if (!p->connecting && r->nworkers > 0) {
        /* start_ns of worker 0 is written before clock_started is set */
        const struct worker *w = &r->workers[0];
        uint64_t now = pv_now_ns();
        p->warming_up = now < w->measure_ns;
        p->elapsed_s = now > w->measure_ns ? (double)(now - w->measure_ns) / 1e9 : 0;
    }
}

int pv_run_wait(pv_run *r, pv_err *err)
{
    if (r->joined)
        return 0;
    for (int i = 0; i < r->nworkers; i++) {
        uv_thread_join(&r->workers[i].thread);
        uv_loop_close(&r->workers[i].loop);
    }
    r->joined = true;

    struct pv_run_result *res = &r->result;
    res->concurrency = r->cfg.concurrency;
    res->threads = r->nworkers;
    res->pool = r->cfg.pool;
    res->command_timeout_s = r->cfg.command_timeout_s;
    res->protocol = r->cfg.protocol;
    res->duration_s = r->cfg.duration_s;
    res->warmup_s = r->cfg.warmup_s;
    res->retries = r->cfg.retries;
    res->pipeline = r->cfg.pipeline > 1 ? r->cfg.pipeline : 1;
    res->pinned = r->cfg.pin_threads;
    for (int i = 0; i < r->nworkers; i++)
        res->pinned = res->pinned && !r->workers[i].pin_failed;
    res->interrupted = atomic_load(&r->stop) != 0;

    int rc = pv_stat_init(&res->total);
    if (rc == 0)
        rc = pv_hist_create(&res->pool_stats.acquire_wait);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < r->nqueries; i++) {
        struct pv_query_result *qr = &res->queries[i];
        const struct pv_query *q = qr->query;
        rc = pv_stat_init(&qr->stat);
        if (rc == 0) {
            qr->scenarios = calloc(q->nscenarios, sizeof(*qr->scenarios));
            rc = qr->scenarios ? 0 : VOLLEY_ENOMEM;
        }
        for (size_t j = 0; rc == 0 && j < q->nscenarios; j++, k++) {
            struct pv_scenario_result *sr = &qr->scenarios[j];
            sr->scenario = &q->scenarios[j];
            rc = pv_stat_init(&sr->stat);
            for (int t = 0; rc == 0 && t < r->nworkers; t++)
                rc = pv_stat_merge(&sr->stat, &r->workers[t].stats[k]);
            if (rc == 0)
                rc = pv_stat_merge(&qr->stat, &sr->stat);
            pv_stat_sort_errors(&sr->stat);
        }
        if (rc == 0)
            rc = pv_stat_merge(&res->total, &qr->stat);
        pv_stat_sort_errors(&qr->stat);
    }
    pv_stat_sort_errors(&res->total);

    uint64_t first = UINT64_MAX, last = 0, connected = 0;
    struct pv_pool_stats *ps = &res->pool_stats;
    for (int t = 0; rc == 0 && t < r->nworkers; t++) {
        struct worker *w = &r->workers[t];
        if (w->rc != 0)
            rc = w->rc;
        ps->opened += w->pool.opened;
        ps->closed += w->pool.closed;
        ps->connect_failed += w->pool.connect_failed;
        ps->lost += w->pool.lost;
        ps->timeouts += w->pool.timeouts;
        ps->max_in_use += (uint64_t)w->max_in_use;
        if (rc == 0)
            rc = pv_hist_merge(ps->acquire_wait, w->pool.acquire_wait);
        if (w->measure_ns && w->measure_ns < first)
            first = w->measure_ns;
        if (w->last_done_ns > last)
            last = w->last_done_ns;
        if (w->connected_ns > connected)
            connected = w->connected_ns;
    }
    ps->connect_s = connected > r->t0 ? (double)(connected - r->t0) / 1e9 : 0;
    res->wall_s = (first != UINT64_MAX && last > first) ? (double)(last - first) / 1e9 : 0;
    if (rc != 0)
        return pv_err_set(err, rc, "out of memory while merging statistics");
    return 0;
}

const struct pv_run_result *pv_run_result(const pv_run *r)
{
    return &r->result;
}

void pv_run_destroy(pv_run *r)
{
    if (!r)
        return;
    if (r->started && !r->joined) {
        pv_run_stop(r);
        pv_run_wait(r, NULL);
    }
    for (int i = 0; r->workers && i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        for (size_t j = 0; w->stats && j < r->nscen; j++)
            pv_stat_fini(&w->stats[j]);
        free(w->stats);
        free(w->buffered);
        free(w->execs);
        free(w->conns);
        pv_hist_destroy(w->pool.acquire_wait);
    }
    free(r->workers);
    struct pv_run_result *res = &r->result;
    for (size_t i = 0; res->queries && i < r->nqueries; i++) {
        struct pv_query_result *qr = &res->queries[i];
        for (size_t j = 0; qr->scenarios && j < qr->query->nscenarios; j++)
            pv_stat_fini(&qr->scenarios[j].stat);
        free(qr->scenarios);
        pv_stat_fini(&qr->stat);
    }
    free(res->queries);
    pv_stat_fini(&res->total);
    pv_hist_destroy(res->pool_stats.acquire_wait);
    if (r->barrier_init)
        uv_barrier_destroy(&r->barrier);
    uv_mutex_destroy(&r->stop_mu);
    free(r->scen);
    free(r->cum);
    free(r->stmt_names);
    free(r);
}
