// Image buffers, format sniffing, EXIF orientation and the decode dispatcher.
#include "image/image.h"
#include "image/decode.h"
#include "base/err.h"
#include "base/file.h"

#include <libexif/exif-data.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void img_opts_init(img_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_pixels = IMG_DEFAULT_MAX_PIXELS;
}

int img_alloc(img_t *im, int w, int h)
{
    size_t n;
    im->w = im->h = 0;
    im->px = NULL;
    if (w <= 0 || h <= 0) return lisa_seterr(LISA_EFORMAT, "image has zero size (%dx%d)", w, h);
    if (lisa_mul((size_t)w, (size_t)h, &n) || lisa_mul(n, 3, &n))
        return lisa_seterr(LISA_ETOOBIG, "image %dx%d is too large", w, h);
    if (!(im->px = malloc(n))) return lisa_seterr(LISA_ENOMEM, "cannot allocate %dx%d image", w, h);
    im->w = w;
    im->h = h;
    return 0;
}

void img_release(img_t *im)
{
    if (!im) return;
    free(im->px);
    im->px = NULL;
    im->w = im->h = 0;
}

// ---------------------------------------------------------------- sniffing

static int heif_brand(const uint8_t *b)
{
    static const char *const brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                         "heis", "mif1", "msf1", "avif", "avis"};
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (!memcmp(b, brands[i], 4)) return 1;
    return 0;
}

img_format img_sniff(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return IMG_JPEG;
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return IMG_PNG;
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return IMG_GIF;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return IMG_WEBP;
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return IMG_TIFF;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return IMG_BMP;
    if (n >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        // Major brand, then the compatible brands up to the box end.
        uint32_t box = (uint32_t)d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3];
        if (heif_brand(d + 8)) return IMG_HEIF;
        for (size_t off = 16; off + 4 <= box && off + 4 <= n; off += 4)
            if (heif_brand(d + off)) return IMG_HEIF;
    }
    return IMG_UNKNOWN;
}

const char *img_format_name(img_format f)
{
    static const char *const names[] = {"unknown", "JPEG", "PNG", "WebP", "GIF", "HEIF", "BMP", "TIFF"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

// ---------------------------------------------------------------- orientation

int img_exif_orientation(const uint8_t *exif, size_t n)
{
    static const uint8_t hdr[6] = {'E', 'x', 'i', 'f', 0, 0};
    if (!exif || n < 8 || n > 0xFFFFFF) return 1;
    // libexif wants the "Exif\0\0" header; PNG eXIf and some WebP lack it.
    uint8_t *buf = NULL;
    if (memcmp(exif, hdr, 6) != 0) {
        if (!(buf = malloc(n + 6))) return 1;
        memcpy(buf, hdr, 6);
        memcpy(buf + 6, exif, n);
        exif = buf;
        n += 6;
    }
    int o = 1;
    ExifData *ed = exif_data_new();
    if (ed) {
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(ed, exif, (unsigned)n);
        ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->size >= 2) {
            int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
            if (v >= 1 && v <= 8) o = v;
        }
        exif_data_unref(ed);
    }
    free(buf);
    return o;
}

// Source pixel of output (x, y) is (ax*x + bx*y + cx, ay*x + by*y + cy), with
// c as a multiple of the source's (w-1) or (h-1). One table covers PIL's
// transpose methods: FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM, TRANSPOSE,
// ROTATE_270, TRANSVERSE, ROTATE_90 for orientations 2..8.
static const struct {
    signed char ax, bx, cw, ay, by, ch, swap;
} orient_map[9] = {
    [1] = {1, 0, 0, 0, 1, 0, 0},   [2] = {-1, 0, 1, 0, 1, 0, 0}, [3] = {-1, 0, 1, 0, -1, 1, 0},
    [4] = {1, 0, 0, 0, -1, 1, 0},  [5] = {0, 1, 0, 1, 0, 0, 1},  [6] = {0, 1, 0, -1, 0, 1, 1},
    [7] = {0, -1, 1, -1, 0, 1, 1}, [8] = {0, -1, 1, 1, 0, 0, 1},
};

int img_orient(img_t *im, int o)
{
    if (o <= 1 || o > 8) return 0;
    img_t out;
    int ow = orient_map[o].swap ? im->h : im->w, oh = orient_map[o].swap ? im->w : im->h;
    int rc = img_alloc(&out, ow, oh);
    if (rc < 0) return rc;
    const int ax = orient_map[o].ax, bx = orient_map[o].bx, ay = orient_map[o].ay, by = orient_map[o].by;
    const int cx = orient_map[o].cw * (im->w - 1), cy = orient_map[o].ch * (im->h - 1);
    for (int y = 0; y < oh; y++) {
        uint8_t *dst = out.px + (size_t)y * ow * 3;
        for (int x = 0; x < ow; x++, dst += 3) {
            int sx = ax * x + bx * y + cx, sy = ay * x + by * y + cy;
            memcpy(dst, im->px + ((size_t)sy * im->w + sx) * 3, 3);
        }
    }
    img_release(im);
    *im = out;
    return 0;
}

// ---------------------------------------------------------------- dispatch

size_t img__read(img__reader *r, void *out, size_t len)
{
    size_t k = len < r->n - r->off ? len : r->n - r->off;
    memcpy(out, r->d + r->off, k);
    r->off += k;
    return k;
}

// ---------------------------------------------------------------- decode budget

// Bytes charged by the decodes in flight, shared by every thread. A decode is
// charged IMG_BUDGET_BPP bytes per pixel when its header has been read (the
// first img__check_dims() of the decode) and released when img_decode()
// returns; it waits while the charge would exceed the budget, except when
// nothing else is charged (an image over the whole budget decodes alone).
static pthread_mutex_t budget_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_cv = PTHREAD_COND_INITIALIZER;
static long long budget_cap = IMG_BUDGET_DEFAULT, budget_used, budget_peak;
static __thread long long budget_held; // this thread's charge (0 outside a decode)

void img_budget_set(long long bytes)
{
    pthread_mutex_lock(&budget_mu);
    budget_cap = bytes > 0 ? bytes : IMG_BUDGET_DEFAULT;
    budget_peak = budget_used;
    pthread_cond_broadcast(&budget_cv);
    pthread_mutex_unlock(&budget_mu);
}

long long img_budget_peak(void)
{
    pthread_mutex_lock(&budget_mu);
    long long p = budget_peak;
    pthread_mutex_unlock(&budget_mu);
    return p;
}

static void budget_take(long long bytes)
{
    if (budget_held) return; // a second header in the same decode (a GIF frame): already charged
    pthread_mutex_lock(&budget_mu);
    while (budget_used > 0 && budget_used + bytes > budget_cap) pthread_cond_wait(&budget_cv, &budget_mu);
    budget_used += bytes;
    if (budget_used > budget_peak) budget_peak = budget_used;
    pthread_mutex_unlock(&budget_mu);
    budget_held = bytes;
}

static void budget_give(void)
{
    if (!budget_held) return;
    pthread_mutex_lock(&budget_mu);
    budget_used -= budget_held;
    pthread_cond_broadcast(&budget_cv);
    pthread_mutex_unlock(&budget_mu);
    budget_held = 0;
}

static __thread long long refused_w, refused_h, refused_cap; // the last image over the cap (img_probe)

void img__refused(long long *w, long long *h, long long *cap)
{
    *w = refused_w, *h = refused_h, *cap = refused_cap;
}

int img__check_dims(const char *fmt, long long w, long long h, long long max_pixels)
{
    if (w <= 0 || h <= 0) return lisa_seterr(LISA_EFORMAT, "%s: zero image size (%lldx%lld)", fmt, w, h);
    if (max_pixels <= 0) max_pixels = IMG_DEFAULT_MAX_PIXELS;
    refused_w = w, refused_h = h, refused_cap = max_pixels;
    if (w > INT32_MAX / 4 || h > INT32_MAX / 4 || w * h > max_pixels)
        return lisa_seterr(LISA_ETOOBIG, "%s: %lldx%lld is over the %lld-pixel limit", fmt, w, h, max_pixels);
    budget_take(w * h * IMG_BUDGET_BPP);
    return 0;
}

int img__check_data(const char *fmt, long long have, long long need_min)
{
    if (have >= need_min) return 0;
    return lisa_seterr(LISA_EFORMAT, "%s: %lld bytes of image data cannot hold the stated size (at least %lld needed)",
                       fmt, have, need_min);
}

static int decode_any(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    *orient = 1;
    switch (img_sniff(d, n)) {
    case IMG_JPEG: return img__decode_jpeg(d, n, o, out, orient);
    case IMG_PNG: return img__decode_png(d, n, o, out, orient);
    case IMG_WEBP: return img__decode_webp(d, n, o, out, orient);
    case IMG_GIF: return img__decode_gif(d, n, o, out);
    case IMG_HEIF: return img__decode_heif(d, n, o, out);
    case IMG_TIFF: return img__decode_tiff(d, n, o, out, orient);
    case IMG_BMP: return img__decode_bmp(d, n, o, out);
    case IMG_UNKNOWN: break;
    }
    return lisa_seterr(LISA_EUNSUPPORTED, "not a supported image (unknown magic bytes)");
}

static int decode_oriented(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    img_opts def;
    if (!o) img_opts_init(&def), o = &def;
    memset(out, 0, sizeof *out);
    int rc = decode_any(d, n, o, out, orient);
    if (rc == 0 && !o->no_orient) rc = img_orient(out, *orient);
    budget_give();
    if (rc < 0) img_release(out);
    return rc;
}

int img_decode(const uint8_t *data, size_t n, const img_opts *o, img_t *out)
{
    int orient;
    return decode_oriented(data, n, o, out, &orient);
}

int img_load(const char *path, const img_opts *o, img_t *out, int *orientation)
{
    lisa_map m;
    int orient = 1, rc = lisa_map_file(path, IMG_MAX_FILE_BYTES, &m);
    memset(out, 0, sizeof *out);
    if (rc < 0) return rc;
    rc = decode_oriented(m.data, m.size, o, out, &orient);
    lisa_unmap(&m);
    if (rc < 0) {
        char msg[LISA_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", lisa_errmsg_for(rc)); // never an older failure's
        return lisa_seterr(rc, "%s: %s", path, msg);
    }
    if (orientation) *orientation = orient;
    return 0;
}
