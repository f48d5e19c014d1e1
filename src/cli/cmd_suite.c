/*
 * cmd_suite.c - `pgvolley suite [SUITE]`: runs a suite of workload files in
 * categories (src/suite/pv_suite.h; the built-in one without SUITE), one
 * run per test with the test's own settings and targets, and writes seed
 * 002's summary and the JSON report (docs/suite.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_diag.h"
#include "cli/cli_html.h"
#include "cli/cli_judge.h"
#include "cli/cli_run.h"
#include "common/pv_buf.h"
#include "engine/pv_conn.h"
#include "pgtmp/pv_pgtmp.h"
#include "report/pv_report.h"
#include "suite/pv_init.h"
#include "suite/pv_suite.h"

/* A test without DURATION or EXEC_COUNT runs this long. */
#define SUITE_DEFAULT_DURATION_S 2.0

static const char suite_help[] =
    "Usage: pgvolley suite [OPTIONS] [SUITE]\n"
    "\n"
    "Runs a suite of workload files, one test after the other, each with its own\n"
    "concurrency, duration or executions and targets, and prints seed 002's summary:\n"
    "per test avg, p95, QPS and pass/FAIL against its targets, the averages per\n"
    "category and overall, the totals. SUITE is a directory with one sub-directory\n"
    "of *.sql workload files per category (docs/suite.md); without it, the built-in\n"
    "suite for the schema of `pgvolley init` runs.\n"
    "\n"
    "A test's header comments (besides those of `pgvolley run --help`):\n"
    "  -- TARGET: avg < 5ms, p95 < 10ms, qps > 500   the test's targets\n"
    "  -- CONCURRENCY: 10                     executions in flight (default 1)\n"
    "  -- DURATION: 5s                        time-based (also 500ms, 2m); else\n"
    "                                         EXEC_COUNT per scenario; neither: 2s\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN            libpq connection string or URI (default: libpq's\n"
    "                           environment)\n"
    "      --ephemeral          run on a throwaway PostgreSQL; the built-in suite\n"
    "                           first loads `pgvolley init -s SCALE` there\n"
    "  -s, --scale N            with --ephemeral: the scale of that init (default 1)\n"
    "  -T, --duration SEC       run every test for SEC seconds instead of its own\n"
    "                           DURATION or EXEC_COUNT (shorter runs, demos)\n"
    "  -j, --threads N          worker threads (default: number of CPUs)\n"
    "      --protocol P         prepared (default), extended or simple\n"
    "      --seed N             the seed of generated values (default: random)\n"
    "  -f, --format F           table (default), json or markdown on stdout\n"
    "  -o, --output FILE        also write the JSON report to FILE\n"
    "      --html FILE          also write the report as one self-contained HTML page\n"
    "                           (tests, targets, diagnosis, charts: docs/html-report.md)\n"
    "      --only PATTERN       run only the tests whose category, or category/name,\n"
    "                           matches PATTERN (shell wildcards: joins, 'indexed/pk_*',\n"
    "                           '*/heavy_100'); may be repeated\n"
    "      --list               list the tests, their settings and targets; run nothing\n"
    "      --export DIR         write the built-in suite's files under DIR (a new\n"
    "                           directory, or one without them) to copy and adapt\n"
    "      --no-diagnosis       do not diagnose the tests that miss a target (by\n"
    "                           default pgvolley samples pg_stat_activity during each\n"
    "                           test on one more connection, and for a test that\n"
    "                           missed reads its plans, statistics and settings:\n"
    "                           docs/diagnosis.md)\n"
    "  -q, --quiet              no progress on stderr\n"
    "  -h, --help               show this help\n"
    "\n"
    "Exit codes: 0 every test met its targets without a failed execution, 1 a\n"
    "target was missed or executions failed, 2 bad usage or a malformed suite\n"
    "(nothing ran), 3 cannot connect, 4 internal error, 130 interrupted.\n";

enum {
    OPT_EPHEMERAL = 256,
    OPT_PROTOCOL,
    OPT_SEED,
    OPT_LIST,
    OPT_EXPORT,
    OPT_ONLY,
    OPT_NO_DIAGNOSIS,
    OPT_HTML
};

/* --only patterns at most */
#define SUITE_MAX_ONLY 32

static const struct option suite_options[] = {
    {"dsn", required_argument, NULL, 'd'},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"scale", required_argument, NULL, 's'},
    {"duration", required_argument, NULL, 'T'},
    {"threads", required_argument, NULL, 'j'},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"html", required_argument, NULL, OPT_HTML},
    {"list", no_argument, NULL, OPT_LIST},
    {"only", required_argument, NULL, OPT_ONLY},
    {"export", required_argument, NULL, OPT_EXPORT},
    {"no-diagnosis", no_argument, NULL, OPT_NO_DIAGNOSIS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct suite_opts {
    struct cli_run_opts run; /* what a test's run takes (dsn, threads, protocol, seed, ...) */
    double duration_s;       /* -T: every test; 0 = each its own */
    int scale;               /* --ephemeral with the built-in suite */
    const char *path;        /* SUITE, or NULL: built-in */
    const char *export_dir;  /* --export */
    bool list;
    bool no_diagnosis;                /* --no-diagnosis */
    const char *only[SUITE_MAX_ONLY]; /* --only patterns */
    size_t nonly;
};

static int parse_protocol(const char *s, enum pv_protocol *out)
{
    if (strcmp(s, "prepared") == 0)
        *out = PV_PROTOCOL_PREPARED;
    else if (strcmp(s, "extended") == 0)
        *out = PV_PROTOCOL_EXTENDED;
    else if (strcmp(s, "simple") == 0)
        *out = PV_PROTOCOL_SIMPLE;
    else
        return cli_usage_error("suite", "--protocol is prepared, extended or simple, not '%s'", s);
    return CLI_EXIT_OK;
}

static int parse_format(const char *s, enum cli_format *out)
{
    if (strcmp(s, "table") == 0)
        *out = CLI_FORMAT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = CLI_FORMAT_JSON;
    else if (strcmp(s, "markdown") == 0 || strcmp(s, "md") == 0)
        *out = CLI_FORMAT_MARKDOWN;
    else
        return cli_usage_error("suite", "--format is table, json or markdown, not '%s'", s);
    return CLI_EXIT_OK;
}

/* One option into o. @return CLI_EXIT_OK, CLI_RUN_HELP_SHOWN or a usage error's code. */
static int suite_option(int ch, const char *arg, const char *given, struct suite_opts *o)
{
    long v;
    switch (ch) {
    case 'd': o->run.dsn = arg; break;
    case OPT_EPHEMERAL: o->run.ephemeral = true; break;
    case 's':
        if (cli_parse_int(arg, 1, PV_INIT_SCALE_MAX, &v) != 0)
            return cli_usage_error("suite", "-s must be an integer 1..%d, not '%s'",
                                   PV_INIT_SCALE_MAX, arg);
        o->scale = (int)v;
        break;
    case 'T':
        if (cli_parse_seconds(arg, 0.001, 86400, &o->duration_s) != 0)
            return cli_usage_error("suite",
                                   "-T must be seconds above 0 and at most 86400, not "
                                   "'%s'",
                                   arg);
        break;
    case 'j':
        if (cli_parse_int(arg, 1, 1024, &v) != 0)
            return cli_usage_error("suite", "-j must be an integer 1..1024, not '%s'", arg);
        o->run.threads = (int)v;
        break;
    case OPT_PROTOCOL: return parse_protocol(arg, &o->run.protocol);
    case OPT_SEED:
        if (cli_parse_int(arg, 0, INT64_MAX, &v) != 0)
            return cli_usage_error("suite", "--seed must be an integer 0..%" PRId64 ", not '%s'",
                                   INT64_MAX, arg);
        o->run.seed = (uint64_t)v;
        break;
    case 'f': return parse_format(arg, &o->run.format);
    case 'o': o->run.output = arg; break;
    case OPT_LIST: o->list = true; break;
    case OPT_ONLY:
        if (o->nonly == SUITE_MAX_ONLY)
            return cli_usage_error("suite", "--only at most %d times", SUITE_MAX_ONLY);
        o->only[o->nonly++] = arg;
        break;
    case OPT_EXPORT: o->export_dir = arg; break;
    case OPT_NO_DIAGNOSIS: o->no_diagnosis = true; break;
    case OPT_HTML: o->run.html = arg; break;
    case 'q': o->run.quiet = true; break;
    case 'h': fputs(suite_help, stdout); return CLI_RUN_HELP_SHOWN;
    case ':': return cli_usage_error("suite", "option '%s' needs a value", given);
    default: return cli_usage_error("suite", "unknown option '%s'", given);
    }
    return CLI_EXIT_OK;
}

static int suite_parse(int argc, char **argv, struct suite_opts *o)
{
    memset(o, 0, sizeof(*o));
    cli_run_opts_defaults(&o->run);
    o->scale = 1;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":d:s:T:j:f:o:qh", suite_options, NULL)) != -1) {
        int code = suite_option(ch, optarg, argv[optind - 1], o);
        if (code != CLI_EXIT_OK)
            return code;
    }
    if (optind < argc)
        o->path = argv[optind++];
    if (optind < argc)
        return cli_usage_error("suite", "unexpected argument '%s' (one SUITE at most)",
                               argv[optind]);
    if (o->export_dir && (o->path || o->list || o->run.output || o->run.ephemeral))
        return cli_usage_error("suite", "--export writes the built-in suite and runs nothing: "
                                        "no SUITE, --list, -o or --ephemeral with it");
    if (o->run.ephemeral && o->run.dsn)
        return cli_usage_error("suite", "--ephemeral and -d both name the server; keep one");
    return CLI_EXIT_OK;
}

/* ---- the tests --------------------------------------------------------- */

/* One test: its workload, targets and run; what the report says of it. */
struct test {
    pv_workload *wl;
    struct cli_judge *judge; /* its TARGET thresholds, or NULL */
    pv_run *run;             /* once run */
    int concurrency;
    double duration_s; /* 0: count-based */
    /* issue 12 item 3: the diagnosis of a test that missed a target
       (filled by the caller of pv_diag after the run; owned here) */
    char *diagnosis_json;
    char **findings;
    size_t nfindings;
};

static void tests_free(struct test *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        pv_run_destroy(t[i].run);
        cli_judge_destroy(t[i].judge);
        pv_workload_destroy(t[i].wl);
        free(t[i].diagnosis_json);
        for (size_t k = 0; k < t[i].nfindings; k++)
            free(t[i].findings[k]);
        free(t[i].findings);
    }
    free(t);
}

/* Reads test i and its targets, and settles its concurrency and duration. */
static int load_test(const struct suite_opts *o, const pv_suite *s, size_t i, struct test *t)
{
    pv_err err = {{0}};
    int rc = pv_workload_create(NULL, &t->wl);
    if (rc == 0)
        rc = pv_suite_load(s, i, t->wl, &err);
    if (rc != 0) {
        cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        return cli_exit_for(rc == VOLLEY_EIO ? VOLLEY_EINPUT : rc);
    }
    const struct pv_query *q = pv_workload_query(t->wl, 0);
    if (o->run.protocol == PV_PROTOCOL_SIMPLE && q->nparams > 0) {
        cli_error("%s: a query with parameters needs --protocol extended or prepared", q->path);
        return CLI_EXIT_USAGE;
    }
    t->concurrency = q->concurrency > 0 ? q->concurrency : 1;
    if (o->duration_s > 0)
        t->duration_s = o->duration_s;
    else if (q->duration_s > 0)
        t->duration_s = q->duration_s;
    else if (!q->exec_count_set)
        t->duration_s = SUITE_DEFAULT_DURATION_S;
    return cli_judge_create(NULL, 0, false, t->wl, &t->judge);
}

/* Every test read and checked before anything connects. */
static int load_tests(const struct suite_opts *o, const pv_suite *s, struct test **out)
{
    size_t n = pv_suite_count(s);
    *out = calloc(n, sizeof(**out));
    if (!*out) {
        cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
        return CLI_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int code = load_test(o, s, i, &(*out)[i]);
        if (code != CLI_EXIT_OK)
            return code;
    }
    return CLI_EXIT_OK;
}

/* "c=10, 3 s" or "c=1, 100 executions". */
static void settings_text(const struct test *t, char *buf, size_t cap)
{
    if (t->duration_s > 0)
        snprintf(buf, cap, "c=%d, %g s", t->concurrency, t->duration_s);
    else
        snprintf(buf, cap, "c=%d, %" PRIu64 " executions", t->concurrency,
                 pv_workload_total_executions(t->wl));
}

/* --list: the tests, their settings and targets; nothing connects. */
static int list_tests(const pv_suite *s, const struct test *tests)
{
    pv_buf out = PV_BUF_INIT;
    pv_buf_printf(&out, "suite %s (%s): %zu tests\n", pv_suite_name(s), pv_suite_source(s),
                  pv_suite_count(s));
    for (size_t i = 0; i < pv_suite_count(s); i++) {
        const struct pv_suite_test *st = pv_suite_get(s, i);
        const struct pv_query *q = pv_workload_query(tests[i].wl, 0);
        char set[96];
        settings_text(&tests[i], set, sizeof(set));
        pv_buf_printf(&out, "  %-14s %-26s %-22s %s\n", st->category, st->name, set,
                      q->target ? q->target : "(no target)");
    }
    int code = pv_buf_ok(&out) == 0 ? cli_write_stdout(out.data, out.len) : CLI_EXIT_INTERNAL;
    pv_buf_fini(&out);
    return code;
}

/* ---- the server -------------------------------------------------------- */

/*
 * The built-in suite runs against the schema of `pgvolley init`: says so
 * (exit 2) rather than 17 tests of errors 42P01 when it is missing.
 */
static int check_schema(const pv_target *target)
{
    PGconn *c = NULL;
    pv_err err = {{0}};
    int rc =
        pv_conn_connect_blocking(pv_target_keywords(target), pv_target_values(target), &c, &err);
    if (rc != 0) {
        cli_error("cannot connect to the server: %s", err.msg);
        return cli_exit_for(rc);
    }
    static const char *const tables[] = {"pgvolley_tenants", "pgvolley_agents",
                                         "pgvolley_schedules", "pgvolley_runs", "pgvolley_events"};
    int code = CLI_EXIT_OK;
    for (size_t i = 0; i < PV_ARRAY_LEN(tables) && code == CLI_EXIT_OK; i++) {
        const char *p[1] = {tables[i]};
        PGresult *res =
            PQexecParams(c, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            cli_error("cannot check the sample schema: %s", pv_conn_message(res));
            code = CLI_EXIT_FAILED;
        } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
            cli_error("the built-in suite runs against the sample schema of `pgvolley init`, "
                      "and table %s does not exist in database %s; run `pgvolley init` (same "
                      "-d) first",
                      tables[i], PQdb(c));
            code = CLI_EXIT_USAGE;
        }
        PQclear(res);
    }
    PQfinish(c);
    return code;
}

/* --ephemeral with the built-in suite: the sample schema at o->scale. */
static int load_sample(const struct suite_opts *o, const char *conninfo)
{
    struct pv_init_config cfg = {.conninfo = conninfo,
                                 .scale = o->scale,
                                 .jobs = PV_MAX(2, PV_MIN(4, cli_ncpu())),
                                 .seed = PV_INIT_SEED};
    struct pv_init_result res;
    pv_err err = {{0}};
    if (!o->run.quiet)
        fprintf(stderr, "pgvolley: loading the sample schema (pgvolley init -s %d)...\n", o->scale);
    int rc = pv_init_run(&cfg, &res, &err);
    if (rc != 0) {
        cli_error("init: %s", err.msg);
        return rc == VOLLEY_EIO ? CLI_EXIT_FAILED : cli_exit_for(rc);
    }
    if (!o->run.quiet)
        fprintf(stderr, "pgvolley: %lld rows loaded in %.2f s\n", (long long)res.total_rows,
                res.total_seconds);
    return CLI_EXIT_OK;
}

/* ---- running ----------------------------------------------------------- */

/* Whether test t met every target without a failed execution. */
static bool test_pass(const struct test *t)
{
    const struct pv_run_result *res = pv_run_result(t->run);
    return res->total.failed == 0 &&
           pv_thresholds_all_pass(cli_judge_thresholds(t->judge), &res, 1);
}

/* The line after a test: its figures and verdict, each missed target. */
static void say_result(const struct test *t)
{
    const struct pv_run_result *res = pv_run_result(t->run);
    struct pv_latency_ms l;
    pv_stat_latency(&res->total, &l);
    uint64_t n = pv_stat_executions(&res->total);
    const pv_thresholds *th = cli_judge_thresholds(t->judge);
    bool pass = test_pass(t);
    fprintf(stderr,
            "  %" PRIu64 " executions, %" PRIu64 " errors, avg %.3f ms, p95 %.3f ms, %.1f qps: "
            "%s\n",
            n, res->total.failed, isfinite(l.avg) ? l.avg : 0, isfinite(l.p95) ? l.p95 : 0,
            pv_report_qps(n, res->wall_s),
            !pass                     ? "FAIL"
            : pv_thresholds_count(th) ? "pass"
                                      : "done (no target)");
    pv_buf line = PV_BUF_INIT;
    for (size_t k = 0; k < pv_thresholds_count(th); k++) {
        const struct pv_threshold *x = pv_thresholds_get(th, k);
        double m = pv_threshold_measure(x, res);
        if (pv_threshold_pass(x, m))
            continue;
        pv_buf_reset(&line);
        pv_threshold_describe(&line, x, m, 0);
        fprintf(stderr, "  missed: %s\n", pv_buf_ok(&line) == 0 ? pv_buf_str(&line) : x->expr);
    }
    pv_buf_fini(&line);
}

/*
 * The diagnosis of test t, which missed a target (issue 12 item 3, cli_diag.c):
 * t->diagnosis_json (becomes runs[i].diagnosis) and t->findings (lines under
 * the table). One that cannot be made is said on stderr, never an error.
 */
static void diagnose_test(const struct suite_opts *o, const pv_target *target, struct test *t,
                          pv_diag_sampler *sampler, const char *sampler_why)
{
    struct cli_diag_result d;
    pv_err err = {{0}};
    if (!o->run.quiet)
        fprintf(stderr, "  diagnosing ...\n");
    if (cli_diag_test(target, t->wl, o->run.seed, sampler, sampler_why, &d, &err) != 0) {
        cli_error("suite: no diagnosis: %s", err.msg);
        return;
    }
    t->diagnosis_json = d.json;
    t->findings = d.findings;
    t->nfindings = d.nfindings;
    if (!o->run.quiet)
        for (size_t k = 0; k < d.nfindings; k++)
            fprintf(stderr, "  %s\n", d.findings[k]);
}

/*
 * Runs the tests in order, until the end, Ctrl-C or an error (a test that
 * could not run at all: the server went away). *nrun is the number of
 * tests run to the end (an interrupted one included).
 */
static int run_tests(const struct suite_opts *o, const pv_suite *s, pv_target *target,
                     struct test *tests, size_t *nrun, bool *interrupted)
{
    *nrun = 0;
    *interrupted = false;
    for (size_t i = 0; i < pv_suite_count(s) && !*interrupted; i++) {
        struct test *t = &tests[i];
        const struct pv_suite_test *st = pv_suite_get(s, i);
        char set[96];
        settings_text(t, set, sizeof(set));
        if (!o->run.quiet)
            fprintf(stderr, "[%zu/%zu] %s/%s: %s\n", i + 1, pv_suite_count(s), st->category,
                    st->name, set);
        struct cli_run_opts ro = o->run;
        ro.duration_s = t->duration_s;
        /* the waits of the test's backends, for a diagnosis if it misses */
        pv_diag_sampler *sampler = NULL;
        char why[PV_ERR_LEN + 64] = "";
        if (!o->no_diagnosis)
            cli_diag_sampler_start(target, &sampler, why, sizeof(why));
        int code = cli_run_once(&ro, target, t->wl, t->concurrency, &t->run, interrupted);
        pv_diag_sampler_stop(sampler);
        if (code == CLI_EXIT_OK) {
            (*nrun)++;
            if (!o->run.quiet)
                say_result(t);
            if (!test_pass(t) && !*interrupted && !o->no_diagnosis)
                diagnose_test(o, target, t, sampler, why);
        }
        pv_diag_sampler_destroy(sampler);
        if (code != CLI_EXIT_OK)
            return code;
    }
    return CLI_EXIT_OK;
}

/* ---- the report -------------------------------------------------------- */

static int render(enum cli_format f, const struct pv_report *rep, pv_buf *out)
{
    switch (f) {
    case CLI_FORMAT_JSON: return pv_report_json(rep, out);
    case CLI_FORMAT_MARKDOWN: return pv_report_markdown(rep, out);
    default: return pv_report_table(rep, out);
    }
}

/* stdout in the format asked for, then the JSON report to -o FILE. */
static int write_report(const struct suite_opts *o, const struct pv_report *rep)
{
    pv_buf out = PV_BUF_INIT;
    int rc = render(o->run.format, rep, &out);
    int code = rc == 0 ? cli_write_stdout(out.data, out.len) : CLI_EXIT_INTERNAL;
    if (rc != 0)
        cli_error("cannot render the report: %s", volley_strerror(rc));
    pv_buf_fini(&out);
    if (!o->run.output && !o->run.html)
        return code;
    rc = pv_report_json(rep, &out);
    if (rc != 0) {
        cli_error("cannot render the JSON report: %s", volley_strerror(rc));
        code = CLI_EXIT_INTERNAL;
    } else {
        if (o->run.output && cli_output_write(o->run.output, out.data, out.len) != 0) {
            cli_error("cannot write the report to %s: %s", o->run.output, strerror(errno));
            code = CLI_EXIT_INTERNAL;
        }
        char title[256];
        snprintf(title, sizeof(title), "pgvolley suite %s", rep->suite->name);
        if (o->run.html && cli_html_write(o->run.html, out.data, title, NULL, NULL) != 0)
            code = CLI_EXIT_INTERNAL;
    }
    pv_buf_fini(&out);
    return code;
}

/* The report of the tests run[0, n): its labels and verdicts, then the
   exit code (1 when a test failed). */
static int report_tests(const struct suite_opts *o, const pv_suite *s, const pv_target *target,
                        struct test *tests, size_t n, bool interrupted)
{
    struct pv_report_test *labels = calloc(n, sizeof(*labels));
    const struct pv_run_result **results = calloc(n, sizeof(*results));
    if (!labels || !results) {
        free(labels);
        free(results);
        cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
        return CLI_EXIT_INTERNAL;
    }
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        const struct pv_suite_test *st = pv_suite_get(s, i);
        results[i] = pv_run_result(tests[i].run);
        labels[i] = (struct pv_report_test){
            .name = st->name,
            .category = st->category,
            .file = st->file,
            .thresholds = cli_judge_thresholds(tests[i].judge),
            .pass = test_pass(&tests[i]),
            .diagnosis_json = tests[i].diagnosis_json,
            .findings = (const char *const *)tests[i].findings,
            .nfindings = tests[i].nfindings,
        };
        all = all && labels[i].pass;
    }
    struct pv_report_suite suite = {pv_suite_name(s), pv_suite_source(s), labels};
    struct pv_report rep = {
        .target = pv_target_info(target),
        .nruns = n,
        .runs = results,
        .interrupted = interrupted,
        .started_at = results[0]->started_at,
        .suite = &suite,
    };
    int code = write_report(o, &rep);
    free(labels);
    free(results);
    if (code == CLI_EXIT_OK && !all)
        code = CLI_EXIT_FAILED;
    return code;
}

/* ---- the command ------------------------------------------------------- */

/* Connects, runs every test of s and reports. conninfo overrides the -d DSN. */
static int run_suite(const struct suite_opts *o, const pv_suite *s, struct test *tests,
                     const char *conninfo)
{
    pv_err err = {{0}};
    pv_target *target = NULL;
    int rc = pv_target_create(conninfo ? conninfo : o->run.dsn, o->run.connect_timeout_s,
                              "pgvolley", &target, &err);
    if (rc != 0) {
        if (rc == VOLLEY_ECONNECT)
            cli_error("cannot connect to the server: %s", err.msg);
        else
            cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        return rc == VOLLEY_EINVAL ? CLI_EXIT_USAGE : cli_exit_for(rc);
    }
    int code = o->path ? CLI_EXIT_OK : check_schema(target);
    for (size_t i = 0; code == CLI_EXIT_OK && i < pv_suite_count(s); i++)
        code = cli_sample_params(tests[i].wl, target);
    size_t nrun = 0;
    bool interrupted = false;
    if (code == CLI_EXIT_OK)
        code = run_tests(o, s, target, tests, &nrun, &interrupted);
    if (nrun > 0) {
        int rcode = report_tests(o, s, target, tests, nrun, interrupted);
        code = code == CLI_EXIT_OK ? rcode : code;
    }
    if (interrupted && code != CLI_EXIT_INTERNAL && code != CLI_EXIT_SIGPIPE)
        code = CLI_EXIT_INTERRUPTED;
    pv_target_destroy(target);
    return code;
}

static int run_ephemeral(const struct suite_opts *o, const pv_suite *s, struct test *tests)
{
    pv_err err = {{0}};
    pv_pgtmp *tmp = NULL;
    if (!o->run.quiet)
        fputs("pgvolley: starting a throwaway PostgreSQL...\n", stderr);
    if (cli_diag_pgtmp_start(&tmp, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    int code = cli_signalled ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK;
    if (code == CLI_EXIT_OK && !o->path)
        code = load_sample(o, pv_pgtmp_conninfo(tmp));
    if (code == CLI_EXIT_OK)
        code =
            cli_signalled ? CLI_EXIT_INTERRUPTED : run_suite(o, s, tests, pv_pgtmp_conninfo(tmp));
    pv_pgtmp_stop(tmp);
    return code;
}

int cmd_suite(int argc, char **argv)
{
    struct suite_opts o;
    int code = suite_parse(argc, argv, &o);
    if (code == CLI_RUN_HELP_SHOWN)
        return CLI_EXIT_OK;
    if (code != CLI_EXIT_OK)
        return code;
    pv_err err = {{0}};
    if (o.export_dir) {
        int rc = pv_suite_export(o.export_dir, &err);
        if (rc != 0) {
            cli_error("%s", err.msg);
            return rc == VOLLEY_EINPUT ? CLI_EXIT_USAGE : cli_exit_for(rc);
        }
        if (!o.run.quiet)
            fprintf(stderr, "pgvolley: wrote the built-in suite to %s\n", o.export_dir);
        return CLI_EXIT_OK;
    }
    if ((o.run.output && cli_output_check(o.run.output) != 0) ||
        (o.run.html && cli_output_check(o.run.html) != 0))
        return CLI_EXIT_USAGE;
    pv_suite *s = NULL;
    int rc = o.path ? pv_suite_open(o.path, &s, &err) : pv_suite_builtin(&s, &err);
    if (rc == 0)
        rc = pv_suite_filter(s, o.only, o.nonly, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
        pv_suite_destroy(s);
        return rc == VOLLEY_EINPUT || rc == VOLLEY_EIO ? CLI_EXIT_USAGE : cli_exit_for(rc);
    }
    struct test *tests = NULL;
    code = load_tests(&o, s, &tests);
    if (code == CLI_EXIT_OK && o.list)
        code = list_tests(s, tests);
    else if (code == CLI_EXIT_OK) {
        cli_signals_install();
        code = o.run.ephemeral ? run_ephemeral(&o, s, tests) : run_suite(&o, s, tests, NULL);
    }
    tests_free(tests, pv_suite_count(s));
    pv_suite_destroy(s);
    return code;
}
