/*
 * pv_hist_int.h - internals of the histogram shared by its two files:
 *   pv_hist.c        storage, recording, merging, percentiles (pv_hist.h)
 *   pv_hist_codec.c  the compact text encoding (pv_hist_codec.h)
 * Included only by them.
 */
#ifndef PV_HIST_INT_H
#define PV_HIST_INT_H

#include <stdint.h>

#include "stats/pv_hist.h"

/* Buckets are numbered 0 .. PV_HIST__NBUCKETS - 1 in increasing value
   order: band * 1024 + sub (see pv_hist.c). */
#define PV_HIST__NBUCKETS (33u * 1024u)

/* The exact figures a histogram keeps beside its buckets (pv_hist.c). */
struct pv_hist__exact {
    uint64_t count;          /* values recorded */
    uint64_t min, max;       /* 0 when count is 0 */
    uint64_t sum_lo, sum_hi; /* the exact sum, a 128-bit integer */
    uint64_t shift;          /* the first value recorded (variance by shifted data) */
    long double dsum, dsum2; /* sums of (v - shift) and (v - shift)^2 */
};

/** Copies h's exact figures into out. */
void pv_hist__exact_get(const pv_hist *h, struct pv_hist__exact *out);

/** Replaces h's exact figures (its buckets are left as they are). */
void pv_hist__exact_set(pv_hist *h, const struct pv_hist__exact *x);

/** The bucket index of value v (clamped to PV_HIST_MAX_NS). */
uint32_t pv_hist__index_of(uint64_t v);

/** The bucket index of the iterator's current bucket (after pv_hist_iter_next). */
uint32_t pv_hist__iter_index(const struct pv_hist_iter *it);

/**
 * Adds n (> 0) values to bucket idx (< PV_HIST__NBUCKETS) of a histogram
 * being built from its buckets: h's count grows by n (its other exact
 * figures are left alone; pv_hist__exact_set them afterwards).
 * @return 0 or VOLLEY_ENOMEM (h keeps what it had).
 */
int pv_hist__bucket_add(pv_hist *h, uint32_t idx, uint64_t n);

#endif /* PV_HIST_INT_H */
