/* pv_hist.c - log-linear (HDR-style) latency histogram; contract in pv_hist.h. */
#include "stats/pv_hist.h"
#include "stats/pv_hist_int.h"

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
 * Storage has two forms, and a histogram starts in the first.
 *
 * Sparse: an open-addressing hash table (linear probing) of slots holding a
 * 16-bit key and a 32-bit count, at most 3/4 full, plus a bitmap per band
 * of the 32-bucket blocks that hold a key. A latency histogram per parameter
 * set and thread often holds a few hundred values spread over as many
 * buckets: one 256 B block per value in the dense form, 6-12 B per value
 * here. Keys are bucket indexes (band * 1024 + sub, below 2^16) plus one,
 * so 0 marks a free slot; keys and counts are two arrays of one
 * allocation. The hash multiplies by an odd constant: any 2^k consecutive
 * buckets land in distinct slots of a 2^k-slot table. Counts are 32-bit; the histogram turns dense
 * before its total count could pass 2^32 - 1, so no bucket can overflow.
 *
 * Dense: a band's 1024 counters are split into 32 blocks of 32 counters
 * (256 B). A band is a directory of 32 block pointers (256 B), allocated on
 * the band's first value; a block is allocated on the first value that falls
 * into it. A fully populated band costs 8 KiB plus its directory. Blocks of
 * 32 were measured against 16 and 64: 64 costs clearly more for histograms
 * of a few dozen latencies, 16 saves little and doubles the directory.
 *
 * The table grows by doubling. When the doubled table would take more
 * memory than the dense form of the same blocks, the histogram turns dense
 * instead, for good (a reset keeps the form). So memory stays at about the
 * smaller of the two forms, and a long run ends in the dense form, whose
 * fast path is two dependent loads (directory, block) and an increment.
 * The sparse fast path is a multiply, a load and a compare, and a short
 * probe on collisions. Allocation happens only on a new bucket or block, in
 * cold functions.
 *
 * The dense form's array of NBANDS band pointers is allocated when the
 * histogram turns dense, not kept in the struct: a run keeps a histogram per
 * scenario and worker, most of them sparse with a few values, and 264 bytes
 * of NULL pointers in each was a third of a sparse histogram's size.
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
#define HASH_MUL   0x9E3779B1u               /* odd: a bijection modulo 2^k */
#define MIN_SLOTS  16u
#define MAX_SPARSE UINT32_MAX /* the total count up to which the sparse form is kept */

_Static_assert((PV_HIST_MAX_NS >> MAX_MSB) == 1, "MAX_MSB must be the msb of PV_HIST_MAX_NS");
_Static_assert(BLOCK_BITS <= SUB_BITS, "a block cannot span bands");
_Static_assert(NBANDS *SUB_COUNT < 65535, "bucket keys must fit the sparse table");
_Static_assert(NBLOCKS <= 32, "a band's blocks must fit a 32-bit map");
_Static_assert(NBANDS *SUB_COUNT == PV_HIST__NBUCKETS, "pv_hist_int.h counts the buckets");

/* One band: NBLOCKS blocks of BLOCK_LEN counters, each NULL until first use. */
struct band {
    uint64_t *blocks[NBLOCKS];
};

#define SLOT_BYTES (sizeof(uint32_t) + sizeof(uint16_t))

struct sparse {
    uint32_t *counts;          /* nslots counts, then nslots keys; NULL until the first value */
    uint16_t *keys;            /* bucket index + 1; 0 = free */
    uint32_t nslots;           /* 0 or a power of two >= MIN_SLOTS */
    uint32_t nkeys;            /* slots in use; at most 3/4 of nslots */
    uint32_t blockmap[NBANDS]; /* bit k of [b]: block k of band b holds a key */
};

struct pv_hist {
    bool dense;
    union {
        struct sparse sp;    /* !dense */
        struct band **bands; /* dense: NBANDS bands, each NULL until its first value */
    } u;
    uint64_t count;          /* values recorded (including any that hit ENOMEM) */
    uint64_t min, max;       /* exact; meaningful only when count > 0 */
    uint64_t sum_lo, sum_hi; /* exact sum as a 128-bit integer, in two words */
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
    pv_hist *h = calloc(1, sizeof(*h)); /* sparse, no table yet */
    if (h == NULL)
        return VOLLEY_ENOMEM;
    *out = h;
    return 0;
}

/* Frees the bands of a directory (not the directory itself). */
static void free_bands(struct band **bands)
{
    for (uint32_t b = 0; b < NBANDS; b++) {
        if (bands[b] == NULL)
            continue;
        for (uint32_t k = 0; k < NBLOCKS; k++)
            free(bands[b]->blocks[k]);
        free(bands[b]);
        bands[b] = NULL;
    }
}

void pv_hist_destroy(pv_hist *h)
{
    if (h == NULL)
        return;
    if (h->dense) {
        free_bands(h->u.bands);
        free(h->u.bands);
    } else
        free(h->u.sp.counts);
    free(h);
}

void pv_hist_reset(pv_hist *h)
{
    if (h->dense) {
        for (uint32_t b = 0; b < NBANDS; b++) {
            struct band *band = h->u.bands[b];
            if (band == NULL)
                continue;
            for (uint32_t k = 0; k < NBLOCKS; k++) {
                if (band->blocks[k] != NULL)
                    memset(band->blocks[k], 0, BLOCK_LEN * sizeof(uint64_t));
            }
        }
    } else {
        struct sparse *sp = &h->u.sp;
        if (sp->counts != NULL)
            memset(sp->counts, 0, sp->nslots * SLOT_BYTES);
        sp->nkeys = 0;
        memset(sp->blockmap, 0, sizeof(sp->blockmap));
    }
    h->count = h->min = h->max = h->sum_lo = h->sum_hi = h->shift = 0;
    h->dsum = h->dsum2 = 0;
}

/* ---- the two storage forms ------------------------------------------------- */

/* The slot holding key, or the free slot where it belongs (nslots > 0; the
   table is never full). */
static inline uint32_t sparse_find(const struct sparse *sp, uint32_t key)
{
    uint32_t mask = sp->nslots - 1;
    uint32_t i = (key * HASH_MUL) & mask;
    while (sp->keys[i] != 0 && sp->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static uint64_t sparse_get(const struct sparse *sp, uint32_t idx)
{
    if (sp->nslots == 0)
        return 0;
    uint32_t i = sparse_find(sp, idx + 1);
    return sp->keys[i] != 0 ? sp->counts[i] : 0;
}

/* Bytes the dense form takes for the blocks in map. */
static size_t dense_bytes(const uint32_t *map)
{
    size_t bytes = 0;
    for (uint32_t b = 0; b < NBANDS; b++) {
        if (map[b] != 0)
            bytes += sizeof(struct band) +
                     (size_t)__builtin_popcount(map[b]) * BLOCK_LEN * sizeof(uint64_t);
    }
    return bytes;
}

/* Whether a table of nslots may hold nkeys (at most 3/4 full). */
static bool fits(uint32_t nkeys, uint32_t nslots)
{
    return (uint64_t)nkeys * 4 <= (uint64_t)nslots * 3;
}

/* Smallest table (a power of two >= MIN_SLOTS) that may hold nkeys. */
static uint32_t slots_for(uint32_t nkeys)
{
    uint32_t n = MIN_SLOTS;
    while (!fits(nkeys, n))
        n *= 2;
    return n;
}

/* Rehashes into a table of nslots; false on ENOMEM, leaving the table as it was. */
static bool sparse_resize(struct sparse *sp, uint32_t nslots)
{
    uint32_t *counts = calloc(nslots, SLOT_BYTES);
    if (counts == NULL)
        return false;
    struct sparse old = *sp;
    sp->counts = counts;
    sp->keys = (uint16_t *)(counts + nslots);
    sp->nslots = nslots;
    for (uint32_t i = 0; i < old.nslots; i++) {
        if (old.keys[i] != 0) {
            uint32_t j = sparse_find(sp, old.keys[i]);
            sp->keys[j] = old.keys[i];
            sp->counts[j] = old.counts[i];
        }
    }
    free(old.counts);
    return true;
}

/*
 * Returns block k of band b in the directory bands, allocating the band's
 * directory and the block (zeroed) as needed; NULL on ENOMEM. A directory
 * whose block then fails stays allocated: it is empty, and is freed with
 * the rest.
 */
static uint64_t *get_block(struct band **bands, uint32_t b, uint32_t k)
{
    struct band *band = bands[b];
    if (band == NULL) {
        band = calloc(1, sizeof(*band));
        if (band == NULL)
            return NULL;
        bands[b] = band;
    }
    if (band->blocks[k] == NULL)
        band->blocks[k] = calloc(BLOCK_LEN, sizeof(uint64_t));
    return band->blocks[k];
}

/* Allocates in bands every block set in map; false on ENOMEM. */
static bool alloc_blocks(struct band **bands, const uint32_t *map)
{
    for (uint32_t b = 0; b < NBANDS; b++) {
        for (uint32_t m = map[b]; m != 0; m &= m - 1) {
            if (get_block(bands, b, (uint32_t)__builtin_ctz(m)) == NULL)
                return false;
        }
    }
    return true;
}

/*
 * Turns a sparse histogram dense: allocates the blocks its buckets fall into
 * and those set in extra (NULL for none), then moves the counts over. On
 * ENOMEM h is left as it was.
 */
__attribute__((cold)) static int make_dense(pv_hist *h, const uint32_t *extra)
{
    struct sparse *sp = &h->u.sp;
    struct band **bands = calloc(NBANDS, sizeof(*bands));
    uint32_t map[NBANDS];
    for (uint32_t b = 0; b < NBANDS; b++)
        map[b] = sp->blockmap[b] | (extra ? extra[b] : 0);
    if (bands == NULL || !alloc_blocks(bands, map)) {
        if (bands != NULL)
            free_bands(bands);
        free(bands);
        return VOLLEY_ENOMEM;
    }
    for (uint32_t i = 0; i < sp->nslots; i++) {
        uint32_t key = sp->keys[i];
        if (key == 0)
            continue;
        uint32_t idx = key - 1, sub = idx & SUB_MASK;
        bands[idx >> SUB_BITS]->blocks[sub >> BLOCK_BITS][sub & BLOCK_MASK] = sp->counts[i];
    }
    free(sp->counts);
    h->dense = true;
    h->u.bands = bands;
    return 0;
}

/* Adds n to bucket idx of a dense histogram. */
static int dense_add(pv_hist *h, uint32_t idx, uint64_t n)
{
    uint32_t sub = idx & SUB_MASK;
    uint64_t *block = get_block(h->u.bands, idx >> SUB_BITS, sub >> BLOCK_BITS);
    if (block == NULL)
        return VOLLEY_ENOMEM;
    block[sub & BLOCK_MASK] += n;
    return 0;
}

/*
 * Puts bucket idx, absent so far, with count n into a sparse histogram:
 * grows the table first when it is 3/4 full, or turns dense when the
 * doubled table would outweigh the dense form.
 */
__attribute__((noinline, cold)) static int sparse_add_new(pv_hist *h, uint32_t idx, uint32_t n)
{
    struct sparse *sp = &h->u.sp;
    uint32_t b = idx >> SUB_BITS, bit = 1u << ((idx & SUB_MASK) >> BLOCK_BITS);
    if (!fits(sp->nkeys + 1, sp->nslots)) {
        uint32_t want = sp->nslots ? sp->nslots * 2 : MIN_SLOTS;
        uint32_t map[NBANDS];
        memcpy(map, sp->blockmap, sizeof(map));
        map[b] |= bit;
        if ((size_t)want * SLOT_BYTES > dense_bytes(map)) {
            int rc = make_dense(h, map);
            return rc != 0 ? rc : dense_add(h, idx, n);
        }
        if (!sparse_resize(sp, want))
            return VOLLEY_ENOMEM;
    }
    uint32_t i = sparse_find(sp, idx + 1);
    sp->keys[i] = (uint16_t)(idx + 1);
    sp->counts[i] = n;
    sp->nkeys++;
    sp->blockmap[b] |= bit;
    return 0;
}

/* Cold path of pv_hist_record for a sparse histogram: a new bucket, or a
   total count that no longer fits the 32-bit counts. */
__attribute__((noinline, cold)) static int record_sparse_slow(pv_hist *h, uint32_t idx)
{
    if (h->count > MAX_SPARSE) {
        int rc = make_dense(h, NULL);
        return rc != 0 ? rc : dense_add(h, idx, 1);
    }
    return sparse_add_new(h, idx, 1);
}

/* ---- recording ------------------------------------------------------------ */

/* Cold path of pv_hist_record for a dense histogram: the value's band or
   block is not allocated yet. */
__attribute__((noinline, cold)) static int record_new_block(pv_hist *h, uint32_t idx)
{
    return dense_add(h, idx, 1);
}

int pv_hist_record(pv_hist *h, uint64_t value_ns)
{
    /* Exact figures first: they count the value even if storage fails. */
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
    if (!h->dense) {
        const struct sparse *sp = &h->u.sp;
        uint32_t idx = band << SUB_BITS | sub;
        if (sp->nslots != 0 && h->count <= MAX_SPARSE) {
            uint32_t i = sparse_find(sp, idx + 1);
            if (sp->keys[i] != 0) {
                sp->counts[i]++;
                return 0;
            }
        }
        return record_sparse_slow(h, idx);
    }
    const struct band *dir = h->u.bands[band];
    if (__builtin_expect(dir == NULL, 0))
        return record_new_block(h, band << SUB_BITS | sub);
    uint64_t *block = dir->blocks[sub >> BLOCK_BITS];
    if (__builtin_expect(block == NULL, 0))
        return record_new_block(h, band << SUB_BITS | sub);
    block[sub & BLOCK_MASK]++;
    return 0;
}

/* ---- merging -------------------------------------------------------------- */

static bool block_is_empty(const uint64_t *block)
{
    uint64_t any = 0;
    for (uint32_t i = 0; i < BLOCK_LEN; i++)
        any |= block[i];
    return any == 0;
}

/* dst (dense) += src (dense). */
static int merge_dense_dense(pv_hist *dst, const pv_hist *src)
{
    /*
     * Allocate every block dst lacks first, so that on ENOMEM dst keeps its
     * values (it may gain empty blocks). src blocks that are all zero (left
     * by pv_hist_reset) are not copied, so dst's memory follows its values.
     */
    uint32_t map[NBANDS] = {0};
    for (uint32_t b = 0; b < NBANDS; b++) {
        const struct band *sband = src->u.bands[b];
        for (uint32_t k = 0; sband != NULL && k < NBLOCKS; k++) {
            if (sband->blocks[k] != NULL && !block_is_empty(sband->blocks[k]))
                map[b] |= 1u << k;
        }
    }
    if (!alloc_blocks(dst->u.bands, map))
        return VOLLEY_ENOMEM;
    for (uint32_t b = 0; b < NBANDS; b++) {
        for (uint32_t m = map[b]; m != 0; m &= m - 1) {
            uint32_t k = (uint32_t)__builtin_ctz(m);
            const uint64_t *sblock = src->u.bands[b]->blocks[k];
            uint64_t *dblock = dst->u.bands[b]->blocks[k];
            for (uint32_t i = 0; i < BLOCK_LEN; i++)
                dblock[i] += sblock[i];
        }
    }
    return 0;
}

/* dst (dense) += src (sparse). */
static int merge_sparse_into_dense(pv_hist *dst, const struct sparse *src)
{
    if (!alloc_blocks(dst->u.bands, src->blockmap))
        return VOLLEY_ENOMEM;
    for (uint32_t i = 0; i < src->nslots; i++) {
        if (src->keys[i] != 0)
            dense_add(dst, src->keys[i] - 1u, src->counts[i]); /* allocated: cannot fail */
    }
    return 0;
}

/* dst (sparse) += src (sparse), in dst's table if the union is small enough. */
static int merge_sparse_sparse(pv_hist *dst, const pv_hist *src)
{
    struct sparse *dsp = &dst->u.sp;
    const struct sparse *ssp = &src->u.sp;
    if (dst->count + src->count > MAX_SPARSE) {
        int rc = make_dense(dst, ssp->blockmap);
        return rc != 0 ? rc : merge_sparse_into_dense(dst, ssp);
    }
    uint32_t missing = 0;
    for (uint32_t i = 0; i < ssp->nslots; i++) {
        uint32_t key = ssp->keys[i];
        if (key != 0 && (dsp->nslots == 0 || dsp->keys[sparse_find(dsp, key)] == 0))
            missing++;
    }
    uint32_t want = slots_for(dsp->nkeys + missing);
    if (want > dsp->nslots) {
        uint32_t map[NBANDS];
        for (uint32_t b = 0; b < NBANDS; b++)
            map[b] = dsp->blockmap[b] | ssp->blockmap[b];
        if ((size_t)want * SLOT_BYTES > dense_bytes(map)) {
            int rc = make_dense(dst, ssp->blockmap);
            return rc != 0 ? rc : merge_sparse_into_dense(dst, ssp);
        }
        if (!sparse_resize(dsp, want))
            return VOLLEY_ENOMEM;
    }
    for (uint32_t i = 0; i < ssp->nslots; i++) {
        uint16_t key = ssp->keys[i];
        if (key == 0)
            continue;
        uint32_t j = sparse_find(dsp, key);
        if (dsp->keys[j] == 0) {
            dsp->keys[j] = key;
            dsp->nkeys++;
        }
        dsp->counts[j] += ssp->counts[i]; /* both totals fit 32 bits together */
    }
    for (uint32_t b = 0; b < NBANDS; b++)
        dsp->blockmap[b] |= ssp->blockmap[b];
    return 0;
}

int pv_hist_merge(pv_hist *dst, const pv_hist *src)
{
    if (src->count == 0)
        return 0;
    int rc;
    if (!src->dense) {
        rc = dst->dense ? merge_sparse_into_dense(dst, &src->u.sp) : merge_sparse_sparse(dst, src);
    } else {
        rc = dst->dense ? 0 : make_dense(dst, NULL);
        if (rc == 0)
            rc = merge_dense_dense(dst, src);
    }
    if (rc != 0)
        return rc;

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
    return h ? h->count : 0;
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

/* Whether block k of band b may hold values (both forms). */
static bool block_used(const pv_hist *h, uint32_t b, uint32_t k)
{
    if (h->dense)
        return h->u.bands[b] != NULL && h->u.bands[b]->blocks[k] != NULL;
    return (h->u.sp.blockmap[b] >> k) & 1;
}

/* Count of bucket (b, sub), whose block is in use. */
static uint64_t count_at(const pv_hist *h, uint32_t b, uint32_t sub)
{
    if (h->dense)
        return h->u.bands[b]->blocks[sub >> BLOCK_BITS][sub & BLOCK_MASK];
    return sparse_get(&h->u.sp, b << SUB_BITS | sub);
}

/* A percentile's answer in bucket (b, sub): its midpoint, within [min, max]. */
static uint64_t bucket_answer(const pv_hist *h, uint32_t b, uint32_t sub)
{
    uint64_t lo = bucket_lo(b, sub);
    uint64_t mid = lo + (bucket_hi(b, sub) - lo) / 2;
    return PV_MIN(PV_MAX(mid, h->min), h->max);
}

/*
 * Sparse form: the index of the bucket holding the rank-th smallest value,
 * or UINT32_MAX if the buckets hold fewer values (some missed theirs through
 * ENOMEM). Probing every bucket of every used block in order costs a hash
 * lookup each; three counting passes over the table instead (by band, by
 * block within the band found, by bucket within the block found) read each
 * slot three times.
 */
static uint32_t sparse_rank_bucket(const struct sparse *sp, uint64_t rank)
{
    static const uint32_t shift[3] = {SUB_BITS, BLOCK_BITS, 0};
    static const uint32_t groups[3] = {64, NBLOCKS, BLOCK_LEN};
    _Static_assert(NBANDS <= 64, "bands must fit the first pass's groups");
    uint32_t prefix = 0; /* idx >> shift[level - 1] of the group chosen so far */
    for (int level = 0; level < 3; level++) {
        uint64_t counts[64] = {0};
        for (uint32_t i = 0; i < sp->nslots; i++) {
            if (sp->keys[i] == 0)
                continue;
            uint32_t idx = sp->keys[i] - 1u;
            if (level > 0 && (idx >> shift[level - 1]) != prefix)
                continue;
            counts[(idx >> shift[level]) & (groups[level] - 1)] += sp->counts[i];
        }
        uint32_t g = 0;
        while (g < groups[level] && counts[g] < rank)
            rank -= counts[g++];
        if (g == groups[level])
            return UINT32_MAX;
        prefix = level > 0 ? prefix << (shift[level - 1] - shift[level]) | g : g;
    }
    return prefix;
}

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

    if (!h->dense) {
        uint32_t idx = sparse_rank_bucket(&h->u.sp, rank);
        return idx == UINT32_MAX ? h->max : bucket_answer(h, idx >> SUB_BITS, idx & SUB_MASK);
    }
    uint64_t seen = 0;
    for (uint32_t b = 0; b < NBANDS; b++) {
        for (uint32_t k = 0; k < NBLOCKS; k++) {
            if (!block_used(h, b, k))
                continue;
            for (uint32_t s = k * BLOCK_LEN; s < (k + 1) * BLOCK_LEN; s++) {
                seen += count_at(h, b, s);
                if (seen >= rank)
                    return bucket_answer(h, b, s);
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
        while (it->sub < SUB_COUNT) {
            if (!block_used(h, it->band, it->sub >> BLOCK_BITS)) { /* skip to the next block */
                it->sub = (it->sub | BLOCK_MASK) + 1;
                continue;
            }
            uint64_t n = count_at(h, it->band, it->sub);
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

/* ---- internals for the codec (pv_hist_int.h) ------------------------------ */

void pv_hist__exact_get(const pv_hist *h, struct pv_hist__exact *out)
{
    out->count = h->count;
    out->min = h->count ? h->min : 0;
    out->max = h->count ? h->max : 0;
    out->sum_lo = h->sum_lo;
    out->sum_hi = h->sum_hi;
    out->shift = h->shift;
    out->dsum = h->dsum;
    out->dsum2 = h->dsum2;
}

void pv_hist__exact_set(pv_hist *h, const struct pv_hist__exact *x)
{
    h->count = x->count;
    h->min = x->min;
    h->max = x->max;
    h->sum_lo = x->sum_lo;
    h->sum_hi = x->sum_hi;
    h->shift = x->shift;
    h->dsum = x->dsum;
    h->dsum2 = x->dsum2;
}

uint32_t pv_hist__index_of(uint64_t v)
{
    if (v > PV_HIST_MAX_NS)
        v = PV_HIST_MAX_NS;
    uint32_t band = band_of(v);
    return band << SUB_BITS | sub_of(v, band);
}

uint32_t pv_hist__iter_index(const struct pv_hist_iter *it)
{
    return it->band << SUB_BITS | (it->sub - 1); /* pv_hist_iter_next moved past it */
}

int pv_hist__bucket_add(pv_hist *h, uint32_t idx, uint64_t n)
{
    int rc = 0;
    if (!h->dense && h->count + n > MAX_SPARSE)
        rc = make_dense(h, NULL);
    if (rc == 0 && h->dense) {
        rc = dense_add(h, idx, n);
    } else if (rc == 0) {
        struct sparse *sp = &h->u.sp;
        uint32_t i = sp->nslots ? sparse_find(sp, idx + 1) : 0;
        if (sp->nslots && sp->keys[i] != 0)
            sp->counts[i] += (uint32_t)n; /* the total fits 32 bits (checked above) */
        else
            rc = sparse_add_new(h, idx, (uint32_t)n);
    }
    if (rc == 0)
        h->count += n;
    return rc;
}
