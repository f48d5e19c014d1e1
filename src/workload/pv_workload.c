/*
 * pv_workload.c - reads annotated SQL workload files into queries and
 * scenarios. Every check happens here, before anything runs.
 *
 * A file is read in this order: content checks (size, NUL bytes, UTF-8,
 * line length), one pass of the PostgreSQL scanner to find the header
 * comments and the statement, pv_sqlscan on the statement (placeholders,
 * statement count), then EXEC_COUNT and PARAMETERS.
 *
 * PARAMETERS is validated and decoded by jansson, but numbers and objects
 * are taken from the file's own text: jansson would print 0.1 as
 * 0.10000000000000001 and reject integers beyond 64 bits, while the server
 * should see exactly what the file says. A bracket pre-scan (no recursion,
 * no stack) enforces the depth limit before jansson sees the text and
 * records, in document order, the spans of the parameter sets and of every
 * number and object that is not inside an object; converting the values
 * walks the arrays in the same order, so the n-th number met is the n-th
 * span.
 */
#include "workload/pv_workload.h"
#include "common/pv_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "workload/pv_sqlscan.h"

#define DEFAULT_EXEC_COUNT     5
#define DEFAULT_MAX_EXEC_COUNT 1000000000u
#define DEFAULT_MAX_FILE_BYTES ((size_t)16 << 20)
#define DEFAULT_MAX_LINE_BYTES ((size_t)1 << 20)
#define DEFAULT_MAX_JSON_DEPTH 32
#define QUOTE_MAX              40 /* bytes of user text quoted in a message */

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

/* ---- small helpers -------------------------------------------------------- */

static int is_cont_byte(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* 1-based line and column (in characters) of byte offset off. */
static void text_linecol(const char *text, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (!is_cont_byte((unsigned char)text[i])) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Length of at most QUOTE_MAX bytes of s[0, n) that does not split a character. */
static int quote_len(const char *s, size_t n)
{
    if (n <= QUOTE_MAX)
        return (int)n;
    size_t k = QUOTE_MAX;
    while (k > 0 && is_cont_byte((unsigned char)s[k]))
        k--;
    return (int)k;
}

static const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

static int verr(const struct file *f, int code, int line, int col, const char *fmt, va_list ap)
{
    char msg[PV_ERR_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (line > 0 && col > 0)
        return pv_err_set(f->err, code, "%s:%d:%d: %s", f->path, line, col, msg);
    if (line > 0)
        return pv_err_set(f->err, code, "%s:%d: %s", f->path, line, msg);
    return pv_err_set(f->err, code, "%s: %s", f->path, msg);
}

/* "PATH: message" (line <= 0), "PATH:LINE: message" (col <= 0) or "PATH:LINE:COL: message". */
PV_PRINTF(5, 6)
static int fail(const struct file *f, int code, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = verr(f, code, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

/* VOLLEY_EINPUT with "PATH:LINE:COL: message" for byte offset off of the file. */
PV_PRINTF(3, 4)
static int fail_at(const struct file *f, size_t off, const char *fmt, ...)
{
    int line, col;
    text_linecol(f->text, off, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    int rc = verr(f, VOLLEY_EINPUT, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(const struct file *f)
{
    return fail(f, VOLLEY_ENOMEM, 0, 0, "out of memory");
}

/*
 * Relays a pv_sqlscan error ("line L, column C: what", relative to text
 * that starts at byte base of the file) as "PATH:LINE:COL: what".
 */
static int relay_scan_error(const struct file *f, int rc, const pv_err *e, size_t base)
{
    if (rc == VOLLEY_ENOMEM)
        return oom(f);
    int l, c, n = 0;
    if (sscanf(e->msg, "line %d, column %d: %n", &l, &c, &n) == 2 && n > 0) {
        int bl, bc;
        text_linecol(f->text, base, &bl, &bc);
        if (l == 1)
            c += bc - 1;
        l += bl - 1;
        return fail(f, rc, l, c, "%s", e->msg + n);
    }
    return fail(f, rc, 0, 0, "%s", e->msg);
}

/* ---- content checks ------------------------------------------------------- */

static int check_content(const struct file *f)
{
    const unsigned char *s = (const unsigned char *)f->text;
    size_t max_line = f->w->opts.max_line_bytes;
    size_t line_start = 0;
    int line = 1;
    for (size_t i = 0; i < f->len;) {
        if (s[i] == '\n') {
            line++;
            line_start = ++i;
            continue;
        }
        if (i - line_start >= max_line)
            return fail(f, VOLLEY_EINPUT, line, 0, "line is longer than %zu bytes", max_line);
        if (s[i] == 0)
            return fail_at(f, i, "binary content (NUL byte)");
        size_t k = pv_utf8_seq(s + i, f->len - i);
        if (k == 0)
            return fail_at(f, i, "binary content (invalid UTF-8)");
        i += k;
    }
    return 0;
}

/* ---- the statement and the header comments ------------------------------- */

static int scan_file(const struct file *f, PgQuery__ScanResult **out)
{
    if (f->len > INT32_MAX)
        return fail(f, VOLLEY_EINPUT, 0, 0, "file too large for the SQL scanner");
    PgQueryScanResult res = pg_query_scan(f->text);
    if (res.error) {
        pg_query_free_scan_result(res);
        /* Scan again through pv_sqlscan, which words the error. */
        struct pv_sqlscan s;
        pv_err e;
        int rc = pv_sqlscan_run(f->text, &s, &e);
        pv_sqlscan_fini(&s);
        if (rc == 0)
            return fail(f, VOLLEY_EINPUT, 0, 0, "the SQL scanner failed");
        return relay_scan_error(f, rc, &e, 0);
    }
    *out = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
    pg_query_free_scan_result(res);
    return *out ? 0 : oom(f);
}

/* Which header a `--` comment is (0 = none); *value is the offset after the colon. */
static int header_kind(const char *tok, size_t len, size_t *value)
{
    static const char *const names[] = {"PARAMETERS:", "EXEC_COUNT:"};
    size_t p = 2; /* "--" */
    while (p < len && (tok[p] == ' ' || tok[p] == '\t'))
        p++;
    for (size_t k = 0; k < PV_ARRAY_LEN(names); k++) {
        size_t n = strlen(names[k]);
        if (len - p >= n && memcmp(tok + p, names[k], n) == 0) {
            *value = p + n;
            return (int)k + 1;
        }
    }
    return 0;
}

static int note_header(const struct file *f, struct header *h, const char *what,
                       const PgQuery__ScanToken *t, size_t value)
{
    if (h->found) {
        int first, col;
        text_linecol(f->text, h->start, &first, &col);
        return fail_at(f, (size_t)t->start, "second %s line (the first is on line %d)", what,
                       first);
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
static int find_parts(const struct file *f, const PgQuery__ScanResult *scan, struct header *params,
                      struct header *count, size_t *start, size_t *end)
{
    PgQuery__ScanToken **tok = scan->tokens;
    size_t n = scan->n_tokens, first = SIZE_MAX, last = 0;
    for (size_t i = 0; i < n; i++) {
        const PgQuery__ScanToken *t = tok[i];
        if (t->token == PG_QUERY__TOKEN__SQL_COMMENT) {
            size_t value;
            int kind = header_kind(f->text + t->start, (size_t)(t->end - t->start), &value);
            int rc = 0;
            if (kind == 1)
                rc = note_header(f, params, "PARAMETERS", t, value);
            else if (kind == 2)
                rc = note_header(f, count, "EXEC_COUNT", t, value);
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
        return fail(f, VOLLEY_EINPUT, 0, 0, "no SQL statement");

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

/* ---- EXEC_COUNT ----------------------------------------------------------- */

static int parse_exec_count(const struct file *f, const struct header *h, uint64_t *out)
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
    int q = quote_len(t + s, e - s);
    const char *more = (size_t)q < e - s ? "..." : "";
    if (!ok)
        return fail_at(f, s, "EXEC_COUNT must be a positive integer, not \"%.*s%s\"", q, t + s,
                       more);
    uint64_t max = f->w->opts.max_exec_count, v = 0;
    for (size_t i = s; i < e; i++) {
        unsigned d = (unsigned)(t[i] - '0');
        if (max < d || v > (max - d) / 10)
            return fail_at(f, s, "EXEC_COUNT %.*s%s is larger than the limit of %" PRIu64, q, t + s,
                           more, max);
        v = v * 10 + d;
    }
    if (v == 0)
        return fail_at(f, s, "EXEC_COUNT must be a positive integer, not \"%.*s\"", q, t + s);
    *out = v;
    return 0;
}

/* ---- PARAMETERS: the pre-scan --------------------------------------------- */

struct span {
    size_t start;
    size_t end;
};

enum item_kind { ITEM_NUMBER, ITEM_OBJECT };

struct item {
    enum item_kind kind;
    struct span at;
};

struct prescan {
    struct span *sets; /* the top-level array's elements */
    size_t nsets, capsets;
    struct item *items; /* numbers and objects not inside an object */
    size_t nitems, capitems;
};

static void prescan_fini(struct prescan *ps)
{
    free(ps->sets);
    free(ps->items);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, c * size);
    if (!np)
        return VOLLEY_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

static int add_set(struct prescan *ps, size_t start, size_t end)
{
    if (grow((void **)&ps->sets, &ps->capsets, ps->nsets + 1, sizeof(*ps->sets)) != 0)
        return VOLLEY_ENOMEM;
    ps->sets[ps->nsets++] = (struct span){start, end};
    return 0;
}

static int add_item(struct prescan *ps, enum item_kind kind, size_t start, size_t end)
{
    if (grow((void **)&ps->items, &ps->capitems, ps->nitems + 1, sizeof(*ps->items)) != 0)
        return VOLLEY_ENOMEM;
    ps->items[ps->nitems++] = (struct item){kind, {start, end}};
    return 0;
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/*
 * Returns 0, VOLLEY_ENOMEM, or 1 with *deep_at set where nesting first goes
 * beyond max_depth. Any input is safe; the spans are right for valid JSON
 * (jansson decides what is valid).
 */
static int prescan_json(const char *j, size_t n, int max_depth, struct prescan *ps, size_t *deep_at)
{
    int depth = 0, obj_level = 0, in_set = 0;
    size_t set_start = 0, obj_start = 0, last_end = 0;
    for (size_t i = 0; i < n;) {
        char c = j[i];
        if (is_json_space(c)) {
            i++;
            continue;
        }
        if (depth == 1 && !in_set && c != ',' && c != ']' && c != '}') {
            in_set = 1;
            set_start = i;
        }
        size_t next = i + 1;
        int rc = 0;
        if (c == '"') {
            while (next < n && j[next] != '"')
                next += j[next] == '\\' ? 2 : 1;
            next = next < n ? next + 1 : n;
        } else if (c == '[' || c == '{') {
            if (depth >= max_depth) {
                *deep_at = i;
                return 1;
            }
            depth++;
            if (c == '{' && obj_level == 0) {
                obj_level = depth;
                obj_start = i;
            }
        } else if (c == ']' || c == '}' || c == ',') {
            if (depth == 1 && in_set && c != '}') {
                rc = add_set(ps, set_start, last_end);
                in_set = 0;
            }
            if (c != ',' && depth > 0) {
                if (depth == obj_level) {
                    rc = rc ? rc : add_item(ps, ITEM_OBJECT, obj_start, i + 1);
                    obj_level = 0;
                }
                depth--;
            }
        } else if ((c == '-' || (c >= '0' && c <= '9'))) {
            while (next < n && is_number_char(j[next]))
                next++;
            if (obj_level == 0)
                rc = add_item(ps, ITEM_NUMBER, i, next);
        } else if (c >= 'a' && c <= 'z') {
            while (next < n && j[next] >= 'a' && j[next] <= 'z')
                next++;
        }
        if (rc != 0)
            return rc;
        i = next;
        last_end = next;
    }
    return 0;
}

/* Copies JSON text without the whitespace outside strings. */
static char *compact_json(const char *j, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = j[i];
        if (in_str) {
            out[k++] = c;
            if (c == '\\' && i + 1 < n)
                out[k++] = j[++i];
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (is_json_space(c))
            continue;
        if (c == '"')
            in_str = 1;
        out[k++] = c;
    }
    out[k] = '\0';
    return out;
}

/* ---- PARAMETERS: values as text ------------------------------------------- */

#define OUT_OF_STEP 1 /* the pre-scan and jansson disagree: a bug, not bad input */

struct conv {
    const char *json;
    const struct item *items;
    size_t nitems;
    size_t next;
};

static const struct item *next_item(struct conv *cv, enum item_kind kind)
{
    if (cv->next >= cv->nitems || cv->items[cv->next].kind != kind)
        return NULL;
    return &cv->items[cv->next++];
}

/* An element of an array literal, always double-quoted. */
static void append_quoted(pv_buf *b, const char *s, size_t n)
{
    pv_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            pv_buf_putc(b, '\\');
        pv_buf_putc(b, s[i]);
    }
    pv_buf_putc(b, '"');
}

/* A JSON array as a PostgreSQL array literal; recursion is bounded by the depth limit. */
static int append_array_literal(struct conv *cv, const json_t *a, pv_buf *b)
{
    pv_buf_putc(b, '{');
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        const struct item *it;
        if (i > 0)
            pv_buf_putc(b, ',');
        switch (json_typeof(v)) {
        case JSON_ARRAY: {
            int rc = append_array_literal(cv, v, b);
            if (rc != 0)
                return rc;
            break;
        }
        case JSON_NULL: pv_buf_puts(b, "NULL"); break;
        case JSON_TRUE: pv_buf_puts(b, "true"); break;
        case JSON_FALSE: pv_buf_puts(b, "false"); break;
        case JSON_STRING: append_quoted(b, json_string_value(v), json_string_length(v)); break;
        case JSON_INTEGER:
        case JSON_REAL:
            it = next_item(cv, ITEM_NUMBER);
            if (!it)
                return OUT_OF_STEP;
            pv_buf_append(b, cv->json + it->at.start, it->at.end - it->at.start);
            break;
        case JSON_OBJECT: {
            it = next_item(cv, ITEM_OBJECT);
            if (!it)
                return OUT_OF_STEP;
            char *o = compact_json(cv->json + it->at.start, it->at.end - it->at.start);
            if (!o)
                return VOLLEY_ENOMEM;
            append_quoted(b, o, strlen(o));
            free(o);
            break;
        }
        }
    }
    pv_buf_putc(b, '}');
    return 0;
}

/* *out = the value as text (NULL for JSON null); 0, VOLLEY_ENOMEM or OUT_OF_STEP. */
static int value_text(struct conv *cv, const json_t *v, char **out)
{
    const struct item *it;
    *out = NULL;
    switch (json_typeof(v)) {
    case JSON_NULL: return 0;
    case JSON_TRUE: *out = strdup("true"); break;
    case JSON_FALSE: *out = strdup("false"); break;
    case JSON_STRING: *out = strndup(json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
    case JSON_REAL:
        it = next_item(cv, ITEM_NUMBER);
        if (!it)
            return OUT_OF_STEP;
        *out = strndup(cv->json + it->at.start, it->at.end - it->at.start);
        break;
    case JSON_OBJECT:
        it = next_item(cv, ITEM_OBJECT);
        if (!it)
            return OUT_OF_STEP;
        *out = compact_json(cv->json + it->at.start, it->at.end - it->at.start);
        break;
    case JSON_ARRAY: {
        pv_buf b = PV_BUF_INIT;
        int rc = append_array_literal(cv, v, &b);
        if (rc == 0)
            rc = pv_buf_ok(&b);
        if (rc != 0) {
            pv_buf_fini(&b);
            return rc;
        }
        *out = b.data; /* ownership moves to *out */
        break;
    }
    }
    return *out ? 0 : VOLLEY_ENOMEM;
}

/* ---- PARAMETERS: scenarios ------------------------------------------------ */

static void scenario_fini(struct pv_scenario *sc)
{
    if (sc->values) {
        for (int i = 0; i < sc->nparams; i++)
            free(sc->values[i]);
    }
    free(sc->values);
    free(sc->name);
    free(sc->params_json);
}

static int scenario_init(struct pv_scenario *sc, size_t index, int nparams, uint64_t exec_count)
{
    char name[32];
    snprintf(name, sizeof(name), "scenario_%zu", index + 1);
    sc->name = strdup(name);
    sc->nparams = nparams;
    sc->exec_count = exec_count;
    if (nparams > 0)
        sc->values = calloc((size_t)nparams, sizeof(*sc->values));
    return sc->name && (nparams == 0 || sc->values) ? 0 : VOLLEY_ENOMEM;
}

/* One parameter set (a JSON array of nparams values) into sc. */
static int fill_scenario(const struct file *f, struct conv *cv, const json_t *set,
                         const struct span *at, size_t base, struct pv_scenario *sc)
{
    for (int i = 0; i < sc->nparams; i++) {
        int rc = value_text(cv, json_array_get(set, (size_t)i), &sc->values[i]);
        if (rc == OUT_OF_STEP)
            return fail_at(f, base + at->start, "cannot convert this parameter set (a bug)");
        if (rc != 0)
            return oom(f);
    }
    sc->params_json = compact_json(cv->json + at->start, at->end - at->start);
    return sc->params_json ? 0 : oom(f);
}

static size_t skip_json_space(const char *j, size_t i, size_t n)
{
    while (i < n && is_json_space(j[i]))
        i++;
    return i;
}

/*
 * Where in j[0, n) a jansson error is. je.position counts the bytes read,
 * so it lies just past the offending token; when the message quotes that
 * token ("... near 'junk'"), step back to its first byte.
 */
static size_t json_error_offset(const char *j, size_t n, const json_error_t *je)
{
    size_t pos = PV_MIN(je->position > 0 ? (size_t)je->position : 0, n);
    const char *near = strstr(je->text, " near '");
    size_t tlen = strlen(je->text);
    if (near && tlen > 0 && je->text[tlen - 1] == '\'') {
        const char *tok = near + 7;
        size_t len = (size_t)(je->text + tlen - 1 - tok);
        if (len > 0 && len <= pos && memcmp(j + pos - len, tok, len) == 0)
            return pos - len;
    }
    return pos > 0 ? pos - 1 : 0;
}

/* Validates the PARAMETERS header and fills q->scenarios. */
static int load_params(const struct file *f, const struct header *h, struct pv_query *q)
{
    const char *j = f->text + h->value;
    size_t n = h->value_end - h->value;
    int max_depth = f->w->opts.max_json_depth;
    struct prescan ps = {0};
    json_t *root = NULL;
    size_t deep_at = 0;
    int rc = prescan_json(j, n, max_depth, &ps, &deep_at);
    if (rc == 1) {
        rc = fail_at(f, h->value + deep_at, "PARAMETERS is nested more than %d levels deep",
                     max_depth);
        goto out;
    }
    if (rc != 0) {
        rc = oom(f);
        goto out;
    }

    json_error_t je;
    root = json_loadb(j, n, JSON_DECODE_INT_AS_REAL, &je);
    if (!root) {
        rc = fail_at(f, h->value + json_error_offset(j, n, &je), "invalid JSON in PARAMETERS: %s",
                     je.text);
        goto out;
    }
    size_t first = h->value + skip_json_space(j, 0, n);
    if (!json_is_array(root)) {
        rc = fail_at(f, first,
                     "PARAMETERS must be a JSON array of parameter sets, like [[1, \"a\"]]");
        goto out;
    }
    size_t nsets = json_array_size(root);
    if (nsets == 0) {
        rc = fail_at(f, first, "PARAMETERS holds no parameter set");
        goto out;
    }
    if (ps.nsets != nsets) {
        rc = fail_at(f, first, "cannot split PARAMETERS into parameter sets (a bug)");
        goto out;
    }
    for (size_t i = 0; i < nsets; i++) {
        const json_t *set = json_array_get(root, i);
        size_t at = h->value + ps.sets[i].start;
        if (!json_is_array(set)) {
            rc = fail_at(f, at, "parameter set %zu is not a JSON array", i + 1);
            goto out;
        }
        size_t nv = json_array_size(set);
        if (nv != (size_t)q->nparams) {
            rc = fail_at(f, at,
                         "parameter set %zu has %zu value%s but the query has %d placeholder%s",
                         i + 1, nv, plural((long)nv), q->nparams, plural(q->nparams));
            goto out;
        }
    }

    q->scenarios = calloc(nsets, sizeof(*q->scenarios));
    if (!q->scenarios) {
        rc = oom(f);
        goto out;
    }
    struct conv cv = {.json = j, .items = ps.items, .nitems = ps.nitems};
    for (size_t i = 0; i < nsets; i++) {
        struct pv_scenario *sc = &q->scenarios[i];
        q->nscenarios = i + 1; /* so that a failure frees this one too */
        if (scenario_init(sc, i, q->nparams, q->exec_count) != 0) {
            rc = oom(f);
            goto out;
        }
        rc = fill_scenario(f, &cv, json_array_get(root, i), &ps.sets[i], h->value, sc);
        if (rc != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    prescan_fini(&ps);
    return rc;
}

static int no_params(const struct file *f, struct pv_query *q)
{
    if (q->nparams > 0)
        return fail(f, VOLLEY_EINPUT, 0, 0,
                    "the query has %d placeholder%s but the file has no -- PARAMETERS: line",
                    q->nparams, plural(q->nparams));
    q->scenarios = calloc(1, sizeof(*q->scenarios));
    if (!q->scenarios)
        return oom(f);
    q->nscenarios = 1;
    struct pv_scenario *sc = &q->scenarios[0];
    if (scenario_init(sc, 0, 0, q->exec_count) != 0)
        return oom(f);
    sc->params_json = strdup("[]");
    return sc->params_json ? 0 : oom(f);
}

/* ---- one file ------------------------------------------------------------- */

static void query_free(struct pv_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nscenarios; i++)
        scenario_fini(&q->scenarios[i]);
    free(q->scenarios);
    free(q->path);
    free(q->name);
    free(q->sql);
    free(q);
}

/* The statement: its SQL with $n, its placeholder count; exactly one. */
static int load_statement(const struct file *f, size_t start, size_t end, struct pv_query *q)
{
    char *slice = strndup(f->text + start, end - start);
    if (!slice)
        return oom(f);
    struct pv_sqlscan s;
    pv_err e;
    int rc = pv_sqlscan_run(slice, &s, &e);
    free(slice);
    if (rc != 0)
        return relay_scan_error(f, rc, &e, start);
    if (s.n_statements != 1) {
        rc = fail(f, VOLLEY_EINPUT, 0, 0, "%d statements; a workload file holds exactly one",
                  s.n_statements);
        pv_sqlscan_fini(&s);
        return rc;
    }
    q->sql = s.sql; /* ownership moves to q */
    q->nparams = s.nparams;
    return 0;
}

/* The file's text is f->text (NUL-terminated, checked); *out on success. */
static int parse_file(const struct file *f, struct pv_query **out)
{
    struct header params = {0}, count = {0};
    size_t start = 0, end = 0;
    PgQuery__ScanResult *scan = NULL;
    int rc = scan_file(f, &scan);
    if (rc != 0)
        return rc;
    rc = find_parts(f, scan, &params, &count, &start, &end);
    pg_query__scan_result__free_unpacked(scan, NULL);
    if (rc != 0)
        return rc;

    struct pv_query *q = calloc(1, sizeof(*q));
    if (!q)
        return oom(f);
    const char *slash = strrchr(f->path, '/');
    q->path = strdup(f->path);
    q->name = strdup(slash && slash[1] ? slash + 1 : f->path);
    if (!q->path || !q->name) {
        rc = oom(f);
        goto fail;
    }
    rc = load_statement(f, start, end, q);
    if (rc != 0)
        goto fail;
    q->exec_count = f->w->opts.default_exec_count;
    if (count.found) {
        rc = parse_exec_count(f, &count, &q->exec_count);
        if (rc != 0)
            goto fail;
    }
    rc = params.found ? load_params(f, &params, q) : no_params(f, q);
    if (rc != 0)
        goto fail;
    *out = q;
    return 0;
fail:
    query_free(q);
    return rc;
}

static int append_query(pv_workload *w, struct pv_query *q)
{
    if (grow((void **)&w->queries, &w->cap, w->nqueries + 1, sizeof(*w->queries)) != 0)
        return VOLLEY_ENOMEM;
    w->queries[w->nqueries++] = q;
    return 0;
}

int pv_workload_add_text(pv_workload *w, const char *path, const char *text, size_t len,
                         pv_err *err)
{
    struct file f = {.w = w, .path = path, .text = text, .len = len, .err = err};
    /* A UTF-8 byte order mark is not part of the SQL. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        f.text += 3;
        f.len -= 3;
    }
    if (f.len == 0)
        return fail(&f, VOLLEY_EINPUT, 0, 0, "empty file");
    if (f.len > w->opts.max_file_bytes)
        return fail(&f, VOLLEY_EINPUT, 0, 0, "file is larger than the limit of %zu bytes",
                    w->opts.max_file_bytes);
    int rc = check_content(&f);
    if (rc != 0)
        return rc;

    char *copy = malloc(f.len + 1);
    if (!copy)
        return oom(&f);
    memcpy(copy, f.text, f.len);
    copy[f.len] = '\0';
    f.text = copy;
    struct pv_query *q = NULL;
    rc = parse_file(&f, &q);
    if (rc == 0 && append_query(w, q) != 0) {
        query_free(q);
        rc = oom(&f);
    }
    free(copy);
    return rc;
}

/* ---- files and directories ------------------------------------------------ */

static int read_file(const char *path, size_t max, char **out, size_t *outlen, pv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return pv_err_set(err, VOLLEY_EINPUT, "%s: file is larger than the limit of %zu bytes",
                          path, max);
    }
    /* Read up to max + 1 bytes: the file may grow, or not be a regular file. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len = 0;
    char *buf = NULL;
    int rc = 0;
    for (;;) {
        if (len == cap || !buf) {
            if (buf)
                cap = PV_MIN(cap * 2, max + 1);
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            rc = pv_err_set(err, VOLLEY_EINPUT, "%s: file is larger than the limit of %zu bytes",
                            path, max);
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int add_file(pv_workload *w, const char *path, pv_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, w->opts.max_file_bytes, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = pv_workload_add_text(w, path, text, len, err);
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_sql_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

/* Every *.sql directly inside dir (not hidden, not a directory), sorted by name. */
static int add_dir(pv_workload *w, const char *dir, pv_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", dir, strerror(errno));
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    char **paths = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", dir, strerror(errno));
            break;
        }
        if (!is_sql_name(de->d_name))
            continue;
        pv_buf p = PV_BUF_INIT;
        pv_buf_printf(&p, "%s%s%s", dir, sep, de->d_name);
        struct stat st;
        /* A broken link is kept, so that reading it reports why. */
        if (pv_buf_ok(&p) == 0 && stat(p.data, &st) == 0 && !S_ISREG(st.st_mode)) {
            pv_buf_fini(&p);
            continue;
        }
        if (pv_buf_ok(&p) != 0 || grow((void **)&paths, &cap, n + 1, sizeof(*paths)) != 0) {
            pv_buf_fini(&p);
            rc = pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", dir);
            break;
        }
        paths[n++] = p.data;
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = pv_err_set(err, VOLLEY_EINPUT, "%s: no *.sql file in this directory", dir);
    if (rc == 0) {
        /* Same prefix everywhere, so sorting paths sorts names. */
        qsort(paths, n, sizeof(*paths), cmp_str);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = add_file(w, paths[i], err);
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

int pv_workload_add_path(pv_workload *w, const char *path, pv_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t before = w->nqueries;
    int rc = S_ISDIR(st.st_mode) ? add_dir(w, path, err) : add_file(w, path, err);
    if (rc != 0) {
        /* Nothing from this path stays. */
        while (w->nqueries > before)
            query_free(w->queries[--w->nqueries]);
    }
    return rc;
}

/* ---- the workload --------------------------------------------------------- */

int pv_workload_create(const struct pv_workload_opts *opts, pv_workload **out)
{
    pv_workload *w = calloc(1, sizeof(*w));
    if (!w)
        return VOLLEY_ENOMEM;
    if (opts)
        w->opts = *opts;
    if (w->opts.default_exec_count == 0)
        w->opts.default_exec_count = DEFAULT_EXEC_COUNT;
    if (w->opts.max_exec_count == 0)
        w->opts.max_exec_count = DEFAULT_MAX_EXEC_COUNT;
    if (w->opts.max_file_bytes == 0)
        w->opts.max_file_bytes = DEFAULT_MAX_FILE_BYTES;
    if (w->opts.max_line_bytes == 0)
        w->opts.max_line_bytes = DEFAULT_MAX_LINE_BYTES;
    if (w->opts.max_json_depth <= 0)
        w->opts.max_json_depth = DEFAULT_MAX_JSON_DEPTH;
    *out = w;
    return 0;
}

void pv_workload_destroy(pv_workload *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nqueries; i++)
        query_free(w->queries[i]);
    free(w->queries);
    free(w);
}

size_t pv_workload_count(const pv_workload *w)
{
    return w->nqueries;
}

const struct pv_query *pv_workload_query(const pv_workload *w, size_t i)
{
    return i < w->nqueries ? w->queries[i] : NULL;
}

size_t pv_workload_scenario_count(const pv_workload *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nqueries; i++)
        n += w->queries[i]->nscenarios;
    return n;
}

uint64_t pv_workload_total_executions(const pv_workload *w)
{
    uint64_t total = 0;
    for (size_t i = 0; i < w->nqueries; i++) {
        const struct pv_query *q = w->queries[i];
        for (size_t k = 0; k < q->nscenarios; k++) {
            uint64_t e = q->scenarios[k].exec_count;
            total = total > UINT64_MAX - e ? UINT64_MAX : total + e; /* saturates */
        }
    }
    return total;
}
