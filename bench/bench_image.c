// Decode + CLIP preprocessing throughput on 12-megapixel JPEGs: full-size
// decode vs libjpeg-turbo DCT-scaled decode (the largest 1/2^k that keeps
// the short side >= 224). Single thread; prints medians of several runs.
//   build/bench/bench_image [N_RUNS]
#include "base/clock.h"
#include "base/err.h"
#include "image/image.h"
#include "image/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define W 4000
#define H 3000
#define NIMG 3

// A photo-like picture: smooth color waves, hard-edged discs, grain.
static void make_photo(img_t *im, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    double f[9];
    for (int i = 0; i < 9; i++) s = s * 1664525u + 1013904223u, f[i] = (s >> 8) / 16777216.0 * 4;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = im->px + ((size_t)y * W + x) * 3;
            s = s * 1664525u + 1013904223u;
            int grain = (int)(s >> 29) - 4;
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(6.2832 * (f[c] * x / W + f[c + 3] * y / H) + f[c + 6]);
                double dx = x - W * (0.2 + 0.3 * c), dy = y - H * 0.5;
                if (dx * dx + dy * dy < 400.0 * 400) v = 40 + 80 * c;
                v += grain;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Images per second for one pass over the files, decoding with min_side.
static double pass(char paths[][256], int min_side, float *tensor, int *dw, int *dh)
{
    prep_cfg c;
    img_opts o;
    prep_cfg_default(&c);
    img_opts_init(&o);
    o.min_side = min_side;
    double t0 = mono_s();
    for (int i = 0; i < NIMG; i++) {
        img_t im;
        if (img_load(paths[i], &o, &im, NULL) < 0 || prep_image(&im, &c, tensor) < 0) {
            fprintf(stderr, "bench: %s\n", lisa_errmsg());
            exit(1);
        }
        *dw = im.w, *dh = im.h;
        img_release(&im);
    }
    return NIMG / (mono_s() - t0);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5, dw, dh;
    char paths[NIMG][256];
    float *tensor = malloc(sizeof(float) * 3 * 224 * 224);
    img_t im;
    mkdir("build/bench", 0755);
    if (img_alloc(&im, W, H) < 0) return 1;
    for (int i = 0; i < NIMG; i++) {
        snprintf(paths[i], sizeof paths[i], "build/bench/photo12mp_%d.jpg", i);
        struct stat st;
        if (stat(paths[i], &st) == 0) continue;
        make_photo(&im, (unsigned)i + 1);
        if (img_write_jpeg(&im, 90, paths[i]) < 0) return fprintf(stderr, "%s\n", lisa_errmsg()), 1;
    }
    img_release(&im);
    double full[64], dct[64];
    if (runs > 64) runs = 64;
    int fw = 0, fh = 0;
    for (int r = 0; r < runs; r++) {
        full[r] = pass(paths, 0, tensor, &fw, &fh);
        dct[r] = pass(paths, 224, tensor, &dw, &dh);
    }
    qsort(full, (size_t)runs, sizeof(double), cmp);
    qsort(dct, (size_t)runs, sizeof(double), cmp);
    double mf = full[runs / 2], md = dct[runs / 2];
    printf("image decode+preprocess, 12 MP JPEG (%dx%d) -> 1x3x224x224, 1 thread, median of %d runs\n", W, H, runs);
    printf("  full decode (%dx%d)         %7.2f images/s  (%.1f ms/image)\n", fw, fh, mf, 1000 / mf);
    printf("  DCT-scaled decode (%dx%d)    %7.2f images/s  (%.1f ms/image)\n", dw, dh, md, 1000 / md);
    printf("  ratio DCT-scaled / full     %7.2fx\n", md / mf);
    printf("lisa prep_full_per_s %.3f\nlisa prep_dct_per_s %.3f\n", mf, md);
    free(tensor);
    return 0;
}
