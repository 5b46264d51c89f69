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
    int has_clip;
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
    int n;
    int keyword_only;             // 1: no CLIP part in the scores
    char message[SEARCH_MSG_MAX]; // why keyword-only, "" otherwise
    double text_ms, total_ms;     // text tower time, whole query time
} search_results;

// Opens the store in o->data_dir for queries. Strings are copied; the model
// stays owned by the caller and must outlive the context.
int search_open(const search_opts *o, search_ctx **out);
void search_close(search_ctx *s);

// Hybrid search; *res is owned by the caller: search_results_free() it.
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
// caller): score, clip_score, keyword_score, cosine (null without a vector),
// probability (SigLIP text queries only), bm25 and matched_in. `lisa search --json` and the HTTP API share this shape.
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
