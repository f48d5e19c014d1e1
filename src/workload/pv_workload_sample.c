/*
 * pv_workload_sample.c - a PARAMETERS_QUERY header, and the rows its query
 * returned (run by the caller, which connects) into the scenario's pool.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "workload/pv_workload_int.h"

/* {"query":"SELECT ..."} and, once sampled, "rows":N. */
static char *query_json(const char *sql, size_t nrows, bool with_rows)
{
    json_t *o = with_rows ? json_pack("{sssI}", "query", sql, "rows", (json_int_t)nrows)
                          : json_pack("{ss}", "query", sql);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int pv_workload__load_query(const struct file *f, const struct header *h, struct pv_query *q)
{
    const char *t = f->text;
    size_t s = h->value, e = h->value_end;
    while (s < e && (t[s] == ' ' || t[s] == '\t'))
        s++;
    while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r' || t[e - 1] == ';'))
        e--;
    if (e == s)
        return pv_workload__fail_at(f, s, "PARAMETERS_QUERY needs a query, like SELECT id FROM t");
    if (q->nparams == 0)
        return pv_workload__fail_at(f, s,
                                    "PARAMETERS_QUERY gives values but the query has no "
                                    "placeholder");
    struct pv_param_source *src = calloc(1, sizeof(*src));
    if (!src)
        return pv_workload__oom(f);
    src->nparams = q->nparams;
    src->query = strndup(t + s, e - s);
    pv_workload__linecol(t, s, &src->line, &src->col);
    if (!src->query) {
        pv_workload__source_free(src);
        return pv_workload__oom(f);
    }
    return pv_workload__drawn_scenario(f, q, "sampled", src, query_json(src->query, 0, false));
}

bool pv_scenario_sample_query(const struct pv_scenario *s, const struct pv_query *q,
                              struct pv_sample_query *out)
{
    const struct pv_param_source *src = s->source;
    if (!src || !src->query || src->nrows > 0)
        return false;
    out->sql = src->query;
    out->path = q->path;
    out->line = src->line;
    out->col = src->col;
    return true;
}

/* The scenario of query qi that waits for its rows, or NULL. */
static struct pv_scenario *waiting(pv_workload *w, size_t qi)
{
    if (qi >= w->nqueries)
        return NULL;
    struct pv_query *q = w->queries[qi];
    for (size_t i = 0; i < q->nscenarios; i++) {
        struct pv_sample_query sq;
        if (pv_scenario_sample_query(&q->scenarios[i], q, &sq))
            return &q->scenarios[i];
    }
    return NULL;
}

int pv_workload_set_sample(pv_workload *w, size_t qi, size_t nrows, int ncols,
                           const char *const *cells, pv_err *err)
{
    struct pv_scenario *sc = waiting(w, qi);
    if (!sc)
        return pv_err_set(err, VOLLEY_EINVAL, "query %zu has no PARAMETERS_QUERY to fill", qi + 1);
    struct pv_param_source *src = sc->source;
    const char *path = w->queries[qi]->path;
    if (ncols != src->nparams)
        return pv_err_set(err, VOLLEY_EINPUT,
                          "%s:%d:%d: PARAMETERS_QUERY returns %d column%s but the query has %d "
                          "placeholder%s",
                          path, src->line, src->col, ncols, pv_workload__plural(ncols),
                          src->nparams, pv_workload__plural(src->nparams));
    if (nrows == 0)
        return pv_err_set(err, VOLLEY_EINPUT, "%s:%d:%d: PARAMETERS_QUERY returned no row", path,
                          src->line, src->col);
    if (nrows > SIZE_MAX / sizeof(char *) / (size_t)ncols)
        return pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", path);
    size_t n = nrows * (size_t)ncols, bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += cells[i] ? strlen(cells[i]) + 1 : 0;
    char *text = malloc(bytes ? bytes : 1);
    const char **ptrs = malloc(n * sizeof(*ptrs));
    char *json = query_json(src->query, nrows, true);
    if (!text || !ptrs || !json) {
        free(text);
        free(ptrs);
        free(json);
        return pv_err_set(err, VOLLEY_ENOMEM, "%s: out of memory", path);
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cells[i]) {
            ptrs[i] = NULL;
            continue;
        }
        size_t len = strlen(cells[i]) + 1;
        memcpy(text + at, cells[i], len);
        ptrs[i] = text + at;
        at += len;
    }
    src->text = text;
    src->cells = ptrs;
    src->nrows = nrows;
    free(sc->params_json);
    sc->params_json = json;
    return 0;
}

int pv_workload_check_ready(const pv_workload *w, pv_err *err)
{
    for (size_t i = 0; i < w->nqueries; i++) {
        const struct pv_query *q = w->queries[i];
        for (size_t k = 0; k < q->nscenarios; k++) {
            struct pv_sample_query sq;
            if (pv_scenario_sample_query(&q->scenarios[k], q, &sq))
                return pv_err_set(err, VOLLEY_EINVAL,
                                  "%s:%d:%d: the rows of PARAMETERS_QUERY were not sampled",
                                  sq.path, sq.line, sq.col);
        }
    }
    return 0;
}
