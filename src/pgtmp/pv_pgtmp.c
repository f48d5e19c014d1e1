/*
 * pv_pgtmp.c - a throwaway PostgreSQL server: find the binaries, initdb into
 * $TMPDIR/pgvolley-XXXXXX, start postgres on a private socket directory and a
 * free loopback port, wait for it, and tear it all down again.
 *
 * Layout of one server directory (mode 0700; as root, the directory and
 * sock/ are given to the postgres user, owner.pid and the logs stay root's):
 *
 *   pgvolley-XXXXXX/owner.pid    "PID STARTTIME\n" of the pgvolley process
 *                                (STARTTIME = field 22 of /proc/PID/stat, so
 *                                a reused pid is not mistaken for the owner)
 *   pgvolley-XXXXXX/data/        the cluster (initdb -D)
 *   pgvolley-XXXXXX/sock/        the Unix socket directory (postgres -k)
 *   pgvolley-XXXXXX/initdb.log   initdb's stdout and stderr
 *   pgvolley-XXXXXX/server.log   postgres's stdout and stderr
 *
 * Children are started with fork + execve, never through a shell. Between
 * fork and exec the child only makes async-signal-safe calls (the caller may
 * have threads), and reports a failure to the parent through a close-on-exec
 * pipe, so the parent can say which step failed and why.
 */
#include "pgtmp/pv_pgtmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

extern char **environ;

#define PGTMP_DEFAULT_MAX_CONNECTIONS 1100
#define PGTMP_DEFAULT_START_TIMEOUT_S 60.0
#define PGTMP_PORT_ATTEMPTS           5
#define PGTMP_PREFIX                  "pgvolley-"
#define PGTMP_OWNER_FILE              "owner.pid"
#define PGTMP_OWNER_TMP               "owner.pid.tmp"
/* A pgvolley-* directory without owner.pid is removed only after this long. */
#define PGTMP_ORPHAN_AGE_S 3600
/* Longest socket directory postgres accepts: sun_path minus "/.s.PGSQL.65535". */
#define PGTMP_MAX_SOCKDIR (sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - 15)

struct pv_pgtmp {
    pid_t pid; /* postmaster, or 0 */
    int port;
    char dir[PATH_MAX];
    char datadir[PATH_MAX];
    char sockdir[PATH_MAX];
    char bindir[PATH_MAX];
    char initdb_log[PATH_MAX];
    char server_log[PATH_MAX];
    char conninfo[PATH_MAX + 128];
    char uri[128];
};

/* Whom the children run as: the caller, or `postgres` when we are root. */
struct run_as {
    bool drop; /* true: switch to uid/gid before exec */
    uid_t uid;
    gid_t gid;
};

/* ---- small helpers ------------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR: the callers loop anyway */
}

static uint64_t deadline_after(double seconds)
{
    return pv_now_ns() + (uint64_t)(seconds * 1e9);
}

/* snprintf into a fixed buffer; false if it did not fit. */
static bool PV_PRINTF(3, 4) fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(out, n, f, ap);
    va_end(ap);
    return r >= 0 && (size_t)r < n;
}

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* A bindir is usable when it holds both initdb and postgres. */
static bool bindir_ok(const char *dir)
{
    char path[PATH_MAX];
    return fmt(path, sizeof(path), "%s/initdb", dir) && is_executable_file(path) &&
           fmt(path, sizeof(path), "%s/postgres", dir) && is_executable_file(path);
}

/* Opens path with O_CLOEXEC and makes sure the descriptor is >= 3, so that the
 * child's dup2 onto 0/1/2 can never clobber another of its descriptors. */
static int open_high(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd >= 0 && fd < 3) {
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = hi;
    }
    return fd;
}

/*
 * Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat) and its state letter. pid 0 means ourselves.
 * @return 0, or -1 if the process is gone or /proc cannot be read.
 */
static int proc_stat(pid_t pid, unsigned long long *start, char *state)
{
    char path[64], buf[1024];
    if (pid == 0)
        fmt(path, sizeof(path), "/proc/self/stat");
    else
        fmt(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    if (state)
        *state = *p;
    /* p is at field 3; skip to field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return -1;
    if (start)
        *start = v;
    return 0;
}

/* True while pid names a process that has not exited (zombies count as gone). */
static bool process_exists(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char state = '?';
    if (proc_stat(pid, NULL, &state) == 0 && (state == 'Z' || state == 'X'))
        return false;
    return true;
}

/* Parses a decimal int in [lo, hi] that fills s up to optional trailing spaces. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < lo || v > hi)
        return false;
    while (*end == ' ' || *end == '\n')
        end++;
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

/* Reads at most n-1 bytes of a small file into buf; returns the length or -1. */
static ssize_t read_small_file(int dirfd, const char *name, char *buf, size_t n)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, n - 1);
    close(fd);
    if (len < 0)
        return -1;
    buf[len] = '\0';
    return len;
}

/*
 * The last lines of a log file, folded into one line ("a | b | c") that fits
 * into out, or "(empty log)" / "(no log)".
 */
static void log_tail(const char *path, char *out, size_t n)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fmt(out, n, "(no log)");
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
        if (count == 6)
            break;
    }
    if (count == 0) {
        fmt(out, n, "(empty log)");
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

/* ---- removing a directory tree ----------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0; /* keep going: remove as much as we can */
}

/* Removes dir recursively without following symlinks; true if it is gone. */
static bool remove_tree(const char *dir)
{
    struct stat st;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return lstat(dir, &st) != 0 && errno == ENOENT;
}

/* ---- running children --------------------------------------------------- */

/* Steps of the child before exec; reported to the parent on failure. */
enum child_step {
    STEP_SETSID,
    STEP_STDIO,
    STEP_SETGROUPS,
    STEP_SETGID,
    STEP_SETUID,
    STEP_PDEATHSIG,
    STEP_PARENT_GONE,
    STEP_CHDIR,
    STEP_EXEC,
};

static const char *step_name(int step)
{
    switch (step) {
    case STEP_SETSID: return "setsid";
    case STEP_STDIO: return "redirect stdio";
    case STEP_SETGROUPS: return "setgroups";
    case STEP_SETGID: return "setgid";
    case STEP_SETUID: return "setuid";
    case STEP_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)";
    case STEP_PARENT_GONE: return "start (the parent exited)";
    case STEP_CHDIR: return "change directory";
    case STEP_EXEC: return "execute";
    }
    return "start";
}

struct spawn {
    const char *path;  /* absolute path of the program */
    char *const *argv; /* argv[0] included, NULL-terminated */
    int out_fd;        /* stdout; -1 = /dev/null */
    int err_fd;        /* stderr; -1 = /dev/null */
    const char *cwd;   /* NULL = unchanged */
    const struct run_as *as;
};

struct child_report {
    int step;
    int err;
};

static void child_fail(int report_fd, int step)
{
    struct child_report r = {step, errno};
    ssize_t w = write(report_fd, &r, sizeof(r));
    (void)w;
    _exit(127);
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void child_exec(const struct spawn *s, int null_fd, int report_fd, pid_t parent)
{
    /* Signals: nothing blocked, nothing ignored (SIG_IGN survives exec). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);

    /* Our own session: a Ctrl-C on the caller's terminal reaches the caller,
     * which decides when to stop the server. */
    if (setsid() < 0)
        child_fail(report_fd, STEP_SETSID);

    int out = s->out_fd >= 0 ? s->out_fd : null_fd;
    int errfd = s->err_fd >= 0 ? s->err_fd : null_fd;
    if (dup2(null_fd, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        child_fail(report_fd, STEP_STDIO);
#ifdef CLOSE_RANGE_CLOEXEC
    /* Every other descriptor the caller left inheritable: close on exec
     * (Linux 5.11+; on older kernels this fails and changes nothing). */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif

    if (s->as->drop) {
        if (setgroups(1, &s->as->gid) < 0)
            child_fail(report_fd, STEP_SETGROUPS);
        if (setgid(s->as->gid) < 0)
            child_fail(report_fd, STEP_SETGID);
        if (setuid(s->as->uid) < 0)
            child_fail(report_fd, STEP_SETUID);
    }
    /*
     * Die with the caller. After the uid change, because a change of
     * credentials clears the death signal. SIGINT (fast shutdown) rather than
     * SIGTERM (smart shutdown), which would wait for every client, such as a
     * psql someone left open, to disconnect.
     * XXX: the signal comes when the *thread* that forked exits, so start
     * the server from a thread that lives as long as the server should.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGINT) < 0)
        child_fail(report_fd, STEP_PDEATHSIG);
    if (getppid() != parent) {
        errno = ESRCH;
        child_fail(report_fd, STEP_PARENT_GONE);
    }
    if (s->cwd && chdir(s->cwd) < 0)
        child_fail(report_fd, STEP_CHDIR);
    execve(s->path, s->argv, environ);
    child_fail(report_fd, STEP_EXEC);
}

/*
 * Starts a child. On success *pid is set and the program has been exec'd.
 * On failure the child (if any) is reaped and err says which step failed.
 */
static int spawn(const struct spawn *s, pid_t *pid, pv_err *err)
{
    int null_fd = open_high("/dev/null", O_RDWR, 0);
    if (null_fd < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot open /dev/null: %s", strerror(errno));
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        int e = errno;
        close(null_fd);
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create a pipe: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(null_fd);
        close(report[0]);
        close(report[1]);
        return pv_err_set(err, VOLLEY_ESERVER, "cannot fork to run %s: %s", s->path, strerror(e));
    }
    if (child == 0) {
        close(report[0]);
        child_exec(s, null_fd, report[1], parent);
    }
    close(null_fd);
    close(report[1]);

    struct child_report r;
    ssize_t n;
    do {
        n = read(report[0], &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == 0) { /* the pipe closed on exec: the program runs */
        *pid = child;
        return 0;
    }
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(r))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot run %s: the child died before exec",
                          s->path);
    if (r.step == STEP_CHDIR && s->as->drop && r.err == EACCES)
        return pv_err_set(err, VOLLEY_ESERVER,
                          "the postgres user cannot enter %s: %s (the directory $TMPDIR "
                          "points to must be traversable by user postgres)",
                          s->cwd, strerror(r.err));
    return pv_err_set(err, VOLLEY_ESERVER, "cannot %s for %s: %s", step_name(r.step), s->path,
                      strerror(r.err));
}

/* 1: the child exited (*status set; -1 if someone else reaped it), 0: it is
 * still running at the deadline. */
static int wait_child(pid_t pid, uint64_t deadline, int *status)
{
    unsigned ms = 1;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return 1;
        }
        if (r < 0 && errno != EINTR) { /* ECHILD: SIGCHLD ignored, or reaped elsewhere */
            if (status)
                *status = -1;
            return 1;
        }
        if (pv_now_ns() >= deadline)
            return 0;
        sleep_ms(ms);
        if (ms < 16)
            ms *= 2;
    }
}

static void describe_status(int status, char *out, size_t n)
{
    if (status == -1)
        fmt(out, n, "exit status unknown");
    else if (WIFEXITED(status))
        fmt(out, n, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fmt(out, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        fmt(out, n, "status %d", status);
}

/* Fast shutdown; immediate shutdown after 5 s; SIGKILL after 3 s more. */
static void stop_child(pid_t pid)
{
    static const struct {
        int sig;
        double wait_s;
    } steps[] = {{SIGINT, 5.0}, {SIGQUIT, 3.0}, {SIGKILL, 5.0}};
    for (size_t i = 0; i < PV_ARRAY_LEN(steps); i++) {
        kill(pid, steps[i].sig);
        if (wait_child(pid, deadline_after(steps[i].wait_s), NULL))
            return;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* ---- finding the binaries ------------------------------------------------ */

/* Searches $PATH for an executable file called name. */
static bool find_in_path(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && path[0] == '/' && fmt(out, n, "%.*s/%s", (int)len, path, name) &&
            is_executable_file(out))
            return true;
        path += len;
        if (*path == ':')
            path++;
    }
    return false;
}

/* `pg_config --bindir`, if pg_config is on PATH and says something. */
static bool pg_config_bindir(char *out, size_t n)
{
    char exe[PATH_MAX];
    if (!find_in_path("pg_config", exe, sizeof(exe)))
        return false;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return false;
    char arg1[] = "--bindir";
    char *argv[] = {exe, arg1, NULL};
    struct run_as self = {false, 0, 0};
    struct spawn s = {exe, argv, fds[1], -1, NULL, &self};
    pid_t pid;
    int rc = spawn(&s, &pid, NULL);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return false;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + len, n - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == n - 1)
            break;
    }
    close(fds[0]);
    out[len] = '\0';
    int status;
    if (!wait_child(pid, deadline_after(10.0), &status)) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return false;
    }
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && out[0] == '/' &&
           !strchr(out, '\n');
}

/* The directory of an initdb found on PATH (symlinks resolved first). */
static bool path_bindir(char *out, size_t n)
{
    char exe[PATH_MAX], real[PATH_MAX];
    if (!find_in_path("initdb", exe, sizeof(exe)))
        return false;
    if (realpath(exe, real)) {
        *strrchr(real, '/') = '\0';
        if (bindir_ok(real))
            return fmt(out, n, "%s", real);
    }
    *strrchr(exe, '/') = '\0';
    return bindir_ok(exe) && fmt(out, n, "%s", exe);
}

/* The newest /usr/lib/postgresql/N/bin (Debian's layout), by numeric version. */
static bool debian_bindir(char *out, size_t n)
{
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return false;
    long best_major = -1, best_minor = -1;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        const char *name = e->d_name;
        char *end;
        errno = 0;
        long major = strtol(name, &end, 10);
        if (errno || end == name || name[0] < '0' || name[0] > '9')
            continue;
        long minor = 0;
        if (*end == '.') { /* 9.6 */
            const char *m = end + 1;
            minor = strtol(m, &end, 10);
            if (end == m)
                continue;
        }
        if (*end != '\0')
            continue;
        if (major < best_major || (major == best_major && minor <= best_minor))
            continue;
        char bin[PATH_MAX];
        if (fmt(bin, sizeof(bin), "/usr/lib/postgresql/%s/bin", name) && bindir_ok(bin) &&
            fmt(out, n, "%s", bin)) {
            best_major = major;
            best_minor = minor;
        }
    }
    closedir(d);
    return best_major >= 0;
}

/* opts->bindir, else pg_config --bindir, else initdb on PATH, else Debian's. */
static int find_bindir(const char *given, char *out, size_t n, pv_err *err)
{
    if (given) {
        if (!bindir_ok(given))
            return pv_err_set(err, VOLLEY_ESERVER,
                              "the given PostgreSQL bindir %s does not hold executable initdb "
                              "and postgres programs",
                              given);
        if (!fmt(out, n, "%s", given))
            return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
        return 0;
    }
    /* On Debian, pg_config may print /usr/bin, where only wrappers live. */
    if (pg_config_bindir(out, n) && bindir_ok(out))
        return 0;
    if (path_bindir(out, n) || debian_bindir(out, n))
        return 0;
    return pv_err_set(err, VOLLEY_ESERVER,
                      "cannot find the PostgreSQL server programs initdb and postgres (tried "
                      "pg_config --bindir, PATH and /usr/lib/postgresql/*/bin); install the "
                      "PostgreSQL server or give its bindir");
}

/* ---- the server directory ------------------------------------------------- */

static int resolve_run_as(struct run_as *as, pv_err *err)
{
    *as = (struct run_as){false, 0, 0};
    if (geteuid() != 0)
        return 0;
    struct passwd pw, *found = NULL;
    char buf[16384];
    if (getpwnam_r("postgres", &pw, buf, sizeof(buf), &found) != 0 || !found)
        return pv_err_set(err, VOLLEY_ESERVER,
                          "cannot run the throwaway server as root and there is no 'postgres' "
                          "user; run as an ordinary user");
    if (pw.pw_uid == 0)
        return pv_err_set(err, VOLLEY_ESERVER,
                          "cannot run the throwaway server as root and the 'postgres' user is "
                          "root too; run as an ordinary user");
    *as = (struct run_as){true, pw.pw_uid, pw.pw_gid};
    return 0;
}

/* $TMPDIR (default /tmp) as an absolute path without a trailing slash. */
static bool tmp_base(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char real[PATH_MAX];
    if (!realpath(tmp, real))
        return false;
    return fmt(out, n, "%s", strcmp(real, "/") == 0 ? "" : real);
}

/* Writes owner.pid atomically (temporary file + rename). */
static int write_owner(const char *dir)
{
    unsigned long long start = 0;
    proc_stat(0, &start, NULL); /* 0 = unknown: the pid alone decides */
    char line[64], tmp[PATH_MAX], final[PATH_MAX];
    int len = snprintf(line, sizeof(line), "%ld %llu\n", (long)getpid(), start);
    if (!fmt(tmp, sizeof(tmp), "%s/" PGTMP_OWNER_TMP, dir) ||
        !fmt(final, sizeof(final), "%s/" PGTMP_OWNER_FILE, dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, line, (size_t)len);
    int e = errno;
    close(fd);
    if (w != len) {
        errno = w < 0 ? e : EIO;
        return -1;
    }
    return rename(tmp, final);
}

/* Creates pgvolley-XXXXXX with owner.pid and sock/; sets *made once it exists. */
static int make_dirs(pv_pgtmp *p, const struct run_as *as, bool *made, pv_err *err)
{
    char base[PATH_MAX];
    if (!tmp_base(base, sizeof(base)))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot use the temporary directory %s: %s",
                          getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                          strerror(errno));
    if (!fmt(p->dir, sizeof(p->dir), "%s/" PGTMP_PREFIX "XXXXXX", base) ||
        strlen(p->dir) + strlen("/sock") > PGTMP_MAX_SOCKDIR)
        return pv_err_set(err, VOLLEY_ESERVER,
                          "the temporary directory %s is too long a path for a Unix socket; "
                          "set TMPDIR to a shorter one",
                          base[0] ? base : "/");
    if (!mkdtemp(p->dir))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create a directory in %s: %s",
                          base[0] ? base : "/", strerror(errno));
    *made = true;
    fmt(p->datadir, sizeof(p->datadir), "%s/data", p->dir);
    fmt(p->sockdir, sizeof(p->sockdir), "%s/sock", p->dir);
    fmt(p->initdb_log, sizeof(p->initdb_log), "%s/initdb.log", p->dir);
    fmt(p->server_log, sizeof(p->server_log), "%s/server.log", p->dir);
    if (write_owner(p->dir) < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot write %s/" PGTMP_OWNER_FILE ": %s", p->dir,
                          strerror(errno));
    if (mkdir(p->sockdir, 0700) < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->sockdir, strerror(errno));
    /* mkdtemp made the directory 0700 for root: hand it (not owner.pid) to postgres. */
    if (as->drop &&
        (chown(p->dir, as->uid, as->gid) < 0 || chown(p->sockdir, as->uid, as->gid) < 0))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot give %s to the postgres user: %s", p->dir,
                          strerror(errno));
    return 0;
}

/* ---- initdb and postgres ------------------------------------------------- */

static int run_initdb(pv_pgtmp *p, const struct run_as *as, uint64_t deadline, double timeout_s,
                      pv_err *err)
{
    char exe[PATH_MAX + 16];
    if (!fmt(exe, sizeof(exe), "%s/initdb", p->bindir))
        return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
    char a_d[] = "-D", a_u[] = "-U", a_user[] = "postgres", a_a[] = "-A", a_trust[] = "trust",
         a_e[] = "-E", a_utf8[] = "UTF8", a_locale[] = "--locale=C", a_nosync[] = "--no-sync",
         a_noinstr[] = "--no-instructions";
    /* argv[0] must be the full path: initdb finds postgres next to it. */
    char *argv[] = {exe, a_d,    p->datadir, a_u,      a_user,    a_a, a_trust,
                    a_e, a_utf8, a_locale,   a_nosync, a_noinstr, NULL};
    int log = open_high(p->initdb_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->initdb_log,
                          strerror(errno));
    struct spawn s = {exe, argv, log, log, p->dir, as};
    pid_t pid;
    int rc = spawn(&s, &pid, err);
    close(log);
    if (rc)
        return rc;
    int status;
    char tail[700], how[96];
    if (!wait_child(pid, deadline, &status)) {
        stop_child(pid);
        log_tail(p->initdb_log, tail, sizeof(tail));
        return pv_err_set(err, VOLLEY_ESERVER, "initdb did not finish within %g s; its log: %s",
                          timeout_s, tail);
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* Reaped by someone else (SIGCHLD ignored): initdb removes the data
     * directory when it fails, so a complete one means success. */
    char control[PATH_MAX + 32];
    if (status == -1 && fmt(control, sizeof(control), "%s/global/pg_control", p->datadir) &&
        access(control, F_OK) == 0)
        return 0;
    describe_status(status, how, sizeof(how));
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

#define START_RETRY 1 /* the port was taken: try another */

static int start_server(pv_pgtmp *p, const struct run_as *as, const struct pv_pgtmp_opts *opts,
                        int max_connections, uint64_t deadline, double timeout_s, bool may_retry,
                        pv_err *err)
{
    p->port = pick_port();
    if (p->port <= 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot find a free TCP port on 127.0.0.1: %s",
                          strerror(errno));
    char exe[PATH_MAX + 16], port[16], maxconn[48];
    if (!fmt(exe, sizeof(exe), "%s/postgres", p->bindir))
        return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
    fmt(port, sizeof(port), "%d", p->port);
    fmt(maxconn, sizeof(maxconn), "max_connections=%d", max_connections);
    static const char *const fixed[] = {
        "listen_addresses=127.0.0.1", "fsync=off",
        "synchronous_commit=off",     "full_page_writes=off",
        "shared_buffers=128MB",       "logging_collector=off",
        "log_line_prefix=", /* short lines for the log tail in error messages */
    };
    size_t extra = 0;
    while (opts->extra_settings && opts->extra_settings[extra])
        extra++;
    size_t n = 7 + 2 * (1 + PV_ARRAY_LEN(fixed) + extra) + 1, i = 0;
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

    int log = open_high(p->server_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log < 0) {
        free(argv);
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->server_log,
                          strerror(errno));
    }
    struct spawn s = {exe, argv, log, log, p->dir, as};
    pid_t pid;
    int rc = spawn(&s, &pid, err);
    close(log);
    free(argv);
    if (rc)
        return rc;
    p->pid = pid;

    const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", NULL};
    const char *vals[] = {p->sockdir, port, "postgres", "postgres", "2", NULL};
    char tail[700], how[96];
    unsigned ms = 1;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            p->pid = 0;
            if (may_retry && file_contains(p->server_log, "Address already in use"))
                return START_RETRY;
            describe_status(r == pid ? status : -1, how, sizeof(how));
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
        sleep_ms(ms);
        if (ms < 16)
            ms *= 2;
    }
}

/* A conninfo value, quoted when it must be. */
static bool conninfo_value(char *out, size_t n, const char *v)
{
    if (*v && !strpbrk(v, " \t\n'\\="))
        return fmt(out, n, "%s", v);
    size_t o = 0;
    if (n < 3)
        return false;
    out[o++] = '\'';
    for (; *v; v++) {
        if (o + 4 >= n)
            return false;
        if (*v == '\'' || *v == '\\')
            out[o++] = '\\';
        out[o++] = *v;
    }
    out[o++] = '\'';
    out[o] = '\0';
    return true;
}

/* ---- the public functions ------------------------------------------------- */

int pv_pgtmp_start(const struct pv_pgtmp_opts *opts, pv_pgtmp **out, pv_err *err)
{
    static const struct pv_pgtmp_opts defaults = {NULL, 0, 0.0, NULL};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    int max_connections =
        opts->max_connections ? opts->max_connections : PGTMP_DEFAULT_MAX_CONNECTIONS;
    double timeout_s =
        opts->start_timeout_s != 0.0 ? opts->start_timeout_s : PGTMP_DEFAULT_START_TIMEOUT_S;
    if (max_connections < 1)
        return pv_err_set(err, VOLLEY_ESERVER, "max_connections must be positive, not %d",
                          max_connections);
    if (!(timeout_s > 0.0 && timeout_s < 1e6))
        return pv_err_set(err, VOLLEY_ESERVER, "the start timeout must be positive, not %g",
                          timeout_s);
    for (size_t i = 0; opts->extra_settings && opts->extra_settings[i]; i++) {
        const char *eq = strchr(opts->extra_settings[i], '=');
        if (!eq || eq == opts->extra_settings[i])
            return pv_err_set(err, VOLLEY_ESERVER,
                              "server setting \"%s\" is not of the form name=value",
                              opts->extra_settings[i]);
    }
    uint64_t deadline = deadline_after(timeout_s);

    pv_pgtmp_cleanup_stale();

    struct run_as as;
    int rc = resolve_run_as(&as, err);
    if (rc)
        return rc;
    pv_pgtmp *p = calloc(1, sizeof(*p));
    if (!p)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    bool made = false;
    rc = find_bindir(opts->bindir, p->bindir, sizeof(p->bindir), err);
    if (rc)
        goto fail;
    rc = make_dirs(p, &as, &made, err);
    if (rc)
        goto fail;
    rc = run_initdb(p, &as, deadline, timeout_s, err);
    if (rc)
        goto fail;
    for (int attempt = 1;; attempt++) {
        rc = start_server(p, &as, opts, max_connections, deadline, timeout_s,
                          attempt < PGTMP_PORT_ATTEMPTS, err);
        if (rc != START_RETRY)
            break;
    }
    if (rc)
        goto fail;

    char host[PATH_MAX + 8];
    if (!conninfo_value(host, sizeof(host), p->sockdir) ||
        !fmt(p->conninfo, sizeof(p->conninfo), "host=%s port=%d user=postgres dbname=postgres",
             host, p->port)) {
        rc = pv_err_set(err, VOLLEY_ESERVER, "the socket directory path is too long");
        goto fail;
    }
    fmt(p->uri, sizeof(p->uri), "postgresql://postgres@127.0.0.1:%d/postgres", p->port);
    *out = p;
    return 0;

fail:
    if (p->pid > 0)
        stop_child(p->pid);
    if (made)
        remove_tree(p->dir);
    free(p);
    return rc;
}

void pv_pgtmp_stop(pv_pgtmp *p)
{
    if (!p)
        return;
    if (p->pid > 0)
        stop_child(p->pid);
    remove_tree(p->dir);
    free(p);
}

const char *pv_pgtmp_conninfo(const pv_pgtmp *p)
{
    return p->conninfo;
}

const char *pv_pgtmp_uri(const pv_pgtmp *p)
{
    return p->uri;
}

const char *pv_pgtmp_socket_dir(const pv_pgtmp *p)
{
    return p->sockdir;
}

const char *pv_pgtmp_bindir(const pv_pgtmp *p)
{
    return p->bindir;
}

int pv_pgtmp_port(const pv_pgtmp *p)
{
    return p->port;
}

int pv_pgtmp_pid(const pv_pgtmp *p)
{
    return (int)p->pid;
}

/* ---- stale directories ----------------------------------------------------- */

/* "pgvolley-" followed by exactly the six letters or digits mkdtemp makes. */
static bool is_our_name(const char *name)
{
    size_t plen = strlen(PGTMP_PREFIX);
    if (strncmp(name, PGTMP_PREFIX, plen) != 0 || strlen(name) != plen + 6)
        return false;
    for (const char *c = name + plen; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return false;
    return true;
}

/* True if the pgvolley process that wrote owner.pid is still running. */
static bool owner_alive(pid_t pid, unsigned long long start)
{
    if (!process_exists(pid))
        return false;
    unsigned long long now_start;
    if (start != 0 && proc_stat(pid, &now_start, NULL) == 0 && now_start != start)
        return false; /* the pid now names another process */
    return true;
}

/* True if pid is a postmaster whose working directory is datadir. */
static bool is_postmaster_of(pid_t pid, const char *datadir)
{
    char path[64], buf[PATH_MAX];
    fmt(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, 32);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if (strcmp(buf, "postgres\n") != 0 && strcmp(buf, "postmaster\n") != 0)
        return false;
    fmt(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
    n = readlink(path, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strcmp(buf, datadir) == 0;
}

static bool wait_gone(pid_t pid, double seconds)
{
    uint64_t deadline = deadline_after(seconds);
    while (process_exists(pid)) {
        if (pv_now_ns() >= deadline)
            return false;
        sleep_ms(10);
    }
    return true;
}

/* Stops the server left running in dir, if any; false if it will not die. */
static bool stop_stale_server(int dirfd, const char *dir)
{
    char buf[256], datadir[PATH_MAX];
    if (read_small_file(dirfd, "data/postmaster.pid", buf, sizeof(buf)) < 0)
        return true;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    long pid;
    if (!parse_long(buf, 1, INT_MAX, &pid) || !process_exists((pid_t)pid))
        return true;
    if (!fmt(datadir, sizeof(datadir), "%s/data", dir) || !is_postmaster_of((pid_t)pid, datadir))
        return true; /* the pid now names something else */
    kill((pid_t)pid, SIGQUIT);
    if (wait_gone((pid_t)pid, 3.0))
        return true;
    kill((pid_t)pid, SIGKILL);
    return wait_gone((pid_t)pid, 2.0);
}

/* True if the directory holds nothing but, perhaps, an unfinished owner file. */
static bool only_unfinished_owner(int dirfd)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return false;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return false;
    }
    bool ok = true;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strcmp(e->d_name, PGTMP_OWNER_TMP) != 0)
            ok = false;
    }
    closedir(d);
    return ok;
}

/* Parses owner.pid: "PID STARTTIME\n". */
static bool parse_owner(const char *buf, long *pid, unsigned long long *start)
{
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || end == buf || *end != ' ' || v <= 0 || v > INT_MAX)
        return false;
    const char *s = end + 1;
    unsigned long long st = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    *pid = v;
    *start = st;
    return true;
}

/* Removes base/name if it is a pgvolley directory whose owner is gone. */
static bool cleanup_one(int basefd, const char *base, const char *name)
{
    uid_t me = geteuid();
    struct stat st, ost;
    if (fstatat(basefd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
        return false;
    /* Ours only: as root, the directory belongs to postgres but owner.pid to us. */
    if (me != 0 && st.st_uid != me)
        return false;
    char path[PATH_MAX];
    if (!fmt(path, sizeof(path), "%s/%s", base, name))
        return false;
    int fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool remove = false;
    if (fstatat(fd, PGTMP_OWNER_FILE, &ost, AT_SYMLINK_NOFOLLOW) != 0) {
        /* Crashed between mkdtemp and writing owner.pid: empty, ours, and old. */
        remove = errno == ENOENT && st.st_uid == me &&
                 time(NULL) - st.st_mtime > PGTMP_ORPHAN_AGE_S && only_unfinished_owner(fd);
    } else if (S_ISREG(ost.st_mode) && ost.st_uid == me) {
        char buf[128];
        long pid;
        unsigned long long start;
        remove = read_small_file(fd, PGTMP_OWNER_FILE, buf, sizeof(buf)) > 0 &&
                 parse_owner(buf, &pid, &start) && !owner_alive((pid_t)pid, start) &&
                 stop_stale_server(fd, path);
    }
    close(fd);
    return remove && remove_tree(path);
}

int pv_pgtmp_cleanup_stale(void)
{
    char base[PATH_MAX];
    if (!tmp_base(base, sizeof(base)))
        return 0;
    DIR *d = opendir(base[0] ? base : "/");
    if (!d)
        return 0;
    int removed = 0;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (is_our_name(e->d_name) && cleanup_one(dirfd(d), base, e->d_name))
            removed++;
    }
    closedir(d);
    return removed;
}
