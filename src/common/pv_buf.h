/*
 * pv_buf.h - a growable byte buffer (append buffer). Writers fill one, the
 * caller writes it out once.
 */
#ifndef PV_BUF_H
#define PV_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/pv_common.h"

/* A visible value type: init with PV_BUF_INIT or pv_buf_init, free with pv_buf_fini. */
typedef struct pv_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int oom; /* set once an allocation failed; later appends are no-ops */
} pv_buf;

#define PV_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void pv_buf_init(pv_buf *b);
void pv_buf_fini(pv_buf *b);
void pv_buf_reset(pv_buf *b);
/* Appends; on allocation failure sets b->oom. Check pv_buf_ok at the end. */
void pv_buf_append(pv_buf *b, const void *data, size_t len);
void pv_buf_puts(pv_buf *b, const char *s);
void pv_buf_putc(pv_buf *b, char c);
void pv_buf_printf(pv_buf *b, const char *fmt, ...) PV_PRINTF(2, 3);
void pv_buf_vprintf(pv_buf *b, const char *fmt, va_list ap);
/* Appends n copies of c. */
void pv_buf_fill(pv_buf *b, char c, size_t n);
/* 0, or VOLLEY_ENOMEM if any append failed. */
int pv_buf_ok(const pv_buf *b);
/* The contents as a C string ("" for an empty buffer). */
const char *pv_buf_str(const pv_buf *b);

/**
 * Appends the whole file at path to b.
 * @return 0; VOLLEY_EIO with "PATH: cannot open: ..." or "PATH: cannot
 *         read: ..." in err; VOLLEY_ENOMEM. b may hold part of the file
 *         after an error (the caller clears it if it is secret).
 */
int pv_buf_read_file(pv_buf *b, const char *path, pv_err *err);

#endif /* PV_BUF_H */
