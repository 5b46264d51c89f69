// The SQLite store: schema creation and migration, image rows, embeddings,
// FTS5 search (bm25 against the documented formula, column attribution),
// WAL readers beside a writer, hostile paths, meta, stats and export.
#include "testutil.h"
#include "base/err.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

static const char H1[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char H2[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static store *fresh(const char *name)
{
    store *s = NULL;
    unlink(tu_tmp(name));
    int rc = store_open(tu_tmp(name), STORE_CREATE, &s);
    if (rc) fail_msg("store_open: %s", lisa_errmsg());
    return s;
}

static store_image img(const char *path, const char *hash)
{
    store_image im = {0};
    im.path = (char *)path;
    im.hash = (char *)hash;
    im.size = 1234;
    im.mtime_ns = 1700000000123456789LL;
    im.width = 640;
    im.height = 480;
    im.orientation = 6;
    im.date_unix = STORE_NO_DATE;
    return im;
}

static int64_t put(store *s, const char *path, const char *hash, const char *kw_name, const char *kw_meta)
{
    store_image im = img(path, hash);
    im.kw_name = (char *)kw_name;
    im.kw_meta = (char *)kw_meta;
    int64_t id = 0;
    if (store_image_upsert(s, &im, &id)) fail_msg("upsert %s: %s", path, lisa_errmsg());
    return id;
}

static int64_t sql_int(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void sql_exec(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
    sqlite3_close(h);
}

// ---------------------------------------------------------------- schema

static void test_create_schema(void **state)
{
    (void)state;
    store *s = fresh("create.db");
    assert_int_equal(store_schema_found(s), 0);
    store_close(s);
    const char *db = tu_tmp("create.db");
    assert_int_equal(sql_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                 " ('images','embeddings','kv','image_fts')"),
                     4);
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);
    // Re-open: nothing to migrate.
    assert_int_equal(store_open(db, 0, &s), 0);
    assert_int_equal(store_schema_found(s), STORE_SCHEMA_VERSION);
    store_close(s);
    assert_null(store_migration_sql(0));
    assert_null(store_migration_sql(STORE_SCHEMA_VERSION + 1));
}

// A v1 database made by hand from the v1 step, with one row, migrates to the
// current version keeping the row and giving it an (empty) FTS row.
static void test_migrate_from_v1(void **state)
{
    (void)state;
    const char *db = tu_tmp("v1.db");
    char sql[256];
    unlink(db);
    sql_exec(db, store_migration_sql(1));
    snprintf(sql, sizeof sql,
             "INSERT INTO images(path, size, mtime_ns, hash) VALUES('/old/a.jpg', 7, 9, '%s');"
             "PRAGMA user_version = 1;",
             H1);
    sql_exec(db, sql);
    store *s = NULL;
    assert_int_equal(store_open(db, STORE_READONLY, &s), LISA_EUNSUPPORTED);
    assert_int_equal(store_open(db, 0, &s), 0);
    assert_int_equal(store_schema_found(s), 1);
    store_image im;
    assert_int_equal(store_image_get_by_path(s, "/old/a.jpg", &im), 0);
    assert_int_equal(im.size, 7);
    assert_string_equal(im.hash, H1);
    assert_null(im.name_words);
    assert_true(im.date_unix == STORE_NO_DATE);
    store_image_clear(&im);
    store_close(s);
    assert_int_equal(sql_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM image_fts"), 1);
    // A newer schema than this build is refused, and so is a non-database.
    sql_exec(db, "PRAGMA user_version = 99");
    assert_int_equal(store_open(db, 0, &s), LISA_EUNSUPPORTED);
    assert_null(s);
    tu_write(tu_tmp("junk.db"), "this is not sqlite, not at all, no.........", 44);
    assert_int_equal(store_open(tu_tmp("junk.db"), 0, &s), LISA_EFORMAT);
    assert_int_equal(store_open(tu_tmp("missing.db"), 0, &s), LISA_ENOTFOUND);
}

// ---------------------------------------------------------------- images

static void test_upsert_get(void **state)
{
    (void)state;
    store *s = fresh("rows.db");
    store_image im = img("/pics/a.jpg", H1);
    im.date_taken = "2019-07-04T18:30:00";
    im.date_unix = 1562265000;
    im.make = "Canon";
    im.model = "EOS 5D";
    im.name_words = "pics";
    im.meta_words = "canon eos 5d 2019 july";
    im.caption = "a dog";
    im.ocr_text = "STOP";
    im.ocr_conf = 0.75;
    im.indexed_at = 1700000000.5;
    int64_t id = 0, id2 = 0;
    assert_int_equal(store_image_upsert(s, &im, &id), 0);
    assert_true(id > 0);
    store_image g;
    assert_int_equal(store_image_get_by_path(s, "/pics/a.jpg", &g), 0);
    assert_int_equal(g.id, id);
    assert_int_equal(g.size, 1234);
    assert_true(g.mtime_ns == 1700000000123456789LL);
    assert_string_equal(g.hash, H1);
    assert_int_equal(g.width, 640);
    assert_int_equal(g.orientation, 6);
    assert_string_equal(g.date_taken, "2019-07-04T18:30:00");
    assert_int_equal(g.date_unix, 1562265000);
    assert_string_equal(g.make, "Canon");
    assert_string_equal(g.meta_words, "canon eos 5d 2019 july");
    assert_string_equal(g.caption, "a dog");
    assert_string_equal(g.ocr_text, "STOP");
    assert_true(g.ocr_conf == 0.75 && g.indexed_at == 1700000000.5);
    store_image_clear(&g);
    // Same path again: same id, fields replaced; default indexed_at is now.
    im.size = 99;
    im.indexed_at = 0;
    assert_int_equal(store_image_upsert(s, &im, &id2), 0);
    assert_int_equal(id2, id);
    assert_int_equal(store_image_get(s, id, &g), 0);
    assert_int_equal(g.size, 99);
    assert_true(g.indexed_at > 1600000000.0);
    store_image_clear(&g);
    assert_int_equal(store_image_get(s, id + 100, &g), LISA_ENOTFOUND);
    assert_int_equal(store_image_get_by_path(s, "/nope", &g), LISA_ENOTFOUND);
    // Validation names the field.
    im.hash = "xyz";
    assert_int_equal(store_image_upsert(s, &im, NULL), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "hash"));
    im.hash = NULL;
    im.path = "";
    assert_int_equal(store_image_upsert(s, &im, NULL), LISA_EINVAL);
    store_close(s);
}

static int collect(void *ud, const store_entry *e)
{
    char *buf = ud;
    strcat(buf, e->path);
    strcat(buf, ";");
    return 0;
}

static int stop_at_first(void *ud, const store_entry *e)
{
    (void)e;
    ++*(int *)ud;
    return 7;
}

static void test_hash_list_delete(void **state)
{
    (void)state;
    store *s = fresh("list.db");
    int64_t a = put(s, "/r/a_b/1.jpg", H1, "", ""), b = put(s, "/r/ab/2.jpg", H1, "", "");
    int64_t c = put(s, "/r/a_b/3.jpg", H2, "", "");
    int64_t ids[4];
    int n;
    assert_int_equal(store_image_find_by_hash(s, H1, ids, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_true(ids[0] == a && ids[1] == b);
    assert_int_equal(store_image_find_by_hash(s, H1, ids, 1, &n), 0);
    assert_int_equal(n, 1);
    // The prefix is literal: '_' is not a wildcard.
    char buf[256] = "";
    assert_int_equal(store_image_list(s, "/r/a_b/", collect, buf), 0);
    assert_string_equal(buf, "/r/a_b/1.jpg;/r/a_b/3.jpg;");
    buf[0] = 0;
    assert_int_equal(store_image_list(s, NULL, collect, buf), 0);
    assert_string_equal(buf, "/r/a_b/1.jpg;/r/a_b/3.jpg;/r/ab/2.jpg;");
    int calls = 0;
    assert_int_equal(store_image_list(s, "", stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    int64_t cnt;
    assert_int_equal(store_image_delete(s, c), 0);
    assert_int_equal(store_image_delete(s, c), LISA_ENOTFOUND);
    assert_int_equal(store_image_count(s, &cnt), 0);
    assert_int_equal(cnt, 2);
    store_close(s);
    assert_int_equal(sql_int(tu_tmp("list.db"), "SELECT count(*) FROM image_fts"), 2);
}

// ---------------------------------------------------------------- embeddings

static void test_embeddings(void **state)
{
    (void)state;
    store *s = fresh("emb.db");
    int64_t a = put(s, "/e/a.jpg", H1, "", ""), b = put(s, "/e/b.jpg", H2, "", "");
    // fp16-representable values come back bit for bit (vectors are stored as fp16).
    float va[5] = {1, -2, 3.5f, 0.000030517578125f, -0.0f}, vb[5] = {5, 4, 3, 2, 1}, got[5], v3[3] = {1, 2, 3};
    assert_int_equal(store_embedding_put(s, b, "m", 5, vb), 0);
    assert_int_equal(store_embedding_put(s, a, "m", 5, va), 0);
    assert_int_equal(store_embedding_put(s, a, "other", 3, v3), 0);
    assert_int_equal(store_embedding_put(s, a + 50, "m", 5, va), LISA_ENOTFOUND);
    assert_int_equal(store_embedding_put(s, a, "m", 0, va), LISA_EINVAL);
    assert_int_equal(store_embedding_put(s, a, "", 5, va), LISA_EINVAL);
    assert_true(store_embedding_has(s, a, "m", 5));
    assert_false(store_embedding_has(s, a, "m", 4));
    assert_int_equal(store_embedding_get(s, a, "m", 5, got), 0);
    assert_memory_equal(got, va, sizeof va);
    assert_int_equal(store_embedding_get(s, a, "m", 3, got), LISA_ENOTFOUND);
    // Others round to nearest fp16: numpy.float16(0.1) == 0.0999755859375,
    // numpy.float16(1e-30) == 0, numpy.float16(70000) == inf.
    float odd[3] = {0.1f, 1e-30f, 70000.0f}, oddg[3];
    int64_t d = put(s, "/e/d.jpg", H2, "", "");
    assert_int_equal(store_embedding_put(s, d, "odd", 3, odd), 0);
    assert_int_equal(store_embedding_get(s, d, "odd", 3, oddg), 0);
    assert_true(oddg[0] == 0.0999755859375f && oddg[1] == 0.0f && isinf(oddg[2]));
    uint16_t h16[3];
    assert_int_equal(store_embedding_get_f16(s, d, "odd", 3, h16), 0);
    assert_true(h16[0] == 0x2e66 && h16[1] == 0 && h16[2] == 0x7c00);
    assert_int_equal(sql_int(tu_tmp("emb.db"), "SELECT length(vec) FROM embeddings WHERE model = 'odd'"), 6);
    assert_int_equal(store_image_delete(s, d), 0);
    float *mat;
    int64_t *ids;
    size_t n;
    if (store_embeddings_load(s, "m", 5, &mat, &ids, &n)) fail_msg("%s", lisa_errmsg());
    assert_int_equal(n, 2);
    assert_true(ids[0] == a && ids[1] == b); // ascending ids
    assert_memory_equal(mat, va, sizeof va);
    assert_memory_equal(mat + 5, vb, sizeof vb);
    free(mat);
    free(ids);
    assert_int_equal(store_embeddings_load(s, "none", 5, &mat, &ids, &n), 0);
    assert_true(n == 0 && !mat && !ids);
    // Copy to a third image; changing a's content drops a's stale vectors.
    int64_t c = put(s, "/e/c.jpg", H1, "", "");
    assert_int_equal(store_embedding_copy(s, a, c), 0);
    assert_true(store_embedding_has(s, c, "other", 3));
    put(s, "/e/a.jpg", H2, "", "");
    assert_false(store_embedding_has(s, a, "m", 5));
    assert_true(store_embedding_has(s, c, "m", 5));
    // Same hash again keeps them; delete cascades.
    put(s, "/e/c.jpg", H1, "", "");
    assert_true(store_embedding_has(s, c, "m", 5));
    assert_int_equal(store_image_delete(s, c), 0);
    uint16_t *m16;
    assert_int_equal(store_embeddings_load_f16(s, "m", 5, &m16, &ids, &n), 0);
    assert_true(n == 1 && ids[0] == b && m16[0] == 0x4500 && m16[4] == 0x3c00); // fp16 5.0 and 1.0
    free(m16), free(ids);
    int64_t cnt;
    assert_int_equal(store_embedding_count(s, "m", 5, &cnt), 0);
    assert_int_equal(cnt, 1);
    store_close(s);
    assert_int_equal(sql_int(tu_tmp("emb.db"), "SELECT count(*) FROM embeddings"), 1);
}

// Every embedding change lands in emb_log, cascaded deletes included, and
// pruning keeps seqs growing and records the mark.
static void test_embedding_log(void **state)
{
    (void)state;
    store *s = fresh("log.db");
    int64_t a = put(s, "/l/a.jpg", H1, "", ""), b = put(s, "/l/b.jpg", H2, "", ""), max, seqs[16], ids[16];
    float v[2] = {1, 0};
    int n;
    assert_int_equal(store_emb_log_max(s, &max), 0);
    assert_int_equal(max, 0);
    assert_int_equal(store_embedding_put(s, a, "m", 2, v), 0); // insert
    assert_int_equal(store_embedding_put(s, a, "m", 2, v), 0); // update: old + new
    assert_int_equal(store_embedding_put(s, b, "x", 2, v), 0); // another model
    assert_int_equal(store_embedding_copy(s, a, b), 0);        // insert of (m, b)
    assert_int_equal(store_image_delete(s, a), 0);             // cascade delete of (m, a)
    assert_int_equal(store_emb_log_read(s, "m", 0, 16, seqs, ids, &n), 0);
    assert_int_equal(n, 5);
    int64_t want[5] = {a, a, a, b, a};
    for (int i = 0; i < n; i++) {
        assert_true(ids[i] == want[i]);
        if (i) assert_true(seqs[i] > seqs[i - 1]);
    }
    assert_int_equal(store_emb_log_read(s, "m", seqs[2], 16, seqs, ids, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_emb_log_max(s, &max), 0);
    assert_int_equal(max, 6);
    int64_t pruned;
    assert_int_equal(store_emb_log_prune(s, "m", 4), 0);
    assert_int_equal(store_emb_log_pruned(s, "m", &pruned), 0);
    assert_int_equal(pruned, 4);
    assert_int_equal(store_emb_log_prune(s, "m", 2), 0); // the mark never goes back
    assert_int_equal(store_emb_log_pruned(s, "m", &pruned), 0);
    assert_int_equal(pruned, 4);
    assert_int_equal(store_emb_log_read(s, "m", 0, 16, seqs, ids, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_emb_log_prune(s, "m", 100), 0);
    assert_int_equal(store_emb_log_read(s, "m", 0, 16, seqs, ids, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_emb_log_max(s, &max), 0); // seqs never go back
    assert_int_equal(max, 6);
    assert_int_equal(store_emb_log_read(s, "x", 0, 16, seqs, ids, &n), 0);
    assert_int_equal(n, 1);
    store_close(s);
}

// store_keyword_search() (lisa_bm25 with cached row lengths) returns exactly
// what FTS5's own bm25() gives, values and order (ties by rowid), on a skewed
// random library, also after this handle and another connection write.
static void fts_same_as_builtin(store *s, const char *db, const char *match)
{
    store_hit *h;
    int n;
    assert_int_equal(store_keyword_search(s, match, 300, &h, &n), 0);
    sqlite3 *c;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c,
                                        "SELECT rowid, -bm25(image_fts) FROM image_fts WHERE image_fts MATCH ?1"
                                        " ORDER BY bm25(image_fts), rowid LIMIT 300",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    int i = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(i < n);
        if (h[i].id != sqlite3_column_int64(st, 0) || h[i].bm25 != sqlite3_column_double(st, 1))
            fail_msg("%s: hit %d: %lld %.17g, FTS5 says %lld %.17g", match, i, (long long)h[i].id, h[i].bm25,
                     (long long)sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
        i++;
    }
    assert_int_equal(i, n);
    sqlite3_finalize(st);
    sqlite3_close(c);
    free(h);
}

static void test_fts_bm25_matches_fts5(void **state)
{
    (void)state;
    store *s = fresh("bm25.db");
    const char *db = tu_tmp("bm25.db");
    uint64_t r = 12345;
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 3000; i++) {
        char name[128] = "", meta[128] = "", p[64];
        int ln = 0, lm = 0, words = 1 + i % 7;
        for (int w = 0; w < words; w++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            double u = (double)(r >> 11) / 9007199254740992.0;
            int t = (int)(300 * u * u * u);
            if (w % 2)
                lm += snprintf(meta + lm, sizeof meta - (size_t)lm, "%sw%d", lm ? " " : "", t);
            else
                ln += snprintf(name + ln, sizeof name - (size_t)ln, "%sw%d", ln ? " " : "", t);
        }
        snprintf(p, sizeof p, "/b/%d.jpg", i);
        put(s, p, NULL, name, meta);
    }
    assert_int_equal(store_commit(s), 0);
    const char *qs[] = {"\"w0\"", "\"w0\" OR \"w1\"", "\"w2\" OR \"w150\" OR \"w299\"", "\"w5\" OR \"w0\""};
    for (int i = 0; i < 4; i++) fts_same_as_builtin(s, db, qs[i]);
    // This handle writes: new rows, a rename, a delete.
    put(s, "/b/new.jpg", NULL, "w0 w0 w0", "");
    assert_int_equal(store_image_delete(s, 7), 0);
    assert_int_equal(store_image_move(s, 8, "/b/moved.jpg", "w0", "w0"), 0);
    for (int i = 0; i < 4; i++) fts_same_as_builtin(s, db, qs[i]);
    // Another connection writes.
    store *o;
    assert_int_equal(store_open(db, 0, &o), 0);
    put(o, "/b/other.jpg", NULL, "w1 w0", "w1");
    assert_int_equal(store_image_delete(o, 9), 0);
    store_close(o);
    for (int i = 0; i < 4; i++) fts_same_as_builtin(s, db, qs[i]);
    store_close(s);
}

// A v3 store (float32 vectors) made by hand migrates to v5: every vector is
// rewritten as fp16 in place, other rows untouched, and the log starts empty.
static void test_migrate_v3_f32_to_f16(void **state)
{
    (void)state;
    const char *db = tu_tmp("v3.db");
    unlink(db);
    for (int v = 1; v <= 3; v++) sql_exec(db, store_migration_sql(v));
    // float32 LE of {1.0, -2.0, 0.1, 1/3}: python3 -c "import struct;
    // print(struct.pack('<4f', 1, -2, 0.1, 1/3).hex())"
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO images(id, path, size, mtime_ns, hash) VALUES(7, '/old/a.jpg', 7, 9, '%s');"
             "INSERT INTO embeddings(model, image_id, dim, vec) VALUES('clip', 7, 4,"
             " x'0000803f000000c0cdcccc3dabaaaa3e');"
             "INSERT INTO embeddings(model, image_id, dim, vec) VALUES('bad', 7, 3, x'0000803f');"
             "PRAGMA user_version = 3;",
             H1);
    sql_exec(db, sql);
    store *s = NULL;
    assert_int_equal(store_open(db, 0, &s), 0);
    assert_int_equal(store_schema_found(s), 3);
    // numpy.float16 of 1, -2, 0.1, 1/3: 0x3c00, 0xc000, 0x2e66, 0x3555.
    uint16_t h[4];
    assert_int_equal(store_embedding_get_f16(s, 7, "clip", 4, h), 0);
    assert_true(h[0] == 0x3c00 && h[1] == 0xc000 && h[2] == 0x2e66 && h[3] == 0x3555);
    float f[4];
    assert_int_equal(store_embedding_get(s, 7, "clip", 4, f), 0);
    assert_true(f[0] == 1.0f && f[1] == -2.0f && fabsf(f[3] - 1.0f / 3) < 1e-3f);
    // A blob that was not dim float32 is left as it was, and reading it says so.
    float g[3];
    assert_int_equal(store_embedding_get(s, 7, "bad", 3, g), LISA_EFORMAT);
    int64_t max;
    assert_int_equal(store_emb_log_max(s, &max), 0);
    assert_int_equal(max, 0);
    // The cascade from images still holds in the rebuilt table, and 512-d
    // vectors sit in their pages: well under 1.5 KB each (a WITHOUT ROWID
    // table gave every one a 4 KB overflow page).
    int64_t before = sql_int(db, "PRAGMA page_count"), psz = sql_int(db, "PRAGMA page_size");
    static float v[512];
    for (int j = 0; j < 512; j++) v[j] = 0.04f * (float)(j % 7);
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 400; i++) {
        char p[32];
        snprintf(p, sizeof p, "/new/%d.jpg", i);
        int64_t id = put(s, p, NULL, "", "");
        assert_int_equal(store_embedding_put(s, id, "clip", 512, v), 0);
    }
    assert_int_equal(store_commit(s), 0);
    store_close(s);
    sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    double per = (double)(sql_int(db, "PRAGMA page_count") - before) * (double)psz / 400;
    printf("bytes per stored 512-d vector (with its image and FTS rows): %.0f\n", per);
    assert_true(per < 1500 + 600);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'embeddings'"
                                 " AND sql LIKE '%WITHOUT ROWID%'"),
                     0);
    assert_int_equal(store_open(db, 0, &s), 0);
    assert_int_equal(store_image_delete(s, 7), 0);
    store_close(s);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM embeddings WHERE image_id = 7"), 0);
    assert_int_equal(sql_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

// ---------------------------------------------------------------- FTS

// FTS5's bm25 as its documentation defines it: per phrase, IDF * f*(k1+1) /
// (f + k1*(1 - b + b*D/avgdl)), IDF = ln((N - n + 0.5)/(n + 0.5)) (at least
// 1e-6), f the phrase's count in the row over all columns, D the row's
// tokens over all columns. Returned here positive (higher is better).
static double bm25_ref(int N, int n_with, int f, int D, double avgdl)
{
    double k1 = 1.2, b = 0.75;
    double idf = log((N - n_with + 0.5) / (n_with + 0.5));
    if (idf <= 0) idf = 1e-6;
    return idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl));
}

static void test_fts_bm25_and_columns(void **state)
{
    (void)state;
    store *s = fresh("fts.db");
    int64_t a = put(s, "/f/a.jpg", NULL, "beach beach sunset", "canon");
    int64_t b = put(s, "/f/b.jpg", NULL, "beach", "nikon 2019 juli");
    int64_t c = put(s, "/f/c.jpg", NULL, "mountain", "beach");
    put(s, "/f/d.jpg", NULL, "forest", "");
    put(s, "/f/e.jpg", NULL, "city night", "");
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "/f/filler%d.jpg", i);
        put(s, p, NULL, "filler", "");
    }
    store_image im = img("/f/o.jpg", NULL);
    im.kw_ocr = "stop sign";
    im.kw_caption = "a red sign";
    int64_t o;
    assert_int_equal(store_image_upsert(s, &im, &o), 0);
    // Row lengths (tokens over all columns): a 4, b 4, c 2, d 1, e 2, 4 x 1, o 5.
    double avg = (4 + 4 + 2 + 1 + 2 + 4 + 5) / 10.0;
    store_hit *h;
    int n;
    assert_int_equal(store_keyword_search(s, "\"beach\"", 10, &h, &n), 0);
    assert_int_equal(n, 3);
    double wa = bm25_ref(10, 3, 2, 4, avg), wb = bm25_ref(10, 3, 1, 4, avg), wc = bm25_ref(10, 3, 1, 2, avg);
    // Expected order: a (tf 2), c (short row), b.
    assert_true(h[0].id == a && h[1].id == c && h[2].id == b);
    assert_true(fabs(h[0].bm25 - wa) < 1e-9 * wa);
    assert_true(fabs(h[1].bm25 - wc) < 1e-9 * wc);
    assert_true(fabs(h[2].bm25 - wb) < 1e-9 * wb);
    assert_int_equal(h[0].cols, STORE_COL_NAME);
    assert_int_equal(h[1].cols, STORE_COL_META);
    free(h);
    assert_int_equal(store_keyword_search(s, "\"sign\"", 10, &h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, o);
    assert_int_equal(h[0].cols, STORE_COL_OCR | STORE_COL_CAPTION);
    free(h);
    assert_int_equal(store_keyword_search(s, "\"sunset\" OR \"canon\"", 10, &h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].cols, STORE_COL_NAME | STORE_COL_META);
    free(h);
    assert_int_equal(store_keyword_search(s, "\"beach\"", 1, &h, &n), 0);
    assert_int_equal(n, 1);
    free(h);
    assert_int_equal(store_keyword_search(s, "\"nothing\"", 10, &h, &n), 0);
    assert_true(n == 0 && h == NULL);
    // Malformed expressions are errors, not crashes.
    assert_int_equal(store_keyword_search(s, "NEAR(", 10, &h, &n), LISA_EINVAL);
    assert_int_equal(store_keyword_search(s, "\"beach\"", 0, &h, &n), LISA_EINVAL);
    // A move replaces the name column only.
    assert_int_equal(store_image_move(s, a, "/g/renamed.jpg", "renamed", "renam"), 0);
    assert_int_equal(store_keyword_search(s, "\"renam\" OR \"canon\"", 10, &h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, a);
    assert_int_equal(h[0].cols, STORE_COL_NAME | STORE_COL_META);
    free(h);
    assert_int_equal(store_image_move(s, a, "/f/b.jpg", NULL, NULL), LISA_EBUSY);
    assert_int_equal(store_image_move(s, 9999, "/x.jpg", NULL, NULL), LISA_ENOTFOUND);
    store_image g;
    assert_int_equal(store_image_get(s, a, &g), 0);
    assert_string_equal(g.path, "/g/renamed.jpg");
    assert_string_equal(g.name_words, "renamed");
    store_image_clear(&g);
    // Delete removes the FTS row.
    assert_int_equal(store_image_delete(s, c), 0);
    assert_int_equal(store_keyword_search(s, "\"mountain\"", 10, &h, &n), 0);
    assert_int_equal(n, 0);
    store_close(s);
}

static int upper_clean(void *ud, const char *text, char **out)
{
    ++*(int *)ud;
    *out = strdup(strcmp(text, "Beach") ? text : "beachy");
    return *out ? 0 : LISA_ENOMEM;
}

static void test_fts_rebuild(void **state)
{
    (void)state;
    store *s = fresh("rebuild.db");
    store_image im = img("/r/1.jpg", NULL);
    im.name_words = "Beach";
    im.kw_name = "beach";
    assert_int_equal(store_image_upsert(s, &im, NULL), 0);
    int calls = 0;
    assert_int_equal(store_fts_rebuild(s, upper_clean, &calls), 0);
    assert_int_equal(calls, 4); // four columns of one row
    store_hit *h;
    int n;
    assert_int_equal(store_keyword_search(s, "\"beachy\"", 10, &h, &n), 0);
    assert_int_equal(n, 1);
    free(h);
    store_close(s);
}

// ---------------------------------------------------------------- WAL concurrency

// A reader on a second connection keeps working, on the last committed
// snapshot, while the writer holds an open batch; it sees the batch after
// the commit. A second writer cannot start a batch meanwhile.
static void test_reader_during_write(void **state)
{
    (void)state;
    store *w = fresh("wal.db"), *r = NULL;
    put(w, "/w/0.jpg", H1, "old", "");
    assert_int_equal(store_open(tu_tmp("wal.db"), STORE_READONLY, &r), 0);
    assert_int_equal(store_begin(w), 0);
    assert_int_equal(store_begin(w), LISA_EINVAL);
    for (int i = 1; i <= 50; i++) {
        char p[32];
        snprintf(p, sizeof p, "/w/%d.jpg", i);
        put(w, p, H2, "fresh", "");
    }
    int64_t cnt;
    store_hit *h;
    int n;
    assert_int_equal(store_image_count(r, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_int_equal(store_keyword_search(r, "\"fresh\"", 100, &h, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_keyword_search(r, "\"old\"", 100, &h, &n), 0);
    assert_int_equal(n, 1);
    free(h);
    assert_int_equal(store_commit(w), 0);
    assert_int_equal(store_image_count(r, &cnt), 0);
    assert_int_equal(cnt, 51);
    assert_int_equal(store_keyword_search(r, "\"fresh\"", 100, &h, &n), 0);
    assert_int_equal(n, 50);
    free(h);
    // A rolled-back batch leaves nothing behind.
    assert_int_equal(store_begin(w), 0);
    put(w, "/w/gone.jpg", H1, "gone", "");
    assert_int_equal(store_rollback(w), 0);
    assert_int_equal(store_image_count(r, &cnt), 0);
    assert_int_equal(cnt, 51);
    store_close(r);
    store_close(w);
}

// ---------------------------------------------------------------- hostile paths

static void test_hostile_paths(void **state)
{
    (void)state;
    store *s = fresh("paths.db");
    const char *paths[] = {
        "/x/it's \"quoted\".jpg",
        "/x/'; DROP TABLE images; --.jpg",
        "/x/new\nline\ttab.jpg",
        "/x/日本/фото/😀 emoji.jpg",
        "/x/100% _under_\\back.jpg",
        "/x/Café.jpg",         // NFC é
        "/x/Cafe\xcc\x81.jpg", // NFD e + combining acute: a different path
    };
    int np = (int)(sizeof paths / sizeof paths[0]);
    for (int i = 0; i < np; i++) put(s, paths[i], NULL, "x", "");
    int64_t cnt;
    assert_int_equal(store_image_count(s, &cnt), 0);
    assert_int_equal(cnt, np);
    for (int i = 0; i < np; i++) {
        store_image g;
        assert_int_equal(store_image_get_by_path(s, paths[i], &g), 0);
        assert_string_equal(g.path, paths[i]);
        store_image_clear(&g);
    }
    char buf[512] = "";
    assert_int_equal(store_image_list(s, "/x/日本/", collect, buf), 0);
    assert_string_equal(buf, "/x/日本/фото/😀 emoji.jpg;");
    char big[STORE_PATH_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    store_image im = img(big, NULL);
    assert_int_equal(store_image_upsert(s, &im, NULL), LISA_EINVAL);
    store_close(s);
}

// ---------------------------------------------------------------- meta, stats, export

static void test_meta_stats_export(void **state)
{
    (void)state;
    store *s = fresh("exp.db");
    char *v;
    assert_int_equal(store_meta_get(s, "last_index_time", &v), LISA_ENOTFOUND);
    assert_int_equal(store_meta_set(s, "last_index_time", "2024-05-01T10:00:00Z"), 0);
    assert_int_equal(store_meta_get(s, "last_index_time", &v), 0);
    assert_string_equal(v, "2024-05-01T10:00:00Z");
    free(v);
    assert_int_equal(store_meta_set(s, "tmp", "1"), 0);
    assert_int_equal(store_meta_set(s, "tmp", NULL), 0);
    assert_int_equal(store_meta_get(s, "tmp", &v), LISA_ENOTFOUND);
    store_image im = img("/p/a \"b\".jpg", H1);
    im.caption = "a dog";
    im.kw_caption = "dog";
    im.date_taken = "2020-01-02T03:04:05";
    im.date_unix = 1577934245;
    int64_t a;
    assert_int_equal(store_image_upsert(s, &im, &a), 0);
    put(s, "/p/b.jpg", NULL, "b", "");
    float one[2] = {1.0f, -2.0f};
    assert_int_equal(store_embedding_put(s, a, "clip-b32", 2, one), 0);
    store_stats st;
    assert_int_equal(store_get_stats(s, &st), 0);
    assert_int_equal(st.images, 2);
    assert_int_equal(st.embeddings, 1);
    assert_int_equal(st.with_caption, 1);
    assert_int_equal(st.with_date, 1);
    assert_int_equal(st.n_models, 1);
    assert_string_equal(st.models[0].id, "clip-b32");
    assert_int_equal(st.models[0].dim, 2);
    assert_string_equal(st.last_index, "2024-05-01T10:00:00Z");
    assert_true(st.db_bytes > 0);

    FILE *f = fopen(tu_tmp("exp.json"), "w");
    assert_int_equal(store_export_json(s, f, STORE_EXPORT_EMBEDDINGS), 0);
    fclose(f);
    size_t len;
    char *txt = (char *)tu_read(tu_tmp("exp.json"), &len);
    cJSON *doc = cJSON_Parse(txt);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "format")->valuestring, "lisa-export");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "meta"), "last_index_time")->valuestring,
                        "2024-05-01T10:00:00Z");
    cJSON *imgs = cJSON_GetObjectItem(doc, "images"), *i0 = cJSON_GetArrayItem(imgs, 0);
    assert_int_equal(cJSON_GetArraySize(imgs), 2);
    assert_string_equal(cJSON_GetObjectItem(i0, "path")->valuestring, "/p/a \"b\".jpg");
    assert_string_equal(cJSON_GetObjectItem(i0, "caption")->valuestring, "a dog");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(i0, "make")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(i0, "keywords"), "caption")->valuestring, "dog");
    // The exact int64 text survives (a double would round it).
    assert_non_null(strstr(txt, "\"mtime_ns\":1700000000123456789"));
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "embeddings"), 0);
    // base64 of little-endian float32 1.0, -2.0: python3 -c "import base64,struct;
    // print(base64.b64encode(struct.pack('<2f', 1, -2)))" -> AACAPwAAAMA=
    assert_string_equal(cJSON_GetObjectItem(e0, "base64")->valuestring, "AACAPwAAAMA=");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, 1), "caption")->valuestring);
    cJSON_Delete(doc);
    free(txt);
    // Without the flag there is no "embeddings" key.
    f = fopen(tu_tmp("exp2.json"), "w");
    assert_int_equal(store_export_json(s, f, 0), 0);
    fclose(f);
    txt = (char *)tu_read(tu_tmp("exp2.json"), &len);
    assert_null(strstr(txt, "embeddings"));
    free(txt);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_schema),
        cmocka_unit_test(test_migrate_from_v1),
        cmocka_unit_test(test_upsert_get),
        cmocka_unit_test(test_hash_list_delete),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_embedding_log),
        cmocka_unit_test(test_migrate_v3_f32_to_f16),
        cmocka_unit_test(test_fts_bm25_and_columns),
        cmocka_unit_test(test_fts_bm25_matches_fts5),
        cmocka_unit_test(test_fts_rebuild),
        cmocka_unit_test(test_reader_during_write),
        cmocka_unit_test(test_hostile_paths),
        cmocka_unit_test(test_meta_stats_export),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
