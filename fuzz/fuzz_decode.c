// libFuzzer target for the decoder entry point (every format, by magic bytes)
// followed by orientation and a small CLIP preprocessing pass.
//   make fuzz && build/fuzz/fuzz_decode fuzz/seeds/fuzz_decode
#include "image/image.h"
#include "image/preprocess.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    img_opts o;
    img_t im, px;
    prep_cfg c;
    img_opts_init(&o);
    o.max_pixels = 4 * 1024 * 1024; // keeps the fuzzer inside its RSS limit
    o.min_side = size & 1 ? 16 : 0; // exercise DCT-scaled JPEG decoding too
    if (img_decode(data, size, &o, &im) < 0) return 0;
    prep_cfg_default(&c);
    c.shortest_edge = 32, c.crop_h = 24, c.crop_w = 40;
    if (prep_pixels(&im, &c, &px) == 0) img_release(&px);
    img_release(&im);
    return 0;
}
