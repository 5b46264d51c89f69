// Uploads (the name a file came with, its content hash) and perceptual
// hashes: the tables of schema v6, for names kept and duplicates caught.
// Statements are prepared per call: these run once per upload or once per
// duplicate scan, never in a hot loop.
#include "store/store_int.h"

#include "base/err.h"
#include "base/sha256.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int prep(store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "prepare");
}

// Steps a statement that returns no row, finalizes it.
static int run_done(store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, what);
}

static int check_sha(const store *s, const char *sha256)
{
    if (!sha256 || !sha256_is_hex(sha256) || strlen(sha256) != SHA256_HEX_LEN)
        return lisa_seterr(LISA_EINVAL, "%s: content hash is not 64 hex digits", s->path);
    return 0;
}

// ---------------------------------------------------------------- uploads

int store_upload_put(store *s, const char *path, const char *original, const char *sha256)
{
    if (!path || !*path || strlen(path) >= STORE_PATH_MAX || !original || !*original || strlen(original) > 1024)
        return lisa_seterr(LISA_EINVAL, "%s: upload record: empty or over-long path or name", s->path);
    int rc = check_sha(s, sha256);
    sqlite3_stmt *st;
    if (rc < 0 || (rc = prep(s,
                             "INSERT INTO uploads(path, original_name, sha256, uploaded_at) VALUES(?1, ?2, ?3, ?4)"
                             " ON CONFLICT(path) DO UPDATE SET original_name = ?2, sha256 = ?3, uploaded_at = ?4",
                             &st)) < 0)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    store__bind_text(st, 1, path);
    store__bind_text(st, 2, original);
    store__bind_text(st, 3, sha256);
    sqlite3_bind_double(st, 4, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
    return run_done(s, st, "upload record");
}

int store_upload_name(store *s, const char *path, char **original)
{
    sqlite3_stmt *st;
    *original = NULL;
    int rc = prep(s, "SELECT original_name FROM uploads WHERE path = ?1", &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    int step = sqlite3_step(st);
    rc = 0;
    if (step == SQLITE_ROW)
        *original = store__col_dup(st, 0, &rc);
    else if (step == SQLITE_DONE)
        rc = lisa_seterr(LISA_ENOTFOUND, "%s: not an upload", path);
    else
        rc = store__err(s, step, "upload name");
    sqlite3_finalize(st);
    return rc;
}

int store_upload_by_hash(store *s, const char *sha256, char **paths, int max, int *n)
{
    sqlite3_stmt *st;
    *n = 0;
    int rc = check_sha(s, sha256);
    if (rc < 0 || (rc = prep(s, "SELECT path FROM uploads WHERE sha256 = ?1 ORDER BY uploaded_at, path", &st)) < 0)
        return rc;
    store__bind_text(st, 1, sha256);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!(paths[*n] = store__col_dup(st, 0, &rc)) || rc < 0) break;
        ++*n;
    }
    if (rc == 0 && *n < max && step != SQLITE_DONE) rc = store__err(s, step, "uploads by hash");
    sqlite3_finalize(st);
    if (rc < 0)
        while (*n > 0) free(paths[--*n]);
    return rc;
}

int store_upload_forget(store *s, const char *path)
{
    sqlite3_stmt *st;
    int rc = prep(s, "DELETE FROM uploads WHERE path = ?1", &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    return run_done(s, st, "forgetting an upload");
}

// ---------------------------------------------------------------- perceptual hashes

int store_phash_put(store *s, const char *sha256, uint64_t ph)
{
    sqlite3_stmt *st;
    int rc = check_sha(s, sha256);
    if (rc < 0 || (rc = prep(s, "INSERT OR REPLACE INTO phash(sha256, phash) VALUES(?1, ?2)", &st)) < 0) return rc;
    store__bind_text(st, 1, sha256);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)ph); // stored as the same 64 bits, signed
    return run_done(s, st, "perceptual hash put");
}

int store_phash_get(store *s, const char *sha256, uint64_t *ph)
{
    sqlite3_stmt *st;
    int rc = check_sha(s, sha256);
    if (rc < 0 || (rc = prep(s, "SELECT phash FROM phash WHERE sha256 = ?1", &st)) < 0) return rc;
    store__bind_text(st, 1, sha256);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *ph = (uint64_t)sqlite3_column_int64(st, 0), rc = 0;
    else if (step == SQLITE_DONE)
        rc = lisa_seterr(LISA_ENOTFOUND, "%s: no perceptual hash for %.12s", s->path, sha256);
    else
        rc = store__err(s, step, "perceptual hash get");
    sqlite3_finalize(st);
    return rc;
}

int store_dup_list(store *s, store_dup_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int opened, rc = store__read_begin(s, &opened);
    if (rc < 0) return rc;
    if ((rc = prep(s,
                   "SELECT i.id, i.path, i.hash, p.phash FROM images i LEFT JOIN phash p ON p.sha256 = i.hash"
                   " WHERE i.hash IS NOT NULL ORDER BY i.hash, i.id",
                   &st)) < 0) {
        store__read_end(s, opened);
        return rc;
    }
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_dup_entry e = {.id = sqlite3_column_int64(st, 0),
                             .path = (const char *)sqlite3_column_text(st, 1),
                             .sha256 = (const char *)sqlite3_column_text(st, 2),
                             .has_phash = sqlite3_column_type(st, 3) != SQLITE_NULL,
                             .phash = (uint64_t)sqlite3_column_int64(st, 3)};
        if ((rc = fn(ud, &e)) != 0) break;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = store__err(s, step, "duplicate listing");
    sqlite3_finalize(st);
    store__read_end(s, opened);
    return rc;
}
