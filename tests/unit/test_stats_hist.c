/* test_stats_hist.c - pv_hist against known distributions and exact references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/pv_hist.h"

/* mallinfo2 (glibc >= 2.33) lets test_memory_follows_values see the heap. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

/* ---- helpers -------------------------------------------------------------- */

/* splitmix64: a fixed-seed PRNG so every run sees the same values. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double rng_unit(uint64_t *state)
{
    return ((double)(rng_next(state) >> 11) + 1.0) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/*
 * The exact percentile of a sorted array with the header's definition: the
 * smallest value v such that at least q% of the values are <= v, i.e. the
 * value at rank ceil(q/100 * n). Computed with integer arithmetic on q in
 * thousandths of a percent, so the reference has no rounding doubt.
 */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, uint64_t q_milli)
{
    if (q_milli == 0)
        return sorted[0];
    uint64_t rank = (q_milli * n + 99999) / 100000; /* ceil(q_milli * n / 100000) */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* The documented resolution: width 1 below 2048 ns, else 1/1024 of the band start. */
static uint64_t bucket_width(uint64_t v)
{
    if (v < 2048)
        return 1;
    int msb = 63 - __builtin_clzll(v);
    return 1ull << (msb - 10);
}

static pv_hist *new_hist(void)
{
    pv_hist *h = NULL;
    assert_int_equal(pv_hist_create(&h), 0);
    assert_non_null(h);
    return h;
}

static void record_all(pv_hist *h, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pv_hist_record(h, v[i]), 0);
}

/* Two-pass reference mean and population stddev in long double. */
static void reference_moments(const uint64_t *v, size_t n, double *mean, double *sd)
{
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (long double)v[i];
    long double m = sum / (long double)n;
    long double ss = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)v[i] - m;
        ss += d * d;
    }
    *mean = (double)m;
    *sd = (double)sqrtl(ss / (long double)n);
}

static void assert_close(double got, double want, double rel)
{
    double tol = fabs(want) * rel;
    if (fabs(got - want) > tol)
        fail_msg("got %.17g, want %.17g (rel tol %g)", got, want, rel);
}

/*
 * Checks exact figures and a sweep of percentiles against the sorted array.
 * Because bucketing is monotone, the value at the wanted rank lies in the
 * bucket the histogram picks, so the answer is off by less than one bucket
 * width (<= value/1024), plus the 0.1% the brief allows on top.
 */
static void check_against_sorted(const pv_hist *h, uint64_t *v, size_t n)
{
    static const uint64_t qs[] = {0,     1000,  10000, 25000, 50000, 75000, 90000,
                                  95000, 99000, 99900, 99990, 99999, 100000};
    double mean, sd;
    reference_moments(v, n, &mean, &sd);
    qsort(v, n, sizeof(*v), cmp_u64);

    assert_int_equal(pv_hist_count(h), n);
    assert_int_equal(pv_hist_min(h), v[0]);
    assert_int_equal(pv_hist_max(h), v[n - 1]);
    assert_close(pv_hist_mean(h), mean, 1e-12);
    if (sd == 0)
        assert_true(pv_hist_stddev(h) == 0);
    else
        assert_close(pv_hist_stddev(h), sd, 1e-9);

    uint64_t prev = 0;
    for (size_t i = 0; i < PV_ARRAY_LEN(qs); i++) {
        uint64_t want = exact_percentile(v, n, qs[i]);
        uint64_t got = pv_hist_percentile(h, (double)qs[i] / 1000.0);
        uint64_t diff = got > want ? got - want : want - got;
        uint64_t tol = want / 1000 + bucket_width(want);
        if (diff > tol)
            fail_msg("p%g: got %llu, want %llu (tol %llu)", (double)qs[i] / 1000.0,
                     (unsigned long long)got, (unsigned long long)want, (unsigned long long)tol);
        /* the tighter bound the layout promises: less than one bucket */
        assert_true(diff < bucket_width(want));
        assert_in_range(got, v[0], v[n - 1]);
        assert_true(got >= prev); /* monotone in q */
        prev = got;
    }
}

/* Sum of iterator counts, checking order and the bucket shape on the way. */
static uint64_t iter_total(const pv_hist *h)
{
    struct pv_hist_iter it;
    uint64_t total = 0, prev_hi = 0;
    bool first = true;
    pv_hist_iter_init(&it);
    while (pv_hist_iter_next(h, &it)) {
        assert_true(it.count > 0);
        assert_true(it.lo_ns <= it.hi_ns);
        if (!first)
            assert_true(it.lo_ns > prev_hi);
        if (it.hi_ns != UINT64_MAX)
            assert_true(it.hi_ns - it.lo_ns + 1 <= PV_MAX(1, it.lo_ns / 1024));
        first = false;
        prev_hi = it.hi_ns;
        total += it.count;
    }
    assert_false(pv_hist_iter_next(h, &it)); /* stays exhausted */
    return total;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_empty(void **state)
{
    (void)state;
    pv_hist *h = new_hist();
    assert_int_equal(pv_hist_count(h), 0);
    assert_int_equal(pv_hist_min(h), 0);
    assert_int_equal(pv_hist_max(h), 0);
    assert_true(pv_hist_mean(h) == 0);
    assert_true(pv_hist_stddev(h) == 0);
    assert_true(pv_hist_sum(h) == 0);
    assert_int_equal(pv_hist_percentile(h, 0), 0);
    assert_int_equal(pv_hist_percentile(h, 50), 0);
    assert_int_equal(pv_hist_percentile(h, 100), 0);
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    assert_false(pv_hist_iter_next(h, &it));
    pv_hist_destroy(h);
    pv_hist_destroy(NULL);
}

static void test_uniform(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    pv_hist *h = new_hist();
    for (size_t i = 0; i < n; i++) {
        v[i] = (uint64_t)(i + 1) * US;
        assert_int_equal(pv_hist_record(h, v[i]), 0);
    }
    /* The brief's numbers, spelled out: exact p50/p90/p99 of 1..100000 us. */
    static const struct {
        double q;
        uint64_t exact;
    } want[] = {{50, 50000 * US}, {90, 90000 * US}, {99, 99000 * US}};
    for (size_t i = 0; i < PV_ARRAY_LEN(want); i++) {
        uint64_t got = pv_hist_percentile(h, want[i].q);
        uint64_t diff = got > want[i].exact ? got - want[i].exact : want[i].exact - got;
        assert_true(diff <= want[i].exact / 1000 + bucket_width(want[i].exact));
    }
    assert_true(pv_hist_sum(h) == 5000050000.0 * US);
    assert_close(pv_hist_mean(h), 50000.5 * US, 1e-15);
    check_against_sorted(h, v, n);
    assert_int_equal(iter_total(h), n);
    free(v);
    pv_hist_destroy(h);
}

static void test_constant(void **state)
{
    (void)state;
    pv_hist *h = new_hist();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pv_hist_record(h, 123456789), 0);
    /* The bucket midpoint is clamped to [min, max], so every answer is exact. */
    for (double q = 0; q <= 100; q += 0.5)
        assert_int_equal(pv_hist_percentile(h, q), 123456789);
    assert_int_equal(pv_hist_min(h), 123456789);
    assert_int_equal(pv_hist_max(h), 123456789);
    assert_true(pv_hist_mean(h) == 123456789.0);
    assert_true(pv_hist_stddev(h) == 0); /* no cancellation noise */
    assert_true(pv_hist_sum(h) == 123456789000.0);
    assert_int_equal(iter_total(h), 1000);
    pv_hist_destroy(h);
}

static void test_bimodal(void **state)
{
    (void)state;
    /* 90% near 1 ms, 10% near 100 ms, interleaved. */
    size_t n = 10000;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    uint64_t rng = 42;
    pv_hist *h = new_hist();
    for (size_t i = 0; i < n; i++) {
        uint64_t jitter = rng_next(&rng) % (50 * US);
        v[i] = (i % 10 == 9) ? 100 * MS + jitter : 1 * MS + jitter;
        assert_int_equal(pv_hist_record(h, v[i]), 0);
    }
    /*
     * The 9000th value is the last of the low mode, the 9001st the first of
     * the high one. Bounds widened by one bucket (512 ns at 1 ms, 64 us at
     * 100 ms) since the answer is a bucket midpoint.
     */
    uint64_t low_lo = 1 * MS - 512, low_hi = 1 * MS + 50 * US + 512;
    uint64_t high_lo = 100 * MS - 65536, high_hi = 100 * MS + 50 * US + 65536;
    assert_in_range(pv_hist_percentile(h, 50), low_lo, low_hi);
    assert_in_range(pv_hist_percentile(h, 90), low_lo, low_hi);
    assert_in_range(pv_hist_percentile(h, 90.01), high_lo, high_hi);
    assert_in_range(pv_hist_percentile(h, 99), high_lo, high_hi);
    check_against_sorted(h, v, n);
    free(v);
    pv_hist_destroy(h);
}

static void test_exponential(void **state)
{
    (void)state;
    /* Exponential with mean 2 ms plus a 50 us floor: a typical latency shape. */
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    uint64_t rng = 0x5eed;
    pv_hist *h = new_hist();
    for (size_t i = 0; i < n; i++) {
        v[i] = 50 * US + (uint64_t)(-log(rng_unit(&rng)) * 2e6);
        assert_int_equal(pv_hist_record(h, v[i]), 0);
    }
    check_against_sorted(h, v, n);
    assert_int_equal(iter_total(h), n);
    free(v);
    pv_hist_destroy(h);
}

static void test_small_values_exact(void **state)
{
    (void)state;
    /* Below 2048 ns every bucket holds one value: percentiles are exact. */
    uint64_t v[] = {0, 1, 2, 500, 999, 1000, 1023, 1024, 1025, 2047};
    size_t n = PV_ARRAY_LEN(v);
    pv_hist *h = new_hist();
    record_all(h, v, n);
    assert_int_equal(pv_hist_min(h), 0);
    assert_int_equal(pv_hist_max(h), 2047);
    for (size_t i = 0; i < n; i++) {
        /* q = (i+1)/n * 100 selects exactly rank i+1 */
        double q = (double)(i + 1) * 100.0 / (double)n;
        assert_int_equal(pv_hist_percentile(h, q), v[i]);
    }
    /* each value sits alone in its own bucket */
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    for (size_t i = 0; i < n; i++) {
        assert_true(pv_hist_iter_next(h, &it));
        assert_int_equal(it.lo_ns, v[i]);
        assert_int_equal(it.hi_ns, v[i]);
        assert_int_equal(it.count, 1);
    }
    assert_false(pv_hist_iter_next(h, &it));
    pv_hist_destroy(h);
}

static void test_above_one_hour(void **state)
{
    (void)state;
    uint64_t two_hours = 2 * PV_HIST_MAX_NS;
    pv_hist *h = new_hist();
    assert_int_equal(pv_hist_record(h, 1 * MS), 0);
    assert_int_equal(pv_hist_record(h, PV_HIST_MAX_NS), 0);
    assert_int_equal(pv_hist_record(h, two_hours), 0);
    assert_int_equal(pv_hist_record(h, UINT64_MAX), 0);

    /* min/max/sum keep exact values; the sum needs more than 64 bits here. */
    assert_int_equal(pv_hist_count(h), 4);
    assert_int_equal(pv_hist_min(h), 1 * MS);
    assert_true(pv_hist_max(h) == UINT64_MAX);
    long double sum = (long double)MS + PV_HIST_MAX_NS + two_hours + (long double)UINT64_MAX;
    assert_close(pv_hist_sum(h), (double)sum, 1e-15);
    assert_close(pv_hist_mean(h), (double)(sum / 4), 1e-15);
    uint64_t v[] = {1 * MS, PV_HIST_MAX_NS, two_hours, UINT64_MAX};
    double mean, sd;
    reference_moments(v, 4, &mean, &sd);
    assert_close(pv_hist_stddev(h), sd, 1e-12);

    /* The top bucket holds 1 h and everything above it; it is open-ended. */
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    assert_true(pv_hist_iter_next(h, &it));
    assert_true(it.lo_ns <= 1 * MS && 1 * MS <= it.hi_ns);
    assert_int_equal(it.count, 1);
    assert_true(pv_hist_iter_next(h, &it));
    assert_true(it.lo_ns <= PV_HIST_MAX_NS);
    assert_true(PV_HIST_MAX_NS - it.lo_ns < PV_HIST_MAX_NS / 1024);
    assert_true(it.hi_ns == UINT64_MAX);
    assert_int_equal(it.count, 3);
    assert_false(pv_hist_iter_next(h, &it));

    /* Percentiles stay within [min, max] and near 1 h for the top bucket. */
    uint64_t p25 = pv_hist_percentile(h, 25);
    assert_in_range(p25, 1 * MS, 1 * MS + 1 * MS / 1024);
    uint64_t p50 = pv_hist_percentile(h, 50);
    assert_in_range(p50, PV_HIST_MAX_NS - PV_HIST_MAX_NS / 1024,
                    PV_HIST_MAX_NS + PV_HIST_MAX_NS / 1024);
    assert_true(pv_hist_percentile(h, 100) == UINT64_MAX);

    /* Only values above 1 h: the clamp to [min, max] gives them back exactly. */
    pv_hist_reset(h);
    assert_int_equal(pv_hist_record(h, two_hours), 0);
    assert_int_equal(pv_hist_record(h, two_hours), 0);
    assert_int_equal(pv_hist_percentile(h, 50), two_hours);
    assert_int_equal(pv_hist_percentile(h, 99.9), two_hours);
    pv_hist_destroy(h);
}

static void test_iterator_buckets_match_values(void **state)
{
    (void)state;
    /*
     * Values spread over every band: each bucket the iterator reports must
     * hold exactly the recorded values that lie in [lo, hi].
     */
    size_t n = 5000;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    uint64_t rng = 7;
    pv_hist *h = new_hist();
    for (size_t i = 0; i < n; i++) {
        /* log-uniform over 1 ns .. 2^42 ns (past 1 h) */
        int bits = 1 + (int)(rng_next(&rng) % 42);
        v[i] = rng_next(&rng) & ((1ull << bits) - 1);
        assert_int_equal(pv_hist_record(h, v[i]), 0);
    }
    struct pv_hist_iter it;
    uint64_t total = 0;
    pv_hist_iter_init(&it);
    while (pv_hist_iter_next(h, &it)) {
        uint64_t in = 0;
        for (size_t i = 0; i < n; i++)
            in += v[i] >= it.lo_ns && v[i] <= it.hi_ns;
        assert_int_equal(it.count, in);
        total += it.count;
    }
    assert_int_equal(total, n);
    assert_int_equal(iter_total(h), n);
    free(v);
    pv_hist_destroy(h);
}

/* Asserts that x and y hold the same values: exact figures, buckets, percentiles. */
static void assert_same_hist(const pv_hist *x, const pv_hist *y)
{
    assert_int_equal(pv_hist_count(x), pv_hist_count(y));
    assert_int_equal(pv_hist_min(x), pv_hist_min(y));
    assert_int_equal(pv_hist_max(x), pv_hist_max(y));
    assert_true(pv_hist_sum(x) == pv_hist_sum(y));
    assert_true(pv_hist_mean(x) == pv_hist_mean(y));
    assert_close(pv_hist_stddev(x), pv_hist_stddev(y), 1e-12);
    for (double q = 0; q <= 100; q += 0.25)
        assert_int_equal(pv_hist_percentile(x, q), pv_hist_percentile(y, q));

    struct pv_hist_iter ix, iy;
    pv_hist_iter_init(&ix);
    pv_hist_iter_init(&iy);
    while (pv_hist_iter_next(y, &iy)) {
        assert_true(pv_hist_iter_next(x, &ix));
        assert_int_equal(ix.lo_ns, iy.lo_ns);
        assert_int_equal(ix.hi_ns, iy.hi_ns);
        assert_int_equal(ix.count, iy.count);
    }
    assert_false(pv_hist_iter_next(x, &ix));
}

static void test_merge_halves(void **state)
{
    (void)state;
    size_t n = 50000, half = n / 2;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    uint64_t rng = 99;
    for (size_t i = 0; i < n; i++) {
        /* the halves differ in range, so dst must allocate bands it lacks */
        v[i] = i < half ? 100 * US + rng_next(&rng) % (900 * US)
                        : 5 * MS + (uint64_t)(-log(rng_unit(&rng)) * 20e6);
    }
    pv_hist *all = new_hist(), *empty = new_hist();
    pv_hist *lo = new_hist(), *hi = new_hist(), *lo2 = new_hist(), *hi2 = new_hist();
    record_all(all, v, n);
    record_all(lo, v, half);
    record_all(lo2, v, half);
    record_all(hi, v + half, n - half);
    record_all(hi2, v + half, n - half);

    /* both directions: dst gains a larger max in one, a smaller min in the other */
    assert_int_equal(pv_hist_merge(lo, hi), 0);
    assert_int_equal(pv_hist_merge(hi2, lo2), 0);
    assert_int_equal(pv_hist_merge(lo, empty), 0); /* no-op */
    assert_int_equal(pv_hist_count(hi), n - half); /* src unchanged */
    assert_int_equal(pv_hist_count(lo2), half);
    assert_same_hist(lo, all);
    assert_same_hist(hi2, all);

    /* merging into an empty histogram copies everything */
    assert_int_equal(pv_hist_merge(empty, all), 0);
    assert_same_hist(empty, all);
    assert_true(pv_hist_stddev(empty) == pv_hist_stddev(all));

    check_against_sorted(lo, v, n);
    free(v);
    pv_hist_destroy(all);
    pv_hist_destroy(empty);
    pv_hist_destroy(lo);
    pv_hist_destroy(hi);
    pv_hist_destroy(lo2);
    pv_hist_destroy(hi2);
}

static void test_stddev_large_offset(void **state)
{
    (void)state;
    /*
     * Values of about 1 h with a spread of a few ns: sum(v^2)/n - mean^2
     * in double would lose everything to cancellation.
     */
    uint64_t v[] = {PV_HIST_MAX_NS - 3, PV_HIST_MAX_NS + 1, PV_HIST_MAX_NS - 1, PV_HIST_MAX_NS + 3};
    pv_hist *h = new_hist(), *other = new_hist();
    record_all(h, v, 2);
    record_all(other, v + 2, 2);
    assert_int_equal(pv_hist_merge(h, other), 0);
    /* deviations -3, 1, -1, 3 around 1 h: variance (9+1+1+9)/4 = 5 */
    assert_close(pv_hist_stddev(h), sqrt(5.0), 1e-12);
    assert_true(pv_hist_mean(h) == (double)PV_HIST_MAX_NS);
    pv_hist_destroy(h);
    pv_hist_destroy(other);
}

static void test_reset(void **state)
{
    (void)state;
    pv_hist *h = new_hist();
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(pv_hist_record(h, i * MS), 0);
    pv_hist_reset(h);
    assert_int_equal(pv_hist_count(h), 0);
    assert_int_equal(pv_hist_min(h), 0);
    assert_int_equal(pv_hist_max(h), 0);
    assert_true(pv_hist_sum(h) == 0);
    assert_true(pv_hist_mean(h) == 0);
    assert_true(pv_hist_stddev(h) == 0);
    assert_int_equal(pv_hist_percentile(h, 50), 0);
    assert_int_equal(iter_total(h), 0);

    /* usable again, with nothing left of the earlier values */
    uint64_t v[] = {10 * US, 20 * US, 30 * US};
    record_all(h, v, 3);
    assert_int_equal(pv_hist_count(h), 3);
    assert_int_equal(pv_hist_min(h), 10 * US);
    assert_int_equal(pv_hist_max(h), 30 * US);
    assert_true(pv_hist_mean(h) == 20.0 * US);
    assert_close(pv_hist_stddev(h), sqrt(200.0 / 3.0) * US, 1e-12);
    assert_in_range(pv_hist_percentile(h, 50), 20 * US - 16, 20 * US + 16); /* width 16 */
    assert_int_equal(iter_total(h), 3);
    pv_hist_destroy(h);
}

static void test_percentile_rank_edges(void **state)
{
    (void)state;
    /* 1..1000 us: decimal q must not be pushed to the next rank by rounding. */
    pv_hist *h = new_hist();
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(pv_hist_record(h, i), 0); /* ns: width-1 buckets, exact */
    assert_int_equal(pv_hist_percentile(h, 99.9), 999);
    assert_int_equal(pv_hist_percentile(h, 99.91), 1000);
    assert_int_equal(pv_hist_percentile(h, 0.1), 1);
    assert_int_equal(pv_hist_percentile(h, 0.11), 2);
    assert_int_equal(pv_hist_percentile(h, 50), 500);
    assert_int_equal(pv_hist_percentile(h, 0), 1);
    assert_int_equal(pv_hist_percentile(h, -5), 1);
    assert_int_equal(pv_hist_percentile(h, 100), 1000);
    assert_int_equal(pv_hist_percentile(h, 250), 1000);
    assert_int_equal(pv_hist_percentile(h, NAN), 1);
    /* "at least q%": with 3 values, p40 needs 2 of them (1.2 rounds up) */
    pv_hist_reset(h);
    uint64_t v[] = {10, 20, 30};
    record_all(h, v, 3);
    assert_int_equal(pv_hist_percentile(h, 33.3), 10);
    assert_int_equal(pv_hist_percentile(h, 40), 20);
    assert_int_equal(pv_hist_percentile(h, 66.7), 30);
    pv_hist_destroy(h);
}

/* The value at sub-bucket s of band b (see the layout in pv_hist.c). */
static uint64_t bucket_value(unsigned band, unsigned sub)
{
    return band == 0 ? sub : (uint64_t)(1024 + sub) << (band - 1);
}

static void test_sparse_buckets(void **state)
{
    (void)state;
    /*
     * Values on both sides of every multiple of 16 sub-buckets (so on every
     * storage block boundary, whatever the block size) in a few bands, with
     * gaps between them; a band's first and last buckets; the top bucket
     * (values of the top band above 1 h are left out). The iterator must
     * report exactly these buckets, in order.
     */
    static const unsigned bands[] = {0, 1, 2, 11, 20, 31, 32};
    uint64_t v[2000];
    size_t n = 0;
    for (size_t b = 0; b < PV_ARRAY_LEN(bands); b++) {
        for (unsigned s = 16; s < 1024; s += 48) {
            v[n++] = bucket_value(bands[b], s - 1);
            v[n++] = bucket_value(bands[b], s);
        }
        v[n++] = bucket_value(bands[b], 0);
        v[n++] = bucket_value(bands[b], 1023);
    }
    v[n++] = PV_HIST_MAX_NS - PV_HIST_MAX_NS % bucket_width(PV_HIST_MAX_NS); /* top bucket */
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t uniq = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] <= PV_HIST_MAX_NS && (uniq == 0 || v[uniq - 1] != v[i]))
            v[uniq++] = v[i];
    }
    n = uniq;
    assert_true(v[n - 1] + bucket_width(v[n - 1]) > PV_HIST_MAX_NS); /* the top bucket */

    pv_hist *h = new_hist();
    for (size_t i = n; i-- > 0;) /* descending: blocks appear out of order */
        assert_int_equal(pv_hist_record(h, v[i]), 0);
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    for (size_t i = 0; i < n; i++) {
        assert_true(pv_hist_iter_next(h, &it));
        assert_int_equal(it.lo_ns, v[i]); /* each value is its bucket's lowest */
        assert_int_equal(it.count, 1);
        if (i == n - 1)
            assert_true(it.hi_ns == UINT64_MAX); /* the top bucket is open-ended */
        else
            assert_int_equal(it.hi_ns, v[i] + bucket_width(v[i]) - 1);
    }
    assert_false(pv_hist_iter_next(h, &it));
    /* rank i+1 is the i-th value's bucket, whose midpoint is within one width */
    for (size_t i = 0; i < n; i++) {
        double q = (double)(i + 1) * 100.0 / (double)n;
        uint64_t got = pv_hist_percentile(h, q);
        assert_true(got >= v[i] && got - v[i] < bucket_width(v[i]));
    }
    check_against_sorted(h, v, n);
    pv_hist_destroy(h);
}

static void test_merge_sparse(void **state)
{
    (void)state;
    /*
     * dst and src touch different buckets of the same bands, each has
     * buckets the other lacks, and src holds zeroed buckets left by a reset:
     * the merge must equal recording everything into one histogram.
     */
    pv_hist *dst = new_hist(), *src = new_hist(), *all = new_hist(), *empty = new_hist();
    for (unsigned s = 0; s < 1024; s += 100) {
        assert_int_equal(pv_hist_record(src, bucket_value(20, s)), 0); /* discarded below */
        assert_int_equal(pv_hist_record(src, bucket_value(5, s)), 0);
    }
    pv_hist_reset(src);
    uint64_t a[] = {bucket_value(11, 0), bucket_value(11, 500), bucket_value(12, 1023), 7};
    uint64_t b[] = {bucket_value(11, 1), bucket_value(11, 900), bucket_value(20, 300), 9000};
    record_all(dst, a, PV_ARRAY_LEN(a));
    record_all(src, b, PV_ARRAY_LEN(b));
    record_all(all, a, PV_ARRAY_LEN(a));
    record_all(all, b, PV_ARRAY_LEN(b));
    assert_int_equal(pv_hist_merge(dst, src), 0);
    assert_same_hist(dst, all);
    assert_int_equal(iter_total(dst), PV_ARRAY_LEN(a) + PV_ARRAY_LEN(b));

    /* into an empty histogram: exactly src, none of its zeroed buckets */
    assert_int_equal(pv_hist_merge(empty, src), 0);
    assert_same_hist(empty, src);
    assert_int_equal(iter_total(empty), PV_ARRAY_LEN(b));

    /* a reset histogram merged anywhere changes nothing */
    pv_hist_reset(src);
    assert_int_equal(pv_hist_merge(dst, src), 0);
    assert_same_hist(dst, all);
    pv_hist_destroy(dst);
    pv_hist_destroy(src);
    pv_hist_destroy(all);
    pv_hist_destroy(empty);
}

/* Log-uniform between lo and hi: latencies spread over several bands. */
static uint64_t log_uniform(uint64_t *rng, double lo, double hi)
{
    return (uint64_t)(lo * pow(hi / lo, rng_unit(rng)));
}

static void test_forms_agree_while_growing(void **state)
{
    (void)state;
    /*
     * A histogram starts in the sparse form and turns dense as it fills.
     * Checked against the exact sorted values at points from a single value
     * to well past the switch, so every table size and the dense form see
     * the same checks.
     */
    enum { N = 40000 };
    static const size_t at[] = {1, 2, 3, 7, 8, 9, 31, 100, 257, 1000, 4000, 12000, N};
    uint64_t *v = malloc(N * sizeof(*v)), *sorted = malloc(N * sizeof(*v));
    assert_non_null(v);
    assert_non_null(sorted);
    uint64_t rng = 5;
    for (size_t i = 0; i < N; i++)
        v[i] = log_uniform(&rng, 10.0 * US, 100.0 * MS);
    pv_hist *h = new_hist();
    size_t done = 0;
    for (size_t c = 0; c < PV_ARRAY_LEN(at); c++) {
        record_all(h, v + done, at[c] - done);
        done = at[c];
        memcpy(sorted, v, done * sizeof(*v));
        check_against_sorted(h, sorted, done);
        assert_int_equal(iter_total(h), done);
    }
    pv_hist_destroy(h);
    free(v);
    free(sorted);
}

static void test_merge_across_forms(void **state)
{
    (void)state;
    /*
     * small holds a few values (sparse), big many (dense); every pairing of
     * forms, in both directions, must equal recording everything into one.
     */
    enum { NS = 40, NB = 60000 };
    uint64_t rng = 11;
    uint64_t *vs = malloc(NS * sizeof(*vs)), *vb = malloc(NB * sizeof(*vb));
    assert_non_null(vs);
    assert_non_null(vb);
    for (size_t i = 0; i < NS; i++)
        vs[i] = log_uniform(&rng, 1.0 * US, 10.0 * S);
    for (size_t i = 0; i < NB; i++)
        vb[i] = log_uniform(&rng, 50.0 * US, 5.0 * MS);
    const uint64_t *sets[2] = {vs, vb};
    const size_t lens[2] = {NS, NB};
    for (int x = 0; x < 2; x++) {
        for (int y = 0; y < 2; y++) {
            pv_hist *dst = new_hist(), *src = new_hist(), *all = new_hist();
            record_all(dst, sets[x], lens[x]);
            record_all(src, sets[y], lens[y]);
            record_all(all, sets[x], lens[x]);
            record_all(all, sets[y], lens[y]);
            assert_int_equal(pv_hist_merge(dst, src), 0);
            assert_same_hist(dst, all);
            assert_int_equal(iter_total(dst), lens[x] + lens[y]);
            pv_hist_destroy(dst);
            pv_hist_destroy(src);
            pv_hist_destroy(all);
        }
    }
    free(vs);
    free(vb);
}

static void test_counts_beyond_32_bits(void **state)
{
    (void)state;
    /*
     * The sparse form keeps 32-bit counts; a histogram must change form
     * before any bucket could pass 2^32 - 1. Merging doubles counts cheaply:
     * pw[k] holds 2^k copies of one value.
     */
    const uint64_t v = 250 * US, w = 3 * MS;
    pv_hist *pw[33];
    pw[0] = new_hist();
    assert_int_equal(pv_hist_record(pw[0], v), 0);
    for (int k = 1; k < 33; k++) {
        pw[k] = new_hist();
        assert_int_equal(pv_hist_merge(pw[k], pw[k - 1]), 0);
        assert_int_equal(pv_hist_merge(pw[k], pw[k - 1]), 0);
        assert_int_equal(pv_hist_count(pw[k]), 1ull << k);
    }
    /* 2^32 of one value by merging: one bucket, exact */
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    assert_true(pv_hist_iter_next(pw[32], &it));
    assert_int_equal(it.count, 1ull << 32);
    assert_false(pv_hist_iter_next(pw[32], &it));

    /* 2^32 - 1 values by merging (still fits), then one more recorded: the
       record must switch form first */
    pv_hist *h = new_hist();
    for (int k = 0; k < 32; k++)
        assert_int_equal(pv_hist_merge(h, pw[k]), 0);
    assert_int_equal(pv_hist_count(h), UINT32_MAX);
    assert_int_equal(pv_hist_record(h, w), 0);
    assert_int_equal(pv_hist_record(h, v), 0);
    pv_hist_iter_init(&it);
    assert_true(pv_hist_iter_next(h, &it));
    assert_int_equal(it.count, 1ull << 32); /* v's bucket */
    assert_true(it.lo_ns <= v && v <= it.hi_ns);
    assert_true(pv_hist_iter_next(h, &it));
    assert_int_equal(it.count, 1); /* w's */
    assert_false(pv_hist_iter_next(h, &it));
    assert_int_equal(pv_hist_percentile(h, 100), w);
    assert_true(pv_hist_percentile(h, 99.99999) <= v + bucket_width(v));
    pv_hist_destroy(h);
    for (int k = 0; k < 33; k++)
        pv_hist_destroy(pw[k]);
}

#ifdef HAVE_MALLINFO2
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}
#endif

static void test_memory_follows_values(void **state)
{
    (void)state;
#ifndef HAVE_MALLINFO2
    skip();
#else
    /*
     * pgvolley keeps a histogram per parameter set and thread, most holding
     * a handful of values: those must cost about 1 KiB, not 8 KiB per band.
     * Sanitizers and valgrind replace malloc, so glibc's figures stay at 0
     * there: skip then.
     */
    enum { H = 1000 };
    size_t probe_base = heap_in_use();
    void *probe = malloc(4096);
    assert_non_null(probe);
    bool visible = heap_in_use() != probe_base;
    free(probe);
    if (!visible)
        skip();

    pv_hist **hs = calloc(H, sizeof(*hs));
    assert_non_null(hs);
    size_t base = heap_in_use();
    for (size_t i = 0; i < H; i++)
        assert_int_equal(pv_hist_create(&hs[i]), 0);
    size_t created = heap_in_use();
    assert_true((created - base) / H < 512); /* creating allocates only the struct */

    uint64_t rng = 3, v0 = 0;
    for (size_t i = 0; i < H; i++) {
        uint64_t v = 200 * US + rng_next(&rng) % (100 * US);
        assert_int_equal(pv_hist_record(hs[i], v), 0);
        assert_int_equal(pv_hist_record(hs[i], v + 100), 0); /* a bucket or two away */
        if (i == 0)
            v0 = v;
    }
    size_t recorded = heap_in_use();
    assert_true((recorded - created) / H < 1024);

    /* merging them all allocates only the blocks their values occupy */
    pv_hist *total = new_hist();
    size_t before_merge = heap_in_use();
    for (size_t i = 0; i < H; i++)
        assert_int_equal(pv_hist_merge(total, hs[i]), 0);
    assert_true(heap_in_use() - before_merge < 16 * 1024); /* 2 bands, ~21 blocks: ~6 KiB */
    assert_int_equal(pv_hist_count(total), 2 * H);
    assert_int_equal(iter_total(total), 2 * H);

    /*
     * A few hundred latencies spread over several bands, as a parameter set
     * run for a few seconds under load: about one 256 B block per value in
     * the dense form (about 80 KiB); the sparse table takes 3 KiB.
     */
    pv_hist *spread = new_hist();
    size_t before_spread = heap_in_use();
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(pv_hist_record(spread, log_uniform(&rng, 100.0 * US, 1.0 * S)), 0);
    assert_true(heap_in_use() - before_spread < 6 * 1024);
    assert_int_equal(iter_total(spread), 300);
    pv_hist_destroy(spread);

    /* reset keeps the blocks; recording into them again allocates nothing */
    pv_hist_reset(hs[0]);
    size_t after_reset = heap_in_use();
    assert_int_equal(pv_hist_record(hs[0], v0), 0);
    assert_int_equal(heap_in_use(), after_reset);

    for (size_t i = 0; i < H; i++)
        pv_hist_destroy(hs[i]);
    pv_hist_destroy(total);
    free(hs);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_bimodal),
        cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_above_one_hour),
        cmocka_unit_test(test_iterator_buckets_match_values),
        cmocka_unit_test(test_merge_halves),
        cmocka_unit_test(test_stddev_large_offset),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_percentile_rank_edges),
        cmocka_unit_test(test_sparse_buckets),
        cmocka_unit_test(test_merge_sparse),
        cmocka_unit_test(test_forms_agree_while_growing),
        cmocka_unit_test(test_merge_across_forms),
        cmocka_unit_test(test_counts_beyond_32_bits),
        cmocka_unit_test(test_memory_follows_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
