/* pv_suite.c - suites of workload files in categories (pv_suite.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pv_buf.h"
#include "suite/pv_suite.h"
#include "suite/pv_suite_int.h"

struct pv_suite {
    char *name;
    char *source;
    size_t n, cap;
    struct pv_suite_test *tests;
};

static void test_fini(struct pv_suite_test *t)
{
    free(t->category);
    free(t->name);
    free(t->file);
    free(t->path);
}

void pv_suite_destroy(pv_suite *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        test_fini(&s->tests[i]);
    free(s->tests);
    free(s->name);
    free(s->source);
    free(s);
}

const char *pv_suite_name(const pv_suite *s)
{
    return s->name;
}

const char *pv_suite_source(const pv_suite *s)
{
    return s->source;
}

size_t pv_suite_count(const pv_suite *s)
{
    return s->n;
}

const struct pv_suite_test *pv_suite_get(const pv_suite *s, size_t i)
{
    return i < s->n ? &s->tests[i] : NULL;
}

/* name without a leading "NN-" (digits then a dash, something after) and
   without the suffix of suffix_len bytes; a new string, or NULL. */
static char *display_name(const char *name, size_t suffix_len)
{
    size_t n = strlen(name) - suffix_len, d = strspn(name, "0123456789");
    if (d > 0 && d + 1 < n && name[d] == '-') {
        name += d + 1;
        n -= d + 1;
    }
    return strndup(name, n);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int suite_new(const char *name, const char *source, pv_suite **out, pv_err *err)
{
    pv_suite *s = calloc(1, sizeof(*s));
    if (s) {
        s->name = strdup(name);
        s->source = strdup(source);
    }
    if (!s || !s->name || !s->source) {
        pv_suite_destroy(s);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

/* Appends a test: category (dir name) and file (file name), both as found. */
static int add_test(pv_suite *s, const char *catdir, const char *fname, const char *root,
                    const char *text, size_t len, pv_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct pv_suite_test *nt = realloc(s->tests, cap * sizeof(*nt));
        if (!nt)
            return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        s->tests = nt;
        s->cap = cap;
    }
    struct pv_suite_test *t = &s->tests[s->n];
    memset(t, 0, sizeof(*t));
    t->category = display_name(catdir, 0);
    t->name = display_name(fname, 4);
    pv_buf b = PV_BUF_INIT;
    pv_buf_printf(&b, "%s/%s", catdir, fname);
    t->file = pv_buf_ok(&b) == 0 ? strdup(pv_buf_str(&b)) : NULL;
    pv_buf_reset(&b);
    if (root) {
        pv_buf_printf(&b, "%s/%s/%s", root, catdir, fname);
        t->path = pv_buf_ok(&b) == 0 ? strdup(pv_buf_str(&b)) : NULL;
    }
    pv_buf_fini(&b);
    t->text = text;
    t->len = len;
    if (!t->category || !t->name || !t->file || (root && !t->path)) {
        test_fini(t);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    s->n++;
    return 0;
}

int pv_suite_builtin(pv_suite **out, pv_err *err)
{
    int rc = suite_new("default", "built-in", out, err);
    for (size_t i = 0; rc == 0 && i < pv_suite__builtin_nfiles; i++) {
        const struct pv_suite__file *f = &pv_suite__builtin_files[i];
        const char *slash = strchr(f->path, '/');
        char *cat = slash ? strndup(f->path, (size_t)(slash - f->path)) : NULL;
        if (!cat)
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        else
            rc = add_test(*out, cat, slash + 1, NULL, f->text, f->len, err);
        free(cat);
    }
    if (rc != 0) {
        pv_suite_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- a directory ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of dir, sorted: *names (free each and the array). */
static int list_dir(const char *dir, char ***names, size_t *n, pv_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return pv_err_set(err, errno == ENOENT || errno == ENOTDIR ? VOLLEY_EINPUT : VOLLEY_EIO,
                          "%s: cannot open the suite's directory: %s", dir, strerror(errno));
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(*names, cap * sizeof(*nn));
            if (!nn) {
                rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
                break;
            }
            *names = nn;
        }
        (*names)[*n] = strdup(e->d_name);
        if (!(*names)[*n])
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    if (rc == 0 && *n > 1)
        qsort(*names, *n, sizeof(**names), cmp_str);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Whether root/a[/b] is a directory (*isdir) or a regular file (*isreg). */
static void kind_of(const char *root, const char *a, const char *b, bool *isdir, bool *isreg)
{
    pv_buf p = PV_BUF_INIT;
    pv_buf_printf(&p, b ? "%s/%s/%s" : "%s/%s", root, a, b);
    struct stat st;
    bool ok = pv_buf_ok(&p) == 0 && stat(pv_buf_str(&p), &st) == 0;
    *isdir = ok && S_ISDIR(st.st_mode);
    *isreg = ok && S_ISREG(st.st_mode);
    pv_buf_fini(&p);
}

/* The tests of one category directory: its *.sql files (other entries are
   left alone: a CSV file of parameters, notes). */
static int add_category(pv_suite *s, const char *root, const char *cat, pv_err *err)
{
    pv_buf p = PV_BUF_INIT;
    pv_buf_printf(&p, "%s/%s", root, cat);
    if (pv_buf_ok(&p) != 0)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    char **names;
    size_t n;
    int rc = list_dir(pv_buf_str(&p), &names, &n, err);
    size_t before = s->n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool isdir, isreg;
        if (!ends_with(names[i], ".sql"))
            continue;
        kind_of(root, cat, names[i], &isdir, &isreg);
        if (isreg && strlen(names[i]) > 4)
            rc = add_test(s, cat, names[i], root, NULL, 0, err);
    }
    if (rc == 0 && s->n == before)
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "%s: the category has no test (a test is a *.sql workload file)",
                        pv_buf_str(&p));
    free_names(names, n);
    pv_buf_fini(&p);
    return rc;
}

int pv_suite_open(const char *dir, pv_suite **out, pv_err *err)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return pv_err_set(err, errno == ENOENT ? VOLLEY_EINPUT : VOLLEY_EIO,
                          "%s: cannot open the suite: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return pv_err_set(err, VOLLEY_EINPUT,
                          "%s: a suite is a directory with one sub-directory of *.sql files "
                          "per category",
                          dir);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    char *root = strndup(dir, len);
    if (!root)
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    const char *base = strrchr(root, '/');
    base = base && base[1] ? base + 1 : root;
    int rc = suite_new(base, dir, out, err);
    char **names = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = list_dir(root, &names, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool isdir, isreg;
        kind_of(root, names[i], NULL, &isdir, &isreg);
        if (isdir)
            rc = add_category(*out, root, names[i], err);
        else if (isreg && ends_with(names[i], ".sql"))
            rc = pv_err_set(err, VOLLEY_EINPUT,
                            "%s/%s: a test must be in a category's sub-directory "
                            "(e.g. %s/simple/%s)",
                            root, names[i], root, names[i]);
    }
    if (rc == 0 && (*out)->n == 0)
        rc = pv_err_set(err, VOLLEY_EINPUT,
                        "%s: the suite has no category (a sub-directory of *.sql workload "
                        "files)",
                        dir);
    free_names(names, n);
    free(root);
    if (rc != 0) {
        pv_suite_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- --only ------------------------------------------------------------ */

static bool matches(const struct pv_suite_test *t, const char *const *patterns, size_t n)
{
    pv_buf full = PV_BUF_INIT;
    pv_buf_printf(&full, "%s/%s", t->category, t->name);
    bool ok = false;
    for (size_t k = 0; k < n && !ok; k++)
        ok = fnmatch(patterns[k], t->category, 0) == 0 ||
             (pv_buf_ok(&full) == 0 && fnmatch(patterns[k], pv_buf_str(&full), 0) == 0);
    pv_buf_fini(&full);
    return ok;
}

int pv_suite_filter(pv_suite *s, const char *const *patterns, size_t n, pv_err *err)
{
    if (n == 0)
        return 0;
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++)
        kept += matches(&s->tests[i], patterns, n);
    if (kept == 0) {
        pv_buf list = PV_BUF_INIT;
        for (size_t k = 0; k < n; k++)
            pv_buf_printf(&list, "%s'%s'", k ? ", " : "", patterns[k]);
        int rc = pv_err_set(err, VOLLEY_EINPUT,
                            "no test of the suite matches %s (a pattern matches a category, or "
                            "category/name)",
                            pv_buf_ok(&list) == 0 ? pv_buf_str(&list) : "the patterns");
        pv_buf_fini(&list);
        return rc;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (matches(&s->tests[i], patterns, n))
            s->tests[k++] = s->tests[i];
        else
            test_fini(&s->tests[i]);
    }
    s->n = k;
    return 0;
}

int pv_suite_load(const pv_suite *s, size_t i, pv_workload *w, pv_err *err)
{
    const struct pv_suite_test *t = &s->tests[i];
    if (t->path)
        return pv_workload_add_path(w, t->path, err);
    return pv_workload_add_text(w, t->file, t->text, t->len, err);
}

/* ---- --export ---------------------------------------------------------- */

static int make_dir(const char *path, pv_err *err)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return pv_err_set(err, VOLLEY_EINPUT, "%s: exists and is not a directory", path);
    }
    return pv_err_set(err, VOLLEY_EIO, "%s: cannot create the directory: %s", path,
                      strerror(errno));
}

static int write_file(const char *path, const char *text, size_t len, pv_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return pv_err_set(err, errno == EEXIST ? VOLLEY_EINPUT : VOLLEY_EIO,
                          "%s: cannot create: %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int rc = pv_err_set(err, VOLLEY_EIO, "%s: cannot write: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
        off += (size_t)k;
    }
    if (close(fd) != 0)
        return pv_err_set(err, VOLLEY_EIO, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

int pv_suite_export(const char *dir, pv_err *err)
{
    pv_buf p = PV_BUF_INIT;
    int rc = 0;
    /* first every check, so that nothing is written beside a refusal */
    for (size_t i = 0; rc == 0 && i < pv_suite__builtin_nfiles; i++) {
        pv_buf_reset(&p);
        pv_buf_printf(&p, "%s/%s", dir, pv_suite__builtin_files[i].path);
        if (pv_buf_ok(&p) != 0)
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        else if (access(pv_buf_str(&p), F_OK) == 0)
            rc = pv_err_set(err, VOLLEY_EINPUT,
                            "%s: exists; --export never replaces a file (choose a new "
                            "directory)",
                            pv_buf_str(&p));
    }
    if (rc == 0)
        rc = make_dir(dir, err);
    for (size_t i = 0; rc == 0 && i < pv_suite__builtin_nfiles; i++) {
        const struct pv_suite__file *f = &pv_suite__builtin_files[i];
        const char *slash = strchr(f->path, '/');
        pv_buf_reset(&p);
        pv_buf_printf(&p, "%s/%.*s", dir, (int)(slash - f->path), f->path);
        if (pv_buf_ok(&p) != 0) {
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
            break;
        }
        rc = make_dir(pv_buf_str(&p), err);
        pv_buf_printf(&p, "%s", slash);
        if (rc == 0 && pv_buf_ok(&p) != 0)
            rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
        if (rc == 0)
            rc = write_file(pv_buf_str(&p), f->text, f->len, err);
    }
    pv_buf_fini(&p);
    return rc;
}
