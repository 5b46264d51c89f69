#include "model/config.h"
#include "base/err.h"
#include "base/file.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_BYTES (4u << 20)
#define CFG_MAX_DIM 65536
#define CFG_MAX_LAYERS 1024

void cfg_default(clip_config *c)
{
    *c = (clip_config){
        .text = {.hidden = 512, .intermediate = 2048, .heads = 8, .layers = 12, .eps = 1e-5f, .act = ACT_QUICK_GELU},
        .vision = {.hidden = 768, .intermediate = 3072, .heads = 12, .layers = 12, .eps = 1e-5f, .act = ACT_QUICK_GELU},
        .projection_dim = 512,
        .vocab_size = 49408,
        .max_positions = 77,
        .eos_token_id = 49407,
        .image_size = 224,
        .patch_size = 32,
        .num_channels = 3,
    };
}

void cfg_default_siglip(clip_config *c)
{
    cfg_tower t = {.hidden = 768, .intermediate = 3072, .heads = 12, .layers = 12, .eps = 1e-6f, .act = ACT_GELU_TANH};
    *c = (clip_config){
        .text = t,
        .vision = t,
        .projection_dim = 768,
        .vocab_size = 32000,
        .max_positions = 64,
        .eos_token_id = 1,
        .image_size = 224,
        .patch_size = 16,
        .num_channels = 3,
        .siglip = 1,
    };
}

const char *cfg_act_name(cfg_act a)
{
    return a == ACT_GELU ? "gelu" : a == ACT_GELU_TANH ? "gelu_tanh" : "quick_gelu";
}

/* ---------------------------------------------------------------- key readers */

// An integer key in [lo, hi]; absent keeps *out.
static int get_int(const cJSON *obj, const char *sect, const char *key, int lo, int hi, int *out, const char *file)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < lo || d > hi)
        return lisa_seterr(LISA_EFORMAT, "%s: %s%s%s: expected an integer in [%d, %d]", file, sect, *sect ? "." : "",
                           key, lo, hi);
    *out = (int)d;
    return 0;
}

int cfg_read_eps(const cJSON *obj, const char *sect, float *out, const char *file)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "layer_norm_eps");
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= FLT_MIN && v->valuedouble < 1))
        return lisa_seterr(LISA_EFORMAT, "%s: %s.layer_norm_eps: expected a number in [%g, 1)", file, sect,
                           (double)FLT_MIN);
    *out = (float)v->valuedouble;
    return 0;
}

static int get_act(const cJSON *obj, const char *sect, cfg_act *out, const char *file)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "hidden_act");
    if (!v) return 0;
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (!strcmp(s, "quick_gelu"))
        *out = ACT_QUICK_GELU;
    else if (!strcmp(s, "gelu"))
        *out = ACT_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast"))
        *out = ACT_GELU_TANH;
    else
        return lisa_seterr(LISA_EUNSUPPORTED,
                           "%s: %s.hidden_act: \"%.40s\" is not quick_gelu, gelu, gelu_new or "
                           "gelu_pytorch_tanh",
                           file, sect, s);
    return 0;
}

static int get_tower(const cJSON *obj, const char *sect, cfg_tower *t, const char *file)
{
    int rc;
    if ((rc = get_int(obj, sect, "hidden_size", 1, CFG_MAX_DIM, &t->hidden, file)) < 0 ||
        (rc = get_int(obj, sect, "intermediate_size", 1, 4 * CFG_MAX_DIM, &t->intermediate, file)) < 0 ||
        (rc = get_int(obj, sect, "num_attention_heads", 1, CFG_MAX_DIM, &t->heads, file)) < 0 ||
        (rc = get_int(obj, sect, "num_hidden_layers", 0, CFG_MAX_LAYERS, &t->layers, file)) < 0 ||
        (rc = cfg_read_eps(obj, sect, &t->eps, file)) < 0 || (rc = get_act(obj, sect, &t->act, file)) < 0)
        return rc;
    if (t->hidden % t->heads)
        return lisa_seterr(LISA_EFORMAT, "%s: %s.num_attention_heads: %d does not divide hidden_size %d", file, sect,
                           t->heads, t->hidden);
    return 0;
}

/* ---------------------------------------------------------------- parse */

static int parse_text(const cJSON *tc, clip_config *c, const char *file)
{
    const char *s = "text_config";
    int rc;
    if ((rc = get_tower(tc, s, &c->text, file)) < 0 ||
        (rc = get_int(tc, s, "vocab_size", 1, 1 << 24, &c->vocab_size, file)) < 0 ||
        (rc = get_int(tc, s, "max_position_embeddings", 1, 1 << 16, &c->max_positions, file)) < 0 ||
        (rc = get_int(tc, s, "eos_token_id", 0, (1 << 24) - 1, &c->eos_token_id, file)) < 0)
        return rc;
    if (c->eos_token_id >= c->vocab_size)
        return lisa_seterr(LISA_EFORMAT, "%s: text_config.eos_token_id: %d is outside the vocabulary (vocab_size %d)",
                           file, c->eos_token_id, c->vocab_size);
    if (c->siglip) { // SiglipTextModel's head: projection_size, default hidden_size
        c->projection_dim = c->text.hidden;
        if ((rc = get_int(tc, s, "projection_size", 1, CFG_MAX_DIM, &c->projection_dim, file)) < 0) return rc;
    }
    return 0;
}

static int parse_vision(const cJSON *vc, clip_config *c, const char *file)
{
    const char *s = "vision_config";
    int rc;
    if ((rc = get_tower(vc, s, &c->vision, file)) < 0 ||
        (rc = get_int(vc, s, "image_size", 1, 8192, &c->image_size, file)) < 0 ||
        (rc = get_int(vc, s, "patch_size", 1, 1024, &c->patch_size, file)) < 0 ||
        (rc = get_int(vc, s, "num_channels", 1, 16, &c->num_channels, file)) < 0)
        return rc;
    if (c->image_size % c->patch_size)
        return lisa_seterr(LISA_EFORMAT, "%s: vision_config.patch_size: %d does not divide image_size %d", file,
                           c->patch_size, c->image_size);
    return 0;
}

static int section(const cJSON *root, const char *key, const cJSON **out, const char *file)
{
    *out = cJSON_GetObjectItemCaseSensitive(root, key);
    if (*out && !cJSON_IsObject(*out) && !cJSON_IsNull(*out))
        return lisa_seterr(LISA_EFORMAT, "%s: %s: expected an object", file, key);
    if (*out && cJSON_IsNull(*out)) *out = NULL;
    return 0;
}

int cfg_parse(const char *json, unsigned long len, const char *name, clip_config *c)
{
    cfg_default(c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *tc, *vc;
    int rc;
    if (!root || !cJSON_IsObject(root)) {
        rc = lisa_seterr(LISA_EFORMAT, "%s: not a JSON object", name);
        goto out;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int siglip = cJSON_IsString(mt) && !strcmp(mt->valuestring, "siglip");
    siglip ? cfg_default_siglip(c) : cfg_default(c);
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "clip") && !siglip) {
        rc = lisa_seterr(LISA_EUNSUPPORTED, "%s: model_type: \"%.40s\" is not clip or siglip", name, mt->valuestring);
        goto out;
    }
    if ((rc = section(root, "text_config", &tc, name)) < 0 || (rc = section(root, "vision_config", &vc, name)) < 0)
        goto out;
    if (!siglip && (rc = get_int(root, "", "projection_dim", 1, CFG_MAX_DIM, &c->projection_dim, name)) < 0) goto out;
    // Sub-configs may carry their own projection_dim; the top-level one is what CLIPModel uses.
    if ((rc = parse_text(tc, c, name)) < 0 || (rc = parse_vision(vc, c, name)) < 0) goto out;
    if (!tc || !vc) // CLIPConfig would quietly build a default tower: say so instead
        rc = lisa_seterr(LISA_EFORMAT, "%s: %s: missing (a CLIPModel config has text_config and vision_config)", name,
                         tc ? "vision_config" : "text_config");
out:
    cJSON_Delete(root);
    return rc;
}

int cfg_load(const char *path, clip_config *c)
{
    char *buf;
    size_t len;
    int rc = lisa_read_file(path, CFG_MAX_BYTES, &buf, &len);
    if (rc < 0) return rc;
    const char *name = strrchr(path, '/');
    rc = cfg_parse(buf, len, name ? name + 1 : path, c);
    free(buf);
    return rc;
}
