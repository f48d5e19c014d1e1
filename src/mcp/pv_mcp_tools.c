/*
 * pv_mcp_tools.c - the MCP tool handlers: each checks its arguments (an
 * invalid one is a JSON-RPC -32602 error), answers at once what needs no
 * database, and otherwise builds the queries and starts the call. The
 * rows that name them are in pv_mcp_catalog.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/pv_mcp_int.h"

/* ==== argument checks ================================================== */

static int bad_arg(struct pv_mcp__argerr *e, const char *tool, const char *fmt, ...)
    PV_PRINTF(3, 4);
static int bad_arg(struct pv_mcp__argerr *e, const char *tool, const char *fmt, ...)
{
    int n = snprintf(e->msg, sizeof(e->msg), "invalid arguments for tool %s: ", tool);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(e->msg))
        vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int arg_str(json_t *args, const char *tool, const char *key, bool required, const char **out,
                   struct pv_mcp__argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = NULL;
    if (!v || (json_is_null(v) && !required)) {
        if (required)
            return bad_arg(e, tool, "\"%s\" is required (a string)", key);
        return 0;
    }
    if (!json_is_string(v))
        return bad_arg(e, tool, "\"%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int arg_int(json_t *args, const char *tool, const char *key, int min, int max, int def,
                   int *out, struct pv_mcp__argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    /* An integral real (5.0) is an integer in JSON Schema. */
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v))
        d = json_real_value(v);
    else
        return bad_arg(e, tool, "\"%s\" must be an integer", key);
    if (d < min || d > max)
        return bad_arg(e, tool, "\"%s\" must be between %d and %d", key, min, max);
    *out = (int)d;
    return 0;
}

static int arg_bool(json_t *args, const char *tool, const char *key, bool *out,
                    struct pv_mcp__argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad_arg(e, tool, "\"%s\" must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* ==== tools ============================================================ */

/* The dataset index for a name, or -1 after writing a tool error into *fail. */
static int find_dataset(pv_mcp *m, const char *name, json_t *fail_base, json_t **fail)
{
    int i = pv_datasets_index(m->ds, name);
    if (i >= 0) {
        json_decref(fail_base);
        return i;
    }
    pv_buf names = PV_BUF_INIT;
    pv_mcp__put_dataset_names(&names, m->ds);
    *fail = pv_mcp__tool_fail(fail_base, NULL, "unknown dataset '%s'; available: %s", name,
                              pv_buf_str(&names));
    pv_buf_fini(&names);
    return -1;
}

int pv_mcp_quote_table(const char *in, pv_buf *out, pv_err *err)
{
    int parts = 0;
    const char *p = in;
    for (;;) {
        if (++parts > 2)
            return pv_err_set(err, VOLLEY_EINPUT,
                              "a table is 'table' or 'schema.table' (quote names that hold a "
                              "dot: \"my.table\")");
        pv_buf part = PV_BUF_INIT;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    pv_buf_fini(&part);
                    return pv_err_set(err, VOLLEY_EINPUT, "unterminated quoted name");
                }
                if (*p == '"' && p[1] == '"') {
                    pv_buf_putc(&part, '"');
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    pv_buf_putc(&part, *p++);
                }
            }
        } else {
            while (*p && *p != '.') {
                if (*p == '"') {
                    pv_buf_fini(&part);
                    return pv_err_set(err, VOLLEY_EINPUT, "a quote may only start a name: '%s'",
                                      in);
                }
                pv_buf_putc(&part, *p++);
            }
        }
        if (part.len == 0) {
            pv_buf_fini(&part);
            return pv_err_set(err, VOLLEY_EINPUT, "empty name in '%s'", in);
        }
        if (parts > 1)
            pv_buf_putc(out, '.');
        pv_buf_putc(out, '"');
        for (const char *q = pv_buf_str(&part); *q; q++) {
            if (*q == '"')
                pv_buf_putc(out, '"');
            pv_buf_putc(out, *q);
        }
        pv_buf_putc(out, '"');
        pv_buf_fini(&part);
        if (!*p)
            break;
        if (*p != '.')
            return pv_err_set(err, VOLLEY_EINPUT, "unexpected text after a quoted name in '%s'",
                              in);
        p++;
    }
    return pv_buf_ok(out) == 0 ? 0 : VOLLEY_ENOMEM;
}

/* Builds a one-query pv_multi_request for dataset/sql/label. */
static int single_request(pv_mcp *m, const char *dataset, const char *sql, const char *label,
                          struct pv_multi_request *req, pv_err *err)
{
    json_t *root = json_pack("{s:[{s:s, s:s, s:s*}]}", "queries", "dataset", dataset, "query", sql,
                             "label", label);
    if (!root)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    int rc = pv_multi_request_parse(root, m->ds, 1, req, err);
    json_decref(root);
    /* One query: "queries[0]: " says nothing here. */
    static const char prefix[] = "queries[0]: ";
    if (rc != 0 && err && strncmp(err->msg, prefix, sizeof(prefix) - 1) == 0)
        memmove(err->msg, err->msg + sizeof(prefix) - 1, strlen(err->msg + sizeof(prefix) - 1) + 1);
    return rc;
}

static json_t *single_fail_base(const char *dataset)
{
    return json_pack("{s:b, s:s?}", "ok", 0, "dataset", dataset);
}

json_t *pv_mcp__tool_query(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                           struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset, *query, *label;
    const char *t = c->tool->name;
    if (arg_str(args, t, "dataset", true, &dataset, e) != 0 ||
        arg_str(args, t, "query", true, &query, e) != 0 ||
        arg_str(args, t, "label", false, &label, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    json_t *fail = NULL;
    if (find_dataset(m, dataset, single_fail_base(dataset), &fail) < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    pv_err err = {{0}};
    if (single_request(m, dataset, query, label, &c->req, &err) != 0) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(single_fail_base(dataset), NULL, "%s", err.msg);
    }
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n, single_fail_base(dataset), started);
}

json_t *pv_mcp__tool_sample(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset, *table;
    const char *t = c->tool->name;
    if (arg_str(args, t, "dataset", true, &dataset, e) != 0 ||
        arg_str(args, t, "table", true, &table, e) != 0 ||
        arg_int(args, t, "limit", 1, PV_MCP__SAMPLE_MAX_LIMIT, PV_MCP__SAMPLE_DEFAULT_LIMIT,
                &c->limit, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    json_t *fail = NULL;
    if (find_dataset(m, dataset, single_fail_base(dataset), &fail) < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    pv_buf sql = PV_BUF_INIT;
    pv_err err = {{0}};
    pv_buf_puts(&sql, "SELECT * FROM ");
    int rc = pv_mcp_quote_table(table, &sql, &err);
    pv_buf_puts(&sql, " LIMIT $1");
    if (rc == 0)
        rc = pv_buf_ok(&sql);
    if (rc == 0) {
        c->table = pv_strdup(table);
        rc = single_request(m, dataset, pv_buf_str(&sql), table, &c->req, &err);
    }
    pv_buf_fini(&sql);
    if (rc != 0) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(single_fail_base(dataset), NULL, "bad table name '%s': %s", table,
                                 err.msg);
    }
    /* The limit is bound, like every value. */
    snprintf(c->limit_txt, sizeof(c->limit_txt), "%d", c->limit);
    c->params[0] = c->limit_txt;
    c->req.queries[0].nparams = 1;
    c->req.queries[0].params = c->params;
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n, single_fail_base(dataset), started);
}

static json_t *multi_fail_base(void)
{
    return json_pack("{s:i, s:i, s:i, s:f, s:[]}", "total", 0, "succeeded", 0, "failed", 0,
                     "wall_ms", 0.0, "results");
}

json_t *pv_mcp__tool_multi(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                           struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *t = c->tool->name;
    json_t *qs = json_object_get(args, "queries");
    int bad = 0;
    if (!qs)
        bad = bad_arg(e, t, "\"queries\" is required (an array of {dataset, query, label})");
    else if (!json_is_array(qs))
        bad = bad_arg(e, t, "\"queries\" must be an array");
    else if (json_array_size(qs) == 0)
        bad = bad_arg(e, t, "\"queries\" is empty");
    else if (json_array_size(qs) > PV_MULTI_MAX_QUERIES)
        bad = bad_arg(e, t, "\"queries\" holds %zu queries; at most %d per call",
                      json_array_size(qs), PV_MULTI_MAX_QUERIES);
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q)
    {
        if (bad)
            break;
        json_t *v;
        if (!json_is_object(q))
            bad = bad_arg(e, t, "queries[%zu] must be an object", i);
        else if (!json_is_string(json_object_get(q, "query")))
            bad = bad_arg(e, t, "queries[%zu].query is required (a string)", i);
        else if ((v = json_object_get(q, "dataset")) && !json_is_string(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].dataset must be a string", i);
        else if ((v = json_object_get(q, "dataset_id")) && !json_is_integer(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].dataset_id must be an integer", i);
        else if ((v = json_object_get(q, "label")) && !json_is_string(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].label must be a string", i);
    }
    if (bad) {
        pv_mcp__call_free(c);
        return NULL;
    }
    pv_err err = {{0}};
    int rc = pv_multi_request_parse(args, m->ds, PV_MULTI_MAX_QUERIES, &c->req, &err);
    if (rc != 0) {
        pv_mcp__call_free(c);
        if (rc == VOLLEY_ENOMEM)
            return pv_mcp__tool_fail(multi_fail_base(), NULL, "out of memory");
        pv_buf names = PV_BUF_INIT;
        pv_mcp__put_dataset_names(&names, m->ds);
        json_t *r = pv_mcp__tool_fail(multi_fail_base(), NULL, "%s (datasets: %s)", err.msg,
                                      pv_buf_str(&names));
        pv_buf_fini(&names);
        return r;
    }
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n, multi_fail_base(), started);
}

json_t *pv_mcp__tool_context(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                             struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset;
    const char *t = c->tool->name;
    if (arg_int(args, t, "level", PV_MCP__LEVEL_GUIDE, PV_MCP__LEVEL_FULL, PV_MCP__LEVEL_GUIDE,
                &c->level, e) != 0 ||
        arg_str(args, t, "dataset", false, &dataset, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    if (c->level == PV_MCP__LEVEL_GUIDE) {
        pv_mcp__call_free(c);
        json_t *sc = json_pack("{s:i, s:s, s:o}", "level", PV_MCP__LEVEL_GUIDE, "guide",
                               pv_mcp__guide_md, "tools", pv_mcp__tool_names());
        return sc ? pv_mcp__tool_result(pv_mcp__guide_md, sc, false) : NULL;
    }
    if (c->level == PV_MCP__LEVEL_DATASETS) {
        int level = c->level;
        pv_mcp__call_free(c);
        return pv_mcp__render_datasets(m, level);
    }
    if (!dataset && pv_datasets_count(m->ds) == 1) {
        dataset = pv_datasets_get(m->ds, 0)->name;
    } else if (!dataset) {
        pv_buf names = PV_BUF_INIT;
        pv_mcp__put_dataset_names(&names, m->ds);
        json_t *r =
            pv_mcp__tool_fail(json_pack("{s:i}", "level", c->level), NULL,
                              "level %d needs a dataset: one of %s", c->level, pv_buf_str(&names));
        pv_buf_fini(&names);
        pv_mcp__call_free(c);
        return r;
    }
    json_t *fail = NULL;
    c->dataset = find_dataset(m, dataset, json_pack("{s:i}", "level", c->level), &fail);
    if (c->dataset < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    return pv_mcp__schema_start(s, c, true, false, started);
}

json_t *pv_mcp__tool_list(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                          struct pv_mcp__argerr *e, bool *started)
{
    (void)args;
    (void)e;
    (void)started;
    pv_mcp__call_free(c);
    return pv_mcp__render_datasets(s->m, PV_MCP__LEVEL_NONE);
}

json_t *pv_mcp__tool_schema(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started)
{
    const char *t = c->tool->name, *dataset;
    bool refresh;
    if (arg_str(args, t, "dataset", true, &dataset, e) != 0 ||
        arg_bool(args, t, "refresh", &refresh, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    json_t *fail = NULL;
    c->dataset =
        find_dataset(s->m, dataset, json_pack("{s:s, s:[]}", "dataset", dataset, "tables"), &fail);
    if (c->dataset < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    return pv_mcp__schema_start(s, c, false, refresh, started);
}

/* ==== fetch_next_page (the cursors: pv_mcp_limits.c) =================== */

json_t *pv_mcp__tool_next(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                          struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *cursor;
    if (arg_str(args, c->tool->name, "cursor", true, &cursor, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    char *dataset = NULL, *sql = NULL, *label = NULL;
    size_t offset = 0;
    if (!pv_mcp__cursor_take(m, cursor, &dataset, &sql, &label, &offset)) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(single_fail_base(NULL), NULL,
                                 "unknown or expired cursor (a cursor serves one page and lives "
                                 "%.0f s); run the query again with query_dataset",
                                 m->opts.cursor_ttl_s);
    }
    c->page_query = sql;
    c->page_offset = offset;
    char msg[PV_ERR_LEN];
    json_t *a = json_pack("{s:s}", "dataset", dataset);
    const char *refusal = a ? pv_mcp__tool_refused(m, "query_dataset", a, msg, sizeof(msg)) : NULL;
    json_decref(a);
    /* The same query again, from the row after the last one returned. */
    size_t len = strlen(sql);
    while (len > 0 && (sql[len - 1] == ';' || sql[len - 1] == ' ' || sql[len - 1] == '\t' ||
                       sql[len - 1] == '\n' || sql[len - 1] == '\r'))
        len--;
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b, "SELECT * FROM (\n%.*s\n) AS pv_page OFFSET $1", (int)len, sql);
    c->page_sql = pv_buf_ok(&b) == 0 ? pv_strdup(pv_buf_str(&b)) : NULL;
    pv_buf_fini(&b);
    pv_err err = {{0}};
    int rc = refusal || !c->page_sql
                 ? VOLLEY_ENOMEM
                 : single_request(m, dataset, c->page_sql, label, &c->req, &err);
    json_t *base = single_fail_base(dataset);
    free(dataset);
    free(label);
    if (refusal || rc != 0) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(base, NULL, "%s",
                                 refusal      ? refusal
                                 : err.msg[0] ? err.msg
                                              : "out of memory");
    }
    snprintf(c->offset_txt, sizeof(c->offset_txt), "%zu", offset);
    c->params[0] = c->offset_txt;
    c->req.queries[0].nparams = 1;
    c->req.queries[0].params = c->params;
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n, base, started);
}

/* ==== shared with the other tool files (pv_mcp_tools_*.c) ============== */

int pv_mcp__bad_arg(struct pv_mcp__argerr *e, const char *tool, const char *msg)
{
    return bad_arg(e, tool, "%s", msg);
}

int pv_mcp__arg_str(json_t *args, const char *tool, const char *key, bool required,
                    const char **out, struct pv_mcp__argerr *e)
{
    return arg_str(args, tool, key, required, out, e);
}

int pv_mcp__arg_int(json_t *args, const char *tool, const char *key, int min, int max, int def,
                    int *out, struct pv_mcp__argerr *e)
{
    return arg_int(args, tool, key, min, max, def, out, e);
}

int pv_mcp__arg_bool(json_t *args, const char *tool, const char *key, bool *out,
                     struct pv_mcp__argerr *e)
{
    return arg_bool(args, tool, key, out, e);
}

int pv_mcp__find_dataset(pv_mcp *m, const char *name, json_t *fail_base, json_t **fail)
{
    return find_dataset(m, name, fail_base, fail);
}

int pv_mcp__request(pv_mcp *m, const char *dataset, const char *const *sqls,
                    const char *const *labels, size_t n, struct pv_multi_request *req, pv_err *err)
{
    json_t *qs = json_array();
    for (size_t i = 0; qs && i < n; i++) {
        if (json_array_append_new(qs, json_pack("{s:s, s:s, s:s*}", "dataset", dataset, "query",
                                                sqls[i], "label", labels ? labels[i] : NULL)) !=
            0) {
            json_decref(qs);
            qs = NULL;
        }
    }
    json_t *root = qs ? json_pack("{s:o}", "queries", qs) : NULL;
    if (!root)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    int rc = pv_multi_request_parse(root, m->ds, n, req, err);
    json_decref(root);
    return rc;
}
