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
#include "search/settings.h"
#include "search/vindex.h"
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
    char data_dir[4096];
    long ann_min;    // vectors from which the ANN index answers; 0 always
    double post_min; // ANN + filter: post-filter from this share of the library
    // Exact mode: the vector cache, (n, dim) fp16 rows and their image ids,
    // ascending, as of log seq cached_seq.
    uint16_t *mat;
    int64_t *ids;
    size_t n;
    int64_t cached_seq;
    int loaded;
    // ANN mode: the process-wide index (mat is NULL); n = vectors stored.
    vindex *vx;
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
    snprintf(s->data_dir, sizeof s->data_dir, "%s", o->data_dir);
    s->ann_min = search_ann_min_default(o->data_dir);
    s->post_min = SEARCH_POSTFILTER_MIN_FRACTION;
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

void search_set_ann_min(search_ctx *s, long ann_min_images)
{
    s->ann_min = ann_min_images < 0 ? 0 : ann_min_images;
    s->loaded = 0; // decide the mode again at the next search
}

void search_set_postfilter_fraction(search_ctx *s, double fraction)
{
    s->post_min = fraction;
}

int search_set_vectors(search_ctx *s, const char *model_id, int dim)
{
    if (s->model) return lisa_seterr(LISA_EINVAL, "search: the loaded CLIP model fixes the vectors");
    if (!model_id || !*model_id || strlen(model_id) >= STORE_MODEL_ID_MAX || dim < 1 || dim > STORE_DIM_MAX)
        return lisa_seterr(LISA_EINVAL, "search: bad model id or dimension %d", dim);
    snprintf(s->model_id, sizeof s->model_id, "%s", model_id);
    s->dim = dim;
    return 0;
}

void search_close(search_ctx *s)
{
    if (!s) return;
    free(s->mat), free(s->ids);
    vindex_release(s->vx, s->st);
    pool_free(s->p);
    kw_free(s->k);
    store_close(s->st);
    free(s);
}

void search_results_free(search_results *res)
{
    for (int i = 0; i < res->n; i++) free(res->r[i].path), free(res->r[i].ocr_text);
    free(res->r);
    memset(res, 0, sizeof *res);
}

// ---------------------------------------------------------------- vectors

long search_ann_min_default(const char *data_dir)
{
    settings cfg;
    char path[SETTINGS_PATH_MAX + 16];
    const char *conf = getenv("LISA_CONFIG");
    settings_defaults(&cfg);
    if (!conf || !*conf) snprintf(path, sizeof path, "%s/lisa.conf", data_dir ? data_dir : "."), conf = path;
    if (settings_load_file(&cfg, conf) < 0) settings_defaults(&cfg); // missing or bad: the CLI reports it
    if (settings_apply_env(&cfg) < 0) settings_defaults(&cfg);
    lisa_clearerr();
    return cfg.ann_min_images;
}

void search_vindex_path(const char *data_dir, const char *model_id, char *buf, size_t cap)
{
    char safe[STORE_MODEL_ID_MAX];
    size_t i = 0;
    for (; model_id[i] && i + 1 < sizeof safe; i++) // a model id is a directory name: keep it one path part
        safe[i] = model_id[i] == '/' ? '_' : model_id[i];
    safe[i] = 0;
    snprintf(buf, cap, "%s/lisa.vindex.%s", data_dir, safe);
}

// Brings the vectors up to date: nothing to do while the store's embedding
// log has not moved; else the exact-mode matrix is reloaded, or the ANN index
// synced. The mode follows the vector count (the matrix's rows, the index's
// count) against the threshold; the first call counts in SQL.
static int load_vectors(search_ctx *s)
{
    int64_t seq = 0, count = 0;
    int rc = store_emb_log_max(s->st, &seq);
    if (rc < 0) return rc;
    if (s->loaded && seq == s->cached_seq) return 0;
    if (s->vx) {
        if ((rc = vindex_sync(s->vx, s->st)) < 0) return rc;
        vindex_info in;
        vindex_get_info(s->vx, &in);
        count = in.count;
    } else if (s->loaded) {
        count = -1; // decided after the reload below
    } else if ((rc = store_embedding_count(s->st, s->model_id, s->dim, &count)) < 0) {
        return rc;
    }
    int ann = count > 0 && count >= s->ann_min;
    if (!ann && s->vx) { // shrank below the threshold
        vindex_release(s->vx, s->st);
        s->vx = NULL;
    }
    if (ann) {
        free(s->mat), free(s->ids);
        s->mat = NULL, s->ids = NULL;
        if (!s->vx) {
            char path[4096 + STORE_MODEL_ID_MAX + 16];
            search_vindex_path(s->data_dir, s->model_id, path, sizeof path);
            if ((rc = vindex_acquire(s->st, path, s->model_id, s->dim, &s->vx)) < 0) return rc;
            vindex_info in;
            vindex_get_info(s->vx, &in);
            count = in.count;
        }
        s->n = (size_t)count;
        s->loaded = 1, s->cached_seq = seq;
        return 0;
    }
    free(s->mat), free(s->ids);
    s->mat = NULL, s->ids = NULL, s->n = 0;
    rc = store_embeddings_load_f16(s->st, s->model_id, s->dim, &s->mat, &s->ids, &s->n);
    s->loaded = rc == 0;
    s->cached_seq = seq;
    if (rc == 0 && s->n > 0 && (long)s->n >= s->ann_min) { // grew past the threshold
        s->loaded = 0;
        s->cached_seq = -1;
        return load_vectors(s);
    }
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

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int allowed(const search_filter *f, int64_t id)
{
    return !f || bsearch(&id, f->ids, f->n, sizeof id, cmp_id) != NULL;
}

static int vhit_cmp(const void *pa, const void *pb)
{
    const search_vhit *a = pa, *b = pb;
    if (a->cosine != b->cosine) return a->cosine > b->cosine ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

// Exact cosines, from the store, of the n ids into out (id, cosine); ids
// without a vector (deleted since) are dropped. *m gets how many are kept.
static int exact_of_ids(search_ctx *s, const float *q, const int64_t *ids, size_t n, search_vhit *out, int *m)
{
    uint16_t *h = malloc((size_t)s->dim * sizeof *h);
    int rc = h ? 0 : lisa_seterr(LISA_ENOMEM, "re-rank buffer");
    *m = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = store_embedding_get_f16(s->st, ids[i], s->model_id, s->dim, h);
        if (rc == LISA_ENOTFOUND) {
            rc = 0;
            lisa_clearerr();
            continue;
        }
        if (rc == 0) {
            out[*m].id = ids[i];
            rank_scores_f16(q, h, 1, s->dim, &out[*m].cosine);
            ++*m;
        }
    }
    free(h);
    return rc;
}

// Exact mode: the fp16 matrix, every row or the filter's rows (pre-filter).
static int topk_exact(search_ctx *s, const float *q, int k, const search_filter *f, search_vhit *out, int *nout)
{
    rank_hit *h = malloc((size_t)k * sizeof *h);
    uint32_t *sel = NULL;
    size_t nsel = 0;
    int got = 0, rc = h ? 0 : lisa_seterr(LISA_ENOMEM, "top-k buffer");
    if (rc == 0 && f) { // both ascending: one merge walk maps ids to rows
        sel = malloc((f->n ? f->n : 1) * sizeof *sel);
        if (!sel) rc = lisa_seterr(LISA_ENOMEM, "filter rows");
        for (size_t i = 0, j = 0; rc == 0 && i < f->n && j < s->n;) {
            if (f->ids[i] < s->ids[j])
                i++;
            else if (f->ids[i] > s->ids[j])
                j++;
            else
                sel[nsel++] = (uint32_t)j, i++, j++;
        }
    }
    if (rc == 0 && (!f || nsel)) rc = rank_topk_f16(s->p, q, s->mat, s->n, s->dim, sel, nsel, k, h, &got);
    for (int i = 0; rc == 0 && i < got; i++) out[i].id = s->ids[h[i].row], out[i].cosine = h[i].score;
    *nout = rc == 0 ? got : 0;
    free(sel), free(h);
    return rc;
}

// ANN mode: FAISS candidates, re-ranked with exact cosines from the store.
// The index's codes are the stored fp16 values, so its order is the exact
// order up to float32 summation: k + SEARCH_RERANK_EXTRA candidates are
// re-read (one SQLite lookup each, the main cost past FAISS's scan).
// With a filter: post-filter (ask FAISS for k * library / allowed, keep the
// allowed) when the filter keeps at least SEARCH_POSTFILTER_MIN_FRACTION of
// the library, else pre-filter (exact cosines of every allowed image); and
// pre-filter again when post-filtering came back short of k.
static int topk_ann(search_ctx *s, const float *q, int k, const search_filter *f, search_vhit *out, int *nout)
{
    int64_t lib = (int64_t)s->n > 0 ? (int64_t)s->n : 1;
    int pre = f && (double)f->n < s->post_min * (double)lib;
    size_t want = (size_t)k + SEARCH_RERANK_EXTRA;
    if (f && !pre) want = (size_t)((double)want * (double)lib / (double)(f->n ? f->n : 1) * 1.5) + 1;
    if (want > VINDEX_CAND_MAX) want = VINDEX_CAND_MAX;
    int64_t *ids = NULL;
    float *sc = NULL;
    search_vhit *tmp = NULL;
    int n = 0, m = 0, rc = 0;
    *nout = 0;
    if (!pre) {
        ids = malloc(want * sizeof *ids), sc = malloc(want * sizeof *sc);
        tmp = malloc(want * sizeof *tmp);
        rc = ids && sc && tmp ? vindex_search(s->vx, q, (int)want, NULL, 0, ids, sc, &n)
                              : lisa_seterr(LISA_ENOMEM, "ANN candidates");
        size_t keep = 0;
        for (int i = 0; rc == 0 && i < n; i++)
            if (allowed(f, ids[i])) ids[keep++] = ids[i];
        if (rc == 0) rc = exact_of_ids(s, q, ids, keep, tmp, &m);
        // Short of k while the filter allows more: post-filtering missed some.
        if (rc == 0 && f && m < k && (size_t)m < f->n) pre = 1;
    }
    if (rc == 0 && pre) {
        free(tmp);
        tmp = malloc((f->n ? f->n : 1) * sizeof *tmp);
        rc = tmp ? exact_of_ids(s, q, f->ids, f->n, tmp, &m) : lisa_seterr(LISA_ENOMEM, "pre-filter scores");
    }
    if (rc == 0) {
        qsort(tmp, (size_t)m, sizeof *tmp, vhit_cmp);
        *nout = m < k ? m : k;
        memcpy(out, tmp, (size_t)*nout * sizeof *out);
    }
    free(ids), free(sc), free(tmp);
    return rc;
}

static int check_filter(const search_filter *f)
{
    if (!f) return 0;
    if (f->n && !f->ids) return lisa_seterr(LISA_EINVAL, "search filter: %zu ids but no array", f->n);
    for (size_t i = 1; i < f->n; i++)
        if (f->ids[i] <= f->ids[i - 1])
            return lisa_seterr(LISA_EINVAL, "search filter: ids not strictly ascending at entry %zu", i);
    return 0;
}

int search_vector_topk(search_ctx *s, const float *q, int k, const search_filter *f, search_vhit *out, int *nout)
{
    *nout = 0;
    if (!s->dim) return lisa_seterr(LISA_ENOTFOUND, "vector search needs a CLIP model: %s", s->missing);
    if (k < 1 || k > RANK_K_MAX) return lisa_seterr(LISA_EINVAL, "vector top-k %d is not in [1,%d]", k, RANK_K_MAX);
    int rc = check_filter(f);
    if (rc == 0) rc = load_vectors(s);
    if (rc < 0 || s->n == 0) return rc;
    return s->vx ? topk_ann(s, q, k, f, out, nout) : topk_exact(s, q, k, f, out, nout);
}

const char *search_vector_mode(search_ctx *s)
{
    return s->vx ? "faiss-ivf-fp16" : "exact-fp16";
}

static int add_clip(search_ctx *s, cands *cs, const float *q, int k, const search_filter *f)
{
    search_vhit *h = malloc((size_t)k * sizeof *h);
    int got, rc = h ? search_vector_topk(s, q, k, f, h, &got) : LISA_ENOMEM;
    for (int i = 0; rc == 0 && i < got; i++) {
        rank_cand *c = cand_get(cs, h[i].id);
        if (!c)
            rc = LISA_ENOMEM;
        else
            c->has_clip = 1, c->cosine = h[i].cosine;
    }
    free(h);
    return rc;
}

static int add_keywords(search_ctx *s, cands *cs, const char *query, const search_filter *f)
{
    char *match = NULL;
    int rc = kw_query(s->k, query, &match);
    if (rc < 0 || !match) return rc;
    store_hit *hits = NULL;
    int n = 0, kept = 0;
    rc = store_keyword_search(s->st, match, SEARCH_KEYWORD_HITS_MAX, &hits, &n);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!allowed(f, hits[i].id)) continue;
        hits[kept++] = hits[i];
        rank_cand *c = cand_get(cs, hits[i].id);
        if (!c)
            rc = LISA_ENOMEM;
        else
            c->bm25 = hits[i].bm25;
    }
    cs->hits = hits, cs->nhits = kept;
    free(match);
    return rc;
}

// Exact cosine for keyword hits outside the CLIP top candidates.
static void fill_cosines(search_ctx *s, cands *cs, const float *q)
{
    uint16_t *h = s->mat ? NULL : malloc((size_t)s->dim * sizeof *h);
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->c[i].has_clip) continue;
        if (s->mat) {
            long r = row_of(s, cs->c[i].id);
            if (r < 0) continue;
            rank_scores_f16(q, s->mat + (size_t)r * s->dim, 1, s->dim, &cs->c[i].cosine);
        } else if (!h || store_embedding_get_f16(s->st, cs->c[i].id, s->model_id, s->dim, h) < 0) {
            continue;
        } else {
            rank_scores_f16(q, h, 1, s->dim, &cs->c[i].cosine);
        }
        cs->c[i].has_clip = 1;
    }
    free(h);
    lisa_clearerr();
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
    cJSON_AddNumberToObject(o, "bm25", r->bm25);
    cJSON_AddItemToObject(o, "matched_in", cJSON_CreateStringArray(src, ns));
}

static int fill_results(search_ctx *s, cands *cs, int top_k, search_results *res)
{
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
        r->matched = c->bm25 > 0 ? hit_cols(cs, c->id) : 0;
        r->ocr_text = im.ocr_text && im.ocr_text[0] ? im.ocr_text : NULL;
        if (r->ocr_text) im.ocr_text = NULL;
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
    return search_query_filtered(s, query, top_k, w, NULL, res);
}

int search_query_filtered(search_ctx *s, const char *query, int top_k, double w, const search_filter *f,
                          search_results *res)
{
    memset(res, 0, sizeof *res);
    double t0 = now_ms();
    int rc = check_k(top_k);
    if (rc < 0) return rc;
    if (!(w >= 0 && w <= 1)) return lisa_seterr(LISA_EINVAL, "clip_weight %g is not in [0,1]", w);
    if ((rc = check_filter(f)) < 0) return rc;
    cands cs = {0};
    float *q = NULL;
    if (s->model && (rc = load_vectors(s)) == 0 && s->n) {
        q = malloc((size_t)s->dim * sizeof *q);
        double t1 = now_ms();
        rc = q ? clip_embed_text_str(s->model, query, q) : lisa_seterr(LISA_ENOMEM, "query vector");
        res->text_ms = now_ms() - t1;
        if (rc == 0 && w > 0) {
            int c = 4 * top_k > SEARCH_CLIP_CANDIDATES_MIN ? 4 * top_k : SEARCH_CLIP_CANDIDATES_MIN;
            rc = add_clip(s, &cs, q, c, f);
        }
    } else if (rc == 0) {
        res->keyword_only = 1;
        snprintf(res->message, sizeof res->message, "keyword-only search: %.400s",
                 s->model ? "no image has a vector for this CLIP model yet; run lisa index" : s->missing);
    }
    if (rc == 0) rc = add_keywords(s, &cs, query, f);
    if (rc == 0 && q) fill_cosines(s, &cs, q);
    if (rc == 0) {
        rank_hybrid(cs.c, cs.n, res->keyword_only ? 0.0 : w, RANK_NORM_TEXT);
        rc = fill_results(s, &cs, top_k, res);
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
    if (rc == 0) rc = add_clip(s, &cs, q, top_k + 1, NULL);
    if (rc == 0) {
        for (size_t i = 0; i < cs.n; i++) // the query image itself is not a result
            if (cs.c[i].id == self) cs.c[i] = cs.c[--cs.n];
        rank_hybrid(cs.c, cs.n, 1.0, RANK_NORM_IMAGE);
        rc = fill_results(s, &cs, top_k, res);
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

// ---------------------------------------------------------------- stats

void search_vector_index_json(const store_stats *ss, const char *data_dir, long ann_min, char *buf, size_t cap)
{
    int best = -1;
    for (int i = 0; i < ss->n_models; i++)
        if (best < 0 || ss->models[i].count > ss->models[best].count) best = i;
    if (best < 0) {
        snprintf(buf, cap,
                 "{\"kind\":\"none\",\"ann_min_images\":%ld,\"vectors\":0,\"file_bytes\":null,\"nlist\":null}",
                 ann_min);
        return;
    }
    int64_t n = ss->models[best].count;
    int ann = n >= ann_min;
    char path[4096 + STORE_MODEL_ID_MAX + 16], fb[32] = "null", nl[32] = "null", id[2 * STORE_MODEL_ID_MAX];
    struct stat sb;
    size_t k = 0;
    for (const char *p = ss->models[best].id; *p && k + 2 < sizeof id; p++) { // a JSON string
        if (*p == '"' || *p == '\\') id[k++] = '\\';
        id[k++] = (unsigned char)*p < 0x20 ? '?' : *p;
    }
    id[k] = 0;
    search_vindex_path(data_dir, ss->models[best].id, path, sizeof path);
    if (ann && stat(path, &sb) == 0) snprintf(fb, sizeof fb, "%lld", (long long)sb.st_size);
    if (ann) snprintf(nl, sizeof nl, "%d", vindex_nlist_for(n));
    snprintf(buf, cap,
             "{\"kind\":\"%s\",\"model\":\"%s\",\"ann_min_images\":%ld,\"vectors\":%lld,\"file_bytes\":%s,"
             "\"nlist\":%s}",
             ann ? "faiss-ivf-fp16" : "exact-fp16", id, ann_min, (long long)n, fb, nl);
}
