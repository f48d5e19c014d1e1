/* pv_jsonrpc.c - JSON-RPC 2.0 framing and validation (see pv_jsonrpc.h). */
#include "mcp/pv_jsonrpc.h"

#include <stdlib.h>
#include <string.h>

#include "common/pv_utf8.h"

const char *pv_jrpc_code_message(int code)
{
    switch (code) {
    case PV_JRPC_PARSE_ERROR: return "Parse error";
    case PV_JRPC_INVALID_REQUEST: return "Invalid Request";
    case PV_JRPC_METHOD_NOT_FOUND: return "Method not found";
    case PV_JRPC_INVALID_PARAMS: return "Invalid params";
    case PV_JRPC_INTERNAL_ERROR: return "Internal error";
    default: return "Server error";
    }
}

int pv_jrpc_id_valid(const json_t *id)
{
    return id && (json_is_string(id) || json_is_integer(id));
}

int pv_jrpc_parse(const char *text, size_t len, json_t **out, json_t **reply, pv_err *err)
{
    *out = NULL;
    *reply = NULL;
    json_error_t je;
    /* JSON_DECODE_ANY: a scalar is valid JSON, hence an invalid request
       rather than a parse error. */
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson quotes the text near the error, raw: a control character
           there (a newline in a string) would break the message's line */
        for (char *c = je.text; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        pv_err_set(err, VOLLEY_EINPUT, "%s (line %d, column %d)", je.text, je.line, je.column);
        *reply = pv_jrpc_error(NULL, PV_JRPC_PARSE_ERROR, err ? err->msg : NULL, NULL);
        return *reply ? VOLLEY_EINPUT : VOLLEY_ENOMEM;
    }
    if (json_is_object(root) || (json_is_array(root) && json_array_size(root) > 0)) {
        *out = root;
        return 0;
    }
    pv_err_set(err, VOLLEY_EINPUT, "%s",
               json_is_array(root) ? "empty batch"
                                   : "a message must be a JSON object or a non-empty array");
    json_decref(root);
    *reply = pv_jrpc_error(NULL, PV_JRPC_INVALID_REQUEST, err ? err->msg : NULL, NULL);
    return *reply ? VOLLEY_EINPUT : VOLLEY_ENOMEM;
}

static enum pv_jrpc_kind invalid(struct pv_jrpc_msg *out, pv_err *err, const char *why)
{
    out->kind = PV_JRPC_INVALID;
    out->method = NULL;
    out->params = NULL;
    out->result = NULL;
    out->error = NULL;
    pv_err_set(err, VOLLEY_EINPUT, "%s", why);
    return PV_JRPC_INVALID;
}

enum pv_jrpc_kind pv_jrpc_classify(json_t *m, struct pv_jrpc_msg *out, pv_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(m))
        return invalid(out, err, "a message must be a JSON object");
    json_t *id = json_object_get(m, "id");
    if (pv_jrpc_id_valid(id))
        out->id = id;
    json_t *ver = json_object_get(m, "jsonrpc");
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
        return invalid(out, err, "\"jsonrpc\" must be \"2.0\"");

    json_t *method = json_object_get(m, "method");
    if (method) {
        if (!json_is_string(method))
            return invalid(out, err, "\"method\" must be a string");
        if (json_object_get(m, "result") || json_object_get(m, "error"))
            return invalid(out, err, "a request cannot carry \"result\" or \"error\"");
        json_t *params = json_object_get(m, "params");
        if (params && !json_is_object(params) && !json_is_array(params))
            return invalid(out, err, "\"params\" must be an object or an array");
        if (id && !out->id)
            return invalid(out, err, "\"id\" must be a string or an integer");
        out->method = json_string_value(method);
        out->params = params;
        out->kind = id ? PV_JRPC_REQUEST : PV_JRPC_NOTIFICATION;
        return out->kind;
    }

    json_t *result = json_object_get(m, "result");
    json_t *error = json_object_get(m, "error");
    if (!result && !error)
        return invalid(out, err, "\"method\" is missing");
    if (result && error)
        return invalid(out, err, "a response has either \"result\" or \"error\", not both");
    if (!id)
        return invalid(out, err, "a response needs an \"id\"");
    if (error) {
        if (!json_is_object(error) || !json_is_integer(json_object_get(error, "code")) ||
            !json_is_string(json_object_get(error, "message")))
            return invalid(out, err,
                           "\"error\" must be an object with an integer \"code\" and a "
                           "string \"message\"");
        /* An error response may carry id null (the request was unreadable). */
        if (!out->id && !json_is_null(id))
            return invalid(out, err, "\"id\" must be a string, an integer or null");
    } else if (!out->id) {
        return invalid(out, err, "\"id\" must be a string or an integer");
    }
    out->result = result;
    out->error = error;
    out->kind = PV_JRPC_RESPONSE;
    return out->kind;
}

json_t *pv_jrpc_result(json_t *id, json_t *result)
{
    if (!result)
        return NULL;
    json_t *r = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                          "result", result);
    return r;
}

json_t *pv_jrpc_error(json_t *id, int code, const char *message, json_t *data)
{
    /* a message may quote the request (jansson's "near '...'"), invalid
       UTF-8 and all: such bytes become '?', or there would be no answer */
    char safe[512];
    if (message) {
        size_t n = strlen(message), o = 0;
        for (size_t i = 0; i < n && o + 4 < sizeof(safe);) {
            size_t k = pv_utf8_seq((const unsigned char *)message + i, n - i);
            if (k == 0) {
                safe[o++] = '?';
                i++;
                continue;
            }
            memcpy(safe + o, message + i, k);
            o += k;
            i += k;
        }
        safe[o] = '\0';
        message = safe;
    }
    json_t *e = json_pack("{s:i, s:s}", "code", code, "message",
                          message ? message : pv_jrpc_code_message(code));
    if (!e) {
        json_decref(data);
        return NULL;
    }
    if (data && json_object_set_new(e, "data", data) != 0) {
        json_decref(e);
        return NULL;
    }
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}

json_t *pv_jrpc_notification(const char *method, json_t *params)
{
    if (params)
        return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
    return json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
}

char *pv_jrpc_dump(const json_t *m)
{
    return json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
}
