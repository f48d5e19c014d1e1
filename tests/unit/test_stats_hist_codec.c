/* test_stats_hist_codec.c - the compact histogram encoding (pv_hist_codec.h):
   round trips, canonical form, merges of decoded histograms, rejects, size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/pv_hist.h"
#include "stats/pv_hist_codec.h"

/* splitmix64: a fixed-seed PRNG so every run sees the same values. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A latency-like value: log-uniform over 1 us .. 2^(10+spread) us, sometimes huge. */
static uint64_t draw(uint64_t *st, int spread)
{
    uint64_t r = rng_next(st);
    if (r % 1000 == 0)
        return r >> 20; /* beyond the top bucket now and then */
    double e = (double)(r >> 11) / 9007199254740992.0 * (10 + spread);
    return (uint64_t)(1000.0 * pow(2.0, e)) + (r & 7);
}

static pv_hist *make(uint64_t seed, size_t n, int spread)
{
    pv_hist *h;
    assert_int_equal(pv_hist_create(&h), 0);
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pv_hist_record(h, draw(&st, spread)), 0);
    return h;
}

static char *encode(const pv_hist *h)
{
    pv_buf b = PV_BUF_INIT;
    assert_int_equal(pv_hist_encode(h, &b), 0);
    char *s = strdup(pv_buf_str(&b));
    pv_buf_fini(&b);
    return s;
}

static pv_hist *decode(const char *s)
{
    pv_hist *h = NULL;
    pv_err err = {{0}};
    int rc = pv_hist_decode(s, strlen(s), &h, &err);
    if (rc != 0)
        fail_msg("decode: %s", err.msg);
    return h;
}

/* decode(encode(h)) == h, and encode(decode(text)) == text. */
static void check_round_trip(const pv_hist *h)
{
    char *text = encode(h);
    assert_true(strncmp(text, PV_HIST_CODEC_TAG, strlen(PV_HIST_CODEC_TAG)) == 0);
    pv_hist *back = decode(text);
    assert_true(pv_hist_equal(h, back));
    assert_int_equal(pv_hist_count(back), pv_hist_count(h));
    assert_true(pv_hist_stddev(back) == pv_hist_stddev(h));
    assert_true(pv_hist_mean(back) == pv_hist_mean(h));
    for (double q = 0; q <= 100; q += 0.5)
        assert_int_equal(pv_hist_percentile(back, q), pv_hist_percentile(h, q));
    char *again = encode(back);
    assert_string_equal(again, text);
    free(again);
    free(text);
    pv_hist_destroy(back);
}

static void test_empty(void **state)
{
    (void)state;
    pv_hist *h;
    assert_int_equal(pv_hist_create(&h), 0);
    check_round_trip(h);
    char *a = encode(h), *b = encode(NULL);
    assert_string_equal(a, b); /* NULL encodes as an empty histogram */
    free(a);
    free(b);
    pv_hist_destroy(h);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 7, 100, 1000, 20000, 200000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (int spread = 0; spread < 24; spread += 6) {
            pv_hist *h = make(k * 131 + (uint64_t)spread + 1, sizes[k], spread);
            check_round_trip(h);
            pv_hist_destroy(h);
        }
    }
    /* exact values, the lowest and the top bucket */
    pv_hist *h;
    assert_int_equal(pv_hist_create(&h), 0);
    uint64_t vals[] = {0, 1, 1023, 1024, PV_HIST_MAX_NS, PV_HIST_MAX_NS + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        assert_int_equal(pv_hist_record(h, vals[i]), 0);
    check_round_trip(h); /* the sum passes 64 bits */
    pv_hist_destroy(h);
}

/* merge(decode(a), decode(b)) == decode(encode(merge(a, b))). */
static void test_merge_of_decoded(void **state)
{
    (void)state;
    for (int round = 0; round < 6; round++) {
        pv_hist *a = make(100 + (uint64_t)round, 3000 * (size_t)round + 5, round * 3);
        pv_hist *b = make(200 + (uint64_t)round, 50000 / (size_t)(round + 1), 20 - round * 3);
        char *ta = encode(a), *tb = encode(b);
        pv_hist *da = decode(ta), *db = decode(tb);
        assert_int_equal(pv_hist_merge(da, db), 0);
        assert_int_equal(pv_hist_merge(a, b), 0);
        char *tm = encode(a);
        pv_hist *dm = decode(tm);
        assert_true(pv_hist_equal(da, dm));
        assert_true(pv_hist_equal(a, dm));
        free(ta);
        free(tb);
        free(tm);
        pv_hist_destroy(a);
        pv_hist_destroy(b);
        pv_hist_destroy(da);
        pv_hist_destroy(db);
        pv_hist_destroy(dm);
    }
}

/* Values decoded into one histogram, then recorded into it further, as a
   recorded one would be: a decoded histogram is a working one. */
static void test_decoded_keeps_recording(void **state)
{
    (void)state;
    pv_hist *a = make(7, 5000, 8), *b = make(7, 5000, 8);
    char *t = encode(a);
    pv_hist *d = decode(t);
    uint64_t st = 99;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = draw(&st, 12);
        assert_int_equal(pv_hist_record(d, v), 0);
        assert_int_equal(pv_hist_record(b, v), 0);
    }
    assert_true(pv_hist_equal(d, b));
    free(t);
    pv_hist_destroy(a);
    pv_hist_destroy(b);
    pv_hist_destroy(d);
}

static void expect_reject(const char *text, const char *what)
{
    pv_hist *h = (pv_hist *)&h;
    pv_err err = {{0}};
    int rc = pv_hist_decode(text, strlen(text), &h, &err);
    if (rc != VOLLEY_EINPUT)
        fail_msg("accepted %s: \"%s\"", what, text);
    assert_null(h);
    assert_true(strncmp(err.msg, "histogram: ", 11) == 0);
    assert_null(strchr(err.msg, '\n'));
}

static void test_rejects(void **state)
{
    (void)state;
    pv_hist *h = make(3, 1000, 6);
    char *good = encode(h);
    size_t n = strlen(good);
    expect_reject("", "empty");
    expect_reject("pvh2.AA", "another version");
    expect_reject("pvh1.", "no bytes");
    expect_reject("pvh1.A", "one character");
    expect_reject("pvh1.AB", "stray bits");
    expect_reject("pvh1.A=", "padding");
    expect_reject("pvh1.AAAA", "bytes after an empty histogram");
    expect_reject("pvh1.gAA", "a varint that is not minimal");
    expect_reject("pvh1.gA", "a truncated varint");
    expect_reject("pvh1.AQ", "count 1 without figures");
    /* every truncation of a good text */
    char *cut = malloc(n + 1);
    for (size_t k = strlen(PV_HIST_CODEC_TAG); k < n; k++) {
        memcpy(cut, good, k);
        cut[k] = '\0';
        expect_reject(cut, "a truncation");
    }
    /* every single-character change is rejected or decodes to something else */
    for (size_t k = strlen(PV_HIST_CODEC_TAG); k < n; k++) {
        memcpy(cut, good, n + 1);
        cut[k] = cut[k] == 'A' ? 'B' : 'A';
        pv_hist *d = NULL;
        pv_err err = {{0}};
        if (pv_hist_decode(cut, n, &d, &err) == 0) {
            assert_false(pv_hist_equal(d, h));
            pv_hist_destroy(d);
        }
    }
    free(cut);
    free(good);
    pv_hist_destroy(h);
}

/* The size of a report's histogram of 10^6 latencies (printed for the docs). */
static void test_size_of_a_million(void **state)
{
    (void)state;
    pv_hist *h;
    assert_int_equal(pv_hist_create(&h), 0);
    uint64_t st = 5;
    for (int i = 0; i < 1000000; i++) {
        /* log-normal around 1 ms (sigma 0.5): a typical OLTP latency spread */
        double u1 = ((double)(rng_next(&st) >> 11) + 1) / 9007199254740992.0;
        double u2 = (double)(rng_next(&st) >> 11) / 9007199254740992.0;
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        assert_int_equal(pv_hist_record(h, (uint64_t)(1e6 * exp(0.5 * z))), 0);
    }
    char *t = encode(h);
    size_t buckets = 0;
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    while (pv_hist_iter_next(h, &it))
        buckets++;
    print_message("10^6 log-normal values (median 1 ms, sigma 0.5): %zu buckets, %zu characters\n",
                  buckets, strlen(t));
    assert_true(strlen(t) < 64 * 1024);
    check_round_trip(h);
    free(t);
    pv_hist_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_merge_of_decoded),
        cmocka_unit_test(test_decoded_keeps_recording),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_size_of_a_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
