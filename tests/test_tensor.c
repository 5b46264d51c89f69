// Fast kernels against their scalar references on random shapes, odd sizes included.
#include "testutil.h"
#include "base/err.h"
#include "base/half.h"
#include "base/pool.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static void test_matmul_matches_ref(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},     {1, 7, 5}, {3, 17, 13}, {50, 96, 384},  {77, 65, 33},
                                    {8, 129, 257}, {2, 1, 9}, {13, 31, 1}, {7, 512, 2048}, {5, 24, 7},
                                    {16, 40, 11},  {6, 9, 2}, {17, 33, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = tu_rvec(&rng, (size_t)n * in, 1), *w = tu_rvec(&rng, (size_t)out * in, 1),
              *b = tu_rvec(&rng, out, 1);
        float *y = tu_rvec(&rng, (size_t)n * out, 1), *r = tu_rvec(&rng, (size_t)n * out, 1);
        for (int bias = 0; bias < 2; bias++) {
            t_matmul(y, x, w, bias ? b : NULL, n, in, out);
            t_matmul_ref(r, x, w, bias ? b : NULL, n, in, out);
            assert_true(t_nmse(y, r, (size_t)n * out) < 1e-10);
            assert_true(t_max_abs_diff(y, r, (size_t)n * out) < 1e-4 * sqrt(in));
        }
        free(x), free(w), free(b), free(y), free(r);
    }
}

static void test_matmul_pool_matches_ref(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 64, 64}, {7, 65, 129}, {50, 96, 1000}, {3, 5, 63}, {9, 33, 17}};
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = tu_rvec(&rng, (size_t)n * in, 1), *w = tu_rvec(&rng, (size_t)out * in, 1),
              *b = tu_rvec(&rng, out, 1);
        float *y = tu_rvec(&rng, (size_t)n * out, 1), *r = tu_rvec(&rng, (size_t)n * out, 1);
        t_matmul_pool(p, y, x, w, s & 1 ? NULL : b, n, in, out);
        t_matmul_ref(r, x, w, s & 1 ? NULL : b, n, in, out);
        assert_true(t_nmse(y, r, (size_t)n * out) < 1e-10);
        free(x), free(w), free(b), free(y), free(r);
    }
    pool_free(p);
}

static void test_matmul_ref_known_values(void **state)
{
    (void)state;
    const float x[] = {1, 2, 3, 4, 5, 6}; // (2, 3)
    const float w[] = {1, 0, 0, 0, 1, 1}; // (2, 3)
    const float b[] = {10, 20};
    float y[4];
    t_matmul_ref(y, x, w, b, 2, 3, 2);
    assert_true(y[0] == 11 && y[1] == 25 && y[2] == 14 && y[3] == 31);
    t_matmul(y, x, w, b, 2, 3, 2);
    assert_true(y[0] == 11 && y[1] == 25 && y[2] == 14 && y[3] == 31);
}

static void check_attention(int n, int heads, int hd, int ld, int causal)
{
    size_t sz = (size_t)n * ld;
    float *q = tu_rvec(&rng, sz, 2), *k = tu_rvec(&rng, sz, 2), *v = tu_rvec(&rng, sz, 1);
    float *o = calloc(sz, sizeof *o), *r = calloc(sz, sizeof *r), *s = tu_rvec(&rng, (size_t)n * n, 1);
    t_attention(o, q, k, v, n, heads, hd, ld, causal, s);
    t_attention_ref(r, q, k, v, n, heads, hd, ld, causal, s);
    assert_true(t_nmse(o, r, sz) < 1e-10);
    assert_true(t_max_abs_diff(o, r, sz) < 1e-5);
    if (causal) { // token 0 attends only to itself: its output is v[0]
        for (int c = 0; c < heads * hd; c++) assert_true(fabsf(o[c] - v[c]) < 1e-6f);
    }
    free(q), free(k), free(v), free(o), free(r), free(s);
}

static void test_attention_matches_ref(void **state)
{
    (void)state;
    check_attention(1, 1, 1, 1, 0);
    check_attention(7, 3, 5, 15, 1);
    check_attention(50, 4, 24, 96, 0);
    check_attention(13, 5, 16, 83, 1); // ld wider than heads*hd
    check_attention(77, 8, 64, 512, 1);
}

static void test_causal_mask_is_applied(void **state)
{
    (void)state;
    // Changing a later token must not change earlier outputs under the mask.
    int n = 9, hd = 8;
    float *q = tu_rvec(&rng, n * hd, 1), *k = tu_rvec(&rng, n * hd, 1), *v = tu_rvec(&rng, n * hd, 1);
    float o1[72], o2[72], s[81];
    t_attention(o1, q, k, v, n, 1, hd, hd, 1, s);
    for (int c = 0; c < hd; c++) k[(n - 1) * hd + c] += 3, v[(n - 1) * hd + c] -= 2;
    t_attention(o2, q, k, v, n, 1, hd, hd, 1, s);
    assert_memory_equal(o1, o2, (size_t)(n - 1) * hd * sizeof(float));
    assert_true(t_max_abs_diff(o1 + (n - 1) * hd, o2 + (n - 1) * hd, hd) > 1e-3);
    free(q), free(k), free(v);
}

struct par_attn {
    const float *q, *k, *v;
    float *o, *s;
    int n, hd, ld;
};

static void attn_head_task(void *ctx, int h, int tid)
{
    struct par_attn *a = ctx;
    t_attention_head(a->o + h * a->hd, a->q + h * a->hd, a->k + h * a->hd, a->v + h * a->hd, a->n, a->hd, a->ld, 0,
                     a->s + (size_t)tid * a->n * a->n);
}

static void test_attention_heads_in_pool(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    int n = 197, heads = 12, hd = 64, ld = heads * hd;
    size_t sz = (size_t)n * ld;
    struct par_attn a = {tu_rvec(&rng, sz, 1),
                         tu_rvec(&rng, sz, 1),
                         tu_rvec(&rng, sz, 1),
                         calloc(sz, 4),
                         tu_rvec(&rng, 3 * (size_t)n * n, 1),
                         n,
                         hd,
                         ld};
    float *r = calloc(sz, 4), *s = tu_rvec(&rng, (size_t)n * n, 1);
    for (int rep = 0; rep < 3; rep++) pool_for(p, heads, attn_head_task, &a);
    t_attention_ref(r, a.q, a.k, a.v, n, heads, hd, ld, 0, s);
    assert_true(t_nmse(a.o, r, sz) < 1e-10);
    pool_free(p);
    free((void *)a.q), free((void *)a.k), free((void *)a.v), free(a.o), free(a.s), free(r), free(s);
}

static void test_layernorm(void **state)
{
    (void)state;
    int n = 5, d = 37;
    float *x = tu_rvec(&rng, (size_t)n * d, 3), *g = tu_rvec(&rng, d, 1), *b = tu_rvec(&rng, d, 1),
          *y = tu_rvec(&rng, (size_t)n * d, 1);
    float ones[37], zeros[37] = {0};
    for (int j = 0; j < d; j++) ones[j] = 1;
    t_layernorm(y, x, ones, zeros, n, d, 1e-5f);
    for (int i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < d; j++) m += y[i * d + j];
        for (int j = 0; j < d; j++) v += (y[i * d + j] - m / d) * (y[i * d + j] - m / d);
        assert_true(fabs(m / d) < 1e-5 && fabs(v / d - 1) < 1e-3);
    }
    t_layernorm(y, x, g, b, n, d, 1e-5f);
    float *z = malloc((size_t)n * d * sizeof *z); // the scalar rows (double sums) agree with the vector ones
    t_path best = t_gemm_path();
    assert_int_equal(t_gemm_set_path(T_PATH_C), 0);
    t_layernorm(z, x, g, b, n, d, 1e-5f);
    t_gemm_set_path(best);
    assert_true(t_max_abs_diff(z, y, (size_t)n * d) < 1e-5);
    t_layernorm(x, x, g, b, n, d, 1e-5f); // in place gives the same
    assert_true(t_max_abs_diff(x, y, (size_t)n * d) < 1e-6);
    free(x), free(g), free(b), free(y), free(z);
}

static void test_activations(void **state)
{
    (void)state;
    // Values from torch.nn.functional: gelu(1) = 0.8413447, gelu(-2) = -0.04550026,
    // gelu tanh(1) = 0.8411920, quick_gelu(1) = 1 * sigmoid(1.702) = 0.8457951.
    float a[] = {1, -2, 0}, b[] = {1, -2, 0}, c[] = {1, -2, 0};
    t_gelu(a, 3);
    t_gelu_tanh(b, 3);
    t_quick_gelu(c, 3);
    assert_true(fabsf(a[0] - 0.8413447f) < 1e-6f && fabsf(a[1] + 0.04550026f) < 1e-6f && a[2] == 0);
    assert_true(fabsf(b[0] - 0.8411920f) < 1e-6f && b[2] == 0);
    assert_true(fabsf(c[0] - 0.8457951f) < 1e-6f && c[2] == 0);
}

// The vector softmax of every path this CPU has against the scalar reference,
// on rows of every length up to 80 and BLIP's 577, some entries masked:
// within 2e-6 of each probability, masked ones exactly 0, rows summing to 1.
static void test_softmax_paths(void **state)
{
    (void)state;
    t_path best = t_gemm_path();
    uint64_t rng = 99;
    for (int q = T_PATH_C; q <= (int)T_PATH_AVX512; q++) {
        if (!t_gemm_path_supported((t_path)q)) {
            print_message("[  SKIPPED ] softmax on the %s path: not on this CPU\n", t_gemm_path_name((t_path)q));
            continue;
        }
        assert_int_equal(t_gemm_set_path((t_path)q), 0);
        for (int n = 1; n <= 577; n = n < 80 ? n + 1 : n == 80 ? 577 : 578) {
            float a[577], b[577];
            double sum = 0;
            float scale = n % 2 ? 1 : 0.125f; // even rows: the scaled softmax against scaling, then the reference
            for (int i = 0; i < n; i++) a[i] = b[i] = (i % 7 == 3 && n > 1) ? -INFINITY : 12 * tu_frand(&rng);
            for (int i = 0; i < n; i++) b[i] *= scale;
            if (n % 2)
                t_softmax(a, n);
            else
                t_softmax_scaled(a, n, scale);
            t_softmax_ref(b, n);
            for (int i = 0; i < n; i++) {
                if (isinf(b[i]) || fabsf(a[i] - b[i]) > 2e-6f)
                    fail_msg("%s n %d [%d]: %g, reference %g", t_gemm_path_name((t_path)q), n, i, a[i], b[i]);
                sum += a[i];
            }
            for (int i = 3; n > 1 && i < n; i += 7) assert_true(a[i] == 0);
            assert_true(fabs(sum - 1) < 1e-5);
        }
    }
    t_gemm_set_path(best);
}

static void test_softmax_and_norm(void **state)
{
    (void)state;
    float x[] = {1, 2, 3, -INFINITY};
    t_softmax(x, 4);
    assert_true(fabsf(x[0] - 0.09003057f) < 1e-6f && fabsf(x[2] - 0.66524096f) < 1e-6f && x[3] == 0);
    float m[] = {-INFINITY, -INFINITY};
    t_softmax(m, 2);
    assert_true(m[0] == 0 && m[1] == 0);
    float v[] = {3, 4}, z[] = {0, 0};
    t_l2norm(v, 2);
    t_l2norm(z, 2);
    assert_true(fabsf(v[0] - 0.6f) < 1e-7f && fabsf(v[1] - 0.8f) < 1e-7f && z[0] == 0);
    float y[] = {1, 2};
    t_add(y, v, 2);
    assert_true(fabsf(y[1] - 2.8f) < 1e-6f);
    assert_true(fabs(t_cosine(v, v, 2) - 1) < 1e-12);
}

/* ---------------------------------------------------------------- packed GEMM, per ISA path */

// t_gemm against t_gemm_ref on random shapes (odd sizes, several k slices and
// row blocks, strided x and y, every epilogue) on path q, or a cmocka skip when
// this CPU lacks q. The reference reads the same packed weight, so bf16 is
// held to fp32 accumulation error too; a second check bounds bf16's rounding
// against the fp32 reference.
// ext selects the AVX-512 extensions (T_EXT_BF16: VDPBF16PS, T_EXT_VNNI:
// VPDPBUSD; 0: the widening bf16 and C int8 kernels).
static void gemm_path_ext(t_path q, t_prec prec, unsigned ext, const char *kernel)
{
    if (!t_gemm_path_supported(q) || (ext && !t_gemm_ext_supported(ext))) {
        print_message("      %s: not on this CPU, skipped\n", kernel);
        skip();
    }
    t_path saved = t_gemm_path();
    unsigned saved_ext = t_gemm_ext();
    assert_int_equal(t_gemm_set_path(q), 0);
    assert_int_equal(t_gemm_set_ext(ext), 0);
    assert_string_equal(t_gemm_kernel_name(prec), kernel);
    pool *p;
    assert_int_equal(pool_new(2, &p), 0);
    static const int ns[] = {1, 2, 3, 5, 7, 12, 13, 50, 77, 300}, ins[] = {1, 3, 8, 17, 64, 100, 513, 777};
    static const int outs[] = {1, 5, 16, 17, 31, 33, 64, 100};
    for (int s = 0; s < 26; s++) {
        int n = ns[s % 10], in = ins[(s * 3 + 1) % 8], out = outs[(s * 5 + 2) % 8];
        if (n == 300 && in > 100) in = 100; // keep the scalar reference quick
        int ldx = in + s % 3, ldy = out + (s % 2) * 3;
        if (s >= 24) n = 29 + s, in = 1000 + (s - 24) * 17, ldx = 1024; // x copied per k slice (4 KiB rows)
        t_act act = (t_act)(s % 4);
        float *x = tu_rvec(&rng, (size_t)n * ldx, 1), *w = tu_rvec(&rng, (size_t)out * in, 0.5f),
              *b = tu_rvec(&rng, (size_t)out, 1);
        float *y = tu_rvec(&rng, (size_t)n * ldy, 1), *r = tu_rvec(&rng, (size_t)n * ldy, 1),
              *r32 = tu_rvec(&rng, (size_t)n * ldy, 1);
        t_packed *pw, *p32;
        assert_int_equal(t_pack(w, T_SRC_F32, out, in, prec, &pw), 0);
        assert_int_equal(t_pack(w, T_SRC_F32, out, in, T_PREC_F32, &p32), 0);
        assert_int_equal(t_packed_out(pw), out);
        assert_int_equal(t_packed_in(pw), in);
        assert_string_equal(t_packed_kernel(pw), kernel);
        assert_true(t_packed_bytes(pw) >= (size_t)out * in * (prec == T_PREC_BF16 ? 2 : prec == T_PREC_INT8 ? 1 : 4));
        const float *bias = s % 5 == 4 ? NULL : b;
        for (int i = 0; i < n; i++)
            for (int c = out; c < ldy; c++) y[(size_t)i * ldy + c] = 12345.0f;
        t_gemm(s % 2 ? p : NULL, y, ldy, x, ldx, pw, bias, n, act);
        // A row alone is bit-equal to the same row in the batch: an image's
        // vector must not depend on what it was indexed with.
        float *one = tu_rvec(&rng, (size_t)out, 1);
        for (int i = 0; i < n; i += n / 3 + 1) {
            t_gemm(s % 2 ? NULL : p, one, out, x + (size_t)i * ldx, ldx, pw, bias, 1, act);
            if (memcmp(one, y + (size_t)i * ldy, (size_t)out * sizeof *one))
                fail_msg("%s n=%d in=%d out=%d: row %d alone differs from the batch", kernel, n, in, out, i);
        }
        free(one);
        double num = 0, den = 0;
        t_gemm_ref(NULL, r, ldy, x, ldx, pw, bias, n, act);
        t_gemm_ref(NULL, r32, ldy, x, ldx, p32, bias, n, act);
        double en = 0, ed = 0; // NMSE over the whole output (one value can cancel to ~0)
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < out; c++) {
                double d = (double)y[(size_t)i * ldy + c] - r[(size_t)i * ldy + c];
                en += d * d, ed += (double)r[(size_t)i * ldy + c] * r[(size_t)i * ldy + c];
            }
            for (int c = 0; c < out; c++) {
                double d = (double)y[(size_t)i * ldy + c] - r32[(size_t)i * ldy + c];
                num += d * d, den += (double)r32[(size_t)i * ldy + c] * r32[(size_t)i * ldy + c];
            }
            for (int c = out; c < ldy; c++) // the padding past out is untouched
                assert_true(y[(size_t)i * ldy + c] == 12345.0f);
        }
        if (en / ed > 1e-10)
            fail_msg("%s n=%d in=%d out=%d act=%d: nmse %g", t_gemm_path_name(q), n, in, out, act, en / ed);
        // bf16 rounding (2^-9 relative, of weights and with VDPBF16PS of x
        // too) against the fp32 weight: about 1e-5; int8 (2^-8 of each row's
        // range): about 1e-4.
        if (prec == T_PREC_BF16 && num / den > 1e-4)
            fail_msg("bf16 vs fp32 n=%d in=%d out=%d: nmse %g", n, in, out, num / den);
        if (prec == T_PREC_INT8 && num / den > 2e-3)
            fail_msg("int8 vs fp32 n=%d in=%d out=%d: nmse %g", n, in, out, num / den);
        if (prec == T_PREC_F32) assert_true(num / den < 1e-10);
        t_packed_free(pw), t_packed_free(p32);
        free(x), free(w), free(b), free(y), free(r), free(r32);
    }
    pool_free(p);
    assert_int_equal(t_gemm_set_path(saved), 0);
    assert_int_equal(t_gemm_set_ext(saved_ext), 0);
}

static void gemm_path(t_path q, t_prec prec)
{
    const char *int8 = q == T_PATH_C ? "c_int8" : "avx2_int8";
    gemm_path_ext(q, prec, 0, prec == T_PREC_INT8 ? int8 : t_gemm_path_name(q));
}

static void test_gemm_c_f32(void **state)
{
    (void)state;
    gemm_path(T_PATH_C, T_PREC_F32);
}
static void test_gemm_c_bf16(void **state)
{
    (void)state;
    gemm_path(T_PATH_C, T_PREC_BF16);
}
static void test_gemm_avx2_f32(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX2, T_PREC_F32);
}
static void test_gemm_avx2_bf16(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX2, T_PREC_BF16);
}
static void test_gemm_avx512_f32(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX512, T_PREC_F32);
}
static void test_gemm_avx512_bf16(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX512, T_PREC_BF16);
}

static void test_gemm_avx512_bf16_dp(void **state)
{
    (void)state;
    gemm_path_ext(T_PATH_AVX512, T_PREC_BF16, T_EXT_BF16, "avx512_bf16");
}
static void test_gemm_amx_bf16(void **state)
{
    (void)state;
    gemm_path_ext(T_PATH_AVX512, T_PREC_BF16, T_EXT_AMX, "amx_bf16");
}
static void test_gemm_c_int8(void **state)
{
    (void)state;
    gemm_path(T_PATH_C, T_PREC_INT8);
}
static void test_gemm_avx2_int8(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX2, T_PREC_INT8);
}
static void test_gemm_avx512_int8(void **state)
{
    (void)state;
    gemm_path(T_PATH_AVX512, T_PREC_INT8);
}
static void test_gemm_avx512_vnni(void **state)
{
    (void)state;
    gemm_path_ext(T_PATH_AVX512, T_PREC_INT8, T_EXT_VNNI, "avx512_vnni");
}

// The start-up self-check chose the best path and extensions this CPU has
// (a kernel it rejected would show up here as a missing path).
static void test_gemm_best_path_chosen(void **state)
{
    (void)state;
    t_path best = t_gemm_path_supported(T_PATH_AVX512) ? T_PATH_AVX512
                  : t_gemm_path_supported(T_PATH_AVX2) ? T_PATH_AVX2
                                                       : T_PATH_C;
    const char *bf16 = getenv("LISA_GEMM_BF16");
    if (getenv("LISA_GEMM_PATH") || getenv("LISA_GEMM_NO_EXT")) skip();
    assert_string_equal(t_gemm_path_name(t_gemm_path()), t_gemm_path_name(best));
    assert_int_equal(!!(t_gemm_ext() & T_EXT_VNNI), t_gemm_ext_supported(T_EXT_VNNI));
    // AVX512_BF16 and AMX are used only where the CPU has them and they were
    // timed faster than widening (LISA_GEMM_BF16=widen|dp|amx decides without the timing).
    if (!t_gemm_ext_supported(T_EXT_BF16)) assert_false(t_gemm_ext() & T_EXT_BF16);
    if (!t_gemm_ext_supported(T_EXT_AMX)) assert_false(t_gemm_ext() & T_EXT_AMX);
    if (t_gemm_ext_supported(T_EXT_BF16) && bf16 && !strcmp(bf16, "dp"))
        assert_string_equal(t_gemm_kernel_name(T_PREC_BF16), "avx512_bf16");
    if (t_gemm_ext_supported(T_EXT_AMX) && bf16 && !strcmp(bf16, "amx"))
        assert_string_equal(t_gemm_kernel_name(T_PREC_BF16), "amx_bf16");
    if (bf16 && !strcmp(bf16, "widen")) assert_false(t_gemm_ext() & (T_EXT_BF16 | T_EXT_AMX));
    print_message("      path %s, bf16 kernel %s, int8 kernel %s\n", t_gemm_path_name(t_gemm_path()),
                  t_gemm_kernel_name(T_PREC_BF16), t_gemm_kernel_name(T_PREC_INT8));
}

// Packing from F16 and BF16 words equals packing their fp32 values; stacked
// parts equal one stacked weight; bad sizes are refused.
static void test_gemm_pack_sources(void **state)
{
    (void)state;
    int out = 19, in = 23, n = 5;
    float *w = tu_rvec(&rng, (size_t)out * in, 1), *x = tu_rvec(&rng, (size_t)n * in, 1),
          *wr = malloc((size_t)out * in * sizeof *wr);
    uint16_t *hb = malloc((size_t)out * in * 2), *hf = malloc((size_t)out * in * 2);
    float y1[5 * 19], y2[5 * 19];
    for (int i = 0; i < out * in; i++) {
        hb[i] = bf16_from_f32(w[i]);
        wr[i] = bf16_to_f32(hb[i]);
        hf[i] = (uint16_t)(0x3c00 + (i % 7) * 0x400); // 1, 2, 4, ... 64 as f16
    }
    t_packed *a, *b;
    assert_int_equal(t_pack(hb, T_SRC_BF16, out, in, T_PREC_F32, &a), 0);
    assert_int_equal(t_pack(wr, T_SRC_F32, out, in, T_PREC_F32, &b), 0);
    t_gemm(NULL, y1, out, x, in, a, NULL, n, T_ACT_NONE);
    t_gemm(NULL, y2, out, x, in, b, NULL, n, T_ACT_NONE);
    assert_memory_equal(y1, y2, sizeof y1);
    t_packed_free(a), t_packed_free(b);
    for (int i = 0; i < out * in; i++) wr[i] = (float)(1 << (i % 7));
    assert_int_equal(t_pack(hf, T_SRC_F16, out, in, T_PREC_F32, &a), 0);
    assert_int_equal(t_pack(wr, T_SRC_F32, out, in, T_PREC_F32, &b), 0);
    t_gemm(NULL, y1, out, x, in, a, NULL, n, T_ACT_NONE);
    t_gemm(NULL, y2, out, x, in, b, NULL, n, T_ACT_NONE);
    assert_memory_equal(y1, y2, sizeof y1);
    t_packed_free(a);
    const void *parts[2] = {w, w + 7 * in};
    t_src srcs[2] = {T_SRC_F32, T_SRC_F32};
    int rows[2] = {7, out - 7};
    for (int i = 0; i < out * in; i++) wr[i] = w[i];
    assert_int_equal(t_pack_rows(2, parts, srcs, rows, in, T_PREC_F32, &a), 0);
    t_packed_free(b);
    assert_int_equal(t_pack(wr, T_SRC_F32, out, in, T_PREC_F32, &b), 0);
    t_gemm(NULL, y1, out, x, in, a, NULL, n, T_ACT_NONE);
    t_gemm(NULL, y2, out, x, in, b, NULL, n, T_ACT_NONE);
    assert_memory_equal(y1, y2, sizeof y1);
    t_packed_free(a), t_packed_free(b);
    // t_pack_act: rows ld apart, and k-major (W^T stored), into one reused
    // packing that grows for a bigger weight; the products equal t_pack's.
    size_t ld = (size_t)in + 3;
    float *ws = calloc((size_t)out * ld, sizeof *ws), *wt = calloc((size_t)in * (out + 5), sizeof *wt);
    for (int o = 0; o < out; o++)
        for (int k = 0; k < in; k++) ws[o * ld + k] = w[o * in + k], wt[(size_t)k * (out + 5) + o] = w[o * in + k];
    assert_int_equal(t_pack(w, T_SRC_F32, out, in, T_PREC_F32, &b), 0);
    t_gemm(NULL, y2, out, x, in, b, NULL, n, T_ACT_NONE);
    t_packed *c = NULL;
    assert_int_equal(t_pack_act(&c, w, (size_t)in, 3, 4, 0, T_PREC_F32), 0); // small first: the next ones grow it
    for (int km = 0; km < 2; km++) {
        assert_int_equal(t_pack_act(&c, km ? wt : ws, km ? (size_t)out + 5 : ld, out, in, km, T_PREC_F32), 0);
        assert_int_equal(t_packed_out(c), out);
        memset(y1, 0, sizeof y1);
        t_gemm(NULL, y1, out, x, in, c, NULL, n, T_ACT_NONE);
        assert_memory_equal(y1, y2, sizeof y1);
    }
    // In bf16 (VDPBF16PS where the CPU has it): against the product of the rounded operands.
    int dp = t_gemm_path() == T_PATH_AVX512 && (t_gemm_ext() & T_EXT_BF16);
    for (int km = 0; km < 2; km++) {
        assert_int_equal(t_pack_act(&c, km ? wt : ws, km ? (size_t)out + 5 : ld, out, in, km, T_PREC_BF16), 0);
        assert_int_equal(t_packed_prec(c), dp ? T_PREC_BF16 : T_PREC_F32);
        t_gemm(NULL, y1, out, x, in, c, NULL, n, T_ACT_NONE);
        for (int i = 0; i < n; i++) // x and W rounded as the kernel rounds them, unless it runs fp32
            for (int o = 0; o < out; o++) {
                double a = 0;
                for (int k = 0; k < in; k++) {
                    float xv = x[i * in + k], wv = w[o * in + k];
                    a += dp ? (double)bf16_to_f32(bf16_from_f32(xv)) * bf16_to_f32(bf16_from_f32(wv)) : (double)xv * wv;
                }
                y2[i * out + o] = (float)a;
            }
        assert_true(t_nmse(y1, y2, (size_t)n * out) < 1e-10);
    }
    assert_int_equal(t_pack_act(&c, w, (size_t)in, 0, in, 0, T_PREC_F32), LISA_EINVAL);
    t_packed_free(b), t_packed_free(c), free(ws), free(wt);
    assert_int_equal(t_pack(w, T_SRC_F32, 0, in, T_PREC_F32, &a), LISA_EINVAL);
    assert_null(a);
    assert_int_equal(t_pack(w, T_SRC_F32, out, -1, T_PREC_BF16, &a), LISA_EINVAL);
    free(w), free(x), free(wr), free(hb), free(hf);
}

// The epilogue's activations over a wide range of inputs (an identity weight
// passes x through): within 2e-6 of the scalar t_gelu/t_gelu_tanh/t_quick_gelu,
// relative to max(1, |x|), including far tails where exp saturates.
static void test_gemm_epilogue_range(void **state)
{
    (void)state;
    enum { K = 37, N = 64 };
    float *w = calloc(K * K, sizeof *w), *x = malloc(N * K * sizeof *x), y[N * K], r[N * K];
    for (int i = 0; i < K; i++) w[i * K + i] = 1;
    for (int i = 0; i < N * K; i++) x[i] = (float)(i - N * K / 2) / (N * K / 2) * 12;
    x[0] = -100, x[1] = 100, x[2] = -88.5f, x[3] = 0, x[4] = -0.0f, x[5] = 1e-30f;
    for (int q = T_PATH_C; q <= T_PATH_AVX512; q++) {
        if (!t_gemm_path_supported((t_path)q)) continue;
        t_path saved = t_gemm_path();
        assert_int_equal(t_gemm_set_path((t_path)q), 0);
        t_packed *pw;
        assert_int_equal(t_pack(w, T_SRC_F32, K, K, T_PREC_F32, &pw), 0);
        for (int a = T_ACT_GELU; a <= T_ACT_QUICK_GELU; a++) {
            t_gemm(NULL, y, K, x, K, pw, NULL, N, (t_act)a);
            memcpy(r, x, sizeof r);
            t_act_apply((t_act)a, r, N * K);
            for (int i = 0; i < N * K; i++) {
                double tol = 2e-6 * fmax(1, fabs(x[i]));
                if (!(fabs(y[i] - r[i]) <= tol))
                    fail_msg("%s act %d x=%g: %.9g vs %.9g", t_gemm_path_name((t_path)q), a, x[i], y[i], r[i]);
            }
        }
        t_packed_free(pw);
        assert_int_equal(t_gemm_set_path(saved), 0);
    }
    free(w), free(x);
}

static void test_bf16_rounding(void **state)
{
    (void)state;
    union {
        uint32_t u;
        float f;
    } v;
    assert_int_equal(bf16_from_f32(1.0f), 0x3f80);
    v.u = 0x3f808000u; // halfway, even below: stays
    assert_int_equal(bf16_from_f32(v.f), 0x3f80);
    v.u = 0x3f818000u; // halfway, odd below: rounds up to even
    assert_int_equal(bf16_from_f32(v.f), 0x3f82);
    v.u = 0x3f808001u; // just above halfway
    assert_int_equal(bf16_from_f32(v.f), 0x3f81);
    assert_true(isnan(bf16_to_f32(bf16_from_f32(NAN))));
    assert_true(isinf(bf16_to_f32(bf16_from_f32(INFINITY))));
    assert_true(bf16_to_f32(0x4049) == 3.140625f);
}

// Attention with separate q/k/v and output strides (a fused QKV buffer).
static void test_attention_head_ld(void **state)
{
    (void)state;
    int n = 13, hd = 24, ld = 3 * 2 * hd + 5, ldo = 2 * hd;
    float *qkv = tu_rvec(&rng, (size_t)n * ld, 1), *o = tu_rvec(&rng, (size_t)n * ldo, 1),
          *s = tu_rvec(&rng, (size_t)n, 1);
    float *q = tu_rvec(&rng, (size_t)n * hd, 0), *k = tu_rvec(&rng, (size_t)n * hd, 0),
          *v = tu_rvec(&rng, (size_t)n * hd, 0);
    float *r = tu_rvec(&rng, (size_t)n * hd, 0), *sc = tu_rvec(&rng, (size_t)n, 0);
    for (int causal = 0; causal < 2; causal++) {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < hd; c++) {
                q[i * hd + c] = qkv[(size_t)i * ld + hd + c];
                k[i * hd + c] = qkv[(size_t)i * ld + 2 * hd + hd + c];
                v[i * hd + c] = qkv[(size_t)i * ld + 4 * hd + hd + c];
            }
        t_attention_head_ld(o + hd, ldo, qkv + hd, qkv + 3 * hd, qkv + 5 * hd, ld, n, hd, causal, s);
        t_attention_ref(r, q, k, v, n, 1, hd, hd, causal, sc);
        for (int i = 0; i < n; i++) assert_true(t_nmse(o + (size_t)i * ldo + hd, r + (size_t)i * hd, hd) < 1e-10);
    }
    free(qkv), free(o), free(s), free(q), free(k), free(v), free(r), free(sc);
}

int main(void)
{
    t_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_ref),
        cmocka_unit_test(test_matmul_pool_matches_ref),
        cmocka_unit_test(test_matmul_ref_known_values),
        cmocka_unit_test(test_attention_matches_ref),
        cmocka_unit_test(test_causal_mask_is_applied),
        cmocka_unit_test(test_attention_heads_in_pool),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax_and_norm),
        cmocka_unit_test(test_softmax_paths),
        cmocka_unit_test(test_gemm_best_path_chosen),
        cmocka_unit_test(test_gemm_c_f32),
        cmocka_unit_test(test_gemm_c_bf16),
        cmocka_unit_test(test_gemm_avx2_f32),
        cmocka_unit_test(test_gemm_avx2_bf16),
        cmocka_unit_test(test_gemm_avx512_f32),
        cmocka_unit_test(test_gemm_avx512_bf16),
        cmocka_unit_test(test_gemm_avx512_bf16_dp),
        cmocka_unit_test(test_gemm_amx_bf16),
        cmocka_unit_test(test_gemm_c_int8),
        cmocka_unit_test(test_gemm_avx2_int8),
        cmocka_unit_test(test_gemm_avx512_int8),
        cmocka_unit_test(test_gemm_avx512_vnni),
        cmocka_unit_test(test_gemm_pack_sources),
        cmocka_unit_test(test_gemm_epilogue_range),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_attention_head_ld),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
