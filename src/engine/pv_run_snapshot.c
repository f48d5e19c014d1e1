/*
 * pv_run_snapshot.c - the timeline, the run's side: finishing a point (its
 * percentiles computed, its histograms freed), keeping it within the cap by
 * coalescing adjacent pairs, the last raw points for pv_run_timeline_next,
 * and the cumulative figures behind pv_run_snapshot. Everything here runs
 * under r->tl_mu.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/pv_run_int.h"

/* ---- points ------------------------------------------------------------- */

static void figs_fini(struct pv_tl_figs *f)
{
    free(f->errors);
    f->errors = NULL;
    f->nerrors = 0;
}

void pv_tl_point_fini(struct pv_tl_point *p, size_t nqueries)
{
    figs_fini(&p->all);
    for (size_t i = 0; p->queries && i < nqueries; i++)
        figs_fini(&p->queries[i]);
    free(p->queries);
    memset(p, 0, sizeof(*p));
}

/* count failures of class cls (2 characters) into f. @return 0 or VOLLEY_ENOMEM. */
static int figs_add_error(struct pv_tl_figs *f, const char *cls, uint64_t count)
{
    for (size_t i = 0; i < f->nerrors; i++) {
        if (memcmp(f->errors[i].cls, cls, 2) == 0) {
            f->errors[i].count += count;
            return 0;
        }
    }
    struct pv_tl_err *v = realloc(f->errors, (f->nerrors + 1) * sizeof(*v));
    if (!v)
        return VOLLEY_ENOMEM;
    f->errors = v;
    memcpy(v[f->nerrors].cls, cls, 2);
    v[f->nerrors].cls[2] = '\0';
    v[f->nerrors].count = count;
    f->nerrors++;
    return 0;
}

static void figs_latency(struct pv_tl_figs *f, const pv_hist *h)
{
    if (!h || pv_hist_count(h) == 0)
        return;
    f->avg_ms = pv_hist_mean(h) / 1e6;
    f->p50_ms = (double)pv_hist_percentile(h, 50.0) / 1e6;
    f->p95_ms = (double)pv_hist_percentile(h, 95.0) / 1e6;
    f->p99_ms = (double)pv_hist_percentile(h, 99.0) / 1e6;
    f->max_ms = (double)pv_hist_max(h) / 1e6;
}

/* dst += src (src comes after dst): exact counts, the larger percentiles. */
static int figs_merge(struct pv_tl_figs *dst, const struct pv_tl_figs *src)
{
    uint64_t ok = dst->succeeded + src->succeeded;
    if (ok > 0)
        dst->avg_ms =
            (dst->avg_ms * (double)dst->succeeded + src->avg_ms * (double)src->succeeded) /
            (double)ok;
    dst->succeeded = ok;
    dst->failed += src->failed;
    dst->p50_ms = PV_MAX(dst->p50_ms, src->p50_ms);
    dst->p95_ms = PV_MAX(dst->p95_ms, src->p95_ms);
    dst->p99_ms = PV_MAX(dst->p99_ms, src->p99_ms);
    dst->max_ms = PV_MAX(dst->max_ms, src->max_ms);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < src->nerrors; i++)
        rc = figs_add_error(dst, src->errors[i].cls, src->errors[i].count);
    return rc;
}

static int figs_copy(struct pv_tl_figs *dst, const struct pv_tl_figs *src)
{
    *dst = *src;
    dst->errors = NULL;
    dst->nerrors = 0;
    if (src->nerrors == 0)
        return 0;
    dst->errors = malloc(src->nerrors * sizeof(*dst->errors));
    if (!dst->errors)
        return VOLLEY_ENOMEM;
    memcpy(dst->errors, src->errors, src->nerrors * sizeof(*dst->errors));
    dst->nerrors = src->nerrors;
    return 0;
}

/* A deep copy of src into dst (zeroed on failure). @return 0 or VOLLEY_ENOMEM. */
static int point_copy(struct pv_tl_point *dst, const struct pv_tl_point *src, size_t nq)
{
    *dst = *src;
    dst->queries = NULL;
    int rc = figs_copy(&dst->all, &src->all);
    if (rc == 0 && !(dst->queries = calloc(nq ? nq : 1, sizeof(*dst->queries))))
        rc = VOLLEY_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nq; i++)
        rc = figs_copy(&dst->queries[i], &src->queries[i]);
    if (rc != 0)
        pv_tl_point_fini(dst, nq);
    return rc;
}

/* a += b, b being the point right after a. */
static int point_merge(struct pv_tl_point *a, const struct pv_tl_point *b, size_t nq)
{
    a->span += b->span;
    a->t_s = b->t_s;
    a->interval_s += b->interval_s;
    a->in_flight = PV_MAX(a->in_flight, b->in_flight);
    a->pool_waits += b->pool_waits;
    a->started += b->started;
    a->lag_p50_ms = PV_MAX(a->lag_p50_ms, b->lag_p50_ms);
    a->lag_p99_ms = PV_MAX(a->lag_p99_ms, b->lag_p99_ms);
    a->lag_max_ms = PV_MAX(a->lag_max_ms, b->lag_max_ms);
    int rc = figs_merge(&a->all, &b->all);
    for (size_t i = 0; rc == 0 && i < nq; i++)
        rc = figs_merge(&a->queries[i], &b->queries[i]);
    return rc;
}

/* Keeps pt (taken): into the last point while it covers fewer intervals
   than the others, else appended; a full array first coalesces its pairs. */
static int keep(pv_run *r, struct pv_tl_point *pt)
{
    struct pv_timeline *tl = &r->tl;
    size_t nq = r->nqueries;
    int rc = 0;
    if (tl->npoints > 0 && tl->points[tl->npoints - 1].span < tl->span) {
        rc = point_merge(&tl->points[tl->npoints - 1], pt, nq);
        pv_tl_point_fini(pt, nq);
        return rc;
    }
    if (tl->npoints == r->tl_cap) {
        for (size_t i = 0; i < tl->npoints / 2; i++) {
            struct pv_tl_point *a = &tl->points[2 * i], *b = &tl->points[2 * i + 1];
            if (rc == 0)
                rc = point_merge(a, b, nq);
            pv_tl_point_fini(b, nq);
            if (i > 0) {
                tl->points[i] = *a;
                memset(a, 0, sizeof(*a));
            }
        }
        tl->npoints /= 2;
        tl->span *= 2;
    }
    if (tl->npoints == 0 || (tl->npoints & (tl->npoints - 1)) == 0) {
        /* grow by doubling, up to the cap */
        size_t cap = PV_MIN(PV_MAX(tl->npoints * 2, (size_t)16), r->tl_cap);
        struct pv_tl_point *v = realloc(tl->points, cap * sizeof(*v));
        if (!v) {
            pv_tl_point_fini(pt, nq);
            return VOLLEY_ENOMEM;
        }
        tl->points = v;
    }
    tl->points[tl->npoints++] = *pt;
    memset(pt, 0, sizeof(*pt));
    return rc;
}

/* The last raw points, for pv_run_timeline_next: a copy of pt. */
static int recent_push(pv_run *r, const struct pv_tl_point *pt)
{
    if (!r->tl_recent && !(r->tl_recent = calloc(PV_TIMELINE_RECENT, sizeof(*r->tl_recent))))
        return VOLLEY_ENOMEM;
    struct pv_tl_point *slot = &r->tl_recent[r->tl_nraw % PV_TIMELINE_RECENT];
    pv_tl_point_fini(slot, r->nqueries);
    int rc = point_copy(slot, pt, r->nqueries);
    r->tl_nraw++; /* even if the copy failed: a reader sees a zeroed point */
    return rc;
}

/* ---- finishing a pending point ------------------------------------------- */

/* f's counts, errors by class and latency of query i's scenarios in p
   (the flat ones from *k on, *k moved past them); their histogram merged
   into all, their counts and errors added to tot. */
static int query_figs(pv_run *r, struct tl_pending *p, size_t i, size_t *k, struct pv_tl_figs *f,
                      struct pv_tl_figs *tot, pv_hist *all)
{
    pv_hist *h;
    if (pv_hist_create(&h) != 0)
        return VOLLEY_ENOMEM;
    int rc = 0;
    size_t end = *k + r->result.queries[i].query->nscenarios;
    for (; *k < end; (*k)++) {
        const struct pv_stat *s = &p->scen[*k];
        f->succeeded += s->succeeded;
        f->failed += s->failed;
        if (rc == 0 && s->latency)
            rc = pv_hist_merge(h, s->latency);
        for (size_t e = 0; rc == 0 && e < s->nerrors; e++)
            rc = figs_add_error(f, s->errors[e].sqlstate, s->errors[e].count);
        for (size_t e = 0; rc == 0 && e < s->nerrors; e++)
            rc = figs_add_error(tot, s->errors[e].sqlstate, s->errors[e].count);
    }
    figs_latency(f, h);
    tot->succeeded += f->succeeded;
    tot->failed += f->failed;
    if (rc == 0)
        rc = pv_hist_merge(all, h);
    pv_hist_destroy(h);
    return rc;
}

/* The point of p: per query and overall figures, lag. */
static int point_of(pv_run *r, struct tl_pending *p, struct pv_tl_point *pt)
{
    double iv = r->tl.interval_s, start = (double)p->k * iv;
    memset(pt, 0, sizeof(*pt));
    pt->index = p->k;
    pt->span = 1;
    pt->t_s = p->whole ? (double)(p->k + 1) * iv : PV_MAX(start, p->end_s);
    pt->interval_s = pt->t_s - start;
    pt->in_flight = p->in_flight;
    pt->pool_waits = p->pool_waits;
    pt->started = p->started;
    pt->queries = calloc(r->nqueries ? r->nqueries : 1, sizeof(*pt->queries));
    pv_hist *all = NULL, *lag = NULL;
    int rc = pt->queries && pv_hist_create(&all) == 0 ? 0 : VOLLEY_ENOMEM;
    size_t k = 0; /* the flat scenarios are in query order */
    for (size_t i = 0; rc == 0 && i < r->nqueries; i++)
        rc = query_figs(r, p, i, &k, &pt->queries[i], &pt->all, all);
    if (rc == 0)
        figs_latency(&pt->all, all);
    if (rc == 0 && p->sched) {
        rc = pv_hist_create(&lag);
        for (size_t i = 0; rc == 0 && i < r->nqueries; i++)
            rc = pv_hist_merge(lag, p->sched[i].lag);
        if (rc == 0 && pv_hist_count(lag) > 0) {
            pt->lag_p50_ms = (double)pv_hist_percentile(lag, 50.0) / 1e6;
            pt->lag_p99_ms = (double)pv_hist_percentile(lag, 99.0) / 1e6;
            pt->lag_max_ms = (double)pv_hist_max(lag) / 1e6;
        }
    }
    pv_hist_destroy(all);
    pv_hist_destroy(lag);
    if (rc != 0)
        pv_tl_point_fini(pt, r->nqueries);
    return rc;
}

int pv_run__tl_finish(pv_run *r, struct tl_pending *p)
{
    /* the cumulative figures first: a point that cannot be built still counts */
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < r->nscen; j++)
        rc = pv_stat_merge(&r->cum_scen[j], &p->scen[j]);
    for (size_t i = 0; rc == 0 && p->sched && i < r->nqueries; i++)
        rc = pv_sched_stats_merge(&r->cum_sched[i], &p->sched[i]);
    struct pv_tl_point pt;
    if (rc == 0)
        rc = point_of(r, p, &pt);
    if (rc != 0)
        return rc;
    r->cum_wall_s = PV_MAX(r->cum_wall_s, pt.t_s);
    bool empty = pt.all.succeeded + pt.all.failed + pt.started + pt.pool_waits == 0;
    if (!p->whole && empty && pt.interval_s < 0.001) {
        /* the run ended at a boundary: nothing after it */
        pv_tl_point_fini(&pt, r->nqueries);
        return 0;
    }
    rc = recent_push(r, &pt);
    int krc = keep(r, &pt);
    return rc ? rc : krc;
}

/* ---- the API ------------------------------------------------------------- */

int pv_run_timeline_next(pv_run *r, uint64_t *seq, struct pv_tl_point *out)
{
    memset(out, 0, sizeof(*out));
    uv_mutex_lock(&r->tl_mu);
    if (r->tl_nraw > PV_TIMELINE_RECENT && *seq < r->tl_nraw - PV_TIMELINE_RECENT)
        *seq = r->tl_nraw - PV_TIMELINE_RECENT; /* fell behind: the oldest kept */
    int rc = 0;
    if (*seq < r->tl_nraw) {
        rc = point_copy(out, &r->tl_recent[*seq % PV_TIMELINE_RECENT], r->nqueries);
        if (rc == 0) {
            (*seq)++;
            rc = 1;
        }
    }
    uv_mutex_unlock(&r->tl_mu);
    return rc;
}

void pv_run_result_free(struct pv_run_result *res)
{
    if (!res)
        return;
    pv_run__result_fini(res);
    free(res);
}

/* s's queries, scenarios, statements and total from the cumulative figures. */
static int snapshot_stats(pv_run *r, struct pv_run_result *s)
{
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < r->nqueries; i++) {
        struct pv_query_result *qr = &s->queries[i];
        const struct pv_query *q = r->result.queries[i].query;
        qr->query = q;
        qr->scenarios = calloc(q->nscenarios, sizeof(*qr->scenarios));
        if (!qr->scenarios)
            return VOLLEY_ENOMEM;
        for (size_t j = 0; rc == 0 && j < q->nscenarios; j++, k++) {
            qr->scenarios[j].scenario = &q->scenarios[j];
            rc = pv_stat_merge(&qr->scenarios[j].stat, &r->cum_scen[k]);
            if (rc == 0)
                rc = pv_stat_merge(&qr->stat, &qr->scenarios[j].stat);
            pv_stat_sort_errors(&qr->scenarios[j].stat);
        }
        if (rc == 0)
            rc = pv_stat_merge(&s->total, &qr->stat);
        pv_stat_sort_errors(&qr->stat);
        if (rc == 0 && q->nsteps > 0 &&
            !(qr->steps = calloc((size_t)q->nsteps, sizeof(*qr->steps))))
            rc = VOLLEY_ENOMEM;
        if (rc == 0 && r->cum_sched) {
            rc = pv_sched_stats_init(&qr->sched);
            if (rc == 0 && !s->sched.intended)
                rc = pv_sched_stats_init(&s->sched);
            if (rc == 0)
                rc = pv_sched_stats_merge(&qr->sched, &r->cum_sched[i]);
            if (rc == 0)
                rc = pv_sched_stats_merge(&s->sched, &r->cum_sched[i]);
        }
    }
    pv_stat_sort_errors(&s->total);
    return rc;
}

int pv_run_snapshot(pv_run *r, struct pv_run_result **out)
{
    *out = NULL;
    struct pv_run_result *s = calloc(1, sizeof(*s));
    if (!s)
        return VOLLEY_ENOMEM;
    const struct pv_run_config *cfg = &r->cfg;
    s->concurrency = cfg->concurrency;
    s->threads = r->nworkers;
    s->pool = cfg->pool;
    s->command_timeout_s = cfg->command_timeout_s;
    s->protocol = cfg->protocol;
    s->duration_s = cfg->duration_s;
    s->warmup_s = cfg->warmup_s;
    s->retries = cfg->retries;
    s->seed = cfg->seed;
    s->pipeline = cfg->pipeline > 1 ? cfg->pipeline : 1;
    s->separate_begin = cfg->separate_begin;
    s->pinned = cfg->pin_threads;
    s->rate = cfg->rate;
    s->arrival = cfg->arrival;
    s->max_lag_s = cfg->max_lag_s;
    s->shape = cfg->shape;
    s->started_at = r->result.started_at;
    s->timeline.interval_s = cfg->interval_s; /* no points: the snapshot's length of one */
    s->nqueries = r->nqueries;
    s->pool_stats.max_open = (uint64_t)atomic_load(&r->max_open_conns);
    s->queries = calloc(r->nqueries ? r->nqueries : 1, sizeof(*s->queries));
    int rc = s->queries ? pv_hist_create(&s->pool_stats.acquire_wait) : VOLLEY_ENOMEM;
    if (rc == 0) {
        uv_mutex_lock(&r->tl_mu);
        rc = snapshot_stats(r, s);
        s->wall_s = r->cum_wall_s;
        uv_mutex_unlock(&r->tl_mu);
    }
    if (rc != 0) {
        pv_run_result_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
