/*
 * fuzz_shape.c - libFuzzer harness for the --stages parser and the shape's
 * arithmetic (src/engine/pv_shape.c). The input is the spec; the shape
 * starts at 10 with targets up to 10000. Build and run with `make fuzz`.
 *
 * Contracts (a broken one aborts):
 * - an error is VOLLEY_EINVAL with a one-line message, *out NULL; one that
 *   names a stage says "stage N (" with N between 1 and 1000;
 * - an accepted shape has 1..1000 stages, a duration in (0, 30 days], every
 *   target in [0, 10000] and a max equal to the largest of them;
 * - the integral is non-decreasing and inverse(integral(t)) <= t, equal to
 *   t wherever the target just before t is positive (to rounding);
 * - arrivals are non-decreasing, within the shape, and end.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pv_shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_shape: contract broken: %s\n", what);
        abort();
    }
}

static void check_shape(const pv_shape *s)
{
    int n = pv_shape_nstages(s);
    double total = pv_shape_duration(s), max = pv_shape_start(s);
    check(n >= 1 && n <= 1000, "stage count");
    check(total > 0 && total <= 30.0 * 86400.0, "duration");
    for (int i = 0; i < n; i++) {
        const struct pv_stage *st = pv_shape_stage(s, i);
        check(st && st->target >= 0 && st->target <= 10000 && st->duration_s >= 0, "stage");
        max = st->target > max ? st->target : max;
    }
    check(pv_shape_max(s) == max, "max");
    double prev = 0;
    for (int k = 0; k <= 64; k++) {
        double t = total * k / 64.0;
        double v = pv_shape_integral(s, t);
        check(v >= prev - 1e-9 * (1 + fabs(prev)), "integral decreases");
        prev = v;
        double back = pv_shape_inverse(s, v);
        check(back <= t + 1e-6 * (1 + t), "inverse beyond t");
        if (pv_shape_at(s, t - 1e-3 * total) > 1e-6 && v > 0)
            check(back >= t - 1e-6 * (1 + t) - 2e-3 * total, "inverse short of t");
    }
    struct pv_arrivals a;
    pv_arrivals_init(&a, s, PV_ARRIVAL_UNIFORM, 0, 1);
    double last = 0, t;
    int count = 0;
    while (count < 20000 && pv_arrivals_next(&a, 0.5, &t)) {
        check(t >= last && t <= total * (1 + 1e-12), "arrival order");
        last = t;
        count++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    pv_shape *s = (pv_shape *)&s;
    pv_err err = {{0}};
    int rc = pv_shape_parse(spec, 10, 10000, &s, &err);
    if (rc == 0) {
        check(s != NULL, "no shape");
        check_shape(s);
        pv_shape_destroy(s);
    } else {
        check(rc == VOLLEY_EINVAL, "error code");
        check(s == NULL, "*out set on error");
        check(err.msg[0] && !strchr(err.msg, '\n'), "message");
        const char *p = strstr(err.msg, "stage ");
        if (p && p == err.msg) {
            long n = strtol(p + 6, NULL, 10);
            check(n >= 1 && n <= 1001, "stage number");
        }
    }
    free(spec);
    return 0;
}
