/*
 * pv_run_timeline.c - the timeline, the workers' side: each worker records
 * its counted executions into its own figures of the current interval (one
 * pv_stat per scenario, as for the whole run: no lock on the hot path) and
 * hands them over at each boundary - when an execution ends past it, or on
 * the worker's own timer, which fires at the boundary even when nothing
 * ends (a stall) - and once more when it finishes. The run merges what it
 * is handed into one pending point per interval under tl_mu; a point is
 * finished (pv_run_snapshot.c) once every worker not yet finished has
 * handed that interval over.
 *
 * Intervals are aligned to each worker's clock start (w->measure_ns, after
 * the warm-up; the workers start theirs together, within microseconds):
 * interval k holds the executions that ended in [k, k + 1) intervals.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_run_int.h"

int pv_run__tl_init(pv_run *r)
{
    double iv = r->cfg.interval_s > 0 ? r->cfg.interval_s : 1.0;
    r->tl_interval_ns = (uint64_t)llround(iv * 1e9);
    r->tl.interval_s = iv;
    r->tl.nqueries = r->nqueries;
    r->tl.span = 1;
    r->tl_cap = r->cfg.timeline_cap > 0 ? (size_t)r->cfg.timeline_cap : PV_TIMELINE_CAP;
    if (uv_mutex_init(&r->tl_mu) != 0)
        return VOLLEY_ENOMEM;
    r->tl_mu_init = true;
    r->cum_scen = calloc(r->nscen, sizeof(*r->cum_scen));
    if (!r->cum_scen)
        return VOLLEY_ENOMEM;
    if (pv_run__open_model(r)) {
        r->cum_sched = calloc(r->nqueries, sizeof(*r->cum_sched));
        if (!r->cum_sched)
            return VOLLEY_ENOMEM;
        for (size_t i = 0; i < r->nqueries; i++)
            if (pv_sched_stats_init(&r->cum_sched[i]) != 0)
                return VOLLEY_ENOMEM;
    }
    return 0;
}

static void sched_array_free(struct pv_sched_stats *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        pv_sched_stats_fini(&s[i]);
    free(s);
}

static void stat_array_free(struct pv_stat *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        pv_stat_fini(&s[i]);
    free(s);
}

void pv_run__tl_pending_fini(pv_run *r, struct tl_pending *p)
{
    stat_array_free(p->scen, r->nscen);
    sched_array_free(p->sched, r->nqueries);
    memset(p, 0, sizeof(*p));
}

void pv_run__tl_fini(pv_run *r)
{
    for (size_t i = 0; i < r->tl_npend; i++)
        pv_run__tl_pending_fini(r, &r->tl_pend[i]);
    free(r->tl_pend);
    for (size_t i = 0; i < r->tl.npoints; i++)
        pv_tl_point_fini(&r->tl.points[i], r->nqueries);
    free(r->tl.points);
    for (size_t i = 0; r->tl_recent && i < PV_TIMELINE_RECENT; i++)
        pv_tl_point_fini(&r->tl_recent[i], r->nqueries);
    free(r->tl_recent);
    stat_array_free(r->cum_scen, r->nscen);
    sched_array_free(r->cum_sched, r->nqueries);
    if (r->tl_mu_init)
        uv_mutex_destroy(&r->tl_mu);
}

int pv_run__tl_worker_init(struct worker *w)
{
    pv_run *r = w->run;
    w->tl_next_ns = UINT64_MAX;
    w->tl_stats = calloc(r->nscen, sizeof(*w->tl_stats));
    if (!w->tl_stats)
        return VOLLEY_ENOMEM;
    if (pv_run__open_model(r)) {
        w->tl_sched = calloc(r->nqueries, sizeof(*w->tl_sched));
        if (!w->tl_sched)
            return VOLLEY_ENOMEM;
        for (size_t i = 0; i < r->nqueries; i++)
            if (pv_sched_stats_init(&w->tl_sched[i]) != 0)
                return VOLLEY_ENOMEM;
    }
    return 0;
}

void pv_run__tl_worker_fini(struct worker *w)
{
    stat_array_free(w->tl_stats, w->run->nscen);
    sched_array_free(w->tl_sched, w->run->nqueries);
    w->tl_stats = NULL;
    w->tl_sched = NULL;
}

/* ---- the worker's timer ------------------------------------------------ */

static void on_tl_timer(uv_timer_t *t);

/* Arms the timer for w->tl_next_ns (libuv's clock is in ms, and may lag
   the monotonic clock: the callback checks and re-arms). */
static void timer_arm(struct worker *w)
{
    if (!w->tl_timer_open || w->finished)
        return;
    uv_update_time(&w->loop);
    uint64_t now = pv_now_ns();
    uint64_t ms = w->tl_next_ns > now ? (w->tl_next_ns - now + 999999) / 1000000 : 0;
    uv_timer_start(&w->tl_timer, on_tl_timer, ms, 0);
}

static void on_tl_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = pv_now_ns();
    if (now >= w->tl_next_ns)
        pv_run__tl_roll(w, now);
    else
        timer_arm(w);
}

void pv_run__tl_start(struct worker *w)
{
    w->tl_k = 0;
    w->tl_next_ns = w->measure_ns + w->run->tl_interval_ns;
    uv_timer_init(&w->loop, &w->tl_timer);
    w->tl_timer.data = w;
    w->tl_timer_open = true;
    timer_arm(w);
}

/* ---- handing over ------------------------------------------------------ */

/* The pending point of interval k, created (with those before it) if need
   be. Under tl_mu. NULL when out of memory. */
static struct tl_pending *pending_get(pv_run *r, uint64_t k)
{
    size_t at = (size_t)(k - r->tl_first);
    if (at < r->tl_npend)
        return &r->tl_pend[at];
    if (at >= r->tl_pendcap) {
        size_t cap = PV_MAX(at + 1, r->tl_pendcap * 2);
        struct tl_pending *v = realloc(r->tl_pend, cap * sizeof(*v));
        if (!v)
            return NULL;
        r->tl_pend = v;
        r->tl_pendcap = cap;
    }
    while (r->tl_npend <= at) {
        struct tl_pending *p = &r->tl_pend[r->tl_npend];
        memset(p, 0, sizeof(*p));
        p->k = r->tl_first + r->tl_npend;
        p->scen = calloc(r->nscen, sizeof(*p->scen));
        if (!p->scen)
            return NULL;
        r->tl_npend++; /* from here on, fini frees what it has */
        if (pv_run__open_model(r)) {
            p->sched = calloc(r->nqueries, sizeof(*p->sched));
            if (!p->sched)
                return NULL;
            for (size_t i = 0; i < r->nqueries; i++)
                if (pv_sched_stats_init(&p->sched[i]) != 0)
                    return NULL;
        }
    }
    return &r->tl_pend[at];
}

/* Forgets s's figures, keeping its histogram's memory for the next interval. */
static void stat_clear(struct pv_stat *s)
{
    pv_hist *h = s->latency;
    for (size_t i = 0; i < s->nerrors; i++)
        free(s->errors[i].message);
    s->succeeded = s->failed = s->rows = s->sum_ns = s->retries = 0;
    s->nerrors = 0;
    if (h)
        pv_hist_reset(h);
}

/* w's figures of its current interval join its figures of the whole run
   (the hot path records into the interval's only). Not under tl_mu. */
static int fold(struct worker *w)
{
    pv_run *r = w->run;
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < r->nscen; j++)
        if (pv_stat_executions(&w->tl_stats[j]) > 0 || w->tl_stats[j].retries > 0)
            rc = pv_stat_merge(&w->stats[j], &w->tl_stats[j]);
    for (size_t i = 0; rc == 0 && w->tl_sched && i < r->nqueries; i++)
        rc = pv_sched_stats_merge(&w->sched[i], &w->tl_sched[i]);
    return rc;
}

/* w's figures of its current interval into p; w's are cleared. Under tl_mu. */
static int merge_into(struct worker *w, struct tl_pending *p)
{
    pv_run *r = w->run;
    int rc = 0;
    for (size_t j = 0; j < r->nscen; j++) {
        struct pv_stat *s = &w->tl_stats[j];
        if (pv_stat_executions(s) == 0 && s->retries == 0)
            continue;
        if (rc == 0)
            rc = pv_stat_merge(&p->scen[j], s);
        stat_clear(s);
    }
    for (size_t i = 0; w->tl_sched && i < r->nqueries; i++) {
        struct pv_sched_stats *s = &w->tl_sched[i];
        if (rc == 0)
            rc = pv_sched_stats_merge(&p->sched[i], s);
        pv_hist_reset(s->intended);
        pv_hist_reset(s->lag);
        s->dropped = 0;
    }
    p->pool_waits += w->tl_pool_waits;
    p->started += w->tl_started;
    w->tl_pool_waits = w->tl_started = 0;
    return rc;
}

/* Finishes the pending points every worker has handed over. Under tl_mu. */
static int advance(pv_run *r)
{
    uint64_t low = UINT64_MAX;
    for (int i = 0; i < r->nworkers; i++)
        low = PV_MIN(low, r->workers[i].tl_k);
    int rc = 0;
    size_t n = 0;
    while (n < r->tl_npend && r->tl_pend[n].k < low) {
        int frc = pv_run__tl_finish(r, &r->tl_pend[n]);
        rc = rc ? rc : frc;
        pv_run__tl_pending_fini(r, &r->tl_pend[n]);
        n++;
    }
    if (n > 0) {
        memmove(r->tl_pend, r->tl_pend + n, (r->tl_npend - n) * sizeof(*r->tl_pend));
        r->tl_npend -= n;
        r->tl_first += n;
    }
    return rc;
}

/*
 * Hands w's interval tl_k over, and the empty ones before `upto` (w's
 * executions in flight are those at each of their boundaries). final: w
 * is finishing (its end, end_s, may end the last point); it then leaves
 * the timeline (tl_k = UINT64_MAX).
 */
static void hand_over(struct worker *w, uint64_t upto, bool final, double end_s)
{
    pv_run *r = w->run;
    uint64_t busy = (uint64_t)(w->slots - w->slots_free), waiting = (uint64_t)w->pend.n;
    uint64_t in_flight = busy > waiting ? busy - waiting : 0;
    int rc = fold(w);
    uv_mutex_lock(&r->tl_mu);
    for (uint64_t k = w->tl_k; rc == 0 && (k < upto || (final && k == w->tl_k)); k++) {
        struct tl_pending *p = pending_get(r, k);
        if (!p) {
            rc = VOLLEY_ENOMEM;
            break;
        }
        if (k == w->tl_k)
            rc = merge_into(w, p);
        if (final) {
            p->end_s = PV_MAX(p->end_s, end_s);
        } else {
            p->whole = true;
            p->in_flight += in_flight;
        }
    }
    w->tl_k = final ? UINT64_MAX : upto;
    int arc = advance(r);
    uv_mutex_unlock(&r->tl_mu);
    rc = rc ? rc : arc;
    if (rc != 0 && w->rc == 0)
        w->rc = rc;
}

void pv_run__tl_roll(struct worker *w, uint64_t now)
{
    if (w->tl_next_ns == UINT64_MAX)
        return; /* finished */
    uint64_t upto = (now - w->measure_ns) / w->run->tl_interval_ns;
    if (upto > w->tl_k)
        hand_over(w, upto, false, 0);
    w->tl_next_ns = w->measure_ns + (w->tl_k + 1) * w->run->tl_interval_ns;
    timer_arm(w);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void pv_run__tl_final(struct worker *w)
{
    atomic_store(&w->g_in_flight, 0);
    atomic_store(&w->g_in_use, 0);
    atomic_store(&w->g_waiting, 0);
    if (w->tl_timer_open) {
        uv_close((uv_handle_t *)&w->tl_timer, on_closed);
        w->tl_timer_open = false;
    }
    if (w->tl_next_ns == UINT64_MAX)
        return;
    /* the last interval ends with the worker's last counted execution */
    uint64_t last = PV_MAX(w->last_done_ns, w->measure_ns);
    uint64_t now = pv_now_ns();
    if (now >= w->tl_next_ns) /* the boundaries passed since, whole */
        hand_over(w, (now - w->measure_ns) / w->run->tl_interval_ns, false, 0);
    hand_over(w, 0, true, (double)(last - w->measure_ns) / 1e9);
    w->tl_next_ns = UINT64_MAX;
}

void pv_run__tl_result(pv_run *r)
{
    uv_mutex_lock(&r->tl_mu);
    r->result.timeline = r->tl;
    r->tl.points = NULL;
    r->tl.npoints = 0;
    uv_mutex_unlock(&r->tl_mu);
}
