// Keyword cleaning: Unicode tokenizing (accents, CJK, emoji), stop words,
// Snowball stemming, file-name words, and the FTS5 query builder against
// hostile input, which must always give a valid MATCH expression.
#include "testutil.h"
#include "base/err.h"
#include "search/keywords.h"
#include "store/store.h"

#include <stdio.h>
#include <unistd.h>

int kw__stopword_count(void);
const char *kw__stopword(int i);

static kw *K;

static int setup(void **state)
{
    (void)state;
    return kw_new(&K);
}

static int teardown(void **state)
{
    (void)state;
    kw_free(K);
    return 0;
}

static void expect_clean(const char *in, int flags, const char *want)
{
    char *out = NULL;
    if (kw_clean(K, in, flags, &out)) fail_msg("kw_clean(%s): %s", in, lisa_errmsg());
    if (strcmp(out, want)) fail_msg("kw_clean(\"%s\") = \"%s\", want \"%s\"", in, out, want);
    free(out);
}

static void test_tokenize_unicode(void **state)
{
    (void)state;
    expect_clean("Hello, World! 42", 0, "hello world 42");
    // Case folding and Latin diacritics: é, ï, ß, ﬁ ligature (NFKC).
    expect_clean("Café NAÏVE Straße ﬁsh", 0, "cafe naive strasse fish");
    expect_clean("Cafe\xcc\x81", 0, "cafe"); // NFD input folds the same
    // Non-Latin marks stay: Devanagari vowel signs, Hangul recomposed.
    expect_clean("नमस्ते 서울", 0, "नमस्ते 서울");
    expect_clean("Москва Ёлка Йод", 0, "москва ёлка йод");
    // Han and kana are character unigrams; an emoji is a separator.
    expect_clean("東京タワー", 0, "東 京 タ ワ ー");
    expect_clean("beach🌅sunset 🐶", 0, "beach sunset");
    // Zero-width joiner and soft hyphen are ignorable, not separators.
    expect_clean("sun\xc2\xadset wo\xe2\x80\x8drd", 0, "sunset word");
    expect_clean("", 0, "");
    expect_clean(NULL, 0, "");
    expect_clean("!!! ... ---", KW_CLEAN, "");
    // Tokens over KW_TOKEN_MAX bytes are dropped.
    char big[KW_TOKEN_MAX + 20];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char in[sizeof big + 16];
    snprintf(in, sizeof in, "ok %s fine", big);
    expect_clean(in, 0, "ok fine");
    // Invalid UTF-8 is an error with the byte offset.
    char *out = NULL;
    assert_int_equal(kw_clean(K, "ab\xff", 0, &out), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "byte 2"));
    assert_null(out);
}

static void test_stopwords(void **state)
{
    (void)state;
    for (int i = 1; i < kw__stopword_count(); i++)
        assert_true(strcmp(kw__stopword(i - 1), kw__stopword(i)) < 0); // sorted for bsearch
    for (int i = 0; i < kw__stopword_count(); i++) assert_true(kw_is_stopword(kw__stopword(i)));
    assert_true(kw_is_stopword("the") && kw_is_stopword("and") && kw_is_stopword("t"));
    assert_false(kw_is_stopword("dog") || kw_is_stopword("photo") || kw_is_stopword(""));
    expect_clean("The dog and THE cat, isn't it?", KW_STOP, "dog cat");
}

// Pairs from the Snowball English (Porter2) algorithm's published examples
// and its definition (step 1a/1b/2/3/4 suffixes).
static void test_stemming(void **state)
{
    (void)state;
    static const char *pairs[][2] = {
        {"running", "run"},       {"runs", "run"},           {"beaches", "beach"},       {"dogs", "dog"},
        {"cities", "citi"},       {"happiness", "happi"},    {"generously", "generous"}, {"connection", "connect"},
        {"connected", "connect"}, {"relational", "relat"},   {"skies", "sky"},           {"dying", "die"},
        {"sunsets", "sunset"},    {"mountains", "mountain"}, {"2019", "2019"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) expect_clean(pairs[i][0], KW_STEM, pairs[i][1]);
    expect_clean("Dogs running on the beaches", KW_CLEAN, "dog run beach");
    expect_clean("東京 Cafés", KW_CLEAN, "東 京 cafe");
}

static void expect_name(const char *path, const char *root, const char *want)
{
    char *out = NULL;
    if (kw_name_words(path, root, &out)) fail_msg("kw_name_words(%s): %s", path, lisa_errmsg());
    if (strcmp(out, want)) fail_msg("kw_name_words(\"%s\") = \"%s\", want \"%s\"", path, out, want);
    free(out);
}

static void test_name_words(void **state)
{
    (void)state;
    expect_name("/p/Holidays/IMG_2041_BeachSunset-final.jpg", "/p", "holidays beach sunset final");
    expect_name("IMG_2041_BeachSunset-final.jpg", NULL, "beach sunset final");
    // Root's own name is kept; folders above it are not; generic library
    // folder names (Pictures, images, uploads) are noise.
    expect_name("/home/ann/Vacations/Trip 2019/Rome.Colosseum.HEIC", "/home/ann/Vacations/",
                "vacations trip 2019 rome colosseum");
    expect_name("/home/ann/Pictures/Trip 2019/Rome.Colosseum.HEIC", "/home/ann/Pictures/", "trip 2019 rome colosseum");
    expect_name("/srv/lisa/data/images/beach.jpg", "/srv/lisa/data/images", "beach");
    // Without a root: the last KW_NAME_DIRS folders.
    expect_name("/a/bb/cc/dd/ee/x.png", NULL, "cc dd ee");
    // camelCase, acronyms, letter/digit boundaries, counters, duplicates.
    expect_name("/x/HTMLParser_v2_DSC01234.jpeg", "/x", "html parser");
    expect_name("/x/PXL_20230704_123456789.jpg", "/x", "");
    expect_name("/x/beach/beach_day2.JPG", "/x", "beach day");
    expect_name("/x/Ünïcode_Fête-東京.webp", "/x", "ünïcode fête 東京");
    // Dots that are not an extension, hidden files, invalid bytes.
    expect_name("/x/my.holiday.photos", "/x", "my holiday photos"); // "photos": 6 chars
    expect_name("/x/my.holiday.tif", "/x", "my holiday");
    expect_name("/x/.hidden", "/x", "hidden");
    expect_name("/x/bad\xff\xfename.jpg", "/x", "bad name");
    expect_name("", NULL, "");
}

static void expect_query(const char *q, const char *want)
{
    char *out = NULL;
    if (kw_query(K, q, &out)) fail_msg("kw_query(%s): %s", q, lisa_errmsg());
    if (!want) {
        if (out) fail_msg("kw_query(\"%s\") = \"%s\", want NULL", q, out);
        return;
    }
    if (!out || strcmp(out, want)) fail_msg("kw_query(\"%s\") = \"%s\", want \"%s\"", q, out ? out : "(null)", want);
    free(out);
}

static void test_query_builder(void **state)
{
    (void)state;
    expect_query("Dogs running on the beach!", "\"dog\" OR \"run\" OR \"beach\"");
    expect_query("dog DOGS dog", "\"dog\"");
    expect_query("the and of", NULL);
    expect_query("\" * - ^ : ( )", NULL);
    expect_query("NEAR(dog cat, 2)", "\"near\" OR \"dog\" OR \"cat\" OR \"2\"");
    expect_query("dog AND cat NOT bird OR fish", "\"dog\" OR \"cat\" OR \"bird\" OR \"fish\"");
    expect_query("name:beach \"sun set\" -rain beach*", "\"name\" OR \"beach\" OR \"sun\" OR \"set\" OR \"rain\"");
    // At most KW_QUERY_TERMS terms.
    char big[4096] = "";
    for (int i = 0; i < 100; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "w%d ", i);
    char *out = NULL;
    assert_int_equal(kw_query(K, big, &out), 0);
    int terms = 1;
    for (const char *p = out; (p = strstr(p, " OR ")); p += 4) terms++;
    assert_int_equal(terms, KW_QUERY_TERMS);
    free(out);
}

// Every query built from hostile input is accepted by FTS5 (no syntax
// error) and finds the documents it should.
static void test_query_runs_in_fts(void **state)
{
    (void)state;
    store *s;
    unlink(tu_tmp("kw.db"));
    assert_int_equal(store_open(tu_tmp("kw.db"), STORE_CREATE, &s), 0);
    store_image im = {.path = "/k/1.jpg", .date_unix = STORE_NO_DATE};
    char *name = NULL, *clean = NULL;
    assert_int_equal(kw_name_words("/k/DogsRunning_Beach.jpg", "/k", &name), 0);
    assert_int_equal(kw_clean(K, name, KW_CLEAN, &clean), 0);
    im.kw_name = clean;
    assert_int_equal(store_image_upsert(s, &im, NULL), 0);
    free(name);
    free(clean);
    static const char *hostile[] = {
        "\"",
        "\"\"\"",
        "*",
        "NEAR(",
        "AND",
        "OR dog",
        "-dog",
        "dog -",
        "^dog",
        "name:dog",
        "{name meta}: dog",
        "dog\" OR \"x",
        "(((dog",
        "dog)))",
        "NOT",
        "'; DROP TABLE images; --",
        "running dogs",
        "a\"b*c^d:e(f)g-h+i",
        "\xe2\x80\x8b",
        "dog\n\tbeach",
    };
    int found = 0;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char *q = NULL;
        assert_int_equal(kw_query(K, hostile[i], &q), 0);
        if (!q) continue;
        store_hit *h;
        int n;
        if (store_keyword_search(s, q, 10, &h, &n))
            fail_msg("query %s from \"%s\" rejected: %s", q, hostile[i], lisa_errmsg());
        found += n;
        free(h);
        free(q);
    }
    // "OR dog", "-dog", "dog -", "^dog", "name:dog", "{name meta}: dog",
    // "dog\" OR \"x", "(((dog", "dog)))", "running dogs", "dog\n\tbeach".
    assert_int_equal(found, 11);
    store_close(s);
}

// Chips are readable words: no stop words, no punctuation, no single letters
// or counters, diacritics kept, CJK runs whole, each once, at most max.
static void chips_eq(const char *text, int max, const char *want)
{
    char *w[32], got[1024] = "";
    int n = 0;
    assert_int_equal(kw_chips(text, w, max, &n), 0);
    for (int i = 0; i < n; i++) {
        if (i) strcat(got, "|");
        strcat(got, w[i]);
        free(w[i]);
    }
    if (strcmp(got, want)) fail_msg("chips('%s') = '%s', want '%s'", text, got, want);
}

static void test_chips(void **state)
{
    (void)state;
    chips_eq("Two cups of coffee over the table at a café in Aarhus, Denmark.", 12,
             "two|cups|coffee|table|café|aarhus|denmark");
    chips_eq("Zürich_Altstadt été", 12, "zürich|altstadt|été");
    chips_eq("東京タワー at night", 12, "東京タワー|night");
    chips_eq("IMG 2041 trip 1999 7 x", 12, "img|2041|trip|1999");
    chips_eq("Dog dog DOG, dog.", 12, "dog");
    chips_eq("a b c d e f g h i j k l m n o p q r s t u v w x y z one two three", 2, "one|two");
    chips_eq("\"quoted\" (parens) [brackets] #tag @me ...", 12, "quoted|parens|brackets|tag");
    chips_eq(NULL, 12, "");
    char *w[4];
    int n = 0;
    assert_int_equal(kw_chips("bad \xff utf8", w, 4, &n), LISA_EFORMAT);
    assert_int_equal(n, 0);
    w[0] = strdup("beach"), n = 1; // against the words already there
    assert_int_equal(kw_chips("Beach sunset", w, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(w[1], "sunset");
    free(w[0]), free(w[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_unicode),
        cmocka_unit_test(test_stopwords),
        cmocka_unit_test(test_stemming),
        cmocka_unit_test(test_name_words),
        cmocka_unit_test(test_query_builder),
        cmocka_unit_test(test_query_runs_in_fts),
        cmocka_unit_test(test_chips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
