// Ranking: SIMD kernel vs scalar reference, heap top-k vs a full sort,
// the normalisation rule, and hybrid ordering for w = 0, 0.5, 1.
#include "testutil.h"
#include "base/err.h"
#include "base/half.h"
#include "search/rank.h"

#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float *rand_unit_rows(size_t n, int d)
{
    float *m = malloc(n * (size_t)d * sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            float x = tu_frand(&rng);
            m[i * d + j] = x;
            s += (double)x * x;
        }
        for (int j = 0; j < d; j++) m[i * d + j] /= (float)sqrt(s);
    }
    return m;
}

static void test_simd_matches_scalar(void **state)
{
    (void)state;
    static const int dims[] = {1, 3, 7, 8, 9, 31, 33, 48, 63, 65, 127, 512, 515, 768};
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        int d = dims[t];
        size_t n = 37;
        float *m = rand_unit_rows(n + 1, d), fast[37], ref[37];
        rank_scores(m + (size_t)n * d, m, n, d, fast);
        rank_scores_ref(m + (size_t)n * d, m, n, d, ref);
        for (size_t i = 0; i < n; i++) assert_true(fabsf(fast[i] - ref[i]) <= 1e-5f + 1e-5f * fabsf(ref[i]));
        free(m);
    }
    printf("kernel: %s\n", rank_kernel_name());
}

// half_from_f32 against the F16C instruction (vcvtps2ph, round to nearest
// even) on 2M random bit patterns plus the edges, and half_to_f32 against
// vcvtph2ps on all 65536 halves; numpy goldens for a few values.
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f)
{
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), 0), 0);
}
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static void test_half_conversions(void **state)
{
    (void)state;
    // numpy: np.array([0.1, 1/3, 65504, 65520, 6e-8, 2**-25, 3e-8, -0.0], np.float32).astype(np.float16)
    static const float in[] = {0.1f, 1.0f / 3, 65504.0f, 65520.0f, 6e-8f, 0x1p-25f, 3e-8f, -0.0f};
    static const uint16_t want[] = {0x2e66, 0x3555, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0001, 0x8000};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) assert_int_equal(half_from_f32(in[i]), want[i]);
    assert_true(bf16_from_f32(1.0f / 3) == 0x3eab && bf16_to_f32(0x3f80) == 1.0f); // torch.tensor(1/3).bfloat16()
    if (!__builtin_cpu_supports("f16c")) {
        printf("no F16C: hardware comparison skipped\n");
        return;
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float a = half_to_f32((uint16_t)h), b = hw_h2f((uint16_t)h);
        if (isnan(b))
            assert_true(isnan(a));
        else
            assert_memory_equal(&a, &b, sizeof a);
    }
    uint64_t r = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 2000000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t u = (uint32_t)r;
        if (i & 1) u = (u & 0x8fffffffu) | 0x30000000u; // half the draws near fp16's range
        float f;
        memcpy(&f, &u, sizeof f);
        uint16_t a = half_from_f32(f), b = hw_f2h(f);
        if (isnan(f))
            assert_true((a & 0x7c00) == 0x7c00 && (a & 0x3ff));
        else if (a != b)
            fail_msg("half_from_f32(%a) = %04x, F16C says %04x", (double)f, a, b);
    }
}

// Every fp16 kernel this CPU has against the scalar reference on odd sizes,
// by the largest absolute error (float32 vs double accumulation of unit rows).
static void test_f16_kernels(void **state)
{
    (void)state;
    static const int dims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 48, 63, 65, 127, 512, 515, 768, 1023};
    static const char *names[] = {"scalar", "f16c", "avx512f"};
    for (int k = RANK_F16_F16C; k <= RANK_F16_AVX512; k++) {
        if (!rank_f16_supported(k)) {
            printf("fp16 kernel %s: not on this CPU\n", names[k]);
            assert_int_equal(rank_f16_force(k), LISA_EUNSUPPORTED);
            continue;
        }
        assert_int_equal(rank_f16_force(k), 0);
        float worst = 0;
        for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
            int d = dims[t];
            size_t n = 37;
            float *m = rand_unit_rows(n + 1, d), fast[37], ref[37];
            uint16_t *h = malloc(n * (size_t)d * sizeof *h);
            assert_non_null(h);
            half_from_f32_n(m, h, n * (size_t)d);
            rank_scores_f16(m + n * (size_t)d, h, n, d, fast);
            rank_scores_f16_ref(m + n * (size_t)d, h, n, d, ref);
            for (size_t i = 0; i < n; i++) {
                float e = fabsf(fast[i] - ref[i]);
                if (e > worst) worst = e;
            }
            free(h), free(m);
        }
        printf("fp16 kernel %s: max |error| vs reference %.3g\n", rank_f16_kernel_name(), (double)worst);
        assert_true(worst <= 2e-6f);
    }
    rank_f16_force(-1);
    rank_force_scalar(1);
    assert_string_equal(rank_f16_kernel_name(), "scalar");
    rank_force_scalar(0);
}

// rank_topk_f16 over all rows and over a row selection equals a full sort of
// the reference scores; a bad selection is refused.
static void test_topk_f16_selection(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(2, &p), 0);
    size_t n = RANK_PAR_MIN + 1001;
    int d = 65, k = 25;
    float *m = rand_unit_rows(n + 1, d), *ref = malloc(n * sizeof *ref);
    uint16_t *h = malloc(n * (size_t)d * sizeof *h);
    uint32_t *sel = malloc(n * sizeof *sel);
    assert_true(ref && h && sel);
    half_from_f32_n(m, h, n * (size_t)d);
    const float *q = m + n * (size_t)d;
    rank_scores_f16_ref(q, h, n, d, ref);
    size_t nsel = 0;
    for (size_t i = 0; i < n; i += 3) sel[nsel++] = (uint32_t)i;
    for (int pass = 0; pass < 2; pass++) {
        rank_hit got[25], all[25];
        int ng, na = 0;
        assert_int_equal(rank_topk_f16(p, q, h, n, d, pass ? sel : NULL, nsel, k, got, &ng), 0);
        rank_heap hp;
        rank_heap_init(&hp, all, k);
        for (size_t i = 0; i < n; i++)
            if (!pass || i % 3 == 0) rank_heap_push(&hp, ref[i], (uint32_t)i);
        na = rank_heap_sort(&hp);
        assert_int_equal(ng, na);
        for (int i = 0; i < ng; i++) {
            assert_int_equal(got[i].row, all[i].row);
            assert_true(fabsf(got[i].score - all[i].score) < 1e-5f);
        }
    }
    sel[1] = sel[0];
    rank_hit x[1];
    int nx;
    assert_int_equal(rank_topk_f16(p, q, h, n, d, sel, 2, 1, x, &nx), LISA_EINVAL);
    sel[0] = (uint32_t)n;
    assert_int_equal(rank_topk_f16(p, q, h, n, d, sel, 1, 1, x, &nx), LISA_EINVAL);
    free(sel), free(h), free(ref), free(m);
    pool_free(p);
}

static int hit_cmp(const void *pa, const void *pb)
{
    const rank_hit *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

// Heap top-k equals the head of a full sort, single-threaded and pooled,
// including ties (duplicated rows) and k > n.
static void check_topk(pool *p, size_t n, int d, int k)
{
    float *m = rand_unit_rows(n, d);
    for (size_t i = 1; i < n; i += 5) memcpy(m + i * d, m + (i - 1) * d, (size_t)d * sizeof *m); // ties
    float *q = rand_unit_rows(1, d);
    rank_hit *all = malloc(n * sizeof *all), *top = malloc((size_t)k * sizeof *top);
    float *sc = malloc(n * sizeof *sc);
    rank_force_scalar(1); // the reference ordering must use the same rounding as the scan
    rank_scores(q, m, n, d, sc);
    rank_force_scalar(0);
    float *sc2 = malloc(n * sizeof *sc2);
    rank_scores(q, m, n, d, sc2);
    for (size_t i = 0; i < n; i++) all[i] = (rank_hit){sc2[i], (uint32_t)i};
    qsort(all, n, sizeof *all, hit_cmp);
    int got;
    assert_int_equal(rank_topk(p, q, m, n, d, k, top, &got), 0);
    assert_int_equal(got, (int)(n < (size_t)k ? n : (size_t)k));
    for (int i = 0; i < got; i++) {
        assert_int_equal(top[i].row, all[i].row);
        assert_true(top[i].score == all[i].score);
        assert_true(fabsf(sc[top[i].row] - top[i].score) < 1e-5f);
    }
    free(sc), free(sc2), free(top), free(all), free(q), free(m);
}

static void test_topk_vs_sort(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    check_topk(NULL, 1, 5, 3);
    check_topk(NULL, 100, 17, 10);
    check_topk(p, 100, 17, 200);
    check_topk(p, RANK_PAR_MIN + 4099, 33, 25); // pooled path, partial last chunk
    check_topk(p, 40000, 64, 1);
    pool_free(p);
}

static void test_topk_caps(void **state)
{
    (void)state;
    float v[4] = {1, 0, 0, 0};
    rank_hit h[1];
    int n;
    assert_int_equal(rank_topk(NULL, v, v, 1, 4, RANK_K_MAX + 1, h, &n), LISA_EINVAL);
    assert_int_equal(rank_topk(NULL, v, v, 1, 0, 1, h, &n), LISA_EINVAL);
    assert_int_equal(rank_topk(NULL, v, v, 0, 4, 1, h, &n), 0);
    assert_int_equal(n, 0);
}

static void test_clip_norm(void **state)
{
    (void)state;
    rank_norm nm = RANK_NORM_TEXT;
    assert_true(rank_clip_norm(nm, -1) == 0);
    assert_true(rank_clip_norm(nm, RANK_CLIP_LO) == 0);
    assert_true(rank_clip_norm(nm, RANK_CLIP_HI) == 1);
    assert_true(rank_clip_norm(nm, 0.9f) == 1);
    assert_true(fabsf(rank_clip_norm(nm, 0.25f) - 0.5f) < 1e-6f);
    assert_true(fabsf(rank_clip_norm((rank_norm){0.5f, 1.0f}, 0.875f) - 0.75f) < 1e-6f);
}

// Known candidates: A best by CLIP, B best by keywords, C middling in both,
// D keyword-only (no vector), E clip-only.
static rank_cand *known(void)
{
    static rank_cand c[5];
    rank_cand init[5] = {
        {.id = 1, .has_clip = 1, .cosine = 0.35f, .bm25 = 0.0}, // A: clip 1.0, kw 0
        {.id = 2, .has_clip = 1, .cosine = 0.15f, .bm25 = 8.0}, // B: clip 0,   kw 1
        {.id = 3, .has_clip = 1, .cosine = 0.29f, .bm25 = 6.0}, // C: clip .7,  kw .75
        {.id = 4, .has_clip = 0, .cosine = 0, .bm25 = 2.0},     // D: clip 0,   kw .25
        {.id = 5, .has_clip = 1, .cosine = 0.20f, .bm25 = 0.0}, // E: clip .25, kw 0
    };
    memcpy(c, init, sizeof c);
    return c;
}

static void expect_order(rank_cand *c, const int64_t *ids)
{
    for (int i = 0; i < 5; i++) assert_int_equal(c[i].id, ids[i]);
}

static void test_hybrid_ordering(void **state)
{
    (void)state;
    rank_cand *c = known();
    rank_hybrid(c, 5, 1.0, RANK_NORM_TEXT); // pure CLIP: by cosine, D (no vector) last
    expect_order(c, (int64_t[]){1, 3, 5, 2, 4});
    assert_true(fabsf(c[0].score - 1.0f) < 1e-6f);
    assert_true(fabsf(c[1].clip_score - 0.7f) < 1e-5f && fabsf(c[1].keyword_score - 0.75f) < 1e-6f);
    assert_true(fabsf(c[1].score - c[1].clip_score) < 1e-6f); // w = 1: score is the clip score

    c = known();
    rank_hybrid(c, 5, 0.0, RANK_NORM_TEXT); // pure keywords: by bm25; A/E tie at 0, cosine breaks it
    expect_order(c, (int64_t[]){2, 3, 4, 1, 5});
    assert_true(c[0].keyword_score == 1.0f && c[0].score == 1.0f);

    // w = 0.5 (a = b = 1), soft OR: A 1, B 1 (A wins on cosine), C 1-.3*.25 = .925, E .25, D .25 (no vector)
    c = known();
    rank_hybrid(c, 5, 0.5, RANK_NORM_TEXT);
    expect_order(c, (int64_t[]){1, 2, 3, 5, 4});
    assert_true(fabsf(c[2].score - 0.925f) < 1e-5f);
    assert_true(c[2].cosine == 0.29f && c[2].bm25 == 6.0); // raw values kept

    // default w = 0.7 (a = 1, b = .6): A 1, C 1-.3*.55 = .835, B .6, E .25, D .15. A perfect keyword
    // match with no CLIP evidence reads 0.6, not the 0.3 of the linear mix.
    c = known();
    rank_hybrid(c, 5, 0.7, RANK_NORM_TEXT);
    expect_order(c, (int64_t[]){1, 3, 2, 5, 4});
    assert_true(fabsf(c[1].score - 0.835f) < 1e-5f);
    assert_true(fabsf(c[2].score - 0.6f) < 1e-5f);
    assert_true(fabsf(c[4].score - 0.15f) < 1e-5f);
    // both kinds of evidence beat either alone at the same strength
    rank_cand two[3] = {{.id = 1, .has_clip = 1, .cosine = 0.27f, .bm25 = 0},
                        {.id = 2, .has_clip = 1, .cosine = 0.15f, .bm25 = 5},
                        {.id = 3, .has_clip = 1, .cosine = 0.27f, .bm25 = 5}};
    rank_hybrid(two, 3, 0.7, RANK_NORM_TEXT);
    assert_int_equal(two[0].id, 3);
}

// ---------------------------------------------------------------- calibration

// A unit vector with cosine c to the unit vector q, along a direction made
// orthogonal to q from seed.
static void at_cosine(const float *q, int d, float c, unsigned seed, float *out)
{
    double dot = 0, nn = 0;
    for (int j = 0; j < d; j++) {
        seed = seed * 1103515245u + 12345u;
        out[j] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
        dot += out[j] * q[j];
    }
    for (int j = 0; j < d; j++) out[j] -= (float)dot * q[j], nn += out[j] * out[j];
    double sn = sqrt(1.0 - (double)c * c);
    for (int j = 0; j < d; j++) out[j] = (float)(c * q[j] + sn * out[j] / sqrt(nn));
}

// A library of nfar images at cosines spread evenly in [lo, hi] and nnear at
// cosines in [nlo, nhi] to a query; scanned with rank_scores like a search;
// returns how many far and near rows reach the cut.
static void library_cut(int nfar, float lo, float hi, int nnear, float nlo, float nhi, int *far_in, int *near_in,
                        rank_cal *cal)
{
    enum { D = 64 };
    int n = nfar + nnear;
    float q[D], *rows = calloc((size_t)n * D, sizeof *rows), *cos = calloc((size_t)n, sizeof *cos);
    double nn = 0;
    for (int j = 0; j < D; j++) q[j] = (float)sin(j + 1.0), nn += q[j] * q[j];
    for (int j = 0; j < D; j++) q[j] /= (float)sqrt(nn);
    for (int i = 0; i < n; i++) {
        float c = i < nfar ? lo + (hi - lo) * (float)i / (float)(nfar > 1 ? nfar - 1 : 1)
                           : nlo + (nhi - nlo) * (float)(i - nfar) / (float)(nnear > 1 ? nnear - 1 : 1);
        at_cosine(q, D, c, 7u * (unsigned)i + 1u, rows + (size_t)i * D);
    }
    rank_scores(q, rows, (size_t)n, D, cos);
    assert_int_equal(rank_calibrate(cos, (size_t)n, RANK_NORM_TEXT, cal), 0);
    *far_in = *near_in = 0;
    for (int i = 0; i < n; i++)
        if (cos[i] >= cal->cut) (*(i < nfar ? far_in : near_in))++;
    free(rows), free(cos);
}

static void test_calibrated_cut(void **state)
{
    (void)state;
    int far, near;
    rank_cal cal;
    // 400 unrelated images at cosines in [0.10, 0.20], 12 matches at [0.28, 0.33]: the matches and only they
    library_cut(400, 0.10f, 0.20f, 12, 0.28f, 0.33f, &far, &near, &cal);
    assert_true(cal.calibrated);
    assert_int_equal(far, 0);
    assert_int_equal(near, 12);
    assert_true(fabsf(cal.median - 0.15f) < 0.003f);
    assert_true(fabsf(cal.sigma - 1.4826f * 0.025f) < 0.002f); // MAD of an even spread over 0.1 wide
    // the same library for a query whose cosines all sit 0.15 higher (another prompt, another model): a fixed
    // cut (0.25) would keep every unrelated image; the calibrated one still keeps only the matches
    library_cut(400, 0.25f, 0.35f, 12, 0.43f, 0.48f, &far, &near, &cal);
    assert_int_equal(far, 0);
    assert_int_equal(near, 12);
    // nothing stands out ("xyzzy nothing"): no CLIP hit at all
    library_cut(400, 0.10f, 0.20f, 0, 0, 0, &far, &near, &cal);
    assert_int_equal(far, 0);
    // near-duplicates that barely differ from the rest are not hits: the cut is 3 robust sigmas up
    library_cut(400, 0.10f, 0.20f, 5, 0.21f, 0.22f, &far, &near, &cal);
    assert_int_equal(near, 0);
    // a tiny library has no distribution: the fixed cut, the middle of the fixed map
    library_cut(10, 0.10f, 0.20f, 3, 0.26f, 0.30f, &far, &near, &cal);
    assert_false(cal.calibrated);
    assert_true(fabsf(cal.cut - 0.25f) < 1e-6f);
    assert_int_equal(far, 0);
    assert_int_equal(near, 3);
    // all equal: the spread floor keeps float noise from standing out
    float same[40];
    for (int i = 0; i < 40; i++) same[i] = 0.2f;
    same[39] = 0.2f + 1e-5f;
    assert_int_equal(rank_calibrate(same, 40, RANK_NORM_TEXT, &cal), 0);
    assert_true(cal.sigma == RANK_SIGMA_MIN && same[39] < cal.cut);
}

// The pooled full scan equals the scalar reference row by row (odd n over the parallel threshold).
static void test_scores_all(void **state)
{
    (void)state;
    enum { D = 37 };
    size_t n = RANK_PAR_MIN * 2 + 333;
    float *rows = calloc(n * D, sizeof *rows), *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), q[D];
    unsigned seed = 5;
    for (size_t i = 0; i < n * D; i++)
        seed = seed * 1103515245u + 12345u, rows[i] = (float)((seed >> 9) % 1000) / 500 - 1;
    for (int j = 0; j < D; j++) q[j] = (float)cos(j);
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    rank_scores_all(p, q, rows, n, D, a);
    rank_scores_ref(q, rows, n, D, b);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(a[i] - b[i]) <= 1e-4f * (1 + fabsf(b[i])));
    pool_free(p);
    free(rows), free(a), free(b);
}

static int fcmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The median inside the calibration against a full sort, odd and even n, with ties.
static void test_calibration_median(void **state)
{
    (void)state;
    unsigned seed = 99;
    for (int n = 16; n < 300; n += 7) {
        float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            a[i] = (float)((seed >> 10) % 50) / 100.0f; // many ties
        }
        memcpy(b, a, (size_t)n * sizeof *b);
        qsort(b, (size_t)n, sizeof *b, fcmp);
        float med = n % 2 ? b[n / 2] : (b[n / 2 - 1] + b[n / 2]) / 2;
        rank_cal cal;
        assert_int_equal(rank_calibrate(a, (size_t)n, RANK_NORM_TEXT, &cal), 0);
        assert_true(fabsf(cal.median - med) < 1e-6f);
        free(a), free(b);
    }
}

static void test_hybrid_weight_clamped(void **state)
{
    (void)state;
    rank_cand *c = known();
    rank_hybrid(c, 5, 7.0, RANK_NORM_TEXT);
    expect_order(c, (int64_t[]){1, 3, 5, 2, 4});
    c = known();
    rank_hybrid(c, 5, NAN, RANK_NORM_TEXT);
    expect_order(c, (int64_t[]){2, 3, 4, 1, 5});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_matches_scalar),
        cmocka_unit_test(test_topk_vs_sort),
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_f16_kernels),
        cmocka_unit_test(test_topk_f16_selection),
        cmocka_unit_test(test_topk_caps),
        cmocka_unit_test(test_clip_norm),
        cmocka_unit_test(test_hybrid_ordering),
        cmocka_unit_test(test_hybrid_weight_clamped),
        cmocka_unit_test(test_calibrated_cut),
        cmocka_unit_test(test_calibration_median),
        cmocka_unit_test(test_scores_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
