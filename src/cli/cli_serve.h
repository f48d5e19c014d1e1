/*
 * cli_serve.h - `pgvolley serve` (cmd_serve.c) and its runner
 * (cli_serve_runner.c): what web/pv_serve.h's runner callbacks see.
 */
#ifndef PV_CLI_SERVE_H
#define PV_CLI_SERVE_H

#include "cli/cli.h"
#include "multi/pv_datasets.h"
#include "web/pv_serve.h"

/* The runner's state: the targets with their DSNs (never shown). */
struct cli_serve {
    const char *workload_dir;  /* --workload-dir, or NULL */
    pv_datasets *datasets;     /* --targets, or NULL */
    const char *ephemeral_dsn; /* --ephemeral: the throwaway server's conninfo, or NULL */
    struct pv_serve_target *targets;
    size_t ntargets;
};

/* The name of the --ephemeral target. */
#define CLI_SERVE_EPHEMERAL "ephemeral"

/* The DSN of target name (borrowed), or NULL. */
const char *cli_serve__dsn(const struct cli_serve *sv, const char *name);

/* The pv_serve_runner callbacks (arg: the struct cli_serve). */
int cli_serve__prepare(void *arg, const json_t *req, const struct pv_serve_target *t, void **job,
                       pv_buf *msg);
void cli_serve__execute(void *arg, void *job, const struct pv_serve_sink *sink,
                        struct pv_serve_outcome *out);
void cli_serve__cancel(void *arg, void *job);
void cli_serve__free_job(void *arg, void *job);
json_t *cli_serve__preview(void *arg, void *job);
json_t *cli_serve__workload_files(void *arg);

#endif /* PV_CLI_SERVE_H */
