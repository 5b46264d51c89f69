// libFuzzer target: http_unescape() (query strings and paths, both '+'
// modes) against a plain reference decoder written here, plus the name and
// UTF-8 validators that gate file lookups on what it returns.
#include "server/http.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The documented contract: -1 for a bad escape, a NUL (raw or %00) or a
// result over cap - 1; else the decoded length.
static long ref(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = in[i];
        if (c == '%') {
            if (n - i < 3 || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return -1;
            c = hex(in[i + 1]) * 16 + hex(in[i + 2]);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= cap) return -1;
        out[o++] = (uint8_t)c;
    }
    return cap ? (long)o : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[4096];
    static uint8_t want[4096];
    if (size < 1 || size > 3000) return 0;
    size_t cap = data[0] & 1 ? sizeof out : (size_t)(data[0] >> 1); // small caps hit the bound
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    for (int plus = 0; plus < 2; plus++) {
        memset(out, 0x55, sizeof out);
        long got = http_unescape(in, n, out, cap, plus);
        long exp = ref(data + 1, n, want, cap, plus);
        if (got != exp) __builtin_trap();
        if (got < 0) continue;
        if (memcmp(out, want, (size_t)got) || out[got] != 0) __builtin_trap();
        if (strlen(out) != (size_t)got) __builtin_trap(); // no NUL inside
        int valid_utf8 = http_valid_utf8(out, (size_t)got);
        if (http_valid_name(out)) {
            if (!valid_utf8 || strchr(out, '/') || strchr(out, '\\') || !strcmp(out, "..")) __builtin_trap();
        }
    }
    return 0;
}
