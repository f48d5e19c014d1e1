/* pv_hist_codec.c - the compact text encoding of a histogram; contract and
   format in pv_hist_codec.h. */
#include "stats/pv_hist_codec.h"
#include "stats/pv_hist_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LEN      (sizeof(PV_HIST_CODEC_TAG) - 1)
#define MAX_LD_EXP   20000 /* beyond any long double's exponent range */
#define VARINT_MAX   10    /* bytes of a 64-bit LEB128 varint */
#define LD_MANT_BITS 64

/* ---- bytes ---------------------------------------------------------------- */

static void put_varint(pv_buf *b, uint64_t v)
{
    unsigned char tmp[VARINT_MAX];
    size_t n = 0;
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        tmp[n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
    pv_buf_append(b, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* x = sign * mant * 2^exp with mant odd (x != 0, finite). */
static void ld_split(long double x, int *sign, int64_t *exp, uint64_t *mant)
{
    int e;
    *sign = x < 0;
    long double m = frexpl(fabsl(x), &e); /* [0.5, 1) */
    uint64_t bits = (uint64_t)ldexpl(m, LD_MANT_BITS);
    int tz = __builtin_ctzll(bits);
    *mant = bits >> tz;
    *exp = (int64_t)e - LD_MANT_BITS + tz;
}

static void put_ld(pv_buf *b, long double x)
{
    if (x == 0 || !isfinite(x)) {
        put_varint(b, 0);
        return;
    }
    int sign;
    int64_t exp;
    uint64_t mant;
    ld_split(x, &sign, &exp, &mant);
    put_varint(b, 1 + (zigzag(exp) << 1 | (uint64_t)sign));
    put_varint(b, mant);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void put_base64url(pv_buf *out, const unsigned char *p, size_t n)
{
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = n - i >= 3 ? 3 : n - i;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        q[0] = B64[v >> 18 & 63];
        q[1] = B64[v >> 12 & 63];
        q[2] = B64[v >> 6 & 63];
        q[3] = B64[v & 63];
        pv_buf_append(out, q, k + 1);
    }
}

/* ---- encode --------------------------------------------------------------- */

int pv_hist_encode(const pv_hist *h, pv_buf *out)
{
    pv_buf bin = PV_BUF_INIT;
    struct pv_hist__exact x = {0};
    if (h)
        pv_hist__exact_get(h, &x);
    put_varint(&bin, x.count);
    if (x.count > 0) {
        put_varint(&bin, x.min);
        put_varint(&bin, x.max - x.min);
        put_varint(&bin, x.sum_lo);
        put_varint(&bin, x.sum_hi);
        put_varint(&bin, x.shift);
        put_ld(&bin, x.dsum);
        put_ld(&bin, x.dsum2);
    }
    /* the buckets: counted first, then written */
    uint64_t nbuckets = 0;
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    while (h && pv_hist_iter_next(h, &it))
        nbuckets++;
    put_varint(&bin, nbuckets);
    pv_hist_iter_init(&it);
    uint32_t next = 0; /* smallest index the next bucket may have */
    while (h && pv_hist_iter_next(h, &it)) {
        uint32_t idx = pv_hist__iter_index(&it);
        put_varint(&bin, idx - next);
        put_varint(&bin, it.count);
        next = idx + 1;
    }
    pv_buf_puts(out, PV_HIST_CODEC_TAG);
    if (pv_buf_ok(&bin) == 0)
        put_base64url(out, (const unsigned char *)bin.data, bin.len);
    int rc = pv_buf_ok(&bin) != 0 ? VOLLEY_ENOMEM : pv_buf_ok(out);
    pv_buf_fini(&bin);
    return rc;
}

/* ---- decode --------------------------------------------------------------- */

struct rd {
    const unsigned char *p, *end;
    pv_err *err;
};

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Base64url text -> bytes (malloc'd into *out). @return 0, EINPUT or ENOMEM. */
static int un_base64url(const char *text, size_t len, unsigned char **out, size_t *n, pv_err *err)
{
    if (len % 4 == 1)
        return pv_err_set(err, VOLLEY_EINPUT, "histogram: truncated base64url (%zu characters)",
                          len + TAG_LEN);
    unsigned char *bytes = malloc(len / 4 * 3 + 3);
    if (!bytes)
        return VOLLEY_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        size_t m = len - i >= 4 ? 4 : len - i;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < m ? b64_value((unsigned char)text[i + j]) : 0;
            if (d < 0) {
                free(bytes);
                return pv_err_set(err, VOLLEY_EINPUT, "histogram: not base64url at character %zu",
                                  TAG_LEN + i + j + 1);
            }
            v = v << 6 | (uint32_t)d;
        }
        /* the bits below the last whole byte must be zero (canonical form) */
        if ((m == 2 && (v & 0xffff)) || (m == 3 && (v & 0xff))) {
            free(bytes);
            return pv_err_set(err, VOLLEY_EINPUT, "histogram: stray bits at the end");
        }
        bytes[k++] = (unsigned char)(v >> 16);
        if (m > 2)
            bytes[k++] = (unsigned char)(v >> 8);
        if (m > 3)
            bytes[k++] = (unsigned char)v;
    }
    *out = bytes;
    *n = k;
    return 0;
}

/* Reads a minimal varint; what names the field in messages. */
static int get_varint(struct rd *r, const char *what, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: truncated (in %s)", what);
        unsigned char c = *r->p++;
        if (shift == 63 && (c & 0xfe))
            return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is beyond 64 bits", what);
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (c == 0 && shift > 0)
                return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is not minimal", what);
            *v = x;
            return 0;
        }
    }
    return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is beyond 64 bits", what);
}

static int get_ld(struct rd *r, const char *what, long double *out)
{
    uint64_t head, mant;
    int rc = get_varint(r, what, &head);
    if (rc != 0 || head == 0) {
        *out = 0;
        return rc;
    }
    rc = get_varint(r, what, &mant);
    if (rc != 0)
        return rc;
    int sign = (int)((head - 1) & 1);
    int64_t exp = unzigzag((head - 1) >> 1);
    if (!(mant & 1) || exp < -MAX_LD_EXP || exp > MAX_LD_EXP)
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is not a canonical number", what);
    long double x = ldexpl((long double)mant, (int)exp);
    int sign2;
    int64_t exp2;
    uint64_t mant2;
    if (x == 0 || !isfinite(x))
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is out of range", what);
    ld_split(x, &sign2, &exp2, &mant2);
    if (exp2 != exp || mant2 != mant) /* not representable here: rounded */
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %s is not exact on this machine",
                          what);
    *out = sign ? -x : x;
    return 0;
}

/* The exact figures, checked against each other. */
static int get_exact(struct rd *r, struct pv_hist__exact *x)
{
    uint64_t span;
    int rc = get_varint(r, "count", &x->count);
    if (rc != 0 || x->count == 0)
        return rc;
    if ((rc = get_varint(r, "min", &x->min)) != 0 || (rc = get_varint(r, "max", &span)) != 0 ||
        (rc = get_varint(r, "sum", &x->sum_lo)) != 0 ||
        (rc = get_varint(r, "sum", &x->sum_hi)) != 0 ||
        (rc = get_varint(r, "shift", &x->shift)) != 0 || (rc = get_ld(r, "dsum", &x->dsum)) != 0 ||
        (rc = get_ld(r, "dsum2", &x->dsum2)) != 0)
        return rc;
    if (span > UINT64_MAX - x->min)
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: max is beyond 64 bits");
    x->max = x->min + span;
    __extension__ typedef unsigned __int128 u128;
    u128 sum = (u128)x->sum_hi << 64 | x->sum_lo;
    if (sum < (u128)x->min * x->count || sum > (u128)x->max * x->count)
        return pv_err_set(r->err, VOLLEY_EINPUT,
                          "histogram: the sum is not between count * min and count * max");
    return 0;
}

/* The buckets into h, checked against the exact figures x. */
static int get_buckets(struct rd *r, const struct pv_hist__exact *x, pv_hist *h)
{
    uint64_t n, total = 0;
    int rc = get_varint(r, "the bucket count", &n);
    if (rc != 0)
        return rc;
    if (n > PV_HIST__NBUCKETS || (x->count == 0 && n > 0))
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %llu buckets for %llu values",
                          (unsigned long long)n, (unsigned long long)x->count);
    uint64_t lo = x->count ? pv_hist__index_of(x->min) : 0;
    uint64_t hi = x->count ? pv_hist__index_of(x->max) : 0;
    uint64_t next = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta, count;
        if ((rc = get_varint(r, "a bucket index", &delta)) != 0 ||
            (rc = get_varint(r, "a bucket count", &count)) != 0)
            return rc;
        if (delta > hi - next + 1 || next + delta < lo || next + delta > hi)
            return pv_err_set(r->err, VOLLEY_EINPUT,
                              "histogram: bucket %llu lies outside [min, max]",
                              (unsigned long long)(i + 1));
        if (count == 0 || count > x->count - total)
            return pv_err_set(r->err, VOLLEY_EINPUT,
                              count ? "histogram: the buckets hold more values than count"
                                    : "histogram: an empty bucket");
        uint64_t idx = next + delta;
        if ((rc = pv_hist__bucket_add(h, (uint32_t)idx, count)) != 0)
            return rc;
        total += count;
        next = idx + 1;
    }
    if (r->p != r->end)
        return pv_err_set(r->err, VOLLEY_EINPUT, "histogram: %zu bytes after the buckets",
                          (size_t)(r->end - r->p));
    return 0;
}

int pv_hist_decode(const char *text, size_t len, pv_hist **out, pv_err *err)
{
    *out = NULL;
    if (len < TAG_LEN || memcmp(text, PV_HIST_CODEC_TAG, TAG_LEN) != 0)
        return pv_err_set(err, VOLLEY_EINPUT, "histogram: does not start with \"%s\"",
                          PV_HIST_CODEC_TAG);
    unsigned char *bytes = NULL;
    size_t n = 0;
    int rc = un_base64url(text + TAG_LEN, len - TAG_LEN, &bytes, &n, err);
    if (rc != 0)
        return rc;
    struct rd r = {bytes, bytes + n, err};
    struct pv_hist__exact x = {0};
    pv_hist *h = NULL;
    rc = get_exact(&r, &x);
    if (rc == 0)
        rc = pv_hist_create(&h);
    if (rc == 0)
        rc = get_buckets(&r, &x, h);
    free(bytes);
    if (rc != 0) {
        pv_hist_destroy(h);
        return rc;
    }
    pv_hist__exact_set(h, &x);
    *out = h;
    return 0;
}

bool pv_hist_equal(const pv_hist *a, const pv_hist *b)
{
    struct pv_hist__exact x = {0}, y = {0};
    if (a)
        pv_hist__exact_get(a, &x);
    if (b)
        pv_hist__exact_get(b, &y);
    if (x.count != y.count || x.min != y.min || x.max != y.max || x.sum_lo != y.sum_lo ||
        x.sum_hi != y.sum_hi || x.shift != y.shift || x.dsum != y.dsum || x.dsum2 != y.dsum2)
        return false;
    struct pv_hist_iter i, j;
    pv_hist_iter_init(&i);
    pv_hist_iter_init(&j);
    for (;;) {
        bool more_a = a && pv_hist_iter_next(a, &i);
        bool more_b = b && pv_hist_iter_next(b, &j);
        if (more_a != more_b)
            return false;
        if (!more_a)
            return true;
        if (i.lo_ns != j.lo_ns || i.count != j.count)
            return false;
    }
}
