/*
 * test_mcp_protocol.c - the MCP protocol layer driven through its
 * transport-independent entry point (pv_mcp_handle_text) with a recording
 * sink, without a database: initialize and version negotiation, ping,
 * tools/list (against a golden copy), unknown methods, invalid params,
 * requests before initialize, batches, cancellation, argument errors and
 * tool errors, table-name quoting.
 *
 * The calls that reach the batch engine use datasets that cannot answer: a
 * closed port (127.0.0.1:1, refused at once: the completion path with a
 * connection error) or a socket of ours that listens and never accepts (a
 * query that stays in flight until it is cancelled).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"

#define WAIT_S 20 /* longest wait for an answer; a hang fails the test */

/* ==== a recording sink ================================================= */

struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *msgs;  /* answers: responses or batches of them */
    json_t *notes; /* notifications (progress) */
    int done;
};

static void rec_init(struct rec *r)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->msgs = json_array();
    r->notes = json_array();
    r->done = 0;
}

static void rec_fini(struct rec *r)
{
    json_decref(r->msgs);
    json_decref(r->notes);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static void rec_send(void *arg, json_t *msg, bool notification)
{
    struct rec *r = arg;
    pthread_mutex_lock(&r->mu);
    json_array_append(notification ? r->notes : r->msgs, msg);
    pthread_mutex_unlock(&r->mu);
}

static void rec_done(void *arg)
{
    struct rec *r = arg;
    pthread_mutex_lock(&r->mu);
    r->done++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits up to seconds for done; returns the done count. */
static int rec_wait(struct rec *r, double seconds)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    long long ns = (long long)dl.tv_nsec + (long long)(seconds * 1e9);
    dl.tv_sec += (time_t)(ns / 1000000000LL);
    dl.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&r->mu);
    while (r->done == 0 && pthread_cond_timedwait(&r->cv, &r->mu, &dl) == 0)
        ;
    int done = r->done;
    pthread_mutex_unlock(&r->mu);
    return done;
}

static size_t rec_count(struct rec *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = json_array_size(r->msgs);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ==== fixtures ========================================================= */

struct fixture {
    pv_datasets *ds;
    pv_batch_engine *engine;
    pv_mcp *m;
    pv_mcp_session *s;
    int silent_fd; /* listens, never accepts; -1 */
    /* The sink of a call left in flight (start_hanging): it lives until the
       server is destroyed, so that a failed assertion cannot leave the
       completion thread writing into a dead stack frame. */
    struct rec hang;
    bool hang_used;
};

/* A TCP socket on 127.0.0.1 that accepts connections in the kernel and
   never answers them: a server that hangs. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/*
 * with_engine false: datasets that are never reached (no engine);
 * true: "sales" on a closed port, "hr" on a silent listener, and an engine.
 */
static int fixture_make(void **state, bool with_engine, int max_inflight)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->silent_fd = -1;
    pv_err err = {{0}};
    char ini[512];
    if (with_engine) {
        int port = 0;
        f->silent_fd = silent_listener(&port);
        if (f->silent_fd < 0)
            return -1;
        snprintf(ini, sizeof(ini),
                 "[sales]\ndsn = host=127.0.0.1 port=1 dbname=sales\n"
                 "description = Orders and customers\n"
                 "[hr]\ndsn = host=127.0.0.1 port=%d dbname=hr connect_timeout=60\n",
                 port);
    } else {
        snprintf(ini, sizeof(ini),
                 "[sales]\ndsn = dbname=sales\ndescription = Orders and "
                 "customers\n[hr]\ndsn = dbname=hr\n");
    }
    if (pv_datasets_parse("test.ini", ini, &f->ds, &err) != 0)
        return -1;
    if (with_engine && pv_batch_engine_create(f->ds, NULL, &f->engine, &err) != 0)
        return -1;
    struct pv_mcp_opts o = {.max_inflight = max_inflight, .version = "1.2.3"};
    if (pv_mcp_create(f->ds, f->engine, &o, &f->m) != 0)
        return -1;
    if (pv_mcp_session_create(f->m, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return fixture_make(state, false, 0);
}

static int setup_engine(void **state)
{
    return fixture_make(state, true, 0);
}

static int setup_engine_one(void **state)
{
    return fixture_make(state, true, 1);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pv_mcp_session_release(f->s);
    pv_mcp_destroy(f->m); /* answers (or drops) every call: hang's done has come */
    if (f->hang_used)
        rec_fini(&f->hang);
    pv_batch_engine_destroy(f->engine);
    pv_datasets_destroy(f->ds);
    if (f->silent_fd >= 0)
        close(f->silent_fd);
    free(f);
    return 0;
}

/* Sends text and waits for its input to complete; returns the one message
   answered (new reference) or NULL. */
static json_t *call(struct fixture *f, const char *text, size_t expect_nreq)
{
    struct rec r;
    rec_init(&r);
    struct pv_mcp_sink sink = {rec_send, rec_done, &r};
    size_t n = pv_mcp_handle_text(f->s, text, strlen(text), &sink);
    assert_int_equal(n, expect_nreq);
    assert_int_equal(rec_wait(&r, WAIT_S), 1);
    assert_true(json_array_size(r.msgs) <= 1);
    json_t *m = json_incref(json_array_get(r.msgs, 0));
    rec_fini(&r);
    return m;
}

static int error_code(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    assert_non_null(e);
    return (int)json_integer_value(json_object_get(e, "code"));
}

static const char *error_message(json_t *resp)
{
    const char *s = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
    assert_non_null(s);
    return s;
}

static void initialize(struct fixture *f, const char *version, const char *expect)
{
    char text[256];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
             "\"version\":\"1\"}}}",
             version);
    json_t *r = call(f, text, 1);
    json_t *res = json_object_get(r, "result");
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")), expect);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")), "pgvolley");
    assert_true(json_is_false(json_object_get(
        json_object_get(json_object_get(res, "capabilities"), "tools"), "listChanged")));
    assert_non_null(
        strstr(json_string_value(json_object_get(res, "instructions")), "Datasets: sales, hr."));
    json_decref(r);
    assert_true(pv_mcp_session_initialized(f->s));
    assert_string_equal(pv_mcp_session_version(f->s), expect);
    assert_null(call(f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 0));
}

static void test_initialize_versions(void **state)
{
    struct fixture *f = *state;
    /* Before initialize: ping works, tools do not. */
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 1);
    assert_true(json_is_object(json_object_get(r, "result")));
    json_decref(r);
    r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
    json_decref(r);
    /* Missing protocolVersion: invalid params. */
    r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{}}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    /* An unknown version is answered with our latest that has a handshake. */
    initialize(f, "1999-01-01", PV_MCP_LATEST_LEGACY_VERSION);
    /* Only once per session. */
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-06-18\"}}",
             1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
    json_decref(r);
}

static void test_initialize_older(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-03-26", "2025-03-26");
    assert_true(pv_mcp_version_supported("2024-11-05"));
    assert_false(pv_mcp_version_supported("2024-10-07"));
}

static void test_tools_list(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"method\":\"tools/list\"}", 1);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "l");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    static const char *const names[] = {"list_available_datasets",
                                        "get_dataset_schema",
                                        "query_dataset",
                                        "fetch_next_page",
                                        "get_dataset_sample",
                                        "execute_multi_query",
                                        "get_context",
                                        "explain_query",
                                        "get_slow_queries",
                                        "get_locks",
                                        "get_long_transactions",
                                        "get_bloat",
                                        "get_index_problems"};
    assert_int_equal(json_array_size(tools), PV_ARRAY_LEN(names));
    for (size_t i = 0; i < PV_ARRAY_LEN(names); i++) {
        json_t *t = json_array_get(tools, i);
        assert_string_equal(json_string_value(json_object_get(t, "name")), names[i]);
        assert_true(json_is_string(json_object_get(t, "description")));
        json_t *in = json_object_get(t, "inputSchema");
        assert_string_equal(json_string_value(json_object_get(in, "type")), "object");
        json_t *out = json_object_get(t, "outputSchema");
        assert_string_equal(json_string_value(json_object_get(out, "type")), "object");
        json_t *a = json_object_get(t, "annotations");
        assert_true(json_is_true(json_object_get(a, "readOnlyHint")));
        assert_true(json_is_false(json_object_get(a, "destructiveHint")));
        assert_true(json_is_false(json_object_get(a, "openWorldHint")));
    }
    json_decref(r);
}

static void test_methods_and_batches(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-03-26", "2025-03-26");
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/list\"}", 1);
    assert_int_equal(error_code(r), PV_JRPC_METHOD_NOT_FOUND);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
    json_decref(r);
    /* Unknown notifications and responses are ignored. */
    assert_null(call(f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}", 0));
    assert_null(call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", 0));
    /* Parse error and invalid request, id null. */
    r = call(f, "{\"jsonrpc\":", 1);
    assert_int_equal(error_code(r), PV_JRPC_PARSE_ERROR);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
    json_decref(r);
    r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    /* A batch: one array of answers, notifications unanswered. */
    r = call(f,
             "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
             "1,"
             "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"nope\"}]",
             3);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 3);
    int seen_ping = 0, seen_invalid = 0, seen_nope = 0;
    size_t i;
    json_t *m;
    json_array_foreach(r, i, m)
    {
        json_t *e = json_object_get(m, "error");
        if (!e)
            seen_ping += json_integer_value(json_object_get(m, "id")) == 1;
        else if (json_integer_value(json_object_get(e, "code")) == PV_JRPC_INVALID_REQUEST)
            seen_invalid++;
        else if (json_integer_value(json_object_get(e, "code")) == PV_JRPC_METHOD_NOT_FOUND)
            seen_nope++;
    }
    assert_int_equal(seen_ping + seen_invalid + seen_nope, 3);
    json_decref(r);
    /* A batch of notifications only: nothing at all. */
    assert_null(call(f, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]", 0));
}

static json_t *tool(struct fixture *f, const char *name, const char *args)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"%s\",\"arguments\":%s}}",
             name, args);
    return call(f, text, 1);
}

static void assert_tool_error(json_t *r, const char *needle)
{
    json_t *res = json_object_get(r, "result");
    assert_non_null(res);
    assert_true(json_is_true(json_object_get(res, "isError")));
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(text);
    if (!strstr(text, needle))
        fail_msg("'%s' not in '%s'", needle, text);
    assert_true(json_is_object(json_object_get(res, "structuredContent")));
}

static void test_tool_errors(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    json_t *r;
    /* Protocol errors: unknown tool, missing or mistyped arguments. */
    r = tool(f, "drop_everything", "{}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "query_dataset", "{\"dataset\":\"sales\"}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "query_dataset", "{\"dataset\":1,\"query\":\"SELECT 1\"}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "get_dataset_sample", "{\"dataset\":\"sales\",\"table\":\"t\",\"limit\":101}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "get_dataset_sample", "{\"dataset\":\"sales\",\"table\":\"t\",\"limit\":\"5\"}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "get_dataset_schema", "{\"dataset\":\"sales\",\"refresh\":\"yes\"}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "get_context", "{\"level\":4}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "execute_multi_query", "{}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "execute_multi_query", "{\"queries\":[]}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "execute_multi_query", "{\"queries\":[{\"dataset\":\"sales\"}]}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = tool(f, "execute_multi_query", "{\"queries\":[{\"dataset_id\":\"1\",\"query\":\"x\"}]}");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    char many[2048] = "{\"queries\":[";
    for (int i = 0; i < 31; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s{\"query\":\"SELECT %d\"}",
                 i ? "," : "", i);
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "]}");
    r = tool(f, "execute_multi_query", many);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);

    /* Tool errors: the tool ran and failed. */
    r = tool(f, "query_dataset", "{\"dataset\":\"nope\",\"query\":\"SELECT 1\"}");
    assert_tool_error(r, "unknown dataset 'nope'; available: sales, hr");
    json_decref(r);
    r = tool(f, "query_dataset", "{\"dataset\":\"sales\",\"query\":\"\"}");
    assert_tool_error(r, "\"query\" must be a non-empty string");
    assert_null(strstr(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(r, "result"), "content"), 0), "text")),
        "queries["));
    json_decref(r);
    r = tool(f, "get_dataset_schema", "{\"dataset\":\"nope\"}");
    assert_tool_error(r, "unknown dataset");
    json_decref(r);
    r = tool(f, "get_dataset_sample", "{\"dataset\":\"sales\",\"table\":\"a.b.c\"}");
    assert_tool_error(r, "bad table name");
    json_decref(r);
    r = tool(f, "execute_multi_query",
             "{\"queries\":[{\"dataset\":\"nope\",\"query\":\"SELECT "
             "1\"}]}");
    assert_tool_error(r, "nope");
    json_decref(r);
    r = tool(f, "get_context", "{\"level\":2}");
    assert_tool_error(r, "needs a dataset");
    json_decref(r);
}

static void test_tools_without_queries(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    json_t *r = tool(f, "list_available_datasets", "{}");
    json_t *res = json_object_get(r, "result");
    assert_true(json_is_false(json_object_get(res, "isError")));
    json_t *sc = json_object_get(res, "structuredContent");
    json_t *dss = json_object_get(sc, "datasets");
    assert_int_equal(json_array_size(dss), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dss, 0), "name")),
                        "sales");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dss, 0), "description")),
                        "Orders and customers");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dss, 1), "id")), 2);
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(strstr(text, "| 1 | sales | Orders and customers |"));
    assert_null(strstr(text, "dbname=")); /* DSNs are secret */
    json_decref(r);

    r = tool(f, "get_context", "{}");
    res = json_object_get(r, "result");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "structuredContent"), "level")), 0);
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(strstr(text, "execute_multi_query"));
    json_decref(r);

    r = tool(f, "get_context", "{\"level\":1}");
    sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    assert_int_equal(json_integer_value(json_object_get(sc, "level")), 1);
    assert_int_equal(json_array_size(json_object_get(sc, "datasets")), 2);
    json_decref(r);
}

static void quote(const char *in, const char *expect)
{
    pv_buf b = PV_BUF_INIT;
    pv_err err = {{0}};
    int rc = pv_mcp_quote_table(in, &b, &err);
    if (!expect) {
        assert_int_equal(rc, VOLLEY_EINPUT);
        assert_true(err.msg[0] != '\0');
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(pv_buf_str(&b), expect);
    }
    pv_buf_fini(&b);
}

static void test_quote_table(void **state)
{
    (void)state;
    quote("orders", "\"orders\"");
    quote("public.orders", "\"public\".\"orders\"");
    quote("Orders", "\"Orders\"");
    quote("sales.\"Order Items\"", "\"sales\".\"Order Items\"");
    quote("\"my.table\"", "\"my.table\"");
    quote("\"a\"\"b\"", "\"a\"\"b\"");
    quote("t; DROP TABLE x", "\"t; DROP TABLE x\"");
    quote("x\" OR 1=1 --", NULL);
    quote("a.b.c", NULL);
    quote("", NULL);
    quote(".t", NULL);
    quote("s.", NULL);
    quote("\"unterminated", NULL);
    quote("\"a\"b", NULL);
}

/* ==== more protocol ==================================================== */

static void test_version_negotiation(void **state)
{
    struct fixture *f = *state;
    static const char *const supported[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
    for (size_t i = 0; i < 4; i++)
        assert_true(pv_mcp_version_supported(supported[i]));
    assert_true(pv_mcp_version_supported("2026-07-28"));
    assert_true(pv_mcp_version_modern("2026-07-28"));
    assert_false(pv_mcp_version_modern("2025-11-25"));
    assert_false(pv_mcp_version_supported(""));
    assert_false(pv_mcp_version_supported("2025-06-19"));
    assert_string_equal(PV_MCP_LATEST_LEGACY_VERSION, supported[0]);
    assert_string_equal(PV_MCP_LATEST_VERSION, "2026-07-28");
    /* Each version with a handshake is echoed (one session each). */
    for (size_t i = 0; i < 4; i++) {
        pv_mcp_session *s = NULL;
        assert_int_equal(pv_mcp_session_create(f->m, &s), 0);
        pv_mcp_session *keep = f->s;
        f->s = s;
        initialize(f, supported[i], supported[i]);
        f->s = keep;
        pv_mcp_session_release(s);
    }
    /* Bad params leave the session uninitialized. */
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}", 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    assert_string_equal(error_message(r), "initialize: \"protocolVersion\" (a string) is required");
    json_decref(r);
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":20250618}}",
             1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":["
             "\"2025-06-18\"]}",
             1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    assert_string_equal(error_message(r), "params must be an object");
    json_decref(r);
    assert_false(pv_mcp_session_initialized(f->s));
    assert_string_equal(pv_mcp_session_version(f->s), "");
    /* Unsupported, or 2026-07-28 (which has no handshake): the server's latest
       with one; serverInfo.version from the options. */
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2030-01-01\"}}",
             1);
    json_t *res = json_object_get(r, "result");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "i");
    assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")),
                        PV_MCP_LATEST_LEGACY_VERSION);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(res, "serverInfo"), "version")), "1.2.3");
    json_decref(r);
    assert_string_equal(pv_mcp_session_version(f->s), PV_MCP_LATEST_LEGACY_VERSION);
}

/* A stateless (2026-07-28) request: method and params, _meta added. */
static json_t *modern(struct fixture *f, const char *version, const char *method,
                      const char *params)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"%s\",\"params\":{%s%s\"_meta\":{"
             "\"io.modelcontextprotocol/protocolVersion\":\"%s\","
             "\"io.modelcontextprotocol/clientCapabilities\":{},"
             "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}}",
             method, params, *params ? "," : "", version);
    return call(f, text, 1);
}

static void assert_modern_result(json_t *res)
{
    assert_string_equal(json_string_value(json_object_get(res, "resultType")), "complete");
    json_t *si =
        json_object_get(json_object_get(res, "_meta"), "io.modelcontextprotocol/serverInfo");
    assert_string_equal(json_string_value(json_object_get(si, "name")), "pgvolley");
}

static void test_modern_stateless(void **state)
{
    struct fixture *f = *state;
    /* server/discover: versions, capabilities, cache hints; no session state. */
    json_t *r = modern(f, "2026-07-28", "server/discover", "");
    json_t *res = json_object_get(r, "result");
    assert_non_null(res);
    assert_modern_result(res);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(res, "supportedVersions"), 0)),
        "2026-07-28");
    assert_int_equal(json_array_size(json_object_get(res, "supportedVersions")), 5);
    assert_non_null(json_object_get(json_object_get(res, "capabilities"), "tools"));
    assert_true(json_integer_value(json_object_get(res, "ttlMs")) > 0);
    assert_string_equal(json_string_value(json_object_get(res, "cacheScope")), "public");
    json_decref(r);
    assert_false(pv_mcp_session_initialized(f->s));
    /* tools/list with cache hints. */
    r = modern(f, "2026-07-28", "tools/list", "");
    res = json_object_get(r, "result");
    assert_modern_result(res);
    assert_int_equal(json_array_size(json_object_get(res, "tools")), 13);
    assert_true(json_integer_value(json_object_get(res, "ttlMs")) > 0);
    assert_string_equal(json_string_value(json_object_get(res, "cacheScope")), "public");
    json_decref(r);
    /* Invalid arguments: a tool error whose structured content still has the
       declared required properties. */
    r = modern(f, "2026-07-28", "tools/call",
               "\"name\":\"query_dataset\",\"arguments\":{\"dataset\":\"sales\"}");
    res = json_object_get(r, "result");
    assert_modern_result(res);
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_true(json_is_false(json_object_get(json_object_get(res, "structuredContent"), "ok")));
    json_decref(r);
    r = modern(f, "2026-07-28", "tools/call",
               "\"name\":\"execute_multi_query\",\"arguments\":{\"queries\":[]}");
    res = json_object_get(r, "result");
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_true(
        json_is_array(json_object_get(json_object_get(res, "structuredContent"), "results")));
    json_decref(r);
    /* An unknown tool stays a protocol error. */
    r = modern(f, "2026-07-28", "tools/call", "\"name\":\"nope\"");
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    /* ping and initialize-era methods do not exist in 2026-07-28. */
    r = modern(f, "2026-07-28", "ping", "");
    assert_int_equal(error_code(r), PV_JRPC_METHOD_NOT_FOUND);
    json_decref(r);
    /* A version we do not serve statelessly: -32022 with the list. */
    r = modern(f, "2025-11-25", "tools/list", "");
    assert_int_equal(error_code(r), PV_JRPC_UNSUPPORTED_VERSION);
    json_t *data = json_object_get(json_object_get(r, "error"), "data");
    assert_int_equal(json_array_size(json_object_get(data, "supported")), 5);
    assert_string_equal(json_string_value(json_object_get(data, "requested")), "2025-11-25");
    json_decref(r);
    r = modern(f, "2099-01-01", "server/discover", "");
    assert_int_equal(error_code(r), PV_JRPC_UNSUPPORTED_VERSION);
    json_decref(r);
    /* The client's capabilities are required. */
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
             "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
             1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
    json_decref(r);
    assert_false(pv_mcp_session_initialized(f->s));
    assert_string_equal(pv_mcp_session_version(f->s), "");
}

static void test_batches_by_version(void **state)
{
    struct fixture *f = *state;
    static const char batch[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]";
    /* Before initialize: refused (initialize itself may not be in one). */
    json_t *r = call(f, batch, 1);
    assert_true(json_is_object(r));
    assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    /* 2025-06-18 and later forbid them. */
    initialize(f, "2025-11-25", "2025-11-25");
    r = call(f, batch, 1);
    assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
    assert_non_null(strstr(error_message(r), "2025-11-25"));
    json_decref(r);
    /* 2025-11-25: invalid tool arguments are tool errors (the model may correct them). */
    r = tool(f, "get_context", "{\"level\":4}");
    json_t *res = json_object_get(r, "result");
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_true(
        json_is_integer(json_object_get(json_object_get(res, "structuredContent"), "level")));
    assert_null(json_object_get(res, "resultType")); /* a legacy result */
    json_decref(r);
    /* A legacy session ignores _meta's version. */
    r = modern(f, "2026-07-28", "ping", "");
    assert_true(json_is_object(json_object_get(r, "result")));
    json_decref(r);
}

/* 2025-11-25's tool-name rules: 1-128 of A-Z a-z 0-9 _ - . */
static void test_tool_names(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-11-25", "2025-11-25");
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 1);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(r, "result"), "tools"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        assert_true(strlen(name) >= 1 && strlen(name) <= 128);
        assert_int_equal(strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_-."),
                         strlen(name));
    }
    json_decref(r);
}

static void test_ping(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 2; round++) {
        json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}", 1);
        char *s = pv_jrpc_dump(r);
        assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}");
        free(s);
        json_decref(r);
        if (round == 0)
            initialize(f, "2025-06-18", "2025-06-18");
    }
}

static void test_before_initialize(void **state)
{
    struct fixture *f = *state;
    static const char *const reqs[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_available_datasets\",\"arguments\":{}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/list\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *r = call(f, reqs[i], 1);
        assert_int_equal(error_code(r), PV_JRPC_INVALID_REQUEST);
        assert_string_equal(
            error_message(r),
            "the session is not initialized: send initialize first (or, in protocol "
            "version 2026-07-28, params._meta)");
        assert_int_equal(json_integer_value(json_object_get(r, "id")), (json_int_t)i + 1);
        json_decref(r);
    }
    assert_false(pv_mcp_session_initialized(f->s));
}

static void test_unknown_method(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"prompts/get\"}", 1);
    assert_int_equal(error_code(r), -32601);
    assert_string_equal(error_message(r), "method not found: prompts/get");
    json_decref(r);
}

static void test_tools_list_golden(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 1);
    json_error_t je;
    json_t *golden = json_load_file(PV_TEST_DATA "/mcp_tools_list.json", 0, &je);
    if (!golden)
        fail_msg("%s: %s", PV_TEST_DATA "/mcp_tools_list.json", je.text);
    /* PV_UPDATE_GOLDEN=1 rewrites the file from what the server lists (then
       review the diff): after a change to a tool's schema or description */
    if (getenv("PV_UPDATE_GOLDEN"))
        assert_int_equal(json_dump_file(json_object_get(r, "result"),
                                        PV_TEST_DATA "/mcp_tools_list.json",
                                        JSON_INDENT(2) | JSON_ENSURE_ASCII),
                         0);
    /* Byte for byte, key order included: clients cache and compare it. */
    char *want = json_dumps(golden, JSON_COMPACT);
    char *got = json_dumps(json_object_get(r, "result"), JSON_COMPACT);
    assert_string_equal(got, want);
    free(want);
    free(got);
    /* Every required argument is a declared property. */
    size_t i, j;
    json_t *t, *req;
    json_array_foreach(json_object_get(golden, "tools"), i, t)
    {
        json_t *in = json_object_get(t, "inputSchema");
        json_array_foreach(json_object_get(in, "required"), j, req) assert_non_null(
            json_object_get(json_object_get(in, "properties"), json_string_value(req)));
    }
    json_decref(golden);
    json_decref(r);
}

static void test_invalid_params(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    static const struct {
        const char *params, *message;
    } cases[] = {
        {NULL, "tools/call needs params {name, arguments}"},
        {"{\"arguments\":{}}", "tools/call: \"name\" must be a string"},
        {"{\"name\":7}", "tools/call: \"name\" must be a string"},
        {"{\"name\":\"get_context\",\"arguments\":[0]}",
         "tools/call: \"arguments\" must be an object"},
        {"{\"name\":\"get_context\",\"arguments\":\"x\"}",
         "tools/call: \"arguments\" must be an object"},
        {"{\"name\":\"nope\"}", "unknown tool 'nope'"},
        {"{\"name\":\"query_dataset\",\"arguments\":{\"dataset\":\"sales\"}}",
         "invalid arguments for tool query_dataset: \"query\" is required (a string)"},
        {"{\"name\":\"query_dataset\",\"arguments\":{\"dataset\":\"sales\",\"query\":1}}",
         "invalid arguments for tool query_dataset: \"query\" must be a string"},
        {"{\"name\":\"get_dataset_schema\",\"arguments\":{}}",
         "invalid arguments for tool get_dataset_schema: \"dataset\" is required (a string)"},
        {"{\"name\":\"get_dataset_sample\",\"arguments\":{\"dataset\":\"sales\",\"table\":\"t\","
         "\"limit\":0}}",
         "invalid arguments for tool get_dataset_sample: \"limit\" must be between 1 and 100"},
        {"{\"name\":\"get_dataset_sample\",\"arguments\":{\"dataset\":\"sales\",\"table\":\"t\","
         "\"limit\":2.5}}",
         "invalid arguments for tool get_dataset_sample: \"limit\" must be an integer"},
        {"{\"name\":\"get_context\",\"arguments\":{\"level\":-1}}",
         "invalid arguments for tool get_context: \"level\" must be between 0 and 3"},
        {"{\"name\":\"get_context\",\"arguments\":{\"level\":1,\"dataset\":false}}",
         "invalid arguments for tool get_context: \"dataset\" must be a string"},
        {"{\"name\":\"execute_multi_query\",\"arguments\":{\"queries\":{}}}",
         "invalid arguments for tool execute_multi_query: \"queries\" must be an array"},
        {"{\"name\":\"execute_multi_query\",\"arguments\":{\"queries\":[{\"query\":\"x\","
         "\"label\":1}]}}",
         "invalid arguments for tool execute_multi_query: queries[0].label must be a string"},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(cases); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\"%s%s}", i,
                 cases[i].params ? ",\"params\":" : "", cases[i].params ? cases[i].params : "");
        json_t *r = call(f, text, 1);
        assert_int_equal(error_code(r), PV_JRPC_INVALID_PARAMS);
        assert_string_equal(error_message(r), cases[i].message);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), (json_int_t)i);
        json_decref(r);
    }
    /* Integral reals are integers; null arguments are no arguments. */
    json_t *r = call(f,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"get_context\",\"arguments\":{\"level\":1.0}}}",
                     1);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(r, "result"), "structuredContent"), "level")),
        1);
    json_decref(r);
    r = call(f,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"list_available_datasets\",\"arguments\":null}}",
             1);
    assert_true(json_is_false(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
}

/* The structured part of a tool error, checked against its message. */
static json_t *tool_error_sc(json_t *r, const char *message)
{
    json_t *res = json_object_get(r, "result");
    assert_true(json_is_true(json_object_get(res, "isError")));
    json_t *sc = json_object_get(res, "structuredContent");
    json_t *e = json_object_get(sc, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), message);
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(text);
    assert_non_null(strstr(text, message));
    return sc;
}

static void test_unknown_dataset(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    const char *msg = "unknown dataset 'nope'; available: sales, hr";
    json_t *r = tool(f, "query_dataset", "{\"dataset\":\"nope\",\"query\":\"SELECT 1\"}");
    json_t *sc = tool_error_sc(r, msg);
    assert_true(json_is_false(json_object_get(sc, "ok")));
    assert_string_equal(json_string_value(json_object_get(sc, "dataset")), "nope");
    assert_true(json_is_null(json_object_get(json_object_get(sc, "error"), "sqlstate")));
    json_decref(r);
    r = tool(f, "get_dataset_schema", "{\"dataset\":\"nope\"}");
    sc = tool_error_sc(r, msg);
    assert_string_equal(json_string_value(json_object_get(sc, "dataset")), "nope");
    assert_int_equal(json_array_size(json_object_get(sc, "tables")), 0);
    assert_true(json_is_array(json_object_get(sc, "tables")));
    json_decref(r);
    r = tool(f, "get_dataset_sample", "{\"dataset\":\"nope\",\"table\":\"t\"}");
    tool_error_sc(r, msg);
    json_decref(r);
    r = tool(f, "get_context", "{\"level\":3,\"dataset\":\"nope\"}");
    sc = tool_error_sc(r, msg);
    assert_int_equal(json_integer_value(json_object_get(sc, "level")), 3);
    json_decref(r);
    r = tool(f, "execute_multi_query", "{\"queries\":[{\"query\":\"SELECT 1\",\"dataset_id\":3}]}");
    sc = tool_error_sc(r, "queries[0]: \"dataset_id\" must be 1..2 (datasets: sales, hr)");
    assert_int_equal(json_integer_value(json_object_get(sc, "total")), 0);
    assert_int_equal(json_array_size(json_object_get(sc, "results")), 0);
    json_decref(r);
}

static void test_cancel_unknown(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    static const char *const notes[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":"
        "12345,\"reason\":\"x\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":"
        "\"nope\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":"
        "{}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(notes); i++)
        assert_null(call(f, notes[i], 0));
    /* The session still works. */
    json_t *r = call(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 1);
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
}

static void test_shutdown_refuses_calls(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    pv_mcp_shutdown(f->m);
    json_t *r = tool(f, "query_dataset", "{\"dataset\":\"sales\",\"query\":\"SELECT 1\"}");
    tool_error_sc(r, "the server is shutting down");
    json_decref(r);
    /* Tools that need no query still answer. */
    r = tool(f, "list_available_datasets", "{}");
    assert_true(json_is_false(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
    assert_true(pv_mcp_wait_idle(f->m, 0));
}

static void test_progress_and_initialize_probes(void **state)
{
    (void)state;
    json_error_t je;
    json_t *a = json_loads("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"x\",\"_meta\":{\"progressToken\":\"t\"}}}",
                           0, &je);
    json_t *b = json_loads("[{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"_meta\":"
                           "{\"progressToken\":1}}},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
                           "\"initialize\"}]",
                           0, &je);
    json_t *c = json_loads("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                           "{\"_meta\":{\"progressToken\":{}}}}",
                           0, &je);
    assert_true(pv_mcp_wants_progress(a));
    assert_false(pv_mcp_wants_progress(b)); /* a notification: nothing to stream */
    assert_false(pv_mcp_wants_progress(c)); /* a token is a string or an integer */
    assert_false(pv_mcp_is_initialize(a));
    assert_true(pv_mcp_is_initialize(b));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* ==== calls on the engine (no server answers) ========================== */

static void test_refused_connection(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    const char *text = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"query_dataset\",\"arguments\":{\"dataset\":\"sales\",\"query\":"
                       "\"SELECT 1\",\"label\":\"one\"},\"_meta\":{\"progressToken\":\"tok\"}}}";
    struct rec rc;
    rec_init(&rc);
    struct pv_mcp_sink sink = {rec_send, rec_done, &rc};
    assert_int_equal(pv_mcp_handle_text(f->s, text, strlen(text), &sink), 1);
    assert_int_equal(rec_wait(&rc, WAIT_S), 1);
    assert_int_equal(json_array_size(rc.msgs), 1);
    assert_int_equal(json_array_size(rc.notes), 1);
    json_t *p = json_object_get(json_array_get(rc.notes, 0), "params");
    assert_string_equal(json_string_value(json_object_get(p, "progressToken")), "tok");
    assert_int_equal(json_integer_value(json_object_get(p, "progress")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 1);
    assert_string_equal(json_string_value(json_object_get(p, "message")), "one: failed (08001)");
    json_t *r = json_array_get(rc.msgs, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    json_t *res = json_object_get(r, "result");
    assert_true(json_is_true(json_object_get(res, "isError")));
    json_t *sc = json_object_get(res, "structuredContent");
    assert_true(json_is_false(json_object_get(sc, "ok")));
    assert_string_equal(json_string_value(json_object_get(sc, "label")), "one");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sc, "error"), "sqlstate")), "08001");
    const char *md = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    assert_non_null(strstr(md, "# Query failed"));
    assert_non_null(strstr(md, "**SQLSTATE**: 08001"));
    rec_fini(&rc);
    /* done comes before the call leaves the live count: wait a little. */
    assert_true(pv_mcp_wait_idle(f->m, WAIT_S * 1000));

    /* The guard refuses before any connection: 25006. */
    r = tool(f, "query_dataset", "{\"dataset\":\"sales\",\"query\":\"DELETE FROM t\"}");
    sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sc, "error"), "sqlstate")), "25006");
    json_decref(r);

    /* A schema that cannot be read is a tool error with the SQLSTATE. */
    r = tool(f, "get_dataset_schema", "{\"dataset\":\"sales\"}");
    sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sc, "error"), "sqlstate")), "08001");
    assert_true(json_is_array(json_object_get(sc, "tables")));
    json_decref(r);
}

static void test_batch_with_call(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-03-26", "2025-03-26");
    json_t *r = call(f,
                     "[{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"query_dataset\",\"arguments\":{\"dataset\":\"sales\","
                     "\"query\":\"SELECT 1\"}}},{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":"
                     "\"ping\"}]",
                     2);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 2);
    int seen = 0;
    size_t i;
    json_t *m;
    json_array_foreach(r, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        assert_non_null(id);
        if (strcmp(id, "q") == 0)
            seen += json_is_true(json_object_get(json_object_get(m, "result"), "isError"));
        else if (strcmp(id, "p") == 0)
            seen += json_is_object(json_object_get(m, "result")) ? 10 : 0;
    }
    assert_int_equal(seen, 11);
    json_decref(r);
}

/* Starts a query on the silent dataset; it stays in flight. */
static struct rec *start_hanging(struct fixture *f, int id)
{
    struct rec *rc = &f->hang;
    f->hang_used = true;
    char text[512];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"query_dataset\",\"arguments\":{\"dataset\":\"hr\",\"query\":\"SELECT 1\"}}}",
             id);
    rec_init(rc);
    struct pv_mcp_sink sink = {rec_send, rec_done, rc};
    assert_int_equal(pv_mcp_handle_text(f->s, text, strlen(text), &sink), 1);
    assert_int_equal(rec_wait(rc, 0.3), 0); /* still running */
    assert_false(pv_mcp_wait_idle(f->m, 0));
    return rc;
}

static void test_cancel_running(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    struct rec *rc = start_hanging(f, 77);
    /* Another id: nothing happens. */
    assert_null(call(f,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                     "\"requestId\":78}}",
                     0));
    assert_int_equal(rec_wait(rc, 0.3), 0);
    /* Its id: the input completes, unanswered. */
    assert_null(call(f,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                     "\"requestId\":77}}",
                     0));
    assert_int_equal(rec_wait(rc, WAIT_S), 1);
    assert_int_equal(rec_count(rc), 0);
    assert_true(pv_mcp_wait_idle(f->m, WAIT_S * 1000));
}

static void test_inflight_limit(void **state)
{
    struct fixture *f = *state; /* max_inflight = 1 */
    initialize(f, "2025-06-18", "2025-06-18");
    struct rec *rc = start_hanging(f, 1);
    json_t *r = tool(f, "query_dataset", "{\"dataset\":\"sales\",\"query\":\"SELECT 1\"}");
    tool_error_sc(r, "too many tool calls running in this session (at most 1); wait for some to "
                     "finish");
    json_decref(r);
    /* Tools that need no query are not limited. */
    r = tool(f, "get_context", "{}");
    assert_true(json_is_false(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
    pv_mcp_session_cancel(f->s);
    assert_int_equal(rec_wait(rc, WAIT_S), 1);
    assert_int_equal(rec_count(rc), 0);
}

static void test_release_running(void **state)
{
    struct fixture *f = *state;
    initialize(f, "2025-06-18", "2025-06-18");
    struct rec *rc = start_hanging(f, 3);
    pv_mcp_session_release(f->s);
    f->s = NULL;
    assert_int_equal(rec_wait(rc, WAIT_S), 1);
    assert_int_equal(rec_count(rc), 0);
    assert_true(pv_mcp_wait_idle(f->m, WAIT_S * 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_initialize_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initialize_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modern_stateless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_by_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_initialize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_list_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_dataset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_without_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_refuses_calls, setup, teardown),
        cmocka_unit_test(test_progress_and_initialize_probes),
        cmocka_unit_test(test_quote_table),
        cmocka_unit_test_setup_teardown(test_refused_connection, setup_engine, teardown),
        cmocka_unit_test_setup_teardown(test_batch_with_call, setup_engine, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_running, setup_engine, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_limit, setup_engine_one, teardown),
        cmocka_unit_test_setup_teardown(test_release_running, setup_engine, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
