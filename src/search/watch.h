// Watched folders: keeps the index in step with folders as files come and go
// (`lisa watch PATH...`, and `lisa serve` for the library's folders).
//
// Events. One inotify instance watches every folder under the roots
// (recursively, hidden folders and the data dir skipped, as the indexer
// does) for create, close-write, attrib, move in/out, rename and delete. A new
// subfolder is watched as soon as its create/move-in event is read, and the
// run that follows rescans it, so files written before its watch existed are
// not missed. Names starting with '.' (editors' and rsync's temporaries) are
// ignored until renamed into place.
//
// Batches. Events are debounced: a batch runs once the folders have been
// quiet for debounce_ms, or max_delay_ms after its first event if they never
// go quiet; so a camera import of 500 files is one batch. A batch is one
// incremental indexer_run() over the roots: the indexer settles unchanged
// files by size+mtime, finds moves and renames by content hash (the vector,
// caption and OCR text go with the file, nothing is decoded again) and drops
// images whose file is gone. Events that arrive during a run make the next
// batch. An overflowed event queue (IN_Q_OVERFLOW) is just another batch plus
// a re-sync of the watches. Work done while nobody watched is caught up by
// the run watch_open() schedules at once (catch_up).
//
// Watch limit. Each folder costs one watch of the user's
// fs.inotify.max_user_watches (/proc/sys/fs/inotify/max_user_watches). When
// it is reached (ENOSPC, or o->max_watches, the test seam) the watcher says
// so once, clearly (how many folders are not watched and the sysctl that
// raises the limit), and falls back to a full rescan every rescan_ms; it
// tries to add the missing watches again at each rescan.
//
// Threads. watch_step() is meant for one thread; watch_start() runs it on a
// thread of its own. watch_kick(), watch_set_roots() and watch_get_status()
// may be called from any thread.
#ifndef LISA_SEARCH_WATCH_H
#define LISA_SEARCH_WATCH_H

#include "search/indexer.h"

#include <stdio.h>

typedef struct watch watch;

#define WATCH_DEBOUNCE_MS 400    // quiet time that closes a batch
#define WATCH_MAX_DELAY_MS 10000 // a batch starts at most this long after its first event
#define WATCH_RESCAN_MS 60000    // fallback rescan period while folders are unwatched
#define WATCH_ROOTS_MAX 256

typedef struct {
    long long batches; // indexer runs started (events, kicks, rescans, the catch-up)
    long long rescans; // of those, periodic fallback rescans
    long long events;  // inotify events read (ignored names excluded)
    long long overflows;
    int watched;          // folders with a watch now
    int unwatched;        // folders that could not be watched (the limit)
    int limited;          // 1 while the watch limit keeps folders unwatched
    int running;          // 1 while a batch runs
    int last_rc;          // the last run's return code
    double last_event_ms; // CLOCK_MONOTONIC ms of the latest event of the batch running or last run
    indexer_stats last;
} watch_status;

typedef struct {
    int debounce_ms;        // <= 0: WATCH_DEBOUNCE_MS
    int max_delay_ms;       // <= 0: WATCH_MAX_DELAY_MS
    int rescan_ms;          // <= 0: WATCH_RESCAN_MS
    int max_watches;        // watches this watcher may hold; 0: only the kernel's limit (test seam)
    int catch_up;           // 1: run one batch at once (work done while nobody watched)
    const indexer_opts *ix; // how a batch indexes (borrowed; must outlive the watcher); ix->data_dir required
    FILE *out;              // messages (watch limit, failed runs); NULL: stderr
    // Optional: runs a batch instead of indexer_run(roots, nroots, ix, st);
    // the server routes it through its build state. Returns like indexer_run.
    int (*run)(void *ud, const char *const *roots, int nroots, indexer_stats *st);
    // Optional: called on the watcher's thread after each batch.
    void (*on_batch)(void *ud, const watch_status *st);
    void *ud;
} watch_opts;

// Sets the defaults (all 0/NULL).
void watch_opts_init(watch_opts *o);

// Resolves the roots (strings copied; each must be an existing folder),
// starts inotify and adds the watches. The caller owns *out: watch_close()
// it. Errors: a root that is missing (LISA_ENOTFOUND), inotify unavailable
// (LISA_EIO); the watch limit is not an error (see above).
int watch_open(const char *const *roots, int nroots, const watch_opts *o, watch **out);

// Waits up to timeout_ms for events, reads them, and runs a batch when one
// is due. Returns 1 when a batch ran, 0 when none, or an error (reading
// inotify failed; a failed indexer run is not an error here: see last_rc).
int watch_step(watch *w, int timeout_ms);

// Runs watch_step() on a thread of its own until watch_close().
int watch_start(watch *w);

// Asks for a batch as if a file had changed (debounced), e.g. after an upload.
void watch_kick(watch *w);

// Replaces the roots (copied; a missing one is skipped with a message): the
// watches follow and a batch runs. 0 or an error.
int watch_set_roots(watch *w, const char *const *roots, int nroots);

// A copy of the counters.
void watch_get_status(watch *w, watch_status *st);

// 1 when path (absolute, symlink-free) is one of the roots and has a watch.
int watch_is_watching(watch *w, const char *path);

// Stops the thread (a batch in flight finishes first; set ix->cancel to cut
// it short) and frees everything. NULL is a no-op.
void watch_close(watch *w);

#endif
