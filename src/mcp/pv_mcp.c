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
static const struct pv_mcp__version versions[] = {
    {PV_MCP_LATEST_VERSION, true, false, true}, {PV_MCP_LATEST_LEGACY_VERSION, false, false, true},
    {"2025-06-18", false, false, false},        {"2025-03-26", false, true, false},
    {"2024-11-05", false, true, false},
};

#define CACHE_TTL_MS 300000 /* tools/list and server/discover: our tools never change */

static const struct pv_mcp__version *version_find(const char *name)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        if (strcmp(name, versions[i].name) == 0)
            return &versions[i];
    return NULL;
}

bool pv_mcp_version_supported(const char *version)
{
    return version_find(version) != NULL;
}

bool pv_mcp_version_modern(const char *version)
{
    const struct pv_mcp__version *v = version_find(version);
    return v && v->modern;
}

void pv_mcp_put_versions(pv_buf *b)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        pv_buf_printf(b, "%s%s", i ? ", " : "", versions[i].name);
}

static json_t *versions_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < PV_ARRAY_LEN(versions); i++)
        json_array_append_new(a, json_string(versions[i].name));
    return a;
}

const char *pv_mcp_request_version(json_t *root)
{
    json_t *method = json_object_get(root, "method");
    if (!json_is_object(root) || !json_object_get(root, "id") || !json_is_string(method) ||
        strcmp(json_string_value(method), "initialize") == 0)
        return NULL;
    json_t *meta = json_object_get(json_object_get(root, "params"), "_meta");
    return json_string_value(json_object_get(meta, PV_MCP_META_VERSION));
}

/*
 * The structured content of a tool error that still matches the tool's
 * declared outputSchema: each required property with an empty value of its
 * type (clients validate structuredContent also when isError is set).
 */
static json_t *empty_output(const struct pv_mcp__tool *tool)
{
    json_t *schema = tool->output_schema();
    json_t *out = json_object();
    json_t *props = json_object_get(schema, "properties");
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(schema, "required"), i, name)
    {
        const char *key = json_string_value(name);
        const char *type = json_string_value(json_object_get(json_object_get(props, key), "type"));
        json_t *v = !type                          ? json_null()
                    : strcmp(type, "array") == 0   ? json_array()
                    : strcmp(type, "object") == 0  ? json_object()
                    : strcmp(type, "string") == 0  ? json_string("")
                    : strcmp(type, "boolean") == 0 ? json_false()
                    : strcmp(type, "integer") == 0 ? json_integer(0)
                    : strcmp(type, "number") == 0  ? json_real(0)
                                                   : json_null();
        if (key && out)
            json_object_set_new(out, key, v);
        else
            json_decref(v);
    }
    json_decref(schema);
    return out;
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
static json_t *tools_call(pv_mcp_session *s, struct pv_mcp__exch *x, json_t *id, json_t *params,
                          const struct pv_mcp__version *v)
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
    uint64_t t0 = pv_now_ns();
    /* The limits and the policy come before any work (docs/mcp-limits.md). */
    int wait = pv_mcp__rate_take(s);
    char msg[PV_ERR_LEN];
    const char *refusal = wait ? NULL : pv_mcp__tool_refused(s->m, name, args, msg, sizeof(msg));
    if (wait || refusal) {
        json_t *r = wait ? pv_mcp__rate_fail(empty_output(tool), wait)
                         : pv_mcp__tool_fail(empty_output(tool), NULL, "%s", refusal);
        pv_mcp__audit(s, name, args, NULL, r, 0, wait ? "rate_limited" : "refused");
        json_decref(args);
        return r ? pv_jrpc_result(id, r)
                 : pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    }
    struct pv_mcp__call *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(args);
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    }
    c->tool = tool;
    c->x = x;
    c->id = json_incref(id);
    c->args = json_incref(args);
    json_t *tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        c->progress = json_incref(tok);

    /* The handler takes c: either it started a call (which answers x
       later, in place of this request) or the tool answers now. */
    struct pv_mcp__argerr e = {{0}};
    bool started = false;
    json_t *result = tool->handler(s, c, args, &e, &started);
    if (started) {
        json_decref(args);
        return NULL; /* audited when it ends */
    }
    double ms = (double)(pv_now_ns() - t0) / PV_MCP__NS_PER_MS;
    if (e.msg[0] && v && v->input_errors) /* 2025-11-25 on: the model may correct itself */
        result = pv_mcp__tool_fail(empty_output(tool), NULL, "%s", e.msg);
    if (e.msg[0] && !result) {
        json_t *fail = pv_mcp__tool_fail(NULL, NULL, "%s", e.msg);
        pv_mcp__audit(s, name, args, NULL, fail, ms, "invalid_arguments");
        json_decref(fail);
        json_decref(args);
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, e.msg, NULL);
    }
    pv_mcp__audit(s, name, args, NULL, result, ms, e.msg[0] ? "invalid_arguments" : NULL);
    json_decref(args);
    if (!result)
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    return pv_jrpc_result(id, result);
}

/* tools/call, never while a reload swaps the datasets. */
static json_t *handle_tools_call(pv_mcp_session *s, struct pv_mcp__exch *x, json_t *id,
                                 json_t *params, const struct pv_mcp__version *v)
{
    pv_mcp__enter(s->m);
    json_t *r = tools_call(s, x, id, params, v);
    pv_mcp__leave(s->m);
    return r;
}

static json_t *handle_initialize(pv_mcp_session *s, json_t *id, json_t *params)
{
    pv_mcp *m = s->m;
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_object(params) || !json_is_string(pv))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                             "initialize: \"protocolVersion\" (a string) is required", NULL);
    /* The client's version when we speak it with a handshake, else our newest that has one. */
    const struct pv_mcp__version *v = version_find(json_string_value(pv));
    const char *chosen = v && !v->modern ? v->name : PV_MCP_LATEST_LEGACY_VERSION;
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
    return pv_jrpc_result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:o}",
                                        "protocolVersion", chosen, "capabilities", "tools",
                                        "listChanged", 0, "serverInfo", "name", "pgvolley", "title",
                                        "pgvolley (read-only PostgreSQL datasets)", "version",
                                        m->version, "instructions", pv_mcp__instructions_json(m)));
}

static bool session_stateless(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    bool stateless = s->stateless;
    pthread_mutex_unlock(&s->mu);
    return stateless;
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

static json_t *method_not_found(json_t *id, const char *method)
{
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b, "method not found: %s", method);
    json_t *r = pv_jrpc_error(id, PV_JRPC_METHOD_NOT_FOUND, pv_buf_str(&b), NULL);
    pv_buf_fini(&b);
    return r;
}

static json_t *unsupported_version(json_t *id, json_t *requested)
{
    pv_buf b = PV_BUF_INIT;
    pv_buf_puts(&b, "Unsupported protocol version (supported: ");
    pv_mcp_put_versions(&b);
    pv_buf_puts(&b, "; 2026-07-28 without initialize, the others after initialize)");
    json_t *r = pv_jrpc_error(
        id, PV_JRPC_UNSUPPORTED_VERSION, pv_buf_str(&b),
        json_pack("{s:o, s:O?}", "supported", versions_json(), "requested", requested));
    pv_buf_fini(&b);
    return r;
}

/* A list result with the cache hints 2026-07-28 requires (result stolen). */
static json_t *cacheable(json_t *result)
{
    json_object_set_new(result, "ttlMs", json_integer(CACHE_TTL_MS));
    json_object_set_new(result, "cacheScope", json_string("public"));
    return result;
}

/*
 * A stateless (2026-07-28) request: its _meta names the version and the
 * client's capabilities. Returns the answer, or NULL when a tool call was
 * started (it answers through x later).
 */
static json_t *handle_modern(pv_mcp_session *s, struct pv_mcp__exch *x,
                             const struct pv_jrpc_msg *jm, json_t *meta)
{
    if (!json_is_object(meta))
        return pv_jrpc_error(jm->id, PV_JRPC_INVALID_PARAMS,
                             "params._meta is required in protocol version " PV_MCP_LATEST_VERSION,
                             NULL);
    json_t *pv = json_object_get(meta, PV_MCP_META_VERSION);
    if (!pv)
        return pv_jrpc_error(jm->id, PV_JRPC_INVALID_PARAMS,
                             "params._meta[\"" PV_MCP_META_VERSION "\"] is required", NULL);
    const struct pv_mcp__version *v =
        json_is_string(pv) ? version_find(json_string_value(pv)) : NULL;
    if (!v || !v->modern)
        return unsupported_version(jm->id, pv);
    x->modern_server_version = s->m->version;
    if (!json_is_object(json_object_get(meta, "io.modelcontextprotocol/clientCapabilities")))
        return pv_jrpc_error(jm->id, PV_JRPC_INVALID_PARAMS,
                             "params._meta[\"io.modelcontextprotocol/clientCapabilities\"] (an "
                             "object) is required in protocol version " PV_MCP_LATEST_VERSION,
                             NULL);
    const char *method = jm->method;
    if (strcmp(method, "server/discover") == 0)
        return pv_jrpc_result(
            jm->id, cacheable(json_pack("{s:o, s:{s:{s:b}}, s:o}", "supportedVersions",
                                        versions_json(), "capabilities", "tools", "listChanged", 0,
                                        "instructions", pv_mcp__instructions_json(s->m))));
    if (strcmp(method, "tools/list") == 0)
        return pv_jrpc_result(jm->id, cacheable(json_deep_copy(s->m->tools)));
    if (strcmp(method, "tools/call") == 0)
        return handle_tools_call(s, x, jm->id, jm->params, v);
    return method_not_found(jm->id, method);
}

/* A request of a session that negotiated (or has yet to negotiate) a version with initialize. */
static json_t *handle_legacy(pv_mcp_session *s, struct pv_mcp__exch *x,
                             const struct pv_jrpc_msg *jm)
{
    const char *method = jm->method;
    if (strcmp(method, "initialize") == 0)
        return handle_initialize(s, jm->id, jm->params);
    if (strcmp(method, "ping") == 0)
        return pv_jrpc_result(jm->id, json_object());
    if (!pv_mcp_session_initialized(s))
        return pv_jrpc_error(jm->id, PV_JRPC_INVALID_REQUEST,
                             "the session is not initialized: send initialize first (or, in "
                             "protocol version " PV_MCP_LATEST_VERSION ", params._meta)",
                             NULL);
    if (strcmp(method, "tools/list") == 0)
        return pv_jrpc_result(jm->id, json_deep_copy(s->m->tools));
    if (strcmp(method, "tools/call") == 0)
        return handle_tools_call(s, x, jm->id, jm->params, version_find(pv_mcp_session_version(s)));
    return method_not_found(jm->id, method);
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
    json_t *meta = json_object_get(jm.params, "_meta");
    if (jm.params && !json_is_object(jm.params)) {
        resp = pv_jrpc_error(jm.id, PV_JRPC_INVALID_PARAMS, "params must be an object", NULL);
    } else if (session_stateless(s) ||
               (!pv_mcp_session_initialized(s) && strcmp(jm.method, "initialize") != 0 &&
                json_object_get(meta, PV_MCP_META_VERSION))) {
        resp = handle_modern(s, x, &jm, meta);
        if (!resp)
            return; /* answers later */
    } else {
        resp = handle_legacy(s, x, &jm);
        if (!resp)
            return; /* answers later */
    }
    pv_mcp__exch_answer(x, resp);
}

/* A batch where the version forbids them (2025-06-18 on) or before initialize. */
static size_t refuse_batch(pv_mcp_session *s, const struct pv_mcp_sink *sink)
{
    const char *v = pv_mcp_session_version(s);
    pv_buf b = PV_BUF_INIT;
    if (*v)
        pv_buf_printf(&b, "JSON-RPC batches are not allowed in protocol version %s", v);
    else
        pv_buf_puts(&b, "JSON-RPC batches are allowed only after initialize with protocol "
                        "version 2025-03-26 or 2024-11-05");
    json_t *r = pv_jrpc_error(NULL, PV_JRPC_INVALID_REQUEST, pv_buf_str(&b), NULL);
    pv_buf_fini(&b);
    if (r)
        sink->send(sink->arg, r, false);
    json_decref(r);
    sink->done(sink->arg);
    return 1;
}

size_t pv_mcp_handle(pv_mcp_session *s, json_t *root, const struct pv_mcp_sink *sink)
{
    bool batch = json_is_array(root);
    if (batch) {
        const struct pv_mcp__version *v = version_find(pv_mcp_session_version(s));
        if (!v || !v->batches)
            return refuse_batch(s, sink);
    }
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
