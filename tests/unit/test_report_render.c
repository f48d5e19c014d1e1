/* test_report_render.c - pv_render: Markdown cells and code, repaired JSON strings, error order,
   speedup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/pv_render.h"

#define FFFD "\xEF\xBF\xBD"

/* ---- helpers -------------------------------------------------------------- */

/* pv_render_md_cell(s, max) must append exactly want. */
static void expect_cell(const char *s, size_t max, const char *want)
{
    pv_buf b = PV_BUF_INIT;
    pv_buf_puts(&b, "<");
    pv_render_md_cell(&b, s, max);
    pv_buf_puts(&b, ">");
    assert_int_equal(pv_buf_ok(&b), 0);
    size_t n = strlen(want);
    assert_int_equal(b.len, n + 2);
    assert_memory_equal(pv_buf_str(&b) + 1, want, n);
    pv_buf_fini(&b);
}

/* pv_render_json_strn(s, n) must be a JSON string of exactly want (wantn bytes). */
static void expect_json(const char *s, size_t n, const char *want, size_t wantn)
{
    json_t *j = pv_render_json_strn(s, n);
    assert_non_null(j);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), wantn);
    assert_memory_equal(json_string_value(j), want, wantn);
    /* whatever came in, it dumps (jansson only dumps valid UTF-8) */
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    assert_non_null(text);
    free(text);
    json_decref(j);
}

#define EXPECT_JSON(lit, want) expect_json((lit), sizeof(lit) - 1, (want), sizeof(want) - 1)

/* ---- Markdown cells ------------------------------------------------------- */

static void test_cell_null(void **state)
{
    (void)state;
    /* One spelling for SQL NULL, whatever the limit; not the text 'NULL'. */
    expect_cell(NULL, 0, "_NULL_");
    expect_cell(NULL, 3, "_NULL_");
    assert_string_equal(PV_RENDER_NULL, "_NULL_");
    expect_cell("NULL", 0, "NULL");
    expect_cell("", 0, "");
}

static void test_cell_escapes(void **state)
{
    (void)state;
    expect_cell("a|b", 0, "a\\|b");
    expect_cell("||", 0, "\\|\\|");
    expect_cell("line1\nline2", 0, "line1 line2");
    expect_cell("a\r\nb\tc", 0, "a  b c");
    /* the rest is kept as it is */
    expect_cell("*x* _y_ <b> \\ `z`", 0, "*x* _y_ <b> \\ `z`");
    expect_cell("h\xC3\xA9llo", 0, "h\xC3\xA9llo");
}

static void test_cell_limit(void **state)
{
    (void)state;
    expect_cell("abcdef", 0, "abcdef");
    expect_cell("abcdef", 6, "abcdef");
    expect_cell("abcdef", 3, "abc...");
    /* the limit counts bytes of the text, not of the escapes */
    expect_cell("||||", 2, "\\|\\|...");
    /* a UTF-8 sequence is never cut: "x" + two 2-byte letters, limit 2 */
    expect_cell("x\xD1\x8F\xD1\x8F", 2, "x...");
    expect_cell("x\xD1\x8F\xD1\x8F", 3, "x\xD1\x8F...");
    expect_cell("x\xD1\x8F\xD1\x8F", 5, "x\xD1\x8F\xD1\x8F");
    /* an invalid byte counts as one and is kept */
    expect_cell("\xFF\xFE"
                "ab",
                3,
                "\xFF\xFE"
                "a...");
}

/* ---- fenced code ---------------------------------------------------------- */

static void test_code_fence(void **state)
{
    (void)state;
    pv_buf b = PV_BUF_INIT;
    pv_render_md_code(&b, "sql", "SELECT 1");
    assert_string_equal(pv_buf_str(&b), "```sql\nSELECT 1\n```\n");
    pv_buf_reset(&b);
    /* a run of three backticks in the text needs a fence of four */
    pv_render_md_code(&b, "sql", "SELECT 1 /* ``` */");
    assert_string_equal(pv_buf_str(&b), "````sql\nSELECT 1 /* ``` */\n````\n");
    pv_buf_reset(&b);
    pv_render_md_code(&b, "", "a `b` ``c`` `````d");
    assert_string_equal(pv_buf_str(&b), "``````\na `b` ``c`` `````d\n``````\n");
    assert_int_equal(pv_buf_ok(&b), 0);
    pv_buf_fini(&b);
}

/* ---- JSON strings --------------------------------------------------------- */

static void test_json_valid_kept(void **state)
{
    (void)state;
    EXPECT_JSON("plain", "plain");
    EXPECT_JSON("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80",
                "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
    EXPECT_JSON("", "");
    json_t *j = pv_render_json_str(NULL);
    assert_string_equal(json_string_value(j), "");
    json_decref(j);
    j = pv_render_json_str("abc");
    assert_string_equal(json_string_value(j), "abc");
    json_decref(j);
}

static void test_json_invalid_repaired(void **state)
{
    (void)state;
    /* Latin-1 e-acute, a stray continuation byte, 0xFF */
    EXPECT_JSON("caf\xE9", "caf" FFFD);
    EXPECT_JSON("a\x80"
                "b\xFF"
                "c",
                "a" FFFD "b" FFFD "c");
    /* a sequence cut short at the end; an overlong '/'; a surrogate */
    EXPECT_JSON("x\xE2\x82", "x" FFFD FFFD);
    EXPECT_JSON("\xC0\xAF", FFFD FFFD);
    EXPECT_JSON("\xED\xA0\x80", FFFD FFFD FFFD);
    /* valid text around invalid bytes is kept */
    EXPECT_JSON("\xC3\xA9\xE9\xC3\xA9", "\xC3\xA9" FFFD "\xC3\xA9");
    /* a NUL byte inside the n bytes */
    EXPECT_JSON("a\0b", "a" FFFD "b");
    json_t *j = pv_render_json_str("bad \xE9 message");
    assert_string_equal(json_string_value(j), "bad " FFFD " message");
    json_decref(j);
}

/* ---- error order ---------------------------------------------------------- */

static void test_error_order(void **state)
{
    (void)state;
    struct pv_stat s;
    assert_int_equal(pv_stat_init(&s), 0);
    const struct pv_errstat **v = (const struct pv_errstat **)&v;
    assert_int_equal(pv_render_errors_sorted(&s, &v), 0);
    assert_null(v);

    /* 42601 x1, 57014 x3, 08006 x1, 40001 x3 (recorded in that order) */
    assert_int_equal(pv_stat_fail(&s, 1, "42601", "syntax"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pv_stat_fail(&s, 1, "57014", "timeout"), 0);
    assert_int_equal(pv_stat_fail(&s, 1, "08006", "lost"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pv_stat_fail(&s, 1, "40001", "serialization"), 0);

    assert_int_equal(pv_render_errors_sorted(&s, &v), 0);
    assert_non_null(v);
    /* count descending, then SQLSTATE */
    const char *want[] = {"40001", "57014", "08006", "42601"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(v[i]->sqlstate, want[i]);
    assert_int_equal(v[0]->count, 3);
    assert_string_equal(v[0]->message, "serialization");
    for (size_t i = 0; i + 1 < 4; i++)
        assert_true(pv_render_errstat_cmp(v[i], v[i + 1]) < 0);
    assert_int_equal(pv_render_errstat_cmp(v[0], v[0]), 0);
    /* s itself is left in recording order */
    assert_string_equal(s.errors[0].sqlstate, "42601");
    assert_string_equal(s.errors[3].sqlstate, "40001");
    free(v);
    pv_stat_fini(&s);
}

/* ---- speedup -------------------------------------------------------------- */

static void test_speedup(void **state)
{
    (void)state;
    /* 4.55 s of latencies in 1.25 s of wall time */
    assert_true(fabs(pv_render_speedup(4550000000ull, 1.25) - 3.64) < 1e-9);
    assert_true(pv_render_speedup(0, 1.0) == 0.0);
    /* no wall time: 0, never inf or nan */
    assert_true(pv_render_speedup(4550000000ull, 0.0) == 0.0);
    assert_true(pv_render_speedup(0, 0.0) == 0.0);
    assert_true(pv_render_speedup(1000, -1.0) == 0.0);
    assert_true(pv_render_speedup(1000, NAN) == 0.0);
    assert_true(pv_render_speedup(1000, INFINITY) == 0.0);
    assert_true(isfinite(pv_render_speedup(UINT64_MAX, 1e-300)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_null),       cmocka_unit_test(test_cell_escapes),
        cmocka_unit_test(test_cell_limit),      cmocka_unit_test(test_code_fence),
        cmocka_unit_test(test_json_valid_kept), cmocka_unit_test(test_json_invalid_repaired),
        cmocka_unit_test(test_error_order),     cmocka_unit_test(test_speedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
