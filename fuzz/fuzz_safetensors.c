// libFuzzer target: st_parse() on arbitrary bytes, then every lookup path.
#include "base/err.h"
#include "model/safetensors.h"

#include <stddef.h>
#include <stdint.h>

static volatile float sink; // keeps the element reads from being optimised away

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file *f;
    if (st_parse(data, size, "fuzz", &f) < 0) return 0;
    for (size_t i = 0; i < f->n; i++) {
        const st_tensor *t = &f->t[i];
        const float *p;
        if (st_find(f, t->name) != t) __builtin_trap();
        if (st_get_f32(f, t->name, t->ndim, t->shape, &p) == 0) {
            size_t n = t->nbytes / st_dtype_size(t->dtype);
            float acc = 0;
            for (size_t k = 0; k < n; k++) acc += p[k]; // reads every element: ASan checks bounds
            sink = acc;
        }
    }
    st_close(f);
    return 0;
}
