/*
 * volley.h - public API of libvolley, the engine behind pgvolley.
 *
 * Every public symbol starts with volley_. Functions that can fail return
 * an int: 0 on success or a negative VOLLEY_E* code; a human-readable detail
 * is written to a caller-supplied buffer where one is taken.
 */
#ifndef VOLLEY_H
#define VOLLEY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VOLLEY_BUILDING) && defined(__GNUC__)
#define VOLLEY_API __attribute__((visibility("default")))
#else
#define VOLLEY_API
#endif

/** Error codes returned by libvolley functions (always negative). */
enum volley_error {
    VOLLEY_OK = 0,
    VOLLEY_ENOMEM = -1,   /**< out of memory */
    VOLLEY_EINVAL = -2,   /**< invalid argument or configuration */
    VOLLEY_EINPUT = -3,   /**< malformed input (workload file, JSON, ...) */
    VOLLEY_EIO = -4,      /**< file or system call failed */
    VOLLEY_ECONNECT = -5, /**< cannot connect to the server */
    VOLLEY_ESERVER = -6,  /**< the throwaway server could not be started */
    VOLLEY_EINTR = -7,    /**< interrupted (Ctrl-C) */
    VOLLEY_ETIMEOUT = -8, /**< a deadline passed */
};

/**
 * @return the library version as "MAJOR.MINOR.PATCH"; static storage.
 */
VOLLEY_API const char *volley_version(void);

/**
 * @param code a VOLLEY_E* code
 * @return a short static description of the code ("out of memory", ...).
 */
VOLLEY_API const char *volley_strerror(int code);

/* ---- parallel read-only batches ----------------------------------------
 *
 * A client serves one or more datasets (a datasets file, or one DSN). A
 * batch hands it N queries and gets N results back, run concurrently. Every
 * query is read-only for real: checked by PostgreSQL's parser (one SELECT /
 * SHOW / EXPLAIN statement, no data-modifying CTE, no denied function), run
 * alone in a READ ONLY transaction that is always rolled back, with the
 * dataset's statement timeout and row cap. See examples/batch.c.
 */

/** A client: datasets, their connection pools and an event-loop thread. */
typedef struct volley_client volley_client;

/**
 * Opens a client on a datasets file (INI; see README) or on one DSN, which
 * becomes the dataset "default". Connects to nothing yet.
 * @param datasets_file the file, or NULL to use dsn
 * @param dsn libpq connection string or URI (used when datasets_file is NULL;
 *        NULL or "" means libpq's environment defaults)
 * @param allow_superuser nonzero to serve datasets through superuser roles
 * @param err receives a one-line message on failure (may be NULL)
 * @return 0, VOLLEY_EINPUT (bad file), VOLLEY_EIO or VOLLEY_ENOMEM.
 */
VOLLEY_API int volley_client_open(const char *datasets_file, const char *dsn, int allow_superuser,
                                  volley_client **out, char *err, size_t errlen);

/** Closes every connection and frees the client. NULL is a no-op. */
VOLLEY_API void volley_client_close(volley_client *c);

/** One query of a batch. Strings are borrowed until the call returns. */
struct volley_query {
    const char *dataset;       /**< dataset name; NULL = the only dataset */
    const char *sql;           /**< one read-only statement; $1.. for parameters */
    const char *label;         /**< shown in results; may be NULL */
    int nparams;               /**< number of parameters */
    const char *const *params; /**< text values; NULL entries are SQL NULL */
};

/** One result, owned by the caller; free with volley_results_free. */
struct volley_result {
    int ok;           /**< 1 when the query succeeded */
    char sqlstate[6]; /**< on failure: SQLSTATE (25006 = refused by the guard) */
    char *error;      /**< on failure: one-line message */
    int ncols;        /**< columns */
    char **columns;   /**< column names */
    size_t nrows;     /**< rows returned (at most the dataset's max_rows) */
    char **cells;     /**< nrows * ncols text values, row-major; NULL = SQL NULL */
    int truncated;    /**< 1 when the query had more rows than max_rows */
    double ms;        /**< time the query took, in milliseconds */
};

/**
 * Runs n queries at once (at most max_concurrency in flight) and waits.
 * A failing query never hides the others: each result says its own outcome.
 * @param results room for n results, filled in input order
 * @param on_result if not NULL, called as each query finishes (from the
 *        client's thread; do not call volley functions from it)
 * @return 0 (see each result), VOLLEY_EINVAL (unknown dataset, n == 0: no
 *         query ran; err says which) or VOLLEY_ENOMEM.
 */
VOLLEY_API int volley_batch_run(volley_client *c, const struct volley_query *queries, size_t n,
                                int max_concurrency, struct volley_result *results,
                                void (*on_result)(void *arg, size_t index,
                                                  const struct volley_result *r),
                                void *arg, char *err, size_t errlen);

/** Frees what n results own (not the array). */
VOLLEY_API void volley_results_free(struct volley_result *results, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* VOLLEY_H */
