/*
 * cli_output.c - where reports go: stdout (every write checked) and the
 * -o file (atomic for files, straight through for devices and FIFOs), and
 * the standard descriptors a process must have before libuv runs.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Symbolic links followed at most while resolving an -o path (as the kernel's MAXSYMLINKS). */
#define OUT_MAX_LINKS 40

int cli_std_fds_open(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* The lower ones are open, so open() returns fd itself. */
        int nfd = open("/dev/null", O_RDWR);
        if (nfd < 0)
            return -1;
        if (nfd != fd) {
            int rc = dup2(nfd, fd);
            close(nfd);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- stdout ----------------------------------------------------------- */

/* Writes all of data to fd; waits when fd is non-blocking. 0 or -1 (errno). */
static int write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int stdout_failed(const char *what)
{
    if (errno == EPIPE)
        return CLI_EXIT_SIGPIPE;
    cli_error("cannot write %s to stdout: %s", what, strerror(errno));
    return CLI_EXIT_INTERNAL;
}

int cli_write_stdout(const char *data, size_t len)
{
    if (fflush(stdout) != 0 || write_all(STDOUT_FILENO, data, len) != 0)
        return stdout_failed("the report");
    return CLI_EXIT_OK;
}

int cli_finish(int code)
{
    errno = 0;
    if (fclose(stdout) != 0 && code != CLI_EXIT_INTERNAL && code != CLI_EXIT_SIGPIPE)
        code = stdout_failed("the output");
    if (code == CLI_EXIT_SIGPIPE) {
        /* As pgbench and psql do when their reader went away: die of SIGPIPE, quietly. */
        signal(SIGPIPE, SIG_DFL);
        raise(SIGPIPE);
        code = 128 + SIGPIPE; /* not reached */
    }
    return code;
}

/* ---- -o FILE ---------------------------------------------------------- */

enum out_kind {
    OUT_NEW,     /* nothing there yet: a new file, written atomically */
    OUT_REGULAR, /* a regular file: replaced atomically, keeping its mode */
    OUT_STREAM,  /* a device, a FIFO or a /proc descriptor: written straight through */
};

struct out_target {
    enum out_kind kind;
    char *path;  /* malloc'd: the file to replace (a symbolic link's target), or
                    the path to open (OUT_STREAM) */
    mode_t mode; /* OUT_REGULAR: the permissions to keep */
};

/* p with its directory made absolute and free of links (realpath). NULL (errno set). */
static char *canon_dir(const char *p)
{
    const char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    char dir[PATH_MAX];
    if (!slash) {
        memcpy(dir, ".", 2);
    } else if (slash == p) {
        memcpy(dir, "/", 2);
    } else {
        size_t n = (size_t)(slash - p);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        memcpy(dir, p, n);
        dir[n] = '\0';
    }
    char *real = realpath(dir, NULL);
    if (!real)
        return NULL;
    size_t rlen = strlen(real), blen = strlen(base);
    bool root = rlen == 1;
    char *out = malloc(rlen + blen + 2);
    if (out) {
        memcpy(out, real, rlen);
        out[root ? 1 : rlen] = '/';
        memcpy(out + (root ? 1 : rlen + 1), base, blen + 1);
    }
    free(real);
    if (!out)
        errno = ENOMEM;
    return out;
}

/* link's target, relative to the directory holding link (absolute). NULL (errno set). */
static char *link_target(const char *link)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    const char *slash = strrchr(link, '/');
    size_t dlen = buf[0] == '/' || !slash ? 0 : (size_t)(slash - link) + 1;
    char *p = malloc(dlen + (size_t)n + 1);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(p, link, dlen);
    memcpy(p + dlen, buf, (size_t)n + 1);
    return p;
}

/*
 * What path names, following symbolic links one by one (so that a link to
 * a file that does not exist yet names the file to create); its directory
 * must exist. A path into /proc (/dev/stdout, /dev/fd/N) names an open
 * descriptor: written through.
 * @return 0, or -1 with errno set (EISDIR for a directory, ENXIO for a
 *         socket or anything else that cannot take a report).
 */
static int out_resolve(const char *path, struct out_target *t)
{
    char *p = NULL;
    for (int i = 0; i <= OUT_MAX_LINKS; i++) {
        struct stat st;
        char *c = canon_dir(p ? p : path);
        free(p);
        p = c;
        if (!p)
            goto fail;
        if (strncmp(p, "/proc/", 6) == 0) {
            if (stat(path, &st) != 0)
                goto fail;
            if (S_ISDIR(st.st_mode)) {
                errno = EISDIR;
                goto fail;
            }
            free(p);
            t->kind = OUT_STREAM;
            t->path = strdup(path);
            return t->path ? 0 : -1;
        }
        if (lstat(p, &st) != 0) {
            if (errno != ENOENT)
                goto fail;
            t->kind = OUT_NEW;
            t->path = p;
            return 0;
        }
        if (S_ISLNK(st.st_mode)) {
            char *next = link_target(p);
            if (!next)
                goto fail;
            free(p);
            p = next;
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            t->kind = OUT_REGULAR;
            t->mode = st.st_mode & 0777;
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
            t->kind = OUT_STREAM;
        } else {
            errno = S_ISDIR(st.st_mode) ? EISDIR : ENXIO;
            goto fail;
        }
        t->path = p;
        return 0;
    }
    errno = ELOOP;
fail:;
    int saved = errno;
    free(p);
    errno = saved;
    return -1;
}

/* A new temporary file next to target. @return its descriptor (*tmp set, to free) or -1. */
static int tmp_create(const char *target, char **tmp)
{
    size_t n = strlen(target) + 32;
    *tmp = malloc(n);
    if (!*tmp)
        return -1;
    snprintf(*tmp, n, "%s.tmp.%ld", target, (long)getpid());
    int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && unlink(*tmp) == 0) /* left by a killed run */
        fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        int saved = errno;
        free(*tmp);
        *tmp = NULL;
        errno = saved;
    }
    return fd;
}

int cli_output_check(const char *path)
{
    struct out_target t = {0};
    int ok = out_resolve(path, &t) == 0;
    if (ok && t.kind == OUT_STREAM) {
        ok = access(t.path, W_OK) == 0;
    } else if (ok) {
        /* Creating the temporary file the report will be written to proves the directory takes it.
         */
        char *tmp = NULL;
        int fd = tmp_create(t.path, &tmp);
        ok = fd >= 0;
        if (ok) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
    }
    if (!ok) {
        if (errno == ENXIO)
            cli_error("cannot write the report to %s: not a file, a device or a FIFO", path);
        else
            cli_error("cannot write the report to %s: %s", path, strerror(errno));
    }
    free(t.path);
    return ok ? 0 : -1;
}

static int write_stream(const char *path, const char *data, size_t len)
{
    /* O_APPEND: /dev/stdout on a file already holding the table gets the report after it. */
    int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (write_all(fd, data, len) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

static int write_replace(const struct out_target *t, const char *data, size_t len)
{
    char *tmp = NULL;
    int fd = tmp_create(t->path, &tmp);
    if (fd < 0)
        return -1;
    if (t->kind == OUT_REGULAR && fchmod(fd, t->mode) != 0)
        goto fail;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
        goto fail;
    int rc = close(fd);
    fd = -1;
    if (rc != 0 || rename(tmp, t->path) != 0)
        goto fail;
    free(tmp);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    errno = saved;
    return -1;
}

int cli_output_write(const char *path, const char *data, size_t len)
{
    struct out_target t = {0};
    if (out_resolve(path, &t) != 0)
        return -1;
    int rc = t.kind == OUT_STREAM ? write_stream(t.path, data, len) : write_replace(&t, data, len);
    int saved = errno;
    free(t.path);
    errno = saved;
    return rc;
}
