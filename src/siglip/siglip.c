#include "siglip/siglip.h"
#include "base/err.h"
#include "base/pool.h"
#include "model/checkpoint.h"
#include "model/vitload.h"
#include "siglip/gemma.h"
#include "siglip/spiece.h"
#include "tensor/tensor.h"
#include "tensor/vit.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- weights and state */

typedef struct {
    cfg_tower c;
    vit_dims dims;                // the blocks' shapes (tensor/vit.h)
    vit_layer *layer;             // c.layers of them, packed fp32
    const float *pos;             // (n_pos, d)
    const float *post_w, *post_b; // final_layer_norm / post_layernorm (d)
    const float *tok;             // text: (vocab, d)
    const float *head_w, *head_b; // text: (proj, d), (proj)
    const float *patch, *patch_b; // vision: (d, C*p*p), (d)
    // vision attention-pooling head
    const float *probe;           // (d)
    const float *in_w, *in_b;     // (3d, d), (3d): q, k, v stacked
    const float *out_w, *out_b;   // (d, d), (d)
    const float *hln_w, *hln_b;   // (d)
    const float *hfc1_w, *hfc1_b; // (ffn, d), (ffn)
    const float *hfc2_w, *hfc2_b; // (d, ffn), (d)
} sg_tower;

struct siglip_model {
    clip_config cfg;
    prep_cfg prep;
    ckpt *ck;
    gemma_tok *tok; // SigLIP 2: tokenizer.json
    spiece_tok *sp; // SigLIP 1: spiece.model (when there is no tokenizer.json)
    sg_tower text, vision;
    t_prec prec;                   // the encoder layers' packed weights
    float logit_scale, logit_bias; // scale already exp()'d
    pool *pool;
    vit_state st;
    pthread_mutex_t mu;
};

/* ---------------------------------------------------------------- loading */

static int weight(siglip_model *m, const float **out, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int weight(siglip_model *m, const float **out, int64_t d0, int64_t d1, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[2] = {d0, d1};
    return ckpt_get_f32(m->ck, name, d1 ? 2 : 1, shape, out);
}

// The encoder layer names are CLIP's (SiglipEncoderLayer mirrors CLIPEncoderLayer).
static int load_layer(siglip_model *m, const char *tw, const cfg_tower *c, int i, vit_layer *l)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.encoder.layers.%d.", tw, i);
    return vl_layer(m->ck, prefix, 0, "out_proj", c->hidden, c->intermediate, m->prec, l);
}

static vit_dims dims_of(const cfg_tower *c)
{
    t_act act = c->act == ACT_GELU ? T_ACT_GELU : c->act == ACT_GELU_TANH ? T_ACT_GELU_TANH : T_ACT_QUICK_GELU;
    return (vit_dims){c->hidden, c->intermediate, c->heads, c->eps, act};
}

static int load_layers(siglip_model *m, const char *tw, sg_tower *t)
{
    if (!(t->layer = calloc((size_t)(t->c.layers ? t->c.layers : 1), sizeof *t->layer)))
        return lisa_seterr(LISA_ENOMEM, "siglip: out of memory");
    for (int i = 0; i < t->c.layers; i++) {
        int rc = load_layer(m, tw, &t->c, i, &t->layer[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static int load_text(siglip_model *m)
{
    sg_tower *t = &m->text;
    const clip_config *c = &m->cfg;
    int d = c->text.hidden, rc;
    t->c = c->text, t->dims = dims_of(&t->c);
    if ((rc = weight(m, &t->tok, c->vocab_size, d, "text_model.embeddings.token_embedding.weight")) < 0 ||
        (rc = weight(m, &t->pos, c->max_positions, d, "text_model.embeddings.position_embedding.weight")) < 0 ||
        (rc = weight(m, &t->post_w, d, 0, "text_model.final_layer_norm.weight")) < 0 ||
        (rc = weight(m, &t->post_b, d, 0, "text_model.final_layer_norm.bias")) < 0 ||
        (rc = weight(m, &t->head_w, c->projection_dim, d, "text_model.head.weight")) < 0 ||
        (rc = weight(m, &t->head_b, c->projection_dim, 0, "text_model.head.bias")) < 0)
        return rc;
    return load_layers(m, "text_model", t);
}

static int load_head(siglip_model *m, sg_tower *t)
{
    int d = t->c.hidden, ff = t->c.intermediate, rc;
    int64_t pshape[3] = {1, 1, d};
    if ((rc = ckpt_get_f32(m->ck, "vision_model.head.probe", 3, pshape, &t->probe)) < 0 ||
        (rc = weight(m, &t->in_w, 3 * (int64_t)d, d, "vision_model.head.attention.in_proj_weight")) < 0 ||
        (rc = weight(m, &t->in_b, 3 * (int64_t)d, 0, "vision_model.head.attention.in_proj_bias")) < 0 ||
        (rc = weight(m, &t->out_w, d, d, "vision_model.head.attention.out_proj.weight")) < 0 ||
        (rc = weight(m, &t->out_b, d, 0, "vision_model.head.attention.out_proj.bias")) < 0 ||
        (rc = weight(m, &t->hln_w, d, 0, "vision_model.head.layernorm.weight")) < 0 ||
        (rc = weight(m, &t->hln_b, d, 0, "vision_model.head.layernorm.bias")) < 0 ||
        (rc = weight(m, &t->hfc1_w, ff, d, "vision_model.head.mlp.fc1.weight")) < 0 ||
        (rc = weight(m, &t->hfc1_b, ff, 0, "vision_model.head.mlp.fc1.bias")) < 0 ||
        (rc = weight(m, &t->hfc2_w, d, ff, "vision_model.head.mlp.fc2.weight")) < 0 ||
        (rc = weight(m, &t->hfc2_b, d, 0, "vision_model.head.mlp.fc2.bias")) < 0)
        return rc;
    return 0;
}

static int load_vision(siglip_model *m)
{
    sg_tower *t = &m->vision;
    const clip_config *c = &m->cfg;
    int d = c->vision.hidden, g = c->image_size / c->patch_size, rc;
    int64_t pshape[4] = {d, c->num_channels, c->patch_size, c->patch_size};
    t->c = c->vision, t->dims = dims_of(&t->c);
    if ((rc = ckpt_get_f32(m->ck, "vision_model.embeddings.patch_embedding.weight", 4, pshape, &t->patch)) < 0 ||
        (rc = weight(m, &t->patch_b, d, 0, "vision_model.embeddings.patch_embedding.bias")) < 0 ||
        (rc = weight(m, &t->pos, (int64_t)g * g, d, "vision_model.embeddings.position_embedding.weight")) < 0 ||
        (rc = weight(m, &t->post_w, d, 0, "vision_model.post_layernorm.weight")) < 0 ||
        (rc = weight(m, &t->post_b, d, 0, "vision_model.post_layernorm.bias")) < 0 || (rc = load_head(m, t)) < 0)
        return rc;
    return load_layers(m, "vision_model", t);
}

static int load_logits(siglip_model *m)
{
    const float *s, *b;
    int64_t one = 1;
    int rc;
    if ((rc = ckpt_get_f32(m->ck, "logit_scale", 1, &one, &s)) < 0 ||
        (rc = ckpt_get_f32(m->ck, "logit_bias", 1, &one, &b)) < 0)
        return rc;
    m->logit_scale = expf(s[0]);
    m->logit_bias = b[0];
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

// SiglipImageProcessor: size {height, width} resized exactly, no crop.
static int load_prep(siglip_model *m, const char *dir)
{
    char path[4096];
    int S = m->cfg.image_size, rc;
    prep_cfg *p = &m->prep;
    prep_cfg_default(p);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    p->shortest_edge = 0, p->resize_w = p->resize_h = S;
    if (exists(path) && (rc = prep_cfg_load(path, p)) < 0) return rc;
    if (!exists(path))
        for (int i = 0; i < 3; i++) p->mean[i] = p->std[i] = 0.5f;
    if (p->shortest_edge || p->resize_w != S || p->resize_h != S || !p->do_resize)
        return lisa_seterr(LISA_EFORMAT, "%s: size: a SigLIP processor resizes to {\"height\": %d, \"width\": %d}",
                           path, S, S);
    p->do_center_crop = 0; // SiglipImageProcessor has no crop; the output is S x S
    p->crop_w = p->crop_h = S;
    return 0;
}

static int load_extras(siglip_model *m, const char *dir)
{
    char path[4096];
    int rc;
    if ((rc = load_prep(m, dir)) < 0) return rc;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (exists(path)) {
        if ((rc = gemma_load(path, &m->tok)) < 0) return rc;
        if (gemma_vocab_size(m->tok) > m->cfg.vocab_size)
            return lisa_seterr(LISA_EFORMAT, "%s: %d pieces, more than the model's vocab_size %d", path,
                               gemma_vocab_size(m->tok), m->cfg.vocab_size);
        return 0;
    }
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    if (!exists(path)) return 0;
    if ((rc = spiece_load(path, &m->sp)) < 0) return rc;
    if (spiece_vocab_size(m->sp) > m->cfg.vocab_size)
        return lisa_seterr(LISA_EFORMAT, "%s: %d pieces, more than the model's vocab_size %d", path,
                           spiece_vocab_size(m->sp), m->cfg.vocab_size);
    return 0;
}

int siglip_load(const char *dir, int threads, siglip_model **out)
{
    return siglip_load_prec(dir, threads, T_PREC_F32, out);
}

int siglip_load_prec(const char *dir, int threads, t_prec prec, siglip_model **out)
{
    char path[4096];
    int rc;
    *out = NULL;
    if (prec != T_PREC_F32 && prec != T_PREC_BF16 && prec != T_PREC_INT8)
        return lisa_seterr(LISA_EINVAL, "siglip: unknown precision %d", (int)prec);
    siglip_model *m = calloc(1, sizeof *m);
    if (!m) return lisa_seterr(LISA_ENOMEM, "siglip: out of memory");
    m->prec = prec;
    pthread_mutex_init(&m->mu, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = cfg_load(path, &m->cfg)) < 0) goto fail;
    if (!m->cfg.siglip) {
        rc = lisa_seterr(LISA_EUNSUPPORTED, "%s: model_type is not siglip", path);
        goto fail;
    }
    if (m->cfg.max_positions > SIGLIP_MAX_POSITIONS || m->cfg.projection_dim != m->cfg.vision.hidden) {
        rc = lisa_seterr(LISA_EFORMAT,
                         "%s: text_config: max_position_embeddings %d (max %d), projection_size %d "
                         "(must equal vision_config.hidden_size %d)",
                         path, m->cfg.max_positions, SIGLIP_MAX_POSITIONS, m->cfg.projection_dim, m->cfg.vision.hidden);
        goto fail;
    }
    if ((rc = ckpt_open(dir, &m->ck)) < 0) goto fail;
    if ((rc = load_text(m)) < 0 || (rc = load_vision(m)) < 0 || (rc = load_logits(m)) < 0 ||
        (rc = load_extras(m, dir)) < 0)
        goto fail;
    if ((rc = pool_new(threads, &m->pool)) < 0) goto fail;
    t_set_threads(1); // parallelism comes from the pool
    *out = m;
    return 0;
fail:
    siglip_free(m);
    return rc;
}

static void tower_free(sg_tower *t)
{
    for (int i = 0; t->layer && i < t->c.layers; i++) vit_layer_free(&t->layer[i]);
    free(t->layer);
}

void siglip_free(siglip_model *m)
{
    if (!m) return;
    vit_release(&m->st);
    tower_free(&m->text);
    tower_free(&m->vision);
    pool_free(m->pool);
    gemma_free(m->tok);
    spiece_free(m->sp);
    ckpt_close(m->ck);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int siglip_dim(const siglip_model *m)
{
    return m->cfg.projection_dim;
}
const clip_config *siglip_cfg(const siglip_model *m)
{
    return &m->cfg;
}
const prep_cfg *siglip_prep(const siglip_model *m)
{
    return &m->prep;
}
int siglip_has_tokenizer(const siglip_model *m)
{
    return m->tok || m->sp;
}

void siglip_logit_params(const siglip_model *m, float *scale, float *bias)
{
    *scale = m->logit_scale, *bias = m->logit_bias;
}

float siglip_prob(const siglip_model *m, float cos)
{
    return 1.0f / (1.0f + expf(-(cos * m->logit_scale + m->logit_bias)));
}

/* ---------------------------------------------------------------- encoder */

static void activate(cfg_act a, float *x, size_t n)
{
    if (a == ACT_GELU)
        t_gelu(x, n);
    else if (a == ACT_GELU_TANH)
        t_gelu_tanh(x, n);
    else
        t_quick_gelu(x, n);
}

/* ---------------------------------------------------------------- text tower */

static int text_forward(siglip_model *m, const int32_t *ids, int n, float *out)
{
    const sg_tower *t = &m->text;
    vit_state *s = &m->st;
    int d = t->c.hidden, P = m->cfg.projection_dim, rc;
    if ((rc = vit_reserve(s, pool_size(m->pool), (size_t)n * d, (size_t)n * t->c.intermediate, n, "siglip")) < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        float *xi = s->x + (size_t)i * d;
        memcpy(xi, t->tok + (size_t)ids[i] * d, (size_t)d * sizeof *xi);
        t_add(xi, t->pos + (size_t)i * d, (size_t)d);
    }
    for (int l = 0; l < t->c.layers; l++) vit_block(s, m->pool, &t->dims, &t->layer[l], 1, n, 0);
    // Layer norm is per row, so normalizing the pooled row alone is exact.
    t_layernorm(s->h, s->x + (size_t)(n - 1) * d, t->post_w, t->post_b, 1, d, t->c.eps);
    t_matmul(out, s->h, t->head_w, t->head_b, 1, d, P);
    t_l2norm(out, P);
    return 0;
}

int siglip_embed_text(siglip_model *m, const int32_t *ids, int n, float *out)
{
    if (n < 1 || n > m->cfg.max_positions)
        return lisa_seterr(LISA_EINVAL, "siglip: %d tokens (must be 1..%d)", n, m->cfg.max_positions);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return lisa_seterr(LISA_EINVAL, "siglip: token id %d at %d is outside the vocabulary (%d)", ids[i], i,
                               m->cfg.vocab_size);
    pthread_mutex_lock(&m->mu);
    int rc = text_forward(m, ids, n, out);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int siglip_tokenize(const siglip_model *m, const char *text, int32_t *ids, int cap, int *n)
{
    int max = m->cfg.max_positions, k, rc;
    if (!m->tok && !m->sp)
        return lisa_seterr(LISA_ENOTFOUND, "siglip: the model has no tokenizer.json or spiece.model");
    if (cap < max) return lisa_seterr(LISA_EINVAL, "siglip: room for %d ids, %d needed", cap, max);
    rc = m->tok ? gemma_encode(m->tok, text, strlen(text), ids, max, &k)
                : spiece_encode(m->sp, text, strlen(text), ids, max, &k);
    if (rc < 0) return rc;
    for (int i = k; i < max; i++) ids[i] = m->tok ? gemma_pad(m->tok) : spiece_pad(m->sp);
    *n = max;
    return 0;
}

int siglip_embed_text_str(siglip_model *m, const char *text, float *out)
{
    int32_t ids[SIGLIP_MAX_POSITIONS];
    int n, rc;
    if ((rc = siglip_tokenize(m, text, ids, SIGLIP_MAX_POSITIONS, &n)) < 0) return rc;
    return siglip_embed_text(m, ids, n, out);
}

/* ---------------------------------------------------------------- vision tower */

// SiglipMultiheadAttentionPoolingHead over one image's n rows hs (n, d) into
// out (d). Scratch: s->h (query), s->qkv (k, v, then a row), s->att, s->mlp, s->scores.
static void pool_head(siglip_model *m, const float *hs, int n, float *out)
{
    const sg_tower *t = &m->vision;
    vit_state *s = &m->st;
    int d = t->c.hidden, ff = t->c.intermediate;
    size_t dd = (size_t)d * d;
    float *q = s->h, *k = s->qkv, *v = s->qkv + (size_t)n * d, *r = s->qkv + 2 * (size_t)n * d;
    t_matmul(q, t->probe, t->in_w, t->in_b, 1, d, d);
    t_matmul_pool(m->pool, k, hs, t->in_w + dd, t->in_b + d, n, d, d);
    t_matmul_pool(m->pool, v, hs, t->in_w + 2 * dd, t->in_b + 2 * d, n, d, d);
    vit_attend_one(s->att, q, k, v, d, n, t->c.heads, d, s->scores); // nn.MultiheadAttention: q / sqrt(hd)
    t_matmul(out, s->att, t->out_w, t->out_b, 1, d, d);              // residual = attention output
    t_layernorm(r, out, t->hln_w, t->hln_b, 1, d, t->c.eps);
    t_matmul(s->mlp, r, t->hfc1_w, t->hfc1_b, 1, d, ff);
    activate(t->c.act, s->mlp, (size_t)ff);
    t_matmul(r, s->mlp, t->hfc2_w, t->hfc2_b, 1, ff, d);
    t_add(out, r, (size_t)d);
}

static int vision_forward(siglip_model *m, const float *pixels, int B, float *out)
{
    const sg_tower *t = &m->vision;
    vit_state *s = &m->st;
    int C = m->cfg.num_channels, S = m->cfg.image_size, p = m->cfg.patch_size, g = S / p, n = g * g;
    int d = t->c.hidden, K = C * p * p, rc;
    size_t act = (size_t)B * n * d, patches = (size_t)B * n * K;
    if ((rc = vit_reserve(s, pool_size(m->pool), act > patches ? act : patches, (size_t)B * n * t->c.intermediate, n,
                          "siglip")) < 0)
        return rc;
    for (int b = 0; b < B; b++) vit_unfold(pixels + (size_t)b * C * S * S, C, S, p, s->att + (size_t)b * n * K);
    t_matmul_pool(m->pool, s->x, s->att, t->patch, t->patch_b, B * n, K, d);
    for (int b = 0; b < B; b++) t_add(s->x + (size_t)b * n * d, t->pos, (size_t)n * d);
    for (int l = 0; l < t->c.layers; l++) vit_block(s, m->pool, &t->dims, &t->layer[l], B, n, 0);
    t_layernorm(s->x, s->x, t->post_w, t->post_b, B * n, d, t->c.eps);
    for (int b = 0; b < B; b++) {
        pool_head(m, s->x + (size_t)b * n * d, n, out + (size_t)b * d);
        t_l2norm(out + (size_t)b * d, d);
    }
    return 0;
}

int siglip_embed_images(siglip_model *m, const float *pixels, int batch, float *out)
{
    size_t img = (size_t)m->cfg.num_channels * m->cfg.image_size * m->cfg.image_size;
    int rc = 0;
    if (batch < 0) return lisa_seterr(LISA_EINVAL, "siglip: negative batch %d", batch);
    pthread_mutex_lock(&m->mu);
    for (int b = 0; b < batch && rc == 0; b += SIGLIP_MAX_BATCH_CHUNK) {
        int nb = batch - b < SIGLIP_MAX_BATCH_CHUNK ? batch - b : SIGLIP_MAX_BATCH_CHUNK;
        rc = vision_forward(m, pixels + (size_t)b * img, nb, out + (size_t)b * m->cfg.projection_dim);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}
