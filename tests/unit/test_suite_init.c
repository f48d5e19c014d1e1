/* test_suite_init.c - pv_init's rows without a server: their COPY text,
   determinism, foreign keys as drawn, the tenant skew, and the argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "suite/pv_init_int.h"

/* 2026-11-30 12:34:56 UTC: the span ends at that day's midnight. */
#define T_NOW 1796042096

static const int ncols[PV_INIT_NTABLES] = {4, 5, 5, 7, 6};

static int fields(const char *line, size_t len)
{
    int n = 1;
    for (size_t i = 0; i < len; i++)
        n += line[i] == '\t';
    return n;
}

static void test_rows_are_copy_lines(void **state)
{
    (void)state;
    static struct pv_init_gen g;
    pv_init__gen_setup(&g, PV_INIT_SEED, 1, T_NOW);
    char buf[PV_INIT_ROW_MAX];
    for (int t = 0; t < PV_INIT_NTABLES; t++) {
        for (int64_t id = 1; id <= 2000 && id <= g.rows[t]; id++) {
            char *end = pv_init__gen_row(&g, (enum pv_init_table)t, id, buf);
            size_t len = (size_t)(end - buf);
            assert_true(len > 0 && len < PV_INIT_ROW_MAX);
            assert_int_equal(buf[len - 1], '\n');
            assert_null(memchr(buf, '\n', len - 1));
            assert_int_equal(fields(buf, len - 1), ncols[t]);
            assert_int_equal(strtoll(buf, NULL, 10), id);
            /* every timestamp lies in [2026-09-01, 2026-12-07] */
            for (const char *p = buf; (p = strstr(p, "2026-")) != NULL; p++)
                assert_true(strncmp(p, "2026-09-01", 10) >= 0 && strncmp(p, "2026-12-08", 10) < 0);
        }
    }
}

static void test_deterministic(void **state)
{
    (void)state;
    static struct pv_init_gen a, b, c;
    pv_init__gen_setup(&a, PV_INIT_SEED, 1, T_NOW);
    pv_init__gen_setup(&b, PV_INIT_SEED, 1, T_NOW + 3600);
    pv_init__gen_setup(&c, PV_INIT_SEED + 1, 1, T_NOW);
    char x[PV_INIT_ROW_MAX], y[PV_INIT_ROW_MAX];
    int differ = 0;
    for (int64_t id = 1; id <= 1000; id++) {
        char *ex = pv_init__gen_row(&a, PV_INIT_EVENTS, id, x);
        char *ey = pv_init__gen_row(&b, PV_INIT_EVENTS, id, y);
        assert_int_equal(ex - x, ey - y);
        assert_memory_equal(x, y, (size_t)(ex - x));
        ey = pv_init__gen_row(&c, PV_INIT_EVENTS, id, y);
        differ += ex - x != ey - y || memcmp(x, y, (size_t)(ex - x)) != 0;
    }
    assert_true(differ > 900); /* another seed, other rows */
}

static void test_tenant_skew(void **state)
{
    (void)state;
    static struct pv_init_gen g;
    pv_init__gen_setup(&g, PV_INIT_SEED, 1, T_NOW);
    int64_t n = g.rows[PV_INIT_TENANTS], count[101] = {0};
    for (int64_t a = 1; a <= g.rows[PV_INIT_AGENTS]; a++) {
        int64_t t = pv_init__agent_tenant(&g, a);
        assert_true(t >= 1 && t <= n);
        count[t]++;
    }
    /* tenant 1: about 100^(-1/4) = 32 % of 2000 agents; tenant 50: about 0.4 % */
    assert_true(count[1] > 500 && count[1] < 760);
    assert_true(count[50] < 25);
}

static void test_rows_per_scale(void **state)
{
    (void)state;
    assert_int_equal(pv_init_table_rows(PV_INIT_EVENTS, 10), 3000000);
    assert_int_equal(pv_init_table_rows(PV_INIT_TENANTS, 1), 100);
    assert_string_equal(pv_init_table_name(PV_INIT_RUNS), "pgvolley_runs");
    struct pv_init_config cfg = {.scale = 0, .jobs = 2};
    struct pv_init_result res;
    pv_err err = {{0}};
    assert_int_equal(pv_init_run(&cfg, &res, &err), VOLLEY_EINVAL);
    cfg.scale = PV_INIT_SCALE_MAX + 1;
    assert_int_equal(pv_init_run(&cfg, &res, &err), VOLLEY_EINVAL);
    cfg.scale = 1;
    cfg.jobs = 0;
    assert_int_equal(pv_init_run(&cfg, &res, &err), VOLLEY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_are_copy_lines),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_tenant_skew),
        cmocka_unit_test(test_rows_per_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
