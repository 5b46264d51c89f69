// Hybrid search: keyword hits (FTS5 bm25) + exact CLIP cosine, ranked by
// rank_hybrid(); image-to-image similarity.
#include "search/search.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/pool.h"
#include "clip/clip.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "model/modeldir.h"
#include "search/keywords.h"
#include "search/query.h"
#include "search/rank.h"
#include "search/settings.h"
#include "search/vindex.h"
#include "siglip/siglip.h"
#include "store/store.h"

#include <cJSON.h>

#include <math.h>
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
                        : "no CLIP model installed; install one with: lisa models pull " MODELDIR_DEFAULT_CLIP);
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
    for (int i = 0; i < res->n; i++) free(res->r[i].path), free(res->r[i].ocr_text), free(res->r[i].caption);
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

// ---------------------------------------------------------------- candidates

typedef struct {
    rank_cand *c;
    size_t n, cap;
    store_hit *hits; // the keyword hits, for the columns each one matched in
    int nhits;
    float cut; // cosines >= cut are CLIP hits (search_similar: none, -2)
} cands;

static rank_cand *cand_push(cands *cs, int64_t id)
{
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
static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int allowed(const search_filter *f, int64_t id)
{
    return !f || bsearch(&id, f->ids, f->n, sizeof id, id_cmp) != NULL;
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

// ANN mode: the index's top-k over the lists it visits, with exact scores
// (vindex.h: LISA's fp16 kernel over FAISS's raw fp16 codes), so nothing is
// re-read from SQLite.
// With a filter: post-filter (ask the index for k * library / allowed, keep
// the allowed) when the filter keeps at least SEARCH_POSTFILTER_MIN_FRACTION
// of the library, else pre-filter (exact cosines of every allowed image from
// the store); and pre-filter again when post-filtering came back short of k.
static int topk_ann(search_ctx *s, const float *q, int k, const search_filter *f, search_vhit *out, int *nout)
{
    int64_t lib = (int64_t)s->n > 0 ? (int64_t)s->n : 1;
    int pre = f && (double)f->n < s->post_min * (double)lib;
    size_t want = (size_t)k;
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
        for (int i = 0; rc == 0 && i < n; i++)
            if (allowed(f, ids[i])) tmp[m].id = ids[i], tmp[m++].cosine = sc[i];
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
    int got, rc = h ? search_vector_topk(s, q, k, f, h, &got)
                    : lisa_seterr(LISA_ENOMEM, "search: out of memory for %d hits", k);
    for (int i = 0; rc == 0 && i < got; i++) {
        rank_cand *c = cand_push(cs, h[i].id);
        if (!c)
            rc = lisa_seterr(LISA_ENOMEM, "search: out of memory for the candidates");
        else
            c->has_clip = 1, c->cosine = h[i].cosine;
    }
    free(h);
    return rc;
}

static int hit_id_cmp(const void *a, const void *b)
{
    return id_cmp(&((const store_hit *)a)->id, &((const store_hit *)b)->id);
}

// The allowed set of a filter: ids ascending; all = 1 when there is no filter.
typedef struct {
    int64_t *ids;
    size_t n;
    int all;
} id_set;

static int in_set(const id_set *set, int64_t id)
{
    search_filter f = {set->ids, set->n};
    return set->all || (set->n && allowed(&f, id));
}

// Keyword hits for match (kw_query()'s FTS5 expression), sorted by id.
static int keyword_hits(search_ctx *s, cands *cs, const char *match)
{
    int rc = store_keyword_search(s->st, match, SEARCH_KEYWORD_HITS_MAX, &cs->hits, &cs->nhits);
    if (rc == 0 && cs->nhits > 1) qsort(cs->hits, (size_t)cs->nhits, sizeof *cs->hits, hit_id_cmp);
    return rc;
}

// The scored rows of a CLIP part: nr image ids, ascending, and their cosines.
typedef struct {
    const int64_t *ids;
    const float *cos;
    size_t nr;
} scored;

// The relevant set: every allowed image that is a keyword hit or whose cosine
// (rows->cos[i] for rows->ids[i]; NULL without a CLIP part) reaches cs->cut,
// minus skip. Rows and hits are both ascending by id: one merge.
static int merge(cands *cs, const scored *rows, const id_set *allowed, const int64_t *skip, int nskip, int has_kw)
{
    size_t i = 0, nr = rows ? rows->nr : 0;
    const float *cos = rows ? rows->cos : NULL;
    int j = 0;
    while (i < nr || j < cs->nhits) {
        int64_t ri = i < nr ? rows->ids[i] : INT64_MAX, hj = j < cs->nhits ? cs->hits[j].id : INT64_MAX;
        int64_t id = ri < hj ? ri : hj;
        int row = ri == id, hit = hj == id;
        int clip_hit = row && cos[i] >= cs->cut;
        int keep = (clip_hit || hit) && in_set(allowed, id);
        for (int k = 0; keep && k < nskip; k++) keep = skip[k] != id;
        if (keep) {
            rank_cand *c = cand_push(cs, id);
            if (!c) return lisa_seterr(LISA_ENOMEM, "search candidates");
            c->has_kw = has_kw;
            if (row) c->has_clip = 1, c->cosine = cos[i];
            if (hit) c->bm25 = cs->hits[j].bm25;
        }
        i += row, j += hit;
    }
    return 0;
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
    store_hit key = {.id = id};
    const store_hit *h = cs->nhits ? bsearch(&key, cs->hits, (size_t)cs->nhits, sizeof key, hit_id_cmp) : NULL;
    return h ? h->cols : 0;
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

static void num_or_null(cJSON *o, const char *k, int has, double v)
{
    if (has)
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

void search_result_scores_json(void *obj, const search_result *r)
{
    cJSON *o = obj;
    const char *src[SEARCH_SOURCES_MAX + 1];
    int ns = search_matched_names(r->matched, src, SEARCH_SOURCES_MAX);
    if (r->clip_match) src[ns++] = "clip";
    num_or_null(o, "score", r->has_score, r->score);
    num_or_null(o, "clip_score", r->has_score && r->has_clip, r->clip_score);
    num_or_null(o, "keyword_score", r->has_score && r->has_kw, r->keyword_score);
    num_or_null(o, "cosine", r->has_clip, r->cosine);
    if (r->prob >= 0) cJSON_AddNumberToObject(o, "probability", r->prob);
    num_or_null(o, "bm25", r->has_kw, r->bm25);
    cJSON_AddBoolToObject(o, "clip_match", r->clip_match);
    cJSON_AddItemToObject(o, "matched_in", cJSON_CreateStringArray(src, ns));
}

// One result row from the store (0 when the image was deleted meanwhile).
static int fill_one(search_ctx *s, int64_t id, search_result *r)
{
    store_image im = {0};
    if (store_image_get(s->st, id, &im) < 0) return 0;
    r->id = id, r->path = im.path, im.path = NULL, r->size = im.size, r->prob = -1.0f;
    fmt_date(&im, r->date, sizeof r->date);
    r->ocr_text = im.ocr_text && im.ocr_text[0] ? im.ocr_text : NULL;
    if (r->ocr_text) im.ocr_text = NULL;
    r->caption = im.caption && im.caption[0] ? im.caption : NULL;
    if (r->caption) im.caption = NULL;
    store_image_clear(&im);
    return 1;
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

// Results from..from+n of cs; text: a text query (SigLIP's probability applies).
static int fill_results(search_ctx *s, cands *cs, size_t from, size_t n, int text, search_results *res)
{
    const siglip_model *sg = text && s->model ? clip_siglip(s->model) : NULL;
    res->r = calloc(n ? n : 1, sizeof *res->r);
    if (!res->r) return lisa_seterr(LISA_ENOMEM, "search results");
    for (size_t i = from; i < from + n && i < cs->n; i++) {
        const rank_cand *c = &cs->c[i];
        search_result *r = &res->r[res->n];
        if (!fill_one(s, c->id, r)) continue;
        r->has_score = 1, r->score = c->score, r->clip_score = c->clip_score, r->keyword_score = c->keyword_score;
        r->has_clip = c->has_clip, r->cosine = c->cosine, r->bm25 = c->bm25, r->has_kw = c->has_kw;
        r->clip_match = c->has_clip && c->cosine >= cs->cut;
        r->prob = sg && c->has_clip ? siglip_prob(sg, c->cosine) : -1.0f;
        r->matched = c->bm25 > 0 ? hit_cols(cs, c->id) : 0;
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

// ---------------------------------------------------------------- sort

static const struct {
    const char *name;
    int sort;
} sorts[] = {{"relevance", SEARCH_SORT_RELEVANCE}, {"date", STORE_SORT_DATE},
             {"-date", STORE_SORT_DATE_DESC},      {"name", STORE_SORT_NAME},
             {"-name", STORE_SORT_NAME_DESC},      {"added", STORE_SORT_ADDED},
             {"-added", STORE_SORT_ADDED_DESC}};

int search_sort_parse(const char *name, int *sort)
{
    for (size_t i = 0; name && i < sizeof sorts / sizeof sorts[0]; i++)
        if (!strcmp(name, sorts[i].name)) return *sort = sorts[i].sort, 0;
    return lisa_seterr(LISA_EINVAL, "sort '%.40s' is not one of relevance, date, -date, name, -name, added, -added",
                       name ? name : "");
}

const char *search_sort_name(int sort)
{
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (sorts[i].sort == sort) return sorts[i].name;
    return "relevance";
}

// Reorders the candidates into a store order (date, name, added).
static int order_cands(search_ctx *s, cands *cs, int sort)
{
    if (cs->n < 2) return 0;
    int64_t *ids = malloc(cs->n * sizeof *ids);
    rank_cand *c = malloc(cs->n * sizeof *c);
    int rc = ids && c ? 0 : lisa_seterr(LISA_ENOMEM, "sorting %zu results", cs->n);
    size_t kept = 0;
    for (size_t i = 0; rc == 0 && i < cs->n; i++) ids[i] = cs->c[i].id;
    if (rc == 0) rc = store_order_ids(s->st, ids, cs->n, sort, &kept);
    if (rc == 0) {
        qsort(cs->c, cs->n, sizeof *cs->c, id_cmp); // id is the first member of rank_cand
        for (size_t i = 0; i < kept; i++) c[i] = *(rank_cand *)bsearch(&ids[i], cs->c, cs->n, sizeof *cs->c, id_cmp);
        memcpy(cs->c, c, kept * sizeof *c);
        cs->n = kept;
    }
    free(ids), free(c);
    return rc;
}

// ---------------------------------------------------------------- query

// The query vector: text embedding (when there is text) plus the like: images'
// vectors with their signs, L2-normalised.
static int query_vector(search_ctx *s, const query *q, float *v, search_results *res)
{
    int rc = 0;
    memset(v, 0, (size_t)s->dim * sizeof *v);
    if (q->text[0]) {
        double t1 = mono_ms();
        rc = clip_embed_text_str(s->model, q->text, v);
        res->text_ms = mono_ms() - t1;
    }
    float *x = q->n_like ? malloc((size_t)s->dim * sizeof *x) : NULL;
    if (q->n_like && !x) rc = lisa_seterr(LISA_ENOMEM, "like: vector");
    for (int i = 0; rc == 0 && i < q->n_like; i++) {
        if (store_embedding_get(s->st, q->like[i].id, s->model_id, s->dim, x) < 0) {
            rc = lisa_seterr(LISA_EINVAL, "query part 'like:%lld': no image %lld with a vector for model %s",
                             (long long)q->like[i].id, (long long)q->like[i].id, s->model_id);
            break;
        }
        for (int j = 0; j < s->dim; j++) v[j] += (float)q->like[i].sign * x[j];
    }
    free(x);
    double nn = 0;
    for (int j = 0; rc == 0 && j < s->dim; j++) nn += (double)v[j] * v[j];
    if (rc == 0 && !(nn > 1e-12)) return lisa_seterr(LISA_EINVAL, "query: the like: parts cancel out (zero vector)");
    for (int j = 0; rc == 0 && j < s->dim; j++) v[j] = (float)(v[j] / sqrt(nn));
    return rc;
}

static void empty_message(const query *q, const char *text, search_results *res)
{
    if (res->total) return;
    if (!query_ranks(q))
        snprintf(res->empty, sizeof res->empty,
                 "No photos match the filters in '%.200s'. Remove a filter or widen it "
                 "(e.g. a longer date range).",
                 text);
    else
        snprintf(res->empty, sizeof res->empty,
                 "No matches for '%.200s': %s. Try other words, fewer words, or fewer "
                 "filters%s.",
                 text, res->clip_part ? "no keyword hit and no photo stands out for CLIP" : "no keyword hit",
                 res->keyword_only ? "; keyword-only search (no CLIP model) only finds words in names, metadata and "
                                     "OCR text"
                 : !res->clip_part ? "; or move the slider towards CLIP to search by meaning"
                                   : "");
}

// A filter-only query: one page of the matching images in a store order.
static int run_listing(search_ctx *s, const query *q, const search_page *pg, int sort, search_results *res)
{
    int64_t *ids = malloc((size_t)pg->limit * sizeof *ids);
    int n = 0, rc = ids ? 0 : lisa_seterr(LISA_ENOMEM, "listing page");
    if (rc == 0) rc = store_page(s->st, q->f.n ? &q->f : NULL, sort, pg->offset, pg->limit, ids, &n, &res->total);
    if (rc == 0 && !(res->r = calloc(n ? (size_t)n : 1, sizeof *res->r))) rc = lisa_seterr(LISA_ENOMEM, "results");
    for (int i = 0; rc == 0 && i < n; i++) res->n += fill_one(s, ids[i], &res->r[res->n]);
    res->listing = 1;
    free(ids);
    return rc;
}

// Exact mode: v's cosine with every stored vector (the distribution that
// calibrates the cut-off, docs/ranking.md).
static int scores_exact(search_ctx *s, const float *v, scored *rows, float **cos)
{
    if (!(*cos = malloc((s->n ? s->n : 1) * sizeof **cos))) return lisa_seterr(LISA_ENOMEM, "cosines");
    rank_scores_all_f16(s->p, v, s->mat, s->n, s->dim, *cos);
    *rows = (scored){s->ids, *cos, s->n};
    return 0;
}

static int vhit_id_cmp(const void *a, const void *b)
{
    return id_cmp(&((const search_vhit *)a)->id, &((const search_vhit *)b)->id);
}

// ANN mode: the index's best SEARCH_ANN_CANDIDATES (or 4 pages past the
// offset) among the allowed images, exact cosines, re-sorted by id for merge.
static int scores_ann(search_ctx *s, const float *v, const id_set *allowed, const search_page *pg, scored *rows,
                      float **cos, int64_t **ids)
{
    int64_t want = 4 * (pg->offset + pg->limit);
    int k = want < SEARCH_ANN_CANDIDATES ? SEARCH_ANN_CANDIDATES : want > RANK_K_MAX ? RANK_K_MAX : (int)want, n = 0;
    search_filter f = {allowed->ids, allowed->n};
    search_vhit *h = malloc((size_t)k * sizeof *h);
    *cos = malloc((size_t)k * sizeof **cos), *ids = malloc((size_t)k * sizeof **ids);
    int rc = h && *cos && *ids ? search_vector_topk(s, v, k, allowed->all ? NULL : &f, h, &n)
                               : lisa_seterr(LISA_ENOMEM, "ANN candidates");
    if (rc == 0) qsort(h, (size_t)n, sizeof *h, vhit_id_cmp);
    for (int i = 0; rc == 0 && i < n; i++) (*ids)[i] = h[i].id, (*cos)[i] = h[i].cosine;
    *rows = (scored){*ids, *cos, rc == 0 ? (size_t)n : 0};
    free(h);
    return rc;
}

// The relevant set of a ranking query, scored and ordered, one page filled.
static int run_ranked(search_ctx *s, const query *q, const search_page *pg, int sort, search_results *res)
{
    double w = pg->clip_weight;
    int64_t skip[QUERY_LIKES_MAX];
    id_set allowed = {.all = q->f.n == 0};
    int nskip = 0, rc = 0;
    float *v = NULL, *cos = NULL;
    int64_t *ann_ids = NULL;
    char *match = NULL; // the keyword terms; NULL when the text has none (only stop words, only like:)
    cands cs = {.cut = 2};
    // The filters become one allowed set of ids (a SQL pre-filter); the scan
    // below scores every row and the merge keeps allowed ones. A vector index
    // with an allowed-set filter can take allowed.ids as it is.
    if (q->f.n && (rc = store_filter_ids(s->st, &q->f, &allowed.ids, &allowed.n)) < 0) return rc;
    if (q->text[0] && (rc = kw_query(s->k, q->text, &match)) < 0) return rc;
    if (q->n_like && !s->model) rc = lisa_seterr(LISA_ENOTFOUND, "like: needs a CLIP model: %s", s->missing);
    if (rc == 0 && s->model) rc = load_vectors(s);
    int vectors = rc == 0 && s->model && s->n; // a CLIP part is possible at all
    int clip = vectors && (w > 0 || !match || q->n_like);
    int has_kw = match && (w < 1 || !clip);
    if (rc == 0 && !vectors) {
        res->keyword_only = 1;
        snprintf(res->message, sizeof res->message, "keyword-only search: %.400s",
                 s->model ? "no image has a vector for this CLIP model yet; run lisa index" : s->missing);
        if (q->n_like) rc = lisa_seterr(LISA_ENOTFOUND, "like: needs image vectors: %s", res->message);
    }
    if (rc == 0 && clip) {
        v = malloc((size_t)s->dim * sizeof *v);
        rc = v ? query_vector(s, q, v, res) : lisa_seterr(LISA_ENOMEM, "query vector");
    }
    rank_norm nm = q->text[0] ? text_norm(s) : RANK_NORM_IMAGE;
    scored rows = {0};
    if (rc == 0 && clip)
        rc = s->mat ? scores_exact(s, v, &rows, &cos) : scores_ann(s, v, &allowed, pg, &rows, &cos, &ann_ids);
    if (rc == 0 && clip) {
        rank_cal cal; // the ANN candidates are no sample of the library: the fixed cut (rank_calibrate, n = 0)
        rc = rank_calibrate(cos, s->mat ? rows.nr : 0, nm, &cal);
        cs.cut = res->clip_cut = cal.cut;
        res->clip_part = 1;
    }
    for (int i = 0; i < q->n_like; i++)
        if (q->like[i].sign > 0) skip[nskip++] = q->like[i].id; // the example images are not results
    if (rc == 0 && has_kw) rc = keyword_hits(s, &cs, match);
    if (rc == 0) rc = merge(&cs, clip ? &rows : NULL, &allowed, skip, nskip, has_kw);
    if (rc == 0) {
        rank_hybrid(cs.c, cs.n, !clip ? 0.0 : !has_kw ? 1.0 : w, nm);
        if (sort != SEARCH_SORT_RELEVANCE) rc = order_cands(s, &cs, sort);
    }
    if (rc == 0) {
        res->total = (int64_t)cs.n;
        size_t from = pg->offset < (int64_t)cs.n ? (size_t)pg->offset : cs.n;
        size_t n = cs.n - from < (size_t)pg->limit ? cs.n - from : (size_t)pg->limit;
        rc = fill_results(s, &cs, from, n, 1, res);
    }
    free(v), free(cos), free(ann_ids), free(allowed.ids), free(match);
    free(cs.c), free(cs.hits);
    return rc;
}

int search_run(search_ctx *s, const char *text, const search_page *pg, search_results *res)
{
    memset(res, 0, sizeof *res);
    double t0 = mono_ms(), w = pg->clip_weight;
    if (pg->limit < 1 || pg->limit > SEARCH_PAGE_MAX)
        return lisa_seterr(LISA_EINVAL, "limit %d is not in [1,%d]", pg->limit, SEARCH_PAGE_MAX);
    if (pg->offset < 0) return lisa_seterr(LISA_EINVAL, "offset %lld is negative", (long long)pg->offset);
    if (!(w >= 0 && w <= 1)) return lisa_seterr(LISA_EINVAL, "clip_weight %g is not in [0,1]", w);
    query *q = NULL;
    int rc = query_parse(s->k, text, &q);
    if (rc < 0) return rc;
    int ranks = query_ranks(q), sort = pg->sort;
    if (sort == SEARCH_SORT_AUTO) sort = ranks ? SEARCH_SORT_RELEVANCE : STORE_SORT_DATE_DESC;
    if (!ranks && sort == SEARCH_SORT_RELEVANCE) sort = STORE_SORT_DATE_DESC; // nothing to rank by
    res->sort = sort, res->offset = pg->offset;
    rc = ranks ? run_ranked(s, q, pg, sort, res) : run_listing(s, q, pg, sort, res);
    if (rc == 0) empty_message(q, text ? text : "", res);
    query_free(q);
    res->total_ms = mono_ms() - t0;
    if (rc < 0) search_results_free(res);
    return rc;
}

int search_query(search_ctx *s, const char *query, int top_k, double w, search_results *res)
{
    int rc = check_k(top_k);
    if (rc < 0) return memset(res, 0, sizeof *res), rc;
    search_page pg = {0, top_k > SEARCH_PAGE_MAX ? SEARCH_PAGE_MAX : top_k, SEARCH_SORT_AUTO, w};
    return search_run(s, query, &pg, res);
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
    double t0 = mono_ms();
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
    cands cs = {.cut = 2}; // no calibration here: the nearest neighbours, no CLIP-hit claim
    if (rc == 0) rc = add_clip(s, &cs, q, top_k + 1, NULL);
    if (rc == 0) {
        for (size_t i = 0; i < cs.n; i++) // the query image itself is not a result
            if (cs.c[i].id == self) cs.c[i] = cs.c[--cs.n];
        rank_hybrid(cs.c, cs.n, 1.0, RANK_NORM_IMAGE);
        res->total = (int64_t)cs.n;
        rc = fill_results(s, &cs, 0, cs.n < (size_t)top_k ? cs.n : (size_t)top_k, 0, res);
    }
    free(cs.c);
    free(q);
    res->total_ms = mono_ms() - t0;
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
    if ((rc = modeldir_check(dir, MODELDIR_CLIP, NULL, NULL)) < 0) {
        snprintf(missing, mcap, "%s", lisa_errmsg_for(rc));
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
