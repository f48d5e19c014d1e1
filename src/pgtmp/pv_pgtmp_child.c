/*
 * pv_pgtmp_child.c - running the server's programs: whom they run as (the
 * postgres user when we are root), fork + execve with a report pipe, waiting
 * for a child, and stopping one.
 *
 * Children are started with fork + execve, never through a shell. Between
 * fork and exec the child only makes async-signal-safe calls (the caller may
 * have threads), and reports a failure to the parent through a close-on-exec
 * pipe, so the parent can say which step failed and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

extern char **environ;

/* The exit code of a child that failed before exec (a shell's "cannot execute"). */
#define CHILD_FAILED_EXIT 127

/* ---- whom the children run as --------------------------------------------- */

int pv_pgtmp__resolve_run_as(struct run_as *as, pv_err *err)
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

/* ---- running children ----------------------------------------------------- */

/* Opens path with O_CLOEXEC and makes sure the descriptor is >= 3, so that the
 * child's dup2 onto 0/1/2 can never clobber another of its descriptors. */
int pv_pgtmp__open_high(const char *path, int flags, mode_t mode)
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

struct child_report {
    int step;
    int err;
};

static void child_fail(int report_fd, int step)
{
    struct child_report r = {step, errno};
    ssize_t w = write(report_fd, &r, sizeof(r));
    (void)w;
    _exit(CHILD_FAILED_EXIT);
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
int pv_pgtmp__spawn(const struct spawn *s, pid_t *pid, pv_err *err)
{
    int null_fd = pv_pgtmp__open_high("/dev/null", O_RDWR, 0);
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
int pv_pgtmp__wait_child(pid_t pid, uint64_t deadline, int *status)
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
        pv_pgtmp__sleep_ms(ms);
        if (ms < PV_PGTMP_POLL_MAX_MS)
            ms *= 2;
    }
}

void pv_pgtmp__describe_status(int status, char *out, size_t n)
{
    if (status == -1)
        pv_pgtmp__fmt(out, n, "exit status unknown");
    else if (WIFEXITED(status))
        pv_pgtmp__fmt(out, n, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        pv_pgtmp__fmt(out, n, "killed by signal %d (%s)", WTERMSIG(status),
                      strsignal(WTERMSIG(status)));
    else
        pv_pgtmp__fmt(out, n, "status %d", status);
}

/* Fast shutdown; immediate shutdown after 5 s; SIGKILL after 3 s more. */
void pv_pgtmp__stop_child(pid_t pid)
{
    static const struct {
        int sig;
        double wait_s;
    } steps[] = {{SIGINT, 5.0}, {SIGQUIT, 3.0}, {SIGKILL, 5.0}};
    for (size_t i = 0; i < PV_ARRAY_LEN(steps); i++) {
        kill(pid, steps[i].sig);
        if (pv_pgtmp__wait_child(pid, pv_pgtmp__deadline_after(steps[i].wait_s), NULL))
            return;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
