/*
 * test_pgtmp_server.c - the throwaway server: start, connect over the socket
 * and over TCP, stop, leave nothing behind; stale-directory cleanup; clear
 * errors; the initdb cache. Every test runs with TMPDIR pointing at a private directory, so it
 * neither sees nor touches other users of /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgtmp/pv_pgtmp.h"

/* The private $TMPDIR of the current test. */
static char g_tmp[64];

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each test gets a fresh TMPDIR, traversable by the postgres user. */
static int setup_tmp(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pvtest-XXXXXX");
    if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) != 0)
        return -1;
    return setenv("TMPDIR", g_tmp, 1);
}

static int teardown_tmp(void **state)
{
    (void)state;
    rm_tree(g_tmp);
    unsetenv("TMPDIR");
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Number of pgvolley-* entries in the private TMPDIR. */
static int count_pgvolley_dirs(void)
{
    DIR *d = opendir(g_tmp);
    assert_non_null(d);
    int n = 0;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (strncmp(e->d_name, "pgvolley-", 9) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* A process that has exited (a zombie counts as exited). */
static bool gone(pid_t pid)
{
    if (kill(pid, 0) == -1 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

static bool wait_gone(pid_t pid, double seconds)
{
    uint64_t deadline = pv_now_ns() + (uint64_t)(seconds * 1e9);
    while (!gone(pid)) {
        if (pv_now_ns() > deadline)
            return false;
        usleep(10000);
    }
    return true;
}

static void check_value(PGconn *c, const char *sql, const char *want)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        print_error("%s: %s", sql, PQerrorMessage(c));
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
}

static PGconn *connect_ok(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        print_error("%s: %s", conninfo, PQerrorMessage(c));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static pv_pgtmp *start_ok(const struct pv_pgtmp_opts *opts)
{
    pv_pgtmp *p = NULL;
    pv_err err = {""};
    int rc = pv_pgtmp_start(opts, &p, &err);
    if (rc != 0)
        print_error("pv_pgtmp_start: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

/* The server's directory: the parent of its socket directory. */
static void server_dir(const pv_pgtmp *p, char *out, size_t n)
{
    snprintf(out, n, "%s", pv_pgtmp_socket_dir(p));
    char *slash = strrchr(out, '/');
    assert_non_null(slash);
    *slash = '\0';
}

static unsigned long long our_start_time(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')') + 2;
    for (int field = 3; field < 22; field++)
        p = strchr(p, ' ') + 1;
    return strtoull(p, NULL, 10);
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

/* Makes TMPDIR/name with an owner.pid of "PID START"; returns its path. */
static void make_fake(const char *name, long pid, unsigned long long start, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", g_tmp, name);
    assert_int_equal(mkdir(out, 0700), 0);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/owner.pid", out);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%ld %llu\n", pid, start);
    fclose(f);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_start_connect_stop(void **state)
{
    (void)state;
    const char *extra[] = {"work_mem=7MB", NULL};
    struct pv_pgtmp_opts opts = {.extra_settings = extra};
    uint64_t t0 = pv_now_ns();
    pv_pgtmp *p = start_ok(&opts);
    uint64_t t1 = pv_now_ns();

    char dir[PATH_MAX], path[PATH_MAX + 32];
    server_dir(p, dir, sizeof(dir));
    assert_true(strncmp(dir, g_tmp, strlen(g_tmp)) == 0);
    snprintf(path, sizeof(path), "%s/data/PG_VERSION", dir);
    assert_true(exists(path));
    snprintf(path, sizeof(path), "%s/owner.pid", dir);
    assert_true(exists(path));
    assert_true(pv_pgtmp_port(p) > 0);
    assert_true(strlen(pv_pgtmp_bindir(p)) > 0);
    pid_t pid = (pid_t)pv_pgtmp_pid(p);
    assert_true(pid > 0);
    assert_int_equal(getsid(pid), pid); /* its own session: no terminal Ctrl-C */

    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "host=%s port=%d user=postgres dbname=postgres",
             pv_pgtmp_socket_dir(p), pv_pgtmp_port(p));
    assert_string_equal(pv_pgtmp_conninfo(p), want);
    snprintf(want, sizeof(want), "postgresql://postgres@127.0.0.1:%d/postgres", pv_pgtmp_port(p));
    assert_string_equal(pv_pgtmp_uri(p), want);

    if (geteuid() == 0) { /* the server runs as the postgres user */
        struct passwd *pw = getpwnam("postgres");
        assert_non_null(pw);
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, pw->pw_uid);
    }

    PGconn *c = connect_ok(pv_pgtmp_conninfo(p));
    check_value(c, "SELECT 1", "1");
    check_value(c, "SHOW max_connections", "1100");
    check_value(c, "SHOW work_mem", "7MB");
    check_value(c, "SHOW fsync", "off");
    check_value(c, "SELECT current_user", "postgres");
    PQfinish(c);

    c = connect_ok(pv_pgtmp_uri(p));
    check_value(c, "SELECT 1", "1");
    check_value(c, "SHOW max_connections", "1100");
    check_value(c, "SELECT host(inet_server_addr())", "127.0.0.1");
    PQfinish(c);

    uint64_t t2 = pv_now_ns();
    pv_pgtmp_stop(p);
    uint64_t t3 = pv_now_ns();
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_false(exists(dir));
    assert_int_equal(count_pgvolley_dirs(), 0);
    print_message("start %.0f ms, stop %.0f ms\n", (double)(t1 - t0) / 1e6,
                  (double)(t3 - t2) / 1e6);

    pv_pgtmp_stop(NULL);
}

/* Directories whose owner is gone go; the rest stay. */
static void test_cleanup_stale_fake(void **state)
{
    (void)state;
    char dead[PATH_MAX], live[PATH_MAX], reused[PATH_MAX], badname[PATH_MAX], fresh[PATH_MAX],
        old[PATH_MAX], fakepm[PATH_MAX], data[PATH_MAX + 8];
    pid_t gone_pid = dead_pid();
    unsigned long long start = our_start_time();

    /* Start time 1 (clock ticks after boot): not even a reused pid matches it. */
    make_fake("pgvolley-dead01", gone_pid, 1, dead, sizeof(dead));
    snprintf(data, sizeof(data), "%s/data", dead);
    assert_int_equal(mkdir(data, 0700), 0);
    write_file(data, "PG_VERSION", "15\n");
    make_fake("pgvolley-live01", getpid(), start, live, sizeof(live));
    make_fake("pgvolley-reuse1", getpid(), start + 1, reused, sizeof(reused));
    make_fake("pgvolley-dead01x", gone_pid, 0, badname, sizeof(badname));
    /* Owner gone, postmaster.pid names a live process that is not postgres
     * (us): the directory goes, the process is left alone. */
    make_fake("pgvolley-fakepm", gone_pid, 1, fakepm, sizeof(fakepm));
    snprintf(data, sizeof(data), "%s/data", fakepm);
    assert_int_equal(mkdir(data, 0700), 0);
    char pm[PATH_MAX + 32];
    snprintf(pm, sizeof(pm), "%d\n%s\n", (int)getpid(), data);
    write_file(data, "postmaster.pid", pm);
    /* No owner.pid: kept while young, removed when old and empty. */
    snprintf(fresh, sizeof(fresh), "%s/pgvolley-fresh1", g_tmp);
    assert_int_equal(mkdir(fresh, 0700), 0);
    snprintf(old, sizeof(old), "%s/pgvolley-old001", g_tmp);
    assert_int_equal(mkdir(old, 0700), 0);
    struct timespec two_hours_ago[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimensat(AT_FDCWD, old, two_hours_ago, 0), 0);

    assert_int_equal(pv_pgtmp_cleanup_stale(), 4);
    assert_false(exists(dead));
    assert_true(exists(live));
    assert_false(exists(reused));
    assert_true(exists(badname));
    assert_false(exists(fakepm));
    assert_true(exists(fresh));
    assert_false(exists(old));
    assert_int_equal(pv_pgtmp_cleanup_stale(), 0);
}

/* A real server whose owner crashed: it stops by itself (parent-death
 * signal, even after the switch to the postgres user), and the cleanup
 * removes its directory. */
static void test_owner_crash(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t owner = fork();
    assert_true(owner >= 0);
    if (owner == 0) {
        close(fds[0]);
        pv_pgtmp *p = NULL;
        pv_err err;
        struct pv_pgtmp_opts opts = {.max_connections = 20};
        int pid = pv_pgtmp_start(&opts, &p, &err) == 0 ? pv_pgtmp_pid(p) : -1;
        ssize_t w = write(fds[1], &pid, sizeof(pid));
        (void)w;
        pause();
        _exit(0);
    }
    close(fds[1]);
    int server = 0;
    assert_int_equal(read(fds[0], &server, sizeof(server)), (ssize_t)sizeof(server));
    close(fds[0]);
    assert_true(server > 0);
    assert_int_equal(count_pgvolley_dirs(), 1);

    kill(owner, SIGKILL);
    assert_int_equal(waitpid(owner, NULL, 0), owner);
    assert_true(wait_gone(server, 10.0));
    assert_int_equal(count_pgvolley_dirs(), 1);
    assert_int_equal(pv_pgtmp_cleanup_stale(), 1);
    assert_int_equal(count_pgvolley_dirs(), 0);
}

/* A server still running in a directory whose owner looks gone is stopped
 * (SIGQUIT) by the cleanup before its directory is removed. */
static void test_cleanup_stops_server(void **state)
{
    (void)state;
    struct pv_pgtmp_opts opts = {.max_connections = 20};
    pv_pgtmp *p = start_ok(&opts);
    pid_t pid = (pid_t)pv_pgtmp_pid(p);
    char dir[PATH_MAX];
    server_dir(p, dir, sizeof(dir));
    assert_int_equal(pv_pgtmp_cleanup_stale(), 0); /* we are alive: kept */
    assert_true(exists(dir));

    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/owner.pid", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d 1\n", (int)dead_pid());
    fclose(f);
    assert_int_equal(pv_pgtmp_cleanup_stale(), 1);
    assert_false(exists(dir));
    assert_true(gone(pid));
    pv_pgtmp_stop(p); /* reaps the zombie; the directory is already gone */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_bogus_bindir(void **state)
{
    (void)state;
    struct pv_pgtmp_opts opts = {.bindir = "/nonexistent/pg/bin"};
    pv_pgtmp *p = (pv_pgtmp *)&opts;
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    assert_null(p);
    assert_non_null(strstr(err.msg, "/nonexistent/pg/bin"));
    assert_non_null(strstr(err.msg, "initdb"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(count_pgvolley_dirs(), 0);
}

static void test_bad_options(void **state)
{
    (void)state;
    const char *extra[] = {"fsync", NULL};
    struct pv_pgtmp_opts opts = {.extra_settings = extra};
    pv_pgtmp *p;
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    assert_non_null(strstr(err.msg, "name=value"));
    struct pv_pgtmp_opts neg = {.max_connections = -1};
    assert_int_equal(pv_pgtmp_start(&neg, &p, &err), VOLLEY_ESERVER);
    assert_int_equal(count_pgvolley_dirs(), 0);
}

/* The server refuses a setting: the error carries the log tail, and nothing
 * is left behind. */
static void test_server_fails(void **state)
{
    (void)state;
    const char *extra[] = {"shared_buffers=lots", NULL};
    struct pv_pgtmp_opts opts = {.max_connections = 20, .extra_settings = extra};
    pv_pgtmp *p;
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    print_message("message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "postgres exited"));
    assert_non_null(strstr(err.msg, "shared_buffers"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(count_pgvolley_dirs(), 0);
}

/* The port is taken every time (the setting overrides -p): several
 * attempts, then a message that says why. */
static void test_port_taken(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char setting[32];
    snprintf(setting, sizeof(setting), "port=%d", ntohs(a.sin_port));
    const char *extra[] = {setting, NULL};
    struct pv_pgtmp_opts opts = {.max_connections = 20, .extra_settings = extra};
    pv_pgtmp *p;
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    close(fd);
    print_message("message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "Address already in use"));
    assert_int_equal(count_pgvolley_dirs(), 0);
}

/* As root, a TMPDIR the postgres user cannot enter gets a clear message. */
static void test_tmpdir_not_traversable(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(chmod(g_tmp, 0700), 0);
    pv_pgtmp *p;
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(NULL, &p, &err), VOLLEY_ESERVER);
    print_message("message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "traversable"));
    assert_int_equal(count_pgvolley_dirs(), 0);
}

/* Number of entries in dir whose name starts with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* The first start with an initdb cache runs initdb and keeps a pristine copy
 * of the cluster (made before the server started); the next start copies it:
 * no initdb log, a working server, nothing of the first server's data. */
static void test_initdb_cache(void **state)
{
    (void)state;
    char cache[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(cache, sizeof(cache), "%s/cache", g_tmp);
    struct pv_pgtmp_opts opts = {.max_connections = 20, .initdb_cache = cache};

    /* the directories of fills killed long ago go, a recent one stays */
    char old_fill[PATH_MAX + 64], new_fill[PATH_MAX + 64];
    assert_int_equal(mkdir(cache, 0700), 0);
    snprintf(old_fill, sizeof(old_fill), "%s/pg-0123456789abcdef.tmp-OLDOLD", cache);
    snprintf(new_fill, sizeof(new_fill), "%s/pg-0123456789abcdef.tmp-NEWNEW", cache);
    assert_int_equal(mkdir(old_fill, 0700), 0);
    assert_int_equal(mkdir(new_fill, 0700), 0);
    struct timespec long_ago[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
    assert_int_equal(utimensat(AT_FDCWD, old_fill, long_ago, 0), 0);

    pv_pgtmp *p = start_ok(&opts);
    assert_false(exists(old_fill));
    assert_true(exists(new_fill));
    rmdir(new_fill);
    assert_false(pv_pgtmp_from_cache(p));
    assert_int_equal(count_entries(cache, "pg-"), 1);
    PGconn *c = connect_ok(pv_pgtmp_conninfo(p));
    PQclear(PQexec(c, "CREATE TABLE made_in_the_first (x int)"));
    check_value(c, "SELECT count(*) FROM pg_class WHERE relname = 'made_in_the_first'", "1");
    PQfinish(c);
    pv_pgtmp_stop(p);

    uint64_t t0 = pv_now_ns();
    p = start_ok(&opts);
    uint64_t t1 = pv_now_ns();
    assert_true(pv_pgtmp_from_cache(p));
    server_dir(p, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/initdb.log", dir);
    assert_false(exists(path));
    snprintf(path, sizeof(path), "%s/data", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        assert_non_null(pw);
        assert_int_equal(st.st_uid, pw->pw_uid);
    }
    c = connect_ok(pv_pgtmp_conninfo(p));
    check_value(c, "SHOW max_connections", "20");
    check_value(c, "SELECT count(*) FROM pg_class WHERE relname = 'made_in_the_first'", "0");
    check_value(c, "SELECT count(*) FROM pg_database WHERE datname = 'template1'", "1");
    PQfinish(c);
    pv_pgtmp_stop(p);
    assert_int_equal(count_pgvolley_dirs(), 0);
    assert_int_equal(count_entries(cache, "pg-"), 1); /* kept, and no .tmp- left */
    print_message("start from the cache %.0f ms\n", (double)(t1 - t0) / 1e6);

    /* a cache others may write to is refused, and nothing is started */
    assert_int_equal(chmod(cache, 0777), 0);
    pv_err err = {""};
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    assert_non_null(strstr(err.msg, "writable by nobody else"));
    assert_non_null(strstr(err.msg, cache));
    /* so is a file */
    snprintf(path, sizeof(path), "%s/a-file", g_tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    opts.initdb_cache = path;
    assert_int_equal(pv_pgtmp_start(&opts, &p, &err), VOLLEY_ESERVER);
    assert_non_null(strstr(err.msg, "not a directory"));
    assert_int_equal(count_pgvolley_dirs(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_connect_stop, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cleanup_stale_fake, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_owner_crash, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cleanup_stops_server, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bogus_bindir, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bad_options, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_server_fails, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_port_taken, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_tmpdir_not_traversable, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_initdb_cache, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
