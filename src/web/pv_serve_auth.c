/*
 * pv_serve_auth.c - who may use `pgvolley serve` when it has a token
 * (docs/serve.md, Security): the bearer header, or the cookie of a browser
 * signed in with POST /api/login; the checks every request passes.
 *
 * Sessions live in memory only (a restart signs everybody out): at most
 * SESSION_MAX, the least recently used evicted first, each dropped after
 * SESSION_IDLE_S without a request. A session id is 32 random bytes
 * (getrandom) in hex, compared in constant time with every live one.
 * Failed sign-ins take from two buckets: the client address's (LOGIN_BURST
 * refilled at LOGIN_RATE a second; ADDR_MAX addresses kept, the least
 * recently used forgotten first) and the server's (GLOBAL_BURST refilled
 * at GLOBAL_RATE). While either is empty a sign-in gets 429 without its
 * token being looked at, so the token cannot be guessed quickly, and one
 * client failing on purpose does not lock the others out.
 */
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/pv_http_guard.h"
#include "common/pv_listen.h"
#include "web/pv_serve_int.h"

#define SESSION_MAX    64
#define SESSION_IDLE_S (12.0 * 3600.0)
#define SESSION_BYTES  32
#define LOGIN_BURST    5.0
#define LOGIN_RATE     1.0 /* failed sign-ins a second per address, in the long run */
#define GLOBAL_BURST   20.0
#define GLOBAL_RATE    5.0 /* failed sign-ins a second in all, in the long run */
#define ADDR_MAX       64
#define COOKIE_ATTRS   "Path=/; HttpOnly; SameSite=Strict"

struct session {
    char id[2 * SESSION_BYTES + 1]; /* "" = free */
    double last;                    /* monotonic seconds of its last use */
};

/* A bucket of failed sign-ins allowed. */
struct bucket {
    double tokens, at; /* at: monotonic seconds of the last refill */
};

struct addr_bucket {
    char addr[NI_MAXHOST]; /* "" = free */
    struct bucket b;
};

struct pv_serve__auth {
    pthread_mutex_t mu;
    char *token;
    struct session s[SESSION_MAX];
    struct bucket global;
    struct addr_bucket addrs[ADDR_MAX];
};

static double now_s(void)
{
    return (double)pv_now_ns() / 1e9;
}

int pv_serve__auth_create(const char *token, pv_serve__auth **out)
{
    pv_serve__auth *a = calloc(1, sizeof(*a));
    if (!a || (token && !(a->token = strdup(token)))) {
        free(a);
        return VOLLEY_ENOMEM;
    }
    pthread_mutex_init(&a->mu, NULL);
    a->global = (struct bucket){GLOBAL_BURST, now_s()};
    *out = a;
    return 0;
}

void pv_serve__auth_destroy(pv_serve__auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    if (a->token)
        explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    explicit_bzero(a->s, sizeof(a->s));
    free(a);
}

bool pv_serve__auth_required(const pv_serve__auth *a)
{
    return a->token != NULL;
}

/* The slot of the session named by the request's cookie, expired ones
   freed on the way, or -1. Called locked. */
static int find_session(pv_serve__auth *a, struct MHD_Connection *c, double now)
{
    char id[2 * SESSION_BYTES + 8];
    const char *cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
    bool have = pv_http_cookie_get(cookie, PV_SERVE_COOKIE, id, sizeof(id)) &&
                strlen(id) == 2 * SESSION_BYTES;
    int found = -1;
    for (int i = 0; i < SESSION_MAX; i++) {
        struct session *s = &a->s[i];
        if (!s->id[0])
            continue;
        if (now - s->last > SESSION_IDLE_S) {
            explicit_bzero(s, sizeof(*s));
            continue;
        }
        if (have && pv_http_secret_equal(id, s->id))
            found = i;
    }
    return found;
}

bool pv_serve__auth_session(pv_serve__auth *a, struct MHD_Connection *c)
{
    double now = now_s();
    pthread_mutex_lock(&a->mu);
    int i = find_session(a, c, now);
    if (i >= 0)
        a->s[i].last = now;
    pthread_mutex_unlock(&a->mu);
    return i >= 0;
}

/* A new session's id in a free (or the least recently used) slot. Called
   locked. @return false when the system has no random bytes to give. */
static bool new_session(pv_serve__auth *a, double now, char *id, size_t cap)
{
    unsigned char raw[SESSION_BYTES];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return false;
    int slot = 0;
    for (int i = 0; i < SESSION_MAX; i++) {
        if (!a->s[i].id[0]) {
            slot = i;
            break;
        }
        if (a->s[i].last < a->s[slot].last)
            slot = i;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(a->s[slot].id + 2 * i, 3, "%02x", raw[i]);
    a->s[slot].last = now;
    snprintf(id, cap, "%s", a->s[slot].id);
    explicit_bzero(raw, sizeof(raw));
    return true;
}

/* The token of a POST /api/login body, or NULL (borrowed from *doc). */
static const char *login_token(const char *body, size_t len, json_t **doc)
{
    *doc = json_loadb(body, len, 0, NULL);
    const char *t = json_string_value(json_object_get(*doc, "token"));
    return t;
}

/* Refills b (burst, rate a second) to now; whether a failure may be tried. */
static bool bucket_ok(struct bucket *b, double burst, double rate, double now, double *wait)
{
    b->tokens = PV_MIN(burst, b->tokens + (now - b->at) * rate);
    b->at = now;
    if (b->tokens >= 1.0)
        return true;
    *wait = PV_MAX(*wait, (1.0 - b->tokens) / rate);
    return false;
}

/* The bucket of the request's client address (a new one, or the least
   recently used slot taken over). Called locked. */
static struct bucket *addr_bucket(pv_serve__auth *a, struct MHD_Connection *c, double now)
{
    char addr[NI_MAXHOST];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    pv_listen_peer_text(ci ? ci->client_addr : NULL, addr, sizeof(addr));
    if (!addr[0])
        snprintf(addr, sizeof(addr), "?"); /* unknown peers share one bucket */
    for (int i = 0; i < ADDR_MAX; i++)
        if (strcmp(a->addrs[i].addr, addr) == 0)
            return &a->addrs[i].b;
    int slot = 0; /* a free one, else the least recently used */
    for (int i = 0; i < ADDR_MAX && a->addrs[slot].addr[0]; i++)
        if (!a->addrs[i].addr[0] || a->addrs[i].b.at < a->addrs[slot].b.at)
            slot = i;
    snprintf(a->addrs[slot].addr, sizeof(a->addrs[slot].addr), "%s", addr);
    a->addrs[slot].b = (struct bucket){LOGIN_BURST, now};
    return &a->addrs[slot].b;
}

enum MHD_Result pv_serve__login(pv_serve *s, struct MHD_Connection *c, const char *body, size_t len)
{
    pv_serve__auth *a = s->auth;
    if (!a->token)
        return pv_serve__error(c, 400,
                               "this server has no token (--token-file): nothing to sign "
                               "in to");
    json_t *doc = NULL;
    const char *given = login_token(body, len, &doc);
    if (!given) {
        json_decref(doc);
        return pv_serve__error(c, 400, "request body: {\"token\": \"...\"}");
    }
    double now = now_s();
    char id[2 * SESSION_BYTES + 1] = "";
    int status = 204;
    double wait = 0;
    pthread_mutex_lock(&a->mu);
    struct bucket *mine = addr_bucket(a, c, now);
    bool ok_addr = bucket_ok(mine, LOGIN_BURST, LOGIN_RATE, now, &wait);
    bool ok_all = bucket_ok(&a->global, GLOBAL_BURST, GLOBAL_RATE, now, &wait);
    if (!ok_addr || !ok_all) {
        status = 429;
    } else if (!pv_http_secret_equal(given, a->token)) {
        status = 401;
        mine->tokens -= 1.0;
        a->global.tokens -= 1.0;
    } else if (!new_session(a, now, id, sizeof(id))) {
        status = 500;
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(doc);
    if (status == 429) {
        char after[32];
        snprintf(after, sizeof(after), "%d", (int)ceil(wait));
        char msg[] = "{\"error\":{\"status\":429,\"message\":\"Too Many Requests: too many failed "
                     "sign-ins; try again in a second\"}}";
        return pv_serve__respond(c, 429, "application/json", msg, strlen(msg),
                                 MHD_HTTP_HEADER_RETRY_AFTER, after);
    }
    if (status == 401)
        return pv_serve__error(c, 401, "Unauthorized: wrong token");
    if (status == 500)
        return pv_serve__error(c, 500, "no random bytes for a session");
    char cookie[200];
    snprintf(cookie, sizeof(cookie), "%s=%s; %s%s", PV_SERVE_COOKIE, id, COOKIE_ATTRS,
             pv_serve__secure_origin(c) ? "; Secure" : "");
    explicit_bzero(id, sizeof(id));
    enum MHD_Result ret =
        pv_serve__respond(c, 204, "application/json", "", 0, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    explicit_bzero(cookie, sizeof(cookie));
    return ret;
}

enum MHD_Result pv_serve__logout(pv_serve *s, struct MHD_Connection *c)
{
    pv_serve__auth *a = s->auth;
    pthread_mutex_lock(&a->mu);
    int i = find_session(a, c, now_s());
    if (i >= 0)
        explicit_bzero(&a->s[i], sizeof(a->s[i]));
    pthread_mutex_unlock(&a->mu);
    char cookie[120];
    snprintf(cookie, sizeof(cookie), "%s=; %s; Max-Age=0%s", PV_SERVE_COOKIE, COOKIE_ATTRS,
             pv_serve__secure_origin(c) ? "; Secure" : "");
    return pv_serve__respond(c, 204, "application/json", "", 0, MHD_HTTP_HEADER_SET_COOKIE, cookie);
}

bool pv_serve__secure_origin(struct MHD_Connection *c)
{
    /* Trusting either costs nothing: a client that lies gets a cookie its
       browser will not send over http, and harms itself only. */
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return (o && strncasecmp(o, "https://", 8) == 0) || (proto && strcasecmp(proto, "https") == 0);
}
