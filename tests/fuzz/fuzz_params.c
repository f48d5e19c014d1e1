/*
 * fuzz_params.c - libFuzzer harness for the PARAMETERS decoder (the bracket
 * pre-scan, jansson and the value conversion of src/workload/), reached
 * through pv_workload_add_text with a fixed statement:
 *
 *   -- PARAMETERS: <input>
 *   SELECT $1, ..., $n
 *
 * The first input byte picks n (0..3) and a small depth limit; the rest is
 * the header's value (line breaks become spaces, so that every input is
 * one header line). Build and run with `make fuzz` (see the Makefile).
 *
 * Contracts (a broken one aborts):
 * - an error is one line "fuzz.sql:..." and never one of the decoder's
 *   "(a bug)" messages (the pre-scan and jansson out of step);
 * - when jansson reads the value as a non-empty array of arrays of n
 *   values each, nested no deeper than the limit, the file is accepted;
 * - each scenario's params_json is compact JSON equal to its set, and each
 *   value is the text bound for it: strings exactly (every byte), numbers
 *   as the file wrote them (same value), true/false, NULL for null, objects
 *   as JSON equal to them, arrays as a PostgreSQL array literal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workload/pv_workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_params: contract broken: %s\n", what);
        abort();
    }
}

/* Nesting depth of arrays and objects (a scalar: 0). */
static int depth(const json_t *v)
{
    int d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int k = depth(json_array_get(v, i));
            d = k > d ? k : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x)
        {
            int k = depth(x);
            d = k > d ? k : d;
        }
        return d + 1;
    }
    return 0;
}

static void check_value(const json_t *v, const char *text)
{
    switch (json_typeof(v)) {
    case JSON_NULL: check(text == NULL, "null is not SQL NULL"); break;
    case JSON_TRUE: check(text && strcmp(text, "true") == 0, "true"); break;
    case JSON_FALSE: check(text && strcmp(text, "false") == 0, "false"); break;
    case JSON_STRING:
        check(text && strlen(text) == json_string_length(v) &&
                  memcmp(text, json_string_value(v), json_string_length(v)) == 0,
              "a string value is not bound exactly as written");
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        check(text != NULL, "a number is NULL");
        char *end = NULL;
        double d = strtod(text, &end);
        check(*end == '\0' && d == json_number_value(v), "a number's text has another value");
        break;
    }
    case JSON_OBJECT: {
        check(text != NULL, "an object is NULL");
        json_t *o = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
        check(o && json_equal(o, (json_t *)v), "an object's text is not the same object");
        json_decref(o);
        break;
    }
    case JSON_ARRAY:
        check(text && text[0] == '{' && text[strlen(text) - 1] == '}',
              "an array is not an array literal");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int nparams = data[0] & 3;
    int max_depth = (data[0] & 4) ? 3 : 32;
    static const char head[] = "-- PARAMETERS: ";
    static const char *const stmts[] = {"\nSELECT 1\n", "\nSELECT $1\n", "\nSELECT $1, $2\n",
                                        "\nSELECT $1, $2, $3\n"};
    const char *stmt = stmts[nparams];
    size_t jlen = size - 1;
    size_t len = strlen(head) + jlen + strlen(stmt);
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, head, strlen(head));
    char *j = text + strlen(head);
    memcpy(j, data + 1, jlen);
    for (size_t i = 0; i < jlen; i++)
        if (j[i] == '\n' || j[i] == '\r')
            j[i] = ' ';
    memcpy(j + jlen, stmt, strlen(stmt) + 1);

    /* What jansson alone says about the value (the oracle). */
    json_t *root = json_loadb(j, jlen, JSON_DECODE_INT_AS_REAL, NULL);
    int shape_ok = root && json_is_array(root) && json_array_size(root) > 0 &&
                   depth(root) <= max_depth && memchr(j, '\0', jlen) == NULL;
    for (size_t i = 0; shape_ok && i < json_array_size(root); i++) {
        const json_t *set = json_array_get(root, i);
        shape_ok = json_is_array(set) && json_array_size(set) == (size_t)nparams;
    }

    struct pv_workload_opts opts = {0};
    opts.max_json_depth = max_depth;
    pv_workload *w = NULL;
    if (pv_workload_create(&opts, &w) != 0) {
        json_decref(root);
        free(text);
        return 0;
    }
    pv_err err;
    memset(&err, 0, sizeof(err));
    int rc = pv_workload_add_text(w, "fuzz.sql", text, len, &err);
    if (rc != 0) {
        check(rc == VOLLEY_EINPUT || rc == VOLLEY_ENOMEM, "unexpected return code");
        check(strncmp(err.msg, "fuzz.sql:", 9) == 0, "message does not name the file");
        check(!strchr(err.msg, '\n') && !strchr(err.msg, '\r'), "multi-line message");
        size_t ml = strlen(err.msg);
        check(ml < 7 || strcmp(err.msg + ml - 7, "(a bug)") != 0, err.msg);
        if (shape_ok && rc == VOLLEY_EINPUT) {
            /* Valid JSON of the right shape may still fail the file's own
               checks (UTF-8, line length) - those come before PARAMETERS. */
            check(strstr(err.msg, "PARAMETERS") == NULL, err.msg);
        }
    } else {
        check(root != NULL && shape_ok, "accepted what jansson refuses or of the wrong shape");
        const struct pv_query *q = pv_workload_query(w, 0);
        check(q->nparams == nparams, "placeholder count");
        check(q->nscenarios == json_array_size(root), "one scenario per parameter set");
        for (size_t i = 0; i < q->nscenarios; i++) {
            const struct pv_scenario *sc = &q->scenarios[i];
            const json_t *set = json_array_get(root, i);
            check(sc->params_json && !strchr(sc->params_json, '\n'), "params_json one line");
            json_t *pj = json_loads(sc->params_json, JSON_DECODE_INT_AS_REAL, NULL);
            check(pj && json_equal(pj, (json_t *)set), "params_json is not the parameter set");
            json_decref(pj);
            for (int k = 0; k < nparams; k++)
                check_value(json_array_get(set, (size_t)k), sc->values[k]);
        }
    }
    pv_workload_destroy(w);
    json_decref(root);
    free(text);
    return 0;
}
