#include "tensor/tensor.h"
#include "base/pool.h"
#include "tensor/gemm.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

// Every kernel here runs on the calling thread; there is no BLAS thread count
// left to set.
int t_set_threads(int n)
{
    (void)n;
    return 1;
}

/* ---------------------------------------------------------------- matmul */

// Up to this many rows, GEMMs are weight-streaming dot products instead of
// sgemm, which packs the weight on every call. Measured (1 thread, 7 x 512 by a
// 2048 x 512 weight not in cache): 0.37 ms against OpenBLAS's 0.74 ms. At 64
// rows (a ViT-B/32 image has 50 tokens) the gain was within noise (+2%).
#define SMALL_N 16

__attribute__((target("avx2,fma"))) static float hsum(__m256 a)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// Prefetch distance for the weight stream, in floats: six 512-wide rows
// ahead of the three being read. Measured (1 thread, 7 x 512 by 2048 x 512
// weights not in cache): 11.4 GB/s against 8.7 without.
#define SMALL_PREFETCH 3072

// The 12 dots of 3 weight rows w[0..2] with 4 rows of x[0..3], into
// out[r][c]. Each 8-float step loads 7 chunks for 12 FMAs on twelve
// independent chains, so neither loads nor FMA latency bound the loop.
// Named accumulators: an array indexed in a loop would live on the stack.
__attribute__((target("avx2,fma"))) static void dots4x3(float out[4][3], const float *const w[3],
                                                        const float *const x[4], int in)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    int j = 0;
    for (; j + 8 <= in; j += 8) {
        _mm_prefetch((const char *)(w0 + j + SMALL_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + j + SMALL_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + j + SMALL_PREFETCH), _MM_HINT_T0);
        __m256 v0 = _mm256_loadu_ps(w0 + j), v1 = _mm256_loadu_ps(w1 + j), v2 = _mm256_loadu_ps(w2 + j), xv;
        xv = _mm256_loadu_ps(x0 + j);
        a00 = _mm256_fmadd_ps(v0, xv, a00), a01 = _mm256_fmadd_ps(v1, xv, a01), a02 = _mm256_fmadd_ps(v2, xv, a02);
        xv = _mm256_loadu_ps(x1 + j);
        a10 = _mm256_fmadd_ps(v0, xv, a10), a11 = _mm256_fmadd_ps(v1, xv, a11), a12 = _mm256_fmadd_ps(v2, xv, a12);
        xv = _mm256_loadu_ps(x2 + j);
        a20 = _mm256_fmadd_ps(v0, xv, a20), a21 = _mm256_fmadd_ps(v1, xv, a21), a22 = _mm256_fmadd_ps(v2, xv, a22);
        xv = _mm256_loadu_ps(x3 + j);
        a30 = _mm256_fmadd_ps(v0, xv, a30), a31 = _mm256_fmadd_ps(v1, xv, a31), a32 = _mm256_fmadd_ps(v2, xv, a32);
    }
    out[0][0] = hsum(a00), out[0][1] = hsum(a01), out[0][2] = hsum(a02);
    out[1][0] = hsum(a10), out[1][1] = hsum(a11), out[1][2] = hsum(a12);
    out[2][0] = hsum(a20), out[2][1] = hsum(a21), out[2][2] = hsum(a22);
    out[3][0] = hsum(a30), out[3][1] = hsum(a31), out[3][2] = hsum(a32);
    for (; j < in; j++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 3; c++) out[r][c] += w[c][j] * x[r][j];
}

// y[i, o] = b[o] + w[o] . x[i] for o in [o0, o1): weight rows are streamed
// from memory three at a time and reused from L1 for every block of 4 rows
// of x; short blocks repeat a row and drop its results. AVX2 + FMA.
__attribute__((target("avx2,fma"))) static void small_avx2(float *y, int ldy, const float *x, const float *w,
                                                           const float *b, int n, int in, int o0, int o1)
{
    float d[4][3];
    for (int o = o0; o < o1; o += 3) {
        int nc = o1 - o < 3 ? o1 - o : 3;
        const float *wr[3];
        for (int c = 0; c < 3; c++) wr[c] = w + (size_t)(o + (c < nc ? c : 0)) * in;
        for (int i = 0; i < n; i += 4) {
            int nr = n - i < 4 ? n - i : 4;
            const float *xr[4];
            for (int r = 0; r < 4; r++) xr[r] = x + (size_t)(i + (r < nr ? r : 0)) * in;
            dots4x3(d, wr, xr, in);
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < nc; c++) y[(size_t)(i + r) * ldy + o + c] = d[r][c] + (b ? b[o + c] : 0.0f);
        }
    }
}

static int have_avx2(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return v;
}

// y (n, out) = x w^T + b for the block of columns [o0, o1), row stride ldy.
// Up to SMALL_N rows (or without memory to pack) the weight rows are streamed
// as they are; larger products pack the block once (gemm.h) and run the
// packed kernel: callers that reuse a weight should pack it themselves.
static void matmul_cols(float *y, int ldy, const float *x, const float *w, const float *b, int n, int in, int o0,
                        int o1)
{
    int cols = o1 - o0;
    if (n <= 0 || cols <= 0) return;
    t_packed *pw = NULL;
    if (n > SMALL_N && in > 0 && t_pack(w + (size_t)o0 * in, T_SRC_F32, cols, in, T_PREC_F32, &pw) == 0) {
        t_gemm(NULL, y + o0, ldy, x, in, pw, b ? b + o0 : NULL, n, T_ACT_NONE);
        t_packed_free(pw);
        return;
    }
    if (have_avx2() && in > 0) {
        small_avx2(y, ldy, x, w, b, n, in, o0, o1);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int o = o0; o < o1; o++) {
            const float *xi = x + (size_t)i * in, *wo = w + (size_t)o * in;
            float acc = b ? b[o] : 0.0f;
            for (int k = 0; k < in; k++) acc += xi[k] * wo[k];
            y[(size_t)i * ldy + o] = acc;
        }
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

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

// y += a * x over n values.
__attribute__((target("avx2,fma"))) static void axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static float dot_c(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_c(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

// One query row at a time: its n scores (scratch), masked softmax, then the
// weighted sum of value rows. Never more than one row of scores.
void t_attention_head_ld(float *out, int ldo, const float *q, const float *k, const float *v, int ld, int n, int hd,
                         int causal, float *s)
{
    float scale = 1.0f / sqrtf((float)hd);
    int avx2 = have_avx2();
    for (int i = 0; i < n; i++) {
        const float *qi = q + (size_t)i * ld;
        float *oi = out + (size_t)i * ldo;
        int len = causal ? i + 1 : n;
        for (int j = 0; j < len; j++)
            s[j] = (avx2 ? dot_avx2(qi, k + (size_t)j * ld, hd) : dot_c(qi, k + (size_t)j * ld, hd)) * scale;
        t_softmax(s, len);
        memset(oi, 0, (size_t)hd * sizeof *oi);
        for (int j = 0; j < len; j++) {
            if (avx2)
                axpy_avx2(oi, s[j], v + (size_t)j * ld, hd);
            else
                axpy_c(oi, s[j], v + (size_t)j * ld, hd);
        }
    }
}

void t_attention_head(float *out, const float *q, const float *k, const float *v, int n, int hd, int ld, int causal,
                      float *s)
{
    t_attention_head_ld(out, ld, q, k, v, ld, n, hd, causal, s);
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
            t_softmax_ref(s, n);
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j < n; j++) o += (double)s[j] * v[(size_t)j * ld + h * hd + c];
                out[(size_t)i * ld + h * hd + c] = (float)o;
            }
        }
}

/* ---------------------------------------------------------------- elementwise */

// One row on 16 lanes: the mean, then the variance about it (two passes, as
// the scalar rows), each summed in 16 float lanes and the tail.
__attribute__((target("avx512f"))) static void layernorm_row_avx512(float *y, const float *x, const float *g,
                                                                    const float *b, int d, float eps)
{
    __m512 acc = _mm512_setzero_ps();
    int j = 0, v = d / 16 * 16;
    for (; j < v; j += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + j));
    float sum = _mm512_reduce_add_ps(acc);
    for (; j < d; j++) sum += x[j];
    float m = sum / (float)d, var;
    __m512 vm = _mm512_set1_ps(m);
    acc = _mm512_setzero_ps();
    for (j = 0; j < v; j += 16) {
        __m512 t = _mm512_sub_ps(_mm512_loadu_ps(x + j), vm);
        acc = _mm512_fmadd_ps(t, t, acc);
    }
    var = _mm512_reduce_add_ps(acc);
    for (; j < d; j++) var += (x[j] - m) * (x[j] - m);
    float inv = 1.0f / sqrtf(var / (float)d + eps);
    __m512 vi = _mm512_set1_ps(inv);
    for (j = 0; j < v; j += 16) {
        __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vi);
        _mm512_storeu_ps(y + j, _mm512_fmadd_ps(t, _mm512_loadu_ps(g + j), _mm512_loadu_ps(b + j)));
    }
    for (; j < d; j++) y[j] = (x[j] - m) * inv * g[j] + b[j];
}

void t_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d, float eps)
{
    int wide = t_gemm_path() == T_PATH_AVX512;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        if (wide) {
            layernorm_row_avx512(yi, xi, g, b, d, eps);
            continue;
        }
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += xi[j];
        mean /= d;
        for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
        float inv = (float)(1.0 / sqrt(var / d + eps)), m = (float)mean;
        for (int j = 0; j < d; j++) yi[j] = (xi[j] - m) * inv * g[j] + b[j];
    }
}

void t_softmax_ref(float *x, int n)
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
