/* pv_utf8.h - UTF-8 validation shared by the workload reader and the writers. */
#ifndef PV_UTF8_H
#define PV_UTF8_H

#include <stddef.h>

/**
 * Length of the well-formed UTF-8 sequence at p (n > 0 bytes available), or
 * 0 when it is not one: overlong forms, surrogates, code points above
 * U+10FFFF, stray continuation bytes and truncated sequences are all 0.
 */
size_t pv_utf8_seq(const unsigned char *p, size_t n);

#endif /* PV_UTF8_H */
