/*
 * pv_workload.c - the workload object, and one file's text into a query:
 * content checks here, then the header comments and the statement, EXEC_COUNT
 * and PARAMETERS (see pv_workload_int.h for the files that do each step).
 */
#include "workload/pv_workload_int.h"
#include "common/pv_utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- content checks ------------------------------------------------------- */

int pv_workload__check_content(const struct file *f)
{
    const unsigned char *s = (const unsigned char *)f->text;
    size_t max_line = f->w->opts.max_line_bytes;
    size_t line_start = 0;
    int line = 1;
    for (size_t i = 0; i < f->len;) {
        if (s[i] == '\n') {
            line++;
            line_start = ++i;
            continue;
        }
        if (i - line_start >= max_line)
            return pv_workload__fail(f, VOLLEY_EINPUT, line, 0, "line is longer than %zu bytes",
                                     max_line);
        if (s[i] == 0)
            return pv_workload__fail_at(f, i, "binary content (NUL byte)");
        size_t k = pv_utf8_seq(s + i, f->len - i);
        if (k == 0)
            return pv_workload__fail_at(f, i, "binary content (invalid UTF-8)");
        i += k;
    }
    return 0;
}

/* ---- one file ------------------------------------------------------------- */

void pv_workload__query_free(struct pv_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nscenarios; i++)
        pv_workload__scenario_fini(&q->scenarios[i]);
    free(q->scenarios);
    free(q->path);
    free(q->name);
    free(q->sql);
    for (int i = 0; i < q->nsteps; i++) {
        free(q->steps[i].sql);
        free(q->steps[i].map);
    }
    free(q->steps);
    free(q->target);
    free(q);
}

/* The file's text is f->text (NUL-terminated, checked); *out on success. */
static int parse_file(const struct file *f, struct pv_query **out)
{
    struct headers h;
    memset(&h, 0, sizeof(h));
    size_t start = 0, end = 0;
    int rc = pv_workload__find_parts(f, &h, &start, &end);
    if (rc != 0)
        return rc;

    struct pv_query *q = calloc(1, sizeof(*q));
    if (!q)
        return pv_workload__oom(f);
    const char *slash = strrchr(f->path, '/');
    q->path = strdup(f->path);
    q->name = strdup(slash && slash[1] ? slash + 1 : f->path);
    if (!q->path || !q->name) {
        rc = pv_workload__oom(f);
        goto fail;
    }
    rc = pv_workload__load_statement(f, start, end, h.transaction.found, q);
    if (rc == 0 && h.weight.found)
        rc = pv_workload__parse_weight(f, &h.weight, &q->weight);
    if (rc == 0 && h.target.found)
        rc = pv_workload__load_target(f, &h.target, q);
    if (rc == 0 && h.concurrency.found)
        rc = pv_workload__parse_concurrency(f, &h.concurrency, &q->concurrency);
    if (rc == 0 && h.duration.found)
        rc = pv_workload__parse_duration(f, &h.duration, &q->duration_s);
    if (rc != 0)
        goto fail;
    q->exec_count = f->w->opts.default_exec_count;
    q->exec_count_set = h.count.found;
    if (h.count.found) {
        rc = pv_workload__parse_exec_count(f, &h.count, &q->exec_count);
        if (rc != 0)
            goto fail;
    }
    if (h.params.found)
        rc = pv_workload__load_params(f, &h.params, q);
    else if (h.generate.found)
        rc = pv_workload__load_generate(f, &h.generate, q);
    else if (h.file.found)
        rc = pv_workload__load_csv(f, &h.file, q);
    else if (h.query.found)
        rc = pv_workload__load_query(f, &h.query, q);
    else
        rc = pv_workload__no_params(f, q);
    if (rc != 0)
        goto fail;
    *out = q;
    return 0;
fail:
    pv_workload__query_free(q);
    return rc;
}

static int append_query(pv_workload *w, struct pv_query *q)
{
    if (pv_workload__grow((void **)&w->queries, &w->cap, w->nqueries + 1, sizeof(*w->queries)) != 0)
        return VOLLEY_ENOMEM;
    w->queries[w->nqueries++] = q;
    return 0;
}

int pv_workload_add_text(pv_workload *w, const char *path, const char *text, size_t len,
                         pv_err *err)
{
    struct file f = {.w = w, .path = path, .text = text, .len = len, .err = err};
    /* A UTF-8 byte order mark is not part of the SQL. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        f.text += 3;
        f.len -= 3;
    }
    if (f.len == 0)
        return pv_workload__fail(&f, VOLLEY_EINPUT, 0, 0, "empty file");
    if (f.len > w->opts.max_file_bytes)
        return pv_workload__fail(&f, VOLLEY_EINPUT, 0, 0,
                                 "file is larger than the limit of %zu bytes",
                                 w->opts.max_file_bytes);
    int rc = pv_workload__check_content(&f);
    if (rc != 0)
        return rc;

    char *copy = malloc(f.len + 1);
    if (!copy)
        return pv_workload__oom(&f);
    memcpy(copy, f.text, f.len);
    copy[f.len] = '\0';
    f.text = copy;
    struct pv_query *q = NULL;
    rc = parse_file(&f, &q);
    if (rc == 0 && append_query(w, q) != 0) {
        pv_workload__query_free(q);
        rc = pv_workload__oom(&f);
    }
    free(copy);
    return rc;
}

/* ---- the workload --------------------------------------------------------- */

int pv_workload_create(const struct pv_workload_opts *opts, pv_workload **out)
{
    pv_workload *w = calloc(1, sizeof(*w));
    if (!w)
        return VOLLEY_ENOMEM;
    if (opts)
        w->opts = *opts;
    if (w->opts.default_exec_count == 0)
        w->opts.default_exec_count = PV_WORKLOAD_DEFAULT_EXEC_COUNT;
    if (w->opts.max_exec_count == 0)
        w->opts.max_exec_count = PV_WORKLOAD_DEFAULT_MAX_EXEC_COUNT;
    if (w->opts.max_file_bytes == 0)
        w->opts.max_file_bytes = PV_WORKLOAD_DEFAULT_MAX_FILE_BYTES;
    if (w->opts.max_line_bytes == 0)
        w->opts.max_line_bytes = PV_WORKLOAD_DEFAULT_MAX_LINE_BYTES;
    if (w->opts.max_json_depth <= 0)
        w->opts.max_json_depth = PV_WORKLOAD_DEFAULT_MAX_JSON_DEPTH;
    *out = w;
    return 0;
}

void pv_workload_destroy(pv_workload *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nqueries; i++)
        pv_workload__query_free(w->queries[i]);
    free(w->queries);
    free(w);
}

size_t pv_workload_count(const pv_workload *w)
{
    return w->nqueries;
}

const struct pv_query *pv_workload_query(const pv_workload *w, size_t i)
{
    return i < w->nqueries ? w->queries[i] : NULL;
}

size_t pv_workload_scenario_count(const pv_workload *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nqueries; i++)
        n += w->queries[i]->nscenarios;
    return n;
}

uint64_t pv_workload_total_executions(const pv_workload *w)
{
    uint64_t total = 0;
    for (size_t i = 0; i < w->nqueries; i++) {
        const struct pv_query *q = w->queries[i];
        for (size_t k = 0; k < q->nscenarios; k++) {
            uint64_t e = q->scenarios[k].exec_count;
            total = total > UINT64_MAX - e ? UINT64_MAX : total + e; /* saturates */
        }
    }
    return total;
}

int pv_workload_set_weight(pv_workload *w, size_t from, double weight)
{
    if (!(weight > 0) || weight > 1e6)
        return VOLLEY_EINVAL;
    for (size_t i = from; i < w->nqueries; i++)
        w->queries[i]->weight = weight;
    return 0;
}

double pv_workload_weight(const struct pv_query *q)
{
    return q->weight > 0 ? q->weight : (double)q->nscenarios;
}
