// The FAISS IVF fp16 index file: load/verify, rebuild from SQLite, log replay,
// crash-safe save (see vindex.h).
#include "search/vindex.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/half.h"
#include "search/faiss_shim.h"
#include "search/rank.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define UID_LEN 32
#define VX_VERSION 2    // 2: raw fp16 codes (1 encoded residuals: rebuilt)
#define ADD_CHUNK 16384 // rows converted to float32 per FAISS add during a rebuild

// The file header, little-endian, fixed size; the FAISS payload follows.
typedef struct {
    char magic[8];
    uint32_t version, dim;
    int64_t seq, count, trained; // log seq reflected, vectors, vectors at training time
    int32_t nlist, pad;
    uint64_t payload_bytes;
    uint32_t crc, pad2;
    char uid[UID_LEN + 8];
    char model[STORE_MODEL_ID_MAX];
} vx_header;

struct vindex {
    pthread_rwlock_t lock; // searches read, sync/save write
    vindex *next;          // the process's list of open indexes (by path)
    int refs;
    fshim *ix;
    char *path;
    char model[STORE_MODEL_ID_MAX];
    char uid[UID_LEN + 1];
    int dim, nlist, nprobe;
    int64_t seq, count, trained;
    int64_t unsaved; // log rows applied since the file was written
    int dirty;       // the file is behind the memory
    int save_now;    // rebuilt: write the file at the end of this sync
    vindex_info info;
};

int vindex_nlist_for(int64_t n)
{
    double a = 2 * sqrt((double)n), b = (double)n / 39;
    double x = a < b ? a : b;
    return x < 1 ? 1 : x > 65536 ? 65536 : (int)x;
}

int vindex_nprobe_for(int nlist)
{
    // Measured on the clustered bench set (bench/bench_search.c, docs/scale.md).
    int p = nlist / 64;
    if (p < 16) p = 16;
    return p > nlist ? nlist : p;
}

// ---------------------------------------------------------------- store id

// The store's random id (kv "store_uid", made on first use), so an index
// file copied next to another lisa.db is never trusted.
static int store_uid(store *st, char *uid)
{
    char *v = NULL;
    int rc = store_meta_get(st, "store_uid", &v);
    if (rc == 0 && strlen(v) == UID_LEN) {
        memcpy(uid, v, UID_LEN + 1);
        free(v);
        return 0;
    }
    free(v);
    unsigned char r[UID_LEN / 2];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(r, 1, sizeof r, f) : 0;
    if (f) fclose(f);
    if (got != sizeof r) return lisa_seterr(LISA_EIO, "/dev/urandom: cannot read a store id");
    for (size_t i = 0; i < sizeof r; i++) snprintf(uid + 2 * i, 3, "%02x", r[i]);
    return store_meta_set(st, "store_uid", uid);
}

// ---------------------------------------------------------------- build

static int new_index(vindex *v, int64_t n)
{
    char fac[64];
    v->nlist = vindex_nlist_for(n);
    v->nprobe = vindex_nprobe_for(v->nlist);
    snprintf(fac, sizeof fac, "IVF%d,SQfp16", v->nlist);
    fshim_free(v->ix);
    v->ix = NULL;
    int rc = fshim_new(fac, v->dim, &v->ix);
    if (rc == 0) rc = fshim_ivf_raw_codes(v->ix);
    if (rc == 0) rc = fshim_set(v->ix, "nprobe", v->nprobe);
    if (rc == 0) rc = fshim_set_kmeans(v->ix, VINDEX_KMEANS_ITER);
    return rc;
}

// Rebuilds from every stored vector of the model: train on an even stride of
// them, add all in chunks (fp16 -> float32 per chunk).
static int rebuild(vindex *v, store *st, const char *why)
{
    double t0 = mono_ms();
    uint16_t *mat = NULL;
    int64_t *ids = NULL, seq = 0;
    size_t n = 0;
    float *buf = NULL;
    // The seq first: a change committed while we read is replayed again later.
    int rc = store_emb_log_max(st, &seq);
    if (rc == 0) rc = store_embeddings_load_f16(st, v->model, v->dim, &mat, &ids, &n);
    if (rc == 0) rc = new_index(v, (int64_t)n);
    size_t ntrain = n;
    int nl = v->nlist;
    if (rc == 0 && n > (size_t)nl * VINDEX_TRAIN_PER_LIST) ntrain = (size_t)nl * VINDEX_TRAIN_PER_LIST;
    size_t rows = ntrain > ADD_CHUNK ? ntrain : ADD_CHUNK;
    if (rc == 0 && n && !(buf = malloc(rows * (size_t)v->dim * sizeof *buf)))
        rc = lisa_seterr(LISA_ENOMEM, "vector index: %zu-row training buffer", rows);
    if (rc == 0 && n) {
        fshim_threads(VINDEX_BUILD_THREADS);
        for (size_t i = 0; i < ntrain; i++) // an even stride over the library
            half_to_f32_n(mat + (i * (n / ntrain)) * (size_t)v->dim, buf + i * (size_t)v->dim, (size_t)v->dim);
        rc = fshim_train(v->ix, ntrain, buf);
        for (size_t i = 0; rc == 0 && i < n; i += ADD_CHUNK) {
            size_t m = n - i < ADD_CHUNK ? n - i : ADD_CHUNK;
            half_to_f32_n(mat + i * (size_t)v->dim, buf, m * (size_t)v->dim);
            rc = fshim_add(v->ix, m, buf, ids + i);
        }
        fshim_threads(1);
    }
    free(buf), free(mat), free(ids);
    if (rc < 0) return rc;
    v->seq = seq, v->count = (int64_t)n, v->trained = (int64_t)n;
    v->dirty = 1, v->unsaved = 0, v->save_now = 1;
    v->info.built = 1;
    snprintf(v->info.why, sizeof v->info.why, "%s", why);
    v->info.build_ms = mono_ms() - t0;
    return 0;
}

// ---------------------------------------------------------------- file

// CRC-32 of len bytes of f from its position.
static int crc_stream(FILE *f, uint64_t len, uint32_t *crc)
{
    static unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    while (len) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        if (fread(buf, 1, want, f) != want) return -1;
        c = crc32(c, buf, (uInt)want);
        len -= want;
    }
    *crc = (uint32_t)c;
    return 0;
}

// Loads the file when it is this store's, this model's, intact and not older
// than the log's pruned mark. Returns 0 (loaded), 1 (not usable: why says
// why) or an error.
static int load(vindex *v, store *st, char *why, size_t wcap)
{
    vx_header h;
    uint32_t crc;
    int64_t pruned, maxseq;
    double t0 = mono_ms();
    FILE *f = fopen(v->path, "rb");
    if (!f) {
        snprintf(why, wcap, errno == ENOENT ? "no index file" : "index file unreadable: %s", strerror(errno));
        return 1;
    }
    int rc = 1;
    struct stat sb;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, VINDEX_MAGIC, 8) || h.version != VX_VERSION)
        snprintf(why, wcap, "index file header is not LISA's (or an older format)");
    else if (h.dim != (uint32_t)v->dim || strncmp(h.model, v->model, sizeof h.model) || strncmp(h.uid, v->uid, UID_LEN))
        snprintf(why, wcap, "index file is another store's or model's");
    else if (fstat(fileno(f), &sb) < 0 || (uint64_t)sb.st_size != sizeof h + h.payload_bytes)
        snprintf(why, wcap, "index file is truncated");
    else if (crc_stream(f, h.payload_bytes, &crc) < 0 || crc != h.crc)
        snprintf(why, wcap, "index file checksum mismatch");
    else if ((rc = store_emb_log_pruned(st, v->model, &pruned)) < 0 || (rc = store_emb_log_max(st, &maxseq)) < 0)
        ; // error
    else if (h.seq < pruned || h.seq > maxseq)
        snprintf(why, wcap, "index file is stale (seq %lld, log pruned to %lld, at %lld)", (long long)h.seq,
                 (long long)pruned, (long long)maxseq),
            rc = 1;
    else if (fseek(f, (long)sizeof h, SEEK_SET) < 0)
        snprintf(why, wcap, "index file does not load: %s", strerror(errno)), rc = 1;
    else if ((rc = fshim_read(f, &v->ix)) < 0)
        snprintf(why, wcap, "index file does not load: %.80s", lisa_errmsg_for(rc)), rc = 1;
    else if (fshim_count(v->ix) != h.count)
        snprintf(why, wcap, "index file holds %lld vectors, header says %lld", (long long)fshim_count(v->ix),
                 (long long)h.count),
            rc = 1;
    else
        rc = 0;
    fclose(f);
    if (rc != 0) {
        fshim_free(v->ix);
        v->ix = NULL;
        return rc;
    }
    v->seq = h.seq, v->count = h.count, v->trained = h.trained, v->nlist = h.nlist;
    v->nprobe = vindex_nprobe_for(v->nlist);
    v->info.file_bytes = (int64_t)sb.st_size;
    v->info.build_ms = mono_ms() - t0;
    return fshim_set(v->ix, "nprobe", v->nprobe);
}

static int write_file(vindex *v, const char *tmp)
{
    vx_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, VINDEX_MAGIC, 8);
    h.version = VX_VERSION, h.dim = (uint32_t)v->dim;
    h.seq = v->seq, h.count = v->count, h.trained = v->trained, h.nlist = v->nlist;
    memcpy(h.uid, v->uid, UID_LEN);
    snprintf(h.model, sizeof h.model, "%s", v->model);
    FILE *f = fopen(tmp, "w+b");
    if (!f) return lisa_seterr(LISA_EIO, "%s: %s", tmp, strerror(errno));
    int rc = fwrite(&h, sizeof h, 1, f) == 1 ? 0 : lisa_seterr(LISA_EIO, "%s: write: %s", tmp, strerror(errno));
    if (rc == 0) rc = fshim_write(v->ix, f);
    long end = rc == 0 ? ftell(f) : -1;
    if (rc == 0 && end < (long)sizeof h) rc = lisa_seterr(LISA_EIO, "%s: ftell: %s", tmp, strerror(errno));
    if (rc == 0) {
        h.payload_bytes = (uint64_t)end - sizeof h;
        if (fflush(f) || fseek(f, (long)sizeof h, SEEK_SET) || crc_stream(f, h.payload_bytes, &h.crc) < 0 ||
            fseek(f, 0, SEEK_SET) || fwrite(&h, sizeof h, 1, f) != 1 || fflush(f) || fsync(fileno(f)))
            rc = lisa_seterr(LISA_EIO, "%s: finishing the index file: %s", tmp, strerror(errno));
    }
    if (fclose(f) && rc == 0) rc = lisa_seterr(LISA_EIO, "%s: close: %s", tmp, strerror(errno));
    if (rc == 0) v->info.file_bytes = end;
    return rc;
}

static void fsync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *sl = strrchr(dir, '/');
    if (sl) *sl = 0;
    int fd = open(sl ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) fsync(fd), close(fd);
}

static int save_locked(vindex *v, store *st)
{
    if (!v->dirty) return 0;
    char tmp[4096 + 16], lock[4096 + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", v->path);
    snprintf(lock, sizeof lock, "%s.lock", v->path);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return lisa_seterr(LISA_EIO, "%s: %s", lock, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) { // another process is saving: it will do
        close(fd);
        return 0;
    }
    int rc = write_file(v, tmp);
    if (rc == 0 && rename(tmp, v->path) < 0) rc = lisa_seterr(LISA_EIO, "%s: rename: %s", v->path, strerror(errno));
    if (rc == 0) fsync_dir(v->path);
    if (rc < 0) unlink(tmp);
    flock(fd, LOCK_UN);
    close(fd);
    if (rc < 0) return rc;
    v->dirty = 0, v->unsaved = 0, v->save_now = 0;
    // Only now is the log below the file's seq useless. Busy (an indexer
    // holds the write lock): prune next time.
    if (store_emb_log_prune(st, v->model, v->seq) < 0) lisa_clearerr();
    return 0;
}

// ---------------------------------------------------------------- sync

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// Removes the n ids (sorted, may repeat) and adds back, in one FAISS call,
// those the store still has. vec holds VINDEX_LOG_BATCH vectors.
static int apply(vindex *v, store *st, int64_t *ids, int n, float *vec)
{
    size_t removed = 0, k = 0, m = 0;
    for (int i = 0; i < n; i++)
        if (!k || ids[k - 1] != ids[i]) ids[k++] = ids[i];
    int rc = fshim_remove(v->ix, ids, k, &removed);
    v->count -= (int64_t)removed;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        rc = store_embedding_get(st, ids[i], v->model, v->dim, vec + m * (size_t)v->dim);
        if (rc == LISA_ENOTFOUND) {
            rc = 0;
            lisa_clearerr();
            continue;
        }
        if (rc == 0) ids[m++] = ids[i]; // m <= i: compacting in place is safe
    }
    if (rc == 0 && m && (rc = fshim_add(v->ix, m, vec, ids)) == 0) v->count += (int64_t)m;
    return rc;
}

static int sync_locked(vindex *v, store *st)
{
    int64_t *seqs = malloc(VINDEX_LOG_BATCH * sizeof *seqs), *ids = malloc(VINDEX_LOG_BATCH * sizeof *ids), pruned;
    float *vec = malloc((size_t)VINDEX_LOG_BATCH * (size_t)v->dim * sizeof *vec);
    int n, rc = seqs && ids && vec ? 0 : lisa_seterr(LISA_ENOMEM, "vector index sync buffers");
    if (rc == 0) rc = store_emb_log_pruned(st, v->model, &pruned);
    if (rc == 0 && pruned > v->seq) rc = rebuild(v, st, "the log was pruned past the index");
    while (rc == 0) {
        if ((rc = store_emb_log_read(st, v->model, v->seq, VINDEX_LOG_BATCH, seqs, ids, &n)) < 0 || n == 0) break;
        int64_t last = seqs[n - 1];
        qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
        if ((rc = apply(v, st, ids, n, vec)) < 0) break;
        v->seq = last, v->unsaved += n, v->dirty = 1;
    }
    free(seqs), free(ids), free(vec);
    if (rc < 0) return rc;
    // Grown far past what the lists were trained for: retrain.
    if (v->count > 4 * (v->trained > 1000 ? v->trained : 1000) &&
        (rc = rebuild(v, st, "grown 4x past its training set")) < 0)
        return rc;
    if (v->unsaved >= VINDEX_SAVE_CHANGES || v->save_now) return save_locked(v, st);
    return 0;
}

int vindex_sync(vindex *v, store *st)
{
    int64_t max;
    int rc = store_emb_log_max(st, &max);
    if (rc < 0) return rc;
    pthread_rwlock_rdlock(&v->lock);
    int behind = max > v->seq;
    pthread_rwlock_unlock(&v->lock);
    if (!behind) return 0;
    pthread_rwlock_wrlock(&v->lock);
    rc = sync_locked(v, st);
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int vindex_save(vindex *v, store *st)
{
    pthread_rwlock_wrlock(&v->lock);
    int rc = save_locked(v, st);
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

// ---------------------------------------------------------------- open/close/search

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static vindex *open_list;

static void vindex_free(vindex *v)
{
    fshim_free(v->ix);
    pthread_rwlock_destroy(&v->lock);
    free(v->path);
    free(v);
}

static int vindex_open(store *st, const char *path, const char *model_id, int dim, vindex **out)
{
    vindex *v = calloc(1, sizeof *v);
    if (!v || !(v->path = strdup(path))) {
        free(v);
        return lisa_seterr(LISA_ENOMEM, "vector index handle");
    }
    pthread_rwlock_init(&v->lock, NULL);
    v->dim = dim, v->refs = 1;
    fshim_threads(1); // one query is one thread; OpenMP teams only cost here
    snprintf(v->model, sizeof v->model, "%s", model_id);
    char why[128];
    int rc = store_uid(st, v->uid);
    if (rc == 0 && (rc = load(v, st, why, sizeof why)) == 1) rc = rebuild(v, st, why);
    if (rc == 0) rc = sync_locked(v, st);
    if (rc < 0) {
        vindex_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int vindex_acquire(store *st, const char *path, const char *model_id, int dim, vindex **out)
{
    *out = NULL;
    if (dim < 1 || dim > STORE_DIM_MAX || !model_id || !*model_id || strlen(model_id) >= STORE_MODEL_ID_MAX)
        return lisa_seterr(LISA_EINVAL, "vector index: bad model %s or dimension %d", model_id ? model_id : "?", dim);
    pthread_mutex_lock(&open_mu);
    vindex *v = open_list;
    while (v && strcmp(v->path, path)) v = v->next;
    int rc = 0;
    if (v && (v->dim != dim || strcmp(v->model, model_id)))
        rc = lisa_seterr(LISA_EINVAL, "%s: open for model %s (dim %d), not %s (dim %d)", path, v->model, v->dim,
                         model_id, dim);
    else if (v)
        v->refs++;
    else if ((rc = vindex_open(st, path, model_id, dim, &v)) == 0)
        v->next = open_list, open_list = v;
    pthread_mutex_unlock(&open_mu);
    if (rc < 0) return rc;
    *out = v;
    return vindex_sync(v, st);
}

void vindex_release(vindex *v, store *st)
{
    if (!v) return;
    pthread_mutex_lock(&open_mu);
    int last = --v->refs == 0;
    if (last) {
        vindex **pp = &open_list;
        while (*pp != v) pp = &(*pp)->next;
        *pp = v->next;
    }
    pthread_mutex_unlock(&open_mu);
    if (!last) return;
    if (st && save_locked(v, st) < 0) lisa_clearerr(); // the log still holds what the file lacks
    vindex_free(v);
}

// A bounded min-heap of (score, id), root = the worst kept; better = higher
// score, then lower id (the exact scan's order).
typedef struct {
    float *s;
    int64_t *id;
    int k, n;
} vheap;

static int worse(const vheap *h, int a, int b)
{
    return h->s[a] < h->s[b] || (h->s[a] == h->s[b] && h->id[a] > h->id[b]);
}

static void vheap_swap(vheap *h, int a, int b)
{
    float s = h->s[a];
    int64_t i = h->id[a];
    h->s[a] = h->s[b], h->id[a] = h->id[b], h->s[b] = s, h->id[b] = i;
}

static void vheap_down(vheap *h, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && worse(h, l, m)) m = l;
        if (r < h->n && worse(h, r, m)) m = r;
        if (m == i) return;
        vheap_swap(h, i, m);
        i = m;
    }
}

static void vheap_push(vheap *h, float s, int64_t id)
{
    if (h->n == h->k) {
        if (s < h->s[0] || (s == h->s[0] && id > h->id[0])) return;
        h->s[0] = s, h->id[0] = id;
        vheap_down(h, 0);
        return;
    }
    int i = h->n++;
    h->s[i] = s, h->id[i] = id;
    while (i > 0 && worse(h, i, (i - 1) / 2)) {
        vheap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

// Heap-sorts in place: best first.
static int vheap_sort(vheap *h)
{
    int n = h->n;
    while (h->n > 1) {
        vheap_swap(h, 0, h->n - 1);
        h->n--;
        vheap_down(h, 0);
    }
    h->n = n;
    return n;
}

// The nprobe nearest lists, scanned with LISA's fp16 kernel on FAISS's raw
// fp16 codes (the stored values exactly): scores are the exact scan's.
static int scan_lists(vindex *v, const float *q, int k, int64_t *ids, float *scores, int *n)
{
    int64_t lists[VINDEX_NPROBE_MAX];
    float buf[RANK_BLOCK];
    int np = v->nprobe > VINDEX_NPROBE_MAX ? VINDEX_NPROBE_MAX : v->nprobe;
    int rc = fshim_ivf_probe(v->ix, q, np, lists, &np);
    vheap h = {scores, ids, k, 0};
    for (int p = 0; rc == 0 && p < np; p++) {
        const uint16_t *codes;
        const int64_t *lid;
        size_t len;
        if (lists[p] < 0 || (rc = fshim_ivf_list(v->ix, lists[p], &codes, &lid, &len)) < 0) continue;
        for (size_t i = 0; i < len; i += RANK_BLOCK) {
            size_t m = len - i < RANK_BLOCK ? len - i : RANK_BLOCK;
            rank_scores_f16(q, codes + i * (size_t)v->dim, m, v->dim, buf);
            for (size_t j = 0; j < m; j++) vheap_push(&h, buf[j], lid[i + j]);
        }
    }
    if (rc == 0) *n = vheap_sort(&h);
    return rc;
}

int vindex_search(vindex *v, const float *q, int k, const int64_t *sel, size_t nsel, int64_t *ids, float *scores,
                  int *n)
{
    *n = 0;
    if (k < 1 || k > VINDEX_CAND_MAX)
        return lisa_seterr(LISA_EINVAL, "vector index: %d candidates not in [1,%d]", k, VINDEX_CAND_MAX);
    pthread_rwlock_rdlock(&v->lock);
    int rc = 0;
    if (v->count && !sel) {
        rc = scan_lists(v, q, k, ids, scores, n);
    } else if (v->count) {
        rc = fshim_search(v->ix, q, k, sel, nsel, scores, ids);
        while (rc == 0 && *n < k && ids[*n] >= 0) ++*n;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

void vindex_get_info(vindex *v, vindex_info *info)
{
    pthread_rwlock_rdlock(&v->lock);
    *info = v->info;
    info->count = v->count, info->nlist = v->nlist, info->nprobe = v->nprobe, info->seq = v->seq;
    pthread_rwlock_unlock(&v->lock);
}
