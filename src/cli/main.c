/* main.c - pgvolley's entry point: dispatches to one cmd_<name>.c per command. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "pgvolley - run many PostgreSQL queries at once, measure them honestly, report.\n"
    "\n"
    "Usage: pgvolley COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Commands:\n"
    "  run        run annotated SQL workload files concurrently and report latency,\n"
    "             throughput and errors by SQLSTATE\n"
    "  init       create pgvolley's multi-tenant sample schema and data (-s scale)\n"
    "  suite      run a suite of workload files in categories, each with its targets\n"
    "             (the built-in one runs against the schema of init); exit 1 on a miss\n"
    "  merge      combine the JSON reports of a run's shards exactly into one report\n"
    "  compare    compare two JSON reports of run (a baseline and a new one); exit 1\n"
    "             on a regression\n"
    "  multi      run many read-only queries at once (JSON in; Markdown or JSON out)\n"
    "  mcp        serve datasets to LLM clients over MCP (stdio or Streamable HTTP),\n"
    "             read-only\n"
    "  serve      serve the HTTP API: create, follow, cancel and compare runs on\n"
    "             configured targets, with their history\n"
    "  demo       start a throwaway PostgreSQL, load sample data, run the examples\n"
    "  ephemeral  start a throwaway PostgreSQL for a command (or until stdin closes)\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help (also: pgvolley COMMAND --help)\n"
    "  -V, --version  show the version\n"
    "\n"
    "Exit codes: 0 all executions succeeded, 1 some failed (or a threshold failed,\n"
    "or compare found a regression), 2 bad usage or input, 3 cannot connect or\n"
    "server unavailable, 4 internal error, 130 interrupted.\n";

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("pgvolley %s\n", volley_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "ephemeral") == 0)
        return cmd_ephemeral(argc - 1, argv + 1);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc - 1, argv + 1);
    if (strcmp(cmd, "multi") == 0)
        return cmd_multi(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "suite") == 0)
        return cmd_suite(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
#ifdef PV_WITH_MCP
    if (strcmp(cmd, "mcp") == 0)
        return cmd_mcp(argc - 1, argv + 1);
#endif
    fprintf(stderr, "pgvolley: unknown command '%s'\nTry 'pgvolley --help'.\n", cmd);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* Before anything opens a descriptor: a closed 0, 1 or 2 would be
       taken by a libuv handle, which libuv refuses (abort). */
    if (cli_std_fds_open() != 0)
        return CLI_EXIT_INTERNAL;
    signal(SIGPIPE, SIG_IGN); /* write errors are checked; see cli_finish */
    return cli_finish(dispatch(argc, argv));
}
