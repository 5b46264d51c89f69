// Settings: defaults < config file < environment < flags, with range checks
// and file:line errors.
#include "testutil.h"
#include "base/err.h"
#include "clip/clip.h"
#include "search/settings.h"

#include <stdio.h>

static void clear_env(void)
{
    static const char *v[] = {"LISA_TOP_K",  "LISA_CLIP_WEIGHT", "LISA_THUMBNAIL_SIZE", "LISA_DATA",
                              "LISA_MODELS", "LISA_PORT",        "LISA_CONFIG",         "LISA_PRECISION"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) unsetenv(v[i]);
}

static void test_defaults(void **state)
{
    (void)state;
    clear_env();
    settings s;
    char *argv[] = {"x", "--data", (char *)tu_tmp("nodata"), NULL};
    assert_int_equal(settings_resolve(&s, 3, argv), 0);
    assert_int_equal(s.top_k, 20);
    assert_true(s.clip_weight == 0.7);
    assert_int_equal(s.thumbnail_size, 320);
    assert_int_equal(s.port, 8000);
    assert_string_equal(s.config_path, "");
    settings_defaults(&s);
    assert_string_equal(s.data_dir, "./data");
}

static void test_precedence(void **state)
{
    (void)state;
    clear_env();
    char dir[512], conf[600];
    snprintf(dir, sizeof dir, "%s", tu_tmp("data"));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(conf, sizeof conf, "%s/lisa.conf", dir);
    const char *text = "# comment\n\nTOP_K_RESULTS = 5\nclip_weight = 0.25  # trailing\n"
                       "thumbnail_size=\"256\"\nport = 9000\n";
    tu_write(conf, text, strlen(text));
    settings s;
    char *argv[] = {"x", "--data", dir, NULL};
    assert_int_equal(settings_resolve(&s, 3, argv), 0); // file found through --data
    assert_int_equal(s.top_k, 5);
    assert_true(s.clip_weight == 0.25);
    assert_int_equal(s.thumbnail_size, 256);
    assert_int_equal(s.port, 9000);
    assert_string_equal(s.config_path, conf);

    setenv("LISA_TOP_K", "7", 1); // env beats file
    setenv("LISA_CLIP_WEIGHT", "0.5", 1);
    char *argv2[] = {"x", "query", "--data", dir, "--clip-weight", "1", NULL};
    assert_int_equal(settings_resolve(&s, 6, argv2), 0);
    assert_int_equal(s.top_k, 7);
    assert_true(s.clip_weight == 1.0); // flag beats env
    assert_int_equal(s.thumbnail_size, 256);
    assert_string_equal(s.data_dir, dir);
    clear_env();
}

static void test_errors(void **state)
{
    (void)state;
    clear_env();
    settings s;
    settings_defaults(&s);
    assert_int_equal(settings_set(&s, "clip_weight", "1.5", "t"), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "not in [0,1]"));
    assert_int_equal(settings_set(&s, "top_k", "0", "t"), LISA_EINVAL);
    assert_int_equal(settings_set(&s, "top_k", "12abc", "t"), LISA_EINVAL);
    assert_int_equal(settings_set(&s, "port", "70000", "t"), LISA_EINVAL);
    assert_int_equal(settings_set(&s, "nosuch", "1", "t"), LISA_EINVAL);
    assert_int_equal(s.top_k, 20); // failed sets change nothing

    const char *bad = "top_k = 3\nthis line has no equals\n";
    const char *path = tu_tmp("bad.conf");
    tu_write(path, bad, strlen(bad));
    assert_int_equal(settings_load_file(&s, path), LISA_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_non_null(strstr(lisa_errmsg(), want));

    setenv("LISA_CONFIG", tu_tmp("missing.conf"), 1); // named explicitly: must exist
    char *argv[] = {"x", NULL};
    assert_int_equal(settings_resolve(&s, 1, argv), LISA_ENOTFOUND);
    clear_env();
    setenv("LISA_THUMBNAIL_SIZE", "3", 1);
    assert_int_equal(settings_resolve(&s, 1, argv), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "LISA_THUMBNAIL_SIZE"));
    clear_env();
    char *argv2[] = {"x", "--top-k", NULL};
    assert_int_equal(settings_resolve(&s, 2, argv2), LISA_EINVAL);
}

// precision: fp32 | bf16 | int8 from the file, the environment and the flag,
// in that order; unknown names are refused with the reason.
static void test_precision(void **state)
{
    (void)state;
    clear_env();
    settings s;
    settings_defaults(&s);
    assert_string_equal(s.precision, clip_precision_name(clip_default_precision()));
    assert_int_equal(settings_set(&s, "precision", "bf16", "t"), 0);
    assert_string_equal(s.precision, "bf16");
    assert_string_equal(clip_load_precision(), "bf16");
    assert_int_equal(settings_set(&s, "precision", "int8", "t"), 0);
    assert_string_equal(s.precision, "int8");
    assert_string_equal(clip_load_precision(), "int8");
    assert_int_equal(settings_set(&s, "precision", "bf16", "t"), 0);
    assert_int_equal(settings_set(&s, "precision", "fp16", "t"), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "t: precision: 'fp16'"));
    assert_string_equal(s.precision, "bf16");

    const char *conf = "precision = bf16\n";
    const char *path = tu_tmp("prec.conf");
    tu_write(path, conf, strlen(conf));
    setenv("LISA_CONFIG", path, 1);
    char *argv[] = {"x", NULL}, *argv2[] = {"x", "--precision", "fp32", NULL};
    assert_int_equal(settings_resolve(&s, 1, argv), 0);
    assert_string_equal(s.precision, "bf16");
    setenv("LISA_PRECISION", "fp32", 1);
    assert_int_equal(settings_resolve(&s, 1, argv), 0);
    assert_string_equal(s.precision, "fp32");
    setenv("LISA_PRECISION", "bf16", 1);
    assert_int_equal(settings_resolve(&s, 3, argv2), 0);
    assert_string_equal(s.precision, "fp32");
    assert_string_equal(clip_load_precision(), "fp32");
    clear_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
