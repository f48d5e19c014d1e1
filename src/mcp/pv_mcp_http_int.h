/*
 * pv_mcp_http_int.h - internals of the Streamable HTTP transport shared by
 * its two files; included only by them (the `pv_mcp__` prefix).
 *
 *   pv_mcp_http.c      the endpoint: sessions, stateless requests,
 *                      POST/GET/DELETE;
 *   pv_mcp_http_sse.c  the exchanges (a POST's answers) and the event
 *                      streams: ids, the per-session buffer of resumable
 *                      streams, Last-Event-ID replay, the standalone GET
 *                      stream;
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
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "mcp/pv_mcp.h"

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

/* ==== exchanges and event streams (pv_mcp_http_sse.c) ================= */

/*
 * Resumable streams (docs/mcp-protocol.md "Resumable streams"): the event
 * stream of a POST in a 2025-03-26, 2025-06-18 or 2025-11-25 session. Its
 * events carry ids "S-N" (S: the stream's number, unique in the server;
 * N: 1, 2, ... per stream; N = 0 is the 2025-11-25 priming event with
 * empty data). Its events stay in the session's buffer until the stream
 * has been delivered to its end; a client that closes the stream does not
 * cancel the call: GET with Last-Event-ID "S-N" replays the events after
 * N and goes on with the stream. Nobody resuming within the grace period:
 * the call is cancelled (its queries too) and its events dropped.
 * Bounds per session: at most PV_MCP__RESUME_MAX_EVENTS events and
 * PV_MCP__RESUME_MAX_BYTES bytes of data; over either, the oldest progress
 * notifications are dropped (this stream's first, then any stream's);
 * final answers are kept. A stream that starts while the session's buffer
 * is at either bound is not resumable (closing it cancels the call, as in
 * 2026-07-28), so that the final answers kept stay bounded too: by the
 * bound plus the answers of the calls already buffered.
 */
#define PV_MCP__RESUME_GRACE_MS   30000 /* PGVOLLEY_MCP_RESUME_GRACE_MS overrides (tests) */
#define PV_MCP__RESUME_MAX_EVENTS 256   /* per session; PGVOLLEY_MCP_RESUME_MAX_EVENTS lowers it */
#define PV_MCP__RESUME_MAX_BYTES  (4u << 20) /* per session, data bytes */
#define PV_MCP__SSE_RETRY_MS      1000       /* the retry: field of a priming event */
#define PV_MCP__KEEPALIVE_S       15         /* a comment on an idle standalone stream */
#define PV_MCP__MAX_STANDALONE    1          /* standalone GET streams per session (409 over) */
#define PV_MCP__GONE_POLL_MS      100 /* how often a waiting answer checks its client is there */

/* One session's resumable streams and their buffer (reference counted). */
typedef struct pv_mcp__streams pv_mcp__streams;

/* A buffered event: one JSON-RPC message. */
struct pv_mcp__ev {
    struct pv_mcp__ev *next;
    uint32_t seq; /* N of the id; 1, 2, ... */
    bool progress;
    size_t len;
    char data[]; /* NUL-terminated */
};

/*
 * The answers to one POST (or a standalone GET stream): filled by the
 * sink, read by the handler (JSON) or by the stream's current reader.
 * Locking: *mu, which is the session's streams' lock for a resumable
 * stream, else own_mu.
 */
struct pv_mcp__hx {
    pthread_mutex_t own_mu;
    pthread_mutex_t *mu;
    pthread_cond_t cv;
    int refs; /* the sink's (until done) + the handler's or reader's + the buffer's */
    bool stream;
    bool done;  /* the sink's done was called: no more events */
    bool gone;  /* a non-resumable stream's client closed: its calls were cancelled */
    pv_buf out; /* JSON mode: the answer */
    struct pv_mcp__ev *head, *tail; /* stream mode: events not yet dropped */
    uint32_t last_seq;
    struct MHD_Connection *conn; /* JSON mode: whose idle timer to restart, whose socket to watch */
    unsigned timeout_s;
    pv_mcp_session *s; /* held (pv_mcp_session_hold) until the hx is freed */
    bool release;      /* the last reader releases s (a stateless request's own) */
    /* Resumable streams only: */
    pv_mcp__streams *ss;     /* NULL: not resumable */
    struct pv_mcp__hx *next; /* in ss's list */
    uint64_t num;            /* S of the ids */
    bool priming;            /* 2025-11-25: a priming event with retry: first */
    bool standalone;         /* the GET stream: no sink, nothing to replay */
    bool poll;               /* close after the priming event (SSE polling) */
    unsigned gen;            /* the current reader's; a resumption takes over */
    bool attached;           /* a reader is delivering it */
    uint64_t detached_ns;
    bool listed;                  /* in ss's list, its events counted there */
    struct pv_mcp__hx *reap_next; /* pv_mcp__streams_expire's and _close's lists */
};

/**
 * Creates a session's streams; NULL: out of memory.
 * @param grace_ms a closed stream's grace period; max_events the event
 *        bound (PV_MCP__RESUME_MAX_EVENTS but in tests).
 */
pv_mcp__streams *pv_mcp__streams_new(unsigned grace_ms, unsigned max_events);

/**
 * The session ends: the standalone stream closes, the buffer is dropped
 * (the streams still attached go on until their calls' answers: the
 * session's end answers or cancels them), no stream can be resumed or
 * opened any more. Idempotent; the reference stays.
 */
void pv_mcp__streams_end(pv_mcp__streams *ss);

/** pv_mcp__streams_end, then drops the caller's reference. NULL is a no-op. */
void pv_mcp__streams_close(pv_mcp__streams *ss);

/** Cancels the calls of streams detached longer than the grace period; drops them. */
void pv_mcp__streams_expire(pv_mcp__streams *ss);

/**
 * A new exchange for one POST (refs: the sink's and the caller's).
 * @param stream answers as an event stream; ss non-NULL: resumable (a
 *        reference to it is taken), priming: a 2025-11-25 priming event.
 * @return NULL: out of memory.
 */
struct pv_mcp__hx *pv_mcp__hx_new(bool stream, pv_mcp_session *s, pv_mcp__streams *ss,
                                  bool priming);
void pv_mcp__hx_unref(struct pv_mcp__hx *x);
/** Drops the caller's reference to an exchange that will never be answered
    (a POST of notifications or responses only), and its stream from the
    session's buffer. */
void pv_mcp__hx_abandon(struct pv_mcp__hx *x);
void pv_mcp__hx_send(void *arg, json_t *msg, bool notification); /* the sink's */
void pv_mcp__hx_done(void *arg);                                 /* the sink's */

/**
 * JSON mode: waits (under *x->mu) until the answers are complete, watching
 * the client's socket; when the client has gone the calls are cancelled.
 * @return false if the client has gone.
 */
bool pv_mcp__hx_wait_locked(struct pv_mcp__hx *x);

/**
 * Queues x as an event stream on c with a new reader starting after event
 * `after` (0: from the start; the caller's reference to x passes to the
 * response); gen: the reader's generation (0 for a POST's or a new
 * stream, pv_mcp__streams_resume's for a resumption).
 * @return MHD's result; x is released on failure.
 */
enum MHD_Result pv_mcp__sse_respond(struct MHD_Connection *c, struct pv_mcp__hx *x, uint32_t after,
                                    unsigned gen, unsigned timeout_s);

/**
 * GET: the stream a Last-Event-ID names in ss, taken over by the caller
 * (a reference) with *after set to its N and *gen to the new reader's
 * generation (the stream's previous reader ends). @return the stream, or
 * NULL: an unknown, malformed or expired id (also another session's).
 */
struct pv_mcp__hx *pv_mcp__streams_resume(pv_mcp__streams *ss, const char *last_event_id,
                                          uint32_t *after, unsigned *gen);

/**
 * GET without Last-Event-ID: a new standalone stream (a reference), or
 * NULL with *busy set when the session already has
 * PV_MCP__MAX_STANDALONE of them, or not (out of memory, or the session
 * ended).
 */
struct pv_mcp__hx *pv_mcp__streams_standalone(pv_mcp__streams *ss, pv_mcp_session *s, bool priming,
                                              bool *busy);

#endif /* PV_MCP_HTTP_INT_H */
