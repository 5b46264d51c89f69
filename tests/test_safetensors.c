// safetensors: valid files, F16/BF16 conversion, and every validation path
// with hand-built hostile headers.
#include "testutil.h"
#include "base/half.h"
#include "base/err.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdio.h>

static uint8_t buf[1 << 16];

// "u64 len | json | data" into buf; returns the total size. data_len zero bytes
// follow unless fill is given.
static size_t make(const char *json, size_t data_len, const void *fill)
{
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    if (fill)
        memcpy(buf + 8 + n, fill, data_len);
    else
        memset(buf + 8 + n, 0, data_len);
    return 8 + n + data_len;
}

static int parse(const char *json, size_t data_len, st_file **f)
{
    lisa_clearerr();
    return st_parse(buf, make(json, data_len, NULL), "m.safetensors", f);
}

static void expect_fail(const char *json, size_t data_len, int code, const char *needle)
{
    st_file *f = (st_file *)1;
    int rc = parse(json, data_len, &f);
    if (rc != code || !strstr(lisa_errmsg(), needle))
        fail_msg("%s -> %d (%s), want %d containing '%s'", json, rc, lisa_errmsg(), code, needle);
    assert_null(f);
}

static void test_valid_file(void **state)
{
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"pos\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[24,40]},"
                       "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
                       "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[44,44]}}  ";
    uint8_t data[44] = {0};
    memcpy(data, w, 24);
    float one = 1.5f;
    memcpy(data + 40, &one, 4);
    st_file *f;
    // header of 4-aligned length keeps the F32 data aligned: returned in place
    size_t jl = strlen(json);
    assert_int_equal(jl % 4, 0);
    assert_int_equal(st_parse(buf, make(json, 44, data), "m.safetensors", &f), 0);
    assert_int_equal(f->n, 4);
    const float *p;
    int64_t sh[2] = {2, 3};
    assert_int_equal(st_get_f32(f, "b", 2, sh, &p), 0);
    assert_ptr_equal(p, buf + 8 + jl); // mmapped data, not a copy
    assert_true(p[5] == 6);
    assert_int_equal(st_get_f32(f, "s", 0, NULL, &p), 0);
    assert_true(*p == 1.5f);
    const st_tensor *t = st_find(f, "pos");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_I64);
    assert_int_equal(st_get_f32(f, "pos", 2, (int64_t[]){1, 2}, &p), LISA_EUNSUPPORTED);
    assert_non_null(strstr(lisa_errmsg(), "I64"));
    assert_null(st_find(f, "__metadata__"));
    st_close(f);
    st_close(NULL);
}

static void test_shape_and_missing_errors(void **state)
{
    (void)state;
    st_file *f;
    assert_int_equal(parse("{\"text_model.encoder.layers.3.mlp.fc1.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                           "\"data_offsets\":[0,24]}}",
                           24, &f),
                     0);
    const float *p;
    assert_int_equal(st_get_f32(f, "text_model.encoder.layers.3.mlp.fc1.weight", 2, (int64_t[]){2, 2}, &p),
                     LISA_EFORMAT);
    assert_string_equal(lisa_errmsg(),
                        "m.safetensors: text_model.encoder.layers.3.mlp.fc1.weight: expected [2, 2], found [3, 2]");
    assert_int_equal(st_get_f32(f, "text_model.encoder.layers.3.mlp.fc1.weight", 1, (int64_t[]){6}, &p), LISA_EFORMAT);
    assert_int_equal(st_get_f32(f, "nope", 1, (int64_t[]){6}, &p), LISA_ENOTFOUND);
    assert_string_equal(lisa_errmsg(), "m.safetensors: tensor nope is missing");
    st_close(f);
}

static void test_f16_bf16_conversion(void **state)
{
    (void)state;
    // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 0x0001 = 2^-24
    // BF16: 1.0 = 0x3F80, -0.5 = 0xBF00, 3.140625 = 0x4049
    uint16_t h[4] = {0x3C00, 0xC000, 0x7BFF, 0x0001}, b[3] = {0x3F80, 0xBF00, 0x4049};
    uint8_t data[14];
    memcpy(data, h, 8);
    memcpy(data + 8, b, 6);
    st_file *f;
    const char *json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
    assert_int_equal(st_parse(buf, make(json, 14, data), "x", &f), 0);
    const float *p, *q;
    assert_int_equal(st_get_f32(f, "h", 1, (int64_t[]){4}, &p), 0);
    assert_true(p[0] == 1 && p[1] == -2 && p[2] == 65504 && p[3] == ldexpf(1, -24));
    assert_int_equal(st_get_f32(f, "h", 1, (int64_t[]){4}, &q), 0);
    assert_ptr_equal(p, q); // converted once
    assert_int_equal(st_get_f32(f, "b", 1, (int64_t[]){3}, &p), 0);
    assert_true(p[0] == 1 && p[1] == -0.5f && p[2] == 3.140625f);
    assert_true(isinf(half_to_f32(0x7C00)) && isnan(half_to_f32(0x7E00)) && half_to_f32(0x8000) == 0);
    st_close(f);
}

static void test_misaligned_f32_is_copied(void **state)
{
    (void)state;
    const char *json = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
    uint8_t data[9] = {0};
    float w[2] = {7, -8};
    memcpy(data + 1, w, 8);
    st_file *f;
    size_t n = make(json, 9, data);
    assert_int_equal(st_parse(buf, n, "x", &f), 0);
    const float *p;
    assert_int_equal(st_get_f32(f, "w", 1, (int64_t[]){2}, &p), 0);
    assert_true(((uintptr_t)p & 3) == 0 && p[0] == 7 && p[1] == -8);
    st_close(f);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    st_file *f;
    assert_int_equal(st_parse(buf, 5, "x", &f), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "too short"));
    make("{}", 0, NULL);
    buf[0] = 0xff, buf[1] = 0xff, buf[2] = 0xff, buf[3] = 0xff; // 4 GiB header
    assert_int_equal(st_parse(buf, 10, "x", &f), LISA_ETOOBIG);
    for (int i = 0; i < 8; i++) buf[i] = 0xff; // u64 max: must not wrap
    assert_int_equal(st_parse(buf, 10, "x", &f), LISA_ETOOBIG);
    make("{}", 0, NULL);
    buf[0] = 100; // longer than the file
    assert_int_equal(st_parse(buf, 10, "x", &f), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "does not fit"));
    assert_null(f);
    assert_int_equal(parse("{}", 0, &f), 0); // empty model is well-formed
    assert_int_equal(f->n, 0);
    st_close(f);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_fail("{\"a\":", 0, LISA_EFORMAT, "not valid JSON");
    expect_fail("[1,2]", 0, LISA_EFORMAT, "not a JSON object");
    expect_fail("{} x", 0, LISA_EFORMAT, "trailing");
    expect_fail("{\"a\":3}", 0, LISA_EFORMAT, "a: entry is not an object");
    expect_fail("{\"__metadata__\":[]}", 0, LISA_EFORMAT, "__metadata__");
}

static void test_bad_entries(void **state)
{
    (void)state;
    expect_fail("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT, "w: missing dtype");
    expect_fail("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LISA_EUNSUPPORTED,
                "unknown dtype \"Q4\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT,
                "shape is not an array");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT,
                "shape[0] is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT, "shape[0]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT, "shape[0]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                LISA_EUNSUPPORTED, "9 dimensions");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                LISA_ETOOBIG, "element count overflows");
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT,
                "shape[0]"); // over 2^53: not exact in JSON
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[9007199254740992,1024],\"data_offsets\":[0,4]}}", 4, LISA_ETOOBIG,
                "byte size overflows");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, LISA_EFORMAT, "data_offsets must be");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, LISA_EFORMAT,
                "data_offsets must be");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4, LISA_EFORMAT,
                "data_offsets must be");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, LISA_EFORMAT, "begin 4 > end 0");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, LISA_EFORMAT,
                "past the data section");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, LISA_EFORMAT,
                "8 bytes expected from dtype and shape, data_offsets span 4");
}

static void test_overlap_and_duplicates(void **state)
{
    (void)state;
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, LISA_EFORMAT, "overlap");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, LISA_EFORMAT, "a appears twice");
    st_file *f; // empty tensors sharing an offset with a real one are fine
    assert_int_equal(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                           8, &f),
                     0);
    st_close(f);
}

static void test_open_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s", tu_tmp("t.safetensors")); // tu_tmp's buffer is reused
    size_t n = make("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL);
    tu_write(path, buf, n);
    st_file *f;
    assert_int_equal(st_open(path, &f), 0);
    assert_non_null(st_find(f, "w"));
    st_close(f);
    assert_int_equal(st_open(tu_tmp("none.safetensors"), &f), LISA_ENOTFOUND);
    tu_write(path, "{}", 2);
    assert_int_equal(st_open(path, &f), LISA_EFORMAT);
    if (!strstr(lisa_errmsg(), "t.safetensors")) fail_msg("%s", lisa_errmsg());
}

// NaN or Inf weights are refused on first use, in every dtype, naming the
// tensor and element; the fast exponent test agrees with isfinite().
static void test_nonfinite(void **state)
{
    (void)state;
    static const char *const dt[] = {"F32", "F16", "BF16"};
    const uint32_t f32_bad[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f800001u};
    const uint16_t f16_bad[] = {0x7e00, 0x7c00, 0xfc00}, bf16_bad[] = {0x7fc0, 0x7f80, 0xff80};
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 3; b++)
            for (int at = 0; at < 5000; at += 4999) { // in the first and in a later 4096-element block
                size_t es = d == 0 ? 4 : 2, n = 5000;
                uint8_t *data = calloc(n, es);
                for (size_t i = 0; i < n; i++) { // finite values, the largest and smallest too
                    float v = i % 3 ? 65504.0f : -1.0f / (float)(i + 1);
                    if (d == 0) memcpy(data + 4 * i, &v, 4);
                    if (d == 1) data[2 * i + 1] = i % 3 ? 0x7b : 0x3c;
                    if (d == 2) data[2 * i + 1] = i % 3 ? 0x7f : 0x3f, data[2 * i] = i % 3 ? 0x7f : 0;
                }
                if (d == 0) memcpy(data + 4 * at, &f32_bad[b], 4);
                if (d == 1) memcpy(data + 2 * at, &f16_bad[b], 2);
                if (d == 2) memcpy(data + 2 * at, &bf16_bad[b], 2);
                char json[200];
                snprintf(json, sizeof json, "{\"w\":{\"dtype\":\"%s\",\"shape\":[5000],\"data_offsets\":[0,%zu]}}",
                         dt[d], n * es);
                while (strlen(json) % 8) strcat(json, " ");
                st_file *f;
                assert_int_equal(st_parse(buf, make(json, n * es, data), "m.safetensors", &f), 0);
                const float *p = (const float *)1;
                int64_t shape[1] = {5000};
                assert_int_equal(st_get_f32(f, "w", 1, shape, &p), LISA_EFORMAT);
                assert_null(p);
                char want[120];
                snprintf(want, sizeof want, "m.safetensors: w: element %d is %s", at, b == 0 ? "NaN" : "Inf");
                if (!strstr(lisa_errmsg(), want)) fail_msg("%s %d: %s", dt[d], b, lisa_errmsg());
                st_close(f);
                // the same data made finite passes, and the reference agrees
                if (d == 0) memcpy(data + 4 * at, &(float){0.5f}, 4);
                if (d > 0) data[2 * at + 1] = 0x3c, data[2 * at] = 0;
                assert_int_equal(st_parse(buf, make(json, n * es, data), "m.safetensors", &f), 0);
                assert_int_equal(st_get_f32(f, "w", 1, shape, &p), 0);
                for (size_t i = 0; i < n; i++) assert_true(isfinite(p[i]));
                st_close(f);
                free(data);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file),          cmocka_unit_test(test_shape_and_missing_errors),
        cmocka_unit_test(test_f16_bf16_conversion), cmocka_unit_test(test_misaligned_f32_is_copied),
        cmocka_unit_test(test_bad_lengths),         cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),         cmocka_unit_test(test_overlap_and_duplicates),
        cmocka_unit_test(test_open_file),           cmocka_unit_test(test_nonfinite),
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
