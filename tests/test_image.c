// Image decoding, orientation, PIL-exact resize and CLIP preprocessing against
// goldens made by PIL + numpy (tools/image/make_fixtures.py).
#include "testutil.h"
#include "base/err.h"
#include "image/image.h"
#include "image/preprocess.h"

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <zlib.h>

static cJSON *manifest;

static int setup(void **state)
{
    (void)state;
    size_t n;
    char *text = (char *)tu_read(tu_data("golden/manifest.json"), &n);
    manifest = cJSON_Parse(text);
    free(text);
    return manifest ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(manifest);
    return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItem(o, k)->valuestring;
}
static int jint(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItem(o, k)->valueint;
}

// Reads a zlib-compressed binary PPM golden of known size.
static void read_golden(const char *rel, int w, int h, img_t *im)
{
    size_t n, hdr;
    uint8_t *z = tu_read(tu_data(rel), &n);
    char head[64];
    int hl = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    uLongf len = (uLongf)hl + (uLongf)w * h * 3;
    uint8_t *raw = malloc(len);
    assert_int_equal(uncompress(raw, &len, z, n), Z_OK);
    hdr = (size_t)hl;
    assert_int_equal(len, hdr + (size_t)w * h * 3);
    assert_memory_equal(raw, head, hdr);
    assert_int_equal(img_alloc(im, w, h), 0);
    memcpy(im->px, raw + hdr, (size_t)w * h * 3);
    free(raw);
    free(z);
}

// Largest per-byte difference; *exact gets the count of equal bytes.
static int max_diff(const img_t *a, const img_t *b, size_t *exact)
{
    int m = 0;
    size_t n = (size_t)a->w * a->h * 3, eq = 0;
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    for (size_t i = 0; i < n; i++) {
        int d = abs(a->px[i] - b->px[i]);
        eq += d == 0;
        if (d > m) m = d;
    }
    if (exact) *exact = eq;
    return m;
}

static void load(const char *file, img_t *im, int *orient)
{
    char path[512];
    snprintf(path, sizeof path, "tests/data/images/%s", file);
    if (img_load(path, NULL, im, orient) < 0) fail_msg("%s", lisa_errmsg());
}

// ---------------------------------------------------------------- decoding

// Decodes entry e of a manifest list and, when it has a decode golden (all
// "bmp" entries do), requires it identical to PIL's. Returns 1 when compared.
static int check_decode(const cJSON *e, int orient_want)
{
    img_t im, gold;
    int orient, compared = 0;
    size_t exact;
    char rel[256];
    load(jstr(e, "file"), &im, &orient);
    assert_int_equal(im.w, jint(e, "w"));
    assert_int_equal(im.h, jint(e, "h"));
    assert_int_equal(orient, orient_want < 0 ? jint(e, "orientation") : orient_want);
    if (orient_want >= 0 || cJSON_IsTrue(cJSON_GetObjectItem(e, "decode"))) {
        snprintf(rel, sizeof rel, "golden/decode/%s.ppm.z", jstr(e, "stem"));
        read_golden(rel, im.w, im.h, &gold);
        int d = max_diff(&im, &gold, &exact);
        if (d != 0) fail_msg("%s: max diff %d vs PIL (%zu bytes equal)", jstr(e, "file"), d, exact);
        img_release(&gold);
        compared = 1;
    }
    img_release(&im);
    return compared;
}

static void test_decode_matches_pil(void **state)
{
    (void)state;
    const cJSON *e;
    int count = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "images")) count += check_decode(e, -1);
    assert_true(count >= 25);
}

static double psnr(const img_t *a, const img_t *b)
{
    double se = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) se += (a->px[i] - b->px[i]) * (double)(a->px[i] - b->px[i]);
    return 10 * log10(255.0 * 255.0 / (se / n + 1e-12));
}

static void test_heif_close_to_source(void **state)
{
    (void)state;
    img_t heic, src;
    load("photo.heic", &heic, NULL);
    load("heic_source.png", &src, NULL);
    assert_int_equal(heic.w, src.w);
    assert_int_equal(heic.h, src.h);
    double p = psnr(&heic, &src); // x265 at q90 on a tiny noisy picture: ~24 dB
    if (p < 20) fail_msg("HEIC PSNR %.1f dB against its source", p);
    img_t magick;
    size_t exact;
    read_golden("golden/heic_magick.ppm.z", heic.w, heic.h, &magick);
    // ImageMagick converts libheif's YCbCr planes itself: close, not equal.
    int d = max_diff(&heic, &magick, &exact);
    double pm = psnr(&heic, &magick);
    print_message("HEIC: %.1f dB vs source, %.1f dB vs ImageMagick (max diff %d)\n", p, pm, d);
    if (pm < 35) fail_msg("HEIC is %.1f dB from ImageMagick's decode", pm);
    img_release(&magick);
    img_release(&heic);
    img_release(&src);
}

static void test_hostile_inputs_fail_cleanly(void **state)
{
    (void)state;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "bad"))
    {
        char path[512];
        img_t im;
        snprintf(path, sizeof path, "tests/data/images/bad/%s", e->valuestring);
        int rc = img_load(path, NULL, &im, NULL);
        if (rc >= 0) fail_msg("%s decoded; expected an error", e->valuestring);
        assert_null(im.px);
        assert_non_null(strstr(lisa_errmsg(), e->valuestring)); // the message names the file
        if (strstr(e->valuestring, "bomb")) {
            if (rc != LISA_ETOOBIG) fail_msg("%s: %s", e->valuestring, lisa_errmsg());
            assert_non_null(strstr(lisa_errmsg(), "limit"));
        }
    }
}

static void test_pixel_cap_is_configurable(void **state)
{
    (void)state;
    img_opts o;
    img_t im;
    img_opts_init(&o);
    o.max_pixels = 640 * 427 - 1;
    assert_int_equal(img_load("tests/data/images/land.jpg", &o, &im, NULL), LISA_ETOOBIG);
    o.max_pixels = 640 * 427;
    assert_int_equal(img_load("tests/data/images/land.jpg", &o, &im, NULL), 0);
    img_release(&im);
}

static void test_sniff_ignores_extension(void **state)
{
    (void)state;
    size_t n;
    uint8_t *jpg = tu_read("tests/data/images/land.jpg", &n);
    tu_write(tu_tmp("really_a_jpeg.png"), jpg, n);
    assert_int_equal(img_sniff(jpg, n), IMG_JPEG);
    img_t im;
    assert_int_equal(img_load(tu_tmp("really_a_jpeg.png"), NULL, &im, NULL), 0);
    assert_int_equal(im.w, 640);
    img_release(&im);
    free(jpg);
    assert_int_equal(img_sniff((const uint8_t *)"RIFF\0\0\0\0WAVE", 12), IMG_UNKNOWN);
    assert_int_equal(img_sniff((const uint8_t *)"\0\0\0\x18"
                                                "ftypheic",
                               12),
                     IMG_HEIF);
    assert_int_equal(img_decode((const uint8_t *)"hello", 5, NULL, &im), LISA_EUNSUPPORTED);
}

static void test_dct_scaled_decode(void **state)
{
    (void)state;
    img_opts o;
    img_t small, full, ref;
    img_opts_init(&o);
    o.min_side = 100; // 427 / 4 = 106.75 >= 100, 427 / 8 < 100
    assert_int_equal(img_load("tests/data/images/land.jpg", &o, &small, NULL), 0);
    assert_int_equal(small.w, 160);
    assert_int_equal(small.h, 107);
    o.min_side = 0;
    assert_int_equal(img_load("tests/data/images/land.jpg", &o, &full, NULL), 0);
    assert_int_equal(img_resize_bicubic(&full, 160, 107, &ref), 0);
    size_t n = (size_t)160 * 107 * 3;
    double mad = 0;
    for (size_t i = 0; i < n; i++) mad += abs(small.px[i] - ref.px[i]);
    if (mad / n > 4) fail_msg("DCT-scaled decode differs by %.2f on average", mad / n);
    o.min_side = 0, o.min_long = 300; // 640 / 2 = 320 >= 300
    img_release(&small);
    assert_int_equal(img_load("tests/data/images/land.jpg", &o, &small, NULL), 0);
    assert_int_equal(small.w, 320);
    img_release(&small);
    img_release(&full);
    img_release(&ref);
}

// ---------------------------------------------------------------- BMP

static void test_bmp_matches_pil(void **state)
{
    (void)state;
    const cJSON *e;
    int count = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "bmp")) count += check_decode(e, 1);
    assert_int_equal(count, 13); // 1/4/8-bit palettes, gray, 16/24/32-bit, BITFIELDS, top-down
}

// Each hostile or unsupported BMP gets its own code and a message that names
// the file and the reason.
static void test_bmp_errors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int rc;
        const char *why;
    } cases[] = {
        {"truncated.bmp", LISA_EFORMAT, "pixel data truncated"},
        {"bomb.bmp", LISA_ETOOBIG, "30000x30000 is over the 100000000-pixel limit"}, // checked before the data
        {"offset_past_end.bmp", LISA_EFORMAT, "offset 2147483632 is past the end"},
        {"zero_width.bmp", LISA_EFORMAT, "width 0"},
        {"garbage.bmp", LISA_EFORMAT, "info header size"},
        {"magic_only.bmp", LISA_EFORMAT, "file header truncated (2 bytes)"},
        {"rle8.bmp", LISA_EUNSUPPORTED, "RLE8 compression not supported"},
        {"os2.bmp", LISA_EUNSUPPORTED, "OS/2 1.x header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        img_t im;
        snprintf(path, sizeof path, "tests/data/images/bad/%s", cases[i].file);
        int rc = img_load(path, NULL, &im, NULL);
        if (rc != cases[i].rc) fail_msg("%s: rc %d (%s)", cases[i].file, rc, lisa_errmsg());
        assert_null(im.px);
        if (!strstr(lisa_errmsg(), path) || !strstr(lisa_errmsg(), "BMP: ") || !strstr(lisa_errmsg(), cases[i].why))
            fail_msg("%s: message '%s'", cases[i].file, lisa_errmsg());
    }
}

static void test_bmp_cap_and_prefixes(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = tu_read("tests/data/images/bmp/rgb24.bmp", &n); // 45 x 31, rows of 135 + 1 padding bytes
    img_opts o;
    img_t im, full;
    img_opts_init(&o);
    o.max_pixels = 45 * 31 - 1;
    assert_int_equal(img_decode(d, n, &o, &im), LISA_ETOOBIG);
    o.max_pixels = 45 * 31;
    assert_int_equal(img_decode(d, n, &o, &full), 0);
    // Every prefix short of the last row fails cleanly. PIL reads a file whose
    // last row lacks its padding byte, and so do we.
    for (size_t k = 0; k < n - 1; k++) {
        int rc = img_decode(d, k, NULL, &im);
        if (rc >= 0) fail_msg("%zu-byte prefix decoded", k);
        assert_null(im.px);
    }
    assert_int_equal(img_decode(d, n - 1, NULL, &im), 0);
    assert_int_equal(max_diff(&im, &full, NULL), 0);
    img_release(&im), img_release(&full);
    free(d);
}

// Every header byte of a palette BMP set to a few values: each result is an
// image within the cap or an error, never a crash (ASan builds check reads).
static void test_bmp_header_mutations(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = tu_read("tests/data/images/bmp/pal4.bmp", &n);
    static const uint8_t vals[] = {0x00, 0x01, 0x0C, 0x28, 0x7F, 0x80, 0xFF};
    img_opts o;
    int ok = 0, bad = 0;
    img_opts_init(&o);
    o.max_pixels = 1 << 20;
    for (size_t i = 0; i < 14 + 40 + 12 * 4 && i < n; i++) {
        uint8_t keep = d[i];
        for (size_t v = 0; v < sizeof vals; v++) {
            img_t im;
            d[i] = vals[v];
            int rc = img_decode(d, n, &o, &im);
            if (rc == 0) {
                assert_true((long long)im.w * im.h <= o.max_pixels);
                ok++;
            } else {
                assert_null(im.px);
                assert_true(strlen(lisa_errmsg()) > 0);
                bad++;
            }
            img_release(&im);
        }
        d[i] = keep;
    }
    print_message("BMP header mutations: %d decoded, %d refused\n", ok, bad);
    assert_true(ok > 0 && bad > 0);
    free(d);
}

// ---------------------------------------------------------------- orientation

static void test_orient_transforms(void **state)
{
    (void)state;
    // 3x2 image with distinct pixels; check where pixel (x=2, y=0) ends up.
    static const int want[9][2] = {{0, 0}, {2, 0}, {0, 0}, {0, 1}, {2, 1}, {0, 2}, {1, 2}, {1, 0}, {0, 0}};
    static const int dims[9][2] = {{0, 0}, {3, 2}, {3, 2}, {3, 2}, {3, 2}, {2, 3}, {2, 3}, {2, 3}, {2, 3}};
    for (int o = 1; o <= 8; o++) {
        img_t im;
        assert_int_equal(img_alloc(&im, 3, 2), 0);
        for (int i = 0; i < 18; i++) im.px[i] = (uint8_t)i;
        assert_int_equal(img_orient(&im, o), 0);
        assert_int_equal(im.w, dims[o][0]);
        assert_int_equal(im.h, dims[o][1]);
        const uint8_t *p = im.px + ((size_t)want[o][1] * im.w + want[o][0]) * 3;
        if (p[0] != 6) fail_msg("orientation %d: pixel (2,0) not at (%d,%d)", o, want[o][0], want[o][1]);
        img_release(&im);
    }
    assert_int_equal(img_exif_orientation((const uint8_t *)"junk", 4), 1);
}

// ---------------------------------------------------------------- resize and preprocessing

static void test_resize_matches_pil(void **state)
{
    (void)state;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "resize"))
    {
        img_t im, out, gold;
        char rel[256];
        size_t exact;
        load(jstr(e, "file"), &im, NULL);
        assert_int_equal(img_resize_bicubic(&im, jint(e, "w"), jint(e, "h"), &out), 0);
        snprintf(rel, sizeof rel, "golden/resize/%s", jstr(e, "golden"));
        read_golden(rel, out.w, out.h, &gold);
        int d = max_diff(&out, &gold, &exact);
        if (d > 1) fail_msg("%s -> %dx%d: max diff %d", jstr(e, "file"), out.w, out.h, d);
        if (exact != (size_t)out.w * out.h * 3)
            print_message("%s: %zu of %d bytes differ by 1\n", rel, (size_t)out.w * out.h * 3 - exact,
                          out.w * out.h * 3);
        img_release(&im), img_release(&out), img_release(&gold);
    }
}

static void test_prep224_matches_hf(void **state)
{
    (void)state;
    const cJSON *e;
    prep_cfg c;
    size_t total = 0, equal = 0;
    prep_cfg_default(&c);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "images"))
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "prep224"))) continue;
        img_t im, px, gold;
        char rel[256];
        size_t exact;
        load(jstr(e, "file"), &im, NULL);
        assert_int_equal(prep_pixels(&im, &c, &px), 0);
        snprintf(rel, sizeof rel, "golden/prep224/%s.ppm.z", jstr(e, "stem"));
        read_golden(rel, 224, 224, &gold);
        int d = max_diff(&px, &gold, &exact);
        if (d > 1) fail_msg("%s: max diff %d", jstr(e, "file"), d);
        total += (size_t)224 * 224 * 3, equal += exact;
        img_release(&im), img_release(&px), img_release(&gold);
    }
    print_message("prep224: %zu of %zu bytes identical to PIL\n", equal, total);
    assert_true(total >= 10 * 224 * 224 * 3);
}

static void small_cfg(prep_cfg *c)
{
    const cJSON *s = cJSON_GetObjectItem(manifest, "small");
    prep_cfg_default(c);
    c->shortest_edge = jint(s, "shortest_edge");
    c->crop_h = jint(s, "crop_h");
    c->crop_w = jint(s, "crop_w");
}

static void test_prep_tensor_matches_hf(void **state)
{
    (void)state;
    const cJSON *e;
    prep_cfg c;
    small_cfg(&c);
    size_t n = (size_t)3 * c.crop_h * c.crop_w;
    float *t = malloc(n * sizeof *t);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(manifest, "images"))
    {
        img_t im, px, gold;
        char rel[256];
        size_t exact, gn;
        load(jstr(e, "file"), &im, NULL);
        assert_int_equal(prep_pixels(&im, &c, &px), 0);
        snprintf(rel, sizeof rel, "golden/prep_small/%s.ppm.z", jstr(e, "stem"));
        read_golden(rel, c.crop_w, c.crop_h, &gold);
        int d = max_diff(&px, &gold, &exact);
        if (d != 0) fail_msg("%s: max diff %d", jstr(e, "file"), d); // PIL-exact, so the tensor is too
        assert_int_equal(prep_image(&im, &c, t), 0);
        snprintf(rel, sizeof rel, "tests/data/golden/prep_small/%s.f32", jstr(e, "stem"));
        float *g = (float *)tu_read(rel, &gn);
        assert_int_equal(gn, n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            if (fabs(t[i] - g[i]) > 1e-5) fail_msg("%s[%zu]: %g vs %g", rel, i, t[i], g[i]);
        free(g);
        img_release(&im), img_release(&px), img_release(&gold);
    }
    free(t);
}

static void test_center_crop_pads_like_hf(void **state)
{
    (void)state;
    img_t im, out;
    assert_int_equal(img_alloc(&im, 5, 2), 0);
    memset(im.px, 200, 30);
    assert_int_equal(img_center_crop(&im, 8, 4, &out), 0);
    // HF: pad (8-5) -> left ceil(1.5) = 2, (4-2) -> top 1.
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++) {
            int inside = x >= 2 && x < 7 && y >= 1 && y < 3;
            assert_int_equal(out.px[(y * 8 + x) * 3], inside ? 200 : 0);
        }
    img_release(&out);
    assert_int_equal(img_center_crop(&im, 3, 1, &out), 0); // (5-3)//2 = 1, (2-1)//2 = 0
    assert_int_equal(out.w, 3);
    img_release(&out);
    img_release(&im);
    int w, h;
    prep_resize_dims(640, 427, 224, &w, &h);
    assert_int_equal(w, 335); // int(224 * 640 / 427) = int(335.737...)
    assert_int_equal(h, 224);
}

static void test_prep_cfg_load(void **state)
{
    (void)state;
    prep_cfg c;
    const char *p = tu_tmp("preprocessor_config.json");
    const char *good = "{\"size\": {\"shortest_edge\": 336}, \"crop_size\": {\"height\": 336, "
                       "\"width\": 300}, \"image_mean\": [0.5, 0.5, 0.5], \"rescale_factor\": 0.5,"
                       " \"resample\": 3, \"do_center_crop\": false}";
    tu_write(p, good, strlen(good));
    assert_int_equal(prep_cfg_load(p, &c), 0);
    assert_int_equal(c.shortest_edge, 336);
    assert_int_equal(c.crop_w, 300);
    assert_int_equal(c.do_center_crop, 0);
    assert_true(c.mean[1] == 0.5f && c.rescale == 0.5);
    assert_true(fabsf(c.std[0] - 0.26862954f) < 1e-8f); // default kept
    const char *bad[] = {"{\"size\": {\"shortest_edge\": -1}}",
                         "{\"resample\": 2}",
                         "{\"image_std\": [1, 0, 1]}",
                         "{\"image_mean\": [1, 2]}",
                         "[1,2]",
                         "{"};
    const char *key[] = {"size.shortest_edge", "resample", "image_std", "image_mean", "object", "JSON"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_write(p, bad[i], strlen(bad[i]));
        assert_true(prep_cfg_load(p, &c) < 0);
        if (!strstr(lisa_errmsg(), key[i])) fail_msg("%s: message '%s'", bad[i], lisa_errmsg());
    }
}

static void test_thumbnail(void **state)
{
    (void)state;
    int w, h;
    img_thumb_dims(4000, 3000, 320, &w, &h);
    assert_true(w == 320 && h == 240);
    img_thumb_dims(300, 4000, 320, &w, &h);
    assert_true(w == 24 && h == 320);
    img_thumb_dims(100, 50, 320, &w, &h);
    assert_true(w == 100 && h == 50);
    img_t im, th, back;
    load("orient6.jpg", &im, NULL); // stored 64x40, upright 40x64
    assert_int_equal(img_thumbnail(&im, 32, &th), 0);
    assert_true(th.w == 20 && th.h == 32);
    img_release(&im), img_release(&th);
    load("land.jpg", &im, NULL);
    assert_int_equal(img_thumbnail(&im, 320, &th), 0);
    assert_true(th.w == 320 && th.h == 214); // 427 * 320 / 640 = 213.5, rounded
    assert_int_equal(img_write_jpeg(&th, 85, tu_tmp("t.jpg")), 0);
    assert_int_equal(img_load(tu_tmp("t.jpg"), NULL, &back, NULL), 0);
    assert_true(back.w == 320 && back.h == 214);
    double p = psnr(&th, &back);
    if (p < 25) fail_msg("thumbnail JPEG round trip %.1f dB", p); // lossy, but the same picture
    img_release(&im), img_release(&th), img_release(&back);
}

// ---------------------------------------------------------------- memory bombs

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return 4;
}

static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t n)
{
    size_t o = put32(out, n);
    memcpy(out + o, type, 4);
    if (n) memcpy(out + o + 4, data, n);
    return o + 4 + n + put32(out + o + 4 + n, (uint32_t)crc32(crc32(0, (const uint8_t *)type, 4), data, n));
}

// An RGB PNG of w x h black pixels whose IDAT holds only the first rows
// (rows < h) or all of them: the data a bomb or a real image would carry.
static uint8_t *png_black(int w, int h, int rows, size_t *n)
{
    size_t raw = (size_t)rows * (1 + 3 * (size_t)w);
    uint8_t *px = calloc(raw, 1), ihdr[13];
    uLongf zn = compressBound(raw);
    uint8_t *z = malloc(zn), *out = malloc(zn + 100);
    assert_int_equal(compress2(z, &zn, px, raw, 9), Z_OK);
    put32(ihdr, (uint32_t)w), put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    size_t o = 8 + png_chunk(out + 8, "IHDR", ihdr, 13);
    o += png_chunk(out + o, "IDAT", z, (uint32_t)zn);
    o += png_chunk(out + o, "IEND", NULL, 0);
    free(px), free(z);
    *n = o;
    return out;
}

// Data too small for the stated size is refused before the pixels are
// allocated (PNG: deflate's 1032:1, GIF: LZW's 2731:1); what can hold it decodes.
static void test_implausible_data(void **state)
{
    (void)state;
    img_t im;
    size_t n;
    uint8_t *p = png_black(9000, 9000, 40, &n); // 81 MP stated, 40 rows of data
    assert_int_equal(img_decode(p, n, NULL, &im), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "PNG: "));
    assert_non_null(strstr(lisa_errmsg(), "bytes of image data cannot hold the stated size"));
    assert_null(im.px);
    free(p);
    p = png_black(1500, 1000, 1000, &n); // all rows: fine, though small (deflate of zeros)
    assert_int_equal(img_decode(p, n, NULL, &im), 0);
    assert_int_equal(im.w, 1500);
    img_release(&im);
    free(p);
    // a 35-byte GIF that claims a 10000 x 10000 screen and frame, then a 4000 x 4000 one
    uint8_t g[1200] = "GIF89a";
    g[6] = 0x10, g[7] = 0x27, g[8] = 0x10, g[9] = 0x27, g[10] = 0x80; // 10000 x 10000, 2-color table
    size_t o = 13 + 6;
    g[o++] = 0x2c;
    memset(g + o, 0, 4), o += 4;
    g[o++] = 0x10, g[o++] = 0x27, g[o++] = 0x10, g[o++] = 0x27, g[o++] = 0; // frame 10000 x 10000
    g[o++] = 2, g[o++] = 3, g[o++] = 0x44, g[o++] = 0x01, g[o++] = 0, g[o++] = 0x3b;
    assert_int_equal(img_decode(g, o, NULL, &im), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "GIF: "));
    assert_non_null(strstr(lisa_errmsg(), "cannot hold the stated size"));
    g[6] = g[24] = 0xa0, g[7] = g[25] = 0x0f, g[8] = g[26] = 0xa0, g[9] = g[27] = 0x0f; // 4000 x 4000: frame check
    assert_int_equal(img_decode(g, o, NULL, &im), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "GIF frame: "));
}

typedef struct {
    const uint8_t *d;
    size_t n;
    int rc;
} bomb_job;

static void *decode_job(void *arg)
{
    bomb_job *j = arg;
    img_t im;
    j->rc = img_decode(j->d, j->n, NULL, &im);
    img_release(&im);
    return NULL;
}

// Decodes in 6 threads share the budget: the charge never passes it, and an
// image over the whole budget still decodes (alone).
static void test_decode_budget(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = png_black(1000, 1000, 1000, &n); // charged 8 MB
    const long long cap = 20LL * 1000 * 1000;
    img_budget_set(cap);
    pthread_t t[6];
    bomb_job j[6];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) j[i] = (bomb_job){p, n, -99}, pthread_create(&t[i], NULL, decode_job, &j[i]);
        for (int i = 0; i < 6; i++) pthread_join(t[i], NULL), assert_int_equal(j[i].rc, 0);
    }
    long long peak = img_budget_peak();
    if (peak > cap || peak < 8000000) fail_msg("peak charge %lld, budget %lld", peak, cap);
    img_budget_set(4000000); // smaller than one image
    for (int i = 0; i < 3; i++) j[i] = (bomb_job){p, n, -99}, pthread_create(&t[i], NULL, decode_job, &j[i]);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL), assert_int_equal(j[i].rc, 0);
    assert_int_equal(img_budget_peak(), 8000000); // one at a time
    img_budget_set(0);
    free(p);
}

// img_probe(): what an upload is refused with, one sentence naming the file
// as the user called it; a good photo passes.
static void test_probe(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int rc;
        const char *msg;
    } cases[] = {
        {"port.jpg", 0, NULL},
        {"bad/bomb.jpg", LISA_ETOOBIG, "IMG.jpg is 900 MP; the limit is 100 MP."},
        {"bad/bomb.png", LISA_ETOOBIG, "IMG.jpg is 900 MP; the limit is 100 MP."},
        {"bad/truncated.jpg", LISA_EFORMAT, "IMG.jpg cannot be read (JPEG: truncated file)."},
        {"bad/header_only.jpg", LISA_EFORMAT, "IMG.jpg cannot be read (JPEG: "},
        {"bad/not_an_image.jpg", LISA_EUNSUPPORTED, "IMG.jpg is not a JPEG, PNG, WebP, GIF, HEIF, TIFF or BMP file."},
    };
    char path[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(path, sizeof path, "tests/data/images/%s", cases[i].file);
        int rc = img_probe(path, "IMG.jpg");
        if (rc != cases[i].rc) fail_msg("%s: rc %d (%s), want %d", cases[i].file, rc, lisa_errmsg(), cases[i].rc);
        if (cases[i].msg && strncmp(lisa_errmsg(), cases[i].msg, strlen(cases[i].msg)))
            fail_msg("%s: '%s', want '%s'", cases[i].file, lisa_errmsg(), cases[i].msg);
    }
    snprintf(path, sizeof path, "%s", tu_tmp("empty.jpg"));
    tu_write(path, "", 0);
    assert_int_equal(img_probe(path, NULL), LISA_EFORMAT);
    assert_string_equal(lisa_errmsg(), "empty.jpg is empty.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_matches_pil),
        cmocka_unit_test(test_heif_close_to_source),
        cmocka_unit_test(test_hostile_inputs_fail_cleanly),
        cmocka_unit_test(test_implausible_data),
        cmocka_unit_test(test_decode_budget),
        cmocka_unit_test(test_pixel_cap_is_configurable),
        cmocka_unit_test(test_bmp_matches_pil),
        cmocka_unit_test(test_bmp_errors),
        cmocka_unit_test(test_bmp_cap_and_prefixes),
        cmocka_unit_test(test_bmp_header_mutations),
        cmocka_unit_test(test_sniff_ignores_extension),
        cmocka_unit_test(test_dct_scaled_decode),
        cmocka_unit_test(test_orient_transforms),
        cmocka_unit_test(test_resize_matches_pil),
        cmocka_unit_test(test_prep224_matches_hf),
        cmocka_unit_test(test_prep_tensor_matches_hf),
        cmocka_unit_test(test_center_crop_pads_like_hf),
        cmocka_unit_test(test_prep_cfg_load),
        cmocka_unit_test(test_thumbnail),
        cmocka_unit_test(test_probe),
    };
    return cmocka_run_group_tests_name("image", tests, setup, teardown);
}
