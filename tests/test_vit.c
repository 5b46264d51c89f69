// The shared transformer block (tensor/vit.h) against a plain scalar block
// built from the reference kernels (t_gemm_ref, t_attention_ref), on random
// weights: short sequences (row-at-a-time attention) and long ones (attention
// as two GEMMs per head), causal and not, several sequences, fp32 and bf16
// packing, with and without a pool.
#include "testutil.h"
#include "base/half.h"
#include "base/pool.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"
#include "tensor/vit.h"

#include <math.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *o_w, *o_b, *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} raw_layer;

static raw_layer raw_new(int d, int ff)
{
    float s = 1.0f / sqrtf((float)d);
    raw_layer r = {tu_rvec(&rng, d, 1),
                   tu_rvec(&rng, d, 0.1f),
                   tu_rvec(&rng, (size_t)3 * d * d, s),
                   tu_rvec(&rng, 3 * d, 0.1f),
                   tu_rvec(&rng, (size_t)d * d, s),
                   tu_rvec(&rng, d, 0.1f),
                   tu_rvec(&rng, d, 1),
                   tu_rvec(&rng, d, 0.1f),
                   tu_rvec(&rng, (size_t)ff * d, s),
                   tu_rvec(&rng, ff, 0.1f),
                   tu_rvec(&rng, (size_t)d * ff, 1.0f / sqrtf((float)ff)),
                   tu_rvec(&rng, d, 0.1f)};
    return r;
}

static void raw_free(raw_layer *r)
{
    float *p[] = {r->ln1_w, r->ln1_b, r->qkv_w, r->qkv_b, r->o_w,   r->o_b,
                  r->ln2_w, r->ln2_b, r->fc1_w, r->fc1_b, r->fc2_w, r->fc2_b};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static vit_layer pack_layer(const raw_layer *r, int d, int ff, t_prec prec)
{
    vit_layer l = {.ln1_w = r->ln1_w,
                   .ln1_b = r->ln1_b,
                   .o_b = r->o_b,
                   .ln2_w = r->ln2_w,
                   .ln2_b = r->ln2_b,
                   .fc1_b = r->fc1_b,
                   .fc2_b = r->fc2_b};
    assert_int_equal(t_pack(r->qkv_w, T_SRC_F32, 3 * d, d, prec, &l.qkv), 0);
    assert_int_equal(t_pack(r->o_w, T_SRC_F32, d, d, prec, &l.o), 0);
    assert_int_equal(t_pack(r->fc1_w, T_SRC_F32, ff, d, prec, &l.fc1), 0);
    assert_int_equal(t_pack(r->fc2_w, T_SRC_F32, d, ff, prec, &l.fc2), 0);
    l.qkv_b = malloc(3 * (size_t)d * sizeof *l.qkv_b);
    assert_non_null(l.qkv_b);
    memcpy(l.qkv_b, r->qkv_b, 3 * (size_t)d * sizeof *l.qkv_b);
    return l;
}

static float rb(float v)
{
    return bf16_to_f32(bf16_from_f32(v));
}

// Attention as the bf16 path defines it (vit.c's head_gemm on VDPBF16PS): q, k,
// v and the probabilities rounded to bf16, products summed in double here.
static void ref_attention_bf16(float *out, const float *q, int n, int heads, int hd, int ld, int causal, float *p)
{
    const float *k = q + ld / 3, *v = q + 2 * (ld / 3);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++) {
            int len = causal ? i + 1 : n;
            for (int j = 0; j < len; j++) {
                double a = 0;
                for (int e = 0; e < hd; e++)
                    a += (double)rb(q[(size_t)i * ld + h * hd + e]) * rb(k[(size_t)j * ld + h * hd + e]);
                p[j] = (float)a / sqrtf((float)hd);
            }
            t_softmax_ref(p, len);
            for (int e = 0; e < hd; e++) {
                double a = 0;
                for (int j = 0; j < len; j++) a += (double)rb(p[j]) * rb(v[(size_t)j * ld + h * hd + e]);
                out[(size_t)i * ld + h * hd + e] = (float)a;
            }
        }
}

// The block from reference kernels, one sequence at a time, on the same packed
// weights (t_gemm_ref reads them exactly as packed). Long sequences of a bf16
// block on VDPBF16PS take the bf16 attention (see vit.h).
static void ref_block(float *x, const vit_layer *l, const vit_dims *c, int nseq, int n, int causal)
{
    int d = c->hidden, ff = c->intermediate, hd = d / c->heads;
    size_t rows = (size_t)nseq * n;
    float *h = malloc(rows * d * 4), *qkv = malloc(rows * 3 * d * 4), *att = malloc(rows * 3 * d * 4);
    float *mlp = malloc(rows * ff * 4), *sc = malloc((size_t)n * 4), *o = malloc(rows * d * 4);
    assert_true(h && qkv && att && mlp && sc && o);
    t_layernorm(h, x, l->ln1_w, l->ln1_b, (int)rows, d, c->eps);
    t_gemm_ref(NULL, qkv, 3 * d, h, d, l->qkv, l->qkv_b, (int)rows, T_ACT_NONE);
    for (int s = 0; s < nseq; s++) {
        const float *q = qkv + (size_t)s * n * 3 * d;
        if (n >= VIT_GEMM_ATTN_MIN && t_packed_prec(l->qkv) != T_PREC_F32 && t_gemm_path() == T_PATH_AVX512 &&
            (t_gemm_ext() & T_EXT_BF16))
            ref_attention_bf16(att + (size_t)s * n * 3 * d, q, n, c->heads, hd, 3 * d, causal, sc);
        else
            t_attention_ref(att + (size_t)s * n * 3 * d, q, q + d, q + 2 * d, n, c->heads, hd, 3 * d, causal, sc);
    }
    for (size_t i = 0; i < rows; i++) memcpy(h + i * d, att + i * 3 * d, (size_t)d * 4);
    t_gemm_ref(NULL, o, d, h, d, l->o, l->o_b, (int)rows, T_ACT_NONE);
    t_add(x, o, rows * d);
    t_layernorm(h, x, l->ln2_w, l->ln2_b, (int)rows, d, c->eps);
    t_gemm_ref(NULL, mlp, ff, h, d, l->fc1, l->fc1_b, (int)rows, c->act);
    t_gemm_ref(NULL, o, d, mlp, ff, l->fc2, l->fc2_b, (int)rows, T_ACT_NONE);
    t_add(x, o, rows * d);
    free(h), free(qkv), free(att), free(mlp), free(sc), free(o);
}

static void check_block(pool *p, int nseq, int n, int d, int heads, int ff, int causal, t_prec prec)
{
    vit_dims c = {d, ff, heads, 1e-5f, T_ACT_GELU};
    raw_layer r = raw_new(d, ff);
    vit_layer l = pack_layer(&r, d, ff, prec);
    size_t rows = (size_t)nseq * n;
    float *x0 = tu_rvec(&rng, rows * d, 1), *want = malloc(rows * d * 4);
    assert_non_null(want);
    memcpy(want, x0, rows * d * 4);
    ref_block(want, &l, &c, nseq, n, causal);
    vit_state s = {0};
    assert_int_equal(vit_reserve(&s, pool_size(p), rows * d, rows * ff, n, "test"), 0);
    memcpy(s.x, x0, rows * d * 4);
    vit_block(&s, p, &c, &l, nseq, n, causal);
    double err = t_max_abs_diff(s.x, want, rows * d), nmse = t_nmse(s.x, want, rows * d);
    // bf16 weights on VDPBF16PS also round the activations to bf16 (gemm.h),
    // which the fp32-arithmetic reference does not: a looser bound there, still
    // far below what a wrong block gives (a broken causal mask: nmse ~1e-2).
    int rounds = prec == T_PREC_BF16 && (t_gemm_ext() & T_EXT_BF16);
    if (!(nmse < (rounds ? 1e-7 : 1e-11) && err < (rounds ? 2e-3 : 1e-4)))
        fail_msg("nseq %d n %d d %d heads %d ff %d causal %d prec %d pool %d: nmse %.3g max abs diff %.3g", nseq, n, d,
                 heads, ff, causal, (int)prec, pool_size(p), nmse, err);
    vit_release(&s);
    vit_layer_free(&l);
    raw_free(&r);
    free(x0), free(want);
}

static void test_block_matches_ref(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        // nseq, n, d, heads, ff
        {1, 1, 16, 2, 24},   {1, 7, 48, 3, 80},   {2, 31, 32, 4, 64}, {1, 32, 48, 3, 96},
        {2, 37, 64, 4, 130}, {1, 65, 96, 6, 200}, {3, 50, 24, 2, 40}, {1, 130, 64, 1, 128},
    };
    pool *p;
    assert_int_equal(pool_new(2, &p), 0);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int causal = 0; causal < 2; causal++)
            for (int prec = 0; prec < 2; prec++) {
                const int *s = shapes[i];
                t_prec pr = prec ? T_PREC_BF16 : T_PREC_F32;
                check_block(prec ? NULL : p, s[0], s[1], s[2], s[3], s[4], causal, pr);
                check_block(prec ? p : NULL, s[0], s[1], s[2], s[3], s[4], causal, pr);
            }
    pool_free(p);
}

static void test_unfold(void **state)
{
    (void)state;
    int C = 3, S = 12, p = 4, g = S / p, K = C * p * p;
    float *img = tu_rvec(&rng, (size_t)C * S * S, 1), *dst = malloc((size_t)g * g * K * sizeof *dst);
    assert_non_null(dst);
    vit_unfold(img, C, S, p, dst);
    for (int py = 0; py < g; py++)
        for (int px = 0; px < g; px++)
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < p; ky++)
                    for (int kx = 0; kx < p; kx++)
                        assert_true(dst[(size_t)(py * g + px) * K + (c * p + ky) * p + kx] ==
                                    img[((size_t)c * S + py * p + ky) * S + px * p + kx]);
    free(img), free(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_matches_ref),
        cmocka_unit_test(test_unfold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
