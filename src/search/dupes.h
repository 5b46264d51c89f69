// Duplicate finder: groups of exact copies (same SHA-256 content) and of
// near-duplicates (resized, recompressed, lightly cropped copies).
//
// Near-duplicates come from the perceptual hash of each content
// (image/phash.h), which the indexer stores as it decodes (keyed by content,
// so it never goes stale); one missing (indexed before schema v6) is computed
// from the file here and stored. When the
// library has CLIP vectors, the cosine of two images also counts: a pair a
// little past the hash threshold is joined when their vectors agree. Pairs
// are compared all against all (n^2 / 2 XOR-popcounts of the distinct
// contents: about 1 s per 50k contents), then joined into groups
// (union-find). Thresholds and their precision/recall on the generated set
// are in docs/duplicates.md.
#ifndef LISA_SEARCH_DUPES_H
#define LISA_SEARCH_DUPES_H

#include "store/store.h"

#include <stdint.h>

#define DUPES_PHASH_MAX 10         // pHash bits that may differ for a near-duplicate on the hash alone
#define DUPES_PHASH_LOOSE 18       // ... and with CLIP agreeing
#define DUPES_COSINE_MIN 0.95f     // the CLIP cosine that confirms a loose pair
#define DUPES_CONTENTS_MAX 2000000 // distinct contents compared (memory and n^2 time cap)

enum { DUPES_EXACT = 1, DUPES_NEAR = 2 };

typedef struct {
    int max_distance;   // <= 0: DUPES_PHASH_MAX
    int loose_distance; // <= 0: DUPES_PHASH_LOOSE
    float min_cosine;   // <= 0: DUPES_COSINE_MIN
    int no_vectors;     // 1: ignore CLIP vectors even when the store has some
} dupes_opts;

// One group. Exact: every image with that content, lowest id first. Near:
// one image per content (the lowest id; its exact copies are in their exact
// group), ordered by id.
typedef struct {
    int kind;         // DUPES_EXACT or DUPES_NEAR
    float similarity; // exact 1; near: the least similar pair, 1 - (differing bits / 64)
    int n;
    int64_t *ids;
} dupes_group;

typedef struct {
    dupes_group *g; // exact groups first (by content hash), then near groups
    int n;
    int64_t images;     // images with a content hash that were considered
    int64_t hashed;     // perceptual hashes computed in this call (the rest were stored)
    int64_t unreadable; // contents that could not be decoded for a hash (left out of near groups)
    int used_vectors;   // 1: CLIP cosines took part
    char model[STORE_MODEL_ID_MAX];
} dupes_result;

// Fills *out (caller frees with dupes_result_free()) from the store, which
// gets the missing perceptual hashes written. o may be NULL for defaults.
int dupes_find(store *s, const dupes_opts *o, dupes_result *out);
void dupes_result_free(dupes_result *r);

#endif
