// Packed GEMM: y (n, out) = act(x (n, in) . W^T + bias), where W is a torch
// Linear weight (out, in), row-major, as a checkpoint stores it.
//
// W is packed once (t_pack) into the micro-kernel's panel layout, in fp32 or
// bf16; the packed copy is all a model needs to keep (the source may be an
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
// LISA_GEMM_KC (8..512) and LISA_GEMM_L2 (bytes) override them for tuning.
//
// Packed layout: columns in panels of NR (16 or 32, per path); panel p holds
// W[p*NR + j][k] at [p][k][j], zero-padded past `out`. bf16 packs the same
// layout in 16-bit words (round to nearest even); the kernels widen one k
// slice of a panel into L1 and run the fp32 micro-kernel on it, so bf16 halves
// memory and weight traffic at fp32 arithmetic (no AVX512_BF16 instruction is
// used yet).
//
// Ownership: t_pack copies; the caller owns the t_packed and keeps it as long
// as it calls t_gemm on it. t_gemm allocates nothing (a 64 KiB thread-local
// buffer per thread widens bf16).
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

typedef enum { T_PREC_F32, T_PREC_BF16 } t_prec;
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

#endif
