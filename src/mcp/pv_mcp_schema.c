/*
 * pv_mcp_schema.c - schema introspection for get_dataset_schema and
 * get_context levels 2 and 3: one catalog query per dataset, its answer
 * cached for opts.schema_ttl_s, and the schema's Markdown.
 */
#include <string.h>

#include "mcp/pv_mcp_int.h"

/*
 * One statement, one row, one cell: the whole schema as JSON, built by the
 * server so that max_rows never truncates it. Plain catalog SELECTs; the
 * tables listed are those the role may read.
 */
static const char schema_sql[] =
    "SELECT coalesce(json_agg(json_build_object("
    "'schema', n.nspname, 'name', c.relname, "
    "'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' "
    "WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END, "
    "'row_estimate', CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END, "
    "'description', pg_catalog.obj_description(c.oid, 'pg_class'), "
    "'columns', (SELECT coalesce(json_agg(json_build_object('name', a.attname, "
    "'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull) "
    "ORDER BY a.attnum), '[]') FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
    "'primary_key', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM pg_catalog.pg_constraint con "
    "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
    "WHERE con.conrelid = c.oid AND con.contype = 'p'), "
    "'foreign_keys', (SELECT coalesce(json_agg(json_build_object('name', con.conname, "
    "'columns', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), "
    "'references', json_build_object('schema', fn.nspname, 'table', fc.relname, "
    "'columns', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum))) "
    "ORDER BY con.conname), '[]') "
    "FROM pg_catalog.pg_constraint con "
    "JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace "
    "WHERE con.conrelid = c.oid AND con.contype = 'f')"
    ") ORDER BY n.nspname, c.relname), '[]')::text AS schema "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
    "AND NOT c.relispartition "
    "AND pg_catalog.has_table_privilege(c.oid, 'SELECT')";

/* The cached tables (new reference) and their age, or NULL. */
static json_t *cache_get(pv_mcp *m, int ds, double *age_s)
{
    json_t *t = NULL;
    pthread_mutex_lock(&m->mu);
    struct pv_mcp__schema_entry *e = &m->cache[ds];
    if (e->tables) {
        double age = (double)(pv_now_ns() - e->at_ns) / PV_MCP__NS_PER_S;
        if (age < m->opts.schema_ttl_s) {
            t = json_incref(e->tables);
            *age_s = age;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return t;
}

static void cache_put(pv_mcp *m, int ds, json_t *tables)
{
    pthread_mutex_lock(&m->mu);
    struct pv_mcp__schema_entry *e = &m->cache[ds];
    json_decref(e->tables);
    e->tables = json_incref(tables);
    e->at_ns = pv_now_ns();
    pthread_mutex_unlock(&m->mu);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* schema.name of a table object, each part as a Markdown cell. */
static void put_table_name(pv_buf *b, json_t *t)
{
    pv_render_md_cell(b, jstr(t, "schema"), 0);
    pv_buf_putc(b, '.');
    pv_render_md_cell(b, jstr(t, "name"), 0);
}

static void put_row_estimate(pv_buf *b, json_t *t)
{
    json_t *est = json_object_get(t, "row_estimate");
    if (json_is_integer(est))
        pv_buf_printf(b, "~%lld", (long long)json_integer_value(est));
    else
        pv_buf_puts(b, "unknown (not analysed)");
}

/* "FK -> s.t(c)" for a column that is part of a foreign key. */
static void put_fk_marks(pv_buf *b, json_t *t, const char *col, bool *first)
{
    size_t i;
    json_t *fk;
    json_array_foreach(json_object_get(t, "foreign_keys"), i, fk)
    {
        json_t *cols = json_object_get(fk, "columns");
        json_t *ref = json_object_get(fk, "references");
        json_t *rcols = json_object_get(ref, "columns");
        size_t j;
        json_t *cn;
        json_array_foreach(cols, j, cn)
        {
            if (strcmp(json_string_value(cn) ? json_string_value(cn) : "", col) != 0)
                continue;
            pv_buf_puts(b, *first ? "" : ", ");
            *first = false;
            pv_buf_puts(b, "FK → ");
            pv_render_md_cell(b, jstr(ref, "schema"), 0);
            pv_buf_putc(b, '.');
            pv_render_md_cell(b, jstr(ref, "table"), 0);
            pv_buf_putc(b, '(');
            pv_render_md_cell(b, json_string_value(json_array_get(rcols, j)), 0);
            pv_buf_putc(b, ')');
        }
    }
}

static bool in_array(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                      strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

/* Markdown: the tables (level 2: names and estimates; full: columns and keys). */
static void put_schema_md(pv_buf *b, const char *dataset, json_t *tables, bool full, double age_s)
{
    size_t n = json_array_size(tables);
    pv_buf_printf(b, "# %s of dataset `%s`\n\n", full ? "Schema" : "Tables", dataset);
    pv_buf_printf(b, "%zu relation%s (tables and views)", n, n == 1 ? "" : "s");
    if (age_s >= 1)
        pv_buf_printf(b, " (cached %.0f s ago)", age_s);
    pv_buf_puts(b, ". Row counts are estimates (pg_class.reltuples).\n\n");
    if (n == 0) {
        pv_buf_puts(b, "_No table readable by this role._\n");
        return;
    }
    size_t i;
    json_t *t;
    if (!full) {
        pv_buf_puts(b, "| table | kind | rows (estimate) |\n| --- | --- | --- |\n");
        json_array_foreach(tables, i, t)
        {
            pv_buf_puts(b, "| ");
            put_table_name(b, t);
            pv_buf_printf(b, " | %s | ", jstr(t, "kind"));
            put_row_estimate(b, t);
            pv_buf_puts(b, " |\n");
        }
        pv_buf_puts(b, "\nget_context level 3 or get_dataset_schema give the columns.\n");
        return;
    }
    json_array_foreach(tables, i, t)
    {
        pv_buf_puts(b, "## ");
        put_table_name(b, t);
        pv_buf_printf(b, " (%s, ", jstr(t, "kind"));
        put_row_estimate(b, t);
        pv_buf_puts(b, " rows)\n\n");
        const char *desc = json_string_value(json_object_get(t, "description"));
        if (desc && *desc)
            pv_buf_printf(b, "%s\n\n", desc);
        json_t *pk = json_object_get(t, "primary_key");
        pv_buf_puts(b, "| column | type | nullable | key |\n| --- | --- | --- | --- |\n");
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            const char *name = jstr(c, "name");
            pv_buf_puts(b, "| ");
            pv_render_md_cell(b, name, 0);
            pv_buf_puts(b, " | ");
            pv_render_md_cell(b, jstr(c, "type"), 0);
            pv_buf_printf(b, " | %s | ",
                          json_is_true(json_object_get(c, "nullable")) ? "yes" : "no");
            bool first = true;
            if (in_array(pk, name)) {
                pv_buf_puts(b, "PK");
                first = false;
            }
            put_fk_marks(b, t, name, &first);
            pv_buf_puts(b, " |\n");
        }
        pv_buf_putc(b, '\n');
    }
}

/* Level 2's structured tables: names, kinds, estimates. */
static json_t *tables_brief(json_t *tables)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tables, i, t)
    {
        json_array_append_new(
            out, json_pack("{s:O, s:O, s:O, s:O}", "schema", json_object_get(t, "schema"), "name",
                           json_object_get(t, "name"), "kind", json_object_get(t, "kind"),
                           "row_estimate", json_object_get(t, "row_estimate")));
    }
    return out;
}

/* The answer of get_dataset_schema (context false) or get_context 2/3. */
static json_t *schema_answer(pv_mcp *m, bool context, int level, int ds, json_t *tables,
                             bool cached, double age_s)
{
    const char *name = pv_mcp__dataset_name(m, ds);
    pv_buf md = PV_BUF_INIT;
    json_t *sc;
    tables = pv_mcp__visible_tables(m, ds, tables); /* the dataset's allow-lists */
    if (!tables)
        return NULL;
    if (!context) {
        char boundary[PV_MCP__CURSOR_ID_LEN]; /* names and comments are the database's data */
        pv_mcp__untrusted_begin(&md, boundary);
        put_schema_md(&md, name, tables, true, age_s);
        pv_mcp__untrusted_end(&md, boundary);
        sc = json_pack("{s:s, s:b, s:f, s:O}", "dataset", name, "cached", cached, "age_s", age_s,
                       "tables", tables);
    } else {
        bool full = level >= PV_MCP__LEVEL_FULL;
        char boundary[PV_MCP__CURSOR_ID_LEN];
        pv_mcp__untrusted_begin(&md, boundary);
        put_schema_md(&md, name, tables, full, age_s);
        pv_mcp__untrusted_end(&md, boundary);
        sc = json_pack("{s:i, s:s, s:o}", "level", level, "dataset", name, "tables",
                       full ? json_incref(tables) : tables_brief(tables));
    }
    json_t *r = pv_buf_ok(&md) == 0 && sc ? pv_mcp__tool_result(pv_buf_str(&md), sc, false) : NULL;
    if (!r)
        json_decref(sc);
    pv_buf_fini(&md);
    json_decref(tables);
    return r;
}

/* The structured shape of "no schema", as the tool's outputSchema wants it. */
static json_t *schema_fail_base(pv_mcp *m, const struct pv_mcp__call *c, bool context)
{
    if (!context)
        return json_pack("{s:s, s:[]}", "dataset", pv_mcp__dataset_name(m, c->dataset), "tables");
    return json_pack("{s:i}", "level", c->level);
}

static json_t *render(pv_mcp *m, struct pv_mcp__call *c, bool context)
{
    const struct pv_bresult *r = &c->res[0];
    if (!r->ok)
        return pv_mcp__tool_fail(schema_fail_base(m, c, context), r->sqlstate,
                                 "cannot read the schema of dataset '%s': %s",
                                 pv_mcp__dataset_name(m, c->dataset),
                                 r->message ? r->message : "unknown error");
    const char *cell = r->nrows == 1 && r->ncols == 1 ? r->cells[0] : NULL;
    json_error_t je;
    json_t *tables = cell ? json_loads(cell, 0, &je) : NULL;
    if (!json_is_array(tables)) {
        json_decref(tables);
        return pv_mcp__tool_fail(
            schema_fail_base(m, c, context), NULL,
            "cannot read the schema of dataset '%s': unexpected catalog answer",
            pv_mcp__dataset_name(m, c->dataset));
    }
    cache_put(m, c->dataset, tables);
    json_t *a = schema_answer(m, context, c->level, c->dataset, tables, false, 0);
    json_decref(tables);
    return a;
}

json_t *pv_mcp__render_schema(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    (void)wall_ms;
    return render(m, c, false);
}

json_t *pv_mcp__render_context(pv_mcp *m, struct pv_mcp__call *c, double wall_ms)
{
    (void)wall_ms;
    return render(m, c, true);
}

json_t *pv_mcp__schema_start(pv_mcp_session *s, struct pv_mcp__call *c, bool context, bool refresh,
                             bool *started)
{
    pv_mcp *m = s->m;
    double age = 0;
    json_t *tables = refresh ? NULL : cache_get(m, c->dataset, &age);
    if (tables) {
        json_t *r = schema_answer(m, context, c->level, c->dataset, tables, true, age);
        json_decref(tables);
        pv_mcp__call_free(c);
        return r;
    }
    c->schema_q.dataset = c->dataset;
    c->schema_q.sql = schema_sql;
    c->schema_q.label = "schema";
    c->schema_q.internal = true; /* the catalog: its answer is filtered by the allow-lists */
    return pv_mcp__call_start(s, c, &c->schema_q, 1, schema_fail_base(m, c, context), started);
}
