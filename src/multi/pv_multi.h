/*
 * pv_multi.h - the multi-query request, shared by `pgvolley multi` and the
 * MCP tool execute_multi_query. Its results are written by the report area
 * (report/pv_report_multi.h).
 *
 * Request (JSON): {"queries": [{"dataset": "sales", "query": "SELECT ...",
 * "label": "Top cities"}, ...]}. "dataset" is a name; seed 003's
 * "dataset_id" (1-based position in the datasets file) is accepted too; a
 * query without either goes to the only dataset when there is exactly one.
 */
#ifndef PV_MULTI_H
#define PV_MULTI_H

#include <jansson.h>
#include <stddef.h>

#include "common/pv_buf.h"
#include "multi/pv_batch.h"

#define PV_MULTI_MAX_QUERIES     30
#define PV_MULTI_MAX_CONCURRENCY 10

/* A validated request: queries ready for pv_batch_submit. */
struct pv_multi_request {
    size_t n;
    struct pv_bquery *queries; /* sql/label point into the owned JSON */
    json_t *json;              /* owned */
};

/**
 * Validates a request (already parsed JSON; a reference is taken).
 * Errors: no "queries" array, empty, more than max_queries, a query that is
 * not an object, missing or empty "query", "dataset" not a string /
 * "dataset_id" not an integer, unknown dataset, no dataset given while there
 * are several - each with the query's position ("queries[3]: ...").
 * @return 0, VOLLEY_EINPUT or VOLLEY_ENOMEM.
 */
int pv_multi_request_parse(json_t *root, const pv_datasets *ds, size_t max_queries,
                           struct pv_multi_request *out, pv_err *err);
void pv_multi_request_fini(struct pv_multi_request *r);

#endif /* PV_MULTI_H */
