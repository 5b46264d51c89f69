// CLIP byte-level BPE: loading (tokenizer.json or vocab.json + merges.txt),
// normalization, pre-tokenization, BPE merges, cache. See bpe.h for the contract.
#include "clip/bpe.h"

#include "base/err.h"
#include "base/json.h"
#include "base/file.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define MAX_ADDED 64          // added tokens kept for literal matching
#define CLIP_MERGES_MAX 48894 // HF CLIPTokenizer reads merges.txt[1 : 49152-256-2+1]
#define CACHE_SLOTS 4096      // direct-mapped piece cache (power of two)
#define CACHE_BYTES 30        // pieces longer than this are not cached
#define CACHE_IDS 8           // nor pieces that give more ids than this
#define BPE_MAX_EOW 16        // longest end_of_word_suffix accepted ("</w>" is 4)

static const char CLIP_SPLIT[] = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

typedef struct {
    uint64_t key; // (left id << 32) | right id; EMPTY_KEY when free
    int32_t rank;
    int32_t id; // id of the merged token
} merge_slot;

#define EMPTY_KEY UINT64_MAX

typedef struct {
    uint32_t hash; // of the token text
    int32_t id;    // -1: empty slot
} vocab_slot;

typedef struct {
    uint32_t hash; // of the piece bytes; slot unused while nbytes == 0
    uint8_t nbytes, nids;
    char bytes[CACHE_BYTES];
    int32_t ids[CACHE_IDS];
} cache_slot;

typedef struct {
    pthread_mutex_t mu;
    cache_slot slot[CACHE_SLOTS];
} bpe_cache;

typedef struct {
    char *s; // UTF-8 content, NUL-terminated
    size_t len;
    int32_t id;
} added_tok;

struct bpe_tok {
    int32_t n_vocab;  // largest id + 1
    char **id_str;    // (n_vocab) token text per id (in arena), NULL for holes
    uint32_t *id_len; // (n_vocab) its length in bytes
    char *arena;      // all token texts, NUL-terminated
    size_t arena_used, arena_cap;
    vocab_slot *vtab; // vocab hash
    uint32_t vmask;
    merge_slot *mtab; // merge hash
    uint32_t mmask;
    int32_t byte_id[256], byte_eow_id[256]; // byte -> id of its char (+ "</w>"), -1 missing
    int16_t char_byte[0x144];               // byte-level char -> its byte, -1 none
    int32_t bos, eos, unk;
    char *eow; // end-of-word suffix ("</w>"), at most BPE_MAX_EOW bytes
    size_t eow_len;
    added_tok added[MAX_ADDED];
    int n_added;
    uint8_t added_first[256]; // 1 for bytes an added token starts with
    bpe_cache *cache;
};

// ============================================================================
// Hash tables
// ============================================================================

static uint32_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint32_t h = 2166136261u; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

static uint32_t hash_pair(uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

static uint32_t table_size(size_t n)
{
    uint32_t sz = 1024;
    while (sz < 2 * n) sz <<= 1;
    return sz;
}

// Id of the n-byte token s, or -1.
static int32_t vocab_find(const bpe_tok *t, const char *s, size_t n)
{
    uint32_t h = hash_bytes(s, n);
    for (uint32_t i = h & t->vmask;; i = (i + 1) & t->vmask) {
        const vocab_slot *v = &t->vtab[i];
        if (v->id < 0) return -1;
        if (v->hash == h && t->id_len[v->id] == n && !memcmp(t->id_str[v->id], s, n)) return v->id;
    }
}

static void vocab_insert(bpe_tok *t, int32_t id)
{
    uint32_t h = hash_bytes(t->id_str[id], t->id_len[id]), i = h & t->vmask;
    while (t->vtab[i].id >= 0) i = (i + 1) & t->vmask;
    t->vtab[i] = (vocab_slot){h, id};
}

static const merge_slot *merge_find(const bpe_tok *t, int32_t l, int32_t r)
{
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (uint32_t i = hash_pair(key) & t->mmask;; i = (i + 1) & t->mmask) {
        const merge_slot *m = &t->mtab[i];
        if (m->key == key) return m;
        if (m->key == EMPTY_KEY) return NULL;
    }
}

// ============================================================================
// Building the tables
// ============================================================================

// The GPT-2 byte <-> unicode map: printable Latin-1 bytes stand for themselves,
// the other 68 bytes map to U+0100.. in byte order, so every byte is a visible char.
static uint32_t byte_char(int b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return (uint32_t)b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174)) n++;
    return 256u + (uint32_t)n;
}

// Room for n_vocab ids whose texts take text_bytes (NULs included).
static int vocab_alloc(bpe_tok *t, int32_t n_vocab, size_t text_bytes)
{
    t->n_vocab = n_vocab;
    t->id_str = calloc((size_t)n_vocab, sizeof *t->id_str);
    t->id_len = calloc((size_t)n_vocab, sizeof *t->id_len);
    t->arena = malloc(text_bytes);
    t->arena_cap = text_bytes;
    if (!t->id_str || !t->id_len || !t->arena) return lisa_seterr(LISA_ENOMEM, "tokenizer: vocab of %d ids", n_vocab);
    return 0;
}

static int vocab_set(bpe_tok *t, int32_t id, const char *s, const char *file)
{
    if (id < 0 || id >= t->n_vocab) return lisa_seterr(LISA_EFORMAT, "%s: token id %d out of range", file, id);
    if (t->id_str[id]) return 0; // added tokens repeat vocab entries
    size_t n = strlen(s);
    if (n >= t->arena_cap - t->arena_used) return lisa_seterr(LISA_EFORMAT, "%s: vocab changed", file);
    t->id_str[id] = memcpy(t->arena + t->arena_used, s, n + 1);
    t->id_len[id] = (uint32_t)n;
    t->arena_used += n + 1;
    return 0;
}

static int vocab_index(bpe_tok *t)
{
    t->vmask = table_size((size_t)t->n_vocab) - 1;
    t->vtab = malloc(((size_t)t->vmask + 1) * sizeof *t->vtab);
    if (!t->vtab) return lisa_seterr(LISA_ENOMEM, "tokenizer: vocab index");
    for (uint32_t i = 0; i <= t->vmask; i++) t->vtab[i].id = -1;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->id_str[id]) vocab_insert(t, id);
    return 0;
}

static int merges_alloc(bpe_tok *t, size_t n)
{
    t->mmask = table_size(n) - 1;
    t->mtab = malloc(((size_t)t->mmask + 1) * sizeof *t->mtab);
    if (!t->mtab) return lisa_seterr(LISA_ENOMEM, "tokenizer: %zu merges", n);
    for (uint32_t i = 0; i <= t->mmask; i++) t->mtab[i].key = EMPTY_KEY;
    return 0;
}

// Adds merge "a b" of the given rank. Like HF's Rust BPE, a merge whose parts or
// result are not in the vocab is an error. A repeated pair keeps its first rank.
static int merge_add(bpe_tok *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank, const char *file)
{
    char buf[1024];
    if (na + nb >= sizeof buf) return lisa_seterr(LISA_EFORMAT, "%s: merge %d too long", file, rank);
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    int32_t l = vocab_find(t, a, na), r = vocab_find(t, b, nb), m = vocab_find(t, buf, na + nb);
    if (l < 0 || r < 0 || m < 0)
        return lisa_seterr(LISA_EFORMAT, "%s: merge %d (\"%.*s %.*s\") uses a token not in the vocab", file, rank,
                           (int)na, a, (int)nb, b);
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    uint32_t i = hash_pair(key) & t->mmask;
    while (t->mtab[i].key != EMPTY_KEY && t->mtab[i].key != key) i = (i + 1) & t->mmask;
    if (t->mtab[i].key == EMPTY_KEY) t->mtab[i] = (merge_slot){key, rank, m};
    return 0;
}

static int added_add(bpe_tok *t, const char *s, int32_t id)
{
    if (t->n_added == MAX_ADDED || !*s) return 0;
    added_tok *a = &t->added[t->n_added];
    if (!(a->s = strdup(s))) return lisa_seterr(LISA_ENOMEM, "tokenizer: added token");
    a->len = strlen(s);
    a->id = id;
    t->added_first[(uint8_t)s[0]] = 1;
    t->n_added++;
    return 0;
}

// Byte tables, special ids and the cache, once vocab and merges are in.
static int finish(bpe_tok *t, const char *file)
{
    memset(t->char_byte, 0xFF, sizeof t->char_byte);
    for (int b = 0; b < 256; b++) {
        char s[4 + BPE_MAX_EOW]; // one UTF-8 char, then the suffix
        uint32_t c = byte_char(b);
        t->char_byte[c] = (int16_t)b;
        int n = (int)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)s);
        t->byte_id[b] = vocab_find(t, s, (size_t)n);
        memcpy(s + n, t->eow, t->eow_len);
        t->byte_eow_id[b] = vocab_find(t, s, (size_t)n + t->eow_len);
    }
    if (t->bos < 0) t->bos = vocab_find(t, "<|startoftext|>", 15);
    if (t->eos < 0) t->eos = vocab_find(t, "<|endoftext|>", 13);
    if (t->bos < 0 || t->eos < 0)
        return lisa_seterr(LISA_EFORMAT, "%s: no <|startoftext|> / <|endoftext|> token", file);
    // post_processor's cls / sep ids come unchecked from the file: every id
    // the encoder emits must name a vocab entry (the text tower indexes by it).
    if (t->bos >= t->n_vocab || t->eos >= t->n_vocab || !t->id_str[t->bos] || !t->id_str[t->eos])
        return lisa_seterr(LISA_EFORMAT, "%s: post_processor BOS/EOS ids %d/%d are not in the vocab (%d ids)", file,
                           (int)t->bos, (int)t->eos, (int)t->n_vocab);
    if (t->unk < 0) t->unk = t->eos;
    t->cache = calloc(1, sizeof *t->cache);
    if (!t->cache) return lisa_seterr(LISA_ENOMEM, "tokenizer: cache");
    pthread_mutex_init(&t->cache->mu, NULL);
    return 0;
}

// ============================================================================
// tokenizer.json
// ============================================================================

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *v, int32_t *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= BPE_MAX_VOCAB ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    *out = (int32_t)v->valuedouble;
    return 0;
}

// True if some entry of a "Sequence" (or the object itself) has "type" == type;
// with field/value, that entry must also carry them (pattern.Regex for Split).
static int has_step(const cJSON *o, const char *list, const char *type, const char *regex)
{
    if (!o) return 0;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, list);
    if (!cJSON_IsArray(seq)) seq = NULL;
    const cJSON *it = seq ? seq->child : o;
    for (; it; it = seq ? it->next : NULL) {
        const char *ty = jstr(it, "type");
        if (!ty || strcmp(ty, type)) continue;
        if (!regex) return 1;
        const char *re = jstr(cJSON_GetObjectItemCaseSensitive(it, "pattern"), "Regex");
        if (re && !strcmp(re, regex)) return 1;
    }
    return 0;
}

// This file implements CLIP's pipeline only; refuse a tokenizer.json that asks
// for another, rather than give silently different ids.
static int check_pipeline(const cJSON *root, const char *file)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *mt = jstr(model, "type");
    if (mt && strcmp(mt, "BPE")) return lisa_seterr(LISA_EUNSUPPORTED, "%s: model type %s, not BPE", file, mt);
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!has_step(norm, "normalizers", "NFC", NULL) || !has_step(norm, "normalizers", "Lowercase", NULL))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: normalizer is not CLIP's (NFC + Lowercase)", file);
    if (!has_step(pre, "pretokenizers", "Split", CLIP_SPLIT) || !has_step(pre, "pretokenizers", "ByteLevel", NULL))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: pre_tokenizer is not CLIP's Split + ByteLevel", file);
    return 0;
}

static int json_vocab(bpe_tok *t, const cJSON *vocab, const cJSON *added, const char *file)
{
    int32_t max = -1, id;
    size_t bytes = 1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab)
    {
        if (jint(v, &id)) return lisa_seterr(LISA_EFORMAT, "%s: vocab \"%s\": bad id", file, v->string);
        if (id > max) max = id;
        bytes += strlen(v->string) + 1;
    }
    cJSON_ArrayForEach(v, added)
    {
        if (jint(cJSON_GetObjectItemCaseSensitive(v, "id"), &id) || !jstr(v, "content"))
            return lisa_seterr(LISA_EFORMAT, "%s: added_tokens: bad entry", file);
        if (id > max) max = id;
        bytes += strlen(jstr(v, "content")) + 1;
    }
    if (max < 0) return lisa_seterr(LISA_EFORMAT, "%s: empty vocab", file);
    int rc = vocab_alloc(t, max + 1, bytes);
    cJSON_ArrayForEach(v, vocab)
    {
        if (!rc) rc = vocab_set(t, (int32_t)v->valuedouble, v->string, file);
    }
    cJSON_ArrayForEach(v, added)
    {
        id = (int32_t)cJSON_GetObjectItemCaseSensitive(v, "id")->valuedouble;
        if (!rc) rc = vocab_set(t, id, jstr(v, "content"), file);
        if (!rc) rc = added_add(t, jstr(v, "content"), id);
    }
    return rc ? rc : vocab_index(t);
}

// Merges come as "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs.
static int json_merges(bpe_tok *t, const cJSON *merges, const char *file)
{
    int rc = merges_alloc(t, (size_t)cJSON_GetArraySize(merges));
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        if (rc) break;
        const char *a = NULL, *b = NULL, *sp;
        size_t na = 0;
        if (cJSON_IsString(m) && (sp = strchr(m->valuestring, ' '))) {
            a = m->valuestring, na = (size_t)(sp - a), b = sp + 1;
        } else if (cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            a = m->child->valuestring, na = strlen(a), b = m->child->next->valuestring;
        }
        if (!a) return lisa_seterr(LISA_EFORMAT, "%s: merge %d is not \"a b\"", file, rank);
        rc = merge_add(t, a, na, b, strlen(b), rank++, file);
    }
    return rc;
}

static int special_id(const cJSON *post, const char *key, int32_t *out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(post, key); // ["<|x|>", id]
    if (cJSON_GetArraySize(p) == 2) return jint(p->child->next, out);
    return -1;
}

static int load_tokenizer_json(bpe_tok *t, const char *file)
{
    cJSON *root;
    int rc = lisa_read_json(file, BPE_MAX_FILE, &root);
    if (rc) return rc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if ((rc = check_pipeline(root, file))) goto out;
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        rc = lisa_seterr(LISA_EFORMAT, "%s: model.vocab / model.merges missing", file);
        goto out;
    }
    const char *eow = jstr(model, "end_of_word_suffix");
    if (!(t->eow = strdup(eow ? eow : ""))) {
        rc = lisa_seterr(LISA_ENOMEM, "%s", file);
        goto out;
    }
    t->eow_len = strlen(t->eow);
    if (t->eow_len > BPE_MAX_EOW) {
        rc = lisa_seterr(LISA_EFORMAT, "%s: model.end_of_word_suffix is %zu bytes; the limit is %d", file, t->eow_len,
                         BPE_MAX_EOW);
        goto out;
    }
    if ((rc = json_vocab(t, vocab, added, file)) || (rc = json_merges(t, merges, file))) goto out;
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = vocab_find(t, unk, strlen(unk));
    if (special_id(post, "cls", &t->bos) || special_id(post, "sep", &t->eos)) t->bos = t->eos = -1;
    rc = finish(t, file);
out:
    cJSON_Delete(root);
    return rc;
}

// ============================================================================
// vocab.json + merges.txt
// ============================================================================

static int load_merges_txt(bpe_tok *t, const char *file)
{
    char *buf = NULL;
    size_t len;
    int rc = lisa_read_file(file, BPE_MAX_FILE, &buf, &len);
    if (rc) return rc;
    if ((rc = merges_alloc(t, CLIP_MERGES_MAX))) goto out;
    int32_t rank = 0;
    for (char *line = buf, *end; line < buf + len && rank < CLIP_MERGES_MAX; line = end + 1) {
        end = memchr(line, '\n', (size_t)(buf + len - line));
        if (!end) end = buf + len;
        size_t n = (size_t)(end - line);
        if (n && line[n - 1] == '\r') n--;
        if (line == buf && n >= 8 && !memcmp(line, "#version", 8)) continue;
        if (!n) continue;
        char *sp = memchr(line, ' ', n);
        if (!sp) {
            rc = lisa_seterr(LISA_EFORMAT, "%s: merge line %d is not \"a b\"", file, rank + 1);
            goto out;
        }
        if ((rc = merge_add(t, line, (size_t)(sp - line), sp + 1, n - (size_t)(sp - line) - 1, rank++, file))) goto out;
    }
out:
    free(buf);
    return rc;
}

static int load_vocab_json(bpe_tok *t, const char *vocab_file, const char *merges_file)
{
    cJSON *root;
    int rc = lisa_read_json(vocab_file, BPE_MAX_FILE, &root);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lisa_seterr(LISA_EFORMAT, "%s: not a JSON object", vocab_file);
    }
    rc = json_vocab(t, root, NULL, vocab_file);
    cJSON_Delete(root);
    if (rc) return rc;
    if (!(t->eow = strdup("</w>"))) return lisa_seterr(LISA_ENOMEM, "%s", vocab_file);
    t->eow_len = 4;
    // The CLIP specials are added tokens in this layout too: literal in text.
    static const char *const specials[] = {"<|startoftext|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++) {
        int32_t id = vocab_find(t, specials[i], strlen(specials[i]));
        if (id >= 0 && (rc = added_add(t, specials[i], id))) return rc;
    }
    if ((rc = load_merges_txt(t, merges_file))) return rc;
    return finish(t, vocab_file);
}

// ============================================================================
// Load / free
// ============================================================================

static int is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

// The files to read for path: *json, or *vocab + *merges (buffers of PATH_MAX).
static int resolve(const char *path, char *json, char *vocab, char *merges, size_t cap)
{
    json[0] = vocab[0] = merges[0] = 0;
    if (is_dir(path)) {
        snprintf(json, cap, "%s/tokenizer.json", path);
        if (is_file(json)) return 0;
        json[0] = 0;
        snprintf(vocab, cap, "%s/vocab.json", path);
        snprintf(merges, cap, "%s/merges.txt", path);
    } else if (is_file(path)) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strcmp(base, "vocab.json")) {
            snprintf(json, cap, "%s", path);
            return 0;
        }
        snprintf(vocab, cap, "%s", path);
        snprintf(merges, cap, "%.*smerges.txt", (int)(base - path), path);
    } else {
        return lisa_seterr(LISA_ENOTFOUND, "%s: no such file or directory", path);
    }
    if (is_file(vocab) && !is_file(merges))
        return lisa_seterr(LISA_ENOTFOUND, "%s: missing (needed beside %s)", merges, vocab);
    if (!is_file(vocab))
        return lisa_seterr(LISA_ENOTFOUND, "%s: neither tokenizer.json nor vocab.json + merges.txt found", path);
    return 0;
}

int bpe_load(const char *path, bpe_tok **out)
{
    char json[4096], vocab[4096], merges[4096];
    *out = NULL;
    if (strlen(path) > 4000) return lisa_seterr(LISA_EINVAL, "tokenizer path too long");
    int rc = resolve(path, json, vocab, merges, sizeof json);
    if (rc) return rc;
    bpe_tok *t = calloc(1, sizeof *t);
    if (!t) return lisa_seterr(LISA_ENOMEM, "tokenizer");
    t->bos = t->eos = t->unk = -1;
    rc = json[0] ? load_tokenizer_json(t, json) : load_vocab_json(t, vocab, merges);
    if (rc) {
        bpe_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void bpe_free(bpe_tok *t)
{
    if (!t) return;
    if (t->cache) pthread_mutex_destroy(&t->cache->mu);
    free(t->cache);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].s);
    free(t->eow);
    free(t->mtab);
    free(t->vtab);
    free(t->arena);
    free(t->id_len);
    free(t->id_str);
    free(t);
}

int bpe_vocab_size(const bpe_tok *t)
{
    return t->n_vocab;
}
int32_t bpe_bos(const bpe_tok *t)
{
    return t->bos;
}
int32_t bpe_eos(const bpe_tok *t)
{
    return t->eos;
}

// ============================================================================
// Normalization: UTF-8 repair, NFC, whitespace, lowercase
// ============================================================================

// Copies s to out (room for 3*n bytes), replacing each maximal ill-formed
// subsequence with U+FFFD the way WHATWG's (and so JS's) UTF-8 decoder does.
// Returns the output length.
static size_t utf8_repair(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        int need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            out[o++] = b, i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF)
            need = 1;
        else if (b >= 0xE0 && b <= 0xEF)
            need = 2, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        else if (b >= 0xF0 && b <= 0xF4)
            need = 3, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        size_t j = i + 1;
        int k = 0;
        while (k < need && j < n && s[j] >= lo && s[j] <= hi) lo = 0x80, hi = 0xBF, j++, k++;
        if (need && k == need) {
            memcpy(out + o, s + i, j - i), o += j - i;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3), o += 3;
        }
        i = need ? j : i + 1;
    }
    return o;
}

// JS's \s (ECMAScript WhiteSpace + LineTerminator), which the goldens follow.
static int is_space(int32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int is_letter(int32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(int32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

// Unicode "Cased" and "Case_Ignorable", as far as utf8proc's tables tell them:
// enough for the Final_Sigma rule below.
static int is_cased(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

static int is_case_ignorable(int32_t c)
{
    switch (c) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0x5E:
    case 0x60:
    case 0xA8:
    case 0xAD:
    case 0xAF:
    case 0xB4:
    case 0xB7:
    case 0xB8:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A: return 1;
    }
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

// Σ at cp[i] lowercases to final ς when a cased letter precedes it and none
// follows it (skipping case-ignorables both ways): Unicode's Final_Sigma.
static int final_sigma(const int32_t *cp, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable(cp[j - 1])) j--;
    if (j == 0 || !is_cased(cp[j - 1])) return 0;
    for (j = i + 1; j < n && is_case_ignorable(cp[j]); j++) {}
    return j == n || !is_cased(cp[j]);
}

// Replaces every whitespace run of cp[0..n) by one space, then lowercases into
// out (room for 2*n: U+0130 grows to two code points). Returns the new length.
static size_t fold_lower(int32_t *cp, size_t n, int32_t *out)
{
    size_t m = 0;
    int in_space = 0;
    for (size_t i = 0; i < n; i++) {
        int sp = is_space(cp[i]);
        if (!sp || !in_space) cp[m++] = sp ? ' ' : cp[i];
        in_space = sp;
    }
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        int32_t c = cp[i];
        if (c < 0x80)
            out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        else if (c == 0x130)
            out[o++] = 'i', out[o++] = 0x307;
        else if (c == 0x3A3)
            out[o++] = final_sigma(cp, m, i) ? 0x3C2 : 0x3C3;
        else
            out[o++] = utf8proc_tolower(c);
    }
    return o;
}

// ============================================================================
// BPE merges over one piece
// ============================================================================

#define DEAD INT32_MIN

typedef struct {
    uint64_t key;  // rank << 32 | left position: pop order (rank, then leftmost)
    int32_t right; // right symbol's position when pushed
    int32_t pad;
} heap_ent;

typedef struct {
    heap_ent *e;
    int n;
} heap;

static void heap_push(heap *h, heap_ent x)
{
    int i = h->n++;
    while (i > 0 && h->e[(i - 1) / 2].key > x.key) h->e[i] = h->e[(i - 1) / 2], i = (i - 1) / 2;
    h->e[i] = x;
}

static heap_ent heap_pop(heap *h)
{
    heap_ent top = h->e[0], x = h->e[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->e[c + 1].key < h->e[c].key) c++;
        if (h->e[c].key >= x.key) break;
        h->e[i] = h->e[c], i = c;
    }
    if (h->n) h->e[i] = x;
    return top;
}

static void push_pair(const bpe_tok *t, heap *h, const int32_t *id, int32_t l, int32_t r)
{
    if (id[l] < 0 || id[r] < 0) return; // a byte missing from the vocab: no merges
    const merge_slot *m = merge_find(t, id[l], id[r]);
    if (m) heap_push(h, (heap_ent){(uint64_t)m->rank << 32 | (uint32_t)l, r, 0});
}

// Scratch for n symbols: a heap of 3n entries (n-1 initial pairs, at most two
// new pairs per merge), then id, next, prev (int32 each): 60 bytes a symbol.
typedef struct {
    int32_t *id, *next, *prev;
    heap h;
} bpe_scratch;

static size_t scratch_bytes(size_t n)
{
    return n * (3 * sizeof(int32_t) + 3 * sizeof(heap_ent));
}

static void scratch_init(bpe_scratch *s, void *mem, size_t n)
{
    s->h.e = mem;
    s->h.n = 0;
    s->id = (int32_t *)(s->h.e + 3 * n);
    s->next = s->id + n;
    s->prev = s->next + n;
}

// Merges the n bytes of one piece (n >= 1); writes its ids to out (room for n)
// and returns their count. Symbols start as one per byte, the last one carrying
// the end-of-word suffix; the lowest-ranked adjacent pair merges first.
static int bpe_merge(const bpe_tok *t, const uint8_t *b, int n, bpe_scratch *s, int32_t *out)
{
    for (int i = 0; i < n; i++) {
        s->id[i] = i == n - 1 ? t->byte_eow_id[b[i]] : t->byte_id[b[i]];
        s->next[i] = i + 1 < n ? i + 1 : -1;
        s->prev[i] = i - 1;
    }
    for (int i = 0; i + 1 < n; i++) push_pair(t, &s->h, s->id, i, i + 1);
    while (s->h.n) {
        heap_ent e = heap_pop(&s->h);
        int32_t l = (int32_t)(uint32_t)e.key, r = e.right;
        if (s->id[l] == DEAD || s->next[l] != r) continue;       // stale: a side merged away
        const merge_slot *m = merge_find(t, s->id[l], s->id[r]); // each rank is one pair
        if (!m || (uint64_t)m->rank != e.key >> 32) continue;
        s->id[l] = m->id;
        s->id[r] = DEAD;
        s->next[l] = s->next[r];
        if (s->next[l] >= 0) s->prev[s->next[l]] = l;
        if (s->prev[l] >= 0) push_pair(t, &s->h, s->id, s->prev[l], l);
        if (s->next[l] >= 0) push_pair(t, &s->h, s->id, l, s->next[l]);
    }
    int k = 0;
    for (int i = 0; i >= 0; i = s->next[i]) out[k++] = s->id[i] >= 0 ? s->id[i] : t->unk;
    return k;
}

// ============================================================================
// Piece cache: pieces (words) repeat, so their ids are remembered in a small
// direct-mapped table. A lookup that would wait for the lock just misses.
// ============================================================================

static int cache_get(const bpe_tok *t, const uint8_t *b, int n, uint32_t h, int32_t *out)
{
    if (n > CACHE_BYTES || pthread_mutex_trylock(&t->cache->mu)) return -1;
    const cache_slot *c = &t->cache->slot[h & (CACHE_SLOTS - 1)];
    int k = -1;
    if (c->nbytes == n && c->hash == h && !memcmp(c->bytes, b, (size_t)n)) {
        k = c->nids;
        memcpy(out, c->ids, (size_t)k * sizeof *out);
    }
    pthread_mutex_unlock(&t->cache->mu);
    return k;
}

static void cache_put(const bpe_tok *t, const uint8_t *b, int n, uint32_t h, const int32_t *ids, int k)
{
    if (n > CACHE_BYTES || k > CACHE_IDS || pthread_mutex_trylock(&t->cache->mu)) return;
    cache_slot *c = &t->cache->slot[h & (CACHE_SLOTS - 1)];
    c->hash = h;
    c->nbytes = (uint8_t)n;
    c->nids = (uint8_t)k;
    memcpy(c->bytes, b, (size_t)n);
    memcpy(c->ids, ids, (size_t)k * sizeof *ids);
    pthread_mutex_unlock(&t->cache->mu);
}

// ============================================================================
// Encode
// ============================================================================

typedef struct {
    const bpe_tok *t;
    int32_t *ids; // caller's; ids[0] is BOS
    int n, cap;   // ids written; content may fill ids[1..cap)
    int32_t *cp;  // code points of the current section
    size_t cp_cap;
    int32_t *low; // the same, folded and lowercased
    size_t low_cap;
    uint8_t *piece; // UTF-8 of one piece, then its ids scratch
    size_t piece_cap;
} enc;

static int is_full(const enc *e)
{
    return e->n >= e->cap;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t bytes;
    if (lisa_mul(need, elem, &bytes)) return lisa_seterr(LISA_ETOOBIG, "tokenizer: text too long");
    void *q = realloc(*p, bytes);
    if (!q) return lisa_seterr(LISA_ENOMEM, "tokenizer: %zu bytes of scratch", bytes);
    *p = q, *cap = need;
    return 0;
}

// BPE ids of the code points c[0..n) appended to e->ids, as far as they fit.
// e->piece holds, for up to 4n UTF-8 bytes: BPE scratch, the ids, the bytes.
static int emit_piece(enc *e, const int32_t *c, size_t n)
{
    size_t nb_max = 4 * n, nb = 0;
    size_t need = scratch_bytes(nb_max) + nb_max * sizeof(int32_t) + nb_max;
    int rc = grow((void **)&e->piece, &e->piece_cap, need, 1);
    if (rc) return rc;
    int32_t *out = (int32_t *)(e->piece + scratch_bytes(nb_max));
    uint8_t *b = (uint8_t *)(out + nb_max);
    for (size_t i = 0; i < n; i++) nb += (size_t)utf8proc_encode_char(c[i], b + nb);
    uint32_t h = hash_bytes(b, nb);
    int k = cache_get(e->t, b, (int)nb, h, out);
    if (k < 0) {
        bpe_scratch s;
        scratch_init(&s, e->piece, nb);
        k = bpe_merge(e->t, b, (int)nb, &s, out);
        cache_put(e->t, b, (int)nb, h, out, k);
    }
    for (int i = 0; i < k && !is_full(e); i++) e->ids[e->n++] = out[i];
    return 0;
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) at c[i] == '\'', or 0.
static size_t contraction(const int32_t *c, size_t n, size_t i)
{
    int32_t a = i + 1 < n ? c[i + 1] : 0, b = i + 2 < n ? c[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

// The CLIP split: contractions, letter runs, single digits, runs of anything
// else but whitespace; whitespace is dropped. Alternatives are tried in the
// regex's order at each position, as a backtracking regex engine does.
static int pretokenize(enc *e, const int32_t *c, size_t n)
{
    for (size_t i = 0, j; i < n && !is_full(e); i = j) {
        if (is_space(c[i])) {
            j = i + 1;
            continue;
        }
        size_t k = c[i] == '\'' ? contraction(c, n, i) : 0;
        if (k)
            j = i + k;
        else if (is_letter(c[i]))
            for (j = i + 1; j < n && is_letter(c[j]); j++) {}
        else if (is_number(c[i]))
            j = i + 1;
        else
            for (j = i + 1; j < n && !is_space(c[j]) && !is_letter(c[j]) && !is_number(c[j]); j++) {}
        int rc = emit_piece(e, c + i, j - i);
        if (rc) return rc;
    }
    return 0;
}

#define NFC_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE)

// Text below U+0300 (every byte < 0xCC) is already NFC: all such code points
// have NFC_Quick_Check=Yes and combining class 0. Decodes it into cp (room for
// n) and returns the count, or -1 to take the utf8proc path. A third of the
// encode time for ASCII queries went to utf8proc before this.
static utf8proc_ssize_t nfc_fast(const uint8_t *s, size_t n, int32_t *cp)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0xCC) return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        cp[m++] = s[i] < 0x80 ? s[i] : ((s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F)), i += s[i] >= 0x80;
    return (utf8proc_ssize_t)m;
}

// NFC of n bytes of valid UTF-8 into e->cp through utf8proc; *m gets the count.
static int nfc_slow(enc *e, const uint8_t *s, size_t n, size_t *m)
{
    utf8proc_ssize_t k = utf8proc_decompose(s, (utf8proc_ssize_t)n, e->cp, (utf8proc_ssize_t)e->cp_cap, NFC_OPTS);
    if (k > (utf8proc_ssize_t)e->cp_cap) { // decomposition grew past the buffer
        int rc = grow((void **)&e->cp, &e->cp_cap, (size_t)k, sizeof *e->cp);
        if (rc) return rc;
        k = utf8proc_decompose(s, (utf8proc_ssize_t)n, e->cp, (utf8proc_ssize_t)e->cp_cap, NFC_OPTS);
    }
    if (k >= 0) k = utf8proc_normalize_utf32(e->cp, k, NFC_OPTS);
    if (k < 0) return lisa_seterr(LISA_EFORMAT, "tokenizer: NFC: %s", utf8proc_errmsg(k));
    *m = (size_t)k;
    return 0;
}

// One stretch of valid UTF-8 between added tokens: normalize, split, merge.
static int encode_section(enc *e, const uint8_t *s, size_t n)
{
    if (!n || is_full(e)) return 0;
    int rc = grow((void **)&e->cp, &e->cp_cap, n, sizeof *e->cp);
    if (rc) return rc;
    utf8proc_ssize_t fast = nfc_fast(s, n, e->cp);
    size_t m = (size_t)fast;
    if (fast < 0 && (rc = nfc_slow(e, s, n, &m))) return rc;
    if ((rc = grow((void **)&e->low, &e->low_cap, 2 * m, sizeof *e->low))) return rc;
    return pretokenize(e, e->low, fold_lower(e->cp, m, e->low));
}

// The longest added token at s[0..n), or NULL.
static const added_tok *added_at(const bpe_tok *t, const uint8_t *s, size_t n)
{
    const added_tok *best = NULL;
    for (int i = 0; i < t->n_added; i++) {
        const added_tok *a = &t->added[i];
        if (a->len <= n && (!best || a->len > best->len) && !memcmp(s, a->s, a->len)) best = a;
    }
    return best;
}

// Cuts the repaired text at added tokens (matched literally, longest first, as
// HF does before normalizing) and encodes the stretches between them.
static int encode_text(enc *e, const uint8_t *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n && !is_full(e);) {
        const added_tok *a = e->t->added_first[s[i]] ? added_at(e->t, s + i, n - i) : NULL;
        if (!a) {
            i++;
            continue;
        }
        int rc = encode_section(e, s + start, i - start);
        if (rc) return rc;
        if (!is_full(e)) e->ids[e->n++] = a->id;
        i += a->len, start = i;
    }
    return encode_section(e, s + start, n - start);
}

int bpe_encode(const bpe_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n_ids)
{
    *n_ids = 0;
    if (max_ids < 2) return lisa_seterr(LISA_EINVAL, "tokenizer: max_ids %d < 2", max_ids);
    if (len > BPE_MAX_TEXT)
        return lisa_seterr(LISA_ETOOBIG, "tokenizer: text of %zu bytes (cap %u)", len, BPE_MAX_TEXT);
    if (!text && len) return lisa_seterr(LISA_EINVAL, "tokenizer: NULL text");
    enc e = {.t = t, .ids = ids, .n = 1, .cap = max_ids - 1};
    uint8_t *fixed = malloc(3 * len + 1);
    int rc = fixed ? 0 : lisa_seterr(LISA_ENOMEM, "tokenizer: %zu bytes", 3 * len + 1);
    if (!rc) rc = grow((void **)&e.cp, &e.cp_cap, len + 16, sizeof *e.cp);
    if (!rc) rc = encode_text(&e, fixed, utf8_repair((const uint8_t *)text, len, fixed));
    free(e.piece);
    free(e.low);
    free(e.cp);
    free(fixed);
    if (rc) return rc;
    ids[0] = t->bos;
    ids[e.n++] = t->eos;
    *n_ids = e.n;
    return 0;
}

// ============================================================================
// Decode
// ============================================================================

static int is_added(const bpe_tok *t, int32_t id)
{
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return 1;
    return id == t->bos || id == t->eos;
}

// The byte a byte-level char stands for, or -1 for a char outside the map.
static int char_byte(const bpe_tok *t, int32_t c)
{
    return c >= 0 && c < 0x144 ? t->char_byte[c] : -1;
}

int bpe_decode(const bpe_tok *t, const int32_t *ids, int n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    *len = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || !t->id_str[ids[i]])
            return lisa_seterr(LISA_EINVAL, "tokenizer: id %d not in the vocab", (int)ids[i]);
        if (is_added(t, ids[i])) continue;
        const uint8_t *s = (const uint8_t *)t->id_str[ids[i]];
        while (*s) {
            uint8_t tmp[4];
            size_t w = 1;
            if (t->eow_len && !strncmp((const char *)s, t->eow, t->eow_len)) {
                tmp[0] = ' ', s += t->eow_len;
            } else {
                utf8proc_int32_t c;
                utf8proc_ssize_t k = utf8proc_iterate(s, -1, &c);
                if (k <= 0) return lisa_seterr(LISA_EFORMAT, "tokenizer: token %d is not UTF-8", (int)ids[i]);
                int b = char_byte(t, c);
                if (b >= 0)
                    tmp[0] = (uint8_t)b;
                else
                    w = (size_t)k, memcpy(tmp, s, w);
                s += k;
            }
            if (o + w >= cap) return lisa_seterr(LISA_ETOOBIG, "tokenizer: decode buffer of %zu bytes", cap);
            memcpy(out + o, tmp, w), o += w;
        }
    }
    if (o && out[o - 1] == ' ') o--;
    if (!cap) return lisa_seterr(LISA_ETOOBIG, "tokenizer: decode buffer of 0 bytes");
    out[o] = 0;
    *len = o;
    return 0;
}
