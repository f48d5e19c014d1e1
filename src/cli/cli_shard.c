/* cli_shard.c - `pgvolley run --shard I/N` and `--start-at TIME`: one of N
   disjoint parts of a run, started at an agreed wall-clock time, so that N
   machines run a workload together and `pgvolley merge` adds them up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_run.h"

#define SHARDS_MAX     10000           /* as the concurrency's limit */
#define START_AT_MAX_S (24.0 * 3600.0) /* --start-at at most a day away */

int cli_shard_parse(const char *arg, struct cli_run_opts *o)
{
    const char *slash = strchr(arg, '/');
    char index[32];
    long i = -1, n = 0;
    if (slash && (size_t)(slash - arg) < sizeof(index)) {
        memcpy(index, arg, (size_t)(slash - arg));
        index[slash - arg] = '\0';
        if (cli_parse_int(slash + 1, 1, SHARDS_MAX, &n) != 0 ||
            cli_parse_int(index, 0, SHARDS_MAX - 1, &i) != 0)
            i = -1;
    }
    if (i < 0 || i >= n)
        return cli_usage_error("run",
                               "--shard takes I/N: shard I (0-based) of N, 0 <= I < N <= %d, "
                               "not '%s'",
                               SHARDS_MAX, arg);
    o->shard_index = (int)i;
    o->shard_count = (int)n;
    return CLI_EXIT_OK;
}

int cli_start_at_parse(const char *arg, struct cli_run_opts *o)
{
    double t = -1;
    struct tm tm = {0};
    const char *end = strptime(arg, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end) {
        double frac = 0;
        if (*end == '.') { /* fractions of a second */
            char *e2;
            frac = strtod(end, &e2);
            end = e2;
        }
        if (strcmp(end, "Z") == 0)
            t = (double)timegm(&tm) + frac;
    } else if (cli_parse_seconds(arg, 0, 1e11, &t) != 0) {
        t = -1;
    }
    if (t < 0)
        return cli_usage_error("run",
                               "--start-at takes a UTC time like 2026-11-30T22:00:00Z or epoch "
                               "seconds, not '%s'",
                               arg);
    if (fabs(t - pv_wall_time()) > START_AT_MAX_S)
        return cli_usage_error("run", "--start-at %s is more than 24 hours away", arg);
    o->start_at = t;
    return CLI_EXIT_OK;
}

int cli_shard_check(const struct cli_run_opts *o)
{
    if (o->shard_count > 0 && (o->stages || o->ramp_up_s > 0))
        return cli_usage_error("run",
                               "--shard cannot be combined with %s yet (the shape's "
                               "targets are not divided)",
                               o->stages ? "--stages" : "--ramp-up");
    return CLI_EXIT_OK;
}

int cli_shard_workload(const struct cli_run_opts *o, pv_workload *wl)
{
    if (o->shard_count > 0 && o->duration_s <= 0)
        pv_workload_shard(wl, o->shard_index, o->shard_count);
    return CLI_EXIT_OK;
}

/* Shard i's part of total split over n: the remainder to the first shards. */
static int part(int total, int n, int i)
{
    return total / n + (i < total % n ? 1 : 0);
}

int cli_shard_config(const struct cli_run_opts *o, struct pv_run_config *cfg)
{
    cfg->start_at = o->start_at;
    if (o->shard_count <= 1)
        return CLI_EXIT_OK;
    if (cfg->rate > 0) /* --rate is the whole run's: each shard takes its share */
        cfg->rate /= o->shard_count;
    if (o->duration_s <= 0)
        return CLI_EXIT_OK; /* count-based: the executions are split, not the concurrency */
    int c = part(cfg->concurrency, o->shard_count, o->shard_index);
    if (c < 1)
        return cli_usage_error("run",
                               "--shard %d/%d of concurrency %d leaves this shard without a slot "
                               "(use at least as much concurrency as shards)",
                               o->shard_index, o->shard_count, cfg->concurrency);
    cfg->concurrency = c;
    return CLI_EXIT_OK;
}
