#include "tensor/gemm.h"
#include "base/err.h"
#include "base/half.h"
#include "base/log.h"
#include "base/pool.h"
#include "tensor/tensor.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct t_packed {
    int out, in, nr, npanels;
    t_path path;
    t_prec prec;
    size_t bytes;
    void *data; // npanels * in * nr elements (float or uint16_t), 64-byte aligned
};

#define MAX_NR 32
#define MAX_MR 12
#define MAX_KC 512

/* ---------------------------------------------------------------- conversions */

static float src_at(const void *w, t_src src, size_t i)
{
    if (src == T_SRC_F32) return ((const float *)w)[i];
    uint16_t h;
    memcpy(&h, (const uint8_t *)w + 2 * i, 2);
    return src == T_SRC_BF16 ? bf16_to_f32(h) : half_to_f32(h);
}

/* ---------------------------------------------------------------- path and blocking */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static t_path g_path;
static int g_kc, g_l2;

int t_gemm_path_supported(t_path q)
{
    __builtin_cpu_init();
    if (q == T_PATH_AVX512) return __builtin_cpu_supports("avx512f");
    if (q == T_PATH_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return q == T_PATH_C;
}

const char *t_gemm_path_name(t_path q)
{
    return q == T_PATH_AVX512 ? "avx512f" : q == T_PATH_AVX2 ? "avx2+fma" : "c";
}

static long cache_size(int name, long fallback)
{
    long v = sysconf(name);
    return v > 4096 ? v : fallback;
}

static int path_ok(t_path q);

static void gemm_init(void)
{
    g_path = t_gemm_path_supported(T_PATH_AVX512) ? T_PATH_AVX512
             : t_gemm_path_supported(T_PATH_AVX2) ? T_PATH_AVX2
                                                  : T_PATH_C;
    const char *env = getenv("LISA_GEMM_PATH");
    if (env) {
        t_path q = !strcmp(env, "avx512") ? T_PATH_AVX512 : !strcmp(env, "avx2") ? T_PATH_AVX2 : T_PATH_C;
        if (q < g_path) g_path = q; // may only restrict
    }
    // A k slice of one 16-column panel fills half of L1; the row block (a
    // k slice of x) half of L2.
    long l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32768), l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 1 << 20);
    long kc = l1 / 2 / (16 * (long)sizeof(float));
    kc = kc < 128 ? 128 : kc > MAX_KC ? MAX_KC : kc;
    g_kc = (int)(kc / 8 * 8);
    g_l2 = (int)(l2 > (64 << 20) ? (64 << 20) : l2);
    // Tuning overrides for benchmarks; out-of-range values are ignored.
    const char *kcs = getenv("LISA_GEMM_KC"), *l2s = getenv("LISA_GEMM_L2");
    int v;
    if (kcs && (v = atoi(kcs)) >= 8 && v <= MAX_KC) g_kc = v / 8 * 8;
    if (l2s && (v = atoi(l2s)) >= 4096 && v <= (64 << 20)) g_l2 = v;
    // A SIMD path must agree with the scalar reference on this CPU before it
    // is used: a kernel that never ran on such hardware (the AVX-512 one was
    // written on an AVX2-only machine) falls back instead of embedding wrong.
    while (g_path != T_PATH_C && !path_ok(g_path)) {
        log_warn("gemm: the %s kernel disagrees with the scalar reference on this CPU; using %s",
                 t_gemm_path_name(g_path), t_gemm_path_name(g_path - 1));
        g_path = (t_path)(g_path - 1);
    }
}

t_path t_gemm_path(void)
{
    pthread_once(&g_once, gemm_init);
    return g_path;
}

int t_gemm_set_path(t_path q)
{
    pthread_once(&g_once, gemm_init);
    if (!t_gemm_path_supported(q))
        return lisa_seterr(LISA_EINVAL, "gemm: this CPU cannot run the %s path", t_gemm_path_name(q));
    g_path = q;
    return 0;
}

static int path_nr(t_path q)
{
    return q == T_PATH_AVX512 ? 32 : 16;
}
static int path_mr(t_path q)
{
    return q == T_PATH_AVX512 ? 12 : q == T_PATH_AVX2 ? 6 : 4;
}

/* ---------------------------------------------------------------- packing */

static int pack_rows(int nparts, const void *const *w, const t_src *src, const int *rows, int in, t_prec prec,
                     t_path path, t_packed **pw)
{
    *pw = NULL;
    long total = 0;
    for (int i = 0; i < nparts; i++) total += rows[i] > 0 ? rows[i] : -(1L << 40);
    if (nparts < 1 || total <= 0 || total > (1 << 28) || in <= 0 || in > (1 << 28))
        return lisa_seterr(LISA_EINVAL, "gemm: cannot pack a %ld x %d weight", total, in);
    int out = (int)total;
    t_packed *p = calloc(1, sizeof *p);
    const uint8_t **row = calloc((size_t)out, sizeof *row);
    t_src *rsrc = calloc((size_t)out, sizeof *rsrc);
    if (!p || !row || !rsrc) goto nomem;
    for (int i = 0, o = 0; i < nparts; i++)
        for (int r = 0; r < rows[i]; r++, o++) {
            size_t es = src[i] == T_SRC_F32 ? 4 : 2;
            row[o] = (const uint8_t *)w[i] + (size_t)r * in * es, rsrc[o] = src[i];
        }
    p->out = out, p->in = in, p->path = path, p->prec = prec;
    p->nr = path_nr(p->path);
    p->npanels = (out + p->nr - 1) / p->nr;
    size_t n = (size_t)p->npanels * in * p->nr, es = prec == T_PREC_BF16 ? 2 : 4;
    p->bytes = (n * es + 63) / 64 * 64;
    if (!(p->data = aligned_alloc(64, p->bytes))) goto nomem;
    float *f = p->data;
    uint16_t *h = p->data;
    for (int pn = 0; pn < p->npanels; pn++)
        for (int j = 0; j < p->nr; j++) {
            int o = pn * p->nr + j;
            for (int k = 0; k < in; k++) {
                size_t at = ((size_t)pn * in + k) * p->nr + j;
                float v = o < out ? src_at(row[o], rsrc[o], (size_t)k) : 0.0f;
                if (prec == T_PREC_BF16)
                    h[at] = bf16_from_f32(v);
                else
                    f[at] = v;
            }
        }
    free(row), free(rsrc);
    *pw = p;
    return 0;
nomem:
    free(rsrc), free(row);
    if (p) free(p->data);
    free(p);
    return lisa_seterr(LISA_ENOMEM, "gemm: out of memory packing a %d x %d weight", out, in);
}

int t_pack_rows(int nparts, const void *const *w, const t_src *src, const int *rows, int in, t_prec prec, t_packed **pw)
{
    return pack_rows(nparts, w, src, rows, in, prec, t_gemm_path(), pw);
}

int t_pack(const void *w, t_src src, int out, int in, t_prec prec, t_packed **pw)
{
    return t_pack_rows(1, &w, &src, &out, in, prec, pw);
}

void t_packed_free(t_packed *pw)
{
    if (!pw) return;
    free(pw->data);
    free(pw);
}

int t_packed_out(const t_packed *pw)
{
    return pw->out;
}
int t_packed_in(const t_packed *pw)
{
    return pw->in;
}
t_prec t_packed_prec(const t_packed *pw)
{
    return pw->prec;
}
size_t t_packed_bytes(const t_packed *pw)
{
    return pw->bytes;
}

static float packed_at(const t_packed *w, int o, int k)
{
    size_t i = ((size_t)(o / w->nr) * w->in + k) * w->nr + o % w->nr;
    return w->prec == T_PREC_BF16 ? bf16_to_f32(((const uint16_t *)w->data)[i]) : ((const float *)w->data)[i];
}

/* ---------------------------------------------------------------- micro-kernels */

// t[r*NR + j] = sum_{k < kc} a[r*lda + k] * b[k*NR + j] for r < mr, j < NR.
typedef void (*kern_fn)(int mr, int kc, const float *a, size_t lda, const float *b, float *t);

static void kern_c(int mr, int kc, const float *a, size_t lda, const float *b, float *t)
{
    float acc[4][16];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * 16;
        for (int r = 0; r < mr; r++) {
            float av = a[r * lda + k];
            for (int j = 0; j < 16; j++) acc[r][j] += av * bk[j];
        }
    }
    for (int r = 0; r < mr; r++) memcpy(t + r * 16, acc[r], sizeof acc[r]);
}

// Software prefetch distance in k steps (one 64-byte line of a 16-wide panel
// each): with few rows the kernel streams the panel from memory.
#define PREFETCH_K 8

// AVX2 + FMA: MR rows x 16 columns in 2*MR ymm accumulators; per k step two
// panel loads and MR broadcasts for 2*MR FMAs.
#define KERN_AVX2(MR)                                                                                                  \
    __attribute__((target("avx2,fma"))) static void kern_avx2_##MR(int kc, const float *a, size_t lda, const float *b, \
                                                                   float *t)                                           \
    {                                                                                                                  \
        __m256 c0[MR], c1[MR];                                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm256_setzero_ps();                     \
        for (int k = 0; k < kc; k++) {                                                                                 \
            _mm_prefetch((const char *)(b + (size_t)k * 16 + 16 * PREFETCH_K), _MM_HINT_T0);                           \
            __m256 b0 = _mm256_load_ps(b + (size_t)k * 16), b1 = _mm256_load_ps(b + (size_t)k * 16 + 8);               \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                      \
            {                                                                                                          \
                __m256 av = _mm256_broadcast_ss(a + r * lda + k);                                                      \
                c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);                                                                \
                c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);                                                                \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            _mm256_storeu_ps(t + r * 16, c0[r]);                                                                       \
            _mm256_storeu_ps(t + r * 16 + 8, c1[r]);                                                                   \
        }                                                                                                              \
    }
KERN_AVX2(1)
KERN_AVX2(2)
KERN_AVX2(3)
KERN_AVX2(4)
KERN_AVX2(5)
KERN_AVX2(6)

static void kern_avx2(int mr, int kc, const float *a, size_t lda, const float *b, float *t)
{
    switch (mr) {
    case 1: kern_avx2_1(kc, a, lda, b, t); break;
    case 2: kern_avx2_2(kc, a, lda, b, t); break;
    case 3: kern_avx2_3(kc, a, lda, b, t); break;
    case 4: kern_avx2_4(kc, a, lda, b, t); break;
    case 5: kern_avx2_5(kc, a, lda, b, t); break;
    default: kern_avx2_6(kc, a, lda, b, t); break;
    }
}

// AVX-512F: MR rows x 32 columns in 2*MR zmm accumulators.
#define KERN_AVX512(MR)                                                                                                \
    __attribute__((target("avx512f"))) static void kern_avx512_##MR(int kc, const float *a, size_t lda,                \
                                                                    const float *b, float *t)                          \
    {                                                                                                                  \
        __m512 c0[MR], c1[MR];                                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();                     \
        for (int k = 0; k < kc; k++) {                                                                                 \
            __m512 b0 = _mm512_load_ps(b + (size_t)k * 32), b1 = _mm512_load_ps(b + (size_t)k * 32 + 16);              \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                      \
            {                                                                                                          \
                __m512 av = _mm512_set1_ps(a[r * lda + k]);                                                            \
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);                                                                \
                c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);                                                                \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            _mm512_storeu_ps(t + r * 32, c0[r]);                                                                       \
            _mm512_storeu_ps(t + r * 32 + 16, c1[r]);                                                                  \
        }                                                                                                              \
    }
KERN_AVX512(1)
KERN_AVX512(2)
KERN_AVX512(3)
KERN_AVX512(4)
KERN_AVX512(6)
KERN_AVX512(8)
KERN_AVX512(12)

static void kern_avx512(int mr, int kc, const float *a, size_t lda, const float *b, float *t)
{
    // Short blocks run the next larger kernel on repeated rows? No: on
    // exactly mr rows, splitting into the kernels above.
    while (mr > 0) {
        int m = mr >= 12 ? 12 : mr >= 8 ? 8 : mr >= 6 ? 6 : mr >= 4 ? 4 : mr;
        switch (m) {
        case 12: kern_avx512_12(kc, a, lda, b, t); break;
        case 8: kern_avx512_8(kc, a, lda, b, t); break;
        case 6: kern_avx512_6(kc, a, lda, b, t); break;
        case 4: kern_avx512_4(kc, a, lda, b, t); break;
        case 3: kern_avx512_3(kc, a, lda, b, t); break;
        case 2: kern_avx512_2(kc, a, lda, b, t); break;
        default: kern_avx512_1(kc, a, lda, b, t); break;
        }
        a += (size_t)m * lda, t += m * 32, mr -= m;
    }
}

// Widens n bf16 words to fp32.
__attribute__((target("avx2"))) static void widen_avx2(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_store_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
    for (; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

static void widen_c(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

/* ---------------------------------------------------------------- driver */

void t_act_apply(t_act act, float *x, size_t n)
{
    if (act == T_ACT_GELU)
        t_gelu(x, n);
    else if (act == T_ACT_GELU_TANH)
        t_gelu_tanh(x, n);
    else if (act == T_ACT_QUICK_GELU)
        t_quick_gelu(x, n);
}

// exp(x) for 8 floats: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for
// e^r (relative error ~2e-7), 2^n through the exponent bits. Inputs are
// clamped to [-87.3, 88.3], so 2^n stays a finite normal (-126 <= n <= 127).
__attribute__((target("avx2,fma"))) static __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504089f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// The epilogue's activations, 8 at a time (the scalar t_* functions do the
// tail and remain the reference): quick_gelu x / (1 + e^(-1.702x)); gelu with
// erf from Abramowitz-Stegun 7.1.26 (|error| <= 1.5e-7); tanh-gelu with
// tanh(y) = 1 - 2 / (e^(2y) + 1).
__attribute__((target("avx2,fma"))) static void act_avx2(t_act act, float *x, size_t n)
{
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), y;
        if (act == T_ACT_QUICK_GELU) {
            y = _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_mul_ps(v, _mm256_set1_ps(-1.702f)))));
        } else if (act == T_ACT_GELU) {
            __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
            __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
            __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(az, _mm256_set1_ps(0.3275911f), one));
            __m256 p = _mm256_set1_ps(1.061405429f);
            p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
            p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
            p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
            p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
            p = _mm256_mul_ps(p, t);
            __m256 erf = _mm256_fnmadd_ps(p, exp8(_mm256_mul_ps(_mm256_mul_ps(az, az), _mm256_set1_ps(-1.0f))), one);
            erf = _mm256_or_ps(erf, _mm256_and_ps(z, _mm256_set1_ps(-0.0f))); // sign of z
            y = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf));
        } else {
            __m256 u =
                _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                              _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), _mm256_mul_ps(v, v), v));
            __m256 th =
                _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f),
                                                 _mm256_add_ps(exp8(_mm256_mul_ps(u, _mm256_set1_ps(2.0f))), one)));
            y = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, th));
        }
        _mm256_storeu_ps(x + i, y);
    }
    if (i < n) t_act_apply(act, x + i, n - i);
}

// y[c] = t[c] (first k slice) or y[c] += t[c], then + bias[c], for c < n
// (a multiple of 8): one row of a tile into the output.
__attribute__((target("avx2"))) static void merge_avx2(float *y, const float *t, const float *bias, int n, int first)
{
    for (int c = 0; c < n; c += 8) {
        __m256 v = _mm256_loadu_ps(t + c);
        if (!first) v = _mm256_add_ps(v, _mm256_loadu_ps(y + c));
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
        _mm256_storeu_ps(y + c, v);
    }
}

struct gemm_job {
    float *y;
    const float *x, *bias;
    const t_packed *w;
    int ldy, ldx, n, mc, mblocks, pblock, nblocks, kc;
    t_act act;
    kern_fn kern;
    int mr, pack_a;
};

static _Thread_local float t_wide[MAX_KC * MAX_NR] __attribute__((aligned(64)));

static void gemm_task(void *ctx, int task, int tid)
{
    (void)tid;
    const struct gemm_job *j = ctx;
    const t_packed *w = j->w;
    int nr = w->nr, in = w->in;
    int mb = task % j->mblocks, nb = task / j->mblocks;
    int m0 = mb * j->mc, m1 = m0 + j->mc < j->n ? m0 + j->mc : j->n;
    int p0 = nb * j->pblock, p1 = p0 + j->pblock < w->npanels ? p0 + j->pblock : w->npanels;
    float tile[MAX_MR * MAX_NR] __attribute__((aligned(64)));
    int wide_avx2 = w->path != T_PATH_C;
    // With ldx a multiple of 1024 floats (fc2's 3072, a patch conv's 3072),
    // the rows of x fall into one L1 set and evict each other and the panel:
    // then the k slice of this task's rows is copied with a row stride of kc
    // plus one cache line. Without memory for it x is read in place.
    float *abuf = NULL;
    size_t alda = ((size_t)j->kc + 15) / 16 * 16 + 16;
    if (j->pack_a) abuf = aligned_alloc(64, ((size_t)(m1 - m0) * alda * sizeof *abuf + 63) / 64 * 64);
    for (int k0 = 0; k0 < in; k0 += j->kc) {
        int kc = in - k0 < j->kc ? in - k0 : j->kc, first = k0 == 0, last = k0 + kc >= in;
        if (abuf)
            for (int r = m0; r < m1; r++)
                memcpy(abuf + (size_t)(r - m0) * alda, j->x + (size_t)r * j->ldx + k0, (size_t)kc * sizeof *abuf);
        for (int pn = p0; pn < p1; pn++) {
            const float *b;
            size_t off = ((size_t)pn * in + k0) * nr;
            if (w->prec == T_PREC_BF16) {
                if (wide_avx2)
                    widen_avx2(t_wide, (const uint16_t *)w->data + off, (size_t)kc * nr);
                else
                    widen_c(t_wide, (const uint16_t *)w->data + off, (size_t)kc * nr);
                b = t_wide;
            } else {
                b = (const float *)w->data + off;
            }
            int c0 = pn * nr, cols = w->out - c0 < nr ? w->out - c0 : nr;
            // Row blocks of equal height (7 rows: 4 + 3, not 6 + 1).
            int nblk = (m1 - m0 + j->mr - 1) / j->mr, h = (m1 - m0 + nblk - 1) / nblk;
            for (int i = m0; i < m1; i += h) {
                int mr = m1 - i < h ? m1 - i : h;
                if (abuf)
                    j->kern(mr, kc, abuf + (size_t)(i - m0) * alda, alda, b, tile);
                else
                    j->kern(mr, kc, j->x + (size_t)i * j->ldx + k0, (size_t)j->ldx, b, tile);
                for (int r = 0; r < mr; r++) {
                    float *yr = j->y + (size_t)(i + r) * j->ldy + c0;
                    const float *tr = tile + r * nr;
                    if (cols == nr && w->path != T_PATH_C) { // full panel: vector merge
                        merge_avx2(yr, tr, last ? j->bias ? j->bias + c0 : NULL : NULL, nr, first);
                        if (last && j->act != T_ACT_NONE) act_avx2(j->act, yr, (size_t)cols);
                        continue;
                    }
                    if (first)
                        memcpy(yr, tr, (size_t)cols * sizeof *yr);
                    else
                        for (int c = 0; c < cols; c++) yr[c] += tr[c];
                    if (last) {
                        if (j->bias)
                            for (int c = 0; c < cols; c++) yr[c] += j->bias[c0 + c];
                        if (j->act != T_ACT_NONE && w->path != T_PATH_C)
                            act_avx2(j->act, yr, (size_t)cols);
                        else
                            t_act_apply(j->act, yr, (size_t)cols);
                    }
                }
            }
        }
    }
    free(abuf);
}

static void gemm_run(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                     t_act act)
{
    if (n <= 0) return;
    struct gemm_job j = {.y = y, .x = x, .bias = bias, .w = w, .ldy = ldy, .ldx = ldx, .n = n, .act = act};
    j.kern = w->path == T_PATH_AVX512 ? kern_avx512 : w->path == T_PATH_AVX2 ? kern_avx2 : kern_c;
    j.mr = path_mr(w->path);
    j.kc = g_kc;
    if (w->nr == 32) j.kc = j.kc / 2 < 128 ? 128 : j.kc / 2;
    // A few rows: x is tiny and the weight streams from memory once, so
    // whole panels are read front to back (bf16 widens slices of MAX_KC).
    if (n <= 2 * path_mr(w->path)) j.kc = w->prec == T_PREC_BF16 ? MAX_KC : w->in;
    // Rows per block: a k slice of x in half of L2, a multiple of MR.
    int mc = g_l2 / 2 / (j.kc * (int)sizeof(float));
    mc = mc / j.mr * j.mr;
    if (mc < j.mr) mc = j.mr;
    j.mc = mc;
    j.mblocks = (n + mc - 1) / mc;
    j.pack_a = n > 2 * j.mr && ldx % 1024 == 0; // rows 4 KiB apart alias in L1 (see gemm_task)
    // Column blocks: enough tasks for every thread, with equal-sized tasks.
    int T = pool_size(p);
    j.nblocks = 1;
    if (T > 1 && j.mblocks < 2 * T) {
        int want = (2 * T + j.mblocks - 1) / j.mblocks;
        if (j.mblocks == 1) want = T;
        j.nblocks = want < w->npanels ? want : w->npanels;
    }
    j.pblock = (w->npanels + j.nblocks - 1) / j.nblocks;
    j.nblocks = (w->npanels + j.pblock - 1) / j.pblock;
    pool_for(T > 1 ? p : NULL, j.mblocks * j.nblocks, gemm_task, &j);
}

void t_gemm(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n, t_act act)
{
    pthread_once(&g_once, gemm_init);
    gemm_run(p, y, ldy, x, ldx, w, bias, n, act);
}

struct ref_job {
    float *y;
    const float *x, *bias;
    const t_packed *w;
    int ldy, ldx;
    t_act act;
};

static void ref_row(void *ctx, int i, int tid)
{
    (void)tid;
    const struct ref_job *j = ctx;
    const t_packed *w = j->w;
    float *yi = j->y + (size_t)i * j->ldy;
    for (int o = 0; o < w->out; o++) {
        double s = j->bias ? j->bias[o] : 0;
        for (int k = 0; k < w->in; k++) s += (double)j->x[(size_t)i * j->ldx + k] * packed_at(w, o, k);
        yi[o] = (float)s;
    }
    t_act_apply(j->act, yi, (size_t)w->out);
}

void t_gemm_ref(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                t_act act)
{
    struct ref_job j = {y, x, bias, w, ldy, ldx, act};
    pool_for(p, n, ref_row, &j);
}

/* ---------------------------------------------------------------- self-check */

// One odd-sized GEMM per precision, with bias and an activation, on path q
// against t_gemm_ref: 1 if the normalised squared error is within float noise.
static int check_prec(t_path q, t_prec prec)
{
    enum { N = 29, IN = 77, OUT = 83 };
    float *w = malloc(sizeof(float) * OUT * IN), *x = malloc(sizeof(float) * N * IN);
    float *y = malloc(sizeof(float) * N * OUT), *r = malloc(sizeof(float) * N * OUT), b[OUT];
    t_packed *pw = NULL;
    const void *wp = w;
    t_src src = T_SRC_F32;
    int rows = OUT, ok = 0;
    uint32_t s = 12345;
    if (!w || !x || !y || !r) goto out;
    for (int i = 0; i < OUT * IN; i++) w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < N * IN; i++) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < OUT; i++) b[i] = (float)i / OUT - 0.5f;
    if (pack_rows(1, &wp, &src, &rows, IN, prec, q, &pw) < 0) goto out;
    gemm_run(NULL, y, OUT, x, IN, pw, b, N, T_ACT_GELU);
    t_gemm_ref(NULL, r, OUT, x, IN, pw, b, N, T_ACT_GELU);
    double num = 0, den = 0;
    for (int i = 0; i < N * OUT; i++) num += (double)(y[i] - r[i]) * (y[i] - r[i]), den += (double)r[i] * r[i];
    ok = num <= 1e-10 * den;
out:
    t_packed_free(pw);
    free(w), free(x), free(y), free(r);
    lisa_clearerr();
    return ok;
}

static int path_ok(t_path q)
{
    return check_prec(q, T_PREC_F32) && check_prec(q, T_PREC_BF16);
}
