/*
 * pv_mcp.c - the transport-independent MCP server: protocol, sessions and
 * the six read-only tools (see pv_mcp.h).
 *
 * How a message flows. pv_mcp_handle classifies each message of an input
 * (one message or a batch) and answers what it can at once: initialize,
 * ping, tools/list, and the tools that need no database (or find the schema
 * in the cache). A tool call that needs the database becomes a `struct
 * call`: it is registered on its session (so notifications/cancelled can
 * find it), its queries are submitted to the batch engine, and pv_mcp_handle
 * returns. The engine reports each finished query (-> a progress
 * notification when the client asked for progress) and then the end of the
 * batch (on_done), which only queues the call for the completion thread.
 * That thread frees the batch handle (pv_batch_wait), renders the result
 * (Markdown + structured JSON, which can be large: never on the engine's
 * loop) and answers through the input's sink.
 *
 * An input's answers are gathered by a `struct exch` (exchange): it counts
 * the requests still unanswered and, for a batch, collects the responses
 * to send them as one array; it calls sink->done after the last one.
 *
 * Locks: m->mu (sessions, queue, live count, cache) may be taken before a
 * session's s->mu, never the other way round; an exchange's lock is a leaf.
 * No lock of ours is held while the engine calls us, except that
 * pv_batch_cancel is called under s->mu (so it never races pv_batch_wait,
 * which runs only after the call left its session's list).
 */
#include "mcp/pv_mcp.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "common/pv_utf8.h"
#include "mcp/pv_jsonrpc.h"
#include "multi/pv_multi.h"

#define DEFAULT_SCHEMA_TTL_S 300.0
#define DEFAULT_MAX_INFLIGHT 32
#define SAMPLE_DEFAULT_LIMIT 5
#define SAMPLE_MAX_LIMIT     100

static const char *const versions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

enum tool { T_LIST, T_SCHEMA, T_QUERY, T_SAMPLE, T_MULTI, T_CONTEXT };

static const char *const tool_names[] = {
    [T_LIST] = "list_available_datasets", [T_SCHEMA] = "get_dataset_schema",
    [T_QUERY] = "query_dataset",          [T_SAMPLE] = "get_dataset_sample",
    [T_MULTI] = "execute_multi_query",    [T_CONTEXT] = "get_context",
};

/* One dataset's cached schema: the "tables" array of get_dataset_schema. */
struct schema_entry {
    json_t *tables;
    uint64_t at_ns;
};

struct exch {
    pthread_mutex_t mu;
    struct pv_mcp_sink sink;
    json_t *batch;  /* responses gathered for a batch input, else NULL */
    size_t pending; /* unanswered requests + 1 while the input is dispatched */
};

struct call {
    struct call *next;  /* in the session's list of running calls */
    struct call *qnext; /* in the completion queue */
    pv_mcp_session *s;
    struct exch *x;
    json_t *id;       /* the request's id (reference) */
    json_t *progress; /* progressToken (reference) or NULL */
    enum tool tool;
    int dataset;
    int level;   /* get_context */
    char *table; /* get_dataset_sample: as given */
    int limit;
    char limit_txt[16];
    const char *params[1];
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
    pthread_cond_t cv; /* a call was submitted */
    int refs;          /* the owner's + one per running call */
    bool released;
    bool initialized;
    const char *version;
    struct call *calls;
    size_t ncalls;
};

struct pv_mcp {
    const pv_datasets *ds;
    pv_batch_engine *engine;
    struct pv_mcp_opts opts;
    char version[64];
    char *instructions; /* initialize's: the guide and the dataset names */
    json_t *tools;      /* the tools/list result */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue not empty, or stopping */
    pthread_cond_t idle_cv; /* live reached 0 */
    pv_mcp_session *sessions;
    size_t live; /* calls submitted and not yet answered */
    bool closing;
    bool stopping;
    struct call *q_head, *q_tail;
    struct schema_entry *cache;
    pthread_t thread;
};

/* ==== small helpers ==================================================== */

static const char *dataset_name(pv_mcp *m, int i)
{
    return pv_datasets_get(m->ds, (size_t)i)->name;
}

/* "a, b, c" - the dataset names, for error messages. */
static void put_dataset_names(pv_buf *b, const pv_datasets *ds)
{
    for (size_t i = 0; i < pv_datasets_count(ds); i++)
        pv_buf_printf(b, "%s%s", i ? ", " : "", pv_datasets_get(ds, i)->name);
}

/* A Markdown table cell: one line, '|' and '\' escaped; NULL shown as NULL. */
static void put_cell(pv_buf *b, const char *s)
{
    if (!s) {
        pv_buf_puts(b, "*NULL*");
        return;
    }
    for (; *s; s++) {
        if (*s == '|')
            pv_buf_putc(b, '\\');
        if (*s == '\n' || *s == '\r' || *s == '\t')
            pv_buf_putc(b, ' ');
        else
            pv_buf_putc(b, *s);
    }
}

/* SQL text in a fenced block long enough not to be closed by the text. */
static void put_code(pv_buf *b, const char *lang, const char *s)
{
    size_t run = 0, longest = 0;
    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        longest = PV_MAX(longest, run);
    }
    size_t fence = PV_MAX((size_t)3, longest + 1);
    pv_buf_fill(b, '`', fence);
    pv_buf_printf(b, "%s\n%s\n", lang, s);
    pv_buf_fill(b, '`', fence);
    pv_buf_putc(b, '\n');
}

/*
 * A JSON string from text that may not be valid UTF-8 (server messages,
 * cell values in Markdown): invalid bytes become U+FFFD.
 */
static json_t *jstring(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    pv_buf b = PV_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (*p) {
        size_t n = pv_utf8_seq(p, left);
        if (n == 0) {
            pv_buf_puts(&b, "\xEF\xBF\xBD");
            n = 1;
        } else {
            pv_buf_append(&b, p, n);
        }
        p += n;
        left -= n;
    }
    j = pv_buf_ok(&b) == 0 ? json_string(pv_buf_str(&b)) : NULL;
    pv_buf_fini(&b);
    return j;
}

/* {"message": msg, "sqlstate": sqlstate|null} */
static json_t *error_obj(const char *sqlstate, const char *msg)
{
    return json_pack("{s:o, s:s?}", "message", jstring(msg), "sqlstate",
                     sqlstate && *sqlstate ? sqlstate : NULL);
}

/* A tool result: {"content":[{"type":"text","text":md}],"structuredContent":sc,"isError":e}.
   sc is stolen. */
static json_t *tool_result(const char *md, json_t *sc, bool is_error)
{
    json_t *r =
        json_pack("{s:[{s:s, s:o}], s:o, s:b}", "content", "type", "text", "text", jstring(md),
                  "structuredContent", sc ? sc : json_object(), "isError", is_error);
    return r;
}

/*
 * A failed tool call: text plus base (stolen; the tool's structured shape
 * for "nothing", so that it still matches the declared outputSchema) with
 * "error" added.
 */
static json_t *tool_fail(json_t *base, const char *sqlstate, const char *fmt, ...) PV_PRINTF(3, 4);
static json_t *tool_fail(json_t *base, const char *sqlstate, const char *fmt, ...)
{
    pv_buf b = PV_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    pv_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (!base)
        base = json_object();
    json_object_set_new(base, "error", error_obj(sqlstate, pv_buf_str(&b)));
    pv_buf md = PV_BUF_INIT;
    pv_buf_printf(&md, "**Error**%s%s%s: %s\n", sqlstate && *sqlstate ? " (SQLSTATE " : "",
                  sqlstate && *sqlstate ? sqlstate : "", sqlstate && *sqlstate ? ")" : "",
                  pv_buf_str(&b));
    json_t *r = tool_result(pv_buf_str(&md), base, true);
    pv_buf_fini(&b);
    pv_buf_fini(&md);
    return r;
}

static double ms_since(uint64_t t0)
{
    return (double)(pv_now_ns() - t0) / 1e6;
}

/* ==== tool definitions ================================================= */

static json_t *p_str(const char *desc)
{
    return json_pack("{s:s, s:s}", "type", "string", "description", desc);
}

static json_t *p_int(const char *desc, int min, int max)
{
    return json_pack("{s:s, s:s, s:i, s:i}", "type", "integer", "description", desc, "minimum", min,
                     "maximum", max);
}

static json_t *p_any(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

static json_t *p_nullable(const char *type)
{
    return json_pack("{s:[s, s]}", "type", type, "null");
}

/* The structured shape of one query's result (query_dataset, sample, multi). */
static json_t *result_props(void)
{
    json_t *p = json_pack(
        "{s:o, s:o, s:o, s:{s:s, s:o}, s:{s:s, s:{s:s, s:o}}, s:o, s:o, s:o, s:{s:[s, s], s:{s:o, "
        "s:o}}}",
        "label", p_nullable("string"), "dataset", p_nullable("string"), "ok", p_any("boolean"),
        "columns", "type", "array", "items", p_any("string"), "rows", "type", "array", "items",
        "type", "array", "items", p_nullable("string"), "row_count", p_any("integer"), "truncated",
        p_any("boolean"), "ms", p_any("number"), "error", "type", "object", "null", "properties",
        "sqlstate", p_nullable("string"), "message", p_any("string"));
    json_object_set_new(p, "types",
                        json_pack("{s:s, s:o, s:s}", "type", "array", "items", p_any("string"),
                                  "description", "column type names, e.g. int4, text"));
    return p;
}

static json_t *annotations(const char *title)
{
    return json_pack("{s:s, s:b, s:b, s:b, s:b}", "title", title, "readOnlyHint", 1,
                     "destructiveHint", 0, "idempotentHint", 1, "openWorldHint", 0);
}

static json_t *tool_def(const char *name, const char *title, const char *desc, json_t *input,
                        json_t *output)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", name, "title", title, "description",
                     desc, "inputSchema", input, "outputSchema", output, "annotations",
                     annotations(title));
}

static json_t *build_tools(void)
{
    json_t *error_prop = json_pack("{s:s, s:{s:o, s:o}}", "type", "object", "properties", "message",
                                   p_any("string"), "sqlstate", p_nullable("string"));
    json_t *table_props = json_pack(
        "{s:s, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}}", "type", "object", "properties",
        "schema", p_any("string"), "name", p_any("string"), "kind", p_any("string"), "row_estimate",
        json_pack("{s:[s, s], s:s}", "type", "integer", "null", "description",
                  "pg_class.reltuples; null when never analysed"),
        "description", p_nullable("string"), "columns", p_any("array"), "primary_key",
        p_nullable("array"), "foreign_keys", p_any("array"));

    json_t *tools = json_array();
    json_array_append_new(
        tools,
        tool_def("list_available_datasets", "List datasets",
                 "Lists the datasets (PostgreSQL databases) this server can query: name, "
                 "description and the row limit of each. Start here; pass a name as \"dataset\" "
                 "to the other tools.",
                 json_pack("{s:s, s:{}}", "type", "object", "properties"),
                 json_pack("{s:s, s:{s:{s:s, s:{s:s, s:{s:o, s:o, s:o, s:o, s:o}}}}, s:[s]}",
                           "type", "object", "properties", "datasets", "type", "array", "items",
                           "type", "object", "properties", "id", p_any("integer"), "name",
                           p_any("string"), "description", p_any("string"), "max_rows",
                           p_any("integer"), "statement_timeout_ms", p_any("integer"), "required",
                           "datasets")));
    json_array_append_new(
        tools,
        tool_def("get_dataset_schema", "Dataset schema",
                 "Describes a dataset's tables and views: columns with their types and "
                 "nullability, primary and foreign keys, and estimated row counts (from "
                 "pg_class.reltuples). Cached for a few minutes; refresh=true reads it anew.",
                 json_pack("{s:s, s:{s:o, s:o}, s:[s]}", "type", "object", "properties", "dataset",
                           p_str("dataset name (see list_available_datasets)"), "refresh",
                           json_pack("{s:s, s:s, s:b}", "type", "boolean", "description",
                                     "bypass the cache", "default", 0),
                           "required", "dataset"),
                 json_pack("{s:s, s:{s:o, s:o, s:o, s:{s:s, s:O}, s:O}, s:[s, s]}", "type",
                           "object", "properties", "dataset", p_any("string"), "cached",
                           p_any("boolean"), "age_s", p_any("number"), "tables", "type", "array",
                           "items", table_props, "error", error_prop, "required", "dataset",
                           "tables")));
    json_array_append_new(
        tools,
        tool_def("query_dataset", "Query a dataset",
                 "Runs one read-only SQL query (a single SELECT, VALUES, TABLE, SHOW or EXPLAIN) "
                 "on a dataset and returns its rows. Anything that writes is refused. For several "
                 "questions use execute_multi_query instead: one call, run in parallel.",
                 json_pack("{s:s, s:{s:o, s:o, s:o}, s:[s, s]}", "type", "object", "properties",
                           "dataset", p_str("dataset name (see list_available_datasets)"), "query",
                           p_str("one read-only SQL statement"), "label",
                           p_str("optional title for the result"), "required", "dataset", "query"),
                 json_pack("{s:s, s:o, s:[s]}", "type", "object", "properties", result_props(),
                           "required", "ok")));
    json_t *sample_props = result_props();
    json_object_set_new(sample_props, "table", p_any("string"));
    json_object_set_new(sample_props, "limit", p_any("integer"));
    json_array_append_new(
        tools,
        tool_def("get_dataset_sample", "Sample rows",
                 "Returns the first rows of one table or view (SELECT * ... LIMIT n), to see real "
                 "values. The table is a name as get_dataset_schema shows it, optionally "
                 "schema-qualified (schema.table); it is quoted as an identifier, never spliced.",
                 json_pack("{s:s, s:{s:o, s:o, s:{s:s, s:s, s:i, s:i, s:i}}, s:[s, s]}", "type",
                           "object", "properties", "dataset",
                           p_str("dataset name (see list_available_datasets)"), "table",
                           p_str("table or view, e.g. orders or public.orders"), "limit", "type",
                           "integer", "description", "rows to return (1..100, default 5)",
                           "minimum", 1, "maximum", SAMPLE_MAX_LIMIT, "default",
                           SAMPLE_DEFAULT_LIMIT, "required", "dataset", "table"),
                 json_pack("{s:s, s:o, s:[s]}", "type", "object", "properties", sample_props,
                           "required", "ok")));
    json_array_append_new(
        tools,
        tool_def(
            "execute_multi_query", "Run many queries at once",
            "Runs up to 30 read-only SQL queries in parallel, on one or several datasets, in a "
            "single call (one approval), and returns every result in one Markdown report plus "
            "structured JSON. One failed query does not stop the others: it is reported with its "
            "SQLSTATE. Prefer this to repeated query_dataset calls.",
            json_pack(
                "{s:s, s:{s:{s:s, s:s, s:i, s:i, s:{s:s, s:{s:o, s:o, s:o, s:o}, s:[s]}}}, s:[s]}",
                "type", "object", "properties", "queries", "type", "array", "description",
                "the queries; each names its dataset (by name, or by 1-based dataset_id)",
                "minItems", 1, "maxItems", PV_MULTI_MAX_QUERIES, "items", "type", "object",
                "properties", "dataset", p_str("dataset name"), "dataset_id",
                p_int("1-based position of the dataset in list_available_datasets", 1, 1000000),
                "query", p_str("one read-only SQL statement"), "label",
                p_str("optional title for this result"), "required", "query", "required",
                "queries"),
            json_pack("{s:s, s:{s:o, s:o, s:o, s:o, s:{s:s, s:{s:s, s:o}}, s:O}, s:[s, s, s, s]}",
                      "type", "object", "properties", "total", p_any("integer"), "succeeded",
                      p_any("integer"), "failed", p_any("integer"), "wall_ms", p_any("number"),
                      "results", "type", "array", "items", "type", "object", "properties",
                      result_props(), "error", error_prop, "required", "total", "succeeded",
                      "failed", "results")));
    json_array_append_new(
        tools,
        tool_def("get_context", "Context by level",
                 "Context in growing detail. level 0: how to use these tools; 1: the datasets "
                 "with descriptions; 2: one dataset's tables with estimated row counts; 3: full "
                 "detail (columns, types, keys). Levels 2 and 3 need a dataset when there are "
                 "several.",
                 json_pack("{s:s, s:{s:{s:s, s:s, s:i, s:i, s:i}, s:o}}", "type", "object",
                           "properties", "level", "type", "integer", "description",
                           "0 guide, 1 datasets, 2 tables, 3 full schema (default 0)", "minimum", 0,
                           "maximum", 3, "default", 0, "dataset",
                           p_str("dataset name (levels 2 and 3)")),
                 json_pack("{s:s, s:{s:o, s:o, s:o, s:o, s:o, s:O}, s:[s]}", "type", "object",
                           "properties", "level", p_any("integer"), "guide", p_any("string"),
                           "datasets", p_any("array"), "dataset", p_any("string"), "tables",
                           p_any("array"), "error", error_prop, "required", "level")));
    json_decref(error_prop);
    json_decref(table_props);
    if (json_array_size(tools) != PV_ARRAY_LEN(tool_names)) {
        json_decref(tools);
        return NULL;
    }
    return json_pack("{s:o}", "tools", tools);
}

static const char guide_md[] =
    "# Using pgvolley's tools\n"
    "\n"
    "pgvolley serves PostgreSQL datasets **read-only**: each query runs alone in a READ ONLY "
    "transaction that is always rolled back, with a statement timeout; only single SELECT-like "
    "statements (SELECT, VALUES, TABLE, SHOW, EXPLAIN) are accepted.\n"
    "\n"
    "1. `list_available_datasets` (or `get_context` level 1): the datasets and what they hold.\n"
    "2. `get_context` level 2 with a dataset: its tables and estimated row counts; level 3 or "
    "`get_dataset_schema`: columns, types, primary and foreign keys.\n"
    "3. `get_dataset_sample`: the first rows of one table, to see real values.\n"
    "4. `execute_multi_query`: several questions at once - up to 30 queries, on any datasets, "
    "run in parallel in one call. Prefer it to repeated `query_dataset` calls.\n"
    "5. `query_dataset`: one query.\n"
    "\n"
    "Tips: aggregate in SQL (GROUP BY, COUNT, AVG) instead of fetching raw rows; each result "
    "keeps at most the dataset's max_rows rows (marked truncated beyond); write identifiers as "
    "the schema shows them and double-quote mixed-case names.\n";

static const char instructions[] =
    "Read-only SQL access to PostgreSQL datasets. Call list_available_datasets (or get_context "
    "level 1) first, then get_context level 2/3 or get_dataset_schema for tables and columns. "
    "Answer several questions with ONE execute_multi_query call (up to 30 queries run in "
    "parallel) rather than many query_dataset calls. Only single SELECT-like statements are "
    "accepted; aggregate in SQL, results are limited to the dataset's max_rows.";

/* ==== exchanges ======================================================== */

static struct exch *exch_new(const struct pv_mcp_sink *sink, bool batch)
{
    struct exch *x = calloc(1, sizeof(*x));
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

static void exch_add(struct exch *x)
{
    pthread_mutex_lock(&x->mu);
    x->pending++;
    pthread_mutex_unlock(&x->mu);
}

/* Answers one request (resp stolen; NULL: no answer) or, with NULL, drops
   the dispatcher's hold. The last one sends the batch and calls done. */
static void exch_answer(struct exch *x, json_t *resp)
{
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

/* ==== sessions ========================================================= */

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
static void call_cancel_locked(struct call *c, bool by_client)
{
    if (by_client)
        c->cancelled = true;
    if (c->submitted && c->batch)
        pv_batch_cancel(c->batch);
}

void pv_mcp_session_cancel(pv_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct call *c = s->calls; c; c = c->next)
        call_cancel_locked(c, true);
    pthread_mutex_unlock(&s->mu);
}

void pv_mcp_session_release(pv_mcp_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->released = true;
    pthread_mutex_unlock(&s->mu);
    pv_mcp_session_cancel(s);
    session_unref(s);
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

bool pv_mcp_version_supported(const char *version)
{
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        if (strcmp(version, versions[i]) == 0)
            return true;
    return false;
}

/* ==== schema =========================================================== */

/*
 * One statement, one row, one cell: the whole schema as JSON, built by the
 * server so that max_rows never truncates it. Plain catalog SELECTs; the
 * tables listed are those the role may read.
 */
static const char schema_sql[] =
    "SELECT coalesce(json_agg(json_build_object("
    "'schema', n.nspname, 'name', c.relname, "
    "'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' "
    "WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END, "
    "'row_estimate', CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END, "
    "'description', pg_catalog.obj_description(c.oid, 'pg_class'), "
    "'columns', (SELECT coalesce(json_agg(json_build_object('name', a.attname, "
    "'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull) "
    "ORDER BY a.attnum), '[]') FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
    "'primary_key', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM pg_catalog.pg_constraint con "
    "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
    "WHERE con.conrelid = c.oid AND con.contype = 'p'), "
    "'foreign_keys', (SELECT coalesce(json_agg(json_build_object('name', con.conname, "
    "'columns', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), "
    "'references', json_build_object('schema', fn.nspname, 'table', fc.relname, "
    "'columns', (SELECT json_agg(a.attname ORDER BY k.ord) "
    "FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum))) "
    "ORDER BY con.conname), '[]') "
    "FROM pg_catalog.pg_constraint con "
    "JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace "
    "WHERE con.conrelid = c.oid AND con.contype = 'f')"
    ") ORDER BY n.nspname, c.relname), '[]')::text AS schema "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
    "AND NOT c.relispartition "
    "AND pg_catalog.has_table_privilege(c.oid, 'SELECT')";

/* The cached tables (new reference) and their age, or NULL. */
static json_t *cache_get(pv_mcp *m, int ds, double *age_s)
{
    json_t *t = NULL;
    pthread_mutex_lock(&m->mu);
    struct schema_entry *e = &m->cache[ds];
    if (e->tables) {
        double age = (double)(pv_now_ns() - e->at_ns) / 1e9;
        if (age < m->opts.schema_ttl_s) {
            t = json_incref(e->tables);
            *age_s = age;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return t;
}

static void cache_put(pv_mcp *m, int ds, json_t *tables)
{
    pthread_mutex_lock(&m->mu);
    struct schema_entry *e = &m->cache[ds];
    json_decref(e->tables);
    e->tables = json_incref(tables);
    e->at_ns = pv_now_ns();
    pthread_mutex_unlock(&m->mu);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* schema.name of a table object, each part as a Markdown cell. */
static void put_table_name(pv_buf *b, json_t *t)
{
    put_cell(b, jstr(t, "schema"));
    pv_buf_putc(b, '.');
    put_cell(b, jstr(t, "name"));
}

static void put_row_estimate(pv_buf *b, json_t *t)
{
    json_t *est = json_object_get(t, "row_estimate");
    if (json_is_integer(est))
        pv_buf_printf(b, "~%lld", (long long)json_integer_value(est));
    else
        pv_buf_puts(b, "unknown (not analysed)");
}

/* "FK -> s.t(c)" for a column that is part of a foreign key. */
static void put_fk_marks(pv_buf *b, json_t *t, const char *col, bool *first)
{
    size_t i;
    json_t *fk;
    json_array_foreach(json_object_get(t, "foreign_keys"), i, fk)
    {
        json_t *cols = json_object_get(fk, "columns");
        json_t *ref = json_object_get(fk, "references");
        json_t *rcols = json_object_get(ref, "columns");
        size_t j;
        json_t *cn;
        json_array_foreach(cols, j, cn)
        {
            if (strcmp(json_string_value(cn) ? json_string_value(cn) : "", col) != 0)
                continue;
            pv_buf_puts(b, *first ? "" : ", ");
            *first = false;
            pv_buf_puts(b, "FK → ");
            put_cell(b, jstr(ref, "schema"));
            pv_buf_putc(b, '.');
            put_cell(b, jstr(ref, "table"));
            pv_buf_putc(b, '(');
            put_cell(b, json_string_value(json_array_get(rcols, j)));
            pv_buf_putc(b, ')');
        }
    }
}

static bool in_array(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                      strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

/* Markdown: the tables (level 2: names and estimates; full: columns and keys). */
static void put_schema_md(pv_buf *b, const char *dataset, json_t *tables, bool full, double age_s)
{
    size_t n = json_array_size(tables);
    pv_buf_printf(b, "# %s of dataset `%s`\n\n", full ? "Schema" : "Tables", dataset);
    pv_buf_printf(b, "%zu relation%s (tables and views)", n, n == 1 ? "" : "s");
    if (age_s >= 1)
        pv_buf_printf(b, " (cached %.0f s ago)", age_s);
    pv_buf_puts(b, ". Row counts are estimates (pg_class.reltuples).\n\n");
    if (n == 0) {
        pv_buf_puts(b, "_No table readable by this role._\n");
        return;
    }
    size_t i;
    json_t *t;
    if (!full) {
        pv_buf_puts(b, "| table | kind | rows (estimate) |\n| --- | --- | --- |\n");
        json_array_foreach(tables, i, t)
        {
            pv_buf_puts(b, "| ");
            put_table_name(b, t);
            pv_buf_printf(b, " | %s | ", jstr(t, "kind"));
            put_row_estimate(b, t);
            pv_buf_puts(b, " |\n");
        }
        pv_buf_puts(b, "\nget_context level 3 or get_dataset_schema give the columns.\n");
        return;
    }
    json_array_foreach(tables, i, t)
    {
        pv_buf_puts(b, "## ");
        put_table_name(b, t);
        pv_buf_printf(b, " (%s, ", jstr(t, "kind"));
        put_row_estimate(b, t);
        pv_buf_puts(b, " rows)\n\n");
        const char *desc = json_string_value(json_object_get(t, "description"));
        if (desc && *desc)
            pv_buf_printf(b, "%s\n\n", desc);
        json_t *pk = json_object_get(t, "primary_key");
        pv_buf_puts(b, "| column | type | nullable | key |\n| --- | --- | --- | --- |\n");
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            const char *name = jstr(c, "name");
            pv_buf_puts(b, "| ");
            put_cell(b, name);
            pv_buf_puts(b, " | ");
            put_cell(b, jstr(c, "type"));
            pv_buf_printf(b, " | %s | ",
                          json_is_true(json_object_get(c, "nullable")) ? "yes" : "no");
            bool first = true;
            if (in_array(pk, name)) {
                pv_buf_puts(b, "PK");
                first = false;
            }
            put_fk_marks(b, t, name, &first);
            pv_buf_puts(b, " |\n");
        }
        pv_buf_putc(b, '\n');
    }
}

/* Level 2's structured tables: names, kinds, estimates. */
static json_t *tables_brief(json_t *tables)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tables, i, t)
    {
        json_array_append_new(
            out, json_pack("{s:O, s:O, s:O, s:O}", "schema", json_object_get(t, "schema"), "name",
                           json_object_get(t, "name"), "kind", json_object_get(t, "kind"),
                           "row_estimate", json_object_get(t, "row_estimate")));
    }
    return out;
}

/* The answer of get_dataset_schema (tool == T_SCHEMA) or get_context 2/3. */
static json_t *schema_answer(pv_mcp *m, enum tool tool, int level, int ds, json_t *tables,
                             bool cached, double age_s)
{
    const char *name = dataset_name(m, ds);
    pv_buf md = PV_BUF_INIT;
    json_t *sc;
    if (tool == T_SCHEMA) {
        put_schema_md(&md, name, tables, true, age_s);
        sc = json_pack("{s:s, s:b, s:f, s:O}", "dataset", name, "cached", cached, "age_s", age_s,
                       "tables", tables);
    } else {
        put_schema_md(&md, name, tables, level >= 3, age_s);
        sc = json_pack("{s:i, s:s, s:o}", "level", level, "dataset", name, "tables",
                       level >= 3 ? json_incref(tables) : tables_brief(tables));
    }
    json_t *r = pv_buf_ok(&md) == 0 && sc ? tool_result(pv_buf_str(&md), sc, false) : NULL;
    if (!r)
        json_decref(sc);
    pv_buf_fini(&md);
    return r;
}

/* ==== calls ============================================================ */

static void call_free(struct call *c)
{
    json_decref(c->id);
    json_decref(c->progress);
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
    struct call *c = arg;
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
    struct call *c = arg;
    pv_mcp *m = c->s->m;
    pthread_mutex_lock(&m->mu);
    c->qnext = NULL;
    if (m->q_tail)
        m->q_tail->qnext = c;
    else
        m->q_head = c;
    m->q_tail = c;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* One query's answer: Markdown and structured (query_dataset, sample). */
static json_t *single_answer(pv_mcp *m, struct call *c, double wall_ms)
{
    const struct pv_bresult *r = &c->res[0];
    const struct pv_bquery *q = &c->req.queries[0];
    json_t *all = pv_multi_json(&c->req, c->res, m->ds, wall_ms);
    json_t *sc = json_incref(json_array_get(json_object_get(all, "results"), 0));
    json_decref(all);
    if (!sc)
        return NULL;
    if (c->tool == T_SAMPLE) {
        json_object_set_new(sc, "table", json_string(c->table));
        json_object_set_new(sc, "limit", json_integer(c->limit));
    }
    const char *dsname = dataset_name(m, q->dataset);
    pv_buf md = PV_BUF_INIT;
    if (!r->ok) {
        pv_buf_printf(&md, "# %s failed\n\n**Dataset**: %s | **SQLSTATE**: %s\n\n**Error**: %s\n\n",
                      c->tool == T_SAMPLE ? "Sample" : "Query", dsname, r->sqlstate,
                      r->message ? r->message : "unknown error");
        pv_buf_puts(&md, "**Query**:\n\n");
        put_code(&md, "sql", q->sql);
    } else {
        if (c->tool == T_SAMPLE) {
            pv_buf_puts(&md, "# Sample of ");
            put_cell(&md, c->table);
        } else {
            pv_buf_puts(&md, "# ");
            put_cell(&md, q->label && *q->label ? q->label : "Query result");
        }
        pv_buf_printf(&md, "\n\n**Rows**: %zu | **Time**: %.1f ms | **Dataset**: %s\n\n", r->nrows,
                      r->ms, dsname);
        if (r->ncols > 0) {
            pv_buf_puts(&md, "|");
            for (int j = 0; j < r->ncols; j++) {
                pv_buf_putc(&md, ' ');
                put_cell(&md, r->cols[j]);
                pv_buf_puts(&md, " |");
            }
            pv_buf_puts(&md, "\n|");
            for (int j = 0; j < r->ncols; j++)
                pv_buf_puts(&md, " --- |");
            pv_buf_putc(&md, '\n');
            for (size_t i = 0; i < r->nrows; i++) {
                pv_buf_puts(&md, "|");
                for (int j = 0; j < r->ncols; j++) {
                    pv_buf_putc(&md, ' ');
                    put_cell(&md, r->cells[i * (size_t)r->ncols + (size_t)j]);
                    pv_buf_puts(&md, " |");
                }
                pv_buf_putc(&md, '\n');
            }
        }
        if (r->truncated)
            pv_buf_printf(&md,
                          "\n_Truncated: only the first %zu rows are shown (the dataset's "
                          "max_rows). Aggregate in SQL or add a LIMIT._\n",
                          r->nrows);
    }
    json_t *res = pv_buf_ok(&md) == 0 ? tool_result(pv_buf_str(&md), sc, !r->ok) : NULL;
    if (!res)
        json_decref(sc);
    pv_buf_fini(&md);
    return res;
}

static json_t *multi_answer(pv_mcp *m, struct call *c, double wall_ms)
{
    pv_buf md = PV_BUF_INIT;
    if (pv_multi_markdown(&c->req, c->res, m->ds, wall_ms, &md) != 0) {
        pv_buf_fini(&md);
        return NULL;
    }
    json_t *sc = pv_multi_json(&c->req, c->res, m->ds, wall_ms);
    json_t *r = sc ? tool_result(pv_buf_str(&md), sc, false) : NULL;
    pv_buf_fini(&md);
    return r;
}

static json_t *schema_fail_base(pv_mcp *m, struct call *c)
{
    if (c->tool == T_SCHEMA)
        return json_pack("{s:s, s:[]}", "dataset", dataset_name(m, c->dataset), "tables");
    return json_pack("{s:i}", "level", c->level);
}

static json_t *schema_call_answer(pv_mcp *m, struct call *c)
{
    const struct pv_bresult *r = &c->res[0];
    if (!r->ok)
        return tool_fail(schema_fail_base(m, c), r->sqlstate,
                         "cannot read the schema of dataset '%s': %s", dataset_name(m, c->dataset),
                         r->message ? r->message : "unknown error");
    const char *cell = r->nrows == 1 && r->ncols == 1 ? r->cells[0] : NULL;
    json_error_t je;
    json_t *tables = cell ? json_loads(cell, 0, &je) : NULL;
    if (!json_is_array(tables)) {
        json_decref(tables);
        return tool_fail(schema_fail_base(m, c), NULL,
                         "cannot read the schema of dataset '%s': unexpected catalog answer",
                         dataset_name(m, c->dataset));
    }
    cache_put(m, c->dataset, tables);
    json_t *a = schema_answer(m, c->tool, c->level, c->dataset, tables, false, 0);
    json_decref(tables);
    return a;
}

/* Renders a finished call's JSON-RPC response. */
static json_t *call_response(pv_mcp *m, struct call *c)
{
    double wall_ms = ms_since(c->t0);
    json_t *result = NULL;
    switch (c->tool) {
    case T_QUERY:
    case T_SAMPLE: result = single_answer(m, c, wall_ms); break;
    case T_MULTI: result = multi_answer(m, c, wall_ms); break;
    case T_SCHEMA:
    case T_CONTEXT: result = schema_call_answer(m, c); break;
    case T_LIST: break;
    }
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
        while (!m->q_head && !m->stopping)
            pthread_cond_wait(&m->cv, &m->mu);
        struct call *c = m->q_head;
        if (!c) {
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        m->q_head = c->qnext;
        if (!m->q_head)
            m->q_tail = NULL;
        pthread_mutex_unlock(&m->mu);

        /* The engine may call on_done before pv_batch_submit has returned:
           wait for the submitter to have stored the handle. */
        pv_mcp_session *s = c->s;
        pthread_mutex_lock(&s->mu);
        while (!c->submitted)
            pthread_cond_wait(&s->cv, &s->mu);
        for (struct call **p = &s->calls; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                break;
            }
        }
        s->ncalls--;
        bool cancelled = c->cancelled;
        pthread_mutex_unlock(&s->mu);

        pv_batch_wait(c->batch);
        c->batch = NULL;
        exch_answer(c->x, cancelled ? NULL : call_response(m, c));
        call_free(c);
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
static json_t *call_start(pv_mcp_session *s, struct call *c, const struct pv_bquery *q, size_t n,
                          json_t *fail_base, bool *started)
{
    pv_mcp *m = s->m;
    pthread_mutex_lock(&m->mu);
    bool closing = m->closing;
    if (!closing)
        m->live++;
    pthread_mutex_unlock(&m->mu);
    if (closing) {
        call_free(c);
        return tool_fail(fail_base, NULL, "the server is shutting down");
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
        for (struct call **p = &s->calls; *p; p = &(*p)->next) {
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
    call_free(c);
    if (!ok && running >= (size_t)m->opts.max_inflight)
        return tool_fail(fail_base, NULL,
                         "too many tool calls running in this session (at most %d); wait for "
                         "some to finish",
                         m->opts.max_inflight);
    if (!ok)
        return tool_fail(fail_base, NULL, "the session has ended");
    if (rc == VOLLEY_ENOMEM && !err.msg[0])
        return tool_fail(fail_base, NULL, "out of memory");
    return tool_fail(fail_base, NULL, "cannot run the queries: %s", err.msg);
}

/* ==== argument checks ================================================== */

/* An invalid-params error: the response to answer with. */
struct argerr {
    char msg[PV_ERR_LEN];
};

static int bad_arg(struct argerr *e, const char *tool, const char *fmt, ...) PV_PRINTF(3, 4);
static int bad_arg(struct argerr *e, const char *tool, const char *fmt, ...)
{
    int n = snprintf(e->msg, sizeof(e->msg), "invalid arguments for tool %s: ", tool);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(e->msg))
        vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int arg_str(json_t *args, const char *tool, const char *key, bool required, const char **out,
                   struct argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = NULL;
    if (!v || (json_is_null(v) && !required)) {
        if (required)
            return bad_arg(e, tool, "\"%s\" is required (a string)", key);
        return 0;
    }
    if (!json_is_string(v))
        return bad_arg(e, tool, "\"%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int arg_int(json_t *args, const char *tool, const char *key, int min, int max, int def,
                   int *out, struct argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    /* An integral real (5.0) is an integer in JSON Schema. */
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v))
        d = json_real_value(v);
    else
        return bad_arg(e, tool, "\"%s\" must be an integer", key);
    if (d < min || d > max)
        return bad_arg(e, tool, "\"%s\" must be between %d and %d", key, min, max);
    *out = (int)d;
    return 0;
}

static int arg_bool(json_t *args, const char *tool, const char *key, bool *out, struct argerr *e)
{
    json_t *v = json_object_get(args, key);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad_arg(e, tool, "\"%s\" must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* ==== tools ============================================================ */

static json_t *tool_list_datasets(pv_mcp *m, int level)
{
    pv_buf md = PV_BUF_INIT;
    json_t *arr = json_array();
    size_t n = pv_datasets_count(m->ds);
    pv_buf_printf(&md, "# Available datasets\n\n%zu dataset%s. Pass a name as \"dataset\".\n\n", n,
                  n == 1 ? "" : "s");
    pv_buf_puts(&md, "| id | name | description | max rows |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < n; i++) {
        const struct pv_dataset *d = pv_datasets_get(m->ds, i);
        pv_buf_printf(&md, "| %zu | ", i + 1);
        put_cell(&md, d->name);
        pv_buf_puts(&md, " | ");
        put_cell(&md, d->description && *d->description ? d->description : "-");
        pv_buf_printf(&md, " | %d |\n", d->max_rows);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:i, s:i}", "id", (json_int_t)i + 1, "name", d->name,
                           "description", d->description ? d->description : "", "max_rows",
                           d->max_rows, "statement_timeout_ms", d->statement_timeout_ms));
    }
    json_t *sc = level < 0 ? json_pack("{s:o}", "datasets", arr)
                           : json_pack("{s:i, s:o}", "level", level, "datasets", arr);
    json_t *r = pv_buf_ok(&md) == 0 && sc ? tool_result(pv_buf_str(&md), sc, false) : NULL;
    if (!r)
        json_decref(sc);
    pv_buf_fini(&md);
    return r;
}

/* The dataset index for a name, or -1 after writing a tool error into *fail. */
static int find_dataset(pv_mcp *m, const char *name, json_t *fail_base, json_t **fail)
{
    int i = pv_datasets_index(m->ds, name);
    if (i >= 0) {
        json_decref(fail_base);
        return i;
    }
    pv_buf names = PV_BUF_INIT;
    put_dataset_names(&names, m->ds);
    *fail =
        tool_fail(fail_base, NULL, "unknown dataset '%s'; available: %s", name, pv_buf_str(&names));
    pv_buf_fini(&names);
    return -1;
}

/* A schema-backed answer: from the cache, or a call to the database. */
static json_t *schema_tool(pv_mcp_session *s, struct call *c, bool refresh, bool *started)
{
    pv_mcp *m = s->m;
    double age = 0;
    json_t *tables = refresh ? NULL : cache_get(m, c->dataset, &age);
    if (tables) {
        json_t *r = schema_answer(m, c->tool, c->level, c->dataset, tables, true, age);
        json_decref(tables);
        call_free(c);
        return r;
    }
    c->schema_q.dataset = c->dataset;
    c->schema_q.sql = schema_sql;
    c->schema_q.label = "schema";
    return call_start(s, c, &c->schema_q, 1, schema_fail_base(m, c), started);
}

int pv_mcp_quote_table(const char *in, pv_buf *out, pv_err *err)
{
    int parts = 0;
    const char *p = in;
    for (;;) {
        if (++parts > 2)
            return pv_err_set(err, VOLLEY_EINPUT,
                              "a table is 'table' or 'schema.table' (quote names that hold a "
                              "dot: \"my.table\")");
        pv_buf part = PV_BUF_INIT;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    pv_buf_fini(&part);
                    return pv_err_set(err, VOLLEY_EINPUT, "unterminated quoted name");
                }
                if (*p == '"' && p[1] == '"') {
                    pv_buf_putc(&part, '"');
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    pv_buf_putc(&part, *p++);
                }
            }
        } else {
            while (*p && *p != '.') {
                if (*p == '"') {
                    pv_buf_fini(&part);
                    return pv_err_set(err, VOLLEY_EINPUT, "a quote may only start a name: '%s'",
                                      in);
                }
                pv_buf_putc(&part, *p++);
            }
        }
        if (part.len == 0) {
            pv_buf_fini(&part);
            return pv_err_set(err, VOLLEY_EINPUT, "empty name in '%s'", in);
        }
        if (parts > 1)
            pv_buf_putc(out, '.');
        pv_buf_putc(out, '"');
        for (const char *q = pv_buf_str(&part); *q; q++) {
            if (*q == '"')
                pv_buf_putc(out, '"');
            pv_buf_putc(out, *q);
        }
        pv_buf_putc(out, '"');
        pv_buf_fini(&part);
        if (!*p)
            break;
        if (*p != '.')
            return pv_err_set(err, VOLLEY_EINPUT, "unexpected text after a quoted name in '%s'",
                              in);
        p++;
    }
    return pv_buf_ok(out) == 0 ? 0 : VOLLEY_ENOMEM;
}

/* Builds a one-query pv_multi_request for dataset/sql/label. */
static int single_request(pv_mcp *m, const char *dataset, const char *sql, const char *label,
                          struct pv_multi_request *req, pv_err *err)
{
    json_t *root = json_pack("{s:[{s:s, s:s, s:s*}]}", "queries", "dataset", dataset, "query", sql,
                             "label", label);
    if (!root)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    int rc = pv_multi_request_parse(root, m->ds, 1, req, err);
    json_decref(root);
    /* One query: "queries[0]: " says nothing here. */
    static const char prefix[] = "queries[0]: ";
    if (rc != 0 && err && strncmp(err->msg, prefix, sizeof(prefix) - 1) == 0)
        memmove(err->msg, err->msg + sizeof(prefix) - 1, strlen(err->msg + sizeof(prefix) - 1) + 1);
    return rc;
}

static json_t *single_fail_base(const char *dataset)
{
    return json_pack("{s:b, s:s?}", "ok", 0, "dataset", dataset);
}

static json_t *tool_query(pv_mcp_session *s, struct call *c, json_t *args, struct argerr *e,
                          bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset, *query, *label;
    if (arg_str(args, "query_dataset", "dataset", true, &dataset, e) != 0 ||
        arg_str(args, "query_dataset", "query", true, &query, e) != 0 ||
        arg_str(args, "query_dataset", "label", false, &label, e) != 0) {
        call_free(c);
        return NULL;
    }
    json_t *fail = NULL;
    if (find_dataset(m, dataset, single_fail_base(dataset), &fail) < 0) {
        call_free(c);
        return fail;
    }
    pv_err err = {{0}};
    if (single_request(m, dataset, query, label, &c->req, &err) != 0) {
        call_free(c);
        return tool_fail(single_fail_base(dataset), NULL, "%s", err.msg);
    }
    return call_start(s, c, c->req.queries, c->req.n, single_fail_base(dataset), started);
}

static json_t *tool_sample(pv_mcp_session *s, struct call *c, json_t *args, struct argerr *e,
                           bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset, *table;
    if (arg_str(args, "get_dataset_sample", "dataset", true, &dataset, e) != 0 ||
        arg_str(args, "get_dataset_sample", "table", true, &table, e) != 0 ||
        arg_int(args, "get_dataset_sample", "limit", 1, SAMPLE_MAX_LIMIT, SAMPLE_DEFAULT_LIMIT,
                &c->limit, e) != 0) {
        call_free(c);
        return NULL;
    }
    json_t *fail = NULL;
    if (find_dataset(m, dataset, single_fail_base(dataset), &fail) < 0) {
        call_free(c);
        return fail;
    }
    pv_buf sql = PV_BUF_INIT;
    pv_err err = {{0}};
    pv_buf_puts(&sql, "SELECT * FROM ");
    int rc = pv_mcp_quote_table(table, &sql, &err);
    pv_buf_puts(&sql, " LIMIT $1");
    if (rc == 0)
        rc = pv_buf_ok(&sql);
    if (rc == 0) {
        c->table = pv_strdup(table);
        rc = single_request(m, dataset, pv_buf_str(&sql), table, &c->req, &err);
    }
    pv_buf_fini(&sql);
    if (rc != 0) {
        call_free(c);
        return tool_fail(single_fail_base(dataset), NULL, "bad table name '%s': %s", table,
                         err.msg);
    }
    /* The limit is bound, like every value. */
    snprintf(c->limit_txt, sizeof(c->limit_txt), "%d", c->limit);
    c->params[0] = c->limit_txt;
    c->req.queries[0].nparams = 1;
    c->req.queries[0].params = c->params;
    return call_start(s, c, c->req.queries, c->req.n, single_fail_base(dataset), started);
}

static json_t *multi_fail_base(void)
{
    return json_pack("{s:i, s:i, s:i, s:f, s:[]}", "total", 0, "succeeded", 0, "failed", 0,
                     "wall_ms", 0.0, "results");
}

static json_t *tool_multi(pv_mcp_session *s, struct call *c, json_t *args, struct argerr *e,
                          bool *started)
{
    pv_mcp *m = s->m;
    const char *t = "execute_multi_query";
    json_t *qs = json_object_get(args, "queries");
    int bad = 0;
    if (!qs)
        bad = bad_arg(e, t, "\"queries\" is required (an array of {dataset, query, label})");
    else if (!json_is_array(qs))
        bad = bad_arg(e, t, "\"queries\" must be an array");
    else if (json_array_size(qs) == 0)
        bad = bad_arg(e, t, "\"queries\" is empty");
    else if (json_array_size(qs) > PV_MULTI_MAX_QUERIES)
        bad = bad_arg(e, t, "\"queries\" holds %zu queries; at most %d per call",
                      json_array_size(qs), PV_MULTI_MAX_QUERIES);
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q)
    {
        if (bad)
            break;
        json_t *v;
        if (!json_is_object(q))
            bad = bad_arg(e, t, "queries[%zu] must be an object", i);
        else if (!json_is_string(json_object_get(q, "query")))
            bad = bad_arg(e, t, "queries[%zu].query is required (a string)", i);
        else if ((v = json_object_get(q, "dataset")) && !json_is_string(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].dataset must be a string", i);
        else if ((v = json_object_get(q, "dataset_id")) && !json_is_integer(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].dataset_id must be an integer", i);
        else if ((v = json_object_get(q, "label")) && !json_is_string(v) && !json_is_null(v))
            bad = bad_arg(e, t, "queries[%zu].label must be a string", i);
    }
    if (bad) {
        call_free(c);
        return NULL;
    }
    pv_err err = {{0}};
    int rc = pv_multi_request_parse(args, m->ds, PV_MULTI_MAX_QUERIES, &c->req, &err);
    if (rc != 0) {
        call_free(c);
        if (rc == VOLLEY_ENOMEM)
            return tool_fail(multi_fail_base(), NULL, "out of memory");
        pv_buf names = PV_BUF_INIT;
        put_dataset_names(&names, m->ds);
        json_t *r =
            tool_fail(multi_fail_base(), NULL, "%s (datasets: %s)", err.msg, pv_buf_str(&names));
        pv_buf_fini(&names);
        return r;
    }
    return call_start(s, c, c->req.queries, c->req.n, multi_fail_base(), started);
}

static json_t *tool_context(pv_mcp_session *s, struct call *c, json_t *args, struct argerr *e,
                            bool *started)
{
    pv_mcp *m = s->m;
    const char *dataset;
    if (arg_int(args, "get_context", "level", 0, 3, 0, &c->level, e) != 0 ||
        arg_str(args, "get_context", "dataset", false, &dataset, e) != 0) {
        call_free(c);
        return NULL;
    }
    if (c->level == 0) {
        call_free(c);
        json_t *sc = json_pack("{s:i, s:s, s:[s, s, s, s, s, s]}", "level", 0, "guide", guide_md,
                               "tools", tool_names[0], tool_names[1], tool_names[2], tool_names[3],
                               tool_names[4], tool_names[5]);
        return sc ? tool_result(guide_md, sc, false) : NULL;
    }
    if (c->level == 1) {
        int level = c->level;
        call_free(c);
        return tool_list_datasets(m, level);
    }
    if (!dataset && pv_datasets_count(m->ds) == 1) {
        dataset = pv_datasets_get(m->ds, 0)->name;
    } else if (!dataset) {
        pv_buf names = PV_BUF_INIT;
        put_dataset_names(&names, m->ds);
        json_t *r = tool_fail(json_pack("{s:i}", "level", c->level), NULL,
                              "level %d needs a dataset: one of %s", c->level, pv_buf_str(&names));
        pv_buf_fini(&names);
        call_free(c);
        return r;
    }
    json_t *fail = NULL;
    c->dataset = find_dataset(m, dataset, json_pack("{s:i}", "level", c->level), &fail);
    if (c->dataset < 0) {
        call_free(c);
        return fail;
    }
    return schema_tool(s, c, false, started);
}

/*
 * tools/call. Returns the response to send now, or NULL when the call was
 * started (it answers through x later).
 */
static json_t *handle_tools_call(pv_mcp_session *s, struct exch *x, json_t *id, json_t *params)
{
    pv_mcp *m = s->m;
    if (!json_is_object(params))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                             "tools/call needs params {name, arguments}", NULL);
    json_t *name = json_object_get(params, "name");
    if (!json_is_string(name))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, "tools/call: \"name\" must be a string",
                             NULL);
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                             "tools/call: \"arguments\" must be an object", NULL);
    json_t *empty = NULL;
    if (!json_is_object(args))
        args = empty = json_object();
    size_t tool = 0;
    while (tool < PV_ARRAY_LEN(tool_names) &&
           strcmp(tool_names[tool], json_string_value(name)) != 0)
        tool++;
    if (tool == PV_ARRAY_LEN(tool_names)) {
        json_decref(empty);
        pv_buf msg = PV_BUF_INIT;
        pv_buf_printf(&msg, "unknown tool '%s'", json_string_value(name));
        json_t *r = pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, pv_buf_str(&msg), NULL);
        pv_buf_fini(&msg);
        return r;
    }

    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(empty);
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    }
    c->tool = (enum tool)tool;
    c->x = x;
    c->id = json_incref(id);
    json_t *tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        c->progress = json_incref(tok);

    struct argerr e = {{0}};
    json_t *result = NULL;
    const char *dataset;
    bool refresh, started = false;
    json_t *fail = NULL;
    switch (c->tool) {
    case T_LIST:
        call_free(c);
        result = tool_list_datasets(m, -1);
        break;
    case T_SCHEMA:
        if (arg_str(args, "get_dataset_schema", "dataset", true, &dataset, &e) != 0 ||
            arg_bool(args, "get_dataset_schema", "refresh", &refresh, &e) != 0) {
            call_free(c);
            break;
        }
        c->dataset =
            find_dataset(m, dataset, json_pack("{s:s, s:[]}", "dataset", dataset, "tables"), &fail);
        if (c->dataset < 0) {
            call_free(c);
            result = fail;
            break;
        }
        result = schema_tool(s, c, refresh, &started);
        break;
    case T_QUERY: result = tool_query(s, c, args, &e, &started); break;
    case T_SAMPLE: result = tool_sample(s, c, args, &e, &started); break;
    case T_MULTI: result = tool_multi(s, c, args, &e, &started); break;
    case T_CONTEXT: result = tool_context(s, c, args, &e, &started); break;
    }
    /* Either a call was started (it answers x later, in place of this
       request) or the tool answered now. */
    json_decref(empty);
    if (started)
        return NULL;
    if (e.msg[0])
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS, e.msg, NULL);
    if (!result)
        return pv_jrpc_error(id, PV_JRPC_INTERNAL_ERROR, "out of memory", NULL);
    return pv_jrpc_result(id, result);
}

/* ==== protocol ========================================================= */

static json_t *handle_initialize(pv_mcp_session *s, json_t *id, json_t *params)
{
    pv_mcp *m = s->m;
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_object(params) || !json_is_string(pv))
        return pv_jrpc_error(id, PV_JRPC_INVALID_PARAMS,
                             "initialize: \"protocolVersion\" (a string) is required", NULL);
    const char *chosen = versions[0];
    for (size_t i = 0; i < PV_ARRAY_LEN(versions); i++)
        if (strcmp(json_string_value(pv), versions[i]) == 0)
            chosen = versions[i];
    pthread_mutex_lock(&s->mu);
    bool again = s->initialized;
    if (!again) {
        s->initialized = true;
        s->version = chosen;
    }
    pthread_mutex_unlock(&s->mu);
    if (again)
        return pv_jrpc_error(id, PV_JRPC_INVALID_REQUEST, "the session is already initialized",
                             NULL);
    return pv_jrpc_result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
                                        "protocolVersion", chosen, "capabilities", "tools",
                                        "listChanged", 0, "serverInfo", "name", "pgvolley", "title",
                                        "pgvolley (read-only PostgreSQL datasets)", "version",
                                        m->version, "instructions", m->instructions));
}

static void handle_cancelled(pv_mcp_session *s, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    if (!pv_jrpc_id_valid(rid))
        return;
    pthread_mutex_lock(&s->mu);
    for (struct call *c = s->calls; c; c = c->next)
        if (json_equal(c->id, rid))
            call_cancel_locked(c, true);
    pthread_mutex_unlock(&s->mu);
}

/* One message of an input. */
static void handle_one(pv_mcp_session *s, struct exch *x, json_t *msg, size_t *nreq)
{
    struct pv_jrpc_msg jm;
    pv_err err = {{0}};
    enum pv_jrpc_kind kind = pv_jrpc_classify(msg, &jm, &err);
    if (kind == PV_JRPC_RESPONSE)
        return; /* we send no requests; nothing to match */
    if (kind == PV_JRPC_NOTIFICATION) {
        if (strcmp(jm.method, "notifications/cancelled") == 0)
            handle_cancelled(s, jm.params);
        /* notifications/initialized and others need nothing */
        return;
    }
    (*nreq)++;
    exch_add(x);
    if (kind == PV_JRPC_INVALID) {
        exch_answer(x, pv_jrpc_error(jm.id, PV_JRPC_INVALID_REQUEST, err.msg, NULL));
        return;
    }
    json_t *resp;
    const char *method = jm.method;
    if (jm.params && !json_is_object(jm.params)) {
        resp = pv_jrpc_error(jm.id, PV_JRPC_INVALID_PARAMS, "params must be an object", NULL);
    } else if (strcmp(method, "initialize") == 0) {
        resp = handle_initialize(s, jm.id, jm.params);
    } else if (strcmp(method, "ping") == 0) {
        resp = pv_jrpc_result(jm.id, json_object());
    } else if (!pv_mcp_session_initialized(s)) {
        resp = pv_jrpc_error(jm.id, PV_JRPC_INVALID_REQUEST,
                             "the session is not initialized: send initialize first", NULL);
    } else if (strcmp(method, "tools/list") == 0) {
        resp = pv_jrpc_result(jm.id, json_deep_copy(s->m->tools));
    } else if (strcmp(method, "tools/call") == 0) {
        resp = handle_tools_call(s, x, jm.id, jm.params);
        if (!resp)
            return; /* answers later */
    } else {
        pv_buf b = PV_BUF_INIT;
        pv_buf_printf(&b, "method not found: %s", method);
        resp = pv_jrpc_error(jm.id, PV_JRPC_METHOD_NOT_FOUND, pv_buf_str(&b), NULL);
        pv_buf_fini(&b);
    }
    exch_answer(x, resp);
}

size_t pv_mcp_handle(pv_mcp_session *s, json_t *root, const struct pv_mcp_sink *sink)
{
    bool batch = json_is_array(root);
    struct exch *x = exch_new(sink, batch);
    if (!x) {
        sink->done(sink->arg);
        return 0;
    }
    size_t nreq = 0;
    if (batch) {
        size_t i;
        json_t *msg;
        json_array_foreach(root, i, msg) handle_one(s, x, msg, &nreq);
    } else {
        handle_one(s, x, root, &nreq);
    }
    exch_answer(x, NULL);
    return nreq;
}

size_t pv_mcp_handle_text(pv_mcp_session *s, const char *text, size_t len,
                          const struct pv_mcp_sink *sink)
{
    json_t *root = NULL, *reply = NULL;
    pv_err err = {{0}};
    if (pv_jrpc_parse(text, len, &root, &reply, &err) == 0) {
        size_t n = pv_mcp_handle(s, root, sink);
        json_decref(root);
        return n;
    }
    if (reply)
        sink->send(sink->arg, reply, false);
    json_decref(reply);
    sink->done(sink->arg);
    return 1;
}

static bool wants_progress_one(json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    if (!json_is_string(method) || strcmp(json_string_value(method), "tools/call") != 0 ||
        !json_object_get(msg, "id"))
        return false;
    json_t *tok =
        json_object_get(json_object_get(json_object_get(msg, "params"), "_meta"), "progressToken");
    return json_is_string(tok) || json_is_integer(tok);
}

bool pv_mcp_wants_progress(json_t *root)
{
    if (!json_is_array(root))
        return wants_progress_one(root);
    size_t i;
    json_t *msg;
    json_array_foreach(root, i, msg) if (wants_progress_one(msg)) return true;
    return false;
}

static bool is_initialize_one(json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    return json_is_string(method) && strcmp(json_string_value(method), "initialize") == 0 &&
           json_object_get(msg, "id");
}

bool pv_mcp_is_initialize(json_t *root)
{
    if (!json_is_array(root))
        return is_initialize_one(root);
    size_t i;
    json_t *msg;
    json_array_foreach(root, i, msg) if (is_initialize_one(msg)) return true;
    return false;
}

/* ==== server =========================================================== */

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
        m->opts.schema_ttl_s = DEFAULT_SCHEMA_TTL_S;
    if (m->opts.max_concurrency <= 0)
        m->opts.max_concurrency = PV_MULTI_MAX_CONCURRENCY;
    if (m->opts.max_inflight <= 0)
        m->opts.max_inflight = DEFAULT_MAX_INFLIGHT;
    snprintf(m->version, sizeof(m->version), "%s",
             m->opts.version ? m->opts.version : volley_version());
    m->opts.version = m->version;
    m->cache = calloc(PV_MAX(pv_datasets_count(ds), (size_t)1), sizeof(*m->cache));
    m->tools = build_tools();
    pv_buf ins = PV_BUF_INIT;
    pv_buf_puts(&ins, instructions);
    pv_buf_puts(&ins, " Datasets: ");
    put_dataset_names(&ins, ds);
    pv_buf_putc(&ins, '.');
    m->instructions = pv_buf_ok(&ins) == 0 ? pv_strdup(pv_buf_str(&ins)) : NULL;
    pv_buf_fini(&ins);
    if (!m->cache || !m->tools || !m->instructions) {
        free(m->instructions);
        json_decref(m->tools);
        free(m->cache);
        free(m);
        return VOLLEY_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_cond_init(&m->idle_cv, NULL);
    if (pthread_create(&m->thread, NULL, completion_main, m) != 0) {
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
        for (struct call *c = s->calls; c; c = c->next)
            call_cancel_locked(c, false);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&m->mu);
}

bool pv_mcp_wait_idle(pv_mcp *m, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
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
    pthread_cond_destroy(&m->idle_cv);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
