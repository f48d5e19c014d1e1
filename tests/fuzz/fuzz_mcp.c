/*
 * fuzz_mcp.c - libFuzzer harness for the MCP protocol layer
 * (src/mcp/pv_mcp*.c) through its transport-independent entry point,
 * pv_mcp_handle_text, with a recording sink, as tests/unit/test_mcp_protocol.c
 * drives it: no database; the one dataset, "sales", is on a closed port
 * (127.0.0.1:1), so a tool call that reaches the batch engine ends at once
 * with a connection error. Build and run with `make fuzz` (see the Makefile).
 *
 * Each input gets a fresh session. The first input byte: odd, the session
 * is initialized first (initialize + notifications/initialized, protocol
 * version picked by bits 1-2: 2025-06-18, 2025-03-26, 2024-11-05 or
 * 2025-11-25); even, it is not (stateless 2026-07-28 requests are served
 * there); the rest is the text handled.
 *
 * Contracts (a broken one aborts; a hang is a libFuzzer timeout):
 * - sink->done comes exactly once, within 20 s;
 * - nothing is sent when the returned request count is 0; otherwise at
 *   most one message: for a batch in a session that negotiated 2025-03-26
 *   or 2024-11-05 an array of at most that many responses (exactly that many when no
 *   notifications/cancelled is in it), for any other batch one -32600
 *   error with id null counted as one request, else one response;
 * - every response is {"jsonrpc":"2.0", "id", and exactly one of "result"
 *   and "error"}, an error with an integer code and a string message, and
 *   serialises to one line that reads back equal.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WAIT_S 20

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_mcp: contract broken: %s\n", what);
        abort();
    }
}

struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *msgs;
    int done;
};

static void rec_send(void *arg, json_t *msg, bool notification)
{
    struct rec *r = arg;
    pthread_mutex_lock(&r->mu);
    check(r->done == 0, "send after done");
    if (!notification)
        json_array_append(r->msgs, msg);
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

/* Handles text on s; returns the messages sent (new reference) and *nreq. */
static json_t *handle(pv_mcp_session *s, const char *text, size_t len, size_t *nreq)
{
    struct rec r = {.msgs = json_array()};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    struct pv_mcp_sink sink = {rec_send, rec_done, &r};
    *nreq = pv_mcp_handle_text(s, text, len, &sink);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_S;
    pthread_mutex_lock(&r.mu);
    while (r.done == 0 && pthread_cond_timedwait(&r.cv, &r.mu, &dl) == 0)
        ;
    check(r.done == 1, "done did not come (or came twice)");
    pthread_mutex_unlock(&r.mu);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return r.msgs;
}

static void check_response(json_t *m)
{
    check(json_is_object(m), "a response is not an object");
    json_t *v = json_object_get(m, "jsonrpc");
    check(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0, "jsonrpc 2.0");
    json_t *id = json_object_get(m, "id");
    check(id && (json_is_null(id) || pv_jrpc_id_valid(id)), "response id");
    json_t *res = json_object_get(m, "result"), *err = json_object_get(m, "error");
    check((res != NULL) != (err != NULL), "result xor error");
    if (err) {
        check(json_is_integer(json_object_get(err, "code")), "error code");
        check(json_is_string(json_object_get(err, "message")), "error message");
    } else {
        check(json_is_object(res), "result is not an object");
    }
    char *text = pv_jrpc_dump(m);
    check(text && !strchr(text, '\n'), "dump is not one line");
    json_t *back = json_loads(text, 0, NULL);
    check(back && json_equal(back, m), "dump does not read back");
    json_decref(back);
    free(text);
}

static pv_mcp *server(void)
{
    static pv_mcp *m;
    if (m)
        return m;
    pv_datasets *ds = NULL;
    pv_batch_engine *engine = NULL;
    pv_err err = {{0}};
    check(pv_datasets_parse("fuzz.ini",
                            "[sales]\ndsn = host=127.0.0.1 port=1 dbname=sales\n"
                            "description = Orders and customers\nstatement_timeout_ms = 2000\n"
                            "connect_timeout_s = 2\n",
                            &ds, &err) == 0,
          err.msg);
    check(pv_batch_engine_create(ds, NULL, &engine, &err) == 0, err.msg);
    struct pv_mcp_opts o = {.version = "fuzz", .schema_ttl_s = 0.001};
    check(pv_mcp_create(ds, engine, &o, &m) == 0, "pv_mcp_create");
    return m; /* lives until the process exits */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    pv_mcp *m = server();
    pv_mcp_session *s = NULL;
    check(pv_mcp_session_create(m, &s) == 0, "session");
    size_t nreq;
    if (data[0] & 1) {
        static const char *const versions[] = {"2025-06-18", "2025-03-26", "2024-11-05",
                                               "2025-11-25"};
        char init[256];
        int n = snprintf(init, sizeof(init),
                         "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                         "\"protocolVersion\":\"%s\",\"capabilities\":{},"
                         "\"clientInfo\":{\"name\":\"fuzz\",\"version\":\"1\"}}}",
                         versions[(data[0] >> 1) & 3]);
        json_t *a = handle(s, init, (size_t)n, &nreq);
        check(nreq == 1 && json_array_size(a) == 1, "initialize answered once");
        json_decref(a);
        check(pv_mcp_session_initialized(s), "initialized");
        static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
        a = handle(s, note, sizeof(note) - 1, &nreq);
        check(nreq == 0 && json_array_size(a) == 0, "a notification is not answered");
        json_decref(a);
    }

    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_t *sent = handle(s, text, len, &nreq);
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    bool batch = json_is_array(root) && json_array_size(root) > 0;
    bool batches_allowed = strcmp(pv_mcp_session_version(s), "2025-03-26") == 0 ||
                           strcmp(pv_mcp_session_version(s), "2024-11-05") == 0;
    if (nreq == 0) {
        check(json_array_size(sent) == 0, "answered an input without requests");
    } else {
        check(json_array_size(sent) <= 1, "more than one message for one input");
        json_t *msg = json_array_get(sent, 0);
        bool cancels = memmem(text, len, "notifications/cancelled", 23) != NULL;
        if (!msg) {
            /* Only a tool call cancelled by a later message of its batch. */
            check(batch && cancels, "a request was not answered");
        } else if (batch && !batches_allowed) {
            check(nreq == 1 && json_is_object(msg) && json_is_null(json_object_get(msg, "id")) &&
                      json_integer_value(json_object_get(json_object_get(msg, "error"), "code")) ==
                          PV_JRPC_INVALID_REQUEST,
                  "a batch the version forbids is not refused with one -32600");
            check_response(msg);
        } else if (batch) {
            check(json_is_array(msg), "a batch is not answered with an array");
            check(json_array_size(msg) > 0 && json_array_size(msg) <= nreq &&
                      (cancels || json_array_size(msg) == nreq),
                  "a batch's answers do not match its requests");
            size_t i;
            json_t *r;
            json_array_foreach(msg, i, r) check_response(r);
        } else {
            check_response(msg);
        }
    }
    json_decref(root);
    json_decref(sent);
    pv_mcp_session_release(s);
    return 0;
}
