/*
 * pv_report_json.c - the JSON report, schema "pgvolley.report/1".
 *
 * The tree is built with jansson and dumped once. Counts are JSON integers,
 * times are reals (seconds, or milliseconds where the key says _ms); a
 * figure that cannot be computed (no wall time, nothing succeeded) is 0,
 * never NaN or Infinity, which JSON cannot carry.
 */
#include "report/pv_report.h"
#include "report/pv_render.h"

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

static json_t *jreal(double d)
{
    return json_real(isfinite(d) ? d : 0.0);
}

static json_t *jcount(uint64_t n)
{
    return json_integer(n > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)n);
}

/* A fixed-size field of pv_target_info, which may fill its array. */
#define JFIELD(f) pv_render_json_strn((f), strnlen((f), sizeof(f)))

/* ---- pieces ----------------------------------------------------------- */

static json_t *latency_json(struct jb *b, const pv_hist *h)
{
    struct pv_latency_ms l;
    pv_latency_of(h, &l);
    json_t *o = json_object();
    put(b, o, "min", jreal(l.min));
    put(b, o, "avg", jreal(l.avg));
    put(b, o, "stddev", jreal(l.stddev));
    put(b, o, "p50", jreal(l.p50));
    put(b, o, "p90", jreal(l.p90));
    put(b, o, "p95", jreal(l.p95));
    put(b, o, "p99", jreal(l.p99));
    put(b, o, "p999", jreal(l.p999));
    put(b, o, "max", jreal(l.max));
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
        put(b, e, "count", jcount(v[i]->count));
        push(b, arr, e);
    }
    free(v);
    return arr;
}

/* The figures every group has: counts, throughput and latency. */
static void stat_fields(struct jb *b, json_t *o, const struct pv_stat *s, double wall_s)
{
    put(b, o, "executions", jcount(pv_stat_executions(s)));
    put(b, o, "succeeded", jcount(s->succeeded));
    put(b, o, "failed", jcount(s->failed));
    put(b, o, "rows", jcount(s->rows));
    put(b, o, "qps", jreal(pv_report_qps(pv_stat_executions(s), wall_s)));
    put(b, o, "sum_latency_s", jreal((double)s->sum_ns / 1e9));
    put(b, o, "retries", jcount(s->retries));
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

static json_t *query_json(struct jb *b, const struct pv_query_result *qr, double wall_s)
{
    const struct pv_query *q = qr->query;
    json_t *o = json_object();
    put(b, o, "file", pv_render_json_str(q->path));
    put(b, o, "name", pv_render_json_str(q->name));
    put(b, o, "sql", pv_render_json_str(q->sql));
    put(b, o, "parameters_count", json_integer(q->nparams));
    stat_fields(b, o, &qr->stat, wall_s);
    put(b, o, "latency_ms", latency_json(b, qr->stat.latency));
    put(b, o, "errors", errors_json(b, &qr->stat));
    json_t *arr = json_array();
    for (size_t i = 0; i < q->nscenarios; i++)
        push(b, arr, scenario_json(b, &qr->scenarios[i], wall_s));
    put(b, o, "scenarios", arr);
    return o;
}

static json_t *config_json(struct jb *b, const struct pv_run_result *run)
{
    json_t *o = json_object();
    put(b, o, "concurrency", json_integer(run->concurrency));
    put(b, o, "threads", json_integer(run->threads));
    put(b, o, "protocol", json_string(pv_protocol_name(run->protocol)));
    put(b, o, "mode", json_string(run->duration_s > 0 ? "time" : "count"));
    put(b, o, "duration_s", jreal(run->duration_s));
    put(b, o, "warmup_s", jreal(run->warmup_s));
    put(b, o, "command_timeout_s", jreal(run->command_timeout_s));
    put(b, o, "retries", json_integer(run->retries));
    put(b, o, "seed", json_integer((json_int_t)run->seed));
    put(b, o, "pipeline", json_integer(run->pipeline));
    put(b, o, "pinned_threads", json_boolean(run->pinned));
    json_t *p = json_object();
    put(b, p, "size", json_integer(run->pool.size));
    put(b, p, "max_overflow", json_integer(run->pool.max_overflow));
    put(b, p, "timeout_s", jreal(run->pool.timeout_s));
    put(b, p, "recycle_s", jreal(run->pool.recycle_s));
    put(b, p, "connect_timeout_s", jreal(run->pool.connect_timeout_s));
    put(b, o, "pool", p);
    return o;
}

static json_t *pool_json(struct jb *b, const struct pv_pool_stats *ps)
{
    json_t *o = json_object();
    put(b, o, "opened", jcount(ps->opened));
    put(b, o, "closed", jcount(ps->closed));
    put(b, o, "connect_failed", jcount(ps->connect_failed));
    put(b, o, "lost", jcount(ps->lost));
    put(b, o, "timeouts", jcount(ps->timeouts));
    put(b, o, "max_in_use", jcount(ps->max_in_use));
    put(b, o, "max_open", jcount(ps->max_open));
    put(b, o, "wanted", jcount(ps->wanted));
    put(b, o, "connect_s", jreal(ps->connect_s));
    put(b, o, "acquire_wait_ms", latency_json(b, ps->acquire_wait));
    return o;
}

/* config, summary, queries, errors and pool of one run, into o. */
static void run_fields(struct jb *b, json_t *o, const struct pv_run_result *run)
{
    put(b, o, "config", config_json(b, run));

    json_t *sum = json_object();
    stat_fields(b, sum, &run->total, run->wall_s);
    put(b, sum, "wall_s", jreal(run->wall_s));
    put(b, sum, "speedup", jreal(pv_render_speedup(run->total.sum_ns, run->wall_s)));
    put(b, sum, "latency_ms", latency_json(b, run->total.latency));
    put(b, o, "summary", sum);

    json_t *qs = json_array();
    for (size_t i = 0; i < run->nqueries; i++)
        push(b, qs, query_json(b, &run->queries[i], run->wall_s));
    put(b, o, "queries", qs);
    put(b, o, "errors", errors_json(b, &run->total));
    put(b, o, "pool", pool_json(b, &run->pool_stats));
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

/* ---- the report ------------------------------------------------------- */

int pv_report_json(const struct pv_report *r, pv_buf *out)
{
    assert(r && r->nruns >= 1 && r->runs);
    struct jb b = {false};
    bool interrupted = r->interrupted;
    for (size_t i = 0; i < r->nruns; i++)
        interrupted = interrupted || r->runs[i]->interrupted;

    json_t *root = json_object();
    put(&b, root, "schema", json_string(SCHEMA));
    json_t *tool = json_object();
    put(&b, tool, "name", json_string("pgvolley"));
    put(&b, tool, "version", json_string(volley_version()));
    put(&b, root, "tool", tool);
    put(&b, root, "target", target_json(&b, r->target));
    put(&b, root, "started_at", iso8601(r->started_at));
    put(&b, root, "interrupted", json_boolean(interrupted));
    const char *aborted = pv_report_aborted(r);
    put(&b, root, "aborted", aborted ? json_string(aborted) : json_null());

    if (r->sweep || r->nruns > 1) {
        put(&b, root, "sweep", json_true());
        json_t *runs = json_array();
        for (size_t i = 0; i < r->nruns; i++) {
            json_t *o = json_object();
            put(&b, o, "interrupted", json_boolean(r->runs[i]->interrupted));
            run_fields(&b, o, r->runs[i]);
            push(&b, runs, o);
        }
        put(&b, root, "runs", runs);
    } else {
        run_fields(&b, root, r->runs[0]);
    }

    char *text = NULL;
    if (!b.oom)
        text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text)
        return VOLLEY_ENOMEM;
    pv_buf_puts(out, text);
    pv_buf_putc(out, '\n');
    free(text);
    return pv_buf_ok(out);
}
