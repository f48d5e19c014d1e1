/*
 * pv_mcp_stdio.c - the stdio transport: one session, newline-delimited
 * JSON-RPC messages in, one message per line out.
 *
 * The reader (the caller's thread) polls its input so that it notices the
 * stop flag. It hands over a tool call only when the session may start one
 * (at most max_inflight run at once) and reads no further meanwhile. Answers are queued to a writer
 * thread, so that neither the engine's loop (which sends progress notifications) nor the reader
 * ever blocks on a client that reads slowly; progress notifications are dropped when more than
 * OUT_SOFT_LIMIT bytes wait, answers never are.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/pv_jsonrpc.h"
#include "mcp/pv_mcp.h"

#define READ_CHUNK     65536
#define MAX_LINE       (16u << 20) /* a longer message is refused */
#define OUT_SOFT_LIMIT (8u << 20)
#define POLL_MS        200          /* how often *stop is looked at */
#define TOOLS_CALL     "tools/call" /* a line holding this may start a call: may wait */

struct line {
    struct line *next;
    size_t len;
    char text[]; /* message + '\n' */
};

struct writer {
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct line *head, *tail;
    size_t bytes;
    bool stop;
    bool broken; /* the output is gone: discard */
    pthread_t thread;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        struct line *l = w->head;
        if (!l)
            break;
        w->head = l->next;
        if (!w->head)
            w->tail = NULL;
        w->bytes -= l->len;
        bool broken = w->broken;
        pthread_mutex_unlock(&w->mu);
        size_t off = 0;
        while (!broken && off < l->len) {
            ssize_t n = write(w->fd, l->text + off, l->len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                broken = true;
                break;
            }
            off += (size_t)n;
        }
        free(l);
        pthread_mutex_lock(&w->mu);
        if (broken)
            w->broken = true;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void sink_send(void *arg, json_t *msg, bool notification)
{
    struct writer *w = arg;
    char *text = pv_jrpc_dump(msg);
    if (!text)
        return;
    size_t len = strlen(text);
    struct line *l = malloc(sizeof(*l) + len + 1);
    if (!l) {
        free(text);
        return;
    }
    memcpy(l->text, text, len);
    l->text[len] = '\n';
    l->len = len + 1;
    l->next = NULL;
    free(text);
    pthread_mutex_lock(&w->mu);
    if (w->broken || (notification && w->bytes > OUT_SOFT_LIMIT)) {
        pthread_mutex_unlock(&w->mu);
        free(l);
        return;
    }
    if (w->tail)
        w->tail->next = l;
    else
        w->head = l;
    w->tail = l;
    w->bytes += l->len;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void sink_done(void *arg)
{
    (void)arg;
}

/*
 * Handles one line. A tool call while the session's calls are at their
 * limit waits for one of them to end (backpressure: the input is not read
 * meanwhile, so a client writing faster than we run fills its pipe and
 * waits) rather than being refused. Lines that are not tool calls (a
 * cancellation, a ping) pass at once. Returns false when *stop ended the wait.
 */
static bool handle_line(pv_mcp_session *s, const struct pv_mcp_sink *sink, char *line, size_t len,
                        volatile sig_atomic_t *stop)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return true; /* blank line */
    if (memmem(line + i, len - i, TOOLS_CALL, strlen(TOOLS_CALL))) {
        while (!pv_mcp_session_wait_slot(s, POLL_MS))
            if (stop && *stop)
                return false;
    }
    pv_mcp_handle_text(s, line + i, len - i, sink);
    return true;
}

static void too_long(const struct pv_mcp_sink *sink)
{
    json_t *e = pv_jrpc_error(NULL, PV_JRPC_PARSE_ERROR, "message longer than 16 MiB", NULL);
    if (e)
        sink->send(sink->arg, e, false);
    json_decref(e);
}

/*
 * End of input: the running calls still answer (a client may close its
 * input after its last request, as `echo ... | pgvolley mcp` does). A stop
 * (SIGTERM, as the MCP stdio transport's shutdown sends), an error or an
 * output that is gone (nobody will read the answers: a write failed, or the
 * pipe's reader closed it) cancels them at once. Returns when none runs.
 */
static void finish_calls(pv_mcp *m, struct writer *w, volatile sig_atomic_t *stop, bool failed)
{
    if (failed || (stop && *stop))
        pv_mcp_shutdown(m);
    while (!pv_mcp_wait_idle(m, POLL_MS)) {
        pthread_mutex_lock(&w->mu);
        bool gone = w->broken;
        pthread_mutex_unlock(&w->mu);
        /* a pipe whose reader closed it says so (POLLERR) before any write */
        struct pollfd pfd = {.fd = w->fd, .events = 0};
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
            gone = true;
        if ((stop && *stop) || gone)
            pv_mcp_shutdown(m);
    }
}

int pv_mcp_serve_stdio(pv_mcp *m, int in_fd, int out_fd, volatile sig_atomic_t *stop, pv_err *err)
{
    struct writer w = {.fd = out_fd};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = 0;
    pv_mcp_session *s = NULL;
    char *buf = malloc(READ_CHUNK);
    size_t cap = READ_CHUNK, len = 0;
    bool skipping = false; /* inside a line that was too long */
    if (!buf || pv_mcp_session_create(m, &s) != 0) {
        free(buf);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
        return pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
    }
    if (pthread_create(&w.thread, NULL, writer_main, &w) != 0) {
        pv_mcp_session_release(s);
        free(buf);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
        return pv_err_set(err, VOLLEY_EIO, "cannot start the writer thread");
    }
    struct pv_mcp_sink sink = {sink_send, sink_done, &w};

    bool eof = false;
    while (!eof && !(stop && *stop)) {
        struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, POLL_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            rc = pv_err_set(err, VOLLEY_EIO, "cannot read the input: %s", strerror(errno));
            break;
        }
        if (pr == 0)
            continue;
        if (cap - len < READ_CHUNK) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = pv_err_set(err, VOLLEY_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(in_fd, buf + len, READ_CHUNK);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            rc = pv_err_set(err, VOLLEY_EIO, "cannot read the input: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            eof = true;
            if (len > 0 && !skipping)
                handle_line(s, &sink, buf, len, stop);
            len = 0;
            break;
        }
        size_t start = 0, scan = len;
        len += (size_t)n;
        bool stopped = false;
        for (size_t i = scan; i < len && !stopped; i++) {
            if (buf[i] != '\n')
                continue;
            if (!skipping)
                stopped = !handle_line(s, &sink, buf + start, i - start, stop);
            skipping = false;
            start = i + 1;
        }
        if (stopped)
            break;
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > MAX_LINE) {
            if (!skipping)
                too_long(&sink);
            skipping = true;
            len = 0;
        }
        if (cap > 4 * READ_CHUNK && len < READ_CHUNK) {
            char *nb = realloc(buf, READ_CHUNK * 2);
            if (nb) {
                buf = nb;
                cap = READ_CHUNK * 2;
            }
        }
    }
    free(buf);

    finish_calls(m, &w, stop, rc != 0);
    pv_mcp_session_release(s);

    pthread_mutex_lock(&w.mu);
    w.stop = true;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(w.thread, NULL);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}
