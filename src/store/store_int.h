// Internals shared by the store's files (not public): the handle, the
// prepared-statement cache and SQLite error mapping.
#ifndef LISA_STORE_STORE_INT_H
#define LISA_STORE_STORE_INT_H

#include "store/store.h"

#include <sqlite3.h>

// Cached statements, prepared on first use (store__stmt()).
enum {
    ST_IMG_UPSERT,
    ST_IMG_HASH_OF_PATH,
    ST_IMG_GET_PATH,
    ST_IMG_GET_ID,
    ST_IMG_BY_HASH,
    ST_IMG_ID_OF_PATH,
    ST_IMG_MOVE,
    ST_IMG_DELETE,
    ST_IMG_LIST,
    ST_IMG_COUNT,
    ST_FTS_DELETE,
    ST_FTS_INSERT,
    ST_FTS_SET_NAME,
    ST_FTS_SEARCH,
    ST_EMB_PUT,
    ST_EMB_HAS,
    ST_EMB_COPY,
    ST_EMB_GET,
    ST_EMB_COUNT,
    ST_EMB_LOAD,
    ST_EMB_DEL_IMAGE,
    ST_EMB_LOG,
    ST_EMB_LOG_MAX,
    ST_KV_SET,
    ST_KV_DEL,
    ST_KV_GET,
    ST_FAIL_PUT,
    ST_FAIL_GET,
    ST_FAIL_DEL,
    ST_FAIL_LIST,
    ST_COUNT
};

struct store {
    sqlite3 *db;
    char *path;
    int flags;
    int found_version; // user_version before migration
    int in_tx;         // store_begin() is open
    int disk_full;     // opened read-only and immutable: the disk was full
    sqlite3_stmt *st[ST_COUNT];
    // Token count of every FTS row by rowid (store_fts.c), for lisa_bm25():
    // valid while no FTS write happened on this handle (fts_writes) and no
    // other connection committed (PRAGMA data_version).
    uint32_t *fts_len;
    int64_t fts_len_n; // entries (max rowid + 1); 0: not loaded
    int64_t fts_len_writes, fts_writes, fts_len_dv;
};

// The cached statement `which`, reset and unbound, into *st; returns 0 or
// the prepare error (recorded).
int store__stmt(store *s, int which, sqlite3_stmt **st);

// Maps SQLite result rc to a LISA code and records "db: what: sqlite's message".
int store__err(store *s, int rc, const char *what);

// Runs SQL with no result rows; `what` names it in errors.
int store__exec(store *s, const char *sql, const char *what);

// A savepoint around one write call: begin, then end with the call's rc
// (released on 0, rolled back otherwise). Returns rc or the end's error.
int store__sp_begin(store *s);
int store__sp_end(store *s, int rc);

// A read snapshot for multi-statement reads outside store_begin(): opens a
// deferred transaction when none is open; *opened says whether to end it.
int store__read_begin(store *s, int *opened);
void store__read_end(store *s, int opened);

// Registers the SQL function lisa_vec_f16(blob of float32) -> blob of fp16
// on s->db (the v4 migration uses it).
int store__vec_register(store *s);

// Registers the FTS5 auxiliary function lisa_cols(image_fts) on s->db.
int store__fts_register(store *s);

// Registers the SQL functions filters use (lisa_has, lisa_base, lisa_format,
// lisa_folder, lisa_km; store_query.c) on s->db.
int store__query_register(store *s);

// Binds NULL for a NULL string, else the text (transient copy not needed:
// the caller's string outlives the step).
int store__bind_text(sqlite3_stmt *st, int i, const char *v);

// A malloc'd copy of column i's text, NULL for SQL NULL; *rc gets
// LISA_ENOMEM on allocation failure.
char *store__col_dup(sqlite3_stmt *st, int i, int *rc);

#endif
