/*
 * pv_pgtmp.c - a throwaway PostgreSQL server: find the binaries, initdb into
 * $TMPDIR/pgvolley-XXXXXX, start postgres on a private socket directory and a
 * free loopback port, wait for it, and tear it all down again.
 *
 * Layout of one server directory (mode 0700, owned by the user the server
 * runs as):
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
#define PGTMP_PORT_ATTEMPTS 5
#define PGTMP_PREFIX "pgvolley-"
#define PGTMP_OWNER_FILE "owner.pid"
#define PGTMP_OWNER_TMP "owner.pid.tmp"
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
        if (total + l + 3 >= n || count == 6)
            break;
        starts[count] = start;
        lens[count] = l;
        total += l + 3;
        count++;
        end = start;
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
    /* Every other descriptor the caller left inheritable: close on exec
     * (Linux 5.11+; on older kernels this fails and changes nothing). */
#ifdef CLOSE_RANGE_CLOEXEC
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
        return pv_err_set(err, VOLLEY_ESERVER, "cannot fork to run %s: %s", s->path,
                          strerror(e));
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
