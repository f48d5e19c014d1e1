/* cmd_serve.c - `pgvolley serve`: the HTTP API (and, later, the dashboard)
   over a run history (docs/serve.md). The server is web/pv_serve.h; the
   runs are checked and executed by cli_serve_runner.c with run's code. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_serve.h"
#include "common/pv_buf.h"
#include "pgtmp/pv_pgtmp.h"
#include "suite/pv_init.h"
#include "web/pv_history.h"

#define DEFAULT_LISTEN     "127.0.0.1:8765"
#define EPHEMERAL_MAX_CONC PV_SERVE_MAX_CONCURRENCY
/* the run's connections, init's and a few to look at the server with */
#define EPHEMERAL_MAX_CONNECTIONS (EPHEMERAL_MAX_CONC + 10)

static const char usage[] =
    "Usage: pgvolley serve [OPTIONS]\n"
    "\n"
    "Serve the HTTP API of pgvolley (docs/serve.md; the OpenAPI document is at\n"
    "/api/openapi.json): create runs on configured targets, follow them live\n"
    "(server-sent events), cancel them, keep their history, compare them. The\n"
    "first line on stdout is the server's address.\n"
    "\n"
    "Targets (at least one of):\n"
    "      --targets FILE       the targets, in the datasets file format of multi and\n"
    "                           mcp (INI: [name], dsn, description, max_concurrency);\n"
    "                           DSNs never leave the server\n"
    "      --ephemeral          a throwaway PostgreSQL loaded with `pgvolley init -s 1`,\n"
    "                           as the target 'ephemeral'\n"
    "\n"
    "Options:\n"
    "      --listen ADDR:PORT   where to listen (default " DEFAULT_LISTEN "; port 0: any\n"
    "                           free one); beyond loopback --token-file is required\n"
    "      --token-file FILE    a token (its first line): API requests send\n"
    "                           'Authorization: Bearer TOKEN', browsers sign in with\n"
    "                           it once (POST /api/login: a session cookie)\n"
    "      --state-dir DIR      where the history (history.db) lives (default\n"
    "                           $XDG_STATE_HOME/pgvolley or ~/.local/state/pgvolley)\n"
    "      --history-dsn DSN    keep the history in this PostgreSQL database instead\n"
    "                           (schema pgvolley_history; servers may share it); not\n"
    "                           with --state-dir. Keep the password in ~/.pgpass or\n"
    "                           PGPASSFILE, not in DSN (argv is visible to others)\n"
    "      --workload-dir DIR   workload files requests may name (workload_files)\n"
    "      --max-runs N         runs at once (default 1); the others wait queued\n"
    "      --max-body BYTES     the largest request body (default 4194304)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Stops on SIGINT or SIGTERM: queued and running runs are marked interrupted.\n";

struct serve_opts {
    const char *listen, *targets, *token_file, *state_dir, *workload_dir, *history_dsn;
    bool ephemeral;
    long max_runs, max_body;
};

enum {
    OPT_LISTEN = 256,
    OPT_TARGETS,
    OPT_EPHEMERAL,
    OPT_TOKEN_FILE,
    OPT_STATE_DIR,
    OPT_WORKLOAD_DIR,
    OPT_MAX_RUNS,
    OPT_MAX_BODY,
    OPT_HISTORY_DSN,
};

static const struct option serve_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"targets", required_argument, NULL, OPT_TARGETS},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"workload-dir", required_argument, NULL, OPT_WORKLOAD_DIR},
    {"max-runs", required_argument, NULL, OPT_MAX_RUNS},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"history-dsn", required_argument, NULL, OPT_HISTORY_DSN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* @return CLI_EXIT_OK, CLI_RUN_HELP_SHOWN-like -1 for --help, or a usage error. */
static int parse(int argc, char **argv, struct serve_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->listen = DEFAULT_LISTEN;
    o->max_runs = 1;
    o->max_body = 4L << 20;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", serve_options, NULL)) != -1) {
        switch (ch) {
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_TARGETS: o->targets = optarg; break;
        case OPT_EPHEMERAL: o->ephemeral = true; break;
        case OPT_TOKEN_FILE: o->token_file = optarg; break;
        case OPT_STATE_DIR: o->state_dir = optarg; break;
        case OPT_WORKLOAD_DIR: o->workload_dir = optarg; break;
        case OPT_HISTORY_DSN: o->history_dsn = optarg; break;
        case OPT_MAX_RUNS:
            if (cli_parse_int(optarg, 1, 64, &o->max_runs) != 0)
                return cli_usage_error("serve", "--max-runs takes 1 to 64, not '%s'", optarg);
            break;
        case OPT_MAX_BODY:
            if (cli_parse_int(optarg, 1024, 1L << 30, &o->max_body) != 0)
                return cli_usage_error("serve", "--max-body takes 1024 to 1073741824, not '%s'",
                                       optarg);
            break;
        case 'h': fputs(usage, stdout); return -1;
        case ':': return cli_usage_error("serve", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!o->targets && !o->ephemeral)
        return cli_usage_error("serve", "no target: give --targets FILE or --ephemeral");
    if (o->history_dsn && o->state_dir)
        return cli_usage_error("serve", "--history-dsn and --state-dir: the history is kept in "
                                        "PostgreSQL or in the state directory, not both");
    return CLI_EXIT_OK;
}

/* host and port of ADDR:PORT (host copied into buf). @return 0 or a usage error. */
static int split_listen(const char *s, char *buf, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *h;
    size_t hl;
    long p;
    if (!colon || cli_listen_host(s, colon, &h, &hl) != 0 || hl == 0 || hl >= cap ||
        cli_parse_int(colon + 1, 0, 65535, &p) != 0)
        return cli_usage_error("serve",
                               "--listen takes ADDR:PORT (127.0.0.1:8765, [::1]:0), "
                               "not '%s'",
                               s);
    memcpy(buf, h, hl);
    buf[hl] = '\0';
    *port = (int)p;
    return CLI_EXIT_OK;
}

/* The token: the file's first line, without surrounding blanks. */
static int read_token(const char *path, char **out)
{
    pv_buf b = PV_BUF_INIT;
    pv_err err = {{0}};
    if (pv_buf_read_file(&b, path, &err) != 0) {
        cli_error("--token-file: %s", err.msg);
        pv_buf_fini(&b);
        return CLI_EXIT_USAGE;
    }
    char *t = b.data ? b.data : "";
    t[strcspn(t, "\r\n")] = '\0';
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    if (n < 16) {
        cli_error("--token-file %s: the token (its first line) must have 16 characters or more",
                  path);
        pv_buf_fini(&b);
        return CLI_EXIT_USAGE;
    }
    *out = strdup(t);
    pv_buf_fini(&b);
    return *out ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* mkdir -p with mode 0700 for what it creates. @return 0 or -1 (errno). */
static int make_dirs(const char *path)
{
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "%s", path);
    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* The state directory (created) in buf. @return an exit code. */
static int state_dir(const struct serve_opts *o, char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (o->state_dir)
        snprintf(buf, cap, "%s", o->state_dir);
    else if (xdg && *xdg)
        snprintf(buf, cap, "%s/pgvolley", xdg);
    else if (home && *home)
        snprintf(buf, cap, "%s/.local/state/pgvolley", home);
    else
        return cli_usage_error("serve", "no HOME nor XDG_STATE_HOME: give --state-dir");
    if (make_dirs(buf) != 0) {
        cli_error("--state-dir %s: %s", buf, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* The targets of --targets and --ephemeral. @return an exit code. */
static int load_targets(const struct serve_opts *o, struct cli_serve *sv)
{
    pv_err err = {{0}};
    if (o->targets &&
        pv_datasets_load_max(o->targets, PV_SERVE_MAX_CONCURRENCY, &sv->datasets, &err) != 0) {
        cli_error("--targets: %s", err.msg);
        return CLI_EXIT_USAGE;
    }
    size_t n = sv->datasets ? pv_datasets_count(sv->datasets) : 0;
    sv->targets = calloc(n + 1, sizeof(*sv->targets));
    if (!sv->targets)
        return CLI_EXIT_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        const struct pv_dataset *d = pv_datasets_get(sv->datasets, i);
        if (o->ephemeral && strcmp(d->name, CLI_SERVE_EPHEMERAL) == 0) {
            cli_error("--targets: the name '%s' is the --ephemeral target's", d->name);
            return CLI_EXIT_USAGE;
        }
        sv->targets[i] = (struct pv_serve_target){d->name, d->description, d->max_concurrency};
    }
    sv->ntargets = n;
    if (o->ephemeral)
        sv->targets[sv->ntargets++] = (struct pv_serve_target){
            CLI_SERVE_EPHEMERAL,
            "a throwaway PostgreSQL with the sample data of pgvolley init -s 1",
            EPHEMERAL_MAX_CONC};
    return CLI_EXIT_OK;
}

const char *cli_serve__dsn(const struct cli_serve *sv, const char *name)
{
    if (sv->ephemeral_dsn && strcmp(name, CLI_SERVE_EPHEMERAL) == 0)
        return sv->ephemeral_dsn;
    const struct pv_dataset *d = sv->datasets ? pv_datasets_find(sv->datasets, name) : NULL;
    return d ? d->dsn : NULL;
}

/* The throwaway server with init's sample data. @return an exit code. */
static int start_ephemeral(pv_pgtmp **tmp)
{
    pv_err err = {{0}};
    fputs("pgvolley serve: starting a throwaway PostgreSQL...\n", stderr);
    struct pv_pgtmp_opts po = {.max_connections = EPHEMERAL_MAX_CONNECTIONS};
    cli_pgtmp_env(&po);
    if (pv_pgtmp_start(&po, tmp, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    struct pv_init_config cfg = {.conninfo = pv_pgtmp_conninfo(*tmp),
                                 .scale = 1,
                                 .jobs = PV_MAX(2, PV_MIN(4, cli_ncpu())),
                                 .seed = PV_INIT_SEED};
    struct pv_init_result res;
    if (pv_init_run(&cfg, &res, &err) != 0) {
        cli_error("init: %s", err.msg);
        return CLI_EXIT_FAILED;
    }
    fprintf(stderr, "pgvolley serve: sample data loaded (%lld rows, %.2f s)\n",
            (long long)res.total_rows, res.total_seconds);
    return CLI_EXIT_OK;
}

/* Serves until SIGINT or SIGTERM. @return an exit code. */
static int serve(const struct serve_opts *o, struct cli_serve *sv, pv_history *h, const char *token)
{
    char host[256];
    int port = 0;
    int code = split_listen(o->listen, host, sizeof(host), &port);
    if (code != CLI_EXIT_OK)
        return code;
    struct pv_serve_runner runner = {sv,
                                     sv->targets,
                                     sv->ntargets,
                                     cli_serve__prepare,
                                     cli_serve__execute,
                                     cli_serve__cancel,
                                     cli_serve__free_job,
                                     cli_serve__preview,
                                     cli_serve__workload_files};
    struct pv_serve_opts so = {.host = host,
                               .port = port,
                               .token = token,
                               .max_body = (size_t)o->max_body,
                               .max_runs = (int)o->max_runs,
                               .history = h,
                               .runner = &runner};
    pv_serve *s = NULL;
    pv_err err = {{0}};
    int rc = pv_serve_start(&so, &s, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
        return rc == VOLLEY_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL;
    }
    bool v6 = strchr(host, ':') != NULL;
    printf("http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "", pv_serve_port(s));
    fflush(stdout);
    while (!cli_signalled) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fputs("pgvolley serve: stopping\n", stderr);
    pv_serve_stop(s);
    return CLI_EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    int code = parse(argc, argv, &o);
    if (code != CLI_EXIT_OK)
        return code < 0 ? CLI_EXIT_OK : code;
    char *token = NULL;
    char dir[4096] = "", path[4200];
    struct cli_serve sv = {.workload_dir = o.workload_dir};
    pv_history *h = NULL;
    pv_pgtmp *tmp = NULL;
    pv_err err = {{0}};
    cli_signals_install();
    if (o.token_file && (code = read_token(o.token_file, &token)) != CLI_EXIT_OK)
        goto out;
    /* the state directory holds only the history */
    if (!o.history_dsn && (code = state_dir(&o, dir, sizeof(dir))) != CLI_EXIT_OK)
        goto out;
    if ((code = load_targets(&o, &sv)) != CLI_EXIT_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/history.db", dir);
    int64_t interrupted = 0;
    if ((o.history_dsn ? pv_history_open_pg(o.history_dsn, &interrupted, &h, &err)
                       : pv_history_open(path, &interrupted, &h, &err)) != 0) {
        cli_error("%s", err.msg);
        code = CLI_EXIT_INTERNAL;
        goto out;
    }
    if (interrupted > 0)
        fprintf(stderr,
                "pgvolley serve: %lld run(s) left unfinished by the last server were "
                "marked interrupted\n",
                (long long)interrupted);
    if (o.ephemeral) {
        if ((code = start_ephemeral(&tmp)) != CLI_EXIT_OK)
            goto out;
        sv.ephemeral_dsn = pv_pgtmp_conninfo(tmp);
    }
    code = serve(&o, &sv, h, token);
out:
    pv_history_close(h);
    pv_pgtmp_stop(tmp);
    pv_datasets_destroy(sv.datasets);
    free(sv.targets);
    free(token);
    return code;
}
