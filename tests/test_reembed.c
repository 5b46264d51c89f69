// Switching models without losing work (issue 14 item 5, docs/models.md):
// `lisa index --model DIR` without paths and the server's background
// re-embedding give every image a vector for the new model and touch nothing
// else: the image rows (OCR text, captions, names, metadata, indexed_at), the
// FTS rows and the old model's vectors are byte-identical before and after.
// While the new vectors are short of the old ones, the old model answers.
#include "testutil.h"

#include "base/err.h"
#include "server/server.h"

#include <curl/curl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const files[] = {"land.jpg",    "gray.jpg",       "cmyk.jpg",    "orient1.jpg",
                                    "orient3.jpg", "orient6.jpg",    "gray.png",    "line.png",
                                    "bilevel.png", "interlaced.png", "orient7.jpg", "orient2.jpg"};
#define NFILES ((int)(sizeof files / sizeof files[0]) + 1) // + the OCR sign

static char g_models[1024];

static const char *model(const char *name)
{
    static char p[2][1200];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_models, name);
    return p[k];
}

// A library folder of NFILES test images and a data dir indexed with tiny-a
// (OCR on, captions off: no BLIP fixture here), plus OCR's rendered sign.
static void make_library(const char *tag, char *lib, char *data, size_t cap)
{
    snprintf(lib, cap, "%s", tu_tmp(tag));
    mkdir(lib, 0755);
    for (int i = 0; i < NFILES - 1; i++) {
        char src[600], dst[1200];
        snprintf(src, sizeof src, "images/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", lib, files[i]);
        tu_copy(tu_data(src), dst);
    }
    // Rendered text (tests/setup/ocr.sh), so OCR keeps words to compare.
    char dst[1200];
    snprintf(dst, sizeof dst, "%s/zz_sign.jpg", lib);
    tu_copy(tu_build("ocr/text/sign.jpg"), dst);
    snprintf(data, cap, "%s-data", lib);
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' index '%s' --data '%s' --model '%s' --no-captions --progress none",
             tu_build("lisa"), lib, data, model("tiny-a"));
    int st = tu_run(cmd, &out);
    if (st != 0) fail_msg("%s: %s", cmd, out);
    free(out);
}

// Everything re-embedding must not change, as one string: every image row
// (all columns), every FTS row, and the vectors of model keep (NULL: none).
static char *snapshot(const char *data, const char *keep)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/lisa.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    const char *sql[] = {"SELECT * FROM images ORDER BY id", "SELECT rowid, * FROM image_fts ORDER BY rowid",
                         "SELECT image_id, dim, hex(vec) FROM embeddings WHERE model = ?1 ORDER BY image_id"};
    size_t n = 0, cap = 1 << 16;
    char *s = malloc(cap);
    for (int q = 0; q < 3; q++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, sql[q], -1, &st, NULL), SQLITE_OK);
        if (q == 2) sqlite3_bind_text(st, 1, keep ? keep : "", -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const char *v = (const char *)sqlite3_column_text(st, c);
                size_t len = v ? strlen(v) : 4;
                while (n + len + 2 > cap) s = realloc(s, cap *= 2);
                n += (size_t)sprintf(s + n, "%s|", v ? v : "NULL");
            }
        sqlite3_finalize(st);
        s[n++] = '\n', s[n] = 0;
    }
    sqlite3_close(db);
    return s;
}

static long long count_sql(const char *data, const char *sql)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/lisa.db", data);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

// ---------------------------------------------------------------- CLI

static void test_cli_reembed_keeps_everything_else(void **state)
{
    (void)state;
    char lib[600], data[700];
    make_library("cli", lib, data, sizeof lib);
    // The OCR step ran on this library (so "not recomputed" means something).
    assert_true(count_sql(data, "SELECT count(*) FROM images WHERE ocr_text IS NOT NULL") == NFILES);
    assert_true(count_sql(data, "SELECT count(*) FROM images WHERE ocr_text LIKE '%BAKERY%'") == 1);
    char *before = snapshot(data, "tiny-a");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' index --data '%s' --model '%s'", tu_build("lisa"), data, model("tiny-b"));
    int st = tu_run(cmd, &out);
    if (st != 0) fail_msg("%s: %s", cmd, out);
    char want[200];
    snprintf(want, sizeof want, "%d needed a vector, %d embedded, 0 failed", NFILES, NFILES);
    if (!strstr(out, want)) fail_msg("no '%s' in: %s", want, out);
    snprintf(want, sizeof want, "vectors: tiny-b %d of %d images (100.0%%), active", NFILES, NFILES);
    if (!strstr(out, want)) fail_msg("no '%s' in: %s", want, out);
    snprintf(want, sizeof want, "vectors: tiny-a %d of %d images (100.0%%)\n", NFILES, NFILES);
    if (!strstr(out, want)) fail_msg("no '%s' in: %s", want, out);
    free(out);
    char *after = snapshot(data, "tiny-a");
    assert_string_equal(before, after); // images, FTS and tiny-a's vectors untouched
    free(before), free(after);
    assert_true(count_sql(data, "SELECT count(*) FROM embeddings WHERE model = 'tiny-b'") == NFILES);
    // A second run has nothing to do.
    st = tu_run(cmd, &out);
    assert_int_equal(st, 0);
    if (!strstr(out, "0 needed a vector, 0 embedded")) fail_msg("second run: %s", out);
    free(out);
}

// ---------------------------------------------------------------- server

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    char **b = ud;
    size_t k = sz * nm, have = *b ? strlen(*b) : 0;
    *b = realloc(*b, have + k + 1);
    memcpy(*b + have, p, k);
    (*b)[have + k] = 0;
    return k;
}

static cJSON *get_json(int port, const char *path, long want)
{
    char url[512], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (status != want) fail_msg("%s: status %ld, body %s", path, status, body ? body : "");
    cJSON *j = cJSON_Parse(body ? body : "");
    if (!j) fail_msg("%s: not JSON: %s", path, body ? body : "");
    free(body);
    return j;
}

static cJSON *model_entry(cJSON *stats, const char *name)
{
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(stats, "models"))
    {
        cJSON *n = cJSON_GetObjectItem(m, "name");
        if (n && cJSON_IsString(n) && !strcmp(n->valuestring, name)) return m;
    }
    fail_msg("no models[] entry %s", name);
    return NULL;
}

// Starts a server on data with tiny-b active and waits for its re-embedding
// to end (reembed null); returns the last stats.
static cJSON *serve_until_done(const char *data, srv **out)
{
    srv_opts o;
    srv_opts_init(&o);
    o.data_dir = data, o.models = model("tiny-b"), o.quiet = 1, o.threads = 2;
    if (srv_start(&o, out) < 0) fail_msg("srv_start: %s", lisa_errmsg());
    int port = srv_port(*out);
    for (int i = 0; i < 600; i++) {
        cJSON *s = get_json(port, "/api/stats", 200);
        assert_string_equal(cJSON_GetObjectItem(s, "active_model")->valuestring, "tiny-b");
        cJSON *r = cJSON_GetObjectItem(s, "reembed");
        assert_non_null(r);
        if (cJSON_IsNull(r)) return s;
        assert_string_equal(cJSON_GetObjectItem(r, "model")->valuestring, "tiny-b");
        assert_true(cJSON_GetObjectItem(r, "done")->valuedouble <= cJSON_GetObjectItem(r, "total")->valuedouble);
        cJSON_Delete(s);
        usleep(100000);
    }
    fail_msg("re-embedding did not end in 60 s");
    return NULL;
}

static void test_server_switches_after_reembed(void **state)
{
    (void)state;
    char lib[600], data[700];
    make_library("srv", lib, data, sizeof lib);
    char *before = snapshot(data, "tiny-a");
    srv *s;
    cJSON *st = serve_until_done(data, &s);
    cJSON *b = model_entry(st, "tiny-b"), *a = model_entry(st, "tiny-a");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "active")));
    assert_true(cJSON_GetObjectItem(b, "coverage")->valuedouble == 1.0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a, "active")));
    assert_true(cJSON_GetObjectItem(a, "coverage")->valuedouble == 1.0);
    cJSON_Delete(st);
    // Switched: the active model answers now.
    st = get_json(srv_port(s), "/api/stats", 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(model_entry(st, "tiny-b"), "answering")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(model_entry(st, "tiny-a"), "answering")));
    cJSON_Delete(st);
    cJSON_Delete(get_json(srv_port(s), "/api/search?query=land", 200));
    srv_stop(s);
    char *after = snapshot(data, "tiny-a");
    assert_string_equal(before, after);
    free(before), free(after);
    assert_true(count_sql(data, "SELECT count(*) FROM embeddings WHERE model = 'tiny-b'") == NFILES);
}

// Files gone since the old model indexed them: the new model cannot catch up,
// so the old vectors keep answering (and nothing else changes).
static void test_server_keeps_old_model_while_short(void **state)
{
    (void)state;
    char lib[600], data[700];
    make_library("gone", lib, data, sizeof lib);
    for (int i = 0; i < NFILES - 1; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", lib, files[i]);
        unlink(p);
    }
    char p[1200];
    snprintf(p, sizeof p, "%s/zz_sign.jpg", lib);
    unlink(p);
    char *before = snapshot(data, "tiny-a");
    srv *s;
    cJSON *st = serve_until_done(data, &s);
    cJSON *b = model_entry(st, "tiny-b"), *a = model_entry(st, "tiny-a");
    assert_true(cJSON_GetObjectItem(b, "coverage")->valuedouble == 0.0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "active")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(b, "answering")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "answering")));
    assert_true(cJSON_GetObjectItem(a, "coverage")->valuedouble == 1.0);
    cJSON_Delete(st);
    // Vector search answers from tiny-a's vectors: an image query finds itself.
    cJSON *r = get_json(srv_port(s), "/api/search?query=photo&top_k=5&clip_weight=1", 200);
    cJSON *res = cJSON_GetObjectItem(r, "results");
    assert_non_null(res);
    assert_true(cJSON_GetArraySize(res) > 0);
    cJSON_Delete(r);
    srv_stop(s);
    char *after = snapshot(data, "tiny-a");
    assert_string_equal(before, after);
    free(before), free(after);
}

int main(void)
{
    if (tu_find_models("tiny-b", g_models, sizeof g_models, "tests/setup/clip_models.sh") < 0) {
        fprintf(stderr, "test_reembed: %s\n", lisa_errmsg());
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_reembed_keeps_everything_else),
        cmocka_unit_test(test_server_switches_after_reembed),
        cmocka_unit_test(test_server_keeps_old_model_while_short),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
