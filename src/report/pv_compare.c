/* pv_compare.c - two JSON reports compared (pv_compare.h). */
#include "report/pv_compare.h"
#include "report/pv_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_SCHEMA  "pgvolley.report/1"
#define COMPARE_SCHEMA "pgvolley.compare/1"
/* The noise band: this many standard errors of the difference (about 95%). */
#define NOISE_SE 2.0

struct pv_compare {
    char *base_name, *new_name;
    double max_pct;
    bool noise_known; /* every level pair had timelines */
    struct pv_compare_row *rows;
    size_t nrows, cap;
    pv_buf notes; /* lines: levels or queries found in one report only */
};

/* The figures compared, in order; the timeline's series each takes its noise from. */
static const struct {
    const char *metric;
    const char *series; /* "qps", or a key of the timeline's latency_ms */
    bool higher_is_better;
    bool gated; /* can be a regression (max is shown only: one slow execution moves it) */
} figures[] = {
    {"qps", "qps", true, true},  {"avg", "avg", false, true}, {"p50", "p50", false, true},
    {"p95", "p95", false, true}, {"p99", "p99", false, true}, {"max", "max", false, false},
};

void pv_compare_destroy(pv_compare *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrows; i++)
        free(c->rows[i].scope);
    free(c->rows);
    free(c->base_name);
    free(c->new_name);
    pv_buf_fini(&c->notes);
    free(c);
}

size_t pv_compare_nrows(const pv_compare *c)
{
    return c->nrows;
}

const struct pv_compare_row *pv_compare_row(const pv_compare *c, size_t i)
{
    return &c->rows[i];
}

size_t pv_compare_regressions(const pv_compare *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nrows; i++)
        n += c->rows[i].verdict == PV_CMP_REGRESSION;
    return n;
}

const char *pv_compare_verdict_name(enum pv_compare_verdict v)
{
    switch (v) {
    case PV_CMP_OK: return "ok";
    case PV_CMP_IMPROVED: return "improved";
    case PV_CMP_REGRESSION: return "REGRESSION";
    case PV_CMP_NOISE: return "within noise";
    case PV_CMP_INFO: return "info";
    default: return "n/a";
    }
}

/* ---- reading a report ----------------------------------------------------- */

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A group's figure: "qps" from the object, the rest from its latency_ms. */
static double figure(const json_t *group, const char *metric)
{
    if (strcmp(metric, "qps") == 0)
        return num(group, "qps");
    return num(json_object_get(group, "latency_ms"), metric);
}

/* The run objects of a report: the root, or each of "runs". */
static int run_objects(const json_t *root, const char *name, const json_t ***out, size_t *n,
                       pv_err *err)
{
    const json_t *schema = json_object_get(root, "schema");
    if (!json_is_object(root) || !json_is_string(schema) ||
        strcmp(json_string_value(schema), REPORT_SCHEMA) != 0)
        return pv_err_set(err, VOLLEY_EINPUT,
                          "%s: not a pgvolley run report (no \"schema\": \"" REPORT_SCHEMA "\")",
                          name);
    const json_t *runs = json_object_get(root, "runs");
    size_t count = json_is_array(runs) ? json_array_size(runs) : 1;
    *out = calloc(count, sizeof(**out));
    if (!*out)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const json_t *r = json_is_array(runs) ? json_array_get(runs, i) : root;
        if (!json_is_object(json_object_get(r, "summary"))) {
            free(*out);
            *out = NULL;
            return pv_err_set(err, VOLLEY_EINPUT, "%s: a run without a \"summary\" object", name);
        }
        (*out)[i] = r;
    }
    *n = count;
    return 0;
}

static int concurrency_of(const json_t *run)
{
    double c = num(json_object_get(run, "config"), "concurrency");
    return isfinite(c) ? (int)c : 0;
}

/* The query object named name in run's queries, or NULL. */
static const json_t *query_named(const json_t *run, const char *name)
{
    size_t i;
    const json_t *q;
    json_array_foreach(json_object_get(run, "queries"), i, q)
    {
        const json_t *n = json_object_get(q, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return q;
    }
    return NULL;
}

/* ---- noise ------------------------------------------------------------------ */

/* Mean and sample variance of a timeline series of the group (NULL scope:
   overall). @return the number of values. */
static size_t series_stats(const json_t *run, const char *scope, const char *series, double *mean,
                           double *var)
{
    const json_t *tl = json_object_get(run, "timeline");
    const json_t *points = json_object_get(tl, "points");
    double interval = num(tl, "interval_s");
    size_t i, n = 0;
    const json_t *p;
    double sum = 0, sumsq = 0;
    json_array_foreach(points, i, p)
    {
        const json_t *g = p;
        /* the run's last point ends with its last execution: a short one
           holds the tail of what was in flight, not a sample of the load */
        if (isfinite(interval) && num(p, "interval_s") < 0.5 * interval)
            continue;
        if (scope) {
            g = NULL;
            size_t k;
            const json_t *q;
            json_array_foreach(json_object_get(p, "queries"), k, q)
            {
                const json_t *nm = json_object_get(q, "name");
                if (json_is_string(nm) && strcmp(json_string_value(nm), scope) == 0)
                    g = q;
            }
        }
        if (!g)
            continue;
        double v = figure(g, series);
        const json_t *ok = json_object_get(g, "succeeded");
        if (!isfinite(v) ||
            (strcmp(series, "qps") != 0 && json_is_number(ok) && num(g, "succeeded") <= 0))
            continue; /* an interval without a success has no latency */
        sum += v;
        sumsq += v * v;
        n++;
    }
    if (n < 2)
        return n;
    *mean = sum / (double)n;
    *var = PV_MAX(0.0, (sumsq - sum * sum / (double)n) / (double)(n - 1));
    return n;
}

/* The noise of a figure (absolute), or NaN when a timeline is missing. */
static double noise(const json_t *a, const json_t *b, const char *scope, const char *series)
{
    double ma, va, mb, vb;
    size_t na = series_stats(a, scope, series, &ma, &va);
    size_t nb = series_stats(b, scope, series, &mb, &vb);
    if (na < 2 || nb < 2)
        return NAN;
    return NOISE_SE * sqrt(va / (double)na + vb / (double)nb);
}

/* ---- rows ------------------------------------------------------------------- */

static int add_row(pv_compare *c, const struct pv_compare_row *r)
{
    if (c->nrows == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 32;
        struct pv_compare_row *v = realloc(c->rows, cap * sizeof(*v));
        if (!v)
            return VOLLEY_ENOMEM;
        c->rows = v;
        c->cap = cap;
    }
    c->rows[c->nrows] = *r;
    if (r->scope) {
        c->rows[c->nrows].scope = strdup(r->scope);
        if (!c->rows[c->nrows].scope)
            return VOLLEY_ENOMEM;
    }
    c->nrows++;
    return 0;
}

static enum pv_compare_verdict judge(const struct pv_compare_row *r, double max_pct,
                                     bool higher_is_better, double noise_abs)
{
    if (!isfinite(r->change_pct))
        return PV_CMP_NA;
    double worse = higher_is_better ? -r->change_pct : r->change_pct;
    if (fabs(worse) <= max_pct)
        return PV_CMP_OK;
    if (isfinite(noise_abs) && fabs(r->new_ - r->base) <= noise_abs)
        return PV_CMP_NOISE;
    return worse > 0 ? PV_CMP_REGRESSION : PV_CMP_IMPROVED;
}

/* Every figure of one group (scope NULL: the summary). */
static int compare_group(pv_compare *c, const json_t *ra, const json_t *rb, const json_t *ga,
                         const json_t *gb, const char *scope)
{
    for (size_t f = 0; f < PV_ARRAY_LEN(figures); f++) {
        struct pv_compare_row r = {
            .concurrency = concurrency_of(rb), .scope = (char *)scope, .metric = figures[f].metric};
        r.base = figure(ga, figures[f].metric);
        r.new_ = figure(gb, figures[f].metric);
        r.change_pct = NAN;
        if (isfinite(r.base) && isfinite(r.new_)) {
            if (r.base != 0)
                r.change_pct = (r.new_ - r.base) / r.base * 100.0;
            else if (r.new_ == 0)
                r.change_pct = 0;
        }
        double nz = noise(ra, rb, scope, figures[f].series);
        r.noise_pct = isfinite(nz) && r.base != 0 ? nz / fabs(r.base) * 100.0 : NAN;
        if (!isfinite(nz))
            c->noise_known = false;
        r.verdict =
            figures[f].gated ? judge(&r, c->max_pct, figures[f].higher_is_better, nz) : PV_CMP_INFO;
        if (add_row(c, &r) != 0)
            return VOLLEY_ENOMEM;
    }
    return 0;
}

/* One level: overall, then each query of the base found in the new report. */
static int compare_run(pv_compare *c, const json_t *ra, const json_t *rb)
{
    int rc = compare_group(c, ra, rb, json_object_get(ra, "summary"),
                           json_object_get(rb, "summary"), NULL);
    size_t i;
    const json_t *qa;
    json_array_foreach(json_object_get(ra, "queries"), i, qa)
    {
        const char *name = json_string_value(json_object_get(qa, "name"));
        if (!name || rc != 0)
            continue;
        const json_t *qb = query_named(rb, name);
        if (qb)
            rc = compare_group(c, ra, rb, qa, qb, name);
        else
            pv_buf_printf(&c->notes, "query %s (c=%d) is only in %s\n", name, concurrency_of(ra),
                          c->base_name);
    }
    json_array_foreach(json_object_get(rb, "queries"), i, qa)
    {
        const char *name = json_string_value(json_object_get(qa, "name"));
        if (name && !query_named(ra, name))
            pv_buf_printf(&c->notes, "query %s (c=%d) is only in %s\n", name, concurrency_of(rb),
                          c->new_name);
    }
    return rc != 0 ? rc : pv_buf_ok(&c->notes);
}

/* ---- suite reports (issue 12: docs/suite.md) ------------------------------ */

/* runs[i].test of a suite report, or NULL. */
static const json_t *test_of(const json_t *run)
{
    const json_t *t = json_object_get(run, "test");
    return json_is_object(t) ? t : NULL;
}

static bool same_test(const json_t *a, const json_t *b)
{
    const json_t *ta = test_of(a), *tb = test_of(b);
    const char *ca = json_string_value(json_object_get(ta, "category"));
    const char *cb = json_string_value(json_object_get(tb, "category"));
    const char *na = json_string_value(json_object_get(ta, "name"));
    const char *nb = json_string_value(json_object_get(tb, "name"));
    return ca && cb && na && nb && strcmp(ca, cb) == 0 && strcmp(na, nb) == 0;
}

static const char *str_member(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "?";
}

static void note_only(pv_compare *c, const json_t *run, const char *where)
{
    const json_t *t = test_of(run);
    pv_buf_printf(&c->notes, "test %s/%s is only in %s\n", str_member(t, "category"),
                  str_member(t, "name"), where);
}

/* Two suite reports: the tests paired by category and name, each compared
   by its query's figures (a test is one workload file). */
static int compare_tests(pv_compare *c, const json_t **a, size_t na, const json_t **b, size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        const json_t *match = NULL;
        for (size_t k = 0; k < nb && !match; k++)
            if (same_test(a[i], b[k]))
                match = b[k];
        if (!match) {
            note_only(c, a[i], c->base_name);
            continue;
        }
        size_t q;
        const json_t *qa;
        json_array_foreach(json_object_get(a[i], "queries"), q, qa)
        {
            const char *name = json_string_value(json_object_get(qa, "name"));
            const json_t *qb = name ? query_named(match, name) : NULL;
            int rc = qb ? compare_group(c, a[i], match, qa, qb, name) : 0;
            if (rc != 0)
                return rc;
        }
    }
    for (size_t k = 0; k < nb; k++) {
        bool found = false;
        for (size_t i = 0; i < na && !found; i++)
            found = same_test(a[i], b[k]);
        if (!found)
            note_only(c, b[k], c->new_name);
    }
    return pv_buf_ok(&c->notes);
}

/* Pairs the levels: by concurrency, or the one run of each. */
static int compare_levels(pv_compare *c, const json_t **a, size_t na, const json_t **b, size_t nb)
{
    if (test_of(a[0]) || test_of(b[0]))
        return compare_tests(c, a, na, b, nb);
    if (na == 1 && nb == 1)
        return compare_run(c, a[0], b[0]);
    for (size_t i = 0; i < na; i++) {
        const json_t *match = NULL;
        for (size_t k = 0; k < nb && !match; k++)
            if (concurrency_of(b[k]) == concurrency_of(a[i]))
                match = b[k];
        int rc = match ? compare_run(c, a[i], match) : 0;
        if (rc != 0)
            return rc;
        if (!match)
            pv_buf_printf(&c->notes, "concurrency %d is only in %s\n", concurrency_of(a[i]),
                          c->base_name);
    }
    for (size_t k = 0; k < nb; k++) {
        bool found = false;
        for (size_t i = 0; i < na; i++)
            found = found || concurrency_of(a[i]) == concurrency_of(b[k]);
        if (!found)
            pv_buf_printf(&c->notes, "concurrency %d is only in %s\n", concurrency_of(b[k]),
                          c->new_name);
    }
    return pv_buf_ok(&c->notes);
}

int pv_compare_json(const json_t *base, const char *base_name, const json_t *new_,
                    const char *new_name, double max_regression_pct, pv_compare **out, pv_err *err)
{
    *out = NULL;
    const json_t **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    int rc = run_objects(base, base_name, &a, &na, err);
    if (rc == 0)
        rc = run_objects(new_, new_name, &b, &nb, err);
    if (rc == 0 && !json_object_get(base, "suite") != !json_object_get(new_, "suite"))
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "%s is a suite's report and %s is not: compare two reports of "
                        "pgvolley suite, or two of pgvolley run",
                        json_object_get(base, "suite") ? base_name : new_name,
                        json_object_get(base, "suite") ? new_name : base_name);
    pv_compare *c = rc == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (rc == 0 && !c)
        rc = VOLLEY_ENOMEM;
    if (rc == 0) {
        pv_buf_init(&c->notes);
        c->max_pct = max_regression_pct;
        c->noise_known = true;
        c->base_name = strdup(base_name);
        c->new_name = strdup(new_name);
        rc = c->base_name && c->new_name ? compare_levels(c, a, na, b, nb) : VOLLEY_ENOMEM;
    }
    free(a);
    free(b);
    if (rc == VOLLEY_ENOMEM)
        pv_err_set(err, rc, "out of memory");
    if (rc != 0) {
        pv_compare_destroy(c);
        return rc;
    }
    if (c->nrows == 0)
        c->noise_known = false;
    *out = c;
    return 0;
}

int pv_compare_files(const char *base_path, const char *new_path, double max_regression_pct,
                     pv_compare **out, pv_err *err)
{
    const char *paths[2] = {base_path, new_path};
    json_t *roots[2] = {NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        json_error_t je;
        roots[i] = json_load_file(paths[i], JSON_DECODE_ANY, &je);
        if (!roots[i] && je.line < 1)
            rc = pv_err_set(err, VOLLEY_EIO, "%s: %s", paths[i], je.text);
        else if (!roots[i])
            rc = pv_err_set(err, VOLLEY_EINPUT, "%s:%d:%d: not JSON: %s", paths[i], je.line,
                            je.column, je.text);
    }
    if (rc == 0)
        rc = pv_compare_json(roots[0], base_path, roots[1], new_path, max_regression_pct, out, err);
    json_decref(roots[0]);
    json_decref(roots[1]);
    return rc;
}

/* ---- output ----------------------------------------------------------------- */

static void fmt_value(char *buf, size_t cap, const char *metric, double v)
{
    if (!isfinite(v))
        snprintf(buf, cap, "-");
    else if (strcmp(metric, "qps") == 0)
        snprintf(buf, cap, "%.1f", v);
    else
        snprintf(buf, cap, "%.3f", v);
}

static void fmt_pct(char *buf, size_t cap, double v, bool plusminus)
{
    if (!isfinite(v))
        snprintf(buf, cap, plusminus ? "unknown" : "-");
    else
        snprintf(buf, cap, plusminus ? "±%.1f%%" : "%+.1f%%", v);
}

static bool is_sweep(const pv_compare *c)
{
    for (size_t i = 1; i < c->nrows; i++)
        if (c->rows[i].concurrency != c->rows[0].concurrency)
            return true;
    return false;
}

static void write_text(const pv_compare *c, pv_buf *o, bool md)
{
    bool sweep = is_sweep(c);
    size_t nreg = pv_compare_regressions(c);
    if (md) {
        pv_buf_puts(o, "### pgvolley compare\n\n");
        pv_buf_printf(o,
                      "Base `%s`, new `%s`; a regression is throughput down or a latency up by "
                      "more than %g%%.\n\n",
                      c->base_name, c->new_name, c->max_pct);
        pv_buf_printf(o, nreg ? "**%zu regression%s**" : "**No regression**", nreg,
                      nreg == 1 ? "" : "s");
        pv_buf_puts(o, c->noise_known ? " (noise: from the runs' timelines).\n\n"
                                      : " (noise: unknown, the reports have no timeline).\n\n");
        pv_buf_puts(o, sweep ? "| c | Scope | Metric | Base | New | Change | Noise | Verdict |\n"
                               "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- |\n"
                             : "| Scope | Metric | Base | New | Change | Noise | Verdict |\n"
                               "| --- | --- | ---: | ---: | ---: | ---: | --- |\n");
    } else {
        pv_buf_printf(o, "Base: %s\nNew:  %s\n", c->base_name, c->new_name);
        pv_buf_printf(o, "Regression: throughput down or a latency up by more than %g%%\n",
                      c->max_pct);
        pv_buf_puts(o, c->noise_known ? "Noise: from the runs' timelines (2 standard errors of "
                                        "the per-interval values)\n\n"
                                      : "Noise: unknown (the reports have no timeline)\n\n");
        if (sweep)
            pv_buf_puts(o, "    c  ");
        pv_buf_printf(o, "%-28s  %-6s  %12s  %12s  %8s  %8s  %s\n", "Scope", "Metric", "Base",
                      "New", "Change", "Noise", "Verdict");
    }
    for (size_t i = 0; i < c->nrows; i++) {
        const struct pv_compare_row *r = &c->rows[i];
        char b[32], n[32], ch[32], nz[32];
        fmt_value(b, sizeof(b), r->metric, r->base);
        fmt_value(n, sizeof(n), r->metric, r->new_);
        fmt_pct(ch, sizeof(ch), r->change_pct, false);
        fmt_pct(nz, sizeof(nz), r->noise_pct, true);
        const char *scope = r->scope ? r->scope : "overall";
        const char *v = pv_compare_verdict_name(r->verdict);
        if (md) {
            if (sweep)
                pv_buf_printf(o, "| %d ", r->concurrency);
            pv_buf_puts(o, "| ");
            pv_render_md_cell(o, scope, 0);
            pv_buf_printf(o, " | %s | %s | %s | %s | %s | %s%s%s |\n", r->metric, b, n, ch, nz,
                          r->verdict == PV_CMP_REGRESSION ? "**" : "", v,
                          r->verdict == PV_CMP_REGRESSION ? "**" : "");
        } else {
            if (sweep)
                pv_buf_printf(o, "%5d  ", r->concurrency);
            pv_buf_printf(o, "%-28s  %-6s  %12s  %12s  %8s  %8s  %s\n", scope, r->metric, b, n, ch,
                          nz, v);
        }
    }
    if (c->notes.len > 0) {
        pv_buf_puts(o, md ? "\n" : "\nNot compared:\n");
        const char *p = c->notes.data;
        while (*p) {
            const char *nl = strchr(p, '\n');
            pv_buf_printf(o, md ? "- %.*s\n" : "  %.*s\n", (int)(nl - p), p);
            p = nl + 1;
        }
    }
    if (!md)
        pv_buf_printf(o, "\n%zu regression%s\n", nreg, nreg == 1 ? "" : "s");
}

static json_t *jnum(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

static int write_json(const pv_compare *c, pv_buf *o)
{
    json_t *root = json_pack("{s:s, s:s, s:s, s:f, s:s, s:I}", "schema", COMPARE_SCHEMA, "base",
                             c->base_name, "new", c->new_name, "max_regression_pct", c->max_pct,
                             "noise", c->noise_known ? "timeline" : "unknown", "regressions",
                             (json_int_t)pv_compare_regressions(c));
    json_t *rows = json_array(), *notes = json_array();
    bool oom = !root || !rows || !notes;
    for (size_t i = 0; !oom && i < c->nrows; i++) {
        const struct pv_compare_row *r = &c->rows[i];
        json_t *e = json_pack(
            "{s:i, s:o, s:s, s:o, s:o, s:o, s:o, s:s}", "concurrency", r->concurrency, "scope",
            r->scope ? pv_render_json_str(r->scope) : json_null(), "metric", r->metric, "base",
            jnum(r->base), "new", jnum(r->new_), "change_pct", jnum(r->change_pct), "noise_pct",
            jnum(r->noise_pct), "verdict", pv_compare_verdict_name(r->verdict));
        oom = !e || json_array_append_new(rows, e) != 0;
    }
    const char *p = c->notes.len ? c->notes.data : "";
    while (!oom && *p) {
        const char *nl = strchr(p, '\n');
        oom = json_array_append_new(notes, pv_render_json_strn(p, (size_t)(nl - p))) != 0;
        p = nl + 1;
    }
    if (!oom) {
        oom = json_object_set(root, "rows", rows) != 0 || json_object_set(root, "notes", notes);
    }
    char *text = oom ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(rows);
    json_decref(notes);
    json_decref(root);
    if (!text)
        return VOLLEY_ENOMEM;
    pv_buf_puts(o, text);
    pv_buf_putc(o, '\n');
    free(text);
    return pv_buf_ok(o);
}

int pv_compare_write(const pv_compare *c, enum pv_compare_format format, pv_buf *out)
{
    if (format == PV_COMPARE_JSON)
        return write_json(c, out);
    write_text(c, out, format == PV_COMPARE_MARKDOWN);
    return pv_buf_ok(out);
}
