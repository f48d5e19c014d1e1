/* cli_prom.c - --prometheus FILE and --metrics-listen for `pgvolley run` (cli_prom.h). */
#include "cli/cli_prom.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pv_buf.h"
#include "report/pv_report_prom.h"
#include "web/pv_metrics_http.h"

#define LINGER_STEP_NS 100000000L /* a signal ends the linger within 0.1 s */

/* The running level: what the render callback needs to show it. */
static struct {
    pthread_mutex_t mu; /* guards what the server's thread reads: everything below */
    pv_metrics_http *http;
    double linger_s;
    bool sweep;
    bool quiet;
    bool have_target;
    struct pv_target_info target;
    const struct pv_run_result *done[CLI_MAX_LEVELS]; /* the levels that ended (borrowed) */
    size_t ndone;
    pv_run *cur;  /* the level running (borrowed); NULL between levels */
    pv_buf final; /* the final text, once the report was written */
    bool have_final;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the live view ---------------------------------------------------- */

/*
 * The running level as a result (the engine's snapshot: cumulative figures
 * as of the last interval boundary), with its gauges (read now). Called
 * with P.mu held. @return 0 or VOLLEY_ENOMEM.
 */
static int live_view(pv_run *run, struct pv_run_result **owned, const struct pv_run_result **res,
                     struct pv_prom_live *live)
{
    struct pv_progress p;
    pv_run_progress(run, &p);
    memset(live, 0, sizeof(*live));
    live->in_flight = p.in_flight;
    live->pool_open = p.pool_open;
    live->pool_in_use = p.pool_in_use;
    live->pool_waiting = p.pool_waiting;
    int rc = pv_run_snapshot(run, owned);
    *res = *owned;
    return rc;
}

/* The server's render callback: the final text once there is one, else
   the levels that ended and the running one. */
static int render(void *arg, pv_buf *out)
{
    (void)arg;
    pthread_mutex_lock(&P.mu);
    int rc = 0;
    if (P.have_final) {
        pv_buf_append(out, P.final.data, P.final.len);
    } else {
        const struct pv_run_result *runs[CLI_MAX_LEVELS + 1];
        memcpy(runs, P.done, P.ndone * sizeof(runs[0]));
        struct pv_report rep = {
            .target = P.have_target ? &P.target : NULL,
            .nruns = P.ndone,
            .runs = runs,
            .sweep = P.sweep,
        };
        struct pv_run_result *owned = NULL;
        struct pv_prom_live live, *livep = NULL;
        if (P.cur) {
            rc = live_view(P.cur, &owned, &runs[P.ndone], &live);
            if (rc == 0) {
                rep.nruns++;
                livep = &live;
            }
        }
        if (rc == 0)
            rc = pv_report_prom(&rep, livep, out);
        pv_run_result_free(owned);
    }
    pthread_mutex_unlock(&P.mu);
    return rc != 0 ? rc : pv_buf_ok(out);
}

/* ---- the steps of a run ------------------------------------------------ */

/* "ADDR:PORT" or "[IPv6]:PORT" -> host (in buf) and port. 0 or -1. */
static int parse_listen(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    long p;
    if (!colon || colon == s || cli_parse_int(colon + 1, 0, 65535, &p) != 0)
        return -1;
    const char *h;
    size_t len;
    if (cli_listen_host(s, colon, &h, &len) != 0 || len >= cap)
        return -1;
    memcpy(host, h, len);
    host[len] = '\0';
    *port = (int)p;
    return 0;
}

int cli_prom_start(const struct cli_run_opts *o)
{
    P.sweep = o->nlevels > 1;
    P.quiet = o->quiet;
    P.linger_s = o->metrics_linger_s;
    if (o->prometheus && cli_output_check(o->prometheus) != 0)
        return CLI_EXIT_USAGE;
    if (!o->metrics_listen) {
        if (o->metrics_linger_s > 0)
            return cli_usage_error("run", "--metrics-linger needs --metrics-listen");
        return CLI_EXIT_OK;
    }
    char host[256];
    int port;
    if (parse_listen(o->metrics_listen, host, sizeof(host), &port) != 0)
        return cli_usage_error("run",
                               "--metrics-listen takes ADDR:PORT (127.0.0.1:9187, "
                               "[::1]:9187, 0.0.0.0:9187), not '%s'",
                               o->metrics_listen);
    pv_err err = {{0}};
    int rc = pv_metrics_http_start(host, port, render, NULL, &P.http, &err);
    if (rc != 0) {
        if (rc == VOLLEY_ENOMEM) {
            cli_error("%s", volley_strerror(rc));
            return CLI_EXIT_INTERNAL;
        }
        return cli_usage_error("run", "--metrics-listen %s: %s", o->metrics_listen, err.msg);
    }
    if (!o->quiet) {
        bool v6 = strchr(host, ':') != NULL;
        fprintf(stderr, "pgvolley: metrics on http://%s%s%s:%d/metrics\n", v6 ? "[" : "", host,
                v6 ? "]" : "", pv_metrics_http_port(P.http));
    }
    return CLI_EXIT_OK;
}

void cli_prom_target(const struct pv_target_info *t)
{
    pthread_mutex_lock(&P.mu);
    P.target = *t;
    P.have_target = true;
    pthread_mutex_unlock(&P.mu);
}

void cli_prom_run_begin(pv_run *run)
{
    pthread_mutex_lock(&P.mu);
    P.cur = run;
    pthread_mutex_unlock(&P.mu);
}

void cli_prom_run_end(const struct pv_run_result *res)
{
    pthread_mutex_lock(&P.mu);
    P.cur = NULL;
    if (res && P.ndone < CLI_MAX_LEVELS)
        P.done[P.ndone++] = res;
    pthread_mutex_unlock(&P.mu);
}

int cli_prom_report(const struct cli_run_opts *o, const struct pv_report *rep)
{
    if (!o->prometheus && !P.http)
        return CLI_EXIT_OK;
    pv_buf text = PV_BUF_INIT;
    int rc = pv_report_prom(rep, NULL, &text);
    if (rc != 0) {
        cli_error("cannot render the Prometheus metrics: %s", volley_strerror(rc));
        pv_buf_fini(&text);
        return CLI_EXIT_INTERNAL;
    }
    int code = CLI_EXIT_OK;
    if (o->prometheus && cli_output_write(o->prometheus, text.data, text.len) != 0) {
        cli_error("cannot write the Prometheus metrics to %s: %s", o->prometheus, strerror(errno));
        code = CLI_EXIT_INTERNAL;
    }
    pthread_mutex_lock(&P.mu);
    pv_buf_fini(&P.final);
    P.final = text; /* owned by P from here */
    P.have_final = true;
    pthread_mutex_unlock(&P.mu);
    return code;
}

void cli_prom_forget(void)
{
    pthread_mutex_lock(&P.mu);
    P.cur = NULL;
    P.ndone = 0;
    pthread_mutex_unlock(&P.mu);
}

void cli_prom_stop(void)
{
    if (P.http && P.have_final && P.linger_s > 0 && !cli_signalled) {
        if (!P.quiet)
            fprintf(stderr,
                    "pgvolley: serving the final metrics for %g s more (--metrics-linger)\n",
                    P.linger_s);
        struct timespec step = {0, LINGER_STEP_NS};
        for (double t = 0; t < P.linger_s && !cli_signalled; t += 0.1)
            nanosleep(&step, NULL);
    }
    pv_metrics_http_stop(P.http);
    P.http = NULL;
    pthread_mutex_lock(&P.mu);
    pv_buf_fini(&P.final);
    P.have_final = false;
    pthread_mutex_unlock(&P.mu);
}
