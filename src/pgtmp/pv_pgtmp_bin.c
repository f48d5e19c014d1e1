/* pv_pgtmp_bin.c - finding the server programs initdb and postgres (the bindir). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

/* pg_config --bindir gets this long before it is killed. */
#define PG_CONFIG_TIMEOUT_S 10.0

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* A bindir is usable when it holds both initdb and postgres. */
static bool bindir_ok(const char *dir)
{
    char path[PATH_MAX];
    return pv_pgtmp__fmt(path, sizeof(path), "%s/initdb", dir) && is_executable_file(path) &&
           pv_pgtmp__fmt(path, sizeof(path), "%s/postgres", dir) && is_executable_file(path);
}

/* Searches $PATH for an executable file called name. */
static bool find_in_path(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && path[0] == '/' && pv_pgtmp__fmt(out, n, "%.*s/%s", (int)len, path, name) &&
            is_executable_file(out))
            return true;
        path += len;
        if (*path == ':')
            path++;
    }
    return false;
}

/* `pg_config --bindir`, if pg_config is on PATH and says something. */
static bool pg_config_bindir(char *out, size_t n)
{
    char exe[PATH_MAX];
    if (!find_in_path("pg_config", exe, sizeof(exe)))
        return false;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return false;
    char arg1[] = "--bindir";
    char *argv[] = {exe, arg1, NULL};
    struct run_as self = {false, 0, 0};
    struct spawn s = {exe, argv, fds[1], -1, NULL, &self};
    pid_t pid;
    int rc = pv_pgtmp__spawn(&s, &pid, NULL);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return false;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + len, n - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == n - 1)
            break;
    }
    close(fds[0]);
    out[len] = '\0';
    int status;
    if (!pv_pgtmp__wait_child(pid, pv_pgtmp__deadline_after(PG_CONFIG_TIMEOUT_S), &status)) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return false;
    }
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && out[0] == '/' &&
           !strchr(out, '\n');
}

/* The directory of an initdb found on PATH (symlinks resolved first). */
static bool path_bindir(char *out, size_t n)
{
    char exe[PATH_MAX], real[PATH_MAX];
    if (!find_in_path("initdb", exe, sizeof(exe)))
        return false;
    if (realpath(exe, real)) {
        *strrchr(real, '/') = '\0';
        if (bindir_ok(real))
            return pv_pgtmp__fmt(out, n, "%s", real);
    }
    *strrchr(exe, '/') = '\0';
    return bindir_ok(exe) && pv_pgtmp__fmt(out, n, "%s", exe);
}

/* The newest /usr/lib/postgresql/N/bin (Debian's layout), by numeric version. */
static bool debian_bindir(char *out, size_t n)
{
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return false;
    long best_major = -1, best_minor = -1;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        const char *name = e->d_name;
        char *end;
        errno = 0;
        long major = strtol(name, &end, 10);
        if (errno || end == name || name[0] < '0' || name[0] > '9')
            continue;
        long minor = 0;
        if (*end == '.') { /* 9.6 */
            const char *m = end + 1;
            minor = strtol(m, &end, 10);
            if (end == m)
                continue;
        }
        if (*end != '\0')
            continue;
        if (major < best_major || (major == best_major && minor <= best_minor))
            continue;
        char bin[PATH_MAX];
        if (pv_pgtmp__fmt(bin, sizeof(bin), "/usr/lib/postgresql/%s/bin", name) && bindir_ok(bin) &&
            pv_pgtmp__fmt(out, n, "%s", bin)) {
            best_major = major;
            best_minor = minor;
        }
    }
    closedir(d);
    return best_major >= 0;
}

/* opts->bindir, else pg_config --bindir, else initdb on PATH, else Debian's. */
int pv_pgtmp__find_bindir(const char *given, char *out, size_t n, pv_err *err)
{
    if (given) {
        if (!bindir_ok(given))
            return pv_err_set(err, VOLLEY_ESERVER,
                              "the given PostgreSQL bindir %s does not hold executable initdb "
                              "and postgres programs",
                              given);
        if (!pv_pgtmp__fmt(out, n, "%s", given))
            return pv_err_set(err, VOLLEY_ESERVER, "the bindir path is too long");
        return 0;
    }
    /* On Debian, pg_config may print /usr/bin, where only wrappers live. */
    if (pg_config_bindir(out, n) && bindir_ok(out))
        return 0;
    if (path_bindir(out, n) || debian_bindir(out, n))
        return 0;
    return pv_err_set(err, VOLLEY_ESERVER,
                      "cannot find the PostgreSQL server programs initdb and postgres (tried "
                      "pg_config --bindir, PATH and /usr/lib/postgresql/*/bin); install the "
                      "PostgreSQL server or give its bindir");
}
