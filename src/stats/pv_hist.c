/* pv_hist.c - log-linear (HDR-style) latency histogram; contract in pv_hist.h. */
#include "stats/pv_hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Bucket layout.
 *
 * Band 0 holds the values 0..1023 ns, one value per sub-bucket (exact).
 * Band b >= 1 holds [1024 << (b-1), 2048 << (b-1)) split into 1024 linear
 * sub-buckets of width 1 << (b-1), so a bucket's width is at most 1/1024 of
 * its lowest value: that is the promised relative error.
 *
 * The band of v >= 1024 is msb(v) - 9; for v < 1024, msb(v | 1023) == 9 gives
 * band 0 without a branch (and keeps __builtin_clzll away from 0). Likewise
 * the shift is band - 1 except for band 0, where it is 0.
 *
 * PV_HIST_MAX_NS (1 h, about 2^41.7) has msb 41, so bands 0..32 are enough.
 * Values above it are clamped to it, so the bucket holding PV_HIST_MAX_NS is
 * the top bucket; it is open-ended, and the iterator reports its hi_ns as
 * UINT64_MAX (every larger value falls into it).
 *
 * Storage. A band's 1024 counters are split into 32 blocks of 32 counters
 * (256 B). A band is a directory of 32 block pointers (256 B), allocated on
 * the band's first value; a block is allocated on the first value that falls
 * into it. So memory follows what is recorded: a histogram holding a few
 * values costs about 1 KiB instead of 8 KiB per band touched, and a fully
 * populated band costs 8 KiB plus its directory, as before. Blocks of 32
 * were measured against 16 and 64: 64 costs clearly more for histograms of a
 * few dozen latencies, 16 saves little and doubles the directory. The fast
 * path of pv_hist_record is two dependent loads (directory, block) and an
 * increment; allocation happens only on the first touch of a block, in a
 * cold function.
 */
#define SUB_BITS   10
#define SUB_COUNT  (1u << SUB_BITS) /* 1024 sub-buckets per band */
#define SUB_MASK   (SUB_COUNT - 1)
#define MAX_MSB    41
#define NBANDS     (MAX_MSB - (SUB_BITS - 1) + 1) /* 33 */
#define BLOCK_BITS 5
#define BLOCK_LEN  (1u << BLOCK_BITS) /* 32 counters (256 B) per block */
#define BLOCK_MASK (BLOCK_LEN - 1)
#define NBLOCKS    (SUB_COUNT >> BLOCK_BITS) /* 32 blocks per band */

_Static_assert((PV_HIST_MAX_NS >> MAX_MSB) == 1, "MAX_MSB must be the msb of PV_HIST_MAX_NS");
_Static_assert(BLOCK_BITS <= SUB_BITS, "a block cannot span bands");

/* One band: NBLOCKS blocks of BLOCK_LEN counters, each NULL until first use. */
struct band {
    uint64_t *blocks[NBLOCKS];
};

struct pv_hist {
    struct band *bands[NBANDS]; /* NULL until the band's first value */
    uint64_t count;             /* values recorded (including any that hit ENOMEM) */
    uint64_t min, max;          /* exact; meaningful only when count > 0 */
    uint64_t sum_lo, sum_hi;    /* exact sum as a 128-bit integer, in two words */
    /*
     * Variance by the "shifted data" method: sums of d = v - shift and d^2
     * in long double, with shift = the first recorded value. Subtracting a
     * typical value first avoids the catastrophic cancellation of
     * sum(v^2)/n - mean^2 when stddev << mean, and needs no division on
     * the hot path (Welford does).
     */
    uint64_t shift;
    long double dsum, dsum2;
};

/* ---- bucket arithmetic ---------------------------------------------------- */

static inline uint32_t band_of(uint64_t v)
{
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(v | SUB_MASK);
    return msb - (SUB_BITS - 1);
}

static inline uint32_t shift_of(uint32_t band)
{
    return band - (band != 0);
}

static inline uint32_t sub_of(uint64_t v, uint32_t band)
{
    return (uint32_t)(v >> shift_of(band)) & SUB_MASK;
}

/* Smallest value of bucket (band, sub). */
static uint64_t bucket_lo(uint32_t band, uint32_t sub)
{
    if (band == 0)
        return sub;
    return (uint64_t)(SUB_COUNT + sub) << shift_of(band);
}

/* Largest value of bucket (band, sub), ignoring the top bucket's clamping. */
static uint64_t bucket_hi(uint32_t band, uint32_t sub)
{
    return bucket_lo(band, sub) + ((uint64_t)1 << shift_of(band)) - 1;
}

static bool is_top_bucket(uint32_t band, uint32_t sub)
{
    return band == band_of(PV_HIST_MAX_NS) && sub == sub_of(PV_HIST_MAX_NS, band);
}

/* Converts a signed difference of two uint64 without wrapping. */
static inline long double ld_diff(uint64_t a, uint64_t b)
{
    return a >= b ? (long double)(a - b) : -(long double)(b - a);
}

static long double sum_ld(const pv_hist *h)
{
    return (long double)h->sum_hi * 18446744073709551616.0L + (long double)h->sum_lo;
}

/* ---- lifecycle ------------------------------------------------------------ */

int pv_hist_create(pv_hist **out)
{
    pv_hist *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return VOLLEY_ENOMEM;
    *out = h;
    return 0;
}

void pv_hist_destroy(pv_hist *h)
{
    if (h == NULL)
        return;
    for (uint32_t b = 0; b < NBANDS; b++) {
        struct band *band = h->bands[b];
        if (band == NULL)
            continue;
        for (uint32_t k = 0; k < NBLOCKS; k++)
            free(band->blocks[k]);
        free(band);
    }
    free(h);
}

void pv_hist_reset(pv_hist *h)
{
    for (uint32_t b = 0; b < NBANDS; b++) {
        struct band *band = h->bands[b];
        if (band == NULL)
            continue;
        for (uint32_t k = 0; k < NBLOCKS; k++) {
            if (band->blocks[k] != NULL)
                memset(band->blocks[k], 0, BLOCK_LEN * sizeof(uint64_t));
        }
    }
    h->count = h->min = h->max = h->sum_lo = h->sum_hi = h->shift = 0;
    h->dsum = h->dsum2 = 0;
}

/* ---- recording ------------------------------------------------------------ */

/*
 * Returns the block holding bucket (band, block k), allocating the band's
 * directory and the block (zeroed) as needed; NULL on ENOMEM. A directory
 * whose block then fails stays allocated: it is empty, and destroy frees it.
 */
static uint64_t *get_block(pv_hist *h, uint32_t b, uint32_t k)
{
    struct band *band = h->bands[b];
    if (band == NULL) {
        band = calloc(1, sizeof(*band));
        if (band == NULL)
            return NULL;
        h->bands[b] = band;
    }
    if (band->blocks[k] == NULL)
        band->blocks[k] = calloc(BLOCK_LEN, sizeof(uint64_t));
    return band->blocks[k];
}

/* Cold path of pv_hist_record: the value's band or block is not allocated yet. */
__attribute__((noinline, cold)) static int record_new_block(pv_hist *h, uint32_t b, uint32_t sub)
{
    uint64_t *block = get_block(h, b, sub >> BLOCK_BITS);
    if (block == NULL)
        return VOLLEY_ENOMEM;
    block[sub & BLOCK_MASK] = 1;
    return 0;
}

int pv_hist_record(pv_hist *h, uint64_t value_ns)
{
    /* Exact figures first: they count the value even if the band fails. */
    if (h->count == 0) {
        h->min = h->max = h->shift = value_ns;
    } else {
        if (value_ns < h->min)
            h->min = value_ns;
        if (value_ns > h->max)
            h->max = value_ns;
    }
    h->count++;
    h->sum_lo += value_ns;
    h->sum_hi += h->sum_lo < value_ns; /* carry */
    long double d = ld_diff(value_ns, h->shift);
    h->dsum += d;
    h->dsum2 += d * d;

    uint64_t v = value_ns > PV_HIST_MAX_NS ? PV_HIST_MAX_NS : value_ns;
    uint32_t band = band_of(v);
    uint32_t sub = sub_of(v, band);
    const struct band *dir = h->bands[band];
    if (__builtin_expect(dir == NULL, 0))
        return record_new_block(h, band, sub);
    uint64_t *block = dir->blocks[sub >> BLOCK_BITS];
    if (__builtin_expect(block == NULL, 0))
        return record_new_block(h, band, sub);
    block[sub & BLOCK_MASK]++;
    return 0;
}

static bool block_is_empty(const uint64_t *block)
{
    uint64_t any = 0;
    for (uint32_t i = 0; i < BLOCK_LEN; i++)
        any |= block[i];
    return any == 0;
}

int pv_hist_merge(pv_hist *dst, const pv_hist *src)
{
    if (src->count == 0)
        return 0;
    /*
     * Allocate every block dst lacks first, so that on ENOMEM dst keeps its
     * values (it may gain empty blocks). src blocks that are all zero (left
     * by pv_hist_reset) are not copied, so dst's memory follows its values.
     */
    for (uint32_t b = 0; b < NBANDS; b++) {
        const struct band *sband = src->bands[b];
        if (sband == NULL)
            continue;
        for (uint32_t k = 0; k < NBLOCKS; k++) {
            const uint64_t *sblock = sband->blocks[k];
            if (sblock == NULL || block_is_empty(sblock))
                continue;
            if (dst->bands[b] == NULL || dst->bands[b]->blocks[k] == NULL) {
                if (get_block(dst, b, k) == NULL)
                    return VOLLEY_ENOMEM;
            }
        }
    }
    for (uint32_t b = 0; b < NBANDS; b++) {
        const struct band *sband = src->bands[b];
        if (sband == NULL || dst->bands[b] == NULL)
            continue; /* dst lacks the band only if src's is empty */
        for (uint32_t k = 0; k < NBLOCKS; k++) {
            const uint64_t *sblock = sband->blocks[k];
            uint64_t *dblock = dst->bands[b]->blocks[k];
            if (sblock == NULL || dblock == NULL)
                continue; /* likewise */
            for (uint32_t i = 0; i < BLOCK_LEN; i++)
                dblock[i] += sblock[i];
        }
    }

    if (dst->count == 0) {
        dst->min = src->min;
        dst->max = src->max;
        dst->shift = src->shift;
        dst->dsum = src->dsum;
        dst->dsum2 = src->dsum2;
    } else {
        dst->min = PV_MIN(dst->min, src->min);
        dst->max = PV_MAX(dst->max, src->max);
        /*
         * Re-shift src's sums to dst's shift: with delta = src.shift -
         * dst.shift, sum(v - dst.shift) = dsum + n*delta and
         * sum((v - dst.shift)^2) = dsum2 + 2*delta*dsum + n*delta^2.
         */
        long double delta = ld_diff(src->shift, dst->shift);
        long double n = (long double)src->count;
        dst->dsum += src->dsum + n * delta;
        dst->dsum2 += src->dsum2 + 2 * delta * src->dsum + n * delta * delta;
    }
    dst->count += src->count;
    dst->sum_lo += src->sum_lo;
    dst->sum_hi += src->sum_hi + (dst->sum_lo < src->sum_lo);
    return 0;
}

/* ---- exact figures -------------------------------------------------------- */

uint64_t pv_hist_count(const pv_hist *h)
{
    return h->count;
}

uint64_t pv_hist_min(const pv_hist *h)
{
    return h->count ? h->min : 0;
}

uint64_t pv_hist_max(const pv_hist *h)
{
    return h->count ? h->max : 0;
}

double pv_hist_sum(const pv_hist *h)
{
    return (double)sum_ld(h);
}

double pv_hist_mean(const pv_hist *h)
{
    if (h->count == 0)
        return 0;
    return (double)(sum_ld(h) / (long double)h->count);
}

double pv_hist_stddev(const pv_hist *h)
{
    if (h->count == 0)
        return 0;
    long double n = (long double)h->count;
    long double m = h->dsum / n; /* mean - shift */
    long double var = h->dsum2 / n - m * m;
    if (var <= 0) /* rounding can push an all-equal sample slightly below 0 */
        return 0;
    return sqrt((double)var);
}

/* ---- percentiles and iteration --------------------------------------------- */

uint64_t pv_hist_percentile(const pv_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0)) /* also catches NaN */
        return h->min;
    if (q >= 100)
        return h->max;

    /*
     * rank = ceil(q/100 * count): the number of values that must be <= the
     * answer. q is usually a decimal such as 99.9 that binary cannot hold
     * exactly; shave a relative 1e-12 so that representation error does
     * not push an exact integer rank (999.0000000000001) up by one.
     */
    long double x = (long double)q * (long double)h->count / 100.0L;
    x -= x * 1e-12L;
    uint64_t rank = (uint64_t)x;
    if ((long double)rank < x)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;

    uint64_t seen = 0;
    for (uint32_t b = 0; b < NBANDS; b++) {
        const struct band *band = h->bands[b];
        if (band == NULL)
            continue;
        for (uint32_t k = 0; k < NBLOCKS; k++) {
            const uint64_t *block = band->blocks[k];
            if (block == NULL)
                continue;
            for (uint32_t i = 0; i < BLOCK_LEN; i++) {
                seen += block[i];
                if (seen >= rank) {
                    uint32_t s = k * BLOCK_LEN + i;
                    uint64_t lo = bucket_lo(b, s);
                    uint64_t mid = lo + (bucket_hi(b, s) - lo) / 2;
                    return PV_MIN(PV_MAX(mid, h->min), h->max);
                }
            }
        }
    }
    /* Only reachable if some values missed their bucket through ENOMEM. */
    return h->max;
}

void pv_hist_iter_init(struct pv_hist_iter *it)
{
    memset(it, 0, sizeof(*it));
}

/* it->band/it->sub is the next bucket to examine. */
bool pv_hist_iter_next(const pv_hist *h, struct pv_hist_iter *it)
{
    for (; it->band < NBANDS; it->band++, it->sub = 0) {
        const struct band *band = h->bands[it->band];
        if (band == NULL)
            continue;
        while (it->sub < SUB_COUNT) {
            const uint64_t *block = band->blocks[it->sub >> BLOCK_BITS];
            if (block == NULL) { /* skip to the next block */
                it->sub = (it->sub | BLOCK_MASK) + 1;
                continue;
            }
            uint64_t n = block[it->sub & BLOCK_MASK];
            if (n == 0) {
                it->sub++;
                continue;
            }
            it->lo_ns = bucket_lo(it->band, it->sub);
            it->hi_ns =
                is_top_bucket(it->band, it->sub) ? UINT64_MAX : bucket_hi(it->band, it->sub);
            it->count = n;
            it->sub++;
            return true;
        }
    }
    return false;
}
