/*
 * pv_conn.h - the connection core: one non-blocking libpq connection on a
 * libuv loop, with the life cycle every engine shares (the run engine and
 * the batch executor embed it).
 *
 * The core owns what is the same for every engine: the non-blocking connect
 * (PQconnectStartParams/PQconnectPoll with a fresh poll handle per step and
 * a connect timeout, which libpq does not enforce with the async API),
 * flushing, reading until a result is complete (PQconsumeInput, PQisBusy,
 * PQgetResult), the cancel request off the loop, and closing and freeing
 * through callbacks. It is the only code that calls the libpq connect,
 * consume-input and cancel functions. What to send, pools, executions,
 * retries, pipelines and the read-only transaction sequence belong to the
 * engines: they call PQsend* themselves and then pv_conn_sent.
 *
 * States and transitions (the one state machine; docs/architecture.md):
 *
 *   CONNECTING  PQconnectPoll in progress; the timer enforces the connect
 *               timeout.
 *                 -> IDLE        connected (ops->connected)
 *                 -> CLOSED      refused, failed or timed out
 *                                (ops->connect_failed)
 *   IDLE        connected, no request in flight; still watched, so that a
 *               server closing it is noticed.
 *                 -> BUSY        pv_conn_sent (the engine sent a command)
 *   BUSY        a request is in flight; every result is handed to
 *               ops->result (NULL ends one command's results, as
 *               PQgetResult does).
 *                 -> CANCELLING  pv_conn_cancel
 *                 -> IDLE        pv_conn_done (the engine saw its request end)
 *   CANCELLING  as BUSY, and a cancel request is on its way (PQcancel blocks:
 *               it runs on a thread of the core's own, with a deadline);
 *               results are still read.
 *                 -> IDLE        pv_conn_done, the cancel request already done
 *                 -> PARKED      pv_conn_done while the cancel is still queued
 *   PARKED      the request ended but its cancel request has not been
 *               delivered yet; a cancel reaching the server during the next
 *               request would cancel that one instead, so the connection
 *               takes no request until the cancel is done.
 *                 -> IDLE        the cancel request finished (ops->idle)
 *                 -> CLOSED      its deadline passed (ops->lost): abandoned,
 *                                it could still hit a next request
 *   any open    -> CLOSED        socket error or server gone (ops->lost), or
 *                                pv_conn_close
 *   CLOSED      PQfinish done; the memory is released (ops->freed) when the
 *               last reference goes: the two timers' close callbacks and
 *               the engine's own references (pv_conn_ref). A cancel request
 *               still on its way is abandoned: nothing waits for it.
 *
 * Every callback runs on the loop's thread. connect_failed and lost leave
 * the connection open for the engine to inspect (PQerrorMessage); the
 * engine closes it (with its own bookkeeping) or the core does right after
 * the callback returns.
 */
#ifndef PV_CONN_H
#define PV_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/pv_common.h"

/* SQLSTATEs every engine reports for its connections (PV*: pgvolley's own). */
#define PV_SQLSTATE_CONNECT_FAILED "08001" /* no connection could be made */
#define PV_SQLSTATE_CONN_LOST      "08006" /* the connection broke, the server said nothing */
#define PV_SQLSTATE_CANCELLED      "57014" /* query_canceled */
#define PV_SQLSTATE_UNSUPPORTED    "0A000" /* feature_not_supported (COPY) */
#define PV_SQLSTATE_CANCEL_IGNORED "PV002" /* the server did not answer the cancel */

enum pv_conn_state {
    PV_CONN_CONNECTING,
    PV_CONN_IDLE,
    PV_CONN_BUSY,
    PV_CONN_CANCELLING,
    PV_CONN_PARKED,
    PV_CONN_CLOSED,
};

typedef struct pv_conn pv_conn;

/* How the core reports to the engine that embeds the connection. */
struct pv_conn_ops {
    /* CONNECTING -> IDLE: non-blocking, cancel handle taken, watched. */
    void (*connected)(pv_conn *c);
    /* CONNECTING failed; why is libpq's message or the core's (one or
       more lines: cut it with pv_first_line). */
    void (*connect_failed)(pv_conn *c, const char *why);
    /* One result of the request in flight (BUSY or CANCELLING); NULL ends
       one command's results. The core clears res afterwards. Return false
       to stop reading for now (e.g. the engine closed the connection). */
    bool (*result)(pv_conn *c, PGresult *res);
    /* PARKED -> IDLE: the connection may take a request again. */
    void (*idle)(pv_conn *c);
    /* The connection broke. sqlstate is the server's when it said why
       before closing (57P01 "terminating connection due to administrator
       command", 57P02 ...: an error or a warning), else "08006"; why may be
       NULL (then see PQerrorMessage). */
    void (*lost)(pv_conn *c, const char *sqlstate, const char *why);
    /* The last reference went: the engine frees its container now. */
    void (*freed)(pv_conn *c);
};

/* Embedded (first member) in the engines' connection structs; the fields
   are the core's: engines read them through the functions below. */
struct pv_conn {
    PGconn *pg;
    uv_loop_t *loop;
    const struct pv_conn_ops *ops;
    uv_poll_t *poll; /* one per socket; freed in its close callback */
    int fd, events;
    uv_timer_t timer;
    void (*timer_cb)(pv_conn *c);
    /* the cancel request on its way, polled by cancel_timer until it is
       done or its deadline passes (see pv_conn.c) */
    struct pv_conn_cancel_req *cancel_req;
    uv_timer_t cancel_timer;
    uint64_t cancel_deadline, cancel_deadline_ms; /* loop time, ms */
    unsigned cancel_poll_ms;
    enum pv_conn_state state;
    int refs;
    /* the last warning of class 57 (operator intervention) the server sent:
       its reason when it closes the connection next */
    char server_state[6];
    char server_msg[160];
};

/**
 * Starts connecting with the NULL-terminated keyword/value arrays (see
 * pv_conninfo), on loop, reporting through ops (borrowed; must outlive c).
 * connect_timeout_ms 0 means none. c is the caller's memory (zeroed or
 * not); it must stay valid until ops->freed.
 * @return 0 (exactly one of ops->connected and ops->connect_failed will be
 *         called, never from inside this call), or VOLLEY_ENOMEM (no
 *         callback will be called; c holds nothing).
 */
int pv_conn_start(pv_conn *c, uv_loop_t *loop, const char *const *keywords,
                  const char *const *values, uint64_t connect_timeout_ms,
                  const struct pv_conn_ops *ops);

/**
 * The engine queued a command on c->pg with a PQsend* call: IDLE becomes
 * BUSY (BUSY and CANCELLING stay) and the output is flushed.
 * @return 0, or -1 when the connection broke (the engine handles it as
 *         lost; no callback is called).
 */
int pv_conn_sent(pv_conn *c);

/**
 * The engine has seen the end of its request (BUSY or CANCELLING): c
 * becomes IDLE, or PARKED while a cancel request is still queued. Stops
 * the timer.
 * @return true when c is IDLE (it may take a request now); false when it
 *         is PARKED (ops->idle will say when it may).
 */
bool pv_conn_done(pv_conn *c);

/**
 * Asks the server to cancel the request in flight: BUSY becomes
 * CANCELLING, and one cancel request goes out from a thread of the core's
 * own (PQcancel blocks). At most one is on its way at a time; the
 * connection waits for it at most the cancel deadline (5 s unless
 * pv_conn_set_cancel_deadline said otherwise), then abandons it. No effect
 * in other states.
 */
void pv_conn_cancel(pv_conn *c);

/** How long c waits for a cancel request to be done (ms). */
void pv_conn_set_cancel_deadline(pv_conn *c, uint64_t ms);

/**
 * The engine found c broken (a failed send, CONNECTION_BAD after a result):
 * ops->lost is called as if the core had found it (with the server's
 * reason if it gave one), then c is closed. why may be NULL.
 */
void pv_conn_lost(pv_conn *c, const char *why);

/** Closes c (PQfinish); idempotent. ops->freed follows, later. */
void pv_conn_close(pv_conn *c);

/** Starts (or restarts) c's one-shot timer; cb runs on the loop. Not while
    CONNECTING (the connect timeout uses the timer). */
void pv_conn_timer_start(pv_conn *c, uint64_t ms, void (*cb)(pv_conn *c));
void pv_conn_timer_stop(pv_conn *c);

/** An extra reference (released with pv_conn_unref) keeps c's memory until
    the engine is done with it, even after it is closed. */
void pv_conn_ref(pv_conn *c);
void pv_conn_unref(pv_conn *c);

static inline enum pv_conn_state pv_conn_state(const pv_conn *c)
{
    return c->state;
}

static inline bool pv_conn_is_open(const pv_conn *c)
{
    return c->state != PV_CONN_CLOSED;
}

/**
 * Connects blocking (PQconnectdbParams), for callers that are not on a
 * loop: the probe of `run`'s target, the demo's data load.
 * @param out the connection, owned by the caller (PQfinish).
 * @param err libpq's message, first line.
 * @return 0, VOLLEY_ECONNECT or VOLLEY_ENOMEM.
 */
int pv_conn_connect_blocking(const char *const *keywords, const char *const *values, PGconn **out,
                             pv_err *err);

/** The SQLSTATE of an error result, "08006" (connection failure) when the
    result has none (libpq's own errors). Borrowed from res. */
const char *pv_conn_sqlstate(const PGresult *res);

/** The primary message of an error result (possibly several lines; cut
    with pv_first_line). Borrowed from res. */
const char *pv_conn_message(const PGresult *res);

#endif /* PV_CONN_H */
