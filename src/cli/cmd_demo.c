/*
 * cmd_demo.c - `pgvolley demo`: a throwaway server, sample data, and the
 * examples run through the same code path as `pgvolley run`.
 */
#include <libpq-fe.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_diag.h"
#include "cli/cli_run.h"
#include "engine/pv_conn.h"
#include "engine/pv_conninfo.h"
#include "pgtmp/pv_pgtmp.h"

static const char demo_help[] =
    "Usage: pgvolley demo [--examples DIR] [--html FILE] [-j N]\n"
    "\n"
    "Starts a throwaway PostgreSQL, creates a sample 'customer' table (100000 rows)\n"
    "and runs the example workloads in examples/:\n"
    "  customer_lookup.sql  seed 000's parameterised point lookup, at -c 1,5,10,\n"
    "                       then for 3 seconds at -c 10\n"
    "  parallel_sleep.sql   seed 001's parallel sleep proof (1+2+3+1+2 s of\n"
    "                       pg_sleep) at -c 1 and -c 5: 9 s in a row, ~3 s at once\n"
    "then loads the sample schema of `pgvolley init` and runs the built-in suite of\n"
    "`pgvolley suite` for 1 s per test (one test misses its targets on purpose and\n"
    "is diagnosed), writes the suite's HTML report, prints the reports and removes\n"
    "the server. Takes about 45 seconds.\n"
    "\n"
    "  --examples DIR  where the example files are (default: the source tree's)\n"
    "  --html FILE     the suite's HTML report (default: pgvolley-demo-suite.html)\n"
    "  -j N            worker threads (default: number of CPUs)\n";

static const char demo_sql[] =
    "CREATE TABLE customer (\n"
    "  c_customer_sk integer PRIMARY KEY,\n"
    "  c_customer_id char(16) NOT NULL,\n"
    "  c_first_name text NOT NULL,\n"
    "  c_last_name text NOT NULL,\n"
    "  c_email_address text NOT NULL,\n"
    "  c_birth_year integer NOT NULL);\n"
    "INSERT INTO customer\n"
    "  SELECT g, 'AAAAAAAA' || chr(65 + g % 16) || 'AAAAAAA', 'First' || g, 'Last' || g,\n"
    "         'user' || g || '@example.com', 1940 + g % 60\n"
    "  FROM generate_series(1, 100000) AS g;\n"
    "ANALYZE customer;\n";

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* examples/ next to the binary's source tree, or ../share/pgvolley/examples. */
static const char *find_examples(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/examples", PV_SOURCE_DIR);
    if (is_dir(buf))
        return buf;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int n2 = snprintf(buf, cap, "%s/../share/pgvolley/examples", exe);
            if (n2 > 0 && (size_t)n2 < cap && is_dir(buf))
                return buf;
        }
    }
    return NULL;
}

static int load_sample_data(const char *conninfo)
{
    pv_conninfo *ci = NULL;
    PGconn *c = NULL;
    pv_err err = {{0}};
    int rc = pv_conninfo_create(conninfo, "pgvolley", &ci, &err);
    if (rc == 0)
        rc = pv_conn_connect_blocking(pv_conninfo_keywords(ci), pv_conninfo_values(ci), &c, &err);
    pv_conninfo_destroy(ci);
    if (rc != 0) {
        cli_error("cannot connect to the throwaway server: %s", err.msg);
        return cli_exit_for(rc);
    }
    PGresult *r = PQexec(c, demo_sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        cli_error("cannot create the sample data: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

static int demo_step(const char *title, const char *dir, const char *file, const char *levels,
                     double duration_s, int threads, const char *conninfo)
{
    char path[PATH_MAX], dur[64] = "";
    int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        cli_error("examples path too long: %s", dir);
        return CLI_EXIT_USAGE;
    }
    if (duration_s > 0)
        snprintf(dur, sizeof(dur), " -T %.3g", duration_s);
    printf("\n=== %s ===\n$ pgvolley run -c %s%s %s\n\n", title, levels, dur, path);
    fflush(stdout);
    struct cli_run_opts o;
    cli_run_opts_defaults(&o);
    o.duration_s = duration_s;
    o.nlevels = 0;
    for (const char *p = levels; *p;) {
        o.levels[o.nlevels++] = (int)strtol(p, (char **)&p, 10);
        if (*p == ',')
            p++;
    }
    o.threads = threads;
    char *paths[] = {path};
    o.paths = paths;
    o.npaths = 1;
    return cli_run_workload(&o, conninfo);
}

/*
 * The benchmark suite, as a user runs it: `pgvolley init`, then the
 * built-in suite (1 s per test), whose deliberately slow test misses its
 * targets and is diagnosed; its exit code 1 is the demo's success.
 */
static int demo_suite(const char *conninfo, const char *html)
{
    printf("\n=== The benchmark suite (seed 002): the sample schema, then 17 tests in five "
           "categories, 1 s each; one misses its targets on purpose and is diagnosed ===\n"
           "$ pgvolley init\n$ pgvolley suite -T 1 --html %s\n\n",
           html);
    fflush(stdout);
    char *init_argv[] = {"init", "-d", (char *)conninfo, NULL};
    int code = cmd_init(3, init_argv);
    if (code != CLI_EXIT_OK || cli_signalled)
        return cli_signalled ? CLI_EXIT_INTERRUPTED : code;
    fflush(stdout);
    char *suite_argv[] = {"suite", "-d", (char *)conninfo, "-T", "1", "--html", (char *)html, NULL};
    code = cmd_suite(7, suite_argv);
    if (code == CLI_EXIT_FAILED)
        code = CLI_EXIT_OK; /* the slow test missed its targets, as it should */
    if (code == CLI_EXIT_OK)
        printf("\nThe suite's HTML report (charts, targets, diagnosis): %s\n", html);
    return code;
}

int cmd_demo(int argc, char **argv)
{
    const char *examples = NULL;
    const char *html = "pgvolley-demo-suite.html";
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(demo_help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc) {
            html = argv[++i];
        } else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc) {
            examples = argv[++i];
        } else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) {
            long v;
            if (cli_parse_int(argv[++i], 1, 1024, &v) != 0)
                return cli_usage_error("demo", "-j takes 1..1024, not '%s'", argv[i]);
            threads = (int)v;
        } else {
            return cli_usage_error("demo", "unknown argument '%s'", argv[i]);
        }
    }
    char buf[PATH_MAX];
    if (!examples)
        examples = find_examples(buf, sizeof(buf));
    if (!examples || !is_dir(examples)) {
        cli_error("cannot find the examples directory; pass --examples DIR");
        return CLI_EXIT_USAGE;
    }

    cli_signals_install();
    fputs("pgvolley demo: starting a throwaway PostgreSQL...\n", stderr);
    pv_err err = {{0}};
    pv_pgtmp *tmp = NULL;
    if (cli_diag_pgtmp_start(&tmp, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    printf("Throwaway PostgreSQL at %s (removed at exit)\n", pv_pgtmp_conninfo(tmp));
    fputs("pgvolley demo: creating table customer (100000 rows)...\n", stderr);
    int code = load_sample_data(pv_pgtmp_conninfo(tmp));
    static const struct {
        const char *title, *file, *levels;
        double duration_s;
    } steps[] = {
        {"Point lookups with bound parameters: 4 scenarios x 40 executions, at three "
         "concurrency levels",
         "customer_lookup.sql", "1,5,10", 0},
        {"The same lookups for 3 seconds, scenarios round-robin, at c=10", "customer_lookup.sql",
         "10", 3},
        {"Parallel sleep proof: 1+2+3+1+2 s of pg_sleep, one after another (c=1) and all at "
         "once (c=5)",
         "parallel_sleep.sql", "1,5", 0},
    };
    for (size_t i = 0; i < PV_ARRAY_LEN(steps) && code == CLI_EXIT_OK && !cli_signalled; i++)
        code = demo_step(steps[i].title, examples, steps[i].file, steps[i].levels,
                         steps[i].duration_s, threads, pv_pgtmp_conninfo(tmp));
    if (code == CLI_EXIT_OK && !cli_signalled)
        code = demo_suite(pv_pgtmp_conninfo(tmp), html);
    if (cli_signalled)
        code = CLI_EXIT_INTERRUPTED;
    pv_pgtmp_stop(tmp);
    if (code == CLI_EXIT_OK)
        printf("\nDone. Write your own workload file (see README.md) and run:\n"
               "  pgvolley run --ephemeral your.sql    or    pgvolley run -d DSN your.sql\n"
               "The suite on a database of yours (its own tables, pgvolley_*):\n"
               "  pgvolley init -d DSN && pgvolley suite -d DSN --html report.html\n"
               "The web dashboard (configure, run, watch live, compare), on a throwaway\n"
               "server: pgvolley serve --ephemeral, then open the address it prints.\n");
    return code;
}
