#include "tensor/tensor.h"
#include "base/pool.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int t_set_threads(int n)
{
    if (n > 0) openblas_set_num_threads(n);
    return openblas_get_num_threads();
}

/* ---------------------------------------------------------------- matmul */

void t_matmul(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    if (n <= 0 || out <= 0) return;
    for (int i = 0; i < n; i++) {
        if (b) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof *y);
        else memset(y + (size_t)i * out, 0, (size_t)out * sizeof *y);
    }
    if (in <= 0) return;
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, 1.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

// y (n, out) = x w^T + b, one block of columns [o0, o1), row stride ldy.
static void matmul_cols(float *y, int ldy, const float *x, const float *w, const float *b, int n, int in, int o0,
                        int o1)
{
    int cols = o1 - o0;
    for (int i = 0; i < n; i++) {
        if (b) memcpy(y + (size_t)i * ldy + o0, b + o0, (size_t)cols * sizeof *y);
        else memset(y + (size_t)i * ldy + o0, 0, (size_t)cols * sizeof *y);
    }
    if (in > 0 && cols > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, cols, in, 1.0f, x, in, w + (size_t)o0 * in, in,
                    1.0f, y + o0, ldy);
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
void t_attention_head(float *out, const float *q, const float *k, const float *v, int n, int hd, int ld,
                      int causal, float *s)
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

void t_attention(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd,
                 int ld, int causal, float *scratch)
{
    for (int h = 0; h < heads; h++)
        t_attention_head(out + h * hd, q + h * hd, k + h * hd, v + h * hd, n, hd, ld, causal, scratch);
}

void t_attention_ref(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd,
                     int ld, int causal, float *s)
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
