/*
 * test_engine_timeline.c - the run's timeline against a real throwaway
 * server: the points' counts add up to the run's, per query too; a tiny
 * interval with a lowered cap coalesces and stays within the cap while the
 * raw stream (pv_run_timeline_next) still has every interval; the live
 * snapshot grows while the run goes; the settings are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "engine/pv_run.h"
#include "engine/pv_target.h"
#include "pgtmp/pv_pgtmp.h"
#include "workload/pv_workload.h"

static pv_pgtmp *g_server;
static char g_tmp[64];
static pv_target *g_target;
static pv_workload *g_wl;

static void base_config(struct pv_run_config *cfg, double duration_s)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->target = g_target;
    cfg->workload = g_wl;
    cfg->concurrency = 4;
    cfg->threads = 2;
    cfg->pool.size = cfg->pool.max_overflow = -1;
    cfg->protocol = PV_PROTOCOL_PREPARED;
    cfg->duration_s = duration_s;
    cfg->seed = 1;
    pv_run_config_defaults(cfg);
}

static uint64_t figs_n(const struct pv_tl_figs *f)
{
    return f->succeeded + f->failed;
}

/* Sums of the points equal the run's figures, overall and per query. */
static void check_sums(const struct pv_run_result *res, const struct pv_tl_point *pts, size_t n)
{
    uint64_t all = 0, q[2] = {0, 0};
    double prev = 0;
    for (size_t i = 0; i < n; i++) {
        all += figs_n(&pts[i].all);
        for (size_t j = 0; j < 2; j++)
            q[j] += figs_n(&pts[i].queries[j]);
        assert_int_equal(figs_n(&pts[i].all),
                         figs_n(&pts[i].queries[0]) + figs_n(&pts[i].queries[1]));
        assert_true(pts[i].t_s >= prev);
        assert_true(pts[i].interval_s >= 0);
        assert_true(pts[i].all.p50_ms <= pts[i].all.p99_ms + 1e-9);
        assert_true(pts[i].all.p99_ms <= pts[i].all.max_ms + 1e-9);
        prev = pts[i].t_s;
    }
    assert_int_equal(all, pv_stat_executions(&res->total));
    for (size_t j = 0; j < 2; j++)
        assert_int_equal(q[j], pv_stat_executions(&res->queries[j].stat));
}

static void test_sums_and_cap(void **state)
{
    (void)state;
    struct pv_run_config cfg;
    base_config(&cfg, 1.0);
    cfg.interval_s = 0.01;
    cfg.timeline_cap = 8;
    pv_run *r;
    pv_err err = {{0}};
    assert_int_equal(pv_run_create(&cfg, &r, &err), 0);
    assert_int_equal(pv_run_start(r, &err), 0);
    assert_int_equal(pv_run_wait(r, &err), 0);
    const struct pv_run_result *res = pv_run_result(r);
    const struct pv_timeline *tl = &res->timeline;
    assert_true(pv_stat_executions(&res->total) > 0);
    assert_true(tl->npoints <= 8);
    assert_true(tl->npoints >= 4);
    assert_true(tl->span >= 16); /* about 100 intervals in at most 8 points */
    check_sums(res, tl->points, tl->npoints);
    double covered = 0;
    for (size_t i = 0; i < tl->npoints; i++)
        covered += tl->points[i].interval_s;
    assert_true(covered > 0.9 && covered < 1.2);

    /* the raw stream: every interval, never coalesced */
    struct pv_tl_point raw[PV_TIMELINE_RECENT];
    size_t n = 0;
    uint64_t seq = 0;
    while (n < PV_TIMELINE_RECENT && pv_run_timeline_next(r, &seq, &raw[n]) == 1) {
        assert_int_equal(raw[n].span, 1);
        n++;
    }
    assert_true(n >= 95 && n <= 110);
    check_sums(res, raw, n);
    for (size_t i = 0; i < n; i++)
        pv_tl_point_fini(&raw[i], res->nqueries);
    pv_run_destroy(r);
}

static void test_snapshot_grows(void **state)
{
    (void)state;
    struct pv_run_config cfg;
    base_config(&cfg, 1.5);
    cfg.interval_s = 0.1;
    pv_run *r;
    pv_err err = {{0}};
    assert_int_equal(pv_run_create(&cfg, &r, &err), 0);
    assert_int_equal(pv_run_start(r, &err), 0);
    uint64_t last = 0;
    int grew = 0;
    bool saw_open = false;
    for (int i = 0; i < 6; i++) {
        usleep(200000);
        struct pv_run_result *s;
        assert_int_equal(pv_run_snapshot(r, &s), 0);
        uint64_t n = pv_stat_executions(&s->total);
        assert_true(n >= last);
        assert_int_equal(n, pv_stat_executions(&s->queries[0].stat) +
                                pv_stat_executions(&s->queries[1].stat));
        assert_int_equal(s->nqueries, 2);
        assert_non_null(s->queries[0].scenarios);
        grew += n > last;
        last = n;
        pv_run_result_free(s);
        struct pv_progress p;
        pv_run_progress(r, &p);
        saw_open = saw_open || p.pool_open > 0;
        assert_true(p.in_flight <= 4);
    }
    assert_true(grew >= 3);
    assert_true(saw_open);
    assert_int_equal(pv_run_wait(r, &err), 0);
    struct pv_run_result *s;
    assert_int_equal(pv_run_snapshot(r, &s), 0);
    /* after the run, the snapshot has every counted execution */
    assert_int_equal(pv_stat_executions(&s->total), pv_stat_executions(&pv_run_result(r)->total));
    pv_run_result_free(s);
    pv_run_destroy(r);
}

static void test_bad_settings(void **state)
{
    (void)state;
    struct pv_run_config cfg;
    pv_run *r = NULL;
    pv_err err = {{0}};
    double bad[] = {-1, 0.0001, 86401};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        base_config(&cfg, 1);
        cfg.interval_s = bad[i];
        assert_int_equal(pv_run_create(&cfg, &r, &err), VOLLEY_EINVAL);
    }
    int caps[] = {-2, 1, 3};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        base_config(&cfg, 1);
        cfg.timeline_cap = caps[i];
        assert_int_equal(pv_run_create(&cfg, &r, &err), VOLLEY_EINVAL);
    }
}

/* What a kept point costs (the figures documented in docs/report-schema.md). */
static void test_sizes(void **state)
{
    (void)state;
    assert_true(sizeof(struct pv_tl_point) <= 160);
    assert_true(sizeof(struct pv_tl_figs) <= 72);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pvtl-XXXXXX");
    if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) != 0 || setenv("TMPDIR", g_tmp, 1) != 0)
        return -1;
    pv_err err = {{0}};
    /* the initdb cache ctest names, if any (CMakeLists.txt) */
    struct pv_pgtmp_opts opts = {.initdb_cache = getenv("PGVOLLEY_INITDB_CACHE")};
    if (pv_pgtmp_start(&opts, &g_server, &err) != 0) {
        fprintf(stderr, "cannot start a throwaway server: %s\n", err.msg);
        return -1;
    }
    if (pv_target_create(pv_pgtmp_conninfo(g_server), 10, "pgvolley-test", &g_target, &err) != 0) {
        fprintf(stderr, "cannot connect: %s\n", err.msg);
        return -1;
    }
    static const char a[] = "SELECT 1;\n";
    static const char b[] = "SELECT pg_sleep(0.002);\n";
    if (pv_workload_create(NULL, &g_wl) != 0 ||
        pv_workload_add_text(g_wl, "a.sql", a, sizeof(a) - 1, &err) != 0 ||
        pv_workload_add_text(g_wl, "b.sql", b, sizeof(b) - 1, &err) != 0) {
        fprintf(stderr, "workload: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pv_workload_destroy(g_wl);
    pv_target_destroy(g_target);
    pv_pgtmp_stop(g_server);
    rmdir(g_tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_and_cap),
        cmocka_unit_test(test_snapshot_grows),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
