/* pv_threshold.c - threshold expressions: parsing, evaluation, the abort
   decision and their place in the reports (pv_threshold.h). */
#include "report/pv_threshold.h"
#include "report/pv_render.h"
#include "report/pv_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pv_thresholds {
    struct pv_threshold *v;
    size_t n, cap;
};

int pv_thresholds_create(pv_thresholds **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : VOLLEY_ENOMEM;
}

static void threshold_fini(struct pv_threshold *th)
{
    free(th->expr);
    free(th->scope);
    free(th->source);
}

void pv_thresholds_destroy(pv_thresholds *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        threshold_fini(&t->v[i]);
    free(t->v);
    free(t);
}

size_t pv_thresholds_count(const pv_thresholds *t)
{
    return t ? t->n : 0;
}

const struct pv_threshold *pv_thresholds_get(const pv_thresholds *t, size_t i)
{
    return &t->v[i];
}

/* Takes th's strings (freed on failure). @return 0 or VOLLEY_ENOMEM. */
static int append(pv_thresholds *t, struct pv_threshold *th)
{
    if (!th->expr || !th->source) {
        threshold_fini(th);
        return VOLLEY_ENOMEM;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct pv_threshold *v = realloc(t->v, cap * sizeof(*v));
        if (!v) {
            threshold_fini(th);
            return VOLLEY_ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *th;
    return 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* Latencies, rates, ratios and counts: how a metric's value is read and shown. */
enum kind { K_LATENCY, K_RATE, K_RATIO, K_COUNT };

static const struct metric_def {
    const char *name;
    enum pv_threshold_metric metric;
    enum kind kind;
} metric_defs[] = {
    {"avg", PV_TM_AVG, K_LATENCY},
    {"mean", PV_TM_AVG, K_LATENCY},
    {"min", PV_TM_MIN, K_LATENCY},
    {"max", PV_TM_MAX, K_LATENCY},
    {"stddev", PV_TM_STDDEV, K_LATENCY},
    {"median", PV_TM_PCT, K_LATENCY}, /* p50 */
    {"qps", PV_TM_QPS, K_RATE},
    {"error_rate", PV_TM_ERROR_RATE, K_RATIO},
    {"failed", PV_TM_FAILED, K_COUNT},
    {"executions", PV_TM_EXECUTIONS, K_COUNT},
    {"succeeded", PV_TM_SUCCEEDED, K_COUNT},
};

#define METRIC_LIST                                                                                \
    "avg, min, max, stddev, p50, p90, p95, p99, p999 or any pN, qps, error_rate, failed, "         \
    "executions or succeeded"

static enum kind kind_of(enum pv_threshold_metric m)
{
    switch (m) {
    case PV_TM_QPS: return K_RATE;
    case PV_TM_ERROR_RATE: return K_RATIO;
    case PV_TM_FAILED:
    case PV_TM_EXECUTIONS:
    case PV_TM_SUCCEEDED: return K_COUNT;
    default: return K_LATENCY;
    }
}

/* The parser's state: the text, where it is, and the error it found. */
struct parser {
    const char *s;
    size_t pos;
    size_t err_at; /* byte offset of the error */
    char msg[512];
};

PV_PRINTF(3, 4)
static int perr(struct parser *p, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    p->err_at = at;
    return VOLLEY_EINPUT;
}

static void skip_space(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '(' || c == ')';
}

/* A number: digits with at most one '.', no sign, no exponent. */
static bool parse_number(const char *s, size_t n, double *out)
{
    char buf[64];
    size_t dots = 0, digits = 0;
    if (n == 0 || n >= sizeof(buf))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else
            return false;
    }
    if (dots > 1 || digits == 0)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return *end == '\0' && isfinite(*out);
}

/* pN, p(N), pN.M: the percentile; p999 is 99.9 and p9999 99.99 (the report's names). */
static bool parse_percentile(const char *w, size_t n, double *pct)
{
    if (n < 2 || (w[0] != 'p' && w[0] != 'P'))
        return false;
    w++, n--;
    if (w[0] == '(') {
        if (n < 3 || w[n - 1] != ')')
            return false;
        w++, n -= 2;
    }
    double v;
    if (!parse_number(w, n, &v))
        return false;
    if (v > 100 && n >= 3 && w[0] == '9' && w[1] == '9' && !memchr(w, '.', n)) {
        /* p999 -> 99.9, p9999 -> 99.99, p995 -> 99.5 */
        v = 0;
        double scale = 10;
        for (size_t i = 0; i < n; i++, scale /= 10)
            v += (w[i] - '0') * scale;
    }
    if (!(v > 0) || v > 100)
        return false;
    *pct = v;
    return true;
}

static bool word_eq(const char *w, size_t n, const char *name)
{
    if (strlen(name) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = w[i] >= 'A' && w[i] <= 'Z' ? (char)(w[i] + 32) : w[i];
        if (c != name[i])
            return false;
    }
    return true;
}

static int parse_metric(struct parser *p, struct pv_threshold *th)
{
    skip_space(p);
    size_t at = p->pos, n = 0;
    while (is_word(p->s[at + n]))
        n++;
    const char *w = p->s + at;
    if (n == 0)
        return perr(p, at, "expected a metric (%s)", METRIC_LIST);
    p->pos = at + n;
    for (size_t k = 0; k < PV_ARRAY_LEN(metric_defs); k++) {
        if (word_eq(w, n, metric_defs[k].name)) {
            th->metric = metric_defs[k].metric;
            th->pct = th->metric == PV_TM_PCT ? 50 : 0;
            return 0;
        }
    }
    if (parse_percentile(w, n, &th->pct)) {
        th->metric = PV_TM_PCT;
        return 0;
    }
    return perr(p, at, "unknown metric '%.*s' (%s)", (int)n, w, METRIC_LIST);
}

static int parse_op(struct parser *p, struct pv_threshold *th)
{
    skip_space(p);
    const char *c = p->s + p->pos;
    if (c[0] == '<' || c[0] == '>') {
        bool eq = c[1] == '=';
        th->op = c[0] == '<' ? (eq ? PV_TOP_LE : PV_TOP_LT) : (eq ? PV_TOP_GE : PV_TOP_GT);
        p->pos += eq ? 2 : 1;
        return 0;
    }
    return perr(p, p->pos, "expected <, <=, > or >= after the metric, not '%.*s'", c[0] ? 1 : 0, c);
}

/* The value and its unit, converted to the metric's unit. */
static int parse_value(struct parser *p, struct pv_threshold *th)
{
    skip_space(p);
    size_t at = p->pos, n = 0;
    while ((p->s[at + n] >= '0' && p->s[at + n] <= '9') || p->s[at + n] == '.')
        n++;
    double v;
    if (!parse_number(p->s + at, n, &v))
        return perr(p, at, "expected a number (0 or more) after the operator");
    p->pos = at + n;
    skip_space(p);
    size_t uat = p->pos, un = 0;
    while (p->s[uat + un] && p->s[uat + un] != ' ' && p->s[uat + un] != '\t')
        un++;
    const char *u = p->s + uat;
    p->pos = uat + un;
    switch (kind_of(th->metric)) {
    case K_LATENCY:
        if (un == 0 || word_eq(u, un, "ms"))
            th->limit = v;
        else if (word_eq(u, un, "s"))
            th->limit = v * 1e3;
        else if (word_eq(u, un, "us") || (un == 3 && memcmp(u, "\xC2\xB5s", 3) == 0))
            th->limit = v / 1e3;
        else
            return perr(p, uat,
                        "unknown unit '%.*s' of a latency (ms, s or us; a bare number is ms)",
                        (int)un, u);
        break;
    case K_RATIO:
        if (un == 1 && u[0] == '%') {
            th->limit = v;
        } else if (un == 0) {
            if (v > 1)
                return perr(p, at,
                            "error_rate is a percentage (%g%%) or a fraction from 0 to 1, "
                            "not %g",
                            v, v);
            th->limit = v * 100;
        } else {
            return perr(p, uat, "unknown unit '%.*s' of error_rate (%% or none: a fraction)",
                        (int)un, u);
        }
        if (th->limit > 100)
            return perr(p, at, "error_rate is at most 100%%");
        break;
    case K_RATE:
        if (un != 0 && !word_eq(u, un, "/s") && !word_eq(u, un, "qps"))
            return perr(p, uat, "qps takes queries per second, a bare number, not '%.*s'", (int)un,
                        u);
        th->limit = v;
        break;
    case K_COUNT:
        if (un != 0 || v != floor(v))
            return perr(p, at, "a count takes a whole number");
        th->limit = v;
        break;
    }
    skip_space(p);
    if (p->s[p->pos])
        return perr(p, p->pos, "unexpected '%s' after the threshold", p->s + p->pos);
    return 0;
}

/* One expression (NUL-terminated, no scope). */
static int parse_expr(struct parser *p, struct pv_threshold *th)
{
    int rc = parse_metric(p, th);
    if (rc == 0)
        rc = parse_op(p, th);
    if (rc == 0)
        rc = parse_value(p, th);
    return rc;
}

static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return strndup(s, n);
}

int pv_thresholds_add_option(pv_thresholds *t, const char *text, pv_err *err)
{
    struct pv_threshold th = {0};
    const char *colon = strrchr(text, ':');
    const char *expr = colon ? colon + 1 : text;
    if (colon) {
        th.scope = trimmed(text, (size_t)(colon - text));
        if (!th.scope)
            return VOLLEY_ENOMEM;
        if (!th.scope[0]) {
            free(th.scope);
            return pv_err_set(err, VOLLEY_EINPUT, "nothing before ':' (a query's name)");
        }
    }
    th.expr = trimmed(expr, strlen(expr));
    if (!th.expr) {
        threshold_fini(&th);
        return VOLLEY_ENOMEM;
    }
    struct parser p = {.s = th.expr};
    if (parse_expr(&p, &th) != 0) {
        threshold_fini(&th);
        return pv_err_set(err, VOLLEY_EINPUT, "%s", p.msg);
    }
    th.source = strdup("option");
    return append(t, &th);
}

/* Columns (characters) of the first n bytes of s. */
static int columns(const char *s, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int pv_thresholds_add_target(pv_thresholds *t, const struct pv_query *q, pv_err *err)
{
    if (!q->target)
        return 0;
    const char *s = q->target;
    while (*s) {
        size_t n = strcspn(s, ",");
        struct pv_threshold th = {.query = q};
        char *one = strndup(s, n);
        th.expr = one ? trimmed(one, n) : NULL;
        th.scope = strdup(q->name);
        size_t len = strlen(q->path) + 32;
        th.source = malloc(len);
        if (!one || !th.expr || !th.scope || !th.source) {
            free(one);
            threshold_fini(&th);
            return VOLLEY_ENOMEM;
        }
        snprintf(th.source, len, "%s:%d", q->path, q->target_line);
        struct parser p = {.s = one};
        int rc = strchr(one, ':') ? perr(&p, strcspn(one, ":"),
                                         "a TARGET is of its own file's query; no scope before ':'")
                                  : parse_expr(&p, &th);
        if (rc != 0) {
            int col = q->target_col + columns(q->target, (size_t)(s - q->target) + p.err_at);
            pv_err_set(err, VOLLEY_EINPUT, "%s:%d:%d: TARGET: %s", q->path, q->target_line, col,
                       p.msg);
            free(one);
            threshold_fini(&th);
            return VOLLEY_EINPUT;
        }
        free(one);
        rc = append(t, &th);
        if (rc != 0)
            return rc;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

int pv_thresholds_bind(pv_thresholds *t, const pv_workload *wl, pv_err *err)
{
    for (size_t i = 0; i < t->n; i++) {
        struct pv_threshold *th = &t->v[i];
        if (!th->scope || th->query)
            continue;
        const struct pv_query *found = NULL, *other = NULL;
        for (size_t k = 0; k < pv_workload_count(wl); k++) {
            const struct pv_query *q = pv_workload_query(wl, k);
            if (strcmp(q->name, th->scope) != 0 && strcmp(q->path, th->scope) != 0)
                continue;
            if (found)
                other = q;
            else
                found = q;
        }
        if (other)
            return pv_err_set(err, VOLLEY_EINPUT,
                              "'%s: %s': %s and %s are both named %s; give the path", th->scope,
                              th->expr, found->path, other->path, th->scope);
        if (!found)
            return pv_err_set(err, VOLLEY_EINPUT,
                              "'%s: %s': no query is named %s (the queries are named after their "
                              "files, as in the report)",
                              th->scope, th->expr, th->scope);
        th->query = found;
    }
    return 0;
}

/* ---- evaluation ----------------------------------------------------------- */

const char *pv_threshold_unit(const struct pv_threshold *th)
{
    switch (kind_of(th->metric)) {
    case K_LATENCY: return "ms";
    case K_RATE: return "qps";
    case K_RATIO: return "%";
    default: return "count";
    }
}

/* The stat th is of in run, or NULL when its query is not in run. */
static const struct pv_stat *scope_stat(const struct pv_threshold *th,
                                        const struct pv_run_result *run,
                                        const struct pv_query_result **qr)
{
    *qr = NULL;
    if (!th->scope)
        return &run->total;
    for (size_t i = 0; i < run->nqueries; i++) {
        const struct pv_query *q = run->queries[i].query;
        if (th->query ? q == th->query
                      : (strcmp(q->name, th->scope) == 0 || strcmp(q->path, th->scope) == 0)) {
            *qr = &run->queries[i];
            return &run->queries[i].stat;
        }
    }
    return NULL;
}

static double latency_ms(const struct pv_threshold *th, const pv_hist *h)
{
    if (pv_hist_count(h) == 0)
        return NAN;
    switch (th->metric) {
    case PV_TM_AVG: return pv_hist_mean(h) / 1e6;
    case PV_TM_MIN: return (double)pv_hist_min(h) / 1e6;
    case PV_TM_MAX: return (double)pv_hist_max(h) / 1e6;
    case PV_TM_STDDEV: return pv_hist_stddev(h) / 1e6;
    default: return (double)pv_hist_percentile(h, th->pct) / 1e6;
    }
}

double pv_threshold_measure(const struct pv_threshold *th, const struct pv_run_result *run)
{
    const struct pv_query_result *qr;
    const struct pv_stat *s = scope_stat(th, run, &qr);
    if (!s)
        return NAN;
    uint64_t n = pv_stat_executions(s);
    switch (th->metric) {
    case PV_TM_QPS: return run->wall_s > 0 ? pv_report_qps(n, run->wall_s) : NAN;
    case PV_TM_ERROR_RATE: return n ? 100.0 * (double)s->failed / (double)n : NAN;
    case PV_TM_FAILED: return (double)s->failed;
    case PV_TM_EXECUTIONS: return (double)n;
    case PV_TM_SUCCEEDED: return (double)s->succeeded;
    default: return latency_ms(th, s->latency);
    }
}

static bool holds(enum pv_threshold_op op, double v, double limit)
{
    switch (op) {
    case PV_TOP_LT: return v < limit;
    case PV_TOP_LE: return v <= limit;
    case PV_TOP_GT: return v > limit;
    default: return v >= limit;
    }
}

bool pv_threshold_pass(const struct pv_threshold *th, double measured)
{
    return !isnan(measured) && holds(th->op, measured, th->limit);
}

bool pv_thresholds_all_pass(const pv_thresholds *t, const struct pv_run_result *const *runs,
                            size_t nruns)
{
    for (size_t r = 0; r < nruns; r++)
        for (size_t i = 0; i < pv_thresholds_count(t); i++)
            if (!pv_threshold_pass(&t->v[i], pv_threshold_measure(&t->v[i], runs[r])))
                return false;
    return true;
}

/* "7.31 ms", "1234.5 qps", "0.25%", "12": a figure in th's unit. */
static void format_value(pv_buf *out, const struct pv_threshold *th, double v)
{
    if (isnan(v)) {
        pv_buf_puts(out, "nothing");
        return;
    }
    switch (kind_of(th->metric)) {
    case K_LATENCY:
        pv_buf_printf(out,
                      v >= 100  ? "%.0f ms"
                      : v >= 10 ? "%.1f ms"
                      : v >= 1  ? "%.2f ms"
                                : "%.3f ms",
                      v);
        break;
    case K_RATE: pv_buf_printf(out, "%.1f qps", v); break;
    case K_RATIO: pv_buf_printf(out, "%.3g%%", v); break;
    default: pv_buf_printf(out, "%.0f", v); break;
    }
}

static void scope_text(pv_buf *out, const struct pv_threshold *th, int level)
{
    if (th->scope)
        pv_buf_printf(out, "(query %s", th->scope);
    else
        pv_buf_puts(out, "(whole run");
    if (level > 0)
        pv_buf_printf(out, ", c=%d", level);
    pv_buf_putc(out, ')');
}

void pv_threshold_describe(pv_buf *out, const struct pv_threshold *th, double measured, int level)
{
    pv_buf_printf(out, "%s ", th->expr);
    scope_text(out, th, level);
    pv_buf_puts(out, ": measured ");
    format_value(out, th, measured);
}

/* ---- --abort-on-fail ------------------------------------------------------ */

double pv_threshold_grace(double interval_s)
{
    return PV_MAX(3.0, PV_THRESHOLD_GRACE_INTERVALS * interval_s);
}

/* Values of h at or above limit_ns (strict: above it), whole buckets only:
   a bucket that holds limit_ns is not counted. */
static uint64_t count_beyond(const pv_hist *h, double limit_ns, bool strict)
{
    uint64_t k = 0;
    struct pv_hist_iter it;
    pv_hist_iter_init(&it);
    while (h && pv_hist_iter_next(h, &it))
        if (strict ? (double)it.lo_ns > limit_ns : (double)it.lo_ns >= limit_ns)
            k += it.count;
    return k;
}

/* Executions th's scope will count at most in a count-based run planning
   `planned` in all: a query's are its scenarios' EXEC_COUNTs. */
static uint64_t planned_of(const struct pv_query_result *qr, uint64_t planned)
{
    if (!qr)
        return planned;
    uint64_t n = 0;
    for (size_t i = 0; i < qr->query->nscenarios; i++)
        n += qr->query->scenarios[i].exec_count;
    return PV_MIN(n, planned);
}

/* Count-based: whether the final figure cannot meet th, whatever the
   remaining executions (rem > 0 at most, total in all) do. */
static bool count_doomed(const struct pv_threshold *th, const struct pv_stat *st, double wall_s,
                         uint64_t total, uint64_t rem)
{
    uint64_t n = pv_stat_executions(st), s = st->succeeded, f = st->failed;
    bool lt = th->op == PV_TOP_LT || th->op == PV_TOP_LE;
    double lim = th->limit;
    switch (th->metric) {
    case PV_TM_ERROR_RATE: /* the final rate lies in [f / total, (f + rem) / total] */
        return lt ? !holds(th->op, 100.0 * (double)f / (double)total, lim)
                  : !holds(th->op, 100.0 * (double)(f + rem) / (double)total, lim);
    case PV_TM_SUCCEEDED: return !lt && !holds(th->op, (double)(s + rem), lim);
    case PV_TM_EXECUTIONS: return !lt && !holds(th->op, (double)(n + rem), lim);
    case PV_TM_AVG: /* the lowest final mean: every remaining execution at no latency */
        return lt && s > 0 &&
               !holds(th->op, pv_hist_sum(st->latency) / 1e6 / (double)(s + rem), lim);
    case PV_TM_PCT: {
        if (!lt || s == 0)
            return false;
        /* k values at or beyond the limit stay there; with at most S
           successes in the end, pN stays beyond it once k > S - rank(S) */
        uint64_t S = s + rem;
        uint64_t k = count_beyond(st->latency, lim * 1e6, th->op == PV_TOP_LE);
        double rank = ceil(th->pct / 100.0 * (double)S);
        return (double)k > (double)S - rank;
    }
    case PV_TM_QPS: /* the wall time only grows: qps ends at most total / wall_s */
        return !lt && wall_s > 0 && !holds(th->op, (double)total / wall_s, lim);
    default: return false;
    }
}

/* The metrics that only grow (counts) or only move one way (min, max):
   whether the bound is crossed for good. */
static bool monotone_doomed(const struct pv_threshold *th, double measured)
{
    bool lt = th->op == PV_TOP_LT || th->op == PV_TOP_LE;
    if (isnan(measured))
        return false;
    switch (th->metric) {
    case PV_TM_MAX:
    case PV_TM_FAILED:
    case PV_TM_EXECUTIONS:
    case PV_TM_SUCCEEDED: return lt && !holds(th->op, measured, th->limit);
    case PV_TM_MIN: return !lt && !holds(th->op, measured, th->limit);
    default: return false;
    }
}

bool pv_threshold_doomed(const struct pv_threshold *th, const struct pv_run_result *snap,
                         const struct pv_threshold_live *live, char *why, size_t cap)
{
    const struct pv_query_result *qr;
    const struct pv_stat *st = scope_stat(th, snap, &qr);
    if (!st)
        return false;
    double measured = pv_threshold_measure(th, snap);
    bool doomed = monotone_doomed(th, measured);
    const char *how = "";
    if (!doomed && live->planned > 0) {
        uint64_t total = planned_of(qr, live->planned), n = pv_stat_executions(st);
        uint64_t rem = total > n ? total - n : 0;
        if (rem == 0)
            doomed = !pv_threshold_pass(th, measured);
        else
            doomed = count_doomed(th, st, snap->wall_s, total, rem);
        if (doomed && rem > 0)
            how = ", whatever the remaining executions do";
    } else if (!doomed && snap->wall_s >= live->grace_s) {
        bool growing_count =
            kind_of(th->metric) == K_COUNT && (th->op == PV_TOP_GT || th->op == PV_TOP_GE);
        doomed = !growing_count && !pv_threshold_pass(th, measured);
        how = " on the figures so far";
    }
    if (doomed && why && cap > 0) {
        pv_buf b = PV_BUF_INIT;
        pv_buf_printf(&b, "threshold %s ", th->expr);
        scope_text(&b, th, 0);
        pv_buf_puts(&b, " cannot pass: measured ");
        format_value(&b, th, measured);
        pv_buf_printf(&b, " after %.1f s%s", snap->wall_s, how);
        snprintf(why, cap, "%s", pv_buf_ok(&b) == 0 ? b.data : "a threshold cannot pass");
        pv_buf_fini(&b);
    }
    return doomed;
}

/* ---- reports --------------------------------------------------------------- */

static json_t *jnum(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

json_t *pv_threshold_json(const pv_thresholds *t, const struct pv_run_result *run)
{
    json_t *arr = json_array();
    bool oom = arr == NULL;
    for (size_t i = 0; !oom && i < pv_thresholds_count(t); i++) {
        const struct pv_threshold *th = &t->v[i];
        double m = pv_threshold_measure(th, run);
        json_t *o = json_object();
        oom = !o || json_array_append_new(arr, o) != 0;
        oom = oom || json_object_set_new(o, "expr", pv_render_json_str(th->expr)) != 0;
        oom = oom || json_object_set_new(
                         o, "scope", th->scope ? pv_render_json_str(th->scope) : json_null()) != 0;
        oom = oom || json_object_set_new(o, "source", pv_render_json_str(th->source)) != 0;
        oom = oom || json_object_set_new(o, "measured", jnum(m)) != 0;
        oom = oom || json_object_set_new(o, "unit", json_string(pv_threshold_unit(th))) != 0;
        oom = oom || json_object_set_new(o, "limit", jnum(th->limit)) != 0;
        oom = oom || json_object_set_new(o, "pass", json_boolean(pv_threshold_pass(th, m))) != 0;
    }
    if (oom) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* One cell of text: '|' escaped in Markdown. */
static void cell(pv_buf *out, const char *s, bool markdown)
{
    if (markdown)
        pv_render_md_cell(out, s, 0);
    else
        pv_buf_puts(out, s);
}

int pv_threshold_block(const struct pv_report *r, pv_buf *out, bool markdown)
{
    const pv_thresholds *t = r->thresholds;
    if (pv_thresholds_count(t) == 0)
        return 0;
    bool sweep = r->sweep || r->nruns > 1;
    pv_buf_puts(out, markdown ? "\n### Thresholds\n\n" : "\nThresholds\n");
    if (markdown)
        pv_buf_puts(out, sweep ? "| Threshold | Scope | Concurrency | Measured | Result |\n"
                                 "| --- | --- | ---: | ---: | --- |\n"
                               : "| Threshold | Scope | Measured | Result |\n"
                                 "| --- | --- | ---: | --- |\n");
    pv_buf v = PV_BUF_INIT;
    for (size_t i = 0; i < t->n; i++) {
        const struct pv_threshold *th = &t->v[i];
        for (size_t k = 0; k < r->nruns; k++) {
            double m = pv_threshold_measure(th, r->runs[k]);
            bool pass = pv_threshold_pass(th, m);
            pv_buf_reset(&v);
            format_value(&v, th, m);
            const char *scope = th->scope ? th->scope : "whole run";
            if (markdown) {
                pv_buf_puts(out, "| `");
                cell(out, th->expr, true);
                pv_buf_puts(out, "` | ");
                cell(out, scope, true);
                if (sweep)
                    pv_buf_printf(out, " | %d", r->runs[k]->concurrency);
                pv_buf_printf(out, " | %s | %s |\n", pv_buf_str(&v), pass ? "pass" : "**FAIL**");
            } else {
                pv_buf_printf(out, "  %-4s  %-22s  %-24s", pass ? "ok" : "FAIL", th->expr, scope);
                if (sweep)
                    pv_buf_printf(out, "  c=%-5d", r->runs[k]->concurrency);
                pv_buf_printf(out, "  %14s  %s\n", pv_buf_str(&v), th->source);
            }
        }
    }
    int rc = pv_buf_ok(&v);
    pv_buf_fini(&v);
    return rc != 0 ? rc : pv_buf_ok(out);
}
