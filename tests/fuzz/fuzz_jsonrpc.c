/*
 * fuzz_jsonrpc.c - libFuzzer harness for the JSON-RPC layer of the MCP
 * server (src/mcp/pv_jsonrpc.c): pv_jrpc_parse on the input, then
 * pv_jrpc_classify on each message, and the answers built for them.
 * Build and run with `make fuzz` (see the Makefile).
 *
 * Contracts (a broken one aborts):
 * - parse succeeds exactly when jansson (duplicates rejected, any value)
 *   reads the input as an object or a non-empty array; on failure the
 *   code is VOLLEY_EINPUT (never "out of memory") with a one-line message
 *   and an error reply: id null, code -32700 (not JSON) or -32600;
 * - classify: a request has a string method and a string or integer id, a
 *   notification has no id, params are absent, an object or an array; a
 *   response has exactly one of result and error; an invalid message has a
 *   one-line reason;
 * - every reply built (result, error with the reason, notification)
 *   serialises with pv_jrpc_dump to one line that reads back equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcp/pv_jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_jsonrpc: contract broken: %s\n", what);
        abort();
    }
}

/* m serialises to one line that reads back equal; consumes m. */
static void check_roundtrip(json_t *m, const char *what)
{
    check(m != NULL, what);
    char *text = pv_jrpc_dump(m);
    check(text && !strchr(text, '\n'), "dump is not one line");
    json_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
    check(back && json_equal(back, m), "dump does not read back");
    json_decref(back);
    free(text);
    json_decref(m);
}

static void check_message(json_t *m)
{
    struct pv_jrpc_msg jm;
    pv_err err;
    memset(&err, 0, sizeof(err));
    enum pv_jrpc_kind kind = pv_jrpc_classify(m, &jm, &err);
    check(kind == jm.kind, "kind returned and stored differ");
    switch (kind) {
    case PV_JRPC_REQUEST:
        check(jm.method && json_is_string(json_object_get(m, "method")), "request method");
        check(pv_jrpc_id_valid(jm.id) && jm.id == json_object_get(m, "id"), "request id");
        check(!jm.params || json_is_object(jm.params) || json_is_array(jm.params), "params");
        check_roundtrip(pv_jrpc_result(jm.id, json_object()), "result");
        check_roundtrip(pv_jrpc_error(jm.id, PV_JRPC_METHOD_NOT_FOUND, jm.method, NULL),
                        "method-not-found error with the method");
        break;
    case PV_JRPC_NOTIFICATION:
        check(jm.method && !json_object_get(m, "id"), "notification");
        check(!jm.params || json_is_object(jm.params) || json_is_array(jm.params), "params");
        check_roundtrip(pv_jrpc_notification(jm.method, json_incref(jm.params)), "notification");
        break;
    case PV_JRPC_RESPONSE:
        check(!json_object_get(m, "method"), "response with a method");
        check((jm.result != NULL) != (jm.error != NULL), "result xor error");
        check(json_object_get(m, "id") != NULL, "response id");
        break;
    case PV_JRPC_INVALID:
        check(err.msg[0] && !strchr(err.msg, '\n'), "invalid: one-line reason");
        check(!jm.id || pv_jrpc_id_valid(jm.id), "invalid: id");
        check_roundtrip(pv_jrpc_error(jm.id, PV_JRPC_INVALID_REQUEST, err.msg, NULL),
                        "invalid-request error with the reason");
        break;
    default: check(0, "unknown kind");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *oracle =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    int want_ok = oracle && (json_is_object(oracle) ||
                             (json_is_array(oracle) && json_array_size(oracle) > 0));

    json_t *root = NULL, *reply = NULL;
    pv_err err;
    memset(&err, 0, sizeof(err));
    int rc = pv_jrpc_parse((const char *)data, size, &root, &reply, &err);
    if (rc == 0) {
        check(want_ok, "parse accepted what is not a message or a batch");
        check(root && !reply, "parse: out and reply");
        if (json_is_array(root)) {
            size_t i;
            json_t *m;
            json_array_foreach(root, i, m) check_message(m);
        } else {
            check_message(root);
        }
        json_decref(root);
    } else {
        check(!want_ok, "parse refused a message or a batch");
        check(rc == VOLLEY_EINPUT, "parse failed other than VOLLEY_EINPUT (no reply)");
        check(!root && reply, "parse: no reply");
        check(err.msg[0] && !strchr(err.msg, '\n'), "parse: one-line message");
        json_t *e = json_object_get(reply, "error");
        json_int_t code = json_integer_value(json_object_get(e, "code"));
        check(json_is_null(json_object_get(reply, "id")), "reply id is not null");
        check(code == (oracle ? PV_JRPC_INVALID_REQUEST : PV_JRPC_PARSE_ERROR), "reply code");
        check_roundtrip(reply, "reply");
    }
    json_decref(oracle);
    return 0;
}
