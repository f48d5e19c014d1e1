/* pv_diag_plan.c - the diagnosis's plans: EXPLAIN of each statement (with
   ANALYZE only when the guard accepts it as read-only), read-only and rolled
   back, and the plan's findings (sequential scans on large tables with the
   columns of their filter, and whether an index leads with them; sorts and
   hashes spilled to disk; JIT time). */
#include "suite/pv_diag_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "guard/pv_guard.h"
#include "workload/pv_sqlscan.h"

/* JIT taking more than this share of the execution time is a finding. */
#define JIT_PCT 10.0
/* The filter columns named in a finding, at most. */
#define MAX_COLS 8

/* ---- one EXPLAIN ---- */

/* Runs EXPLAIN (opts) sql in a READ ONLY transaction with a statement
   timeout, rolled back. The parsed JSON (owned by the caller), or NULL with
   the error in why. */
static json_t *explain(struct pv_diag_ctx *cx, const char *opts, const char *sql,
                       const char *const *vals, int nvals, char *why, size_t cap)
{
    char setup[128];
    snprintf(setup, sizeof(setup), "BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = %d",
             cx->timeout_ms);
    PGresult *r = PQexec(cx->pg, setup);
    json_t *plan = NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pv_diag__error(cx->pg, r, why, cap);
        PQclear(r);
        return NULL;
    }
    PQclear(r);
    pv_buf q = PV_BUF_INIT;
    pv_buf_printf(&q, "EXPLAIN (%s) %s", opts, sql);
    if (pv_buf_ok(&q) != 0) {
        cx->d->oom = true;
        snprintf(why, cap, "out of memory");
    } else {
        r = PQexecParams(cx->pg, pv_buf_str(&q), nvals, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            json_error_t je;
            plan = json_loads(PQgetvalue(r, 0, 0), 0, &je);
            if (!plan)
                snprintf(why, cap, "the plan is not JSON: %s", je.text);
        } else {
            pv_diag__error(cx->pg, r, why, cap);
        }
        PQclear(r);
    }
    pv_buf_fini(&q);
    r = PQexec(cx->pg, "ROLLBACK");
    PQclear(r);
    return plan;
}

/* ---- the plan's text ---- */

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void render_node(const json_t *n, int depth, bool analyze, pv_buf *b)
{
    static const char *const conds[] = {"Index Cond", "Recheck Cond", "Hash Cond",
                                        "Merge Cond", "Join Filter",  "Filter"};
    /* EXPLAIN's indentation: a child's arrow 6 columns right of its
       parent's, a node's details 2 columns right of its name */
    size_t pad = depth > 0 ? (size_t)depth * 6 - 4 : 0, det = depth > 0 ? pad + 6 : 2;
    pv_buf_fill(b, ' ', pad);
    if (depth > 0)
        pv_buf_puts(b, "->  ");
    pv_buf_puts(b, str(n, "Node Type") ? str(n, "Node Type") : "?");
    if (str(n, "Relation Name"))
        pv_buf_printf(b, " on %s", str(n, "Relation Name"));
    if (str(n, "Alias") && str(n, "Relation Name") &&
        strcmp(str(n, "Alias"), str(n, "Relation Name")) != 0)
        pv_buf_printf(b, " %s", str(n, "Alias"));
    if (str(n, "Index Name"))
        pv_buf_printf(b, " using %s", str(n, "Index Name"));
    pv_buf_printf(b, "  (cost=%.2f..%.2f rows=%.0f width=%.0f)", num(n, "Startup Cost"),
                  num(n, "Total Cost"), num(n, "Plan Rows"), num(n, "Plan Width"));
    if (analyze && json_object_get(n, "Actual Loops"))
        pv_buf_printf(b, " (actual time=%.3f..%.3f rows=%.0f loops=%.0f)",
                      num(n, "Actual Startup Time"), num(n, "Actual Total Time"),
                      num(n, "Actual Rows"), num(n, "Actual Loops"));
    pv_buf_putc(b, '\n');
    for (size_t i = 0; i < PV_ARRAY_LEN(conds); i++) {
        if (!str(n, conds[i]))
            continue;
        pv_buf_fill(b, ' ', det);
        pv_buf_printf(b, "%s: %s\n", conds[i], str(n, conds[i]));
    }
    if (json_object_get(n, "Rows Removed by Filter")) {
        pv_buf_fill(b, ' ', det);
        pv_buf_printf(b, "Rows Removed by Filter: %.0f\n", num(n, "Rows Removed by Filter"));
    }
    if (str(n, "Sort Method")) {
        pv_buf_fill(b, ' ', det);
        pv_buf_printf(b, "Sort Method: %s  %s: %.0fkB\n", str(n, "Sort Method"),
                      str(n, "Sort Space Type") ? str(n, "Sort Space Type") : "Memory",
                      num(n, "Sort Space Used"));
    }
    size_t i;
    json_t *child;
    json_array_foreach(json_object_get(n, "Plans"), i, child)
        render_node(child, depth + 1, analyze, b);
}

/* EXPLAIN's text format, approximately, from the JSON (a JSON string), or null. */
static json_t *render(const json_t *top, bool analyze)
{
    pv_buf b = PV_BUF_INIT;
    render_node(json_object_get(top, "Plan"), 0, analyze, &b);
    if (json_object_get(top, "Planning Time"))
        pv_buf_printf(&b, "Planning Time: %.3f ms\n", num(top, "Planning Time"));
    if (json_object_get(top, "Execution Time"))
        pv_buf_printf(&b, "Execution Time: %.3f ms\n", num(top, "Execution Time"));
    json_t *v = pv_buf_ok(&b) == 0 ? json_stringn(b.data, b.len) : NULL;
    pv_buf_fini(&b);
    return v;
}

/* ---- the tables ---- */

/* The table of a plan node (Schema + Relation Name, from VERBOSE), looked
   up once per gather; NULL when it cannot be read (a note says why). */
static struct pv_diag_table *table_of(struct pv_diag_ctx *cx, const json_t *n)
{
    const char *schema = str(n, "Schema"), *rel = str(n, "Relation Name");
    if (!rel || !schema)
        return NULL;
    const char *params[] = {schema, rel};
    PGresult *r = PQexecParams(cx->pg,
                               "SELECT c.oid, c.oid::regclass::text, c.reltuples, c.relpages "
                               "FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                               "WHERE s.nspname = $1 AND c.relname = $2",
                               2, NULL, params, NULL, NULL, 0);
    struct pv_diag_table *t = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        unsigned oid = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        for (int i = 0; i < cx->ntables; i++)
            if (cx->tables[i].oid == oid)
                t = &cx->tables[i];
        if (!t && cx->ntables < PV_DIAG_MAX_TABLES) {
            t = &cx->tables[cx->ntables++];
            t->oid = oid;
            snprintf(t->name, sizeof(t->name), "%s", PQgetvalue(r, 0, 1));
            t->reltuples = strtod(PQgetvalue(r, 0, 2), NULL);
            t->relpages = strtod(PQgetvalue(r, 0, 3), NULL);
        }
    } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char e[512];
        pv_diag__note(cx->d, "looking up table %s.%s failed: %s", schema, rel,
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
    }
    PQclear(r);
    return t;
}

/* ---- the filter's columns ---- */

struct col {
    char name[128];  /* attname */
    char qname[132]; /* quote_ident(attname) */
    int attnum;
    long pos;      /* first position in the filter */
    bool plain;    /* compared directly (col = x, col < x, ...): a b-tree can serve it */
    char idx[200]; /* a valid index leading with it ("" = none) */
    bool partial;  /* ... which is partial */
};

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || c == '"';
}

/* The filter with the contents of its string literals blanked (so that a
   literal never looks like a column). Owned by the caller. */
static char *blank_literals(const char *f)
{
    char *s = pv_strdup(f);
    bool in = false;
    for (char *p = s; p && *p; p++) {
        if (*p == '\'') {
            if (in && p[1] == '\'') {
                *p = p[1] = ' ';
                p++;
                continue;
            }
            in = !in;
        } else if (in) {
            *p = ' ';
        }
    }
    return s;
}

/* Whether ref (at f + pos, len long) is compared as is: "(alias.col = ...",
   "(alias.col)::text = ..." - not inside a function call or an expression. */
static bool plain_ref(const char *f, long pos, size_t len)
{
    static const char *const ops[] = {" = ", " < ", " > ", " <= ", " >= ", " IS NULL", " = ANY "};
    if (pos == 0 || (f[pos - 1] != '(' && f[pos - 1] != ' '))
        return false;
    if (f[pos - 1] == '(' && pos >= 2 && ident_char(f[pos - 2]))
        return false; /* a function's argument */
    const char *after = f + pos + len;
    if (strncmp(after, ")::text", 7) == 0 && f[pos - 1] == '(')
        after += 7;
    for (size_t i = 0; i < PV_ARRAY_LEN(ops); i++)
        if (strncmp(after, ops[i], strlen(ops[i])) == 0)
            return true;
    return false;
}

/* The position of "qalias.qcol" in f as a whole reference, or -1. */
static long find_ref(const char *f, const char *ref)
{
    size_t len = strlen(ref);
    for (const char *p = strstr(f, ref); p; p = strstr(p + 1, ref))
        if ((p == f || (!ident_char(p[-1]) && p[-1] != '.')) && !ident_char(p[len]))
            return (long)(p - f);
    return -1;
}

static int by_pos(const void *a, const void *b)
{
    const struct col *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The columns of t that filter (alias's) names, in order of appearance;
   their count (at most MAX_COLS), -1 when the catalog cannot be read. */
static int filter_cols(struct pv_diag_ctx *cx, const struct pv_diag_table *t, const char *alias,
                       const char *filter, struct col *cols)
{
    char oid[16];
    snprintf(oid, sizeof(oid), "%u", t->oid);
    const char *params[] = {oid, alias};
    PGresult *r = PQexecParams(cx->pg,
                               "SELECT a.attnum, a.attname, quote_ident(a.attname), "
                               "quote_ident($2) FROM pg_attribute a WHERE a.attrelid = $1::oid "
                               "AND a.attnum > 0 AND NOT a.attisdropped",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char e[512];
        pv_diag__note(cx->d, "reading the columns of %s failed: %s", t->name,
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
        PQclear(r);
        return -1;
    }
    char *f = blank_literals(filter);
    int n = 0;
    for (int i = 0; f && i < PQntuples(r) && n < MAX_COLS; i++) {
        char ref[300];
        snprintf(ref, sizeof(ref), "%s.%s", PQgetvalue(r, i, 3), PQgetvalue(r, i, 2));
        long pos = find_ref(f, ref);
        if (pos < 0)
            continue;
        struct col *c = &cols[n++];
        memset(c, 0, sizeof(*c));
        c->attnum = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
        snprintf(c->name, sizeof(c->name), "%s", PQgetvalue(r, i, 1));
        snprintf(c->qname, sizeof(c->qname), "%s", PQgetvalue(r, i, 2));
        c->pos = pos;
        c->plain = plain_ref(f, pos, strlen(ref));
    }
    if (!f)
        cx->d->oom = true;
    free(f);
    PQclear(r);
    qsort(cols, (size_t)n, sizeof(*cols), by_pos);
    return n;
}

/* Fills c->idx with a valid index of t leading with c (a full one first). */
static void leading_index(struct pv_diag_ctx *cx, const struct pv_diag_table *t, struct col *c)
{
    char oid[16], att[16];
    snprintf(oid, sizeof(oid), "%u", t->oid);
    snprintf(att, sizeof(att), "%d", c->attnum);
    const char *params[] = {oid, att};
    PGresult *r = PQexecParams(cx->pg,
                               "SELECT i.indexrelid::regclass::text, i.indpred IS NOT NULL "
                               "FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisvalid "
                               "AND i.indkey[0] = $2::int2 ORDER BY 2, 1 LIMIT 1",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(c->idx, sizeof(c->idx), "%s", PQgetvalue(r, 0, 0));
        c->partial = PQgetvalue(r, 0, 1)[0] == 't';
    } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char e[512];
        pv_diag__note(cx->d, "reading the indexes of %s failed: %s", t->name,
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
    }
    PQclear(r);
}

/* ---- findings ---- */

/* "about 20,000 rows, 19,999 removed by the filter" into buf. */
static void scan_size(const struct pv_diag_table *t, const json_t *n, char *buf, size_t cap)
{
    char a[32], b[32];
    if (t->reltuples >= 0)
        snprintf(buf, cap, "about %s rows", pv_diag__count(t->reltuples, a, sizeof(a)));
    else
        snprintf(buf, cap, "%s pages, never analyzed", pv_diag__count(t->relpages, a, sizeof(a)));
    if (json_object_get(n, "Rows Removed by Filter")) {
        double loops = json_object_get(n, "Actual Loops") ? num(n, "Actual Loops") : 1;
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, ", %s removed by the filter",
                 pv_diag__count(num(n, "Rows Removed by Filter") * loops, b, sizeof(b)));
    }
}

static void seq_scan_finding(struct pv_diag_ctx *cx, const json_t *n, struct pv_diag_table *t)
{
    double loops = json_object_get(n, "Actual Loops") ? num(n, "Actual Loops") : 1;
    double removed = num(n, "Rows Removed by Filter") * loops;
    double kept = num(n, "Actual Rows") * loops;
    bool selective = removed >= PV_DIAG_SELECTIVE_ROWS &&
                     100.0 * removed >= PV_DIAG_SELECTIVE_PCT * (removed + kept);
    if (t->reltuples <= PV_DIAG_LARGE_ROWS && t->relpages <= PV_DIAG_LARGE_PAGES && !selective)
        return;
    const char *what = json_is_true(json_object_get(n, "Parallel Aware"))
                           ? "parallel sequential scan"
                           : "sequential scan";
    char size[128];
    scan_size(t, n, size, sizeof(size));
    const char *filter = str(n, "Filter");
    if (!filter) {
        pv_diag__finding(cx->d, "seq_scan", t->name,
                         "%s on %s (%s) without a filter: reads the "
                         "whole table",
                         what, t->name, size);
        return;
    }
    struct col cols[MAX_COLS];
    int nc = filter_cols(cx, t, str(n, "Alias") ? str(n, "Alias") : t->name, filter, cols);
    if (nc <= 0) {
        pv_diag__finding(cx->d, "seq_scan", t->name, "%s on %s (%s) with filter %.200s", what,
                         t->name, size, filter);
        return;
    }
    pv_buf names = PV_BUF_INIT, ornames = PV_BUF_INIT;
    const struct col *full = NULL, *partial = NULL, *plain = NULL;
    for (int i = 0; i < nc; i++) {
        leading_index(cx, t, &cols[i]);
        pv_buf_printf(&names, "%s%s", i ? ", " : "", cols[i].name);
        pv_buf_printf(&ornames, "%s%s", i == 0 ? "" : i == nc - 1 ? " or " : ", ", cols[i].name);
        if (cols[i].idx[0] && !cols[i].partial && !full)
            full = &cols[i];
        if (cols[i].idx[0] && cols[i].partial && !partial)
            partial = &cols[i];
        if (cols[i].plain && !plain)
            plain = &cols[i];
    }
    if (full) {
        pv_diag__finding(cx->d, "seq_scan", t->name,
                         "%s on %s (%s) filtered by %s, although index %s leads with %s (the "
                         "planner chose the scan)",
                         what, t->name, size, pv_buf_str(&names), full->idx, full->name);
    } else {
        char hint[400] = "";
        if (partial)
            snprintf(hint, sizeof(hint), " (only the partial index %s leads with %s)", partial->idx,
                     partial->name);
        else if (plain)
            snprintf(hint, sizeof(hint), "; CREATE INDEX ON %s (%s) would serve it", t->name,
                     plain->qname);
        pv_diag__finding(cx->d, "no_index", t->name,
                         "%s on %s (%s) filtered by %s: no index leads with %s%s", what, t->name,
                         size, pv_buf_str(&names), pv_buf_str(&ornames), hint);
    }
    if (pv_buf_ok(&names) != 0 || pv_buf_ok(&ornames) != 0)
        cx->d->oom = true;
    pv_buf_fini(&names);
    pv_buf_fini(&ornames);
}

/* An index scan whose filter (not its index condition) discarded most rows:
   the index serves a part of the predicate, the rest is read and thrown away. */
static void index_filter_finding(struct pv_diag_ctx *cx, const json_t *n, struct pv_diag_table *t)
{
    const char *filter = str(n, "Filter");
    double loops = json_object_get(n, "Actual Loops") ? num(n, "Actual Loops") : 1;
    double removed = num(n, "Rows Removed by Filter") * loops;
    double kept = num(n, "Actual Rows") * loops;
    if (!filter || removed < PV_DIAG_SELECTIVE_ROWS ||
        100.0 * removed < PV_DIAG_SELECTIVE_PCT * (removed + kept))
        return;
    struct col cols[MAX_COLS];
    int nc = filter_cols(cx, t, str(n, "Alias") ? str(n, "Alias") : t->name, filter, cols);
    pv_buf names = PV_BUF_INIT;
    for (int i = 0; i < nc; i++)
        pv_buf_printf(&names, "%s%s", i ? ", " : "", cols[i].name);
    char a[32], b[32], what[64]; /* "bitmap heap scan", as the seq scan findings say it */
    snprintf(what, sizeof(what), "%s", str(n, "Node Type"));
    for (char *p = what; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *index = str(n, "Index Name"); /* a bitmap heap scan: its child's */
    if (!index)
        index = str(json_array_get(json_object_get(n, "Plans"), 0), "Index Name");
    if (!index)
        index = "a combination of indexes";
    if (nc > 0)
        pv_diag__finding(cx->d, "index_filter", t->name,
                         "%s on %s using %s kept %s %s and removed %s by the filter on %s, "
                         "which the index does not cover",
                         what, t->name, index, pv_diag__count(kept, a, sizeof(a)),
                         kept == 1 ? "row" : "rows", pv_diag__count(removed, b, sizeof(b)),
                         pv_buf_str(&names));
    else
        pv_diag__finding(cx->d, "index_filter", t->name,
                         "%s on %s using %s kept %s %s and removed %s by the filter %.200s", what,
                         t->name, index, pv_diag__count(kept, a, sizeof(a)),
                         kept == 1 ? "row" : "rows", pv_diag__count(removed, b, sizeof(b)), filter);
    if (pv_buf_ok(&names) != 0)
        cx->d->oom = true;
    pv_buf_fini(&names);
}

static void spill_findings(struct pv_diag_ctx *cx, const json_t *n)
{
    const char *wm = json_string_value(json_object_get(cx->d->settings, "work_mem"));
    if (str(n, "Sort Space Type") && strcmp(str(n, "Sort Space Type"), "Disk") == 0)
        pv_diag__finding(cx->d, "setting", NULL,
                         "sort spilled to disk (%s, %.0f kB) with work_mem = %s",
                         str(n, "Sort Method") ? str(n, "Sort Method") : "?",
                         num(n, "Sort Space Used"), wm ? wm : "?");
    if (num(n, "Hash Batches") > 1)
        pv_diag__finding(cx->d, "setting", NULL,
                         "hash spilled to disk in %.0f batches (peak memory %.0f kB) with "
                         "work_mem = %s",
                         num(n, "Hash Batches"), num(n, "Peak Memory Usage"), wm ? wm : "?");
}

/* Every node: the tables it touches, its findings. */
static void walk(struct pv_diag_ctx *cx, const json_t *n)
{
    if (!json_is_object(n))
        return;
    struct pv_diag_table *t = table_of(cx, n);
    const char *type = str(n, "Node Type");
    if (t && type && strcmp(type, "Seq Scan") == 0)
        seq_scan_finding(cx, n, t);
    else if (t && type && (strstr(type, "Index") || strcmp(type, "Bitmap Heap Scan") == 0))
        index_filter_finding(cx, n, t);
    spill_findings(cx, n);
    size_t i;
    json_t *child;
    json_array_foreach(json_object_get(n, "Plans"), i, child) walk(cx, child);
}

static void jit_finding(struct pv_diag_ctx *cx, const json_t *top)
{
    double total = num(json_object_get(json_object_get(top, "JIT"), "Timing"), "Total");
    double exec = num(top, "Execution Time");
    if (total > 0 && exec > 0 && 100.0 * total / exec >= JIT_PCT)
        pv_diag__finding(cx->d, "setting", NULL,
                         "JIT compilation took %.1f ms of the %.1f ms execution (jit = on)", total,
                         exec);
}

/* ---- one statement ---- */

/* The record of one plan in d->plans. */
static json_t *plan_record(struct pv_diag_ctx *cx, const char *sql)
{
    json_t *p = json_object();
    pv_diag__put(cx->d, p, "sql", json_string(sql));
    pv_diag__put(cx->d, p, "analyze", json_false());
    pv_diag__put(cx->d, p, "format", json_string("json"));
    pv_diag__put(cx->d, p, "plan", json_null());
    pv_diag__put(cx->d, p, "text", json_null());
    pv_diag__put(cx->d, p, "error", json_null());
    if (p)
        json_incref(p);
    pv_diag__push(cx->d, cx->d->plans, p);
    return p; /* a reference of the caller's */
}

/* Remembers the statement for pg_stat_statements (queryid and text). */
static void remember(struct pv_diag_ctx *cx, const json_t *top, const char *sql)
{
    if (cx->nqueries >= (int)PV_ARRAY_LEN(cx->queryids))
        return;
    json_t *qid = json_object_get(top, "Query Identifier");
    int q = cx->nqueries;
    cx->queryids[q][0] = '\0';
    if (json_is_integer(qid) && json_integer_value(qid) != 0)
        snprintf(cx->queryids[q], sizeof(cx->queryids[q]), "%lld",
                 (long long)json_integer_value(qid));
    cx->query_texts[q] = pv_strdup(sql);
    if (!cx->query_texts[q]) {
        cx->d->oom = true;
        return;
    }
    cx->nqueries++;
}

static void explain_one(struct pv_diag_ctx *cx, const char *orig, const struct pv_sqlstmt *st,
                        const char *const *vals, json_t *rec)
{
    pv_err gerr = {{0}};
    char why[512] = "";
    json_t *plan = NULL;
    bool analyze = pv_guard_check(st->sql, NULL, &gerr) == 0;
    if (analyze) {
        plan = explain(cx, "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON", st->sql, vals, st->nparams,
                       why, sizeof(why));
        if (!plan)
            pv_diag__note(cx->d, "EXPLAIN ANALYZE of \"%.80s\" failed (%s): plain EXPLAIN instead",
                          orig, why);
    } else {
        pv_diag__put(cx->d, rec, "analyze_skipped", json_string(gerr.msg));
    }
    if (!plan) {
        analyze = false;
        plan = explain(cx, "VERBOSE, FORMAT JSON", st->sql, vals, st->nparams, why, sizeof(why));
    }
    if (!plan) {
        pv_diag__put(cx->d, rec, "error", json_string(why));
        pv_diag__note(cx->d, "\"%.80s\" could not be explained: %s", orig, why);
        return;
    }
    json_t *top = json_array_get(plan, 0);
    pv_diag__put(cx->d, rec, "analyze", json_boolean(analyze));
    pv_diag__put(cx->d, rec, "text", render(top, analyze));
    pv_diag__put(cx->d, rec, "plan", json_incref(plan));
    remember(cx, top, st->sql);
    walk(cx, json_object_get(top, "Plan"));
    if (analyze)
        jit_finding(cx, top);
    json_decref(plan);
}

void pv_diag__explain(struct pv_diag_ctx *cx, const char *sql, const char *const *params,
                      size_t nparams)
{
    struct pv_sqlstmt *st = NULL;
    int n = 0;
    pv_err err = {{0}};
    json_t *rec = plan_record(cx, sql);
    if (!rec)
        return;
    int rc = pv_sqlscan_split(sql, &st, &n, &err);
    if (rc == VOLLEY_ENOMEM)
        cx->d->oom = true;
    const char **vals = NULL;
    if (rc != 0 || n != 1) {
        char why[PV_ERR_LEN + 64];
        if (rc != 0)
            snprintf(why, sizeof(why), "%s", err.msg);
        else
            snprintf(why, sizeof(why), "%d statements in one: not explained", n);
        pv_diag__put(cx->d, rec, "error", json_string(why));
        pv_diag__note(cx->d, "\"%.80s\": %s", sql, why);
        goto out;
    }
    vals = st->nparams ? calloc((size_t)st->nparams, sizeof(*vals)) : NULL;
    if (st->nparams && !vals) {
        cx->d->oom = true;
        goto out;
    }
    for (int k = 0; k < st->nparams; k++) {
        if ((size_t)st->map[k] >= nparams) {
            char why[200];
            snprintf(why, sizeof(why), "no example value for parameter %d: not explained",
                     st->map[k] + 1);
            pv_diag__put(cx->d, rec, "error", json_string(why));
            pv_diag__note(cx->d, "\"%.80s\": %s", sql, why);
            goto out;
        }
        vals[k] = params[st->map[k]];
    }
    explain_one(cx, sql, &st[0], vals, rec);
out:
    free(vals);
    pv_sqlstmts_free(st, n);
    json_decref(rec);
}
