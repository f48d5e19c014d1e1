/*
 * pv_workload_values.c - one parameter value as the text bound for it:
 * strings as they are, numbers and objects as the file wrote them, arrays as
 * PostgreSQL array literals, null as SQL NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pv_buf.h"
#include "workload/pv_workload_int.h"

static const struct item *next_item(struct conv *cv, enum item_kind kind)
{
    if (cv->next >= cv->nitems || cv->items[cv->next].kind != kind)
        return NULL;
    return &cv->items[cv->next++];
}

/* An element of an array literal, always double-quoted. */
static void append_quoted(pv_buf *b, const char *s, size_t n)
{
    pv_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            pv_buf_putc(b, '\\');
        pv_buf_putc(b, s[i]);
    }
    pv_buf_putc(b, '"');
}

/* A JSON array as a PostgreSQL array literal; recursion is bounded by the depth limit. */
static int append_array_literal(struct conv *cv, const json_t *a, pv_buf *b)
{
    pv_buf_putc(b, '{');
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        const struct item *it;
        if (i > 0)
            pv_buf_putc(b, ',');
        switch (json_typeof(v)) {
        case JSON_ARRAY: {
            int rc = append_array_literal(cv, v, b);
            if (rc != 0)
                return rc;
            break;
        }
        case JSON_NULL: pv_buf_puts(b, "NULL"); break;
        case JSON_TRUE: pv_buf_puts(b, "true"); break;
        case JSON_FALSE: pv_buf_puts(b, "false"); break;
        case JSON_STRING: append_quoted(b, json_string_value(v), json_string_length(v)); break;
        case JSON_INTEGER:
        case JSON_REAL:
            it = next_item(cv, ITEM_NUMBER);
            if (!it)
                return PV_WORKLOAD_OUT_OF_STEP;
            pv_buf_append(b, cv->json + it->at.start, it->at.end - it->at.start);
            break;
        case JSON_OBJECT: {
            it = next_item(cv, ITEM_OBJECT);
            if (!it)
                return PV_WORKLOAD_OUT_OF_STEP;
            char *o = pv_workload__compact_json(cv->json + it->at.start, it->at.end - it->at.start);
            if (!o)
                return VOLLEY_ENOMEM;
            append_quoted(b, o, strlen(o));
            free(o);
            break;
        }
        }
    }
    pv_buf_putc(b, '}');
    return 0;
}

/* *out = the value as text (NULL for JSON null); 0, VOLLEY_ENOMEM or PV_WORKLOAD_OUT_OF_STEP. */
int pv_workload__value_text(struct conv *cv, const json_t *v, char **out)
{
    const struct item *it;
    *out = NULL;
    switch (json_typeof(v)) {
    case JSON_NULL: return 0;
    case JSON_TRUE: *out = strdup("true"); break;
    case JSON_FALSE: *out = strdup("false"); break;
    case JSON_STRING: *out = strndup(json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
    case JSON_REAL:
        it = next_item(cv, ITEM_NUMBER);
        if (!it)
            return PV_WORKLOAD_OUT_OF_STEP;
        *out = strndup(cv->json + it->at.start, it->at.end - it->at.start);
        break;
    case JSON_OBJECT:
        it = next_item(cv, ITEM_OBJECT);
        if (!it)
            return PV_WORKLOAD_OUT_OF_STEP;
        *out = pv_workload__compact_json(cv->json + it->at.start, it->at.end - it->at.start);
        break;
    case JSON_ARRAY: {
        pv_buf b = PV_BUF_INIT;
        int rc = append_array_literal(cv, v, &b);
        if (rc == 0)
            rc = pv_buf_ok(&b);
        if (rc != 0) {
            pv_buf_fini(&b);
            return rc;
        }
        *out = b.data; /* ownership moves to *out */
        break;
    }
    }
    return *out ? 0 : VOLLEY_ENOMEM;
}
