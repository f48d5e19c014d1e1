/*
 * pv_mcp_http_int.h - internals of the Streamable HTTP transport shared by
 * its two files; included only by them (the `pv_mcp__` prefix).
 *
 *   pv_mcp_http.c      the endpoint: sessions, stateless requests, POST/DELETE;
 *   pv_mcp_http_check.c the request checks: Origin, Host, token, Accept, the
 *                      2026-07-28 headers against the body, and whether a
 *                      client has closed its connection;
 *   pv_mcp_http_conn.c admission of TCP connections: the total and
 *                      per-address limits (eviction of connections still
 *                      waiting for a request, else 503), the request
 *                      deadline and the reaper thread that enforces it.
 *
 * A connection is in one of three states, written in its record:
 *
 *   WAITING  --headers in-->  READING  --body in-->  BUSY
 *      ^                                              |
 *      +-------------- request completed -------------+
 *
 * WAITING starts when the connection opens or its previous request
 * completed; a request's headers and body must arrive within the timeout
 * of that (the reaper shuts the socket down otherwise, whatever the client
 * trickles). A connection WAITING is the first to go when the server is
 * full. BUSY connections are never cut by us; MHD's idle timeout (no byte
 * moved for the timeout) still applies to them, restarted after each long
 * wait of ours (pv_mcp__conn_touch).
 *
 * Locks: the admission lock is a leaf; the reaper calls its tick callback
 * without it.
 */
#ifndef PV_MCP_HTTP_INT_H
#define PV_MCP_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "common/pv_buf.h"

#define PV_MCP__HTTP_DEFAULT_MAX_CONN  64 /* pv_mcp_http_opts.max_connections <= 0 */
#define PV_MCP__HTTP_DEFAULT_TIMEOUT_S 10 /* pv_mcp_http_opts.timeout_s <= 0 */

struct pv_mcp__conns_opts {
    unsigned max_total;      /* connections at once, >= 1 */
    unsigned max_per_addr;   /* from one client address, 1..max_total */
    unsigned timeout_s;      /* request deadline and idle timeout, >= 1 */
    void (*tick)(void *arg); /* called by the reaper about once a second; may be NULL */
    void *tick_arg;
};

typedef struct pv_mcp__conns pv_mcp__conns;

/**
 * Creates the admission state and starts its reaper thread.
 * @return 0, VOLLEY_ENOMEM or VOLLEY_EIO (thread).
 */
int pv_mcp__conns_create(const struct pv_mcp__conns_opts *opts, pv_mcp__conns **out);

/** Stops the reaper and frees; after MHD_stop_daemon. NULL is a no-op. */
void pv_mcp__conns_destroy(pv_mcp__conns *cs);

/**
 * MHD's limit to pass as MHD_OPTION_CONNECTION_LIMIT and
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT: ours plus room for the connections
 * that are answered 503 or are being closed after an eviction.
 */
unsigned pv_mcp__conns_hard_total(const pv_mcp__conns *cs);
unsigned pv_mcp__conns_hard_per_addr(const pv_mcp__conns *cs); /* 0: none */

/** MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the pv_mcp__conns. */
void pv_mcp__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe);

/**
 * A request's headers are in (first call of the request handler): the
 * connection is READING. @return false if it was admitted over a limit:
 * answer 503 and close.
 */
bool pv_mcp__conn_begin(struct MHD_Connection *c);

/** The request's body is in: BUSY (no deadline of ours any more). */
void pv_mcp__conn_busy(struct MHD_Connection *c);

/** The request completed: WAITING for the next one, deadline from now. */
void pv_mcp__conn_end(struct MHD_Connection *c);

/**
 * Restarts MHD's idle timer after a long wait in the connection's own
 * thread (a tool call's answer), which MHD would otherwise count as the
 * client's silence. Call only from that connection's thread.
 */
void pv_mcp__conn_touch(struct MHD_Connection *c, unsigned timeout_s);

/* ==== request checks (pv_mcp_http_check.c) ============================ */

/** A request header's value (borrowed from MHD), or NULL. */
const char *pv_mcp__header(struct MHD_Connection *c, const char *name);

/** "Authorization: Bearer TOKEN" matches (constant time); true without a token. */
bool pv_mcp__auth_ok(const char *token, struct MHD_Connection *c);

/** The Accept header names type. */
bool pv_mcp__accepts(struct MHD_Connection *c, const char *type);

/**
 * True if the client has closed (or shut down its side of) the connection:
 * for 2026-07-28 closing a response stream cancels the request. Never waits.
 */
bool pv_mcp__client_gone(struct MHD_Connection *c);

/**
 * The 2026-07-28 request headers against the body of a single request:
 * MCP-Protocol-Version equals version (the body's _meta), Mcp-Method the
 * method, Mcp-Name (Base64 sentinel form decoded) params.name of tools/call
 * and prompts/get or params.uri of resources/read; values of visible ASCII,
 * whitespace around them ignored (RFC 9110 5.5).
 * @return true if they agree; else false with the HeaderMismatch message
 *         appended to msg.
 */
bool pv_mcp__modern_headers_ok(struct MHD_Connection *c, json_t *root, const char *version,
                               pv_buf *msg);

#endif /* PV_MCP_HTTP_INT_H */
