/*
 * pv_pgtmp.c - a throwaway PostgreSQL server, the public functions: check the
 * options, then find the binaries, make the directory, run initdb and start
 * postgres (see pv_pgtmp_int.h for the files that do each step); stop it and
 * remove everything again.
 */
#include "pgtmp/pv_pgtmp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pgtmp/pv_pgtmp_int.h"

/* A conninfo value, quoted when it must be. */
static bool conninfo_value(char *out, size_t n, const char *v)
{
    if (*v && !strpbrk(v, " \t\n'\\="))
        return pv_pgtmp__fmt(out, n, "%s", v);
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
    static const struct pv_pgtmp_opts defaults = {.bindir = NULL};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    int max_connections =
        opts->max_connections ? opts->max_connections : PV_PGTMP_DEFAULT_MAX_CONNECTIONS;
    double timeout_s =
        opts->start_timeout_s != 0.0 ? opts->start_timeout_s : PV_PGTMP_DEFAULT_START_TIMEOUT_S;
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
    if (opts->initdb_cache) {
        int crc = pv_pgtmp__cache_check(opts->initdb_cache, err);
        if (crc)
            return crc;
    }
    uint64_t deadline = pv_pgtmp__deadline_after(timeout_s);

    pv_pgtmp_cleanup_stale();

    struct run_as as;
    int rc = pv_pgtmp__resolve_run_as(&as, err);
    if (rc)
        return rc;
    pv_pgtmp *p = calloc(1, sizeof(*p));
    if (!p)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    bool made = false;
    rc = pv_pgtmp__find_bindir(opts->bindir, p->bindir, sizeof(p->bindir), err);
    if (rc)
        goto fail;
    rc = pv_pgtmp__make_dirs(p, &as, &made, err);
    if (rc)
        goto fail;
    p->from_cache = opts->initdb_cache && pv_pgtmp__cache_fetch(p, opts->initdb_cache, &as);
    if (!p->from_cache) {
        rc = pv_pgtmp__run_initdb(p, &as, deadline, timeout_s, err);
        if (rc)
            goto fail;
        if (opts->initdb_cache)
            pv_pgtmp__cache_store(p, opts->initdb_cache, &as);
    }
    for (int attempt = 1;; attempt++) {
        rc = pv_pgtmp__start_server(p, &as, opts, max_connections, deadline, timeout_s,
                                    attempt < PV_PGTMP_PORT_ATTEMPTS, err);
        if (rc != PV_PGTMP_START_RETRY)
            break;
    }
    if (rc)
        goto fail;

    char host[PATH_MAX + 8];
    if (!conninfo_value(host, sizeof(host), p->sockdir) ||
        !pv_pgtmp__fmt(p->conninfo, sizeof(p->conninfo),
                       "host=%s port=%d user=postgres dbname=postgres", host, p->port)) {
        rc = pv_err_set(err, VOLLEY_ESERVER, "the socket directory path is too long");
        goto fail;
    }
    pv_pgtmp__fmt(p->uri, sizeof(p->uri), "postgresql://postgres@127.0.0.1:%d/postgres", p->port);
    *out = p;
    return 0;

fail:
    if (p->pid > 0)
        pv_pgtmp__stop_child(p->pid);
    if (made)
        pv_pgtmp__remove_tree(p->dir);
    free(p);
    return rc;
}

void pv_pgtmp_stop(pv_pgtmp *p)
{
    if (!p)
        return;
    if (p->pid > 0)
        pv_pgtmp__stop_child(p->pid);
    pv_pgtmp__remove_tree(p->dir);
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

bool pv_pgtmp_from_cache(const pv_pgtmp *p)
{
    return p->from_cache;
}
