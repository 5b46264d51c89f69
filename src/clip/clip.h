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
// the pool and OpenBLAS. The caller owns *out and frees it with clip_free().
// Errors name the file and tensor: "model.safetensors: vision_model.post_layernorm.weight:
// expected [768], found [512]".
int clip_load(const char *dir, int threads, clip_model **out);

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
int clip_embed_images(clip_model *m, const float *pixels, int batch, float *out);

#endif
