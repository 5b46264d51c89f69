// Packing a checkpoint's Linear weights for tensor/gemm.h, and the weights of
// one shared transformer block (tensor/vit.h) under the names CLIP, SigLIP and
// BLIP's vision tower give them.
//
// The packed copy is the resident one: after packing, the whole pages of the
// mapped source are returned to the kernel (madvise DONTNEED; the map stays
// valid and refaults from the file if anything reads it), so a bf16 checkpoint
// packed as bf16 costs its size once, not three times (map + fp32 + packed).
// Vectors (biases, layer norms) come from ckpt_get_f32 (a view of F32 data, or
// a converted copy owned by the checkpoint).
#ifndef LISA_MODEL_VITLOAD_H
#define LISA_MODEL_VITLOAD_H

#include "model/checkpoint.h"
#include "tensor/gemm.h"
#include "tensor/vit.h"

// The tensor name of shape (d0, d1) (d2 > 0: a conv (d0, d1, d2, d2)) in a
// dtype we pack (F32, F16, BF16). Mismatches get ckpt_get_f32's message
// ("model.safetensors: x.weight: expected [768, 768], found [512, 768]").
// *out is owned by ck.
int vl_raw(ckpt *ck, const char *name, int64_t d0, int64_t d1, int64_t d2, const st_tensor **out);

// The gemm.h source type of a tensor vl_raw accepted.
t_src vl_src(const st_tensor *t);

// Returns the whole pages of t's mapped data to the kernel (see above).
void vl_drop_pages(const st_tensor *t);

// Packs the vertical stack of nparts tensors names[i], each (rows[i], in)
// (conv_p > 0: a (rows, in / (conv_p^2), conv_p, conv_p) conv weight), in
// precision prec into *out (the caller frees it with t_packed_free), then
// drops the sources' pages.
int vl_pack(ckpt *ck, int nparts, const char *const *names, const int *rows, int in, int conv_p, t_prec prec,
            t_packed **out);

// One block's weights under prefix (e.g. "vision_model.encoder.layers.3."):
// layer_norm1, the attention (fused: self_attn.qkv.{weight,bias}, BLIP; else
// self_attn.{q,k,v}_proj, CLIP and SigLIP), its output projection
// self_attn.<oname>.{weight,bias}, layer_norm2, mlp.fc1, mlp.fc2. Tensors are
// checked in checkpoint order, so the first bad one is the one named. On
// failure *l holds what was loaded (vit_layer_free releases it).
int vl_layer(ckpt *ck, const char *prefix, int fused, const char *oname, int d, int ff, t_prec prec, vit_layer *l);

#endif
