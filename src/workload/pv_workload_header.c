/*
 * pv_workload_header.c - one pass of the PostgreSQL scanner over a workload
 * file: the header comments (PARAMETERS, EXEC_COUNT, GENERATE,
 * PARAMETERS_FILE, PARAMETERS_QUERY, WEIGHT, TRANSACTION, TARGET, CONCURRENCY,
 * DURATION) and the statement's
 * extent; then the statement through pv_sqlscan, and EXEC_COUNT's value.
 */
#include <inttypes.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "workload/pv_sqlscan.h"
#include "workload/pv_workload_int.h"

/* ---- the statement and the header comments -------------------------------- */

static int scan_file(const struct file *f, PgQuery__ScanResult **out)
{
    if (f->len > INT32_MAX)
        return pv_workload__fail(f, VOLLEY_EINPUT, 0, 0, "file too large for the SQL scanner");
    PgQueryScanResult res = pg_query_scan(f->text);
    if (res.error) {
        pg_query_free_scan_result(res);
        /* Scan again through pv_sqlscan, which words the error. */
        struct pv_sqlscan s;
        pv_err e;
        int rc = pv_sqlscan_run(f->text, &s, &e);
        pv_sqlscan_fini(&s);
        if (rc == 0)
            return pv_workload__fail(f, VOLLEY_EINPUT, 0, 0, "the SQL scanner failed");
        return pv_workload__relay_scan_error(f, rc, &e, 0);
    }
    *out = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
    pg_query_free_scan_result(res);
    return *out ? 0 : pv_workload__oom(f);
}

/* The header comments: the text after "-- ", and where each is noted. */
static const struct header_def {
    const char *name; /* as in messages; followed by ':' and a value, but TRANSACTION */
    size_t field;     /* offset of its struct header in struct headers */
} header_defs[] = {
    {"PARAMETERS", offsetof(struct headers, params)},
    {"EXEC_COUNT", offsetof(struct headers, count)},
    {"GENERATE", offsetof(struct headers, generate)},
    {"PARAMETERS_FILE", offsetof(struct headers, file)},
    {"PARAMETERS_QUERY", offsetof(struct headers, query)},
    {"WEIGHT", offsetof(struct headers, weight)},
    {"TRANSACTION", offsetof(struct headers, transaction)}, /* alone on its line */
    {"TARGET", offsetof(struct headers, target)},
    {"CONCURRENCY", offsetof(struct headers, concurrency)},
    {"DURATION", offsetof(struct headers, duration)},
};

/* Which header a `--` comment is (NULL: none); *value is the offset after
   the colon (for TRANSACTION, the end of the word). */
static const struct header_def *header_kind(const char *tok, size_t len, size_t *value)
{
    size_t p = 2; /* "--" */
    while (p < len && (tok[p] == ' ' || tok[p] == '\t'))
        p++;
    size_t e = len;
    while (e > p && (tok[e - 1] == ' ' || tok[e - 1] == '\t' || tok[e - 1] == '\r'))
        e--;
    for (size_t k = 0; k < PV_ARRAY_LEN(header_defs); k++) {
        const struct header_def *d = &header_defs[k];
        size_t n = strlen(d->name);
        if (e - p < n || memcmp(tok + p, d->name, n) != 0)
            continue;
        if (d->field == offsetof(struct headers, transaction)) {
            if (e - p != n)
                continue;
            *value = e;
            return d;
        }
        if (len - p > n && tok[p + n] == ':') {
            *value = p + n + 1;
            return d;
        }
    }
    return NULL;
}

static int note_header(const struct file *f, struct header *h, const char *what,
                       const PgQuery__ScanToken *t, size_t value)
{
    if (h->found) {
        int first, col;
        pv_workload__linecol(f->text, h->start, &first, &col);
        return pv_workload__fail_at(f, (size_t)t->start, "second %s line (the first is on line %d)",
                                    what, first);
    }
    h->found = 1;
    h->start = (size_t)t->start;
    h->value = (size_t)t->start + value;
    h->value_end = (size_t)t->end;
    return 0;
}

static int is_sql_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Finds the header comments and the statement's extent [*start, *end): from
 * its first token to its last one that is not ';', comments inside kept.
 * Block comments directly before the statement are kept too, because
 * planner hints for pg_hint_plan must open the query.
 */
static int find_parts(const struct file *f, const PgQuery__ScanResult *scan, struct headers *h,
                      size_t *start, size_t *end)
{
    PgQuery__ScanToken **tok = scan->tokens;
    size_t n = scan->n_tokens, first = SIZE_MAX, last = 0;
    for (size_t i = 0; i < n; i++) {
        const PgQuery__ScanToken *t = tok[i];
        if (t->token == PG_QUERY__TOKEN__SQL_COMMENT) {
            size_t value;
            const struct header_def *d =
                header_kind(f->text + t->start, (size_t)(t->end - t->start), &value);
            int rc =
                d ? note_header(f, (struct header *)((char *)h + d->field), d->name, t, value) : 0;
            if (rc != 0)
                return rc;
            continue;
        }
        if (t->token == PG_QUERY__TOKEN__C_COMMENT || t->token == PG_QUERY__TOKEN__ASCII_59)
            continue;
        if (first == SIZE_MAX)
            first = i;
        last = i;
    }
    if (first == SIZE_MAX)
        return pv_workload__fail(f, VOLLEY_EINPUT, 0, 0, "no SQL statement");

    while (first > 0 && tok[first - 1]->token == PG_QUERY__TOKEN__C_COMMENT)
        first--;
    *start = (size_t)tok[first]->start;
    /*
     * libpg_query reports wrong ends for U&'...' and U&"..." tokens; only
     * whitespace lies between tokens, so the next token's start is safer.
     */
    size_t e = last + 1 < n ? (size_t)tok[last + 1]->start : f->len;
    while (e > (size_t)tok[last]->end && is_sql_space(f->text[e - 1]))
        e--;
    *end = e;
    return 0;
}

/* At most one of the headers that give parameter values. */
static int one_source(const struct file *f, const struct headers *h)
{
    const struct {
        const struct header *h;
        const char *name;
    } src[] = {
        {&h->params, "PARAMETERS"},
        {&h->generate, "GENERATE"},
        {&h->file, "PARAMETERS_FILE"},
        {&h->query, "PARAMETERS_QUERY"},
    };
    int first = -1;
    for (int i = 0; i < (int)PV_ARRAY_LEN(src); i++) {
        if (!src[i].h->found)
            continue;
        if (first < 0 || src[i].h->start < src[first].h->start)
            first = i;
    }
    for (int i = 0; i < (int)PV_ARRAY_LEN(src); i++) {
        if (!src[i].h->found || i == first)
            continue;
        int line, col;
        pv_workload__linecol(f->text, src[first].h->start, &line, &col);
        return pv_workload__fail_at(f, src[i].h->start,
                                    "%s and %s (line %d) both give the parameter values; a file "
                                    "has at most one of PARAMETERS, GENERATE, PARAMETERS_FILE and "
                                    "PARAMETERS_QUERY",
                                    src[i].name, src[first].name, line);
    }
    return 0;
}

int pv_workload__find_parts(const struct file *f, struct headers *h, size_t *start, size_t *end)
{
    PgQuery__ScanResult *scan = NULL;
    int rc = scan_file(f, &scan);
    if (rc != 0)
        return rc;
    rc = find_parts(f, scan, h, start, end);
    pg_query__scan_result__free_unpacked(scan, NULL);
    return rc != 0 ? rc : one_source(f, h);
}

/* ---- the statement -------------------------------------------------------- */

/* The first word of a statement (comments and white space skipped), upper-cased. */
static void first_word(const char *sql, char *out, size_t cap)
{
    const char *p = sql;
    for (;;) {
        while (is_sql_space(*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p = strchr(p, '\n');
            if (!p)
                p = "";
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : "";
            continue;
        }
        break;
    }
    size_t n = 0;
    while (n + 1 < cap && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        out[n++] = (char)(*p >= 'a' ? *p - 32 : *p);
        p++;
    }
    out[n] = '\0';
}

static bool opens_transaction(const char *sql)
{
    char w[16];
    first_word(sql, w, sizeof(w));
    return strcmp(w, "BEGIN") == 0 || strcmp(w, "START") == 0;
}

static bool ends_transaction(const char *sql)
{
    char w[16];
    first_word(sql, w, sizeof(w));
    return strcmp(w, "COMMIT") == 0 || strcmp(w, "END") == 0 || strcmp(w, "ROLLBACK") == 0;
}

/* stmts (taken) become q's steps, with BEGIN and COMMIT added when wrap. */
static int make_steps(const struct file *f, struct pv_sqlstmt *stmts, int n, bool wrap,
                      struct pv_query *q)
{
    int total = n + (wrap ? 2 : 0);
    q->steps = calloc((size_t)total, sizeof(*q->steps));
    if (!q->steps) {
        pv_sqlstmts_free(stmts, n);
        return pv_workload__oom(f);
    }
    int k = 0;
    if (wrap) {
        q->steps[k].sql = strdup("BEGIN");
        q->steps[k++].added = true;
    }
    for (int i = 0; i < n; i++, k++) {
        q->steps[k].sql = stmts[i].sql;
        q->steps[k].nparams = stmts[i].nparams;
        q->steps[k].map = stmts[i].map;
        for (int j = 0; j < stmts[i].nparams; j++)
            q->nparams = PV_MAX(q->nparams, stmts[i].map[j] + 1);
    }
    free(stmts); /* the strings and maps moved to the steps */
    if (wrap) {
        q->steps[k].sql = strdup("COMMIT");
        q->steps[k++].added = true;
    }
    q->nsteps = total;
    pv_buf all = PV_BUF_INIT;
    for (int i = 0; i < total; i++) {
        if (!q->steps[i].sql) {
            pv_buf_fini(&all);
            return pv_workload__oom(f);
        }
        pv_buf_printf(&all, "%s%s", i ? ";\n" : "", q->steps[i].sql);
    }
    if (pv_buf_ok(&all) != 0) {
        pv_buf_fini(&all);
        return pv_workload__oom(f);
    }
    q->sql = all.data; /* ownership moves to q */
    return 0;
}

/*
 * The statement: its SQL with $n and its placeholder count. Several
 * statements are a transaction: written between BEGIN and COMMIT, or
 * wrapped in them by pgvolley (wrap: the -- TRANSACTION header).
 */
int pv_workload__load_statement(const struct file *f, size_t start, size_t end, bool wrap,
                                struct pv_query *q)
{
    char *slice = strndup(f->text + start, end - start);
    if (!slice)
        return pv_workload__oom(f);
    struct pv_sqlscan s;
    pv_err e;
    int rc = pv_sqlscan_run(slice, &s, &e);
    if (rc != 0) {
        free(slice);
        return pv_workload__relay_scan_error(f, rc, &e, start);
    }
    if (s.n_statements == 1 && !wrap) {
        free(slice);
        q->sql = s.sql; /* ownership moves to q */
        q->nparams = s.nparams;
        return 0;
    }
    pv_sqlscan_fini(&s);
    struct pv_sqlstmt *st = NULL;
    int n = 0;
    rc = pv_sqlscan_split(slice, &st, &n, &e);
    free(slice);
    if (rc != 0)
        return pv_workload__relay_scan_error(f, rc, &e, start);
    const char *why = NULL;
    if (wrap && n > 0 && (opens_transaction(st[0].sql) || ends_transaction(st[n - 1].sql)))
        why = "-- TRANSACTION and a BEGIN or COMMIT of the file's own; keep one of the two";
    else if (!wrap && !(n >= 2 && opens_transaction(st[0].sql) && ends_transaction(st[n - 1].sql)))
        why = "a workload file holds one statement, or a transaction: its statements between "
              "BEGIN and COMMIT, or marked with -- TRANSACTION";
    if (why) {
        pv_sqlstmts_free(st, n);
        return pv_workload__fail(f, VOLLEY_EINPUT, 0, 0, "%d statements; %s", n, why);
    }
    return make_steps(f, st, n, wrap, q);
}

/* A header's value without the blanks around it: [*s, *e) of f->text. */
static void value_trimmed(const struct file *f, const struct header *h, size_t *s, size_t *e)
{
    const char *t = f->text;
    *s = h->value;
    *e = h->value_end;
    while (*s < *e && (t[*s] == ' ' || t[*s] == '\t'))
        (*s)++;
    while (*e > *s && (t[*e - 1] == ' ' || t[*e - 1] == '\t' || t[*e - 1] == '\r'))
        (*e)--;
}

/* ---- WEIGHT --------------------------------------------------------------- */

int pv_workload__parse_weight(const struct file *f, const struct header *h, double *out)
{
    const char *t = f->text;
    size_t s, e;
    value_trimmed(f, h, &s, &e);
    char buf[32];
    int q = pv_workload__quote_len(t + s, e - s);
    if (e - s == 0 || e - s >= sizeof(buf) || strspn(t + s, "0123456789.") < e - s)
        return pv_workload__fail_at(f, s, "WEIGHT must be a number above 0, not \"%.*s\"", q,
                                    t + s);
    memcpy(buf, t + s, e - s);
    buf[e - s] = '\0';
    char *stop;
    double v = strtod(buf, &stop);
    if (*stop || !(v > 0) || v > 1e6)
        return pv_workload__fail_at(f, s,
                                    "WEIGHT must be a number above 0 and at most 1000000, "
                                    "not \"%s\"",
                                    buf);
    *out = v;
    return 0;
}

/* ---- EXEC_COUNT ----------------------------------------------------------- */

int pv_workload__parse_exec_count(const struct file *f, const struct header *h, uint64_t *out)
{
    const char *t = f->text;
    size_t s = h->value, e = h->value_end;
    while (s < e && (t[s] == ' ' || t[s] == '\t'))
        s++;
    while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\t'))
        e--;
    int ok = e > s;
    for (size_t i = s; i < e; i++) {
        if (t[i] < '0' || t[i] > '9')
            ok = 0;
    }
    int q = pv_workload__quote_len(t + s, e - s);
    const char *more = (size_t)q < e - s ? "..." : "";
    if (!ok)
        return pv_workload__fail_at(f, s, "EXEC_COUNT must be a positive integer, not \"%.*s%s\"",
                                    q, t + s, more);
    uint64_t max = f->w->opts.max_exec_count, v = 0;
    for (size_t i = s; i < e; i++) {
        unsigned d = (unsigned)(t[i] - '0');
        if (max < d || v > (max - d) / 10)
            return pv_workload__fail_at(f, s,
                                        "EXEC_COUNT %.*s%s is larger than the limit of %" PRIu64, q,
                                        t + s, more, max);
        v = v * 10 + d;
    }
    if (v == 0)
        return pv_workload__fail_at(f, s, "EXEC_COUNT must be a positive integer, not \"%.*s\"", q,
                                    t + s);
    *out = v;
    return 0;
}

/* ---- TARGET --------------------------------------------------------------- */

int pv_workload__load_target(const struct file *f, const struct header *h, struct pv_query *q)
{
    const char *t = f->text;
    size_t s, e;
    value_trimmed(f, h, &s, &e);
    if (e == s)
        return pv_workload__fail_at(f, s,
                                    "TARGET needs thresholds, e.g. \"p95 < 5ms, qps > 1000\"");
    q->target = strndup(t + s, e - s);
    if (!q->target)
        return pv_workload__oom(f);
    pv_workload__linecol(t, s, &q->target_line, &q->target_col);
    return 0;
}

/* ---- CONCURRENCY and DURATION (a suite's test settings) ------------------- */

int pv_workload__parse_concurrency(const struct file *f, const struct header *h, int *out)
{
    const char *t = f->text;
    size_t s, e;
    value_trimmed(f, h, &s, &e);
    int q = pv_workload__quote_len(t + s, e - s);
    long v = 0;
    bool ok = e > s && e - s <= 5;
    for (size_t i = s; ok && i < e; i++) {
        if (t[i] < '0' || t[i] > '9')
            ok = false;
        else
            v = v * 10 + (t[i] - '0');
    }
    if (!ok || v < 1 || v > 10000)
        return pv_workload__fail_at(
            f, s, "CONCURRENCY must be an integer from 1 to 10000, not \"%.*s\"", q, t + s);
    *out = (int)v;
    return 0;
}

int pv_workload__parse_duration(const struct file *f, const struct header *h, double *out)
{
    const char *t = f->text;
    size_t s, e;
    value_trimmed(f, h, &s, &e);
    int q = pv_workload__quote_len(t + s, e - s);
    char buf[32];
    size_t n = strspn(t + s, "0123456789.");
    if (n > e - s)
        n = e - s;
    double unit = 0;
    size_t ulen = e - s - n;
    const char *u = t + s + n;
    if (ulen == 0 || (ulen == 1 && *u == 's'))
        unit = 1;
    else if (ulen == 2 && memcmp(u, "ms", 2) == 0)
        unit = 1e-3;
    else if (ulen == 1 && *u == 'm')
        unit = 60;
    char *stop = NULL;
    double v = 0;
    if (n > 0 && n < sizeof(buf)) {
        memcpy(buf, t + s, n);
        buf[n] = '\0';
        v = strtod(buf, &stop);
    }
    if (unit == 0 || !stop || *stop || !(v * unit > 0) || v * unit > 86400)
        return pv_workload__fail_at(f, s,
                                    "DURATION must be a time above 0 and at most 24 h, such as "
                                    "5s, 500ms, 2m or 10 (seconds), not \"%.*s\"",
                                    q, t + s);
    *out = v * unit;
    return 0;
}
