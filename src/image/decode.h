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
int img__check_dims(const char *fmt, long long w, long long h, long long max_pixels);

#endif
