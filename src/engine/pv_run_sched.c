/*
 * pv_run_sched.c - the open model of the run engine (--rate): executions
 * start at intended times drawn from the load's shape (pv_shape.h), not when
 * the previous one ends, so a server that stalls cannot slow the client down
 * and hide its own latency (coordinated omission).
 *
 * Each worker has its own arrivals, with 1/nworkers of the rate. An
 * execution that is due takes a free slot at once; when every slot is busy
 * it waits, and its wait counts: its corrected latency runs from the
 * intended start to the end, its lag from the intended start to the send.
 * An execution later than --max-lag when a slot frees is dropped: counted
 * as dropped, never sent (pgbench -R --latency-limit's "skipped").
 *
 * Wake-ups use a timerfd (nanoseconds, absolute CLOCK_MONOTONIC, the clock
 * of pv_now_ns) under a uv_poll_t: libuv's timers round to milliseconds,
 * which at a few thousand executions per second would add up to a
 * millisecond of lag of pgvolley's own to every execution.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "engine/pv_run_int.h"
#include "workload/pv_gen.h"

/* A uniform double in (0, 1] from the worker's arrival generator. */
static double uniform01(struct worker *w)
{
    return 1.0 - pv_gen_double(&w->arrival_rng);
}

/* Draws the next intended start; 0 when the schedule is over. */
static void advance(struct worker *w)
{
    double t;
    if (pv_arrivals_next(&w->arrivals, uniform01(w), &t))
        w->next_due_ns = w->start_ns + (uint64_t)(t * 1e9);
    else
        w->next_due_ns = 0;
}

static void on_sched(uv_poll_t *h, int status, int events)
{
    struct worker *w = h->data;
    (void)status;
    (void)events;
    uint64_t expirations;
    while (read(w->sched_fd, &expirations, sizeof(expirations)) < 0 && errno == EINTR)
        ;
    w->sched_armed_ns = 0;
    pv_run__worker_fill(w);
}

int pv_run__sched_init(struct worker *w)
{
    pv_run *r = w->run;
    w->sched_fd = -1;
    if (!r->shape)
        return 0;
    w->sched_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->sched_fd < 0)
        return VOLLEY_EIO;
    if (uv_poll_init(&w->loop, &w->sched_poll, w->sched_fd) != 0) {
        close(w->sched_fd);
        w->sched_fd = -1;
        return VOLLEY_EIO;
    }
    w->sched_poll.data = w;
    w->sched_open = true;
    uv_poll_start(&w->sched_poll, UV_READABLE, on_sched);
    if (pv_run__open_model(r)) {
        pv_arrivals_init(&w->arrivals, r->shape, r->cfg.arrival, w->id, r->nworkers);
        /* a stream of its own, apart from the workers' parameter draws */
        pv_gen_seed(&w->arrival_rng, r->cfg.seed, PV_RUN_ARRIVAL_STREAM + (uint64_t)w->id);
    }
    return 0;
}

void pv_run__sched_start(struct worker *w)
{
    if (w->sched_open && pv_run__open_model(w->run))
        advance(w);
}

static void on_sched_closed(uv_handle_t *h)
{
    struct worker *w = h->data;
    close(w->sched_fd);
    w->sched_fd = -1;
}

void pv_run__sched_close(struct worker *w)
{
    if (!w->sched_open)
        return;
    w->sched_open = false;
    uv_poll_stop(&w->sched_poll);
    uv_close((uv_handle_t *)&w->sched_poll, on_sched_closed);
}

/* Wakes the worker at `at` (pv_now_ns time). */
static void arm_at(struct worker *w, uint64_t at)
{
    if (w->sched_armed_ns == at)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    if (timerfd_settime(w->sched_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        w->sched_armed_ns = at;
}

/* Wakes the worker when the next execution is due. */
static void arm(struct worker *w)
{
    arm_at(w, w->next_due_ns);
}

bool pv_run__sched_room(struct worker *w, uint64_t now)
{
    pv_run *r = w->run;
    double t = (double)(now - w->start_ns) / 1e9;
    long total = (long)ceil(pv_shape_at(r->shape, t) - 1e-9);
    if (total < 0)
        total = 0;
    int n = r->nworkers;
    long allowed = total / n + (w->id < total % n ? 1 : 0);
    if (w->slots - w->slots_free < allowed)
        return true;
    /* look again soon: the target may rise (a slot that frees looks too) */
    if (!w->sched_armed_ns)
        arm_at(w, now + PV_RUN_SHAPE_TICK_NS);
    return false;
}

int pv_run__sched_next(struct worker *w, uint64_t now, uint64_t *due)
{
    if (w->next_due_ns == 0)
        return -1;
    if (w->next_due_ns > now) {
        arm(w);
        return 0;
    }
    *due = w->next_due_ns;
    advance(w);
    return 1;
}

void pv_run__sched_record(struct worker *w, const struct exec *e, uint64_t t_end)
{
    /* into the interval's figures (pv_run__tl_record came first: t_end's
       interval), which join w->sched at its end */
    struct pv_sched_stats *s = &w->tl_sched[w->run->scen[e->scen].query];
    int rc = pv_hist_record(s->intended, t_end > e->t_intended ? t_end - e->t_intended : 0);
    if (rc == 0)
        rc = pv_hist_record(s->lag, e->t_send > e->t_intended ? e->t_send - e->t_intended : 0);
    if (rc != 0)
        w->rc = rc;
}

int pv_sched_stats_init(struct pv_sched_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (pv_hist_create(&s->intended) != 0 || pv_hist_create(&s->lag) != 0) {
        pv_sched_stats_fini(s);
        return VOLLEY_ENOMEM;
    }
    return 0;
}

void pv_sched_stats_fini(struct pv_sched_stats *s)
{
    pv_hist_destroy(s->intended);
    pv_hist_destroy(s->lag);
    s->intended = s->lag = NULL;
}

int pv_sched_stats_merge(struct pv_sched_stats *dst, const struct pv_sched_stats *src)
{
    dst->dropped += src->dropped;
    int rc = pv_hist_merge(dst->intended, src->intended);
    return rc ? rc : pv_hist_merge(dst->lag, src->lag);
}
