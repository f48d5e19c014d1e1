/* pv_workload_msg.c - the workload reader's error messages (PATH:LINE:COL) and array growth. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "workload/pv_workload_int.h"

/* ---- messages ------------------------------------------------------------- */

static int is_cont_byte(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* 1-based line and column (in characters) of byte offset off. */
void pv_workload__linecol(const char *text, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (!is_cont_byte((unsigned char)text[i])) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Length of at most PV_WORKLOAD_QUOTE_MAX bytes of s[0, n) that does not split a character. */
int pv_workload__quote_len(const char *s, size_t n)
{
    if (n <= PV_WORKLOAD_QUOTE_MAX)
        return (int)n;
    size_t k = PV_WORKLOAD_QUOTE_MAX;
    while (k > 0 && is_cont_byte((unsigned char)s[k]))
        k--;
    return (int)k;
}

const char *pv_workload__plural(long n)
{
    return n == 1 ? "" : "s";
}

static int verr(const struct file *f, int code, int line, int col, const char *fmt, va_list ap)
{
    char msg[PV_ERR_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (line > 0 && col > 0)
        return pv_err_set(f->err, code, "%s:%d:%d: %s", f->path, line, col, msg);
    if (line > 0)
        return pv_err_set(f->err, code, "%s:%d: %s", f->path, line, msg);
    return pv_err_set(f->err, code, "%s: %s", f->path, msg);
}

/* "PATH: message" (line <= 0), "PATH:LINE: message" (col <= 0) or "PATH:LINE:COL: message". */
PV_PRINTF(5, 6)
int pv_workload__fail(const struct file *f, int code, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = verr(f, code, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

/* VOLLEY_EINPUT with "PATH:LINE:COL: message" for byte offset off of the file. */
PV_PRINTF(3, 4)
int pv_workload__fail_at(const struct file *f, size_t off, const char *fmt, ...)
{
    int line, col;
    pv_workload__linecol(f->text, off, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    int rc = verr(f, VOLLEY_EINPUT, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

int pv_workload__oom(const struct file *f)
{
    return pv_workload__fail(f, VOLLEY_ENOMEM, 0, 0, "out of memory");
}

/*
 * Relays a pv_sqlscan error ("line L, column C: what", relative to text
 * that starts at byte base of the file) as "PATH:LINE:COL: what".
 */
int pv_workload__relay_scan_error(const struct file *f, int rc, const pv_err *e, size_t base)
{
    if (rc == VOLLEY_ENOMEM)
        return pv_workload__oom(f);
    int l, c, n = 0;
    if (sscanf(e->msg, "line %d, column %d: %n", &l, &c, &n) == 2 && n > 0) {
        int bl, bc;
        pv_workload__linecol(f->text, base, &bl, &bc);
        if (l == 1)
            c += bc - 1;
        l += bl - 1;
        return pv_workload__fail(f, rc, l, c, "%s", e->msg + n);
    }
    return pv_workload__fail(f, rc, 0, 0, "%s", e->msg);
}

/* ---- arrays --------------------------------------------------------------- */

int pv_workload__grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, c * size);
    if (!np)
        return VOLLEY_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}
