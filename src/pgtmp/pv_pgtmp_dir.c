/*
 * pv_pgtmp_dir.c - the server directory: $TMPDIR, creating
 * pgvolley-XXXXXX with its owner file and socket directory, and removing a
 * directory tree.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

/* Directory descriptors nftw may hold open at once. */
#define REMOVE_TREE_FDS 16

/* ---- the server directory ------------------------------------------------- */

/* $TMPDIR (default /tmp) as an absolute path without a trailing slash. */
bool pv_pgtmp__tmp_base(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char real[PATH_MAX];
    if (!realpath(tmp, real))
        return false;
    return pv_pgtmp__fmt(out, n, "%s", strcmp(real, "/") == 0 ? "" : real);
}

/* Writes owner.pid atomically (temporary file + rename). */
static int write_owner(const char *dir)
{
    unsigned long long start = 0;
    pv_pgtmp__proc_stat(0, &start, NULL); /* 0 = unknown: the pid alone decides */
    char line[64], tmp[PATH_MAX], final[PATH_MAX];
    int len = snprintf(line, sizeof(line), "%ld %llu\n", (long)getpid(), start);
    if (!pv_pgtmp__fmt(tmp, sizeof(tmp), "%s/" PV_PGTMP_OWNER_TMP, dir) ||
        !pv_pgtmp__fmt(final, sizeof(final), "%s/" PV_PGTMP_OWNER_FILE, dir)) {
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
int pv_pgtmp__make_dirs(pv_pgtmp *p, const struct run_as *as, bool *made, pv_err *err)
{
    char base[PATH_MAX];
    if (!pv_pgtmp__tmp_base(base, sizeof(base)))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot use the temporary directory %s: %s",
                          getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                          strerror(errno));
    if (!pv_pgtmp__fmt(p->dir, sizeof(p->dir), "%s/" PV_PGTMP_PREFIX "XXXXXX", base) ||
        strlen(p->dir) + strlen("/sock") > PV_PGTMP_MAX_SOCKDIR)
        return pv_err_set(err, VOLLEY_ESERVER,
                          "the temporary directory %s is too long a path for a Unix socket; "
                          "set TMPDIR to a shorter one",
                          base[0] ? base : "/");
    if (!mkdtemp(p->dir))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create a directory in %s: %s",
                          base[0] ? base : "/", strerror(errno));
    *made = true;
    pv_pgtmp__fmt(p->datadir, sizeof(p->datadir), "%s/data", p->dir);
    pv_pgtmp__fmt(p->sockdir, sizeof(p->sockdir), "%s/sock", p->dir);
    pv_pgtmp__fmt(p->initdb_log, sizeof(p->initdb_log), "%s/initdb.log", p->dir);
    pv_pgtmp__fmt(p->server_log, sizeof(p->server_log), "%s/server.log", p->dir);
    if (write_owner(p->dir) < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot write %s/" PV_PGTMP_OWNER_FILE ": %s",
                          p->dir, strerror(errno));
    if (mkdir(p->sockdir, 0700) < 0)
        return pv_err_set(err, VOLLEY_ESERVER, "cannot create %s: %s", p->sockdir, strerror(errno));
    /* mkdtemp made the directory 0700 for root: hand it (not owner.pid) to postgres. */
    if (as->drop &&
        (chown(p->dir, as->uid, as->gid) < 0 || chown(p->sockdir, as->uid, as->gid) < 0))
        return pv_err_set(err, VOLLEY_ESERVER, "cannot give %s to the postgres user: %s", p->dir,
                          strerror(errno));
    return 0;
}

/* ---- removing a directory tree -------------------------------------------- */

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
bool pv_pgtmp__remove_tree(const char *dir)
{
    struct stat st;
    nftw(dir, remove_entry, REMOVE_TREE_FDS, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return lstat(dir, &st) != 0 && errno == ENOENT;
}
