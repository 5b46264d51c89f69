#include "tensor/gemm.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/half.h"
#include "base/log.h"
#include "base/pool.h"
#include "tensor/tensor.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

// How a packed weight is multiplied (chosen at pack time from path, precision
// and the CPU's extensions).
typedef enum {
    K_F32,        // fp32 panels, fp32 FMAs
    K_BF16_WIDEN, // bf16 panels widened per k slice to fp32, fp32 FMAs
    K_BF16_DP,    // bf16 pairs, activations rounded to bf16, VDPBF16PS
    K_BF16_AMX,   // the same pairs, k padded to 32, AMX tiles (TDPBF16PS)
    K_INT8_VNNI,  // s8 quads, u8 activations, VPDPBUSD
    K_INT8_AVX2,  // the same on AVX2 without VNNI: u8 and s8 widened to 16 bits, VPMADDWD
    K_INT8_C,     // the same layout and integer arithmetic in portable C
} kkind;

struct t_packed {
    int out, in, nr, npanels;
    int kg, inp; // k group (1, 2 bf16 pairs or 4 int8 quads) and in padded to a multiple of kpad
    int kpad;    // kg, or 32 for AMX (one tile row of bf16)
    t_path path;
    t_prec prec;
    kkind kind;
    size_t bytes, cap; // resident bytes; bytes allocated at data
    void *data;        // npanels * inp * nr elements (float, uint16_t or int8_t), 64-byte aligned
    float *scale;      // int8: per output column (npanels * nr), W[o] = scale[o] * q[o]
    int32_t *wsum;     // int8: sum over k of q[o][k] (the zero point's compensation)
};

#define MAX_NR 32
#define MAX_MR 12
#define AMX_MR 32 // two 16-row A tiles
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
static unsigned g_ext;         // T_EXT_* the kernels may use (supported and self-checked)
static int g_kc, g_kc32, g_l2; // k slice for 16- and 32-column panels (fp32), L2 bytes
static int g_int8_faster;      // bf16_pick timed the VNNI kernel >= 1.2x the chosen bf16 one

// AMX-TILE and AMX-BF16 in CPUID leaf 7 (EDX bits 24 and 22), and the
// kernel's permission for this process to use the tile data state.
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;
static int g_amx;
static void amx_request(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22))) return;
    __builtin_cpu_init(); // activations are rounded with VCVTNEPS2BF16
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) return;
    g_amx = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}
static int amx_usable(void)
{
    pthread_once(&g_amx_once, amx_request);
    return g_amx;
}

int t_gemm_ext_supported(unsigned e)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return 0;
    if (e == T_EXT_BF16) return !!__builtin_cpu_supports("avx512bf16");
    if (e == T_EXT_VNNI) return !!__builtin_cpu_supports("avx512vnni");
    if (e == T_EXT_AMX) return amx_usable();
    return 0;
}

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
static int ext_ok(unsigned e);
static unsigned bf16_pick(unsigned ext);
static const char *ext_name(unsigned e)
{
    return e == T_EXT_BF16 ? "avx512_bf16" : e == T_EXT_VNNI ? "avx512_vnni" : "amx_bf16";
}

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
    // AVX-512's 32-column panels: a k slice of one panel fills 1/16 of L2, so
    // the tile is merged into y less often. Measured on ViT-B/32's fc1 (400 x
    // 768 -> 3072, one thread, Zen 5, 32 KiB L1, 1 MiB L2): 58 GFLOP/s with the
    // slice in half of L1 (k 128), 73-83 with it in L2 (k 512).
    long kc32 = l2 / 16 / (32 * (long)sizeof(float));
    kc32 = kc32 < 128 ? 128 : kc32 > MAX_KC ? MAX_KC : kc32;
    g_kc32 = (int)(kc32 / 8 * 8);
    // Tuning overrides for benchmarks; out-of-range values are ignored.
    const char *kcs = getenv("LISA_GEMM_KC"), *l2s = getenv("LISA_GEMM_L2");
    int v;
    if (kcs && (v = atoi(kcs)) >= 8 && v <= MAX_KC) g_kc = g_kc32 = v / 8 * 8;
    if (l2s && (v = atoi(l2s)) >= 4096 && v <= (64 << 20)) g_l2 = v;
    // A SIMD path must agree with the scalar reference on this CPU before it
    // is used: a kernel that never ran on such hardware (the AVX-512 one was
    // written on an AVX2-only machine) falls back instead of embedding wrong.
    while (g_path != T_PATH_C && !path_ok(g_path)) {
        log_warn("gemm: the %s kernel disagrees with the scalar reference on this CPU; using %s",
                 t_gemm_path_name(g_path), t_gemm_path_name(g_path - 1));
        g_path = (t_path)(g_path - 1);
    }
    // AVX512_BF16 and AVX512_VNNI run with the AVX-512 path only, and only if
    // their kernels agree with the scalar reference too.
    const char *noext = getenv("LISA_GEMM_NO_EXT"); // "1": the widening / C int8 kernels
    for (unsigned e = T_EXT_BF16; e <= T_EXT_AMX; e <<= 1) {
        if (g_path != T_PATH_AVX512 || !t_gemm_ext_supported(e) || (noext && *noext == '1')) continue;
        g_ext |= e;
        if (!ext_ok(e)) {
            g_ext &= ~e;
            log_warn("gemm: the %s kernel disagrees with the scalar reference on this CPU; not using it", ext_name(e));
        }
    }
    if (g_ext & (T_EXT_BF16 | T_EXT_AMX | T_EXT_VNNI)) g_ext = bf16_pick(g_ext);
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

int t_gemm_int8_faster(void)
{
    pthread_once(&g_once, gemm_init);
    return (t_gemm_ext() & T_EXT_VNNI) && g_int8_faster;
}

unsigned t_gemm_ext(void)
{
    pthread_once(&g_once, gemm_init);
    return g_path == T_PATH_AVX512 ? g_ext : 0;
}

int t_gemm_set_ext(unsigned mask)
{
    pthread_once(&g_once, gemm_init);
    for (unsigned e = T_EXT_BF16; e <= T_EXT_AMX; e <<= 1)
        if ((mask & e) && !t_gemm_ext_supported(e))
            return lisa_seterr(LISA_EINVAL, "gemm: this CPU lacks %s", ext_name(e));
    g_ext = mask & T_EXT_ALL;
    return 0;
}

static kkind pick_kind(t_path path, t_prec prec, unsigned ext)
{
    if (path != T_PATH_AVX512) ext = 0;
    if (prec == T_PREC_BF16) return ext & T_EXT_AMX ? K_BF16_AMX : ext & T_EXT_BF16 ? K_BF16_DP : K_BF16_WIDEN;
    if (prec == T_PREC_INT8) return ext & T_EXT_VNNI ? K_INT8_VNNI : path != T_PATH_C ? K_INT8_AVX2 : K_INT8_C;
    return K_F32;
}

static const char *kind_name(kkind k, t_path path)
{
    switch (k) {
    case K_BF16_DP: return "avx512_bf16";
    case K_BF16_AMX: return "amx_bf16";
    case K_INT8_VNNI: return "avx512_vnni";
    case K_INT8_AVX2: return "avx2_int8";
    case K_INT8_C: return "c_int8";
    default: return t_gemm_path_name(path);
    }
}

const char *t_gemm_kernel_name(t_prec prec)
{
    t_path q = t_gemm_path();
    return kind_name(pick_kind(q, prec, t_gemm_ext()), q);
}

const char *t_packed_kernel(const t_packed *pw)
{
    return kind_name(pw->kind, pw->path);
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

// Index of W[o][k] in a layout of k groups of kg: panel, k group, column, k in group.
static size_t packed_index(const t_packed *w, int o, int k)
{
    return ((size_t)(o / w->nr) * w->inp + (size_t)(k / w->kg) * w->kg) * w->nr + (size_t)(o % w->nr) * w->kg +
           k % w->kg;
}

// Quantises output column o (row o of W, in values at v) to int8 symmetric
// with a per-column scale.
static void quant_col(t_packed *p, int o, const float *v)
{
    float mx = 0;
    for (int k = 0; k < p->in; k++) mx = fabsf(v[k]) > mx ? fabsf(v[k]) : mx;
    float sc = mx > 0 ? mx / 127 : 1, inv = 1 / sc;
    int32_t sum = 0;
    int8_t *q = p->data;
    for (int k = 0; k < p->in; k++) {
        float r = nearbyintf(v[k] * inv);
        int8_t qi = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r == r ? r : 0); // NaN: 0
        q[packed_index(p, o, k)] = qi, sum += qi;
    }
    p->scale[o] = sc, p->wsum[o] = sum;
}

static int pack_rows(int nparts, const void *const *w, const t_src *src, const int *rows, int in, t_prec prec,
                     t_path path, unsigned ext, t_packed **pw)
{
    *pw = NULL;
    long total = 0;
    for (int i = 0; i < nparts; i++) total += rows[i] > 0 ? rows[i] : -(1L << 40);
    if (nparts < 1 || total <= 0 || total > (1 << 28) || in <= 0 || in > (1 << 28))
        return lisa_seterr(LISA_EINVAL, "gemm: cannot pack a %ld x %d weight", total, in);
    if (prec != T_PREC_F32 && prec != T_PREC_BF16 && prec != T_PREC_INT8)
        return lisa_seterr(LISA_EINVAL, "gemm: unknown precision %d", (int)prec);
    int out = (int)total;
    t_packed *p = calloc(1, sizeof *p);
    const uint8_t **row = calloc((size_t)out, sizeof *row);
    t_src *rsrc = calloc((size_t)out, sizeof *rsrc);
    float *col = malloc((size_t)in * sizeof *col);
    if (!p || !row || !rsrc || !col) goto nomem;
    for (int i = 0, o = 0; i < nparts; i++)
        for (int r = 0; r < rows[i]; r++, o++) {
            size_t es = src[i] == T_SRC_F32 ? 4 : 2;
            row[o] = (const uint8_t *)w[i] + (size_t)r * in * es, rsrc[o] = src[i];
        }
    p->out = out, p->in = in, p->path = path, p->prec = prec;
    p->kind = pick_kind(path, prec, ext);
    p->kg = p->kind == K_BF16_DP || p->kind == K_BF16_AMX ? 2 : prec == T_PREC_INT8 ? 4 : 1;
    p->kpad = p->kind == K_BF16_AMX ? 32 : p->kg;
    p->inp = (in + p->kpad - 1) / p->kpad * p->kpad;
    p->nr = path_nr(p->path);
    p->npanels = (out + p->nr - 1) / p->nr;
    size_t n = (size_t)p->npanels * p->inp * p->nr, es = prec == T_PREC_BF16 ? 2 : prec == T_PREC_INT8 ? 1 : 4;
    size_t ncol = (size_t)p->npanels * p->nr;
    p->bytes = (n * es + 63) / 64 * 64;
    if (!(p->data = aligned_alloc(64, p->bytes))) goto nomem;
    p->cap = p->bytes;
    memset(p->data, 0, p->bytes); // the padding (columns past out, k past in) is zero
    if (prec == T_PREC_INT8) {
        p->scale = calloc(ncol, sizeof *p->scale), p->wsum = calloc(ncol, sizeof *p->wsum);
        if (!p->scale || !p->wsum) goto nomem;
        p->bytes += ncol * (sizeof *p->scale + sizeof *p->wsum);
    }
    float *f = p->data;
    uint16_t *h = p->data;
    for (int o = 0; o < out; o++) {
        for (int k = 0; k < in; k++) col[k] = src_at(row[o], rsrc[o], (size_t)k);
        if (prec == T_PREC_INT8) {
            quant_col(p, o, col);
            continue;
        }
        for (int k = 0; k < in; k++) {
            size_t at = packed_index(p, o, k);
            if (prec == T_PREC_BF16)
                h[at] = bf16_from_f32(col[k]);
            else
                f[at] = col[k];
        }
    }
    free(row), free(rsrc), free(col);
    *pw = p;
    return 0;
nomem:
    free(rsrc), free(row), free(col);
    t_packed_free(p);
    return lisa_seterr(LISA_ENOMEM, "gemm: out of memory packing a %d x %d weight", out, in);
}

int t_pack_rows(int nparts, const void *const *w, const t_src *src, const int *rows, int in, t_prec prec, t_packed **pw)
{
    return pack_rows(nparts, w, src, rows, in, prec, t_gemm_path(), t_gemm_ext(), pw);
}

int t_pack(const void *w, t_src src, int out, int in, t_prec prec, t_packed **pw)
{
    return t_pack_rows(1, &w, &src, &out, in, prec, pw);
}

// One panel of t_pack_act's in the VDPBF16PS layout: k pairs of nr (32)
// columns, a 32-bit word per column holding W[o][2p] (low) and W[o][2p + 1];
// rounded by VCVTNEPS2BF16 as t_gemm rounds x (the path needs AVX512_BF16).
__attribute__((target("avx512f,avx512bf16"))) static void pack_act_bf16(uint32_t *dst, const float *w, size_t ld,
                                                                        int c0, int cols, int in, int inp, int kmajor)
{
    if (cols < 32) memset(dst, 0, (size_t)inp / 2 * 32 * sizeof *dst);
    if (kmajor) { // rows k and k + 1 of w, 16 columns at a time, interleaved into words
        for (int k = 0; k < in; k += 2)
            for (int c = 0; c < cols; c += 16) {
                __mmask16 m = (__mmask16)(cols - c >= 16 ? 0xffff : (1u << (cols - c)) - 1);
                const float *r = w + (size_t)k * ld + c0 + c;
                __m512 lo = _mm512_maskz_loadu_ps(m, r), hi = k + 1 < in ? _mm512_maskz_loadu_ps(m, r + ld) : lo;
                __m256bh bl = _mm512_cvtneps_pbh(lo), bh = _mm512_cvtneps_pbh(hi);
                __m256i il, ih;
                memcpy(&il, &bl, sizeof il), memcpy(&ih, &bh, sizeof ih);
                if (k + 1 >= in) ih = _mm256_setzero_si256(); // the pad k past in is zero
                __m512i v =
                    _mm512_or_si512(_mm512_cvtepu16_epi32(il), _mm512_slli_epi32(_mm512_cvtepu16_epi32(ih), 16));
                _mm512_mask_storeu_epi32(dst + (size_t)k / 2 * 32 + c, m, v);
            }
        return;
    }
    uint32_t t[16];
    for (int c = 0; c < cols; c++) { // row c0 + c of w: 32 values make 16 consecutive pairs of column c
        const float *r = w + (size_t)(c0 + c) * ld;
        for (int k = 0; k < in; k += 32) {
            int left = in - k;
            __mmask16 m0 = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
            __mmask16 m1 = (__mmask16)(left >= 32 ? 0xffff : left > 16 ? (1u << (left - 16)) - 1 : 0);
            __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, r + k + 16), _mm512_maskz_loadu_ps(m0, r + k));
            memcpy(t, &h, sizeof t);
            int np = (left < 32 ? left + 1 : 32) / 2;
            for (int j = 0; j < np; j++) dst[(size_t)(k / 2 + j) * 32 + c] = t[j];
        }
    }
}

// One panel of t_pack_act's fp32 layout: k rows of nr columns.
static void pack_act_f32(float *dst, const float *w, size_t ld, int c0, int cols, int nr, int in, int kmajor)
{
    if (cols < nr) memset(dst, 0, (size_t)in * nr * sizeof *dst);
    for (int k = 0; kmajor && k < in; k++) memcpy(dst + (size_t)k * nr, w + (size_t)k * ld + c0, (size_t)cols * 4);
    for (int c = 0; !kmajor && c < cols; c++) {
        const float *src = w + (size_t)(c0 + c) * ld;
        for (int k = 0; k < in; k++) dst[(size_t)k * nr + c] = src[k];
    }
}

int t_pack_act(t_packed **pw, const float *w, size_t ld, int out, int in, int kmajor, t_prec prec)
{
    if (out <= 0 || in <= 0 || out > (1 << 28) || in > (1 << 28))
        return lisa_seterr(LISA_EINVAL, "gemm: cannot pack a %d x %d weight", out, in);
    t_path path = t_gemm_path();
    int dp = prec == T_PREC_BF16 && path == T_PATH_AVX512 && (t_gemm_ext() & T_EXT_BF16);
    int nr = path_nr(path), npanels = (out + nr - 1) / nr, inp = dp ? (in + 1) / 2 * 2 : in;
    size_t bytes = ((size_t)npanels * inp * nr * (dp ? 2 : 4) + 63) / 64 * 64;
    t_packed *p = *pw;
    if (p && (p->scale || p->cap < bytes)) t_packed_free(p), p = *pw = NULL;
    if (!p) {
        if (!(p = calloc(1, sizeof *p)) || !(p->data = aligned_alloc(64, bytes))) {
            free(p);
            return lisa_seterr(LISA_ENOMEM, "gemm: out of memory packing a %d x %d weight", out, in);
        }
        p->cap = bytes, *pw = p;
    }
    p->out = out, p->in = in, p->inp = inp, p->nr = nr, p->npanels = npanels, p->kg = p->kpad = dp ? 2 : 1;
    p->path = path, p->prec = dp ? T_PREC_BF16 : T_PREC_F32, p->kind = dp ? K_BF16_DP : K_F32, p->bytes = bytes;
    for (int pn = 0; pn < npanels; pn++) {
        int c0 = pn * nr, cols = out - c0 < nr ? out - c0 : nr;
        size_t off = (size_t)pn * inp * nr;
        if (dp)
            pack_act_bf16((uint32_t *)((uint16_t *)p->data + off), w, ld, c0, cols, in, inp, kmajor);
        else
            pack_act_f32((float *)p->data + off, w, ld, c0, cols, nr, in, kmajor);
    }
    return 0;
}

void t_packed_free(t_packed *pw)
{
    if (!pw) return;
    free(pw->data), free(pw->scale), free(pw->wsum);
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

// W[o][k] as the kernels see it (int8: the integer, without its scale).
static float packed_at(const t_packed *w, int o, int k)
{
    size_t i = packed_index(w, o, k);
    if (w->prec == T_PREC_INT8) return ((const int8_t *)w->data)[i];
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

// Every row count 1..12: a row block (of equal-height blocks, at most MR_MAX
// rows) runs in one kernel call, its panel streamed once (ViT-B/32 at batch 1
// has 50 rows: five blocks of 10, which ran as 8 + 2 with the panel read twice).
#define KERN_ROWS(K) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9) K(10) K(11) K(12)
#define KERN_TABLE(NAME)                                                                                               \
    {                                                                                                                  \
        NULL, NAME##_1, NAME##_2, NAME##_3, NAME##_4, NAME##_5, NAME##_6, NAME##_7, NAME##_8, NAME##_9, NAME##_10,     \
            NAME##_11, NAME##_12                                                                                       \
    }

// AVX-512F: MR rows x 32 columns in 2*MR zmm accumulators, accumulated
// straight into y (full 32-column panels; rows ldy apart): the accumulators
// start from y, or zero on the first k slice, and are stored back with bias
// added when given (the last slice), so no tile is written and merged
// (measured 1.1x on ViT-B/32's fc1 and fc2, one thread, Intel).
#define KERN_AVX512Y(MR)                                                                                               \
    __attribute__((target("avx512f"))) static void kern_avx512y_##MR(                                                  \
        int kc, const float *a, size_t lda, const float *b, float *y, size_t ldy, const float *bias, int first)        \
    {                                                                                                                  \
        __m512 c0[MR], c1[MR];                                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            c0[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + r * ldy);                                        \
            c1[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + r * ldy + 16);                                   \
        }                                                                                                              \
        for (int k = 0; k < kc; k++) {                                                                                 \
            __m512 b0 = _mm512_load_ps(b + (size_t)k * 32), b1 = _mm512_load_ps(b + (size_t)k * 32 + 16);              \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                      \
            {                                                                                                          \
                __m512 av = _mm512_set1_ps(a[r * lda + k]);                                                            \
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);                                                                \
                c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);                                                                \
            }                                                                                                          \
        }                                                                                                              \
        __m512 z0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();                                                \
        __m512 z1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();                                           \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            _mm512_storeu_ps(y + r * ldy, bias ? _mm512_add_ps(c0[r], z0) : c0[r]);                                    \
            _mm512_storeu_ps(y + r * ldy + 16, bias ? _mm512_add_ps(c1[r], z1) : c1[r]);                               \
        }                                                                                                              \
    }
KERN_ROWS(KERN_AVX512Y)

typedef void (*kern_y_fn)(int kc, const float *a, size_t lda, const float *b, float *y, size_t ldy, const float *bias,
                          int first);
static const kern_y_fn kern_avx512y_tab[13] = KERN_TABLE(kern_avx512y);

static void kern_avx512y(int mr, int kc, const float *a, size_t lda, const float *b, float *y, size_t ldy,
                         const float *bias, int first)
{
    for (int m; mr > 0; a += (size_t)m * lda, y += (size_t)m * ldy, mr -= m) {
        m = mr > 12 ? 12 : mr;
        kern_avx512y_tab[m](kc, a, lda, b, y, ldy, bias, first);
    }
}

static void kern_avx512(int mr, int kc, const float *a, size_t lda, const float *b, float *t)
{
    kern_avx512y(mr, kc, a, lda, b, t, 32, NULL, 1); // into a tile of 32-float rows
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

/* ---------------------------------------------------------------- k-group kernels */

// t[r*NR + j] = sum_{k < kc} a_r[k] * B[k][j] for r < mr, j < NR, where row r
// of the activations starts at a + r*lda (bytes) and B is a panel's k slice in
// groups of G k (G = 2 bf16 or 4 int8): one group is NR columns x G elements,
// contiguous. kc is a multiple of G; nr is the panel width (the AVX-512
// kernels have NR = 32, 128 bytes a group).
typedef void (*kernq_fn)(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *t, int nr);

static inline int32_t load32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// AVX512_BF16: per k pair, two 32-column loads, MR broadcasts of a bf16 pair
// and 2*MR VDPBF16PS (each 16 columns x 2 k) into fp32 accumulators, which
// start from y (or zero on the first slice) and go straight back, bias added
// on the last slice, as KERN_AVX512Y does for fp32 (rows ldy apart). A tile
// stored with 64-byte stores and reloaded at once by the merge's narrower
// loads cost ViT-B/32 bf16 at batch 8 11% of its time on Zen 5.
#define KERN_BF16Y(MR)                                                                                                 \
    __attribute__((target("avx512f,avx512bf16"))) static void kern_bf16y_##MR(                                         \
        int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy, const float *bias, int first)    \
    {                                                                                                                  \
        __m512 c0[MR], c1[MR];                                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            c0[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + r * ldy);                                        \
            c1[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + r * ldy + 16);                                   \
        }                                                                                                              \
        for (int k = 0; k < kc; k += 2) {                                                                              \
            __m512i b0 = _mm512_loadu_si512(b + (size_t)k * 64), b1 = _mm512_loadu_si512(b + (size_t)k * 64 + 64);     \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                      \
            {                                                                                                          \
                __m512i av = _mm512_set1_epi32(load32(a + r * lda + (size_t)k * 2));                                   \
                c0[r] = _mm512_dpbf16_ps(c0[r], (__m512bh)av, (__m512bh)b0);                                           \
                c1[r] = _mm512_dpbf16_ps(c1[r], (__m512bh)av, (__m512bh)b1);                                           \
            }                                                                                                          \
        }                                                                                                              \
        __m512 z0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();                                                \
        __m512 z1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();                                           \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            _mm512_storeu_ps(y + r * ldy, bias ? _mm512_add_ps(c0[r], z0) : c0[r]);                                    \
            _mm512_storeu_ps(y + r * ldy + 16, bias ? _mm512_add_ps(c1[r], z1) : c1[r]);                               \
        }                                                                                                              \
    }
KERN_ROWS(KERN_BF16Y)

typedef void (*kern_qy_fn)(int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy,
                           const float *bias, int first);
static const kern_qy_fn kern_bf16y_tab[13] = KERN_TABLE(kern_bf16y);

static void kern_bf16y(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy,
                       const float *bias, int first)
{
    for (int m; mr > 0; a += (size_t)m * lda, y += (size_t)m * ldy, mr -= m) {
        m = mr > 12 ? 12 : mr;
        kern_bf16y_tab[m](kc, a, lda, b, y, ldy, bias, first);
    }
}

// VPDPBUSD (c += u8 a x s8 b, four byte pairs a lane) through inline asm:
// GCC 12 moves _mm512_dpbusd_epi32's accumulators through the stack on every
// k step of the 12-row kernel (41 stack accesses and 67 register copies a
// step), which halved the int8 kernels' speed.
__attribute__((target("avx512f,avx512vnni"))) static inline __m512i dpbusd512(__m512i c, __m512i a, __m512i b)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b));
    return c;
}

// AVX512_VNNI: per k quad, two 32-column loads of s8, MR broadcasts of four
// u8 activations and 2*MR VPDPBUSD into int32 accumulators (exact: at most
// 4 * 255 * 127 a step, so 2^31 is safe for k below 16 million). The slice's
// sums go to y as floats, added to it after the first slice (rows ldy apart);
// the dequantisation follows the last slice.
#define KERN_VNNIY(MR)                                                                                                 \
    __attribute__((target("avx512f,avx512vnni"))) static void kern_vnniy_##MR(                                         \
        int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy, int first)                       \
    {                                                                                                                  \
        __m512i c0[MR], c1[MR];                                                                                        \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_si512();                  \
        for (int k = 0; k < kc; k += 4) {                                                                              \
            __m512i b0 = _mm512_loadu_si512(b + (size_t)k * 32), b1 = _mm512_loadu_si512(b + (size_t)k * 32 + 64);     \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                      \
            {                                                                                                          \
                __m512i av = _mm512_set1_epi32(load32(a + r * lda + (size_t)k));                                       \
                c0[r] = dpbusd512(c0[r], av, b0);                                                                      \
                c1[r] = dpbusd512(c1[r], av, b1);                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                                          \
        {                                                                                                              \
            __m512 v0 = _mm512_cvtepi32_ps(c0[r]), v1 = _mm512_cvtepi32_ps(c1[r]);                                     \
            if (!first) {                                                                                              \
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(y + r * ldy));                                                  \
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(y + r * ldy + 16));                                             \
            }                                                                                                          \
            _mm512_storeu_ps(y + r * ldy, v0);                                                                         \
            _mm512_storeu_ps(y + r * ldy + 16, v1);                                                                    \
        }                                                                                                              \
    }
KERN_ROWS(KERN_VNNIY)

typedef void (*kern_vy_fn)(int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy, int first);
static const kern_vy_fn kern_vnniy_tab[13] = KERN_TABLE(kern_vnniy);

static void kern_vnniy(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *y, size_t ldy, int first)
{
    for (int m; mr > 0; a += (size_t)m * lda, y += (size_t)m * ldy, mr -= m) {
        m = mr > 12 ? 12 : mr;
        kern_vnniy_tab[m](kc, a, lda, b, y, ldy, first);
    }
}

// The tile forms (rows of 32 floats) for partial panels, as kern_avx512 wraps
// kern_avx512y.
static void kern_bf16(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *t, int nr)
{
    (void)nr;
    kern_bf16y(mr, kc, a, lda, b, t, 32, NULL, 1);
}

static void kern_vnni(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *t, int nr)
{
    (void)nr;
    kern_vnniy(mr, kc, a, lda, b, t, 32, 1);
}

// AMX-BF16: up to 32 rows x 32 columns in four 16 x 16 fp32 tiles (tmm0-3),
// A as two 16-row tiles of 32 bf16 (tmm4-5), B as the panel's two 16-column
// halves of 16 k pairs (tmm6-7: the pair layout is AMX's B layout, 128 bytes
// a pair apart). kc is a multiple of 32. Each thread loads its tile
// configuration when the row count changes.
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;
static _Thread_local int t_amx_rows = -1;

__attribute__((target("amx-tile,amx-bf16"))) static void amx_config(int mr)
{
    amx_cfg c;
    memset(&c, 0, sizeof c);
    int r0 = mr < 16 ? mr : 16, r1 = mr - r0;
    c.palette = 1;
    c.rows[0] = c.rows[1] = c.rows[4] = (uint8_t)r0;
    c.rows[2] = c.rows[3] = c.rows[5] = (uint8_t)r1; // 0 leaves them unconfigured
    c.rows[6] = c.rows[7] = 16;
    for (int i = 0; i < 8; i++) c.colsb[i] = c.rows[i] ? 64 : 0;
    _tile_loadconfig(&c);
    t_amx_rows = mr;
}

__attribute__((target("amx-tile,amx-bf16"))) static void kern_amx(int mr, int kc, const uint8_t *a, size_t lda,
                                                                  const uint8_t *b, float *t, int nr)
{
    (void)nr; // 32: the AVX-512 panel
    if (t_amx_rows != mr) amx_config(mr);
    _tile_zero(0);
    _tile_zero(1);
    if (mr > 16) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int k = 0; k < kc; k += 32) {
        const uint8_t *ak = a + (size_t)k * 2, *bk = b + (size_t)k * 64;
        _tile_loadd(4, ak, lda);
        _tile_loadd(6, bk, 128);
        _tile_loadd(7, bk + 64, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (mr > 16) {
            _tile_loadd(5, ak + 16 * lda, lda);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, t, 128);
    _tile_stored(1, t + 16, 128);
    if (mr > 16) {
        _tile_stored(2, t + 16 * 32, 128);
        _tile_stored(3, t + 16 * 32 + 16, 128);
    }
}

// int8 without VNNI: the same layout and exact integer sums in portable C.
static void kern_i8_c(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *t, int nr)
{
    int32_t acc[MAX_NR];
    for (int r = 0; r < mr; r++) {
        memset(acc, 0, sizeof acc);
        const uint8_t *ar = a + r * lda;
        for (int k = 0; k < kc; k += 4) {
            const int8_t *bk = (const int8_t *)b + (size_t)k * nr;
            int a0 = ar[k], a1 = ar[k + 1], a2 = ar[k + 2], a3 = ar[k + 3];
            for (int j = 0; j < nr; j++)
                acc[j] += a0 * bk[4 * j] + a1 * bk[4 * j + 1] + a2 * bk[4 * j + 2] + a3 * bk[4 * j + 3];
        }
        for (int j = 0; j < nr; j++) t[r * nr + j] = (float)acc[j];
    }
}

// int8 on AVX2 without VNNI, two rows at a time over 16-column halves of the
// panel: per k quad, 16 columns x 4 s8 widened to 16 bits (4 ymm), each row's
// u8 quad widened and broadcast, VPMADDWD (exact: 2 * 255 * 127 < 2^31) into
// pairs of partial sums per column, added pairwise at the end.
__attribute__((target("avx2"))) static void i8_avx2_rows(int rows, int kc, const uint8_t *a, size_t lda,
                                                         const uint8_t *b, int nr, float *t)
{
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int c16 = 0; c16 < nr; c16 += 16) {
        __m256i acc[2][4];
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < 4; q++) acc[r][q] = _mm256_setzero_si256();
        for (int k = 0; k < kc; k += 4) {
            const uint8_t *bk = b + (size_t)k * nr + (size_t)c16 * 4;
            __m256i w01 = _mm256_loadu_si256((const __m256i *)bk), w23 = _mm256_loadu_si256((const __m256i *)(bk + 32));
            __m256i w[4] = {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(w01)),
                            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w01, 1)),
                            _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w23)),
                            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w23, 1))};
            for (int r = 0; r < rows; r++) {
                __m128i q = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(load32(a + r * lda + (size_t)k)));
                __m256i av = _mm256_broadcastq_epi64(q);
                for (int i = 0; i < 4; i++) acc[r][i] = _mm256_add_epi32(acc[r][i], _mm256_madd_epi16(w[i], av));
            }
        }
        for (int r = 0; r < rows; r++) {
            __m256i lo = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[r][0], acc[r][1]), order);
            __m256i hi = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[r][2], acc[r][3]), order);
            _mm256_storeu_ps(t + r * nr + c16, _mm256_cvtepi32_ps(lo));
            _mm256_storeu_ps(t + r * nr + c16 + 8, _mm256_cvtepi32_ps(hi));
        }
    }
}

static void kern_i8_avx2(int mr, int kc, const uint8_t *a, size_t lda, const uint8_t *b, float *t, int nr)
{
    for (int r = 0; r < mr; r += 2) i8_avx2_rows(mr - r < 2 ? mr - r : 2, kc, a + r * lda, lda, b, nr, t + r * nr);
}

/* ---------------------------------------------------------------- activation conversion */

// Row i of x rounded to bf16 (round to nearest even), zero-padded to inp.
static void to_bf16_c(uint16_t *d, const float *x, int in, int inp)
{
    for (int k = 0; k < in; k++) d[k] = bf16_from_f32(x[k]);
    for (int k = in; k < inp; k++) d[k] = 0;
}

__attribute__((target("avx512f,avx512bf16"))) static void to_bf16_avx512(uint16_t *d, const float *x, int in, int inp)
{
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + k));
        __m256i hi;
        memcpy(&hi, &h, sizeof hi);
        _mm256_storeu_si256((__m256i *)(d + k), hi);
    }
    to_bf16_c(d + k, x + k, in - k, inp - k);
}

// Dynamic asymmetric u8 quantisation of one row: x ~ s * (q - z), the range
// [min(x, 0), max(x, 0)] over 255 steps (zero is exact), q = round(x / s) + z
// clamped to [0, 255]; zero-padded to inp.
static void quant_params(float lo, float hi, float *s, int32_t *z)
{
    lo = lo < 0 ? lo : 0, hi = hi > 0 ? hi : 0;
    *s = hi > lo ? (hi - lo) / 255 : 1;
    float zf = nearbyintf(-lo / *s);
    *z = (int32_t)(zf < 0 ? 0 : zf > 255 ? 255 : zf);
}

static void quant_row_c(uint8_t *d, const float *x, int in, int inp, float *s, int32_t *z)
{
    float lo = 0, hi = 0;
    for (int k = 0; k < in; k++) lo = x[k] < lo ? x[k] : lo, hi = x[k] > hi ? x[k] : hi;
    quant_params(lo, hi, s, z);
    float inv = 1 / *s;
    for (int k = 0; k < in; k++) {
        float q = nearbyintf(x[k] * inv) + (float)*z;
        d[k] = (uint8_t)(q >= 0 ? (q <= 255 ? q : 255) : 0); // NaN: 0
    }
    for (int k = in; k < inp; k++) d[k] = 0;
}

__attribute__((target("avx512f"))) static void quant_row_avx512(uint8_t *d, const float *x, int in, int inp, float *s,
                                                                int32_t *z)
{
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        vlo = _mm512_min_ps(vlo, v), vhi = _mm512_max_ps(vhi, v);
    }
    float lo = _mm512_reduce_min_ps(vlo), hi = _mm512_reduce_max_ps(vhi);
    for (int i = k; i < in; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    quant_params(lo, hi, s, z);
    __m512 inv = _mm512_set1_ps(1 / *s);
    __m512i vz = _mm512_set1_epi32(*z), zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255);
    for (k = 0; k + 16 <= in; k += 16) {
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), inv)); // nearest even
        q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, vz), zero), top);
        _mm_storeu_si128((__m128i *)(d + k), _mm512_cvtepi32_epi8(q));
    }
    float inv1 = 1 / *s;
    for (; k < in; k++) {
        float q = nearbyintf(x[k] * inv1) + (float)*z;
        d[k] = (uint8_t)(q >= 0 ? (q <= 255 ? q : 255) : 0); // NaN: 0
    }
    for (; k < inp; k++) d[k] = 0;
}

// The int8 epilogue on one row: y[c] = s * scale[c] * (y[c] - z * wsum[c]) + bias[c].
static void dequant_c(float *y, int n, float s, int32_t z, const float *scale, const int32_t *wsum, const float *bias)
{
    for (int c = 0; c < n; c++) {
        float v = (y[c] - (float)z * (float)wsum[c]) * (s * scale[c]);
        y[c] = bias ? v + bias[c] : v;
    }
}

__attribute__((target("avx512f"))) static void dequant_avx512(float *y, int n, float s, int32_t z, const float *scale,
                                                              const int32_t *wsum, const float *bias)
{
    int c = 0;
    __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps((float)z);
    for (; c + 16 <= n; c += 16) {
        __m512 w = _mm512_cvtepi32_ps(_mm512_loadu_si512(wsum + c));
        __m512 v = _mm512_sub_ps(_mm512_loadu_ps(y + c), _mm512_mul_ps(vz, w));
        v = _mm512_mul_ps(v, _mm512_mul_ps(vs, _mm512_loadu_ps(scale + c)));
        if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + c));
        _mm512_storeu_ps(y + c, v);
    }
    dequant_c(y + c, n - c, s, z, scale + c, wsum + c, bias ? bias + c : NULL);
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

// exp16 and act_avx512: exp8 and act_avx2 on 16 floats (the same
// polynomials, so both paths agree with the scalar reference equally).
__attribute__((target("avx512f"))) static __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// 1 / b from VRCP14PS and one Newton step (relative error about 2^-28):
// VDIVPS zmm issues once per 10 cycles or so on recent Intel cores, and made
// the gelu epilogue cost more than an AMX tile block's products.
__attribute__((target("avx512f"))) static __m512 recip16(__m512 b)
{
    __m512 r = _mm512_rcp14_ps(b);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(2.0f)));
}

__attribute__((target("avx512f,avx2,fma"))) static void act_avx512(t_act act, float *x, size_t n)
{
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), y;
        if (act == T_ACT_QUICK_GELU) {
            y = _mm512_mul_ps(v, recip16(_mm512_add_ps(one, exp16(_mm512_mul_ps(v, _mm512_set1_ps(-1.702f))))));
        } else if (act == T_ACT_GELU) {
            __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
            __m512i zi = _mm512_castps_si512(z);
            __m512 az = _mm512_castsi512_ps(_mm512_andnot_si512(sign, zi));
            __m512 t = recip16(_mm512_fmadd_ps(az, _mm512_set1_ps(0.3275911f), one));
            __m512 p = _mm512_set1_ps(1.061405429f);
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
            p = _mm512_mul_ps(p, t);
            __m512 erf = _mm512_fnmadd_ps(p, exp16(_mm512_mul_ps(_mm512_mul_ps(az, az), _mm512_set1_ps(-1.0f))), one);
            erf =
                _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf), _mm512_and_si512(zi, sign))); // sign of z
            y = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf));
        } else {
            __m512 u =
                _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                              _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), _mm512_mul_ps(v, v), v));
            __m512 th = _mm512_sub_ps(
                one, _mm512_mul_ps(_mm512_set1_ps(2.0f),
                                   recip16(_mm512_add_ps(exp16(_mm512_mul_ps(u, _mm512_set1_ps(2.0f))), one))));
            y = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, th));
        }
        _mm512_storeu_ps(x + i, y);
    }
    if (i < n) act_avx2(act, x + i, n - i);
}

// Softmax of one row of scale * x (scale > 0) on 16 (8) lanes with exp16
// (exp8); entries at -INFINITY (a mask) get exactly 0, as in t_softmax_ref.
#define SOFTMAX_VEC(NAME, TGT, V, W, SET1, LOAD, STORE, MAX, SUB, MUL, ADD, EXP, ZERO, RMAX, RADD, KEEP)               \
    __attribute__((target(TGT))) static void NAME(float *x, int n, float scale)                                        \
    {                                                                                                                  \
        V mx = SET1(-INFINITY);                                                                                        \
        int i = 0;                                                                                                     \
        for (; i + W <= n; i += W) mx = MAX(mx, LOAD(x + i));                                                          \
        float m = RMAX(mx);                                                                                            \
        for (int t = i; t < n; t++) m = x[t] > m ? x[t] : m;                                                           \
        if (m == -INFINITY) {                                                                                          \
            memset(x, 0, (size_t)n * sizeof *x);                                                                       \
            return;                                                                                                    \
        }                                                                                                              \
        V vm = SET1(m), vs = SET1(scale), acc = ZERO();                                                                \
        for (i = 0; i + W <= n; i += W) {                                                                              \
            V v = LOAD(x + i), e = KEEP(v, EXP(MUL(SUB(v, vm), vs)));                                                  \
            STORE(x + i, e);                                                                                           \
            acc = ADD(acc, e);                                                                                         \
        }                                                                                                              \
        float sum = RADD(acc);                                                                                         \
        for (int t = i; t < n; t++) sum += x[t] = expf((x[t] - m) * scale);                                            \
        V inv = SET1(1.0f / sum);                                                                                      \
        for (i = 0; i + W <= n; i += W) STORE(x + i, MUL(LOAD(x + i), inv));                                           \
        for (int t = i; t < n; t++) x[t] *= 1.0f / sum;                                                                \
    }

__attribute__((target("avx512f"))) static inline __m512 keep512(__m512 v, __m512 e)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ), e);
}
__attribute__((target("avx512f"))) static inline float rmax512(__m512 v)
{
    return _mm512_reduce_max_ps(v);
}
__attribute__((target("avx512f"))) static inline float radd512(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}
__attribute__((target("avx2"))) static inline __m256 keep256(__m256 v, __m256 e)
{
    return _mm256_and_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ), e);
}
__attribute__((target("avx2"))) static inline float rmax256(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}
__attribute__((target("avx2"))) static inline float radd256(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
SOFTMAX_VEC(softmax_avx512, "avx512f,avx2,fma", __m512, 16, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps,
            _mm512_max_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_add_ps, exp16, _mm512_setzero_ps, rmax512, radd512,
            keep512)
SOFTMAX_VEC(softmax_avx2, "avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_max_ps,
            _mm256_sub_ps, _mm256_mul_ps, _mm256_add_ps, exp8, _mm256_setzero_ps, rmax256, radd256, keep256)

void t_softmax_scaled(float *x, int n, float scale)
{
    t_path q = t_gemm_path();
    if (q == T_PATH_AVX512)
        softmax_avx512(x, n, scale);
    else if (q == T_PATH_AVX2)
        softmax_avx2(x, n, scale);
    else {
        for (int i = 0; scale != 1 && i < n; i++) x[i] *= scale;
        t_softmax_ref(x, n);
    }
}

void t_softmax(float *x, int n)
{
    t_softmax_scaled(x, n, 1);
}

// The epilogue's activation on path q's widest vectors.
static void act_vec(t_path q, t_act act, float *x, size_t n)
{
    if (act == T_ACT_NONE) return;
    if (q == T_PATH_AVX512)
        act_avx512(act, x, n);
    else if (q == T_PATH_AVX2)
        act_avx2(act, x, n);
    else
        t_act_apply(act, x, n);
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
    // k-group kinds (bf16 pairs, int8): x converted once per call
    kernq_fn kq;
    const uint8_t *xq; // n rows of inp elements, ldq bytes apart
    size_t ldq;
    const float *rs; // int8: per row scale and zero point
    const int32_t *rz;
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
                const float *a = abuf ? abuf + (size_t)(i - m0) * alda : j->x + (size_t)i * j->ldx + k0;
                size_t lda = abuf ? alda : (size_t)j->ldx;
                if (cols == nr && w->path == T_PATH_AVX512) { // full panel: accumulate in y
                    float *yi = j->y + (size_t)i * j->ldy + c0;
                    kern_avx512y(mr, kc, a, lda, b, yi, (size_t)j->ldy, last && j->bias ? j->bias + c0 : NULL, first);
                    for (int r = 0; last && j->act != T_ACT_NONE && r < mr; r++)
                        act_vec(w->path, j->act, yi + (size_t)r * j->ldy, (size_t)cols);
                    continue;
                }
                j->kern(mr, kc, a, lda, b, tile);
                for (int r = 0; r < mr; r++) {
                    float *yr = j->y + (size_t)(i + r) * j->ldy + c0;
                    const float *tr = tile + r * nr;
                    if (cols == nr && w->path != T_PATH_C) { // full panel: vector merge
                        merge_avx2(yr, tr, last ? j->bias ? j->bias + c0 : NULL : NULL, nr, first);
                        if (last && j->act != T_ACT_NONE) act_vec(w->path, j->act, yr, (size_t)cols);
                        continue;
                    }
                    if (first)
                        memcpy(yr, tr, (size_t)cols * sizeof *yr);
                    else
                        for (int c = 0; c < cols; c++) yr[c] += tr[c];
                    if (last) {
                        if (j->bias)
                            for (int c = 0; c < cols; c++) yr[c] += j->bias[c0 + c];
                        act_vec(w->path, j->act, yr, (size_t)cols);
                    }
                }
            }
        }
    }
    free(abuf);
}

// One row of a tile into y for the k-group kinds: accumulate, and on the
// last k slice the int8 dequantisation, the bias and the activation.
static void row_out_q(const struct gemm_job *j, int i, int c0, int cols, const float *tr, int first, int last)
{
    const t_packed *w = j->w;
    float *yr = j->y + (size_t)i * j->ldy + c0;
    int vec = cols == w->nr && w->path != T_PATH_C;
    const float *bias = last && j->bias ? j->bias + c0 : NULL;
    if (w->prec == T_PREC_INT8) {
        if (vec)
            merge_avx2(yr, tr, NULL, cols, first);
        else if (first)
            memcpy(yr, tr, (size_t)cols * sizeof *yr);
        else
            for (int c = 0; c < cols; c++) yr[c] += tr[c];
        if (!last) return;
        if (w->path == T_PATH_AVX512)
            dequant_avx512(yr, cols, j->rs[i], j->rz[i], w->scale + c0, w->wsum + c0, bias);
        else
            dequant_c(yr, cols, j->rs[i], j->rz[i], w->scale + c0, w->wsum + c0, bias);
    } else if (vec) {
        merge_avx2(yr, tr, bias, cols, first);
    } else {
        for (int c = 0; c < cols; c++) yr[c] = (first ? 0 : yr[c]) + tr[c] + (bias ? bias[c] : 0);
    }
    if (last && j->act != T_ACT_NONE) act_vec(w->path, j->act, yr, (size_t)cols);
}

static void gemm_task_q(void *ctx, int task, int tid)
{
    (void)tid;
    const struct gemm_job *j = ctx;
    const t_packed *w = j->w;
    int nr = w->nr, inp = w->inp;
    size_t es = w->prec == T_PREC_INT8 ? 1 : 2;
    int mb = task % j->mblocks, nb = task / j->mblocks;
    int m0 = mb * j->mc, m1 = m0 + j->mc < j->n ? m0 + j->mc : j->n;
    int p0 = nb * j->pblock, p1 = p0 + j->pblock < w->npanels ? p0 + j->pblock : w->npanels;
    float tile[AMX_MR * MAX_NR] __attribute__((aligned(64)));
    int nblk = (m1 - m0 + j->mr - 1) / j->mr, h = (m1 - m0 + nblk - 1) / nblk;
    for (int k0 = 0; k0 < inp; k0 += j->kc) {
        int kc = inp - k0 < j->kc ? inp - k0 : j->kc, first = k0 == 0, last = k0 + kc >= inp;
        for (int pn = p0; pn < p1; pn++) {
            const uint8_t *b = (const uint8_t *)w->data + ((size_t)pn * inp + k0) * nr * es;
            int c0 = pn * nr, cols = w->out - c0 < nr ? w->out - c0 : nr;
            for (int i = m0; i < m1; i += h) {
                int mr = m1 - i < h ? m1 - i : h;
                const uint8_t *a = j->xq + (size_t)i * j->ldq + (size_t)k0 * es;
                if (w->kind == K_BF16_DP && cols == nr) { // full panel: accumulate in y
                    float *yi = j->y + (size_t)i * j->ldy + c0;
                    kern_bf16y(mr, kc, a, j->ldq, b, yi, (size_t)j->ldy, last && j->bias ? j->bias + c0 : NULL, first);
                    for (int r = 0; last && j->act != T_ACT_NONE && r < mr; r++)
                        act_vec(w->path, j->act, yi + (size_t)r * j->ldy, (size_t)cols);
                    continue;
                }
                if (w->kind == K_INT8_VNNI && cols == nr) { // full panel: integer sums into y, then dequantised
                    float *yi = j->y + (size_t)i * j->ldy + c0;
                    kern_vnniy(mr, kc, a, j->ldq, b, yi, (size_t)j->ldy, first);
                    for (int r = 0; last && r < mr; r++) {
                        float *yr = yi + (size_t)r * j->ldy;
                        dequant_avx512(yr, cols, j->rs[i + r], j->rz[i + r], w->scale + c0, w->wsum + c0,
                                       j->bias ? j->bias + c0 : NULL);
                        act_vec(w->path, j->act, yr, (size_t)cols);
                    }
                    continue;
                }
                j->kq(mr, kc, a, j->ldq, b, tile, nr);
                for (int r = 0; r < mr; r++) row_out_q(j, i + r, c0, cols, tile + r * nr, first, last);
            }
        }
    }
}

struct conv_job {
    const float *x;
    int ldx;
    const t_packed *w;
    uint8_t *xq;
    size_t ldq;
    float *rs;
    int32_t *rz;
};

// Converts row i of x for a k-group kind (bf16 pairs or u8 quads).
static void conv_row(void *ctx, int i, int tid)
{
    (void)tid;
    const struct conv_job *c = ctx;
    const t_packed *w = c->w;
    const float *x = c->x + (size_t)i * c->ldx;
    uint8_t *d = c->xq + (size_t)i * c->ldq;
    if (w->prec == T_PREC_BF16)
        to_bf16_avx512((uint16_t *)d, x, w->in, w->inp); // K_BF16_DP and K_BF16_AMX need AVX512_BF16
    else if (w->path == T_PATH_AVX512)
        quant_row_avx512(d, x, w->in, w->inp, c->rs + i, c->rz + i);
    else
        quant_row_c(d, x, w->in, w->inp, c->rs + i, c->rz + i);
}

// Splits the rows into tiles over the pool (see gemm_run).
static void spread(struct gemm_job *j, int n, int T, int es)
{
    int mc = g_l2 / 2 / (j->kc * es); // a k slice of the row block in half of L2
    mc = mc / j->mr * j->mr;
    j->mc = mc < j->mr ? j->mr : mc;
    j->mblocks = (n + j->mc - 1) / j->mc;
    j->nblocks = 1;
    if (T > 1 && j->mblocks < 2 * T) {
        int want = (2 * T + j->mblocks - 1) / j->mblocks;
        if (j->mblocks == 1) want = T;
        j->nblocks = want < j->w->npanels ? want : j->w->npanels;
    }
    j->pblock = (j->w->npanels + j->nblocks - 1) / j->nblocks;
    j->nblocks = (j->w->npanels + j->pblock - 1) / j->pblock;
}

// The k-group kinds: x is converted once (rows spread over the pool), then
// the tiles run. Without memory for all n rows it runs in smaller row chunks.
static void gemm_run_q(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                       t_act act)
{
    struct gemm_job j = {.y = y, .bias = bias, .w = w, .ldy = ldy, .act = act};
    j.kq = w->kind == K_BF16_AMX    ? kern_amx
           : w->kind == K_BF16_DP   ? kern_bf16
           : w->kind == K_INT8_VNNI ? kern_vnni
           : w->kind == K_INT8_AVX2 ? kern_i8_avx2
                                    : kern_i8_c;
    j.mr = w->kind == K_BF16_AMX ? AMX_MR : path_mr(w->path);
    size_t es = w->prec == T_PREC_INT8 ? 1 : 2;
    // A k slice of a 16-column panel fills L1; of a 32-column (AVX-512) one,
    // the bytes of the fp32 kernels' L2-sized slice (g_kc32; 1024 bf16 or
    // 2048 int8 values on a 1-2 MiB L2): since the kernels accumulate in y,
    // fewer and longer slices win. Measured one thread, Zen 5, against the
    // L1-sized half: bf16 ViT-B/32 batch 8 383-386 against 405-416 ms, BLIP
    // vision 618-627 against 648-690 ms; int8 equal within noise; AMX
    // ViT-B/32 at batch 8 61 images/s against 52-60 with 768.
    // The slice never depends on n: a row's sums then run in the same order
    // in any batch, so an image's vector is bit-equal alone or in a batch.
    int kc = w->nr == 32 ? g_kc32 * (int)(4 / es) : 2 * g_kc * (int)(4 / es) * 16 / w->nr;
    j.kc = kc < w->kpad ? w->kpad : kc / w->kpad * w->kpad;
    j.ldq = ((size_t)w->inp * es + 63) / 64 * 64;
    // Rows an odd number of cache lines apart spread over all L1 sets (an even
    // count folds the kernel's 12 rows onto fewer): ViT-B/32 bf16 at batch 8,
    // 2 threads, Zen 5, 41.5-42.4 against 39.9-41.4 images/s in paired runs.
    if ((j.ldq / 64) % 2 == 0) j.ldq += 64;
    int T = pool_size(p);
    for (int r0 = 0, chunk = n; r0 < n;) {
        int rows = n - r0 < chunk ? n - r0 : chunk;
        uint8_t *xq = aligned_alloc(64, (size_t)rows * j.ldq);
        float *rs = malloc((size_t)rows * sizeof *rs);
        int32_t *rz = malloc((size_t)rows * sizeof *rz);
        if (!xq || !rs || !rz) {
            free(xq), free(rs), free(rz);
            if (chunk > 1) {
                chunk = (chunk + 1) / 2;
                continue;
            }
            log_error("gemm: out of memory converting a row of %d values; its output is zero", w->in);
            for (int c = 0; c < w->out; c++) y[(size_t)r0 * ldy + c] = 0;
            r0++;
            continue;
        }
        struct conv_job cj = {x + (size_t)r0 * ldx, ldx, w, xq, j.ldq, rs, rz};
        // A few rows (a text query) convert on this thread: cheaper than waking the pool.
        pool_for(T > 1 && (size_t)rows * w->in >= 65536 ? p : NULL, rows, conv_row, &cj);
        j.y = y + (size_t)r0 * ldy, j.xq = xq, j.rs = rs, j.rz = rz, j.n = rows;
        spread(&j, rows, T, (int)es);
        pool_for(T > 1 ? p : NULL, j.mblocks * j.nblocks, gemm_task_q, &j);
        free(xq), free(rs), free(rz);
        r0 += rows;
    }
}

static void gemm_run(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                     t_act act)
{
    if (n <= 0) return;
    if (w->kg > 1 || w->prec == T_PREC_INT8) {
        gemm_run_q(p, y, ldy, x, ldx, w, bias, n, act);
        return;
    }
    struct gemm_job j = {.y = y, .x = x, .bias = bias, .w = w, .ldy = ldy, .ldx = ldx, .n = n, .act = act};
    j.kern = w->path == T_PATH_AVX512 ? kern_avx512 : w->path == T_PATH_AVX2 ? kern_avx2 : kern_c;
    j.mr = path_mr(w->path);
    // bf16 widens each slice into t_wide, which must stay in L1: the old slice.
    // It never depends on n (see gemm_run_q).
    j.kc = w->nr != 32 ? g_kc : w->prec == T_PREC_BF16 ? (g_kc / 2 < 128 ? 128 : g_kc / 2) : g_kc32;
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
    const float *x = j->x + (size_t)i * j->ldx;
    uint8_t *q = w->prec == T_PREC_INT8 ? malloc((size_t)w->inp) : NULL;
    float s = 1;
    int32_t z = 0;
    if (w->prec == T_PREC_INT8) {
        if (!q) {
            for (int o = 0; o < w->out; o++) yi[o] = NAN; // fails any comparison
            return;
        }
        quant_row_c(q, x, w->in, w->inp, &s, &z);
    }
    for (int o = 0; o < w->out; o++) {
        double acc = 0;
        if (w->prec == T_PREC_INT8) {
            int64_t a = 0;
            for (int k = 0; k < w->in; k++) a += (int64_t)(q[k] - z) * (int64_t)packed_at(w, o, k);
            acc = (double)a * s * w->scale[o];
        } else if (w->kind == K_BF16_DP || w->kind == K_BF16_AMX) { // activations rounded to bf16 as the kernels do
            for (int k = 0; k < w->in; k++) acc += (double)bf16_to_f32(bf16_from_f32(x[k])) * packed_at(w, o, k);
        } else {
            for (int k = 0; k < w->in; k++) acc += (double)x[k] * packed_at(w, o, k);
        }
        yi[o] = (float)(acc + (j->bias ? j->bias[o] : 0));
    }
    free(q);
    t_act_apply(j->act, yi, (size_t)w->out);
}

void t_gemm_ref(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                t_act act)
{
    struct ref_job j = {y, x, bias, w, ldy, ldx, act};
    pool_for(p, n, ref_row, &j);
}

/* ---------------------------------------------------------------- self-check */

// One odd-sized GEMM in precision prec, with bias and an activation, on path q
// with extensions ext against t_gemm_ref: 1 if the normalised squared error is within float noise.
static int check_prec(t_path q, t_prec prec, unsigned ext)
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
    if (pack_rows(1, &wp, &src, &rows, IN, prec, q, ext, &pw) < 0) goto out;
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
    return check_prec(q, T_PREC_F32, 0) && check_prec(q, T_PREC_BF16, 0) && check_prec(q, T_PREC_INT8, 0);
}

static int ext_ok(unsigned e)
{
    return check_prec(T_PATH_AVX512, e == T_EXT_VNNI ? T_PREC_INT8 : T_PREC_BF16, e);
}

// Which bf16 kernel runs here, timed once on one thread: a 192 x 768 -> 768
// product (four images' worth of ViT-B/32 rows), best of three each, in turn,
// about 20 ms in all. CPUID says only that an instruction exists, not how fast
// it runs: Zen 5 retires two VDPBF16PS a cycle, twice fp32's rate, while an
// Intel Xeon (family 6, model 207) ran it at 82-89 GFLOP/s against 122-131
// for widening to fp32 FMAs (and has AMX tiles, far faster than both). The
// fastest of AMX and VDPBF16PS is kept only when it beats widening by 1.2x,
// so noise cannot flip a close call from one start to the next. Returns ext
// without the bf16 extensions not chosen.
static unsigned bf16_pick(unsigned ext)
{
    enum { N = 192, IN = 768, OUT = 768, RUNS = 3 };
    static const unsigned cand[4] = {0, T_EXT_BF16, T_EXT_AMX, T_EXT_VNNI}; // 0: widening; 3: int8
    const char *force = getenv("LISA_GEMM_BF16");                           // widen, dp or amx: skip the timing
    if (force && !strcmp(force, "widen")) return ext & ~(T_EXT_BF16 | T_EXT_AMX);
    if (force && !strcmp(force, "dp")) return ext & ~T_EXT_AMX;
    if (force && !strcmp(force, "amx")) return ext;
    float *w = malloc(sizeof(float) * OUT * IN), *x = malloc(sizeof(float) * N * IN);
    float *y = malloc(sizeof(float) * N * OUT);
    t_packed *pk[4] = {NULL, NULL, NULL, NULL};
    const void *wp = w;
    t_src src = T_SRC_F32;
    int rows = OUT;
    uint32_t s = 777;
    double best[4] = {1e9, 1e9, 1e9, 1e9};
    if (!w || !x || !y) goto out; // keep what CPUID allows
    for (int i = 0; i < OUT * IN; i++) w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < N * IN; i++) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int c = 0; c < 4; c++)
        if ((c == 0 || (ext & cand[c])) &&
            pack_rows(1, &wp, &src, &rows, IN, c == 3 ? T_PREC_INT8 : T_PREC_BF16, T_PATH_AVX512, cand[c], &pk[c]) < 0)
            goto out;
    for (int r = 0; r < RUNS; r++)
        for (int c = 0; c < 4; c++) {
            if (!pk[c]) continue;
            double t0 = mono_s();
            gemm_run(NULL, y, OUT, x, IN, pk[c], NULL, N, T_ACT_NONE);
            double dt = mono_s() - t0;
            if (dt < best[c]) best[c] = dt;
        }
    int pick = best[2] <= best[1] ? 2 : 1;
    if (best[pick] * 1.2 > best[0]) pick = 0;
    // int8 on VNNI is the faster precision when it beats the chosen bf16
    // kernel by the same 1.2x margin (t_gemm_int8_faster).
    g_int8_faster = pk[3] && best[3] * 1.2 <= best[pick];
    double gf = 2.0 * N * IN * OUT * 1e-9;
    log_debug("gemm: GFLOP/s on one thread: bf16 widened %.0f, VDPBF16PS %.0f, AMX %.0f: using %s; int8 VNNI %.0f",
              gf / best[0], pk[1] ? gf / best[1] : 0.0, pk[2] ? gf / best[2] : 0.0,
              pick == 2   ? "amx_bf16"
              : pick == 1 ? "avx512_bf16"
                          : "the widening kernel",
              pk[3] ? gf / best[3] : 0.0);
    unsigned had = ext; // AMX keeps VDPBF16PS only if it passed its own self-check
    ext &= ~(T_EXT_BF16 | T_EXT_AMX);
    ext |= pick == 2 ? T_EXT_AMX | (had & T_EXT_BF16) : pick == 1 ? T_EXT_BF16 : 0;
out:
    for (int c = 0; c < 4; c++) t_packed_free(pk[c]);
    free(w), free(x), free(y);
    lisa_clearerr();
    return ext;
}
