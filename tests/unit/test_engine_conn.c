/*
 * test_engine_conn.c - the connection core against a real throwaway server:
 * connect, a refused host then a good one in one multi-host string, the
 * connect timeout (a listener that never answers), failures reported from
 * the loop and never from inside pv_conn_start, the server closing an idle
 * and a busy connection, a cancel that stops a long query, and a cancel
 * racing a query that ends by itself (the connection is parked until the
 * cancel is done, so the cancel never hits the next query), and a cancel the
 * server never answers (abandoned at its deadline; nothing waits for it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/pv_conn.h"
#include "pgtmp/pv_pgtmp.h"

static pv_pgtmp *g_server;
static char g_tmp[64];

/* What the callbacks saw, in order. */
struct tconn {
    pv_conn core; /* first */
    uv_loop_t *loop;
    bool in_start; /* pv_conn_start is running: no callback may come now */
    int connected, connect_failed, idle, lost, freed, results, commands;
    bool early_callback;
    bool parked; /* pv_conn_done said PARKED */
    char sqlstate[6];
    char lost_state[6];
    char why[256];
};

static struct tconn *tc_of(pv_conn *c)
{
    return (struct tconn *)(void *)c;
}

static void on_connected(pv_conn *c)
{
    struct tconn *t = tc_of(c);
    t->early_callback |= t->in_start;
    t->connected++;
    uv_stop(t->loop);
}

static void on_connect_failed(pv_conn *c, const char *why)
{
    struct tconn *t = tc_of(c);
    t->early_callback |= t->in_start;
    t->connect_failed++;
    pv_first_line(t->why, sizeof(t->why), why);
    uv_stop(t->loop);
}

static bool on_result(pv_conn *c, PGresult *res)
{
    struct tconn *t = tc_of(c);
    if (!res) {
        t->commands++;
        t->parked = !pv_conn_done(c);
        uv_stop(t->loop);
        return true;
    }
    t->results++;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR)
        snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", pv_conn_sqlstate(res));
    return true;
}

static void on_idle(pv_conn *c)
{
    struct tconn *t = tc_of(c);
    t->idle++;
    uv_stop(t->loop);
}

static void on_lost(pv_conn *c, const char *sqlstate, const char *why)
{
    struct tconn *t = tc_of(c);
    t->lost++;
    snprintf(t->lost_state, sizeof(t->lost_state), "%s", sqlstate);
    pv_first_line(t->why, sizeof(t->why), why ? why : PQerrorMessage(c->pg));
    uv_stop(t->loop);
}

static void on_freed(pv_conn *c)
{
    tc_of(c)->freed++;
}

static const struct pv_conn_ops ops = {
    .connected = on_connected,
    .connect_failed = on_connect_failed,
    .result = on_result,
    .idle = on_idle,
    .lost = on_lost,
    .freed = on_freed,
};

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

/* Runs the loop until a callback stops it; fails the test after ms. */
static void run_until_event(uv_loop_t *loop, uint64_t ms)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&guard, on_closed);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_false(expired);
}

/* Starts t on loop with conninfo's keywords and values. */
static void start(struct tconn *t, uv_loop_t *loop, const char *conninfo, uint64_t timeout_ms)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    assert_non_null(opts);
    const char *kw[64], *val[64];
    int n = 0;
    for (PQconninfoOption *o = opts; o->keyword && n < 63; o++) {
        if (o->val) {
            kw[n] = o->keyword;
            val[n++] = o->val;
        }
    }
    kw[n] = val[n] = NULL;
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->in_start = true;
    assert_int_equal(pv_conn_start(&t->core, loop, kw, val, timeout_ms, &ops), 0);
    t->in_start = false;
    PQconninfoFree(opts);
}

/* Closes t and runs the loop until its memory is released. */
static void finish(struct tconn *t)
{
    pv_conn_close(&t->core);
    while (t->freed == 0)
        uv_run(t->loop, UV_RUN_ONCE);
    assert_int_equal(t->freed, 1);
}

static void connect_ok(struct tconn *t, uv_loop_t *loop, const char *conninfo)
{
    start(t, loop, conninfo, 10000);
    run_until_event(loop, 15000);
    assert_int_equal(t->connected, 1);
    assert_int_equal(pv_conn_state(&t->core), PV_CONN_IDLE);
}

/* Sends sql on idle t and runs until its command ends (or the connection is lost). */
static void query(struct tconn *t, const char *sql, bool cancel_at_once)
{
    int before = t->commands;
    t->sqlstate[0] = '\0';
    assert_int_equal(PQsendQuery(t->core.pg, sql), 1);
    assert_int_equal(pv_conn_sent(&t->core), 0);
    assert_int_equal(pv_conn_state(&t->core), PV_CONN_BUSY);
    if (cancel_at_once)
        pv_conn_cancel(&t->core);
    while (t->commands == before && t->lost == 0)
        run_until_event(t->loop, 15000);
}

/* ---- tests ------------------------------------------------------------- */

static void test_connect_and_query(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    connect_ok(&t, &loop, pv_pgtmp_conninfo(g_server));
    assert_false(t.early_callback);
    query(&t, "SELECT 1", false);
    assert_int_equal(t.results, 1);
    assert_string_equal(t.sqlstate, "");
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_IDLE);
    /* an error result: SQLSTATE and message through the core's helpers */
    query(&t, "SELECT 1/0", false);
    assert_string_equal(t.sqlstate, "22012");
    finish(&t);
    assert_int_equal(t.lost, 0);
    uv_loop_close(&loop);
}

static void test_refused_then_good_host(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char ci[256];
    /* port 1 refuses at once; libpq moves on to the second host, whose socket
       may reuse the refused one's descriptor number */
    snprintf(ci, sizeof(ci), "host=127.0.0.1,127.0.0.1 port=1,%d user=postgres dbname=postgres",
             pv_pgtmp_port(g_server));
    struct tconn t;
    connect_ok(&t, &loop, ci);
    query(&t, "SELECT 1", false);
    assert_int_equal(t.results, 1);
    finish(&t);
    uv_loop_close(&loop);
}

static void test_refused_reported_from_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    start(&t, &loop, "host=127.0.0.1 port=1 user=u dbname=d", 5000);
    run_until_event(&loop, 10000);
    assert_false(t.early_callback);
    assert_int_equal(t.connect_failed, 1);
    assert_int_equal(t.connected, 0);
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_CLOSED);
    assert_non_null(strstr(t.why, "refused"));
    /* a string libpq rejects before any socket: still reported from the loop */
    struct tconn b;
    start(&b, &loop, "host=127.0.0.1 port=1 sslmode=nonsense", 5000);
    assert_int_equal(b.connect_failed, 0);
    run_until_event(&loop, 10000);
    assert_int_equal(b.connect_failed, 1);
    assert_false(b.early_callback);
    while (t.freed == 0 || b.freed == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
}

static void test_connect_timeout(void **state)
{
    (void)state;
    /* a listener that accepts in the kernel and never answers the startup packet */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char ci[128];
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=u dbname=d", ntohs(a.sin_port));

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    uint64_t t0 = uv_hrtime();
    start(&t, &loop, ci, 300);
    run_until_event(&loop, 10000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(t.connect_failed, 1);
    assert_string_equal(t.why, "connection timeout expired");
    assert_true(ms >= 290 && ms < 5000);
    while (t.freed == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
    close(fd);
}

/* Terminates every other backend of the test server (blocking; test side). */
static void terminate_others(void)
{
    PGconn *c = PQconnectdb(pv_pgtmp_conninfo(g_server));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(c);
}

static void test_server_closes(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* idle: noticed because the core still watches idle connections */
    struct tconn t;
    connect_ok(&t, &loop, pv_pgtmp_conninfo(g_server));
    terminate_others();
    run_until_event(&loop, 10000);
    assert_int_equal(t.lost, 1);
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_CLOSED);
    while (t.freed == 0)
        uv_run(&loop, UV_RUN_ONCE);
    /* busy: the query's connection goes away under it */
    struct tconn b;
    connect_ok(&b, &loop, pv_pgtmp_conninfo(g_server));
    assert_int_equal(PQsendQuery(b.core.pg, "SELECT pg_sleep(30)"), 1);
    assert_int_equal(pv_conn_sent(&b.core), 0);
    usleep(100000);
    terminate_others();
    while (b.lost == 0 && b.commands == 0)
        run_until_event(&loop, 10000);
    /* the server says why (57P01) before it closes, then the socket ends */
    if (b.lost == 0) {
        assert_string_equal(b.sqlstate, "57P01");
        run_until_event(&loop, 10000);
    }
    assert_int_equal(b.lost, 1);
    while (b.freed == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
}

static void test_cancel_long_query(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    connect_ok(&t, &loop, pv_pgtmp_conninfo(g_server));
    uint64_t t0 = uv_hrtime();
    /* a cancel that reaches the backend before it started the query is
       dropped by the server: let the query start first */
    assert_int_equal(PQsendQuery(t.core.pg, "SELECT pg_sleep(20)"), 1);
    assert_int_equal(pv_conn_sent(&t.core), 0);
    bool slept = false;
    uv_timer_t pause;
    uv_timer_init(&loop, &pause);
    pause.data = &slept;
    uv_timer_start(&pause, on_guard, 300, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&pause, on_closed);
    assert_true(slept);
    assert_int_equal(t.commands, 0);
    pv_conn_cancel(&t.core);
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_CANCELLING);
    while (t.commands == 0)
        run_until_event(&loop, 15000);
    assert_string_equal(t.sqlstate, "57014");
    assert_true((uv_hrtime() - t0) / 1000000 < 10000);
    /* parked until the cancel request finished (ops->idle), then idle again */
    if (t.parked) {
        while (t.idle == 0)
            run_until_event(&loop, 10000);
        assert_int_equal(t.idle, 1);
    }
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_IDLE);
    finish(&t);
    uv_loop_close(&loop);
}

static void test_cancel_racing_completion(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    connect_ok(&t, &loop, pv_pgtmp_conninfo(g_server));
    int parked = 0;
    for (int i = 0; i < 20; i++) {
        /* a query that ends by itself while its cancel request is on its way */
        int idle = t.idle;
        query(&t, "SELECT 1", true);
        if (t.parked) {
            /* until the cancel is done: PARKED, then ops->idle (maybe in the
               same loop iteration as the result) */
            parked++;
            while (t.idle == idle) {
                assert_int_equal(pv_conn_state(&t.core), PV_CONN_PARKED);
                run_until_event(&loop, 10000);
            }
            assert_int_equal(t.idle, idle + 1);
        } else {
            assert_int_equal(t.idle, idle);
        }
        assert_int_equal(pv_conn_state(&t.core), PV_CONN_IDLE);
        /* the next query is never hit by the late cancel */
        query(&t, "SELECT pg_sleep(0.02)", false);
        assert_string_equal(t.sqlstate, "");
    }
    print_message("parked %d of 20 times\n", parked);
    finish(&t);
    uv_loop_close(&loop);
}

/* The postmaster stopped (SIGSTOP) accepts cancel connections in the kernel
   and never answers them: PQcancel would wait for ever. */
static void test_cancel_never_answered(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct tconn t;
    connect_ok(&t, &loop, pv_pgtmp_conninfo(g_server));
    pv_conn_set_cancel_deadline(&t.core, 500);
    assert_int_equal(PQsendQuery(t.core.pg, "SELECT pg_sleep(0.3)"), 1);
    assert_int_equal(pv_conn_sent(&t.core), 0);
    assert_int_equal(kill(pv_pgtmp_pid(g_server), SIGSTOP), 0);
    uint64_t t0 = uv_hrtime();
    pv_conn_cancel(&t.core);
    /* the query ends by itself; the cancel request is still on its way */
    while (t.commands == 0)
        run_until_event(&loop, 10000);
    assert_true(t.parked);
    assert_int_equal(pv_conn_state(&t.core), PV_CONN_PARKED);
    /* past the deadline the connection stops waiting and is dropped: the
       request could still reach the server during a next query */
    run_until_event(&loop, 10000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(t.lost, 1);
    assert_int_equal(t.idle, 0);
    assert_non_null(strstr(t.why, "cancel request"));
    assert_true(ms >= 450 && ms < 3000);
    /* and nothing keeps the loop: it ends with the stuck request abandoned */
    while (t.freed == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int cont_postmaster(void **state)
{
    (void)state;
    kill(pv_pgtmp_pid(g_server), SIGCONT);
    return 0;
}

/* ---- set-up ------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pvconn-XXXXXX");
    if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) != 0 || setenv("TMPDIR", g_tmp, 1) != 0)
        return -1;
    pv_err err = {{0}};
    if (pv_pgtmp_start(NULL, &g_server, &err) != 0) {
        fprintf(stderr, "cannot start a throwaway server: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pv_pgtmp_stop(g_server);
    rmdir(g_tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_query),
        cmocka_unit_test(test_refused_then_good_host),
        cmocka_unit_test(test_refused_reported_from_loop),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_server_closes),
        cmocka_unit_test(test_cancel_long_query),
        cmocka_unit_test(test_cancel_racing_completion),
        cmocka_unit_test_teardown(test_cancel_never_answered, cont_postmaster),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
