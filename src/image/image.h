// Decoded images: 8-bit RGB buffers, decoding from any supported format,
// EXIF orientation, and plain pixel operations.
//
// Every decoder reads its header first and refuses images whose pixel count is
// over opts->max_pixels before it allocates anything sized by the image.
#ifndef LISA_IMAGE_H
#define LISA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

// A packed RGB image: row-major, 3 bytes per pixel, no row padding.
typedef struct {
    int w, h;
    uint8_t *px; // w*h*3 bytes, owned by the image
} img_t;

typedef enum {
    IMG_UNKNOWN = 0,
    IMG_JPEG,
    IMG_PNG,
    IMG_WEBP,
    IMG_GIF,
    IMG_HEIF,
    IMG_BMP,
    IMG_TIFF,
} img_format;

#define IMG_DEFAULT_MAX_PIXELS 100000000LL // 100 megapixels
#define IMG_MAX_FILE_BYTES (1024u * 1024 * 1024)

typedef struct {
    long long max_pixels; // refuse larger images (<= 0: IMG_DEFAULT_MAX_PIXELS)
    // JPEG only: decode with DCT scaling at the largest factor (1/2, 1/4, 1/8)
    // that keeps the short side >= min_side. 0 decodes at full size.
    int min_side;
    int min_long;  // JPEG only: likewise keep the long side >= min_long
    int no_orient; // 1: leave the stored orientation as it is
} img_opts;

// Decode memory budget, shared by all threads: each decode is charged
// IMG_BUDGET_BPP bytes per pixel of its header's size (output RGB plus what
// the libraries hold: TIFF's RGBA raster, HEIF's plane, orientation's copy)
// from the header until img_decode()/img_load() returns, and waits while the
// total would pass the budget; one image over the whole budget decodes
// alone. So one decode thread peaks at about IMG_BUDGET_BPP x max_pixels
// (800 MB at the 100 MP cap) and all of them together at about the budget.
#define IMG_BUDGET_DEFAULT (1024LL * 1024 * 1024) // 1 GiB
#define IMG_BUDGET_BPP 8

// Sets the budget in bytes (<= 0: IMG_BUDGET_DEFAULT) and restarts the peak.
void img_budget_set(long long bytes);

// The highest total charge since the last img_budget_set() (for tests).
long long img_budget_peak(void);

// Fills *o with the defaults (100 MP cap, full size, orientation applied).
void img_opts_init(img_opts *o);

// The format named by data's magic bytes, or IMG_UNKNOWN. Needs >= 12 bytes
// to tell WebP and HEIF apart from other RIFF/ISO-BMFF files.
img_format img_sniff(const uint8_t *data, size_t n);
const char *img_format_name(img_format f);

// Decodes an in-memory file into *out (RGB, orientation applied unless
// o->no_orient). o may be NULL for defaults. The caller owns out->px and
// releases it with img_release(). On error *out is zeroed and the error
// detail (format, reason) is in lisa_errmsg().
int img_decode(const uint8_t *data, size_t n, const img_opts *o, img_t *out);

// Whether the file at path can be indexed, before it is kept (an upload):
// it must be non-empty, of a known format, within the 100 MP cap, and decode
// (JPEG at 1/8 scale, so a 50 MB photo costs a fraction of a full decode).
// name is how the user knows the file (a client's file name; NULL: path's
// base name). 0, or an error whose message is one sentence naming it:
// "IMG.jpg is 110 MP; the limit is 100 MP.", "x.jpg is empty.",
// "x.jpg cannot be read (JPEG: truncated file).". Nothing is kept.
int img_probe(const char *path, const char *name);

// img_decode() on a file; errors name the path. *orientation (if not NULL)
// gets the EXIF orientation that was found (1..8, 1 when absent).
int img_load(const char *path, const img_opts *o, img_t *out, int *orientation);

// EXIF orientation (1..8) stored in a TIFF-structured EXIF block (starting at
// "II*\0"/"MM\0*", after any "Exif\0\0" prefix); 1 when absent or invalid.
int img_exif_orientation(const uint8_t *exif, size_t n);

// Transforms *im in place so that it displays upright, the way PIL's
// ImageOps.exif_transpose does for orientation 1..8.
int img_orient(img_t *im, int orientation);

// ---------------------------------------------------------------- thumbnails

#define IMG_THUMB_DEFAULT 320
#define IMG_THUMB_QUALITY 85

// Size of a thumbnail whose longest side is at most size, keeping the aspect
// ratio (short side rounded, at least 1). Images already small enough keep
// their size: thumbnails never upscale.
void img_thumb_dims(int w, int h, int size, int *tw, int *th);

// Thumbnail of src (already oriented) with the PIL bicubic resampler into
// *out, which the caller releases.
int img_thumbnail(const img_t *src, int size, img_t *out);

// Writes im as a baseline JPEG (quality 1..100) to path; the caller keeps im.
int img_write_jpeg(const img_t *im, int quality, const char *path);

// Allocates a w x h image with uninitialized pixels (caps and overflow checked).
int img_alloc(img_t *im, int w, int h);
void img_release(img_t *im);

#endif
