/* cmd_merge.c - `pgvolley merge`: JSON reports of the shards of a run (or
   of runs of one workload) combined exactly into one report. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "report/pv_report.h"
#include "report/pv_report_read.h"

static const char merge_help[] =
    "Usage: pgvolley merge [OPTIONS] REPORT.json REPORT.json ...\n"
    "\n"
    "Combines JSON reports of one workload (typically the N shards of a run, made\n"
    "with `pgvolley run --shard I/N -o shard-I.json`) into one report: every count\n"
    "is the sum of the reports', every latency histogram the merge of theirs (so\n"
    "percentiles are those of all executions together, never averages), errors are\n"
    "summed by SQLSTATE, wall time runs from the earliest start to the latest end\n"
    "and throughput follows from it; concurrency, threads and rate are summed, the\n"
    "other settings are the first report's.\n"
    "\n"
    "The reports must be single runs (not sweeps) of the same workload: the same\n"
    "queries (by name and SQL) with the same scenarios, the same mode and load\n"
    "model; and no shard may come twice.\n"
    "\n"
    "  -f, --format F   table (default), json or markdown, on stdout\n"
    "  -o, --output F   also write the merged JSON report to F (atomically)\n"
    "  -q, --quiet      no note on stderr (such as missing shards)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit codes: 0 merged and every execution succeeded, 1 merged and some failed,\n"
    "2 bad usage or bad input (a report that does not read, sweeps, different\n"
    "workloads), 4 internal error or the output cannot be written.\n";

static const struct option merge_options[] = {
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

enum merge_format { MERGE_TABLE, MERGE_JSON, MERGE_MARKDOWN };

/* No shard twice, one shard count (*count, 0 when none is a shard; *seen
   of them merged). @return an exit code. */
static int check_shards(pv_report_file *const *in, int n, int *count_out, int *seen_out)
{
    int count = 0, seen = 0;
    for (int i = 0; i < n; i++) {
        const struct pv_report *a = pv_report_file_report(in[i]);
        if (a->shard_count == 0)
            continue;
        if (count && a->shard_count != count) {
            cli_error("%s: shard %d/%d, but other reports are shards of %d",
                      pv_report_file_name(in[i]), a->shard_index, a->shard_count, count);
            return CLI_EXIT_USAGE;
        }
        count = a->shard_count;
        seen++;
        for (int k = 0; k < i; k++) {
            const struct pv_report *b = pv_report_file_report(in[k]);
            if (b->shard_count == a->shard_count && b->shard_index == a->shard_index) {
                cli_error("%s and %s are both shard %d/%d", pv_report_file_name(in[k]),
                          pv_report_file_name(in[i]), a->shard_index, a->shard_count);
                return CLI_EXIT_USAGE;
            }
        }
    }
    *count_out = count;
    *seen_out = seen;
    return CLI_EXIT_OK;
}

/* Renders the merged report on stdout and, as JSON, to output. */
static int write_merged(const struct pv_report *rep, enum merge_format format, const char *output)
{
    pv_buf out = PV_BUF_INIT;
    int rc = format == MERGE_JSON       ? pv_report_json(rep, &out)
             : format == MERGE_MARKDOWN ? pv_report_markdown(rep, &out)
                                        : pv_report_table(rep, &out);
    int code = rc == 0 ? cli_write_stdout(out.data, out.len) : CLI_EXIT_INTERNAL;
    if (rc != 0)
        cli_error("cannot render the report: %s", volley_strerror(rc));
    pv_buf_fini(&out);
    if (code != CLI_EXIT_OK || !output)
        return code;
    rc = pv_report_json(rep, &out);
    if (rc != 0 || cli_output_write(output, out.data, out.len) != 0) {
        cli_error("cannot write the report to %s: %s", output,
                  rc != 0 ? volley_strerror(rc) : strerror(errno));
        code = CLI_EXIT_INTERNAL;
    }
    pv_buf_fini(&out);
    return code;
}

int cmd_merge(int argc, char **argv)
{
    enum merge_format format = MERGE_TABLE;
    const char *output = NULL;
    bool quiet = false;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":f:ho:q", merge_options, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "json") == 0)
                format = MERGE_JSON;
            else if (strcmp(optarg, "markdown") == 0 || strcmp(optarg, "md") == 0)
                format = MERGE_MARKDOWN;
            else if (strcmp(optarg, "table") == 0)
                format = MERGE_TABLE;
            else
                return cli_usage_error("merge", "--format is table, json or markdown, not '%s'",
                                       optarg);
            break;
        case 'h': fputs(merge_help, stdout); return CLI_EXIT_OK;
        case 'o': output = optarg; break;
        case 'q': quiet = true; break;
        case ':': return cli_usage_error("merge", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("merge", "unknown option '%s'", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < 1)
        return cli_usage_error("merge", "give the JSON reports to merge");
    if (output && cli_output_check(output) != 0)
        return CLI_EXIT_USAGE;

    pv_report_file **in = calloc((size_t)n, sizeof(*in));
    if (!in) {
        cli_error("%s", volley_strerror(VOLLEY_ENOMEM));
        return CLI_EXIT_INTERNAL;
    }
    pv_err err = {{0}};
    int code = CLI_EXIT_OK;
    for (int i = 0; i < n && code == CLI_EXIT_OK; i++) {
        int rc = pv_report_read(argv[optind + i], &in[i], &err);
        if (rc != 0) {
            cli_error("%s", err.msg);
            code = rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
        }
    }
    int count = 0, seen = 0;
    if (code == CLI_EXIT_OK)
        code = check_shards(in, n, &count, &seen);
    for (int i = 1; i < n && code == CLI_EXIT_OK; i++) {
        int rc = pv_report_merge(in[0], in[i], &err);
        if (rc != 0) {
            cli_error("%s", err.msg);
            code = rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
        }
    }
    if (code == CLI_EXIT_OK) {
        const struct pv_report *rep = pv_report_file_report(in[0]);
        code = write_merged(rep, format, output);
        if (count && seen < count && !quiet)
            fprintf(stderr, "pgvolley merge: %d of the %d shards merged\n", seen, count);
        if (code == CLI_EXIT_OK && rep->runs[0]->total.failed > 0)
            code = CLI_EXIT_FAILED;
    }
    for (int i = 0; i < n; i++)
        pv_report_file_destroy(in[i]);
    free(in);
    return code;
}
