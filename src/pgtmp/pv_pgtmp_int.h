/*
 * pv_pgtmp_int.h - what the files of the throwaway server share, and nothing
 * outside src/pgtmp/pv_pgtmp*.c may include: the server struct, whom the
 * children run as, and the pv_pgtmp__* functions one file calls in another.
 *
 *   pv_pgtmp.c         the public functions: options, the start sequence
 *                      (bindir, directory, initdb, postgres with port
 *                      retries, connection strings), stop, accessors
 *   pv_pgtmp_util.c    bounded formatting, sleeping and deadlines,
 *                      /proc/PID/stat
 *   pv_pgtmp_child.c   whom the children run as (postgres when we are
 *                      root), fork + execve with a report pipe, waiting
 *                      for and stopping a child
 *   pv_pgtmp_bin.c     finding initdb and postgres (the bindir)
 *   pv_pgtmp_dir.c     the server directory: $TMPDIR, its layout and
 *                      owner.pid, creating it, removing a tree
 *   pv_pgtmp_server.c  running initdb, picking a port, starting postgres
 *                      and waiting until it accepts connections, log tails
 *   pv_pgtmp_stale.c   removing directories left by crashed runs
 *                      (pv_pgtmp_cleanup_stale)
 *   pv_pgtmp_cache.c   the initdb cache (opts->initdb_cache): a cluster
 *                      copied instead of running initdb
 *
 * Errors: functions taking a pv_err return 0 or VOLLEY_ESERVER (or
 * VOLLEY_ENOMEM) with err set to one line; err may be NULL where noted.
 */
#ifndef PV_PGTMP_INT_H
#define PV_PGTMP_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "common/pv_common.h"
#include "pgtmp/pv_pgtmp.h"

#define PV_PGTMP_DEFAULT_MAX_CONNECTIONS 1100
#define PV_PGTMP_DEFAULT_START_TIMEOUT_S 60.0
/* Ports tried when another process takes the one picked before postgres binds it. */
#define PV_PGTMP_PORT_ATTEMPTS 5
#define PV_PGTMP_PREFIX        "pgvolley-"
#define PV_PGTMP_OWNER_FILE    "owner.pid"
#define PV_PGTMP_OWNER_TMP     "owner.pid.tmp"
/* A pgvolley-* directory without owner.pid is removed only after this long. */
#define PV_PGTMP_ORPHAN_AGE_S 3600
/* Longest socket directory postgres accepts: sun_path minus "/.s.PGSQL.65535". */
#define PV_PGTMP_MAX_SOCKDIR (sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - 15)
/* Polling a child or the server backs off from 1 ms up to this. */
#define PV_PGTMP_POLL_MAX_MS 16
/* Part of the initdb cache's key: bump it with run_initdb's arguments, so
 * that clusters made with the old ones are not copied. */
#define PV_PGTMP_INITDB_ARGS_VERSION 1
/* pv_pgtmp__start_server: the port was taken, try another. */
#define PV_PGTMP_START_RETRY 1

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
    bool from_cache; /* the cluster was copied from the initdb cache */
};

/* Whom the children run as: the caller, or `postgres` when we are root. */
struct run_as {
    bool drop; /* true: switch to uid/gid before exec */
    uid_t uid;
    gid_t gid;
};

/* ---- pv_pgtmp_util.c ---- */

void pv_pgtmp__sleep_ms(unsigned ms);
/* pv_now_ns() + seconds. */
uint64_t pv_pgtmp__deadline_after(double seconds);
/* snprintf into a fixed buffer; false if it did not fit. */
bool PV_PRINTF(3, 4) pv_pgtmp__fmt(char *out, size_t n, const char *f, ...);
/*
 * Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat) and its state letter; either pointer may be NULL. pid 0
 * means ourselves. @return 0, or -1 if the process is gone or /proc cannot
 * be read.
 */
int pv_pgtmp__proc_stat(pid_t pid, unsigned long long *start, char *state);

/* ---- pv_pgtmp_child.c ---- */

/* The caller, or the postgres user when we are root (an error if there is none). */
int pv_pgtmp__resolve_run_as(struct run_as *as, pv_err *err);
/*
 * Opens path with O_CLOEXEC and makes sure the descriptor is >= 3.
 * @return the descriptor, or -1 with errno set.
 */
int pv_pgtmp__open_high(const char *path, int flags, mode_t mode);

/* A program to start. */
struct spawn {
    const char *path;  /* absolute path of the program */
    char *const *argv; /* argv[0] included, NULL-terminated */
    int out_fd;        /* stdout; -1 = /dev/null */
    int err_fd;        /* stderr; -1 = /dev/null */
    const char *cwd;   /* NULL = unchanged */
    const struct run_as *as;
};

/*
 * Starts a child. On success *pid is set and the program has been exec'd.
 * On failure the child (if any) is reaped and err (may be NULL) says which
 * step failed.
 */
int pv_pgtmp__spawn(const struct spawn *s, pid_t *pid, pv_err *err);
/*
 * 1: the child exited (*status set, if status is not NULL; -1 if someone
 * else reaped it), 0: it is still running at the deadline (pv_now_ns).
 */
int pv_pgtmp__wait_child(pid_t pid, uint64_t deadline, int *status);
/* A wait status in words ("exit code 1", "killed by signal 9 (Killed)"). */
void pv_pgtmp__describe_status(int status, char *out, size_t n);
/* Stops and reaps a child: fast shutdown, then immediate, then SIGKILL. */
void pv_pgtmp__stop_child(pid_t pid);

/* ---- pv_pgtmp_bin.c ---- */

/* given if not NULL (checked), else pg_config --bindir, initdb on PATH, Debian's. */
int pv_pgtmp__find_bindir(const char *given, char *out, size_t n, pv_err *err);

/* ---- pv_pgtmp_dir.c ---- */

/* $TMPDIR (default /tmp) as an absolute path without a trailing slash ("" for /). */
bool pv_pgtmp__tmp_base(char *out, size_t n);
/*
 * Creates pgvolley-XXXXXX with owner.pid and sock/ and fills p's paths;
 * sets *made once the directory exists (the caller removes it on failure).
 */
int pv_pgtmp__make_dirs(pv_pgtmp *p, const struct run_as *as, bool *made, pv_err *err);
/* Removes dir recursively without following symlinks; true if it is gone. */
bool pv_pgtmp__remove_tree(const char *dir);

/* ---- pv_pgtmp_server.c ---- */

/* initdb into p->datadir, within the deadline (timeout_s is for the message). */
int pv_pgtmp__run_initdb(pv_pgtmp *p, const struct run_as *as, uint64_t deadline, double timeout_s,
                         pv_err *err);
/*
 * Starts postgres on a free port (p->pid, p->port) and waits until it
 * accepts connections. @return 0, PV_PGTMP_START_RETRY (only if may_retry:
 * the port was taken, p->pid is 0) or an error code.
 */
int pv_pgtmp__start_server(pv_pgtmp *p, const struct run_as *as, const struct pv_pgtmp_opts *opts,
                           int max_connections, uint64_t deadline, double timeout_s, bool may_retry,
                           pv_err *err);

/* ---- pv_pgtmp_cache.c ---- */

/* Creates the cache directory if needed; it must be the caller's and writable by nobody else. */
int pv_pgtmp__cache_check(const char *cache, pv_err *err);
/* Copies the cached cluster for p->bindir into p->datadir; false (nothing left) if none. */
bool pv_pgtmp__cache_fetch(pv_pgtmp *p, const char *cache, const struct run_as *as);
/* Keeps a copy of the fresh cluster in p->datadir, unless there is one; best effort. */
void pv_pgtmp__cache_store(const pv_pgtmp *p, const char *cache, const struct run_as *as);

#endif /* PV_PGTMP_INT_H */
