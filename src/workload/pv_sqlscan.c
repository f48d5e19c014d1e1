/*
 * pv_sqlscan.c - finds %s / $n placeholders and counts statements with
 * libpg_query's copy of the PostgreSQL scanner, so that quoting, comments
 * and dollar quotes are understood exactly as the server understands them.
 */
#include "workload/pv_sqlscan.h"

#include <limits.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"

/* The protocol carries the parameter count in 16 bits. */
#define PV_MAX_PARAMS 65535

enum style { STYLE_NONE, STYLE_PERCENT, STYLE_DOLLAR };

/* Per-statement state; reset at every statement-ending ';'. */
struct stmt {
    int has_tokens;  /* a token other than a comment or ';' was seen */
    int nwords;      /* words (identifiers and keywords) seen so far */
    char words[4];   /* 'c','o','r','f','p' for the first four words, or 0 */
    int paren_depth; /* unclosed '(' */
    int begin_depth; /* unclosed BEGIN (ATOMIC) blocks in a function body */
    enum style style;
    int npercent;  /* %s seen, i.e. the last $n handed out */
    int max_param; /* highest $n written by the user */
};

/* ---- positions ------------------------------------------------------------ */

static int is_cont_byte(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* 1-based line and column (in characters) of byte offset off in sql. */
static void byte_linecol(const char *sql, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && sql[i]; i++) {
        if (sql[i] == '\n') {
            l++;
            c = 1;
        } else if (!is_cont_byte((unsigned char)sql[i])) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* libpg_query's cursorpos is a 1-based character (not byte) offset. */
static size_t char_to_byte(const char *sql, int cursorpos)
{
    size_t i = 0;
    int chars = 0;
    while (sql[i]) {
        if (!is_cont_byte((unsigned char)sql[i])) {
            if (chars == cursorpos - 1)
                return i;
            chars++;
        }
        i++;
    }
    return i;
}

/* ---- errors --------------------------------------------------------------- */

/*
 * The scanner's messages end in ` at or near "<rest of the text>"`, which may
 * span lines and run long; the position we prepend says the same thing.
 */
static int scanner_error(const char *sql, const PgQueryError *e, pv_err *err)
{
    char msg[256];
    const char *m = e->message ? e->message : "syntax error";
    size_t n = strlen(m);
    const char *near = strstr(m, " at or near \"");
    if (near)
        n = (size_t)(near - m);
    if (n >= sizeof(msg))
        n = sizeof(msg) - 1;
    memcpy(msg, m, n);
    msg[n] = '\0';
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    if (strcmp(msg, "out of memory") == 0)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    if (e->cursorpos <= 0)
        return pv_err_set(err, VOLLEY_EINPUT, "%s", msg);
    int line, col;
    byte_linecol(sql, char_to_byte(sql, e->cursorpos), &line, &col);
    return pv_err_set(err, VOLLEY_EINPUT, "line %d, column %d: %s", line, col, msg);
}

static int error_at(const char *sql, size_t off, pv_err *err, const char *what)
{
    int line, col;
    byte_linecol(sql, off, &line, &col);
    return pv_err_set(err, VOLLEY_EINPUT, "line %d, column %d: %s", line, col, what);
}

/* ---- statement boundaries ------------------------------------------------- */

/*
 * psql's heuristic (psqlscan.l) for SQL-standard function bodies: inside
 * CREATE [OR REPLACE] {FUNCTION|PROCEDURE} ... BEGIN ATOMIC ... END, the ';'
 * between BEGIN and the matching END do not end the statement.
 */
static void track_word(struct stmt *st, const PgQuery__ScanToken *t)
{
    char w = 0;
    switch (t->token) {
    case PG_QUERY__TOKEN__CREATE: w = 'c'; break;
    case PG_QUERY__TOKEN__OR: w = 'o'; break;
    case PG_QUERY__TOKEN__REPLACE: w = 'r'; break;
    case PG_QUERY__TOKEN__FUNCTION: w = 'f'; break;
    case PG_QUERY__TOKEN__PROCEDURE: w = 'p'; break;
    default: break;
    }
    if (st->nwords < (int)sizeof(st->words))
        st->words[st->nwords] = w;
    if (st->nwords < INT_MAX)
        st->nwords++;

    const char *c = st->words;
    int in_function = c[0] == 'c' && (c[1] == 'f' || c[1] == 'p' ||
                                      (c[1] == 'o' && c[2] == 'r' && (c[3] == 'f' || c[3] == 'p')));
    if (!in_function || st->paren_depth != 0)
        return;
    if (t->token == PG_QUERY__TOKEN__BEGIN_P)
        st->begin_depth++;
    else if (t->token == PG_QUERY__TOKEN__CASE && st->begin_depth > 0)
        st->begin_depth++;
    else if (t->token == PG_QUERY__TOKEN__END_P && st->begin_depth > 0)
        st->begin_depth--;
}

/* ---- placeholders --------------------------------------------------------- */

static int is_ident_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c >= 0x80;
}

/*
 * If tokens[i] ends in the '%' of a `%s`, returns the byte offset of that
 * '%', else -1. The scanner reads `%s` as '%' (or an operator ending in '%',
 * as in `=%s`) directly followed by the identifier `s`.
 */
static long percent_s_at(const char *sql, PgQuery__ScanToken **tokens, size_t ntokens, size_t i)
{
    const PgQuery__ScanToken *t = tokens[i];
    if (t->token != PG_QUERY__TOKEN__ASCII_37 && t->token != PG_QUERY__TOKEN__Op)
        return -1;
    if (i + 1 >= ntokens || t->end <= t->start || sql[t->end - 1] != '%')
        return -1;
    const PgQuery__ScanToken *next = tokens[i + 1];
    if (next->token != PG_QUERY__TOKEN__IDENT || next->start != t->end ||
        next->end != next->start + 1 || sql[next->start] != 's')
        return -1;
    return (long)t->end - 1;
}

/* The n of a PARAM token "$n"; -1 when it does not fit in an int. */
static long param_number(const char *sql, const PgQuery__ScanToken *t)
{
    long n = 0;
    for (int32_t i = t->start + 1; i < t->end; i++) {
        if (sql[i] < '0' || sql[i] > '9')
            break;
        n = n * 10 + (sql[i] - '0');
        if (n > INT_MAX)
            return -1;
    }
    return n;
}

static int set_style(const char *sql, struct stmt *st, enum style style, size_t off, pv_err *err)
{
    if (st->style != STYLE_NONE && st->style != style)
        return error_at(sql, off, err, "cannot mix %s and $n placeholders in one statement");
    st->style = style;
    return 0;
}

/* ---- the scan ------------------------------------------------------------- */

struct run {
    const char *sql;
    PgQuery__ScanToken **tokens;
    size_t ntokens;
    pv_buf out;     /* the rewritten SQL (split: of the statement being read) */
    size_t copied;  /* sql[0, copied) is in out */
    int nparams;    /* over all statements */
    int statements; /* statements ended so far */
    int percent_s;
    /* pv_sqlscan_split: each statement apart, numbered $1..$k of its own */
    bool split;
    struct pv_sqlstmt *stmts;
    int nstmts, capstmts;
    int percent_base; /* %s of the statements before this one */
    int *map;         /* this statement's map (local $k -> value index) */
    int nmap, capmap;
    enum style file_style; /* the first statement's style */
};

/* Split mode: the statements of one file share a placeholder style. */
static int file_style(struct run *r, enum style style, size_t off, pv_err *err)
{
    if (!r->split)
        return 0;
    if (r->file_style != STYLE_NONE && r->file_style != style)
        return error_at(r->sql, off, err,
                        "the statements of a file use one placeholder style: %s throughout, "
                        "or $n throughout");
    r->file_style = style;
    return 0;
}

/* Split mode: the statement read so far (in r->out) becomes stmts[n]. */
static int close_split_statement(struct run *r, const struct stmt *st)
{
    const char *t = pv_buf_str(&r->out);
    size_t b = 0, e = r->out.len;
    while (b < e && (t[b] == ' ' || t[b] == '\t' || t[b] == '\n' || t[b] == '\r'))
        b++;
    while (e > b && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\n' || t[e - 1] == '\r'))
        e--;
    if (st->has_tokens) {
        if (r->nstmts == r->capstmts) {
            int cap = r->capstmts ? 2 * r->capstmts : 4;
            struct pv_sqlstmt *ns = realloc(r->stmts, (size_t)cap * sizeof(*ns));
            if (!ns)
                return VOLLEY_ENOMEM;
            r->stmts = ns;
            r->capstmts = cap;
        }
        struct pv_sqlstmt *x = &r->stmts[r->nstmts];
        x->sql = strndup(t + b, e - b);
        x->nparams = r->nmap;
        x->map = r->map;
        r->map = NULL;
        r->nmap = r->capmap = 0;
        r->nstmts++;
        if (!x->sql)
            return VOLLEY_ENOMEM;
    }
    pv_buf_reset(&r->out);
    pv_buf_append(&r->out, "", 0);
    return pv_buf_ok(&r->out);
}

/* Split mode: the local number of value index v in this statement (added). */
static int local_param(struct run *r, int v)
{
    for (int k = 0; k < r->nmap; k++)
        if (r->map[k] == v)
            return k + 1;
    if (r->nmap == r->capmap) {
        int cap = r->capmap ? 2 * r->capmap : 8;
        int *nm = realloc(r->map, (size_t)cap * sizeof(*nm));
        if (!nm)
            return -1;
        r->map = nm;
        r->capmap = cap;
    }
    r->map[r->nmap++] = v;
    return r->nmap;
}

static void end_statement(struct run *r, struct stmt *st)
{
    if (st->has_tokens)
        r->statements++;
    int n = st->style == STYLE_PERCENT ? st->npercent : st->max_param;
    r->nparams = PV_MAX(r->nparams, n);
    if (r->split && st->style == STYLE_PERCENT)
        r->percent_base += st->npercent;
    memset(st, 0, sizeof(*st));
}

static int rewrite_percent_s(struct run *r, struct stmt *st, size_t pct, size_t end, pv_err *err)
{
    int rc = set_style(r->sql, st, STYLE_PERCENT, pct, err);
    if (rc == 0)
        rc = file_style(r, STYLE_PERCENT, pct, err);
    if (rc != 0)
        return rc;
    if (st->npercent >= PV_MAX_PARAMS)
        return error_at(r->sql, pct, err, "more than 65535 placeholders");
    st->npercent++;
    r->percent_s = 1;
    pv_buf_append(&r->out, r->sql + r->copied, pct - r->copied);
    /* `x%s` must not become the identifier `x$1`. */
    if (pct > 0 && is_ident_byte((unsigned char)r->sql[pct - 1]))
        pv_buf_putc(&r->out, ' ');
    int k = st->npercent;
    if (r->split && (k = local_param(r, r->percent_base + st->npercent - 1)) < 0)
        return VOLLEY_ENOMEM;
    pv_buf_printf(&r->out, "$%d", k);
    r->copied = end;
    return 0;
}

static int check_param(struct run *r, struct stmt *st, const PgQuery__ScanToken *t, pv_err *err)
{
    int rc = set_style(r->sql, st, STYLE_DOLLAR, (size_t)t->start, err);
    if (rc == 0)
        rc = file_style(r, STYLE_DOLLAR, (size_t)t->start, err);
    if (rc != 0)
        return rc;
    long n = param_number(r->sql, t);
    if (n == 0)
        return error_at(r->sql, (size_t)t->start, err,
                        "$0 is not a valid parameter (parameters start at $1)");
    if (n < 0 || n > PV_MAX_PARAMS)
        return error_at(r->sql, (size_t)t->start, err,
                        "parameter number out of range (at most $65535)");
    st->max_param = PV_MAX(st->max_param, (int)n);
    if (r->split) { /* $n of the file becomes $k of this statement */
        int k = local_param(r, (int)n - 1);
        if (k < 0)
            return VOLLEY_ENOMEM;
        pv_buf_append(&r->out, r->sql + r->copied, (size_t)t->start - r->copied);
        pv_buf_printf(&r->out, "$%d", k);
        r->copied = (size_t)t->end;
    }
    return 0;
}

static int walk_tokens(struct run *r, pv_err *err)
{
    struct stmt st;
    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < r->ntokens; i++) {
        const PgQuery__ScanToken *t = r->tokens[i];
        int rc = 0;
        switch (t->token) {
        case PG_QUERY__TOKEN__SQL_COMMENT:
        case PG_QUERY__TOKEN__C_COMMENT: continue;
        case PG_QUERY__TOKEN__ASCII_59:
            if (st.paren_depth == 0 && st.begin_depth == 0) {
                if (r->split) {
                    pv_buf_append(&r->out, r->sql + r->copied, (size_t)t->start - r->copied);
                    r->copied = (size_t)t->end;
                    rc = close_split_statement(r, &st);
                    if (rc != 0)
                        return rc;
                }
                end_statement(r, &st);
                continue;
            }
            break;
        case PG_QUERY__TOKEN__ASCII_40: st.paren_depth++; break;
        case PG_QUERY__TOKEN__ASCII_41:
            if (st.paren_depth > 0)
                st.paren_depth--;
            break;
        case PG_QUERY__TOKEN__PARAM: rc = check_param(r, &st, t, err); break;
        default: {
            long pct = percent_s_at(r->sql, r->tokens, r->ntokens, i);
            if (pct >= 0) {
                rc = rewrite_percent_s(r, &st, (size_t)pct, (size_t)r->tokens[i + 1]->end, err);
                i++; /* the `s` */
            } else if (t->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD ||
                       t->token == PG_QUERY__TOKEN__IDENT) {
                track_word(&st, t);
            }
        }
        }
        if (rc != 0)
            return rc;
        st.has_tokens = 1;
    }
    pv_buf_append(&r->out, r->sql + r->copied, strlen(r->sql + r->copied));
    r->copied += strlen(r->sql + r->copied);
    if (r->split) {
        int rc = close_split_statement(r, &st);
        if (rc != 0)
            return rc;
    }
    end_statement(r, &st);
    return pv_buf_ok(&r->out);
}

int pv_sqlscan_run(const char *sql, struct pv_sqlscan *out, pv_err *err)
{
    memset(out, 0, sizeof(*out));
    if (strlen(sql) > INT32_MAX)
        return pv_err_set(err, VOLLEY_EINPUT, "SQL text longer than 2 GiB");

    PgQueryScanResult res = pg_query_scan(sql);
    if (res.error) {
        int rc = scanner_error(sql, res.error, err);
        pg_query_free_scan_result(res);
        return rc;
    }
    PgQuery__ScanResult *scan =
        pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
    pg_query_free_scan_result(res);
    if (!scan)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");

    struct run r = {.sql = sql, .tokens = scan->tokens, .ntokens = scan->n_tokens};
    pv_buf_init(&r.out);
    pv_buf_append(&r.out, "", 0); /* so that r.out.data is never NULL */
    int rc = walk_tokens(&r, err);
    pg_query__scan_result__free_unpacked(scan, NULL);
    if (rc != 0) {
        pv_buf_fini(&r.out);
        if (rc == VOLLEY_ENOMEM)
            return pv_err_set(err, rc, "out of memory");
        return rc;
    }
    out->sql = r.out.data; /* ownership moves to out */
    out->nparams = r.nparams;
    out->n_statements = r.statements;
    out->percent_s = r.percent_s;
    return 0;
}

int pv_sqlscan_split(const char *sql, struct pv_sqlstmt **out, int *nout, pv_err *err)
{
    *out = NULL;
    *nout = 0;
    struct pv_sqlscan whole;
    int rc = pv_sqlscan_run(sql, &whole, err); /* the checks and their messages */
    if (rc != 0)
        return rc;
    pv_sqlscan_fini(&whole);

    PgQueryScanResult res = pg_query_scan(sql);
    PgQuery__ScanResult *scan =
        res.error
            ? NULL
            : pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
    pg_query_free_scan_result(res);
    if (!scan)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    struct run r = {.sql = sql, .tokens = scan->tokens, .ntokens = scan->n_tokens, .split = true};
    pv_buf_init(&r.out);
    pv_buf_append(&r.out, "", 0);
    rc = walk_tokens(&r, err);
    pg_query__scan_result__free_unpacked(scan, NULL);
    pv_buf_fini(&r.out);
    free(r.map);
    if (rc != 0) {
        pv_sqlstmts_free(r.stmts, r.nstmts);
        return rc == VOLLEY_ENOMEM ? pv_err_set(err, rc, "out of memory") : rc;
    }
    *out = r.stmts;
    *nout = r.nstmts;
    return 0;
}

void pv_sqlstmts_free(struct pv_sqlstmt *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        free(s[i].sql);
        free(s[i].map);
    }
    free(s);
}

void pv_sqlscan_fini(struct pv_sqlscan *s)
{
    if (!s)
        return;
    free(s->sql);
    memset(s, 0, sizeof(*s));
}
