/* pv_common.c - error detail buffers, time, version strings. */
#include "common/pv_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_err_set(pv_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

double pv_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *pv_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

const char *volley_version(void)
{
    return PV_VERSION;
}

const char *volley_strerror(int code)
{
    switch (code) {
    case VOLLEY_OK: return "success";
    case VOLLEY_ENOMEM: return "out of memory";
    case VOLLEY_EINVAL: return "invalid argument";
    case VOLLEY_EINPUT: return "malformed input";
    case VOLLEY_EIO: return "input/output error";
    case VOLLEY_ECONNECT: return "cannot connect to the server";
    case VOLLEY_ESERVER: return "cannot start the throwaway server";
    }
    return "unknown error";
}

void pv_first_line(char *dst, size_t cap, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    snprintf(dst, cap, "%.*s", (int)n, msg);
}

const char *pv_json_message(const char *text)
{
    if (text && strstr(text, "JSON_ALLOW_NUL"))
        return "a NUL character (\\u0000) is not allowed in a string";
    return text ? text : "invalid JSON";
}
