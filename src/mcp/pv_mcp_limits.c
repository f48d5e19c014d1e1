/*
 * pv_mcp_limits.c - the limits of the MCP server: rate limits on tool calls
 * (per session, per client address, global), the byte budget of an answer's
 * rows, and the continuation cursors that page through a truncated
 * query_dataset answer (fetch_next_page). See docs/mcp-limits.md.
 *
 * Rate limits are token buckets: a bucket holds at most n calls and refills
 * n per period, evenly. A call takes one token from each bucket that
 * applies, or from none (a refused call costs nothing).
 *
 * A cursor is honest re-execution, not a server-side cursor: the next page
 * runs the query again as SELECT * FROM (query) OFFSET k, in a new READ
 * ONLY transaction (the database does the work of the skipped rows again,
 * and sees a new snapshot). Keeping a cursor open would pin a pooled
 * connection and an open transaction per page the model may never ask
 * for. Cursors live opts.cursor_ttl_s, at most opts.max_cursors of them
 * (the oldest goes first), each with a query of at most
 * PV_MCP__CURSOR_SQL_MAX bytes; a cursor serves one page (the page gives
 * the next cursor).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mcp/pv_mcp_int.h"

/* ==== rate limits ====================================================== */

/* Refills b for rate r at now; true if a token is there. */
static bool bucket_ready(struct pv_mcp__bucket *b, const struct pv_mcp_rate *r, uint64_t now)
{
    if (r->n <= 0)
        return true;
    double per_ns = (double)r->n / (r->period_s * PV_MCP__NS_PER_S);
    if (b->at_ns == 0)
        b->tokens = r->n;
    else
        b->tokens = fmin((double)r->n, b->tokens + (double)(now - b->at_ns) * per_ns);
    b->at_ns = now;
    return b->tokens >= 1.0;
}

/* Seconds until b has a token again (>= 1). */
static int bucket_wait(const struct pv_mcp__bucket *b, const struct pv_mcp_rate *r)
{
    double s = (1.0 - b->tokens) * r->period_s / r->n;
    int w = (int)ceil(s);
    return w < 1 ? 1 : w;
}

static void bucket_take(struct pv_mcp__bucket *b, const struct pv_mcp_rate *r)
{
    if (r->n > 0)
        b->tokens -= 1.0;
}

/* The address's bucket (under m->mu): found, or a free or the least recently used slot. */
static struct pv_mcp__addr_bucket *addr_bucket(pv_mcp *m, const char *addr, uint64_t now)
{
    struct pv_mcp__addr_bucket *pick = NULL;
    for (size_t i = 0; i < PV_MCP__ADDR_SLOTS; i++) {
        struct pv_mcp__addr_bucket *a = &m->addrs[i];
        if (strcmp(a->addr, addr) == 0)
            return a;
        if (!pick || (pick->addr[0] && (!a->addr[0] || a->used_ns < pick->used_ns)))
            pick = a;
    }
    snprintf(pick->addr, sizeof(pick->addr), "%s", addr);
    pick->b.at_ns = 0;
    pick->used_ns = now;
    return pick;
}

int pv_mcp__rate_take(pv_mcp_session *s)
{
    pv_mcp *m = s->m;
    const struct pv_mcp_opts *o = &m->opts;
    if (o->rate_session.n <= 0 && o->rate_address.n <= 0 && o->rate_global.n <= 0)
        return 0;
    uint64_t now = pv_now_ns();
    int wait = 0;
    pthread_mutex_lock(&m->mu);
    pthread_mutex_lock(&s->mu);
    struct pv_mcp__addr_bucket *a =
        o->rate_address.n > 0 && s->peer[0] ? addr_bucket(m, s->peer, now) : NULL;
    if (!bucket_ready(&s->bucket, &o->rate_session, now))
        wait = PV_MAX(wait, bucket_wait(&s->bucket, &o->rate_session));
    if (a && !bucket_ready(&a->b, &o->rate_address, now))
        wait = PV_MAX(wait, bucket_wait(&a->b, &o->rate_address));
    if (!bucket_ready(&m->global, &o->rate_global, now))
        wait = PV_MAX(wait, bucket_wait(&m->global, &o->rate_global));
    if (wait == 0) {
        bucket_take(&s->bucket, &o->rate_session);
        if (a) {
            bucket_take(&a->b, &o->rate_address);
            a->used_ns = now;
        }
        bucket_take(&m->global, &o->rate_global);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&m->mu);
    return wait;
}

json_t *pv_mcp__rate_fail(json_t *base, int retry_after_s)
{
    json_t *r = pv_mcp__tool_fail(
        base, NULL, "rate limit exceeded: too many tool calls; retry after %d s", retry_after_s);
    json_t *err = json_object_get(json_object_get(r, "structuredContent"), "error");
    json_object_set_new(err, "retry_after_s", json_integer(retry_after_s));
    return r;
}

int pv_mcp_retry_after(json_t *msg)
{
    json_t *sc = json_object_get(json_object_get(msg, "result"), "structuredContent");
    json_t *ra = json_object_get(json_object_get(sc, "error"), "retry_after_s");
    return json_is_integer(ra) ? (int)json_integer_value(ra) : 0;
}

void pv_mcp_session_set_peer(pv_mcp_session *s, const char *addr)
{
    pthread_mutex_lock(&s->mu);
    snprintf(s->peer, sizeof(s->peer), "%s", addr ? addr : "");
    pthread_mutex_unlock(&s->mu);
}

/* ==== the byte budget ================================================== */

#define ROW_OVERHEAD  2 /* "[" "]" or "| " "|" */
#define CELL_OVERHEAD 3 /* quotes and a separator */

bool pv_mcp__budget_trim(struct pv_bresult *r, size_t *budget)
{
    if (!r->ok)
        return false;
    size_t used = 0, keep = 0, ncols = (size_t)r->ncols;
    for (; keep < r->nrows; keep++) {
        size_t row = ROW_OVERHEAD;
        for (size_t j = 0; j < ncols; j++) {
            const char *cell = r->cells[keep * ncols + j];
            row += (cell ? strlen(cell) : 4) + CELL_OVERHEAD;
        }
        if (used + row > *budget)
            break;
        used += row;
    }
    *budget -= used;
    if (keep == r->nrows)
        return false;
    for (size_t i = keep * ncols; i < r->nrows * ncols; i++) {
        free(r->cells[i]);
        r->cells[i] = NULL;
    }
    r->nrows = keep;
    r->truncated = true;
    return true;
}

/* ==== cursors ========================================================== */

static void cursor_clear(struct pv_mcp__cursor *k)
{
    free(k->dataset);
    free(k->sql);
    free(k->label);
    memset(k, 0, sizeof(*k));
}

static bool random_hex(char out[PV_MCP__CURSOR_ID_LEN])
{
    unsigned char rnd[(PV_MCP__CURSOR_ID_LEN - 1) / 2];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return true;
}

bool pv_mcp__cursor_put(pv_mcp *m, const char *dataset, const char *sql, const char *label,
                        size_t offset, char id[PV_MCP__CURSOR_ID_LEN])
{
    if (!m->cursors || strlen(sql) > PV_MCP__CURSOR_SQL_MAX || !random_hex(id))
        return false;
    struct pv_mcp__cursor k = {0};
    memcpy(k.id, id, PV_MCP__CURSOR_ID_LEN);
    k.dataset = pv_strdup(dataset);
    k.sql = pv_strdup(sql);
    k.label = label ? pv_strdup(label) : NULL;
    k.offset = offset;
    uint64_t now = pv_now_ns();
    k.expires_ns = now + (uint64_t)(m->opts.cursor_ttl_s * PV_MCP__NS_PER_S);
    if (!k.dataset || !k.sql || (label && !k.label)) {
        cursor_clear(&k);
        return false;
    }
    pthread_mutex_lock(&m->mu);
    struct pv_mcp__cursor *slot = NULL;
    for (int i = 0; i < m->opts.max_cursors; i++) {
        struct pv_mcp__cursor *c = &m->cursors[i];
        if (c->id[0] && c->expires_ns <= now)
            cursor_clear(c);
        if (!slot || (slot->id[0] && (!c->id[0] || c->expires_ns < slot->expires_ns)))
            slot = c;
    }
    cursor_clear(slot); /* all live: the one that expires first goes */
    *slot = k;
    pthread_mutex_unlock(&m->mu);
    return true;
}

bool pv_mcp__cursor_take(pv_mcp *m, const char *id, char **dataset, char **sql, char **label,
                         size_t *offset)
{
    bool found = false;
    uint64_t now = pv_now_ns();
    pthread_mutex_lock(&m->mu);
    for (int i = 0; m->cursors && i < m->opts.max_cursors; i++) {
        struct pv_mcp__cursor *c = &m->cursors[i];
        if (!c->id[0] || strcmp(c->id, id) != 0)
            continue;
        if (c->expires_ns > now) {
            found = true;
            *dataset = c->dataset;
            *sql = c->sql;
            *label = c->label;
            *offset = c->offset;
            c->dataset = c->sql = c->label = NULL;
        }
        cursor_clear(c);
        break;
    }
    pthread_mutex_unlock(&m->mu);
    return found;
}

void pv_mcp__cursors_free(pv_mcp *m)
{
    for (int i = 0; m->cursors && i < m->opts.max_cursors; i++)
        cursor_clear(&m->cursors[i]);
    free(m->cursors);
    m->cursors = NULL;
}
