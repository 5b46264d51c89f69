// The pre-LN transformer block that CLIP's two towers, SigLIP's two towers and
// BLIP's vision tower share (HF CLIPEncoderLayer, SiglipEncoderLayer,
// BlipEncoderLayer):
//   x += o(attention(qkv(ln1(x))));  x += fc2(act(fc1(ln2(x))))
// on the packed GEMM of tensor/gemm.h: one fused QKV GEMM (3d columns: q at 0,
// k at d, v at 2d), the activation in fc1's epilogue, attention per (sequence,
// head) spread over the pool. The models differ only in their weight names
// (model/vitload.h packs them) and in what comes before and after the blocks.
//
// Ownership: a vit_layer owns its packed weights and qkv_b; its other vectors
// point into the checkpoint (valid while it is open). A vit_state is scratch
// for one forward pass at a time (llama2.c RunState), separate from the
// immutable layers, so one model may run several states on several threads.
#ifndef LISA_TENSOR_VIT_H
#define LISA_TENSOR_VIT_H

#include "tensor/gemm.h"

#include <stddef.h>

typedef struct pool pool;

typedef struct {
    int hidden, intermediate, heads; // d, ffn, heads (d % heads == 0)
    float eps;                       // layer norm epsilon
    t_act act;                       // the MLP's activation
} vit_dims;

typedef struct {
    const float *ln1_w, *ln1_b; // (d)
    t_packed *qkv;              // (3d, d): q, k, v stacked
    float *qkv_b;               // (3d), owned
    t_packed *o;                // (d, d)
    const float *o_b;           // (d)
    const float *ln2_w, *ln2_b; // (d)
    t_packed *fc1, *fc2;        // (ffn, d), (d, ffn)
    const float *fc1_b, *fc2_b; // (ffn), (d)
} vit_layer;

// Frees what l owns (its packed weights and qkv_b) and zeroes it; NULL-safe fields.
void vit_layer_free(vit_layer *l);

// Resident bytes of l's packed weights.
size_t vit_layer_bytes(const vit_layer *l);

// Scratch: capacities in floats.
typedef struct {
    size_t cap_act, cap_mlp, cap_scores, per_thread;
    float *x, *h, *att; // (rows, d) each; x is the residual stream, the caller's input and output
    float *qkv;         // (rows, 3d)
    float *mlp;         // (rows, ffn)
    float *scores;      // (threads, per_thread): attention scratch, n * min(n, VIT_ATTN_ROWS) per thread
    t_packed **kv;      // (threads, 2): each thread's packings of one head's K and V, reused
    int kv_threads;
} vit_state;

// Sequences of at least this many tokens run attention as two GEMMs per head
// (in bf16 on VDPBF16PS where the CPU has it and the block's weights are bf16
// or int8: q, k, v and the probabilities are rounded to bf16).
#define VIT_GEMM_ATTN_MIN 32
// Query rows per block of scores in that path.
#define VIT_ATTN_ROWS 48

// Makes room for act floats in x, h and att (3 * act in qkv), mlp in the MLP
// buffer and the attention scratch of `threads` threads for sequences of n
// tokens. Contents survive only when nothing grows. On failure
// everything is released and LISA_ENOMEM returned (the message names `who`).
int vit_reserve(vit_state *s, int threads, size_t act, size_t mlp, int n, const char *who);
void vit_release(vit_state *s); // frees the buffers; the state may be reserved again

// One block over nseq sequences of n tokens in s->x ((nseq * n, d), updated in
// place); causal: token i attends to tokens 0..i. GEMMs split over p (NULL:
// this thread only; then one thread's scratch is enough, else pool_size(p)).
void vit_block(vit_state *s, pool *p, const vit_dims *c, const vit_layer *l, int nseq, int n, int causal);

// Attention of one query row q (heads * hd = d floats) to n keys and values
// (rows of stride ld, head h at columns h*hd) into out (d); scratch holds n
// floats. A decoder step, or a pooling probe.
void vit_attend_one(float *out, const float *q, const float *k, const float *v, int ld, int n, int heads, int d,
                    float *scratch);

// Unfolds one (C, S, S) image into (g*g, C*p*p) patch rows ordered (c, ky, kx)
// like a conv weight (d, C, p, p), so a patch embedding is one GEMM (g = S / p).
void vit_unfold(const float *img, int C, int S, int p, float *dst);

#endif
