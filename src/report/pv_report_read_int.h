/*
 * pv_report_read_int.h - the report read back, shared by its two files:
 *   pv_report_read.c   JSON -> model (pv_report_read.h)
 *   pv_report_merge.c  the exact merge of two models (pv_report_merge)
 * Included only by them.
 */
#ifndef PV_REPORT_READ_INT_H
#define PV_REPORT_READ_INT_H

#include "engine/pv_run.h"
#include "engine/pv_target.h"
#include "report/pv_report.h"
#include "report/pv_report_read.h"

/* One run of a report and the workload description its result borrows. */
struct pv_report__run {
    struct pv_run_result res;
    struct pv_query *queries;     /* res.nqueries, each with its scenarios and steps (owned) */
    pv_shape *shape;              /* res.shape, owned */
    char mode[8];                 /* config.mode: "count" or "time" */
    int shard_index, shard_count; /* config.shard; count 0 when absent */
};

struct pv_report_file {
    char *name;
    struct pv_target_info target;
    struct pv_report rep; /* rep.target: &target or NULL; rep.runs: runp */
    size_t nruns;
    struct pv_report__run *runs;
    const struct pv_run_result **runp;
};

#endif /* PV_REPORT_READ_INT_H */
