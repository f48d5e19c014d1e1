/*
 * pv_report_json.c - the JSON report, schema "pgvolley.report/1".
 *
 * Written as it goes, scenario by scenario: the skeleton (the root, the
 * runs, the queries and their scenario arrays) is written here, and each
 * small object in it (a scenario, a latency block, the config) is built
 * with jansson, dumped and freed at once. So memory is the text plus one
 * scenario's tree, not a tree of the whole report (which took about 4 KiB
 * per scenario). The bytes are exactly those a whole-tree json_dumps with
 * JSON_INDENT(2) gives: jansson indents a value at depth d by putting 2 * d
 * spaces after each newline, and a JSON text has no newline but those
 * (strings escape theirs), so a small object dumped at depth 0 is
 * re-indented by adding 2 * d spaces after each of its newlines.
 *
 * Counts are JSON integers, times are reals (seconds, or milliseconds where
 * the key says _ms); a figure that cannot be computed (no wall time,
 * nothing succeeded) is 0, never NaN or Infinity, which JSON cannot carry.
 */
#include "report/pv_report.h"
#include "report/pv_render.h"
#include "report/pv_report_timeline.h"
#include "stats/pv_hist_codec.h"
#include "report/pv_threshold.h"
#include "report/pv_report_suite.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA "pgvolley.report/1"

/*
 * Building the tree: every jansson constructor may return NULL when memory
 * runs out. Rather than test each call, the setters below accept NULL
 * (jansson's *_new setters do, and release the value when they fail) and
 * note the failure in jb.oom, checked once at the end.
 */
struct jb {
    bool oom;
};

static void put(struct jb *b, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        b->oom = true;
}

static void push(struct jb *b, json_t *arr, json_t *v)
{
    if (!v || json_array_append_new(arr, v) != 0)
        b->oom = true;
}

/* A fixed-size field of pv_target_info, which may fill its array. */
#define JFIELD(f) pv_render_json_strn((f), strnlen((f), sizeof(f)))

/* ---- pieces ----------------------------------------------------------- */

/* The histogram, encoded without loss (pv_hist_codec.h); NULL when out of memory. */
static json_t *hist_json(const pv_hist *h)
{
    pv_buf t = PV_BUF_INIT;
    json_t *v = pv_hist_encode(h, &t) == 0 ? json_stringn(t.data, t.len) : NULL;
    pv_buf_fini(&t);
    return v;
}

static json_t *latency_json(struct jb *b, const pv_hist *h)
{
    struct pv_latency_ms l;
    pv_latency_of(h, &l);
    json_t *o = json_object();
    put(b, o, "min", pv_report__jreal(l.min));
    put(b, o, "avg", pv_report__jreal(l.avg));
    put(b, o, "stddev", pv_report__jreal(l.stddev));
    put(b, o, "p50", pv_report__jreal(l.p50));
    put(b, o, "p90", pv_report__jreal(l.p90));
    put(b, o, "p95", pv_report__jreal(l.p95));
    put(b, o, "p99", pv_report__jreal(l.p99));
    put(b, o, "p999", pv_report__jreal(l.p999));
    put(b, o, "max", pv_report__jreal(l.max));
    put(b, o, "histogram", hist_json(h));
    return o;
}

/* [{"sqlstate","message","count"}] by count, descending (s is borrowed
   from the run and left as it is). */
static json_t *errors_json(struct jb *b, const struct pv_stat *s)
{
    json_t *arr = json_array();
    if (s->nerrors == 0)
        return arr;
    const struct pv_errstat **v;
    if (pv_render_errors_sorted(s, &v) != 0) {
        b->oom = true;
        return arr;
    }
    for (size_t i = 0; i < s->nerrors; i++) {
        json_t *e = json_object();
        put(b, e, "sqlstate", JFIELD(v[i]->sqlstate));
        put(b, e, "message", pv_render_json_str(v[i]->message));
        put(b, e, "count", pv_report__jcount(v[i]->count));
        push(b, arr, e);
    }
    free(v);
    return arr;
}

/* The figures every group has: counts, throughput and latency. */
static void stat_fields(struct jb *b, json_t *o, const struct pv_stat *s, double wall_s)
{
    put(b, o, "executions", pv_report__jcount(pv_stat_executions(s)));
    put(b, o, "succeeded", pv_report__jcount(s->succeeded));
    put(b, o, "failed", pv_report__jcount(s->failed));
    put(b, o, "rows", pv_report__jcount(s->rows));
    put(b, o, "qps", pv_report__jreal(pv_report_qps(pv_stat_executions(s), wall_s)));
    put(b, o, "sum_latency_s", pv_report__jreal((double)s->sum_ns / 1e9));
    put(b, o, "retries", pv_report__jcount(s->retries));
}

/*
 * A scenario's parameter set, parsed back from the workload's compact JSON.
 * Integers beyond 64 bits are kept as reals; text that does not parse at
 * all (it always should) is kept as a string rather than dropped.
 */
static json_t *params_json(const char *text)
{
    if (!text)
        return json_array();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        v = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    return v ? v : pv_render_json_str(text);
}

static json_t *scenario_json(struct jb *b, const struct pv_scenario_result *sr, double wall_s)
{
    json_t *o = json_object();
    put(b, o, "name", pv_render_json_str(sr->scenario->name));
    put(b, o, "parameters", params_json(sr->scenario->params_json));
    stat_fields(b, o, &sr->stat, wall_s);
    put(b, o, "latency_ms", latency_json(b, sr->stat.latency));
    put(b, o, "errors", errors_json(b, &sr->stat));
    return o;
}

/* The load's schedule: null for the closed model at a constant concurrency. */
static json_t *schedule_json(struct jb *b, const struct pv_run_result *run)
{
    if (run->rate <= 0 && !run->shape)
        return json_null();
    json_t *o = json_object();
    bool open = run->rate > 0;
    put(b, o, "model", json_string(open ? "open" : "closed"));
    put(b, o, "rate", open ? pv_report__jreal(run->rate) : json_null());
    put(b, o, "arrival",
        open ? json_string(run->arrival == PV_ARRIVAL_UNIFORM ? "uniform" : "poisson")
             : json_null());
    put(b, o, "max_lag_s", run->max_lag_s > 0 ? pv_report__jreal(run->max_lag_s) : json_null());
    json_t *stages = json_array();
    if (run->shape) {
        put(b, o, "start", pv_report__jreal(pv_shape_start(run->shape)));
        for (int i = 0; i < pv_shape_nstages(run->shape); i++) {
            const struct pv_stage *st = pv_shape_stage(run->shape, i);
            json_t *e = json_object();
            put(b, e, "duration_s", pv_report__jreal(st->duration_s));
            put(b, e, "target", pv_report__jreal(st->target));
            push(b, stages, e);
        }
    } else {
        put(b, o, "start", pv_report__jreal(run->rate));
    }
    put(b, o, "stages", stages);
    return o;
}

/* The open model's figures of a group (added to o when the run has them). */
static void sched_fields(struct jb *b, json_t *o, const struct pv_sched_stats *s)
{
    if (!s->intended)
        return;
    put(b, o, "dropped", pv_report__jcount(s->dropped));
    put(b, o, "latency_intended_ms", latency_json(b, s->intended));
    put(b, o, "lag_ms", latency_json(b, s->lag));
}

/* One statement of a transaction. */
static json_t *statement_json(struct jb *b, const struct pv_step *step, const struct pv_stat *st,
                              double wall_s)
{
    json_t *o = json_object();
    put(b, o, "sql", pv_render_json_str(step->sql));
    put(b, o, "added", json_boolean(step->added));
    stat_fields(b, o, st, wall_s);
    put(b, o, "latency_ms", latency_json(b, st->latency));
    put(b, o, "errors", errors_json(b, st));
    return o;
}

static json_t *config_json(struct jb *b, const struct pv_run_result *run)
{
    json_t *o = json_object();
    put(b, o, "concurrency", json_integer(run->concurrency));
    put(b, o, "threads", json_integer(run->threads));
    put(b, o, "protocol", json_string(pv_protocol_name(run->protocol)));
    put(b, o, "mode", json_string(run->duration_s > 0 ? "time" : "count"));
    put(b, o, "duration_s", pv_report__jreal(run->duration_s));
    put(b, o, "warmup_s", pv_report__jreal(run->warmup_s));
    put(b, o, "command_timeout_s", pv_report__jreal(run->command_timeout_s));
    put(b, o, "retries", json_integer(run->retries));
    put(b, o, "seed", json_integer((json_int_t)run->seed));
    put(b, o, "pipeline", json_integer(run->pipeline));
    put(b, o, "separate_begin", json_boolean(run->separate_begin));
    put(b, o, "pinned_threads", json_boolean(run->pinned));
    put(b, o, "schedule", schedule_json(b, run));
    json_t *p = json_object();
    put(b, p, "size", json_integer(run->pool.size));
    put(b, p, "max_overflow", json_integer(run->pool.max_overflow));
    put(b, p, "timeout_s", pv_report__jreal(run->pool.timeout_s));
    put(b, p, "recycle_s", pv_report__jreal(run->pool.recycle_s));
    put(b, p, "connect_timeout_s", pv_report__jreal(run->pool.connect_timeout_s));
    put(b, o, "pool", p);
    return o;
}

static json_t *pool_json(struct jb *b, const struct pv_pool_stats *ps)
{
    json_t *o = json_object();
    put(b, o, "opened", pv_report__jcount(ps->opened));
    put(b, o, "closed", pv_report__jcount(ps->closed));
    put(b, o, "connect_failed", pv_report__jcount(ps->connect_failed));
    put(b, o, "lost", pv_report__jcount(ps->lost));
    put(b, o, "timeouts", pv_report__jcount(ps->timeouts));
    put(b, o, "max_in_use", pv_report__jcount(ps->max_in_use));
    put(b, o, "max_open", pv_report__jcount(ps->max_open));
    put(b, o, "wanted", pv_report__jcount(ps->wanted));
    put(b, o, "connect_s", pv_report__jreal(ps->connect_s));
    put(b, o, "acquire_wait_ms", latency_json(b, ps->acquire_wait));
    return o;
}

static json_t *target_json(struct jb *b, const struct pv_target_info *t)
{
    if (!t)
        return json_null();
    json_t *o = json_object();
    put(b, o, "host", JFIELD(t->host));
    put(b, o, "port", json_integer(t->port));
    put(b, o, "dbname", JFIELD(t->dbname));
    put(b, o, "user", JFIELD(t->user));
    put(b, o, "server_version", JFIELD(t->server_version));
    put(b, o, "server_version_num", json_integer(t->server_version_num));
    return o;
}

/* UTC ISO 8601 to the second, e.g. "2026-11-23T11:33:04Z". */
static json_t *iso8601(double epoch_s)
{
    char text[40] = "1970-01-01T00:00:00Z";
    struct tm tm;
    if (isfinite(epoch_s) && epoch_s >= 0 && epoch_s < 253402300800.0) { /* year 10000 */
        time_t t = (time_t)epoch_s;
        if (gmtime_r(&t, &tm))
            strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return json_string(text);
}

/* config gains "shard": {"index", "count"} when the report is one shard of
   several (--shard I/N). @return config. */
static json_t *shard_json(struct jb *b, const struct pv_report *r, json_t *config)
{
    if (config && r->shard_count > 0) {
        json_t *o = json_object();
        put(b, o, "index", json_integer(r->shard_index));
        put(b, o, "count", json_integer(r->shard_count));
        put(b, config, "shard", o);
    }
    return config;
}

/* ---- the stream ------------------------------------------------------- */

/* Containers open at once at most: root, runs, a run, queries, a query, scenarios. */
#define JW_MAX_DEPTH 8

/* The flags of the whole-tree dump this writer reproduces. */
#define JW_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(10))

/*
 * The writer of the skeleton. depth is the number of open containers: their
 * members are indented by 2 * depth spaces, as jansson's dump indents them.
 * A failure (a NULL value, a full buffer) is remembered in oom.
 */
struct jw {
    pv_buf *out;
    int depth;
    bool empty[JW_MAX_DEPTH + 1]; /* [d]: the container at depth d has no member yet */
    bool oom;
    const struct pv_report *rep; /* the report being written (its shard) */
};

static void jw_newline(struct jw *w, int depth)
{
    pv_buf_putc(w->out, '\n');
    pv_buf_fill(w->out, ' ', 2 * (size_t)depth);
}

/* Starts a member of the innermost container: its separator and key (NULL in an array). */
static void jw_member(struct jw *w, const char *key)
{
    if (w->depth > 0) {
        if (!w->empty[w->depth])
            pv_buf_putc(w->out, ',');
        w->empty[w->depth] = false;
        jw_newline(w, w->depth);
    }
    if (key)
        pv_buf_printf(w->out, "\"%s\": ", key); /* keys are literals of this file */
}

/* Opens an object ('{') or an array ('[') as a member (key NULL in an array or at the root). */
static void jw_open(struct jw *w, const char *key, char bracket)
{
    assert(w->depth < JW_MAX_DEPTH);
    jw_member(w, key);
    pv_buf_putc(w->out, bracket);
    w->empty[++w->depth] = true;
}

static void jw_close(struct jw *w, char bracket)
{
    assert(w->depth > 0);
    if (!w->empty[w->depth])
        jw_newline(w, w->depth - 1);
    pv_buf_putc(w->out, bracket);
    w->depth--;
}

/* jansson's dump of a small value, with depth * 2 spaces after each newline. */
static int jw_dump_cb(const char *buf, size_t size, void *data)
{
    struct jw *w = data;
    const char *p = buf, *end = buf + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        pv_buf_append(w->out, p, n);
        if (nl)
            jw_newline(w, w->depth);
        p += n + (nl != NULL);
    }
    return pv_buf_ok(w->out) == 0 ? 0 : -1;
}

/* Writes v (a new reference, taken; NULL means out of memory) as a member. */
static void jw_put(struct jw *w, const char *key, json_t *v)
{
    if (!v) {
        w->oom = true;
        return;
    }
    jw_member(w, key);
    if (json_dump_callback(v, jw_dump_cb, w, JW_FLAGS | JSON_ENCODE_ANY) != 0)
        w->oom = true;
    json_decref(v);
}

/* As jw_put, for a tree built with the jb setters: out of memory if any of them failed. */
static void jw_put_built(struct jw *w, const char *key, struct jb *b, json_t *v)
{
    if (b->oom) {
        json_decref(v);
        v = NULL;
        b->oom = false;
    }
    jw_put(w, key, v);
}

/* The summary object of one run. */
static json_t *summary_json(struct jb *b, const struct pv_run_result *run)
{
    json_t *sum = json_object();
    stat_fields(b, sum, &run->total, run->wall_s);
    put(b, sum, "wall_s", pv_report__jreal(run->wall_s));
    put(b, sum, "speedup", pv_report__jreal(pv_render_speedup(run->total.sum_ns, run->wall_s)));
    put(b, sum, "latency_ms", latency_json(b, run->total.latency));
    sched_fields(b, sum, &run->sched);
    return sum;
}

/* One query: its own figures, then its scenarios one by one. */
static void query_stream(struct jw *w, const struct pv_query_result *qr, double wall_s)
{
    const struct pv_query *q = qr->query;
    struct jb b = {false};
    jw_open(w, NULL, '{');
    jw_put(w, "file", pv_render_json_str(q->path));
    jw_put(w, "name", pv_render_json_str(q->name));
    jw_put(w, "sql", pv_render_json_str(q->sql));
    jw_put(w, "parameters_count", json_integer(q->nparams));
    /* stat_fields' members, each written as it comes */
    json_t *fields = json_object();
    stat_fields(&b, fields, &qr->stat, wall_s);
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v)
    {
        jw_put(w, key, json_incref(v));
    }
    json_decref(fields);
    jw_put_built(w, "latency_ms", &b, latency_json(&b, qr->stat.latency));
    if (qr->sched.intended) {
        jw_put(w, "dropped", pv_report__jcount(qr->sched.dropped));
        jw_put_built(w, "latency_intended_ms", &b, latency_json(&b, qr->sched.intended));
        jw_put_built(w, "lag_ms", &b, latency_json(&b, qr->sched.lag));
    }
    jw_put_built(w, "errors", &b, errors_json(&b, &qr->stat));
    if (qr->steps) { /* a transaction: each statement's own figures */
        jw_open(w, "statements", '[');
        for (int i = 0; i < q->nsteps && !w->oom; i++)
            jw_put_built(w, NULL, &b, statement_json(&b, &q->steps[i], &qr->steps[i], wall_s));
        jw_close(w, ']');
    }
    jw_open(w, "scenarios", '[');
    for (size_t i = 0; i < q->nscenarios && !w->oom; i++)
        jw_put_built(w, NULL, &b, scenario_json(&b, &qr->scenarios[i], wall_s));
    jw_close(w, ']');
    jw_close(w, '}');
}

/* The run's timeline (pv_report_timeline.c builds each point), a point at a time. */
static void timeline_stream(struct jw *w, const struct pv_run_result *run)
{
    jw_open(w, "timeline", '{');
    jw_put(w, "interval_s", pv_report__jreal(run->timeline.interval_s));
    jw_open(w, "points", '[');
    for (size_t i = 0; i < run->timeline.npoints && !w->oom; i++)
        jw_put(w, NULL, pv_report__timeline_point_json(run, &run->timeline.points[i]));
    jw_close(w, ']');
    jw_close(w, '}');
}

/* config, summary, queries, errors and pool of one run, into the open object. */
static void run_stream(struct jw *w, const struct pv_run_result *run)
{
    struct jb b = {false};
    jw_put_built(w, "config", &b, shard_json(&b, w->rep, config_json(&b, run)));
    jw_put_built(w, "summary", &b, summary_json(&b, run));
    jw_open(w, "queries", '[');
    for (size_t i = 0; i < run->nqueries && !w->oom; i++)
        query_stream(w, &run->queries[i], run->wall_s);
    jw_close(w, ']');
    jw_put_built(w, "errors", &b, errors_json(&b, &run->total));
    jw_put_built(w, "pool", &b, pool_json(&b, &run->pool_stats));
    if (run->timeline.interval_s > 0)
        timeline_stream(w, run);
}

/* ---- the report ------------------------------------------------------- */

int pv_report_json(const struct pv_report *r, pv_buf *out)
{
    assert(r && r->nruns >= 1 && r->runs);
    struct jw w = {.out = out, .rep = r};
    struct jb b = {false};
    bool interrupted = r->interrupted;
    for (size_t i = 0; i < r->nruns; i++)
        interrupted = interrupted || r->runs[i]->interrupted;

    jw_open(&w, NULL, '{');
    jw_put(&w, "schema", json_string(SCHEMA));
    json_t *tool = json_object();
    put(&b, tool, "name", json_string("pgvolley"));
    put(&b, tool, "version", json_string(volley_version()));
    jw_put_built(&w, "tool", &b, tool);
    jw_put_built(&w, "target", &b, target_json(&b, r->target));
    jw_put(&w, "started_at", iso8601(r->started_at));
    jw_put(&w, "started_at_ms", json_integer((json_int_t)floor(r->started_at * 1e3)));
    jw_put(&w, "interrupted", json_boolean(interrupted));
    const char *aborted = pv_report_aborted(r);
    jw_put(&w, "aborted", aborted ? pv_render_json_str(aborted) : json_null());

    if (r->suite) { /* issue 12: a suite, one run per test (docs/suite.md) */
        jw_put(&w, "suite", pv_report__suite_json(r));
        jw_open(&w, "runs", '[');
        for (size_t i = 0; i < r->nruns && !w.oom; i++) {
            const struct pv_report_test *t = &r->suite->tests[i];
            jw_open(&w, NULL, '{');
            jw_put(&w, "test", pv_report__test_json(t));
            jw_put(&w, "interrupted", json_boolean(r->runs[i]->interrupted));
            run_stream(&w, r->runs[i]);
            if (pv_thresholds_count(t->thresholds) > 0)
                jw_put(&w, "thresholds", pv_threshold_json(t->thresholds, r->runs[i]));
            if (t->diagnosis_json)
                jw_put(&w, "diagnosis", pv_report__raw_json(t->diagnosis_json));
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
    } else if (r->sweep || r->nruns > 1) {
        jw_put(&w, "sweep", json_true());
        jw_open(&w, "runs", '[');
        for (size_t i = 0; i < r->nruns && !w.oom; i++) {
            jw_open(&w, NULL, '{');
            jw_put(&w, "interrupted", json_boolean(r->runs[i]->interrupted));
            run_stream(&w, r->runs[i]);
            if (pv_thresholds_count(r->thresholds) > 0) /* issue 11: thresholds */
                jw_put(&w, "thresholds", pv_threshold_json(r->thresholds, r->runs[i]));
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
    } else {
        run_stream(&w, r->runs[0]);
        if (pv_thresholds_count(r->thresholds) > 0) /* issue 11: thresholds */
            jw_put(&w, "thresholds", pv_threshold_json(r->thresholds, r->runs[0]));
    }
    jw_close(&w, '}');
    pv_buf_putc(out, '\n');
    if (w.oom || b.oom)
        return VOLLEY_ENOMEM;
    return pv_buf_ok(out);
}
