/*
 * test_volley_api.c - the public C API (include/volley.h) against a
 * throwaway server: options and their size field (older and newer callers),
 * element strides, column names and types, the callback, and every error
 * code a public function documents. Linked against libvolley like a user
 * (volley_static); the server comes from pv_pgtmp, in a private TMPDIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp.h"
#include "volley.h"

#define OFFSETOFEND(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

static char g_tmp[64];
static pv_pgtmp *g_server;
static char g_datasets[128]; /* a datasets file with two datasets on the server */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* One server for every test; libpq's environment points at it. */
static int group_setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pvtest-XXXXXX");
    if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) != 0 || setenv("TMPDIR", g_tmp, 1) != 0)
        return -1;
    pv_err err = {""};
    /* the initdb cache ctest names, if any (CMakeLists.txt) */
    struct pv_pgtmp_opts opts = {.initdb_cache = getenv("PGVOLLEY_INITDB_CACHE")};
    if (pv_pgtmp_start(&opts, &g_server, &err) != 0) {
        fprintf(stderr, "pv_pgtmp_start: %s\n", err.msg);
        return -1;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", pv_pgtmp_port(g_server));
    setenv("PGHOST", pv_pgtmp_socket_dir(g_server), 1);
    setenv("PGPORT", port, 1);
    setenv("PGUSER", "postgres", 1);
    setenv("PGDATABASE", "postgres", 1);
    char text[1024];
    snprintf(text, sizeof(text), "[small]\ndsn = %s\nmax_rows = 2\n\n[other]\ndsn = %s\n",
             pv_pgtmp_conninfo(g_server), pv_pgtmp_conninfo(g_server));
    snprintf(g_datasets, sizeof(g_datasets), "%s/datasets.ini", g_tmp);
    write_text(g_datasets, text);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pv_pgtmp_stop(g_server);
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* A client on the environment's server, superusers allowed (the server's
   only role is one). */
static volley_client *open_env(void)
{
    struct volley_client_options co;
    volley_client_options_init(&co);
    co.allow_superuser = 1;
    volley_client *c = NULL;
    char err[256] = "";
    int rc = volley_client_open(&co, &c, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "volley_client_open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

static int run1(volley_client *c, const char *sql, struct volley_result *r)
{
    struct volley_query q = {.sql = sql};
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    char err[256] = "";
    int rc = volley_batch_run(c, &q, 1, &bo, r, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "volley_batch_run: %s\n", err);
    return rc;
}

/* ---- codes -------------------------------------------------------------------- */

static void test_codes_and_version(void **state)
{
    (void)state;
    const int codes[] = {VOLLEY_OK, VOLLEY_ENOMEM, VOLLEY_EINVAL, VOLLEY_EINPUT, VOLLEY_EIO};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_non_null(volley_strerror(codes[i]));
        assert_string_not_equal(volley_strerror(codes[i]), "unknown error");
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(volley_strerror(codes[i]), volley_strerror(codes[k]));
    }
    assert_string_equal(volley_strerror(-7), "unknown error");
    assert_string_equal(volley_strerror(1), "unknown error");
    assert_string_equal(volley_version(), PV_VERSION);
}

/* ---- client options ----------------------------------------------------------- */

static void expect_open_fails(const struct volley_client_options *co, int want, const char *in_msg)
{
    volley_client *c = (volley_client *)&c; /* not NULL: must be reset */
    char err[256] = "";
    assert_int_equal(volley_client_open(co, &c, err, sizeof(err)), want);
    assert_null(c);
    if (!strstr(err, in_msg))
        fail_msg("error '%s' does not contain '%s'", err, in_msg);
}

static void test_client_open_errors(void **state)
{
    (void)state;
    struct volley_client_options co;
    volley_client_options_init(&co);
    char err[256] = "";
    assert_int_equal(volley_client_open(&co, NULL, err, sizeof(err)), VOLLEY_EINVAL);

    co.size = 0; /* not initialised */
    expect_open_fails(&co, VOLLEY_EINVAL, "volley_client_options.size is 0");
    co.size = 4; /* less than the size field */
    expect_open_fails(&co, VOLLEY_EINVAL, "size is 4");
    co.size = 1u << 20;
    expect_open_fails(&co, VOLLEY_EINVAL, "size is 1048576");

    volley_client_options_init(&co);
    co.datasets_file = g_datasets;
    co.dsn = "dbname=postgres";
    expect_open_fails(&co, VOLLEY_EINVAL, "not both");

    volley_client_options_init(&co);
    char path[128];
    snprintf(path, sizeof(path), "%s/missing.ini", g_tmp);
    co.datasets_file = path;
    expect_open_fails(&co, VOLLEY_EIO, "missing.ini: cannot open");

    snprintf(path, sizeof(path), "%s/bad.ini", g_tmp);
    write_text(path, "[a]\ndsn = dbname=x\nmax_rowz = 3\n");
    co.datasets_file = path;
    expect_open_fails(&co, VOLLEY_EINPUT, "bad.ini:3:");
}

/* A caller built against a newer volley.h: its struct is larger. */
struct newer_client_options {
    struct volley_client_options v1;
    int future_flag;
};

static void test_client_options_newer_caller(void **state)
{
    (void)state;
    struct newer_client_options n;
    memset(&n, 0, sizeof(n));
    n.v1.size = sizeof(n);
    n.v1.allow_superuser = 1;
    volley_client *c = NULL;
    char err[256] = "";
    /* the field this library does not know is zero (its default): accepted */
    assert_int_equal(volley_client_open(&n.v1, &c, err, sizeof(err)), 0);
    struct volley_result r;
    assert_int_equal(run1(c, "SELECT 1", &r), 0);
    assert_true(r.ok);
    volley_result_fini(&r);
    volley_client_close(c);
    /* set: refused rather than ignored */
    n.future_flag = 1;
    expect_open_fails(&n.v1, VOLLEY_EINVAL, "does not know");
}

static void test_client_options_older_caller(void **state)
{
    (void)state;
    struct volley_result r;
    struct volley_client_options co;
    volley_client_options_init(&co);
    co.allow_superuser = 1;
    co.dsn = "host=/nonexistent port=1";
    /* a size that ends before dsn: dsn takes its default (libpq's environment) */
    co.size = OFFSETOFEND(struct volley_client_options, allow_superuser);
    volley_client *c = NULL;
    char err[256] = "";
    assert_int_equal(volley_client_open(&co, &c, err, sizeof(err)), 0);
    assert_int_equal(run1(c, "SELECT 1", &r), 0);
    assert_true(r.ok);
    volley_result_fini(&r);
    volley_client_close(c);

    /* only the size field: allow_superuser takes its default, superusers refused */
    co.size = sizeof(size_t);
    assert_int_equal(volley_client_open(&co, &c, err, sizeof(err)), 0);
    assert_int_equal(run1(c, "SELECT 1", &r), 0);
    assert_false(r.ok);
    assert_string_equal(r.sqlstate, "42501");
    assert_non_null(r.error);
    volley_result_fini(&r);
    volley_client_close(c);

    /* NULL options: every default */
    assert_int_equal(volley_client_open(NULL, &c, err, sizeof(err)), 0);
    assert_int_equal(run1(c, "SELECT 1", &r), 0);
    assert_string_equal(r.sqlstate, "42501");
    volley_result_fini(&r);
    volley_client_close(c);
}

/* ---- results ------------------------------------------------------------------- */

static void test_column_names_and_types(void **state)
{
    (void)state;
    volley_client *c = open_env();
    struct volley_result r;
    assert_int_equal(run1(c,
                          "SELECT i AS n, 'x' || i AS t, NULL::numeric AS num, "
                          "'2024-01-02 03:04:05+00'::timestamptz AS ts, ARRAY[i] AS arr, "
                          "i::int8 AS big FROM generate_series(1, 2) AS i",
                          &r),
                     0);
    assert_int_equal(r.size, sizeof(struct volley_result));
    assert_true(r.ok);
    assert_null(r.error);
    assert_int_equal(r.ncols, 6);
    const char *names[] = {"n", "t", "num", "ts", "arr", "big"};
    const char *types[] = {"int4", "text", "numeric", "timestamptz", "_int4", "int8"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(r.columns[i], names[i]);
        assert_string_equal(r.types[i], types[i]);
    }
    assert_int_equal(r.nrows, 2);
    assert_false(r.truncated);
    assert_string_equal(r.cells[6 + 0], "2");
    assert_string_equal(r.cells[6 + 1], "x2");
    assert_null(r.cells[6 + 2]);
    assert_string_equal(r.cells[6 + 4], "{2}");
    assert_true(r.ms >= 0.0);
    volley_result_fini(&r);
    assert_int_equal(r.size, 0);
    assert_null(r.columns);
    assert_null(r.types);
    volley_result_fini(&r); /* a zeroed result: no-op */
    volley_result_fini(NULL);

    /* a failed query has no columns */
    assert_int_equal(run1(c, "SELECT * FROM no_such_table", &r), 0);
    assert_false(r.ok);
    assert_string_equal(r.sqlstate, "42P01");
    assert_int_equal(r.ncols, 0);
    assert_null(r.types);
    volley_result_fini(&r);
    volley_client_close(c);
}

struct seen {
    int count[3];
    const struct volley_result *at[3];
};

static void record(void *arg, size_t index, const struct volley_result *r)
{
    struct seen *s = arg;
    assert_true(index < 3);
    s->count[index]++;
    s->at[index] = r;
}

static void test_datasets_callback_truncation(void **state)
{
    (void)state;
    struct volley_client_options co;
    volley_client_options_init(&co);
    co.datasets_file = g_datasets;
    co.allow_superuser = 1;
    volley_client *c = NULL;
    char err[256] = "";
    assert_int_equal(volley_client_open(&co, &c, err, sizeof(err)), 0);
    const char *const p[] = {"3", NULL};
    struct volley_query q[] = {
        {.dataset = "small", .sql = "SELECT generate_series(1, 5) AS g"},
        {.dataset = "other",
         .sql = "SELECT $1::int + 1 AS x, $2::text IS NULL AS y",
         .nparams = 2,
         .params = p},
        {.dataset = "other", .sql = "UPDATE pg_class SET relname = relname"},
    };
    struct volley_result r[3];
    struct seen s;
    memset(&s, 0, sizeof(s));
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    bo.max_concurrency = 2;
    bo.on_result = record;
    bo.arg = &s;
    assert_int_equal(volley_batch_run(c, q, 3, &bo, r, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.count[i], 1);
        assert_ptr_equal(s.at[i], &r[i]);
    }
    assert_true(r[0].ok);
    assert_true(r[0].truncated);
    assert_int_equal(r[0].nrows, 2);
    assert_true(r[1].ok);
    assert_string_equal(r[1].cells[0], "4");
    assert_string_equal(r[1].cells[1], "t");
    assert_string_equal(r[1].types[1], "bool");
    assert_false(r[2].ok);
    assert_string_equal(r[2].sqlstate, "25006");
    volley_results_free(r, 3);

    /* several datasets and none named; an unknown one */
    struct volley_query bad = {.sql = "SELECT 1"};
    memset(r, 0x5a, sizeof(r));
    assert_int_equal(volley_batch_run(c, &bad, 1, &bo, r, err, sizeof(err)), VOLLEY_EINVAL);
    assert_string_equal(err, "query 1: no dataset given and there are several");
    bad.dataset = "nope";
    assert_int_equal(volley_batch_run(c, &bad, 1, &bo, r, err, sizeof(err)), VOLLEY_EINVAL);
    assert_string_equal(err, "query 1: unknown dataset");
    const unsigned char *b = (const unsigned char *)r;
    for (size_t i = 0; i < sizeof(r); i++)
        assert_int_equal(b[i], 0x5a); /* untouched on failure */
    volley_client_close(c);
}

/* ---- batch options ---------------------------------------------------------------- */

static void expect_run_fails(volley_client *c, const struct volley_query *q, size_t n,
                             const struct volley_batch_options *bo, const char *in_msg)
{
    struct volley_result r[2];
    memset(r, 0x5a, sizeof(r));
    char err[256] = "";
    assert_int_equal(volley_batch_run(c, q, n, bo, r, err, sizeof(err)), VOLLEY_EINVAL);
    if (!strstr(err, in_msg))
        fail_msg("error '%s' does not contain '%s'", err, in_msg);
    const unsigned char *b = (const unsigned char *)r;
    for (size_t i = 0; i < sizeof(r); i++)
        assert_int_equal(b[i], 0x5a);
}

static void test_batch_errors(void **state)
{
    (void)state;
    volley_client *c = open_env();
    struct volley_query q[2] = {{.sql = "SELECT 1"}, {.sql = "SELECT 2"}};
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    struct volley_result r[2];
    expect_run_fails(NULL, q, 1, &bo, "no client");
    expect_run_fails(c, NULL, 1, &bo, "no queries");
    assert_int_equal(volley_batch_run(c, q, 1, &bo, NULL, NULL, 0), VOLLEY_EINVAL);
    expect_run_fails(c, q, 0, &bo, "no queries");
    expect_run_fails(c, q, 1, NULL, "no options");

    bo.size = 0;
    expect_run_fails(c, q, 1, &bo, "volley_batch_options.size is 0");
    bo.size = OFFSETOFEND(struct volley_batch_options, query_size); /* misses result_size */
    expect_run_fails(c, q, 1, &bo, "too small");
    volley_batch_options_init(&bo);
    bo.query_size = 0;
    expect_run_fails(c, q, 1, &bo, "query_size is 0");
    volley_batch_options_init(&bo);
    bo.result_size = sizeof(struct volley_result) - 8;
    expect_run_fails(c, q, 1, &bo, "result_size is");
    volley_batch_options_init(&bo);
    bo.max_concurrency = -1;
    expect_run_fails(c, q, 1, &bo, "max_concurrency is -1");

    volley_batch_options_init(&bo);
    q[1].sql = NULL;
    expect_run_fails(c, q, 2, &bo, "query 2: no SQL");
    q[1].sql = "SELECT $1";
    q[1].nparams = -1;
    expect_run_fails(c, q, 2, &bo, "query 2: nparams is -1");
    q[1].nparams = 1;
    expect_run_fails(c, q, 2, &bo, "query 2: nparams is 1 with no parameters");

    /* still usable after all that */
    q[1].nparams = 0;
    q[1].sql = "SELECT 2";
    assert_int_equal(volley_batch_run(c, q, 2, &bo, r, NULL, 0), 0);
    assert_string_equal(r[1].cells[0], "2");
    volley_results_free(r, 2);
    volley_client_close(c);
}

static void test_batch_options_older_caller(void **state)
{
    (void)state;
    volley_client *c = open_env();
    struct volley_query q = {.sql = "SELECT 1"};
    struct volley_result r;
    struct seen s;
    memset(&s, 0, sizeof(s));
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    bo.max_concurrency = -1; /* beyond the size: not read */
    bo.on_result = record;
    bo.arg = &s;
    bo.size = OFFSETOFEND(struct volley_batch_options, result_size);
    char err[256] = "";
    assert_int_equal(volley_batch_run(c, &q, 1, &bo, &r, err, sizeof(err)), 0);
    assert_true(r.ok);
    assert_int_equal(s.count[0], 0); /* on_result took its default, NULL */
    volley_result_fini(&r);
    volley_client_close(c);
}

/* Elements of a newer volley.h: larger, with fields this library does not know. */
struct newer_query {
    struct volley_query v1;
    const char *future;
};

struct newer_result {
    struct volley_result v1;
    char future[24];
};

static void test_newer_element_sizes(void **state)
{
    (void)state;
    volley_client *c = open_env();
    struct newer_query q[2];
    memset(q, 0, sizeof(q));
    q[0].v1.sql = "SELECT 'a' AS a";
    q[1].v1.sql = "SELECT 2 AS b";
    struct newer_result r[2];
    memset(r, 0xaa, sizeof(r));
    struct volley_batch_options bo;
    volley_batch_options_init(&bo);
    bo.query_size = sizeof(struct newer_query);
    bo.result_size = sizeof(struct newer_result);
    char err[256] = "";
    assert_int_equal(volley_batch_run(c, &q[0].v1, 2, &bo, &r[0].v1, err, sizeof(err)), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].v1.size, sizeof(struct newer_result));
        assert_true(r[i].v1.ok);
        for (size_t k = 0; k < sizeof(r[i].future); k++)
            assert_int_equal(r[i].future[k], 0); /* unknown fields read as zero */
    }
    assert_string_equal(r[0].v1.types[0], "text");
    assert_string_equal(r[1].v1.types[0], "int4");
    assert_string_equal(r[1].v1.cells[0], "2");
    for (int i = 0; i < 2; i++)
        volley_result_fini(&r[i].v1);
    assert_int_equal(r[1].v1.size, 0);

    q[1].future = "set";
    memset(r, 0x5a, sizeof(r));
    assert_int_equal(volley_batch_run(c, &q[0].v1, 2, &bo, &r[0].v1, err, sizeof(err)),
                     VOLLEY_EINVAL);
    assert_non_null(strstr(err, "query 2 sets a field libvolley"));
    assert_int_equal(((unsigned char *)r)[0], 0x5a);
    volley_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_and_version),
        cmocka_unit_test(test_client_open_errors),
        cmocka_unit_test(test_client_options_newer_caller),
        cmocka_unit_test(test_client_options_older_caller),
        cmocka_unit_test(test_column_names_and_types),
        cmocka_unit_test(test_datasets_callback_truncation),
        cmocka_unit_test(test_batch_errors),
        cmocka_unit_test(test_batch_options_older_caller),
        cmocka_unit_test(test_newer_element_sizes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
