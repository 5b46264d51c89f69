// Re-embedding: gives every stored image a vector for a (new) model, and
// nothing else. It reads the store's image rows, decodes each file that has
// no vector for the model, embeds it and stores the vector; keyword, caption,
// OCR and metadata rows are never read for writing, so switching models never
// recomputes them (tests/test_reembed.c compares those rows before and after).
// The other models' vectors stay: searches keep using them until the new
// model covers the library (the server's switch, docs/models.md).
//
// Batches of REEMBED_BATCH images, one transaction each, so a kill loses at
// most one batch and the next run resumes (images that have a vector are
// skipped). A file that cannot be read or decoded is counted in failed and
// skipped (it keeps no vector for the model; its other data are untouched).
#ifndef LISA_SEARCH_REEMBED_H
#define LISA_SEARCH_REEMBED_H

#include <stdint.h>
#include <stdio.h>

typedef struct clip_model clip_model;

#define REEMBED_BATCH 8

typedef struct {
    long long total; // images without a vector for the model when the run began
    long long done;  // of those, handled so far (embedded or failed)
    long long embedded;
    long long failed; // unreadable or undecodable files (skipped)
    double seconds;
} reembed_stats;

typedef struct {
    const char *data_dir;                                   // holds lisa.db
    clip_model *model;                                      // borrowed, required
    const char *model_id;                                   // the id the vectors are stored under, required
    volatile int *cancel;                                   // optional: non-zero stops after the batch in flight
    void (*on_progress)(void *ud, const reembed_stats *st); // optional, after each batch
    void *ud;
} reembed_opts;

// Embeds every image of the store in o->data_dir that lacks a vector for
// o->model_id. *st (may be NULL) gets the counts. Per-file failures are
// counted, not returned; store and model failures are.
int reembed_run(const reembed_opts *o, reembed_stats *st);

// Images in the store and, of them, those with a vector for model_id
// (coverage = *with / *images; 1 when the store is empty).
int reembed_coverage(const char *data_dir, const char *model_id, int64_t *images, int64_t *with);

// Writes one line per model with vectors in the store: "vectors: NAME n of N
// images (P%)", with ", active" after the model active (may be NULL).
int reembed_print_coverage(FILE *out, const char *data_dir, const char *active);

#endif
