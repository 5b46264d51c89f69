// A result's `chips` and `description` (docs/api.md): the cleaned keywords
// of each source, and the photo's own description as a sentence.
#ifndef LISA_SEARCH_CHIPS_H
#define LISA_SEARCH_CHIPS_H

#include "store/store.h"

#include <cjson/cJSON.h>

// From the stored row im (borrowed): *chips gets {"caption": [..], "ocr":
// [..], "name": [..], "meta": [..]}, each at most KW_CHIPS_MAX kw_chips()
// words (caption words after kw_caption_fold(); meta words from the file's
// keywords, title and headline, not from the description, which is the
// sentence), and *description the EXIF/IPTC/XMP description as written
// (trimmed; NULL when none or the file cannot be read). The metadata is read
// from the file only when the row has metadata words. Both are the caller's
// (cJSON_Delete, free).
int chips_build(const store_image *im, cJSON **chips, char **description);

#endif
