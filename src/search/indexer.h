// The library indexer: `lisa index PATH...` walks folders in place and keeps
// the store in step with them, incrementally.
//
// Per file, cheapest test first:
//   - a path already stored with the same size and mtime (and, when a CLIP
//     model is loaded, an embedding for that model) is unchanged: skipped;
//   - otherwise the first bytes are sniffed (non-images are skipped and
//     counted) and the content hashed (SHA-256);
//   - same path, same hash: only size/mtime are updated ("touched");
//   - a hash stored under a path that no longer exists: a move or rename; the
//     record is re-pointed, nothing is decoded or embedded again;
//   - a hash stored under another path that still exists: a copy; the
//     embedding is copied, keywords are rebuilt for the new name;
//   - anything else is new or changed: decoded (DCT-scaled JPEG decode), its
//     thumbnail written to DATA/thumbnails/<hash>.jpg, metadata and keywords
//     extracted, OCR'd (below), CLIP-embedded when a model is loaded.
//
// OCR (src/ocr/ocr.h) runs in the decode pool, one Tesseract engine per pool
// thread, created on first use. Each new or changed image gets the cheap
// text-likelihood test; only images that pass are recognised (on a re-decode
// up to OCR_MAX_SIDE when the first decode was DCT-scaled smaller). The text
// and its confidence are stored (ocr_text "" means "tested, no text"; NULL
// means "never OCR'd") and its words go through kw_clean() into the FTS 'ocr'
// column. Unchanged images are never OCR'd again; moves, copies and
// touches keep their text. An unchanged image whose ocr_text is NULL
// (indexed with no_ocr, or before OCR existed) is decoded once more to be
// OCR'd, without re-embedding it when its vector is there.
// Stored images under the indexed roots whose files are gone are removed.
//
// Captions (src/caption, with o->captioner) follow OCR's rules: each new or
// changed image is captioned once per content (moves, copies and touches keep
// the caption; caption "" is a caption that came out empty, NULL "never
// captioned"), in the decode pool right after OCR; an unchanged image without
// a caption is decoded again to get one. The raw caption is stored; its words,
// BLIP's filler folded (search/capwords.h), go through kw_clean() into the FTS
// 'caption' column.
//
// Decoding, thumbnails and preprocessing run on a thread pool for batch i+1
// while the caller's thread embeds and commits batch i. Every batch is one
// transaction holding complete records, so a kill loses at most the batch in
// flight and the next run resumes where it stopped.
//
// Without a model (model_dir NULL and no model given) the indexer still
// records everything except embeddings: keyword search works, and a later run
// with a model embeds the images that lack a vector for it.
#ifndef LISA_SEARCH_INDEXER_H
#define LISA_SEARCH_INDEXER_H

#include "caption/caption.h"

#include <stdint.h>
#include <stdio.h>

typedef struct clip_model clip_model;

#define INDEXER_BATCH_DEFAULT 32
#define INDEXER_FILES_MAX 10000000 // files per run; more is refused
#define INDEXER_PATH_MAX 4096

// Progress, reported to on_progress per file (serialised: one call at a
// time, from whichever thread finished the file). Phase "scan": found counts
// up as the walk finds files. "hash": done/total over the files that need
// their content hashed. "index": done/total over the files to decode, moving
// when a file has been through its per-file steps (decode, OCR, caption);
// steps.embed moves per CLIP batch. The struct and current are valid only
// during the call.
typedef struct {
    long long decode, ocr, embed, caption; // files through each step in this run
} indexer_steps;

typedef struct {
    long long found;     // files found so far by the walk
    long long total;     // files to hash ("hash") or to decode ("index")
    long long done;      // of those, through their steps so far
    long long errors;    // files that failed so far in this run
    indexer_steps steps; // per step, this run
    const char *current; // base name of the file just worked on, NULL none
    double elapsed;      // seconds since the phase started
    double rate;         // files per second in this phase so far
    double eta;          // seconds left (estimate), < 0 unknown
    const char *phase;   // "scan", "hash", "index", "cleanup", "done"
} indexer_progress;

typedef struct {
    const char *data_dir; // required: holds lisa.db and thumbnails/
    clip_model *model;    // borrowed; NULL: keywords only
    const char *model_id; // id the embeddings are stored under (required with model)
    int threads;          // decode pool size; <= 0: one per CPU
    int batch;            // images per commit; <= 0: INDEXER_BATCH_DEFAULT
    int thumb_size;       // <= 0: 320
    int progress;         // 0 silent, 1 bar on a TTY else lines, 2 lines
    FILE *out;            // progress and warnings; NULL: stderr
    volatile int *cancel; // optional: non-zero stops after the batch in flight (its files not yet started are left for
                          // the next run)
    void (*on_progress)(void *ud, const indexer_progress *p); // optional
    void *ud;
    int no_ocr;           // 1: no OCR (images keep ocr_text NULL, done by a later run)
    const char *ocr_lang; // Tesseract languages, "eng+deu"; NULL: "eng"
    int retry_failed;     // 1: decode again files that failed before even if unchanged

    cap_model *captioner;         // borrowed; NULL: no captions (images keep caption NULL for a later run)
    const cap_opts *caption_opts; // NULL: cap_opts_default() (HF generate's defaults)
} indexer_opts;

typedef struct {
    long long files;            // regular files seen under the roots
    long long unchanged;        // skipped by size+mtime
    long long touched;          // same content, new size/mtime
    long long added;            // new images decoded
    long long changed;          // images whose content changed, re-processed
    long long moved;            // renames recognised by hash
    long long copied;           // copies of stored content, embedding reused
    long long embedded;         // CLIP forward passes done
    long long removed;          // stored images whose file is gone
    long long nonimage;         // skipped: not an image by magic bytes
    long long failed;           // unreadable or corrupt images (warned)
    long long failed_before;    // corrupt before and unchanged since: skipped, not warned again
    long long ocr_tested;       // images given the text-likelihood test
    long long ocr_skipped;      // of those, judged text-free (no full OCR pass)
    long long ocr_recognised;   // full OCR passes run
    long long ocr_with_text;    // of those, images where words were kept
    double ocr_test_ms, ocr_ms; // summed time of the tests and of the OCR passes
    long long captioned;        // BLIP captions generated
    double caption_ms;          // their summed time
    double seconds;
} indexer_stats;

void indexer_opts_init(indexer_opts *o);

// Indexes the npaths folders (or single files) in paths into the store in
// o->data_dir. Strings stay owned by the caller; *st gets the counts.
// Per-file failures are warnings counted in st->failed; only store, model or
// argument failures return an error.
int indexer_run(const char *const *paths, int npaths, const indexer_opts *o, indexer_stats *st);

#endif
