/*
 * pv_workload_json.c - the text of a PARAMETERS header: the bracket pre-scan,
 * compact copies, and where in the text a jansson error is.
 *
 * PARAMETERS is validated and decoded by jansson, but numbers and objects
 * are taken from the file's own text: jansson would print 0.1 as
 * 0.10000000000000001 and reject integers beyond 64 bits, while the server
 * should see exactly what the file says. The bracket pre-scan (no recursion,
 * no stack) enforces the depth limit before jansson sees the text and
 * records, in document order, the spans of the parameter sets and of every
 * number and object that is not inside an object; converting the values
 * (pv_workload_values.c) walks the arrays in the same order, so the n-th
 * number met is the n-th span.
 */
#include <stdlib.h>
#include <string.h>

#include "workload/pv_workload_int.h"

/* ---- the pre-scan --------------------------------------------------------- */

void pv_workload__prescan_fini(struct prescan *ps)
{
    free(ps->sets);
    free(ps->items);
}

static int add_set(struct prescan *ps, size_t start, size_t end)
{
    if (pv_workload__grow((void **)&ps->sets, &ps->capsets, ps->nsets + 1, sizeof(*ps->sets)) != 0)
        return VOLLEY_ENOMEM;
    ps->sets[ps->nsets++] = (struct span){start, end};
    return 0;
}

static int add_item(struct prescan *ps, enum item_kind kind, size_t start, size_t end)
{
    if (pv_workload__grow((void **)&ps->items, &ps->capitems, ps->nitems + 1, sizeof(*ps->items)) !=
        0)
        return VOLLEY_ENOMEM;
    ps->items[ps->nitems++] = (struct item){kind, {start, end}};
    return 0;
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/*
 * Returns 0, VOLLEY_ENOMEM, or PV_WORKLOAD_TOO_DEEP with *deep_at set where nesting first goes
 * beyond max_depth. Any input is safe; the spans are right for valid JSON
 * (jansson decides what is valid).
 */
int pv_workload__prescan_json(const char *j, size_t n, int max_depth, struct prescan *ps,
                              size_t *deep_at)
{
    int depth = 0, obj_level = 0, in_set = 0;
    size_t set_start = 0, obj_start = 0, last_end = 0;
    for (size_t i = 0; i < n;) {
        char c = j[i];
        if (is_json_space(c)) {
            i++;
            continue;
        }
        if (depth == 1 && !in_set && c != ',' && c != ']' && c != '}') {
            in_set = 1;
            set_start = i;
        }
        size_t next = i + 1;
        int rc = 0;
        if (c == '"') {
            while (next < n && j[next] != '"')
                next += j[next] == '\\' ? 2 : 1;
            next = next < n ? next + 1 : n;
        } else if (c == '[' || c == '{') {
            if (depth >= max_depth) {
                *deep_at = i;
                return PV_WORKLOAD_TOO_DEEP;
            }
            depth++;
            if (c == '{' && obj_level == 0) {
                obj_level = depth;
                obj_start = i;
            }
        } else if (c == ']' || c == '}' || c == ',') {
            if (depth == 1 && in_set && c != '}') {
                rc = add_set(ps, set_start, last_end);
                in_set = 0;
            }
            if (c != ',' && depth > 0) {
                if (depth == obj_level) {
                    rc = rc ? rc : add_item(ps, ITEM_OBJECT, obj_start, i + 1);
                    obj_level = 0;
                }
                depth--;
            }
        } else if ((c == '-' || (c >= '0' && c <= '9'))) {
            while (next < n && is_number_char(j[next]))
                next++;
            if (obj_level == 0)
                rc = add_item(ps, ITEM_NUMBER, i, next);
        } else if (c >= 'a' && c <= 'z') {
            while (next < n && j[next] >= 'a' && j[next] <= 'z')
                next++;
        }
        if (rc != 0)
            return rc;
        i = next;
        last_end = next;
    }
    return 0;
}

/* ---- compact copies and error positions ----------------------------------- */

/* Copies JSON text without the whitespace outside strings. */
char *pv_workload__compact_json(const char *j, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = j[i];
        if (in_str) {
            out[k++] = c;
            if (c == '\\' && i + 1 < n)
                out[k++] = j[++i];
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (is_json_space(c))
            continue;
        if (c == '"')
            in_str = 1;
        out[k++] = c;
    }
    out[k] = '\0';
    return out;
}

size_t pv_workload__skip_json_space(const char *j, size_t i, size_t n)
{
    while (i < n && is_json_space(j[i]))
        i++;
    return i;
}

/*
 * Where in j[0, n) a jansson error is. je.position counts the bytes read,
 * so it lies just past the offending token; when the message quotes that
 * token ("... near 'junk'"), step back to its first byte.
 */
size_t pv_workload__json_error_offset(const char *j, size_t n, const json_error_t *je)
{
    static const char near_mark[] = " near '";
    size_t pos = PV_MIN(je->position > 0 ? (size_t)je->position : 0, n);
    const char *near = strstr(je->text, near_mark);
    size_t tlen = strlen(je->text);
    if (near && tlen > 0 && je->text[tlen - 1] == '\'') {
        const char *tok = near + strlen(near_mark);
        size_t len = (size_t)(je->text + tlen - 1 - tok);
        if (len > 0 && len <= pos && memcmp(j + pos - len, tok, len) == 0)
            return pos - len;
    }
    return pos > 0 ? pos - 1 : 0;
}
