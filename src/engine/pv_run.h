/*
 * pv_run.h - one run of a workload at one concurrency level: worker threads,
 * each with its own libuv loop over non-blocking libpq connections, a
 * connection pool per thread, and per-thread statistics merged at the end.
 *
 * The concurrency limit is the number of executions in flight. It is split
 * evenly over the threads, and so is the pool (pool_size + max_overflow
 * connections at most). Before the clock starts, each thread opens the
 * connections its slots need, all at once; the time until all are up is
 * reported as pool.connect_s. Executions are claimed from a shared counter
 * (one atomic add each; no lock on the hot path): count-based runs take
 * every scenario's EXEC_COUNT executions in file order, time-based runs take
 * the scenarios round-robin until the time is up.
 *
 * Latency of an execution = from sending the query until its last result
 * arrived. Time spent waiting for a connection is measured apart
 * (pool.acquire_wait). A failed execution is counted with its SQLSTATE and
 * never stops the others; a lost connection is replaced on the next acquire.
 */
#ifndef PV_RUN_H
#define PV_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pv_common.h"
#include "engine/pv_target.h"
#include "engine/pv_shape.h"
#include "stats/pv_stat.h"
#include "workload/pv_workload.h"

enum pv_protocol {
    PV_PROTOCOL_PREPARED = 0, /* named prepared statements, prepared once per connection */
    PV_PROTOCOL_EXTENDED,     /* extended protocol, unnamed statement each time */
    PV_PROTOCOL_SIMPLE,       /* simple query protocol (no parameters allowed) */
};

const char *pv_protocol_name(enum pv_protocol p);

/* Pool settings after defaults have been applied (see pv_run_config_defaults). */
struct pv_pool_config {
    int size;         /* connections kept idle at most */
    int max_overflow; /* extra connections beyond size */
    double timeout_s; /* wait for a connection at most this long */
    double recycle_s; /* close connections older than this on release */
    double connect_timeout_s;
};

struct pv_run_config {
    const pv_target *target;     /* borrowed */
    const pv_workload *workload; /* borrowed */
    int concurrency;             /* 1..10000 */
    int threads;                 /* 1..; more threads than concurrency are not used */
    struct pv_pool_config pool;  /* size/max_overflow < 0 = seed defaults */
    double command_timeout_s;    /* 0 = none; cancelled on the server when it passes */
    enum pv_protocol protocol;
    double duration_s; /* 0 = count-based (EXEC_COUNT), else time-based */
    double warmup_s;   /* executions started before this are not counted */
    int pipeline;      /* > 1: send up to this many queries per connection before reading
                          (libpq pipeline mode, one sync per pipeline); 0 or 1 = off */
    int retries;       /* extra attempts after a transient error (08xxx, 40001, 40P01,
                          57P01, 57P02, 57P03), exponential backoff with jitter; 0 = none */
    bool pin_threads;  /* pin worker thread i to the i-th CPU this process may run on
                          (modulo their number) */
    /* A transaction's BEGIN goes out with its first statement, one round trip
       for the two (libpq pipeline mode, one sync), as pgjdbc and Npgsql send
       it; separate_begin sends BEGIN on its own and waits for its result
       first, as psql and pgbench do. No effect with the simple protocol or
       --pipeline. */
    bool separate_begin;
    /* The open model: rate > 0 starts executions at intended times (Poisson
       or uniform arrivals at `rate` per second over all threads, or
       following `shape`, whose targets are then rates) instead of when the
       previous one ends; the concurrency caps what is in flight. */
    double rate;
    enum pv_arrival arrival;
    double max_lag_s;      /* > 0: an execution later than this when a slot frees is
                              dropped (counted, never sent) */
    const pv_shape *shape; /* borrowed; NULL: constant `rate` */
    double start_at;       /* > 0: after connecting, wait until this wall-clock time
                              (epoch seconds) to start the clock (--start-at) */
    uint64_t seed;         /* drawn parameter values (GENERATE, PARAMETERS_FILE): worker i draws
                              from pv_gen_seed(seed, i), so a run repeats with its seed and -j */
    /* Called once, from a worker thread, when the run has finished (for a
       uv_async_send into the caller's loop). May be NULL. */
    void (*on_done)(void *arg);
    void *on_done_arg;
    /* The timeline (see struct pv_timeline): the length of an interval in
       seconds, 0 = 1 s; at least 0.001 and at most 86400. */
    double interval_s;
    /* Points kept in memory at most before adjacent pairs are coalesced
       (even, at least 2); 0 = PV_TIMELINE_CAP. */
    int timeline_cap;
};

/* Points a run keeps in memory by default (a 1-hour run at 1 s whole). */
#define PV_TIMELINE_CAP 3600

/** Fills the seed's defaults: pool size max(1, c/4) (c with a rate or a shape),
    overflow c, 30 s, 3600 s, ... Call after setting rate and shape. */
void pv_run_config_defaults(struct pv_run_config *cfg);

struct pv_pool_stats {
    uint64_t opened;         /* successful connects */
    uint64_t closed;         /* connections closed (recycled, overflow, lost, end) */
    uint64_t connect_failed; /* failed connection attempts */
    uint64_t lost;           /* connections that broke while in use */
    uint64_t timeouts;       /* executions that waited longer than pool.timeout_s */
    uint64_t max_in_use;     /* most connections in use at once (sum over threads) */
    uint64_t max_open;       /* most connections open at once, across the threads */
    uint64_t wanted;         /* connections the slots needed (concurrency / pipeline) */
    double connect_s;        /* start until the initial connections were up */
    pv_hist *acquire_wait;   /* ns from slot to connection, every execution */
};

/* The open model's figures, for a query or the whole run. */
struct pv_sched_stats {
    pv_hist *intended; /* ns from the intended start to the end: what a user sees */
    pv_hist *lag;      /* ns from the intended start to the send */
    uint64_t dropped;  /* later than max_lag_s: never sent, not among the executions */
};

/* Both histograms created. @return 0 or VOLLEY_ENOMEM (nothing to free then). */
int pv_sched_stats_init(struct pv_sched_stats *s);
/* Frees the histograms; a zeroed struct is fine. */
void pv_sched_stats_fini(struct pv_sched_stats *s);
/* dst += src. @return 0 or VOLLEY_ENOMEM. */
int pv_sched_stats_merge(struct pv_sched_stats *dst, const struct pv_sched_stats *src);

struct pv_scenario_result {
    const struct pv_scenario *scenario; /* borrowed from the workload */
    struct pv_stat stat;
};

struct pv_query_result {
    const struct pv_query *query; /* borrowed from the workload */
    struct pv_stat stat;          /* all its scenarios */
    struct pv_scenario_result *scenarios;
    struct pv_sched_stats sched; /* open model only (else NULLs and 0) */
    struct pv_stat *steps;       /* a transaction: one per statement (query->nsteps); else NULL */
};

/* Failures of one group in one interval with a SQLSTATE of a class (its
   first two characters). */
struct pv_tl_err {
    char cls[3];
    uint64_t count;
};

/* One group's figures in one interval: a query, or all of them. */
struct pv_tl_figs {
    uint64_t succeeded, failed;
    double avg_ms;                         /* mean latency of the successes (exact) */
    double p50_ms, p95_ms, p99_ms, max_ms; /* latency of the successes; 0 when none */
    struct pv_tl_err *errors;              /* by class, in the order first seen */
    size_t nerrors;
};

/*
 * One point of a timeline: what ended in [t_s - interval_s, t_s), in
 * seconds since the clock started (after the warm-up). A coalesced point
 * covers `span` adjacent intervals: its counts are exact sums, avg_ms the
 * exact mean (weighted by the successes), max_ms and
 * lag_max_ms the largest, and each percentile the larger of the two
 * halves' (an upper bound, not the percentile of the merged values);
 * in_flight is the largest of the halves'.
 */
struct pv_tl_point {
    uint64_t index;    /* the first interval it covers (0-based) */
    uint32_t span;     /* intervals it covers: 1, or a power of two once coalesced */
    double t_s;        /* its end (the last point ends with the run, so may be shorter) */
    double interval_s; /* its length */
    struct pv_tl_figs all;
    struct pv_tl_figs *queries; /* one per query of the workload, in its order */
    uint64_t in_flight;         /* executions claimed and not waiting for a connection, at t_s */
    uint64_t pool_waits;        /* executions that had to wait for a connection */
    /* the open model (rate > 0); else 0 */
    uint64_t started; /* executions started: the achieved rate is started / interval_s */
    double lag_p50_ms, lag_p99_ms, lag_max_ms;
};

/*
 * A run's timeline. Memory: a point costs sizeof(struct pv_tl_point) plus
 * sizeof(struct pv_tl_figs) per query (and 16 bytes per SQLSTATE class that
 * failed in it); at most `cap` points are kept: when full, adjacent pairs
 * are coalesced (span doubles), so a run of any length stays within the cap.
 */
struct pv_timeline {
    double interval_s; /* the length of a raw interval; 0: no timeline */
    size_t npoints;
    struct pv_tl_point *points;
    size_t nqueries;
    uint32_t span; /* intervals per point now (1 until the first coalescing) */
};

/** Frees what p owns (its queries and errors); a zeroed point is fine. */
void pv_tl_point_fini(struct pv_tl_point *p, size_t nqueries);

/* Everything a report needs about one run. Owned by the pv_run. */
struct pv_run_result {
    int concurrency;
    int threads; /* threads actually used */
    struct pv_pool_config pool;
    double command_timeout_s;
    enum pv_protocol protocol;
    double duration_s, warmup_s;
    int retries;
    uint64_t seed;       /* cfg.seed */
    int pipeline;        /* 1 = off */
    bool separate_begin; /* cfg.separate_begin */
    bool pinned;         /* pin_threads was asked for and every worker thread was pinned */
    bool interrupted;    /* stopped by pv_run_stop before the end */
    /* the run stopped itself because going on could only fail (e.g. its
       prepared statements vanish behind a pooler in transaction mode):
       why, or "" */
    char aborted[256];
    double started_at; /* wall-clock start (epoch seconds) */
    double wall_s;     /* clock start until the last counted execution ended */
    double rate;       /* open model: executions per second asked for; 0 = closed */
    enum pv_arrival arrival;
    double max_lag_s;
    const pv_shape *shape; /* open model: the schedule's shape (owned by the run) */
    struct pv_sched_stats sched;
    struct pv_stat total;
    size_t nqueries;
    struct pv_query_result *queries;
    struct pv_pool_stats pool_stats;
    struct pv_timeline timeline;
};

/* A consistent-enough snapshot for progress display (read without locks). */
struct pv_progress {
    uint64_t done; /* counted executions finished */
    uint64_t failed;
    uint64_t total;   /* count-based: executions planned; time-based: 0 */
    double elapsed_s; /* since the clock started (0 while connecting) */
    bool warming_up;
    bool connecting;
    /* gauges, as of the last time each worker wrote them */
    uint64_t in_flight;    /* executions claimed, not yet ended nor waiting for a connection */
    uint64_t pool_open;    /* connections open */
    uint64_t pool_in_use;  /* connections carrying a request */
    uint64_t pool_waiting; /* executions waiting for a connection */
};

typedef struct pv_run pv_run;

/**
 * Validates cfg and prepares a run (no thread, no connection yet).
 * @return 0, VOLLEY_EINVAL (err says which setting) or VOLLEY_ENOMEM.
 */
int pv_run_create(const struct pv_run_config *cfg, pv_run **out, pv_err *err);

/**
 * Starts the worker threads and returns. cfg->on_done is called once when
 * the run ends (also after pv_run_stop).
 * @return 0 or VOLLEY_ENOMEM / VOLLEY_EIO (threads could not start; on_done
 *         is then never called).
 */
int pv_run_start(pv_run *r, pv_err *err);

/** Asks the run to stop: no new executions; those in flight are cancelled
    and not counted. Thread-safe; callable from any thread. */
void pv_run_stop(pv_run *r);

/** Stops at once (a second Ctrl-C): like pv_run_stop, but the connections
    close now instead of waiting for their cancel requests' outcome (up to
    2 s); the cancel requests still go out. The run then ends and its
    result is whole, as after pv_run_stop. Thread-safe; any thread. */
void pv_run_stop_now(pv_run *r);

/** Waits for the threads and merges their statistics. @return 0 or VOLLEY_ENOMEM. */
int pv_run_wait(pv_run *r, pv_err *err);

/** Progress counters; callable from any thread while the run goes on. */
void pv_run_progress(const pv_run *r, struct pv_progress *p);

/** The merged result; valid after pv_run_wait, until pv_run_destroy. */
const struct pv_run_result *pv_run_result(const pv_run *r);

/* Cumulative figures of the counted executions so far, as of the last
   interval boundary (--interval): a deep copy, owned by the caller.
   Callable from any thread while the run goes on (and after it). The
   scenarios, queries, total, errors and open-model figures are those of the
   finished intervals; a transaction's statements (steps) and the pool's
   figures (but max_open) are zero in a snapshot; wall_s is the time from
   the clock start to the end of the last finished interval.
   @return 0 or VOLLEY_ENOMEM. */
int pv_run_snapshot(pv_run *r, struct pv_run_result **out);
/** Frees a snapshot; NULL is a no-op. */
void pv_run_result_free(struct pv_run_result *res);

/**
 * The next finished interval of the timeline, a raw one (span 1, never
 * coalesced), for writing it out as the run goes (--timeline FILE). *seq
 * starts at 0 and is advanced; the run keeps the last
 * PV_TIMELINE_RECENT of them, so a reader that falls further behind skips
 * the older ones (out->index tells). out is a deep copy: pv_tl_point_fini.
 * Callable from any thread, during and after the run.
 * @return 1 (out filled), 0 (none finished yet) or VOLLEY_ENOMEM.
 */
int pv_run_timeline_next(pv_run *r, uint64_t *seq, struct pv_tl_point *out);
#define PV_TIMELINE_RECENT 256

/** Stops (if needed), waits, frees. NULL is a no-op. */
void pv_run_destroy(pv_run *r);

#endif /* PV_RUN_H */
