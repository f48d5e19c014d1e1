/*
 * pv_conn.c - the connection core: libpq's asynchronous API driven by a
 * libuv loop (see pv_conn.h for the state machine).
 */
#include "engine/pv_conn.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pv_common.h"

/* How long a connection waits for its cancel request by default. */
#define CANCEL_DEADLINE_MS 5000

static int cancel_release(pv_conn *c);

/* pgvolley never prints the server's notices (libpq would, to stderr). */
static void notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/*
 * Notices are not printed either, but one kind is kept: a backend told to
 * quit at once (immediate shutdown, a crash of another backend) sends a
 * WARNING of class 57 and closes the connection, with no error for the
 * query; that warning is the reason the engine reports (ops->lost).
 */
static void on_notice(void *arg, const PGresult *res)
{
    pv_conn *c = arg;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || strncmp(state, "57", 2) != 0)
        return;
    snprintf(c->server_state, sizeof(c->server_state), "%s", state);
    pv_first_line(c->server_msg, sizeof(c->server_msg), pv_conn_message(res));
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
    cancel_release(c); /* abandoned if still on its way */
    c->state = PV_CONN_CLOSED;
    unwatch(c);
    PQfinish(c->pg);
    c->pg = NULL;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->cancel_timer, on_timer_closed);
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
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->state = PV_CONN_CONNECTING;
    c->refs = 2; /* the two timers', released in their close callbacks */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_init(loop, &c->cancel_timer);
    c->cancel_timer.data = c;
    c->cancel_deadline_ms = CANCEL_DEADLINE_MS;
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
    c->state = c->cancel_req ? PV_CONN_PARKED : PV_CONN_IDLE;
    return c->state == PV_CONN_IDLE;
}

static void lost(pv_conn *c, const char *why)
{
    if (c->state == PV_CONN_CLOSED)
        return;
    if (c->server_state[0])
        c->ops->lost(c, c->server_state, c->server_msg);
    else
        c->ops->lost(c, PV_SQLSTATE_CONN_LOST, why);
    pv_conn_close(c);
}

void pv_conn_lost(pv_conn *c, const char *why)
{
    lost(c, why);
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
        /* an error on the socket (libuv reports POLLERR as UV_EBADF): first
           read what the server sent before it (a backend told to quit says
           why), then report the connection lost */
        readable(c);
        if (c->state != PV_CONN_CLOSED)
            lost(c, PQstatus(c->pg) == CONNECTION_BAD ? NULL : "connection error");
        return;
    }
    if ((events & UV_WRITABLE) && flush(c) != 0) {
        lost(c, NULL);
        return;
    }
    if (events & UV_READABLE)
        readable(c);
}

/* ---- cancel requests with a deadline ----------------------------------- */

/*
 * libpq 15's PQcancel blocks: it opens a connection to the postmaster, sends
 * the request and waits for the postmaster to close it, with no timeout of
 * its own, so a stopped postmaster or a host that drops packets would keep
 * its caller for ever (libpq 17's PQcancelPoll would not). A request runs on
 * one of a few threads of its own, never on a loop and never in libuv's
 * thread pool (whose pending work would keep the loop from ending); the
 * connection polls its outcome with a timer and, past the deadline, stops
 * waiting (abandons it). The thread frees the request whenever PQcancel
 * returns.
 *
 * XXX: process-wide, as libuv's thread pool is: at most CANCEL_THREADS
 * detached threads, started on first use, serve every loop; one stuck on a
 * server that never answers stays stuck until the process exits, and
 * requests queued behind stuck threads are dropped when they expire.
 */
#define CANCEL_THREADS    8
#define CANCEL_POLL_FIRST 1  /* ms; doubles up to CANCEL_POLL_MAX */
#define CANCEL_POLL_MAX   50 /* ms */

enum { REQ_PENDING, REQ_SENT, REQ_FAILED };

struct pv_conn_cancel_req {
    PGcancel *cancel;
    _Atomic int status;    /* REQ_* */
    _Atomic int abandoned; /* the connection stopped waiting */
    _Atomic int refs;      /* the connection's and the queue's/thread's */
    struct pv_conn_cancel_req *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pv_conn_cancel_req *head, *tail;
    int nthreads, nidle;
} cancels = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

static void req_unref(struct pv_conn_cancel_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        PQfreeCancel(r->cancel);
        free(r);
    }
}

static void *cancel_thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&cancels.mu);
        cancels.nidle++;
        while (!cancels.head)
            pthread_cond_wait(&cancels.cv, &cancels.mu);
        cancels.nidle--;
        struct pv_conn_cancel_req *r = cancels.head;
        cancels.head = r->next;
        if (!cancels.head)
            cancels.tail = NULL;
        pthread_mutex_unlock(&cancels.mu);
        if (!atomic_load(&r->abandoned)) {
            char err[256];
            int ok = PQcancel(r->cancel, err, sizeof(err));
            atomic_store(&r->status, ok ? REQ_SENT : REQ_FAILED);
        }
        req_unref(r);
    }
    return NULL;
}

/* Queues a cancel request for pg's query. @return it, or NULL (no cancel
   handle, out of memory, or no thread could start). */
static struct pv_conn_cancel_req *req_submit(PGconn *pg)
{
    struct pv_conn_cancel_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cancel = PQgetCancel(pg);
    if (!r->cancel) {
        free(r);
        return NULL;
    }
    atomic_init(&r->status, REQ_PENDING);
    atomic_init(&r->abandoned, 0);
    atomic_init(&r->refs, 2);
    pthread_mutex_lock(&cancels.mu);
    if (cancels.nidle == 0 && cancels.nthreads < CANCEL_THREADS) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* threads inherit their creator's affinity: a worker pinned with
           --pin-threads must not pin the cancel threads it starts, so they
           get the main thread's (the process's) CPUs */
        cpu_set_t cpus;
        if (sched_getaffinity(getpid(), sizeof(cpus), &cpus) == 0)
            pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
        if (pthread_create(&t, &attr, cancel_thread, NULL) == 0)
            cancels.nthreads++;
        pthread_attr_destroy(&attr);
    }
    if (cancels.nthreads == 0) {
        pthread_mutex_unlock(&cancels.mu);
        PQfreeCancel(r->cancel);
        free(r);
        return NULL;
    }
    if (cancels.tail)
        cancels.tail->next = r;
    else
        cancels.head = r;
    cancels.tail = r;
    pthread_cond_signal(&cancels.cv);
    pthread_mutex_unlock(&cancels.mu);
    return r;
}

/* The connection stops waiting for its cancel request. @return its status
   (REQ_PENDING: abandoned, it may still reach the server). */
static int cancel_release(pv_conn *c)
{
    struct pv_conn_cancel_req *r = c->cancel_req;
    if (!r)
        return REQ_FAILED;
    c->cancel_req = NULL;
    int status = atomic_load(&r->status);
    if (status == REQ_PENDING)
        atomic_store(&r->abandoned, 1);
    req_unref(r);
    if (c->state != PV_CONN_CLOSED)
        uv_timer_stop(&c->cancel_timer);
    return status;
}

static void on_cancel_poll(uv_timer_t *t)
{
    pv_conn *c = t->data;
    int status = atomic_load(&c->cancel_req->status);
    uint64_t now = uv_now(c->loop);
    if (status == REQ_PENDING && now < c->cancel_deadline) {
        c->cancel_poll_ms =
            c->cancel_poll_ms * 2 > CANCEL_POLL_MAX ? CANCEL_POLL_MAX : c->cancel_poll_ms * 2;
        uv_timer_start(&c->cancel_timer, on_cancel_poll, c->cancel_poll_ms, 0);
        return;
    }
    status = cancel_release(c);
    if (c->state != PV_CONN_PARKED)
        return;
    if (status == REQ_PENDING) {
        /* abandoned: it may still reach the server during a next request */
        lost(c, "the server did not answer the cancel request in time");
        return;
    }
    /* done (sent, or failed for good): it can no longer hit a new request */
    c->state = PV_CONN_IDLE;
    c->ops->idle(c);
}

void pv_conn_cancel(pv_conn *c)
{
    if (c->state != PV_CONN_BUSY && c->state != PV_CONN_CANCELLING)
        return;
    c->state = PV_CONN_CANCELLING;
    if (c->cancel_req) /* one request at a time */
        return;
    c->cancel_req = req_submit(c->pg);
    if (!c->cancel_req)
        return; /* the engine's own deadline (its grace period) ends the wait */
    c->cancel_deadline = uv_now(c->loop) + c->cancel_deadline_ms;
    c->cancel_poll_ms = CANCEL_POLL_FIRST;
    uv_timer_start(&c->cancel_timer, on_cancel_poll, c->cancel_poll_ms, 0);
}

void pv_conn_set_cancel_deadline(pv_conn *c, uint64_t ms)
{
    c->cancel_deadline_ms = ms;
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
    return s && *s ? s : PV_SQLSTATE_CONN_LOST;
}

const char *pv_conn_message(const PGresult *res)
{
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return m ? m : PQresultErrorMessage(res);
}
