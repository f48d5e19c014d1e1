/* pv_diag_sampler.c - the diagnosis's sampler: a thread that reads
   pg_stat_activity every interval on a connection of its own and counts
   wait events and lock waits of the other backends of the same database. */
#include "suite/pv_diag_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_conn.h"

/* The sampler's own session: read-only, short statements, recognisable. */
#define SAMPLER_SETUP                                                                              \
    "SET statement_timeout = 2000; SET default_transaction_read_only = on; "                       \
    "SET application_name = 'pgvolley diagnosis sampler'"

/*
 * One round: the other client backends of this database that are active
 * (or whose state is hidden from us: another user's session without
 * pg_read_all_stats), grouped by wait event; pg_blocking_pids only for
 * those waiting on a lock (it is not free).
 */
#define SAMPLE_SQL                                                                                 \
    "SELECT state IS NULL, coalesce(wait_event_type, ''), coalesce(wait_event, ''), "              \
    "count(*), count(*) FILTER (WHERE wait_event_type = 'Lock' "                                   \
    "AND cardinality(pg_blocking_pids(pid)) > 0) "                                                 \
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "        \
    "AND coalesce(backend_type, 'client backend') = 'client backend' "                             \
    "AND (state = 'active' OR state IS NULL) GROUP BY 1, 2, 3"

struct wait_count {
    char type[32];  /* "" = not waiting */
    char event[64]; /* "" = not waiting */
    uint64_t n;
};

struct pv_diag_sampler {
    PGconn *pg;
    int interval_ms;
    pthread_t thread;
    bool running; /* the thread was started and not yet joined */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
    /* the counts, under mu */
    struct pv_diag_sampler_counts c;
    struct wait_count *waits;
    size_t nwaits, capwaits;
    char error[256]; /* the first failed round's message, "" if none */
    bool oom;
};

/* Adds n samples of (type, event); under mu. */
static void add_wait(pv_diag_sampler *s, const char *type, const char *event, uint64_t n)
{
    for (size_t i = 0; i < s->nwaits; i++) {
        if (strcmp(s->waits[i].type, type) == 0 && strcmp(s->waits[i].event, event) == 0) {
            s->waits[i].n += n;
            return;
        }
    }
    if (s->nwaits == s->capwaits) {
        size_t cap = s->capwaits ? 2 * s->capwaits : 16;
        struct wait_count *w = realloc(s->waits, cap * sizeof(*w));
        if (!w) {
            s->oom = true;
            return;
        }
        s->waits = w;
        s->capwaits = cap;
    }
    struct wait_count *w = &s->waits[s->nwaits++];
    snprintf(w->type, sizeof(w->type), "%s", type);
    snprintf(w->event, sizeof(w->event), "%s", event);
    w->n = n;
}

static void sample_once(pv_diag_sampler *s)
{
    PGresult *r = PQexec(s->pg, SAMPLE_SQL);
    pthread_mutex_lock(&s->mu);
    s->c.rounds++;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s->c.failed_rounds++;
        if (!s->error[0])
            pv_diag__error(s->pg, r, s->error, sizeof(s->error));
    } else {
        for (int i = 0; i < PQntuples(r); i++) {
            uint64_t n = strtoull(PQgetvalue(r, i, 3), NULL, 10);
            if (PQgetvalue(r, i, 0)[0] == 't') {
                s->c.hidden_samples += n;
                continue;
            }
            s->c.active_samples += n;
            s->c.lock_waits += strtoull(PQgetvalue(r, i, 4), NULL, 10);
            add_wait(s, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), n);
        }
    }
    pthread_mutex_unlock(&s->mu);
    PQclear(r);
}

static void *sampler_thread(void *arg)
{
    pv_diag_sampler *s = arg;
    pthread_setname_np(pthread_self(), "pv-diag");
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        sample_once(s);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->interval_ms / 1000;
        until.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->mu);
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int pv_diag_sampler_start(const char *const *keywords, const char *const *values, int interval_ms,
                          pv_diag_sampler **out, pv_err *err)
{
    *out = NULL;
    pv_diag_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    s->interval_ms = interval_ms > 0 ? interval_ms : PV_DIAG_SAMPLE_MS_DEFAULT;
    int rc = pv_conn_connect_blocking(keywords, values, &s->pg, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    PGresult *r = PQexec(s->pg, SAMPLER_SETUP);
    PQclear(r); /* a failed SET leaves the defaults; the rounds say if reads fail */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, sampler_thread, s) != 0) {
        PQfinish(s->pg);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return pv_err_set(err, VOLLEY_ENOMEM, "cannot start the sampler thread");
    }
    s->running = true;
    *out = s;
    return 0;
}

void pv_diag_sampler_stop(pv_diag_sampler *s)
{
    if (!s || !s->running)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->running = false;
    PQfinish(s->pg);
    s->pg = NULL;
}

void pv_diag_sampler_destroy(pv_diag_sampler *s)
{
    if (!s)
        return;
    pv_diag_sampler_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->waits);
    free(s);
}

void pv_diag_sampler_counts(const pv_diag_sampler *s, struct pv_diag_sampler_counts *out)
{
    pv_diag_sampler *m = (pv_diag_sampler *)s; /* the mutex only */
    pthread_mutex_lock(&m->mu);
    *out = s->c;
    pthread_mutex_unlock(&m->mu);
}

const char *pv_diag_sampler_error(const pv_diag_sampler *s)
{
    pv_diag_sampler *m = (pv_diag_sampler *)s;
    pthread_mutex_lock(&m->mu);
    const char *e = s->error[0] ? s->error : NULL;
    pthread_mutex_unlock(&m->mu);
    return e;
}

/* ---- the report ---- */

static int by_count_desc(const void *a, const void *b)
{
    const struct wait_count *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

void pv_diag__sampler_report(const pv_diag_sampler *s, pv_diag *d)
{
    pv_diag_sampler *m = (pv_diag_sampler *)s;
    pthread_mutex_lock(&m->mu);
    struct pv_diag_sampler_counts c = s->c;
    struct wait_count *w = s->nwaits ? malloc(s->nwaits * sizeof(*w)) : NULL;
    size_t nw = w ? s->nwaits : 0;
    if (w)
        memcpy(w, s->waits, nw * sizeof(*w));
    if (s->nwaits && !w)
        d->oom = true;
    if (s->oom)
        d->oom = true;
    char error[sizeof(s->error)];
    memcpy(error, s->error, sizeof(error));
    pthread_mutex_unlock(&m->mu);

    if (nw > 1)
        qsort(w, nw, sizeof(*w), by_count_desc);
    uint64_t lock_type = 0;
    for (size_t i = 0; i < nw; i++) {
        double pct = c.active_samples ? 100.0 * (double)w[i].n / (double)c.active_samples : 0;
        json_t *e = json_object();
        pv_diag__put(d, e, "wait_event_type", str_or_null(w[i].type));
        pv_diag__put(d, e, "wait_event", str_or_null(w[i].event));
        pv_diag__put(d, e, "samples", json_integer((json_int_t)w[i].n));
        pv_diag__put(d, e, "share_pct", json_real(pct));
        pv_diag__push(d, d->waits, e);
        if (strcmp(w[i].type, "Lock") == 0)
            lock_type += w[i].n;
        else if (w[i].type[0] && pct >= PV_DIAG_WAIT_PCT && w[i].n >= PV_DIAG_WAIT_MIN_SAMPLES)
            pv_diag__finding(d, "wait_event", NULL,
                             "wait event %s:%s in %.0f%% of the active samples (%llu of %llu)",
                             w[i].type, w[i].event, pct, (unsigned long long)w[i].n,
                             (unsigned long long)c.active_samples);
    }
    free(w);
    pv_diag__put(d, d->root, "lock_waits", json_integer((json_int_t)c.lock_waits));
    json_t *o = json_object();
    pv_diag__put(d, o, "rounds", json_integer((json_int_t)c.rounds));
    pv_diag__put(d, o, "active_samples", json_integer((json_int_t)c.active_samples));
    pv_diag__put(d, o, "hidden_samples", json_integer((json_int_t)c.hidden_samples));
    pv_diag__put(d, o, "failed_rounds", json_integer((json_int_t)c.failed_rounds));
    pv_diag__put(d, o, "interval_ms", json_integer(s->interval_ms));
    pv_diag__put(d, d->root, "sampler", o);

    double lock_pct = c.active_samples ? 100.0 * (double)lock_type / (double)c.active_samples : 0;
    if (lock_type >= PV_DIAG_WAIT_MIN_SAMPLES && lock_pct >= PV_DIAG_WAIT_PCT)
        pv_diag__finding(d, "lock_wait", NULL,
                         "lock waits in %.0f%% of the active samples (%llu of %llu; %llu blocked "
                         "by another session per pg_blocking_pids)",
                         lock_pct, (unsigned long long)lock_type,
                         (unsigned long long)c.active_samples, (unsigned long long)c.lock_waits);
    if (c.rounds == 0)
        pv_diag__note(d, "the sampler read pg_stat_activity no time (the test was shorter than "
                         "one round)");
    if (c.failed_rounds)
        pv_diag__note(d, "the sampler could not read pg_stat_activity %llu of %llu times: %s",
                      (unsigned long long)c.failed_rounds, (unsigned long long)c.rounds, error);
    if (c.hidden_samples)
        pv_diag__note(d,
                      "%llu samples of other users' sessions were hidden: seeing their wait "
                      "events needs pg_read_all_stats (or pg_monitor)",
                      (unsigned long long)c.hidden_samples);
}
