/* pv_target.c - connection parameters and the blocking probe. */
#include "engine/pv_target.h"
#include "engine/pv_pgwatch.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 64

struct pv_target {
    struct pv_target_info info;
    const char *keywords[MAX_PARAMS + 1];
    const char *values[MAX_PARAMS + 1];
    char *owned[MAX_PARAMS * 2]; /* strings we allocated for the arrays */
    int nowned;
    int n;
};

static int add_param(pv_target *t, const char *kw, const char *val)
{
    if (t->n >= MAX_PARAMS)
        return VOLLEY_EINVAL;
    char *k = strdup(kw), *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        return VOLLEY_ENOMEM;
    }
    t->owned[t->nowned++] = k;
    t->owned[t->nowned++] = v;
    t->keywords[t->n] = k;
    t->values[t->n] = v;
    t->n++;
    t->keywords[t->n] = NULL;
    t->values[t->n] = NULL;
    return 0;
}

/* Replaces (or adds) the value of kw. */
static int set_param(pv_target *t, const char *kw, const char *val)
{
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->keywords[i], kw) == 0) {
            char *v = strdup(val);
            if (!v)
                return VOLLEY_ENOMEM;
            if (t->nowned >= MAX_PARAMS * 2) {
                free(v);
                return VOLLEY_EINVAL;
            }
            t->owned[t->nowned++] = v;
            t->values[i] = v;
            return 0;
        }
    }
    return add_param(t, kw, val);
}

static const char *get_param(const pv_target *t, const char *kw)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->keywords[i], kw) == 0)
            return t->values[i];
    return NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
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
 * libpq's parse errors quote pieces of the connection string - a whole URI
 * with its password, or a mistyped password taken for a keyword. Quoted
 * text survives only when it is an option keyword, a key of this string,
 * or a single punctuation character; anything else becomes "...".
 */
static void redact_quoted(const char *msg, const char *conninfo, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = msg; *p && o + 6 < cap;) {
        const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!end) {
            out[o++] = *p++;
            continue;
        }
        size_t len = (size_t)(end - p - 1);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)PV_MIN(len, sizeof(name) - 1), p + 1);
        bool keep = (len == 1 && !isalnum((unsigned char)p[1])) || is_libpq_keyword(p + 1, len) ||
                    (len < sizeof(name) && used_as_key(conninfo, name, len));
        if (keep && o + len + 3 < cap) {
            memcpy(out + o, p, len + 2);
            o += len + 2;
        } else {
            memcpy(out + o, "\"...\"", 5);
            o += 5;
        }
        p = end + 1;
    }
    out[o] = '\0';
}

int pv_target_create(const char *conninfo, double connect_timeout_s, const char *application_name,
                     pv_target **out, pv_err *err)
{
    pv_target *t = calloc(1, sizeof(*t));
    if (!t)
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
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && (rc = add_param(t, o->keyword, o->val)) != 0)
            break;
    }
    PQconninfoFree(opts);
    if (rc != 0)
        goto fail;
    if (!get_param(t, "application_name") && application_name)
        rc = add_param(t, "fallback_application_name", application_name);
    if (rc == 0 && !get_param(t, "connect_timeout") && connect_timeout_s > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)(connect_timeout_s + 0.999));
        rc = add_param(t, "connect_timeout", buf);
    }
    if (rc != 0)
        goto fail;

    PGconn *c = PQconnectdbParams(t->keywords, t->values, 0);
    if (!c) {
        rc = VOLLEY_ENOMEM;
        goto fail;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char line[512];
        pv_first_line(line, sizeof(line), PQerrorMessage(c));
        rc = pv_err_set(err, VOLLEY_ECONNECT, "%s", line);
        PQfinish(c);
        goto fail;
    }
    struct pv_target_info *in = &t->info;
    copy_str(in->host, sizeof(in->host), PQhost(c));
    in->port = (int)strtol(PQport(c) ? PQport(c) : "0", NULL, 10);
    copy_str(in->dbname, sizeof(in->dbname), PQdb(c));
    copy_str(in->user, sizeof(in->user), PQuser(c));
    copy_str(in->server_version, sizeof(in->server_version),
             PQparameterStatus(c, "server_version"));
    in->server_version[strcspn(in->server_version, " ")] = '\0';
    in->server_version_num = PQserverVersion(c);

    /*
     * Pin the address the probe reached, so that the loops' non-blocking
     * connects never resolve names (libpq's lookup blocks). Only for a
     * single named host; sockets, IPs and multi-host strings are left alone.
     */
    const char *host = get_param(t, "host");
    const char *addr = PQhostaddr(c);
    if (host && host[0] && host[0] != '/' && host[0] != '@' && !strchr(host, ',') &&
        !get_param(t, "hostaddr") && addr && addr[0]) {
        rc = set_param(t, "hostaddr", addr);
    }
    PQfinish(c);
    if (rc != 0)
        goto fail;
    *out = t;
    return 0;

fail:
    pv_target_destroy(t);
    return rc;
}

void pv_target_destroy(pv_target *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nowned; i++)
        free(t->owned[i]);
    free(t);
}

const struct pv_target_info *pv_target_info(const pv_target *t)
{
    return &t->info;
}

const char *const *pv_target_keywords(const pv_target *t)
{
    return t->keywords;
}

const char *const *pv_target_values(const pv_target *t)
{
    return t->values;
}
