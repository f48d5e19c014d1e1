/*
 * pv_mcp_int.h - internals shared by the files of the MCP server; included
 * only inside src/mcp/ (the `pv_mcp__` prefix, as libuv's `uv__`).
 *
 * The files and what each owns:
 *   pv_mcp.c         protocol dispatch: initialize and version negotiation,
 *                    ping, tools/list, tools/call dispatch through the tool
 *                    table, notifications/cancelled, batches;
 *   pv_mcp_server.c  the server, sessions, exchanges, running calls and the
 *                    completion thread;
 *   pv_mcp_catalog.c the tool table (one row per tool) and tools/list;
 *   pv_mcp_tools.c   the tool handlers and their argument checks;
 *   pv_mcp_tools_explain.c  explain_query;
 *   pv_mcp_tools_health.c   the health tools (slow queries, locks, long
 *                    transactions, bloat, index problems);
 *   pv_mcp_schema.c  schema introspection: the catalog query, the cache and
 *                    the schema's Markdown;
 *   pv_mcp_render.c  rendering of tool results (Markdown and JSON helpers).
 *
 * Locks: m->mu (sessions, queue, live count, cache) may be taken before a
 * session's s->mu, never the other way round; an exchange's lock is a leaf.
 */
#ifndef PV_MCP_INT_H
#define PV_MCP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "common/pv_list.h"
#include "mcp/pv_mcp.h"
#include "multi/pv_multi.h"
#include "report/pv_render.h"
#include "report/pv_report_multi.h"

#define PV_MCP__DEFAULT_SCHEMA_TTL_S 300.0 /* pv_mcp_opts.schema_ttl_s <= 0 */
#define PV_MCP__DEFAULT_MAX_INFLIGHT 32    /* pv_mcp_opts.max_inflight <= 0 */
#define PV_MCP__SAMPLE_DEFAULT_LIMIT 5     /* get_dataset_sample's limit */
#define PV_MCP__SAMPLE_MAX_LIMIT     100
#define PV_MCP__DATASET_ID_MAX       1000000 /* execute_multi_query's dataset_id, in the schema */
#define PV_MCP__VERSION_LEN          64      /* serverInfo.version, with its NUL */
#define PV_MCP__INT_TXT_LEN          16      /* an int as text, with its NUL */
#define PV_MCP__NS_PER_MS            1e6
#define PV_MCP__NS_PER_S             1e9

/* get_context's levels. */
enum pv_mcp__level {
    PV_MCP__LEVEL_NONE = -1, /* not get_context: list_available_datasets */
    PV_MCP__LEVEL_GUIDE = 0,
    PV_MCP__LEVEL_DATASETS = 1,
    PV_MCP__LEVEL_TABLES = 2,
    PV_MCP__LEVEL_FULL = 3,
};

/* One dataset's cached schema: the "tables" array of get_dataset_schema. */
struct pv_mcp__schema_entry {
    json_t *tables;
    uint64_t at_ns;
};

/*
 * An exchange: the answers to one input. It counts the requests still
 * unanswered and, for a batch, collects the responses to send them as one
 * array; it calls sink->done after the last one.
 */
struct pv_mcp__exch {
    pthread_mutex_t mu;
    struct pv_mcp_sink sink;
    json_t *batch;  /* responses gathered for a batch input, else NULL */
    size_t pending; /* unanswered requests + 1 while the input is dispatched */
    /* A stateless (2026-07-28) request: each result gets resultType and
       _meta serverInfo with this version (borrowed from the server). */
    const char *modern_server_version; /* NULL: a legacy input */
};

struct pv_mcp__tool;

/* One tools/call request: answered now, or later by the completion thread. */
struct pv_mcp__call {
    struct pv_mcp__call *next; /* in the session's list of running calls */
    struct pv_slink qlink;     /* in the completion queue (m->done) */
    pv_mcp_session *s;
    struct pv_mcp__exch *x;
    json_t *id;       /* the request's id (reference) */
    json_t *progress; /* progressToken (reference) or NULL */
    const struct pv_mcp__tool *tool;
    int dataset;
    int level;   /* get_context */
    char *table; /* get_dataset_sample: as given */
    int limit;
    char limit_txt[PV_MCP__INT_TXT_LEN];
    char arg2_txt[PV_MCP__INT_TXT_LEN]; /* a health tool's second bound value */
    const char *params[2];
    int kind;                    /* explain_query: the format; a health tool: its check */
    bool analyze;                /* explain_query */
    struct pv_multi_request req; /* query_dataset, get_dataset_sample, execute_multi_query */
    struct pv_bquery schema_q;   /* get_dataset_schema, get_context */
    size_t n;
    struct pv_bresult *res;
    size_t finished; /* results so far (engine thread only) */
    pv_batch *batch;
    bool submitted; /* batch is set (or submission failed); under s->mu */
    bool cancelled; /* by the client: do not answer; under s->mu */
    uint64_t t0;
};

struct pv_mcp_session {
    pv_mcp *m;
    pv_mcp_session *next; /* m->sessions */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a call was submitted, or one ended */
    int refs;          /* the owner's + one per running call */
    bool released;
    bool stopped;   /* pv_mcp_session_stop: cancelled calls are still answered */
    bool stateless; /* pv_mcp_session_stateless: every request is a 2026-07-28 one */
    bool initialized;
    const char *version;
    struct pv_mcp__call *calls;
    size_t ncalls;
};

struct pv_mcp {
    const pv_datasets *ds;
    pv_batch_engine *engine;
    struct pv_mcp_opts opts;
    char version[PV_MCP__VERSION_LEN];
    char *instructions; /* initialize's: the guide and the dataset names */
    json_t *tools;      /* the tools/list result */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue not empty, or stopping */
    pthread_cond_t idle_cv; /* live reached 0 */
    pv_mcp_session *sessions;
    size_t live; /* calls submitted and not yet answered */
    bool closing;
    bool stopping;
    struct pv_fifo done; /* finished calls for the completion thread */
    struct pv_mcp__schema_entry *cache;
    pthread_t thread;
};

/* An invalid-params error of a tool call: the message to answer with. */
struct pv_mcp__argerr {
    char msg[PV_ERR_LEN];
};

/* A protocol version and what it prescribes (pv_mcp.c). */
struct pv_mcp__version {
    const char *name;
    bool modern;       /* stateless: no initialize; _meta on every request */
    bool batches;      /* JSON-RPC batches allowed */
    bool input_errors; /* invalid tool arguments are tool errors, not -32602 */
};

/* ==== the tool table (pv_mcp_catalog.c) ================================ */

/*
 * A tool's handler. Takes c (freed, or started: then it answers later).
 * @return the tool result to answer with now (new reference); NULL with
 *         *started set when the call was started; NULL with e->msg set for
 *         invalid arguments (-32602); NULL otherwise: out of memory.
 */
typedef json_t *(*pv_mcp__tool_fn)(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                                   struct pv_mcp__argerr *e, bool *started);

/* Renders a finished call's tool result (new reference), or NULL: out of memory. */
typedef json_t *(*pv_mcp__render_fn)(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);

/* One row per tool: everything tools/list shows and tools/call does. */
struct pv_mcp__tool {
    const char *name;
    const char *title; /* also annotations.title */
    const char *description;
    json_t *(*input_schema)(void);  /* new reference; NULL: out of memory */
    json_t *(*output_schema)(void); /* new reference; NULL: out of memory */
    pv_mcp__tool_fn handler;
    pv_mcp__render_fn render; /* a finished call's result; NULL: the tool never queries */
};

/* The tools, in tools/list order. */
extern const struct pv_mcp__tool pv_mcp__tools[];
extern const size_t pv_mcp__ntools;

/** The row of a tool name, or NULL. */
const struct pv_mcp__tool *pv_mcp__tool_find(const char *name);

/** The tools/list result (new reference), or NULL: out of memory. */
json_t *pv_mcp__tools_list(void);

/** The tool names in table order (new reference), or NULL. */
json_t *pv_mcp__tool_names(void);

/* get_context level 0's Markdown, and initialize's instructions (without the datasets). */
extern const char pv_mcp__guide_md[];
extern const char pv_mcp__instructions[];

/* ==== tool handlers (pv_mcp_tools.c) =================================== */

json_t *pv_mcp__tool_list(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                          struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__tool_schema(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__tool_query(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                           struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__tool_sample(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__tool_multi(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                           struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__tool_context(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                             struct pv_mcp__argerr *e, bool *started);

/* Shared with the other tool files; as the handlers' own checks: 0, or -1
   with e->msg set (bad_arg always returns -1). */
int pv_mcp__bad_arg(struct pv_mcp__argerr *e, const char *tool, const char *msg);
int pv_mcp__arg_str(json_t *args, const char *tool, const char *key, bool required,
                    const char **out, struct pv_mcp__argerr *e);
int pv_mcp__arg_int(json_t *args, const char *tool, const char *key, int min, int max, int def,
                    int *out, struct pv_mcp__argerr *e);
int pv_mcp__arg_bool(json_t *args, const char *tool, const char *key, bool *out,
                     struct pv_mcp__argerr *e);

/** The index of dataset name, or -1 with *fail set to a tool error built on
    fail_base (stolen either way). */
int pv_mcp__find_dataset(pv_mcp *m, const char *name, json_t *fail_base, json_t **fail);

/** A request of n queries (sqls, labels: NULL or n of them, copied) on one
    dataset. @return 0, VOLLEY_EINPUT or VOLLEY_ENOMEM (err set). */
int pv_mcp__request(pv_mcp *m, const char *dataset, const char *const *sqls,
                    const char *const *labels, size_t n, struct pv_multi_request *req, pv_err *err);

/* ==== explain_query and the health tools =============================== */

/* Defaults and bounds of the health tools' "limit" and long_transactions' "min_seconds". */
#define PV_MCP__HEALTH_DEFAULT_LIMIT 20
#define PV_MCP__HEALTH_MAX_LIMIT     200
#define PV_MCP__LONG_TX_DEFAULT_S    60
#define PV_MCP__LONG_TX_MAX_S        (30 * 24 * 3600)

json_t *pv_mcp__tool_explain(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                             struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__render_explain(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);

/* One handler and one renderer for every health tool (by c->tool->name). */
json_t *pv_mcp__tool_health(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                            struct pv_mcp__argerr *e, bool *started);
json_t *pv_mcp__render_health(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);

/* ==== schema introspection (pv_mcp_schema.c) =========================== */

/**
 * Answers a schema-backed call (get_dataset_schema: context false;
 * get_context 2/3: true) from the cache, or starts its catalog query.
 * Takes c; returns as a pv_mcp__tool_fn does.
 */
json_t *pv_mcp__schema_start(pv_mcp_session *s, struct pv_mcp__call *c, bool context, bool refresh,
                             bool *started);

/* Renderers of a finished catalog query (pv_mcp__render_fn). */
json_t *pv_mcp__render_schema(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);
json_t *pv_mcp__render_context(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);

/* ==== servers, sessions and calls (pv_mcp_server.c) ==================== */

/** A new exchange for one input (batch: answers sent as one array), or NULL. */
struct pv_mcp__exch *pv_mcp__exch_new(const struct pv_mcp_sink *sink, bool batch);

/** One more request to answer in x. */
void pv_mcp__exch_add(struct pv_mcp__exch *x);

/**
 * Answers one request (resp stolen; NULL: no answer) or, with NULL, drops
 * the dispatcher's hold. The last one sends the batch, calls done and frees x.
 */
void pv_mcp__exch_answer(struct pv_mcp__exch *x, json_t *resp);

/** Cancels a running call; under s->mu. by_client: it is not answered. */
void pv_mcp__call_cancel_locked(struct pv_mcp__call *c, bool by_client);

/** Frees a call that is not (or no longer) running. */
void pv_mcp__call_free(struct pv_mcp__call *c);

/**
 * Submits a call's queries (q: n of them, borrowed until the call ends).
 * On success the call answers later: returns NULL with *started set.
 * Otherwise frees the call and returns the tool result to answer with now,
 * built on fail_base (stolen either way).
 */
json_t *pv_mcp__call_start(pv_mcp_session *s, struct pv_mcp__call *c, const struct pv_bquery *q,
                           size_t n, json_t *fail_base, bool *started);

/* ==== rendering (pv_mcp_render.c) ====================================== */

/** The name of dataset i (borrowed from the datasets). */
const char *pv_mcp__dataset_name(pv_mcp *m, int i);

/** Appends "a, b, c": the dataset names, for error messages. */
void pv_mcp__put_dataset_names(pv_buf *b, const pv_datasets *ds);

/* Markdown cells and code blocks and JSON strings: report/pv_render.h. */

/**
 * A tool result {"content":[{"type":"text","text":md}],"structuredContent":sc,
 * "isError":is_error}; sc is stolen (NULL: {}). NULL: out of memory.
 */
json_t *pv_mcp__tool_result(const char *md, json_t *sc, bool is_error);

/**
 * A failed tool result: "**Error** (SQLSTATE x): message" and base (stolen;
 * the tool's structured shape for "nothing", so that it still matches the
 * declared outputSchema; NULL: {}) with "error": {message, sqlstate}.
 * @param sqlstate NULL or "" for none.
 */
json_t *pv_mcp__tool_fail(json_t *base, const char *sqlstate, const char *fmt, ...) PV_PRINTF(3, 4);

/** list_available_datasets (level PV_MCP__LEVEL_NONE) or get_context level 1. */
json_t *pv_mcp__render_datasets(pv_mcp *m, int level);

/* Renderers of finished calls (pv_mcp__render_fn). */
json_t *pv_mcp__render_query(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);
json_t *pv_mcp__render_sample(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);
json_t *pv_mcp__render_multi(pv_mcp *m, struct pv_mcp__call *c, double wall_ms);

#endif /* PV_MCP_INT_H */
