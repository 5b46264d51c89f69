// BLIP's tokenizer: BERT uncased WordPiece, id-for-id equal to Hugging Face's
// BertTokenizerFast (the tokenizer.json of Salesforce/blip-image-captioning-*),
// and its decode(ids, skip_special_tokens=True) as BlipProcessor.decode gives it.
//
// Encode pipeline (tokenizer.json: BertNormalizer, BertPreTokenizer, WordPiece):
//   added tokens   [PAD] [UNK] [CLS] [SEP] [MASK] written literally are cut out
//                  of the raw text first and map straight to their ids;
//   clean text     U+0000, U+FFFD and controls (Cc, Cf, Co, Cs except \t \n \r)
//                  are dropped, whitespace (\t \n \r, Zs, Zl, Zp) becomes " ";
//   CJK            ideographs (the BERT ranges, BMP and beyond) get spaces around;
//   lowercase      per code point (utf8proc; U+0130 -> "i\u0307"; Σ -> σ, no
//                  final-sigma rule, as the Rust tokenizer does), then NFD with
//                  nonspacing marks (Mn) removed;
//   pre-tokenize   split on spaces; every punctuation char (ASCII !-/ :-@ [-` {-~
//                  and Unicode P*) is a word of its own;
//   WordPiece      greedy longest match, "##" for continuations; a word over 100
//                  code points, or with no match somewhere, is one [UNK];
//   post           [CLS] ... [SEP].
// Invalid UTF-8 bytes decode to U+FFFD, which the clean step drops.
//
// Decode: ids without a token (>= the vocab size, such as BLIP's [DEC] 30522)
// are dropped; with skip_special the 5 special ids too. Tokens join with " ",
// a "##" piece (not the first) glues to the one before, and the cleanup of
// spaces before . ? ! , and in front of 's 've 're 'm n't is applied per token
// (the WordPiece decoder) and then to the whole text (clean_up_tokenization).
//
// A wp_tok is immutable after wp_load(): share it between threads freely.
#ifndef LISA_CAPTION_WORDPIECE_H
#define LISA_CAPTION_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#define WP_MAX_TEXT (1u << 20)  // bytes of text wp_encode() accepts
#define WP_MAX_FILE (64u << 20) // bytes of vocab.txt / tokenizer.json
#define WP_MAX_VOCAB (1 << 20)
#define WP_MAX_WORD 100 // code points; longer words are [UNK]

#define WP_PAD 0
#define WP_UNK 100
#define WP_CLS 101
#define WP_SEP 102
#define WP_MASK 103

typedef struct wp_tok wp_tok;

// Loads the vocabulary from dir/vocab.txt (one token per line, id = line), or
// else from dir/tokenizer.json (model.vocab of a WordPiece model). The caller
// owns *out and frees it with wp_free(). Errors name the file: LISA_ENOTFOUND
// (neither file), LISA_EFORMAT (a repeated token, a missing special token, a
// tokenizer.json whose model is not WordPiece).
int wp_load(const char *dir, wp_tok **out);

// The same from one file, vocab.txt or tokenizer.json, by its name's ending.
int wp_load_file(const char *path, wp_tok **out);

// Frees t; wp_free(NULL) is a no-op.
void wp_free(wp_tok *t);

// Number of tokens (largest id + 1).
int wp_vocab_size(const wp_tok *t);

// The id of token s, or -1.
int32_t wp_token_id(const wp_tok *t, const char *s);

// Tokenizes len bytes of text into ids: [CLS], the pieces, [SEP]. *n gets the
// full count even when it is over cap; only the first cap ids are written (the
// caller's buffer). Errors: LISA_ETOOBIG (len > WP_MAX_TEXT), LISA_ENOMEM.
int wp_encode(const wp_tok *t, const char *text, size_t len, int32_t *ids, int cap, int *n);

// Turns n ids into text (see above) as a NUL-terminated malloc'd string in
// *out, owned by the caller (free()). skip_special drops [PAD] [UNK] [CLS]
// [SEP] [MASK].
int wp_decode(const wp_tok *t, const int32_t *ids, int n, int skip_special, char **out);

#endif
