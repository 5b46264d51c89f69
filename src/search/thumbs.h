// Thumbnail housekeeping for DATA/thumbnails/<sha256>.jpg: leftovers of
// interrupted writes (*.tmp) and thumbnails no indexed image refers to.
#ifndef LISA_SEARCH_THUMBS_H
#define LISA_SEARCH_THUMBS_H

#include "store/store.h"

#include <stdint.h>

#define THUMBS_TMP_AGE_S 60 // a *.tmp younger than this may still be written by a running build

// 1 when name is a thumbnail's: 64 lower-case hex digits + ".jpg".
int thumbs_is_name(const char *name);

// Unlinks the *.tmp files in dir last modified more than min_age_s ago.
// Returns how many, or a negative LISA_E* when dir cannot be read (missing: 0).
int thumbs_sweep_tmp(const char *dir, int min_age_s);

// Unlinks every thumbnail in dir whose hash no image in st has and that was
// last modified before before_ns (CLOCK_REALTIME ns; a newer one may belong
// to a batch another process has not committed yet). Returns how many, or a
// negative LISA_E*.
int thumbs_sweep_orphans(store *st, const char *dir, int64_t before_ns);

#endif
