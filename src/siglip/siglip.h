// SigLIP inference: text and image embeddings from a Hugging Face SiglipModel
// directory (config.json with model_type "siglip", model.safetensors in
// F32/F16/BF16 or a sharded index, tokenizer.json, preprocessor_config.json):
// google/siglip-base-patch16-224 and the fixed-resolution SigLIP 2 checkpoints
// (google/siglip2-base-patch16-224, -large-patch16-256, ...), which load as
// SiglipModel.
//
// What differs from CLIP (modeling_siglip.py):
//   text    no causal mask; every position of the padded sequence is attended
//           (SiglipProcessor passes no attention mask); pooled at the LAST
//           position after final_layer_norm, then `head` (a Linear with bias);
//   vision  patch conv with bias, no class token, no pre-layernorm; after
//           post_layernorm a multi-head attention-pooling head: one learned
//           `probe` query attends over all patches (fused in_proj, out_proj),
//           then x + mlp(layernorm(x));
//   logits  cos * exp(logit_scale) + logit_bias, and sigmoid of that is the
//           calibrated probability that text and image match.
// Outputs are L2-normalised embeddings of siglip_dim() floats (HF's
// text_embeds / image_embeds).
//
// A siglip_model is immutable weights plus scratch and a thread pool; the embed
// calls lock the model, so one model may be shared by threads.
#ifndef LISA_SIGLIP_H
#define LISA_SIGLIP_H

#include "image/preprocess.h"
#include "model/config.h"
#include "tensor/gemm.h"

#include <stdint.h>

typedef struct siglip_model siglip_model;

#define SIGLIP_MAX_BATCH_CHUNK 16 // images per forward pass; larger batches loop
#define SIGLIP_MAX_POSITIONS 1024 // text positions accepted (64 in every checkpoint)

// Loads the SiglipModel in dir. config.json and the weights are required;
// the tokenizer (tokenizer.json: SigLIP 2's Gemma, gemma.h; else spiece.model:
// SigLIP 1's SentencePiece, spiece.h) and preprocessor_config.json are optional (without them
// siglip_embed_text_str reports ENOTFOUND; preprocessing defaults to
// SiglipImageProcessor's: square bicubic resize to image_size, no crop,
// mean = std = 0.5). threads <= 0: one per CPU. The caller owns *out and frees
// it with siglip_free(). Errors name the file and the tensor.
int siglip_load(const char *dir, int threads, siglip_model **out);
// The same with the encoder layers' GEMM weights packed in prec (T_PREC_F32,
// T_PREC_BF16 or T_PREC_INT8; tensor/gemm.h); siglip_load is T_PREC_F32. The
// patch embedding and the pooling head stay fp32 (a few percent of the work).
int siglip_load_prec(const char *dir, int threads, t_prec prec, siglip_model **out);

// Frees the model. siglip_free(NULL) is a no-op.
void siglip_free(siglip_model *m);

// Embedding width, configuration and preprocessing (owned by m).
int siglip_dim(const siglip_model *m);
const clip_config *siglip_cfg(const siglip_model *m);
const prep_cfg *siglip_prep(const siglip_model *m);
int siglip_has_tokenizer(const siglip_model *m);

// exp(logit_scale) and logit_bias of the checkpoint.
void siglip_logit_params(const siglip_model *m, float *scale, float *bias);

// sigmoid(cos * exp(logit_scale) + logit_bias): the model's probability that a
// text and an image whose embeddings have cosine cos match.
float siglip_prob(const siglip_model *m, float cos);

// Embeds ids exactly as given (n of them, 1 <= n <= max_position_embeddings),
// pooled at row n-1, into out (siglip_dim floats, caller-owned). To match the
// checkpoints' training, pass the processor's row: padded to max_length.
int siglip_embed_text(siglip_model *m, const int32_t *ids, int n, float *out);

// Tokenizes text (NUL-terminated UTF-8) with the model's tokenizer, pads it to
// max_position_embeddings as SiglipProcessor(padding="max_length") does, and
// embeds it into out (siglip_dim floats, caller-owned).
int siglip_embed_text_str(siglip_model *m, const char *text, float *out);

// The padded row siglip_embed_text_str embeds: ids has room for cap >=
// max_position_embeddings entries, *n gets max_position_embeddings.
int siglip_tokenize(const siglip_model *m, const char *text, int32_t *ids, int cap, int *n);

// Embeds batch preprocessed images, (batch, C, S, S) floats with S =
// image_size, into out (batch x siglip_dim, caller-owned).
int siglip_embed_images(siglip_model *m, const float *pixels, int batch, float *out);

#endif
