// Sharded checkpoints (src/model/checkpoint.c). The fixture
// build/models/tiny-a-sharded is tiny-a split over three shards plus an
// index.json by tests/setup/clip_sharded.sh, in Python, independently of the
// C code; loaded through the index it must give tiny-a's PyTorch goldens
// (tests/data/clip/tiny-a.json) within test_clip's bounds. The hostile cases
// edit a copy of that index and expect a clear error, never a crash.
#include "testutil.h"
#include "base/err.h"
#include "clip/clip.h"
#include "model/checkpoint.h"
#include "model/modeldir.h"
#include "tensor/tensor.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARD1 "model-00001-of-00003.safetensors"
#define SHARD2 "model-00002-of-00003.safetensors"
#define SHARD3 "model-00003-of-00003.safetensors"

static char models[256];

static const char *model_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", models, name);
    return p;
}

/* ---------------------------------------------------------------- goldens */

// test_clip's bounds for F32: cosine >= 0.99999, max abs diff <= 1e-4.
static void compare(const char *what, int idx, const float *got, const float *want, int n)
{
    double cs = t_cosine(got, want, (size_t)n), md = t_max_abs_diff(got, want, (size_t)n);
    if (cs < 0.99999 || md > 1e-4) fail_msg("%s #%d: cosine %.9f, max abs diff %.3g", what, idx, cs, md);
}

static cJSON *golden_tiny_a(void)
{
    size_t n;
    uint8_t *b = tu_read(tu_data("clip/tiny-a.json"), &n);
    cJSON *g = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(g);
    return g;
}

static void check_texts(clip_model *m, const cJSON *g)
{
    int dim = clip_dim(m), i = 0;
    float *out = malloc((size_t)dim * sizeof *out);
    for (const cJSON *t = cJSON_GetObjectItem(g, "texts")->child; t; t = t->next, i++) {
        int n, k;
        float *idf = tu_floats(cJSON_GetObjectItem(t, "ids"), &n),
              *want = tu_floats(cJSON_GetObjectItem(t, "embed"), &k);
        int32_t ids[128];
        assert_true(n <= 128);
        for (int j = 0; j < n; j++) ids[j] = (int32_t)idf[j];
        assert_int_equal(k, dim);
        assert_int_equal(clip_embed_text(m, ids, n, out), 0);
        compare("text", i, out, want, dim);
        free(idf), free(want);
    }
    assert_true(i >= 10);
    free(out);
}

static void check_images(clip_model *m, const cJSON *g)
{
    int dim = clip_dim(m), S = clip_cfg(m)->image_size, i = 0;
    size_t per = (size_t)3 * S * S;
    float *out = malloc((size_t)dim * sizeof *out);
    for (const cJSON *im = cJSON_GetObjectItem(g, "images")->child; im; im = im->next, i++) {
        char rel[256];
        size_t n;
        int k;
        snprintf(rel, sizeof rel, "clip/%s", cJSON_GetObjectItem(im, "pixels")->valuestring);
        uint8_t *px = tu_read(tu_data(rel), &n);
        assert_int_equal(n, per * sizeof(float));
        assert_int_equal(clip_embed_images(m, (const float *)px, 1, out), 0);
        float *want = tu_floats(cJSON_GetObjectItem(im, "embed"), &k);
        assert_int_equal(k, dim);
        compare("image", i, out, want, dim);
        free(px), free(want);
    }
    assert_true(i >= 4);
    free(out);
}

static void test_sharded_matches_goldens(void **state)
{
    (void)state;
    cJSON *g = golden_tiny_a();
    assert_string_equal(cJSON_GetObjectItem(g, "model")->valuestring, "tiny-a");
    clip_model *m;
    if (clip_load(model_dir("tiny-a-sharded"), 2, &m) < 0) fail_msg("tiny-a-sharded: %s", lisa_errmsg());
    check_texts(m, g);
    check_images(m, g);
    clip_free(m);
    cJSON_Delete(g);
}

// Every tensor of the index reads back bit-identical to tiny-a's single file,
// from one of three shards, each opened once.
static void test_sharded_tensors_bitwise(void **state)
{
    (void)state;
    ckpt *one, *sh;
    ckpt_index ix;
    char p[600];
    assert_int_equal(ckpt_open(model_dir("tiny-a"), &one), 0);
    assert_int_equal(ckpt_open(model_dir("tiny-a-sharded"), &sh), 0);
    assert_false(ckpt_sharded(one));
    assert_int_equal(ckpt_nfiles(one), 1);
    assert_true(ckpt_sharded(sh));
    assert_int_equal(ckpt_nfiles(sh), 3);
    snprintf(p, sizeof p, "%s/" CKPT_INDEX, model_dir("tiny-a-sharded"));
    assert_int_equal(ckpt_index_load(p, &ix), 0);
    assert_int_equal(ix.nshards, 3);
    assert_string_equal(ix.shards[0], SHARD1);
    assert_string_equal(ix.shards[2], SHARD3);
    assert_true(ix.n > 50);
    for (size_t i = 0; i < ix.n; i++) {
        const st_tensor *a = ckpt_find(one, ix.map[i].tensor), *b = ckpt_find(sh, ix.map[i].tensor);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(a->dtype, b->dtype);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
    }
    assert_null(ckpt_find(sh, "no.such.tensor"));
    const float *w;
    int64_t shape[1] = {96};
    assert_int_equal(ckpt_get_f32(sh, "no.such.tensor", 1, shape, &w), LISA_ENOTFOUND);
    assert_string_equal(lisa_errmsg(), "model.safetensors.index.json: tensor no.such.tensor is missing");
    assert_int_equal(ckpt_get_f32(sh, "vision_model.post_layernorm.bias", 1, shape, &w), 0);
    shape[0] = 95;
    assert_int_equal(ckpt_get_f32(sh, "vision_model.post_layernorm.bias", 1, shape, &w), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "-of-00003.safetensors: vision_model.post_layernorm.bias: expected [95]"));
    ckpt_index_release(&ix);
    ckpt_close(one);
    ckpt_close(sh);
    ckpt_close(NULL);
}

/* ---------------------------------------------------------------- hostile indexes */

// A fresh copy of tiny-a-sharded under tmp/label: the small files copied, the
// shards symlinked (absolute), and index.json replaced by index when non-NULL.
static const char *hostile_dir(const char *label, const char *index)
{
    static char dir[512];
    static const char *const small[] = {"config.json", "preprocessor_config.json", "tokenizer.json"};
    static const char *const shards[] = {SHARD1, SHARD2, SHARD3};
    char src[PATH_MAX], p[PATH_MAX + 64], q[1100];
    snprintf(dir, sizeof dir, "%s", tu_tmp(label));
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_non_null(realpath(model_dir("tiny-a-sharded"), src));
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", src, small[i]);
        snprintf(q, sizeof q, "%s/%s", dir, small[i]);
        tu_copy(p, q);
        snprintf(p, sizeof p, "%s/%s", src, shards[i]);
        snprintf(q, sizeof q, "%s/%s", dir, shards[i]);
        assert_int_equal(symlink(p, q), 0);
    }
    snprintf(p, sizeof p, "%s/" CKPT_INDEX, src);
    snprintf(q, sizeof q, "%s/" CKPT_INDEX, dir);
    if (index)
        tu_write(q, index, strlen(index));
    else
        tu_copy(p, q);
    return dir;
}

// The fixture's index with tensor's shard set to shard (NULL: removed); malloc'd.
static char *index_with(const char *tensor, const char *shard)
{
    char p[600];
    size_t n;
    snprintf(p, sizeof p, "%s/" CKPT_INDEX, model_dir("tiny-a-sharded"));
    uint8_t *b = tu_read(p, &n);
    cJSON *root = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(root);
    cJSON *map = cJSON_GetObjectItem(root, "weight_map");
    assert_non_null(cJSON_GetObjectItem(map, tensor));
    if (shard)
        cJSON_ReplaceItemInObject(map, tensor, cJSON_CreateString(shard));
    else
        cJSON_DeleteItemFromObject(map, tensor);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

// ckpt_open and clip_load both fail with code, and the message holds each needle.
static void expect_open_error(const char *dir, int code, const char *needle1, const char *needle2)
{
    ckpt *c = (ckpt *)1;
    clip_model *m = (clip_model *)1;
    assert_int_equal(ckpt_open(dir, &c), code);
    assert_null(c);
    if (!strstr(lisa_errmsg(), needle1) || (needle2 && !strstr(lisa_errmsg(), needle2)))
        fail_msg("message '%s' lacks '%s' / '%s'", lisa_errmsg(), needle1, needle2 ? needle2 : "");
    assert_int_equal(clip_load(dir, 1, &m), code);
    assert_null(m);
    assert_non_null(strstr(lisa_errmsg(), needle1));
}

static void test_missing_shard_file(void **state)
{
    (void)state;
    const char *d = hostile_dir("noshard", NULL);
    char p[700];
    snprintf(p, sizeof p, "%s/" SHARD2, d);
    assert_int_equal(unlink(p), 0);
    expect_open_error(d, LISA_ENOTFOUND, "model.safetensors.index.json: weight_map: shard " SHARD2 " is missing", NULL);
    const char *missing;
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "shards named in model.safetensors.index.json");
    assert_non_null(strstr(lisa_errmsg(), "lisa models pull"));
}

static void test_shard_name_escapes(void **state)
{
    (void)state;
    static const char *const bad[] = {"../tiny-a/model.safetensors",
                                      "/etc/x.safetensors",
                                      "sub/a.safetensors",
                                      "..safetensors",
                                      "a..b.safetensors",
                                      ".safetensors",
                                      "model.bin",
                                      "a b.safetensors",
                                      "a\\b.safetensors"};
    char label[32];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *ix = index_with("logit_scale", bad[i]);
        snprintf(label, sizeof label, "escape%zu", i);
        expect_open_error(hostile_dir(label, ix), LISA_EFORMAT, "weight_map: logit_scale: shard name",
                          "is not a plain *.safetensors file name");
        free(ix);
    }
}

static void test_tensor_not_in_its_shard(void **state)
{
    (void)state;
    // the fixture puts logit_scale (first by name) in shard 1; map it to shard 2
    char *ix = index_with("logit_scale", SHARD2);
    expect_open_error(hostile_dir("wrongshard", ix), LISA_EFORMAT,
                      "model.safetensors.index.json: weight_map: tensor logit_scale is not in shard " SHARD2, NULL);
    free(ix);
}

static void test_tensor_absent_from_map(void **state)
{
    (void)state;
    char *ix = index_with("vision_model.post_layernorm.bias", NULL);
    clip_model *m = (clip_model *)1;
    assert_int_equal(clip_load(hostile_dir("unmapped", ix), 1, &m), LISA_ENOTFOUND);
    assert_null(m);
    assert_string_equal(lisa_errmsg(),
                        "model.safetensors.index.json: tensor vision_model.post_layernorm.bias is missing");
    free(ix);
}

static void test_malformed_index(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"weight_map\": {\"a\": ", "not valid JSON"},
        {"  \n", "not valid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"weight_map\": [\"" SHARD1 "\"]}", "weight_map: not an object"},
        {"{\"weight_map\": \"" SHARD1 "\"}", "weight_map: not an object"},
        {"{\"weight_map\": null}", "weight_map: not an object"},
        {"{\"metadata\": {}}", "weight_map: missing"},
        {"{\"weight_map\": {}}", "weight_map: empty"},
        {"{\"metadata\": 7, \"weight_map\": {\"a\": \"" SHARD1 "\"}}", "metadata: not an object"},
        {"{\"weight_map\": {\"a\": 1}}", "weight_map: a: the shard is not a string"},
        {"{\"weight_map\": {\"a\": \"" SHARD1 "\", \"a\": \"" SHARD2 "\"}}", "weight_map: tensor a appears twice"},
    };
    char label[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(label, sizeof label, "bad%zu", i);
        const char *d = hostile_dir(label, cases[i].json);
        ckpt *c = (ckpt *)1;
        int rc = ckpt_open(d, &c);
        assert_null(c);
        if (rc != LISA_EFORMAT || !strstr(lisa_errmsg(), cases[i].needle) || !strstr(lisa_errmsg(), CKPT_INDEX))
            fail_msg("case %zu: rc %d, message '%s', want '%s'", i, rc, lisa_errmsg(), cases[i].needle);
        const char *missing;
        assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
        assert_string_equal(missing, "a valid model.safetensors.index.json");
    }
}

/* ---------------------------------------------------------------- rules */

// A shard holding a copy of a tensor the map assigns elsewhere: the map wins
// and the copy is never read; a shard the index does not name is never opened.
static void test_map_is_authoritative(void **state)
{
    (void)state;
    const char *name = "vision_model.post_layernorm.bias";
    char *ix = index_with(name, SHARD1);
    cJSON *root = cJSON_Parse(ix);
    free(ix);
    cJSON_AddItemToObject(cJSON_GetObjectItem(root, "weight_map"), "extra.tensor",
                          cJSON_CreateString("extra.safetensors"));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "weight_map"), name, cJSON_CreateString("extra.safetensors"));
    ix = cJSON_Print(root);
    cJSON_Delete(root);
    const char *d = hostile_dir("authoritative", ix);
    free(ix);
    char p[700];
    float decoy[96], extra[3] = {1, 2, 3};
    for (int i = 0; i < 96; i++) decoy[i] = 1000.0f + (float)i;
    // extra.safetensors holds extra.tensor and the real bias's name with decoy values
    snprintf(p, sizeof p, "%s/extra.safetensors", d);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "{\"extra.tensor\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                      "\"%s\":{\"dtype\":\"F32\",\"shape\":[96],\"data_offsets\":[12,396]}}",
                      name);
    while (hl % 8) head[hl++] = ' ';
    uint8_t *b = calloc(1, 8 + (size_t)hl + 396);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, head, (size_t)hl);
    memcpy(b + 8 + hl, extra, 12);
    memcpy(b + 8 + hl + 12, decoy, 384);
    tu_write(p, b, 8 + (size_t)hl + 396);
    free(b);
    // Now the map sends the bias to extra.safetensors: the decoy is what is read.
    ckpt *c, *ref;
    const float *w;
    int64_t shape[1] = {96};
    assert_int_equal(ckpt_open(d, &c), 0);
    assert_int_equal(ckpt_nfiles(c), 4);
    assert_int_equal(ckpt_get_f32(c, name, 1, shape, &w), 0);
    assert_memory_equal(w, decoy, sizeof decoy);
    ckpt_close(c);
    // Map it back to its real shard: the decoy copy in extra.safetensors is ignored.
    ix = index_with(name, NULL);
    root = cJSON_Parse(ix);
    free(ix);
    cJSON_AddItemToObject(cJSON_GetObjectItem(root, "weight_map"), "extra.tensor",
                          cJSON_CreateString("extra.safetensors"));
    cJSON_AddItemToObject(cJSON_GetObjectItem(root, "weight_map"), name, cJSON_CreateString(SHARD1));
    ix = cJSON_Print(root);
    cJSON_Delete(root);
    snprintf(p, sizeof p, "%s/" CKPT_INDEX, d);
    tu_write(p, ix, strlen(ix));
    free(ix);
    assert_int_equal(ckpt_open(d, &c), 0);
    assert_int_equal(ckpt_open(model_dir("tiny-a"), &ref), 0);
    const float *want;
    assert_int_equal(ckpt_get_f32(ref, name, 1, shape, &want), 0);
    assert_int_equal(ckpt_get_f32(c, name, 1, shape, &w), 0);
    assert_memory_equal(w, want, sizeof decoy);
    shape[0] = 3;
    assert_int_equal(ckpt_get_f32(c, "extra.tensor", 1, shape, &w), 0);
    assert_memory_equal(w, extra, sizeof extra);
    ckpt_close(ref);
    ckpt_close(c);
    // A stray shard the index does not name is never opened, even if garbage.
    snprintf(p, sizeof p, "%s/model-00004-of-00003.safetensors", d);
    tu_write(p, "garbage", 7);
    assert_int_equal(ckpt_open(d, &c), 0);
    ckpt_close(c);
}

// model.safetensors wins over an index beside it; modeldir accepts either.
static void test_single_preferred_and_modeldir(void **state)
{
    (void)state;
    char p[700];
    const char *missing;
    assert_int_equal(modeldir_check(model_dir("tiny-a-sharded"), MODELDIR_CLIP, NULL, &missing), 0);
    assert_null(missing);
    char *ix = index_with("logit_scale", SHARD2); // broken: would fail if read
    const char *d = hostile_dir("both", ix);
    free(ix);
    char q[700];
    snprintf(p, sizeof p, "%s/model.safetensors", model_dir("tiny-a"));
    snprintf(q, sizeof q, "%s/model.safetensors", d);
    tu_copy(p, q);
    ckpt *c;
    assert_int_equal(ckpt_open(d, &c), 0);
    assert_false(ckpt_sharded(c));
    ckpt_close(c);
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, NULL), 0);
    // Neither file: the single file is what is reported missing.
    const char *e = tu_tmp("noweights");
    assert_int_equal(mkdir(e, 0755), 0);
    snprintf(p, sizeof p, "%s/config.json", e);
    tu_write(p, "{}", 2);
    assert_int_equal(modeldir_check(e, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "model.safetensors");
    c = (ckpt *)1;
    assert_int_equal(ckpt_open(e, &c), LISA_ENOTFOUND);
    assert_null(c);
    assert_non_null(strstr(lisa_errmsg(), "model.safetensors"));
}

static void test_valid_shard_names(void **state)
{
    (void)state;
    assert_true(ckpt_valid_shard_name("model-00001-of-00002.safetensors"));
    assert_true(ckpt_valid_shard_name("a.safetensors"));
    assert_true(ckpt_valid_shard_name("pytorch_model-1.fp16.safetensors"));
    static const char *const bad[] = {"",
                                      ".safetensors",
                                      "../a.safetensors",
                                      "a/b.safetensors",
                                      "/a.safetensors",
                                      "a..safetensors",
                                      ".hidden.safetensors",
                                      "a.safetensors.part",
                                      "a.bin",
                                      "a.SAFETENSORS",
                                      "a\n.safetensors",
                                      "a%2f.safetensors"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ckpt_valid_shard_name(bad[i])) fail_msg("accepted '%s'", bad[i]);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    strcpy(longname + 260, ".safetensors");
    assert_false(ckpt_valid_shard_name(longname));
}

// The in-memory parser (the fuzz target's entry point): shards deduplicated
// and sorted, the map sorted by tensor, errors named after the given name.
static void test_index_parse_memory(void **state)
{
    (void)state;
    static const char ok[] = "{\"metadata\":{\"total_size\":12},\"weight_map\":{"
                             "\"b.weight\":\"model-00002-of-00002.safetensors\","
                             "\"a.weight\":\"model-00001-of-00002.safetensors\","
                             "\"c.bias\":\"model-00002-of-00002.safetensors\"}}";
    ckpt_index ix;
    assert_int_equal(ckpt_index_parse(ok, sizeof ok - 1, "mem.json", &ix), 0);
    assert_int_equal(ix.nshards, 2);
    assert_string_equal(ix.shards[0], "model-00001-of-00002.safetensors");
    assert_int_equal(ix.n, 3);
    assert_string_equal(ix.map[0].tensor, "a.weight");
    assert_string_equal(ix.shards[ix.map[0].shard], "model-00001-of-00002.safetensors");
    assert_string_equal(ix.map[2].tensor, "c.bias");
    assert_string_equal(ix.shards[ix.map[2].shard], "model-00002-of-00002.safetensors");
    ckpt_index_release(&ix);
    static const char *bad[] = {"", "{", "[]", "{\"weight_map\":[]}", "{\"weight_map\":{\"a\":\"../x.safetensors\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_true(ckpt_index_parse(bad[i], strlen(bad[i]), "mem.json", &ix) < 0);
        assert_non_null(strstr(lisa_errmsg(), "mem.json"));
        ckpt_index_release(&ix);
    }
}

static int find_models(void **state)
{
    (void)state;
    return tu_find_models("tiny-a-sharded/" CKPT_INDEX, models, sizeof models,
                          "tests/setup/clip_models.sh, then clip_sharded.sh");
}

int main(void)
{
    // The goldens are fp32 results; the default precision may be bf16 (clip.h).
    setenv("LISA_PRECISION", "fp32", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharded_matches_goldens),
        cmocka_unit_test(test_sharded_tensors_bitwise),
        cmocka_unit_test(test_missing_shard_file),
        cmocka_unit_test(test_shard_name_escapes),
        cmocka_unit_test(test_tensor_not_in_its_shard),
        cmocka_unit_test(test_tensor_absent_from_map),
        cmocka_unit_test(test_malformed_index),
        cmocka_unit_test(test_map_is_authoritative),
        cmocka_unit_test(test_single_preferred_and_modeldir),
        cmocka_unit_test(test_valid_shard_names),
        cmocka_unit_test(test_index_parse_memory),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, find_models, NULL);
}
