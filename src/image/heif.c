// HEIF/HEIC (and AVIF where libheif has a decoder) through libheif. libheif
// applies the container's rotation and mirror (irot/imir), which is where
// HEIF keeps orientation; EXIF orientation is informational there.
#include "image/decode.h"
#include "base/err.h"

#include <libheif/heif.h>
#include <string.h>

static int heif_fail(struct heif_error e, const char *what)
{
    return lisa_seterr(e.code == heif_error_Memory_allocation_error ? LISA_ENOMEM : LISA_EFORMAT, "HEIF: %s: %s", what,
                       e.message ? e.message : "error");
}

static int copy_plane(const struct heif_image *hi, img_t *out)
{
    int stride;
    const uint8_t *src = heif_image_get_plane_readonly(hi, heif_channel_interleaved, &stride);
    int w = heif_image_get_width(hi, heif_channel_interleaved);
    int h = heif_image_get_height(hi, heif_channel_interleaved);
    int rc = 0;
    if (!src || stride < w * 3) return lisa_seterr(LISA_EFORMAT, "HEIF: no RGB plane");
    if ((rc = img_alloc(out, w, h)) < 0) return rc;
    for (int y = 0; y < h; y++) memcpy(out->px + (size_t)y * w * 3, src + (size_t)y * stride, (size_t)w * 3);
    return 0;
}

int img__decode_heif(const uint8_t *d, size_t n, const img_opts *o, img_t *out)
{
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *h = NULL;
    struct heif_image *hi = NULL;
    struct heif_decoding_options *opt = NULL;
    struct heif_error e;
    int rc;
    memset(out, 0, sizeof *out);
    if (!ctx) return lisa_seterr(LISA_ENOMEM, "HEIF: out of memory");
    e = heif_context_read_from_memory_without_copy(ctx, d, n, NULL);
    if (e.code) {
        rc = heif_fail(e, "container");
        goto done;
    }
    e = heif_context_get_primary_image_handle(ctx, &h);
    if (e.code) {
        rc = heif_fail(e, "primary image");
        goto done;
    }
    rc = img__check_dims("HEIF", heif_image_handle_get_width(h), heif_image_handle_get_height(h), o->max_pixels);
    if (rc < 0) goto done;
    opt = heif_decoding_options_alloc();
    if (opt) opt->ignore_transformations = o->no_orient ? 1 : 0;
    e = heif_decode_image(h, &hi, heif_colorspace_RGB, heif_chroma_interleaved_RGB, opt);
    if (e.code) {
        rc = heif_fail(e, "decode");
        goto done;
    }
    rc = copy_plane(hi, out);
done:
    heif_image_release(hi);
    heif_decoding_options_free(opt);
    heif_image_handle_release(h);
    heif_context_free(ctx);
    return rc;
}
