// Ranking: exact brute-force cosine over stored unit vectors, top-k by a
// min-heap, and the hybrid CLIP + keyword score.
//
// Vectors are stored L2-normalised, so cosine is a dot product. The scan is
// memory-bound (100k x 512 floats = 205 MB read per query), so the kernel
// fuses scoring and top-k selection: each thread streams its share of rows
// once, scores a block into a small stack buffer and pushes into its own heap;
// the heaps are merged at the end. rank_scores() dispatches at run time to an
// AVX2+FMA kernel when the CPU has it, else the scalar reference
// rank_scores_ref(), which has the same signature and is what tests compare
// against.
//
// Relevance and the hybrid score (docs/ranking.md has the reasoning and tests):
//   relevant      = keyword hit, or cosine >= the query's calibrated cut-off:
//                   cut = median + RANK_Z_CUT * 1.4826 * MAD of the query's
//                   cosines over the whole library (a robust z-score), so
//                   "stands out from this query's distribution", not a fixed
//                   constant; with fewer than RANK_CAL_MIN vectors there is no
//                   distribution to read and the cut is the middle of the
//                   fixed map below (cosine 0.25 text, 0.75 image).
//   clip_score    = clamp((cosine - lo) / (hi - lo), 0, 1)   a FIXED affine map
//                   (RANK_CLIP_LO/HI for text->image, RANK_NORM_IMAGE for
//                   image->image), independent of the rest of the library.
//   keyword_score = bm25 / max bm25 over the candidates (1 = the best hit).
//   score         = 1 - (1 - a * clip_score) * (1 - b * keyword_score)
//                   a = min(1, 2w), b = min(1, 2(1 - w)), w = clip_weight:
//                   a soft OR, so either kind of evidence alone can score high
//                   (a perfect name match shows 1.0 at w <= 0.5 and 0.6 at the
//                   default 0.7, not 0.3), both together score higher than
//                   either, and the slider's ends are pure CLIP (w = 1: score
//                   = clip_score) and pure keywords (w = 0). A part that was
//                   not computed (no vector, no keyword terms) is absent and
//                   counts as 0; callers pass w = 0 / 1 when a whole part is
//                   absent from the query, so the other part is not scaled.
// Ties are broken by raw cosine, then raw bm25, then ascending id, so the order
// is total and deterministic. The raw cosine and bm25 are kept for reporting.
#ifndef LISA_SEARCH_RANK_H
#define LISA_SEARCH_RANK_H

#include "base/pool.h"

#include <stddef.h>
#include <stdint.h>

#define RANK_PAR_MIN 16384 // rows below this are scanned by the calling thread alone
#define RANK_BLOCK 256     // rows scored per kernel call before heap pushes
#define RANK_K_MAX 100000  // top-k requests above this are refused
#define RANK_DIM_MAX 8192

#define RANK_CLIP_LO 0.15f   // text->image cosine mapped to clip_score 0
#define RANK_CLIP_HI 0.35f   // text->image cosine mapped to clip_score 1
#define RANK_Z_CUT 3.0f      // robust z-score a CLIP hit needs to be relevant
#define RANK_CAL_MIN 16      // fewer vectors than this: the fixed cut-off
#define RANK_SIGMA_MIN 1e-3f // spread floor: cosine differences below this are noise

// ---------------------------------------------------------------- kernels

// out[i] = dot(q, rows + i*d) for i in [0, n). rows is (n, d) row-major.
void rank_scores_ref(const float *q, const float *rows, size_t n, int d, float *out);
// Same, dispatched to the fastest kernel this CPU runs.
void rank_scores(const float *q, const float *rows, size_t n, int d, float *out);
// Name of the kernel rank_scores() uses ("avx2-fma" or "scalar").
const char *rank_kernel_name(void);
// 1 forces the scalar kernel everywhere (benchmarks, tests), 0 restores dispatch.
void rank_force_scalar(int on);

// out[i] = dot(q, rows + i*d) for all n rows, split over pool p (may be NULL)
// when n >= RANK_PAR_MIN: the full score vector a calibrated query needs.
void rank_scores_all(pool *p, const float *q, const float *rows, size_t n, int d, float *out);
// The same over fp16 rows (the store's format; rank_scores_f16 per chunk).
void rank_scores_all_f16(pool *p, const float *q, const uint16_t *rows, size_t n, int d, float *out);
// fp16 rows (the store's format, base/half.h): out[i] = dot(q, rows + i*d)
// with q float32, products and sums in float32 (the reference sums in double).
// Kernels, picked by CPUID bits: AVX-512F (vcvtph2ps zmm), F16C+AVX2+FMA,
// scalar. They differ from the reference by float32 rounding only (test_rank
// bounds the gap).
enum { RANK_F16_SCALAR, RANK_F16_F16C, RANK_F16_AVX512 };
void rank_scores_f16_ref(const float *q, const uint16_t *rows, size_t n, int d, float *out);
void rank_scores_f16(const float *q, const uint16_t *rows, size_t n, int d, float *out);
// 1 when this CPU runs kernel (RANK_F16_*).
int rank_f16_supported(int kernel);
// Pins rank_scores_f16() to kernel (-1: back to the best one); LISA_EUNSUPPORTED
// when the CPU lacks it. rank_force_scalar(1) overrides this. For tests/benches.
int rank_f16_force(int kernel);
// "avx512f", "f16c-avx2-fma" or "scalar": what rank_scores_f16() runs now.
const char *rank_f16_kernel_name(void);

// ---------------------------------------------------------------- top-k

typedef struct {
    float score;
    uint32_t row;
} rank_hit;

// A bounded min-heap of the k best hits seen: root = worst kept. "Better" is a
// higher score, then a lower row. buf (k entries) is owned by the caller.
typedef struct {
    rank_hit *h;
    int k, n;
} rank_heap;

void rank_heap_init(rank_heap *hp, rank_hit *buf, int k);
void rank_heap_push(rank_heap *hp, float score, uint32_t row);
// Sorts the kept hits best-first in place (the heap is consumed); returns n.
int rank_heap_sort(rank_heap *hp);

// The k best rows of (n, d) by dot product with q into out (caller-owned, k
// entries), best first; *nout gets min(k, n). Uses pool p (may be NULL) when
// n >= RANK_PAR_MIN. Refuses k or d over the caps with LISA_EINVAL.
int rank_topk(pool *p, const float *q, const float *rows, size_t n, int d, int k, rank_hit *out, int *nout);

// The same over fp16 rows. sel (may be NULL: every row) restricts the scan to
// the nsel rows it lists, strictly ascending and < n (else LISA_EINVAL): the
// pre-filtered scan of search_vector_topk(). hit.row is the row index in
// rows either way.
int rank_topk_f16(pool *p, const float *q, const uint16_t *rows, size_t n, int d, const uint32_t *sel, size_t nsel,
                  int k, rank_hit *out, int *nout);

// ---------------------------------------------------------------- hybrid

typedef struct {
    float lo, hi; // cosine -> [0,1] affine map, hi > lo
} rank_norm;

#define RANK_NORM_TEXT ((rank_norm){RANK_CLIP_LO, RANK_CLIP_HI})
#define RANK_NORM_IMAGE ((rank_norm){0.5f, 1.0f})

typedef struct {
    int64_t id;       // caller's id (image id)
    int has_clip;     // cosine is valid
    float cosine;     // raw cosine
    double bm25;      // raw keyword relevance, >= 0, 0 = no keyword hit
    int has_kw;       // the keyword part was computed (the query has keyword terms)
    float clip_score; // outputs of rank_hybrid()
    float keyword_score;
    float score;
} rank_cand;

// clamp((cos - lo) / (hi - lo), 0, 1).
float rank_clip_norm(rank_norm nm, float cosine);

// The query's cosine distribution over the library and the cut-off above.
typedef struct {
    float median, sigma; // sigma = 1.4826 * MAD (floored at RANK_SIGMA_MIN)
    float cut;           // cosines >= cut are CLIP hits
    int calibrated;      // 0: fewer than RANK_CAL_MIN vectors, fixed cut
} rank_cal;

// Calibrates from the n cosines (borrowed; not modified) of one query.
// LISA_ENOMEM when the scratch copy cannot be made.
int rank_calibrate(const float *cos, size_t n, rank_norm nm, rank_cal *out);

// Fills clip_score, keyword_score and score of the n candidates for weight w
// (clamped to [0,1]) and sorts them best-first (ties as described above).
void rank_hybrid(rank_cand *c, size_t n, double w, rank_norm nm);

#endif
