// The FTS5 keyword index: bm25 search with per-column attribution, and the
// rebuild from the readable columns.
#include "store/store_int.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- lisa_cols()

// lisa_cols(image_fts): bit c set when some phrase instance of the MATCH
// expression lies in column c. xInst walks the position lists FTS5 already
// decoded for bm25, so this costs little per hit.
static void fts_cols(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx, int nval, sqlite3_value **val)
{
    (void)nval;
    (void)val;
    int n, mask = 0;
    if (api->xInstCount(fc, &n) != SQLITE_OK) {
        sqlite3_result_error(ctx, "lisa_cols: cannot count phrase instances", -1);
        return;
    }
    for (int i = 0; i < n; i++) {
        int phrase, col, off;
        if (api->xInst(fc, i, &phrase, &col, &off) == SQLITE_OK && col >= 0 && col < 30) mask |= 1 << col;
    }
    sqlite3_result_int(ctx, mask);
}

// The FTS5 API pointer, fetched the documented way: SELECT fts5(?1) with a
// pointer binding of type "fts5_api_ptr".
static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    return api;
}

int store__fts_register(store *s)
{
    fts5_api *api = fts5_api_of(s->db);
    if (!api || api->iVersion < 2) return lisa_seterr(LISA_EUNSUPPORTED, "%s: this SQLite has no FTS5", s->path);
    int rc = api->xCreateFunction(api, "lisa_cols", NULL, fts_cols, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "registering lisa_cols");
}

// ---------------------------------------------------------------- search

static int grow_hits(store *s, store_hit **hits, int *cap)
{
    int nc = *cap ? *cap * 2 : 64;
    store_hit *h = realloc(*hits, (size_t)nc * sizeof *h);
    if (!h) return lisa_seterr(LISA_ENOMEM, "%s: %d keyword hits", s->path, nc);
    *hits = h;
    *cap = nc;
    return 0;
}

int store_keyword_search(store *s, const char *match, int limit, store_hit **hits, int *n)
{
    sqlite3_stmt *st;
    int rc, cap = 0;
    *hits = NULL;
    *n = 0;
    if (!match || !*match || limit < 1 || limit > STORE_HITS_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: keyword search: empty match or limit %d outside [1, %d]", s->path, limit,
                           STORE_HITS_MAX);
    if ((rc = store__stmt(s, ST_FTS_SEARCH, &st)) < 0) return rc;
    store__bind_text(st, 1, match);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap && (rc = grow_hits(s, hits, &cap)) < 0) break;
        store_hit *h = &(*hits)[(*n)++];
        h->id = sqlite3_column_int64(st, 0);
        h->bm25 = sqlite3_column_double(st, 1);
        h->cols = sqlite3_column_int(st, 2);
    }
    if (rc != SQLITE_DONE)
        rc = rc < 0 ? rc : store__err(s, rc, "keyword search");
    else
        rc = 0;
    sqlite3_reset(st);
    if (rc < 0) {
        free(*hits);
        *hits = NULL;
        *n = 0;
    }
    return rc;
}

// ---------------------------------------------------------------- rebuild

// Cleans one readable column into the bound parameter i of ins.
static int bind_clean(sqlite3_stmt *q, int col, sqlite3_stmt *ins, int i, store_clean_fn clean, void *ud)
{
    const char *text = (const char *)sqlite3_column_text(q, col);
    char *out = NULL;
    int rc = clean(ud, text ? text : "", &out);
    if (rc < 0) return rc;
    sqlite3_bind_text(ins, i, out ? out : "", -1, SQLITE_TRANSIENT);
    free(out);
    return 0;
}

static int rebuild_rows(store *s, store_clean_fn clean, void *ud)
{
    sqlite3_stmt *q = NULL, *ins = NULL;
    int rc =
        sqlite3_prepare_v2(s->db, "SELECT id, name_words, meta_words, caption, ocr_text FROM images", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO image_fts(rowid, name, meta, caption, ocr)"
                                " VALUES(?1, ?2, ?3, ?4, ?5)",
                                -1, &ins, NULL);
    rc = rc == SQLITE_OK ? 0 : store__err(s, rc, "fts rebuild prepare");
    while (rc == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        rc = 0;
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(q, 0));
        for (int c = 1; c <= 4 && rc == 0; c++) rc = bind_clean(q, c, ins, c + 1, clean, ud);
        if (rc == 0 && (rc = sqlite3_step(ins)) == SQLITE_DONE)
            rc = 0;
        else if (rc > 0)
            rc = store__err(s, rc, "fts rebuild insert");
    }
    if (rc == SQLITE_DONE)
        rc = 0;
    else if (rc > 0)
        rc = store__err(s, rc, "fts rebuild scan");
    sqlite3_finalize(ins);
    sqlite3_finalize(q);
    return rc;
}

int store_fts_rebuild(store *s, store_clean_fn clean, void *ud)
{
    if (s->in_tx) return lisa_seterr(LISA_EINVAL, "%s: fts rebuild inside a batch", s->path);
    int rc = store_begin(s);
    if (rc < 0) return rc;
    rc = store__exec(s, "DELETE FROM image_fts", "fts clear");
    if (rc == 0) rc = rebuild_rows(s, clean, ud);
    if (rc == 0) return store_commit(s);
    store_rollback(s);
    return rc;
}
