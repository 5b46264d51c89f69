// libFuzzer target: bpe_encode() on arbitrary bytes with the real CLIP
// tokenizer (tests/data/tokenizer/clip/tokenizer.json; run from the repository
// root or set LISA_FUZZ_TOKENIZER), every id checked against the vocabulary,
// then bpe_decode() of the result.
#include "base/err.h"
#include "clip/bpe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bpe_tok *g_tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_tok) {
        const char *p = getenv("LISA_FUZZ_TOKENIZER");
        if (!p) p = "tests/data/tokenizer/clip/tokenizer.json";
        if (bpe_load(p, &g_tok) < 0) {
            fprintf(stderr, "fuzz_bpe: %s\n", lisa_errmsg());
            abort();
        }
    }
    int32_t ids[BPE_CONTEXT_LEN + 1];
    int n = 0;
    int max = size && data[0] == 0xff ? 2 : BPE_CONTEXT_LEN; // also the smallest context
    if (bpe_encode(g_tok, (const char *)data, size, ids, max, &n) < 0) return 0;
    if (n < 2 || n > max || ids[0] != bpe_bos(g_tok) || ids[n - 1] != bpe_eos(g_tok)) __builtin_trap();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bpe_vocab_size(g_tok)) __builtin_trap();
    static char out[BPE_CONTEXT_LEN * 64];
    size_t len;
    if (bpe_decode(g_tok, ids, n, out, sizeof out, &len) == 0 && (len >= sizeof out || out[len])) __builtin_trap();
    return 0;
}
