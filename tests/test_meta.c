// Metadata: EXIF, IPTC and XMP read from fixtures that exiftool wrote
// (tests/setup/meta.sh -> build/meta/), the words they give the keyword
// index, and corrupt metadata that must never crash the reader.
#include "testutil.h"
#include "base/err.h"
#include "image/exiv2_shim.h"
#include "image/meta.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>

// BUILD/meta/, found from this binary's path (BUILD/tests/test_meta), so the
// suite reads the fixtures of the build it belongs to (build/, build/debug/).
static char fixdir[512] = "build/meta";

static const char *fx(const char *name)
{
    static char buf[4][640];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", fixdir, name);
    return b;
}

static void read_ok(const char *name, meta_info *m)
{
    if (meta_read(name, m)) fail_msg("meta_read(%s): %s", name, lisa_errmsg());
}

static void expect_words(const meta_info *m, const char *want)
{
    char *w = NULL;
    assert_int_equal(meta_words(m, &w), 0);
    if (strcmp(w, want)) fail_msg("meta_words = \"%s\"\n want \"%s\"", w, want);
    free(w);
}

static void test_full(void **state)
{
    (void)state;
    meta_info m;
    read_ok(fx("full.jpg"), &m);
    assert_string_equal(m.date_taken, "2019-07-04T18:30:00");
    assert_int_equal(m.date_unix, 1562265000); // python3 calendar.timegm
    assert_string_equal(m.make, "Canon");
    assert_string_equal(m.model, "Canon EOS 5D Mark IV");
    assert_int_equal(m.orientation, 6);
    assert_true(m.has_gps);
    assert_true(fabs(m.lat + 33.8568) < 1e-4 && fabs(m.lon - 151.2153) < 1e-4);
    assert_true(fabs(m.alt - 12) < 1e-6);
    assert_string_equal(m.title, "Sunset over the harbour"); // XMP wins over IPTC
    assert_string_equal(m.headline, "Evening at Bondi");
    assert_string_equal(m.description, "Waves and a red sky");
    static const char *kw[] = {"beach",   "Sunset", "Café",      "東京",
                               "holiday", "Places", "Australia", "Sydney"}; // XMP "Beach" is a duplicate
    assert_int_equal(m.n_keywords, 8);
    for (int i = 0; i < 8; i++) assert_string_equal(m.keywords[i], kw[i]);
    char dw[64];
    assert_int_equal(meta_date_words(&m, dw, sizeof dw), (int)strlen("2019 july winter"));
    assert_string_equal(dw, "2019 july winter"); // July in Sydney
    expect_words(&m, "Canon EOS 5D Mark IV 2019 july winter beach Sunset Café 東京 holiday "
                     "Places Australia Sydney Sunset over the harbour Evening at Bondi "
                     "Waves and a red sky");
    meta_clear(&m);
    meta_clear(&m); // twice is fine
    assert_null(m.keywords);
    assert_true(m.date_unix == META_NO_DATE);
}

static void test_xmp_iptc_only(void **state)
{
    (void)state;
    meta_info m;
    read_ok(fx("xmp.jpg"), &m);
    assert_string_equal(m.date_taken, "2021-12-25T08:00:00");
    assert_int_equal(m.date_unix, 1640419200);
    assert_int_equal(m.n_keywords, 1);
    assert_string_equal(m.keywords[0], "snow");
    assert_false(m.has_gps);
    expect_words(&m, "2021 december winter snow Winter morning");
    meta_clear(&m);

    read_ok(fx("iptc.jpg"), &m);
    assert_string_equal(m.date_taken, "2020-03-15T10:11:12");
    assert_int_equal(m.date_unix, 1584267072);
    assert_int_equal(m.n_keywords, 1); // "Garden" folds onto "garden"
    assert_string_equal(m.description, "Spring flowers");
    assert_null(m.title);
    expect_words(&m, "2020 march spring garden Spring flowers");
    meta_clear(&m);
}

static void test_camera_bad_date_none(void **state)
{
    (void)state;
    meta_info m;
    read_ok(fx("camera.jpg"), &m);
    assert_string_equal(m.make, "NIKON CORPORATION");
    assert_string_equal(m.model, "NIKON D750");
    assert_string_equal(m.date_taken, ""); // month 13 is refused
    assert_true(m.date_unix == META_NO_DATE);
    char dw[8] = "x";
    assert_int_equal(meta_date_words(&m, dw, sizeof dw), 0);
    assert_string_equal(dw, "");
    expect_words(&m, "NIKON D750");
    meta_clear(&m);

    read_ok(fx("none.jpg"), &m);
    assert_string_equal(m.date_taken, "");
    assert_string_equal(m.make, "");
    assert_int_equal(m.orientation, 0);
    assert_int_equal(m.n_keywords, 0);
    expect_words(&m, "");
    meta_clear(&m);

    assert_int_equal(meta_read(fx("text.jpg"), &m), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "text.jpg"));
    meta_clear(&m);
    assert_int_equal(meta_read(fx("no-such-file.jpg"), &m), LISA_ENOTFOUND);
    meta_clear(&m);
    assert_int_equal(meta_read("tests/data/images", &m), LISA_EIO);
    meta_clear(&m);
}

// Other formats go through the same reader; the PNG fixture has none.
static void test_other_formats(void **state)
{
    (void)state;
    meta_info m;
    read_ok("tests/data/images/gray.png", &m);
    assert_string_equal(m.date_taken, "");
    meta_clear(&m);
}

// ---------------------------------------------------------------- fuzz

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

// Random byte damage inside the metadata segments (the first 4 KiB, where
// APP1 EXIF/XMP and APP13 IPTC sit) and truncations: the reader returns 0 or
// an error, and whatever it returns is a valid, clearable struct.
static void test_corrupt_never_crashes(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = tu_read(fx("full.jpg"), &n), *buf = malloc(n);
    assert_non_null(buf);
    size_t hot = n < 4096 ? n : 4096;
    int ok = 0, bad = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int flips = 1 + (int)(rnd() % 16);
        for (int f = 0; f < flips; f++) buf[2 + rnd() % (hot - 2)] = (uint8_t)rnd();
        if (it % 4 == 3) len = 2 + rnd() % hot; // truncated inside the metadata
        tu_write(tu_tmp("fuzz.jpg"), buf, len);
        meta_info m;
        int rc = meta_read(tu_tmp("fuzz.jpg"), &m);
        assert_true(rc == 0 || rc == LISA_EFORMAT);
        rc == 0 ? ok++ : bad++;
        assert_true(m.n_keywords >= 0 && m.n_keywords <= META_KEYWORDS_MAX);
        assert_true(strlen(m.date_taken) == 0 || strlen(m.date_taken) == 19);
        char *w = NULL;
        assert_int_equal(meta_words(&m, &w), 0);
        free(w);
        meta_clear(&m);
    }
    printf("corrupt metadata: %d read, %d refused\n", ok, bad);
    free(buf);
    free(orig);
}

// ---------------------------------------------------------------- threads

static void *reader(void *arg)
{
    long *bad = arg;
    for (int i = 0; i < 25; i++) {
        meta_info m;
        if (meta_read(fx("full.jpg"), &m) || m.n_keywords != 8) ++*bad;
        meta_clear(&m);
    }
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    pthread_t t[4];
    long bad[4] = {0};
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, reader, &bad[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(bad[i], 0);
}

// Exceptions stop at the C++ border: Exiv2 0.27 throws std::overflow_error
// on a WebP whose RIFF size is 0xFFFFFFFF, which gexiv2 does not catch (it
// aborts the process); the shim turns it into an error. And the shim's own
// catch path, forced, for a file read.
static void test_exceptions_stop_at_border(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = tu_read(tu_data("images/lossy.webp"), &n);
    meta_info m, a;
    assert_int_equal(meta_read_buf(d, n, &m), 0);
    meta_clear(&m);
    d[4] = d[5] = d[6] = d[7] = 0xff;
    assert_int_equal(meta_read_buf(d, n, &m), LISA_EFORMAT);
    assert_string_equal(lisa_errmsg(), "(buffer): metadata: Exiv2: Overflow in addition");
    meta_clear(&m);
    free(d);
    x2_test_throw_next(1);
    assert_int_equal(meta_read(fx("full.jpg"), &m), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "Exiv2: test exception at the C++ border"));
    meta_clear(&m);
    read_ok(fx("full.jpg"), &m); // the next read is whole again
    assert_true(m.n_keywords > 0);
    // the buffer reader gives what the file reader gives
    d = tu_read(fx("full.jpg"), &n);
    assert_int_equal(meta_read_buf(d, n, &a), 0);
    assert_string_equal(a.date_taken, m.date_taken);
    assert_string_equal(a.make, m.make);
    assert_int_equal(a.n_keywords, m.n_keywords);
    meta_clear(&a), meta_clear(&m);
    free(d);
}

int main(int argc, char **argv)
{
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (slash) snprintf(fixdir, sizeof fixdir, "%.*s/../meta", (int)(slash - argv[0]), argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_xmp_iptc_only),
        cmocka_unit_test(test_camera_bad_date_none),
        cmocka_unit_test(test_other_formats),
        cmocka_unit_test(test_corrupt_never_crashes),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_exceptions_stop_at_border),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
