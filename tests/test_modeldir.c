// Model directory discovery (--model, $LISA_MODELS, DATA/models) and checks.
#include "testutil.h"
#include "base/err.h"
#include "model/modeldir.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[4096];

static const char *mk(const char *rel)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", tu_tmpdir(), rel);
    mkdir(p, 0755);
    return p;
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[2200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    tu_write(p, text, strlen(text));
}

static void make_clip(const char *dir)
{
    put(dir, "config.json", "{\"model_type\": \"clip\"}");
    put(dir, "model.safetensors", "0123456789");
    put(dir, "preprocessor_config.json", "{}");
    put(dir, "tokenizer.json", "{}");
}

static int setup(void **state)
{
    (void)state;
    unsetenv("LISA_MODELS");
    unsetenv("LISA_DATA");
    return 0;
}

static void test_data_dir(void **state)
{
    (void)state;
    assert_string_equal(modeldir_data_dir(NULL), "./data");
    setenv("LISA_DATA", "/srv/lisa", 1);
    assert_string_equal(modeldir_data_dir(NULL), "/srv/lisa");
    assert_string_equal(modeldir_data_dir(""), "/srv/lisa");
    assert_string_equal(modeldir_data_dir("mine"), "mine");
    unsetenv("LISA_DATA");
}

static void test_resolve_order(void **state)
{
    (void)state;
    char data[1024];
    snprintf(data, sizeof data, "%s", mk("data"));
    // Nothing installed: where pull would put the default.
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, sizeof buf), 0);
    assert_true(strstr(buf, "/data/models/clip-vit-base-patch32-laion2b") != NULL);
    // OpenAI's B/32, the default before, serves while it is the one installed;
    // the new default wins once it is there too.
    char old[1024], new[1024];
    mk("data/models");
    snprintf(old, sizeof old, "%s", mk("data/models/clip-vit-base-patch32"));
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, old);
    snprintf(new, sizeof new, "%s", mk("data/models/clip-vit-base-patch32-laion2b"));
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, new);
    assert_int_equal(modeldir_resolve(NULL, data, "clip-vit-base-patch32", buf, sizeof buf), 0);
    assert_string_equal(buf, old);
    rmdir(new), rmdir(old);
    assert_int_equal(modeldir_resolve(NULL, data, "openai/clip-vit-large-patch14", buf, sizeof buf), 0);
    assert_true(strstr(buf, "/data/models/clip-vit-large-patch14") != NULL);
    // An explicit directory wins, as given.
    assert_int_equal(modeldir_resolve("/opt/m", data, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "/opt/m");
    // $LISA_DATA when no data dir is given.
    setenv("LISA_DATA", "/srv/lisa", 1);
    assert_int_equal(modeldir_resolve(NULL, NULL, "clip-vit-base-patch16", buf, sizeof buf), 0);
    assert_string_equal(buf, "/srv/lisa/models/clip-vit-base-patch16");
    unsetenv("LISA_DATA");
    // $LISA_MODELS as a directory of model directories.
    char models[1024];
    snprintf(models, sizeof models, "%s", mk("store"));
    mk("store/clip-vit-base-patch32");
    setenv("LISA_MODELS", models, 1);
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, sizeof buf), 0);
    assert_true(strstr(buf, "/store/clip-vit-base-patch32") != NULL);
    // ... which falls through to DATA for a model it lacks.
    assert_int_equal(modeldir_resolve(NULL, data, "blip-image-captioning-base", buf, sizeof buf), 0);
    assert_true(strstr(buf, "/data/models/blip-image-captioning-base") != NULL);
    // $LISA_MODELS as a model directory itself: used for a model of its type only.
    char self[1024];
    snprintf(self, sizeof self, "%s", mk("one"));
    make_clip(self);
    setenv("LISA_MODELS", self, 1);
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, self);
    assert_int_equal(modeldir_resolve(NULL, data, "blip-image-captioning-base", buf, sizeof buf), 0);
    assert_true(strstr(buf, "/data/models/blip-image-captioning-base") != NULL);
    unsetenv("LISA_MODELS");
    // Names that could escape the models directory are refused.
    assert_int_equal(modeldir_resolve(NULL, data, "../etc", buf, sizeof buf), LISA_EINVAL);
    assert_int_equal(modeldir_resolve(NULL, data, "a/../../x", buf, sizeof buf), LISA_EINVAL);
    assert_int_equal(modeldir_resolve(NULL, data, NULL, buf, 8), LISA_ETOOBIG);
}

static void test_check_names_missing_file(void **state)
{
    (void)state;
    const char *missing, *dir = mk("ckpt");
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "config.json");
    assert_non_null(strstr(lisa_errmsg(), "install it with: lisa models pull clip-vit-base-patch32-laion2b"));
    put(d, "config.json", "{\"model_type\": \"clip\"}");
    put(d, "model.safetensors", ""); // empty counts as missing
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "model.safetensors");
    assert_non_null(strstr(lisa_errmsg(), d));
    put(d, "model.safetensors", "x");
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, "clip-vit-large-patch14", &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "preprocessor_config.json");
    assert_non_null(strstr(lisa_errmsg(), "lisa models pull clip-vit-large-patch14"));
    put(d, "preprocessor_config.json", "{}");
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "tokenizer.json");
    assert_non_null(strstr(lisa_errmsg(), "vocab.json + merges.txt"));
    put(d, "vocab.json", "{}");
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    put(d, "merges.txt", "#version: 0.2\n");
    assert_int_equal(modeldir_check(d, MODELDIR_CLIP, NULL, &missing), 0);
    assert_null(missing);
    // BLIP's fallback tokenizer is vocab.txt, and its hint names the captioner.
    assert_int_equal(modeldir_check(d, MODELDIR_BLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "lisa models pull blip-image-captioning-base"));
    put(d, "vocab.txt", "[PAD]\n");
    assert_int_equal(modeldir_check(d, MODELDIR_BLIP, NULL, NULL), 0);
    // A directory that does not exist, and an interrupted download.
    assert_int_equal(modeldir_check("/nonexistent/lisa-model", MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "no model at /nonexistent/lisa-model"));
    const char *p = mk("ckpt2");
    char d2[1024];
    snprintf(d2, sizeof d2, "%s", p);
    put(d2, "config.json", "{}");
    mk("ckpt2/.partial");
    put(d2, ".partial/model.safetensors.part", "abc");
    assert_int_equal(modeldir_check(d2, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "interrupted"));
}

static void test_list(void **state)
{
    (void)state;
    char data[1024], a[1024], b[1024], ext[1024];
    snprintf(data, sizeof data, "%s", mk("ldata"));
    mk("ldata/models");
    snprintf(a, sizeof a, "%s", mk("ldata/models/zeta"));
    snprintf(b, sizeof b, "%s", mk("ldata/models/alpha"));
    mk("ldata/models/.hidden");
    make_clip(a); // 22 + 10 + 2 + 2 bytes
    put(b, "config.json", "{\"model_type\": \"blip\"}");
    modeldir_entry *v;
    size_t n;
    assert_int_equal(modeldir_list(data, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "alpha");
    assert_string_equal(v[0].model_type, "blip");
    assert_string_equal(v[0].missing, "model.safetensors");
    assert_string_equal(v[1].name, "zeta");
    assert_null(v[1].missing);
    assert_int_equal(v[1].bytes, 36);
    free(v);
    // $LISA_MODELS adds its model directories; the same directory is listed once.
    snprintf(ext, sizeof ext, "%s", mk("lext"));
    make_clip(mk("lext/beta"));
    setenv("LISA_MODELS", ext, 1);
    assert_int_equal(modeldir_list(data, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[1].name, "beta");
    free(v);
    char models[1100];
    snprintf(models, sizeof models, "%s/models", data);
    setenv("LISA_MODELS", models, 1);
    assert_int_equal(modeldir_list(data, &v, &n), 0);
    assert_int_equal(n, 2);
    free(v);
    unsetenv("LISA_MODELS");
    assert_int_equal(modeldir_list(tu_tmp("no-such-data"), &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_resolve_order),
        cmocka_unit_test(test_check_names_missing_file),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests_name("modeldir", tests, setup, NULL);
}
