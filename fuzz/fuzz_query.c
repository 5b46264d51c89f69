// libFuzzer target: query_parse() (the query language, docs/search.md) on
// arbitrary bytes. Whatever it accepts must respect the caps, and its filter
// must be SQL the store runs without error (an in-memory library with one
// image): a parse that succeeds never yields a predicate that fails later.
#include "base/err.h"
#include "search/keywords.h"
#include "search/query.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw *g_kw;
static store *g_st;

static void init(void)
{
    if (kw_new(&g_kw) < 0 || store_open(":memory:", STORE_CREATE, &g_st) < 0) __builtin_trap();
    store_image im = {.path = "/lib/Holidays/IMG_1.jpg",
                      .size = 10,
                      .width = 4,
                      .height = 3,
                      .date_unix = 1563100000,
                      .make = "Canon",
                      .ocr_text = "RE16",
                      .kw_ocr = "re16",
                      .has_gps = 1,
                      .lat = 1,
                      .lon = 2};
    if (store_image_upsert(g_st, &im, NULL) < 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_kw) init();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    query *q = NULL;
    if (query_parse(g_kw, text, &q) == 0) {
        if (!q || !q->text || q->f.n < 0 || q->f.n > STORE_CLAUSES_MAX) __builtin_trap();
        if (q->n_like < 0 || q->n_like > QUERY_LIKES_MAX || q->n_filters > q->f.n) __builtin_trap();
        for (int i = 0; i < q->f.n; i++)
            if (!memchr(q->f.c[i].text, 0, sizeof q->f.c[i].text)) __builtin_trap();
        int64_t *ids = NULL;
        size_t n = 0;
        if (store_filter_ids(g_st, &q->f, &ids, &n) < 0 || n > 1) __builtin_trap();
        free(ids);
    } else if (q || !lisa_errmsg()[0]) {
        __builtin_trap(); // a refusal leaves nothing behind and says why
    }
    query_free(q);
    free(text);
    return 0;
}
