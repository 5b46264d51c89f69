// SigLIP 1's tokenizer: HF's SiglipTokenizer over a SentencePiece spiece.model
// (google/siglip-base-patch16-224: T5's English unigram model, 32,000 pieces),
// with Debian's libsentencepiece doing the segmentation (spm_shim.h) and this
// file doing what SiglipTokenizer adds around it:
//   1. lower-case (do_lower_case) one code point at a time, as
//      PreTrainedTokenizer.tokenize does (re.sub of "(.+?)" with str.lower:
//      full mappings such as U+0130 -> "i\u0307", no final-sigma context),
//      special tokens kept;
//   2. "\u2581" + text with every "\u2581" in it turned into a space;
//   3. the special tokens "</s>" and "<unk>" written in the text are cut out
//      (with the whitespace around them) and map to their ids;
//   4. each other stretch is canonicalised: ASCII punctuation
//      (Python's string.punctuation) removed, runs of whitespace (Python's
//      str.isspace) made one space, leading and trailing whitespace stripped;
//   5. SentencePiece without a dummy prefix (HF merges add_dummy_prefix=False
//      into the model), encoded behind "<unk>" whose pieces are then dropped,
//      so a leading "\u2581" survives; a lone leading "\u2581" before a special
//      token is dropped;
//   6. truncation to max_ids-1 ids, then "</s>" appended unless the ids end
//      with it (prepare_for_model with truncation, _add_eos_if_not_present).
// The processor then pads with "</s>" (id 1) to 64.
#ifndef LISA_SIGLIP_SPIECE_H
#define LISA_SIGLIP_SPIECE_H

#include <stddef.h>
#include <stdint.h>

#define SPIECE_MAX_FILE (16u << 20) // bytes of spiece.model (T5's is 792 KB)
#define SPIECE_MAX_TEXT (1u << 16)  // bytes of text spiece_encode() accepts

typedef struct spiece_tok spiece_tok;

// Loads the spiece.model at path. The caller owns *out (spiece_free()).
// Errors: LISA_ENOTFOUND, LISA_EFORMAT (not a SentencePiece model: the
// library's message), LISA_ENOMEM.
int spiece_load(const char *path, spiece_tok **out);
void spiece_free(spiece_tok *t);

// Tokenizes len bytes of text into ids[0..*n) (content ids then </s>, at most
// max_ids >= 1). Errors: LISA_EINVAL, LISA_ETOOBIG, LISA_ENOMEM, LISA_EFORMAT.
int spiece_encode(const spiece_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n);

int spiece_vocab_size(const spiece_tok *t);
int32_t spiece_eos(const spiece_tok *t); // also the pad id
int32_t spiece_pad(const spiece_tok *t);

#endif
