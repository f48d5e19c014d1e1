/* pv_multi.c - the multi-query request: validation against the datasets. */
#include "multi/pv_multi.h"

#include <stdlib.h>
#include <string.h>

int pv_multi_request_parse(json_t *root, const pv_datasets *ds, size_t max_queries,
                           struct pv_multi_request *out, pv_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *qs = json_is_object(root) ? json_object_get(root, "queries") : NULL;
    if (!json_is_array(qs))
        return pv_err_set(err, VOLLEY_EINPUT, "the request needs a \"queries\" array");
    size_t n = json_array_size(qs);
    if (n == 0)
        return pv_err_set(err, VOLLEY_EINPUT, "\"queries\" is empty");
    if (n > max_queries)
        return pv_err_set(err, VOLLEY_EINPUT, "%zu queries; at most %zu in one call", n,
                          max_queries);
    size_t nds = pv_datasets_count(ds);
    struct pv_bquery *q = calloc(n, sizeof(*q));
    if (!q)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(qs, i);
        int rc = VOLLEY_EINPUT;
        if (!json_is_object(o)) {
            pv_err_set(err, rc, "queries[%zu]: not an object", i);
            goto fail;
        }
        json_t *sql = json_object_get(o, "query");
        if (!json_is_string(sql) || json_string_length(sql) == 0) {
            pv_err_set(err, rc, "queries[%zu]: \"query\" must be a non-empty string", i);
            goto fail;
        }
        if (strlen(json_string_value(sql)) != json_string_length(sql)) {
            pv_err_set(err, rc, "queries[%zu]: \"query\" contains a NUL character", i);
            goto fail;
        }
        json_t *label = json_object_get(o, "label");
        if (label && !json_is_string(label) && !json_is_null(label)) {
            pv_err_set(err, rc, "queries[%zu]: \"label\" must be a string", i);
            goto fail;
        }
        json_t *dname = json_object_get(o, "dataset");
        json_t *did = json_object_get(o, "dataset_id");
        int idx = -1;
        if (dname && !json_is_null(dname)) {
            if (!json_is_string(dname)) {
                pv_err_set(err, rc, "queries[%zu]: \"dataset\" must be a dataset name", i);
                goto fail;
            }
            idx = pv_datasets_index(ds, json_string_value(dname));
            if (idx < 0) {
                pv_err_set(err, rc, "queries[%zu]: unknown dataset '%.64s'", i,
                           json_string_value(dname));
                goto fail;
            }
        } else if (did && !json_is_null(did)) {
            if (!json_is_integer(did) || json_integer_value(did) < 1 ||
                (size_t)json_integer_value(did) > nds) {
                pv_err_set(err, rc, "queries[%zu]: \"dataset_id\" must be 1..%zu", i, nds);
                goto fail;
            }
            idx = (int)json_integer_value(did) - 1;
        } else if (nds == 1) {
            idx = 0;
        } else {
            pv_err_set(err, rc, "queries[%zu]: no \"dataset\" given and there are %zu datasets", i,
                       nds);
            goto fail;
        }
        q[i].dataset = idx;
        q[i].sql = json_string_value(sql);
        q[i].label = json_is_string(label) ? json_string_value(label) : NULL;
    }
    out->n = n;
    out->queries = q;
    out->json = json_incref(root);
    return 0;
fail:
    free(q);
    return VOLLEY_EINPUT;
}

void pv_multi_request_fini(struct pv_multi_request *r)
{
    free(r->queries);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}
