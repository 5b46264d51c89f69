// img_probe(): the checks a file must pass to be indexed, run on an upload
// before it is kept, with a one-sentence reason (image.h).
#include "image/decode.h"
#include "image/image.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

// "110 MP", or "0.4 MP" under 10 MP.
static void fmt_mp(long long px, char *buf, size_t cap)
{
    double mp = px / 1e6;
    snprintf(buf, cap, mp < 10 ? "%.1f MP" : "%.0f MP", mp);
}

// The decoder's reason without the path img_load() puts first.
static const char *reason(const char *msg, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}

static int too_big(const char *name)
{
    long long w, h, cap;
    char have[32], lim[32];
    img__refused(&w, &h, &cap);
    fmt_mp(w * h, have, sizeof have);
    fmt_mp(cap, lim, sizeof lim);
    return lisa_seterr(LISA_ETOOBIG, "%s is %s; the limit is %s.", name, have, lim);
}

int img_probe(const char *path, const char *name)
{
    const char *b = strrchr(path, '/');
    if (!name || !*name) name = b ? b + 1 : path;
    struct stat sb;
    if (stat(path, &sb) < 0) return lisa_seterr(LISA_ENOTFOUND, "%s cannot be opened.", name);
    if (sb.st_size == 0) return lisa_seterr(LISA_EFORMAT, "%s is empty.", name);
    img_opts o;
    img_opts_init(&o);
    o.min_side = 1, o.no_orient = 1; // the smallest DCT scale: every byte is still read
    img_t im;
    int rc = img_load(path, &o, &im, NULL);
    if (rc == 0) {
        img_release(&im);
        return 0;
    }
    if (rc == LISA_ETOOBIG) return too_big(name);
    if (rc == LISA_EUNSUPPORTED)
        return lisa_seterr(rc, "%s is not a JPEG, PNG, WebP, GIF, HEIF, TIFF or BMP file.", name);
    char msg[LISA_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", reason(lisa_errmsg_for(rc), path));
    return lisa_seterr(rc, "%s cannot be read (%s).", name, msg);
}
