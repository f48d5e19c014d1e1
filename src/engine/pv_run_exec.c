/*
 * pv_run_exec.c - executions of the run engine: claiming work, sending a
 * query, counting its results, retries with backoff, the burst of sends
 * after each loop iteration, and filling, stopping and finishing a worker.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_run_int.h"

/* ---- one execution ----------------------------------------------------- */

void pv_run__exec_fail(struct exec *e, const char *sqlstate, const char *msg)
{
    if (e->failed)
        return; /* keep the first error of the execution */
    e->failed = true;
    snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
    pv_first_line(e->message, sizeof(e->message), msg);
}

static bool is_prepared(const struct conn *c, uint32_t qi)
{
    return c->prepared[qi / 8] & (1u << (qi % 8));
}

/*
 * A transaction's parameter set, drawn once (at its first statement) and
 * kept on c for the others: w->draw's scratch is the next execution's.
 * @return 0 or VOLLEY_ENOMEM.
 */
static int txn_draw(struct worker *w, struct conn *c, const struct pv_query *q,
                    const struct pv_scenario *s)
{
    const char *const *v;
    if (pv_scenario_values(s, &w->draw, &v) != 0)
        return VOLLEY_ENOMEM;
    pv_buf_reset(&c->txn_text);
    for (int i = 0; i < q->nparams; i++)
        if (v && v[i])
            pv_buf_append(&c->txn_text, v[i], strlen(v[i]) + 1);
    if (pv_buf_ok(&c->txn_text) != 0)
        return VOLLEY_ENOMEM;
    const char *p = c->txn_text.data;
    for (int i = 0; i < q->nparams; i++) {
        c->txn_vals[i] = v && v[i] ? p : NULL;
        if (v && v[i])
            p += strlen(p) + 1;
    }
    return 0;
}

/* The statement of e to send now: a single query's, or the transaction's
   current one with its values picked from the set. */
struct stmt_ref {
    size_t slot;
    const char *sql;
    int nparams;
};

static int stmt_of(struct worker *w, struct conn *c, struct exec *e, struct stmt_ref *st,
                   const char *const **values)
{
    pv_run *r = w->run;
    const struct scen_ref *ref = &r->scen[e->scen];
    const struct pv_query *q = pv_workload_query(r->cfg.workload, ref->query);
    const struct pv_scenario *s = &q->scenarios[ref->scen];
    if (q->nsteps == 0) {
        st->slot = ref->query;
        st->sql = q->sql;
        st->nparams = q->nparams;
        return values ? pv_scenario_values(s, &w->draw, values) : 0;
    }
    const struct pv_step *step = &q->steps[e->step];
    st->slot = r->step_slot[ref->query] + e->step;
    st->sql = step->sql;
    st->nparams = step->nparams;
    if (!values)
        return 0;
    if (e->step == 0 && txn_draw(w, c, q, s) != 0)
        return VOLLEY_ENOMEM;
    for (int k = 0; k < step->nparams; k++)
        w->step_vals[k] = c->txn_vals[step->map[k]];
    *values = w->step_vals;
    return 0;
}

/*
 * Whether e's transaction sends its BEGIN and first statement together
 * (pv_run_config.separate_begin): on the extended protocols, outside
 * --pipeline, once both statements are prepared on c (the first
 * executions prepare them one at a time) and once the scenario's results
 * are known to be small (single-row mode is not used in pipeline mode).
 */
static bool txn_pair_ok(const struct worker *w, const struct conn *c, const struct exec *e)
{
    const pv_run *r = w->run;
    if (e->step != 0 || r->cfg.separate_begin || r->cfg.protocol == PV_PROTOCOL_SIMPLE ||
        !w->buffered[e->scen])
        return false;
    const struct scen_ref *ref = &r->scen[e->scen];
    if (pv_workload_query(r->cfg.workload, ref->query)->nsteps < 2)
        return false;
    size_t slot = r->step_slot[ref->query];
    return r->cfg.protocol != PV_PROTOCOL_PREPARED ||
           (is_prepared(c, (uint32_t)slot) && is_prepared(c, (uint32_t)slot + 1));
}

/*
 * Sends BEGIN and the transaction's first statement in one pipeline with
 * one sync: one round trip where two would wait on each other. Both are in
 * the sync's implicit block, so a failed BEGIN aborts the statement
 * instead of letting it run outside a transaction. The results come back
 * to txn_pair_result. @return libpq's 1, or 0 on failure.
 */
static int txn_pair_send(struct worker *w, struct conn *c, struct exec *e, PGconn *pg)
{
    const pv_run *r = w->run;
    if (!PQenterPipelineMode(pg))
        return 0;
    for (int k = 0; k < 2; k++) {
        const char *const *values = NULL;
        struct stmt_ref st;
        e->step = k;
        if (stmt_of(w, c, e, &st, &values) != 0)
            return 0; /* out of memory: the connection is lost, e fails with it */
        int ok =
            r->cfg.protocol == PV_PROTOCOL_PREPARED
                ? PQsendQueryPrepared(pg, r->stmt_names[st.slot], st.nparams, values, NULL, NULL, 0)
                : PQsendQueryParams(pg, st.sql, st.nparams, NULL, values, NULL, NULL, 0);
        if (!ok)
            return 0;
    }
    e->step = 0;
    c->pair = TXN_PAIR_BEGIN;
    return PQpipelineSync(pg);
}

/* Sends c's execution (a transaction: its current statement), the
   statement's prepare first if c lacks it. */
static void exec_send(struct worker *w, struct conn *c)
{
    pv_run *r = w->run;
    struct exec *e = c->exec;
    PGconn *pg = pv_run__pg(c);
    const char *const *values = NULL; /* fixed, or drawn for this execution (GENERATE, ...) */
    struct stmt_ref st;
    int ok;

    uint64_t now = pv_now_ns();
    e->t_step = now;
    if (e->step == 0)
        e->t_send = now; /* a transaction runs from its first statement */
    if (txn_pair_ok(w, c, e)) {
        ok = txn_pair_send(w, c, e, pg);
        goto sent;
    }
    switch (r->cfg.protocol) {
    case PV_PROTOCOL_PREPARED:
        stmt_of(w, c, e, &st, NULL);
        if (!is_prepared(c, (uint32_t)st.slot)) {
            ok = PQsendPrepare(pg, r->stmt_names[st.slot], st.sql, st.nparams, NULL);
            c->preparing = true;
            goto sent;
        }
        /* XXX: a draw fails only out of memory, which then costs the connection */
        ok = stmt_of(w, c, e, &st, &values) == 0 &&
             PQsendQueryPrepared(pg, r->stmt_names[st.slot], st.nparams, values, NULL, NULL, 0);
        break;
    case PV_PROTOCOL_EXTENDED:
        ok = stmt_of(w, c, e, &st, &values) == 0 &&
             PQsendQueryParams(pg, st.sql, st.nparams, NULL, values, NULL, NULL, 0);
        break;
    default:
        stmt_of(w, c, e, &st, NULL);
        ok = PQsendQuery(pg, st.sql);
        break;
    }
    /*
     * Rows are counted, never kept. A scenario starts in single-row mode, so
     * a result of any size needs constant memory (libpq 15 has no chunked
     * mode); once its executions have returned few rows it is read whole,
     * which costs a fifth less client CPU per query than a PGresult per row.
     */
    if (ok && !w->buffered[e->scen])
        PQsetSingleRowMode(pg);
sent:
    if (!ok || pv_conn_sent(&c->core) != 0) {
        pv_conn_lost(&c->core, NULL);
        return;
    }
    if (r->timeout_ns)
        c->deadline_ns = e->t_send + r->timeout_ns;
}

void pv_run__exec_start(struct worker *w, struct conn *c, struct exec *e)
{
    if (pv_run__pipelined(w->run)) {
        pv_run__pipe_start(w, c, e);
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

void pv_run__handle_result(struct conn *c, struct exec *e, PGresult *res)
{
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE: e->rows += (uint64_t)PQntuples(res); break;
    case PGRES_COMMAND_OK:
        if (!c->preparing && !e->prep_pending)
            e->rows += strtoull(PQcmdTuples(res), NULL, 10);
        break;
    case PGRES_EMPTY_QUERY: break;
    case PGRES_COPY_IN:
        pv_run__exec_fail(e, PV_SQLSTATE_UNSUPPORTED,
                          "COPY FROM STDIN is not supported in a workload");
        PQputCopyEnd(pv_run__pg(c), "pgvolley sends no COPY data");
        break;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        pv_run__exec_fail(e, PV_SQLSTATE_UNSUPPORTED,
                          "COPY TO STDOUT is not supported in a workload");
        break;
    default: {
        const char *state = pv_conn_sqlstate(res);
        if (e->timed_out && !e->interrupted && strcmp(state, PV_SQLSTATE_CANCELLED) == 0) {
            char buf[128];
            snprintf(buf, sizeof(buf),
                     "command timeout after %.3g s: query cancelled on the server",
                     c->w->run->cfg.command_timeout_s);
            pv_run__exec_fail(e, state, buf);
        } else if (c->w->run->cfg.protocol == PV_PROTOCOL_PREPARED &&
                   ((strcmp(state, PV_SQLSTATE_NO_STATEMENT) == 0 && !c->preparing &&
                     !e->prep_pending) ||
                    (strcmp(state, PV_SQLSTATE_DUP_STATEMENT) == 0 &&
                     (c->preparing || e->prep_pending)))) {
            /* prepared here and gone now, or never prepared here and there
               already: the server connection behind this one changed (a
               pooler in transaction mode); every execution would fail the
               same way, so the run stops with the reason */
            pv_run__exec_fail(e, state, pv_conn_message(res));
            pv_run__abort(c->w->run, PV_RUN_POOLER_HINT);
        } else {
            pv_run__exec_fail(e, state, pv_conn_message(res));
        }
        break;
    }
    }
}

/* ---- retries ------------------------------------------------------------ */

bool pv_run__retryable(const char *sqlstate)
{
    /* 57P02: the server stopped every backend after one crashed (it said
       so before closing the connection, pv_conn.h) and comes back */
    return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "40001") == 0 ||
           strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
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
 * PV_RUN_BACKOFF_BASE_NS * 2^(attempt-1) (at most PV_RUN_BACKOFF_CAP_NS)
 * times a jitter in [0.5, 1.5), then try again on any connection. Returns
 * false when e must be finished instead.
 */
static bool exec_retry(struct worker *w, struct exec *e)
{
    if (!e->failed || e->interrupted || w->stopping || e->attempts >= w->run->cfg.retries ||
        !(pv_run__retryable(e->sqlstate) || e->resend_ok))
        return false;
    e->attempts++;
    if (!e->warm)
        w->tl_stats[e->scen].retries++; /* joins w->stats at the interval's end */
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    uint64_t base = PV_RUN_BACKOFF_BASE_NS << PV_MIN(e->attempts - 1, 7);
    base = PV_MIN(base, PV_RUN_BACKOFF_CAP_NS);
    uint64_t jitter = base / 2 + w->rng % (base + 1);
    e->deadline = pv_now_ns() + jitter;
    e->next = w->retry_head;
    w->retry_head = e;
    retry_timer_arm(w);
    return true;
}

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
        e->failed = e->timed_out = e->resend_ok = e->rolling_back = false;
        e->step = 0;
        e->rows = 0;
        e->sqlstate[0] = e->message[0] = '\0';
        e->t_claim = pv_now_ns();
        pv_run__exec_acquire(w, e);
    }
    retry_timer_arm(w);
    pv_run__worker_fill(w);
}

void pv_run__exec_finish(struct worker *w, struct exec *e, uint64_t t_end)
{
    if (exec_retry(w, e))
        return;
    uint64_t lat = t_end >= e->t_send ? t_end - e->t_send : 0;
    if (!e->failed)
        w->buffered[e->scen] = e->rows <= PV_RUN_SMALL_RESULT;
    if (!e->warm && !e->interrupted) {
        /* into this interval's figures, which join w->stats at its end */
        int rc = pv_run__tl_record(w, e, lat, t_end);
        if (rc != 0)
            w->rc = rc;
        atomic_store_explicit(&w->done, atomic_load_explicit(&w->done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (e->t_intended)
            pv_run__sched_record(w, e, t_end);
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

/* ---- the end of a request, and the burst of sends ----------------------- */

/*
 * c finished its request: it takes the next execution itself rather than
 * going through the idle list, so that connections finishing together are
 * not closed as surplus idle ones (conn_release keeps at most idle_cap).
 */
static void conn_reuse(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    if (!w->pend.head && !w->stopping && !pv_run__conn_expired(c, now) &&
        PQtransactionStatus(pv_run__pg(c)) == PQTRANS_IDLE) {
        struct exec *e = pv_run__worker_claim(w);
        if (e) {
            pv_run__exec_start(w, c, e);
            return;
        }
    }
    pv_run__conn_release(c);
}

/* Drops the references of the done list (the worker is finishing). */
static void done_drop(struct worker *w)
{
    struct conn *c;
    while ((c = w->done_head) != NULL) {
        w->done_head = c->done_next;
        pv_conn_unref(&c->core);
    }
    w->ndone = 0;
    while ((c = w->next_head) != NULL) {
        w->next_head = c->done_next;
        c->step_later = false;
        pv_conn_unref(&c->core);
    }
}

static void txn_send_next(struct worker *w);

static void on_done_check(uv_check_t *h)
{
    struct worker *w = h->data;
    if (w->next_head)
        txn_send_next(w);
    struct conn *c = w->done_head, *next;
    uint64_t now = pv_now_ns(); /* one clock read for the whole burst */
    w->done_head = NULL;
    w->ndone = 0;
    uv_check_stop(h);
    for (; c; c = next) {
        next = c->done_next;
        if (pv_conn_state(&c->core) == PV_CONN_IDLE && !c->exec)
            conn_reuse(c, now);
        pv_conn_unref(&c->core);
    }
    /* executions still waiting were counted on these connections */
    if (w->pend.head)
        pv_run__pool_refill(w);
    pv_run__worker_fill(w);
}

/*
 * c's transaction goes on with its next statement in on_done_check, after
 * the results of this loop iteration were read. The list is ordered by
 * statement, latest first: a transaction further on holds more locks, and
 * the others may wait for them.
 */
static void txn_next_later(struct worker *w, struct conn *c)
{
    struct conn **pp = &w->next_head;
    while (*pp && (*pp)->exec->step >= c->exec->step)
        pp = &(*pp)->done_next;
    pv_conn_ref(&c->core);
    c->step_later = true;
    c->done_next = *pp;
    *pp = c;
    uv_check_start(&w->done_check, on_done_check);
}

/* Sends the next statements of the transactions of w->next_head. */
static void txn_send_next(struct worker *w)
{
    struct conn *c = w->next_head, *next;
    w->next_head = NULL;
    for (; c; c = next) {
        next = c->done_next;
        c->step_later = false;
        if (pv_conn_state(&c->core) == PV_CONN_BUSY && c->exec && !c->exec->interrupted)
            exec_send(w, c);
        else if (pv_conn_state(&c->core) != PV_CONN_CLOSED)
            pv_run__conn_drop(c); /* stopped in between: no statement is in flight */
        pv_conn_unref(&c->core);
    }
}

/*
 * A transaction's statement ended on c: its figures, then the next
 * statement, or after a failure (or an interruption) the ROLLBACK of the
 * transaction it leaves open. @return true when c carries e on.
 */
/* The figures of the transaction's current statement, which just ended. */
static void txn_step_record(struct worker *w, struct exec *e, uint64_t now)
{
    pv_run *r = w->run;
    if (e->warm || e->interrupted)
        return;
    struct pv_stat *st =
        &w->step_stats[r->step_slot[r->scen[e->scen].query] + e->step - r->nqueries];
    uint64_t lat = now > e->t_step ? now - e->t_step : 0;
    int rc = e->failed ? pv_stat_fail(st, lat, e->sqlstate, e->message) : pv_stat_ok(st, lat, 0);
    if (rc != 0)
        w->rc = rc;
}

static bool txn_step_done(struct worker *w, struct conn *c, struct exec *e, uint64_t now)
{
    pv_run *r = w->run;
    const struct pv_query *q = pv_workload_query(r->cfg.workload, r->scen[e->scen].query);
    if (q->nsteps == 0)
        return false;
    bool busy = pv_conn_state(&c->core) == PV_CONN_BUSY;
    if (e->rolling_back)
        return false; /* its result is no statement's */
    txn_step_record(w, e, now);
    if (busy && !e->failed && !e->interrupted && e->step + 1 < q->nsteps) {
        e->step++;
        txn_next_later(w, c);
        return true;
    }
    if (busy && PQtransactionStatus(pv_run__pg(c)) != PQTRANS_IDLE) {
        /* rolled back before c goes on (while a cancel request is pending
           this is not safe: c is closed when released instead) */
        e->rolling_back = true;
        if (!PQsendQuery(pv_run__pg(c), "ROLLBACK") || pv_conn_sent(&c->core) != 0)
            pv_conn_lost(&c->core, NULL);
        return true;
    }
    return false;
}

/* The last result of c's request arrived. */
static void request_done(struct conn *c)
{
    struct worker *w = c->w;
    pv_run *r = w->run;
    struct exec *e = c->exec;
    uint64_t now = pv_now_ns();

    if (c->preparing) {
        c->preparing = false;
        if (!e->failed) {
            /* the statement exists now, even if a cancel raced with it */
            struct stmt_ref st;
            stmt_of(w, c, e, &st, NULL);
            c->prepared[st.slot / 8] |= (uint8_t)(1u << (st.slot % 8));
            if (pv_conn_state(&c->core) == PV_CONN_BUSY) {
                exec_send(w, c);
                return;
            }
        }
    }
    if (PQstatus(pv_run__pg(c)) == CONNECTION_BAD) {
        pv_conn_lost(&c->core, NULL);
        return;
    }
    if (txn_step_done(w, c, e, now))
        return;
    if (pv_conn_state(&c->core) == PV_CONN_CANCELLING && e->timed_out && !e->interrupted &&
        !e->failed) {
        /* finished just as the timeout passed: it still exceeded it */
        char buf[128];
        snprintf(buf, sizeof(buf), "command timeout after %.3g s", r->cfg.command_timeout_s);
        pv_run__exec_fail(e, PV_SQLSTATE_CANCELLED, buf);
    }
    /* parked (not ready) while its cancel request is queued: see pv_conn.h */
    bool ready = pv_conn_done(&c->core);
    c->exec = NULL;
    w->in_use--;
    /* after a stop request e->interrupted is set: nothing is recorded */
    pv_run__exec_finish(w, e, now);
    if (!ready) {
        pv_run__worker_fill(w);
        return;
    }
    if (w->stopping) {
        pv_run__conn_release(c);
        pv_run__worker_fill(w);
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
    pv_conn_ref(&c->core);
    c->done_next = w->done_head;
    w->done_head = c;
    w->ndone++;
    uv_check_start(&w->done_check, on_done_check);
}

/*
 * A result of a BEGIN sent with the first statement (txn_pair_send): BEGIN's
 * results and their NULL, the statement's and their NULL, then the sync.
 * BEGIN's figures are taken at its NULL; the statement's, measured from
 * the same send, when the sync has come and c has left pipeline mode, by
 * request_done as for any statement. After a failed BEGIN the statement
 * was not run (PGRES_PIPELINE_ABORTED): the failure is BEGIN's.
 */
static bool txn_pair_result(struct conn *c, PGresult *res)
{
    struct exec *e = c->exec;
    if (!res) {
        if (c->pair == TXN_PAIR_BEGIN && !e->failed) {
            txn_step_record(c->w, e, pv_now_ns());
            e->step = 1; /* e->t_step stays: the two went out together */
        }
        c->pair = c->pair == TXN_PAIR_BEGIN ? TXN_PAIR_FIRST : TXN_PAIR_SYNC;
        return true;
    }
    switch (PQresultStatus(res)) {
    case PGRES_PIPELINE_SYNC:
        c->pair = TXN_PAIR_NONE;
        if (!PQexitPipelineMode(pv_run__pg(c))) {
            pv_conn_lost(&c->core, NULL);
            return false;
        }
        request_done(c);
        return !c->step_later;
    case PGRES_PIPELINE_ABORTED: return true;
    default: pv_run__handle_result(c, e, res); return true;
    }
}

bool pv_run__exec_result(struct conn *c, PGresult *res)
{
    if (c->step_later)
        return false; /* no request in flight until on_done_check sends one */
    if (c->pair != TXN_PAIR_NONE)
        return txn_pair_result(c, res);
    if (!res) {
        request_done(c);
        return !c->step_later;
    }
    pv_run__handle_result(c, c->exec, res);
    if (PQresultStatus(res) == PGRES_COPY_OUT) {
        pv_conn_lost(&c->core, "COPY TO STDOUT is not supported in a workload");
        return false;
    }
    return true;
}

/* ---- claiming work ------------------------------------------------------ */

/* The first i with cum[i] > k (cum non-decreasing, cum[n - 1] > k). */
static uint32_t first_above(const uint64_t *cum, size_t n, uint64_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > k)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)lo;
}

/*
 * The k-th scenario of a weighted mix (-- WEIGHT, FILE@N): k times the
 * golden ratio, modulo 1, falls into each scenario's share of [0, 1) as
 * often as its weight says, evenly spread over any stretch of k, with no
 * random number (pgbench draws the script at random instead).
 */
static uint32_t weighted_scen(const pv_run *r, uint64_t k)
{
    double x = fmod((double)k * 0.6180339887498949, 1.0);
    return first_above(r->wcum, r->nscen, (uint64_t)(x * PV_RUN_WEIGHT_ONE));
}

/* The next item of work at time now (the intended start in the open model). */
static bool claim(struct worker *w, uint64_t now, uint32_t *scen, bool *warm)
{
    pv_run *r = w->run;
    if (atomic_load_explicit(&r->stop, memory_order_relaxed))
        return false;
    bool timed = r->cfg.duration_s > 0;
    if (w->measure_ns > w->start_ns || timed) {
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
        *scen = r->wcum ? weighted_scen(r, w->next_scen++) : (uint32_t)(w->next_scen++ % r->nscen);
        return true;
    }
    uint64_t k = atomic_fetch_add_explicit(&r->next_item, 1, memory_order_relaxed);
    if (k >= r->total_items)
        return false;
    *scen = first_above(r->cum, r->nscen, k); /* its cumulative count exceeds k */
    return true;
}

struct exec *pv_run__worker_claim(struct worker *w)
{
    uint32_t scen;
    bool warm;
    if (w->slots_free == 0 || w->stopping || w->no_more || w->rc != 0)
        return NULL;
    /* No connection of its own while other workers have some (the server
       refuses more): one execution at a time waits for w's next connect,
       and goes to the others if that is refused (pv_run__hand_off). */
    if (w->nconns == w->nconnecting && (w->pend.n > 0 || w->nconnecting > 0) &&
        atomic_load_explicit(&w->run->open_conns, memory_order_relaxed) > 0)
        return NULL;
    uint64_t now = pv_now_ns(), due = 0;
    if (w->run->shape && !pv_run__open_model(w->run) && !pv_run__sched_room(w, now))
        return NULL;
    for (;;) {
        if (pv_run__open_model(w->run)) {
            int due_now = pv_run__sched_next(w, now, &due);
            if (due_now == 0)
                return NULL; /* the timerfd wakes the worker */
            if (due_now < 0) {
                w->no_more = true;
                return NULL;
            }
        }
        if (!claim(w, due ? due : now, &scen, &warm)) {
            w->no_more = true;
            return NULL;
        }
        uint64_t max_lag = w->run->max_lag_ns;
        if (!due || !max_lag || now - due <= max_lag || warm)
            break;
        /* too late already: dropped, never sent */
        w->tl_sched[w->run->scen[scen].query].dropped++;
    }
    if (due && !warm) {
        if (now >= w->tl_next_ns)
            pv_run__tl_roll(w, now);
        w->tl_started++;
    }
    struct exec *e = w->free_execs;
    w->free_execs = e->next;
    w->slots_free--;
    /* everything but the error text (written only on failure) */
    memset(e, 0, offsetof(struct exec, message));
    e->scen = scen;
    e->warm = warm;
    e->t_claim = now;
    e->t_intended = due;
    return e;
}

void pv_run__exec_acquire(struct worker *w, struct exec *e)
{
    struct conn *c = pv_run__idle_pop(w);
    if (c) {
        pv_run__exec_start(w, c, e);
        return;
    }
    e->deadline = e->t_claim + (uint64_t)(w->run->cfg.pool.timeout_s * 1e9);
    pv_run__fifo_push(&w->pend, e);
    w->tl_pool_waits += !e->warm;
    /* a connection on its way serves one execution, or a pipeline of them */
    pv_run__pool_refill(w);
    if (w->pend.n == 1)
        pv_run__pool_timer_arm(w);
}

/* ---- filling, stopping and finishing a worker ---------------------------- */

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
    pv_run *r = w->run;
    uv_mutex_lock(&r->stop_mu);
    if (r->orphans && r->live_workers == 1 && !w->stopping && w->rc == 0) {
        /* the last worker serves what the others handed over */
        uv_mutex_unlock(&r->stop_mu);
        pv_run__adopt(w);
        return;
    }
    r->live_workers--;
    w->wake_open = false;
    uv_close((uv_handle_t *)&w->wake, on_handle_closed);
    uv_mutex_unlock(&r->stop_mu);
    w->finished = true;
    pv_run__tl_final(w);
    done_drop(w);
    while (w->nconns > 0)
        pv_run__conn_close(w->conns[w->nconns - 1]);
    uv_close((uv_handle_t *)&w->pool_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->sweep_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->connect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->done_check, on_handle_closed);
    pv_run__sched_close(w);
}

void pv_run__worker_fill(struct worker *w)
{
    struct exec *e;
    if (atomic_load_explicit(&w->run->norphans, memory_order_relaxed) > 0 &&
        w->nconns > w->nconnecting && !w->stopping)
        pv_run__adopt(w);
    if (pv_run__pipelined(w->run)) {
        /* fill each idle connection with a whole pipeline before sending */
        struct conn *c;
        while (w->slots_free > 0 && (c = pv_run__idle_pop(w)) != NULL) {
            while (c->pq.n < w->run->cfg.pipeline && w->pend.head)
                pv_run__fifo_push(&c->pq, pv_run__fifo_pop(&w->pend));
            while (c->pq.n < w->run->cfg.pipeline && (e = pv_run__worker_claim(w)) != NULL)
                pv_run__fifo_push(&c->pq, e);
            if (c->pq.n == 0) {
                pv_run__idle_push(w, c);
                break;
            }
            pv_run__pool_timer_arm(w);
            pv_run__pipe_send(w, c);
        }
    }
    while ((e = pv_run__worker_claim(w)) != NULL)
        pv_run__exec_acquire(w, e);
    pv_run__gauges(w); /* once per burst (on_done_check), not per execution */
    worker_maybe_finish(w);
}

void pv_run__worker_begin_stop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    struct exec *e;
    while ((e = pv_run__fifo_pop(&w->pend)) != NULL) {
        e->interrupted = true;
        pv_run__exec_finish(w, e, pv_now_ns());
    }
    while ((e = w->retry_head) != NULL) {
        w->retry_head = e->next;
        e->interrupted = true;
        pv_run__exec_finish(w, e, pv_now_ns());
    }
    for (int i = w->nconns - 1; i >= 0; i--) {
        struct conn *c = w->conns[i];
        enum pv_conn_state st = pv_conn_state(&c->core);
        if (st == PV_CONN_CONNECTING) {
            pv_run__conn_close(c);
            continue;
        }
        /* in flight and not counted; one that already failed is counted
           (an abort's cause, say), as it did run */
        if (c->exec && !c->exec->failed)
            c->exec->interrupted = true;
        PV_RUN_FOR_EACH(x, &c->pq)
        {
            if (!x->failed)
                x->interrupted = true;
        }
        if ((c->exec || c->pq.n > 0) && st != PV_CONN_CANCELLING)
            pv_run__conn_cancel(c, PV_RUN_STOP_GRACE_MS);
    }
    worker_maybe_finish(w);
}

void pv_run__worker_stop_now(struct worker *w)
{
    pv_run__worker_begin_stop(w);
    /* from the end: a close moves the last connection into the freed place */
    for (int i = w->nconns - 1; i >= 0 && !w->finished; i--) {
        if (i < w->nconns)
            pv_run__conn_drop(w->conns[i]);
    }
    worker_maybe_finish(w);
}
