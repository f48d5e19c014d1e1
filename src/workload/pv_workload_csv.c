/*
 * pv_workload_csv.c - a PARAMETERS_FILE header: the CSV file it names
 * (RFC 4180, a header row) read into a pool of rows, one drawn per execution.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "workload/pv_workload_int.h"

/* ---- the header's value: FILE [(COLUMN, ...)] ------------------------------ */

struct colref {
    size_t start, end; /* the name in the workload file */
    int index;         /* its column in the CSV file */
};

struct file_spec {
    size_t name_start, name_end;
    struct colref *cols; /* NULL: every column, in order */
    size_t ncols, capcols;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_spec(const struct file *f, const struct header *h, struct file_spec *fs)
{
    const char *t = f->text;
    size_t at = h->value, end = h->value_end;
    while (at < end && is_blank(t[at]))
        at++;
    while (end > at && is_blank(t[end - 1]))
        end--;
    fs->name_start = at;
    const char *open = memchr(t + at, '(', end - at);
    size_t name_end = open ? (size_t)(open - t) : end;
    while (name_end > at && is_blank(t[name_end - 1]))
        name_end--;
    fs->name_end = name_end;
    if (name_end == at)
        return pv_workload__fail_at(f, at, "PARAMETERS_FILE needs a file name, like customers.csv");
    if (!open)
        return 0;
    size_t p = (size_t)(open - t) + 1;
    if (t[end - 1] != ')')
        return pv_workload__fail_at(f, end, "expected ')' at the end of the column list");
    size_t close = end - 1;
    for (;;) {
        while (p < close && is_blank(t[p]))
            p++;
        size_t s = p;
        while (p < close && t[p] != ',')
            p++;
        size_t e = p;
        while (e > s && is_blank(t[e - 1]))
            e--;
        if (e == s)
            return pv_workload__fail_at(f, s, "expected a column name");
        if (memchr(t + s, '(', e - s) || memchr(t + s, ')', e - s))
            return pv_workload__fail_at(f, s, "a column name cannot hold '(' or ')'");
        if (pv_workload__grow((void **)&fs->cols, &fs->capcols, fs->ncols + 1, sizeof(*fs->cols)) !=
            0)
            return pv_workload__oom(f);
        fs->cols[fs->ncols++] = (struct colref){s, e, -1};
        if (p >= close)
            return 0;
        p++; /* ',' */
    }
}

/* The CSV file's path: name as given if absolute, else beside the workload file. */
static char *csv_path(const struct file *f, const struct file_spec *fs)
{
    const char *name = f->text + fs->name_start;
    size_t n = fs->name_end - fs->name_start;
    const char *slash = strrchr(f->path, '/');
    pv_buf b = PV_BUF_INIT;
    if (name[0] != '/' && slash)
        pv_buf_append(&b, f->path, (size_t)(slash - f->path) + 1);
    pv_buf_append(&b, name, n);
    if (pv_buf_ok(&b) != 0) {
        pv_buf_fini(&b);
        return NULL;
    }
    return b.data;
}

/* ---- CSV records ---------------------------------------------------------- */

/* One record: its fields' text, each NUL-terminated, in fb; offsets in off (SIZE_MAX = NULL). */
struct record {
    pv_buf fb;
    size_t *off;
    size_t n, cap;
    size_t start; /* the record's first byte in the CSV text */
};

static int add_field(struct record *r, size_t off)
{
    if (pv_workload__grow((void **)&r->off, &r->cap, r->n + 1, sizeof(*r->off)) != 0)
        return VOLLEY_ENOMEM;
    r->off[r->n++] = off;
    return 0;
}

/*
 * Reads the record at *pos of cf's text into r; *pos moves past its line
 * end. An empty line gives a record of no field.
 */
static int read_record(const struct file *cf, size_t *pos, struct record *r)
{
    const char *t = cf->text;
    size_t i = *pos, n = cf->len;
    pv_buf_reset(&r->fb);
    r->n = 0;
    r->start = i;
    if (i < n && (t[i] == '\n' || (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n'))) {
        *pos = i + (t[i] == '\r' ? 2 : 1);
        return 0;
    }
    for (;;) {
        size_t off = r->fb.len;
        if (i < n && t[i] == '"') {
            size_t open = i++;
            for (;;) {
                if (i >= n)
                    return pv_workload__fail_at(cf, open, "unterminated quoted field");
                if (t[i] == '"' && i + 1 < n && t[i + 1] == '"') {
                    pv_buf_putc(&r->fb, '"');
                    i += 2;
                } else if (t[i] == '"') {
                    i++;
                    break;
                } else {
                    pv_buf_putc(&r->fb, t[i++]);
                }
            }
            if (i < n && t[i] != ',' && t[i] != '\n' &&
                !(t[i] == '\r' && i + 1 < n && t[i + 1] == '\n'))
                return pv_workload__fail_at(cf, i,
                                            "expected ',' or the end of the line after a "
                                            "closing quote");
        } else {
            size_t s = i;
            while (i < n && t[i] != ',' && t[i] != '\n' &&
                   !(t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')) {
                if (t[i] == '"')
                    return pv_workload__fail_at(cf, i,
                                                "quote inside an unquoted field (quote the "
                                                "whole field and double the quote)");
                i++;
            }
            if (i == s)
                off = SIZE_MAX; /* empty unquoted: NULL */
            else
                pv_buf_append(&r->fb, t + s, i - s);
        }
        if (off != SIZE_MAX)
            pv_buf_putc(&r->fb, '\0');
        if (pv_buf_ok(&r->fb) != 0 || add_field(r, off) != 0)
            return pv_workload__oom(cf);
        if (i < n && t[i] == ',') {
            i++;
            continue;
        }
        if (i < n)
            i += t[i] == '\r' ? 2 : 1;
        *pos = i;
        return 0;
    }
}

static const char *field(const struct record *r, size_t k)
{
    return r->off[k] == SIZE_MAX ? NULL : r->fb.data + r->off[k];
}

/* Maps fs's columns to the header record's; every column when fs names none. */
static int map_columns(const struct file *f, const struct file *cf, struct file_spec *fs,
                       const struct record *hdr, int nparams)
{
    if (!fs->cols) {
        if (hdr->n != (size_t)nparams)
            return pv_workload__fail_at(
                f, fs->name_start,
                "%s has %zu column%s but the query has %d placeholder%s (name the columns to "
                "use: FILE (col1, col2))",
                cf->path, hdr->n, pv_workload__plural((long)hdr->n), nparams,
                pv_workload__plural(nparams));
        return 0;
    }
    if (fs->ncols != (size_t)nparams)
        return pv_workload__fail_at(f, fs->cols[0].start,
                                    "PARAMETERS_FILE names %zu column%s but the query has %d "
                                    "placeholder%s",
                                    fs->ncols, pv_workload__plural((long)fs->ncols), nparams,
                                    pv_workload__plural(nparams));
    for (size_t i = 0; i < fs->ncols; i++) {
        struct colref *c = &fs->cols[i];
        size_t len = c->end - c->start;
        for (size_t k = 0; k < hdr->n; k++) {
            const char *name = field(hdr, k);
            if (name && strlen(name) == len && memcmp(name, f->text + c->start, len) == 0) {
                if (c->index >= 0)
                    return pv_workload__fail_at(f, c->start,
                                                "column \"%.*s\" appears more than once in the "
                                                "header row of %s",
                                                pv_workload__quote_len(name, len), name, cf->path);
                c->index = (int)k;
            }
        }
        if (c->index < 0)
            return pv_workload__fail_at(f, c->start, "no column \"%.*s\" in the header row of %s",
                                        pv_workload__quote_len(f->text + c->start, len),
                                        f->text + c->start, cf->path);
    }
    return 0;
}

/* {"file":"x.csv","columns":["a","b"],"rows":N} */
static char *csv_json(const struct file *f, const struct file_spec *fs, const struct record *hdr,
                      size_t nrows)
{
    json_t *cols = json_array();
    for (size_t i = 0; cols && i < (fs->cols ? fs->ncols : hdr->n); i++) {
        const char *name = field(hdr, fs->cols ? (size_t)fs->cols[i].index : i);
        if (json_array_append_new(cols, name ? json_string(name) : json_null()) != 0) {
            json_decref(cols);
            cols = NULL;
        }
    }
    json_t *file = json_stringn(f->text + fs->name_start, fs->name_end - fs->name_start);
    json_t *o = cols && file ? json_pack("{sOsOsI}", "file", file, "columns", cols, "rows",
                                         (json_int_t)nrows)
                             : NULL;
    json_decref(file);
    json_decref(cols);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* The rows of cf after its header row into src (cells in placeholder order). */
static int read_rows(const struct file *cf, size_t pos, const struct file_spec *fs,
                     const struct record *hdr, struct pv_param_source *src)
{
    struct record r = {0};
    pv_buf text = PV_BUF_INIT;
    size_t *offs = NULL, noffs = 0, capoffs = 0;
    int rc = 0, np = src->nparams;
    while (rc == 0 && pos < cf->len) {
        rc = read_record(cf, &pos, &r);
        if (rc != 0 || r.n == 0)
            continue;
        if (r.n != hdr->n) {
            rc = pv_workload__fail_at(cf, r.start,
                                      "this row has %zu field%s but the header row has %zu", r.n,
                                      pv_workload__plural((long)r.n), hdr->n);
            break;
        }
        if (pv_workload__grow((void **)&offs, &capoffs, noffs + (size_t)np, sizeof(*offs)) != 0) {
            rc = pv_workload__oom(cf);
            break;
        }
        for (int i = 0; i < np; i++) {
            const char *v = field(&r, fs->cols ? (size_t)fs->cols[i].index : (size_t)i);
            offs[noffs++] = v ? text.len : SIZE_MAX;
            if (v)
                pv_buf_append(&text, v, strlen(v) + 1);
        }
        src->nrows++;
    }
    if (rc == 0 && src->nrows == 0)
        rc = pv_workload__fail(cf, VOLLEY_EINPUT, 0, 0, "no data row after the header row");
    if (rc == 0 && pv_buf_ok(&text) != 0)
        rc = pv_workload__oom(cf);
    if (rc == 0) {
        src->cells = malloc(noffs * sizeof(*src->cells));
        if (!src->cells)
            rc = pv_workload__oom(cf);
    }
    if (rc == 0) {
        src->text = text.data; /* ownership moves to src */
        text.data = NULL;
        for (size_t i = 0; i < noffs; i++)
            src->cells[i] = offs[i] == SIZE_MAX ? NULL : src->text + offs[i];
    }
    pv_buf_fini(&text);
    pv_buf_fini(&r.fb);
    free(r.off);
    free(offs);
    return rc;
}

/* The CSV text cf (checked) into src; the header row is checked against fs. */
static int load_rows(const struct file *f, const struct file *cf, struct file_spec *fs,
                     struct pv_param_source *src, char **json)
{
    struct record hdr = {0};
    size_t pos = 0;
    int rc = 0;
    do { /* the header row is the first that is not empty */
        rc = pos < cf->len ? read_record(cf, &pos, &hdr)
                           : pv_workload__fail(cf, VOLLEY_EINPUT, 0, 0,
                                               "empty file; the first row names the columns");
    } while (rc == 0 && hdr.n == 0);
    if (rc == 0)
        rc = map_columns(f, cf, fs, &hdr, src->nparams);
    if (rc == 0)
        rc = read_rows(cf, pos, fs, &hdr, src);
    if (rc == 0) {
        *json = csv_json(f, fs, &hdr, src->nrows);
        if (!*json)
            rc = pv_workload__oom(f);
    }
    pv_buf_fini(&hdr.fb);
    free(hdr.off);
    return rc;
}

int pv_workload__load_csv(const struct file *f, const struct header *h, struct pv_query *q)
{
    struct file_spec fs = {0};
    struct pv_param_source *src = NULL;
    char *path = NULL, *text = NULL, *json = NULL;
    size_t len = 0;
    int rc = parse_spec(f, h, &fs);
    if (rc != 0)
        goto out;
    path = csv_path(f, &fs);
    src = calloc(1, sizeof(*src));
    if (!path || !src) {
        rc = pv_workload__oom(f);
        goto out;
    }
    pv_err e;
    rc = pv_workload__read_file(path, PV_WORKLOAD_MAX_CSV_BYTES, &text, &len, &e);
    if (rc != 0) {
        int line, col;
        pv_workload__linecol(f->text, fs.name_start, &line, &col);
        rc = pv_workload__fail(f, rc, line, col, "PARAMETERS_FILE: %s", e.msg);
        goto out;
    }
    /* The CSV file's own errors name it: "PATH:LINE:COL: what". */
    struct file cf = {.w = f->w, .path = path, .text = text, .len = len, .err = f->err};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        cf.text += 3;
        cf.len -= 3;
    }
    rc = pv_workload__check_content(&cf);
    if (rc != 0)
        goto out;
    src->nparams = q->nparams;
    rc = load_rows(f, &cf, &fs, src, &json);
    if (rc != 0)
        goto out;
    rc = pv_workload__drawn_scenario(f, q, "csv", src, json);
    src = NULL; /* q's now */
out:
    pv_workload__source_free(src);
    free(fs.cols);
    free(path);
    free(text);
    return rc;
}
