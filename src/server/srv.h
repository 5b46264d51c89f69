// Internals shared by the server's files (server.c and the api_*.c routes).
// Not part of the public API: see server.h.
#ifndef LISA_SERVER_SRV_H
#define LISA_SERVER_SRV_H

#include "base/clock.h"
#include "server/server.h"
#include "server/http.h"
#include "search/indexer.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

typedef struct search_ctx search_ctx;
typedef struct clip_model clip_model;

#define SRV_PATH_MAX 4096
#define SRV_LAT_RING 1000    // search latencies kept for the percentiles
#define SRV_LAT_RECENT 60    // latencies sent for the sparkline
#define SRV_UPLOAD_PARTS 100 // file parts per upload request
#define SRV_FIELD_MAX 4096   // bytes of a non-file form field
#define SRV_BODY_MAX 65536   // body bytes accepted (and ignored) on non-upload routes
#define SRV_TOPK_MAX 200     // top_k over the API

// One request thread's database handles, borrowed for one request.
typedef struct srv_slot {
    store *st;      // NULL until first use
    search_ctx *sc; // NULL until first search
    int sc_gen;     // srv.answer_gen when sc was opened (reopened when it moves)
    struct srv_slot *next;
} srv_slot;

typedef struct {
    char state[16]; // idle, running, done, failed, cancelled
    char phase[16]; // "" when idle
    long long found, done, total, errors;
    indexer_steps steps;
    char current[256]; // "" none
    double rate, eta, elapsed;
    char started_at[32], finished_at[32];
    char message[512];
    int has_last;
    indexer_stats last;
} srv_build;

struct srv {
    char data[SRV_PATH_MAX];        // absolute data dir
    char images[SRV_PATH_MAX + 32]; // data/images (uploads)
    char thumbs[SRV_PATH_MAX + 32]; // data/thumbnails
    char tmp[SRV_PATH_MAX + 32];    // data/tmp (uploads in flight)
    char **folders;                 // the library folders (absolute), guarded by f_mu: api_folders.c
    int64_t *folder_ids;            // their store ids
    int nfolders;
    pthread_mutex_t f_mu;
    pthread_mutex_t ix_mu; // held around every indexer run and a folder's removal
    int auto_index;        // index uploads without a Build click (srv_opts.auto_index)
    int watch_on;          // watch the folders (srv_opts.watch)
    struct watch *watch;   // NULL: not watching
    indexer_opts wix;      // the watcher's indexer options (data_dir; its runs go through srv__build_run)
    atomic_int b_again;    // an upload arrived during a build: run once more
    int b_auto;            // the running build was started by the server itself (b_mu)
    double b_started_ms;   // mono_ms() when it was claimed (b_mu)
    char *token;
    char bind[64]; // the --host address as given ("" = 127.0.0.1)
    char **hosts;  // extra names accepted in Host (--allow-host), lower case
    int nhosts;
    long long max_upload;
    long long max_request; // bytes of one upload request body
    double deadline_ms;    // a request's whole life, from its request line
    int top_k, thumb_size, threads, quiet;
    int no_ocr, no_captions; // the build's OCR and caption settings (srv_opts)
    char ocr_lang[64];
    double clip_weight;
    double t0; // start, monotonic seconds
    char version[32];

    clip_model *model; // owned; NULL keyword-only
    char model_id[256];
    char missing[512]; // why there is no model, "" with one
    char models_arg[SRV_PATH_MAX];

    // Model switching (api_models.c): the previous model answers vector
    // searches while the active one's vectors are re-embedded in the background.
    clip_model *prev_model; // owned; NULL when the active model answers
    char prev_model_id[256];
    int answer_prev;       // under r_mu: 1 while prev_model answers
    atomic_int answer_gen; // moves when the answering model changes
    pthread_mutex_t r_mu;
    pthread_t r_thread;
    int r_joinable, r_running; // r_running under r_mu
    long long r_done, r_total; // under r_mu
    volatile int r_cancel;

    struct MHD_Daemon *d;
    int port;
    atomic_int inflight;
    atomic_int stopping;

    pthread_mutex_t slot_mu;
    pthread_cond_t slot_cv;
    srv_slot *slots; // all slots (array of threads)
    srv_slot *free_slots;

    pthread_mutex_t lat_mu;
    float lat[SRV_LAT_RING];
    long long lat_count; // total recorded; ring index = count % SRV_LAT_RING

    pthread_mutex_t b_mu;
    srv_build b;
    pthread_t b_thread;
    int b_joinable;
    volatile int b_cancel;

    char (*asset_etag)[68]; // "\"<sha256 prefix>\"" per srv_assets[] entry
};

// Per-request state (MHD's con_cls).
typedef struct srv_upload srv_upload;
typedef struct {
    int route;           // SRV_R_*
    int counted;         // inflight was incremented
    size_t body;         // bytes of body seen (non-upload routes)
    srv_upload *up;      // POST /api/upload only
    double t0;           // ms, monotonic, when the request line arrived
    const char *raw_uri; // the request target as MHD logged it (NUL-check), and its length
    size_t raw_len;
    int started;    // the handler saw the request
    int share;      // POST /share (the PWA's share target): an upload answered with a redirect
    char *body_buf; // the body of a non-upload route (JSON of POST /api/folders), up to SRV_BODY_MAX
    size_t body_len;
} srv_req;

void srv__log(srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Borrow / return a slot; srv__slot_store() opens its store on first use.
srv_slot *srv__slot_get(srv *s);
void srv__slot_put(srv *s, srv_slot *sl);
int srv__slot_store(srv *s, srv_slot *sl);
int srv__disk_full(const srv *s); // 1 when the data dir's file system has no free block
int srv__slot_search(srv *s, srv_slot *sl);

// Route handlers. key is the decoded, validated path tail.
enum MHD_Result srv__search(srv *s, struct MHD_Connection *c, double t0);
enum MHD_Result srv__library(srv *s, struct MHD_Connection *c, double t0);
enum MHD_Result srv__similar(srv *s, struct MHD_Connection *c, const char *key, double t0);
enum MHD_Result srv__file(srv *s, struct MHD_Connection *c, const char *key, int thumb);
enum MHD_Result srv__delete(srv *s, struct MHD_Connection *c, const char *key);
enum MHD_Result srv__build_post(srv *s, struct MHD_Connection *c);
enum MHD_Result srv__build_get(srv *s, struct MHD_Connection *c);
cJSON *srv__build_json(srv *s);
void srv__build_stop(srv *s);
int srv__build_start(srv *s, int is_auto); // a background build: 0, LISA_EBUSY while one runs
int srv__build_claim(srv *s, int is_auto); // marks a build running for the caller's thread: 0 or LISA_EBUSY
int srv__build_run(srv *s, const char *const *paths, int np, int again, indexer_stats *st);

// Folders (api_folders.c). srv__folders_init: at start, puts the --folder
// folders into the store's list and loads it. srv__library_roots: malloc'd
// copies of DATA/images (with_images) and the folders that are there now, to
// srv__roots_free(). srv__roots_filter: the paths still in the library, into
// out (pointers into paths). srv__watch_start/stop: the watcher of the roots.
int srv__folders_init(srv *s);
void srv__folders_free(srv *s);
char **srv__library_roots(srv *s, int with_images, int *n);
void srv__roots_free(char **r, int n);
int srv__roots_filter(srv *s, const char *const *paths, int np, const char **out);
int srv__watch_start(srv *s);
void srv__watch_stop(srv *s);
void srv__watch_kick(srv *s); // a batch soon (no-op without a watcher)
enum MHD_Result srv__folders(srv *s, struct MHD_Connection *c, const char *method, const char *path, const char *body,
                             size_t n);
enum MHD_Result srv__share_answer(srv *s, struct MHD_Connection *c, int saved, int failed);

// After a successful upload: indexes the new files when auto_index is on
// (through the watcher when there is one, else a background build, or one
// more run of the build in flight). Safe from any request thread.
void srv_schedule_index(srv *s);
enum MHD_Result srv__stats(srv *s, struct MHD_Connection *c);
enum MHD_Result srv__failures_get(srv *s, struct MHD_Connection *c);
// body: the request's JSON body (n bytes, may be NULL).
enum MHD_Result srv__failures_retry(srv *s, struct MHD_Connection *c, const char *body, size_t n);
enum MHD_Result srv__health(srv *s, struct MHD_Connection *c);
enum MHD_Result srv__static(srv *s, struct MHD_Connection *c, const char *path);
int srv__assets_init(srv *s);
void srv__lat_record(srv *s, double ms);

// Model switching (api_models.c). start: after the model is loaded, starts
// the background re-embedding when the active model's vectors do not cover
// the library (loading the previous model to answer meanwhile). stop: cancels
// and joins it. free: the previous model. answering: the model (and id)
// vector searches use now. models_json: active_model, reembed and each
// models[] entry's active/answering/coverage in GET /api/stats.
int srv__reembed_start(srv *s);
void srv__reembed_stop(srv *s);
void srv__reembed_free(srv *s);
void srv__answering(srv *s, clip_model **m, const char **id);
void srv__models_json(srv *s, cJSON *o, cJSON *models, const store_stats *st);

// Uploads: the request body is fed through MHD's post processor.
// srv__upload_begin and srv__upload_feed return LISA_ETOOBIG for a body over
// s->max_request (413), another error for a bad request (400).
int srv__upload_begin(srv *s, struct MHD_Connection *c, srv_req *q);
int srv__upload_feed(srv_req *q, const char *data, size_t n);
enum MHD_Result srv__upload_finish(srv *s, struct MHD_Connection *c, srv_req *q);
void srv__upload_free(srv_upload *u);

// strerror(e), except "the disk is full" for ENOSPC and EDQUOT.
const char *srv__errno_text(int e);

// Looks key (an id or a base name, validated) up in the store of sl: *out
// gets the row (caller clears it). Returns 0, LISA_ENOTFOUND, LISA_EINVAL for
// a malformed key, or another error.
int srv__lookup(srv *s, srv_slot *sl, const char *key, store_image *out);

// Request guards (guard.c). srv__host_ok: 1 when the Host header (NULL:
// absent) names this server: localhost, a configured name, the bound address
// or, bound to loopback, any loopback literal; any literal on a wildcard bind.
// srv__same_origin: 1 when a state-changing request may go on: no
// Sec-Fetch-Site or "same-origin"/"none", and no Origin or one whose host:port
// equals the Host header. srv__is_loopback: 1 for NULL, "", localhost,
// 127.0.0.0/8 and ::1.
int srv__host_ok(const srv *s, const char *host);
int srv__same_origin(const srv *s, const char *origin, const char *site, const char *host);
int srv__is_loopback(const char *host);

// Opens the regular file at absolute path read-only, walking every component
// with openat(O_NOFOLLOW): a symlink anywhere fails. The fd (caller closes;
// *st filled), or -1.
int srv__open_nofollow(const char *path, struct stat *st);

// 1 when path lies directly in s->images (an upload).
int srv__is_upload(const srv *s, const char *path);

// The last component of path (borrowed from it).
const char *srv__base_name(const char *path);

// The name the upload at path came with (malloc'd, caller frees), or NULL
// when path is no recorded upload (then its base name is the original one).
// Borrows a slot of its own: call it without holding one.
char *srv__original_name(srv *s, const char *path);

// A Content-Disposition value for name (UTF-8) into buf: attachment or
// inline, with an ASCII filename= fallback and filename*=UTF-8'' (RFC 6266,
// RFC 5987). Truncated to cap.
void srv__content_disposition(const char *name, int attachment, char *buf, size_t cap);

// The JSON result object of image id (docs/api.md "Result object"), as the
// listing builds it; NULL when id is gone.
cJSON *srv__image_obj(srv *s, store *st, int64_t id);

// GET /api/duplicates (api_dupes.c).
enum MHD_Result srv__duplicates(srv *s, struct MHD_Connection *c);

#endif
