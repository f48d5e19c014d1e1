/*
 * pv_jsonrpc.h - JSON-RPC 2.0 framing for the MCP server: parse a message or
 * a batch, classify each message, build results, errors and notifications.
 *
 * MCP narrows JSON-RPC 2.0 a little and so do we: a request id is a string
 * or an integer (never null, never a fraction); params, when present, are an
 * object or an array. Duplicate object keys are a parse error (two parsers
 * must never read one message two ways).
 */
#ifndef PV_JSONRPC_H
#define PV_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

#include "common/pv_common.h"

/* The standard error codes, and some of the server range (-32000..-32099). */
enum pv_jrpc_code {
    PV_JRPC_PARSE_ERROR = -32700,
    PV_JRPC_INVALID_REQUEST = -32600,
    PV_JRPC_METHOD_NOT_FOUND = -32601,
    PV_JRPC_INVALID_PARAMS = -32602,
    PV_JRPC_INTERNAL_ERROR = -32603,
    PV_JRPC_SERVER_ERROR = -32000,      /* a transport refusal (HTTP 4xx/5xx) */
    PV_JRPC_SESSION_NOT_FOUND = -32001, /* an unknown or expired Mcp-Session-Id */
    /* MCP 2026-07-28's own codes (-32020..-32099 are the specification's). */
    PV_JRPC_HEADER_MISMATCH = -32020,     /* HTTP headers disagree with the body */
    PV_JRPC_MISSING_CAPABILITY = -32021,  /* the client lacks a capability it must declare */
    PV_JRPC_UNSUPPORTED_VERSION = -32022, /* data: {supported: [...], requested} */
};

enum pv_jrpc_kind {
    PV_JRPC_INVALID = 0,  /* answer with PV_JRPC_INVALID_REQUEST and msg.id (or null) */
    PV_JRPC_REQUEST,      /* method + id: exactly one response is due */
    PV_JRPC_NOTIFICATION, /* method, no id: no response */
    PV_JRPC_RESPONSE,     /* result or error + id: a reply to one of our requests */
};

/* One classified message; every pointer is borrowed from the message. */
struct pv_jrpc_msg {
    enum pv_jrpc_kind kind;
    const char *method; /* request, notification */
    json_t *id;         /* request, response; for an invalid message the id
                           when it was readable, else NULL (answer with null) */
    json_t *params;     /* request, notification: object or array, NULL if absent */
    json_t *result;     /* response: the result, or NULL */
    json_t *error;      /* response: the error object, or NULL */
};

/**
 * Parses one framed message: a JSON object (one message) or a non-empty
 * array (a batch).
 * @param out on success, a new reference to the object or array.
 * @param reply on failure, a new reference to the error response to send
 *        (-32700 with id null when the text is not JSON; -32600 when it is
 *        JSON but neither an object nor a non-empty array); NULL if out of
 *        memory.
 * @return 0, VOLLEY_EINPUT (err: one line) or VOLLEY_ENOMEM.
 */
int pv_jrpc_parse(const char *text, size_t len, json_t **out, json_t **reply, pv_err *err);

/**
 * Classifies one message (an object or anything else found in a batch).
 * @param err when invalid, why (for the error's message).
 * @return out->kind.
 */
enum pv_jrpc_kind pv_jrpc_classify(json_t *m, struct pv_jrpc_msg *out, pv_err *err);

/** True for an acceptable request id: a string or an integer. */
int pv_jrpc_id_valid(const json_t *id);

/**
 * {"jsonrpc":"2.0","id":id,"result":result}.
 * @param id borrowed (copied).
 * @param result stolen (its reference is taken even on failure).
 * @return a new reference, NULL when out of memory.
 */
json_t *pv_jrpc_result(json_t *id, json_t *result);

/**
 * {"jsonrpc":"2.0","id":id|null,"error":{"code","message"[,"data"]}}.
 * @param id borrowed; NULL gives "id": null.
 * @param message NULL for the code's standard message.
 * @param data stolen; may be NULL.
 * @return a new reference, NULL when out of memory.
 */
json_t *pv_jrpc_error(json_t *id, int code, const char *message, json_t *data);

/** {"jsonrpc":"2.0","method":method,"params":params}; params stolen, may be NULL. */
json_t *pv_jrpc_notification(const char *method, json_t *params);

/** The standard message of a code ("Parse error", ...); "Server error" otherwise. */
const char *pv_jrpc_code_message(int code);

/**
 * Serialises a message on one line (compact; newlines in strings are
 * escaped), without a trailing newline.
 * @return a malloc'ed string, NULL when out of memory.
 */
char *pv_jrpc_dump(const json_t *m);

#endif /* PV_JSONRPC_H */
