/*
 * pv_history.h - the run history of `pgvolley serve` (issue 13): every run
 * with its configuration, state, summary figures, JSON report and timeline
 * points, kept in a database so that runs outlive the browser and the
 * server process: an SQLite file (pv_history_open, the default), or a
 * PostgreSQL database that several servers may share (pv_history_open_pg,
 * `serve --history-dsn`). Both behave the same through this interface.
 *
 * States and their transitions (each written by one call):
 *
 *     queued --start--> running --finish--> finished | failed | cancelled
 *        \________________finish__________/      (cancelled before it ran)
 *     queued | running --(open after a stop)--> interrupted
 *
 * A run left queued or running by a server that stopped (crashed, killed)
 * is marked interrupted when the history is next opened: it is never shown
 * as finished, and its points so far are kept. In PostgreSQL only the runs
 * of servers that are gone are so marked, never those of another server
 * still running on the same database (see pv_history_open_pg).
 *
 * The history never holds a connection string or a password: a run names
 * its target by the target's name; config and report are the JSON texts
 * the caller gives (the report writers hold no password).
 *
 * Thread-safe: one handle serves every thread (calls are serialised by a
 * mutex inside). Errors: VOLLEY_EIO with SQLite's or PostgreSQL's message in
 * err (the file or database cannot be opened or written, the connection is
 * lost and cannot be made again, or it is not a history database),
 * VOLLEY_EINPUT for a run that does not exist or a transition the state
 * forbids, VOLLEY_EINVAL for bad arguments, VOLLEY_ENOMEM.
 */
#ifndef PV_HISTORY_H
#define PV_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pv_common.h"

typedef struct pv_history pv_history;

enum pv_history_state {
    PV_HISTORY_QUEUED,
    PV_HISTORY_RUNNING,
    PV_HISTORY_FINISHED,    /* ran to its end (thresholds may have failed: see exit_code) */
    PV_HISTORY_FAILED,      /* could not run, or stopped by an error */
    PV_HISTORY_CANCELLED,   /* cancelled by a user */
    PV_HISTORY_INTERRUPTED, /* the server stopped while it was queued or running */
    PV_HISTORY_NSTATES
};

/** "queued", "running", ...; static. */
const char *pv_history_state_name(enum pv_history_state s);
/** The state named s; -1 when none is. */
int pv_history_state_parse(const char *s);

/* The figures a run's list entry shows (from its report's summary). */
struct pv_history_summary {
    int64_t executions, failed;
    double qps, avg_ms, p95_ms, wall_s;
};

/* One run. Strings are owned: free with pv_history_run_fini (safe on a
   zeroed struct). */
struct pv_history_run {
    int64_t id; /* > 0, increasing in creation order, never reused */
    char *name; /* "" when none was given */
    char *target;
    enum pv_history_state state;
    double created_at, started_at, finished_at; /* epoch seconds; 0 = not yet */
    bool has_summary;                           /* finished with a report */
    struct pv_history_summary summary;
    int exit_code; /* the CLI's exit code for the run; -1 until finished */
    char *message; /* why it failed or was interrupted; "" otherwise */
    char *config;  /* JSON text */
    char *report;  /* JSON text; NULL unless asked for (pv_history_get) or none */
    int64_t npoints;
};

void pv_history_run_fini(struct pv_history_run *r);

/**
 * Opens (creating when absent) the history database at path; its
 * directory must exist. Runs left queued or running are marked interrupted
 * ("the server stopped before the run finished").
 * @param interrupted if not NULL: how many runs were so marked.
 * @return 0, VOLLEY_EIO (err: the path and SQLite's reason; also a file
 *         that is not a pgvolley history, or one of a newer schema),
 *         VOLLEY_ENOMEM. Nothing is left open on error.
 */
int pv_history_open(const char *path, int64_t *interrupted, pv_history **out, pv_err *err);

/**
 * Opens the history in the PostgreSQL database conninfo names (a libpq
 * key=value string or URI; "" = libpq's PG* environment defaults), in the
 * schema pgvolley_history, creating the schema and its tables on first use
 * (the user needs CREATE on the database then, or a DBA creates the schema
 * and grants it). One connection, made blocking (connect_timeout 5 s
 * unless conninfo gives one; statement_timeout 30 s); every call made
 * after the connection was lost first connects again, once, and fails
 * with VOLLEY_EIO when that fails too.
 *
 * Several servers may share one database: each open registers an instance
 * and holds a session advisory lock on it for as long as its connection
 * lives; each run records its instance. Runs queued or running whose
 * instance's lock is free (its server is gone: closed, killed, or its
 * connection lost without coming back) are marked interrupted here; a
 * server whose connection was lost may find its runs so marked by another
 * server's open in between, and then gets VOLLEY_EINPUT for them.
 *
 * No message ever holds the connection string or its password: the
 * database is named by host, port and database name.
 * @return as pv_history_open (VOLLEY_EIO also for a string that does not
 *         parse, a server that cannot be reached, or a schema of a newer
 *         pgvolley).
 */
int pv_history_open_pg(const char *conninfo, int64_t *interrupted, pv_history **out, pv_err *err);

/** Closes the database (or the connection); NULL is a no-op. */
void pv_history_close(pv_history *h);

/**
 * Adds a queued run. name may be NULL; target and config_json must not.
 * @return 0 with *id set, VOLLEY_EINVAL, VOLLEY_EIO, VOLLEY_ENOMEM.
 */
int pv_history_add(pv_history *h, const char *name, const char *target, const char *config_json,
                   double now, int64_t *id, pv_err *err);

/** queued -> running. @return 0, VOLLEY_EINPUT (no such run, or not
    queued), VOLLEY_EIO. */
int pv_history_start(pv_history *h, int64_t id, double now, pv_err *err);

/**
 * Appends the timeline point seq (0, 1, ... in order; a repeated seq
 * replaces the point) of a running run.
 * @return 0, VOLLEY_EINPUT (no such run, or not running), VOLLEY_EIO.
 */
int pv_history_add_point(pv_history *h, int64_t id, int64_t seq, const char *point_json,
                         pv_err *err);

/**
 * Ends a queued or running run in state (finished, failed, cancelled, or
 * interrupted: the server is stopping and stopped it)
 * with its report (NULL: none), summary (NULL: none), exit code and
 * message (NULL: "").
 * @return 0, VOLLEY_EINVAL (state is not an end state), VOLLEY_EINPUT (no
 *         such run, or already ended), VOLLEY_EIO.
 */
int pv_history_finish(pv_history *h, int64_t id, enum pv_history_state state, double now,
                      const char *report_json, const struct pv_history_summary *summary,
                      int exit_code, const char *message, pv_err *err);

/**
 * Reads run id into out (zeroed first); with_report also reads its report.
 * @return 0, VOLLEY_EINPUT (no such run), VOLLEY_EIO, VOLLEY_ENOMEM.
 */
int pv_history_get(pv_history *h, int64_t id, bool with_report, struct pv_history_run *out,
                   pv_err *err);

/* Which runs pv_history_list returns; a zeroed filter takes every run. */
struct pv_history_filter {
    unsigned states;     /* bit (1u << state) per state wanted; 0 = all */
    const char *target;  /* exact target name, or NULL */
    const char *name;    /* substring of the name (case-insensitive ASCII), or NULL */
    double since, until; /* created_at within [since, until); 0 = unbounded */
    int64_t before_id;   /* only ids below it (paging); 0 = no bound */
    int64_t limit;       /* at most this many; 0 = 100 */
};

/* Called once per run, newest first; r (without its report) is borrowed
   for the call. A non-zero return stops the listing and is returned. */
typedef int (*pv_history_run_fn)(void *arg, const struct pv_history_run *r);

/** @return 0, the callback's non-zero code, VOLLEY_EIO, VOLLEY_ENOMEM. */
int pv_history_list(pv_history *h, const struct pv_history_filter *f, pv_history_run_fn fn,
                    void *arg, pv_err *err);

/* Called once per timeline point with seq > after, in order; point_json
   borrowed for the call. A non-zero return stops and is returned. */
typedef int (*pv_history_point_fn)(void *arg, int64_t seq, const char *point_json);

/** @return 0, the callback's code, VOLLEY_EINPUT (no such run), VOLLEY_EIO. */
int pv_history_points(pv_history *h, int64_t id, int64_t after, pv_history_point_fn fn, void *arg,
                      pv_err *err);

/** Deletes an ended run and its points.
    @return 0, VOLLEY_EINPUT (no such run, or still queued or running), VOLLEY_EIO. */
int pv_history_delete(pv_history *h, int64_t id, pv_err *err);

/**
 * Deletes ended runs created before older_than (0: any age) beyond the
 * newest keep ended runs (keep 0: none kept by count); never a queued or
 * running one. With older_than 0 and keep 0 every ended run goes.
 * @param deleted if not NULL: how many runs were deleted.
 * @return 0, VOLLEY_EINVAL (keep < 0), VOLLEY_EIO.
 */
int pv_history_prune(pv_history *h, double older_than, int64_t keep, int64_t *deleted, pv_err *err);

#endif /* PV_HISTORY_H */
