/*
 * pv_history_pg.c - the run history of `pgvolley serve` in PostgreSQL
 * (`serve --history-dsn`; pv_history_int.h: called by the front, with its
 * mutex held, so one synchronous libpq connection serves every call).
 *
 * Everything lives in the schema pgvolley_history:
 *
 *   schema_version  one row: the schema's version (PG_SCHEMA_VERSION); a
 *                   newer one is refused, as the SQLite backend refuses a
 *                   newer user_version
 *   instances       one row per open (a server), id from an identity
 *                   column; the open holds the session advisory lock
 *                   (PG_LOCK_CLASS, id) for as long as its connection lives
 *   runs            ids from an identity column (never reused); each run
 *                   records the instance that created it
 *   points          (run_id, seq) -> point, deleted with their run
 *
 * The JSON texts (config, report, points) are text, not jsonb: they come
 * back byte for byte as the caller gave them (jsonb reorders keys, drops
 * duplicates and rewrites numbers), they are never queried inside by
 * pgvolley, and a report of megabytes is not parsed on every write; SQL
 * users can still cast them (report::jsonb). Times are epoch seconds in
 * double precision, as the API has them (to_timestamp(created_at) to read).
 *
 * Interrupted runs: at open, a run queued or running whose instance's
 * advisory lock can be taken (pg_try_advisory_xact_lock: held for the
 * transaction only) belongs to a server that is gone, and is marked
 * interrupted; the runs of a live server (its lock held) are left alone.
 * Instances found gone are deleted in the same transaction.
 *
 * Parameters are always bound (PQexecParams, text format); the only SQL
 * text built here is constant. The connection string is never printed:
 * messages name the database by host, port and name, and a password that
 * libpq might echo is cut out of every message.
 */
#include "web/pv_history_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"

#define PG_SCHEMA_VERSION 1
/* The first key of the history's advisory locks ("pvhs"); the second is an
   instance id, or 0 while the schema is checked or created. */
#define PG_LOCK_CLASS        "1886808179"
#define PG_CONNECT_TIMEOUT   "5"
#define PG_LOCK_TIMEOUT      "10s" /* e.g. retaking the instance lock after a reconnect */
#define PG_STATEMENT_TIMEOUT "30s"
#define PG_APPLICATION_NAME  "pgvolley serve history"
#define SCHEMA               "pgvolley_history."

struct pg {
    pv_conninfo *ci;
    PGconn *conn;    /* NULL after a failed reconnect: the next call tries again */
    int instance;    /* this open's instance id; 0 until registered */
    bool opening;    /* in pv_history__pg_open: no reconnect (transactions) */
    char where[256]; /* "host H port P database D": messages; never a password */
};

/* ---- messages ----------------------------------------------------------- */

/* Masks every copy of the connection string's password in msg with as
   many '*': in place, so msg never grows. */
static void redact(const struct pg *b, char *msg)
{
    const char *pw = b->ci ? pv_conninfo_get(b->ci, "password") : NULL;
    size_t n = pw ? strlen(pw) : 0;
    if (n == 0)
        return;
    for (char *p = strstr(msg, pw); p; p = strstr(p + n, pw))
        memset(p, '*', n);
}

/* A value fit for a message: none of the characters a connection string
   or URI (with its password) holds. */
static const char *plain(const char *v)
{
    return v && *v && !strpbrk(v, "=@ '\"") && !strstr(v, "://") ? v : "(default)";
}

static void describe(struct pg *b)
{
    const char *host = b->conn ? PQhost(b->conn) : pv_conninfo_get(b->ci, "host");
    const char *port = b->conn ? PQport(b->conn) : pv_conninfo_get(b->ci, "port");
    const char *db = b->conn ? PQdb(b->conn) : pv_conninfo_get(b->ci, "dbname");
    snprintf(b->where, sizeof(b->where), "host %s port %s database %s", plain(host), plain(port),
             plain(db));
}

/* VOLLEY_EIO with what failed and the server's (or libpq's) reason. */
static int pg_fail(struct pg *b, const PGresult *res, const char *what, pv_err *err)
{
    char line[512];
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    pv_first_line(line, sizeof(line), m ? m : b->conn ? PQerrorMessage(b->conn) : NULL);
    pv_err_set(err, VOLLEY_EIO, "run history (PostgreSQL, %s): %s: %s", b->where, what, line);
    if (err)
        redact(b, err->msg);
    return VOLLEY_EIO;
}

/* ---- statements --------------------------------------------------------- */

/* Up to 12 text parameters; numbers are formatted into num. */
struct params {
    int n;
    const char *v[12];
    char num[12][32];
};

static void par_s(struct params *p, const char *s)
{
    p->v[p->n++] = s;
}

static void par_i(struct params *p, long long x)
{
    snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", x);
    par_s(p, p->num[p->n]);
}

static void par_d(struct params *p, double x)
{
    snprintf(p->num[p->n], sizeof(p->num[0]), "%.17g", x);
    par_s(p, p->num[p->n]);
}

/* Runs a statement without parameters and without reconnecting (session
   set-up, transactions of open). @return 0 or VOLLEY_EIO. */
static int simple(struct pg *b, const char *sql, const char *what, pv_err *err)
{
    PGresult *r = PQexec(b->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_fail(b, r, what, err);
    PQclear(r);
    return rc;
}

/* Connects (blocking), sets the session up, and takes the instance's lock
   again after a reconnect. @return 0, VOLLEY_EIO or VOLLEY_ENOMEM. */
static int pg_connect(struct pg *b, pv_err *err)
{
    pv_err e = {{0}};
    int rc = pv_conn_connect_blocking(pv_conninfo_keywords(b->ci), pv_conninfo_values(b->ci),
                                      &b->conn, &e);
    if (rc == VOLLEY_ENOMEM)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    if (rc != 0) {
        b->conn = NULL;
        pv_err_set(err, VOLLEY_EIO, "run history: cannot connect to PostgreSQL (%s): %s", b->where,
                   e.msg);
        if (err)
            redact(b, err->msg);
        return VOLLEY_EIO;
    }
    describe(b);
    rc = simple(b,
                "SET statement_timeout = '" PG_STATEMENT_TIMEOUT
                "'; SET lock_timeout = '" PG_LOCK_TIMEOUT "'",
                "set up the session", err);
    if (rc == 0 && b->instance > 0) {
        struct params p = {0};
        par_i(&p, b->instance);
        /* After a lost connection the old backend may still hold the lock
           until the server notices the client is gone (its TCP keepalive:
           hours by default): end that backend, which only this instance
           uses, then take the lock, waiting at most the lock timeout. */
        PGresult *r = PQexecParams(
            b->conn,
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' "
            "AND l.classid = " PG_LOCK_CLASS " AND l.objid = $1::int AND l.objsubid = 2 "
            "AND l.granted AND l.pid <> pg_backend_pid()",
            p.n, NULL, p.v, NULL, NULL, 0);
        PQclear(r);
        r = PQexecParams(b->conn, "SELECT pg_advisory_lock(" PG_LOCK_CLASS ", $1::int)", p.n, NULL,
                         p.v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = pg_fail(b, r, "lock the instance", err);
        PQclear(r);
    }
    if (rc != 0) {
        PQfinish(b->conn);
        b->conn = NULL;
    }
    return rc;
}

/*
 * Runs sql with p (NULL: no parameters). When the connection is gone (or
 * was lost by this statement) it connects again, once per call, and runs
 * the statement again; not while opening.
 * @return 0 with *out (PQclear it), VOLLEY_EIO or VOLLEY_ENOMEM.
 */
static int run(struct pg *b, const char *sql, const struct params *p, const char *what,
               PGresult **out, pv_err *err)
{
    *out = NULL;
    bool connected = false;
    for (;;) {
        if (!b->conn) {
            int rc = pg_connect(b, err);
            if (rc != 0)
                return rc;
            connected = true;
        }
        PGresult *r =
            PQexecParams(b->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            *out = r;
            return 0;
        }
        if (PQstatus(b->conn) != CONNECTION_BAD || connected || b->opening) {
            int rc = r ? pg_fail(b, r, what, err) : pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
            PQclear(r);
            return rc;
        }
        PQclear(r);
        PQfinish(b->conn);
        b->conn = NULL;
    }
}

/* As run, for a statement whose result is not needed; *n (if not NULL):
   the rows it changed. */
static int run_cmd(struct pg *b, const char *sql, const struct params *p, const char *what,
                   int64_t *n, pv_err *err)
{
    PGresult *r;
    int rc = run(b, sql, p, what, &r, err);
    if (rc == 0 && n)
        *n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return rc;
}

static int64_t get_i(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double get_d(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

/* ---- open --------------------------------------------------------------- */

static const char schema_sql[] =
    "CREATE SCHEMA IF NOT EXISTS pgvolley_history;"
    "CREATE TABLE " SCHEMA "schema_version (version integer NOT NULL);"
    "CREATE TABLE " SCHEMA "instances ("
    " id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " started_at timestamptz NOT NULL DEFAULT now(),"
    " client text NOT NULL DEFAULT '');"
    "CREATE TABLE " SCHEMA "runs ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " instance integer NOT NULL,"
    " name text NOT NULL DEFAULT '',"
    " target text NOT NULL,"
    " state text NOT NULL CHECK (state IN"
    "  ('queued','running','finished','failed','cancelled','interrupted')),"
    " created_at double precision NOT NULL,"
    " started_at double precision, finished_at double precision,"
    " config text NOT NULL, report text,"
    " executions bigint, failed bigint, qps double precision, avg_ms double precision,"
    " p95_ms double precision, wall_s double precision,"
    " exit_code integer NOT NULL DEFAULT -1, message text NOT NULL DEFAULT '');"
    "CREATE INDEX runs_created_at ON " SCHEMA "runs (created_at);"
    "CREATE INDEX runs_unended ON " SCHEMA "runs (instance) WHERE state IN ('queued', 'running');"
    "CREATE TABLE " SCHEMA "points ("
    " run_id bigint NOT NULL REFERENCES " SCHEMA "runs (id) ON DELETE CASCADE,"
    " seq bigint NOT NULL, point text NOT NULL, PRIMARY KEY (run_id, seq));"
    "INSERT INTO " SCHEMA "schema_version (version) VALUES (1);";

/* Checks the schema's version, or creates the schema; in a transaction
   holding the lock (PG_LOCK_CLASS, 0), so that two first opens do not
   both create it. */
static int setup_schema(struct pg *b, pv_err *err)
{
    PGresult *r = NULL;
    int rc = simple(b, "BEGIN", "begin", err);
    if (rc != 0)
        return rc;
    if ((rc = simple(b, "SELECT pg_advisory_xact_lock(" PG_LOCK_CLASS ", 0)", "lock", err)) != 0 ||
        (rc = run(b, "SELECT to_regclass('" SCHEMA "schema_version') IS NOT NULL", NULL,
                  "read the schema", &r, err)) != 0)
        goto out;
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    r = NULL;
    if (!exists) {
        rc = simple(b, schema_sql, "create the schema pgvolley_history", err);
        goto out;
    }
    if ((rc = run(b, "SELECT coalesce(max(version), 0) FROM " SCHEMA "schema_version", NULL,
                  "read the schema version", &r, err)) != 0)
        goto out;
    int64_t v = get_i(r, 0, 0);
    if (v > PG_SCHEMA_VERSION)
        rc = pv_err_set(err, VOLLEY_EIO,
                        "run history (PostgreSQL, %s): the schema pgvolley_history is of "
                        "version %lld, of a newer pgvolley (this one knows version %d)",
                        b->where, (long long)v, PG_SCHEMA_VERSION);
    else if (v != PG_SCHEMA_VERSION)
        rc = pv_err_set(err, VOLLEY_EIO,
                        "run history (PostgreSQL, %s): the schema pgvolley_history is not a "
                        "pgvolley run history (its schema_version holds %lld)",
                        b->where, (long long)v);
out:
    PQclear(r);
    if (rc == 0)
        return simple(b, "COMMIT", "create the schema pgvolley_history", err);
    PQclear(PQexec(b->conn, "ROLLBACK"));
    return rc;
}

/* Registers this open as an instance and takes its lock, in one
   transaction: no other open sees the instance without its lock held. */
static int register_instance(struct pg *b, pv_err *err)
{
    char host[128] = "", client[192];
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    snprintf(client, sizeof(client), "%s pid %ld", host, (long)getpid());
    struct params p = {0};
    par_s(&p, client);
    PGresult *r = NULL;
    int rc = simple(b, "BEGIN", "begin", err);
    if (rc != 0)
        return rc;
    if ((rc = run(b, "INSERT INTO " SCHEMA "instances (client) VALUES ($1) RETURNING id", &p,
                  "register the server", &r, err)) == 0) {
        b->instance = (int)get_i(r, 0, 0);
        PQclear(r);
        p = (struct params){0};
        par_i(&p, b->instance);
        rc = run(b, "SELECT pg_advisory_lock(" PG_LOCK_CLASS ", $1::int)", &p,
                 "lock the server's instance", &r, err);
        PQclear(r);
    }
    if (rc == 0)
        return simple(b, "COMMIT", "register the server", err);
    PQclear(PQexec(b->conn, "ROLLBACK"));
    return rc;
}

/* Marks the runs of instances that are gone interrupted, and forgets
   those instances. */
static int mark_interrupted(struct pg *b, int64_t *n, pv_err *err)
{
    struct params p = {0};
    par_i(&p, b->instance);
    par_s(&p, PV_HISTORY__STOPPED_MSG);
    int rc = simple(b, "BEGIN", "begin", err);
    if (rc != 0)
        return rc;
    rc = run_cmd(b,
                 "UPDATE " SCHEMA "runs SET state = 'interrupted', message = $2"
                 " WHERE state IN ('queued', 'running') AND instance <> $1"
                 " AND pg_try_advisory_xact_lock(" PG_LOCK_CLASS ", instance)",
                 &p, "mark interrupted runs", n, err);
    p.n = 1;
    if (rc == 0)
        rc = run_cmd(b,
                     "DELETE FROM " SCHEMA "instances WHERE id <> $1"
                     " AND pg_try_advisory_xact_lock(" PG_LOCK_CLASS ", id)",
                     &p, "forget stopped servers", NULL, err);
    if (rc == 0)
        return simple(b, "COMMIT", "mark interrupted runs", err);
    PQclear(PQexec(b->conn, "ROLLBACK"));
    return rc;
}

static void pg_close(void *be)
{
    struct pg *b = be;
    if (b->conn && b->instance > 0) {
        /* the lock goes with the session anyway, but the server may end
           the session a moment after PQfinish: a next open right after
           this close must find it free */
        struct params p = {0};
        par_i(&p, b->instance);
        PQclear(PQexecParams(b->conn, "SELECT pg_advisory_unlock(" PG_LOCK_CLASS ", $1::int)", p.n,
                             NULL, p.v, NULL, NULL, 0));
    }
    if (b->conn)
        PQfinish(b->conn);
    pv_conninfo_destroy(b->ci);
    free(b);
}

int pv_history__pg_open(const char *conninfo, int64_t *interrupted, void **be, pv_err *err)
{
    struct pg *b = calloc(1, sizeof(*b));
    if (!b)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    pv_err e = {{0}};
    int rc = pv_conninfo_create(conninfo, PG_APPLICATION_NAME, &b->ci, &e);
    if (rc != 0) {
        free(b);
        return rc == VOLLEY_ENOMEM ? pv_err_set(err, rc, "out of memory")
                                   : pv_err_set(err, VOLLEY_EIO, "run history: %s", e.msg);
    }
    /* a silently dead network path is noticed within about a minute (TCP
       keepalives, tcp_user_timeout), not after the kernel's 15 minutes of
       retransmissions with the history's mutex held */
    static const char *const defaults[][2] = {
        {"connect_timeout", PG_CONNECT_TIMEOUT},
        {"keepalives", "1"},
        {"keepalives_idle", "30"},
        {"keepalives_interval", "10"},
        {"keepalives_count", "3"},
        {"tcp_user_timeout", "60000"},
    };
    bool set_ok = true;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        set_ok = set_ok && pv_conninfo_set_default(b->ci, defaults[i][0], defaults[i][1]) == 0;
    if (!set_ok) {
        pg_close(b);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    describe(b);
    b->opening = true;
    if ((rc = pg_connect(b, err)) != 0 || (rc = setup_schema(b, err)) != 0 ||
        (rc = register_instance(b, err)) != 0 ||
        (rc = mark_interrupted(b, interrupted, err)) != 0) {
        pg_close(b);
        return rc;
    }
    b->opening = false;
    *be = b;
    return 0;
}

/* ---- writes ------------------------------------------------------------- */

/* Why a transition of run id changed no row: VOLLEY_EINPUT (no such run,
   or its state), or the error reading it. */
static int why_not(struct pg *b, int64_t id, const char *doing, pv_err *err)
{
    struct params p = {0};
    par_i(&p, id);
    PGresult *r;
    int rc = run(b, "SELECT state FROM " SCHEMA "runs WHERE id = $1", &p, "read a run", &r, err);
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 0
             ? pv_history__no_run(err, id)
             : pv_history__bad_state(err, id, pv_history_state_parse(PQgetvalue(r, 0, 0)), doing);
    PQclear(r);
    return rc;
}

static int pg_add(void *be, const char *name, const char *target, const char *config_json,
                  double now, int64_t *id, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, b->instance);
    par_s(&p, name);
    par_s(&p, target);
    par_d(&p, now);
    par_s(&p, config_json);
    PGresult *r;
    int rc = run(b,
                 "INSERT INTO " SCHEMA "runs (instance, name, target, state, created_at, config)"
                 " VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id",
                 &p, "add a run", &r, err);
    if (rc == 0)
        *id = get_i(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pg_start(void *be, int64_t id, double now, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    par_d(&p, now);
    int64_t n = 0;
    int rc = run_cmd(b,
                     "UPDATE " SCHEMA "runs SET state = 'running', started_at = $2"
                     " WHERE id = $1 AND state = 'queued'",
                     &p, "start a run", &n, err);
    return rc != 0 ? rc : n == 1 ? 0 : why_not(b, id, "start", err);
}

static int pg_add_point(void *be, int64_t id, int64_t seq, const char *point_json, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    par_i(&p, seq);
    par_s(&p, point_json);
    int64_t n = 0;
    int rc = run_cmd(b,
                     "INSERT INTO " SCHEMA "points (run_id, seq, point)"
                     " SELECT id, $2, $3 FROM " SCHEMA "runs WHERE id = $1 AND state = 'running'"
                     " ON CONFLICT (run_id, seq) DO UPDATE SET point = EXCLUDED.point",
                     &p, "add a point", &n, err);
    return rc != 0 ? rc : n == 1 ? 0 : why_not(b, id, "add a point to", err);
}

static int pg_finish(void *be, int64_t id, enum pv_history_state state, double now,
                     const char *report_json, const struct pv_history_summary *summary,
                     int exit_code, const char *message, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    par_s(&p, pv_history_state_name(state));
    par_d(&p, now);
    par_s(&p, report_json);
    if (summary) {
        par_i(&p, summary->executions);
        par_i(&p, summary->failed);
        par_d(&p, summary->qps);
        par_d(&p, summary->avg_ms);
        par_d(&p, summary->p95_ms);
        par_d(&p, summary->wall_s);
    } else {
        for (int i = 0; i < 6; i++)
            par_s(&p, NULL);
    }
    par_i(&p, exit_code);
    par_s(&p, message);
    int64_t n = 0;
    int rc = run_cmd(b,
                     "UPDATE " SCHEMA "runs SET state = $2, finished_at = $3, report = $4,"
                     " executions = $5, failed = $6, qps = $7, avg_ms = $8, p95_ms = $9,"
                     " wall_s = $10, exit_code = $11, message = $12"
                     " WHERE id = $1 AND state IN ('queued', 'running')",
                     &p, "end a run", &n, err);
    return rc != 0 ? rc : n == 1 ? 0 : why_not(b, id, "end", err);
}

/* ---- reads -------------------------------------------------------------- */

/* A row of a PGresult, for pv_history__run_from_row. */
struct pg_row {
    const PGresult *res;
    int i;
};

static const char *pg_text(void *src, int col)
{
    const struct pg_row *x = src;
    return PQgetisnull(x->res, x->i, col) ? NULL : PQgetvalue(x->res, x->i, col);
}

static int64_t pg_i64(void *src, int col)
{
    const struct pg_row *x = src;
    return get_i(x->res, x->i, col);
}

static double pg_dbl(void *src, int col)
{
    const struct pg_row *x = src;
    return get_d(x->res, x->i, col);
}

/* Fills r from row i of res (pv_history__run_from_row). */
static int run_from_row(const PGresult *res, int i, bool with_report, struct pv_history_run *r)
{
    struct pg_row x = {res, i};
    struct pv_history__row row = {pg_text, pg_i64, pg_dbl, &x};
    return pv_history__run_from_row(&row, with_report, r);
}

static int pg_get(void *be, int64_t id, bool with_report, struct pv_history_run *out, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    PGresult *r;
    int rc = run(b,
                 with_report
                     ? "SELECT " PV_HISTORY__RUN_COLUMNS(SCHEMA "points") ", r.report FROM " SCHEMA
                                                                          "runs r WHERE r.id = $1"
                     : "SELECT " PV_HISTORY__RUN_COLUMNS(SCHEMA "points") " FROM " SCHEMA
                                                                          "runs r WHERE r.id = $1",
                 &p, "read a run", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0)
        rc = pv_history__no_run(err, id);
    else if (run_from_row(r, 0, with_report, out) != 0)
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    PQclear(r);
    return rc;
}

/* As the SQLite backend's: a bit test on the state's position, and a
   substring (strpos), never a LIKE pattern. */
static const char list_sql[] = "SELECT " PV_HISTORY__RUN_COLUMNS(
    SCHEMA
    "points") " FROM " SCHEMA "runs r WHERE"
              " ($1::bigint & (1::bigint << CASE r.state WHEN 'queued' THEN 0 WHEN 'running' THEN 1"
              "  WHEN 'finished' THEN 2 WHEN 'failed' THEN 3 WHEN 'cancelled' THEN 4 ELSE 5 END)) "
              "<> 0"
              " AND ($2::text IS NULL OR r.target = $2)"
              " AND ($3::text IS NULL OR strpos(lower(r.name), lower($3)) > 0)"
              " AND ($4::float8 = 0 OR r.created_at >= $4) AND ($5::float8 = 0 OR r.created_at < "
              "$5)"
              " AND ($6::bigint = 0 OR r.id < $6)"
              " ORDER BY r.id DESC LIMIT $7::bigint";

static int pg_list(void *be, const struct pv_history_filter *f, pv_history_run_fn fn, void *arg,
                   pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, f->states ? (long long)f->states : -1);
    par_s(&p, f->target);
    par_s(&p, f->name);
    par_d(&p, f->since);
    par_d(&p, f->until);
    par_i(&p, f->before_id);
    par_i(&p, f->limit);
    PGresult *r;
    int rc = run(b, list_sql, &p, "list runs", &r, err);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        struct pv_history_run run1;
        if (run_from_row(r, i, false, &run1) != 0) {
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
            break;
        }
        rc = fn(arg, &run1);
        pv_history_run_fini(&run1);
    }
    PQclear(r);
    return rc;
}

static int pg_points(void *be, int64_t id, int64_t after, pv_history_point_fn fn, void *arg,
                     pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    par_i(&p, after);
    PGresult *r;
    int rc = run(b,
                 "SELECT p.seq, p.point FROM " SCHEMA "runs r LEFT JOIN " SCHEMA "points p"
                 " ON p.run_id = r.id AND p.seq > $2 WHERE r.id = $1 ORDER BY p.seq",
                 &p, "read points", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0)
        rc = pv_history__no_run(err, id);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        if (!PQgetisnull(r, i, 0))
            rc = fn(arg, get_i(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return rc;
}

/* ---- deleting ----------------------------------------------------------- */

#define ENDED "state NOT IN ('queued', 'running')"

static int pg_delete(void *be, int64_t id, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_i(&p, id);
    int64_t n = 0;
    int rc = run_cmd(b, "DELETE FROM " SCHEMA "runs WHERE id = $1 AND " ENDED, &p, "delete a run",
                     &n, err);
    return rc != 0 ? rc : n == 1 ? 0 : why_not(b, id, "delete", err);
}

static int pg_prune(void *be, double older_than, int64_t keep, int64_t *deleted, pv_err *err)
{
    struct pg *b = be;
    struct params p = {0};
    par_d(&p, older_than);
    par_i(&p, keep);
    return run_cmd(b,
                   "DELETE FROM " SCHEMA "runs WHERE " ENDED
                   " AND ($1::float8 = 0 OR created_at < $1)"
                   " AND id NOT IN (SELECT id FROM " SCHEMA "runs WHERE " ENDED
                   " ORDER BY id DESC LIMIT $2::bigint)",
                   &p, "prune runs", deleted, err);
}

const struct pv_history__ops pv_history__pg_ops = {
    .add = pg_add,
    .start = pg_start,
    .add_point = pg_add_point,
    .finish = pg_finish,
    .get = pg_get,
    .list = pg_list,
    .points = pg_points,
    .del = pg_delete,
    .prune = pg_prune,
    .close = pg_close,
};
