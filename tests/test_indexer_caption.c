// BLIP captions in the indexing pipeline: generated once per content (moves and
// copies keep them), backfilled for images indexed before the captioner, off
// with no captioner, raw text stored, folded + cleaned words in the FTS column.
// Uses the blip-a fixture (tests/setup/blip_models.sh) and its PyTorch goldens.
#include "testutil.h"
#include "base/err.h"
#include "caption/caption.h"
#include "search/capwords.h"
#include "search/indexer.h"
#include "store/store.h"

#include <stdio.h>
#include <sys/stat.h>

static char g_models[512];

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    assert_int_equal(system(cmd), 0);
}

static indexer_stats run_index(const char *root, const char *data, cap_model *cm)
{
    indexer_opts o;
    indexer_opts_init(&o);
    o.data_dir = data, o.progress = 0, o.threads = 2, o.batch = 3, o.no_ocr = 1, o.captioner = cm;
    FILE *null = fopen("/dev/null", "w");
    o.out = null;
    indexer_stats st;
    const char *paths[] = {root};
    if (indexer_run(paths, 1, &o, &st) < 0) fail_msg("indexer_run: %s", lisa_errmsg());
    fclose(null);
    return st;
}

// The stored caption of path (malloc'd, NULL when none) and its FTS keywords.
static char *caption_of(const char *data, const char *path, int64_t *id)
{
    char db[1100], abs[4096];
    snprintf(db, sizeof db, "%s/lisa.db", data);
    assert_non_null(realpath(path, abs));
    store *s;
    assert_int_equal(store_open(db, 0, &s), 0);
    store_image im = {0};
    assert_int_equal(store_image_get_by_path(s, abs, &im), 0);
    char *c = im.caption ? strdup(im.caption) : NULL;
    if (id) *id = im.id;
    store_image_clear(&im);
    store_close(s);
    return c;
}

static int hits(const char *data, const char *match)
{
    char db[1100];
    snprintf(db, sizeof db, "%s/lisa.db", data);
    store *s;
    assert_int_equal(store_open(db, 0, &s), 0);
    store_hit *h = NULL;
    int n = 0;
    assert_int_equal(store_keyword_search(s, match, 50, &h, &n), 0);
    free(h);
    store_close(s);
    return n;
}

static void test_index_captions(void **state)
{
    (void)state;
    char dir[1024], lib[1024], data[1024];
    snprintf(dir, sizeof dir, "%s/blip-a", g_models);
    snprintf(lib, sizeof lib, "%s", tu_tmp("lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("data"));
    sh("mkdir -p '%s/sub' && cp tests/data/clip/images/landscape.png tests/data/clip/images/gray.jpg '%s'", lib, lib);
    sh("cp tests/data/clip/images/tiny.png '%s/sub/%s'", lib, "tiny.png");
    cap_model *cm;
    assert_int_equal(cap_load(dir, 1, &cm), 0);
    // 1. without a captioner: no captions (NULL: never captioned)
    indexer_stats st = run_index(lib, data, NULL);
    assert_int_equal(st.added, 3);
    assert_int_equal(st.captioned, 0);
    char p[2048];
    snprintf(p, sizeof p, "%s/landscape.png", lib);
    assert_null(caption_of(data, p, NULL));
    // 2. with one: the unchanged images are captioned (a backfill), greedy = the golden
    st = run_index(lib, data, cm);
    assert_int_equal(st.captioned, 3);
    assert_int_equal(st.added, 0);
    char *c = caption_of(data, p, NULL);
    assert_non_null(c);
    int32_t want[] = {30522, 2231, 2231, 2231, 2231, 2231, 2231, 2231, 2231, 2231,
                      2231,  2231, 2231, 2231, 2231, 2231, 2231, 2231, 2231, 2231};
    char *text;
    assert_int_equal(cap_decode(cm, want, 20, &text), 0);
    assert_string_equal(c, text);
    free(c), free(text);
    assert_true(hits(data, "caption:govern") >= 1);
    // 3. unchanged: nothing captioned again
    st = run_index(lib, data, cm);
    assert_int_equal(st.captioned, 0);
    assert_int_equal(st.unchanged, 3);
    // 4. a move and a copy keep the caption without captioning
    sh("mv '%s/gray.jpg' '%s/moved.jpg'", lib, lib);
    sh("cp '%s/landscape.png' '%s/sub/copy.png'", lib, lib);
    st = run_index(lib, data, cm);
    assert_int_equal(st.captioned, 0);
    assert_int_equal(st.moved, 1);
    assert_int_equal(st.copied, 1);
    snprintf(p, sizeof p, "%s/sub/copy.png", lib);
    c = caption_of(data, p, NULL);
    assert_non_null(c);
    assert_int_equal(strncmp(c, "government government", 21), 0);
    free(c);
    snprintf(p, sizeof p, "%s/moved.jpg", lib);
    c = caption_of(data, p, NULL);
    assert_non_null(c);
    free(c);
    cap_free(cm);
}

static void test_fold(void **state)
{
    (void)state;
    const char *cases[][3] = {
        {"arafed man sitting on a bench", NULL, "man sitting on a bench"},
        {"there is a dog that is laying down on the grass", NULL, "a dog that is laying down on the grass"},
        {"a close up of a cat's face", NULL, "a of cat's face"},
        {"araffe standing in a field with a giraffe", NULL, "standing in a field with giraffe"},
        {"a picture of a dog dog dog", "a picture of", "a dog"},
        {"a picture frame on a wall", "a picture of", "a picture frame on wall"},
        {"Arafly BLURRY photo, in the background trees", NULL, "blurry photo trees"},
        {"", NULL, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        assert_int_equal(kw_caption_fold(cases[i][0], cases[i][1], &out), 0);
        if (strcmp(out, cases[i][2])) fail_msg("fold \"%s\": \"%s\", want \"%s\"", cases[i][0], out, cases[i][2]);
        free(out);
    }
}

static int setup(void **state)
{
    (void)state;
    return tu_find_models("blip-a/model.safetensors", g_models, sizeof g_models, "tests/setup/blip_models.sh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_index_captions),
    };
    return cmocka_run_group_tests_name("indexer_caption", tests, setup, NULL);
}
