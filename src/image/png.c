// PNG through libpng: every color type and bit depth to 8-bit RGB the way PIL
// does it (16-bit keeps the high byte, alpha and tRNS are dropped, palettes
// expanded), Adam7 interlacing, and the eXIf orientation.
#include "image/decode.h"
#include "base/err.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct reader {
    img__reader in;
    char msg[200];
};

static void on_read(png_structp p, png_bytep out, size_t len)
{
    struct reader *r = png_get_io_ptr(p);
    if (img__read(&r->in, out, len) != len) png_error(p, "truncated file");
}

static void on_error(png_structp p, png_const_charp msg)
{
    struct reader *r = png_get_error_ptr(p);
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg)
{
    (void)p, (void)msg;
}

static void set_rgb8(png_structp p, png_infop info)
{
    int type = png_get_color_type(p, info);
    if (png_get_bit_depth(p, info) == 16) png_set_strip_16(p);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(p, info) < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(p);
    png_set_strip_alpha(p); // also drops alpha expanded from tRNS
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
}

static int png_orientation(png_structp p, png_infop info)
{
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(p, info, &n, &exif) && exif) return img_exif_orientation(exif, n);
#endif
    (void)p, (void)info;
    return 1;
}

// Bytes of IDAT data in the file (a walk over the chunk headers).
static long long idat_bytes(const uint8_t *d, size_t n)
{
    long long sum = 0;
    for (size_t off = 8; off + 12 <= n;) {
        uint32_t len = (uint32_t)d[off] << 24 | (uint32_t)d[off + 1] << 16 | (uint32_t)d[off + 2] << 8 | d[off + 3];
        if (!memcmp(d + off + 4, "IDAT", 4)) sum += len;
        if (!memcmp(d + off + 4, "IEND", 4) || len > n - off - 12) break;
        off += 12 + (size_t)len;
    }
    return sum;
}

int img__decode_png(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    struct reader r = {{d, n, 0}, ""};
    png_bytep *volatile rows = NULL;
    png_infop info = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    if (!p || !(info = png_create_info_struct(p))) {
        png_destroy_read_struct(&p, NULL, NULL);
        return lisa_seterr(LISA_ENOMEM, "PNG: out of memory");
    }
    if (setjmp(png_jmpbuf(p))) {
        rc = lisa_seterr(LISA_EFORMAT, "PNG: %s", r.msg);
        goto fail;
    }
    png_set_read_fn(p, &r, on_read);
    png_set_user_limits(p, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(p, 16 * 1024 * 1024); // text/ICC chunk bombs
    png_read_info(p, info);
    if ((rc = img__check_dims("PNG", png_get_image_width(p, info), png_get_image_height(p, info), o->max_pixels)) < 0)
        goto fail;
    long long raw = (long long)png_get_image_height(p, info) * (1 + (long long)png_get_rowbytes(p, info));
    if ((rc = img__check_data("PNG", idat_bytes(d, n), raw / IMG_DEFLATE_MAX_RATIO)) < 0) goto fail;
    *orient = png_orientation(p, info);
    set_rgb8(p, info);
    if (png_get_rowbytes(p, info) != (size_t)png_get_image_width(p, info) * 3) {
        rc = lisa_seterr(LISA_EUNSUPPORTED, "PNG: unexpected pixel layout");
        goto fail;
    }
    if ((rc = img_alloc(out, (int)png_get_image_width(p, info), (int)png_get_image_height(p, info))) < 0) goto fail;
    if (!(rows = malloc(sizeof *rows * (size_t)out->h))) {
        rc = lisa_seterr(LISA_ENOMEM, "PNG: out of memory");
        goto fail;
    }
    for (int y = 0; y < out->h; y++) rows[y] = out->px + (size_t)y * out->w * 3;
    png_read_image(p, rows);
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    return 0;
fail:
    free(rows);
    img_release(out);
    png_destroy_read_struct(&p, &info, NULL);
    return rc;
}
