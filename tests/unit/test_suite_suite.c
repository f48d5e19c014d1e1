/* test_suite_suite.c - pv_suite without a server: the built-in suite (its
   categories, tests, settings and targets, each file loading cleanly), a
   suite directory (order, NN- prefixes, what is not a test), its errors,
   --only, --export, and the workload headers CONCURRENCY and DURATION. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite/pv_suite.h"

static void put_file(const char *root, const char *rel, const char *text)
{
    char path[512], dir[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    mkdir(dir, 0777);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/pvsuite-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_builtin(void **state)
{
    (void)state;
    pv_err err = {{0}};
    pv_suite *s = NULL;
    assert_int_equal(pv_suite_builtin(&s, &err), 0);
    assert_string_equal(pv_suite_name(s), "default");
    assert_string_equal(pv_suite_source(s), "built-in");
    assert_int_equal(pv_suite_count(s), 17);
    static const char *const cats[] = {"simple", "indexed", "joins", "aggregations", "concurrent"};
    size_t k = 0, slow = 0;
    for (size_t i = 0; i < pv_suite_count(s); i++) {
        const struct pv_suite_test *t = pv_suite_get(s, i);
        if (i > 0 && strcmp(t->category, pv_suite_get(s, i - 1)->category) != 0)
            k++;
        assert_true(k < 5);
        assert_string_equal(t->category, cats[k]);
        assert_null(t->path);
        pv_workload *w = NULL;
        assert_int_equal(pv_workload_create(NULL, &w), 0);
        int rc = pv_suite_load(s, i, w, &err);
        if (rc != 0)
            fail_msg("%s: %s", t->file, err.msg);
        const struct pv_query *q = pv_workload_query(w, 0);
        assert_non_null(q->target);
        assert_true(q->duration_s > 0);
        assert_true(q->concurrency >= 1);
        assert_string_equal(q->path, t->file);
        if (strcmp(t->name, "runs_by_finished_at") == 0) {
            slow++;
            assert_non_null(strstr(q->sql, "finished_at >="));
        }
        if (strcmp(t->category, "concurrent") == 0)
            assert_true(q->concurrency == 10 || q->concurrency == 50 || q->concurrency == 100);
        pv_workload_destroy(w);
    }
    assert_int_equal(k, 4);
    assert_int_equal(slow, 1);
    assert_null(pv_suite_get(s, 17));
    pv_suite_destroy(s);
}

static void test_filter(void **state)
{
    (void)state;
    pv_err err = {{0}};
    pv_suite *s = NULL;
    assert_int_equal(pv_suite_builtin(&s, &err), 0);
    const char *none[] = {"nope", "indexed/zzz"};
    assert_int_equal(pv_suite_filter(s, none, 2, &err), VOLLEY_EINPUT);
    assert_string_equal(err.msg, "no test of the suite matches 'nope', 'indexed/zzz' (a pattern "
                                 "matches a category, or category/name)");
    assert_int_equal(pv_suite_count(s), 17);
    assert_int_equal(pv_suite_filter(s, NULL, 0, &err), 0);
    assert_int_equal(pv_suite_count(s), 17);
    const char *some[] = {"joins", "*_100", "indexed/pk_*"};
    assert_int_equal(pv_suite_filter(s, some, 3, &err), 0);
    assert_int_equal(pv_suite_count(s), 5);
    assert_string_equal(pv_suite_get(s, 0)->name, "pk_lookup");
    assert_string_equal(pv_suite_get(s, 3)->name, "run_events");
    assert_string_equal(pv_suite_get(s, 4)->name, "heavy_100");
    pv_suite_destroy(s);
}

static void test_directory(void **state)
{
    (void)state;
    char *root = temp_dir();
    put_file(root, "2-second/b.sql", "SELECT 2;\n");
    put_file(root, "10-third/a.sql", "SELECT 3;\n");
    put_file(root, "2-second/01-a.sql", "SELECT 1;\n");
    put_file(root, "2-second/data.csv", "id\n1\n");
    put_file(root, "2-second/.hidden.sql", "SELECT 9;\n");
    put_file(root, "README.md", "notes\n");
    pv_err err = {{0}};
    pv_suite *s = NULL;
    assert_int_equal(pv_suite_open(root, &s, &err), 0);
    assert_int_equal(pv_suite_count(s), 3);
    /* byte order of the names as found: "10-third" before "2-second" */
    assert_string_equal(pv_suite_get(s, 0)->category, "third");
    assert_string_equal(pv_suite_get(s, 0)->file, "10-third/a.sql");
    assert_string_equal(pv_suite_get(s, 1)->name, "a");
    assert_string_equal(pv_suite_get(s, 1)->category, "second");
    assert_string_equal(pv_suite_get(s, 2)->name, "b");
    const char *base = strrchr(root, '/') + 1;
    assert_string_equal(pv_suite_name(s), base);
    assert_string_equal(pv_suite_source(s), root);
    pv_workload *w = NULL;
    assert_int_equal(pv_workload_create(NULL, &w), 0);
    assert_int_equal(pv_suite_load(s, 2, w, &err), 0);
    assert_non_null(strstr(pv_workload_query(w, 0)->path, "2-second/b.sql"));
    pv_workload_destroy(w);
    pv_suite_destroy(s);

    put_file(root, "loose.sql", "SELECT 1;\n");
    assert_int_equal(pv_suite_open(root, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "loose.sql: a test must be in a category's sub-directory"));
    assert_null(s);
    remove_tree(root);
    free(root);
}

static void test_errors(void **state)
{
    (void)state;
    pv_err err = {{0}};
    pv_suite *s = NULL;
    char *root = temp_dir();
    assert_int_equal(pv_suite_open(root, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "the suite has no category"));
    put_file(root, "01-empty/notes.txt", "x\n");
    assert_int_equal(pv_suite_open(root, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "01-empty: the category has no test"));
    put_file(root, "file.txt", "x\n");
    char path[600];
    snprintf(path, sizeof(path), "%s/file.txt", root);
    assert_int_equal(pv_suite_open(path, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "a suite is a directory"));
    snprintf(path, sizeof(path), "%s/none", root);
    assert_int_equal(pv_suite_open(path, &s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "cannot open the suite"));
    remove_tree(root);
    free(root);
}

static void test_export(void **state)
{
    (void)state;
    pv_err err = {{0}};
    char *root = temp_dir();
    char dest[600];
    snprintf(dest, sizeof(dest), "%s/copy", root);
    assert_int_equal(pv_suite_export(dest, &err), 0);
    pv_suite *a = NULL, *b = NULL;
    assert_int_equal(pv_suite_open(dest, &a, &err), 0);
    assert_int_equal(pv_suite_builtin(&b, &err), 0);
    assert_int_equal(pv_suite_count(a), pv_suite_count(b));
    for (size_t i = 0; i < pv_suite_count(a); i++)
        assert_string_equal(pv_suite_get(a, i)->file, pv_suite_get(b, i)->file);
    pv_suite_destroy(a);
    pv_suite_destroy(b);
    assert_int_equal(pv_suite_export(dest, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "exists; --export never replaces a file"));
    remove_tree(root);
    free(root);
}

/* The error of one file's text, or "" when it loads. */
static const char *load_error(const char *text, pv_err *err)
{
    pv_workload *w = NULL;
    assert_int_equal(pv_workload_create(NULL, &w), 0);
    int rc = pv_workload_add_text(w, "t.sql", text, strlen(text), err);
    pv_workload_destroy(w);
    return rc == 0 ? "" : err->msg;
}

static void test_headers(void **state)
{
    (void)state;
    pv_workload *w = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_workload_create(NULL, &w), 0);
    static const struct {
        const char *text;
        int concurrency;
        double duration_s;
    } ok[] = {
        {"-- CONCURRENCY: 10\n-- DURATION: 5s\nSELECT 1;\n", 10, 5},
        {"-- DURATION: 250ms\nSELECT 1;\n", 0, 0.25},
        {"--DURATION:2m\n-- CONCURRENCY:10000\nSELECT 1;\n", 10000, 120},
        {"SELECT 1; -- DURATION: 1.5\n", 0, 1.5},
        {"SELECT 1;\n", 0, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(pv_workload_add_text(w, "t.sql", ok[i].text, strlen(ok[i].text), &err), 0);
        const struct pv_query *q = pv_workload_query(w, i);
        assert_int_equal(q->concurrency, ok[i].concurrency);
        assert_true(q->duration_s == ok[i].duration_s);
        assert_false(q->exec_count_set);
    }
    assert_int_equal(pv_workload_add_text(w, "t.sql", "-- EXEC_COUNT: 3\nSELECT 1;", 26, &err), 0);
    assert_true(pv_workload_query(w, 5)->exec_count_set);
    pv_workload_destroy(w);

    assert_string_equal(load_error("-- CONCURRENCY: 0\nSELECT 1;", &err),
                        "t.sql:1:17: CONCURRENCY must be an integer from 1 to 10000, not \"0\"");
    assert_non_null(strstr(load_error("SELECT 1;\n-- CONCURRENCY: 10001\n", &err),
                           "t.sql:2:17: CONCURRENCY must be"));
    assert_non_null(strstr(load_error("-- CONCURRENCY: -3\nSELECT 1;", &err), "not \"-3\""));
    assert_non_null(strstr(load_error("-- DURATION: 5h\nSELECT 1;", &err),
                           "t.sql:1:14: DURATION must be a time above 0 and at most 24 h"));
    assert_non_null(strstr(load_error("-- DURATION: 0s\nSELECT 1;", &err), "not \"0s\""));
    assert_non_null(strstr(load_error("-- DURATION:\nSELECT 1;", &err), "DURATION must be"));
    assert_non_null(strstr(load_error("-- DURATION: 25m\n-- DURATION: 1s\nSELECT 1;", &err),
                           "t.sql:2:1: second DURATION line (the first is on line 1)"));
    assert_non_null(strstr(load_error("-- DURATION: 1441m\nSELECT 1;", &err), "24 h"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),   cmocka_unit_test(test_filter),
        cmocka_unit_test(test_directory), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_export),    cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
