// Perceptual hash: 64 bits that stay close when an image is resized,
// recompressed or lightly cropped, and differ when the picture does. No model.
//
// The DCT hash (the recipe of Zauner 2010's pHash and of the imagehash
// package's phash, with a box average where they resize): luma, averaged down
// to 32 x 32, a 2-D DCT-II, the 8 x 8 lowest frequencies, one bit per
// coefficient set when it is above their median. Not bit-compatible with them.
// Two images are near-duplicates when few bits differ: img_phash_distance()
// counts them (0..64). The thresholds the duplicate finder uses come from the
// generated set of bench/dupes (docs/duplicates.md).
#ifndef LISA_IMAGE_PHASH_H
#define LISA_IMAGE_PHASH_H

#include "image/image.h"

#include <stdint.h>

#define IMG_PHASH_SIDE 32 // the downscaled square the DCT runs on

// Hash of an RGB image (any size >= 1 x 1) into *ph. im is borrowed.
int img_phash(const img_t *im, uint64_t *ph);

// Decodes path (JPEG at a reduced DCT scale: only a small copy is needed,
// orientation applied) and hashes it; errors name the file.
int img_phash_load(const char *path, uint64_t *ph);

// Bits that differ between two hashes, 0..64.
static inline int img_phash_distance(uint64_t a, uint64_t b)
{
    return __builtin_popcountll(a ^ b);
}

#endif
