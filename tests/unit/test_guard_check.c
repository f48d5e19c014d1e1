/*
 * test_guard_check.c - the read-only guard: what it accepts, what it refuses
 * and why, the attack corpus shared with the integration test
 * (tests/data/attacks.json, tests/data/readonly_ok.json), allow-list mode,
 * deep and long input, empty input and syntax errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pg_query.h>

#include "guard/pv_guard.h"

/* ---- helpers -------------------------------------------------------------- */

static void expect_ok(const char *sql, const struct pv_guard_opts *opts)
{
    pv_err err = {{0}};
    int rc = pv_guard_check(sql, opts, &err);
    if (rc != 0)
        fail_msg("refused (%d) %.200s\n  -> %s", rc, sql, err.msg);
}

/* Refused with VOLLEY_EINPUT and a message containing fragment. */
static void expect_refused(const char *sql, const struct pv_guard_opts *opts, const char *fragment)
{
    pv_err err = {{0}};
    int rc = pv_guard_check(sql, opts, &err);
    if (rc != VOLLEY_EINPUT)
        fail_msg("not refused (%d) %.200s\n  -> %s", rc, sql, err.msg);
    if (!strstr(err.msg, fragment))
        fail_msg("%.200s\n  -> \"%s\"\n  does not contain \"%s\"", sql, err.msg, fragment);
    if (strchr(err.msg, '\n'))
        fail_msg("%.200s\n  -> message has a newline: \"%s\"", sql, err.msg);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* s repeated n times between head and tail; free the result. */
static char *repeat(const char *head, const char *s, size_t n, const char *mid, const char *s2,
                    size_t n2, const char *tail)
{
    size_t len = strlen(head) + strlen(s) * n + strlen(mid) + strlen(s2) * n2 + strlen(tail);
    char *out = malloc(len + 1);
    assert_non_null(out);
    char *p = out;
    memcpy(p, head, strlen(head));
    p += strlen(head);
    for (size_t i = 0; i < n; i++, p += strlen(s))
        memcpy(p, s, strlen(s));
    memcpy(p, mid, strlen(mid));
    p += strlen(mid);
    for (size_t i = 0; i < n2; i++, p += strlen(s2))
        memcpy(p, s2, strlen(s2));
    memcpy(p, tail, strlen(tail));
    p += strlen(tail);
    *p = '\0';
    return out;
}

static json_t *load_json_array(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", PV_TEST_DATA, name);
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    if (!root)
        fail_msg("%s: line %d: %s", path, e.line, e.text);
    assert_true(json_is_array(root));
    return root;
}

/* ---- accepted -------------------------------------------------------------- */

static void test_accepts_read_only(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "SELECT 1",
        "SELECT a.v, b.v FROM t a JOIN t b ON a.v = b.v LEFT JOIN u ON u.id = a.v",
        "SELECT * FROM t WHERE v IN (SELECT v FROM u WHERE u.x > 1)",
        "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.v = t.v)",
        "WITH c AS (SELECT v FROM t), d AS (SELECT v FROM c) SELECT * FROM d",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 9) "
        "SELECT * FROM r",
        "SELECT v, row_number() OVER (PARTITION BY v % 2 ORDER BY v), "
        "sum(v) OVER w FROM t WINDOW w AS (ORDER BY v ROWS 2 PRECEDING)",
        "VALUES (1, 'a'), (2, 'b')",
        "TABLE t",
        "SELECT 1 UNION SELECT 2 INTERSECT SELECT 2 EXCEPT SELECT 3",
        "SHOW work_mem",
        "SHOW ALL",
        "EXPLAIN SELECT * FROM t",
        "EXPLAIN (FORMAT JSON) SELECT * FROM t",
        "EXPLAIN (VERBOSE, COSTS off, FORMAT yaml) SELECT count(*) FROM t",
        "EXPLAIN VERBOSE SELECT 1",
        "select v from t where v > 1 order by v",
        "SeLeCt V FrOm T",
        "-- leading comment\nSELECT 1 /* inline */ -- trailing",
        "/* block\n comment */ SELECT 1",
        "SELECT 1;",
        "SELECT 1;;",
        "SELECT * FROM t WHERE v = $1 AND v < $2::int",
        "SELECT count(*) FROM t",
        "SELECT now(), current_date, current_user, version()",
        "SELECT pg_sleep(0.1)",
        "SELECT pg_sleep_for('10 ms'), pg_sleep_until(now())",
        "SELECT * FROM generate_series(1, 10) AS g",
        "SELECT * FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY['a'])) WITH ORDINALITY",
        "SELECT extract(year FROM now()), substring('abc' FROM 2), 'a' COLLATE \"C\"",
        "SELECT CASE WHEN v > 1 THEN 'x' ELSE 'y' END, coalesce(v, 0), greatest(v, 1) FROM t",
        "SELECT currval('s'), lastval(), current_setting('work_mem')",
        "SELECT last_value FROM s",
        "SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1)",
        "SELECT to_json(t), row_to_json(t) FROM t",
        "SELECT t.v, (t).v FROM t",
        "SELECT 'DELETE FROM t; nextval(''s'')' AS harmless_text",
        "SELECT $$; DELETE FROM t; $$",
        "SELECT * FROM pg_catalog.pg_prepared_statements",
        "SELECT 'é' AS \"ünï\"",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(ok); i++)
        expect_ok(ok[i], NULL);
}

/* NULL opts and NULL err are allowed. */
static void test_null_opts_and_err(void **state)
{
    (void)state;
    assert_int_equal(pv_guard_check("SELECT 1", NULL, NULL), 0);
    assert_int_equal(pv_guard_check("DELETE FROM t", NULL, NULL), VOLLEY_EINPUT);
    struct pv_guard_opts deny = {.mode = PV_GUARD_DENYLIST, .allow = NULL};
    expect_ok("SELECT lower('A')", &deny);
    expect_refused("SELECT nextval('s')", &deny, "nextval()");
}

/* ---- refused, with the reason --------------------------------------------- */

static void test_refuses_with_reason(void **state)
{
    (void)state;
    static const char *const refused[][2] = {
        {"COMMIT; INSERT INTO t VALUES (1)",
         "not read-only: 2 statements; send one statement per query"},
        {"ROLLBACK; DELETE FROM t", "2 statements"},
        {"COMMIT", "not read-only: transaction control (COMMIT); only SELECT"},
        {"END", "transaction control (COMMIT)"},
        {"ABORT", "transaction control (ROLLBACK)"},
        {"BEGIN; DELETE FROM t; COMMIT", "3 statements"},
        {"BEGIN", "transaction control (BEGIN)"},
        {"SET TRANSACTION READ WRITE", "transaction control (SET TRANSACTION)"},
        {"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
         "transaction control (SET SESSION CHARACTERISTICS)"},
        {"SET default_transaction_read_only = off", "SET changes configuration"},
        {"RESET ALL", "RESET changes configuration"},
        {"SELECT set_config('default_transaction_read_only','off',false)",
         "not read-only: function set_config() is not allowed (changes configuration)"},
        {"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
         "not read-only: data-modifying CTE (DELETE)"},
        {"WITH u AS (UPDATE t SET v = 0 RETURNING *) SELECT 1", "data-modifying CTE (UPDATE)"},
        {"WITH i AS (INSERT INTO t VALUES (9) RETURNING *) SELECT * FROM i",
         "data-modifying CTE (INSERT)"},
        {"SELECT * INTO t2 FROM t", "SELECT INTO creates a table"},
        {"SELECT * FROM t FOR UPDATE", "locking clause (FOR UPDATE)"},
        {"SELECT * FROM t FOR NO KEY UPDATE", "locking clause (FOR NO KEY UPDATE)"},
        {"SELECT * FROM t FOR SHARE", "locking clause (FOR SHARE)"},
        {"SELECT * FROM t FOR KEY SHARE SKIP LOCKED", "locking clause (FOR KEY SHARE)"},
        {"SELECT 1 UNION (SELECT v FROM t FOR UPDATE)", "locking clause (FOR UPDATE)"},
        {"DO $$ BEGIN DELETE FROM t; END $$", "DO statement"},
        {"COPY t TO '/tmp/x'", "COPY statement"},
        {"COPY (SELECT 1) TO PROGRAM 'id'", "COPY statement"},
        {"CREATE TABLE x (a int)", "CREATE TABLE statement"},
        {"DROP TABLE t", "DROP statement"},
        {"TRUNCATE t", "TRUNCATE statement"},
        {"UPDATE t SET v = 1", "UPDATE statement"},
        {"DELETE FROM t", "not read-only: DELETE statement; only SELECT"},
        {"INSERT INTO t VALUES (1)", "INSERT statement"},
        {"MERGE INTO t USING (SELECT 1 AS v) s ON t.v = s.v WHEN MATCHED THEN DELETE",
         "MERGE statement"},
        {"SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
         "function pg_terminate_backend() is not allowed (terminates other backends)"},
        {"SELECT pg_cancel_backend(1)", "function pg_cancel_backend() is not allowed"},
        {"SELECT pg_advisory_lock(1)", "function pg_advisory_lock() is not allowed (takes"},
        {"SELECT pg_try_advisory_xact_lock(1)", "function pg_try_advisory_xact_lock()"},
        {"SELECT pg_notify('c','x')", "function pg_notify() is not allowed (sends a notification)"},
        {"SELECT lo_import('/etc/passwd')", "function lo_import() is not allowed"},
        {"SELECT loread(0, 1)", "function loread()"},
        {"SELECT pg_read_file('/etc/passwd')",
         "function pg_read_file() is not allowed (reads server files)"},
        {"SELECT nextval('s')", "function nextval() is not allowed (changes a sequence"},
        {"SELECT setval('s', 100)", "function setval() is not allowed"},
        {"SELECT dblink_exec('dbname=postgres', 'DELETE FROM t')",
         "function dblink_exec() is not allowed (opens remote connections"},
        {"SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS x(a int)", "function dblink()"},
        {"SELECT query_to_xml('DELETE FROM t RETURNING *', true, true, '')",
         "function query_to_xml() is not allowed (runs SQL text"},
        {"SELECT txid_current()", "function txid_current() is not allowed (assigns"},
        {"SELECT pg_stat_reset_shared('bgwriter')", "function pg_stat_reset_shared()"},
        {"CALL p()", "CALL statement"},
        {"LISTEN x", "LISTEN statement"},
        {"NOTIFY x", "NOTIFY statement"},
        {"PREPARE p AS DELETE FROM t", "PREPARE statement"},
        {"EXECUTE p", "EXECUTE statement"},
        {"EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN (ANALYZE) DELETE FROM t", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN ANALYSE SELECT 1", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN (FORMAT JSON, ANALYSE) SELECT 1", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN (\"ANALYZE\" false) SELECT 1", "EXPLAIN ANALYZE runs the statement"},
        {"EXPLAIN DELETE FROM t", "EXPLAIN of DELETE; only EXPLAIN of a SELECT is accepted"},
        {"EXPLAIN EXECUTE p", "EXPLAIN of EXECUTE"},
        {"EXPLAIN SELECT nextval('s')", "function nextval()"},
        {"LOCK TABLE t", "LOCK statement"},
        {"VACUUM t", "VACUUM/ANALYZE statement"},
        {"SELECT 1; DELETE FROM t", "2 statements"},
        {"select 1;delete from t", "2 statements"},
        {"SELECT 1; SELECT 2", "2 statements"},
        {"GRANT ALL ON t TO PUBLIC", "GRANT/REVOKE statement"},
        {"ALTER ROLE CURRENT_USER SET default_transaction_read_only = off",
         "ALTER ROLE ... SET statement"},
        {"ALTER SYSTEM SET default_transaction_read_only = off", "ALTER SYSTEM statement"},
        {"SELECT PG_CATALOG.SET_CONFIG('x','y',false)", "function set_config()"},
        {"SELECT \"set_config\"('x','y',false)", "function set_config()"},
        {"SELECT U&\"set\\005fconfig\"('x','y',false)", "function set_config()"},
        {"SELECT (SELECT pg_advisory_lock(1))", "function pg_advisory_lock()"},
        {"SELECT * FROM t WHERE v = (WITH d AS (DELETE FROM t RETURNING v) SELECT v FROM d)",
         "data-modifying CTE (DELETE)"},
        {"SELECT * FROM ROWS FROM (nextval('s'))", "function nextval()"},
        {"SELECT count(*) FILTER (WHERE setval('s', 1) > 0) FROM t", "function setval()"},
        {"SELECT v FROM t ORDER BY nextval('s')", "function nextval()"},
        {"VALUES (nextval('s'))", "function nextval()"},
        {"SELECT * FROM t TABLESAMPLE SYSTEM (setval('s', 5))", "function setval()"},
        {"SELECT t.pg_read_file FROM t", "function pg_read_file()"},
        {"SELECT (t).nextval FROM t", "function nextval()"},
        {"CREATE TABLE t2 AS SELECT * FROM t", "CREATE TABLE AS statement"},
        {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "DECLARE CURSOR statement"},
        {"SAVEPOINT a", "transaction control (SAVEPOINT)"},
        {"PREPARE TRANSACTION 'x'", "transaction control (PREPARE TRANSACTION)"},
        {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION statement"},
        {"REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW statement"},
        {"CHECKPOINT", "CHECKPOINT statement"},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(refused); i++)
        expect_refused(refused[i][0], NULL, refused[i][1]);
}

/* ---- the shared corpus ----------------------------------------------------- */

static void test_attacks_file(void **state)
{
    (void)state;
    json_t *root = load_json_array("attacks.json");
    assert_true(json_array_size(root) >= 30);
    size_t i;
    json_t *a;
    json_array_foreach(root, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *sql = json_string_value(json_object_get(a, "sql"));
        const char *why = json_string_value(json_object_get(a, "why"));
        if (!name || !sql || !why || !*name || !*sql || !*why)
            fail_msg("attacks.json[%zu]: name, sql and why must be non-empty strings", i);
        pv_err err = {{0}};
        int rc = pv_guard_check(sql, NULL, &err);
        if (rc != VOLLEY_EINPUT)
            fail_msg("attack %s not refused (%d): %s", name, rc, sql);
        /* Every attack parses: it is refused for what it does, not for its syntax. */
        if (!starts_with(err.msg, "not read-only: "))
            fail_msg("attack %s: unexpected reason \"%s\"", name, err.msg);
    }
    json_decref(root);
}

static void test_readonly_ok_file(void **state)
{
    (void)state;
    json_t *root = load_json_array("readonly_ok.json");
    assert_true(json_array_size(root) >= 15);
    size_t i;
    json_t *q;
    json_array_foreach(root, i, q)
    {
        const char *name = json_string_value(json_object_get(q, "name"));
        const char *sql = json_string_value(json_object_get(q, "sql"));
        if (!name || !sql)
            fail_msg("readonly_ok.json[%zu]: name and sql must be strings", i);
        expect_ok(sql, NULL);
    }
    json_decref(root);
}

/* ---- allow-list mode ------------------------------------------------------ */

static void test_allowlist(void **state)
{
    (void)state;
    static const char *const allow[] = {"count", "sum", NULL};
    struct pv_guard_opts opts = {.mode = PV_GUARD_ALLOWLIST, .allow = allow};
    expect_ok("SELECT count(*) FROM t", &opts);
    expect_ok("SELECT sum(v), COUNT(v) FROM t WHERE v > 1", &opts);
    expect_ok("SELECT pg_catalog.count(*) FROM t", &opts);
    expect_ok("SHOW work_mem", &opts);
    expect_ok("VALUES (1)", &opts);
    expect_refused("SELECT lower(x) FROM t", &opts,
                   "not read-only: function lower() is not allowed (not on the allow-list)");
    expect_refused("SELECT count(*) FROM t WHERE v = (SELECT max(v) FROM t)", &opts,
                   "function max()");
    expect_refused("SELECT * FROM generate_series(1, 2)", &opts, "function generate_series()");
    expect_refused("SELECT pg_sleep(1)", &opts, "function pg_sleep()");
    /* The statement rules still apply. */
    expect_refused("DELETE FROM t", &opts, "DELETE statement");
    expect_refused("SELECT * FROM t FOR UPDATE", &opts, "locking clause");

    struct pv_guard_opts none = {.mode = PV_GUARD_ALLOWLIST, .allow = NULL};
    expect_ok("SELECT v FROM t", &none);
    expect_refused("SELECT count(*) FROM t", &none, "function count()");
}

/* ---- table allow-lists ---------------------------------------------------- */

static void test_table_allowlists(void **state)
{
    (void)state;
    static const char *const schemas[] = {"sales", "public", NULL};
    static const char *const tables[] = {"sales.orders", "customers", "v_totals", NULL};
    struct pv_guard_opts o = {
        .mode = PV_GUARD_DENYLIST, .allow_schemas = schemas, .allow_tables = tables};
    expect_ok("SELECT * FROM sales.orders", &o);
    expect_ok("SELECT * FROM customers c JOIN public.customers d USING (id)", &o);
    expect_ok("SELECT * FROM v_totals", &o); /* a listed view: what it reads is its owner's */
    expect_ok("WITH secret AS (SELECT 1 AS x) SELECT * FROM secret", &o);
    expect_ok("WITH a AS (SELECT * FROM customers), b AS (SELECT * FROM a) SELECT * FROM b", &o);
    expect_ok("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
              "SELECT * FROM r",
              &o);
    expect_ok("SELECT * FROM generate_series(1, 3) g, unnest(ARRAY[1]) u", &o);
    expect_ok("EXPLAIN SELECT * FROM sales.orders", &o);
    expect_ok("SELECT 1", &o);
    const char *why = "refused by policy: table ";
    expect_refused("SELECT * FROM secret", &o, "table secret is not in the dataset's allow-list");
    expect_refused("SELECT * FROM hr.salaries", &o, "table hr.salaries is not");
    expect_refused("SELECT * FROM sales.refunds", &o, why);
    expect_refused("SELECT * FROM pg_catalog.pg_authid", &o, why);
    expect_refused("SELECT * FROM pg_class", &o, why);
    expect_refused("TABLE secret", &o, why);
    expect_refused("SELECT (SELECT max(x) FROM secret) FROM customers", &o, why);
    expect_refused("SELECT * FROM customers WHERE id IN (SELECT id FROM secret)", &o, why);
    expect_refused("SELECT * FROM (SELECT * FROM secret) s", &o, why);
    expect_refused("SELECT * FROM customers UNION SELECT * FROM secret", &o, why);
    expect_refused("EXPLAIN SELECT * FROM secret", &o, why);
    expect_refused("SELECT * FROM customers, LATERAL (SELECT * FROM secret) s", &o, why);
    /* A CTE's name covers only where the CTE is in scope. */
    expect_refused("WITH a AS (SELECT * FROM secret), secret AS (SELECT 1) SELECT * FROM a", &o,
                   "table secret");
    expect_refused("SELECT * FROM (WITH secret AS (SELECT 1) SELECT * FROM secret) a, secret", &o,
                   "table secret");
    expect_refused("WITH x AS (SELECT 1) SELECT * FROM sales.x", &o, "table sales.x");
    /* Functions in FROM may read any table: only built-in set-returning ones. */
    expect_refused("SELECT * FROM my_reader()", &o, "function my_reader() in FROM");
    expect_refused("SELECT * FROM customers, ROWS FROM (generate_series(1, 2), f())", &o,
                   "function f() in FROM");

    struct pv_guard_opts only_schema = {.mode = PV_GUARD_DENYLIST, .allow_schemas = schemas};
    expect_ok("SELECT * FROM sales.anything JOIN whatever USING (id)", &only_schema);
    expect_refused("SELECT * FROM hr.salaries", &only_schema, "table hr.salaries");

    assert_true(pv_guard_table_allowed(&o, "sales", "orders"));
    assert_true(pv_guard_table_allowed(&o, "public", "customers"));
    assert_false(pv_guard_table_allowed(&o, "sales", "customers"));
    struct pv_guard_opts open = {.mode = PV_GUARD_DENYLIST};
    assert_true(pv_guard_table_allowed(&open, "hr", "salaries"));
}

static void test_fingerprint(void **state)
{
    (void)state;
    char a[PV_GUARD_FINGERPRINT_LEN], b[PV_GUARD_FINGERPRINT_LEN];
    assert_int_equal(pv_guard_fingerprint("SELECT * FROM t WHERE id = 1", a), 0);
    assert_int_equal(pv_guard_fingerprint("select *  from t where id = 42", b), 0);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 16);
    assert_int_equal(pv_guard_fingerprint("SELEC 1", a), VOLLEY_EINPUT);
    assert_string_equal(a, "");
}

/* ---- the deny-list -------------------------------------------------------- */

static void test_denied_list(void **state)
{
    (void)state;
    const struct pv_guard_denied *d = pv_guard_denied_functions();
    size_t n = 0;
    for (; d[n].name; n++) {
        assert_non_null(d[n].why);
        assert_true(strlen(d[n].why) > 0);
        for (const char *p = d[n].name; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                fail_msg("deny-list entry %s is not lower case", d[n].name);
        }
    }
    assert_true(n >= 40);

    static const char *const denied[] = {
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "set_config",
        "pg_advisory_unlock_all",
        "pg_try_advisory_lock",
        "pg_notify",
        "lo_unlink",
        "lowrite",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "dblink_connect",
        "pg_drop_replication_slot",
        "pg_logical_slot_get_changes",
        "pg_switch_wal",
        "pg_backup_start",
        "pg_promote",
        "pg_wal_replay_pause",
        "setval",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "database_to_xml",
        "pg_current_xact_id",
        "pg_import_system_collations",
        "pg_stat_reset",
        "pg_create_logical_replication_slot",
        "pg_replication_origin_create",
        "pg_logical_emit_message",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(denied); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT %s()", denied[i]);
        char want[128];
        snprintf(want, sizeof(want), "function %s() is not allowed (", denied[i]);
        expect_refused(sql, NULL, want);
    }
    /* Near misses that must stay allowed. */
    expect_ok("SELECT pg_sleep(0), lower('x'), pg_stat_get_numscans(0), pg_ls(), lo()", NULL);
    expect_ok("SELECT currval('s'), pg_current_logfile(), pg_backend_pid()", NULL);
}

/* ---- deep and long input -------------------------------------------------- */

static void test_deep_nesting(void **state)
{
    (void)state;
    pv_err err;
    int rc;

    /* 10000 parentheses: bison's stack runs out first. */
    char *q = repeat("SELECT ", "(", 10000, "1", ")", 10000, "");
    rc = pv_guard_check(q, NULL, &err);
    assert_true(rc == 0 || rc == VOLLEY_EINPUT);
    free(q);

    /* Moderate nesting stays accepted. */
    q = repeat("SELECT ", "(", 100, "1", ")", 100, "");
    expect_ok(q, NULL);
    free(q);
    q = repeat("SELECT ", "(SELECT ", 100, "1", ")", 100, "");
    expect_ok(q, NULL);
    free(q);

    /* Deep subqueries and function calls: refused or accepted, no crash. */
    q = repeat("SELECT ", "(SELECT ", 3000, "1", ")", 3000, "");
    rc = pv_guard_check(q, NULL, &err);
    assert_true(rc == 0 || rc == VOLLEY_EINPUT);
    free(q);
    q = repeat("SELECT ", "abs(", 5000, "1", ")", 5000, "");
    rc = pv_guard_check(q, NULL, &err);
    assert_true(rc == 0 || rc == VOLLEY_EINPUT);
    free(q);

    /*
     * A left-associative chain is not bounded by bison: 100000 levels would
     * overflow libpg_query's recursive writer on an ordinary stack.
     */
    q = repeat("SELECT 1", "+1", 100000, "", "", 0, "");
    expect_refused(q, NULL, "refused: query nested too deeply for the guard to check");
    free(q);
    q = repeat("SELECT 1", " UNION SELECT 1", 20000, "", "", 0, "");
    expect_refused(q, NULL, "nested too deeply");
    free(q);
    q = repeat("SELECT 1", "::int", 30000, "", "", 0, "");
    expect_refused(q, NULL, "nested too deeply");
    free(q);

    /* Too long to check at all. */
    q = repeat("SELECT 1", "+1", 600000, "", "", 0, "");
    expect_refused(q, NULL, "refused: query too long for the guard to check");
    free(q);
}

/* Long but flat queries take the parser-thread path and are accepted. */
static void test_long_flat_query(void **state)
{
    (void)state;
    char *q = repeat("SELECT * FROM t WHERE v IN (0", ",1", 50000, "", "", 0, ")");
    expect_ok(q, NULL);
    free(q);
    q = repeat("SELECT 1", " UNION ALL SELECT 1", 200, "", "", 0, "");
    expect_ok(q, NULL);
    free(q);
    q = repeat("SELECT * FROM t WHERE v IN (0", ",1", 50000, ") AND v = nextval('s'", "", 0, ")");
    expect_refused(q, NULL, "function nextval()");
    free(q);
    q = repeat("SELECT 1", ",1", 5000, "; DELETE FROM t", "", 0, "");
    expect_refused(q, NULL, "2 statements");
    free(q);
}

/* ---- empty input and syntax errors ---------------------------------------- */

static void test_empty(void **state)
{
    (void)state;
    static const char *const empty[] = {
        "", "   \n\t", ";", " ; ;", "-- only a comment", "/* only a comment */", "-- a\n-- b\n",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(empty); i++) {
        pv_err err = {{0}};
        assert_int_equal(pv_guard_check(empty[i], NULL, &err), VOLLEY_EINPUT);
        assert_string_equal(err.msg, "empty query");
    }
    pv_err err = {{0}};
    assert_int_equal(pv_guard_check(NULL, NULL, &err), VOLLEY_EINPUT);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    pv_err err = {{0}};
    assert_int_equal(pv_guard_check("SELEC 1", NULL, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "syntax error at or near \"SELEC\" (line 1, column 1)");

    assert_int_equal(pv_guard_check("SELECT v\nFROM t\nWHERE v = )", NULL, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "syntax error at or near \")\" (line 3, column 11)");

    /* Columns count characters, not bytes. */
    assert_int_equal(pv_guard_check("SELECT 'é', 'ü' FROM FROM", NULL, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "syntax error at or near \"FROM\" (line 1, column 22)");

    /* A message that does not start with "syntax error" gets the prefix. */
    expect_refused("SELECT 'abc", NULL,
                   "syntax error: unterminated quoted string at or near \"'abc\" "
                   "(line 1, column 8)");

    /* The rest of an unterminated string is cut short, on one line. */
    char *q = repeat("SELECT 1;\nSELECT 'x", "\nyyyyyyyy", 50, "", "", 0, "");
    assert_int_equal(pv_guard_check(q, NULL, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "...\" (line 2, column 8)"));
    assert_null(strchr(err.msg, '\n'));
    assert_true(strlen(err.msg) < 200);
    free(q);

    expect_refused("SELECT 1 +", NULL, "syntax error at end of input (line 1, column 11)");
}

static int group_teardown(void **state)
{
    (void)state;
    pg_query_exit();
    return 0;
}

/* ---- EXPLAIN ANALYZE for explain_query (opts.explain_analyze) -------------- */

static void test_explain_analyze_opt(void **state)
{
    (void)state;
    struct pv_guard_opts on = {.mode = PV_GUARD_DENYLIST, .explain_analyze = true};
    static const char *const ok[] = {
        "EXPLAIN ANALYZE SELECT 1",
        "EXPLAIN ANALYSE SELECT * FROM t",
        "EXPLAIN (ANALYZE true, FORMAT JSON) SELECT * FROM t WHERE v > 1",
        "EXPLAIN (FORMAT yaml, ANALYZE, BUFFERS, VERBOSE) VALUES (1)",
        "EXPLAIN (ANALYZE off) TABLE t",
        "EXPLAIN (ANALYZE) WITH x AS (SELECT v FROM t) SELECT * FROM x",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(ok); i++) {
        expect_ok(ok[i], &on);
        /* The default still refuses every one of them. */
        expect_refused(ok[i], NULL, "EXPLAIN ANALYZE runs the statement");
    }
    /* The explained statement must pass exactly as without ANALYZE. */
    static const char *const refused[][2] = {
        {"EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN of DELETE"},
        {"EXPLAIN (ANALYZE true) UPDATE t SET v = 0", "EXPLAIN of UPDATE"},
        {"EXPLAIN ANALYSE INSERT INTO t VALUES (1)", "EXPLAIN of INSERT"},
        {"EXPLAIN (FORMAT JSON, ANALYSE) MERGE INTO t USING (SELECT 1 AS v) s ON t.v = s.v "
         "WHEN MATCHED THEN DELETE",
         "EXPLAIN of MERGE"},
        {"EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
         "data-modifying CTE (DELETE)"},
        {"EXPLAIN ANALYZE SELECT * FROM (WITH u AS (UPDATE t SET v = 0 RETURNING v) SELECT v "
         "FROM u) x",
         "data-modifying CTE (UPDATE)"},
        {"EXPLAIN ANALYZE EXECUTE p", "EXPLAIN of EXECUTE"},
        {"EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "EXPLAIN of CREATE TABLE AS"},
        {"EXPLAIN ANALYZE SELECT * INTO t2 FROM t", "SELECT INTO"},
        {"EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", "locking clause"},
        {"EXPLAIN ANALYZE DECLARE c CURSOR FOR SELECT 1", "EXPLAIN of DECLARE CURSOR"},
        {"EXPLAIN ANALYZE SELECT setval('s', 1)", "function setval()"},
        {"EXPLAIN ANALYZE SELECT * FROM set_config('statement_timeout', '0', false)",
         "function set_config()"},
        {"EXPLAIN ANALYZE SELECT 1; DELETE FROM t", "2 statements"},
        {"EXPLAIN (ANALYZE) SELECT 1 /* ; */; UPDATE t SET v = 0", "2 statements"},
        {"EXPLAIN ANALYZE EXPLAIN SELECT 1", "syntax error"},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(refused); i++) {
        pv_err err = {{0}};
        if (pv_guard_check(refused[i][0], &on, &err) != VOLLEY_EINPUT)
            fail_msg("not refused: %s", refused[i][0]);
        if (!strstr(err.msg, refused[i][1]))
            fail_msg("%s\n  -> \"%s\"\n  does not contain \"%s\"", refused[i][0], err.msg,
                     refused[i][1]);
    }
    /* Allow-list mode keeps its rules with ANALYZE. */
    static const char *const allow[] = {"count", NULL};
    struct pv_guard_opts al = {.mode = PV_GUARD_ALLOWLIST, .allow = allow, .explain_analyze = true};
    expect_ok("EXPLAIN ANALYZE SELECT count(*) FROM t", &al);
    expect_refused("EXPLAIN ANALYZE SELECT lower(x) FROM t", &al, "function lower()");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_read_only),   cmocka_unit_test(test_null_opts_and_err),
        cmocka_unit_test(test_refuses_with_reason), cmocka_unit_test(test_attacks_file),
        cmocka_unit_test(test_readonly_ok_file),    cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_denied_list),         cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_long_flat_query),     cmocka_unit_test(test_empty),
        cmocka_unit_test(test_syntax_errors),       cmocka_unit_test(test_table_allowlists),
        cmocka_unit_test(test_fingerprint),         cmocka_unit_test(test_explain_analyze_opt),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
