// PIL-exact bicubic resampling (Pillow's Resample.c semantics, re-derived):
// separable, horizontal pass first into an 8-bit intermediate, the filter's
// support widened by the scale when downsampling (antialiasing), weights
// normalised per output pixel then rounded to fixed point with 22 fractional
// bits, sums rounded and clamped. Matching every one of these steps is what
// makes the bytes equal to Image.resize(..., BICUBIC).
#include "image/preprocess.h"
#include "base/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

// Per output pixel: first input index, tap count, and ksize fixed-point taps.
typedef struct {
    int ksize;
    int *bounds; // (out, 2): xmin, count
    int *k;      // (out, ksize)
} taps;

static void taps_free(taps *t)
{
    free(t->bounds);
    free(t->k);
}

static int taps_init(taps *t, int in, int out)
{
    double scale = (double)in / out, fscale = scale < 1 ? 1 : scale;
    double support = 2.0 * fscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->bounds = malloc(sizeof(int) * 2 * (size_t)out);
    t->k = malloc(sizeof(int) * (size_t)t->ksize * out);
    double *w = malloc(sizeof(double) * (size_t)t->ksize);
    if (!t->bounds || !t->k || !w) {
        free(w);
        taps_free(t);
        return lisa_seterr(LISA_ENOMEM, "resize: out of memory");
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) ww += w[x] = bicubic((x + xmin - center + 0.5) / fscale);
        int *k = t->k + (size_t)xx * t->ksize;
        for (int x = 0; x < t->ksize; x++) {
            double v = x < xmax && ww != 0 ? w[x] / ww : (x < xmax ? w[x] : 0);
            k[x] = (int)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->bounds[xx * 2] = xmin;
        t->bounds[xx * 2 + 1] = xmax;
    }
    free(w);
    return 0;
}

static inline uint8_t clip8(int v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows [y0, y0 + dst->h) of src, resampled horizontally into dst.
static void pass_h(const img_t *src, int y0, img_t *dst, const taps *t)
{
    for (int y = 0; y < dst->h; y++) {
        const uint8_t *row = src->px + (size_t)(y + y0) * src->w * 3;
        uint8_t *out = dst->px + (size_t)y * dst->w * 3;
        for (int x = 0; x < dst->w; x++) {
            const int *k = t->k + (size_t)x * t->ksize;
            const uint8_t *p = row + (size_t)t->bounds[x * 2] * 3;
            int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int i = 0; i < t->bounds[x * 2 + 1]; i++, p += 3) {
                s0 += p[0] * k[i];
                s1 += p[1] * k[i];
                s2 += p[2] * k[i];
            }
            out[x * 3] = clip8(s0), out[x * 3 + 1] = clip8(s1), out[x * 3 + 2] = clip8(s2);
        }
    }
}

// Vertical pass; t's bounds are relative to src's first row minus y0.
static void pass_v(const img_t *src, int y0, img_t *dst, const taps *t)
{
    size_t stride = (size_t)src->w * 3;
    for (int y = 0; y < dst->h; y++) {
        const int *k = t->k + (size_t)y * t->ksize;
        const uint8_t *col = src->px + (size_t)(t->bounds[y * 2] - y0) * stride;
        uint8_t *out = dst->px + (size_t)y * stride;
        for (size_t x = 0; x < stride; x++) {
            int s = 1 << (PRECISION_BITS - 1);
            for (int i = 0; i < t->bounds[y * 2 + 1]; i++) s += col[i * stride + x] * k[i];
            out[x] = clip8(s);
        }
    }
}

static int copy_img(const img_t *src, img_t *dst)
{
    int rc = img_alloc(dst, src->w, src->h);
    if (rc == 0) memcpy(dst->px, src->px, (size_t)src->w * src->h * 3);
    return rc;
}

int img_resize_bicubic(const img_t *src, int ow, int oh, img_t *dst)
{
    taps th = {0}, tv = {0};
    img_t tmp = {0};
    int rc;
    memset(dst, 0, sizeof *dst);
    if (ow <= 0 || oh <= 0) return lisa_seterr(LISA_EINVAL, "resize: bad size %dx%d", ow, oh);
    if (ow == src->w && oh == src->h) return copy_img(src, dst);
    if ((rc = taps_init(&th, src->w, ow)) < 0) return rc;
    if ((rc = taps_init(&tv, src->h, oh)) < 0) goto out;
    // Only the source rows the vertical pass reads go through the first pass.
    int y0 = tv.bounds[0], y1 = tv.bounds[oh * 2 - 2] + tv.bounds[oh * 2 - 1];
    const img_t *mid = src;
    if (ow != src->w) {
        if ((rc = img_alloc(&tmp, ow, y1 - y0)) < 0) goto out;
        pass_h(src, y0, &tmp, &th);
        mid = &tmp;
    } else {
        y0 = 0;
    }
    if (oh == src->h) {
        *dst = tmp; // the horizontal pass covered all rows
        tmp.px = NULL;
    } else if ((rc = img_alloc(dst, ow, oh)) == 0) {
        pass_v(mid, y0, dst, &tv);
    }
out:
    img_release(&tmp);
    taps_free(&th);
    taps_free(&tv);
    return rc;
}
