/* pv_workload_files.c - reading workload files and directories of them (pv_workload_add_path). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "workload/pv_workload_int.h"

/* Refuses what is not a regular file: a FIFO or a device would block or never end. */
static int not_regular(const char *path, mode_t mode, pv_err *err)
{
    const char *what = S_ISFIFO(mode)                   ? "a FIFO"
                       : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                       : S_ISSOCK(mode)                 ? "a socket"
                                                        : "not a regular file";
    return pv_err_set(err, VOLLEY_EINPUT, "%s: is %s; a workload must be a regular file", path,
                      what);
}

/* Reads a regular file (anything else is refused without reading it). */
int pv_workload__read_file(const char *path, size_t max, char **out, size_t *outlen, pv_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return not_regular(path, st.st_mode, err);
    /* O_NONBLOCK: should path become a FIFO after stat, open does not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_regular(path, st.st_mode, err);
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return pv_err_set(err, VOLLEY_EINPUT, "%s: file is larger than the limit of %zu bytes",
                          path, max);
    }
    /* Read up to max + 1 bytes: the file may grow. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = NULL;
    int rc = 0;
    for (;;) {
        if (len == cap || !buf) {
            if (buf)
                cap = PV_MIN(cap * 2, max + 1);
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            rc = pv_err_set(err, VOLLEY_EINPUT, "%s: file is larger than the limit of %zu bytes",
                            path, max);
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int add_file(pv_workload *w, const char *path, pv_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = pv_workload__read_file(path, w->opts.max_file_bytes, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = pv_workload_add_text(w, path, text, len, err);
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_sql_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

/* Every *.sql directly inside dir (not hidden, not a directory), sorted by name. */
static int add_dir(pv_workload *w, const char *dir, pv_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", dir, strerror(errno));
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    char **paths = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", dir, strerror(errno));
            break;
        }
        if (!is_sql_name(de->d_name))
            continue;
        pv_buf p = PV_BUF_INIT;
        pv_buf_printf(&p, "%s%s%s", dir, sep, de->d_name);
        struct stat st;
        /* A broken link is kept, so that reading it reports why. */
        if (pv_buf_ok(&p) == 0 && stat(p.data, &st) == 0 && !S_ISREG(st.st_mode)) {
            pv_buf_fini(&p);
            continue;
        }
        if (pv_buf_ok(&p) != 0 ||
            pv_workload__grow((void **)&paths, &cap, n + 1, sizeof(*paths)) != 0) {
            pv_buf_fini(&p);
            rc = pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", dir);
            break;
        }
        paths[n++] = p.data;
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = pv_err_set(err, VOLLEY_EINPUT, "%s: no *.sql file in this directory", dir);
    if (rc == 0) {
        /* Same prefix everywhere, so sorting paths sorts names. */
        qsort(paths, n, sizeof(*paths), cmp_str);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = add_file(w, paths[i], err);
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

int pv_workload_add_path(pv_workload *w, const char *path, pv_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t before = w->nqueries;
    int rc = S_ISDIR(st.st_mode) ? add_dir(w, path, err) : add_file(w, path, err);
    if (rc != 0) {
        /* Nothing from this path stays. */
        while (w->nqueries > before)
            pv_workload__query_free(w->queries[--w->nqueries]);
    }
    return rc;
}
