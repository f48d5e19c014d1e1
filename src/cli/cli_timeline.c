/* cli_timeline.c - the timeline as CSV (--timeline FILE); see cli_timeline.h. */
#include "cli/cli_timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CSV_HEADER                                                                                 \
    "concurrency,t_s,interval_s,query,executions,succeeded,failed,qps,avg_ms,p50_ms,p95_ms,p99_"   \
    "ms,"                                                                                          \
    "max_ms,in_flight,pool_waits,rate,lag_p50_ms,lag_p99_ms,lag_max_ms,errors\n"

int cli_timeline_open(struct cli_timeline *t, const char *path, const pv_workload *wl)
{
    memset(t, 0, sizeof(*t));
    if (!path)
        return CLI_EXIT_OK;
    t->f = fopen(path, "w");
    if (!t->f)
        return cli_usage_error("run", "--timeline: cannot write '%s': %s", path, strerror(errno));
    t->path = path;
    t->wl = wl;
    fputs(CSV_HEADER, t->f);
    return CLI_EXIT_OK;
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The figures of one row, from "executions" to "max_ms". */
static void csv_figs(FILE *f, const struct pv_tl_figs *g, double interval_s)
{
    uint64_t n = g->succeeded + g->failed;
    fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.2f,%.3f,%.3f,%.3f,%.3f,%.3f", n,
            g->succeeded, g->failed, interval_s > 0 ? (double)n / interval_s : 0.0, g->avg_ms,
            g->p50_ms, g->p95_ms, g->p99_ms, g->max_ms);
}

/* "40:2;57:1", by class as first seen. */
static void csv_errors(FILE *f, const struct pv_tl_figs *g)
{
    fputc(',', f);
    for (size_t i = 0; i < g->nerrors; i++)
        fprintf(f, "%s%s:%" PRIu64, i ? ";" : "", g->errors[i].cls, g->errors[i].count);
    fputc('\n', f);
}

static void write_point(struct cli_timeline *t, const struct pv_tl_point *p)
{
    FILE *f = t->f;
    fprintf(f, "%d,%.4f,%.4f,(all)", t->level, p->t_s, p->interval_s);
    csv_figs(f, &p->all, p->interval_s);
    fprintf(f, ",%" PRIu64 ",%" PRIu64, p->in_flight, p->pool_waits);
    if (t->rate)
        fprintf(f, ",%.2f,%.3f,%.3f,%.3f",
                p->interval_s > 0 ? (double)p->started / p->interval_s : 0.0, p->lag_p50_ms,
                p->lag_p99_ms, p->lag_max_ms);
    else
        fputs(",,,,", f);
    csv_errors(f, &p->all);
    for (size_t i = 0; i < pv_workload_count(t->wl); i++) {
        fprintf(f, "%d,%.4f,%.4f,", t->level, p->t_s, p->interval_s);
        csv_str(f, pv_workload_query(t->wl, i)->name);
        csv_figs(f, &p->queries[i], p->interval_s);
        fputs(",,,,,,", f);
        csv_errors(f, &p->queries[i]);
    }
}

/* Writes the intervals finished so far. */
static void poll_run(struct cli_timeline *t)
{
    struct pv_tl_point p;
    int rc = 0;
    while (t->run && (rc = pv_run_timeline_next(t->run, &t->seq, &p)) == 1) {
        write_point(t, &p);
        pv_tl_point_fini(&p, pv_workload_count(t->wl));
    }
    if (t->run && rc != 0)
        t->failed = true; /* out of memory: the CSV misses rows */
    if (fflush(t->f) != 0)
        t->failed = true;
}

static void on_poll(uv_timer_t *h)
{
    poll_run(h->data);
}

void cli_timeline_start(struct cli_timeline *t, uv_loop_t *loop, pv_run *run, int level, bool rate)
{
    if (!t->f)
        return;
    if (!t->timer_init) {
        uv_timer_init(loop, &t->timer);
        t->timer.data = t;
        t->timer_init = true;
    }
    t->run = run;
    t->level = level;
    t->rate = rate;
    t->seq = 0;
    uv_timer_start(&t->timer, on_poll, CLI_TIMELINE_POLL_MS, CLI_TIMELINE_POLL_MS);
}

void cli_timeline_end(struct cli_timeline *t)
{
    if (!t->f || !t->run)
        return;
    uv_timer_stop(&t->timer);
    poll_run(t);
    t->run = NULL;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

int cli_timeline_close(struct cli_timeline *t)
{
    if (!t->f)
        return CLI_EXIT_OK;
    if (t->timer_init)
        uv_close((uv_handle_t *)&t->timer, on_closed);
    bool failed = t->failed || ferror(t->f);
    if (fclose(t->f) != 0)
        failed = true;
    t->f = NULL;
    if (failed) {
        cli_error("--timeline: cannot write '%s' whole", t->path);
        return CLI_EXIT_INTERNAL;
    }
    return CLI_EXIT_OK;
}

int cli_timeline_cap(void)
{
    const char *s = getenv("PGVOLLEY_TIMELINE_CAP");
    long v;
    if (!s || cli_parse_int(s, 2, 1000000, &v) != 0 || v % 2 != 0)
        return 0;
    return (int)v;
}
