/*
 * pv_pgtmp_stale.c - removing pgvolley-* directories left by crashed runs
 * (pv_pgtmp_cleanup_stale), and stopping a server still running in one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

/* The letters and digits mkdtemp puts for "XXXXXX". */
#define MKDTEMP_SUFFIX_LEN 6
/* A stale server gets this long after SIGQUIT, then this long after SIGKILL. */
#define STALE_QUIT_WAIT_S 3.0
#define STALE_KILL_WAIT_S 2.0
/* How often wait_gone looks again. */
#define GONE_POLL_MS 10

/* ---- processes and small files -------------------------------------------- */

/* True while pid names a process that has not exited (zombies count as gone). */
static bool process_exists(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char state = '?';
    if (pv_pgtmp__proc_stat(pid, NULL, &state) == 0 && (state == 'Z' || state == 'X'))
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

/* ---- stale directories ---------------------------------------------------- */

/* "pgvolley-" followed by exactly the six letters or digits mkdtemp makes. */
static bool is_our_name(const char *name)
{
    size_t plen = strlen(PV_PGTMP_PREFIX);
    if (strncmp(name, PV_PGTMP_PREFIX, plen) != 0 || strlen(name) != plen + MKDTEMP_SUFFIX_LEN)
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
    if (start != 0 && pv_pgtmp__proc_stat(pid, &now_start, NULL) == 0 && now_start != start)
        return false; /* the pid now names another process */
    return true;
}

/* True if pid is a postmaster whose working directory is datadir. */
static bool is_postmaster_of(pid_t pid, const char *datadir)
{
    char path[64], buf[PATH_MAX];
    pv_pgtmp__fmt(path, sizeof(path), "/proc/%ld/comm", (long)pid);
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
    pv_pgtmp__fmt(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
    n = readlink(path, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strcmp(buf, datadir) == 0;
}

static bool wait_gone(pid_t pid, double seconds)
{
    uint64_t deadline = pv_pgtmp__deadline_after(seconds);
    while (process_exists(pid)) {
        if (pv_now_ns() >= deadline)
            return false;
        pv_pgtmp__sleep_ms(GONE_POLL_MS);
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
    if (!pv_pgtmp__fmt(datadir, sizeof(datadir), "%s/data", dir) ||
        !is_postmaster_of((pid_t)pid, datadir))
        return true; /* the pid now names something else */
    kill((pid_t)pid, SIGQUIT);
    if (wait_gone((pid_t)pid, STALE_QUIT_WAIT_S))
        return true;
    kill((pid_t)pid, SIGKILL);
    return wait_gone((pid_t)pid, STALE_KILL_WAIT_S);
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
            strcmp(e->d_name, PV_PGTMP_OWNER_TMP) != 0)
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
    if (!pv_pgtmp__fmt(path, sizeof(path), "%s/%s", base, name))
        return false;
    int fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool remove = false;
    if (fstatat(fd, PV_PGTMP_OWNER_FILE, &ost, AT_SYMLINK_NOFOLLOW) != 0) {
        /* Crashed between mkdtemp and writing owner.pid: empty, ours, and old. */
        remove = errno == ENOENT && st.st_uid == me &&
                 time(NULL) - st.st_mtime > PV_PGTMP_ORPHAN_AGE_S && only_unfinished_owner(fd);
    } else if (S_ISREG(ost.st_mode) && ost.st_uid == me) {
        char buf[128];
        long pid;
        unsigned long long start;
        remove = read_small_file(fd, PV_PGTMP_OWNER_FILE, buf, sizeof(buf)) > 0 &&
                 parse_owner(buf, &pid, &start) && !owner_alive((pid_t)pid, start) &&
                 stop_stale_server(fd, path);
    }
    close(fd);
    return remove && pv_pgtmp__remove_tree(path);
}

int pv_pgtmp_cleanup_stale(void)
{
    char base[PATH_MAX];
    if (!pv_pgtmp__tmp_base(base, sizeof(base)))
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
