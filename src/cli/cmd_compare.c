/* cmd_compare.c - `pgvolley compare BASE.json NEW.json`: a baseline gate (pv_compare.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_html.h"
#include "common/pv_buf.h"
#include "report/pv_compare.h"

static const char compare_help[] =
    "Usage: pgvolley compare [OPTIONS] BASE.json NEW.json\n"
    "\n"
    "Compares two JSON reports of `pgvolley run -o`: per query (matched by name) and\n"
    "overall, the change of throughput (qps) and of latency avg, p50, p95, p99 and\n"
    "max; a sweep level by level (matched by concurrency). A regression is throughput\n"
    "down, or a latency up, by more than --max-regression. When both reports carry\n"
    "a timeline, a difference within the run-to-run noise seen in its intervals\n"
    "(2 standard errors, Welch) is \"within noise\", not a regression. max is\n"
    "shown, never gated (one slow execution moves it).\n"
    "\n"
    "Options:\n"
    "      --max-regression PCT  the limit, in percent (default 10)\n"
    "  -f, --format F            table (default), markdown (a table for a pull-request\n"
    "                            comment) or json\n"
    "      --html FILE           also write the comparison as one self-contained HTML\n"
    "                            page: the rows with their verdicts, and both reports\n"
    "                            (their latency spectra drawn together)\n"
    "  -h, --help                show this help\n"
    "\n"
    "Exit codes: 0 no regression, 1 a regression, 2 bad usage or input.\n";

enum { OPT_MAX_REGRESSION = 256, OPT_HTML };

static const struct option compare_options[] = {
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"html", required_argument, NULL, OPT_HTML},
    {"max-regression", required_argument, NULL, OPT_MAX_REGRESSION},
    {NULL, 0, NULL, 0},
};

/* --html FILE: the compare JSON with both reports beside it (read again:
   pv_compare keeps only its figures). @return an exit code. */
static int write_html(const pv_compare *c, const char *html, const char *base, const char *new_)
{
    pv_buf json = PV_BUF_INIT, a = PV_BUF_INIT, b = PV_BUF_INIT;
    pv_err err = {{0}};
    int code = CLI_EXIT_INTERNAL;
    if (pv_compare_write(c, PV_COMPARE_JSON, &json) != 0)
        cli_error("cannot render the comparison for %s: %s", html, volley_strerror(VOLLEY_ENOMEM));
    else if (pv_buf_read_file(&a, base, &err) != 0 || pv_buf_read_file(&b, new_, &err) != 0)
        cli_error("%s; %s was not written", err.msg, html);
    else {
        char title[512];
        const char *b1 = strrchr(base, '/'), *b2 = strrchr(new_, '/');
        snprintf(title, sizeof(title), "pgvolley compare: %s vs %s", b1 ? b1 + 1 : base,
                 b2 ? b2 + 1 : new_);
        code = cli_html_write(html, pv_buf_str(&json), title, pv_buf_str(&a), pv_buf_str(&b));
    }
    pv_buf_fini(&json);
    pv_buf_fini(&a);
    pv_buf_fini(&b);
    return code;
}

int cmd_compare(int argc, char **argv)
{
    enum pv_compare_format format = PV_COMPARE_TABLE;
    double max_pct = PV_COMPARE_DEFAULT_PCT;
    const char *html = NULL; /* --html FILE */
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":f:h", compare_options, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "table") == 0)
                format = PV_COMPARE_TABLE;
            else if (strcmp(optarg, "markdown") == 0 || strcmp(optarg, "md") == 0)
                format = PV_COMPARE_MARKDOWN;
            else if (strcmp(optarg, "json") == 0)
                format = PV_COMPARE_JSON;
            else
                return cli_usage_error("compare", "--format is table, markdown or json, not '%s'",
                                       optarg);
            break;
        case 'h': fputs(compare_help, stdout); return CLI_EXIT_OK;
        case OPT_HTML: html = optarg; break;
        case OPT_MAX_REGRESSION:
            if (cli_parse_seconds(optarg, 0, 1e6, &max_pct) != 0)
                return cli_usage_error("compare",
                                       "--max-regression takes a percentage from 0 to 1000000, "
                                       "not '%s'",
                                       optarg);
            break;
        case ':': return cli_usage_error("compare", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("compare", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("compare", "two reports are needed: BASE.json NEW.json");
    if (html && cli_output_check(html) != 0)
        return CLI_EXIT_USAGE;

    pv_err err = {{0}};
    pv_compare *c = NULL;
    int rc = pv_compare_files(argv[optind], argv[optind + 1], max_pct, &c, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
        return rc == VOLLEY_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
    }
    pv_buf out = PV_BUF_INIT;
    rc = pv_compare_write(c, format, &out);
    int code = rc == 0 ? cli_write_stdout(out.data, out.len) : CLI_EXIT_INTERNAL;
    if (rc != 0)
        cli_error("%s", volley_strerror(rc));
    pv_buf_fini(&out);
    if (rc == 0 && html) {
        int hcode = write_html(c, html, argv[optind], argv[optind + 1]);
        if (code == CLI_EXIT_OK)
            code = hcode;
    }
    if (code == CLI_EXIT_OK && pv_compare_regressions(c) > 0)
        code = CLI_EXIT_FAILED;
    pv_compare_destroy(c);
    return code;
}
