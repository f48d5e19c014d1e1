/*
 * pv_run_timeout.c - command timeouts of the run engine: the sweep that
 * finds requests past their deadline, the cancel request sent for them (and
 * for Ctrl-C), and the grace period after which a connection whose server
 * does not answer is dropped.
 */
#include "engine/pv_run_int.h"

static const char cancel_ignored[] =
    "command timeout: the server did not answer the cancel request; connection closed";

void pv_run__conn_drop(struct conn *c)
{
    struct worker *w = c->w;
    enum pv_conn_state st = pv_conn_state(&c->core);
    if (pv_run__pipelined(w->run) && (st == PV_CONN_BUSY || st == PV_CONN_CANCELLING)) {
        PV_RUN_FOR_EACH(e, &c->pq)
        if (e->timed_out && !e->interrupted)
            pv_run__exec_fail(e, PV_SQLSTATE_CANCEL_IGNORED, cancel_ignored);
        pv_run__pipe_abandon(c, NULL, NULL);
        return;
    }
    struct exec *e = c->exec;
    if (e) {
        if (e->timed_out && !e->interrupted)
            pv_run__exec_fail(e, PV_SQLSTATE_CANCEL_IGNORED, cancel_ignored);
        c->exec = NULL;
        w->in_use--;
    }
    pv_run__conn_close(c);
    if (e)
        pv_run__exec_finish(w, e, pv_now_ns());
}

/* The grace period of a cancel request is over and the request still runs. */
static void on_cancel_grace(pv_conn *pc)
{
    struct conn *c = pv_run__conn_of(pc);
    struct worker *w = c->w;
    if (pv_conn_state(pc) != PV_CONN_CANCELLING)
        return;
    if (!pv_run__pipelined(w->run) && !c->exec)
        return;
    pv_run__conn_drop(c);
    pv_run__worker_fill(w);
}

void pv_run__conn_cancel(struct conn *c, uint64_t grace_ms)
{
    pv_conn_cancel(&c->core);
    pv_conn_timer_start(&c->core, grace_ms, on_cancel_grace);
}

/* The command timeout of c's request passed: cancel it on the server. */
static void timed_out(struct conn *c)
{
    if (c->pq.n > 0) {
        PV_RUN_FOR_EACH(e, &c->pq)
        e->timed_out = true;
    } else if (c->exec) {
        c->exec->timed_out = true;
    } else {
        return;
    }
    pv_run__conn_cancel(c, PV_RUN_TIMEOUT_GRACE_MS);
}

/*
 * Command timeouts are checked by one sweep per worker rather than a timer
 * per query: arming and disarming a timer for every query cost more client
 * CPU than anything else pgvolley does itself (see docs/performance.md).
 * The sweep's period is 1/20 of the timeout, kept between 5 ms and 1 s, so
 * a timeout fires at most 5% or 5 ms late, whichever is more (a 20 ms
 * timeout up to 25% late).
 */
void pv_run__on_timeout_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = pv_now_ns();
    for (int i = w->nconns - 1; i >= 0; i--) {
        if (i >= w->nconns)
            continue; /* a cancel path closed connections */
        struct conn *c = w->conns[i];
        if (c->deadline_ns && now >= c->deadline_ns && pv_conn_state(&c->core) == PV_CONN_BUSY) {
            c->deadline_ns = 0;
            timed_out(c);
        }
    }
}
