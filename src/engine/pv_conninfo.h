/*
 * pv_conninfo.h - a libpq connection string made ready for non-blocking
 * connects: parsed once into the keyword/value arrays that
 * PQconnectStartParams takes, with pgvolley's fallback_application_name,
 * and with a single host name pinned to its addresses so that no connect on
 * an event loop ever resolves a name (libpq's lookup blocks).
 *
 * Every connection string of every face goes through here (pv_target for
 * `run`, the batch executor for datasets). Never re-implements libpq's
 * defaults: a NULL or empty string means PGHOST, PGPORT, PGUSER, ... as
 * libpq reads them. Passwords stay inside the arrays handed to libpq and
 * are never echoed: parse errors are redacted.
 */
#ifndef PV_CONNINFO_H
#define PV_CONNINFO_H

#include <netdb.h>

#include "common/pv_common.h"

typedef struct pv_conninfo pv_conninfo;

/**
 * Parses conninfo (key=value string or URI; NULL = ""), and adds
 * fallback_application_name = application_name (unless NULL).
 * @param err the parse error, with quoted pieces of the string that could
 *        be secrets replaced by "...".
 * @return 0, VOLLEY_EINVAL (does not parse, or too many parameters) or
 *         VOLLEY_ENOMEM.
 */
int pv_conninfo_create(const char *conninfo, const char *application_name, pv_conninfo **out,
                       pv_err *err);
void pv_conninfo_destroy(pv_conninfo *ci);

/** Sets kw to val (replacing a value it had). @return 0, VOLLEY_EINVAL
    (too many parameters) or VOLLEY_ENOMEM. */
int pv_conninfo_set(pv_conninfo *ci, const char *kw, const char *val);

/** Sets kw to val unless the string gave kw a value. @return as pv_conninfo_set. */
int pv_conninfo_set_default(pv_conninfo *ci, const char *kw, const char *val);

/** The value of kw, or NULL. Borrowed. */
const char *pv_conninfo_get(const pv_conninfo *ci, const char *kw);

/**
 * The host name libpq would look up when connecting: one host given by
 * name (in the string, else in PGHOST), with no hostaddr. NULL for sockets,
 * IP addresses, multi-host strings and pinned strings. Borrowed.
 */
const char *pv_conninfo_host_to_resolve(const pv_conninfo *ci);

/**
 * Pins the host to the addresses of ai (a getaddrinfo result for it): libpq
 * then tries each address in turn, as it would after its own lookup
 * (host=NAME,NAME,... hostaddr=ADDR1,ADDR2,...; the name still serves
 * ~/.pgpass and TLS). @return 0, VOLLEY_EINVAL (no usable address) or
 * VOLLEY_ENOMEM.
 */
int pv_conninfo_pin(pv_conninfo *ci, const struct addrinfo *ai);

/**
 * NULL-terminated keyword/value arrays for PQconnectStartParams (with
 * expand_dbname = 0). Borrowed; valid until the next change or destroy.
 */
const char *const *pv_conninfo_keywords(const pv_conninfo *ci);
const char *const *pv_conninfo_values(const pv_conninfo *ci);

#endif /* PV_CONNINFO_H */
