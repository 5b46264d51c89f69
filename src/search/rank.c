// Exact cosine scan (scalar reference + AVX2/FMA), heap top-k, hybrid score.
#include "search/rank.h"

#include "base/err.h"
#include "base/half.h"

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- kernels

void rank_scores_ref(const float *q, const float *rows, size_t n, int d, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * (size_t)d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)q[j] * r[j];
        out[i] = (float)s;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define RANK_HAVE_AVX2 1
#include <cpuid.h>

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *q, const float *r, int d)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    for (; j + 32 <= d; j += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(r + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), _mm256_loadu_ps(r + j + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 16), _mm256_loadu_ps(r + j + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 24), _mm256_loadu_ps(r + j + 24), a3);
    }
    for (; j + 8 <= d; j += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(r + j), a0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float t = _mm_cvtss_f32(h);
    for (; j < d; j++) t += q[j] * r[j];
    return t;
}

__attribute__((target("avx2,fma"))) static void scores_avx2(const float *q, const float *rows, size_t n, int d,
                                                            float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = dot_avx2(q, rows + i * (size_t)d, d);
}
#endif

static atomic_int force_scalar;

static int use_avx2(void)
{
#ifdef RANK_HAVE_AVX2
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return have && !atomic_load(&force_scalar);
#else
    return 0;
#endif
}

void rank_force_scalar(int on)
{
    atomic_store(&force_scalar, on != 0);
}

const char *rank_kernel_name(void)
{
    return use_avx2() ? "avx2-fma" : "scalar";
}

void rank_scores(const float *q, const float *rows, size_t n, int d, float *out)
{
#ifdef RANK_HAVE_AVX2
    if (use_avx2()) {
        scores_avx2(q, rows, n, d, out);
        return;
    }
#endif
    rank_scores_ref(q, rows, n, d, out);
}

// ---------------------------------------------------------------- fp16 kernels

void rank_scores_f16_ref(const float *q, const uint16_t *rows, size_t n, int d, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint16_t *r = rows + i * (size_t)d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)q[j] * half_to_f32(r[j]);
        out[i] = (float)s;
    }
}

#ifdef RANK_HAVE_AVX2
__attribute__((target("avx2,fma,f16c"))) static float dot_f16c(const float *q, const uint16_t *r, int d)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    for (; j + 32 <= d; j += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j))), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j + 8))),
                             a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 16),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j + 16))), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 24),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j + 24))), a3);
    }
    for (; j + 8 <= d; j += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j))), a0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float t = _mm_cvtss_f32(h);
    for (; j < d; j++) t += q[j] * half_to_f32(r[j]);
    return t;
}

__attribute__((target("avx2,fma,f16c"))) static void scores_f16c(const float *q, const uint16_t *rows, size_t n, int d,
                                                                 float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = dot_f16c(q, rows + i * (size_t)d, d);
}

__attribute__((target("avx512f"))) static float dot_avx512(const float *q, const uint16_t *r, int d)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int j = 0;
    for (; j + 32 <= d; j += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + j))), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16),
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + j + 16))), a1);
    }
    for (; j + 16 <= d; j += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + j))), a0);
    float t = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; j < d; j++) t += q[j] * half_to_f32(r[j]);
    return t;
}

__attribute__((target("avx512f"))) static void scores_avx512(const float *q, const uint16_t *rows, size_t n, int d,
                                                             float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = dot_avx512(q, rows + i * (size_t)d, d);
}
#endif

static atomic_int f16_forced = -1;

#ifdef RANK_HAVE_AVX2
// CPUID.1:ECX.F16C[bit 29], read directly: clang 14's __builtin_cpu_supports
// has no "f16c".
static int cpu_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

int rank_f16_supported(int kernel)
{
#ifdef RANK_HAVE_AVX2
    __builtin_cpu_init();
    if (kernel == RANK_F16_AVX512) return __builtin_cpu_supports("avx512f");
    if (kernel == RANK_F16_F16C) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_f16c();
#endif
    return kernel == RANK_F16_SCALAR;
}

static int f16_best(void)
{
    static atomic_int best = -1;
    int b = atomic_load(&best);
    if (b < 0) {
        b = rank_f16_supported(RANK_F16_AVX512) ? RANK_F16_AVX512
            : rank_f16_supported(RANK_F16_F16C) ? RANK_F16_F16C
                                                : RANK_F16_SCALAR;
        atomic_store(&best, b);
    }
    return b;
}

int rank_f16_force(int kernel)
{
    if (kernel >= 0 && !rank_f16_supported(kernel))
        return lisa_seterr(LISA_EUNSUPPORTED, "fp16 kernel %d: this CPU lacks its instructions", kernel);
    atomic_store(&f16_forced, kernel < 0 ? -1 : kernel);
    return 0;
}

static int f16_kernel(void)
{
    if (atomic_load(&force_scalar)) return RANK_F16_SCALAR;
    int f = atomic_load(&f16_forced);
    return f >= 0 ? f : f16_best();
}

const char *rank_f16_kernel_name(void)
{
    static const char *const names[] = {"scalar", "f16c-avx2-fma", "avx512f"};
    return names[f16_kernel()];
}

void rank_scores_f16(const float *q, const uint16_t *rows, size_t n, int d, float *out)
{
#ifdef RANK_HAVE_AVX2
    switch (f16_kernel()) {
    case RANK_F16_AVX512: scores_avx512(q, rows, n, d, out); return;
    case RANK_F16_F16C: scores_f16c(q, rows, n, d, out); return;
    default: break;
    }
#endif
    rank_scores_f16_ref(q, rows, n, d, out);
}

// ---------------------------------------------------------------- heap

// 1 when a is a worse hit than b (lower score, or equal score and higher row).
static int worse(rank_hit a, rank_hit b)
{
    return a.score < b.score || (a.score == b.score && a.row > b.row);
}

void rank_heap_init(rank_heap *hp, rank_hit *buf, int k)
{
    hp->h = buf;
    hp->k = k;
    hp->n = 0;
}

static void sift_down(rank_hit *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(h[l], h[m])) m = l;
        if (r < n && worse(h[r], h[m])) m = r;
        if (m == i) return;
        rank_hit t = h[i];
        h[i] = h[m], h[m] = t, i = m;
    }
}

void rank_heap_push(rank_heap *hp, float score, uint32_t row)
{
    rank_hit x = {score, row};
    if (hp->k <= 0) return;
    if (hp->n == hp->k) {
        if (!worse(hp->h[0], x)) return;
        hp->h[0] = x;
        sift_down(hp->h, hp->n, 0);
        return;
    }
    int i = hp->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(x, hp->h[p])) break;
        hp->h[i] = hp->h[p];
        i = p;
    }
    hp->h[i] = x;
}

int rank_heap_sort(rank_heap *hp)
{
    // Repeatedly move the worst (root) to the end: leaves best-first order.
    int n = hp->n;
    for (int end = n - 1; end > 0; end--) {
        rank_hit t = hp->h[0];
        hp->h[0] = hp->h[end], hp->h[end] = t;
        sift_down(hp->h, end, 0);
    }
    hp->n = 0;
    return n;
}

// ---------------------------------------------------------------- top-k scan

#define CHUNK_ROWS 8192 // rows per pool item: big enough to amortise, small enough to balance

struct scan {
    const float *q;
    const float *rows;      // float32 rows, or NULL when
    const uint16_t *rows16; // these fp16 rows are scanned
    size_t n;               // rows to visit: all of them, or the nsel rows of sel
    const uint32_t *sel;    // NULL: every row
    int d;
    rank_heap *heaps; // one per thread
};

static void score_block(const struct scan *s, size_t i, size_t m, float *buf)
{
    size_t d = (size_t)s->d;
    if (!s->sel) {
        if (s->rows16)
            rank_scores_f16(s->q, s->rows16 + i * d, m, s->d, buf);
        else
            rank_scores(s->q, s->rows + i * d, m, s->d, buf);
        return;
    }
    for (size_t j = 0; j < m; j++) {
        size_t r = s->sel[i + j];
        if (s->rows16)
            rank_scores_f16(s->q, s->rows16 + r * d, 1, s->d, buf + j);
        else
            rank_scores(s->q, s->rows + r * d, 1, s->d, buf + j);
    }
}

static void scan_range(const struct scan *s, size_t lo, size_t hi, rank_heap *hp)
{
    float buf[RANK_BLOCK];
    for (size_t i = lo; i < hi; i += RANK_BLOCK) {
        size_t m = hi - i < RANK_BLOCK ? hi - i : RANK_BLOCK;
        score_block(s, i, m, buf);
        for (size_t j = 0; j < m; j++)
            if (hp->n < hp->k || buf[j] >= hp->h[0].score) // cheap pre-check; push decides ties
                rank_heap_push(hp, buf[j], s->sel ? s->sel[i + j] : (uint32_t)(i + j));
    }
}

static void scan_task(void *ctx, int i, int tid)
{
    const struct scan *s = ctx;
    size_t lo = (size_t)i * CHUNK_ROWS, hi = lo + CHUNK_ROWS < s->n ? lo + CHUNK_ROWS : s->n;
    scan_range(s, lo, hi, &s->heaps[tid]);
}

struct scan_all {
    const float *q, *rows;
    const uint16_t *rows16; // fp16 rows instead, when rows is NULL
    size_t n;
    int d;
    float *out;
};

static void scan_all_task(void *ctx, int i, int tid)
{
    (void)tid;
    const struct scan_all *s = ctx;
    size_t lo = (size_t)i * CHUNK_ROWS, hi = lo + CHUNK_ROWS < s->n ? lo + CHUNK_ROWS : s->n;
    if (s->rows)
        rank_scores(s->q, s->rows + lo * (size_t)s->d, hi - lo, s->d, s->out + lo);
    else
        rank_scores_f16(s->q, s->rows16 + lo * (size_t)s->d, hi - lo, s->d, s->out + lo);
}

static void scores_all(pool *p, const struct scan_all *s)
{
    int serial = !p || s->n < RANK_PAR_MIN || pool_size(p) < 2;
    pool_for(serial ? NULL : p, (int)((s->n + CHUNK_ROWS - 1) / CHUNK_ROWS), scan_all_task, (void *)s);
}

void rank_scores_all(pool *p, const float *q, const float *rows, size_t n, int d, float *out)
{
    struct scan_all s = {q, rows, NULL, n, d, out};
    scores_all(p, &s);
}

void rank_scores_all_f16(pool *p, const float *q, const uint16_t *rows, size_t n, int d, float *out)
{
    struct scan_all s = {q, NULL, rows, n, d, out};
    scores_all(p, &s);
}

static int topk_run(pool *p, struct scan *s, int k, rank_hit *out, int *nout)
{
    size_t n = s->n;
    int d = s->d;
    *nout = 0;
    if (k < 0 || k > RANK_K_MAX) return lisa_seterr(LISA_EINVAL, "top-k %d is not in [0,%d]", k, RANK_K_MAX);
    if (d <= 0 || d > RANK_DIM_MAX)
        return lisa_seterr(LISA_EINVAL, "vector dimension %d is not in [1,%d]", d, RANK_DIM_MAX);
    if (n > UINT32_MAX) return lisa_seterr(LISA_ETOOBIG, "%zu vectors: over the 2^32 cap", n);
    if (k == 0 || n == 0) return 0;
    int nt = n >= RANK_PAR_MIN ? pool_size(p) : 1;
    size_t cells;
    if (lisa_mul((size_t)nt, (size_t)k, &cells) < 0) return lisa_seterr(LISA_ETOOBIG, "top-k buffers overflow");
    rank_hit *buf = malloc(cells * sizeof *buf);
    rank_heap *heaps = malloc((size_t)nt * sizeof *heaps);
    if (!buf || !heaps) {
        free(buf), free(heaps);
        return lisa_seterr(LISA_ENOMEM, "top-k buffers (%zu hits)", cells);
    }
    for (int t = 0; t < nt; t++) rank_heap_init(&heaps[t], buf + (size_t)t * k, k);
    s->heaps = heaps;
    if (nt == 1)
        scan_range(s, 0, n, &heaps[0]);
    else
        pool_for(p, (int)((n + CHUNK_ROWS - 1) / CHUNK_ROWS), scan_task, s);
    rank_heap merged;
    rank_heap_init(&merged, out, k);
    for (int t = 0; t < nt; t++)
        for (int j = 0; j < heaps[t].n; j++) rank_heap_push(&merged, heaps[t].h[j].score, heaps[t].h[j].row);
    *nout = rank_heap_sort(&merged);
    free(heaps);
    free(buf);
    return 0;
}

int rank_topk(pool *p, const float *q, const float *rows, size_t n, int d, int k, rank_hit *out, int *nout)
{
    struct scan s = {q, rows, NULL, n, NULL, d, NULL};
    return topk_run(p, &s, k, out, nout);
}

int rank_topk_f16(pool *p, const float *q, const uint16_t *rows, size_t n, int d, const uint32_t *sel, size_t nsel,
                  int k, rank_hit *out, int *nout)
{
    for (size_t i = 0; sel && i < nsel; i++)
        if (sel[i] >= n || (i && sel[i] <= sel[i - 1]))
            return lisa_seterr(LISA_EINVAL, "row selection: entry %zu (%u) not ascending or past row %zu", i, sel[i],
                               n);
    struct scan s = {q, NULL, rows, sel ? nsel : n, sel, d, NULL};
    return topk_run(p, &s, k, out, nout);
}

// ---------------------------------------------------------------- hybrid

float rank_clip_norm(rank_norm nm, float cosine)
{
    float span = nm.hi - nm.lo;
    if (!(span > 0)) return cosine >= nm.hi ? 1.0f : 0.0f;
    float x = (cosine - nm.lo) / span;
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

// k-th smallest of a[0..n) (Hoare-partition quickselect; a is reordered).
static float select_k(float *a, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        float piv = a[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j], a[j--] = t;
            }
        }
        if (kk <= j)
            hi = j;
        else if (kk >= i)
            lo = i;
        else
            return a[kk];
    }
    return a[kk];
}

static float median_of(float *a, size_t n)
{
    float m = select_k(a, n, n / 2);
    if (n % 2) return m;
    float lo = select_k(a, n / 2, n / 2 - 1); // a[0..n/2) now holds the smaller half
    return (lo + m) / 2;
}

int rank_calibrate(const float *cos, size_t n, rank_norm nm, rank_cal *out)
{
    memset(out, 0, sizeof *out);
    if (n < RANK_CAL_MIN) {
        out->cut = nm.lo + 0.5f * (nm.hi - nm.lo);
        return 0;
    }
    float *a = malloc(n * sizeof *a);
    if (!a) return lisa_seterr(LISA_ENOMEM, "calibration scratch (%zu cosines)", n);
    memcpy(a, cos, n * sizeof *a);
    float med = median_of(a, n);
    for (size_t i = 0; i < n; i++) a[i] = fabsf(cos[i] - med);
    float mad = median_of(a, n);
    free(a);
    out->median = med;
    out->sigma = 1.4826f * mad > RANK_SIGMA_MIN ? 1.4826f * mad : RANK_SIGMA_MIN;
    out->cut = med + RANK_Z_CUT * out->sigma;
    out->calibrated = 1;
    return 0;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const rank_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    float ca = a->has_clip ? a->cosine : -2, cb = b->has_clip ? b->cosine : -2;
    if (ca != cb) return ca > cb ? -1 : 1;
    if (a->bm25 != b->bm25) return a->bm25 > b->bm25 ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

void rank_hybrid(rank_cand *c, size_t n, double w, rank_norm nm)
{
    if (!(w >= 0)) w = 0; // also catches NaN
    if (w > 1) w = 1;
    double best = 0, a = w < 0.5 ? 2 * w : 1, b = w > 0.5 ? 2 * (1 - w) : 1;
    for (size_t i = 0; i < n; i++)
        if (c[i].bm25 > best) best = c[i].bm25;
    for (size_t i = 0; i < n; i++) {
        c[i].clip_score = c[i].has_clip ? rank_clip_norm(nm, c[i].cosine) : 0.0f;
        c[i].keyword_score = best > 0 && c[i].bm25 > 0 ? (float)(c[i].bm25 / best) : 0.0f;
        c[i].score = (float)(1 - (1 - a * c[i].clip_score) * (1 - b * c[i].keyword_score));
    }
    if (n > 1) qsort(c, n, sizeof *c, cand_cmp); // c may be NULL when n == 0
}
