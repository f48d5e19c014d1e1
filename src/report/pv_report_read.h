/*
 * pv_report_read.h - a JSON report ("pgvolley.report/1", single run or
 * sweep) read back into the model the writers take (struct pv_report with
 * its runs, target and workload description), histograms decoded from
 * their "histogram" strings (pv_hist_codec.h), so that pv_report_json,
 * pv_report_table and pv_report_markdown render it again; and the exact
 * merge of such reports (`pgvolley merge`).
 *
 * Unknown members are ignored (later versions add some); every member the
 * model needs must be there with its type, and the figures must hold the
 * identities of pv_stat.h (executions == succeeded + failed, a histogram
 * of `succeeded` values, errors adding up to `failed`).
 */
#ifndef PV_REPORT_READ_H
#define PV_REPORT_READ_H

#include <stddef.h>

#include "common/pv_common.h"
#include "report/pv_report.h"

typedef struct pv_report_file pv_report_file;

/**
 * Reads the report in path.
 * @param out receives the report (pv_report_file_destroy); NULL on error.
 * @return 0, VOLLEY_EIO (cannot read: err names the path), VOLLEY_EINPUT
 *         (err says "PATH: where: what", or "PATH:LINE:COL: ..." for JSON
 *         that does not parse) or VOLLEY_ENOMEM.
 */
int pv_report_read(const char *path, pv_report_file **out, pv_err *err);

/** As pv_report_read, from text[0, len); name is used in messages. */
int pv_report_read_text(const char *name, const char *text, size_t len, pv_report_file **out,
                        pv_err *err);

/** Frees f and all it owns; NULL is a no-op. */
void pv_report_file_destroy(pv_report_file *f);

/** The report, for the writers; borrowed, valid until f is destroyed. */
const struct pv_report *pv_report_file_report(const pv_report_file *f);

/** The name f was read under (its path). Borrowed. */
const char *pv_report_file_name(const pv_report_file *f);

/**
 * Adds src into dst: the reports must be single runs of the same workload
 * (the same queries by name and SQL, with the same scenarios and
 * statements, the same mode and load model). Every count is summed, every
 * histogram merged (so percentiles are those of the merged histogram),
 * errors summed by SQLSTATE, concurrency, threads and rate summed (the
 * shards of a run split them), the time span joined: wall_s runs from the
 * earliest start of the counted window to the latest end, and qps follows.
 * dst's shard is dropped; its other settings stay.
 * @return 0, VOLLEY_EINPUT (err: "FILE: why", naming src's file, and dst
 *         unchanged) or VOLLEY_ENOMEM (dst is then partly merged: discard it).
 */
int pv_report_merge(pv_report_file *dst, const pv_report_file *src, pv_err *err);

#endif /* PV_REPORT_READ_H */
