// C++ border for gexiv2/Exiv2 (exiv2_shim.h): try/catch(...) around every call.
#include "image/exiv2_shim.h"

#include <atomic>
#include <exception>
#include <stdexcept>

namespace
{

std::atomic<int> throw_next{0};

void set_err(GError **err, const char *what)
{
    if (err && !*err) g_set_error(err, g_quark_from_static_string("lisa-exiv2"), 1, "Exiv2: %s", what);
}

// Runs f() and returns its result; any exception becomes fail (and a GError).
template <typename T, typename F> T guard(GError **err, T fail, F f)
{
    try {
        if (err && throw_next.exchange(0)) throw std::overflow_error("test exception at the C++ border");
        return f();
    } catch (const std::exception &e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown C++ exception");
    }
    return fail;
}

} // namespace

extern "C" {

void x2_test_throw_next(int on)
{
    throw_next = on;
}

int x2_initialize(void)
{
    return guard(nullptr, 0, [] {
        gexiv2_log_set_level(GEXIV2_LOG_LEVEL_MUTE);
        return gexiv2_initialize() ? 1 : 0;
    });
}

GExiv2Metadata *x2_new(void)
{
    return guard<GExiv2Metadata *>(nullptr, nullptr, [] { return gexiv2_metadata_new(); });
}

void x2_free(GExiv2Metadata *md)
{
    guard(nullptr, 0, [md] {
        if (md) g_object_unref(md);
        return 0;
    });
}

int x2_open_path(GExiv2Metadata *md, const char *path, GError **err)
{
    return guard(err, 0, [=] { return gexiv2_metadata_open_path(md, path, err) ? 1 : 0; });
}

int x2_open_buf(GExiv2Metadata *md, const uint8_t *data, size_t n, GError **err)
{
    return guard(err, 0, [=] { return gexiv2_metadata_open_buf(md, data, (glong)n, err) ? 1 : 0; });
}

int x2_has_tag(GExiv2Metadata *md, const char *tag)
{
    return guard(nullptr, 0, [=] { return gexiv2_metadata_try_has_tag(md, tag, nullptr) ? 1 : 0; });
}

gchar *x2_tag_string(GExiv2Metadata *md, const char *tag, GError **err)
{
    return guard<gchar *>(err, nullptr, [=] { return gexiv2_metadata_try_get_tag_string(md, tag, err); });
}

gchar **x2_tag_multiple(GExiv2Metadata *md, const char *tag, GError **err)
{
    return guard<gchar **>(err, nullptr, [=] { return gexiv2_metadata_try_get_tag_multiple(md, tag, err); });
}

long x2_tag_long(GExiv2Metadata *md, const char *tag, GError **err)
{
    return guard(err, 0L, [=] { return (long)gexiv2_metadata_try_get_tag_long(md, tag, err); });
}

int x2_gps_latitude(GExiv2Metadata *md, double *v, GError **err)
{
    return guard(err, 0, [=] { return gexiv2_metadata_try_get_gps_latitude(md, v, err) ? 1 : 0; });
}

int x2_gps_longitude(GExiv2Metadata *md, double *v, GError **err)
{
    return guard(err, 0, [=] { return gexiv2_metadata_try_get_gps_longitude(md, v, err) ? 1 : 0; });
}

int x2_gps_altitude(GExiv2Metadata *md, double *v, GError **err)
{
    return guard(err, 0, [=] { return gexiv2_metadata_try_get_gps_altitude(md, v, err) ? 1 : 0; });
}

} // extern "C"
