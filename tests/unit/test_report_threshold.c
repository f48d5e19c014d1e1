/* test_report_threshold.c - threshold expressions: parsing, TARGET headers,
   evaluation on a hand-built run, the abort decision, the report pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_report.h"
#include "report/pv_threshold.h"

#define MS 1000000ull

/* ---- parsing -------------------------------------------------------------- */

static const struct pv_threshold *parse_ok(pv_thresholds *t, const char *text)
{
    pv_err err = {{0}};
    int rc = pv_thresholds_add_option(t, text, &err);
    if (rc != 0)
        fail_msg("'%s': %s", text, err.msg);
    return pv_thresholds_get(t, pv_thresholds_count(t) - 1);
}

static void test_parse_good(void **state)
{
    (void)state;
    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    const struct pv_threshold *th = parse_ok(t, "p95 < 5ms");
    assert_int_equal(th->metric, PV_TM_PCT);
    assert_true(th->pct == 95);
    assert_int_equal(th->op, PV_TOP_LT);
    assert_true(th->limit == 5);
    assert_null(th->scope);
    assert_string_equal(th->expr, "p95 < 5ms");
    assert_string_equal(th->source, "option");
    assert_string_equal(pv_threshold_unit(th), "ms");

    th = parse_ok(t, "  lookup.sql :  p99<=0.02s ");
    assert_string_equal(th->scope, "lookup.sql");
    assert_string_equal(th->expr, "p99<=0.02s");
    assert_int_equal(th->op, PV_TOP_LE);
    assert_true(fabs(th->limit - 20) < 1e-9);

    th = parse_ok(t, "avg < 1500us");
    assert_int_equal(th->metric, PV_TM_AVG);
    assert_true(fabs(th->limit - 1.5) < 1e-9);
    th = parse_ok(t, "max<3"); /* a bare number is ms */
    assert_int_equal(th->metric, PV_TM_MAX);
    assert_true(th->limit == 3);
    th = parse_ok(t, "p999 < 10ms");
    assert_true(fabs(th->pct - 99.9) < 1e-9);
    th = parse_ok(t, "p(99.99) < 10ms");
    assert_true(fabs(th->pct - 99.99) < 1e-9);
    th = parse_ok(t, "p9999 < 10ms");
    assert_true(fabs(th->pct - 99.99) < 1e-9);
    th = parse_ok(t, "P75 >= 1ms");
    assert_true(th->pct == 75);
    assert_int_equal(th->op, PV_TOP_GE);
    th = parse_ok(t, "median < 1");
    assert_true(th->pct == 50);

    th = parse_ok(t, "qps > 1000");
    assert_int_equal(th->metric, PV_TM_QPS);
    assert_string_equal(pv_threshold_unit(th), "qps");
    assert_true(th->limit == 1000);
    th = parse_ok(t, "error_rate < 0.1%");
    assert_int_equal(th->metric, PV_TM_ERROR_RATE);
    assert_true(fabs(th->limit - 0.1) < 1e-12);
    assert_string_equal(pv_threshold_unit(th), "%");
    th = parse_ok(t, "error_rate <= 0.001"); /* a fraction */
    assert_true(fabs(th->limit - 0.1) < 1e-12);
    th = parse_ok(t, "failed < 1");
    assert_int_equal(th->metric, PV_TM_FAILED);
    assert_string_equal(pv_threshold_unit(th), "count");
    th = parse_ok(t, "executions >= 100");
    assert_int_equal(th->metric, PV_TM_EXECUTIONS);
    th = parse_ok(t, "succeeded > 10");
    assert_int_equal(th->metric, PV_TM_SUCCEEDED);
    th = parse_ok(t, "a:b.sql: stddev < 2ms"); /* the last ':' ends the scope */
    assert_string_equal(th->scope, "a:b.sql");
    assert_int_equal(th->metric, PV_TM_STDDEV);
    pv_thresholds_destroy(t);
}

static void expect_bad(const char *text, const char *fragment)
{
    pv_thresholds *t;
    pv_err err = {{0}};
    assert_int_equal(pv_thresholds_create(&t), 0);
    int rc = pv_thresholds_add_option(t, text, &err);
    if (rc != VOLLEY_EINPUT)
        fail_msg("'%s' was accepted", text);
    if (!strstr(err.msg, fragment))
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, fragment);
    assert_int_equal(pv_thresholds_count(t), 0);
    pv_thresholds_destroy(t);
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_bad("", "expected a metric");
    expect_bad("p96x < 5ms", "unknown metric 'p96x'");
    expect_bad("latency < 5ms", "unknown metric 'latency'");
    expect_bad("p0 < 5", "unknown metric 'p0'");
    expect_bad("p101 < 5", "unknown metric 'p101'");
    expect_bad("p95 = 5ms", "expected <, <=, > or >=");
    expect_bad("p95", "expected <, <=, > or >=");
    expect_bad("p95 <", "expected a number");
    expect_bad("p95 < -5ms", "expected a number");
    expect_bad("p95 < 1e3", "unknown unit 'e3'");
    expect_bad("p95 < 5 xs", "unknown unit 'xs'");
    expect_bad("p95 < 5min", "unknown unit 'min'");
    expect_bad("p95 < 5ms and more", "unexpected 'and more'");
    expect_bad("p95 < 1.2.3ms", "expected a number");
    expect_bad("error_rate < 5", "a percentage (5%) or a fraction");
    expect_bad("error_rate < 150%", "at most 100%");
    expect_bad("error_rate < 1ms", "unknown unit 'ms' of error_rate");
    expect_bad("qps > 10ms", "qps takes queries per second");
    expect_bad("failed < 1.5", "whole number");
    expect_bad("failed < 1ms", "whole number");
    expect_bad(": p95 < 5ms", "nothing before ':'");
    expect_bad("x.sql:", "expected a metric");
}

/* ---- the run -------------------------------------------------------------- */

/*
 * Two queries over 2 s:
 *   lookup.sql  ok 1, 2, 3, 4, 10 ms, 1 failure (40001)
 *   scan.sql    ok 100 x 1 ms
 * total 106 executions (1 failed), qps 53.
 */
struct model {
    struct pv_scenario sc[2];
    struct pv_query q[2];
    struct pv_scenario_result sr[2];
    struct pv_query_result qr[2];
    struct pv_run_result run;
};

static void model_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
    const char *names[2] = {"lookup.sql", "scan.sql"};
    const char *paths[2] = {"w/lookup.sql", "w/scan.sql"};
    uint64_t counts[2] = {10, 100};
    for (int i = 0; i < 2; i++) {
        m->sc[i] = (struct pv_scenario){"scenario_1", 0, NULL, "[]", counts[i], NULL};
        m->q[i].path = (char *)paths[i];
        m->q[i].name = (char *)names[i];
        m->q[i].sql = "SELECT 1";
        m->q[i].nscenarios = 1;
        m->q[i].scenarios = &m->sc[i];
        m->q[i].exec_count = counts[i];
        m->sr[i].scenario = &m->sc[i];
        m->qr[i] = (struct pv_query_result){.query = &m->q[i], .scenarios = &m->sr[i]};
    }
    const uint64_t lat[] = {1, 2, 3, 4, 10};
    for (size_t k = 0; k < PV_ARRAY_LEN(lat); k++)
        assert_int_equal(pv_stat_ok(&m->qr[0].stat, lat[k] * MS, 1), 0);
    assert_int_equal(pv_stat_fail(&m->qr[0].stat, 5 * MS, "40001", "could not serialize"), 0);
    for (int k = 0; k < 100; k++)
        assert_int_equal(pv_stat_ok(&m->qr[1].stat, 1 * MS, 1), 0);
    assert_int_equal(pv_stat_merge(&m->run.total, &m->qr[0].stat), 0);
    assert_int_equal(pv_stat_merge(&m->run.total, &m->qr[1].stat), 0);
    m->run.concurrency = 4;
    m->run.wall_s = 2.0;
    m->run.nqueries = 2;
    m->run.queries = m->qr;
}

static void model_fini(struct model *m)
{
    for (int i = 0; i < 2; i++) {
        pv_stat_fini(&m->qr[i].stat);
        pv_stat_fini(&m->sr[i].stat);
    }
    pv_stat_fini(&m->run.total);
}

static double measure(const struct model *m, const char *text, bool *pass)
{
    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    const struct pv_threshold *th = parse_ok(t, text);
    double v = pv_threshold_measure(th, &m->run);
    *pass = pv_threshold_pass(th, v);
    pv_thresholds_destroy(t);
    return v;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 0.01 * fabs(b) + 1e-9)

static void test_evaluate(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    bool pass;
    NEAR(measure(&m, "qps > 50", &pass), 53.0);
    assert_true(pass);
    NEAR(measure(&m, "qps > 53", &pass), 53.0);
    assert_false(pass);
    NEAR(measure(&m, "lookup.sql: qps >= 3", &pass), 3.0);
    assert_true(pass);
    NEAR(measure(&m, "lookup.sql: avg < 4ms", &pass), 4.0); /* 20 / 5 */
    assert_false(pass);
    NEAR(measure(&m, "lookup.sql: avg <= 4ms", &pass), 4.0);
    assert_true(pass);
    NEAR(measure(&m, "lookup.sql: max < 0.011s", &pass), 10.0);
    assert_true(pass);
    NEAR(measure(&m, "w/lookup.sql: min > 1ms", &pass), 1.0); /* by path */
    assert_false(pass);
    NEAR(measure(&m, "lookup.sql: p50 < 3.1ms", &pass), 3.0);
    assert_true(pass);
    NEAR(measure(&m, "p99 < 5ms", &pass), 4.0); /* rank 104 of 105 successes */
    assert_true(pass);
    NEAR(measure(&m, "lookup.sql: error_rate < 20%", &pass), 100.0 / 6);
    assert_true(pass);
    NEAR(measure(&m, "error_rate < 0.5%", &pass), 100.0 / 106);
    assert_false(pass);
    assert_true(measure(&m, "failed < 1", &pass) == 1);
    assert_false(pass);
    assert_true(measure(&m, "scan.sql: failed <= 0", &pass) == 0);
    assert_true(pass);
    assert_true(measure(&m, "executions >= 106", &pass) == 106);
    assert_true(pass);
    assert_true(measure(&m, "succeeded > 105", &pass) == 105);
    assert_false(pass);
    /* nothing to measure fails */
    assert_true(isnan(measure(&m, "nosuch.sql: p95 < 5ms", &pass)));
    assert_false(pass);
    m.run.wall_s = 0;
    assert_true(isnan(measure(&m, "qps > 0", &pass)));
    assert_false(pass);
    model_fini(&m);
}

static void test_bind_and_describe(void **state)
{
    (void)state;
    pv_workload *wl;
    pv_err err = {{0}};
    assert_int_equal(pv_workload_create(NULL, &wl), 0);
    const char a[] = "SELECT 1;\n", b[] = "SELECT 2;\n";
    assert_int_equal(pv_workload_add_text(wl, "x/a.sql", a, strlen(a), &err), 0);
    assert_int_equal(pv_workload_add_text(wl, "y/a.sql", b, strlen(b), &err), 0);
    assert_int_equal(pv_workload_add_text(wl, "y/b.sql", b, strlen(b), &err), 0);

    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    parse_ok(t, "b.sql: p95 < 5ms");
    parse_ok(t, "x/a.sql: p95 < 5ms");
    assert_int_equal(pv_thresholds_bind(t, wl, &err), 0);
    assert_ptr_equal(pv_thresholds_get(t, 0)->query, pv_workload_query(wl, 2));
    assert_ptr_equal(pv_thresholds_get(t, 1)->query, pv_workload_query(wl, 0));
    parse_ok(t, "a.sql: p95 < 5ms");
    assert_int_equal(pv_thresholds_bind(t, wl, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "x/a.sql and y/a.sql are both named a.sql"));
    pv_thresholds_destroy(t);

    assert_int_equal(pv_thresholds_create(&t), 0);
    parse_ok(t, "c.sql: p95 < 5ms");
    assert_int_equal(pv_thresholds_bind(t, wl, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "no query is named c.sql"));

    pv_buf out = PV_BUF_INIT;
    pv_threshold_describe(&out, pv_thresholds_get(t, 0), 7.3145, 0);
    assert_string_equal(pv_buf_str(&out), "p95 < 5ms (query c.sql): measured 7.31 ms");
    pv_buf_reset(&out);
    parse_ok(t, "error_rate < 1%");
    pv_threshold_describe(&out, pv_thresholds_get(t, 1), 2.5, 10);
    assert_string_equal(pv_buf_str(&out), "error_rate < 1% (whole run, c=10): measured 2.5%");
    pv_buf_fini(&out);
    pv_thresholds_destroy(t);
    pv_workload_destroy(wl);
}

/* ---- TARGET headers ------------------------------------------------------- */

static void test_target_header(void **state)
{
    (void)state;
    pv_workload *wl;
    pv_err err = {{0}};
    assert_int_equal(pv_workload_create(NULL, &wl), 0);
    const char good[] =
        "-- EXEC_COUNT: 3\n-- TARGET: avg < 2ms, p95 < 5ms,qps > 1000 \nSELECT 1;\n";
    assert_int_equal(pv_workload_add_text(wl, "simple.sql", good, strlen(good), &err), 0);
    const struct pv_query *q = pv_workload_query(wl, 0);
    assert_string_equal(q->target, "avg < 2ms, p95 < 5ms,qps > 1000");
    assert_int_equal(q->target_line, 2);
    assert_int_equal(q->target_col, 12);

    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    assert_int_equal(pv_thresholds_add_target(t, q, &err), 0);
    assert_int_equal(pv_thresholds_count(t), 3);
    const struct pv_threshold *th = pv_thresholds_get(t, 2);
    assert_string_equal(th->expr, "qps > 1000");
    assert_string_equal(th->scope, "simple.sql");
    assert_string_equal(th->source, "simple.sql:2");
    assert_ptr_equal(th->query, q);

    /* errors point at the column of the bad part */
    const char bad[] = "-- TARGET: avg < 2ms, p95 < 5xs\nSELECT 1;\n";
    assert_int_equal(pv_workload_add_text(wl, "bad.sql", bad, strlen(bad), &err), 0);
    assert_int_equal(pv_thresholds_add_target(t, pv_workload_query(wl, 1), &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "bad.sql:1:30: TARGET: unknown unit 'xs' of a latency (ms, s or "
                                 "us; a bare number is ms)");
    const char scoped[] = "-- TARGET: x.sql: p95 < 5ms\nSELECT 1;\n";
    assert_int_equal(pv_workload_add_text(wl, "scoped.sql", scoped, strlen(scoped), &err), 0);
    assert_int_equal(pv_thresholds_add_target(t, pv_workload_query(wl, 2), &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "scoped.sql:1:17: TARGET: a TARGET is of its own file's query; "
                                 "no scope before ':'");
    pv_thresholds_destroy(t);

    /* the header itself: empty, or twice */
    const char empty[] = "-- TARGET:   \nSELECT 1;\n";
    assert_int_equal(pv_workload_add_text(wl, "e.sql", empty, strlen(empty), &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "e.sql:1:"));
    assert_non_null(strstr(err.msg, "TARGET needs thresholds"));
    const char twice[] = "-- TARGET: p95 < 1\n-- TARGET: p99 < 2\nSELECT 1;\n";
    assert_int_equal(pv_workload_add_text(wl, "t.sql", twice, strlen(twice), &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "t.sql:2:1: second TARGET line (the first is on line 1)"));
    pv_workload_destroy(wl);
}

/* Seed 002's targets table, as TARGET headers of five files. */
static void test_seed_002_targets(void **state)
{
    (void)state;
    static const char *const files[][2] = {
        {"simple_select.sql", "-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000\nSELECT 1;\n"},
        {"indexed_lookup.sql", "-- TARGET: avg < 5ms, p95 < 10ms, qps > 500\nSELECT 2;\n"},
        {"join.sql", "-- TARGET: avg < 10ms, p95 < 20ms, qps > 200\nSELECT 3;\n"},
        {"aggregation.sql", "-- TARGET: avg < 20ms, p95 < 40ms, qps > 100\nSELECT 4;\n"},
        {"concurrent_100.sql", "-- TARGET: avg < 30ms, p95 < 60ms, qps > 300\nSELECT 5;\n"},
    };
    pv_workload *wl;
    pv_thresholds *t;
    pv_err err = {{0}};
    assert_int_equal(pv_workload_create(NULL, &wl), 0);
    assert_int_equal(pv_thresholds_create(&t), 0);
    for (size_t i = 0; i < PV_ARRAY_LEN(files); i++) {
        assert_int_equal(
            pv_workload_add_text(wl, files[i][0], files[i][1], strlen(files[i][1]), &err), 0);
        assert_int_equal(pv_thresholds_add_target(t, pv_workload_query(wl, i), &err), 0);
    }
    assert_int_equal(pv_thresholds_count(t), 15);
    assert_true(pv_thresholds_get(t, 14)->limit == 300);
    assert_int_equal(pv_thresholds_bind(t, wl, &err), 0);
    pv_thresholds_destroy(t);
    pv_workload_destroy(wl);
}

/* ---- the abort decision --------------------------------------------------- */

static bool doomed(const struct pv_run_result *run, const char *text, uint64_t planned,
                   double grace_s, char *why, size_t cap)
{
    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    const struct pv_threshold *th = parse_ok(t, text);
    struct pv_threshold_live live = {.planned = planned, .grace_s = grace_s};
    bool d = pv_threshold_doomed(th, run, &live, why, cap);
    pv_thresholds_destroy(t);
    return d;
}

static void test_abort_count_based(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    char why[256] = "";
    /* 106 done of 1000 planned (lookup.sql: 6 of its 10) */
    /* monotone: max, failed, min */
    assert_true(doomed(&m.run, "max < 5ms", 1000, 0, why, sizeof(why)));
    assert_string_equal(why, "threshold max < 5ms (whole run) cannot pass: measured 10.0 ms after "
                             "2.0 s");
    assert_false(doomed(&m.run, "max < 11ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "max > 11ms", 1000, 0, NULL, 0)); /* may still come */
    assert_true(doomed(&m.run, "failed < 1", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "failed < 2", 1000, 0, NULL, 0));
    assert_true(doomed(&m.run, "min > 1ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "min < 1ms", 1000, 0, NULL, 0));
    /* error_rate: 1 failure of at most 1000: [0.1%, 89.5%] */
    assert_false(doomed(&m.run, "error_rate < 0.2%", 1000, 0, NULL, 0));
    assert_true(doomed(&m.run, "error_rate < 0.1%", 1000, 0, NULL, 0));
    assert_true(doomed(&m.run, "error_rate > 90%", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "error_rate > 89%", 1000, 0, NULL, 0));
    /* lookup.sql plans 10: 1 failure of 10 is 10% at least */
    assert_true(doomed(&m.run, "lookup.sql: error_rate < 10%", 1000, 0, why, sizeof(why)));
    assert_non_null(strstr(why, "whatever the remaining executions do"));
    assert_false(doomed(&m.run, "lookup.sql: error_rate < 11%", 1000, 0, NULL, 0));
    /* avg of lookup.sql: 20 ms over at most 5 + 4 successes: 2.22 ms at the least */
    assert_true(doomed(&m.run, "lookup.sql: avg < 2.2ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "lookup.sql: avg < 2.3ms", 1000, 0, NULL, 0));
    /* p50 of lookup.sql: 3 values >= 3 ms; at most 9 successes: rank 5, 9 - 5 = 4 */
    assert_false(doomed(&m.run, "lookup.sql: p50 < 3ms", 1000, 0, NULL, 0));
    /* p50 < 1.5ms: 4 values beyond, not more than 4 */
    assert_false(doomed(&m.run, "lookup.sql: p50 < 1.5ms", 1000, 0, NULL, 0));
    /* p60 < 1.5ms with 9 at most: rank 6, 9 - 6 = 3 < 4 values beyond 1.5 ms */
    assert_true(doomed(&m.run, "lookup.sql: p60 < 1.5ms", 1000, 0, NULL, 0));
    /* lookup.sql's plan done (6 of 6): its figure is final */
    m.sc[0].exec_count = 6;
    assert_true(doomed(&m.run, "lookup.sql: p50 < 2ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "lookup.sql: p50 < 4ms", 1000, 0, NULL, 0));
    m.sc[0].exec_count = 10;
    /* qps: 1000 planned, 2 s gone: at most 500 */
    assert_true(doomed(&m.run, "qps > 500", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "qps > 499", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "qps < 1", 1000, 0, NULL, 0)); /* the end may be slow */
    /* counts that grow: at most 1000 executions, 105 + 894 successes */
    assert_true(doomed(&m.run, "executions > 1000", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "executions >= 1000", 1000, 0, NULL, 0));
    assert_true(doomed(&m.run, "succeeded >= 1000", 1000, 0, NULL, 0));
    assert_true(doomed(&m.run, "executions < 100", 1000, 0, NULL, 0));
    /* not decidable before the end */
    assert_false(doomed(&m.run, "p95 > 100ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "avg > 100ms", 1000, 0, NULL, 0));
    assert_false(doomed(&m.run, "stddev < 0.001ms", 1000, 0, NULL, 0));
    /* the end: every planned execution done */
    assert_true(doomed(&m.run, "stddev < 0.001ms", 106, 0, NULL, 0));
    assert_true(doomed(&m.run, "avg > 100ms", 106, 0, NULL, 0));
    assert_false(doomed(&m.run, "avg < 100ms", 106, 0, NULL, 0));
    /* a scope not in the snapshot is never doomed */
    assert_false(doomed(&m.run, "nosuch.sql: p95 < 1ms", 1000, 0, NULL, 0));
    model_fini(&m);
}

static void test_abort_time_based(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    char why[256];
    /* monotone ones at once, before the grace */
    assert_true(doomed(&m.run, "failed < 1", 0, 10, NULL, 0));
    assert_true(doomed(&m.run, "max < 5ms", 0, 10, NULL, 0));
    /* others: not before the grace (wall 2 s < 10 s) */
    assert_false(doomed(&m.run, "p95 < 0.5ms", 0, 10, NULL, 0));
    assert_false(doomed(&m.run, "error_rate < 0.1%", 0, 10, NULL, 0));
    /* after it (grace 1 s), on the cumulative figures */
    assert_true(doomed(&m.run, "p95 < 0.5ms", 0, 1, why, sizeof(why)));
    assert_non_null(strstr(why, "on the figures so far"));
    assert_true(doomed(&m.run, "error_rate < 0.1%", 0, 1, NULL, 0));
    assert_true(doomed(&m.run, "qps > 100", 0, 1, NULL, 0));
    assert_false(doomed(&m.run, "qps > 10", 0, 1, NULL, 0));
    assert_false(doomed(&m.run, "p95 < 50ms", 0, 1, NULL, 0));
    /* counts with > only grow with time: never */
    assert_false(doomed(&m.run, "executions > 100000", 0, 1, NULL, 0));
    assert_false(doomed(&m.run, "failed >= 5", 0, 1, NULL, 0));
    assert_true(pv_threshold_grace(1.0) == 3.0);
    assert_true(pv_threshold_grace(5.0) == 15.0);
    model_fini(&m);
}

/* ---- reports -------------------------------------------------------------- */

static void test_report_pieces(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    pv_thresholds *t;
    assert_int_equal(pv_thresholds_create(&t), 0);
    parse_ok(t, "lookup.sql: p50 < 5ms");
    parse_ok(t, "error_rate < 0.5%");
    parse_ok(t, "nosuch.sql: p95 < 5ms");

    json_t *arr = pv_threshold_json(t, &m.run);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 3);
    json_t *a = json_array_get(arr, 0), *b = json_array_get(arr, 1), *c = json_array_get(arr, 2);
    assert_string_equal(json_string_value(json_object_get(a, "expr")), "p50 < 5ms");
    assert_string_equal(json_string_value(json_object_get(a, "scope")), "lookup.sql");
    assert_string_equal(json_string_value(json_object_get(a, "source")), "option");
    assert_string_equal(json_string_value(json_object_get(a, "unit")), "ms");
    assert_true(json_is_true(json_object_get(a, "pass")));
    assert_true(json_is_null(json_object_get(b, "scope")));
    assert_true(json_is_false(json_object_get(b, "pass")));
    assert_string_equal(json_string_value(json_object_get(b, "unit")), "%");
    assert_true(json_is_null(json_object_get(c, "measured")));
    json_decref(arr);

    const struct pv_run_result *runs[1] = {&m.run};
    struct pv_report rep = {.nruns = 1, .runs = runs, .thresholds = t};
    pv_buf out = PV_BUF_INIT;
    assert_int_equal(pv_threshold_block(&rep, &out, true), 0);
    assert_non_null(strstr(pv_buf_str(&out), "### Thresholds"));
    assert_non_null(strstr(pv_buf_str(&out), "| `p50 < 5ms` | lookup.sql | 3.00 ms | pass |"));
    assert_non_null(
        strstr(pv_buf_str(&out), "| `error_rate < 0.5%` | whole run | 0.943% | **FAIL** |"));
    pv_buf_reset(&out);
    assert_int_equal(pv_threshold_block(&rep, &out, false), 0);
    assert_non_null(strstr(pv_buf_str(&out), "FAIL  error_rate < 0.5%"));
    assert_false(pv_thresholds_all_pass(t, runs, 1));
    /* the JSON report carries the array */
    pv_buf_reset(&out);
    assert_int_equal(pv_report_json(&rep, &out), 0);
    json_t *root = json_loads(pv_buf_str(&out), 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "thresholds")), 3);
    json_decref(root);
    pv_buf_fini(&out);
    pv_thresholds_destroy(t);
    model_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_evaluate),          cmocka_unit_test(test_bind_and_describe),
        cmocka_unit_test(test_target_header),     cmocka_unit_test(test_seed_002_targets),
        cmocka_unit_test(test_abort_count_based), cmocka_unit_test(test_abort_time_based),
        cmocka_unit_test(test_report_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
