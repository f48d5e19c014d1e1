/*
 * pv_report_html.h - one self-contained HTML page for a pgvolley JSON
 * document (`--html FILE` of run, suite and compare).
 *
 * The page opens with no network access: the charting library (uPlot,
 * web/vendor/uplot/), the page's own JavaScript and CSS (web/report/) are
 * embedded into the binary at build time and written inline, and a
 * Content-Security-Policy forbids every fetch. The document is embedded as
 * JSON in a <script type="application/json"> element, with every '<', '>'
 * and '&' written as a \u escape, so no text of the report (user SQL,
 * server messages) can close the element or start markup; the page's
 * script puts text into the page only as text nodes. Before embedding,
 * each pvh1 histogram of a "latency_ms" object (docs/report-schema.md) is
 * decoded into a percentile spectrum (member "spectrum": {"pct": [...],
 * "ms": [...]}, percentiles 0, 100 (1 - 2^(-k/5)) while at least one value
 * lies beyond, then 100: the max), and every "histogram" member is dropped.
 * docs/html-report.md describes the page.
 */
#ifndef PV_REPORT_HTML_H
#define PV_REPORT_HTML_H

#include "common/pv_buf.h"
#include "common/pv_common.h"

/**
 * Writes one self-contained HTML page for any pgvolley JSON document: a run
 * report (single run, sweep, or suite: top-level "suite") or a compare
 * result (pgvolley.compare/1), appended to out.
 * @param json_text the document as the JSON writer produced it (NUL-terminated)
 * @param title shown as the page's title (HTML-escaped); NULL: "pgvolley report"
 * @return 0, VOLLEY_ENOMEM, or VOLLEY_EINVAL with err set (not JSON, or not
 *         a pgvolley document); out may then hold part of a page.
 */
int pv_report_html(const char *json_text, const char *title, pv_buf *out, pv_err *err);

/**
 * As pv_report_html for a compare result, with the two reports compared
 * embedded beside it (member "reports": {"base": ..., "new": ...}) so that
 * the page draws both spectra. base_text or new_text NULL, or not a
 * pgvolley report: that report is left out (the rows are still shown).
 * @return as pv_report_html (VOLLEY_EINVAL: compare_text is not a
 *         pgvolley.compare/1 document).
 */
int pv_report_html_compare(const char *compare_text, const char *base_text, const char *new_text,
                           const char *title, pv_buf *out, pv_err *err);

#endif /* PV_REPORT_HTML_H */
