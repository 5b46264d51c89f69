// The incremental indexer: walk, classify (size+mtime, then hash), decode on a
// pool pipelined with batched CLIP embedding, commit per batch.
#include "search/indexer.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/pool.h"
#include "base/sha256.h"
#include "clip/clip.h"
#include "image/image.h"
#include "image/meta.h"
#include "image/phash.h"
#include "image/preprocess.h"
#include "ocr/ocr.h"
#include "caption/caption.h"
#include "search/capwords.h"
#include "search/keywords.h"
#include "search/thumbs.h"
#include "store/store.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------- metadata adapter

// What the decode stage extracts besides pixels (src/image/meta.h fills it).
typedef struct {
    char error[LISA_ERRMSG_MAX]; // why decoding failed, "" when it did not
    char date_taken[32];         // EXIF DateTimeOriginal "YYYY-MM-DD HH:MM:SS", "" unknown
    char make[64], model[64];    // EXIF camera
    char lens[64];               // EXIF lens, "" unknown
    int has_gps;                 // lat/lon valid
    double lat, lon;             // GPS degrees when has_gps
    int64_t date_unix;           // STORE_NO_DATE when unknown
    char *words;                 // meta_words(): camera, date words, IPTC/XMP text; malloc'd or NULL
} ix_meta;

static void ix_meta_release(ix_meta *m)
{
    free(m->words);
    m->words = NULL;
}

typedef struct item item;
static void ix_meta_read(item *it);

// ---------------------------------------------------------------- store adapter (declarations)

typedef struct ix_db {
    store *s;
    kw *k;
    int ocr;          // OCR is on for this run
    int cap;          // captioning is on for this run
    int retry_failed; // decode remembered failures again
    const char *model_id;
    int dim;
    char (*roots)[INDEXER_PATH_MAX];
} ix_db;
typedef struct {
    int64_t id, size, mtime_ns;
    char hash[SHA256_HEX_LEN + 1];
    int has_emb; // has a vector for the run's model
    int has_ocr; // ocr_text is not NULL (OCR was run, maybe finding nothing)
    int has_cap; // caption is not NULL (captioned, maybe with an empty caption)
} db_rec;
typedef struct {
    int64_t id;
    char path[INDEXER_PATH_MAX];
    int has_emb;
} db_src;

static int db_open(const char *data_dir, const char *model_id, int dim, ix_db **out);
static void db_close(ix_db *db);
static int db_by_path(ix_db *db, const char *path, const char *model_id, db_rec *r);
static int db_by_id(ix_db *db, int64_t id, const char *model_id, db_rec *r);
static int db_by_hash(ix_db *db, const char *hash, const char *model_id, db_src *out, int max);
static int db_begin(ix_db *db);
static int db_commit(ix_db *db);
static void db_rollback(ix_db *db);
static int db_touch(ix_db *db, const item *it);
static int db_move(ix_db *db, const item *it);
static int db_copy(ix_db *db, const item *it);
static int db_put(ix_db *db, const item *it, const char *model_id, const float *v, int dim);
static int db_remove_unseen(ix_db *db, const char *root, char **seen, size_t nseen, long long *removed);
static int db_finish(ix_db *db, const indexer_stats *st);
// ---------------------------------------------------------------- walk

typedef enum {
    IT_UNCHANGED, // size+mtime match, nothing to do
    IT_HASH,      // needs sniff + hash
    IT_NONIMAGE,
    IT_FAILED,
    IT_FAILED_BEFORE, // a remembered decode failure, unchanged since
    IT_TOUCH,         // same path, same hash
    IT_MOVE,          // re-point src_id to this path
    IT_COPY,          // new record, embedding copied from src_id
    IT_PROCESS,       // decode, thumbnail, keywords, embed
} item_state;

struct item {
    char *path;
    int64_t size, mtime_ns;
    int64_t id;     // stored record for this path, 0 none
    int64_t src_id; // IT_MOVE / IT_COPY source
    int changed;    // IT_PROCESS over an existing record
    int embed_only; // unchanged content: only the embedding and/or OCR is missing
    int skip_emb;   // embed_only with the vector already stored
    int need_ocr;   // run the text test (and OCR) on this item
    int need_cap;   // caption this item
    int cancelled;  // not decoded: the run was cancelled first (neither stored nor a failure)
    int root;       // index into the run's roots
    item_state st;
    char hash[SHA256_HEX_LEN + 1];
    // filled by the decode stage
    int ok, w, h, orientation;
    int has_phash; // phash: the perceptual hash of the decoded image (image/phash.h)
    uint64_t phash;
    float *pixels; // CHW tensor for CLIP, NULL without a model
    ix_meta meta;
    // filled by the OCR step (ocr_done: ocr_text is the result, "" no text)
    int ocr_done, ocr_likely;
    char *ocr_text;
    double ocr_conf, ocr_test_ms, ocr_ms;
    // filled by the caption step (cap_done: caption is the result)
    int cap_done;
    char *caption;
    double cap_ms;
};

typedef struct {
    item *v;
    size_t n, cap;
} item_list;

static __thread item_list *walk_out;
static __thread const char *walk_skip; // the data dir (never index thumbnails)
static __thread int walk_root_idx;
static __thread void (*walk_found)(void *pg, const char *path); // progress_found
static __thread void *walk_pg;

static int push_item(item_list *l, const char *path, const struct stat *sb)
{
    if (l->n >= INDEXER_FILES_MAX) return lisa_seterr(LISA_ETOOBIG, "more than %d files", INDEXER_FILES_MAX);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        item *v = realloc(l->v, cap * sizeof *v);
        if (!v) return lisa_seterr(LISA_ENOMEM, "file list (%zu entries)", cap);
        l->v = v, l->cap = cap;
    }
    item *it = &l->v[l->n];
    memset(it, 0, sizeof *it);
    if (!(it->path = strdup(path))) return lisa_seterr(LISA_ENOMEM, "file list");
    it->root = walk_root_idx;
    it->size = sb->st_size;
    it->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    l->n++;
    return 0;
}

static int walk_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    if (type == FTW_D) {
        if (ftw->level > 0 && base[0] == '.') return FTW_SKIP_SUBTREE; // hidden folders
        if (walk_skip && !strcmp(path, walk_skip)) return FTW_SKIP_SUBTREE;
        return FTW_CONTINUE;
    }
    if (type != FTW_F || !S_ISREG(sb->st_mode) || base[0] == '.') return FTW_CONTINUE;
    if (push_item(walk_out, path, sb) < 0) return FTW_STOP;
    if (walk_found) walk_found(walk_pg, path);
    return FTW_CONTINUE;
}

// Absolute, symlink-free form of p into out.
static int abs_path(const char *p, char *out)
{
    if (!realpath(p, out)) return lisa_seterr(LISA_ENOTFOUND, "%s: %s", p, strerror(errno));
    return 0;
}

static int walk_root(const char *root, int idx, const char *skip, item_list *l)
{
    walk_root_idx = idx;
    walk_out = l;
    walk_skip = skip;
    int rc = nftw(root, walk_fn, 32, FTW_PHYS | FTW_ACTIONRETVAL);
    walk_out = NULL;
    if (rc == FTW_STOP) return -1;
    if (rc != 0) return lisa_seterr(LISA_EIO, "%s: cannot walk: %s", root, strerror(errno));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void items_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].pixels);
        free(l->v[i].ocr_text);
        free(l->v[i].caption);
        ix_meta_release(&l->v[i].meta);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

// ---------------------------------------------------------------- progress

// Every update takes mu, so on_progress sees one call at a time and done
// counts up by one per file whichever pool thread finished it.
typedef struct {
    const indexer_opts *o;
    FILE *f;
    int tty;
    double t0, last;
    long long last_done;
    pthread_mutex_t mu;
    char current[256];
    indexer_progress p;
} progress;

static void fmt_dur(double s, char *buf, size_t cap)
{
    if (s < 0)
        snprintf(buf, cap, "--");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

// The scan's line: files found so far.
static void draw_scan(progress *pg, int final)
{
    if (pg->tty)
        fprintf(pg->f, "\rscanning: %lld files found%s", pg->p.found, final ? "\n" : "");
    else
        fprintf(pg->f, "scan: %lld files found\n", pg->p.found);
}

// The bar (TTY) or a line: done/total, steps, rate, ETA.
static void draw_bar(progress *pg, int final)
{
    const indexer_progress *p = &pg->p;
    char eta[32];
    fmt_dur(p->eta, eta, sizeof eta);
    if (!pg->tty) {
        fprintf(pg->f, "%s: %lld/%lld files, %.1f files/s, ETA %s\n", p->phase, p->done, p->total, p->rate, eta);
        return;
    }
    int width = 24, fill = (int)(width * (double)p->done / p->total);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = 0;
    fprintf(pg->f, "\r%-5s [%s] %lld/%lld", p->phase, bar, p->done, p->total);
    if (!strcmp(p->phase, "index"))
        fprintf(pg->f, " (ocr %lld, caption %lld, embed %lld)", p->steps.ocr, p->steps.caption, p->steps.embed);
    fprintf(pg->f, " %.1f/s ETA %-7s\033[K", p->rate, eta);
    if (final) fputc('\n', pg->f);
}

// Called with mu held: fills the rate and ETA, calls on_progress, draws.
static void progress_draw(progress *pg, int final)
{
    indexer_progress *p = &pg->p;
    double t = mono_s();
    p->elapsed = t - pg->t0;
    p->rate = p->elapsed > 0 ? p->done / p->elapsed : 0;
    p->eta = p->rate > 0 ? (p->total - p->done) / p->rate : -1;
    p->current = pg->current[0] ? pg->current : NULL;
    if (pg->o->on_progress) pg->o->on_progress(pg->o->ud, p);
    int scan = !strcmp(p->phase, "scan");
    if (!pg->o->progress || (scan ? !p->found : !p->total)) return;
    if (!final && t - pg->last < (pg->tty ? 0.1 : 2.0)) return;
    long long mark = scan ? p->found : p->done;
    if (final && !pg->tty && pg->last_done == mark) return; // already printed
    pg->last = t;
    pg->last_done = mark;
    if (scan)
        draw_scan(pg, final);
    else
        draw_bar(pg, final);
    fflush(pg->f);
}

static void progress_set_current(progress *pg, const char *path)
{
    const char *b = path ? strrchr(path, '/') : NULL;
    snprintf(pg->current, sizeof pg->current, "%s", b ? b + 1 : path ? path : "");
}

// Starts phase: done goes back to 0 over total (< 0: keep done and total).
static void progress_phase(progress *pg, const char *phase, long long total)
{
    pthread_mutex_lock(&pg->mu);
    if (pg->p.phase && !strcmp(pg->p.phase, "scan")) progress_draw(pg, 1); // the scan's last count
    pg->p.phase = phase;
    if (total >= 0) pg->p.done = 0, pg->p.total = total, pg->t0 = mono_s(), pg->last_done = -1;
    pg->current[0] = 0;
    progress_draw(pg, 0);
    pthread_mutex_unlock(&pg->mu);
}

// One file through the current phase; step counts and a failure with it.
static void progress_file(progress *pg, const char *path, const indexer_steps *d, int failed)
{
    pthread_mutex_lock(&pg->mu);
    pg->p.done++;
    pg->p.errors += failed;
    if (d)
        pg->p.steps.decode += d->decode, pg->p.steps.ocr += d->ocr, pg->p.steps.caption += d->caption,
            pg->p.steps.embed += d->embed;
    progress_set_current(pg, path);
    progress_draw(pg, 0);
    pthread_mutex_unlock(&pg->mu);
}

// A file found by the walk (phase "scan").
static void progress_found(progress *pg, const char *path)
{
    pthread_mutex_lock(&pg->mu);
    pg->p.found++;
    progress_set_current(pg, path);
    progress_draw(pg, 0);
    pthread_mutex_unlock(&pg->mu);
}

// n files embedded (a batch), or a failure found outside the decode stage.
static void progress_add(progress *pg, long long embedded, long long errors)
{
    pthread_mutex_lock(&pg->mu);
    pg->p.steps.embed += embedded, pg->p.errors += errors;
    progress_draw(pg, 0);
    pthread_mutex_unlock(&pg->mu);
}

static void progress_final(progress *pg)
{
    pthread_mutex_lock(&pg->mu);
    progress_draw(pg, 1);
    pthread_mutex_unlock(&pg->mu);
}

// ---------------------------------------------------------------- hash stage

struct hash_ctx {
    item **todo;
    progress *pg;
};

static void hash_item(item *it)
{
    uint8_t head[32];
    FILE *f = fopen(it->path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (!f) {
        it->st = IT_FAILED;
        return;
    }
    if (img_sniff(head, n) == IMG_UNKNOWN) {
        it->st = IT_NONIMAGE;
        return;
    }
    uint64_t size;
    if (sha256_file(it->path, it->hash, &size) < 0)
        it->st = IT_FAILED;
    else
        it->size = (int64_t)size;
}

static void hash_task(void *ctx, int i, int tid)
{
    (void)tid;
    struct hash_ctx *c = ctx;
    hash_item(c->todo[i]);
    progress_file(c->pg, c->todo[i]->path, NULL, 0);
}
// ---------------------------------------------------------------- decode stage

// Stored (pre-orientation) size from a JPEG's SOF marker; 0 when not found.
static int jpeg_dims(const uint8_t *d, size_t n, int *w, int *h)
{
    size_t i = 2;
    while (i + 9 < n) {
        if (d[i] != 0xFF) return 0;
        uint8_t m = d[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            *h = d[i + 5] << 8 | d[i + 6];
            *w = d[i + 7] << 8 | d[i + 8];
            return 1;
        }
        i += 2 + len;
    }
    return 0;
}

struct decode_ctx {
    item **batch;
    const prep_cfg *prep; // NULL: no model
    int thumb_size;
    const char *thumb_dir;
    ocr_engine **ocr; // one per pool thread (tid), created on first use; NULL: no OCR
    const ocr_opts *ocr_o;
    cap_model *cap; // NULL: no captions
    const cap_opts *cap_o;
    progress *pg;
    volatile int *cancel; // set: the files not started yet are left for the next run
};

// The text test on the decoded image, then OCR on a copy decoded up to
// OCR_MAX_SIDE when the first decode was scaled down below it. The result
// goes to the item; an engine that cannot be created leaves it undone
// (ocr_text NULL: the next run tries again).
static void ocr_item(const struct decode_ctx *c, item *it, const img_t *im, int tid)
{
    ocr_test_info ti;
    int likely = ocr_text_likely(im, &ti);
    it->ocr_test_ms = ti.ms;
    if (likely < 0) return;
    it->ocr_likely = likely;
    if (!likely) {
        it->ocr_text = strdup("");
        it->ocr_done = it->ocr_text != NULL;
        return;
    }
    if (!c->ocr[tid] && ocr_new(c->ocr_o, &c->ocr[tid]) < 0) return;
    img_t big = {0};
    int have = im->w > im->h ? im->w : im->h, full = it->w > it->h ? it->w : it->h;
    if (have < OCR_MAX_SIDE && full > have) {
        img_opts o;
        img_opts_init(&o);
        o.min_long = OCR_MAX_SIDE;
        if (img_load(it->path, &o, &big, NULL) < 0) memset(&big, 0, sizeof big);
    }
    ocr_result r;
    if (ocr_run(c->ocr[tid], big.px ? &big : im, &r) == 0) {
        it->ocr_text = r.text, r.text = NULL;
        it->ocr_conf = r.conf, it->ocr_ms = r.ms, it->ocr_done = 1;
    }
    img_release(&big);
}

// The caption of the decoded image (calls serialize on the model's lock; it
// runs its own pool). One image a vision pass: four in one pass measured
// ~10% slower an image (docs/precision.md). A failure leaves caption NULL: the next run tries again.
static void caption_item(const struct decode_ctx *c, item *it, const img_t *im)
{
    cap_opts dflt;
    cap_opts_default(&dflt);
    double t0 = mono_s();
    if (cap_caption(c->cap, im, NULL, c->cap_o ? c->cap_o : &dflt, NULL, 0, NULL, &it->caption) == 0)
        it->cap_done = 1, it->cap_ms = (mono_s() - t0) * 1e3;
}

static void write_thumb(const img_t *im, const struct decode_ctx *c, const item *it)
{
    char path[INDEXER_PATH_MAX + 128], tmp[INDEXER_PATH_MAX + 160];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s.jpg", c->thumb_dir, it->hash);
    if (stat(path, &sb) == 0) return; // same content, same thumbnail
    img_t th;
    if (img_thumbnail(im, c->thumb_size, &th) < 0) return;
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)gettid());
    if (img_write_jpeg(&th, IMG_THUMB_QUALITY, tmp) == 0)
        rename(tmp, path);
    else
        unlink(tmp);
    img_release(&th);
}

static void decode_item(const struct decode_ctx *c, item *it, int tid)
{
    img_opts o;
    img_opts_init(&o);
    o.min_long = c->thumb_size;
    if (c->prep) o.min_side = c->prep->shortest_edge ? c->prep->shortest_edge : c->prep->crop_h;
    if (c->ocr && it->need_ocr && o.min_long < OCR_TEST_SIDE) o.min_long = OCR_TEST_SIDE;
    if (c->cap && it->need_cap && o.min_side < cap_cfg(c->cap)->image_size) o.min_side = cap_cfg(c->cap)->image_size;
    img_t im;
    int rc = img_load(it->path, &o, &im, &it->orientation);
    if (rc < 0) {
        snprintf(it->meta.error, sizeof it->meta.error, "%s", lisa_errmsg_for(rc));
        return;
    }
    it->w = im.w, it->h = im.h;
    it->has_phash = img_phash(&im, &it->phash) == 0; // for the duplicate finder (search/dupes.h)
    uint8_t head[65536];
    FILE *f = fopen(it->path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    int sw, sh;
    if (img_sniff(head, n) == IMG_JPEG && jpeg_dims(head, n, &sw, &sh)) {
        int swap = it->orientation >= 5 && it->orientation <= 8;
        it->w = swap ? sh : sw, it->h = swap ? sw : sh;
    }
    write_thumb(&im, c, it);
    if (c->ocr && it->need_ocr) ocr_item(c, it, &im, tid);
    if (c->cap && it->need_cap) caption_item(c, it, &im);
    if (c->prep && !it->skip_emb) {
        size_t np = (size_t)3 * c->prep->crop_h * c->prep->crop_w;
        it->pixels = malloc(np * sizeof *it->pixels);
        if (!it->pixels || prep_image(&im, c->prep, it->pixels) < 0) {
            snprintf(it->meta.error, sizeof it->meta.error, "%s: preprocessing failed", it->path);
            free(it->pixels), it->pixels = NULL;
            img_release(&im);
            return;
        }
    }
    img_release(&im);
    ix_meta_read(it);
    it->ok = 1;
}

// Decodes one file and reports it: the steps it went through, or its failure.
static void decode_task(void *ctx, int i, int tid)
{
    const struct decode_ctx *c = ctx;
    item *it = c->batch[i];
    if (c->cancel && *c->cancel) {
        it->cancelled = 1;
        return;
    }
    decode_item(c, it, tid);
    indexer_steps d = {.decode = it->w > 0, .ocr = it->ocr_done, .caption = it->cap_done};
    progress_file(c->pg, it->path, &d, !it->ok);
}
// ---------------------------------------------------------------- pipeline

// A producer thread decodes batch i+1 on the pool while the caller embeds and
// commits batch i: at most one batch is decoded ahead.
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item **todo;
    size_t n, bsz, decoded, consumed;
    int stop;
    pool *p;
    struct decode_ctx dc;
} pipe_t;

static void *producer(void *arg)
{
    pipe_t *pp = arg;
    for (size_t start = 0; start < pp->n; start += pp->bsz) {
        pthread_mutex_lock(&pp->mu);
        while (!pp->stop && start > pp->consumed + pp->bsz) pthread_cond_wait(&pp->cv, &pp->mu);
        int stop = pp->stop;
        pthread_mutex_unlock(&pp->mu);
        if (stop) break;
        size_t m = pp->n - start < pp->bsz ? pp->n - start : pp->bsz;
        struct decode_ctx dc = pp->dc;
        dc.batch = pp->todo + start;
        pool_for(pp->p, (int)m, decode_task, &dc);
        pthread_mutex_lock(&pp->mu);
        pp->decoded = start + m;
        pthread_cond_broadcast(&pp->cv);
        pthread_mutex_unlock(&pp->mu);
    }
    return NULL;
}

static void pipe_wait(pipe_t *pp, size_t upto)
{
    pthread_mutex_lock(&pp->mu);
    while (pp->decoded < upto) pthread_cond_wait(&pp->cv, &pp->mu);
    pthread_mutex_unlock(&pp->mu);
}

static void pipe_done(pipe_t *pp, size_t upto, int stop)
{
    pthread_mutex_lock(&pp->mu);
    pp->consumed = upto;
    pp->stop |= stop;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
}
// ---------------------------------------------------------------- classify

static int cmp_item_path(const void *a, const void *b)
{
    return strcmp(((const item *)a)->path, ((const item *)b)->path);
}

// 1 when it is a remembered decode failure with the same size and mtime.
static int failed_before(ix_db *db, const item *it)
{
    int64_t size, mtime;
    if (db->retry_failed) return 0;
    int rc = store_failure_get(db->s, it->path, &size, &mtime);
    return rc <= 0 ? rc : size == it->size && mtime == it->mtime_ns;
}

// Pass 1, by path: unchanged files are settled without reading them.
static int classify_by_path(ix_db *db, item_list *l, const char *model_id)
{
    for (size_t i = 0; i < l->n; i++) {
        item *it = &l->v[i];
        db_rec r;
        int rc = db_by_path(db, it->path, model_id, &r);
        if (rc < 0) return rc;
        it->st = IT_HASH;
        if (!rc) {
            if ((rc = failed_before(db, it)) < 0) return rc;
            if (rc) it->st = IT_FAILED_BEFORE;
            continue;
        }
        it->id = r.id;
        memcpy(it->hash, r.hash, sizeof it->hash);
        if (r.size == it->size && r.mtime_ns == it->mtime_ns) {
            int emb_ok = !model_id || r.has_emb, ocr_ok = !db->ocr || r.has_ocr, cap_ok = !db->cap || r.has_cap;
            if (emb_ok && ocr_ok && cap_ok)
                it->st = IT_UNCHANGED;
            else
                it->st = IT_PROCESS, it->embed_only = 1, it->skip_emb = emb_ok, it->need_ocr = !ocr_ok,
                it->need_cap = !cap_ok;
        }
    }
    return 0;
}

static int path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

// Pass 2, by content hash: touched, moved, copied, or really new/changed.
static int classify_by_hash(ix_db *db, item *it, const char *model_id, int64_t *claimed, size_t *nclaimed)
{
    db_rec r;
    if (it->id && db_by_id(db, it->id, model_id, &r) > 0 && !strcmp(r.hash, it->hash)) {
        int emb_ok = !model_id || r.has_emb, ocr_ok = !db->ocr || r.has_ocr, cap_ok = !db->cap || r.has_cap;
        it->st = emb_ok && ocr_ok && cap_ok ? IT_TOUCH : IT_PROCESS;
        it->embed_only = it->st == IT_PROCESS, it->skip_emb = emb_ok, it->need_ocr = !ocr_ok, it->need_cap = !cap_ok;
        return 0;
    }
    it->changed = it->id != 0;
    it->st = IT_PROCESS;
    it->need_ocr = db->ocr, it->need_cap = db->cap;
    if (it->id) return 0; // the path's content changed: re-process in place
    db_src srcs[8];
    int n = db_by_hash(db, it->hash, model_id, srcs, 8);
    if (n < 0) return n;
    for (int k = 0; k < n; k++) { // a source whose file is gone: a move
        int taken = 0;
        for (size_t c = 0; c < *nclaimed; c++) taken |= claimed[c] == srcs[k].id;
        if (taken || path_exists(srcs[k].path)) continue;
        if (model_id && !srcs[k].has_emb) continue;
        it->st = IT_MOVE, it->src_id = srcs[k].id;
        claimed[(*nclaimed)++] = srcs[k].id;
        return 0;
    }
    for (int k = 0; k < n; k++)
        if (!model_id || srcs[k].has_emb) {
            it->st = IT_COPY, it->src_id = srcs[k].id;
            return 0;
        }
    return 0;
}

// ---------------------------------------------------------------- run

typedef struct {
    const indexer_opts *o;
    ix_db *db;
    pool *p;
    indexer_stats *st;
    progress pg;
    FILE *out;
    const char *model_id;
    int dim;
    ocr_engine **ocr; // one per pool thread; NULL: OCR off
    ocr_opts ocr_o;
} run_t;

static void warn(run_t *r, const char *fmt, const char *a, const char *b)
{
    if (r->pg.tty && r->o->progress) fputc('\n', r->out);
    fprintf(r->out, fmt, a, b);
    fputc('\n', r->out);
}

static int apply_cheap(run_t *r, item_list *l)
{
    int rc = db_begin(r->db);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        item *it = &l->v[i];
        if (it->st == IT_TOUCH)
            rc = db_touch(r->db, it), r->st->touched++;
        else if (it->st == IT_MOVE)
            rc = db_move(r->db, it), r->st->moved++;
        else if (it->st == IT_COPY)
            rc = db_copy(r->db, it), r->st->copied++;
        else if (it->st == IT_NONIMAGE)
            r->st->nonimage++;
        else if (it->st == IT_UNCHANGED)
            r->st->unchanged++;
        else if (it->st == IT_FAILED)
            warn(r, "lisa: %s: unreadable%s", it->path, ""), r->st->failed++, progress_add(&r->pg, 0, 1);
        else if (it->st == IT_FAILED_BEFORE)
            r->st->failed_before++;
    }
    return rc == 0 ? db_commit(r->db) : (db_rollback(r->db), rc);
}

static void ocr_stats(run_t *r, const item *it)
{
    if (!r->ocr || !it->need_ocr || !it->ocr_done) return;
    r->st->ocr_tested++, r->st->ocr_test_ms += it->ocr_test_ms;
    if (!it->ocr_likely) {
        r->st->ocr_skipped++;
        return;
    }
    r->st->ocr_recognised++, r->st->ocr_ms += it->ocr_ms;
    r->st->ocr_with_text += it->ocr_text[0] != 0;
}

// Embeds the decoded items of one batch and commits them in one transaction.
static int commit_batch(run_t *r, item **b, size_t m, float *px, float *emb, size_t npx)
{
    size_t ne = 0;
    for (size_t i = 0; i < m; i++)
        if (b[i]->ok && b[i]->pixels) memcpy(px + ne++ * npx, b[i]->pixels, npx * sizeof *px);
    if (ne && clip_embed_images(r->o->model, px, (int)ne, emb) < 0) return -1;
    r->st->embedded += (long long)ne;
    if (ne) progress_add(&r->pg, (long long)ne, 0);
    int rc = db_begin(r->db);
    for (size_t i = 0, e = 0; rc == 0 && i < m; i++) {
        item *it = b[i];
        if (it->cancelled) continue; // the next run does it
        if (!it->ok) {
            warn(r, "lisa: skipped %s%s", it->meta.error[0] ? it->meta.error : it->path, "");
            r->st->failed++;
            rc = store_failure_put(r->db->s, it->path, it->size, it->mtime_ns, it->meta.error);
            continue;
        }
        const float *v = it->pixels ? emb + e++ * (size_t)r->dim : NULL;
        ocr_stats(r, it);
        if (it->cap_done) r->st->captioned++, r->st->caption_ms += it->cap_ms;
        rc = db_put(r->db, it, r->model_id, v, r->dim);
        if (it->changed)
            r->st->changed++;
        else if (!it->embed_only)
            r->st->added++;
        free(it->pixels), it->pixels = NULL;
    }
    return rc == 0 ? db_commit(r->db) : (db_rollback(r->db), rc);
}

static int process(run_t *r, item_list *l)
{
    size_t n = 0, bsz = (size_t)(r->o->batch > 0 ? r->o->batch : INDEXER_BATCH_DEFAULT);
    for (size_t i = 0; i < l->n; i++) n += l->v[i].st == IT_PROCESS;
    if (!n) return 0;
    item **todo = malloc(n * sizeof *todo);
    if (!todo) return lisa_seterr(LISA_ENOMEM, "index queue");
    for (size_t i = 0, k = 0; i < l->n; i++)
        if (l->v[i].st == IT_PROCESS) todo[k++] = &l->v[i];
    const prep_cfg *pc = r->o->model ? clip_prep(r->o->model) : NULL;
    size_t npx = pc ? (size_t)3 * pc->crop_h * pc->crop_w : 0;
    float *px = pc ? malloc(bsz * npx * sizeof *px) : NULL;
    float *emb = pc ? malloc(bsz * (size_t)r->dim * sizeof *emb) : NULL;
    char thumbs[INDEXER_PATH_MAX + 16];
    snprintf(thumbs, sizeof thumbs, "%s/thumbnails", r->o->data_dir);
    mkdir(thumbs, 0755);
    pipe_t pp = {.todo = todo, .n = n, .bsz = bsz, .p = r->p};
    pp.dc = (struct decode_ctx){NULL,
                                pc,
                                r->o->thumb_size > 0 ? r->o->thumb_size : 320,
                                thumbs,
                                r->ocr,
                                &r->ocr_o,
                                r->o->captioner,
                                r->o->caption_opts,
                                &r->pg,
                                r->o->cancel};
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    int rc = (pc && (!px || !emb)) ? lisa_seterr(LISA_ENOMEM, "embedding batch buffers") : 0;
    if (rc == 0 && pthread_create(&pp.th, NULL, producer, &pp) != 0)
        rc = lisa_seterr(LISA_ENOMEM, "decode thread");
    else if (rc == 0) {
        progress_phase(&r->pg, "index", (long long)n);
        for (size_t start = 0; start < n && rc == 0; start += bsz) {
            size_t m = n - start < bsz ? n - start : bsz;
            pipe_wait(&pp, start + m);
            rc = commit_batch(r, todo + start, m, px, emb, npx);
            int stop = rc < 0 || (r->o->cancel && *r->o->cancel);
            pipe_done(&pp, start + m, stop);
            if (stop) break;
        }
        pipe_done(&pp, n, 1);
        pthread_join(pp.th, NULL);
        progress_final(&r->pg);
    }
    pthread_cond_destroy(&pp.cv);
    pthread_mutex_destroy(&pp.mu);
    free(emb), free(px), free(todo);
    return rc;
}

// ---------------------------------------------------------------- indexer_run

void indexer_opts_init(indexer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = INDEXER_BATCH_DEFAULT;
    o->thumb_size = IMG_THUMB_DEFAULT;
    o->progress = 1;
}

static int hash_pending(run_t *r, item_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += l->v[i].st == IT_HASH;
    if (!n) return 0;
    item **todo = malloc(n * sizeof *todo);
    if (!todo) return lisa_seterr(LISA_ENOMEM, "hash queue");
    for (size_t i = 0, k = 0; i < l->n; i++)
        if (l->v[i].st == IT_HASH) todo[k++] = &l->v[i];
    progress_phase(&r->pg, "hash", (long long)n);
    struct hash_ctx c = {todo, &r->pg};
    pool_for(r->p, (int)n, hash_task, &c);
    progress_final(&r->pg);
    int64_t *claimed = malloc(n * sizeof *claimed);
    size_t nclaimed = 0;
    int rc = claimed ? 0 : lisa_seterr(LISA_ENOMEM, "hash queue");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (todo[i]->st == IT_HASH) rc = classify_by_hash(r->db, todo[i], r->model_id, claimed, &nclaimed);
    free(claimed);
    free(todo);
    return rc;
}

// Removes stored images under each root whose file was not seen as an image.
static int remove_unseen(run_t *r, item_list *l, char roots[][INDEXER_PATH_MAX], int nroots)
{
    char **seen = malloc((l->n ? l->n : 1) * sizeof *seen);
    if (!seen) return lisa_seterr(LISA_ENOMEM, "seen list");
    size_t ns = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].st != IT_NONIMAGE) seen[ns++] = l->v[i].path;
    qsort(seen, ns, sizeof *seen, cmp_str);
    int rc = db_begin(r->db);
    for (int k = 0; rc == 0 && k < nroots; k++) rc = db_remove_unseen(r->db, roots[k], seen, ns, &r->st->removed);
    rc = rc == 0 ? db_commit(r->db) : (db_rollback(r->db), rc);
    free(seen);
    return rc;
}

static int walk_all(const char *const *paths, int npaths, const char *data_abs, char roots[][INDEXER_PATH_MAX],
                    item_list *l)
{
    for (int k = 0; k < npaths; k++) {
        int rc = abs_path(paths[k], roots[k]);
        if (rc == 0) rc = walk_root(roots[k], k, data_abs, l);
        if (rc < 0) return rc;
    }
    if (l->n) qsort(l->v, l->n, sizeof *l->v, cmp_item_path);
    size_t w = 0; // the same file under two roots counts once
    for (size_t i = 0; i < l->n; i++) {
        if (w && !strcmp(l->v[w - 1].path, l->v[i].path)) {
            free(l->v[i].path);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
    return 0;
}

static void found_cb(void *pg, const char *path)
{
    progress_found(pg, path);
}

static int run_phases(run_t *r, const char *const *paths, int npaths, char roots[][INDEXER_PATH_MAX], item_list *l)
{
    char data_abs[INDEXER_PATH_MAX], thumbs[INDEXER_PATH_MAX + 16];
    if (!realpath(r->o->data_dir, data_abs)) snprintf(data_abs, sizeof data_abs, "%s", r->o->data_dir);
    snprintf(thumbs, sizeof thumbs, "%s/thumbnails", r->o->data_dir);
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    thumbs_sweep_tmp(thumbs, THUMBS_TMP_AGE_S); // leftovers of a killed run
    progress_phase(&r->pg, "scan", 0);
    walk_found = found_cb, walk_pg = &r->pg;
    int rc = walk_all(paths, npaths, data_abs, roots, l);
    walk_found = NULL, walk_pg = NULL;
    r->st->files = (long long)l->n;
    if (rc == 0) rc = classify_by_path(r->db, l, r->model_id);
    if (rc == 0) rc = hash_pending(r, l);
    if (rc == 0) rc = apply_cheap(r, l);
    if (rc == 0) rc = process(r, l);
    int cancelled = r->o->cancel && *r->o->cancel;
    if (rc == 0 && !cancelled) progress_phase(&r->pg, "cleanup", -1);
    if (rc == 0 && !cancelled) rc = remove_unseen(r, l, roots, npaths);
    if (rc == 0 && !cancelled) { // thumbnails of images gone or changed; those made by this run stay
        int n = thumbs_sweep_orphans(r->db->s, thumbs, (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec);
        if (n < 0) rc = n;
    }
    return rc;
}

// One engine slot per pool thread; engine 0 is created now, so a language
// without traineddata fails the run at once instead of image by image.
static int ocr_open(run_t *r)
{
    ocr_opts_init(&r->ocr_o);
    if (r->o->ocr_lang && *r->o->ocr_lang) r->ocr_o.lang = r->o->ocr_lang;
    r->ocr = calloc((size_t)pool_size(r->p), sizeof *r->ocr);
    if (!r->ocr) return lisa_seterr(LISA_ENOMEM, "ocr engines");
    r->db->ocr = 1;
    return ocr_new(&r->ocr_o, &r->ocr[0]);
}

int indexer_run(const char *const *paths, int npaths, const indexer_opts *o, indexer_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!o->data_dir || npaths <= 0) return lisa_seterr(LISA_EINVAL, "indexer: no data dir or no paths");
    if (o->model && !o->model_id) return lisa_seterr(LISA_EINVAL, "indexer: a model needs a model id");
    run_t r = {.o = o, .st = st, .out = o->out ? o->out : stderr};
    r.model_id = o->model ? o->model_id : NULL;
    r.dim = o->model ? clip_dim(o->model) : 0;
    r.pg = (progress){.o = o, .f = r.out, .tty = o->progress == 1 && isatty(fileno(r.out))};
    pthread_mutex_init(&r.pg.mu, NULL);
    double t0 = mono_s();
    char(*roots)[INDEXER_PATH_MAX] = calloc((size_t)npaths, sizeof *roots);
    item_list l = {0};
    int rc = roots ? pool_new(o->threads, &r.p) : lisa_seterr(LISA_ENOMEM, "roots");
    if (rc == 0) rc = db_open(o->data_dir, r.model_id, r.dim, &r.db);
    if (rc == 0) r.db->roots = roots;
    if (rc == 0) r.db->retry_failed = o->retry_failed;
    if (rc == 0 && !o->no_ocr) rc = ocr_open(&r);
    if (rc == 0 && o->captioner) r.db->cap = 1;
    if (rc == 0) rc = run_phases(&r, paths, npaths, roots, &l);
    st->seconds = mono_s() - t0;
    if (rc == 0) rc = db_finish(r.db, st);
    db_close(r.db);
    for (int i = 0; r.ocr && i < pool_size(r.p); i++) ocr_free(r.ocr[i]);
    free(r.ocr);
    pool_free(r.p);
    items_free(&l);
    free(roots);
    pthread_mutex_destroy(&r.pg.mu);
    return rc;
}

// ---------------------------------------------------------------- metadata adapter

// EXIF/IPTC/XMP through image/meta.h (thread-safe: it serialises itself).
// A file whose metadata Exiv2 rejects is still indexed, without those fields.
static void ix_meta_read(item *it)
{
    meta_info mi = {0};
    it->meta.date_unix = STORE_NO_DATE;
    if (meta_read(it->path, &mi) == 0) {
        snprintf(it->meta.date_taken, sizeof it->meta.date_taken, "%s", mi.date_taken);
        snprintf(it->meta.make, sizeof it->meta.make, "%s", mi.make);
        snprintf(it->meta.model, sizeof it->meta.model, "%s", mi.model);
        snprintf(it->meta.lens, sizeof it->meta.lens, "%s", mi.lens);
        it->meta.has_gps = mi.has_gps, it->meta.lat = mi.lat, it->meta.lon = mi.lon;
        it->meta.date_unix = mi.date_unix;
        if (meta_words(&mi, &it->meta.words) == 0 && it->meta.words && !it->meta.words[0])
            free(it->meta.words), it->meta.words = NULL;
    }
    meta_clear(&mi);
}

// ---------------------------------------------------------------- store adapter

static int db_open(const char *data_dir, const char *model_id, int dim, ix_db **out)
{
    char path[INDEXER_PATH_MAX + 16];
    *out = NULL;
    mkdir(data_dir, 0755);
    snprintf(path, sizeof path, "%s/lisa.db", data_dir);
    ix_db *db = calloc(1, sizeof *db);
    if (!db) return lisa_seterr(LISA_ENOMEM, "store handle");
    db->model_id = model_id, db->dim = dim;
    int rc = store_open(path, STORE_CREATE, &db->s);
    if (rc == 0) rc = kw_new(&db->k);
    if (rc < 0) {
        store_close(db->s);
        free(db);
        return rc;
    }
    *out = db;
    return 0;
}

static void db_close(ix_db *db)
{
    if (!db) return;
    kw_free(db->k);
    store_close(db->s);
    free(db);
}

static int db_has_emb(ix_db *db, int64_t id)
{
    return db->model_id ? store_embedding_has(db->s, id, db->model_id, db->dim) == 1 : 0;
}

static void rec_from(ix_db *db, const store_image *im, db_rec *r)
{
    r->id = im->id, r->size = im->size, r->mtime_ns = im->mtime_ns;
    snprintf(r->hash, sizeof r->hash, "%s", im->hash ? im->hash : "");
    r->has_emb = db_has_emb(db, im->id);
    r->has_ocr = im->ocr_text != NULL;
    r->has_cap = im->caption != NULL;
}

static int db_by_path(ix_db *db, const char *path, const char *model_id, db_rec *r)
{
    (void)model_id;
    store_image im = {0};
    int rc = store_image_get_by_path(db->s, path, &im);
    if (rc == LISA_ENOTFOUND) return 0;
    if (rc < 0) return rc;
    rec_from(db, &im, r);
    store_image_clear(&im);
    return 1;
}

static int db_by_id(ix_db *db, int64_t id, const char *model_id, db_rec *r)
{
    (void)model_id;
    store_image im = {0};
    int rc = store_image_get(db->s, id, &im);
    if (rc == LISA_ENOTFOUND) return 0;
    if (rc < 0) return rc;
    rec_from(db, &im, r);
    store_image_clear(&im);
    return 1;
}

static int db_by_hash(ix_db *db, const char *hash, const char *model_id, db_src *out, int max)
{
    (void)model_id;
    int64_t ids[16];
    int n, k = 0;
    if (max > 16) max = 16;
    int rc = store_image_find_by_hash(db->s, hash, ids, max, &n);
    if (rc < 0) return rc;
    for (int i = 0; i < n; i++) {
        store_image im = {0};
        if (store_image_get(db->s, ids[i], &im) < 0) continue;
        out[k].id = ids[i];
        snprintf(out[k].path, sizeof out[k].path, "%s", im.path);
        out[k++].has_emb = db_has_emb(db, ids[i]);
        store_image_clear(&im);
    }
    return k;
}

static int db_begin(ix_db *db)
{
    return store_begin(db->s);
}
static int db_commit(ix_db *db)
{
    return store_commit(db->s);
}
static void db_rollback(ix_db *db)
{
    store_rollback(db->s);
}

// kw_clean() of a readable field into *dst (NULL text: NULL).
static int clean_into(ix_db *db, const char *text, char **dst)
{
    *dst = NULL;
    return text ? kw_clean(db->k, text, KW_CLEAN, dst) : 0;
}

// The caption's keywords: BLIP's filler folded (search/capwords.h), then kw_clean().
static int caption_into(ix_db *db, const char *caption, char **dst)
{
    char *folded;
    *dst = NULL;
    if (!caption) return 0;
    int rc = kw_caption_fold(caption, NULL, &folded);
    if (rc == 0) rc = clean_into(db, folded, dst);
    if (rc == 0) free(folded);
    return rc;
}

// Name words of the item's path (relative to its root) and their cleaned form.
static int name_kw(ix_db *db, const item *it, char **words, char **clean)
{
    *words = *clean = NULL;
    int rc = kw_name_words(it->path, db->roots ? db->roots[it->root] : NULL, words);
    if (rc == 0) rc = clean_into(db, *words, clean);
    return rc;
}

// Fills the cleaned FTS fields of im from its readable ones (getters leave
// them NULL, and an upsert writes the FTS row from them).
static int fill_kw(ix_db *db, store_image *im)
{
    int rc = clean_into(db, im->name_words, &im->kw_name);
    if (rc == 0) rc = clean_into(db, im->meta_words, &im->kw_meta);
    if (rc == 0) rc = caption_into(db, im->caption, &im->kw_caption);
    if (rc == 0) rc = clean_into(db, im->ocr_text, &im->kw_ocr);
    return rc;
}

// Re-reads row id, lets edit() change it, recomputes the FTS text, upserts.
static int rewrite(ix_db *db, int64_t id, const item *it, int64_t *new_id, int rename)
{
    store_image im = {0};
    int rc = store_image_get(db->s, id, &im);
    if (rc < 0) return rc;
    im.size = it->size, im.mtime_ns = it->mtime_ns, im.indexed_at = 0;
    if (it->ocr_done) { // OCR of unchanged content (a backfill)
        free(im.ocr_text);
        if (!(im.ocr_text = strdup(it->ocr_text))) rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", it->path);
        im.ocr_conf = it->ocr_conf;
    }
    if (rc == 0 && it->cap_done) { // caption of unchanged content (a backfill)
        free(im.caption);
        if (!(im.caption = strdup(it->caption))) rc = lisa_seterr(LISA_ENOMEM, "out of memory for a caption");
    }
    if (rc < 0) {
    } else if (rename) {
        free(im.path), free(im.name_words);
        im.name_words = NULL;
        im.path = strdup(it->path);
        rc = im.path ? name_kw(db, it, &im.name_words, &im.kw_name)
                     : lisa_seterr(LISA_ENOMEM, "%s: out of memory", it->path);
        if (rc == 0) rc = clean_into(db, im.meta_words, &im.kw_meta);
        if (rc == 0) rc = caption_into(db, im.caption, &im.kw_caption);
        if (rc == 0) rc = clean_into(db, im.ocr_text, &im.kw_ocr);
    } else {
        rc = fill_kw(db, &im);
    }
    if (rc == 0) rc = store_image_upsert(db->s, &im, new_id);
    if (rc == 0) rc = store_failure_forget(db->s, it->path);
    store_image_clear(&im);
    return rc;
}

static int db_touch(ix_db *db, const item *it)
{
    return rewrite(db, it->id, it, NULL, 0);
}

static int db_move(ix_db *db, const item *it)
{
    char *words, *clean;
    int rc = name_kw(db, it, &words, &clean);
    if (rc == 0) rc = store_image_move(db->s, it->src_id, it->path, words, clean);
    free(words), free(clean);
    return rc == 0 ? rewrite(db, it->src_id, it, NULL, 0) : rc; // new size/mtime
}

static int db_copy(ix_db *db, const item *it)
{
    int64_t id;
    int rc = rewrite(db, it->src_id, it, &id, 1);
    return rc == 0 ? store_embedding_copy(db->s, it->src_id, id) : rc;
}

static int db_put(ix_db *db, const item *it, const char *model_id, const float *v, int dim)
{
    int64_t id = it->id;
    if (it->embed_only) { // same content: keep every field (captions, OCR), add the vector
        int rc = rewrite(db, id, it, NULL, 0);
        return rc == 0 && v ? store_embedding_put(db->s, id, model_id, dim, v) : rc;
    }
    store_image im = {
        .path = it->path,
        .size = it->size,
        .mtime_ns = it->mtime_ns,
        .hash = (char *)it->hash,
        .width = it->w,
        .height = it->h,
        .orientation = it->orientation,
        .date_unix = it->meta.date_unix,
        .meta_words = it->meta.words,
        .date_taken = it->meta.date_taken[0] ? (char *)it->meta.date_taken : NULL,
        .make = it->meta.make[0] ? (char *)it->meta.make : NULL,
        .model = it->meta.model[0] ? (char *)it->meta.model : NULL,
        .lens = it->meta.lens[0] ? (char *)it->meta.lens : NULL,
        .has_gps = it->meta.has_gps,
        .lat = it->meta.lat,
        .lon = it->meta.lon,
        .ocr_text = it->ocr_done ? it->ocr_text : NULL,
        .ocr_conf = it->ocr_done ? it->ocr_conf : 0,
        .caption = it->cap_done ? it->caption : NULL,
    };
    int rc = name_kw(db, it, &im.name_words, &im.kw_name);
    if (rc == 0) rc = clean_into(db, im.meta_words, &im.kw_meta);
    if (rc == 0) rc = clean_into(db, im.ocr_text, &im.kw_ocr);
    if (rc == 0) rc = caption_into(db, im.caption, &im.kw_caption);
    if (rc == 0) rc = store_image_upsert(db->s, &im, &id);
    if (rc == 0) rc = store_failure_forget(db->s, it->path);
    if (rc == 0 && it->has_phash && sha256_is_hex(it->hash)) rc = store_phash_put(db->s, it->hash, it->phash);
    if (rc == 0 && v) rc = store_embedding_put(db->s, id, model_id, dim, v);
    free(im.name_words), free(im.kw_name), free(im.kw_meta), free(im.kw_ocr), free(im.kw_caption);
    return rc;
}

struct unseen {
    const char *root;
    size_t rlen;
    char **seen;
    size_t nseen;
    int64_t *ids; // stored images to remove
    char **paths; // remembered failures to forget
    size_t n, cap;
};

// 1 when path is under u's root (not merely sharing its prefix: "/a/b" is
// not under "/a/bc") and was not seen by the walk.
static int unseen(const struct unseen *u, const char *path)
{
    char c = path[u->rlen];
    if (c != '/' && c != 0 && !(u->rlen && u->root[u->rlen - 1] == '/')) return 0;
    return !bsearch(&path, u->seen, u->nseen, sizeof *u->seen, cmp_str);
}

static int unseen_grow(struct unseen *u)
{
    if (u->n < u->cap) return 0;
    size_t cap = u->cap ? u->cap * 2 : 64;
    int64_t *ids = realloc(u->ids, cap * sizeof *ids);
    if (ids) u->ids = ids;
    char **paths = ids ? realloc(u->paths, cap * sizeof *paths) : NULL;
    if (paths) u->paths = paths;
    if (!ids || !paths) return lisa_seterr(LISA_ENOMEM, "index: out of memory for %zu unchanged files", cap);
    u->cap = cap;
    return 0;
}

static int unseen_fn(void *ud, const store_entry *e)
{
    struct unseen *u = ud;
    if (!unseen(u, e->path)) return 0;
    if (unseen_grow(u)) return 1; // out of memory: the caller reports it
    u->ids[u->n++] = e->id;
    return 0;
}

static int unseen_failure_fn(void *ud, const store_failure *f)
{
    struct unseen *u = ud;
    if (!unseen(u, f->path)) return 0;
    if (unseen_grow(u) || !(u->paths[u->n] = strdup(f->path))) return 1;
    u->n++;
    return 0;
}

// Removes the images, and forgets the failures, under root that the walk did
// not see (the file is gone).
static int db_remove_unseen(ix_db *db, const char *root, char **seen, size_t nseen, long long *removed)
{
    struct unseen u = {root, strlen(root), seen, nseen, NULL, NULL, 0, 0};
    int rc = store_image_list(db->s, root, unseen_fn, &u);
    if (rc > 0) rc = lisa_seterr(LISA_ENOMEM, "removal list");
    for (size_t i = 0; rc == 0 && i < u.n; i++)
        if ((rc = store_image_delete(db->s, u.ids[i])) == 0) (*removed)++;
    u.n = 0;
    if (rc == 0) rc = store_failure_list(db->s, root, unseen_failure_fn, &u);
    if (rc > 0) rc = lisa_seterr(LISA_ENOMEM, "removal list");
    for (size_t i = 0; i < u.n; i++) {
        if (rc == 0) rc = store_failure_forget(db->s, u.paths[i]);
        free(u.paths[i]);
    }
    free(u.ids), free(u.paths);
    return rc;
}

static int db_finish(ix_db *db, const indexer_stats *st)
{
    char buf[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = store_meta_set(db->s, "last_index_time", buf);
    snprintf(buf, sizeof buf, "%lld", st->files);
    if (rc == 0) rc = store_meta_set(db->s, "last_index_files", buf);
    return rc;
}
