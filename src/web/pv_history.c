/* pv_history.c - the run history of `pgvolley serve`: the front (argument
   checks, the handle and its mutex) over a backend (pv_history_int.h). */
#include "web/pv_history.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "web/pv_history_int.h"

struct pv_history {
    const struct pv_history__ops *ops;
    void *be;
    pthread_mutex_t mu; /* serialises every call to the backend */
};

static const char *const state_names[PV_HISTORY_NSTATES] = {
    "queued", "running", "finished", "failed", "cancelled", "interrupted",
};

const char *pv_history_state_name(enum pv_history_state s)
{
    return (unsigned)s < PV_HISTORY_NSTATES ? state_names[s] : "unknown";
}

int pv_history_state_parse(const char *s)
{
    for (int i = 0; s && i < PV_HISTORY_NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

void pv_history_run_fini(struct pv_history_run *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->target);
    free(r->message);
    free(r->config);
    free(r->report);
    memset(r, 0, sizeof(*r));
}

/* A copy of column col's text ("" for NULL); NULL only out of memory. */
static char *row_dup(const struct pv_history__row *row, int col)
{
    const char *t = row->text(row->src, col);
    return pv_strdup(t ? t : "");
}

int pv_history__run_from_row(const struct pv_history__row *row, bool with_report,
                             struct pv_history_run *r)
{
    void *src = row->src;
    memset(r, 0, sizeof(*r));
    r->id = row->i64(src, 0);
    r->name = row_dup(row, 1);
    r->target = row_dup(row, 2);
    const char *state = row->text(src, 3);
    int s = state ? pv_history_state_parse(state) : -1;
    r->state = s < 0 ? PV_HISTORY_INTERRUPTED : (enum pv_history_state)s;
    r->created_at = row->dbl(src, 4);
    r->started_at = row->dbl(src, 5);
    r->finished_at = row->dbl(src, 6);
    r->has_summary = row->text(src, 7) != NULL;
    r->summary.executions = row->i64(src, 7);
    r->summary.failed = row->i64(src, 8);
    r->summary.qps = row->dbl(src, 9);
    r->summary.avg_ms = row->dbl(src, 10);
    r->summary.p95_ms = row->dbl(src, 11);
    r->summary.wall_s = row->dbl(src, 12);
    r->exit_code = (int)row->i64(src, 13);
    r->message = row_dup(row, 14);
    r->config = row_dup(row, 15);
    r->npoints = row->i64(src, 16);
    const char *report = with_report ? row->text(src, PV_HISTORY__RUN_NCOLUMNS) : NULL;
    if ((report && !(r->report = pv_strdup(report))) || !r->name || !r->target || !r->message ||
        !r->config) {
        pv_history_run_fini(r);
        return VOLLEY_ENOMEM;
    }
    return 0;
}

int pv_history__no_run(pv_err *err, int64_t id)
{
    return pv_err_set(err, VOLLEY_EINPUT, "no run %lld in the history", (long long)id);
}

int pv_history__bad_state(pv_err *err, int64_t id, int state, const char *doing)
{
    return pv_err_set(err, VOLLEY_EINPUT, "run %lld is %s: cannot %s it", (long long)id,
                      state < 0 || state >= PV_HISTORY_NSTATES ? "in an unknown state"
                                                               : state_names[state],
                      doing);
}

/* ---- open and close ----------------------------------------------------- */

typedef int (*open_fn)(const char *where, int64_t *interrupted, void **be, pv_err *err);

static int open_with(const struct pv_history__ops *ops, open_fn open, const char *where,
                     int64_t *interrupted, pv_history **out, pv_err *err)
{
    *out = NULL;
    int64_t n = 0;
    pv_history *h = calloc(1, sizeof(*h));
    if (!h)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    int rc = open(where, &n, &h->be, err);
    if (rc != 0) {
        pthread_mutex_destroy(&h->mu);
        free(h);
        return rc;
    }
    h->ops = ops;
    if (interrupted)
        *interrupted = n;
    *out = h;
    return 0;
}

int pv_history_open(const char *path, int64_t *interrupted, pv_history **out, pv_err *err)
{
    if (interrupted)
        *interrupted = 0;
    if (!path || !out)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no path");
    return open_with(&pv_history__sqlite_ops, pv_history__sqlite_open, path, interrupted, out, err);
}

int pv_history_open_pg(const char *conninfo, int64_t *interrupted, pv_history **out, pv_err *err)
{
    if (interrupted)
        *interrupted = 0;
    if (!conninfo || !out)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no connection string");
    return open_with(&pv_history__pg_ops, pv_history__pg_open, conninfo, interrupted, out, err);
}

void pv_history_close(pv_history *h)
{
    if (!h)
        return;
    h->ops->close(h->be);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- dispatch ----------------------------------------------------------- */

/* Unlocks h, then returns rc: `lock; return unlock_with(h, call);`. */
static int unlock_with(pv_history *h, int rc)
{
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int pv_history_add(pv_history *h, const char *name, const char *target, const char *config_json,
                   double now, int64_t *id, pv_err *err)
{
    if (!h || !target || !config_json || !id)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: a run needs a target and a config");
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->add(h->be, name ? name : "", target, config_json, now, id, err));
}

int pv_history_start(pv_history *h, int64_t id, double now, pv_err *err)
{
    if (!h)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->start(h->be, id, now, err));
}

int pv_history_add_point(pv_history *h, int64_t id, int64_t seq, const char *point_json,
                         pv_err *err)
{
    if (!h || !point_json || seq < 0)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: a point needs a sequence number");
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->add_point(h->be, id, seq, point_json, err));
}

int pv_history_finish(pv_history *h, int64_t id, enum pv_history_state state, double now,
                      const char *report_json, const struct pv_history_summary *summary,
                      int exit_code, const char *message, pv_err *err)
{
    if (!h)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    if (state != PV_HISTORY_FINISHED && state != PV_HISTORY_FAILED &&
        state != PV_HISTORY_CANCELLED && state != PV_HISTORY_INTERRUPTED)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: %s is not how a run ends",
                          pv_history_state_name(state));
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->finish(h->be, id, state, now, report_json, summary, exit_code,
                                         message ? message : "", err));
}

int pv_history_get(pv_history *h, int64_t id, bool with_report, struct pv_history_run *out,
                   pv_err *err)
{
    if (!h || !out)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->get(h->be, id, with_report, out, err));
}

int pv_history_list(pv_history *h, const struct pv_history_filter *f, pv_history_run_fn fn,
                    void *arg, pv_err *err)
{
    if (!h || !fn)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    struct pv_history_filter g = {0};
    if (f)
        g = *f;
    if (g.limit <= 0)
        g.limit = PV_HISTORY__LIMIT;
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->list(h->be, &g, fn, arg, err));
}

int pv_history_points(pv_history *h, int64_t id, int64_t after, pv_history_point_fn fn, void *arg,
                      pv_err *err)
{
    if (!h || !fn)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->points(h->be, id, after, fn, arg, err));
}

int pv_history_delete(pv_history *h, int64_t id, pv_err *err)
{
    if (!h)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: no handle");
    pthread_mutex_lock(&h->mu);
    return unlock_with(h, h->ops->del(h->be, id, err));
}

int pv_history_prune(pv_history *h, double older_than, int64_t keep, int64_t *deleted, pv_err *err)
{
    if (deleted)
        *deleted = 0;
    if (!h || keep < 0)
        return pv_err_set(err, VOLLEY_EINVAL, "run history: keep must be 0 or more");
    int64_t n = 0;
    pthread_mutex_lock(&h->mu);
    int rc = h->ops->prune(h->be, older_than, keep, &n, err);
    pthread_mutex_unlock(&h->mu);
    if (rc == 0 && deleted)
        *deleted = n;
    return rc;
}
