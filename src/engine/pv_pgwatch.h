/*
 * pv_pgwatch.h - what every event-loop owner of a non-blocking libpq
 * connection needs: a uv_poll_t on PQsocket that follows the socket when
 * libpq replaces it (during connect and reset), libpq's messages cut to one
 * line, and a notice processor that keeps libpq from printing to stderr.
 */
#ifndef PV_PGWATCH_H
#define PV_PGWATCH_H

#include <libpq-fe.h>
#include <stddef.h>
#include <uv.h>

/* Embedded in the owner's connection struct; zero it (fd = -1) before use. */
struct pv_pgwatch {
    uv_poll_t *poll; /* allocated per socket; freed in its close callback */
    int fd;
    int events;
};

/**
 * Watches pg's current socket for events (UV_READABLE/UV_WRITABLE), calling
 * cb with the poll handle's data set to data. A changed socket gets a new
 * poll handle (the old one is closed first).
 * @return 0, or -1 (no socket, out of memory, libuv refused).
 */
int pv_pgwatch_set(struct pv_pgwatch *w, uv_loop_t *loop, PGconn *pg, int events, uv_poll_cb cb,
                   void *data);

/** Stops watching and closes the poll handle (before PQfinish). */
void pv_pgwatch_close(struct pv_pgwatch *w);

/** Copies the first line of msg ("unknown error" when empty) into dst. */
void pv_first_line(char *dst, size_t cap, const char *msg);

/** A libpq notice processor that drops notices (pgvolley never prints them). */
void pv_notice_ignore(void *arg, const char *msg);

#endif /* PV_PGWATCH_H */
