/*
 * pv_pgtmp_cache.c - the initdb cache: a directory that keeps one freshly
 * initialised cluster (never started) per server build and caller, copied
 * into each new throwaway server instead of running initdb again.
 *
 *   CACHE/pg-<key>/             a complete copy of initdb's output
 *   CACHE/pg-<key>.tmp-XXXXXX/  one being written (renamed when whole)
 *
 * The key hashes the bindir, the size, time and inode of its postgres and
 * initdb (a new package gives a new key), the user the cluster belongs to
 * and PV_PGTMP_INITDB_ARGS_VERSION. An entry appears only by rename(2), so
 * a reader sees it whole or not at all; two processes filling it at once
 * both copy, and the second rename fails harmlessly. Filling is best
 * effort: a failure leaves the fresh cluster in use and the cache as it was.
 *
 * A start killed while filling leaves its .tmp- directory: the next fill
 * removes those older than PV_PGTMP_CACHE_TMP_AGE_S (a fill takes a second).
 *
 * The cache directory must belong to the caller and be writable by nobody
 * else: a cluster planted there would run its configuration as postgres.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

/* A .tmp- directory this old was left by a start killed while filling. */
#define PV_PGTMP_CACHE_TMP_AGE_S 600
/* Directory levels copied at most (a cluster has three). */
#define COPY_MAX_DEPTH 8

/* ---- the key ---------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bool hash_program(uint64_t *h, const char *bindir, const char *name)
{
    char path[PATH_MAX + 16];
    struct stat st;
    if (!pv_pgtmp__fmt(path, sizeof(path), "%s/%s", bindir, name) || stat(path, &st) != 0)
        return false;
    long long f[] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec,
                     (long long)st.st_mtim.tv_nsec, (long long)st.st_ino, (long long)st.st_dev};
    *h = fnv1a(*h, f, sizeof(f));
    return true;
}

/* CACHE/pg-<key> for this bindir and owner; false if it cannot be made. */
static bool entry_path(const char *cache, const char *bindir, const struct run_as *as, char *out,
                       size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    long long who[] = {PV_PGTMP_INITDB_ARGS_VERSION, as->drop ? (long long)as->uid : -1};
    h = fnv1a(h, bindir, strlen(bindir) + 1);
    h = fnv1a(h, who, sizeof(who));
    if (!hash_program(&h, bindir, "postgres") || !hash_program(&h, bindir, "initdb"))
        return false;
    return pv_pgtmp__fmt(out, n, "%s/pg-%016llx", cache, (unsigned long long)h);
}

/* ---- copying a cluster ------------------------------------------------------ */

static int give(int fd, const struct run_as *as)
{
    return as->drop ? fchown(fd, as->uid, as->gid) : 0;
}

static int copy_file(int sdir, int ddir, const char *name, const struct stat *st,
                     const struct run_as *as)
{
    int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    int rc = 0;
    bool plain = false; /* read and write once copy_file_range is refused */
    for (off_t left = st->st_size; left > 0 && rc == 0;) {
        ssize_t k = -1;
        if (!plain) {
            k = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
            if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                          errno == EOPNOTSUPP || errno == EPERM)) {
                plain = true;
                continue;
            }
        } else {
            char buf[65536];
            k = read(in, buf, sizeof(buf));
            for (ssize_t w = 0, off = 0; k > 0 && off < k; off += w) {
                w = write(out, buf + off, (size_t)(k - off));
                if (w < 0) {
                    k = -1;
                    break;
                }
            }
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) /* an error, or the file shrank: not a cluster at rest */
            rc = -1;
        else
            left -= k;
    }
    if (rc == 0 && (fchmod(out, st->st_mode & 07777) != 0 || give(out, as) != 0))
        rc = -1;
    int e = errno;
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = -1;
    else
        errno = e;
    return rc;
}

/* Copies the entries of directory sdir into ddir (both open), depth levels deep at most. */
static int copy_dir(int sdir, int ddir, const struct run_as *as, int depth)
{
    if (depth > COPY_MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    int fd = dup(sdir);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(sdir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = -1;
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(sdir, ddir, e->d_name, &st, as);
        } else if (S_ISDIR(st.st_mode)) {
            int s2 = -1, d2 = -1;
            rc = mkdirat(ddir, e->d_name, 0700);
            if (rc == 0) {
                s2 = openat(sdir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                d2 = openat(ddir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                rc = s2 < 0 || d2 < 0 ? -1 : copy_dir(s2, d2, as, depth + 1);
            }
            if (rc == 0 && (fchmod(d2, st.st_mode & 07777) != 0 || give(d2, as) != 0))
                rc = -1;
            int keep = errno;
            if (s2 >= 0)
                close(s2);
            if (d2 >= 0)
                close(d2);
            errno = keep;
        } else { /* initdb makes only files and directories */
            errno = EINVAL;
            rc = -1;
        }
    }
    if (rc == 0 && errno != 0) /* readdir failed */
        rc = -1;
    int keep = errno;
    closedir(d);
    errno = keep;
    return rc;
}

/* Copies the cluster in src to dst, which must not exist; on failure dst is removed. */
static int copy_cluster(const char *src, const char *dst, const struct run_as *as)
{
    struct stat st;
    int s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0)
        return -1;
    int rc = fstat(s, &st);
    if (rc == 0)
        rc = mkdir(dst, 0700);
    if (rc != 0) {
        close(s);
        return -1;
    }
    int d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    rc = d < 0 ? -1 : copy_dir(s, d, as, 0);
    if (rc == 0 && (fchmod(d, st.st_mode & 07777) != 0 || give(d, as) != 0))
        rc = -1;
    int keep = errno;
    close(s);
    if (d >= 0)
        close(d);
    if (rc != 0)
        pv_pgtmp__remove_tree(dst);
    errno = keep;
    return rc;
}

/* ---- using the cache -------------------------------------------------------- */

int pv_pgtmp__cache_check(const char *cache, pv_err *err)
{
    struct stat st;
    if (mkdir(cache, 0700) != 0 && errno != EEXIST)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create the initdb cache %s: %s", cache,
                          strerror(errno));
    if (lstat(cache, &st) != 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot use the initdb cache %s: %s", cache,
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return pv_err_set(err, VOLLEY_ESERVER, "the initdb cache %s is not a directory", cache);
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return pv_err_set(err, VOLLEY_ESERVER,
                          "the initdb cache %s must belong to this user and be writable by "
                          "nobody else (it holds clusters the server would run)",
                          cache);
    return 0;
}

bool pv_pgtmp__cache_fetch(pv_pgtmp *p, const char *cache, const struct run_as *as)
{
    char entry[PATH_MAX];
    struct stat st;
    if (!entry_path(cache, p->bindir, as, entry, sizeof(entry)) || lstat(entry, &st) != 0 ||
        !S_ISDIR(st.st_mode))
        return false;
    return copy_cluster(entry, p->datadir, as) == 0;
}

/* Removes the pg-*.tmp-* directories of fills that ended long ago without a rename. */
static void remove_stale_fills(const char *cache)
{
    DIR *d = opendir(cache);
    if (!d)
        return;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[PATH_MAX];
        struct stat st;
        if (strncmp(e->d_name, "pg-", 3) != 0 || !strstr(e->d_name, ".tmp-") ||
            !pv_pgtmp__fmt(path, sizeof(path), "%s/%s", cache, e->d_name) ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
            now - st.st_mtime < PV_PGTMP_CACHE_TMP_AGE_S)
            continue;
        pv_pgtmp__remove_tree(path);
    }
    closedir(d);
}

void pv_pgtmp__cache_store(const pv_pgtmp *p, const char *cache, const struct run_as *as)
{
    char entry[PATH_MAX], tmp[PATH_MAX + 16], data[PATH_MAX + 24];
    struct stat st;
    remove_stale_fills(cache);
    if (!entry_path(cache, p->bindir, as, entry, sizeof(entry)) || lstat(entry, &st) == 0 ||
        !pv_pgtmp__fmt(tmp, sizeof(tmp), "%s.tmp-XXXXXX", entry) || !mkdtemp(tmp))
        return;
    /* the cluster goes one level down, so that the entry appears by one rename */
    if (pv_pgtmp__fmt(data, sizeof(data), "%s/data", tmp) &&
        copy_cluster(p->datadir, data, as) == 0 && rename(data, entry) == 0) {
        rmdir(tmp);
        return;
    }
    pv_pgtmp__remove_tree(tmp); /* lost a race with another start, or could not copy */
}
