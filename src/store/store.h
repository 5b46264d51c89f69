// The library store: one SQLite database (DATA/lisa.db) holding every indexed
// image, its keyword fields, its embeddings and an FTS5 keyword index.
//
// Durability and concurrency. The database runs in WAL mode with
// synchronous=NORMAL and a busy_timeout (STORE_BUSY_MS), so readers (a search,
// `lisa stats`, the server) never block the writer and never see a half
// written batch: the indexer wraps each batch in store_begin()/store_commit(),
// and a kill -9 loses at most the open transaction. Every single write call
// below is atomic on its own too (a SAVEPOINT), inside or outside a batch.
// One writer at a time: a second store_begin() from another connection waits
// up to STORE_BUSY_MS, then fails with LISA_EBUSY.
//
// Threads. A store handle caches prepared statements and must be used by one
// thread at a time; open one handle per thread that needs the database (the
// handles may be in different processes, that is what WAL is for).
//
// Schema (versioned by PRAGMA user_version, migrated forward on open by the
// ordered SQL steps in store.c, each step in its own transaction):
//   images(id, path UNIQUE, size, mtime_ns, hash, width, height, orientation,
//          date_taken, date_unix, make, model, name_words, meta_words,
//          caption, ocr_text, ocr_conf, indexed_at, lens, gps_lat, gps_lon)
//   embeddings(image_id -> images.id ON DELETE CASCADE, model, dim, vec)
//          one row per (image, model id); vec is dim IEEE fp16 values
//          (base/half.h, rounded to nearest even from the float32 given) in
//          little-endian byte order. Schema v3 and older stored float32; the
//          v4 migration converts them in place.
//   emb_log(seq AUTOINCREMENT, model, image_id)  one row per insert, update
//          or delete of an embedding (triggers, so the same transaction as
//          the change, cascades included): what the ANN index file
//          (search/vindex.h) replays to catch up. Pruned by that index.
//   image_fts  FTS5(name, meta, caption, ocr), rowid = images.id. It is a
//          regular (content-holding) FTS5 table written only by this module,
//          in the same savepoint as the images row, so the two never drift.
//          It holds the CLEANED keyword text (kw_clean(): stemmed, stop words
//          removed) while the images columns keep the readable words shown to
//          users. Tokenizer: unicode61, remove_diacritics 0, token characters
//          L* N* Co M*, which splits a kw_clean() output exactly into its
//          tokens (the cleaner already folded case and diacritics).
//   kv(key, value)  small settings/state: "last_index_time", ...
//   folders(id, path UNIQUE, added_at)  the library folders `lisa serve`
//          indexes in place and watches (v7; DATA/images is implicit)
//
// Content hash: SHA-256 of the file bytes, 64 lowercase hex characters, from
// sha256_file() in base/sha256.h; moves and renames are found by it.
//
// Strings passed in are borrowed for the call; strings handed out in structs
// belong to the struct and are freed by its *_clear() function.
#ifndef LISA_STORE_STORE_H
#define LISA_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct store store;

#define STORE_SCHEMA_VERSION 7   // user_version of a fully migrated database
#define STORE_BUSY_MS 5000       // busy_timeout for every connection
#define STORE_PATH_MAX 4096      // bytes in an image path
#define STORE_TEXT_MAX (1 << 20) // bytes in any one text field; more is refused
#define STORE_DIM_MAX 8192       // embedding dimension cap
#define STORE_MODEL_ID_MAX 256   // bytes in a model id
#define STORE_NO_DATE INT64_MIN  // date_unix when the date taken is unknown

// Flags for store_open().
enum {
    STORE_READONLY = 1, // open read-only: no create, no migration (fails on an old schema)
    STORE_CREATE = 2,   // create the file (and migrate) when it does not exist
};

// Opens (STORE_CREATE: creates) the database at path, sets WAL, busy_timeout,
// foreign keys, and migrates the schema forward to STORE_SCHEMA_VERSION. A
// database newer than this build is refused with LISA_EUNSUPPORTED; a file
// that is not SQLite with LISA_EFORMAT; a missing file without STORE_CREATE
// with LISA_ENOTFOUND. The caller owns *out: store_close() it. path is borrowed.
int store_open(const char *path, int flags, store **out);

// A read-write open that fails because the disk is full (the WAL or -shm
// cannot be created) falls back to a read-only, immutable open of the file
// as committed: reads work, writes fail. store_disk_full() then says 1.
int store_disk_full(const store *s);

// Finalizes statements and closes the connection; an open transaction is
// rolled back. store_close(NULL) is a no-op.
void store_close(store *s);

// The schema version found in the file before store_open() migrated it (0 for
// a new file). For tests and `lisa stats`.
int store_schema_found(const store *s);

// SQL of migration step v (1-based: the step that takes user_version from v-1
// to v), NULL outside [1, STORE_SCHEMA_VERSION]. Static string. Exposed so
// tests can build an old-version database by hand and check the migration.
const char *store_migration_sql(int v);

// ---------------------------------------------------------------- transactions

// BEGIN IMMEDIATE: takes the write lock now (waiting up to STORE_BUSY_MS,
// then LISA_EBUSY), so a batch never fails half way on a lock upgrade.
// Transactions do not nest: a second store_begin() is LISA_EINVAL.
int store_begin(store *s);
int store_commit(store *s);
// Rolls back the open transaction; 0 when none was open.
int store_rollback(store *s);

// ---------------------------------------------------------------- images

// One image row. In store_image_upsert() every field is an input (NULL
// strings store NULL); from the getters every string is malloc'd and owned by
// the struct: store_image_clear() it.
typedef struct {
    int64_t id;         // set by the store; ignored by upsert
    char *path;         // absolute path, unique key (at most STORE_PATH_MAX bytes)
    int64_t size;       // bytes
    int64_t mtime_ns;   // st_mtim as nanoseconds since the epoch
    char *hash;         // SHA-256 hex (64 chars) or NULL when unknown
    int width, height;  // pixels as displayed (after EXIF orientation); 0 unknown
    int orientation;    // EXIF orientation 1..8; 0 unknown
    char *date_taken;   // ISO 8601 "YYYY-MM-DDTHH:MM:SS" as in EXIF (local time), or NULL
    int64_t date_unix;  // date_taken read as UTC, seconds; STORE_NO_DATE unknown
    char *make, *model; // camera, or NULL
    // Readable keyword fields (what users see and what export writes):
    char *name_words;  // words from the file and folder names (kw_name_words())
    char *meta_words;  // EXIF/IPTC/XMP words (meta_words())
    char *caption;     // generated caption (later issue), or NULL
    char *ocr_text;    // OCR text (later issue), or NULL
    double ocr_conf;   // mean OCR confidence in [0,1]; 0 when no OCR
    double indexed_at; // unix seconds of the last write; set by upsert when 0
    char *lens;        // EXIF lens model, or NULL
    int has_gps;       // 1: lat/lon hold the EXIF GPS position (degrees)
    double lat, lon;
    // Cleaned keyword text for the FTS columns (kw_clean() output). Inputs to
    // upsert only (NULL: the column is empty); the getters leave them NULL.
    char *kw_name, *kw_meta, *kw_caption, *kw_ocr;
} store_image;

// Frees the strings of *im and zeroes it. Safe on a zeroed struct.
void store_image_clear(store_image *im);

// Inserts or updates the row whose path is im->path, and its FTS row, in one
// savepoint; *id (may be NULL) gets the row id. When the row existed with a
// different non-NULL hash, its embeddings are deleted (a stale vector must
// never be ranked). Fields over STORE_TEXT_MAX or STORE_PATH_MAX, or a hash
// that is not 64 hex digits, are LISA_EINVAL naming the field. im is borrowed.
int store_image_upsert(store *s, const store_image *im, int64_t *id);

// Fills *out (caller clears it) with the row for path / id; LISA_ENOTFOUND
// when there is none.
int store_image_get_by_path(store *s, const char *path, store_image *out);
int store_image_get(store *s, int64_t id, store_image *out);

// Ids of up to max rows whose hash is `hash`, lowest id first, into ids
// (caller's array); *n gets the count (0 when none: not an error).
int store_image_find_by_hash(store *s, const char *hash, int64_t *ids, int max, int *n);

// A rename or move: sets the path of row id to new_path and replaces its name
// keywords (readable name_words and cleaned kw_name, either may be NULL),
// keeping embeddings and every other field. LISA_ENOTFOUND when id is absent;
// LISA_EBUSY when new_path is already another row's path.
int store_image_move(store *s, int64_t id, const char *new_path, const char *name_words, const char *kw_name);

// Deletes row id, its FTS row and (cascade) its embeddings; LISA_ENOTFOUND
// when absent.
int store_image_delete(store *s, int64_t id);

// What the incremental scan needs per stored image. Strings are the store's,
// valid only during the callback.
typedef struct {
    int64_t id;
    const char *path;
    int64_t size;
    int64_t mtime_ns;
    const char *hash; // NULL when unknown
} store_entry;

// Return non-zero from the callback to stop the listing early (that value is
// then returned by store_image_list()). The callback must not write to s.
typedef int (*store_list_fn)(void *ud, const store_entry *e);

// Calls fn for every image whose path starts with prefix (NULL or "": all),
// in path order. Returns 0, the callback's non-zero value, or an error.
int store_image_list(store *s, const char *prefix, store_list_fn fn, void *ud);

// Number of images (all of them).
int store_image_count(store *s, int64_t *n);

// ---------------------------------------------------------------- embeddings

// Stores (replaces) the embedding of image id under model_id: dim float32
// values copied from vec (borrowed). LISA_ENOTFOUND when the image is absent,
// LISA_EINVAL for dim outside [1, STORE_DIM_MAX] or an over-long model id.
int store_embedding_put(store *s, int64_t id, const char *model_id, int dim, const float *vec);

// 1 when image id has an embedding for model_id of dimension dim, else 0.
int store_embedding_has(store *s, int64_t id, const char *model_id, int dim);

// Copies every embedding of image `from` to image `to` (a copied file:
// same content, new path). 0 also when `from` has none.
int store_embedding_copy(store *s, int64_t from, int64_t to);

// Reads embedding (id, model_id) into vec (caller's, dim floats).
// LISA_ENOTFOUND when there is none of that model and dimension.
int store_embedding_get(store *s, int64_t id, const char *model_id, int dim, float *vec);

// All embeddings of model_id with dimension dim, for the brute-force scan:
// *mat gets a malloc'd (n, dim) row-major float32 matrix and *ids the
// malloc'd image id of each row, ascending; both owned by the caller (free()).
// n == 0 leaves both NULL. Rows stored with another dimension are skipped.
int store_embeddings_load(store *s, const char *model_id, int dim, float **mat, int64_t **ids, size_t *n);

// Number of embeddings of model_id with dimension dim into *n.
int store_embedding_count(store *s, const char *model_id, int dim, int64_t *n);

// The same as stored: fp16, (n, dim) row-major uint16_t, half the bytes.
int store_embeddings_load_f16(store *s, const char *model_id, int dim, uint16_t **mat, int64_t **ids, size_t *n);

// Reads embedding (id, model_id) as stored (dim fp16 values) into vec.
int store_embedding_get_f16(store *s, int64_t id, const char *model_id, int dim, uint16_t *vec);

// The change log. *seq gets the highest seq ever given (0 when none; pruned
// rows still count, so seqs never go back).
int store_emb_log_max(store *s, int64_t *seq);
// Up to max log rows of model_id with seq > after, ascending, into seqs and
// ids (caller's arrays of max entries); *n gets the count.
int store_emb_log_read(store *s, const char *model_id, int64_t after, int max, int64_t *seqs, int64_t *ids, int *n);
// Deletes model_id's rows with seq <= through and records through as the
// pruned mark (kept as the max of the marks). A copy of the index older than
// the mark cannot catch up from the log and must be rebuilt.
int store_emb_log_prune(store *s, const char *model_id, int64_t through);
// *through gets the pruned mark of model_id (0 when never pruned).
int store_emb_log_pruned(store *s, const char *model_id, int64_t *through);

// ---------------------------------------------------------------- keywords

// Bits of store_hit.cols: which FTS columns held a match.
enum {
    STORE_COL_NAME = 1,
    STORE_COL_META = 2,
    STORE_COL_CAPTION = 4,
    STORE_COL_OCR = 8,
};

typedef struct {
    int64_t id;
    double bm25; // -(FTS5 bm25()): HIGHER is better, > 0 for every hit
    int cols;    // STORE_COL_* bits of the columns where a query phrase occurs
} store_hit;

#define STORE_HITS_MAX 100000

// Runs an FTS5 MATCH over image_fts and returns the best `limit` hits
// (1..STORE_HITS_MAX), best first (ties by ascending id), into *hits
// (malloc'd, caller frees; NULL when *n == 0). `match` must be a well-formed
// FTS5 expression such as kw_query() builds; never pass user text here. A
// malformed one is LISA_EINVAL with SQLite's reason. bm25 uses equal column
// weights and FTS5's k1 = 1.2, b = 0.75.
int store_keyword_search(store *s, const char *match, int limit, store_hit **hits, int *n);

// Callback that turns readable text into cleaned keyword text for the FTS
// index (kw_clean() fits): *out is malloc'd by it and freed by the store.
typedef int (*store_clean_fn)(void *ud, const char *text, char **out);

// Rebuilds every FTS row from the readable columns through clean (after a
// change to the cleaning pipeline). One transaction; call outside a batch.
int store_fts_rebuild(store *s, store_clean_fn clean, void *ud);

// ---------------------------------------------------------------- filters, pages

// One filter clause over the images table (search/query.h builds them from a
// query's `key:value` parts). A filter is the AND of its clauses; neg negates
// one clause. This is the one predicate every listing and search applies
// (store_filter_ids() hands it on as an allowed set of ids).
enum {
    STORE_F_DATE,   // image date in [lo, hi) (unix s, local time read as UTC); INT64_MIN/MAX: open
    STORE_F_MONTH,  // month of the image date == lo (1..12), any year
    STORE_F_CAMERA, // text is a substring of "make model" (case and accents ignored)
    STORE_F_LENS,   // text is a substring of the lens
    STORE_F_TYPE,   // the file's format (from its extension) is in text: "jpeg", "png,heif", ...
    STORE_F_FOLDER, // text "/abs/prefix" is a path prefix, else "a" or "a/b" are folder components in the path
    STORE_F_NAME,   // text is a substring of the file name
    STORE_F_OCR,    // text is a substring of the OCR text
    STORE_F_NEAR,   // GPS position within km of (lat, lon) (haversine, R = 6371 km)
    STORE_F_ORIENT, // lo: STORE_PORTRAIT / STORE_LANDSCAPE / STORE_SQUARE (displayed size)
    STORE_F_PIXELS, // width * height in [lo, hi]
    STORE_F_BYTES,  // file size in [lo, hi]
    STORE_F_MATCH,  // text is an FTS5 expression (kw_query()/query.c build it) the keyword text matches
};
enum { STORE_PORTRAIT = 1, STORE_LANDSCAPE, STORE_SQUARE };

#define STORE_CLAUSES_MAX 32
#define STORE_CLAUSE_TEXT 512 // bytes of a clause's text, NUL included

typedef struct {
    int kind, neg;
    int64_t lo, hi;
    double lat, lon, km;
    char text[STORE_CLAUSE_TEXT];
} store_clause;

typedef struct {
    int n;
    store_clause c[STORE_CLAUSES_MAX];
} store_filter;

// Orders of store_page() and store_order_ids(). The image date is the EXIF
// date taken, else the file's mtime in local time; "added" is the row id
// (first-index order). Ties are broken by id, so every order is total.
enum {
    STORE_SORT_DATE_DESC, // newest first (the default)
    STORE_SORT_DATE,      // oldest first
    STORE_SORT_NAME,      // file name A..Z (byte order, case-insensitive for ASCII)
    STORE_SORT_NAME_DESC,
    STORE_SORT_ADDED_DESC, // most recently added first
    STORE_SORT_ADDED,
};

// The ids of every image that passes f (NULL or empty: all), ascending, into
// *ids (malloc'd, caller frees; NULL when *n == 0). LISA_EINVAL names a
// clause the store cannot evaluate (a malformed FTS5 expression).
int store_filter_ids(store *s, const store_filter *f, int64_t **ids, size_t *n);

// One page of the images that pass f in order `sort`: at most limit (1..
// STORE_HITS_MAX) ids from offset into ids (caller's array), *n how many;
// *total the number that pass f.
int store_page(store *s, const store_filter *f, int sort, int64_t offset, int limit, int64_t *ids, int *n,
               int64_t *total);

// Reorders ids[0..n) (distinct) in place into order `sort`; ids no longer in
// the store are dropped, and *kept (may be NULL) gets how many remain first.
int store_order_ids(store *s, int64_t *ids, size_t n, int sort, size_t *kept);

// ---------------------------------------------------------------- meta, stats, export

// Sets key to value (both borrowed; value NULL deletes the key).
int store_meta_set(store *s, const char *key, const char *value);
// *value gets a malloc'd copy (caller frees); LISA_ENOTFOUND when unset.
int store_meta_get(store *s, const char *key, char **value);

#define STORE_STATS_MODELS 16

typedef struct {
    int64_t images;
    int64_t embeddings;   // rows over all models
    int64_t with_caption; // images with a caption
    int64_t with_ocr;     // images with OCR text
    int64_t with_date;    // images with a date taken
    int64_t failed;       // files remembered as undecodable (store_failure_*)
    int64_t db_bytes;     // main file + WAL on disk
    int schema_version;
    char last_index[64]; // kv "last_index_time" (as stored), "" when never
    int n_models;        // models with embeddings (first STORE_STATS_MODELS)
    struct {
        char id[STORE_MODEL_ID_MAX];
        int dim;
        int64_t count;
    } models[STORE_STATS_MODELS];
} store_stats;

int store_get_stats(store *s, store_stats *st);

// ---------------------------------------------------------------- failures

// Files that failed to decode, remembered with the size and mtime they had,
// so an incremental run skips them until they change instead of decoding
// (and warning about) them every time. A file that later indexes is
// forgotten (store_failure_forget).
typedef struct {
    const char *path;
    int64_t size, mtime_ns;
    const char *error; // why it failed, as warned
    double failed_at;  // unix seconds
} store_failure;

// Records (or updates) path's failure.
int store_failure_put(store *s, const char *path, int64_t size, int64_t mtime_ns, const char *error);

// 1 and *size / *mtime_ns when path is a remembered failure, 0 when not.
int store_failure_get(store *s, const char *path, int64_t *size, int64_t *mtime_ns);

// Forgets path's failure (none: not an error).
int store_failure_forget(store *s, const char *path);

// Calls fn for each remembered failure whose path starts with prefix (NULL
// or "": all), in path order; strings valid during the callback, which must
// not write to s. Returns 0, the callback's non-zero value, or an error.
typedef int (*store_failure_fn)(void *ud, const store_failure *f);
int store_failure_list(store *s, const char *prefix, store_failure_fn fn, void *ud);

// ---------------------------------------------------------------- uploads, perceptual hashes (v6)

// Records that path (absolute, under DATA/images) was uploaded under the name
// original (NFC, as the client sent it) with content sha256 (64 hex digits);
// a later record of the same path replaces it. All strings are borrowed.
int store_upload_put(store *s, const char *path, const char *original, const char *sha256);

// *original gets a malloc'd copy (caller frees) of the name path was uploaded
// under; LISA_ENOTFOUND when path is not a recorded upload.
int store_upload_name(store *s, const char *path, char **original);

// Up to max paths of recorded uploads whose content is sha256, oldest first,
// each malloc'd into paths[] (caller frees each); *n gets the count.
int store_upload_by_hash(store *s, const char *sha256, char **paths, int max, int *n);

// Forgets path's upload record (none: not an error).
int store_upload_forget(store *s, const char *path);

// The perceptual hash of the content sha256 (image/phash.h): put replaces,
// get fills *ph or answers LISA_ENOTFOUND.
int store_phash_put(store *s, const char *sha256, uint64_t ph);
int store_phash_get(store *s, const char *sha256, uint64_t *ph);

// One image for the duplicate finder; strings are the store's, valid only
// during the callback.
typedef struct {
    int64_t id;
    const char *path;
    const char *sha256;
    int has_phash; // 1: phash holds the content's perceptual hash
    uint64_t phash;
} store_dup_entry;

// Calls fn for every image that has a content hash, ordered by hash then id
// (exact copies come one after another), with its perceptual hash when one
// is stored. The callback must not write to s; a non-zero return stops the
// listing and is returned.
typedef int (*store_dup_fn)(void *ud, const store_dup_entry *e);
int store_dup_list(store *s, store_dup_fn fn, void *ud);

// ---- library folders (schema v7): the folders `lisa serve` indexes and
// watches besides DATA/images. Paths are absolute and symlink-free (the
// caller resolves them); the store only keeps them unique.
#define STORE_FOLDERS_MAX 256 // rows store_folder_add accepts

typedef struct {
    int64_t id;
    const char *path; // the store's, valid during the callback
} store_folder;
typedef int (*store_folder_fn)(void *ud, const store_folder *f);

// Adds path: 0 added, 1 already there (*id, optional, gets the row id either
// way), or an error; over STORE_FOLDERS_MAX rows is LISA_ETOOBIG.
int store_folder_add(store *s, const char *path, int64_t *id);

// Removes row id: 1 when it was there, 0 when not, or an error. The folder's
// images stay; store_image_delete_under() drops them.
int store_folder_remove(store *s, int64_t id);

// Calls fn for every folder in id order; returns 0, fn's non-zero value, or
// an error. fn must not write to s.
int store_folder_list(store *s, store_folder_fn fn, void *ud);

// The path of row id into out (cap bytes): 1 found, 0 not, or an error.
int store_folder_get(store *s, int64_t id, char *out, size_t cap);

// Images whose path lies under folder dir (dir itself excluded, "/a/b" does
// not cover "/a/bc"): *n counts them.
int store_image_count_under(store *s, const char *dir, int64_t *n);

// Deletes every image under dir (as above) from the index, with its
// keywords and embeddings, and forgets the failures under it, in one
// transaction (or inside the caller's store_begin()). *removed (optional)
// gets the count. Files on disk are never touched.
int store_image_delete_under(store *s, const char *dir, int64_t *removed);

enum {
    STORE_EXPORT_EMBEDDINGS = 1, // include vectors (base64 of the float32 bytes)
};

// Writes the whole library as one JSON document to out (borrowed):
//   {"format": "lisa-export", "version": 1, "schema": N,
//    "meta": {key: value, ...},
//    "images": [{"id", "path", "size", "mtime_ns", "hash", "width", "height",
//                "orientation", "date_taken", "date_unix", "make", "model",
//                "name_words", "meta_words", "caption", "ocr_text", "ocr_conf",
//                "indexed_at", "lens", "gps_lat", "gps_lon",
//                "keywords": {"name","meta","caption","ocr"},
//                "embeddings": [{"model", "dim", "base64"}]}, ...]}
// Unknown values are JSON null. "keywords" holds the cleaned FTS text.
// "embeddings" appears only with STORE_EXPORT_EMBEDDINGS; "base64" is the
// standard (RFC 4648, padded) encoding of dim little-endian float32. Images
// are written one at a time in id order, so memory stays flat. Reads one
// consistent snapshot.
int store_export_json(store *s, FILE *out, int flags);

#endif
