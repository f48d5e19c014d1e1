/* test_workload_sqlscan.c - pv_sqlscan: %s placeholders, $n counting, statements, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

#include "workload/pv_sqlscan.h"

/* ---- helpers -------------------------------------------------------------- */

/* Scans sql and checks every output field. */
static void expect_scan(const char *sql, const char *want_sql, int nparams, int nstatements,
                        int percent_s)
{
    struct pv_sqlscan s;
    pv_err err = {{0}};
    int rc = pv_sqlscan_run(sql, &s, &err);
    if (rc != 0)
        fail_msg("%s: %s", sql, err.msg);
    assert_string_equal(s.sql, want_sql);
    assert_int_equal(s.nparams, nparams);
    assert_int_equal(s.n_statements, nstatements);
    assert_int_equal(s.percent_s, percent_s);
    pv_sqlscan_fini(&s);
}

/* Scans sql and checks it fails with exactly want_msg. */
static void expect_error(const char *sql, const char *want_msg)
{
    struct pv_sqlscan s;
    pv_err err = {{0}};
    assert_int_equal(pv_sqlscan_run(sql, &s, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, want_msg);
    assert_null(s.sql);
    pv_sqlscan_fini(&s);
}

/* ---- %s outside and inside quoting ---------------------------------------- */

static void test_percent_s_plain(void **state)
{
    (void)state;
    expect_scan("SELECT * FROM t WHERE a = %s AND b = %s",
                "SELECT * FROM t WHERE a = $1 AND b = $2", 2, 1, 1);
    expect_scan("SELECT %s%s", "SELECT $1 $2", 2, 1, 1);
    expect_scan("SELECT f(%s,%s)", "SELECT f($1,$2)", 2, 1, 1);
}

static void test_percent_s_in_string_literals(void **state)
{
    (void)state;
    expect_scan("SELECT '%s', %s", "SELECT '%s', $1", 1, 1, 1);
    expect_scan("SELECT 'it''s %s', %s", "SELECT 'it''s %s', $1", 1, 1, 1);
    expect_scan("SELECT E'it\\'s %s', %s", "SELECT E'it\\'s %s', $1", 1, 1, 1);
    expect_scan("SELECT B'01', X'ff', U&'%s', N'%s', %s", "SELECT B'01', X'ff', U&'%s', N'%s', $1",
                1, 1, 1);
    expect_scan("SELECT 'a'\n'%s' x", "SELECT 'a'\n'%s' x", 0, 1, 0);
}

static void test_percent_s_in_quoted_identifier(void **state)
{
    (void)state;
    expect_scan("SELECT \"quoted ident %s\" FROM t WHERE x = %s",
                "SELECT \"quoted ident %s\" FROM t WHERE x = $1", 1, 1, 1);
}

static void test_percent_s_in_comments(void **state)
{
    (void)state;
    expect_scan("-- comment %s\nSELECT %s", "-- comment %s\nSELECT $1", 1, 1, 1);
    expect_scan("SELECT /* outer /* nested */ %s */ %s", "SELECT /* outer /* nested */ %s */ $1", 1,
                1, 1);
    expect_scan("SELECT 1 -- %s", "SELECT 1 -- %s", 0, 1, 0);
}

static void test_percent_s_in_dollar_quotes(void **state)
{
    (void)state;
    expect_scan("SELECT $$ %s $$, %s", "SELECT $$ %s $$, $1", 1, 1, 1);
    expect_scan("SELECT $tag$ it's %s $$ %s $tag$, %s", "SELECT $tag$ it's %s $$ %s $tag$, $1", 1,
                1, 1);
}

static void test_percent_s_after_operators(void **state)
{
    (void)state;
    /* The scanner reads `a=%s` as a, the operator `=%`, s. */
    expect_scan("SELECT * FROM t WHERE a=%s", "SELECT * FROM t WHERE a=$1", 1, 1, 1);
    expect_scan("SELECT * FROM t WHERE a = %s::int", "SELECT * FROM t WHERE a = $1::int", 1, 1, 1);
    expect_scan("SELECT * FROM t LIMIT %s", "SELECT * FROM t LIMIT $1", 1, 1, 1);
    expect_scan("SELECT * FROM t WHERE a<%s AND b>=%s AND c<>%s",
                "SELECT * FROM t WHERE a<$1 AND b>=$2 AND c<>$3", 3, 1, 1);
    expect_scan("SELECT * FROM t WHERE a IN (%s,%s)", "SELECT * FROM t WHERE a IN ($1,$2)", 2, 1,
                1);
    /* `%%` is not an escape: `a %%s` is `a %` followed by a placeholder. */
    expect_scan("SELECT a %%s", "SELECT a %$1", 1, 1, 1);
    expect_scan("SELECT a %% b", "SELECT a %% b", 0, 1, 0);
}

static void test_not_a_placeholder(void **state)
{
    (void)state;
    expect_scan("SELECT %sa FROM t", "SELECT %sa FROM t", 0, 1, 0);
    expect_scan("SELECT a % s FROM t", "SELECT a % s FROM t", 0, 1, 0);
    expect_scan("SELECT a %S FROM t", "SELECT a %S FROM t", 0, 1, 0);
    expect_scan("SELECT a %s_x FROM t", "SELECT a %s_x FROM t", 0, 1, 0);
}

static void test_rewrite_keeps_tokens_apart(void **state)
{
    (void)state;
    /* `x$1` would be one identifier, `5$1` a scanner error. */
    expect_scan("SELECT x%s", "SELECT x $1", 1, 1, 1);
    expect_scan("SELECT 5%s", "SELECT 5 $1", 1, 1, 1);
    expect_scan("SELECT 'a'%s", "SELECT 'a'$1", 1, 1, 1);
}

static void test_no_placeholder_input_unchanged(void **state)
{
    (void)state;
    expect_scan("SELECT 1", "SELECT 1", 0, 1, 0);
    expect_scan("  SELECT 1 ;  ", "  SELECT 1 ;  ", 0, 1, 0);
}

/* ---- $n style ------------------------------------------------------------- */

static void test_dollar_params(void **state)
{
    (void)state;
    expect_scan("SELECT $1, $2, $2", "SELECT $1, $2, $2", 2, 1, 0);
    expect_scan("SELECT $3", "SELECT $3", 3, 1, 0);
    expect_scan("SELECT $2 + $10", "SELECT $2 + $10", 10, 1, 0);
    expect_scan("SELECT '$5', $1", "SELECT '$5', $1", 1, 1, 0);
    expect_error("SELECT $0",
                 "line 1, column 8: $0 is not a valid parameter (parameters start at $1)");
    expect_error("SELECT\n  $65536",
                 "line 2, column 3: parameter number out of range (at most $65535)");
    expect_error("SELECT $99999999999999999999",
                 "line 1, column 8: parameter number out of range (at most $65535)");
}

static void test_mixed_styles(void **state)
{
    (void)state;
    expect_error("SELECT %s, $1",
                 "line 1, column 12: cannot mix %s and $n placeholders in one statement");
    expect_error("SELECT $1,\n  %s",
                 "line 2, column 3: cannot mix %s and $n placeholders in one statement");
    expect_error("SELECT $1, a=%s",
                 "line 1, column 14: cannot mix %s and $n placeholders in one statement");
    /* Each statement has its own style and its own numbering. */
    expect_scan("SELECT %s, %s; SELECT $1", "SELECT $1, $2; SELECT $1", 2, 2, 1);
    expect_scan("SELECT %s; SELECT %s", "SELECT $1; SELECT $1", 1, 2, 1);
}

/* ---- statements ----------------------------------------------------------- */

static void test_statement_count(void **state)
{
    (void)state;
    expect_scan("SELECT 1; SELECT 2", "SELECT 1; SELECT 2", 0, 2, 0);
    expect_scan("SELECT 1;", "SELECT 1;", 0, 1, 0);
    expect_scan("SELECT 1;;", "SELECT 1;;", 0, 1, 0);
    expect_scan("-- only a comment\n/* and another */\n", "-- only a comment\n/* and another */\n",
                0, 0, 0);
    expect_scan("", "", 0, 0, 0);
    expect_scan(" ;; ", " ;; ", 0, 0, 0);
    expect_scan("SELECT ';'; SELECT $$;$$", "SELECT ';'; SELECT $$;$$", 0, 2, 0);
    expect_scan("SELECT 1 -- ;\n", "SELECT 1 -- ;\n", 0, 1, 0);
}

static void test_statement_count_function_bodies(void **state)
{
    (void)state;
    const char *atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
                         "BEGIN ATOMIC\n"
                         "  SELECT CASE WHEN true THEN 1 END;\n"
                         "  SELECT 2;\n"
                         "END;\n"
                         "SELECT 3";
    expect_scan(atomic, atomic, 0, 2, 0);
    const char *replace = "CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT 1; END";
    expect_scan(replace, replace, 0, 1, 0);
    /* Outside CREATE FUNCTION, BEGIN is a transaction. */
    expect_scan("BEGIN; SELECT 1; END;", "BEGIN; SELECT 1; END;", 0, 3, 0);
    expect_scan("CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql; "
                "SELECT 1",
                "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql; "
                "SELECT 1",
                0, 2, 0);
}

/* ---- scanner errors ------------------------------------------------------- */

static void test_scanner_errors(void **state)
{
    (void)state;
    expect_error("SELECT 'abc", "line 1, column 8: unterminated quoted string");
    expect_error("SELECT 1,\n  'abc\ndef", "line 2, column 3: unterminated quoted string");
    expect_error("SELECT E'it\\'s", "line 1, column 8: unterminated quoted string");
    expect_error("SELECT 1 /* x", "line 1, column 10: unterminated /* comment");
    expect_error("SELECT 1 /* a /* b */ c", "line 1, column 10: unterminated /* comment");
    expect_error("SELECT\n$x$ abc $y$", "line 2, column 1: unterminated dollar-quoted string");
    expect_error("SELECT \"abc", "line 1, column 8: unterminated quoted identifier");
    /* Columns count characters, not bytes. */
    expect_error("SELECT 'é', 'x", "line 1, column 13: unterminated quoted string");
    expect_error("-- ü\nSELECT 'é', 'x", "line 2, column 13: unterminated quoted string");
}

static void test_fini_on_zeroed_struct(void **state)
{
    (void)state;
    struct pv_sqlscan s;
    memset(&s, 0, sizeof(s));
    pv_sqlscan_fini(&s);
    pv_sqlscan_fini(NULL);
}

static void test_many_placeholders(void **state)
{
    (void)state;
    size_t n = 70000;
    char *sql = malloc(7 + n * 3 + 1);
    assert_non_null(sql);
    memcpy(sql, "SELECT ", 7);
    for (size_t i = 0; i < n; i++)
        memcpy(sql + 7 + i * 3, i ? ",%s" : " %s", 3);
    sql[7 + n * 3] = '\0';
    struct pv_sqlscan s;
    pv_err err = {{0}};
    assert_int_equal(pv_sqlscan_run(sql, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "more than 65535 placeholders"));
    free(sql);
}

/* ---- pv_sqlscan_split: statements of a transaction ----------------------- */

static void expect_stmt(const struct pv_sqlstmt *st, const char *sql, int n, const int *map)
{
    assert_string_equal(st->sql, sql);
    assert_int_equal(st->nparams, n);
    for (int k = 0; k < n; k++)
        assert_int_equal(st->map[k], map[k]);
}

static void test_split_percent_s_through_the_file(void **state)
{
    (void)state;
    struct pv_sqlstmt *st;
    int n;
    pv_err err;
    assert_int_equal(pv_sqlscan_split("BEGIN;\n-- a comment\nUPDATE t SET v = %s WHERE id = %s;\n"
                                      "SELECT '%s', %s ; COMMIT;\n",
                                      &st, &n, &err),
                     0);
    assert_int_equal(n, 4);
    expect_stmt(&st[0], "BEGIN", 0, NULL);
    expect_stmt(&st[1], "-- a comment\nUPDATE t SET v = $1 WHERE id = $2", 2, (int[]){0, 1});
    expect_stmt(&st[2], "SELECT '%s', $1", 1, (int[]){2});
    expect_stmt(&st[3], "COMMIT", 0, NULL);
    pv_sqlstmts_free(st, n);
}

static void test_split_dollar_keeps_the_files_numbers(void **state)
{
    (void)state;
    struct pv_sqlstmt *st;
    int n;
    pv_err err;
    assert_int_equal(pv_sqlscan_split("UPDATE a SET b = b + $4 WHERE aid = $1;\n"
                                      "SELECT b FROM a WHERE aid = $1;\n"
                                      "INSERT INTO h VALUES ($2, $3, $1, $4)",
                                      &st, &n, &err),
                     0);
    assert_int_equal(n, 3);
    expect_stmt(&st[0], "UPDATE a SET b = b + $1 WHERE aid = $2", 2, (int[]){3, 0});
    expect_stmt(&st[1], "SELECT b FROM a WHERE aid = $1", 1, (int[]){0});
    expect_stmt(&st[2], "INSERT INTO h VALUES ($1, $2, $3, $4)", 4, (int[]){1, 2, 0, 3});
    pv_sqlstmts_free(st, n);
}

static void test_split_errors(void **state)
{
    (void)state;
    struct pv_sqlstmt *st = (struct pv_sqlstmt *)&st;
    int n = 7;
    pv_err err;
    assert_int_equal(pv_sqlscan_split("SELECT %s;\nSELECT $1;", &st, &n, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "line 2, column 8: the statements of a file use one placeholder "
                                 "style: %s throughout, or $n throughout");
    assert_null(st);
    assert_int_equal(n, 0);
    assert_int_equal(pv_sqlscan_split("SELECT 'x;", &st, &n, &err), VOLLEY_EINPUT);
    assert_int_equal(pv_sqlscan_split("-- nothing\n", &st, &n, &err), 0);
    assert_int_equal(n, 0);
    pv_sqlstmts_free(st, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_s_plain),
        cmocka_unit_test(test_percent_s_in_string_literals),
        cmocka_unit_test(test_percent_s_in_quoted_identifier),
        cmocka_unit_test(test_percent_s_in_comments),
        cmocka_unit_test(test_percent_s_in_dollar_quotes),
        cmocka_unit_test(test_percent_s_after_operators),
        cmocka_unit_test(test_not_a_placeholder),
        cmocka_unit_test(test_rewrite_keeps_tokens_apart),
        cmocka_unit_test(test_no_placeholder_input_unchanged),
        cmocka_unit_test(test_dollar_params),
        cmocka_unit_test(test_mixed_styles),
        cmocka_unit_test(test_statement_count),
        cmocka_unit_test(test_statement_count_function_bodies),
        cmocka_unit_test(test_scanner_errors),
        cmocka_unit_test(test_fini_on_zeroed_struct),
        cmocka_unit_test(test_many_placeholders),
        cmocka_unit_test(test_split_percent_s_through_the_file),
        cmocka_unit_test(test_split_dollar_keeps_the_files_numbers),
        cmocka_unit_test(test_split_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pg_query_exit(); /* frees libpg_query's per-thread memory, for valgrind */
    return failed;
}
