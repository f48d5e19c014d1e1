/*
 * pv_mcp_tools_health.c - the MCP health tools: read-only views of a
 * dataset's statistics and catalog (slowest statements, lock waits and
 * their blockers, long transactions, bloat estimates, unused and invalid
 * indexes).
 *
 * Each call runs two queries through the batch executor, under the same
 * guard, READ ONLY transaction and statement timeout as every tool: a probe
 * (the role, whether it may read every session's statistics, where
 * pg_stat_statements is installed, when the statistics were reset) and the
 * check's own query. The result says what the role or the database lacks
 * ("needs") when that hides rows or fails the check. Every value is bound
 * ($1, $2), never spliced; the SQL is written here (src/suite's diagnosis
 * reads the same views over its own connection, a sibling area).
 */
#include <stdio.h>
#include <string.h>

#include "mcp/pv_mcp_int.h"

static const char probe_sql[] =
    "SELECT current_user::text AS role,\n"
    "       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,\n"
    "       (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS "
    "pgss_version,\n"
    "       (SELECT extnamespace::regnamespace::text FROM pg_extension\n"
    "         WHERE extname = 'pg_stat_statements') AS pgss_schema,\n"
    "       (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database())\n"
    "         AS stats_reset";

/* pg_stat_statements (PostgreSQL 13 or newer: total_exec_time). */
#define SLOW_SQL(order)                                                                            \
    "SELECT left(s.query, 1000) AS query, s.calls, round(s.total_exec_time::numeric, 1) AS "       \
    "total_ms,\n"                                                                                  \
    "       round(s.mean_exec_time::numeric, 2) AS mean_ms, round(s.max_exec_time::numeric, 1) "   \
    "AS max_ms,\n"                                                                                 \
    "       s.rows,\n"                                                                             \
    "       round(100.0 * s.shared_blks_hit / nullif(s.shared_blks_hit + s.shared_blks_read, 0), " \
    "1)\n"                                                                                         \
    "         AS cache_hit_pct,\n"                                                                 \
    "       s.queryid::text AS queryid, r.rolname::text AS role\n"                                 \
    "  FROM pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid\n"                       \
    " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())\n"           \
    " ORDER BY " order " DESC\n"                                                                   \
    " LIMIT $1::int"                                                                               \
    ""

static const char slow_total_sql[] = SLOW_SQL("s.total_exec_time");
static const char slow_mean_sql[] = SLOW_SQL("s.mean_exec_time");

static const char locks_sql[] =
    "SELECT w.pid AS waiting_pid, w.usename::text AS waiting_user,\n"
    "       round(extract(epoch FROM now() - w.query_start)::numeric, 1) AS waiting_s,\n"
    "       (SELECT string_agg(l.mode || ' on ' || coalesce(l.relation::regclass::text, "
    "l.locktype),\n"
    "                          ', ')\n"
    "          FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted) AS waits_for,\n"
    "       bp.pid AS blocking_pid, b.usename::text AS blocking_user, b.state AS blocking_state,\n"
    "       round(extract(epoch FROM now() - b.xact_start)::numeric, 1) AS blocking_xact_s,\n"
    "       (SELECT string_agg(DISTINCT l.mode, ', ') FROM pg_locks l\n"
    "         WHERE l.pid = bp.pid AND l.granted AND l.relation IS NOT NULL) AS blocker_holds,\n"
    "       left(w.query, 300) AS waiting_query, left(b.query, 300) AS blocking_query\n"
    "  FROM pg_stat_activity w\n"
    " CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)\n"
    "  LEFT JOIN pg_stat_activity b ON b.pid = bp.pid\n"
    " ORDER BY waiting_s DESC NULLS LAST, w.pid, bp.pid\n"
    " LIMIT $1::int";

static const char long_tx_sql[] =
    "SELECT pid, usename::text AS \"user\", datname::text AS database, application_name,\n"
    "       client_addr::text AS client, state,\n"
    "       round(extract(epoch FROM now() - xact_start)::numeric, 1) AS xact_s,\n"
    "       round(extract(epoch FROM now() - state_change)::numeric, 1) AS in_state_s,\n"
    "       wait_event_type, wait_event, backend_xid::text AS xid, backend_xmin::text AS xmin,\n"
    "       left(query, 300) AS query\n"
    "  FROM pg_stat_activity\n"
    " WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client "
    "backend'\n"
    "   AND now() - xact_start >= make_interval(secs => $1::float8)\n"
    " ORDER BY xact_start\n"
    " LIMIT $2::int";

/*
 * Bloat, estimated without reading the relations (no pgstattuple): the pages
 * a table or a B-tree index would need for its rows, from pg_class.reltuples
 * and pg_stats' average column widths (per tuple: a 4-byte line pointer, a
 * 24-byte heap tuple header or an 8-byte index tuple header, the data
 * rounded up to 8 bytes; per page: the 24-byte page header and the B-tree's
 * 16-byte special space; the fillfactor), compared with pg_class.relpages.
 * The estimate of the well-known pgsql-bloat-estimation queries, simplified
 * (no null bitmap, no B-tree inner pages): rough, good for ranking.
 */
static const char bloat_sql[] =
    "WITH t AS (\n"
    "  SELECT 'table'::text AS kind, n.nspname || '.' || c.relname AS name, NULL::text AS "
    "of_table,\n"
    "         c.relpages::numeric AS pages, current_setting('block_size')::numeric AS bs,\n"
    "         (SELECT count(*) FROM pg_attribute a\n"
    "           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS ncols,\n"
    "         (SELECT count(*) FROM pg_stats s\n"
    "           WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND NOT s.inherited) AS "
    "nstats,\n"
    "         c.reltuples::numeric * (4 + 24 + 8 * ceil((SELECT sum((1 - s.null_frac) * "
    "s.avg_width)\n"
    "           FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname\n"
    "           AND NOT s.inherited)::numeric / 8)) AS data_bytes,\n"
    "         coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::numeric\n"
    "           FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 100) AS ff,\n"
    "         24::numeric AS page_overhead\n"
    "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
    "   WHERE c.relkind IN ('r', 'm') AND c.relpages > 0\n"
    "     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
    "'pg_toast%'\n"
    "  UNION ALL\n"
    "  SELECT 'index', n.nspname || '.' || ic.relname, tn.nspname || '.' || tc.relname,\n"
    "         ic.relpages::numeric, current_setting('block_size')::numeric,\n"
    "         i.indnatts,\n"
    "         (SELECT count(*) FROM pg_attribute a JOIN pg_stats s ON s.schemaname = tn.nspname\n"
    "           AND s.tablename = tc.relname AND s.attname = a.attname AND NOT s.inherited\n"
    "           WHERE a.attrelid = tc.oid AND a.attnum = ANY (i.indkey::int2[])),\n"
    "         ic.reltuples::numeric * (4 + 8 + 8 * ceil((SELECT sum(s.avg_width) FROM pg_attribute "
    "a\n"
    "           JOIN pg_stats s ON s.schemaname = tn.nspname AND s.tablename = tc.relname\n"
    "           AND s.attname = a.attname AND NOT s.inherited\n"
    "           WHERE a.attrelid = tc.oid AND a.attnum = ANY (i.indkey::int2[]))::numeric / 8)),\n"
    "         coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::numeric\n"
    "           FROM unnest(ic.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 90),\n"
    "         24 + 16\n"
    "    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid\n"
    "    JOIN pg_namespace n ON n.oid = ic.relnamespace\n"
    "    JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace\n"
    "    JOIN pg_am am ON am.oid = ic.relam\n"
    "   WHERE am.amname = 'btree' AND ic.relpages > 1\n"
    "     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
    "'pg_toast%'\n"
    "), e AS (\n"
    "  SELECT *, CASE WHEN nstats = ncols AND data_bytes IS NOT NULL\n"
    "                 THEN ceil(data_bytes / ((bs - page_overhead) * ff / 100))\n"
    "                      + CASE WHEN kind = 'index' THEN 1 ELSE 0 END END AS expected_pages\n"
    "    FROM t\n"
    ")\n"
    "SELECT kind, name, of_table AS \"table\", pg_size_pretty(pages * bs) AS size,\n"
    "       (pages * bs)::bigint AS size_bytes,\n"
    "       (greatest(pages - expected_pages, 0) * bs)::bigint AS bloat_bytes,\n"
    "       round(100 * greatest(pages - expected_pages, 0) / pages, 1) AS bloat_pct,\n"
    "       CASE WHEN expected_pages IS NULL\n"
    "            THEN 'no statistics for every column: run ANALYZE (or no SELECT privilege)' END "
    "AS note\n"
    "  FROM e\n"
    " ORDER BY bloat_bytes DESC NULLS LAST, size_bytes DESC\n"
    " LIMIT $1::int";

static const char indexes_sql[] =
    "SELECT n.nspname || '.' || ic.relname AS index, tn.nspname || '.' || tc.relname AS "
    "\"table\",\n"
    "       CASE WHEN NOT i.indisvalid THEN 'invalid' WHEN NOT i.indisready THEN 'not ready'\n"
    "            ELSE 'unused' END AS problem,\n"
    "       pg_size_pretty(pg_relation_size(ic.oid)) AS size, pg_relation_size(ic.oid) AS "
    "size_bytes,\n"
    "       s.idx_scan, i.indisunique AS \"unique\", i.indisprimary AS primary_key,\n"
    "       pg_get_indexdef(ic.oid) AS definition\n"
    "  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid\n"
    "  JOIN pg_namespace n ON n.oid = ic.relnamespace\n"
    "  JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace\n"
    "  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid\n"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
    "'pg_toast%'\n"
    "   AND (NOT i.indisvalid OR NOT i.indisready OR s.idx_scan = 0)\n"
    " ORDER BY i.indisvalid, i.indisready, pg_relation_size(ic.oid) DESC\n"
    " LIMIT $1::int";

enum check { SLOW, LOCKS, LONG_TX, BLOAT, INDEXES };

/* One row per health tool (the names of pv_mcp_catalog.c's rows). */
static const struct health {
    const char *tool;
    enum check check;
    const char *title;
    bool sessions; /* reads other sessions: pg_read_all_stats matters */
} checks[] = {
    {"get_slow_queries", SLOW, "Slowest statements (pg_stat_statements)", true},
    {"get_locks", LOCKS, "Lock waits and their blockers", true},
    {"get_long_transactions", LONG_TX, "Long-running transactions", true},
    {"get_bloat", BLOAT, "Table and index bloat (estimate)", false},
    {"get_index_problems", INDEXES, "Unused and invalid indexes", false},
};

static const struct health *find_check(const char *tool)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(checks); i++)
        if (strcmp(checks[i].tool, tool) == 0)
            return &checks[i];
    return NULL;
}

static json_t *health_fail_base(const char *tool, const char *dataset)
{
    return json_pack("{s:s, s:b, s:s?, s:[], s:[], s:i, s:[]}", "check", tool, "ok", 0, "dataset",
                     dataset, "columns", "rows", "row_count", 0, "needs");
}

json_t *pv_mcp__tool_health(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started)
{
    pv_mcp *m = s->m;
    const char *t = c->tool->name, *dataset, *order = NULL;
    const struct health *h = find_check(t);
    int min_s = 0;
    if (!h) {
        pv_mcp__call_free(c);
        return NULL;
    }
    if (pv_mcp__arg_str(args, t, "dataset", true, &dataset, e) != 0 ||
        pv_mcp__arg_int(args, t, "limit", 1, PV_MCP__HEALTH_MAX_LIMIT, PV_MCP__HEALTH_DEFAULT_LIMIT,
                        &c->limit, e) != 0 ||
        (h->check == LONG_TX && pv_mcp__arg_int(args, t, "min_seconds", 0, PV_MCP__LONG_TX_MAX_S,
                                                PV_MCP__LONG_TX_DEFAULT_S, &min_s, e) != 0) ||
        (h->check == SLOW && pv_mcp__arg_str(args, t, "order_by", false, &order, e) != 0)) {
        pv_mcp__call_free(c);
        return NULL;
    }
    if (order && strcmp(order, "total_time") != 0 && strcmp(order, "mean_time") != 0) {
        pv_mcp__bad_arg(e, t, "\"order_by\" must be total_time or mean_time");
        pv_mcp__call_free(c);
        return NULL;
    }
    c->kind = (int)h->check;
    json_t *fail = NULL;
    if (pv_mcp__find_dataset(m, dataset, health_fail_base(t, dataset), &fail) < 0) {
        pv_mcp__call_free(c);
        return fail;
    }
    const char *sql = NULL;
    switch (h->check) {
    case SLOW:
        sql = order && strcmp(order, "mean_time") == 0 ? slow_mean_sql : slow_total_sql;
        break;
    case LOCKS: sql = locks_sql; break;
    case LONG_TX: sql = long_tx_sql; break;
    case BLOAT: sql = bloat_sql; break;
    case INDEXES: sql = indexes_sql; break;
    }
    pv_err err = {{0}};
    int rc = pv_mcp__request(m, dataset, (const char *[]){probe_sql, sql},
                             (const char *[]){"probe", h->title}, 2, &c->req, &err);
    if (rc != 0) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(health_fail_base(t, dataset), NULL, "%s",
                                 rc == VOLLEY_ENOMEM ? "out of memory" : err.msg);
    }
    /* Bound values: the limit, and long_transactions' threshold first. */
    snprintf(c->limit_txt, sizeof(c->limit_txt), "%d", c->limit);
    snprintf(c->arg2_txt, sizeof(c->arg2_txt), "%d", min_s);
    if (h->check == LONG_TX) {
        c->params[0] = c->arg2_txt;
        c->params[1] = c->limit_txt;
        c->req.queries[1].nparams = 2;
    } else {
        c->params[0] = c->limit_txt;
        c->req.queries[1].nparams = 1;
    }
    c->req.queries[1].params = c->params;
    return pv_mcp__call_start(s, c, c->req.queries, c->req.n, health_fail_base(t, dataset),
                              started);
}

/* The probe's value of column name, or NULL. */
static const char *probe_value(const struct pv_bresult *p, const char *name)
{
    if (!p->ok || p->nrows < 1)
        return NULL;
    for (int i = 0; i < p->ncols; i++)
        if (strcmp(p->cols[i], name) == 0)
            return p->cells[i];
    return NULL;
}

/* What the role or the database lacks, as sentences, into needs (and notes). */
static void add_needs(const struct health *h, const struct pv_bresult *p,
                      const struct pv_bresult *r, json_t *needs, json_t *notes)
{
    const char *role = probe_value(p, "role");
    const char *all = probe_value(p, "read_all_stats");
    const char *pgss = probe_value(p, "pgss_version");
    const char *schema = probe_value(p, "pgss_schema");
    const char *reset = probe_value(p, "stats_reset");
    pv_buf b = PV_BUF_INIT;
    if (h->sessions && all && strcmp(all, "f") == 0) {
        pv_buf_printf(&b,
                      "privilege pg_read_all_stats (or pg_monitor): role %s sees only its own "
                      "sessions' queries and times; the others are hidden. "
                      "GRANT pg_read_all_stats TO %s to see every session",
                      role ? role : "?", role ? role : "the role");
        json_array_append_new(needs, json_string(pv_buf_str(&b)));
        pv_buf_reset(&b);
    }
    if (h->check == SLOW && !r->ok) {
        if (strcmp(r->sqlstate, "42P01") == 0 && !pgss)
            json_array_append_new(
                needs, json_string("extension pg_stat_statements: not installed in this database. "
                                   "Add shared_preload_libraries = 'pg_stat_statements' to "
                                   "postgresql.conf, restart the server, then run CREATE "
                                   "EXTENSION pg_stat_statements in this database"));
        else if (strcmp(r->sqlstate, "42P01") == 0) {
            pv_buf_printf(&b,
                          "extension pg_stat_statements: installed in schema %s, which is not "
                          "on the role's search_path",
                          schema ? schema : "?");
            json_array_append_new(needs, json_string(pv_buf_str(&b)));
        } else if (strcmp(r->sqlstate, "55000") == 0)
            json_array_append_new(
                needs, json_string("extension pg_stat_statements: created but not loaded. Add "
                                   "shared_preload_libraries = 'pg_stat_statements' to "
                                   "postgresql.conf and restart the server"));
        else if (strcmp(r->sqlstate, "42703") == 0)
            json_array_append_new(
                needs, json_string("PostgreSQL 13 or newer (pg_stat_statements.total_exec_time)"));
    }
    if (h->check == INDEXES) {
        pv_buf_printf(&b,
                      "idx_scan counts scans since %s; an index used only by rare jobs (month "
                      "end) may look unused; a unique or primary-key index enforces a "
                      "constraint even when never scanned",
                      reset ? reset : "the statistics were last reset (never, or at a crash)");
        json_array_append_new(notes, json_string(pv_buf_str(&b)));
    }
    if (h->check == BLOAT)
        json_array_append_new(
            notes, json_string("estimate from pg_class (reltuples, relpages) and pg_stats (column "
                               "widths), without reading the tables: run ANALYZE first; "
                               "pgstattuple gives exact figures; B-tree indexes only"));
    if (h->check == SLOW && r->ok)
        json_array_append_new(notes, json_string("times in milliseconds, since the last "
                                                 "pg_stat_statements_reset(); this database only"));
    pv_buf_fini(&b);
}

json_t *pv_mcp__render_health(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    const struct health *h = find_check(c->tool->name);
    const struct pv_bresult *p = &c->res[0], *r = &c->res[1];
    json_t *all = pv_report_multi_json(&c->req, c->res, m->ds, wall_ms);
    json_t *sc = json_incref(json_array_get(json_object_get(all, "results"), 1));
    json_decref(all);
    json_t *needs = json_array(), *notes = json_array();
    if (!sc || !h || !needs || !notes) {
        json_decref(sc);
        json_decref(needs);
        json_decref(notes);
        return NULL;
    }
    add_needs(h, p, r, needs, notes);
    json_object_set_new(sc, "check", json_string(h->tool));
    json_object_del(sc, "label");
    const char *dsname = pv_mcp__dataset_name(m, c->req.queries[1].dataset);
    pv_buf md = PV_BUF_INIT;
    pv_buf_puts(&md, "# ");
    pv_render_md_cell(&md, h->title, 0);
    pv_buf_puts(&md, "\n\n**Dataset**: ");
    pv_render_md_cell(&md, dsname, 0);
    if (r->ok)
        pv_buf_printf(&md, " | **Rows**: %zu | **Time**: %.1f ms\n\n", r->nrows, r->ms);
    else
        pv_buf_printf(&md, " | **SQLSTATE**: %s\n\n**Error**: %s\n\n", r->sqlstate,
                      r->message ? r->message : "unknown error");
    size_t i;
    json_t *v;
    json_array_foreach(needs, i, v)
    {
        pv_buf_puts(&md, "**Needs**: ");
        pv_render_md_cell(&md, json_string_value(v), 0);
        pv_buf_puts(&md, "\n\n");
    }
    if (r->ok && r->nrows == 0)
        pv_buf_puts(&md, "_Nothing found._\n\n");
    else if (r->ok)
        pv_report_result_table(&md, r);
    if (r->truncated)
        pv_buf_printf(&md, "\n_Truncated at %zu rows._\n", r->nrows);
    json_array_foreach(notes, i, v)
    {
        pv_buf_puts(&md, "\n_");
        pv_render_md_cell(&md, json_string_value(v), 0);
        pv_buf_puts(&md, "_\n");
    }
    json_object_set_new(sc, "needs", needs);
    json_object_set_new(sc, "notes", notes);
    json_t *res = NULL;
    if (pv_buf_ok(&md) == 0)
        res = pv_mcp__tool_result(pv_buf_str(&md), sc, !r->ok); /* takes sc */
    else
        json_decref(sc);
    pv_buf_fini(&md);
    return res;
}
