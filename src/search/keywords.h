// Keyword cleaning: ONE pipeline for indexed text and for queries, so a query
// word and an indexed word meet in the same form.
//
// kw_clean(text) runs:
//   1. Unicode normalisation with utf8proc: NFKD + case folding, default
//      ignorables (ZWJ, soft hyphen, variation selectors) dropped, the
//      combining diacritics U+0300..U+036F dropped after a Latin letter
//      ("Café" -> "cafe", "Straße" -> "strasse"; Cyrillic "ё", "й" stay),
//      then NFC per token (Hangul, Devanagari marks kept and recomposed).
//   2. Tokenizing: a token is a run of letters, digits and combining marks
//      (Unicode L*, N*, M*). Han ideographs, Hiragana and Katakana have no
//      spaces between words, so each one is a token of its own (character
//      unigrams: "東京" -> "東 京"). Everything else (punctuation, symbols,
//      emoji) separates tokens and is dropped.
//   3. Tokens over KW_TOKEN_MAX bytes (hashes, base64 junk) are dropped.
//   4. Stop words (the English list in stopwords.c, compiled in) are dropped
//      (KW_STOP).
//   5. Snowball English stemming (libstemmer, UTF-8): "running" -> "run",
//      "beaches" -> "beach" (KW_STEM). Non-Latin tokens pass through.
// Output: the tokens joined by single spaces, in input order, duplicates kept
// (bm25 term frequency). This is what the store's FTS columns hold.
//
// A kw handle owns a Snowball stemmer, which is not thread-safe: use one
// handle per thread. Everything else here is stateless and thread-safe.
#ifndef LISA_SEARCH_KEYWORDS_H
#define LISA_SEARCH_KEYWORDS_H

#include <stddef.h>

#define KW_TEXT_MAX (1 << 20) // input bytes; more is refused with LISA_ETOOBIG
#define KW_TOKEN_MAX 64       // token bytes after folding; longer tokens are dropped
#define KW_QUERY_TERMS 32     // query terms kept; later ones are ignored

typedef struct kw kw;

// Flags for kw_clean().
enum {
    KW_STOP = 1,                  // drop stop words
    KW_STEM = 2,                  // Snowball-stem each token
    KW_CLEAN = KW_STOP | KW_STEM, // what the index and queries use
};

// A cleaner with its own stemmer; the caller owns *out: kw_free() it.
// LISA_EUNSUPPORTED if libstemmer has no English stemmer.
int kw_new(kw **out);
void kw_free(kw *k);

// Cleans UTF-8 text as described above into *out: malloc'd, NUL-terminated,
// owned by the caller ("" when nothing is left). Invalid UTF-8 is
// LISA_EFORMAT (with the byte offset), input over KW_TEXT_MAX LISA_ETOOBIG.
// text is borrowed; NULL is treated as "".
int kw_clean(kw *k, const char *text, int flags, char **out);

// 1 when the case-folded ASCII/UTF-8 word is on the stop list, else 0.
int kw_is_stopword(const char *word);

// Readable words from a file path for the images.name_words column: the
// names of the folders below root (root's own last component included) and
// the file name without its extension, split on separators (space _ - . and
// other punctuation), camelCase ("BeachSunset" -> "beach sunset",
// "HTMLParser" -> "html parser") and letter/digit boundaries ("trip2019" ->
// "trip 2019"), lowercased. Noise is dropped: camera prefixes (IMG, DSC, DSCN,
// DSCF, DCIM, PXL, MVIMG, VID, GOPR, DJI; not SAM or PANO, which are also
// words), single ASCII letters, numbers except years 1900..2099 that do not
// follow a camera prefix ("IMG_2041" is a counter, "Trip 2019" a year). With root NULL (or
// path not under root) the last KW_NAME_DIRS folders are used.
// Repeated words are kept once.
// "/p/Holidays/IMG_2041_BeachSunset-final.jpg" -> "holidays beach sunset final".
// *out is malloc'd and owned by the caller; path and root are borrowed.
#define KW_NAME_DIRS 3
int kw_name_words(const char *path, const char *root, char **out);

// Turns a user's query into a safe FTS5 MATCH expression in *out (malloc'd,
// caller frees): the query is cleaned with KW_CLEAN, each term is wrapped in
// double quotes (an FTS5 string: operators such as AND, OR, NOT, NEAR, *, ^,
// -, : and column filters lose their meaning) and the terms are joined with
// OR, for recall: bm25 already ranks images matching more terms higher.
// Duplicate terms are merged; at most KW_QUERY_TERMS are kept.
// "Dogs running on the beach!" -> "\"dog\" OR \"run\" OR \"beach\"".
// When nothing searchable is left (only stop words or symbols) *out is NULL
// and 0 is returned: the caller skips the keyword part.
int kw_query(kw *k, const char *query, char **out);

// Chips: the words of text as a result shows them, grouped by source in the
// API (docs/api.md `chips`). Readable, not stemmed: text is split on anything
// that is not a letter, digit or mark (punctuation goes: "cups." -> "cups",
// "Denmark." -> "denmark"), lowercased with diacritics kept ("Zürich" ->
// "zürich"; a run of CJK ideographs or kana stays one chip: "東京タワー"), and
// stop words, single characters other than one ideograph or kana, and
// numbers other than years 1900..2099 are dropped. Each word is
// added once (also against the words already in chips[0..*n)) until max.
// chips[i] are malloc'd (the caller frees them); text is borrowed (NULL: none).
// LISA_EFORMAT for invalid UTF-8 (nothing added), LISA_ETOOBIG over
// KW_TEXT_MAX, LISA_ENOMEM.
#define KW_CHIPS_MAX 12 // chips per source in the API
int kw_chips(const char *text, char **chips, int max, int *n);

#endif
