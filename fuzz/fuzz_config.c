// libFuzzer target: cfg_parse(), a Hugging Face CLIPModel config.json. An
// accepted config must satisfy the invariants the towers rely on.
#include "model/config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tower_ok(const cfg_tower *t)
{
    // num_hidden_layers 0 is allowed on purpose (config.c): embeddings + norms.
    return t->hidden > 0 && t->heads > 0 && t->hidden % t->heads == 0 && t->layers >= 0 && t->intermediate > 0 &&
           t->eps > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clip_config c;
    if (cfg_parse((const char *)data, size, "config.json", &c) < 0) return 0;
    if (!tower_ok(&c.text) || !tower_ok(&c.vision)) __builtin_trap();
    if (c.patch_size <= 0 || c.image_size <= 0 || c.image_size % c.patch_size) __builtin_trap();
    if (c.vocab_size <= 0 || c.max_positions <= 0 || c.projection_dim <= 0) __builtin_trap();
    return 0;
}
