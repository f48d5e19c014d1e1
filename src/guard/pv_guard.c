/* pv_guard.c - the read-only guard: PostgreSQL's parser (libpg_query) plus a walk of its tree. */
#include "guard/pv_guard.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pg_query.h>

/*
 * How it works. pg_query_parse returns the raw parse tree as JSON text: a
 * node is an object with one key, its type ({"FuncCall": {...}}), except in
 * fields typed as one particular node, which hold the fields directly
 * (SelectStmt.larg/rarg, .intoClause, .withClause). So the walk looks at
 * every key of every object: node type names catch nodes, field names catch
 * what may sit in an unwrapped node (a locking clause of a UNION arm).
 *
 * The tree is checked in two steps: the top-level statement must be a
 * SELECT, a SHOW or an EXPLAIN of a SELECT (without ANALYZE unless
 * opts->explain_analyze); then every object
 * and array of it is visited with an explicit heap-allocated stack, so that
 * a deep tree cannot overflow ours.
 *
 * Deep trees and libpg_query. Bison's own stack limit (10000 entries) ends
 * deep parenthesised or prefix nesting with "memory exhausted", but
 * left-associative chains (1+1+...+1, x::int::int..., SELECT 1 UNION
 * SELECT 1 UNION ...) grow the tree without limit, and libpg_query writes
 * the tree out recursively: about 64 bytes of stack per byte of such input
 * (measured, 128 bytes per level of "+1"). Short queries are parsed on the
 * caller's stack (PARSE_DIRECT_MAX bytes need at most ~512 KB); longer ones
 * on a thread whose stack is sized from the query's length, and queries
 * longer than PV_GUARD_MAX_LEN are refused. jansson then refuses JSON nested
 * deeper than 2048 levels (about 1000 tree levels), which we report as a
 * refusal: such a query cannot be checked.
 */

#define PARSE_DIRECT_MAX (8 * 1024)
#define PV_GUARD_MAX_LEN (1024 * 1024)
#define STACK_PER_BYTE   256 /* 4 x the measured worst case */
#define STACK_BASE       (8 * 1024 * 1024)
#define NEAR_TEXT_MAX    40
#define ONLY_ACCEPTED_HINT                                                                         \
    "only SELECT, VALUES, TABLE, SHOW and EXPLAIN (without ANALYZE) are accepted"

/* ---- the deny-list -------------------------------------------------------- */

/*
 * A name ending in '*' matches every name that starts with what precedes it.
 *
 * Deliberately not denied:
 * - pg_sleep, pg_sleep_for, pg_sleep_until: they only wait, and every query
 *   runs under a statement timeout that cancels the wait; a load-testing
 *   tool has legitimate uses for a slow query.
 * - currval, lastval, current_setting, pg_prepared_statement and other
 *   readers of session state: they change nothing.
 * Functions that only write (lo_create, pg_import_system_collations ...)
 * would also fail in the executor's READ ONLY transaction; they are listed
 * anyway so that the refusal is immediate and explains itself.
 */
static const struct pv_guard_denied denied[] = {
    /* signals */
    {"pg_terminate_backend", "terminates other backends"},
    {"pg_cancel_backend", "cancels queries of other backends"},
    {"pg_signal_backend", "signals other backends"},
    {"pg_log_backend_memory_contexts", "signals another backend to write to the server log"},
    /* configuration */
    {"pg_reload_conf", "reloads the server configuration"},
    {"pg_rotate_logfile*", "rotates the server log file"},
    {"set_config", "changes configuration"},
    /* locks and notifications that outlive the transaction */
    {"pg_advisory_*", "takes or releases advisory locks, which outlive the transaction"},
    {"pg_try_advisory_*", "takes advisory locks, which outlive the transaction"},
    {"pg_notify", "sends a notification"},
    /* large objects and server files */
    {"lo_*", "reads or writes large objects or server files"},
    {"loread", "reads large objects"},
    {"lowrite", "writes large objects"},
    {"pg_read_file", "reads server files"},
    {"pg_read_binary_file", "reads server files"},
    {"pg_ls_*", "lists server directories"},
    {"pg_stat_file", "reads server file metadata"},
    {"pg_file_*", "writes, renames or removes server files (adminpack)"},
    {"pg_logdir_ls", "lists the server log directory (adminpack)"},
    /* remote connections */
    {"dblink*", "opens remote connections that escape the transaction"},
    {"pg_background_*", "runs SQL in a background worker, outside the transaction"},
    /* replication */
    {"pg_create_physical_replication_slot", "creates a replication slot"},
    {"pg_create_logical_replication_slot", "creates a replication slot"},
    {"pg_copy_physical_replication_slot", "creates a replication slot"},
    {"pg_copy_logical_replication_slot", "creates a replication slot"},
    {"pg_drop_replication_slot", "drops a replication slot"},
    {"pg_replication_slot_advance", "advances a replication slot"},
    {"pg_replication_origin_*", "changes replication origins"},
    {"pg_logical_emit_message", "writes a message into the WAL"},
    {"pg_logical_slot_*", "reads or consumes changes from a logical replication slot"},
    /* server control */
    {"pg_switch_wal", "controls the server (switches the WAL file)"},
    {"pg_switch_xlog", "controls the server (switches the WAL file)"},
    {"pg_create_restore_point", "controls the server (writes a restore point)"},
    {"pg_backup_start", "controls the server (starts a backup)"},
    {"pg_start_backup", "controls the server (starts a backup)"},
    {"pg_backup_stop", "controls the server (stops a backup)"},
    {"pg_stop_backup", "controls the server (stops a backup)"},
    {"pg_promote", "controls the server (promotes a standby)"},
    {"pg_wal_replay_*", "controls the server (pauses or resumes recovery)"},
    {"pg_xlog_replay_*", "controls the server (pauses or resumes recovery)"},
    /* sequences */
    {"nextval", "changes a sequence, which is not rolled back"},
    {"setval", "changes a sequence, which is not rolled back"},
    /* run SQL text, or fetch from a cursor, behind the guard's back */
    {"query_to_xml*", "runs SQL text given as an argument"},
    {"cursor_to_xml", "fetches from a cursor"},
    {"table_to_xml*", "runs SQL built from its arguments"},
    {"schema_to_xml*", "runs SQL built from its arguments"},
    {"database_to_xml*", "runs SQL built from its arguments"},
    {"ts_stat", "runs SQL text given as an argument"},
    {"ts_rewrite", "runs SQL text given as an argument (two-argument form)"},
    /* transaction ids */
    {"txid_current", "assigns a transaction id"},
    {"pg_current_xact_id", "assigns a transaction id"},
    /* catalog, statistics and page writers */
    {"pg_import_system_collations", "creates collations"},
    {"pg_stat_reset*", "resets statistics"},
    {"pg_stat_statements_reset", "resets statistics"},
    {"brin_summarize_*", "writes index pages, even in a read-only transaction"},
    {"brin_desummarize_range", "writes index pages, even in a read-only transaction"},
    {"gin_clean_pending_list", "writes index pages, even in a read-only transaction"},
    {"pg_truncate_visibility_map", "truncates a visibility map (pg_visibility)"},
    {"heap_force_*", "modifies table pages directly (pg_surgery)"},
    {"binary_upgrade_*", "changes the catalog (binary-upgrade support)"},
    {NULL, NULL},
};

const struct pv_guard_denied *pv_guard_denied_functions(void)
{
    return denied;
}

/* The deny-list entry matching lower-case name, or NULL. */
static const struct pv_guard_denied *find_denied(const char *name)
{
    for (const struct pv_guard_denied *d = denied; d->name; d++) {
        size_t n = strlen(d->name);
        if (n > 0 && d->name[n - 1] == '*') {
            if (strncmp(name, d->name, n - 1) == 0)
                return d;
        } else if (strcmp(name, d->name) == 0) {
            return d;
        }
    }
    return NULL;
}

/* ---- small helpers -------------------------------------------------------- */

struct ctx {
    const struct pv_guard_opts *opts;
    pv_err *err;
};

static int refuse(struct ctx *c, const char *fmt, ...) PV_PRINTF(2, 3);

/* Refuses with "not read-only: " and the formatted reason. */
static int refuse(struct ctx *c, const char *fmt, ...)
{
    char what[PV_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return pv_err_set(c->err, VOLLEY_EINPUT, "not read-only: %s", what);
}

/* ASCII lower-casing into out (PostgreSQL folds identifiers the same way). */
static void lower_copy(char *out, size_t outsz, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outsz; i++) {
        char ch = s[i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[i] = '\0';
}

static bool name_eq_ci(const char *a, const char *b)
{
    char la[128], lb[128];
    lower_copy(la, sizeof(la), a);
    lower_copy(lb, sizeof(lb), b);
    return strcmp(la, lb) == 0;
}

/* The sval of a {"String": {"sval": ...}} node, or NULL. */
static const char *string_node(const json_t *node)
{
    const json_t *s = json_object_get(node, "String");
    return json_string_value(json_object_get(s, "sval"));
}

/* The only key of a node object ({"SelectStmt": {...}}), or NULL. */
static const char *node_type(const json_t *node, json_t **fields)
{
    if (!json_is_object(node) || json_object_size(node) != 1)
        return NULL;
    const char *key = json_object_iter_key(json_object_iter((json_t *)node));
    if (fields)
        *fields = json_object_iter_value(json_object_iter((json_t *)node));
    return key;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- the functions ------------------------------------------------------- */

static bool allowed_by_list(const struct pv_guard_opts *opts, const char *name)
{
    for (const char *const *a = opts->allow; a && *a; a++) {
        if (strcmp(*a, name) == 0)
            return true;
    }
    return false;
}

/* Checks one function name (any case, without schema). */
static int check_function(struct ctx *c, const char *raw)
{
    char name[128];
    lower_copy(name, sizeof(name), raw);
    if (c->opts && c->opts->mode == PV_GUARD_ALLOWLIST) {
        if (!allowed_by_list(c->opts, name))
            return pv_err_set(c->err, VOLLEY_EINPUT,
                              "not read-only: function %s() is not allowed (not on the allow-list)",
                              name);
        return 0;
    }
    const struct pv_guard_denied *d = find_denied(name);
    if (d)
        return pv_err_set(c->err, VOLLEY_EINPUT, "not read-only: function %s() is not allowed (%s)",
                          name, d->why);
    return 0;
}

static int check_funccall(struct ctx *c, const json_t *fc)
{
    const json_t *names = json_object_get(fc, "funcname");
    size_t n = json_array_size(names);
    const char *last = n ? string_node(json_array_get(names, n - 1)) : NULL;
    if (!last)
        return refuse(c, "a function call without a name");
    return check_function(c, last);
}

/*
 * Attribute notation: t.f and (expr).f call f(t) when t has no column f and
 * f takes t's row type (or record, or a polymorphic type). In deny-list
 * mode a field named like a denied function is refused.
 * XXX this also refuses a real column that shares a denied function's name;
 * in allow-list mode attribute-notation calls are not seen at all.
 */
static int check_fields(struct ctx *c, const json_t *list, size_t first)
{
    if (c->opts && c->opts->mode == PV_GUARD_ALLOWLIST)
        return 0;
    for (size_t i = first; i < json_array_size(list); i++) {
        const char *f = string_node(json_array_get(list, i));
        if (f) {
            char name[128];
            lower_copy(name, sizeof(name), f);
            if (find_denied(name)) {
                int rc = check_function(c, name);
                if (rc != 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* ---- the walk ------------------------------------------------------------- */

static const char *lock_strength(const json_t *lc)
{
    const json_t *items = json_is_array(lc) ? lc : NULL;
    const json_t *first = json_array_get(items, 0);
    json_t *fields = NULL;
    node_type(first, &fields);
    const char *s = json_string_value(json_object_get(fields, "strength"));
    if (!s)
        return "FOR UPDATE/SHARE";
    if (strcmp(s, "LCS_FORKEYSHARE") == 0)
        return "FOR KEY SHARE";
    if (strcmp(s, "LCS_FORSHARE") == 0)
        return "FOR SHARE";
    if (strcmp(s, "LCS_FORNOKEYUPDATE") == 0)
        return "FOR NO KEY UPDATE";
    return "FOR UPDATE";
}

static const char *dml_kind(const char *type)
{
    if (strcmp(type, "InsertStmt") == 0)
        return "INSERT";
    if (strcmp(type, "UpdateStmt") == 0)
        return "UPDATE";
    if (strcmp(type, "DeleteStmt") == 0)
        return "DELETE";
    if (strcmp(type, "MergeStmt") == 0)
        return "MERGE";
    return NULL;
}

/* Checks one key of an object met during the walk. */
static int check_key(struct ctx *c, const char *key, const json_t *val)
{
    if (strcmp(key, "lockingClause") == 0)
        return refuse(c, "locking clause (%s)", lock_strength(val));
    if (strcmp(key, "intoClause") == 0)
        return refuse(c, "SELECT INTO creates a table");
    if (strcmp(key, "FuncCall") == 0)
        return check_funccall(c, val);
    if (strcmp(key, "ColumnRef") == 0)
        return check_fields(c, json_object_get(val, "fields"), 1);
    if (strcmp(key, "A_Indirection") == 0)
        return check_fields(c, json_object_get(val, "indirection"), 0);
    if (ends_with(key, "Stmt") && strcmp(key, "SelectStmt") != 0) {
        const char *dml = dml_kind(key);
        if (dml)
            return refuse(c, "data-modifying CTE (%s)", dml);
        return refuse(c, "nested %s", key);
    }
    return 0;
}

struct stack {
    const json_t **v;
    size_t n, cap;
};

static int push(struct stack *s, const json_t *v)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const json_t **nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv)
            return VOLLEY_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

/* Visits every object and array under root, checking every key. */
static int walk(struct ctx *c, const json_t *root)
{
    struct stack s = {NULL, 0, 0};
    int rc = push(&s, root);
    while (rc == 0 && s.n > 0) {
        const json_t *v = s.v[--s.n];
        if (json_is_array(v)) {
            for (size_t i = 0; rc == 0 && i < json_array_size(v); i++)
                rc = push(&s, json_array_get(v, i));
            continue;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            rc = check_key(c, key, val);
            if (rc == 0)
                rc = push(&s, val);
            if (rc != 0)
                break;
        }
    }
    free(s.v);
    if (rc == VOLLEY_ENOMEM)
        return pv_err_set(c->err, VOLLEY_ENOMEM, "out of memory");
    return rc;
}

/* ---- the table allow-lists ------------------------------------------------ */

static const char *const from_functions[] = {
    "generate_series",
    "generate_subscripts",
    "unnest",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    "json_to_recordset",
    "jsonb_to_recordset",
    "json_populate_recordset",
    "jsonb_populate_recordset",
    "jsonb_path_query",
    "pg_get_keywords",
    NULL,
};

const char *const *pv_guard_from_functions(void)
{
    return from_functions;
}

static bool in_list(const char *const *list, const char *s, size_t len)
{
    for (const char *const *a = list; a && *a; a++)
        if (strlen(*a) == len && memcmp(*a, s, len) == 0)
            return true;
    return false;
}

bool pv_guard_table_allowed(const struct pv_guard_opts *o, const char *schema, const char *rel)
{
    if (o->allow_schemas && !in_list(o->allow_schemas, schema, strlen(schema)))
        return false;
    if (!o->allow_tables)
        return true;
    for (const char *const *a = o->allow_tables; *a; a++) {
        const char *dot = strchr(*a, '.');
        const char *sch = dot ? *a : "public";
        size_t slen = dot ? (size_t)(dot - *a) : strlen("public");
        const char *name = dot ? dot + 1 : *a;
        if (strlen(schema) == slen && memcmp(schema, sch, slen) == 0 && strcmp(name, rel) == 0)
            return true;
    }
    return false;
}

struct relwalk {
    struct ctx *c;
    const json_t *ctes; /* the top-level WITH's list, or NULL */
    size_t nvisible;    /* how many of its names are in scope */
};

static bool cte_visible(const struct relwalk *w, const char *name)
{
    for (size_t i = 0; i < w->nvisible; i++) {
        json_t *f = NULL;
        node_type(json_array_get(w->ctes, i), &f);
        const char *n = json_string_value(json_object_get(f, "ctename"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static int check_rangevar(const struct relwalk *w, const json_t *rv)
{
    const char *schema = json_string_value(json_object_get(rv, "schemaname"));
    const char *rel = json_string_value(json_object_get(rv, "relname"));
    if (!rel)
        return refuse(w->c, "a table reference the guard cannot read");
    if (!schema && cte_visible(w, rel))
        return 0;
    if (pv_guard_table_allowed(w->c->opts, schema ? schema : "public", rel))
        return 0;
    return pv_err_set(w->c->err, VOLLEY_EINPUT,
                      "refused by policy: table %s%s%s is not in the dataset's allow-list "
                      "(allow_schemas/allow_tables)",
                      schema ? schema : "", schema ? "." : "", rel);
}

static int check_rangefunction(const struct relwalk *w, const json_t *rf)
{
    const json_t *fns = json_object_get(rf, "functions");
    for (size_t i = 0; i < json_array_size(fns); i++) {
        json_t *lf = NULL;
        node_type(json_array_get(fns, i), &lf);
        json_t *fc = NULL;
        const char *t = node_type(json_array_get(json_object_get(lf, "items"), 0), &fc);
        if (!t || strcmp(t, "FuncCall") != 0)
            continue; /* e.g. a SQLValueFunction: not a table reader */
        const json_t *names = json_object_get(fc, "funcname");
        size_t n = json_array_size(names);
        const char *last = n ? string_node(json_array_get(names, n - 1)) : NULL;
        char name[128];
        lower_copy(name, sizeof(name), last ? last : "");
        if (!in_list(from_functions, name, strlen(name)))
            return pv_err_set(w->c->err, VOLLEY_EINPUT,
                              "refused by policy: function %s() in FROM may read tables outside "
                              "the dataset's allow-list; only built-in set-returning functions "
                              "(generate_series, unnest, json_each ...) are accepted there",
                              name);
    }
    return 0;
}

/* Every RangeVar and RangeFunction under root, skipping the object skip. */
static int rel_walk(const struct relwalk *w, const json_t *root, const json_t *skip)
{
    struct stack s = {NULL, 0, 0};
    int rc = push(&s, root);
    while (rc == 0 && s.n > 0) {
        const json_t *v = s.v[--s.n];
        if (json_is_array(v)) {
            for (size_t i = 0; rc == 0 && i < json_array_size(v); i++)
                rc = push(&s, json_array_get(v, i));
            continue;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            if (val == skip)
                continue;
            if (strcmp(key, "RangeVar") == 0)
                rc = check_rangevar(w, val);
            else if (strcmp(key, "RangeFunction") == 0)
                rc = check_rangefunction(w, val);
            if (rc == 0)
                rc = push(&s, val);
            if (rc != 0)
                break;
        }
    }
    free(s.v);
    if (rc == VOLLEY_ENOMEM)
        return pv_err_set(w->c->err, VOLLEY_ENOMEM, "out of memory");
    return rc;
}

/*
 * The tables of a SELECT (fields of its SelectStmt) against the lists. The
 * top-level WITH's names are in scope in the body and, in order, in the
 * later CTEs (all of them when RECURSIVE); names of a nested WITH are
 * checked as tables (a refusal, never a bypass).
 */
static int check_relations(struct ctx *c, const json_t *stmt, const json_t *fields)
{
    const json_t *with = json_object_get(fields, "withClause");
    const json_t *ctes = json_object_get(with, "ctes");
    size_t n = json_array_size(ctes);
    bool recursive = json_is_true(json_object_get(with, "recursive"));
    for (size_t i = 0; i < n; i++) {
        json_t *f = NULL;
        node_type(json_array_get(ctes, i), &f);
        struct relwalk w = {c, ctes, recursive ? n : i};
        int rc = rel_walk(&w, json_object_get(f, "ctequery"), NULL);
        if (rc != 0)
            return rc;
    }
    struct relwalk w = {c, ctes, n};
    return rel_walk(&w, stmt, with);
}

/* ---- the top-level statement ---------------------------------------------- */

/* "TRANS_STMT_ROLLBACK_TO" -> "ROLLBACK TO SAVEPOINT", ... */
static const char *transaction_kind(const json_t *fields)
{
    static const char *const kinds[][2] = {
        {"TRANS_STMT_BEGIN", "BEGIN"},
        {"TRANS_STMT_START", "START TRANSACTION"},
        {"TRANS_STMT_COMMIT", "COMMIT"},
        {"TRANS_STMT_ROLLBACK", "ROLLBACK"},
        {"TRANS_STMT_SAVEPOINT", "SAVEPOINT"},
        {"TRANS_STMT_RELEASE", "RELEASE SAVEPOINT"},
        {"TRANS_STMT_ROLLBACK_TO", "ROLLBACK TO SAVEPOINT"},
        {"TRANS_STMT_PREPARE", "PREPARE TRANSACTION"},
        {"TRANS_STMT_COMMIT_PREPARED", "COMMIT PREPARED"},
        {"TRANS_STMT_ROLLBACK_PREPARED", "ROLLBACK PREPARED"},
    };
    const char *k = json_string_value(json_object_get(fields, "kind"));
    for (size_t i = 0; k && i < PV_ARRAY_LEN(kinds); i++) {
        if (strcmp(k, kinds[i][0]) == 0)
            return kinds[i][1];
    }
    return "transaction statement";
}

/* "AlterTableStmt" -> "ALTER TABLE" into out. */
static void command_name(const char *type, char *out, size_t outsz)
{
    static const char *const names[][2] = {
        {"CreateStmt", "CREATE TABLE"},
        {"IndexStmt", "CREATE INDEX"},
        {"ViewStmt", "CREATE VIEW"},
        {"RuleStmt", "CREATE RULE"},
        {"DefineStmt", "CREATE"},
        {"CreateTableAsStmt", "CREATE TABLE AS"},
        {"CreatedbStmt", "CREATE DATABASE"},
        {"DropdbStmt", "DROP DATABASE"},
        {"CreateTrigStmt", "CREATE TRIGGER"},
        {"CreatePLangStmt", "CREATE LANGUAGE"},
        {"CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER"},
        {"CreateEventTrigStmt", "CREATE EVENT TRIGGER"},
        {"CreateStatsStmt", "CREATE STATISTICS"},
        {"CreateAmStmt", "CREATE ACCESS METHOD"},
        {"CompositeTypeStmt", "CREATE TYPE"},
        {"CreateEnumStmt", "CREATE TYPE"},
        {"CreateRangeStmt", "CREATE TYPE"},
        {"DoStmt", "DO"},
        {"CopyStmt", "COPY"},
        {"CallStmt", "CALL"},
        {"DeclareCursorStmt", "DECLARE CURSOR"},
        {"ClosePortalStmt", "CLOSE"},
        {"FetchStmt", "FETCH"},
        {"ExecuteStmt", "EXECUTE"},
        {"PrepareStmt", "PREPARE"},
        {"DeallocateStmt", "DEALLOCATE"},
        {"LockStmt", "LOCK"},
        {"VacuumStmt", "VACUUM/ANALYZE"},
        {"GrantStmt", "GRANT/REVOKE"},
        {"GrantRoleStmt", "GRANT/REVOKE role"},
        {"AlterRoleSetStmt", "ALTER ROLE ... SET"},
        {"AlterDatabaseSetStmt", "ALTER DATABASE ... SET"},
        {"CheckPointStmt", "CHECKPOINT"},
        {"ConstraintsSetStmt", "SET CONSTRAINTS"},
        {"RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW"},
        {"SecLabelStmt", "SECURITY LABEL"},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(names); i++) {
        if (strcmp(type, names[i][0]) == 0) {
            snprintf(out, outsz, "%s", names[i][1]);
            return;
        }
    }
    /* Otherwise split the CamelCase name: AlterSystemStmt -> ALTER SYSTEM. */
    size_t n = strlen(type);
    if (ends_with(type, "Stmt"))
        n -= 4;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 2 < outsz; i++) {
        char ch = type[i];
        bool upper = ch >= 'A' && ch <= 'Z';
        if (upper && i > 0 && j + 3 < outsz)
            out[j++] = ' ';
        out[j++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
    }
    out[j] = '\0';
}

/* Refuses a top-level statement that is not a SELECT, SHOW or EXPLAIN. */
static int refuse_statement(struct ctx *c, const char *type, const json_t *fields)
{
    char what[160];
    if (strcmp(type, "TransactionStmt") == 0) {
        snprintf(what, sizeof(what), "transaction control (%s)", transaction_kind(fields));
    } else if (strcmp(type, "VariableSetStmt") == 0) {
        const char *kind = json_string_value(json_object_get(fields, "kind"));
        const char *name = json_string_value(json_object_get(fields, "name"));
        if (kind && strncmp(kind, "VAR_RESET", 9) == 0)
            snprintf(what, sizeof(what), "RESET changes configuration");
        else if (name &&
                 (strcmp(name, "TRANSACTION") == 0 || strcmp(name, "SESSION CHARACTERISTICS") == 0))
            snprintf(what, sizeof(what), "transaction control (SET %s)", name);
        else
            snprintf(what, sizeof(what), "SET changes configuration");
    } else if (dml_kind(type)) {
        snprintf(what, sizeof(what), "%s statement", dml_kind(type));
    } else {
        char cmd[96];
        command_name(type, cmd, sizeof(cmd));
        snprintf(what, sizeof(what), "%s statement", cmd);
    }
    return pv_err_set(c->err, VOLLEY_EINPUT, "not read-only: %s; " ONLY_ACCEPTED_HINT, what);
}

static int check_statement(struct ctx *c, const json_t *stmt);

static int check_explain(struct ctx *c, const json_t *fields)
{
    const json_t *opts = json_object_get(fields, "options");
    for (size_t i = 0; i < json_array_size(opts); i++) {
        json_t *de = NULL;
        const char *t = node_type(json_array_get(opts, i), &de);
        const char *name = json_string_value(json_object_get(de, "defname"));
        if (!t || strcmp(t, "DefElem") != 0 || !name)
            return refuse(c, "EXPLAIN with an option the guard cannot read");
        if ((name_eq_ci(name, "analyze") || name_eq_ci(name, "analyse")) &&
            !(c->opts && c->opts->explain_analyze))
            return refuse(c, "EXPLAIN ANALYZE runs the statement");
    }
    const json_t *inner = json_object_get(fields, "query");
    json_t *inner_fields = NULL;
    const char *type = node_type(inner, &inner_fields);
    if (!type)
        return refuse(c, "EXPLAIN without a statement");
    if (strcmp(type, "SelectStmt") != 0) {
        char cmd[96];
        const char *dml = dml_kind(type);
        if (dml)
            snprintf(cmd, sizeof(cmd), "%s", dml);
        else
            command_name(type, cmd, sizeof(cmd));
        return refuse(c, "EXPLAIN of %s; only EXPLAIN of a SELECT is accepted", cmd);
    }
    return check_statement(c, inner);
}

/* stmt is the node object of one RawStmt ({"SelectStmt": {...}}). */
static int check_statement(struct ctx *c, const json_t *stmt)
{
    json_t *fields = NULL;
    const char *type = node_type(stmt, &fields);
    if (!type)
        return refuse(c, "a statement the guard cannot read");
    if (strcmp(type, "SelectStmt") == 0) {
        int rc = walk(c, stmt);
        if (rc == 0 && c->opts && (c->opts->allow_schemas || c->opts->allow_tables))
            rc = check_relations(c, stmt, fields);
        return rc;
    }
    if (strcmp(type, "VariableShowStmt") == 0)
        return 0;
    if (strcmp(type, "ExplainStmt") == 0)
        return check_explain(c, fields);
    return refuse_statement(c, type, fields);
}

/* ---- parsing -------------------------------------------------------------- */

static bool is_cont_byte(unsigned char ch)
{
    return (ch & 0xC0) == 0x80;
}

/* 1-based line and column (in characters) of the cursorpos-th character. */
static void char_linecol(const char *sql, int cursorpos, int *line, int *col)
{
    int l = 1, cl = 1, chars = 0;
    for (size_t i = 0; sql[i]; i++) {
        if (is_cont_byte((unsigned char)sql[i]))
            continue;
        if (++chars >= cursorpos)
            break;
        if (sql[i] == '\n') {
            l++;
            cl = 1;
        } else {
            cl++;
        }
    }
    *line = l;
    *col = cl;
}

/*
 * libpg_query's messages end in ` at or near "<rest>"`, where rest may run
 * to the end of the query (an unterminated string); it is cut short.
 */
static int parse_error(const char *sql, const PgQueryError *e, pv_err *err)
{
    const char *m = e->message ? e->message : "syntax error";
    if (strcmp(m, "out of memory") == 0)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    if (strstr(m, "memory exhausted"))
        return pv_err_set(err, VOLLEY_EINPUT,
                          "refused: query nested too deeply for the guard to check");
    char msg[PV_ERR_LEN / 2];
    size_t n = strlen(m);
    const char *near = strstr(m, " at or near \"");
    if (near) {
        size_t head = (size_t)(near - m) + strlen(" at or near \"");
        size_t rest = n - head;
        if (rest > 0 && m[n - 1] == '"')
            rest--;
        bool cut = rest > NEAR_TEXT_MAX;
        if (cut) {
            rest = NEAR_TEXT_MAX;
            while (rest > 0 && is_cont_byte((unsigned char)m[head + rest]))
                rest--;
        }
        snprintf(msg, sizeof(msg), "%.*s%.*s%s\"", (int)head, m, (int)rest, m + head,
                 cut ? "..." : "");
    } else {
        snprintf(msg, sizeof(msg), "%s", m);
    }
    for (char *p = msg; *p; p++) {
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    }
    const char *prefix = strncmp(msg, "syntax error", 12) == 0 ? "" : "syntax error: ";
    if (e->cursorpos <= 0)
        return pv_err_set(err, VOLLEY_EINPUT, "%s%s", prefix, msg);
    int line, col;
    char_linecol(sql, e->cursorpos, &line, &col);
    return pv_err_set(err, VOLLEY_EINPUT, "%s%s (line %d, column %d)", prefix, msg, line, col);
}

struct parse_job {
    const char *sql;
    PgQueryParseResult res;
};

static void *parse_thread(void *arg)
{
    struct parse_job *job = arg;
    job->res = pg_query_parse(job->sql);
    /* libpg_query frees this thread's memory context when the thread exits. */
    return NULL;
}

/* pg_query_parse on a stack big enough for len bytes of SQL. */
static int parse(const char *sql, size_t len, PgQueryParseResult *res, pv_err *err)
{
    if (len <= PARSE_DIRECT_MAX) {
        *res = pg_query_parse(sql);
        return 0;
    }
    struct parse_job job = {.sql = sql};
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory (parser thread)");
    pthread_t th;
    int rc = pthread_attr_setstacksize(&attr, STACK_BASE + STACK_PER_BYTE * len);
    if (rc == 0)
        rc = pthread_create(&th, &attr, parse_thread, &job);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory (parser thread)");
    pthread_join(th, NULL);
    *res = job.res;
    return 0;
}

/* ---- entry point ---------------------------------------------------------- */

int pv_guard_check(const char *sql, const struct pv_guard_opts *opts, pv_err *err)
{
    if (!sql)
        return pv_err_set(err, VOLLEY_EINPUT, "empty query");
    size_t len = strlen(sql);
    if (len > PV_GUARD_MAX_LEN)
        return pv_err_set(err, VOLLEY_EINPUT,
                          "refused: query too long for the guard to check (%zu bytes, limit %d)",
                          len, PV_GUARD_MAX_LEN);

    PgQueryParseResult res;
    int rc = parse(sql, len, &res, err);
    if (rc != 0)
        return rc;
    if (res.error) {
        rc = parse_error(sql, res.error, err);
        pg_query_free_parse_result(res);
        return rc;
    }
    if (!res.parse_tree) {
        pg_query_free_parse_result(res);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }

    json_error_t jerr;
    json_t *root = json_loads(res.parse_tree, 0, &jerr);
    pg_query_free_parse_result(res);
    if (!root) {
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory: return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        case json_error_stack_overflow:
            return pv_err_set(err, VOLLEY_EINPUT,
                              "refused: query nested too deeply for the guard to check");
        case json_error_invalid_utf8:
            return pv_err_set(err, VOLLEY_EINPUT, "refused: query is not valid UTF-8");
        default:
            return pv_err_set(err, VOLLEY_EINPUT, "refused: cannot read the parse tree (%s)",
                              jerr.text);
        }
    }

    struct ctx c = {opts, err};
    const json_t *stmts = json_object_get(root, "stmts");
    size_t n = json_array_size(stmts);
    if (!json_is_array(stmts))
        rc = pv_err_set(err, VOLLEY_EINPUT, "refused: cannot read the parse tree");
    else if (n == 0)
        rc = pv_err_set(err, VOLLEY_EINPUT, "empty query");
    else if (n > 1)
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "not read-only: %zu statements; send one statement per query", n);
    else
        rc = check_statement(&c, json_object_get(json_array_get(stmts, 0), "stmt"));
    json_decref(root);
    return rc;
}

int pv_guard_fingerprint(const char *sql, char out[PV_GUARD_FINGERPRINT_LEN])
{
    out[0] = '\0';
    if (!sql || strlen(sql) > PARSE_DIRECT_MAX) /* parsed on the caller's stack */
        return VOLLEY_EINPUT;
    PgQueryFingerprintResult fr = pg_query_fingerprint(sql);
    int rc = VOLLEY_EINPUT;
    if (!fr.error && fr.fingerprint_str) {
        snprintf(out, PV_GUARD_FINGERPRINT_LEN, "%s", fr.fingerprint_str);
        rc = 0;
    }
    pg_query_free_fingerprint_result(fr);
    return rc;
}
