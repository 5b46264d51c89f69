// libFuzzer target: bpe_load() of an arbitrary tokenizer.json (held in a
// memfd, read through its /proc/self/fd path), then a few encodes with
// whatever tokenizer it accepted.
#include "base/err.h"
#include "clip/bpe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("tokenizer.json", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    bpe_tok *t = NULL;
    if (bpe_load(path, &t) < 0) return 0;
    static const char *texts[] = {"a photo of a cat", "", "Hello, World! 123 don't", "\xe6\x9d\xb1\xe4\xba\xac \xff"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t ids[BPE_CONTEXT_LEN];
        int n;
        size_t len = 0;
        while (texts[i][len]) len++;
        if (bpe_encode(t, texts[i], len, ids, BPE_CONTEXT_LEN, &n) == 0) {
            if (n < 2 || n > BPE_CONTEXT_LEN) __builtin_trap();
            for (int k = 0; k < n; k++)
                if (ids[k] < 0 || ids[k] >= bpe_vocab_size(t)) __builtin_trap();
            char out[4096];
            bpe_decode(t, ids, n, out, sizeof out, &len);
        }
    }
    bpe_free(t);
    return 0;
}
