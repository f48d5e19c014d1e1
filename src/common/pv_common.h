/*
 * pv_common.h - small things every module uses: error detail buffers,
 * monotonic time, and the out-of-memory policy.
 *
 * Out-of-memory policy: library code returns VOLLEY_ENOMEM; only src/cli/
 * turns it into a message and an exit code.
 */
#ifndef PV_COMMON_H
#define PV_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "volley.h"

/*
 * Error codes used inside the library besides the public ones of volley.h
 * (which reserves their values): no public function returns them. The CLI
 * maps them to exit codes and volley_strerror describes them.
 */
enum pv_internal_error {
    VOLLEY_ECONNECT = -5, /* cannot connect to the server (pv_target) */
    VOLLEY_ESERVER = -6,  /* the throwaway server could not be started (pv_pgtmp) */
};

#define PV_ERR_LEN 1024

/* A caller-supplied error detail: one line, no trailing newline. */
typedef struct pv_err {
    char msg[PV_ERR_LEN];
} pv_err;

#define PV_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Writes a formatted message into err (if err is not NULL) and returns code,
 * so that `return pv_err_set(err, VOLLEY_EINPUT, "...")` reads naturally.
 */
int pv_err_set(pv_err *err, int code, const char *fmt, ...) PV_PRINTF(3, 4);

/* Monotonic clock in nanoseconds. */
static inline uint64_t pv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall-clock time as seconds since the epoch (for report timestamps). */
double pv_wall_time(void);

/* strdup that tolerates NULL (returns NULL for NULL). */
char *pv_strdup(const char *s);

/* jansson's error text in the user's words: its messages may name its own
   flags ("\u0000 is not allowed without JSON_ALLOW_NUL"). Borrowed. */
const char *pv_json_message(const char *text);

/* Copies the first line of msg ("unknown error" when NULL or empty) into dst. */
void pv_first_line(char *dst, size_t cap, const char *msg);

#define PV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PV_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define PV_MAX(a, b)    ((a) > (b) ? (a) : (b))

#endif /* PV_COMMON_H */
