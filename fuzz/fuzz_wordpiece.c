// libFuzzer target: BLIP's WordPiece tokenizer (caption/wordpiece.h) on
// arbitrary bytes with the real vocabulary (tests/data/tokenizer/blip/vocab.txt,
// run from the repository root). Encoding never fails below WP_MAX_TEXT, gives
// [CLS] ... [SEP] with ids inside the vocabulary, and at most one id per input
// byte plus the two specials; decoding those ids always succeeds.
#include "caption/wordpiece.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wp_tok *t;
    if (!t && wp_load_file("tests/data/tokenizer/blip/vocab.txt", &t) < 0) __builtin_trap();
    if (size > 4096) return 0;
    int32_t ids[4100];
    int n;
    if (wp_encode(t, (const char *)data, size, ids, 4100, &n) < 0) __builtin_trap();
    if (n < 2 || n > (int)size + 2 || ids[0] != WP_CLS || ids[n - 1] != WP_SEP) __builtin_trap();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= wp_vocab_size(t)) __builtin_trap();
    char *s;
    if (wp_decode(t, ids, n, 1, &s) < 0) __builtin_trap();
    free(s);
    return 0;
}
