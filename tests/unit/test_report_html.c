/*
 * test_report_html.c - the HTML page of a report (pv_report_html.h): the
 * embedded JSON cannot close its script element, reads back as the same
 * document with spectra instead of histograms, the assets are inline, bad
 * input is refused.
 *
 * Also a small tool for tests/browser/run_browser.py, which needs pages of
 * documents no command writes yet (a suite report made by hand):
 *   test_report_html --render IN.json OUT.html [TITLE]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "report/pv_report_html.h"
#include "stats/pv_hist.h"
#include "stats/pv_hist_codec.h"

#define HOSTILE "</script><script>alert(1)</script><!-- & </SCRIPT"

/* A minimal single-run report whose query SQL and error message are hostile
   and whose latency_ms carries a real pvh1 histogram of 1000 values. */
static char *hostile_report(void)
{
    pv_hist *h = NULL;
    assert_int_equal(pv_hist_create(&h), 0);
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(pv_hist_record(h, i * 1000), 0);
    pv_buf enc = PV_BUF_INIT;
    assert_int_equal(pv_hist_encode(h, &enc), 0);
    pv_hist_destroy(h);
    json_t *lat = json_pack("{s:f, s:f, s:s}", "p50", 0.5, "max", 1.0, "histogram", enc.data);
    pv_buf_fini(&enc);
    json_t *doc = json_pack(
        "{s:s, s:{s:s}, s:{s:i, s:o}, s:[{s:s, s:s, s:O}], s:[{s:s, s:s, s:i}]}", "schema",
        "pgvolley.report/1", "tool", "name", "pgvolley", "summary", "executions", 1000,
        "latency_ms", lat, "queries", "name", "q.sql", "sql", "SELECT '" HOSTILE "'", "latency_ms",
        lat, "errors", "sqlstate", "XX000", "message", HOSTILE, "count", 1);
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    return text;
}

/* The number of occurrences of needle in hay, case-insensitively. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strcasestr(hay, needle); p; p = strcasestr(p + 1, needle))
        n++;
    return n;
}

/* The JSON of the page's data element, parsed. */
static json_t *embedded(const char *page)
{
    const char *open = "<script type=\"application/json\" id=\"pv-data\">";
    const char *start = strstr(page, open);
    assert_non_null(start);
    start += strlen(open);
    const char *end = strstr(start, "</script>");
    assert_non_null(end);
    json_error_t jerr;
    json_t *doc = json_loadb(start, (size_t)(end - start), 0, &jerr);
    assert_non_null(doc);
    return doc;
}

static void test_hostile_text_stays_data(void **state)
{
    (void)state;
    char *text = hostile_report();
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    assert_int_equal(pv_report_html(text, "<b>title & co</b>", &page, &err), 0);
    /* the data, uPlot and the page's script: three elements, nothing more */
    assert_int_equal(count(page.data, "</script"), 3);
    assert_int_equal(count(page.data, "<script"), 3);
    assert_int_equal(count(page.data, "<!--"), 0);
    assert_int_equal(count(page.data, "alert(1)"), 2); /* the SQL and the message, escaped */
    assert_non_null(strstr(page.data, "<title>&lt;b&gt;title &amp; co&lt;/b&gt;</title>"));
    /* the escapes read back as the same strings */
    json_t *doc = embedded(page.data);
    const char *sql = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "queries"), 0), "sql"));
    assert_string_equal(sql, "SELECT '" HOSTILE "'");
    const char *msg = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "errors"), 0), "message"));
    assert_string_equal(msg, HOSTILE);
    json_decref(doc);
    pv_buf_fini(&page);
    free(text);
}

static void test_spectrum_replaces_histogram(void **state)
{
    (void)state;
    char *text = hostile_report();
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    assert_int_equal(pv_report_html(text, NULL, &page, &err), 0);
    assert_null(strstr(page.data, "pvh1."));
    json_t *doc = embedded(page.data);
    json_t *sp =
        json_object_get(json_object_get(json_object_get(doc, "summary"), "latency_ms"), "spectrum");
    json_t *pct = json_object_get(sp, "pct"), *ms = json_object_get(sp, "ms");
    size_t n = json_array_size(pct);
    assert_true(n > 40); /* 5 per halving of the tail, down to 1/1000 */
    assert_int_equal(json_array_size(ms), n);
    assert_true(json_real_value(json_array_get(pct, 0)) == 0.0);
    assert_true(json_real_value(json_array_get(pct, n - 1)) == 100.0);
    assert_true(json_real_value(json_array_get(pct, 5)) == 50.0);
    /* values 1..1000 us: p0 = 1 us, p50 about 0.5 ms, p100 = 1 ms, non-decreasing */
    assert_true(fabs(json_real_value(json_array_get(ms, 0)) - 0.001) < 1e-9);
    assert_true(fabs(json_real_value(json_array_get(ms, 5)) - 0.5) < 0.001);
    assert_true(fabs(json_real_value(json_array_get(ms, n - 1)) - 1.0) < 1e-9);
    for (size_t i = 1; i < n; i++)
        assert_true(json_real_value(json_array_get(ms, i)) >=
                    json_real_value(json_array_get(ms, i - 1)));
    json_decref(doc);
    pv_buf_fini(&page);
    free(text);
}

static void test_assets_inline(void **state)
{
    (void)state;
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    assert_int_equal(pv_report_html("{\"schema\": \"pgvolley.report/1\"}", NULL, &page, &err), 0);
    assert_non_null(strstr(page.data, "<!DOCTYPE html>"));
    assert_non_null(strstr(page.data, "Content-Security-Policy"));
    assert_non_null(strstr(page.data, "uPlot"));         /* the library */
    assert_non_null(strstr(page.data, "data-rendered")); /* report.js */
    assert_non_null(strstr(page.data, ".u-legend"));     /* uPlot's CSS */
    assert_null(strstr(page.data, "src=\"http"));
    assert_null(strstr(page.data, "href=\"http"));
    pv_buf_fini(&page);
}

static void test_refuses_other_documents(void **state)
{
    (void)state;
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    assert_int_equal(pv_report_html("{\"schema\": \"other/1\"}", NULL, &page, &err), VOLLEY_EINVAL);
    assert_non_null(strstr(err.msg, "other/1"));
    assert_int_equal(pv_report_html("not json", NULL, &page, &err), VOLLEY_EINVAL);
    assert_non_null(strstr(err.msg, "not JSON"));
    assert_int_equal(pv_report_html("[1]", NULL, &page, &err), VOLLEY_EINVAL);
    assert_int_equal(pv_report_html_compare("{\"schema\": \"pgvolley.report/1\"}", NULL, NULL, NULL,
                                            &page, &err),
                     VOLLEY_EINVAL);
    pv_buf_fini(&page);
}

static void test_compare_embeds_reports(void **state)
{
    (void)state;
    char *rep = hostile_report();
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    const char *cmp = "{\"schema\": \"pgvolley.compare/1\", \"rows\": [], \"regressions\": 0}";
    assert_int_equal(pv_report_html_compare(cmp, rep, "not json", "c", &page, &err), 0);
    json_t *doc = embedded(page.data);
    json_t *reports = json_object_get(doc, "reports");
    assert_non_null(json_object_get(reports, "base"));
    assert_null(json_object_get(reports, "new")); /* did not parse: left out */
    assert_non_null(json_object_get(
        json_object_get(json_object_get(json_object_get(reports, "base"), "summary"), "latency_ms"),
        "spectrum"));
    json_decref(doc);
    pv_buf_fini(&page);
    free(rep);
}

/* --render IN OUT [TITLE]: the page of IN into OUT. */
static int render(int argc, char **argv)
{
    pv_buf in = PV_BUF_INIT, page = PV_BUF_INIT;
    pv_err err = {{0}};
    int rc = pv_buf_read_file(&in, argv[2], &err);
    if (rc == 0)
        rc = pv_report_html(pv_buf_str(&in), argc > 4 ? argv[4] : NULL, &page, &err);
    FILE *f = rc == 0 ? fopen(argv[3], "w") : NULL;
    if (rc == 0 && (!f || fwrite(page.data, 1, page.len, f) != page.len)) {
        snprintf(err.msg, sizeof(err.msg), "%s: cannot write", argv[3]);
        rc = -1;
    }
    if (f && fclose(f) != 0) {
        snprintf(err.msg, sizeof(err.msg), "%s: cannot write", argv[3]);
        rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "test_report_html: %s\n", err.msg);
    pv_buf_fini(&in);
    pv_buf_fini(&page);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--render") == 0)
        return render(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_text_stays_data),
        cmocka_unit_test(test_spectrum_replaces_histogram),
        cmocka_unit_test(test_assets_inline),
        cmocka_unit_test(test_refuses_other_documents),
        cmocka_unit_test(test_compare_embeds_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
