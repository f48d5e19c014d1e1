/*
 * pv_http_guard.h - the checks every request to pgvolley's HTTP servers
 * passes (`pgvolley serve`, `pgvolley mcp --http`): Host and Origin (DNS
 * rebinding, cross-site requests) and the bearer token (compared in
 * constant time). Pure functions of the header texts: no HTTP library.
 */
#ifndef PV_HTTP_GUARD_H
#define PV_HTTP_GUARD_H

#include <stdbool.h>

/** Whether o is http(s)://localhost|127.0.0.1|[::1] with an optional :port. */
bool pv_http_origin_loopback(const char *o);

/** Whether host (a Host header) names a loopback host, with an optional port. */
bool pv_http_host_loopback(const char *host);

/**
 * Whether a request's Host and Origin headers (NULL: absent) may reach a
 * server listening on loopback (loopback true) or beyond. On loopback the
 * Host must name a loopback host and an Origin must be a loopback origin;
 * beyond, an Origin must be that of the Host (scheme http or https).
 */
bool pv_http_host_origin_ok(bool loopback, const char *host, const char *origin);

/** Constant-time comparison: the time depends only on secret's length. */
bool pv_http_secret_equal(const char *given, const char *secret);

/** Whether an Authorization header (NULL: absent) is "Bearer TOKEN". */
bool pv_http_bearer_ok(const char *authorization, const char *token);

#endif /* PV_HTTP_GUARD_H */
