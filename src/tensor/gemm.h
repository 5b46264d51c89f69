// Packed GEMM: y (n, out) = act(x (n, in) . W^T + bias), where W is a torch
// Linear weight (out, in), row-major, as a checkpoint stores it.
//
// W is packed once (t_pack) into the micro-kernel's panel layout, in fp32,
// bf16 or int8; the packed copy is all a model needs to keep (the source may be an
// mmapped checkpoint tensor, released after packing). The kernel path is
// chosen once from CPUID feature bits (__builtin_cpu_supports):
//   "avx512f"   12 rows x 32 columns in zmm accumulators
//   "avx2+fma"  6 rows x 16 columns in ymm accumulators
//   "c"         portable C, 4 rows x 16 columns
// and t_gemm_ref, a plain scalar loop with the same signature. A panel's k
// slice stays in L1 while every row block of x passes over it; tiles (row
// blocks x column blocks) are spread over the pool.
// LISA_GEMM_PATH=c|avx2|avx512 in the environment restricts it (tests and
// benches use t_gemm_set_path). Blocking (k slice and row block) is sized from
// the L1/L2 sizes sysconf reports (32 KiB / 1 MiB when it reports none);
// LISA_GEMM_KC (8..512) and LISA_GEMM_L2 (bytes) override them for tuning
// (the bf16-pair and int8 kernels take k slices that fill L1 instead of half).
//
// Packed layout: columns in panels of NR (16 or 32, per path); panel p holds
// W[p*NR + j][k] at [p][k / G][j][k % G] with G consecutive k per column
// (k padded to a multiple of G, zero-padded past `out` and `in`):
//   fp32, G = 1: the fp32 micro-kernels above.
//   bf16 (round to nearest even), G = 1 where the CPU lacks AVX512_BF16: one
//     k slice of a panel is widened into L1 and the fp32 micro-kernel runs on
//     it (half the memory, fp32 arithmetic).
//   bf16, G = 2 with AVX512_BF16 ("avx512_bf16"): x is rounded to bf16 pairs
//     once per call and VDPBF16PS multiplies pairs into fp32 accumulators.
//   int8, G = 4: per-output-column symmetric int8, W[o] = scale[o] * q[o]
//     (|q| <= 127), plus sum_k q[o][k]. Each call quantises the rows of x
//     dynamically to u8 with a zero point (x ~ s_i * (u - z_i), the row's
//     [min, max] including 0 over 255 steps); VPDPBUSD (AVX512_VNNI,
//     "avx512_vnni") sums u8 x s8 quads exactly in int32; without VNNI the
//     same integer sums run on AVX2 with 16-bit VPMADDWD ("avx2_int8", also on
//     AVX-512 CPUs without VNNI) or in portable C ("c_int8"); the epilogue is
//     y = s_i * scale[o] * (acc - z_i * sum_k q[o][k]) + bias[o].
// t_gemm_ref reproduces each kind's rounding of x (bf16 pairs, u8 quantisation)
// and sums in double (int8: exactly in int64).
//
// Ownership: t_pack copies; the caller owns the t_packed and keeps it as long
// as it calls t_gemm on it. fp32 and widened bf16 allocate nothing in t_gemm
// (a 64 KiB thread-local buffer per thread widens bf16); the G = 2 and G = 4
// kinds allocate n rows of converted x per call (in smaller row chunks when
// memory is short).
//
// Every call may run concurrently from several threads on the same packed
// weight (it is read-only after t_pack).
//
// Using it for a model (one Linear layer, weight st (out, in) in a checkpoint):
//   at load:   t_packed *fc;
//              rc = t_pack(st->data, T_SRC_BF16, out, in, T_PREC_BF16, &fc); // then madvise the source away
//   forward:   t_gemm(pool, y, out, x, in, fc, bias, rows, T_ACT_GELU);     // y (rows, out), x (rows, in)
//   unload:    t_packed_free(fc);
// Fused projections: t_pack_rows(3, {q_w, k_w, v_w}, ...) gives 3d columns
// (q at 0, k at d, v at 2d); t_attention_head_ld (tensor.h) reads such a
// (rows, 3d) buffer with ld = 3d and needs one row of n scores of scratch per
// thread (BLIP's ViT-B/16 at 384: 577 tokens, 577 floats).
#ifndef LISA_TENSOR_GEMM_H
#define LISA_TENSOR_GEMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct pool pool;

typedef enum { T_PREC_F32, T_PREC_BF16, T_PREC_INT8 } t_prec;
typedef enum { T_SRC_F32, T_SRC_F16, T_SRC_BF16 } t_src; // element type of the source weight
typedef enum { T_ACT_NONE, T_ACT_GELU, T_ACT_GELU_TANH, T_ACT_QUICK_GELU } t_act;
typedef enum { T_PATH_C, T_PATH_AVX2, T_PATH_AVX512 } t_path;

typedef struct t_packed t_packed;

// Packs w (out, in) of element type src (raw little-endian words for F16/BF16)
// into precision prec for the current path (t_gemm_path). The caller owns *pw
// and frees it with t_packed_free(); w is not referenced afterwards.
// Returns 0, LISA_EINVAL for non-positive sizes, or LISA_ENOMEM.
int t_pack(const void *w, t_src src, int out, int in, t_prec prec, t_packed **pw);
void t_packed_free(t_packed *pw); // NULL is a no-op

// Packs the vertical concatenation of nparts weights, part i being rows[i] x in
// at w[i] of type src[i] (a fused QKV projection: out = sum of rows).
int t_pack_rows(int nparts, const void *const *w, const t_src *src, const int *rows, int in, t_prec prec,
                t_packed **pw);

// Packs an fp32 operand computed at run time (attention's K and V) for the
// current path into *pw, reusing *pw's memory when it is big enough (else it
// is freed and *pw replaced; NULL allocates). W[o][k] is w[o*ld + k], or with
// kmajor w[k*ld + o] (W stored transposed, as the right-hand matrix of
// y = x B). prec T_PREC_BF16 packs for the VDPBF16PS kernel where the CPU has
// it (t_gemm then rounds x to bf16 too), fp32 otherwise; T_PREC_F32 packs
// fp32. Returns 0, LISA_EINVAL or LISA_ENOMEM.
int t_pack_act(t_packed **pw, const float *w, size_t ld, int out, int in, int kmajor, t_prec prec);

int t_packed_out(const t_packed *pw);
int t_packed_in(const t_packed *pw);
t_prec t_packed_prec(const t_packed *pw);
size_t t_packed_bytes(const t_packed *pw); // resident bytes of the packed data

// y[i*ldy + o] = act(bias[o] + sum_k x[i*ldx + k] * W[o][k]) for i < n, o < out.
// bias may be NULL; ldx >= in, ldy >= out; y must not overlap x. p spreads row
// and column tiles over its threads (NULL or 1 thread: this thread only; p must
// not be busy, i.e. do not call from inside a pool_for on p).
void t_gemm(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
            t_act act);

// Scalar reference with the same signature and result (double accumulation).
void t_gemm_ref(pool *p, float *y, int ldy, const float *x, int ldx, const t_packed *w, const float *bias, int n,
                t_act act);

// Applies act to n values in place (the epilogue's activation).
void t_act_apply(t_act act, float *x, size_t n);

// The path in use, and whether this CPU can run path q.
t_path t_gemm_path(void);
int t_gemm_path_supported(t_path q);
const char *t_gemm_path_name(t_path q); // "c", "avx2+fma", "avx512f"

// Selects path q for later t_pack calls (a weight remembers the path it was
// packed for and always runs on it). Returns 0, or LISA_EINVAL when the CPU
// lacks q.
int t_gemm_set_path(t_path q);

// Instruction-set extensions the AVX-512 path may use for reduced precision.
// gemm_init enables those the CPU has (and whose kernels agree with the
// scalar reference); LISA_GEMM_NO_EXT=1 in the environment disables them.
// T_EXT_AMX is AMX-BF16 tiles (TDPBF16PS), usable once the kernel grants this
// process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM).
enum { T_EXT_BF16 = 1, T_EXT_VNNI = 2, T_EXT_AMX = 4, T_EXT_ALL = 7 };
int t_gemm_ext_supported(unsigned e); // 1 if the CPU (and OS) has AVX-512F and extension e
unsigned t_gemm_ext(void);            // the extensions later t_pack calls use (0 off the AVX-512 path)
// 1 when the int8 kernel is VNNI and, timed at start on a 192 x 768 -> 768
// probe, ran at least 1.2x as fast as the bf16 kernel chosen (0 when
// LISA_GEMM_BF16 skipped the timing).
int t_gemm_int8_faster(void);
int t_gemm_set_ext(unsigned mask); // 0, or LISA_EINVAL when the CPU lacks one in mask

// The kernel a t_pack in prec would use now, and the kernel of a packed
// weight: "avx512f", "avx2+fma", "c" (fp32 arithmetic, bf16 widened), or
// "amx_bf16", "avx512_bf16", "avx512_vnni", "avx2_int8", "c_int8".
const char *t_gemm_kernel_name(t_prec prec);
const char *t_packed_kernel(const t_packed *pw);

#endif
