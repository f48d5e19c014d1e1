/* cli_util.c - messages, strict number parsing, signals. */
#include "cli/cli.h"

#include "common/pv_buf.h"
#include "pgtmp/pv_pgtmp.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cli_capture_begin: this thread's messages go here instead of stderr */
static _Thread_local pv_buf *capture;

void cli_capture_begin(pv_buf *into)
{
    capture = into;
}

void cli_capture_end(void)
{
    capture = NULL;
}

/* Appends one captured message (a line per message). @return whether captured. */
static bool captured(const char *fmt, va_list ap)
{
    if (!capture)
        return false;
    if (capture->len > 0)
        pv_buf_putc(capture, '\n');
    pv_buf_vprintf(capture, fmt, ap);
    return true;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (captured(fmt, ap)) {
        va_end(ap);
        return;
    }
    va_end(ap);
    va_start(ap, fmt);
    fputs("pgvolley: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (captured(fmt, ap)) {
        va_end(ap);
        return CLI_EXIT_USAGE;
    }
    va_end(ap);
    va_start(ap, fmt);
    fprintf(stderr, "pgvolley %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'pgvolley %s --help'.\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_exit_for(int rc)
{
    switch (rc) {
    case VOLLEY_OK: return CLI_EXIT_OK;
    case VOLLEY_EINVAL:
    case VOLLEY_EINPUT: return CLI_EXIT_USAGE;
    case VOLLEY_ECONNECT:
    case VOLLEY_ESERVER: return CLI_EXIT_CONNECT;
    default: return CLI_EXIT_INTERNAL;
    }
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_seconds(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

volatile sig_atomic_t cli_signalled;

static void on_signal(int sig)
{
    (void)sig;
    cli_signalled = 1;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_listen_host(const char *s, const char *colon, const char **host, size_t *len)
{
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return -1;
        h++;
        n -= 2;
    } else if (memchr(h, ':', n)) {
        return -1; /* an IPv6 address needs brackets */
    }
    *host = h;
    *len = n;
    return 0;
}

void cli_pgtmp_env(struct pv_pgtmp_opts *o)
{
    const char *cache = getenv("PGVOLLEY_INITDB_CACHE");
    if (cache && *cache)
        o->initdb_cache = cache;
}
