/* pv_http_guard.c - Host, Origin and token checks (pv_http_guard.h). */
#include "common/pv_http_guard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/pv_common.h"

bool pv_http_origin_loopback(const char *o)
{
    static const char *const schemes[] = {"http://", "https://"};
    static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < PV_ARRAY_LEN(schemes); i++) {
        size_t sl = strlen(schemes[i]);
        if (strncasecmp(o, schemes[i], sl) != 0)
            continue;
        for (size_t j = 0; j < PV_ARRAY_LEN(hosts); j++) {
            size_t hl = strlen(hosts[j]);
            const char *p = o + sl;
            if (strncasecmp(p, hosts[j], hl) != 0)
                continue;
            p += hl;
            if (*p == ':') {
                p++;
                size_t digits = 0;
                while (*p >= '0' && *p <= '9') {
                    p++;
                    digits++;
                }
                if (digits == 0 || digits > 5)
                    return false;
            }
            if (*p == '/')
                p++;
            return *p == '\0';
        }
    }
    return false;
}

bool pv_http_host_loopback(const char *host)
{
    char o[300];
    int n = snprintf(o, sizeof(o), "http://%s", host);
    return n > 0 && (size_t)n < sizeof(o) && pv_http_origin_loopback(o);
}

/* origin == scheme "://" host, case-insensitively, for http or https. */
static bool same_origin(const char *origin, const char *host)
{
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t i = 0; i < PV_ARRAY_LEN(schemes); i++) {
        size_t sl = strlen(schemes[i]);
        if (strncasecmp(origin, schemes[i], sl) == 0)
            return strcasecmp(origin + sl, host) == 0;
    }
    return false;
}

bool pv_http_host_origin_ok(bool loopback, const char *host, const char *origin)
{
    if (!host || !*host)
        return false;
    if (loopback && !pv_http_host_loopback(host))
        return false;
    if (!origin)
        return true;
    if (loopback)
        return pv_http_origin_loopback(origin);
    return same_origin(origin, host);
}

bool pv_http_secret_equal(const char *given, const char *secret)
{
    size_t gl = strlen(given), sl = strlen(secret);
    unsigned char d = gl != sl;
    for (size_t i = 0; i < sl; i++)
        d |= (unsigned char)((i < gl ? given[i] : 0) ^ secret[i]);
    return d == 0;
}

bool pv_http_bearer_ok(const char *a, const char *token)
{
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return false;
    a += 7;
    while (*a == ' ')
        a++;
    return pv_http_secret_equal(a, token);
}

bool pv_http_cookie_get(const char *cookie, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (cap > 0)
        out[0] = '\0';
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            while (vl > 0 && p[nl + vl] == ' ')
                vl--; /* blanks before the ';' */
            if (vl >= cap)
                return false;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

bool pv_http_method_unsafe(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* Whether origin is exactly http:// or https:// followed by host (ASCII
   case aside). */
static bool origin_is_host(const char *origin, const char *host)
{
    const char *rest = strncasecmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncasecmp(origin, "https://", 8) == 0 ? origin + 8
                                                                 : NULL;
    return rest && host && *host && strcasecmp(rest, host) == 0;
}

bool pv_http_cookie_request_ok(const char *method, const char *host, const char *origin,
                               const char *sec_fetch_site)
{
    if (!pv_http_method_unsafe(method))
        return true;
    if (!origin || !origin_is_host(origin, host))
        return false;
    return !sec_fetch_site || strcasecmp(sec_fetch_site, "same-origin") == 0;
}
