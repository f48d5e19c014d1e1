/*
 * pv_history_int.h - what the files of the run history share (internal to
 * src/web/):
 *
 *   pv_history.c         the front: argument checks, the handle and its
 *                        mutex, dispatch to a backend through its ops
 *   pv_history_sqlite.c  the backend in one SQLite file (the default)
 *   pv_history_pg.c      the backend in a PostgreSQL database (--history-dsn)
 *
 * A backend's functions are called with the handle's mutex held, one at a
 * time, with arguments the front has already checked: handles, callbacks
 * and required strings are not NULL, name and message are never NULL (""
 * for none), state is an end state for finish, seq >= 0, keep >= 0, the
 * filter is not NULL and its limit > 0, out-parameters are set to zero or
 * zeroed already. They return the codes pv_history.h documents, with err
 * set, and keep pv_history.h's promise that no password is ever in err.
 */
#ifndef PV_HISTORY_INT_H
#define PV_HISTORY_INT_H

#include "web/pv_history.h"

/* The message of a run marked interrupted when the history is opened. */
#define PV_HISTORY__STOPPED_MSG "the server stopped before the run finished"

/* How many runs one list call returns when the filter says 0 (or less). */
#define PV_HISTORY__LIMIT 100

struct pv_history__ops {
    int (*add)(void *be, const char *name, const char *target, const char *config_json, double now,
               int64_t *id, pv_err *err);
    int (*start)(void *be, int64_t id, double now, pv_err *err);
    int (*add_point)(void *be, int64_t id, int64_t seq, const char *point_json, pv_err *err);
    int (*finish)(void *be, int64_t id, enum pv_history_state state, double now,
                  const char *report_json, const struct pv_history_summary *summary, int exit_code,
                  const char *message, pv_err *err);
    int (*get)(void *be, int64_t id, bool with_report, struct pv_history_run *out, pv_err *err);
    int (*list)(void *be, const struct pv_history_filter *f, pv_history_run_fn fn, void *arg,
                pv_err *err);
    int (*points)(void *be, int64_t id, int64_t after, pv_history_point_fn fn, void *arg,
                  pv_err *err);
    int (*del)(void *be, int64_t id, pv_err *err);
    int (*prune)(void *be, double older_than, int64_t keep, int64_t *deleted, pv_err *err);
    /* Releases everything the backend holds; be is not NULL. */
    void (*close)(void *be);
};

/*
 * The backends' openers: on success *be is the backend (closed with its
 * ops' close) and *interrupted how many runs were marked interrupted.
 * @return 0, VOLLEY_EIO, VOLLEY_ENOMEM; nothing is left open on error.
 */
extern const struct pv_history__ops pv_history__sqlite_ops;
int pv_history__sqlite_open(const char *path, int64_t *interrupted, void **be, pv_err *err);
extern const struct pv_history__ops pv_history__pg_ops;
int pv_history__pg_open(const char *conninfo, int64_t *interrupted, void **be, pv_err *err);

/*
 * A run's row, the same in both backends: the columns of
 * PV_HISTORY__RUN_COLUMNS (POINTS: the points table, as the backend names
 * it), then with a report the report in column PV_HISTORY__RUN_NCOLUMNS.
 */
#define PV_HISTORY__RUN_COLUMNS(POINTS)                                                            \
    "r.id, r.name, r.target, r.state, r.created_at, r.started_at, r.finished_at, "                 \
    "r.executions, r.failed, r.qps, r.avg_ms, r.p95_ms, r.wall_s, r.exit_code, r.message, "        \
    "r.config, (SELECT count(*) FROM " POINTS " p WHERE p.run_id = r.id)"
#define PV_HISTORY__RUN_NCOLUMNS 17

/* How a backend reads column col of its current row: text is NULL for SQL
   NULL; i64 and dbl are 0 for it. */
struct pv_history__row {
    const char *(*text)(void *src, int col);
    int64_t (*i64)(void *src, int col);
    double (*dbl)(void *src, int col);
    void *src;
};

/** Fills r from a row of PV_HISTORY__RUN_COLUMNS (and its report with
    with_report). @return 0 or VOLLEY_ENOMEM (r is then freed). */
int pv_history__run_from_row(const struct pv_history__row *row, bool with_report,
                             struct pv_history_run *r);

/** "no run ID in the history" as VOLLEY_EINPUT. */
int pv_history__no_run(pv_err *err, int64_t id);

/** "run ID is STATE: cannot DOING it" as VOLLEY_EINPUT (state -1: unknown). */
int pv_history__bad_state(pv_err *err, int64_t id, int state, const char *doing);

#endif /* PV_HISTORY_INT_H */
