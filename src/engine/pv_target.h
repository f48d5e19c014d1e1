/*
 * pv_target.h - the server a run talks to: connection parameters prepared
 * once (so the event loops never block on name lookups), and a blocking
 * probe that checks the server is reachable and reads what the report says
 * about it.
 *
 * Never re-implements libpq's defaults: a NULL or empty conninfo means
 * PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE, ~/.pgpass ... as libpq reads
 * them. Passwords are kept only inside the keyword/value arrays handed to
 * libpq and are never copied into pv_target's visible fields.
 */
#ifndef PV_TARGET_H
#define PV_TARGET_H

#include "common/pv_common.h"

typedef struct pv_target pv_target;

/* What the report shows about the server (no password, ever). */
struct pv_target_info {
    char host[256]; /* host name, IP or socket directory */
    int port;
    char dbname[128];
    char user[128];
    char server_version[64]; /* e.g. "15.18" */
    int server_version_num;  /* e.g. 150018 */
};

/**
 * Parses conninfo (key=value string or URI), connects once (blocking, with
 * connect_timeout_s), reads the server's identity and closes. When the
 * conninfo names one host by name, its resolved address is kept as hostaddr
 * for later non-blocking connects.
 * @param application_name used unless the conninfo sets one.
 * @param err libpq's message when the server cannot be reached.
 * @return 0, VOLLEY_EINVAL (conninfo does not parse), VOLLEY_ECONNECT or
 *         VOLLEY_ENOMEM.
 */
int pv_target_create(const char *conninfo, double connect_timeout_s, const char *application_name,
                     pv_target **out, pv_err *err);
void pv_target_destroy(pv_target *t);

/** Borrowed; valid until pv_target_destroy. */
const struct pv_target_info *pv_target_info(const pv_target *t);

/**
 * NULL-terminated keyword/value arrays for PQconnectStartParams (with
 * expand_dbname = 0). Borrowed; valid until pv_target_destroy.
 */
const char *const *pv_target_keywords(const pv_target *t);
const char *const *pv_target_values(const pv_target *t);

#endif /* PV_TARGET_H */
