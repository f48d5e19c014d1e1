/*
 * test_mcp_jsonrpc.c - JSON-RPC 2.0 framing and validation, and the MCP
 * protocol paths of the server that need no database (initialize, ping,
 * tools/list, argument errors, tools answered without a query, table-name
 * quoting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"

/* ==== framing ========================================================== */

static json_t *parse_ok(const char *text)
{
    json_t *root = NULL, *reply = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_jrpc_parse(text, strlen(text), &root, &reply, &err), 0);
    assert_null(reply);
    assert_non_null(root);
    return root;
}

/* Parses text that must fail; returns the error code of the reply. */
static int parse_fail(const char *text)
{
    json_t *root = NULL, *reply = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_jrpc_parse(text, strlen(text), &root, &reply, &err), VOLLEY_EINPUT);
    assert_null(root);
    assert_non_null(reply);
    assert_true(err.msg[0] != '\0');
    assert_string_equal(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
    assert_true(json_is_null(json_object_get(reply, "id")));
    json_t *e = json_object_get(reply, "error");
    assert_true(json_is_string(json_object_get(e, "message")));
    int code = (int)json_integer_value(json_object_get(e, "code"));
    json_decref(reply);
    return code;
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_int_equal(parse_fail("{\"jsonrpc\": \"2.0\", \"method\": \"foo\", \"params\": \"bar\", "
                                "\"baz]"),
                     PV_JRPC_PARSE_ERROR);
    assert_int_equal(parse_fail(""), PV_JRPC_PARSE_ERROR);
    assert_int_equal(parse_fail("{\"a\":1,\"a\":2}"), PV_JRPC_PARSE_ERROR); /* duplicate key */
    assert_int_equal(parse_fail("{} trailing"), PV_JRPC_PARSE_ERROR);
    assert_int_equal(parse_fail("[{\"jsonrpc\":\"2.0\",\"method\":\"sum\"},{\"jsonrpc\""),
                     PV_JRPC_PARSE_ERROR);
    /* Valid JSON but not a message: invalid request. */
    assert_int_equal(parse_fail("[]"), PV_JRPC_INVALID_REQUEST);
    assert_int_equal(parse_fail("1"), PV_JRPC_INVALID_REQUEST);
    assert_int_equal(parse_fail("\"x\""), PV_JRPC_INVALID_REQUEST);
    assert_int_equal(parse_fail("null"), PV_JRPC_INVALID_REQUEST);
}

static void test_parse_ok(void **state)
{
    (void)state;
    json_t *m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}");
    assert_true(json_is_object(m));
    json_decref(m);
    json_t *b = parse_ok("[1, {\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]");
    assert_true(json_is_array(b));
    assert_int_equal(json_array_size(b), 2);
    json_decref(b);
}

static enum pv_jrpc_kind classify(const char *text, struct pv_jrpc_msg *m, json_t **keep)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    assert_non_null(j);
    pv_err err = {{0}};
    enum pv_jrpc_kind k = pv_jrpc_classify(j, m, &err);
    if (k == PV_JRPC_INVALID)
        assert_true(err.msg[0] != '\0');
    *keep = j;
    return k;
}

static void test_classify_requests(void **state)
{
    (void)state;
    struct pv_jrpc_msg m;
    json_t *j;
    assert_int_equal(classify("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[42,23],"
                              "\"id\":1}",
                              &m, &j),
                     PV_JRPC_REQUEST);
    assert_string_equal(m.method, "subtract");
    assert_int_equal(json_integer_value(m.id), 1);
    assert_true(json_is_array(m.params));
    json_decref(j);

    assert_int_equal(
        classify("{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\",\"id\":\"abc\"}", &m, &j),
        PV_JRPC_REQUEST);
    assert_string_equal(json_string_value(m.id), "abc");
    assert_null(m.params);
    json_decref(j);

    assert_int_equal(
        classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m, &j),
        PV_JRPC_NOTIFICATION);
    assert_null(m.id);
    json_decref(j);

    assert_int_equal(
        classify("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":1}}", &m, &j),
        PV_JRPC_NOTIFICATION);
    assert_true(json_is_object(m.params));
    json_decref(j);
}

static void test_classify_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1",
        "[]",
        "{}",
        "{\"jsonrpc\":\"1.0\",\"method\":\"x\",\"id\":1}",
        "{\"jsonrpc\":2.0,\"method\":\"x\",\"id\":1}",
        "{\"method\":\"x\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"bar\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":null}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1.5}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":[1]}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":true}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"m\"}}",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}",
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(bad); i++) {
        struct pv_jrpc_msg m;
        json_t *j;
        enum pv_jrpc_kind k = classify(bad[i], &m, &j);
        if (k != PV_JRPC_INVALID)
            fail_msg("accepted as kind %d: %s", (int)k, bad[i]);
        json_decref(j);
    }
    /* The id of an invalid message is kept when it is readable. */
    struct pv_jrpc_msg m;
    json_t *j;
    assert_int_equal(classify("{\"jsonrpc\":\"1.0\",\"method\":\"x\",\"id\":7}", &m, &j),
                     PV_JRPC_INVALID);
    assert_int_equal(json_integer_value(m.id), 7);
    json_decref(j);
    assert_int_equal(classify("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1.5}", &m, &j),
                     PV_JRPC_INVALID);
    assert_null(m.id);
    json_decref(j);
}

static void test_classify_responses(void **state)
{
    (void)state;
    struct pv_jrpc_msg m;
    json_t *j;
    assert_int_equal(classify("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"a\":1}}", &m, &j),
                     PV_JRPC_RESPONSE);
    assert_non_null(m.result);
    assert_null(m.error);
    json_decref(j);
    assert_int_equal(classify("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                              "\"message\":\"Parse error\"}}",
                              &m, &j),
                     PV_JRPC_RESPONSE);
    assert_non_null(m.error);
    json_decref(j);
}

static void test_builders(void **state)
{
    (void)state;
    json_t *id = json_integer(5);
    json_t *r = pv_jrpc_result(id, json_pack("{s:i}", "x", 1));
    char *s = pv_jrpc_dump(r);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"x\":1}}");
    free(s);
    json_decref(r);

    r = pv_jrpc_error(id, PV_JRPC_METHOD_NOT_FOUND, NULL, NULL);
    s = pv_jrpc_dump(r);
    assert_string_equal(
        s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":\"Method not "
           "found\"}}");
    free(s);
    json_decref(r);
    json_decref(id);

    r = pv_jrpc_error(NULL, PV_JRPC_INVALID_PARAMS, "bad", json_string("detail"));
    s = pv_jrpc_dump(r);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32602,"
                           "\"message\":\"bad\",\"data\":\"detail\"}}");
    free(s);
    json_decref(r);

    json_t *sid = json_string("a\nb");
    r = pv_jrpc_result(sid, json_object());
    s = pv_jrpc_dump(r);
    assert_null(strchr(s, '\n')); /* one line, always */
    free(s);
    json_decref(r);
    json_decref(sid);

    r = pv_jrpc_notification("notifications/progress", json_pack("{s:i}", "progress", 1));
    assert_null(json_object_get(r, "id"));
    assert_string_equal(json_string_value(json_object_get(r, "method")), "notifications/progress");
    json_decref(r);

    assert_string_equal(pv_jrpc_code_message(PV_JRPC_PARSE_ERROR), "Parse error");
    assert_string_equal(pv_jrpc_code_message(PV_JRPC_INVALID_REQUEST), "Invalid Request");
    assert_string_equal(pv_jrpc_code_message(PV_JRPC_INTERNAL_ERROR), "Internal error");
}

/* ==== server, no database ============================================== */

struct collect {
    pthread_mutex_t mu;
    json_t *msgs;
    int done;
};

static void c_send(void *arg, json_t *msg, bool notification)
{
    (void)notification;
    struct collect *c = arg;
    pthread_mutex_lock(&c->mu);
    json_array_append(c->msgs, msg);
    pthread_mutex_unlock(&c->mu);
}

static void c_done(void *arg)
{
    struct collect *c = arg;
    pthread_mutex_lock(&c->mu);
    c->done++;
    pthread_mutex_unlock(&c->mu);
}

struct fixture {
    pv_datasets *ds;
    pv_mcp *m;
    pv_mcp_session *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    pv_err err = {{0}};
    const char ini[] = "[sales]\ndsn = dbname=sales\ndescription = Orders and customers\n"
                       "[hr]\ndsn = dbname=hr\n";
    if (pv_datasets_parse("test.ini", ini, &f->ds, &err) != 0)
        return -1;
    /* No engine: these tests never reach a query. */
    if (pv_mcp_create(f->ds, NULL, NULL, &f->m) != 0)
        return -1;
    if (pv_mcp_session_create(f->m, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pv_mcp_session_release(f->s);
    pv_mcp_destroy(f->m);
    pv_datasets_destroy(f->ds);
    free(f);
    return 0;
}

/* Sends text; returns the one message answered (new reference) or NULL. */
static json_t *call(struct fixture *f, const char *text, size_t expect_nreq)
{
    struct collect c = {.msgs = json_array()};
    pthread_mutex_init(&c.mu, NULL);
    struct pv_mcp_sink sink = {c_send, c_done, &c};
    size_t n = pv_mcp_handle_text(f->s, text, strlen(text), &sink);
    assert_int_equal(n, expect_nreq);
    assert_int_equal(c.done, 1);
    assert_true(json_array_size(c.msgs) <= 1);
    json_t *r = json_incref(json_array_get(c.msgs, 0));
    json_decref(c.msgs);
    pthread_mutex_destroy(&c.mu);
    return r;
}

static int error_code(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    assert_non_null(e);
    return (int)json_integer_value(json_object_get(e, "code"));
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
    /* An unknown version is answered with our latest. */
    initialize(f, "1999-01-01", PV_MCP_LATEST_VERSION);
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
    assert_int_equal(json_array_size(tools), 6);
    static const char *const names[] = {"list_available_datasets", "get_dataset_schema",
                                        "query_dataset",           "get_dataset_sample",
                                        "execute_multi_query",     "get_context"};
    for (size_t i = 0; i < 6; i++) {
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_classify_requests),
        cmocka_unit_test(test_classify_invalid),
        cmocka_unit_test(test_classify_responses),
        cmocka_unit_test(test_builders),
        cmocka_unit_test_setup_teardown(test_initialize_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initialize_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_without_queries, setup, teardown),
        cmocka_unit_test(test_quote_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
