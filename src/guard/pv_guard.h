/*
 * pv_guard.h - the read-only guard's first line of defence: PostgreSQL's own
 * parser (libpg_query) reads the query and refuses anything that is not a
 * single read-only statement.
 *
 * Accepted: exactly one statement of a read-only kind - SELECT (including
 * VALUES, TABLE and set operations), SHOW, and EXPLAIN without ANALYZE (with
 * ANALYZE when opts->explain_analyze) of such a SELECT; EXPLAIN of anything
 * else (INSERT, UPDATE, DELETE, MERGE, EXECUTE, CREATE TABLE AS ...) is
 * refused even without ANALYZE: the guard accepts statement kinds, not
 * "does not execute" - with no data-modifying CTE (INSERT/UPDATE/DELETE/MERGE in
 * WITH), no SELECT INTO, no locking clause (FOR UPDATE/SHARE ...), and no
 * call of a function on the deny-list (or, in allow-list mode, of a function
 * not on the allow-list). Everything else is refused with the reason:
 * transaction control (BEGIN/COMMIT/ROLLBACK/SET TRANSACTION), SET/RESET,
 * DO, COPY, CALL, DDL, DML, LISTEN/NOTIFY, PREPARE/EXECUTE, LOCK, VACUUM ...
 *
 * This is defence in depth, not the only line: the executor also runs each
 * query alone in the extended protocol inside a READ ONLY transaction that
 * is always rolled back, with a statement timeout, and resets the session.
 *
 * Function names are compared case-insensitively on the last part of the
 * qualified name (pg_catalog.set_config and SET_CONFIG are both set_config).
 */
#ifndef PV_GUARD_H
#define PV_GUARD_H

#include <stdbool.h>

#include "common/pv_common.h"

enum pv_guard_mode {
    PV_GUARD_DENYLIST = 0, /* refuse the functions of pv_guard_denied_functions() */
    PV_GUARD_ALLOWLIST,    /* refuse every function not in opts->allow */
};

struct pv_guard_opts {
    enum pv_guard_mode mode;
    const char *const *allow; /* NULL-terminated lower-case names (allow-list mode) */
    /*
     * Table allow-lists (a dataset's allow_schemas and allow_tables), NULL:
     * no restriction. Every table, view or sequence the statement names
     * must be in one of allow_schemas and match one entry of allow_tables
     * ("schema.table", or "table" for public.table). A name without a schema
     * is taken as public's (the usual search_path; the guard cannot see the
     * role's), unless it names a CTE in scope. Names compare exactly, as
     * the catalog spells them (unquoted names are folded to lower case).
     * With either list set, a function in FROM must be a built-in
     * set-returning function of pv_guard_from_functions(): another one may
     * read tables the guard cannot see. What a listed view or a function
     * called elsewhere reads is not checked: the role's privileges are the
     * boundary there.
     */
    const char *const *allow_schemas;
    const char *const *allow_tables;
    /* Accept EXPLAIN's ANALYZE option (EXPLAIN ANALYZE, EXPLAIN ANALYSE,
       EXPLAIN (ANALYZE [true|false], ...)). The explained statement must pass
       exactly as without it: a SELECT (VALUES, TABLE, set operations) that
       passes every other rule - never a write, a data-modifying CTE, an
       EXECUTE or a second statement. Off (refused) by default; set only by
       callers that run the statement in a READ ONLY transaction with a
       statement timeout (the MCP tool explain_query). */
    bool explain_analyze;
};

/**
 * Checks that sql is one read-only statement.
 * @param opts NULL for the deny-list defaults.
 * @param err on refusal, one line starting with the reason, e.g.
 *        "not read-only: data-modifying CTE (DELETE)",
 *        "not read-only: function set_config() is not allowed (changes configuration)",
 *        "not read-only: 2 statements; send one statement per query",
 *        "syntax error at or near \"SELEC\" (line 1, column 1)".
 * @return 0 (accepted), VOLLEY_EINPUT (refused or does not parse) or VOLLEY_ENOMEM.
 */
int pv_guard_check(const char *sql, const struct pv_guard_opts *opts, pv_err *err);

/**
 * Whether the lists of opts let a query read schema.table (the check the
 * guard makes of each table a query names). True when opts has no list.
 */
bool pv_guard_table_allowed(const struct pv_guard_opts *opts, const char *schema,
                            const char *table);

#define PV_GUARD_FINGERPRINT_LEN 17 /* 16 hex digits and a NUL */

/**
 * libpg_query's fingerprint of sql (the same for queries that differ only
 * in constants and whitespace), as hex into out.
 * @return 0, or VOLLEY_EINPUT (does not parse, or longer than 8 KiB, which
 *         would be parsed on the caller's stack; out is "").
 */
int pv_guard_fingerprint(const char *sql, char out[PV_GUARD_FINGERPRINT_LEN]);

/** The functions accepted in FROM under a table allow-list, NULL-terminated. */
const char *const *pv_guard_from_functions(void);

/** One deny-list entry: a function name and why it is denied. */
struct pv_guard_denied {
    const char *name; /* lower case, without schema; a trailing '*' matches a prefix */
    const char *why;  /* e.g. "signals or terminates backends" */
};

/** The documented deny-list, terminated by an entry with name == NULL. */
const struct pv_guard_denied *pv_guard_denied_functions(void);

#endif /* PV_GUARD_H */
