// The HTTP server behind `lisa serve`: the JSON API of docs/api.md and the
// embedded web UI (server/assets.h), on libmicrohttpd with its internal
// thread pool.
//
// Threads. MHD runs `threads` worker threads. A request thread borrows a slot
// (its own store connection and search context, created on first use) for the
// length of one request, so SQLite handles are never shared (store.h) and the
// searches' in-memory vector matrices number at most `threads`. Builds run on
// one background thread with their own store connection; readers keep being
// answered during a build (WAL). The CLIP model is shared: its embed calls
// lock it (clip.h).
//
// Shutdown. srv_stop() stops accepting connections, lets the requests in
// flight finish (up to SRV_DRAIN_MS), asks a running build to stop after its
// batch in flight (indexer_opts.cancel) and joins it, then stops MHD.
#ifndef LISA_SERVER_SERVER_H
#define LISA_SERVER_SERVER_H

#include <stdint.h>

typedef struct srv srv;
typedef struct clip_model clip_model;

#define SRV_UPLOAD_DEFAULT (50LL * 1024 * 1024) // per-file upload cap
#define SRV_REQUEST_FILES 4                     // an upload request body: 4 files' cap ...
#define SRV_REQUEST_SLACK (1024 * 1024)         // ... plus 1 MiB of multipart framing; more is 413 up front
#define SRV_FOLDERS_MAX 64                      // --folder entries
#define SRV_THREADS_MAX 64
#define SRV_DRAIN_MS 10000 // srv_stop() waits this long for requests in flight
#define SRV_DEADLINE_S 600 // a request (upload body included) must be done within this; idle timeout 60 s

typedef struct {
    const char *data_dir;       // required; created when missing
    const char *host;           // NULL: 127.0.0.1 (IPv4 or IPv6 literal, or "localhost")
    int port;                   // 0: a free port, see srv_port()
    const char *models;         // model dir (search_model_load()); NULL/"": the default places
    int no_model;               // 1: never load a model (keyword-only)
    const char *const *folders; // extra folders a build indexes in place (borrowed)
    int nfolders;
    long long max_upload; // bytes per uploaded file; <= 0: SRV_UPLOAD_DEFAULT
    const char *token;    // bearer token for /api/*; NULL/"": none (refused beyond loopback, see below)
    int threads;          // MHD pool size; <= 0: max(4, CPUs)
    int top_k;            // default top_k; <= 0: 20
    double clip_weight;   // default weight; < 0: 0.7
    int thumb_size;       // <= 0: 320
    int quiet;            // 1: no log lines on stderr
    const char *version;  // shown by /api/stats and /api/health; NULL: "unknown"

    int insecure_no_token;          // 1: serve beyond loopback without a token anyway
    const char *const *allow_hosts; // extra names accepted in the Host header (borrowed), e.g. a LAN name
    int nallow_hosts;
    double deadline_s; // <= 0: SRV_DEADLINE_S

    int no_ocr;           // 1: builds skip OCR (the `ocr = off` setting)
    const char *ocr_lang; // Tesseract languages for builds; NULL/"": eng
    int no_captions;      // 1: builds skip BLIP captions (the `captions = off` setting)

    int auto_index; // 1: uploads are indexed without a Build click (`lisa serve` sets it from auto_index)
    int watch;      // 1: watch DATA/images (with auto_index) and the folders with inotify, catching up at start
} srv_opts;

// Sets the defaults (everything 0/NULL except clip_weight = -1: so no
// watching and no auto-index unless asked; `lisa serve` asks by default).
void srv_opts_init(srv_opts *o);

// Requests are refused unless their Host header names this server (421:
// DNS rebinding), and POST/PUT/DELETE unless same-origin (403: cross-site
// pages). Bound beyond loopback, a token is required unless insecure_no_token.
//
// Loads the model, opens the data dir and starts listening. Strings in o are
// copied. The caller owns *out: srv_stop() it. Errors (port taken, bad host,
// model that fails to load) carry a message in lisa_errmsg().
int srv_start(const srv_opts *o, srv **out);

// The port actually bound (useful with port 0).
int srv_port(const srv *s);

// Graceful stop as described above, then frees everything. NULL is a no-op.
void srv_stop(srv *s);

#endif
