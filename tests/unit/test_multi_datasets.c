/* test_multi_datasets.c - pv_datasets: the datasets file, its defaults, every rejected input. */
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
#include "multi/pv_datasets.h"

#ifdef PV_SOURCE_DIR
#define EXAMPLE PV_SOURCE_DIR "/examples/datasets.ini"
#else
#define EXAMPLE "examples/datasets.ini" /* built by hand in the source directory */
#endif

#define SECRET "hunter2"

/* ---- helpers -------------------------------------------------------------- */

static pv_datasets *parse_ok(const char *text)
{
    pv_datasets *d = NULL;
    pv_err err = {{0}};
    int rc = pv_datasets_parse("d.ini", text, &d, &err);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    assert_non_null(d);
    return d;
}

/* Parses text as "d.ini"; expects VOLLEY_EINPUT and exactly want_msg. */
static void expect_fail(const char *text, const char *want_msg)
{
    pv_datasets *d = (pv_datasets *)&d; /* must be reset to NULL */
    pv_err err = {{0}};
    int rc = pv_datasets_parse("d.ini", text, &d, &err);
    if (rc != VOLLEY_EINPUT)
        fail_msg("expected VOLLEY_EINPUT for:\n%s\ngot %d: %s", text, rc, err.msg);
    assert_null(d);
    assert_string_equal(err.msg, want_msg);
}

/* Parses a one-section file with extra key lines; expects want_msg. */
static void expect_key_fail(const char *lines, const char *want_msg)
{
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b, "[a]\ndsn = host=x\n%s", lines);
    assert_int_equal(pv_buf_ok(&b), 0);
    expect_fail(pv_buf_str(&b), want_msg);
    pv_buf_fini(&b);
}

static void assert_default_limits(const struct pv_dataset *ds)
{
    assert_int_equal(ds->max_rows, 1000);
    assert_int_equal(ds->statement_timeout_ms, 60000);
    assert_int_equal(ds->max_concurrency, 10);
    assert_int_equal(ds->pool_min, 2);
    assert_int_equal(ds->pool_max, 10);
    assert_int_equal(ds->idle_lifetime_s, 300);
    assert_int_equal(ds->connect_timeout_s, 30);
}

static void assert_defaults(const struct pv_dataset *ds)
{
    assert_string_equal(ds->description, "");
    assert_default_limits(ds);
}

/* Writes len bytes to a new temporary file; returns its path (free it, unlink it). */
static char *temp_file(const void *data, size_t len)
{
    char *path = strdup("/tmp/pv_datasets_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- good files ----------------------------------------------------------- */

static void test_all_keys(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("[sales]\n"
                              "dsn = host=db1 dbname=sales user=reader ; a comment\n"
                              "description = Orders and customers, 2019-2025\n"
                              "max_rows = 1000000\n"
                              "statement_timeout_ms = 86400000\n"
                              "max_concurrency = 100\n"
                              "pool_min = 1000\n"
                              "pool_max = 1000\n"
                              "idle_lifetime_s = 86400\n"
                              "connect_timeout_s = 3600\n"
                              "\n"
                              "[hr.v2-x_Y]\n"
                              "connect_timeout_s = 1\n"
                              "idle_lifetime_s = 1\n"
                              "pool_max = 1\n"
                              "pool_min = 0\n"
                              "max_concurrency = 1\n"
                              "statement_timeout_ms = 1\n"
                              "max_rows = 1\n"
                              "description =\n"
                              "dsn = postgresql://reader@localhost/hr?sslmode=disable\n");
    assert_int_equal(pv_datasets_count(d), 2);
    const struct pv_dataset *s = pv_datasets_get(d, 0);
    assert_string_equal(s->name, "sales");
    assert_string_equal(s->dsn, "host=db1 dbname=sales user=reader");
    assert_string_equal(s->description, "Orders and customers, 2019-2025");
    assert_int_equal(s->max_rows, 1000000);
    assert_int_equal(s->statement_timeout_ms, 86400000);
    assert_int_equal(s->max_concurrency, 100);
    assert_int_equal(s->pool_min, 1000);
    assert_int_equal(s->pool_max, 1000);
    assert_int_equal(s->idle_lifetime_s, 86400);
    assert_int_equal(s->connect_timeout_s, 3600);

    const struct pv_dataset *h = pv_datasets_get(d, 1);
    assert_string_equal(h->name, "hr.v2-x_Y");
    assert_string_equal(h->dsn, "postgresql://reader@localhost/hr?sslmode=disable");
    assert_string_equal(h->description, "");
    assert_int_equal(h->max_rows, 1);
    assert_int_equal(h->statement_timeout_ms, 1);
    assert_int_equal(h->max_concurrency, 1);
    assert_int_equal(h->pool_min, 0);
    assert_int_equal(h->pool_max, 1);
    assert_int_equal(h->idle_lifetime_s, 1);
    assert_int_equal(h->connect_timeout_s, 1);
    assert_null(pv_datasets_get(d, 2));
    pv_datasets_destroy(d);
}

static void test_defaults(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("[a]\ndsn = dbname=a\n[b]\ndsn=dbname=b");
    assert_int_equal(pv_datasets_count(d), 2);
    assert_defaults(pv_datasets_get(d, 0));
    assert_defaults(pv_datasets_get(d, 1));
    assert_string_equal(pv_datasets_get(d, 1)->dsn, "dbname=b");
    pv_datasets_destroy(d);
}

static void test_comments_and_layout(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("; a comment\n"
                              "# another comment\n"
                              "   \t\n"
                              "  [a]   ; after the name\n"
                              "  # indented comment\n"
                              "  dsn = host=x password=a;b#c\n" /* ';' and '#' inside a value */
                              "    description = one # two ; three\n"
                              "\tmax_rows:42\n" /* ':' as in Python's configparser */
                              "[b] # hash comment after the name\n"
                              "dsn=dbname=x\n"
                              "pool_min = 0 ; inline\n");
    const struct pv_dataset *a = pv_datasets_find(d, "a");
    assert_non_null(a);
    assert_string_equal(a->dsn, "host=x password=a;b#c");
    assert_string_equal(a->description, "one # two");
    assert_int_equal(a->max_rows, 42);
    assert_int_equal(pv_datasets_find(d, "b")->pool_min, 0);
    pv_datasets_destroy(d);

    /* A comment longer than libinih's line buffer is still a comment. */
    pv_buf b = PV_BUF_INIT;
    pv_buf_puts(&b, "[a]\n; ");
    pv_buf_fill(&b, 'x', 500);
    pv_buf_puts(&b, "\n#");
    pv_buf_fill(&b, 'y', 500);
    pv_buf_puts(&b, "\ndsn = dbname=x\n");
    d = parse_ok(pv_buf_str(&b));
    assert_string_equal(pv_datasets_get(d, 0)->dsn, "dbname=x");
    pv_datasets_destroy(d);
    pv_buf_fini(&b);
}

static void test_crlf(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("; comment\r\n"
                              "[a]\r\n"
                              "dsn = host=x dbname=y\r\n"
                              "description = text\r\n"
                              "max_rows = 5\r\n"
                              "\r\n"
                              "[b]\r\n"
                              "dsn = dbname=z ; c\r\n");
    assert_int_equal(pv_datasets_count(d), 2);
    const struct pv_dataset *a = pv_datasets_get(d, 0);
    assert_string_equal(a->dsn, "host=x dbname=y");
    assert_string_equal(a->description, "text");
    assert_int_equal(a->max_rows, 5);
    assert_string_equal(pv_datasets_get(d, 1)->dsn, "dbname=z");
    pv_datasets_destroy(d);

    /* Line numbers still count CRLF lines. */
    expect_fail("[a]\r\ndsn = dbname=x\r\n\r\nmax_rows = 0\r\n",
                "d.ini:4: max_rows must be from 1 to "
                "1000000, not 0");
    expect_fail("[a]\r\ndsn = dbname=x\r\n[a]\r\n",
                "d.ini:3: duplicate dataset 'a' (first defined on "
                "line 1)");
}

static void test_bom(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("\xEF\xBB\xBF[a]\ndsn = dbname=x\n");
    assert_string_equal(pv_datasets_get(d, 0)->name, "a");
    pv_datasets_destroy(d);
}

static void test_long_names_and_lines(void **state)
{
    (void)state;
    /* 63 characters: libinih itself would cut the name at 49. */
    const char *n63 = "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc";
    assert_int_equal(strlen(n63), 63);
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b, "[%s]\ndsn = dbname=x\n[%.50s]\ndsn = dbname=y\n", n63, n63);
    pv_datasets *d = parse_ok(pv_buf_str(&b));
    assert_string_equal(pv_datasets_get(d, 0)->name, n63);
    assert_int_equal(pv_datasets_index(d, n63), 0);
    assert_int_equal(strlen(pv_datasets_get(d, 1)->name), 50);
    pv_datasets_destroy(d);

    /* The longest line libinih can take (199 characters). */
    pv_buf_reset(&b);
    pv_buf_puts(&b, "[a]\ndsn = dbname=");
    pv_buf_fill(&b, 'x', 199 - 13);
    pv_buf_puts(&b, "\n");
    d = parse_ok(pv_buf_str(&b));
    assert_int_equal(strlen(pv_datasets_get(d, 0)->dsn), 199 - 6);
    pv_datasets_destroy(d);
    pv_buf_fini(&b);
}

static void test_example_file(void **state)
{
    (void)state;
    pv_datasets *d = NULL;
    pv_err err = {{0}};
    int rc = pv_datasets_load(EXAMPLE, &d, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pv_datasets_count(d), 2);
    const struct pv_dataset *l = pv_datasets_get(d, 0);
    assert_string_equal(l->name, "local");
    assert_string_equal(l->dsn, "host=/var/run/postgresql dbname=postgres");
    assert_string_equal(l->description, "The local server's postgres database");
    assert_default_limits(l);
    const struct pv_dataset *s = pv_datasets_find(d, "shop");
    assert_non_null(s);
    assert_string_equal(s->dsn, "postgresql://reader@localhost/shop");
    assert_int_equal(s->max_rows, 200);
    assert_int_equal(s->statement_timeout_ms, 5000);
    assert_int_equal(s->pool_min, 0);
    pv_datasets_destroy(d);
}

/* ---- lookups -------------------------------------------------------------- */

static void test_find_index(void **state)
{
    (void)state;
    pv_datasets *d = parse_ok("[one]\ndsn=dbname=1\n[two]\ndsn=dbname=2\n[three]\ndsn=dbname=3\n");
    assert_int_equal(pv_datasets_count(d), 3);
    assert_int_equal(pv_datasets_index(d, "one"), 0);
    assert_int_equal(pv_datasets_index(d, "two"), 1);
    assert_int_equal(pv_datasets_index(d, "three"), 2);
    assert_int_equal(pv_datasets_index(d, "four"), -1);
    assert_int_equal(pv_datasets_index(d, "tw"), -1);
    assert_int_equal(pv_datasets_index(d, "twoo"), -1);
    assert_int_equal(pv_datasets_index(d, "TWO"), -1); /* exact match */
    assert_int_equal(pv_datasets_index(d, ""), -1);
    assert_int_equal(pv_datasets_index(d, NULL), -1);
    assert_ptr_equal(pv_datasets_find(d, "two"), pv_datasets_get(d, 1));
    assert_string_equal(pv_datasets_find(d, "three")->dsn, "dbname=3");
    assert_null(pv_datasets_find(d, "four"));
    assert_null(pv_datasets_find(d, NULL));
    assert_null(pv_datasets_get(d, 3));
    pv_datasets_destroy(d);

    assert_int_equal(pv_datasets_count(NULL), 0);
    assert_null(pv_datasets_get(NULL, 0));
    assert_null(pv_datasets_find(NULL, "one"));
    assert_int_equal(pv_datasets_index(NULL, "one"), -1);
    pv_datasets_destroy(NULL);
}

static void test_from_dsn(void **state)
{
    (void)state;
    pv_datasets *d = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_datasets_from_dsn("host=x password=" SECRET, &d, &err), 0);
    assert_int_equal(pv_datasets_count(d), 1);
    const struct pv_dataset *ds = pv_datasets_get(d, 0);
    assert_string_equal(ds->name, "default");
    assert_string_equal(ds->dsn, "host=x password=" SECRET);
    assert_defaults(ds);
    assert_ptr_equal(pv_datasets_find(d, "default"), ds);
    assert_int_equal(pv_datasets_index(d, "default"), 0);
    pv_datasets_destroy(d);

    /* "" is libpq's "everything from the environment". */
    assert_int_equal(pv_datasets_from_dsn("", &d, &err), 0);
    assert_string_equal(pv_datasets_get(d, 0)->dsn, "");
    pv_datasets_destroy(d);

    d = (pv_datasets *)&d;
    assert_int_equal(pv_datasets_from_dsn(NULL, &d, &err), VOLLEY_EINVAL);
    assert_null(d);
}

/* ---- errors --------------------------------------------------------------- */

static void test_no_dataset(void **state)
{
    (void)state;
    expect_fail("", "d.ini: no dataset (a dataset starts with a [name] line)");
    expect_fail("\n\n", "d.ini: no dataset (a dataset starts with a [name] line)");
    expect_fail("; only\n# comments\n", "d.ini: no dataset (a dataset starts with a [name] line)");
    expect_fail("\xEF\xBB\xBF", "d.ini: no dataset (a dataset starts with a [name] line)");
}

static void test_missing_dsn(void **state)
{
    (void)state;
    expect_fail("[a]\n", "d.ini:1: dataset 'a' has no dsn");
    expect_fail("\n[a]\nmax_rows = 5\n", "d.ini:2: dataset 'a' has no dsn");
    expect_fail("[a]\ndsn = dbname=x\n\n[b]\ndescription = no dsn\n\n[c]\ndsn = dbname=y\n",
                "d.ini:4: dataset 'b' has no dsn");
    expect_fail("[a]\ndsn = dbname=x\n[b]\n", "d.ini:3: dataset 'b' has no dsn");
    expect_fail("[a]\ndsn =\n", "d.ini:2: dsn is empty");
    expect_fail("[a]\ndsn = ; only a comment\n", "d.ini:2: dsn is empty");
}

static void test_duplicate_section(void **state)
{
    (void)state;
    expect_fail("[a]\ndsn = dbname=x\n[b]\ndsn = dbname=y\n\n[a]\ndsn = dbname=z\n",
                "d.ini:6: duplicate dataset 'a' (first defined on line 1)");
    /* No key in between: libinih alone would not notice. */
    expect_fail("[a]\ndsn = dbname=x\n[a]\n",
                "d.ini:3: duplicate dataset 'a' (first defined on line 1)");
    /* Names longer than 49 characters, equal in libinih's view. */
    expect_fail("[abcdefghij0123456789abcdefghij0123456789abcdefghijX]\ndsn = dbname=x\n"
                "[abcdefghij0123456789abcdefghij0123456789abcdefghijX]\ndsn = dbname=x\n",
                "d.ini:3: duplicate dataset "
                "'abcdefghij0123456789abcdefghij0123456789abcdefghijX' (first defined on line 1)");
}

static void test_key_outside_section(void **state)
{
    (void)state;
    expect_fail("dsn = dbname=x\n[a]\ndsn = dbname=y\n",
                "d.ini:1: key 'dsn' is outside any section (start a dataset with [name])");
    expect_fail("; c\n\nmax_rows = 5\n",
                "d.ini:3: key 'max_rows' is outside any section (start a dataset with [name])");
}

static void test_section_names(void **state)
{
    (void)state;
    expect_fail("[]\ndsn = dbname=x\n", "d.ini:1: empty section name");
    expect_fail("[a]\ndsn = dbname=x\n[ ]\n",
                "d.ini:3: invalid section name (use only A-Z a-z 0-9 _ . -)");
    expect_fail("[a b]\ndsn = dbname=x\n",
                "d.ini:1: invalid section name (use only A-Z a-z 0-9 _ . -)");
    expect_fail("[sal\xC3\xA9s]\ndsn = dbname=x\n",
                "d.ini:1: invalid section name (use only A-Z a-z 0-9 _ . -)");
    expect_fail("[a/b]\n", "d.ini:1: invalid section name (use only A-Z a-z 0-9 _ . -)");
    expect_fail(
        "[abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcd]\ndsn = dbname=x\n",
        "d.ini:1: section name is longer than 63 characters");
    expect_fail("[a\ndsn = dbname=x\n", "d.ini:1: missing ']' after the section name");
    expect_fail("[a]x\ndsn = dbname=x\n", "d.ini:1: unexpected text after ']'");
    expect_fail("[a] [b]\ndsn = dbname=x\n", "d.ini:1: unexpected text after ']'");
}

static void test_unknown_and_duplicate_keys(void **state)
{
    (void)state;
    expect_key_fail(
        "max_row = 5\n",
        "d.ini:3: unknown key 'max_row' in dataset 'a' (known keys: dsn, description, "
        "max_rows, statement_timeout_ms, max_concurrency, pool_min, pool_max, "
        "idle_lifetime_s, connect_timeout_s, max_bytes, allow_schemas, allow_tables, allow_tools)");
    expect_key_fail("DSN = y\n", "d.ini:3: unknown key 'DSN' in dataset 'a' (known keys: dsn, "
                                 "description, max_rows, statement_timeout_ms, max_concurrency, "
                                 "pool_min, pool_max, idle_lifetime_s, connect_timeout_s, "
                                 "max_bytes, allow_schemas, allow_tables, allow_tools)");
    expect_key_fail("= y\n", "d.ini:3: missing key before '='");
    expect_key_fail("\n\ndsn = dbname=y\n", "d.ini:5: duplicate key 'dsn' (first on line 2)");
    expect_key_fail("max_rows = 1\nmax_rows = 1\n",
                    "d.ini:4: duplicate key 'max_rows' (first on line 3)");
    expect_key_fail("description = a\n description = b\n",
                    "d.ini:4: duplicate key 'description' (first on line 3)");
    /* The same key in two sections is fine. */
    pv_datasets *d = parse_ok("[a]\ndsn=dbname=x\nmax_rows=3\n[b]\ndsn=dbname=y\nmax_rows=4\n");
    assert_int_equal(pv_datasets_get(d, 1)->max_rows, 4);
    pv_datasets_destroy(d);
}

/* A dsn libpq cannot parse is an error at its line, without the dsn. */
static void test_dsn_that_does_not_parse(void **state)
{
    (void)state;
    expect_fail("[a]\ndsn = dbname=x\n\n[sales]\ndescription = s\n"
                "dsn = host=h password=" SECRET " bogus=1\n",
                "d.ini:6: dataset 'sales': the dsn does not parse: invalid connection string: "
                "invalid connection option \"bogus\"");
    expect_fail("[a]\ndsn = x\n", "d.ini:2: dataset 'a': the dsn does not parse: invalid "
                                  "connection string: missing \"=\" after \"...\" in connection "
                                  "info string");
    /* found by fuzz_datasets: a URI glued to a key, a value that starts with a quote */
    expect_fail("[a]\ndsn = host=h postgresql://u:" SECRET "@h/db[x]port=1 dbname=y\n",
                "d.ini:2: dataset 'a': the dsn does not parse: invalid connection string: "
                "invalid connection option \"...\"");
    expect_fail("[a]\ndsn = \"postgresql://u:" SECRET "@h\n",
                "d.ini:2: dataset 'a': the dsn does not parse: invalid connection string: "
                "missing \"=\" after \"...\" in connection info string");
    expect_fail("[a]\ndsn = postgresql://u:" SECRET "@h/db?bogus=1\n",
                "d.ini:2: dataset 'a': the dsn does not parse: invalid connection string: "
                "invalid URI query parameter: \"...\"");
}

struct range {
    const char *key;
    int min;
    int max;
};

static const struct range ranges[] = {
    {"max_rows", 1, 1000000},       {"statement_timeout_ms", 1, 86400000},
    {"max_concurrency", 1, 100},    {"pool_min", 0, 1000},
    {"pool_max", 1, 1000},          {"idle_lifetime_s", 1, 86400},
    {"connect_timeout_s", 1, 3600},
};

static void test_number_ranges(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const struct range *r = &ranges[i];
        pv_buf lines = PV_BUF_INIT;
        pv_buf want = PV_BUF_INIT;
        /* pool_min's range reaches past the default pool_max and pool_max's below the default
         * pool_min: move the other one out of the way. */
        const char *extra = strcmp(r->key, "pool_min") == 0   ? "pool_max = 1000\n"
                            : strcmp(r->key, "pool_max") == 0 ? "pool_min = 0\n"
                                                              : "";

        int bad[] = {r->min - 1, r->max + 1};
        for (size_t j = 0; j < 2; j++) {
            pv_buf_reset(&lines);
            pv_buf_reset(&want);
            pv_buf_printf(&lines, "%s%s = %d\n", extra, r->key, bad[j]);
            pv_buf_printf(&want, "d.ini:%d: %s must be from %d to %d, not %d", *extra ? 4 : 3,
                          r->key, r->min, r->max, bad[j]);
            expect_key_fail(pv_buf_str(&lines), pv_buf_str(&want));
        }
        const char *not_numbers[] = {"abc", "1.5", "+5", "0x10", "1e3", "5 5", "", "-", "5 # c"};
        for (size_t j = 0; j < sizeof(not_numbers) / sizeof(not_numbers[0]); j++) {
            pv_buf_reset(&lines);
            pv_buf_reset(&want);
            pv_buf_printf(&lines, "%s = %s\n", r->key, not_numbers[j]);
            pv_buf_printf(&want, "d.ini:3: %s must be a decimal integer from %d to %d%s", r->key,
                          r->min, r->max,
                          strchr(not_numbers[j], '#') ? " (inline comments start with ';')" : "");
            expect_key_fail(pv_buf_str(&lines), pv_buf_str(&want));
        }
        /* Far too large: no overflow, shown cut short. */
        pv_buf_reset(&lines);
        pv_buf_reset(&want);
        pv_buf_printf(&lines, "%s = 123456789012345678901234567890\n", r->key);
        pv_buf_printf(&want, "d.ini:3: %s must be from %d to %d, not 123456789012345678901234...",
                      r->key, r->min, r->max);
        expect_key_fail(pv_buf_str(&lines), pv_buf_str(&want));

        /* Both ends and leading zeros are accepted. */
        int good[] = {r->min, r->max};
        for (size_t j = 0; j < 2; j++) {
            pv_buf_reset(&lines);
            pv_buf_printf(&lines, "[a]\ndsn = dbname=x\n%s%s = 000%d\n", extra, r->key, good[j]);
            pv_datasets *d = parse_ok(pv_buf_str(&lines));
            pv_datasets_destroy(d);
        }
        pv_buf_fini(&lines);
        pv_buf_fini(&want);
    }
}

static void test_pool_order(void **state)
{
    (void)state;
    expect_key_fail("pool_max = 3\npool_min = 4\n",
                    "d.ini:4: pool_min (4) is greater than pool_max (3)");
    expect_key_fail("pool_min = 4\npool_max = 3\n",
                    "d.ini:4: pool_min (4) is greater than pool_max (3)");
    /* Only pool_min given: the default pool_max is 10. */
    expect_key_fail("pool_min = 11\n", "d.ini:3: pool_min (11) is greater than pool_max (10)");
    /* Only pool_max given: the default pool_min is 2. */
    expect_key_fail("pool_max = 1\n", "d.ini:3: pool_min (2) is greater than pool_max (1)");
    /* Found when the section ends, reported on the key's line. */
    expect_fail("[a]\ndsn = dbname=x\npool_max = 1\n[b]\ndsn = dbname=y\n",
                "d.ini:3: pool_min (2) is greater than pool_max (1)");
    /* A bigger pool_min is fine when pool_max follows. */
    pv_datasets *d = parse_ok("[a]\ndsn = dbname=x\npool_min = 20\npool_max = 20\n");
    assert_int_equal(pv_datasets_get(d, 0)->pool_min, 20);
    pv_datasets_destroy(d);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_fail("[a]\ndsn = dbname=x\njust words\n",
                "d.ini:3: expected 'key = value', '[name]' or a comment");
    expect_fail("[a]\nmax_rows ; = 5\ndsn = dbname=x\n",
                "d.ini:2: expected 'key = value', '[name]' or a comment");
    /* The first error in reading order wins, whoever finds it. */
    expect_fail("[a]\ndsn = dbname=x\noops\nmax_rows = 0\n",
                "d.ini:3: expected 'key = value', '[name]' or a comment");
    expect_fail("[a]\ndsn = dbname=x\nmax_rows = 0\noops\n",
                "d.ini:3: max_rows must be from 1 to 1000000, not 0");
    expect_fail("[a]\noops\n", "d.ini:2: expected 'key = value', '[name]' or a comment");
    expect_fail("[a]\noops\n[b]\n", "d.ini:2: expected 'key = value', '[name]' or a comment");
    expect_fail("oops\n", "d.ini:1: expected 'key = value', '[name]' or a comment");

    /* Longer than libinih's line buffer. */
    pv_buf b = PV_BUF_INIT;
    pv_buf_puts(&b, "[a]\ndsn = ");
    pv_buf_fill(&b, 'x', 200 - 6);
    pv_buf_puts(&b, "\n");
    expect_fail(pv_buf_str(&b), "d.ini:2: the line is longer than 199 characters");
    pv_buf_fini(&b);
}

/* Every error about a line holding a DSN with a password leaves the DSN out. */
static void test_dsn_not_echoed(void **state)
{
    (void)state;
    pv_buf long_line = PV_BUF_INIT;
    pv_buf_puts(&long_line, "[a]\ndsn = host=x password=" SECRET " ");
    pv_buf_fill(&long_line, 'x', 300);
    pv_buf_puts(&long_line, "\n");

    const char *texts[] = {
        "dsn = host=x password=" SECRET "\n",      /* outside a section */
        "host=x password=" SECRET "\n",            /* key 'host' outside */
        "[a]\nhost=x password=" SECRET "\n",       /* unknown key 'host' */
        "[a]\ndsn host=x password=" SECRET "\n",   /* unknown key, not plain */
        "[a]\npassword=" SECRET " dsn=dbname=x\n", /* unknown key 'password' */
        "[a]\ndsn = host=x password=" SECRET "\ndsn = host=y password=" SECRET "\n",
        "[a]\ndsn = password=" SECRET "\nmax_rows = password=" SECRET "\n",
        "[a]\ndsn = password=" SECRET "\nmax_rows = 0\n",
        "[a]\ndsn = password=" SECRET "\nmax_rows = 2" SECRET "\n",
        "[a]\ndsn = password=" SECRET "\npool_min = 50\n",
        "[a]\npostgresql://u:" SECRET "@h/db\n", /* "postgresql" key */
        "[a]\n" SECRET "\n",                     /* syntax error */
        "[a]\ndsn password " SECRET "\n",        /* syntax error */
        "[host=x password=" SECRET "]\n",        /* bad section name */
        "[password=" SECRET "\n",                /* missing ']' */
        "[a] password=" SECRET "\n",             /* text after ']' */
        "[a]\ndsn = password=" SECRET "\n[a]\ndsn = password=" SECRET "\n",
        "[a]\ndsn = password=" SECRET "\n[b]\n", /* b has no dsn */
        pv_buf_str(&long_line),
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        pv_datasets *d = NULL;
        pv_err err = {{0}};
        int rc = pv_datasets_parse("d.ini", texts[i], &d, &err);
        if (rc != VOLLEY_EINPUT)
            fail_msg("case %zu: expected an error, got %d", i, rc);
        assert_null(d);
        assert_true(strncmp(err.msg, "d.ini:", 6) == 0);
        if (strstr(err.msg, SECRET))
            fail_msg("case %zu: the error shows the password: %s", i, err.msg);
    }
    pv_buf_fini(&long_line);
}

/* ---- files ---------------------------------------------------------------- */

static void test_load(void **state)
{
    (void)state;
    pv_datasets *d = (pv_datasets *)&d;
    pv_err err = {{0}};
    assert_int_equal(pv_datasets_load("/nonexistent/datasets.ini", &d, &err), VOLLEY_EIO);
    assert_null(d);
    assert_string_equal(err.msg,
                        "/nonexistent/datasets.ini: cannot open: No such file or directory");

    assert_int_equal(pv_datasets_load("/tmp", &d, &err), VOLLEY_EIO);
    assert_null(d);
    assert_string_equal(err.msg, "/tmp: cannot read: Is a directory");

    const char good[] = "[a]\r\ndsn = dbname=x\r\n";
    char *path = temp_file(good, sizeof(good) - 1);
    assert_int_equal(pv_datasets_load(path, &d, &err), 0);
    assert_string_equal(pv_datasets_get(d, 0)->dsn, "dbname=x");
    pv_datasets_destroy(d);
    unlink(path);
    free(path);

    /* An error names the file. */
    const char bad[] = "[a]\ndsn = dbname=x\nmax_rows = -1\n";
    path = temp_file(bad, sizeof(bad) - 1);
    assert_int_equal(pv_datasets_load(path, &d, &err), VOLLEY_EINPUT);
    assert_null(d);
    char want[256];
    snprintf(want, sizeof(want), "%s:3: max_rows must be from 1 to 1000000, not -1", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    free(path);

    /* A NUL byte is reported on its line, not taken as the end of the file. */
    const char nul[] = "[a]\ndsn = dbname=x\n\0oops\n";
    path = temp_file(nul, sizeof(nul) - 1);
    assert_int_equal(pv_datasets_load(path, &d, &err), VOLLEY_EINPUT);
    snprintf(want, sizeof(want), "%s:3: the line contains a NUL byte", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    free(path);

    /* An empty file. */
    path = temp_file("", 0);
    assert_int_equal(pv_datasets_load(path, &d, &err), VOLLEY_EINPUT);
    snprintf(want, sizeof(want), "%s: no dataset (a dataset starts with a [name] line)", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    free(path);
}

/* The policy keys: comma-separated lists, blanks around items dropped; max_bytes. */
static void test_policy_keys(void **state)
{
    (void)state;
    pv_datasets *d = NULL;
    pv_err err = {{0}};
    int rc = pv_datasets_parse("p.ini",
                               "[a]\ndsn = dbname=a\nmax_bytes = 2048\n"
                               "allow_schemas = sales , public\n"
                               "allow_tables = sales.orders,customers\n"
                               "allow_tools = query_dataset\n"
                               "[b]\ndsn = dbname=b\n",
                               &d, &err);
    assert_int_equal(rc, 0);
    const struct pv_dataset *a = pv_datasets_get(d, 0);
    assert_int_equal(a->max_bytes, 2048);
    assert_string_equal(a->allow_schemas[0], "sales");
    assert_string_equal(a->allow_schemas[1], "public");
    assert_null(a->allow_schemas[2]);
    assert_string_equal(a->allow_tables[0], "sales.orders");
    assert_string_equal(a->allow_tables[1], "customers");
    assert_null(a->allow_tables[2]);
    assert_string_equal(a->allow_tools[0], "query_dataset");
    assert_null(a->allow_tools[1]);
    const struct pv_dataset *b = pv_datasets_get(d, 1);
    assert_int_equal(b->max_bytes, 1024 * 1024);
    assert_null(b->allow_schemas);
    assert_null(b->allow_tables);
    assert_null(b->allow_tools);
    pv_datasets_destroy(d);
    expect_fail("[a]\ndsn = dbname=a\nallow_tables = x,,y\n",
                "d.ini:3: allow_tables: an empty name in the list (names are separated by commas)");
    expect_fail("[a]\ndsn = dbname=a\nmax_bytes = 10\n",
                "d.ini:3: max_bytes must be from 1024 to 67108864, not 10");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_comments_and_layout),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_long_names_and_lines),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_find_index),
        cmocka_unit_test(test_from_dsn),
        cmocka_unit_test(test_no_dataset),
        cmocka_unit_test(test_missing_dsn),
        cmocka_unit_test(test_duplicate_section),
        cmocka_unit_test(test_key_outside_section),
        cmocka_unit_test(test_section_names),
        cmocka_unit_test(test_unknown_and_duplicate_keys),
        cmocka_unit_test(test_number_ranges),
        cmocka_unit_test(test_pool_order),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_dsn_not_echoed),
        cmocka_unit_test(test_dsn_that_does_not_parse),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_policy_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
