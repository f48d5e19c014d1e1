/*
 * pv_report_timeline.h - the `timeline` of a run in the JSON report
 * (docs/report-schema.md, "Timeline"); internal to src/report/.
 */
#ifndef PV_REPORT_TIMELINE_H
#define PV_REPORT_TIMELINE_H

#include <jansson.h>

#include "engine/pv_run.h"

/**
 * The run's timeline as a JSON object {"interval_s", "points": [...]}, a
 * new reference owned by the caller; NULL when out of memory. Its size is
 * bounded by the run's cap of kept points (about 300 bytes of text per
 * point and 150 per query in it).
 */
json_t *pv_report__timeline_json(const struct pv_run_result *run);

#endif /* PV_REPORT_TIMELINE_H */
