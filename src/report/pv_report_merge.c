/* pv_report_merge.c - the exact merge of two reports read back
   (pv_report_merge in pv_report_read.h): counts summed, histograms merged. */
#include "report/pv_report_read.h"
#include "report/pv_report_read_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Whether two strings (either may be NULL) are equal. */
static bool same(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

/* Whether run b is of the same workload as run a; if not, why says how. */
static bool same_workload(const struct pv_report__run *a, const struct pv_report__run *b, char *why,
                          size_t size)
{
    if (strcmp(a->mode, b->mode) != 0) {
        snprintf(why, size, "a %s-based run, not a %s-based one", b->mode, a->mode);
        return false;
    }
    if ((a->res.rate > 0) != (b->res.rate > 0) || (a->shape == NULL) != (b->shape == NULL)) {
        snprintf(why, size, "another load model (open or closed, shaped or constant)");
        return false;
    }
    if (a->res.nqueries != b->res.nqueries) {
        snprintf(why, size, "%zu queries, not %zu", b->res.nqueries, a->res.nqueries);
        return false;
    }
    for (size_t i = 0; i < a->res.nqueries; i++) {
        const struct pv_query *p = &a->queries[i], *q = &b->queries[i];
        bool ok = same(p->name, q->name) && same(p->sql, q->sql) &&
                  p->nscenarios == q->nscenarios && p->nsteps == q->nsteps;
        for (size_t k = 0; ok && k < p->nscenarios; k++)
            ok = same(p->scenarios[k].name, q->scenarios[k].name) &&
                 same(p->scenarios[k].params_json, q->scenarios[k].params_json);
        for (int k = 0; ok && k < p->nsteps; k++)
            ok = same(p->steps[k].sql, q->steps[k].sql);
        if (!ok) {
            snprintf(why, size,
                     "query %zu is %s, not %s, or its SQL, scenarios or statements differ", i + 1,
                     q->name, p->name);
            return false;
        }
    }
    return true;
}

static int merge_sched(struct pv_sched_stats *dst, const struct pv_sched_stats *src)
{
    if (!src->intended)
        return 0;
    int rc = dst->intended ? 0 : pv_sched_stats_init(dst);
    return rc != 0 ? rc : pv_sched_stats_merge(dst, src);
}

static int merge_pool(struct pv_pool_stats *dst, const struct pv_pool_stats *src)
{
    dst->opened += src->opened;
    dst->closed += src->closed;
    dst->connect_failed += src->connect_failed;
    dst->lost += src->lost;
    dst->timeouts += src->timeouts;
    dst->max_in_use += src->max_in_use; /* the shards ran side by side */
    dst->max_open += src->max_open;
    dst->wanted += src->wanted;
    dst->connect_s = PV_MAX(dst->connect_s, src->connect_s);
    return pv_hist_merge(dst->acquire_wait, src->acquire_wait);
}

/* Every figure of src's run into dst's (same workload). */
static int merge_run(struct pv_report__run *dst, const struct pv_report__run *src)
{
    struct pv_run_result *d = &dst->res;
    const struct pv_run_result *s = &src->res;
    int rc = pv_stat_merge(&d->total, &s->total);
    if (rc == 0)
        rc = merge_sched(&d->sched, &s->sched);
    for (size_t i = 0; rc == 0 && i < d->nqueries; i++) {
        struct pv_query_result *dq = &d->queries[i];
        const struct pv_query_result *sq = &s->queries[i];
        rc = pv_stat_merge(&dq->stat, &sq->stat);
        if (rc == 0)
            rc = merge_sched(&dq->sched, &sq->sched);
        for (size_t k = 0; rc == 0 && k < dq->query->nscenarios; k++) {
            rc = pv_stat_merge(&dq->scenarios[k].stat, &sq->scenarios[k].stat);
            dst->queries[i].scenarios[k].exec_count += sq->scenarios[k].scenario->exec_count;
        }
        for (int k = 0; rc == 0 && dq->steps && k < dq->query->nsteps; k++)
            rc = pv_stat_merge(&dq->steps[k], &sq->steps[k]);
        pv_stat_sort_errors(&dq->stat);
    }
    if (rc == 0)
        rc = merge_pool(&d->pool_stats, &s->pool_stats);
    pv_stat_sort_errors(&d->total);
    /* the time span: from the earliest start of a counted window to the latest end */
    double d0 = d->started_at + d->warmup_s, s0 = s->started_at + s->warmup_s;
    double end = PV_MAX(d0 + d->wall_s, s0 + s->wall_s), start = PV_MIN(d0, s0);
    d->started_at = PV_MIN(d->started_at, s->started_at);
    d->wall_s = end > start ? end - start : 0;
    d->concurrency += s->concurrency;
    d->threads += s->threads;
    d->rate += s->rate;
    d->interrupted = d->interrupted || s->interrupted;
    if (!d->aborted[0])
        memcpy(d->aborted, s->aborted, sizeof(d->aborted));
    return rc;
}

int pv_report_merge(pv_report_file *dst, const pv_report_file *src, pv_err *err)
{
    char why[200];
    if (dst->rep.sweep || dst->nruns != 1 || src->rep.sweep || src->nruns != 1) {
        const char *which = dst->rep.sweep || dst->nruns != 1 ? dst->name : src->name;
        return pv_err_set(err, VOLLEY_EINPUT,
                          "%s: a sweep (several concurrency levels): only reports of one run "
                          "merge",
                          which);
    }
    if (!same_workload(&dst->runs[0], &src->runs[0], why, sizeof(why)))
        return pv_err_set(err, VOLLEY_EINPUT, "%s: not the workload of %s: %s", src->name,
                          dst->name, why);
    int rc = merge_run(&dst->runs[0], &src->runs[0]);
    if (rc != 0)
        return pv_err_set(err, rc, "out of memory");
    dst->rep.started_at = dst->runs[0].res.started_at;
    dst->rep.interrupted = dst->rep.interrupted || src->rep.interrupted;
    dst->rep.shard_index = dst->rep.shard_count = 0;
    return 0;
}
