/*
 * fuzz_guard.c - libFuzzer harness for the read-only guard
 * (src/guard/pv_guard.c): pv_guard_check on the input as SQL (up to its
 * first NUL byte). The first input byte picks the mode: bit 0 set,
 * allow-list mode with a few functions, else the deny-list; bit 1 set,
 * explain_analyze (EXPLAIN ANALYZE accepted, of a SELECT only). Build and
 * run with `make fuzz` (see the Makefile).
 *
 * Contracts (a broken one aborts), checked against libpg_query's tree of
 * an accepted query, walked here independently of the guard:
 * - the result is 0 or VOLLEY_EINPUT (a one-line, non-empty reason);
 * - an accepted query parses, and is exactly one statement: a SELECT, a
 *   SHOW, or an EXPLAIN whose options hold no ANALYZE that is on (with
 *   explain_analyze: an EXPLAIN of a SELECT, whatever its options);
 * - nowhere in its tree an INSERT, UPDATE, DELETE or MERGE, an INTO
 *   clause or a locking clause;
 * - no function call named (last part of the name, any case) on the
 *   deny-list (deny-list mode) or off the allow-list (allow-list mode).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <pg_query.h>

#include "guard/pv_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allow[] = {"lower", "upper", "count", "coalesce", "now", NULL};

static void check(int ok, const char *what, const char *sql)
{
    if (!ok) {
        fprintf(stderr, "fuzz_guard: contract broken: %s\nquery: %s\n", what, sql);
        abort();
    }
}

static int denied(const char *name)
{
    for (const struct pv_guard_denied *d = pv_guard_denied_functions(); d->name; d++) {
        size_t n = strlen(d->name);
        if (n > 0 && d->name[n - 1] == '*') {
            if (strncasecmp(name, d->name, n - 1) == 0)
                return 1;
        } else if (strcasecmp(name, d->name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int allowed(const char *name)
{
    for (size_t i = 0; allow[i]; i++)
        if (strcasecmp(name, allow[i]) == 0)
            return 1;
    return 0;
}

/* The last part of a FuncCall's name. */
static const char *func_name(json_t *fc)
{
    json_t *parts = json_object_get(fc, "funcname");
    json_t *last = json_array_get(parts, json_array_size(parts) - 1);
    json_t *s = json_object_get(json_object_get(last, "String"), "sval");
    if (!s)
        s = json_object_get(json_object_get(last, "String"), "str");
    return json_string_value(s);
}

static void walk(json_t *v, int allow_mode, const char *sql)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) walk(x, allow_mode, sql);
        return;
    }
    if (!json_is_object(v))
        return;
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        static const char *const bad[] = {"InsertStmt", "UpdateStmt", "DeleteStmt",
                                          "MergeStmt",  "intoClause", "lockingClause"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            check(strcmp(key, bad[i]) != 0, bad[i], sql);
        if (strcmp(key, "FuncCall") == 0) {
            const char *name = func_name(x);
            check(name != NULL, "FuncCall without a name", sql);
            if (allow_mode)
                check(allowed(name), "accepted a function off the allow-list", sql);
            else
                check(!denied(name), "accepted a function on the deny-list", sql);
        }
        walk(x, allow_mode, sql);
    }
}

/* An EXPLAIN option that turns ANALYZE on. */
static int analyze_on(json_t *options)
{
    size_t i;
    json_t *o;
    json_array_foreach(options, i, o)
    {
        json_t *de = json_object_get(o, "DefElem");
        const char *name = json_string_value(json_object_get(de, "defname"));
        if (!name || strcasecmp(name, "analyze") != 0)
            continue;
        json_t *arg = json_object_get(de, "arg");
        if (!arg)
            return 1;
        const char *s = json_string_value(json_object_get(json_object_get(arg, "String"), "sval"));
        if (s && (strcasecmp(s, "false") == 0 || strcasecmp(s, "off") == 0 ||
                  strcasecmp(s, "no") == 0 || strcmp(s, "0") == 0))
            continue;
        json_t *in = json_object_get(arg, "Integer");
        if (in && json_integer_value(json_object_get(in, "ival")) == 0)
            continue;
        return 1;
    }
    return 0;
}

static void check_accepted(const char *sql, int allow_mode, int explain_analyze)
{
    PgQueryParseResult r = pg_query_parse(sql);
    check(r.error == NULL, "accepted a query libpg_query does not parse", sql);
    json_error_t je;
    json_t *tree = json_loads(r.parse_tree, 0, &je);
    pg_query_free_parse_result(r);
    if (!tree) /* deeper than jansson reads: the guard refuses those */
        check(0, "accepted a tree too deep to check", sql);
    json_t *stmts = json_object_get(tree, "stmts");
    check(json_array_size(stmts) == 1, "accepted other than exactly one statement", sql);
    json_t *stmt = json_object_get(json_array_get(stmts, 0), "stmt");
    json_t *sel = json_object_get(stmt, "SelectStmt");
    json_t *show = json_object_get(stmt, "VariableShowStmt");
    json_t *explain = json_object_get(stmt, "ExplainStmt");
    check(sel || show || explain, "accepted a statement of another kind", sql);
    if (explain && explain_analyze)
        check(json_object_get(json_object_get(explain, "query"), "SelectStmt") != NULL,
              "accepted EXPLAIN ANALYZE of other than a SELECT", sql);
    else if (explain)
        check(!analyze_on(json_object_get(explain, "options")), "accepted EXPLAIN ANALYZE", sql);
    walk(stmt, allow_mode, sql);
    json_decref(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int allow_mode = data[0] & 1;
    int explain_analyze = (data[0] >> 1) & 1;
    char *sql = strndup((const char *)data + 1, size - 1);
    if (!sql)
        return 0;
    struct pv_guard_opts opts = {.mode = allow_mode ? PV_GUARD_ALLOWLIST : PV_GUARD_DENYLIST,
                                 .allow = allow,
                                 .explain_analyze = explain_analyze != 0};
    pv_err err;
    memset(&err, 0, sizeof(err));
    int rc = pv_guard_check(sql, &opts, &err);
    if (rc == 0) {
        check_accepted(sql, allow_mode, explain_analyze);
    } else {
        check(rc == VOLLEY_EINPUT, "unexpected return code", sql);
        check(err.msg[0] != '\0', "refused without a reason", sql);
        check(!strchr(err.msg, '\n') && !strchr(err.msg, '\r'), "multi-line reason", sql);
    }
    free(sql);
    return 0;
}
