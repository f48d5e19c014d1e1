/*
 * pv_init.c - `pgvolley init`'s phases: check or drop, create the tables
 * bare, COPY every table in parallel over the connections (one transaction
 * each, disjoint id ranges), primary keys, foreign keys (added NOT VALID,
 * then validated in parallel) with the secondary indexes, ANALYZE.
 * Blocking libpq on one thread per connection: nothing here runs on a loop.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"
#include "suite/pv_init_int.h"

/* A COPY buffer is sent when it holds this much. */
#define COPY_CHUNK (64 * 1024)
/* For the index builds of the init's own sessions. */
#define SESSION_SETUP "SET maintenance_work_mem = '256MB'"

/* ---- the schema (docs/sample-schema.md) --------------------------------- */

struct table_def {
    const char *name;
    int64_t rows_per_scale;
    const char *create;
};

static const struct table_def tables[PV_INIT_NTABLES] = {
    {"pgvolley_tenants", 100,
     "CREATE TABLE pgvolley_tenants (id integer NOT NULL, name text NOT NULL, "
     "plan text NOT NULL, created_at timestamptz NOT NULL)"},
    {"pgvolley_agents", 2000,
     "CREATE TABLE pgvolley_agents (id integer NOT NULL, tenant_id integer NOT NULL, "
     "name text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)"},
    {"pgvolley_schedules", 10000,
     "CREATE TABLE pgvolley_schedules (id integer NOT NULL, agent_id integer NOT NULL, "
     "cron text NOT NULL, enabled boolean NOT NULL, next_run_at timestamptz NOT NULL)"},
    {"pgvolley_runs", 100000,
     "CREATE TABLE pgvolley_runs (id bigint NOT NULL, schedule_id integer NOT NULL, "
     "tenant_id integer NOT NULL, status text NOT NULL, started_at timestamptz NOT NULL, "
     "finished_at timestamptz, duration_ms integer)"},
    {"pgvolley_events", 300000,
     "CREATE TABLE pgvolley_events (id bigint NOT NULL, run_id bigint NOT NULL, "
     "tenant_id integer NOT NULL, kind text NOT NULL, created_at timestamptz NOT NULL, "
     "payload jsonb NOT NULL)"},
};

/* Primary keys, one statement per table (in parallel). */
static const char *const keys_sql[] = {
    "ALTER TABLE pgvolley_events ADD CONSTRAINT pgvolley_events_pkey PRIMARY KEY (id)",
    "ALTER TABLE pgvolley_runs ADD CONSTRAINT pgvolley_runs_pkey PRIMARY KEY (id)",
    "ALTER TABLE pgvolley_schedules ADD CONSTRAINT pgvolley_schedules_pkey PRIMARY KEY (id)",
    "ALTER TABLE pgvolley_agents ADD CONSTRAINT pgvolley_agents_pkey PRIMARY KEY (id)",
    "ALTER TABLE pgvolley_tenants ADD CONSTRAINT pgvolley_tenants_pkey PRIMARY KEY (id)",
};

/* The foreign keys, added NOT VALID in one short transaction (they only
   take their locks), then validated with the indexes. */
static const char fkeys_sql[] =
    "ALTER TABLE pgvolley_agents ADD CONSTRAINT pgvolley_agents_tenant_id_fkey "
    "FOREIGN KEY (tenant_id) REFERENCES pgvolley_tenants (id) NOT VALID;"
    "ALTER TABLE pgvolley_schedules ADD CONSTRAINT pgvolley_schedules_agent_id_fkey "
    "FOREIGN KEY (agent_id) REFERENCES pgvolley_agents (id) NOT VALID;"
    "ALTER TABLE pgvolley_runs ADD CONSTRAINT pgvolley_runs_schedule_id_fkey "
    "FOREIGN KEY (schedule_id) REFERENCES pgvolley_schedules (id) NOT VALID;"
    "ALTER TABLE pgvolley_runs ADD CONSTRAINT pgvolley_runs_tenant_id_fkey "
    "FOREIGN KEY (tenant_id) REFERENCES pgvolley_tenants (id) NOT VALID;"
    "ALTER TABLE pgvolley_events ADD CONSTRAINT pgvolley_events_run_id_fkey "
    "FOREIGN KEY (run_id) REFERENCES pgvolley_runs (id) NOT VALID;"
    "ALTER TABLE pgvolley_events ADD CONSTRAINT pgvolley_events_tenant_id_fkey "
    "FOREIGN KEY (tenant_id) REFERENCES pgvolley_tenants (id) NOT VALID";

/* Validations and secondary indexes, from one queue over the connections.
   A validation and an index build of one table wait for each other (SHARE
   UPDATE EXCLUSIVE against SHARE), with no cycle: each takes one table's
   lock, a validation also a ROW SHARE on the parent. So the longest
   validation (events -> runs) comes first, while the other connections
   build runs' indexes, and events' index builds (which share their lock)
   come after events' validations. */
static const char *const index_sql[] = {
    "ALTER TABLE pgvolley_events VALIDATE CONSTRAINT pgvolley_events_run_id_fkey",
    "CREATE INDEX pgvolley_runs_tenant_id_started_at_idx ON pgvolley_runs (tenant_id, started_at)",
    "CREATE INDEX pgvolley_runs_schedule_id_idx ON pgvolley_runs (schedule_id)",
    "CREATE INDEX pgvolley_runs_started_at_idx ON pgvolley_runs (started_at)",
    "ALTER TABLE pgvolley_runs VALIDATE CONSTRAINT pgvolley_runs_schedule_id_fkey",
    "ALTER TABLE pgvolley_runs VALIDATE CONSTRAINT pgvolley_runs_tenant_id_fkey",
    "ALTER TABLE pgvolley_events VALIDATE CONSTRAINT pgvolley_events_tenant_id_fkey",
    "CREATE INDEX pgvolley_events_tenant_id_created_at_idx "
    "ON pgvolley_events (tenant_id, created_at)",
    "CREATE INDEX pgvolley_events_run_id_idx ON pgvolley_events (run_id)",
    "CREATE INDEX pgvolley_events_created_at_idx ON pgvolley_events (created_at)",
    "CREATE INDEX pgvolley_schedules_agent_id_idx ON pgvolley_schedules (agent_id)",
    "CREATE INDEX pgvolley_schedules_next_run_at_idx ON pgvolley_schedules (next_run_at)",
    "ALTER TABLE pgvolley_schedules VALIDATE CONSTRAINT pgvolley_schedules_agent_id_fkey",
    "CREATE INDEX pgvolley_agents_tenant_id_idx ON pgvolley_agents (tenant_id)",
    "CREATE INDEX pgvolley_agents_created_at_idx ON pgvolley_agents (created_at)",
    "ALTER TABLE pgvolley_agents VALIDATE CONSTRAINT pgvolley_agents_tenant_id_fkey",
};

static const char *const analyze_sql[] = {
    "ANALYZE pgvolley_events", "ANALYZE pgvolley_runs",    "ANALYZE pgvolley_schedules",
    "ANALYZE pgvolley_agents", "ANALYZE pgvolley_tenants",
};

const char *pv_init_table_name(enum pv_init_table t)
{
    return (unsigned)t < PV_INIT_NTABLES ? tables[t].name : "?";
}

int64_t pv_init_table_rows(enum pv_init_table t, int scale)
{
    return (unsigned)t < PV_INIT_NTABLES ? tables[t].rows_per_scale * scale : 0;
}

/* ---- failures -------------------------------------------------------------- */

/* The first failure of a phase (threads record under the mutex). */
struct failure {
    pthread_mutex_t mu;
    bool set;
    char sqlstate[6];
    pv_err err;
};

static void fail_record(struct failure *f, const char *what, PGconn *c, const PGresult *r)
{
    char msg[PV_ERR_LEN];
    const char *state = r ? pv_conn_sqlstate(r) : "08006";
    pv_first_line(msg, sizeof(msg), r ? pv_conn_message(r) : PQerrorMessage(c));
    pthread_mutex_lock(&f->mu);
    if (!f->set) {
        f->set = true;
        snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", state);
        pv_err_set(&f->err, VOLLEY_EIO, "%s: %s (SQLSTATE %s)", what, msg, state);
    }
    pthread_mutex_unlock(&f->mu);
}

static bool fail_is_set(struct failure *f)
{
    pthread_mutex_lock(&f->mu);
    bool set = f->set;
    pthread_mutex_unlock(&f->mu);
    return set;
}

/* Runs sql (one or more statements); 0, or -1 after recording the failure. */
static int exec_ok(PGconn *c, const char *sql, const char *what, struct failure *f)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        fail_record(f, what, c, r);
    PQclear(r);
    return rc;
}

/* ---- parallel statements ------------------------------------------------- */

struct stmt_queue {
    const char *const *sql;
    size_t n;
    atomic_size_t next;
    struct failure *fail;
};

struct worker {
    PGconn *conn;
    struct stmt_queue *q;          /* statements, or */
    const struct pv_init_gen *gen; /* a COPY of table's rows lo..hi-1 */
    enum pv_init_table table;
    int64_t lo, hi;
    struct failure *fail;
};

static void *stmt_worker(void *arg)
{
    struct worker *w = arg;
    size_t i;
    while (!fail_is_set(w->q->fail) && (i = atomic_fetch_add(&w->q->next, 1)) < w->q->n)
        exec_ok(w->conn, w->q->sql[i], w->q->sql[i], w->q->fail);
    return NULL;
}

static void *copy_worker(void *arg)
{
    struct worker *w = arg;
    const char *name = tables[w->table].name;
    char what[128], sql[128];
    snprintf(what, sizeof(what), "loading %s", name);
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", name);
    PGresult *r = PQexec(w->conn, sql);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        fail_record(w->fail, what, w->conn, r);
        PQclear(r);
        return NULL;
    }
    PQclear(r);
    char *buf = malloc(COPY_CHUNK + PV_INIT_ROW_MAX);
    const char *abort_msg = buf ? NULL : "out of memory";
    char *p = buf;
    for (int64_t id = w->lo; buf && id < w->hi; id++) {
        p = pv_init__gen_row(w->gen, w->table, id, p);
        if (p - buf >= COPY_CHUNK || id + 1 == w->hi) {
            if (PQputCopyData(w->conn, buf, (int)(p - buf)) != 1) {
                abort_msg = "cannot send"; /* the result below says why */
                break;
            }
            p = buf;
            if (fail_is_set(w->fail)) {
                abort_msg = "another connection failed";
                break;
            }
        }
    }
    free(buf);
    if (PQputCopyEnd(w->conn, abort_msg) != 1)
        fail_record(w->fail, what, w->conn, NULL);
    while ((r = PQgetResult(w->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_record(w->fail, what, w->conn, r);
        PQclear(r);
    }
    return NULL;
}

/* Runs fn over the first n workers, one thread each. 0, or VOLLEY_EIO when
   a thread cannot start (after joining those that did). */
static int run_threads(struct worker *w, int n, void *(*fn)(void *), pv_err *err)
{
    pthread_t th[PV_INIT_JOBS_MAX];
    int started = 0, rc = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, fn, &w[started]) != 0) {
            rc = pv_err_set(err, VOLLEY_EIO, "cannot start a thread");
            break;
        }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return rc;
}

/* ---- the phases ------------------------------------------------------------ */

struct init {
    const struct pv_init_config *cfg;
    struct pv_init_result *res;
    PGconn *conns[PV_INIT_JOBS_MAX];
    int nconns;
    struct failure fail;
    struct pv_init_gen gen;
};

static void step(struct init *in, enum pv_init_step_kind kind, uint64_t t0)
{
    struct pv_init_step s = {.kind = kind, .seconds = (double)(pv_now_ns() - t0) / 1e9};
    if (in->cfg->on_step)
        in->cfg->on_step(in->cfg->ud, &s);
}

static int failed(struct init *in, pv_err *err)
{
    snprintf(in->res->sqlstate, sizeof(in->res->sqlstate), "%s", in->fail.sqlstate);
    *err = in->fail.err;
    return VOLLEY_EIO;
}

static int run_statements(struct init *in, const char *const *sql, size_t n, pv_err *err)
{
    struct stmt_queue q = {.sql = sql, .n = n, .fail = &in->fail};
    atomic_init(&q.next, 0);
    struct worker w[PV_INIT_JOBS_MAX];
    int nw = (int)PV_MIN((size_t)in->nconns, n);
    for (int i = 0; i < nw; i++)
        w[i] = (struct worker){.conn = in->conns[i], .q = &q};
    int rc = run_threads(w, nw, stmt_worker, err);
    if (rc == 0 && in->fail.set)
        rc = failed(in, err);
    return rc;
}

static int connect_all(struct init *in, pv_err *err)
{
    pv_conninfo *ci = NULL;
    int rc = pv_conninfo_create(in->cfg->conninfo, "pgvolley init", &ci, err);
    for (int i = 0; rc == 0 && i < in->cfg->jobs; i++) {
        rc = pv_conn_connect_blocking(pv_conninfo_keywords(ci), pv_conninfo_values(ci),
                                      &in->conns[i], err);
        if (rc == 0)
            in->nconns++;
    }
    pv_conninfo_destroy(ci);
    for (int i = 0; rc == 0 && i < in->nconns; i++)
        if (exec_ok(in->conns[i], SESSION_SETUP, "setting up the session", &in->fail) != 0)
            rc = failed(in, err);
    return rc;
}

/* The tables of ours that exist in the current schema, refused without
   drop; with drop, removed (qualified: never one of another schema). */
static int check_or_drop(struct init *in, pv_err *err)
{
    PGconn *c = in->conns[0];
    PGresult *r = PQexec(c, "SELECT c.relname, current_schema() FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = current_schema() AND c.relname IN "
                            "('pgvolley_tenants', 'pgvolley_agents', 'pgvolley_schedules', "
                            "'pgvolley_runs', 'pgvolley_events') ORDER BY 1");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_record(&in->fail, "looking for existing tables", c, r);
        PQclear(r);
        return failed(in, err);
    }
    int n = PQntuples(r);
    if (n > 0 && !in->cfg->drop) {
        pv_err_set(err, VOLLEY_EINPUT,
                   "table %s.%s already exists%s; pgvolley init never touches existing "
                   "tables: use --drop to replace pgvolley's sample tables",
                   PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0),
                   n > 1 ? " (and others of its tables)" : "");
        PQclear(r);
        return VOLLEY_EINPUT;
    }
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    uint64_t t0 = pv_now_ns();
    char *schema = PQescapeIdentifier(c, PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)));
    PQclear(r);
    if (!schema)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    pv_buf b;
    pv_buf_init(&b);
    pv_buf_puts(&b, "DROP TABLE IF EXISTS ");
    for (int t = PV_INIT_NTABLES - 1; t >= 0; t--)
        pv_buf_printf(&b, "%s.%s%s", schema, tables[t].name, t ? ", " : "");
    PQfreemem(schema);
    int rc = 0;
    if (pv_buf_ok(&b) != 0)
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    else if (exec_ok(c, pv_buf_str(&b), "dropping pgvolley's tables", &in->fail) != 0)
        rc = failed(in, err);
    pv_buf_fini(&b);
    if (rc == 0)
        step(in, PV_INIT_STEP_DROPPED, t0);
    return rc;
}

static int create_tables(struct init *in, pv_err *err)
{
    uint64_t t0 = pv_now_ns();
    pv_buf b;
    pv_buf_init(&b);
    for (int t = 0; t < PV_INIT_NTABLES; t++)
        pv_buf_printf(&b, "%s;", tables[t].create);
    int rc = 0;
    if (pv_buf_ok(&b) != 0)
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    else if (exec_ok(in->conns[0], pv_buf_str(&b), "creating the tables", &in->fail) != 0)
        rc = failed(in, err);
    pv_buf_fini(&b);
    if (rc == 0)
        step(in, PV_INIT_STEP_CREATED, t0);
    return rc;
}

/* Every table, one after the other, each split over the connections; one
   transaction per connection for the whole load. */
static int load(struct init *in, pv_err *err)
{
    uint64_t t_load = pv_now_ns();
    for (int i = 0; i < in->nconns; i++)
        if (exec_ok(in->conns[i], "BEGIN", "starting the load", &in->fail) != 0)
            return failed(in, err);
    int rc = 0;
    for (int t = 0; rc == 0 && t < PV_INIT_NTABLES; t++) {
        uint64_t t0 = pv_now_ns();
        int64_t rows = in->gen.rows[t];
        struct worker w[PV_INIT_JOBS_MAX];
        for (int i = 0; i < in->nconns; i++)
            w[i] = (struct worker){.conn = in->conns[i],
                                   .gen = &in->gen,
                                   .table = (enum pv_init_table)t,
                                   .lo = 1 + rows * i / in->nconns,
                                   .hi = 1 + rows * (i + 1) / in->nconns,
                                   .fail = &in->fail};
        rc = run_threads(w, in->nconns, copy_worker, err);
        if (rc == 0 && in->fail.set)
            rc = failed(in, err);
        if (rc != 0)
            break;
        in->res->rows[t] = rows;
        in->res->total_rows += rows;
        struct pv_init_step s = {.kind = PV_INIT_STEP_TABLE,
                                 .table = (enum pv_init_table)t,
                                 .name = tables[t].name,
                                 .rows = rows,
                                 .seconds = (double)(pv_now_ns() - t0) / 1e9};
        if (in->cfg->on_step)
            in->cfg->on_step(in->cfg->ud, &s);
    }
    const char *end = rc == 0 ? "COMMIT" : "ROLLBACK";
    for (int i = 0; i < in->nconns; i++)
        if (exec_ok(in->conns[i], end, "ending the load", &in->fail) != 0 && rc == 0)
            rc = failed(in, err);
    in->res->load_seconds = (double)(pv_now_ns() - t_load) / 1e9;
    return rc;
}

static int build_keys(struct init *in, pv_err *err)
{
    uint64_t t0 = pv_now_ns();
    int rc = run_statements(in, keys_sql, PV_ARRAY_LEN(keys_sql), err);
    if (rc != 0)
        return rc;
    step(in, PV_INIT_STEP_KEYS, t0);
    t0 = pv_now_ns();
    if (exec_ok(in->conns[0], fkeys_sql, "adding the foreign keys", &in->fail) != 0)
        return failed(in, err);
    rc = run_statements(in, index_sql, PV_ARRAY_LEN(index_sql), err);
    if (rc != 0)
        return rc;
    step(in, PV_INIT_STEP_INDEXES, t0);
    t0 = pv_now_ns();
    rc = run_statements(in, analyze_sql, PV_ARRAY_LEN(analyze_sql), err);
    if (rc == 0)
        step(in, PV_INIT_STEP_ANALYZE, t0);
    return rc;
}

int pv_init_run(const struct pv_init_config *cfg, struct pv_init_result *res, pv_err *err)
{
    if (!cfg || !res)
        return pv_err_set(err, VOLLEY_EINVAL, "no configuration");
    memset(res, 0, sizeof(*res));
    if (cfg->scale < 1 || cfg->scale > PV_INIT_SCALE_MAX)
        return pv_err_set(err, VOLLEY_EINVAL, "scale must be 1..%d", PV_INIT_SCALE_MAX);
    if (cfg->jobs < 1 || cfg->jobs > PV_INIT_JOBS_MAX)
        return pv_err_set(err, VOLLEY_EINVAL, "jobs must be 1..%d", PV_INIT_JOBS_MAX);
    struct init *in = calloc(1, sizeof(*in));
    if (!in)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    in->cfg = cfg;
    in->res = res;
    pthread_mutex_init(&in->fail.mu, NULL);
    pv_init__gen_setup(&in->gen, cfg->seed, cfg->scale, (int64_t)time(NULL));
    uint64_t t0 = pv_now_ns();
    int rc = connect_all(in, err);
    if (rc == 0) {
        step(in, PV_INIT_STEP_CONNECTED, t0);
        rc = check_or_drop(in, err);
    }
    if (rc == 0)
        rc = create_tables(in, err);
    if (rc == 0)
        rc = load(in, err);
    if (rc == 0)
        rc = build_keys(in, err);
    res->total_seconds = (double)(pv_now_ns() - t0) / 1e9;
    for (int i = 0; i < in->nconns; i++)
        PQfinish(in->conns[i]);
    pthread_mutex_destroy(&in->fail.mu);
    free(in);
    return rc;
}
