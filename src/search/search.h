// Queries: the query language (search/query.h, docs/search.md) over the
// store: keyword hits through FTS5 (the indexer's keyword pipeline,
// search/keywords.h), CLIP similarity of the query vector, hybrid ranking
// (rank_hybrid) of the relevant set only (docs/ranking.md). Without a model
// (or without vectors for it) the search is keyword-only and the result says
// so: keyword_only = 1 and message names the missing model and the command
// that installs it (`lisa models pull clip-vit-base-patch32-laion2b`).
//
// Vectors. Below the ann_min_images threshold (search/settings.h) the stored
// fp16 vectors are read once per search_ctx into one (n, dim) matrix, re-read
// when the store's embedding log moves, and scanned exactly: a ranked query
// scores every row, and that distribution calibrates its CLIP cut-off. From
// the threshold on, a FAISS IVF index with fp16 codes (search/vindex.h, one
// copy per process, file DATA/lisa.vindex.<model>) proposes the best
// SEARCH_ANN_CANDIDATES (or 4 pages past the offset), re-ranked with exact
// cosines read from the store; the cut-off is then the fixed one (the
// candidates are no sample of the library). search_vector_mode() says which
// one answers.
//
// Filters: the query's filters become one allowed set of image ids. For
// search_vector_topk() pass it as a search_filter, ids strictly ascending;
// the top-k is then the best k among those images only:
//   - exact mode scans only the allowed rows (pre-filter), always exact;
//   - ANN mode picks per query: when the filter keeps at least
//     SEARCH_POSTFILTER_MIN_FRACTION of the library it asks FAISS for
//     k * library / allowed * 1.5 candidates and keeps the allowed ones
//     (post-filter); below that, or when post-filtering comes back with fewer
//     than k, it scores every allowed image exactly from the store
//     (pre-filter). The crossover was measured in bench/bench_search.c.
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
#define SEARCH_ANN_CANDIDATES 1000           // ANN mode: CLIP candidates of a ranked query (or 4 pages)
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
    int has_score;  // 0 in a listing (a query of filters only): no score at all
    int has_clip;   // the CLIP part was computed (model, vector, weight > 0)
    int has_kw;     // the keyword part was computed (keyword terms, weight < 1)
    int clip_match; // the cosine stands out from the query's distribution (a CLIP hit)
    float cosine;   // raw cosine
    float prob;     // SigLIP text queries: the model's sigmoid(cos * exp(logit_scale) + logit_bias)
                    // that text and image match; -1 otherwise (CLIP, no vector, image queries)
    double bm25;    // raw keyword relevance (-FTS5 bm25), 0 = no keyword hit
    int matched;    // where the query's keywords matched: STORE_COL_* bits
                    // (store/store.h); 0 without a keyword hit. Names for
                    // JSON ("matched_in") from search_matched_names().
    char *ocr_text; // the image's OCR text (owned by the result set), NULL when none
    char *caption;  // the image's BLIP caption (owned by the result set), NULL when none
} search_result;

typedef struct {
    search_result *r;
    int n;                        // results in this page
    int64_t total;                // relevant (or, listing, matching) images over all pages
    int64_t offset;               // index of r[0] in the whole ordered set
    int listing;                  // 1: the query only filters; results are not scored
    int sort;                     // the order used (SEARCH_SORT_RELEVANCE or a STORE_SORT_*)
    float clip_cut;               // the calibrated CLIP cut-off used (cosine), 0 when none
    int clip_part;                // 1: the CLIP part was computed for this query
    char empty[SEARCH_MSG_MAX];   // why nothing matched and what to try, "" when total > 0
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

// Orders: a STORE_SORT_* (store/store.h) or relevance; AUTO is relevance when
// the query ranks (free words, like:) and newest first when it only filters.
#define SEARCH_SORT_RELEVANCE 100
#define SEARCH_SORT_AUTO (-1)
#define SEARCH_PAGE_MAX 1000 // results per page

// "relevance", "date" (oldest first), "-date" (newest first), "name", "-name",
// "added" (first indexed first), "-added" into *sort; LISA_EINVAL otherwise.
int search_sort_parse(const char *name, int *sort);
const char *search_sort_name(int sort);

typedef struct {
    int64_t offset; // first result of the page (0-based) in the ordered set
    int limit;      // results per page, 1..SEARCH_PAGE_MAX
    int sort;       // SEARCH_SORT_AUTO, SEARCH_SORT_RELEVANCE or a STORE_SORT_*
    double clip_weight;
} search_page;

// Runs a query of the query language (search/query.h, docs/search.md): parses
// it (a bad part is LISA_EINVAL naming it), applies its filters, keeps only
// the relevant images (docs/ranking.md), orders them and returns one page.
// An empty query lists the whole library. *res is owned by the caller:
// search_results_free() it.
int search_run(search_ctx *s, const char *query, const search_page *pg, search_results *res);

// search_run() with offset 0, limit top_k and SEARCH_SORT_AUTO.
int search_query(search_ctx *s, const char *query, int top_k, double clip_weight, search_results *res);

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
// caller): score, clip_score, keyword_score, cosine, bm25 (each null when that
// part was not computed: absent, never a fake 0), probability (SigLIP text
// queries only), clip_match and matched_in
// (keyword sources, plus "clip" for a CLIP hit). `lisa search --json` and the
// HTTP API share this shape.
void search_result_scores_json(void *o, const search_result *r);

// Finds and loads the CLIP model for the CLI and server: `models` (a model dir
// from --model / LISA_MODELS / the config; a directory of model dirs is searched
// by modeldir_resolve()), else DATA/models/clip-vit-base-patch32-laion2b (or an
// installed clip-vit-base-patch32). When no complete model is installed it
// returns 0 with *m NULL and a message in missing (which file is absent and
// `lisa models pull clip-vit-base-patch32-laion2b`); a model that is there but
// fails to load is an error. id (idcap bytes) gets
// the model id embeddings are stored under: the model directory's name.
// The caller owns *m: clip_free() it.
int search_model_load(const char *models, const char *data_dir, int threads, clip_model **m, char *id, size_t idcap,
                      char *missing, size_t mcap);

#endif
