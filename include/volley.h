/*
 * volley.h - public API of libvolley, the engine behind pgvolley.
 *
 * Every public symbol starts with volley_. Functions that can fail return
 * an int: 0 on success or a negative VOLLEY_E* code; a human-readable detail
 * is written to a caller-supplied buffer where one is taken.
 */
#ifndef VOLLEY_H
#define VOLLEY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VOLLEY_BUILDING) && defined(__GNUC__)
#define VOLLEY_API __attribute__((visibility("default")))
#else
#define VOLLEY_API
#endif

/** Error codes returned by libvolley functions (always negative). */
enum volley_error {
    VOLLEY_OK = 0,
    VOLLEY_ENOMEM = -1,   /**< out of memory */
    VOLLEY_EINVAL = -2,   /**< invalid argument or configuration */
    VOLLEY_EINPUT = -3,   /**< malformed input (workload file, JSON, ...) */
    VOLLEY_EIO = -4,      /**< file or system call failed */
    VOLLEY_ECONNECT = -5, /**< cannot connect to the server */
    VOLLEY_ESERVER = -6,  /**< the throwaway server could not be started */
    VOLLEY_EINTR = -7,    /**< interrupted (Ctrl-C) */
    VOLLEY_ETIMEOUT = -8, /**< a deadline passed */
};

/**
 * @return the library version as "MAJOR.MINOR.PATCH"; static storage.
 */
VOLLEY_API const char *volley_version(void);

/**
 * @param code a VOLLEY_E* code
 * @return a short static description of the code ("out of memory", ...).
 */
VOLLEY_API const char *volley_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* VOLLEY_H */
