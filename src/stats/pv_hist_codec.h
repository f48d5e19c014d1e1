/*
 * pv_hist_codec.h - a lossless, compact, printable encoding of a pv_hist,
 * for reports that are merged later (`pgvolley merge`).
 *
 * The text is "pvh1." followed by base64url (RFC 4648 section 5, no
 * padding) of a byte string of unsigned LEB128 varints:
 *
 *   count
 *   if count > 0:  min, max - min, sum_lo, sum_hi, shift, dsum, dsum2
 *   nbuckets
 *   nbuckets times: index delta, bucket count
 *
 * sum_lo and sum_hi are the two 64-bit words of the exact sum; shift, dsum
 * and dsum2 are the shifted sums the standard deviation comes from (the
 * first value recorded, and the long double sums of v - shift and of its
 * square). A long double is 0 when zero, else 1 + (zigzag(e) << 1 | sign)
 * then an odd mantissa m, for the value m * 2^e: exact wherever a long
 * double has at most 64 mantissa bits (x86-64's 80-bit format, or double).
 * Buckets are the non-empty ones (count > 0) in increasing index order
 * (index = band * 1024 + sub-bucket, see pv_hist.c); the first delta is
 * the index itself, each next one the gap minus one.
 *
 * Only the canonical form is accepted (minimal varints, no stray bits), so
 * encode(decode(text)) == text for every text decode accepts.
 */
#ifndef PV_HIST_CODEC_H
#define PV_HIST_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "stats/pv_hist.h"

/** The prefix of every encoded histogram (the version of the encoding). */
#define PV_HIST_CODEC_TAG "pvh1."

/**
 * Appends the encoding of h (NULL: an empty histogram) to out, without a
 * terminating NUL beyond pv_buf's own.
 * @return 0 or VOLLEY_ENOMEM (out's oom flag is then set).
 */
int pv_hist_encode(const pv_hist *h, pv_buf *out);

/**
 * Decodes text[0, len). Never reads past len.
 * @param out receives a new histogram equal to the encoded one (owned by
 *        the caller: pv_hist_destroy); NULL on error.
 * @return 0, VOLLEY_EINPUT (err says what is wrong, starting "histogram: ")
 *         or VOLLEY_ENOMEM.
 */
int pv_hist_decode(const char *text, size_t len, pv_hist **out, pv_err *err);

/** Whether a and b hold the same buckets and the same exact figures
    (NULL equals an empty histogram). */
bool pv_hist_equal(const pv_hist *a, const pv_hist *b);

#endif /* PV_HIST_CODEC_H */
