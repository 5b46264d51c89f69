// The ANN vector index: a FAISS IVF index with fp16 codes (factory
// "IVF<nlist>,SQfp16", inner product) over one model's vectors, kept in a
// file beside lisa.db and derived from SQLite, which stays the source of
// truth. Why IVF with fp16 codes (not SQ8, not HNSW): measured in
// bench/bench_search.c and written down in docs/scale.md (Debian's FAISS is
// built without AVX2, where its SQ8 scan is 2.4x slower than fp16 at equal
// recall; HNSW builds far slower on 2 cores and cannot remove ids in place).
//
// The codes are raw fp16 (not residuals to the list centre): FAISS's
// encoding of the added float32 values, which came from the stored fp16
// vectors, so they are those vectors bit for bit. FAISS picks the lists a
// query visits (its coarse quantizer); LISA scans them with its own fp16
// kernel (rank_scores_f16, AVX-512 / F16C; Debian's FAISS is a baseline
// x86-64 build whose fp16 decoding is scalar), so a candidate's score is the
// exact scan's score, bit for bit, and no re-read from SQLite is needed.
// The index reflects the store as of the last vindex_sync() (search.c syncs
// before every query when the log has moved).
//
// Keeping up with the store. Every embedding insert, update and delete
// appends to the store's emb_log (a trigger, same transaction). The file's
// header records the log seq it reflects, the store's id (kv "store_uid") and
// a CRC-32 of the FAISS payload. vindex_open() loads the file when header and
// CRC check out and the store has not pruned the log past the file's seq;
// otherwise (missing, stale, corrupt, another store's) it rebuilds from
// SQLite. vindex_sync() then replays the log past that seq: each logged id is
// removed and, when the store still has its vector, added again (idempotent,
// so replaying twice is harmless). Saves go to DATA/lisa.vindex.<model>.tmp,
// fsync, rename, under an flock, and only after the rename is the log pruned
// (store_emb_log_prune), so a kill -9 at any point leaves either the old file
// (which replays the log) or the new one; never a file that claims changes it
// lacks.
//
// Threads: searches share a vindex (a read lock); syncs and saves take the
// write lock.
#ifndef LISA_SEARCH_VINDEX_H
#define LISA_SEARCH_VINDEX_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct vindex vindex;

#define VINDEX_MAGIC "LISAVIX1"
#define VINDEX_SAVE_CHANGES 1000 // log rows replayed since the last save that trigger a save
#define VINDEX_LOG_BATCH 4096    // log rows read per step of a replay
#define VINDEX_CAND_MAX 100000   // candidates one search may ask for
#define VINDEX_BUILD_THREADS 2   // OpenMP threads for training and adding in a rebuild
#define VINDEX_NPROBE_MAX 1024   // lists one query may visit
#define VINDEX_KMEANS_ITER 10    // k-means iterations training the lists (FAISS: 25)
#define VINDEX_TRAIN_PER_LIST 50 // training vectors per list (FAISS wants >= 39)

typedef struct {
    int64_t count; // vectors in the index
    int nlist;     // IVF lists
    int nprobe;    // lists visited per query
    int64_t seq;   // log seq reflected
    int64_t file_bytes;
    int built;       // 1: this open rebuilt it from SQLite (missing/stale/corrupt file)
    char why[128];   // why it was rebuilt ("" when loaded)
    double build_ms; // time of that rebuild (0 when loaded), load time otherwise
} vindex_info;

// The index of model_id's dim-d vectors whose file is path (borrowed),
// shared by every caller in the process that names the same path
// (refcounted: one copy in memory however many server threads search).
// The first acquire loads or rebuilds it from st (see above); every acquire
// then syncs it. st is borrowed for the call. vindex_release() each one.
int vindex_acquire(store *st, const char *path, const char *model_id, int dim, vindex **out);
// Drops a reference; the last one saves unsaved changes (through st, may be
// NULL: then they are not saved, the log keeps them) and frees.
void vindex_release(vindex *v, store *st);

// Replays st's log past the index's seq (see above); saves the file when
// VINDEX_SAVE_CHANGES or more changes were applied since the last save, or
// after a rebuild. Cheap when nothing changed (one SQL read).
int vindex_sync(vindex *v, store *st);

// Writes the file now when anything changed since it was last written.
int vindex_save(vindex *v, store *st);

// The k best of the vectors in the nprobe lists nearest query q (dim floats,
// unit length): ids and scores into the caller's arrays of k entries, best
// first (ties: lower id), *n gets how many (fewer than k only when those
// lists hold fewer). Without sel the scores are exact (see above). sel (NULL:
// all) restricts the search to the nsel image ids it lists, inside FAISS
// (IDSelectorBatch; FAISS's float32 sums of the same codes).
int vindex_search(vindex *v, const float *q, int k, const int64_t *sel, size_t nsel, int64_t *ids, float *scores,
                  int *n);

void vindex_get_info(vindex *v, vindex_info *info);

// IVF lists for n vectors: about 2 sqrt(n), at least 39 training points per
// list (FAISS's k-means minimum), at least 1. And the lists a query visits.
int vindex_nlist_for(int64_t n);
int vindex_nprobe_for(int nlist);

#endif
