/*
 * pv_mcp_http_sse.c - the exchanges of the Streamable HTTP transport (the
 * answers to one POST) and their event streams: ids, the per-session
 * buffer of resumable streams, Last-Event-ID replay, the grace period of a
 * closed stream and the standalone GET stream (see pv_mcp_http_int.h and
 * docs/mcp-protocol.md "Resumable streams").
 *
 * A stream has at most one reader at a time (struct rd, MHD's response
 * callback): the POST's, then each GET that resumes it; a resumption
 * takes the stream over (x->gen), the previous reader ends at its next
 * wake-up. A reader that sent the stream to its end drops it from the
 * buffer; one whose client went away leaves it detached for the grace
 * period.
 *
 * Locks: a resumable exchange's lock is its session's streams' lock (so
 * the buffer's bounds and the list are kept under the same lock as the
 * events); the others have their own. Never held while calling into
 * pv_mcp (cancellation), never nested.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"
#include "mcp/pv_mcp_http_int.h"

#define SSE_BLOCK_SIZE 16384 /* libmicrohttpd's read block for an event stream */
#define NS_PER_MS      1000000ull

struct pv_mcp__streams {
    pthread_mutex_t mu;
    int refs; /* the session's + one per exchange made for it */
    bool closed;
    struct pv_mcp__hx *list; /* listed streams, newest first */
    size_t nev, bytes;       /* the listed streams' events and their data bytes */
    unsigned nstandalone;
    uint64_t grace_ns;
    size_t max_events;
};

/* A stream's number: unique in the process, so an id of another session's
   stream names nothing in this one. */
static atomic_uint_fast64_t next_num = 1;

/* One reader of a stream (an HTTP response). */
struct rd {
    struct pv_mcp__hx *x;
    struct MHD_Connection *conn;
    unsigned timeout_s;
    unsigned gen;
    uint32_t after; /* events up to this N were sent */
    pv_buf pend;    /* formatted, not yet handed to MHD */
    size_t off;
    bool primed;   /* the start (priming event) is done */
    bool complete; /* the stream was sent to its end */
    bool unlinked; /* ... and dropped from the buffer (the buffer's reference is ours to drop) */
    uint64_t keep_ns;
};

static void streams_unref(pv_mcp__streams *ss)
{
    if (!ss)
        return;
    pthread_mutex_lock(&ss->mu);
    bool last = --ss->refs == 0;
    pthread_mutex_unlock(&ss->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

pv_mcp__streams *pv_mcp__streams_new(unsigned grace_ms, unsigned max_events)
{
    pv_mcp__streams *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return NULL;
    pthread_mutex_init(&ss->mu, NULL);
    ss->refs = 1;
    ss->grace_ns = (uint64_t)(grace_ms ? grace_ms : 1) * NS_PER_MS;
    ss->max_events = max_events ? max_events : 1;
    return ss;
}

/* Takes x out of ss's list and counts; under ss->mu. */
static void unlink_locked(pv_mcp__streams *ss, struct pv_mcp__hx *x)
{
    for (struct pv_mcp__hx **p = &ss->list; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    for (struct pv_mcp__ev *e = x->head; e; e = e->next) {
        ss->nev--;
        ss->bytes -= e->len;
    }
    if (x->standalone)
        ss->nstandalone--;
    x->listed = false;
}

/* Drops x's oldest progress event from the buffer; under ss->mu. */
static bool drop_progress_locked(pv_mcp__streams *ss, struct pv_mcp__hx *x)
{
    struct pv_mcp__ev *prev = NULL;
    for (struct pv_mcp__ev *e = x->head; e; prev = e, e = e->next) {
        if (!e->progress)
            continue;
        if (prev)
            prev->next = e->next;
        else
            x->head = e->next;
        if (x->tail == e)
            x->tail = prev;
        ss->nev--;
        ss->bytes -= e->len;
        free(e);
        return true;
    }
    return false;
}

/* Keeps the session's buffer within its bounds; under ss->mu. */
static void trim_locked(pv_mcp__streams *ss, struct pv_mcp__hx *x)
{
    while (ss->nev > ss->max_events || ss->bytes > PV_MCP__RESUME_MAX_BYTES) {
        bool dropped = drop_progress_locked(ss, x);
        for (struct pv_mcp__hx *o = ss->list; o && !dropped; o = o->next)
            dropped = drop_progress_locked(ss, o);
        if (!dropped)
            return; /* only final answers: they are kept */
    }
}

/* ==== exchanges ======================================================== */

struct pv_mcp__hx *pv_mcp__hx_new(bool stream, pv_mcp_session *s, pv_mcp__streams *ss, bool priming)
{
    struct pv_mcp__hx *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    pthread_mutex_init(&x->own_mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->mu = &x->own_mu;
    x->refs = 2;
    x->stream = stream;
    pv_mcp_session_hold(s);
    x->s = s;
    pv_buf_init(&x->out);
    if (ss && stream) {
        pthread_mutex_lock(&ss->mu);
        if (!ss->closed && ss->nev < ss->max_events && ss->bytes < PV_MCP__RESUME_MAX_BYTES) {
            ss->refs++;
            x->ss = ss;
            x->mu = &ss->mu;
            x->num = (uint64_t)atomic_fetch_add(&next_num, 1);
            x->priming = priming;
            x->attached = true;
            x->listed = true;
            x->refs++; /* the buffer's */
            x->next = ss->list;
            ss->list = x;
        }
        pthread_mutex_unlock(&ss->mu);
    }
    return x;
}

void pv_mcp__hx_unref(struct pv_mcp__hx *x)
{
    pthread_mutex_lock(x->mu);
    bool last = --x->refs == 0;
    pthread_mutex_unlock(x->mu);
    if (!last)
        return;
    while (x->head) {
        struct pv_mcp__ev *e = x->head;
        x->head = e->next;
        free(e);
    }
    pv_mcp_session_drop(x->s);
    pv_buf_fini(&x->out);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->own_mu);
    pv_mcp__streams *ss = x->ss;
    free(x);
    streams_unref(ss);
}

void pv_mcp__hx_abandon(struct pv_mcp__hx *x)
{
    bool listed = false;
    pthread_mutex_lock(x->mu);
    if (x->ss && x->listed) {
        unlink_locked(x->ss, x);
        x->attached = false;
        listed = true;
    }
    pthread_mutex_unlock(x->mu);
    if (listed)
        pv_mcp__hx_unref(x); /* the buffer's */
    pv_mcp__hx_unref(x);
}

void pv_mcp__hx_send(void *arg, json_t *msg, bool notification)
{
    struct pv_mcp__hx *x = arg;
    if (notification && !x->stream)
        return; /* no stream to carry it */
    char *text = pv_jrpc_dump(msg);
    if (!text)
        return;
    size_t len = strlen(text);
    struct pv_mcp__ev *e = x->stream ? malloc(sizeof(*e) + len + 1) : NULL;
    pthread_mutex_lock(x->mu);
    if (!x->stream) {
        pv_buf_puts(&x->out, text);
    } else if (e) {
        e->next = NULL;
        e->seq = ++x->last_seq;
        e->progress = notification;
        e->len = len;
        memcpy(e->data, text, len + 1);
        if (x->tail)
            x->tail->next = e;
        else
            x->head = e;
        x->tail = e;
        if (x->listed) {
            x->ss->nev++;
            x->ss->bytes += len;
            trim_locked(x->ss, x);
        }
    }
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(x->mu);
    free(text);
}

void pv_mcp__hx_done(void *arg)
{
    struct pv_mcp__hx *x = arg;
    pthread_mutex_lock(x->mu);
    x->done = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(x->mu);
    pv_mcp__hx_unref(x);
}

/* Waits on x->cv for at most the gone-poll interval; true on timeout. */
static bool timed_wait_locked(struct pv_mcp__hx *x)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += PV_MCP__GONE_POLL_MS * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&x->cv, x->mu, &t) == ETIMEDOUT;
}

/* The client has gone from a stream nobody can resume: cancel its calls. */
static void gone_locked(struct pv_mcp__hx *x)
{
    x->gone = true;
    pthread_mutex_unlock(x->mu);
    pv_mcp_session_cancel_sink(x->s, x);
    pthread_mutex_lock(x->mu);
}

bool pv_mcp__hx_wait_locked(struct pv_mcp__hx *x)
{
    bool waited = false;
    while (!x->done && !x->gone) {
        waited = true;
        if (timed_wait_locked(x) && pv_mcp__client_gone(x->conn))
            gone_locked(x);
    }
    if (waited) /* MHD's connection thread: our wait is not the client's silence */
        pv_mcp__conn_touch(x->conn, x->timeout_s);
    return !x->gone;
}

/* ==== readers ========================================================== */

/* Formats the events after r->after into r->pend; under x->mu. */
static void take_events_locked(struct rd *r)
{
    struct pv_mcp__hx *x = r->x;
    for (struct pv_mcp__ev *e = x->head; e; e = e->next) {
        if (e->seq <= r->after)
            continue;
        if (x->ss)
            pv_buf_printf(&r->pend, "id: %llu-%u\n", (unsigned long long)x->num, (unsigned)e->seq);
        pv_buf_printf(&r->pend, "event: message\ndata: %s\n\n", e->data);
        r->after = e->seq;
    }
    if (!x->ss) { /* nobody can ask for them again */
        while (x->head) {
            struct pv_mcp__ev *e = x->head;
            x->head = e->next;
            free(e);
        }
        x->tail = NULL;
    }
}

/*
 * Makes r->pend hold bytes to send, waiting for them; under x->mu.
 * Returns 1, or MHD_CONTENT_READER_END_OF_STREAM (the stream's end, or a
 * polling stream's priming event sent) or _END_WITH_ERROR (the client has
 * gone, or another reader took the stream over).
 */
static ssize_t fill_locked(struct rd *r)
{
    struct pv_mcp__hx *x = r->x;
    bool waited = false;
    ssize_t ret = 1;
    while (r->off >= r->pend.len) {
        pv_buf_reset(&r->pend);
        r->off = 0;
        if (x->ss && x->gen != r->gen) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        if (!r->primed) {
            r->primed = true;
            if (x->priming && r->gen == 0)
                pv_buf_printf(&r->pend, "id: %llu-0\nretry: %d\ndata: \n\n",
                              (unsigned long long)x->num, PV_MCP__SSE_RETRY_MS);
            continue;
        }
        if (x->poll && r->gen == 0) { /* the client resumes with GET */
            ret = MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        take_events_locked(r);
        if (r->pend.len > 0)
            continue;
        if (x->done || (x->standalone && x->ss->closed) || x->gone) {
            r->complete = x->done;
            if (x->done && x->ss && x->listed && x->gen == r->gen) {
                /* delivered: gone from the buffer before the client can
                   see the end and ask again (MHD frees the reader later) */
                unlink_locked(x->ss, x);
                r->unlinked = true;
            }
            ret = x->gone ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        waited = true;
        if (timed_wait_locked(x) && pv_mcp__client_gone(r->conn)) {
            if (!x->ss) /* nobody can resume it: a closed stream cancels */
                gone_locked(x);
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        uint64_t now = pv_now_ns();
        if (x->standalone && now - r->keep_ns > (uint64_t)PV_MCP__KEEPALIVE_S * 1000 * NS_PER_MS) {
            pv_buf_puts(&r->pend, ": keepalive\n\n");
            r->keep_ns = now;
        }
    }
    if (waited) /* MHD's connection thread: our wait is not the client's silence */
        pv_mcp__conn_touch(r->conn, r->timeout_s);
    return ret;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct rd *r = cls;
    pthread_mutex_lock(r->x->mu);
    ssize_t ret = fill_locked(r);
    if (ret > 0) {
        size_t n = PV_MIN(max, r->pend.len - r->off);
        memcpy(buf, r->pend.data + r->off, n);
        r->off += n;
        ret = (ssize_t)n;
    }
    pthread_mutex_unlock(r->x->mu);
    return ret;
}

/* The end of reader gen of x (complete: it sent the stream to its end;
   unlinked: and took it out of the buffer then): x is detached, and
   dropped from the buffer when delivered or a standalone stream; drops
   the reader's reference. */
static void reader_end(struct pv_mcp__hx *x, unsigned gen, bool complete, bool unlinked)
{
    bool drop = unlinked;
    pthread_mutex_lock(x->mu);
    if (x->ss && x->gen == gen) {
        x->attached = false;
        x->detached_ns = pv_now_ns();
        if (x->listed && (complete || x->standalone)) {
            unlink_locked(x->ss, x); /* delivered, or nothing to replay */
            drop = true;
        }
    }
    pthread_mutex_unlock(x->mu);
    if (drop)
        pv_mcp__hx_unref(x); /* the buffer's */
    if (x->release)          /* a stateless request's session: its stream has ended */
        pv_mcp_session_release(x->s);
    pv_mcp__hx_unref(x);
}

static void sse_free(void *cls)
{
    struct rd *r = cls;
    struct pv_mcp__hx *x = r->x;
    bool complete = r->complete, unlinked = r->unlinked;
    unsigned gen = r->gen;
    pv_buf_fini(&r->pend);
    free(r);
    reader_end(x, gen, complete, unlinked);
}

enum MHD_Result pv_mcp__sse_respond(struct MHD_Connection *c, struct pv_mcp__hx *x, uint32_t after,
                                    unsigned gen, unsigned timeout_s)
{
    struct rd *r = calloc(1, sizeof(*r));
    if (!r) {
        reader_end(x, gen, false, false); /* detached: resumable within the grace period */
        return MHD_NO;
    }
    r->x = x;
    r->conn = c;
    r->timeout_s = timeout_s;
    r->gen = gen;
    r->after = after;
    r->keep_ns = pv_now_ns();
    pv_buf_init(&r->pend);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_SIZE, sse_read, r, sse_free);
    if (!resp) {
        sse_free(r); /* detached: resumable within the grace period */
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ==== a session's streams ============================================== */

/* Parses "S-N" (decimal). */
static bool parse_event_id(const char *id, uint64_t *num, uint32_t *seq)
{
    char *end;
    if (!id || *id < '0' || *id > '9')
        return false;
    errno = 0;
    unsigned long long s = strtoull(id, &end, 10);
    if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
        return false;
    unsigned long long n = strtoull(end + 1, &end, 10);
    if (errno || *end != '\0' || n > UINT32_MAX)
        return false;
    *num = s;
    *seq = (uint32_t)n;
    return true;
}

struct pv_mcp__hx *pv_mcp__streams_resume(pv_mcp__streams *ss, const char *last_event_id,
                                          uint32_t *after, unsigned *gen)
{
    uint64_t num;
    uint32_t seq;
    if (!parse_event_id(last_event_id, &num, &seq))
        return NULL;
    pthread_mutex_lock(&ss->mu);
    struct pv_mcp__hx *x = ss->closed ? NULL : ss->list;
    while (x && x->num != num)
        x = x->next;
    if (x && seq > x->last_seq)
        x = NULL; /* an id we never sent */
    if (x) {
        *gen = ++x->gen; /* the previous reader, if any, ends */
        *after = seq;
        x->attached = true;
        x->refs++;
        pthread_cond_broadcast(&x->cv);
    }
    pthread_mutex_unlock(&ss->mu);
    return x;
}

struct pv_mcp__hx *pv_mcp__streams_standalone(pv_mcp__streams *ss, pv_mcp_session *s, bool priming,
                                              bool *busy)
{
    *busy = false;
    struct pv_mcp__hx *x = pv_mcp__hx_new(true, s, ss, priming);
    if (!x)
        return NULL;
    pthread_mutex_lock(&ss->mu);
    bool ok = x->listed && ss->nstandalone < PV_MCP__MAX_STANDALONE;
    *busy = x->listed && !ok;
    x->refs--; /* no sink */
    if (ok) {
        x->standalone = true;
        ss->nstandalone++;
    } else if (x->listed) {
        unlink_locked(ss, x);
        x->refs--; /* the buffer's */
    }
    pthread_mutex_unlock(&ss->mu);
    if (!ok) {
        pv_mcp__hx_unref(x);
        return NULL;
    }
    return x;
}

void pv_mcp__streams_expire(pv_mcp__streams *ss)
{
    struct pv_mcp__hx *reap = NULL;
    pthread_mutex_lock(&ss->mu);
    uint64_t now = pv_now_ns();
    for (struct pv_mcp__hx *x = ss->list, *next; x; x = next) {
        next = x->next;
        if (!x->attached && now - x->detached_ns > ss->grace_ns) {
            unlink_locked(ss, x);
            x->reap_next = reap;
            reap = x;
        }
    }
    pthread_mutex_unlock(&ss->mu);
    while (reap) {
        struct pv_mcp__hx *x = reap;
        reap = x->reap_next;
        pv_mcp_session_cancel_sink(x->s, x); /* nobody came back: its queries stop */
        pv_mcp__hx_unref(x);                 /* the buffer's */
    }
}

void pv_mcp__streams_end(pv_mcp__streams *ss)
{
    struct pv_mcp__hx *reap = NULL;
    pthread_mutex_lock(&ss->mu);
    ss->closed = true;
    while (ss->list) {
        struct pv_mcp__hx *x = ss->list;
        unlink_locked(ss, x);
        pthread_cond_broadcast(&x->cv);
        x->reap_next = reap;
        reap = x;
    }
    pthread_mutex_unlock(&ss->mu);
    while (reap) {
        struct pv_mcp__hx *x = reap;
        reap = x->reap_next;
        pv_mcp__hx_unref(x); /* the buffer's; the session's end cancels the calls */
    }
}

void pv_mcp__streams_close(pv_mcp__streams *ss)
{
    if (!ss)
        return;
    pv_mcp__streams_end(ss);
    streams_unref(ss);
}
