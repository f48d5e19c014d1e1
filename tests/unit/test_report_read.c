/* test_report_read.c - the report reader (pv_report_read.h): real reports
   read back render byte for byte as written; bad input is named by file and
   member; the merge sums counts and merges histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_report.h"
#include "report/pv_report_read.h"
#include "stats/pv_hist_codec.h"

#define OPEN_MODEL PV_TEST_DATA "/report/open_model.json"
#define SWEEP      PV_TEST_DATA "/report/sweep.json"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static pv_report_file *must_read(const char *path)
{
    pv_report_file *f = NULL;
    pv_err err = {{0}};
    if (pv_report_read(path, &f, &err) != 0)
        fail_msg("%s", err.msg);
    return f;
}

static void check_json_round_trip(const char *path)
{
    size_t len;
    char *text = slurp(path, &len);
    pv_report_file *f = must_read(path);
    pv_buf out = PV_BUF_INIT;
    assert_int_equal(pv_report_json(pv_report_file_report(f), &out), 0);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, text, len);
    pv_buf_reset(&out);
    assert_int_equal(pv_report_table(pv_report_file_report(f), &out), 0);
    assert_true(out.len > 100);
    pv_buf_reset(&out);
    assert_int_equal(pv_report_markdown(pv_report_file_report(f), &out), 0);
    pv_buf_fini(&out);
    pv_report_file_destroy(f);
    free(text);
}

static void test_round_trip(void **state)
{
    (void)state;
    check_json_round_trip(OPEN_MODEL); /* open model, a transaction, errors */
    check_json_round_trip(SWEEP);
}

/* Reads text changed by replacing the first `from` with `to`, expecting an
   input error that contains want. */
static void expect_error(const char *from, const char *to, const char *want)
{
    size_t len;
    char *text = slurp(OPEN_MODEL, &len);
    char *at = strstr(text, from);
    assert_non_null(at);
    pv_buf b = PV_BUF_INIT;
    pv_buf_append(&b, text, (size_t)(at - text));
    pv_buf_puts(&b, to);
    pv_buf_puts(&b, at + strlen(from));
    pv_report_file *f = (pv_report_file *)&f;
    pv_err err = {{0}};
    int rc = pv_report_read_text("x.json", b.data, b.len, &f, &err);
    if (rc != VOLLEY_EINPUT || !strstr(err.msg, want))
        fail_msg("rc %d, message \"%s\", want \"%s\"", rc, err.msg, want);
    assert_null(f);
    assert_true(strncmp(err.msg, "x.json:", 7) == 0);
    pv_buf_fini(&b);
    free(text);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("\"schema\": \"pgvolley.report/1\"", "\"schema\": \"pgvolley.report/2\"",
                 "schema: not");
    expect_error("\"summary\": {", "\"summary\": [", "x.json:"); /* no longer JSON */
    expect_error("\"succeeded\"", "\"succeded\"", "summary.succeeded: missing");
    expect_error("\"histogram\": \"pvh1.", "\"histogram\": \"pvh2.",
                 "summary.latency_ms.histogram: does not start with");
    expect_error("\"failed\": ", "\"failed\": 1 + ", "x.json:");
    expect_error("\"rows\": ", "\"rows\": \"many\", \"x\": ", "summary.rows: expected an integer");
    expect_error("\"protocol\": \"", "\"protocol\": \"x", "config.protocol: not prepared");
    expect_error("\"executions\": ", "\"executions\": 1000000 + 0 * ", "x.json:");
}

static void test_missing_file(void **state)
{
    (void)state;
    pv_report_file *f = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_report_read("/nonexistent/r.json", &f, &err), VOLLEY_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/r.json"));
    assert_null(f);
}

static void test_merge_self(void **state)
{
    (void)state;
    pv_report_file *a = must_read(OPEN_MODEL), *b = must_read(OPEN_MODEL);
    const struct pv_run_result *ra = pv_report_file_report(a)->runs[0];
    uint64_t ok = ra->total.succeeded, failed = ra->total.failed;
    uint64_t p99 = pv_hist_percentile(ra->total.latency, 99);
    double wall = ra->wall_s;
    pv_err err = {{0}};
    assert_int_equal(pv_report_merge(a, b, &err), 0);
    assert_int_equal(ra->total.succeeded, 2 * ok);
    assert_int_equal(ra->total.failed, 2 * failed);
    assert_int_equal(pv_hist_count(ra->total.latency), 2 * ok);
    assert_int_equal(pv_hist_percentile(ra->total.latency, 99), p99);  /* the same values twice */
    assert_true(ra->wall_s > wall - 1e-6 && ra->wall_s < wall + 1e-6); /* the same span */
    assert_int_equal(ra->concurrency, 2 * pv_report_file_report(b)->runs[0]->concurrency);
    uint64_t errs = 0;
    for (size_t i = 0; i < ra->total.nerrors; i++)
        errs += ra->total.errors[i].count;
    assert_int_equal(errs, 2 * failed);
    for (size_t i = 0; i < ra->nqueries; i++)
        assert_int_equal(
            pv_stat_executions(&ra->queries[i].stat),
            2 * pv_stat_executions(&pv_report_file_report(b)->runs[0]->queries[i].stat));

    pv_report_file *s = must_read(SWEEP);
    assert_int_equal(pv_report_merge(b, s, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "sweep"));
    pv_report_file_destroy(a);
    pv_report_file_destroy(b);
    pv_report_file_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_merge_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
