/* pv_render.c - Markdown cells and code blocks, repaired JSON strings, error order, speedup. */
#include "report/pv_render.h"
#include "common/pv_utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT_CHAR "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

/* ---- Markdown --------------------------------------------------------- */

void pv_render_md_cell(pv_buf *o, const char *s, size_t max)
{
    if (!s) {
        pv_buf_puts(o, PV_RENDER_NULL);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0;
    while (i < len) {
        size_t k = pv_utf8_seq(p + i, len - i);
        if (k == 0)
            k = 1; /* an invalid byte is kept as it is, alone */
        if (max > 0 && i + k > max)
            break;
        if (p[i] == '|')
            pv_buf_puts(o, "\\|");
        else if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
            pv_buf_putc(o, ' ');
        else
            pv_buf_append(o, p + i, k);
        i += k;
    }
    if (i < len)
        pv_buf_puts(o, "...");
}

void pv_render_md_code(pv_buf *o, const char *lang, const char *s)
{
    size_t run = 0, longest = 0;
    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        longest = PV_MAX(longest, run);
    }
    size_t fence = PV_MAX((size_t)3, longest + 1);
    pv_buf_fill(o, '`', fence);
    pv_buf_printf(o, "%s\n%s\n", lang, s);
    pv_buf_fill(o, '`', fence);
    pv_buf_putc(o, '\n');
}

/* ---- JSON ------------------------------------------------------------- */

json_t *pv_render_json_strn(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = pv_utf8_seq(p + i, n - i);
        if (k == 0 || p[i] == 0)
            break;
        i += k;
    }
    if (i == n)
        return json_stringn(s, n);

    pv_buf clean = PV_BUF_INIT;
    pv_buf_append(&clean, p, i); /* the valid start, as it is */
    while (i < n) {
        size_t k = p[i] ? pv_utf8_seq(p + i, n - i) : 0;
        if (k == 0) {
            pv_buf_puts(&clean, REPLACEMENT_CHAR);
            i++;
        } else {
            pv_buf_append(&clean, p + i, k);
            i += k;
        }
    }
    json_t *v = pv_buf_ok(&clean) == 0 ? json_stringn(pv_buf_str(&clean), clean.len) : NULL;
    pv_buf_fini(&clean);
    return v;
}

json_t *pv_render_json_str(const char *s)
{
    return s ? pv_render_json_strn(s, strlen(s)) : json_string("");
}

/* ---- figures ---------------------------------------------------------- */

int pv_render_errstat_cmp(const struct pv_errstat *a, const struct pv_errstat *b)
{
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->sqlstate, b->sqlstate);
}

static int cmp_errp(const void *a, const void *b)
{
    return pv_render_errstat_cmp(*(const struct pv_errstat *const *)a,
                                 *(const struct pv_errstat *const *)b);
}

int pv_render_errors_sorted(const struct pv_stat *s, const struct pv_errstat ***out)
{
    *out = NULL;
    if (s->nerrors == 0)
        return 0;
    const struct pv_errstat **v = malloc(s->nerrors * sizeof(*v));
    if (!v)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < s->nerrors; i++)
        v[i] = &s->errors[i];
    qsort(v, s->nerrors, sizeof(*v), cmp_errp);
    *out = v;
    return 0;
}

double pv_render_speedup(uint64_t sum_ns, double wall_s)
{
    if (!(wall_s > 0) || !isfinite(wall_s))
        return 0;
    double x = (double)sum_ns / 1e9 / wall_s;
    return isfinite(x) ? x : 0;
}
