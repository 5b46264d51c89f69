// JPEG through libjpeg-turbo: full or DCT-scaled decode, CMYK as PIL converts
// it, EXIF from APP1; and the JPEG encoder used for thumbnails.
#include "image/decode.h"
#include "base/err.h"

#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    int truncated; // libjpeg padded a premature end of data with a fake EOI
};

static void on_error(j_common_ptr c)
{
    struct jerr *e = (struct jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jmp, 1);
}

// Warnings: recoverable corruption (extraneous bytes, bad Huffman codes) is
// decoded as PIL does; running out of data is an error, as it is in PIL.
static void on_emit(j_common_ptr c, int level)
{
    if (level >= 0) return;
    c->err->num_warnings++;
    if (c->err->msg_code == JWRN_JPEG_EOF) ((struct jerr *)c->err)->truncated = 1;
}

// Largest DCT scale (1/8, 1/4, 1/2) that keeps the short side >= min_side and
// the long side >= min_long (libjpeg rounds scaled sizes up).
static int pick_denom(int w, int h, const img_opts *o)
{
    int s = w < h ? w : h, l = w < h ? h : w;
    if (o->min_side <= 0 && o->min_long <= 0) return 1;
    for (int d = 8; d > 1; d /= 2)
        if ((s + d - 1) / d >= o->min_side && (l + d - 1) / d >= o->min_long) return d;
    return 1;
}

static int find_orientation(j_decompress_ptr c)
{
    for (jpeg_saved_marker_ptr m = c->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && !memcmp(m->data, "Exif\0\0", 6))
            return img_exif_orientation(m->data, m->data_length);
    return 1;
}

// PIL reads every CMYK JPEG as Adobe-inverted ("CMYK;I") and converts with
// R = (255-K) - round(C*(255-K)/255), C and K being ink amounts.
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int w)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        int nk = in[3]; // stored inverted: 255 - K
        for (int i = 0; i < 3; i++) {
            int t = (255 - in[i]) * nk + 128;
            out[i] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

static int read_pixels(j_decompress_ptr c, img_t *out)
{
    int cmyk = c->out_color_space == JCS_CMYK;
    uint8_t *row = cmyk ? malloc((size_t)c->output_width * 4) : NULL;
    if (cmyk && !row) return lisa_seterr(LISA_ENOMEM, "JPEG: out of memory");
    while (c->output_scanline < c->output_height) {
        uint8_t *dst = out->px + (size_t)c->output_scanline * out->w * 3;
        JSAMPROW r = cmyk ? row : dst;
        jpeg_read_scanlines(c, &r, 1);
        if (cmyk) cmyk_row_to_rgb(row, dst, out->w);
    }
    free(row);
    return 0;
}

int img__decode_jpeg(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    struct jpeg_decompress_struct c;
    struct jerr e;
    int rc;
    memset(out, 0, sizeof *out);
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = on_error;
    e.mgr.emit_message = on_emit;
    e.truncated = 0;
    if (setjmp(e.jmp)) {
        img_release(out);
        jpeg_destroy_decompress(&c);
        return lisa_seterr(LISA_EFORMAT, "JPEG: %s", e.msg);
    }
    jpeg_create_decompress(&c);
    c.mem->max_memory_to_use = 512L * 1024 * 1024;
    jpeg_mem_src(&c, d, (unsigned long)n);
    jpeg_save_markers(&c, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&c, TRUE);
    if ((rc = img__check_dims("JPEG", c.image_width, c.image_height, o->max_pixels)) < 0) {
        jpeg_destroy_decompress(&c);
        return rc;
    }
    *orient = find_orientation(&c);
    c.out_color_space = (c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK) ? JCS_CMYK : JCS_RGB;
    c.scale_num = 1;
    c.scale_denom = (unsigned)pick_denom((int)c.image_width, (int)c.image_height, o);
    jpeg_start_decompress(&c);
    if ((rc = img_alloc(out, (int)c.output_width, (int)c.output_height)) == 0 && (rc = read_pixels(&c, out)) == 0)
        jpeg_finish_decompress(&c);
    if (rc == 0 && e.truncated) rc = lisa_seterr(LISA_EFORMAT, "JPEG: truncated file");
    jpeg_destroy_decompress(&c);
    if (rc < 0) img_release(out);
    return rc;
}

// ---------------------------------------------------------------- encoder

int img_write_jpeg(const img_t *im, int quality, const char *path)
{
    struct jpeg_compress_struct c;
    struct jerr e;
    FILE *f = fopen(path, "wb");
    if (!f) return lisa_seterr(LISA_EIO, "%s: cannot create", path);
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = on_error;
    if (setjmp(e.jmp)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return lisa_seterr(LISA_EIO, "%s: JPEG: %s", path, e.msg);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)im->w;
    c.image_height = (JDIMENSION)im->h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.optimize_coding = TRUE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = im->px + (size_t)c.next_scanline * im->w * 3;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) return lisa_seterr(LISA_EIO, "%s: write failed", path);
    return 0;
}
