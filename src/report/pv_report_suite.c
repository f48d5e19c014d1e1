/*
 * pv_report_suite.c - the report of a suite (pv_report_suite.h): the
 * "suite" and "test" JSON objects, and seed 002's summary table.
 *
 * The means of a category and of the whole suite are means over tests of
 * each test's own figure (avg, p95, QPS), as seed 002's "Overall Average
 * Response Time" and "Overall Average Throughput" are; the totals
 * (executions, errors) are sums.
 */
#include "report/pv_report_suite.h"
#include "report/pv_render.h"
#include "report/pv_report_timeline.h"
#include "report/pv_threshold.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test's figures, as the table shows them (0 for what cannot be computed). */
struct figs {
    double avg, p95, qps;
    uint64_t executions, failed;
};

static double fin(double d)
{
    return isfinite(d) ? d : 0;
}

static void figs_of(const struct pv_run_result *run, struct figs *f)
{
    struct pv_latency_ms l;
    pv_stat_latency(&run->total, &l);
    f->avg = fin(l.avg);
    f->p95 = fin(l.p95);
    f->executions = pv_stat_executions(&run->total);
    f->failed = run->total.failed;
    f->qps = fin(pv_report_qps(f->executions, run->wall_s));
}

/* A group of tests: a category, or the whole suite. */
struct group {
    const char *name;
    size_t tests, passed;
    double sum_avg, sum_p95, sum_qps;
    uint64_t executions, failed;
};

static void group_add(struct group *g, const struct figs *f, bool pass)
{
    g->tests++;
    g->passed += pass;
    g->sum_avg += f->avg;
    g->sum_p95 += f->p95;
    g->sum_qps += f->qps;
    g->executions += f->executions;
    g->failed += f->failed;
}

static double mean(double sum, size_t n)
{
    return n ? sum / (double)n : 0;
}

/*
 * The groups of r: (*cats)[0, *ncats) in the order of their first test,
 * and all. @return 0 or VOLLEY_ENOMEM (*cats is then NULL).
 */
static int groups(const struct pv_report *r, struct group **cats, size_t *ncats, struct group *all)
{
    memset(all, 0, sizeof(*all));
    all->name = "overall";
    *ncats = 0;
    *cats = calloc(r->nruns, sizeof(**cats));
    if (!*cats)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_report_test *t = &r->suite->tests[i];
        const char *cat = t->category ? t->category : "";
        size_t k = 0;
        while (k < *ncats && strcmp((*cats)[k].name, cat) != 0)
            k++;
        if (k == *ncats)
            (*cats)[(*ncats)++].name = cat;
        struct figs f;
        figs_of(r->runs[i], &f);
        group_add(&(*cats)[k], &f, t->pass);
        group_add(all, &f, t->pass);
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------- */

static void put(bool *oom, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *oom = true;
}

static void group_json(bool *oom, json_t *o, const struct group *g)
{
    put(oom, o, "avg_ms", pv_report__jreal(mean(g->sum_avg, g->tests)));
    put(oom, o, "p95_ms", pv_report__jreal(mean(g->sum_p95, g->tests)));
    put(oom, o, "qps", pv_report__jreal(mean(g->sum_qps, g->tests)));
}

json_t *pv_report__suite_json(const struct pv_report *r)
{
    struct group *cats, all;
    size_t ncats;
    if (groups(r, &cats, &ncats, &all) != 0)
        return NULL;
    bool oom = false;
    json_t *o = json_object();
    put(&oom, o, "name", pv_render_json_str(r->suite->name));
    put(&oom, o, "source", pv_render_json_str(r->suite->source));
    put(&oom, o, "tests", json_integer((json_int_t)all.tests));
    put(&oom, o, "passed", json_integer((json_int_t)all.passed));
    put(&oom, o, "failed", json_integer((json_int_t)(all.tests - all.passed)));
    json_t *arr = json_array();
    for (size_t k = 0; k < ncats; k++) {
        json_t *c = json_object();
        put(&oom, c, "name", pv_render_json_str(cats[k].name));
        put(&oom, c, "tests", json_integer((json_int_t)cats[k].tests));
        put(&oom, c, "passed", json_integer((json_int_t)cats[k].passed));
        put(&oom, c, "failed", json_integer((json_int_t)(cats[k].tests - cats[k].passed)));
        group_json(&oom, c, &cats[k]);
        if (!c || json_array_append_new(arr, c) != 0)
            oom = true;
    }
    put(&oom, o, "categories", arr);
    json_t *ov = json_object();
    group_json(&oom, ov, &all);
    put(&oom, ov, "executions", pv_report__jcount(all.executions));
    put(&oom, ov, "failed", pv_report__jcount(all.failed));
    put(&oom, o, "overall", ov);
    free(cats);
    if (oom) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *pv_report__test_json(const struct pv_report_test *t)
{
    bool oom = false;
    json_t *o = json_object();
    put(&oom, o, "name", pv_render_json_str(t->name));
    put(&oom, o, "category", pv_render_json_str(t->category));
    put(&oom, o, "file", pv_render_json_str(t->file));
    put(&oom, o, "pass", json_boolean(t->pass));
    if (oom) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *pv_report__raw_json(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : pv_render_json_str(text);
}

/* ---- the table -------------------------------------------------------- */

#define NAME_MIN 24
#define NAME_MAX 48

/* Appends s cleaned (controls as spaces; Markdown: a cell), cut at max
   bytes with "...", padded to width with spaces when pad. */
static void put_name(pv_buf *o, const char *s, size_t width, bool pad, bool markdown)
{
    if (markdown) {
        pv_render_md_cell(o, s, width);
        return;
    }
    size_t n = strlen(s), k = n > width ? width - 3 : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        pv_buf_putc(o, c < 0x20 || c == 0x7F ? ' ' : (char)c);
    }
    if (k < n)
        pv_buf_puts(o, "...");
    if (pad)
        pv_buf_fill(o, ' ', width - (k < n ? width : k));
}

static const char *verdict(const struct pv_report_test *t)
{
    if (!t->pass)
        return "FAIL";
    return pv_thresholds_count(t->thresholds) > 0 ? "pass" : "-";
}

static void header_lines(pv_buf *o, const struct pv_report *r, bool markdown)
{
    const struct pv_target_info *t = r->target;
    if (markdown) {
        pv_buf_puts(o, "## pgvolley suite ");
        pv_render_md_cell(o, r->suite->name, 0);
        pv_buf_puts(o, "\n\n");
    } else {
        pv_buf_puts(o, "pgvolley suite ");
        put_name(o, r->suite->name, NAME_MAX, false, false);
    }
    pv_buf_puts(o, markdown ? "- Source: " : " (");
    put_name(o, r->suite->source, 200, false, markdown);
    pv_buf_puts(o, markdown ? "\n- Target: " : ")\nTarget: ");
    if (t)
        pv_buf_printf(o, "%.*s:%d/%.*s as %.*s", (int)strnlen(t->host, sizeof(t->host)), t->host,
                      t->port, (int)strnlen(t->dbname, sizeof(t->dbname)), t->dbname,
                      (int)strnlen(t->user, sizeof(t->user)), t->user);
    else
        pv_buf_puts(o, "(unknown)");
    if (t && t->server_version[0])
        pv_buf_printf(o, " (PostgreSQL %.*s)",
                      (int)strnlen(t->server_version, sizeof(t->server_version)),
                      t->server_version);
    pv_buf_puts(o, "\n\n");
}

static const char *const titles[] = {"Executions", "Errors", "Avg (ms)", "P95 (ms)", "QPS"};

static void test_row(pv_buf *o, const struct pv_report *r, size_t i, size_t namew, bool markdown)
{
    const struct pv_report_test *t = &r->suite->tests[i];
    struct figs f;
    figs_of(r->runs[i], &f);
    if (markdown) {
        pv_buf_puts(o, "| ");
        pv_render_md_cell(o, t->category, NAME_MAX);
        pv_buf_puts(o, " | ");
        pv_render_md_cell(o, t->name, NAME_MAX);
        pv_buf_printf(o, " | %d | %" PRIu64 " | %" PRIu64 " | %.3f | %.3f | %.1f | %s |\n",
                      r->runs[i]->concurrency, f.executions, f.failed, f.avg, f.p95, f.qps,
                      t->pass ? verdict(t) : "**FAIL**");
        return;
    }
    pv_buf_puts(o, "  ");
    put_name(o, t->name, namew - 2, true, false);
    pv_buf_printf(o, " %5d %10" PRIu64 " %8" PRIu64 " %10.3f %10.3f %10.1f  %s\n",
                  r->runs[i]->concurrency, f.executions, f.failed, f.avg, f.p95, f.qps, verdict(t));
}

static void rule(pv_buf *o, size_t w)
{
    pv_buf_fill(o, '-', w);
    pv_buf_putc(o, '\n');
}

static void tests_table(pv_buf *o, const struct pv_report *r, bool markdown)
{
    size_t namew = NAME_MIN;
    for (size_t i = 0; i < r->nruns; i++) {
        size_t n = strlen(r->suite->tests[i].name) + 2;
        namew = n > namew ? (n > NAME_MAX ? NAME_MAX : n) : namew;
    }
    if (markdown) {
        pv_buf_puts(o, "| Category | Test | Concurrency |");
        for (size_t k = 0; k < PV_ARRAY_LEN(titles); k++)
            pv_buf_printf(o, " %s |", titles[k]);
        pv_buf_puts(o, " Target |\n|---|---|--:|--:|--:|--:|--:|--:|---|\n");
        for (size_t i = 0; i < r->nruns; i++)
            test_row(o, r, i, namew, true);
        return;
    }
    size_t width = namew + 6 + 11 + 9 + 3 * 11 + 8;
    pv_buf_printf(o, "%-*s %5s %10s %8s %10s %10s %10s  %s\n", (int)namew, "Test", "Conc",
                  titles[0], titles[1], titles[2], titles[3], titles[4], "Target");
    rule(o, width);
    for (size_t i = 0; i < r->nruns; i++) {
        const char *cat = r->suite->tests[i].category;
        if (i == 0 || strcmp(cat, r->suite->tests[i - 1].category) != 0) {
            put_name(o, cat, namew, false, false);
            pv_buf_putc(o, '\n');
        }
        test_row(o, r, i, namew, false);
    }
    rule(o, width);
}

static void groups_block(pv_buf *o, const struct group *cats, size_t ncats, const struct group *all,
                         bool markdown)
{
    if (markdown)
        pv_buf_puts(o, "\n| Category | Tests | Passed | Avg (ms) | P95 (ms) | QPS |\n"
                       "|---|--:|--:|--:|--:|--:|\n");
    else
        pv_buf_printf(o, "\n%-24s %6s %7s %10s %10s %10s\n", "Category averages", "Tests", "Passed",
                      "Avg (ms)", "P95 (ms)", "QPS");
    for (size_t k = 0; k <= ncats; k++) {
        const struct group *g = k < ncats ? &cats[k] : all;
        double avg = mean(g->sum_avg, g->tests), p95 = mean(g->sum_p95, g->tests);
        double qps = mean(g->sum_qps, g->tests);
        if (markdown) {
            pv_buf_puts(o, k < ncats ? "| " : "| **");
            pv_render_md_cell(o, g->name, NAME_MAX);
            pv_buf_printf(o, "%s | %zu | %zu | %.3f | %.3f | %.1f |\n", k < ncats ? "" : "**",
                          g->tests, g->passed, avg, p95, qps);
            continue;
        }
        pv_buf_puts(o, "  ");
        put_name(o, g->name, 22, true, false);
        pv_buf_printf(o, " %6zu %7zu %10.3f %10.3f %10.1f\n", g->tests, g->passed, avg, p95, qps);
    }
    const char *b = markdown ? "- " : "";
    pv_buf_printf(o,
                  "\n%sOverall Average Response Time: %.3f ms\n"
                  "%sOverall Average Throughput: %.1f qps\n"
                  "%sTotal Queries Executed: %" PRIu64 "\n"
                  "%sTotal Errors: %" PRIu64 "\n"
                  "%sTests: %zu, passed %zu, failed %zu\n",
                  b, mean(all->sum_avg, all->tests), b, mean(all->sum_qps, all->tests), b,
                  all->executions, b, all->failed, b, all->tests, all->passed,
                  all->tests - all->passed);
}

/* Per test that missed a target: its failed thresholds, errors and findings. */
static void missed_block(pv_buf *o, const struct pv_report *r, bool markdown)
{
    bool any = false;
    pv_buf line = PV_BUF_INIT;
    for (size_t i = 0; i < r->nruns; i++) {
        const struct pv_report_test *t = &r->suite->tests[i];
        if (t->pass)
            continue;
        if (!any)
            pv_buf_puts(o, markdown ? "\n### Missed targets\n\n" : "\nMissed targets:\n");
        any = true;
        pv_buf_puts(o, markdown ? "- **" : "  ");
        put_name(o, t->file, 200, false, markdown);
        pv_buf_puts(o, markdown ? "**\n" : "\n");
        const char *ind = markdown ? "  - " : "    ";
        for (size_t k = 0; k < pv_thresholds_count(t->thresholds); k++) {
            const struct pv_threshold *th = pv_thresholds_get(t->thresholds, k);
            double m = pv_threshold_measure(th, r->runs[i]);
            if (pv_threshold_pass(th, m))
                continue;
            pv_buf_reset(&line);
            pv_threshold_describe(&line, th, m, 0);
            pv_buf_printf(o, "%smissed: ", ind);
            put_name(o, pv_buf_ok(&line) == 0 ? pv_buf_str(&line) : th->expr, 400, false, markdown);
            pv_buf_putc(o, '\n');
        }
        if (r->runs[i]->total.failed > 0)
            pv_buf_printf(o, "%s%" PRIu64 " of %" PRIu64 " executions failed\n", ind,
                          r->runs[i]->total.failed, pv_stat_executions(&r->runs[i]->total));
        for (size_t k = 0; k < t->nfindings; k++) {
            /* a line of the diagnosis' notes comes as "note: ..." */
            bool note = strncmp(t->findings[k], "note: ", 6) == 0;
            pv_buf_printf(o, "%s%s", ind, note ? "note: " : "finding: ");
            put_name(o, t->findings[k] + (note ? 6 : 0), 1000, false, markdown);
            pv_buf_putc(o, '\n');
        }
    }
    pv_buf_fini(&line);
}

int pv_report__suite_table(const struct pv_report *r, pv_buf *out, bool markdown)
{
    struct group *cats, all;
    size_t ncats;
    if (groups(r, &cats, &ncats, &all) != 0)
        return VOLLEY_ENOMEM;
    header_lines(out, r, markdown);
    tests_table(out, r, markdown);
    groups_block(out, cats, ncats, &all, markdown);
    missed_block(out, r, markdown);
    bool interrupted = r->interrupted;
    for (size_t i = 0; i < r->nruns; i++)
        interrupted = interrupted || r->runs[i]->interrupted;
    if (interrupted)
        pv_buf_puts(out, markdown ? "\n**INTERRUPTED: partial results**\n"
                                  : "\nINTERRUPTED: partial results\n");
    free(cats);
    return pv_buf_ok(out);
}
