#include "testutil.h"
#include "base/err.h"
#include "model/config.h"

#include <math.h>

static int parse(const char *json, clip_config *c)
{
    lisa_clearerr();
    return cfg_parse(json, strlen(json), "config.json", c);
}

static void expect_fail(const char *json, int code, const char *msg)
{
    clip_config c;
    int rc = parse(json, &c);
    if (rc != code || strcmp(lisa_errmsg(), msg))
        fail_msg("%s -> %d '%s', want %d '%s'", json, rc, lisa_errmsg(), code, msg);
}

static void test_defaults_when_missing(void **state)
{
    (void)state;
    clip_config c;
    assert_int_equal(parse("{\"text_config\":{},\"vision_config\":{}}", &c), 0);
    assert_int_equal(c.text.hidden, 512);
    assert_int_equal(c.text.heads, 8);
    assert_int_equal(c.text.intermediate, 2048);
    assert_int_equal(c.vision.hidden, 768);
    assert_int_equal(c.vision.layers, 12);
    assert_int_equal(c.image_size, 224);
    assert_int_equal(c.patch_size, 32);
    assert_int_equal(c.projection_dim, 512);
    assert_int_equal(c.eos_token_id, 49407);
    assert_int_equal(c.text.act, ACT_QUICK_GELU);
    assert_true(fabsf(c.vision.eps - 1e-5f) < 1e-12f);
}

static void test_openai_style(void **state)
{
    (void)state;
    clip_config c;
    const char *j = "{\"model_type\":\"clip\",\"projection_dim\":768,\"architectures\":[\"CLIPModel\"],"
                    "\"text_config\":{\"hidden_size\":768,\"num_attention_heads\":12,\"intermediate_size\":3072,"
                    "\"eos_token_id\":2,\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-6,\"projection_dim\":9},"
                    "\"vision_config\":{\"hidden_size\":1024,\"num_attention_heads\":16,\"num_hidden_layers\":24,"
                    "\"image_size\":336,\"patch_size\":14,\"hidden_act\":\"gelu_pytorch_tanh\"}}";
    assert_int_equal(parse(j, &c), 0);
    assert_int_equal(c.projection_dim, 768);
    assert_int_equal(c.text.hidden, 768);
    assert_int_equal(c.text.layers, 12);
    assert_int_equal(c.eos_token_id, 2);
    assert_int_equal(c.text.act, ACT_GELU);
    assert_true(fabsf(c.text.eps - 1e-6f) < 1e-12f);
    assert_int_equal(c.vision.hidden, 1024);
    assert_int_equal(c.vision.layers, 24);
    assert_int_equal(c.image_size, 336);
    assert_int_equal(c.patch_size, 14);
    assert_int_equal(c.vision.act, ACT_GELU_TANH);
}

// SiglipConfig: its own defaults, and projection_size (not projection_dim) sizes the text head.
static void test_siglip_config(void **state)
{
    (void)state;
    clip_config c;
    assert_int_equal(
        parse("{\"model_type\":\"siglip\",\"projection_dim\":7,\"text_config\":{},\"vision_config\":{}}", &c), 0);
    assert_int_equal(c.siglip, 1);
    assert_int_equal(c.projection_dim, 768);
    assert_int_equal(c.vocab_size, 32000);
    assert_int_equal(c.max_positions, 64);
    assert_int_equal(c.patch_size, 16);
    assert_int_equal(c.text.act, ACT_GELU_TANH);
    assert_true(fabsf(c.vision.eps - 1e-6f) < 1e-9f);
    assert_int_equal(parse("{\"model_type\":\"siglip\",\"text_config\":{\"hidden_size\":48,\"num_attention_heads\":3,"
                           "\"projection_size\":80},\"vision_config\":{}}",
                           &c),
                     0);
    assert_int_equal(c.text.hidden, 48);
    assert_int_equal(c.projection_dim, 80);
    assert_int_equal(parse("{\"model_type\":\"clip\",\"text_config\":{},\"vision_config\":{}}", &c), 0);
    assert_int_equal(c.siglip, 0);
}

static void test_errors_name_key(void **state)
{
    (void)state;
    expect_fail("[]", LISA_EFORMAT, "config.json: not a JSON object");
    expect_fail("{\"model_type\":\"blip\"}", LISA_EUNSUPPORTED,
                "config.json: model_type: \"blip\" is not clip or siglip");
    expect_fail("{\"text_config\":3}", LISA_EFORMAT, "config.json: text_config: expected an object");
    expect_fail("{\"projection_dim\":0}", LISA_EFORMAT,
                "config.json: projection_dim: expected an integer in [1, 65536]");
    expect_fail("{\"vision_config\":{\"hidden_size\":\"768\"}}", LISA_EFORMAT,
                "config.json: vision_config.hidden_size: expected an integer in [1, 65536]");
    expect_fail("{\"vision_config\":{\"num_hidden_layers\":2.5}}", LISA_EFORMAT,
                "config.json: vision_config.num_hidden_layers: expected an integer in [0, 1024]");
    expect_fail("{\"text_config\":{\"hidden_act\":\"relu\"}}", LISA_EUNSUPPORTED,
                "config.json: text_config.hidden_act: \"relu\" is not quick_gelu, gelu, gelu_new or "
                "gelu_pytorch_tanh");
    expect_fail("{\"text_config\":{\"num_attention_heads\":7}}", LISA_EFORMAT,
                "config.json: text_config.num_attention_heads: 7 does not divide hidden_size 512");
    expect_fail("{\"vision_config\":{\"patch_size\":17}}", LISA_EFORMAT,
                "config.json: vision_config.patch_size: 17 does not divide image_size 224");
    expect_fail("{\"vision_config\":{\"layer_norm_eps\":-1}}", LISA_EFORMAT,
                "config.json: vision_config.layer_norm_eps: expected a number in [1.17549e-38, 1)");
    // A positive double that is 0 as a float (found by fuzz_modelcfg).
    expect_fail("{\"vision_config\":{\"layer_norm_eps\":1e-92}}", LISA_EFORMAT,
                "config.json: vision_config.layer_norm_eps: expected a number in [1.17549e-38, 1)");
    expect_fail("{\"text_config\":{\"vocab_size\":1000,\"eos_token_id\":49407},\"vision_config\":{}}", LISA_EFORMAT,
                "config.json: text_config.eos_token_id: 49407 is outside the vocabulary (vocab_size 1000)");
    expect_fail("{\"text_config\":{}}", LISA_EFORMAT,
                "config.json: vision_config: missing (a CLIPModel config has text_config and vision_config)");
}

static void test_load_file(void **state)
{
    (void)state;
    clip_config c;
    const char *p = tu_tmp("config.json");
    const char *j = "{\"text_config\":null,\"vision_config\":{\"patch_size\":16}}";
    tu_write(p, j, strlen(j));
    assert_int_equal(cfg_load(p, &c), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "config.json: text_config: missing"));
    j = "{\"text_config\":{},\"vision_config\":{\"patch_size\":16}}";
    tu_write(p, j, strlen(j));
    assert_int_equal(cfg_load(p, &c), 0);
    assert_int_equal(c.patch_size, 16);
    assert_int_equal(cfg_load(tu_tmp("missing.json"), &c), LISA_ENOTFOUND);
    // a directory or a device in place of the file
    assert_int_equal(cfg_load(tu_tmpdir(), &c), LISA_EIO);
    assert_non_null(strstr(lisa_errmsg(), "a directory, not a regular file"));
    assert_int_equal(cfg_load("/dev/zero", &c), LISA_EIO);
    assert_string_equal(lisa_errmsg(), "/dev/zero: a device, not a regular file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_when_missing),
        cmocka_unit_test(test_openai_style),
        cmocka_unit_test(test_siglip_config),
        cmocka_unit_test(test_errors_name_key),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
