/* cmd_init.c - `pgvolley init`: the sample schema and its data (suite/pv_init.h). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "suite/pv_init.h"

static const char init_help[] =
    "Usage: pgvolley init [OPTIONS]\n"
    "\n"
    "Creates pgvolley's multi-tenant sample schema in the target database and loads\n"
    "it (docs/sample-schema.md): pgvolley_tenants, pgvolley_agents,\n"
    "pgvolley_schedules, pgvolley_runs and pgvolley_events, in the current schema.\n"
    "Per unit of scale: 100 tenants, 2000 agents, 10000 schedules, 100000 runs and\n"
    "300000 events, a few tenants owning most rows, timestamps over the last 90\n"
    "days, the same rows every time (see --seed). Tables are created bare, loaded\n"
    "with COPY over -j connections in parallel, then get their primary keys,\n"
    "foreign keys and indexes, then ANALYZE. Progress and timings go to stderr.\n"
    "\n"
    "Refuses (exit 2) when any of these tables exists, unless --drop.\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN    libpq connection string or URI (default: libpq's PGHOST,\n"
    "                   PGPORT, PGUSER, PGDATABASE, ~/.pgpass ...)\n"
    "  -s, --scale N    scale factor, 1..10000 (default 1)\n"
    "      --drop       drop pgvolley's sample tables first (only those five)\n"
    "      --seed N     seed of the data, 0..2^63-1 (default 20261130, the data\n"
    "                   docs/sample-schema.md describes); the same seed and scale\n"
    "                   give the same rows\n"
    "  -j, --jobs N     connections for the load, 1..64 (default: CPUs, 2..4)\n"
    "  -q, --quiet      no progress, only errors\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit codes: 0 done, 1 the server refused a statement (SQLSTATE shown),\n"
    "2 bad usage or a table exists, 3 cannot connect, 4 internal error.\n";

enum { OPT_DROP = 256, OPT_SEED };

static const struct option init_options[] = {
    {"dsn", required_argument, NULL, 'd'},  {"scale", required_argument, NULL, 's'},
    {"drop", no_argument, NULL, OPT_DROP},  {"seed", required_argument, NULL, OPT_SEED},
    {"jobs", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
};

static const char *const step_names[] = {
    [PV_INIT_STEP_CONNECTED] = "connected",
    [PV_INIT_STEP_DROPPED] = "dropped the old tables",
    [PV_INIT_STEP_CREATED] = "created the tables",
    [PV_INIT_STEP_KEYS] = "primary keys",
    [PV_INIT_STEP_INDEXES] = "foreign keys and indexes",
    [PV_INIT_STEP_ANALYZE] = "analyze",
};

static void on_step(void *ud, const struct pv_init_step *s)
{
    (void)ud;
    if (s->kind == PV_INIT_STEP_TABLE) {
        double rate = s->seconds > 0 ? (double)s->rows / s->seconds : 0;
        fprintf(stderr, "  %-20s %10lld rows %8.2f s %12.0f rows/s\n", s->name, (long long)s->rows,
                s->seconds, rate);
    } else {
        fprintf(stderr, "  %-31s %8.2f s\n", step_names[s->kind], s->seconds);
    }
}

static int default_jobs(void)
{
    return PV_MAX(2, PV_MIN(4, cli_ncpu()));
}

int cmd_init(int argc, char **argv)
{
    struct pv_init_config cfg = {.scale = 1, .jobs = default_jobs(), .seed = PV_INIT_SEED};
    bool quiet = false;
    long v;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":d:s:j:qh", init_options, NULL)) != -1) {
        switch (ch) {
        case 'd': cfg.conninfo = optarg; break;
        case 's':
            if (cli_parse_int(optarg, 1, PV_INIT_SCALE_MAX, &v) != 0)
                return cli_usage_error("init", "-s must be an integer 1..%d, not '%s'",
                                       PV_INIT_SCALE_MAX, optarg);
            cfg.scale = (int)v;
            break;
        case 'j':
            if (cli_parse_int(optarg, 1, PV_INIT_JOBS_MAX, &v) != 0)
                return cli_usage_error("init", "-j must be an integer 1..%d, not '%s'",
                                       PV_INIT_JOBS_MAX, optarg);
            cfg.jobs = (int)v;
            break;
        case OPT_DROP: cfg.drop = true; break;
        case OPT_SEED:
            if (cli_parse_int(optarg, 0, INT64_MAX, &v) != 0)
                return cli_usage_error("init", "--seed must be an integer 0..%lld, not '%s'",
                                       (long long)INT64_MAX, optarg);
            cfg.seed = (uint64_t)v;
            break;
        case 'q': quiet = true; break;
        case 'h': fputs(init_help, stdout); return CLI_EXIT_OK;
        case ':': return cli_usage_error("init", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("init", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (!quiet) {
        cfg.on_step = on_step;
        fprintf(stderr, "pgvolley init: scale %d, %d connections, seed %llu\n", cfg.scale, cfg.jobs,
                (unsigned long long)cfg.seed);
    }
    struct pv_init_result res;
    pv_err err = {{0}};
    int rc = pv_init_run(&cfg, &res, &err);
    if (rc == VOLLEY_EIO && res.sqlstate[0]) {
        cli_error("init: %s", err.msg);
        return CLI_EXIT_FAILED;
    }
    if (rc == VOLLEY_ECONNECT) {
        cli_error("init: cannot connect: %s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    if (rc != 0) {
        cli_error("init: %s", err.msg);
        return cli_exit_for(rc);
    }
    if (!quiet) {
        double load_rate = res.load_seconds > 0 ? (double)res.total_rows / res.load_seconds : 0;
        fprintf(stderr, "  %-20s %10lld rows %8.2f s %12.0f rows/s\n", "load (all tables)",
                (long long)res.total_rows, res.load_seconds, load_rate);
        fprintf(stderr, "done in %.2f s\n", res.total_seconds);
    }
    return CLI_EXIT_OK;
}
