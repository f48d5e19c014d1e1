/*
 * pv_pgtmp_server.c - initdb and postgres: running initdb, picking a free
 * loopback port, starting the postmaster and waiting until it accepts
 * connections, and the log tails that explain a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgtmp/pv_pgtmp_int.h"

/* Room for the log tail quoted in an error message (which holds PV_ERR_LEN bytes). */
#define LOG_TAIL_BYTES 700
/* At most this many of the log's last lines are quoted. */
#define LOG_TAIL_LINES 6
/* postgres -D DATADIR -k SOCKDIR -p PORT: the arguments before the -c settings. */
#define POSTGRES_FIXED_ARGS 7
/* connect_timeout (seconds) of each readiness check. */
#define PING_CONNECT_TIMEOUT "2"

/* ---- server logs ---------------------------------------------------------- */

/*
 * The last lines of a log file, folded into one line ("a | b | c") that fits
 * into out, or "(empty log)" / "(no log)".
 */
static void log_tail(const char *path, char *out, size_t n)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pv_pgtmp__fmt(out, n, "(no log)");
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof(buf) - 1 ? size - ((off_t)sizeof(buf) - 1) : 0;
    ssize_t len = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    if (len < 0)
        len = 0;
    buf[len] = '\0';

    /* Walk backwards over lines, keeping those that still fit. */
    const char *starts[64];
    size_t lens[64], count = 0, total = 0;
    char *end = buf + len;
    while (end > buf && count < PV_ARRAY_LEN(starts)) {
        while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
            end--;
        if (end == buf)
            break;
        char *start = end;
        while (start > buf && start[-1] != '\n')
            start--;
        if (from > 0 && start == buf)
            break; /* a partial first line */
        size_t l = (size_t)(end - start);
        while (l > 0 && (*start == ' ' || *start == '\t')) {
            start++;
            l--;
        }
        if (total + l + 3 >= n) {
            if (count > 0)
                break;
            start += l - (n - 4); /* one very long line: keep its end */
            l = n - 4;
        }
        starts[count] = start;
        lens[count] = l;
        total += l + 3;
        count++;
        end = start;
        if (count == LOG_TAIL_LINES)
            break;
    }
    if (count == 0) {
        pv_pgtmp__fmt(out, n, "(empty log)");
        return;
    }
    size_t pos = 0;
    for (size_t i = count; i-- > 0;) {
        if (pos > 0) {
            memcpy(out + pos, " | ", 3);
            pos += 3;
        }
        for (size_t j = 0; j < lens[i]; j++)
            out[pos++] = starts[i][j] == '\t' ? ' ' : starts[i][j];
    }
    out[pos] = '\0';
}

static bool file_contains(const char *path, const char *needle)
{
    char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    return strstr(buf, needle) != NULL;
}

/* ---- initdb and postgres -------------------------------------------------- */

int pv_pgtmp__run_initdb(pv_pgtmp *p, const struct run_as *as, uint64_t deadline, double timeout_s,
                         pv_err *err)
{
    char exe[PATH_MAX + 16];
    if (!pv_pgtmp__fmt(exe, sizeof(exe), "%s/initdb", p->bindir))
        return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
    char a_d[] = "-D", a_u[] = "-U", a_user[] = "postgres", a_a[] = "-A", a_trust[] = "trust",
         a_e[] = "-E", a_utf8[] = "UTF8", a_locale[] = "--locale=C", a_nosync[] = "--no-sync",
         a_noinstr[] = "--no-instructions";
    /* argv[0] must be the full path: initdb finds postgres next to it.
     * Changing the arguments: bump PV_PGTMP_INITDB_ARGS_VERSION (the initdb
     * cache's key, pv_pgtmp_int.h). */
    char *argv[] = {exe, a_d,    p->datadir, a_u,      a_user,    a_a, a_trust,
                    a_e, a_utf8, a_locale,   a_nosync, a_noinstr, NULL};
    int log = pv_pgtmp__open_high(p->initdb_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->initdb_log,
                          strerror(errno));
    struct spawn s = {exe, argv, log, log, p->dir, as};
    pid_t pid;
    int rc = pv_pgtmp__spawn(&s, &pid, err);
    close(log);
    if (rc)
        return rc;
    int status;
    char tail[LOG_TAIL_BYTES], how[96];
    if (!pv_pgtmp__wait_child(pid, deadline, &status)) {
        pv_pgtmp__stop_child(pid);
        log_tail(p->initdb_log, tail, sizeof(tail));
        return pv_err_set(err, VOLLEY_ESERVER, "initdb did not finish within %g s; its log: %s",
                          timeout_s, tail);
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* Reaped by someone else (SIGCHLD ignored): initdb removes the data
     * directory when it fails, so a complete one means success. */
    char control[PATH_MAX + 32];
    if (status == -1 &&
        pv_pgtmp__fmt(control, sizeof(control), "%s/global/pg_control", p->datadir) &&
        access(control, F_OK) == 0)
        return 0;
    pv_pgtmp__describe_status(status, how, sizeof(how));
    log_tail(p->initdb_log, tail, sizeof(tail));
    return pv_err_set(err, VOLLEY_ESERVER, "initdb failed (%s): %s", how, tail);
}

/* A free loopback TCP port, or -1. Someone may take it before postgres binds
 * it; start_server notices and the caller retries with another. */
static int pick_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/*
 * Waits until the postmaster p->pid accepts connections on its socket
 * directory and port. If it exits first, p->pid becomes 0.
 */
static int wait_ready(pv_pgtmp *p, const char *port, uint64_t deadline, double timeout_s,
                      bool may_retry, pv_err *err)
{
    pid_t pid = p->pid;
    const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", NULL};
    const char *vals[] = {p->sockdir, port, "postgres", "postgres", PING_CONNECT_TIMEOUT, NULL};
    char tail[LOG_TAIL_BYTES], how[96];
    unsigned ms = 1;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            p->pid = 0;
            if (may_retry && file_contains(p->server_log, "Address already in use"))
                return PV_PGTMP_START_RETRY;
            pv_pgtmp__describe_status(r == pid ? status : -1, how, sizeof(how));
            log_tail(p->server_log, tail, sizeof(tail));
            return pv_err_set(err, VOLLEY_ESERVER, "postgres exited while starting (%s): %s", how,
                              tail);
        }
        PGPing ping = PQpingParams(keys, vals, 0);
        if (ping == PQPING_OK)
            return 0;
        if (ping == PQPING_NO_ATTEMPT)
            return pv_err_set(err, VOLLEY_ESERVER,
                              "cannot check whether postgres accepts connections (bad "
                              "connection parameters for libpq)");
        if (pv_now_ns() >= deadline) {
            log_tail(p->server_log, tail, sizeof(tail));
            return pv_err_set(err, VOLLEY_ESERVER,
                              "postgres did not accept connections within %g s: %s", timeout_s,
                              tail);
        }
        pv_pgtmp__sleep_ms(ms);
        if (ms < PV_PGTMP_POLL_MAX_MS)
            ms *= 2;
    }
}

int pv_pgtmp__start_server(pv_pgtmp *p, const struct run_as *as, const struct pv_pgtmp_opts *opts,
                           int max_connections, uint64_t deadline, double timeout_s, bool may_retry,
                           pv_err *err)
{
    p->port = pick_port();
    if (p->port <= 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot find a free TCP port on 127.0.0.1: %s",
                          strerror(errno));
    char exe[PATH_MAX + 16], port[16], maxconn[48];
    if (!pv_pgtmp__fmt(exe, sizeof(exe), "%s/postgres", p->bindir))
        return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
    pv_pgtmp__fmt(port, sizeof(port), "%d", p->port);
    pv_pgtmp__fmt(maxconn, sizeof(maxconn), "max_connections=%d", max_connections);
    static const char *const fixed[] = {
        "listen_addresses=127.0.0.1", "fsync=off",
        "synchronous_commit=off",     "full_page_writes=off",
        "shared_buffers=128MB",       "logging_collector=off",
        "log_line_prefix=", /* short lines for the log tail in error messages */
    };
    size_t extra = 0;
    while (opts->extra_settings && opts->extra_settings[extra])
        extra++;
    size_t n = POSTGRES_FIXED_ARGS + 2 * (1 + PV_ARRAY_LEN(fixed) + extra) + 1, i = 0;
    char **argv = calloc(n, sizeof(*argv));
    if (!argv)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    char opt_d[] = "-D", opt_k[] = "-k", opt_p[] = "-p", opt_c[] = "-c";
    argv[i++] = exe; /* full path: postgres finds its share/ and lib/ from it */
    argv[i++] = opt_d;
    argv[i++] = p->datadir;
    argv[i++] = opt_k;
    argv[i++] = p->sockdir;
    argv[i++] = opt_p;
    argv[i++] = port;
    argv[i++] = opt_c;
    argv[i++] = maxconn;
    for (size_t j = 0; j < PV_ARRAY_LEN(fixed); j++) {
        argv[i++] = opt_c;
        argv[i++] = (char *)fixed[j];
    }
    /* Later -c options win, so the caller's settings override ours. */
    for (size_t j = 0; j < extra; j++) {
        argv[i++] = opt_c;
        argv[i++] = (char *)opts->extra_settings[j];
    }
    argv[i] = NULL;

    int log = pv_pgtmp__open_high(p->server_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log < 0) {
        free(argv);
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->server_log,
                          strerror(errno));
    }
    struct spawn s = {exe, argv, log, log, p->dir, as};
    pid_t pid;
    int rc = pv_pgtmp__spawn(&s, &pid, err);
    close(log);
    free(argv);
    if (rc)
        return rc;
    p->pid = pid;
    return wait_ready(p, port, deadline, timeout_s, may_retry, err);
}
