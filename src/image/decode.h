// Per-format decoders, shared inside src/image/ only. Each fills *out with an
// 8-bit RGB image in stored (not yet oriented) order, refuses images over
// o->max_pixels before allocating, and reports the EXIF orientation it found.
#ifndef LISA_IMAGE_DECODE_H
#define LISA_IMAGE_DECODE_H

#include "image/image.h"

#include <stdio.h>

int img__decode_jpeg(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient);
int img__decode_png(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient);
int img__decode_webp(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient);
int img__decode_gif(const uint8_t *d, size_t n, const img_opts *o, img_t *out);
int img__decode_heif(const uint8_t *d, size_t n, const img_opts *o, img_t *out);
int img__decode_bmp(const uint8_t *d, size_t n, const img_opts *o, img_t *out);
int img__decode_tiff(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient);

// A cursor over an in-memory file, for the libraries that read through
// callbacks (libpng, giflib, libtiff).
typedef struct {
    const uint8_t *d;
    size_t n, off;
} img__reader;

// Copies up to len bytes at the cursor into out and advances; returns the
// count, short only at the end of the data.
size_t img__read(img__reader *r, void *out, size_t len);

// 0 if a w x h image is allowed; LISA_EFORMAT for zero sizes, LISA_ETOOBIG
// over max_pixels (<= 0 means the default cap). fmt names the format.
// The first call of a decode also charges the decode budget (image.h).
int img__check_dims(const char *fmt, long long w, long long h, long long max_pixels);

// The size and cap of the last img__check_dims() call on this thread (what
// img_probe() names when an image is over the cap).
void img__refused(long long *w, long long *h, long long *cap);

// 0 when have bytes of compressed data can hold the image (need_min: the
// fewest bytes its format's best compression needs), else LISA_EFORMAT:
// refused before the pixels are allocated.
int img__check_data(const char *fmt, long long have, long long need_min);

#define IMG_DEFLATE_MAX_RATIO 1032 // deflate: a 258-byte match in 2 bits at best
#define IMG_LZW_MAX_RATIO 2731     // GIF LZW: at most 4096 pixels per 12-bit code

#endif
