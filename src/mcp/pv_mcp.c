/*
 * pv_mcp.c - the MCP protocol layer, independent of the transport (see
 * pv_mcp.h): initialize and version negotiation, ping, tools/list,
 * tools/call dispatched through the tool table, notifications/cancelled,
 * and batches.
 *
 * pv_mcp_handle classifies each message of an input (one message or a
 * batch) and answers what it can at once: initialize, ping, tools/list, and
 * the tools that need no database (or find the schema in the cache). A tool
 * call that needs the database is started by its handler and answered
 * later by the completion thread (pv_mcp_server.c), through the input's
 * exchange, which calls sink->done after the last answer.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp_int.h"

/* The protocol versions we speak, newest first. */
static const char *const versions[] = {PV_MCP_LATEST_VERSION, "2025-03-26", "2024-11-05"};

bool pv_mcp_version_supported(const char *version)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        if (strcmp(version, versions[i]) == 0)
            return true;
    return false;
}

/* The call's arguments: an object, or NULL when they are not (-32602). */
static json_t *call_args(json_t *params, json_t *id, json_t **resp)
{
    if (!json_is_object(params)) {
        *resp = pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                              "tools/call needs params {name, arguments}", NULL);
        return NULL;
    }
    if (!json_is_string(json_object_get(params, "name"))) {
        *resp = pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, "tools/call: \"name\" must be a string",
                              NULL);
        return NULL;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        *resp = pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                              "tools/call: \"arguments\" must be an object", NULL);
        return NULL;
    }
    args = json_is_object(args) ? json_incref(args) : json_object();
    if (!args)
        *resp = pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    return args;
}

/*
 * tools/call. Returns the response to send now, or NULL when the call was
 * started (it answers through x later).
 */
static json_t *handle_tools_call(pv_mcp_session *s, struct pv_mcp__exch *x, json_t *id,
                                 json_t *params)
{
    json_t *resp = NULL;
    json_t *args = call_args(params, id, &resp);
    if (!args)
        return resp;
    const char *name = json_string_value(json_object_get(params, "name"));
    const struct pv_mcp__tool *tool = pv_mcp__tool_find(name);
    if (!tool) {
        json_decref(args);
        pv_buf msg = PV_BUF_INIT;
        pv_buf_printf(&msg, "unknown tool '%s'", name);
        json_t *r = pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, pv_buf_str(&msg), NULL);
        pv_buf_fini(&msg);
        return r;
    }
    struct pv_mcp__call *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(args);
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    }
    c->tool = tool;
    c->x = x;
    c->id = json_incref(id);
    json_t *tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        c->progress = json_incref(tok);

    /* The handler takes c: either it started a call (which answers x
       later, in place of this request) or the tool answers now. */
    struct pv_mcp__argerr e = {{0}};
    bool started = false;
    json_t *result = tool->handler(s, c, args, &e, &started);
    json_decref(args);
    if (started)
        return NULL;
    if (e.msg[0])
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, e.msg, NULL);
    if (!result)
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    return pv_jrpc_result(id, result);
}

static json_t *handle_initialize(pv_mcp_session *s, json_t *id, json_t *params)
{
    pv_mcp *m = s->m;
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_object(params) || !json_is_string(pv))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                             "initialize: \"protocolVersion\" (a string) is required", NULL);
    const char *chosen = versions[0];
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        if (strcmp(json_string_value(pv), versions[i]) == 0)
            chosen = versions[i];
    pthread_mutex_lock(&s->mu);
    bool again = s->initialized;
    if (!again) {
        s->initialized = true;
        s->version = chosen;
    }
    pthread_mutex_unlock(&s->mu);
    if (again)
        return pv_jrpc_error(id, PV_JRPC_INVALID_REQUEST, "the session is already initialized",
                             NULL);
    return pv_jrpc_result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
                                        "protocolVersion", chosen, "capabilities", "tools",
                                        "listChanged", 0, "serverInfo", "name", "pgvolley", "title",
                                        "pgvolley (read-only PostgreSQL datasets)", "version",
                                        m->version, "instructions", m->instructions));
}

static void handle_cancelled(pv_mcp_session *s, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    if (!pv_jrpc_id_valid(rid))
        return;
    pthread_mutex_lock(&s->mu);
    for (struct pv_mcp__call *c = s->calls; c; c = c->next)
        if (json_equal(c->id, rid))
            pv_mcp__call_cancel_locked(c, true);
    pthread_mutex_unlock(&s->mu);
}

/* One message of an input. */
static void handle_one(pv_mcp_session *s, struct pv_mcp__exch *x, json_t *msg, size_t *nreq)
{
    struct pv_jrpc_msg jm;
    pv_err err = {{0}};
    enum pv_jrpc_kind kind = pv_jrpc_classify(msg, &jm, &err);
    if (kind == PV_JRPC_RESPONSE)
        return; /* we send no requests; nothing to match */
    if (kind == PV_JRPC_NOTIFICATION) {
        if (strcmp(jm.method, "notifications/cancelled") == 0)
            handle_cancelled(s, jm.params);
        /* notifications/initialized and others need nothing */
        return;
    }
    (*nreq)++;
    pv_mcp__exch_add(x);
    if (kind == PV_JRPC_INVALID) {
        pv_mcp__exch_answer(x, pv_jrpc_error(jm.id, PV_JRPC_INVALID_REQUEST, err.msg, NULL));
        return;
    }
    json_t *resp;
    const char *method = jm.method;
    if (jm.params && !json_is_object(jm.params)) {
        resp = pv_jrpc_error(jm.id, PV_JRPC_INVALID_PARAMS, "params must be an object", NULL);
    } else if (strcmp(method, "initialize") == 0) {
        resp = handle_initialize(s, jm.id, jm.params);
    } else if (strcmp(method, "ping") == 0) {
        resp = pv_jrpc_result(jm.id, json_object());
    } else if (!pv_mcp_session_initialized(s)) {
        resp = pv_jrpc_error(jm.id, PV_JRPC_INVALID_REQUEST,
                             "the session is not initialized: send initialize first", NULL);
    } else if (strcmp(method, "tools/list") == 0) {
        resp = pv_jrpc_result(jm.id, json_deep_copy(s->m->tools));
    } else if (strcmp(method, "tools/call") == 0) {
        resp = handle_tools_call(s, x, jm.id, jm.params);
        if (!resp)
            return; /* answers later */
    } else {
        pv_buf b = PV_BUF_INIT;
        pv_buf_printf(&b, "method not found: %s", method);
        resp = pv_jrpc_error(jm.id, PV_JRPC_METHOD_NOT_FOUND, pv_buf_str(&b), NULL);
        pv_buf_fini(&b);
    }
    pv_mcp__exch_answer(x, resp);
}

size_t pv_mcp_handle(pv_mcp_session *s, json_t *root, const struct pv_mcp_sink *sink)
{
    bool batch = json_is_array(root);
    struct pv_mcp__exch *x = pv_mcp__exch_new(sink, batch);
    if (!x) {
        sink->done(sink->arg);
        return 0;
    }
    size_t nreq = 0;
    if (batch) {
        size_t i;
        json_t *msg;
        json_array_foreach(root, i, msg) handle_one(s, x, msg, &nreq);
    } else {
        handle_one(s, x, root, &nreq);
    }
    pv_mcp__exch_answer(x, NULL);
    return nreq;
}

size_t pv_mcp_handle_text(pv_mcp_session *s, const char *text, size_t len,
                          const struct pv_mcp_sink *sink)
{
    json_t *root = NULL, *reply = NULL;
    pv_err err = {{0}};
    if (pv_jrpc_parse(text, len, &root, &reply, &err) == 0) {
        size_t n = pv_mcp_handle(s, root, sink);
        json_decref(root);
        return n;
    }
    if (reply)
        sink->send(sink->arg, reply, false);
    json_decref(reply);
    sink->done(sink->arg);
    return 1;
}

static bool wants_progress_one(json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    if (!json_is_string(method) || strcmp(json_string_value(method), "tools/call") != 0 ||
        !json_object_get(msg, "id"))
        return false;
    json_t *tok =
        json_object_get(json_object_get(json_object_get(msg, "params"), "_meta"), "progressToken");
    return json_is_string(tok) || json_is_integer(tok);
}

bool pv_mcp_wants_progress(json_t *root)
{
    if (!json_is_array(root))
        return wants_progress_one(root);
    size_t i;
    json_t *msg;
    json_array_foreach(root, i, msg) if (wants_progress_one(msg)) return true;
    return false;
}

static bool is_initialize_one(json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    return json_is_string(method) && strcmp(json_string_value(method), "initialize") == 0 &&
           json_object_get(msg, "id");
}

bool pv_mcp_is_initialize(json_t *root)
{
    if (!json_is_array(root))
        return is_initialize_one(root);
    size_t i;
    json_t *msg;
    json_array_foreach(root, i, msg) if (is_initialize_one(msg)) return true;
    return false;
}
