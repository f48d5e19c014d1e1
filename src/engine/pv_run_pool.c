/*
 * pv_run_pool.c - the run engine's per-worker pool on the connection core:
 * opening connections, handing them to waiting executions, the idle list,
 * the pool timeout, and connections that fail or break.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine/pv_run_int.h"

/* ---- idle list -------------------------------------------------------- */

void pv_run__idle_push(struct worker *w, struct conn *c)
{
    pv_dlist_push(&w->idle, &c->idle);
    c->in_idle = true;
}

static void idle_remove(struct worker *w, struct conn *c)
{
    if (c->in_idle)
        pv_dlist_remove(&w->idle, &c->idle);
    c->in_idle = false;
}

struct conn *pv_run__idle_pop(struct worker *w)
{
    if (!w->idle.head)
        return NULL;
    struct conn *c = PV_CONTAINER_OF(w->idle.head, struct conn, idle);
    idle_remove(w, c);
    return c;
}

/* ---- executions waiting for a connection ------------------------------ */

static void on_pool_timer(uv_timer_t *t);

void pv_run__pool_timer_arm(struct worker *w)
{
    if (!w->pend.head || w->finished) {
        if (!w->finished)
            uv_timer_stop(&w->pool_timer);
        return;
    }
    uint64_t now = pv_now_ns();
    uint64_t d = pv_run__exec_of(w->pend.head)->deadline;
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
    while (w->pend.head && pv_run__exec_of(w->pend.head)->deadline <= now) {
        struct exec *e = pv_run__fifo_pop(&w->pend);
        w->pool.timeouts++;
        if (!e->warm)
            pv_hist_record(w->pool.acquire_wait, now - e->t_claim);
        pv_run__exec_fail(e, PV_SQLSTATE_POOL_TIMEOUT, msg);
        e->t_send = now;
        pv_run__exec_finish(w, e, now);
    }
    pv_run__pool_timer_arm(w);
    pv_run__worker_fill(w);
}

static void on_connect_timer(uv_timer_t *t);

void pv_run__pool_refill(struct worker *w)
{
    if (!pv_run__wants_conn(w))
        return;
    uint64_t now = w->connect_after_ns ? pv_now_ns() : 0;
    if (now < w->connect_after_ns) {
        if (!w->finished && !uv_is_active((uv_handle_t *)&w->connect_timer))
            uv_timer_start(&w->connect_timer, on_connect_timer,
                           (w->connect_after_ns - now + 999999) / 1000000, 0);
        return;
    }
    pv_run__conn_open(w);
}

/* ---- opening and closing ---------------------------------------------- */

void pv_run__conn_close(struct conn *c)
{
    struct worker *w = c->w;
    if (!pv_conn_is_open(&c->core))
        return;
    idle_remove(w, c);
    if (pv_conn_state(&c->core) == PV_CONN_CONNECTING) {
        w->nconnecting--;
    } else {
        w->pool.closed++;
        if (atomic_fetch_sub_explicit(&w->run->open_conns, 1, memory_order_relaxed) == 1)
            atomic_store_explicit(&w->run->conns_gone_ns, pv_now_ns(), memory_order_relaxed);
    }
    /* swap-remove from the connection array */
    struct conn *last = w->conns[--w->nconns];
    w->conns[c->index] = last;
    last->index = c->index;
    pv_conn_close(&c->core);
}

void pv_run__conn_open(struct worker *w)
{
    pv_run *r = w->run;
    struct conn *c = calloc(1, sizeof(*c));
    uint8_t *prepared = calloc((r->nslots + 7) / 8 + 1, 1);
    if (!c || !prepared ||
        pv_conn_start(
            &c->core, &w->loop, pv_target_keywords(r->cfg.target), pv_target_values(r->cfg.target),
            (uint64_t)(r->cfg.pool.connect_timeout_s * 1000.0 + 0.5), &pv_run__conn_ops) != 0) {
        free(c);
        free(prepared);
        w->rc = VOLLEY_ENOMEM;
        return;
    }
    c->w = w;
    c->prepared = prepared;
    pv_buf_init(&c->txn_text);
    if (r->nslots > r->nqueries &&
        !(c->txn_vals = calloc((size_t)PV_MAX(r->max_params, 1), sizeof(*c->txn_vals))))
        w->rc = VOLLEY_ENOMEM; /* the worker ends; the connection closes with it */
    c->index = w->nconns;
    w->conns[w->nconns++] = c;
    w->nconnecting++;
}

static void on_connect_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    pv_run__pool_refill(w);
    pv_run__worker_fill(w);
}

/*
 * A connection attempt ended in failure (the server refused it: too many
 * connections, starting up, down). The worker backs off before it tries
 * again (50 ms, doubling up to 500 ms), so that a server at its limit or
 * restarting is not hit by a storm of connects, and keeps to the
 * connections it has: waiting executions are served as those are
 * released. Only a worker with no connection at all fails the oldest
 * waiting execution (with the reason), so that a dead server cannot leave
 * executions waiting; and only when the run has had no connection open for
 * PV_RUN_CONNECT_SETTLE_NS: the last connected worker to finish closes its
 * connections while another still waits to connect, and the server refuses
 * that one until their backends have exited.
 */
static void connect_failed(struct conn *c, const char *why)
{
    struct worker *w = c->w;
    char msg[256];
    pv_first_line(msg, sizeof(msg), why);
    w->pool.connect_failed++;
    pv_run__conn_close(c);
    uint64_t now = pv_now_ns();
    w->connect_backoff_ns = w->connect_backoff_ns
                                ? PV_MIN(w->connect_backoff_ns * 2, PV_RUN_CONNECT_BACKOFF_MAX_NS)
                                : PV_RUN_CONNECT_BACKOFF_MIN_NS;
    w->connect_after_ns = now + w->connect_backoff_ns;
    if (!w->finished)
        uv_timer_start(&w->connect_timer, on_connect_timer,
                       (w->connect_backoff_ns + 999999) / 1000000, 0);
    if (w->connect_phase)
        return;
    bool connected = w->nconns > w->nconnecting;
    if (!connected && pv_run__hand_off(w)) {
        pv_run__worker_fill(w);
        return;
    }
    uint64_t gone = atomic_load_explicit(&w->run->conns_gone_ns, memory_order_relaxed);
    bool settling = gone && now < gone + PV_RUN_CONNECT_SETTLE_NS;
    if (!connected && !settling && w->pend.n > w->nconnecting * pv_run__per_conn(w->run)) {
        struct exec *e = pv_run__fifo_pop(&w->pend);
        if (w->run->cfg.duration_s > 0 && now >= w->end_ns)
            e->interrupted = true; /* time is up and it never started: not counted */
        else
            pv_run__exec_fail(e, PV_SQLSTATE_CONNECT_FAILED, msg);
        e->t_send = now;
        pv_run__exec_finish(w, e, now);
        pv_run__pool_timer_arm(w);
    }
    pv_run__worker_fill(w);
}

static void on_connect_failed(pv_conn *pc, const char *why)
{
    connect_failed(pv_run__conn_of(pc), why);
}

static void on_connected(pv_conn *pc)
{
    struct conn *c = pv_run__conn_of(pc);
    struct worker *w = c->w;
    c->born_ns = pv_now_ns();
    w->nconnecting--;
    w->pool.opened++;
    pv_run *r = w->run;
    int open = atomic_fetch_add_explicit(&r->open_conns, 1, memory_order_relaxed) + 1;
    int max = atomic_load_explicit(&r->max_open_conns, memory_order_relaxed);
    while (open > max && !atomic_compare_exchange_weak(&r->max_open_conns, &max, open))
        ;
    w->connect_backoff_ns = 0; /* the server accepts again */
    w->connect_after_ns = 0;
    if (pv_run__pipelined(w->run) && !PQenterPipelineMode(pv_run__pg(c))) {
        connect_failed(c, "cannot enter pipeline mode");
        return;
    }
    if (w->connect_phase) {
        pv_run__idle_push(w, c);
        return;
    }
    pv_run__conn_release(c);
    pv_run__worker_fill(w);
}

void pv_run__conn_release(struct conn *c)
{
    struct worker *w = c->w;
    if (PQtransactionStatus(pv_run__pg(c)) != PQTRANS_IDLE) {
        /* left inside a transaction (cancelled in one, or a file's BEGIN
           without COMMIT): never handed on */
        pv_run__conn_close(c);
        pv_run__pool_refill(w);
        return;
    }
    if (w->pend.head && !w->stopping) {
        if (pv_run__conn_expired(c, pv_now_ns())) {
            pv_run__conn_close(c);
            pv_run__conn_open(w);
            return;
        }
        if (pv_run__pipelined(w->run)) {
            pv_run__pipe_start(w, c, NULL);
            return;
        }
        struct exec *e = pv_run__fifo_pop(&w->pend);
        pv_run__pool_timer_arm(w);
        pv_run__exec_start(w, c, e);
        return;
    }
    /* pipelines are merged back: a connection beyond the slots' need
       (after replacements) closes rather than splitting the pipelines */
    int per = pv_run__per_conn(w->run);
    bool surplus = per > 1 && w->nconns > (w->slots + per - 1) / per;
    if (surplus || w->idle.n >= w->idle_cap || w->stopping ||
        pv_run__conn_expired(c, pv_now_ns())) {
        pv_run__conn_close(c);
        return;
    }
    pv_run__idle_push(w, c);
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

void pv_run__conn_lost(struct conn *c, const char *sqlstate, const char *why)
{
    struct worker *w = c->w;
    enum pv_conn_state st = pv_conn_state(&c->core);
    if (pv_run__pipelined(w->run) && (st == PV_CONN_BUSY || st == PV_CONN_CANCELLING)) {
        w->pool.lost++;
        pv_run__pipe_abandon(c, sqlstate, why ? why : PQerrorMessage(pv_run__pg(c)));
        pv_run__pool_refill(w);
        pv_run__worker_fill(w);
        return;
    }
    struct exec *e = conn_detach(c);
    if (e) {
        w->pool.lost++;
        pv_run__exec_fail(e, sqlstate, why ? why : PQerrorMessage(pv_run__pg(c)));
    }
    pv_run__conn_close(c);
    if (e)
        pv_run__exec_finish(w, e, pv_now_ns());
    /* Executions waiting for a connection get a new one. */
    pv_run__pool_refill(w);
    pv_run__worker_fill(w);
}

/* ---- the core's callbacks ---------------------------------------------- */

static bool on_result(pv_conn *pc, PGresult *res)
{
    struct conn *c = pv_run__conn_of(pc);
    if (pv_run__pipelined(c->w->run))
        return pv_run__pipe_result(c, res);
    return pv_run__exec_result(c, res);
}

/* A parked connection's cancel request is done: it may be used again. */
static void on_idle(pv_conn *pc)
{
    struct conn *c = pv_run__conn_of(pc);
    pv_run__conn_release(c);
    pv_run__worker_fill(c->w);
}

static void on_lost(pv_conn *pc, const char *sqlstate, const char *why)
{
    pv_run__conn_lost(pv_run__conn_of(pc), sqlstate, why);
}

static void on_freed(pv_conn *pc)
{
    struct conn *c = pv_run__conn_of(pc);
    free(c->txn_vals);
    pv_buf_fini(&c->txn_text);
    free(c->prepared);
    free(c);
}

/* ---- executions handed over between workers --------------------------- */

bool pv_run__hand_off(struct worker *w)
{
    pv_run *r = w->run;
    if (w->pend.n == 0 || atomic_load(&r->open_conns) == 0)
        return false;
    bool moved = false;
    uv_mutex_lock(&r->stop_mu);
    while (r->live_workers > 1 && w->pend.head) {
        struct orphan *o = malloc(sizeof(*o));
        if (!o)
            break; /* the rest waits here */
        struct exec *e = pv_run__fifo_pop(&w->pend);
        o->e = *e;
        o->next = NULL;
        *r->orphans_tail = o;
        r->orphans_tail = &o->next;
        atomic_fetch_add(&r->norphans, 1);
        e->next = w->free_execs;
        w->free_execs = e;
        w->slots_free++;
        moved = true;
    }
    for (int i = 0; moved && i < r->nworkers; i++)
        if (&r->workers[i] != w && r->workers[i].wake_open)
            uv_async_send(&r->workers[i].wake);
    uv_mutex_unlock(&r->stop_mu);
    return moved;
}

void pv_run__adopt(struct worker *w)
{
    pv_run *r = w->run;
    struct orphan *got = NULL, **tail = &got;
    uv_mutex_lock(&r->stop_mu);
    while (r->orphans && w->slots_free > 0) {
        struct orphan *o = r->orphans;
        r->orphans = o->next;
        if (!r->orphans)
            r->orphans_tail = &r->orphans;
        atomic_fetch_sub(&r->norphans, 1);
        o->next = NULL;
        *tail = o;
        tail = &o->next;
        w->slots_free--; /* taken here, so that the loop stops in time */
    }
    uv_mutex_unlock(&r->stop_mu);
    while (got) {
        struct orphan *o = got;
        got = o->next;
        struct exec *e = w->free_execs;
        w->free_execs = e->next;
        *e = o->e;
        e->link.next = NULL;
        e->next = NULL;
        free(o);
        pv_run__exec_acquire(w, e);
    }
}

/* connected, connect_failed, result, idle, lost, freed */
const struct pv_conn_ops pv_run__conn_ops = {on_connected, on_connect_failed, on_result,
                                             on_idle,      on_lost,           on_freed};
