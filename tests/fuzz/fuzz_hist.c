/*
 * fuzz_hist.c - libFuzzer harness for the histogram decoder
 * (src/stats/pv_hist_codec.c). The input is the encoded text, as it stands
 * in a JSON report's "histogram". Build and run with `make fuzz`.
 *
 * Contracts (a broken one aborts):
 * - an error is VOLLEY_EINPUT with a one-line message starting
 *   "histogram: ", and *out is NULL;
 * - an accepted text is canonical: encoding the histogram gives the input
 *   back byte for byte, and it equals itself decoded again;
 * - the decoded histogram is consistent: its percentiles lie in [min, max]
 *   and do not decrease, its bucket counts add up to at most its count, and
 *   it merges into an empty histogram as an equal one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/pv_hist.h"
#include "stats/pv_hist_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_hist: contract broken: %s\n", what);
        abort();
    }
}

static void check_hist(const pv_hist *h, const uint8_t *data, size_t size)
{
    pv_buf b = PV_BUF_INIT;
    check(pv_hist_encode(h, &b) == 0, "encode");
    check(b.len == size && memcmp(b.data, data, size) == 0, "not canonical");
    pv_buf_fini(&b);

    uint64_t prev = 0, total = 0;
    for (int q = 0; q <= 100; q += 5) {
        uint64_t p = pv_hist_percentile(h, q);
        check(pv_hist_count(h) == 0 || (p >= pv_hist_min(h) && p <= pv_hist_max(h)), "range");
        check(p >= prev, "percentiles decrease");
        prev = p;
    }
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    while (pv_hist_iter_next(h, &it))
        total += it.count;
    check(total <= pv_hist_count(h), "bucket counts");
    (void)pv_hist_stddev(h);
    (void)pv_hist_mean(h);

    pv_hist *m = NULL;
    if (pv_hist_create(&m) == 0 && pv_hist_merge(m, h) == 0)
        check(pv_hist_equal(m, h), "merge into empty");
    pv_hist_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pv_hist *h = (pv_hist *)&h;
    pv_err err = {{0}};
    int rc = pv_hist_decode((const char *)data, size, &h, &err);
    if (rc == 0) {
        check(h != NULL, "no histogram");
        check_hist(h, data, size);
        pv_hist_destroy(h);
    } else {
        check(rc == VOLLEY_EINPUT || rc == VOLLEY_ENOMEM, "error code");
        check(h == NULL, "*out set on error");
        check(rc != VOLLEY_EINPUT ||
                  (strncmp(err.msg, "histogram: ", 11) == 0 && !strchr(err.msg, '\n')),
              "message");
    }
    return 0;
}
