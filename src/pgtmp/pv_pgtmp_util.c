/* pv_pgtmp_util.c - the throwaway server's helpers: bounded formatting, sleeps, /proc/PID/stat. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgtmp/pv_pgtmp_int.h"

/* Fields of /proc/PID/stat (1-based): the first after comm, and starttime. */
#define STAT_FIELD_STATE     3
#define STAT_FIELD_STARTTIME 22

void pv_pgtmp__sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR: the callers loop anyway */
}

uint64_t pv_pgtmp__deadline_after(double seconds)
{
    return pv_now_ns() + (uint64_t)(seconds * 1e9);
}

/* snprintf into a fixed buffer; false if it did not fit. */
bool PV_PRINTF(3, 4) pv_pgtmp__fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(out, n, f, ap);
    va_end(ap);
    return r >= 0 && (size_t)r < n;
}

/*
 * Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat) and its state letter. pid 0 means ourselves.
 * @return 0, or -1 if the process is gone or /proc cannot be read.
 */
int pv_pgtmp__proc_stat(pid_t pid, unsigned long long *start, char *state)
{
    char path[64], buf[1024];
    if (pid == 0)
        pv_pgtmp__fmt(path, sizeof(path), "/proc/self/stat");
    else
        pv_pgtmp__fmt(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    if (state)
        *state = *p;
    /* p is at field 3; skip to field 22. */
    for (int field = STAT_FIELD_STATE; field < STAT_FIELD_STARTTIME; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return -1;
    if (start)
        *start = v;
    return 0;
}
