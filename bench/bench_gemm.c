// GEMM kernels on ViT-B/32 shapes: `bench_gemm [RUNS | --peak]` prints, for every
// kernel this CPU has (fp32, bf16 widened and VDPBF16PS, int8 in C and VNNI),
//   gemm PRECISION KERNEL SHAPE gflops X
// on one thread, timed by the thread's CPU time (so a loaded machine inflates
// it less than wall time does; caches are still shared), the median of RUNS;
// first the measured one-thread peak of each instruction,
//   gemm peak PRECISION KERNEL gflops X
// SHAPE: fc1_b8 (400 x 768 -> 3072, batch 8 of 50 tokens), fc2_b8 (400 x 3072
// -> 768), fc1_t7 (7 x 512 -> 2048, a 7-token text query), fc1_577 (577 x
// 768 -> 3072, BLIP-base's vision tower) and fc1_dec3 (3 x 768 -> 3072, a
// beam-3 decoder step).
#include "tensor/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *rvec(size_t n, unsigned *s)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = (float)((*s = *s * 1103515245u + 12345u) >> 8) / (1 << 24) - 0.5f;
    return v;
}

// Median GFLOP/s of y = x W^T + b (gelu) for one shape on the current path.
static double one(t_prec prec, int n, int in, int out, int runs)
{
    unsigned s = 7;
    float *x = rvec((size_t)n * in, &s), *w = rvec((size_t)out * in, &s), *b = rvec((size_t)out, &s);
    float *y = malloc((size_t)n * out * sizeof *y);
    t_packed *pw;
    double t[64], r = -1;
    if (!x || !w || !b || !y || runs > 64 || t_pack(w, T_SRC_F32, out, in, prec, &pw) < 0) goto out;
    t_gemm(NULL, y, out, x, in, pw, b, n, T_ACT_GELU);
    for (int i = 0; i < runs; i++) {
        double t0 = cpu_now();
        int reps = n < 50 ? 20 : 1;
        for (int k = 0; k < reps; k++) t_gemm(NULL, y, out, x, in, pw, b, n, T_ACT_GELU);
        t[i] = (cpu_now() - t0) / reps;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    r = 2.0 * n * in * out / t[runs / 2] / 1e9;
    t_packed_free(pw);
out:
    free(x), free(w), free(b), free(y);
    return r;
}

// The measured peak of one thread: CH independent accumulator chains of the
// instruction (enough to cover its latency on current cores; 16 in zmm, 12 in
// ymm, whose 16 registers must also hold the two operands: 16 chains spilled
// and read 67 GFLOP/s where the AVX2 kernel reaches 90-100), timed by the
// thread's CPU time; GFLOP/s with a multiply-add as 2. The estimate in
// bench_clip (ports x width x clock) assumes two 512-bit FMA pipes at the
// reported clock; this is what the core does.
#define PEAK_LOOP(NAME, TGT, V, INIT, OP, FLOPS, CH)                                                                   \
    __attribute__((target(TGT))) static double NAME(void)                                                              \
    {                                                                                                                  \
        V c[CH], a = INIT(1), b = INIT(2);                                                                             \
        for (int i = 0; i < CH; i++) c[i] = INIT(i);                                                                   \
        long n = 20000000;                                                                                             \
        double t0 = cpu_now();                                                                                         \
        for (long k = 0; k < n; k++) _Pragma("GCC unroll 16") for (int i = 0; i < CH; i++) c[i] = OP(c[i], a, b);      \
        double t = cpu_now() - t0;                                                                                     \
        volatile V sink;                                                                                               \
        for (int i = 0; i < CH; i++) sink = c[i];                                                                      \
        (void)sink;                                                                                                    \
        return (double)CH * n * (FLOPS) / t / 1e9;                                                                     \
    }
static inline __attribute__((target("avx512f"))) __m512 set_ps(int i)
{
    return _mm512_set1_ps(1.0f + i * 1e-3f);
}
static inline __attribute__((target("avx512f"))) __m512i set_epi(int i)
{
    return _mm512_set1_epi32(0x01010101 + i);
}
static inline __attribute__((target("avx512f"))) __m512 fma512(__m512 c, __m512 a, __m512 b)
{
    return _mm512_fmadd_ps(a, b, c);
}
static inline __attribute__((target("avx512f,avx512bf16"))) __m512 dp512(__m512 c, __m512 a, __m512 b)
{
    return _mm512_dpbf16_ps(c, (__m512bh)a, (__m512bh)b);
}
static inline __attribute__((target("avx512f,avx512vnni"))) __m512i vnni512(__m512i c, __m512i a, __m512i b)
{
    return _mm512_dpbusd_epi32(c, a, b);
}
static inline __attribute__((target("avx2,fma"))) __m256 set256(int i)
{
    return _mm256_set1_ps(1.0f + i * 1e-3f);
}
static inline __attribute__((target("avx2,fma"))) __m256 fma256(__m256 c, __m256 a, __m256 b)
{
    return _mm256_fmadd_ps(a, b, c);
}
PEAK_LOOP(peak_fma512, "avx512f", __m512, set_ps, fma512, 32, 16)
PEAK_LOOP(peak_dp512, "avx512f,avx512bf16", __m512, set_ps, dp512, 64, 16)
PEAK_LOOP(peak_vnni512, "avx512f,avx512vnni", __m512i, set_epi, vnni512, 128, 16)
PEAK_LOOP(peak_fma256, "avx2,fma", __m256, set256, fma256, 16, 12)

static void print_peaks(void)
{
    if (t_gemm_path_supported(T_PATH_AVX512)) printf("gemm peak fp32 avx512f gflops %.1f\n", peak_fma512());
    if (t_gemm_path_supported(T_PATH_AVX2)) printf("gemm peak fp32 avx2+fma gflops %.1f\n", peak_fma256());
    if (t_gemm_ext_supported(T_EXT_BF16)) printf("gemm peak bf16 avx512_bf16 gflops %.1f\n", peak_dp512());
    if (t_gemm_ext_supported(T_EXT_VNNI)) printf("gemm peak int8 avx512_vnni gflops %.1f\n", peak_vnni512());
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > 64) runs = 5;
    static const struct {
        const char *name;
        int n, in, out;
    } shapes[] = {{"fc1_b8", 400, 768, 3072},
                  {"fc2_b8", 400, 3072, 768},
                  {"fc1_t7", 7, 512, 2048},
                  {"fc1_577", 577, 768, 3072},
                  {"fc1_dec3", 3, 768, 3072}};
    static const char *const pnames[] = {"fp32", "bf16", "int8"};
    print_peaks();
    if (argc > 1 && !strcmp(argv[1], "--peak")) return 0;
    t_path best = t_gemm_path();
    unsigned ext = t_gemm_ext();
    for (int q = T_PATH_C; q <= (int)best; q++) {
        if (!t_gemm_path_supported((t_path)q) || t_gemm_set_path((t_path)q) < 0) continue;
        // Each precision without extensions, then with each extension the CPU has.
        for (int pass = 0; pass < 2; pass++) {
            unsigned e = pass ? ext : 0;
            if (pass && (q != T_PATH_AVX512 || !e)) continue;
            t_gemm_set_ext(e);
            for (int prec = T_PREC_F32; prec <= T_PREC_INT8; prec++) {
                if (pass && prec == T_PREC_F32) continue;
                if (q == T_PATH_C && prec != T_PREC_F32 && prec != T_PREC_INT8) continue;
                for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                    printf("gemm %s %s %s gflops %.1f\n", pnames[prec], t_gemm_kernel_name((t_prec)prec),
                           shapes[i].name, one((t_prec)prec, shapes[i].n, shapes[i].in, shapes[i].out, runs));
            }
        }
    }
    t_gemm_set_path(best);
    t_gemm_set_ext(ext);
    return 0;
}
