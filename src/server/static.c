// The embedded web UI (server/assets.h): GET / and GET /<file>, with content
// types by extension, ETags and cache headers (docs/api.md "Static UI").
#include "server/srv.h"
#include "server/assets.h"
#include "base/err.h"
#include "base/sha256.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const types[][2] = {
    {"html", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"webmanifest", "application/manifest+json"},
};

static const char *type_of(const char *path, int *revalidate)
{
    const char *dot = strrchr(path, '.');
    *revalidate = 1;
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++) {
        if (strcasecmp(dot + 1, types[i][0])) continue;
        *revalidate = i < 6 || !strcmp(types[i][0], "webmanifest"); // html/css/js/json/txt/manifest: no-cache;
                                                                    // fonts and images: a week
        return types[i][1];
    }
    return "application/octet-stream";
}

int srv__assets_init(srv *s)
{
    s->asset_etag = calloc(srv_assets_n ? srv_assets_n : 1, sizeof *s->asset_etag);
    sha256_ctx *h = sha256_new();
    if (!s->asset_etag || !h) return sha256_free(h), lisa_seterr(LISA_ENOMEM, "asset etags");
    for (size_t i = 0; i < srv_assets_n; i++) {
        char hex[SHA256_HEX_LEN + 1];
        sha256_reset(h);
        sha256_update(h, srv_assets[i].data, srv_assets[i].size);
        sha256_final(h, hex);
        snprintf(s->asset_etag[i], sizeof s->asset_etag[i], "\"%.32s\"", hex);
    }
    sha256_free(h);
    return 0;
}

enum MHD_Result srv__static(srv *s, struct MHD_Connection *c, const char *path)
{
    char rel[512];
    if (http_unescape(path, strlen(path), rel, sizeof rel, 0) < 0 || rel[0] != '/')
        return http_error(c, 400, "bad_request", "malformed path");
    const char *want = rel[1] ? rel + 1 : "index.html";
    size_t i = 0;
    while (i < srv_assets_n && strcmp(srv_assets[i].path, want)) i++;
    if (i == srv_assets_n) return http_error(c, 404, "not_found", "no such file");
    const char *inm = http_header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int hit = inm && (strstr(inm, s->asset_etag[i]) || !strcmp(inm, "*"));
    struct MHD_Response *r = MHD_create_response_from_buffer(hit ? 0 : srv_assets[i].size, (void *)srv_assets[i].data,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    int revalidate;
    const char *type = type_of(want, &revalidate);
    if (!hit) http_common_headers(r, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, s->asset_etag[i]);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, revalidate ? "no-cache" : "public, max-age=604800");
    enum MHD_Result rc = MHD_queue_response(c, hit ? 304 : 200, r);
    MHD_destroy_response(r);
    return rc;
}
