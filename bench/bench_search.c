// Search latency: exact top-k cosine scan over N synthetic 512-d unit vectors
// (N = 10k, 100k, 1M) on a 2-thread pool, p50/p99 over many random queries,
// and peak RSS. The text tower is not part of these figures; when a CLIP model
// dir is given its text-embedding time is reported on its own line.
//   build/bench/bench_search [QUERIES] [MODEL_DIR]
// The keyword part is timed on its own: FTS5 bm25 over a synthetic library
// (10k and 100k images, 6 words each from a skewed 5000-word vocabulary).
// Prints a readable table and `lisa search_<n>_p50_ms X` lines for bench/run.sh.
#include "base/err.h"
#include "base/pool.h"
#include "clip/clip.h"
#include "search/rank.h"
#include "store/store.h"

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

// A calibrated text query (search_run): every cosine (pooled full scan) plus
// the median/MAD cut-off over them, nq times; p50/p99 in ms.
static int bench_calibrated(pool *p, const float *rows, size_t n, int nq, double *p50, double *p99)
{
    double *t = malloc((size_t)nq * sizeof *t);
    float q[DIM], *cos = malloc(n * sizeof *cos);
    if (!t || !cos) return free(t), free(cos), LISA_ENOMEM;
    for (int i = 0; i < nq; i++) {
        unit(q, DIM);
        double t0 = now_ms();
        rank_cal cal;
        rank_scores_all(p, q, rows, n, DIM, cos);
        if (rank_calibrate(cos, n, RANK_NORM_TEXT, &cal) < 0) return free(t), free(cos), -1;
        t[i] = now_ms() - t0;
    }
    *p50 = pct(t, nq, 0.50);
    *p99 = pct(t, nq, 0.99);
    free(t), free(cos);
    return 0;
}

// ---------------------------------------------------------------- FTS part

// A synthetic library of n images whose keyword text draws 6 words from a
// Zipf-like vocabulary of 5000 words; returns the open store.
static store *make_fts(const char *dir, size_t n)
{
    char path[512], cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return NULL;
    snprintf(path, sizeof path, "%s/lisa.db", dir);
    store *s;
    if (store_open(path, STORE_CREATE, &s) < 0) return NULL;
    store_begin(s);
    for (size_t i = 0; i < n; i++) {
        char p[64], words[256] = "", h[65];
        int len = 0;
        for (int w = 0; w < 6; w++) {
            double u = (frand() + 1) / 2;
            int r = (int)(5000 * u * u * u); // skewed: low ids frequent
            len += snprintf(words + len, sizeof words - (size_t)len, "%sw%d", w ? " " : "", r);
        }
        snprintf(p, sizeof p, "/bench/img%07zu.jpg", i);
        snprintf(h, sizeof h, "%064zx", i);
        store_image im = {.path = p,
                          .size = 1000,
                          .mtime_ns = 1,
                          .hash = h,
                          .date_unix = STORE_NO_DATE,
                          .name_words = words,
                          .kw_name = words};
        if (store_image_upsert(s, &im, NULL) < 0) return store_close(s), NULL;
        if (i % 20000 == 19999) store_commit(s), store_begin(s);
    }
    store_commit(s);
    return s;
}

static void bench_fts(size_t n, int nq)
{
    char dir[128];
    snprintf(dir, sizeof dir, "build/bench/fts-%zu", n);
    double t0 = now_ms();
    store *s = make_fts(dir, n);
    if (!s) {
        fprintf(stderr, "bench_search: fts store: %s\n", lisa_errmsg());
        return;
    }
    double build = now_ms() - t0;
    double *t = malloc((size_t)nq * sizeof *t);
    for (int i = 0; t && i < nq; i++) {
        char match[64];
        double u = (frand() + 1) / 2, v = (frand() + 1) / 2;
        snprintf(match, sizeof match, "\"w%d\" OR \"w%d\"", (int)(5000 * u * u), (int)(5000 * v));
        store_hit *hits;
        int nh;
        double t1 = now_ms();
        if (store_keyword_search(s, match, 2000, &hits, &nh) == 0) free(hits);
        t[i] = now_ms() - t1;
    }
    if (t) {
        double p50 = pct(t, nq, 0.5), p99 = pct(t, nq, 0.99);
        printf("  %10zu %10.2f %10.2f   (FTS5 bm25, 2-term OR query, built in %.1f s)\n", n, p50, p99, build / 1e3);
        printf("lisa fts_%zuk_p50_ms %.3f\nlisa fts_%zuk_p99_ms %.3f\n", n / 1000, p50, n / 1000, p99);
    }
    free(t);
    store_close(s);
}

static void bench_text(const char *dir, int nq)
{
    clip_model *m;
    if (clip_load(dir, THREADS, &m) < 0) {
        fprintf(stderr, "bench_search: %s\n", lisa_errmsg());
        return;
    }
    static const char *qs[] = {"a dog running on grass", "sunset at the beach", "cat on a sofa", "red car in the snow"};
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
        if (bench_calibrated(p, rows, sizes[s], q, &p50, &p99) < 0) return 1;
        printf("  %10s %10.2f %10.2f   (all cosines + median/MAD cut, as search_run does)\n", "", p50, p99);
        printf("lisa search_cal_%s_p50_ms %.3f\nlisa search_cal_%s_p99_ms %.3f\n", name, p50, name, p99);
    }
    free(rows);
    printf("keyword part\n  %10s %10s %10s\n", "images", "p50 ms", "p99 ms");
    bench_fts(10000, nq);
    bench_fts(100000, nq);
    printf("  peak RSS %.0f MB\nlisa peak_rss_mb %.0f\n", peak_rss_mb(), peak_rss_mb());
    if (argc > 2) bench_text(argv[2], 20);
    pool_free(p);
    return 0;
}
