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
 * Values drawn per execution. Instead of PARAMETERS, a file may give one
 * of these (at most one of PARAMETERS, GENERATE, PARAMETERS_FILE and
 * PARAMETERS_QUERY):
 *
 *   -- GENERATE: random(1, 100000), random_zipfian(1, 1000, 1.07), string(16)
 *
 *     one generator per placeholder, in order (their number must equal the
 *     placeholders'): random(lb, ub), random_exponential(lb, ub, p),
 *     random_gaussian(lb, ub, p), random_zipfian(lb, ub, p) - pgbench's
 *     functions, same semantics and limits (pv_gen.h), also spelled
 *     uniform, exponential, gaussian, zipfian - and string(n): n characters
 *     from [A-Za-z0-9]. lb, ub and n are integers, p a number.
 *     The scenario is named "generated".
 *
 *   -- PARAMETERS_FILE: customers.csv
 *   -- PARAMETERS_FILE: customers.csv (c_customer_sk, c_customer_id)
 *
 *     a CSV file (RFC 4180: comma-separated, fields with commas, quotes or
 *     line breaks in double quotes, "" for a quote; LF or CRLF line ends;
 *     UTF-8), relative to the workload file's directory, whose first row
 *     names the columns. Without a column list, every column maps to a
 *     placeholder in order (their numbers must be equal); with one, the
 *     named columns do (names as in the header row, exact match). An empty
 *     unquoted field is SQL NULL, a quoted empty field ("") the empty
 *     string; empty lines are skipped. At least one data row. The scenario
 *     is named "csv".
 *
 *   -- PARAMETERS_QUERY: SELECT c_customer_sk, c_customer_id FROM customer TABLESAMPLE SYSTEM (1)
 *
 *     a query run once before the run (by the caller, which connects:
 *     pv_scenario_sample_query, pv_workload_set_sample); its rows form the
 *     pool, as a CSV file's. Its columns map to the placeholders in order
 *     (their numbers must be equal); SQL NULL stays NULL; at least one row.
 *     The query is the rest of the comment line. The scenario is named
 *     "sampled"; params_json {"query":"SELECT ...","rows":N}.
 *
 *   Each execution draws its own values: fresh generated values, or one row
 *   of the file chosen uniformly at random (pv_scenario_draw), from the
 *   caller's PRNG, so a run is repeatable with its seed. Such a scenario is
 *   one scenario executed EXEC_COUNT times in count-based runs; its
 *   params_json says what was drawn from:
 *     {"generate":["random(1, 100000)","random_zipfian(1, 1000, 1.07)","string(16)"]}
 *     {"file":"customers.csv","columns":["c_customer_sk","c_customer_id"],"rows":1000}
 *
 * A file may hold a transaction: several statements run in order on one
 * connection, written between BEGIN (or START TRANSACTION) and COMMIT (or
 * END), or with a `-- TRANSACTION` header, for which pgvolley adds BEGIN
 * and COMMIT itself. `%s` placeholders count through the whole file (the
 * i-th `%s` takes the set's i-th value); `$n` keep the file's numbering, so
 * statements may share a value:
 *
 *   -- GENERATE: random(1, 100000), random(1, 10), random(1, 1), random(-5000, 5000)
 *   BEGIN;
 *   UPDATE pgbench_accounts SET abalance = abalance + $4 WHERE aid = $1;
 *   SELECT abalance FROM pgbench_accounts WHERE aid = $1;
 *   COMMIT;
 *
 * `-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000` gives thresholds of the
 * file's query (read here as text; report/pv_threshold.h parses them).
 *
 * `-- CONCURRENCY: N` (1..10000) and `-- DURATION: 5s` (also 500ms, 2m, or
 * bare seconds) are a suite's test settings (pgvolley suite); `run`
 * ignores them.
 *
 * `-- WEIGHT: N` (a number > 0) sets the file's share of the executions of
 * time-based runs (default: its number of parameter sets).
 *
 * Validation is complete before anything runs: every error names the file
 * and, where it applies, the line (and column) - the workload file's for a
 * header, the CSV file's for its content.
 */
#ifndef PV_WORKLOAD_H
#define PV_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "workload/pv_gen.h"

/** Limits and defaults used while reading files. */
struct pv_workload_opts {
    uint64_t default_exec_count; /* when a file has no EXEC_COUNT; 0 means 5 */
    uint64_t max_exec_count;     /* larger EXEC_COUNT is an error; 0 = 1e9 */
    size_t max_file_bytes;       /* 0 = 16 MiB */
    size_t max_line_bytes;       /* 0 = 1 MiB */
    int max_json_depth;          /* 0 = 32 */
};

/* Where a drawn scenario's values come from (generators or rows); opaque. */
struct pv_param_source;

struct pv_scenario {
    char *name; /* "scenario_1", ..., "generated", "csv" */
    int nparams;
    char **values;     /* nparams text values; NULL entry = SQL NULL; NULL when drawn */
    char *params_json; /* this parameter set as compact JSON ("[]" if none) */
    uint64_t exec_count;
    /* NULL: the fixed values above. Else the values are drawn per execution
       with pv_scenario_draw. Owned by the scenario. */
    struct pv_param_source *source;
};

/* One statement of a transaction, sent on its own. */
struct pv_step {
    char *sql; /* numbered $1..$nparams of its own */
    int nparams;
    int *map;   /* map[k]: the scenario value its $(k+1) takes (0-based) */
    bool added; /* BEGIN or COMMIT that pgvolley adds (-- TRANSACTION) */
};

struct pv_query {
    char *path;  /* the file as given/found, e.g. "examples/x.sql" */
    char *name;  /* basename, e.g. "x.sql" */
    char *sql;   /* the statement as sent (with $n), trailing ';'
                    and surrounding whitespace removed; a transaction's
                    statements joined with ";\n" (for reports) */
    int nparams; /* values of a parameter set (a transaction: of all its statements) */
    size_t nscenarios;
    struct pv_scenario *scenarios;
    uint64_t exec_count; /* EXEC_COUNT that applied */
    double weight;       /* -- WEIGHT: or FILE@N; 0 = not set (see pv_workload_weight) */
    /* A transaction (several statements, run in order on one connection):
       nsteps > 0 and steps; a single statement: nsteps 0, steps NULL. */
    int nsteps;
    struct pv_step *steps;
    /* -- TARGET: thresholds of this file's query (parsed by the report
       area's pv_threshold): the text after the colon, trimmed, and the
       1-based line and column where it starts; NULL when there is none */
    char *target;
    int target_line, target_col;
    /* A suite's test settings (docs/suite.md): -- CONCURRENCY: N (0 = not
       set) and -- DURATION: 5s (seconds; 0 = not set, count-based). `run`
       does not use them: its -c and -T apply to every file. */
    int concurrency;
    double duration_s;
    bool exec_count_set; /* the file has an EXEC_COUNT header */
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

/**
 * Sets the weight of queries [from, count): FILE@N on the command line (a
 * directory's files each get N). @return 0 or VOLLEY_EINVAL (weight not in
 * (0, 1e6]).
 */
int pv_workload_set_weight(pv_workload *w, size_t from, double weight);

/**
 * Keeps shard index (0-based) of count of the executions of a count-based
 * run: a scenario with n executions keeps floor((index + 1) * n / count) -
 * floor(index * n / count) of them, so the shards add up to n exactly (a
 * shard may keep none). @return 0 or VOLLEY_EINVAL (index not in [0, count)).
 */
int pv_workload_shard(pv_workload *w, int index, int count);

/** A query's share in time-based runs: its WEIGHT, else its scenario count
    (every parameter set as often as every other). */
double pv_workload_weight(const struct pv_query *q);

size_t pv_workload_count(const pv_workload *w);
/** The i-th query (0-based, in the order added); borrowed. */
const struct pv_query *pv_workload_query(const pv_workload *w, size_t i);
/** Sum over queries of nscenarios. */
size_t pv_workload_scenario_count(const pv_workload *w);
/** Sum over scenarios of exec_count. */
uint64_t pv_workload_total_executions(const pv_workload *w);

/* ---- drawing values ------------------------------------------------------- */

/** Whether s's values are drawn per execution (GENERATE, PARAMETERS_FILE). */
bool pv_scenario_is_drawn(const struct pv_scenario *s);

/**
 * The values of one execution of s: values_out[0, s->nparams) are set
 * (NULL = SQL NULL). Fixed values point into s; rows of a file point into
 * the workload; generated values are written to scratch (reset first).
 * Every pointer stays valid until the next draw into the same scratch, or
 * until the workload is destroyed. Draws from rng only if s is drawn.
 * @return 0, VOLLEY_ENOMEM (scratch could not grow; values_out unset) or
 *         VOLLEY_EINVAL (a PARAMETERS_QUERY without its rows: a caller's bug,
 *         which pv_workload_check_ready catches).
 */
int pv_scenario_draw(const struct pv_scenario *s, pv_gen_rng *rng, pv_buf *scratch,
                     const char **values_out);

/* What one thread needs to draw values: a PRNG and the scratch the values
   live in. On the caller's memory; one per thread, never shared. */
struct pv_scenario_scratch {
    pv_gen_rng rng;
    pv_buf text;
    const char **values; /* cap entries */
    int cap;
};

/** Seeds x's PRNG with (seed, stream) (pv_gen_seed); nothing is allocated yet. */
void pv_scenario_scratch_init(struct pv_scenario_scratch *x, uint64_t seed, uint64_t stream);
/** Frees what x grew; safe on a zeroed struct. */
void pv_scenario_scratch_fini(struct pv_scenario_scratch *x);
/**
 * *out = the values of one execution of s, for PQsendQueryParams: s->values
 * itself for a fixed scenario (NULL when it has no parameters), else values
 * drawn into x (valid until the next call with x).
 * @return 0, or as pv_scenario_draw (*out unset).
 */
int pv_scenario_values(const struct pv_scenario *s, struct pv_scenario_scratch *x,
                       const char *const **out);

/* ---- PARAMETERS_QUERY: rows sampled from the database ----------------------- */

/* A PARAMETERS_QUERY still to be run: its SQL and where the file gives it. */
struct pv_sample_query {
    const char *sql; /* borrowed from the scenario */
    const char *path;
    int line, col;
};

/** Whether s has a PARAMETERS_QUERY whose rows are not yet set; *out tells which. */
bool pv_scenario_sample_query(const struct pv_scenario *s, const struct pv_query *q,
                              struct pv_sample_query *out);

/**
 * Gives query qi's PARAMETERS_QUERY scenario its rows: nrows rows of ncols
 * cells, row-major (NULL = SQL NULL), copied.
 * @return 0, VOLLEY_EINPUT (ncols differs from the placeholders, or no row:
 *         err says "PATH:LINE:COL: what"), VOLLEY_EINVAL (qi has no such
 *         scenario, or it has its rows) or VOLLEY_ENOMEM.
 */
int pv_workload_set_sample(pv_workload *w, size_t qi, size_t nrows, int ncols,
                           const char *const *cells, pv_err *err);

/**
 * Whether every scenario can draw its values (every PARAMETERS_QUERY has
 * its rows). @return 0, or VOLLEY_EINVAL with err naming the file.
 */
int pv_workload_check_ready(const pv_workload *w, pv_err *err);

#endif /* PV_WORKLOAD_H */
