#include "siglip/gemma.h"
#include "base/err.h"
#include "base/json.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define GEMMA_MAX_ADDED 4096

typedef struct {
    uint64_t key; // (left id << 32) | right id; 0 with id < 0: empty
    int32_t rank, id;
} merge_slot;

typedef struct {
    const char *s; // owned by the piece table
    size_t len;
    int32_t id;
} added_tok;

struct gemma_tok {
    char **piece; // n of them, by id
    int n;
    int32_t *vslot; // vocab hash: piece id or -1; vcap slots
    size_t vcap;
    merge_slot *mslot; // mcap slots
    size_t mcap;
    int32_t byte_id[256];
    added_tok *added; // nadded, longest first
    int nadded;
    uint8_t first[256]; // 1 when some added token starts with this byte
    int32_t pad, eos, unk;
    int lower;
};

/* ---------------------------------------------------------------- hash tables */

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 0xCBF29CE484222325u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001B3u;
    return h;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int32_t vocab_find(const gemma_tok *t, const char *s, size_t n)
{
    for (size_t i = fnv(s, n) & (t->vcap - 1);; i = (i + 1) & (t->vcap - 1)) {
        int32_t id = t->vslot[i];
        if (id < 0) return -1;
        if (strlen(t->piece[id]) == n && !memcmp(t->piece[id], s, n)) return id;
    }
}

static const merge_slot *merge_find(const gemma_tok *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = mix(key) & (t->mcap - 1);; i = (i + 1) & (t->mcap - 1)) {
        const merge_slot *m = &t->mslot[i];
        if (m->id < 0) return NULL;
        if (m->key == key) return m;
    }
}

static size_t pow2_above(size_t n)
{
    size_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

/* ---------------------------------------------------------------- loading */

static int bad(const char *path, const char *what)
{
    return lisa_seterr(LISA_EFORMAT, "%s: %s", path, what);
}

static int load_vocab(gemma_tok *t, const cJSON *vocab, const char *path)
{
    int n = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double d = e->valuedouble;
        if (!cJSON_IsNumber(e) || d < 0 || d >= GEMMA_MAX_VOCAB || d != (int)d)
            return lisa_seterr(LISA_EFORMAT, "%s: model.vocab: \"%.40s\": bad id", path, e->string);
        if ((int)d + 1 > n) n = (int)d + 1;
    }
    if (!(t->piece = calloc((size_t)n ? (size_t)n : 1, sizeof *t->piece)))
        return lisa_seterr(LISA_ENOMEM, "gemma tokenizer: out of memory");
    t->n = n;
    t->vcap = pow2_above((size_t)n);
    if (!(t->vslot = malloc(t->vcap * sizeof *t->vslot)))
        return lisa_seterr(LISA_ENOMEM, "gemma tokenizer: out of memory");
    memset(t->vslot, 0xff, t->vcap * sizeof *t->vslot);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int id = (int)e->valuedouble;
        if (t->piece[id]) return lisa_seterr(LISA_EFORMAT, "%s: model.vocab: id %d appears twice", path, id);
        if (!(t->piece[id] = strdup(e->string))) return lisa_seterr(LISA_ENOMEM, "gemma tokenizer: out of memory");
        size_t len = strlen(e->string), i = fnv(e->string, len) & (t->vcap - 1);
        while (t->vslot[i] >= 0) i = (i + 1) & (t->vcap - 1);
        t->vslot[i] = id;
    }
    for (int i = 0; i < n; i++)
        if (!t->piece[i]) return lisa_seterr(LISA_EFORMAT, "%s: model.vocab: id %d is missing", path, i);
    // Gemma has no <0x09>: a tab is the piece "\t". A missing byte piece makes
    // its character <unk>, as tokenizers does.
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = vocab_find(t, s, 6);
    }
    return 0;
}

// One merge: "a b" (tokenizers <= 0.19) or ["a", "b"].
static int merge_pair(const cJSON *e, char *buf, size_t cap, const char **a, const char **b)
{
    if (cJSON_IsString(e)) {
        const char *sp = strchr(e->valuestring, ' ');
        size_t n = strlen(e->valuestring);
        if (!sp || n >= cap) return -1;
        memcpy(buf, e->valuestring, n + 1);
        buf[sp - e->valuestring] = 0;
        *a = buf, *b = buf + (sp - e->valuestring) + 1;
        return 0;
    }
    if (cJSON_GetArraySize(e) != 2) return -1;
    const cJSON *x = cJSON_GetArrayItem(e, 0), *y = cJSON_GetArrayItem(e, 1);
    if (!cJSON_IsString(x) || !cJSON_IsString(y)) return -1;
    *a = x->valuestring, *b = y->valuestring;
    return 0;
}

static int load_merges(gemma_tok *t, const cJSON *merges, const char *path)
{
    int n = cJSON_GetArraySize(merges), rank = 0;
    char buf[1024], joined[2048];
    t->mcap = pow2_above((size_t)n);
    if (!(t->mslot = malloc(t->mcap * sizeof *t->mslot)))
        return lisa_seterr(LISA_ENOMEM, "gemma tokenizer: out of memory");
    for (size_t i = 0; i < t->mcap; i++) t->mslot[i] = (merge_slot){0, 0, -1};
    for (const cJSON *e = merges->child; e; e = e->next, rank++) {
        const char *a, *b;
        if (merge_pair(e, buf, sizeof buf, &a, &b) < 0)
            return lisa_seterr(LISA_EFORMAT, "%s: model.merges[%d]: not a pair of pieces", path, rank);
        int32_t ia = vocab_find(t, a, strlen(a)), ib = vocab_find(t, b, strlen(b));
        snprintf(joined, sizeof joined, "%s%s", a, b);
        int32_t ij = vocab_find(t, joined, strlen(joined));
        if (ia < 0 || ib < 0 || ij < 0)
            return lisa_seterr(LISA_EFORMAT, "%s: model.merges[%d]: \"%.40s\" + \"%.40s\" is not in the vocab", path,
                               rank, a, b);
        uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        size_t s = mix(key) & (t->mcap - 1);
        while (t->mslot[s].id >= 0 && t->mslot[s].key != key) s = (s + 1) & (t->mcap - 1);
        if (t->mslot[s].id < 0) t->mslot[s] = (merge_slot){key, rank, ij}; // first (lowest) rank wins
    }
    return 0;
}

static int cmp_added(const void *a, const void *b)
{
    const added_tok *x = a, *y = b;
    return x->len != y->len ? (x->len < y->len ? 1 : -1) : (x->id > y->id) - (x->id < y->id);
}

static int load_added(gemma_tok *t, const cJSON *added, const char *path)
{
    int n = cJSON_GetArraySize(added), k = 0;
    if (n > GEMMA_MAX_ADDED) return bad(path, "added_tokens: too many");
    if (!(t->added = calloc((size_t)n + 1, sizeof *t->added)))
        return lisa_seterr(LISA_ENOMEM, "gemma tokenizer: out of memory");
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"),
                    *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valueint < 0 || id->valueint >= t->n || !cJSON_IsString(c) ||
            strcmp(t->piece[id->valueint], c->valuestring))
            return bad(path, "added_tokens: an entry is not {id, content} of a vocab piece");
        if (!*c->valuestring) continue;
        t->added[k++] = (added_tok){t->piece[id->valueint], strlen(c->valuestring), id->valueint};
        t->first[(uint8_t)c->valuestring[0]] = 1;
    }
    t->nadded = k;
    qsort(t->added, (size_t)k, sizeof *t->added, cmp_added);
    return 0;
}

static int check_pipeline(const cJSON *root, const cJSON *model, const char *path)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type"),
                *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"),
                *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *pat = norm ? cJSON_GetObjectItemCaseSensitive(norm, "pattern") : NULL;
    const cJSON *ps = pat ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL,
                *content = norm ? cJSON_GetObjectItemCaseSensitive(norm, "content") : NULL,
                *ntype = norm ? cJSON_GetObjectItemCaseSensitive(norm, "type") : NULL;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") || !cJSON_IsTrue(bf))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: model: not a byte-fallback BPE (Gemma's tokenizer)", path);
    if (!cJSON_IsString(ntype) || strcmp(ntype->valuestring, "Replace") || !cJSON_IsString(ps) ||
        strcmp(ps->valuestring, " ") || !cJSON_IsString(content) || strcmp(content->valuestring, "\xE2\x96\x81"))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: normalizer: not Gemma's Replace(\" \" -> \"\\u2581\")", path);
    if (pre && !cJSON_IsNull(pre))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: pre_tokenizer: Gemma's tokenizer has none", path);
    return 0;
}

// do_lower_case from tokenizer_config.json beside path, if there is one.
static void load_options(gemma_tok *t, const char *path)
{
    char cfg[4096];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) + 1 : 0;
    cJSON *root;
    t->lower = 1;
    snprintf(cfg, sizeof cfg, "%.*stokenizer_config.json", dl, path);
    if (lisa_read_json(cfg, 1 << 20, &root) < 0) {
        lisa_clearerr();
        return;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "do_lower_case");
    if (cJSON_IsBool(v)) t->lower = cJSON_IsTrue(v);
    cJSON_Delete(root);
}

static int special(gemma_tok *t, const char *s, int32_t *out, const char *path)
{
    if ((*out = vocab_find(t, s, strlen(s))) < 0) return lisa_seterr(LISA_EFORMAT, "%s: the vocab has no %s", path, s);
    return 0;
}

int gemma_load(const char *path, gemma_tok **out)
{
    cJSON *root = NULL;
    int rc;
    *out = NULL;
    gemma_tok *t = calloc(1, sizeof *t);
    if (!t) return lisa_seterr(LISA_ENOMEM, "gemma: out of memory");
    if ((rc = lisa_read_json(path, GEMMA_MAX_FILE, &root)) < 0) goto fail;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    const cJSON *merges = model ? cJSON_GetObjectItemCaseSensitive(model, "merges") : NULL;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if ((rc = check_pipeline(root, model, path)) < 0) goto fail;
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges) || (added && !cJSON_IsArray(added))) {
        rc = bad(path, "model.vocab, model.merges or added_tokens has the wrong type");
        goto fail;
    }
    if ((rc = load_vocab(t, vocab, path)) < 0 || (rc = load_merges(t, merges, path)) < 0 ||
        (rc = load_added(t, added, path)) < 0 || (rc = special(t, "<pad>", &t->pad, path)) < 0 ||
        (rc = special(t, "<eos>", &t->eos, path)) < 0 || (rc = special(t, "<unk>", &t->unk, path)) < 0)
        goto fail;
    load_options(t, path);
    cJSON_Delete(root);
    *out = t;
    return 0;
fail:
    if (rc == LISA_ENOMEM) lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    cJSON_Delete(root);
    gemma_free(t);
    return rc;
}

void gemma_free(gemma_tok *t)
{
    if (!t) return;
    for (int i = 0; t->piece && i < t->n; i++) free(t->piece[i]);
    free(t->piece), free(t->vslot), free(t->mslot), free(t->added);
    free(t);
}

void gemma_set_lower(gemma_tok *t, int on)
{
    t->lower = on != 0;
}

int gemma_vocab_size(const gemma_tok *t)
{
    return t->n;
}
int32_t gemma_pad(const gemma_tok *t)
{
    return t->pad;
}
int32_t gemma_eos(const gemma_tok *t)
{
    return t->eos;
}
const char *gemma_piece(const gemma_tok *t, int32_t id)
{
    return id >= 0 && id < t->n ? t->piece[id] : NULL;
}

/* ---------------------------------------------------------------- encoding */

// Decodes n bytes into code points cp (room for n), each maximal ill-formed
// subsequence as U+FFFD (WHATWG / Python errors="replace"). Returns the count.
static size_t utf8_decode(const uint8_t *s, size_t n, int32_t *cp)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        int need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            cp[o++] = b, i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF)
            need = 1;
        else if (b >= 0xE0 && b <= 0xEF)
            need = 2, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        else if (b >= 0xF0 && b <= 0xF4)
            need = 3, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        int32_t c = need == 1 ? b & 0x1F : need == 2 ? b & 0x0F : b & 0x07;
        size_t j = i + 1;
        int k = 0;
        while (k < need && j < n && s[j] >= lo && s[j] <= hi)
            c = c << 6 | (s[j] & 0x3F), lo = 0x80, hi = 0xBF, j++, k++;
        cp[o++] = need && k == need ? c : 0xFFFD;
        i = need ? j : i + 1;
    }
    return o;
}

typedef struct {
    int32_t id, prev, next;
} sym;

typedef struct {
    int32_t rank, pos, id;
} cand;

typedef struct {
    int32_t *cp; // code points of the whole text
    sym *s;
    cand *heap;
    size_t nheap;
} scratch;

static int cand_less(const cand *a, const cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(scratch *w, cand c)
{
    size_t i = w->nheap++;
    while (i && cand_less(&c, &w->heap[(i - 1) / 2])) w->heap[i] = w->heap[(i - 1) / 2], i = (i - 1) / 2;
    w->heap[i] = c;
}

static cand heap_pop(scratch *w)
{
    cand top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!cand_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c], i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static void push_pair(const gemma_tok *t, scratch *w, int32_t pos)
{
    if (pos < 0) return;
    int32_t nx = w->s[pos].next;
    if (nx < 0) return;
    const merge_slot *m = merge_find(t, w->s[pos].id, w->s[nx].id);
    if (m) heap_push(w, (cand){m->rank, pos, m->id});
}

// The normalized code points of one stretch into symbols (pieces or bytes).
static int32_t to_symbols(const gemma_tok *t, const int32_t *cp, size_t n, sym *s)
{
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i], two = 0;
        if (c == ' ') c = 0x2581;
        if (t->lower && c == 0x130)
            c = 'i', two = 0x307; // full lower-case mapping of U+0130
        else if (t->lower)
            c = utf8proc_tolower(c);
        for (int r = 0; r < 1 + (two != 0); r++, c = two) {
            uint8_t u[4];
            int len = (int)utf8proc_encode_char(c, u);
            int32_t id = vocab_find(t, (const char *)u, (size_t)len);
            if (id >= 0) {
                s[k].id = id, s[k].prev = k - 1, s[k].next = k + 1, k++;
                continue;
            }
            int all = 1;
            for (int b = 0; b < len; b++) all &= t->byte_id[u[b]] >= 0;
            if (!all) {
                s[k].id = t->unk, s[k].prev = k - 1, s[k].next = k + 1, k++;
                continue;
            }
            for (int b = 0; b < len; b++) s[k].id = t->byte_id[u[b]], s[k].prev = k - 1, s[k].next = k + 1, k++;
        }
    }
    if (k) s[k - 1].next = -1;
    return k;
}

// BPE over one stretch of code points; appends ids while there is room.
static void encode_word(const gemma_tok *t, scratch *w, const int32_t *cp, size_t n, int32_t *ids, int max, int *k)
{
    int32_t ns = to_symbols(t, cp, n, w->s);
    w->nheap = 0;
    for (int32_t i = 0; i + 1 < ns; i++) push_pair(t, w, i);
    while (w->nheap) {
        cand c = heap_pop(w);
        sym *a = &w->s[c.pos];
        if (a->id < 0 || a->next < 0) continue;
        const merge_slot *m = merge_find(t, a->id, w->s[a->next].id);
        if (!m || m->id != c.id) continue; // stale: a neighbour changed
        sym *b = &w->s[a->next];
        a->id = c.id, a->next = b->next, b->id = -1;
        if (a->next >= 0) w->s[a->next].prev = c.pos;
        push_pair(t, w, a->prev);
        push_pair(t, w, c.pos);
    }
    for (int32_t i = ns ? 0 : -1; i >= 0 && *k < max; i = w->s[i].next) ids[(*k)++] = w->s[i].id;
}

// Length of the longest added token at cp[i..n) (as UTF-8 in bytes b), or 0.
static const added_tok *added_at(const gemma_tok *t, const uint8_t *b, size_t nb)
{
    if (!t->first[b[0]]) return NULL;
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].len <= nb && !memcmp(t->added[i].s, b, t->added[i].len)) return &t->added[i];
    return NULL;
}

int gemma_encode(const gemma_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n)
{
    int k = 0, max = max_ids - 1;
    *n = 0;
    if (max_ids < 1) return lisa_seterr(LISA_EINVAL, "gemma: room for %d ids", max_ids);
    if (len > GEMMA_MAX_TEXT)
        return lisa_seterr(LISA_ETOOBIG, "gemma: text of %zu bytes (max %u)", len, GEMMA_MAX_TEXT);
    scratch w = {0};
    // Each byte gives at most one code point, two after lower-casing, 4 byte symbols each.
    w.cp = malloc((len + 1) * sizeof *w.cp);
    w.s = malloc((8 * len + 1) * sizeof *w.s);
    w.heap = malloc((3 * 8 * len + 1) * sizeof *w.heap);
    uint8_t *u8 = malloc(4 * len + 1);
    if (!w.cp || !w.s || !w.heap || !u8) {
        free(w.cp), free(w.s), free(w.heap), free(u8);
        return lisa_seterr(LISA_ENOMEM, "gemma: out of memory");
    }
    // Work on repaired text: code points, and their UTF-8 for added-token matching.
    size_t ncp = utf8_decode((const uint8_t *)text, len, w.cp), nb = 0, start = 0;
    size_t *at = malloc((ncp + 1) * sizeof *at);
    if (!at) {
        free(w.cp), free(w.s), free(w.heap), free(u8);
        return lisa_seterr(LISA_ENOMEM, "gemma: out of memory");
    }
    for (size_t i = 0; i < ncp; i++) at[i] = nb, nb += (size_t)utf8proc_encode_char(w.cp[i], u8 + nb);
    at[ncp] = nb;
    for (size_t i = 0; i < ncp && k < max;) {
        const added_tok *a = added_at(t, u8 + at[i], nb - at[i]);
        if (!a) {
            i++;
            continue;
        }
        if (i > start) encode_word(t, &w, w.cp + start, i - start, ids, max, &k);
        if (k < max) ids[k++] = a->id;
        size_t end = at[i] + a->len;
        while (i < ncp && at[i] < end) i++;
        start = i;
    }
    if (start < ncp && k < max) encode_word(t, &w, w.cp + start, ncp - start, ids, max, &k);
    ids[k++] = t->eos;
    *n = k;
    free(at), free(w.cp), free(w.s), free(w.heap), free(u8);
    return 0;
}
