/* pv_gen.c - xoshiro256** seeded by splitmix64, and pgbench's random family of draws. */
#include "workload/pv_gen.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the PRNG ------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void pv_gen_seed(pv_gen_rng *rng, uint64_t seed, uint64_t stream)
{
    /* The stream is mixed on its own first, so that (seed, stream) pairs
       that differ in both do not collide as seed ^ stream would. */
    uint64_t st = stream;
    uint64_t x = seed ^ splitmix64(&st);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of its counter, so an all-zero state (the
       one xoshiro cannot leave) cannot come out of four successive outputs. */
}

uint64_t pv_gen_next(pv_gen_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pv_gen_double(pv_gen_rng *rng)
{
    return (double)(pv_gen_next(rng) >> 11) * 0x1.0p-53;
}

/* ---- integer draws -------------------------------------------------------- */

/* A uniform value in [0, n) without modulo bias; n > 0. */
static uint64_t below(pv_gen_rng *rng, uint64_t n)
{
    uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t r = pv_gen_next(rng);
        if (r >= threshold)
            return r % n;
    }
}

int64_t pv_gen_uniform(pv_gen_rng *rng, int64_t lb, int64_t ub)
{
    uint64_t span = (uint64_t)ub - (uint64_t)lb; /* n - 1 */
    if (span == UINT64_MAX)
        return (int64_t)pv_gen_next(rng);
    return (int64_t)((uint64_t)lb + below(rng, span + 1));
}

/* lb + floor(n * u) for u in [0, 1), as pgbench computes it, kept in range against rounding. */
static int64_t scale(int64_t lb, int64_t ub, double u)
{
    double n = (double)(ub - lb) + 1.0;
    double k = floor(n * u);
    if (!(k >= 0))
        k = 0;
    if (k > (double)(ub - lb))
        return ub;
    return lb + (int64_t)k;
}

int64_t pv_gen_exponential(pv_gen_rng *rng, int64_t lb, int64_t ub, double param)
{
    double cut = exp(-param);
    double u = 1.0 - pv_gen_double(rng); /* (0, 1] */
    /* -log(cut + (1 - cut) u) / param lies in [0, 1): the exponential
       distribution with rate param, truncated to [0, 1). */
    double r = -log(cut + (1.0 - cut) * u) / param;
    return scale(lb, ub, r);
}

int64_t pv_gen_gaussian(pv_gen_rng *rng, int64_t lb, int64_t ub, double param)
{
    double stdev;
    do {
        double u1 = 1.0 - pv_gen_double(rng); /* (0, 1]: log(0) never happens */
        double u2 = pv_gen_double(rng);
        stdev = sqrt(-2.0 * log(u1)) * sin(2.0 * M_PI * u2); /* Box-Muller */
    } while (stdev < -param || stdev >= param);
    /* stdev in [-param, param) maps to [0, 1) */
    return scale(lb, ub, (stdev + param) / (2.0 * param));
}

/*
 * Devroye, "Non-Uniform Random Variate Generation" (1986), p. 550-551, as
 * pgbench: a rank in [1, n] with weight 1 / k^s, s > 1, by rejection.
 */
static int64_t zipf_rank(pv_gen_rng *rng, int64_t n, double s)
{
    if (n <= 1)
        return 1;
    double b = pow(2.0, s - 1.0);
    for (;;) {
        double u = 1.0 - pv_gen_double(rng); /* (0, 1] */
        double v = pv_gen_double(rng);
        double x = floor(pow(u, -1.0 / (s - 1.0)));
        double t = pow(1.0 + 1.0 / x, s - 1.0);
        if (v * x * (t - 1.0) / (b - 1.0) <= t / b && x <= (double)n)
            return (int64_t)x;
    }
}

int64_t pv_gen_zipfian(pv_gen_rng *rng, int64_t lb, int64_t ub, double param)
{
    int64_t k = zipf_rank(rng, ub - lb + 1, param);
    return k > ub - lb + 1 ? ub : lb + (k - 1); /* x <= n as a double: k fits */
}

void pv_gen_string(pv_gen_rng *rng, char *out, size_t len)
{
    static const char chars[] = PV_GEN_STRING_CHARS;
    const uint64_t n = sizeof(chars) - 1;
    /* 62^10 < 2^64: ten characters from one unbiased draw. */
    const uint64_t per = 10, block = 839299365868340224ull; /* 62^10 */
    size_t i = 0;
    while (i < len) {
        uint64_t r = below(rng, block);
        for (uint64_t k = 0; k < per && i < len; k++) {
            out[i++] = chars[r % n];
            r /= n;
        }
    }
}

/* ---- generators as values ------------------------------------------------- */

static const struct pv_gen_func funcs[] = {
    {"random", PV_GEN_UNIFORM, 2},
    {"random_exponential", PV_GEN_EXPONENTIAL, 3},
    {"random_gaussian", PV_GEN_GAUSSIAN, 3},
    {"random_zipfian", PV_GEN_ZIPFIAN, 3},
    {"string", PV_GEN_STRING, 1},
    /* short spellings */
    {"uniform", PV_GEN_UNIFORM, 2},
    {"exponential", PV_GEN_EXPONENTIAL, 3},
    {"gaussian", PV_GEN_GAUSSIAN, 3},
    {"zipfian", PV_GEN_ZIPFIAN, 3},
};

const struct pv_gen_func *pv_gen_func_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(funcs); i++) {
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
            return &funcs[i];
    }
    return NULL;
}

const char *pv_gen_kind_name(enum pv_gen_kind kind)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(funcs); i++) {
        if (funcs[i].kind == kind)
            return funcs[i].name; /* the first row of a kind is the canonical one */
    }
    return "?";
}

/* The shortest %g text that reads back as d. */
static void put_double(pv_buf *b, double d)
{
    char t[40];
    if (d == floor(d) && fabs(d) < 1e15) {
        pv_buf_printf(b, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            break;
    }
    pv_buf_puts(b, t);
}

int pv_gen_check(const struct pv_gen_spec *g, pv_err *err)
{
    const char *name = pv_gen_kind_name(g->kind);
    if (g->kind == PV_GEN_STRING) {
        if (g->len > PV_GEN_STRING_MAX)
            return pv_err_set(err, VOLLEY_EINPUT,
                              "string length %zu is larger than the limit of %d", g->len,
                              PV_GEN_STRING_MAX);
        return 0;
    }
    if (g->ub < g->lb)
        return pv_err_set(err, VOLLEY_EINPUT,
                          "empty range in %s: the upper bound %" PRId64
                          " is less than the lower bound %" PRId64,
                          name, g->ub, g->lb);
    if ((uint64_t)g->ub - (uint64_t)g->lb >= (uint64_t)INT64_MAX) /* ub - lb + 1 > INT64_MAX */
        return pv_err_set(err, VOLLEY_EINPUT,
                          "range of %s is too large (more than %" PRId64 " values)", name,
                          INT64_MAX);
    pv_buf p = PV_BUF_INIT;
    put_double(&p, g->param);
    const char *ps = pv_buf_ok(&p) == 0 ? pv_buf_str(&p) : "?";
    int rc = 0;
    if (g->kind == PV_GEN_EXPONENTIAL && !(g->param > 0 && isfinite(g->param)))
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "random_exponential parameter must be greater than 0, not %s", ps);
    else if (g->kind == PV_GEN_GAUSSIAN && !(g->param >= PV_GEN_GAUSSIAN_MIN && isfinite(g->param)))
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "random_gaussian parameter must be at least 2.0, not %s", ps);
    else if (g->kind == PV_GEN_ZIPFIAN &&
             !(g->param >= PV_GEN_ZIPFIAN_MIN && g->param <= PV_GEN_ZIPFIAN_MAX))
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "random_zipfian parameter must be between 1.001 and 1000, not %s", ps);
    pv_buf_fini(&p);
    return rc;
}

size_t pv_gen_text_max(const struct pv_gen_spec *g)
{
    return (g->kind == PV_GEN_STRING ? g->len : PV_GEN_INT_TEXT_MAX) + 1;
}

void pv_gen_append(const struct pv_gen_spec *g, pv_gen_rng *rng, pv_buf *out)
{
    int64_t v = 0;
    switch (g->kind) {
    case PV_GEN_STRING: {
        size_t at = out->len;
        pv_buf_fill(out, 'x', g->len);
        if (out->oom)
            return;
        pv_gen_string(rng, out->data + at, g->len);
        pv_buf_putc(out, '\0');
        return;
    }
    case PV_GEN_UNIFORM: v = pv_gen_uniform(rng, g->lb, g->ub); break;
    case PV_GEN_EXPONENTIAL: v = pv_gen_exponential(rng, g->lb, g->ub, g->param); break;
    case PV_GEN_GAUSSIAN: v = pv_gen_gaussian(rng, g->lb, g->ub, g->param); break;
    case PV_GEN_ZIPFIAN: v = pv_gen_zipfian(rng, g->lb, g->ub, g->param); break;
    }
    char t[PV_GEN_INT_TEXT_MAX + 1];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    pv_buf_append(out, t, (size_t)n + 1); /* with its NUL */
}

void pv_gen_describe(const struct pv_gen_spec *g, pv_buf *out)
{
    if (g->kind == PV_GEN_STRING) {
        pv_buf_printf(out, "string(%zu)", g->len);
        return;
    }
    pv_buf_printf(out, "%s(%" PRId64 ", %" PRId64, pv_gen_kind_name(g->kind), g->lb, g->ub);
    if (g->kind != PV_GEN_UNIFORM) {
        pv_buf_puts(out, ", ");
        put_double(out, g->param);
    }
    pv_buf_putc(out, ')');
}
