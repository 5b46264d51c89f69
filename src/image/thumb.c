// Thumbnails: the same PIL-exact resampler as preprocessing, longest side capped.
#include "image/image.h"
#include "image/preprocess.h"

#include <string.h>

void img_thumb_dims(int w, int h, int size, int *tw, int *th)
{
    int l = w > h ? w : h;
    *tw = w, *th = h;
    if (l <= size) return;
    long long s = (long long)(w > h ? h : w) * size * 2 / l; // 2x for rounding
    int shortside = (int)((s + 1) / 2);
    if (shortside < 1) shortside = 1;
    *tw = w > h ? size : shortside;
    *th = w > h ? shortside : size;
}

int img_thumbnail(const img_t *src, int size, img_t *out)
{
    int tw, th;
    img_thumb_dims(src->w, src->h, size, &tw, &th);
    return img_resize_bicubic(src, tw, th, out);
}
