/*
 * pv_report_table.c - the terminal table (seed 002's summary layout) and
 * the same content as GitHub-flavoured Markdown.
 *
 * Both writers format every figure the same way (cells below): counts as
 * integers, latencies in ms with 3 decimals, QPS with 1, speedup "2.80x".
 * Text that comes from outside (file names, server messages) is cleaned on
 * the way out: control characters become spaces, so a name cannot move the
 * cursor or break a row. Widths are counted in code points.
 */
#include "report/pv_report.h"
#include "common/pv_utf8.h"
#include "report/pv_render.h"
#include "report/pv_threshold.h"
#include "report/pv_report_suite.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_COL_MIN  24  /* name column width, at least */
#define NAME_COL_MAX  48  /* ... and at most: longer names are cut with "..." */
#define NUM_WIDTH     10  /* numeric columns */
#define LINE_MAX_COLS 159 /* error lines are kept under 160 columns */
#define MD_MSG_MAX    300 /* error messages in Markdown */
#define CELL_LEN      40

/* ---- figures ---------------------------------------------------------- */

double pv_report_qps(uint64_t n, double wall_s)
{
    if (!(wall_s > 0) || !isfinite(wall_s))
        return 0;
    return (double)n / wall_s;
}

/* Never print nan or inf: a figure that cannot be computed is 0. */
static double fin(double d)
{
    return isfinite(d) ? d : 0;
}

enum stat_cell { C_EXEC, C_OK, C_FAILED, C_AVG, C_P50, C_P95, C_P99, C_MAX, C_QPS, C_NSTAT };

static const char *const stat_titles[C_NSTAT] = {
    "Executions", "OK", "Failed", "Avg ms", "p50 ms", "p95 ms", "p99 ms", "Max ms", "QPS",
};

/* Formats the figures of s (QPS over the run's wall time). */
static void stat_cells(const struct pv_stat *s, double wall_s, char cells[C_NSTAT][CELL_LEN])
{
    struct pv_latency_ms l;
    pv_stat_latency(s, &l);
    snprintf(cells[C_EXEC], CELL_LEN, "%" PRIu64, pv_stat_executions(s));
    snprintf(cells[C_OK], CELL_LEN, "%" PRIu64, s->succeeded);
    snprintf(cells[C_FAILED], CELL_LEN, "%" PRIu64, s->failed);
    snprintf(cells[C_AVG], CELL_LEN, "%.3f", fin(l.avg));
    snprintf(cells[C_P50], CELL_LEN, "%.3f", fin(l.p50));
    snprintf(cells[C_P95], CELL_LEN, "%.3f", fin(l.p95));
    snprintf(cells[C_P99], CELL_LEN, "%.3f", fin(l.p99));
    snprintf(cells[C_MAX], CELL_LEN, "%.3f", fin(l.max));
    snprintf(cells[C_QPS], CELL_LEN, "%.1f", fin(pv_report_qps(pv_stat_executions(s), wall_s)));
}

static bool any_interrupted(const struct pv_report *r)
{
    bool any = r->interrupted;
    for (size_t i = 0; i < r->nruns; i++)
        any = any || r->runs[i]->interrupted;
    return any;
}

const char *pv_report_aborted(const struct pv_report *r)
{
    if (r->aborted)
        return r->aborted;
    for (size_t i = 0; i < r->nruns; i++)
        if (r->runs[i]->aborted[0])
            return r->runs[i]->aborted;
    return NULL;
}

static bool is_sweep(const struct pv_report *r)
{
    return r->sweep || r->nruns > 1;
}

/* ---- text ------------------------------------------------------------- */

/* Columns s takes (code points; an invalid byte counts as one). */
static size_t text_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), w = 0;
    for (size_t i = 0; i < n; w++) {
        size_t k = pv_utf8_seq(p + i, n - i);
        i += k ? k : 1;
    }
    return w;
}

/* Appends one code point of s at *i, cleaned: controls (C0, DEL, C1) as a
   space, an invalid byte as '?'; markdown also escapes '|' and '<'. */
static void put_cp(pv_buf *o, const char *s, size_t n, size_t *i, bool markdown)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t k = pv_utf8_seq(p, n - *i);
    if (k == 0) {
        pv_buf_putc(o, '?');
        *i += 1;
        return;
    }
    if ((k == 1 && (p[0] < 0x20 || p[0] == 0x7F)) || (k == 2 && p[0] == 0xC2 && p[1] < 0xA0))
        pv_buf_putc(o, ' ');
    else if (markdown && p[0] == '|')
        pv_buf_puts(o, "\\|");
    else if (markdown && p[0] == '<')
        pv_buf_puts(o, "&lt;");
    else
        pv_buf_append(o, p, k);
    *i += k;
}

/*
 * Appends s cleaned, in at most max columns (0 = no limit): a longer text
 * is cut and ends with "...". With pad, spaces fill up to max columns.
 */
static void put_text(pv_buf *o, const char *s, size_t max, bool pad, bool markdown)
{
    size_t n = strlen(s), w = text_width(s), keep = w, i = 0;
    bool cut = max > 0 && w > max;
    if (cut)
        keep = max > 3 ? max - 3 : 0;
    for (size_t c = 0; c < keep; c++)
        put_cp(o, s, n, &i, markdown);
    if (cut) {
        pv_buf_append(o, "...", PV_MIN(max, (size_t)3));
        keep = max;
    }
    if (pad && max > keep)
        pv_buf_fill(o, ' ', max - keep);
}

/* Appends text right-aligned in width columns (cells are ASCII). */
static void put_right(pv_buf *o, const char *s, size_t width)
{
    size_t n = strlen(s);
    if (n < width)
        pv_buf_fill(o, ' ', width - n);
    pv_buf_puts(o, s);
}

static size_t col_width(const char *title)
{
    return PV_MAX((size_t)NUM_WIDTH, strlen(title));
}

/* Fixed-size fields of pv_target_info may be full: never read past them. */
#define FIELD(f) (int)strnlen((f), sizeof(f)), (f)

static void target_line(pv_buf *o, const struct pv_target_info *t, bool markdown)
{
    if (!t) {
        pv_buf_puts(o, "Target: (unknown)");
        return;
    }
    const char *q = markdown ? "`" : "";
    pv_buf_printf(o, "Target: %s%.*s:%d/%.*s%s as %s%.*s%s", q, FIELD(t->host), t->port,
                  FIELD(t->dbname), q, q, FIELD(t->user), q);
    if (t->server_version[0])
        pv_buf_printf(o, " (PostgreSQL %.*s)", FIELD(t->server_version));
}

static void config_line(pv_buf *o, const struct pv_report *r)
{
    const struct pv_run_result *first = r->runs[0];
    pv_buf_puts(o, "Config: concurrency ");
    for (size_t i = 0; i < r->nruns; i++)
        pv_buf_printf(o, "%s%d", i ? "," : "", r->runs[i]->concurrency);
    /* Threads used depend on the level too (never more than c). */
    pv_buf_puts(o, ", threads ");
    for (size_t i = 0; i < r->nruns; i++) {
        if (i > 0 && r->runs[i]->threads == r->runs[i - 1]->threads)
            continue;
        pv_buf_printf(o, "%s%d", i ? "," : "", r->runs[i]->threads);
    }
    if (first->pinned)
        pv_buf_puts(o, " (pinned to CPUs)");
    pv_buf_printf(o, ", protocol %s", pv_protocol_name(first->protocol));
    if (first->pipeline > 1)
        pv_buf_printf(o, ", pipeline %d", first->pipeline);
    pv_buf_puts(o, ", pool ");
    /* The seed's pool defaults depend on the level: show each distinct one. */
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_pool_config *p = &r->runs[i]->pool;
        if (i > 0 && p->size == r->runs[i - 1]->pool.size &&
            p->max_overflow == r->runs[i - 1]->pool.max_overflow)
            continue;
        pv_buf_printf(o, "%s%d+%d", i ? "," : "", p->size, p->max_overflow);
    }
    if (first->duration_s > 0)
        pv_buf_printf(o, ", mode time %gs", first->duration_s);
    else
        pv_buf_puts(o, ", mode count");
    if (first->warmup_s > 0)
        pv_buf_printf(o, ", warmup %gs", first->warmup_s);
    if (first->command_timeout_s > 0)
        pv_buf_printf(o, ", command timeout %gs", first->command_timeout_s);
}

/* The open model's lines: the schedule, latency from the send and from the
   intended start side by side, the lag and the dropped. */
static void schedule_lines(pv_buf *o, const struct pv_run_result *run, bool markdown)
{
    if (!run->sched.intended && !run->shape)
        return;
    pv_buf b = PV_BUF_INIT;
    if (run->rate > 0)
        pv_buf_printf(&b, "open model, %g executions/s, %s arrivals", run->rate,
                      run->arrival == PV_ARRIVAL_UNIFORM ? "uniform" : "Poisson");
    else
        pv_buf_puts(&b, "closed model, executions in flight");
    if (run->shape) {
        pv_buf_printf(&b, ", stages from %g:", pv_shape_start(run->shape));
        for (int i = 0; i < pv_shape_nstages(run->shape); i++) {
            const struct pv_stage *st = pv_shape_stage(run->shape, i);
            pv_buf_printf(&b, "%s %gs->%g", i ? "," : "", st->duration_s, st->target);
        }
    }
    if (run->max_lag_s > 0)
        pv_buf_printf(&b, ", max lag %g s", run->max_lag_s);
    const char *fmt_md = "| %s | %s |\n", *fmt_tab = "  %-17s%s\n";
    pv_buf_printf(o, markdown ? fmt_md : fmt_tab,
                  markdown ? "Schedule" : "Schedule:", pv_buf_str(&b));
    if (run->sched.intended) {
        struct pv_latency_ms sv, in, lag;
        pv_stat_latency(&run->total, &sv);
        pv_latency_of(run->sched.intended, &in);
        pv_latency_of(run->sched.lag, &lag);
        pv_buf_reset(&b);
        pv_buf_printf(&b,
                      "p50 %.3f / %.3f ms, p99 %.3f / %.3f ms, max %.3f / %.3f ms "
                      "(from the send / from the intended start)",
                      fin(sv.p50), fin(in.p50), fin(sv.p99), fin(in.p99), fin(sv.max), fin(in.max));
        pv_buf_printf(o, markdown ? fmt_md : fmt_tab,
                      markdown ? "Latency" : "Latency:", pv_buf_str(&b));
        pv_buf_reset(&b);
        pv_buf_printf(&b, "p50 %.3f ms, p99 %.3f ms, max %.3f ms; %" PRIu64 " dropped",
                      fin(lag.p50), fin(lag.p99), fin(lag.max), run->sched.dropped);
        pv_buf_printf(o, markdown ? fmt_md : fmt_tab,
                      markdown ? "Schedule lag" : "Schedule lag:", pv_buf_str(&b));
    }
    pv_buf_fini(&b);
}

/* "#2 UPDATE pgbench_accounts ...": a transaction's statement, its first
   words on one line (a row of the table, under its file). */
static void statement_label(char *out, size_t cap, int k, const char *sql)
{
    int n = snprintf(out, cap, "#%d ", k + 1);
    size_t o = n > 0 ? (size_t)n : 0;
    bool space = false;
    for (const char *p = sql; *p && o + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ') {
            space = o > (size_t)n;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = ch < 0x7f ? (char)ch : '?';
    }
    if (o + 4 >= cap)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

/* ---- errors ----------------------------------------------------------- */

static size_t count_digits(uint64_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Error lines of every run: "  [c=LEVEL  ]CODE  COUNT  message". */
static int table_errors(pv_buf *o, const struct pv_report *r, bool sweep)
{
    size_t countw = 1, levelw = 0, total = 0;
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_stat *s = &r->runs[i]->total;
        total += s->nerrors;
        for (size_t e = 0; e < s->nerrors; e++)
            countw = PV_MAX(countw, count_digits(s->errors[e].count));
        if (sweep) {
            char lv[32];
            levelw =
                PV_MAX(levelw, (size_t)snprintf(lv, sizeof(lv), "c=%d", r->runs[i]->concurrency));
        }
    }
    if (total == 0)
        return 0;
    pv_buf_puts(o, "\nErrors by SQLSTATE\n");
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_errstat **errs;
        if (pv_render_errors_sorted(&r->runs[i]->total, &errs) != 0)
            return VOLLEY_ENOMEM;
        for (size_t e = 0; e < r->runs[i]->total.nerrors; e++) {
            size_t start = o->len;
            pv_buf_puts(o, "  ");
            if (sweep) {
                char lv[32];
                snprintf(lv, sizeof(lv), "c=%d", r->runs[i]->concurrency);
                pv_buf_printf(o, "%-*s  ", (int)levelw, lv);
            }
            pv_buf_printf(o, "%-5s  %*" PRIu64 "  ", errs[e]->sqlstate, (int)countw,
                          errs[e]->count);
            size_t used = o->len - start;
            size_t room = LINE_MAX_COLS > used + 3 ? LINE_MAX_COLS - used : 3;
            put_text(o, errs[e]->message ? errs[e]->message : "", room, false, false);
            pv_buf_putc(o, '\n');
        }
        free(errs);
    }
    return 0;
}

/* ---- terminal table --------------------------------------------------- */

/* One table row: the name cut/padded to namew, then the figures. */
static void table_row(pv_buf *o, const char *name, size_t indent, size_t namew,
                      const struct pv_stat *s, double wall_s)
{
    char cells[C_NSTAT][CELL_LEN];
    stat_cells(s, wall_s, cells);
    pv_buf_fill(o, ' ', indent);
    put_text(o, name, namew - indent, true, false);
    for (int c = 0; c < C_NSTAT; c++) {
        pv_buf_puts(o, "  ");
        put_right(o, cells[c], col_width(stat_titles[c]));
    }
    pv_buf_putc(o, '\n');
}

static size_t name_width(const struct pv_run_result *run)
{
    size_t w = NAME_COL_MIN;
    for (size_t i = 0; i < run->nqueries; i++) {
        const struct pv_query_result *q = &run->queries[i];
        w = PV_MAX(w, text_width(q->query->name));
        if (q->query->nscenarios > 1)
            for (size_t k = 0; k < q->query->nscenarios; k++)
                w = PV_MAX(w, 2 + text_width(q->scenarios[k].scenario->name));
    }
    return PV_MIN(w, (size_t)NAME_COL_MAX);
}

static void rule(pv_buf *o, size_t width)
{
    pv_buf_fill(o, '-', width);
    pv_buf_putc(o, '\n');
}

/* The table of one run; brief: only the total row (no row per file and scenario). */
static int table_single(pv_buf *o, const struct pv_report *r, bool brief)
{
    const struct pv_run_result *run = r->runs[0];
    size_t namew = name_width(run), width = namew;

    put_text(o, "Name", namew, true, false);
    for (int c = 0; c < C_NSTAT; c++) {
        pv_buf_puts(o, "  ");
        put_right(o, stat_titles[c], col_width(stat_titles[c]));
        width += 2 + col_width(stat_titles[c]);
    }
    pv_buf_putc(o, '\n');
    rule(o, width);
    for (size_t i = 0; i < run->nqueries && !brief; i++) {
        const struct pv_query_result *q = &run->queries[i];
        table_row(o, q->query->name, 0, namew, &q->stat, run->wall_s);
        for (int k = 0; q->steps && k < q->query->nsteps; k++) {
            char label[64];
            statement_label(label, sizeof(label), k, q->query->steps[k].sql);
            table_row(o, label, 2, namew, &q->steps[k], run->wall_s);
        }
        if (q->query->nscenarios > 1)
            for (size_t k = 0; k < q->query->nscenarios; k++)
                table_row(o, q->scenarios[k].scenario->name, 2, namew, &q->scenarios[k].stat,
                          run->wall_s);
    }
    rule(o, width);
    table_row(o, "Total", 0, namew, &run->total, run->wall_s);

    const struct pv_stat *t = &run->total;
    struct pv_latency_ms wl;
    pv_latency_of(run->pool_stats.acquire_wait, &wl);
    pv_buf_puts(o, "\nSummary\n");
    pv_buf_printf(o, "  %-17s%" PRIu64 " (%" PRIu64 " ok, %" PRIu64 " failed)\n",
                  "Executions:", pv_stat_executions(t), t->succeeded, t->failed);
    pv_buf_printf(o, "  %-17s%.3f s (sum of latencies)\n",
                  "Sequential time:", (double)t->sum_ns / 1e9);
    pv_buf_printf(o, "  %-17s%.3f s\n", "Wall time:", fin(run->wall_s));
    pv_buf_printf(o, "  %-17s%.2fx\n", "Speedup:", fin(pv_render_speedup(t->sum_ns, run->wall_s)));
    pv_buf_printf(o, "  %-17s%.1f queries/s\n",
                  "Throughput:", fin(pv_report_qps(pv_stat_executions(t), run->wall_s)));
    pv_buf_printf(o,
                  "  %-17s%" PRIu64 " opened, connect %.3f s, acquire wait p99 %.3f ms, %" PRIu64
                  " timeouts, %" PRIu64 " lost\n",
                  "Pool:", run->pool_stats.opened, fin(run->pool_stats.connect_s), fin(wl.p99),
                  run->pool_stats.timeouts, run->pool_stats.lost);
    if (run->retries > 0)
        pv_buf_printf(o, "  %-17s%" PRIu64 " (at most %d per execution)\n",
                      "Retries:", run->total.retries, run->retries);
    schedule_lines(o, run, false);
    return table_errors(o, r, false);
}

static const char *const sweep_titles[] = {
    "Concurrency", "Executions", "OK",     "Failed", "Avg ms",  "p50 ms",
    "p95 ms",      "p99 ms",     "Max ms", "QPS",    "Speedup",
};

/* The cells of one sweep level, in sweep_titles order. */
static void sweep_cells(const struct pv_run_result *run, char cells[][CELL_LEN])
{
    char st[C_NSTAT][CELL_LEN];
    stat_cells(&run->total, run->wall_s, st);
    snprintf(cells[0], CELL_LEN, "%d", run->concurrency);
    for (int c = 0; c < C_NSTAT; c++)
        memcpy(cells[1 + c], st[c], CELL_LEN);
    snprintf(cells[1 + C_NSTAT], CELL_LEN, "%.2fx",
             fin(pv_render_speedup(run->total.sum_ns, run->wall_s)));
}

static int table_sweep(pv_buf *o, const struct pv_report *r)
{
    const size_t ncols = PV_ARRAY_LEN(sweep_titles);
    size_t width = 0;
    for (size_t c = 0; c < ncols; c++) {
        size_t w = c == 0 ? strlen(sweep_titles[c]) : col_width(sweep_titles[c]);
        pv_buf_puts(o, c ? "  " : "");
        put_right(o, sweep_titles[c], w);
        width += (c ? 2 : 0) + w;
    }
    pv_buf_putc(o, '\n');
    rule(o, width);
    for (size_t i = 0; i < r->nruns; i++) {
        char cells[PV_ARRAY_LEN(sweep_titles)][CELL_LEN];
        sweep_cells(r->runs[i], cells);
        for (size_t c = 0; c < ncols; c++) {
            pv_buf_puts(o, c ? "  " : "");
            put_right(o, cells[c], c == 0 ? strlen(sweep_titles[c]) : col_width(sweep_titles[c]));
        }
        pv_buf_putc(o, '\n');
    }
    return table_errors(o, r, true);
}

static int table(const struct pv_report *r, pv_buf *out, bool brief)
{
    assert(r && r->nruns >= 1 && r->runs);
    if (r->suite) /* issue 12: seed 002's summary of a suite */
        return pv_report__suite_table(r, out, false);
    target_line(out, r->target, false);
    pv_buf_putc(out, '\n');
    config_line(out, r);
    pv_buf_puts(out, "\n\n");
    int rc = is_sweep(r) ? table_sweep(out, r) : table_single(out, r, brief);
    if (rc == 0)
        rc = pv_threshold_block(r, out, false);
    if (rc == 0 && any_interrupted(r))
        pv_buf_puts(out, "\nINTERRUPTED: partial results\n");
    if (rc == 0 && pv_report_aborted(r))
        pv_buf_printf(out, "\nSTOPPED: %s\n", pv_report_aborted(r));
    return rc != 0 ? rc : pv_buf_ok(out);
}

int pv_report_table(const struct pv_report *r, pv_buf *out)
{
    return table(r, out, false);
}

int pv_report_summary(const struct pv_report *r, pv_buf *out)
{
    return table(r, out, true);
}

/* ---- markdown --------------------------------------------------------- */

static void md_header(pv_buf *o, const char *const *titles, size_t n, bool first_text)
{
    for (size_t c = 0; c < n; c++)
        pv_buf_printf(o, "| %s ", titles[c]);
    pv_buf_puts(o, "|\n");
    /* Numbers are right-aligned; the first column may be text. */
    for (size_t c = 0; c < n; c++)
        pv_buf_puts(o, c == 0 && first_text ? "| --- " : "| ---: ");
    pv_buf_puts(o, "|\n");
}

static void md_stat_row(pv_buf *o, const char *name, bool indent, bool bold,
                        const struct pv_stat *s, double wall_s)
{
    char cells[C_NSTAT][CELL_LEN];
    stat_cells(s, wall_s, cells);
    pv_buf_puts(o, indent ? "| &nbsp;&nbsp;" : "| ");
    pv_buf_puts(o, bold ? "**" : "");
    put_text(o, name, 0, false, true);
    pv_buf_puts(o, bold ? "** " : " ");
    for (int c = 0; c < C_NSTAT; c++)
        pv_buf_printf(o, "| %s ", cells[c]);
    pv_buf_puts(o, "|\n");
}

static int md_errors(pv_buf *o, const struct pv_report *r, bool sweep)
{
    size_t total = 0;
    for (size_t i = 0; i < r->nruns; i++)
        total += r->runs[i]->total.nerrors;
    if (total == 0)
        return 0;
    pv_buf_puts(o, "\n### Errors\n\n");
    pv_buf_puts(o, sweep ? "| Concurrency | SQLSTATE | Count | First message |\n"
                           "| ---: | --- | ---: | --- |\n"
                         : "| SQLSTATE | Count | First message |\n| --- | ---: | --- |\n");
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_errstat **errs;
        if (pv_render_errors_sorted(&r->runs[i]->total, &errs) != 0)
            return VOLLEY_ENOMEM;
        for (size_t e = 0; e < r->runs[i]->total.nerrors; e++) {
            if (sweep)
                pv_buf_printf(o, "| %d ", r->runs[i]->concurrency);
            pv_buf_printf(o, "| %s | %" PRIu64 " | ", errs[e]->sqlstate, errs[e]->count);
            put_text(o, errs[e]->message ? errs[e]->message : "", MD_MSG_MAX, false, true);
            pv_buf_puts(o, " |\n");
        }
        free(errs);
    }
    return 0;
}

static int md_single(pv_buf *o, const struct pv_report *r)
{
    const struct pv_run_result *run = r->runs[0];
    const char *titles[1 + C_NSTAT] = {"Name"};
    for (int c = 0; c < C_NSTAT; c++)
        titles[1 + c] = stat_titles[c];
    md_header(o, titles, PV_ARRAY_LEN(titles), true);
    for (size_t i = 0; i < run->nqueries; i++) {
        const struct pv_query_result *q = &run->queries[i];
        md_stat_row(o, q->query->name, false, false, &q->stat, run->wall_s);
        for (int k = 0; q->steps && k < q->query->nsteps; k++) {
            char label[64];
            statement_label(label, sizeof(label), k, q->query->steps[k].sql);
            md_stat_row(o, label, true, false, &q->steps[k], run->wall_s);
        }
        if (q->query->nscenarios > 1)
            for (size_t k = 0; k < q->query->nscenarios; k++)
                md_stat_row(o, q->scenarios[k].scenario->name, true, false, &q->scenarios[k].stat,
                            run->wall_s);
    }
    md_stat_row(o, "Total", false, true, &run->total, run->wall_s);

    const struct pv_stat *t = &run->total;
    struct pv_latency_ms wl;
    pv_latency_of(run->pool_stats.acquire_wait, &wl);
    pv_buf_puts(o, "\n### Summary\n\n| Metric | Value |\n| --- | --- |\n");
    pv_buf_printf(o, "| Executions | %" PRIu64 " (%" PRIu64 " ok, %" PRIu64 " failed) |\n",
                  pv_stat_executions(t), t->succeeded, t->failed);
    pv_buf_printf(o, "| Sequential time (sum of latencies) | %.3f s |\n", (double)t->sum_ns / 1e9);
    pv_buf_printf(o, "| Wall time | %.3f s |\n", fin(run->wall_s));
    pv_buf_printf(o, "| Speedup | %.2fx |\n", fin(pv_render_speedup(t->sum_ns, run->wall_s)));
    pv_buf_printf(o, "| Throughput | %.1f queries/s |\n",
                  fin(pv_report_qps(pv_stat_executions(t), run->wall_s)));
    pv_buf_printf(o,
                  "| Pool | %" PRIu64 " opened, connect %.3f s, acquire wait p99 %.3f ms, %" PRIu64
                  " timeouts, %" PRIu64 " lost |\n",
                  run->pool_stats.opened, fin(run->pool_stats.connect_s), fin(wl.p99),
                  run->pool_stats.timeouts, run->pool_stats.lost);
    schedule_lines(o, run, true);
    return md_errors(o, r, false);
}

static int md_sweep(pv_buf *o, const struct pv_report *r)
{
    const size_t ncols = PV_ARRAY_LEN(sweep_titles);
    md_header(o, sweep_titles, ncols, false);
    for (size_t i = 0; i < r->nruns; i++) {
        char cells[PV_ARRAY_LEN(sweep_titles)][CELL_LEN];
        sweep_cells(r->runs[i], cells);
        for (size_t c = 0; c < ncols; c++)
            pv_buf_printf(o, "| %s ", cells[c]);
        pv_buf_puts(o, "|\n");
    }
    return md_errors(o, r, true);
}

int pv_report_markdown(const struct pv_report *r, pv_buf *out)
{
    assert(r && r->nruns >= 1 && r->runs);
    if (r->suite) /* issue 12: seed 002's summary of a suite */
        return pv_report__suite_table(r, out, true);
    pv_buf_puts(out, "## pgvolley run\n\n");
    if (any_interrupted(r))
        pv_buf_puts(out, "**INTERRUPTED: partial results**\n\n");
    if (pv_report_aborted(r)) {
        pv_buf_puts(out, "**STOPPED**: ");
        pv_render_md_cell(out, pv_report_aborted(r), 0);
        pv_buf_puts(out, "\n\n");
    }
    pv_buf_puts(out, "- ");
    target_line(out, r->target, true);
    pv_buf_puts(out, "\n- ");
    config_line(out, r);
    pv_buf_puts(out, "\n\n");
    int rc = is_sweep(r) ? md_sweep(out, r) : md_single(out, r);
    if (rc == 0)
        rc = pv_threshold_block(r, out, true);
    return rc != 0 ? rc : pv_buf_ok(out);
}
