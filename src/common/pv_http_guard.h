/*
 * pv_http_guard.h - the checks every request to pgvolley's HTTP servers
 * passes (`pgvolley serve`, `pgvolley mcp --http`): Host and Origin (DNS
 * rebinding, cross-site requests), the bearer token (compared in constant
 * time), and the cookie of a signed-in browser (`pgvolley serve` only).
 * Pure functions of the header texts: no HTTP library.
 */
#ifndef PV_HTTP_GUARD_H
#define PV_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

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

/**
 * The value of cookie name in a Cookie header (NULL: absent), copied into
 * out (cap bytes, NUL-terminated). @return false when the header has no
 * such cookie or its value does not fit (out is then "").
 */
bool pv_http_cookie_get(const char *cookie, const char *name, char *out, size_t cap);

/** Whether method may change something: anything but GET, HEAD and OPTIONS. */
bool pv_http_method_unsafe(const char *method);

/**
 * The cross-site check of a request authenticated by a cookie (a browser
 * sends the cookie with requests other sites make it send, unlike a bearer
 * header), on top of pv_http_host_origin_ok: a request that may change
 * something must carry an Origin that is exactly http:// or https:// and
 * the request's Host (on loopback pv_http_host_origin_ok lets any loopback
 * origin through, and a cookie's SameSite does not tell ports apart: a page
 * of another local port must not act with the cookie) and, when the
 * browser says where it comes from (Sec-Fetch-Site, NULL: absent), come
 * from the same origin. Safe methods pass.
 */
bool pv_http_cookie_request_ok(const char *method, const char *host, const char *origin,
                               const char *sec_fetch_site);

#endif /* PV_HTTP_GUARD_H */
