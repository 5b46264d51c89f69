#include "siglip/spiece.h"
#include "base/err.h"
#include "base/file.h"
#include "siglip/spm_shim.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct spiece_tok {
    spm_proc *sp;
    int32_t eos, unk, underline; // ids of "</s>", "<unk>", "\u2581"
    int unk_len;                 // pieces "<unk>" encodes to
    int n;
};

/* ---------------------------------------------------------------- loading */

int spiece_load(const char *path, spiece_tok **out)
{
    char err[256];
    char *buf;
    size_t len;
    *out = NULL;
    int rc = lisa_read_file(path, SPIECE_MAX_FILE, &buf, &len);
    if (rc < 0) return rc;
    // HF's get_spm_processor merges NormalizerSpec{add_dummy_prefix: false}
    // into the model; in protobuf wire form that is one more ModelProto field 3
    // (normalizer_spec, length 2) holding field 3 (add_dummy_prefix) = 0,
    // which a parser merges into the first.
    char *p = realloc(buf, len + 4);
    if (!p) {
        free(buf);
        return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    }
    memcpy(p + len, "\x1a\x02\x18\x00", 4);
    spiece_tok *t = calloc(1, sizeof *t);
    if (!t || spm_shim_load(p, len + 4, &t->sp, err, sizeof err) < 0) {
        free(p), free(t);
        return t ? lisa_seterr(LISA_EFORMAT, "%s: not a SentencePiece model: %s", path, err)
                 : lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    }
    free(p);
    int32_t tmp[16];
    t->n = spm_shim_size(t->sp);
    t->unk = spm_shim_unk_id(t->sp);
    t->eos = spm_shim_piece_id(t->sp, "</s>");
    t->underline = spm_shim_piece_id(t->sp, "\xE2\x96\x81");
    t->unk_len = spm_shim_encode(t->sp, "<unk>", 5, tmp, 16);
    if (t->eos == t->unk || t->unk_len < 0) {
        spiece_free(t);
        return lisa_seterr(LISA_EFORMAT, "%s: the model has no </s> piece", path);
    }
    *out = t;
    return 0;
}

void spiece_free(spiece_tok *t)
{
    if (!t) return;
    spm_shim_free(t->sp);
    free(t);
}

int spiece_vocab_size(const spiece_tok *t)
{
    return t->n;
}
int32_t spiece_eos(const spiece_tok *t)
{
    return t->eos;
}
int32_t spiece_pad(const spiece_tok *t)
{
    return t->eos;
}

/* ---------------------------------------------------------------- text */

// Python's str.isspace().
static int py_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int ascii_punct(int32_t c)
{
    return c < 0x80 && c > 0x20 && c != 0x7F && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c);
}

// Decodes UTF-8 (ill-formed subsequences as U+FFFD) into cp; returns the count.
static size_t decode(const uint8_t *s, size_t n, int32_t *cp)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) c = 0xFFFD, k = 1;
        cp[o++] = c, i += (size_t)k;
    }
    return o;
}

static size_t put(uint8_t *out, int32_t c)
{
    return (size_t)utf8proc_encode_char(c, out);
}

typedef struct {
    const spiece_tok *t;
    int32_t *ids;
    int max, k;
} sink;

static void emit(sink *s, int32_t id)
{
    if (s->k < s->max) s->ids[s->k] = id;
    s->k++;
}

// Steps 4 and 5 on one stretch of lower-cased code points.
static int encode_stretch(sink *s, const int32_t *cp, size_t n, uint8_t *buf, int32_t *tmp, int cap)
{
    size_t o = 5;
    memcpy(buf, "<unk>", 5);
    int sp = 0;
    for (size_t i = 0; i < n; i++) {
        if (ascii_punct(cp[i])) continue;
        if (py_space(cp[i])) {
            sp = 1;
            continue;
        }
        if (sp && o > 5) buf[o++] = ' ';
        sp = 0;
        o += put(buf + o, cp[i]);
    }
    int m = spm_shim_encode(s->t->sp, (const char *)buf, o, tmp, cap);
    if (m < 0 || m > cap) return lisa_seterr(LISA_EFORMAT, "spiece: SentencePiece failed to encode");
    for (int i = m >= s->t->unk_len ? s->t->unk_len : 0; i < m; i++) emit(s, tmp[i]);
    return 0;
}

// "</s>" or "<unk>" at cp[i]: its length in code points, else 0.
static size_t special_at(const int32_t *cp, size_t n, size_t i, int *which)
{
    static const char *const sp[2] = {"</s>", "<unk>"};
    for (int w = 0; w < 2; w++) {
        size_t L = strlen(sp[w]), j = 0;
        while (j < L && i + j < n && cp[i + j] == sp[w][j]) j++;
        if (j == L) return *which = w, L;
    }
    return 0;
}

int spiece_encode(const spiece_tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int *n)
{
    *n = 0;
    if (max_ids < 1) return lisa_seterr(LISA_EINVAL, "spiece: room for %d ids", max_ids);
    if (len > SPIECE_MAX_TEXT)
        return lisa_seterr(LISA_ETOOBIG, "spiece: text of %zu bytes (max %u)", len, SPIECE_MAX_TEXT);
    size_t cap = 2 * len + 2; // code points after lower-casing (U+0130 doubles) and the leading U+2581
    int32_t *cp = malloc(cap * sizeof *cp), *raw = malloc((len + 1) * sizeof *raw);
    uint8_t *buf = malloc(8 * len + 16);
    int tcap = (int)(4 * len + 64);
    int32_t *tmp = malloc((size_t)tcap * sizeof *tmp);
    int rc = 0;
    if (!cp || !raw || !buf || !tmp) {
        rc = lisa_seterr(LISA_ENOMEM, "spiece: out of memory");
        goto out;
    }
    // Steps 1 and 2: U+2581 prefix, U+2581 -> space, lower-case outside special tokens.
    size_t nr = decode((const uint8_t *)text, len, raw), nc = 0;
    cp[nc++] = 0x2581;
    for (size_t i = 0; i < nr; i++) {
        int w;
        size_t L = special_at(raw, nr, i, &w);
        if (L) {
            memcpy(cp + nc, raw + i, L * sizeof *cp), nc += L, i += L - 1;
            continue;
        }
        int32_t c = raw[i] == 0x2581 ? ' ' : raw[i];
        if (c == 0x130)
            cp[nc++] = 'i', cp[nc++] = 0x307;
        else
            cp[nc++] = utf8proc_tolower(c);
    }
    // Step 3: split on special tokens, stripping the whitespace around them.
    sink s = {t, ids, max_ids - 1, 0};
    size_t start = 0;
    int first_special = -1; // index in ids of the first special token
    for (size_t i = 0; i <= nc && rc == 0; i++) {
        int w = 0;
        size_t L = i < nc ? special_at(cp, nc, i, &w) : 0;
        if (i < nc && !L) continue;
        size_t end = i;
        while (L && end > start && py_space(cp[end - 1])) end--;
        if (end > start) rc = encode_stretch(&s, cp + start, end - start, buf, tmp, tcap);
        if (!L) break;
        if (first_special < 0) first_special = s.k;
        emit(&s, w ? t->unk : t->eos);
        i += L;
        while (i < nc && py_space(cp[i])) i++;
        start = i--;
    }
    if (rc < 0) goto out;
    // A lone leading U+2581 before a special token is dropped (SiglipTokenizer.tokenize).
    int k = s.k < s.max ? s.k : s.max;
    if (first_special == 1 && k > 1 && ids[0] == t->underline) memmove(ids, ids + 1, (size_t)--k * sizeof *ids);
    if (k == 0 || ids[k - 1] != t->eos) ids[k++] = t->eos; // _add_eos_if_not_present
    *n = k;
out:
    free(cp), free(raw), free(buf), free(tmp);
    return rc;
}
