// The shared pre-LN transformer block (see vit.h).
#include "tensor/vit.h"
#include "base/err.h"
#include "base/pool.h"
#include "tensor/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void vit_layer_free(vit_layer *l)
{
    t_packed_free(l->qkv), t_packed_free(l->o), t_packed_free(l->fc1), t_packed_free(l->fc2);
    free(l->qkv_b);
    memset(l, 0, sizeof *l);
}

size_t vit_layer_bytes(const vit_layer *l)
{
    size_t n = 0;
    const t_packed *w[4] = {l->qkv, l->o, l->fc1, l->fc2};
    for (int i = 0; i < 4; i++)
        if (w[i]) n += t_packed_bytes(w[i]);
    return n;
}

/* ---------------------------------------------------------------- scratch */

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q) return -1;
    *p = q;
    return 0;
}

void vit_release(vit_state *s)
{
    for (int i = 0; i < 2 * s->kv_threads; i++) t_packed_free(s->kv[i]);
    free(s->kv);
    free(s->x), free(s->h), free(s->att), free(s->qkv), free(s->mlp), free(s->scores);
    memset(s, 0, sizeof *s);
}

int vit_reserve(vit_state *s, int threads, size_t act, size_t mlp, int n, const char *who)
{
    threads = threads > 0 ? threads : 1;
    size_t per = (size_t)n * (n < VIT_ATTN_ROWS ? (size_t)n : VIT_ATTN_ROWS), sc = per * (size_t)threads;
    s->per_thread = per;
    int rc = 0;
    if (threads > s->kv_threads) {
        t_packed **kv = realloc(s->kv, 2 * (size_t)threads * sizeof *kv);
        if (kv) memset(kv + 2 * s->kv_threads, 0, 2 * (size_t)(threads - s->kv_threads) * sizeof *kv);
        if (kv) s->kv = kv, s->kv_threads = threads;
        rc |= !kv;
    }
    if (act > s->cap_act) {
        rc |= grow(&s->x, act), rc |= grow(&s->h, act), rc |= grow(&s->att, act), rc |= grow(&s->qkv, 3 * act);
        s->cap_act = act;
    }
    if (mlp > s->cap_mlp) rc |= grow(&s->mlp, mlp), s->cap_mlp = mlp;
    if (sc > s->cap_scores) rc |= grow(&s->scores, sc), s->cap_scores = sc;
    if (rc) {
        vit_release(s);
        return lisa_seterr(LISA_ENOMEM, "%s: out of memory for activations", who);
    }
    return 0;
}

/* ---------------------------------------------------------------- the block */

struct attn_job {
    vit_state *s;
    int n, d, heads, causal;
    t_prec prec; // of the scores and the weighted sum: bf16 in a reduced-precision model
};

// Rows i0.. i0 + rows of the scores: the softmax of scale * S over the
// columns each row may see (causal: up to its own position), 0 past them.
static void softmax_rows(float *sc, int i0, int rows, int n, float scale, int causal)
{
    for (int i = 0; i < rows; i++) {
        float *r = sc + (size_t)i * n;
        int len = causal && i0 + i + 1 < n ? i0 + i + 1 : n;
        t_softmax_scaled(r, len, scale);
        if (len < n) memset(r + len, 0, (size_t)(n - len) * sizeof *r);
    }
}

// Attention of one head as GEMMs over blocks of VIT_ATTN_ROWS query rows:
// S = Q K^T (K packed as the (n, hd) weight it is), softmax, then O = S V (V
// packed as the (hd, n) weight V^T, which is V read k-major), so only one
// block of scores exists and stays in L2 (BLIP-base's 577 tokens: 48 x 577
// floats, 108 KiB, against 1.3 MiB for all). prec T_PREC_BF16 runs both
// products on VDPBF16PS where the CPU has it. kv is this thread's two
// packings, reused across calls; sc holds VIT_ATTN_ROWS * n floats. Returns 0
// or LISA_ENOMEM.
static int head_gemm(float *out, int ldo, const float *q, int ld, int n, int hd, int causal, t_prec prec, t_packed **kv,
                     float *sc)
{
    int rc;
    if ((rc = t_pack_act(&kv[0], q + ld / 3, (size_t)ld, n, hd, 0, prec)) < 0 ||
        (rc = t_pack_act(&kv[1], q + 2 * (ld / 3), (size_t)ld, hd, n, 1, prec)) < 0)
        return rc;
    for (int i0 = 0; i0 < n; i0 += VIT_ATTN_ROWS) {
        int rows = n - i0 < VIT_ATTN_ROWS ? n - i0 : VIT_ATTN_ROWS;
        t_gemm(NULL, sc, n, q + (size_t)i0 * ld, ld, kv[0], NULL, rows, T_ACT_NONE);
        softmax_rows(sc, i0, rows, n, 1.0f / sqrtf((float)hd), causal);
        t_gemm(NULL, out + (size_t)i0 * ldo, ldo, sc, n, kv[1], NULL, rows, T_ACT_NONE);
    }
    return 0;
}

// Attention of one (sequence, head) pair, reading the fused (rows, 3d) QKV.
// Short sequences (CLIP's text) take the row-at-a-time kernel; longer ones the
// two GEMMs. Measured on BLIP-base (577 tokens, fp32, 2 threads, load ~34):
// 2.25-2.41 s of CPU per image against 2.87-2.94 s row at a time.
static void attn_task(void *ctx, int i, int tid)
{
    struct attn_job *j = ctx;
    int d = j->d, hd = d / j->heads, seq = i / j->heads, h = i % j->heads, n = j->n;
    const float *q = j->s->qkv + (size_t)seq * n * 3 * d + (size_t)h * hd;
    float *out = j->s->att + (size_t)seq * n * d + (size_t)h * hd,
          *scratch = j->s->scores + (size_t)tid * j->s->per_thread;
    if (n < VIT_GEMM_ATTN_MIN ||
        head_gemm(out, d, q, 3 * d, n, hd, j->causal, j->prec, j->s->kv + 2 * tid, scratch) < 0)
        t_attention_head_ld(out, d, q, q + d, q + 2 * d, 3 * d, n, hd, j->causal, scratch);
}

void vit_block(vit_state *s, pool *p, const vit_dims *c, const vit_layer *l, int nseq, int n, int causal)
{
    int d = c->hidden, ff = c->intermediate, rows = nseq * n;
    t_layernorm(s->h, s->x, l->ln1_w, l->ln1_b, rows, d, c->eps);
    t_gemm(p, s->qkv, 3 * d, s->h, d, l->qkv, l->qkv_b, rows, T_ACT_NONE);
    struct attn_job job = {s, n, d, c->heads, causal, t_packed_prec(l->qkv) == T_PREC_F32 ? T_PREC_F32 : T_PREC_BF16};
    if (p)
        pool_for(p, nseq * c->heads, attn_task, &job);
    else
        for (int i = 0; i < nseq * c->heads; i++) attn_task(&job, i, 0);
    t_gemm(p, s->h, d, s->att, d, l->o, l->o_b, rows, T_ACT_NONE);
    t_add(s->x, s->h, (size_t)rows * d);
    t_layernorm(s->h, s->x, l->ln2_w, l->ln2_b, rows, d, c->eps);
    t_gemm(p, s->mlp, ff, s->h, d, l->fc1, l->fc1_b, rows, c->act);
    t_gemm(p, s->h, d, s->mlp, ff, l->fc2, l->fc2_b, rows, T_ACT_NONE);
    t_add(s->x, s->h, (size_t)rows * d);
}

void vit_attend_one(float *out, const float *q, const float *k, const float *v, int ld, int n, int heads, int d,
                    float *scratch)
{
    int hd = d / heads;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < heads; h++) {
        const float *qh = q + (size_t)h * hd;
        for (int j = 0; j < n; j++) {
            const float *kj = k + (size_t)j * ld + (size_t)h * hd;
            float s = 0;
            for (int e = 0; e < hd; e++) s += qh[e] * kj[e];
            scratch[j] = s * scale;
        }
        t_softmax(scratch, n);
        float *oh = out + (size_t)h * hd;
        memset(oh, 0, (size_t)hd * sizeof *oh);
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * ld + (size_t)h * hd;
            for (int e = 0; e < hd; e++) oh[e] += scratch[j] * vj[e];
        }
    }
}

void vit_unfold(const float *img, int C, int S, int p, float *dst)
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
