/*
 * pv_run_int.h - what the files of the run engine share, and nothing
 * outside src/engine/pv_run*.c may include: the worker, connection and
 * execution structs, and the pv_run__* functions one file calls in another.
 *
 *   pv_run.c        the public API: checks, set-up, threads and pinning,
 *                   stop, progress, wait, destroy
 *   pv_run_merge.c  per-thread statistics merged into the result
 *   pv_run_pool.c   the per-worker pool on the connection core: opening,
 *                   releasing, idle list, executions waiting for a
 *                   connection, pool timeout, lost connections
 *   pv_run_exec.c   executions: claiming, sending, results, retries with
 *                   backoff, the burst of sends, filling and finishing a
 *                   worker, stopping
 *   pv_run_timeout.c command timeouts: the sweep, the cancel request and its
 *                   grace period
 *   pv_run_pipe.c   pipeline mode (--pipeline N)
 *   pv_run_timeline.c the timeline: each worker's interval figures, handed
 *                   over at each boundary; the run's points (coalesced when
 *                   they reach the cap) and cumulative figures
 *   pv_run_snapshot.c pv_run_snapshot, pv_run_timeline_next and the points'
 *                   arithmetic (finishing, copying, coalescing)
 *
 * Ownership: each worker thread owns its loop, its connections, its
 * executions and its statistics. The only shared state touched while the
 * run goes on is a handful of atomics (the work counters, the stop flag and
 * the progress counters and gauges); statistics are merged after the
 * threads joined. The timeline is the exception: at each interval boundary
 * a worker hands its interval's figures over to the run's aggregator thread
 * (pv_run_timeline.c), which merges them under r->tl_mu.
 */
#ifndef PV_RUN_INT_H
#define PV_RUN_INT_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stddef.h>
#include <uv.h>

#include "common/pv_buf.h"
#include "common/pv_list.h"
#include "engine/pv_conn.h"
#include "engine/pv_run.h"
#include "engine/pv_shape.h"
#include "workload/pv_gen.h"

/* Results of at most this many rows may be read whole (see exec_send). */
#define PV_RUN_SMALL_RESULT 100
/* How long a cancel request may take before the connection is dropped. */
#define PV_RUN_TIMEOUT_GRACE_MS 5000 /* after --command-timeout */
#define PV_RUN_STOP_GRACE_MS    2000 /* after pv_run_stop (Ctrl-C) */
/* Retry backoff: 10 ms * 2^(attempt-1), at most 1 s, times a jitter in [0.5, 1.5). */
#define PV_RUN_BACKOFF_BASE_NS 10000000ull
#define PV_RUN_BACKOFF_CAP_NS  1000000000ull
/* After a failed connect, no new one for 50 ms, doubling up to 500 ms: few
   attempts on a server that is down, and back within half a second of it. */
#define PV_RUN_CONNECT_BACKOFF_MIN_NS 50000000ull
#define PV_RUN_CONNECT_BACKOFF_MAX_NS 500000000ull
/* A refused connect fails a waiting execution only when the run has had no
   connection open for this long (or never had one): the server counts the
   run's own closed connections against its limits until their backends
   have exited, which takes tens of ms on a loaded machine. */
#define PV_RUN_CONNECT_SETTLE_NS 1000000000ull
/* The timeout sweep runs every 1/20 of the timeout, within [5 ms, 1 s]. */
#define PV_RUN_SWEEP_DIVISOR 20
#define PV_RUN_SWEEP_MIN_MS  5
#define PV_RUN_SWEEP_MAX_MS  1000
/* A weighted mix's shares are counted in these units (2^53: a double's
   precision). */
#define PV_RUN_WEIGHT_ONE 9007199254740992.0
/* Arrival generators use streams from here on (parameter draws use 0..). */
#define PV_RUN_ARRIVAL_STREAM (1ull << 32)
/* The closed model with a shape looks at its target this often. */
#define PV_RUN_SHAPE_TICK_NS 10000000ull
/* A count-based run at a constant rate schedules within this (30 days). */
#define PV_RUN_LONGEST_SHAPE_S (30.0 * 86400.0)

/* SQLSTATEs the engine reports itself (PV*: pgvolley's own classes). */
#define PV_SQLSTATE_POOL_TIMEOUT  "PV001" /* no connection within --pool-timeout */
#define PV_SQLSTATE_PIPE_ABORTED  "PV003" /* an earlier query of the pipeline failed */
#define PV_SQLSTATE_NO_STATEMENT  "26000" /* invalid_sql_statement_name */
#define PV_SQLSTATE_DUP_STATEMENT "42P05" /* duplicate_prepared_statement */

#define PV_RUN_POOLER_HINT                                                                         \
    "prepared statements do not stay with this connection: a connection pooler in "                \
    "transaction mode (pgbouncer before 1.21) moves each transaction to another server "           \
    "connection; use --protocol extended"

struct worker;

struct exec {
    struct pv_slink link; /* in w->pend or a connection's pipeline (pv_fifo) */
    struct exec *next;    /* free list or retry list */
    uint32_t scen;        /* flat scenario index */
    bool warm;            /* started during warmup: not counted */
    bool interrupted;     /* cancelled by pv_run_stop: not counted */
    bool timed_out;       /* command timeout passed and a cancel was sent */
    bool failed;
    bool prep_pending; /* pipeline: a prepare's result comes before this query's */
    bool resend_ok;    /* pipeline: never ran (PV003) after a retryable error */
    int attempts;      /* retries done so far */
    uint64_t t_claim, t_send, deadline, rows;
    uint64_t t_intended; /* open model: when it should have started; else 0 */
    uint64_t t_step;     /* a transaction: when its current statement was sent */
    uint16_t step;       /* a transaction: the statement in flight */
    bool rolling_back;   /* a transaction: the ROLLBACK after a failure is in flight */
    char sqlstate[6];
    char message[256];
};

/* An execution handed over by a worker that has no connection (see
   pv_run__hand_off): a copy, since each worker owns its exec structs. */
struct orphan {
    struct orphan *next;
    struct exec e;
};

/*
 * A connection of the run engine: the core's connection (its state is the
 * state machine of pv_conn.h) plus what this engine adds. The request in
 * flight is a prepare while `preparing` is set (protocol prepared, first
 * use of the statement here), then the execution's query.
 */
struct conn {
    pv_conn core; /* first: the core's callbacks hand back &c->core */
    struct worker *w;
    struct exec *exec; /* the execution carried (not in pipeline mode) */
    uint8_t *prepared; /* bit per query: named statement exists */
    uint64_t born_ns;
    int index;              /* position in w->conns */
    struct pv_dlink idle;   /* in w->idle */
    struct conn *done_next; /* w->done_head list */
    bool in_idle;
    bool preparing;  /* a PQsendPrepare is outstanding (even if cancelling) */
    bool step_later; /* on w->next_head: no request in flight until then */
    /* a transaction's BEGIN and first statement in flight together
       (pv_run_config.separate_begin false): which result comes next */
    enum { TXN_PAIR_NONE, TXN_PAIR_BEGIN, TXN_PAIR_FIRST, TXN_PAIR_SYNC } pair;
    /* a transaction's parameter set, drawn once for all its statements: the
       values (txn_vals[i] points into txn_text, or is NULL for SQL NULL) */
    const char **txn_vals;
    pv_buf txn_text;
    uint64_t deadline_ns; /* command timeout of the request in flight; 0 = none */
    /* pipeline mode (--pipeline N > 1): the executions sent in one pipeline,
       in order; c->exec is unused then */
    struct pv_fifo pq;
    char pipe_err[6]; /* the first error SQLSTATE of the pipeline in flight */
};

/* A worker's interval (or run of empty ones) handed over to the aggregator. */
struct tl_job {
    struct pv_slink link; /* in r->agg_jobs */
    struct worker *w;
    struct pv_stat *stats;        /* per flat scenario: the interval's figures */
    struct pv_sched_stats *sched; /* per query (open model; else NULL) */
    uint64_t from_k, upto;        /* intervals from_k (with the figures) to upto - 1 */
    uint64_t in_flight, pool_waits, started;
    bool queued; /* under r->agg_mu */
};

struct worker {
    pv_run *run;
    int id;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t pool_timer;
    bool wake_open; /* guarded by run->stop_mu */
    uv_thread_t thread;

    int slots, slots_free;
    int pool_max, idle_cap;
    struct conn **conns;
    int nconns;
    int nconnecting;
    struct pv_dlist idle; /* connected, no request */
    int in_use, max_in_use;
    struct exec *execs, *free_execs;
    struct pv_fifo pend;     /* waiting for a connection, oldest first */
    struct exec *retry_head; /* waiting out a backoff (unsorted; rare) */
    uv_timer_t retry_timer;
    uv_timer_t sweep_timer; /* command timeouts (pv_run_timeout.c) */
    /* connect failures back off: no new connect before connect_after_ns */
    uv_timer_t connect_timer;
    uint64_t connect_backoff_ns, connect_after_ns;
    /* connections whose request finished in this loop iteration; each
       holds a reference until on_done_check gives it its next execution */
    uv_check_t done_check;
    struct conn *done_head;
    int ndone; /* connections on the done list */
    /* connections whose transaction sends its next statement in
       on_done_check (also linked by done_next), latest statement first */
    struct conn *next_head;
    uint64_t rng; /* xorshift state for backoff jitter */
    /* drawn parameter values (GENERATE, PARAMETERS_FILE): this worker's PRNG,
       seeded with (cfg.seed, worker id), and the scratch of the last draw */
    struct pv_scenario_scratch draw;
    /* next scenario of this worker's round robin over all of them, in
       timed runs and warm-ups (count-based runs share r->next_item) */
    uint64_t next_scen;
    int cpu; /* --pin-threads: the CPU this worker runs on; -1 = any */
    bool pin_failed;

    bool connect_phase, no_more, stopping, finished;
    uint64_t start_ns, measure_ns, end_ns, last_done_ns, connected_ns;

    /* the open model (--rate; pv_run_sched.c) */
    struct pv_arrivals arrivals;
    pv_gen_rng arrival_rng;  /* seeded with (cfg.seed, PV_RUN_ARRIVAL_STREAM + id) */
    uint64_t next_due_ns;    /* intended start of the next execution; 0: none left */
    uint64_t sched_armed_ns; /* when the timerfd fires; 0: disarmed */
    int sched_fd;            /* timerfd; -1 when none */
    uv_poll_t sched_poll;
    bool sched_open;
    struct pv_sched_stats *sched; /* one per query (NULL in the closed model): the
                                     finished intervals' (the current one: tl_sched) */

    struct pv_stat *stats;      /* one per flat scenario: the finished intervals' (the
                                   hot path records into tl_stats, folded in here at
                                   each boundary and at the end) */
    struct pv_stat *step_stats; /* per transaction statement slot (slot - nqueries) */
    const char **step_vals;     /* a statement's values, picked from its set */
    uint8_t *buffered;          /* per scenario: small results, read whole */
    struct pv_pool_stats pool;
    _Atomic uint64_t done, failed;
    /* gauges for pv_run_progress (written by this worker only) */
    _Atomic uint64_t g_in_flight, g_in_use, g_waiting;
    /* the timeline (pv_run_timeline.c): this worker's figures of interval
       tl_k, which ends at tl_next_ns (UINT64_MAX before the clock starts
       and once finished); the only place executions are recorded */
    struct pv_stat *tl_stats;        /* per flat scenario */
    struct pv_sched_stats *tl_sched; /* per query (open model; else NULL) */
    uint64_t tl_pool_waits, tl_started;
    uint64_t tl_k, tl_next_ns;
    uv_timer_t tl_timer;
    bool tl_timer_open;
    /* the other set of interval figures (swapped with tl_stats and tl_sched
       at a boundary), NULL while the aggregator holds it in tl_job; under
       r->agg_mu while tl_job.queued */
    struct pv_stat *tl_spare;
    struct pv_sched_stats *tl_sched_spare;
    struct tl_job tl_job;
    int tl_agg_rc;      /* the aggregator's error on w's figures; under r->agg_mu */
    uint64_t tl_done_k; /* w's intervals before this one are merged; under tl_mu */
    int rc;             /* first internal error (VOLLEY_ENOMEM) */
};

struct scen_ref {
    uint32_t query, scen;
};

struct pv_run {
    struct pv_run_config cfg;
    struct pv_run_result result;
    size_t nscen;
    struct scen_ref *scen;
    uint64_t *cum;  /* cum[i] = executions of scenarios 0..i (count-based) */
    uint64_t *wcum; /* a weighted mix (time-based): share of scenarios 0..i,
                       in units of PV_RUN_WEIGHT_ONE; NULL: each in turn */
    uint64_t total_items;
    char (*stmt_names)[48]; /* per statement slot (see step_slot) */
    size_t nqueries;
    /* Statement slots: query i's statement is slot i; a transaction's
       statements are slots step_slot[i] .. + nsteps - 1 (after the queries). */
    size_t *step_slot;
    size_t nslots;
    int max_params; /* the largest parameter set (a transaction's values) */

    int nworkers;
    struct worker *workers;
    _Atomic uint64_t next_item; /* count-based runs: next item to claim */
    _Atomic int stop;           /* 1: pv_run_stop, 2: pv_run_stop_now */
    _Atomic int workers_left;
    _Atomic uint64_t clock_ns; /* the clock's start, one for every worker (0: not yet) */
    uv_barrier_t barrier;
    uv_mutex_t stop_mu;
    /* Executions handed over by workers the server gave no connection,
       oldest first, for any worker that has one; live_workers counts the
       workers not yet finished. Both guarded by stop_mu. */
    struct orphan *orphans, **orphans_tail;
    int live_workers;
    _Atomic size_t norphans;
    _Atomic int open_conns;         /* connected now, across the run */
    _Atomic uint64_t conns_gone_ns; /* when open_conns last fell to 0 (0: never) */
    _Atomic int max_open_conns;     /* most of them at once */
    uint64_t t0;
    uint64_t timeout_ns;  /* command timeout; 0 = none */
    _Atomic int aborting; /* pv_run__abort was called: abort_reason is set */
    char abort_reason[256];
    uint64_t recycle_ns;   /* --pool-recycle */
    const pv_shape *shape; /* open model: cfg.shape, or own_shape */
    pv_shape *own_shape;   /* a constant rate's shape */
    uint64_t max_lag_ns;   /* --max-lag; 0 = none */
    bool started, joined, barrier_init;

    /* The timeline (pv_run_timeline.c), all guarded by tl_mu. */
    uv_mutex_t tl_mu;
    bool tl_mu_init;
    /* Its aggregator thread: the workers' handed-over intervals (tl_job),
       merged off the workers' threads, in the order handed over. */
    uv_thread_t agg_thread;
    uv_mutex_t agg_mu;
    uv_cond_t agg_cond;      /* a job, or agg_quit */
    uv_cond_t agg_back;      /* a job done: a worker's spare set is back */
    struct pv_fifo agg_jobs; /* struct tl_job, oldest first */
    bool agg_init, agg_started, agg_quit;
    uint64_t tl_interval_ns;
    struct tl_pending *tl_pend; /* intervals some worker has not handed over yet */
    size_t tl_npend, tl_pendcap;
    uint64_t tl_first;     /* interval index of tl_pend[0] */
    struct pv_timeline tl; /* the kept points (moved into result.timeline at the end) */
    size_t tl_cap;
    /* the last PV_TIMELINE_RECENT raw points, for pv_run_timeline_next:
       point seq is tl_recent[seq % PV_TIMELINE_RECENT] while seq >= tl_nraw - that */
    struct pv_tl_point *tl_recent;
    uint64_t tl_nraw;
    /* cumulative figures of the finished intervals (pv_run_snapshot) */
    struct pv_stat *cum_scen;         /* per flat scenario */
    struct pv_sched_stats *cum_sched; /* per query (open model) */
    double cum_wall_s;
};

/* ---- small shared helpers --------------------------------------------- */

static inline struct conn *pv_run__conn_of(pv_conn *pc)
{
    return (struct conn *)(void *)pc; /* core is the first member */
}

static inline PGconn *pv_run__pg(const struct conn *c)
{
    return c->core.pg;
}

static inline bool pv_run__pipelined(const pv_run *r)
{
    return r->cfg.pipeline > 1;
}

static inline struct exec *pv_run__exec_of(struct pv_slink *l)
{
    return l ? PV_CONTAINER_OF(l, struct exec, link) : NULL;
}

/* Every execution of FIFO f, oldest first. */
#define PV_RUN_FOR_EACH(e, f)                                                                      \
    for (struct exec *e = pv_run__exec_of((f)->head); e; e = pv_run__exec_of(e->link.next))

static inline void pv_run__fifo_push(struct pv_fifo *f, struct exec *e)
{
    pv_fifo_push(f, &e->link);
}

static inline struct exec *pv_run__fifo_pop(struct pv_fifo *f)
{
    return pv_run__exec_of(pv_fifo_pop(f));
}

/* Executions one connection carries at once: --pipeline, or 1. */
static inline int pv_run__per_conn(const pv_run *r)
{
    return r->cfg.pipeline > 1 ? r->cfg.pipeline : 1;
}

/* Whether the executions waiting want one more connection: one per
   --pipeline of them beyond what is connecting; when pipelining, no more
   than the slots fill (more connections would only split the pipelines). */
static inline bool pv_run__wants_conn(const struct worker *w)
{
    int per = pv_run__per_conn(w->run);
    /* a connection on its way, or one whose request just ended (on the
       done list until on_done_check), serves an execution or a pipeline */
    if (w->pend.n <= (w->nconnecting + w->ndone) * per || w->nconns >= w->pool_max || w->stopping)
        return false;
    return per == 1 || w->nconns < (w->slots + per - 1) / per;
}

/* True when c is older than --pool-recycle (on every reuse: inline). */
static inline bool pv_run__conn_expired(const struct conn *c, uint64_t now)
{
    return c->born_ns + c->w->run->recycle_ns < now;
}

/* ---- pv_run_pool.c ----------------------------------------------------- */

/* Opens one more connection for w (w->rc = VOLLEY_ENOMEM if it cannot). */
void pv_run__conn_open(struct worker *w);
/* Closes c now; whatever execution it carried must have been dealt with. */
void pv_run__conn_close(struct conn *c);
/* Gives idle c to the oldest waiting execution, keeps it idle, or closes it. */
void pv_run__conn_release(struct conn *c);
/* c broke (the core's lost callback; the engine's own findings go through
   pv_conn_lost): its execution fails with sqlstate and why (NULL: libpq's
   message) or is retried; c is closed and replaced if executions wait. */
void pv_run__conn_lost(struct conn *c, const char *sqlstate, const char *why);
/* Opens a connection when the executions waiting want one; while backing
   off after a failed connect, arms the timer that opens it then. */
void pv_run__pool_refill(struct worker *w);
void pv_run__idle_push(struct worker *w, struct conn *c);
struct conn *pv_run__idle_pop(struct worker *w);
/* Arms the pool timer for the oldest waiting execution. */
void pv_run__pool_timer_arm(struct worker *w);
/* The callbacks of the run engine's connections. */
extern const struct pv_conn_ops pv_run__conn_ops;

/* ---- pv_run_exec.c ----------------------------------------------------- */

/* True for the SQLSTATEs --retries retries (transient errors). */
bool pv_run__retryable(const char *sqlstate);
/* Records the first failure of e. */
void pv_run__exec_fail(struct exec *e, const char *sqlstate, const char *msg);
/* Records e (unless warm or interrupted) and frees its slot - or retries it. */
void pv_run__exec_finish(struct worker *w, struct exec *e, uint64_t t_end);
/* Starts e on idle connection c. */
void pv_run__exec_start(struct worker *w, struct conn *c, struct exec *e);
/* Claims the next execution into a free slot, or NULL when there is none. */
struct exec *pv_run__worker_claim(struct worker *w);
/* Counts one result of e (rows, or its error) read from c. */
void pv_run__handle_result(struct conn *c, struct exec *e, PGresult *res);
/* One result of c's request (not pipelined); see pv_conn_ops.result. */
bool pv_run__exec_result(struct conn *c, PGresult *res);
/* Claims and starts executions while slots and connections allow. */
void pv_run__worker_fill(struct worker *w);
/* Stop requested: drop waiting executions, cancel those in flight. */
void pv_run__worker_begin_stop(struct worker *w);
/* pv_run_stop_now: begin_stop, then every connection closes at once; what
   was in flight ends interrupted (its cancel request goes on alone). */
void pv_run__worker_stop_now(struct worker *w);
/* Gives up c's request (a cancel's grace is over, or pv_run_stop_now): its
   executions end (those timed out fail PV002) and c closes. */
void pv_run__conn_drop(struct conn *c);
/* w has no connection and its last connect was refused, while other
   workers have connections: w's waiting executions go to them (the run's
   orphans) instead of failing. @return false when there is nobody to take
   them (w is the last worker, or no worker has a connection). */
bool pv_run__hand_off(struct worker *w);
/* ---- the open model (pv_run_sched.c) ---- */
static inline bool pv_run__open_model(const pv_run *r)
{
    return r->cfg.rate > 0;
}
/* Opens w's timerfd (open model only). @return 0 or VOLLEY_EIO. On w's thread. */
int pv_run__sched_init(struct worker *w);
/* Draws the first intended start (after w->start_ns is set). */
void pv_run__sched_start(struct worker *w);
/* Closes the timerfd (the worker is finishing). */
void pv_run__sched_close(struct worker *w);
/* The next execution: 1 and *due when it is due at now (the schedule moves
   on), 0 when it is not yet (the timerfd is armed for it), -1 when the
   schedule is over. */
int pv_run__sched_next(struct worker *w, uint64_t now, uint64_t *due);
/* The closed model with a shape (--stages): whether w may start another
   execution at now under the shape's target (its share of it); if not, a
   wake-up is armed to look again. */
bool pv_run__sched_room(struct worker *w, uint64_t now);
/* Records e's corrected latency and lag (counted executions only). */
void pv_run__sched_record(struct worker *w, const struct exec *e, uint64_t t_end);

/* Gives e an idle connection, or queues it (opening one if the pool may). */
void pv_run__exec_acquire(struct worker *w, struct exec *e);
/* w takes orphans, as many as its free slots allow. */
void pv_run__adopt(struct worker *w);

/* ---- pv_run_timeout.c -------------------------------------------------- */

/* Asks the server to cancel c's request; closes c after grace_ms. */
void pv_run__conn_cancel(struct conn *c, uint64_t grace_ms);
/* The periodic check of command timeouts (uv_timer_cb of w->sweep_timer). */
void pv_run__on_timeout_sweep(uv_timer_t *t);

/* ---- pv_run_pipe.c ----------------------------------------------------- */

/* Fails every execution of c's pipeline (why NULL: they were interrupted
   or already failed) and closes c. */
void pv_run__pipe_abandon(struct conn *c, const char *sqlstate, const char *why);
/* Starts a pipeline on idle c: e (may be NULL) first, then waiting ones. */
void pv_run__pipe_start(struct worker *w, struct conn *c, struct exec *e);
/* Sends c's queued executions as one pipeline. */
void pv_run__pipe_send(struct worker *w, struct conn *c);
/* One result of c's pipeline; see pv_conn_ops.result. */
bool pv_run__pipe_result(struct conn *c, PGresult *res);

/* ---- pv_run.c -------------------------------------------------------- */

/* Stops the run from inside (first caller's reason wins): like pv_run_stop,
   but the result says aborted, not interrupted. Any thread. */
void pv_run__abort(pv_run *r, const char *reason);

/* ---- pv_run_timeline.c ------------------------------------------------- */

/* One interval's figures merged over the workers, until each has handed it over. */
struct tl_pending {
    uint64_t k;
    struct pv_stat *scen;         /* per flat scenario */
    struct pv_sched_stats *sched; /* per query (open model) */
    uint64_t pool_waits, started, in_flight;
    double end_s; /* the latest end of a worker that finished in it */
    bool whole;   /* some worker handed it over whole (its end is a boundary) */
};

/* The run's timeline state (after cfg and the plan). @return 0 or VOLLEY_ENOMEM. */
int pv_run__tl_init(pv_run *r);
/* Frees it (the kept points unless moved into the result). */
void pv_run__tl_fini(pv_run *r);
/* w's per-interval records. @return 0 or VOLLEY_ENOMEM. */
int pv_run__tl_worker_init(struct worker *w);
void pv_run__tl_worker_fini(struct worker *w);
/* The clock started (w->measure_ns is set): interval 0 begins; arms the timer. */
void pv_run__tl_start(struct worker *w);
/* now passed w->tl_next_ns: hands over the interval(s) up to now. */
void pv_run__tl_roll(struct worker *w, uint64_t now);
/* w finishes: hands over its last interval and leaves the timeline. */
void pv_run__tl_final(struct worker *w);
/* After the join: the kept points move into r->result.timeline. */
void pv_run__tl_result(pv_run *r);
/* Starts the aggregator thread (before the workers). @return 0 or VOLLEY_EIO. */
int pv_run__tl_agg_start(pv_run *r);
/* After the workers joined (every job is done): ends it. */
void pv_run__tl_agg_stop(pv_run *r);
/* Records a counted execution into w's interval. @return 0 or VOLLEY_ENOMEM. */
static inline int pv_run__tl_record(struct worker *w, const struct exec *e, uint64_t lat,
                                    uint64_t t_end)
{
    if (t_end >= w->tl_next_ns)
        pv_run__tl_roll(w, t_end);
    struct pv_stat *st = &w->tl_stats[e->scen];
    return e->failed ? pv_stat_fail(st, lat, e->sqlstate, e->message)
                     : pv_stat_ok(st, lat, e->rows);
}

/* The gauges of pv_run_progress, written after w's counts changed. */
static inline void pv_run__gauges(struct worker *w)
{
    uint64_t busy = (uint64_t)(w->slots - w->slots_free);
    uint64_t waiting = (uint64_t)w->pend.n;
    atomic_store_explicit(&w->g_in_flight, busy > waiting ? busy - waiting : 0,
                          memory_order_relaxed);
    atomic_store_explicit(&w->g_in_use, (uint64_t)w->in_use, memory_order_relaxed);
    atomic_store_explicit(&w->g_waiting, waiting, memory_order_relaxed);
}

/* ---- pv_run_snapshot.c ------------------------------------------------- */

/* Finishes p (every worker handed it over): its point is kept (coalescing
   when the cap is reached) and queued for pv_run_timeline_next, and its
   figures join the cumulative ones. Under tl_mu. @return 0 or VOLLEY_ENOMEM. */
int pv_run__tl_finish(pv_run *r, struct tl_pending *p);
/* Frees what p owns. */
void pv_run__tl_pending_fini(pv_run *r, struct tl_pending *p);

/* ---- pv_run_merge.c ---------------------------------------------------- */

/* Frees what a result owns (the run's own, or a snapshot's). */
void pv_run__result_fini(struct pv_run_result *res);

/* Merges the joined workers' statistics into r->result. @return 0 or
   VOLLEY_ENOMEM. */
int pv_run__merge(pv_run *r);

#endif /* PV_RUN_INT_H */
