/*
 * test_mcp_jsonrpc.c - JSON-RPC 2.0 framing and validation (pv_jsonrpc);
 * the MCP protocol layer on top of it is tested in test_mcp_protocol.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/pv_jsonrpc.h"

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
    assert_null(strchr(err.msg, '\n')); /* one line */
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
    /* found by fuzz_mcp: jansson quotes the text near the error, here an
       escape of a non-ASCII byte; the reply must exist all the same */
    assert_int_equal(parse_fail("{\"table\":\"public.\\\xde\xa6rder\"}"), PV_JRPC_PARSE_ERROR);
    /* found by fuzz_jsonrpc: a raw newline in the text jansson quotes */
    assert_int_equal(parse_fail("{\"\xee\xaa\xa2\\\n\xb0\x9c\x7f"), PV_JRPC_PARSE_ERROR);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),       cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_classify_requests),  cmocka_unit_test(test_classify_invalid),
        cmocka_unit_test(test_classify_responses), cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
