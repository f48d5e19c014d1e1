/*
 * cli_run_opts.c - the options of `pgvolley run`: --help, defaults, parsing
 * and the checks of options taken together.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/cli_run.h"
#include "common/pv_common.h"

static const char run_help[] =
    "Usage: pgvolley run [OPTIONS] FILE[@WEIGHT]|DIR[@WEIGHT]...\n"
    "\n"
    "Runs annotated SQL workload files concurrently and reports latency percentiles,\n"
    "throughput and errors by SQLSTATE. A directory means its *.sql files, sorted.\n"
    "\n"
    "Workload file header comments (seed format):\n"
    "  -- PARAMETERS: [[1, \"a\"], [2, \"b\"]]   one scenario per parameter set\n"
    "  -- EXEC_COUNT: 40                      executions per scenario (default 5)\n"
    "  -- GENERATE: random(1, 1000), zipfian(1, 100, 1.1), string(8)\n"
    "                                         values drawn per execution (pgbench's\n"
    "                                         random, random_exponential, _gaussian,\n"
    "                                         _zipfian; string(n) is [A-Za-z0-9]{n})\n"
    "  -- PARAMETERS_FILE: keys.csv [(col, ...)]  a random row of a CSV file per\n"
    "                                         execution (header row; empty = NULL)\n"
    "  -- PARAMETERS_QUERY: SELECT id FROM t TABLESAMPLE SYSTEM (1)\n"
    "                                         rows sampled once before the run; a\n"
    "                                         random one per execution\n"
    "  -- WEIGHT: 3                           the file's share of a time-based run\n"
    "                                         (also FILE@3 on the command line)\n"
    "  -- TRANSACTION                         the file's statements are one\n"
    "                                         transaction (pgvolley adds BEGIN and\n"
    "                                         COMMIT); or write them between BEGIN\n"
    "                                         and COMMIT yourself\n"
    "  %s placeholders become $1..$n; values are bound, never spliced into SQL.\n"
    "  In a transaction %s count through the file and $n keep the file's numbers.\n"
    "\n"
    "Target:\n"
    "  -d, --dsn DSN            libpq connection string or URI (default: libpq's\n"
    "                           PGHOST, PGPORT, PGUSER, PGDATABASE, ~/.pgpass ...)\n"
    "      --ephemeral          start a throwaway PostgreSQL for this run\n"
    "\n"
    "Load:\n"
    "  -c, --concurrency N[,N]  executions in flight, 1..10000 (default 10); a list\n"
    "                           such as 1,5,10,50 runs a sweep, one row per level\n"
    "  -j, --threads N          worker threads, each with its own event loop\n"
    "                           (default: number of CPUs)\n"
    "  -T, --duration SEC       time-based run: scenarios round-robin for SEC seconds\n"
    "                           (default: count-based, EXEC_COUNT per scenario)\n"
    "      --warmup SEC         run SEC seconds first, left out of the statistics\n"
    "      --exec-count N       EXEC_COUNT for files that do not set one (default 5)\n"
    "      --protocol P         prepared (default), extended or simple (as pgbench -M;\n"
    "                           simple cannot bind parameters)\n"
    "      --pipeline N         send up to N queries on a connection before reading\n"
    "                           their results (libpq pipeline mode, one sync per\n"
    "                           pipeline; an error aborts the rest of its pipeline,\n"
    "                           counted as PV003); latency stays per query\n"
    "      --separate-begin     send a transaction's BEGIN on its own and wait for\n"
    "                           its result (as psql and pgbench do); by default it\n"
    "                           goes out with the first statement, one round trip\n"
    "                           for the two (as pgjdbc and Npgsql send it)\n"
    "      --rate R             the open model: start R executions per second (all\n"
    "                           threads), whatever the server's pace; -c caps what\n"
    "                           is in flight. Latency then also runs from each\n"
    "                           execution's intended start (corrected for\n"
    "                           coordinated omission), and the lag is reported\n"
    "      --arrival A          poisson (default, as pgbench -R) or uniform\n"
    "      --max-lag SEC        drop executions more than SEC late (counted as\n"
    "                           dropped, never sent; as pgbench --latency-limit)\n"
    "      --stages SPEC        ramp the target linearly between points, from the\n"
    "                           --rate (or -c) value: 30s:100,2m:100,30s:0 (rates with\n"
    "                           --rate, executions in flight without); the stages'\n"
    "                           total is the run's duration\n"
    "      --ramp-up SEC        with -T: from 0 to the target over the first SEC\n"
    "      --pin-threads        pin worker thread i to the i-th CPU the process may\n"
    "                           run on (a dedicated client machine, or client and\n"
    "                           server on one machine); default: not pinned\n"
    "\n"
    "Pool and timeouts:\n"
    "      --pool-size N        idle connections kept (default max(1, c/4))\n"
    "      --max-overflow N     connections beyond the pool size (default c)\n"
    "      --pool-timeout SEC   wait for a connection at most SEC (default 30)\n"
    "      --pool-recycle SEC   replace connections older than SEC (default 3600)\n"
    "      --command-timeout SEC  cancel a query on the server after SEC (default 30;\n"
    "                           0 = none)\n"
    "      --connect-timeout SEC  give up a connection attempt after SEC (default 30)\n"
    "      --retries N          retry an execution up to N times after a transient\n"
    "                           error (08xxx connection errors, 40001, 40P01, 57P01,\n"
    "                           57P02, 57P03), with exponential backoff and jitter\n"
    "                           (default 0)\n"
    "      --shard I/N          run shard I (0-based) of N disjoint parts of the run,\n"
    "                           for several machines (merge the reports with\n"
    "                           `pgvolley merge`): count-based runs split every\n"
    "                           scenario's executions exactly, time-based runs\n"
    "                           split -c and --rate (remainders to the first shards)\n"
    "      --start-at TIME      connect, then wait until TIME (UTC, like\n"
    "                           2026-11-30T22:00:00Z, or epoch seconds; at most 24 h\n"
    "                           away) to start the clock, so that shards start together\n"
    "      --seed N             seed of the drawn values (GENERATE, PARAMETERS_FILE,\n"
    "                           PARAMETERS_QUERY) and of --rate's arrivals,\n"
    "                           0..9223372036854775807 (default: random; the report's\n"
    "                           config.seed gives it, so that a run can be repeated)\n"
    "\n"
    "Output:\n"
    "  -f, --format F           table (default), json or markdown, on stdout\n"
    "  -o, --output FILE        also write the JSON report to FILE: a file is replaced\n"
    "                           atomically (a symbolic link's target, keeping the\n"
    "                           link); a device or FIFO is written to; checked\n"
    "                           before the run starts\n"
    "      --html FILE          also write the report as one self-contained HTML page\n"
    "                           (summary, targets, latency percentile spectra, the\n"
    "                           timeline's charts, errors, configuration; opens\n"
    "                           without network access), written as -o is\n"
    "      --interval SEC       the timeline's interval, 0.001 to 86400 (default 1):\n"
    "                           the report's timeline has executions, errors, q/s,\n"
    "                           latency, in flight and pool waits per interval\n"
    "      --timeline FILE      also write the timeline as CSV to FILE as the run\n"
    "                           goes: a row per interval and query, and a row\n"
    "                           \"(all)\" per interval (columns: docs/report-schema.md)\n"
    "      --prometheus FILE    also write the metrics in the Prometheus text format\n"
    "                           (node exporter's textfile collector: FILE.prom in its\n"
    "                           directory), atomically as -o; also when interrupted\n"
    "      --metrics-listen ADDR:PORT  serve the metrics live on\n"
    "                           http://ADDR:PORT/metrics for Prometheus to scrape,\n"
    "                           from before the run until the report is written:\n"
    "                           127.0.0.1:9187, [::1]:9187 (no authentication: bind\n"
    "                           where only the scraper reaches)\n"
    "      --metrics-linger SEC  then keep serving the final metrics SEC seconds\n"
    "                           more (a scrape interval; default 0; Ctrl-C ends it)\n"
    "      --progress SEC       print a progress line to stderr every SEC seconds\n"
    "                           (default: a live bar when stderr is a terminal)\n"
    "  -q, --quiet              no progress output\n"
    "\n"
    "Thresholds (exit code 1 when one fails; -- TARGET: in a file does the same\n"
    "for its query):\n"
    "      --threshold EXPR     [QUERY:] METRIC OP VALUE, e.g. 'p95 < 5ms',\n"
    "                           'lookup.sql: qps > 1000', 'error_rate < 0.1%'\n"
    "                           (repeatable). METRIC: avg min max stddev p50 p90\n"
    "                           p95 p99 p999 (any pN) in ms (or s, us), qps,\n"
    "                           error_rate (% or a fraction), failed, executions,\n"
    "                           succeeded; OP: < <= > >=\n"
    "      --abort-on-fail      stop the run once a threshold can no longer pass\n"
    "                           (the report is still written, marked aborted)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Exit codes: 0 all executions succeeded, 1 some failed or a threshold failed,\n"
    "2 bad usage or input (nothing ran), 3 cannot connect, 4 internal error, 130\n"
    "interrupted (the partial report is still written; Ctrl-C cancels what runs, a\n"
    "second Ctrl-C stops at once, a third exits without a report).\n";

/* A seed for a run without --seed: from the kernel, else the clock; 0..INT64_MAX (JSON-safe). */
static uint64_t random_seed(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = pv_now_ns() ^ ((uint64_t)getpid() << 32);
    return v & (uint64_t)INT64_MAX;
}

void cli_run_opts_defaults(struct cli_run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->levels[0] = 10;
    o->nlevels = 1;
    o->threads = 0;
    o->exec_count = 5;
    o->pool_size = -1;
    o->max_overflow = -1;
    o->pool_timeout_s = 30;
    o->pool_recycle_s = 3600;
    o->command_timeout_s = 30;
    o->connect_timeout_s = 30;
    o->protocol = PV_PROTOCOL_PREPARED;
    o->format = CLI_FORMAT_TABLE;
    o->seed = random_seed();
}

/* ---- options ---------------------------------------------------------- */

enum {
    OPT_EPHEMERAL = 256,
    OPT_WARMUP,
    OPT_EXEC_COUNT,
    OPT_PROTOCOL,
    OPT_POOL_SIZE,
    OPT_MAX_OVERFLOW,
    OPT_POOL_TIMEOUT,
    OPT_POOL_RECYCLE,
    OPT_COMMAND_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_PROGRESS,
    OPT_PROMETHEUS,
    OPT_METRICS_LISTEN,
    OPT_METRICS_LINGER,
    OPT_RETRIES,
    OPT_PIPELINE,
    OPT_PIN_THREADS,
    OPT_SEPARATE_BEGIN,
    OPT_RATE,
    OPT_ARRIVAL,
    OPT_MAX_LAG,
    OPT_STAGES,
    OPT_RAMP_UP,
    OPT_SEED,
    OPT_INTERVAL,
    OPT_TIMELINE,
    OPT_SHARD,
    OPT_START_AT,
    OPT_THRESHOLD,
    OPT_ABORT_ON_FAIL,
    OPT_HTML,
};

static const struct option run_options[] = {
    {"abort-on-fail", no_argument, NULL, OPT_ABORT_ON_FAIL},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"command-timeout", required_argument, NULL, OPT_COMMAND_TIMEOUT},
    {"concurrency", required_argument, NULL, 'c'},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"dsn", required_argument, NULL, 'd'},
    {"duration", required_argument, NULL, 'T'},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"exec-count", required_argument, NULL, OPT_EXEC_COUNT},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"html", required_argument, NULL, OPT_HTML},
    {"max-overflow", required_argument, NULL, OPT_MAX_OVERFLOW},
    {"metrics-linger", required_argument, NULL, OPT_METRICS_LINGER},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"output", required_argument, NULL, 'o'},
    {"pin-threads", no_argument, NULL, OPT_PIN_THREADS},
    {"separate-begin", no_argument, NULL, OPT_SEPARATE_BEGIN},
    {"rate", required_argument, NULL, OPT_RATE},
    {"arrival", required_argument, NULL, OPT_ARRIVAL},
    {"max-lag", required_argument, NULL, OPT_MAX_LAG},
    {"stages", required_argument, NULL, OPT_STAGES},
    {"ramp-up", required_argument, NULL, OPT_RAMP_UP},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"pool-recycle", required_argument, NULL, OPT_POOL_RECYCLE},
    {"pool-size", required_argument, NULL, OPT_POOL_SIZE},
    {"pool-timeout", required_argument, NULL, OPT_POOL_TIMEOUT},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"prometheus", required_argument, NULL, OPT_PROMETHEUS},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"quiet", no_argument, NULL, 'q'},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"start-at", required_argument, NULL, OPT_START_AT},
    {"threads", required_argument, NULL, 'j'},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"timeline", required_argument, NULL, OPT_TIMELINE},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {NULL, 0, NULL, 0},
};

static int parse_levels(const char *s, struct cli_run_opts *o)
{
    o->nlevels = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        long v;
        if (n == 0 || n >= sizeof(buf) || o->nlevels >= CLI_MAX_LEVELS)
            return -1;
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (cli_parse_int(buf, 1, 10000, &v) != 0)
            return -1;
        o->levels[o->nlevels++] = (int)v;
        if (!comma)
            break;
        p = comma + 1;
        if (!*p)
            return -1;
    }
    return o->nlevels > 0 ? 0 : -1;
}

#define SEC_MAX (365.0 * 24 * 3600) /* 31536000 s, one year */

/* "OPT takes seconds from MIN to MAX, not 'ARG'": opt as the user wrote it. */
static int bad_seconds(const char *opt, const char *arg, double min)
{
    return cli_usage_error("run", "%s takes seconds from %g to %.0f, not '%s'", opt, min, SEC_MAX,
                           arg);
}

static int bad_int(const char *opt, const char *arg, long min, long max)
{
    return cli_usage_error("run", "%s takes a whole number from %ld to %ld, not '%s'", opt, min,
                           max, arg);
}

/* The load-shaping options of `run` (--rate, --arrival, --max-lag,
   --ramp-up, --stages, --shard, --start-at). @return CLI_EXIT_OK or a usage error. */
static int load_option(int ch, const char *arg, const char *opt, struct cli_run_opts *o)
{
    double d;
    switch (ch) {
    case OPT_RATE:
        /* a rate is a plain positive number: cli_parse_seconds reads one */
        if (cli_parse_seconds(arg, 0.001, 1e7, &d) != 0)
            return cli_usage_error("run",
                                   "%s takes executions per second from 0.001 to "
                                   "10000000, not '%s'",
                                   opt, arg);
        o->rate = d;
        break;
    case OPT_ARRIVAL:
        if (strcmp(arg, "poisson") == 0)
            o->arrival = PV_ARRIVAL_POISSON;
        else if (strcmp(arg, "uniform") == 0)
            o->arrival = PV_ARRIVAL_UNIFORM;
        else
            return cli_usage_error("run", "%s is poisson or uniform, not '%s'", opt, arg);
        break;
    case OPT_MAX_LAG:
    case OPT_RAMP_UP:
        if (cli_parse_seconds(arg, 0.001, SEC_MAX, &d) != 0)
            return bad_seconds(opt, arg, 0.001);
        if (ch == OPT_MAX_LAG)
            o->max_lag_s = d;
        else
            o->ramp_up_s = d;
        break;
    case OPT_STAGES: o->stages = arg; break;
    case OPT_SHARD: return cli_shard_parse(arg, o);
    case OPT_START_AT: return cli_start_at_parse(arg, o);
    }
    return CLI_EXIT_OK;
}

/* The options of what a run writes and judges (-f, -o, -q, --progress,
   --interval, --timeline, --threshold, --abort-on-fail, --prometheus,
   --metrics-listen, --metrics-linger). @return CLI_EXIT_OK or a usage
   error. */
static int output_option(int ch, const char *arg, const char *opt, struct cli_run_opts *o)
{
    double d;
    switch (ch) {
    case 'f':
        if (strcmp(arg, "table") == 0)
            o->format = CLI_FORMAT_TABLE;
        else if (strcmp(arg, "json") == 0)
            o->format = CLI_FORMAT_JSON;
        else if (strcmp(arg, "markdown") == 0 || strcmp(arg, "md") == 0)
            o->format = CLI_FORMAT_MARKDOWN;
        else
            return cli_usage_error("run", "%s is table, json or markdown, not '%s'", opt, arg);
        break;
    case 'o': o->output = arg; break;
    case OPT_HTML: o->html = arg; break;
    case 'q': o->quiet = true; break;
    case OPT_PROGRESS:
        if (cli_parse_seconds(arg, 0.1, SEC_MAX, &d) != 0)
            return bad_seconds(opt, arg, 0.1);
        o->progress_s = d;
        break;
    case OPT_INTERVAL:
        if (cli_parse_seconds(arg, 0.001, 86400, &d) != 0)
            return cli_usage_error("run", "%s takes seconds from 0.001 to 86400, not '%s'", opt,
                                   arg);
        o->interval_s = d;
        break;
    case OPT_TIMELINE: o->timeline = arg; break;
    case OPT_THRESHOLD:
        if (o->nthresholds >= CLI_MAX_THRESHOLDS)
            return cli_usage_error("run", "at most %d %s options", CLI_MAX_THRESHOLDS, opt);
        o->thresholds[o->nthresholds++] = arg;
        break;
    case OPT_ABORT_ON_FAIL: o->abort_on_fail = true; break;
    case OPT_PROMETHEUS: o->prometheus = arg; break;
    case OPT_METRICS_LISTEN: o->metrics_listen = arg; break;
    case OPT_METRICS_LINGER:
        if (cli_parse_seconds(arg, 0, 3600, &d) != 0)
            return cli_usage_error("run", "%s takes seconds from 0 to 3600, not '%s'", opt, arg);
        o->metrics_linger_s = d;
        break;
    }
    return CLI_EXIT_OK;
}

/* One option of `run` into o; opt is its name as the user wrote it ("-c",
   "--pool-timeout"). @return CLI_EXIT_OK to go on, or an exit code
   (CLI_RUN_HELP_SHOWN after --help). */
static int run_option(int ch, const char *arg, const char *opt, struct cli_run_opts *o)
{
    long v;
    double d;
    switch (ch) {
    case 'c':
        if (parse_levels(arg, o) != 0)
            return cli_usage_error("run",
                                   "%s takes numbers from 1 to 10000, comma-separated (at most "
                                   "%d), not '%s'",
                                   opt, CLI_MAX_LEVELS, arg);
        break;
    case 'd': o->dsn = arg; break;
    case 'f':
    case 'o':
    case 'q': return output_option(ch, arg, opt, o);
    case 'h': fputs(run_help, stdout); return CLI_RUN_HELP_SHOWN;
    case 'j':
        if (cli_parse_int(arg, 1, 1024, &v) != 0)
            return bad_int(opt, arg, 1, 1024);
        o->threads = (int)v;
        break;
    case 'T':
        if (cli_parse_seconds(arg, 0.001, SEC_MAX, &d) != 0)
            return bad_seconds(opt, arg, 0.001);
        o->duration_s = d;
        break;
    case OPT_EPHEMERAL: o->ephemeral = true; break;
    case OPT_WARMUP:
        if (cli_parse_seconds(arg, 0, SEC_MAX, &d) != 0)
            return bad_seconds(opt, arg, 0);
        o->warmup_s = d;
        break;
    case OPT_EXEC_COUNT:
        if (cli_parse_int(arg, 1, 1000000000, &v) != 0)
            return bad_int(opt, arg, 1, 1000000000);
        o->exec_count = v;
        break;
    case OPT_PROTOCOL:
        if (strcmp(arg, "prepared") == 0)
            o->protocol = PV_PROTOCOL_PREPARED;
        else if (strcmp(arg, "extended") == 0)
            o->protocol = PV_PROTOCOL_EXTENDED;
        else if (strcmp(arg, "simple") == 0)
            o->protocol = PV_PROTOCOL_SIMPLE;
        else
            return cli_usage_error("run", "%s is prepared, extended or simple, not '%s'", opt, arg);
        break;
    case OPT_POOL_SIZE:
        if (cli_parse_int(arg, 1, 50000, &v) != 0)
            return bad_int(opt, arg, 1, 50000);
        o->pool_size = (int)v;
        break;
    case OPT_MAX_OVERFLOW:
        if (cli_parse_int(arg, 0, 50000, &v) != 0)
            return bad_int(opt, arg, 0, 50000);
        o->max_overflow = (int)v;
        break;
    case OPT_POOL_TIMEOUT:
    case OPT_POOL_RECYCLE:
    case OPT_CONNECT_TIMEOUT:
        if (cli_parse_seconds(arg, 0.001, SEC_MAX, &d) != 0)
            return bad_seconds(opt, arg, 0.001);
        if (ch == OPT_POOL_TIMEOUT)
            o->pool_timeout_s = d;
        else if (ch == OPT_POOL_RECYCLE)
            o->pool_recycle_s = d;
        else
            o->connect_timeout_s = d;
        break;
    case OPT_COMMAND_TIMEOUT:
        if (cli_parse_seconds(arg, 0, SEC_MAX, &d) != 0)
            return cli_usage_error("run", "%s takes seconds from 0 (none) to %.0f, not '%s'", opt,
                                   SEC_MAX, arg);
        o->command_timeout_s = d;
        break;
    case OPT_PIPELINE:
        if (cli_parse_int(arg, 1, 1000, &v) != 0)
            return bad_int(opt, arg, 1, 1000);
        o->pipeline = (int)v;
        break;
    case OPT_PIN_THREADS: o->pin_threads = true; break;
    case OPT_SEPARATE_BEGIN: o->separate_begin = true; break;
    case OPT_RATE:
    case OPT_ARRIVAL:
    case OPT_MAX_LAG:
    case OPT_RAMP_UP:
    case OPT_STAGES:
    case OPT_SHARD:
    case OPT_START_AT: return load_option(ch, arg, opt, o);
    case OPT_RETRIES:
        if (cli_parse_int(arg, 0, 100, &v) != 0)
            return bad_int(opt, arg, 0, 100);
        o->retries = (int)v;
        break;
    case OPT_SEED:
        if (cli_parse_int(arg, 0, INT64_MAX, &v) != 0)
            return bad_int(opt, arg, 0, INT64_MAX);
        o->seed = (uint64_t)v;
        break;
    case OPT_PROGRESS:
    case OPT_INTERVAL:
    case OPT_TIMELINE:
    case OPT_THRESHOLD:
    case OPT_ABORT_ON_FAIL:
    case OPT_PROMETHEUS:
    case OPT_METRICS_LISTEN:
    case OPT_METRICS_LINGER:
    case OPT_HTML: return output_option(ch, arg, opt, o);
    case ':': return cli_usage_error("run", "option '%s' needs a value", opt);
    default: return cli_usage_error("run", "unknown option '%s'", opt);
    }
    return CLI_EXIT_OK;
}

/*
 * The option getopt_long just returned, as the user wrote it: "--NAME" for
 * a long option (also when abbreviated or written --NAME=VALUE), "-X" for a
 * short one; for an unknown option or a missing value, the argument itself.
 */
static void option_name(int ch, int longidx, const char *last_arg, char *out, size_t cap)
{
    if (ch == '?' || ch == ':') {
        if (optopt > 0 && optopt < 256 && strncmp(last_arg, "--", 2) != 0)
            snprintf(out, cap, "-%c", optopt);
        else
            snprintf(out, cap, "%s", last_arg);
    } else if (longidx >= 0) {
        snprintf(out, cap, "--%s", run_options[longidx].name);
    } else {
        snprintf(out, cap, "-%c", ch);
    }
}

/* The load-shaping options together. @return CLI_EXIT_OK or a usage error. */
static int check_load_options(const struct cli_run_opts *o)
{
    if (o->max_lag_s > 0 && o->rate <= 0)
        return cli_usage_error("run", "--max-lag needs --rate (it drops executions that are "
                                      "late against the schedule)");
    if (o->stages && o->ramp_up_s > 0)
        return cli_usage_error("run", "--stages and --ramp-up cannot be used together (a "
                                      "ramp-up is the stage 'SEC:TARGET')");
    if (o->stages && o->duration_s > 0)
        return cli_usage_error("run", "--stages sets the duration; drop -T");
    if ((o->stages || o->ramp_up_s > 0) && o->nlevels > 1)
        return cli_usage_error("run", "%s cannot be combined with a sweep of -c levels",
                               o->stages ? "--stages" : "--ramp-up");
    if (o->ramp_up_s > 0 && o->duration_s <= 0)
        return cli_usage_error("run", "--ramp-up needs -T (the ramp is the start of the run)");
    if (o->ramp_up_s > 0 && o->ramp_up_s >= o->warmup_s + o->duration_s)
        return cli_usage_error("run", "--ramp-up (%g s) must be shorter than the run (%g s)",
                               o->ramp_up_s, o->warmup_s + o->duration_s);
    return CLI_EXIT_OK;
}

int cli_run_parse(int argc, char **argv, struct cli_run_opts *o)
{
    cli_run_opts_defaults(o);
    int ch, longidx = -1;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:d:f:hj:o:qT:", run_options, &longidx)) != -1) {
        char name[64];
        option_name(ch, longidx, argv[optind - 1], name, sizeof(name));
        longidx = -1;
        int code = run_option(ch, optarg, name, o);
        if (code != CLI_EXIT_OK)
            return code;
    }
    if (optind >= argc)
        return cli_usage_error("run", "no workload file or directory given");
    if (o->dsn && o->ephemeral)
        return cli_usage_error("run", "--dsn and --ephemeral cannot be used together");
    int code = check_load_options(o);
    if (code == CLI_EXIT_OK)
        code = cli_shard_check(o);
    if (code != CLI_EXIT_OK)
        return code;
    o->paths = argv + optind;
    o->npaths = argc - optind;
    return CLI_EXIT_OK;
}
