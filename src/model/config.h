// Hugging Face config.json of a CLIPModel or a SiglipModel: the text and vision
// tower shapes.
//
// Keys missing from text_config / vision_config take HF's CLIPTextConfig /
// CLIPVisionConfig defaults (text 512 wide, 8 heads, 12 layers; vision 768,
// 12 heads, 12 layers, 224 px, patch 32; quick_gelu; eps 1e-5), or for
// model_type "siglip" SiglipTextConfig / SiglipVisionConfig's (both 768 wide,
// 12 heads, 12 layers, 3072 MLP; vocab 32000, 64 positions; 224 px, patch 16;
// gelu_pytorch_tanh; eps 1e-6), and projection_dim is text_config's
// projection_size (default: the text width).
#ifndef LISA_MODEL_CONFIG_H
#define LISA_MODEL_CONFIG_H

typedef enum {
    ACT_QUICK_GELU, // x * sigmoid(1.702 x)
    ACT_GELU,       // exact, with erf
    ACT_GELU_TANH,  // gelu_new / gelu_pytorch_tanh / gelu_fast
} cfg_act;

typedef struct {
    int hidden;       // width d
    int intermediate; // MLP width
    int heads;        // d % heads == 0
    int layers;
    float eps; // layer_norm_eps
    cfg_act act;
} cfg_tower;

typedef struct {
    cfg_tower text, vision;
    int projection_dim;
    int vocab_size;
    int max_positions; // text max_position_embeddings (77)
    int eos_token_id;  // 2 means the legacy rule: EOS is at argmax(ids)
    int image_size;    // square input side in pixels
    int patch_size;
    int num_channels;
    int siglip; // 1: model_type "siglip" (SiglipModel), 0: "clip"
} clip_config;

// Reads path (a CLIPModel config.json) into *c. Errors name the file and key,
// e.g. "config.json: vision_config.patch_size: 224 is not a multiple of 17".
int cfg_load(const char *path, clip_config *c);

// Same, from JSON text (len bytes); name labels errors.
int cfg_parse(const char *json, unsigned long len, const char *name, clip_config *c);

// Fills *c with HF's defaults (openai/clip-vit-base-patch32 shapes, eos 49407).
void cfg_default(clip_config *c);

// Fills *c with HF's SiglipConfig defaults (google/siglip-base-patch16-224 shapes).
void cfg_default_siglip(clip_config *c);

const char *cfg_act_name(cfg_act a);

// The "layer_norm_eps" of one tower's JSON object into *out (absent: *out is
// kept). It must be a number in (0, 1) that stays positive as a float: 1e-92
// would become 0 and a constant row would normalise to NaN. Shared by every
// model family's config reader; errors name file and sect.
struct cJSON;
int cfg_read_eps(const struct cJSON *obj, const char *sect, float *out, const char *file);

#endif
