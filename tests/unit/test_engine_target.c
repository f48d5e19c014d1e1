/* test_engine_target.c - connection parameters without a server: bad
   connection strings, unreachable servers, one-line messages, no password,
   which host names need a lookup and how they are pinned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>

#include "engine/pv_conninfo.h"
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

static const char *value_of(const pv_conninfo *ci, const char *kw)
{
    const char *const *k = pv_conninfo_keywords(ci);
    const char *const *v = pv_conninfo_values(ci);
    for (; *k; k++, v++)
        if (strcmp(*k, kw) == 0)
            return *v;
    return NULL;
}

static void test_conninfo_params(void **state)
{
    (void)state;
    pv_conninfo *ci = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_conninfo_create("host=db.example port=5433 dbname=d", "app", &ci, &err), 0);
    assert_string_equal(value_of(ci, "fallback_application_name"), "app");
    assert_string_equal(value_of(ci, "port"), "5433");
    assert_int_equal(pv_conninfo_set_default(ci, "port", "1"), 0);
    assert_string_equal(value_of(ci, "port"), "5433");
    assert_int_equal(pv_conninfo_set(ci, "port", "6000"), 0);
    assert_string_equal(pv_conninfo_get(ci, "port"), "6000");
    pv_conninfo_destroy(ci);
    /* an explicit application_name wins: no fallback added */
    assert_int_equal(pv_conninfo_create("application_name=mine", "app", &ci, &err), 0);
    assert_null(value_of(ci, "fallback_application_name"));
    pv_conninfo_destroy(ci);
    assert_int_equal(pv_conninfo_create("postgresql://u:secretpw@[bad", "app", &ci, &err),
                     VOLLEY_EINVAL);
    assert_null(strstr(err.msg, "secretpw"));
    pv_conninfo_destroy(NULL);
}

static void test_conninfo_lookup(void **state)
{
    (void)state;
    static const struct {
        const char *conninfo;
        const char *lookup; /* NULL: libpq would not resolve a name */
    } cases[] = {
        {"host=db.example", "db.example"},
        {"host=localhost port=5432", "localhost"},
        {"host=127.0.0.1", NULL},
        {"host=::1", NULL},
        {"host=/var/run/postgresql", NULL},
        {"host=@abstract", NULL},
        {"host=a,b", NULL},
        {"host=db.example hostaddr=10.0.0.1", NULL},
        {"postgresql://reader@db.example:5433/sales", "db.example"},
    };
    unsetenv("PGHOST");
    unsetenv("PGHOSTADDR");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pv_conninfo *ci = NULL;
        pv_err err = {{0}};
        assert_int_equal(pv_conninfo_create(cases[i].conninfo, NULL, &ci, &err), 0);
        const char *got = pv_conninfo_host_to_resolve(ci);
        if (cases[i].lookup)
            assert_string_equal(got, cases[i].lookup);
        else
            assert_null(got);
        pv_conninfo_destroy(ci);
    }
    /* no host in the string: PGHOST is what libpq would look up */
    setenv("PGHOST", "envhost.example", 1);
    pv_conninfo *ci = NULL;
    assert_int_equal(pv_conninfo_create("dbname=x", NULL, &ci, NULL), 0);
    assert_string_equal(pv_conninfo_host_to_resolve(ci), "envhost.example");
    pv_conninfo_destroy(ci);
    unsetenv("PGHOST");
}

static void test_conninfo_pin(void **state)
{
    (void)state;
    pv_conninfo *ci = NULL;
    assert_int_equal(pv_conninfo_create("host=db.example port=5433", NULL, &ci, NULL), 0);
    /* two addresses (one twice, as getaddrinfo may list it per protocol) */
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
    inet_pton(AF_INET6, "fd00::7", &a6.sin6_addr);
    struct addrinfo third = {
        .ai_family = AF_INET, .ai_addr = (struct sockaddr *)&a4, .ai_addrlen = sizeof(a4)};
    struct addrinfo second = {.ai_family = AF_INET6,
                              .ai_addr = (struct sockaddr *)&a6,
                              .ai_addrlen = sizeof(a6),
                              .ai_next = &third};
    struct addrinfo first = {.ai_family = AF_INET,
                             .ai_addr = (struct sockaddr *)&a4,
                             .ai_addrlen = sizeof(a4),
                             .ai_next = &second};
    assert_int_equal(pv_conninfo_pin(ci, &first), 0);
    assert_string_equal(value_of(ci, "host"), "db.example,db.example");
    assert_string_equal(value_of(ci, "hostaddr"), "10.1.2.3,fd00::7");
    assert_string_equal(value_of(ci, "port"), "5433");
    /* pinned: nothing is left to look up, and a second pin is refused */
    assert_null(pv_conninfo_host_to_resolve(ci));
    assert_int_equal(pv_conninfo_pin(ci, &first), VOLLEY_EINVAL);
    pv_conninfo_destroy(ci);
    assert_int_equal(pv_conninfo_create("host=db.example", NULL, &ci, NULL), 0);
    assert_int_equal(pv_conninfo_pin(ci, NULL), VOLLEY_EINVAL);
    pv_conninfo_destroy(ci);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_conninfo),    cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_first_line),      cmocka_unit_test(test_conninfo_params),
        cmocka_unit_test(test_conninfo_lookup), cmocka_unit_test(test_conninfo_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
