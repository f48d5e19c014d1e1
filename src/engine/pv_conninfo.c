/* pv_conninfo.c - connection strings parsed once, redacted, and pinned. */
#include "engine/pv_conninfo.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "common/pv_buf.h"

#define MAX_PARAMS    64
#define MAX_ADDRESSES 16 /* addresses of one name that pv_conninfo_pin keeps */

struct pv_conninfo {
    const char *keywords[MAX_PARAMS + 1];
    const char *values[MAX_PARAMS + 1];
    char *owned[MAX_PARAMS * 2]; /* strings we allocated for the arrays */
    int nowned;
    int n;
};

static int own(pv_conninfo *ci, char *s)
{
    if (!s)
        return VOLLEY_ENOMEM;
    if (ci->nowned >= MAX_PARAMS * 2) {
        free(s);
        return VOLLEY_EINVAL;
    }
    ci->owned[ci->nowned++] = s;
    return 0;
}

const char *pv_conninfo_get(const pv_conninfo *ci, const char *kw)
{
    for (int i = 0; i < ci->n; i++)
        if (strcmp(ci->keywords[i], kw) == 0)
            return ci->values[i];
    return NULL;
}

int pv_conninfo_set(pv_conninfo *ci, const char *kw, const char *val)
{
    int i = 0;
    while (i < ci->n && strcmp(ci->keywords[i], kw) != 0)
        i++;
    if (i == MAX_PARAMS)
        return VOLLEY_EINVAL;
    int rc = own(ci, strdup(val));
    if (rc != 0)
        return rc;
    ci->values[i] = ci->owned[ci->nowned - 1];
    if (i == ci->n) {
        rc = own(ci, strdup(kw));
        if (rc != 0)
            return rc;
        ci->keywords[i] = ci->owned[ci->nowned - 1];
        ci->n++;
        ci->keywords[ci->n] = NULL;
        ci->values[ci->n] = NULL;
    }
    return 0;
}

int pv_conninfo_set_default(pv_conninfo *ci, const char *kw, const char *val)
{
    return pv_conninfo_get(ci, kw) ? 0 : pv_conninfo_set(ci, kw, val);
}

/* True when name is one of libpq's connection option keywords. */
static bool is_libpq_keyword(const char *name, size_t len)
{
    PQconninfoOption *defs = PQconndefaults();
    bool found = false;
    for (PQconninfoOption *o = defs; o && o->keyword && !found; o++)
        found = strlen(o->keyword) == len && strncmp(o->keyword, name, len) == 0;
    PQconninfoFree(defs);
    return found;
}

/* True when conninfo uses name as a key ("name=" with name not inside a
   longer word): keys are never secrets, values may be. */
static bool used_as_key(const char *conninfo, const char *name, size_t len)
{
    for (const char *p = conninfo; len && (p = strstr(p, name)) != NULL; p++) {
        bool starts = p == conninfo || p[-1] == ' ' || p[-1] == '\t';
        const char *q = p + len;
        while (*q == ' ')
            q++;
        if (starts && strncmp(p, name, len) == 0 && *q == '=')
            return true;
    }
    return false;
}

/*
 * libpq's parse errors quote a piece of the connection string - a whole URI
 * with its password, or a mistyped password taken for a keyword - and the
 * piece may hold quotes itself, so it is found by the message's known
 * shapes, not by matching quotes: "missing \"=\" after \"P\" in connection
 * info string", "unexpected spaces found in \"P\", use ...", and every other
 * form ending in ": \"P\"" or "option \"P\"". P survives only when it is an
 * option keyword, or a key of this string made of letters, digits and '_'
 * only (a mistyped keyword); otherwise it becomes "...". A message of
 * another shape keeps only its text before the first quote.
 */
static void redact_quoted(const char *msg, const char *conninfo, char *out, size_t cap)
{
    static const struct {
        const char *head, *tail;
    } shapes[] = {
        {"missing \"=\" after \"", "\" in connection info string"},
        {"unexpected spaces found in \"", "\", use percent-encoded spaces (%20) instead"},
    };
    size_t n = strlen(msg);
    const char *piece = NULL;
    size_t head = 0, len = 0, tail = 0;
    for (size_t i = 0; i < PV_ARRAY_LEN(shapes) && !piece; i++) {
        size_t h = strlen(shapes[i].head), t = strlen(shapes[i].tail);
        if (n >= h + t && strncmp(msg, shapes[i].head, h) == 0 &&
            strcmp(msg + n - t, shapes[i].tail) == 0) {
            piece = msg + h;
            head = h;
            len = n - h - t;
            tail = t;
        }
    }
    if (!piece && n > 0 && msg[n - 1] == '"') {
        const char *a = strstr(msg, ": \""), *b = strstr(msg, "option \"");
        const char *q = a && (!b || a < b) ? a + 3 : b ? b + 8 : NULL;
        if (q && q <= msg + n - 1) {
            piece = q;
            head = (size_t)(q - msg);
            len = n - 1 - head;
            tail = 1;
        }
    }
    if (!piece) {
        const char *q = strchr(msg, '"');
        snprintf(out, cap, "%.*s%s", (int)(q ? q - msg : (ptrdiff_t)n), msg, q ? "\"...\"" : "");
        return;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)PV_MIN(len, sizeof(name) - 1), piece);
    bool wordlike =
        len > 0 && len < sizeof(name) &&
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
    bool keep = is_libpq_keyword(piece, len) || (wordlike && used_as_key(conninfo, name, len));
    snprintf(out, cap, "%.*s%s%s", (int)head, msg, keep ? name : "...", msg + n - tail);
}

int pv_conninfo_create(const char *conninfo, const char *application_name, pv_conninfo **out,
                       pv_err *err)
{
    pv_conninfo *ci = calloc(1, sizeof(*ci));
    if (!ci)
        return VOLLEY_ENOMEM;
    int rc = 0;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (!opts) {
        char line[512], safe[512];
        pv_first_line(line, sizeof(line), perr ? perr : "out of memory");
        redact_quoted(line, conninfo ? conninfo : "", safe, sizeof(safe));
        rc = perr ? pv_err_set(err, VOLLEY_EINVAL, "invalid connection string: %s", safe)
                  : VOLLEY_ENOMEM;
        PQfreemem(perr);
        goto fail;
    }
    for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++)
        if (o->val)
            rc = pv_conninfo_set(ci, o->keyword, o->val);
    PQconninfoFree(opts);
    if (rc == 0 && application_name && !pv_conninfo_get(ci, "application_name"))
        rc = pv_conninfo_set(ci, "fallback_application_name", application_name);
    if (rc != 0) {
        if (rc == VOLLEY_EINVAL)
            pv_err_set(err, rc, "invalid connection string: more than %d parameters", MAX_PARAMS);
        goto fail;
    }
    *out = ci;
    return 0;
fail:
    pv_conninfo_destroy(ci);
    return rc;
}

void pv_conninfo_destroy(pv_conninfo *ci)
{
    if (!ci)
        return;
    for (int i = 0; i < ci->nowned; i++)
        free(ci->owned[i]);
    free(ci);
}

const char *pv_conninfo_host_to_resolve(const pv_conninfo *ci)
{
    if (pv_conninfo_get(ci, "hostaddr") || (!pv_conninfo_get(ci, "host") && getenv("PGHOSTADDR")))
        return NULL;
    const char *host = pv_conninfo_get(ci, "host");
    if (!host)
        host = getenv("PGHOST");
    if (!host || !host[0] || host[0] == '/' || host[0] == '@' || strchr(host, ','))
        return NULL;
    unsigned char ip[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return NULL;
    return host;
}

int pv_conninfo_pin(pv_conninfo *ci, const struct addrinfo *ai)
{
    const char *name = pv_conninfo_host_to_resolve(ci);
    if (!name)
        return VOLLEY_EINVAL;
    char seen[MAX_ADDRESSES][INET6_ADDRSTRLEN];
    int n = 0;
    for (; ai && n < MAX_ADDRESSES; ai = ai->ai_next) {
        const void *a;
        if (ai->ai_family == AF_INET)
            a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
        else
            continue;
        if (!inet_ntop(ai->ai_family, a, seen[n], sizeof(seen[n])))
            continue;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp(seen[i], seen[n]) == 0;
        n += !dup;
    }
    if (n == 0)
        return VOLLEY_EINVAL;
    pv_buf hosts, addrs;
    pv_buf_init(&hosts);
    pv_buf_init(&addrs);
    for (int i = 0; i < n; i++) {
        pv_buf_printf(&hosts, "%s%s", i ? "," : "", name);
        pv_buf_printf(&addrs, "%s%s", i ? "," : "", seen[i]);
    }
    int rc = pv_buf_ok(&hosts) == 0 ? pv_buf_ok(&addrs) : VOLLEY_ENOMEM;
    if (rc == 0)
        rc = pv_conninfo_set(ci, "host", pv_buf_str(&hosts));
    if (rc == 0)
        rc = pv_conninfo_set(ci, "hostaddr", pv_buf_str(&addrs));
    pv_buf_fini(&hosts);
    pv_buf_fini(&addrs);
    return rc;
}

const char *const *pv_conninfo_keywords(const pv_conninfo *ci)
{
    return ci->keywords;
}

const char *const *pv_conninfo_values(const pv_conninfo *ci)
{
    return ci->values;
}
