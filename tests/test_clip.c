// CLIP towers against the independent PyTorch reference (tests/data/clip/*.json,
// made by tools/clip/make_goldens.py). Text ids come from the goldens, so this
// does not depend on the tokenizer; images from the golden pixel files, so it
// does not depend on preprocessing.
#include "testutil.h"
#include "base/err.h"
#include "base/file.h"
#include "clip/clip.h"
#include "tensor/gemm.h"
#include "model/safetensors.h"
#include "tensor/tensor.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

static char models[256];

static const char *model_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", models, name);
    return p;
}

static cJSON *golden(const char *name)
{
    char rel[64];
    snprintf(rel, sizeof rel, "clip/%s.json", name);
    size_t n;
    uint8_t *b = tu_read(tu_data(rel), &n);
    cJSON *j = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(j);
    return j;
}

static void compare(const char *what, int idx, const float *got, const float *want, int n, double min_cos,
                    double max_abs)
{
    double cs = t_cosine(got, want, (size_t)n), md = t_max_abs_diff(got, want, (size_t)n);
    if (getenv("LISA_TEST_VERBOSE")) fprintf(stderr, "%s #%d: cos %.9f maxdiff %.3g\n", what, idx, cs, md);
    if (cs < min_cos || md > max_abs)
        fail_msg("%s #%d: cosine %.9f (min %.9f), max abs diff %.3g (max %.3g)", what, idx, cs, min_cos, md, max_abs);
}

// embeds: the variant's arrays (f16/bf16: plain arrays; f32: objects with "embed").
static const cJSON *embed_of(const cJSON *e)
{
    return cJSON_IsArray(e) ? e : cJSON_GetObjectItem(e, "embed");
}

static void check_texts(clip_model *m, const cJSON *g, const cJSON *embeds, double min_cos, double max_abs)
{
    const cJSON *texts = cJSON_GetObjectItem(g, "texts");
    int i = 0, dim = clip_dim(m);
    float *out = malloc((size_t)dim * sizeof *out);
    const cJSON *e = embeds->child;
    for (const cJSON *t = texts->child; t; t = t->next, e = e->next, i++) {
        int n, k;
        float *idf = tu_floats(cJSON_GetObjectItem(t, "ids"), &n);
        int32_t ids[128];
        for (int j = 0; j < n; j++) ids[j] = (int32_t)idf[j];
        float *want = tu_floats(embed_of(e), &k);
        assert_int_equal(k, dim);
        assert_int_equal(clip_embed_text(m, ids, n, out), 0);
        compare("text", i, out, want, dim, min_cos, max_abs);
        free(idf), free(want);
    }
    assert_true(i >= 10);
    free(out);
}

static void check_images(clip_model *m, const cJSON *g, const cJSON *embeds, double min_cos, double max_abs)
{
    const cJSON *images = cJSON_GetObjectItem(g, "images");
    int nimg = cJSON_GetArraySize(images), dim = clip_dim(m), S = clip_cfg(m)->image_size;
    size_t per = (size_t)3 * S * S, i = 0;
    float *px = malloc(nimg * per * sizeof *px), *out = malloc((size_t)nimg * dim * sizeof *out);
    for (const cJSON *im = images->child; im; im = im->next, i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "clip/%s", cJSON_GetObjectItem(im, "pixels")->valuestring);
        size_t n;
        uint8_t *b = tu_read(tu_data(rel), &n);
        assert_int_equal(n, per * sizeof(float));
        memcpy(px + i * per, b, n);
        free(b);
    }
    // batched (all at once), then one at a time: both must match
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            assert_int_equal(clip_embed_images(m, px, nimg, out), 0);
        else
            for (int b = 0; b < nimg; b++) assert_int_equal(clip_embed_images(m, px + b * per, 1, out + b * dim), 0);
        const cJSON *e = embeds->child;
        for (int b = 0; b < nimg; b++, e = e->next) {
            int k;
            float *want = tu_floats(embed_of(e), &k);
            assert_int_equal(k, dim);
            compare("image", b, out + (size_t)b * dim, want, dim, min_cos, max_abs);
            free(want);
        }
    }
    assert_true(nimg >= 4);
    free(px), free(out);
}

static void check_model(const char *name, const char *variant, double min_cos, double max_abs)
{
    cJSON *g = golden(name);
    const cJSON *v = variant ? cJSON_GetObjectItem(g, variant) : g;
    assert_non_null(v);
    const char *dir = cJSON_GetObjectItem(v, "model")->valuestring;
    clip_model *m;
    if (clip_load(model_dir(dir), 2, &m) < 0) fail_msg("%s: %s", dir, lisa_errmsg());
    const cJSON *te = cJSON_GetObjectItem(v, "texts"), *ie = cJSON_GetObjectItem(v, "images");
    check_texts(m, g, te, min_cos, max_abs);
    check_images(m, g, ie, min_cos, max_abs);
    clip_free(m);
    cJSON_Delete(g);
}

static void test_tiny_a_f32(void **state)
{
    (void)state, check_model("tiny-a", NULL, 0.99999, 1e-4);
}
static void test_tiny_b_f32(void **state)
{
    (void)state, check_model("tiny-b", NULL, 0.99999, 1e-4);
}
// Patch 14 at 84 px, 7 heads of 8: the ViT-L/14 geometry at toy widths.
static void test_tiny_c_f32(void **state)
{
    (void)state, check_model("tiny-c", NULL, 0.99999, 1e-4);
}
static void test_tiny_c_bf16(void **state)
{
    (void)state, check_model("tiny-c", "bf16", 0.99999, 1e-4);
}
// The f16/bf16 goldens are the reference run on the same upcast weights, so the
// F32 bounds hold for them too (the brief's floor is cosine 0.999).
static void test_tiny_a_f16(void **state)
{
    (void)state, check_model("tiny-a", "f16", 0.99999, 1e-4);
}
static void test_tiny_a_bf16(void **state)
{
    (void)state, check_model("tiny-a", "bf16", 0.99999, 1e-4);
}
static void test_tiny_b_f16(void **state)
{
    (void)state, check_model("tiny-b", "f16", 0.99999, 1e-4);
}
static void test_tiny_b_bf16(void **state)
{
    (void)state, check_model("tiny-b", "bf16", 0.99999, 1e-4);
}

// bf16 weights (LISA_PRECISION) on the f32 models: the bar, cosine
// >= 0.999 to the fp32 reference, and half the resident weight bytes.
static void check_bf16(const char *name)
{
    clip_model *m32, *m16;
    cJSON *g = golden(name);
    const char *dir = model_dir(cJSON_GetObjectItem(g, "model")->valuestring);
    assert_int_equal(clip_load_prec(dir, 1, CLIP_PREC_FP32, &m32), 0);
    assert_int_equal(clip_load_prec(dir, 1, CLIP_PREC_BF16, &m16), 0);
    assert_string_equal(clip_precision(m16), "bf16");
    assert_string_equal(clip_precision(m32), "fp32");
    // AMX pads k to 32 (tiny-b's 48-wide text layers to 64): at most 1.5x there.
    if (!strcmp(clip_model_kernel(m16), "amx_bf16"))
        assert_true(clip_weight_bytes(m16) * 2 <= clip_weight_bytes(m32) * 3 / 2);
    else
        assert_true(clip_weight_bytes(m16) * 2 <= clip_weight_bytes(m32) + 256);
    size_t bytes16 = clip_weight_bytes(m16);
    clip_free(m32), clip_free(m16);
    cJSON_Delete(g);
    setenv("LISA_PRECISION", "bf16", 1);
    check_model(name, NULL, 0.999, 0.05);
    // int8 weights: the bar is cosine >= 0.995, about a quarter of
    // fp32's bytes (plus a scale and a sum per output column).
    clip_model *m8;
    assert_int_equal(clip_load_prec(dir, 1, CLIP_PREC_INT8, &m8), 0);
    assert_string_equal(clip_precision(m8), "int8");
    assert_true(clip_weight_bytes(m8) * 3 <= bytes16 * 2);
    clip_free(m8);
    setenv("LISA_PRECISION", "int8", 1);
    check_model(name, NULL, 0.995, 0.1);
    setenv("LISA_PRECISION", "int4", 1);
    assert_int_equal(clip_load(dir, 1, &m16), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "LISA_PRECISION: 'int4': expected fp32, bf16 or int8"));
    setenv("LISA_PRECISION", "fp32", 1); // main's: the goldens are fp32
}
static void test_tiny_a_bf16_weights(void **state)
{
    (void)state, check_bf16("tiny-a");
}
static void test_tiny_b_bf16_weights(void **state)
{
    (void)state, check_bf16("tiny-b");
}

/* ---------------------------------------------------------------- end to end */

// Text through the model's tokenizer gives the same embedding as the golden ids.
static void test_text_string_end_to_end(void **state)
{
    (void)state;
    cJSON *g = golden("tiny-b");
    clip_model *m;
    assert_int_equal(clip_load(model_dir("tiny-b"), 2, &m), 0);
    assert_true(clip_has_tokenizer(m));
    int dim = clip_dim(m), i = 0, k;
    float *out = malloc((size_t)dim * sizeof *out);
    for (const cJSON *t = cJSON_GetObjectItem(g, "texts")->child; t; t = t->next, i++) {
        float *want = tu_floats(cJSON_GetObjectItem(t, "embed"), &k);
        if (clip_embed_text_str(m, cJSON_GetObjectItem(t, "text")->valuestring, out) < 0)
            fail_msg("text %d: %s", i, lisa_errmsg());
        compare("text string", i, out, want, dim, 0.99999, 1e-4);
        free(want);
    }
    free(out);
    clip_free(m);
    cJSON_Delete(g);
}

// Image files through img_load + prep_image, against the reference's embeddings
// of PIL-preprocessed pixels.
static void test_image_file_end_to_end(void **state)
{
    (void)state;
    cJSON *g = golden("tiny-a");
    clip_model *m;
    assert_int_equal(clip_load(model_dir("tiny-a"), 2, &m), 0);
    const prep_cfg *pc = clip_prep(m);
    int dim = clip_dim(m), i = 0, k;
    float *px = malloc((size_t)3 * pc->crop_h * pc->crop_w * sizeof *px), *out = malloc((size_t)dim * sizeof *out);
    for (const cJSON *im = cJSON_GetObjectItem(g, "images")->child; im; im = im->next, i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "clip/%s", cJSON_GetObjectItem(im, "file")->valuestring);
        img_t img;
        if (img_load(tu_data(rel), NULL, &img, NULL) < 0) fail_msg("%s: %s", rel, lisa_errmsg());
        assert_int_equal(prep_image(&img, pc, px), 0);
        img_release(&img);
        assert_int_equal(clip_embed_images(m, px, 1, out), 0);
        float *want = tu_floats(cJSON_GetObjectItem(im, "embed"), &k);
        compare(rel, i, out, want, dim, 0.99999, 1e-4);
        free(want);
    }
    free(px), free(out);
    clip_free(m);
    cJSON_Delete(g);
}

static void test_eos_pooling_ignores_padding(void **state)
{
    (void)state;
    clip_model *m;
    assert_int_equal(clip_load(model_dir("tiny-b"), 1, &m), 0);
    int dim = clip_dim(m);
    float a[64], b[64];
    int32_t ids[8] = {49406, 320, 1125, 49407, 0, 0, 0, 0}; // tiny-b: first id == 49407
    assert_int_equal(clip_embed_text(m, ids, 4, a), 0);
    assert_int_equal(clip_embed_text(m, ids, 8, b), 0);
    assert_memory_equal(a, b, (size_t)dim * sizeof(float));
    ids[2] = 1126; // a content token before EOS does change it
    assert_int_equal(clip_embed_text(m, ids, 8, b), 0);
    assert_true(t_cosine(a, b, (size_t)dim) < 0.9999);
    assert_int_equal(clip_embed_text(m, ids, 0, b), LISA_EINVAL);
    ids[1] = 49408;
    assert_int_equal(clip_embed_text(m, ids, 4, b), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "49408"));
    clip_free(m);
}

/* ---------------------------------------------------------------- broken checkpoints */

// Copies tiny-a's config into a temp dir and writes a safetensors file whose
// header is tiny-a's with one tensor renamed or reshaped.
static const char *broken_dir(const char *sub, const char *from, const char *to)
{
    static char dir[512];
    char p[600];
    snprintf(dir, sizeof dir, "%s", tu_tmp(sub));
    mkdir(dir, 0755);
    size_t n;
    char q[600];
    snprintf(p, sizeof p, "%s/config.json", model_dir("tiny-a"));
    snprintf(q, sizeof q, "%s/config.json", dir);
    tu_copy(p, q);
    snprintf(p, sizeof p, "%s/model.safetensors", model_dir("tiny-a"));
    uint8_t *st = tu_read(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | st[i];
    char *h = (char *)st + 8, *at = memmem(h, hl, from, strlen(from));
    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to)); // same length: offsets stay valid
    memcpy(at, to, strlen(to));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    tu_write(p, st, n);
    free(st);
    return dir;
}

static void test_missing_tensor_error(void **state)
{
    (void)state;
    clip_model *m = NULL;
    const char *d =
        broken_dir("missing", "\"vision_model.post_layernorm.bias\"", "\"vision_model.post_layernorm.bia_\"");
    assert_int_equal(clip_load(d, 1, &m), LISA_ENOTFOUND);
    assert_null(m);
    assert_string_equal(lisa_errmsg(), "model.safetensors: tensor vision_model.post_layernorm.bias is missing");
}

static void test_config_mismatch_error(void **state)
{
    (void)state;
    char p[600];
    const char *dir = tu_tmp("cfgshape");
    mkdir(dir, 0755);
    size_t n;
    snprintf(p, sizeof p, "%s/config.json", model_dir("tiny-a"));
    uint8_t *cfg = tu_read(p, &n);
    char *at = memmem(cfg, n, "\"intermediate_size\": 256", 24);
    assert_non_null(at);
    memcpy(at, "\"intermediate_size\": 128", 24);
    char d[512];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(p, sizeof p, "%s/config.json", d);
    tu_write(p, cfg, n);
    free(cfg);
    char src[600];
    snprintf(src, sizeof src, "%s/model.safetensors", model_dir("tiny-a"));
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    tu_copy(src, p);
    clip_model *m = NULL;
    assert_int_equal(clip_load(d, 1, &m), LISA_EFORMAT);
    assert_null(m);
    assert_string_equal(
        lisa_errmsg(),
        "model.safetensors: text_model.encoder.layers.0.mlp.fc1.weight: expected [128, 64], found [256, 64]");
    assert_int_equal(clip_load(tu_tmp("nowhere"), 1, &m), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "config.json"));
}

// An error on a pool thread reaches the caller with its own message: image
// groups on pool thread 1 fail (clip__fault_tid) while the caller's thread
// holds an unrelated older message.
static void test_worker_error_reaches_caller(void **state)
{
    (void)state;
    clip_model *m;
    assert_int_equal(clip_load(model_dir("tiny-a"), 2, &m), 0);
    int S = 64, B = 8, dim = clip_dim(m);
    float *px = calloc((size_t)B * 3 * S * S, sizeof *px), *out = calloc((size_t)B * dim, sizeof *out);
    assert_true(px && out);
    assert_int_equal(clip_embed_images(m, px, B, out), 0);
    clip__fault_tid = 1;
    lisa_seterr(LISA_EFORMAT, "an older failure");
    int rc = clip_embed_images(m, px, B, out);
    clip__fault_tid = -1;
    assert_int_equal(rc, LISA_ENOMEM);
    assert_string_equal(lisa_errmsg(), "clip: injected fault on pool thread 1");
    assert_string_equal(lisa_errmsg_for(rc), "clip: injected fault on pool thread 1");
    assert_int_equal(clip_embed_images(m, px, B, out), 0); // the model is fine afterwards
    free(px), free(out);
    clip_free(m);
}

static int find_models(void **state)
{
    (void)state;
    return tu_find_models("tiny-a/model.safetensors", models, sizeof models, "tests/setup/clip_models.sh");
}

// The default precision: int8 where gemm timed its VNNI kernel faster than
// bf16's (never without VNNI), else bf16 on the AVX-512 path, else fp32.
static void test_default_precision(void **state)
{
    (void)state;
    if (!(t_gemm_ext() & T_EXT_VNNI)) assert_false(t_gemm_int8_faster());
    int want = t_gemm_int8_faster() ? CLIP_PREC_INT8 : t_gemm_path() == T_PATH_AVX512 ? CLIP_PREC_BF16 : CLIP_PREC_FP32;
    assert_int_equal(clip_default_precision(), want);
    unsetenv("LISA_PRECISION");
    assert_string_equal(clip_load_precision(), clip_precision_name(want));
    setenv("LISA_PRECISION", "fp32", 1);
}

int main(void)
{
    // The goldens are fp32 results; the default precision may be bf16.
    setenv("LISA_PRECISION", "fp32", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_precision),
        cmocka_unit_test(test_tiny_a_f32),
        cmocka_unit_test(test_tiny_b_f32),
        cmocka_unit_test(test_tiny_c_f32),
        cmocka_unit_test(test_tiny_c_bf16),
        cmocka_unit_test(test_tiny_a_f16),
        cmocka_unit_test(test_tiny_a_bf16),
        cmocka_unit_test(test_tiny_b_f16),
        cmocka_unit_test(test_tiny_b_bf16),
        cmocka_unit_test(test_tiny_a_bf16_weights),
        cmocka_unit_test(test_tiny_b_bf16_weights),
        cmocka_unit_test(test_eos_pooling_ignores_padding),
        cmocka_unit_test(test_text_string_end_to_end),
        cmocka_unit_test(test_image_file_end_to_end),
        cmocka_unit_test(test_missing_tensor_error),
        cmocka_unit_test(test_config_mismatch_error),
        cmocka_unit_test(test_worker_error_reaches_caller),
    };
    return cmocka_run_group_tests_name("clip", tests, find_models, NULL);
}
