/* pv_stat.c - counts, latency and errors of a group of executions. */
#include "stats/pv_stat.h"

#include <stdlib.h>
#include <string.h>

int pv_stat_init(struct pv_stat *s)
{
    memset(s, 0, sizeof(*s));
    return 0;
}

void pv_stat_fini(struct pv_stat *s)
{
    pv_hist_destroy(s->latency);
    for (size_t i = 0; i < s->nerrors; i++)
        free(s->errors[i].message);
    free(s->errors);
    memset(s, 0, sizeof(*s));
}

int pv_stat_ok(struct pv_stat *s, uint64_t latency_ns, uint64_t rows)
{
    s->succeeded++;
    s->rows += rows;
    s->sum_ns += latency_ns;
    if (!s->latency && pv_hist_create(&s->latency) != 0)
        return VOLLEY_ENOMEM;
    return pv_hist_record(s->latency, latency_ns);
}

/* Adds count to the entry for sqlstate, creating it with message if new. */
static int add_error(struct pv_stat *s, const char *sqlstate, const char *message, uint64_t count)
{
    char code[6] = "XX000";
    if (sqlstate && sqlstate[0]) {
        memcpy(code, sqlstate, PV_MIN(strlen(sqlstate), (size_t)5));
        code[5] = '\0';
    }
    for (size_t i = 0; i < s->nerrors; i++) {
        if (memcmp(s->errors[i].sqlstate, code, 6) == 0) {
            s->errors[i].count += count;
            return 0;
        }
    }
    if (s->nerrors == s->errcap) {
        size_t cap = s->errcap ? s->errcap * 2 : 4;
        struct pv_errstat *e = realloc(s->errors, cap * sizeof(*e));
        if (!e)
            return VOLLEY_ENOMEM;
        s->errors = e;
        s->errcap = cap;
    }
    struct pv_errstat *e = &s->errors[s->nerrors];
    memcpy(e->sqlstate, code, 6);
    e->message = strdup(message ? message : "");
    if (!e->message)
        return VOLLEY_ENOMEM;
    e->count = count;
    s->nerrors++;
    return 0;
}

int pv_stat_fail(struct pv_stat *s, uint64_t latency_ns, const char *sqlstate, const char *message)
{
    s->failed++;
    s->sum_ns += latency_ns;
    return add_error(s, sqlstate, message, 1);
}

int pv_stat_merge(struct pv_stat *dst, const struct pv_stat *src)
{
    dst->succeeded += src->succeeded;
    dst->failed += src->failed;
    dst->rows += src->rows;
    dst->sum_ns += src->sum_ns;
    dst->retries += src->retries;
    int rc = 0;
    if (src->latency && pv_hist_count(src->latency) > 0) {
        if (!dst->latency)
            rc = pv_hist_create(&dst->latency);
        if (rc == 0)
            rc = pv_hist_merge(dst->latency, src->latency);
    }
    for (size_t i = 0; rc == 0 && i < src->nerrors; i++)
        rc = add_error(dst, src->errors[i].sqlstate, src->errors[i].message, src->errors[i].count);
    return rc;
}

void pv_latency_of(const pv_hist *h, struct pv_latency_ms *out)
{
    memset(out, 0, sizeof(*out));
    if (!h || pv_hist_count(h) == 0)
        return;
    out->min = (double)pv_hist_min(h) / 1e6;
    out->max = (double)pv_hist_max(h) / 1e6;
    out->avg = pv_hist_mean(h) / 1e6;
    out->stddev = pv_hist_stddev(h) / 1e6;
    out->p50 = (double)pv_hist_percentile(h, 50.0) / 1e6;
    out->p90 = (double)pv_hist_percentile(h, 90.0) / 1e6;
    out->p95 = (double)pv_hist_percentile(h, 95.0) / 1e6;
    out->p99 = (double)pv_hist_percentile(h, 99.0) / 1e6;
    out->p999 = (double)pv_hist_percentile(h, 99.9) / 1e6;
}

static int cmp_err(const void *a, const void *b)
{
    const struct pv_errstat *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->sqlstate, y->sqlstate);
}

void pv_stat_sort_errors(struct pv_stat *s)
{
    if (s->nerrors > 1)
        qsort(s->errors, s->nerrors, sizeof(s->errors[0]), cmp_err);
}

int pv_stat_merge_move(struct pv_stat *dst, struct pv_stat *src)
{
    if (!dst->latency && src->latency) {
        /* the first group with latencies hands its histogram over */
        dst->latency = src->latency;
        src->latency = NULL;
    }
    return pv_stat_merge(dst, src);
}
