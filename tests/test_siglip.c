// SigLIP: the Gemma tokenizer against npm transformers' ids (tests/data/siglip/gemma_ids.json,
// tools/siglip/make_gemma_goldens.py), and the towers against the independent PyTorch reference
// (tests/data/siglip/siglip-*.json, tools/siglip/make_goldens.py) on two random-weight models in HF
// layout that differ in every shape. Text rows and pixels come from the goldens, so the tower tests do
// not depend on the tokenizer or the preprocessing; the end-to-end tests then add each.
#include "testutil.h"
#include "base/err.h"
#include "clip/clip.h"
#include "image/image.h"
#include "siglip/gemma.h"
#include "search/indexer.h"
#include "search/search.h"
#include "siglip/siglip.h"
#include "siglip/spiece.h"
#include "tensor/tensor.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char models[256];

static const char *model_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", models, name);
    return p;
}

static cJSON *read_json(const char *path)
{
    size_t n;
    uint8_t *b = tu_read(path, &n);
    cJSON *j = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(j);
    return j;
}

static cJSON *golden(const char *name)
{
    char rel[64];
    snprintf(rel, sizeof rel, "siglip/%s.json", name);
    return read_json(tu_data(rel));
}

/* ---------------------------------------------------------------- tokenizer */

// Every case of a goldens file: ids (content + <eos>) equal, id for id.
static int check_ids(gemma_tok *t, const cJSON *g, const char *key, int *cases)
{
    int bad = 0, i = 0;
    for (const cJSON *c = cJSON_GetObjectItem(g, "cases")->child; c; c = c->next, i++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        int n, k;
        int32_t ids[64];
        float *want = tu_floats(cJSON_GetObjectItem(c, key), &k);
        assert_int_equal(gemma_encode(t, text, strlen(text), ids, 64, &n), 0);
        int same = n == k;
        for (int j = 0; same && j < n; j++) same = ids[j] == (int32_t)want[j];
        if (!same) {
            if (bad++ < 5) {
                fprintf(stderr, "%s #%d \"%s\": got", key, i, text);
                for (int j = 0; j < n; j++) fprintf(stderr, " %d", ids[j]);
                fprintf(stderr, "\n   want");
                for (int j = 0; j < k; j++) fprintf(stderr, " %d", (int)want[j]);
                fprintf(stderr, "\n");
            }
        }
        free(want);
    }
    *cases = i;
    return bad;
}

static void test_gemma_reduced_goldens(void **state)
{
    (void)state;
    gemma_tok *t;
    cJSON *g = read_json(tu_data("siglip/gemma_ids.json"));
    if (gemma_load(tu_data("siglip/gemma-reduced/tokenizer.json"), &t) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(gemma_vocab_size(t), 32101);
    assert_int_equal(gemma_pad(t), 0);
    assert_int_equal(gemma_eos(t), 1);
    int n, bad = check_ids(t, g, "ids", &n);
    assert_true(n >= 300);
    gemma_set_lower(t, 0);
    bad += check_ids(t, g, "raw_ids", &n);
    if (bad) fail_msg("%d of %d strings differ from transformers.js", bad, 2 * n);
    gemma_free(t);
    cJSON_Delete(g);
}

// The real 256,000-piece tokenizer.json is not in the repository (17 MB); with
// LISA_GEMMA_TOKENIZER naming it, its ids are checked too.
static void test_gemma_full_goldens(void **state)
{
    (void)state;
    const char *path = getenv("LISA_GEMMA_TOKENIZER");
    if (!path) {
        fprintf(stderr, "test_gemma_full_goldens: LISA_GEMMA_TOKENIZER not set, skipped\n");
        skip();
    }
    gemma_tok *t;
    cJSON *g = read_json(tu_data("siglip/gemma_full_ids.json"));
    if (gemma_load(path, &t) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(gemma_vocab_size(t), 256000);
    int n, bad = check_ids(t, g, "ids", &n);
    if (bad) fail_msg("%d of %d strings differ from transformers.js", bad, n);
    gemma_free(t);
    cJSON_Delete(g);
}

static void test_gemma_truncation_and_errors(void **state)
{
    (void)state;
    gemma_tok *t;
    int32_t ids[64];
    int n;
    assert_int_equal(gemma_load(tu_data("siglip/gemma-reduced/tokenizer.json"), &t), 0);
    char text[400];
    memset(text, 0, sizeof text);
    for (int i = 0; i < 100; i++) memcpy(text + 3 * i, "\xe7\x8c\xab", 3); // 100 x U+732B: one piece each
    assert_int_equal(gemma_encode(t, text, strlen(text), ids, 64, &n), 0);
    assert_int_equal(n, 64);
    assert_int_equal(ids[63], 1);
    assert_int_equal(ids[62], ids[0]);
    assert_int_equal(gemma_encode(t, "\xff\xfe", 2, ids, 64, &n), 0); // invalid UTF-8: two U+FFFD
    assert_true(n >= 2);
    assert_int_equal(gemma_encode(t, "x", 1, ids, 0, &n), LISA_EINVAL);
    char *big = calloc(GEMMA_MAX_TEXT + 2, 1);
    memset(big, 'a', GEMMA_MAX_TEXT + 1);
    assert_int_equal(gemma_encode(t, big, GEMMA_MAX_TEXT + 1, ids, 64, &n), LISA_ETOOBIG);
    free(big);
    gemma_free(t);
    const char *bad = tu_tmp("gemma-bad.json");
    tu_write(bad, "{\"model\":{\"type\":\"WordPiece\"}}", 31);
    assert_int_equal(gemma_load(bad, &t), LISA_EUNSUPPORTED);
    assert_non_null(strstr(lisa_errmsg(), "byte-fallback BPE"));
}

// SigLIP 1: the SiglipTokenizer pipeline around libsentencepiece on a small
// unigram model (tools/siglip/make_tiny_spiece.py), against the Python
// reference over python3-sentencepiece (tools/siglip/siglip_tokenizer_ref.py).
static void test_spiece_goldens(void **state)
{
    (void)state;
    spiece_tok *t;
    if (spiece_load(tu_data("siglip/spiece-tiny/spiece.model"), &t) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(spiece_eos(t), 1);
    cJSON *g = read_json(tu_data("siglip/spiece_ids.json"));
    int bad = 0, i = 0;
    for (const cJSON *c = cJSON_GetObjectItem(g, "cases")->child; c; c = c->next, i++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        int n, k, same;
        int32_t ids[64];
        float *want = tu_floats(cJSON_GetObjectItem(c, "ids"), &k);
        assert_int_equal(spiece_encode(t, text, strlen(text), ids, 64, &n), 0);
        same = n == k;
        for (int j = 0; same && j < n; j++) same = ids[j] == (int32_t)want[j];
        if (!same && bad++ < 5) {
            fprintf(stderr, "spiece #%d \"%s\": got", i, text);
            for (int j = 0; j < n; j++) fprintf(stderr, " %d", ids[j]);
            fprintf(stderr, "\n   want");
            for (int j = 0; j < k; j++) fprintf(stderr, " %d", (int)want[j]);
            fprintf(stderr, "\n");
        }
        free(want);
    }
    assert_true(i >= 300);
    if (bad) fail_msg("%d of %d strings differ from the SiglipTokenizer reference", bad, i);
    const char *junk = tu_tmp("junk.model");
    tu_write(junk, "not a model", 11);
    spiece_tok *j = NULL;
    assert_int_equal(spiece_load(junk, &j), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "not a SentencePiece model"));
    spiece_free(t);
    cJSON_Delete(g);
}

// google/siglip-base-patch16-224's spiece.model is not in the repository; with
// LISA_SIGLIP_SPIECE naming it, HF's published ids must come out
// (tests/models/siglip/test_tokenization_siglip.py, test_tokenizer_integration
// and test_prepare_batch).
static void test_spiece_published_ids(void **state)
{
    (void)state;
    const char *path = getenv("LISA_SIGLIP_SPIECE");
    if (!path) {
        fprintf(stderr, "test_spiece_published_ids: LISA_SIGLIP_SPIECE not set, skipped\n");
        skip();
    }
    static const struct {
        const char *text;
        int n;
        int32_t ids[64];
    } cases[] = {
        {"the real mountain view", 5, {260, 638, 3293, 870, 1}},
        {"Z\xc3\xbcrich", 5, {262, 761, 5879, 5345, 1}},
        {"San Francisco", 6, {262, 264, 452, 20563, 15949, 1}},
        {"A long paragraph for summarization.", 9, {262, 266, 476, 8532, 270, 4460, 3949, 1682, 1}},
        {"a picture of a laptop with the lockscreen on, a cup of cappucino, salt and pepper grinders. The view "
         "through the window reveals lake Z\xc3\xbcrich and the Alps in the background of the city.",
         49,
         {262, 266,   1357, 267, 262,  266,  4429, 275,   260, 3940, 6360, 277, 262, 266,  3064, 267,  3549,
          388, 16538, 296,  298, 2617, 263,  4869, 14998, 264, 260,  870,  393, 260, 1710, 7958, 4324, 262,
          761, 5879,  5345, 263, 260,  1518, 388,  264,   268, 260,  1970, 267, 260, 741,  1}},
    };
    spiece_tok *t;
    if (spiece_load(path, &t) < 0) fail_msg("%s", lisa_errmsg());
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t ids[64];
        int n;
        assert_int_equal(spiece_encode(t, cases[c].text, strlen(cases[c].text), ids, 64, &n), 0);
        assert_int_equal(n, cases[c].n);
        assert_memory_equal(ids, cases[c].ids, (size_t)n * sizeof *ids);
    }
    spiece_free(t);
}

// A SigLIP 1 layout (spiece.model, no tokenizer.json): text goes through the
// SentencePiece path and is padded with </s> (1) to 64.
static void test_spiece_model_dir(void **state)
{
    (void)state;
    char p[600], q[600];
    const char *dir = tu_tmp("siglip-spiece");
    mkdir(dir, 0755);
    static const char *const files[] = {"config.json", "model.safetensors", "preprocessor_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", model_dir("siglip-a"), files[i]);
        snprintf(q, sizeof q, "%s/%s", dir, files[i]);
        tu_copy(p, q);
    }
    snprintf(q, sizeof q, "%s/spiece.model", dir);
    tu_copy(tu_data("siglip/spiece-tiny/spiece.model"), q);
    siglip_model *m;
    if (siglip_load(dir, 1, &m) < 0) fail_msg("%s", lisa_errmsg());
    assert_true(siglip_has_tokenizer(m));
    int32_t ids[64], want[64];
    int n, k;
    const char *text = "Sunset over the mountains!";
    assert_int_equal(siglip_tokenize(m, text, ids, 64, &n), 0);
    assert_int_equal(n, 64);
    spiece_tok *t;
    assert_int_equal(spiece_load(tu_data("siglip/spiece-tiny/spiece.model"), &t), 0);
    assert_int_equal(spiece_encode(t, text, strlen(text), want, 64, &k), 0);
    for (int i = k; i < 64; i++) want[i] = 1;
    assert_memory_equal(ids, want, sizeof ids);
    float a[64], b[64];
    assert_int_equal(siglip_embed_text_str(m, text, a), 0);
    assert_int_equal(siglip_embed_text(m, want, 64, b), 0);
    assert_memory_equal(a, b, sizeof a);
    spiece_free(t);
    siglip_free(m);
}

/* ---------------------------------------------------------------- towers */

static void compare(const char *what, int idx, const float *got, const float *want, int n, double min_cos,
                    double max_abs)
{
    double cs = t_cosine(got, want, (size_t)n), md = t_max_abs_diff(got, want, (size_t)n);
    if (getenv("LISA_TEST_VERBOSE")) fprintf(stderr, "%s #%d: cos %.9f maxdiff %.3g\n", what, idx, cs, md);
    if (cs < min_cos || md > max_abs)
        fail_msg("%s #%d: cosine %.9f (min %.9f), max abs diff %.3g (max %.3g)", what, idx, cs, min_cos, md, max_abs);
}

static float *pixels_of(const cJSON *im, int S)
{
    char rel[256];
    size_t n;
    snprintf(rel, sizeof rel, "siglip/%s", cJSON_GetObjectItem(im, "pixels")->valuestring);
    float *px = (float *)tu_read(tu_data(rel), &n);
    assert_int_equal(n, (size_t)3 * S * S * sizeof(float));
    return px;
}

// variant NULL: the f32 model; "bf16": its bf16 copy against the reference on the same upcast weights.
static void check_model(const char *name, const char *variant)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s%s%s", name, variant ? "-" : "", variant ? variant : "");
    cJSON *g = golden(name), *v = variant ? cJSON_GetObjectItem(g, variant) : NULL;
    siglip_model *m;
    if (siglip_load(model_dir(dir), 2, &m) < 0) fail_msg("%s: %s", dir, lisa_errmsg());
    int dim = siglip_dim(m), S = siglip_cfg(m)->image_size, nt = 0, ni = 0, k;
    const cJSON *texts = cJSON_GetObjectItem(g, "texts"), *images = cJSON_GetObjectItem(g, "images");
    float *temb = malloc((size_t)cJSON_GetArraySize(texts) * dim * sizeof *temb);
    float *iemb = malloc((size_t)cJSON_GetArraySize(images) * dim * sizeof *iemb);
    const cJSON *ve = v ? cJSON_GetObjectItem(v, "texts")->child : NULL;
    for (const cJSON *t = texts->child; t; t = t->next, nt++, ve = ve ? ve->next : NULL) {
        int n;
        float *idf = tu_floats(cJSON_GetObjectItem(t, "ids"), &n);
        int32_t ids[64];
        assert_int_equal(n, 64);
        for (int j = 0; j < n; j++) ids[j] = (int32_t)idf[j];
        float *want = tu_floats(v ? ve : cJSON_GetObjectItem(t, "embed"), &k);
        assert_int_equal(k, dim);
        assert_int_equal(siglip_embed_text(m, ids, n, temb + (size_t)nt * dim), 0);
        compare("text", nt, temb + (size_t)nt * dim, want, dim, 0.99999, 1e-4);
        free(idf), free(want);
    }
    // All images in one batch: the batched path must equal the reference too.
    int nimg = cJSON_GetArraySize(images);
    float *px = malloc((size_t)nimg * 3 * S * S * sizeof *px);
    for (const cJSON *im = images->child; im; im = im->next, ni++) {
        float *p = pixels_of(im, S);
        memcpy(px + (size_t)ni * 3 * S * S, p, (size_t)3 * S * S * sizeof *p);
        free(p);
    }
    assert_int_equal(siglip_embed_images(m, px, nimg, iemb), 0);
    ve = v ? cJSON_GetObjectItem(v, "images")->child : NULL;
    ni = 0;
    for (const cJSON *im = images->child; im; im = im->next, ni++, ve = ve ? ve->next : NULL) {
        float *want = tu_floats(v ? ve : cJSON_GetObjectItem(im, "embed"), &k);
        compare("image", ni, iemb + (size_t)ni * dim, want, dim, 0.99999, 1e-4);
        free(want);
    }
    // Logits: cos * exp(logit_scale) + logit_bias, and the probability is their sigmoid.
    float scale, bias;
    siglip_logit_params(m, &scale, &bias);
    if (!v) { // the bf16 copy rounds logit_scale: exp(bf16(ln 10)) = 9.943
        assert_float_equal(scale, cJSON_GetObjectItem(g, "logit_scale")->valuedouble, 1e-4);
        assert_float_equal(bias, cJSON_GetObjectItem(g, "logit_bias")->valuedouble, 1e-6);
    }
    int ti = 0;
    for (const cJSON *row = cJSON_GetObjectItem(g, "logits")->child; !v && row; row = row->next, ti++) {
        int ii = 0;
        for (const cJSON *l = row->child; l; l = l->next, ii++) {
            float cs = (float)t_cosine(temb + (size_t)ti * dim, iemb + (size_t)ii * dim, (size_t)dim);
            double want = l->valuedouble, p = 1.0 / (1.0 + exp(-want));
            if (fabs(cs * scale + bias - want) > 1e-3 || fabs(siglip_prob(m, cs) - p) > 1e-5)
                fail_msg("logit text %d image %d: %f, want %f (prob %g, want %g)", ti, ii, cs * scale + bias, want,
                         siglip_prob(m, cs), p);
        }
    }
    assert_true(nt >= 10 && ni >= 6);
    free(temb), free(iemb), free(px);
    siglip_free(m);
    cJSON_Delete(g);
}

static void test_siglip_a_f32(void **state)
{
    (void)state, check_model("siglip-a", NULL);
}
static void test_siglip_b_f32(void **state)
{
    (void)state, check_model("siglip-b", NULL);
}
static void test_siglip_a_bf16(void **state)
{
    (void)state, check_model("siglip-a", "bf16");
}

// Strings through the tokenizer and padding, and image files through img_load +
// SiglipImageProcessor (no crop), via the clip_* entry points the indexer uses.
// Through the CLIP API in precision prec: fp32 within float noise of the
// reference, bf16 (the encoder layers packed in bf16) within the engine's bar
// and not bit-equal to it (the bf16 path really runs).
static void end_to_end(int prec, double min_cos, double max_abs)
{
    cJSON *g = golden("siglip-b");
    clip_model *m;
    if (clip_load_prec(model_dir("siglip-b"), 2, prec, &m) < 0) fail_msg("%s", lisa_errmsg());
    assert_string_equal(clip_precision(m), clip_precision_name(prec));
    assert_non_null(clip_siglip(m));
    assert_true(clip_has_tokenizer(m));
    const prep_cfg *pc = clip_prep(m);
    assert_int_equal(pc->do_center_crop, 0);
    int dim = clip_dim(m), S = clip_cfg(m)->image_size, i = 0, k;
    assert_int_equal(dim, 80);
    float *out = malloc((size_t)dim * sizeof *out), *px = malloc((size_t)3 * S * S * sizeof *px);
    double worst = 0;
    for (const cJSON *t = cJSON_GetObjectItem(g, "texts")->child; t; t = t->next, i++) {
        float *want = tu_floats(cJSON_GetObjectItem(t, "embed"), &k);
        if (clip_embed_text_str(m, cJSON_GetObjectItem(t, "text")->valuestring, out) < 0)
            fail_msg("text %d: %s", i, lisa_errmsg());
        compare("text string", i, out, want, dim, min_cos, max_abs);
        double md = t_max_abs_diff(out, want, (size_t)dim);
        worst = md > worst ? md : worst;
        free(want);
    }
    i = 0;
    for (const cJSON *im = cJSON_GetObjectItem(g, "images")->child; im; im = im->next, i++) {
        img_t img;
        const char *rel = cJSON_GetObjectItem(im, "file")->valuestring;
        if (img_load(tu_data(rel), NULL, &img, NULL) < 0) fail_msg("%s: %s", rel, lisa_errmsg());
        assert_int_equal(prep_image(&img, pc, px), 0);
        img_release(&img);
        float *want_px = pixels_of(im, S);
        double md = t_max_abs_diff(px, want_px, (size_t)3 * S * S);
        if (md > 1e-6) fail_msg("%s: pixels differ from SiglipImageProcessor by %g", rel, md);
        free(want_px);
        assert_int_equal(clip_embed_images(m, px, 1, out), 0);
        float *want = tu_floats(cJSON_GetObjectItem(im, "embed"), &k);
        compare(rel, i, out, want, dim, min_cos, max_abs);
        free(want);
    }
    if (prec == CLIP_PREC_BF16) assert_true(worst > 1e-6);
    free(out), free(px);
    clip_free(m);
    cJSON_Delete(g);
}

static void test_end_to_end_through_clip_api(void **state)
{
    (void)state, end_to_end(CLIP_PREC_FP32, 0.99999, 1e-4);
}

static void test_end_to_end_bf16(void **state)
{
    (void)state, end_to_end(CLIP_PREC_BF16, 0.999, 0.05);
}

// Pads are attended (no mask), and the row pooled is the last one.
static void test_padding_changes_the_embedding(void **state)
{
    (void)state;
    siglip_model *m;
    assert_int_equal(siglip_load(model_dir("siglip-a"), 1, &m), 0);
    float a[64], b[64];
    int32_t ids[64] = {5000, 6000, 1};
    assert_int_equal(siglip_embed_text(m, ids, 3, a), 0);
    assert_int_equal(siglip_embed_text(m, ids, 64, b), 0);
    assert_true(t_cosine(a, b, 64) < 0.9999);
    assert_int_equal(siglip_embed_text(m, ids, 65, b), LISA_EINVAL);
    ids[1] = 32101;
    assert_int_equal(siglip_embed_text(m, ids, 3, b), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "32101"));
    siglip_free(m);
}

static void test_missing_head_error(void **state)
{
    (void)state;
    char p[600], q[600];
    const char *dir = tu_tmp("siglip-nohead");
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", model_dir("siglip-a"));
    snprintf(q, sizeof q, "%s/config.json", dir);
    tu_copy(p, q);
    size_t n;
    snprintf(p, sizeof p, "%s/model.safetensors", model_dir("siglip-a"));
    uint8_t *st = tu_read(p, &n);
    size_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | st[i];
    char *at = memmem(st + 8, hl, "\"vision_model.head.probe\"", 25);
    assert_non_null(at);
    memcpy(at, "\"vision_model.head.probX\"", 25);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    tu_write(q, st, n);
    free(st);
    siglip_model *m = NULL;
    assert_int_equal(siglip_load(dir, 1, &m), LISA_ENOTFOUND);
    assert_null(m);
    assert_string_equal(lisa_errmsg(), "model.safetensors: tensor vision_model.head.probe is missing");
}

// A library indexed with a SigLIP model answers text queries by its vectors,
// with the probability beside the cosine; the top hit is the image whose
// golden embedding is nearest to the query's.
static void test_index_and_search(void **state)
{
    (void)state;
    cJSON *g = golden("siglip-a");
    clip_model *m;
    assert_int_equal(clip_load(model_dir("siglip-a"), 2, &m), 0);
    char pics[512], data[512], src[512], dst[600];
    snprintf(pics, sizeof pics, "%s", tu_tmp("siglip-pics"));
    snprintf(data, sizeof data, "%s", tu_tmp("siglip-data"));
    mkdir(pics, 0755), mkdir(data, 0755);
    const char *files[] = {"photo.jpg", "landscape.png", "portrait.jpg", "square64.png"};
    for (int i = 0; i < 4; i++) {
        snprintf(src, sizeof src, "clip/images/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", pics, files[i]);
        tu_copy(tu_data(src), dst);
    }
    indexer_opts o;
    indexer_opts_init(&o);
    o.data_dir = data, o.model = m, o.model_id = "siglip-a", o.no_ocr = 1, o.threads = 1;
    indexer_stats st;
    const char *roots[] = {pics};
    if (indexer_run(roots, 1, &o, &st) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(st.embedded, 4);
    search_opts so = {data, m, "siglip-a", NULL};
    search_ctx *sc;
    assert_int_equal(search_open(&so, &sc), 0);
    search_results res;
    const char *q = "sunset over the mountains";
    assert_int_equal(search_query(sc, q, 4, 1.0, &res), 0);
    assert_int_equal(res.keyword_only, 0);
    assert_true(res.clip_part);
    float tq[64];
    assert_int_equal(clip_embed_text_str(m, q, tq), 0);
    for (int i = 0; i < res.n; i++) {
        const search_result *r = &res.r[i];
        assert_true(r->has_clip);
        assert_float_equal(r->prob, siglip_prob(clip_siglip(m), r->cosine), 1e-7);
        assert_true(r->prob > 0 && r->prob < 1);
        if (i) assert_true(res.r[i - 1].cosine >= r->cosine);
    }
    // The best cosine among the goldens' embeddings of these four files is the top hit.
    double best = -2;
    const char *want = NULL;
    for (const cJSON *im = cJSON_GetObjectItem(g, "images")->child; im; im = im->next) {
        const char *f = strrchr(cJSON_GetObjectItem(im, "file")->valuestring, '/') + 1;
        int k, in = 0;
        for (int i = 0; i < 4; i++) in |= !strcmp(f, files[i]);
        if (!in) continue;
        float *e = tu_floats(cJSON_GetObjectItem(im, "embed"), &k);
        double c = t_cosine(tq, e, 64);
        if (c > best) best = c, want = f;
        free(e);
    }
    // Honest relevance (docs/ranking.md): the results are exactly the images whose
    // cosine reaches the query's cut, best first.
    int over = 0;
    for (const cJSON *im = cJSON_GetObjectItem(g, "images")->child; im; im = im->next) {
        const char *f = strrchr(cJSON_GetObjectItem(im, "file")->valuestring, '/') + 1;
        int k, in = 0;
        for (int i = 0; i < 4; i++) in |= !strcmp(f, files[i]);
        if (!in) continue;
        float *e = tu_floats(cJSON_GetObjectItem(im, "embed"), &k);
        over += t_cosine(tq, e, 64) >= res.clip_cut + 1e-4;
        free(e);
    }
    assert_true(res.n >= over && res.n <= 4);
    if (best >= res.clip_cut + 1e-4) {
        assert_non_null(strstr(res.r[0].path, want));
        assert_float_equal(res.r[0].cosine, best, 1e-4);
    }
    search_results_free(&res);
    // A keyword hit (the file name) is shown whatever its cosine, and carries
    // the model's probability beside the cosine.
    assert_int_equal(search_query(sc, "landscape", 4, 0.7, &res), 0);
    assert_true(res.n >= 1);
    assert_non_null(strstr(res.r[0].path, "landscape.png"));
    assert_true(res.r[0].has_clip && res.r[0].has_kw);
    assert_float_equal(res.r[0].prob, siglip_prob(clip_siglip(m), res.r[0].cosine), 1e-7);
    assert_true(res.r[0].prob > 0 && res.r[0].prob < 1);
    search_results_free(&res);
    search_close(sc);
    clip_free(m);
    cJSON_Delete(g);
}

static int find_models(void **state)
{
    (void)state;
    return tu_find_models("siglip-a/model.safetensors", models, sizeof models, "tests/setup/siglip_models.sh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemma_reduced_goldens),
        cmocka_unit_test(test_gemma_full_goldens),
        cmocka_unit_test(test_gemma_truncation_and_errors),
        cmocka_unit_test(test_spiece_goldens),
        cmocka_unit_test(test_spiece_published_ids),
        cmocka_unit_test(test_spiece_model_dir),
        cmocka_unit_test(test_siglip_a_f32),
        cmocka_unit_test(test_siglip_b_f32),
        cmocka_unit_test(test_siglip_a_bf16),
        cmocka_unit_test(test_end_to_end_through_clip_api),
        cmocka_unit_test(test_end_to_end_bf16),
        cmocka_unit_test(test_padding_changes_the_embedding),
        cmocka_unit_test(test_missing_head_error),
        cmocka_unit_test(test_index_and_search),
    };
    return cmocka_run_group_tests_name("siglip", tests, find_models, NULL);
}
