// Image rows and their FTS rows: upsert, get, find by hash, move, delete, list.
#include "store/store_int.h"
#include "base/err.h"
#include "base/sha256.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void store_image_clear(store_image *im)
{
    char **strs[] = {&im->path,       &im->hash,       &im->date_taken, &im->make,     &im->model,
                     &im->name_words, &im->meta_words, &im->caption,    &im->ocr_text, &im->kw_name,
                     &im->kw_meta,    &im->kw_caption, &im->kw_ocr,     &im->lens};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free(*strs[i]);
    memset(im, 0, sizeof *im);
}

// ---------------------------------------------------------------- validation

static int check_text(const store *s, const char *field, const char *v, size_t max)
{
    if (v && strlen(v) > max)
        return lisa_seterr(LISA_EINVAL, "%s: image field %s: %zu bytes, over the %zu-byte limit", s->path, field,
                           strlen(v), max);
    return 0;
}

static int check_image(const store *s, const store_image *im)
{
    if (!im->path || !*im->path) return lisa_seterr(LISA_EINVAL, "%s: image without a path", s->path);
    if (im->hash && !sha256_is_hex(im->hash))
        return lisa_seterr(LISA_EINVAL, "%s: image %s: hash is not 64 hex digits", s->path, im->path);
    const char *names[] = {"date_taken", "make",    "model",   "name_words", "meta_words", "caption",
                           "ocr_text",   "kw_name", "kw_meta", "kw_caption", "kw_ocr",     "lens"};
    const char *vals[] = {im->date_taken, im->make,    im->model,   im->name_words, im->meta_words, im->caption,
                          im->ocr_text,   im->kw_name, im->kw_meta, im->kw_caption, im->kw_ocr,     im->lens};
    int rc = check_text(s, "path", im->path, STORE_PATH_MAX);
    for (size_t i = 0; rc == 0 && i < sizeof vals / sizeof vals[0]; i++)
        rc = check_text(s, names[i], vals[i], STORE_TEXT_MAX);
    return rc;
}

// ---------------------------------------------------------------- upsert

// Existing id and hash for path (*id 0 when the path is new). When the stored
// hash differs from `hash`, the row's embeddings are deleted.
static int drop_stale_vectors(store *s, const char *path, const char *hash)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_HASH_OF_PATH, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return store__err(s, rc, "upsert lookup");
    int64_t id = sqlite3_column_int64(st, 0);
    const char *old = (const char *)sqlite3_column_text(st, 1);
    int stale = old && hash && strcmp(old, hash) != 0;
    sqlite3_reset(st);
    if (!stale) return 0;
    if ((rc = store__stmt(s, ST_EMB_DEL_IMAGE, &st)) < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "deleting stale embeddings");
}

static void bind_image(sqlite3_stmt *st, const store_image *im)
{
    store__bind_text(st, 1, im->path);
    sqlite3_bind_int64(st, 2, im->size);
    sqlite3_bind_int64(st, 3, im->mtime_ns);
    store__bind_text(st, 4, im->hash);
    sqlite3_bind_int(st, 5, im->width);
    sqlite3_bind_int(st, 6, im->height);
    sqlite3_bind_int(st, 7, im->orientation);
    store__bind_text(st, 8, im->date_taken);
    if (im->date_unix != STORE_NO_DATE) sqlite3_bind_int64(st, 9, im->date_unix);
    store__bind_text(st, 10, im->make);
    store__bind_text(st, 11, im->model);
    store__bind_text(st, 12, im->name_words);
    store__bind_text(st, 13, im->meta_words);
    store__bind_text(st, 14, im->caption);
    store__bind_text(st, 15, im->ocr_text);
    sqlite3_bind_double(st, 16, im->ocr_conf);
    sqlite3_bind_double(st, 17, im->indexed_at > 0 ? im->indexed_at : (double)time(NULL));
    store__bind_text(st, 18, im->lens);
    if (im->has_gps) sqlite3_bind_double(st, 19, im->lat), sqlite3_bind_double(st, 20, im->lon);
}

static int upsert_row(store *s, const store_image *im, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_UPSERT, &st);
    if (rc < 0) return rc;
    bind_image(st, im);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return store__err(s, rc, "upsert");
    *id = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "upsert");
}

static const char *or_empty(const char *v)
{
    return v ? v : "";
}

// Replaces the FTS row of id with the four cleaned columns.
static int fts_put(store *s, int64_t id, const store_image *im)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FTS_DELETE, &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE) return store__err(s, rc, "fts delete");
    if ((rc = store__stmt(s, ST_FTS_INSERT, &st)) < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    store__bind_text(st, 2, or_empty(im->kw_name));
    store__bind_text(st, 3, or_empty(im->kw_meta));
    store__bind_text(st, 4, or_empty(im->kw_caption));
    store__bind_text(st, 5, or_empty(im->kw_ocr));
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "fts insert");
}

int store_image_upsert(store *s, const store_image *im, int64_t *id)
{
    int64_t rid = 0;
    int rc = check_image(s, im);
    if (rc < 0) return rc;
    if ((rc = store__sp_begin(s)) < 0) return rc;
    rc = drop_stale_vectors(s, im->path, im->hash);
    if (rc == 0) rc = upsert_row(s, im, &rid);
    if (rc == 0) rc = fts_put(s, rid, im);
    rc = store__sp_end(s, rc);
    if (rc == 0 && id) *id = rid;
    return rc;
}

// ---------------------------------------------------------------- get

static int read_row(sqlite3_stmt *st, store_image *im)
{
    int rc = 0;
    im->id = sqlite3_column_int64(st, 0);
    im->path = store__col_dup(st, 1, &rc);
    im->size = sqlite3_column_int64(st, 2);
    im->mtime_ns = sqlite3_column_int64(st, 3);
    im->hash = store__col_dup(st, 4, &rc);
    im->width = sqlite3_column_int(st, 5);
    im->height = sqlite3_column_int(st, 6);
    im->orientation = sqlite3_column_int(st, 7);
    im->date_taken = store__col_dup(st, 8, &rc);
    im->date_unix = sqlite3_column_type(st, 9) == SQLITE_NULL ? STORE_NO_DATE : sqlite3_column_int64(st, 9);
    im->make = store__col_dup(st, 10, &rc);
    im->model = store__col_dup(st, 11, &rc);
    im->name_words = store__col_dup(st, 12, &rc);
    im->meta_words = store__col_dup(st, 13, &rc);
    im->caption = store__col_dup(st, 14, &rc);
    im->ocr_text = store__col_dup(st, 15, &rc);
    im->ocr_conf = sqlite3_column_double(st, 16);
    im->indexed_at = sqlite3_column_double(st, 17);
    im->lens = store__col_dup(st, 18, &rc);
    im->has_gps = sqlite3_column_type(st, 19) != SQLITE_NULL;
    im->lat = sqlite3_column_double(st, 19), im->lon = sqlite3_column_double(st, 20);
    return rc;
}

static int get_one(store *s, sqlite3_stmt *st, const char *what, store_image *out)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return lisa_seterr(LISA_ENOTFOUND, "%s: no image %s", s->path, what);
    if (rc != SQLITE_ROW) return store__err(s, rc, "image get");
    rc = read_row(st, out);
    sqlite3_reset(st);
    if (rc < 0) store_image_clear(out);
    return rc;
}

int store_image_get_by_path(store *s, const char *path, store_image *out)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_GET_PATH, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    return get_one(s, st, path, out);
}

int store_image_get(store *s, int64_t id, store_image *out)
{
    char what[32];
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_GET_ID, &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    snprintf(what, sizeof what, "id %lld", (long long)id);
    return get_one(s, st, what, out);
}

int store_image_find_by_hash(store *s, const char *hash, int64_t *ids, int max, int *n)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_BY_HASH, &st);
    *n = 0;
    if (rc < 0 || max <= 0 || !hash) return rc;
    store__bind_text(st, 1, hash);
    sqlite3_bind_int(st, 2, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) ids[(*n)++] = sqlite3_column_int64(st, 0);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "find by hash");
}

// ---------------------------------------------------------------- move, delete

static int path_owner(store *s, const char *path, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_ID_OF_PATH, &st);
    *id = 0;
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__err(s, rc, "path lookup");
}

static int move_row(store *s, int64_t id, const char *new_path, const char *name_words)
{
    int64_t owner;
    sqlite3_stmt *st;
    int rc = path_owner(s, new_path, &owner);
    if (rc < 0) return rc;
    if (owner && owner != id)
        return lisa_seterr(LISA_EBUSY, "%s: move of image %lld: %s is already image %lld", s->path, (long long)id,
                           new_path, (long long)owner);
    if ((rc = store__stmt(s, ST_IMG_MOVE, &st)) < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    store__bind_text(st, 2, new_path);
    store__bind_text(st, 3, name_words);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE) return store__err(s, rc, "move");
    if (sqlite3_changes(s->db) == 0)
        return lisa_seterr(LISA_ENOTFOUND, "%s: move: no image id %lld", s->path, (long long)id);
    return 0;
}

static int fts_set_name(store *s, int64_t id, const char *kw_name)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FTS_SET_NAME, &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    store__bind_text(st, 2, or_empty(kw_name));
    if ((rc = sqlite3_step(st)) != SQLITE_DONE) return store__err(s, rc, "fts rename");
    if (sqlite3_changes(s->db) > 0) return 0;
    store_image im = {.kw_name = (char *)kw_name}; // row missing: recreate it
    return fts_put(s, id, &im);
}

int store_image_move(store *s, int64_t id, const char *new_path, const char *name_words, const char *kw_name)
{
    store_image chk = {.path = (char *)new_path, .name_words = (char *)name_words, .kw_name = (char *)kw_name};
    int rc = check_image(s, &chk);
    if (rc < 0) return rc;
    if ((rc = store__sp_begin(s)) < 0) return rc;
    rc = move_row(s, id, new_path, name_words);
    if (rc == 0) rc = fts_set_name(s, id, kw_name);
    return store__sp_end(s, rc);
}

static int step_id(store *s, int which, int64_t id, const char *what)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, which, &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, what);
}

int store_image_delete(store *s, int64_t id)
{
    int rc = store__sp_begin(s);
    if (rc < 0) return rc;
    rc = step_id(s, ST_IMG_DELETE, id, "delete");
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = lisa_seterr(LISA_ENOTFOUND, "%s: delete: no image id %lld", s->path, (long long)id);
    if (rc == 0) rc = step_id(s, ST_FTS_DELETE, id, "fts delete");
    return store__sp_end(s, rc);
}

// ---------------------------------------------------------------- list, count

int store_image_list(store *s, const char *prefix, store_list_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_LIST, &st), stop = 0;
    if (rc < 0) return rc;
    if (prefix && *prefix) store__bind_text(st, 1, prefix);
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_entry e = {
            .id = sqlite3_column_int64(st, 0),
            .path = (const char *)sqlite3_column_text(st, 1),
            .size = sqlite3_column_int64(st, 2),
            .mtime_ns = sqlite3_column_int64(st, 3),
            .hash = (const char *)sqlite3_column_text(st, 4),
        };
        stop = fn(ud, &e);
    }
    sqlite3_reset(st);
    if (stop) return stop;
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "list");
}

int store_image_count(store *s, int64_t *n)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_IMG_COUNT, &st);
    *n = 0;
    if (rc < 0) return rc;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) return store__err(s, rc, "count");
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}
