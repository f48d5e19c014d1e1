/*
 * pv_diag.h - the diagnosis of a test that missed its target: facts read
 * from the server, on connections of its own, read-only (docs/diagnosis.md).
 *
 * Two parts: a sampler that watches pg_stat_activity while the test runs
 * (wait events and lock waits of the other backends of the same database),
 * and pv_diag_gather, run after the test, which reads the plans, sequential
 * scans with their filter columns and the indexes that could serve them,
 * index usage, pg_stat_statements, the settings, and turns them into one-line
 * findings. Whatever cannot be read (no privilege, no extension, a timeout,
 * a statement that cannot be explained) becomes a note, never an error and
 * never a guess.
 *
 * Files: pv_diag.c (gather, the JSON object), pv_diag_plan.c (EXPLAIN and
 * the plan's findings), pv_diag_sampler.c (the sampler thread); their
 * shared internals are in pv_diag_int.h.
 */
#ifndef PV_DIAG_H
#define PV_DIAG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"

typedef struct pv_diag_sampler pv_diag_sampler;
typedef struct pv_diag pv_diag;

/* The sampler's interval when the caller passes 0 or less. */
#define PV_DIAG_SAMPLE_MS_DEFAULT 100

/**
 * Starts sampling pg_stat_activity (wait_event_type, wait_event and state of
 * the other client backends of the same database, and lock waits through
 * pg_blocking_pids) every interval_ms on its own connection and thread
 * (named pv-diag), until stopped. Connects blocking with the target's
 * keyword/value arrays (borrowed; only during the call).
 * @param interval_ms 0 or less: PV_DIAG_SAMPLE_MS_DEFAULT.
 * @param out the sampler, owned by the caller (pv_diag_sampler_destroy).
 * @param err libpq's message when the connect fails.
 * @return 0, VOLLEY_ECONNECT or VOLLEY_ENOMEM (nothing is left running).
 */
int pv_diag_sampler_start(const char *const *keywords, const char *const *values, int interval_ms,
                          pv_diag_sampler **out, pv_err *err);
/** Stops the thread (after the sample in flight, at most about 2 s) and
    closes its connection, keeping the aggregated samples; NULL-safe and
    idempotent. */
void pv_diag_sampler_stop(pv_diag_sampler *s);
/** Stops (if needed) and frees; NULL-safe. */
void pv_diag_sampler_destroy(pv_diag_sampler *s);

/* The sampler's counts so far (consistent with each other; safe while it runs).
   Identities: active_samples == sum of the wait counts (not waiting included);
   lock_waits <= active_samples. */
struct pv_diag_sampler_counts {
    uint64_t rounds;         /* pg_stat_activity was read this many times */
    uint64_t active_samples; /* backend rows in state 'active', over all rounds */
    uint64_t lock_waits;     /* ... of which pg_blocking_pids was not empty */
    uint64_t hidden_samples; /* rows of other users whose state was hidden */
    uint64_t failed_rounds;  /* reads that failed (error text: pv_diag_sampler_error) */
};
void pv_diag_sampler_counts(const pv_diag_sampler *s, struct pv_diag_sampler_counts *out);
/** The first error of a failed round, or NULL. Valid until destroy. */
const char *pv_diag_sampler_error(const pv_diag_sampler *s);

struct pv_diag_request {
    const char *const *statements; /* the test's statements in order (a transaction's
                                      BEGIN/COMMIT included: skipped here), $n as in
                                      the test (the n-th of param_values) or %s */
    size_t nstatements;
    const char *const *param_values; /* one example parameter set, text, for $1..$n
                                        (values the run actually used), or NULL */
    size_t nparams;
    const pv_diag_sampler *sampler; /* waits seen during the test, or NULL */
    double statement_timeout_s;     /* for each EXPLAIN (ANALYZE); 0 = 10 s */
};

/**
 * Gathers the facts for one test on its own blocking connection, read-only
 * (every transaction READ ONLY and rolled back, default_transaction_read_only
 * on for the session):
 *  - per statement, EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) only when
 *    pv_guard accepts it as read-only, with SET LOCAL statement_timeout; plain
 *    EXPLAIN (VERBOSE, FORMAT JSON) otherwise or when ANALYZE failed; the
 *    example parameters bound with PQexecParams;
 *  - sequential scans on large tables (pg_class.reltuples > 10,000 or
 *    relpages > 1,000), or whose filter discarded >= 1,000 rows and >= 90 %
 *    of those read, with their filter columns and whether a valid index
 *    leads with them (pg_index); index scans whose filter discarded as much;
 *    sorts and hashes spilled to disk; JIT time (pv_diag_int.h has the
 *    bounds, docs/diagnosis.md the rules);
 *  - index usage (pg_stat_user_indexes) of the tables the plans touch;
 *  - pg_stat_statements (by the plan's Query Identifier, else the text)
 *    when the extension is installed, else a note;
 *  - the settings shared_buffers, work_mem, effective_cache_size,
 *    random_page_cost, max_connections, jit, max_parallel_workers_per_gather;
 *  - the sampler's waits.
 * A failing step becomes a note; only a failed connect is an error.
 * @param req borrowed during the call (the sampler too: stop it first or not).
 * @param out the diagnosis, owned by the caller (pv_diag_destroy).
 * @return 0, VOLLEY_ECONNECT (err: libpq's message), VOLLEY_EINVAL (req NULL,
 *         or statements NULL with nstatements > 0) or VOLLEY_ENOMEM.
 */
int pv_diag_gather(const char *const *keywords, const char *const *values,
                   const struct pv_diag_request *req, pv_diag **out, pv_err *err);
void pv_diag_destroy(pv_diag *d);

/** The findings, one line each ("sequential scan on pgvolley_agents (about
    20,000 rows, 19,999 removed by the filter) filtered by name: no index
    leads with name; CREATE INDEX ON pgvolley_agents (name) would serve it").
    Borrowed from d. */
size_t pv_diag_nfindings(const pv_diag *d);
const char *pv_diag_finding(const pv_diag *d, size_t i);
/** The kind of finding i ("no_index", "seq_scan", "lock_wait", ...). Borrowed. */
const char *pv_diag_finding_kind(const pv_diag *d, size_t i);
/** The notes (what could not be read, and why). Borrowed from d. */
size_t pv_diag_nnotes(const pv_diag *d);
const char *pv_diag_note(const pv_diag *d, size_t i);

/** Appends the JSON object of contract 3, dumped as the report writer dumps
    its pieces (JSON_INDENT(2), depth 0), no trailing newline.
    @return 0 or VOLLEY_ENOMEM. */
int pv_diag_json(const pv_diag *d, pv_buf *out);
/** The same object as a jansson tree, borrowed from d (json_incref to keep). */
const json_t *pv_diag_json_tree(const pv_diag *d);

#endif /* PV_DIAG_H */
