/* pv_history_sqlite.c - the run history of `pgvolley serve` in one SQLite
   file (pv_history_int.h: called by the front, with its mutex held). */
#include "web/pv_history_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/*
 * The schema's version is SQLite's user_version: 0 for a new file, which
 * gets the schema; PV_HISTORY_SCHEMA for ours; anything else is refused
 * (a newer pgvolley's history, or another program's database that happens
 * to set it). A file with tables but user_version 0 is not ours either.
 */
#define PV_HISTORY_SCHEMA 1
/* How long a call waits for another process holding the file's lock. */
#define PV_HISTORY_BUSY_MS 5000

static const char schema_sql[] =
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL DEFAULT '',"
    " target TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('queued','running','finished','failed','cancelled','interrupted')),"
    " created_at REAL NOT NULL, started_at REAL, finished_at REAL,"
    " config TEXT NOT NULL, report TEXT,"
    " executions INTEGER, failed INTEGER, qps REAL, avg_ms REAL, p95_ms REAL, wall_s REAL,"
    " exit_code INTEGER NOT NULL DEFAULT -1, message TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX runs_created_at ON runs (created_at);"
    "CREATE TABLE points ("
    " run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, point TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

/* The backend: the database handle (the front holds the mutex). */
struct sq {
    sqlite3 *db;
};

/* ---- SQLite helpers ----------------------------------------------------- */

static int db_fail(sqlite3 *db, int rc, pv_err *err, const char *what)
{
    if (rc == SQLITE_NOMEM)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    return pv_err_set(err, VOLLEY_EIO, "run history: %s: %s", what,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Prepares sql; binds nothing. @return 0 or an error code with err set. */
static int prep(struct sq *h, const char *sql, sqlite3_stmt **st, pv_err *err)
{
    int rc = sqlite3_prepare_v2(h->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(h->db, rc, err, "prepare");
}

/* Steps a statement that returns no row, then finalizes it. */
static int run_done(struct sq *h, sqlite3_stmt *st, pv_err *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(h->db, rc, err, what);
}

static int exec_sql(struct sq *h, const char *sql, pv_err *err, const char *what)
{
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(h->db, rc, err, what);
}

/* ---- open --------------------------------------------------------------- */

static int user_version(struct sq *h, int *v, pv_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(h, "PRAGMA user_version", &st, err);
    if (rc != 0)
        return rc;
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(h->db, rc, err, "read the schema version");
}

static int table_count(struct sq *h, int *n, pv_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(h, "SELECT count(*) FROM sqlite_schema", &st, err);
    if (rc != 0)
        return rc;
    rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(h->db, rc, err, "read the schema");
}

/* Creates the schema in a new file, or checks that the file is ours. */
static int setup_schema(struct sq *h, const char *path, pv_err *err)
{
    int v, n, rc = exec_sql(h, "BEGIN IMMEDIATE", err, "lock");
    if (rc != 0)
        return rc;
    if ((rc = user_version(h, &v, err)) != 0 || (rc = table_count(h, &n, err)) != 0)
        goto out;
    if (v == 0 && n == 0)
        rc = exec_sql(h, schema_sql, err, "create the schema");
    else if (v != PV_HISTORY_SCHEMA)
        rc = pv_err_set(err, VOLLEY_EIO,
                        "run history: %s is not a pgvolley run history of schema %d "
                        "(its user_version is %d)",
                        path, PV_HISTORY_SCHEMA, v);
out:
    if (rc == 0)
        return exec_sql(h, "COMMIT", err, "create the schema");
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int mark_interrupted(struct sq *h, int64_t *n, pv_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(h,
                  "UPDATE runs SET state = 'interrupted', message = '" PV_HISTORY__STOPPED_MSG
                  "' WHERE state IN ('queued', 'running')",
                  &st, err);
    if (rc != 0)
        return rc;
    rc = run_done(h, st, err, "mark interrupted runs");
    if (rc == 0 && n)
        *n = sqlite3_changes(h->db);
    return rc;
}

int pv_history__sqlite_open(const char *path, int64_t *interrupted, void **be, pv_err *err)
{
    struct sq *h = calloc(1, sizeof(*h));
    if (!h)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    int rc = sqlite3_open_v2(
        path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = rc == SQLITE_NOMEM
                 ? pv_err_set(err, VOLLEY_ENOMEM, "out of memory")
                 : pv_err_set(err, VOLLEY_EIO, "run history: cannot open %s: %s", path,
                              h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(h->db, PV_HISTORY_BUSY_MS);
    /* WAL: readers (the API's GETs) never wait for the writer of a run */
    if ((rc = exec_sql(h, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;", err, "set up")) !=
            0 ||
        (rc = setup_schema(h, path, err)) != 0 || (rc = mark_interrupted(h, interrupted, err)) != 0)
        goto fail;
    *be = h;
    return 0;
fail:
    sqlite3_close(h->db);
    free(h);
    return rc;
}

static void sq_close(void *be)
{
    struct sq *h = be;
    sqlite3_close(h->db);
    free(h);
}

/* ---- writes ------------------------------------------------------------- */

static int sq_add(void *be, const char *name, const char *target, const char *config_json,
                  double now, int64_t *id, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = prep(h,
                  "INSERT INTO runs (name, target, state, created_at, config) "
                  "VALUES (?1, ?2, 'queued', ?3, ?4)",
                  &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, now);
    sqlite3_bind_text(st, 4, config_json, -1, SQLITE_STATIC);
    rc = run_done(h, st, err, "add a run");
    if (rc == 0)
        *id = sqlite3_last_insert_rowid(h->db);
    return rc;
}

/* The state of run id into *state. @return 0, VOLLEY_EINPUT (none), or an error. */
static int state_of(struct sq *h, int64_t id, int *state, pv_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(h, "SELECT state FROM runs WHERE id = ?1", &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *state = pv_history_state_parse((const char *)sqlite3_column_text(st, 0));
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = pv_history__no_run(err, id);
    } else {
        rc = db_fail(h->db, rc, err, "read a run");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Fails with VOLLEY_EINPUT unless run id is in one of the states of mask. */
static int expect_state(struct sq *h, int64_t id, unsigned mask, const char *doing, pv_err *err)
{
    int s = -1, rc = state_of(h, id, &s, err);
    if (rc != 0)
        return rc;
    if (s < 0 || !(mask & (1u << s)))
        return pv_history__bad_state(err, id, s, doing);
    return 0;
}

static int sq_start(void *be, int64_t id, double now, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = expect_state(h, id, 1u << PV_HISTORY_QUEUED, "start", err);
    if (rc == 0)
        rc = prep(h, "UPDATE runs SET state = 'running', started_at = ?2 WHERE id = ?1", &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_double(st, 2, now);
        rc = run_done(h, st, err, "start a run");
    }
    return rc;
}

static int sq_add_point(void *be, int64_t id, int64_t seq, const char *point_json, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = expect_state(h, id, 1u << PV_HISTORY_RUNNING, "add a point to", err);
    if (rc == 0)
        rc = prep(h, "INSERT OR REPLACE INTO points (run_id, seq, point) VALUES (?1, ?2, ?3)", &st,
                  err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_bind_text(st, 3, point_json, -1, SQLITE_STATIC);
        rc = run_done(h, st, err, "add a point");
    }
    return rc;
}

static int sq_finish(void *be, int64_t id, enum pv_history_state state, double now,
                     const char *report_json, const struct pv_history_summary *summary,
                     int exit_code, const char *message, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc =
        expect_state(h, id, (1u << PV_HISTORY_QUEUED) | (1u << PV_HISTORY_RUNNING), "end", err);
    if (rc == 0)
        rc = prep(h,
                  "UPDATE runs SET state = ?2, finished_at = ?3, report = ?4, executions = ?5, "
                  "failed = ?6, qps = ?7, avg_ms = ?8, p95_ms = ?9, wall_s = ?10, "
                  "exit_code = ?11, message = ?12 WHERE id = ?1",
                  &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, pv_history_state_name(state), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, now);
    if (report_json)
        sqlite3_bind_text(st, 4, report_json, -1, SQLITE_STATIC);
    if (summary) {
        sqlite3_bind_int64(st, 5, summary->executions);
        sqlite3_bind_int64(st, 6, summary->failed);
        sqlite3_bind_double(st, 7, summary->qps);
        sqlite3_bind_double(st, 8, summary->avg_ms);
        sqlite3_bind_double(st, 9, summary->p95_ms);
        sqlite3_bind_double(st, 10, summary->wall_s);
    }
    sqlite3_bind_int(st, 11, exit_code);
    sqlite3_bind_text(st, 12, message, -1, SQLITE_STATIC);
    return run_done(h, st, err, "end a run");
}

/* ---- reads -------------------------------------------------------------- */

static const char *sq_text(void *src, int col)
{
    return (const char *)sqlite3_column_text(src, col); /* NULL for NULL */
}

static int64_t sq_i64(void *src, int col)
{
    return sqlite3_column_int64(src, col);
}

static double sq_dbl(void *src, int col)
{
    return sqlite3_column_double(src, col);
}

/* Fills r from st's row (pv_history__run_from_row). */
static int run_from_row(sqlite3_stmt *st, bool with_report, struct pv_history_run *r)
{
    struct pv_history__row row = {sq_text, sq_i64, sq_dbl, st};
    return pv_history__run_from_row(&row, with_report, r);
}

static int sq_get(void *be, int64_t id, bool with_report, struct pv_history_run *out, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = prep(
        h, "SELECT " PV_HISTORY__RUN_COLUMNS("points") ", r.report FROM runs r WHERE r.id = ?1",
        &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = run_from_row(st, with_report, out) == 0
                 ? 0
                 : pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    else if (rc == SQLITE_DONE)
        rc = pv_history__no_run(err, id);
    else
        rc = db_fail(h->db, rc, err, "read a run");
    sqlite3_finalize(st);
    return rc;
}

/* Binds the filter's parameters (numbered as in list_sql). */
static void bind_filter(sqlite3_stmt *st, const struct pv_history_filter *f)
{
    sqlite3_bind_int64(st, 1, f->states ? (sqlite3_int64)f->states : -1);
    if (f->target)
        sqlite3_bind_text(st, 2, f->target, -1, SQLITE_STATIC);
    if (f->name)
        sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, f->since);
    sqlite3_bind_double(st, 5, f->until);
    sqlite3_bind_int64(st, 6, f->before_id);
    sqlite3_bind_int64(st, 7, f->limit);
}

/*
 * The state test is a bit test on the state's position in state_names
 * (CASE below, in the same order); the name test is instr() on lower():
 * a substring, never a LIKE pattern the caller's % or _ would change.
 */
static const char list_sql[] = "SELECT " PV_HISTORY__RUN_COLUMNS(
    "points") " FROM runs r WHERE"
              " (?1 & (1 << CASE r.state WHEN 'queued' THEN 0 WHEN 'running' THEN 1"
              "  WHEN 'finished' THEN 2 WHEN 'failed' THEN 3 WHEN 'cancelled' THEN 4 ELSE 5 END)) "
              "!= 0"
              " AND (?2 IS NULL OR r.target = ?2)"
              " AND (?3 IS NULL OR instr(lower(r.name), lower(?3)) > 0)"
              " AND (?4 = 0 OR r.created_at >= ?4) AND (?5 = 0 OR r.created_at < ?5)"
              " AND (?6 = 0 OR r.id < ?6)"
              " ORDER BY r.id DESC LIMIT ?7";

static int sq_list(void *be, const struct pv_history_filter *f, pv_history_run_fn fn, void *arg,
                   pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = prep(h, list_sql, &st, err);
    if (rc != 0)
        return rc;
    bind_filter(st, f);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct pv_history_run r;
        if (run_from_row(st, false, &r) != 0) {
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
            break;
        }
        rc = fn(arg, &r);
        pv_history_run_fini(&r);
        if (rc != 0)
            break;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = db_fail(h->db, s, err, "list runs");
    sqlite3_finalize(st);
    return rc;
}

static int sq_points(void *be, int64_t id, int64_t after, pv_history_point_fn fn, void *arg,
                     pv_err *err)
{
    struct sq *h = be;
    int state;
    sqlite3_stmt *st = NULL;
    int rc = state_of(h, id, &state, err);
    if (rc == 0)
        rc = prep(h, "SELECT seq, point FROM points WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
                  &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, after);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_text(st, 1);
        rc = fn(arg, sqlite3_column_int64(st, 0), p ? (const char *)p : "");
        if (rc != 0)
            break;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = db_fail(h->db, s, err, "read points");
    sqlite3_finalize(st);
    return rc;
}

/* ---- deleting ----------------------------------------------------------- */

#define ENDED "state NOT IN ('queued', 'running')"

static int sq_delete(void *be, int64_t id, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    unsigned ended = ~((1u << PV_HISTORY_QUEUED) | (1u << PV_HISTORY_RUNNING));
    int rc = expect_state(h, id, ended, "delete", err);
    if (rc == 0)
        rc = prep(h, "DELETE FROM runs WHERE id = ?1 AND " ENDED, &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        rc = run_done(h, st, err, "delete a run");
    }
    return rc;
}

static int sq_prune(void *be, double older_than, int64_t keep, int64_t *deleted, pv_err *err)
{
    struct sq *h = be;
    sqlite3_stmt *st;
    int rc = prep(h,
                  "DELETE FROM runs WHERE " ENDED " AND (?1 = 0 OR created_at < ?1)"
                  " AND id NOT IN (SELECT id FROM runs WHERE " ENDED " ORDER BY id DESC LIMIT ?2)",
                  &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_double(st, 1, older_than);
    sqlite3_bind_int64(st, 2, keep);
    rc = run_done(h, st, err, "prune runs");
    if (rc == 0)
        *deleted = sqlite3_changes(h->db);
    return rc;
}

const struct pv_history__ops pv_history__sqlite_ops = {
    .add = sq_add,
    .start = sq_start,
    .add_point = sq_add_point,
    .finish = sq_finish,
    .get = sq_get,
    .list = sq_list,
    .points = sq_points,
    .del = sq_delete,
    .prune = sq_prune,
    .close = sq_close,
};
