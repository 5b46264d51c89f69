#include "tensor/tensor.h"
#include "base/pool.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

int t_set_threads(int n)
{
    if (n > 0) openblas_set_num_threads(n);
    return openblas_get_num_threads();
}

/* ---------------------------------------------------------------- matmul */

// Up to this many rows, GEMMs are weight-streaming dot products instead of
// sgemm, which packs the weight on every call. Measured (1 thread, 7 x 512 by a
// 2048 x 512 weight not in cache): 0.44 ms against OpenBLAS's 0.74 ms.
#define SMALL_N 16

__attribute__((target("avx2,fma"))) static float hsum(__m256 a)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// Dots of weight row wr with 4 rows of x: four independent FMA chains (no
// waiting on FMA latency) sharing each loaded weight chunk.
__attribute__((target("avx2,fma"))) static void dots4(float *out, const float *wr, const float *x, int in)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *x0 = x, *x1 = x + in, *x2 = x1 + in, *x3 = x2 + in;
    int j = 0;
    for (; j + 8 <= in; j += 8) {
        __m256 wv = _mm256_loadu_ps(wr + j);
        a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + j), a0);
        a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + j), a1);
        a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + j), a2);
        a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + j), a3);
    }
    out[0] = hsum(a0), out[1] = hsum(a1), out[2] = hsum(a2), out[3] = hsum(a3);
    for (; j < in; j++) {
        out[0] += wr[j] * x0[j], out[1] += wr[j] * x1[j];
        out[2] += wr[j] * x2[j], out[3] += wr[j] * x3[j];
    }
}

// One dot, two chains.
__attribute__((target("avx2,fma"))) static float dot1(const float *wr, const float *x, int in)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int j = 0;
    for (; j + 16 <= in; j += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + j), _mm256_loadu_ps(x + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + j + 8), _mm256_loadu_ps(x + j + 8), a1);
    }
    float sum = hsum(_mm256_add_ps(a0, a1));
    for (; j < in; j++) sum += wr[j] * x[j];
    return sum;
}

// y[i, o] = b[o] + w[o] . x[i] for o in [o0, o1): each weight row is read once
// from memory and reused from L1 for the n rows of x. AVX2 + FMA.
__attribute__((target("avx2,fma"))) static void small_avx2(float *y, int ldy, const float *x, const float *w,
                                                           const float *b, int n, int in, int o0, int o1)
{
    float d[4];
    for (int o = o0; o < o1; o++) {
        const float *wr = w + (size_t)o * in;
        float bo = b ? b[o] : 0.0f;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            dots4(d, wr, x + (size_t)i * in, in);
            for (int k = 0; k < 4; k++) y[(size_t)(i + k) * ldy + o] = d[k] + bo;
        }
        for (; i < n; i++) y[(size_t)i * ldy + o] = dot1(wr, x + (size_t)i * in, in) + bo;
    }
}

static int have_avx2(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return v;
}

// y (n, out) = x w^T + b for the block of columns [o0, o1), row stride ldy.
static void matmul_cols(float *y, int ldy, const float *x, const float *w, const float *b, int n, int in, int o0,
                        int o1)
{
    int cols = o1 - o0;
    if (n <= 0 || cols <= 0) return;
    if (n <= SMALL_N && have_avx2()) {
        small_avx2(y, ldy, x, w, b, n, in, o0, o1);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (b)
            memcpy(y + (size_t)i * ldy + o0, b + o0, (size_t)cols * sizeof *y);
        else
            memset(y + (size_t)i * ldy + o0, 0, (size_t)cols * sizeof *y);
    }
    if (in > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, cols, in, 1.0f, x, in, w + (size_t)o0 * in, in, 1.0f,
                    y + o0, ldy);
}

void t_matmul(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    matmul_cols(y, out, x, w, b, n, in, 0, out);
}

struct mm_job {
    float *y;
    const float *x, *w, *b;
    int n, in, out, block;
};

static void mm_task(void *ctx, int i, int tid)
{
    (void)tid;
    struct mm_job *j = ctx;
    int o0 = i * j->block, o1 = o0 + j->block < j->out ? o0 + j->block : j->out;
    matmul_cols(j->y, j->out, j->x, j->w, j->b, j->n, j->in, o0, o1);
}

void t_matmul_pool(pool *p, float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    int T = pool_size(p);
    if (T == 1 || n <= 0 || out < 64) {
        t_matmul(y, x, w, b, n, in, out);
        return;
    }
    // One block per thread, a multiple of 16 columns (SIMD- and cache-line-friendly).
    int block = ((out + T - 1) / T + 15) / 16 * 16;
    struct mm_job j = {y, x, w, b, n, in, out, block};
    pool_for(p, (out + block - 1) / block, mm_task, &j);
}

void t_matmul_ref(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int j = 0; j < in; j++) s += (double)x[(size_t)i * in + j] * w[(size_t)o * in + j];
            y[(size_t)i * out + o] = (float)s;
        }
}

/* ---------------------------------------------------------------- attention */

// Fast path: S = Q K^T * scale (sgemm), masked softmax per row, out = S V (sgemm).
void t_attention_head(float *out, const float *q, const float *k, const float *v, int n, int hd, int ld, int causal,
                      float *s)
{
    float scale = 1.0f / sqrtf((float)hd);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, scale, q, ld, k, ld, 0.0f, s, n);
    for (int i = 0; i < n; i++) {
        float *row = s + (size_t)i * n;
        int len = causal ? i + 1 : n;
        t_softmax(row, len);
        for (int j = len; j < n; j++) row[j] = 0;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, s, n, v, ld, 0.0f, out, ld);
}

void t_attention(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd, int ld,
                 int causal, float *scratch)
{
    for (int h = 0; h < heads; h++)
        t_attention_head(out + h * hd, q + h * hd, k + h * hd, v + h * hd, n, hd, ld, causal, scratch);
}

void t_attention_ref(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd, int ld,
                     int causal, float *s)
{
    double scale = 1.0 / sqrt((double)hd);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++) {
            const float *qi = q + (size_t)i * ld + h * hd;
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++) d += (double)qi[c] * k[(size_t)j * ld + h * hd + c];
                s[j] = (causal && j > i) ? -INFINITY : (float)(d * scale);
            }
            t_softmax(s, n);
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j < n; j++) o += (double)s[j] * v[(size_t)j * ld + h * hd + c];
                out[(size_t)i * ld + h * hd + c] = (float)o;
            }
        }
}

/* ---------------------------------------------------------------- elementwise */

void t_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += xi[j];
        mean /= d;
        for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
        float inv = (float)(1.0 / sqrt(var / d + eps)), m = (float)mean;
        for (int j = 0; j < d; j++) yi[j] = (xi[j] - m) * inv * g[j] + b[j];
    }
}

void t_softmax(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) { // fully masked row: all zero rather than NaN
        for (int i = 0; i < n; i++) x[i] = 0;
        return;
    }
    float sum = 0;
    for (int i = 0; i < n; i++) sum += x[i] = expf(x[i] - mx);
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void t_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void t_gelu_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void t_quick_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void t_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void t_l2norm(float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    if (s == 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* ---------------------------------------------------------------- comparisons */

double t_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

double t_max_rel_err(const float *a, const float *ref, size_t n)
{
    double top = 0, m = 0;
    for (size_t i = 0; i < n; i++) top = fmax(top, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double den = fmax(fabs(ref[i]), 1e-6 * top), d = fabs((double)a[i] - ref[i]);
        double r = den > 0 ? d / den : d;
        if (r > m || r != r) m = r;
    }
    return m;
}

double t_nmse(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

double t_cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}
