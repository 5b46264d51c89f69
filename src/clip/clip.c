#include "clip/clip.h"
#include "base/err.h"
#include "base/half.h"
#include "base/pool.h"
#include "clip/bpe.h"
#include "model/checkpoint.h"
#include "model/vitload.h"
#include "tensor/gemm.h"
#include "siglip/siglip.h"
#include "tensor/tensor.h"
#include "tensor/vit.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- weights and state */

// Linear weights are packed (tensor/gemm.h) and owned; vectors point into the
// checkpoint (F32 maps, or its converted copies). Blocks are tensor/vit.h's.

typedef struct {
    cfg_tower c;
    vit_dims dims;                // the blocks' shapes
    vit_layer *layer;             // c.layers of them
    const float *pos;             // (n_pos, d) position embedding
    const float *pre_w, *pre_b;   // vision pre_layrnorm (d); NULL for text
    const float *post_w, *post_b; // final_layer_norm / post_layernorm (d)
    t_packed *proj;               // (projection_dim, d), no bias
    const uint8_t *tok;           // text: (vocab, d) token embedding as stored, of type tok_src
    t_src tok_src;
    const float *cls; // vision: (d) class token
    t_packed *patch;  // vision: (d, C*p*p) patch conv
} clip_tower;

struct clip_model {
    clip_config cfg;
    prep_cfg prep;
    ckpt *ck; // model.safetensors, or an index and its shards
    bpe_tok *tok;
    clip_tower text, vision;
    t_prec prec;
    pool *pool;
    vit_state *states; // pool_size(pool) of them, one per thread
    pthread_mutex_t mu;
    siglip_model *sg; // a SiglipModel dir: every call goes there
};

/* ---------------------------------------------------------------- loading */

// Looks up the F32 view of a tensor named by fmt, with shape (d0) or (d0, d1).
static int weight(clip_model *m, const float **out, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int weight(clip_model *m, const float **out, int64_t d0, int64_t d1, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[2] = {d0, d1};
    return ckpt_get_f32(m->ck, name, d1 ? 2 : 1, shape, out);
}

// Packs nparts stacked tensors names[i] of shape (rows[i], in) (d2 > 0: a
// (rows, in / (d2*d2), d2, d2) conv) into *out in the model's precision.
static int pack_weights(clip_model *m, t_packed **out, int nparts, const char *const *names, const int *rows, int in,
                        int d2)
{
    return vl_pack(m->ck, nparts, names, rows, in, d2, m->prec, out);
}

static int pack_one(clip_model *m, t_packed **out, int rows, int in, const char *name)
{
    return pack_weights(m, out, 1, &name, &rows, in, 0);
}

static int load_layer(clip_model *m, const char *tw, const cfg_tower *c, int i, vit_layer *l)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.encoder.layers.%d.", tw, i);
    return vl_layer(m->ck, prefix, 0, "out_proj", c->hidden, c->intermediate, m->prec, l);
}

static int load_layers(clip_model *m, const char *tw, clip_tower *t)
{
    if (!(t->layer = calloc((size_t)(t->c.layers ? t->c.layers : 1), sizeof *t->layer)))
        return lisa_seterr(LISA_ENOMEM, "clip: out of memory");
    for (int i = 0; i < t->c.layers; i++) {
        int rc = load_layer(m, tw, &t->c, i, &t->layer[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static vit_dims dims_of(const cfg_tower *c)
{
    t_act act = c->act == ACT_GELU ? T_ACT_GELU : c->act == ACT_GELU_TANH ? T_ACT_GELU_TANH : T_ACT_QUICK_GELU;
    return (vit_dims){c->hidden, c->intermediate, c->heads, c->eps, act};
}

static int load_text(clip_model *m)
{
    clip_tower *t = &m->text;
    const clip_config *c = &m->cfg;
    int d = c->text.hidden, rc;
    t->c = c->text, t->dims = dims_of(&t->c);
    const st_tensor *tok;
    if ((rc = vl_raw(m->ck, "text_model.embeddings.token_embedding.weight", c->vocab_size, d, 0, &tok)) < 0 ||
        (rc = weight(m, &t->pos, c->max_positions, d, "text_model.embeddings.position_embedding.weight")) < 0 ||
        (rc = weight(m, &t->post_w, d, 0, "text_model.final_layer_norm.weight")) < 0 ||
        (rc = weight(m, &t->post_b, d, 0, "text_model.final_layer_norm.bias")) < 0 ||
        (rc = pack_one(m, &t->proj, c->projection_dim, d, "text_projection.weight")) < 0)
        return rc;
    t->tok = tok->data, t->tok_src = vl_src(tok); // rows are read (and widened) as tokens come
    return load_layers(m, "text_model", t);
}

static int load_vision(clip_model *m)
{
    clip_tower *t = &m->vision;
    const clip_config *c = &m->cfg;
    int d = c->vision.hidden, g = c->image_size / c->patch_size, rc;
    int K = c->num_channels * c->patch_size * c->patch_size;
    const char *pn = "vision_model.embeddings.patch_embedding.weight";
    t->c = c->vision, t->dims = dims_of(&t->c);
    if ((rc = pack_weights(m, &t->patch, 1, &pn, &d, K, c->patch_size)) < 0 ||
        (rc = weight(m, &t->cls, d, 0, "vision_model.embeddings.class_embedding")) < 0 ||
        (rc = weight(m, &t->pos, (int64_t)g * g + 1, d, "vision_model.embeddings.position_embedding.weight")) < 0 ||
        (rc = weight(m, &t->pre_w, d, 0, "vision_model.pre_layrnorm.weight")) < 0 ||
        (rc = weight(m, &t->pre_b, d, 0, "vision_model.pre_layrnorm.bias")) < 0 ||
        (rc = weight(m, &t->post_w, d, 0, "vision_model.post_layernorm.weight")) < 0 ||
        (rc = weight(m, &t->post_b, d, 0, "vision_model.post_layernorm.bias")) < 0 ||
        (rc = pack_one(m, &t->proj, c->projection_dim, d, "visual_projection.weight")) < 0)
        return rc;
    return load_layers(m, "vision_model", t);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

// Optional files: the tokenizer and the preprocessing config.
static int load_extras(clip_model *m, const char *dir)
{
    char path[4096];
    int rc;
    prep_cfg_default(&m->prep);
    m->prep.shortest_edge = m->prep.crop_h = m->prep.crop_w = m->cfg.image_size;
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    if (exists(path) && (rc = prep_cfg_load(path, &m->prep)) < 0) return rc;
    if (m->prep.crop_h != m->cfg.image_size || m->prep.crop_w != m->cfg.image_size)
        return lisa_seterr(LISA_EFORMAT, "%s: crop %dx%d does not match the model's image_size %d", path,
                           m->prep.crop_w, m->prep.crop_h, m->cfg.image_size);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!exists(path)) snprintf(path, sizeof path, "%s/vocab.json", dir);
    if (exists(path) && (rc = bpe_load(dir, &m->tok)) < 0) return rc;
    return 0;
}

int clip_parse_precision(const char *name, int *prec)
{
    if (!strcmp(name, "fp32")) {
        *prec = CLIP_PREC_FP32;
    } else if (!strcmp(name, "bf16")) {
        *prec = CLIP_PREC_BF16;
    } else if (!strcmp(name, "int8")) {
        *prec = CLIP_PREC_INT8;
    } else {
        return lisa_seterr(LISA_EINVAL, "'%s': expected fp32, bf16 or int8", name);
    }
    return 0;
}

int clip_default_precision(void)
{
    if (t_gemm_int8_faster()) return CLIP_PREC_INT8;
    return t_gemm_path() == T_PATH_AVX512 ? CLIP_PREC_BF16 : CLIP_PREC_FP32;
}

const char *clip_precision_name(int prec)
{
    return prec == CLIP_PREC_BF16 ? "bf16" : prec == CLIP_PREC_INT8 ? "int8" : "fp32";
}

static t_prec tensor_prec(int prec)
{
    return prec == CLIP_PREC_BF16 ? T_PREC_BF16 : prec == CLIP_PREC_INT8 ? T_PREC_INT8 : T_PREC_F32;
}

static int g_prec = -1; // clip_set_precision's choice; -1: none

void clip_set_precision(int prec)
{
    g_prec = prec == CLIP_PREC_BF16 || prec == CLIP_PREC_INT8 ? prec : CLIP_PREC_FP32;
}

const char *clip_load_precision(void)
{
    const char *env = getenv("LISA_PRECISION");
    int prec = clip_default_precision();
    if (g_prec >= 0)
        prec = g_prec;
    else if (env && *env && clip_parse_precision(env, &prec) < 0)
        return "invalid";
    return clip_precision_name(prec);
}

int clip_load(const char *dir, int threads, clip_model **out)
{
    const char *env = getenv("LISA_PRECISION");
    int prec = clip_default_precision(), rc;
    *out = NULL;
    if (g_prec >= 0)
        prec = g_prec;
    else if (env && *env && (rc = clip_parse_precision(env, &prec)) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", lisa_errmsg_for(rc));
        return lisa_seterr(rc, "LISA_PRECISION: %s", why);
    }
    return clip_load_prec(dir, threads, prec, out);
}

static void tower_free(clip_tower *t)
{
    for (int i = 0; t->layer && i < t->c.layers; i++) vit_layer_free(&t->layer[i]);
    free(t->layer);
    t_packed_free(t->proj), t_packed_free(t->patch);
}

int clip_load_prec(const char *dir, int threads, int prec, clip_model **out)
{
    char path[4096];
    int rc;
    *out = NULL;
    if (prec != CLIP_PREC_FP32 && prec != CLIP_PREC_BF16 && prec != CLIP_PREC_INT8)
        return lisa_seterr(LISA_EINVAL, "clip: unknown precision %d", prec);
    clip_model *m = calloc(1, sizeof *m);
    if (!m) return lisa_seterr(LISA_ENOMEM, "clip: out of memory");
    m->prec = tensor_prec(prec);
    pthread_mutex_init(&m->mu, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = cfg_load(path, &m->cfg)) < 0) goto fail;
    if (m->cfg.siglip) {
        if ((rc = siglip_load_prec(dir, threads, m->prec, &m->sg)) < 0) goto fail;
        *out = m;
        return 0;
    }
    if ((rc = ckpt_open(dir, &m->ck)) < 0) goto fail;
    if ((rc = load_text(m)) < 0 || (rc = load_vision(m)) < 0 || (rc = load_extras(m, dir)) < 0) goto fail;
    if ((rc = pool_new(threads, &m->pool)) < 0) goto fail;
    if (!(m->states = calloc((size_t)pool_size(m->pool), sizeof *m->states))) {
        rc = lisa_seterr(LISA_ENOMEM, "clip: out of memory");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    clip_free(m);
    return rc;
}

void clip_free(clip_model *m)
{
    if (!m) return;
    siglip_free(m->sg);
    for (int i = 0; m->states && i < pool_size(m->pool); i++) vit_release(&m->states[i]);
    free(m->states);
    pool_free(m->pool);
    tower_free(&m->text);
    tower_free(&m->vision);
    bpe_free(m->tok);
    ckpt_close(m->ck);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *clip_precision(const clip_model *m)
{
    return m->prec == T_PREC_BF16 ? "bf16" : m->prec == T_PREC_INT8 ? "int8" : "fp32";
}

const char *clip_kernel_path(void)
{
    int prec = clip_default_precision();
    const char *env = getenv("LISA_PRECISION");
    if (g_prec >= 0)
        prec = g_prec;
    else if (env && *env && clip_parse_precision(env, &prec) < 0)
        lisa_clearerr();
    return t_gemm_kernel_name(tensor_prec(prec));
}

const char *clip_model_kernel(const clip_model *m)
{
    return t_gemm_kernel_name(m->prec);
}

size_t clip_weight_bytes(const clip_model *m)
{
    size_t n = 0;
    const clip_tower *ts[2] = {&m->text, &m->vision};
    for (int k = 0; k < 2; k++) {
        const clip_tower *t = ts[k];
        for (int i = 0; t->layer && i < t->c.layers; i++) {
            n += vit_layer_bytes(&t->layer[i]);
        }
        if (t->proj) n += t_packed_bytes(t->proj);
        if (t->patch) n += t_packed_bytes(t->patch);
    }
    return n;
}

int clip_dim(const clip_model *m)
{
    return m->sg ? siglip_dim(m->sg) : m->cfg.projection_dim;
}
const clip_config *clip_cfg(const clip_model *m)
{
    return m->sg ? siglip_cfg(m->sg) : &m->cfg;
}
const prep_cfg *clip_prep(const clip_model *m)
{
    return m->sg ? siglip_prep(m->sg) : &m->prep;
}
int clip_has_tokenizer(const clip_model *m)
{
    return m->sg ? siglip_has_tokenizer(m->sg) : m->tok != NULL;
}
siglip_model *clip_siglip(const clip_model *m)
{
    return m->sg;
}

/* ---------------------------------------------------------------- encoder */

// One pre-LN transformer block (tensor/vit.h) over nseq sequences of n tokens in s->x.
static void block(vit_state *s, pool *p, const clip_tower *t, const vit_layer *l, int nseq, int n, int causal)
{
    vit_block(s, p, &t->dims, l, nseq, n, causal);
}

/* ---------------------------------------------------------------- text tower */

// HF's pooled row: legacy configs (eos_token_id 2) take argmax(ids), the first
// maximum; others the first id equal to eos_token_id, or 0 when there is none.
static int eos_index(const clip_config *c, const int32_t *ids, int n)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (c->eos_token_id == 2) {
            if (ids[i] > ids[best]) best = i;
        } else if (ids[i] == c->eos_token_id) {
            return i;
        }
    }
    return best;
}

// Embeds tokens 0..n-1 (n = EOS row + 1) with the causal mask, pools row n-1.
static int text_forward(clip_model *m, const int32_t *ids, int n, float *out)
{
    const clip_tower *t = &m->text;
    vit_state *s = &m->states[0];
    int d = t->c.hidden, P = m->cfg.projection_dim, rc;
    if ((rc = vit_reserve(s, pool_size(m->pool), (size_t)n * d, (size_t)n * t->c.intermediate, n, "clip")) < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        float *xi = s->x + (size_t)i * d;
        size_t row = (size_t)ids[i] * d;
        if (t->tok_src == T_SRC_F32) {
            memcpy(xi, t->tok + row * 4, (size_t)d * sizeof *xi);
        } else {
            for (int c = 0; c < d; c++) {
                uint16_t h;
                memcpy(&h, t->tok + (row + c) * 2, 2);
                xi[c] = t->tok_src == T_SRC_BF16 ? bf16_to_f32(h) : half_to_f32(h);
            }
        }
        t_add(xi, t->pos + (size_t)i * d, (size_t)d);
    }
    for (int l = 0; l < t->c.layers; l++) block(s, m->pool, t, &t->layer[l], 1, n, 1);
    t_layernorm(s->h, s->x + (size_t)(n - 1) * d, t->post_w, t->post_b, 1, d, t->c.eps);
    t_gemm(NULL, out, P, s->h, d, t->proj, NULL, 1, T_ACT_NONE);
    t_l2norm(out, P);
    return 0;
}

int clip_embed_text(clip_model *m, const int32_t *ids, int n, float *out)
{
    if (m->sg) return siglip_embed_text(m->sg, ids, n, out);
    if (n < 1 || n > m->cfg.max_positions)
        return lisa_seterr(LISA_EINVAL, "clip: %d tokens (must be 1..%d)", n, m->cfg.max_positions);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return lisa_seterr(LISA_EINVAL, "clip: token id %d at %d is outside the vocabulary (%d)", ids[i], i,
                               m->cfg.vocab_size);
    pthread_mutex_lock(&m->mu);
    int rc = text_forward(m, ids, eos_index(&m->cfg, ids, n) + 1, out);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int clip_embed_text_str(clip_model *m, const char *text, float *out)
{
    int32_t ids[BPE_CONTEXT_LEN];
    int n, max = m->cfg.max_positions < BPE_CONTEXT_LEN ? m->cfg.max_positions : BPE_CONTEXT_LEN, rc;
    if (m->sg) return siglip_embed_text_str(m->sg, text, out);
    if (!m->tok) return lisa_seterr(LISA_ENOTFOUND, "clip: the model has no tokenizer.json");
    if ((rc = bpe_encode(m->tok, text, strlen(text), ids, max, &n)) < 0) return rc;
    return clip_embed_text(m, ids, n, out);
}

/* ---------------------------------------------------------------- vision tower */

// B images -> B embeddings. Rows are [class, patch 0 .. patch np-1] per image.
// Uses state s; attention spreads over pool pl (NULL: this thread only).
static int vision_forward(const clip_model *m, vit_state *s, pool *pl, const float *pixels, int B, float *out)
{
    const clip_tower *t = &m->vision;
    int C = m->cfg.num_channels, S = m->cfg.image_size, p = m->cfg.patch_size, g = S / p, np = g * g;
    int n = np + 1, d = t->c.hidden, K = C * p * p, P = m->cfg.projection_dim, rc;
    size_t act = (size_t)B * n * d, patches = (size_t)B * np * K;
    if ((rc = vit_reserve(s, pool_size(pl), act > patches ? act : patches, (size_t)B * n * t->c.intermediate, n,
                          "clip")) < 0)
        return rc;
    for (int b = 0; b < B; b++) vit_unfold(pixels + (size_t)b * C * S * S, C, S, p, s->att + (size_t)b * np * K);
    t_gemm(pl, s->qkv, d, s->att, K, t->patch, NULL, B * np, T_ACT_NONE);
    for (int b = 0; b < B; b++) {
        float *x = s->x + (size_t)b * n * d;
        memcpy(x, t->cls, (size_t)d * sizeof *x);
        memcpy(x + d, s->qkv + (size_t)b * np * d, (size_t)np * d * sizeof *x);
        t_add(x, t->pos, (size_t)n * d);
    }
    t_layernorm(s->x, s->x, t->pre_w, t->pre_b, B * n, d, t->c.eps);
    for (int l = 0; l < t->c.layers; l++) block(s, pl, t, &t->layer[l], B, n, 0);
    for (int b = 0; b < B; b++)
        t_layernorm(s->h + (size_t)b * d, s->x + (size_t)b * n * d, t->post_w, t->post_b, 1, d, t->c.eps);
    t_gemm(NULL, out, P, s->h, d, t->proj, NULL, B, T_ACT_NONE);
    for (int b = 0; b < B; b++) t_l2norm(out + (size_t)b * P, P);
    return 0;
}

int clip__fault_tid = -1;

struct image_job {
    const clip_model *m;
    const float *pixels;
    float *out;
    int batch, group, rc[POOL_MAX_THREADS];
    char msg[POOL_MAX_THREADS][LISA_ERRMSG_MAX]; // each failed thread's lisa_errmsg()
};

// One group of images on one thread, with that thread's state and 1-thread GEMMs.
static void image_task(void *ctx, int i, int tid)
{
    struct image_job *j = ctx;
    const clip_model *m = j->m;
    size_t img = (size_t)m->cfg.num_channels * m->cfg.image_size * m->cfg.image_size;
    int b0 = i * j->group, nb = j->batch - b0 < j->group ? j->batch - b0 : j->group;
    if (j->rc[tid] < 0) return;
    if (clip__fault_tid > 0 && tid == 0) usleep(20000); // fault injection: let the workers take their groups
    j->rc[tid] = clip__fault_tid == tid ? lisa_seterr(LISA_ENOMEM, "clip: injected fault on pool thread %d", tid)
                                        : vision_forward(m, &m->states[tid], NULL, j->pixels + b0 * img, nb,
                                                         j->out + (size_t)b0 * m->cfg.projection_dim);
    // The message lives in this thread's lisa_errmsg(): hand it to the caller.
    if (j->rc[tid] < 0) snprintf(j->msg[tid], sizeof j->msg[tid], "%s", lisa_errmsg_for(j->rc[tid]));
}

// Batches of at least two images per thread run image-parallel: each thread
// forwards its own images with single-threaded GEMMs, with no fork/join per
// GEMM. Measured on 2 quiet cores, ViT-B/32 batch 8: 19.2 img/s against 17.8
// with every GEMM split over the pool. Smaller batches split the GEMMs' columns
// (t_matmul_pool) and the attention heads over the pool instead.
int clip_embed_images(clip_model *m, const float *pixels, int batch, float *out)
{
    size_t img = (size_t)m->cfg.num_channels * m->cfg.image_size * m->cfg.image_size;
    int T = pool_size(m->pool), rc = 0;
    if (batch < 0) return lisa_seterr(LISA_EINVAL, "clip: negative batch %d", batch);
    if (m->sg) return siglip_embed_images(m->sg, pixels, batch, out);
    pthread_mutex_lock(&m->mu);
    if (T > 1 && batch >= 2 * T) {
        struct image_job *job = calloc(1, sizeof *job); // ~130 KB of messages: not on the stack
        if (!job) {
            pthread_mutex_unlock(&m->mu);
            return lisa_seterr(LISA_ENOMEM, "clip: out of memory");
        }
        job->m = m, job->pixels = pixels, job->out = out, job->batch = batch, job->group = (batch + T - 1) / T;
        if (job->group > CLIP_MAX_BATCH_CHUNK) job->group = CLIP_MAX_BATCH_CHUNK;
        pool_for(m->pool, (batch + job->group - 1) / job->group, image_task, job);
        for (int t = 0; t < T && rc == 0; t++)
            if (job->rc[t] < 0) rc = lisa_seterr(job->rc[t], "%s", job->msg[t]);
        free(job);
    } else {
        for (int b = 0; b < batch && rc == 0; b += CLIP_MAX_BATCH_CHUNK) {
            int nb = batch - b < CLIP_MAX_BATCH_CHUNK ? batch - b : CLIP_MAX_BATCH_CHUNK;
            rc = vision_forward(m, &m->states[0], m->pool, pixels + (size_t)b * img, nb,
                                out + (size_t)b * m->cfg.projection_dim);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}
