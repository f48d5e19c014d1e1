/* pv_pgwatch.c - libuv polling of a libpq socket, and small libpq helpers. */
#include "engine/pv_pgwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

void pv_pgwatch_close(struct pv_pgwatch *w)
{
    if (w->poll) {
        uv_close((uv_handle_t *)w->poll, on_poll_closed);
        w->poll = NULL;
    }
    w->fd = -1;
    w->events = 0;
}

int pv_pgwatch_set(struct pv_pgwatch *w, uv_loop_t *loop, PGconn *pg, int events, uv_poll_cb cb,
                   void *data)
{
    int fd = PQsocket(pg);
    if (fd < 0)
        return -1;
    if (w->poll && fd != w->fd)
        pv_pgwatch_close(w);
    if (!w->poll) {
        w->poll = malloc(sizeof(*w->poll));
        if (!w->poll)
            return -1;
        if (uv_poll_init(loop, w->poll, fd) != 0) {
            free(w->poll);
            w->poll = NULL;
            return -1;
        }
        w->poll->data = data;
        w->fd = fd;
        w->events = 0;
    }
    if (events != w->events) {
        if (uv_poll_start(w->poll, events, cb) != 0)
            return -1;
        w->events = events;
    }
    return 0;
}

void pv_first_line(char *dst, size_t cap, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    snprintf(dst, cap, "%.*s", (int)n, msg);
}

void pv_notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}
