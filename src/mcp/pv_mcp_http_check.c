/*
 * pv_mcp_http_check.c - the request checks of the Streamable HTTP transport:
 * Origin and Host (DNS rebinding), the bearer token, Accept, the
 * 2026-07-28 request headers (Mcp-Method, Mcp-Name, MCP-Protocol-Version)
 * against the body, and whether a client has closed its connection.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/pv_buf.h"
#include "common/pv_http_guard.h"
#include "mcp/pv_mcp.h"
#include "mcp/pv_mcp_http_int.h"

#define B64_PREFIX "=?base64?"
#define B64_SUFFIX "?="

const char *pv_mcp__header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

bool pv_mcp__auth_ok(const char *token, struct MHD_Connection *c)
{
    return !token || pv_http_bearer_ok(pv_mcp__header(c, MHD_HTTP_HEADER_AUTHORIZATION), token);
}

bool pv_mcp__accepts(struct MHD_Connection *c, const char *type)
{
    const char *a = pv_mcp__header(c, MHD_HTTP_HEADER_ACCEPT);
    return a && strcasestr(a, type) != NULL;
}

bool pv_mcp__client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    /* POLLRDHUP: the client shut its side (closed the stream); a pipelined
       next request would only make the socket readable. */
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* ==== 2026-07-28 request headers ======================================= */

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Decodes standard Base64 (padding optional) into out; false if malformed. */
static bool b64_decode(const char *in, size_t len, pv_buf *out)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            pv_buf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
    return pv_buf_ok(out) == 0;
}

/* A header value: visible ASCII, space and tab only (RFC 9110). */
static bool header_chars_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (!(*p == '\t' || (*p >= 0x20 && *p <= 0x7e)))
            return false;
    return true;
}

/* Mcp-Name's value, decoded from the Base64 sentinel form when so written. */
static bool decode_name(const char *h, pv_buf *out)
{
    size_t len = strlen(h), pl = strlen(B64_PREFIX), sl = strlen(B64_SUFFIX);
    if (len >= pl + sl && strncmp(h, B64_PREFIX, pl) == 0 && strcmp(h + len - sl, B64_SUFFIX) == 0)
        return b64_decode(h + pl, len - pl - sl, out);
    pv_buf_puts(out, h);
    return pv_buf_ok(out) == 0;
}

static bool check_headers(json_t *root, const char *version, const char *pv, const char *hm,
                          const char *hn, pv_buf *msg)
{
    const char *method = json_string_value(json_object_get(root, "method"));
    if (!pv || strcmp(pv, version) != 0) {
        pv_buf_printf(msg,
                      "Header mismatch: MCP-Protocol-Version header value '%s' does not match "
                      "body value '%s'",
                      pv ? pv : "(missing)", version);
        return false;
    }
    if (!hm || !header_chars_ok(hm) || strcmp(hm, method) != 0) {
        pv_buf_printf(msg,
                      "Header mismatch: Mcp-Method header value '%s' does not match body "
                      "value '%s'",
                      hm ? hm : "(missing)", method);
        return false;
    }
    /* Mcp-Name mirrors params.name (tools/call, prompts/get) or params.uri
       (resources/read). */
    json_t *params = json_object_get(root, "params");
    const char *key = strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0
                          ? "name"
                      : strcmp(method, "resources/read") == 0 ? "uri"
                                                              : NULL;
    if (!key)
        return true;
    const char *body = json_string_value(json_object_get(params, key));
    pv_buf name = PV_BUF_INIT;
    bool ok = hn && header_chars_ok(hn) && decode_name(hn, &name) && body &&
              name.len == strlen(body) && memcmp(pv_buf_str(&name), body, name.len) == 0;
    pv_buf_fini(&name);
    if (!ok)
        pv_buf_printf(msg,
                      "Header mismatch: Mcp-Name header value '%s' does not match body "
                      "value '%s'",
                      hn ? hn : "(missing)", body ? body : "(missing)");
    return ok;
}

/* A header's value without the optional whitespace around it (RFC 9110 5.5), or NULL. */
static const char *header_value(struct MHD_Connection *c, const char *name, pv_buf *out)
{
    const char *v = pv_mcp__header(c, name);
    if (!v)
        return NULL;
    v += strspn(v, " \t");
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    pv_buf_append(out, v, n);
    return pv_buf_ok(out) == 0 ? pv_buf_str(out) : NULL;
}

bool pv_mcp__modern_headers_ok(struct MHD_Connection *c, json_t *root, const char *version,
                               pv_buf *msg)
{
    pv_buf pvb = PV_BUF_INIT, hmb = PV_BUF_INIT, hnb = PV_BUF_INIT;
    const char *pv = header_value(c, "MCP-Protocol-Version", &pvb);
    const char *hm = header_value(c, "Mcp-Method", &hmb);
    const char *hn = header_value(c, "Mcp-Name", &hnb);
    bool ok = check_headers(root, version, pv, hm, hn, msg);
    pv_buf_fini(&pvb);
    pv_buf_fini(&hmb);
    pv_buf_fini(&hnb);
    return ok;
}
