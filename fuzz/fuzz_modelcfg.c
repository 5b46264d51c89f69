// libFuzzer target: the model-directory JSON files that fuzz_config does not
// reach, held in a memfd: BLIP's config.json (cap_config_load) and
// preprocessor_config.json (prep_cfg_load). The first byte picks the parser.
// An accepted file must satisfy the invariants the models rely on.
#include "caption/caption.h"
#include "image/preprocess.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tower_ok(const cap_tower *t)
{
    return t->hidden > 0 && t->heads > 0 && t->hidden % t->heads == 0 && t->layers >= 0 && t->intermediate > 0 &&
           t->eps > 0;
}

static void check_caption(const char *path)
{
    cap_config c;
    if (cap_config_load(path, &c) < 0) return;
    if (!tower_ok(&c.vision) || !tower_ok(&c.text)) __builtin_trap();
    if (c.patch_size <= 0 || c.image_size <= 0 || c.image_size % c.patch_size || c.num_channels <= 0) __builtin_trap();
    if (c.vocab_size <= 0 || c.max_positions <= 0) __builtin_trap();
}

static void check_prep(const char *path)
{
    prep_cfg c;
    prep_cfg_default(&c);
    if (prep_cfg_load(path, &c) < 0) return;
    if (c.do_resize && c.shortest_edge <= 0 && (c.resize_w <= 0 || c.resize_h <= 0)) __builtin_trap();
    if (c.do_center_crop && (c.crop_w <= 0 || c.crop_h <= 0)) __builtin_trap();
    for (int i = 0; i < 3; i++)
        if (c.do_normalize && !(c.std[i] != 0)) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (size < 1) return 0;
    if (fd < 0) {
        fd = memfd_create("config.json", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1)) abort();
    if (data[0] & 1)
        check_prep(path);
    else
        check_caption(path);
    return 0;
}
