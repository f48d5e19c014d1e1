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
 *   pv_mcp_render.c  rendering of tool results (Markdown and JSON helpers);
 *   pv_mcp_limits.c  rate limits, the byte budget and continuation cursors;
 *   pv_mcp_audit.c   the audit log and the datasets' policy (tool and table
 *                    allow-lists as the tools see them).
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

#define PV_MCP__DEFAULT_CURSOR_TTL_S 300.0 /* pv_mcp_opts.cursor_ttl_s <= 0 */
#define PV_MCP__DEFAULT_MAX_CURSORS  256   /* pv_mcp_opts.max_cursors <= 0 */
#define PV_MCP__CURSOR_SQL_MAX       65536 /* longer queries get no cursor */
#define PV_MCP__CURSOR_ID_LEN        33    /* 32 hex digits and a NUL */
#define PV_MCP__ADDR_SLOTS           256   /* client addresses with a rate bucket */
#define PV_MCP__PEER_LEN             64

/* A token bucket of a rate limit. */
struct pv_mcp__bucket {
    double tokens;
    uint64_t at_ns; /* last refill; 0: never used (full) */
};

/* One client address's bucket (pv_mcp.addrs). */
struct pv_mcp__addr_bucket {
    char addr[PV_MCP__PEER_LEN]; /* "" when free */
    struct pv_mcp__bucket b;
    uint64_t used_ns;
};

/* A continuation cursor: the next page of a truncated query_dataset answer. */
struct pv_mcp__cursor {
    char id[PV_MCP__CURSOR_ID_LEN]; /* "" when free */
    char *dataset;                  /* by name: survives a reload */
    char *sql;                      /* the model's query, as given */
    char *label;
    size_t offset; /* rows already returned */
    uint64_t expires_ns;
};

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
    json_t *args;                /* the arguments (reference), for the audit log */
    char *page_sql;              /* fetch_next_page: the query, wrapped with OFFSET $1 */
    char *page_query;            /* fetch_next_page: the model's query */
    size_t page_offset;          /* fetch_next_page: rows before this page */
    char offset_txt[24];
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
    uint64_t serial;              /* for the audit log: 1, 2, ... per server */
    char peer[PV_MCP__PEER_LEN];  /* the client's address, or "" */
    struct pv_mcp__bucket bucket; /* the per-session rate limit's */
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
    uint64_t next_serial;                                 /* under mu */
    struct pv_mcp__bucket global;                         /* under mu */
    struct pv_mcp__addr_bucket addrs[PV_MCP__ADDR_SLOTS]; /* under mu */
    struct pv_mcp__cursor *cursors;                       /* opts.max_cursors; under mu */
    pthread_mutex_t audit_mu;                             /* a leaf: one line at a time */
    /* Reload (pv_mcp_reload): tools/call handlers running (under mu); while
       reloading, new ones wait on reload_cv until the datasets are swapped. */
    int readers;
    bool reloading;
    pthread_cond_t reload_cv;
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

/**
 * A tools/call handler begins (waits while a reload swaps the datasets) or
 * ends: between the two, and while its call runs (m->live), m->ds, m->engine
 * and m->cache stay as they are.
 */
void pv_mcp__enter(pv_mcp *m);
void pv_mcp__leave(pv_mcp *m);

/** initialize's and server/discover's instructions (a copy, new reference). */
json_t *pv_mcp__instructions_json(pv_mcp *m);

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

/* ==== limits (pv_mcp_limits.c) ======================================== */

/**
 * Takes one tool call from the session's, its address's and the global
 * buckets, or none of them.
 * @return 0 (the call may run) or the seconds to wait (>= 1).
 */
int pv_mcp__rate_take(pv_mcp_session *s);

/** The tool result of a rate-limit refusal (structured: base, stolen, with error.retry_after_s). */
json_t *pv_mcp__rate_fail(json_t *base, int retry_after_s);

/**
 * Applies the byte budget to a finished result: keeps the rows whose text
 * (cells plus a few bytes each) fits in *budget, frees the others, marks r
 * truncated, and takes what was kept from *budget.
 * @return true if rows were dropped for the budget.
 */
bool pv_mcp__budget_trim(struct pv_bresult *r, size_t *budget);

/**
 * Registers a cursor for the rows after offset of (dataset, sql); writes
 * its id into id. @return false (no cursor: the query is too long, out of
 * memory).
 */
bool pv_mcp__cursor_put(pv_mcp *m, const char *dataset, const char *sql, const char *label,
                        size_t offset, char id[PV_MCP__CURSOR_ID_LEN]);

/**
 * Takes a live cursor out of the store (a cursor serves one page).
 * @return false if unknown or expired; else its fields (malloc'ed; the caller frees).
 */
bool pv_mcp__cursor_take(pv_mcp *m, const char *id, char **dataset, char **sql, char **label,
                         size_t *offset);

/** Frees the cursors (pv_mcp_destroy). */
void pv_mcp__cursors_free(pv_mcp *m);

/* fetch_next_page's handler and renderer. */
json_t *pv_mcp__tool_next(pv_mcp_session *s, struct pv_mcp__call *c, json_t *args,
                          struct pv_mcp__argerr *e, bool *started);

/* ==== audit log and policy (pv_mcp_audit.c) ============================ */

/**
 * Writes one audit line for a tool call (when opts.audit_fd is set): the
 * time, the session, the tool, the datasets and queries (from c when it
 * ran, else from args), rows, duration and outcome. result borrowed (the
 * tool result, or NULL: cancelled).
 */
void pv_mcp__audit(pv_mcp_session *s, const char *tool, json_t *args, const struct pv_mcp__call *c,
                   json_t *result, double ms, const char *outcome);

/**
 * Whether the call's datasets (args.dataset, args.queries[].dataset or
 * dataset_id) allow the tool (their allow_tools). @return NULL or the
 * refusal's message (static storage of the caller's msg buffer).
 */
const char *pv_mcp__tool_refused(pv_mcp *m, const char *tool, json_t *args, char *msg,
                                 size_t msgsz);

/** The tables of a schema answer that the dataset's allow-lists let the model see (new ref). */
json_t *pv_mcp__visible_tables(pv_mcp *m, int dataset, json_t *tables);

/** Appends the policy's Markdown note for dataset i (or nothing). */
void pv_mcp__put_policy(pv_buf *b, const struct pv_dataset *d);

/*
 * Untrusted data in a tool's text: rows come between two lines holding a
 * random boundary, after a sentence telling the model not to follow them.
 */
void pv_mcp__untrusted_begin(pv_buf *b, char boundary[PV_MCP__CURSOR_ID_LEN]);
void pv_mcp__untrusted_end(pv_buf *b, const char boundary[PV_MCP__CURSOR_ID_LEN]);

#endif /* PV_MCP_INT_H */
