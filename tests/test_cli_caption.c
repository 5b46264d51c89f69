// `lisa caption` end to end against the PyTorch goldens (tests/data/caption/,
// tools/caption/make_goldens.py) on the fixture models of tests/setup/blip_models.sh.
#include "testutil.h"

#include <stdio.h>
#include <sys/wait.h>

// The lisa of this test's build dir (tu_build), found through PATH: setup()
// puts its folder first, so the sanitizer build runs its own binary.
#define LISA "lisa"

static char g_models[512];

static const cJSON *run_ids(const cJSON *im, const char *gen)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(im, "runs")) if (!strcmp(cJSON_GetObjectItem(r, "gen")->valuestring,
                                                                       gen)) return cJSON_GetObjectItem(r, "ids");
    fail_msg("no run %s", gen);
    return NULL;
}

// One JSON line per image, in command-line order, with generate()'s ids.
static void check(const char *preset, const char *flags, const char *gen)
{
    char rel[128], cmd[2048];
    size_t n;
    snprintf(rel, sizeof rel, "tests/data/caption/%s.json", preset);
    char *text = (char *)tu_read(rel, &n);
    cJSON *doc = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *imgs = cJSON_GetObjectItem(doc, "images");
    int len = snprintf(cmd, sizeof cmd, LISA " caption --model %s/%s %s --json", g_models, preset, flags);
    const cJSON *im;
    cJSON_ArrayForEach(im, imgs) len +=
        snprintf(cmd + len, sizeof cmd - (size_t)len, " tests/data/%s", cJSON_GetObjectItem(im, "file")->valuestring);
    char *out;
    if (tu_run(cmd, &out) != 0) fail_msg("%s: %s", cmd, out);
    char *line = out;
    int k = 0;
    cJSON_ArrayForEach(im, imgs)
    {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        cJSON *got = cJSON_ParseWithLength(line, (size_t)(nl - line));
        assert_non_null(got);
        const cJSON *ids = cJSON_GetObjectItem(got, "ids"), *want = run_ids(im, gen);
        assert_int_equal(cJSON_GetArraySize(ids), cJSON_GetArraySize(want));
        for (int i = 0; i < cJSON_GetArraySize(want); i++)
            assert_int_equal(cJSON_GetArrayItem(ids, i)->valueint, cJSON_GetArrayItem(want, i)->valueint);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(got, "text")));
        cJSON_Delete(got);
        line = nl + 1, k++;
    }
    assert_int_equal(*line, 0);
    printf("lisa caption %s %s: %d images equal to the goldens\n", preset, flags, k);
    free(out);
    cJSON_Delete(doc);
}

static void test_greedy(void **state)
{
    (void)state;
    check("blip-a", "", "greedy");
    check("blip-a", "--precision fp32", "greedy"); // what AUTO gives an F32 checkpoint
    check("blip-b", "--min-length 8 --repetition-penalty 1.3", "greedy_min8_rep1.3");
}

static void test_beam_prompt(void **state)
{
    (void)state;
    check("blip-a", "--beams 3 --prompt 'a picture of'", "beam3_prompt");
    check("blip-b", "--beams 4 --length-penalty 2 --max-length 12 --prompt 'a photography of'", "beam4_lp2_prompt");
}

static void test_text_and_errors(void **state)
{
    (void)state;
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd,
             LISA " caption --model %s/blip-a --beams 3 --prompt 'a picture of' "
                  "tests/data/clip/images/landscape.png",
             g_models);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_string_equal(out, "a picture of government other\n");
    free(out);
    snprintf(cmd, sizeof cmd, LISA " caption --model %s/blip-a tests/data/clip/images/missing.jpg", g_models);
    assert_int_equal(tu_run(cmd, &out), 1);
    assert_non_null(strstr(out, "missing.jpg"));
    free(out);
    assert_int_equal(tu_run(LISA " caption --model tests/tmp/no-such-blip x.jpg", &out), 1);
    assert_non_null(strstr(out, "config.json"));
    free(out);
    assert_int_equal(tu_run("LISA_MODELS= " LISA " caption --data tests/tmp/no-data x.jpg", &out), 1);
    assert_non_null(strstr(out, "lisa models pull blip-image-captioning-base"));
    free(out);
    assert_int_equal(tu_run(LISA " caption --beams 0 x.jpg", &out), 2);
    free(out);
    assert_int_equal(tu_run(LISA " caption --precision fp8 x.jpg", &out), 2);
    free(out);
}

// `lisa index` captions with the fixture captioner; `lisa search` finds the
// images by a caption word and shows the raw caption (table and JSON).
static void test_index_then_search(void **state)
{
    (void)state;
    char cmd[2048], lib[600], data[600], *out;
    snprintf(lib, sizeof lib, "%s", tu_tmp("lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("data"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp tests/data/clip/images/landscape.png tests/data/clip/images/gray.jpg %s", lib, lib);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "LISA_MODELS= " LISA " index %s --data %s --no-ocr --progress none --caption-model %s/blip-a", lib, data,
             g_models);
    if (tu_run(cmd, &out) != 0) fail_msg("%s", out);
    assert_non_null(strstr(out, "captions: 2 generated"));
    free(out);
    snprintf(cmd, sizeof cmd, "LISA_MODELS= " LISA " search government --data %s", data);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "caption: government government"));
    assert_non_null(strstr(out, "landscape.png"));
    assert_null(strstr(out, "gray.jpg"));
    free(out);
    snprintf(cmd, sizeof cmd, "LISA_MODELS= " LISA " search government --json --data %s", data);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"caption\":\"government government"));
    assert_non_null(strstr(out, "\"matched_in\":[\"caption\"]"));
    free(out);
    // --no-captions, and a broken captioner: indexing goes on and says so once
    snprintf(cmd, sizeof cmd, "cp tests/data/clip/images/tiny.png %s/", lib);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "LISA_MODELS= " LISA " index %s --data %s --no-ocr --progress none --caption-model tests/tmp/no-such-blip",
             lib, data);
    if (tu_run(cmd, &out) != 0) fail_msg("%s", out);
    char *w = strstr(out, "indexing without captions");
    assert_non_null(w);
    assert_null(strstr(w + 1, "indexing without captions"));
    assert_non_null(strstr(out, "1 new"));
    free(out);
}

static int setup(void **state)
{
    (void)state;
    static char path[4096];
    snprintf(path, sizeof path, "%s:%s", tu_build(""), getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    return tu_find_models("blip-a/model.safetensors", g_models, sizeof g_models, "tests/setup/blip_models.sh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_beam_prompt),
        cmocka_unit_test(test_text_and_errors),
        cmocka_unit_test(test_index_then_search),
    };
    return cmocka_run_group_tests_name("cli_caption", tests, setup, NULL);
}
