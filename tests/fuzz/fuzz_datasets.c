/*
 * fuzz_datasets.c - libFuzzer harness for the datasets INI reader
 * (src/multi/pv_datasets.c on libinih). The input is the file: it is read
 * with pv_datasets_load from a memory file (memfd, /proc/self/fd/N), so
 * NUL bytes and long lines reach the reader as from disk, and, when it
 * holds no NUL byte, also parsed from text with pv_datasets_parse.
 * Build and run with `make fuzz` (see the Makefile).
 *
 * Contracts (a broken one aborts):
 * - the result is 0 or VOLLEY_EINPUT ("PATH:LINE: ..." or "PATH: ...", one
 *   line), never anything else for a readable file;
 * - load and parse of the same text agree (code and message);
 * - no message contains the value of a dsn line that looks like one (has
 *   '=' or ':'; DSNs are secrets);
 * - an accepted file has at least one dataset; each has a plain name
 *   ([A-Za-z0-9_.-]{1,63}), unique, found again by pv_datasets_find and
 *   pv_datasets_index; a non-NULL dsn and description; limits within their
 *   documented ranges; pool_min <= pool_max.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "multi/pv_datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_datasets: contract broken: %s\n", what);
        abort();
    }
}

static int plain_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 63 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* A value that is a piece of the messages' own fixed wording (the fuzzer
   writes `dsn = missing "=" after "`): its presence shows no dsn. */
static int in_fixed_text(const char *val)
{
    static const char *const fixed[] = {
        "the dsn does not parse: invalid connection string: ",
        "missing \"=\" after \"...\" in connection info string",
        "invalid connection option \"...\"",
        "unexpected spaces found in \"...\", use percent-encoded spaces (%20) instead",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strstr(fixed[i], val))
            return 1;
    return 0;
}

/* No dsn value of the text (stripped, at least 6 bytes) appears in msg. */
static void check_no_dsn(const char *text, size_t len, const char *msg)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *k = p;
        while (k < le && (*k == ' ' || *k == '\t'))
            k++;
        if (le - k > 3 && memcmp(k, "dsn", 3) == 0) {
            const char *v = memchr(k, '=', (size_t)(le - k));
            if (v) {
                v++;
                while (v < le && (*v == ' ' || *v == '\t'))
                    v++;
                const char *ve = le;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                    ve--;
                /* a value like a conninfo or URI (not a word of the fixed text) */
                if (ve - v >= 6 && !memchr(v, '\0', (size_t)(ve - v)) &&
                    (memchr(v, '=', (size_t)(ve - v)) || memchr(v, ':', (size_t)(ve - v)))) {
                    char *val = strndup(v, (size_t)(ve - v));
                    check(val != NULL, "out of memory");
                    if (strstr(msg, val) && !in_fixed_text(val)) {
                        fprintf(stderr, "fuzz_datasets: message: %s\n", msg);
                        check(0, "a message shows a dsn");
                    }
                    free(val);
                }
            }
        }
        p = le + 1;
    }
}

static void check_datasets(const pv_datasets *d)
{
    size_t n = pv_datasets_count(d);
    check(n >= 1, "accepted without a dataset");
    for (size_t i = 0; i < n; i++) {
        const struct pv_dataset *ds = pv_datasets_get(d, i);
        check(ds && ds->name && plain_name(ds->name), "dataset name");
        check(pv_datasets_find(d, ds->name) == ds, "find");
        check(pv_datasets_index(d, ds->name) == (int)i, "index (names unique)");
        check(ds->dsn != NULL && ds->description != NULL, "dsn and description");
        check(ds->max_rows >= 1 && ds->max_rows <= 1000000, "max_rows");
        check(ds->statement_timeout_ms >= 1 && ds->statement_timeout_ms <= 86400000,
              "statement_timeout_ms");
        check(ds->max_concurrency >= 1 && ds->max_concurrency <= 100, "max_concurrency");
        check(ds->pool_min >= 0 && ds->pool_max >= 1 && ds->pool_min <= ds->pool_max, "pool");
        check(ds->pool_max <= 1000, "pool_max");
        check(ds->idle_lifetime_s >= 1 && ds->idle_lifetime_s <= 86400, "idle_lifetime_s");
        check(ds->connect_timeout_s >= 1 && ds->connect_timeout_s <= 3600, "connect_timeout_s");
    }
    check(pv_datasets_get(d, n) == NULL, "get past the end");
}

static void check_result(int rc, const pv_err *err, const char *path, const uint8_t *data,
                         size_t size)
{
    if (rc == 0)
        return;
    check(rc == VOLLEY_EINPUT, "unexpected return code");
    size_t pl = strlen(path);
    check(strncmp(err->msg, path, pl) == 0 && err->msg[pl] == ':',
          "message does not name the file");
    check(!strchr(err->msg, '\n') && !strchr(err->msg, '\r'), "multi-line message");
    check_no_dsn((const char *)data, size, err->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_datasets", 0);
        check(fd >= 0, "memfd_create");
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    check(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size, "write memfd");

    pv_datasets *d = NULL;
    pv_err err;
    memset(&err, 0, sizeof(err));
    int rc = pv_datasets_load(path, &d, &err);
    check_result(rc, &err, path, data, size);
    if (rc == 0)
        check_datasets(d);

    if (!memchr(data, '\0', size)) {
        char *text = strndup((const char *)data, size);
        check(text != NULL, "out of memory");
        pv_datasets *d2 = NULL;
        pv_err err2;
        memset(&err2, 0, sizeof(err2));
        int rc2 = pv_datasets_parse(path, text, &d2, &err2);
        check(rc2 == rc, "load and parse disagree");
        check(strcmp(err.msg, err2.msg) == 0, "load and parse give other messages");
        if (rc2 == 0)
            check(pv_datasets_count(d2) == pv_datasets_count(d), "load and parse count");
        pv_datasets_destroy(d2);
        free(text);
    }
    pv_datasets_destroy(d);
    return 0;
}
