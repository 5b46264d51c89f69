// OCR: text inside images, through Tesseract's C API (Debian libtesseract-dev,
// traineddata from tesseract-ocr-eng, -deu, ...).
//
// Two steps per image, cheapest first:
//   1. ocr_text_likely(): a cheap test on a small grayscale copy (long side
//      OCR_TEST_SIDE) that looks for what printed text is made of: compact
//      connected components of glyph size (both polarities, local threshold)
//      that line up with neighbours of the same height, horizontally or
//      vertically (90° rotated text). Most photos without text stop here.
//   2. ocr_run(): Tesseract's LSTM engine on a grayscale copy whose long side
//      is at most OCR_MAX_SIDE (tiny images are upscaled up to OCR_UPSCALE_MAX
//      times so glyphs reach a readable size), with page segmentation that
//      detects orientation (the *_OSD modes when osd.traineddata is
//      installed, which turn 90° text upright), a per-image deadline, and a
//      word-level pass that drops words below the confidence floor and words
//      with no letter or digit. Full-page layout (PSM_AUTO_OSD) reads
//      screenshots and documents, inverted lines included, but finds nothing
//      on a sign in a busy photo (measured on the fixtures); when it keeps
//      fewer than OCR_SPARSE_RETRY words a second pass in sparse-text mode
//      (PSM_SPARSE_TEXT_OSD) looks for isolated text, and the pass with more
//      words wins.
//
// Threads. An ocr_engine owns one TessBaseAPI (initialising one loads the
// traineddata: tens of ms and ~20-40 MB per language), so make one per thread
// and reuse it for every image; an engine must be used by one thread at a
// time. ocr_text_likely() is stateless and thread-safe.
//
// Libtesseract is built with OpenMP in Debian; several engines in parallel run
// best with one OpenMP thread each, so ocr_run() makes OpenMP regions on its
// calling thread single-threaded (whoever calls it: the CLI, the server's
// builds, tests). Tesseract starts no OpenMP threads of its own.
#ifndef LISA_OCR_OCR_H
#define LISA_OCR_OCR_H

#include "image/image.h"

#include <stddef.h>

#define OCR_LANG_DEFAULT "eng"
#define OCR_LANG_MAX 128  // bytes in a language spec such as "eng+deu"
#define OCR_MAX_SIDE 2000 // long side of the copy Tesseract reads
#define OCR_MIN_SIDE 1000 // images whose long side is below this are upscaled...
#define OCR_UPSCALE_MAX 2 // ...by at most this factor
#define OCR_TEST_SIDE 640 // long side of the text-likelihood test's copy
#define OCR_TIMEOUT_MS_DEFAULT 10000
#define OCR_MIN_CONF_DEFAULT 60  // word confidence floor, 0..100
#define OCR_TEXT_MAX (64 * 1024) // bytes of text kept per image
#define OCR_SPARSE_RETRY 3       // fewer kept words than this: try sparse text

typedef struct ocr_engine ocr_engine;

typedef struct {
    const char *lang;     // "eng", "eng+deu"; NULL: OCR_LANG_DEFAULT
    const char *datapath; // tessdata folder; NULL: $TESSDATA_PREFIX or Tesseract's default
    int timeout_ms;       // per image; <= 0: OCR_TIMEOUT_MS_DEFAULT
    int min_conf;         // word confidence floor 0..100; < 0: OCR_MIN_CONF_DEFAULT
    int no_osd;           // 1: plain PSM_AUTO even when osd.traineddata is there
} ocr_opts;

void ocr_opts_init(ocr_opts *o);

// Creates an engine (loads the languages). A language without traineddata is
// LISA_ENOTFOUND naming it and the Debian package that has it. The caller
// owns *out: ocr_free() it. o's strings are copied.
int ocr_new(const ocr_opts *o, ocr_engine **out);
void ocr_free(ocr_engine *e);

// 1 when the engine detects orientation (osd.traineddata found), else 0.
int ocr_has_osd(const ocr_engine *e);

typedef struct {
    char *text;    // kept words, lines joined by '\n'; malloc'd, owned here; "" none
    double conf;   // mean confidence of the kept words in [0,1]; 0 when none
    int words;     // words kept
    int dropped;   // words dropped (low confidence, no letter/digit, or a line without a real word)
    int timed_out; // 1: the deadline stopped recognition (text is partial)
    double ms;     // wall time of ocr_run
} ocr_result;

void ocr_result_clear(ocr_result *r);

// Recognises the text of im (RGB, upright as displayed; borrowed) into *r,
// which the caller clears. Only engine or allocation failures are errors; an
// image without text gives r->text = "".
int ocr_run(ocr_engine *e, const img_t *im, ocr_result *r);

// The word filter: Tesseract reads texture (gravel, grids, fur) as short
// confident-looking tokens ("SS S SD 7 AS NNG", "ee © 3 +e", "we ‘> AY" at
// 0.68-0.73 on real photos), while real text has words. ocr_run() keeps a
// line only when it holds a real word: after trimming punctuation, at least
// OCR_REAL_MIN letters (and only letters, apostrophes or hyphens), a vowel
// and a consonant, no letter three times in a row; or a word of at least two
// letters in a script other than Latin. Measured with
// tools/ocr/measure_junk.sh (30 real text-free photos: 7 got text before, see
// docs/ocr.md for the figures).
#define OCR_REAL_MIN 4

// 1 when the word (UTF-8, borrowed) is a real word by the rule above.
int ocr_word_real(const char *w);

// 1 when the line (words separated by spaces, borrowed) holds a real word.
int ocr_line_keep(const char *line);

// ---------------------------------------------------------------- text test

typedef struct {
    int glyphs;  // glyph-sized compact components found
    int aligned; // of those, ones with >= 2 aligned neighbours of similar size
    int lines;   // rows (or columns) of >= 3 aligned glyphs
    double ms;
} ocr_test_info;

#define OCR_TEST_MIN_ALIGNED 12 // aligned glyphs needed to call an image "text"
#define OCR_TEST_MIN_LINES 2    // ...in at least this many runs of glyphs

// 1 when im (RGB, borrowed) likely holds text, else 0; info (may be NULL)
// gets the counts behind the decision. Costs a few ms at OCR_TEST_SIDE.
// LISA_ENOMEM is the only error.
int ocr_text_likely(const img_t *im, ocr_test_info *info);

// Grayscale copy of im (BT.601 luma) resized with area averaging (down) or
// bilinear (up) to w x h into *gray (malloc'd, caller frees).
int ocr_gray(const img_t *im, int w, int h, unsigned char **gray);

// Standard deviation of the white noise in a w x h gray image, in gray
// levels, by Immerkaer's estimator ("Fast noise variance estimation", 1996):
// the mean absolute response to a Laplacian-difference mask that cancels
// smooth shading. Edges add a little, so clean images with dense small text
// read ~2; camera grain reads 3 and up. 0 for images under 3x3.
double ocr_noise_sigma(const unsigned char *g, int w, int h);

// Images at least this noisy are smoothed (separable Gaussian, sigma 1)
// before Tesseract: grain breaks glyphs apart in its binarisation, while a
// clean screenshot's 1-pixel strokes must not be blurred. Measured on grain
// variants of the sign fixture (tests/setup/ocr.sh): without smoothing 20 of
// 144 lost a letter or a word, with it 0 of 224; at twice the grain 6 of 20
// without, 1 of 20 with.
#define OCR_NOISE_SIGMA 3.0

#endif
