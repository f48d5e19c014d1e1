/* pv_report_multi.c - the Markdown and JSON results of a multi-query batch. */
#include "report/pv_report_multi.h"
#include "report/pv_render.h"

#include <stdio.h>

/* A label for query i: its own, or "Query i". */
static void label_of(const struct pv_multi_request *req, size_t i, char *buf, size_t cap)
{
    const char *l = req->queries[i].label;
    if (l && *l)
        snprintf(buf, cap, "%s", l);
    else
        snprintf(buf, cap, "Query %zu", i + 1);
}

void pv_report_result_table(pv_buf *out, const struct pv_bresult *r)
{
    if (r->ncols <= 0)
        return;
    pv_buf_puts(out, "|");
    for (int c = 0; c < r->ncols; c++) {
        pv_buf_putc(out, ' ');
        pv_render_md_cell(out, r->cols[c], PV_REPORT_NAME_MAX);
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
            pv_render_md_cell(out, r->cells[row * (size_t)r->ncols + (size_t)c],
                              PV_REPORT_CELL_MAX);
            pv_buf_puts(out, " |");
        }
        pv_buf_putc(out, '\n');
    }
}

int pv_report_multi_markdown(const struct pv_multi_request *req, const struct pv_bresult *res,
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
        pv_render_md_cell(out, label, PV_REPORT_NAME_MAX);
        pv_buf_puts(out, "\n\n");
        if (!r->ok) {
            pv_buf_printf(out, "**Error** (SQLSTATE %s): ", r->sqlstate);
            pv_render_md_cell(out, r->message ? r->message : "", 2000);
            pv_buf_printf(out, "\n\n**Time**: %.0fms | **Dataset**: %s\n\n", r->ms, d->name);
            pv_render_md_code(out, "sql", req->queries[i].sql);
            continue;
        }
        pv_buf_printf(out, "**Rows**: %zu%s | **Time**: %.0fms | **Dataset**: %s\n\n", r->nrows,
                      r->truncated ? " (truncated)" : "", r->ms, d->name);
        if (r->ncols == 0) {
            pv_buf_puts(out, "_No columns._\n");
            continue;
        }
        pv_report_result_table(out, r);
        if (r->truncated)
            pv_buf_printf(out, "\n_Truncated at %d rows (max_rows of dataset %s)._\n", d->max_rows,
                          d->name);
    }
    return pv_buf_ok(out);
}

json_t *pv_report_multi_json(const struct pv_multi_request *req, const struct pv_bresult *res,
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
            bad |= json_array_append_new(cols, pv_render_json_str(r->cols[c]));
            bad |= json_array_append_new(types, pv_render_json_str(r->types[c]));
        }
        for (size_t row = 0; row < r->nrows; row++) {
            json_t *a = json_array();
            for (int c = 0; a && c < r->ncols; c++) {
                const char *v = r->cells[row * (size_t)r->ncols + (size_t)c];
                /* null is SQL NULL only: text that is not UTF-8 is repaired */
                bad |= json_array_append_new(a, v ? pv_render_json_str(v) : json_null());
            }
            bad |= json_array_append_new(rows, a);
        }
        bad |= json_object_set_new(o, "label", pv_render_json_str(label));
        bad |= json_object_set_new(o, "dataset", pv_render_json_str(d->name));
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
            bad |= json_object_set_new(e, "sqlstate", pv_render_json_str(r->sqlstate));
            bad |= json_object_set_new(e, "message", pv_render_json_str(r->message));
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
