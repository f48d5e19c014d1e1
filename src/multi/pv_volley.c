/*
 * pv_volley.c - the public batch API (volley_client_*, volley_batch_run) over
 * pv_batch: options and array strides read the way include/volley.h promises.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"

/* The end of a field: a caller's struct holds f when its size reaches this. */
#define OFFSETOFEND(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
#define HAS(T, o, f)      ((o)->size >= OFFSETOFEND(T, f))

/* An options size beyond this is no sizeof (an uninitialised field). */
#define OPTS_SIZE_MAX 4096

/* max_concurrency 0: the default of `pgvolley multi --max-concurrency`. */
#define DEFAULT_MAX_CONCURRENCY 10

/* The element sizes of volley.h's first version, the least a caller may pass
   (they stay right when fields are appended). */
#define QUERY_SIZE_V1  OFFSETOFEND(struct volley_query, params)
#define RESULT_SIZE_V1 OFFSETOFEND(struct volley_result, ms)

/* No public struct ends in padding, so a field appended later cannot land in
   bytes an older caller left unset. Name the new last field when appending. */
_Static_assert(sizeof(struct volley_client_options) ==
                   OFFSETOFEND(struct volley_client_options, dsn),
               "volley_client_options ends in padding");
_Static_assert(sizeof(struct volley_batch_options) == OFFSETOFEND(struct volley_batch_options, arg),
               "volley_batch_options ends in padding");
_Static_assert(sizeof(struct volley_query) == QUERY_SIZE_V1, "volley_query ends in padding");
_Static_assert(sizeof(struct volley_result) == RESULT_SIZE_V1, "volley_result ends in padding");

struct volley_client {
    pv_datasets *ds;
    pv_batch_engine *engine;
};

static void put_err(char *err, size_t errlen, const pv_err *e, int rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", e->msg[0] ? e->msg : volley_strerror(rc));
}

/* True when bytes [from, to) of p are all zero (fields this library does not know). */
static bool zero_beyond(const void *p, size_t from, size_t to)
{
    const unsigned char *b = p;
    for (size_t i = from; i < to; i++)
        if (b[i])
            return false;
    return true;
}

/* Checks the size of a caller's options struct whose own size is known. */
static int check_opts_size(const void *o, size_t size, size_t known, const char *what, pv_err *e)
{
    if (size < sizeof(size_t) || size > OPTS_SIZE_MAX)
        return pv_err_set(e, VOLLEY_EINVAL, "%s.size is %zu: set it with %s_init", what, size,
                          what);
    if (!zero_beyond(o, known, size))
        return pv_err_set(e, VOLLEY_EINVAL,
                          "%s sets a field libvolley %s does not know (built against a newer "
                          "volley.h)",
                          what, volley_version());
    return 0;
}

/* ---- client ---------------------------------------------------------------- */

static int read_client_opts(const struct volley_client_options *in, struct volley_client_options *o,
                            pv_err *e)
{
    volley_client_options_init(o);
    if (!in)
        return 0;
    int rc = check_opts_size(in, in->size, sizeof(*o), "volley_client_options", e);
    if (rc != 0)
        return rc;
    if (HAS(struct volley_client_options, in, allow_superuser))
        o->allow_superuser = in->allow_superuser;
    if (HAS(struct volley_client_options, in, datasets_file))
        o->datasets_file = in->datasets_file;
    if (HAS(struct volley_client_options, in, dsn))
        o->dsn = in->dsn;
    if (o->datasets_file && o->dsn)
        return pv_err_set(e, VOLLEY_EINVAL, "give datasets_file or dsn, not both");
    return 0;
}

int volley_client_open(const struct volley_client_options *opts, volley_client **out, char *err,
                       size_t errlen)
{
    pv_err e = {{0}};
    struct volley_client_options o;
    if (!out) {
        pv_err_set(&e, VOLLEY_EINVAL, "no place for the client (out is NULL)");
        put_err(err, errlen, &e, VOLLEY_EINVAL);
        return VOLLEY_EINVAL;
    }
    *out = NULL;
    int rc = read_client_opts(opts, &o, &e);
    if (rc != 0) {
        put_err(err, errlen, &e, rc);
        return rc;
    }
    volley_client *c = calloc(1, sizeof(*c));
    if (!c) {
        put_err(err, errlen, &e, VOLLEY_ENOMEM);
        return VOLLEY_ENOMEM;
    }
    rc = o.datasets_file ? pv_datasets_load(o.datasets_file, &c->ds, &e)
                         : pv_datasets_from_dsn(o.dsn ? o.dsn : "", &c->ds, &e);
    if (rc == 0) {
        struct pv_batch_opts bo = {0};
        bo.allow_superuser = o.allow_superuser != 0;
        rc = pv_batch_engine_create(c->ds, &bo, &c->engine, &e);
    }
    if (rc != 0) {
        put_err(err, errlen, &e, rc);
        volley_client_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void volley_client_close(volley_client *c)
{
    if (!c)
        return;
    pv_batch_engine_destroy(c->engine);
    pv_datasets_destroy(c->ds);
    free(c);
}

/* ---- results ----------------------------------------------------------------- */

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Frees the owned fields of r that end in (from, to]: the ones a caller's
   element of size `to` holds, less those of an element of size `from`. */
static void free_fields(struct volley_result *r, size_t from, size_t to)
{
#define IN(f)                                                                                      \
    (OFFSETOFEND(struct volley_result, f) > from && OFFSETOFEND(struct volley_result, f) <= to)
    size_t ncols = r->ncols > 0 ? (size_t)r->ncols : 0;
    if (IN(error))
        free(r->error);
    if (IN(columns))
        free_strings(r->columns, ncols);
    if (IN(types))
        free_strings(r->types, ncols);
    if (IN(cells))
        free_strings(r->cells, r->nrows * ncols);
#undef IN
}

void volley_result_fini(struct volley_result *r)
{
    if (!r || r->size == 0)
        return;
    size_t size = PV_MIN(r->size, sizeof(*r)); /* beyond: fields this library never wrote */
    free_fields(r, 0, size);
    memset(r, 0, size);
}

struct run_ctx {
    struct pv_bresult *res;
    unsigned char *out; /* the caller's results */
    size_t result_size;
    void (*on_result)(void *arg, size_t index, const struct volley_result *r);
    void *arg;
};

/* Moves res into the caller's element at dst, of result_size bytes: the
   fields it has room for; zeroes any this library does not know. */
static void move_result(struct pv_bresult *from, unsigned char *dst, size_t result_size)
{
    struct volley_result v;
    memset(&v, 0, sizeof(v));
    v.size = result_size;
    v.ok = from->ok;
    memcpy(v.sqlstate, from->sqlstate, sizeof(v.sqlstate));
    v.error = from->message;
    v.ncols = from->ncols;
    v.truncated = from->truncated;
    v.columns = from->cols;
    v.types = from->types;
    v.nrows = from->nrows;
    v.cells = from->cells;
    v.ms = from->ms;
    memset(from, 0, sizeof(*from));
    if (result_size >= sizeof(v)) {
        memcpy(dst, &v, sizeof(v));
        memset(dst + sizeof(v), 0, result_size - sizeof(v));
    } else { /* an older caller (checked: result_size >= RESULT_SIZE_V1) */
        memcpy(dst, &v, result_size);
        free_fields(&v, result_size, sizeof(v));
    }
}

static void on_result(void *arg, size_t i, const struct pv_bresult *r)
{
    struct run_ctx *x = arg;
    (void)r;
    unsigned char *dst = x->out + i * x->result_size;
    move_result(&x->res[i], dst, x->result_size);
    if (x->on_result)
        x->on_result(x->arg, i, (const struct volley_result *)(void *)dst);
}

/* ---- batches ----------------------------------------------------------------- */

static int read_batch_opts(const struct volley_batch_options *in, struct volley_batch_options *o,
                           pv_err *e)
{
    memset(o, 0, sizeof(*o));
    if (!in)
        return pv_err_set(e, VOLLEY_EINVAL, "no options: set them with volley_batch_options_init");
    int rc = check_opts_size(in, in->size, sizeof(*o), "volley_batch_options", e);
    if (rc != 0)
        return rc;
    if (!HAS(struct volley_batch_options, in, result_size))
        return pv_err_set(e, VOLLEY_EINVAL,
                          "volley_batch_options.size is %zu: too small to hold the element sizes",
                          in->size);
    o->query_size = in->query_size;
    o->result_size = in->result_size;
    if (HAS(struct volley_batch_options, in, max_concurrency))
        o->max_concurrency = in->max_concurrency;
    if (HAS(struct volley_batch_options, in, on_result))
        o->on_result = in->on_result;
    if (HAS(struct volley_batch_options, in, arg))
        o->arg = in->arg;
    if (o->query_size < QUERY_SIZE_V1 || o->query_size > OPTS_SIZE_MAX)
        return pv_err_set(e, VOLLEY_EINVAL, "volley_batch_options.query_size is %zu, not %zu",
                          o->query_size, sizeof(struct volley_query));
    if (o->result_size < RESULT_SIZE_V1 || o->result_size > OPTS_SIZE_MAX)
        return pv_err_set(e, VOLLEY_EINVAL, "volley_batch_options.result_size is %zu, not %zu",
                          o->result_size, sizeof(struct volley_result));
    if (o->max_concurrency < 0)
        return pv_err_set(e, VOLLEY_EINVAL, "max_concurrency is %d", o->max_concurrency);
    if (o->max_concurrency == 0)
        o->max_concurrency = DEFAULT_MAX_CONCURRENCY;
    return 0;
}

/* Reads the caller's i-th query (query_size bytes apart) into q. */
static int read_query(const pv_datasets *ds, const unsigned char *in, size_t query_size, size_t i,
                      struct pv_bquery *q, pv_err *e)
{
    struct volley_query v;
    memset(&v, 0, sizeof(v));
    memcpy(&v, in, PV_MIN(query_size, sizeof(v)));
    if (!zero_beyond(in, sizeof(v), query_size))
        return pv_err_set(e, VOLLEY_EINVAL,
                          "query %zu sets a field libvolley %s does not know (built against a "
                          "newer volley.h)",
                          i + 1, volley_version());
    int idx = v.dataset ? pv_datasets_index(ds, v.dataset) : (pv_datasets_count(ds) == 1 ? 0 : -1);
    if (idx < 0)
        return pv_err_set(e, VOLLEY_EINVAL, "query %zu: %s", i + 1,
                          v.dataset ? "unknown dataset" : "no dataset given and there are several");
    if (!v.sql)
        return pv_err_set(e, VOLLEY_EINVAL, "query %zu: no SQL", i + 1);
    if (v.nparams < 0 || (v.nparams > 0 && !v.params))
        return pv_err_set(e, VOLLEY_EINVAL, "query %zu: nparams is %d with %s", i + 1, v.nparams,
                          v.params ? "parameters" : "no parameters");
    q->dataset = idx;
    q->sql = v.sql;
    q->label = v.label;
    q->nparams = v.nparams;
    q->params = v.params;
    return 0;
}

int volley_batch_run(volley_client *c, const struct volley_query *queries, size_t n,
                     const struct volley_batch_options *opts, struct volley_result *results,
                     char *err, size_t errlen)
{
    pv_err e = {{0}};
    struct volley_batch_options o;
    int rc = 0;
    if (!c || !queries || !results)
        rc = pv_err_set(&e, VOLLEY_EINVAL, "no %s",
                        !c         ? "client"
                        : !queries ? "queries"
                                   : "results");
    else if (n == 0)
        rc = pv_err_set(&e, VOLLEY_EINVAL, "no queries");
    if (rc == 0)
        rc = read_batch_opts(opts, &o, &e);
    if (rc != 0) {
        put_err(err, errlen, &e, rc);
        return rc;
    }
    struct pv_bquery *q = calloc(n, sizeof(*q));
    struct pv_bresult *res = calloc(n, sizeof(*res));
    if (!q || !res)
        rc = pv_err_set(&e, VOLLEY_ENOMEM, "out of memory");
    const unsigned char *in = (const unsigned char *)queries;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = read_query(c->ds, in + i * o.query_size, o.query_size, i, &q[i], &e);
    struct run_ctx x = {res, (unsigned char *)results, o.result_size, o.on_result, o.arg};
    struct pv_batch_callbacks cbs = {on_result, NULL, &x};
    pv_batch *b = NULL;
    if (rc == 0)
        rc = pv_batch_submit(c->engine, q, n, o.max_concurrency, res, &cbs, &b, &e);
    if (rc == 0)
        pv_batch_wait(b);
    if (rc != 0)
        put_err(err, errlen, &e, rc);
    free(q);
    free(res);
    return rc;
}
