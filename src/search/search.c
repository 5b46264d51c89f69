// Hybrid search: keyword hits (FTS5 bm25) + exact CLIP cosine, ranked by
// rank_hybrid(); image-to-image similarity.
#include "search/search.h"

#include "base/err.h"
#include "base/pool.h"
#include "clip/clip.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "model/modeldir.h"
#include "search/keywords.h"
#include "search/rank.h"
#include "siglip/siglip.h"
#include "store/store.h"

#include <cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct search_ctx {
    store *st;
    kw *k;
    pool *p;
    clip_model *model;
    char model_id[STORE_MODEL_ID_MAX];
    char missing[SEARCH_MSG_MAX];
    int dim;
    // the vector cache: (n, dim) rows and their image ids, ascending
    float *mat;
    int64_t *ids;
    size_t n;
    int64_t cached_count;
    char cached_stamp[64];
    int loaded;
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

// ---------------------------------------------------------------- open/close

int search_open(const search_opts *o, search_ctx **out)
{
    *out = NULL;
    if (!o->data_dir) return lisa_seterr(LISA_EINVAL, "search: no data dir");
    if (o->model && !o->model_id) return lisa_seterr(LISA_EINVAL, "search: a model needs a model id");
    search_ctx *s = calloc(1, sizeof *s);
    if (!s) return lisa_seterr(LISA_ENOMEM, "search context");
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/lisa.db", o->data_dir);
    int rc = store_open(path, STORE_CREATE, &s->st);
    if (rc == 0) rc = kw_new(&s->k);
    if (rc == 0) rc = pool_new(2, &s->p);
    if (rc < 0) {
        search_close(s);
        return rc;
    }
    s->model = o->model;
    if (o->model) {
        snprintf(s->model_id, sizeof s->model_id, "%s", o->model_id);
        s->dim = clip_dim(o->model);
    }
    snprintf(s->missing, sizeof s->missing, "%s",
             o->missing ? o->missing
                        : "no CLIP model installed; install one with: lisa models pull clip-vit-base-patch32");
    *out = s;
    return 0;
}

void search_close(search_ctx *s)
{
    if (!s) return;
    free(s->mat), free(s->ids);
    pool_free(s->p);
    kw_free(s->k);
    store_close(s->st);
    free(s);
}

void search_results_free(search_results *res)
{
    for (int i = 0; i < res->n; i++) free(res->r[i].path), free(res->r[i].ocr_text), free(res->r[i].caption);
    free(res->r);
    memset(res, 0, sizeof *res);
}

// ---------------------------------------------------------------- vectors

// (Re)loads the model's vectors when the library changed since the last load.
static int load_vectors(search_ctx *s)
{
    int64_t count = 0;
    char *stamp = NULL;
    int rc = store_image_count(s->st, &count);
    if (rc < 0) return rc;
    if (store_meta_get(s->st, "last_index_time", &stamp) < 0) stamp = NULL;
    int same = s->loaded && count == s->cached_count && !strcmp(stamp ? stamp : "", s->cached_stamp);
    snprintf(s->cached_stamp, sizeof s->cached_stamp, "%s", stamp ? stamp : "");
    free(stamp);
    if (same) return 0;
    free(s->mat), free(s->ids);
    s->mat = NULL, s->ids = NULL, s->n = 0;
    rc = store_embeddings_load(s->st, s->model_id, s->dim, &s->mat, &s->ids, &s->n);
    s->loaded = rc == 0;
    s->cached_count = count;
    return rc;
}

static long row_of(const search_ctx *s, int64_t id) // ids are ascending
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->ids[lo] == id ? (long)lo : -1;
}

// ---------------------------------------------------------------- candidates

typedef struct {
    rank_cand *c;
    size_t n, cap;
    store_hit *hits; // the keyword hits, for the columns each one matched in
    int nhits;
} cands;

static rank_cand *cand_get(cands *cs, int64_t id)
{
    for (size_t i = 0; i < cs->n; i++) // candidate sets are small (<= a few thousand)
        if (cs->c[i].id == id) return &cs->c[i];
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 256;
        rank_cand *c = realloc(cs->c, cap * sizeof *c);
        if (!c) return NULL;
        cs->c = c, cs->cap = cap;
    }
    rank_cand *x = &cs->c[cs->n++];
    memset(x, 0, sizeof *x);
    x->id = id;
    return x;
}

static int add_clip(search_ctx *s, cands *cs, const float *q, int k)
{
    rank_hit *h = malloc((size_t)k * sizeof *h);
    int got, rc = h ? rank_topk(s->p, q, s->mat, s->n, s->dim, k, h, &got)
                    : lisa_seterr(LISA_ENOMEM, "search: out of memory for %d hits", k);
    for (int i = 0; rc == 0 && i < got; i++) {
        rank_cand *c = cand_get(cs, s->ids[h[i].row]);
        if (!c)
            rc = lisa_seterr(LISA_ENOMEM, "search: out of memory for the candidates");
        else
            c->has_clip = 1, c->cosine = h[i].score;
    }
    free(h);
    return rc;
}

static int add_keywords(search_ctx *s, cands *cs, const char *query)
{
    char *match = NULL;
    int rc = kw_query(s->k, query, &match);
    if (rc < 0 || !match) return rc;
    store_hit *hits = NULL;
    int n = 0;
    rc = store_keyword_search(s->st, match, SEARCH_KEYWORD_HITS_MAX, &hits, &n);
    for (int i = 0; rc == 0 && i < n; i++) {
        rank_cand *c = cand_get(cs, hits[i].id);
        if (!c)
            rc = lisa_seterr(LISA_ENOMEM, "search: out of memory for the candidates");
        else
            c->bm25 = hits[i].bm25;
    }
    cs->hits = hits, cs->nhits = n;
    free(match);
    return rc;
}

// Exact cosine for keyword hits outside the CLIP top candidates.
static void fill_cosines(search_ctx *s, cands *cs, const float *q)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].has_clip) continue;
        long r = row_of(s, cs->c[i].id);
        if (r < 0) continue;
        rank_scores(q, s->mat + (size_t)r * s->dim, 1, s->dim, &cs->c[i].cosine);
        cs->c[i].has_clip = 1;
    }
}

// ---------------------------------------------------------------- results

static void fmt_date(const store_image *im, char *buf, size_t cap)
{
    if (im->date_taken) {
        snprintf(buf, cap, "%s", im->date_taken);
        return;
    }
    time_t t = (time_t)(im->mtime_ns / 1000000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
}

static int hit_cols(const cands *cs, int64_t id)
{
    for (int i = 0; i < cs->nhits; i++) // <= SEARCH_KEYWORD_HITS_MAX, for top_k results
        if (cs->hits[i].id == id) return cs->hits[i].cols;
    return 0;
}

int search_matched_names(int matched, const char **names, int max)
{
    static const struct {
        int bit;
        const char *name;
    } cols[] = {
        {STORE_COL_CAPTION, "caption"}, {STORE_COL_OCR, "ocr"}, {STORE_COL_NAME, "name"}, {STORE_COL_META, "meta"}};
    int n = 0;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0] && n < max; i++)
        if (matched & cols[i].bit) names[n++] = cols[i].name;
    return n;
}

void search_result_scores_json(void *obj, const search_result *r)
{
    cJSON *o = obj;
    const char *src[SEARCH_SOURCES_MAX];
    int ns = search_matched_names(r->matched, src, SEARCH_SOURCES_MAX);
    cJSON_AddNumberToObject(o, "score", r->score);
    cJSON_AddNumberToObject(o, "clip_score", r->clip_score);
    cJSON_AddNumberToObject(o, "keyword_score", r->keyword_score);
    if (r->has_clip)
        cJSON_AddNumberToObject(o, "cosine", r->cosine);
    else
        cJSON_AddNullToObject(o, "cosine");
    if (r->prob >= 0) cJSON_AddNumberToObject(o, "probability", r->prob);
    cJSON_AddNumberToObject(o, "bm25", r->bm25);
    cJSON_AddItemToObject(o, "matched_in", cJSON_CreateStringArray(src, ns));
}

// SigLIP's cosines are small and its logits calibrated: the text map takes
// logit -10 (p = 5e-5) to clip_score 0 and logit +2 (p = 0.88) to 1, from the
// checkpoint's own logit_scale and logit_bias (siglip-base: cosine 0.03..0.14).
// A heuristic, not measured on a labelled set. CLIP keeps RANK_NORM_TEXT.
static rank_norm text_norm(const search_ctx *s)
{
    const siglip_model *sg = s->model ? clip_siglip(s->model) : NULL;
    float scale, bias;
    if (!sg) return RANK_NORM_TEXT;
    siglip_logit_params(sg, &scale, &bias);
    if (!(scale > 0)) return RANK_NORM_TEXT;
    return (rank_norm){(-10.0f - bias) / scale, (2.0f - bias) / scale};
}

static int fill_results(search_ctx *s, cands *cs, int top_k, int text, search_results *res)
{
    const siglip_model *sg = text && s->model ? clip_siglip(s->model) : NULL;
    size_t n = cs->n < (size_t)top_k ? cs->n : (size_t)top_k;
    res->r = calloc(n ? n : 1, sizeof *res->r);
    if (!res->r) return lisa_seterr(LISA_ENOMEM, "search results");
    for (size_t i = 0; i < n; i++) {
        const rank_cand *c = &cs->c[i];
        search_result *r = &res->r[res->n];
        store_image im = {0};
        if (store_image_get(s->st, c->id, &im) < 0) continue; // deleted meanwhile
        r->id = c->id, r->path = im.path, im.path = NULL, r->size = im.size;
        fmt_date(&im, r->date, sizeof r->date);
        r->score = c->score, r->clip_score = c->clip_score, r->keyword_score = c->keyword_score;
        r->has_clip = c->has_clip, r->cosine = c->cosine, r->bm25 = c->bm25;
        r->prob = sg && c->has_clip ? siglip_prob(sg, c->cosine) : -1.0f;
        r->matched = c->bm25 > 0 ? hit_cols(cs, c->id) : 0;
        r->ocr_text = im.ocr_text && im.ocr_text[0] ? im.ocr_text : NULL;
        if (r->ocr_text) im.ocr_text = NULL;
        r->caption = im.caption && im.caption[0] ? im.caption : NULL;
        if (r->caption) im.caption = NULL;
        store_image_clear(&im);
        res->n++;
    }
    return 0;
}

static int check_k(int top_k)
{
    if (top_k < 1 || top_k > RANK_K_MAX / 4)
        return lisa_seterr(LISA_EINVAL, "top_k %d is not in [1,%d]", top_k, RANK_K_MAX / 4);
    return 0;
}

int search_query(search_ctx *s, const char *query, int top_k, double w, search_results *res)
{
    memset(res, 0, sizeof *res);
    double t0 = now_ms();
    int rc = check_k(top_k);
    if (rc < 0) return rc;
    if (!(w >= 0 && w <= 1)) return lisa_seterr(LISA_EINVAL, "clip_weight %g is not in [0,1]", w);
    cands cs = {0};
    float *q = NULL;
    if (s->model && (rc = load_vectors(s)) == 0 && s->n) {
        q = malloc((size_t)s->dim * sizeof *q);
        double t1 = now_ms();
        rc = q ? clip_embed_text_str(s->model, query, q) : lisa_seterr(LISA_ENOMEM, "query vector");
        res->text_ms = now_ms() - t1;
        if (rc == 0 && w > 0) {
            int c = 4 * top_k > SEARCH_CLIP_CANDIDATES_MIN ? 4 * top_k : SEARCH_CLIP_CANDIDATES_MIN;
            rc = add_clip(s, &cs, q, c);
        }
    } else if (rc == 0) {
        res->keyword_only = 1;
        snprintf(res->message, sizeof res->message, "keyword-only search: %.400s",
                 s->model ? "no image has a vector for this CLIP model yet; run lisa index" : s->missing);
    }
    if (rc == 0) rc = add_keywords(s, &cs, query);
    if (rc == 0 && q) fill_cosines(s, &cs, q);
    if (rc == 0) {
        rank_hybrid(cs.c, cs.n, res->keyword_only ? 0.0 : w, text_norm(s));
        rc = fill_results(s, &cs, top_k, 1, res);
    }
    free(q);
    free(cs.c), free(cs.hits);
    res->total_ms = now_ms() - t0;
    if (rc < 0) search_results_free(res);
    return rc;
}

// ---------------------------------------------------------------- similar

static int embed_file(search_ctx *s, const char *path, float *q)
{
    const prep_cfg *pc = clip_prep(s->model);
    img_opts o;
    img_opts_init(&o);
    o.min_side = pc->shortest_edge ? pc->shortest_edge : pc->crop_h;
    img_t im;
    int rc = img_load(path, &o, &im, NULL);
    if (rc < 0) return rc;
    float *px = malloc((size_t)3 * pc->crop_h * pc->crop_w * sizeof *px);
    rc = px ? prep_image(&im, pc, px) : lisa_seterr(LISA_ENOMEM, "%s: pixels", path);
    if (rc == 0) rc = clip_embed_images(s->model, px, 1, q);
    free(px);
    img_release(&im);
    return rc;
}

int search_similar(search_ctx *s, const char *path, int top_k, search_results *res)
{
    memset(res, 0, sizeof *res);
    double t0 = now_ms();
    int rc = check_k(top_k);
    if (rc < 0) return rc;
    if (!s->model) return lisa_seterr(LISA_ENOTFOUND, "similar needs a CLIP model: %s", s->missing);
    if ((rc = load_vectors(s)) < 0) return rc;
    float *q = malloc((size_t)s->dim * sizeof *q);
    if (!q) return lisa_seterr(LISA_ENOMEM, "query vector");
    char abs[4096];
    store_image im = {0};
    int64_t self = 0;
    if (realpath(path, abs) && store_image_get_by_path(s->st, abs, &im) == 0 &&
        store_embedding_get(s->st, im.id, s->model_id, s->dim, q) == 0)
        self = im.id;
    else
        rc = embed_file(s, path, q);
    store_image_clear(&im);
    cands cs = {0};
    if (rc == 0) rc = add_clip(s, &cs, q, top_k + 1);
    if (rc == 0) {
        for (size_t i = 0; i < cs.n; i++) // the query image itself is not a result
            if (cs.c[i].id == self) cs.c[i] = cs.c[--cs.n];
        rank_hybrid(cs.c, cs.n, 1.0, RANK_NORM_IMAGE);
        rc = fill_results(s, &cs, top_k, 0, res);
    }
    free(cs.c);
    free(q);
    res->total_ms = now_ms() - t0;
    if (rc < 0) search_results_free(res);
    return rc;
}

// ---------------------------------------------------------------- model

int search_model_load(const char *models, const char *data_dir, int threads, clip_model **m, char *id, size_t idcap,
                      char *missing, size_t mcap)
{
    char dir[MODELDIR_PATH_MAX], cfg[MODELDIR_PATH_MAX + 16];
    struct stat sb;
    *m = NULL;
    id[0] = missing[0] = 0;
    const char *explicit = NULL;
    if (models && *models) {
        snprintf(cfg, sizeof cfg, "%s/config.json", models);
        if (stat(cfg, &sb) == 0) explicit = models;
    }
    int rc = modeldir_resolve(explicit, data_dir, NULL, dir, sizeof dir);
    if (rc < 0) return rc;
    if (modeldir_check(dir, MODELDIR_CLIP, NULL, NULL) < 0) {
        snprintf(missing, mcap, "%s", lisa_errmsg());
        return 0;
    }
    if ((rc = clip_load(dir, threads, m)) < 0) return rc;
    const char *base = strrchr(dir, '/');
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') dir[--len] = 0, base = strrchr(dir, '/');
    snprintf(id, idcap, "%s", base ? base + 1 : dir);
    return 0;
}
