/* pv_run_merge.c - the workers' statistics merged into the run's result. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/pv_run_int.h"

int pv_run__merge(pv_run *r)
{
    struct pv_run_result *res = &r->result;
    res->concurrency = r->cfg.concurrency;
    res->threads = r->nworkers;
    res->pool = r->cfg.pool;
    res->command_timeout_s = r->cfg.command_timeout_s;
    res->protocol = r->cfg.protocol;
    res->duration_s = r->cfg.duration_s;
    res->warmup_s = r->cfg.warmup_s;
    res->retries = r->cfg.retries;
    res->seed = r->cfg.seed;
    res->pipeline = r->cfg.pipeline > 1 ? r->cfg.pipeline : 1;
    res->separate_begin = r->cfg.separate_begin;
    res->pinned = r->cfg.pin_threads;
    res->rate = r->cfg.rate;
    res->arrival = r->cfg.arrival;
    res->max_lag_s = r->cfg.max_lag_s;
    res->shape = r->cfg.shape;
    for (int i = 0; i < r->nworkers; i++)
        res->pinned = res->pinned && !r->workers[i].pin_failed;
    if (atomic_load(&r->aborting))
        snprintf(res->aborted, sizeof(res->aborted), "%s", r->abort_reason);
    res->interrupted = atomic_load(&r->stop) != 0 && !res->aborted[0];

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
                rc = pv_stat_merge_move(&sr->stat, &r->workers[t].stats[k]);
            if (rc == 0)
                rc = pv_stat_merge(&qr->stat, &sr->stat);
            pv_stat_sort_errors(&sr->stat);
        }
        if (rc == 0)
            rc = pv_stat_merge(&res->total, &qr->stat);
        pv_stat_sort_errors(&qr->stat);
        if (rc == 0 && q->nsteps > 0) { /* a transaction's statements */
            qr->steps = calloc((size_t)q->nsteps, sizeof(*qr->steps));
            rc = qr->steps ? 0 : VOLLEY_ENOMEM;
            for (int j = 0; rc == 0 && j < q->nsteps; j++) {
                size_t slot = r->step_slot[i] + (size_t)j - r->nqueries;
                for (int t = 0; rc == 0 && t < r->nworkers; t++)
                    rc = pv_stat_merge_move(&qr->steps[j], &r->workers[t].step_stats[slot]);
                pv_stat_sort_errors(&qr->steps[j]);
            }
        }
        if (rc == 0 && pv_run__open_model(r)) {
            rc = pv_sched_stats_init(&qr->sched);
            for (int t = 0; rc == 0 && t < r->nworkers; t++)
                rc = pv_sched_stats_merge(&qr->sched, &r->workers[t].sched[i]);
            if (rc == 0 && !res->sched.intended)
                rc = pv_sched_stats_init(&res->sched);
            if (rc == 0)
                rc = pv_sched_stats_merge(&res->sched, &qr->sched);
        }
    }
    pv_stat_sort_errors(&res->total);

    uint64_t first = UINT64_MAX, last = 0, connected = 0;
    struct pv_pool_stats *ps = &res->pool_stats;
    ps->max_open = (uint64_t)atomic_load(&r->max_open_conns);
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
        ps->wanted += (uint64_t)PV_MIN((w->slots + pv_run__per_conn(r) - 1) / pv_run__per_conn(r),
                                       w->pool_max);
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
    return rc;
}

void pv_run__result_fini(struct pv_run_result *res)
{
    for (size_t i = 0; res->queries && i < res->nqueries; i++) {
        struct pv_query_result *qr = &res->queries[i];
        for (size_t j = 0; qr->scenarios && j < qr->query->nscenarios; j++)
            pv_stat_fini(&qr->scenarios[j].stat);
        free(qr->scenarios);
        pv_stat_fini(&qr->stat);
        for (int j = 0; qr->steps && j < qr->query->nsteps; j++)
            pv_stat_fini(&qr->steps[j]);
        free(qr->steps);
        pv_sched_stats_fini(&qr->sched);
    }
    free(res->queries);
    pv_stat_fini(&res->total);
    pv_sched_stats_fini(&res->sched);
    pv_hist_destroy(res->pool_stats.acquire_wait);
    for (size_t i = 0; i < res->timeline.npoints; i++)
        pv_tl_point_fini(&res->timeline.points[i], res->timeline.nqueries);
    free(res->timeline.points);
}
