/* test_workload_file.c - pv_workload: the file format, values as text, every rejected input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "workload/pv_workload.h"

#define DATA PV_TEST_DATA "/workload"

/* ---- helpers -------------------------------------------------------------- */

static pv_workload *new_workload(const struct pv_workload_opts *opts)
{
    pv_workload *w = NULL;
    assert_int_equal(pv_workload_create(opts, &w), 0);
    assert_non_null(w);
    return w;
}

/* Adds text as "t.sql" to w and returns the new query. */
static const struct pv_query *add_ok(pv_workload *w, const char *text)
{
    pv_err err = {{0}};
    size_t before = pv_workload_count(w);
    int rc = pv_workload_add_text(w, "t.sql", text, strlen(text), &err);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    assert_int_equal(pv_workload_count(w), before + 1);
    return pv_workload_query(w, before);
}

/* Adds len bytes of text as "t.sql" with opts; expects code and exactly want_msg. */
static void expect_fail_opts(const struct pv_workload_opts *opts, const char *text, size_t len,
                             int code, const char *want_msg)
{
    pv_workload *w = new_workload(opts);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_text(w, "t.sql", text, len, &err), code);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(pv_workload_count(w), 0);
    pv_workload_destroy(w);
}

static void expect_fail(const char *text, const char *want_msg)
{
    expect_fail_opts(NULL, text, strlen(text), VOLLEY_EINPUT, want_msg);
}

static void assert_value(const struct pv_scenario *sc, int i, const char *want)
{
    assert_true(i < sc->nparams);
    if (!want)
        assert_null(sc->values[i]);
    else
        assert_string_equal(sc->values[i], want);
}

/* A temporary directory for files made by a test; removed by rm_tmpdir. */
static void make_tmpdir(char *dir, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/pv_workload_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void rm_tmpdir(const char *dir, const char *const *names, size_t n)
{
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the seed's format ---------------------------------------------------- */

static void test_customer_example(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    const char *path = DATA "/customer_lookup_example.sql";
    assert_int_equal(pv_workload_add_path(w, path, &err), 0);
    assert_int_equal(pv_workload_count(w), 1);
    const struct pv_query *q = pv_workload_query(w, 0);
    assert_string_equal(q->path, path);
    assert_string_equal(q->name, "customer_lookup_example.sql");
    assert_string_equal(q->sql, "SELECT * FROM customer \nWHERE c_customer_sk = $1 \n"
                                "  AND c_customer_id = $2 \nLIMIT $3");
    assert_int_equal(q->nparams, 3);
    assert_int_equal(q->exec_count, 40);
    assert_int_equal(q->nscenarios, 4);
    static const char *const ids[] = {"AAAAAAAABAAAAAAA", "AAAAAAAACAAAAAAA", "AAAAAAAADAAAAAAA",
                                      "AAAAAAAAEAAAAAAA"};
    static const char *const limits[] = {"100", "50", "200", "1000"};
    for (size_t i = 0; i < 4; i++) {
        const struct pv_scenario *sc = &q->scenarios[i];
        char name[32], sk[8], json[64];
        snprintf(name, sizeof(name), "scenario_%zu", i + 1);
        snprintf(sk, sizeof(sk), "%zu", i + 1);
        snprintf(json, sizeof(json), "[%zu,\"%s\",%s]", i + 1, ids[i], limits[i]);
        assert_string_equal(sc->name, name);
        assert_int_equal(sc->nparams, 3);
        assert_int_equal(sc->exec_count, 40);
        assert_value(sc, 0, sk);
        assert_value(sc, 1, ids[i]);
        assert_value(sc, 2, limits[i]);
        assert_string_equal(sc->params_json, json);
    }
    assert_int_equal(pv_workload_scenario_count(w), 4);
    assert_int_equal(pv_workload_total_executions(w), 160);
    assert_null(pv_workload_query(w, 1));
    pv_workload_destroy(w);
}

static void test_no_parameters_is_one_scenario(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    const struct pv_query *q = add_ok(w, "SELECT count(*) FROM pg_class;\n");
    assert_string_equal(q->sql, "SELECT count(*) FROM pg_class");
    assert_int_equal(q->nparams, 0);
    assert_int_equal(q->nscenarios, 1);
    assert_string_equal(q->scenarios[0].name, "scenario_1");
    assert_int_equal(q->scenarios[0].nparams, 0);
    assert_null(q->scenarios[0].values);
    assert_string_equal(q->scenarios[0].params_json, "[]");
    assert_int_equal(q->exec_count, 5);
    assert_int_equal(q->scenarios[0].exec_count, 5);
    assert_int_equal(pv_workload_total_executions(w), 5);

    /* An empty parameter set for a query without placeholders. */
    q = add_ok(w, "-- PARAMETERS: [[], []]\nSELECT 1");
    assert_int_equal(q->nscenarios, 2);
    assert_string_equal(q->scenarios[1].params_json, "[]");
    assert_int_equal(pv_workload_scenario_count(w), 3);
    assert_int_equal(pv_workload_total_executions(w), 15);
    pv_workload_destroy(w);
}

static void test_exec_count_defaults(void **state)
{
    (void)state;
    struct pv_workload_opts opts = {.default_exec_count = 7};
    pv_workload *w = new_workload(&opts);
    assert_int_equal(add_ok(w, "SELECT 1")->exec_count, 7);
    assert_int_equal(add_ok(w, "-- EXEC_COUNT: 3\nSELECT 1")->exec_count, 3);
    assert_int_equal(add_ok(w, "--EXEC_COUNT:  12  \nSELECT 1")->exec_count, 12);
    assert_int_equal(add_ok(w, "-- EXEC_COUNT: 1000000000\nSELECT 1")->exec_count, 1000000000);
    assert_int_equal(pv_workload_total_executions(w), 7 + 3 + 12 + 1000000000);
    pv_workload_destroy(w);
}

static void test_dollar_style_file(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    const struct pv_query *q = add_ok(w, "-- PARAMETERS: [[1, 2], [3, 4]]\nSELECT $1 + $2;");
    assert_string_equal(q->sql, "SELECT $1 + $2");
    assert_int_equal(q->nparams, 2);
    assert_value(&q->scenarios[1], 1, "4");
    pv_workload_destroy(w);
}

/* ---- header comments are comments ----------------------------------------- */

static void test_headers_found_by_the_scanner(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    /* Inside a string literal: not a header. */
    const struct pv_query *q = add_ok(w, "SELECT '\n-- PARAMETERS: [[1]]\n-- EXEC_COUNT: 9\n'");
    assert_int_equal(q->nparams, 0);
    assert_int_equal(q->nscenarios, 1);
    assert_int_equal(q->exec_count, 5);
    /* Inside a block comment: not a header. */
    q = add_ok(w, "/* -- EXEC_COUNT: 3 */ SELECT 1");
    assert_int_equal(q->exec_count, 5);
    /* A trailing comment is a header. */
    q = add_ok(w, "SELECT %s -- PARAMETERS: [[7]]");
    assert_string_equal(q->sql, "SELECT $1");
    assert_value(&q->scenarios[0], 0, "7");
    /* After the statement, and inside it. */
    q = add_ok(w, "SELECT %s\n-- PARAMETERS: [[8]]\n;\n-- EXEC_COUNT: 2\n");
    assert_value(&q->scenarios[0], 0, "8");
    assert_int_equal(q->exec_count, 2);
    q = add_ok(w, "SELECT %s,\n-- EXEC_COUNT: 4\n%s\n-- PARAMETERS: [[1, 2]]\n");
    assert_string_equal(q->sql, "SELECT $1,\n-- EXEC_COUNT: 4\n$2");
    assert_int_equal(q->exec_count, 4);
    pv_workload_destroy(w);

    /* The keywords are upper case, as in the prototype. */
    expect_fail("-- parameters: [[1]]\nSELECT %s",
                "t.sql: the query has 1 placeholder but the file has no -- PARAMETERS: line");
}

static void test_duplicate_headers(void **state)
{
    (void)state;
    expect_fail("-- PARAMETERS: [[1]]\nSELECT %s\n-- PARAMETERS: [[2]]",
                "t.sql:3:1: second PARAMETERS line (the first is on line 1)");
    expect_fail("-- EXEC_COUNT: 1\n\n-- EXEC_COUNT: 1\nSELECT 1",
                "t.sql:3:1: second EXEC_COUNT line (the first is on line 1)");
    expect_fail("SELECT 1 -- EXEC_COUNT: 1\n  -- EXEC_COUNT: 2",
                "t.sql:2:3: second EXEC_COUNT line (the first is on line 1)");
}

/* ---- the statement -------------------------------------------------------- */

static void test_sql_trimmed(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    assert_string_equal(
        add_ok(w, "\n\n  -- PARAMETERS: [[1]]\n  SELECT %s ; \n -- trailing\n")->sql, "SELECT $1");
    assert_string_equal(add_ok(w, "-- PARAMETERS: [[1]]\nSELECT /* c */ %s -- x\n FROM t;")->sql,
                        "SELECT /* c */ $1 -- x\n FROM t");
    /* Planner hints open the query and stay. */
    assert_string_equal(add_ok(w, "/*+ SeqScan(t) */ SELECT 1 FROM t;")->sql,
                        "/*+ SeqScan(t) */ SELECT 1 FROM t");
    assert_string_equal(add_ok(w, "/* about */\n-- EXEC_COUNT: 2\nSELECT 1")->sql, "SELECT 1");
    assert_string_equal(add_ok(w, ";; SELECT 1 ;;")->sql, "SELECT 1");
    /* libpg_query's token ends are wrong for U& strings. */
    assert_string_equal(add_ok(w, "SELECT U&'d\\0061t'   ;")->sql, "SELECT U&'d\\0061t'");
    assert_string_equal(add_ok(w, "SELECT 1 AS U&\"x\" -- c")->sql, "SELECT 1 AS U&\"x\"");
    /* CRLF line ends, a byte order mark. */
    const struct pv_query *q = add_ok(w, "-- EXEC_COUNT: 3\r\nSELECT 1;\r\n");
    assert_int_equal(q->exec_count, 3);
    assert_string_equal(q->sql, "SELECT 1");
    assert_string_equal(add_ok(w, "\xEF\xBB\xBFSELECT 2")->sql, "SELECT 2");
    /* A function body with ';' inside is one statement. */
    assert_string_equal(add_ok(w, "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
                                  "BEGIN ATOMIC SELECT 1; END;\n")
                            ->sql,
                        "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC SELECT 1; END");
    pv_workload_destroy(w);
}

static void test_path_and_name(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_text(w, "some/dir/x.sql", "SELECT 1", 8, &err), 0);
    assert_string_equal(pv_workload_query(w, 0)->path, "some/dir/x.sql");
    assert_string_equal(pv_workload_query(w, 0)->name, "x.sql");
    assert_int_equal(pv_workload_add_text(w, "y.sql", "SELECT 1", 8, &err), 0);
    assert_string_equal(pv_workload_query(w, 1)->name, "y.sql");
    pv_workload_destroy(w);
    pv_workload_destroy(NULL);
}

static void test_statement_errors(void **state)
{
    (void)state;
    expect_fail("", "t.sql: empty file");
    expect_fail("\xEF\xBB\xBF", "t.sql: empty file");
    expect_fail("  \n\n\t", "t.sql: no SQL statement");
    expect_fail("-- PARAMETERS: [[1]]\n-- just a comment\n/* and another */\n",
                "t.sql: no SQL statement");
    expect_fail(";\n;", "t.sql: no SQL statement");
    expect_fail("SELECT 1; SELECT 2;",
                "t.sql: 2 statements; a workload file holds one statement, or a transaction: its "
                "statements between BEGIN and COMMIT, or marked with -- TRANSACTION");
    expect_fail("SELECT 1;\nSELECT 2;\nSELECT 3",
                "t.sql: 3 statements; a workload file holds one statement, or a transaction: its "
                "statements between BEGIN and COMMIT, or marked with -- TRANSACTION");
    expect_fail("-- PARAMETERS: [[1]]\nSELECT 'abc", "t.sql:2:8: unterminated quoted string");
    expect_fail("SELECT 1 /* open", "t.sql:1:10: unterminated /* comment");
    expect_fail("SELECT $x$ open", "t.sql:1:8: unterminated dollar-quoted string");
    /* Positions from pv_sqlscan are relative to the statement. */
    expect_fail("; SELECT %s, $1",
                "t.sql:1:14: cannot mix %s and $n placeholders in one statement");
    expect_fail("-- x\nSELECT %s,\n $1",
                "t.sql:3:2: cannot mix %s and $n placeholders in one statement");
    expect_fail("SELECT %s, %s",
                "t.sql: the query has 2 placeholders but the file has no -- PARAMETERS: line");
}

/* ---- EXEC_COUNT ----------------------------------------------------------- */

static void test_exec_count_errors(void **state)
{
    (void)state;
    expect_fail("-- EXEC_COUNT: 0\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"0\"");
    expect_fail("-- EXEC_COUNT: 000\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"000\"");
    expect_fail("-- EXEC_COUNT: -1\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"-1\"");
    expect_fail("-- EXEC_COUNT: +1\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"+1\"");
    expect_fail("-- EXEC_COUNT: abc\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"abc\"");
    expect_fail("-- EXEC_COUNT: 1e3\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"1e3\"");
    expect_fail("-- EXEC_COUNT: 4 0\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not \"4 0\"");
    expect_fail("-- EXEC_COUNT:\nSELECT 1",
                "t.sql:1:15: EXEC_COUNT must be a positive integer, not \"\"");
    expect_fail(
        "-- EXEC_COUNT: 99999999999999999999\nSELECT 1",
        "t.sql:1:16: EXEC_COUNT 99999999999999999999 is larger than the limit of 1000000000");
    expect_fail("-- EXEC_COUNT: 1000000001\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT 1000000001 is larger than the limit of 1000000000");
    expect_fail("-- EXEC_COUNT: 184467440737095516160000\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT 184467440737095516160000 is larger than the limit of "
                "1000000000");
    expect_fail("-- EXEC_COUNT: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nSELECT 1",
                "t.sql:1:16: EXEC_COUNT must be a positive integer, not "
                "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
    struct pv_workload_opts opts = {.max_exec_count = 100};
    const char *t = "-- EXEC_COUNT: 101\nSELECT 1";
    expect_fail_opts(&opts, t, strlen(t), VOLLEY_EINPUT,
                     "t.sql:1:16: EXEC_COUNT 101 is larger than the limit of 100");
    pv_workload *w = new_workload(&opts);
    assert_int_equal(add_ok(w, "-- EXEC_COUNT: 100\nSELECT 1")->exec_count, 100);
    pv_workload_destroy(w);
}

/* ---- PARAMETERS ----------------------------------------------------------- */

static void test_parameters_errors(void **state)
{
    (void)state;
    expect_fail("-- a\n-- b\n-- PARAMETERS: [[1, 2], [3,]]\nSELECT %s, %s",
                "t.sql:3:28: invalid JSON in PARAMETERS: unexpected token near ']'");
    expect_fail("-- PARAMETERS: [[\"é\", x]]\nSELECT %s, %s",
                "t.sql:1:23: invalid JSON in PARAMETERS: invalid token near 'x'");
    expect_fail("-- PARAMETERS: [[1]] junk\nSELECT %s",
                "t.sql:1:22: invalid JSON in PARAMETERS: end of file expected near 'junk'");
    expect_fail("-- PARAMETERS:\nSELECT %s",
                "t.sql:1:15: invalid JSON in PARAMETERS: '[' or '{' expected near end of file");
    expect_fail("-- PARAMETERS: [[1e400]]\nSELECT %s",
                "t.sql:1:18: invalid JSON in PARAMETERS: real number overflow near '1e400'");
    expect_fail("-- PARAMETERS: [[\"a\\u0000b\"]]\nSELECT %s",
                "t.sql:1:18: invalid JSON in PARAMETERS: a NUL character (\\u0000) is not "
                "allowed in a string");
    expect_fail("-- PARAMETERS: {\"a\": 1}\nSELECT %s",
                "t.sql:1:16: PARAMETERS must be a JSON array of parameter sets, like [[1, \"a\"]]");
    expect_fail("-- PARAMETERS:  []\nSELECT 1", "t.sql:1:17: PARAMETERS holds no parameter set");
    expect_fail("-- PARAMETERS: [[1], 2]\nSELECT %s",
                "t.sql:1:22: parameter set 2 is not a JSON array");
    expect_fail("-- PARAMETERS: [[1], {\"a\": 1}]\nSELECT %s",
                "t.sql:1:22: parameter set 2 is not a JSON array");
    expect_fail("-- PARAMETERS: [[1, 2], [1, 2, 3]]\nSELECT %s, %s",
                "t.sql:1:25: parameter set 2 has 3 values but the query has 2 placeholders");
    expect_fail("-- PARAMETERS: [[1]]\nSELECT %s, %s",
                "t.sql:1:17: parameter set 1 has 1 value but the query has 2 placeholders");
    expect_fail("-- PARAMETERS: [[1]]\nSELECT 1",
                "t.sql:1:17: parameter set 1 has 1 value but the query has 0 placeholders");
    expect_fail("-- PARAMETERS: [[1, 2]]\nSELECT $1",
                "t.sql:1:17: parameter set 1 has 2 values but the query has 1 placeholder");
}

static void test_parameters_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000, n = 15 + 2 * depth + 10;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memcpy(text, "-- PARAMETERS: ", 15);
    memset(text + 15, '[', depth);
    memset(text + 15 + depth, ']', depth);
    memcpy(text + 15 + 2 * depth, "\nSELECT %s", 10);
    text[n] = '\0';
    expect_fail(text, "t.sql:1:48: PARAMETERS is nested more than 32 levels deep");

    /* With no limit of ours, jansson's own (2048) still holds. */
    struct pv_workload_opts opts = {.max_json_depth = 1000000};
    pv_workload *w = new_workload(&opts);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_text(w, "t.sql", text, n, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "invalid JSON in PARAMETERS: maximum parsing depth reached"));
    pv_workload_destroy(w);

    /* Unbalanced: no crash, the same error. */
    memset(text + 15 + depth, ' ', depth);
    expect_fail(text, "t.sql:1:48: PARAMETERS is nested more than 32 levels deep");
    free(text);

    /* Brackets inside strings do not nest; 32 levels are fine. */
    w = new_workload(NULL);
    const struct pv_query *q =
        add_ok(w, "-- PARAMETERS: [[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\", "
                  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\nSELECT %s, %s");
    assert_value(&q->scenarios[0], 0, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    assert_value(&q->scenarios[0], 1,
                 "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}");
    pv_workload_destroy(w);
    expect_fail("-- PARAMETERS: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                "\nSELECT %s",
                "t.sql:1:48: PARAMETERS is nested more than 32 levels deep");
}

static void test_value_conversion(void **state)
{
    (void)state;
    static const char *const want[] = {
        NULL,
        "true",
        "false",
        "1.5",
        "10000000000",
        "say \"hi\"",
        "{1,2,\"a b\",\"x\\\"y\",NULL}",
        "{{1,2},{3,4}}",
        "{\"k\":[1,2],\"s\":\"v w\"}",
        "0.1",
        "99999999999999999999",
        "-0",
        "1E3",
        "{\"{\\\"a\\\":1}\",true}",
        "",
        "é",
        "{\"back\\\\slash\"}",
        "{\"a\":1,\"a\":2}",
        "{}",
        "NULL",
        "{\"NULL\"}",
        "-1.25e-7",
    };
    const char *json =
        "[null, true, false, 1.5, 10000000000, \"say \\\"hi\\\"\", [1, 2, \"a b\", \"x\\\"y\", "
        "null], "
        "[[1, 2], [3, 4]], {\"k\": [1, 2], \"s\": \"v w\"}, 0.1, 99999999999999999999, -0, 1E3, "
        "[{\"a\": 1}, true], \"\", \"\\u00e9\", [\"back\\\\slash\"], {\"a\":1,\"a\":2}, [], "
        "\"NULL\", "
        "[\"NULL\"], -1.25e-7]";
    const char *compact =
        "[null,true,false,1.5,10000000000,\"say \\\"hi\\\"\",[1,2,\"a b\",\"x\\\"y\",null],"
        "[[1,2],[3,4]],{\"k\":[1,2],\"s\":\"v w\"},0.1,99999999999999999999,-0,1E3,"
        "[{\"a\":1},true],\"\",\"\\u00e9\",[\"back\\\\slash\"],{\"a\":1,\"a\":2},[],\"NULL\","
        "[\"NULL\"],-1.25e-7]";
    int n = (int)(sizeof(want) / sizeof(want[0]));
    pv_buf b = PV_BUF_INIT;
    /* Two sets, so that the second one's numbers line up too. */
    pv_buf_printf(&b, "-- PARAMETERS: [%s,\n--\t%s]\nSELECT ", json, json);
    for (int i = 0; i < n; i++)
        pv_buf_puts(&b, i ? ", %s" : "%s");
    assert_int_equal(pv_buf_ok(&b), 0);

    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    /* A -- comment ends at the newline: PARAMETERS cannot go on to the next line. */
    assert_int_equal(pv_workload_add_text(w, "t.sql", b.data, b.len, &err), VOLLEY_EINPUT);
    pv_buf_reset(&b);
    pv_buf_printf(&b, "-- PARAMETERS: [%s, %s]\nSELECT ", json, json);
    for (int i = 0; i < n; i++)
        pv_buf_puts(&b, i ? ", %s" : "%s");
    const struct pv_query *q = add_ok(w, b.data);
    assert_int_equal(q->nparams, n);
    assert_int_equal(q->nscenarios, 2);
    for (size_t s = 0; s < 2; s++) {
        for (int i = 0; i < n; i++)
            assert_value(&q->scenarios[s], i, want[i]);
        assert_string_equal(q->scenarios[s].params_json, compact);
    }
    pv_buf_fini(&b);
    pv_workload_destroy(w);
}

/* ---- content -------------------------------------------------------------- */

static void test_binary_content(void **state)
{
    (void)state;
    expect_fail_opts(NULL, "SELECT 1\n\0x", 11, VOLLEY_EINPUT,
                     "t.sql:2:1: binary content (NUL byte)");
    expect_fail("SELECT '\xff'", "t.sql:1:9: binary content (invalid UTF-8)");
    expect_fail("-- é\nSELECT '\xc0\xaf'", "t.sql:2:9: binary content (invalid UTF-8)");
    expect_fail("SELECT 'é\xed\xa0\x80'", "t.sql:1:10: binary content (invalid UTF-8)");
    expect_fail("SELECT '\xf4\x90\x80\x80'", "t.sql:1:9: binary content (invalid UTF-8)");
    expect_fail("SELECT 1 -- \xe2\x82", "t.sql:1:13: binary content (invalid UTF-8)");
    expect_fail("SELECT '\x80'", "t.sql:1:9: binary content (invalid UTF-8)");
    pv_workload *w = new_workload(NULL);
    assert_string_equal(add_ok(w, "SELECT '😀 €'")->sql, "SELECT '😀 €'");
    pv_workload_destroy(w);
}

static void test_limits(void **state)
{
    (void)state;
    struct pv_workload_opts opts = {.max_line_bytes = 100};
    char text[512];
    memcpy(text, "SELECT 1\n-- ", 12);
    memset(text + 12, 'x', 200);
    text[212] = '\0';
    expect_fail_opts(&opts, text, strlen(text), VOLLEY_EINPUT,
                     "t.sql:2: line is longer than 100 bytes");
    text[12 + 100 - 3] = '\0'; /* exactly 100 bytes */
    pv_workload *w = new_workload(&opts);
    add_ok(w, text);
    pv_workload_destroy(w);

    /* The default: 1 MiB. */
    size_t big = (1u << 20) + 1;
    char *giant = malloc(big + 16);
    assert_non_null(giant);
    memcpy(giant, "SELECT 1 -- ", 12);
    memset(giant + 12, 'y', big - 12);
    giant[big] = '\0';
    expect_fail(giant, "t.sql:1: line is longer than 1048576 bytes");
    free(giant);

    struct pv_workload_opts small = {.max_file_bytes = 16};
    const char *t = "SELECT 1 -- 12345678";
    expect_fail_opts(&small, t, strlen(t), VOLLEY_EINPUT,
                     "t.sql: file is larger than the limit of 16 bytes");
}

/* ---- files and directories ------------------------------------------------ */

static void test_directory_sorted(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    int rc = pv_workload_add_path(w, DATA "/dir", &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    /* strcmp order; no .txt, no hidden file, no directory, nothing below. */
    assert_int_equal(pv_workload_count(w), 3);
    assert_string_equal(pv_workload_query(w, 0)->path, DATA "/dir/C_upper_sorts_first.sql");
    assert_string_equal(pv_workload_query(w, 1)->name, "a_first.sql");
    assert_string_equal(pv_workload_query(w, 2)->name, "b_second.sql");
    assert_string_equal(pv_workload_query(w, 1)->sql, "SELECT $1::int");
    assert_int_equal(pv_workload_scenario_count(w), 1 + 3 + 1);
    assert_int_equal(pv_workload_total_executions(w), 5 + 3 * 5 + 2);

    /* A trailing slash does not double. */
    assert_int_equal(pv_workload_add_path(w, DATA "/dir/", &err), 0);
    assert_string_equal(pv_workload_query(w, 3)->path, DATA "/dir/C_upper_sorts_first.sql");
    pv_workload_destroy(w);
}

static void test_directory_without_sql(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_path(w, DATA "/no_sql", &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, DATA "/no_sql: no *.sql file in this directory");

    char dir[256];
    make_tmpdir(dir, sizeof(dir));
    assert_int_equal(pv_workload_add_path(w, dir, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, ": no *.sql file in this directory"));
    rm_tmpdir(dir, NULL, 0);
    assert_int_equal(pv_workload_count(w), 0);
    pv_workload_destroy(w);
}

static void test_missing_path(void **state)
{
    (void)state;
    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_path(w, DATA "/nope.sql", &err), VOLLEY_EIO);
    assert_string_equal(err.msg, DATA "/nope.sql: cannot open: No such file or directory");
    pv_workload_destroy(w);
}

static void test_nothing_added_on_error(void **state)
{
    (void)state;
    char dir[256];
    make_tmpdir(dir, sizeof(dir));
    static const char *const names[] = {"a_good.sql", "b_good.sql", "c_bad.sql"};
    write_file(dir, names[0], "SELECT 1");
    write_file(dir, names[1], "-- EXEC_COUNT: 2\nSELECT 2");
    write_file(dir, names[2], "-- EXEC_COUNT: 2\nSELECT 1;\n-- EXEC_COUNT: 3\n");

    pv_workload *w = new_workload(NULL);
    pv_err err = {{0}};
    assert_int_equal(pv_workload_add_path(w, DATA "/customer_lookup_example.sql", &err), 0);
    assert_int_equal(pv_workload_add_path(w, dir, &err), VOLLEY_EINPUT);
    char want[1024];
    snprintf(want, sizeof(want),
             "%s/c_bad.sql:3:1: second EXEC_COUNT line (the first is on line 1)", dir);
    assert_string_equal(err.msg, want);
    assert_int_equal(pv_workload_count(w), 1);
    assert_int_equal(pv_workload_total_executions(w), 160);

    /* A file over the size limit, read from disk. */
    struct pv_workload_opts opts = {.max_file_bytes = 10};
    pv_workload *small = new_workload(&opts);
    char path[512];
    snprintf(path, sizeof(path), "%s/b_good.sql", dir);
    assert_int_equal(pv_workload_add_path(small, path, &err), VOLLEY_EINPUT);
    snprintf(want, sizeof(want), "%s: file is larger than the limit of 10 bytes", path);
    assert_string_equal(err.msg, want);
    pv_workload_destroy(small);

    rm_tmpdir(dir, names, 3);
    pv_workload_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_example),
        cmocka_unit_test(test_no_parameters_is_one_scenario),
        cmocka_unit_test(test_exec_count_defaults),
        cmocka_unit_test(test_dollar_style_file),
        cmocka_unit_test(test_headers_found_by_the_scanner),
        cmocka_unit_test(test_duplicate_headers),
        cmocka_unit_test(test_sql_trimmed),
        cmocka_unit_test(test_path_and_name),
        cmocka_unit_test(test_statement_errors),
        cmocka_unit_test(test_exec_count_errors),
        cmocka_unit_test(test_parameters_errors),
        cmocka_unit_test(test_parameters_deep_nesting),
        cmocka_unit_test(test_value_conversion),
        cmocka_unit_test(test_binary_content),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_directory_sorted),
        cmocka_unit_test(test_directory_without_sql),
        cmocka_unit_test(test_missing_path),
        cmocka_unit_test(test_nothing_added_on_error),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pg_query_exit(); /* frees libpg_query's per-thread memory, for valgrind */
    return failed;
}
