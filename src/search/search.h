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
// The vectors are read from the store once per search_ctx into one (n, dim)
// matrix and re-read when the store's image count or last-index stamp changes,
// so a server keeps them in memory between queries.
#ifndef LISA_SEARCH_SEARCH_H
#define LISA_SEARCH_SEARCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct clip_model clip_model;
typedef struct search_ctx search_ctx;

#define SEARCH_CLIP_CANDIDATES_MIN 200 // CLIP candidates: max(4 * top_k, this)
#define SEARCH_KEYWORD_HITS_MAX 2000   // best keyword hits considered
#define SEARCH_MSG_MAX 512

typedef struct {
    const char *data_dir; // required
    clip_model *model;    // borrowed; NULL: keyword-only
    const char *model_id; // the id embeddings are stored under (with model)
    const char *missing;  // why there is no model (shown in keyword-only results), may be NULL
} search_opts;

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
// by modeldir_resolve()), else DATA/models/clip-vit-base-patch32. When no
// complete model is installed it returns 0 with *m NULL and a message in
// missing (which file is absent and `lisa models pull clip-vit-base-patch32`);
// a model that is there but fails to load is an error. id (idcap bytes) gets
// the model id embeddings are stored under: the model directory's name.
// The caller owns *m: clip_free() it.
int search_model_load(const char *models, const char *data_dir, int threads, clip_model **m, char *id, size_t idcap,
                      char *missing, size_t mcap);

#endif
