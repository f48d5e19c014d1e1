/*
 * fuzz_workload.c - libFuzzer harness for pv_workload_add_text, which takes
 * in pv_sqlscan, the PARAMETERS pre-scan, jansson and the value conversion,
 * and the GENERATE header (whose values are drawn a few times).
 * Built apart from the gcc builds, with clang
 * (-fsanitize=fuzzer,address,undefined): `make fuzz` builds every target in
 * build-fuzz/ and runs each for FUZZ_SECONDS from its seeds in
 * tests/fuzz/corpus/workload/ (see the Makefile; `make check` runs it
 * briefly). By hand:
 *
 *   make fuzz-build && build-fuzz/fuzz_workload -max_total_time=60 \
 *       build-fuzz/corpus/workload tests/fuzz/corpus/workload
 *
 * The first input byte picks small limits, so that they are reached too;
 * the rest is the file's text. Besides the sanitizers' findings, a broken
 * contract (a multi-line message, a scenario that does not match its
 * query) stops the run.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload/pv_workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_query(const struct pv_query *q)
{
    check(q->sql && q->path && q->name && q->nscenarios > 0 && q->nparams >= 0);
    check(strcmp(q->path, "fuzz.sql") == 0 && strcmp(q->name, "fuzz.sql") == 0);
    for (size_t i = 0; i < q->nscenarios; i++) {
        const struct pv_scenario *sc = &q->scenarios[i];
        check(sc->name && sc->params_json && sc->nparams == q->nparams);
        check(sc->exec_count == q->exec_count && sc->exec_count > 0);
        check(!strchr(sc->params_json, '\n'));
        struct pv_sample_query sq;
        if (pv_scenario_sample_query(sc, q, &sq)) {
            /* PARAMETERS_QUERY: rows are never sampled here, so a draw is refused */
            const char *const *v = NULL;
            struct pv_scenario_scratch x;
            pv_scenario_scratch_init(&x, 1, 0);
            check(sq.sql && sq.line > 0 && pv_scenario_values(sc, &x, &v) == VOLLEY_EINVAL);
            pv_scenario_scratch_fini(&x);
            continue;
        }
        if (pv_scenario_is_drawn(sc)) {
            /* GENERATE (or a CSV file): draw a few executions' values */
            check(sc->params_json[0] == '{' && !sc->values && sc->nparams > 0);
            struct pv_scenario_scratch x;
            pv_scenario_scratch_init(&x, 1, 0);
            for (int n = 0; n < 3; n++) {
                const char *const *v = NULL;
                check(pv_scenario_values(sc, &x, &v) == 0);
                for (int k = 0; k < sc->nparams; k++)
                    (void)(v[k] ? strlen(v[k]) : 0);
            }
            pv_scenario_scratch_fini(&x);
            continue;
        }
        check(sc->params_json[0] == '[');
        for (int k = 0; k < sc->nparams; k++)
            (void)(sc->values[k] ? strlen(sc->values[k]) : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct pv_workload_opts opts = {0};
    if (data[0] & 1)
        opts.max_json_depth = 3;
    if (data[0] & 2)
        opts.max_line_bytes = 64;
    if (data[0] & 4)
        opts.max_exec_count = 1000;
    if (data[0] & 8)
        opts.default_exec_count = 2;

    pv_workload *w = NULL;
    if (pv_workload_create(&opts, &w) != 0)
        return 0;
    pv_err err;
    memset(&err, 0, sizeof(err));
    int rc = pv_workload_add_text(w, "fuzz.sql", (const char *)data + 1, size - 1, &err);
    if (rc == 0) {
        check(pv_workload_count(w) == 1);
        check_query(pv_workload_query(w, 0));
        check(pv_workload_scenario_count(w) == pv_workload_query(w, 0)->nscenarios);
    } else {
        /* PARAMETERS_FILE reads a file (beside fuzz.sql: the current
           directory): it may be missing (VOLLEY_EIO), and its own errors
           name it rather than fuzz.sql */
        bool csv = memmem(data, size, "PARAMETERS_FILE:", 16) != NULL;
        check(rc == VOLLEY_EINPUT || rc == VOLLEY_ENOMEM || (csv && rc == VOLLEY_EIO));
        check(pv_workload_count(w) == 0);
        check(csv || strncmp(err.msg, "fuzz.sql:", 9) == 0);
        check(!strchr(err.msg, '\n') && !strchr(err.msg, '\r'));
    }
    pv_workload_destroy(w);
    return 0;
}
