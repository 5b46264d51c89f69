// BLIP image captioning: Hugging Face BlipForConditionalGeneration checkpoints
// (Salesforce/blip-image-captioning-base and -large) as they are on the hub:
// config.json (BlipConfig), model.safetensors in F32/F16/BF16 or a sharded
// model.safetensors.index.json + shards (model/checkpoint.h),
// preprocessor_config.json (BlipImageProcessor) and vocab.txt or tokenizer.json.
//
// The model (see tools/caption/blip_reference.py for the exact semantics):
//   vision   ViT: conv patch embedding (with bias), class token, position
//            embedding; pre-LN blocks with a fused qkv Linear; post_layernorm
//            over every row = image_embeds (n_tokens, vision hidden);
//   decoder  BERT, post-LN: embeddings + LayerNorm; per layer causal
//            self-attention (KV cache), cross-attention to image_embeds (its K/V
//            computed once per image), FFN; LM head transform + LayerNorm +
//            decoder (its own weight, or the word embeddings when the
//            checkpoint stores none) with its bias.
//   generate HF's generate() for this model: ids start with bos [DEC] 30522,
//            then the prompt's tokens; eos [SEP] 102, pad 0; max_length counts
//            bos and prompt. Greedy or beam search as transformers >= 4.50 does
//            it (details in caption.c), repetition_penalty, min_length,
//            length_penalty, early_stopping False.
//
// Weights: every Linear is packed once at load for the GEMM of tensor/gemm.h
// (the vision tower's blocks are tensor/vit.h's, shared with CLIP and SigLIP),
// in fp32 or bf16 (cap_load_prec); the packed copy is the only resident one,
// the mmapped checkpoint stays the source (the word-embedding rows are read
// from it as tokens come). Arithmetic is float32. A cap_model is immutable
// weights plus a pool and scratch; calls lock the model, so it may be shared
// by threads (serialized).
#ifndef LISA_CAPTION_H
#define LISA_CAPTION_H

#include "image/image.h"
#include "image/preprocess.h"

#include <stdint.h>

typedef struct cap_model cap_model;

#define CAP_MAX_BEAMS 16
#define CAP_MAX_LENGTH 512 // ids per caption, bos and prompt included
#define CAP_BOS 30522
#define CAP_EOS 102

typedef struct {
    int hidden, intermediate, heads, layers;
    float eps;
    int act; // cfg_act (model/config.h)
} cap_tower;

typedef struct {
    cap_tower vision, text;
    int image_size, patch_size, num_channels;
    int vocab_size, max_positions;
    int bos_token_id, sep_token_id, pad_token_id;
} cap_config;

typedef struct {
    int num_beams;            // 1: greedy
    int max_length;           // total ids (HF max_length), default 20
    int min_length;           // eos is banned while the sequence is shorter; default 0
    float repetition_penalty; // default 1 (off)
    float length_penalty;     // beam scores / generated_len^length_penalty; default 1
} cap_opts;

// HF's defaults: greedy, max_length 20, min_length 0, penalties 1.
void cap_opts_default(cap_opts *o);

// Reads a BlipConfig config.json into *c (missing keys take BlipTextConfig /
// BlipVisionConfig defaults). Errors name the file and key.
int cap_config_load(const char *path, cap_config *c);

// Loads the model in dir. config.json, the weights, and a tokenizer (vocab.txt
// or tokenizer.json) are required; preprocessor_config.json is optional (the
// BlipImageProcessor defaults at the model's image_size). threads <= 0: one per
// CPU. The caller owns *out and frees it with cap_free(). Errors name the file
// and tensor: "model.safetensors: text_decoder.bert.embeddings.word_embeddings.weight:
// expected [30524, 768], found [30000, 768]".
int cap_load(const char *dir, int threads, cap_model **out);

// Loads the installed default captioner (MODELDIR_DEFAULT_CAPTION, found as
// modeldir_resolve does under data_dir). LISA_ENOTFOUND when it is not
// installed (the message names the command that installs it); other codes
// when it is there but does not load (the message names the file).
int cap_load_default(const char *data_dir, int threads, cap_model **out);

// Weight precision. AUTO: cap_set_precision's choice, else LISA_PRECISION
// (fp32 | bf16 | int8), else bf16 for a BF16 checkpoint (exact) and fp32 for
// F32 / F16 ones. bf16 halves the resident weights (blip-image-captioning-base:
// ~450 MiB against ~900 MiB); int8 (per-output-channel weights, activations
// quantised per row, as for CLIP) halves them again, and the decoder's steps,
// which stream every weight once, with them.
enum { CAP_PREC_AUTO = -1, CAP_PREC_FP32 = 0, CAP_PREC_BF16 = 1, CAP_PREC_INT8 = 2 };
int cap_load_prec(const char *dir, int threads, int prec, cap_model **out);

// Sets the precision AUTO resolves to for later loads (the settings layer calls
// it with `precision =` / --precision); CAP_PREC_AUTO clears it.
void cap_set_precision(int prec);

// The precision m runs in ("fp32", "bf16", "int8") and the bytes of its packed weights.
const char *cap_precision(const cap_model *m);
size_t cap_weight_bytes(const cap_model *m);

// Frees the model. cap_free(NULL) is a no-op.
void cap_free(cap_model *m);

// The configuration and the image preprocessing (resize to image_size x
// image_size, no crop), both owned by m.
const cap_config *cap_cfg(const cap_model *m);
const prep_cfg *cap_prep(const cap_model *m);

// Number of image tokens (patches + 1): the rows of image_embeds.
int cap_image_tokens(const cap_model *m);

// image_embeds of one preprocessed image (C, S, S floats, HF pixel_values) into
// out (cap_image_tokens x vision hidden floats, caller-owned).
int cap_vision(cap_model *m, const float *pixels, float *out);

// Next-token logits (vocab_size floats into out, caller-owned) after the n ids
// (1 <= n <= max_positions) given image_embeds (from cap_vision()).
int cap_logits(cap_model *m, const float *image_embeds, const int32_t *ids, int n, float *out);

// Tokenizes a prompt ("a picture of") into the ids generate() puts after bos:
// the processor's ids without [CLS] and the final [SEP]. ids is the caller's
// buffer of cap entries; *n gets the count. An empty prompt gives none.
int cap_prompt_ids(const cap_model *m, const char *prompt, int32_t *ids, int cap, int *n);

// Generates a caption for image_embeds: ids (caller's buffer of cap >=
// o->max_length entries) gets what HF's generate returns, bos, the prompt, the
// new tokens and the final [SEP] if one was generated; *n the count.
int cap_generate(cap_model *m, const float *image_embeds, const int32_t *prompt, int nprompt, const cap_opts *o,
                 int32_t *ids, int cap, int *n);

// BlipProcessor.decode(ids, skip_special_tokens=True) into a malloc'd string
// the caller frees.
int cap_decode(const cap_model *m, const int32_t *ids, int n, char **text);

// Where the time of the last cap_vision() and cap_generate() went (ms), and
// the decoder steps run (prompt included).
typedef struct {
    double vision_ms, cross_kv_ms, decode_ms;
    int steps;
} cap_timing;
cap_timing cap_last_timing(cap_model *m);

// The whole pipeline for one decoded image: preprocess, vision, generate,
// decode. ids as for cap_generate(); *text is malloc'd (caller frees); either
// of ids / text may be NULL when not wanted. prompt may be NULL.
int cap_caption(cap_model *m, const img_t *img, const char *prompt, const cap_opts *o, int32_t *ids, int cap, int *n,
                char **text);

#endif
