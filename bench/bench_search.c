// Search latency on clustered synthetic vectors: a Gaussian mixture of
// CENTRES unit centres in 512-d, each image vector its centre plus Gaussian
// noise (cosine ~0.78 to the centre), queries drawn the same way with more
// noise (cosine ~0.64: a text query sits farther from the photos than they
// sit from each other). Sizes 10k, 100k, 1M ($BENCH_SIZES overrides, e.g.
// "10000,100000"). 2-thread pool, p50/p99 over many queries.
//   build/bench/bench_search [QUERIES] [MODEL_DIR]
// Per size:
//   - exact fp32 and exact fp16 scans (rank_topk / rank_topk_f16) in memory,
//     and how much of the fp32 top-20 the fp16 and bf16 scans keep;
//   - the ANN path as LISA runs it: a store (build/bench/ann-N/lisa.db, kept
//     between runs) searched through search_vector_topk() with ann_min 0:
//     FAISS's coarse quantizer picks the IVF lists, LISA's fp16 kernel scans
//     their raw fp16 codes (exact scores, nothing re-read from SQLite);
//     where the time goes: the index alone (vindex_search) against the
//     whole call (log check, filter, copy);
//     index build time and file size, recall@20 against the exact fp16 scan,
//     incremental add rate (10k new vectors), and the resident memory of a
//     separate query process (`bench_search --rss DIR`, VmHWM);
//   - at 100k, HNSW32,SQ8 against IVF,SQ8 through the FAISS shim (the choice);
//   - at the largest size, filtered searches: pre- vs post-filtering.
// Env: BENCH_SKIP_EXACT, BENCH_NO_FILTERS, BENCH_NO_HNSW, BENCH_NO_FTS skip
// parts; BENCH_KEEP_INDEX reuses an index file from an earlier run.
// The keyword part: FTS5 bm25 over a synthetic library (10k and 100k images,
// 6 words each from a skewed 5000-word vocabulary), and a check that the
// top-k order is bm25's.
// Prints a readable table and `lisa <key> <value>` lines for bench/run.sh.
#include "base/clock.h"
#include "base/err.h"
#include "base/half.h"
#include "base/pool.h"
#include "clip/clip.h"
#include "search/faiss_shim.h"
#include "search/rank.h"
#include "search/search.h"
#include "search/vindex.h"
#include "store/store.h"

#include <math.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 512
#define TOPK 20
#define THREADS 2
#define CENTRES 3000
#define NOISE 0.8  // image noise norm relative to the unit centre
#define QNOISE 1.2 // query noise norm
#define MAXN 1000000

extern char **environ;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static float frand(void)
{
    return (float)urand() * 2 - 1;
}
static float gauss(void)
{
    double u = urand() + 1e-300, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static float *centres;

static void normalise(float *v)
{
    double s = 0;
    for (int j = 0; j < DIM; j++) s += (double)v[j] * v[j];
    for (int j = 0; j < DIM; j++) v[j] /= (float)sqrt(s);
}

static void mixture(float *v, double noise)
{
    const float *c = centres + (size_t)(urand() * CENTRES) * DIM;
    float sd = (float)(noise / sqrt(DIM));
    for (int j = 0; j < DIM; j++) v[j] = c[j] + sd * gauss();
    normalise(v);
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

static double vm_hwm_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

static void key(const char *k, size_t n, double v)
{
    printf("lisa %s_%zuk %.3f\n", k, n / 1000, v);
}

// ---------------------------------------------------------------- exact scans

static int same_top(const rank_hit *a, int na, const rank_hit *b, int nb)
{
    int c = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i].row == b[j].row) {
                c++;
                break;
            }
    return c;
}

// p50/p99 of exact fp32 and fp16 scans over the first n rows; fp16's and
// bf16's share of the fp32 top-20 (bf16 only when bf is non-NULL).
static void bench_exact(pool *p, const float *rows, const uint16_t *rows16, const float *bf, size_t n, int nq)
{
    double *t32 = malloc((size_t)nq * sizeof *t32), *t16 = malloc((size_t)nq * sizeof *t16);
    float q[DIM];
    rank_hit h32[TOPK], h16[TOPK], hb[TOPK];
    int g32, g16, gb;
    long keep16 = 0, keepb = 0;
    mixture(q, QNOISE);
    rank_topk(p, q, rows, n, DIM, TOPK, h32, &g32); // warm-up: page in
    rank_topk_f16(p, q, rows16, n, DIM, NULL, 0, TOPK, h16, &g16);
    for (int i = 0; i < nq; i++) {
        mixture(q, QNOISE);
        double t0 = mono_ms();
        rank_topk(p, q, rows, n, DIM, TOPK, h32, &g32);
        double t1 = mono_ms();
        rank_topk_f16(p, q, rows16, n, DIM, NULL, 0, TOPK, h16, &g16);
        t32[i] = t1 - t0, t16[i] = mono_ms() - t1;
        keep16 += same_top(h16, g16, h32, g32);
        if (bf) {
            rank_topk(p, q, bf, n, DIM, TOPK, hb, &gb);
            keepb += same_top(hb, gb, h32, g32);
        }
    }
    double a50 = pct(t32, nq, .5), a99 = pct(t32, nq, .99), b50 = pct(t16, nq, .5), b99 = pct(t16, nq, .99);
    printf("  %8zu  exact fp32 %7.2f / %7.2f ms   exact fp16 %7.2f / %7.2f ms (%.2fx)   fp16 keeps %.4f of the "
           "fp32 top-20",
           n, a50, a99, b50, b99, a50 / b50, keep16 / (double)(nq * TOPK));
    if (bf) printf(", bf16 %.4f", keepb / (double)(nq * TOPK));
    printf("\n");
    key("exact_fp32_p50_ms", n, a50), key("exact_fp32_p99_ms", n, a99);
    key("exact_fp16_p50_ms", n, b50), key("exact_fp16_p99_ms", n, b99);
    key("fp16_top20_kept", n, keep16 / (double)(nq * TOPK));
    if (bf) key("bf16_top20_kept", n, keepb / (double)(nq * TOPK));
    free(t32), free(t16);
}

// ---------------------------------------------------------------- ANN through the store

static void ann_dir(size_t n, char *dir, size_t cap)
{
    snprintf(dir, cap, "build/bench/ann2-%zu", n); // ann2: the v4 rowid embeddings table
}

// The store of the first n rows (ids 1..n in row order), made once and kept.
static int make_store(const char *dir, const float *rows, size_t n, double *ms)
{
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/lisa.db", dir);
    store *s;
    int64_t have = -1;
    *ms = 0;
    if (store_open(path, 0, &s) == 0) {
        store_embedding_count(s, "bench", DIM, &have);
        store_close(s);
    }
    lisa_clearerr();
    if (have == (int64_t)n) return 0;
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0 || store_open(path, STORE_CREATE, &s) < 0) return -1;
    double t0 = mono_ms();
    int rc = store_begin(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "/bench/img%07zu.jpg", i);
        store_image im = {.path = p, .size = 1000, .mtime_ns = 1, .date_unix = STORE_NO_DATE};
        int64_t id;
        rc = store_image_upsert(s, &im, &id);
        if (rc == 0) rc = store_embedding_put(s, id, "bench", DIM, rows + i * DIM);
        if (rc == 0 && i % 50000 == 49999) rc = store_commit(s), rc = rc ? rc : store_begin(s);
    }
    if (rc == 0) rc = store_commit(s);
    *ms = mono_ms() - t0;
    store_close(s);
    return rc;
}

static search_ctx *open_ann(const char *dir)
{
    search_opts o = {dir, NULL, NULL, NULL};
    search_ctx *c;
    if (search_open(&o, &c) < 0) return NULL;
    search_set_vectors(c, "bench", DIM);
    search_set_ann_min(c, 0);
    return c;
}

static int vhit_has(const search_vhit *h, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (h[i].id == id) return 1;
    return 0;
}

// The resident memory of a query process: `bench_search --rss DIR`.
static double child_rss(const char *self, const char *dir, double *p50)
{
    char out[600], cmd[1400];
    snprintf(out, sizeof out, "%s/rss.txt", dir);
    snprintf(cmd, sizeof cmd, "%s --rss %s > %s", self, dir, out);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(out, "r");
    double mb = -1;
    if (f && fscanf(f, "%lf %lf", &mb, p50) != 2) mb = -1;
    if (f) fclose(f);
    return mb;
}

static int rss_main(const char *dir)
{
    search_ctx *c = open_ann(dir);
    if (!c) return fprintf(stderr, "bench_search --rss: %s\n", lisa_errmsg()), 1;
    centres = malloc((size_t)CENTRES * DIM * sizeof *centres);
    for (size_t i = 0; i < (size_t)CENTRES * DIM; i++) centres[i] = gauss();
    for (int i = 0; i < CENTRES; i++) normalise(centres + (size_t)i * DIM);
    double t[100];
    float q[DIM];
    search_vhit h[TOPK];
    int n;
    for (int i = 0; i < 100; i++) {
        mixture(q, QNOISE);
        double t0 = mono_ms();
        if (search_vector_topk(c, q, TOPK, NULL, h, &n) < 0) return fprintf(stderr, "%s\n", lisa_errmsg()), 1;
        t[i] = mono_ms() - t0;
    }
    printf("%.1f %.3f\n", vm_hwm_mb(), pct(t, 100, .5));
    search_close(c);
    return 0;
}

// A calibrated text query (search_run, exact mode): every fp16 cosine (pooled full scan) plus
// the median/MAD cut-off over them, nq times; p50/p99 in ms.
static int bench_calibrated(pool *p, const uint16_t *rows, size_t n, int nq, double *p50, double *p99)
{
    double *t = malloc((size_t)nq * sizeof *t);
    float q[DIM], *cos = malloc(n * sizeof *cos);
    if (!t || !cos) return free(t), free(cos), LISA_ENOMEM;
    for (int i = 0; i < nq; i++) {
        mixture(q, QNOISE);
        double t0 = mono_ms();
        rank_cal cal;
        rank_scores_all_f16(p, q, rows, n, DIM, cos);
        if (rank_calibrate(cos, n, RANK_NORM_TEXT, &cal) < 0) return free(t), free(cos), -1;
        t[i] = mono_ms() - t0;
    }
    *p50 = pct(t, nq, 0.50);
    *p99 = pct(t, nq, 0.99);
    free(t), free(cos);
    return 0;
}

// p50 of vindex_search() alone on the index file the search just used (the
// process's shared copy: no load), nq fresh queries.
static double index_alone_p50(const char *dir, const char *vpath, int nq)
{
    char path[512];
    snprintf(path, sizeof path, "%s/lisa.db", dir);
    store *s;
    vindex *v;
    if (store_open(path, 0, &s) < 0) return -1;
    if (vindex_acquire(s, vpath, "bench", DIM, &v) < 0) return store_close(s), -1;
    double *t = malloc((size_t)nq * sizeof *t), r = -1;
    int64_t ids[TOPK];
    float sc[TOPK], q[DIM];
    int got;
    for (int i = 0; t && i < nq; i++) {
        mixture(q, QNOISE);
        double t0 = mono_ms();
        vindex_search(v, q, TOPK, NULL, 0, ids, sc, &got);
        t[i] = mono_ms() - t0;
    }
    if (t) r = pct(t, nq, .5);
    free(t);
    vindex_release(v, s);
    store_close(s);
    return r;
}

static void bench_ann(const char *self, pool *p, const uint16_t *rows16, const float *rows, size_t n, int nq)
{
    char dir[256], vpath[600];
    double store_ms;
    ann_dir(n, dir, sizeof dir);
    if (make_store(dir, rows, n, &store_ms) < 0) {
        fprintf(stderr, "bench_search: store %s: %s\n", dir, lisa_errmsg());
        return;
    }
    search_vindex_path(dir, "bench", vpath, sizeof vpath);
    int keep = getenv("BENCH_KEEP_INDEX") != NULL; // reuse the file: "build" is then its load
    if (!keep) unlink(vpath);
    double t0 = mono_ms();
    search_ctx *c = open_ann(dir);
    float q[DIM];
    search_vhit h[TOPK];
    int got;
    mixture(q, QNOISE);
    if (!c || search_vector_topk(c, q, TOPK, NULL, h, &got) < 0) {
        fprintf(stderr, "bench_search: ann: %s\n", lisa_errmsg());
        return;
    }
    double build = mono_ms() - t0;
    struct stat sb;
    double fbytes = stat(vpath, &sb) == 0 ? (double)sb.st_size : 0;
    double *t = malloc((size_t)nq * sizeof *t);
    long hit = 0;
    rank_hit ex[TOPK];
    int ng;
    for (int i = 0; i < nq; i++) {
        mixture(q, QNOISE);
        double t1 = mono_ms();
        search_vector_topk(c, q, TOPK, NULL, h, &got);
        t[i] = mono_ms() - t1;
        rank_topk_f16(p, q, rows16, n, DIM, NULL, 0, TOPK, ex, &ng); // the exact answer: id = row + 1
        for (int j = 0; j < ng; j++) hit += vhit_has(h, got, (int64_t)ex[j].row + 1);
    }
    double p50 = pct(t, nq, .5), p99 = pct(t, nq, .99), recall = hit / (double)(nq * TOPK);
    double ix50 = index_alone_p50(dir, vpath, nq);
    // Incremental add: 10k new vectors into the store, then the sync that
    // applies them to the index (the next search); then they go again.
    size_t add = 10000;
    store *s;
    char path[512];
    snprintf(path, sizeof path, "%s/lisa.db", dir);
    double add_rate = 0, del_rate = 0;
    if (store_open(path, 0, &s) == 0) {
        int64_t first = 0, id;
        store_begin(s);
        for (size_t i = 0; i < add; i++) {
            char pth[64];
            snprintf(pth, sizeof pth, "/bench/new%07zu.jpg", i);
            store_image im = {.path = pth, .size = 1000, .mtime_ns = 1, .date_unix = STORE_NO_DATE};
            store_image_upsert(s, &im, &id);
            store_embedding_put(s, id, "bench", DIM, rows + (i % n) * DIM);
            if (!first) first = id;
        }
        store_commit(s);
        double t2 = mono_ms();
        search_vector_topk(c, q, TOPK, NULL, h, &got);
        add_rate = add / ((mono_ms() - t2) / 1e3);
        store_begin(s);
        for (int64_t i = first; i < first + (int64_t)add; i++) store_image_delete(s, i);
        store_commit(s);
        t2 = mono_ms();
        search_vector_topk(c, q, TOPK, NULL, h, &got);
        del_rate = add / ((mono_ms() - t2) / 1e3);
        store_close(s);
    }
    search_close(c); // saves
    double rss_p50 = 0, rss = child_rss(self, dir, &rss_p50);
    printf("  %8zu  ANN %7.2f / %7.2f ms  recall@20 %.4f  %s %.1f s  add %.0f/s  remove %.0f/s  index %.0f MB  "
           "query-process RSS %.0f MB (p50 there %.2f ms)%s\n",
           n, p50, p99, recall, keep ? "load" : "build", build / 1e3, add_rate, del_rate, fbytes / 1e6, rss, rss_p50,
           store_ms > 0 ? "" : "  (store reused)");
    printf("            where the time goes, p50: index alone (quantizer + list scan) %.3f ms of %.3f ms\n", ix50, p50);
    if (store_ms > 0) printf("            (store of %zu images written in %.1f s)\n", n, store_ms / 1e3);
    key("ann_index_alone_p50_ms", n, ix50);
    key("ann_p50_ms", n, p50), key("ann_p99_ms", n, p99), key("ann_recall20", n, recall);
    key("ann_build_s", n, build / 1e3), key("ann_add_per_s", n, add_rate), key("ann_index_mb", n, fbytes / 1e6);
    key("ann_rss_mb", n, rss);
    free(t);
}

// Filtered ANN: pre-filter (exact over the allowed images) against
// post-filter (enlarged k, then keep the allowed) per selectivity.
static void bench_filters(size_t n, int nq)
{
    char dir[256];
    ann_dir(n, dir, sizeof dir);
    search_ctx *c = open_ann(dir);
    if (!c) return;
    static const double sel[] = {0.001, 0.005, 0.01, 0.02, 0.05, 0.2, 0.5};
    int64_t *ids = malloc(n * sizeof *ids);
    printf("  filtered ANN at %zu (p50 ms): selectivity, pre-filter, post-filter\n", n);
    for (size_t k = 0; ids && k < sizeof sel / sizeof sel[0]; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (urand() < sel[k]) ids[m++] = (int64_t)i + 1;
        search_filter f = {ids, m};
        double tp[64], to[64];
        int q = nq < 64 ? nq : 64, got;
        search_vhit h[TOPK];
        float v[DIM];
        if (m > 60000) q = 5; // a pre-filter that wide reads every allowed vector from SQLite: few samples
        for (int i = 0; i < q; i++) {
            mixture(v, QNOISE);
            search_set_postfilter_fraction(c, 2.0); // always pre
            double t0 = mono_ms();
            search_vector_topk(c, v, TOPK, &f, h, &got);
            search_set_postfilter_fraction(c, 0.0); // always post (pre when short)
            double t1 = mono_ms();
            search_vector_topk(c, v, TOPK, &f, h, &got);
            tp[i] = t1 - t0, to[i] = mono_ms() - t1;
        }
        double a = pct(tp, q, .5), b = pct(to, q, .5);
        printf("    %6.1f%%  %8.2f  %8.2f\n", sel[k] * 100, a, b);
        printf("lisa filter_pre_%g_ms %.3f\nlisa filter_post_%g_ms %.3f\n", sel[k], a, sel[k], b);
    }
    free(ids);
    search_close(c);
}

// IVF,SQ8 against HNSW32,SQ8 on the same rows, FAISS alone plus the exact
// re-rank of 200 candidates from the in-memory fp16 rows.
static void bench_index_types(const float *rows, const uint16_t *rows16, size_t n, int nq)
{
    char ivf[64];
    snprintf(ivf, sizeof ivf, "IVF%d,SQfp16", vindex_nlist_for((int64_t)n));
    char ivf8[64];
    snprintf(ivf8, sizeof ivf8, "IVF%d,SQ8", vindex_nlist_for((int64_t)n));
    const char *types[] = {ivf, ivf8, "HNSW32,SQ8"};
    pool *p;
    pool_new(1, &p);
    printf("  index type at %zu: build s, p50 ms (FAISS + exact re-rank of 200), recall@20\n", n);
    static const char *tag[] = {"ivf_fp16", "ivf_sq8", "hnsw32_sq8"};
    for (int k = 0; k < 3; k++) {
        fshim *f;
        double t0 = mono_ms();
        if (fshim_new(types[k], DIM, &f) < 0) continue;
        if (k < 2) fshim_set_kmeans(f, VINDEX_KMEANS_ITER);
        fshim_threads(THREADS);
        size_t per = VINDEX_TRAIN_PER_LIST * (size_t)vindex_nlist_for((int64_t)n), ntrain = n < per ? n : per;
        fshim_train(f, ntrain, rows);
        fshim_add(f, n, rows, NULL);
        fshim_threads(1);
        double build = mono_ms() - t0;
        if (k < 2)
            fshim_set(f, "nprobe", vindex_nprobe_for(vindex_nlist_for((int64_t)n)));
        else
            fshim_set(f, "efSearch", 128);
        double *t = malloc((size_t)nq * sizeof *t);
        long hit = 0;
        for (int i = 0; i < nq; i++) {
            float q[DIM], sc[200], ex[200];
            int64_t id[200];
            rank_hit top[TOPK], truth[TOPK];
            int ng, nt;
            mixture(q, QNOISE);
            double t1 = mono_ms();
            fshim_search(f, q, 200, NULL, 0, sc, id);
            rank_heap hp;
            rank_heap_init(&hp, top, TOPK);
            for (int j = 0; j < 200; j++)
                if (id[j] >= 0) {
                    rank_scores_f16(q, rows16 + (size_t)id[j] * DIM, 1, DIM, &ex[j]);
                    rank_heap_push(&hp, ex[j], (uint32_t)id[j]);
                }
            ng = rank_heap_sort(&hp);
            t[i] = mono_ms() - t1;
            rank_topk_f16(p, q, rows16, n, DIM, NULL, 0, TOPK, truth, &nt);
            hit += same_top(top, ng, truth, nt);
        }
        printf("    %-14s %7.1f %7.2f %7.4f\n", types[k], build / 1e3, pct(t, nq, .5), hit / (double)(nq * TOPK));
        printf("lisa type_%s_build_s %.2f\n", tag[k], build / 1e3);
        printf("lisa type_%s_p50_ms %.3f\n", tag[k], pct(t, nq, .5));
        printf("lisa type_%s_recall20 %.4f\n", tag[k], hit / (double)(nq * TOPK));
        free(t);
        fshim_free(f);
    }
    pool_free(p);
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
    double t0 = mono_ms();
    store *s = make_fts(dir, n);
    if (!s) {
        fprintf(stderr, "bench_search: fts store: %s\n", lisa_errmsg());
        return;
    }
    double build = mono_ms() - t0;
    // The reference: FTS5's own bm25() in the query LISA ran before (same
    // columns, lisa_cols included), on a second connection, same queries.
    char path[256];
    snprintf(path, sizeof path, "%s/lisa.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *ref = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(db,
                       "SELECT rowid, -bm25(image_fts) FROM image_fts WHERE image_fts MATCH ?1"
                       " ORDER BY bm25(image_fts), rowid LIMIT 2000",
                       -1, &ref, NULL);
    double *t = malloc((size_t)nq * sizeof *t), *tr = malloc((size_t)nq * sizeof *tr), tl = mono_ms();
    store_hit *w;
    int nw;
    if (store_keyword_search(s, "\"w1\"", 10, &w, &nw) == 0) free(w); // loads the row-length cache
    tl = mono_ms() - tl;
    int same = 1;
    for (int i = 0; t && tr && i < nq; i++) {
        char match[64];
        double u = (frand() + 1) / 2, v = (frand() + 1) / 2;
        snprintf(match, sizeof match, "\"w%d\" OR \"w%d\"", (int)(5000 * u * u), (int)(5000 * v));
        store_hit *hits = NULL;
        int nh = 0, k = 0;
        double t1 = mono_ms();
        if (store_keyword_search(s, match, 2000, &hits, &nh) < 0) nh = 0;
        t[i] = mono_ms() - t1;
        t1 = mono_ms();
        sqlite3_reset(ref);
        sqlite3_bind_text(ref, 1, match, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(ref) == SQLITE_ROW) {
            if (k >= nh || hits[k].id != sqlite3_column_int64(ref, 0) || hits[k].bm25 != sqlite3_column_double(ref, 1))
                same = 0;
            k++;
        }
        tr[i] = mono_ms() - t1;
        if (k != nh) same = 0;
        free(hits);
    }
    if (t && tr) {
        double p50 = pct(t, nq, 0.5), p99 = pct(t, nq, 0.99), r50 = pct(tr, nq, 0.5), r99 = pct(tr, nq, 0.99);
        printf("  %10zu %10.2f %10.2f   FTS5 bm25() reference %7.2f / %7.2f ms (p99 %.2fx)  order and values %s;"
               " built in %.1f s, length cache loaded in %.1f ms\n",
               n, p50, p99, r50, r99, r99 / p99, same ? "identical" : "DIFFER", build / 1e3, tl);
        printf("lisa fts_%zuk_p50_ms %.3f\nlisa fts_%zuk_p99_ms %.3f\n", n / 1000, p50, n / 1000, p99);
        printf("lisa fts_ref_%zuk_p50_ms %.3f\nlisa fts_ref_%zuk_p99_ms %.3f\n", n / 1000, r50, n / 1000, r99);
    }
    free(t), free(tr);
    sqlite3_finalize(ref);
    sqlite3_close(db);
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
        double t0 = mono_ms();
        clip_embed_text_str(m, qs[i % 4], e);
        t[i] = mono_ms() - t0;
    }
    if (e && t) {
        double p50 = pct(t, nq, 0.5);
        printf("  text tower (%s)  p50 %.2f ms\n", dir, p50);
        printf("lisa text_tower_p50_ms %.3f\n", p50);
    }
    free(t), free(e);
    clip_free(m);
}

static int sizes_from_env(size_t *sizes)
{
    const char *e = getenv("BENCH_SIZES");
    if (!e || !*e) {
        sizes[0] = 10000, sizes[1] = 100000, sizes[2] = 1000000;
        return 3;
    }
    int n = 0;
    for (char *p = (char *)e; *p && n < 8;) {
        size_t v = strtoull(p, &p, 10);
        if (v >= 1000 && v <= MAXN) sizes[n++] = v;
        while (*p == ',') p++;
        if (!v) break;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--rss")) return rss_main(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int nq = argc > 1 ? atoi(argv[1]) : 200;
    if (nq < 10) nq = 10;
    size_t sizes[8];
    int ns = sizes_from_env(sizes);
    size_t nmax = 0;
    for (int i = 0; i < ns; i++) nmax = sizes[i] > nmax ? sizes[i] : nmax;
    pool *p;
    if (pool_new(THREADS, &p) < 0) return 1;
    centres = malloc((size_t)CENTRES * DIM * sizeof *centres);
    float *rows = malloc(nmax * DIM * sizeof *rows);
    uint16_t *rows16 = malloc(nmax * DIM * sizeof *rows16);
    if (!centres || !rows || !rows16) return fprintf(stderr, "bench_search: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)CENTRES * DIM; i++) centres[i] = gauss();
    for (int i = 0; i < CENTRES; i++) normalise(centres + (size_t)i * DIM);
    for (size_t i = 0; i < nmax; i++) mixture(rows + i * DIM, NOISE);
    half_from_f32_n(rows, rows16, nmax * DIM);
    printf("clustered vectors: %d-d, %d centres, image noise %.1f, query noise %.1f; top-%d, %d threads;\n"
           "kernels fp32 %s, fp16 %s; %d queries (p50 / p99)\n",
           DIM, CENTRES, NOISE, QNOISE, TOPK, THREADS, rank_kernel_name(), rank_f16_kernel_name(), nq);
    for (int s = 0; s < ns && !getenv("BENCH_SKIP_EXACT"); s++) {
        size_t n = sizes[s];
        int q = n >= 1000000 ? (nq / 2 > 20 ? nq / 2 : 20) : nq;
        float *bf = NULL;
        if (n == 100000 && (bf = malloc(n * DIM * sizeof *bf)))
            for (size_t i = 0; i < n * DIM; i++) bf[i] = bf16_to_f32(bf16_from_f32(rows[i]));
        bench_exact(p, rows, rows16, bf, n, q);
        free(bf);
        double p50, p99;
        char name[32];
        snprintf(name, sizeof name, "%zuk", n / 1000);
        if (bench_calibrated(p, rows16, n, q, &p50, &p99) < 0) return 1;
        printf("  %10zu %10.2f %10.2f   (all fp16 cosines + median/MAD cut, as search_run does)\n", n, p50, p99);
        printf("lisa search_cal_%s_p50_ms %.3f\nlisa search_cal_%s_p99_ms %.3f\n", name, p50, name, p99);
    }
    printf("ANN (FAISS IVF lists, raw fp16 codes scanned by LISA's fp16 kernel, through search_vector_topk)\n");
    for (int s = 0; s < ns; s++) bench_ann(argv[0], p, rows16, rows, sizes[s], sizes[s] >= 1000000 ? nq / 2 : nq);
    if (!getenv("BENCH_NO_FILTERS")) bench_filters(nmax, 40);
    for (int s = 0; s < ns; s++)
        if (sizes[s] == 100000 && !getenv("BENCH_NO_HNSW")) bench_index_types(rows, rows16, sizes[s], 100);
    free(rows), free(rows16);
    if (getenv("BENCH_NO_FTS")) return pool_free(p), 0;
    printf("keyword part (2-term OR queries; LISA's lisa_bm25 + lisa_cols vs FTS5's bm25())\n  %10s %10s %10s\n",
           "images", "p50 ms", "p99 ms");
    bench_fts(10000, nq);
    bench_fts(100000, nq);
    printf("  peak RSS of this benchmark %.0f MB (it holds fp32 + fp16 copies of every size)\n", peak_rss_mb());
    printf("  5M: not run. Its fp32 reference matrix (10 GB) plus the fp16 copy (5 GB) and a 6.5 GB store do\n"
           "  not fit beside the other jobs of this shared 23 GB, 2-core machine; docs/scale.md extrapolates.\n");
    if (argc > 2) bench_text(argv[2], 20);
    pool_free(p);
    return 0;
}
