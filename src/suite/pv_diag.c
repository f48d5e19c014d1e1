/* pv_diag.c - the diagnosis of a missed target: gather's steps (the
   session, the plans through pv_diag_plan.c, index usage, pg_stat_statements,
   settings, the sampler's waits), the object and its JSON (contract 3). */
#include "suite/pv_diag_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/pv_conn.h"

/* The gather's session: every transaction read-only, catalog queries short. */
#define SESSION_SETUP                                                                              \
    "SET default_transaction_read_only = on; SET statement_timeout = 5000; "                       \
    "SET lock_timeout = 2000; SET application_name = 'pgvolley diagnosis'"

static const char *const settings_names[] = {
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_connections",
    "jit",
    "max_parallel_workers_per_gather",
};

/* ---- the object ---- */

void pv_diag__put(pv_diag *d, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        d->oom = true;
}

void pv_diag__push(pv_diag *d, json_t *arr, json_t *v)
{
    if (!v || json_array_append_new(arr, v) != 0)
        d->oom = true;
}

void pv_diag__note(pv_diag *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pv_diag__push(d, d->notes, json_string(line));
}

void pv_diag__finding(pv_diag *d, const char *kind, const char *table, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    json_t *f = json_object();
    pv_diag__put(d, f, "kind", json_string(kind));
    pv_diag__put(d, f, "text", json_string(line));
    pv_diag__put(d, f, "table", table ? json_string(table) : json_null());
    pv_diag__push(d, d->findings, f);
}

const char *pv_diag__error(PGconn *pg, const PGresult *r, char *buf, size_t cap)
{
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !msg[0])
        msg = PQerrorMessage(pg);
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    pv_first_line(buf, cap, msg);
    return buf;
}

int pv_diag__exec(struct pv_diag_ctx *cx, const char *sql, const char *what)
{
    PGresult *r = PQexec(cx->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        char e[512];
        pv_diag__note(cx->d, "%s failed: %s", what, pv_diag__error(cx->pg, r, e, sizeof(e)));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

const char *pv_diag__count(double v, char *buf, size_t cap)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%.0f", v < 0 ? 0 : round(v));
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static pv_diag *diag_new(void)
{
    pv_diag *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->root = json_object();
    d->findings = json_array();
    d->plans = json_array();
    d->waits = json_array();
    d->indexes = json_array();
    d->settings = json_object();
    d->notes = json_array();
    if (!d->root || !d->findings || !d->plans || !d->waits || !d->indexes || !d->settings ||
        !d->notes) {
        json_decref(d->findings);
        json_decref(d->plans);
        json_decref(d->waits);
        json_decref(d->indexes);
        json_decref(d->settings);
        json_decref(d->notes);
        json_decref(d->root);
        free(d);
        return NULL;
    }
    /* the order of contract 3; the root owns them from here */
    pv_diag__put(d, d->root, "findings", d->findings);
    pv_diag__put(d, d->root, "plans", d->plans);
    pv_diag__put(d, d->root, "statements", json_null());
    pv_diag__put(d, d->root, "waits", d->waits);
    pv_diag__put(d, d->root, "lock_waits", json_null());
    pv_diag__put(d, d->root, "indexes", d->indexes);
    pv_diag__put(d, d->root, "settings", d->settings);
    pv_diag__put(d, d->root, "notes", d->notes);
    return d;
}

void pv_diag_destroy(pv_diag *d)
{
    if (!d)
        return;
    json_decref(d->root);
    free(d);
}

size_t pv_diag_nfindings(const pv_diag *d)
{
    return json_array_size(d->findings);
}

const char *pv_diag_finding(const pv_diag *d, size_t i)
{
    return json_string_value(json_object_get(json_array_get(d->findings, i), "text"));
}

const char *pv_diag_finding_kind(const pv_diag *d, size_t i)
{
    return json_string_value(json_object_get(json_array_get(d->findings, i), "kind"));
}

size_t pv_diag_nnotes(const pv_diag *d)
{
    return json_array_size(d->notes);
}

const char *pv_diag_note(const pv_diag *d, size_t i)
{
    return json_string_value(json_array_get(d->notes, i));
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    pv_buf_append(data, buffer, size);
    return 0;
}

int pv_diag_json(const pv_diag *d, pv_buf *out)
{
    if (json_dump_callback(d->root, dump_cb, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0)
        return VOLLEY_ENOMEM;
    return pv_buf_ok(out);
}

const json_t *pv_diag_json_tree(const pv_diag *d)
{
    return d->root;
}

/* ---- the steps ---- */

static void read_settings(struct pv_diag_ctx *cx)
{
    PGresult *r = PQexec(cx->pg, "SELECT name, current_setting(name) FROM pg_settings WHERE name "
                                 "IN ('shared_buffers', 'work_mem', 'effective_cache_size', "
                                 "'random_page_cost', 'max_connections', 'jit', "
                                 "'max_parallel_workers_per_gather')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char e[512];
        pv_diag__note(cx->d, "reading the settings failed: %s",
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
        PQclear(r);
        return;
    }
    /* in the order of settings_names, whatever order the server returns */
    for (size_t k = 0; k < PV_ARRAY_LEN(settings_names); k++)
        for (int i = 0; i < PQntuples(r); i++)
            if (strcmp(PQgetvalue(r, i, 0), settings_names[k]) == 0)
                pv_diag__put(cx->d, cx->d->settings, settings_names[k],
                             json_string(PQgetvalue(r, i, 1)));
    PQclear(r);
}

/* Index usage of the tables the plans touched. */
static void read_indexes(struct pv_diag_ctx *cx)
{
    for (int t = 0; t < cx->ntables; t++) {
        char oid[16];
        snprintf(oid, sizeof(oid), "%u", cx->tables[t].oid);
        const char *params[] = {oid};
        PGresult *r = PQexecParams(cx->pg,
                                   "SELECT indexrelid::regclass::text, idx_scan, "
                                   "pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                                   "WHERE relid = $1::oid ORDER BY 1",
                                   1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char e[512];
            pv_diag__note(cx->d, "reading the index usage of %s failed: %s", cx->tables[t].name,
                          pv_diag__error(cx->pg, r, e, sizeof(e)));
            PQclear(r);
            continue;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *e = json_object();
            pv_diag__put(cx->d, e, "table", json_string(cx->tables[t].name));
            pv_diag__put(cx->d, e, "index", json_string(PQgetvalue(r, i, 0)));
            pv_diag__put(cx->d, e, "idx_scan",
                         json_integer(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
            pv_diag__put(cx->d, e, "size_bytes",
                         json_integer(strtoll(PQgetvalue(r, i, 2), NULL, 10)));
            pv_diag__push(cx->d, cx->d->indexes, e);
        }
        PQclear(r);
    }
}

/* Where pg_stat_statements lives, into schema (quoted); false (with a note)
   when it is not installed in this database. */
static bool pgss_schema(struct pv_diag_ctx *cx, char *schema, size_t cap)
{
    PGresult *r = PQexec(cx->pg, "SELECT quote_ident(extnamespace::regnamespace::text) FROM "
                                 "pg_extension WHERE extname = 'pg_stat_statements'");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        snprintf(schema, cap, "%s", PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) == PGRES_TUPLES_OK)
        pv_diag__note(cx->d, "pg_stat_statements is not installed in this database: no "
                             "statement statistics (it needs shared_preload_libraries = "
                             "'pg_stat_statements' and CREATE EXTENSION pg_stat_statements)");
    else {
        char e[512];
        pv_diag__note(cx->d, "looking for pg_stat_statements failed: %s",
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
    }
    PQclear(r);
    return ok;
}

/* The rows of one statement (queryid, else the text) into d->statements. */
static void pgss_one(struct pv_diag_ctx *cx, const char *schema, int q)
{
    char sql[1024];
    bool by_id = cx->queryids[q][0] != '\0';
    snprintf(sql, sizeof(sql),
             "SELECT s.query, s.queryid, s.calls, s.mean_exec_time, s.stddev_exec_time, "
             "s.shared_blks_hit, s.shared_blks_read FROM %s.pg_stat_statements s "
             "WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
             "AND s.toplevel AND %s ORDER BY s.calls DESC",
             schema, by_id ? "s.queryid = $1::bigint" : "s.query = $1");
    const char *params[] = {by_id ? cx->queryids[q] : cx->query_texts[q]};
    PGresult *r = PQexecParams(cx->pg, sql, 1, NULL, params, NULL, NULL, 0);
    char e[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pv_diag__note(cx->d, "reading pg_stat_statements failed: %s",
                      pv_diag__error(cx->pg, r, e, sizeof(e)));
    } else if (PQntuples(r) == 0) {
        pv_diag__note(cx->d, "pg_stat_statements has no entry for statement %d (%s %s)", q + 1,
                      by_id ? "queryid" : "text", by_id ? cx->queryids[q] : "as written");
    }
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        json_t *o = json_object();
        long long calls = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        double mean = strtod(PQgetvalue(r, i, 3), NULL), sd = strtod(PQgetvalue(r, i, 4), NULL);
        long long hit = strtoll(PQgetvalue(r, i, 5), NULL, 10);
        long long rd = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        pv_diag__put(cx->d, o, "sql", json_string(PQgetvalue(r, i, 0)));
        pv_diag__put(cx->d, o, "queryid", json_string(PQgetvalue(r, i, 1)));
        pv_diag__put(cx->d, o, "calls", json_integer(calls));
        pv_diag__put(cx->d, o, "mean_ms", json_real(mean));
        pv_diag__put(cx->d, o, "stddev_ms", json_real(sd));
        pv_diag__put(cx->d, o, "shared_blks_hit", json_integer(hit));
        pv_diag__put(cx->d, o, "shared_blks_read", json_integer(rd));
        pv_diag__push(cx->d, cx->d->statements, o);
        if (i == 0) {
            char c1[32];
            pv_diag__finding(cx->d, "stats", NULL,
                             "pg_stat_statements, statement %d: %s calls, mean %.3f ms (stddev "
                             "%.3f ms), shared blocks %.1f%% hit (%lld read)",
                             q + 1, pv_diag__count((double)calls, c1, sizeof(c1)), mean, sd,
                             hit + rd > 0 ? 100.0 * (double)hit / (double)(hit + rd) : 100.0, rd);
        }
    }
    PQclear(r);
}

static void read_statements(struct pv_diag_ctx *cx)
{
    char schema[200];
    if (cx->nqueries == 0 || !pgss_schema(cx, schema, sizeof(schema)))
        return;
    cx->d->statements = json_array();
    pv_diag__put(cx->d, cx->d->root, "statements", cx->d->statements);
    if (cx->d->oom)
        return;
    for (int q = 0; q < cx->nqueries; q++)
        pgss_one(cx, schema, q);
}

/* BEGIN, COMMIT and the like: a transaction's frame, not explained. */
static bool is_transaction_control(const char *sql)
{
    static const char *const words[] = {"begin",    "start", "commit",    "end",
                                        "rollback", "abort", "savepoint", "release"};
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    for (size_t i = 0; i < PV_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i]);
        char c = sql[n];
        if (strncasecmp(sql, words[i], n) == 0 &&
            (c == '\0' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r'))
            return true;
    }
    return false;
}

int pv_diag_gather(const char *const *keywords, const char *const *values,
                   const struct pv_diag_request *req, pv_diag **out, pv_err *err)
{
    *out = NULL;
    if (!req || (!req->statements && req->nstatements > 0))
        return pv_err_set(err, VOLLEY_EINVAL, "pv_diag_gather: no request");
    struct pv_diag_ctx cx = {0};
    cx.d = diag_new();
    if (!cx.d)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    double t = req->statement_timeout_s > 0 ? req->statement_timeout_s : 10.0;
    cx.timeout_ms = t > 3600.0 ? 3600000 : (int)(t * 1000.0 + 0.5);
    if (cx.timeout_ms < 1)
        cx.timeout_ms = 1;
    int rc = pv_conn_connect_blocking(keywords, values, &cx.pg, err);
    if (rc != 0) {
        pv_diag_destroy(cx.d);
        return rc;
    }
    pv_diag__exec(&cx, SESSION_SETUP, "setting up the session");
    read_settings(&cx);
    for (size_t i = 0; i < req->nstatements && !cx.d->oom; i++) {
        if (!is_transaction_control(req->statements[i]))
            pv_diag__explain(&cx, req->statements[i], req->param_values,
                             req->param_values ? req->nparams : 0);
    }
    read_indexes(&cx);
    read_statements(&cx);
    if (req->sampler)
        pv_diag__sampler_report(req->sampler, cx.d);
    PQfinish(cx.pg);
    for (int q = 0; q < cx.nqueries; q++)
        free(cx.query_texts[q]);
    if (cx.d->oom) {
        pv_diag_destroy(cx.d);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    *out = cx.d;
    return 0;
}
