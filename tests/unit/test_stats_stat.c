/* test_stats_stat.c - the identities of pv_stat (see src/stats/pv_stat.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats/pv_stat.h"

static void check_identities(const struct pv_stat *s)
{
    uint64_t errs = 0;
    for (size_t i = 0; i < s->nerrors; i++)
        errs += s->errors[i].count;
    assert_int_equal(errs, s->failed);
    assert_int_equal(pv_hist_count(s->latency), s->succeeded);
    assert_int_equal(pv_stat_executions(s), s->succeeded + s->failed);
}

static void test_record_and_identities(void **state)
{
    (void)state;
    struct pv_stat s;
    assert_int_equal(pv_stat_init(&s), 0);
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(pv_stat_ok(&s, i * 1000000, 2), 0); /* 1..100 ms */
    assert_int_equal(pv_stat_fail(&s, 5000000, "57014", "timeout"), 0);
    assert_int_equal(pv_stat_fail(&s, 1000000, "22012", "division by zero"), 0);
    assert_int_equal(pv_stat_fail(&s, 1000000, "57014", "other text is not kept"), 0);
    assert_int_equal(pv_stat_fail(&s, 0, "", NULL), 0);
    check_identities(&s);
    assert_int_equal(s.succeeded, 100);
    assert_int_equal(s.failed, 4);
    assert_int_equal(s.rows, 200);
    /* sum covers every execution, failed ones included */
    assert_int_equal(s.sum_ns, 5050ull * 1000000 + 7000000);
    assert_int_equal(s.nerrors, 3);
    pv_stat_sort_errors(&s);
    assert_string_equal(s.errors[0].sqlstate, "57014");
    assert_int_equal(s.errors[0].count, 2);
    assert_string_equal(s.errors[0].message, "timeout");
    assert_string_equal(s.errors[1].sqlstate, "22012");
    assert_string_equal(s.errors[2].sqlstate, "XX000");

    struct pv_latency_ms l;
    pv_stat_latency(&s, &l);
    assert_true(l.min > 0.999 && l.min < 1.001);
    assert_true(l.max > 99.9 && l.max < 100.1);
    assert_true(l.avg > 50.49 && l.avg < 50.51);
    assert_true(l.p50 > 49.9 && l.p50 < 50.1);
    assert_true(l.p99 > 98.9 && l.p99 < 99.1);
    pv_stat_fini(&s);
}

static void test_merge(void **state)
{
    (void)state;
    struct pv_stat a, b, all;
    assert_int_equal(pv_stat_init(&a), 0);
    assert_int_equal(pv_stat_init(&b), 0);
    assert_int_equal(pv_stat_init(&all), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        struct pv_stat *half = i % 2 ? &a : &b;
        if (i % 10 == 0) {
            assert_int_equal(pv_stat_fail(half, i * 1000, "40001", "serialization"), 0);
            assert_int_equal(pv_stat_fail(&all, i * 1000, "40001", "serialization"), 0);
        } else {
            assert_int_equal(pv_stat_ok(half, i * 1000, 1), 0);
            assert_int_equal(pv_stat_ok(&all, i * 1000, 1), 0);
        }
    }
    struct pv_stat m;
    assert_int_equal(pv_stat_init(&m), 0);
    assert_int_equal(pv_stat_merge(&m, &a), 0);
    assert_int_equal(pv_stat_merge(&m, &b), 0);
    check_identities(&m);
    assert_int_equal(m.succeeded, all.succeeded);
    assert_int_equal(m.failed, all.failed);
    assert_int_equal(m.sum_ns, all.sum_ns);
    assert_int_equal(m.rows, all.rows);
    assert_int_equal(m.nerrors, 1);
    assert_int_equal(m.errors[0].count, 100);
    struct pv_latency_ms x, y;
    pv_stat_latency(&m, &x);
    pv_stat_latency(&all, &y);
    assert_memory_equal(&x, &y, sizeof(x));
    pv_stat_fini(&a);
    pv_stat_fini(&b);
    pv_stat_fini(&all);
    pv_stat_fini(&m);
}

static void test_empty(void **state)
{
    (void)state;
    struct pv_stat s;
    assert_int_equal(pv_stat_init(&s), 0);
    struct pv_latency_ms l;
    pv_stat_latency(&s, &l);
    assert_true(l.min == 0 && l.max == 0 && l.avg == 0 && l.p99 == 0);
    check_identities(&s);
    pv_stat_fini(&s);
    pv_stat_fini(&s); /* safe on a zeroed struct */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_identities),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
