// Queries: hybrid text search and image-to-image similarity over the store.
//
// search_query(): the query is cleaned by the same keyword pipeline the indexer
// uses (search/keywords.h) into a safe FTS5 expression; FTS5 gives bm25 hits;
// when a CLIP model is loaded its text embedding is scanned exactly against
// every stored vector of that model (search/rank.h); the union of the CLIP top
// candidates and the keyword hits is ranked by rank_hybrid(). Without a model
// (or without vectors for it) the search is keyword-only and the result says
// so: keyword_only = 1 and message names the missing model and the command
// that installs it (`lisa models pull clip-vit-base-patch32`).
//
// Vectors. Below the ann_min_images threshold (search/settings.h) the stored
// fp16 vectors are read once per search_ctx into one (n, dim) matrix, re-read
// when the store's embedding log moves, and scanned exactly (rank_topk_f16).
// From the threshold on, a FAISS IVF+SQ8 index (search/vindex.h, one copy per
// process, file DATA/lisa.vindex.<model>) proposes candidates that are
// re-ranked with exact cosines read from the store: scores stay exact and no
// matrix is held. search_vector_mode() says which one answers.
//
// Filters (for the query language's dates, camera, folder...): pass the
// allowed images as a search_filter, the image ids strictly ascending. The
// top-k is then the best k among those images only:
//   - exact mode scans only the allowed rows (pre-filter), always exact;
//   - ANN mode picks per query: when the filter keeps at least
//     SEARCH_POSTFILTER_MIN_FRACTION of the library it asks FAISS for
//     k * library / allowed * 1.5 candidates and keeps the allowed ones
//     (post-filter); below that, or when post-filtering comes back with fewer
//     than k, it scores every allowed image exactly from the store
//     (pre-filter). The crossover was measured in bench/bench_search.c.
//   - keyword hits (the best SEARCH_KEYWORD_HITS_MAX) are filtered after FTS5.
// The filter is borrowed for the call.
#ifndef LISA_SEARCH_SEARCH_H
#define LISA_SEARCH_SEARCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct clip_model clip_model;
typedef struct search_ctx search_ctx;
#include "store/store.h"

#define SEARCH_CLIP_CANDIDATES_MIN 200 // CLIP candidates: max(4 * top_k, this)
#define SEARCH_KEYWORD_HITS_MAX 2000   // best keyword hits considered
#define SEARCH_MSG_MAX 512
#define SEARCH_RERANK_EXTRA 20               // ANN: candidates re-ranked exactly beyond the k asked for
#define SEARCH_POSTFILTER_MIN_FRACTION 0.003 // ANN + filter: post-filter from this share of the library

typedef struct {
    const char *data_dir; // required
    clip_model *model;    // borrowed; NULL: keyword-only
    const char *model_id; // the id embeddings are stored under (with model)
    const char *missing;  // why there is no model (shown in keyword-only results), may be NULL
} search_opts;

// An allowed set of images: n image ids, strictly ascending (borrowed).
typedef struct {
    const int64_t *ids;
    size_t n;
} search_filter;

// One vector hit: image id and exact cosine (of the stored fp16 vector).
typedef struct {
    int64_t id;
    float cosine;
} search_vhit;

typedef struct {
    int64_t id;
    char *path; // owned by the result set
    int64_t size;
    char date[32]; // date taken (EXIF) else file mtime, "YYYY-MM-DD HH:MM:SS"
    float score, clip_score, keyword_score;
    int has_clip;
    float cosine;   // raw cosine
    double bm25;    // raw keyword relevance (-FTS5 bm25), 0 = no keyword hit
    int matched;    // where the query's keywords matched: STORE_COL_* bits
                    // (store/store.h); 0 without a keyword hit. Names for
                    // JSON ("matched_in") from search_matched_names().
    char *ocr_text; // the image's OCR text (owned by the result set), NULL when none
} search_result;

typedef struct {
    search_result *r;
    int n;
    int keyword_only;             // 1: no CLIP part in the scores
    char message[SEARCH_MSG_MAX]; // why keyword-only, "" otherwise
    double text_ms, total_ms;     // text tower time, whole query time
} search_results;

// Opens the store in o->data_dir for queries. Strings are copied; the model
// stays owned by the caller and must outlive the context.
int search_open(const search_opts *o, search_ctx **out);
void search_close(search_ctx *s);

// The ANN threshold: vectors from which the ANN index answers, 0 = always.
// search_open() starts from search_ann_min_default(); the CLI and server set
// the resolved setting here.
void search_set_ann_min(search_ctx *s, long ann_min_images);

// Overrides SEARCH_POSTFILTER_MIN_FRACTION for this context (0: always
// post-filter first, > 1: always pre-filter). For the benchmark that set it.
void search_set_postfilter_fraction(search_ctx *s, double fraction);

// Without a CLIP model: the model id and dimension of the stored vectors to
// search with search_vector_topk() (tests, benches, vector-only callers).
int search_set_vectors(search_ctx *s, const char *model_id, int dim);

// Hybrid search; *res is owned by the caller: search_results_free() it.
int search_query(search_ctx *s, const char *query, int top_k, double clip_weight, search_results *res);
// The same restricted to the images in f (NULL: all; see above).
int search_query_filtered(search_ctx *s, const char *query, int top_k, double clip_weight, const search_filter *f,
                          search_results *res);

// The k best images (best first, ties by id) by exact cosine with q (dim
// floats, unit length) among f's images (NULL: all), through the exact scan
// or the ANN index as above, into out (caller's, k entries); *n gets how many.
int search_vector_topk(search_ctx *s, const float *q, int k, const search_filter *f, search_vhit *out, int *n);

// "exact-fp16" or "faiss-ivf-fp16": what answered the last vector search.
const char *search_vector_mode(search_ctx *s);

// ann_min_images when the caller did not set it: $LISA_ANN_MIN_IMAGES, else
// the config file ($LISA_CONFIG or DATA/lisa.conf), else the default.
long search_ann_min_default(const char *data_dir);

// The ANN index file of model_id: DATA/lisa.vindex.<model id>.
void search_vindex_path(const char *data_dir, const char *model_id, char *buf, size_t cap);

// `vector_index` for `lisa stats --json` and /api/stats, as JSON object text
// into buf (512 bytes hold it): {"kind": "exact-fp16"|"faiss-ivf-fp16",
// "model": id, "ann_min_images": N, "vectors": n, "file_bytes": B or null,
// "nlist": L or null}, for the model with the most vectors in ss (kind "none",
// no "model", when there are none): which index answers at this size.
void search_vector_index_json(const store_stats *ss, const char *data_dir, long ann_min, char *buf, size_t cap);

// Images most similar to the image file at path (its stored vector when the
// file is in the library, else it is decoded and embedded). Needs a model.
int search_similar(search_ctx *s, const char *path, int top_k, search_results *res);

void search_results_free(search_results *res);

// The names of the sources set in `matched` (search_result.matched), in the
// fixed order "caption", "ocr", "name", "meta", into names (static strings,
// at most max); returns how many.
#define SEARCH_SOURCES_MAX 4
int search_matched_names(int matched, const char **names, int max);

// Adds r's ranking fields to the JSON object o (a cJSON *, owned by the
// caller): score, clip_score, keyword_score, cosine (null without a vector),
// bm25 and matched_in. `lisa search --json` and the HTTP API share this shape.
void search_result_scores_json(void *o, const search_result *r);

// Finds and loads the CLIP model for the CLI and server: `models` (a model dir
// from --model / LISA_MODELS / the config; a directory of model dirs is searched
// by modeldir_resolve()), else DATA/models/clip-vit-base-patch32. When no
// complete model is installed it returns 0 with *m NULL and a message in
// missing (which file is absent and `lisa models pull clip-vit-base-patch32`);
// a model that is there but fails to load is an error. id (idcap bytes) gets
// the model id embeddings are stored under: the model directory's name.
// The caller owns *m: clip_free() it.
int search_model_load(const char *models, const char *data_dir, int threads, clip_model **m, char *id, size_t idcap,
                      char *missing, size_t mcap);

#endif
