/*
 * pv_report_multi.h - the writers of a multi-query result (`pgvolley multi`
 * and the MCP tools execute_multi_query, query_dataset, get_sample): seed
 * 003's Markdown layout and the JSON result.
 *
 * Like every writer they never print: Markdown is appended to a pv_buf,
 * JSON is handed back as a jansson tree. The request, the results and the
 * datasets are borrowed.
 */
#ifndef PV_REPORT_MULTI_H
#define PV_REPORT_MULTI_H

#include <jansson.h>

#include "common/pv_buf.h"
#include "multi/pv_batch.h"
#include "multi/pv_datasets.h"
#include "multi/pv_multi.h"

/* Longest label or column name, and longest cell, in a Markdown table (bytes). */
#define PV_REPORT_NAME_MAX 200
#define PV_REPORT_CELL_MAX 500

/**
 * Appends the rows of r as a Markdown table (header, separator, a line per
 * row; cells as pv_render_md_cell, cut at PV_REPORT_CELL_MAX bytes).
 * Nothing when r has no column. Check pv_buf_ok(out) afterwards.
 */
void pv_report_result_table(pv_buf *out, const struct pv_bresult *r);

/**
 * Seed 003's Markdown layout: "# Multi-Query Results", totals, successes,
 * failures, total time, then a section per query ("## 1. Label", rows and
 * time and dataset, the rows as a table or the error with SQLSTATE and the
 * query). Cells are written by pv_render_md_cell (SQL NULL is "_NULL_").
 * res has req->n entries, in request order.
 * @return 0 or VOLLEY_ENOMEM.
 */
int pv_report_multi_markdown(const struct pv_multi_request *req, const struct pv_bresult *res,
                             const pv_datasets *ds, double wall_ms, pv_buf *out);

/**
 * {"total","succeeded","failed","wall_ms","results":[{"label","dataset","ok",
 * "columns","types","rows","row_count","truncated","ms",
 * "error":{"sqlstate","message"}}]} in input order ("error" is null when
 * ok; rows are arrays of strings, null for SQL NULL). Text that is not
 * UTF-8 (a SQL_ASCII database) is repaired by pv_render_json_str.
 * @return a new reference, or NULL when out of memory.
 */
json_t *pv_report_multi_json(const struct pv_multi_request *req, const struct pv_bresult *res,
                             const pv_datasets *ds, double wall_ms);

#endif /* PV_REPORT_MULTI_H */
