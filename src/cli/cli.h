/*
 * cli.h - what the pgvolley commands share: exit codes, argument parsing
 * helpers, messages, report output. Only src/cli/ prints or exits.
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
    /* Not an exit status (a child's 141 passes through): stdout's reader
       went away (EPIPE), and cli_finish dies of SIGPIPE, which a shell
       shows as 141, as pgbench and psql do under `| head`. */
    CLI_EXIT_SIGPIPE = 256,
};

/* "pgvolley: " + message + newline on stderr. */
void cli_error(const char *fmt, ...) PV_PRINTF(1, 2);
/* "pgvolley CMD: message" + "Try 'pgvolley CMD --help'." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) PV_PRINTF(2, 3);
/*
 * Captures this thread's cli_error and cli_usage_error messages into buf
 * (the message alone, without "pgvolley: " or the --help hint; one line
 * per message) instead of printing them, until cli_capture_end: `serve`
 * answers a bad request with the very text `run` prints. buf is borrowed.
 */
struct pv_buf;
void cli_capture_begin(struct pv_buf *buf);
void cli_capture_end(void);

/* Maps a library error code to an exit code. */
int cli_exit_for(int volley_rc);

/* Strict number parsing: the whole string must be the number. 0 or -1. */
int cli_parse_int(const char *s, long min, long max, long *out);

/**
 * The host part of "ADDR:PORT" or "[IPv6]:PORT" (the text before the last
 * ':'): *host and *len point into s, without the brackets of an IPv6
 * address (which needs them). @return 0, or -1 when it is malformed.
 */
int cli_listen_host(const char *s, const char *colon, const char **host, size_t *len);
int cli_parse_seconds(const char *s, double min, double max, double *out);

/* ---- output (cli_output.c) ---- */

/* Opens /dev/null on any of descriptors 0, 1 and 2 that is closed (libuv
   must never get one of them). Call first in main. 0 or -1. */
int cli_std_fds_open(void);

/* Writes len bytes to stdout (after flushing stdio), checking every write.
   @return CLI_EXIT_OK; CLI_EXIT_SIGPIPE (no message) when the reader went
   away; CLI_EXIT_INTERNAL after "cannot write the report to stdout: ...". */
int cli_write_stdout(const char *data, size_t len);

/* The end of main: closes stdout, checking the final flush (exit 4 and a
   message when it fails), and dies of SIGPIPE for CLI_EXIT_SIGPIPE.
   @return the exit code. */
int cli_finish(int code);

/* Checks, before anything runs, that -o path can take the report: a new
   file in an existing writable directory, a regular file (replaced
   atomically next to itself, or next to a symbolic link's target), or a
   writable device or FIFO (written straight through). Prints a message
   naming path when not. 0 or -1. */
int cli_output_check(const char *path);

/* Writes the report to path as cli_output_check describes (a FIFO waits
   for its reader). 0 or -1 (errno set). */
int cli_output_write(const char *path, const char *data, size_t len);

/* Number of online CPUs (at least 1). */
int cli_ncpu(void);

/*
 * The signal flag: the only process-wide state besides stdio. Set by
 * SIGINT/SIGTERM (a first signal asks for a clean stop).
 */
extern volatile sig_atomic_t cli_signalled;
/* Installs the flag-setting handler for SIGINT and SIGTERM. */
void cli_signals_install(void);

struct pv_pgtmp_opts;
/* Throwaway-server options from the environment: PGVOLLEY_INITDB_CACHE (a
 * directory keeping an initialised cluster to copy instead of running initdb). */
void cli_pgtmp_env(struct pv_pgtmp_opts *o);

int cmd_run(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_ephemeral(int argc, char **argv);
int cmd_multi(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_mcp(int argc, char **argv);
int cmd_suite(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif /* PV_CLI_H */
