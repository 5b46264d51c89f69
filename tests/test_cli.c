// The lisa binary end to end: embed, tokenize, preprocess, thumb, errors.
// Runs BUILD/lisa (tu_build: build/ or build/debug/; make test builds it first) against the fixture models made
// by tests/setup/clip_models.sh and the goldens of the independent references.
#include "testutil.h"
#include "image/image.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>

// A command line starting "lisa " runs this build's binary, and "@MODEL" in it
// stands for this build's fixture model dir.
#define LISA "lisa"
#define MODEL "@MODEL"

// Runs a shell command; *out gets stdout+stderr (caller frees). Returns the exit status.
static int run(const char *cmd, char **out)
{
    char full[4096];
    assert_int_equal(strncmp(cmd, LISA " ", strlen(LISA) + 1), 0);
    size_t len = (size_t)snprintf(full, sizeof full, "'%s'", tu_build("lisa"));
    for (const char *c = cmd + strlen(LISA); *c && len < sizeof full - 64; c++) {
        if (!strncmp(c, MODEL, strlen(MODEL))) {
            len += (size_t)snprintf(full + len, sizeof full - len, "'%s'", tu_build("models/tiny-a"));
            c += strlen(MODEL) - 1;
        } else {
            full[len++] = *c;
        }
    }
    assert_true(len < sizeof full - 64);
    full[len] = 0;
    return tu_run(full, out);
}

static cJSON *golden;

static int setup(void **state)
{
    (void)state;
    size_t n;
    char *text = (char *)tu_read("tests/data/clip/tiny-a.json", &n);
    golden = cJSON_Parse(text);
    free(text);
    return golden ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(golden);
    return 0;
}

// The golden embedding of the entry whose key equals value, in list.
static const cJSON *golden_embed(const char *list, const char *key, const char *value)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(golden, list))
    {
        if (!strcmp(cJSON_GetObjectItem(e, key)->valuestring, value)) return cJSON_GetObjectItem(e, "embed");
    }
    fail_msg("no golden %s %s", list, value);
    return NULL;
}

static void assert_close(const cJSON *got, const cJSON *want)
{
    int n = cJSON_GetArraySize(want);
    double dot = 0, gg = 0, ww = 0, maxd = 0;
    assert_int_equal(cJSON_GetArraySize(got), n);
    for (int i = 0; i < n; i++) {
        double g = cJSON_GetArrayItem(got, i)->valuedouble, w = cJSON_GetArrayItem(want, i)->valuedouble;
        dot += g * w, gg += g * g, ww += w * w;
        if (fabs(g - w) > maxd) maxd = fabs(g - w);
    }
    double cos = dot / sqrt(gg * ww);
    if (cos < 0.99999 || maxd > 1e-4) fail_msg("cosine %.7f, max abs diff %.2g", cos, maxd);
}

static void test_embed_in_command_line_order(void **state)
{
    (void)state;
    char *out;
    int rc = run(LISA " embed --model " MODEL " --text 'a photo of a cat' --image "
                      "tests/data/clip/images/photo.jpg --text dog",
                 &out);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    char *line2 = strchr(out, '\n'), *line3 = line2 ? strchr(line2 + 1, '\n') : NULL;
    assert_non_null(line3);
    *line2 = *line3 = 0;
    cJSON *a = cJSON_Parse(out), *b = cJSON_Parse(line2 + 1), *c = cJSON_Parse(line3 + 1);
    assert_true(a && b && c);
    assert_close(a, golden_embed("texts", "text", "a photo of a cat"));
    assert_close(b, golden_embed("images", "file", "images/photo.jpg"));
    assert_close(c, golden_embed("texts", "text", "dog"));
    cJSON_Delete(a), cJSON_Delete(b), cJSON_Delete(c);
    free(out);
}

static void test_tokenize(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(LISA " tokenize --model " MODEL " 'a photo of a cat' ''", &out), 0);
    cJSON *ids = cJSON_Parse(out);
    static const int want[] = {49406, 320, 1125, 539, 320, 2368, 49407};
    assert_int_equal(cJSON_GetArraySize(ids), 7);
    for (int i = 0; i < 7; i++) assert_int_equal(cJSON_GetArrayItem(ids, i)->valueint, want[i]);
    cJSON_Delete(ids);
    ids = cJSON_Parse(strchr(out, '\n') + 1); // the empty string: BOS, EOS
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_int_equal(cJSON_GetArrayItem(ids, 1)->valueint, 49407);
    cJSON_Delete(ids);
    free(out);
}

static void test_errors_name_the_problem(void **state)
{
    (void)state;
    char *out;
    assert_true(run(LISA " embed --model tests/tmp/no-such-model --text hi", &out) != 0);
    assert_non_null(strstr(out, "no-such-model"));
    free(out);
    assert_true(run(LISA " embed --model " MODEL " --image tests/data/images/missing.jpg", &out) != 0);
    assert_non_null(strstr(out, "missing.jpg"));
    free(out);
    assert_true(run(LISA " embed --model " MODEL " --image tests/data/images/bad/truncated.png", &out) != 0);
    assert_non_null(strstr(out, "truncated.png"));
    free(out);
    assert_int_equal(run(LISA " frobnicate", &out), 2);
    assert_non_null(strstr(out, "not a command"));
    free(out);
    assert_int_equal(run(LISA " help", &out), 0);
    for (const char *c = "embed\0tokenize\0models\0preprocess\0thumb\0"; *c; c += strlen(c) + 1)
        if (!strstr(out, c)) fail_msg("help does not list %s", c);
    free(out);
}

static void test_preprocess_tensor_matches_golden(void **state)
{
    (void)state;
    char *out, cmd[1024];
    const char *cfg = "{\"size\": {\"shortest_edge\": 48}, \"crop_size\": {\"height\": 40, \"width\": 32}}";
    tu_write(tu_tmp("prep.json"), cfg, strlen(cfg));
    snprintf(cmd, sizeof cmd, LISA " preprocess --config %s/prep.json --tensor %s/t.f32 tests/data/images/port.jpg",
             tu_tmpdir(), tu_tmpdir());
    if (run(cmd, &out) != 0) fail_msg("%s", out);
    free(out);
    size_t n, gn;
    float *t = (float *)tu_read(tu_tmp("t.f32"), &n);
    float *g = (float *)tu_read("tests/data/golden/prep_small/port_jpg.f32", &gn);
    assert_int_equal(n, gn);
    for (size_t i = 0; i < n / 4; i++) assert_true(fabsf(t[i] - g[i]) <= 1e-5f);
    free(t), free(g);
}

static void test_thumb(void **state)
{
    (void)state;
    char *out, cmd[1024];
    snprintf(cmd, sizeof cmd, LISA " thumb --size 100 tests/data/images/orient6.jpg %s/th.jpg", tu_tmpdir());
    if (run(cmd, &out) != 0) fail_msg("%s", out);
    free(out);
    img_t im;
    assert_int_equal(img_load(tu_tmp("th.jpg"), NULL, &im, NULL), 0);
    assert_int_equal(im.w, 40); // stored 64x40 with orientation 6: upright 40x64, not upscaled
    assert_int_equal(im.h, 64);
    img_release(&im);
}

// `lisa list` and `lisa search` with the query language: filters, sort, paging,
// the shell-stripped quotes of key:"a b", errors naming the part.
static void test_list_and_query(void **state)
{
    (void)state;
    char lib[256], data[256], cmd[4096], *out = NULL;
    snprintf(lib, sizeof lib, "%s", tu_tmp("cli_q_lib")); // tu_tmp() answers in one static buffer
    snprintf(data, sizeof data, "%s", tu_tmp("cli_q_data"));
    snprintf(cmd, sizeof cmd,
             "rm -rf %s %s && mkdir -p '%s/Trip 2019' && cp tests/data/images/land.jpg "
             "tests/data/images/port.jpg '%s/Trip 2019/' && cp tests/data/images/gray.png %s/",
             lib, data, lib, lib, lib);
    assert_int_equal(system(cmd), 0); // fixtures: a plain shell command, not lisa
    snprintf(cmd, sizeof cmd, LISA " index %s --data %s --no-ocr", lib, data);
    assert_int_equal(run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, LISA " list --data %s --sort name --json", data);
    assert_int_equal(run(cmd, &out), 0);
    cJSON *o = cJSON_Parse(strchr(out, '{'));
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItem(o, "total")->valueint, 3);
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "results"), 0);
    assert_non_null(strstr(cJSON_GetObjectItem(r, "path")->valuestring, "gray.png")); // name order: g < l < p
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "score")));
    cJSON_Delete(o);
    free(out);
    snprintf(cmd, sizeof cmd, LISA " list 'folder:Trip 2019' type:jpeg --data %s --limit 1 --offset 1", data);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "1 of 2 photos (from 1, sort -date)"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " list orientation:portrait --data %s", data);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "port.jpg"));
    assert_null(strstr(out, "land.jpg"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " search 'land' -type:png --sort -date --data %s --model /nonexistent", data);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "land.jpg"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " search trip -'land x' --data %s --model /nonexistent --json", data);
    assert_int_equal(run(cmd, &out), 0); // the shell's `-land x` is the phrase -"land x": nothing excluded
    assert_non_null(strstr(out, "\"query\":\"trip -\\\"land x\\\"\""));
    assert_non_null(strstr(out, "land.jpg"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " search xyzzy --data %s --model /nonexistent", data);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "No matches for 'xyzzy'"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " search 'colour:red' --data %s --model /nonexistent", data);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out, "query part 'colour:red': unknown filter"));
    free(out);
    snprintf(cmd, sizeof cmd, LISA " list --sort size --data %s", data);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out, "sort 'size' is not one of"));
    free(out);
}

int main(void)
{
    // The goldens are fp32 results; the default precision may be bf16 (clip.h).
    setenv("LISA_PRECISION", "fp32", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_query),
        cmocka_unit_test(test_embed_in_command_line_order),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_errors_name_the_problem),
        cmocka_unit_test(test_preprocess_tensor_matches_golden),
        cmocka_unit_test(test_thumb),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
