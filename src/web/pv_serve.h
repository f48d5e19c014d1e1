/*
 * pv_serve.h - the HTTP server of `pgvolley serve` (issue 13): the JSON API
 * over the run history (pv_history.h), a run manager that queues and runs
 * the runs, and their event streams (docs/serve.md; the OpenAPI document at
 * GET /api/openapi.json).
 *
 * src/web knows neither DSNs nor how a run is checked and executed: the
 * caller gives a runner (struct pv_serve_runner), which cmd_serve.c
 * implements with the CLI's own code, so a request is validated with the
 * very code and messages of `pgvolley run`. The server keeps the targets'
 * names, descriptions and limits only.
 *
 * Threads: libmicrohttpd serves each connection on a thread of its own (an
 * event stream blocks its thread while it waits); each run executes on a
 * thread of its own; at most max_runs at once, the others wait queued in
 * creation order.
 */
#ifndef PV_SERVE_H
#define PV_SERVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "common/pv_common.h"
#include "web/pv_history.h"

/* The largest max_concurrency a target may have (seed 000's 1..1000). */
#define PV_SERVE_MAX_CONCURRENCY 1000

/* A target as the API shows it (the DSN stays with the runner). */
struct pv_serve_target {
    const char *name;
    const char *description;
    int max_concurrency; /* the largest concurrency a run may ask for */
};

/* What a running job reports; called on the job's thread. */
struct pv_serve_sink {
    void *ctx;
    /* A finished timeline point: seq 0, 1, ... over the whole run (all its
       levels); json is one point object of the report's "timeline" (plus
       "concurrency"), borrowed for the call. */
    void (*point)(void *ctx, int64_t seq, const char *json);
    /* Live figures (a JSON object's text, borrowed), about once a second. */
    void (*progress)(void *ctx, const char *json);
};

/* How a job ended (execute fills it; zeroed before the call). */
struct pv_serve_outcome {
    enum pv_history_state state; /* FINISHED, FAILED or CANCELLED */
    char *report_json;           /* malloc'd JSON report, or NULL (the server frees it) */
    bool has_summary;
    struct pv_history_summary summary;
    int exit_code;            /* as `pgvolley run` would exit */
    char message[PV_ERR_LEN]; /* why it failed; "" otherwise */
};

/* Status codes prepare returns besides 200. */
#define PV_SERVE_BAD_REQUEST 400
#define PV_SERVE_INTERNAL    500

struct pv_serve_runner {
    void *arg;
    const struct pv_serve_target *targets; /* borrowed until pv_serve_stop */
    size_t ntargets;
    /*
     * Checks a run request (the POST /api/runs body; "target" names one of
     * targets and is within its limits... the runner checks the rest) and
     * prepares it: 200 with *job set (to free_job), else
     * PV_SERVE_BAD_REQUEST or PV_SERVE_INTERNAL with the message in msg
     * (for a bad workload file "FILE:LINE:COL: what"). May be called from
     * several threads at once.
     */
    int (*prepare)(void *arg, const json_t *req, const struct pv_serve_target *target, void **job,
                   pv_buf *msg);
    /* Runs job to its end on the calling thread, reporting to sink. */
    void (*execute)(void *arg, void *job, const struct pv_serve_sink *sink,
                    struct pv_serve_outcome *out);
    /* Asks a job that execute is running to stop (its report is kept, as
       after Ctrl-C). Any thread; may come before execute started. */
    void (*cancel)(void *arg, void *job);
    void (*free_job)(void *arg, void *job);
    /* What a prepared job would run (POST /api/preview): its files'
       queries, scenarios and execution counts, and each level's engine
       settings (the pool as sized by default). A new reference; NULL when
       out of memory. */
    json_t *(*preview)(void *arg, void *job);
    /* The workload directory's files: {"files": [{"name", "size"}]} (an
       empty list without one); a new reference, NULL when out of memory. */
    json_t *(*workload_files)(void *arg);
};

struct pv_serve_opts {
    const char *host;    /* numeric IPv4 or IPv6 address */
    int port;            /* 0: any free port (pv_serve_port) */
    const char *token;   /* bearer token, or NULL: none (refused beyond loopback) */
    size_t max_body;     /* request bodies above it get 413; 0 = 4 MiB */
    int max_runs;        /* runs at once (others queue); 0 = 1 */
    int max_connections; /* 0 = 64 */
    pv_history *history; /* borrowed */
    const struct pv_serve_runner *runner; /* borrowed */
};

typedef struct pv_serve pv_serve;

/**
 * Binds host:port and starts serving.
 * @return 0; VOLLEY_EINVAL (host not numeric; beyond loopback without a
 *         token), VOLLEY_EIO (cannot bind: err says why), VOLLEY_ENOMEM.
 */
int pv_serve_start(const struct pv_serve_opts *o, pv_serve **out, pv_err *err);

/** The port it listens on. */
int pv_serve_port(const pv_serve *s);

/** Whether it listens on a loopback address. */
bool pv_serve_loopback(const pv_serve *s);

/**
 * Stops: no new connection; queued runs end interrupted, running ones are
 * cancelled and end interrupted (their reports so far kept); event streams
 * end; waits for all of it, then frees s. NULL is a no-op.
 */
void pv_serve_stop(pv_serve *s);

#endif /* PV_SERVE_H */
