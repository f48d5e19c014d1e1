/*
 * pv_report_timeline.h - the `timeline` of a run in the JSON report
 * (docs/report-schema.md, "Timeline"); internal to src/report/.
 */
#ifndef PV_REPORT_TIMELINE_H
#define PV_REPORT_TIMELINE_H

#include <jansson.h>

#include "engine/pv_run.h"

/**
 * One point of the run's timeline as a JSON object (the report writes them
 * one at a time: memory for one point's tree, about 300 bytes of text plus
 * 250 per query), a new reference owned by the caller; NULL when out of
 * memory.
 */
json_t *pv_report__timeline_point_json(const struct pv_run_result *run,
                                       const struct pv_tl_point *p);

#endif /* PV_REPORT_TIMELINE_H */
