// The query language (search/query.h): every key, quoting, signs, unicode,
// errors that name the part; then the filters evaluated by the store
// (store_filter_ids / store_page / store_order_ids) on a hand-built library,
// and search_run() end to end without a model (listing, paging, sort, totals,
// the empty answer).
#include "testutil.h"
#include "base/err.h"
#include "search/keywords.h"
#include "search/query.h"
#include "search/search.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static kw *g_kw;

static query *ok(const char *text)
{
    query *q = NULL;
    int rc = query_parse(g_kw, text, &q);
    if (rc) fail_msg("query_parse(%s): %s", text, lisa_errmsg());
    return q;
}

// Parsing fails with LISA_EINVAL and the message contains want.
static void err(const char *text, const char *want)
{
    query *q = (query *)1;
    int rc = query_parse(g_kw, text, &q);
    if (rc != LISA_EINVAL || q) fail_msg("query_parse(%s) = %d, want LISA_EINVAL", text, rc);
    if (!strstr(lisa_errmsg(), want)) fail_msg("query_parse(%s): message '%s' lacks '%s'", text, lisa_errmsg(), want);
}

static int64_t day(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    return (int64_t)timegm(&tm);
}

static void test_words_and_phrases(void **state)
{
    (void)state;
    query *q = ok("  beach   sunset ");
    assert_string_equal(q->text, "beach sunset");
    assert_int_equal(q->n_words, 2);
    assert_int_equal(q->f.n, 0);
    assert_true(query_ranks(q));
    query_free(q);

    q = ok("\"red cars\" parked -dogs -\"the big cat\" +tree");
    assert_string_equal(q->text, "red cars parked tree"); // phrases join the semantic text; + is a plain word
    assert_int_equal(q->f.n, 3);
    assert_int_equal(q->f.c[0].kind, STORE_F_MATCH);
    assert_false(q->f.c[0].neg);
    assert_string_equal(q->f.c[0].text, "\"red car\""); // cleaned as the index is: stemmed
    assert_true(q->f.c[1].neg);
    assert_string_equal(q->f.c[1].text, "\"dog\"");
    assert_true(q->f.c[2].neg);
    assert_string_equal(q->f.c[2].text, "\"big cat\""); // stop word dropped
    assert_int_equal(q->n_filters, 0);
    query_free(q);

    q = ok("Café 東京 \"re:union\" 12:30"); // unicode words; a quoted colon word; digits before ':' are a word
    assert_string_equal(q->text, "Café 東京 re:union 12:30");
    assert_int_equal(q->n_words, 4);
    query_free(q);

    q = ok("");
    assert_string_equal(q->text, "");
    assert_false(query_ranks(q));
    query_free(q);
    q = ok("\"\" - +"); // empty phrase and lone signs: nothing
    assert_false(query_ranks(q));
    assert_int_equal(q->f.n, 0);
    query_free(q);
}

static void test_dates(void **state)
{
    (void)state;
    query *q = ok("after:2019-06 before:2020-01-15 year:2021 on:2021-07-14 month:july Month:3 month:Sep");
    assert_false(query_ranks(q));
    assert_int_equal(q->n_filters, 7);
    const store_clause *c = q->f.c;
    assert_int_equal(c[0].kind, STORE_F_DATE);
    assert_true(c[0].lo == day(2019, 6, 1) && c[0].hi == INT64_MAX);
    assert_true(c[1].lo == INT64_MIN && c[1].hi == day(2020, 1, 15));
    assert_true(c[2].lo == day(2021, 1, 1) && c[2].hi == day(2022, 1, 1));
    assert_true(c[3].lo == day(2021, 7, 14) && c[3].hi == day(2021, 7, 15));
    assert_int_equal(c[4].kind, STORE_F_MONTH);
    assert_int_equal(c[4].lo, 7);
    assert_int_equal(c[5].lo, 3);
    assert_int_equal(c[6].lo, 9);
    query_free(q);
    q = ok("on:2024-02-29 after:2019-12 -year:2020");
    assert_true(q->f.c[0].hi == day(2024, 3, 1));
    assert_true(q->f.c[1].lo == day(2019, 12, 1));
    assert_true(q->f.c[2].neg);
    query_free(q);

    err("after:2019-13", "month 13 is not in 01..12");
    err("on:2023-02-29", "is not a day of that month");
    err("before:yesterday", "'yesterday' is not a date");
    err("after:19-06", "is not a date");
    err("year:2021-07", "four digits");
    err("year:3000", "not in 1800..2200");
    err("month:juli", "'juli' is not a month");
    err("month:13", "month 13 is not in 1..12");
    err("month:ju", "is not a month"); // too short to be a name
    err("on:", "on: needs a value");
}

static void test_text_filters(void **state)
{
    (void)state;
    query *qt = ok("type:png|JPG|heic");
    assert_string_equal(qt->f.c[0].text, "png,jpeg,heif");
    query_free(qt);
    query *q = ok("camera:\"canon eos\" lens:50mm type:JPG type:heic folder:Holidays name:IMG_20 text:RE16 beach");
    assert_string_equal(q->text, "beach");
    assert_int_equal(q->n_filters, 7);
    const store_clause *c = q->f.c;
    assert_int_equal(c[0].kind, STORE_F_CAMERA);
    assert_string_equal(c[0].text, "canon eos");
    assert_int_equal(c[1].kind, STORE_F_LENS);
    assert_string_equal(c[1].text, "50mm");
    assert_int_equal(c[2].kind, STORE_F_TYPE);
    assert_string_equal(c[2].text, "jpeg");
    assert_string_equal(c[3].text, "heif");
    assert_int_equal(c[4].kind, STORE_F_FOLDER);
    assert_string_equal(c[4].text, "Holidays");
    assert_int_equal(c[5].kind, STORE_F_NAME);
    assert_int_equal(c[6].kind, STORE_F_OCR);
    assert_string_equal(c[6].text, "RE16");
    query_free(q);
    q = ok("-camera:nikon CAMERA:\"Ünïcode ß\" folder:\"My Trips/2019\"");
    assert_true(q->f.c[0].neg);
    assert_string_equal(q->f.c[1].text, "Ünïcode ß");
    assert_string_equal(q->f.c[2].text, "My Trips/2019");
    query_free(q);

    err("type:raw", "'raw' is not a type");
    err("type:png|", "'' is not a type");
    err("type:png|raw", "'raw' is not a type");
    err("camera:\"canon eos", "unterminated quote");
    err("\"open phrase", "unterminated quote");
    err("colour:red", "unknown filter 'colour:'");
    err("beach Foo:bar", "query part 'Foo:bar'");
    err("+camera:x", "'+' only goes with like:");
    err("-the", "nothing searchable");
    err("\"the of\"", "nothing searchable");
}

static void test_numbers(void **state)
{
    (void)state;
    query *q = ok("near:48.8584,2.2945 near:-33.85,151.21,2.5 orientation:portrait orientation:Landscape "
                  "size:>12mp size:<=2mb size:0.5mp size:<100kb");
    const store_clause *c = q->f.c;
    assert_int_equal(c[0].kind, STORE_F_NEAR);
    assert_true(c[0].lat == 48.8584 && c[0].lon == 2.2945 && c[0].km == QUERY_NEAR_KM);
    assert_true(c[1].lat == -33.85 && c[1].km == 2.5);
    assert_int_equal(c[2].lo, STORE_PORTRAIT);
    assert_int_equal(c[3].lo, STORE_LANDSCAPE);
    assert_int_equal(c[4].kind, STORE_F_PIXELS);
    assert_true(c[4].lo == 12000001 && c[4].hi == INT64_MAX);
    assert_int_equal(c[5].kind, STORE_F_BYTES);
    assert_true(c[5].lo == 0 && c[5].hi == 2000000);
    assert_true(c[6].lo == 500000);
    assert_true(c[7].hi == 99999);
    query_free(q);

    err("near:91,0", "latitude");
    err("near:0,181", "longitude");
    err("near:1,2,0", "radius");
    err("near:paris", "is not a position");
    err("near:1,2,3,4", "is not a position");
    err("orientation:diagonal", "not an orientation");
    err("size:>12", "size unit '' is not mp");
    err("size:big", "is not a size");
    err("size:>-3mp", "is not a size");
}

static void test_like(void **state)
{
    (void)state;
    query *q = ok("like:12 +like:7 -like:3 sunset");
    assert_int_equal(q->n_like, 3);
    assert_true(q->like[0].id == 12 && q->like[0].sign == 1);
    assert_true(q->like[1].id == 7 && q->like[1].sign == 1);
    assert_true(q->like[2].id == 3 && q->like[2].sign == -1);
    assert_true(query_ranks(q));
    query_free(q);
    q = ok("like:5");
    assert_true(query_ranks(q)); // an image alone ranks
    assert_string_equal(q->text, "");
    query_free(q);
    err("like:abc", "'abc' is not an image id");
    err("like:0", "is not an image id");
    err("like:-4", "is not an image id");
}

static void test_limits(void **state)
{
    (void)state;
    char big[QUERY_TEXT_MAX + 8];
    memset(big, 'a', sizeof big - 1), big[sizeof big - 1] = 0;
    err(big, "over 4096");
    err("caf\xc3 beach", "not valid UTF-8 at byte 3");
    char many[2048] = "";
    for (int i = 0; i < 33; i++) strcat(many, "type:png ");
    err(many, "more than 32 filters");
    char likes[512] = "";
    for (int i = 0; i < 17; i++) strcat(likes, "like:1 ");
    err(likes, "more than 16 like:");
    char lv[700] = "name:";
    memset(lv + 5, 'x', 600), lv[605] = 0;
    err(lv, "value over 511 bytes");
}

// ---------------------------------------------------------------- filters in the store

static const char H[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static int64_t put(store *s, const char *path, int w, int h, int64_t date, const char *make, const char *model,
                   const char *lens, int gps, double lat, double lon, const char *ocr, const char *kw_name)
{
    store_image im = {0};
    im.path = (char *)path, im.hash = (char *)H, im.size = (int64_t)w * h / 4, im.mtime_ns = 1700000000LL * 1000000000;
    im.width = w, im.height = h, im.date_unix = date;
    char iso[32] = "";
    if (date != STORE_NO_DATE) {
        time_t t = (time_t)date;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
        im.date_taken = iso;
    }
    im.make = (char *)make, im.model = (char *)model, im.lens = (char *)lens;
    im.has_gps = gps, im.lat = lat, im.lon = lon;
    im.ocr_text = (char *)ocr, im.name_words = (char *)kw_name;
    assert_int_equal(kw_clean(g_kw, ocr, KW_CLEAN, &im.kw_ocr), 0); // the FTS holds cleaned text, as the indexer writes
    assert_int_equal(kw_clean(g_kw, kw_name, KW_CLEAN, &im.kw_name), 0);
    int64_t id = 0;
    if (store_image_upsert(s, &im, &id)) fail_msg("upsert %s: %s", path, lisa_errmsg());
    free(im.kw_ocr), free(im.kw_name);
    return id;
}

static int64_t g_id[6];

static void library(const char *dbpath)
{
    store *s = NULL;
    unlink(dbpath);
    assert_int_equal(store_open(dbpath, STORE_CREATE, &s), 0);
    g_id[0] = put(s, "/p/Holidays/2019/beach.jpg", 4000, 3000, day(2019, 7, 14) + 3600, "Canon", "Canon EOS 5D",
                  "EF50mm f/1.8", 1, 48.8584, 2.2945, "RE16 TGK", "holidays beach");
    g_id[1] = put(s, "/p/Holidays/2020/Café.PNG", 1000, 2000, day(2020, 1, 15), "NIKON", "D750", NULL, 1, -33.8568,
                  151.2153, NULL, "holidays cafe");
    g_id[2] =
        put(s, "/p/work/scan.tiff", 2000, 2000, day(2021, 3, 1), NULL, NULL, NULL, 0, 0, 0, "invoice 42", "work scan");
    g_id[3] = put(s, "/p/work/notes.webp", 800, 600, STORE_NO_DATE, "Apple", "iPhone 12", "iPhone 12 back camera", 0, 0,
                  0, NULL, "work notes");
    store_close(s);
}

// The ids that pass the filter of query text, as a bit set over g_id.
static int pass(store *s, const char *text)
{
    query *q = ok(text);
    int64_t *ids = NULL;
    size_t n = 0;
    if (store_filter_ids(s, &q->f, &ids, &n)) fail_msg("filter %s: %s", text, lisa_errmsg());
    int bits = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            if (ids[i] == g_id[k]) bits |= 1 << k;
    free(ids);
    query_free(q);
    return bits;
}

static void test_store_filters(void **state)
{
    (void)state;
    const char *db = tu_tmp("query_lib.db");
    library(db);
    store *s = NULL;
    assert_int_equal(store_open(db, 0, &s), 0);
    assert_int_equal(pass(s, ""), 15);
    assert_int_equal(pass(s, "year:2019"), 1);
    assert_int_equal(pass(s, "after:2020"), 2 | 4 | 8); // notes: no EXIF date, mtime 2023-11
    assert_int_equal(pass(s, "before:2020-01-15"), 1);  // before excludes the day itself
    assert_int_equal(pass(s, "on:2020-01-15"), 2);
    assert_int_equal(pass(s, "month:july"), 1);
    assert_int_equal(pass(s, "-month:7"), 14);
    assert_int_equal(pass(s, "camera:\"canon eos\""), 1);
    assert_int_equal(pass(s, "camera:nikon"), 2); // case-insensitive
    assert_int_equal(pass(s, "camera:iphone"), 8);
    assert_int_equal(pass(s, "lens:ef50"), 1);
    assert_int_equal(pass(s, "type:jpeg"), 1);
    assert_int_equal(pass(s, "type:png"), 2); // upper-case extension
    assert_int_equal(pass(s, "type:tiff"), 4);
    assert_int_equal(pass(s, "type:png|tif"), 6);
    assert_int_equal(pass(s, "-type:jpeg|webp"), 6);
    assert_int_equal(pass(s, "folder:holidays"), 3);
    assert_int_equal(pass(s, "folder:Holidays/2019"), 1);
    assert_int_equal(pass(s, "folder:/p/work"), 12);
    assert_int_equal(pass(s, "folder:/p/wo"), 0);     // a prefix is whole components
    assert_int_equal(pass(s, "folder:beach.jpg"), 0); // the file name is not a folder
    assert_int_equal(pass(s, "name:cafe"), 2);        // accents ignored
    assert_int_equal(pass(s, "name:CAFÉ"), 2);
    assert_int_equal(pass(s, "text:re16"), 1); // OCR substring: "RE16" finds "RE16 TGK"
    assert_int_equal(pass(s, "text:\"16 tg\""), 1);
    assert_int_equal(pass(s, "near:48.85,2.29"), 1);     // 0.7 km away
    assert_int_equal(pass(s, "near:48.85,2.29,0.1"), 0); // but not within 100 m
    assert_int_equal(pass(s, "near:-33.9,151.2,20"), 2);
    assert_int_equal(pass(s, "orientation:portrait"), 2);
    assert_int_equal(pass(s, "orientation:landscape"), 9);
    assert_int_equal(pass(s, "orientation:square"), 4);
    assert_int_equal(pass(s, "size:>4mp"), 1);
    assert_int_equal(pass(s, "size:>=4mp"), 5);
    assert_int_equal(pass(s, "size:<1mp"), 8);
    assert_int_equal(pass(s, "size:>2mb"), 1); // size = w*h/4 bytes here: 3 MB
    assert_int_equal(pass(s, "folder:holidays -type:png"), 1);
    assert_int_equal(pass(s, "\"work scan\""), 4); // phrase requirement over the keyword text
    assert_int_equal(pass(s, "-work"), 3);
    assert_int_equal(pass(s, "-invoice"), 11);

    int64_t ids[8], total = 0;
    int n = 0;
    assert_int_equal(store_page(s, NULL, STORE_SORT_DATE_DESC, 0, 8, ids, &n, &total), 0);
    assert_int_equal(total, 4);
    assert_int_equal(n, 4);
    assert_true(ids[0] == g_id[3] && ids[1] == g_id[2] && ids[2] == g_id[1] && ids[3] == g_id[0]); // newest first
    assert_int_equal(store_page(s, NULL, STORE_SORT_NAME, 1, 2, ids, &n, &total), 0);
    assert_int_equal(n, 2); // beach, Café, notes, scan: page 2 of 2-per-page
    assert_true(ids[0] == g_id[1] && ids[1] == g_id[3]);
    assert_int_equal(store_page(s, NULL, STORE_SORT_ADDED_DESC, 3, 8, ids, &n, &total), 0);
    assert_true(n == 1 && ids[0] == g_id[0]);
    assert_int_equal(store_page(s, NULL, STORE_SORT_DATE, 9, 8, ids, &n, &total), 0);
    assert_true(n == 0 && total == 4);
    int64_t set[5] = {g_id[2], 9999, g_id[0], g_id[3]};
    size_t kept = 0;
    assert_int_equal(store_order_ids(s, set, 4, STORE_SORT_DATE, &kept), 0);
    assert_int_equal(kept, 3); // 9999 is not in the store
    assert_true(set[0] == g_id[0] && set[1] == g_id[2] && set[2] == g_id[3]);
    store_close(s);
}

// ---------------------------------------------------------------- search_run without a model

static void test_search_listing(void **state)
{
    (void)state;
    const char *dir = tu_tmp("query_data");
    mkdir(dir, 0755);
    char db[4096];
    snprintf(db, sizeof db, "%s/lisa.db", dir);
    library(db);
    search_opts so = {dir, NULL, NULL, NULL};
    search_ctx *sc = NULL;
    assert_int_equal(search_open(&so, &sc), 0);
    search_results r;
    search_page pg = {0, 3, SEARCH_SORT_AUTO, 0.7};
    assert_int_equal(search_run(sc, "", &pg, &r), 0); // the library, newest first, paged
    assert_true(r.listing && r.total == 4 && r.n == 3 && r.sort == STORE_SORT_DATE_DESC);
    assert_true(r.r[0].id == g_id[3] && !r.r[0].has_score && !r.r[0].has_clip && !r.r[0].has_kw);
    search_results_free(&r);
    pg.offset = 3;
    assert_int_equal(search_run(sc, "", &pg, &r), 0);
    assert_true(r.n == 1 && r.r[0].id == g_id[0] && r.offset == 3);
    search_results_free(&r);

    pg.offset = 0, pg.limit = 10;
    assert_int_equal(search_run(sc, "folder:holidays", &pg, &r), 0);
    assert_true(r.listing && r.total == 2 && r.r[0].id == g_id[1]);
    search_results_free(&r);

    assert_int_equal(search_run(sc, "holidays", &pg, &r), 0); // keyword-only ranking: both name hits
    assert_true(!r.listing && r.keyword_only && r.total == 2);
    for (int i = 0; i < r.n; i++) {
        assert_true(r.r[i].has_score && r.r[i].has_kw && !r.r[i].has_clip);
        assert_true(r.r[i].matched != 0);
    }
    assert_true(r.r[0].score == 1.0f); // the best keyword hit reads 1.0 with no model, not 0.3
    search_results_free(&r);

    pg.sort = STORE_SORT_DATE; // date sort over the relevant set only
    assert_int_equal(search_run(sc, "holidays", &pg, &r), 0);
    assert_true(r.total == 2 && r.r[0].id == g_id[0] && r.r[1].id == g_id[1]);
    search_results_free(&r);
    pg.sort = SEARCH_SORT_AUTO;

    assert_int_equal(search_run(sc, "holidays year:1990", &pg, &r), 0); // a filter nothing passes: nothing
    assert_true(r.total == 0 && r.n == 0);
    search_results_free(&r);
    assert_int_equal(search_run(sc, "holidays -type:png", &pg, &r), 0);
    assert_true(r.total == 1 && r.r[0].id == g_id[0]);
    search_results_free(&r);

    assert_int_equal(search_run(sc, "the of", &pg, &r), 0); // stop words only: no keyword part, no model: nothing
    assert_true(r.total == 0 && !r.listing);
    search_results_free(&r);
    assert_int_equal(search_run(sc, "xyzzy nothing", &pg, &r), 0); // the explicit empty answer
    assert_true(r.total == 0 && r.n == 0);
    assert_non_null(strstr(r.empty, "No matches for 'xyzzy nothing'"));
    search_results_free(&r);
    assert_int_equal(search_run(sc, "year:1999", &pg, &r), 0);
    assert_true(r.total == 0 && strstr(r.empty, "No photos match the filters"));
    search_results_free(&r);

    assert_int_equal(search_run(sc, "like:1", &pg, &r), LISA_ENOTFOUND); // needs a model
    assert_non_null(strstr(lisa_errmsg(), "like: needs a CLIP model"));
    assert_int_equal(search_run(sc, "beach colour:red", &pg, &r), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "colour:"));
    pg.limit = 0;
    assert_int_equal(search_run(sc, "", &pg, &r), LISA_EINVAL);
    int sort;
    assert_int_equal(search_sort_parse("-date", &sort), 0);
    assert_int_equal(sort, STORE_SORT_DATE_DESC);
    assert_int_equal(search_sort_parse("relevance", &sort), 0);
    assert_int_equal(sort, SEARCH_SORT_RELEVANCE);
    assert_int_equal(search_sort_parse("size", &sort), LISA_EINVAL);
    search_close(sc);
}

static int setup(void **state)
{
    (void)state;
    return kw_new(&g_kw);
}

static int teardown(void **state)
{
    (void)state;
    kw_free(g_kw);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_phrases),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_text_filters),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_store_filters),
        cmocka_unit_test(test_search_listing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
