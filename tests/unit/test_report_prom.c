/* test_report_prom.c - the Prometheus text format of a hand-built run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_report_prom.h"

#define US 1000ull
#define MS 1000000ull

/* A name a user may give a file: quotes, backslashes, a newline. */
#define NASTY_NAME  "we\"ird\\na\nme.sql"
#define NASTY_LABEL "we\\\"ird\\\\na\\nme.sql"

/*
 * Three files at concurrency 4, wall 2 s, started at 1700000000.5:
 *   a.sql:      ok 40 us, 80 us, 3 ms, 3 ms (2 rows each), 57014 once; 1 retry
 *   NASTY_NAME: ok 20 s (above the last bucket)
 *   dir2/a.sql  (named a.sql again): nothing yet
 */
struct model {
    struct pv_query q[3];
    struct pv_query_result qr[3];
    struct pv_run_result run;
    struct pv_target_info target;
    const struct pv_run_result *runs[2];
    struct pv_report rep;
};

static void model_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
    const char *names[3] = {"a.sql", NASTY_NAME, "a.sql"};
    for (int i = 0; i < 3; i++) {
        m->q[i].name = (char *)names[i];
        m->q[i].path = (char *)names[i];
        m->qr[i].query = &m->q[i];
        assert_int_equal(pv_stat_init(&m->qr[i].stat), 0);
    }
    struct pv_stat *a = &m->qr[0].stat;
    assert_int_equal(pv_stat_ok(a, 40 * US, 2), 0);
    assert_int_equal(pv_stat_ok(a, 80 * US, 2), 0);
    assert_int_equal(pv_stat_ok(a, 3 * MS, 2), 0);
    assert_int_equal(pv_stat_ok(a, 3 * MS, 2), 0);
    assert_int_equal(pv_stat_fail(a, 5 * MS, "57014", "canceled"), 0);
    a->retries = 1;
    assert_int_equal(pv_stat_ok(&m->qr[1].stat, 20000 * MS, 0), 0);
    struct pv_run_result *r = &m->run;
    assert_int_equal(pv_stat_init(&r->total), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pv_stat_merge(&r->total, &m->qr[i].stat), 0);
    r->concurrency = 4;
    r->protocol = PV_PROTOCOL_PREPARED;
    r->started_at = 1700000000.5;
    r->wall_s = 2;
    r->nqueries = 3;
    r->queries = m->qr;
    r->pool_stats.max_open = 3;
    r->pool_stats.max_in_use = 2;
    snprintf(m->target.host, sizeof(m->target.host), "/run/post\"gres");
    m->target.port = 5432;
    snprintf(m->target.dbname, sizeof(m->target.dbname), "shop");
    snprintf(m->target.user, sizeof(m->target.user), "alice");
    snprintf(m->target.server_version, sizeof(m->target.server_version), "16.4");
    m->runs[0] = r;
    m->rep.target = &m->target;
    m->rep.nruns = 1;
    m->rep.runs = m->runs;
}

static void model_fini(struct model *m)
{
    for (int i = 0; i < 3; i++)
        pv_stat_fini(&m->qr[i].stat);
    pv_stat_fini(&m->run.total);
    pv_sched_stats_fini(&m->run.sched);
}

static char *render(const struct pv_report *rep, const struct pv_prom_live *live)
{
    pv_buf b = PV_BUF_INIT;
    assert_int_equal(pv_report_prom(rep, live, &b), 0);
    char *s = strdup(pv_buf_str(&b));
    pv_buf_fini(&b);
    assert_non_null(s);
    return s;
}

/* The line exists, whole. */
static void has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("missing line: %s\n--- in ---\n%s", line, text);
}

static void test_counters_and_labels(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    char *t = render(&m.rep, NULL);
    has_line(t, "# TYPE pgvolley_executions_total counter");
    has_line(t, "pgvolley_executions_total{query=\"a.sql\",status=\"ok\"} 4");
    has_line(t, "pgvolley_executions_total{query=\"a.sql\",status=\"failed\"} 1");
    has_line(t, "pgvolley_executions_total{query=\"" NASTY_LABEL "\",status=\"ok\"} 1");
    /* the repeated name is told apart */
    has_line(t, "pgvolley_executions_total{query=\"a.sql (2)\",status=\"ok\"} 0");
    has_line(t, "pgvolley_failures_total{query=\"a.sql\",sqlstate=\"57014\"} 1");
    has_line(t, "pgvolley_retries_total{query=\"a.sql\"} 1");
    has_line(t, "pgvolley_rows_total{query=\"a.sql\"} 8");
    has_line(t, "pgvolley_run_start_time_seconds 1700000000.5");
    has_line(t, "pgvolley_run_duration_seconds 2");
    has_line(t, "pgvolley_run_finished 1");
    has_line(t, "pgvolley_concurrency 4");
    has_line(t, "pgvolley_target_rate 0");
    has_line(t, "pgvolley_in_flight 0");
    has_line(t, "pgvolley_pool_connections{state=\"open\"} 0");
    has_line(t, "pgvolley_pool_connections_max{state=\"open\"} 3");
    has_line(t, "pgvolley_pool_connections_max{state=\"in_use\"} 2");
    has_line(t, "pgvolley_run_info{version=\"" PV_VERSION "\",protocol=\"prepared\","
                "target_host=\"/run/post\\\"gres\",target_port=\"5432\","
                "target_dbname=\"shop\",server_version=\"16.4\"} 1");
    /* no user, no DSN, no open-model families for a closed run, no total series */
    assert_null(strstr(t, "alice"));
    assert_null(strstr(t, "schedule_lag"));
    assert_null(strstr(t, "query=\"(all)\""));
    /* every line is a comment or a sample: no raw newline inside a label */
    for (const char *p = t; *p;) {
        assert_true(strncmp(p, "# ", 2) == 0 || strncmp(p, "pgvolley_", 9) == 0);
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        p = nl + 1;
    }
    free(t);
    model_fini(&m);
}

static void test_histogram(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    char *t = render(&m.rep, NULL);
    has_line(t, "# TYPE pgvolley_query_duration_seconds histogram");
    const char *q = "pgvolley_query_duration_seconds_bucket{query=\"a.sql\",le=";
    char line[256];
    /* 40 us, 80 us, 3 ms, 3 ms: cumulative */
    const struct {
        const char *le;
        int n;
    } want[] = {{"0.00001", 0}, {"0.000025", 0}, {"0.00005", 1}, {"0.0001", 2},
                {"0.0025", 2},  {"0.005", 4},    {"10", 4},      {"+Inf", 4}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(line, sizeof(line), "%s\"%s\"} %d", q, want[i].le, want[i].n);
        has_line(t, line);
    }
    has_line(t, "pgvolley_query_duration_seconds_count{query=\"a.sql\"} 4");
    has_line(t, "pgvolley_query_duration_seconds_sum{query=\"a.sql\"} 0.00612");
    /* above the last bound: only in +Inf */
    has_line(t, "pgvolley_query_duration_seconds_bucket{query=\"" NASTY_LABEL "\",le=\"10\"} 0");
    has_line(t, "pgvolley_query_duration_seconds_bucket{query=\"" NASTY_LABEL "\",le=\"+Inf\"} 1");
    /* no success yet: an empty histogram */
    has_line(t, "pgvolley_query_duration_seconds_count{query=\"a.sql (2)\"} 0");
    free(t);
    model_fini(&m);
}

static void test_sweep_live_open(void **state)
{
    (void)state;
    struct model m;
    model_init(&m);
    /* a second level, in progress, seen only through its progress
       counters (no queries): the open model at 500/s */
    struct pv_run_result live = {0};
    assert_int_equal(pv_stat_init(&live.total), 0);
    live.total.succeeded = 7;
    live.total.failed = 2;
    live.concurrency = 8;
    live.rate = 500;
    live.wall_s = 1.5;
    assert_int_equal(pv_sched_stats_init(&live.sched), 0);
    assert_int_equal(pv_hist_record(live.sched.lag, 2 * MS), 0);
    live.sched.dropped = 3;
    m.runs[1] = &live;
    m.rep.nruns = 2;
    m.rep.sweep = true;
    struct pv_prom_live g = {.in_flight = 5, .pool_open = 6, .pool_in_use = 4, .pool_waiting = 1};
    char *t = render(&m.rep, &g);
    has_line(t, "pgvolley_executions_total{concurrency=\"4\",query=\"a.sql\",status=\"ok\"} 4");
    has_line(t, "pgvolley_executions_total{concurrency=\"8\",status=\"ok\"} 7");
    has_line(t, "pgvolley_executions_total{concurrency=\"8\",status=\"failed\"} 2");
    has_line(t, "pgvolley_run_finished{concurrency=\"4\"} 1");
    has_line(t, "pgvolley_run_finished{concurrency=\"8\"} 0");
    has_line(t, "pgvolley_in_flight{concurrency=\"4\"} 0");
    has_line(t, "pgvolley_in_flight{concurrency=\"8\"} 5");
    has_line(t, "pgvolley_pool_connections{concurrency=\"8\",state=\"in_use\"} 4");
    has_line(t, "pgvolley_pool_waiting{concurrency=\"8\"} 1");
    has_line(t, "pgvolley_target_rate{concurrency=\"8\"} 500");
    has_line(t, "pgvolley_dropped_total{concurrency=\"8\"} 3");
    has_line(t, "pgvolley_schedule_lag_seconds_count{concurrency=\"8\"} 1");
    has_line(t, "pgvolley_schedule_lag_seconds_bucket{concurrency=\"8\",le=\"0.0025\"} 1");
    /* the closed level of the sweep has the families, at zero */
    has_line(t, "pgvolley_dropped_total{concurrency=\"4\",query=\"a.sql\"} 0");
    /* run_info stays one series */
    assert_null(strstr(t, "pgvolley_run_info{concurrency"));
    /* each family's TYPE once */
    const char *first = strstr(t, "# TYPE pgvolley_executions_total");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE pgvolley_executions_total"));
    free(t);
    pv_stat_fini(&live.total);
    pv_sched_stats_fini(&live.sched);
    model_fini(&m);
}

static void test_label_escape(void **state)
{
    (void)state;
    pv_buf b = PV_BUF_INIT;
    pv_report_prom_label(&b, "a\\b\"c\nd\te");
    assert_string_equal(pv_buf_str(&b), "a\\\\b\\\"c\\nd\te");
    pv_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_labels),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_sweep_live_open),
        cmocka_unit_test(test_label_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
