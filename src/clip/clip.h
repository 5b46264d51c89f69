// CLIP inference: text and image embeddings from a Hugging Face CLIPModel
// directory (config.json, model.safetensors in F32/F16/BF16 or a sharded
// model.safetensors.index.json + shards (model/checkpoint.h), tokenizer.json,
// preprocessor_config.json), any ViT configuration (patch 14/16/32, image
// 224/336, any widths, heads and layers).
//
// A clip_model is the immutable weights (mmapped, or converted to F32 once at
// load) plus scratch state and a thread pool. The embed calls lock the model,
// so one model may be shared by threads; calls are serialized.
//
// Outputs are L2-normalised embeddings of clip_dim() floats (projection_dim),
// equal to HF's text_embeds / image_embeds.
//
// A SiglipModel directory (config.json model_type "siglip") loads here too:
// every call is then forwarded to src/siglip (siglip.h), so the indexer, search
// and the CLI take either family; clip_siglip() gives the SigLIP model for what
// only SigLIP has (the calibrated probability).
#ifndef LISA_CLIP_H
#define LISA_CLIP_H

#include "image/preprocess.h"
#include "model/config.h"

#include <stdint.h>

typedef struct clip_model clip_model;
typedef struct siglip_model siglip_model;

#define CLIP_MAX_BATCH_CHUNK 16 // images per forward pass; larger batches loop

// Loads the model in dir. config.json and the weights (model.safetensors, or
// the index and its shards) are required;
// tokenizer.json (or vocab.json + merges.txt) and preprocessor_config.json are
// optional (without them clip_embed_text_str / clip_prep report ENOTFOUND and the
// default CLIP preprocessing is used). threads <= 0 means one per CPU; it sizes
// the pool. Weights are packed for the GEMM kernels at load (tensor/gemm.h),
// in LISA_PRECISION's precision (fp32 or bf16) or the default. The caller owns *out and frees it with clip_free().
// Errors name the file and tensor: "model.safetensors: vision_model.post_layernorm.weight:
// expected [768], found [512]".
int clip_load(const char *dir, int threads, clip_model **out);

// Weight precision: fp32; bf16 (weights packed as bf16 whatever the
// checkpoint's dtype; VDPBF16PS on bf16 activations where the CPU has
// AVX512_BF16, else widened to fp32 arithmetic); int8 (per-output-channel
// int8 weights, per-row dynamic u8 activations, VPDPBUSD where the CPU has
// AVX512_VNNI). See tensor/gemm.h.
enum { CLIP_PREC_FP32 = 0, CLIP_PREC_BF16 = 1, CLIP_PREC_INT8 = 2 };

// The precision clip_load uses without LISA_PRECISION: the fastest that meets
// the accuracy bar on this CPU, from gemm's timing at start.
// - int8 where the VNNI kernel timed >= 1.2x the bf16 one (t_gemm_int8_faster;
//   Zen 5: ViT-B/32 at batch 8 51 images/s against bf16's 31-34). On random
//   full-size ViT-B/32 its cosine to fp32 is >= 0.9998 (images) / 0.9997
//   (text), bar 0.995.
// - else bf16 on the AVX-512 path, on the bf16 kernel gemm timed fastest: AMX
//   tiles (Intel Xeon family 6 model 207: 2.7x fp32 at batch 8), VDPBF16PS, or
//   bf16 weights widened to fp32 FMAs; cosine >= 0.99998 / 0.99997, bar 0.999.
// - else fp32 (AVX2 widening and the AVX2 int8 kernel were not measured faster).
// Random weights lack the outlier activations real checkpoints have, which
// per-row activation scales handle worst: `precision = bf16` keeps bf16. See
// docs/precision.md.
int clip_default_precision(void);

// "fp32" / "bf16" / "int8" -> *prec; errors name the accepted values.
int clip_parse_precision(const char *name, int *prec);
const char *clip_precision_name(int prec);

// clip_load with an explicit precision (clip_load uses clip_set_precision's,
// else LISA_PRECISION's, else the default). clip_set_precision sets it for the
// process (the settings layer calls it for `precision =`, LISA_PRECISION and
// --precision); call it before models are loaded, not concurrently with it.
void clip_set_precision(int prec);

// The name of the precision clip_load would use now ("fp32", "bf16"; "invalid"
// for a bad LISA_PRECISION).
const char *clip_load_precision(void);
int clip_load_prec(const char *dir, int threads, int prec, clip_model **out);

// The precision m runs in ("fp32", "bf16", "int8"), the GEMM kernel
// ("avx512f", "avx2+fma", "c", "avx512_bf16", "avx512_vnni", "c_int8") and the resident bytes of m's packed weights.
const char *clip_precision(const clip_model *m);
const char *clip_kernel_path(void);                 // the kernel for the precision clip_load would use now
const char *clip_model_kernel(const clip_model *m); // the kernel m's GEMMs run on
size_t clip_weight_bytes(const clip_model *m);

// Frees the model, its map and its scratch. clip_free(NULL) is a no-op.
void clip_free(clip_model *m);

// Embedding width (projection_dim) and the configuration (owned by m).
int clip_dim(const clip_model *m);
const clip_config *clip_cfg(const clip_model *m);

// The image preprocessing of this model (from preprocessor_config.json, else the
// defaults with the crop set to the model's image_size). Owned by m.
const prep_cfg *clip_prep(const clip_model *m);

// 1 when a tokenizer was found in the model dir.
int clip_has_tokenizer(const clip_model *m);

// The SigLIP model behind m (owned by m), or NULL for a CLIPModel.
siglip_model *clip_siglip(const clip_model *m);

// Embeds one tokenized text: ids (n of them, BOS ... EOS, no padding needed,
// n <= max_position_embeddings) into out (clip_dim floats, caller-owned).
// The pooled row is HF's: with eos_token_id == 2 (legacy configs) the position of
// the largest id, else the first id equal to eos_token_id (position 0 if none).
// Only tokens up to that row are computed: with the causal mask, later ones
// cannot change it.
int clip_embed_text(clip_model *m, const int32_t *ids, int n, float *out);

// Tokenizes text (NUL-terminated UTF-8) with the model's tokenizer (truncated
// to the context) and embeds it into out (clip_dim floats, caller-owned).
int clip_embed_text_str(clip_model *m, const char *text, float *out);

// Embeds batch images given as preprocessed pixels, (batch, C, S, S) floats with
// S = image_size (HF pixel_values), into out (batch x clip_dim, caller-owned).
// An error on a pool thread comes back with its own message (lisa_errmsg()
// on the caller's thread).
int clip_embed_images(clip_model *m, const float *pixels, int batch, float *out);

// Fault injection for tests only: image groups on this pool thread id fail
// with LISA_ENOMEM in clip_embed_images(). -1 (the default): none.
extern int clip__fault_tid;

#endif
