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
 * Intervals are aligned to the clock's start (w->measure_ns, after the
 * warm-up; one start for every worker, pv_run.c): interval k holds the
 * executions that ended in [k, k + 1) intervals.
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
    w->tl_spare = calloc(r->nscen, sizeof(*w->tl_spare));
    if (!w->tl_stats || !w->tl_spare)
        return VOLLEY_ENOMEM;
    w->tl_job.w = w;
    if (pv_run__open_model(r)) {
        w->tl_sched = calloc(r->nqueries, sizeof(*w->tl_sched));
        w->tl_sched_spare = calloc(r->nqueries, sizeof(*w->tl_sched_spare));
        if (!w->tl_sched || !w->tl_sched_spare)
            return VOLLEY_ENOMEM;
        for (size_t i = 0; i < r->nqueries; i++)
            if (pv_sched_stats_init(&w->tl_sched[i]) != 0 ||
                pv_sched_stats_init(&w->tl_sched_spare[i]) != 0)
                return VOLLEY_ENOMEM;
    }
    return 0;
}

void pv_run__tl_worker_fini(struct worker *w)
{
    stat_array_free(w->tl_stats, w->run->nscen);
    sched_array_free(w->tl_sched, w->run->nqueries);
    stat_array_free(w->tl_spare, w->run->nscen);
    sched_array_free(w->tl_sched_spare, w->run->nqueries);
    w->tl_stats = w->tl_spare = NULL;
    w->tl_sched = w->tl_sched_spare = NULL;
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

/* An interval's figures of w (j's set) join w's figures of the whole run
   (the hot path records into the interval's only). Not under tl_mu. */
static int fold(struct worker *w, const struct tl_job *j)
{
    pv_run *r = w->run;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->nscen; i++)
        if (pv_stat_executions(&j->stats[i]) > 0 || j->stats[i].retries > 0)
            rc = pv_stat_merge(&w->stats[i], &j->stats[i]);
    for (size_t i = 0; rc == 0 && j->sched && i < r->nqueries; i++)
        rc = pv_sched_stats_merge(&w->sched[i], &j->sched[i]);
    return rc;
}

/* j's figures into p (NULL: out of memory, only cleared); j's set is
   cleared for its next interval. Under tl_mu. */
static int merge_into(pv_run *r, const struct tl_job *j, struct tl_pending *p)
{
    int rc = p ? 0 : VOLLEY_ENOMEM;
    for (size_t i = 0; i < r->nscen; i++) {
        struct pv_stat *s = &j->stats[i];
        if (pv_stat_executions(s) == 0 && s->retries == 0)
            continue;
        if (rc == 0)
            rc = pv_stat_merge(&p->scen[i], s);
        stat_clear(s);
    }
    for (size_t i = 0; j->sched && i < r->nqueries; i++) {
        struct pv_sched_stats *s = &j->sched[i];
        if (rc == 0)
            rc = pv_sched_stats_merge(&p->sched[i], s);
        pv_hist_reset(s->intended);
        pv_hist_reset(s->lag);
        s->dropped = 0;
    }
    if (p) {
        p->pool_waits += j->pool_waits;
        p->started += j->started;
    }
    return rc;
}

/* Finishes the pending points every worker has handed over. Under tl_mu. */
static int advance(pv_run *r)
{
    uint64_t low = UINT64_MAX;
    for (int i = 0; i < r->nworkers; i++)
        low = PV_MIN(low, r->workers[i].tl_done_k);
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
 * Merges job j: its figures join w's whole-run figures and the pending
 * point of interval j->from_k, the empty intervals after it up to j->upto
 * are marked whole (w's executions in flight are those at each of their
 * boundaries), and the points every worker has handed over are finished.
 * final: w is finishing (its end, end_s, may end the last point); it then
 * leaves the timeline (tl_done_k = UINT64_MAX). On the aggregator's thread,
 * or on w's own at its end.
 */
static int job_run(pv_run *r, struct tl_job *j, bool final, double end_s)
{
    struct worker *w = j->w;
    int rc = fold(w, j);
    uv_mutex_lock(&r->tl_mu);
    bool merged = false;
    for (uint64_t k = j->from_k; k < j->upto || (final && k == j->from_k); k++) {
        struct tl_pending *p = pending_get(r, k);
        if (k == j->from_k) {
            int mrc = merge_into(r, j, p);
            rc = rc ? rc : mrc;
            merged = true;
        }
        if (!p)
            break;
        if (final) {
            p->end_s = PV_MAX(p->end_s, end_s);
        } else {
            p->whole = true;
            p->in_flight += j->in_flight;
        }
    }
    if (!merged)
        merge_into(r, j, NULL); /* cleared all the same */
    w->tl_done_k = final ? UINT64_MAX : j->upto;
    int arc = advance(r);
    uv_mutex_unlock(&r->tl_mu);
    return rc ? rc : arc;
}

/* Waits until the aggregator has given w's spare set back; takes its error. */
static void spare_wait(struct worker *w)
{
    pv_run *r = w->run;
    uv_mutex_lock(&r->agg_mu);
    while (w->tl_job.queued)
        uv_cond_wait(&r->agg_back, &r->agg_mu);
    if (w->tl_agg_rc != 0 && w->rc == 0)
        w->rc = w->tl_agg_rc;
    w->tl_agg_rc = 0;
    uv_mutex_unlock(&r->agg_mu);
}

/*
 * Hands w's interval tl_k over, with the empty ones before `upto`. A
 * boundary swaps w's set of figures with its spare and queues the filled
 * one for the aggregator, so the worker goes on at once: merging and
 * finishing a point takes milliseconds with many parameter sets (a hundred:
 * 2 to 10 ms a second per worker), which every execution due meanwhile
 * would wait for. final: w is finishing; its last interval is merged here,
 * once the aggregator is done with its earlier ones.
 */
static void hand_over(struct worker *w, uint64_t upto, bool final, double end_s)
{
    pv_run *r = w->run;
    uint64_t busy = (uint64_t)(w->slots - w->slots_free), waiting = (uint64_t)w->pend.n;
    struct tl_job *j = &w->tl_job;
    if (r->agg_started)
        spare_wait(w); /* at most one job of w in the queue */
    j->stats = w->tl_stats;
    j->sched = w->tl_sched;
    j->from_k = w->tl_k;
    j->upto = upto;
    j->in_flight = busy > waiting ? busy - waiting : 0;
    j->pool_waits = w->tl_pool_waits;
    j->started = w->tl_started;
    w->tl_pool_waits = w->tl_started = 0;
    w->tl_k = final ? UINT64_MAX : upto;
    if (final || !r->agg_started) {
        int rc = job_run(r, j, final, end_s);
        if (rc != 0 && w->rc == 0)
            w->rc = rc;
        return;
    }
    /* the spare, cleared by the aggregator, takes the next interval */
    w->tl_stats = w->tl_spare;
    w->tl_sched = w->tl_sched_spare;
    uv_mutex_lock(&r->agg_mu);
    w->tl_spare = NULL;
    w->tl_sched_spare = NULL;
    j->queued = true;
    pv_fifo_push(&r->agg_jobs, &j->link);
    uv_cond_signal(&r->agg_cond);
    uv_mutex_unlock(&r->agg_mu);
}

static void agg_main(void *arg)
{
    pv_run *r = arg;
    uv_mutex_lock(&r->agg_mu);
    for (;;) {
        while (!r->agg_jobs.head && !r->agg_quit)
            uv_cond_wait(&r->agg_cond, &r->agg_mu);
        struct pv_slink *link = pv_fifo_pop(&r->agg_jobs);
        if (!link)
            break;
        struct tl_job *j = PV_CONTAINER_OF(link, struct tl_job, link);
        uv_mutex_unlock(&r->agg_mu);
        int rc = job_run(r, j, false, 0);
        uv_mutex_lock(&r->agg_mu);
        struct worker *w = j->w;
        w->tl_spare = j->stats;
        w->tl_sched_spare = j->sched;
        j->queued = false;
        if (rc != 0 && w->tl_agg_rc == 0)
            w->tl_agg_rc = rc;
        uv_cond_broadcast(&r->agg_back);
    }
    uv_mutex_unlock(&r->agg_mu);
}

int pv_run__tl_agg_start(pv_run *r)
{
    if (uv_mutex_init(&r->agg_mu) != 0)
        return VOLLEY_EIO;
    if (uv_cond_init(&r->agg_cond) != 0) {
        uv_mutex_destroy(&r->agg_mu);
        return VOLLEY_EIO;
    }
    if (uv_cond_init(&r->agg_back) != 0) {
        uv_cond_destroy(&r->agg_cond);
        uv_mutex_destroy(&r->agg_mu);
        return VOLLEY_EIO;
    }
    r->agg_init = true;
    if (uv_thread_create(&r->agg_thread, agg_main, r) != 0)
        return VOLLEY_EIO; /* the workers merge their own intervals */
    r->agg_started = true;
    return 0;
}

void pv_run__tl_agg_stop(pv_run *r)
{
    if (r->agg_started) {
        uv_mutex_lock(&r->agg_mu);
        r->agg_quit = true;
        uv_cond_signal(&r->agg_cond);
        uv_mutex_unlock(&r->agg_mu);
        uv_thread_join(&r->agg_thread);
        r->agg_started = false;
    }
    if (r->agg_init) {
        uv_cond_destroy(&r->agg_back);
        uv_cond_destroy(&r->agg_cond);
        uv_mutex_destroy(&r->agg_mu);
        r->agg_init = false;
    }
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
    /* The two sets are empty now, but keep their histograms' memory for a
       next interval there will not be: given back before the report is
       rendered, whatever the last intervals held. */
    for (size_t j = 0; j < w->run->nscen; j++) {
        pv_stat_fini(&w->tl_stats[j]);
        pv_stat_fini(&w->tl_spare[j]);
    }
}

void pv_run__tl_result(pv_run *r)
{
    uv_mutex_lock(&r->tl_mu);
    r->result.timeline = r->tl;
    r->tl.points = NULL;
    r->tl.npoints = 0;
    uv_mutex_unlock(&r->tl_mu);
}
