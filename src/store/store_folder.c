// The library's folders (schema v7) and the removal of a folder's images.
// Rare calls: statements are prepared per call, not cached.
#include "store/store_int.h"

#include "base/err.h"

#include <string.h>
#include <time.h>

static int prep(store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "folders");
}

// The id of path's row into *id: 1 found, 0 not, or an error.
static int folder_id(store *s, const char *path, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT id FROM folders WHERE path = ?1", &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    int out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store__err(s, rc, "folder lookup");
    sqlite3_finalize(st);
    return out;
}

static int folder_rows(store *s, int64_t *n)
{
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT count(*) FROM folders", &st);
    if (rc < 0) return rc;
    rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int out = rc == SQLITE_ROW ? 0 : store__err(s, rc, "folder count");
    sqlite3_finalize(st);
    return out;
}

int store_folder_add(store *s, const char *path, int64_t *id)
{
    int64_t got = 0, n = 0;
    if (!path || path[0] != '/' || strlen(path) >= STORE_PATH_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: folder: not an absolute path of at most %d bytes", s->path,
                           STORE_PATH_MAX - 1);
    int rc = folder_id(s, path, &got);
    if (rc < 0) return rc;
    if (rc == 1) return id ? *id = got, 1 : 1;
    if ((rc = folder_rows(s, &n)) < 0) return rc;
    if (n >= STORE_FOLDERS_MAX) return lisa_seterr(LISA_ETOOBIG, "at most %d library folders", STORE_FOLDERS_MAX);
    sqlite3_stmt *st;
    if ((rc = prep(s, "INSERT INTO folders(path, added_at) VALUES(?1, ?2)", &st)) < 0) return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    store__bind_text(st, 1, path);
    sqlite3_bind_double(st, 2, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store__err(s, rc, "folder add");
    if (id) *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_folder_remove(store *s, int64_t id)
{
    sqlite3_stmt *st;
    int rc = prep(s, "DELETE FROM folders WHERE id = ?1", &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store__err(s, rc, "folder remove");
    return sqlite3_changes(s->db) > 0;
}

int store_folder_list(store *s, store_folder_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT id, path FROM folders ORDER BY id", &st), stop = 0;
    if (rc < 0) return rc;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_folder f = {sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1)};
        stop = fn(ud, &f);
    }
    sqlite3_finalize(st);
    if (stop) return stop;
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "folder list");
}

int store_folder_get(store *s, int64_t id, char *out, size_t cap)
{
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT path FROM folders WHERE id = ?1", &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return found ? 1 : rc == SQLITE_DONE ? 0 : store__err(s, rc, "folder get");
}

// "dir/" into buf: the prefix of the paths under dir.
static int under_prefix(store *s, const char *dir, char *buf, size_t cap)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (!n || n + 2 > cap) return lisa_seterr(LISA_EINVAL, "%s: folder path empty or too long", s->path);
    memcpy(buf, dir, n);
    buf[n] = '/', buf[n + 1] = 0;
    return 0;
}

// Runs "<verb> <table> WHERE path starts with ?1<tail>"; *out (optional)
// gets the first column of a row answer, else the rows changed.
static int run_under(store *s, const char *verb, const char *table, const char *prefix, int64_t *out)
{
    char sql[200];
    int sub = !strncmp(verb, "DELETE FROM image_fts", 21);
    snprintf(sql, sizeof sql, "%s %s WHERE substr(path, 1, length(?1)) = ?1%s", verb, table, sub ? ")" : "");
    sqlite3_stmt *st;
    int rc = prep(s, sql, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, prefix);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out) *out = sqlite3_column_int64(st, 0);
    if (rc == SQLITE_DONE && out) *out = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__err(s, rc, table);
}

int store_image_count_under(store *s, const char *dir, int64_t *n)
{
    char prefix[STORE_PATH_MAX + 2];
    *n = 0;
    int rc = under_prefix(s, dir, prefix, sizeof prefix);
    return rc < 0 ? rc : run_under(s, "SELECT count(*) FROM", "images", prefix, n);
}

int store_image_delete_under(store *s, const char *dir, int64_t *removed)
{
    char prefix[STORE_PATH_MAX + 2];
    int64_t n = 0;
    int rc = under_prefix(s, dir, prefix, sizeof prefix);
    if (rc < 0) return rc;
    if ((rc = store__sp_begin(s)) < 0) return rc;
    rc = run_under(s, "DELETE FROM image_fts WHERE rowid IN (SELECT id FROM", "images", prefix, NULL);
    if (rc == 0) rc = run_under(s, "DELETE FROM", "images", prefix, &n);
    if (rc == 0) rc = run_under(s, "DELETE FROM", "failures", prefix, NULL);
    if (removed) *removed = n;
    return store__sp_end(s, rc);
}
