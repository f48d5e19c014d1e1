/* pv_report_timeline.c - the points of a run's JSON `timeline` (see pv_report_timeline.h). */
#include "report/pv_report_timeline.h"

#include <math.h>
#include <stdlib.h>

#include "report/pv_report.h"
#include <stdbool.h>

/* As in pv_report_json.c: setters that accept NULL and note the failure. */
static void put(bool *oom, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *oom = true;
}

/* executions, succeeded, failed, errors, qps, latency_ms of one group. */
static void figs_json(bool *oom, json_t *o, const struct pv_tl_figs *f, double interval_s)
{
    uint64_t n = f->succeeded + f->failed;
    put(oom, o, "executions", pv_report__jcount(n));
    put(oom, o, "succeeded", pv_report__jcount(f->succeeded));
    put(oom, o, "failed", pv_report__jcount(f->failed));
    json_t *errors = json_object();
    for (size_t i = 0; errors && i < f->nerrors; i++)
        put(oom, errors, f->errors[i].cls, pv_report__jcount(f->errors[i].count));
    put(oom, o, "errors", errors);
    put(oom, o, "qps", pv_report__jreal(interval_s > 0 ? (double)n / interval_s : 0));
    json_t *lat = json_object();
    put(oom, lat, "avg", pv_report__jreal(f->avg_ms));
    put(oom, lat, "p50", pv_report__jreal(f->p50_ms));
    put(oom, lat, "p95", pv_report__jreal(f->p95_ms));
    put(oom, lat, "p99", pv_report__jreal(f->p99_ms));
    put(oom, lat, "max", pv_report__jreal(f->max_ms));
    put(oom, o, "latency_ms", lat);
}

json_t *pv_report__timeline_point_json(const struct pv_run_result *run, const struct pv_tl_point *p)
{
    bool flag = false;
    bool *oom = &flag;
    json_t *o = json_object();
    put(oom, o, "t_s", pv_report__jreal(p->t_s));
    put(oom, o, "interval_s", pv_report__jreal(p->interval_s));
    figs_json(oom, o, &p->all, p->interval_s);
    put(oom, o, "in_flight", pv_report__jcount(p->in_flight));
    put(oom, o, "pool_waits", pv_report__jcount(p->pool_waits));
    if (run->rate > 0) {
        put(oom, o, "rate",
            pv_report__jreal(p->interval_s > 0 ? (double)p->started / p->interval_s : 0));
        json_t *lag = json_object();
        put(oom, lag, "p50", pv_report__jreal(p->lag_p50_ms));
        put(oom, lag, "p99", pv_report__jreal(p->lag_p99_ms));
        put(oom, lag, "max", pv_report__jreal(p->lag_max_ms));
        put(oom, o, "lag_ms", lag);
    }
    json_t *queries = json_array();
    for (size_t i = 0; queries && i < run->nqueries && i < run->timeline.nqueries; i++) {
        json_t *q = json_object();
        put(oom, q, "name", json_string(run->queries[i].query->name));
        figs_json(oom, q, &p->queries[i], p->interval_s);
        if (!q || json_array_append_new(queries, q) != 0)
            *oom = true;
    }
    put(oom, o, "queries", queries);
    if (flag) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pv_report_timeline_point(const struct pv_run_result *run, const struct pv_tl_point *p,
                             pv_buf *out)
{
    json_t *o = pv_report__timeline_point_json(run, p);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!s)
        return VOLLEY_ENOMEM;
    pv_buf_puts(out, s);
    free(s);
    return pv_buf_ok(out) == 0 ? 0 : VOLLEY_ENOMEM;
}
