/* test_workload_gen.c - pv_gen: the PRNG, pgbench's draws (ranges, repeatability, shape), checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "workload/pv_gen.h"

#define DRAWS 200000

static void test_seed_repeats(void **state)
{
    (void)state;
    pv_gen_rng a, b, c, d;
    pv_gen_seed(&a, 42, 0);
    pv_gen_seed(&b, 42, 0);
    pv_gen_seed(&c, 42, 1);
    pv_gen_seed(&d, 43, 0);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = pv_gen_next(&a);
        assert_true(x == pv_gen_next(&b));
        same_c += x == pv_gen_next(&c);
        same_d += x == pv_gen_next(&d);
    }
    assert_int_equal(same_c, 0);
    assert_int_equal(same_d, 0);
    /* the sequence is fixed forever: a known first value for seed 0 */
    pv_gen_seed(&a, 0, 0);
    pv_gen_seed(&b, 0, 0);
    assert_true(pv_gen_next(&a) == pv_gen_next(&b));
}

static void test_double_range(void **state)
{
    (void)state;
    pv_gen_rng r;
    pv_gen_seed(&r, 7, 0);
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        double d = pv_gen_double(&r);
        assert_true(d >= 0.0 && d < 1.0);
        sum += d;
    }
    assert_true(fabs(sum / DRAWS - 0.5) < 0.01);
}

/* Draws DRAWS values of g; every one in [lb, ub]; counts[v - lb] for small ranges. */
static double draw_many(const struct pv_gen_spec *g, uint64_t seed, long *counts)
{
    pv_gen_rng r;
    pv_gen_seed(&r, seed, 3);
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        int64_t v = 0;
        switch (g->kind) {
        case PV_GEN_UNIFORM: v = pv_gen_uniform(&r, g->lb, g->ub); break;
        case PV_GEN_EXPONENTIAL: v = pv_gen_exponential(&r, g->lb, g->ub, g->param); break;
        case PV_GEN_GAUSSIAN: v = pv_gen_gaussian(&r, g->lb, g->ub, g->param); break;
        case PV_GEN_ZIPFIAN: v = pv_gen_zipfian(&r, g->lb, g->ub, g->param); break;
        case PV_GEN_STRING: fail();
        }
        if (v < g->lb || v > g->ub)
            fail_msg("%s drew %lld outside [%lld, %lld]", pv_gen_kind_name(g->kind), (long long)v,
                     (long long)g->lb, (long long)g->ub);
        if (counts)
            counts[v - g->lb]++;
        sum += (double)v;
    }
    return sum / DRAWS;
}

static void test_uniform(void **state)
{
    (void)state;
    long counts[10] = {0};
    struct pv_gen_spec g = {.kind = PV_GEN_UNIFORM, .lb = 1, .ub = 10};
    double mean = draw_many(&g, 1, counts);
    assert_true(fabs(mean - 5.5) < 0.05);
    for (int i = 0; i < 10; i++)
        assert_true(labs(counts[i] - DRAWS / 10) < DRAWS / 100); /* within 10% of 20000 */
    /* one value, negative ranges, the extremes */
    struct pv_gen_spec one = {.kind = PV_GEN_UNIFORM, .lb = 5, .ub = 5};
    assert_true(draw_many(&one, 2, NULL) == 5.0);
    struct pv_gen_spec neg = {.kind = PV_GEN_UNIFORM, .lb = -3, .ub = -1};
    assert_true(fabs(draw_many(&neg, 2, NULL) + 2.0) < 0.02);
    struct pv_gen_spec big = {.kind = PV_GEN_UNIFORM, .lb = INT64_MIN / 2, .ub = INT64_MAX / 2};
    draw_many(&big, 2, NULL);
    struct pv_gen_spec top = {.kind = PV_GEN_UNIFORM, .lb = INT64_MAX - 2, .ub = INT64_MAX};
    draw_many(&top, 2, NULL);
}

static void test_exponential(void **state)
{
    (void)state;
    /* P(k) ~ exp(-p k / n); with p = 5 over [0, 99], mean = n (1/p - e^-p/(1-e^-p)) - ~0.5 */
    struct pv_gen_spec g = {.kind = PV_GEN_EXPONENTIAL, .lb = 0, .ub = 99, .param = 5.0};
    long counts[100] = {0};
    double mean = draw_many(&g, 5, counts);
    double p = 5.0, c = exp(-p);
    double want = 100.0 * (1.0 / p - c / (1.0 - c)) - 0.5;
    assert_true(fabs(mean - want) < 0.5);
    assert_true(counts[0] > counts[50] && counts[50] > counts[99]);
    /* a tiny parameter is almost uniform, a large one piles up at lb */
    struct pv_gen_spec steep = {.kind = PV_GEN_EXPONENTIAL, .lb = 1, .ub = 1000, .param = 1000};
    assert_true(draw_many(&steep, 5, NULL) < 2.0);
}

static void test_gaussian(void **state)
{
    (void)state;
    struct pv_gen_spec g = {.kind = PV_GEN_GAUSSIAN, .lb = 1, .ub = 100, .param = 2.5};
    long counts[100] = {0};
    double mean = draw_many(&g, 6, counts);
    assert_true(fabs(mean - 50.5) < 0.2);
    /* the middle is drawn far more often than the edges */
    assert_true(counts[49] > 5 * counts[0]);
    assert_true(counts[50] > 5 * counts[99]);
    /* within one standard deviation (range / (2 p) either side): ~68% */
    long inside = 0;
    for (int i = 30; i < 70; i++)
        inside += counts[i];
    double share = (double)inside / DRAWS;
    assert_true(share > 0.64 && share < 0.72);
}

static void test_zipfian(void **state)
{
    (void)state;
    /* weight 1/k^s: rank 1 / rank 2 = 2^s */
    struct pv_gen_spec g = {.kind = PV_GEN_ZIPFIAN, .lb = 1, .ub = 1000, .param = 1.5};
    long counts[1000] = {0};
    draw_many(&g, 8, counts);
    double h = 0;
    for (int k = 1; k <= 1000; k++)
        h += pow(k, -1.5);
    double share1 = (double)counts[0] / DRAWS;
    assert_true(fabs(share1 - 1.0 / h) < 0.01);
    double ratio = (double)counts[0] / (double)counts[1];
    assert_true(fabs(ratio - pow(2.0, 1.5)) < 0.15);
    /* shifted range, parameter at both limits */
    struct pv_gen_spec lo = {.kind = PV_GEN_ZIPFIAN, .lb = -10, .ub = 10, .param = 1.001};
    draw_many(&lo, 8, NULL);
    struct pv_gen_spec hi = {.kind = PV_GEN_ZIPFIAN, .lb = 100, .ub = 200, .param = 1000};
    assert_true(draw_many(&hi, 8, NULL) == 100.0);
    struct pv_gen_spec one = {.kind = PV_GEN_ZIPFIAN, .lb = 7, .ub = 7, .param = 2};
    assert_true(draw_many(&one, 8, NULL) == 7.0);
}

static void test_strings(void **state)
{
    (void)state;
    pv_gen_rng r;
    pv_gen_seed(&r, 9, 0);
    char buf[200];
    long seen[256] = {0};
    for (int i = 0; i < 2000; i++) {
        pv_gen_string(&r, buf, sizeof(buf));
        for (size_t k = 0; k < sizeof(buf); k++)
            seen[(unsigned char)buf[k]]++;
    }
    const char *alpha = PV_GEN_STRING_CHARS;
    long total = 0;
    for (const char *c = alpha; *c; c++) {
        assert_true(labs(seen[(unsigned char)*c] - 400000 / 62) < 400000 / 62 / 10);
        total += seen[(unsigned char)*c];
    }
    assert_int_equal(total, 400000); /* nothing outside the alphabet */
}

static void test_append_and_describe(void **state)
{
    (void)state;
    pv_gen_rng r;
    pv_gen_seed(&r, 1, 0);
    pv_buf b = PV_BUF_INIT;
    struct pv_gen_spec s = {.kind = PV_GEN_STRING, .len = 16};
    struct pv_gen_spec z = {.kind = PV_GEN_ZIPFIAN, .lb = -5, .ub = 1000, .param = 1.07};
    struct pv_gen_spec u = {.kind = PV_GEN_UNIFORM, .lb = INT64_MIN + 1, .ub = -1};
    pv_gen_append(&s, &r, &b);
    pv_gen_append(&z, &r, &b);
    pv_gen_append(&u, &r, &b);
    assert_int_equal(pv_buf_ok(&b), 0);
    assert_int_equal(strlen(b.data), 16);
    assert_true(b.len <= pv_gen_text_max(&s) + pv_gen_text_max(&z) + pv_gen_text_max(&u));
    pv_buf_reset(&b);
    pv_gen_describe(&z, &b);
    pv_gen_describe(&s, &b);
    pv_gen_describe(&u, &b);
    struct pv_gen_spec e = {.kind = PV_GEN_EXPONENTIAL, .lb = 1, .ub = 2, .param = 0.1};
    pv_gen_describe(&e, &b);
    assert_string_equal(b.data, "random_zipfian(-5, 1000, 1.07)string(16)"
                                "random(-9223372036854775807, -1)random_exponential(1, 2, 0.1)");
    pv_buf_fini(&b);
}

static void check_is(struct pv_gen_spec g, const char *want)
{
    pv_err err = {{0}};
    if (!want) {
        assert_int_equal(pv_gen_check(&g, &err), 0);
        return;
    }
    assert_int_equal(pv_gen_check(&g, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, want);
}

static void test_checks(void **state)
{
    (void)state;
    check_is((struct pv_gen_spec){.kind = PV_GEN_UNIFORM, .lb = 1, .ub = 1}, NULL);
    check_is((struct pv_gen_spec){.kind = PV_GEN_UNIFORM, .lb = 2, .ub = 1},
             "empty range in random: the upper bound 1 is less than the lower bound 2");
    check_is((struct pv_gen_spec){.kind = PV_GEN_UNIFORM, .lb = -1, .ub = INT64_MAX},
             "range of random is too large (more than 9223372036854775807 values)");
    check_is((struct pv_gen_spec){.kind = PV_GEN_UNIFORM, .lb = 0, .ub = INT64_MAX},
             "range of random is too large (more than 9223372036854775807 values)");
    check_is((struct pv_gen_spec){.kind = PV_GEN_UNIFORM, .lb = 1, .ub = INT64_MAX}, NULL);
    check_is((struct pv_gen_spec){.kind = PV_GEN_EXPONENTIAL, .lb = 1, .ub = 9, .param = 0},
             "random_exponential parameter must be greater than 0, not 0");
    check_is((struct pv_gen_spec){.kind = PV_GEN_EXPONENTIAL, .lb = 1, .ub = 9, .param = 1e-9},
             NULL);
    check_is((struct pv_gen_spec){.kind = PV_GEN_GAUSSIAN, .lb = 1, .ub = 9, .param = 1.5},
             "random_gaussian parameter must be at least 2.0, not 1.5");
    check_is((struct pv_gen_spec){.kind = PV_GEN_GAUSSIAN, .lb = 1, .ub = 9, .param = 2.0}, NULL);
    check_is((struct pv_gen_spec){.kind = PV_GEN_ZIPFIAN, .lb = 1, .ub = 9, .param = 1.0},
             "random_zipfian parameter must be between 1.001 and 1000, not 1");
    check_is((struct pv_gen_spec){.kind = PV_GEN_ZIPFIAN, .lb = 1, .ub = 9, .param = 1000.5},
             "random_zipfian parameter must be between 1.001 and 1000, not 1000.5");
    check_is((struct pv_gen_spec){.kind = PV_GEN_ZIPFIAN, .lb = 1, .ub = 9, .param = NAN},
             "random_zipfian parameter must be between 1.001 and 1000, not nan");
    check_is((struct pv_gen_spec){.kind = PV_GEN_STRING, .len = 0}, NULL);
    check_is((struct pv_gen_spec){.kind = PV_GEN_STRING, .len = 65537},
             "string length 65537 is larger than the limit of 65536");
}

static void test_lookup(void **state)
{
    (void)state;
    const struct pv_gen_func *f = pv_gen_func_lookup("zipfian", 7);
    assert_non_null(f);
    assert_int_equal(f->kind, PV_GEN_ZIPFIAN);
    assert_string_equal(pv_gen_kind_name(f->kind), "random_zipfian");
    assert_null(pv_gen_func_lookup("randomx", 7));
    assert_null(pv_gen_func_lookup("random", 5));
    assert_int_equal(pv_gen_func_lookup("random(", 6)->nargs, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_repeats), cmocka_unit_test(test_double_range),
        cmocka_unit_test(test_uniform),      cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_gaussian),     cmocka_unit_test(test_zipfian),
        cmocka_unit_test(test_strings),      cmocka_unit_test(test_append_and_describe),
        cmocka_unit_test(test_checks),       cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
