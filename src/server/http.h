// Small HTTP helpers for the server routes: JSON and error responses,
// percent-decoding that refuses NUL bytes and bad escapes, query parameters,
// and the validation of names used as lookup keys.
#ifndef LISA_SERVER_HTTP_H
#define LISA_SERVER_HTTP_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stddef.h>

#define HTTP_NAME_MAX 255   // bytes in an image key / file name
#define HTTP_QUERY_MAX 1000 // bytes in a search query
#define HTTP_PARAM_MAX 4096 // bytes in any decoded query parameter

// Sends o (consumed: deleted here) as JSON with status. Returns MHD's result.
enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, cJSON *o);

// Sends {"error": {"code", "message"}} with status; message is printf-style.
enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// The {"error": {...}} object alone (caller owns it).
cJSON *http_error_obj(const char *code, const char *message);

// Adds the common headers (no-store for JSON) to r.
void http_common_headers(struct MHD_Response *r, const char *content_type);

// Percent-decodes in (n bytes) into out (cap bytes, NUL-terminated);
// plus_space turns '+' into ' ' (query strings). Returns the decoded length,
// or -1 for a bad escape, a NUL byte (raw or %00) or a result over cap - 1.
long http_unescape(const char *in, size_t n, char *out, size_t cap, int plus_space);

// Query parameter name of the request, percent-decoded into out (the server
// installs an identity unescaper, so MHD hands over raw values). Returns the
// length, -1 when absent, -2 when malformed (bad escape, NUL) or too long.
long http_param(struct MHD_Connection *c, const char *name, char *out, size_t cap);

// bytes as people read a size, into buf: "50 MB", "1.5 MB", "0.2 MB"
// (1 MB = 1048576 bytes, the unit the limits are set in). Returns buf.
const char *http_mb(long long bytes, char *buf, size_t cap);

// 1 when key is acceptable as a file-name lookup key: 1..HTTP_NAME_MAX bytes,
// valid shortest-form UTF-8 (no overlong forms, surrogates or > U+10FFFF), no
// control characters, no '/', '\\' or ':', not "." or "..". Else 0.
int http_valid_name(const char *key);

// 1 when s is valid shortest-form UTF-8, else 0.
int http_valid_utf8(const char *s, size_t n);

// Value of request header name, or NULL.
const char *http_header(struct MHD_Connection *c, const char *name);

// Constant-time comparison of two NUL-terminated strings; 1 when equal.
int http_token_eq(const char *a, const char *b);

#endif
