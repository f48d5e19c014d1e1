/*
 * pv_gen.h - seedable random draws for generated parameters: a PRNG
 * (xoshiro256**, seeded through splitmix64) and pgbench's random family.
 *
 * The PRNG is a small value type owned by the caller; there is no global
 * state, so each worker thread keeps its own. The same seed and stream
 * give the same sequence on every platform.
 *
 * The integer draws have pgbench's semantics (its documentation for
 * random, random_exponential, random_gaussian and random_zipfian):
 *
 *   random(lb, ub)                  uniform in [lb, ub] (unbiased)
 *   random_exponential(lb, ub, p)   p > 0; P(lb + k) ~ exp(-p k / n), n = ub - lb + 1:
 *                                   the larger p, the more often values near lb
 *   random_gaussian(lb, ub, p)      p >= 2.0; normal around the middle of the
 *                                   range, truncated at p standard deviations
 *                                   on each side (Box-Muller, with rejection)
 *   random_zipfian(lb, ub, p)       1.001 <= p <= 1000; value lb + k - 1 has
 *                                   weight 1 / k^p (Devroye's rejection method)
 *   string(n)                       n characters from [A-Za-z0-9], 0 <= n <= 65536
 *
 * Every range needs lb <= ub and ub - lb + 1 <= INT64_MAX (as pgbench).
 */
#ifndef PV_GEN_H
#define PV_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"

/* xoshiro256** state: a value the caller owns; seed with pv_gen_seed. */
typedef struct pv_gen_rng {
    uint64_t s[4];
} pv_gen_rng;

/* Limits of the parameters, as pgbench's. */
#define PV_GEN_GAUSSIAN_MIN 2.0
#define PV_GEN_ZIPFIAN_MIN  1.001
#define PV_GEN_ZIPFIAN_MAX  1000.0
#define PV_GEN_STRING_MAX   65536
#define PV_GEN_STRING_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
/* Longest text of an integer draw: "-9223372036854775808". */
#define PV_GEN_INT_TEXT_MAX 20

/**
 * Seeds rng from (seed, stream): different streams of one seed give
 * independent sequences (a run uses the worker index as the stream).
 */
void pv_gen_seed(pv_gen_rng *rng, uint64_t seed, uint64_t stream);
/** The next 64 random bits. */
uint64_t pv_gen_next(pv_gen_rng *rng);
/** A double in [0, 1) with 53 random bits. */
double pv_gen_double(pv_gen_rng *rng);

/* The draws; the caller has checked the arguments (pv_gen_check). */
int64_t pv_gen_uniform(pv_gen_rng *rng, int64_t lb, int64_t ub);
int64_t pv_gen_exponential(pv_gen_rng *rng, int64_t lb, int64_t ub, double param);
int64_t pv_gen_gaussian(pv_gen_rng *rng, int64_t lb, int64_t ub, double param);
int64_t pv_gen_zipfian(pv_gen_rng *rng, int64_t lb, int64_t ub, double param);
/** Writes len characters of PV_GEN_STRING_CHARS to out (no NUL added). */
void pv_gen_string(pv_gen_rng *rng, char *out, size_t len);

/* ---- generators as values ---------------------------------------------- */

enum pv_gen_kind {
    PV_GEN_UNIFORM,
    PV_GEN_EXPONENTIAL,
    PV_GEN_GAUSSIAN,
    PV_GEN_ZIPFIAN,
    PV_GEN_STRING,
};

/* One generator: what a GENERATE header gives for one placeholder. */
struct pv_gen_spec {
    enum pv_gen_kind kind;
    int64_t lb, ub; /* integer kinds */
    double param;   /* exponential, gaussian, zipfian */
    size_t len;     /* string */
};

/* A row of the table of generator functions (one per spelling). */
struct pv_gen_func {
    const char *name; /* "random_zipfian", or the short "zipfian" */
    enum pv_gen_kind kind;
    int nargs; /* 2 (lb, ub), 3 (lb, ub, parameter) or 1 (length) */
};

/** The function spelled name[0, len), or NULL. The returned row is static. */
const struct pv_gen_func *pv_gen_func_lookup(const char *name, size_t len);
/** The canonical (pgbench) name of a kind, e.g. "random_zipfian"; static. */
const char *pv_gen_kind_name(enum pv_gen_kind kind);

/**
 * Checks g's arguments as pgbench does.
 * @return 0, or VOLLEY_EINPUT with err set to a message without a location
 *         ("random_gaussian parameter must be at least 2.0, not 1.5").
 */
int pv_gen_check(const struct pv_gen_spec *g, pv_err *err);
/** Most bytes pv_gen_append adds for g, its NUL included. */
size_t pv_gen_text_max(const struct pv_gen_spec *g);
/** Draws one value of a checked g and appends its text and a NUL to out. */
void pv_gen_append(const struct pv_gen_spec *g, pv_gen_rng *rng, pv_buf *out);
/** Appends g as written canonically, e.g. "random_zipfian(1, 1000, 1.07)". */
void pv_gen_describe(const struct pv_gen_spec *g, pv_buf *out);

#endif /* PV_GEN_H */
