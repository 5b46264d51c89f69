// Search latency: exact top-k cosine scan over N synthetic 512-d unit vectors
// (N = 10k, 100k, 1M) on a 2-thread pool, p50/p99 over many random queries,
// and peak RSS. The text tower is not part of these figures; when a CLIP model
// dir is given its text-embedding time is reported on its own line.
//   build/bench/bench_search [QUERIES] [MODEL_DIR]
// Prints a readable table and `lisa search_<n>_p50_ms X` lines for bench/run.sh.
#include "base/err.h"
#include "base/pool.h"
#include "clip/clip.h"
#include "search/rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define DIM 512
#define TOPK 20
#define THREADS 2

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static void unit(float *v, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++) v[j] = frand(), s += (double)v[j] * v[j];
    for (int j = 0; j < d; j++) v[j] /= (float)sqrt(s);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, dcmp);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

// Scans n vectors nq times with fresh random queries; fills p50/p99 in ms.
static int bench_scan(pool *p, const float *rows, size_t n, int nq, double *p50, double *p99)
{
    double *t = malloc((size_t)nq * sizeof *t);
    float q[DIM];
    rank_hit hits[TOPK];
    int got;
    if (!t) return LISA_ENOMEM;
    unit(q, DIM);
    rank_topk(p, q, rows, n, DIM, TOPK, hits, &got); // warm-up: page in
    for (int i = 0; i < nq; i++) {
        unit(q, DIM);
        double t0 = now_ms();
        if (rank_topk(p, q, rows, n, DIM, TOPK, hits, &got) < 0) return free(t), -1;
        t[i] = now_ms() - t0;
    }
    *p50 = pct(t, nq, 0.50);
    *p99 = pct(t, nq, 0.99);
    free(t);
    return 0;
}

static void bench_text(const char *dir, int nq)
{
    clip_model *m;
    if (clip_load(dir, THREADS, &m) < 0) {
        fprintf(stderr, "bench_search: %s\n", lisa_errmsg());
        return;
    }
    static const char *qs[] = {"a dog running on grass", "sunset at the beach", "cat on a sofa",
                               "red car in the snow"};
    float *e = malloc((size_t)clip_dim(m) * sizeof *e);
    double *t = malloc((size_t)nq * sizeof *t);
    for (int i = 0; e && t && i < nq; i++) {
        double t0 = now_ms();
        clip_embed_text_str(m, qs[i % 4], e);
        t[i] = now_ms() - t0;
    }
    if (e && t) {
        double p50 = pct(t, nq, 0.5);
        printf("  text tower (%s)  p50 %.2f ms\n", dir, p50);
        printf("lisa text_tower_p50_ms %.3f\n", p50);
    }
    free(t), free(e);
    clip_free(m);
}

int main(int argc, char **argv)
{
    int nq = argc > 1 ? atoi(argv[1]) : 200;
    if (nq < 10) nq = 10;
    static const size_t sizes[] = {10000, 100000, 1000000};
    pool *p;
    if (pool_new(THREADS, &p) < 0) return 1;
    float *rows = malloc(sizes[2] * DIM * sizeof *rows);
    if (!rows) return fprintf(stderr, "bench_search: out of memory\n"), 1;
    for (size_t i = 0; i < sizes[2]; i++) unit(rows + i * DIM, DIM);
    printf("exact cosine top-%d, %d-d unit vectors, %d threads, kernel %s, %d queries\n", TOPK, DIM, THREADS,
           rank_kernel_name(), nq);
    printf("  %10s %10s %10s %12s\n", "vectors", "p50 ms", "p99 ms", "MB scanned");
    for (int s = 0; s < 3; s++) {
        double p50, p99;
        int q = sizes[s] >= 1000000 ? (nq / 4 > 10 ? nq / 4 : 10) : nq;
        if (bench_scan(p, rows, sizes[s], q, &p50, &p99) < 0) return 1;
        printf("  %10zu %10.2f %10.2f %12.0f\n", sizes[s], p50, p99, sizes[s] * DIM * 4 / 1e6);
        char name[32];
        snprintf(name, sizeof name, "%zuk", sizes[s] / 1000);
        printf("lisa search_%s_p50_ms %.3f\nlisa search_%s_p99_ms %.3f\n", name, p50, name, p99);
    }
    free(rows);
    printf("  peak RSS %.0f MB\nlisa peak_rss_mb %.0f\n", peak_rss_mb(), peak_rss_mb());
    if (argc > 2) bench_text(argv[2], 20);
    pool_free(p);
    return 0;
}
