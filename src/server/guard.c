// Who may talk to the server (srv.h): the Host check against DNS rebinding,
// the same-origin check on state-changing requests, and the loopback test
// behind "a token is required beyond loopback".
#include "server/srv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#define HOST_NAME_CAP 256 // bytes of a Host name (DNS names are at most 253)

int srv__is_loopback(const char *host)
{
    if (!host || !*host || !strcasecmp(host, "localhost")) return 1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int is_wildcard(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return a4.s_addr == INADDR_ANY;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

// Splits "name[:port]" or "[v6][:port]" into name (lower case, no brackets,
// no trailing dot). Returns 0, or -1 when malformed.
static int split_host(const char *h, char *name, size_t cap)
{
    const char *end, *rest;
    if (*h == '[') {
        if (!(end = strchr(h, ']'))) return -1;
        h++, rest = end + 1;
    } else {
        end = strchr(h, ':');
        if (!end) end = h + strlen(h);
        rest = end;
    }
    if (*rest == ':') {
        rest++;
        size_t nd = strspn(rest, "0123456789");
        if (nd == 0 || nd > 5 || rest[nd]) return -1;
    } else if (*rest) {
        return -1;
    }
    size_t n = (size_t)(end - h);
    if (n && h[n - 1] == '.') n--;
    if (n == 0 || n >= cap) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '@' || ch == '\\') return -1;
        name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    name[n] = 0;
    return 0;
}

// 1 when both are IP literals of the same address.
static int same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1) return inet_pton(AF_INET, b, y) == 1 && !memcmp(x, y, 4);
    if (inet_pton(AF_INET6, a, x) == 1) return inet_pton(AF_INET6, b, y) == 1 && !memcmp(x, y, 16);
    return 0;
}

static int is_literal(const char *a)
{
    unsigned char x[16];
    return inet_pton(AF_INET, a, x) == 1 || inet_pton(AF_INET6, a, x) == 1;
}

int srv__host_ok(const srv *s, const char *host)
{
    char name[HOST_NAME_CAP];
    if (!host) return 1; // HTTP/1.0 without Host (MHD refuses HTTP/1.1 without one); browsers always send it
    if (split_host(host, name, sizeof name) < 0) return 0;
    if (!strcmp(name, "localhost")) return 1;
    for (int i = 0; i < s->nhosts; i++)
        if (!strcasecmp(name, s->hosts[i])) return 1;
    if (!is_literal(name)) return 0; // a DNS name we were not told about: rebinding
    if (is_wildcard(s->bind)) return 1;
    if (same_addr(name, s->bind)) return 1;
    return srv__is_loopback(s->bind) && srv__is_loopback(name);
}

int srv__same_origin(const srv *s, const char *origin, const char *site, const char *host)
{
    if (site && strcasecmp(site, "same-origin") && strcasecmp(site, "none")) return 0; // cross-site, same-site
    if (!origin) return 1; // not from a browser page (curl, scripts)
    const char *a;
    if (!strncasecmp(origin, "http://", 7))
        a = origin + 7;
    else if (!strncasecmp(origin, "https://", 8))
        a = origin + 8;
    else
        return 0; // "null" (sandboxed frames, file://) and anything else
    if (!srv__host_ok(s, a)) return 0;
    return host && !strcasecmp(a, host); // same host and port as the request's target
}
