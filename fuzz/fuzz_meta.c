// libFuzzer target for metadata reading alone (EXIF/IPTC/XMP through the
// Exiv2 border, image/exiv2_shim.cc), on any bytes, without decoding pixels
// first: Exiv2 sees files libwebp or libpng would refuse.
//   make fuzz && build/fuzz/fuzz_meta fuzz/seeds/fuzz_meta
#include "image/meta.h"

#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    meta_info m;
    char *words = NULL;
    if (meta_read_buf(data, size, &m) == 0 && meta_words(&m, &words) == 0) free(words);
    meta_clear(&m);
    return 0;
}
