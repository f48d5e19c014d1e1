/*
 * pv_batch_int.h - what the two files of the batch executor share:
 *
 *   pv_batch.c       the engine thread, batches, scheduling, the public API
 *   pv_batch_conn.c  a pool per dataset on the connection core, and the
 *                    read-only sequence each query runs on a connection
 *
 * Everything here runs on the engine thread, except the fields marked
 * "guarded by mu".
 */
#ifndef PV_BATCH_INT_H
#define PV_BATCH_INT_H

#include <stdatomic.h>
#include <uv.h>

#include "common/pv_list.h"
#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"
#include "multi/pv_batch.h"

/* Client-side bound of a query: the dataset's statement_timeout plus this. */
#define PV_BATCH_TIMEOUT_GRACE_MS 5000
/* Idle connections above pool_min are checked this often. */
#define PV_BATCH_REAPER_MS 1000

/* SQLSTATEs the batch executor reports itself, besides engine/pv_conn.h's. */
#define PV_SQLSTATE_READ_ONLY     "25006" /* read_only_sql_transaction: guard refusal */
#define PV_SQLSTATE_SUPERUSER     "42501" /* insufficient_privilege */
#define PV_SQLSTATE_OUT_OF_MEMORY "53200"

struct bconn; /* a connection of a pool: private to pv_batch_conn.c */

struct job {
    struct pv_batch *b;
    size_t index;
    struct pv_slink link; /* in its pool's wait FIFO */
    struct job *next;     /* a short list while a batch is cancelled */
    uint64_t t0;
    size_t cap;      /* cells capacity in rows */
    struct bconn *c; /* the connection carrying the job, while it runs */
    bool cancel_sent;
};

/* One dataset's pool. */
struct pool {
    struct pv_batch_engine *e;
    const struct pv_dataset *d;
    struct pv_dlist idle; /* connected, no job */
    int nopen;            /* connecting + connected */
    int nconnecting;
    int running;         /* jobs holding a connection */
    struct pv_fifo wait; /* jobs waiting for a connection, oldest first */
    struct pv_dlist all; /* every open connection */
    pv_conninfo *ci;     /* the dataset's connection string, pinned once resolved */
    /* a host name still to look up (off the loop, uv_getaddrinfo) */
    const char *lookup;
    uv_getaddrinfo_t gai;
    bool resolving;
};
struct pv_batch {
    struct pv_batch_engine *e;
    const struct pv_bquery *q;
    size_t n;
    struct pv_bresult *res;
    struct pv_batch_callbacks cb;
    int max_conc;
    int running;
    size_t done;
    bool *started;
    struct job *jobs;
    _Atomic int cancel;
    bool cancel_done; /* engine processed the cancel */
    bool detached;
    bool finished; /* guarded by e->mu */
    struct pv_batch *next;
};

struct pv_batch_engine {
    const pv_datasets *ds;
    struct pv_batch_opts opts;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t reaper;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    struct pv_batch *inbox;  /* guarded by mu */
    struct pv_batch *active; /* engine thread only */
    bool stop;               /* guarded by mu */
    bool closing;
    uint64_t completions; /* batches completed so far (see schedule) */
    struct pool *pools;
    size_t npools;
};

/* Records the first failure of a result (later ones are dropped). */
void pv_batch__res_fail(struct pv_bresult *r, const char *sqlstate, const char *msg);
/* j is over (its result is final): counts it, calls back, may complete and
   free its batch. */
void pv_batch__job_finish(struct job *j);
/* Starts what may start; after any completion restarts from the list head. */
void pv_batch__schedule(struct pv_batch_engine *e);

/* Gives j an idle connection of p, or queues it (opening one if p may). */
void pv_batch__pool_acquire(struct pool *p, struct job *j);
/* Sends a cancel request for running job j (once). */
void pv_batch__job_cancel(struct job *j);
/* Removes and returns the oldest job waiting for p, or NULL; appends. */
struct job *pv_batch__wait_pop(struct pool *p);
void pv_batch__wait_push(struct pool *p, struct job *j);
/* Closes p's idle connections older than idle_lifetime_s, down to pool_min. */
void pv_batch__pool_reap(struct pool *p, uint64_t now_ms);
/* Closes p's connections that carry no job. @return whether any is left. */
bool pv_batch__pool_close_idle(struct pool *p);

#endif /* PV_BATCH_INT_H */
