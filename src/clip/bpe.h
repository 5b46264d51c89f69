// CLIP's byte-level BPE tokenizer, id-for-id equal to Hugging Face's CLIPTokenizer
// (tokenizer.json, "fast" pipeline) on valid UTF-8.
//
// Pipeline, as tokenizer.json specifies for CLIP:
//   added tokens   "<|startoftext|>" / "<|endoftext|>" written literally in the text
//                  are cut out first and map straight to their ids (as HF does);
//   normalizer     NFC (utf8proc), every run of whitespace -> " ", full Unicode
//                  lowercase (incl. U+0130 -> "i\u0307" and Greek final sigma);
//   pre-tokenizer  the CLIP split regex
//                    's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//                  (whitespace dropped), then GPT-2 byte-to-unicode mapping;
//   model          BPE over each piece with "</w>" glued to its last symbol,
//                  lowest merge rank first, leftmost first on ties;
//   post           BOS ... EOS (49406 ... 49407 for CLIP).
//
// Where HF's Python (Rust) and JS implementations differ, this follows JS
// (@huggingface/transformers), which made the goldens in tests/data/tokenizer/:
//   - "whitespace" is JS's \s: it includes U+FEFF and excludes U+0085 (Rust's
//     \s is Unicode White_Space: the other way round);
//   - added tokens are matched in the raw text, before normalization.
// Truncation follows Python: the content is cut to max_ids-2 tokens and EOS is
// always kept (transformers.js would cut EOS off).
//
// Invalid UTF-8 never fails: each maximal ill-formed subsequence becomes U+FFFD,
// exactly as JS's TextDecoder (WHATWG) and Python's errors="replace" decode it,
// so the ids equal HF's on the decoded string.
//
// Unicode tables come from the system utf8proc (Debian 12: Unicode 13); letters
// added to Unicode after that are classified as symbols here.
//
// Cost (2-core dev VM, -O2): bpe_load of CLIP's 2.2 MB tokenizer.json takes
// ~25 ms, most of it cJSON's parse; a typical photo query encodes in ~0.5 us,
// long English text at ~60 MB/s. Scratch is per call and grows with the text
// (up to ~60 bytes per byte of the longest single word).
//
// A loaded bpe_tok is immutable apart from an internal, mutex-guarded piece cache,
// so one tokenizer may be shared by threads.
#ifndef LISA_CLIP_BPE_H
#define LISA_CLIP_BPE_H

#include <stddef.h>
#include <stdint.h>

#define BPE_CONTEXT_LEN 77       // CLIP's text context, BOS and EOS included
#define BPE_MAX_TEXT (1u << 20)  // bytes of text bpe_encode() accepts
#define BPE_MAX_FILE (64u << 20) // bytes of tokenizer.json / vocab.json / merges.txt
#define BPE_MAX_VOCAB (1 << 22)  // ids must be below this

typedef struct bpe_tok bpe_tok;

// Loads a tokenizer from path: a tokenizer.json file, a vocab.json file (with
// merges.txt beside it), or a directory holding either layout (tokenizer.json is
// preferred). On success *out is a new tokenizer the caller owns and frees with
// bpe_free(). Errors: LISA_ENOTFOUND (no such file / neither layout),
// LISA_EFORMAT (bad JSON, merge with a token missing from the vocab, ...),
// LISA_EUNSUPPORTED (a tokenizer.json whose pipeline is not CLIP's). In the
// vocab.json layout the CLIP pipeline is assumed, "</w>" ends words, and at most
// 48894 merges are read, as HF's CLIPTokenizer reads merges.txt.
int bpe_load(const char *path, bpe_tok **out);

// Frees t; bpe_free(NULL) is a no-op.
void bpe_free(bpe_tok *t);

// Tokenizes len bytes of text (any bytes; NULs are characters) into ids[0..*n_ids):
// BOS, at most max_ids-2 content tokens, EOS. No padding. The caller owns ids,
// which has room for max_ids >= 2 entries (BPE_CONTEXT_LEN for CLIP).
// Errors: LISA_EINVAL (max_ids < 2), LISA_ETOOBIG (len > BPE_MAX_TEXT), LISA_ENOMEM.
int bpe_encode(const bpe_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n_ids);

// Turns ids back into text: special tokens are skipped, "</w>" becomes a space,
// the trailing space is dropped. Writes a NUL-terminated string of *len bytes to
// out (caller's buffer of cap bytes). The bytes need not be valid UTF-8 if the ids
// split a character. Errors: LISA_EINVAL (id out of range), LISA_ETOOBIG (cap).
int bpe_decode(const bpe_tok *t, const int32_t *ids, int n, char *out, size_t cap, size_t *len);

// Vocabulary size (largest id + 1) and the BOS / EOS ids.
int bpe_vocab_size(const bpe_tok *t);
int32_t bpe_bos(const bpe_tok *t);
int32_t bpe_eos(const bpe_tok *t);

#endif
