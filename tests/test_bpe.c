// CLIP tokenizer against Hugging Face's own (JS) tokenizer: the goldens in
// tests/data/tokenizer/clip_goldens.jsonl come from tools/js/tokenize_goldens.mjs.
#include "testutil.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "clip/bpe.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define CLIP_JSON "tests/data/tokenizer/clip/tokenizer.json"
#define GOLDENS "tokenizer/clip_goldens.jsonl"
#define BIG 4096

typedef struct {
    uint8_t *bytes;
    size_t len;
    int32_t *ids, *ids77;
    int n, n77;
    int invalid;
} golden;

static bpe_tok *g_tok;
static golden *g_cases;
static int g_n;
static double g_load_ms;

static int32_t *int_array(const cJSON *a, int *n)
{
    *n = cJSON_GetArraySize(a);
    int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    assert_non_null(v);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void parse_golden(const char *line, size_t len, golden *g)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    assert_non_null(o);
    const char *hex = cJSON_GetObjectItem(o, "hex")->valuestring;
    g->len = strlen(hex) / 2;
    g->bytes = malloc(g->len + 1);
    assert_non_null(g->bytes);
    for (size_t i = 0; i < g->len; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        g->bytes[i] = (uint8_t)v;
    }
    g->ids = int_array(cJSON_GetObjectItem(o, "ids"), &g->n);
    g->ids77 = int_array(cJSON_GetObjectItem(o, "ids77"), &g->n77);
    g->invalid = cJSON_IsTrue(cJSON_GetObjectItem(o, "invalid"));
    cJSON_Delete(o);
}

static int setup(void **state)
{
    (void)state;
    double t0 = mono_ms();
    int rc = bpe_load(CLIP_JSON, &g_tok);
    g_load_ms = mono_ms() - t0;
    if (rc) {
        fprintf(stderr, "cannot load %s: %s\n", CLIP_JSON, lisa_errmsg());
        return -1;
    }
    size_t n;
    char *text = (char *)tu_read(tu_data(GOLDENS), &n);
    for (size_t i = 0; i < n; i++) g_n += text[i] == '\n';
    g_cases = calloc((size_t)g_n, sizeof *g_cases);
    int k = 0;
    for (char *p = text, *e; p < text + n; p = e + 1) {
        e = memchr(p, '\n', (size_t)(text + n - p));
        if (!e) break;
        parse_golden(p, (size_t)(e - p), &g_cases[k++]);
    }
    free(text);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < g_n; i++) free(g_cases[i].bytes), free(g_cases[i].ids), free(g_cases[i].ids77);
    free(g_cases);
    bpe_free(g_tok);
    return 0;
}

static void print_ids(const char *what, const int32_t *v, int n)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, "\n");
}

// Encodes case g with max ids and compares with want[0..nw); reports a mismatch.
static int same(const bpe_tok *t, const golden *g, int max, const int32_t *want, int nw)
{
    int32_t ids[BIG];
    int n;
    assert_int_equal(bpe_encode(t, (const char *)g->bytes, g->len, ids, max, &n), 0);
    if (n == nw && !memcmp(ids, want, (size_t)n * sizeof *ids)) return 1;
    fprintf(stderr, "mismatch (max %d) on \"%.*s\"\n", max, (int)g->len, (const char *)g->bytes);
    print_ids("want", want, nw);
    print_ids("got ", ids, n);
    return 0;
}

// Every golden, untruncated and at CLIP's 77, twice (second pass: warm cache).
static void test_goldens_match(void **state)
{
    (void)state;
    assert_true(g_n >= 300);
    for (int pass = 0; pass < 2; pass++) {
        int ok = 0, ok77 = 0, bad = 0, truncated = 0;
        for (int i = 0; i < g_n; i++) {
            const golden *g = &g_cases[i];
            ok += same(g_tok, g, BIG, g->ids, g->n);
            ok77 += same(g_tok, g, BPE_CONTEXT_LEN, g->ids77, g->n77);
            bad += g->invalid;
            truncated += g->n > BPE_CONTEXT_LEN;
        }
        printf("bpe goldens (pass %d): %d/%d match untruncated, %d/%d match at 77 "
               "(%d truncated, %d invalid UTF-8)\n",
               pass + 1, ok, g_n, ok77, g_n, truncated, bad);
        assert_int_equal(ok, g_n);
        assert_int_equal(ok77, g_n);
    }
}

// Truncation keeps BOS and EOS for any max_ids >= 2 and is a prefix otherwise.
static void test_truncation(void **state)
{
    (void)state;
    const golden *g = NULL;
    for (int i = 0; i < g_n && !g; i++)
        if (g_cases[i].n > 100) g = &g_cases[i];
    assert_non_null(g);
    int32_t ids[BIG];
    int n;
    for (int max = 2; max < g->n + 3; max++) {
        assert_int_equal(bpe_encode(g_tok, (const char *)g->bytes, g->len, ids, max, &n), 0);
        int want = max < g->n ? max : g->n;
        assert_int_equal(n, want);
        assert_int_equal(ids[0], 49406);
        assert_int_equal(ids[n - 1], 49407);
        assert_memory_equal(ids, g->ids, (size_t)(n - 1) * sizeof *ids);
    }
    assert_int_equal(bpe_encode(g_tok, "cat", 3, ids, 1, &n), LISA_EINVAL);
    assert_int_equal(bpe_encode(g_tok, NULL, 0, ids, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bpe_encode(g_tok, "x", (size_t)BPE_MAX_TEXT + 1, ids, 77, &n), LISA_ETOOBIG);
}

// Random bytes (mostly invalid UTF-8) never crash and give in-range ids.
static void test_random_bytes(void **state)
{
    (void)state;
    uint32_t s = 1;
    uint8_t buf[300];
    int32_t ids[BIG];
    int n;
    for (int it = 0; it < 20000; it++) {
        size_t len = (s = s * 1664525u + 1013904223u) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            s = s * 1664525u + 1013904223u;
            uint8_t b = (uint8_t)(s >> 24);
            buf[i] = (s & 0x300) ? b : (uint8_t)(b % 3 == 0 ? ' ' : b % 3 == 1 ? '\'' : 0xCC);
        }
        int max = it % 7 == 0 ? 5 : BIG;
        assert_int_equal(bpe_encode(g_tok, (const char *)buf, len, ids, max, &n), 0);
        assert_true(n >= 2 && n <= max);
        assert_int_equal(ids[0], 49406);
        assert_int_equal(ids[n - 1], 49407);
        for (int i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < bpe_vocab_size(g_tok));
    }
}

// A very long single word (one BPE piece of 200 KiB) is handled.
static void test_long_piece(void **state)
{
    (void)state;
    size_t len = 200 << 10;
    char *s = malloc(len);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++) s[i] = (char)('a' + i % 7);
    int32_t ids[BPE_CONTEXT_LEN];
    int n;
    assert_int_equal(bpe_encode(g_tok, s, len, ids, BPE_CONTEXT_LEN, &n), 0);
    assert_int_equal(n, BPE_CONTEXT_LEN);
    assert_int_equal(ids[76], 49407);
    free(s);
}

static void test_decode(void **state)
{
    (void)state;
    const char *text = "A photo of a cat, eating 2 crème brûlées! 東京 😀";
    int32_t ids[BIG];
    int n;
    char out[256];
    size_t len;
    assert_int_equal(bpe_encode(g_tok, text, strlen(text), ids, BIG, &n), 0);
    assert_int_equal(bpe_decode(g_tok, ids, n, out, sizeof out, &len), 0);
    assert_string_equal(out, "a photo of a cat , eating 2 crème brûlées ! 東京 😀");
    assert_int_equal(bpe_decode(g_tok, ids, n, out, 5, &len), LISA_ETOOBIG);
    int32_t badid = 1 << 20;
    assert_int_equal(bpe_decode(g_tok, &badid, 1, out, sizeof out, &len), LISA_EINVAL);
}

// vocab.json + merges.txt written from tokenizer.json load to the same ids.
static void test_vocab_merges_layout(void **state)
{
    (void)state;
    size_t n;
    char *text = (char *)tu_read(CLIP_JSON, &n);
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    assert_non_null(root);
    cJSON *model = cJSON_GetObjectItem(root, "model");
    char *vocab = cJSON_PrintUnformatted(cJSON_GetObjectItem(model, "vocab"));
    tu_write(tu_tmp("vocab.json"), vocab, strlen(vocab));
    free(vocab);
    const cJSON *merges = cJSON_GetObjectItem(model, "merges"), *m;
    size_t cap = 1 << 20, len = 0;
    char *mt = malloc(cap);
    len += (size_t)sprintf(mt, "#version: 0.2\n");
    cJSON_ArrayForEach(m, merges)
    {
        size_t k = strlen(m->valuestring);
        if (len + k + 2 > cap) mt = realloc(mt, cap *= 2);
        memcpy(mt + len, m->valuestring, k), len += k, mt[len++] = '\n';
    }
    tu_write(tu_tmp("merges.txt"), mt, len);
    free(mt);
    cJSON_Delete(root);

    bpe_tok *t;
    assert_int_equal(bpe_load(tu_tmpdir(), &t), 0);
    assert_int_equal(bpe_vocab_size(t), bpe_vocab_size(g_tok));
    int ok = 0;
    for (int i = 0; i < g_n; i++) ok += same(t, &g_cases[i], BIG, g_cases[i].ids, g_cases[i].n);
    printf("bpe vocab.json+merges.txt: %d/%d goldens match\n", ok, g_n);
    assert_int_equal(ok, g_n);
    bpe_free(t);
    assert_int_equal(bpe_load(tu_tmp("vocab.json"), &t), 0); // the file itself works too
    bpe_free(t);
}

static void test_load_errors(void **state)
{
    (void)state;
    bpe_tok *t = (bpe_tok *)1;
    assert_int_equal(bpe_load(tu_tmp("nope"), &t), LISA_ENOTFOUND);
    assert_null(t);
    assert_non_null(strstr(lisa_errmsg(), "nope"));
    tu_write(tu_tmp("bad.json"), "{\"model\": [", 11);
    assert_int_equal(bpe_load(tu_tmp("bad.json"), &t), LISA_EFORMAT);
    const char *other = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}";
    tu_write(tu_tmp("wp.json"), other, strlen(other));
    assert_int_equal(bpe_load(tu_tmp("wp.json"), &t), LISA_EUNSUPPORTED);
    // A directory with neither layout.
    assert_int_equal(mkdir(tu_tmp("emptydir"), 0755), 0);
    assert_int_equal(bpe_load(tu_tmp("emptydir"), &t), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "tokenizer.json"));
    bpe_free(NULL);
    // fuzz_tokjson's first finding: post_processor BOS/EOS ids (49406/49407)
    // beyond an 814-id vocab were accepted and emitted by every encode.
    const char *pp = "fuzz/seeds/fuzz_tokjson/regress-post-processor-ids.json";
    assert_int_equal(bpe_load(pp, &t), LISA_EFORMAT);
    assert_null(t);
    assert_non_null(strstr(lisa_errmsg(), "not in the vocab"));
    // Its second: an 89-byte end_of_word_suffix overflowed a 16-byte buffer.
    assert_int_equal(bpe_load("fuzz/seeds/fuzz_tokjson/regress-long-eow.json", &t), LISA_EFORMAT);
    assert_null(t);
    assert_non_null(strstr(lisa_errmsg(), "end_of_word_suffix is 89 bytes; the limit is 16"));
}

static void *encode_all(void *arg)
{
    int *ok = arg;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < g_n; i++) {
            int32_t ids[BIG];
            int n;
            const golden *g = &g_cases[i];
            *ok += !bpe_encode(g_tok, (const char *)g->bytes, g->len, ids, BIG, &n) && n == g->n &&
                   !memcmp(ids, g->ids, (size_t)n * sizeof *ids);
        }
    return NULL;
}

// One tokenizer shared by threads (the piece cache is the shared state).
static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    int ok[4] = {0};
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, encode_all, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ok[i], 3 * g_n);
    }
}

// Not a check: prints load time and encode throughput for the report.
static void test_speed(void **state)
{
    (void)state;
    int32_t ids[BPE_CONTEXT_LEN];
    int n;
    size_t bytes = 0, toks = 0;
    double t0 = mono_ms();
    int reps = 20;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < g_n; i++) {
            assert_int_equal(
                bpe_encode(g_tok, (const char *)g_cases[i].bytes, g_cases[i].len, ids, BPE_CONTEXT_LEN, &n), 0);
            bytes += g_cases[i].len, toks += (size_t)n;
        }
    double ms = mono_ms() - t0, best = g_load_ms;
    for (int r = 0; r < 5; r++) {
        bpe_tok *t;
        double l0 = mono_ms();
        assert_int_equal(bpe_load(CLIP_JSON, &t), 0);
        double l = mono_ms() - l0;
        best = l < best ? l : best;
        bpe_free(t);
    }
    printf("bpe speed: load %.1f ms first, %.1f ms best of 6; encode %d texts x %d: %.2f us/text, "
           "%.1f MB/s, %.2f Mtok/s\n",
           g_load_ms, best, g_n, reps, ms * 1e3 / (reps * g_n), bytes / ms / 1e3, toks / ms / 1e3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens_match), cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_random_bytes),  cmocka_unit_test(test_long_piece),
        cmocka_unit_test(test_decode),        cmocka_unit_test(test_vocab_merges_layout),
        cmocka_unit_test(test_load_errors),   cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("bpe", tests, setup, teardown);
}
