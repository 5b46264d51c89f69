#include "siglip/siglip.h"
#include "base/err.h"
#include "base/pool.h"
#include "model/checkpoint.h"
#include "siglip/gemma.h"
#include "siglip/spiece.h"
#include "tensor/tensor.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- weights and state */

typedef struct {
    const float *ln1_w, *ln1_b;         // (d)
    const float *q_w, *q_b, *k_w, *k_b; // (d, d), (d)
    const float *v_w, *v_b, *o_w, *o_b; // (d, d), (d)
    const float *ln2_w, *ln2_b;         // (d)
    const float *fc1_w, *fc1_b;         // (ffn, d), (ffn)
    const float *fc2_w, *fc2_b;         // (d, ffn), (d)
} sg_layer;

typedef struct {
    cfg_tower c;
    sg_layer *layer;              // c.layers of them
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

typedef struct {
    size_t cap_act, cap_mlp, cap_scores;
    float *x, *h, *q, *k, *v, *att; // (rows, d) each; att also holds the unfolded patches
    float *mlp;                     // (rows, ffn)
    float *scores;                  // (threads, n, n)
} sg_state;

struct siglip_model {
    clip_config cfg;
    prep_cfg prep;
    ckpt *ck;
    gemma_tok *tok; // SigLIP 2: tokenizer.json
    spiece_tok *sp; // SigLIP 1: spiece.model (when there is no tokenizer.json)
    sg_tower text, vision;
    float logit_scale, logit_bias; // scale already exp()'d
    pool *pool;
    sg_state st;
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
static int load_layer(siglip_model *m, const char *tw, const cfg_tower *c, int i, sg_layer *l)
{
    int d = c->hidden, ff = c->intermediate, rc;
#define W(dst, a, b, sfx) weight(m, &l->dst, a, b, "%s.encoder.layers.%d.%s", tw, i, sfx)
    if ((rc = W(ln1_w, d, 0, "layer_norm1.weight")) < 0 || (rc = W(ln1_b, d, 0, "layer_norm1.bias")) < 0 ||
        (rc = W(q_w, d, d, "self_attn.q_proj.weight")) < 0 || (rc = W(q_b, d, 0, "self_attn.q_proj.bias")) < 0 ||
        (rc = W(k_w, d, d, "self_attn.k_proj.weight")) < 0 || (rc = W(k_b, d, 0, "self_attn.k_proj.bias")) < 0 ||
        (rc = W(v_w, d, d, "self_attn.v_proj.weight")) < 0 || (rc = W(v_b, d, 0, "self_attn.v_proj.bias")) < 0 ||
        (rc = W(o_w, d, d, "self_attn.out_proj.weight")) < 0 || (rc = W(o_b, d, 0, "self_attn.out_proj.bias")) < 0 ||
        (rc = W(ln2_w, d, 0, "layer_norm2.weight")) < 0 || (rc = W(ln2_b, d, 0, "layer_norm2.bias")) < 0 ||
        (rc = W(fc1_w, ff, d, "mlp.fc1.weight")) < 0 || (rc = W(fc1_b, ff, 0, "mlp.fc1.bias")) < 0 ||
        (rc = W(fc2_w, d, ff, "mlp.fc2.weight")) < 0 || (rc = W(fc2_b, d, 0, "mlp.fc2.bias")) < 0)
        return rc;
#undef W
    return 0;
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
    t->c = c->text;
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
    t->c = c->vision;
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
    char path[4096];
    int rc;
    *out = NULL;
    siglip_model *m = calloc(1, sizeof *m);
    if (!m) return lisa_seterr(LISA_ENOMEM, "siglip: out of memory");
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

static void state_release(sg_state *s)
{
    free(s->x), free(s->h), free(s->q), free(s->k), free(s->v), free(s->att), free(s->mlp), free(s->scores);
    memset(s, 0, sizeof *s);
}

void siglip_free(siglip_model *m)
{
    if (!m) return;
    state_release(&m->st);
    pool_free(m->pool);
    free(m->text.layer);
    free(m->vision.layer);
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

/* ---------------------------------------------------------------- scratch */

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q) return -1;
    *p = q;
    return 0;
}

static int state_reserve(sg_state *s, pool *p, size_t act, size_t mlp, size_t scores)
{
    size_t sc = scores * (size_t)pool_size(p);
    int rc = 0;
    if (act > s->cap_act) {
        float **bufs[] = {&s->x, &s->h, &s->q, &s->k, &s->v, &s->att};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rc |= grow(bufs[i], act);
        s->cap_act = act;
    }
    if (mlp > s->cap_mlp) rc |= grow(&s->mlp, mlp), s->cap_mlp = mlp;
    if (sc > s->cap_scores) rc |= grow(&s->scores, sc), s->cap_scores = sc;
    if (rc) {
        state_release(s);
        return lisa_seterr(LISA_ENOMEM, "siglip: out of memory for activations");
    }
    return 0;
}

/* ---------------------------------------------------------------- encoder */

struct attn_job {
    const sg_tower *t;
    sg_state *s;
    int n;
};

static void attn_task(void *ctx, int i, int tid)
{
    struct attn_job *j = ctx;
    int d = j->t->c.hidden, heads = j->t->c.heads, hd = d / heads, seq = i / heads, h = i % heads;
    size_t off = (size_t)seq * j->n * d + (size_t)h * hd;
    t_attention_head(j->s->att + off, j->s->q + off, j->s->k + off, j->s->v + off, j->n, hd, d, 0,
                     j->s->scores + (size_t)tid * j->n * j->n);
}

static void activate(cfg_act a, float *x, size_t n)
{
    if (a == ACT_GELU)
        t_gelu(x, n);
    else if (a == ACT_GELU_TANH)
        t_gelu_tanh(x, n);
    else
        t_quick_gelu(x, n);
}

// One pre-LN block without a mask over nseq sequences of n tokens in s->x
// (the same block as CLIP's; SigLIP never masks).
static void block(sg_state *s, pool *p, const sg_tower *t, const sg_layer *l, int nseq, int n)
{
    int d = t->c.hidden, ff = t->c.intermediate, rows = nseq * n;
    t_layernorm(s->h, s->x, l->ln1_w, l->ln1_b, rows, d, t->c.eps);
    t_matmul_pool(p, s->q, s->h, l->q_w, l->q_b, rows, d, d);
    t_matmul_pool(p, s->k, s->h, l->k_w, l->k_b, rows, d, d);
    t_matmul_pool(p, s->v, s->h, l->v_w, l->v_b, rows, d, d);
    struct attn_job job = {t, s, n};
    pool_for(p, nseq * t->c.heads, attn_task, &job);
    t_matmul_pool(p, s->h, s->att, l->o_w, l->o_b, rows, d, d);
    t_add(s->x, s->h, (size_t)rows * d);
    t_layernorm(s->h, s->x, l->ln2_w, l->ln2_b, rows, d, t->c.eps);
    t_matmul_pool(p, s->mlp, s->h, l->fc1_w, l->fc1_b, rows, d, ff);
    activate(t->c.act, s->mlp, (size_t)rows * ff);
    t_matmul_pool(p, s->h, s->mlp, l->fc2_w, l->fc2_b, rows, ff, d);
    t_add(s->x, s->h, (size_t)rows * d);
}

/* ---------------------------------------------------------------- text tower */

static int text_forward(siglip_model *m, const int32_t *ids, int n, float *out)
{
    const sg_tower *t = &m->text;
    sg_state *s = &m->st;
    int d = t->c.hidden, P = m->cfg.projection_dim, rc;
    if ((rc = state_reserve(s, m->pool, (size_t)n * d, (size_t)n * t->c.intermediate, (size_t)n * n)) < 0) return rc;
    for (int i = 0; i < n; i++) {
        float *xi = s->x + (size_t)i * d;
        memcpy(xi, t->tok + (size_t)ids[i] * d, (size_t)d * sizeof *xi);
        t_add(xi, t->pos + (size_t)i * d, (size_t)d);
    }
    for (int l = 0; l < t->c.layers; l++) block(s, m->pool, t, &t->layer[l], 1, n);
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

// Unfolds one (C, S, S) image into (g*g, C*p*p) rows ordered like the conv weight.
static void unfold(const float *img, int C, int S, int p, float *dst)
{
    int g = S / p;
    for (int py = 0; py < g; py++)
        for (int px = 0; px < g; px++) {
            float *row = dst + (size_t)(py * g + px) * C * p * p;
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(row + (size_t)(c * p + ky) * p, img + ((size_t)c * S + py * p + ky) * S + px * p,
                           (size_t)p * sizeof *row);
        }
}

// One query q (d) against n keys/values (n, d), heads of width hd: out (d).
// scores holds n floats. nn.MultiheadAttention scales q by 1/sqrt(hd).
static void probe_attention(float *out, const float *q, const float *k, const float *v, int n, int d, int heads,
                            float *scores)
{
    int hd = d / heads;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < heads; h++) {
        const float *qh = q + (size_t)h * hd;
        for (int j = 0; j < n; j++) {
            const float *kj = k + (size_t)j * d + (size_t)h * hd;
            float acc = 0;
            for (int c = 0; c < hd; c++) acc += qh[c] * kj[c];
            scores[j] = acc * scale;
        }
        t_softmax(scores, n);
        float *oh = out + (size_t)h * hd;
        memset(oh, 0, (size_t)hd * sizeof *oh);
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * d + (size_t)h * hd;
            for (int c = 0; c < hd; c++) oh[c] += scores[j] * vj[c];
        }
    }
}

// SiglipMultiheadAttentionPoolingHead over one image's n rows hs (n, d) into
// out (d). Scratch: s->h (query), s->k, s->v, s->att, s->q, s->mlp, s->scores.
static void pool_head(siglip_model *m, const float *hs, int n, float *out)
{
    const sg_tower *t = &m->vision;
    sg_state *s = &m->st;
    int d = t->c.hidden, ff = t->c.intermediate;
    size_t dd = (size_t)d * d;
    float *q = s->h; // free after the post-layernorm
    t_matmul(q, t->probe, t->in_w, t->in_b, 1, d, d);
    t_matmul_pool(m->pool, s->k, hs, t->in_w + dd, t->in_b + d, n, d, d);
    t_matmul_pool(m->pool, s->v, hs, t->in_w + 2 * dd, t->in_b + 2 * d, n, d, d);
    probe_attention(s->att, q, s->k, s->v, n, d, t->c.heads, s->scores);
    t_matmul(out, s->att, t->out_w, t->out_b, 1, d, d); // residual = attention output
    t_layernorm(s->q, out, t->hln_w, t->hln_b, 1, d, t->c.eps);
    t_matmul(s->mlp, s->q, t->hfc1_w, t->hfc1_b, 1, d, ff);
    activate(t->c.act, s->mlp, (size_t)ff);
    t_matmul(s->q, s->mlp, t->hfc2_w, t->hfc2_b, 1, ff, d);
    t_add(out, s->q, (size_t)d);
}

static int vision_forward(siglip_model *m, const float *pixels, int B, float *out)
{
    const sg_tower *t = &m->vision;
    sg_state *s = &m->st;
    int C = m->cfg.num_channels, S = m->cfg.image_size, p = m->cfg.patch_size, g = S / p, n = g * g;
    int d = t->c.hidden, K = C * p * p, rc;
    size_t act = (size_t)B * n * d, patches = (size_t)B * n * K;
    if ((rc = state_reserve(s, m->pool, act > patches ? act : patches, (size_t)B * n * t->c.intermediate,
                            (size_t)n * n)) < 0)
        return rc;
    for (int b = 0; b < B; b++) unfold(pixels + (size_t)b * C * S * S, C, S, p, s->att + (size_t)b * n * K);
    t_matmul_pool(m->pool, s->x, s->att, t->patch, t->patch_b, B * n, K, d);
    for (int b = 0; b < B; b++) t_add(s->x + (size_t)b * n * d, t->pos, (size_t)n * d);
    for (int l = 0; l < t->c.layers; l++) block(s, m->pool, t, &t->layer[l], B, n);
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
