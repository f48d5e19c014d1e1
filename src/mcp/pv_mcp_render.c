/*
 * pv_mcp_render.c - rendering of the MCP tools' results: the tool-result
 * envelope and its error form, and the answers of list_available_datasets, query_dataset,
 * get_dataset_sample and execute_multi_query (the schema's Markdown is in
 * pv_mcp_schema.c).
 *
 * Markdown cells and code blocks and JSON strings are the report area's
 * (report/pv_render.h), as for every other writer.
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "mcp/pv_mcp_int.h"

const char *pv_mcp__dataset_name(pv_mcp *m, int i)
{
    return pv_datasets_get(m->ds, (size_t)i)->name;
}

void pv_mcp__put_dataset_names(pv_buf *b, const pv_datasets *ds)
{
    for (size_t i = 0; i < pv_datasets_count(ds); i++)
        pv_buf_printf(b, "%s%s", i ? ", " : "", pv_datasets_get(ds, i)->name);
}

/* {"message": msg, "sqlstate": sqlstate|null} */
static json_t *error_obj(const char *sqlstate, const char *msg)
{
    return json_pack("{s:o, s:s?}", "message", pv_render_json_str(msg), "sqlstate",
                     sqlstate && *sqlstate ? sqlstate : NULL);
}

json_t *pv_mcp__tool_result(const char *md, json_t *sc, bool is_error)
{
    return json_pack("{s:[{s:s, s:o}], s:o, s:b}", "content", "type", "text", "text",
                     pv_render_json_str(md), "structuredContent", sc ? sc : json_object(),
                     "isError", is_error);
}

json_t *pv_mcp__tool_fail(json_t *base, const char *sqlstate, const char *fmt, ...)
{
    pv_buf b = PV_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    pv_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (!base)
        base = json_object();
    json_object_set_new(base, "error", error_obj(sqlstate, pv_buf_str(&b)));
    bool has_state = sqlstate && *sqlstate;
    pv_buf md = PV_BUF_INIT;
    pv_buf_printf(&md, "**Error**%s%s%s: %s\n", has_state ? " (SQLSTATE " : "",
                  has_state ? sqlstate : "", has_state ? ")" : "", pv_buf_str(&b));
    json_t *r = pv_mcp__tool_result(pv_buf_str(&md), base, true);
    pv_buf_fini(&b);
    pv_buf_fini(&md);
    return r;
}

json_t *pv_mcp__render_datasets(pv_mcp *m, int level)
{
    pv_buf md = PV_BUF_INIT;
    json_t *arr = json_array();
    size_t n = pv_datasets_count(m->ds);
    pv_buf_printf(&md, "# Available datasets\n\n%zu dataset%s. Pass a name as \"dataset\".\n\n", n,
                  n == 1 ? "" : "s");
    pv_buf_puts(&md, "| id | name | description | max rows |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < n; i++) {
        const struct pv_dataset *d = pv_datasets_get(m->ds, i);
        pv_buf_printf(&md, "| %zu | ", i + 1);
        pv_render_md_cell(&md, d->name, 0);
        pv_buf_puts(&md, " | ");
        pv_render_md_cell(&md, d->description && *d->description ? d->description : "-", 0);
        pv_buf_printf(&md, " | %d |\n", d->max_rows);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:i, s:i}", "id", (json_int_t)i + 1, "name", d->name,
                           "description", d->description ? d->description : "", "max_rows",
                           d->max_rows, "statement_timeout_ms", d->statement_timeout_ms));
    }
    json_t *sc = level == PV_MCP__LEVEL_NONE
                     ? json_pack("{s:o}", "datasets", arr)
                     : json_pack("{s:i, s:o}", "level", level, "datasets", arr);
    json_t *r = pv_buf_ok(&md) == 0 && sc ? pv_mcp__tool_result(pv_buf_str(&md), sc, false) : NULL;
    if (!r)
        json_decref(sc);
    pv_buf_fini(&md);
    return r;
}

/* The truncation's reason and, for query_dataset, the next page's cursor (into sc and md). */
static void put_truncation(pv_mcp *m, struct pv_mcp__call *c, json_t *sc, pv_buf *md, bool by_bytes,
                           bool sample)
{
    const struct pv_bresult *r = &c->res[0];
    const struct pv_bquery *q = &c->req.queries[0];
    const struct pv_dataset *d = pv_datasets_get(m->ds, (size_t)q->dataset);
    json_object_set_new(sc, "truncated_reason",
                        !r->truncated ? json_null()
                        : by_bytes    ? json_string("max_bytes")
                        : sample      ? json_string("limit")
                                      : json_string("max_rows"));
    if (c->page_query)
        json_object_set_new(sc, "offset", json_integer((json_int_t)c->page_offset));
    if (!r->truncated || sample) {
        if (!sample)
            json_object_set_new(sc, "cursor", json_null());
        return;
    }
    char id[PV_MCP__CURSOR_ID_LEN] = "";
    size_t next = c->page_offset + r->nrows;
    bool have =
        r->nrows > 0 &&
        pv_mcp__cursor_put(m, d->name, c->page_query ? c->page_query : q->sql, q->label, next, id);
    json_object_set_new(sc, "cursor", have ? json_string(id) : json_null());
    if (by_bytes && r->nrows == 0)
        pv_buf_printf(md,
                      "\n_Truncated: the first row alone is over the dataset's max_bytes (%d); "
                      "select fewer or shorter columns._\n",
                      d->max_bytes);
    else if (by_bytes)
        pv_buf_printf(md,
                      "\n_Truncated: only the first %zu rows are shown (the dataset's max_bytes, "
                      "%d)._\n",
                      r->nrows, d->max_bytes);
    else
        pv_buf_printf(md,
                      "\n_Truncated: only the first %zu rows are shown (the dataset's "
                      "max_rows). Aggregate in SQL or add a LIMIT._\n",
                      r->nrows);
    if (have)
        pv_buf_printf(md,
                      "_Next page: call fetch_next_page with {\"cursor\": \"%s\"} (it runs the "
                      "query again with OFFSET %zu; add an ORDER BY for stable pages)._\n",
                      id, next);
}

/* One query's answer: Markdown and structured (query_dataset, sample, fetch_next_page). */
static json_t *render_single(pv_mcp *m, struct pv_mcp__call *c, double wall_ms, bool sample)
{
    const struct pv_bresult *r = &c->res[0];
    const struct pv_bquery *q = &c->req.queries[0];
    size_t budget = (size_t)pv_datasets_get(m->ds, (size_t)q->dataset)->max_bytes;
    bool by_bytes = pv_mcp__budget_trim(&c->res[0], &budget);
    json_t *all = pv_report_multi_json(&c->req, c->res, m->ds, wall_ms);
    json_t *sc = json_incref(json_array_get(json_object_get(all, "results"), 0));
    json_decref(all);
    if (!sc)
        return NULL;
    if (sample) {
        json_object_set_new(sc, "table", json_string(c->table));
        json_object_set_new(sc, "limit", json_integer(c->limit));
    }
    const char *dsname = pv_mcp__dataset_name(m, q->dataset);
    const char *shown_sql = c->page_query ? c->page_query : q->sql;
    pv_buf md = PV_BUF_INIT;
    if (!r->ok) {
        pv_buf_printf(&md, "# %s failed\n\n**Dataset**: %s | **SQLSTATE**: %s\n\n**Error**: %s\n\n",
                      sample ? "Sample" : "Query", dsname, r->sqlstate,
                      r->message ? r->message : "unknown error");
        pv_buf_puts(&md, "**Query**:\n\n");
        pv_render_md_code(&md, "sql", shown_sql);
    } else {
        if (sample) {
            pv_buf_puts(&md, "# Sample of ");
            pv_render_md_cell(&md, c->table, 0);
        } else {
            pv_buf_puts(&md, "# ");
            pv_render_md_cell(&md, q->label && *q->label ? q->label : "Query result", 0);
        }
        pv_buf_printf(&md, "\n\n**Rows**: %zu | **Time**: %.1f ms | **Dataset**: %s\n\n", r->nrows,
                      r->ms, dsname);
        if (c->page_query)
            pv_buf_printf(&md, "Rows %zu to %zu of the query.\n\n", c->page_offset + 1,
                          c->page_offset + r->nrows);
        char boundary[PV_MCP__CURSOR_ID_LEN];
        pv_mcp__untrusted_begin(&md, boundary);
        pv_report_result_table(&md, r);
        pv_mcp__untrusted_end(&md, boundary);
        put_truncation(m, c, sc, &md, by_bytes, sample);
    }
    json_t *res = pv_buf_ok(&md) == 0 ? pv_mcp__tool_result(pv_buf_str(&md), sc, !r->ok) : NULL;
    if (!res)
        json_decref(sc);
    pv_buf_fini(&md);
    return res;
}

json_t *pv_mcp__render_query(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    return render_single(m, c, wall_ms, false);
}

json_t *pv_mcp__render_sample(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    return render_single(m, c, wall_ms, true);
}

json_t *pv_mcp__render_multi(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    /* One budget for the call: each result gets what the earlier ones left
       (the smallest max_bytes of the datasets involved). */
    size_t budget = SIZE_MAX;
    for (size_t i = 0; i < c->n; i++)
        budget = PV_MIN(
            budget, (size_t)pv_datasets_get(m->ds, (size_t)c->req.queries[i].dataset)->max_bytes);
    bool trimmed = false;
    for (size_t i = 0; i < c->n; i++)
        trimmed |= pv_mcp__budget_trim(&c->res[i], &budget);
    pv_buf md = PV_BUF_INIT;
    char boundary[PV_MCP__CURSOR_ID_LEN];
    pv_mcp__untrusted_begin(&md, boundary);
    if (pv_report_multi_markdown(&c->req, c->res, m->ds, wall_ms, &md) != 0) {
        pv_buf_fini(&md);
        return NULL;
    }
    pv_mcp__untrusted_end(&md, boundary);
    if (trimmed)
        pv_buf_puts(&md, "\n_Some results were cut to fit the response's byte budget (max_bytes); "
                         "run a query alone with query_dataset to page through it._\n");
    json_t *sc = pv_report_multi_json(&c->req, c->res, m->ds, wall_ms);
    json_t *r = sc ? pv_mcp__tool_result(pv_buf_str(&md), sc, false) : NULL;
    pv_buf_fini(&md);
    return r;
}
