/*
 * pv_batch.h - the parallel read-only batch executor behind `pgvolley
 * multi`, the MCP server and the public batch API.
 *
 * An engine owns one event-loop thread and one connection pool per dataset
 * (opened lazily, at most pool_max, kept down to pool_min after
 * idle_lifetime_s). A batch of N queries runs with at most max_concurrency
 * queries in flight overall (and at most the dataset's max_concurrency on
 * each dataset); each result is delivered as soon as it is ready and the
 * batch ends when all are.
 *
 * Every query, in order:
 *   1. pv_guard_check (refusal -> failed result, SQLSTATE 25006, reason);
 *   2. BEGIN READ ONLY + SET LOCAL statement_timeout (the dataset's);
 *   3. the query alone, in the extended protocol (one statement only), with
 *      its parameters bound, read in single-row mode: at most max_rows rows
 *      are kept, then the query is cancelled and the result marked truncated;
 *   4. ROLLBACK, always; then DISCARD ALL before the connection is reused.
 * A connection whose role is a superuser is refused (unless the engine was
 * created with allow_superuser) with SQLSTATE 42501 and the reason.
 */
#ifndef PV_BATCH_H
#define PV_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pv_common.h"
#include "guard/pv_guard.h"
#include "multi/pv_datasets.h"

struct pv_batch_opts {
    bool allow_superuser;
    struct pv_guard_opts guard;
};

typedef struct pv_batch_engine pv_batch_engine;

/**
 * Creates an engine and starts its loop thread. Connects to nothing yet.
 * @param ds borrowed; must outlive the engine.
 * @param opts NULL for defaults (superusers refused, deny-list guard).
 * @return 0, VOLLEY_ENOMEM or VOLLEY_EIO (thread could not start).
 */
int pv_batch_engine_create(const pv_datasets *ds, const struct pv_batch_opts *opts,
                           pv_batch_engine **out, pv_err *err);

/** Cancels what runs, closes every connection, joins the thread. NULL ok. */
void pv_batch_engine_destroy(pv_batch_engine *e);

struct pv_bquery {
    int dataset;       /* index into the datasets */
    const char *sql;   /* borrowed until the batch is done */
    const char *label; /* may be NULL */
    int nparams;
    const char *const *params; /* text values, NULL = SQL NULL */
    bool internal;             /* our own catalog query: the dataset's allow_schemas and
                                  allow_tables do not apply (the read-only guard does) */
    bool explain_analyze;      /* the guard accepts EXPLAIN ANALYZE of a SELECT
                                  (pv_guard_opts.explain_analyze) for this query */
};

struct pv_bresult {
    bool ok;
    char sqlstate[6]; /* failed: server's SQLSTATE or a client-side one */
    char *message;    /* failed: one line */
    int ncols;
    char **cols;    /* column names */
    char **types;   /* column type names (e.g. "int4", "text") */
    size_t nrows;   /* rows kept (<= max_rows) */
    char **cells;   /* nrows * ncols text values; NULL = SQL NULL */
    bool truncated; /* more rows existed than max_rows */
    double ms;      /* from the query's start (after a connection was
                       acquired) to its last row, in milliseconds */
};

/** Frees what a result owns and zeroes it. */
void pv_bresult_fini(struct pv_bresult *r);

struct pv_batch_callbacks {
    /* Called on the engine thread as each query finishes (may be NULL). */
    void (*on_result)(void *arg, size_t index, const struct pv_bresult *r);
    /* Called once on the engine thread when every query has finished. */
    void (*on_done)(void *arg);
    void *arg;
};

typedef struct pv_batch pv_batch;

/**
 * Starts a batch. results must have room for n and stays owned by the
 * caller (filled by the engine; read it after on_done or pv_batch_wait).
 * The queries' strings must stay valid until the batch is done.
 * @param max_concurrency queries in flight at most (>= 1).
 * @param out receives the handle for pv_batch_cancel/pv_batch_wait; or NULL
 *        for a detached batch, freed by the engine right after on_done.
 * @return 0 (callbacks will be called), VOLLEY_EINVAL (bad dataset index,
 *         n == 0) or VOLLEY_ENOMEM (callbacks never called).
 */
int pv_batch_submit(pv_batch_engine *e, const struct pv_bquery *q, size_t n, int max_concurrency,
                    struct pv_bresult *results, const struct pv_batch_callbacks *cb, pv_batch **out,
                    pv_err *err);

/** Stops a batch: queued queries fail with 57014 "cancelled", running ones
    are cancelled on the server. Thread-safe; any time before pv_batch_wait. */
void pv_batch_cancel(pv_batch *b);

/** Waits until the batch is done and frees the handle (not the results).
    Never call it from a callback (they run on the engine thread). */
void pv_batch_wait(pv_batch *b);

/** submit + wait. @return as pv_batch_submit. */
int pv_batch_run(pv_batch_engine *e, const struct pv_bquery *q, size_t n, int max_concurrency,
                 struct pv_bresult *results, pv_err *err);

/** The datasets the engine serves (borrowed). */
const pv_datasets *pv_batch_datasets(const pv_batch_engine *e);

#endif /* PV_BATCH_H */
