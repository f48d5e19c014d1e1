/*
 * pv_serve_sse.c - GET /api/runs/{id}/events: a run's server-sent events.
 *
 * The history is the source: a stream sends the run's state, then every
 * stored timeline point after the last one it sent (all of them for a
 * client that connects late, or those after its Last-Event-ID), then waits
 * on the run manager's change counter for more. Events:
 *
 *   state     the run's object (as GET /api/runs lists it) when its state changes
 *   point     one timeline point (id: its seq), as the report's "timeline" holds it
 *   progress  live figures while it runs, about once a second
 *   summary   the run's object once it has ended, then
 *   end       the stream closes
 *
 * A comment line goes out every 15 s of quiet, so proxies keep it open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/pv_serve_int.h"

#define KEEPALIVE_MS 15000

struct sse {
    pv_serve *s;
    int64_t id;
    int64_t last_seq; /* the last point sent; -1: none */
    int last_state;   /* -1: none sent */
    uint64_t progress_seq;
    pv_buf buf; /* what is to be sent, from off */
    size_t off;
    bool done;
};

static void event(pv_buf *b, const char *name, const char *data, int64_t id)
{
    if (id >= 0)
        pv_buf_printf(b, "id: %lld\n", (long long)id);
    pv_buf_printf(b, "event: %s\ndata: %s\n\n", name, data);
}

static void event_json(pv_buf *b, const char *name, json_t *v)
{
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (t)
        event(b, name, t, -1);
    free(t);
}

static int on_point(void *arg, int64_t seq, const char *json)
{
    struct sse *x = arg;
    event(&x->buf, "point", json, seq);
    x->last_seq = seq;
    return 0;
}

/* Appends what happened since the last call. @return 0, or -1 (the run is gone). */
static int fill(struct sse *x)
{
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    if (pv_history_get(x->s->history, x->id, false, &r, &err) != 0) {
        pv_history_run_fini(&r);
        event(&x->buf, "end", "{\"reason\":\"the run was deleted\"}", -1);
        x->done = true;
        return 0;
    }
    if ((int)r.state != x->last_state) {
        event_json(&x->buf, "state", pv_serve__run_json(&r, false));
        x->last_state = (int)r.state;
    }
    pv_history_points(x->s->history, x->id, x->last_seq, on_point, x, &err);
    if (r.state == PV_HISTORY_RUNNING) {
        uint64_t seq = 0;
        char *p = pv_serve__runs_progress(x->s->runs, x->id, &seq);
        if (p && seq != x->progress_seq) {
            event(&x->buf, "progress", p, -1);
            x->progress_seq = seq;
        }
        free(p);
    } else if (r.state != PV_HISTORY_QUEUED) {
        event_json(&x->buf, "summary", pv_serve__run_json(&r, false));
        event(&x->buf, "end", "{}", -1);
        x->done = true;
    }
    pv_history_run_fini(&r);
    return pv_buf_ok(&x->buf) == 0 ? 0 : -1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct sse *x = cls;
    (void)pos;
    for (;;) {
        if (x->off < x->buf.len) {
            size_t n = PV_MIN(max, x->buf.len - x->off);
            memcpy(out, x->buf.data + x->off, n);
            x->off += n;
            return (ssize_t)n;
        }
        pv_buf_reset(&x->buf);
        x->off = 0;
        if (x->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t gen = pv_serve__runs_gen(x->s->runs);
        if (fill(x) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (x->buf.len > 0)
            continue;
        if (pv_serve__runs_stopping(x->s->runs)) {
            event(&x->buf, "end", "{\"reason\":\"the server is stopping\"}", -1);
            x->done = true;
            continue;
        }
        if (pv_serve__runs_wait(x->s->runs, gen, KEEPALIVE_MS) == gen)
            pv_buf_puts(&x->buf, ": keepalive\n\n");
    }
}

static void sse_free(void *cls)
{
    struct sse *x = cls;
    pv_buf_fini(&x->buf);
    free(x);
}

enum MHD_Result pv_serve__events(pv_serve *s, struct MHD_Connection *c, int64_t id)
{
    struct pv_history_run r = {0};
    pv_err err = {{0}};
    int rc = pv_history_get(s->history, id, false, &r, &err);
    pv_history_run_fini(&r);
    if (rc == VOLLEY_EINPUT)
        return pv_serve__error(c, 404, "%s", err.msg);
    if (rc != 0)
        return pv_serve__error(c, 500, "run history: %s", err.msg);
    struct sse *x = calloc(1, sizeof(*x));
    if (!x)
        return pv_serve__error(c, 500, "out of memory");
    x->s = s;
    x->id = id;
    x->last_seq = -1;
    x->last_state = -1;
    pv_buf_init(&x->buf);
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (last) {
        char *end;
        long long v = strtoll(last, &end, 10);
        if (*last && !*end && v >= 0)
            x->last_seq = v;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, x, sse_free);
    if (!resp) {
        sse_free(x);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
