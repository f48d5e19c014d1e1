/*
 * pv_conn.c - the connection core: libpq's asynchronous API driven by a
 * libuv loop (see pv_conn.h for the state machine).
 */
#include "engine/pv_conn.h"

#include <stdlib.h>
#include <string.h>

#include "common/pv_common.h"

/* pgvolley never prints the server's notices (libpq would, to stderr). */
static void notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* ---- references and closing ------------------------------------------- */

void pv_conn_ref(pv_conn *c)
{
    c->refs++;
}

void pv_conn_unref(pv_conn *c)
{
    if (--c->refs > 0)
        return;
    if (c->cancel)
        PQfreeCancel(c->cancel);
    c->cancel = NULL;
    c->ops->freed(c); /* last: the engine frees the memory c lives in */
}

static void on_timer_closed(uv_handle_t *h)
{
    pv_conn_unref(h->data);
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(pv_conn *c)
{
    if (c->poll) {
        uv_close((uv_handle_t *)c->poll, on_poll_closed);
        c->poll = NULL;
    }
    c->fd = -1;
    c->events = 0;
}

void pv_conn_close(pv_conn *c)
{
    if (c->state == PV_CONN_CLOSED)
        return;
    c->state = PV_CONN_CLOSED;
    unwatch(c);
    PQfinish(c->pg);
    c->pg = NULL;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* ---- watching the socket ---------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events);

/*
 * Watches the current socket for events. libpq may replace its socket
 * (during connect, on the next host or address): a changed descriptor gets
 * a new poll handle. Returns 0 or -1 (no socket, out of memory).
 */
static int watch(pv_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    if (c->poll && fd != c->fd)
        unwatch(c);
    if (!c->poll) {
        c->poll = malloc(sizeof(*c->poll));
        if (!c->poll)
            return -1;
        if (uv_poll_init(c->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->poll->data = c;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        if (uv_poll_start(c->poll, events, on_poll) != 0)
            return -1;
        c->events = events;
    }
    return 0;
}

/* ---- timer ------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    pv_conn *c = t->data;
    if (c->timer_cb)
        c->timer_cb(c);
}

void pv_conn_timer_start(pv_conn *c, uint64_t ms, void (*cb)(pv_conn *c))
{
    c->timer_cb = cb;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

void pv_conn_timer_stop(pv_conn *c)
{
    if (c->state != PV_CONN_CLOSED)
        uv_timer_stop(&c->timer);
}

/* ---- connecting ------------------------------------------------------- */

static void connect_failed(pv_conn *c, const char *why)
{
    c->ops->connect_failed(c, why);
    pv_conn_close(c);
}

static void connected(pv_conn *c)
{
    uv_timer_stop(&c->timer);
    c->timer_cb = NULL;
    /* pipeline mode needs it, and a flush must never block the loop */
    PQsetnonblocking(c->pg, 1);
    c->cancel = PQgetCancel(c->pg);
    c->state = PV_CONN_IDLE;
    if (watch(c, UV_READABLE) != 0) {
        c->state = PV_CONN_CONNECTING;
        connect_failed(c, "cannot watch the connection's socket");
        return;
    }
    c->ops->connected(c);
}

static void connect_step(pv_conn *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    /*
     * libpq may have closed the socket and opened another (the next host or
     * address): it can get the same descriptor number, which epoll no longer
     * watches. A fresh poll handle per step registers whatever socket is
     * current.
     */
    unwatch(c);
    switch (st) {
    case PGRES_POLLING_READING:
        if (watch(c, UV_READABLE) != 0)
            connect_failed(c, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_WRITING:
        if (watch(c, UV_WRITABLE) != 0)
            connect_failed(c, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_OK: connected(c); return;
    default: connect_failed(c, PQerrorMessage(c->pg)); return;
    }
}

static void on_connect_timer(pv_conn *c)
{
    if (c->state != PV_CONN_CONNECTING)
        return;
    /* a zero-delay timer reports a failure that pv_conn_start saw */
    if (PQstatus(c->pg) == CONNECTION_BAD || !c->poll)
        connect_step(c);
    else
        connect_failed(c, "connection timeout expired");
}

int pv_conn_start(pv_conn *c, uv_loop_t *loop, const char *const *keywords,
                  const char *const *values, uint64_t connect_timeout_ms,
                  const struct pv_conn_ops *ops)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->loop = loop;
    c->ops = ops;
    c->pg = PQconnectStartParams(keywords, values, 0);
    if (!c->pg)
        return VOLLEY_ENOMEM;
    PQsetNoticeProcessor(c->pg, notice_ignore, NULL);
    c->state = PV_CONN_CONNECTING;
    c->refs = 1; /* the timer's, released in its close callback */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    /* As after PQconnectStart: behave as if PQconnectPoll said WRITING. A
       failure already seen is reported from the loop, never from here. */
    if (PQstatus(c->pg) == CONNECTION_BAD || watch(c, UV_WRITABLE) != 0)
        pv_conn_timer_start(c, 0, on_connect_timer);
    else if (connect_timeout_ms)
        pv_conn_timer_start(c, connect_timeout_ms, on_connect_timer);
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

static int flush(pv_conn *c)
{
    int f = PQflush(c->pg);
    if (f < 0)
        return -1;
    return watch(c, f ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

int pv_conn_sent(pv_conn *c)
{
    if (c->state == PV_CONN_IDLE)
        c->state = PV_CONN_BUSY;
    return flush(c);
}

bool pv_conn_done(pv_conn *c)
{
    if (c->state == PV_CONN_CLOSED)
        return false;
    uv_timer_stop(&c->timer);
    c->state = c->cancel_queued ? PV_CONN_PARKED : PV_CONN_IDLE;
    return c->state == PV_CONN_IDLE;
}

static void lost(pv_conn *c, const char *why)
{
    c->ops->lost(c, why);
    pv_conn_close(c);
}

/* Reads what arrived; hands complete results of the request to the engine. */
static void readable(pv_conn *c)
{
    if (!PQconsumeInput(c->pg)) {
        lost(c, NULL);
        return;
    }
    if (c->state != PV_CONN_BUSY && c->state != PV_CONN_CANCELLING) {
        /* nothing asked for: a notice, or the server closing the connection */
        if (PQstatus(c->pg) == CONNECTION_BAD)
            lost(c, NULL);
        return;
    }
    while ((c->state == PV_CONN_BUSY || c->state == PV_CONN_CANCELLING) && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        bool more = c->ops->result(c, res);
        if (res) /* NULL ends a command: most requests have one per result */
            PQclear(res);
        if (!more)
            return;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pv_conn *c = h->data;
    if (c->state == PV_CONN_CONNECTING) {
        connect_step(c);
        return;
    }
    if (status < 0) {
        lost(c, uv_strerror(status));
        return;
    }
    if ((events & UV_WRITABLE) && flush(c) != 0) {
        lost(c, NULL);
        return;
    }
    if (events & UV_READABLE)
        readable(c);
}

/* ---- cancel ------------------------------------------------------------ */

static void cancel_work(uv_work_t *req)
{
    pv_conn *c = req->data;
    char err[256];
    /*
     * PQcancel blocks (it opens a new connection): it runs on libuv's
     * thread pool. XXX: with no deadline - a server that never answers
     * keeps a pool thread (libpq 15 has no PQcancelPoll).
     */
    (void)PQcancel(c->cancel, err, sizeof(err));
}

static void cancel_done(uv_work_t *req, int status)
{
    (void)status;
    pv_conn *c = req->data;
    c->cancel_queued = false;
    if (c->state == PV_CONN_PARKED) {
        /* the cancel has reached the server: it can no longer hit a new request */
        c->state = PV_CONN_IDLE;
        c->ops->idle(c);
    }
    pv_conn_unref(c);
}

void pv_conn_cancel(pv_conn *c)
{
    if (c->state != PV_CONN_BUSY && c->state != PV_CONN_CANCELLING)
        return;
    c->state = PV_CONN_CANCELLING;
    /* one cancel request at a time: a uv_work_t cannot be queued twice */
    if (!c->cancel || c->cancel_queued)
        return;
    c->cancel_work.data = c;
    c->refs++;
    if (uv_queue_work(c->loop, &c->cancel_work, cancel_work, cancel_done) == 0)
        c->cancel_queued = true;
    else
        c->refs--;
}

int pv_conn_connect_blocking(const char *const *keywords, const char *const *values, PGconn **out,
                             pv_err *err)
{
    PGconn *pg = PQconnectdbParams(keywords, values, 0);
    if (!pg)
        return VOLLEY_ENOMEM;
    if (PQstatus(pg) != CONNECTION_OK) {
        char line[512];
        pv_first_line(line, sizeof(line), PQerrorMessage(pg));
        PQfinish(pg);
        return pv_err_set(err, VOLLEY_ECONNECT, "%s", line);
    }
    PQsetNoticeProcessor(pg, notice_ignore, NULL);
    *out = pg;
    return 0;
}

/* ---- results ----------------------------------------------------------- */

const char *pv_conn_sqlstate(const PGresult *res)
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s && *s ? s : "08006";
}

const char *pv_conn_message(const PGresult *res)
{
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return m ? m : PQresultErrorMessage(res);
}
