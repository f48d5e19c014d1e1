/*
 * pv_datasets.h - the datasets file of `pgvolley multi` and `pgvolley mcp`
 * (INI, read with libinih):
 *
 *   [sales]
 *   dsn = host=db1 dbname=sales user=reader     ; libpq conninfo, URI or service=...
 *   description = Orders and customers, 2019-2025
 *   max_rows = 1000              ; rows returned per query at most (then truncated)
 *   statement_timeout_ms = 60000 ; per query, enforced by the server
 *   max_concurrency = 10         ; queries of one batch running at once on this dataset
 *   pool_min = 2                 ; connections kept open
 *   pool_max = 10
 *   idle_lifetime_s = 300        ; idle connections above pool_min closed after this
 *   connect_timeout_s = 30
 *   max_bytes = 1048576          ; (mcp) bytes of rows per tool answer at most (then truncated)
 *   allow_schemas = sales, public ; queries may read tables of these schemas only
 *   allow_tables = sales.orders, customers ; ... and these tables only (see pv_guard.h)
 *   allow_tools = query_dataset, get_dataset_schema ; (mcp) tools that may use the dataset
 *
 * The lists are comma-separated; without the key nothing is restricted.
 * Unknown keys, a missing dsn, a duplicate section, a key outside any
 * section, a bad number or a section name that is not [A-Za-z0-9_.-]{1,63}
 * are errors naming the file and line. A DSN never appears in any output
 * (it may hold a password).
 */
#ifndef PV_DATASETS_H
#define PV_DATASETS_H

#include <stddef.h>

#include "common/pv_common.h"

struct pv_dataset {
    char *name;
    char *dsn;         /* secret: never print */
    char *description; /* "" when absent */
    int max_rows;
    int statement_timeout_ms;
    int max_concurrency;
    int pool_min;
    int pool_max;
    int idle_lifetime_s;
    int connect_timeout_s;
    int max_bytes;
    char **allow_schemas; /* NULL-terminated; NULL: every schema */
    char **allow_tables;  /* NULL-terminated ("table" or "schema.table"); NULL: every table */
    char **allow_tools;   /* NULL-terminated; NULL: every tool */
};

typedef struct pv_datasets pv_datasets;

/**
 * Reads a datasets file.
 * @return 0, VOLLEY_EINPUT ("PATH:LINE: message"), VOLLEY_EIO (cannot read;
 *         "PATH: reason") or VOLLEY_ENOMEM.
 */
int pv_datasets_load(const char *path, pv_datasets **out, pv_err *err);

/** The largest max_concurrency of pv_datasets_load (multi's and mcp's queries at once). */
#define PV_DATASETS_MAX_CONCURRENCY 100

/**
 * pv_datasets_load with max_concurrency allowed up to max_concurrency_max
 * instead (`pgvolley serve`'s targets: 1000, seed 000's range). Same returns.
 */
int pv_datasets_load_max(const char *path, int max_concurrency_max, pv_datasets **out, pv_err *err);

/** Parses text as if it were the file path (for tests). Same returns. */
int pv_datasets_parse(const char *path, const char *text, pv_datasets **out, pv_err *err);

/** One dataset called "default" with the given DSN and default limits. */
int pv_datasets_from_dsn(const char *dsn, pv_datasets **out, pv_err *err);

void pv_datasets_destroy(pv_datasets *d);
size_t pv_datasets_count(const pv_datasets *d);
/** i-th dataset in file order (0-based); borrowed. */
const struct pv_dataset *pv_datasets_get(const pv_datasets *d, size_t i);
/** By name (exact match), or NULL. */
const struct pv_dataset *pv_datasets_find(const pv_datasets *d, const char *name);
/** Index of a dataset by name, or -1. */
int pv_datasets_index(const pv_datasets *d, const char *name);

#endif /* PV_DATASETS_H */
