// libFuzzer target: settings_load_file(), the `key = value` config file
// (DATA/lisa.conf or $LISA_CONFIG), held in a memfd. Accepted values must be
// in the documented ranges.
#include "search/settings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lisa.conf", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    settings s;
    settings_defaults(&s);
    if (settings_load_file(&s, path) < 0) return 0;
    if (s.top_k < 1 || s.top_k > SETTINGS_TOP_K_MAX || !(s.clip_weight >= 0 && s.clip_weight <= 1)) __builtin_trap();
    if (s.thumbnail_size < 16 || s.thumbnail_size > 4096 || s.port < 1 || s.port > 65535) __builtin_trap();
    if (!memchr(s.ocr_lang, 0, sizeof s.ocr_lang) || !memchr(s.data_dir, 0, sizeof s.data_dir)) __builtin_trap();
    return 0;
}
