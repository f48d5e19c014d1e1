/*
 * cli.h - what the pgvolley commands share: exit codes, argument parsing
 * helpers, messages, atomic file writes. Only src/cli/ prints or exits.
 */
#ifndef PV_CLI_H
#define PV_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/pv_common.h"

/* Documented exit codes (README, --help). */
enum cli_exit {
    CLI_EXIT_OK = 0,            /* every execution succeeded */
    CLI_EXIT_FAILED = 1,        /* some executions failed */
    CLI_EXIT_USAGE = 2,         /* bad usage or bad input; nothing ran */
    CLI_EXIT_CONNECT = 3,       /* cannot connect / server unavailable */
    CLI_EXIT_INTERNAL = 4,      /* out of memory, cannot write the report */
    CLI_EXIT_INTERRUPTED = 130, /* Ctrl-C; a partial report was still written */
};

/* "pgvolley: " + message + newline on stderr. */
void cli_error(const char *fmt, ...) PV_PRINTF(1, 2);
/* "pgvolley CMD: message" + "Try 'pgvolley CMD --help'." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) PV_PRINTF(2, 3);
/* Maps a library error code to an exit code. */
int cli_exit_for(int volley_rc);

/* Strict number parsing: the whole string must be the number. 0 or -1. */
int cli_parse_int(const char *s, long min, long max, long *out);
int cli_parse_seconds(const char *s, double min, double max, double *out);

/* Writes len bytes to path via a temporary file + rename. 0 or -1 (errno set). */
int cli_write_atomic(const char *path, const char *data, size_t len);

/* Number of online CPUs (at least 1). */
int cli_ncpu(void);

/*
 * The signal flag: the only process-wide state besides stdio. Set by
 * SIGINT/SIGTERM (a first signal asks for a clean stop).
 */
extern volatile sig_atomic_t cli_signalled;
/* Installs the flag-setting handler for SIGINT and SIGTERM. */
void cli_signals_install(void);

int cmd_run(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_ephemeral(int argc, char **argv);
int cmd_multi(int argc, char **argv);
int cmd_mcp(int argc, char **argv);

#endif /* PV_CLI_H */
