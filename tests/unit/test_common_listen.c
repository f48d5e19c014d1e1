/* test_common_listen.c - the listening socket of the HTTP servers and a
   peer's address as text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/pv_listen.h"

static void test_listen(void **state)
{
    (void)state;
    struct pv_listen l;
    pv_err err = {{0}};
    assert_int_equal(pv_listen_tcp("127.0.0.1", 0, 4, &l, &err), 0);
    assert_true(l.port > 0);
    assert_true(l.loopback);
    assert_int_equal(l.family, AF_INET);
    close(l.fd);
    /* a name is never looked up */
    assert_int_equal(pv_listen_tcp("localhost", 0, 4, &l, &err), VOLLEY_EINVAL);
    assert_non_null(strstr(err.msg, "localhost"));
}

static void test_peer_text(void **state)
{
    (void)state;
    char buf[NI_MAXHOST];
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(5)};
    inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
    pv_listen_peer_text((struct sockaddr *)&v4, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.2");
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    pv_listen_peer_text((struct sockaddr *)&v6, buf, sizeof(buf));
    assert_string_equal(buf, "::1");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    pv_listen_peer_text((struct sockaddr *)&un, buf, sizeof(buf));
    assert_string_equal(buf, "");
    pv_listen_peer_text(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "");
    char tiny[4]; /* too small for the text: "" rather than a cut address */
    pv_listen_peer_text((struct sockaddr *)&v4, tiny, sizeof(tiny));
    assert_string_equal(tiny, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_peer_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
