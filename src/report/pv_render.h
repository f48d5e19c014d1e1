/*
 * pv_render.h - the small pieces every writer shares: a Markdown table
 * cell, a fenced code block, a JSON string from text that need not be
 * UTF-8, the order of errors and the speedup figure.
 *
 * This is the one place where these are written. The report writers
 * (pv_report_table, pv_report_json, pv_report_multi) and the MCP tools
 * call it; nothing below the report area may (the layering runs
 * cli -> mcp -> report -> multi -> engine -> stats -> common).
 *
 * Markdown writers append to a pv_buf and never fail on their own: a
 * failed allocation is remembered by the buffer (check it once with
 * pv_buf_ok).
 */
#ifndef PV_RENDER_H
#define PV_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pv_buf.h"
#include "stats/pv_stat.h"

/*
 * SQL NULL in a Markdown cell: italic, so that it differs from the text
 * 'NULL'. Underscores, as every other italic note of the writers
 * ("_No columns._", "_Truncated ..._").
 */
#define PV_RENDER_NULL "_NULL_"

/**
 * Appends s as the text of one Markdown table cell: NULL as PV_RENDER_NULL;
 * CR, LF and TAB as a space (a cell is one line); '|' as "\|". Every other
 * byte is kept as it is. With max > 0 at most max bytes of s are kept, cut
 * before a UTF-8 sequence that would not fit whole, then "..." is appended;
 * max == 0 keeps everything. s is borrowed.
 */
void pv_render_md_cell(pv_buf *o, const char *s, size_t max);

/**
 * Appends s as a fenced code block ("```lang", s, "```", each on its own
 * line); the fence is one backtick longer than the longest run of
 * backticks in s (at least three), so the text cannot close it. lang may
 * be "" (no info string). s and lang are borrowed.
 */
void pv_render_md_code(pv_buf *o, const char *lang, const char *s);

/**
 * A JSON string of the n bytes at s. JSON strings are UTF-8, but server
 * messages, file names and cell values need not be: each byte that does
 * not start a well-formed UTF-8 sequence, and each NUL byte, becomes
 * U+FFFD instead of losing the text (jansson refuses invalid UTF-8).
 * @return a new reference, or NULL when out of memory.
 */
json_t *pv_render_json_strn(const char *s, size_t n);

/** pv_render_json_strn over strlen(s); NULL gives "". @return as there. */
json_t *pv_render_json_str(const char *s);

/**
 * The order errors are shown in: by count, descending, then by SQLSTATE.
 * @return < 0 when a comes first, > 0 when b does, 0 when they are equal.
 */
int pv_render_errstat_cmp(const struct pv_errstat *a, const struct pv_errstat *b);

/**
 * The errors of s in pv_render_errstat_cmp order, without touching s: *out
 * is a new array of s->nerrors pointers into s->errors (free it with
 * free(); the pointers are borrowed from s), or NULL when there are none.
 * @return 0 or VOLLEY_ENOMEM (*out is then NULL).
 */
int pv_render_errors_sorted(const struct pv_stat *s, const struct pv_errstat ***out);

/**
 * Seed 001's speedup: the sum of the executions' latencies (sum_ns, in ns)
 * over the wall time (wall_s, in s). 0 when wall_s is not a positive
 * finite number or the quotient overflows: never nan or inf, which no
 * writer may show.
 */
double pv_render_speedup(uint64_t sum_ns, double wall_s);

#endif /* PV_RENDER_H */
