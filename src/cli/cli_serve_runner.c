/*
 * cli_serve_runner.c - the runner of `pgvolley serve` (web/pv_serve.h),
 * made of `pgvolley run`'s own code: a request becomes `run` arguments
 * checked by cli_run_parse, its files are parsed by the workload reader,
 * its thresholds by cli_judge, each level is configured by
 * cli_run_level_config, and the report is the CLI's JSON report. Messages
 * are captured (cli_capture_begin) so that a bad request gets the very
 * text `run` prints.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli_judge.h"
#include "cli/cli_run.h"
#include "cli/cli_serve.h"
#include "common/pv_buf.h"
#include "report/pv_report.h"

#define MAX_ARGS     512
#define NAME_MAX_LEN 255

/* The options a request may give, as `run`'s long names; flags take a
   boolean. Output, server and sharding options are the server's. */
static const char *const allowed[] = {
    "concurrency", "duration",  "warmup",       "exec-count",      "threads",
    "protocol",    "pool-size", "max-overflow", "pool-timeout",    "pool-recycle",
    "retries",     "pipeline",  "rate",         "command-timeout", "connect-timeout",
    "arrival",     "max-lag",   "stages",       "ramp-up",         "seed",
    "interval",    "threshold",
};
static const char *const flags[] = {"separate-begin", "abort-on-fail"};

/* One prepared run. */
struct job {
    struct cli_run_opts o;
    char *argv[MAX_ARGS]; /* owned strings; o's paths and texts point into them */
    int argc;
    pv_workload *wl;
    struct cli_judge *judge;
    const char *dsn; /* borrowed from the runner's targets */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pv_run *run; /* the level running now, or NULL */
    bool cancelled;
    bool done; /* the current level's on_done came */
};

static pthread_mutex_t parse_mu = PTHREAD_MUTEX_INITIALIZER; /* getopt's globals */

static void job_free(struct job *j)
{
    if (!j)
        return;
    cli_judge_destroy(j->judge);
    pv_workload_destroy(j->wl);
    for (int i = 0; i < j->argc; i++)
        free(j->argv[i]);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static int add_arg(struct job *j, pv_buf *msg, const char *fmt, ...) PV_PRINTF(3, 4);
static int add_arg(struct job *j, pv_buf *msg, const char *fmt, ...)
{
    if (j->argc >= MAX_ARGS - 1) {
        pv_buf_printf(msg, "too many options or files (at most %d)", MAX_ARGS - 2);
        return -1;
    }
    pv_buf b = PV_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    pv_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (pv_buf_ok(&b) != 0) {
        pv_buf_fini(&b);
        pv_buf_puts(msg, "out of memory");
        return -1;
    }
    j->argv[j->argc++] = b.data ? b.data : strdup("");
    return 0;
}

static bool in(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* One value of option opt as `--opt=TEXT`. @return 0 or -1 (msg set). */
static int add_value(struct job *j, const char *opt, const json_t *v, pv_buf *msg)
{
    if (json_is_integer(v))
        return add_arg(j, msg, "--%s=%" JSON_INTEGER_FORMAT, opt, json_integer_value(v));
    if (json_is_real(v))
        return add_arg(j, msg, "--%s=%.17g", opt, json_real_value(v));
    if (json_is_string(v))
        return add_arg(j, msg, "--%s=%s", opt, json_string_value(v));
    pv_buf_printf(msg, "%s: a number or a string", opt);
    return -1;
}

/* A request member that is a `run` option, as arguments. */
static int add_option(struct job *j, const char *key, const json_t *v, pv_buf *msg)
{
    char opt[64];
    size_t n = strlen(key);
    if (n >= sizeof(opt)) {
        pv_buf_printf(msg, "unknown field '%s'", key);
        return -1;
    }
    for (size_t i = 0; i <= n; i++)
        opt[i] = key[i] == '_' ? '-' : key[i];
    if (in(flags, PV_ARRAY_LEN(flags), opt)) {
        if (!json_is_boolean(v)) {
            pv_buf_printf(msg, "%s: true or false", key);
            return -1;
        }
        return json_is_true(v) ? add_arg(j, msg, "--%s", opt) : 0;
    }
    if (!in(allowed, PV_ARRAY_LEN(allowed), opt)) {
        pv_buf_printf(msg, "unknown field '%s' (see GET /api/openapi.json)", key);
        return -1;
    }
    if (!json_is_array(v))
        return add_value(j, opt, v, msg);
    if (strcmp(opt, "threshold") == 0) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) if (add_value(j, opt, e, msg) != 0) return -1;
        return 0;
    }
    if (strcmp(opt, "concurrency") != 0 || json_array_size(v) == 0) {
        pv_buf_printf(msg, "%s: %s", key,
                      strcmp(opt, "concurrency") == 0 ? "at least one level"
                                                      : "a number or a string");
        return -1;
    }
    pv_buf levels = PV_BUF_INIT;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e)) {
            pv_buf_fini(&levels);
            pv_buf_printf(msg, "%s: integers", key);
            return -1;
        }
        pv_buf_printf(&levels, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(e));
    }
    int rc = add_arg(j, msg, "--concurrency=%s", pv_buf_str(&levels));
    pv_buf_fini(&levels);
    return rc;
}

/* A file name as a request may give one: no directory, no dot first. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX_LEN && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

/* The request as `run` arguments; files' names are the positional ones. */
static int request_args(struct job *j, const json_t *req, pv_buf *msg)
{
    if (add_arg(j, msg, "run") != 0)
        return -1;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)req, key, v)
    {
        if (strcmp(key, "target") == 0 || strcmp(key, "name") == 0 || strcmp(key, "files") == 0 ||
            strcmp(key, "workload_files") == 0)
            continue;
        if (add_option(j, key, v, msg) != 0)
            return -1;
    }
    if (add_arg(j, msg, "--") != 0)
        return -1;
    /* the files' names: run's positional arguments */
    const json_t *files = json_object_get(req, "files");
    const json_t *names = json_object_get(req, "workload_files");
    if ((files && !json_is_array(files)) || (names && !json_is_array(names))) {
        pv_buf_puts(msg, files && !json_is_array(files)
                             ? "files: an array of {\"name\", \"content\"}"
                             : "workload_files: an array of file names");
        return -1;
    }
    size_t i;
    json_array_foreach((json_t *)files, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!name || !name_ok(name) || !json_is_string(json_object_get(v, "content"))) {
            pv_buf_printf(msg,
                          "files[%zu]: {\"name\": a file name without '/', \"content\": "
                          "its text}",
                          i);
            return -1;
        }
        if (add_arg(j, msg, "%s", name) != 0)
            return -1;
    }
    json_array_foreach((json_t *)names, i, v)
    {
        if (!json_is_string(v)) {
            pv_buf_printf(msg, "workload_files[%zu]: a file name of the workload directory", i);
            return -1;
        }
        if (add_arg(j, msg, "%s", json_string_value(v)) != 0)
            return -1;
    }
    return 0;
}

/*
 * An uploaded file may not name a PARAMETERS_FILE: it would read a file of
 * the server's disk. @return 0, or -1 with "NAME:LINE:COL: ..." in msg.
 */
static int no_csv(const char *name, const char *text, size_t len, pv_buf *msg)
{
    static const char word[] = "PARAMETERS_FILE";
    size_t wl = sizeof(word) - 1;
    int line = 1, col = 1;
    for (size_t i = 0; i + wl <= len; i++) {
        if (strncasecmp(text + i, word, wl) == 0) {
            pv_buf_printf(msg,
                          "%s:%d:%d: PARAMETERS_FILE is not allowed in an uploaded file "
                          "(it would read the server's files); put the file and its CSV "
                          "in the server's --workload-dir",
                          name, line, col);
            return -1;
        }
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return 0;
}

/* Uploaded files: parsed from their text under their own names. */
static int add_uploads(struct job *j, const json_t *files, pv_buf *msg)
{
    size_t i;
    const json_t *f;
    json_array_foreach((json_t *)files, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *content = json_object_get(f, "content");
        pv_err err = {{0}};
        if (no_csv(name, json_string_value(content), json_string_length(content), msg) != 0)
            return -1;
        if (pv_workload_add_text(j->wl, name, json_string_value(content),
                                 json_string_length(content), &err) != 0) {
            pv_buf_puts(msg, err.msg);
            return -1;
        }
    }
    return 0;
}

/* Files of the server's --workload-dir, by name (FILE@WEIGHT as `run`). */
static int add_server_files(const struct cli_serve *sv, struct job *j, const json_t *names,
                            pv_buf *msg)
{
    size_t i;
    const json_t *v;
    if (json_array_size(names) > 0 && !sv->workload_dir) {
        pv_buf_puts(msg, "workload_files: the server has no --workload-dir");
        return -1;
    }
    json_array_foreach((json_t *)names, i, v)
    {
        const char *given = json_string_value(v);
        char name[NAME_MAX_LEN + 1];
        double weight = 0;
        snprintf(name, sizeof(name), "%s", given ? given : "");
        char *at = strrchr(name, '@');
        if (at) {
            char *end;
            weight = strtod(at + 1, &end);
            if (*end || !(weight > 0) || weight > 1e6) {
                pv_buf_printf(msg,
                              "%s: the weight after '@' must be a number above 0 and at "
                              "most 1000000",
                              given);
                return -1;
            }
            *at = '\0';
        }
        if (!given || !name_ok(name)) {
            pv_buf_printf(msg, "workload_files[%zu]: a file name of the workload directory", i);
            return -1;
        }
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s", sv->workload_dir, name);
        struct stat st;
        if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            pv_buf_printf(msg, "%s: no such file in the workload directory", name);
            return -1;
        }
        pv_err err = {{0}};
        size_t before = pv_workload_count(j->wl);
        /* by its path, so that a PARAMETERS_FILE is found beside it; the
           messages name it as the request did */
        if (pv_workload_add_path(j->wl, path, &err) != 0) {
            size_t dl = strlen(sv->workload_dir) + 1;
            pv_buf_puts(msg, strncmp(err.msg, path, dl) == 0 ? err.msg + dl : err.msg);
            return -1;
        }
        if (weight > 0)
            pv_workload_set_weight(j->wl, before, weight);
    }
    return 0;
}

/* The most in flight the run will ask for, against the target's limit. */
static int check_limits(const struct job *j, const struct pv_serve_target *t, pv_buf *msg)
{
    int most = 0;
    for (int i = 0; i < j->o.nlevels; i++)
        most = PV_MAX(most, j->o.levels[i]);
    if (j->o.stages && j->o.rate <= 0) {
        pv_shape *sh = NULL;
        pv_err err = {{0}};
        if (pv_shape_parse(j->o.stages, j->o.levels[0], 10000, &sh, &err) == 0)
            most = PV_MAX(most, (int)(pv_shape_max(sh) + 0.999999));
        pv_shape_destroy(sh);
    }
    if (most > t->max_concurrency) {
        pv_buf_printf(msg, "concurrency %d is above the limit of target '%s' (max_concurrency %d)",
                      most, t->name, t->max_concurrency);
        return -1;
    }
    return 0;
}

/* Parses the arguments as `run` does, with its messages captured. */
static int parse_locked(struct job *j, pv_buf *msg)
{
    pthread_mutex_lock(&parse_mu);
    cli_capture_begin(msg);
    int code = cli_run_parse(j->argc, j->argv, &j->o);
    cli_capture_end();
    pthread_mutex_unlock(&parse_mu);
    return code;
}

int cli_serve__prepare(void *arg, const json_t *req, const struct pv_serve_target *t, void **out,
                       pv_buf *msg)
{
    const struct cli_serve *sv = arg;
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        pv_buf_puts(msg, "out of memory");
        return PV_SERVE_INTERNAL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->dsn = cli_serve__dsn(sv, t->name);
    struct pv_workload_opts wopts = {0};
    int rc = request_args(j, req, msg);
    if (rc == 0 && parse_locked(j, msg) != CLI_EXIT_OK)
        rc = -1;
    wopts.default_exec_count = (uint64_t)j->o.exec_count;
    if (rc == 0 && pv_workload_create(&wopts, &j->wl) != 0) {
        pv_buf_puts(msg, "out of memory");
        job_free(j);
        return PV_SERVE_INTERNAL;
    }
    if (rc == 0)
        rc = check_limits(j, t, msg);
    if (rc == 0)
        rc = add_uploads(j, json_object_get(req, "files"), msg);
    if (rc == 0)
        rc = add_server_files(sv, j, json_object_get(req, "workload_files"), msg);
    if (rc == 0) {
        cli_capture_begin(msg);
        if (cli_run_workload_check(&j->o, j->wl) != CLI_EXIT_OK ||
            cli_judge_create(j->o.thresholds, j->o.nthresholds, j->o.abort_on_fail, j->wl,
                             &j->judge) != CLI_EXIT_OK)
            rc = -1;
        cli_capture_end();
    }
    if (rc != 0) {
        job_free(j);
        return pv_buf_ok(msg) == 0 ? PV_SERVE_BAD_REQUEST : PV_SERVE_INTERNAL;
    }
    *out = j;
    return 200;
}

void cli_serve__cancel(void *arg, void *job)
{
    struct job *j = job;
    (void)arg;
    pthread_mutex_lock(&j->mu);
    j->cancelled = true;
    if (j->run)
        pv_run_stop(j->run);
    pthread_mutex_unlock(&j->mu);
}

void cli_serve__free_job(void *arg, void *job)
{
    (void)arg;
    job_free(job);
}

/* ---- execution ---------------------------------------------------------- */

static bool is_cancelled(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    bool c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

/* libuv-free: the level's done callback wakes the job's thread. */
static void on_level_done(void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Waits for the level's end or timeout_ms. @return whether it is done. */
static bool wait_done(struct job *j, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)timeout_ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT)
            break;
    bool d = j->done;
    pthread_mutex_unlock(&j->mu);
    return d;
}

/* What execute keeps between levels. */
struct exec {
    struct job *j;
    const struct pv_serve_sink *sink;
    int64_t seq;                /* the next point's number over the whole run */
    uint64_t tl_seq;            /* the level's timeline cursor */
    struct pv_run_result names; /* the point writer's view: rate and queries */
    struct pv_query_result *qr;
};

/* Sends the level's finished points. */
static void drain_points(struct exec *x, pv_run *run, int level)
{
    struct pv_tl_point p;
    memset(&p, 0, sizeof(p));
    while (pv_run_timeline_next(run, &x->tl_seq, &p) == 1) {
        pv_buf b = PV_BUF_INIT;
        x->names.timeline.nqueries = x->names.nqueries;
        pv_buf_printf(&b, "{\"concurrency\":%d,", level);
        size_t at = b.len;
        if (pv_report_timeline_point(&x->names, &p, &b) == 0 && b.len > at + 1) {
            /* "{"concurrency":N," + the point without its '{' */
            memmove(b.data + at, b.data + at + 1, b.len - at - 1);
            b.len--;
            b.data[b.len] = '\0';
            x->sink->point(x->sink->ctx, x->seq++, b.data);
        }
        pv_buf_fini(&b);
        pv_tl_point_fini(&p, x->names.nqueries);
        memset(&p, 0, sizeof(p));
    }
}

static void send_progress(struct exec *x, pv_run *run, int level)
{
    struct pv_progress p;
    pv_run_progress(run, &p);
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b,
                  "{\"concurrency\":%d,\"done\":%" PRIu64 ",\"failed\":%" PRIu64
                  ",\"total\":%" PRIu64 ",\"elapsed_s\":%.3f,\"connecting\":%s,"
                  "\"warming_up\":%s,\"in_flight\":%" PRIu64 ",\"pool_open\":%" PRIu64
                  ",\"pool_in_use\":%" PRIu64 ",\"pool_waiting\":%" PRIu64 "}",
                  level, p.done, p.failed, p.total, p.elapsed_s, p.connecting ? "true" : "false",
                  p.warming_up ? "true" : "false", p.in_flight, p.pool_open, p.pool_in_use,
                  p.pool_waiting);
    if (pv_buf_ok(&b) == 0)
        x->sink->progress(x->sink->ctx, b.data);
    pv_buf_fini(&b);
}

/* Runs one level to its end; the run is left for the caller. @return 0 or an error. */
static int run_level(struct exec *x, pv_run *run, int level, pv_err *err)
{
    struct job *j = x->j;
    pthread_mutex_lock(&j->mu);
    j->done = false;
    j->run = run;
    bool stop = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    x->tl_seq = 0;
    int rc = pv_run_start(run, err);
    if (rc != 0)
        return rc;
    if (stop)
        pv_run_stop(run);
    int ticks = 0;
    while (!wait_done(j, 250)) {
        cli_judge_tick(j->judge, run);
        drain_points(x, run, level);
        if (++ticks % 4 == 0)
            send_progress(x, run, level);
    }
    rc = pv_run_wait(run, err);
    drain_points(x, run, level);
    pthread_mutex_lock(&j->mu);
    j->run = NULL;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* The report and the outcome's figures of the levels run. */
static void conclude(struct exec *x, const pv_target *target, const struct pv_run_result **res,
                     int n, struct pv_serve_outcome *out)
{
    struct job *j = x->j;
    bool interrupted = is_cancelled(j);
    struct pv_report rep = {
        .target = pv_target_info(target),
        .nruns = (size_t)n,
        .runs = res,
        .sweep = j->o.nlevels > 1,
        .interrupted = interrupted,
        .started_at = res[0]->started_at,
        .thresholds = cli_judge_thresholds(j->judge),
        .aborted = cli_judge_aborted(j->judge),
    };
    pv_buf b = PV_BUF_INIT;
    if (pv_report_json(&rep, &b) == 0 && pv_buf_ok(&b) == 0) {
        out->report_json = b.data;
        b.data = NULL;
    }
    pv_buf_fini(&b);
    const struct pv_run_result *last = res[n - 1];
    struct pv_latency_ms lat;
    pv_stat_latency(&last->total, &lat);
    out->has_summary = true;
    out->summary.executions = (int64_t)pv_stat_executions(&last->total);
    out->summary.failed = (int64_t)last->total.failed;
    out->summary.wall_s = last->wall_s;
    out->summary.qps = pv_report_qps(last->total.succeeded, last->wall_s);
    out->summary.avg_ms = lat.avg;
    out->summary.p95_ms = lat.p95;
    int code = CLI_EXIT_OK;
    for (int i = 0; i < n; i++)
        if (res[i]->total.failed > 0)
            code = CLI_EXIT_FAILED;
    if (!cli_judge_verdict(j->judge, res, (size_t)n, rep.sweep) || cli_judge_aborted(j->judge))
        code = CLI_EXIT_FAILED;
    out->exit_code = interrupted ? CLI_EXIT_INTERRUPTED : code;
    out->state = interrupted ? PV_HISTORY_CANCELLED : PV_HISTORY_FINISHED;
    if (!out->report_json)
        snprintf(out->message, sizeof(out->message), "cannot render the report: out of memory");
}

/* Every level, in order, until the end, a cancel or an error. @return an exit code. */
static int run_levels(struct exec *x, pv_target *target, pv_run **runs, pv_shape **shapes,
                      int *nruns, struct pv_serve_outcome *out)
{
    struct job *j = x->j;
    pv_err err = {{0}};
    for (int i = 0; i < j->o.nlevels && !is_cancelled(j); i++) {
        struct pv_run_config cfg;
        int code = cli_run_level_config(&j->o, j->o.levels[i], target, j->wl, on_level_done, j,
                                        &cfg, &shapes[i]);
        if (code != CLI_EXIT_OK)
            return code;
        int rc = pv_run_create(&cfg, &runs[*nruns], &err);
        if (rc == 0)
            rc = run_level(x, runs[(*nruns)++], cfg.concurrency, &err);
        if (rc != 0) {
            snprintf(out->message, sizeof(out->message), "%s", err.msg);
            return cli_exit_for(rc);
        }
        const struct pv_run_result *r = pv_run_result(runs[*nruns - 1]);
        if (cli_judge_aborted(j->judge) || r->aborted[0])
            break;
    }
    return CLI_EXIT_OK;
}

void cli_serve__execute(void *arg, void *job, const struct pv_serve_sink *sink,
                        struct pv_serve_outcome *out)
{
    (void)arg;
    struct job *j = job;
    struct exec x = {.j = j, .sink = sink};
    pv_run *runs[CLI_MAX_LEVELS] = {0};
    pv_shape *shapes[CLI_MAX_LEVELS] = {0};
    int nruns = 0;
    pv_err err = {{0}};
    pv_target *target = NULL;
    pv_buf msg = PV_BUF_INIT;
    cli_capture_begin(&msg);
    out->state = PV_HISTORY_FAILED;
    out->exit_code = CLI_EXIT_CONNECT;
    int rc = pv_target_create(j->dsn, j->o.connect_timeout_s, "pgvolley serve", &target, &err);
    int code = rc == 0 ? cli_sample_params(j->wl, target) : cli_exit_for(rc);
    if (rc != 0)
        snprintf(out->message, sizeof(out->message), "cannot connect to the server: %.900s",
                 err.msg);
    x.names.rate = j->o.rate;
    x.names.nqueries = pv_workload_count(j->wl);
    x.qr = calloc(x.names.nqueries ? x.names.nqueries : 1, sizeof(*x.qr));
    for (size_t i = 0; x.qr && i < x.names.nqueries; i++)
        x.qr[i].query = pv_workload_query(j->wl, i);
    x.names.queries = x.qr;
    if (code == CLI_EXIT_OK && !x.qr)
        code = CLI_EXIT_INTERNAL;
    if (code == CLI_EXIT_OK)
        code = run_levels(&x, target, runs, shapes, &nruns, out);
    const struct pv_run_result *res[CLI_MAX_LEVELS];
    int nres = 0;
    for (int i = 0; i < nruns; i++)
        if (pv_run_result(runs[i]))
            res[nres++] = pv_run_result(runs[i]);
    if (code == CLI_EXIT_OK && nres > 0) {
        conclude(&x, target, res, nres, out);
    } else if (code == CLI_EXIT_OK) { /* cancelled before the first level */
        out->state = PV_HISTORY_CANCELLED;
        out->exit_code = CLI_EXIT_INTERRUPTED;
    } else {
        out->exit_code = code;
        if (!out->message[0])
            snprintf(out->message, sizeof(out->message), "%s", pv_buf_str(&msg));
    }
    cli_capture_end();
    pv_buf_fini(&msg);
    for (int i = 0; i < nruns; i++)
        pv_run_destroy(runs[i]);
    for (int i = 0; i < CLI_MAX_LEVELS; i++)
        pv_shape_destroy(shapes[i]);
    free(x.qr);
    pv_target_destroy(target);
}

/* ---- POST /api/preview, GET /api/workload-files ------------------------- */

static json_t *query_preview(const struct pv_query *q)
{
    json_t *sc = json_array();
    for (size_t i = 0; sc && i < q->nscenarios; i++) {
        const struct pv_scenario *s = &q->scenarios[i];
        json_t *params = s->source ? json_null() : json_loads(s->params_json, 0, NULL);
        json_array_append_new(sc, json_pack("{s:s,s:I,s:b,s:o}", "name", s->name, "exec_count",
                                            (json_int_t)s->exec_count, "drawn", s->source != NULL,
                                            "params", params ? params : json_null()));
    }
    return json_pack("{s:s,s:s,s:i,s:i,s:I,s:f,s:o}", "file", q->path, "sql", q->sql, "params",
                     q->nparams, "statements", q->nsteps > 0 ? q->nsteps : 1, "exec_count",
                     (json_int_t)q->exec_count, "weight", pv_workload_weight(q), "scenarios", sc);
}

/* Each level's engine settings, as `run` would make them. */
static json_t *levels_preview(struct job *j)
{
    json_t *a = json_array();
    for (int i = 0; a && i < j->o.nlevels; i++) {
        struct pv_run_config cfg;
        pv_shape *shape = NULL;
        pv_buf msg = PV_BUF_INIT;
        cli_capture_begin(&msg);
        int code =
            cli_run_level_config(&j->o, j->o.levels[i], NULL, j->wl, NULL, NULL, &cfg, &shape);
        cli_capture_end();
        pv_buf_fini(&msg);
        if (code == CLI_EXIT_OK)
            json_array_append_new(
                a, json_pack("{s:i,s:i,s:{s:i,s:i,s:f,s:f,s:f},s:f,s:f,s:f,s:s}", "concurrency",
                             cfg.concurrency, "threads", cfg.threads, "pool", "size", cfg.pool.size,
                             "max_overflow", cfg.pool.max_overflow, "timeout_s", cfg.pool.timeout_s,
                             "recycle_s", cfg.pool.recycle_s, "connect_timeout_s",
                             cfg.pool.connect_timeout_s, "duration_s", cfg.duration_s, "warmup_s",
                             cfg.warmup_s, "rate", cfg.rate, "protocol",
                             pv_protocol_name(cfg.protocol)));
        pv_shape_destroy(shape);
    }
    return a;
}

json_t *cli_serve__preview(void *arg, void *job)
{
    (void)arg;
    struct job *j = job;
    json_t *qs = json_array();
    uint64_t total = 0;
    for (size_t i = 0; qs && i < pv_workload_count(j->wl); i++) {
        const struct pv_query *q = pv_workload_query(j->wl, i);
        for (size_t k = 0; k < q->nscenarios; k++)
            total += q->scenarios[k].exec_count;
        json_array_append_new(qs, query_preview(q));
    }
    return json_pack("{s:o,s:o,s:o,s:I}", "queries", qs, "levels", levels_preview(j), "time_based",
                     json_boolean(j->o.duration_s > 0 || j->o.stages || j->o.ramp_up_s > 0),
                     "executions_per_level", (json_int_t)total);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

json_t *cli_serve__workload_files(void *arg)
{
    const struct cli_serve *sv = arg;
    json_t *files = json_array();
    DIR *d = sv->workload_dir ? opendir(sv->workload_dir) : NULL;
    struct dirent *e;
    while (files && d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".sql") != 0)
            continue;
        int pn = snprintf(path, sizeof(path), "%s/%s", sv->workload_dir, e->d_name);
        if (pn > 0 && (size_t)pn < sizeof(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            json_array_append_new(
                files, json_pack("{s:s,s:I}", "name", e->d_name, "size", (json_int_t)st.st_size));
    }
    if (d)
        closedir(d);
    size_t n = json_array_size(files);
    json_t **v = n ? calloc(n, sizeof(*v)) : NULL;
    if (v) {
        for (size_t i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(files, i));
        qsort(v, n, sizeof(*v), by_name);
        json_array_clear(files);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(files, v[i]);
        free(v);
    }
    return json_pack("{s:b,s:o}", "workload_dir", sv->workload_dir != NULL, "files", files);
}
