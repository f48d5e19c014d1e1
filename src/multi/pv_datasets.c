/* pv_datasets.c - the datasets file (INI read with libinih): parsing, validation and lookup. */
#include "multi/pv_datasets.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "engine/pv_conninfo.h"

/*
 * How the work is split with libinih. libinih reads key = value lines,
 * strips comments and whitespace and calls on_key(); it reports only the
 * first bad line's number (Debian builds it with INI_HANDLER_LINENO=0). Our
 * reader function read_line() hands libinih one line at a time, so it knows
 * the number of the line being worked on, and it also:
 *
 * - handles [section] lines itself: libinih cuts section names at 49
 *   characters and does not tell a handler about a section without keys,
 *   so a duplicate or key-less section would go unseen;
 * - strips leading whitespace, so indented keys are keys and never
 *   libinih's continuation lines (there are no multi-line values);
 * - rejects lines longer than libinih's line buffer (it would split them
 *   and miscount the lines), except comments, which are cut short.
 *
 * The first error wins, in reading order: ours are recorded with the line
 * where they were found; a libinih syntax error on an earlier line wins.
 * A DSN is never part of a message, and neither is any value that is not
 * a plain number, nor a key or section name that is not a plain name.
 *
 * XXX a value cannot contain " ;" (libinih starts an inline comment there),
 * so a password with a space followed by ';' must be quoted in a URI
 * (%20%3B) or kept in a service file or ~/.pgpass.
 */

struct pv_datasets {
    struct pv_dataset *items;
    int *lines; /* line of each item's [name]; 0 for pv_datasets_from_dsn */
    size_t count;
    size_t cap;
};

#define NAME_MAX_LEN 63

/* ---- keys ----------------------------------------------------------------- */

enum key_kind { KEY_DSN, KEY_TEXT, KEY_INT, KEY_LIST };

struct key_def {
    const char *name;
    enum key_kind kind;
    size_t offset; /* of the int field (KEY_INT) or the list field (KEY_LIST) */
    int min;
    int max;
    int def;
};

#define INT_KEY(field, lo, hi, d)                                                                  \
    {                                                                                              \
#field, KEY_INT, offsetof(struct pv_dataset, field), lo, hi, d                             \
    }

static const struct key_def keys[] = {
    {"dsn", KEY_DSN, 0, 0, 0, 0},
    {"description", KEY_TEXT, 0, 0, 0, 0},
    INT_KEY(max_rows, 1, 1000000, 1000),
    INT_KEY(statement_timeout_ms, 1, 86400000, 60000),
    INT_KEY(max_concurrency, 1, PV_DATASETS_MAX_CONCURRENCY, 10),
    INT_KEY(pool_min, 0, 1000, 2),
    INT_KEY(pool_max, 1, 1000, 10),
    INT_KEY(idle_lifetime_s, 1, 86400, 300),
    INT_KEY(connect_timeout_s, 1, 3600, 30),
    INT_KEY(max_bytes, 1024, 64 * 1024 * 1024, 1024 * 1024),
    {"allow_schemas", KEY_LIST, offsetof(struct pv_dataset, allow_schemas), 0, 0, 0},
    {"allow_tables", KEY_LIST, offsetof(struct pv_dataset, allow_tables), 0, 0, 0},
    {"allow_tools", KEY_LIST, offsetof(struct pv_dataset, allow_tools), 0, 0, 0},
};

#define NKEYS        PV_ARRAY_LEN(keys)
#define KEY_MAX_CONC 4
#define KEY_POOL_MIN 5
#define KEY_POOL_MAX 6

#define KNOWN_KEYS                                                                                 \
    "dsn, description, max_rows, statement_timeout_ms, max_concurrency, pool_min, pool_max, "      \
    "idle_lifetime_s, connect_timeout_s, max_bytes, allow_schemas, allow_tables, allow_tools"

static int *int_field(struct pv_dataset *ds, const struct key_def *k)
{
    return (int *)((char *)ds + k->offset);
}

static void set_defaults(struct pv_dataset *ds)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].kind == KEY_INT)
            *int_field(ds, &keys[i]) = keys[i].def;
    }
}

static bool is_space_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* 1..max bytes of [A-Za-z0-9_.-]: safe to show, and valid as a dataset name. */
static bool is_plain_name(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/*
 * A plain decimal integer: an optional '-' and 1 to 18 digits (longer
 * ones are reported as out of range). Returns false for anything else.
 */
static bool parse_decimal(const char *s, long long *out, bool *too_long)
{
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || p[n] != '\0')
        return false;
    *too_long = n > 18;
    long long v = 0;
    for (size_t i = 0; i < n && i < 18; i++)
        v = v * 10 + (p[i] - '0');
    *out = neg ? -v : v;
    return true;
}

/* ---- the datasets --------------------------------------------------------- */

static char ***list_field(struct pv_dataset *ds, const struct key_def *k)
{
    return (char ***)((char *)ds + k->offset);
}

static void free_list(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/*
 * "a, b.c ,d" -> {"a", "b.c", "d", NULL}: comma-separated, blanks around
 * items removed. @return 0, 1 (an empty item) or -1 (out of memory).
 */
static int split_list(const char *value, char ***out)
{
    size_t n = 1;
    for (const char *q = value; *q; q++)
        n += *q == ',';
    char **list = calloc(n + 1, sizeof(*list));
    if (!list)
        return -1;
    const char *q = value;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(q, ",");
        const char *a = q, *b = q + len;
        while (a < b && is_space_char(*a))
            a++;
        while (b > a && is_space_char(b[-1]))
            b--;
        if (a == b) {
            free_list(list);
            return 1;
        }
        list[i] = strndup(a, (size_t)(b - a));
        if (!list[i]) {
            free_list(list);
            return -1;
        }
        q += len + (q[len] == ',');
    }
    *out = list;
    return 0;
}

static void free_dataset(struct pv_dataset *ds)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == KEY_LIST)
            free_list(*list_field(ds, &keys[i]));
    free(ds->name);
    if (ds->dsn) {
        explicit_bzero(ds->dsn, strlen(ds->dsn));
        free(ds->dsn);
    }
    free(ds->description);
}

void pv_datasets_destroy(pv_datasets *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        free_dataset(&d->items[i]);
    free(d->items);
    free(d->lines);
    free(d);
}

/* Appends a dataset called name with default limits and no dsn; NULL when out of memory. */
static struct pv_dataset *add_dataset(pv_datasets *d, const char *name, size_t name_len, int line)
{
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        struct pv_dataset *items = realloc(d->items, cap * sizeof(*items));
        if (!items)
            return NULL;
        d->items = items;
        int *lines = realloc(d->lines, cap * sizeof(*lines));
        if (!lines)
            return NULL;
        d->lines = lines;
        d->cap = cap;
    }
    struct pv_dataset ds = {0};
    ds.name = strndup(name, name_len);
    ds.description = strdup("");
    if (!ds.name || !ds.description) {
        free_dataset(&ds);
        return NULL;
    }
    set_defaults(&ds);
    d->items[d->count] = ds;
    d->lines[d->count] = line;
    return &d->items[d->count++];
}

size_t pv_datasets_count(const pv_datasets *d)
{
    return d ? d->count : 0;
}

const struct pv_dataset *pv_datasets_get(const pv_datasets *d, size_t i)
{
    return d && i < d->count ? &d->items[i] : NULL;
}

/* Index of the dataset called name[0..len), or -1. */
static int index_of(const pv_datasets *d, const char *name, size_t len)
{
    for (size_t i = 0; d && i < d->count; i++) {
        if (strlen(d->items[i].name) == len && memcmp(d->items[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

int pv_datasets_index(const pv_datasets *d, const char *name)
{
    return name ? index_of(d, name, strlen(name)) : -1;
}

const struct pv_dataset *pv_datasets_find(const pv_datasets *d, const char *name)
{
    int i = pv_datasets_index(d, name);
    return i < 0 ? NULL : &d->items[i];
}

int pv_datasets_from_dsn(const char *dsn, pv_datasets **out, pv_err *err)
{
    *out = NULL;
    if (!dsn)
        return pv_err_set(err, VOLLEY_EINVAL, "no DSN given");
    pv_datasets *d = calloc(1, sizeof(*d));
    if (!d)
        goto oom;
    struct pv_dataset *ds = add_dataset(d, "default", strlen("default"), 0);
    if (!ds)
        goto oom;
    ds->dsn = strdup(dsn);
    if (!ds->dsn)
        goto oom;
    *out = d;
    return 0;

oom:
    pv_datasets_destroy(d);
    return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
}

/* ---- parsing -------------------------------------------------------------- */

struct parse {
    const char *path;
    const char *pos; /* text not yet handed to libinih */
    const char *end;
    int lineno; /* lines handed out so far: the line libinih is working on */
    pv_datasets *d;
    bool in_section;     /* the last dataset is the current section */
    int key_line[NKEYS]; /* where each key of the current section was set, or 0 */
    int rc;              /* first error: 0, VOLLEY_EINPUT or VOLLEY_ENOMEM */
    int found_at;        /* the line being read when that error was found */
    int conc_max;        /* max_concurrency's upper bound */
    pv_err *err;
};

/*
 * Records the first error: "PATH:LINE: message", found while reading line
 * found_at. Returns 0 (libinih's "handler failed").
 */
static int vfail_at(struct parse *p, int line, int found_at, const char *fmt, va_list ap)
{
    if (p->rc != 0)
        return 0;
    char msg[PV_ERR_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    p->rc = pv_err_set(p->err, VOLLEY_EINPUT, "%s:%d: %s", p->path, line, msg);
    p->found_at = found_at;
    return 0;
}

static int fail_at(struct parse *p, int line, int found_at, const char *fmt, ...) PV_PRINTF(4, 5);
static int fail_at(struct parse *p, int line, int found_at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(p, line, found_at, fmt, ap);
    va_end(ap);
    return 0;
}

/* An error about the line being read. */
static int fail(struct parse *p, const char *fmt, ...) PV_PRINTF(2, 3);
static int fail(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(p, p->lineno, p->lineno, fmt, ap);
    va_end(ap);
    return 0;
}

static int fail_oom(struct parse *p)
{
    if (p->rc == 0) {
        p->rc = pv_err_set(p->err, VOLLEY_ENOMEM, "out of memory");
        p->found_at = p->lineno;
    }
    return 0;
}

/* Checks the current section once all its lines are read (found_at: the line being read). */
static int end_section(struct parse *p, int found_at)
{
    if (!p->in_section)
        return 1;
    p->in_section = false;
    const struct pv_dataset *ds = &p->d->items[p->d->count - 1];
    int line = p->d->lines[p->d->count - 1];
    if (!ds->dsn)
        return fail_at(p, line, found_at, "dataset '%s' has no dsn", ds->name);
    if (ds->pool_min > ds->pool_max) {
        int at = PV_MAX(p->key_line[KEY_POOL_MIN], p->key_line[KEY_POOL_MAX]);
        return fail_at(p, at, found_at, "pool_min (%d) is greater than pool_max (%d)", ds->pool_min,
                       ds->pool_max);
    }
    return 1;
}

/*
 * A "[name]" line (s[0] == '['; trimmed). Ends the current section and
 * starts the next one. Sets *keep to the length libinih should see (up to
 * and including ']'). Returns 0 on error.
 */
static int begin_section(struct parse *p, const char *s, size_t len, size_t *keep)
{
    const char *close = memchr(s, ']', len);
    if (!close)
        return fail(p, "missing ']' after the section name");
    const char *rest = close + 1;
    while (rest < s + len && (*rest == ' ' || *rest == '\t'))
        rest++;
    if (rest < s + len && *rest != ';' && *rest != '#')
        return fail(p, "unexpected text after ']'");
    const char *name = s + 1;
    size_t name_len = (size_t)(close - name);
    if (name_len == 0)
        return fail(p, "empty section name");
    if (name_len > NAME_MAX_LEN)
        return fail(p, "section name is longer than %d characters", NAME_MAX_LEN);
    if (!is_plain_name(name, name_len, NAME_MAX_LEN))
        return fail(p, "invalid section name (use only A-Z a-z 0-9 _ . -)");
    if (!end_section(p, p->lineno))
        return 0;
    int dup = index_of(p->d, name, name_len);
    if (dup >= 0)
        return fail(p, "duplicate dataset '%.*s' (first defined on line %d)", (int)name_len, name,
                    p->d->lines[dup]);
    if (!add_dataset(p->d, name, name_len, p->lineno))
        return fail_oom(p);
    p->in_section = true;
    memset(p->key_line, 0, sizeof(p->key_line));
    *keep = (size_t)(close - s) + 1;
    return 1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* libinih's reader: copies the next line, trimmed, into str (num bytes); NULL at the end or
 * after an error. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *p = stream;
    if (p->rc != 0 || p->pos >= p->end)
        return NULL;
    const char *s = p->pos;
    const char *nl = memchr(s, '\n', (size_t)(p->end - s));
    const char *e = nl ? nl : p->end;
    p->pos = nl ? nl + 1 : p->end;
    p->lineno++;
    if (memchr(s, '\0', (size_t)(e - s))) {
        fail(p, "the line contains a NUL byte");
        return NULL;
    }
    if (p->lineno == 1 && e - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* UTF-8 byte order mark */
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    size_t len = (size_t)(e - s);
    if (len > 0 && s[0] == '[' && !begin_section(p, s, len, &len))
        return NULL;
    if (num < 2 || len > (size_t)num - 1) {
        if (len > 0 && (s[0] == ';' || s[0] == '#')) {
            len = 1; /* a long comment is still a comment */
        } else {
            fail(p, "the line is longer than %d characters", num - 1);
            return NULL;
        }
    }
    memcpy(str, s, len);
    str[len] = '\0';
    return str;
}

/* libinih's handler for "name = value" (section: ignored, read_line keeps track). 1 = ok. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    (void)section;
    struct parse *p = user;
    if (p->rc != 0)
        return 0;
    size_t name_len = strlen(name);
    bool plain = is_plain_name(name, name_len, 40);
    if (name_len == 0)
        return fail(p, "missing key before '='");
    if (!p->in_section) {
        if (plain)
            return fail(p, "key '%s' is outside any section (start a dataset with [name])", name);
        return fail(p, "key outside any section (start a dataset with [name])");
    }
    struct pv_dataset *ds = &p->d->items[p->d->count - 1];
    size_t k = 0;
    while (k < NKEYS && strcmp(keys[k].name, name) != 0)
        k++;
    if (k == NKEYS) {
        if (plain)
            return fail(p, "unknown key '%s' in dataset '%s' (known keys: " KNOWN_KEYS ")", name,
                        ds->name);
        return fail(p, "unknown key in dataset '%s' (known keys: " KNOWN_KEYS ")", ds->name);
    }
    const struct key_def *kd = &keys[k];
    if (p->key_line[k] != 0)
        return fail(p, "duplicate key '%s' (first on line %d)", kd->name, p->key_line[k]);
    p->key_line[k] = p->lineno;

    switch (kd->kind) {
    case KEY_DSN:
        if (value[0] == '\0')
            return fail(p, "dsn is empty");
        {
            /* checked here, so that the message has the line (never the dsn) */
            pv_conninfo *ci = NULL;
            pv_err cerr = {{0}};
            int rc = pv_conninfo_create(value, NULL, &ci, &cerr);
            pv_conninfo_destroy(ci);
            if (rc == VOLLEY_ENOMEM)
                return fail_oom(p);
            if (rc != 0)
                return fail(p, "dataset '%s': the dsn does not parse: %s", ds->name, cerr.msg);
        }
        ds->dsn = strdup(value);
        if (!ds->dsn)
            return fail_oom(p);
        return 1;
    case KEY_TEXT: {
        char *copy = strdup(value);
        if (!copy)
            return fail_oom(p);
        free(ds->description);
        ds->description = copy;
        return 1;
    }
    case KEY_INT: {
        long long v = 0;
        bool too_long = false;
        int max = k == KEY_MAX_CONC ? p->conc_max : kd->max;
        if (!parse_decimal(value, &v, &too_long)) {
            bool hash = strchr(value, '#') != NULL;
            return fail(p, "%s must be a decimal integer from %d to %d%s", kd->name, kd->min, max,
                        hash ? " (inline comments start with ';')" : "");
        }
        if (too_long || v < kd->min || v > max)
            return fail(p, "%s must be from %d to %d, not %.24s%s", kd->name, kd->min, max, value,
                        strlen(value) > 24 ? "..." : "");
        *int_field(ds, kd) = (int)v;
        return 1;
    }
    case KEY_LIST: {
        char **list = NULL;
        int rc = split_list(value, &list);
        if (rc < 0)
            return fail_oom(p);
        if (rc > 0)
            return fail(p, "%s: an empty name in the list (names are separated by commas)",
                        kd->name);
        free_list(*list_field(ds, kd));
        *list_field(ds, kd) = list;
        return 1;
    }
    }
    return 1;
}

/* Parses len bytes of text read from path. */
static int parse_text(const char *path, const char *text, size_t len, int conc_max,
                      pv_datasets **out, pv_err *err)
{
    *out = NULL;
    struct parse p = {0};
    p.conc_max = conc_max;
    p.path = path;
    p.pos = text;
    p.end = text + len;
    p.err = err;
    p.d = calloc(1, sizeof(*p.d));
    if (!p.d)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");

    int bad_line = ini_parse_stream(read_line, &p, on_key, &p);
    if (bad_line == -2 || p.rc == VOLLEY_ENOMEM) {
        pv_datasets_destroy(p.d);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    if (p.rc == 0)
        end_section(&p, p.lineno + 1);
    int rc = p.rc;
    if (bad_line < 0) {
        rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot parse (libinih error %d)", path, bad_line);
    } else if (bad_line > 0 && (rc == 0 || bad_line < p.found_at)) {
        /* libinih's only syntax error here: a line that is neither [name], key = value nor a
         * comment (read_line checks the [name] lines). */
        rc = pv_err_set(err, VOLLEY_EINPUT, "%s:%d: expected 'key = value', '[name]' or a comment",
                        path, bad_line);
    } else if (rc == 0 && p.d->count == 0) {
        rc = pv_err_set(err, VOLLEY_EINPUT, "%s: no dataset (a dataset starts with a [name] line)",
                        path);
    }
    if (rc != 0) {
        pv_datasets_destroy(p.d);
        return rc;
    }
    *out = p.d;
    return 0;
}

int pv_datasets_parse(const char *path, const char *text, pv_datasets **out, pv_err *err)
{
    return parse_text(path, text, strlen(text), PV_DATASETS_MAX_CONCURRENCY, out, err);
}

int pv_datasets_load_max(const char *path, int max_concurrency_max, pv_datasets **out, pv_err *err)
{
    *out = NULL;
    pv_buf b = PV_BUF_INIT;
    int rc = pv_buf_read_file(&b, path, err);
    if (rc == 0)
        rc = parse_text(path, pv_buf_str(&b), b.len, max_concurrency_max, out, err);
    if (b.data)
        explicit_bzero(b.data, b.len); /* it holds DSNs */
    pv_buf_fini(&b);
    return rc;
}

int pv_datasets_load(const char *path, pv_datasets **out, pv_err *err)
{
    return pv_datasets_load_max(path, PV_DATASETS_MAX_CONCURRENCY, out, err);
}
