/* pv_buf.c - growable append buffer. */
#include "common/pv_buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pv_buf_init(pv_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void pv_buf_fini(pv_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void pv_buf_reset(pv_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(pv_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void pv_buf_append(pv_buf *b, const void *data, size_t len)
{
    if (grow(b, len) != 0)
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void pv_buf_puts(pv_buf *b, const char *s)
{
    pv_buf_append(b, s, strlen(s));
}

void pv_buf_putc(pv_buf *b, char c)
{
    pv_buf_append(b, &c, 1);
}

void pv_buf_fill(pv_buf *b, char c, size_t n)
{
    if (grow(b, n) != 0)
        return;
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pv_buf_vprintf(pv_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || grow(b, (size_t)n) != 0)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void pv_buf_printf(pv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pv_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

int pv_buf_ok(const pv_buf *b)
{
    return b->oom ? VOLLEY_ENOMEM : 0;
}

const char *pv_buf_str(const pv_buf *b)
{
    return b->data ? b->data : "";
}

int pv_buf_read_file(pv_buf *b, const char *path, pv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    errno = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        pv_buf_append(b, chunk, n);
    int rc = 0;
    if (ferror(f))
        rc =
            pv_err_set(err, VOLLEY_EIO, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
    else if (pv_buf_ok(b) != 0)
        rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    fclose(f);
    return rc;
}
