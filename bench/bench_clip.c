// CLIP throughput: `bench_clip MODEL_DIR [THREADS]` prints
//   lisa image_b1_per_s X    images per second, batch 1
//   lisa image_b8_per_s X    images per second, batch 8
//   lisa text7_ms X          milliseconds per 7-token text
// each the median of several timed runs after a warm-up, 2 threads by default.
#include "base/err.h"
#include "clip/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

// Median seconds of one clip_embed_images call on `batch` images.
static double time_images(clip_model *m, const float *px, int batch, float *out)
{
    double t[RUNS];
    clip_embed_images(m, px, batch, out); // warm-up: scratch allocation, page-in
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        if (clip_embed_images(m, px, batch, out) < 0) return -1;
        t[r] = now() - t0;
    }
    return median(t, RUNS);
}

static double time_text(clip_model *m, float *out)
{
    static const int32_t ids[7] = {49406, 320, 1125, 539, 320, 2368, 49407}; // "a photo of a cat"
    double t[RUNS * 3];
    clip_embed_text(m, ids, 7, out);
    for (int r = 0; r < RUNS * 3; r++) {
        double t0 = now();
        if (clip_embed_text(m, ids, 7, out) < 0) return -1;
        t[r] = now() - t0;
    }
    return median(t, RUNS * 3);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_clip MODEL_DIR [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    clip_model *m;
    if (clip_load(argv[1], threads, &m) < 0) {
        fprintf(stderr, "bench_clip: %s\n", lisa_errmsg());
        return 1;
    }
    int S = clip_cfg(m)->image_size, C = clip_cfg(m)->num_channels, B = 8;
    size_t per = (size_t)C * S * S;
    float *px = malloc(B * per * sizeof *px), *out = malloc((size_t)B * clip_dim(m) * sizeof *out);
    if (!px || !out) return 1;
    unsigned s = 12345;
    for (size_t i = 0; i < B * per; i++) px[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24) * 4 - 2;
    double t1 = time_images(m, px, 1, out), t8 = time_images(m, px, B, out), tt = time_text(m, out);
    if (t1 < 0 || t8 < 0 || tt < 0) {
        fprintf(stderr, "bench_clip: %s\n", lisa_errmsg());
        return 1;
    }
    printf("lisa image_b1_per_s %.2f\n", 1 / t1);
    printf("lisa image_b8_per_s %.2f\n", B / t8);
    printf("lisa text7_ms %.3f\n", tt * 1e3);
    free(px), free(out);
    clip_free(m);
    return 0;
}
