// libFuzzer target: SigLIP's tokenizers on arbitrary bytes (any UTF-8, broken
// or not): the Gemma BPE (tests/data/siglip/gemma-reduced) and the SentencePiece
// path (tests/data/siglip/spiece-tiny), loaded once from the repository root
// (the working directory of `make fuzz-run`). Every row must be 1..64 ids, all
// inside the vocabulary, ending with the end-of-sequence id.
#include "siglip/gemma.h"
#include "siglip/spiece.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const int32_t *ids, int n, int vocab, int32_t eos)
{
    if (n < 1 || n > 64 || ids[n - 1] != eos) __builtin_trap();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gemma_tok *g;
    static spiece_tok *sp;
    if (!g && (gemma_load("tests/data/siglip/gemma-reduced/tokenizer.json", &g) < 0 ||
               spiece_load("tests/data/siglip/spiece-tiny/spiece.model", &sp) < 0))
        abort(); // run from the repository root
    int32_t ids[64];
    int n;
    if (gemma_encode(g, (const char *)data, size, ids, 64, &n) == 0) check(ids, n, gemma_vocab_size(g), gemma_eos(g));
    if (spiece_encode(sp, (const char *)data, size, ids, 64, &n) == 0)
        check(ids, n, spiece_vocab_size(sp), spiece_eos(sp));
    return 0;
}
