/* test_report_writers.c - JSON, table and Markdown reports of a hand-built run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_report.h"
#include "report/pv_threshold.h"

#define US 1000ull
#define MS 1000000ull

/* 2026-11-23T11:33:04Z */
#define STARTED_AT 1795433584.0

#define LONG_NAME   "a_really_long_file_name_that_goes_on_and_on_and_on_forever.sql"
#define TIMEOUT_MSG "canceling statement due to statement timeout"
#define SYNTAX_MSG  "syntax error at or near \"|\""

/* ---- the model ------------------------------------------------------------ */

/*
 * Two files, one run at concurrency 4 over a wall time of 1.25 s:
 *
 *   orders_by_customer.sql  scenario_1 [1,"open"]:   ok 100, 200, 300 ms (5 rows each)
 *                           scenario_2 [2,"closed"]: ok 400, 500 ms (1 row each),
 *                                                    57014 after 1000 ms
 *   LONG_NAME               scenario_1 []:           ok 4 x 250 ms, 57014 after 1000 ms,
 *                                                    42601 after 50 ms
 *
 * executions 12 (9 ok, 3 failed), rows 17, sum of latencies 4550 ms:
 * qps = 12 / 1.25 = 9.6, speedup = 4.55 / 1.25 = 3.64,
 * latency of successes: min 100, max 500, avg 2500 / 9 = 277.78 ms.
 */
struct model {
    struct pv_scenario sc_a[2], sc_b[1];
    struct pv_query qa, qb;
    struct pv_scenario_result sr_a[2], sr_b[1];
    struct pv_query_result qr[2];
    struct pv_run_result run;
    struct pv_target_info target;
};

static void rec_ok(struct pv_stat *s, uint64_t ms, uint64_t rows)
{
    assert_int_equal(pv_stat_ok(s, ms * MS, rows), 0);
}

static void rec_fail(struct pv_stat *s, uint64_t ms, const char *code, const char *msg)
{
    assert_int_equal(pv_stat_fail(s, ms * MS, code, msg), 0);
}

static void model_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
    m->sc_a[0] = (struct pv_scenario){"scenario_1", 2, NULL, "[1,\"open\"]", 3, NULL};
    m->sc_a[1] = (struct pv_scenario){"scenario_2", 2, NULL, "[2,\"closed\"]", 3, NULL};
    m->sc_b[0] = (struct pv_scenario){"scenario_1", 0, NULL, "[]", 6, NULL};
    m->qa.path = "examples/orders_by_customer.sql";
    m->qa.name = "orders_by_customer.sql";
    m->qa.sql = "SELECT * FROM orders WHERE customer_id = $1 AND status = $2";
    m->qa.nparams = 2;
    m->qa.nscenarios = 2;
    m->qa.scenarios = m->sc_a;
    m->qa.exec_count = 3;
    m->qb.path = "examples/" LONG_NAME;
    m->qb.name = LONG_NAME;
    m->qb.sql = "SELECT pg_sleep(0.25)";
    m->qb.nscenarios = 1;
    m->qb.scenarios = m->sc_b;
    m->qb.exec_count = 6;

    for (int i = 0; i < 2; i++) {
        m->sr_a[i].scenario = &m->sc_a[i];
        assert_int_equal(pv_stat_init(&m->sr_a[i].stat), 0);
    }
    m->sr_b[0].scenario = &m->sc_b[0];
    assert_int_equal(pv_stat_init(&m->sr_b[0].stat), 0);

    rec_ok(&m->sr_a[0].stat, 100, 5);
    rec_ok(&m->sr_a[0].stat, 200, 5);
    rec_ok(&m->sr_a[0].stat, 300, 5);
    rec_ok(&m->sr_a[1].stat, 400, 1);
    rec_ok(&m->sr_a[1].stat, 500, 1);
    rec_fail(&m->sr_a[1].stat, 1000, "57014", TIMEOUT_MSG);
    for (int i = 0; i < 4; i++)
        rec_ok(&m->sr_b[0].stat, 250, 0);
    rec_fail(&m->sr_b[0].stat, 1000, "57014", TIMEOUT_MSG);
    rec_fail(&m->sr_b[0].stat, 50, "42601", SYNTAX_MSG);

    m->qr[0] = (struct pv_query_result){.query = &m->qa, .scenarios = m->sr_a};
    m->qr[1] = (struct pv_query_result){.query = &m->qb, .scenarios = m->sr_b};
    struct pv_run_result *r = &m->run;
    assert_int_equal(pv_stat_init(&m->qr[0].stat), 0);
    assert_int_equal(pv_stat_init(&m->qr[1].stat), 0);
    assert_int_equal(pv_stat_init(&r->total), 0);
    assert_int_equal(pv_stat_merge(&m->qr[0].stat, &m->sr_a[0].stat), 0);
    assert_int_equal(pv_stat_merge(&m->qr[0].stat, &m->sr_a[1].stat), 0);
    assert_int_equal(pv_stat_merge(&m->qr[1].stat, &m->sr_b[0].stat), 0);
    assert_int_equal(pv_stat_merge(&r->total, &m->qr[0].stat), 0);
    assert_int_equal(pv_stat_merge(&r->total, &m->qr[1].stat), 0);

    r->concurrency = 4;
    r->threads = 2;
    r->pool = (struct pv_pool_config){1, 4, 30, 3600, 10};
    r->command_timeout_s = 30;
    r->protocol = PV_PROTOCOL_EXTENDED;
    r->started_at = STARTED_AT;
    r->wall_s = 1.25;
    r->nqueries = 2;
    r->queries = m->qr;
    r->pool_stats = (struct pv_pool_stats){.opened = 3,
                                           .closed = 3,
                                           .connect_failed = 0,
                                           .lost = 1,
                                           .timeouts = 2,
                                           .max_in_use = 3,
                                           .max_open = 3,
                                           .wanted = 3,
                                           .connect_s = 0.012};
    assert_int_equal(pv_hist_create(&r->pool_stats.acquire_wait), 0);
    assert_int_equal(pv_hist_record(r->pool_stats.acquire_wait, 10 * US), 0);
    assert_int_equal(pv_hist_record(r->pool_stats.acquire_wait, 20 * US), 0);
    assert_int_equal(pv_hist_record(r->pool_stats.acquire_wait, 50 * US), 0);

    snprintf(m->target.host, sizeof(m->target.host), "db.example.com");
    m->target.port = 5433;
    snprintf(m->target.dbname, sizeof(m->target.dbname), "shop");
    snprintf(m->target.user, sizeof(m->target.user), "alice");
    snprintf(m->target.server_version, sizeof(m->target.server_version), "15.18");
    m->target.server_version_num = 150018;
}

static void model_fini(struct model *m)
{
    for (int i = 0; i < 2; i++) {
        pv_stat_fini(&m->sr_a[i].stat);
        pv_stat_fini(&m->qr[i].stat);
    }
    pv_stat_fini(&m->sr_b[0].stat);
    pv_stat_fini(&m->run.total);
    pv_hist_destroy(m->run.pool_stats.acquire_wait);
}

static struct pv_report report_of(const struct model *m, const struct pv_run_result *const *runs,
                                  size_t n, bool sweep)
{
    return (struct pv_report){&m->target, n, runs, sweep, false, STARTED_AT,
                              0,          0, NULL, NULL,  NULL};
}

/* Renders with a writer; the text is the caller's to free. */
static char *render(int (*writer)(const struct pv_report *, pv_buf *), const struct pv_report *r)
{
    pv_buf b = PV_BUF_INIT;
    assert_int_equal(writer(r, &b), 0);
    char *s = strdup(pv_buf_str(&b));
    assert_non_null(s);
    pv_buf_fini(&b);
    return s;
}

/* ---- helpers for JSON ------------------------------------------------------- */

/* Follows a dotted path; numeric parts index arrays: "queries.0.name". */
static json_t *jpath(json_t *v, const char *path)
{
    char part[64];
    const char *p = path;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        assert_true(n < sizeof(part));
        memcpy(part, p, n);
        part[n] = '\0';
        if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(part, &end, 10);
            v = *end ? NULL : json_array_get(v, i);
        } else {
            v = json_object_get(v, part);
        }
        p += n + (dot ? 1 : 0);
    }
    return v;
}

static json_t *jmust(json_t *root, const char *path)
{
    json_t *v = jpath(root, path);
    if (!v)
        fail_msg("missing %s", path);
    return v;
}

static void assert_jint(json_t *root, const char *path, long long want)
{
    json_t *v = jmust(root, path);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", path);
    if (json_integer_value(v) != want)
        fail_msg("%s = %lld, want %lld", path, (long long)json_integer_value(v), want);
}

static void assert_jreal(json_t *root, const char *path, double want, double tol)
{
    json_t *v = jmust(root, path);
    if (!json_is_real(v))
        fail_msg("%s is not a real", path);
    if (fabs(json_real_value(v) - want) > tol)
        fail_msg("%s = %.9g, want %.9g", path, json_real_value(v), want);
}

static void assert_jstr(json_t *root, const char *path, const char *want)
{
    json_t *v = jmust(root, path);
    if (!json_is_string(v))
        fail_msg("%s is not a string", path);
    if (strcmp(json_string_value(v), want) != 0)
        fail_msg("%s = \"%s\", want \"%s\"", path, json_string_value(v), want);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    if (!root)
        fail_msg("JSON does not parse: %s at line %d", e.text, e.line);
    return root;
}

static const char *const latency_keys[] = {"min", "avg", "stddev", "p50", "p90",
                                           "p95", "p99", "p999",   "max"};

static void assert_latency_keys(json_t *root, const char *path)
{
    json_t *l = jmust(root, path);
    assert_int_equal(json_object_size(l), PV_ARRAY_LEN(latency_keys) + 1);
    json_t *h = json_object_get(l, "histogram"); /* Contract 3: the lossless encoding */
    if (!h || !json_is_string(h) || strncmp(json_string_value(h), "pvh1.", 5) != 0)
        fail_msg("%s.histogram missing or not an encoded histogram", path);
    for (size_t i = 0; i < PV_ARRAY_LEN(latency_keys); i++) {
        json_t *v = json_object_get(l, latency_keys[i]);
        if (!v || !json_is_real(v))
            fail_msg("%s.%s missing or not a real", path, latency_keys[i]);
    }
}

/* The figures of one run, at prefix ("" or "runs.N."). */
static void assert_run_figures(json_t *root, const char *prefix, int concurrency)
{
    char path[128];
#define P(s) (snprintf(path, sizeof(path), "%s%s", prefix, (s)), path)
    assert_jint(root, P("config.concurrency"), concurrency);
    assert_jint(root, P("config.threads"), 2);
    assert_jstr(root, P("config.protocol"), "extended");
    assert_jstr(root, P("config.mode"), "count");
    assert_jreal(root, P("config.command_timeout_s"), 30, 1e-9);
    assert_jint(root, P("config.pool.size"), 1);
    assert_jint(root, P("config.pool.max_overflow"), 4);
    assert_jreal(root, P("config.pool.timeout_s"), 30, 1e-9);
    assert_jreal(root, P("config.pool.recycle_s"), 3600, 1e-9);
    assert_jreal(root, P("config.pool.connect_timeout_s"), 10, 1e-9);

    assert_jint(root, P("summary.executions"), 12);
    assert_jint(root, P("summary.succeeded"), 9);
    assert_jint(root, P("summary.failed"), 3);
    assert_jint(root, P("summary.rows"), 17);
    assert_jreal(root, P("summary.wall_s"), 1.25, 1e-9);
    assert_jreal(root, P("summary.qps"), 9.6, 1e-9);
    assert_jreal(root, P("summary.sum_latency_s"), 4.55, 1e-9);
    assert_jreal(root, P("summary.speedup"), 3.64, 1e-6);
    assert_latency_keys(root, P("summary.latency_ms"));
    assert_jreal(root, P("summary.latency_ms.min"), 100, 1e-9);
    assert_jreal(root, P("summary.latency_ms.max"), 500, 1e-9);
    assert_jreal(root, P("summary.latency_ms.avg"), 2500.0 / 9, 1e-3);
    assert_jreal(root, P("summary.latency_ms.p50"), 250, 250.0 / 1024);

    assert_int_equal(json_array_size(jmust(root, P("queries"))), 2);
    assert_jstr(root, P("queries.0.file"), "examples/orders_by_customer.sql");
    assert_jstr(root, P("queries.0.name"), "orders_by_customer.sql");
    assert_jstr(root, P("queries.0.sql"),
                "SELECT * FROM orders WHERE customer_id = $1 AND status = $2");
    assert_jint(root, P("queries.0.parameters_count"), 2);
    assert_jint(root, P("queries.0.executions"), 6);
    assert_jint(root, P("queries.0.succeeded"), 5);
    assert_jint(root, P("queries.0.failed"), 1);
    assert_jint(root, P("queries.0.rows"), 17);
    assert_jreal(root, P("queries.0.qps"), 4.8, 1e-9);
    assert_jreal(root, P("queries.0.sum_latency_s"), 2.5, 1e-9);
    assert_latency_keys(root, P("queries.0.latency_ms"));
    assert_jstr(root, P("queries.0.errors.0.sqlstate"), "57014");
    assert_jint(root, P("queries.0.errors.0.count"), 1);

    assert_int_equal(json_array_size(jmust(root, P("queries.0.scenarios"))), 2);
    assert_jstr(root, P("queries.0.scenarios.0.name"), "scenario_1");
    json_t *params = jmust(root, P("queries.0.scenarios.0.parameters"));
    assert_true(json_is_array(params));
    assert_int_equal(json_array_size(params), 2);
    assert_jint(root, P("queries.0.scenarios.0.parameters.0"), 1);
    assert_jstr(root, P("queries.0.scenarios.0.parameters.1"), "open");
    assert_jint(root, P("queries.0.scenarios.0.executions"), 3);
    assert_jint(root, P("queries.0.scenarios.0.failed"), 0);
    assert_jreal(root, P("queries.0.scenarios.0.qps"), 2.4, 1e-9);
    assert_latency_keys(root, P("queries.0.scenarios.0.latency_ms"));
    assert_jreal(root, P("queries.0.scenarios.0.latency_ms.avg"), 200, 1e-6);
    assert_int_equal(json_array_size(jmust(root, P("queries.0.scenarios.0.errors"))), 0);
    assert_jstr(root, P("queries.0.scenarios.1.name"), "scenario_2");
    assert_jstr(root, P("queries.0.scenarios.1.parameters.1"), "closed");
    assert_jint(root, P("queries.0.scenarios.1.failed"), 1);
    assert_jstr(root, P("queries.0.scenarios.1.errors.0.sqlstate"), "57014");
    assert_jstr(root, P("queries.0.scenarios.1.errors.0.message"), TIMEOUT_MSG);
    assert_jint(root, P("queries.0.scenarios.1.errors.0.count"), 1);

    assert_jstr(root, P("queries.1.name"), LONG_NAME); /* JSON keeps names whole */
    assert_jint(root, P("queries.1.parameters_count"), 0);
    json_t *none = jmust(root, P("queries.1.scenarios.0.parameters"));
    assert_true(json_is_array(none));
    assert_int_equal(json_array_size(none), 0);

    /* Errors of the run, most frequent first. */
    assert_int_equal(json_array_size(jmust(root, P("errors"))), 2);
    assert_jstr(root, P("errors.0.sqlstate"), "57014");
    assert_jstr(root, P("errors.0.message"), TIMEOUT_MSG);
    assert_jint(root, P("errors.0.count"), 2);
    assert_jstr(root, P("errors.1.sqlstate"), "42601");
    assert_jstr(root, P("errors.1.message"), SYNTAX_MSG);
    assert_jint(root, P("errors.1.count"), 1);

    assert_jint(root, P("pool.opened"), 3);
    assert_jint(root, P("pool.closed"), 3);
    assert_jint(root, P("pool.connect_failed"), 0);
    assert_jint(root, P("pool.lost"), 1);
    assert_jint(root, P("pool.timeouts"), 2);
    assert_jint(root, P("pool.max_in_use"), 3);
    assert_jreal(root, P("pool.connect_s"), 0.012, 1e-9);
    assert_latency_keys(root, P("pool.acquire_wait_ms"));
    assert_jreal(root, P("pool.acquire_wait_ms.min"), 0.010, 1e-9);
    assert_jreal(root, P("pool.acquire_wait_ms.max"), 0.050, 1e-9);
#undef P
}

static void assert_header(json_t *root)
{
    assert_jstr(root, "schema", "pgvolley.report/1");
    assert_jstr(root, "tool.name", "pgvolley");
    assert_jstr(root, "tool.version", volley_version());
    assert_jstr(root, "target.host", "db.example.com");
    assert_jint(root, "target.port", 5433);
    assert_jstr(root, "target.dbname", "shop");
    assert_jstr(root, "target.user", "alice");
    assert_jstr(root, "target.server_version", "15.18");
    assert_jstr(root, "started_at", "2026-11-23T11:33:04Z");
}

/* ---- helpers for text --------------------------------------------------------- */

/* The line of text that starts with prefix (copied into line), or NULL. */
static const char *find_line(const char *text, const char *prefix, char *line, size_t cap)
{
    size_t plen = strlen(prefix);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n >= plen && memcmp(p, prefix, plen) == 0) {
            assert_true(n < cap);
            memcpy(line, p, n);
            line[n] = '\0';
            return line;
        }
        p += n + (nl ? 1 : 0);
    }
    return NULL;
}

static void assert_has_line(const char *text, const char *prefix)
{
    char line[512];
    if (!find_line(text, prefix, line, sizeof(line)))
        fail_msg("no line starting with \"%s\" in:\n%s", prefix, text);
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" not found in:\n%s", needle, text);
}

/* Splits a table row into its name and numbers (the name has no spaces). */
static size_t row_numbers(const char *line, char *name, size_t namecap, double *v, size_t max)
{
    const char *p = line;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " ");
    assert_true(n < namecap);
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    size_t k = 0;
    while (k < max) {
        char *end;
        double d = strtod(p, &end);
        if (end == p)
            break;
        v[k++] = d;
        p = end + (*end == 'x'); /* a speedup, "3.64x" */
    }
    while (*p == ' ')
        p++;
    if (*p)
        fail_msg("unexpected text \"%s\" in row \"%s\"", p, line);
    return k;
}

static void assert_no_nan_inf(const char *text)
{
    if (strcasestr(text, "nan") || strcasestr(text, "inf"))
        fail_msg("nan or inf in:\n%s", text);
}

/* ---- JSON ---------------------------------------------------------------- */

static void test_json_single_run(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    char *text = render(pv_report_json, &rep);

    assert_true(strlen(text) > 2 && text[strlen(text) - 1] == '\n');
    assert_contains(text, "\n  \"schema\": \"pgvolley.report/1\""); /* indented by 2 */
    json_t *root = parse(text);
    assert_header(root);
    assert_true(json_is_false(jmust(root, "interrupted")));
    assert_null(json_object_get(root, "sweep"));
    assert_null(json_object_get(root, "runs"));
    assert_run_figures(root, "", 4);

    json_decref(root);
    free(text);
    model_fini(&m);
}

static void test_json_interrupted(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    m.run.interrupted = true;
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    char *text = render(pv_report_json, &rep);
    json_t *root = parse(text);
    assert_true(json_is_true(jmust(root, "interrupted")));
    json_decref(root);
    free(text);
    model_fini(&m);
}

static void test_json_sweep(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    struct pv_run_result second = m.run; /* the same figures at another level */
    second.concurrency = 8;
    const struct pv_run_result *runs[] = {&m.run, &second};
    struct pv_report rep = report_of(&m, runs, 2, true);
    char *text = render(pv_report_json, &rep);
    json_t *root = parse(text);

    assert_header(root);
    assert_true(json_is_true(jmust(root, "sweep")));
    assert_true(json_is_false(jmust(root, "interrupted")));
    assert_null(json_object_get(root, "summary"));
    assert_null(json_object_get(root, "queries"));
    assert_int_equal(json_array_size(jmust(root, "runs")), 2);
    assert_run_figures(root, "runs.0.", 4);
    assert_run_figures(root, "runs.1.", 8);

    json_decref(root);
    free(text);
    model_fini(&m);
}

static void test_json_bad_utf8_and_odd_params(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    /* A message in another encoding, a parameter set with a huge integer. */
    assert_int_equal(pv_stat_fail(&m.run.total, 0, "22021", "bad \xff\nbyte"), 0);
    m.sc_a[0].params_json = "[123456789012345678901234567890, {\"k\": null}]";
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    char *text = render(pv_report_json, &rep);
    json_t *root = parse(text);
    assert_jstr(root, "errors.1.sqlstate", "22021"); /* count 1, before 42601 */
    assert_jstr(root, "errors.1.message", "bad \xEF\xBF\xBD\nbyte");
    assert_jreal(root, "queries.0.scenarios.0.parameters.0", 1.2345678901234568e29, 1e24);
    assert_true(json_is_null(jmust(root, "queries.0.scenarios.0.parameters.1.k")));
    json_decref(root);
    free(text);

    /* The table shows the control character as a space, the bad byte as '?'. */
    text = render(pv_report_table, &rep);
    assert_contains(text, "  22021  1  bad ? byte\n");
    free(text);
    model_fini(&m);
}

/* ---- table -------------------------------------------------------------- */

static void test_table_single_run(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    char *text = render(pv_report_table, &rep);
    char line[512], name[64];
    double v[16];

    assert_has_line(text, "Target: db.example.com:5433/shop as alice (PostgreSQL 15.18)");
    assert_has_line(text, "Config: concurrency 4, threads 2, protocol extended, pool 1+4, "
                          "mode count");

    /* Header: the name column is as wide as the longest name, at most 48. */
    assert_non_null(find_line(text, "Name ", line, sizeof(line)));
    size_t width = strlen(line);
    assert_int_equal(width, 48 + 9 * 12);
    assert_int_equal(strstr(line, "Executions") - line, 48 + 2);
    const char *titles[] = {"Executions", "OK",     "Failed", "Avg ms", "p50 ms",
                            "p95 ms",     "p99 ms", "Max ms", "QPS"};
    for (size_t i = 0; i < PV_ARRAY_LEN(titles); i++)
        assert_contains(line, titles[i]);
    assert_non_null(find_line(text, "-----", line, sizeof(line)));
    assert_int_equal(strlen(line), width);

    /* File row, then its scenarios indented by two. */
    assert_non_null(find_line(text, "orders_by_customer.sql ", line, sizeof(line)));
    assert_int_equal(strlen(line), width);
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 9);
    assert_true(v[0] == 6 && v[1] == 5 && v[2] == 1);
    assert_true(fabs(v[3] - 300.0) < 0.0005); /* avg of 100..500 */
    assert_true(fabs(v[7] - 500.0) < 0.0005); /* max */
    assert_true(fabs(v[8] - 4.8) < 0.05);     /* 6 / 1.25 */
    assert_non_null(find_line(text, "  scenario_1 ", line, sizeof(line)));
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 9);
    assert_true(v[0] == 3 && v[1] == 3 && v[2] == 0 && fabs(v[3] - 200) < 0.0005);
    assert_int_equal(strlen(line), width);
    assert_non_null(find_line(text, "  scenario_2 ", line, sizeof(line)));
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 9);
    assert_true(v[0] == 3 && v[1] == 2 && v[2] == 1 && fabs(v[3] - 450) < 0.0005);

    /* The long name is cut to 48 columns; its only scenario has no row. */
    char cut[64];
    snprintf(cut, sizeof(cut), "%.45s... ", LONG_NAME);
    assert_true(strlen(LONG_NAME) > 48);
    assert_null(strstr(text, LONG_NAME));
    assert_non_null(find_line(text, cut, line, sizeof(line)));
    assert_int_equal(strlen(line), width);
    const char *after = strstr(text, cut);
    after = strchr(after, '\n') + 1;
    assert_true(strncmp(after, "-----", 5) == 0);

    /* Total. */
    assert_non_null(find_line(text, "Total ", line, sizeof(line)));
    assert_int_equal(strlen(line), width);
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 9);
    assert_true(v[0] == 12 && v[1] == 9 && v[2] == 3);
    assert_true(fabs(v[3] - 277.778) < 0.0005);
    assert_true(fabs(v[4] - 250) < 250.0 / 1024); /* p50, within the histogram's resolution */
    assert_true(fabs(v[5] - 500) < 500.0 / 1024 && fabs(v[6] - 500) < 500.0 / 1024);
    assert_true(fabs(v[7] - 500) < 0.0005);
    assert_true(fabs(v[8] - 9.6) < 0.05);
    assert_contains(text, "      9.6\n");

    /* Summary. */
    assert_has_line(text, "Summary");
    assert_has_line(text, "  Executions:      12 (9 ok, 3 failed)");
    assert_has_line(text, "  Sequential time: 4.550 s (sum of latencies)");
    assert_has_line(text, "  Wall time:       1.250 s");
    assert_has_line(text, "  Speedup:         3.64x");
    assert_has_line(text, "  Throughput:      9.6 queries/s");
    assert_has_line(text, "  Pool:            3 opened, connect 0.012 s, acquire wait p99 "
                          "0.050 ms, 2 timeouts, 1 lost");

    /* Errors by SQLSTATE, most frequent first. */
    const char *errs = strstr(text, "\nErrors by SQLSTATE\n");
    assert_non_null(errs);
    const char *e1 = strstr(errs, "  57014  2  " TIMEOUT_MSG "\n");
    const char *e2 = strstr(errs, "  42601  1  " SYNTAX_MSG "\n");
    assert_non_null(e1);
    assert_non_null(e2);
    assert_true(e1 < e2);
    assert_null(strstr(text, "INTERRUPTED"));
    assert_no_nan_inf(text);

    free(text);
    model_fini(&m);
}

static void test_table_interrupted_and_long_message(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    char msg[400];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    assert_int_equal(pv_stat_fail(&m.run.total, 0, "XX000", msg), 0);
    m.run.duration_s = 30;
    m.run.warmup_s = 5;
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    rep.interrupted = true;
    char *text = render(pv_report_table, &rep);
    char line[512];

    assert_contains(text, ", mode time 30s, warmup 5s");
    assert_has_line(text, "INTERRUPTED: partial results");
    assert_non_null(find_line(text, "  XX000  1  xxx", line, sizeof(line)));
    assert_true(strlen(line) < 160);
    assert_true(strlen(line) > 150);
    assert_true(strcmp(line + strlen(line) - 4, "x...") == 0);
    free(text);

    text = render(pv_report_markdown, &rep);
    assert_contains(text, "**INTERRUPTED: partial results**");
    free(text);
    model_fini(&m);
}

static void test_table_sweep(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    struct pv_run_result second = m.run;
    second.concurrency = 16;
    second.pool.size = 4;
    second.pool.max_overflow = 16;
    second.wall_s = 0.5;
    const struct pv_run_result *runs[] = {&m.run, &second};
    struct pv_report rep = report_of(&m, runs, 2, true);
    char *text = render(pv_report_table, &rep);
    char line[512], name[64];
    double v[16];

    assert_has_line(text, "Config: concurrency 4,16, threads 2, protocol extended, "
                          "pool 1+4,4+16, mode count");
    assert_non_null(find_line(text, "Concurrency  ", line, sizeof(line)));
    size_t width = strlen(line);
    assert_contains(line, "Speedup");
    assert_contains(line, "QPS");
    assert_null(strstr(text, "orders_by_customer.sql")); /* no per-file rows */

    assert_non_null(find_line(text, "          4  ", line, sizeof(line)));
    assert_int_equal(strlen(line), width);
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 10);
    assert_string_equal(name, "4");
    assert_true(v[0] == 12 && v[1] == 9 && v[2] == 3);
    assert_true(fabs(v[8] - 9.6) < 0.05);
    assert_contains(line, "  3.64x");

    assert_non_null(find_line(text, "         16  ", line, sizeof(line)));
    assert_int_equal(row_numbers(line, name, sizeof(name), v, 16), 10);
    assert_true(fabs(v[8] - 24.0) < 0.05); /* 12 / 0.5 */
    assert_contains(line, "  9.10x");      /* 4.55 / 0.5 */

    assert_contains(text, "\nErrors by SQLSTATE\n");
    assert_contains(text, "  c=4   57014  2  " TIMEOUT_MSG "\n");
    assert_contains(text, "  c=16  57014  2  " TIMEOUT_MSG "\n");
    assert_contains(text, "  c=16  42601  1  " SYNTAX_MSG "\n");
    assert_no_nan_inf(text);
    free(text);

    text = render(pv_report_markdown, &rep);
    assert_contains(text, "| Concurrency | Executions | OK | Failed | Avg ms | p50 ms | p95 ms "
                          "| p99 ms | Max ms | QPS | Speedup |\n"
                          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                          "| ---: |\n");
    assert_contains(text, "| 16 | 12 | 9 | 3 | 277.778 | ");
    assert_contains(text, "| 24.0 | 9.10x |\n");
    assert_contains(text, "| 16 | 42601 | 1 | syntax error at or near \"\\|\" |\n");
    free(text);
    model_fini(&m);
}

/* ---- markdown ----------------------------------------------------------- */

static void test_markdown_single_run(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    const struct pv_run_result *runs[] = {&m.run};
    struct pv_report rep = report_of(&m, runs, 1, false);
    char *text = render(pv_report_markdown, &rep);

    assert_true(strncmp(text, "## pgvolley run\n", 16) == 0);
    assert_contains(text, "- Target: `db.example.com:5433/shop` as `alice` (PostgreSQL 15.18)\n");
    assert_contains(text, "- Config: concurrency 4, threads 2, protocol extended, pool 1+4, "
                          "mode count");
    assert_contains(text, "\n| Name | Executions | OK | Failed | Avg ms | p50 ms | p95 ms "
                          "| p99 ms | Max ms | QPS |\n"
                          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                          "| ---: |\n");
    assert_contains(text, "\n| orders_by_customer.sql | 6 | 5 | 1 | 300.000 | ");
    assert_contains(text, "\n| &nbsp;&nbsp;scenario_2 | 3 | 2 | 1 | 450.000 | ");
    assert_contains(text, "\n| " LONG_NAME " | 6 | 4 | 2 | 250.000 | "); /* whole */
    assert_contains(text, "\n| **Total** | 12 | 9 | 3 | 277.778 | ");
    assert_contains(text, "\n### Summary\n");
    assert_contains(text, "| Executions | 12 (9 ok, 3 failed) |\n");
    assert_contains(text, "| Speedup | 3.64x |\n");
    assert_contains(text, "| Throughput | 9.6 queries/s |\n");
    assert_contains(text, "\n### Errors\n\n| SQLSTATE | Count | First message |\n"
                          "| --- | ---: | --- |\n"
                          "| 57014 | 2 | " TIMEOUT_MSG " |\n"
                          "| 42601 | 1 | syntax error at or near \"\\|\" |\n");
    assert_null(strstr(text, "INTERRUPTED"));
    assert_no_nan_inf(text);
    free(text);
    model_fini(&m);
}

/* ---- empty run ------------------------------------------------------------ */

static void test_empty_run(void **state)
{
    (void)state;
    struct pv_scenario sc = {"scenario_1", 0, NULL, "[]", 5, NULL};
    struct pv_query q = {.path = "e.sql",
                         .name = "e.sql",
                         .sql = "SELECT 1",
                         .nscenarios = 1,
                         .scenarios = &sc,
                         .exec_count = 5};
    struct pv_scenario_result sr = {&sc, {0}};
    struct pv_query_result qr = {.query = &q, .scenarios = &sr};
    struct pv_run_result run;
    memset(&run, 0, sizeof(run));
    run.concurrency = 1;
    run.threads = 1;
    run.nqueries = 1;
    run.queries = &qr;
    assert_int_equal(pv_stat_init(&sr.stat), 0);
    assert_int_equal(pv_stat_init(&qr.stat), 0);
    assert_int_equal(pv_stat_init(&run.total), 0);
    struct pv_target_info target;
    memset(&target, 0, sizeof(target));
    const struct pv_run_result *runs[] = {&run, &run};

    for (int sweep = 0; sweep < 2; sweep++) {
        struct pv_report rep = {&target, (size_t)sweep + 1, runs, sweep, false, 0, 0, 0, NULL, NULL,
                                NULL};
        char *text = render(pv_report_json, &rep);
        assert_no_nan_inf(text);
        json_t *root = parse(text);
        const char *pre = sweep ? "runs.1." : "";
        char path[64];
        snprintf(path, sizeof(path), "%ssummary.qps", pre);
        assert_jreal(root, path, 0, 0);
        snprintf(path, sizeof(path), "%ssummary.speedup", pre);
        assert_jreal(root, path, 0, 0);
        snprintf(path, sizeof(path), "%ssummary.latency_ms.avg", pre);
        assert_jreal(root, path, 0, 0);
        snprintf(path, sizeof(path), "%spool.acquire_wait_ms.p99", pre);
        assert_jreal(root, path, 0, 0);
        snprintf(path, sizeof(path), "%serrors", pre);
        assert_int_equal(json_array_size(jmust(root, path)), 0);
        assert_jstr(root, "started_at", "1970-01-01T00:00:00Z");
        json_decref(root);
        free(text);

        text = render(pv_report_table, &rep);
        assert_no_nan_inf(text);
        if (!sweep) {
            assert_contains(text, "  Speedup:         0.00x\n");
            assert_contains(text, "  Throughput:      0.0 queries/s\n");
        }
        assert_null(strstr(text, "Errors by SQLSTATE"));
        free(text);

        text = render(pv_report_markdown, &rep);
        assert_no_nan_inf(text);
        assert_null(strstr(text, "### Errors"));
        free(text);
    }

    /* No query at all. */
    run.nqueries = 0;
    struct pv_report rep = {NULL, 1, runs, false, false, STARTED_AT, 0, 0, NULL, NULL, NULL};
    char *text = render(pv_report_json, &rep);
    json_t *root = parse(text);
    assert_true(json_is_null(jmust(root, "target")));
    assert_int_equal(json_array_size(jmust(root, "queries")), 0);
    json_decref(root);
    free(text);
    text = render(pv_report_table, &rep);
    assert_has_line(text, "Total ");
    free(text);

    pv_stat_fini(&sr.stat);
    pv_stat_fini(&qr.stat);
    pv_stat_fini(&run.total);
}

static void test_qps(void **state)
{
    (void)state;
    assert_true(pv_report_qps(10, 2.0) == 5.0);
    assert_true(pv_report_qps(0, 2.0) == 0.0);
    assert_true(pv_report_qps(10, 0.0) == 0.0);
    assert_true(pv_report_qps(0, 0.0) == 0.0);
    assert_true(pv_report_qps(10, -1.0) == 0.0);
    assert_true(pv_report_qps(10, NAN) == 0.0);
    assert_true(pv_report_qps(10, INFINITY) == 0.0);
}

/* ---- a suite (issue 12) ---------------------------------------------------- */

/* Two tests of the same run: "fast" without a target, "slow" missing
   "avg < 100ms" (277.78 ms) and diagnosed. */
static void test_suite_report(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    pv_thresholds *th = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_thresholds_create(&th), 0);
    assert_int_equal(pv_thresholds_add_option(th, "avg < 100ms", &err), 0);
    const char *findings[] = {"sequential scan on orders (1,000 rows) filtered by status"};
    struct pv_report_test tests[2] = {
        {.name = "fast", .category = "simple", .file = "01-simple/fast.sql", .pass = true},
        {.name = "slow",
         .category = "indexed",
         .file = "02-indexed/slow.sql",
         .thresholds = th,
         .pass = false,
         .diagnosis_json = "{\"findings\": [{\"kind\": \"seq_scan\"}], \"notes\": []}",
         .findings = findings,
         .nfindings = 1},
    };
    struct pv_report_suite suite = {"mine", "suites/mine", tests};
    const struct pv_run_result *runs[2] = {&m.run, &m.run};
    struct pv_report rep = report_of(&m, runs, 2, false);
    rep.suite = &suite;

    char *text = render(pv_report_json, &rep);
    json_t *root = parse(text);
    assert_null(json_object_get(root, "sweep"));
    assert_jstr(root, "suite.name", "mine");
    assert_jstr(root, "suite.source", "suites/mine");
    assert_jint(root, "suite.tests", 2);
    assert_jint(root, "suite.passed", 1);
    assert_jint(root, "suite.failed", 1);
    assert_jstr(root, "suite.categories.1.name", "indexed");
    assert_jint(root, "suite.categories.1.failed", 1);
    assert_jreal(root, "suite.categories.0.avg_ms", 2500.0 / 9, 0.01);
    assert_jreal(root, "suite.overall.qps", 9.6, 1e-9);
    assert_jint(root, "suite.overall.executions", 24);
    assert_jint(root, "suite.overall.failed", 6);
    assert_jstr(root, "runs.0.test.name", "fast");
    assert_jstr(root, "runs.1.test.file", "02-indexed/slow.sql");
    assert_true(json_is_false(jmust(root, "runs.1.test.pass")));
    assert_null(json_object_get(jmust(root, "runs.0"), "thresholds"));
    assert_null(json_object_get(jmust(root, "runs.0"), "diagnosis"));
    assert_jstr(root, "runs.1.thresholds.0.expr", "avg < 100ms");
    assert_jstr(root, "runs.1.diagnosis.findings.0.kind", "seq_scan");
    assert_jint(root, "runs.1.summary.executions", 12);
    json_decref(root);
    free(text);

    text = render(pv_report_table, &rep);
    assert_non_null(
        strstr(text, "pgvolley suite mine (suites/mine)\nTarget: db.example.com:5433/shop"));
    assert_non_null(strstr(text, "\nsimple\n  fast "));
    assert_non_null(strstr(text, "\nindexed\n  slow "));
    assert_non_null(strstr(text, "  -\n")); /* no target */
    assert_non_null(strstr(text, "  FAIL\n"));
    assert_non_null(strstr(text, "Total Queries Executed: 24\nTotal Errors: 6\n"));
    assert_non_null(strstr(text, "Tests: 2, passed 1, failed 1\n"));
    assert_non_null(
        strstr(text, "Missed targets:\n  02-indexed/slow.sql\n    missed: avg < 100ms"));
    assert_non_null(strstr(text, "    3 of 12 executions failed\n"));
    assert_non_null(strstr(text, "    finding: sequential scan on orders (1,000 rows)"));
    free(text);

    text = render(pv_report_markdown, &rep);
    assert_non_null(strstr(text, "## pgvolley suite mine\n"));
    assert_non_null(strstr(text, "| indexed | slow | 4 | 12 | 3 | 277.778 |"));
    assert_non_null(strstr(text, "**FAIL** |"));
    assert_non_null(strstr(text, "  - finding: sequential scan on orders"));
    free(text);
    pv_thresholds_destroy(th);
    model_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qps),
        cmocka_unit_test(test_json_single_run),
        cmocka_unit_test(test_json_interrupted),
        cmocka_unit_test(test_json_sweep),
        cmocka_unit_test(test_json_bad_utf8_and_odd_params),
        cmocka_unit_test(test_table_single_run),
        cmocka_unit_test(test_table_interrupted_and_long_message),
        cmocka_unit_test(test_table_sweep),
        cmocka_unit_test(test_markdown_single_run),
        cmocka_unit_test(test_empty_run),
        cmocka_unit_test(test_suite_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
