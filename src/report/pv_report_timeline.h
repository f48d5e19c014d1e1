/*
 * pv_report_timeline.h - the `timeline` of a run in the JSON report
 * (docs/report-schema.md, "Timeline"), and the JSON number helpers it
 * shares with pv_report_json.c; internal to src/report/.
 */
#ifndef PV_REPORT_TIMELINE_H
#define PV_REPORT_TIMELINE_H

#include <jansson.h>

#include <math.h>
#include <stdint.h>

#include "engine/pv_run.h"

/* JSON numbers of the report (pv_report_json.c, pv_report_timeline.c): a
   figure that is not finite is written 0; a count beyond INT64_MAX is
   clamped to it. New references; NULL when out of memory. */
static inline json_t *pv_report__jreal(double d)
{
    return json_real(isfinite(d) ? d : 0.0);
}

static inline json_t *pv_report__jcount(uint64_t n)
{
    return json_integer(n > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)n);
}

/**
 * One point of the run's timeline as a JSON object (the report writes them
 * one at a time: memory for one point's tree, about 300 bytes of text plus
 * 250 per query), a new reference owned by the caller; NULL when out of
 * memory.
 */
json_t *pv_report__timeline_point_json(const struct pv_run_result *run,
                                       const struct pv_tl_point *p);

#endif /* PV_REPORT_TIMELINE_H */
