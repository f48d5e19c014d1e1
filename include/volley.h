/*
 * volley.h - public API of libvolley, the engine behind pgvolley.
 *
 * Every public name starts with volley_ (functions, types) or VOLLEY_
 * (macros, error codes). Functions that can fail return an int: 0 on
 * success or one of the negative VOLLEY_E* codes listed in their comment; a
 * one-line detail is written to a caller-supplied buffer where one is taken.
 *
 * How this API grows without breaking callers built against an older
 * volley.h (the rules of Linux's clone3/openat2 and libbpf's "opts"):
 *
 * - Options are structs whose first field is `size_t size`, set by the
 *   caller to sizeof the struct as its volley.h declares it. Initialise them
 *   with volley_*_options_init (inline: it zeroes the whole struct, padding
 *   included, and sets size and the defaults), then set the fields you want.
 * - New fields are only ever appended, and each one's zero value is its
 *   default. The library reads a field only when the caller's size covers
 *   all of it: a caller built against an older volley.h (a smaller size)
 *   gets the defaults of the fields it does not know. A caller built against
 *   a newer volley.h (a larger size) is accepted when every byte beyond the
 *   struct this library knows is zero, and refused with VOLLEY_EINVAL when
 *   not (it asked for something this library cannot do). A size smaller
 *   than sizeof(size_t) (0: not set) or larger than 4096 is VOLLEY_EINVAL.
 * - Arrays of structs (the queries and results of a batch) are walked with
 *   the element size the caller's volley.h gave them, which the batch
 *   options carry (volley_batch_options_init sets it), so their structs may
 *   grow the same way. Each result records the size it was written with.
 * - Error codes and their values never change meaning; new ones take new
 *   values.
 */
#ifndef VOLLEY_H
#define VOLLEY_H

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VOLLEY_BUILDING) && defined(__GNUC__)
#define VOLLEY_API __attribute__((visibility("default")))
#else
#define VOLLEY_API
#endif

/**
 * Error codes of the public functions (0 or negative). Each function's
 * comment lists the ones it returns. -5 and -6 are used inside the library
 * and are never returned by a public function.
 */
enum volley_error {
    VOLLEY_OK = 0,      /**< success */
    VOLLEY_ENOMEM = -1, /**< out of memory; nothing was left half done */
    VOLLEY_EINVAL = -2, /**< an invalid argument: NULL where an object is needed, a bad
                             options size, an unknown dataset, no query, ... */
    VOLLEY_EINPUT = -3, /**< malformed input read from a file (the datasets file); the
                             detail is "PATH:LINE: message" */
    VOLLEY_EIO = -4,    /**< a file could not be read, or a thread could not be started */
};

/**
 * @return the library version as "MAJOR.MINOR.PATCH"; static storage.
 */
VOLLEY_API const char *volley_version(void);

/**
 * @param code a VOLLEY_E* code (or any int)
 * @return a short static English description ("out of memory", ...; "unknown
 *         error" for a value that is no code). Never NULL.
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

/** Options of volley_client_open. Initialise with volley_client_options_init. */
struct volley_client_options {
    size_t size;               /**< sizeof(struct volley_client_options) */
    int allow_superuser;       /**< nonzero: serve datasets whose role is a superuser (default 0:
                                    such a dataset's queries fail with SQLSTATE 42501) */
    const char *datasets_file; /**< a datasets file (INI; see README), or NULL (default) */
    const char *dsn;           /**< with no datasets_file: libpq connection string or URI of the one
                                    dataset, called "default"; NULL or "" (default) means libpq's
                                    environment defaults (PGHOST, PGDATABASE, ...) */
};

/** Zeroes *o (padding included) and sets its size and defaults. */
static inline void volley_client_options_init(struct volley_client_options *o)
{
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
}

/**
 * Opens a client. Connects to nothing yet (a connection failure shows up
 * in the results of a batch, SQLSTATE 08001). Strings are copied.
 * @param opts NULL for the defaults (one dataset from libpq's environment,
 *        superusers refused)
 * @param out receives the client; NULL on failure
 * @param err receives a one-line message on failure (may be NULL)
 * @return 0;
 *         VOLLEY_EINVAL: out is NULL, opts->size is wrong (see the top of this
 *         file), or both datasets_file and dsn are given;
 *         VOLLEY_EINPUT: the datasets file is malformed ("PATH:LINE: message");
 *         VOLLEY_EIO: the datasets file cannot be read, or the client's thread
 *         cannot start;
 *         VOLLEY_ENOMEM.
 */
VOLLEY_API int volley_client_open(const struct volley_client_options *opts, volley_client **out,
                                  char *err, size_t errlen);

/** Closes every connection and frees the client. NULL is a no-op. */
VOLLEY_API void volley_client_close(volley_client *c);

/**
 * One query of a batch. Strings are borrowed until volley_batch_run
 * returns. Build queries zeroed (designated initialisers or memset) so that
 * the fields of a later volley.h keep their defaults.
 */
struct volley_query {
    const char *dataset;       /**< dataset name; NULL = the only dataset */
    const char *sql;           /**< one read-only statement; $1.. for parameters */
    const char *label;         /**< yours to use; may be NULL */
    int nparams;               /**< number of parameters (>= 0) */
    const char *const *params; /**< nparams text values; NULL entries are SQL NULL */
};

/**
 * One result, written by volley_batch_run into the caller's array; what it
 * points to is owned by the caller: free it with volley_result_fini (or
 * volley_results_free for an array).
 */
struct volley_result {
    size_t size;      /**< set by the library: the element size it wrote (result_size) */
    int ok;           /**< 1 when the query succeeded */
    char sqlstate[6]; /**< on failure: SQLSTATE (25006 = refused by the read-only guard,
                           42501 = superuser refused, 57014 = statement timeout, 08001 =
                           cannot connect, ...; README "Error codes in reports") */
    char *error;      /**< on failure: one-line message; NULL on success */
    int ncols;        /**< columns (0 on failure) */
    int truncated;    /**< 1 when the query had more rows than the dataset's max_rows */
    char **columns;   /**< ncols column names */
    char **types;     /**< ncols column type names as PostgreSQL spells them in pg_type:
                           "int4", "int8", "text", "numeric", "timestamptz", "_int4" ... */
    size_t nrows;     /**< rows returned (at most the dataset's max_rows) */
    char **cells;     /**< nrows * ncols text values, row-major; NULL = SQL NULL */
    double ms;        /**< time the query took, in milliseconds */
};

/** Options of volley_batch_run. Initialise with volley_batch_options_init. */
struct volley_batch_options {
    size_t size;         /**< sizeof(struct volley_batch_options) */
    size_t query_size;   /**< sizeof(struct volley_query): the stride of queries (required) */
    size_t result_size;  /**< sizeof(struct volley_result): the stride of results (required) */
    int max_concurrency; /**< queries in flight at most; 0 (default) = 10, as `pgvolley
                              multi`; each dataset's own max_concurrency also applies */
    /** If not NULL, called once per query as it finishes, in completion order, with
        r == &results[index] already written. It runs on the client's thread: return
        quickly and call no volley_ function from it. Default NULL. */
    void (*on_result)(void *arg, size_t index, const struct volley_result *r);
    void *arg; /**< passed to on_result */
};

/** Zeroes *o (padding included) and sets its size, the element sizes and defaults. */
static inline void volley_batch_options_init(struct volley_batch_options *o)
{
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->query_size = sizeof(struct volley_query);
    o->result_size = sizeof(struct volley_result);
}

/**
 * Runs n queries at once and waits until all are done. A failing query
 * never hides the others: each result says its own outcome (ok, or
 * sqlstate and error).
 * @param queries n queries, opts->query_size bytes apart
 * @param opts required (it carries the element sizes)
 * @param results room for n results, opts->result_size bytes apart; on
 *        success every one is written, in input order, and must be freed
 * @param err receives a one-line message on failure (may be NULL)
 * @return 0 (see each result);
 *         VOLLEY_EINVAL: c, queries, opts or results is NULL, n is 0, an
 *         options or element size is wrong, max_concurrency < 0, or a query
 *         names an unknown dataset, names none while there are several, has
 *         no SQL, nparams < 0 or parameters missing, or sets a field this
 *         library does not know (err says which query);
 *         VOLLEY_ENOMEM.
 *         On failure no query ran and results is left as it was.
 */
VOLLEY_API int volley_batch_run(volley_client *c, const struct volley_query *queries, size_t n,
                                const struct volley_batch_options *opts,
                                struct volley_result *results, char *err, size_t errlen);

/** Frees what one result owns and zeroes it (its first r->size bytes). A zeroed
    result, and NULL, are no-ops. */
VOLLEY_API void volley_result_fini(struct volley_result *r);

/** Frees what n results own (not the array): volley_result_fini on each. */
static inline void volley_results_free(struct volley_result *results, size_t n)
{
    for (size_t i = 0; results && i < n; i++)
        volley_result_fini(&results[i]);
}

#ifdef __cplusplus
}
#endif

#endif /* VOLLEY_H */
