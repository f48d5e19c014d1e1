/* pv_report_read.c - a JSON report read back into the writers' model;
   contract in pv_report_read.h. */
#include "report/pv_report_read.h"
#include "report/pv_report_read_int.h"
#include "stats/pv_hist_codec.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA "pgvolley.report/1"
#define PATH_MAX_LEN                                                                               \
    200 /* a member's path in messages, e.g. queries[2].scenarios[10].latency_ms                   \
         */

/*
 * The reading context: the first error wins and is kept in rc; every getter
 * is a no-op once it is set, so a function reads all its members and checks
 * once at the end.
 */
struct rd {
    const char *file;
    pv_err *err;
    int rc;
};

static void fail(struct rd *c, const char *at, const char *key, const char *what)
{
    if (c->rc != 0)
        return;
    c->rc = pv_err_set(c->err, VOLLEY_EINPUT, "%s: %s%s%s: %s", c->file, at, *at && key ? "." : "",
                       key ? key : "", what);
}

static void oom(struct rd *c)
{
    if (c->rc == 0)
        c->rc = pv_err_set(c->err, VOLLEY_ENOMEM, "out of memory");
}

/* The member key of obj, which must have type t (JSON_REAL: any number). */
static json_t *member(struct rd *c, json_t *obj, const char *at, const char *key, json_type t)
{
    if (c->rc != 0)
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        fail(c, at, key, "missing");
        return NULL;
    }
    bool ok = t == JSON_REAL   ? json_is_number(v)
              : t == JSON_TRUE ? json_is_boolean(v)
                               : json_typeof(v) == t;
    if (!ok) {
        static const char *const names[] = {"an object",  "an array", "a string",
                                            "an integer", "a number", "a boolean"};
        char what[40];
        snprintf(what, sizeof(what), "expected %s", t <= JSON_TRUE ? names[t] : "null");
        fail(c, at, key, what);
        return NULL;
    }
    return v;
}

static uint64_t get_count(struct rd *c, json_t *obj, const char *at, const char *key)
{
    json_t *v = member(c, obj, at, key, JSON_INTEGER);
    if (v && json_integer_value(v) < 0)
        fail(c, at, key, "a count cannot be negative");
    return v && c->rc == 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int get_int(struct rd *c, json_t *obj, const char *at, const char *key)
{
    json_t *v = member(c, obj, at, key, JSON_INTEGER);
    if (v && (json_integer_value(v) < -2147483647 || json_integer_value(v) > 2147483647))
        fail(c, at, key, "out of range");
    return c->rc == 0 && v ? (int)json_integer_value(v) : 0;
}

static double get_num(struct rd *c, json_t *obj, const char *at, const char *key)
{
    json_t *v = member(c, obj, at, key, JSON_REAL);
    return v ? json_number_value(v) : 0;
}

static bool get_bool(struct rd *c, json_t *obj, const char *at, const char *key)
{
    json_t *v = member(c, obj, at, key, JSON_TRUE);
    return v && json_is_true(v);
}

/* A copy of the string member (NULL when it fails). */
static char *get_str(struct rd *c, json_t *obj, const char *at, const char *key)
{
    json_t *v = member(c, obj, at, key, JSON_STRING);
    if (!v)
        return NULL;
    char *s = strndup(json_string_value(v), json_string_length(v));
    if (!s)
        oom(c);
    return s;
}

/* Copies the string member into a fixed array (cut to fit). */
static void get_field(struct rd *c, json_t *obj, const char *at, const char *key, char *dst,
                      size_t size)
{
    json_t *v = member(c, obj, at, key, JSON_STRING);
    if (v)
        snprintf(dst, size, "%s", json_string_value(v));
}

/* "at.key" or "at[i]" into buf. */
static const char *sub(char *buf, const char *at, const char *key, long i)
{
    int n = i < 0 ? snprintf(buf, PATH_MAX_LEN, "%s%s%s", at, *at ? "." : "", key)
                  : snprintf(buf, PATH_MAX_LEN, "%s%s%s[%ld]", at, *at && *key ? "." : "", key, i);
    if (n >= PATH_MAX_LEN) /* cut: say so */
        memcpy(buf + PATH_MAX_LEN - 4, "...", 4);
    return buf;
}

/* ---- statistics ---------------------------------------------------------- */

/* The histogram of the latency object key (NULL when there is none and
   count is 0; the caller's). */
static pv_hist *get_hist(struct rd *c, json_t *obj, const char *at, const char *key)
{
    char p[PATH_MAX_LEN];
    json_t *l = member(c, obj, at, key, JSON_OBJECT);
    json_t *h = member(c, l, sub(p, at, key, -1), "histogram", JSON_STRING);
    if (!h)
        return NULL;
    pv_hist *out = NULL;
    pv_err e = {{0}};
    int rc = pv_hist_decode(json_string_value(h), json_string_length(h), &out, &e);
    if (rc == VOLLEY_ENOMEM)
        oom(c);
    else if (rc != 0)
        fail(c, p, "histogram", e.msg + strlen("histogram: "));
    return out;
}

static void get_errors(struct rd *c, json_t *arr, const char *at, struct pv_stat *s)
{
    char p[PATH_MAX_LEN];
    size_t n = json_array_size(arr);
    if (c->rc != 0 || n == 0)
        return;
    s->errors = calloc(n, sizeof(*s->errors));
    if (!s->errors) {
        oom(c);
        return;
    }
    s->errcap = n;
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        json_t *e = json_array_get(arr, i);
        sub(p, at, "errors", (long)i);
        if (!json_is_object(e)) {
            fail(c, p, NULL, "expected an object");
            break;
        }
        struct pv_errstat *es = &s->errors[s->nerrors];
        get_field(c, e, p, "sqlstate", es->sqlstate, sizeof(es->sqlstate));
        es->count = get_count(c, e, p, "count");
        es->message = get_str(c, e, p, "message");
        if (c->rc == 0)
            s->nerrors++;
        else
            free(es->message);
    }
}

/* The figures of a group (stat_fields, latency_ms, errors) into s; the
   errors are those of eo at eat (the summary's are its run's). */
static void get_stat_errors(struct rd *c, json_t *o, const char *at, struct pv_stat *s, json_t *eo,
                            const char *eat)
{
    uint64_t executions = get_count(c, o, at, "executions");
    s->succeeded = get_count(c, o, at, "succeeded");
    s->failed = get_count(c, o, at, "failed");
    s->rows = get_count(c, o, at, "rows");
    s->retries = get_count(c, o, at, "retries");
    double sum_s = get_num(c, o, at, "sum_latency_s");
    s->sum_ns = sum_s > 0 && sum_s < 1.8e10 ? (uint64_t)llround(sum_s * 1e9) : 0;
    s->latency = get_hist(c, o, at, "latency_ms");
    get_errors(c, member(c, eo, eat, "errors", JSON_ARRAY), eat, s);
    if (c->rc != 0)
        return;
    uint64_t failed = 0;
    for (size_t i = 0; i < s->nerrors; i++)
        failed += s->errors[i].count;
    if (executions != s->succeeded + s->failed)
        fail(c, at, "executions", "is not succeeded + failed");
    else if (pv_hist_count(s->latency) != s->succeeded)
        fail(c, at, "latency_ms.histogram", "does not hold `succeeded` values");
    else if (failed != s->failed)
        fail(c, at, "errors", "do not add up to `failed`");
    if (s->latency && pv_hist_count(s->latency) == 0) { /* as the engine: none until a success */
        pv_hist_destroy(s->latency);
        s->latency = NULL;
    }
}

static void get_stat(struct rd *c, json_t *o, const char *at, struct pv_stat *s)
{
    get_stat_errors(c, o, at, s, o, at);
}

/* dropped, latency_intended_ms and lag_ms, when the group has them. */
static void get_sched(struct rd *c, json_t *o, const char *at, struct pv_sched_stats *s)
{
    if (c->rc != 0 || !json_object_get(o, "latency_intended_ms"))
        return;
    s->dropped = get_count(c, o, at, "dropped");
    s->intended = get_hist(c, o, at, "latency_intended_ms");
    s->lag = get_hist(c, o, at, "lag_ms");
}

/* ---- the workload description ----------------------------------------------- */

static void free_query(struct pv_query *q)
{
    free(q->path);
    free(q->name);
    free(q->sql);
    for (size_t i = 0; q->scenarios && i < q->nscenarios; i++) {
        free(q->scenarios[i].name);
        free(q->scenarios[i].params_json);
    }
    free(q->scenarios);
    for (int i = 0; q->steps && i < q->nsteps; i++)
        free(q->steps[i].sql);
    free(q->steps);
}

static void get_scenarios(struct rd *c, json_t *qo, const char *at, struct pv_query *q,
                          struct pv_query_result *qr)
{
    char p[PATH_MAX_LEN];
    json_t *arr = member(c, qo, at, "scenarios", JSON_ARRAY);
    size_t n = json_array_size(arr);
    if (c->rc != 0 || n == 0)
        return;
    q->scenarios = calloc(n, sizeof(*q->scenarios));
    qr->scenarios = calloc(n, sizeof(*qr->scenarios));
    if (!q->scenarios || !qr->scenarios) {
        oom(c);
        return;
    }
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        json_t *so = json_array_get(arr, i);
        sub(p, at, "scenarios", (long)i);
        if (!json_is_object(so)) {
            fail(c, p, NULL, "expected an object");
            break;
        }
        struct pv_scenario *s = &q->scenarios[i];
        q->nscenarios = i + 1;
        s->name = get_str(c, so, p, "name");
        json_t *params = json_object_get(so, "parameters");
        s->params_json = params ? json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (params && !s->params_json)
            oom(c);
        s->nparams = q->nparams;
        qr->scenarios[i].scenario = s;
        get_stat(c, so, p, &qr->scenarios[i].stat);
        s->exec_count = pv_stat_executions(&qr->scenarios[i].stat);
    }
}

static void get_statements(struct rd *c, json_t *qo, const char *at, struct pv_query *q,
                           struct pv_query_result *qr)
{
    char p[PATH_MAX_LEN];
    json_t *arr = json_object_get(qo, "statements");
    if (c->rc != 0 || !arr)
        return;
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > 100000) {
        fail(c, at, "statements", "expected a non-empty array");
        return;
    }
    q->steps = calloc(n, sizeof(*q->steps));
    qr->steps = calloc(n, sizeof(*qr->steps));
    if (!q->steps || !qr->steps) {
        oom(c);
        return;
    }
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        json_t *so = json_array_get(arr, i);
        sub(p, at, "statements", (long)i);
        if (!json_is_object(so)) {
            fail(c, p, NULL, "expected an object");
            break;
        }
        q->nsteps = (int)i + 1;
        q->steps[i].sql = get_str(c, so, p, "sql");
        q->steps[i].added = get_bool(c, so, p, "added");
        get_stat(c, so, p, &qr->steps[i]);
    }
}

static void get_query(struct rd *c, json_t *qo, const char *at, struct pv_query *q,
                      struct pv_query_result *qr)
{
    if (!json_is_object(qo)) {
        fail(c, at, NULL, "expected an object");
        return;
    }
    qr->query = q;
    q->path = get_str(c, qo, at, "file");
    q->name = get_str(c, qo, at, "name");
    q->sql = get_str(c, qo, at, "sql");
    q->nparams = get_int(c, qo, at, "parameters_count");
    get_stat(c, qo, at, &qr->stat);
    get_sched(c, qo, at, &qr->sched);
    get_statements(c, qo, at, q, qr);
    get_scenarios(c, qo, at, q, qr);
    q->exec_count = q->nscenarios ? q->scenarios[0].exec_count : 0;
}

/* ---- one run --------------------------------------------------------------- */

static void get_schedule(struct rd *c, json_t *cfg, const char *at, struct pv_report__run *run)
{
    char p[PATH_MAX_LEN];
    json_t *s = json_object_get(cfg, "schedule");
    if (c->rc != 0 || !s || json_is_null(s))
        return;
    sub(p, at, "schedule", -1);
    struct pv_run_result *res = &run->res;
    if (!json_is_object(s)) {
        fail(c, p, NULL, "expected an object or null");
        return;
    }
    json_t *rate = json_object_get(s, "rate");
    res->rate = json_is_number(rate) ? json_number_value(rate) : 0;
    json_t *arrival = json_object_get(s, "arrival");
    res->arrival = json_is_string(arrival) && strcmp(json_string_value(arrival), "uniform") == 0
                       ? PV_ARRIVAL_UNIFORM
                       : PV_ARRIVAL_POISSON;
    json_t *lag = json_object_get(s, "max_lag_s");
    res->max_lag_s = json_is_number(lag) ? json_number_value(lag) : 0;
    double start = get_num(c, s, p, "start");
    json_t *stages = member(c, s, p, "stages", JSON_ARRAY);
    size_t n = json_array_size(stages);
    if (c->rc != 0 || n == 0)
        return;
    struct pv_stage *st = calloc(n, sizeof(*st));
    if (!st) {
        oom(c);
        return;
    }
    char q[PATH_MAX_LEN];
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        json_t *e = json_array_get(stages, i);
        sub(q, p, "stages", (long)i);
        st[i].duration_s = get_num(c, e, q, "duration_s");
        st[i].target = get_num(c, e, q, "target");
    }
    pv_err e = {{0}};
    int rc = c->rc == 0 && n <= 100000 ? pv_shape_create(start, st, (int)n, &run->shape, &e) : 0;
    free(st);
    if (rc == VOLLEY_ENOMEM)
        oom(c);
    else if (rc != 0)
        fail(c, p, "stages", e.msg);
    run->res.shape = run->shape;
}

static void get_config(struct rd *c, json_t *ro, const char *at, struct pv_report__run *run)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    json_t *cfg = member(c, ro, at, "config", JSON_OBJECT);
    sub(p, at, "config", -1);
    struct pv_run_result *res = &run->res;
    res->concurrency = get_int(c, cfg, p, "concurrency");
    res->threads = get_int(c, cfg, p, "threads");
    json_t *proto = member(c, cfg, p, "protocol", JSON_STRING);
    static const enum pv_protocol protos[] = {PV_PROTOCOL_PREPARED, PV_PROTOCOL_EXTENDED,
                                              PV_PROTOCOL_SIMPLE};
    bool known = false;
    for (size_t i = 0; proto && i < PV_ARRAY_LEN(protos); i++) {
        if (strcmp(json_string_value(proto), pv_protocol_name(protos[i])) == 0) {
            res->protocol = protos[i];
            known = true;
        }
    }
    if (proto && !known)
        fail(c, p, "protocol", "not prepared, extended or simple");
    get_field(c, cfg, p, "mode", run->mode, sizeof(run->mode));
    res->duration_s = get_num(c, cfg, p, "duration_s");
    res->warmup_s = get_num(c, cfg, p, "warmup_s");
    res->command_timeout_s = get_num(c, cfg, p, "command_timeout_s");
    res->retries = get_int(c, cfg, p, "retries");
    json_t *seed = member(c, cfg, p, "seed", JSON_INTEGER);
    res->seed = seed ? (uint64_t)json_integer_value(seed) : 0;
    res->pipeline = get_int(c, cfg, p, "pipeline");
    res->pinned = get_bool(c, cfg, p, "pinned_threads");
    /* absent from reports written before it existed: BEGIN went alone then */
    json_t *sb = cfg ? json_object_get(cfg, "separate_begin") : NULL;
    res->separate_begin = !sb || json_is_true(sb);
    json_t *pool = member(c, cfg, p, "pool", JSON_OBJECT);
    sub(q, p, "pool", -1);
    res->pool.size = get_int(c, pool, q, "size");
    res->pool.max_overflow = get_int(c, pool, q, "max_overflow");
    res->pool.timeout_s = get_num(c, pool, q, "timeout_s");
    res->pool.recycle_s = get_num(c, pool, q, "recycle_s");
    res->pool.connect_timeout_s = get_num(c, pool, q, "connect_timeout_s");
    get_schedule(c, cfg, p, run);
    json_t *shard = json_object_get(cfg, "shard");
    if (c->rc == 0 && shard) {
        sub(q, p, "shard", -1);
        run->shard_index = get_int(c, shard, q, "index");
        run->shard_count = get_int(c, shard, q, "count");
        if (c->rc == 0 &&
            (run->shard_count < 1 || run->shard_index < 0 || run->shard_index >= run->shard_count))
            fail(c, q, NULL, "index must be in [0, count)");
    }
}

static void get_pool(struct rd *c, json_t *ro, const char *at, struct pv_pool_stats *ps)
{
    char p[PATH_MAX_LEN];
    json_t *o = member(c, ro, at, "pool", JSON_OBJECT);
    sub(p, at, "pool", -1);
    ps->opened = get_count(c, o, p, "opened");
    ps->closed = get_count(c, o, p, "closed");
    ps->connect_failed = get_count(c, o, p, "connect_failed");
    ps->lost = get_count(c, o, p, "lost");
    ps->timeouts = get_count(c, o, p, "timeouts");
    ps->max_in_use = get_count(c, o, p, "max_in_use");
    ps->max_open = get_count(c, o, p, "max_open");
    ps->wanted = get_count(c, o, p, "wanted");
    ps->connect_s = get_num(c, o, p, "connect_s");
    ps->acquire_wait = get_hist(c, o, p, "acquire_wait_ms");
    if (c->rc == 0 && !ps->acquire_wait) /* the engine always has one */
        c->rc = pv_hist_create(&ps->acquire_wait) == 0 ? 0 : (oom(c), c->rc);
}

/* One run object at `at` ("" for a single run's root, "runs[i]"). */
static void get_run(struct rd *c, json_t *ro, const char *at, struct pv_report__run *run)
{
    char p[PATH_MAX_LEN];
    struct pv_run_result *res = &run->res;
    get_config(c, ro, at, run);
    json_t *sum = member(c, ro, at, "summary", JSON_OBJECT);
    sub(p, at, "summary", -1);
    get_stat_errors(c, sum, p, &res->total, ro, at);
    res->wall_s = get_num(c, sum, p, "wall_s");
    get_sched(c, sum, p, &res->sched);
    json_t *queries = member(c, ro, at, "queries", JSON_ARRAY);
    size_t n = json_array_size(queries);
    if (c->rc == 0 && n > 0) {
        run->queries = calloc(n, sizeof(*run->queries));
        res->queries = calloc(n, sizeof(*res->queries));
        if (!run->queries || !res->queries)
            oom(c);
    }
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        res->nqueries = i + 1;
        get_query(c, json_array_get(queries, i), sub(p, at, "queries", (long)i), &run->queries[i],
                  &res->queries[i]);
    }
    get_pool(c, ro, at, &res->pool_stats);
}

static void free_run(struct pv_report__run *run)
{
    struct pv_run_result *res = &run->res;
    for (size_t i = 0; res->queries && i < res->nqueries; i++) {
        struct pv_query_result *qr = &res->queries[i];
        pv_stat_fini(&qr->stat);
        pv_sched_stats_fini(&qr->sched);
        for (size_t k = 0; qr->scenarios && k < run->queries[i].nscenarios; k++)
            pv_stat_fini(&qr->scenarios[k].stat);
        free(qr->scenarios);
        for (int k = 0; qr->steps && k < run->queries[i].nsteps; k++)
            pv_stat_fini(&qr->steps[k]);
        free(qr->steps);
        free_query(&run->queries[i]);
    }
    free(res->queries);
    free(run->queries);
    pv_stat_fini(&res->total);
    pv_sched_stats_fini(&res->sched);
    pv_hist_destroy(res->pool_stats.acquire_wait);
    pv_shape_destroy(run->shape);
}

/* ---- the report ------------------------------------------------------------ */

/* Epoch seconds of "YYYY-MM-DDTHH:MM:SSZ", or -1. */
static double parse_iso8601(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    return (double)timegm(&tm);
}

static void get_top(struct rd *c, json_t *root, pv_report_file *f)
{
    json_t *schema = member(c, root, "", "schema", JSON_STRING);
    if (schema && strcmp(json_string_value(schema), SCHEMA) != 0)
        fail(c, "", "schema", "not \"" SCHEMA "\" (a report of another version)");
    json_t *t = json_object_get(root, "target");
    if (c->rc == 0 && t && json_is_object(t)) {
        get_field(c, t, "target", "host", f->target.host, sizeof(f->target.host));
        f->target.port = get_int(c, t, "target", "port");
        get_field(c, t, "target", "dbname", f->target.dbname, sizeof(f->target.dbname));
        get_field(c, t, "target", "user", f->target.user, sizeof(f->target.user));
        get_field(c, t, "target", "server_version", f->target.server_version,
                  sizeof(f->target.server_version));
        f->target.server_version_num = get_int(c, t, "target", "server_version_num");
        f->rep.target = &f->target;
    }
    json_t *ms = json_object_get(root, "started_at_ms");
    if (json_is_integer(ms)) {
        f->rep.started_at = (double)json_integer_value(ms) / 1e3;
    } else {
        json_t *iso = member(c, root, "", "started_at", JSON_STRING);
        f->rep.started_at = iso ? parse_iso8601(json_string_value(iso)) : 0;
        if (iso && f->rep.started_at < 0)
            fail(c, "", "started_at", "not a time like 2026-11-23T12:04:15Z");
    }
    f->rep.interrupted = get_bool(c, root, "", "interrupted");
}

static int read_root(struct rd *c, json_t *root, pv_report_file *f)
{
    if (!json_is_object(root)) {
        fail(c, "", NULL, "not a JSON object");
        return c->rc;
    }
    if (json_object_get(root, "suite")) /* issue 12: one run per test, nothing to merge */
        fail(c, "", "suite", "a report of pgvolley suite; only reports of pgvolley run are read");
    get_top(c, root, f);
    json_t *runs = json_object_get(root, "runs");
    bool sweep = json_is_true(json_object_get(root, "sweep"));
    size_t n = sweep ? json_array_size(member(c, root, "", "runs", JSON_ARRAY)) : 1;
    if (c->rc == 0 && n == 0)
        fail(c, "", "runs", "empty");
    if (c->rc != 0)
        return c->rc;
    f->runs = calloc(n, sizeof(*f->runs));
    f->runp = calloc(n, sizeof(*f->runp));
    if (!f->runs || !f->runp) {
        oom(c);
        return c->rc;
    }
    char p[PATH_MAX_LEN];
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        json_t *ro = sweep ? json_array_get(runs, i) : root;
        sub(p, "", "runs", (long)i);
        f->nruns = i + 1;
        f->runp[i] = &f->runs[i].res;
        if (!json_is_object(ro)) {
            fail(c, p, NULL, "expected an object");
            break;
        }
        get_run(c, ro, sweep ? p : "", &f->runs[i]);
        f->runs[i].res.interrupted = sweep ? get_bool(c, ro, p, "interrupted") : f->rep.interrupted;
        f->runs[i].res.started_at = f->rep.started_at;
    }
    json_t *aborted = json_object_get(root, "aborted");
    if (c->rc == 0 && json_is_string(aborted))
        snprintf(f->runs[f->nruns - 1].res.aborted, sizeof(f->runs[0].res.aborted), "%s",
                 json_string_value(aborted));
    if (c->rc == 0) {
        f->rep.shard_index = f->runs[0].shard_index;
        f->rep.shard_count = f->runs[0].shard_count;
    }
    f->rep.nruns = f->nruns;
    f->rep.runs = f->runp;
    f->rep.sweep = sweep;
    return c->rc;
}

int pv_report_read_text(const char *name, const char *text, size_t len, pv_report_file **out,
                        pv_err *err)
{
    *out = NULL;
    pv_report_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->name = strdup(name))) {
        free(f);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc;
    if (!root) {
        rc = pv_err_set(err, VOLLEY_EINPUT, "%s:%d:%d: not a JSON report: %s", name, je.line,
                        je.column, je.text);
    } else {
        struct rd c = {name, err, 0};
        rc = read_root(&c, root, f);
        json_decref(root);
    }
    if (rc != 0) {
        pv_report_file_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

int pv_report_read(const char *path, pv_report_file **out, pv_err *err)
{
    *out = NULL;
    pv_buf b = PV_BUF_INIT;
    int rc = pv_buf_read_file(&b, path, err);
    if (rc == 0)
        rc = pv_report_read_text(path, b.data ? b.data : "", b.len, out, err);
    pv_buf_fini(&b);
    return rc;
}

void pv_report_file_destroy(pv_report_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->runs && i < f->nruns; i++)
        free_run(&f->runs[i]);
    free(f->runs);
    free(f->runp);
    free(f->name);
    free(f);
}

const struct pv_report *pv_report_file_report(const pv_report_file *f)
{
    return &f->rep;
}

const char *pv_report_file_name(const pv_report_file *f)
{
    return f->name;
}
