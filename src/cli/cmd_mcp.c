/*
 * cmd_mcp.c - `pgvolley mcp`: serve datasets to LLM clients over MCP, on
 * stdio or Streamable HTTP, read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "mcp/pv_mcp.h"
#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"

static const char mcp_help[] =
    "Usage: pgvolley mcp [--datasets FILE | -d DSN] [--http ADDR:PORT] [OPTIONS]\n"
    "\n"
    "Serves PostgreSQL datasets to LLM clients over the Model Context Protocol,\n"
    "read-only: every query is checked by PostgreSQL's own parser (one SELECT-like\n"
    "statement only), runs alone in a READ ONLY transaction that is rolled back,\n"
    "with the dataset's statement timeout and row limit. Superuser roles are refused.\n"
    "\n"
    "Datasets:\n"
    "      --datasets FILE      the datasets file (INI: [name] dsn=, description=,\n"
    "                           max_rows=, statement_timeout_ms=, max_concurrency=,\n"
    "                           pool_min=, pool_max=, idle_lifetime_s=,\n"
    "                           connect_timeout_s=, max_bytes=, allow_schemas=,\n"
    "                           allow_tables=, allow_tools=); SIGHUP reloads it\n"
    "                           without ending sessions (a bad file is logged and\n"
    "                           the datasets in use are kept)\n"
    "  -d, --dsn DSN            one dataset called \"default\" with this libpq\n"
    "                           connection string or URI (without either: libpq's\n"
    "                           PGHOST, PGPORT, PGUSER, PGDATABASE ... defaults)\n"
    "\n"
    "Transport:\n"
    "  (default)                stdio: newline-delimited JSON-RPC on stdin/stdout,\n"
    "                           logs on stderr; ends at end of input\n"
    "      --http ADDR:PORT     Streamable HTTP on http://ADDR:PORT/mcp (ADDR\n"
    "                           defaults to 127.0.0.1; [::1]:PORT for IPv6; PORT 0\n"
    "                           picks a free port); ends on SIGINT/SIGTERM\n"
    "      --token-file FILE    (HTTP) require \"Authorization: Bearer TOKEN\" with\n"
    "                           the token read from FILE (env PGVOLLEY_MCP_TOKEN\n"
    "                           sets it too); recommended beyond loopback\n"
    "      --http-max-connections N\n"
    "                           (HTTP) TCP connections at once (default 64); over\n"
    "                           it the oldest connection that has not sent a\n"
    "                           complete request is closed, or, when all are busy,\n"
    "                           the new one gets 503\n"
    "      --http-max-per-address N\n"
    "                           (HTTP) connections from one client address (default:\n"
    "                           the total on loopback, else a quarter of it)\n"
    "      --http-timeout SEC   (HTTP) a request must arrive (headers and body)\n"
    "                           within SEC of connecting or of the previous answer,\n"
    "                           and a connection silent for SEC is closed (default 10)\n"
    "      --session-idle SEC   (HTTP) end a session unused for SEC (default 900);\n"
    "                           with 1024 sessions open, a new one ends the least\n"
    "                           recently used idle session\n"
    "\n"
    "Limits and audit (see docs/mcp-limits.md):\n"
    "      --rate-limit-session RATE\n"
    "                           tool calls per session: N/s, N/min or N/h (N alone:\n"
    "                           per minute); over it a tool error says when to\n"
    "                           retry (HTTP: 429 with Retry-After). Default: none\n"
    "      --rate-limit-address RATE\n"
    "                           (HTTP) tool calls per client address\n"
    "      --rate-limit-global RATE\n"
    "                           tool calls of all clients together (also holds\n"
    "                           2026-07-28 requests, which have no session)\n"
    "      --cursor-ttl SEC     a truncated result's cursor (fetch_next_page) lives\n"
    "                           SEC seconds (default 300)\n"
    "      --audit-log FILE     append one JSON line per tool call to FILE (time,\n"
    "                           session, client, tool, dataset, SQL and its\n"
    "                           fingerprint, rows, duration, outcome)\n"
    "\n"
    "Options:\n"
    "      --allow-superuser    allow a superuser role (refused by default)\n"
    "      --schema-ttl SEC     cache schemas for SEC seconds (default 300)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Tools (all read-only):\n"
    "  list_available_datasets  the datasets: names, descriptions, row limits\n"
    "  get_dataset_schema       tables, columns, types, keys, row estimates\n"
    "  query_dataset            one read-only query\n"
    "  get_dataset_sample       the first rows of a table (1..100, default 5)\n"
    "  execute_multi_query      up to 30 queries in parallel, one Markdown report\n"
    "                           plus structured JSON; progress notifications\n"
    "  get_context              level 0 guide, 1 datasets, 2 tables, 3 full schema\n"
    "\n"
    "HTTP security: Origin must be a loopback origin when present (else 403);\n"
    "bodies over 1 MiB get 413; sessions carry a random Mcp-Session-Id.\n"
    "\n"
    "Exit codes: 0 clean shutdown, 2 bad usage or input, 3 cannot bind or listen,\n"
    "4 internal error.\n";

#define HTTP_TIMEOUT_MAX_S 3600
#define SESSION_IDLE_MAX_S (86400 * 7)

enum {
    OPT_DATASETS = 256,
    OPT_HTTP,
    OPT_TOKEN_FILE,
    OPT_ALLOW_SUPERUSER,
    OPT_SCHEMA_TTL,
    OPT_HTTP_MAX_CONN,
    OPT_HTTP_MAX_PER_ADDR,
    OPT_HTTP_TIMEOUT,
    OPT_SESSION_IDLE,
    OPT_RATE_SESSION,
    OPT_RATE_ADDRESS,
    OPT_RATE_GLOBAL,
    OPT_CURSOR_TTL,
    OPT_AUDIT_LOG,
};

static const struct option mcp_options[] = {
    {"allow-superuser", no_argument, NULL, OPT_ALLOW_SUPERUSER},
    {"audit-log", required_argument, NULL, OPT_AUDIT_LOG},
    {"cursor-ttl", required_argument, NULL, OPT_CURSOR_TTL},
    {"rate-limit-address", required_argument, NULL, OPT_RATE_ADDRESS},
    {"rate-limit-global", required_argument, NULL, OPT_RATE_GLOBAL},
    {"rate-limit-session", required_argument, NULL, OPT_RATE_SESSION},
    {"datasets", required_argument, NULL, OPT_DATASETS},
    {"dsn", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {"http", required_argument, NULL, OPT_HTTP},
    {"http-max-connections", required_argument, NULL, OPT_HTTP_MAX_CONN},
    {"http-max-per-address", required_argument, NULL, OPT_HTTP_MAX_PER_ADDR},
    {"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
    {"schema-ttl", required_argument, NULL, OPT_SCHEMA_TTL},
    {"session-idle", required_argument, NULL, OPT_SESSION_IDLE},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {NULL, 0, NULL, 0},
};

/* One of the HTTP limits' options into hopts. @return 0, or -1 (message printed). */
static int parse_http_option(int ch, const char *arg, struct pv_mcp_http_opts *hopts)
{
    long n;
    switch (ch) {
    case OPT_HTTP_MAX_CONN:
    case OPT_HTTP_MAX_PER_ADDR:
        if (cli_parse_int(arg, 1, PV_MCP_HTTP_MAX_CONNECTIONS, &n) != 0) {
            cli_usage_error("mcp", "%s takes 1..%d connections, not '%s'",
                            ch == OPT_HTTP_MAX_CONN ? "--http-max-connections"
                                                    : "--http-max-per-address",
                            PV_MCP_HTTP_MAX_CONNECTIONS, arg);
            return -1;
        }
        *(ch == OPT_HTTP_MAX_CONN ? &hopts->max_connections : &hopts->max_per_address) = (int)n;
        return 0;
    case OPT_HTTP_TIMEOUT:
        if (cli_parse_int(arg, 1, HTTP_TIMEOUT_MAX_S, &n) != 0) {
            cli_usage_error("mcp", "--http-timeout takes 1..%d seconds, not '%s'",
                            HTTP_TIMEOUT_MAX_S, arg);
            return -1;
        }
        hopts->timeout_s = (int)n;
        return 0;
    default: /* OPT_SESSION_IDLE */
        if (cli_parse_seconds(arg, 1, SESSION_IDLE_MAX_S, &hopts->session_idle_s) != 0) {
            cli_usage_error("mcp", "--session-idle takes 1..%d seconds, not '%s'",
                            SESSION_IDLE_MAX_S, arg);
            return -1;
        }
        return 0;
    }
}

/* "N", "N/s", "N/min", "N/h" (N: 1..1000000) -> a rate. @return 0 or -1. */
static int parse_rate(const char *arg, struct pv_mcp_rate *r)
{
    const char *slash = strchr(arg, '/');
    char num[16];
    size_t n = slash ? (size_t)(slash - arg) : strlen(arg);
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, arg, n);
    num[n] = '\0';
    long v;
    if (cli_parse_int(num, 1, 1000000, &v) != 0)
        return -1;
    const char *unit = slash ? slash + 1 : "min";
    if (strcmp(unit, "s") == 0)
        r->period_s = 1;
    else if (strcmp(unit, "min") == 0)
        r->period_s = 60;
    else if (strcmp(unit, "h") == 0)
        r->period_s = 3600;
    else
        return -1;
    r->n = (int)v;
    return 0;
}

/* One of the limits' options into mopts. @return 0, or -1 (message printed). */
static int parse_limit_option(int ch, const char *arg, struct pv_mcp_opts *mopts)
{
    if (ch == OPT_CURSOR_TTL) {
        if (cli_parse_seconds(arg, 1, 86400, &mopts->cursor_ttl_s) != 0) {
            cli_usage_error("mcp", "--cursor-ttl takes 1..86400 seconds, not '%s'", arg);
            return -1;
        }
        return 0;
    }
    struct pv_mcp_rate *r = ch == OPT_RATE_SESSION   ? &mopts->rate_session
                            : ch == OPT_RATE_ADDRESS ? &mopts->rate_address
                                                     : &mopts->rate_global;
    if (parse_rate(arg, r) != 0) {
        cli_usage_error("mcp", "a rate limit is N/s, N/min or N/h (N from 1 to 1000000), not '%s'",
                        arg);
        return -1;
    }
    return 0;
}

/* "ADDR:PORT", "[v6]:PORT", ":PORT" or "PORT" -> host (malloc'ed) and port. */
static int parse_listen(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *port_s = colon ? colon + 1 : s;
    long p;
    if (cli_parse_int(port_s, 0, 65535, &p) != 0)
        return -1;
    *port = (int)p;
    if (!colon || colon == s) {
        *host = strdup("127.0.0.1");
        return *host ? 0 : -1;
    }
    const char *h;
    size_t len;
    if (cli_listen_host(s, colon, &h, &len) != 0)
        return -1;
    *host = strndup(h, len);
    return *host ? 0 : -1;
}

/* The token from FILE: its first line, surrounding blanks removed. */
static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n <= 0) {
        free(line);
        cli_error("%s: the token file is empty", path);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
        line[--n] = '\0';
    size_t skip = strspn(line, " \t");
    memmove(line, line + skip, (size_t)n - skip + 1);
    if (!line[0]) {
        free(line);
        cli_error("%s: the token file is empty", path);
        return NULL;
    }
    return line;
}

static bool is_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0;
}

/*
 * Reload of the datasets file on SIGHUP: SIGHUP is blocked in every thread
 * and taken by this one (sigwait). A file that does not load (or whose
 * engine cannot start) keeps the datasets in use, and says why on stderr.
 */
struct reloader {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    const char *path; /* NULL: --dsn, nothing to reload */
    const struct pv_batch_opts *bopts;
    pv_mcp *m;
    pv_datasets *ds; /* in use: freed by cmd_mcp at the end */
    pv_batch_engine *engine;
};

static void reload_once(struct reloader *r)
{
    if (!r->path) {
        fprintf(stderr, "pgvolley mcp: SIGHUP: nothing to reload (no --datasets file)\n");
        return;
    }
    pv_err err = {{0}};
    pv_datasets *ds = NULL;
    pv_batch_engine *engine = NULL;
    int rc = pv_datasets_load(r->path, &ds, &err);
    if (rc == 0)
        rc = pv_batch_engine_create(ds, r->bopts, &engine, &err);
    if (rc == 0)
        rc = pv_mcp_reload(r->m, ds, engine);
    if (rc != 0) {
        fprintf(stderr, "pgvolley mcp: reload of %s failed, keeping the datasets in use: %s\n",
                r->path, err.msg[0] ? err.msg : volley_strerror(rc));
        pv_batch_engine_destroy(engine);
        pv_datasets_destroy(ds);
        return;
    }
    pv_batch_engine_destroy(r->engine);
    pv_datasets_destroy(r->ds);
    r->ds = ds;
    r->engine = engine;
    fprintf(stderr, "pgvolley mcp: reloaded %s: %zu dataset%s\n", r->path, pv_datasets_count(ds),
            pv_datasets_count(ds) == 1 ? "" : "s");
}

static void *reload_main(void *arg)
{
    struct reloader *r = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (atomic_load(&r->stop))
            return NULL;
        reload_once(r);
    }
}

static void reload_stop(struct reloader *r)
{
    if (!r->started)
        return;
    atomic_store(&r->stop, true);
    pthread_kill(r->thread, SIGHUP);
    pthread_join(r->thread, NULL);
    r->started = false;
}

/* Serves m over Streamable HTTP on host:port until a signal. @return an exit code. */
static int serve_http(pv_mcp *m, struct pv_mcp_http_opts *hopts)
{
    pv_err err = {{0}};
    const char *host = hopts->host, *token = hopts->token;
    pv_mcp_http *h = NULL;
    int rc = pv_mcp_http_start(m, hopts, &h, &err);
    if (rc != 0) {
        cli_error("%s", err.msg[0] ? err.msg : volley_strerror(rc));
        return rc == VOLLEY_EINVAL ? CLI_EXIT_USAGE
               : rc == VOLLEY_EIO  ? CLI_EXIT_CONNECT
                                   : CLI_EXIT_INTERNAL;
    }
    bool v6 = strchr(host, ':') != NULL;
    if (!token && !is_loopback(host))
        fprintf(stderr, "pgvolley mcp: warning: listening beyond loopback without a token "
                        "(see --token-file)\n");
    fprintf(stderr, "pgvolley mcp: listening on http://%s%s%s:%d/mcp\n", v6 ? "[" : "", host,
            v6 ? "]" : "", pv_mcp_http_port(h));
    while (!cli_signalled) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "pgvolley mcp: shutting down\n");
    pv_mcp_http_stop(h);
    return CLI_EXIT_OK;
}

/* What the command line says. */
struct mcp_args {
    const char *datasets_path, *dsn, *http, *token_file, *audit_path;
    struct pv_batch_opts bopts;
    struct pv_mcp_opts mopts;
    struct pv_mcp_http_opts hopts;
};

/* Reads the options into a. @return -1 to go on, else the exit code (help or a usage error). */
static int parse_args(int argc, char **argv, struct mcp_args *a)
{
    bool http_only = false; /* an HTTP option was given */
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":d:h", mcp_options, NULL)) != -1) {
        switch (ch) {
        case 'h': fputs(mcp_help, stdout); return CLI_EXIT_OK;
        case 'd': a->dsn = optarg; break;
        case OPT_DATASETS: a->datasets_path = optarg; break;
        case OPT_HTTP: a->http = optarg; break;
        case OPT_TOKEN_FILE: a->token_file = optarg; break;
        case OPT_ALLOW_SUPERUSER: a->bopts.allow_superuser = true; break;
        case OPT_HTTP_MAX_CONN:
        case OPT_HTTP_MAX_PER_ADDR:
        case OPT_HTTP_TIMEOUT:
        case OPT_SESSION_IDLE:
            if (parse_http_option(ch, optarg, &a->hopts) != 0)
                return CLI_EXIT_USAGE;
            http_only = true;
            break;
        case OPT_RATE_SESSION:
        case OPT_RATE_ADDRESS:
        case OPT_RATE_GLOBAL:
        case OPT_CURSOR_TTL:
            if (parse_limit_option(ch, optarg, &a->mopts) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_AUDIT_LOG: a->audit_path = optarg; break;
        case OPT_SCHEMA_TTL:
            if (cli_parse_seconds(optarg, 1, 86400 * 7, &a->mopts.schema_ttl_s) != 0)
                return cli_usage_error("mcp", "--schema-ttl takes 1..604800 seconds, not '%s'",
                                       optarg);
            break;
        case ':': return cli_usage_error("mcp", "option '%s' needs an argument", argv[optind - 1]);
        default: return cli_usage_error("mcp", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("mcp", "unexpected argument '%s'", argv[optind]);
    if (a->datasets_path && a->dsn)
        return cli_usage_error("mcp", "give either --datasets or --dsn, not both");
    if (http_only && !a->http)
        return cli_usage_error("mcp", "--http-max-connections, --http-max-per-address, "
                                      "--http-timeout and --session-idle need --http");
    return -1;
}

int cmd_mcp(int argc, char **argv)
{
    struct mcp_args args = {0};
    int parsed = parse_args(argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    const char *datasets_path = args.datasets_path, *dsn = args.dsn, *http = args.http;
    const char *token_file = args.token_file, *audit_path = args.audit_path;
    struct pv_batch_opts bopts = args.bopts;
    struct pv_mcp_opts mopts = args.mopts;
    struct pv_mcp_http_opts hopts = args.hopts;

    char *host = NULL;
    if (http && parse_listen(http, &host, &hopts.port) != 0)
        return cli_usage_error("mcp", "--http takes ADDR:PORT (e.g. 127.0.0.1:8080), not '%s'",
                               http);
    char *token = NULL;
    const char *env_token = getenv("PGVOLLEY_MCP_TOKEN");
    if (token_file) {
        if (!http) {
            free(host);
            return cli_usage_error("mcp", "--token-file needs --http");
        }
        token = read_token(token_file);
        if (!token) {
            free(host);
            return CLI_EXIT_USAGE;
        }
    } else if (http && env_token && *env_token) {
        token = strdup(env_token);
    }

    /* SIGHUP reloads (reload_main takes it); blocked before any thread starts. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    struct reloader rl = {0};
    atomic_init(&rl.stop, false);

    int code = CLI_EXIT_OK;
    pv_err err = {{0}};
    pv_datasets *ds = NULL;
    pv_batch_engine *engine = NULL;
    pv_mcp *m = NULL;
    int audit_fd = -1;
    int rc = datasets_path ? pv_datasets_load(datasets_path, &ds, &err)
                           : pv_datasets_from_dsn(dsn ? dsn : "", &ds, &err);
    if (rc != 0) {
        cli_error("%s", rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg);
        code = rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
        goto out;
    }
    rc = pv_batch_engine_create(ds, &bopts, &engine, &err);
    if (rc != 0) {
        /* VOLLEY_EINVAL: a dsn that does not parse; err names the dataset, we the file */
        cli_error("%s: %s",
                  rc == VOLLEY_EINVAL && datasets_path ? datasets_path : "cannot start the engine",
                  err.msg[0] ? err.msg : volley_strerror(rc));
        code = rc == VOLLEY_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL;
        goto out;
    }
    if (audit_path) {
        audit_fd = open(audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (audit_fd < 0) {
            cli_error("cannot open the audit log %s: %s", audit_path, strerror(errno));
            code = CLI_EXIT_USAGE;
            goto out;
        }
        mopts.audit_fd = audit_fd;
    }
    rc = pv_mcp_create(ds, engine, &mopts, &m);
    if (rc != 0) {
        cli_error("cannot start the MCP server: %s", volley_strerror(rc));
        code = CLI_EXIT_INTERNAL;
        goto out;
    }
    cli_signals_install();
    rl.path = datasets_path;
    rl.bopts = &bopts;
    rl.m = m;
    rl.ds = ds;
    rl.engine = engine;
    rl.started = pthread_create(&rl.thread, NULL, reload_main, &rl) == 0;

    if (!http) {
        fprintf(stderr, "pgvolley mcp: serving %zu dataset%s on stdio\n", pv_datasets_count(ds),
                pv_datasets_count(ds) == 1 ? "" : "s");
        rc = pv_mcp_serve_stdio(m, 0, 1, &cli_signalled, &err);
        if (rc != 0) {
            cli_error("%s", err.msg[0] ? err.msg : volley_strerror(rc));
            code = cli_exit_for(rc);
        }
        goto out;
    }

    hopts.host = host;
    hopts.token = token;
    code = serve_http(m, &hopts);

out:
    reload_stop(&rl);
    if (rl.ds) { /* after a reload, the ones in use */
        ds = rl.ds;
        engine = rl.engine;
    }
    pv_mcp_destroy(m);
    if (audit_fd >= 0)
        close(audit_fd);
    pv_batch_engine_destroy(engine);
    pv_datasets_destroy(ds);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    free(host);
    return code;
}
