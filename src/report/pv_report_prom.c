/* pv_report_prom.c - the Prometheus text format 0.0.4 of a report (pv_report_prom.h). */
#include "report/pv_report_prom.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_shape.h"

/* le of the latency buckets, and the same bounds in ns (filled once per call). */
static const char *const le_text[] = {PV_PROM_BUCKETS};
#define NLE (sizeof(le_text) / sizeof(le_text[0]))

/* What the writer is on: the report, the run it writes and that run's query labels. */
struct ctx {
    const struct pv_report *r;
    const struct pv_prom_live *live;
    pv_buf *b;
    double le_ns[NLE];
    char ***names;   /* names[run][query]: the query label, made unique */
    size_t run;      /* the run being written */
    bool open_model; /* some run has a rate: write the schedule's families */
};

void pv_report_prom_label(pv_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            pv_buf_puts(out, "\\\\");
        else if (*s == '"')
            pv_buf_puts(out, "\\\"");
        else if (*s == '\n')
            pv_buf_puts(out, "\\n");
        else
            pv_buf_putc(out, *s);
    }
}

/* ---- the query labels ------------------------------------------------- */

static void names_free(struct ctx *c)
{
    if (!c->names)
        return;
    for (size_t i = 0; i < c->r->nruns; i++) {
        const struct pv_run_result *run = c->r->runs[i];
        for (size_t q = 0; c->names[i] && q < run->nqueries; q++)
            free(c->names[i][q]);
        free(c->names[i]);
    }
    free(c->names);
    c->names = NULL;
}

/* Every run's query labels: the file's name, " (k)" added to its k-th
   repetition so that no two series of a family share their labels.
   XXX quadratic in the number of files of a run (a few thousand at most
   in practice). @return 0 or VOLLEY_ENOMEM. */
static int names_make(struct ctx *c)
{
    c->names = calloc(c->r->nruns, sizeof(*c->names));
    if (!c->names)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < c->r->nruns; i++) {
        const struct pv_run_result *run = c->r->runs[i];
        if (run->nqueries == 0)
            continue;
        c->names[i] = calloc(run->nqueries, sizeof(**c->names));
        if (!c->names[i])
            return VOLLEY_ENOMEM;
        for (size_t q = 0; q < run->nqueries; q++) {
            const char *name = run->queries[q].query->name;
            int same = 0;
            for (size_t j = 0; j < q; j++)
                same += strcmp(run->queries[j].query->name, name) == 0;
            pv_buf nb = PV_BUF_INIT;
            pv_buf_puts(&nb, name);
            if (same > 0)
                pv_buf_printf(&nb, " (%d)", same + 1);
            if (pv_buf_ok(&nb) != 0) {
                pv_buf_fini(&nb);
                return VOLLEY_ENOMEM;
            }
            c->names[i][q] = nb.data ? nb.data : strdup("");
            if (!c->names[i][q])
                return VOLLEY_ENOMEM;
        }
    }
    return 0;
}

/* ---- samples ---------------------------------------------------------- */

static void family(struct ctx *c, const char *name, const char *type, const char *help)
{
    pv_buf_printf(c->b, "# HELP pgvolley_%s %s\n# TYPE pgvolley_%s %s\n", name, help, name, type);
}

static void label(pv_buf *b, bool *first, const char *k, const char *v)
{
    pv_buf_puts(b, *first ? "{" : ",");
    *first = false;
    pv_buf_printf(b, "%s=\"", k);
    pv_report_prom_label(b, v);
    pv_buf_putc(b, '"');
}

/* "pgvolley_NAME{concurrency=..,query=..,k=v,k2=v2}" (no braces without
   labels); query, k and k2 may be NULL. The value follows. */
static void series(struct ctx *c, const char *name, const char *query, const char *k, const char *v,
                   const char *k2, const char *v2)
{
    bool first = true;
    pv_buf_printf(c->b, "pgvolley_%s", name);
    if (c->r->sweep) {
        char conc[24];
        snprintf(conc, sizeof(conc), "%d", c->r->runs[c->run]->concurrency);
        label(c->b, &first, "concurrency", conc);
    }
    if (query)
        label(c->b, &first, "query", query);
    if (k)
        label(c->b, &first, k, v);
    if (k2)
        label(c->b, &first, k2, v2);
    if (!first)
        pv_buf_putc(c->b, '}');
}

static void put_u(struct ctx *c, const char *name, const char *query, const char *k, const char *v,
                  uint64_t value)
{
    series(c, name, query, k, v, NULL, NULL);
    pv_buf_printf(c->b, " %" PRIu64 "\n", value);
}

static void put_d(struct ctx *c, const char *name, const char *query, const char *k, const char *v,
                  double value)
{
    series(c, name, query, k, v, NULL, NULL);
    pv_buf_printf(c->b, " %.15g\n", value);
}

/* ---- groups: a run's queries, or the run itself when it holds none ----- */

static const struct pv_run_result *cur(const struct ctx *c)
{
    return c->r->runs[c->run];
}

static size_t ngroups(const struct ctx *c)
{
    return cur(c)->nqueries ? cur(c)->nqueries : 1;
}

static const struct pv_stat *group_stat(const struct ctx *c, size_t g)
{
    return cur(c)->nqueries ? &cur(c)->queries[g].stat : &cur(c)->total;
}

static const struct pv_sched_stats *group_sched(const struct ctx *c, size_t g)
{
    return cur(c)->nqueries ? &cur(c)->queries[g].sched : &cur(c)->sched;
}

static const char *group_label(const struct ctx *c, size_t g)
{
    return cur(c)->nqueries ? c->names[c->run][g] : NULL;
}

/* Whether the run being written is the one in progress. */
static bool is_live(const struct ctx *c)
{
    return c->live && c->run + 1 == c->r->nruns;
}

/* ---- families --------------------------------------------------------- */

static void histogram(struct ctx *c, const char *name, const char *query, const pv_hist *h)
{
    uint64_t counts[NLE] = {0};
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    while (h && pv_hist_iter_next(h, &it)) {
        double mid = ((double)it.lo_ns + (double)it.hi_ns) / 2;
        for (size_t k = 0; k < NLE; k++) {
            if (mid <= c->le_ns[k]) {
                counts[k] += it.count;
                break;
            }
        }
    }
    char bucket[96];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    uint64_t cum = 0;
    for (size_t k = 0; k < NLE; k++) {
        cum += counts[k];
        series(c, bucket, query, "le", le_text[k], NULL, NULL);
        pv_buf_printf(c->b, " %" PRIu64 "\n", cum);
    }
    uint64_t n = pv_hist_count(h);
    series(c, bucket, query, "le", "+Inf", NULL, NULL);
    pv_buf_printf(c->b, " %" PRIu64 "\n", n);
    char more[96];
    snprintf(more, sizeof(more), "%s_sum", name);
    put_d(c, more, query, NULL, NULL, h ? pv_hist_sum(h) / 1e9 : 0);
    snprintf(more, sizeof(more), "%s_count", name);
    put_u(c, more, query, NULL, NULL, n);
}

static void run_info(struct ctx *c)
{
    const struct pv_target_info *t = c->r->target;
    family(c, "run_info", "gauge",
           "The run: pgvolley's version, the protocol and the target server (always 1).");
    pv_buf *b = c->b;
    bool first = true;
    pv_buf_puts(b, "pgvolley_run_info");
    label(b, &first, "version", PV_VERSION);
    if (c->r->nruns > 0)
        label(b, &first, "protocol", pv_protocol_name(c->r->runs[0]->protocol));
    if (t) {
        char port[16];
        snprintf(port, sizeof(port), "%d", t->port);
        label(b, &first, "target_host", t->host);
        label(b, &first, "target_port", port);
        label(b, &first, "target_dbname", t->dbname);
        label(b, &first, "server_version", t->server_version);
    }
    pv_buf_puts(b, "} 1\n");
}

/* The open model's target now: the shape's at the run's time, else --rate; 0 closed. */
static double target_rate(const struct pv_run_result *run)
{
    if (run->rate <= 0)
        return 0;
    return run->shape ? pv_shape_at(run->shape, run->warmup_s + run->wall_s) : run->rate;
}

static void run_gauges(struct ctx *c)
{
    struct gauge {
        const char *name, *help;
    };
    static const struct gauge g[] = {
        {"run_start_time_seconds", "When the run's clock started (Unix time)."},
        {"run_duration_seconds",
         "Seconds from the first to the last counted execution (so far, while it runs)."},
        {"run_finished", "1 once the run has ended (its figures are final), 0 while it runs."},
        {"run_interrupted", "1 when the run was stopped before its end (Ctrl-C, SIGTERM)."},
        {"concurrency", "The most executions in flight at once (-c)."},
        {"target_rate",
         "The open model's executions per second asked for, now (--rate, --stages); 0 for the "
         "closed model."},
        {"in_flight", "Executions sent and not yet ended (0 once the run has ended)."},
        {"pool_waiting", "Executions waiting for a connection (0 once the run has ended)."},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        family(c, g[i].name, "gauge", g[i].help);
        for (c->run = 0; c->run < c->r->nruns; c->run++) {
            const struct pv_run_result *run = cur(c);
            const struct pv_prom_live *l = is_live(c) ? c->live : NULL;
            double v[] = {run->started_at,
                          run->wall_s,
                          is_live(c) ? 0 : 1,
                          run->interrupted ? 1 : 0,
                          run->concurrency,
                          target_rate(run),
                          l ? (double)l->in_flight : 0,
                          l ? (double)l->pool_waiting : 0};
            put_d(c, g[i].name, NULL, NULL, NULL, v[i]);
        }
    }
    family(c, "pool_connections", "gauge",
           "Connections open, and in use by an execution (0 once the run has ended).");
    for (c->run = 0; c->run < c->r->nruns; c->run++) {
        const struct pv_prom_live *l = is_live(c) ? c->live : NULL;
        put_u(c, "pool_connections", NULL, "state", "open", l ? l->pool_open : 0);
        put_u(c, "pool_connections", NULL, "state", "in_use", l ? l->pool_in_use : 0);
    }
    family(c, "pool_connections_max", "gauge",
           "The most connections open, and in use, at once during the run.");
    for (c->run = 0; c->run < c->r->nruns; c->run++) {
        const struct pv_pool_stats *ps = &cur(c)->pool_stats;
        put_u(c, "pool_connections_max", NULL, "state", "open", ps->max_open);
        put_u(c, "pool_connections_max", NULL, "state", "in_use", ps->max_in_use);
    }
}

static void counters(struct ctx *c)
{
    family(c, "executions_total", "counter",
           "Counted executions that ended, by outcome (a retried one counts once).");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++) {
            put_u(c, "executions_total", group_label(c, g), "status", "ok",
                  group_stat(c, g)->succeeded);
            put_u(c, "executions_total", group_label(c, g), "status", "failed",
                  group_stat(c, g)->failed);
        }
    family(c, "failures_total", "counter", "Failed executions by SQLSTATE.");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++) {
            const struct pv_stat *s = group_stat(c, g);
            for (size_t e = 0; e < s->nerrors; e++)
                put_u(c, "failures_total", group_label(c, g), "sqlstate", s->errors[e].sqlstate,
                      s->errors[e].count);
        }
    family(c, "retries_total", "counter", "Extra attempts after transient errors (--retries).");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            put_u(c, "retries_total", group_label(c, g), NULL, NULL, group_stat(c, g)->retries);
    family(c, "rows_total", "counter", "Rows returned or affected by successful executions.");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            put_u(c, "rows_total", group_label(c, g), NULL, NULL, group_stat(c, g)->rows);
    family(c, "query_duration_seconds", "histogram",
           "Latency of successful executions, from sending the query to its last result.");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            histogram(c, "query_duration_seconds", group_label(c, g), group_stat(c, g)->latency);
}

/* The open model's families (runs of the closed model write zeros). */
static void schedule(struct ctx *c)
{
    family(c, "query_intended_duration_seconds", "histogram",
           "Open model: latency from each execution's intended start (corrected for "
           "coordinated omission).");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            histogram(c, "query_intended_duration_seconds", group_label(c, g),
                      group_sched(c, g)->intended);
    family(c, "schedule_lag_seconds", "histogram",
           "Open model: from each execution's intended start to its send.");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            histogram(c, "schedule_lag_seconds", group_label(c, g), group_sched(c, g)->lag);
    family(c, "dropped_total", "counter",
           "Open model: executions later than --max-lag, never sent (not among the executions).");
    for (c->run = 0; c->run < c->r->nruns; c->run++)
        for (size_t g = 0; g < ngroups(c); g++)
            put_u(c, "dropped_total", group_label(c, g), NULL, NULL, group_sched(c, g)->dropped);
}

int pv_report_prom(const struct pv_report *r, const struct pv_prom_live *live, pv_buf *out)
{
    struct ctx c = {.r = r, .live = live, .b = out};
    for (size_t k = 0; k < NLE; k++)
        c.le_ns[k] = strtod(le_text[k], NULL) * 1e9;
    for (size_t i = 0; i < r->nruns; i++)
        c.open_model |= r->runs[i]->rate > 0;
    int rc = names_make(&c);
    if (rc == 0) {
        run_info(&c);
        if (r->nruns > 0) {
            run_gauges(&c);
            counters(&c);
            if (c.open_model)
                schedule(&c);
        }
        rc = pv_buf_ok(out);
    }
    names_free(&c);
    return rc;
}
