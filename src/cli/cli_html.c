/* cli_html.c - `--html FILE` (cli_html.h). */
#include "cli/cli_html.h"

#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "common/pv_buf.h"
#include "report/pv_report_html.h"

int cli_html_write(const char *path, const char *json_text, const char *title,
                   const char *compare_base, const char *compare_new)
{
    pv_buf page = PV_BUF_INIT;
    pv_err err = {{0}};
    int rc = compare_base || compare_new
                 ? pv_report_html_compare(json_text, compare_base, compare_new, title, &page, &err)
                 : pv_report_html(json_text, title, &page, &err);
    int code = CLI_EXIT_OK;
    if (rc != 0) {
        cli_error("cannot render the HTML report for %s: %s; %s was not written", path,
                  rc == VOLLEY_ENOMEM ? volley_strerror(rc) : err.msg, path);
        code = CLI_EXIT_INTERNAL;
    } else if (cli_output_write(path, page.data, page.len) != 0) {
        cli_error("cannot write the HTML report to %s: %s", path, strerror(errno));
        code = CLI_EXIT_INTERNAL;
    }
    pv_buf_fini(&page);
    return code;
}
