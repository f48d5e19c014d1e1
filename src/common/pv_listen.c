/* pv_listen.c - a listening TCP socket on a numeric address (pv_listen.h). */
#include "common/pv_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The bound port and whether the address is a loopback one. */
static void bound(int fd, struct pv_listen *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        out->port = ntohs(a->sin_port);
        out->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        out->port = ntohs(a->sin6_port);
        out->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
}

int pv_listen_tcp(const char *host, int port, int backlog, struct pv_listen *out, pv_err *err)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0)
        return pv_err_set(err, VOLLEY_EINVAL, "'%s' is not an IPv4 or IPv6 address: %s", host,
                          gai_strerror(gai));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int saved = errno;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (res->ai_family == AF_INET6) /* [::] means IPv6 only, as asked */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    out->family = res->ai_family;
    freeaddrinfo(res);
    if (fd < 0)
        return pv_err_set(err, VOLLEY_EIO, "cannot listen on %s%s%s:%d: %s",
                          out->family == AF_INET6 ? "[" : "", host,
                          out->family == AF_INET6 ? "]" : "", port, strerror(saved));
    out->fd = fd;
    out->port = port;
    bound(fd, out);
    return 0;
}

void pv_listen_peer_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, buf, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        buf[0] = '\0';
}
