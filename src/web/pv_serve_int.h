/*
 * pv_serve_int.h - what the files of `pgvolley serve`'s server share
 * (internal to src/web/):
 *
 *   pv_serve_http.c     the daemon: listening, request checks, bodies
 *   pv_serve_auth.c     the token's sessions: sign-in, cookies, rate limit
 *   pv_serve_api.c      the routes of the JSON API
 *   pv_serve_runs.c     the run manager: queue, run threads, cancel
 *   pv_serve_sse.c      GET /api/runs/{id}/events
 *   pv_serve_openapi.c  the OpenAPI document
 */
#ifndef PV_SERVE_INT_H
#define PV_SERVE_INT_H

#include <microhttpd.h>
#include <pthread.h>

#include "web/pv_serve.h"

typedef struct pv_serve__runs pv_serve__runs;
typedef struct pv_serve__auth pv_serve__auth;

/* The session cookie's name. */
#define PV_SERVE_COOKIE "pgvolley_session"

struct pv_serve {
    struct MHD_Daemon *d;
    int fd;
    int port;
    bool loopback;
    char *token;          /* NULL: no authentication */
    pv_serve__auth *auth; /* sessions of signed-in browsers */
    size_t max_body;
    pv_history *history;
    const struct pv_serve_runner *runner;
    pv_serve__runs *runs;
};

/* ---- responses (pv_serve_http.c) ---- */

/* A response with body (copied); extra header name/value or NULLs. */
enum MHD_Result pv_serve__respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  const char *body, size_t len, const char *hname,
                                  const char *hvalue);
/* {"error": {"status": N, "message": msg}} with status. */
enum MHD_Result pv_serve__error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    PV_PRINTF(3, 4);
/* A JSON value (consumed: decref'd) with status; 500 when out of memory. */
enum MHD_Result pv_serve__json(struct MHD_Connection *c, unsigned status, json_t *v);

/* ---- requests (pv_serve_http.c) ---- */

/* Whether a request is for the dashboard's files (GET outside /api/): no
   data, so open to anybody; the router sends exactly these to the UI. */
bool pv_serve__is_ui(const char *method, const char *url);

/* ---- sessions (pv_serve_auth.c) ---- */

/* token NULL: no authentication. @return 0 or VOLLEY_ENOMEM. */
int pv_serve__auth_create(const char *token, pv_serve__auth **out);
/* NULL is a no-op. */
void pv_serve__auth_destroy(pv_serve__auth *a);
/* Whether the server has a token. */
bool pv_serve__auth_required(const pv_serve__auth *a);
/* Whether the request's cookie names a live session (its idle clock then
   starts again). Any thread. */
bool pv_serve__auth_session(pv_serve__auth *a, struct MHD_Connection *c);
/* POST /api/login {"token": "..."}: 204 with the session's cookie, 401
   (wrong token), 429 (too many failures lately: Retry-After), 400 (a bad
   body; a server without a token). */
enum MHD_Result pv_serve__login(pv_serve *s, struct MHD_Connection *c, const char *body,
                                size_t len);
/* POST /api/logout: drops the cookie's session (if any); 204 clearing the
   cookie. */
enum MHD_Result pv_serve__logout(pv_serve *s, struct MHD_Connection *c);
/* Whether the request's Origin is https (the page was loaded over TLS) or
   a proxy says so (X-Forwarded-Proto: https): the cookie is then marked
   Secure. */
bool pv_serve__secure_origin(struct MHD_Connection *c);

/* ---- routes (pv_serve_api.c) ---- */

/* Answers one whole request (checks passed, body read). */
enum MHD_Result pv_serve__route(pv_serve *s, struct MHD_Connection *c, const char *method,
                                const char *url, const char *body, size_t len);

/* A run's entry as the API shows it (GET /api/runs items); NULL on OOM. */
json_t *pv_serve__run_json(const struct pv_history_run *r, bool with_config);

/* ---- the run manager (pv_serve_runs.c) ---- */

int pv_serve__runs_create(pv_history *h, const struct pv_serve_runner *runner, int max_runs,
                          pv_serve__runs **out);
/* Marks queued runs interrupted, cancels running ones and waits for them;
   wakes every waiter (pv_serve__runs_wait returns at once from now on). */
void pv_serve__runs_stop(pv_serve__runs *m);
/* Stops (if not yet) and frees; NULL is a no-op. */
void pv_serve__runs_destroy(pv_serve__runs *m);
/* Queues run id (added to the history, queued) with its job (owned from
   now on). @return 0 or VOLLEY_ENOMEM (the job was freed). */
int pv_serve__runs_submit(pv_serve__runs *m, int64_t id, void *job);
/* 200 (a queued run cancelled), 202 (a running one asked to stop), 404 (not
   known to the manager: ended or never existed). */
int pv_serve__runs_cancel(pv_serve__runs *m, int64_t id);
/* The change counter: it grows on every point, progress or state change. */
uint64_t pv_serve__runs_gen(pv_serve__runs *m);
/* Waits until the counter passes seen, the manager stops, or timeout_ms.
   @return the counter. */
uint64_t pv_serve__runs_wait(pv_serve__runs *m, uint64_t seen, int timeout_ms);
/* Whether the manager is stopping (event streams end). */
bool pv_serve__runs_stopping(pv_serve__runs *m);
/* A copy (to free) of run id's latest progress and its number, or NULL. */
char *pv_serve__runs_progress(pv_serve__runs *m, int64_t id, uint64_t *seq);
/* Where run id waits in the queue: 1 = next; 0 when not queued. */
int pv_serve__runs_position(pv_serve__runs *m, int64_t id);

/* ---- GET /api/runs/{id}/events (pv_serve_sse.c) ---- */

enum MHD_Result pv_serve__events(pv_serve *s, struct MHD_Connection *c, int64_t id);

/* ---- GET /api/openapi.json (pv_serve_openapi.c) ---- */

/* The document (static) and its length. */
const char *pv_serve__openapi(size_t *len);

#endif /* PV_SERVE_INT_H */
