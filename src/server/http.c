// HTTP helpers: JSON/error responses, decoding, name checks (http.h).
#include "server/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- responses

void http_common_headers(struct MHD_Response *r, const char *content_type)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        http_common_headers(r, "application/json; charset=utf-8");
        enum MHD_Result rc = MHD_queue_response(c, 500, r);
        MHD_destroy_response(r);
        return rc;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    if (!r) return free(txt), MHD_NO;
    http_common_headers(r, "application/json; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST, DELETE");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

cJSON *http_error_obj(const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    return o;
}

enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!http_valid_utf8(msg, strlen(msg))) snprintf(msg, sizeof msg, "%s", code); // never echo bad bytes
    return http_json(c, status, http_error_obj(code, msg));
}

const char *http_header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

int http_token_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na; i++) d |= (unsigned char)a[i] ^ (unsigned char)b[nb ? i % nb : 0];
    return d == 0;
}

// ---------------------------------------------------------------- decoding

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

long http_unescape(const char *in, size_t n, char *out, size_t cap, int plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            if (i + 2 >= n) return -1; // needs two hex digits
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            ch = hi * 16 + lo;
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        if (ch == 0 || o + 1 >= cap) return -1;
        out[o++] = (char)ch;
    }
    if (cap == 0) return -1;
    out[o] = 0;
    return (long)o;
}

long http_param(struct MHD_Connection *c, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v) return -1;
    long r = http_unescape(v, strlen(v), out, cap, 0); // MHD already turned '+' into ' '
    return r < 0 ? -2 : r;
}

const char *http_mb(long long bytes, char *buf, size_t cap)
{
    double mb = bytes / 1048576.0;
    if (mb >= 10 || mb == (long long)mb)
        snprintf(buf, cap, "%.0f MB", mb);
    else
        snprintf(buf, cap, "%.1f MB", mb < 0.1 ? 0.1 : mb);
    return buf;
}

// ---------------------------------------------------------------- names

int http_valid_utf8(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0; // overlong, range, surrogate
        i += len;
    }
    return 1;
}

int http_valid_name(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > HTTP_NAME_MAX) return 0;
    if (!strcmp(key, ".") || !strcmp(key, "..")) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)key[i];
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\') return 0; // ':' is fine: uploads keep it
    }
    return http_valid_utf8(key, n);
}
