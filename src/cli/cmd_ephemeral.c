/*
 * cmd_ephemeral.c - `pgvolley ephemeral`: a throwaway PostgreSQL for a
 * command (like pg_virtualenv), or until stdin closes (for test harnesses).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "pgtmp/pv_pgtmp.h"

#define EPH_MAX_SETTINGS 32
#define PV_STR_(x)       #x
#define PV_STR(x)        PV_STR_(x)

static const char eph_help[] =
    "Usage: pgvolley ephemeral [--max-connections N] [-c NAME=VALUE]... [-- COMMAND [ARGS...]]\n"
    "\n"
    "Starts a throwaway PostgreSQL server (initdb into a temporary directory, a Unix\n"
    "socket there and a free loopback port, trust authentication) and removes it\n"
    "afterwards, also on Ctrl-C.\n"
    "\n"
    "With COMMAND: runs it with PGHOST, PGPORT, PGUSER and PGDATABASE set (and\n"
    "PGVOLLEY_DSN holding the connection string), then stops the server and exits\n"
    "with the command's exit code.\n"
    "Without COMMAND: prints the connection string on the first line of stdout and\n"
    "its URI on the second, then keeps the server until stdin is closed or a\n"
    "SIGINT/SIGTERM arrives.\n"
    "\n"
    "Options:\n"
    "      --max-connections N   the server's max_connections (10..20000, default 1100)\n"
    "  -c, --set NAME=VALUE      a server setting, as postgres -c (repeatable, up to\n"
    "                            " PV_STR(
        EPH_MAX_SETTINGS) "); e.g. -c shared_preload_libraries=pg_stat_statements\n"
                          "\n"
                          "As root, the server runs as the 'postgres' system user.\n"
                          "PGVOLLEY_INITDB_CACHE=DIR (also for run --ephemeral, suite, serve\n"
                          "and demo): the first start keeps a copy of its fresh cluster in DIR\n"
                          "(created if missing; it must be yours and writable by nobody else),\n"
                          "later starts copy it instead of running initdb: a quicker start.\n"
                          "Exit codes: 3 when the server cannot be started; otherwise the "
                          "command's, or 0.\n";

static int run_command(pv_pgtmp *tmp, char **cmd)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", pv_pgtmp_port(tmp));
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot fork: %s", strerror(errno));
        return CLI_EXIT_INTERNAL;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setenv("PGHOST", pv_pgtmp_socket_dir(tmp), 1);
        setenv("PGPORT", port, 1);
        setenv("PGUSER", "postgres", 1);
        setenv("PGDATABASE", "postgres", 1);
        setenv("PGVOLLEY_DSN", pv_pgtmp_conninfo(tmp), 1);
        execvp(cmd[0], cmd);
        fprintf(stderr, "pgvolley: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return CLI_EXIT_INTERNAL;
        if (cli_signalled)
            kill(pid, SIGTERM);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* NAME=VALUE with NAME a setting's spelling (letters, digits, _ and ., as
   custom settings have); the server judges the rest. */
static bool setting_ok(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return false;
    for (const char *c = s; c < eq; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.'))
            return false;
    return true;
}

int cmd_ephemeral(int argc, char **argv)
{
    struct pv_pgtmp_opts opts = {0};
    const char *settings[EPH_MAX_SETTINGS + 1] = {NULL};
    size_t nsettings = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(eph_help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--max-connections") == 0 && i + 1 < argc) {
            long v;
            if (cli_parse_int(argv[++i], 10, 20000, &v) != 0)
                return cli_usage_error("ephemeral", "--max-connections takes 10..20000, not '%s'",
                                       argv[i]);
            opts.max_connections = (int)v;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--set") == 0) && i + 1 < argc) {
            if (!setting_ok(argv[++i]))
                return cli_usage_error("ephemeral", "%s takes NAME=VALUE, not '%s'", argv[i - 1],
                                       argv[i]);
            if (nsettings == EPH_MAX_SETTINGS)
                return cli_usage_error("ephemeral", "at most %d settings", EPH_MAX_SETTINGS);
            settings[nsettings++] = argv[i];
            opts.extra_settings = settings;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            return cli_usage_error("ephemeral", "unknown argument '%s'", argv[i]);
        }
    }
    char **cmd = i < argc ? argv + i : NULL;
    cli_pgtmp_env(&opts);

    cli_signals_install();
    pv_err err = {{0}};
    pv_pgtmp *tmp = NULL;
    if (pv_pgtmp_start(&opts, &tmp, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_EXIT_CONNECT;
    }
    int code = CLI_EXIT_OK;
    if (cmd) {
        code = run_command(tmp, cmd);
    } else {
        pv_buf line = PV_BUF_INIT;
        pv_buf_printf(&line, "%s\n%s\n", pv_pgtmp_conninfo(tmp), pv_pgtmp_uri(tmp));
        if (pv_buf_ok(&line) != 0) {
            cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
            code = CLI_EXIT_INTERNAL;
        } else {
            code = cli_write_stdout(line.data, line.len);
        }
        pv_buf_fini(&line);
        char buf[256];
        while (code == CLI_EXIT_OK && !cli_signalled) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR))
                break;
        }
    }
    pv_pgtmp_stop(tmp);
    return code;
}
