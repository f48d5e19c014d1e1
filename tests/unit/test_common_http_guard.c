/* test_common_http_guard.c - the Host, Origin, token and cookie checks of the HTTP servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pv_http_guard.h"

static void test_loopback(void **state)
{
    (void)state;
    assert_true(pv_http_host_origin_ok(true, "127.0.0.1:8765", NULL));
    assert_true(pv_http_host_origin_ok(true, "localhost", "http://localhost:8765"));
    assert_true(pv_http_host_origin_ok(true, "[::1]:80", "https://[::1]"));
    assert_false(pv_http_host_origin_ok(true, NULL, NULL));
    assert_false(pv_http_host_origin_ok(true, "evil.example:8765", NULL)); /* rebinding */
    assert_false(pv_http_host_origin_ok(true, "localhost.evil.example", NULL));
    assert_false(pv_http_host_origin_ok(true, "127.0.0.1:8765", "http://evil.example"));
    assert_false(pv_http_host_origin_ok(true, "127.0.0.1:8765", "null"));
    assert_false(pv_http_host_origin_ok(true, "127.0.0.1:123456", NULL));
}

static void test_beyond_loopback(void **state)
{
    (void)state;
    assert_true(pv_http_host_origin_ok(false, "load.example:8765", NULL));
    assert_true(pv_http_host_origin_ok(false, "load.example", "https://load.example"));
    assert_true(pv_http_host_origin_ok(false, "Load.Example:8765", "http://load.example:8765"));
    assert_false(pv_http_host_origin_ok(false, "load.example:8765", "http://evil.example:8765"));
    assert_false(pv_http_host_origin_ok(false, "load.example", "ftp://load.example"));
    assert_false(pv_http_host_origin_ok(false, "", NULL));
}

static void test_token(void **state)
{
    (void)state;
    assert_true(pv_http_bearer_ok("Bearer s3cret", "s3cret"));
    assert_true(pv_http_bearer_ok("bearer   s3cret", "s3cret"));
    assert_false(pv_http_bearer_ok(NULL, "s3cret"));
    assert_false(pv_http_bearer_ok("Basic s3cret", "s3cret"));
    assert_false(pv_http_bearer_ok("Bearer s3cre", "s3cret"));
    assert_false(pv_http_bearer_ok("Bearer s3cret2", "s3cret"));
    assert_false(pv_http_bearer_ok("Bearer ", "s3cret"));
    assert_true(pv_http_secret_equal("", ""));
}

static void test_cookie(void **state)
{
    (void)state;
    char v[16];
    assert_true(
        pv_http_cookie_get("a=1; pgvolley_session=abc; b=2", "pgvolley_session", v, sizeof(v)));
    assert_string_equal(v, "abc");
    assert_true(pv_http_cookie_get("pgvolley_session=xyz", "pgvolley_session", v, sizeof(v)));
    assert_string_equal(v, "xyz");
    assert_false(pv_http_cookie_get("xpgvolley_session=abc", "pgvolley_session", v, sizeof(v)));
    assert_false(pv_http_cookie_get(NULL, "pgvolley_session", v, sizeof(v)));
    assert_false(pv_http_cookie_get("s=0123456789abcdef", "s", v, sizeof(v))); /* too long */
    assert_string_equal(v, "");
    /* a cookie changing something needs an Origin, and a same-origin fetch */
    const char *h = "localhost:1";
    assert_true(pv_http_cookie_request_ok("GET", h, NULL, NULL));
    assert_true(pv_http_cookie_request_ok("POST", h, "http://localhost:1", NULL));
    assert_true(pv_http_cookie_request_ok("POST", h, "HTTPS://LocalHost:1", NULL));
    assert_true(pv_http_cookie_request_ok("DELETE", h, "http://localhost:1", "same-origin"));
    assert_false(pv_http_cookie_request_ok("POST", h, NULL, NULL));
    assert_false(pv_http_cookie_request_ok("PUT", h, "", "same-origin"));
    assert_false(pv_http_cookie_request_ok("POST", h, "http://localhost:1", "cross-site"));
    assert_false(pv_http_cookie_request_ok("POST", h, "http://localhost:1", "same-site"));
    /* another port of the same loopback host: another origin */
    assert_false(pv_http_cookie_request_ok("POST", h, "http://localhost:3000", NULL));
    assert_false(pv_http_cookie_request_ok("POST", h, "http://127.0.0.1:1", NULL));
    assert_false(pv_http_cookie_request_ok("POST", h, "http://localhost:1/x", NULL));
    assert_false(pv_http_cookie_request_ok("POST", NULL, "http://localhost:1", NULL));
    assert_false(pv_http_cookie_request_ok("POST", h, "ftp://localhost:1", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_beyond_loopback),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
