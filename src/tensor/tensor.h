// Dense float32 kernels for transformer inference: row-major matrices, no
// allocation inside (callers pass scratch). Every fast kernel (t_matmul,
// t_attention) has a plain scalar t_*_ref with the same signature; tests
// compare the two on random shapes, odd sizes included.
//
// t_matmul takes an unpacked weight: for <= 16 rows an AVX2/FMA
// weight-streaming kernel (runtime CPU check), else it packs the weight for
// this call and runs the packed GEMM of tensor/gemm.h. A model that reuses a
// weight should pack it once at load (t_pack) and call t_gemm. Parallelism
// comes from the pool (t_matmul_pool, t_gemm); every kernel here may be called
// from pool workers concurrently. No BLAS library is involved.
#ifndef LISA_TENSOR_H
#define LISA_TENSOR_H

#include <stddef.h>

// Kept for callers of the OpenBLAS era: every kernel is single-threaded unless
// given a pool, so this does nothing and returns 1.
int t_set_threads(int n);

// y (n, out) = x (n, in) . w^T + b, where w is (out, in) like a torch Linear
// weight and b is (out) or NULL. y must not alias x or w.
void t_matmul(float *y, const float *x, const float *w, const float *b, int n, int in, int out);
void t_matmul_ref(float *y, const float *x, const float *w, const float *b, int n, int in, int out);

// t_matmul split over the threads of pool p by blocks of output columns.
typedef struct pool pool;
void t_matmul_pool(pool *p, float *y, const float *x, const float *w, const float *b, int n, int in, int out);

// Scaled dot-product attention over n tokens and `heads` heads of width hd.
// q, k, v and out are (n, heads*hd) with row stride ld (>= heads*hd); head h
// is columns [h*hd, (h+1)*hd). causal: token i sees tokens 0..i only.
// scratch holds n floats (one row of scores; n*n, what it once needed, is
// fine). out must not alias q, k or v.
void t_attention(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd, int ld,
                 int causal, float *scratch);
void t_attention_ref(float *out, const float *q, const float *k, const float *v, int n, int heads, int hd, int ld,
                     int causal, float *scratch);

// The same for one head only (what t_attention loops over), so callers can
// spread heads over threads.
void t_attention_head(float *out, const float *q, const float *k, const float *v, int n, int hd, int ld, int causal,
                      float *scratch);

// The same with the output's row stride ldo apart from q, k and v's ld (a
// fused QKV GEMM output has ld = 3 * heads * hd). scratch holds n floats.
void t_attention_head_ld(float *out, int ldo, const float *q, const float *k, const float *v, int ld, int n, int hd,
                         int causal, float *scratch);

// Layer norm of each of n rows of width d: y = (x - mean) / sqrt(var + eps) * g + b.
// y may equal x.
void t_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d, float eps);

// In-place softmax of one row of n values (-INFINITY entries get 0): t_softmax
// on the GEMM path's vectors (gemm.c, with the epilogue's exp), t_softmax_ref
// the scalar reference with libm's expf.
void t_softmax(float *x, int n);
// The softmax of scale * x (scale > 0, one multiply inside the exp's argument).
void t_softmax_scaled(float *x, int n, float scale);
void t_softmax_ref(float *x, int n);

// In-place activations over n values.
void t_gelu(float *x, size_t n);       // x * Phi(x), exact (erf)
void t_gelu_tanh(float *x, size_t n);  // tanh approximation (gelu_new)
void t_quick_gelu(float *x, size_t n); // x * sigmoid(1.702 x)

// y += x over n values.
void t_add(float *y, const float *x, size_t n);

// Scales x (n values) to unit L2 norm; a zero vector stays zero.
void t_l2norm(float *x, int n);

// Comparisons used by tests and benches.
double t_max_abs_diff(const float *a, const float *b, size_t n);
double t_max_rel_err(const float *a, const float *ref, size_t n); // |a-ref| / max(|ref|, 1e-6 * max|ref|)
double t_nmse(const float *a, const float *ref, size_t n);        // sum (a-ref)^2 / sum ref^2
double t_cosine(const float *a, const float *b, size_t n);

#endif
