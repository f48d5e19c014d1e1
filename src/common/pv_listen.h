/*
 * pv_listen.h - a listening TCP socket on a numeric address, for the HTTP
 * servers that take one (`run --metrics-listen`, `pgvolley serve`).
 */
#ifndef PV_LISTEN_H
#define PV_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pv_common.h"

struct pv_listen {
    int fd;        /* listening, SOCK_CLOEXEC; the caller closes it */
    int family;    /* AF_INET or AF_INET6 ([::] is IPv6 only, as asked) */
    int port;      /* the port bound (the one chosen for port 0) */
    bool loopback; /* bound to 127.0.0.0/8 or ::1 */
};

/**
 * Binds host:port (host a numeric IPv4 or IPv6 address, never a name
 * looked up for the caller; port 0 = any free one) and listens.
 * @return 0; VOLLEY_EINVAL (host is not a numeric address) or VOLLEY_EIO
 *         (cannot bind or listen: "cannot listen on [::1]:8080: Address
 *         already in use"), err set; nothing is left open on error.
 */
int pv_listen_tcp(const char *host, int port, int backlog, struct pv_listen *out, pv_err *err);

struct sockaddr;

/**
 * A peer's address as numeric text ("127.0.0.1", "::1") into buf (cap
 * bytes; NI_MAXHOST is enough): "" when sa is NULL or not IPv4/IPv6. For
 * the rate limits and logs of the HTTP servers.
 */
void pv_listen_peer_text(const struct sockaddr *sa, char *buf, size_t cap);

#endif /* PV_LISTEN_H */
