// BERT uncased WordPiece (see wordpiece.h for the pipeline and its sources).
#include "caption/wordpiece.h"
#include "base/err.h"
#include "base/file.h"
#include "base/json.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

struct wp_tok {
    char **tok;     // n tokens by id (NULL for an id without a token), owned
    int n;          // vocabulary size (largest id + 1)
    int32_t *slots; // open-addressing table of id + 1 (0: empty), mask + 1 slots
    uint32_t mask;
};

static const char *const SPECIAL[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
static const int32_t SPECIAL_ID[] = {WP_PAD, WP_UNK, WP_CLS, WP_SEP, WP_MASK};
#define NSPECIAL 5

/* ---------------------------------------------------------------- vocabulary */

// FNV-1a over prefix then s[0..len).
static uint32_t hash2(const char *prefix, const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (; prefix && *prefix; prefix++) h = (h ^ (uint8_t)*prefix) * 16777619u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

// The id of prefix + s[0..len), or -1.
static int32_t find(const wp_tok *t, const char *prefix, const char *s, size_t len)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    for (uint32_t i = hash2(prefix, s, len) & t->mask;; i = (i + 1) & t->mask) {
        int32_t v = t->slots[i];
        if (!v) return -1;
        const char *k = t->tok[v - 1];
        if (strlen(k) == pl + len && (!pl || !memcmp(k, prefix, pl)) && !memcmp(k + pl, s, len)) return v - 1;
    }
}

int32_t wp_token_id(const wp_tok *t, const char *s)
{
    return find(t, NULL, s, strlen(s));
}

int wp_vocab_size(const wp_tok *t)
{
    return t->n;
}

void wp_free(wp_tok *t)
{
    if (!t) return;
    for (int i = 0; t->tok && i < t->n; i++) free(t->tok[i]);
    free(t->tok);
    free(t->slots);
    free(t);
}

// Builds the hash table over t->tok and checks the special tokens' ids.
static int index_vocab(wp_tok *t, const char *path)
{
    uint32_t cap = 1;
    while (cap < 2u * (uint32_t)t->n + 2) cap <<= 1;
    if (!(t->slots = calloc(cap, sizeof *t->slots))) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    t->mask = cap - 1;
    for (int id = 0; id < t->n; id++) {
        const char *k = t->tok[id];
        if (!k) continue;
        if (strlen(k) > 1000) return lisa_seterr(LISA_EFORMAT, "%s: token %d is over 1000 bytes", path, id);
        if (find(t, NULL, k, strlen(k)) >= 0)
            return lisa_seterr(LISA_EFORMAT, "%s: token \"%s\" appears twice (ids %d and %d)", path, k,
                               find(t, NULL, k, strlen(k)), id);
        uint32_t i = hash2(NULL, k, strlen(k)) & t->mask;
        while (t->slots[i]) i = (i + 1) & t->mask;
        t->slots[i] = id + 1;
    }
    for (int i = 0; i < NSPECIAL; i++)
        if (SPECIAL_ID[i] >= t->n || !t->tok[SPECIAL_ID[i]] || strcmp(t->tok[SPECIAL_ID[i]], SPECIAL[i]))
            return lisa_seterr(LISA_EFORMAT, "%s: id %d must be %s (a BERT uncased vocabulary)", path, SPECIAL_ID[i],
                               SPECIAL[i]);
    return 0;
}

static int load_vocab_txt(const char *path, wp_tok *t)
{
    char *buf;
    size_t len;
    int rc = lisa_read_file(path, WP_MAX_FILE, &buf, &len);
    if (rc < 0) return rc;
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') lines++;
    if (lines > WP_MAX_VOCAB) {
        free(buf);
        return lisa_seterr(LISA_ETOOBIG, "%s: %d tokens (at most %d)", path, lines, WP_MAX_VOCAB);
    }
    if (!(t->tok = calloc((size_t)(lines ? lines : 1), sizeof *t->tok))) {
        free(buf);
        return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    }
    t->n = lines;
    size_t s = 0;
    for (int id = 0; id < lines; id++) {
        size_t e = s;
        while (e < len && buf[e] != '\n') e++;
        if (!(t->tok[id] = strndup(buf + s, e - s))) {
            free(buf);
            return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
        }
        s = e + 1;
    }
    free(buf);
    return 0;
}

static int load_tokenizer_json(const char *path, wp_tok *t)
{
    cJSON *root;
    int rc = lisa_read_json(path, WP_MAX_FILE, &root);
    if (rc < 0) return rc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "WordPiece") || !cJSON_IsObject(vocab)) {
        rc = lisa_seterr(LISA_EUNSUPPORTED, "%s: model is not a WordPiece model with a vocab object", path);
        goto out;
    }
    int max = -1;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= WP_MAX_VOCAB ||
            e->valuedouble != (int)e->valuedouble) {
            rc = lisa_seterr(LISA_EFORMAT, "%s: model.vocab.\"%s\": not an id in 0..%d", path, e->string,
                             WP_MAX_VOCAB - 1);
            goto out;
        }
        if (e->valueint > max) max = e->valueint;
    }
    t->n = max + 1;
    if (!(t->tok = calloc((size_t)(t->n ? t->n : 1), sizeof *t->tok))) {
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    cJSON_ArrayForEach(e, vocab)
    {
        if (t->tok[e->valueint]) {
            rc = lisa_seterr(LISA_EFORMAT, "%s: model.vocab: id %d is given twice", path, e->valueint);
            goto out;
        }
        if (!(t->tok[e->valueint] = strdup(e->string))) {
            rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
            goto out;
        }
    }
out:
    cJSON_Delete(root);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int wp_load_file(const char *path, wp_tok **out)
{
    *out = NULL;
    wp_tok *t = calloc(1, sizeof *t);
    if (!t) return lisa_seterr(LISA_ENOMEM, "wordpiece: out of memory");
    int rc = ends_with(path, ".json") ? load_tokenizer_json(path, t) : load_vocab_txt(path, t);
    if (rc == 0) rc = index_vocab(t, path);
    if (rc < 0) {
        wp_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int wp_load(const char *dir, wp_tok **out)
{
    char path[4096];
    struct stat st;
    *out = NULL;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (stat(path, &st) == 0) return wp_load_file(path, out);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (stat(path, &st) == 0) return wp_load_file(path, out);
    return lisa_seterr(LISA_ENOTFOUND, "%s: no vocab.txt or tokenizer.json (the BLIP tokenizer)", dir);
}

/* ---------------------------------------------------------------- character classes */

static int is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

static int is_space(int32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_punct(int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static int is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, int32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return -1;
        b->v = v, b->cap = cap;
    }
    b->v[b->n++] = c;
    return 0;
}

typedef struct {
    int32_t *ids;
    int cap, n;
} idbuf;

static void id_push(idbuf *o, int32_t id)
{
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

// One normalized code point c (lowercased, decomposed, marks dropped) into b.
static int push_folded(cpbuf *b, int32_t c)
{
    utf8proc_int32_t d[16];
    int last = 0;
    if (c == 0x130) return cp_push(b, 'i'); // "i\u0307", and the mark goes
    utf8proc_ssize_t k = utf8proc_decompose_char(utf8proc_tolower(c), d, 16, UTF8PROC_DECOMPOSE, &last);
    if (k < 0 || k > 16) return cp_push(b, utf8proc_tolower(c));
    for (utf8proc_ssize_t i = 0; i < k; i++)
        if (utf8proc_category(d[i]) != UTF8PROC_CATEGORY_MN && cp_push(b, d[i]) < 0) return -1;
    return 0;
}

// BertNormalizer over s[0..len) into b (whitespace already as ' ').
static int normalize(const char *s, size_t len, cpbuf *b)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 1) k = 1, c = 0xFFFD;
        i += (size_t)k;
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_space(c)) c = ' ';
        int rc = is_cjk(c) ? (cp_push(b, ' ') | push_folded(b, c) | cp_push(b, ' ')) : push_folded(b, c);
        if (rc < 0) return -1;
    }
    return 0;
}

// WordPiece of one word (k code points) into o.
static int wordpiece(const wp_tok *t, const int32_t *w, size_t k, idbuf *o)
{
    uint8_t bytes[4 * WP_MAX_WORD];
    size_t off[WP_MAX_WORD + 1];
    if (k > WP_MAX_WORD) {
        id_push(o, WP_UNK);
        return 0;
    }
    off[0] = 0;
    for (size_t i = 0; i < k; i++) off[i + 1] = off[i] + (size_t)utf8proc_encode_char(w[i], bytes + off[i]);
    int first = o->n;
    for (size_t start = 0; start < k;) {
        size_t end = k;
        int32_t id = -1;
        for (; end > start; end--)
            if ((id = find(t, start ? "##" : NULL, (const char *)bytes + off[start], off[end] - off[start])) >= 0)
                break;
        if (id < 0) {
            o->n = first;
            id_push(o, WP_UNK);
            return 0;
        }
        id_push(o, id);
        start = end;
    }
    return 0;
}

// Normalizes, splits and WordPieces s[0..len) (no special tokens in it) into o.
static int encode_plain(const wp_tok *t, const char *s, size_t len, idbuf *o)
{
    cpbuf b = {0};
    int rc = 0;
    if (normalize(s, len, &b) < 0) {
        free(b.v);
        return lisa_seterr(LISA_ENOMEM, "wordpiece: out of memory");
    }
    size_t w0 = 0;
    for (size_t i = 0; i <= b.n; i++) {
        int end = i == b.n || b.v[i] == ' ' || is_punct(b.v[i]);
        if (!end) continue;
        if (i > w0) wordpiece(t, b.v + w0, i - w0, o);
        if (i < b.n && b.v[i] != ' ') wordpiece(t, b.v + i, 1, o);
        w0 = i + 1;
    }
    free(b.v);
    return rc;
}

// Index of the special token written at s (n bytes left), or -1.
static int special_at(const char *s, size_t n)
{
    for (int i = 0; i < NSPECIAL; i++) {
        size_t l = strlen(SPECIAL[i]);
        if (n >= l && !memcmp(s, SPECIAL[i], l)) return i;
    }
    return -1;
}

int wp_encode(const wp_tok *t, const char *text, size_t len, int32_t *ids, int cap, int *n)
{
    idbuf o = {ids, cap, 0};
    *n = 0;
    if (len > WP_MAX_TEXT)
        return lisa_seterr(LISA_ETOOBIG, "wordpiece: text of %zu bytes (at most %u)", len, WP_MAX_TEXT);
    id_push(&o, WP_CLS);
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        int sp = i < len && text[i] == '[' ? special_at(text + i, len - i) : -1;
        if (i < len && sp < 0) continue;
        int rc = encode_plain(t, text + seg, i - seg, &o);
        if (rc < 0) return rc;
        if (sp >= 0) {
            id_push(&o, SPECIAL_ID[sp]);
            i += strlen(SPECIAL[sp]) - 1;
        }
        seg = i + 1;
    }
    id_push(&o, WP_SEP);
    *n = o.n;
    return 0;
}

/* ---------------------------------------------------------------- decoding */

// clean_up_tokenization: each pair in order, every non-overlapping occurrence
// left to right (Python's str.replace). In place: no pair grows the text.
static void cleanup(char *s)
{
    static const char *const pairs[][2] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        const char *from = pairs[p][0], *to = pairs[p][1];
        size_t fl = strlen(from), tl = strlen(to);
        char *r = s, *w = s;
        while (*r) {
            if (!strncmp(r, from, fl)) {
                memmove(w, to, tl);
                w += tl, r += fl;
            } else {
                *w++ = *r++;
            }
        }
        *w = 0;
    }
}

static int is_special_id(int32_t id)
{
    for (int i = 0; i < NSPECIAL; i++)
        if (id == SPECIAL_ID[i]) return 1;
    return 0;
}

int wp_decode(const wp_tok *t, const int32_t *ids, int n, int skip_special, char **out)
{
    size_t cap = 1;
    *out = NULL;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->n && t->tok[ids[i]]) cap += strlen(t->tok[ids[i]]) + 1;
    char *s = malloc(cap), piece[1024];
    if (!s) return lisa_seterr(LISA_ENOMEM, "wordpiece: out of memory");
    size_t len = 0;
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n || !t->tok[ids[i]] || (skip_special && is_special_id(ids[i]))) continue;
        const char *k = t->tok[ids[i]];
        if (first)
            snprintf(piece, sizeof piece, "%s", k);
        else if (!strncmp(k, "##", 2))
            snprintf(piece, sizeof piece, "%s", k + 2);
        else
            snprintf(piece, sizeof piece, " %s", k);
        first = 0;
        cleanup(piece);
        size_t pl = strlen(piece);
        memcpy(s + len, piece, pl);
        len += pl;
    }
    s[len] = 0;
    cleanup(s);
    *out = s;
    return 0;
}
