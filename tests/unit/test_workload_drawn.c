/* test_workload_drawn.c - pv_workload: GENERATE and PARAMETERS_FILE headers, drawing values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "workload/pv_workload.h"

/* ---- helpers -------------------------------------------------------------- */

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pv-drawn-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    fclose(fp);
}

/* Adds dir/name holding sql; returns rc, and the query (or NULL) through *q. */
static int add(pv_workload *w, const char *name, const char *sql, pv_err *err,
               const struct pv_query **q)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(name, sql);
    size_t before = pv_workload_count(w);
    int rc = pv_workload_add_path(w, path, err);
    *q = rc == 0 ? pv_workload_query(w, before) : NULL;
    return rc;
}

static const struct pv_query *add_ok(pv_workload *w, const char *sql)
{
    pv_err err = {{0}};
    const struct pv_query *q = NULL;
    int rc = add(w, "t.sql", sql, &err, &q);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    return q;
}

/* Expects sql in t.sql to fail with "DIR/" + want (want names the file relative to dir). */
static void expect_fail_code(const char *sql, int code, const char *want)
{
    pv_workload *w = NULL;
    assert_int_equal(pv_workload_create(NULL, &w), 0);
    pv_err err = {{0}};
    const struct pv_query *q = NULL;
    int rc = add(w, "t.sql", sql, &err, &q);
    if (rc != code)
        fail_msg("%s: got %d (%s)", sql, rc, err.msg);
    char full[1200];
    snprintf(full, sizeof(full), want, dir, dir);
    assert_string_equal(err.msg, full);
    assert_int_equal(pv_workload_count(w), 0);
    pv_workload_destroy(w);
}

static void expect_fail(const char *sql, const char *want)
{
    expect_fail_code(sql, VOLLEY_EINPUT, want);
}

static pv_workload *new_workload(void)
{
    pv_workload *w = NULL;
    assert_int_equal(pv_workload_create(NULL, &w), 0);
    return w;
}

/* ---- GENERATE ------------------------------------------------------------- */

static void test_generate(void **state)
{
    (void)state;
    pv_workload *w = new_workload();
    const struct pv_query *q =
        add_ok(w, "-- GENERATE: random(1, 100000), zipfian(1, 1000, 1.07),string(16)\n"
                  "-- EXEC_COUNT: 7\n"
                  "SELECT %s::int, %s::int, %s::text;\n");
    assert_int_equal(q->nscenarios, 1);
    const struct pv_scenario *s = &q->scenarios[0];
    assert_string_equal(s->name, "generated");
    assert_int_equal(s->nparams, 3);
    assert_int_equal(s->exec_count, 7);
    assert_null(s->values);
    assert_true(pv_scenario_is_drawn(s));
    assert_string_equal(s->params_json, "{\"generate\":[\"random(1, 100000)\",\"random_zipfian(1, "
                                        "1000, 1.07)\",\"string(16)\"]}");
    assert_int_equal(pv_workload_total_executions(w), 7);

    struct pv_scenario_scratch a, b;
    pv_scenario_scratch_init(&a, 99, 0);
    pv_scenario_scratch_init(&b, 99, 0);
    for (int i = 0; i < 2000; i++) {
        const char *const *va, *const *vb;
        assert_int_equal(pv_scenario_values(s, &a, &va), 0);
        long x = strtol(va[0], NULL, 10), z = strtol(va[1], NULL, 10);
        assert_true(x >= 1 && x <= 100000);
        assert_true(z >= 1 && z <= 1000);
        assert_int_equal(strlen(va[2]), 16);
        assert_int_equal(strspn(va[2], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789"),
                         16);
        char copy[3][32];
        for (int k = 0; k < 3; k++)
            snprintf(copy[k], sizeof(copy[k]), "%s", va[k]);
        assert_int_equal(pv_scenario_values(s, &b, &vb), 0);
        for (int k = 0; k < 3; k++)
            assert_string_equal(copy[k], vb[k]); /* same seed, same values */
    }
    pv_scenario_scratch_fini(&a);
    pv_scenario_scratch_fini(&b);
    pv_workload_destroy(w);
}

static void test_generate_spellings(void **state)
{
    (void)state;
    pv_workload *w = new_workload();
    const struct pv_query *q =
        add_ok(w, "SELECT $1, $2, $3, $4 -- GENERATE:uniform( -5 ,5 ),exponential(0,9,0.5) , "
                  "random_gaussian(10, 20, 2), gaussian(-1,1,1e1)\n");
    assert_string_equal(q->scenarios[0].params_json,
                        "{\"generate\":[\"random(-5, 5)\",\"random_exponential(0, 9, 0.5)\","
                        "\"random_gaussian(10, 20, 2)\",\"random_gaussian(-1, 1, 10)\"]}");
    /* fixed scenarios go through the same call */
    q = add_ok(w, "-- PARAMETERS: [[1, null]]\nSELECT %s, %s");
    struct pv_scenario_scratch x;
    pv_scenario_scratch_init(&x, 1, 2);
    const char *const *v;
    assert_int_equal(pv_scenario_values(&q->scenarios[0], &x, &v), 0);
    assert_ptr_equal(v, q->scenarios[0].values);
    assert_false(pv_scenario_is_drawn(&q->scenarios[0]));
    const char *out[2];
    pv_buf scratch = PV_BUF_INIT;
    assert_int_equal(pv_scenario_draw(&q->scenarios[0], &x.rng, &scratch, out), 0);
    assert_string_equal(out[0], "1");
    assert_null(out[1]);
    pv_buf_fini(&scratch);
    pv_scenario_scratch_fini(&x);
    pv_workload_destroy(w);
}

static void test_generate_errors(void **state)
{
    (void)state;
    expect_fail("-- GENERATE: random(1, 10), foo(1)\nSELECT %s, %s",
                "%s/t.sql:1:29: unknown generator \"foo\" (random, random_exponential, "
                "random_gaussian, random_zipfian, string)");
    expect_fail("-- GENERATE: random(1)\nSELECT %s", "%s/t.sql:1:22: expected ',', not \")\"");
    expect_fail("-- GENERATE: random(1, 2, 3)\nSELECT %s",
                "%s/t.sql:1:25: expected ')' after the last argument, not \",\"");
    expect_fail("-- GENERATE: random(1, 10)\nSELECT %s, %s",
                "%s/t.sql:1:14: GENERATE gives 1 generator but the query has 2 placeholders");
    expect_fail("-- GENERATE:\nSELECT %s",
                "%s/t.sql:1:13: expected a generator such as random(1, 100), found the end of the "
                "line");
    expect_fail("-- GENERATE: gaussian(1, 10, 1.5)\nSELECT %s",
                "%s/t.sql:1:14: random_gaussian parameter must be at least 2.0, not 1.5");
    expect_fail("-- GENERATE: zipfian(1, 10, 1)\nSELECT %s",
                "%s/t.sql:1:14: random_zipfian parameter must be between 1.001 and 1000, not 1");
    expect_fail("-- GENERATE: exponential(1, 10, -1)\nSELECT %s",
                "%s/t.sql:1:14: random_exponential parameter must be greater than 0, not -1");
    expect_fail("-- GENERATE: random(10, 1)\nSELECT %s",
                "%s/t.sql:1:14: empty range in random: the upper bound 1 is less than the lower "
                "bound 10");
    expect_fail("-- GENERATE: random(1.5, 10)\nSELECT %s",
                "%s/t.sql:1:21: the lower bound must be an integer, not \"1.5\"");
    expect_fail("-- GENERATE: random(1, 99999999999999999999)\nSELECT %s",
                "%s/t.sql:1:24: the upper bound 99999999999999999999 is out of range");
    expect_fail("-- GENERATE: zipfian(1, 10, abc)\nSELECT %s",
                "%s/t.sql:1:29: the parameter must be a number, not \"abc\"");
    expect_fail("-- GENERATE: zipfian(1, 10, inf)\nSELECT %s",
                "%s/t.sql:1:29: the parameter must be a number, not \"inf\"");
    expect_fail("-- GENERATE: string(-1)\nSELECT %s",
                "%s/t.sql:1:21: the length -1 is out of range");
    expect_fail("-- GENERATE: string(70000)\nSELECT %s",
                "%s/t.sql:1:14: string length 70000 is larger than the limit of 65536");
    expect_fail("-- GENERATE: random(1, 2) random(1, 2)\nSELECT %s, %s",
                "%s/t.sql:1:27: expected ',' between generators, not \"random(1\"");
    expect_fail("-- GENERATE: random (1, 2\nSELECT %s",
                "%s/t.sql:1:26: expected ')' after the last argument, found the end of the line");
    expect_fail(
        "-- PARAMETERS: [[1]]\n-- GENERATE: random(1, 2)\nSELECT %s",
        "%s/t.sql:2:1: GENERATE and PARAMETERS (line 1) both give the parameter values; a "
        "file has at most one of PARAMETERS, GENERATE, PARAMETERS_FILE and PARAMETERS_QUERY");
    expect_fail("-- GENERATE: random(1, 2)\n-- GENERATE: random(1, 2)\nSELECT %s",
                "%s/t.sql:2:1: second GENERATE line (the first is on line 1)");
}

/* ---- PARAMETERS_FILE ------------------------------------------------------ */

static void test_csv(void **state)
{
    (void)state;
    write_file("c.csv", "id,name,note\r\n"
                        "1,alice,\"a, \"\"quoted\"\"\nnote\"\r\n"
                        "\n"
                        "2,,\"\"\n"
                        "3,carol,x");
    pv_workload *w = new_workload();
    const struct pv_query *q = add_ok(w, "-- PARAMETERS_FILE: c.csv\nSELECT %s, %s, %s");
    const struct pv_scenario *s = &q->scenarios[0];
    assert_string_equal(s->name, "csv");
    assert_true(pv_scenario_is_drawn(s));
    assert_string_equal(s->params_json,
                        "{\"file\":\"c.csv\",\"columns\":[\"id\",\"name\",\"note\"],\"rows\":3}");
    int seen[4] = {0};
    struct pv_scenario_scratch x;
    pv_scenario_scratch_init(&x, 5, 0);
    for (int i = 0; i < 300; i++) {
        const char *const *v;
        assert_int_equal(pv_scenario_values(s, &x, &v), 0);
        long id = strtol(v[0], NULL, 10);
        assert_true(id >= 1 && id <= 3);
        seen[id]++;
        if (id == 1) {
            assert_string_equal(v[1], "alice");
            assert_string_equal(v[2], "a, \"quoted\"\nnote");
        } else if (id == 2) {
            assert_null(v[1]);             /* empty unquoted: NULL */
            assert_string_equal(v[2], ""); /* quoted empty: empty string */
        } else {
            assert_string_equal(v[1], "carol");
            assert_string_equal(v[2], "x");
        }
    }
    assert_true(seen[1] > 50 && seen[2] > 50 && seen[3] > 50);
    pv_scenario_scratch_fini(&x);

    /* named columns, in any order; spaces around the names */
    q = add_ok(w, "-- PARAMETERS_FILE:  c.csv ( note ,id )  \nSELECT %s, %s");
    assert_string_equal(q->scenarios[0].params_json,
                        "{\"file\":\"c.csv\",\"columns\":[\"note\",\"id\"],\"rows\":3}");
    const char *v[2];
    pv_buf scratch = PV_BUF_INIT;
    pv_gen_rng rng;
    pv_gen_seed(&rng, 1, 1);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pv_scenario_draw(&q->scenarios[0], &rng, &scratch, v), 0);
        if (strcmp(v[1], "3") == 0)
            assert_string_equal(v[0], "x");
    }
    pv_buf_fini(&scratch);
    pv_workload_destroy(w);
}

static void test_csv_errors(void **state)
{
    (void)state;
    write_file("two.csv", "a,b\n1,2\n");
    expect_fail("-- PARAMETERS_FILE: two.csv\nSELECT %s",
                "%s/t.sql:1:21: %s/two.csv has 2 columns but the query has 1 placeholder (name the "
                "columns to use: FILE (col1, col2))");
    expect_fail("-- PARAMETERS_FILE: two.csv (b, c)\nSELECT %s, %s",
                "%s/t.sql:1:33: no column \"c\" in the header row of %s/two.csv");
    expect_fail("-- PARAMETERS_FILE: two.csv (b)\nSELECT %s, %s",
                "%s/t.sql:1:30: PARAMETERS_FILE names 1 column but the query has 2 placeholders");
    expect_fail("-- PARAMETERS_FILE: two.csv (b,)\nSELECT %s, %s",
                "%s/t.sql:1:32: expected a column name");
    expect_fail("-- PARAMETERS_FILE: two.csv (b\nSELECT %s",
                "%s/t.sql:1:31: expected ')' at the end of the column list");
    expect_fail("-- PARAMETERS_FILE:\nSELECT %s",
                "%s/t.sql:1:20: PARAMETERS_FILE needs a file name, like customers.csv");
    expect_fail_code("-- PARAMETERS_FILE: none.csv\nSELECT %s", VOLLEY_EIO,
                     "%s/t.sql:1:21: PARAMETERS_FILE: %s/none.csv: cannot open: No such file or "
                     "directory");
    expect_fail("-- PARAMETERS: [[1]]\n-- PARAMETERS_FILE: two.csv\nSELECT %s",
                "%s/t.sql:2:1: PARAMETERS_FILE and PARAMETERS (line 1) both give the parameter "
                "values; a file has at most one of PARAMETERS, GENERATE, PARAMETERS_FILE and "
                "PARAMETERS_QUERY");

    write_file("short.csv", "a,b\n1,2\n3\n");
    expect_fail("-- PARAMETERS_FILE: short.csv\nSELECT %s, %s",
                "%s/short.csv:3:1: this row has 1 field but the header row has 2");
    write_file("open.csv", "a\n1\n\"abc\n");
    expect_fail("-- PARAMETERS_FILE: open.csv\nSELECT %s",
                "%s/open.csv:3:1: unterminated quoted field");
    write_file("after.csv", "a,b\n\"x\"y,2\n");
    expect_fail("-- PARAMETERS_FILE: after.csv\nSELECT %s, %s",
                "%s/after.csv:2:4: expected ',' or the end of the line after a closing quote");
    write_file("inner.csv", "a,b\n1,x\"y\n");
    expect_fail("-- PARAMETERS_FILE: inner.csv\nSELECT %s, %s",
                "%s/inner.csv:2:4: quote inside an unquoted field (quote the whole field and "
                "double the quote)");
    write_file("hdr.csv", "a,b\n\n");
    expect_fail("-- PARAMETERS_FILE: hdr.csv\nSELECT %s, %s",
                "%s/hdr.csv: no data row after the header row");
    write_file("empty.csv", "\n\n");
    expect_fail("-- PARAMETERS_FILE: empty.csv\nSELECT %s",
                "%s/empty.csv: empty file; the first row names the columns");
    write_file("bin.csv", "a\n\xff\n");
    expect_fail("-- PARAMETERS_FILE: bin.csv\nSELECT %s",
                "%s/bin.csv:2:1: binary content (invalid UTF-8)");
    write_file("dup.csv", "a,a\n1,2\n");
    expect_fail("-- PARAMETERS_FILE: dup.csv (a)\nSELECT %s",
                "%s/t.sql:1:30: column \"a\" appears more than once in the header row of "
                "%s/dup.csv");
}

/* ---- PARAMETERS_QUERY ----------------------------------------------------- */

static void test_sample(void **state)
{
    (void)state;
    pv_workload *w = new_workload();
    const struct pv_query *q =
        add_ok(w, "SELECT %s, %s\n"
                  "-- PARAMETERS_QUERY:  SELECT id, name FROM t TABLESAMPLE SYSTEM (1);  \n");
    const struct pv_scenario *s = &q->scenarios[0];
    assert_string_equal(s->name, "sampled");
    assert_true(pv_scenario_is_drawn(s));
    assert_string_equal(s->params_json,
                        "{\"query\":\"SELECT id, name FROM t TABLESAMPLE SYSTEM (1)\"}");
    struct pv_sample_query sq;
    assert_true(pv_scenario_sample_query(s, q, &sq));
    assert_string_equal(sq.sql, "SELECT id, name FROM t TABLESAMPLE SYSTEM (1)");
    assert_string_equal(sq.path, q->path);
    assert_int_equal(sq.line, 2);
    assert_int_equal(sq.col, 23);

    char want[600];
    pv_err err = {{0}};
    assert_int_equal(pv_workload_check_ready(w, &err), VOLLEY_EINVAL);
    snprintf(want, sizeof(want), "%s:2:23: the rows of PARAMETERS_QUERY were not sampled", q->path);
    assert_string_equal(err.msg, want);
    struct pv_scenario_scratch x;
    pv_scenario_scratch_init(&x, 3, 0);
    const char *const *v;
    assert_int_equal(pv_scenario_values(s, &x, &v), VOLLEY_EINVAL);

    const char *cells[] = {"1", "one", "2", NULL, "3", "three"};
    assert_int_equal(pv_workload_set_sample(w, 0, 2, 3, cells, &err), VOLLEY_EINPUT);
    snprintf(want, sizeof(want),
             "%s:2:23: PARAMETERS_QUERY returns 3 columns but the query has 2 placeholders",
             q->path);
    assert_string_equal(err.msg, want);
    assert_int_equal(pv_workload_set_sample(w, 0, 0, 2, cells, &err), VOLLEY_EINPUT);
    snprintf(want, sizeof(want), "%s:2:23: PARAMETERS_QUERY returned no row", q->path);
    assert_string_equal(err.msg, want);
    assert_int_equal(pv_workload_set_sample(w, 1, 3, 2, cells, &err), VOLLEY_EINVAL);

    assert_int_equal(pv_workload_set_sample(w, 0, 3, 2, cells, &err), 0);
    assert_false(pv_scenario_sample_query(s, q, &sq));
    assert_int_equal(pv_workload_check_ready(w, &err), 0);
    assert_int_equal(pv_workload_set_sample(w, 0, 3, 2, cells, &err), VOLLEY_EINVAL);
    assert_string_equal(s->params_json, "{\"query\":\"SELECT id, name FROM t TABLESAMPLE "
                                        "SYSTEM (1)\",\"rows\":3}");
    int seen[4] = {0};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(pv_scenario_values(s, &x, &v), 0);
        long id = strtol(v[0], NULL, 10);
        assert_true(id >= 1 && id <= 3);
        seen[id]++;
        if (id == 2)
            assert_null(v[1]);
        else
            assert_string_equal(v[1], id == 1 ? "one" : "three");
    }
    assert_true(seen[1] > 30 && seen[2] > 30 && seen[3] > 30);
    pv_scenario_scratch_fini(&x);
    pv_workload_destroy(w);

    expect_fail("SELECT %s -- PARAMETERS_QUERY:  ;\n",
                "%s/t.sql:1:33: PARAMETERS_QUERY needs a query, like SELECT id FROM t");
    expect_fail("SELECT 1 -- PARAMETERS_QUERY: SELECT 1\n",
                "%s/t.sql:1:31: PARAMETERS_QUERY gives values but the query has no placeholder");
    expect_fail("-- GENERATE: random(1, 2)\n-- PARAMETERS_QUERY: SELECT 1\nSELECT %s",
                "%s/t.sql:2:1: PARAMETERS_QUERY and GENERATE (line 1) both give the parameter "
                "values; a file has at most one of PARAMETERS, GENERATE, PARAMETERS_FILE and "
                "PARAMETERS_QUERY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),        cmocka_unit_test(test_generate_spellings),
        cmocka_unit_test(test_generate_errors), cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_errors),      cmocka_unit_test(test_sample),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
