/* test_suite_diag.c - the diagnosis against a throwaway server: the
   seq-scan finding with its CREATE INDEX hint, none for an indexed lookup,
   writes and hostile SQL only EXPLAINed (nothing written), pg_stat_statements
   missing (a note) and present, the sampler seeing a lock wait, a failed
   connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/pv_conninfo.h"
#include "pgtmp/pv_pgtmp.h"
#include "suite/pv_diag.h"
#include "suite/pv_diag_int.h" /* PV_DIAG_WAIT_MIN_SAMPLES */

static char g_tmp[64];
static pv_pgtmp *g_server;
static pv_conninfo *g_ci;
static PGconn *g_pg; /* the test's own connection */

#define KW  pv_conninfo_keywords(g_ci)
#define VAL pv_conninfo_values(g_ci)

static void exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

/* The first column of the first row of sql, as a malloc'ed string. */
static char *value(const char *sql)
{
    PGresult *r = PQexec(g_pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void assert_value(const char *sql, const char *want)
{
    char *v = value(sql);
    assert_string_equal(v, want);
    free(v);
}

static pv_diag *gather(const char *const *stmts, size_t n, const char *const *params, size_t np,
                       const pv_diag_sampler *s)
{
    struct pv_diag_request req = {.statements = stmts,
                                  .nstatements = n,
                                  .param_values = params,
                                  .nparams = np,
                                  .sampler = s,
                                  .statement_timeout_s = 5};
    pv_diag *d = NULL;
    pv_err err = {{0}};
    int rc = pv_diag_gather(KW, VAL, &req, &d, &err);
    if (rc != 0)
        fail_msg("pv_diag_gather: %d %s", rc, err.msg);
    /* the JSON text parses and holds the tree's findings and notes (reals
       may differ in their last digits) */
    pv_buf b = PV_BUF_INIT;
    assert_int_equal(pv_diag_json(d, &b), 0);
    json_error_t je;
    json_t *back = json_loads(pv_buf_str(&b), 0, &je);
    assert_non_null(back);
    const json_t *tree = pv_diag_json_tree(d);
    assert_true(json_equal(json_object_get(back, "findings"), json_object_get(tree, "findings")));
    assert_true(json_equal(json_object_get(back, "notes"), json_object_get(tree, "notes")));
    assert_int_equal(json_object_size(back), json_object_size(tree));
    json_decref(back);
    pv_buf_fini(&b);
    for (size_t i = 0; i < pv_diag_nfindings(d); i++)
        printf("  finding [%s] %s\n", pv_diag_finding_kind(d, i), pv_diag_finding(d, i));
    for (size_t i = 0; i < pv_diag_nnotes(d); i++)
        printf("  note %s\n", pv_diag_note(d, i));
    return d;
}

/* Index of the first finding of kind whose text contains needle, or -1. */
static long finding(const pv_diag *d, const char *kind, const char *needle)
{
    for (size_t i = 0; i < pv_diag_nfindings(d); i++)
        if (strcmp(pv_diag_finding_kind(d, i), kind) == 0 && strstr(pv_diag_finding(d, i), needle))
            return (long)i;
    return -1;
}

static bool has_note(const pv_diag *d, const char *needle)
{
    for (size_t i = 0; i < pv_diag_nnotes(d); i++)
        if (strstr(pv_diag_note(d, i), needle))
            return true;
    return false;
}

static const json_t *get(const pv_diag *d, const char *key)
{
    return json_object_get(pv_diag_json_tree(d), key);
}

static const json_t *plan(const pv_diag *d, size_t i)
{
    return json_array_get(get(d, "plans"), i);
}

/* ---- tests ---- */

static void test_seq_scan_on_unindexed_column(void **state)
{
    (void)state;
    const char *stmts[] = {"SELECT id, tenant FROM t_big WHERE name = $1"};
    const char *params[] = {"name-77"};
    pv_diag *d = gather(stmts, 1, params, 1, NULL);
    long i = finding(d, "no_index",
                     "sequential scan on t_big (about 20,000 rows, 19,999 "
                     "removed by the filter) filtered by name: no index leads "
                     "with name; CREATE INDEX ON t_big (name) would serve it");
    assert_true(i >= 0);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(get(d, "findings"), (size_t)i), "table")),
        "t_big");
    assert_true(json_is_true(json_object_get(plan(d, 0), "analyze")));
    assert_true(json_is_array(json_object_get(plan(d, 0), "plan")));
    assert_non_null(strstr(json_string_value(json_object_get(plan(d, 0), "text")), "Seq Scan"));
    /* index usage of the table, the settings */
    const json_t *ix = get(d, "indexes");
    bool pkey = false;
    for (size_t k = 0; k < json_array_size(ix); k++)
        pkey |= strcmp(json_string_value(json_object_get(json_array_get(ix, k), "index")),
                       "t_big_pkey") == 0;
    assert_true(pkey);
    assert_non_null(json_object_get(get(d, "settings"), "work_mem"));
    assert_non_null(json_object_get(get(d, "settings"), "max_parallel_workers_per_gather"));
    assert_int_equal(json_object_size(get(d, "settings")), 7);
    pv_diag_destroy(d);

    /* an expression of the column: no CREATE INDEX hint, the column still named */
    const char *expr[] = {"SELECT id FROM t_big WHERE lower(name) = $1"};
    d = gather(expr, 1, params, 1, NULL);
    i = finding(d, "no_index", "filtered by name: no index leads with name");
    assert_true(i >= 0);
    assert_null(strstr(pv_diag_finding(d, (size_t)i), "CREATE INDEX"));
    pv_diag_destroy(d);

    /* an indexed column the planner passes over: said so, not "no index" */
    const char *most[] = {"SELECT count(*) FROM t_big WHERE tenant > $1"};
    const char *zero[] = {"0"};
    d = gather(most, 1, zero, 1, NULL);
    assert_true(finding(d, "seq_scan", "although index t_big_tenant_idx leads with tenant") >= 0);
    assert_int_equal(finding(d, "no_index", ""), -1);
    pv_diag_destroy(d);
}

/* A 2,000-row table: not large, but a filter discarding 1,999 of 2,000 rows is
   a finding; a table of 500 rows is not. */
static void test_selective_filter_on_smaller_table(void **state)
{
    (void)state;
    const char *stmts[] = {"SELECT * FROM t_mid WHERE name = $1",
                           "SELECT * FROM t_small WHERE name = $1"};
    const char *params[] = {"name-7"};
    pv_diag *d = gather(stmts, 2, params, 1, NULL);
    assert_true(finding(d, "no_index",
                        "sequential scan on t_mid (about 2,000 rows, 1,999 "
                        "removed by the filter) filtered by name: no index leads "
                        "with name; CREATE INDEX ON t_mid (name) would serve it") >= 0);
    assert_int_equal(finding(d, "no_index", "t_small"), -1);
    pv_diag_destroy(d);
}

/* An index serves one condition, the filter throws most rows away. */
static void test_index_scan_with_selective_filter(void **state)
{
    (void)state;
    const char *stmts[] = {"SELECT * FROM t_big WHERE id <= $1 AND name = $2"};
    const char *params[] = {"3000", "name-7"};
    pv_diag *d = gather(stmts, 1, params, 2, NULL);
    assert_true(finding(d, "index_filter",
                        "using t_big_pkey kept 1 row and removed 2,999 by the "
                        "filter on name, which the index does not cover") >= 0);
    assert_int_equal(finding(d, "no_index", ""), -1);
    pv_diag_destroy(d);
}

static void test_indexed_lookup_has_no_finding(void **state)
{
    (void)state;
    const char *stmts[] = {"BEGIN", "SELECT * FROM t_big WHERE id = $1",
                           "SELECT * FROM t_big WHERE tenant = $2 ORDER BY id LIMIT 5", "COMMIT"};
    const char *params[] = {"42", "7"};
    pv_diag *d = gather(stmts, 4, params, 2, NULL);
    assert_int_equal(json_array_size(get(d, "plans")), 2);
    assert_int_equal(finding(d, "no_index", ""), -1);
    assert_int_equal(finding(d, "seq_scan", ""), -1);
    assert_true(json_is_true(json_object_get(plan(d, 1), "analyze")));
    assert_true(json_is_null(json_object_get(plan(d, 1), "error")));
    pv_diag_destroy(d);
}

static void test_writes_are_only_explained(void **state)
{
    (void)state;
    const char *stmts[] = {"BEGIN", "UPDATE t_big SET name = 'changed' WHERE id = $1",
                           "DELETE FROM t_big WHERE id = $1", "INSERT INTO t_log VALUES ($1::int)",
                           "COMMIT"};
    const char *params[] = {"5"};
    pv_diag *d = gather(stmts, 5, params, 1, NULL);
    assert_int_equal(json_array_size(get(d, "plans")), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(json_is_false(json_object_get(plan(d, i), "analyze")));
        assert_true(json_is_array(json_object_get(plan(d, i), "plan")));
        assert_non_null(json_object_get(plan(d, i), "analyze_skipped"));
    }
    pv_diag_destroy(d);
    assert_value("SELECT name FROM t_big WHERE id = 5", "name-5");
    assert_value("SELECT count(*) FROM t_big", "20000");
    assert_value("SELECT count(*) FROM t_log", "0");
}

static void test_hostile_sql_writes_nothing(void **state)
{
    (void)state;
    const char *stmts[] = {
        "SELECT f_side()",                             /* the guard lets it through:
                                                          the READ ONLY transaction stops it */
        "SELECT set_config('work_mem', '1GB', false)", /* the guard refuses */
        "WITH d AS (DELETE FROM t_big WHERE id = 1 RETURNING *) SELECT * FROM d",
        "SELECT 1; DELETE FROM t_big WHERE id = 2",    /* two statements */
        "SELECT * FROM t_big WHERE id = 3 FOR UPDATE", /* locking clause */
        "COPY t_big TO STDOUT",                        /* not explainable */
    };
    pv_diag *d = gather(stmts, PV_ARRAY_LEN(stmts), NULL, 0, NULL);
    assert_int_equal(json_array_size(get(d, "plans")), PV_ARRAY_LEN(stmts));
    for (size_t i = 0; i < PV_ARRAY_LEN(stmts); i++)
        assert_true(json_is_false(json_object_get(plan(d, i), "analyze")));
    assert_true(has_note(d, "read-only transaction")); /* f_side's INSERT refused */
    assert_true(json_is_string(json_object_get(plan(d, 3), "error")));
    assert_true(json_is_string(json_object_get(plan(d, 5), "error")));
    pv_diag_destroy(d);
    assert_value("SELECT count(*) FROM t_log", "0");
    assert_value("SELECT count(*) FROM t_big WHERE id IN (1, 2)", "2");
    assert_value("SELECT current_setting('work_mem')", "4MB");
}

static void test_pg_stat_statements(void **state)
{
    (void)state;
    const char *stmts[] = {"SELECT id FROM t_big WHERE tenant = $1"};
    const char *params[] = {"3"};
    pv_diag *d = gather(stmts, 1, params, 1, NULL);
    assert_true(has_note(d, "pg_stat_statements is not installed"));
    assert_true(json_is_null(get(d, "statements")));
    pv_diag_destroy(d);

    exec_ok(g_pg, "CREATE EXTENSION pg_stat_statements");
    for (int i = 0; i < 5; i++) {
        PGresult *r = PQexecParams(g_pg, stmts[0], 1, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
    }
    d = gather(stmts, 1, params, 1, NULL);
    const json_t *st = get(d, "statements");
    assert_true(json_array_size(st) >= 1);
    assert_true(json_integer_value(json_object_get(json_array_get(st, 0), "calls")) >= 5);
    assert_true(finding(d, "stats", "calls, mean") >= 0);
    pv_diag_destroy(d);
    exec_ok(g_pg, "DROP EXTENSION pg_stat_statements");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_sampler_sees_lock_wait(void **state)
{
    (void)state;
    PGconn *holder = PQconnectdb(pv_pgtmp_conninfo(g_server));
    PGconn *waiter = PQconnectdb(pv_pgtmp_conninfo(g_server));
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    assert_int_equal(PQstatus(waiter), CONNECTION_OK);
    exec_ok(holder, "BEGIN");
    exec_ok(holder, "SELECT * FROM t_big WHERE id = 10 FOR UPDATE");
    exec_ok(waiter, "BEGIN");
    assert_int_equal(PQsendQuery(waiter, "UPDATE t_big SET tenant = tenant WHERE id = 10"), 1);

    pv_diag_sampler *s = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_diag_sampler_start(KW, VAL, 20, &s, &err), 0);
    struct pv_diag_sampler_counts c = {0};
    for (int i = 0; i < 250 && c.lock_waits < PV_DIAG_WAIT_MIN_SAMPLES; i++) {
        sleep_ms(20);
        pv_diag_sampler_counts(s, &c);
    }
    pv_diag_sampler_stop(s);
    pv_diag_sampler_stop(s); /* idempotent */
    pv_diag_sampler_counts(s, &c);
    assert_true(c.lock_waits >= PV_DIAG_WAIT_MIN_SAMPLES);
    assert_true(c.active_samples >= c.lock_waits);
    assert_int_equal(c.failed_rounds, 0);
    assert_null(pv_diag_sampler_error(s));

    /* a user without pg_read_all_stats sees the postgres sessions hidden */
    pv_conninfo *nopriv = NULL;
    assert_int_equal(pv_conninfo_create(pv_pgtmp_conninfo(g_server), NULL, &nopriv, &err), 0);
    assert_int_equal(pv_conninfo_set(nopriv, "user", "diag_nopriv"), 0);
    pv_diag_sampler *h = NULL;
    assert_int_equal(pv_diag_sampler_start(pv_conninfo_keywords(nopriv), pv_conninfo_values(nopriv),
                                           10, &h, &err),
                     0);
    struct pv_diag_sampler_counts hc = {0};
    for (int i = 0; i < 250 && hc.hidden_samples < 2; i++) {
        sleep_ms(10);
        pv_diag_sampler_counts(h, &hc);
    }
    pv_diag_sampler_stop(h);
    pv_diag_sampler_counts(h, &hc);
    assert_true(hc.hidden_samples >= 2);
    assert_int_equal(hc.lock_waits, 0);
    pv_diag *d = gather(NULL, 0, NULL, 0, h);
    assert_true(has_note(d, "needs pg_read_all_stats"));
    assert_int_equal(finding(d, "lock_wait", ""), -1);
    pv_diag_destroy(d);
    pv_diag_sampler_destroy(h);
    pv_conninfo_destroy(nopriv);

    d = gather(NULL, 0, NULL, 0, s);
    assert_true(finding(d, "lock_wait", "lock waits in") >= 0);
    assert_int_equal(json_integer_value(get(d, "lock_waits")), (json_int_t)c.lock_waits);
    const json_t *w = json_array_get(get(d, "waits"), 0);
    assert_string_equal(json_string_value(json_object_get(w, "wait_event_type")), "Lock");
    assert_string_equal(json_string_value(json_object_get(w, "wait_event")), "transactionid");
    pv_diag_destroy(d);
    pv_diag_sampler_destroy(s);

    exec_ok(holder, "ROLLBACK");
    PGresult *r;
    while ((r = PQgetResult(waiter)) != NULL)
        PQclear(r);
    exec_ok(waiter, "ROLLBACK");
    PQfinish(holder);
    PQfinish(waiter);
    pv_diag_sampler_destroy(NULL);
}

static void test_connect_failure_is_the_only_error(void **state)
{
    (void)state;
    pv_conninfo *bad = NULL;
    pv_err err = {{0}};
    char conninfo[256];
    snprintf(conninfo, sizeof(conninfo), "host=%s port=1 user=postgres connect_timeout=2",
             pv_pgtmp_socket_dir(g_server));
    assert_int_equal(pv_conninfo_create(conninfo, NULL, &bad, &err), 0);
    struct pv_diag_request req = {0};
    pv_diag *d = NULL;
    assert_int_equal(
        pv_diag_gather(pv_conninfo_keywords(bad), pv_conninfo_values(bad), &req, &d, &err),
        VOLLEY_ECONNECT);
    assert_null(d);
    assert_true(err.msg[0] != '\0');
    pv_diag_sampler *s = NULL;
    assert_int_equal(
        pv_diag_sampler_start(pv_conninfo_keywords(bad), pv_conninfo_values(bad), 0, &s, &err),
        VOLLEY_ECONNECT);
    assert_null(s);
    pv_conninfo_destroy(bad);
    assert_int_equal(pv_diag_gather(KW, VAL, NULL, &d, &err), VOLLEY_EINVAL);
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pvdiag-XXXXXX");
    if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) != 0 || setenv("TMPDIR", g_tmp, 1) != 0)
        return -1;
    static const char *const settings[] = {"shared_preload_libraries=pg_stat_statements", NULL};
    struct pv_pgtmp_opts opts = {.extra_settings = settings,
                                 .initdb_cache = getenv("PGVOLLEY_INITDB_CACHE")};
    pv_err err = {{0}};
    if (pv_pgtmp_start(&opts, &g_server, &err) != 0 ||
        pv_conninfo_create(pv_pgtmp_conninfo(g_server), "test_suite_diag", &g_ci, &err) != 0) {
        fprintf(stderr, "set-up: %s\n", err.msg);
        return -1;
    }
    g_pg = PQconnectdb(pv_pgtmp_conninfo(g_server));
    if (PQstatus(g_pg) != CONNECTION_OK)
        return -1;
    exec_ok(g_pg, "CREATE TABLE t_big (id int PRIMARY KEY, name text, tenant int)");
    exec_ok(g_pg, "INSERT INTO t_big SELECT i, 'name-' || i, i % 50 FROM "
                  "generate_series(1, 20000) i");
    exec_ok(g_pg, "CREATE INDEX t_big_tenant_idx ON t_big (tenant)");
    exec_ok(g_pg, "CREATE TABLE t_mid AS SELECT i AS id, 'name-' || i AS name FROM "
                  "generate_series(1, 2000) i");
    exec_ok(g_pg, "CREATE TABLE t_small AS SELECT i AS id, 'name-' || i AS name FROM "
                  "generate_series(1, 500) i");
    exec_ok(g_pg, "ANALYZE t_mid, t_small");
    exec_ok(g_pg, "CREATE TABLE t_log (x int)");
    exec_ok(g_pg, "CREATE ROLE diag_nopriv LOGIN");
    exec_ok(g_pg, "CREATE FUNCTION f_side() RETURNS int LANGUAGE plpgsql AS "
                  "$$ BEGIN INSERT INTO t_log VALUES (1); RETURN 1; END $$");
    exec_ok(g_pg, "VACUUM ANALYZE t_big");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_pg);
    pv_conninfo_destroy(g_ci);
    pv_pgtmp_stop(g_server);
    rmdir(g_tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_scan_on_unindexed_column),
        cmocka_unit_test(test_selective_filter_on_smaller_table),
        cmocka_unit_test(test_index_scan_with_selective_filter),
        cmocka_unit_test(test_indexed_lookup_has_no_finding),
        cmocka_unit_test(test_writes_are_only_explained),
        cmocka_unit_test(test_hostile_sql_writes_nothing),
        cmocka_unit_test(test_pg_stat_statements),
        cmocka_unit_test(test_sampler_sees_lock_wait),
        cmocka_unit_test(test_connect_failure_is_the_only_error),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
