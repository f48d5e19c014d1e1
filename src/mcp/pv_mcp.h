/*
 * pv_mcp.h - the MCP server behind `pgvolley mcp`: sessions, the protocol
 * (initialize, ping, tools/list, tools/call, cancellation, progress) and six
 * read-only tools over the datasets, independent of the transport; and the
 * two transports that carry it (stdio and Streamable HTTP).
 *
 * Threads: pv_mcp_handle may be called from any thread, also concurrently
 * for one session. A tool call that needs the database is submitted to the
 * batch engine and answered later from the server's completion thread; the
 * handling of other messages never waits for it.
 *
 * Tools: list_available_datasets, get_dataset_schema, query_dataset,
 * get_dataset_sample, execute_multi_query, get_context (see pv_mcp_catalog.c).
 */
#ifndef PV_MCP_H
#define PV_MCP_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"

/*
 * Protocol versions. The newest, 2026-07-28, is stateless ("modern"): no
 * initialize, every request names its version in
 * params._meta["io.modelcontextprotocol/protocolVersion"]. The older ones
 * (2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05) negotiate one version per
 * session with initialize ("legacy"); initialize answers at most
 * PV_MCP_LATEST_LEGACY_VERSION. See docs/mcp-protocol.md.
 */
#define PV_MCP_LATEST_VERSION        "2026-07-28"
#define PV_MCP_LATEST_LEGACY_VERSION "2025-11-25"
#define PV_MCP_META_VERSION          "io.modelcontextprotocol/protocolVersion"

/* A rate limit: n tool calls per period_s seconds (a bucket of n calls,
   refilled evenly over the period); n <= 0: no limit. */
struct pv_mcp_rate {
    int n;
    double period_s;
};

struct pv_mcp_opts {
    double schema_ttl_s; /* get_dataset_schema cache lifetime; <= 0: 300 */
    int max_concurrency; /* queries of one tool call in flight; <= 0: PV_MULTI_MAX_CONCURRENCY */
    int max_inflight;    /* tool calls running at once per session; <= 0: 32 */
    const char *version; /* serverInfo.version; NULL: volley_version() */
    /* Rate limits on tools/call (see docs/mcp-limits.md). A stateless
       (2026-07-28) request is a session of its own: the global and the
       per-address limits are the ones that hold it. */
    struct pv_mcp_rate rate_session; /* per session */
    struct pv_mcp_rate rate_address; /* per client address (pv_mcp_session_set_peer) */
    struct pv_mcp_rate rate_global;  /* every session together */
    int audit_fd;                    /* > 0: one JSON line per tool call appended here (borrowed) */
    double cursor_ttl_s; /* a continuation cursor expires this long after its page; <= 0: 300 */
    int max_cursors;     /* cursors kept per server; <= 0: 256 (the oldest goes first) */
};

typedef struct pv_mcp pv_mcp;
typedef struct pv_mcp_session pv_mcp_session;

/*
 * Where a session's outgoing messages for one input go. Both callbacks may
 * be called from any thread (the caller's, the engine's, the completion
 * thread), send possibly concurrently for different requests of one input:
 * the sink must be thread-safe and stay valid until done has been called.
 */
struct pv_mcp_sink {
    /* One complete message (a response, a batch of responses or a
       notification). msg is borrowed: serialise it or take a reference.
       notification: true for a progress notification (may be dropped). */
    void (*send)(void *arg, json_t *msg, bool notification);
    /* Exactly once, after the last send for this input (immediately when
       the input held no request). */
    void (*done)(void *arg);
    void *arg;
};

/**
 * Creates the server and starts its completion thread.
 * @param ds, engine borrowed; must outlive the server.
 * @param opts NULL for defaults.
 * @return 0, VOLLEY_ENOMEM or VOLLEY_EIO (thread could not start).
 */
int pv_mcp_create(const pv_datasets *ds, pv_batch_engine *engine, const struct pv_mcp_opts *opts,
                  pv_mcp **out);

/**
 * Cancels every running tool call, waits for them to finish (their answers
 * still go to their sinks), stops the completion thread and frees the
 * server. Every session must have been released. NULL is a no-op.
 */
void pv_mcp_destroy(pv_mcp *m);

/**
 * Replaces the datasets and the engine that runs their queries (a reload
 * of the datasets file, e.g. on SIGHUP) without ending any session: new
 * tool calls wait while the running ones finish (at most their statement
 * timeout), then the datasets, the schema cache and the instructions are
 * swapped. Cursors name their dataset and survive if it still exists.
 * @param ds, engine borrowed from now on, as in pv_mcp_create; the caller
 *        frees the previous ones once this has returned 0.
 * @return 0 or VOLLEY_ENOMEM (nothing changed).
 */
int pv_mcp_reload(pv_mcp *m, const pv_datasets *ds, pv_batch_engine *engine);

/** Refuses new tool calls and cancels the running ones (a shutdown begins). */
void pv_mcp_shutdown(pv_mcp *m);

/**
 * Waits until no tool call runs on any session.
 * @param timeout_ms -1: as long as it takes.
 * @return true if none runs.
 */
bool pv_mcp_wait_idle(pv_mcp *m, int timeout_ms);

/**
 * A new session (one client connection: stdio, or one Mcp-Session-Id).
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_mcp_session_create(pv_mcp *m, pv_mcp_session **out);

/**
 * Ends a session: cancels its running tool calls (they are not answered,
 * unless pv_mcp_session_stop was called); its memory is freed when the last
 * of them has finished. NULL is a no-op.
 */
void pv_mcp_session_release(pv_mcp_session *s);

/** Cancels a session's running tool calls (they are not answered). */
void pv_mcp_session_cancel(pv_mcp_session *s);

/**
 * Cancels the running tool calls that answer through the sink whose arg is
 * sink_arg (its client has gone: they are not answered; the input still
 * completes, sink->done is still called).
 */
void pv_mcp_session_cancel_sink(pv_mcp_session *s, const void *sink_arg);

/**
 * Takes and drops a reference that keeps the session's memory valid (for
 * pv_mcp_session_cancel_sink from a transport's reader) without owning it:
 * only pv_mcp_session_release ends the session.
 */
void pv_mcp_session_hold(pv_mcp_session *s);
void pv_mcp_session_drop(pv_mcp_session *s);

/**
 * The session is ending (HTTP DELETE): cancels its running tool calls on
 * the server, and each is still answered (a tool error saying it was
 * cancelled), also when the session is released before they finish.
 */
void pv_mcp_session_stop(pv_mcp_session *s);

/** The tool calls running on the database for this session. */
size_t pv_mcp_session_running(pv_mcp_session *s);

/**
 * Waits until fewer tool calls than the per-session limit run (a reader
 * may then hand over the next call without its being refused).
 * @param timeout_ms >= 0.
 * @return true if a call may start now.
 */
bool pv_mcp_session_wait_slot(pv_mcp_session *s, int timeout_ms);

/**
 * Marks a new session as one stateless (2026-07-28) request's: every
 * request on it is served as that version prescribes, whatever its _meta
 * holds (a missing _meta field is -32602, initialize an unknown method).
 * For a transport that knows the request's version from elsewhere (HTTP's
 * MCP-Protocol-Version header).
 */
void pv_mcp_session_stateless(pv_mcp_session *s);

/**
 * The client's address (numeric host), for the per-address rate limit and
 * the audit log. Copied; NULL or "" for none.
 */
void pv_mcp_session_set_peer(pv_mcp_session *s, const char *addr);

/**
 * Seconds a client should wait before its next tool call when msg (one
 * response, borrowed) is a rate-limit refusal, else 0 (for HTTP's 429 and
 * Retry-After).
 */
int pv_mcp_retry_after(json_t *msg);

/** True once initialize has been answered successfully (a legacy session). */
bool pv_mcp_session_initialized(pv_mcp_session *s);

/** The negotiated protocol version, or "" before initialize (static storage); a
    stateless (2026-07-28) request does not set it. */
const char *pv_mcp_session_version(pv_mcp_session *s);

/**
 * Handles one parsed input: a message or a batch (an array). Requests are
 * answered through sink, each exactly once (a cancelled tool call is not
 * answered, as the protocol asks; its input still completes); for a batch
 * the answers are sent together as one array. sink->done is always called.
 * A batch is answered with one -32600 error (id null) unless the session
 * negotiated a version that allows batches (2025-03-26, 2024-11-05). A
 * request naming a version in its _meta on a session without initialize is
 * served statelessly as that version prescribes (2026-07-28: results carry
 * resultType and _meta serverInfo, list results cache hints; an unsupported
 * version is answered -32022).
 * The session must not be released while this runs.
 * @param root borrowed.
 * @return the number of requests in the input (0: nothing will be sent).
 */
size_t pv_mcp_handle(pv_mcp_session *s, json_t *root, const struct pv_mcp_sink *sink);

/**
 * Same from text. Text that is not JSON, or JSON that is not a message or
 * a batch, is answered through sink with the JSON-RPC error (-32700 or
 * -32600, id null) and counts as one request.
 */
size_t pv_mcp_handle_text(pv_mcp_session *s, const char *text, size_t len,
                          const struct pv_mcp_sink *sink);

/** True if a protocol version is one we accept (for the HTTP header check). */
bool pv_mcp_version_supported(const char *version);

/** True if a version is a supported stateless one (2026-07-28): no initialize, no session. */
bool pv_mcp_version_modern(const char *version);

/** Appends the supported versions, newest first, as "a, b, c". */
void pv_mcp_put_versions(pv_buf *b);

/**
 * The protocol version a single request names in its
 * params._meta["io.modelcontextprotocol/protocolVersion"] (borrowed from
 * root), or NULL: a batch, a notification, no such string, or initialize
 * (which is always served as the handshake of a legacy session).
 */
const char *pv_mcp_request_version(json_t *root);

/**
 * True if the input holds a tools/call request that asked for progress
 * (params._meta.progressToken): the transport may stream its answers.
 */
bool pv_mcp_wants_progress(json_t *root);

/**
 * True if the input is (or, in a batch, holds) an initialize request.
 */
bool pv_mcp_is_initialize(json_t *root);

/**
 * Writes a table name as quoted identifiers: "table" or "schema.table",
 * each part optionally double-quoted already ("" for a quote inside), e.g.
 * sales."Order Items" -> "sales"."Order Items". Unquoted parts are taken
 * exactly as written (no case folding: they are the names the schema
 * shows); quotes inside are doubled. Appends to out.
 * @return 0, VOLLEY_EINPUT (empty part, more than two parts, stray or
 *         unterminated quote; err says which) or VOLLEY_ENOMEM.
 */
int pv_mcp_quote_table(const char *in, pv_buf *out, pv_err *err);

/* ---- transports ---------------------------------------------------------- */

/**
 * Serves one session on newline-delimited JSON: messages are read from
 * in_fd, answers written to out_fd one per line (logs go elsewhere). Returns
 * at end of input, after the running tool calls have been answered, or when
 * *stop becomes non-zero (then they are cancelled first).
 * @param stop polled about 5 times a second; may be NULL.
 * @return 0, VOLLEY_EIO (cannot read; err says why) or VOLLEY_ENOMEM.
 */
int pv_mcp_serve_stdio(pv_mcp *m, int in_fd, int out_fd, volatile sig_atomic_t *stop, pv_err *err);

/* The most TCP connections the HTTP transport takes (one thread each). */
#define PV_MCP_HTTP_MAX_CONNECTIONS 4096

struct pv_mcp_http_opts {
    const char *host;      /* address to bind: numeric or a name; NULL: 127.0.0.1 */
    int port;              /* 0: any free port (see pv_mcp_http_port) */
    const char *token;     /* bearer token every request must carry; NULL: none */
    size_t max_body;       /* request body limit in bytes; 0: 1 MiB */
    int max_connections;   /* TCP connections at once; <= 0: 64. Over it, the oldest
                              connection still waiting for a request is closed, or,
                              when every one is busy, the new one is answered 503 */
    int max_per_address;   /* connections from one client address; <= 0: max_connections
                              on loopback (every client has the same address there),
                              else a quarter of it (at least 1) */
    int timeout_s;         /* a request's headers and body must arrive within this of
                              the connection's start or the previous answer, and a
                              connection silent this long is closed; <= 0: 10 */
    double session_idle_s; /* a session without requests or running calls this long
                              ends; <= 0: 900 */
    int max_sessions;      /* sessions at once; <= 0: 1024. When full, the least
                              recently used session with no call running ends */
};

typedef struct pv_mcp_http pv_mcp_http;

/**
 * Starts the Streamable HTTP transport (endpoint /mcp) on its own threads.
 * @return 0, VOLLEY_EINVAL (bad address; err), VOLLEY_EIO (cannot bind or
 *         listen; err) or VOLLEY_ENOMEM.
 */
int pv_mcp_http_start(pv_mcp *m, const struct pv_mcp_http_opts *opts, pv_mcp_http **out,
                      pv_err *err);

/** The port actually bound. */
int pv_mcp_http_port(const pv_mcp_http *h);

/**
 * Stops accepting, cancels the running tool calls, ends every session and
 * stops the daemon. NULL is a no-op.
 */
void pv_mcp_http_stop(pv_mcp_http *h);

#endif /* PV_MCP_H */
