// The web UI, embedded at build time: tools/embed_assets.sh turns web/** into
// build/gen/web_assets.c (linked into liblisa.a), one srv_asset per file.
// When web/index.html is missing a placeholder page is embedded instead.
#ifndef LISA_SERVER_ASSETS_H
#define LISA_SERVER_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          // relative to web/, e.g. "fonts/x.woff2"
    const unsigned char *data; // static, size bytes
    size_t size;
} srv_asset;

extern const srv_asset srv_assets[];
extern const size_t srv_assets_n;

#endif
