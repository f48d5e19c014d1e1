/* test_report_multi.c - the Markdown and JSON results of a hand-built multi-query batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_report_multi.h"

/*
 * Two queries on the one dataset "default":
 *   1. "Cities | towns": ok, columns city (text), n (int8); rows
 *      ("Paris", "3"), (NULL, "two\nlines"); 1.5 ms
 *   2. no label: failed 42P01 "relation \"x\" does not exist", its SQL
 *      holds a run of three backticks
 */
struct fixture {
    pv_datasets *ds;
    struct pv_bquery q[2];
    struct pv_multi_request req;
    struct pv_bresult res[2];
    char *cols[2], *types[2], *cells[4];
};

#define BAD_SQL "SELECT 1 FROM x /* ``` */"

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pv_err err = {{0}};
    assert_int_equal(pv_datasets_from_dsn("dbname=shop", &f->ds, &err), 0);
    f->q[0] =
        (struct pv_bquery){.dataset = 0, .sql = "SELECT city, n FROM t", .label = "Cities | towns"};
    f->q[1] = (struct pv_bquery){.dataset = 0, .sql = BAD_SQL, .label = NULL};
    f->req.n = 2;
    f->req.queries = f->q;

    f->cols[0] = "city";
    f->cols[1] = "n";
    f->types[0] = "text";
    f->types[1] = "int8";
    f->cells[0] = "Paris";
    f->cells[1] = "3";
    f->cells[2] = NULL;
    f->cells[3] = "two\nlines";
    struct pv_bresult *r = &f->res[0];
    r->ok = true;
    r->ncols = 2;
    r->cols = f->cols;
    r->types = f->types;
    r->nrows = 2;
    r->cells = f->cells;
    r->ms = 1.5;

    r = &f->res[1];
    r->ok = false;
    memcpy(r->sqlstate, "42P01", 6);
    r->message = "relation \"x\" does not exist";
    r->ms = 0.25;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pv_datasets_destroy(f->ds);
    free(f);
    return 0;
}

static void test_markdown(void **state)
{
    struct fixture *f = *state;
    pv_buf b = PV_BUF_INIT;
    assert_int_equal(pv_report_multi_markdown(&f->req, f->res, f->ds, 12.0, &b), 0);
    const char *want = "# Multi-Query Results\n\n"
                       "**Total Queries**: 2\n"
                       "**Successful**: 1\n"
                       "**Failed**: 1\n"
                       "**Total Execution Time**: 12ms\n\n"
                       "_Executed in parallel: 2 queries in 12ms._\n"
                       "\n---\n\n## 1. Cities \\| towns\n\n"
                       "**Rows**: 2 | **Time**: 2ms | **Dataset**: default\n\n"
                       "| city | n |\n"
                       "|---|---|\n"
                       "| Paris | 3 |\n"
                       "| _NULL_ | two lines |\n"
                       "\n---\n\n## 2. Query 2\n\n"
                       "**Error** (SQLSTATE 42P01): relation \"x\" does not exist\n\n"
                       "**Time**: 0ms | **Dataset**: default\n\n"
                       "````sql\n" BAD_SQL "\n````\n";
    assert_string_equal(pv_buf_str(&b), want);
    pv_buf_fini(&b);
}

static void test_json(void **state)
{
    struct fixture *f = *state;
    json_t *j = pv_report_multi_json(&f->req, f->res, f->ds, 12.0);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "succeeded")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 1);
    json_t *results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 2);

    json_t *r0 = json_array_get(results, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "label")), "Cities | towns");
    assert_string_equal(json_string_value(json_object_get(r0, "dataset")), "default");
    assert_true(json_is_true(json_object_get(r0, "ok")));
    assert_true(json_is_null(json_object_get(r0, "error")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(r0, "types"), 1)), "int8");
    json_t *rows = json_object_get(r0, "rows");
    /* SQL NULL is JSON null; text is kept as it is */
    assert_true(json_is_null(json_array_get(json_array_get(rows, 1), 0)));
    assert_string_equal(json_string_value(json_array_get(json_array_get(rows, 1), 1)),
                        "two\nlines");
    assert_int_equal(json_integer_value(json_object_get(r0, "row_count")), 2);

    json_t *r1 = json_array_get(results, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "label")), "Query 2");
    assert_true(json_is_false(json_object_get(r1, "ok")));
    json_t *e = json_object_get(r1, "error");
    assert_string_equal(json_string_value(json_object_get(e, "sqlstate")), "42P01");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "relation \"x\" does not exist");
    json_decref(j);
}

/* A SQL_ASCII database can hand back any bytes: the JSON stays whole and
   text stays text (null is SQL NULL only). */
static void test_json_not_utf8(void **state)
{
    struct fixture *f = *state;
    f->cols[0] = "caf\xE9";
    f->cells[0] = "Paris \xFF";
    f->res[1].message = "bad \xE9";
    json_t *j = pv_report_multi_json(&f->req, f->res, f->ds, 12.0);
    assert_non_null(j);
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r0, "columns"), 0)),
                        "caf\xEF\xBF\xBD");
    json_t *row0 = json_array_get(json_object_get(r0, "rows"), 0);
    assert_string_equal(json_string_value(json_array_get(row0, 0)), "Paris \xEF\xBF\xBD");
    json_t *r1 = json_array_get(json_object_get(j, "results"), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r1, "error"), "message")),
                        "bad \xEF\xBF\xBD");
    char *text = json_dumps(j, 0);
    assert_non_null(text);
    free(text);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_markdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_not_utf8, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
