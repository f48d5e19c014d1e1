/*
 * pv_workload.h - annotated SQL workload files (seed 000's format).
 *
 *   -- PARAMETERS: [[1, "AAAAAAAABAAAAAAA", 100], [2, "AAAAAAAACAAAAAAA", 50]]
 *   -- EXEC_COUNT: 40
 *   SELECT * FROM customer WHERE c_customer_sk = %s AND c_customer_id = %s LIMIT %s;
 *
 * Each parameter set is a scenario (scenario_1, scenario_2, ...) executed
 * EXEC_COUNT times (default 5, or the caller's default). A file without
 * PARAMETERS is one scenario without parameters. The header lines are SQL
 * comments found by the scanner (so they may appear anywhere a comment may);
 * each may appear at most once.
 *
 * Parameter values are bound as text, never spliced into SQL:
 *   JSON string  -> the string;   number -> its JSON text;
 *   true/false   -> "true"/"false";  null -> SQL NULL;
 *   array        -> a PostgreSQL array literal ({1,2,"a b"}), nested OK;
 *   object       -> its compact JSON text (for json/jsonb parameters).
 *
 * Validation is complete before anything runs: every error names the file
 * and, where it applies, the line (and column).
 */
#ifndef PV_WORKLOAD_H
#define PV_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/pv_common.h"

/** Limits and defaults used while reading files. */
struct pv_workload_opts {
    uint64_t default_exec_count; /* when a file has no EXEC_COUNT; 0 means 5 */
    uint64_t max_exec_count;     /* larger EXEC_COUNT is an error; 0 = 1e9 */
    size_t max_file_bytes;       /* 0 = 16 MiB */
    size_t max_line_bytes;       /* 0 = 1 MiB */
    int max_json_depth;          /* 0 = 32 */
};

struct pv_scenario {
    char *name; /* "scenario_1", ... */
    int nparams;
    char **values;     /* nparams text values; NULL entry = SQL NULL */
    char *params_json; /* this parameter set as compact JSON ("[]" if none) */
    uint64_t exec_count;
};

struct pv_query {
    char *path; /* the file as given/found, e.g. "examples/x.sql" */
    char *name; /* basename, e.g. "x.sql" */
    char *sql;  /* the statement as sent (with $n), trailing ';'
                   and surrounding whitespace removed */
    int nparams;
    size_t nscenarios;
    struct pv_scenario *scenarios;
    uint64_t exec_count; /* EXEC_COUNT that applied */
};

typedef struct pv_workload pv_workload;

/** @return 0 or VOLLEY_ENOMEM. opts may be NULL (all defaults); copied. */
int pv_workload_create(const struct pv_workload_opts *opts, pv_workload **out);
/** NULL is a no-op. */
void pv_workload_destroy(pv_workload *w);

/**
 * Adds a file, or every *.sql directly inside a directory (sorted by name).
 * A directory with no *.sql file is an error.
 * @return 0, VOLLEY_EINPUT (bad file: err says "PATH:LINE:COL: what"),
 *         VOLLEY_EIO (cannot read: err names the path) or VOLLEY_ENOMEM.
 *         On error, nothing from this path is added.
 */
int pv_workload_add_path(pv_workload *w, const char *path, pv_err *err);

/**
 * Parses one file's text (used by pv_workload_add_path and by tests).
 * @param path the name used in messages and in the query
 * @return as pv_workload_add_path.
 */
int pv_workload_add_text(pv_workload *w, const char *path, const char *text, size_t len,
                         pv_err *err);

size_t pv_workload_count(const pv_workload *w);
/** The i-th query (0-based, in the order added); borrowed. */
const struct pv_query *pv_workload_query(const pv_workload *w, size_t i);
/** Sum over queries of nscenarios. */
size_t pv_workload_scenario_count(const pv_workload *w);
/** Sum over scenarios of exec_count. */
uint64_t pv_workload_total_executions(const pv_workload *w);

#endif /* PV_WORKLOAD_H */
