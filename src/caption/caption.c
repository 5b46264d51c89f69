// BLIP captioner: config, weights, vision tower, text decoder with KV cache,
// greedy and beam search (see caption.h).
#include "caption/caption.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/half.h"
#include "base/json.h"
#include "base/pool.h"
#include "caption/wordpiece.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/modeldir.h"
#include "model/vitload.h"
#include "tensor/tensor.h"
#include "tensor/vit.h"

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CAP_CFG_MAX_BYTES (4u << 20)
#define CAP_MAX_DIM 16384
#define CAP_MAX_LAYERS 256
#define CAP_MAX_VOCAB (1 << 20)
#define CAP_MAX_POS 8192

/* ---------------------------------------------------------------- config */

void cap_opts_default(cap_opts *o)
{
    *o = (cap_opts){.num_beams = 1, .max_length = 20, .min_length = 0, .repetition_penalty = 1, .length_penalty = 1};
}

static int get_int(const cJSON *obj, const char *sect, const char *key, int lo, int hi, int *out, const char *file)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return lisa_seterr(LISA_EFORMAT, "%s: %s.%s: expected an integer in [%d, %d]", file, sect, key, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_tower(const cJSON *o, const char *sect, cap_tower *t, const char *file)
{
    const cJSON *v;
    int rc;
    if ((rc = get_int(o, sect, "hidden_size", 1, CAP_MAX_DIM, &t->hidden, file)) < 0 ||
        (rc = get_int(o, sect, "intermediate_size", 1, 4 * CAP_MAX_DIM, &t->intermediate, file)) < 0 ||
        (rc = get_int(o, sect, "num_attention_heads", 1, CAP_MAX_DIM, &t->heads, file)) < 0 ||
        (rc = get_int(o, sect, "num_hidden_layers", 0, CAP_MAX_LAYERS, &t->layers, file)) < 0)
        return rc;
    if ((rc = cfg_read_eps(o, sect, &t->eps, file)) < 0) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "hidden_act"))) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "gelu"))
            t->act = ACT_GELU;
        else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast"))
            t->act = ACT_GELU_TANH;
        else if (!strcmp(s, "quick_gelu"))
            t->act = ACT_QUICK_GELU;
        else
            return lisa_seterr(LISA_EUNSUPPORTED, "%s: %s.hidden_act: \"%.40s\" is not gelu, gelu_new or quick_gelu",
                               file, sect, s);
    }
    if (t->hidden % t->heads)
        return lisa_seterr(LISA_EFORMAT, "%s: %s.hidden_size %d is not a multiple of num_attention_heads %d", file,
                           sect, t->hidden, t->heads);
    return 0;
}

static int parse_config(const cJSON *root, cap_config *c, const char *file)
{
    // BlipVisionConfig / BlipTextConfig defaults.
    *c = (cap_config){
        .vision = {.hidden = 768, .intermediate = 3072, .heads = 12, .layers = 12, .eps = 1e-5f, .act = ACT_GELU},
        .text = {.hidden = 768, .intermediate = 3072, .heads = 8, .layers = 12, .eps = 1e-12f, .act = ACT_GELU},
        .image_size = 384,
        .patch_size = 16,
        .num_channels = 3,
        .vocab_size = 30524,
        .max_positions = 512,
        .bos_token_id = CAP_BOS,
        .sep_token_id = CAP_EOS,
        .pad_token_id = 0,
    };
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsObject(root)) return lisa_seterr(LISA_EFORMAT, "%s: not a JSON object", file);
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "blip"))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: model_type \"%.40s\" is not \"blip\" (BlipForConditionalGeneration)",
                           file, mt->valuestring);
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if ((tc && !cJSON_IsObject(tc)) || (vc && !cJSON_IsObject(vc)))
        return lisa_seterr(LISA_EFORMAT, "%s: text_config / vision_config must be objects", file);
    int rc;
    if ((rc = get_tower(tc, "text_config", &c->text, file)) < 0 ||
        (rc = get_tower(vc, "vision_config", &c->vision, file)) < 0 ||
        (rc = get_int(vc, "vision_config", "image_size", 1, 4096, &c->image_size, file)) < 0 ||
        (rc = get_int(vc, "vision_config", "patch_size", 1, 4096, &c->patch_size, file)) < 0 ||
        (rc = get_int(vc, "vision_config", "num_channels", 1, 4, &c->num_channels, file)) < 0 ||
        (rc = get_int(tc, "text_config", "vocab_size", 1, CAP_MAX_VOCAB, &c->vocab_size, file)) < 0 ||
        (rc = get_int(tc, "text_config", "max_position_embeddings", 1, CAP_MAX_POS, &c->max_positions, file)) < 0 ||
        (rc = get_int(tc, "text_config", "bos_token_id", 0, CAP_MAX_VOCAB, &c->bos_token_id, file)) < 0 ||
        (rc = get_int(tc, "text_config", "sep_token_id", 0, CAP_MAX_VOCAB, &c->sep_token_id, file)) < 0 ||
        (rc = get_int(tc, "text_config", "pad_token_id", 0, CAP_MAX_VOCAB, &c->pad_token_id, file)) < 0)
        return rc;
    if (c->image_size % c->patch_size)
        return lisa_seterr(LISA_EFORMAT, "%s: vision_config.image_size %d is not a multiple of patch_size %d", file,
                           c->image_size, c->patch_size);
    if (c->bos_token_id >= c->vocab_size || c->sep_token_id >= c->vocab_size || c->pad_token_id >= c->vocab_size)
        return lisa_seterr(LISA_EFORMAT, "%s: text_config: bos/sep/pad token ids must be below vocab_size %d", file,
                           c->vocab_size);
    return 0;
}

int cap_config_load(const char *path, cap_config *c)
{
    cJSON *root;
    int rc = lisa_read_json(path, CAP_CFG_MAX_BYTES, &root);
    if (rc < 0) return rc;
    rc = parse_config(root, c, path);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- weights */

// Linear weights are packed (tensor/gemm.h) at load in the model's precision
// and owned: the packed copy is the only resident one (model/vitload.h drops
// the mapped source's pages). Vectors point into the checkpoint (F32 views,
// or converted copies it owns).
typedef struct {
    t_packed *q;      // self: q, k, v stacked (3d, d); cross: q (d, d)
    float *q_b;       // (3d) self / (d) cross, owned
    t_packed *kv;     // cross only: k, v stacked (2d, d_image)
    float *kv_b;      // (2d), owned
    t_packed *o;      // output.dense (d, d)
    const float *o_b; // (d)
    const float *ln_w, *ln_b;
} txt_attn;

typedef struct {
    txt_attn self, cross;
    t_packed *in, *out;                      // intermediate (ff, d), output (d, ff)
    const float *in_b, *out_b, *ln_w, *ln_b; // (ff), (d), output.LayerNorm (d)
} txt_layer;

struct cap_model {
    cap_config cfg;
    prep_cfg prep;
    ckpt *ck;
    wp_tok *tok;
    pool *pool;
    t_prec prec;
    pthread_mutex_t mu;
    // vision
    vit_dims vdims;
    const float *cls, *pos, *patch_b, *post_w, *post_b; // (d), (n, d), (d), (d), (d)
    t_packed *patch;                                    // (d, C*p*p)
    vit_layer *vl;
    vit_state vs;
    // text decoder
    const uint8_t *wte; // (V, d) word embeddings as stored, of type wte_src (rows widened as tokens come)
    t_src wte_src;
    const float *wpe, *emb_ln_w, *emb_ln_b; // (P, d), (d)
    txt_layer *tl;
    t_act text_act;
    t_packed *head;                              // transform (d, d)
    const float *head_b, *head_ln_w, *head_ln_b; // (d)
    t_packed *dec;                               // (V, d)
    const float *dec_b;                          // (V)
    cap_timing last;                             // of the last cap_vision / cap_generate
};

static int weight(cap_model *m, const float **out, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int weight(cap_model *m, const float **out, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[3] = {d0, d1, d2};
    return ckpt_get_f32(m->ck, name, ndim, shape, out);
}

#define W1(dst, a, ...) weight(m, &(dst), 1, a, 0, 0, __VA_ARGS__)

// Checks and packs the 2-D weight named by fmt, (rows, in), into *out.
static int pack(cap_model *m, t_packed **out, int rows, int in, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int pack(cap_model *m, t_packed **out, int rows, int in, const char *fmt, ...)
{
    char name[256];
    const char *names[1] = {name};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return vl_pack(m->ck, 1, names, &rows, in, 0, m->prec, out);
}

static t_act act_of(int a)
{
    return a == ACT_GELU ? T_ACT_GELU : a == ACT_GELU_TANH ? T_ACT_GELU_TANH : T_ACT_QUICK_GELU;
}

static int load_vision(cap_model *m)
{
    const cap_config *c = &m->cfg;
    int d = c->vision.hidden, ff = c->vision.intermediate, p = c->patch_size, g = c->image_size / p, rc;
    const char *v = "vision_model.", *pn = "vision_model.embeddings.patch_embedding.weight";
    m->vdims = (vit_dims){d, ff, c->vision.heads, c->vision.eps, act_of(c->vision.act)};
    if ((rc = vl_pack(m->ck, 1, &pn, &d, c->num_channels * p * p, p, m->prec, &m->patch)) < 0 ||
        (rc = W1(m->patch_b, d, "%sembeddings.patch_embedding.bias", v)) < 0 ||
        (rc = weight(m, &m->cls, 3, 1, 1, d, "%sembeddings.class_embedding", v)) < 0 ||
        (rc = weight(m, &m->pos, 3, 1, (int64_t)g * g + 1, d, "%sembeddings.position_embedding", v)) < 0 ||
        (rc = W1(m->post_w, d, "%spost_layernorm.weight", v)) < 0 ||
        (rc = W1(m->post_b, d, "%spost_layernorm.bias", v)) < 0)
        return rc;
    if (!(m->vl = calloc((size_t)c->vision.layers + 1, sizeof *m->vl)))
        return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    for (int i = 0; i < c->vision.layers; i++) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "vision_model.encoder.layers.%d.", i);
        if ((rc = vl_layer(m->ck, prefix, 1, "projection", d, ff, m->prec, &m->vl[i])) < 0) return rc;
    }
    return 0;
}

// Concatenates parts vectors of d floats into a new owned one.
static int concat(float **dst, const float *const *src, int parts, int d)
{
    if (!(*dst = malloc((size_t)parts * d * sizeof **dst))) return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    for (int i = 0; i < parts; i++) memcpy(*dst + (size_t)i * d, src[i], (size_t)d * sizeof **dst);
    return 0;
}

// BertAttention `part` ("attention" or "crossattention") of layer i: the self
// one packs q, k, v as one (3d, d) GEMM; the cross one q alone and k, v as one
// (2d, kv_in) GEMM (run once per image).
static int load_attn(cap_model *m, int i, const char *part, int kv_in, txt_attn *a)
{
    int d = m->cfg.text.hidden, cross = !strcmp(part, "crossattention"), rc;
    char qn[256], kn[256], vn[256], pre[128];
    const float *b[3];
    const st_tensor *t;
    snprintf(pre, sizeof pre, "text_decoder.bert.encoder.layer.%d.%s.", i, part);
    snprintf(qn, sizeof qn, "%sself.query.weight", pre), snprintf(kn, sizeof kn, "%sself.key.weight", pre);
    snprintf(vn, sizeof vn, "%sself.value.weight", pre);
    if ((rc = vl_raw(m->ck, qn, d, d, 0, &t)) < 0 || (rc = W1(b[0], d, "%sself.query.bias", pre)) < 0 ||
        (rc = vl_raw(m->ck, kn, d, kv_in, 0, &t)) < 0 || (rc = W1(b[1], d, "%sself.key.bias", pre)) < 0 ||
        (rc = vl_raw(m->ck, vn, d, kv_in, 0, &t)) < 0 || (rc = W1(b[2], d, "%sself.value.bias", pre)) < 0 ||
        (rc = pack(m, &a->o, d, d, "%soutput.dense.weight", pre)) < 0 ||
        (rc = W1(a->o_b, d, "%soutput.dense.bias", pre)) < 0 ||
        (rc = W1(a->ln_w, d, "%soutput.LayerNorm.weight", pre)) < 0 ||
        (rc = W1(a->ln_b, d, "%soutput.LayerNorm.bias", pre)) < 0)
        return rc;
    const char *qkv[3] = {qn, kn, vn};
    int rows[3] = {d, d, d};
    if (!cross) {
        if ((rc = vl_pack(m->ck, 3, qkv, rows, d, 0, m->prec, &a->q)) < 0) return rc;
        return concat(&a->q_b, b, 3, d);
    }
    if ((rc = vl_pack(m->ck, 1, qkv, rows, d, 0, m->prec, &a->q)) < 0 ||
        (rc = vl_pack(m->ck, 2, qkv + 1, rows, kv_in, 0, m->prec, &a->kv)) < 0 || (rc = concat(&a->q_b, b, 1, d)) < 0)
        return rc;
    return concat(&a->kv_b, b + 1, 2, d);
}

// The LM decoder: its own weight when stored, else tied to the word
// embeddings (a checkpoint saved with the tie dropped); its bias is
// cls.predictions.bias, which decoder.bias aliases.
static int load_lm_head(cap_model *m)
{
    const cap_config *c = &m->cfg;
    int d = c->text.hidden, V = c->vocab_size, rc;
    const char *h = "text_decoder.cls.predictions.";
    if ((rc = pack(m, &m->head, d, d, "%stransform.dense.weight", h)) < 0 ||
        (rc = W1(m->head_b, d, "%stransform.dense.bias", h)) < 0 ||
        (rc = W1(m->head_ln_w, d, "%stransform.LayerNorm.weight", h)) < 0 ||
        (rc = W1(m->head_ln_b, d, "%stransform.LayerNorm.bias", h)) < 0)
        return rc;
    if (ckpt_find(m->ck, "text_decoder.cls.predictions.decoder.weight"))
        rc = pack(m, &m->dec, V, d, "%sdecoder.weight", h);
    else
        rc = pack(m, &m->dec, V, d, "text_decoder.bert.embeddings.word_embeddings.weight");
    if (rc < 0) return rc;
    if (!ckpt_find(m->ck, "text_decoder.cls.predictions.bias") &&
        ckpt_find(m->ck, "text_decoder.cls.predictions.decoder.bias"))
        return W1(m->dec_b, V, "%sdecoder.bias", h);
    return W1(m->dec_b, V, "%sbias", h);
}

static int load_text(cap_model *m)
{
    const cap_config *c = &m->cfg;
    int d = c->text.hidden, ff = c->text.intermediate, V = c->vocab_size, rc;
    const char *b = "text_decoder.bert.";
    const st_tensor *wte;
    m->text_act = act_of(c->text.act);
    if ((rc = vl_raw(m->ck, "text_decoder.bert.embeddings.word_embeddings.weight", V, d, 0, &wte)) < 0 ||
        (rc = weight(m, &m->wpe, 2, c->max_positions, d, 0, "%sembeddings.position_embeddings.weight", b)) < 0 ||
        (rc = W1(m->emb_ln_w, d, "%sembeddings.LayerNorm.weight", b)) < 0 ||
        (rc = W1(m->emb_ln_b, d, "%sembeddings.LayerNorm.bias", b)) < 0 || (rc = load_lm_head(m)) < 0)
        return rc;
    m->wte = wte->data, m->wte_src = vl_src(wte);
    if (!(m->tl = calloc((size_t)c->text.layers + 1, sizeof *m->tl)))
        return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    for (int i = 0; i < c->text.layers; i++) {
        txt_layer *l = &m->tl[i];
        const char *f = "text_decoder.bert.encoder.layer.%d.%s";
        if ((rc = load_attn(m, i, "attention", d, &l->self)) < 0 ||
            (rc = load_attn(m, i, "crossattention", c->vision.hidden, &l->cross)) < 0 ||
            (rc = pack(m, &l->in, ff, d, f, i, "intermediate.dense.weight")) < 0 ||
            (rc = W1(l->in_b, ff, f, i, "intermediate.dense.bias")) < 0 ||
            (rc = pack(m, &l->out, d, ff, f, i, "output.dense.weight")) < 0 ||
            (rc = W1(l->out_b, d, f, i, "output.dense.bias")) < 0 ||
            (rc = W1(l->ln_w, d, f, i, "output.LayerNorm.weight")) < 0 ||
            (rc = W1(l->ln_b, d, f, i, "output.LayerNorm.bias")) < 0)
            return rc;
    }
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

// BlipImageProcessor: resize to image_size x image_size, no crop.
static int load_prep(cap_model *m, const char *dir)
{
    char path[4096];
    int S = m->cfg.image_size, rc;
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    prep_cfg_default(&m->prep);
    if (exists(path) && (rc = prep_cfg_load(path, &m->prep)) < 0) return rc;
    if (!exists(path)) m->prep.shortest_edge = 0, m->prep.resize_w = m->prep.resize_h = S;
    m->prep.do_center_crop = 0;
    if (m->prep.shortest_edge > 0 || !m->prep.do_resize || m->prep.resize_w != S || m->prep.resize_h != S)
        return lisa_seterr(LISA_EFORMAT,
                           "%s: size must be {\"height\": %d, \"width\": %d} (the model's vision_config.image_size)",
                           path, S, S);
    return 0;
}

static int load_tokenizer(cap_model *m, const char *dir)
{
    char path[4096];
    int rc = wp_load(dir, &m->tok);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (!exists(path)) snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (wp_vocab_size(m->tok) > m->cfg.vocab_size || m->cfg.bos_token_id < wp_vocab_size(m->tok))
        return lisa_seterr(LISA_EFORMAT,
                           "%s: %d tokens do not fit config.json text_config.vocab_size %d with bos_token_id %d after "
                           "them (text_decoder.bert.embeddings.word_embeddings.weight has %d rows)",
                           path, wp_vocab_size(m->tok), m->cfg.vocab_size, m->cfg.bos_token_id, m->cfg.vocab_size);
    return 0;
}

/* ---------------------------------------------------------------- precision */

static int g_prec = CAP_PREC_AUTO; // cap_set_precision's choice

void cap_set_precision(int prec)
{
    g_prec = prec == CAP_PREC_BF16 || prec == CAP_PREC_FP32 || prec == CAP_PREC_INT8 ? prec : CAP_PREC_AUTO;
}

const char *cap_precision(const cap_model *m)
{
    return m->prec == T_PREC_BF16 ? "bf16" : m->prec == T_PREC_INT8 ? "int8" : "fp32";
}

// AUTO: bf16 when the checkpoint's word embeddings are BF16 (packing them as
// bf16 is exact), else fp32 (F32 and F16 checkpoints keep every bit).
static int resolve_prec(const cap_model *m, int prec, t_prec *out)
{
    const char *env = getenv("LISA_PRECISION");
    if (prec == CAP_PREC_AUTO) prec = g_prec;
    if (prec == CAP_PREC_AUTO && env && *env) {
        if (!strcmp(env, "fp32"))
            prec = CAP_PREC_FP32;
        else if (!strcmp(env, "bf16"))
            prec = CAP_PREC_BF16;
        else if (!strcmp(env, "int8"))
            prec = CAP_PREC_INT8;
        else
            return lisa_seterr(LISA_EINVAL, "LISA_PRECISION: \"%.20s\" is not fp32, bf16 or int8 (captioning)", env);
    }
    if (prec == CAP_PREC_AUTO) {
        const st_tensor *t = ckpt_find(m->ck, "text_decoder.bert.embeddings.word_embeddings.weight");
        prec = t && t->dtype == ST_BF16 ? CAP_PREC_BF16 : CAP_PREC_FP32;
    }
    *out = prec == CAP_PREC_BF16 ? T_PREC_BF16 : prec == CAP_PREC_INT8 ? T_PREC_INT8 : T_PREC_F32;
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

int cap_load_prec(const char *dir, int threads, int prec, cap_model **out)
{
    char path[4096];
    int rc;
    *out = NULL;
    if (prec != CAP_PREC_AUTO && prec != CAP_PREC_FP32 && prec != CAP_PREC_BF16 && prec != CAP_PREC_INT8)
        return lisa_seterr(LISA_EINVAL, "caption: unknown precision %d", prec);
    cap_model *m = calloc(1, sizeof *m);
    if (!m) return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    pthread_mutex_init(&m->mu, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = cap_config_load(path, &m->cfg)) < 0 || (rc = ckpt_open(dir, &m->ck)) < 0 ||
        (rc = resolve_prec(m, prec, &m->prec)) < 0 || (rc = load_vision(m)) < 0 || (rc = load_text(m)) < 0 ||
        (rc = load_prep(m, dir)) < 0 || (rc = load_tokenizer(m, dir)) < 0 || (rc = pool_new(threads, &m->pool)) < 0) {
        cap_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cap_load(const char *dir, int threads, cap_model **out)
{
    return cap_load_prec(dir, threads, CAP_PREC_AUTO, out);
}

int cap_load_default(const char *data_dir, int threads, cap_model **out)
{
    char dir[MODELDIR_PATH_MAX];
    int rc;
    *out = NULL;
    if ((rc = modeldir_resolve(NULL, data_dir, MODELDIR_DEFAULT_CAPTION, dir, sizeof dir)) < 0 ||
        (rc = modeldir_check(dir, MODELDIR_BLIP, NULL, NULL)) < 0)
        return rc;
    return cap_load(dir, threads, out);
}

static void attn_free(txt_attn *a)
{
    t_packed_free(a->q), t_packed_free(a->kv), t_packed_free(a->o);
    free(a->q_b), free(a->kv_b);
}

void cap_free(cap_model *m)
{
    if (!m) return;
    pool_free(m->pool);
    vit_release(&m->vs);
    for (int i = 0; m->vl && i < m->cfg.vision.layers; i++) vit_layer_free(&m->vl[i]);
    for (int i = 0; m->tl && i < m->cfg.text.layers; i++) {
        txt_layer *l = &m->tl[i];
        attn_free(&l->self), attn_free(&l->cross);
        t_packed_free(l->in), t_packed_free(l->out);
    }
    free(m->vl);
    free(m->tl);
    t_packed_free(m->patch), t_packed_free(m->head), t_packed_free(m->dec);
    wp_free(m->tok);
    ckpt_close(m->ck);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

size_t cap_weight_bytes(const cap_model *m)
{
    size_t n = 0;
    const t_packed *w[3] = {m->patch, m->head, m->dec};
    for (int i = 0; i < 3; i++) n += w[i] ? t_packed_bytes(w[i]) : 0;
    for (int i = 0; m->vl && i < m->cfg.vision.layers; i++) n += vit_layer_bytes(&m->vl[i]);
    for (int i = 0; m->tl && i < m->cfg.text.layers; i++) {
        const txt_layer *l = &m->tl[i];
        const t_packed *t[7] = {l->self.q, l->self.o, l->cross.q, l->cross.kv, l->cross.o, l->in, l->out};
        for (int k = 0; k < 7; k++) n += t[k] ? t_packed_bytes(t[k]) : 0;
    }
    return n;
}

const cap_config *cap_cfg(const cap_model *m)
{
    return &m->cfg;
}

const prep_cfg *cap_prep(const cap_model *m)
{
    return &m->prep;
}

cap_timing cap_last_timing(cap_model *m)
{
    pthread_mutex_lock(&m->mu);
    cap_timing t = m->last;
    pthread_mutex_unlock(&m->mu);
    return t;
}

int cap_image_tokens(const cap_model *m)
{
    int g = m->cfg.image_size / m->cfg.patch_size;
    return g * g + 1;
}

/* ---------------------------------------------------------------- shared pieces */

// Allocates n floats per pointer in ptrs (NULL-terminated list of float**).
static int alloc_all(size_t n, float **ptrs[])
{
    for (int i = 0; ptrs[i]; i++)
        if (!(*ptrs[i] = malloc((n ? n : 1) * sizeof(float))))
            return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    return 0;
}

static void free_all(float **ptrs[])
{
    for (int i = 0; ptrs[i]; i++) free(*ptrs[i]), *ptrs[i] = NULL;
}

/* ---------------------------------------------------------------- vision tower */

// The ViT on the shared block (tensor/vit.h): patch conv as one GEMM, class
// token, position embedding, pre-LN blocks, post_layernorm over every row.
static int vision_forward(cap_model *m, const float *pixels, float *out)
{
    const cap_config *c = &m->cfg;
    vit_state *s = &m->vs;
    int C = c->num_channels, S = c->image_size, p = c->patch_size, np = (S / p) * (S / p), n = np + 1;
    int d = c->vision.hidden, K = C * p * p, rc;
    size_t act = (size_t)n * (d > K ? d : K);
    if ((rc = vit_reserve(s, pool_size(m->pool), act, (size_t)n * c->vision.intermediate, n, "caption")) < 0) return rc;
    vit_unfold(pixels, C, S, p, s->att);
    t_gemm(m->pool, s->qkv, d, s->att, K, m->patch, m->patch_b, np, T_ACT_NONE);
    memcpy(s->x, m->cls, (size_t)d * sizeof *s->x);
    memcpy(s->x + d, s->qkv, (size_t)np * d * sizeof *s->x);
    t_add(s->x, m->pos, (size_t)n * d);
    for (int i = 0; i < c->vision.layers; i++) vit_block(s, m->pool, &m->vdims, &m->vl[i], 1, n, 0);
    t_layernorm(out, s->x, m->post_w, m->post_b, n, d, c->vision.eps);
    return 0;
}

int cap_vision(cap_model *m, const float *pixels, float *out)
{
    pthread_mutex_lock(&m->mu);
    double t0 = mono_ms();
    int rc = vision_forward(m, pixels, out);
    m->last.vision_ms = mono_ms() - t0;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---------------------------------------------------------------- text decoder */

// Decoding state for B sequences: the self-attention KV cache, the image's
// cross-attention K/V (computed once), and per-step scratch.
typedef struct {
    int B, cap, len;                 // sequences, positions reserved, positions filled
    int m;                           // image tokens
    float *k, *v;                    // (layers, B, cap, d) self-attention cache
    float *k2, *v2;                  // the same, for reordering beams
    float *ck, *cv;                  // cross K (layers, heads, m, hd), V^T (layers, heads, hd, m)
    float *x, *a, *t, *ctx, *scores; // (B, d) x4, (B, max(cap, m))
    float *xs;                       // per pool thread: a cross-attention head's scratch, xs_per floats
    size_t xs_per;
    float *qkv, *ff; // (B, 3d), (B, ff)
    float *logits;   // (B, V)
} dec_state;

static void dec_release(dec_state *s)
{
    float **p[] = {&s->k, &s->v,   &s->k2,     &s->v2,  &s->ck, &s->cv,     &s->x,  &s->a,
                   &s->t, &s->ctx, &s->scores, &s->qkv, &s->ff, &s->logits, &s->xs, NULL};
    free_all(p);
}

// The cross-attention K and V of every layer for image_embeds (s->m rows),
// laid out per head: K as (m, hd) rows and V transposed to (hd, m), so that
// each head's scores and weighted sum are two GEMMs over all B sequences.
static int cross_kv(cap_model *m, dec_state *s, const float *image_embeds)
{
    const cap_config *c = &m->cfg;
    int d = c->text.hidden, nimg = s->m, dv = c->vision.hidden, H = c->text.heads, hd = d / H;
    float *kv = malloc((size_t)nimg * 2 * d * sizeof *kv);
    if (!kv) return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    for (int l = 0; l < c->text.layers; l++) {
        const txt_attn *x = &m->tl[l].cross;
        t_gemm(m->pool, kv, 2 * d, image_embeds, dv, x->kv, x->kv_b, nimg, T_ACT_NONE);
        for (int h = 0; h < H; h++) {
            float *kh = s->ck + ((size_t)l * H + h) * nimg * hd, *vt = s->cv + ((size_t)l * H + h) * hd * nimg;
            for (int j = 0; j < nimg; j++)
                for (int e = 0; e < hd; e++) {
                    kh[(size_t)j * hd + e] = kv[(size_t)j * 2 * d + h * hd + e];
                    vt[(size_t)e * nimg + j] = kv[(size_t)j * 2 * d + d + h * hd + e];
                }
        }
    }
    free(kv);
    return 0;
}

// Sets up s for B sequences of up to cap positions on image_embeds (m rows).
static int dec_init(cap_model *m, dec_state *s, int B, int cap, const float *image_embeds)
{
    const cap_config *c = &m->cfg;
    int d = c->text.hidden, L = c->text.layers, nimg = cap_image_tokens(m);
    memset(s, 0, sizeof *s);
    s->B = B, s->cap = cap, s->m = nimg;
    size_t kv = (size_t)L * B * cap * d, cross = (size_t)L * nimg * d;
    float **p1[] = {&s->k, &s->v, &s->k2, &s->v2, NULL}, **p2[] = {&s->ck, &s->cv, NULL};
    float **p3[] = {&s->x, &s->a, &s->t, &s->ctx, NULL}, **p4[] = {&s->ff, NULL}, **p7[] = {&s->qkv, NULL};
    float **p5[] = {&s->scores, NULL}, **p6[] = {&s->logits, NULL}, **p8[] = {&s->xs, NULL};
    s->xs_per = ((size_t)B * (2 * (d / c->text.heads) + nimg) + 15) / 16 * 16;
    int rc;
    if ((rc = alloc_all(kv, p1)) < 0 || (rc = alloc_all(cross, p2)) < 0 || (rc = alloc_all((size_t)B * d, p3)) < 0 ||
        (rc = alloc_all((size_t)B * c->text.intermediate, p4)) < 0 || (rc = alloc_all((size_t)B * 3 * d, p7)) < 0 ||
        (rc = alloc_all((size_t)B * (cap > nimg ? cap : nimg), p5)) < 0 ||
        (rc = alloc_all((size_t)B * c->vocab_size, p6)) < 0 ||
        (rc = alloc_all(s->xs_per * (size_t)pool_size(m->pool), p8)) < 0 || (rc = cross_kv(m, s, image_embeds)) < 0) {
        dec_release(s);
        return rc;
    }
    return 0;
}

// Cross-attention of layer l for the nb query rows (stride 3d in s->qkv) into
// s->ctx, one head per pool item (each thread's scratch in s->xs): the
// image's K and V (1.8 MB a layer at 577 tokens) are read by both threads.
struct cross_job {
    cap_model *m;
    dec_state *s;
    int l, nb;
};

static void cross_head(void *ctx, int h, int tid)
{
    const struct cross_job *j = ctx;
    dec_state *s = j->s;
    int d = j->m->cfg.text.hidden, H = j->m->cfg.text.heads, hd = d / H, n = s->m, nb = j->nb;
    float scale = 1.0f / sqrtf((float)hd);
    float *q = s->xs + (size_t)tid * s->xs_per, *out = q + (size_t)nb * hd, *sc = out + (size_t)nb * hd;
    const float *kh = s->ck + ((size_t)j->l * H + h) * n * hd, *vt = s->cv + ((size_t)j->l * H + h) * hd * n;
    for (int b = 0; b < nb; b++)
        memcpy(q + (size_t)b * hd, s->qkv + (size_t)b * 3 * d + (size_t)h * hd, (size_t)hd * sizeof(float));
    t_matmul(sc, q, kh, NULL, nb, hd, n);
    for (int b = 0; b < nb; b++) {
        float *r = sc + (size_t)b * n;
        for (int i = 0; i < n; i++) r[i] *= scale;
        t_softmax(r, n);
    }
    t_matmul(out, sc, vt, NULL, nb, n, hd);
    for (int b = 0; b < nb; b++)
        memcpy(s->ctx + (size_t)b * d + (size_t)h * hd, out + (size_t)b * hd, (size_t)hd * sizeof(float));
}

static void cross_attend(cap_model *m, dec_state *s, int l, int nb)
{
    struct cross_job j = {m, s, l, nb};
    pool_for(m->pool, m->cfg.text.heads, cross_head, &j);
}

// y = LN(y + (x . W^T + b)) over nb rows: BERT's post-LN "output" sublayer.
static void add_norm(cap_model *m, float *y, const float *x, int ldx, const t_packed *w, const float *b, const float *g,
                     const float *beta, int nb, float *tmp)
{
    int d = m->cfg.text.hidden;
    t_gemm(m->pool, tmp, d, x, ldx, w, b, nb, T_ACT_NONE);
    t_add(y, tmp, (size_t)nb * d);
    t_layernorm(y, y, g, beta, nb, d, m->cfg.text.eps);
}

// Word embedding row id (widened from the checkpoint's dtype) into dst (d).
static void embed_row(const cap_model *m, int id, float *dst)
{
    int d = m->cfg.text.hidden;
    size_t row = (size_t)id * d;
    if (m->wte_src == T_SRC_F32) {
        memcpy(dst, m->wte + row * 4, (size_t)d * sizeof *dst);
        return;
    }
    for (int c = 0; c < d; c++) {
        uint16_t h;
        memcpy(&h, m->wte + (row + c) * 2, 2);
        dst[c] = m->wte_src == T_SRC_BF16 ? bf16_to_f32(h) : half_to_f32(h);
    }
}

// The LM head on the nb rows of s->x into s->logits (nb, V).
static void lm_head(cap_model *m, dec_state *s, int nb)
{
    int d = m->cfg.text.hidden;
    t_gemm(m->pool, s->a, d, s->x, d, m->head, m->head_b, nb, m->text_act);
    t_layernorm(s->a, s->a, m->head_ln_w, m->head_ln_b, nb, d, m->cfg.text.eps);
    t_gemm(m->pool, s->logits, m->cfg.vocab_size, s->a, d, m->dec, m->dec_b, nb, T_ACT_NONE);
}

// Feeds one token per sequence (ids[nb], nb <= B) at position s->len; with
// logits, leaves the next-token logits of those sequences in s->logits (nb, V)
// (a prompt's tokens before its last need none: HF computes and drops them).
static void dec_step(cap_model *m, dec_state *s, const int32_t *ids, int nb, int logits)
{
    const cap_config *c = &m->cfg;
    int d = c->text.hidden, t = s->len, heads = c->text.heads, ff = c->text.intermediate, ld = 3 * d;
    for (int b = 0; b < nb; b++) {
        float *xb = s->x + (size_t)b * d;
        embed_row(m, ids[b], xb);
        t_add(xb, m->wpe + (size_t)t * d, (size_t)d);
    }
    t_layernorm(s->x, s->x, m->emb_ln_w, m->emb_ln_b, nb, d, c->text.eps);
    for (int l = 0; l < c->text.layers; l++) {
        const txt_layer *L = &m->tl[l];
        float *kc = s->k + (size_t)l * s->B * s->cap * d, *vc = s->v + (size_t)l * s->B * s->cap * d;
        // causal self-attention: this position's k / v go into the cache first
        t_gemm(m->pool, s->qkv, ld, s->x, d, L->self.q, L->self.q_b, nb, T_ACT_NONE);
        for (int b = 0; b < nb; b++) {
            const float *r = s->qkv + (size_t)b * ld;
            memcpy(kc + ((size_t)b * s->cap + t) * d, r + d, (size_t)d * sizeof(float));
            memcpy(vc + ((size_t)b * s->cap + t) * d, r + 2 * d, (size_t)d * sizeof(float));
        }
        for (int b = 0; b < nb; b++)
            vit_attend_one(s->ctx + (size_t)b * d, s->qkv + (size_t)b * ld, kc + (size_t)b * s->cap * d,
                           vc + (size_t)b * s->cap * d, d, t + 1, heads, d, s->scores);
        add_norm(m, s->x, s->ctx, d, L->self.o, L->self.o_b, L->self.ln_w, L->self.ln_b, nb, s->t);
        // cross-attention to the image (its K/V are in s->ck / s->cv)
        t_gemm(m->pool, s->qkv, ld, s->x, d, L->cross.q, L->cross.q_b, nb, T_ACT_NONE);
        cross_attend(m, s, l, nb);
        add_norm(m, s->x, s->ctx, d, L->cross.o, L->cross.o_b, L->cross.ln_w, L->cross.ln_b, nb, s->t);
        // FFN, the activation in the GEMM's epilogue
        t_gemm(m->pool, s->ff, ff, s->x, d, L->in, L->in_b, nb, m->text_act);
        add_norm(m, s->x, s->ff, ff, L->out, L->out_b, L->ln_w, L->ln_b, nb, s->t);
    }
    if (logits) lm_head(m, s, nb);
    s->len++;
}

// After a prefill run on sequence 0 alone: every other sequence gets its
// cache and logits (all beams start from the same prompt).
static void dec_broadcast(cap_model *m, dec_state *s)
{
    int d = m->cfg.text.hidden, V = m->cfg.vocab_size;
    size_t row = (size_t)s->cap * d, n = (size_t)s->len * d * sizeof(float);
    for (int l = 0; l < m->cfg.text.layers; l++) {
        size_t base = (size_t)l * s->B * row;
        for (int b = 1; b < s->B; b++) {
            memcpy(s->k + base + b * row, s->k + base, n);
            memcpy(s->v + base + b * row, s->v + base, n);
        }
    }
    for (int b = 1; b < s->B; b++) memcpy(s->logits + (size_t)b * V, s->logits, (size_t)V * sizeof *s->logits);
}

// Reorders the cache so that sequence b continues from src[b].
static void dec_reorder(cap_model *m, dec_state *s, const int *src)
{
    int d = m->cfg.text.hidden;
    size_t row = (size_t)s->cap * d, n = (size_t)s->len * d * sizeof(float);
    for (int l = 0; l < m->cfg.text.layers; l++) {
        size_t base = (size_t)l * s->B * row;
        for (int b = 0; b < s->B; b++) {
            memcpy(s->k2 + base + b * row, s->k + base + src[b] * row, n);
            memcpy(s->v2 + base + b * row, s->v + base + src[b] * row, n);
        }
    }
    float *t = s->k;
    s->k = s->k2, s->k2 = t;
    t = s->v, s->v = s->v2, s->v2 = t;
}

static int check_ids(const cap_model *m, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return lisa_seterr(LISA_EINVAL, "caption: token id %d at %d is outside the vocabulary (%d)", ids[i], i,
                               m->cfg.vocab_size);
    return 0;
}

int cap_logits(cap_model *m, const float *image_embeds, const int32_t *ids, int n, float *out)
{
    if (n < 1 || n > m->cfg.max_positions)
        return lisa_seterr(LISA_EINVAL, "caption: %d ids (must be 1..%d)", n, m->cfg.max_positions);
    int rc = check_ids(m, ids, n);
    if (rc < 0) return rc;
    dec_state s;
    pthread_mutex_lock(&m->mu);
    if ((rc = dec_init(m, &s, 1, n, image_embeds)) == 0) {
        for (int i = 0; i < n; i++) dec_step(m, &s, ids + i, 1, i == n - 1);
        memcpy(out, s.logits, (size_t)m->cfg.vocab_size * sizeof *out);
        dec_release(&s);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---------------------------------------------------------------- generation */

// HF's logits processors on one sequence's scores, in its order:
// RepetitionPenaltyLogitsProcessor (every id in seq, once), then
// MinLengthLogitsProcessor (eos banned while len < min_length).
static void process(float *sc, const int32_t *seq, int len, const cap_opts *o, int eos, uint8_t *seen)
{
    if (o->repetition_penalty != 1.0f) {
        for (int i = 0; i < len; i++) {
            if (seen[seq[i]]) continue;
            seen[seq[i]] = 1;
            float v = sc[seq[i]];
            sc[seq[i]] = v < 0 ? v * o->repetition_penalty : v / o->repetition_penalty;
        }
        for (int i = 0; i < len; i++) seen[seq[i]] = 0;
    }
    if (len < o->min_length) sc[eos] = -INFINITY;
}

static void log_softmax(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    float lse = mx + (float)log(sum);
    for (int i = 0; i < n; i++) x[i] -= lse;
}

static int greedy(cap_model *m, dec_state *s, int32_t *seq, int len, const cap_opts *o, uint8_t *seen, int *n)
{
    int V = m->cfg.vocab_size, eos = m->cfg.sep_token_id;
    for (;;) {
        process(s->logits, seq, len, o, eos, seen);
        int best = 0;
        for (int i = 1; i < V; i++)
            if (s->logits[i] > s->logits[best]) best = i;
        seq[len++] = best;
        if (best == eos || len >= o->max_length) break;
        dec_step(m, s, &seq[len - 1], 1, 1);
    }
    *n = len;
    return 0;
}

typedef struct {
    float score;
    int idx; // beam * V + token
} cand;

// Inserts (v, i) into the descending top list of k entries (cnt filled);
// on ties the earlier index stays first, like torch.topk on CPU.
static void top_insert(cand *top, int k, int *cnt, float v, int i)
{
    if (*cnt == k && !(v > top[k - 1].score)) return;
    int j = *cnt < k ? (*cnt)++ : k - 1;
    while (j > 0 && v > top[j - 1].score) top[j] = top[j - 1], j--;
    top[j] = (cand){v, i};
}

// Beam search of transformers >= 4.50 (GenerationMixin._beam_search) for one
// image, early_stopping=False, one returned sequence. Per step: log_softmax,
// the processors, + running score; the top 2K of all K*V candidates; the best K
// that did not stop (eos or max_length) run on; those among the top K that
// stopped join the finished list (score / generated_len^length_penalty, K best
// kept). It ends when every candidate stopped, or when K hypotheses are
// finished and the best running score / generated_len^length_penalty is not
// above the worst of them. Scores are float32, as HF's are.
static int beam(cap_model *m, dec_state *s, int32_t *seq0, int plen, const cap_opts *o, uint8_t *seen, int32_t *out,
                int *n)
{
    int K = o->num_beams, V = m->cfg.vocab_size, eos = m->cfg.sep_token_id, L = o->max_length, keep = 2 * K;
    int32_t *run = malloc((size_t)K * L * sizeof *run), *nrun = malloc((size_t)K * L * sizeof *nrun);
    int32_t *fin = malloc((size_t)K * L * sizeof *fin), *ftok = malloc((size_t)K * sizeof *ftok);
    float rs[CAP_MAX_BEAMS], fs[CAP_MAX_BEAMS];
    int flen[CAP_MAX_BEAMS], nfin = 0, cur = plen, src[CAP_MAX_BEAMS];
    cand top[2 * CAP_MAX_BEAMS], nxt[CAP_MAX_BEAMS];
    if (!run || !nrun || !fin || !ftok) {
        free(run), free(nrun), free(fin), free(ftok);
        return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    }
    for (int b = 0; b < K; b++) memcpy(run + (size_t)b * L, seq0, (size_t)plen * sizeof *run), rs[b] = b ? -1e9f : 0;
    for (;;) {
        int cnt = 0;
        for (int b = 0; b < K; b++) {
            float *lp = s->logits + (size_t)b * V;
            log_softmax(lp, V);
            process(lp, run + (size_t)b * L, cur, o, eos, seen);
            for (int i = 0; i < V; i++) top_insert(top, keep, &cnt, lp[i] + rs[b], b * V + i);
        }
        int hit[2 * CAP_MAX_BEAMS], all = 1, nn = 0;
        for (int j = 0; j < keep; j++) {
            hit[j] = top[j].idx % V == eos || cur + 1 >= L;
            all &= hit[j];
        }
        // next running beams: the best K of the 2K, stopped ones pushed down
        for (int j = 0; j < keep; j++) top_insert(nxt, K, &nn, top[j].score + (hit[j] ? -1e9f : 0.0f), j);
        // finished hypotheses from the top K
        float denom = (float)pow((double)(cur + 1 - plen), (double)o->length_penalty);
        for (int j = 0; j < K; j++) {
            if (!hit[j]) continue;
            float sc = top[j].score / denom;
            if (nfin == K && !(sc > fs[K - 1])) continue;
            int at = nfin < K ? nfin++ : K - 1;
            while (at > 0 && sc > fs[at - 1]) {
                fs[at] = fs[at - 1], flen[at] = flen[at - 1];
                memcpy(fin + (size_t)at * L, fin + (size_t)(at - 1) * L, (size_t)flen[at] * sizeof *fin);
                at--;
            }
            int b = top[j].idx / V;
            fs[at] = sc, flen[at] = cur + 1;
            memcpy(fin + (size_t)at * L, run + (size_t)b * L, (size_t)cur * sizeof *fin);
            fin[(size_t)at * L + cur] = top[j].idx % V;
        }
        for (int r = 0; r < K; r++) {
            const cand *c = &top[nxt[r].idx];
            src[r] = c->idx / V;
            memcpy(nrun + (size_t)r * L, run + (size_t)src[r] * L, (size_t)cur * sizeof *nrun);
            nrun[(size_t)r * L + cur] = c->idx % V;
            rs[r] = nxt[r].score;
        }
        int32_t *t = run;
        run = nrun, nrun = t;
        cur++;
        if (all) break;
        if (nfin == K && !(rs[0] / (float)pow((double)(cur - plen), (double)o->length_penalty) > fs[K - 1])) break;
        dec_reorder(m, s, src);
        for (int r = 0; r < K; r++) ftok[r] = run[(size_t)r * L + cur - 1];
        dec_step(m, s, ftok, K, 1);
    }
    *n = flen[0];
    memcpy(out, fin, (size_t)flen[0] * sizeof *out);
    free(run), free(nrun), free(fin), free(ftok);
    return 0;
}

int cap_generate(cap_model *m, const float *image_embeds, const int32_t *prompt, int nprompt, const cap_opts *o,
                 int32_t *ids, int cap, int *n)
{
    const cap_config *c = &m->cfg;
    int K = o->num_beams, L = o->max_length, plen = nprompt + 1, rc;
    *n = 0;
    if (K < 1 || K > CAP_MAX_BEAMS)
        return lisa_seterr(LISA_EINVAL, "caption: num_beams %d (must be 1..%d)", K, CAP_MAX_BEAMS);
    if (L < 1 || L > c->max_positions || L > CAP_MAX_LENGTH)
        return lisa_seterr(LISA_EINVAL, "caption: max_length %d (must be 1..%d)", L,
                           c->max_positions < CAP_MAX_LENGTH ? c->max_positions : CAP_MAX_LENGTH);
    if (nprompt < 0 || plen >= L)
        return lisa_seterr(LISA_EINVAL, "caption: a prompt of %d tokens leaves no room under max_length %d", nprompt,
                           L);
    if (cap < L) return lisa_seterr(LISA_EINVAL, "caption: room for %d ids, max_length is %d", cap, L);
    if (!(o->repetition_penalty > 0) || !isfinite(o->length_penalty))
        return lisa_seterr(LISA_EINVAL, "caption: repetition_penalty must be > 0, length_penalty finite");
    if ((rc = check_ids(m, prompt, nprompt)) < 0) return rc;
    int32_t *seq = malloc((size_t)L * sizeof *seq);
    uint8_t *seen = calloc((size_t)c->vocab_size, 1);
    dec_state s;
    if (!seq || !seen) {
        free(seq), free(seen);
        return lisa_seterr(LISA_ENOMEM, "caption: out of memory");
    }
    seq[0] = c->bos_token_id;
    if (nprompt) memcpy(seq + 1, prompt, (size_t)nprompt * sizeof *seq);
    pthread_mutex_lock(&m->mu);
    double t0 = mono_ms();
    if ((rc = dec_init(m, &s, K, L, image_embeds)) == 0) {
        m->last.cross_kv_ms = mono_ms() - t0;
        // The prompt once, on sequence 0; every beam then starts from its cache.
        for (int i = 0; i < plen; i++) dec_step(m, &s, seq + i, 1, i == plen - 1);
        dec_broadcast(m, &s);
        if (K == 1) {
            rc = greedy(m, &s, seq, plen, o, seen, n);
            memcpy(ids, seq, (size_t)*n * sizeof *ids);
        } else {
            rc = beam(m, &s, seq, plen, o, seen, ids, n);
        }
        m->last.decode_ms = mono_ms() - t0 - m->last.cross_kv_ms, m->last.steps = s.len;
        dec_release(&s);
    }
    pthread_mutex_unlock(&m->mu);
    free(seq), free(seen);
    return rc;
}

/* ---------------------------------------------------------------- text in, text out */

int cap_prompt_ids(const cap_model *m, const char *prompt, int32_t *ids, int cap, int *n)
{
    int32_t buf[CAP_MAX_LENGTH + 2];
    int k, rc;
    *n = 0;
    if (!prompt || !*prompt) return 0;
    if ((rc = wp_encode(m->tok, prompt, strlen(prompt), buf, CAP_MAX_LENGTH + 2, &k)) < 0) return rc;
    if (k - 2 > cap || k > CAP_MAX_LENGTH + 2)
        return lisa_seterr(LISA_ETOOBIG, "caption: the prompt is %d tokens (room for %d)", k - 2, cap);
    memcpy(ids, buf + 1, (size_t)(k - 2) * sizeof *ids);
    *n = k - 2;
    return 0;
}

int cap_decode(const cap_model *m, const int32_t *ids, int n, char **text)
{
    return wp_decode(m->tok, ids, n, 1, text);
}

int cap_caption(cap_model *m, const img_t *img, const char *prompt, const cap_opts *o, int32_t *ids, int cap, int *n,
                char **text)
{
    const cap_config *c = &m->cfg;
    int32_t pr[CAP_MAX_LENGTH], mine[CAP_MAX_LENGTH];
    int np, k = 0, rc;
    size_t npx = (size_t)c->num_channels * c->image_size * c->image_size;
    float *px = malloc(npx * sizeof *px), *emb = malloc((size_t)cap_image_tokens(m) * c->vision.hidden * sizeof *emb);
    if (text) *text = NULL;
    if (!px || !emb) {
        rc = lisa_seterr(LISA_ENOMEM, "caption: out of memory");
        goto out;
    }
    if (!ids) ids = mine, cap = CAP_MAX_LENGTH;
    if ((rc = cap_prompt_ids(m, prompt, pr, CAP_MAX_LENGTH, &np)) < 0 || (rc = prep_image(img, &m->prep, px)) < 0 ||
        (rc = cap_vision(m, px, emb)) < 0 || (rc = cap_generate(m, emb, pr, np, o, ids, cap, &k)) < 0)
        goto out;
    if (n) *n = k;
    if (text) rc = cap_decode(m, ids, k, text);
out:
    free(px), free(emb);
    return rc;
}
