/* cmd_run.c - `pgvolley run`: the run loop, progress and reports (its
   options are cli_run_opts.c's). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli_judge.h"
#include "cli/cli_html.h"
#include "cli/cli_prom.h"
#include "cli/cli_run.h"
#include "cli/cli_timeline.h"
#include "common/pv_buf.h"
#include "pgtmp/pv_pgtmp.h"
#include "report/pv_report.h"
#include "workload/pv_workload.h"

/* ---- the run loop ----------------------------------------------------- */

struct loopctx {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    uv_async_t done;
    pv_run *run;
    bool interrupted;
    int signals;    /* SIGINT and SIGTERM received */
    bool bar;       /* live progress bar on stderr */
    double every_s; /* periodic progress lines */
    bool quiet;
    uint64_t last_done;
    uint64_t last_ns;
    uint64_t next_line_ns;
    int level;
    double duration_s; /* time-based runs: for the bar */
    bool bar_drawn;
    struct cli_judge *judge; /* thresholds (--abort-on-fail checks on the tick), or NULL */
};

static void on_run_done(void *arg)
{
    struct loopctx *x = arg;
    uv_async_send(&x->done);
}

static void on_done_async(uv_async_t *a)
{
    uv_stop(a->loop);
}

/* First signal: stop (cancel what is in flight, wait up to 2 s for the
   cancels), then the report. Second: stop now (close the connections),
   then the report. Third: exit at once with the counters. */
static void on_sig(uv_signal_t *s, int signum)
{
    struct loopctx *x = s->data;
    (void)signum;
    cli_signalled = 1;
    x->signals++;
    if (x->signals >= 3 || (x->signals == 2 && !x->run)) {
        /* what exists without waiting for the workers: their counters */
        struct pv_progress p = {0};
        if (x->run)
            pv_run_progress(x->run, &p);
        fprintf(stderr,
                "\npgvolley: interrupted again; exiting now without a report "
                "(%" PRIu64 " executions finished, %" PRIu64 " failed, at concurrency %d)\n",
                p.done, p.failed, x->level);
        _exit(CLI_EXIT_INTERRUPTED);
    }
    if (x->signals == 2) {
        if (!x->quiet)
            fputs("\npgvolley: interrupted again; closing the connections now "
                  "(Ctrl-C once more to exit without a report)\n",
                  stderr);
        pv_run_stop_now(x->run);
        return;
    }
    x->interrupted = true;
    if (!x->quiet)
        fputs("\npgvolley: interrupted; stopping (Ctrl-C again to stop at once)\n", stderr);
    if (x->run)
        pv_run_stop(x->run);
}

static void draw_progress(struct loopctx *x, bool final)
{
    struct pv_progress p;
    pv_run_progress(x->run, &p);
    uint64_t now = pv_now_ns();
    double dt = (double)(now - x->last_ns) / 1e9;
    double qps = dt > 0 ? (double)(p.done - x->last_done) / dt : 0;
    if (x->bar) {
        char left[64];
        int width = 24, fill = 0;
        if (p.connecting) {
            snprintf(left, sizeof(left), "connecting");
        } else if (p.warming_up) {
            snprintf(left, sizeof(left), "warming up");
        } else if (p.total) {
            fill = (int)((double)width * (double)p.done / (double)p.total);
            snprintf(left, sizeof(left), "%llu/%llu", (unsigned long long)p.done,
                     (unsigned long long)p.total);
        } else {
            double f = x->duration_s > 0 ? p.elapsed_s / x->duration_s : 0;
            fill = (int)((double)width * (f > 1 ? 1 : f));
            snprintf(left, sizeof(left), "%.1f/%.4g s", p.elapsed_s, x->duration_s);
        }
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K c=%-5d [%s] %s  %.0f q/s  %llu errors", x->level, bar, left, qps,
                (unsigned long long)p.failed);
        if (final)
            fputs("\r\033[K", stderr);
        x->bar_drawn = !final;
        fflush(stderr);
    } else if (x->every_s > 0 && !final) {
        char of[40] = "";
        if (p.total)
            snprintf(of, sizeof(of), " of %llu", (unsigned long long)p.total);
        fprintf(stderr, "progress: c=%d %.1f s, %llu executions%s, %.1f q/s, %llu errors\n",
                x->level, p.elapsed_s, (unsigned long long)p.done, of, qps,
                (unsigned long long)p.failed);
    }
    x->last_done = p.done;
    x->last_ns = now;
}

static void on_tick(uv_timer_t *t)
{
    struct loopctx *x = t->data;
    if (x->run)
        draw_progress(x, false);
    if (x->run)
        cli_judge_tick(x->judge, x->run); /* --abort-on-fail */
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

/* Runs one level to its end (or Ctrl-C). The run is left for pv_run_wait. */
static int loop_run(struct loopctx *x, pv_run *run, pv_err *err)
{
    x->run = run;
    x->last_done = 0;
    x->last_ns = pv_now_ns();
    int rc = pv_run_start(run, err);
    if (rc != 0)
        return rc;
    if (cli_signalled && !x->interrupted) {
        x->interrupted = true;
        pv_run_stop(run);
    }
    if (x->bar || x->every_s > 0 || x->judge) {
        uint64_t ms = x->bar ? 200 : x->every_s > 0 ? (uint64_t)(x->every_s * 1000) : 250;
        uv_timer_start(&x->tick, on_tick, ms, ms);
    }
    uv_run(&x->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&x->tick);
    if (x->bar)
        draw_progress(x, true);
    return 0;
}

/* ---- report ----------------------------------------------------------- */

/* The report on stdout, and as JSON in o->output. The file is written even
   when stdout fails. @return an exit code (CLI_EXIT_OK, CLI_EXIT_INTERNAL,
   CLI_EXIT_SIGPIPE). */
static int render(enum cli_format format, const struct pv_report *rep, pv_buf *out)
{
    switch (format) {
    case CLI_FORMAT_JSON: return pv_report_json(rep, out);
    case CLI_FORMAT_MARKDOWN: return pv_report_markdown(rep, out);
    default: return pv_report_table(rep, out);
    }
}

/*
 * The report could not be rendered in the format asked for (out of memory):
 * the run is not lost. Prints the table, else the summary (the table
 * without its row per scenario, whose size does not grow with them), and
 * says so. @return CLI_EXIT_INTERNAL, or CLI_EXIT_SIGPIPE.
 */
static int write_fallback(const struct cli_run_opts *o, const struct pv_report *rep, int why)
{
    pv_buf out = PV_BUF_INIT;
    const char *what = "the table";
    int rc = o->format == CLI_FORMAT_TABLE ? why : pv_report_table(rep, &out);
    if (rc != 0) {
        pv_buf_fini(&out);
        what = "the summary";
        rc = pv_report_summary(rep, &out);
    }
    int code = rc == 0 ? cli_write_stdout(out.data, out.len) : CLI_EXIT_INTERNAL;
    pv_buf_fini(&out);
    if (rc == 0 && code == CLI_EXIT_OK)
        cli_error("cannot render the full report: %s; the run finished and %s is on stdout%s",
                  volley_strerror(why), what,
                  o->output ? " (the report file was not written)" : "");
    else if (code != CLI_EXIT_SIGPIPE)
        cli_error("cannot render the report: %s", volley_strerror(why));
    return code == CLI_EXIT_SIGPIPE ? code : CLI_EXIT_INTERNAL;
}

/* The page's title: the workload files' base names. */
static void html_title(const struct cli_run_opts *o, char *title, size_t size)
{
    size_t n = (size_t)snprintf(title, size, "pgvolley run:");
    for (int i = 0; i < o->npaths && n < size; i++) {
        const char *slash = strrchr(o->paths[i], '/');
        n += (size_t)snprintf(title + n, size - n, "%s %s", i ? "," : "",
                              slash && slash[1] ? slash + 1 : o->paths[i]);
    }
}

/* stdout in the format asked for, then the JSON report to -o FILE and its
   page to --html FILE (the same JSON text); one buffer at a time. */
static int write_report(const struct cli_run_opts *o, const struct pv_report *rep)
{
    pv_buf out = PV_BUF_INIT;
    int rc = render(o->format, rep, &out);
    if (rc != 0) {
        pv_buf_fini(&out);
        return write_fallback(o, rep, rc);
    }
    int code = cli_write_stdout(out.data, out.len);
    pv_buf_fini(&out);
    if (!o->output && !o->html)
        return code;
    rc = pv_report_json(rep, &out);
    if (rc != 0) {
        const char *file = o->output ? o->output : o->html;
        cli_error("cannot render the JSON report for %s: %s; %s%s was not written (the run "
                  "finished and its report is on stdout)",
                  file, volley_strerror(rc), file, o->output && o->html ? " (nor --html)" : "");
        code = CLI_EXIT_INTERNAL;
    } else if (o->output && cli_output_write(o->output, out.data, out.len) != 0) {
        cli_error("cannot write the report to %s: %s", o->output, strerror(errno));
        code = CLI_EXIT_INTERNAL;
    }
    if (rc == 0 && o->html) {
        char title[256];
        html_title(o, title, sizeof(title));
        int hcode = cli_html_write(o->html, out.data, title, NULL, NULL);
        if (code == CLI_EXIT_OK)
            code = hcode;
    }
    pv_buf_fini(&out);
    return code;
}

/* Reads and checks every workload file before the first query is sent.
   @return an exit code; *out is set (to free) even on failure. */
static int load_workload(const struct cli_run_opts *o, pv_workload **out)
{
    pv_err err = {{0}};
    struct pv_workload_opts wopts = {0};
    wopts.default_exec_count = (uint64_t)o->exec_count;
    int rc = pv_workload_create(&wopts, out);
    if (rc != 0) {
        cli_error("%s", volley_strerror(rc));
        return CLI_EXIT_INTERNAL;
    }
    for (int i = 0; i < o->npaths; i++) {
        /* FILE@N (as pgbench -f): the file's weight in time-based runs,
           unless a file of that very name exists */
        char path[4096];
        double weight = 0;
        snprintf(path, sizeof(path), "%s", o->paths[i]);
        char *at = strrchr(path, '@');
        if (at && access(path, F_OK) != 0) {
            char *end;
            weight = strtod(at + 1, &end);
            if (at[1] < '0' || at[1] > '9' || *end || !(weight > 0) || weight > 1e6) {
                cli_error("%s: the weight after '@' must be a number above 0 and at most "
                          "1000000",
                          o->paths[i]);
                return CLI_EXIT_USAGE;
            }
            *at = '\0';
        }
        size_t before = pv_workload_count(*out);
        rc = pv_workload_add_path(*out, path, &err);
        if (rc != 0) {
            cli_error("%s", err.msg);
            return cli_exit_for(rc == VOLLEY_EIO ? VOLLEY_EINPUT : rc);
        }
        if (weight > 0)
            pv_workload_set_weight(*out, before, weight);
    }
    return cli_run_workload_check(o, *out);
}

int cli_run_workload_check(const struct cli_run_opts *o, const pv_workload *wl)
{
    for (size_t i = 0; o->protocol == PV_PROTOCOL_SIMPLE && i < pv_workload_count(wl); i++) {
        const struct pv_query *q = pv_workload_query(wl, i);
        if (q->nparams > 0) {
            cli_error("%s: a query with parameters needs --protocol extended or prepared "
                      "(parameters are never spliced into SQL text)",
                      q->path);
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

/* The main thread's loop: signals, the progress tick, the runs' done call. */
static void loop_init(struct loopctx *x, const struct cli_run_opts *o)
{
    memset(x, 0, sizeof(*x));
    uv_loop_init(&x->loop);
    uv_signal_init(&x->loop, &x->sigint);
    uv_signal_init(&x->loop, &x->sigterm);
    x->sigint.data = x->sigterm.data = x;
    uv_signal_start(&x->sigint, on_sig, SIGINT);
    uv_signal_start(&x->sigterm, on_sig, SIGTERM);
    uv_timer_init(&x->loop, &x->tick);
    x->tick.data = x;
    uv_async_init(&x->loop, &x->done, on_done_async);
    x->quiet = o->quiet;
    x->bar = !o->quiet && o->progress_s <= 0 && isatty(STDERR_FILENO);
    x->every_s = o->quiet ? 0 : o->progress_s;
    x->duration_s = o->duration_s;
    if (cli_signalled)
        x->interrupted = true;
}

static void loop_fini(struct loopctx *x)
{
    uv_close((uv_handle_t *)&x->sigint, close_cb);
    uv_close((uv_handle_t *)&x->sigterm, close_cb);
    uv_close((uv_handle_t *)&x->tick, close_cb);
    uv_close((uv_handle_t *)&x->done, close_cb);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    uv_loop_close(&x->loop);
    cli_signals_install(); /* libuv restored the default handlers */
}

/* The engine's configuration for one concurrency level of the options. */
static void run_config(const struct cli_run_opts *o, int level, pv_target *target, pv_workload *wl,
                       struct loopctx *x, struct pv_run_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->target = target;
    cfg->workload = wl;
    cfg->concurrency = level;
    cfg->threads = o->threads > 0 ? o->threads : cli_ncpu();
    cfg->pool.size = o->pool_size;
    cfg->pool.max_overflow = o->max_overflow;
    cfg->pool.timeout_s = o->pool_timeout_s;
    cfg->pool.recycle_s = o->pool_recycle_s;
    cfg->pool.connect_timeout_s = o->connect_timeout_s;
    cfg->command_timeout_s = o->command_timeout_s;
    cfg->protocol = o->protocol;
    cfg->duration_s = o->duration_s;
    cfg->warmup_s = o->warmup_s;
    cfg->retries = o->retries;
    cfg->pipeline = o->pipeline;
    cfg->pin_threads = o->pin_threads;
    cfg->separate_begin = o->separate_begin;
    cfg->rate = o->rate;
    cfg->arrival = o->arrival;
    cfg->max_lag_s = o->max_lag_s;
    cfg->seed = o->seed;
    cfg->interval_s = o->interval_s;
    cfg->timeline_cap = cli_timeline_cap();
    cfg->on_done = on_run_done;
    cfg->on_done_arg = x;
}

/*
 * The load's shape for one level (--stages, --ramp-up), or NULL: targets
 * are rates with --rate, executions in flight without; the stages start at
 * the --rate or -c value, a ramp-up at 0. A shaped run is time-based: its
 * duration (warm-up included) is the shape's. @return an exit code.
 */
static int make_shape(const struct cli_run_opts *o, int level, struct pv_run_config *cfg,
                      pv_shape **out)
{
    pv_err err = {{0}};
    double target = o->rate > 0 ? o->rate : level;
    double max = o->rate > 0 ? 1e7 : 10000;
    int rc = 0;
    *out = NULL;
    if (o->stages) {
        rc = pv_shape_parse(o->stages, target, max, out, &err);
    } else if (o->ramp_up_s > 0) {
        struct pv_stage st[2] = {{o->ramp_up_s, target},
                                 {o->warmup_s + o->duration_s - o->ramp_up_s, target}};
        rc = pv_shape_create(0, st, 2, out, &err);
    } else {
        return CLI_EXIT_OK;
    }
    if (rc != 0) {
        if (rc == VOLLEY_ENOMEM)
            cli_error("%s", volley_strerror(rc));
        else
            cli_usage_error("run", "%s: %s", o->stages ? "--stages" : "--ramp-up", err.msg);
        return rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
    }
    double total = pv_shape_duration(*out);
    if (total <= o->warmup_s) {
        cli_usage_error("run", "the stages last %g s, not more than the warm-up (%g s)", total,
                        o->warmup_s);
        return CLI_EXIT_USAGE;
    }
    cfg->shape = *out;
    cfg->duration_s = total - o->warmup_s;
    if (o->rate <= 0) /* the most in flight at once */
        cfg->concurrency = PV_MAX(1, (int)ceil(pv_shape_max(*out) - 1e-9));
    return CLI_EXIT_OK;
}

int cli_run_level_config(const struct cli_run_opts *o, int level, pv_target *target,
                         pv_workload *wl, void (*on_done)(void *), void *arg,
                         struct pv_run_config *cfg, pv_shape **shape)
{
    run_config(o, level, target, wl, NULL, cfg);
    cfg->on_done = on_done;
    cfg->on_done_arg = arg;
    int code = make_shape(o, level, cfg, shape);
    if (code == CLI_EXIT_OK)
        code = cli_shard_config(o, cfg);
    if (code == CLI_EXIT_OK)
        pv_run_config_defaults(cfg);
    return code;
}

/* Once per run (said: whether it was already): the server's limit, not
   pgvolley's, set the pace. @return whether it has been said now. */
static bool say_refused(const struct pv_run_result *res, bool said)
{
    const struct pv_pool_stats *ps = &res->pool_stats;
    if (said || ps->connect_failed == 0 || ps->max_open >= ps->wanted)
        return said;
    fprintf(stderr,
            "pgvolley: the server accepted %" PRIu64 " of %" PRIu64
            " connections (concurrency %d); the run kept to them\n",
            ps->max_open, ps->wanted, res->concurrency);
    return true;
}

/* The report of the runs done (also the Prometheus file), then the
   verdict: failed executions, thresholds. @return the exit code. */
static int report_runs(const struct cli_run_opts *o, const pv_target *target,
                       const struct pv_run_result **results, int nruns, bool interrupted,
                       struct cli_judge *judge)
{
    struct pv_report rep = {
        .target = pv_target_info(target),
        .nruns = (size_t)nruns,
        .runs = results,
        .sweep = o->nlevels > 1,
        .interrupted = interrupted,
        .started_at = results[0]->started_at,
        .shard_index = o->shard_index,
        .shard_count = o->shard_count,
        .thresholds = cli_judge_thresholds(judge),
        .aborted = cli_judge_aborted(judge),
    };
    int code = write_report(o, &rep);
    int prom = cli_prom_report(o, &rep);
    if (code == CLI_EXIT_OK)
        code = prom;
    for (int i = 0; code == CLI_EXIT_OK && i < nruns; i++)
        if (results[i]->total.failed > 0)
            code = CLI_EXIT_FAILED;
    if (!cli_judge_verdict(judge, results, (size_t)nruns, rep.sweep) || cli_judge_aborted(judge))
        code = code == CLI_EXIT_OK ? CLI_EXIT_FAILED : code;
    return code;
}

int cli_run_workload(const struct cli_run_opts *o, const char *conninfo)
{
    pv_shape *shapes[CLI_MAX_LEVELS] = {0};
    pv_err err = {{0}};
    pv_workload *wl = NULL;
    pv_target *target = NULL;
    pv_run *runs[CLI_MAX_LEVELS] = {0};
    const struct pv_run_result *results[CLI_MAX_LEVELS];
    int nruns = 0;
    struct loopctx x;
    struct cli_timeline tl = {0};
    bool loop_ready = false;
    bool refused_said = false;

    struct cli_judge *judge = NULL;
    int code = load_workload(o, &wl);
    if (code == CLI_EXIT_OK)
        code = cli_shard_workload(o, wl);
    if (code == CLI_EXIT_OK)
        code = cli_judge_create(o->thresholds, o->nthresholds, o->abort_on_fail, wl, &judge);
    if (code != CLI_EXIT_OK)
        goto out;
    int rc = pv_target_create(conninfo ? conninfo : o->dsn, o->connect_timeout_s, "pgvolley",
                              &target, &err);
    if (rc != 0) {
        if (rc == VOLLEY_ECONNECT)
            cli_error("cannot connect to the server: %s", err.msg);
        else
            cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        code = rc == VOLLEY_EINVAL ? CLI_EXIT_USAGE : cli_exit_for(rc);
        goto out;
    }

    cli_prom_target(pv_target_info(target));
    code = cli_sample_params(wl, target);
    if (code != CLI_EXIT_OK)
        goto out;
    loop_init(&x, o);
    loop_ready = true;
    if ((code = cli_timeline_open(&tl, o->timeline, wl)) != CLI_EXIT_OK)
        goto out;
    x.judge = judge;

    for (int i = 0; i < o->nlevels && !x.interrupted; i++) {
        struct pv_run_config cfg;
        run_config(o, o->levels[i], target, wl, &x, &cfg);
        code = make_shape(o, o->levels[i], &cfg, &shapes[i]);
        if (code == CLI_EXIT_OK)
            code = cli_shard_config(o, &cfg);
        if (code != CLI_EXIT_OK)
            goto out;
        pv_run_config_defaults(&cfg); /* after the shape: the pool follows it */
        rc = pv_run_create(&cfg, &runs[nruns], &err);
        if (rc != 0) {
            cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
            code = cli_exit_for(rc);
            goto out;
        }
        pv_run *run = runs[nruns++];
        x.level = cfg.concurrency;
        cli_timeline_start(&tl, &x.loop, run, cfg.concurrency, cfg.rate > 0);
        cli_prom_run_begin(run);
        rc = loop_run(&x, run, &err);
        if (rc == 0)
            rc = pv_run_wait(run, &err);
        cli_timeline_end(&tl);
        x.run = NULL;
        cli_prom_run_end(rc == 0 ? pv_run_result(run) : NULL);
        if (rc != 0) {
            cli_error("%s", err.msg);
            code = cli_exit_for(rc);
            goto out;
        }
        results[nruns - 1] = pv_run_result(run);
        refused_said = say_refused(results[nruns - 1], refused_said);
        if (cli_judge_aborted(judge)) {
            cli_error("the run stopped: %s", cli_judge_aborted(judge));
            break;
        }
        if (results[nruns - 1]->aborted[0]) {
            /* going on (further levels included) could only fail the same way */
            cli_error("the run stopped: %s", results[nruns - 1]->aborted);
            break;
        }
    }

    if (nruns > 0)
        code = report_runs(o, target, results, nruns, x.interrupted, judge);
    if (x.interrupted && code != CLI_EXIT_INTERNAL && code != CLI_EXIT_SIGPIPE)
        code = CLI_EXIT_INTERRUPTED;

out:
    cli_prom_forget();
    for (int i = 0; i < nruns; i++)
        pv_run_destroy(runs[i]);
    for (int i = 0; i < CLI_MAX_LEVELS; i++)
        pv_shape_destroy(shapes[i]);
    int tcode = cli_timeline_close(&tl);
    if (code == CLI_EXIT_OK || code == CLI_EXIT_FAILED)
        code = tcode != CLI_EXIT_OK ? tcode : code;
    if (loop_ready)
        loop_fini(&x);
    pv_target_destroy(target);
    cli_judge_destroy(judge);
    pv_workload_destroy(wl);
    return code;
}

/* ---- one test of a suite (cli_run.h; issue 12) -------------------------- */

int cli_run_once(const struct cli_run_opts *o, pv_target *target, pv_workload *wl, int level,
                 pv_run **out, bool *interrupted)
{
    pv_err err = {{0}};
    struct loopctx x;
    struct pv_run_config cfg;
    *out = NULL;
    loop_init(&x, o);
    run_config(o, level, target, wl, &x, &cfg);
    pv_run_config_defaults(&cfg);
    int code = CLI_EXIT_OK;
    int rc = pv_run_create(&cfg, out, &err);
    if (rc == 0) {
        x.level = cfg.concurrency;
        rc = loop_run(&x, *out, &err);
        if (rc == 0)
            rc = pv_run_wait(*out, &err);
        x.run = NULL;
    }
    if (rc != 0) {
        cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        code = cli_exit_for(rc);
        pv_run_destroy(*out);
        *out = NULL;
    }
    *interrupted = x.interrupted;
    loop_fini(&x);
    return code;
}

/* Runs o on a throwaway server started for it. */
static int run_ephemeral(const struct cli_run_opts *o)
{
    pv_err err = {{0}};
    pv_pgtmp *tmp = NULL;
    if (!o->quiet)
        fputs("pgvolley: starting a throwaway PostgreSQL...\n", stderr);
    struct pv_pgtmp_opts po = {0};
    cli_pgtmp_env(&po);
    int rc = pv_pgtmp_start(&po, &tmp, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    int code = cli_signalled ? CLI_EXIT_INTERRUPTED : cli_run_workload(o, pv_pgtmp_conninfo(tmp));
    pv_pgtmp_stop(tmp);
    return code;
}

int cmd_run(int argc, char **argv)
{
    struct cli_run_opts o;
    int code = cli_run_parse(argc, argv, &o);
    if (code == CLI_RUN_HELP_SHOWN)
        return CLI_EXIT_OK;
    if (code != CLI_EXIT_OK)
        return code;
    if (o.output && cli_output_check(o.output) != 0)
        return CLI_EXIT_USAGE;
    if (o.html && cli_output_check(o.html) != 0)
        return CLI_EXIT_USAGE;
    code = cli_prom_start(&o);
    if (code != CLI_EXIT_OK)
        return code;

    cli_signals_install();
    code = o.ephemeral ? run_ephemeral(&o) : cli_run_workload(&o, NULL);
    cli_prom_stop();
    return code;
}
