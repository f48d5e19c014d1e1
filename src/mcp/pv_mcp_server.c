/*
 * pv_mcp_server.c - the MCP server's life cycle, its sessions, the exchanges
 * that gather an input's answers, and the tool calls that run on the batch
 * engine with the completion thread that answers them.
 *
 * A tool call that needs the database is registered on its session (so
 * notifications/cancelled can find it) and its queries are submitted to the
 * batch engine. The engine reports each finished query (-> a progress
 * notification when the client asked for progress) and then the end of the
 * batch (on_done), which only queues the call for the completion thread.
 * That thread frees the batch handle (pv_batch_wait), renders the result
 * (which can be large: never on the engine's loop) and answers through the
 * input's exchange.
 *
 * No lock of ours is held while the engine calls us, except that
 * pv_batch_cancel is called under s->mu (so it never races pv_batch_wait,
 * which runs only after the call left its session's list).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp_int.h"

#define MS_PER_S  1000
#define NS_PER_MS 1000000L
#define NS_PER_S  1000000000L

/* ==== exchanges ======================================================== */

struct pv_mcp__exch *pv_mcp__exch_new(const struct pv_mcp_sink *sink, bool batch)
{
    struct pv_mcp__exch *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    if (batch) {
        x->batch = json_array();
        if (!x->batch) {
            free(x);
            return NULL;
        }
    }
    pthread_mutex_init(&x->mu, NULL);
    x->sink = *sink;
    x->pending = 1;
    return x;
}

void pv_mcp__exch_add(struct pv_mcp__exch *x)
{
    pthread_mutex_lock(&x->mu);
    x->pending++;
    pthread_mutex_unlock(&x->mu);
}

/* Answers one request (resp stolen; NULL: no answer) or, with NULL, drops
   the dispatcher's hold. The last one sends the batch and calls done. */
/* A stateless request's result: resultType and who answered (2026-07-28). */
static void decorate_modern(json_t *resp, const char *server_version)
{
    json_t *result = json_object_get(resp, "result");
    if (!json_is_object(result))
        return;
    if (!json_object_get(result, "resultType"))
        json_object_set_new(result, "resultType", json_string("complete"));
    json_t *meta = json_object_get(result, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        if (json_object_set_new(result, "_meta", meta) != 0)
            return;
    }
    json_object_set_new(meta, "io.modelcontextprotocol/serverInfo",
                        json_pack("{s:s, s:s}", "name", "pgvolley", "version", server_version));
}

void pv_mcp__exch_answer(struct pv_mcp__exch *x, json_t *resp)
{
    if (resp && x->modern_server_version)
        decorate_modern(resp, x->modern_server_version);
    if (resp && !x->batch) {
        x->sink.send(x->sink.arg, resp, false);
        json_decref(resp);
        resp = NULL;
    }
    pthread_mutex_lock(&x->mu);
    if (resp)
        json_array_append_new(x->batch, resp);
    bool last = --x->pending == 0;
    pthread_mutex_unlock(&x->mu);
    if (!last)
        return;
    if (x->batch && json_array_size(x->batch) > 0)
        x->sink.send(x->sink.arg, x->batch, false);
    x->sink.done(x->sink.arg);
    json_decref(x->batch);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* ==== sessions ======================================================== */

int pv_mcp_session_create(pv_mcp *m, pv_mcp_session **out)
{
    pv_mcp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return VOLLEY_ENOMEM;
    s->m = m;
    s->refs = 1;
    s->version = "";
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_lock(&m->mu);
    s->serial = ++m->next_serial;
    s->next = m->sessions;
    m->sessions = s;
    pthread_mutex_unlock(&m->mu);
    *out = s;
    return 0;
}

static void session_unref(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    pv_mcp *m = s->m;
    pthread_mutex_lock(&m->mu);
    for (pv_mcp_session **p = &m->sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Cancels a running call; under s->mu. */
void pv_mcp__call_cancel_locked(struct pv_mcp__call *c, bool by_client)
{
    if (by_client)
        c->cancelled = true;
    if (c->submitted && c->batch)
        pv_batch_cancel(c->batch);
}

void pv_mcp_session_cancel(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct pv_mcp__call *c = s->calls; c; c = c->next)
        pv_mcp__call_cancel_locked(c, true);
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_cancel_sink(pv_mcp_session *s, const void *sink_arg)
{
    pthread_mutex_lock(&s->mu);
    for (struct pv_mcp__call *c = s->calls; c; c = c->next)
        if (c->x->sink.arg == sink_arg)
            pv_mcp__call_cancel_locked(c, true);
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_stateless(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    s->stateless = true;
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_hold(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_drop(pv_mcp_session *s)
{
    if (s)
        session_unref(s);
}

void pv_mcp_session_stop(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    for (struct pv_mcp__call *c = s->calls; c; c = c->next)
        pv_mcp__call_cancel_locked(c, false);
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_release(pv_mcp_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->released = true;
    for (struct pv_mcp__call *c = s->calls; c; c = c->next)
        pv_mcp__call_cancel_locked(c, !s->stopped);
    pthread_mutex_unlock(&s->mu);
    session_unref(s);
}

size_t pv_mcp_session_running(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->ncalls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool pv_mcp_session_wait_slot(pv_mcp_session *s, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / MS_PER_S;
    deadline.tv_nsec += (long)(timeout_ms % MS_PER_S) * NS_PER_MS;
    if (deadline.tv_nsec >= NS_PER_S) {
        deadline.tv_sec++;
        deadline.tv_nsec -= NS_PER_S;
    }
    size_t limit = (size_t)s->m->opts.max_inflight;
    pthread_mutex_lock(&s->mu);
    while (s->ncalls >= limit)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
            break;
    bool ok = s->ncalls < limit;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool pv_mcp_session_initialized(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    bool r = s->initialized;
    pthread_mutex_unlock(&s->mu);
    return r;
}

const char *pv_mcp_session_version(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    const char *v = s->version;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ==== calls ============================================================ */

void pv_mcp__call_free(struct pv_mcp__call *c)
{
    json_decref(c->id);
    json_decref(c->progress);
    json_decref(c->args);
    free(c->page_sql);
    free(c->page_query);
    free(c->table);
    if (c->req.json || c->req.queries)
        pv_multi_request_fini(&c->req);
    for (size_t i = 0; c->res && i < c->n; i++)
        pv_bresult_fini(&c->res[i]);
    free(c->res);
    free(c);
}

static void on_result(void *arg, size_t index, const struct pv_bresult *r)
{
    struct pv_mcp__call *c = arg;
    c->finished++;
    if (!c->progress)
        return;
    const char *label = NULL;
    if (c->req.queries && index < c->req.n)
        label = c->req.queries[index].label;
    pv_buf msg = PV_BUF_INIT;
    if (label && *label)
        pv_buf_printf(&msg, "%s: ", label);
    else
        pv_buf_printf(&msg, "query %zu: ", index + 1);
    if (r->ok)
        pv_buf_printf(&msg, "%zu row%s in %.1f ms", r->nrows, r->nrows == 1 ? "" : "s", r->ms);
    else
        pv_buf_printf(&msg, "failed (%s)", r->sqlstate);
    json_t *n = pv_jrpc_notification("notifications/progress",
                                     json_pack("{s:O, s:I, s:I, s:s}", "progressToken", c->progress,
                                               "progress", (json_int_t)c->finished, "total",
                                               (json_int_t)c->n, "message", pv_buf_str(&msg)));
    if (n)
        c->x->sink.send(c->x->sink.arg, n, true);
    json_decref(n);
    pv_buf_fini(&msg);
}

static void on_done(void *arg)
{
    struct pv_mcp__call *c = arg;
    pv_mcp *m = c->s->m;
    pthread_mutex_lock(&m->mu);
    pv_fifo_push(&m->done, &c->qlink);
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Renders a finished call's JSON-RPC response. */
static json_t *call_response(pv_mcp *m, struct pv_mcp__call *c)
{
    double wall_ms = (double)(pv_now_ns() - c->t0) / PV_MCP__NS_PER_MS;
    json_t *result = c->tool->render ? c->tool->render(m, c, wall_ms) : NULL;
    if (!result)
        return pv_jrpc_error(c->id, PV_JRPC_INTERNAL_ERROR, "out of memory rendering the result",
                             NULL);
    return pv_jrpc_result(c->id, result);
}

static void *completion_main(void *arg)
{
    pv_mcp *m = arg;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        while (!m->done.head && !m->stopping)
            pthread_cond_wait(&m->cv, &m->mu);
        struct pv_slink *l = pv_fifo_pop(&m->done);
        pthread_mutex_unlock(&m->mu);
        if (!l)
            return NULL;
        struct pv_mcp__call *c = PV_CONTAINER_OF(l, struct pv_mcp__call, qlink);

        /* The engine may call on_done before pv_batch_submit has returned:
           wait for the submitter to have stored the handle. */
        pv_mcp_session *s = c->s;
        pthread_mutex_lock(&s->mu);
        while (!c->submitted)
            pthread_cond_wait(&s->cv, &s->mu);
        for (struct pv_mcp__call **p = &s->calls; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                break;
            }
        }
        s->ncalls--;
        pthread_cond_broadcast(&s->cv); /* a slot is free (pv_mcp_session_wait_slot) */
        bool cancelled = c->cancelled;
        pthread_mutex_unlock(&s->mu);

        pv_batch_wait(c->batch);
        c->batch = NULL;
        json_t *resp = cancelled ? NULL : call_response(m, c);
        pv_mcp__audit(s, c->tool->name, c->args, c, json_object_get(resp, "result"),
                      (double)(pv_now_ns() - c->t0) / PV_MCP__NS_PER_MS,
                      cancelled ? "cancelled" : NULL);
        pv_mcp__exch_answer(c->x, resp);
        pv_mcp__call_free(c);
        session_unref(s);

        pthread_mutex_lock(&m->mu);
        if (--m->live == 0)
            pthread_cond_broadcast(&m->idle_cv);
        pthread_mutex_unlock(&m->mu);
    }
}

/*
 * Submits a call's queries. On success the call answers later (returns
 * NULL); otherwise returns the tool result to answer with now and frees
 * the call.
 */
json_t *pv_mcp__call_start(pv_mcp_session *s, struct pv_mcp__call *c, const struct pv_bquery *q,
                           size_t n, json_t *fail_base, bool *started)
{
    pv_mcp *m = s->m;
    pthread_mutex_lock(&m->mu);
    bool closing = m->closing;
    if (!closing)
        m->live++;
    pthread_mutex_unlock(&m->mu);
    if (closing) {
        pv_mcp__call_free(c);
        return pv_mcp__tool_fail(fail_base, NULL, "the server is shutting down");
    }
    pthread_mutex_lock(&s->mu);
    size_t running = s->ncalls;
    bool ok = running < (size_t)m->opts.max_inflight && !s->released;
    if (ok) {
        c->next = s->calls;
        s->calls = c;
        s->ncalls++;
        s->refs++;
    }
    pthread_mutex_unlock(&s->mu);
    pv_err err = {{0}};
    int rc = VOLLEY_ENOMEM;
    if (ok) {
        c->s = s;
        c->n = n;
        c->res = calloc(n, sizeof(*c->res));
        c->t0 = pv_now_ns();
        struct pv_batch_callbacks cb = {on_result, on_done, c};
        pv_batch *b = NULL;
        rc = c->res
                 ? pv_batch_submit(m->engine, q, n, m->opts.max_concurrency, c->res, &cb, &b, &err)
                 : VOLLEY_ENOMEM;
        if (rc == 0) {
            pthread_mutex_lock(&s->mu);
            c->batch = b;
            c->submitted = true;
            if (c->cancelled)
                pv_batch_cancel(b);
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            json_decref(fail_base);
            *started = true;
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        for (struct pv_mcp__call **p = &s->calls; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                break;
            }
        }
        s->ncalls--;
        s->refs--; /* the owner's reference is held by our caller */
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&m->mu);
    if (--m->live == 0)
        pthread_cond_broadcast(&m->idle_cv);
    pthread_mutex_unlock(&m->mu);
    pv_mcp__call_free(c);
    if (!ok && running >= (size_t)m->opts.max_inflight)
        return pv_mcp__tool_fail(
            fail_base, NULL,
            "too many tool calls running in this session (at most %d); wait for "
            "some to finish",
            m->opts.max_inflight);
    if (!ok)
        return pv_mcp__tool_fail(fail_base, NULL, "the session has ended");
    if (rc == VOLLEY_ENOMEM && !err.msg[0])
        return pv_mcp__tool_fail(fail_base, NULL, "out of memory");
    return pv_mcp__tool_fail(fail_base, NULL, "cannot run the queries: %s", err.msg);
}

/* ==== server =========================================================== */

/* initialize's instructions: the guide, the dataset names and their policies (malloc'ed). */
static char *build_instructions(const pv_datasets *ds)
{
    pv_buf ins = PV_BUF_INIT;
    pv_buf_puts(&ins, pv_mcp__instructions);
    pv_buf_puts(&ins, " Datasets: ");
    pv_mcp__put_dataset_names(&ins, ds);
    pv_buf_putc(&ins, '.');
    for (size_t i = 0; i < pv_datasets_count(ds); i++)
        pv_mcp__put_policy(&ins, pv_datasets_get(ds, i));
    char *r = pv_buf_ok(&ins) == 0 ? pv_strdup(pv_buf_str(&ins)) : NULL;
    pv_buf_fini(&ins);
    return r;
}

json_t *pv_mcp__instructions_json(pv_mcp *m)
{
    pthread_mutex_lock(&m->mu);
    json_t *r = json_string(m->instructions);
    pthread_mutex_unlock(&m->mu);
    return r;
}

void pv_mcp__enter(pv_mcp *m)
{
    pthread_mutex_lock(&m->mu);
    while (m->reloading)
        pthread_cond_wait(&m->reload_cv, &m->mu);
    m->readers++;
    pthread_mutex_unlock(&m->mu);
}

void pv_mcp__leave(pv_mcp *m)
{
    pthread_mutex_lock(&m->mu);
    if (--m->readers == 0)
        pthread_cond_broadcast(&m->idle_cv);
    pthread_mutex_unlock(&m->mu);
}

int pv_mcp_reload(pv_mcp *m, const pv_datasets *ds, pv_batch_engine *engine)
{
    char *ins = build_instructions(ds);
    struct pv_mcp__schema_entry *cache =
        calloc(PV_MAX(pv_datasets_count(ds), (size_t)1), sizeof(*cache));
    if (!ins || !cache) {
        free(ins);
        free(cache);
        return VOLLEY_ENOMEM;
    }
    pthread_mutex_lock(&m->mu);
    while (m->reloading) /* another reload: after it */
        pthread_cond_wait(&m->reload_cv, &m->mu);
    m->reloading = true;
    while (m->readers > 0 || m->live > 0)
        pthread_cond_wait(&m->idle_cv, &m->mu);
    for (size_t i = 0; i < pv_datasets_count(m->ds); i++)
        json_decref(m->cache[i].tables);
    free(m->cache);
    free(m->instructions);
    m->cache = cache;
    m->instructions = ins;
    m->ds = ds;
    m->engine = engine;
    m->reloading = false;
    pthread_cond_broadcast(&m->reload_cv);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int pv_mcp_create(const pv_datasets *ds, pv_batch_engine *engine, const struct pv_mcp_opts *opts,
                  pv_mcp **out)
{
    pv_mcp *m = calloc(1, sizeof(*m));
    if (!m)
        return VOLLEY_ENOMEM;
    m->ds = ds;
    m->engine = engine;
    if (opts)
        m->opts = *opts;
    if (m->opts.schema_ttl_s <= 0)
        m->opts.schema_ttl_s = PV_MCP__DEFAULT_SCHEMA_TTL_S;
    if (m->opts.max_concurrency <= 0)
        m->opts.max_concurrency = PV_MULTI_MAX_CONCURRENCY;
    if (m->opts.max_inflight <= 0)
        m->opts.max_inflight = PV_MCP__DEFAULT_MAX_INFLIGHT;
    if (m->opts.cursor_ttl_s <= 0)
        m->opts.cursor_ttl_s = PV_MCP__DEFAULT_CURSOR_TTL_S;
    if (m->opts.max_cursors <= 0)
        m->opts.max_cursors = PV_MCP__DEFAULT_MAX_CURSORS;
    m->cursors = calloc((size_t)m->opts.max_cursors, sizeof(*m->cursors));
    snprintf(m->version, sizeof(m->version), "%s",
             m->opts.version ? m->opts.version : volley_version());
    m->opts.version = m->version;
    m->cache = calloc(PV_MAX(pv_datasets_count(ds), (size_t)1), sizeof(*m->cache));
    m->tools = pv_mcp__tools_list();
    m->instructions = build_instructions(ds);
    if (!m->cache || !m->tools || !m->instructions || !m->cursors) {
        free(m->cursors);
        free(m->instructions);
        json_decref(m->tools);
        free(m->cache);
        free(m);
        return VOLLEY_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_cond_init(&m->idle_cv, NULL);
    pthread_mutex_init(&m->audit_mu, NULL);
    pthread_cond_init(&m->reload_cv, NULL);
    if (pthread_create(&m->thread, NULL, completion_main, m) != 0) {
        pthread_cond_destroy(&m->reload_cv);
        pthread_mutex_destroy(&m->audit_mu);
        free(m->cursors);
        pthread_cond_destroy(&m->idle_cv);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m->instructions);
        json_decref(m->tools);
        free(m->cache);
        free(m);
        return VOLLEY_EIO;
    }
    *out = m;
    return 0;
}

void pv_mcp_shutdown(pv_mcp *m)
{
    pthread_mutex_lock(&m->mu);
    m->closing = true;
    for (pv_mcp_session *s = m->sessions; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        for (struct pv_mcp__call *c = s->calls; c; c = c->next)
            pv_mcp__call_cancel_locked(c, false);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&m->mu);
}

bool pv_mcp_wait_idle(pv_mcp *m, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / MS_PER_S;
        deadline.tv_nsec += (long)(timeout_ms % MS_PER_S) * NS_PER_MS;
        if (deadline.tv_nsec >= NS_PER_S) {
            deadline.tv_sec++;
            deadline.tv_nsec -= NS_PER_S;
        }
    }
    pthread_mutex_lock(&m->mu);
    while (m->live > 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&m->idle_cv, &m->mu);
        else if (timeout_ms == 0 ||
                 pthread_cond_timedwait(&m->idle_cv, &m->mu, &deadline) == ETIMEDOUT)
            break;
    }
    bool idle = m->live == 0;
    pthread_mutex_unlock(&m->mu);
    return idle;
}

void pv_mcp_destroy(pv_mcp *m)
{
    if (!m)
        return;
    pv_mcp_shutdown(m);
    pv_mcp_wait_idle(m, -1);
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    for (size_t i = 0; i < pv_datasets_count(m->ds); i++)
        json_decref(m->cache[i].tables);
    free(m->cache);
    free(m->instructions);
    json_decref(m->tools);
    pv_mcp__cursors_free(m);
    pthread_cond_destroy(&m->reload_cv);
    pthread_mutex_destroy(&m->audit_mu);
    pthread_cond_destroy(&m->idle_cv);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
