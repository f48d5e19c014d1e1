/*
 * pv_hist.h - high-dynamic-range latency histogram.
 *
 * Log-linear buckets: values are nanoseconds; each power-of-two band above
 * 1024 ns is split into 1024 linear sub-buckets, so any recorded value is
 * represented within a relative error of 1/1024 (about 3 significant
 * digits). Bands cover 1 us .. 1 h; values below 1 us share the lowest
 * buckets, values above 1 h are counted in the top bucket. Memory follows
 * the values: a histogram keeps a small hash table of its non-empty buckets
 * (about 6-12 bytes each) until an array of counters per populated region
 * is smaller, so a few hundred values cost a few KiB.
 *
 * Exact figures are kept beside the buckets: count, min, max, sum and sum of
 * squares of the recorded values (so mean and stddev are exact, percentiles
 * are within the bucket resolution).
 *
 * Identities: count == sum of all bucket counts; min <= p(q) <= max for any q.
 *
 * A histogram is not thread-safe: each thread records into its own and the
 * owner merges them (pv_hist_merge) after the threads are done.
 */
#ifndef PV_HIST_H
#define PV_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pv_common.h"

typedef struct pv_hist pv_hist;

/** Largest value tracked with full resolution: one hour, in ns. */
#define PV_HIST_MAX_NS (3600ull * 1000000000ull)

/**
 * Creates an empty histogram.
 * @param out receives the histogram; owned by the caller (pv_hist_destroy).
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_hist_create(pv_hist **out);

/** Frees h; NULL is a no-op. */
void pv_hist_destroy(pv_hist *h);

/** Forgets every recorded value (keeps allocated bands). */
void pv_hist_reset(pv_hist *h);

/**
 * Records one value (ns). Values above PV_HIST_MAX_NS are bucketed at the
 * top but min/max/sum keep the exact value.
 * @return 0, or VOLLEY_ENOMEM if a new band could not be allocated (the
 *         value is then still counted in count/min/max/sum).
 */
int pv_hist_record(pv_hist *h, uint64_t value_ns);

/**
 * Adds every value of src into dst (dst += src). src is unchanged.
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_hist_merge(pv_hist *dst, const pv_hist *src);

/** Number of recorded values (0 for NULL: a group without a success has no histogram). */
uint64_t pv_hist_count(const pv_hist *h);
/** Smallest / largest recorded value in ns (0 when empty). */
uint64_t pv_hist_min(const pv_hist *h);
uint64_t pv_hist_max(const pv_hist *h);
/** Exact mean and population standard deviation in ns (0 when empty). */
double pv_hist_mean(const pv_hist *h);
double pv_hist_stddev(const pv_hist *h);
/** Exact sum of recorded values in ns. */
double pv_hist_sum(const pv_hist *h);

/**
 * Value at percentile q (0..100) in ns: the smallest bucket value v such
 * that at least q% of the values are <= v, reported as the bucket's
 * midpoint and clamped to [min, max]. 0 when empty. q=0 gives min, q=100 max.
 */
uint64_t pv_hist_percentile(const pv_hist *h, double q);

/** Iterator over non-empty buckets, in increasing value order. */
struct pv_hist_iter {
    /* output of each step */
    uint64_t lo_ns; /* smallest value that falls into this bucket */
    uint64_t hi_ns; /* largest value that falls into this bucket */
    uint64_t count; /* values recorded in this bucket */
    /* private */
    uint32_t band;
    uint32_t sub;
};

/** Starts an iteration. */
void pv_hist_iter_init(struct pv_hist_iter *it);
/** Advances to the next non-empty bucket; false when there is none. */
bool pv_hist_iter_next(const pv_hist *h, struct pv_hist_iter *it);

#endif /* PV_HIST_H */
