// BLIP's WordPiece tokenizer against Hugging Face's own (JS) tokenizer: the goldens
// in tests/data/tokenizer/blip_goldens.jsonl come from tools/js/blip_tokenize_goldens.mjs.
#include "testutil.h"
#include "base/err.h"
#include "caption/wordpiece.h"

#include <stdio.h>

#define BLIP_DIR "tests/data/tokenizer/blip"
#define GOLDENS "tokenizer/blip_goldens.jsonl"
#define BIG 8192

static wp_tok *g_vocab, *g_json;
static cJSON **g_cases;
static int g_n;

static int setup(void **state)
{
    (void)state;
    if (wp_load_file(BLIP_DIR "/vocab.txt", &g_vocab) < 0 || wp_load_file(BLIP_DIR "/tokenizer.json", &g_json) < 0) {
        fprintf(stderr, "cannot load the BLIP tokenizer: %s\n", lisa_errmsg());
        return -1;
    }
    size_t n;
    char *text = (char *)tu_read(tu_data(GOLDENS), &n);
    for (size_t i = 0; i < n; i++) g_n += text[i] == '\n';
    g_cases = calloc((size_t)g_n, sizeof *g_cases);
    int k = 0;
    for (char *p = text, *e; p < text + n && (e = memchr(p, '\n', (size_t)(text + n - p))); p = e + 1)
        g_cases[k++] = cJSON_ParseWithLength(p, (size_t)(e - p));
    free(text);
    return k == g_n ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < g_n; i++) cJSON_Delete(g_cases[i]);
    free(g_cases);
    wp_free(g_vocab);
    wp_free(g_json);
    return 0;
}

static int32_t *ids_of(const cJSON *a, int *n)
{
    *n = cJSON_GetArraySize(a);
    int32_t *v = malloc((size_t)(*n + 1) * sizeof *v);
    assert_non_null(v);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void print_ids(const char *what, const int32_t *v, int n)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, "\n");
}

static int encode_ok(const wp_tok *t, const cJSON *c)
{
    const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
    const char *hex = cJSON_GetObjectItem(c, "hex")->valuestring;
    char bytes[BIG];
    size_t len = strlen(hex) / 2;
    assert_true(len < BIG);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        bytes[i] = (char)v;
    }
    int nw, n;
    int32_t *want = ids_of(cJSON_GetObjectItem(c, "ids"), &nw), got[BIG];
    assert_int_equal(wp_encode(t, bytes, len, got, BIG, &n), 0);
    int ok = n == nw && !memcmp(got, want, (size_t)n * sizeof *got);
    if (!ok) {
        fprintf(stderr, "encode mismatch on \"%s\"\n", text);
        print_ids("want", want, nw);
        print_ids("got ", got, n < BIG ? n : BIG);
    }
    free(want);
    return ok;
}

static int decode_ok(const wp_tok *t, const cJSON *c)
{
    const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
    int n;
    int32_t *ids = ids_of(cJSON_GetObjectItem(c, "ids"), &n);
    char *got;
    assert_int_equal(wp_decode(t, ids, n, 1, &got), 0);
    int ok = !strcmp(got, want);
    if (!ok) {
        fprintf(stderr, "decode mismatch: want \"%s\" got \"%s\"\n", want, got);
        print_ids("ids", ids, n);
    }
    free(got);
    free(ids);
    return ok;
}

// Every golden, with the vocabulary from vocab.txt and from tokenizer.json.
static void test_goldens(void **state)
{
    (void)state;
    const wp_tok *toks[] = {g_vocab, g_json};
    int enc = 0, dec = 0;
    for (int i = 0; i < g_n; i++) {
        const char *op = cJSON_GetObjectItem(g_cases[i], "op")->valuestring;
        enc += !strcmp(op, "encode"), dec += !strcmp(op, "decode");
    }
    assert_true(enc >= 300 && dec >= 300);
    for (int k = 0; k < 2; k++) {
        int ok_e = 0, ok_d = 0;
        for (int i = 0; i < g_n; i++) {
            const char *op = cJSON_GetObjectItem(g_cases[i], "op")->valuestring;
            if (!strcmp(op, "encode"))
                ok_e += encode_ok(toks[k], g_cases[i]);
            else
                ok_d += decode_ok(toks[k], g_cases[i]);
        }
        printf("wordpiece goldens (%s): encode %d/%d, decode %d/%d\n", k ? "tokenizer.json" : "vocab.txt", ok_e, enc,
               ok_d, dec);
        assert_int_equal(ok_e, enc);
        assert_int_equal(ok_d, dec);
    }
}

// The ids BLIP's prompt and captions use, and the vocabulary facts.
static void test_known_ids(void **state)
{
    (void)state;
    int32_t ids[16];
    int n;
    assert_int_equal(wp_vocab_size(g_vocab), 30522);
    assert_int_equal(wp_token_id(g_vocab, "a"), 1037);
    assert_int_equal(wp_encode(g_vocab, "a picture of", 12, ids, 16, &n), 0);
    assert_int_equal(n, 5);
    int32_t want[] = {101, 1037, 3861, 1997, 102};
    assert_memory_equal(ids, want, sizeof want);
    // Over cap: the full count is reported, only cap ids are written.
    assert_int_equal(wp_encode(g_vocab, "a picture of", 12, ids, 2, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(ids[1], 1037);
    // [DEC] (30522) has no token: dropped, like HF's decode.
    int32_t cap[] = {30522, 1037, 4937, 2006, 1037, wp_token_id(g_vocab, "couch"), 1012, 102};
    char *s;
    assert_int_equal(wp_decode(g_vocab, cap, 8, 1, &s), 0);
    assert_string_equal(s, "a cat on a couch.");
    free(s);
    assert_int_equal(wp_decode(g_vocab, cap, 8, 0, &s), 0);
    assert_string_equal(s, "a cat on a couch. [SEP]");
    free(s);
}

static void test_load_errors(void **state)
{
    (void)state;
    wp_tok *t = NULL;
    assert_int_equal(wp_load(tu_tmpdir(), &t), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "vocab.txt"));
    tu_write(tu_tmp("vocab.txt"), "[PAD]\na\na\n", 10);
    assert_int_equal(wp_load(tu_tmpdir(), &t), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "appears twice"));
    tu_write(tu_tmp("vocab.txt"), "[PAD]\na\n", 8);
    assert_int_equal(wp_load(tu_tmpdir(), &t), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "[UNK]"));
    const char *bpe = "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}";
    tu_write(tu_tmp("tokenizer.json"), bpe, strlen(bpe));
    assert_int_equal(wp_load_file(tu_tmp("tokenizer.json"), &t), LISA_EUNSUPPORTED);
    assert_non_null(strstr(lisa_errmsg(), "tokenizer.json"));
    assert_null(t);
    wp_free(NULL);
}

// Random bytes never crash and always give [CLS] ... [SEP] with valid ids.
static void test_random_bytes(void **state)
{
    (void)state;
    uint32_t x = 12345;
    char buf[256];
    int32_t ids[1024];
    for (int it = 0; it < 2000; it++) {
        size_t len = (x = x * 1103515245u + 12345u) >> 24;
        for (size_t i = 0; i < len; i++) buf[i] = (char)((x = x * 1103515245u + 12345u) >> 16);
        int n;
        assert_int_equal(wp_encode(g_vocab, buf, len, ids, 1024, &n), 0);
        assert_true(n >= 2 && n <= 1024);
        assert_int_equal(ids[0], 101);
        assert_int_equal(ids[n - 1], 102);
        for (int i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < 30522);
        char *s;
        assert_int_equal(wp_decode(g_vocab, ids, n, 1, &s), 0);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_known_ids),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests_name("wordpiece", tests, setup, teardown);
}
