// CLIP throughput: `bench_clip MODEL_DIR [THREADS]` prints, for fp32 ("lisa"),
// bf16 ("lisa_bf16") and int8 weights ("lisa_int8"),
//   image_b1_per_s X    images per second, batch 1
//   image_b8_per_s X    images per second, batch 8
//   text7_ms X          milliseconds per 7-token text
//   gflops_b8 X, gflops_text X, weight_mib X, kernel NAME
// each the median of several timed runs after a warm-up, 2 threads by default;
// then an estimated fp32 peak, and bf16's and int8's cosines to fp32.
#include "base/clock.h"
#include "base/err.h"
#include "clip/clip.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

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
        double t0 = mono_s();
        if (clip_embed_images(m, px, batch, out) < 0) return -1;
        t[r] = mono_s() - t0;
    }
    return median(t, RUNS);
}

static double time_text(clip_model *m, float *out)
{
    static const int32_t ids[7] = {49406, 320, 1125, 539, 320, 2368, 49407}; // "a photo of a cat"
    double t[RUNS * 3];
    clip_embed_text(m, ids, 7, out);
    for (int r = 0; r < RUNS * 3; r++) {
        double t0 = mono_s();
        if (clip_embed_text(m, ids, 7, out) < 0) return -1;
        t[r] = mono_s() - t0;
    }
    return median(t, RUNS * 3);
}

// Multiply-adds x 2 of one forward pass over n tokens of tower t (GEMMs and
// attention), plus the patch conv for images.
static double tower_flops(const cfg_tower *t, int n)
{
    double d = t->hidden, ff = t->intermediate;
    return t->layers * (2.0 * n * (4 * d * d + 2 * d * ff) + 4.0 * n * n * d);
}

// Estimated peak of this machine: 2 FMA ports x SIMD floats x 2 flops x clock.
static double peak_gflops(int threads)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) break;
    if (f) fclose(f);
    const char *path = t_gemm_path_name(t_gemm_path());
    int w = !strcmp(path, "avx512f") ? 16 : !strcmp(path, "avx2+fma") ? 8 : 4;
    return 2.0 * w * 2 * (mhz > 0 ? mhz : 2000) / 1e3 * threads;
}

// One precision's figures; prefix "lisa" (fp32) or "lisa_bf16". With ref (the
// fp32 outputs) it also prints the cosine of each output to its reference.
static int run(const char *dir, int threads, int prec, const char *prefix, const float *px, float *img8, float *txt)
{
    clip_model *m;
    if (clip_load_prec(dir, threads, prec, &m) < 0) {
        fprintf(stderr, "bench_clip: %s\n", lisa_errmsg());
        return -1;
    }
    const clip_config *c = clip_cfg(m);
    int B = 8, g = c->image_size / c->patch_size, np = g * g, K = c->num_channels * c->patch_size * c->patch_size;
    float *out = malloc((size_t)B * clip_dim(m) * sizeof *out);
    if (!out) return -1;
    double t1 = time_images(m, px, 1, out), t8 = time_images(m, px, B, out), tt = time_text(m, txt);
    if (t1 < 0 || t8 < 0 || tt < 0) {
        fprintf(stderr, "bench_clip: %s\n", lisa_errmsg());
        return -1;
    }
    memcpy(img8, out, (size_t)B * clip_dim(m) * sizeof *out);
    double fi = tower_flops(&c->vision, np + 1) + 2.0 * np * K * c->vision.hidden, ft = tower_flops(&c->text, 7);
    printf("%s image_b1_per_s %.2f\n", prefix, 1 / t1);
    printf("%s image_b8_per_s %.2f\n", prefix, B / t8);
    printf("%s text7_ms %.3f\n", prefix, tt * 1e3);
    printf("%s gflops_b8 %.1f\n", prefix, fi * B / t8 / 1e9);
    printf("%s gflops_text %.1f\n", prefix, ft / tt / 1e9);
    printf("%s weight_mib %.1f\n", prefix, clip_weight_bytes(m) / 1048576.0);
    printf("%s kernel %s\n", prefix, clip_model_kernel(m));
    free(out);
    clip_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_clip MODEL_DIR [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    clip_model *m;
    if (clip_load(argv[1], 1, &m) < 0) {
        fprintf(stderr, "bench_clip: %s\n", lisa_errmsg());
        return 1;
    }
    int S = clip_cfg(m)->image_size, C = clip_cfg(m)->num_channels, B = 8, P = clip_dim(m);
    clip_free(m);
    size_t per = (size_t)C * S * S;
    float *px = malloc(B * per * sizeof *px), *i32 = malloc((size_t)B * P * sizeof *px);
    float *i16 = malloc((size_t)B * P * sizeof *px), t32[4096], t16[4096];
    if (!px || !i32 || !i16 || P > 4096) return 1;
    static const int precs[] = {CLIP_PREC_BF16, CLIP_PREC_INT8};
    static const char *const names[] = {"lisa_bf16", "lisa_int8"};
    unsigned s = 12345;
    for (size_t i = 0; i < B * per; i++) px[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24) * 4 - 2;
    printf("lisa peak_gflops_est %.0f\n", peak_gflops(threads));
    if (run(argv[1], threads, CLIP_PREC_FP32, "lisa", px, i32, t32) < 0) return 1;
    for (int q = 0; q < 2; q++) {
        if (run(argv[1], threads, precs[q], names[q], px, i16, t16) < 0) return 1;
        double worst = 1;
        for (int b = 0; b < B; b++) {
            double cs = t_cosine(i16 + (size_t)b * P, i32 + (size_t)b * P, (size_t)P);
            worst = cs < worst ? cs : worst;
        }
        printf("%s image_cosine_min %.6f\n", names[q], worst);
        printf("%s text_cosine %.6f\n", names[q], t_cosine(t16, t32, (size_t)P));
    }
    free(px), free(i32), free(i16);
    return 0;
}
