/* pv_workload_params.c - a PARAMETERS header (or its absence) into the query's scenarios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/pv_workload_int.h"

void pv_workload__scenario_fini(struct pv_scenario *sc)
{
    if (sc->values) {
        for (int i = 0; i < sc->nparams; i++)
            free(sc->values[i]);
    }
    free(sc->values);
    free(sc->name);
    free(sc->params_json);
    pv_workload__source_free(sc->source);
}

static int scenario_init(struct pv_scenario *sc, size_t index, int nparams, uint64_t exec_count)
{
    char name[32];
    snprintf(name, sizeof(name), "scenario_%zu", index + 1);
    sc->name = strdup(name);
    sc->nparams = nparams;
    sc->exec_count = exec_count;
    if (nparams > 0)
        sc->values = calloc((size_t)nparams, sizeof(*sc->values));
    return sc->name && (nparams == 0 || sc->values) ? 0 : VOLLEY_ENOMEM;
}

/* One parameter set (a JSON array of nparams values) into sc. */
static int fill_scenario(const struct file *f, struct conv *cv, const json_t *set,
                         const struct span *at, size_t base, struct pv_scenario *sc)
{
    for (int i = 0; i < sc->nparams; i++) {
        int rc = pv_workload__value_text(cv, json_array_get(set, (size_t)i), &sc->values[i]);
        if (rc == PV_WORKLOAD_OUT_OF_STEP)
            return pv_workload__fail_at(f, base + at->start,
                                        "cannot convert this parameter set (a bug)");
        if (rc != 0)
            return pv_workload__oom(f);
    }
    sc->params_json = pv_workload__compact_json(cv->json + at->start, at->end - at->start);
    return sc->params_json ? 0 : pv_workload__oom(f);
}

/* Validates the PARAMETERS header and fills q->scenarios. */
int pv_workload__load_params(const struct file *f, const struct header *h, struct pv_query *q)
{
    const char *j = f->text + h->value;
    size_t n = h->value_end - h->value;
    int max_depth = f->w->opts.max_json_depth;
    struct prescan ps = {0};
    json_t *root = NULL;
    size_t deep_at = 0;
    int rc = pv_workload__prescan_json(j, n, max_depth, &ps, &deep_at);
    if (rc == PV_WORKLOAD_TOO_DEEP) {
        rc = pv_workload__fail_at(f, h->value + deep_at,
                                  "PARAMETERS is nested more than %d levels deep", max_depth);
        goto out;
    }
    if (rc != 0) {
        rc = pv_workload__oom(f);
        goto out;
    }

    json_error_t je;
    root = json_loadb(j, n, JSON_DECODE_INT_AS_REAL, &je);
    if (!root) {
        rc = pv_workload__fail_at(f, h->value + pv_workload__json_error_offset(j, n, &je),
                                  "invalid JSON in PARAMETERS: %s", pv_json_message(je.text));
        goto out;
    }
    size_t first = h->value + pv_workload__skip_json_space(j, 0, n);
    if (!json_is_array(root)) {
        rc = pv_workload__fail_at(
            f, first, "PARAMETERS must be a JSON array of parameter sets, like [[1, \"a\"]]");
        goto out;
    }
    size_t nsets = json_array_size(root);
    if (nsets == 0) {
        rc = pv_workload__fail_at(f, first, "PARAMETERS holds no parameter set");
        goto out;
    }
    if (ps.nsets != nsets) {
        rc = pv_workload__fail_at(f, first, "cannot split PARAMETERS into parameter sets (a bug)");
        goto out;
    }
    for (size_t i = 0; i < nsets; i++) {
        const json_t *set = json_array_get(root, i);
        size_t at = h->value + ps.sets[i].start;
        if (!json_is_array(set)) {
            rc = pv_workload__fail_at(f, at, "parameter set %zu is not a JSON array", i + 1);
            goto out;
        }
        size_t nv = json_array_size(set);
        if (nv != (size_t)q->nparams) {
            rc = pv_workload__fail_at(
                f, at, "parameter set %zu has %zu value%s but the query has %d placeholder%s",
                i + 1, nv, pv_workload__plural((long)nv), q->nparams,
                pv_workload__plural(q->nparams));
            goto out;
        }
    }

    q->scenarios = calloc(nsets, sizeof(*q->scenarios));
    if (!q->scenarios) {
        rc = pv_workload__oom(f);
        goto out;
    }
    struct conv cv = {.json = j, .items = ps.items, .nitems = ps.nitems};
    for (size_t i = 0; i < nsets; i++) {
        struct pv_scenario *sc = &q->scenarios[i];
        q->nscenarios = i + 1; /* so that a failure frees this one too */
        if (scenario_init(sc, i, q->nparams, q->exec_count) != 0) {
            rc = pv_workload__oom(f);
            goto out;
        }
        rc = fill_scenario(f, &cv, json_array_get(root, i), &ps.sets[i], h->value, sc);
        if (rc != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    pv_workload__prescan_fini(&ps);
    return rc;
}

int pv_workload__drawn_scenario(const struct file *f, struct pv_query *q, const char *name,
                                struct pv_param_source *src, char *params_json)
{
    q->scenarios = calloc(1, sizeof(*q->scenarios));
    if (!q->scenarios) {
        pv_workload__source_free(src);
        free(params_json);
        return pv_workload__oom(f);
    }
    q->nscenarios = 1;
    struct pv_scenario *sc = &q->scenarios[0];
    sc->source = src;
    sc->params_json = params_json;
    sc->nparams = q->nparams;
    sc->exec_count = q->exec_count;
    sc->name = strdup(name);
    return sc->name && params_json ? 0 : pv_workload__oom(f);
}

int pv_workload__no_params(const struct file *f, struct pv_query *q)
{
    if (q->nparams > 0)
        return pv_workload__fail(
            f, VOLLEY_EINPUT, 0, 0,
            "the query has %d placeholder%s but the file has no -- PARAMETERS: line", q->nparams,
            pv_workload__plural(q->nparams));
    q->scenarios = calloc(1, sizeof(*q->scenarios));
    if (!q->scenarios)
        return pv_workload__oom(f);
    q->nscenarios = 1;
    struct pv_scenario *sc = &q->scenarios[0];
    if (scenario_init(sc, 0, 0, q->exec_count) != 0)
        return pv_workload__oom(f);
    sc->params_json = strdup("[]");
    return sc->params_json ? 0 : pv_workload__oom(f);
}
