#include "testutil.h"
#include "base/err.h"
#include "base/file.h"

#include <string.h>

static void test_seterr_keeps_detail(void **state)
{
    (void)state;
    lisa_clearerr();
    assert_int_equal(lisa_seterr(LISA_EFORMAT, "%s: bad byte %d", "x.png", 7), LISA_EFORMAT);
    assert_string_equal(lisa_errmsg(), "x.png: bad byte 7");
    lisa_clearerr();
    assert_string_equal(lisa_errmsg(), "success");
    assert_string_equal(lisa_strerror(LISA_ENOMEM), "out of memory");
}

// The message that comes with an error code is that error's, never an older
// failure's: lisa_errmsg_for() checks the code the message was recorded with.
static void test_errmsg_for_matches_code(void **state)
{
    (void)state;
    lisa_clearerr();
    assert_string_equal(lisa_errmsg_for(LISA_ENOMEM), "out of memory");
    lisa_seterr(LISA_EFORMAT, "old.png: bad header");
    assert_int_equal(lisa_errcode(), LISA_EFORMAT);
    assert_string_equal(lisa_errmsg_for(LISA_EFORMAT), "old.png: bad header");
    assert_string_equal(lisa_errmsg_for(LISA_ENOMEM), "out of memory"); // not the stale detail
    assert_string_equal(lisa_errmsg_for(0), "success");
    lisa_clearerr();
    assert_int_equal(lisa_errcode(), 0);
    assert_string_equal(lisa_errmsg_for(LISA_EFORMAT), "malformed input");
}

static void test_mul_overflow(void **state)
{
    (void)state;
    size_t r;
    assert_int_equal(lisa_mul(3, 5, &r), 0);
    assert_int_equal(r, 15);
    assert_int_equal(lisa_mul((size_t)1 << 40, (size_t)1 << 40, &r), LISA_ETOOBIG);
}

static void test_file_roundtrip_and_caps(void **state)
{
    (void)state;
    const char *p = tu_tmp("f.bin");
    assert_int_equal(lisa_write_file_atomic(p, "hello", 5), 0);
    char *buf;
    size_t n;
    assert_int_equal(lisa_read_file(p, 100, &buf, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    assert_int_equal(lisa_read_file(p, 4, &buf, &n), LISA_ETOOBIG);
    assert_non_null(strstr(lisa_errmsg(), "f.bin"));
    lisa_map m;
    assert_int_equal(lisa_map_file(p, 100, &m), 0);
    assert_memory_equal(m.data, "hello", 5);
    lisa_unmap(&m);
    assert_int_equal(lisa_map_file(tu_tmp("missing"), 100, &m), LISA_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seterr_keeps_detail),
        cmocka_unit_test(test_errmsg_for_matches_code),
        cmocka_unit_test(test_mul_overflow),
        cmocka_unit_test(test_file_roundtrip_and_caps),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
