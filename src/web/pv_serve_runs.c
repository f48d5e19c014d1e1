/* pv_serve_runs.c - the run manager of `pgvolley serve`: the queue, one
   thread per running run, cancel, and the change counter event streams
   wait on (pv_serve_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/pv_serve_int.h"

/* One run the manager holds: queued or running. */
struct srun {
    int64_t id;
    void *job;
    bool running;
    bool cancelled;
    char *progress; /* the latest progress JSON, or NULL */
    uint64_t progress_seq;
    pv_serve__runs *m;
    struct srun *next;
};

struct pv_serve__runs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pv_history *h;
    const struct pv_serve_runner *runner;
    int max_runs;
    int running;
    bool stopping;
    uint64_t gen;
    struct srun *list; /* in creation order */
};

static void changed_locked(pv_serve__runs *m)
{
    m->gen++;
    pthread_cond_broadcast(&m->cv);
}

static struct srun *find_locked(pv_serve__runs *m, int64_t id)
{
    for (struct srun *r = m->list; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void unlink_locked(pv_serve__runs *m, struct srun *x)
{
    for (struct srun **p = &m->list; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            return;
        }
}

static void srun_free(pv_serve__runs *m, struct srun *r)
{
    m->runner->free_job(m->runner->arg, r->job);
    free(r->progress);
    free(r);
}

/* ---- the job's sink ---- */

static void sink_point(void *ctx, int64_t seq, const char *json)
{
    struct srun *r = ctx;
    pv_err err = {{0}};
    if (pv_history_add_point(r->m->h, r->id, seq, json, &err) != 0)
        fprintf(stderr, "pgvolley serve: run %lld: cannot store a point: %s\n", (long long)r->id,
                err.msg);
    pthread_mutex_lock(&r->m->mu);
    changed_locked(r->m);
    pthread_mutex_unlock(&r->m->mu);
}

static void sink_progress(void *ctx, const char *json)
{
    struct srun *r = ctx;
    char *copy = strdup(json);
    pthread_mutex_lock(&r->m->mu);
    if (copy) {
        free(r->progress);
        r->progress = copy;
        r->progress_seq++;
    }
    changed_locked(r->m);
    pthread_mutex_unlock(&r->m->mu);
}

static void maybe_start_locked(pv_serve__runs *m);

/* The thread of one run: start, execute, finish in the history. */
static void *run_thread(void *arg)
{
    struct srun *r = arg;
    pv_serve__runs *m = r->m;
    pv_err err = {{0}};
    struct pv_serve_outcome out;
    memset(&out, 0, sizeof(out));
    if (pv_history_start(m->h, r->id, pv_wall_time(), &err) != 0) {
        out.state = PV_HISTORY_FAILED;
        snprintf(out.message, sizeof(out.message), "%s", err.msg);
    } else {
        pthread_mutex_lock(&m->mu);
        changed_locked(m);
        bool stop = r->cancelled;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            m->runner->cancel(m->runner->arg, r->job);
        struct pv_serve_sink sink = {r, sink_point, sink_progress};
        m->runner->execute(m->runner->arg, r->job, &sink, &out);
    }
    pthread_mutex_lock(&m->mu);
    bool stopping = m->stopping;
    pthread_mutex_unlock(&m->mu);
    if (stopping && out.state == PV_HISTORY_CANCELLED) {
        out.state = PV_HISTORY_INTERRUPTED;
        snprintf(out.message, sizeof(out.message), "the server stopped during the run");
    }
    if (pv_history_finish(m->h, r->id, out.state, pv_wall_time(), out.report_json,
                          out.has_summary ? &out.summary : NULL, out.exit_code, out.message,
                          &err) != 0)
        fprintf(stderr, "pgvolley serve: run %lld: cannot store its end: %s\n", (long long)r->id,
                err.msg);
    free(out.report_json);
    pthread_mutex_lock(&m->mu);
    unlink_locked(m, r);
    m->running--;
    srun_free(m, r);
    changed_locked(m);
    maybe_start_locked(m);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Starts queued runs, oldest first, while there is room. */
static void maybe_start_locked(pv_serve__runs *m)
{
    for (struct srun *r = m->list; r && m->running < m->max_runs && !m->stopping; r = r->next) {
        if (r->running)
            continue;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r->running = true;
        int rc = pthread_create(&t, &attr, run_thread, r);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            r->running = false;
            fprintf(stderr, "pgvolley serve: cannot start a run's thread: %s\n", strerror(rc));
            return;
        }
        m->running++;
    }
}

int pv_serve__runs_create(pv_history *h, const struct pv_serve_runner *runner, int max_runs,
                          pv_serve__runs **out)
{
    pv_serve__runs *m = calloc(1, sizeof(*m));
    if (!m)
        return VOLLEY_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->h = h;
    m->runner = runner;
    m->max_runs = max_runs;
    *out = m;
    return 0;
}

int pv_serve__runs_submit(pv_serve__runs *m, int64_t id, void *job)
{
    struct srun *r = calloc(1, sizeof(*r));
    if (!r) {
        m->runner->free_job(m->runner->arg, job);
        return VOLLEY_ENOMEM;
    }
    r->id = id;
    r->job = job;
    r->m = m;
    pthread_mutex_lock(&m->mu);
    struct srun **p = &m->list;
    while (*p)
        p = &(*p)->next;
    *p = r;
    changed_locked(m);
    maybe_start_locked(m);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int pv_serve__runs_cancel(pv_serve__runs *m, int64_t id)
{
    pthread_mutex_lock(&m->mu);
    struct srun *r = find_locked(m, id);
    if (!r) {
        pthread_mutex_unlock(&m->mu);
        return 404;
    }
    if (r->running) {
        r->cancelled = true;
        m->runner->cancel(m->runner->arg, r->job);
        pthread_mutex_unlock(&m->mu);
        return 202;
    }
    unlink_locked(m, r);
    pv_err err = {{0}};
    if (pv_history_finish(m->h, id, PV_HISTORY_CANCELLED, pv_wall_time(), NULL, NULL, -1,
                          "cancelled before it started", &err) != 0)
        fprintf(stderr, "pgvolley serve: run %lld: %s\n", (long long)id, err.msg);
    srun_free(m, r);
    changed_locked(m);
    pthread_mutex_unlock(&m->mu);
    return 200;
}

uint64_t pv_serve__runs_gen(pv_serve__runs *m)
{
    pthread_mutex_lock(&m->mu);
    uint64_t g = m->gen;
    pthread_mutex_unlock(&m->mu);
    return g;
}

uint64_t pv_serve__runs_wait(pv_serve__runs *m, uint64_t seen, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    while (m->gen == seen && !m->stopping)
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    uint64_t g = m->gen;
    pthread_mutex_unlock(&m->mu);
    return g;
}

bool pv_serve__runs_stopping(pv_serve__runs *m)
{
    pthread_mutex_lock(&m->mu);
    bool s = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return s;
}

char *pv_serve__runs_progress(pv_serve__runs *m, int64_t id, uint64_t *seq)
{
    pthread_mutex_lock(&m->mu);
    struct srun *r = find_locked(m, id);
    char *p = r && r->progress ? strdup(r->progress) : NULL;
    *seq = r ? r->progress_seq : 0;
    pthread_mutex_unlock(&m->mu);
    return p;
}

int pv_serve__runs_position(pv_serve__runs *m, int64_t id)
{
    pthread_mutex_lock(&m->mu);
    int pos = 0, n = 0;
    for (struct srun *r = m->list; r; r = r->next) {
        if (r->running)
            continue;
        n++;
        if (r->id == id) {
            pos = n;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return pos;
}

void pv_serve__runs_stop(pv_serve__runs *m)
{
    if (!m)
        return;
    pv_err err = {{0}};
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    for (struct srun **p = &m->list; *p;) {
        struct srun *r = *p;
        if (r->running) {
            r->cancelled = true;
            m->runner->cancel(m->runner->arg, r->job);
            p = &r->next;
            continue;
        }
        *p = r->next;
        if (pv_history_finish(m->h, r->id, PV_HISTORY_INTERRUPTED, pv_wall_time(), NULL, NULL, -1,
                              "the server stopped before the run started", &err) != 0)
            fprintf(stderr, "pgvolley serve: run %lld: %s\n", (long long)r->id, err.msg);
        srun_free(m, r);
    }
    changed_locked(m);
    while (m->running > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
}

void pv_serve__runs_destroy(pv_serve__runs *m)
{
    if (!m)
        return;
    pv_serve__runs_stop(m);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
