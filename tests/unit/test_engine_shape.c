/* test_engine_shape.c - load shapes: the --stages parser and its messages, the
   target, its integral and exact inverse, and open-model arrivals (uniform and
   Poisson from a fixed sequence of random numbers). No server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_shape.h"

/* ---- helpers -------------------------------------------------------------- */

/* A 64-bit LCG (Knuth's MMIX constants): u in (0, 1], the same every run. */
static double lcg_u(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (double)((*x >> 11) + 1) * 0x1p-53;
}

static pv_shape *parse_ok(const char *spec, double start)
{
    pv_shape *s = NULL;
    pv_err err = {{0}};
    int rc = pv_shape_parse(spec, start, 1e9, &s, &err);
    if (rc != 0)
        fail_msg("'%s': %s", spec, err.msg);
    return s;
}

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

/* ---- parser --------------------------------------------------------------- */

static void test_parse_stages(void **state)
{
    (void)state;
    pv_shape *s = parse_ok("30s:100,2m:100,30s:0", 0);
    assert_int_equal(pv_shape_nstages(s), 3);
    assert_true(pv_shape_duration(s) == 180);
    assert_true(pv_shape_max(s) == 100);
    assert_true(pv_shape_start(s) == 0);
    assert_true(pv_shape_stage(s, 1)->duration_s == 120);
    assert_true(pv_shape_stage(s, 2)->target == 0);
    assert_null(pv_shape_stage(s, 3));
    assert_null(pv_shape_stage(s, -1));
    pv_shape_destroy(s);

    /* every unit, a bare number, whitespace around items and parts */
    s = parse_ok(" 250ms:1 , 1.5s : 2,90:3,\t2m:4.5,1h:5,1e1:6 ", 7);
    const double want[] = {0.25, 1.5, 90, 120, 3600, 10};
    assert_int_equal(pv_shape_nstages(s), 6);
    for (int i = 0; i < 6; i++)
        assert_true(pv_shape_stage(s, i)->duration_s == want[i]);
    assert_true(pv_shape_stage(s, 3)->target == 4.5);
    assert_true(pv_shape_max(s) == 7); /* the start counts */
    pv_shape_destroy(s);

    /* a stage of duration 0 is a jump; 1000 stages are allowed */
    s = parse_ok("0:100,10s:100", 0);
    assert_true(pv_shape_at(s, 0) == 100);
    pv_shape_destroy(s);
    char spec[8 * 1000 + 1] = "";
    size_t len = 0;
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, "%s1s:%d", i ? "," : "", i);
    s = parse_ok(spec, 0);
    assert_int_equal(pv_shape_nstages(s), 1000);
    pv_shape_destroy(s);
    pv_shape_destroy(NULL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        const char *msg;
    } cases[] = {
        {"30s:100,2x:100", "stage 2 ('2x:100'): unknown unit 'x' (use ms, s, m or h)"},
        {"10d:1", "stage 1 ('10d:1'): unknown unit 'd' (use ms, s, m or h)"},
        {"10 sec:1", "stage 1 ('10 sec:1'): unknown unit 'sec' (use ms, s, m or h)"},
        {"", "no stages (expected DURATION:TARGET,..., e.g. 30s:100,2m:100,30s:0)"},
        {" \t", "no stages (expected DURATION:TARGET,..., e.g. 30s:100,2m:100,30s:0)"},
        {"30s:100,,1m:0", "stage 2 (''): empty stage (expected DURATION:TARGET, e.g. 30s:100)"},
        {"30s:100, ", "stage 2 (''): empty stage (expected DURATION:TARGET, e.g. 30s:100)"},
        {"30s", "stage 1 ('30s'): expected DURATION:TARGET, e.g. 30s:100"},
        {"-5s:100", "stage 1 ('-5s:100'): negative duration"},
        {"5s:-1", "stage 1 ('5s:-1'): negative target"},
        {"abc:1", "stage 1 ('abc:1'): invalid duration 'abc'"},
        {":1", "stage 1 (':1'): invalid duration ''"},
        {"0x10:1", "stage 1 ('0x10:1'): invalid duration '0x10'"},
        {"inf:1", "stage 1 ('inf:1'): invalid duration 'inf'"},
        {"nan:1", "stage 1 ('nan:1'): invalid duration 'nan'"},
        {"10s:abc", "stage 1 ('10s:abc'): invalid target 'abc'"},
        {"10s:5x", "stage 1 ('10s:5x'): invalid target '5x'"},
        {"10s:", "stage 1 ('10s:'): invalid target ''"},
        {"10s:1:2", "stage 1 ('10s:1:2'): invalid target '1:2'"},
        {"10s:20000", "stage 1 ('10s:20000'): target 20000 above the maximum 10000"},
        {"0:100", "total duration is 0 (no stage has a duration)"},
        {"0s:1, 0ms:2", "total duration is 0 (no stage has a duration)"},
        {"721h:1", "stage 1 ('721h:1'): duration above 30 days"},
        {"720h:1,1s:1", "total duration 2592001 s is above 30 days"},
        {"1e300h:1", "stage 1 ('1e300h:1'): duration above 30 days"},
        {"1e400:1", "stage 1 ('1e400:1'): duration out of range"},
        {"1:1e400", "stage 1 ('1:1e400'): target out of range"},
        {"1s:1,2s:2,3q:3", "stage 3 ('3q:3'): unknown unit 'q' (use ms, s, m or h)"},
        /* found by fuzz_shape: raw bytes reached the message */
        {"\xea\n1x'", "character 1 of the stages is not printable ASCII (byte 0xea)"},
        {"1s:1\n", "character 5 of the stages is not printable ASCII (byte 0x0a)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pv_shape *s = (pv_shape *)(uintptr_t)1; /* must be reset */
        pv_err err = {{0}};
        assert_int_equal(pv_shape_parse(cases[i].spec, 0, 10000, &s, &err), VOLLEY_EINVAL);
        assert_null(s);
        assert_string_equal(err.msg, cases[i].msg);
    }

    pv_shape *s = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_shape_parse(NULL, 0, 100, &s, &err), VOLLEY_EINVAL);
    assert_int_equal(pv_shape_parse("1s:1", -1, 100, &s, &err), VOLLEY_EINVAL);
    assert_string_equal(err.msg, "start value -1 is not in [0, 100]");
    assert_int_equal(pv_shape_parse("1s:1", 101, 100, &s, &err), VOLLEY_EINVAL);

    /* too many stages; a long stage is cut in the message */
    char spec[4 * 1001 + 1] = "";
    for (int i = 0; i < 1001; i++)
        memcpy(spec + 4 * i, "1:1,", 4);
    spec[4 * 1001 - 1] = '\0';
    assert_int_equal(pv_shape_parse(spec, 0, 100, &s, &err), VOLLEY_EINVAL);
    assert_string_equal(err.msg, "1001 stages (at most 1000)");
    char longer[3 + 100 + 2] = "1s:";
    memset(longer + 3, '0', 100);
    memcpy(longer + 103, "x", 2);
    assert_int_equal(pv_shape_parse(longer, 0, 100, &s, &err), VOLLEY_EINVAL);
    assert_true(strlen(err.msg) < 200);
    assert_non_null(strstr(err.msg, "stage 1 ('1s:0000"));
    assert_non_null(strstr(err.msg, "invalid target"));
}

static void test_create_errors(void **state)
{
    (void)state;
    pv_shape *s = NULL;
    pv_err err = {{0}};
    struct pv_stage st[2] = {{10, 5}, {-1, 5}};
    assert_int_equal(pv_shape_create(0, st, 0, &s, &err), VOLLEY_EINVAL);
    assert_string_equal(err.msg, "no stages");
    assert_int_equal(pv_shape_create(0, st, 2, &s, &err), VOLLEY_EINVAL);
    assert_string_equal(err.msg, "stage 2: negative duration");
    st[1] = (struct pv_stage){1, NAN};
    assert_int_equal(pv_shape_create(0, st, 2, &s, &err), VOLLEY_EINVAL);
    assert_string_equal(err.msg, "stage 2: target out of range");
    assert_int_equal(pv_shape_create(NAN, st, 1, &s, &err), VOLLEY_EINVAL);
    assert_null(s);
    assert_int_equal(pv_shape_create(0, st, 1, &s, &err), 0);
    assert_true(pv_shape_duration(s) == 10);
    pv_shape_destroy(s);
}

/* ---- target, integral, inverse -------------------------------------------- */

static void test_constant(void **state)
{
    (void)state;
    pv_shape *s = parse_ok("10s:100", 100);
    assert_true(pv_shape_at(s, -1) == 100);
    assert_true(pv_shape_at(s, 5) == 100);
    assert_true(pv_shape_at(s, 20) == 100);
    assert_true(pv_shape_integral(s, -1) == 0);
    assert_true(pv_shape_integral(s, 5) == 500);
    assert_true(pv_shape_integral(s, 20) == 1000);
    assert_true(pv_shape_inverse(s, 0) == 0);
    assert_true(pv_shape_inverse(s, -3) == 0);
    assert_true(pv_shape_inverse(s, 500) == 5);
    assert_true(pv_shape_inverse(s, 1000) == 10);
    assert_true(pv_shape_inverse(s, 1000.000001) < 0);
    assert_true(pv_shape_inverse(s, INFINITY) < 0);
    assert_true(pv_shape_inverse(s, NAN) < 0);
    pv_shape_destroy(s);
}

static void test_ramps(void **state)
{
    (void)state;
    /* up from 0: integral 50 t^2 */
    pv_shape *s = parse_ok("10s:1000", 0);
    assert_true(pv_shape_at(s, 5) == 500);
    assert_true(pv_shape_integral(s, 5) == 1250);
    assert_true(pv_shape_integral(s, 10) == 5000);
    assert_near(pv_shape_inverse(s, 1250), 5, 1e-12);
    assert_near(pv_shape_inverse(s, 0.005), 0.01, 1e-15);
    assert_true(pv_shape_inverse(s, 5000) == 10);
    pv_shape_destroy(s);

    /* down to 0: integral 100 t - 5 t^2; the whole of it is reached at the very end */
    s = parse_ok("10s:0", 100);
    assert_true(pv_shape_at(s, 5) == 50);
    assert_true(pv_shape_at(s, 10) == 0);
    assert_true(pv_shape_integral(s, 5) == 375);
    assert_true(pv_shape_integral(s, 10) == 500);
    assert_near(pv_shape_inverse(s, 375), 5, 1e-12);
    assert_true(pv_shape_inverse(s, 500) == 10);
    assert_near(pv_shape_inverse(s, 500 - 5e-6), 10 - 1e-3, 1e-9);
    assert_true(pv_shape_inverse(s, 500.001) < 0);
    pv_shape_destroy(s);
}

static void test_jumps_and_flat_zero(void **state)
{
    (void)state;
    /* 0 for 10 s, a jump to 100 for 10 s, a jump to 0 for 10 s, then 0 -> 50 in 5 s */
    pv_shape *s = parse_ok("10s:0,0:100,10s:100,0:0,10s:0,5s:50", 0);
    assert_true(pv_shape_duration(s) == 35);
    assert_true(pv_shape_at(s, 9.999) == 0);
    assert_true(pv_shape_at(s, 10) == 100); /* right-continuous at a jump */
    assert_true(pv_shape_at(s, 19.999) == 100);
    assert_true(pv_shape_at(s, 20) == 0);
    assert_true(pv_shape_at(s, 32.5) == 25);
    assert_true(pv_shape_integral(s, 10) == 0);
    assert_true(pv_shape_integral(s, 25) == 1000);
    assert_true(pv_shape_integral(s, 35) == 1125);
    /* the smallest t: a flat stretch of 0 is skipped forwards, never entered */
    assert_near(pv_shape_inverse(s, 1e-9), 10, 1e-10);
    assert_true(pv_shape_inverse(s, 1000) == 20);
    assert_near(pv_shape_inverse(s, 1000 + 1e-9), 30, 1e-3);
    assert_true(pv_shape_inverse(s, 1125) == 35);
    pv_shape_destroy(s);

    /* a jump as the last stage: the shape keeps the last target */
    s = parse_ok("10s:100,0:0", 100);
    assert_true(pv_shape_at(s, 10) == 0);
    assert_true(pv_shape_at(s, 9.5) == 100);
    assert_true(pv_shape_integral(s, 10) == 1000);
    assert_true(pv_shape_inverse(s, 1000) == 10);
    pv_shape_destroy(s);
}

/* inverse(integral(t)) == t (relative 1e-9) where the target before t is positive. */
static void check_round_trip(pv_shape *s, uint64_t seed)
{
    double d = pv_shape_duration(s);
    for (int j = 0; j <= 20000; j++) {
        double t = j <= 10000 ? d * j / 10000 : d * lcg_u(&seed);
        double back = pv_shape_inverse(s, pv_shape_integral(s, t));
        if (!(fabs(back - t) <= 1e-9 * t))
            fail_msg("t %.17g: inverse(integral(t)) = %.17g", t, back);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *specs[] = {"10s:100", "10s:1000", "10s:0", "2m:3,0:700,1s:0.5,0ms:9,1h:9,30s:0"};
    const double starts[] = {100, 0, 100, 0.001};
    for (int i = 0; i < 4; i++) {
        pv_shape *s = parse_ok(specs[i], starts[i]);
        check_round_trip(s, 42 + (uint64_t)i);
        pv_shape_destroy(s);
    }
    /* 1000 random stages, some of them jumps, targets in [1, 1000] */
    struct pv_stage st[1000];
    uint64_t x = 7;
    for (int i = 0; i < 1000; i++) {
        st[i].duration_s = lcg_u(&x) < 0.1 ? 0 : 5 * lcg_u(&x);
        st[i].target = 1 + 999 * lcg_u(&x);
    }
    pv_shape *s = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_shape_create(1, st, 1000, &s, &err), 0);
    check_round_trip(s, 9);
    pv_shape_destroy(s);
}

/* ---- arrivals ------------------------------------------------------------- */

/* All arrivals of one thread into t (at most cap), their number returned. */
static int arrivals(const pv_shape *s, enum pv_arrival kind, int thread, int nthreads,
                    uint64_t seed, double *t, int cap)
{
    struct pv_arrivals a;
    pv_arrivals_init(&a, s, kind, thread, nthreads);
    int n = 0;
    double prev = 0, at = 0;
    while (pv_arrivals_next(&a, lcg_u(&seed), &at)) {
        assert_true(at >= prev); /* non-decreasing, within the shape */
        assert_true(at <= pv_shape_duration(s));
        prev = at;
        if (t && n < cap)
            t[n] = at;
        n++;
    }
    for (int i = 0; i < 3; i++) /* over means over */
        assert_false(pv_arrivals_next(&a, lcg_u(&seed), &at));
    return n;
}

static void test_uniform(void **state)
{
    (void)state;
    static double t[1000];
    pv_shape *s = parse_ok("10s:100", 100);
    assert_int_equal(arrivals(s, PV_ARRIVAL_UNIFORM, 0, 1, 0, t, 1000), 1000);
    for (int k = 0; k < 1000; k++)
        assert_near(t[k], (k + 0.5) / 100, 1e-12);
    pv_shape_destroy(s);

    s = parse_ok("3s:7", 7);
    assert_int_equal(arrivals(s, PV_ARRIVAL_UNIFORM, 0, 1, 0, NULL, 0), 21);
    pv_shape_destroy(s);
    /* R * D = 10.5: arrivals at 0.5, ..., 10.5 of the integral (the last at the end) */
    s = parse_ok("1.05s:10", 10);
    assert_int_equal(arrivals(s, PV_ARRIVAL_UNIFORM, 0, 1, 0, NULL, 0), 11);
    pv_shape_destroy(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_uniform_threads_interleave(void **state)
{
    (void)state;
    enum { N = 3 };
    static double t[900];
    pv_shape *s = parse_ok("10s:90", 90);
    int n = 0;
    for (int i = 0; i < N; i++) {
        int k = arrivals(s, PV_ARRIVAL_UNIFORM, i, N, 0, t + n, 900 - n);
        assert_int_equal(k, 300);
        n += k;
    }
    qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
    for (int k = 0; k < n; k++)
        assert_near(t[k], (k + 0.5) / 90, 1e-9);
    pv_shape_destroy(s);
}

static void test_poisson(void **state)
{
    (void)state;
    pv_shape *s = parse_ok("100s:1000", 1000);
    int n = arrivals(s, PV_ARRIVAL_POISSON, 0, 1, 1, NULL, 0);
    assert_true(n > 99000 && n < 101000);
    /* four threads share the rate */
    int total = 0;
    for (int i = 0; i < 4; i++)
        total += arrivals(s, PV_ARRIVAL_POISSON, i, 4, 100 + (uint64_t)i, NULL, 0);
    assert_true(total > 99000 && total < 101000);
    pv_shape_destroy(s);

    /* a ramp 0 -> 1000 in 10 s: 5000 expected, 3750 of them in the second half */
    static double t[6000];
    s = parse_ok("10s:1000", 0);
    n = arrivals(s, PV_ARRIVAL_POISSON, 0, 1, 2, t, 6000);
    assert_true(n > 4750 && n < 5250);
    int late = 0;
    for (int k = 0; k < n; k++)
        late += t[k] >= 5;
    assert_true(late > 0.72 * n && late < 0.78 * n);
    pv_shape_destroy(s);
}

static void test_zero_target(void **state)
{
    (void)state;
    pv_shape *s = parse_ok("10s:0", 0);
    const double us[] = {0.5, 1.0, 1e-300, 0.0};
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
            struct pv_arrivals a;
            double t = -1;
            pv_arrivals_init(&a, s, (enum pv_arrival)kind, 0, 1);
            for (int k = 0; k < 100; k++)
                assert_false(pv_arrivals_next(&a, us[i], &t));
            assert_true(t == -1);
        }
    pv_shape_destroy(s);

    /* 0, then 100/s: no arrival before the jump */
    s = parse_ok("10s:0,0:100,10s:100", 0);
    static double t[2000];
    int n = arrivals(s, PV_ARRIVAL_POISSON, 0, 1, 3, t, 2000);
    assert_true(n > 850 && n < 1150);
    assert_true(t[0] >= 10);
    assert_int_equal(arrivals(s, PV_ARRIVAL_UNIFORM, 0, 1, 0, t, 2000), 1000);
    assert_near(t[0], 10.005, 1e-12);
    pv_shape_destroy(s);
}

/*
 * The cost of pv_arrivals_next without a clock: its cursor (the stage of the
 * last arrival) only moves forward and always holds the arrival, so a whole
 * schedule over 1000 stages walks at most 1000 stages in all.
 */
static void test_arrivals_cursor(void **state)
{
    (void)state;
    enum { NST = 1000 };
    struct pv_stage st[NST];
    double t0[NST + 1] = {0};
    uint64_t x = 11;
    for (int i = 0; i < NST; i++) {
        st[i].duration_s = lcg_u(&x) < 0.1 ? 0 : 0.1 * lcg_u(&x);
        st[i].target = lcg_u(&x) < 0.2 ? 0 : 1000 * lcg_u(&x);
        t0[i + 1] = t0[i] + st[i].duration_s; /* summed as pv_shape does */
    }
    pv_shape *s = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_shape_create(0, st, NST, &s, &err), 0);
    struct pv_arrivals a;
    pv_arrivals_init(&a, s, PV_ARRIVAL_POISSON, 0, 1);
    int seg = 0, n = 0;
    double t = 0;
    while (pv_arrivals_next(&a, lcg_u(&x), &t)) {
        assert_true(a.seg >= seg && a.seg < NST);
        assert_true(t >= t0[a.seg] && t <= t0[a.seg + 1]);
        seg = a.seg;
        n++;
    }
    assert_true(n > 1000);
    assert_true(seg > NST / 2); /* it did walk */
    pv_shape_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stages),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_ramps),
        cmocka_unit_test(test_jumps_and_flat_zero),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_uniform_threads_interleave),
        cmocka_unit_test(test_poisson),
        cmocka_unit_test(test_zero_target),
        cmocka_unit_test(test_arrivals_cursor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
