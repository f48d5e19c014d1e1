/* test_engine_target.c - connection parameters without a server: bad
   connection strings, unreachable servers, one-line messages, no password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pv_pgwatch.h"
#include "engine/pv_target.h"

static void test_bad_conninfo(void **state)
{
    (void)state;
    pv_target *t = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_target_create("host=x nonsense_key=1", 1, "t", &t, &err), VOLLEY_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "invalid connection string"));
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "\"nonsense_key\"")); /* keys are kept */
    /* libpq quotes pieces of the string: a password must never come back */
    assert_int_equal(pv_target_create("postgresql://u:secretpw@[bad", 1, "t", &t, &err),
                     VOLLEY_EINVAL);
    assert_null(strstr(err.msg, "secretpw"));
    assert_int_equal(pv_target_create("host=x secretpw", 1, "t", &t, &err), VOLLEY_EINVAL);
    assert_null(strstr(err.msg, "secretpw"));
    assert_non_null(strstr(err.msg, "missing \"=\""));
}

static void test_unreachable(void **state)
{
    (void)state;
    pv_target *t = NULL;
    pv_err err = {{0}};
    /* port 1 on loopback: refused at once */
    int rc = pv_target_create("host=127.0.0.1 port=1 user=u password=secretpw dbname=d", 2, "t", &t,
                              &err);
    assert_int_equal(rc, VOLLEY_ECONNECT);
    assert_null(t);
    assert_true(strlen(err.msg) > 0);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strstr(err.msg, "secretpw"));
}

static void test_first_line(void **state)
{
    (void)state;
    char buf[16];
    pv_first_line(buf, sizeof(buf), "one\ntwo");
    assert_string_equal(buf, "one");
    pv_first_line(buf, sizeof(buf), NULL);
    assert_string_equal(buf, "unknown error");
    pv_first_line(buf, sizeof(buf), "a very long first line indeed");
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_conninfo),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_first_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
