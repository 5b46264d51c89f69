// The store's connection: open, schema migrations, transactions, the
// statement cache, the key/value table and stats. Images, embeddings, FTS and
// export live in store_img.c, store_emb.c, store_fts.c and store_export.c.
#include "store/store_int.h"
#include "base/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

// ---------------------------------------------------------------- migrations

// Step v takes user_version from v-1 to v. Never edit a released step: add one.
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    // v1: images with file facts, date and camera; embeddings; key/value.
    "CREATE TABLE images("
    " id INTEGER PRIMARY KEY,"
    " path TEXT NOT NULL UNIQUE,"
    " size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL,"
    " hash TEXT,"
    " width INTEGER NOT NULL DEFAULT 0,"
    " height INTEGER NOT NULL DEFAULT 0,"
    " orientation INTEGER NOT NULL DEFAULT 0,"
    " date_taken TEXT,"
    " date_unix INTEGER,"
    " make TEXT,"
    " model TEXT,"
    " indexed_at REAL NOT NULL DEFAULT 0);"
    "CREATE INDEX images_hash ON images(hash);"
    // (model, image_id) first: loading one model's matrix is a range scan.
    "CREATE TABLE embeddings("
    " model TEXT NOT NULL,"
    " image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " dim INTEGER NOT NULL,"
    " vec BLOB NOT NULL,"
    " PRIMARY KEY(model, image_id)) WITHOUT ROWID;"
    "CREATE INDEX embeddings_image ON embeddings(image_id);"
    "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    // v2: keyword fields and the FTS5 index; every image gets its FTS row.
    "ALTER TABLE images ADD COLUMN name_words TEXT;"
    "ALTER TABLE images ADD COLUMN meta_words TEXT;"
    "ALTER TABLE images ADD COLUMN caption TEXT;"
    "ALTER TABLE images ADD COLUMN ocr_text TEXT;"
    "ALTER TABLE images ADD COLUMN ocr_conf REAL NOT NULL DEFAULT 0;"
    "CREATE VIRTUAL TABLE image_fts USING fts5(name, meta, caption, ocr,"
    " tokenize = \"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\");"
    "INSERT INTO image_fts(rowid, name, meta, caption, ocr)"
    " SELECT id, '', '', '', '' FROM images;",
    // v3: files that failed to decode, so unchanged ones are not retried.
    "CREATE TABLE failures("
    " path TEXT PRIMARY KEY,"
    " size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL,"
    " error TEXT NOT NULL,"
    " failed_at REAL NOT NULL) WITHOUT ROWID;",
    // v4 (issue 11): lens and GPS position, for the lens: and near: filters.
    "ALTER TABLE images ADD COLUMN lens TEXT;"
    "ALTER TABLE images ADD COLUMN gps_lat REAL;"
    "ALTER TABLE images ADD COLUMN gps_lon REAL;",
    // v5 (issue 15): vectors as fp16 (lisa_vec_f16(), registered on every connection,
    // rounds each float32 to nearest even), in a rowid table: a WITHOUT ROWID
    // row keeps at most ~1000 bytes in its page, so every 512-d vector put
    // its tail in an overflow page of its own (4 KB a vector, 4.8 GB for 1M);
    // a rowid row holds ~4 KB in place (1.1 KB a vector). And a change log of
    // embeddings for the ANN index file (search/vindex.h), filled by triggers
    // in the same transaction as the change, so the file can catch up.
    "CREATE TABLE embeddings_v5("
    " model TEXT NOT NULL,"
    " image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " dim INTEGER NOT NULL,"
    " vec BLOB NOT NULL,"
    " PRIMARY KEY(model, image_id));"
    "INSERT INTO embeddings_v5(model, image_id, dim, vec) SELECT model, image_id, dim,"
    " CASE WHEN length(vec) = 4 * dim THEN lisa_vec_f16(vec) ELSE vec END FROM embeddings ORDER BY model, image_id;"
    "DROP TABLE embeddings;"
    "ALTER TABLE embeddings_v5 RENAME TO embeddings;"
    "CREATE INDEX embeddings_image ON embeddings(image_id);"
    "CREATE TABLE emb_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, image_id INTEGER NOT NULL);"
    "CREATE INDEX emb_log_model ON emb_log(model, seq);"
    "CREATE TRIGGER emb_log_ins AFTER INSERT ON embeddings BEGIN"
    " INSERT INTO emb_log(model, image_id) VALUES(new.model, new.image_id); END;"
    "CREATE TRIGGER emb_log_upd AFTER UPDATE ON embeddings BEGIN"
    " INSERT INTO emb_log(model, image_id) VALUES(old.model, old.image_id);"
    " INSERT INTO emb_log(model, image_id) VALUES(new.model, new.image_id); END;"
    "CREATE TRIGGER emb_log_del AFTER DELETE ON embeddings BEGIN"
    " INSERT INTO emb_log(model, image_id) VALUES(old.model, old.image_id); END;",
    // v6 (issue 12): the name each upload had (NFC) and its content hash, so a
    // second upload of the same bytes is caught before it is indexed; and the
    // perceptual hash of each content (keyed by SHA-256: a copy shares it, an
    // edit gets a new one, nothing goes stale) for near-duplicates.
    "CREATE TABLE uploads("
    " path TEXT PRIMARY KEY,"
    " original_name TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " uploaded_at REAL NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX uploads_sha ON uploads(sha256);"
    "CREATE TABLE phash(sha256 TEXT PRIMARY KEY, phash INTEGER NOT NULL) WITHOUT ROWID;",
    // v7 (issue 16): the library's folders, indexed in place and watched by
    // `lisa serve` (DATA/images is implicit, never a row).
    "CREATE TABLE folders("
    " id INTEGER PRIMARY KEY,"
    " path TEXT NOT NULL UNIQUE,"
    " added_at REAL NOT NULL);",
};

const char *store_migration_sql(int v)
{
    return v >= 1 && v <= STORE_SCHEMA_VERSION ? migrations[v - 1] : NULL;
}

// ---------------------------------------------------------------- errors, statements

int store__err(store *s, int rc, const char *what)
{
    int code;
    switch (rc & 0xff) {
    case SQLITE_NOMEM: code = LISA_ENOMEM; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = LISA_EBUSY; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: code = LISA_EFORMAT; break;
    case SQLITE_TOOBIG: code = LISA_ETOOBIG; break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_ERROR: code = LISA_EINVAL; break;
    default: code = LISA_EIO; break;
    }
    return lisa_seterr(code, "%s: %s: %s", s && s->path ? s->path : "store", what,
                       s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static const char *const stmt_sql[ST_COUNT] = {
    [ST_IMG_UPSERT] = "INSERT INTO images(path, size, mtime_ns, hash, width, height, orientation,"
                      " date_taken, date_unix, make, model, name_words, meta_words, caption, ocr_text,"
                      " ocr_conf, indexed_at, lens, gps_lat, gps_lon)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
                      " ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,"
                      " hash=excluded.hash, width=excluded.width, height=excluded.height,"
                      " orientation=excluded.orientation, date_taken=excluded.date_taken,"
                      " date_unix=excluded.date_unix, make=excluded.make, model=excluded.model,"
                      " name_words=excluded.name_words, meta_words=excluded.meta_words,"
                      " caption=excluded.caption, ocr_text=excluded.ocr_text, ocr_conf=excluded.ocr_conf,"
                      " indexed_at=excluded.indexed_at, lens=excluded.lens, gps_lat=excluded.gps_lat,"
                      " gps_lon=excluded.gps_lon RETURNING id",
    [ST_IMG_HASH_OF_PATH] = "SELECT id, hash FROM images WHERE path = ?1",
    [ST_IMG_GET_PATH] = "SELECT id, path, size, mtime_ns, hash, width, height, orientation, date_taken,"
                        " date_unix, make, model, name_words, meta_words, caption, ocr_text, ocr_conf,"
                        " indexed_at, lens, gps_lat, gps_lon FROM images WHERE path = ?1",
    [ST_IMG_GET_ID] = "SELECT id, path, size, mtime_ns, hash, width, height, orientation, date_taken,"
                      " date_unix, make, model, name_words, meta_words, caption, ocr_text, ocr_conf,"
                      " indexed_at, lens, gps_lat, gps_lon FROM images WHERE id = ?1",
    [ST_IMG_BY_HASH] = "SELECT id FROM images WHERE hash = ?1 ORDER BY id LIMIT ?2",
    [ST_IMG_ID_OF_PATH] = "SELECT id FROM images WHERE path = ?1",
    [ST_IMG_MOVE] = "UPDATE images SET path = ?2, name_words = ?3 WHERE id = ?1",
    [ST_IMG_DELETE] = "DELETE FROM images WHERE id = ?1",
    [ST_IMG_LIST] = "SELECT id, path, size, mtime_ns, hash FROM images"
                    " WHERE ?1 IS NULL OR substr(path, 1, length(?1)) = ?1 ORDER BY path",
    [ST_IMG_COUNT] = "SELECT count(*) FROM images",
    [ST_FTS_DELETE] = "DELETE FROM image_fts WHERE rowid = ?1",
    [ST_FTS_INSERT] = "INSERT INTO image_fts(rowid, name, meta, caption, ocr) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_FTS_SET_NAME] = "UPDATE image_fts SET name = ?2 WHERE rowid = ?1",
    [ST_FTS_SEARCH] = "SELECT rowid, lisa_bm25(image_fts), lisa_cols(image_fts) FROM image_fts"
                      " WHERE image_fts MATCH ?1", // top-k in C: store_keyword_search
    [ST_EMB_PUT] = "INSERT INTO embeddings(model, image_id, dim, vec) VALUES(?1, ?2, ?3, ?4)"
                   " ON CONFLICT(model, image_id) DO UPDATE SET dim = excluded.dim, vec = excluded.vec",
    [ST_EMB_HAS] = "SELECT 1 FROM embeddings WHERE model = ?1 AND image_id = ?2 AND dim = ?3",
    [ST_EMB_COPY] = "INSERT OR REPLACE INTO embeddings(model, image_id, dim, vec)"
                    " SELECT model, ?2, dim, vec FROM embeddings WHERE image_id = ?1",
    [ST_EMB_GET] = "SELECT vec FROM embeddings WHERE model = ?1 AND image_id = ?2 AND dim = ?3",
    [ST_EMB_COUNT] = "SELECT count(*) FROM embeddings WHERE model = ?1 AND dim = ?2",
    [ST_EMB_LOAD] = "SELECT image_id, vec FROM embeddings WHERE model = ?1 AND dim = ?2 ORDER BY image_id",
    [ST_EMB_DEL_IMAGE] = "DELETE FROM embeddings WHERE image_id = ?1",
    [ST_EMB_LOG] = "SELECT seq, image_id FROM emb_log WHERE model = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_EMB_LOG_MAX] = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'emb_log'), 0)",
    [ST_KV_SET] = "INSERT INTO kv(key, value) VALUES(?1, ?2)"
                  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_KV_DEL] = "DELETE FROM kv WHERE key = ?1",
    [ST_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    [ST_FAIL_PUT] = "INSERT INTO failures(path, size, mtime_ns, error, failed_at) VALUES(?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT(path) DO UPDATE SET size = ?2, mtime_ns = ?3, error = ?4, failed_at = ?5",
    [ST_FAIL_GET] = "SELECT size, mtime_ns, error FROM failures WHERE path = ?1",
    [ST_FAIL_DEL] = "DELETE FROM failures WHERE path = ?1",
    [ST_FAIL_LIST] = "SELECT path, size, mtime_ns, error, failed_at FROM failures"
                     " WHERE ?1 IS NULL OR substr(path, 1, length(?1)) = ?1 ORDER BY path",
};

int store__stmt(store *s, int which, sqlite3_stmt **st)
{
    if (which == ST_FTS_DELETE || which == ST_FTS_INSERT || which == ST_FTS_SET_NAME) s->fts_writes++;
    if ((*st = s->st[which])) {
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
        return 0;
    }
    int rc = sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->st[which], NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "prepare");
    *st = s->st[which];
    return 0;
}

int store__bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

char *store__col_dup(sqlite3_stmt *st, int i, int *rc)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return NULL;
    char *d = strdup((const char *)t);
    if (!d) *rc = lisa_seterr(LISA_ENOMEM, "store: copying a text column");
    return d;
}

int store__exec(store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, what);
}

// ---------------------------------------------------------------- transactions

int store__sp_begin(store *s)
{
    return store__exec(s, "SAVEPOINT lisa_w", "savepoint");
}

int store__sp_end(store *s, int rc)
{
    if (rc == 0) return store__exec(s, "RELEASE lisa_w", "release savepoint");
    sqlite3_exec(s->db, "ROLLBACK TO lisa_w; RELEASE lisa_w", NULL, NULL, NULL);
    return rc;
}

int store__read_begin(store *s, int *opened)
{
    *opened = 0;
    if (s->in_tx || !sqlite3_get_autocommit(s->db)) return 0;
    int rc = store__exec(s, "BEGIN DEFERRED", "begin read");
    if (rc == 0) *opened = 1;
    return rc;
}

void store__read_end(store *s, int opened)
{
    if (opened) sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int store_begin(store *s)
{
    if (s->in_tx) return lisa_seterr(LISA_EINVAL, "%s: a transaction is already open", s->path);
    int rc = store__exec(s, "BEGIN IMMEDIATE", "begin");
    if (rc == 0) s->in_tx = 1;
    return rc;
}

int store_commit(store *s)
{
    if (!s->in_tx) return lisa_seterr(LISA_EINVAL, "%s: commit without a transaction", s->path);
    int rc = store__exec(s, "COMMIT", "commit");
    if (rc == 0) s->in_tx = 0;
    return rc;
}

int store_rollback(store *s)
{
    if (!s->in_tx) return 0;
    s->in_tx = 0;
    return store__exec(s, "ROLLBACK", "rollback");
}

// ---------------------------------------------------------------- open, migrate

static int user_version(store *s, int *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "reading the schema version");
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store__err(s, rc, "reading the schema version");
}

// One migration step in its own transaction. The version is read again under
// the write lock, so two processes opening a new file do not both migrate.
static int migrate_step(store *s, int v)
{
    char sql[64];
    int cur, rc = store__exec(s, "BEGIN IMMEDIATE", "migration begin");
    if (rc < 0) return rc;
    if ((rc = user_version(s, &cur)) < 0) goto fail;
    if (cur >= v) return store__exec(s, "COMMIT", "migration commit");
    if ((rc = store__exec(s, migrations[v - 1], "migration")) < 0) goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    if ((rc = store__exec(s, sql, "migration version")) < 0) goto fail;
    return store__exec(s, "COMMIT", "migration commit");
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    lisa_seterr(rc, "%s: migrating the schema to v%d: %s", s->path, v, lisa_errmsg_for(rc));
    return rc;
}

static int migrate(store *s)
{
    if (s->found_version > STORE_SCHEMA_VERSION)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: schema v%d is newer than this build's v%d", s->path,
                           s->found_version, STORE_SCHEMA_VERSION);
    if (s->found_version == STORE_SCHEMA_VERSION) return 0;
    if (s->flags & STORE_READONLY)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: schema v%d is older than v%d; open it read-write once to migrate",
                           s->path, s->found_version, STORE_SCHEMA_VERSION);
    for (int v = s->found_version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        int rc = migrate_step(s, v);
        if (rc < 0) return rc;
    }
    return 0;
}

// WAL, busy timeout, foreign keys. journal_mode answers with the mode in force.
static int configure(store *s)
{
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    int rc = store__exec(s, "PRAGMA foreign_keys = ON", "foreign_keys");
    if (rc < 0 || (s->flags & STORE_READONLY)) return rc;
    sqlite3_stmt *st;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (src != SQLITE_OK) return store__err(s, src, "journal_mode");
    src = sqlite3_step(st);
    const char *mode = src == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int ok = mode && (!strcmp(mode, "wal") || !strcmp(mode, "memory"));
    if (!ok)
        rc = src == SQLITE_ROW ? lisa_seterr(LISA_EIO, "%s: cannot enable WAL (mode %s)", s->path, mode ? mode : "?")
                               : store__err(s, src, "journal_mode");
    sqlite3_finalize(st);
    if (rc < 0) return rc;
    return store__exec(s, "PRAGMA synchronous = NORMAL", "synchronous");
}

// 1 when the file system holding path has no block left for us.
static int disk_full(const char *path)
{
    char dir[STORE_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    struct statvfs v;
    return statvfs(slash ? dir : ".", &v) == 0 && v.f_bavail == 0;
}

// Read-only, without locks, WAL or -shm (SQLite's immutable=1): what a full
// disk still allows. Commits still in a WAL file are not seen.
static int open_immutable(store *s, const char *path)
{
    char uri[3 * STORE_PATH_MAX + 32];
    size_t o = (size_t)snprintf(uri, sizeof uri, "file:");
    for (const char *p = path; *p && o + 4 < sizeof uri; p++)
        o += *p == '?' || *p == '#' || *p == '%' ? (size_t)snprintf(uri + o, 4, "%%%02X", (unsigned char)*p)
                                                 : (uri[o] = *p, 1);
    snprintf(uri + o, sizeof uri - o, "?immutable=1");
    int rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "open (read-only, the disk is full)");
    sqlite3_extended_result_codes(s->db, 1);
    return 0;
}

static int open_db(store *s, const char *path, int flags)
{
    struct stat sb;
    if (strcmp(path, ":memory:") && stat(path, &sb) != 0) {
        if (errno != ENOENT) return lisa_seterr(LISA_EIO, "%s: %s", path, strerror(errno));
        if (!(flags & STORE_CREATE) || (flags & STORE_READONLY))
            return lisa_seterr(LISA_ENOTFOUND, "%s: no such database", path);
    }
    int of = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, of | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "open");
    sqlite3_extended_result_codes(s->db, 1);
    return 0;
}

int store_open(const char *path, int flags, store **out)
{
    *out = NULL;
    if (!path || !*path) return lisa_seterr(LISA_EINVAL, "store_open: empty path");
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lisa_seterr(LISA_ENOMEM, "%s: store handle", path);
    }
    s->flags = flags;
    int rc = open_db(s, path, flags);
    if (rc == 0) rc = configure(s);
    if (rc < 0 && !(flags & STORE_READONLY) && strcmp(path, ":memory:") && access(path, R_OK) == 0 &&
        disk_full(path)) { // the WAL cannot be set up: read the committed file as it is
        sqlite3_close(s->db);
        s->db = NULL;
        s->flags = flags | STORE_READONLY, s->disk_full = 1;
        rc = open_immutable(s, path);
        if (rc == 0) rc = configure(s);
    }
    if (rc == 0) rc = user_version(s, &s->found_version);
    if (rc == 0) rc = store__vec_register(s);
    if (rc == 0) rc = migrate(s);
    if (rc == 0) rc = store__fts_register(s);
    if (rc == 0) rc = store__query_register(s);
    if (rc < 0) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s) return;
    if (s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s->fts_len);
    free(s->path);
    free(s);
}

int store_disk_full(const store *s)
{
    return s->disk_full;
}

int store_schema_found(const store *s)
{
    return s->found_version;
}

// ---------------------------------------------------------------- key/value

int store_meta_set(store *s, const char *key, const char *value)
{
    if (!key || !*key) return lisa_seterr(LISA_EINVAL, "%s: empty meta key", s->path);
    if (value && strlen(value) > STORE_TEXT_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: meta %s: value over %d bytes", s->path, key, STORE_TEXT_MAX);
    sqlite3_stmt *st;
    int rc = store__stmt(s, value ? ST_KV_SET : ST_KV_DEL, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, key);
    if (value) store__bind_text(st, 2, value);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "meta set");
}

int store_meta_get(store *s, const char *key, char **value)
{
    sqlite3_stmt *st;
    int rc, err = 0;
    *value = NULL;
    if ((rc = store__stmt(s, ST_KV_GET, &st)) < 0) return rc;
    store__bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return lisa_seterr(LISA_ENOTFOUND, "%s: meta %s: not set", s->path, key);
    if (rc != SQLITE_ROW) return store__err(s, rc, "meta get");
    *value = store__col_dup(st, 0, &err);
    sqlite3_reset(st);
    return err;
}

// ---------------------------------------------------------------- stats

static int64_t scalar(store *s, const char *sql, int *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    int64_t v = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (!*err)
        *err = store__err(s, rc, "stats");
    sqlite3_finalize(st);
    return v;
}

static int64_t file_bytes(const char *path, const char *suffix)
{
    char p[STORE_PATH_MAX + 16];
    struct stat sb;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int stats_models(store *s, store_stats *st)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT model, dim, count(*) FROM embeddings"
                                " GROUP BY model, dim ORDER BY model, dim",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "stats models");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && st->n_models < STORE_STATS_MODELS) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        snprintf(st->models[st->n_models].id, STORE_MODEL_ID_MAX, "%s", id ? id : "");
        st->models[st->n_models].dim = sqlite3_column_int(q, 1);
        st->models[st->n_models++].count = sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__err(s, rc, "stats models");
}

int store_get_stats(store *s, store_stats *st)
{
    int err = 0, opened;
    memset(st, 0, sizeof *st);
    if ((err = store__read_begin(s, &opened)) < 0) return err;
    st->images = scalar(s, "SELECT count(*) FROM images", &err);
    st->embeddings = scalar(s, "SELECT count(*) FROM embeddings", &err);
    st->with_caption = scalar(s, "SELECT count(*) FROM images WHERE caption <> ''", &err);
    st->with_ocr = scalar(s, "SELECT count(*) FROM images WHERE ocr_text <> ''", &err);
    st->with_date = scalar(s, "SELECT count(*) FROM images WHERE date_unix IS NOT NULL", &err);
    st->failed = scalar(s, "SELECT count(*) FROM failures", &err);
    if (!err) err = stats_models(s, st);
    char *last = NULL;
    if (!err && store_meta_get(s, "last_index_time", &last) == 0)
        snprintf(st->last_index, sizeof st->last_index, "%s", last);
    free(last);
    store__read_end(s, opened);
    st->schema_version = STORE_SCHEMA_VERSION;
    st->db_bytes = file_bytes(s->path, "") + file_bytes(s->path, "-wal");
    if (!err) lisa_clearerr();
    return err;
}
