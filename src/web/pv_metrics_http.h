/*
 * pv_metrics_http.h - a small HTTP server for Prometheus to scrape
 * (`pgvolley run --metrics-listen ADDR:PORT`), on libmicrohttpd.
 *
 *   GET (or HEAD) /metrics  200, Content-Type PV_PROM_CONTENT_TYPE, the
 *                           body the render callback gives;
 *                           500 when it fails
 *   any other path          404
 *   /metrics, other method  405 with Allow: GET, HEAD
 *
 * It listens only on the address given (a numeric IPv4 or IPv6 address,
 * never a wildcard chosen for the user), serves from one thread of its own
 * (requests one at a time: the render callback is never called twice at
 * once) and needs no authentication: bind it where only the scraper
 * reaches.
 */
#ifndef PV_METRICS_HTTP_H
#define PV_METRICS_HTTP_H

#include "common/pv_buf.h"
#include "common/pv_common.h"

typedef struct pv_metrics_http pv_metrics_http;

/* Appends the metrics page to out (empty on entry); called on the
   server's thread, one call at a time. @return 0 or VOLLEY_ENOMEM. */
typedef int (*pv_metrics_render_fn)(void *arg, pv_buf *out);

/**
 * Binds host:port (host numeric: "127.0.0.1", "::1"; port 0 = any free one,
 * see pv_metrics_http_port) and starts serving. render and arg are
 * borrowed until pv_metrics_http_stop.
 * @return 0; VOLLEY_EINVAL (host is not a numeric address) or VOLLEY_EIO
 *         (cannot bind or listen: err says why, e.g. "Address already in
 *         use"), VOLLEY_ENOMEM. Nothing is left running on error.
 */
int pv_metrics_http_start(const char *host, int port, pv_metrics_render_fn render, void *arg,
                          pv_metrics_http **out, pv_err *err);

/** The port it listens on (the one chosen for port 0). */
int pv_metrics_http_port(const pv_metrics_http *h);

/** Stops serving (a request in progress is finished first) and frees h.
    NULL is a no-op. render is not called after it returns. */
void pv_metrics_http_stop(pv_metrics_http *h);

#endif /* PV_METRICS_HTTP_H */
