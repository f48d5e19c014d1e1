/* test_web_history.c - the run history of `pgvolley serve`: the same cases
   on both backends (a real SQLite file, and a throwaway PostgreSQL started
   with pgtmp), then PostgreSQL's own: servers sharing one database, the
   schema created once, a newer schema refused, a lost connection made
   again, and no password in any message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp.h"
#include "web/pv_history.h"

static pv_pgtmp *g_server;
static PGconn *g_admin; /* the test's own connection */

struct tmpdb {
    char dir[64];
    char path[96];
};

static void tmpdb_make(struct tmpdb *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/pv-history-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/history.db", t->dir);
}

static void tmpdb_remove(struct tmpdb *t)
{
    char p[128];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* One test's history: a new SQLite file, or the PostgreSQL database with
   its schema pgvolley_history dropped. */
struct fx {
    bool pg;
    struct tmpdb t;
};

static PGresult *admin(const char *sql)
{
    PGresult *r = PQexec(g_admin, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_admin));
    return r;
}

static void admin_ok(const char *sql)
{
    PQclear(admin(sql));
}

static long long admin_int(const char *sql)
{
    PGresult *r = admin(sql);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int setup_sqlite(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tmpdb_make(&f->t);
    *state = f;
    return 0;
}

static int setup_pg(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->pg = true;
    admin_ok("DROP SCHEMA IF EXISTS pgvolley_history CASCADE");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (!f->pg)
        tmpdb_remove(&f->t);
    free(f);
    return 0;
}

static pv_history *open_dsn(const char *conninfo, int64_t *interrupted)
{
    pv_history *h = NULL;
    pv_err err = {{0}};
    int rc = pv_history_open_pg(conninfo, interrupted, &h, &err);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    return h;
}

static pv_history *open_ok(void **state, int64_t *interrupted)
{
    struct fx *f = *state;
    if (f->pg)
        return open_dsn(pv_pgtmp_conninfo(g_server), interrupted);
    pv_history *h = NULL;
    pv_err err = {{0}};
    int rc = pv_history_open(f->t.path, interrupted, &h, &err);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    return h;
}

static int64_t add_ok(pv_history *h, const char *name, const char *target, double now)
{
    int64_t id = 0;
    pv_err err = {{0}};
    assert_int_equal(pv_history_add(h, name, target, "{\"concurrency\": 4}", now, &id, &err), 0);
    assert_true(id > 0);
    return id;
}

/* The life of one run, and the transitions its states forbid. */
static void test_lifecycle(void **state)
{
    pv_history *h = open_ok(state, NULL);
    pv_err err = {{0}};
    int64_t id = add_ok(h, "lookup", "local", 100.0);

    struct pv_history_run r;
    assert_int_equal(pv_history_get(h, id, true, &r, &err), 0);
    assert_int_equal(r.state, PV_HISTORY_QUEUED);
    assert_string_equal(r.name, "lookup");
    assert_string_equal(r.target, "local");
    assert_string_equal(r.config, "{\"concurrency\": 4}");
    assert_null(r.report);
    assert_false(r.has_summary);
    assert_int_equal(r.exit_code, -1);
    pv_history_run_fini(&r);

    /* a queued run takes no points, and cannot be deleted */
    assert_int_equal(pv_history_add_point(h, id, 0, "{}", &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "queued"));
    assert_int_equal(pv_history_delete(h, id, &err), VOLLEY_EINPUT);

    assert_int_equal(pv_history_start(h, id, 101.0, &err), 0);
    assert_int_equal(pv_history_start(h, id, 101.0, &err), VOLLEY_EINPUT); /* not queued */
    for (int64_t s = 0; s < 3; s++) {
        char p[32];
        snprintf(p, sizeof(p), "{\"t\": %lld}", (long long)s);
        assert_int_equal(pv_history_add_point(h, id, s, p, &err), 0);
    }
    assert_int_equal(pv_history_add_point(h, id, 1, "{\"t\": 11}", &err), 0); /* replaces */

    struct pv_history_summary sum = {.executions = 1000, .failed = 2, .qps = 500.5, .p95_ms = 3.25};
    assert_int_equal(pv_history_finish(h, id, PV_HISTORY_QUEUED, 102.0, NULL, NULL, 0, NULL, &err),
                     VOLLEY_EINVAL);
    assert_int_equal(pv_history_finish(h, id, PV_HISTORY_FINISHED, 102.0, "{\"schema\": 1}", &sum,
                                       1, NULL, &err),
                     0);
    assert_int_equal(pv_history_finish(h, id, PV_HISTORY_FAILED, 103.0, NULL, NULL, 1, "x", &err),
                     VOLLEY_EINPUT); /* ended already */
    assert_int_equal(pv_history_add_point(h, id, 3, "{}", &err), VOLLEY_EINPUT);

    assert_int_equal(pv_history_get(h, id, true, &r, &err), 0);
    assert_int_equal(r.state, PV_HISTORY_FINISHED);
    assert_true(r.has_summary);
    assert_int_equal(r.summary.executions, 1000);
    assert_int_equal(r.summary.failed, 2);
    assert_true(r.summary.qps == 500.5 && r.summary.p95_ms == 3.25);
    assert_int_equal(r.exit_code, 1);
    assert_true(r.started_at == 101.0 && r.finished_at == 102.0);
    assert_string_equal(r.report, "{\"schema\": 1}");
    assert_int_equal(r.npoints, 3);
    pv_history_run_fini(&r);
    assert_int_equal(pv_history_get(h, id, false, &r, &err), 0);
    assert_null(r.report);
    pv_history_run_fini(&r);

    assert_int_equal(pv_history_delete(h, id, &err), 0);
    assert_int_equal(pv_history_get(h, id, false, &r, &err), VOLLEY_EINPUT);
    assert_non_null(strstr(err.msg, "no run"));
    pv_history_close(h);
}

static int collect_point(void *arg, int64_t seq, const char *p)
{
    char *acc = arg; /* 256 bytes */
    size_t n = strlen(acc);
    snprintf(acc + n, 256 - n, "%lld=%s;", (long long)seq, p);
    return 0;
}

/* Points come back in order, after a given sequence number. */
static void test_points(void **state)
{
    pv_history *h = open_ok(state, NULL);
    pv_err err = {{0}};
    int64_t id = add_ok(h, NULL, "local", 1.0);
    assert_int_equal(pv_history_start(h, id, 1.0, &err), 0);
    assert_int_equal(pv_history_add_point(h, id, 2, "c", &err), 0);
    assert_int_equal(pv_history_add_point(h, id, 0, "a", &err), 0);
    assert_int_equal(pv_history_add_point(h, id, 1, "b", &err), 0);
    char acc[256] = "";
    assert_int_equal(pv_history_points(h, id, -1, collect_point, acc, &err), 0);
    assert_string_equal(acc, "0=a;1=b;2=c;");
    acc[0] = '\0';
    assert_int_equal(pv_history_points(h, id, 0, collect_point, acc, &err), 0);
    assert_string_equal(acc, "1=b;2=c;");
    assert_int_equal(pv_history_points(h, id + 1, -1, collect_point, acc, &err), VOLLEY_EINPUT);
    pv_history_close(h);
}

struct listed {
    int n;
    int64_t ids[16];
};

static int collect_run(void *arg, const struct pv_history_run *r)
{
    struct listed *l = arg;
    if (l->n < 16)
        l->ids[l->n++] = r->id;
    return 0;
}

static struct listed list(pv_history *h, const struct pv_history_filter *f)
{
    struct listed l = {0};
    pv_err err = {{0}};
    assert_int_equal(pv_history_list(h, f, collect_run, &l, &err), 0);
    return l;
}

/* Filters, paging, and a name that holds LIKE's wildcards. */
static void test_list_filters(void **state)
{
    pv_history *h = open_ok(state, NULL);
    pv_err err = {{0}};
    int64_t a = add_ok(h, "Nightly lookup", "prod", 10.0);
    int64_t b = add_ok(h, "100%_mix", "staging", 20.0);
    int64_t c = add_ok(h, "nightly writes", "prod", 30.0);
    assert_int_equal(pv_history_start(h, c, 31.0, &err), 0);

    struct listed l = list(h, NULL);
    assert_int_equal(l.n, 3);
    assert_true(l.ids[0] == c && l.ids[1] == b && l.ids[2] == a); /* newest first */

    l = list(h, &(struct pv_history_filter){.target = "prod"});
    assert_true(l.n == 2 && l.ids[0] == c && l.ids[1] == a);
    l = list(h, &(struct pv_history_filter){.name = "NIGHTLY"});
    assert_int_equal(l.n, 2);
    l = list(h, &(struct pv_history_filter){.name = "%_"});
    assert_true(l.n == 1 && l.ids[0] == b); /* a substring, not a pattern */
    l = list(h, &(struct pv_history_filter){.states = 1u << PV_HISTORY_RUNNING});
    assert_true(l.n == 1 && l.ids[0] == c);
    l = list(h, &(struct pv_history_filter){.since = 15.0, .until = 30.0});
    assert_true(l.n == 1 && l.ids[0] == b);
    l = list(h, &(struct pv_history_filter){.limit = 2});
    assert_true(l.n == 2 && l.ids[1] == b);
    l = list(h, &(struct pv_history_filter){.before_id = b});
    assert_true(l.n == 1 && l.ids[0] == a);
    pv_history_close(h);
}

/* A run left queued or running by a stopped server is interrupted on the
   next open; the history and its points survive. */
static void test_reopen_interrupts(void **state)
{
    pv_history *h = open_ok(state, NULL);
    pv_err err = {{0}};
    int64_t done = add_ok(h, "done", "local", 1.0);
    int64_t running = add_ok(h, "running", "local", 2.0);
    int64_t queued = add_ok(h, "queued", "local", 3.0);
    assert_int_equal(pv_history_start(h, done, 1.0, &err), 0);
    assert_int_equal(
        pv_history_finish(h, done, PV_HISTORY_FINISHED, 1.5, "{}", NULL, 0, NULL, &err), 0);
    assert_int_equal(pv_history_start(h, running, 2.0, &err), 0);
    assert_int_equal(pv_history_add_point(h, running, 0, "{\"p\": 0}", &err), 0);
    pv_history_close(h);

    int64_t n = -1;
    h = open_ok(state, &n);
    assert_int_equal(n, 2);
    struct pv_history_run r;
    assert_int_equal(pv_history_get(h, running, false, &r, &err), 0);
    assert_int_equal(r.state, PV_HISTORY_INTERRUPTED);
    assert_non_null(strstr(r.message, "stopped"));
    assert_int_equal(r.npoints, 1);
    pv_history_run_fini(&r);
    assert_int_equal(pv_history_get(h, queued, false, &r, &err), 0);
    assert_int_equal(r.state, PV_HISTORY_INTERRUPTED);
    pv_history_run_fini(&r);
    assert_int_equal(pv_history_get(h, done, false, &r, &err), 0);
    assert_int_equal(r.state, PV_HISTORY_FINISHED);
    pv_history_run_fini(&r);
    /* ids are never reused, even after a delete */
    assert_int_equal(pv_history_delete(h, queued, &err), 0);
    assert_true(add_ok(h, "new", "local", 4.0) > queued);
    pv_history_close(h);
}

/* Pruning keeps queued and running runs whatever their age. */
static void test_prune(void **state)
{
    pv_history *h = open_ok(state, NULL);
    pv_err err = {{0}};
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = add_ok(h, NULL, "local", 10.0 * (i + 1));
        if (i == 4)
            break; /* the last stays queued */
        assert_int_equal(pv_history_start(h, ids[i], 0, &err), 0);
        assert_int_equal(pv_history_add_point(h, ids[i], 0, "{}", &err), 0);
        assert_int_equal(
            pv_history_finish(h, ids[i], PV_HISTORY_CANCELLED, 0, NULL, NULL, 0, "cancelled", &err),
            0);
    }
    int64_t n = -1;
    assert_int_equal(pv_history_prune(h, 0, -1, &n, &err), VOLLEY_EINVAL);
    assert_int_equal(pv_history_prune(h, 25.0, 0, &n, &err), 0); /* created at 10 and 20 */
    assert_int_equal(n, 2);
    assert_int_equal(pv_history_prune(h, 0, 1, &n, &err), 0); /* keeps the newest ended */
    assert_int_equal(n, 1);
    struct listed l = list(h, NULL);
    assert_true(l.n == 2 && l.ids[0] == ids[4] && l.ids[1] == ids[3]);
    assert_int_equal(pv_history_prune(h, 0, 0, &n, &err), 0);
    assert_int_equal(n, 1);
    l = list(h, NULL);
    assert_true(l.n == 1 && l.ids[0] == ids[4]);
    pv_history_close(h);
}

/* A file that is not a history, and a path that cannot be opened. */
static void test_refuses_foreign_files(void **state)
{
    (void)state;
    struct tmpdb t;
    tmpdb_make(&t);
    FILE *f = fopen(t.path, "w");
    assert_non_null(f);
    fputs("not a database, but long enough for SQLite to look at its header......\n", f);
    fclose(f);
    pv_history *h = NULL;
    pv_err err = {{0}};
    assert_int_equal(pv_history_open(t.path, NULL, &h, &err), VOLLEY_EIO);
    assert_null(h);
    assert_non_null(strstr(err.msg, "run history"));
    tmpdb_remove(&t);

    assert_int_equal(pv_history_open("/nonexistent-dir/h.db", NULL, &h, &err), VOLLEY_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/h.db"));
    assert_null(h);
    pv_history_close(NULL);
}

/* ---- PostgreSQL only ---------------------------------------------------- */

static enum pv_history_state state_of(pv_history *h, int64_t id)
{
    struct pv_history_run r;
    pv_err err = {{0}};
    assert_int_equal(pv_history_get(h, id, false, &r, &err), 0);
    enum pv_history_state s = r.state;
    pv_history_run_fini(&r);
    return s;
}

/* Two servers on one database: opening the second leaves the first's runs
   alone; once the first is gone, the next open interrupts them. */
static void test_pg_instances(void **state)
{
    int64_t n = -1;
    pv_err err = {{0}};
    pv_history *a = open_ok(state, &n);
    assert_int_equal(n, 0);
    int64_t running = add_ok(a, "a running", "local", 1.0);
    int64_t queued = add_ok(a, "a queued", "local", 2.0);
    assert_int_equal(pv_history_start(a, running, 1.5, &err), 0);
    assert_int_equal(pv_history_add_point(a, running, 0, "{}", &err), 0);

    pv_history *b = open_ok(state, &n);
    assert_int_equal(n, 0);
    assert_int_equal(state_of(b, running), PV_HISTORY_RUNNING);
    assert_int_equal(state_of(b, queued), PV_HISTORY_QUEUED);
    int64_t mine = add_ok(b, "b queued", "local", 3.0);
    assert_true(mine > queued); /* one sequence of ids for every server */
    assert_int_equal(pv_history_add_point(a, running, 1, "{}", &err), 0);
    assert_int_equal(admin_int("SELECT count(*) FROM pgvolley_history.instances"), 2);

    pv_history_close(a);
    pv_history *c = open_ok(state, &n);
    assert_int_equal(n, 2);
    assert_int_equal(state_of(c, running), PV_HISTORY_INTERRUPTED);
    assert_int_equal(state_of(c, queued), PV_HISTORY_INTERRUPTED);
    assert_int_equal(state_of(c, mine), PV_HISTORY_QUEUED); /* b is alive */
    struct pv_history_run r;
    assert_int_equal(pv_history_get(c, running, false, &r, &err), 0);
    assert_non_null(strstr(r.message, "stopped"));
    assert_int_equal(r.npoints, 2);
    pv_history_run_fini(&r);
    /* the instance that is gone is forgotten; b and c remain */
    assert_int_equal(admin_int("SELECT count(*) FROM pgvolley_history.instances"), 2);
    pv_history_close(b);
    pv_history_close(c);
}

/* The schema is created by the first open only; a newer one is refused. */
static void test_pg_schema(void **state)
{
    pv_history *h = open_ok(state, NULL);
    long long oid = admin_int("SELECT 'pgvolley_history.runs'::regclass::oid");
    pv_history_close(h);
    h = open_ok(state, NULL);
    assert_int_equal(admin_int("SELECT 'pgvolley_history.runs'::regclass::oid"), oid);
    assert_int_equal(admin_int("SELECT count(*) FROM pgvolley_history.schema_version"), 1);
    assert_int_equal(admin_int("SELECT max(version) FROM pgvolley_history.schema_version"), 1);
    pv_history_close(h);

    admin_ok("UPDATE pgvolley_history.schema_version SET version = 2");
    pv_err err = {{0}};
    assert_int_equal(pv_history_open_pg(pv_pgtmp_conninfo(g_server), NULL, &h, &err), VOLLEY_EIO);
    assert_null(h);
    assert_non_null(strstr(err.msg, "version 2"));
    assert_non_null(strstr(err.msg, "newer pgvolley"));

    /* a schema of that name that is not a history */
    admin_ok("DROP SCHEMA pgvolley_history CASCADE");
    admin_ok("CREATE SCHEMA pgvolley_history");
    admin_ok("CREATE TABLE pgvolley_history.runs (x int)");
    assert_int_equal(pv_history_open_pg(pv_pgtmp_conninfo(g_server), NULL, &h, &err), VOLLEY_EIO);
    assert_null(h);
    assert_non_null(strstr(err.msg, "run history"));
}

/* Waits until no backend has application_name app. */
static void wait_gone(const char *app)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
    for (int i = 0; i < 500 && admin_int(sql) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(admin_int(sql), 0);
}

/* A connection the server ends is made again by the next call, which
   takes the instance's lock again: another open leaves its runs alone. */
static void test_pg_reconnect(void **state)
{
    (void)state;
    char dsn[512];
    snprintf(dsn, sizeof(dsn), "%s application_name=hist_reconnect", pv_pgtmp_conninfo(g_server));
    pv_history *h = open_dsn(dsn, NULL);
    pv_err err = {{0}};
    int64_t id = add_ok(h, "survivor", "local", 1.0);
    assert_int_equal(pv_history_start(h, id, 1.0, &err), 0);
    admin_ok("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = 'hist_reconnect'");
    wait_gone("hist_reconnect");
    assert_int_equal(pv_history_add_point(h, id, 0, "{}", &err), 0);
    int64_t n = -1;
    pv_history *other = open_dsn(pv_pgtmp_conninfo(g_server), &n);
    assert_int_equal(n, 0);
    assert_int_equal(state_of(other, id), PV_HISTORY_RUNNING);
    /* every kind of call reconnects */
    admin_ok("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = 'hist_reconnect'");
    wait_gone("hist_reconnect");
    struct listed l = list(h, NULL);
    assert_int_equal(l.n, 1);
    pv_history_close(other);
    pv_history_close(h);
}

/* Connection strings with a password: no message holds it. */
static void test_pg_no_password_in_errors(void **state)
{
    (void)state;
    char ok_sock[512];
    snprintf(ok_sock, sizeof(ok_sock), "host=%s port=%d dbname=secretdb password=secret",
             pv_pgtmp_socket_dir(g_server), pv_pgtmp_port(g_server));
    const char *const dsns[] = {
        "host=/nonexistent-pv-dir port=1 password=secret",
        "postgresql://someone:secret@/postgres?host=/nonexistent-pv-dir&port=1",
        "host=/nonexistent-pv-dir password=secret junk",
        "postgresql://someone:secret@[::1",
        "password='secret' sslmode=bogus",
        ok_sock, /* the server says the database does not exist */
    };
    for (size_t i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        pv_history *h = NULL;
        pv_err err = {{0}};
        int rc = pv_history_open_pg(dsns[i], NULL, &h, &err);
        assert_int_equal(rc, VOLLEY_EIO);
        assert_null(h);
        assert_non_null(strstr(err.msg, "run history"));
        if (strstr(err.msg, "secret"))
            fail_msg("a password in '%s'", err.msg);
    }
}

#define BOTH(f)                                                                                    \
    {"sqlite/" #f, f, setup_sqlite, teardown, NULL},                                               \
    {                                                                                              \
        "postgresql/" #f, f, setup_pg, teardown, NULL                                              \
    }
#define PG(f)                                                                                      \
    {                                                                                              \
        "postgresql/" #f, f, setup_pg, teardown, NULL                                              \
    }

static int group_setup(void **state)
{
    (void)state;
    pv_err err = {{0}};
    /* the initdb cache ctest names, if any (CMakeLists.txt) */
    struct pv_pgtmp_opts opts = {.initdb_cache = getenv("PGVOLLEY_INITDB_CACHE")};
    if (pv_pgtmp_start(&opts, &g_server, &err) != 0) {
        fprintf(stderr, "set-up: %s\n", err.msg);
        return -1;
    }
    g_admin = PQconnectdb(pv_pgtmp_conninfo(g_server));
    if (PQstatus(g_admin) != CONNECTION_OK)
        return -1;
    PQclear(PQexec(g_admin, "SET client_min_messages = warning")); /* DROP's notices */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_admin);
    pv_pgtmp_stop(g_server);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_lifecycle),    BOTH(test_points),
        BOTH(test_list_filters), BOTH(test_reopen_interrupts),
        BOTH(test_prune),        cmocka_unit_test(test_refuses_foreign_files),
        PG(test_pg_instances),   PG(test_pg_schema),
        PG(test_pg_reconnect),   PG(test_pg_no_password_in_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
