// The DCT perceptual hash (image/phash.h).
#include "image/phash.h"

#include "base/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N IMG_PHASH_SIDE
#define K 8 // lowest frequencies kept per axis

// Luma (BT.601, as PIL's "L" mode) box-averaged onto an N x N grid; a side
// shorter than N repeats its pixels.
static void luma_grid(const img_t *im, double g[N][N])
{
    for (int ty = 0; ty < N; ty++) {
        int y0 = (int)((long long)ty * im->h / N), y1 = (int)((long long)(ty + 1) * im->h / N);
        if (y1 <= y0) y1 = y0 + 1;
        for (int tx = 0; tx < N; tx++) {
            int x0 = (int)((long long)tx * im->w / N), x1 = (int)((long long)(tx + 1) * im->w / N);
            if (x1 <= x0) x1 = x0 + 1;
            double sum = 0;
            for (int y = y0; y < y1; y++) {
                const uint8_t *p = im->px + ((size_t)y * im->w + x0) * 3;
                for (int x = x0; x < x1; x++, p += 3) sum += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            }
            g[ty][tx] = sum / ((double)(y1 - y0) * (x1 - x0));
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int img_phash(const img_t *im, uint64_t *ph)
{
    if (!im || !im->px || im->w < 1 || im->h < 1) return lisa_seterr(LISA_EINVAL, "perceptual hash of an empty image");
    double grid[N][N], cosv[K][N], rows[N][K], dct[K * K], sorted[K * K];
    luma_grid(im, grid);
    for (int u = 0; u < K; u++)
        for (int x = 0; x < N; x++) cosv[u][x] = cos(M_PI / N * (x + 0.5) * u);
    for (int y = 0; y < N; y++) // DCT-II along x, the K lowest frequencies only
        for (int u = 0; u < K; u++) {
            double acc = 0;
            for (int x = 0; x < N; x++) acc += grid[y][x] * cosv[u][x];
            rows[y][u] = acc;
        }
    for (int v = 0; v < K; v++) // then along y
        for (int u = 0; u < K; u++) {
            double acc = 0;
            for (int y = 0; y < N; y++) acc += rows[y][u] * cosv[v][y];
            dct[v * K + u] = acc;
        }
    memcpy(sorted, dct, sizeof sorted);
    qsort(sorted, K * K, sizeof *sorted, cmp_double);
    double median = (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2;
    uint64_t h = 0;
    for (int i = 0; i < K * K; i++)
        if (dct[i] > median) h |= (uint64_t)1 << i;
    *ph = h;
    return 0;
}

int img_phash_load(const char *path, uint64_t *ph)
{
    img_opts o;
    img_opts_init(&o);
    o.min_side = 4 * N; // a JPEG decodes at 1/2..1/8 scale: box averaging needs no more
    img_t im;
    int rc = img_load(path, &o, &im, NULL);
    if (rc < 0) return rc;
    rc = img_phash(&im, ph);
    img_release(&im);
    return rc;
}
