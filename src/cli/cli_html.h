/*
 * cli_html.h - `--html FILE` of run, suite and compare: the self-contained
 * HTML page of a JSON document (report/pv_report_html.h), written as the
 * other report files are (cli_output_write: atomically for a regular file).
 */
#ifndef PV_CLI_HTML_H
#define PV_CLI_HTML_H

/**
 * Renders json_text (a pgvolley report or compare document) as a page
 * titled title and writes it to path. Prints its error, naming path.
 * compare_base/compare_new: for a compare document, the texts of the two
 * reports to embed beside it (NULL: none; see pv_report_html_compare).
 * @return CLI_EXIT_OK or CLI_EXIT_INTERNAL.
 */
int cli_html_write(const char *path, const char *json_text, const char *title,
                   const char *compare_base, const char *compare_new);

#endif /* PV_CLI_HTML_H */
