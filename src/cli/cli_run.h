/*
 * cli_run.h - `pgvolley run` as a function, so that the demo runs the same
 * code path a user does.
 */
#ifndef PV_CLI_RUN_H
#define PV_CLI_RUN_H

#include "cli/cli.h"
#include "engine/pv_run.h"

#define CLI_MAX_LEVELS     64
#define CLI_MAX_THRESHOLDS 64

enum cli_format { CLI_FORMAT_TABLE, CLI_FORMAT_JSON, CLI_FORMAT_MARKDOWN };

struct cli_run_opts {
    const char *dsn; /* NULL = libpq defaults */
    bool ephemeral;
    int levels[CLI_MAX_LEVELS];
    int nlevels;
    int threads;
    double duration_s, warmup_s;
    long exec_count; /* default for files without EXEC_COUNT */
    int retries;
    int pipeline;
    bool pin_threads;
    bool separate_begin;     /* --separate-begin */
    double rate;             /* --rate: the open model; 0 = closed */
    enum pv_arrival arrival; /* --arrival */
    double max_lag_s;        /* --max-lag */
    const char *stages;      /* --stages SPEC, or NULL */
    double ramp_up_s;        /* --ramp-up */
    uint64_t seed;           /* drawn parameter values; 0..INT64_MAX, random unless --seed */
    int pool_size, max_overflow;
    double pool_timeout_s, pool_recycle_s, command_timeout_s, connect_timeout_s;
    enum pv_protocol protocol;
    enum cli_format format;
    const char *output;   /* JSON report file, or NULL */
    const char *html;     /* --html FILE: the self-contained HTML page, or NULL */
    double progress_s;    /* periodic progress lines; 0 = bar on a TTY only */
    double interval_s;    /* --interval: the timeline's interval; 0 = the engine's 1 s */
    const char *timeline; /* --timeline FILE: the timeline as CSV, or NULL */
    bool quiet;
    char **paths;
    int npaths;
    int shard_index, shard_count;               /* --shard I/N; shard_count 0 = the whole run */
    double start_at;                            /* --start-at: epoch seconds; 0 = at once */
    const char *thresholds[CLI_MAX_THRESHOLDS]; /* --threshold texts (issue 11) */
    int nthresholds;
    bool abort_on_fail; /* --abort-on-fail */

    /* Prometheus (cli_prom.c) */
    const char *prometheus;     /* --prometheus FILE (text format), or NULL */
    const char *metrics_listen; /* --metrics-listen ADDR:PORT, or NULL */
    double metrics_linger_s;    /* --metrics-linger */
};

void cli_run_opts_defaults(struct cli_run_opts *o);

/* cli_run_parse's code after --help was printed (the exit code is then 0). */
#define CLI_RUN_HELP_SHOWN (-1)

/**
 * Parses the arguments of `run` (argv[0] is "run") into o, defaults first,
 * and checks the options taken together (cli_run_opts.c). Prints its usage
 * errors. @return CLI_EXIT_OK, CLI_RUN_HELP_SHOWN, or the exit code of a
 * usage error.
 */
int cli_run_parse(int argc, char **argv, struct cli_run_opts *o);

/**
 * Loads the workload, checks the server, runs every level and writes the
 * report. conninfo overrides o->dsn (used with a throwaway server).
 * @return the exit code.
 */
int cli_run_workload(const struct cli_run_opts *o, const char *conninfo);

/* ---- what `serve` shares with `run` (cmd_serve.c, cli_serve_runner.c) ---- */

/* The checks of a loaded workload against o (parameters with the simple
   protocol). Prints its error. @return an exit code. */
int cli_run_workload_check(const struct cli_run_opts *o, const pv_workload *wl);

/**
 * The engine's configuration of one level of o, exactly as `run` makes it:
 * the options, the load's shape (--stages, --ramp-up: *shape, to
 * pv_shape_destroy, NULL when none), then the engine's defaults; on_done
 * and arg are the run's done callback. Prints its usage errors.
 * @return an exit code.
 */
int cli_run_level_config(const struct cli_run_opts *o, int level, pv_target *target,
                         pv_workload *wl, void (*on_done)(void *), void *arg,
                         struct pv_run_config *cfg, pv_shape **shape);

/* ---- --shard and --start-at (cli_shard.c); each returns an exit code ---- */

/* Parses --shard I/N and --start-at TIME into o (usage errors printed). */
int cli_shard_parse(const char *arg, struct cli_run_opts *o);
int cli_start_at_parse(const char *arg, struct cli_run_opts *o);
/* The options that do not combine with --shard. */
int cli_shard_check(const struct cli_run_opts *o);
/* Count-based runs: keeps this shard's executions of every scenario. */
int cli_shard_workload(const struct cli_run_opts *o, pv_workload *wl);
/* The engine's config of one level: start_at, and the shard's share of the
   rate and (time-based runs) of the concurrency. */
int cli_shard_config(const struct cli_run_opts *o, struct pv_run_config *cfg);

/**
 * Runs every PARAMETERS_QUERY of wl once on one blocking connection to
 * target and gives its rows to wl (cli_sample.c). Prints its errors.
 * @return the exit code: CLI_EXIT_OK, CLI_EXIT_USAGE (the query failed, or
 *         its rows do not fit: "PATH:LINE:COL: ..."), CLI_EXIT_CONNECT.
 */
int cli_sample_params(pv_workload *wl, const pv_target *target);

/* ---- one test of a suite (cmd_suite.c; issue 12) ---- */

/**
 * Runs wl once on target as `run` runs one level: concurrency level, o's
 * duration (time-based when > 0, else each scenario's EXEC_COUNT), threads,
 * pool, protocol, seed, the progress bar or lines (o->progress_s, o->quiet)
 * and Ctrl-C (a first one stops the run, which is then interrupted; a
 * second closes the connections). Prints its errors. *out is the finished
 * run (to pv_run_destroy; its result borrows wl), or NULL on error.
 * @return CLI_EXIT_OK (also when interrupted: *interrupted says so), or
 *         the exit code of the error.
 */
int cli_run_once(const struct cli_run_opts *o, pv_target *target, pv_workload *wl, int level,
                 pv_run **out, bool *interrupted);

#endif /* PV_CLI_RUN_H */
