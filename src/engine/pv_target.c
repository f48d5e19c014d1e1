/* pv_target.c - connection parameters and the blocking probe. */
#include "engine/pv_target.h"
#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pv_target {
    struct pv_target_info info;
    pv_conninfo *ci;
};

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int pv_target_create(const char *conninfo, double connect_timeout_s, const char *application_name,
                     pv_target **out, pv_err *err)
{
    pv_target *t = calloc(1, sizeof(*t));
    if (!t)
        return VOLLEY_ENOMEM;
    int rc = pv_conninfo_create(conninfo, application_name, &t->ci, err);
    if (rc == 0 && connect_timeout_s > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)(connect_timeout_s + 0.999));
        rc = pv_conninfo_set_default(t->ci, "connect_timeout", buf);
    }
    if (rc != 0)
        goto fail;

    PGconn *c = NULL;
    rc = pv_conn_connect_blocking(pv_target_keywords(t), pv_target_values(t), &c, err);
    if (rc != 0)
        goto fail;
    struct pv_target_info *in = &t->info;
    copy_str(in->host, sizeof(in->host), PQhost(c));
    in->port = (int)strtol(PQport(c) ? PQport(c) : "0", NULL, 10);
    copy_str(in->dbname, sizeof(in->dbname), PQdb(c));
    copy_str(in->user, sizeof(in->user), PQuser(c));
    copy_str(in->server_version, sizeof(in->server_version),
             PQparameterStatus(c, "server_version"));
    in->server_version[strcspn(in->server_version, " ")] = '\0';
    in->server_version_num = PQserverVersion(c);

    /*
     * Pin the address the probe reached, so that the loops' non-blocking
     * connects never resolve names (libpq's lookup blocks). Only for a
     * single named host; sockets, IPs and multi-host strings are left alone.
     */
    const char *addr = PQhostaddr(c);
    const char *name = pv_conninfo_host_to_resolve(t->ci);
    if (name && addr && addr[0]) {
        rc = pv_conninfo_set(t->ci, "host", name); /* it may have come from PGHOST */
        if (rc == 0)
            rc = pv_conninfo_set(t->ci, "hostaddr", addr);
    }
    PQfinish(c);
    if (rc != 0)
        goto fail;
    *out = t;
    return 0;

fail:
    pv_target_destroy(t);
    return rc;
}

void pv_target_destroy(pv_target *t)
{
    if (!t)
        return;
    pv_conninfo_destroy(t->ci);
    free(t);
}

const struct pv_target_info *pv_target_info(const pv_target *t)
{
    return &t->info;
}

const char *const *pv_target_keywords(const pv_target *t)
{
    return pv_conninfo_keywords(t->ci);
}

const char *const *pv_target_values(const pv_target *t)
{
    return pv_conninfo_values(t->ci);
}
