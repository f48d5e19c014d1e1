/*
 * pv_sqlscan.h - reads SQL text with PostgreSQL's own scanner (libpg_query)
 * to find parameter placeholders and count statements.
 *
 * `%s` placeholders (psycopg style) are recognised only outside string
 * literals ('..', E'..', U&'..', B'..', X'..'), quoted identifiers, comments
 * (-- and nested C-style) and dollar-quoted strings; they are rewritten to
 * $1..$n in order of appearance. A `%s` written directly after another
 * operator character (as in `a=%s`, which the scanner reads as the operator
 * `=%` followed by the identifier `s`) is recognised too. `%%` is not
 * special. SQL that already uses $1-style parameters is accepted as is; the
 * two styles cannot be mixed in one statement.
 */
#ifndef PV_SQLSCAN_H
#define PV_SQLSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pv_common.h"

struct pv_sqlscan {
    char *sql;        /* the SQL with %s rewritten to $n (malloc'ed; the
                         input unchanged when there was no %s) */
    int nparams;      /* %s count, or the highest $n used */
    int n_statements; /* statements found (0 = only comments/whitespace) */
    int percent_s;    /* 1 if %s placeholders were found, 0 for $n style */
};

/**
 * Scans sql (NUL-terminated).
 * @param out filled on success; free with pv_sqlscan_fini.
 * @param err on failure: a message like "line 3, column 8: unterminated
 *            quoted string" (line/column 1-based, relative to sql).
 * @return 0, VOLLEY_EINPUT (scanner error, mixed placeholder styles) or
 *         VOLLEY_ENOMEM.
 */
int pv_sqlscan_run(const char *sql, struct pv_sqlscan *out, pv_err *err);

/* One statement of a file, to be sent on its own (a transaction's step). */
struct pv_sqlstmt {
    char *sql;   /* without its ';', its placeholders numbered $1..$nparams */
    int nparams; /* values it takes */
    int *map;    /* map[k]: which value of the file's parameter set its $(k+1) is
                    (0-based); NULL when nparams is 0 */
};

/**
 * Splits sql into its statements, each with placeholders of its own: `%s`
 * are numbered through the whole file (the i-th `%s` of the file takes the
 * set's i-th value), `$n` keep the file's meaning (the set's n-th value, so
 * a statement may use $3 alone, and several statements the same $n); both
 * become $1..$k of the statement, in order of first appearance, with map.
 * Checks as pv_sqlscan_run (same errors).
 * @param out the statements (free with pv_sqlstmts_free); *nout their count
 *        (0 for only comments).
 * @return as pv_sqlscan_run.
 */
int pv_sqlscan_split(const char *sql, struct pv_sqlstmt **out, int *nout, pv_err *err);

/** Frees n statements from pv_sqlscan_split; NULL is fine. */
void pv_sqlstmts_free(struct pv_sqlstmt *s, int n);

/** Frees what pv_sqlscan_run allocated; safe on a zeroed struct. */
void pv_sqlscan_fini(struct pv_sqlscan *s);

#endif /* PV_SQLSCAN_H */
