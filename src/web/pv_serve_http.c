/* pv_serve_http.c - the daemon of `pgvolley serve`: listening, the checks
   every request passes, request bodies (pv_serve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/pv_http_guard.h"
#include "common/pv_listen.h"
#include "web/pv_serve_int.h"

#define LISTEN_BACKLOG   64
#define DEFAULT_MAX_BODY (4u << 20)
#define DEFAULT_MAX_CONN 64
#define PER_IP_DIVISOR   2  /* beyond loopback: one address gets half the connections */
#define CONN_TIMEOUT_S   60 /* event streams send a comment every 15 s */

/* ==== responses ========================================================= */

enum MHD_Result pv_serve__respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  const char *body, size_t len, const char *hname,
                                  const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result pv_serve__json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (!s)
        return pv_serve__respond(c, 500, "application/json",
                                 "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}", 48,
                                 NULL, NULL);
    enum MHD_Result ret =
        pv_serve__respond(c, status, "application/json", s, strlen(s), NULL, NULL);
    free(s);
    return ret;
}

enum MHD_Result pv_serve__error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[PV_ERR_LEN * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:{s:i,s:s}}", "error", "status", (int)status, "message", msg);
    return pv_serve__json(c, status, e);
}

/* ==== requests ========================================================== */

/* One request's state between libmicrohttpd's calls: its body so far. */
struct req {
    pv_buf body;
    bool too_big;
    bool checked;
    int refused;    /* enum refusal */
    size_t dropped; /* bytes of a refused request's body read and dropped */
};

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

bool pv_serve__is_ui(const char *method, const char *url)
{
    return strcmp(method, "GET") == 0 && strncmp(url, "/api/", 5) != 0;
}

/* Why a request is refused (REFUSE_NONE: it is not). */
enum refusal { REFUSE_NONE, REFUSE_HOST, REFUSE_AUTH, REFUSE_COOKIE_ORIGIN };

/* Host and Origin, then, with a token, who is asking: the dashboard's
   files and POST /api/login are open to anybody; the rest needs the bearer
   header, or a session's cookie (and, for a request that changes
   something, an Origin: pv_http_cookie_request_ok). */
static enum refusal check(pv_serve *s, struct MHD_Connection *c, const char *method,
                          const char *url)
{
    const char *origin = header(c, "Origin");
    if (!pv_http_host_origin_ok(s->loopback, header(c, "Host"), origin))
        return REFUSE_HOST;
    if (!pv_serve__auth_required(s->auth) || pv_serve__is_ui(method, url) ||
        strcmp(url, "/api/login") == 0 ||
        pv_http_bearer_ok(header(c, MHD_HTTP_HEADER_AUTHORIZATION), s->token))
        return REFUSE_NONE;
    if (!pv_serve__auth_session(s->auth, c))
        return REFUSE_AUTH;
    if (!pv_http_cookie_request_ok(method, header(c, "Host"), origin, header(c, "Sec-Fetch-Site")))
        return REFUSE_COOKIE_ORIGIN;
    return REFUSE_NONE;
}

static enum MHD_Result refuse(struct MHD_Connection *c, enum refusal why)
{
    static const char body401[] = "{\"error\":{\"status\":401,\"message\":\"Unauthorized: a "
                                  "bearer token or a session (POST /api/login) is required\"}}";
    switch (why) {
    case REFUSE_HOST: return pv_serve__error(c, 403, "Forbidden: Host or Origin not allowed");
    case REFUSE_AUTH:
        return pv_serve__respond(c, 401, "application/json", body401, sizeof(body401) - 1,
                                 MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    case REFUSE_COOKIE_ORIGIN:
    case REFUSE_NONE: break;
    }
    return pv_serve__error(c, 403,
                           "Forbidden: a request signed in by cookie that changes something "
                           "must come from the dashboard (an Origin header of this server)");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    pv_serve *s = cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        pv_buf_init(&r->body);
        *con_cls = r;
        return MHD_YES;
    }
    if (!r->checked) {
        r->refused = check(s, c, method, url);
        r->checked = true;
    }
    if (r->refused != REFUSE_NONE) {
        /* the body is read and dropped, never kept (answering before it is
           read would close the connection with it unread: a reset that may
           lose the answer); one above the limit is not read on */
        if (*upload_size > 0 && r->dropped + *upload_size <= s->max_body) {
            r->dropped += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        return refuse(c, r->refused);
    }
    if (*upload_size > 0) {
        if (!r->too_big && r->body.len + *upload_size > s->max_body) {
            r->too_big = true;
            pv_buf_fini(&r->body);
        }
        if (!r->too_big)
            pv_buf_append(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return pv_serve__error(c, 413, "Payload Too Large: a request body may hold %zu bytes",
                               s->max_body);
    if (pv_buf_ok(&r->body) != 0)
        return pv_serve__error(c, 500, "out of memory");
    return pv_serve__route(s, c, method, url, r->body.data ? r->body.data : "", r->body.len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct req *r = *con_cls;
    if (r) {
        pv_buf_fini(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* ==== listening ========================================================= */

static void serve_free(pv_serve *s)
{
    pv_serve__runs_destroy(s->runs);
    pv_serve__auth_destroy(s->auth);
    free(s->token);
    free(s);
}

int pv_serve_start(const struct pv_serve_opts *o, pv_serve **out, pv_err *err)
{
    pv_serve *s = calloc(1, sizeof(*s));
    if (!s)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    s->fd = -1;
    s->history = o->history;
    s->runner = o->runner;
    s->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    if ((o->token && !(s->token = strdup(o->token))) ||
        pv_serve__auth_create(o->token, &s->auth) != 0) {
        free(s->token);
        free(s);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    struct pv_listen l;
    int rc = pv_listen_tcp(o->host, o->port, LISTEN_BACKLOG, &l, err);
    int family = l.family;
    s->fd = l.fd;
    s->port = l.port;
    s->loopback = l.loopback;
    if (rc == 0 && !s->loopback && !s->token) {
        close(s->fd);
        rc = pv_err_set(err, VOLLEY_EINVAL, "listening on %s (beyond loopback) needs --token-file",
                        o->host);
    }
    if (rc == 0 && pv_serve__runs_create(o->history, o->runner, o->max_runs > 0 ? o->max_runs : 1,
                                         &s->runs) != 0) {
        close(s->fd);
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        pv_serve__auth_destroy(s->auth);
        free(s->token);
        free(s);
        return rc;
    }
    unsigned maxc = o->max_connections > 0 ? (unsigned)o->max_connections : DEFAULT_MAX_CONN;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
                            MHD_OPTION_CONNECTION_LIMIT, maxc, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            s->loopback ? 0u : PV_MAX(1u, maxc / PER_IP_DIVISOR),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        close(s->fd);
        serve_free(s);
        return pv_err_set(err, VOLLEY_EIO, "cannot start the HTTP server on %s:%d", o->host,
                          o->port);
    }
    *out = s;
    return 0;
}

int pv_serve_port(const pv_serve *s)
{
    return s->port;
}

bool pv_serve_loopback(const pv_serve *s)
{
    return s->loopback;
}

void pv_serve_stop(pv_serve *s)
{
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    /* runs end first: their event streams then finish and the
       connections' threads can be joined */
    pv_serve__runs_stop(s->runs);
    MHD_stop_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    serve_free(s);
}
