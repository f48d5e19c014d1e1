/* pv_multi.c - the multi-query request, and its Markdown and JSON results. */
#include "multi/pv_multi.h"

#include <stdlib.h>
#include <string.h>

int pv_multi_request_parse(json_t *root, const pv_datasets *ds, size_t max_queries,
                           struct pv_multi_request *out, pv_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *qs = json_is_object(root) ? json_object_get(root, "queries") : NULL;
    if (!json_is_array(qs))
        return pv_err_set(err, VOLLEY_EINPUT, "the request needs a \"queries\" array");
    size_t n = json_array_size(qs);
    if (n == 0)
        return pv_err_set(err, VOLLEY_EINPUT, "\"queries\" is empty");
    if (n > max_queries)
        return pv_err_set(err, VOLLEY_EINPUT, "%zu queries; at most %zu in one call", n,
                          max_queries);
    size_t nds = pv_datasets_count(ds);
    struct pv_bquery *q = calloc(n, sizeof(*q));
    if (!q)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(qs, i);
        int rc = VOLLEY_EINPUT;
        if (!json_is_object(o)) {
            pv_err_set(err, rc, "queries[%zu]: not an object", i);
            goto fail;
        }
        json_t *sql = json_object_get(o, "query");
        if (!json_is_string(sql) || json_string_length(sql) == 0) {
            pv_err_set(err, rc, "queries[%zu]: \"query\" must be a non-empty string", i);
            goto fail;
        }
        if (strlen(json_string_value(sql)) != json_string_length(sql)) {
            pv_err_set(err, rc, "queries[%zu]: \"query\" contains a NUL character", i);
            goto fail;
        }
        json_t *label = json_object_get(o, "label");
        if (label && !json_is_string(label) && !json_is_null(label)) {
            pv_err_set(err, rc, "queries[%zu]: \"label\" must be a string", i);
            goto fail;
        }
        json_t *dname = json_object_get(o, "dataset");
        json_t *did = json_object_get(o, "dataset_id");
        int idx = -1;
        if (dname && !json_is_null(dname)) {
            if (!json_is_string(dname)) {
                pv_err_set(err, rc, "queries[%zu]: \"dataset\" must be a dataset name", i);
                goto fail;
            }
            idx = pv_datasets_index(ds, json_string_value(dname));
            if (idx < 0) {
                pv_err_set(err, rc, "queries[%zu]: unknown dataset '%.64s'", i,
                           json_string_value(dname));
                goto fail;
            }
        } else if (did && !json_is_null(did)) {
            if (!json_is_integer(did) || json_integer_value(did) < 1 ||
                (size_t)json_integer_value(did) > nds) {
                pv_err_set(err, rc, "queries[%zu]: \"dataset_id\" must be 1..%zu", i, nds);
                goto fail;
            }
            idx = (int)json_integer_value(did) - 1;
        } else if (nds == 1) {
            idx = 0;
        } else {
            pv_err_set(err, rc, "queries[%zu]: no \"dataset\" given and there are %zu datasets", i,
                       nds);
            goto fail;
        }
        q[i].dataset = idx;
        q[i].sql = json_string_value(sql);
        q[i].label = json_is_string(label) ? json_string_value(label) : NULL;
    }
    out->n = n;
    out->queries = q;
    out->json = json_incref(root);
    return 0;
fail:
    free(q);
    return VOLLEY_EINPUT;
}

void pv_multi_request_fini(struct pv_multi_request *r)
{
    free(r->queries);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* A label for query i: its own, or "Query i". */
static void label_of(const struct pv_multi_request *req, size_t i, char *buf, size_t cap)
{
    const char *l = req->queries[i].label;
    if (l && *l)
        snprintf(buf, cap, "%s", l);
    else
        snprintf(buf, cap, "Query %zu", i + 1);
}

/* Appends s as one Markdown table cell: no newlines, pipes escaped. */
static void md_cell(pv_buf *o, const char *s, size_t max)
{
    if (!s) {
        pv_buf_puts(o, "_NULL_");
        return;
    }
    size_t n = 0;
    for (const char *p = s; *p && n < max; p++, n++) {
        if (*p == '|')
            pv_buf_puts(o, "\\|");
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            pv_buf_putc(o, ' ');
        else
            pv_buf_putc(o, *p);
    }
    if (strlen(s) > max)
        pv_buf_puts(o, "...");
}

int pv_multi_markdown(const struct pv_multi_request *req, const struct pv_bresult *res,
                      const pv_datasets *ds, double wall_ms, pv_buf *out)
{
    size_t ok = 0;
    for (size_t i = 0; i < req->n; i++)
        ok += res[i].ok;
    pv_buf_puts(out, "# Multi-Query Results\n\n");
    pv_buf_printf(out, "**Total Queries**: %zu\n", req->n);
    pv_buf_printf(out, "**Successful**: %zu\n", ok);
    pv_buf_printf(out, "**Failed**: %zu\n", req->n - ok);
    pv_buf_printf(out, "**Total Execution Time**: %.0fms\n\n", wall_ms);
    pv_buf_printf(out, "_Executed in parallel: %zu queries in %.0fms._\n", req->n, wall_ms);
    for (size_t i = 0; i < req->n; i++) {
        const struct pv_bresult *r = &res[i];
        const struct pv_dataset *d = pv_datasets_get(ds, (size_t)req->queries[i].dataset);
        char label[256];
        label_of(req, i, label, sizeof(label));
        pv_buf_puts(out, "\n---\n\n## ");
        pv_buf_printf(out, "%zu. ", i + 1);
        md_cell(out, label, 200);
        pv_buf_puts(out, "\n\n");
        if (!r->ok) {
            pv_buf_printf(out, "**Error** (SQLSTATE %s): ", r->sqlstate);
            md_cell(out, r->message ? r->message : "", 2000);
            pv_buf_printf(out, "\n\n**Time**: %.0fms | **Dataset**: %s\n\n", r->ms, d->name);
            pv_buf_puts(out, "```sql\n");
            pv_buf_puts(out, req->queries[i].sql);
            pv_buf_puts(out, "\n```\n");
            continue;
        }
        pv_buf_printf(out, "**Rows**: %zu%s | **Time**: %.0fms | **Dataset**: %s\n\n", r->nrows,
                      r->truncated ? " (truncated)" : "", r->ms, d->name);
        if (r->ncols == 0) {
            pv_buf_puts(out, "_No columns._\n");
            continue;
        }
        pv_buf_puts(out, "|");
        for (int c = 0; c < r->ncols; c++) {
            pv_buf_putc(out, ' ');
            md_cell(out, r->cols[c], 200);
            pv_buf_puts(out, " |");
        }
        pv_buf_puts(out, "\n|");
        for (int c = 0; c < r->ncols; c++)
            pv_buf_puts(out, "---|");
        pv_buf_putc(out, '\n');
        for (size_t row = 0; row < r->nrows; row++) {
            pv_buf_puts(out, "|");
            for (int c = 0; c < r->ncols; c++) {
                pv_buf_putc(out, ' ');
                md_cell(out, r->cells[row * (size_t)r->ncols + (size_t)c], 500);
                pv_buf_puts(out, " |");
            }
            pv_buf_putc(out, '\n');
        }
        if (r->truncated)
            pv_buf_printf(out, "\n_Truncated at %d rows (max_rows of dataset %s)._\n", d->max_rows,
                          d->name);
    }
    return pv_buf_ok(out);
}

json_t *pv_multi_json(const struct pv_multi_request *req, const struct pv_bresult *res,
                      const pv_datasets *ds, double wall_ms)
{
    size_t ok = 0;
    for (size_t i = 0; i < req->n; i++)
        ok += res[i].ok;
    json_t *root = json_object();
    json_t *results = json_array();
    if (!root || !results)
        goto oom;
    int bad = 0;
    bad |= json_object_set_new(root, "total", json_integer((json_int_t)req->n));
    bad |= json_object_set_new(root, "succeeded", json_integer((json_int_t)ok));
    bad |= json_object_set_new(root, "failed", json_integer((json_int_t)(req->n - ok)));
    bad |= json_object_set_new(root, "wall_ms", json_real(wall_ms));
    for (size_t i = 0; i < req->n; i++) {
        const struct pv_bresult *r = &res[i];
        const struct pv_dataset *d = pv_datasets_get(ds, (size_t)req->queries[i].dataset);
        char label[256];
        label_of(req, i, label, sizeof(label));
        json_t *o = json_object();
        json_t *cols = json_array();
        json_t *types = json_array();
        json_t *rows = json_array();
        if (!o || !cols || !types || !rows) {
            json_decref(o);
            json_decref(cols);
            json_decref(types);
            json_decref(rows);
            goto oom;
        }
        for (int c = 0; c < r->ncols; c++) {
            bad |= json_array_append_new(cols, json_string(r->cols[c]));
            bad |= json_array_append_new(types, json_string(r->types[c]));
        }
        for (size_t row = 0; row < r->nrows; row++) {
            json_t *a = json_array();
            for (int c = 0; a && c < r->ncols; c++) {
                const char *v = r->cells[row * (size_t)r->ncols + (size_t)c];
                /* values that are not valid UTF-8 come back as null */
                json_t *jv = v ? json_string(v) : json_null();
                bad |= json_array_append_new(a, jv ? jv : json_null());
            }
            bad |= json_array_append_new(rows, a);
        }
        bad |= json_object_set_new(o, "label", json_string(label));
        bad |= json_object_set_new(o, "dataset", json_string(d->name));
        bad |= json_object_set_new(o, "ok", json_boolean(r->ok));
        bad |= json_object_set_new(o, "columns", cols);
        bad |= json_object_set_new(o, "types", types);
        bad |= json_object_set_new(o, "rows", rows);
        bad |= json_object_set_new(o, "row_count", json_integer((json_int_t)r->nrows));
        bad |= json_object_set_new(o, "truncated", json_boolean(r->truncated));
        bad |= json_object_set_new(o, "ms", json_real(r->ms));
        if (r->ok) {
            bad |= json_object_set_new(o, "error", json_null());
        } else {
            json_t *e = json_object();
            bad |= json_object_set_new(e, "sqlstate", json_string(r->sqlstate));
            json_t *m = json_string(r->message ? r->message : "");
            bad |= json_object_set_new(e, "message", m ? m : json_string("(not UTF-8)"));
            bad |= json_object_set_new(o, "error", e);
        }
        bad |= json_array_append_new(results, o);
    }
    bad |= json_object_set_new(root, "results", results);
    results = NULL;
    if (bad)
        goto oom;
    return root;
oom:
    json_decref(results);
    json_decref(root);
    return NULL;
}
