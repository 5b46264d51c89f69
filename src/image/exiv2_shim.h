// The border between C and Exiv2's C++: every gexiv2 call that meta.c makes
// goes through one of these wrappers, which catch any C++ exception that
// gexiv2 lets through (Exiv2 0.27 throws std::overflow_error on some WebP
// sizes, which would otherwise reach std::terminate) and turn it into a
// failure with a GError "Exiv2: <what()>" (or a 0/NULL result where the call
// has no GError). Ownership and results are those of the wrapped call.
#ifndef LISA_IMAGE_EXIV2_SHIM_H
#define LISA_IMAGE_EXIV2_SHIM_H

#include <gexiv2/gexiv2.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int x2_initialize(void); // gexiv2_log_set_level(MUTE) + gexiv2_initialize(); 1 on success
GExiv2Metadata *x2_new(void);
void x2_free(GExiv2Metadata *md); // g_object_unref
int x2_open_path(GExiv2Metadata *md, const char *path, GError **err);
int x2_open_buf(GExiv2Metadata *md, const uint8_t *data, size_t n, GError **err);
int x2_has_tag(GExiv2Metadata *md, const char *tag);
gchar *x2_tag_string(GExiv2Metadata *md, const char *tag, GError **err);
gchar **x2_tag_multiple(GExiv2Metadata *md, const char *tag, GError **err);
long x2_tag_long(GExiv2Metadata *md, const char *tag, GError **err);
int x2_gps_latitude(GExiv2Metadata *md, double *v, GError **err);
int x2_gps_longitude(GExiv2Metadata *md, double *v, GError **err);
int x2_gps_altitude(GExiv2Metadata *md, double *v, GError **err);

// Test hook: makes the next wrapped call that takes a GError (x2_open_*,
// the getters) throw std::overflow_error inside
// its try block, to prove the border holds. 0 turns it off.
void x2_test_throw_next(int on);

#ifdef __cplusplus
}
#endif

#endif
