/*
 * pv_pgtmp.h - a throwaway PostgreSQL server for --ephemeral, the demo, the
 * tests and the benchmarks.
 *
 * Finds the server binaries (opts->bindir, else `pg_config --bindir`, else
 * initdb on PATH, else the newest /usr/lib/postgresql/N/bin), runs initdb
 * into a fresh directory under $TMPDIR (default /tmp) named pgvolley-XXXXXX,
 * and starts postgres listening on a Unix socket in that directory and on a
 * free loopback TCP port, with trust authentication for local connections
 * and settings made for throwaway use (fsync off). It waits until the
 * server accepts connections.
 *
 * When the process runs as root, initdb and postgres run as the `postgres`
 * system user (PostgreSQL refuses to run as root); if there is no such user
 * the start fails with one clear message.
 *
 * The server is a child of the calling process and is asked to die with it
 * (PR_SET_PDEATHSIG), so a crash of the caller does not leave it running;
 * directories left by a crashed run are removed by pv_pgtmp_cleanup_stale,
 * which pv_pgtmp_start calls first.
 */
#ifndef PV_PGTMP_H
#define PV_PGTMP_H

#include <stdbool.h>

#include "common/pv_common.h"

struct pv_pgtmp_opts {
    const char *bindir;                /* NULL = find it */
    int max_connections;               /* 0 = 1100 */
    double start_timeout_s;            /* 0 = 60 */
    const char *const *extra_settings; /* NULL-terminated "name=value" list, or NULL */
    /* NULL = initdb every time; else a directory (created if missing; it must
     * belong to the caller and be writable by nobody else) where the first
     * start keeps a copy of its fresh cluster, per server build, and later
     * starts copy it instead of running initdb (about 0.3 s instead of
     * 1.5 s of CPU here). The copies share one system identifier. */
    const char *initdb_cache;
};

typedef struct pv_pgtmp pv_pgtmp;

/**
 * Creates, starts and waits for a throwaway server.
 * @param opts may be NULL for defaults.
 * @param err on failure, one line saying what failed (with the tail of the
 *        server log when the server itself failed).
 * @return 0, VOLLEY_ESERVER or VOLLEY_ENOMEM. On failure nothing is left
 *         behind (no process, no directory).
 */
int pv_pgtmp_start(const struct pv_pgtmp_opts *opts, pv_pgtmp **out, pv_err *err);

/**
 * Stops the server (fast shutdown; immediate after a few seconds), removes
 * its directory and frees p. NULL is a no-op. Safe to call from a normal
 * exit path after SIGINT.
 */
void pv_pgtmp_stop(pv_pgtmp *p);

/** libpq conninfo string: "host=DIR port=N user=postgres dbname=postgres". */
const char *pv_pgtmp_conninfo(const pv_pgtmp *p);
/** The same as a URI over TCP: "postgresql://postgres@127.0.0.1:N/postgres". */
const char *pv_pgtmp_uri(const pv_pgtmp *p);
const char *pv_pgtmp_socket_dir(const pv_pgtmp *p);
const char *pv_pgtmp_bindir(const pv_pgtmp *p);
int pv_pgtmp_port(const pv_pgtmp *p);
/** Process id of the postmaster. */
int pv_pgtmp_pid(const pv_pgtmp *p);
/** true if the cluster was copied from opts->initdb_cache, not made by initdb. */
bool pv_pgtmp_from_cache(const pv_pgtmp *p);

/**
 * Removes pgvolley-* directories under $TMPDIR whose owning pgvolley process
 * is gone, stopping any server still running in them.
 * @return the number of directories removed (>= 0).
 */
int pv_pgtmp_cleanup_stale(void);

#endif /* PV_PGTMP_H */
