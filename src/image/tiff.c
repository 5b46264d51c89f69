// TIFF through libtiff's RGBA interface (first directory). Pixels are read in
// stored order and the Orientation tag is applied by img_orient(), as PIL does.
#include "image/decode.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

static tsize_t t_read(thandle_t h, tdata_t buf, tsize_t len)
{
    return len < 0 ? 0 : (tsize_t)img__read(h, buf, (size_t)len);
}

static tsize_t t_write(thandle_t h, tdata_t buf, tsize_t len)
{
    (void)h, (void)buf, (void)len;
    return -1;
}

static toff_t t_seek(thandle_t h, toff_t off, int whence)
{
    img__reader *r = h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? r->off : r->n;
    if (off > UINT64_MAX - base || base + off > r->n) return (toff_t)-1;
    r->off = (size_t)(base + off);
    return r->off;
}

static int t_close(thandle_t h)
{
    (void)h;
    return 0;
}
static toff_t t_size(thandle_t h)
{
    return ((img__reader *)h)->n;
}

static _Thread_local char tiff_msg[200];

static void on_error(const char *mod, const char *fmt, va_list ap)
{
    (void)mod;
    vsnprintf(tiff_msg, sizeof tiff_msg, fmt, ap);
}

static void on_warning(const char *mod, const char *fmt, va_list ap)
{
    (void)mod, (void)fmt, (void)ap;
}

static int read_rgba(TIFF *t, int w, int h, int orient, img_t *out)
{
    size_t n = (size_t)w * h;
    uint32_t *raster = _TIFFmalloc((tmsize_t)(n * 4));
    int rc;
    if (!raster) return lisa_seterr(LISA_ENOMEM, "TIFF: out of memory");
    // Asking for the file's own orientation makes libtiff flip nothing.
    if (!TIFFReadRGBAImageOriented(t, (uint32_t)w, (uint32_t)h, raster, orient, 0)) {
        rc = lisa_seterr(LISA_EFORMAT, "TIFF: %s", tiff_msg[0] ? tiff_msg : "cannot decode");
    } else if ((rc = img_alloc(out, w, h)) == 0) {
        for (size_t i = 0; i < n; i++) {
            out->px[i * 3] = (uint8_t)TIFFGetR(raster[i]);
            out->px[i * 3 + 1] = (uint8_t)TIFFGetG(raster[i]);
            out->px[i * 3 + 2] = (uint8_t)TIFFGetB(raster[i]);
        }
    }
    _TIFFfree(raster);
    return rc;
}

int img__decode_tiff(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    img__reader r = {d, n, 0};
    uint32_t w = 0, h = 0;
    uint16_t or = ORIENTATION_TOPLEFT;
    int rc;
    memset(out, 0, sizeof *out);
    tiff_msg[0] = 0;
    TIFFSetErrorHandler(on_error);
    TIFFSetWarningHandler(on_warning);
    TIFF *t = TIFFClientOpen("image", "rm", &r, t_read, t_write, t_seek, t_close, t_size, NULL, NULL);
    if (!t) return lisa_seterr(LISA_EFORMAT, "TIFF: %s", tiff_msg[0] ? tiff_msg : "bad header");
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, & or);
    if ((rc = img__check_dims("TIFF", w, h, o->max_pixels)) == 0) {
        *orient = or >= 1 && or <= 8 ? or : 1;
        rc = read_rgba(t, (int)w, (int)h, *orient, out);
    }
    TIFFClose(t);
    return rc;
}
