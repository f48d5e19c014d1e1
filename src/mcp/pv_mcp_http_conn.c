/*
 * pv_mcp_http_conn.c - admission of the HTTP transport's TCP connections:
 * limits, eviction, the request deadline and the reaper (see
 * pv_mcp_http_int.h for the states).
 *
 * Why not only MHD's limits: MHD closes a connection over its limit at
 * once (the client sees a reset), counts a connection that never sent a
 * byte like one running a tool call, and its timeout restarts with every
 * byte, so 64 silent or trickling sockets locked every client out. Here a
 * new connection over a limit first pushes out the oldest connection still
 * waiting for a request (its client sent no complete request yet: nothing
 * is lost but a socket); only when every connection is busy is the new one
 * answered 503. MHD's own limits stay, twice as high, as a backstop: MHD
 * (thread per connection) accepts and at once closes a connection over
 * them, and a pushed-out connection counts until its thread has ended, so
 * they must leave room for a burst of connections pushing others out.
 *
 * A socket is shut down (shutdown(2), which wakes its MHD thread) only
 * under cs->mu and only while its record is listed; MHD reports the close
 * (removing the record under cs->mu) before it closes the descriptor, so a
 * reused descriptor number is never hit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <netinet/in.h>

#include "common/pv_common.h"
#include "common/pv_list.h"
#include "mcp/pv_mcp_http_int.h"

#define REAP_INTERVAL_MS 250
#define TICKS_PER_S      4 /* the tick callback runs every TICKS_PER_S reaps */
#define NS_PER_S         1000000000ull
#define NS_PER_MS        1000000l
#define HARD_ROOM_MIN    32 /* MHD's limits: ours + max(HARD_ROOM_MIN, ours) */

enum conn_state {
    CONN_WAITING, /* for a request's headers */
    CONN_READING, /* headers in, the body arriving */
    CONN_BUSY,    /* the request is handled or answered */
};

struct conn {
    struct pv_dlink link; /* in cs->conns, newest first */
    struct pv_mcp__conns *cs;
    MHD_socket fd;
    struct sockaddr_storage addr;
    enum conn_state state;
    uint64_t since_ns; /* WAITING since (the request's deadline counts from it) */
    bool reject;       /* admitted over a limit: answer 503 */
    bool killed;       /* shut down by us; closing */
};

struct pv_mcp__conns {
    struct pv_mcp__conns_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop */
    struct pv_dlist conns;
    bool stop;
    pthread_t reaper;
};

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true; /* another family: one address */
}

/* Under cs->mu. */
static void kill_locked(struct conn *k)
{
    k->killed = true;
    if (k->fd != MHD_INVALID_SOCKET)
        shutdown(k->fd, SHUT_RDWR);
}

/*
 * Makes room for x under one limit (same address only, or all): the live
 * connections counted are those not killed and not rejected. Returns false
 * when the limit is exceeded and no WAITING connection could be pushed out.
 */
static bool make_room_locked(pv_mcp__conns *cs, struct conn *x, bool per_addr, unsigned limit)
{
    unsigned n = 0;
    struct conn *oldest = NULL;
    for (struct pv_dlink *l = cs->conns.head; l; l = l->next) {
        struct conn *k = PV_CONTAINER_OF(l, struct conn, link);
        if (k->killed || k->reject || (per_addr && !same_addr(&k->addr, &x->addr)))
            continue;
        n++;
        if (k != x && k->state == CONN_WAITING)
            oldest = k; /* the list is newest first: the last one seen is the oldest */
    }
    if (n <= limit)
        return true;
    if (!oldest)
        return false;
    kill_locked(oldest);
    return true;
}

static void on_started(pv_mcp__conns *cs, struct MHD_Connection *c, void **socket_context)
{
    struct conn *x = calloc(1, sizeof(*x));
    if (!x)
        return; /* untracked: admitted without limits of ours (MHD's still hold) */
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    x->fd = fi ? fi->connect_fd : MHD_INVALID_SOCKET;
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ai && ai->client_addr) {
        size_t len = ai->client_addr->sa_family == AF_INET6  ? sizeof(struct sockaddr_in6)
                     : ai->client_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                             : sizeof(struct sockaddr);
        memcpy(&x->addr, ai->client_addr, len);
    }
    x->cs = cs;
    x->state = CONN_WAITING;
    x->since_ns = pv_now_ns();
    pthread_mutex_lock(&cs->mu);
    pv_dlist_push(&cs->conns, &x->link);
    if (!make_room_locked(cs, x, true, cs->o.max_per_addr) ||
        !make_room_locked(cs, x, false, cs->o.max_total))
        x->reject = true;
    pthread_mutex_unlock(&cs->mu);
    *socket_context = x;
}

void pv_mcp__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    pv_mcp__conns *cs = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        on_started(cs, c, socket_context);
        return;
    }
    struct conn *x = *socket_context;
    if (!x)
        return;
    pthread_mutex_lock(&cs->mu);
    pv_dlist_remove(&cs->conns, &x->link);
    pthread_mutex_unlock(&cs->mu);
    free(x);
    *socket_context = NULL;
}

/* The record of a connection (its socket context), or NULL when untracked. */
static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* Called from the connection's own thread; the reaper reads under cs->mu. */
static void set_state(struct MHD_Connection *c, enum conn_state st, bool *reject)
{
    struct conn *x = conn_of(c);
    if (!x)
        return;
    pthread_mutex_lock(&x->cs->mu);
    x->state = st;
    if (st == CONN_WAITING) /* READING keeps it: headers and body share the deadline */
        x->since_ns = pv_now_ns();
    if (reject)
        *reject = x->reject;
    pthread_mutex_unlock(&x->cs->mu);
}

bool pv_mcp__conn_begin(struct MHD_Connection *c)
{
    bool reject = false;
    set_state(c, CONN_READING, &reject);
    return !reject;
}

void pv_mcp__conn_busy(struct MHD_Connection *c)
{
    set_state(c, CONN_BUSY, NULL);
}

void pv_mcp__conn_end(struct MHD_Connection *c)
{
    set_state(c, CONN_WAITING, NULL);
}

void pv_mcp__conn_touch(struct MHD_Connection *c, unsigned timeout_s)
{
    /* MHD restarts the idle timer when a timeout is set on a connection
       that has none: clear it, then set it again. */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, timeout_s);
}

/* ==== the reaper ======================================================= */

static void *reaper_main(void *arg)
{
    pv_mcp__conns *cs = arg;
    unsigned ticks = 0;
    pthread_mutex_lock(&cs->mu);
    while (!cs->stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += REAP_INTERVAL_MS * NS_PER_MS;
        if (deadline.tv_nsec >= (long)NS_PER_S) {
            deadline.tv_sec++;
            deadline.tv_nsec -= (long)NS_PER_S;
        }
        int rc = 0;
        while (!cs->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&cs->cv, &cs->mu, &deadline);
        if (cs->stop)
            break;
        uint64_t now = pv_now_ns(), limit = (uint64_t)cs->o.timeout_s * NS_PER_S;
        for (struct pv_dlink *l = cs->conns.head; l; l = l->next) {
            struct conn *k = PV_CONTAINER_OF(l, struct conn, link);
            if (!k->killed && k->state != CONN_BUSY && now - k->since_ns > limit)
                kill_locked(k);
        }
        if (cs->o.tick && ++ticks % TICKS_PER_S == 0) {
            pthread_mutex_unlock(&cs->mu);
            cs->o.tick(cs->o.tick_arg);
            pthread_mutex_lock(&cs->mu);
        }
    }
    pthread_mutex_unlock(&cs->mu);
    return NULL;
}

int pv_mcp__conns_create(const struct pv_mcp__conns_opts *opts, pv_mcp__conns **out)
{
    pv_mcp__conns *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return VOLLEY_ENOMEM;
    cs->o = *opts;
    if (cs->o.max_total < 1)
        cs->o.max_total = 1;
    if (cs->o.max_per_addr < 1 || cs->o.max_per_addr > cs->o.max_total)
        cs->o.max_per_addr = cs->o.max_total;
    if (cs->o.timeout_s < 1)
        cs->o.timeout_s = 1;
    pthread_mutex_init(&cs->mu, NULL);
    pthread_cond_init(&cs->cv, NULL);
    if (pthread_create(&cs->reaper, NULL, reaper_main, cs) != 0) {
        pthread_cond_destroy(&cs->cv);
        pthread_mutex_destroy(&cs->mu);
        free(cs);
        return VOLLEY_EIO;
    }
    *out = cs;
    return 0;
}

void pv_mcp__conns_destroy(pv_mcp__conns *cs)
{
    if (!cs)
        return;
    pthread_mutex_lock(&cs->mu);
    cs->stop = true;
    pthread_cond_signal(&cs->cv);
    pthread_mutex_unlock(&cs->mu);
    pthread_join(cs->reaper, NULL);
    struct pv_dlink *l;
    while ((l = cs->conns.head) != NULL) { /* none after MHD_stop_daemon */
        pv_dlist_remove(&cs->conns, l);
        free(PV_CONTAINER_OF(l, struct conn, link));
    }
    pthread_cond_destroy(&cs->cv);
    pthread_mutex_destroy(&cs->mu);
    free(cs);
}

static unsigned hard(unsigned ours)
{
    return ours + PV_MAX((unsigned)HARD_ROOM_MIN, ours);
}

unsigned pv_mcp__conns_hard_total(const pv_mcp__conns *cs)
{
    return hard(cs->o.max_total);
}

unsigned pv_mcp__conns_hard_per_addr(const pv_mcp__conns *cs)
{
    /* 0 (none) when one address may take every connection: MHD counts an
       address's connections down later than all of them, so a per-address
       limit equal to the total would close (reset) new connections while
       the total still lets them in. */
    return cs->o.max_per_addr >= cs->o.max_total ? 0 : hard(cs->o.max_per_addr);
}
