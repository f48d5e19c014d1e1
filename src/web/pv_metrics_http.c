/* pv_metrics_http.c - GET /metrics for Prometheus (pv_metrics_http.h). */
#include "web/pv_metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/pv_listen.h"
#include "report/pv_report_prom.h"

#define METRICS_PATH    "/metrics"
#define LISTEN_BACKLOG  16
#define MAX_CONNECTIONS 32 /* scrapers are few; more wait in the backlog */
#define CONN_TIMEOUT_S  10 /* an idle or slow client is dropped after this */
#define ALLOWED_METHODS "GET, HEAD"

struct pv_metrics_http {
    struct MHD_Daemon *d;
    int fd;
    int port;
    pv_metrics_render_fn render;
    void *arg;
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                               const char *body, size_t len, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg,
                            const char *allow)
{
    return respond(c, status, "text/plain; charset=utf-8", msg, strlen(msg), allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    pv_metrics_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    *upload_size = 0; /* a body is never read; the response closes the request */
    if (strcmp(url, METRICS_PATH) != 0)
        return text(c, MHD_HTTP_NOT_FOUND, "Not Found: the metrics are at " METRICS_PATH "\n",
                    NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed: GET or HEAD\n",
                    ALLOWED_METHODS);
    pv_buf out = PV_BUF_INIT;
    int rc = h->render(h->arg, &out);
    enum MHD_Result ret;
    if (rc == 0 && pv_buf_ok(&out) == 0)
        ret = respond(c, MHD_HTTP_OK, PV_PROM_CONTENT_TYPE, out.data, out.len, NULL);
    else
        ret =
            text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal Server Error: out of memory\n", NULL);
    pv_buf_fini(&out);
    return ret;
}

int pv_metrics_http_start(const char *host, int port, pv_metrics_render_fn render, void *arg,
                          pv_metrics_http **out, pv_err *err)
{
    pv_metrics_http *h = calloc(1, sizeof(*h));
    if (!h)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    h->fd = -1;
    h->render = render;
    h->arg = arg;
    struct pv_listen l;
    int rc = pv_listen_tcp(host, port, LISTEN_BACKLOG, &l, err);
    int family = l.family;
    h->fd = l.fd;
    h->port = l.port;
    if (rc != 0) {
        free(h);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
    if (!h->d) {
        close(h->fd);
        free(h);
        return pv_err_set(err, VOLLEY_EIO, "cannot start the metrics server on %s:%d", host, port);
    }
    *out = h;
    return 0;
}

int pv_metrics_http_port(const pv_metrics_http *h)
{
    return h->port;
}

void pv_metrics_http_stop(pv_metrics_http *h)
{
    if (!h)
        return;
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    MHD_stop_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    free(h);
}
