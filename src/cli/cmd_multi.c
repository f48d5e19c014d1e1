/* cmd_multi.c - `pgvolley multi`: many read-only queries in one call. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"
#include "multi/pv_multi.h"
#include "report/pv_report_multi.h"

static const char multi_help[] =
    "Usage: pgvolley multi [--datasets FILE | -d DSN] [OPTIONS] INPUT.json|-\n"
    "\n"
    "Runs many read-only queries at once and prints one combined result.\n"
    "INPUT is {\"queries\": [{\"dataset\": \"NAME\", \"query\": \"SELECT ...\", \"label\": "
    "\"...\"}]};\n"
    "\"dataset_id\" (the dataset's position in the file, from 1) is accepted instead\n"
    "of \"dataset\", and a query without either goes to the only dataset when there is\n"
    "one. Every query is checked by the read-only guard (one statement, SELECT/SHOW/\n"
    "EXPLAIN only, no data-modifying CTE, no denied function), then runs alone in a\n"
    "READ ONLY transaction that is always rolled back, with the dataset's statement\n"
    "timeout and row cap.\n"
    "\n"
    "  -D, --datasets FILE      datasets file (INI: [name] with dsn, description,\n"
    "                           max_rows, statement_timeout_ms, ...; see README)\n"
    "  -d, --dsn DSN            one dataset called 'default' instead\n"
    "  -f, --format F           markdown (default) or json\n"
    "      --max-queries N      refuse inputs with more than N queries (default 30)\n"
    "      --max-concurrency N  queries in flight at most (default 10)\n"
    "      --allow-functions L  allow-list mode: only these functions may be called\n"
    "                           (comma-separated, e.g. count,sum,avg,lower)\n"
    "      --allow-superuser    serve datasets through a superuser role anyway (the\n"
    "                           guard holds, but a superuser could undo it)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Ctrl-C or SIGTERM cancels the queries on the server and prints what finished\n"
    "(the cancelled queries failed with 57014); a second one exits at once.\n"
    "\n"
    "Exit codes: 0 all queries succeeded, 1 some failed (their errors are in the\n"
    "output), 2 bad usage or input (nothing ran), 4 internal error or the output\n"
    "cannot be written, 130 interrupted (the partial results are still printed).\n";

enum { OPT_MAXQ = 256, OPT_MAXC, OPT_ALLOW_SU, OPT_ALLOW_FN };

static const struct option multi_options[] = {
    {"allow-functions", required_argument, NULL, OPT_ALLOW_FN},
    {"allow-superuser", no_argument, NULL, OPT_ALLOW_SU},
    {"datasets", required_argument, NULL, 'D'},
    {"dsn", required_argument, NULL, 'd'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"max-concurrency", required_argument, NULL, OPT_MAXC},
    {"max-queries", required_argument, NULL, OPT_MAXQ},
    {NULL, 0, NULL, 0},
};

/* Splits a comma-separated list into a NULL-terminated lower-case array. */
static char **split_list(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **v = calloc(n + 1, sizeof(char *));
    char *copy = strdup(s);
    if (!v || !copy) {
        free(v);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        for (char *c = p; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (*p)
            v[k++] = p;
        p = comma ? comma + 1 : NULL;
    }
    if (k == 0) {
        free(copy);
        free(v);
        return NULL;
    }
    return v; /* v[0] owns the copy */
}

/* Reads and checks the request in input ("-" = stdin); prints why not.
   @return an exit code (CLI_EXIT_OK, CLI_EXIT_USAGE, CLI_EXIT_INTERNAL). */
static int load_request(const char *input, const pv_datasets *ds, size_t maxq,
                        struct pv_multi_request *req)
{
    json_error_t jerr;
    json_t *root = strcmp(input, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                           : json_load_file(input, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 1)
            cli_error("%s: %s", input, pv_json_message(jerr.text));
        else
            cli_error("%s:%d:%d: %s", input, jerr.line, jerr.column, pv_json_message(jerr.text));
        return CLI_EXIT_USAGE;
    }
    pv_err err = {{0}};
    int rc = pv_multi_request_parse(root, ds, maxq, req, &err);
    json_decref(root);
    if (rc != 0) {
        cli_error("%s: %s", input, rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        return rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* Writes the results as JSON or Markdown to stdout.
   @return an exit code (CLI_EXIT_OK, CLI_EXIT_INTERNAL, CLI_EXIT_SIGPIPE). */
static int print_results(const struct pv_multi_request *req, const struct pv_bresult *res,
                         const pv_datasets *ds, double wall_ms, bool json_out)
{
    int rc = 0;
    pv_buf out = PV_BUF_INIT;
    if (json_out) {
        json_t *j = pv_report_multi_json(req, res, ds, wall_ms);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) : NULL;
        if (text) {
            pv_buf_puts(&out, text);
            pv_buf_putc(&out, '\n');
        } else {
            rc = VOLLEY_ENOMEM;
        }
        free(text);
        json_decref(j);
    } else if (pv_report_multi_markdown(req, res, ds, wall_ms, &out) != 0) {
        rc = VOLLEY_ENOMEM;
    }
    int code = CLI_EXIT_INTERNAL;
    if (rc == 0 && pv_buf_ok(&out) == 0)
        code = cli_write_stdout(out.data, out.len);
    else
        cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
    pv_buf_fini(&out);
    return code;
}

/* ---- running the batch, Ctrl-C -------------------------------------- */

/* The main thread's loop while a batch runs: SIGINT/SIGTERM and the batch's end. */
struct waitctx {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_async_t done;
    pv_batch *batch;
    bool interrupted;
};

static void on_batch_done(void *arg)
{
    struct waitctx *w = arg;
    uv_async_send(&w->done);
}

static void on_done_async(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void on_sig(uv_signal_t *s, int signum)
{
    struct waitctx *w = s->data;
    (void)signum;
    cli_signalled = 1;
    if (w->interrupted) {
        fputs("\npgvolley: interrupted again; exiting now\n", stderr);
        _exit(CLI_EXIT_INTERRUPTED);
    }
    w->interrupted = true;
    fputs("pgvolley: interrupted; cancelling the queries (Ctrl-C again to exit at once)\n", stderr);
    pv_batch_cancel(w->batch);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

/*
 * Runs the batch to its end; the first SIGINT/SIGTERM cancels it (queued
 * queries fail with 57014, running ones are cancelled on the server), a
 * second exits at once. @return as pv_batch_submit; *interrupted set.
 */
static int run_batch(pv_batch_engine *eng, const struct pv_multi_request *req, int maxc,
                     struct pv_bresult *res, bool *interrupted, pv_err *err)
{
    struct waitctx w;
    memset(&w, 0, sizeof(w));
    uv_loop_init(&w.loop);
    uv_signal_init(&w.loop, &w.sigint);
    uv_signal_init(&w.loop, &w.sigterm);
    w.sigint.data = w.sigterm.data = &w;
    uv_async_init(&w.loop, &w.done, on_done_async);
    struct pv_batch_callbacks cb = {.on_done = on_batch_done, .arg = &w};
    int rc = pv_batch_submit(eng, req->queries, req->n, maxc, res, &cb, &w.batch, err);
    if (rc == 0) {
        uv_signal_start(&w.sigint, on_sig, SIGINT);
        uv_signal_start(&w.sigterm, on_sig, SIGTERM);
        if (cli_signalled) { /* before the handlers were ours */
            w.interrupted = true;
            pv_batch_cancel(w.batch);
        }
        uv_run(&w.loop, UV_RUN_DEFAULT);
        pv_batch_wait(w.batch);
    }
    uv_close((uv_handle_t *)&w.sigint, close_cb);
    uv_close((uv_handle_t *)&w.sigterm, close_cb);
    uv_close((uv_handle_t *)&w.done, close_cb);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_loop_close(&w.loop);
    cli_signals_install(); /* libuv restored the default handlers */
    *interrupted = w.interrupted;
    return rc;
}

int cmd_multi(int argc, char **argv)
{
    const char *dsfile = NULL, *dsn = NULL, *fnlist = NULL;
    bool json_out = false, allow_su = false;
    long maxq = PV_MULTI_MAX_QUERIES, maxc = PV_MULTI_MAX_CONCURRENCY;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":D:d:f:h", multi_options, NULL)) != -1) {
        switch (ch) {
        case 'D': dsfile = optarg; break;
        case 'd': dsn = optarg; break;
        case 'f':
            if (strcmp(optarg, "json") == 0)
                json_out = true;
            else if (strcmp(optarg, "markdown") == 0 || strcmp(optarg, "md") == 0)
                json_out = false;
            else
                return cli_usage_error("multi", "--format is markdown or json, not '%s'", optarg);
            break;
        case 'h': fputs(multi_help, stdout); return CLI_EXIT_OK;
        case OPT_MAXQ:
            if (cli_parse_int(optarg, 1, 1000, &maxq) != 0)
                return cli_usage_error("multi", "--max-queries takes 1..1000, not '%s'", optarg);
            break;
        case OPT_MAXC:
            if (cli_parse_int(optarg, 1, 100, &maxc) != 0)
                return cli_usage_error("multi", "--max-concurrency takes 1..100, not '%s'", optarg);
            break;
        case OPT_ALLOW_SU: allow_su = true; break;
        case OPT_ALLOW_FN: fnlist = optarg; break;
        case ':': return cli_usage_error("multi", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("multi", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("multi", "give exactly one INPUT file (or - for stdin)");
    if (!!dsfile == !!dsn)
        return cli_usage_error("multi", "give either --datasets FILE or -d DSN");
    const char *input = argv[optind];
    cli_signals_install();

    pv_err err = {{0}};
    pv_datasets *ds = NULL;
    int rc = dsfile ? pv_datasets_load(dsfile, &ds, &err) : pv_datasets_from_dsn(dsn, &ds, &err);
    if (rc != 0) {
        cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        return rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
    }

    struct pv_multi_request req;
    int code = load_request(input, ds, (size_t)maxq, &req);
    if (code != CLI_EXIT_OK) {
        pv_datasets_destroy(ds);
        return code;
    }

    struct pv_batch_opts bo = {0};
    bo.allow_superuser = allow_su;
    char **allow = NULL;
    if (fnlist) {
        allow = split_list(fnlist);
        if (!allow) {
            pv_multi_request_fini(&req);
            pv_datasets_destroy(ds);
            return cli_usage_error("multi", "--allow-functions needs at least one name");
        }
        bo.guard.mode = PV_GUARD_ALLOWLIST;
        bo.guard.allow = (const char *const *)allow;
    }
    pv_batch_engine *eng = NULL;
    bool interrupted = false;
    struct pv_bresult *res = calloc(req.n, sizeof(*res));
    rc = res ? pv_batch_engine_create(ds, &bo, &eng, &err) : VOLLEY_ENOMEM;
    if (rc == 0 && cli_signalled) {
        code = CLI_EXIT_INTERRUPTED; /* nothing ran */
    } else if (rc == 0) {
        uint64_t t0 = pv_now_ns();
        rc = run_batch(eng, &req, (int)maxc, res, &interrupted, &err);
        double wall_ms = (double)(pv_now_ns() - t0) / 1e6;
        if (rc == 0) {
            code = print_results(&req, res, ds, wall_ms, json_out);
            for (size_t i = 0; code == CLI_EXIT_OK && i < req.n; i++)
                if (!res[i].ok)
                    code = CLI_EXIT_FAILED;
            if (interrupted && (code == CLI_EXIT_OK || code == CLI_EXIT_FAILED))
                code = CLI_EXIT_INTERRUPTED;
        }
    }
    if (rc != 0) {
        cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        code = cli_exit_for(rc);
    }
    pv_batch_engine_destroy(eng);
    for (size_t i = 0; res && i < req.n; i++)
        pv_bresult_fini(&res[i]);
    free(res);
    if (allow) {
        free(allow[0]);
        free(allow);
    }
    pv_multi_request_fini(&req);
    pv_datasets_destroy(ds);
    return code;
}
