// libFuzzer target: ckpt_index_parse() (model.safetensors.index.json) on
// arbitrary bytes; whatever it accepts must be sorted, deduplicated and made
// of safe shard names, and release must free it all.
#include "model/checkpoint.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckpt_index ix;
    if (ckpt_index_parse((const char *)data, size, "fuzz", &ix) == 0) {
        for (size_t i = 0; i < ix.nshards; i++) {
            if (!ckpt_valid_shard_name(ix.shards[i])) __builtin_trap();
            if (i && strcmp(ix.shards[i - 1], ix.shards[i]) >= 0) __builtin_trap();
        }
        for (size_t i = 0; i < ix.n; i++) {
            if (ix.map[i].shard >= ix.nshards) __builtin_trap();
            if (i && strcmp(ix.map[i - 1].tensor, ix.map[i].tensor) >= 0) __builtin_trap();
        }
    }
    ckpt_index_release(&ix);
    return 0;
}
