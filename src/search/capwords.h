// BLIP caption -> keyword text: the product's "removes noise" step for the
// caption source, before kw_clean() (stop words, stemming) makes the FTS text.
//
// kw_caption_fold() lowercases ASCII, splits on anything that is not a letter,
// digit or apostrophe, and then
//   - drops the prompt the caption was generated with when the caption starts
//     with it ("a picture of a dog" with prompt "a picture of" -> "a dog");
//   - drops BLIP's known filler: the phrases "there is", "there are", "close
//     up", "in the background" and the made-up words BLIP emits for a blurred
//     subject ("arafed", "araffe", "arafe", "araffed", "arafly", "arrafed", ...:
//     any word starting "araf"/"arraf");
//   - keeps each remaining word once (BLIP repeats itself: "a dog dog dog").
// Output: the kept words joined by single spaces ("" when none), malloc'd.
#ifndef LISA_SEARCH_CAPWORDS_H
#define LISA_SEARCH_CAPWORDS_H

#define KW_CAPTION_MAX 4096 // caption bytes considered; the rest is ignored

// caption and prompt (may be NULL) are borrowed; *out is owned by the caller.
int kw_caption_fold(const char *caption, const char *prompt, char **out);

#endif
