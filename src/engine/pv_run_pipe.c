/*
 * pv_run_pipe.c - pipeline mode of the run engine (--pipeline N): a
 * connection carries a FIFO of up to N executions, sent with one sync, and
 * their results are matched to the FIFO in order.
 */
#include <string.h>

#include "engine/pv_run_int.h"

void pv_run__pipe_abandon(struct conn *c, const char *sqlstate, const char *why)
{
    struct worker *w = c->w;
    struct exec *e;
    uint64_t now = pv_now_ns();
    char msg[256]; /* why may be PQerrorMessage(c's PGconn), freed by the close */
    if (why) {
        pv_first_line(msg, sizeof(msg), why);
        why = msg;
    }
    enum pv_conn_state st = pv_conn_state(&c->core);
    if (st == PV_CONN_BUSY || st == PV_CONN_CANCELLING)
        w->in_use--; /* a pipeline was in flight (see pv_run__pipe_send) */
    pv_run__conn_close(c);
    while ((e = pv_run__fifo_pop(&c->pq)) != NULL) {
        if (why && !e->interrupted)
            pv_run__exec_fail(e, sqlstate, why);
        pv_run__exec_finish(w, e, now);
    }
}

static void pipe_broken(struct worker *w, struct conn *c)
{
    w->pool.lost++;
    pv_run__pipe_abandon(c, PV_SQLSTATE_CONN_LOST, PQerrorMessage(pv_run__pg(c)));
    pv_run__worker_fill(w);
}

/*
 * Sends c's queued executions as one pipeline: for each, its statement's
 * prepare if this connection lacks it, then the query; one sync at the end.
 * An error aborts the rest of the pipeline (counted as PV003); the sync
 * brings the connection back.
 */
void pv_run__pipe_send(struct worker *w, struct conn *c)
{
    pv_run *r = w->run;
    PGconn *pg = pv_run__pg(c);
    uint64_t now = pv_now_ns();
    w->in_use++;
    if (w->in_use > w->max_in_use)
        w->max_in_use = w->in_use;
    c->pipe_err[0] = '\0';
    PV_RUN_FOR_EACH(e, &c->pq)
    {
        const struct scen_ref *ref = &r->scen[e->scen];
        const struct pv_query *q = pv_workload_query(r->cfg.workload, ref->query);
        const struct pv_scenario *s = &q->scenarios[ref->scen];
        const char *const *values = NULL;
        uint32_t qi = ref->query;
        int ok = pv_scenario_values(s, &w->draw, &values) == 0; /* fails only out of memory */
        if (!e->warm && now >= e->t_claim)
            pv_hist_record(w->pool.acquire_wait, now - e->t_claim);
        e->t_send = now;
        if (ok && r->cfg.protocol == PV_PROTOCOL_PREPARED) {
            if (!(c->prepared[qi / 8] & (1u << (qi % 8)))) {
                ok = PQsendPrepare(pg, r->stmt_names[qi], q->sql, q->nparams, NULL);
                c->prepared[qi / 8] |= (uint8_t)(1u << (qi % 8)); /* undone if it fails */
                e->prep_pending = true;
            }
            ok =
                ok && PQsendQueryPrepared(pg, r->stmt_names[qi], s->nparams, values, NULL, NULL, 0);
        } else if (ok) {
            ok = PQsendQueryParams(pg, q->sql, s->nparams, NULL, values, NULL, NULL, 0);
        }
        if (!ok) {
            w->in_use--; /* c is still idle: nothing went out */
            pipe_broken(w, c);
            return;
        }
    }
    if (!PQpipelineSync(pg)) {
        w->in_use--;
        pipe_broken(w, c);
        return;
    }
    if (pv_conn_sent(&c->core) != 0) {
        pipe_broken(w, c); /* busy now: pipe_abandon counts in_use down */
        return;
    }
    if (r->timeout_ns)
        c->deadline_ns = now + r->timeout_ns;
}

void pv_run__pipe_start(struct worker *w, struct conn *c, struct exec *e)
{
    if (e)
        pv_run__fifo_push(&c->pq, e);
    while (c->pq.n < w->run->cfg.pipeline && w->pend.head)
        pv_run__fifo_push(&c->pq, pv_run__fifo_pop(&w->pend));
    /* and new claims: a whole pipeline, not just what waited */
    struct exec *x;
    while (c->pq.n < w->run->cfg.pipeline && (x = pv_run__worker_claim(w)) != NULL)
        pv_run__fifo_push(&c->pq, x);
    pv_run__pool_timer_arm(w);
    pv_run__pipe_send(w, c);
}

/* The end of one command's results (a NULL from PQgetResult). */
static void command_done(struct conn *c, struct exec *e)
{
    pv_run *r = c->w->run;
    if (e->prep_pending) {
        e->prep_pending = false;
        if (e->failed) {
            uint32_t qi = r->scen[e->scen].query;
            c->prepared[qi / 8] &= (uint8_t) ~(1u << (qi % 8));
        }
        return;
    }
    pv_run__fifo_pop(&c->pq);
    pv_run__exec_finish(c->w, e, pv_now_ns());
    /* when the FIFO is empty, the sync's result comes next */
}

/* The pipeline's sync arrived: every execution is done. */
static void sync_done(struct conn *c)
{
    struct worker *w = c->w;
    w->in_use--;
    bool ready = pv_conn_done(&c->core);
    if (PQstatus(pv_run__pg(c)) == CONNECTION_BAD)
        pv_conn_lost(&c->core, NULL); /* nothing in flight: in_use is already down */
    else if (ready)
        pv_run__conn_release(c);
    pv_run__worker_fill(w);
}

bool pv_run__pipe_result(struct conn *c, PGresult *res)
{
    if (c->pq.n == 0) {
        /* every execution is done: wait for the sync, then release */
        if (res && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            sync_done(c);
            return false;
        }
        return res != NULL;
    }
    struct exec *e = pv_run__exec_of(c->pq.head);
    if (!res) {
        command_done(c, e);
        return true;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_ABORTED) {
        pv_run__exec_fail(e, PV_SQLSTATE_PIPE_ABORTED,
                          "pipeline aborted: an earlier query in the same pipeline failed");
        /* it never ran: after a transient error, sending it again is safe */
        e->resend_ok = c->pipe_err[0] && pv_run__retryable(c->pipe_err);
    } else if (st != PGRES_PIPELINE_SYNC) {
        pv_run__handle_result(c, e, res);
        if (e->failed && !c->pipe_err[0])
            memcpy(c->pipe_err, e->sqlstate, sizeof(c->pipe_err));
    }
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        /* PQgetResult would return the COPY state for ever */
        pv_conn_lost(&c->core, "COPY TO STDOUT is not supported in a workload");
        return false;
    }
    return true;
}
