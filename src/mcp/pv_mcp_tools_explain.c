/*
 * pv_mcp_tools_explain.c - the MCP tool explain_query: a statement's plan in
 * any of EXPLAIN's formats, with ANALYZE on request.
 *
 * The tool composes "EXPLAIN (FORMAT f[, ANALYZE, BUFFERS][, VERBOSE]) " and
 * the statement, and the batch executor runs it like any query: the guard
 * checks the composed text as a whole (so a second statement, a write, a
 * data-modifying CTE or an EXECUTE is refused whatever the options), then it
 * runs in a READ ONLY transaction with the dataset's statement timeout,
 * always rolled back. Only this tool's query sets the guard's
 * explain_analyze, which accepts EXPLAIN's ANALYZE option for a SELECT that
 * passes every other rule; query_dataset still refuses EXPLAIN ANALYZE.
 *
 * Plain EXPLAIN of a write is refused too (the guard accepts statement
 * kinds): it would not run, but it plans the write - taking its locks
 * (ROW EXCLUSIVE on the target) until the rollback and folding its
 * functions - and a single option would turn it into EXPLAIN ANALYZE.
 */
#include <ctype.h>
#include <string.h>

#include "mcp/pv_mcp_int.h"

/* The batch executor's SQLSTATE for a guard refusal (read_only_sql_transaction). */
#define SQLSTATE_REFUSED "25006"

static const char *const formats[] = {"text", "json", "yaml", "xml"};

/* Skips blanks and SQL comments ("--" to the end of the line, nested block comments). */
static const char *skip_blank(const char *p)
{
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 0;
            while (*p) {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    p += 2;
                    if (--depth == 0)
                        break;
                } else {
                    p++;
                }
            }
        } else {
            return p;
        }
    }
}

/* Whether sql's first word is EXPLAIN (the tool adds its own). */
static bool starts_with_explain(const char *sql)
{
    const char *p = skip_blank(sql);
    static const char kw[] = "explain";
    for (size_t i = 0; i < sizeof(kw) - 1; i++, p++)
        if (tolower((unsigned char)*p) != kw[i])
            return false;
    return !isalnum((unsigned char)*p) && *p != '_';
}

static json_t *explain_fail_base(const char *dataset, const char *format, bool analyze)
{
    return json_pack("{s:b, s:s?, s:s, s:b, s:s, s:n}", "ok", 0, "dataset", dataset, "format",
                     format, "analyze", analyze, "plan", "", "plan_json");
}

json_t *pv_mcp__tool_explain(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                             struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *t = c->tool->name, *dataset, *query, *format;
    bool analyze, verbose;
    if (pv_mcp__arg_str(args, t, "dataset", true, &dataset, e) != 0 ||
        pv_mcp__arg_str(args, t, "query", true, &query, e) != 0 ||
        pv_mcp__arg_str(args, t, "format", false, &format, e) != 0 ||
        pv_mcp__arg_bool(args, t, "analyze", &analyze, e) != 0 ||
        pv_mcp__arg_bool(args, t, "verbose", &verbose, e) != 0) {
        pv_mcp__call_free(c);
        return NULL;
    }
    c->kind = 0;
    if (format) {
        c->kind = -1;
        for (size_t i = 0; i < PV_ARRAY_LEN(formats); i++)
            if (strcmp(format, formats[i]) == 0)
                c->kind = (int)i;
        if (c->kind < 0) {
            pv_mcp__bad_arg(e, t, "\"format\" must be one of text, json, yaml, xml");
            pv_mcp__call_free(c);
            return NULL;
        }
    }
    if (starts_with_explain(query)) {
        pv_mcp__bad_arg(e, t,
                        "\"query\" is the statement itself, without EXPLAIN: the tool adds "
                        "EXPLAIN (use \"analyze\" and \"format\" for its options)");
        pv_mcp__call_free(c);
        return NULL;
    }
    c->analyze = analyze;
    const char *fmt = formats[c->kind];
    json_t *fail = NULL;
    if (pv_mcp__find_dataset(m, dataset, explain_fail_base(dataset, fmt, analyze), &fail) < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    pv_buf sql = PV_BUF_INIT;
    pv_buf_printf(&sql, "EXPLAIN (FORMAT %s%s%s) %s", fmt, analyze ? ", ANALYZE, BUFFERS" : "",
                  verbose ? ", VERBOSE" : "", query);
    pv_err err = {{0}};
    int rc = pv_buf_ok(&sql);
    if (rc == 0)
        rc = pv_mcp__request(m, dataset, (const char *[]){pv_buf_str(&sql)},
                             (const char *[]){"plan"}, 1, &c->req, &err);
    pv_buf_fini(&sql);
    if (rc != 0) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(explain_fail_base(dataset, fmt, analyze), NULL, "%s",
                                 rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
    }
    /* The guard accepts ANALYZE for this query only (and still only of a SELECT). */
    c->req.queries[0].explain_analyze = analyze;
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n,
                              explain_fail_base(dataset, fmt, analyze), started);
}

json_t *pv_mcp__render_explain(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    (void)wall_ms;
    const struct pv_bresult *r = &c->res[0];
    const char *dsname = pv_mcp__dataset_name(m, c->req.queries[0].dataset);
    const char *fmt = formats[c->kind];
    if (!r->ok) {
        bool refused = strcmp(r->sqlstate, SQLSTATE_REFUSED) == 0;
        return pv_mcp__tool_fail(
            explain_fail_base(dsname, fmt, c->analyze), r->sqlstate, "%s%s",
            r->message ? r->message : "unknown error",
            refused ? (c->analyze ? " (analyze runs the statement: only a statement the "
                                    "read-only guard accepts can be analysed)"
                                  : " (only the plan of a statement the read-only guard "
                                    "accepts can be shown)")
                    : "");
    }
    /* Text: a row per line; json, yaml, xml: one row. */
    pv_buf plan = PV_BUF_INIT;
    for (size_t i = 0; i < r->nrows; i++) {
        const char *cell = r->ncols > 0 ? r->cells[i * (size_t)r->ncols] : NULL;
        pv_buf_printf(&plan, "%s%s", i ? "\n" : "", cell ? cell : "");
    }
    json_t *pj = NULL;
    if (c->kind == 1)
        pj = json_loads(pv_buf_str(&plan), 0, NULL);
    json_t *sc = json_pack("{s:b, s:s, s:s, s:b, s:o, s:o, s:b, s:f, s:n}", "ok", 1, "dataset",
                           dsname, "format", fmt, "analyze", c->analyze, "plan",
                           pv_render_json_str(pv_buf_str(&plan)), "plan_json",
                           pj ? pj : json_null(), "truncated", r->truncated, "ms", r->ms, "error");
    pv_buf md = PV_BUF_INIT;
    pv_buf_printf(&md, "# %s\n\n**Dataset**: ", c->analyze ? "EXPLAIN ANALYZE" : "EXPLAIN");
    pv_render_md_cell(&md, dsname, 0);
    pv_buf_printf(&md, " | **Format**: %s | **Time**: %.1f ms\n\n", fmt, r->ms);
    pv_render_md_code(&md, c->kind == 0 ? "" : fmt, pv_buf_str(&plan));
    if (r->truncated)
        pv_buf_printf(&md,
                      "\n_Truncated: the plan has more than %zu lines (the dataset's "
                      "max_rows)._\n",
                      r->nrows);
    if (c->analyze)
        pv_buf_puts(&md, "\n_The statement ran (read-only, rolled back) to measure it._\n");
    json_t *res = NULL;
    if (sc && pv_buf_ok(&md) == 0 && pv_buf_ok(&plan) == 0)
        res = pv_mcp__tool_result(pv_buf_str(&md), sc, false); /* takes sc */
    else
        json_decref(sc);
    pv_buf_fini(&plan);
    pv_buf_fini(&md);
    return res;
}
