// The FTS5 keyword index: bm25 search with per-column attribution, and the
// rebuild from the readable columns.
#include "store/store_int.h"
#include "base/err.h"

#include <math.h>
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

// ---------------------------------------------------------------- lisa_bm25()

// lisa_bm25(image_fts) = -bm25(image_fts), computed with the very operations
// of FTS5's bm25() (fts5_aux.c: k1 1.2, b 0.75, weights 1, idf floored at
// 1e-6), so values and therefore the order are bit-identical; the one change
// is where a row's token count comes from. FTS5 runs an SQL lookup in
// image_fts_docsize per matching row, which is most of a common term's cost
// (30k rows for a term in 30% of a 100k library); here it is read from
// s->fts_len, loaded once from image_fts_docsize and reloaded only after a
// write. Rows outside the cache (none, unless it could not be loaded) ask
// FTS5 as before.

typedef struct {
    int nphrase;
    double avgdl;
    double *idf;  // nphrase
    double *freq; // nphrase, scratch
} bm25_data;

static int count_cb(const Fts5ExtensionApi *api, Fts5Context *fc, void *ud)
{
    (void)api, (void)fc;
    ++*(sqlite3_int64 *)ud;
    return SQLITE_OK;
}

static bm25_data *bm25_get(const Fts5ExtensionApi *api, Fts5Context *fc, int *rc)
{
    bm25_data *d = api->xGetAuxdata(fc, 0);
    if (d) return d;
    sqlite3_int64 nrow = 0, ntok = 0;
    int np = api->xPhraseCount(fc);
    d = sqlite3_malloc64(sizeof *d + (size_t)np * 2 * sizeof(double));
    if (!d) return *rc = SQLITE_NOMEM, NULL;
    d->nphrase = np;
    d->idf = (double *)(d + 1);
    d->freq = d->idf + np;
    *rc = api->xRowCount(fc, &nrow);
    if (*rc == SQLITE_OK) *rc = api->xColumnTotalSize(fc, -1, &ntok);
    if (*rc == SQLITE_OK) d->avgdl = (double)ntok / (double)nrow;
    for (int i = 0; *rc == SQLITE_OK && i < np; i++) {
        sqlite3_int64 hit = 0;
        *rc = api->xQueryPhrase(fc, i, &hit, count_cb);
        if (*rc == SQLITE_OK) {
            double idf = log((nrow - hit + 0.5) / (hit + 0.5));
            d->idf[i] = idf <= 0.0 ? 1e-6 : idf;
        }
    }
    if (*rc == SQLITE_OK)
        *rc = api->xSetAuxdata(fc, d, sqlite3_free);
    else
        sqlite3_free(d), d = NULL;
    return *rc == SQLITE_OK ? d : NULL;
}

static void fts_bm25(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx, int nval, sqlite3_value **val)
{
    (void)nval, (void)val;
    const double k1 = 1.2, b = 0.75;
    const store *s = api->xUserData(fc);
    int rc = SQLITE_OK, ninst = 0;
    bm25_data *d = bm25_get(api, fc, &rc);
    if (!d) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    memset(d->freq, 0, sizeof(double) * (size_t)d->nphrase);
    rc = api->xInstCount(fc, &ninst);
    for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
        int ip, ic, io;
        rc = api->xInst(fc, i, &ip, &ic, &io);
        if (rc == SQLITE_OK) d->freq[ip] += 1.0;
    }
    double D = 0;
    sqlite3_int64 row = api->xRowid(fc);
    if (rc == SQLITE_OK && row >= 0 && row < s->fts_len_n && s->fts_len[row] != UINT32_MAX) {
        D = (double)s->fts_len[row];
    } else if (rc == SQLITE_OK) {
        int ntok;
        rc = api->xColumnSize(fc, -1, &ntok);
        D = (double)ntok;
    }
    double score = 0.0;
    for (int i = 0; rc == SQLITE_OK && i < d->nphrase; i++)
        score += d->idf[i] * ((d->freq[i] * (k1 + 1.0)) / (d->freq[i] + k1 * (1 - b + b * D / d->avgdl)));
    if (rc == SQLITE_OK)
        sqlite3_result_double(ctx, score); // FTS5 returns -1.0 * score; negating is exact
    else
        sqlite3_result_error_code(ctx, rc);
}

// SQLite's varint (what FTS5 writes in docsize blobs); returns bytes read, 0
// when the blob ends first.
static int get_varint(const unsigned char *p, int n, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 9 && i < n; i++) {
        if (i == 8) return *v = (x << 8) | p[i], 9;
        x = (x << 7) | (p[i] & 0x7f);
        if (!(p[i] & 0x80)) return *v = x, i + 1;
    }
    return 0;
}

static int data_version(store *s, int64_t *dv)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return store__err(s, rc, "data_version");
    rc = sqlite3_step(st);
    *dv = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store__err(s, rc, "data_version");
}

#define FTS_LEN_SLACK (1 << 20) // a cache indexed by rowid may hold this many holes beyond 4 x the rows

// (Re)loads s->fts_len when a write may have changed it. A library whose
// rowids are too sparse for a direct table is left to FTS5's own lookups.
static int fts_len_sync(store *s)
{
    int64_t dv;
    int rc = data_version(s, &dv);
    if (rc < 0) return rc;
    if (s->fts_len_n && dv == s->fts_len_dv && s->fts_writes == s->fts_len_writes) return 0;
    free(s->fts_len);
    s->fts_len = NULL, s->fts_len_n = 0;
    sqlite3_stmt *st;
    int64_t maxid = 0, rows = 0;
    if ((rc = sqlite3_prepare_v2(s->db, "SELECT max(id), count(*) FROM image_fts_docsize", -1, &st, NULL)) != SQLITE_OK)
        return store__err(s, rc, "fts lengths");
    if (sqlite3_step(st) == SQLITE_ROW) maxid = sqlite3_column_int64(st, 0), rows = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    s->fts_len_dv = dv, s->fts_len_writes = s->fts_writes;
    if (maxid < 0 || maxid + 1 > 4 * rows + FTS_LEN_SLACK) return 0;
    uint32_t *len = malloc((size_t)(maxid + 1) * sizeof *len);
    if (!len) return 0; // FTS5's lookups still work
    memset(len, 0xff, (size_t)(maxid + 1) * sizeof *len);
    if ((rc = sqlite3_prepare_v2(s->db, "SELECT id, sz FROM image_fts_docsize", -1, &st, NULL)) != SQLITE_OK) {
        free(len);
        return store__err(s, rc, "fts lengths");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const unsigned char *p = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1), off = 0, k;
        uint64_t v, total = 0;
        while (p && off < n && (k = get_varint(p + off, n - off, &v)) > 0) total += v, off += k;
        if (id >= 0 && id <= maxid && total < UINT32_MAX) len[id] = (uint32_t)total;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(len);
        return store__err(s, rc, "fts lengths");
    }
    s->fts_len = len, s->fts_len_n = maxid + 1;
    return 0;
}

int store__fts_register(store *s)
{
    fts5_api *api = fts5_api_of(s->db);
    if (!api || api->iVersion < 2) return lisa_seterr(LISA_EUNSUPPORTED, "%s: this SQLite has no FTS5", s->path);
    int rc = api->xCreateFunction(api, "lisa_cols", NULL, fts_cols, NULL);
    if (rc == SQLITE_OK) rc = api->xCreateFunction(api, "lisa_bm25", s, fts_bm25, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "registering lisa_cols / lisa_bm25");
}

// ---------------------------------------------------------------- search

// The best `limit` hits are kept in a min-heap (the worst kept hit at the
// root) in C instead of SQLite's ORDER BY ... LIMIT, which inserts every
// matching row into a b-tree sorter: for a term in 30% of a 100k library
// that sorter was a third of the query's time. The order is the one the SQL
// gave: bm25 descending, then ascending id.
static int hit_better(const store_hit *a, const store_hit *b)
{
    return a->bm25 > b->bm25 || (a->bm25 == b->bm25 && a->id < b->id);
}

static void heap_down(store_hit *h, int n, int i)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && hit_better(&h[w], &h[l])) w = l;
        if (r < n && hit_better(&h[w], &h[r])) w = r;
        if (w == i) return;
        store_hit t = h[i];
        h[i] = h[w], h[w] = t, i = w;
    }
}

static void heap_up(store_hit *h, int i)
{
    while (i > 0 && hit_better(&h[(i - 1) / 2], &h[i])) {
        store_hit t = h[i];
        h[i] = h[(i - 1) / 2], h[(i - 1) / 2] = t, i = (i - 1) / 2;
    }
}

static int cmp_hit(const void *a, const void *b)
{
    return hit_better(a, b) ? -1 : hit_better(b, a);
}

// Offers hit x to the heap h of *n kept hits (at most limit, room for cap).
static int heap_offer(store *s, store_hit **h, int *n, int *cap, int limit, const store_hit *x)
{
    if (*n < limit) {
        if (*n == *cap) {
            int nc = *cap ? (*cap * 2 < limit ? *cap * 2 : limit) : (limit < 64 ? limit : 64);
            store_hit *g = realloc(*h, (size_t)nc * sizeof *g);
            if (!g) return lisa_seterr(LISA_ENOMEM, "%s: %d keyword hits", s->path, nc);
            *h = g, *cap = nc;
        }
        (*h)[*n] = *x;
        heap_up(*h, (*n)++);
    } else if (hit_better(x, &(*h)[0])) {
        (*h)[0] = *x;
        heap_down(*h, *n, 0);
    }
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
    if ((rc = fts_len_sync(s)) < 0 || (rc = store__stmt(s, ST_FTS_SEARCH, &st)) < 0) return rc;
    store__bind_text(st, 1, match);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_hit h = {
            .id = sqlite3_column_int64(st, 0), .bm25 = sqlite3_column_double(st, 1), .cols = sqlite3_column_int(st, 2)};
        if ((rc = heap_offer(s, hits, n, &cap, limit, &h)) < 0) break;
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
        return rc;
    }
    if (*n) qsort(*hits, (size_t)*n, sizeof **hits, cmp_hit);
    return 0;
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
    s->fts_writes++;
    rc = store__exec(s, "DELETE FROM image_fts", "fts clear");
    if (rc == 0) rc = rebuild_rows(s, clean, ud);
    if (rc == 0) return store_commit(s);
    store_rollback(s);
    return rc;
}
