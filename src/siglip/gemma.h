// SigLIP 2's Gemma tokenizer (tokenizer.json: BPE over characters with byte
// fallback, 256,000 pieces), id-for-id equal to Hugging Face's tokenizers /
// transformers.js on valid UTF-8, as SigLIP 2 uses it:
//   added tokens  the 217 `added_tokens` (<pad>, <eos>, <unused0>, <b>, ...)
//                 written literally in the text are cut out first, longest
//                 match leftmost, and map straight to their ids;
//   normalizer    lower-case (when do_lower_case; per code point, as the
//                 tokenizers Lowercase normalizer does: U+0130 -> "i\u0307"),
//                 then " " -> U+2581; no pre-tokenizer: each stretch between
//                 added tokens is one BPE word;
//   model         characters (UTF-8 code points) that are pieces, the others
//                 as their <0xXX> byte pieces; merges lowest rank first,
//                 leftmost first on ties;
//   post          content ids + <eos>, no <bos> (SigLIP 2's processor; the
//                 file's own post-processor would prepend <bos>). Truncation
//                 keeps max_ids-1 content ids and the <eos>.
// Lower-casing: SigLIP 2 was trained on lower-cased text; transformers v5's
// Siglip2Tokenizer lower-cases when do_lower_case is true, v4 and
// transformers.js do not. Default on; tokenizer_config.json beside the file may
// say "do_lower_case": false.
//
// Invalid UTF-8 never fails: each maximal ill-formed subsequence becomes U+FFFD.
// A loaded gemma_tok is immutable, so it may be shared by threads.
#ifndef LISA_SIGLIP_GEMMA_H
#define LISA_SIGLIP_GEMMA_H

#include <stddef.h>
#include <stdint.h>

#define GEMMA_MAX_FILE (64u << 20) // bytes of tokenizer.json
#define GEMMA_MAX_TEXT (1u << 16)  // bytes of text gemma_encode() accepts
#define GEMMA_MAX_VOCAB (1 << 22)

typedef struct gemma_tok gemma_tok;

// Loads tokenizer.json at path (and tokenizer_config.json beside it, if any).
// The caller owns *out and frees it with gemma_free(). Errors: LISA_ENOTFOUND,
// LISA_EFORMAT (bad JSON, a merge of unknown pieces, ...), LISA_EUNSUPPORTED (a
// tokenizer.json that is not a byte-fallback BPE with Gemma's normalizer).
int gemma_load(const char *path, gemma_tok **out);
void gemma_free(gemma_tok *t);

// Turns lower-casing on or off (overrides tokenizer_config.json). Call before
// t is shared between threads.
void gemma_set_lower(gemma_tok *t, int on);

// Tokenizes len bytes of text into ids[0..*n): at most max_ids-1 content ids,
// then <eos>. No padding. ids is the caller's, room for max_ids >= 1.
// Errors: LISA_EINVAL, LISA_ETOOBIG (len > GEMMA_MAX_TEXT), LISA_ENOMEM.
int gemma_encode(const gemma_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n);

// Vocabulary size (largest id + 1), and the <pad> / <eos> ids.
int gemma_vocab_size(const gemma_tok *t);
int32_t gemma_pad(const gemma_tok *t);
int32_t gemma_eos(const gemma_tok *t);

// The piece of id (owned by t), or NULL when out of range.
const char *gemma_piece(const gemma_tok *t, int32_t id);

#endif
