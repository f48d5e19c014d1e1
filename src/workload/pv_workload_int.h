/*
 * pv_workload_int.h - what the files of the workload reader share, and
 * nothing outside src/workload/pv_workload*.c may include: the workload and
 * file structs and the pv_workload__* functions one file calls in another.
 *
 *   pv_workload.c         the workload object (defaults, accessors) and one
 *                         file's text: content checks, then the steps below
 *   pv_workload_msg.c     error messages "PATH:LINE:COL: what", pv_sqlscan
 *                         errors relayed, the growth of arrays
 *   pv_workload_header.c  the header comments and the statement's extent
 *                         (one scanner pass), the statement, EXEC_COUNT
 *   pv_workload_json.c    the text of PARAMETERS: the bracket pre-scan,
 *                         compact copies, where a jansson error is
 *   pv_workload_values.c  one parameter value as the text that is bound
 *   pv_workload_params.c  PARAMETERS (or its absence) into scenarios
 *   pv_workload_files.c   reading files and directories (add_path)
 *   pv_workload_gen.c     GENERATE into a drawn scenario; drawing values
 *                         (pv_scenario_draw and the scratch)
 *   pv_workload_csv.c     PARAMETERS_FILE: the CSV file into a pool of rows
 *   pv_workload_sample.c  PARAMETERS_QUERY: the header, and the rows the
 *                         caller sampled into a pool (pv_workload_set_sample)
 *
 * A file is read in this order: content checks (size, NUL bytes, UTF-8,
 * line length), one pass of the PostgreSQL scanner to find the header
 * comments and the statement, pv_sqlscan on the statement (placeholders,
 * statement count), then EXEC_COUNT and PARAMETERS (or GENERATE, or
 * PARAMETERS_FILE and its CSV file). Every check happens before anything
 * runs.
 *
 * Errors: every function that takes a struct file and can fail returns 0
 * or a negative VOLLEY_E* code with f->err set ("PATH:LINE:COL: what").
 */
#ifndef PV_WORKLOAD_INT_H
#define PV_WORKLOAD_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_common.h"
#include "workload/pv_workload.h"

#define PV_WORKLOAD_DEFAULT_EXEC_COUNT     5
#define PV_WORKLOAD_DEFAULT_MAX_EXEC_COUNT 1000000000u
#define PV_WORKLOAD_DEFAULT_MAX_FILE_BYTES ((size_t)16 << 20)
#define PV_WORKLOAD_DEFAULT_MAX_LINE_BYTES ((size_t)1 << 20)
#define PV_WORKLOAD_DEFAULT_MAX_JSON_DEPTH 32
/* Bytes of user text quoted in a message. */
#define PV_WORKLOAD_QUOTE_MAX 40
/* A CSV file of PARAMETERS_FILE may be this large. */
#define PV_WORKLOAD_MAX_CSV_BYTES ((size_t)256 << 20)
/* The pre-scan and jansson disagree: a bug, not bad input (pv_workload__value_text). */
#define PV_WORKLOAD_OUT_OF_STEP 1
/* pv_workload__prescan_json: nesting goes beyond the depth limit. */
#define PV_WORKLOAD_TOO_DEEP 1

struct pv_workload {
    struct pv_workload_opts opts; /* zeros replaced by the defaults */
    struct pv_query **queries;    /* one allocation each: pointers stay valid */
    size_t nqueries;
    size_t cap;
};

/* One file being read. */
struct file {
    const pv_workload *w;
    const char *path;
    const char *text; /* len bytes; NUL-terminated once copied */
    size_t len;
    pv_err *err;
};

/* A header comment: -- PARAMETERS: ... or -- EXEC_COUNT: ... */
struct header {
    int found;
    size_t start;     /* the comment's first byte */
    size_t value;     /* first byte after the colon */
    size_t value_end; /* the comment's end */
};

/* Every header comment of a file. */
struct headers {
    struct header params, count, generate, file, query, weight, transaction, target;
    struct header concurrency, duration; /* a suite's test settings (docs/suite.md) */
};

/*
 * A drawn scenario's source: generators, or a pool of rows (from a CSV
 * file) of which each execution takes one at random.
 */
struct pv_param_source {
    int nparams;
    struct pv_gen_spec *gens; /* nparams generators; NULL for a pool */
    size_t nrows;             /* pool: rows (> 0) */
    char *text;               /* pool: every cell's text, each NUL-terminated */
    const char **cells;       /* pool: nrows * nparams pointers into text; NULL = SQL NULL */
    /* PARAMETERS_QUERY: its SQL and where it is; the pool is empty until
       pv_workload_set_sample fills it */
    char *query;
    int line, col;
};

/* ---- pv_workload.c ---- */

/* Frees a query and its scenarios; NULL is a no-op. */
void pv_workload__query_free(struct pv_query *q);
/* Size-independent checks of f's text: no NUL byte, valid UTF-8, lines up to the limit. */
int pv_workload__check_content(const struct file *f);

/* ---- pv_workload_msg.c ---- */

/* 1-based line and column (in characters) of byte offset off. */
void pv_workload__linecol(const char *text, size_t off, int *line, int *col);
/* Length of at most PV_WORKLOAD_QUOTE_MAX bytes of s[0, n) that does not split a character. */
int pv_workload__quote_len(const char *s, size_t n);
/* "" for 1, else "s". */
const char *pv_workload__plural(long n);
/*
 * Sets f->err and returns code: "PATH: message" (line <= 0), "PATH:LINE:
 * message" (col <= 0) or "PATH:LINE:COL: message".
 */
PV_PRINTF(5, 6)
int pv_workload__fail(const struct file *f, int code, int line, int col, const char *fmt, ...);
/* VOLLEY_EINPUT with "PATH:LINE:COL: message" for byte offset off of the file. */
PV_PRINTF(3, 4)
int pv_workload__fail_at(const struct file *f, size_t off, const char *fmt, ...);
/* VOLLEY_ENOMEM with "PATH: out of memory". */
int pv_workload__oom(const struct file *f);
/*
 * Relays a pv_sqlscan error ("line L, column C: what", relative to text
 * that starts at byte base of the file) as "PATH:LINE:COL: what".
 */
int pv_workload__relay_scan_error(const struct file *f, int rc, const pv_err *e, size_t base);
/*
 * Makes *p (an array of *cap elements of size bytes) hold at least need
 * elements, doubling from 16. @return 0 or VOLLEY_ENOMEM (*p unchanged).
 */
int pv_workload__grow(void **p, size_t *cap, size_t need, size_t size);

/* ---- pv_workload_header.c ---- */

/*
 * Scans f->text once: the header comments (each at most once) and the
 * statement's extent [*start, *end).
 */
int pv_workload__find_parts(const struct file *f, struct headers *h, size_t *start, size_t *end);
/* The statement f->text[start, end): q->sql (with $n, owned by q) and q->nparams; several
   statements: a transaction (q->steps), wrapped in BEGIN/COMMIT when wrap. */
int pv_workload__load_statement(const struct file *f, size_t start, size_t end, bool wrap,
                                struct pv_query *q);
/* The WEIGHT header's value: a number in (0, 1e6]. */
int pv_workload__parse_weight(const struct file *f, const struct header *h, double *out);

/* The EXEC_COUNT header's value: a positive integer up to opts.max_exec_count. */
/* -- TARGET: its text, trimmed, and where it starts, into q (checked by the report area). */
int pv_workload__load_target(const struct file *f, const struct header *h, struct pv_query *q);
int pv_workload__parse_exec_count(const struct file *f, const struct header *h, uint64_t *out);
/* -- CONCURRENCY: an integer in [1, 10000]; -- DURATION: 5s, 500ms, 2m, or seconds, in
   (0, 86400]: into q (a suite's test settings). */
int pv_workload__parse_concurrency(const struct file *f, const struct header *h, int *out);
int pv_workload__parse_duration(const struct file *f, const struct header *h, double *out);

/* ---- pv_workload_json.c ---- */

struct span {
    size_t start;
    size_t end;
};

enum item_kind { ITEM_NUMBER, ITEM_OBJECT };

struct item {
    enum item_kind kind;
    struct span at;
};

/* What the pre-scan found, in document order; free with pv_workload__prescan_fini. */
struct prescan {
    struct span *sets; /* the top-level array's elements */
    size_t nsets, capsets;
    struct item *items; /* numbers and objects not inside an object */
    size_t nitems, capitems;
};

void pv_workload__prescan_fini(struct prescan *ps);
/*
 * Returns 0, VOLLEY_ENOMEM, or PV_WORKLOAD_TOO_DEEP with *deep_at set where
 * nesting first goes beyond max_depth. Any input is safe; the spans are
 * right for valid JSON (jansson decides what is valid).
 */
int pv_workload__prescan_json(const char *j, size_t n, int max_depth, struct prescan *ps,
                              size_t *deep_at);
/* A malloc'd copy of JSON text without the whitespace outside strings, or NULL. */
char *pv_workload__compact_json(const char *j, size_t n);
/* The first offset from i on in j[0, n) that is not JSON whitespace. */
size_t pv_workload__skip_json_space(const char *j, size_t i, size_t n);
/* Where in j[0, n) a jansson error is. */
size_t pv_workload__json_error_offset(const char *j, size_t n, const json_error_t *je);

/* ---- pv_workload_values.c ---- */

/* Converting values walks the pre-scan's items in document order. */
struct conv {
    const char *json;
    const struct item *items;
    size_t nitems;
    size_t next;
};

/*
 * *out = the value as text (malloc'd; NULL for JSON null).
 * @return 0, VOLLEY_ENOMEM or PV_WORKLOAD_OUT_OF_STEP.
 */
int pv_workload__value_text(struct conv *cv, const json_t *v, char **out);

/* ---- pv_workload_params.c ---- */

/* Frees what a scenario holds (not the struct itself). */
void pv_workload__scenario_fini(struct pv_scenario *sc);
/* Validates the PARAMETERS header and fills q->scenarios. */
int pv_workload__load_params(const struct file *f, const struct header *h, struct pv_query *q);
/* No PARAMETERS header: one scenario without parameters (an error if q has placeholders). */
int pv_workload__no_params(const struct file *f, struct pv_query *q);
/*
 * q->scenarios = one scenario named name whose values come from src, with
 * params_json (NULL: out of memory). Both belong to q afterwards, whatever
 * the result.
 */
int pv_workload__drawn_scenario(const struct file *f, struct pv_query *q, const char *name,
                                struct pv_param_source *src, char *params_json);

/* ---- pv_workload_gen.c ---- */

/* Frees a source; NULL is a no-op. */
void pv_workload__source_free(struct pv_param_source *src);
/* Validates the GENERATE header and fills q->scenarios with one drawn scenario. */
int pv_workload__load_generate(const struct file *f, const struct header *h, struct pv_query *q);

/* ---- pv_workload_csv.c ---- */

/* Validates the PARAMETERS_FILE header, reads its CSV file, fills q->scenarios. */
int pv_workload__load_csv(const struct file *f, const struct header *h, struct pv_query *q);

/* ---- pv_workload_sample.c ---- */

/* Validates the PARAMETERS_QUERY header; q->scenarios = one scenario whose pool is still empty. */
int pv_workload__load_query(const struct file *f, const struct header *h, struct pv_query *q);

/* ---- pv_workload_files.c ---- */

/*
 * Reads a regular file of at most max bytes: *out (malloc'd, not
 * NUL-terminated) and *outlen. @return 0, VOLLEY_EIO, VOLLEY_EINPUT (not a
 * regular file, too large) or VOLLEY_ENOMEM, with err naming path.
 */
int pv_workload__read_file(const char *path, size_t max, char **out, size_t *outlen, pv_err *err);

#endif /* PV_WORKLOAD_INT_H */
