/*
 * pv_mcp_http.c - the Streamable HTTP transport (MCP 2026-07-28, and
 * 2025-11-25 down to 2024-11-05 with sessions) on libmicrohttpd: one
 * endpoint, /mcp.
 *
 *   POST   a JSON-RPC message (or, in a 2025-03-26/2024-11-05 session, a
 *          batch). Only notifications/responses: 202, no body. Requests:
 *          200 with the answer as application/json, or as text/event-stream
 *          (progress notifications, then the answer) when the client
 *          accepts it and a tools/call asked for progress.
 *          2026-07-28 (params._meta names the version): stateless, no
 *          session; MCP-Protocol-Version, Mcp-Method and Mcp-Name must
 *          match the body, else 400 HeaderMismatch (-32020); the
 *          specification's errors are 400, an unknown method 404.
 *          Older versions: initialize (without Mcp-Session-Id) creates a
 *          session and answers with its id in Mcp-Session-Id; later
 *          requests without the header get 400, with an unknown one 404.
 *          A client that closes its connection while its JSON answer (or a
 *          non-resumable stream) is pending cancels its tool calls on the
 *          server (their queries too); a resumable stream (a 2025-03-26 ..
 *          2025-11-25 session's) waits for a GET with Last-Event-ID for the
 *          grace period first (pv_mcp_http_sse.c).
 *   DELETE ends the session named by Mcp-Session-Id (its running tool calls
 *          are cancelled on the server and answered with that error).
 *   GET    with Last-Event-ID: resumes that stream of the session; without:
 *          the session's standalone stream (keepalives only). 405 without a
 *          session, for 2026-07-28 and in a 2024-11-05 session.
 *
 * Every request: the checks of pv_mcp_http_check.c: when listening on
 * loopback, the Host header must name a loopback host; an Origin header,
 * when present, must be a loopback origin, else 403 (DNS rebinding); with a
 * token, "Authorization: Bearer TOKEN", else 401; MCP-Protocol-Version, when
 * present, must be one we speak, else 400 UnsupportedProtocolVersion
 * (-32022); bodies above max_body get 413.
 *
 * Threads: MHD's thread per connection. A POST that carries requests waits
 * in its own connection thread (application/json) or in its response
 * reader (text/event-stream) for the answers, watching its socket, so a
 * long tool call holds up only its own connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "common/pv_http_guard.h"
#include "common/pv_listen.h"
#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"
#include "mcp/pv_mcp_http_int.h"

#define DEFAULT_MAX_BODY        (1u << 20)
#define DEFAULT_MAX_SESSIONS    1024
#define DEFAULT_SESSION_IDLE_S  900.0 /* 15 min: a user's pause; the LRU eviction handles floods */
#define SESSION_ID_BYTES        16
#define PER_ADDRESS_SHARE       4 /* beyond loopback: one address gets 1/4 of the connections */
#define DISCARD_LIMIT           (64u << 20) /* oversized bodies up to this are read, then refused */
#define STOP_GRACE_S            5           /* for running requests to be answered at shutdown */
#define LISTEN_BACKLOG          64
#define FIRST_RESUMABLE_VERSION "2025-03-26" /* event ids and Last-Event-ID */
#define FIRST_PRIMING_VERSION   "2025-11-25" /* priming events and retry: (SEP-1699) */

struct http_session {
    struct http_session *next;
    char id[2 * SESSION_ID_BYTES + 1];
    pv_mcp_session *s;
    pv_mcp__streams *ss; /* its resumable streams (closed when it leaves the table) */
    int refs;            /* the table's + one per request using it; under h->mu */
    bool gone;           /* removed from the table */
    uint64_t used_ns;
};

struct pv_mcp_http {
    pv_mcp *m;
    struct MHD_Daemon *d;
    pv_mcp__conns *conns;
    unsigned timeout_s;
    uint64_t session_idle_ns;
    size_t max_sessions;
    int listen_fd;
    int port;
    char *token;
    bool loopback; /* bound to a loopback address: Host must name one too */
    size_t max_body;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* active reached 0 */
    struct http_session *sessions;
    size_t nsessions;
    size_t active;          /* requests begun and not yet completed */
    unsigned grace_ms;      /* a closed resumable stream's grace period */
    unsigned max_events;    /* the event bound of a session's stream buffer */
    bool test_reconnection; /* the conformance suite's diagnostic tool (hidden) */
};

/* Per HTTP request (MHD's con_cls). */
struct req {
    pv_buf body;
    size_t received; /* body bytes, also those dropped */
    bool too_large;
};

/* ==== sessions ========================================================= */

static struct http_session *session_find(pv_mcp_http *h, const char *id)
{
    pthread_mutex_lock(&h->mu);
    struct http_session *hs = h->sessions;
    while (hs && strcmp(hs->id, id) != 0)
        hs = hs->next;
    if (hs) {
        hs->refs++;
        hs->used_ns = pv_now_ns();
    }
    pthread_mutex_unlock(&h->mu);
    return hs;
}

/* Drops a reference; under h->mu. Returns the session to release, if any. */
static pv_mcp_session *session_unref_locked(struct http_session *hs)
{
    if (--hs->refs > 0)
        return NULL;
    pv_mcp_session *s = hs->s;
    pv_mcp__streams_close(hs->ss); /* its readers end, its buffer goes */
    free(hs);
    return s;
}

static void session_unref(pv_mcp_http *h, struct http_session *hs)
{
    pthread_mutex_lock(&h->mu);
    hs->used_ns = pv_now_ns(); /* a request ended: idle from now */
    pv_mcp_session *s = session_unref_locked(hs);
    pthread_mutex_unlock(&h->mu);
    pv_mcp_session_release(s);
}

/* Unlinks a session from the table; under h->mu. */
static void session_unlink_locked(pv_mcp_http *h, struct http_session *hs)
{
    for (struct http_session **p = &h->sessions; *p; p = &(*p)->next) {
        if (*p == hs) {
            *p = hs->next;
            h->nsessions--;
            hs->gone = true;
            return;
        }
    }
}

/* Nothing uses the session: no request holds it, no tool call runs; under h->mu. */
static bool session_idle_locked(const struct http_session *hs)
{
    return hs->refs == 1 && pv_mcp_session_running(hs->s) == 0;
}

/* The reaper's tick: ends the sessions idle longer than the idle lifetime. */
static void sessions_expire(void *arg)
{
    pv_mcp_http *h = arg;
    pv_mcp_session *expired[16];
    size_t n;
    do {
        n = 0;
        pthread_mutex_lock(&h->mu);
        uint64_t now = pv_now_ns();
        for (struct http_session *o = h->sessions, *next; o && n < PV_ARRAY_LEN(expired);
             o = next) {
            next = o->next;
            if (session_idle_locked(o) && now - o->used_ns > h->session_idle_ns) {
                session_unlink_locked(h, o);
                expired[n++] = session_unref_locked(o);
            }
        }
        pthread_mutex_unlock(&h->mu);
        for (size_t i = 0; i < n; i++)
            pv_mcp_session_release(expired[i]);
    } while (n == PV_ARRAY_LEN(expired));
    /* Closed resumable streams nobody came back for: their calls are cancelled. */
    pthread_mutex_lock(&h->mu);
    for (struct http_session *o = h->sessions; o; o = o->next)
        if (o->ss)
            pv_mcp__streams_expire(o->ss);
    pthread_mutex_unlock(&h->mu);
}

/*
 * Registers an initialized session under a fresh random id. When the table
 * is full, the least recently used idle session is ended to make room (an
 * abandoned one, most likely: its client would get 404 and initialize
 * again). Returns NULL when every session is in use or the id cannot be made.
 */
static struct http_session *session_add(pv_mcp_http *h, pv_mcp_session *s)
{
    unsigned char rnd[SESSION_ID_BYTES];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        got += (size_t)n;
    }
    struct http_session *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(rnd); i++) {
        hs->id[2 * i] = hex[rnd[i] >> 4];
        hs->id[2 * i + 1] = hex[rnd[i] & 15];
    }
    hs->ss = pv_mcp__streams_new(h->grace_ms, h->max_events);
    if (!hs->ss) {
        free(hs);
        return NULL;
    }
    hs->s = s;
    hs->refs = 1;
    hs->used_ns = pv_now_ns();

    pv_mcp_session *evicted = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->nsessions >= h->max_sessions) {
        struct http_session *lru = NULL;
        for (struct http_session *o = h->sessions; o; o = o->next)
            if (session_idle_locked(o) && (!lru || o->used_ns < lru->used_ns))
                lru = o;
        if (lru) {
            session_unlink_locked(h, lru);
            evicted = session_unref_locked(lru);
        }
    }
    bool full = h->nsessions >= h->max_sessions;
    if (!full) {
        hs->next = h->sessions;
        h->sessions = hs;
        h->nsessions++;
    }
    pthread_mutex_unlock(&h->mu);
    pv_mcp_session_release(evicted);
    if (full) {
        pv_mcp__streams_close(hs->ss);
        free(hs);
        return NULL;
    }
    return hs;
}

/* ==== responses ======================================================== */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                               const char *body, size_t len, const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An HTTP-level failure with a JSON-RPC error body (as the SDKs send). */
static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, int code,
                                     const char *msg, const char *hname, const char *hvalue)
{
    json_t *e = pv_jrpc_error(NULL, code, msg, NULL);
    char *text = e ? pv_jrpc_dump(e) : NULL;
    json_decref(e);
    enum MHD_Result r = respond(c, status, "application/json", text ? text : "",
                                text ? strlen(text) : 0, hname, hvalue);
    free(text);
    return r;
}

/* Over the connection limits with every connection busy: 503, then close. */
static enum MHD_Result respond_full(struct MHD_Connection *c)
{
    json_t *e = pv_jrpc_error(NULL, PV_JRPC_SERVER_ERROR,
                              "Service Unavailable: too many connections; retry shortly", NULL);
    char *text = e ? pv_jrpc_dump(e) : NULL;
    json_decref(e);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"", MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ret;
}

/* ==== methods ========================================================== */

static enum MHD_Result do_delete(pv_mcp_http *h, struct MHD_Connection *c)
{
    const char *sid = pv_mcp__header(c, "Mcp-Session-Id");
    if (!sid)
        return respond_error(c, MHD_HTTP_BAD_REQUEST, PV_JRPC_SERVER_ERROR,
                             "Bad Request: Mcp-Session-Id header is required", NULL, NULL);
    struct http_session *hs = session_find(h, sid);
    if (!hs)
        return respond_error(c, MHD_HTTP_NOT_FOUND, PV_JRPC_SESSION_NOT_FOUND, "Session not found",
                             NULL, NULL);
    pthread_mutex_lock(&h->mu);
    bool table_ref = !hs->gone;
    if (table_ref)
        session_unlink_locked(h, hs);
    pthread_mutex_unlock(&h->mu);
    pv_mcp_session_stop(hs->s); /* its running calls still answer (cancelled) */
    if (table_ref)
        session_unref(h, hs);
    session_unref(h, hs);
    return respond(c, MHD_HTTP_OK, NULL, NULL, 0, NULL, NULL);
}

/*
 * GET: with Last-Event-ID, resumes that stream of the session (replays the
 * events after the id, then goes on until the stream's end); without, the
 * session's standalone stream (keepalive comments only: we send nothing
 * unsolicited), open until the session ends.
 */
static enum MHD_Result do_get(pv_mcp_http *h, struct MHD_Connection *c)
{
    const char *hver = pv_mcp__header(c, "MCP-Protocol-Version");
    const char *sid = pv_mcp__header(c, "Mcp-Session-Id");
    if ((hver && pv_mcp_version_modern(hver)) || !sid)
        return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, PV_JRPC_SERVER_ERROR,
                             "Method Not Allowed: a stream needs a session (Mcp-Session-Id)",
                             MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
    if (!pv_mcp__accepts(c, "text/event-stream"))
        return respond_error(c, MHD_HTTP_NOT_ACCEPTABLE, PV_JRPC_SERVER_ERROR,
                             "Not Acceptable: accept text/event-stream", NULL, NULL);
    struct http_session *hs = session_find(h, sid);
    if (!hs)
        return respond_error(c, MHD_HTTP_NOT_FOUND, PV_JRPC_SESSION_NOT_FOUND, "Session not found",
                             NULL, NULL);
    const char *ver = pv_mcp_session_version(hs->s);
    enum MHD_Result ret;
    const char *last = pv_mcp__header(c, "Last-Event-ID");
    uint32_t after = 0;
    unsigned gen = 0;
    bool busy = false;
    struct pv_mcp__hx *x = NULL;
    if (strcmp(ver, FIRST_RESUMABLE_VERSION) < 0)
        ret = respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, PV_JRPC_SERVER_ERROR,
                            "Method Not Allowed: no stream in this protocol version",
                            MHD_HTTP_HEADER_ALLOW, "POST, DELETE");
    else if (last && !(x = pv_mcp__streams_resume(hs->ss, last, &after, &gen)))
        ret = respond_error(c, MHD_HTTP_BAD_REQUEST, PV_JRPC_SERVER_ERROR,
                            "Bad Request: unknown or expired Last-Event-ID", NULL, NULL);
    else if (!last && !(x = pv_mcp__streams_standalone(
                            hs->ss, hs->s, strcmp(ver, FIRST_PRIMING_VERSION) >= 0, &busy)))
        ret = busy ? respond_error(c, MHD_HTTP_CONFLICT, PV_JRPC_SERVER_ERROR,
                                   "Conflict: this session's stream is already open", NULL, NULL)
                   : respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, PV_JRPC_INTERNAL_ERROR,
                                   "out of memory", NULL, NULL);
    else
        ret = pv_mcp__sse_respond(c, x, after, gen, h->timeout_s);
    session_unref(h, hs);
    return ret;
}

/* 400 with UnsupportedProtocolVersionError (-32022) listing ours. */
static enum MHD_Result respond_unsupported(struct MHD_Connection *c, const char *requested,
                                           json_t *id)
{
    pv_buf msg = PV_BUF_INIT;
    pv_buf_printf(&msg,
                  "Bad Request: unsupported MCP-Protocol-Version: %s (supported: ", requested);
    pv_mcp_put_versions(&msg);
    pv_buf_puts(&msg, ")");
    json_t *sup = json_array();
    pv_buf list = PV_BUF_INIT;
    pv_mcp_put_versions(&list);
    for (const char *p = pv_buf_str(&list); sup && *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(sup, json_stringn(p, n));
        p += n;
        p += strspn(p, ", ");
    }
    pv_buf_fini(&list);
    json_t *e = pv_jrpc_error(id, PV_JRPC_UNSUPPORTED_VERSION, pv_buf_str(&msg),
                              json_pack("{s:o*, s:s}", "supported", sup, "requested", requested));
    pv_buf_fini(&msg);
    char *text = e ? pv_jrpc_dump(e) : NULL;
    json_decref(e);
    enum MHD_Result ret = respond(c, MHD_HTTP_BAD_REQUEST, "application/json", text ? text : "",
                                  text ? strlen(text) : 0, NULL, NULL);
    free(text);
    return ret;
}

/*
 * The HTTP status of a stateless (2026-07-28) request's answer: the
 * specification's errors are 400 (unsupported version, missing
 * capability, invalid params such as a missing _meta field), an unknown
 * method 404, anything else 200.
 */
static unsigned modern_status(const pv_buf *out)
{
    json_t *m = json_loadb(out->data, out->len, 0, NULL);
    json_t *code = json_object_get(json_object_get(m, "error"), "code");
    unsigned status = MHD_HTTP_OK;
    if (json_is_integer(code)) {
        json_int_t k = json_integer_value(code);
        if (k == PV_JRPC_METHOD_NOT_FOUND)
            status = MHD_HTTP_NOT_FOUND;
        else if (k == PV_JRPC_UNSUPPORTED_VERSION || k == PV_JRPC_MISSING_CAPABILITY ||
                 k == PV_JRPC_HEADER_MISMATCH || k == PV_JRPC_INVALID_PARAMS ||
                 k == PV_JRPC_INVALID_REQUEST || k == PV_JRPC_PARSE_ERROR)
            status = MHD_HTTP_BAD_REQUEST;
    }
    json_decref(m);
    return status;
}

/*
 * A JSON answer that is a rate-limit refusal (a tool error with
 * retry_after_s): true with the seconds as text in buf, for 429 and
 * Retry-After. The body still carries the tool error, for the model.
 */
static bool retry_after(const pv_buf *out, char *buf, size_t bufsz)
{
    json_t *m = json_loadb(out->data, out->len, 0, NULL);
    int s = json_is_object(m) ? pv_mcp_retry_after(m) : 0;
    json_decref(m);
    if (s <= 0)
        return false;
    snprintf(buf, bufsz, "%d", s);
    return true;
}

/* The client's address as numeric text ("" when unknown), for the rate limits and the audit. */
static void client_address(struct MHD_Connection *c, char *buf, size_t bufsz)
{
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    pv_listen_peer_text(ai ? ai->client_addr : NULL, buf, bufsz);
}

/* Which session a POST runs on; exactly one of the three is set. */
struct post_session {
    struct http_session *hs;   /* a legacy session from the table (a reference) */
    pv_mcp_session *fresh;     /* initialize's new session, added to the table if it succeeds */
    pv_mcp_session *stateless; /* a 2026-07-28 request's own, ended with its answer */
};

static void post_session_end(pv_mcp_http *h, struct post_session *ps)
{
    if (ps->hs)
        session_unref(h, ps->hs);
    pv_mcp_session_release(ps->fresh);
    pv_mcp_session_release(ps->stateless);
}

/*
 * Chooses the session of a parsed POST. Returns MHD_YES with ps filled, or
 * the refusal already queued (then ps is empty).
 */
static enum MHD_Result post_session(pv_mcp_http *h, struct MHD_Connection *c, json_t *root,
                                    struct post_session *ps, bool *refused)
{
    *refused = true;
    const char *sid = pv_mcp__header(c, "Mcp-Session-Id");
    const char *mver = pv_mcp_request_version(root);
    const char *hver = pv_mcp__header(c, "MCP-Protocol-Version");
    bool modern = (mver && pv_mcp_version_modern(mver)) || (hver && pv_mcp_version_modern(hver));
    if (!modern && hver && !pv_mcp_version_supported(hver))
        return respond_unsupported(c, hver, json_object_get(root, "id"));
    /* 2026-07-28 has no sessions: a stray Mcp-Session-Id is ignored. */
    if (modern || (mver && !sid)) {
        pv_buf msg = PV_BUF_INIT;
        if (mver && modern && !pv_mcp__modern_headers_ok(c, root, mver, &msg)) {
            json_t *e = pv_jrpc_error(json_object_get(root, "id"), PV_JRPC_HEADER_MISMATCH,
                                      pv_buf_str(&msg), NULL);
            pv_buf_fini(&msg);
            char *text = e ? pv_jrpc_dump(e) : NULL;
            json_decref(e);
            enum MHD_Result ret = respond(c, MHD_HTTP_BAD_REQUEST, "application/json",
                                          text ? text : "", text ? strlen(text) : 0, NULL, NULL);
            free(text);
            return ret;
        }
        pv_buf_fini(&msg);
        if (pv_mcp_session_create(h->m, &ps->stateless) != 0)
            return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, PV_JRPC_INTERNAL_ERROR,
                                 "out of memory", NULL, NULL);
        if (modern) /* the header says so: a missing _meta is -32602, not a session's error */
            pv_mcp_session_stateless(ps->stateless);
    } else if (sid) {
        ps->hs = session_find(h, sid);
        if (!ps->hs)
            return respond_error(c, MHD_HTTP_NOT_FOUND, PV_JRPC_SESSION_NOT_FOUND,
                                 "Session not found", NULL, NULL);
    } else if (pv_mcp_is_initialize(root)) {
        if (pv_mcp_session_create(h->m, &ps->fresh) != 0)
            return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, PV_JRPC_INTERNAL_ERROR,
                                 "out of memory", NULL, NULL);
    } else {
        return respond_error(c, MHD_HTTP_BAD_REQUEST, PV_JRPC_SERVER_ERROR,
                             "Bad Request: Mcp-Session-Id header is required (initialize first, "
                             "or send protocol version " PV_MCP_LATEST_VERSION " in params._meta)",
                             NULL, NULL);
    }
    *refused = false;
    return MHD_YES;
}

/* Queues the event stream of a POST whose answers stream (x is the response's now). */
static enum MHD_Result respond_stream(pv_mcp_http *h, struct MHD_Connection *c,
                                      struct pv_mcp__hx *x, struct post_session *ps)
{
    if (ps->stateless) { /* the stream owns it: ended with its reader */
        x->release = true;
        ps->stateless = NULL;
    }
    return pv_mcp__sse_respond(c, x, 0, 0, h->timeout_s);
}

/* Waits for a POST's answers and queues them as one JSON body. */
static enum MHD_Result respond_json(pv_mcp_http *h, struct MHD_Connection *c, struct pv_mcp__hx *x,
                                    struct post_session *ps)
{
    pthread_mutex_lock(x->mu);
    bool here = pv_mcp__hx_wait_locked(x);
    while (!x->done) /* after a cancellation: until the input completes */
        pthread_cond_wait(&x->cv, x->mu);
    pthread_mutex_unlock(x->mu);
    if (!here) {
        pv_mcp__hx_unref(x);
        return MHD_NO; /* nobody to answer: close */
    }
    const char *hname = NULL, *hvalue = NULL;
    if (ps->fresh && pv_mcp_session_initialized(ps->fresh)) {
        struct http_session *added = session_add(h, ps->fresh);
        if (!added) {
            pv_mcp__hx_unref(x);
            return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, PV_JRPC_SERVER_ERROR,
                                 "too many sessions", NULL, NULL);
        }
        hname = "Mcp-Session-Id";
        hvalue = added->id;
        ps->fresh = NULL; /* owned by the table now */
    }
    enum MHD_Result ret;
    char retry[16];
    if (x->out.len == 0) /* the only request was cancelled */
        ret = respond(c, MHD_HTTP_ACCEPTED, NULL, NULL, 0, hname, hvalue);
    else if (!hname && retry_after(&x->out, retry, sizeof(retry)))
        ret = respond(c, MHD_HTTP_TOO_MANY_REQUESTS, "application/json", x->out.data, x->out.len,
                      MHD_HTTP_HEADER_RETRY_AFTER, retry);
    else
        ret = respond(c, ps->stateless ? modern_status(&x->out) : MHD_HTTP_OK, "application/json",
                      x->out.data, x->out.len, hname, hvalue);
    pv_mcp__hx_unref(x);
    return ret;
}

/*
 * The client names text/event-stream before application/json in Accept
 * (the SDKs name JSON first): a session's answers then stream, each
 * resumable, also those without progress.
 */
static bool prefers_sse(struct MHD_Connection *c)
{
    const char *a = pv_mcp__header(c, MHD_HTTP_HEADER_ACCEPT);
    const char *sse = a ? strcasestr(a, "text/event-stream") : NULL;
    const char *json = a ? strcasestr(a, "application/json") : NULL;
    return sse && (!json || sse < json);
}

/* A tools/call of the conformance suite's diagnostic tool test_reconnection. */
static bool is_test_reconnection(json_t *root)
{
    const char *m = json_string_value(json_object_get(root, "method"));
    const char *name = json_string_value(json_object_get(json_object_get(root, "params"), "name"));
    return m && name && strcmp(m, "tools/call") == 0 && strcmp(name, "test_reconnection") == 0;
}

/*
 * Answers test_reconnection (enabled by PGVOLLEY_MCP_TEST_RECONNECTION=1,
 * for the conformance suite only; tools/list never shows it): its stream
 * is closed after the priming event (SSE polling) and its result waits in
 * the buffer for the client's GET with Last-Event-ID. Returns 1.
 */
static size_t answer_test_reconnection(struct pv_mcp__hx *x, json_t *root)
{
    x->poll = true;
    json_t *res = json_pack("{s:s, s:O, s:{s:[{s:s, s:s}]}}", "jsonrpc", "2.0", "id",
                            json_object_get(root, "id"), "result", "content", "type", "text",
                            "text", "answered after the client reconnected");
    if (res)
        pv_mcp__hx_send(x, res, false);
    json_decref(res);
    pv_mcp__hx_done(x);
    return 1;
}

static enum MHD_Result do_post(pv_mcp_http *h, struct MHD_Connection *c, struct req *r)
{
    json_t *root = NULL, *reply = NULL;
    pv_err err = {{0}};
    if (pv_jrpc_parse(r->body.data ? r->body.data : "", r->body.len, &root, &reply, &err) != 0) {
        char *text = reply ? pv_jrpc_dump(reply) : NULL;
        json_decref(reply);
        enum MHD_Result ret = respond(c, MHD_HTTP_BAD_REQUEST, "application/json", text ? text : "",
                                      text ? strlen(text) : 0, NULL, NULL);
        free(text);
        return ret;
    }
    struct post_session ps = {0};
    bool refused;
    enum MHD_Result ret = post_session(h, c, root, &ps, &refused);
    if (refused) {
        json_decref(root);
        return ret;
    }
    pv_mcp_session *s = ps.hs ? ps.hs->s : ps.fresh ? ps.fresh : ps.stateless;
    char peer[NI_MAXHOST];
    client_address(c, peer, sizeof(peer));
    pv_mcp_session_set_peer(s, peer);

    /* Stream only what has progress to stream; initialize answers as JSON
       so that its session id travels in the headers of a complete answer.
       A session's stream is resumable where its version defines it. */
    bool diag = ps.hs && h->test_reconnection && is_test_reconnection(root);
    bool stream = !ps.fresh && pv_mcp__accepts(c, "text/event-stream") &&
                  (pv_mcp_wants_progress(root) || diag || (ps.hs && prefers_sse(c)));
    const char *ver = pv_mcp_session_version(s);
    bool resumable =
        stream && ps.hs && !pv_mcp_version_modern(ver) && strcmp(ver, FIRST_RESUMABLE_VERSION) >= 0;
    bool priming = resumable && strcmp(ver, FIRST_PRIMING_VERSION) >= 0;
    struct pv_mcp__hx *x = pv_mcp__hx_new(stream, s, resumable ? ps.hs->ss : NULL, priming);
    if (!x) {
        json_decref(root);
        post_session_end(h, &ps);
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, PV_JRPC_INTERNAL_ERROR,
                             "out of memory", NULL, NULL);
    }
    x->conn = c;
    x->timeout_s = h->timeout_s;
    size_t nreq;
    if (diag && x->ss && x->priming) {
        nreq = answer_test_reconnection(x, root);
    } else {
        struct pv_mcp_sink sink = {pv_mcp__hx_send, pv_mcp__hx_done, x};
        nreq = pv_mcp_handle(s, root, &sink);
    }
    json_decref(root);

    if (nreq == 0) {
        pv_mcp__hx_abandon(x);
        ret = respond(c, MHD_HTTP_ACCEPTED, NULL, NULL, 0, NULL, NULL);
    } else if (stream) {
        ret = respond_stream(h, c, x, &ps);
    } else {
        ret = respond_json(h, c, x, &ps);
    }
    post_session_end(h, &ps);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    pv_mcp_http *h = cls;
    struct req *r = *con_cls;
    if (!r) {
        /* First call: the headers are in; the body (if any) follows. */
        if (!pv_mcp__conn_begin(c))
            return respond_full(c);
        const char *origin = pv_mcp__header(c, "Origin");
        if (origin && !pv_http_origin_loopback(origin))
            return respond_error(c, MHD_HTTP_FORBIDDEN, PV_JRPC_SERVER_ERROR,
                                 "Forbidden: origin not allowed", NULL, NULL);
        const char *hosthdr = pv_mcp__header(c, "Host");
        if (h->loopback && (!hosthdr || !pv_http_host_loopback(hosthdr)))
            return respond_error(c, MHD_HTTP_FORBIDDEN, PV_JRPC_SERVER_ERROR,
                                 "Forbidden: Host not allowed", NULL, NULL);
        if (!pv_mcp__auth_ok(h->token, c))
            return respond_error(c, MHD_HTTP_UNAUTHORIZED, PV_JRPC_SERVER_ERROR,
                                 "Unauthorized: a bearer token is required", "WWW-Authenticate",
                                 "Bearer");
        if (strcmp(url, "/mcp") != 0)
            return respond_error(c, MHD_HTTP_NOT_FOUND, PV_JRPC_SERVER_ERROR,
                                 "Not Found: the endpoint is /mcp", NULL, NULL);
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
            /* An oversized body is refused at once only when the client
               waits for "100 Continue" or the body is huge: answering
               while a client still sends makes it see a reset instead of
               the 413; so a moderate body is read, dropped, then refused. */
            const char *cl = pv_mcp__header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
            if (len > h->max_body &&
                (len > DISCARD_LIMIT || pv_mcp__header(c, MHD_HTTP_HEADER_EXPECT)))
                return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, PV_JRPC_SERVER_ERROR,
                                     "Payload Too Large", NULL, NULL);
            const char *ct = pv_mcp__header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (ct && strncasecmp(ct, "application/json", 16) != 0)
                return respond_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, PV_JRPC_SERVER_ERROR,
                                     "Unsupported Media Type: send application/json", NULL, NULL);
            const char *acc = pv_mcp__header(c, MHD_HTTP_HEADER_ACCEPT);
            if (acc && !strcasestr(acc, "application/json") &&
                !strcasestr(acc, "text/event-stream") && !strstr(acc, "*/*"))
                return respond_error(c, MHD_HTTP_NOT_ACCEPTABLE, PV_JRPC_SERVER_ERROR,
                                     "Not Acceptable: accept application/json or "
                                     "text/event-stream",
                                     NULL, NULL);
        } else if (strcmp(method, MHD_HTTP_METHOD_DELETE) != 0 &&
                   strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
            return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, PV_JRPC_SERVER_ERROR,
                                 "Method Not Allowed: GET, POST or DELETE", MHD_HTTP_HEADER_ALLOW,
                                 "GET, POST, DELETE");
        }
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        pv_buf_init(&r->body);
        *con_cls = r;
        pthread_mutex_lock(&h->mu);
        h->active++;
        pthread_mutex_unlock(&h->mu);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_large && r->body.len + *upload_size > h->max_body) {
            r->too_large = true;
            pv_buf_fini(&r->body);
        }
        if (!r->too_large)
            pv_buf_append(&r->body, upload_data, *upload_size);
        r->received += *upload_size;
        *upload_size = 0;
        return r->received > DISCARD_LIMIT ? MHD_NO : MHD_YES; /* enough: close */
    }
    pv_mcp__conn_busy(c);
    if (r->too_large)
        return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, PV_JRPC_SERVER_ERROR,
                             "Payload Too Large", NULL, NULL);
    if (pv_buf_ok(&r->body) != 0)
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, PV_JRPC_INTERNAL_ERROR,
                             "out of memory", NULL, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
        return do_delete(h, c);
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return do_get(h, c);
    return do_post(h, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    pv_mcp_http *h = cls;
    pv_mcp__conn_end(c);
    struct req *r = *con_cls;
    if (!r)
        return;
    pv_buf_fini(&r->body);
    free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&h->mu);
    if (--h->active == 0)
        pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* ==== start / stop ===================================================== */

static int listen_on(const char *host, int port, int *fd_out, int *family, int *bound_port,
                     pv_err *err)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0)
        return pv_err_set(err, VOLLEY_EINVAL, "cannot resolve '%s': %s", host, gai_strerror(gai));
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0) {
            *family = ai->ai_family;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return pv_err_set(err, VOLLEY_EIO, "cannot listen on %s:%d: %s", host, port,
                          strerror(saved));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *bound_port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    *fd_out = fd;
    return 0;
}

int pv_mcp_http_start(pv_mcp *m, const struct pv_mcp_http_opts *opts, pv_mcp_http **out,
                      pv_err *err)
{
    pv_mcp_http *h = calloc(1, sizeof(*h));
    if (!h)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    h->m = m;
    h->listen_fd = -1;
    h->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    h->timeout_s = opts->timeout_s > 0 ? (unsigned)opts->timeout_s : PV_MCP__HTTP_DEFAULT_TIMEOUT_S;
    h->session_idle_ns =
        (uint64_t)((opts->session_idle_s > 0 ? opts->session_idle_s : DEFAULT_SESSION_IDLE_S) *
                   1e9);
    h->max_sessions = opts->max_sessions > 0 ? (size_t)opts->max_sessions : DEFAULT_MAX_SESSIONS;
    /* Hidden knobs for the tests: a short grace period, and the conformance
       suite's diagnostic tool (docs/mcp-protocol.md "Resumable streams"). */
    const char *grace = getenv("PGVOLLEY_MCP_RESUME_GRACE_MS");
    unsigned long g = grace ? strtoul(grace, NULL, 10) : 0;
    h->grace_ms = g > 0 && g <= 3600000 ? (unsigned)g : PV_MCP__RESUME_GRACE_MS;
    const char *maxev = getenv("PGVOLLEY_MCP_RESUME_MAX_EVENTS");
    unsigned long me = maxev ? strtoul(maxev, NULL, 10) : 0;
    h->max_events =
        me >= 2 && me < PV_MCP__RESUME_MAX_EVENTS ? (unsigned)me : PV_MCP__RESUME_MAX_EVENTS;
    const char *diag = getenv("PGVOLLEY_MCP_TEST_RECONNECTION");
    h->test_reconnection = diag && strcmp(diag, "1") == 0;
    if (opts->token) {
        h->token = strdup(opts->token);
        if (!h->token) {
            free(h);
            return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        }
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    const char *host = opts->host ? opts->host : "127.0.0.1";
    int family = AF_INET;
    int rc = listen_on(host, opts->port, &h->listen_fd, &family, &h->port, err);
    if (rc != 0)
        goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(h->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            h->loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
        else if (ss.ss_family == AF_INET6)
            h->loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct pv_mcp__conns_opts co = {
        .max_total = opts->max_connections > 0 ? (unsigned)opts->max_connections
                                               : PV_MCP__HTTP_DEFAULT_MAX_CONN,
        .timeout_s = h->timeout_s,
        .tick = sessions_expire,
        .tick_arg = h,
    };
    co.max_per_addr = opts->max_per_address > 0 ? (unsigned)opts->max_per_address
                      : h->loopback             ? co.max_total
                                                : PV_MAX(1u, co.max_total / PER_ADDRESS_SHARE);
    rc = pv_mcp__conns_create(&co, &h->conns);
    if (rc != 0) {
        rc = pv_err_set(err, rc, "cannot start the HTTP server: %s", volley_strerror(rc));
        goto fail;
    }
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET,
                            h->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
                            pv_mcp__conns_hard_total(h->conns), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            pv_mcp__conns_hard_per_addr(h->conns), MHD_OPTION_CONNECTION_TIMEOUT,
                            h->timeout_s, MHD_OPTION_NOTIFY_CONNECTION, pv_mcp__conns_notify,
                            h->conns, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (!h->d) {
        rc = pv_err_set(err, VOLLEY_EIO, "cannot start the HTTP server on %s:%d", host, opts->port);
        goto fail;
    }
    *out = h;
    return 0;
fail:
    pv_mcp__conns_destroy(h->conns);
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->token);
    free(h);
    return rc;
}

int pv_mcp_http_port(const pv_mcp_http *h)
{
    return h->port;
}

void pv_mcp_http_stop(pv_mcp_http *h)
{
    if (!h)
        return;
    /* No new connections; the running calls are cancelled and answered
       (their requests get a complete response: wait for them a little),
       then MHD closes the connections and joins their threads. */
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    pv_mcp_shutdown(h->m);
    pthread_mutex_lock(&h->mu); /* the standalone streams end, resumable ones are dropped */
    for (struct http_session *o = h->sessions; o; o = o->next)
        pv_mcp__streams_end(o->ss);
    pthread_mutex_unlock(&h->mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_GRACE_S;
    pthread_mutex_lock(&h->mu);
    while (h->active > 0)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->d);
    pv_mcp__conns_destroy(h->conns); /* joins the reaper before the sessions go */
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    pthread_mutex_lock(&h->mu);
    struct http_session *hs = h->sessions;
    h->sessions = NULL;
    h->nsessions = 0;
    pthread_mutex_unlock(&h->mu);
    while (hs) {
        struct http_session *next = hs->next;
        pv_mcp_session *s = hs->s;
        pv_mcp__streams_close(hs->ss);
        free(hs); /* no request holds it any more */
        pv_mcp_session_release(s);
        hs = next;
    }
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->token);
    free(h);
}
