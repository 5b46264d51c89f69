// Keyword cleaning (utf8proc + libstemmer), file-name words and the FTS5
// query builder. See keywords.h for the pipeline and its decisions.
#include "search/keywords.h"
#include "base/err.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct kw {
    struct sb_stemmer *stem;
};

int kw_new(kw **out)
{
    *out = NULL;
    kw *k = calloc(1, sizeof *k);
    if (!k) return lisa_seterr(LISA_ENOMEM, "keywords: cleaner");
    k->stem = sb_stemmer_new("english", "UTF_8");
    if (!k->stem) {
        free(k);
        return lisa_seterr(LISA_EUNSUPPORTED, "keywords: libstemmer has no UTF-8 English stemmer");
    }
    *out = k;
    return 0;
}

void kw_free(kw *k)
{
    if (!k) return;
    sb_stemmer_delete(k->stem);
    free(k);
}

// ---------------------------------------------------------------- output buffer

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 2 > b->cap) {
        size_t nc = (b->len + n + 2) * 2;
        char *s = realloc(b->s, nc);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = nc;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

// Appends word, space-separated from the previous one.
static void sb_word(sbuf *b, const char *w, size_t n)
{
    if (b->len) sb_put(b, " ", 1);
    sb_put(b, w, n);
}

// Hands the buffer to *out ("" when empty).
static int sb_finish(sbuf *b, char **out, const char *what)
{
    if (!b->oom && !b->s) sb_put(b, "", 0);
    if (b->oom) {
        free(b->s);
        *out = NULL;
        return lisa_seterr(LISA_ENOMEM, "keywords: %s", what);
    }
    *out = b->s;
    return 0;
}

// ---------------------------------------------------------------- characters

// Scripts written without spaces: one token per character.
static int is_unigram(int32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) || // Hiragana, Katakana
           (c >= 0x3400 && c <= 0x4DBF) || // CJK extension A
           (c >= 0x4E00 && c <= 0x9FFF) || // CJK unified ideographs
           (c >= 0xF900 && c <= 0xFAFF) || // CJK compatibility ideographs
           (c >= 0x20000 && c <= 0x3FFFF); // CJK extensions B..
}

// Letters, digits, marks and private use: what FTS5's tokenizer keeps too.
static int is_word_char(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO: return 1;
    default: return 0;
    }
}

static int check_utf8(const char *text, size_t n)
{
    const uint8_t *p = (const uint8_t *)text;
    for (size_t i = 0; i < n;) {
        int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
        if (l < 0) return lisa_seterr(LISA_EFORMAT, "keywords: invalid UTF-8 at byte %zu", i);
        i += (size_t)l;
    }
    return 0;
}

// ---------------------------------------------------------------- one token

static int is_ascii(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] >= 0x80) return 0;
    return 1;
}

// Recomposes (NFC), filters and stems one folded token, then appends it.
static void emit(kw *k, sbuf *b, const char *t, size_t n, int flags)
{
    char tmp[KW_TOKEN_MAX + 1];
    uint8_t *nfc = NULL;
    if (!is_ascii(t, n)) {
        char *z = strndup(t, n);
        nfc = z ? utf8proc_NFC((const uint8_t *)z) : NULL;
        free(z);
        if (!nfc) {
            b->oom = 1;
            return;
        }
        t = (const char *)nfc;
        n = strlen(t);
    }
    if (n == 0 || n > KW_TOKEN_MAX) goto done;
    memcpy(tmp, t, n);
    tmp[n] = 0;
    if ((flags & KW_STOP) && kw_is_stopword(tmp)) goto done;
    if (flags & KW_STEM) {
        const sb_symbol *s = sb_stemmer_stem(k->stem, (const sb_symbol *)tmp, (int)n);
        if (!s) {
            b->oom = 1;
            goto done;
        }
        sb_word(b, (const char *)s, (size_t)sb_stemmer_length(k->stem));
    } else {
        sb_word(b, tmp, n);
    }
done:
    free(nfc);
}

// ---------------------------------------------------------------- clean

// Drops the combining diacritics U+0300..U+036F that follow a Latin base
// letter in decomposed text, in place, so "nai\u0308ve" becomes "naive" and
// stays one token. Other scripts keep them: Cyrillic "й" and "ё" are letters
// of their own, not accented "и" and "е".
static int is_latin(int32_t c)
{
    return c < 0x250 || (c >= 0x1E00 && c <= 0x1EFF);
}

static void strip_latin_marks(char *f)
{
    uint8_t *p = (uint8_t *)f, *w = p;
    size_t n = strlen(f), i = 0;
    int32_t base = 0;
    while (i < n) {
        int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
        if (l <= 0) l = 1, c = -1;
        int mark = c >= 0x300 && c <= 0x36F;
        if (!mark) base = c;
        if (!mark || !is_latin(base)) memmove(w, p + i, (size_t)l), w += l;
        i += (size_t)l;
    }
    *w = 0;
}

// Splits folded text into tokens (see keywords.h step 2) and emits each.
static void tokenize(kw *k, sbuf *b, const char *f, int flags)
{
    const uint8_t *p = (const uint8_t *)f;
    size_t n = strlen(f), start = 0, i = 0;
    int in = 0;
    while (i < n) {
        int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
        if (l <= 0) l = 1, c = ' ';
        if (is_unigram(c)) {
            if (in) emit(k, b, f + start, i - start, flags);
            in = 0;
            emit(k, b, f + i, (size_t)l, flags);
        } else if (is_word_char(c)) {
            if (!in) start = i, in = 1;
        } else {
            if (in) emit(k, b, f + start, i - start, flags);
            in = 0;
        }
        i += (size_t)l;
    }
    if (in) emit(k, b, f + start, n - start, flags);
}

int kw_clean(kw *k, const char *text, int flags, char **out)
{
    sbuf b = {0};
    uint8_t *folded = NULL;
    size_t n = text ? strlen(text) : 0;
    *out = NULL;
    if (n > KW_TEXT_MAX) return lisa_seterr(LISA_ETOOBIG, "keywords: %zu bytes of text, over %d", n, KW_TEXT_MAX);
    int rc = check_utf8(text ? text : "", n);
    if (rc < 0) return rc;
    utf8proc_ssize_t m =
        utf8proc_map((const uint8_t *)(text ? text : ""), (utf8proc_ssize_t)n, &folded,
                     UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    if (m < 0) return lisa_seterr(LISA_EFORMAT, "keywords: %s", utf8proc_errmsg(m));
    strip_latin_marks((char *)folded);
    tokenize(k, &b, (const char *)folded, flags);
    free(folded);
    return sb_finish(&b, out, "cleaned text");
}

// ---------------------------------------------------------------- file and folder names

// Camera and phone file-name prefixes, and the generic folder names every
// picture of a library sits under (the upload folder is DATA/images), that say
// nothing about the picture.
static int is_noise(const char *w)
{
    static const char *const noise[] = {"dcim",  "dji", "dsc", "dscf",   "dscn", "gopr",     "img",
                                        "mvimg", "pxl", "vid", "images", "pics", "pictures", "uploads"};
    for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++)
        if (!strcmp(w, noise[i])) return 1;
    return 0;
}

typedef struct {
    sbuf *b;
    int after_noise; // the previous word was a camera prefix
} namectx;

static int is_digits(const char *w)
{
    for (; *w; w++)
        if (*w < '0' || *w > '9') return 0;
    return 1;
}

// Keeps a lowercased word unless it is noise (see kw_name_words()), and
// unless it is already in the output.
static void name_word(namectx *nc, const char *w)
{
    int noise = is_noise(w), keep = !noise;
    if (is_digits(w)) {
        int y = atoi(w);
        keep = strlen(w) == 4 && y >= 1900 && y <= 2099 && !nc->after_noise;
    } else if (strlen(w) == 1) {
        keep = 0;
    }
    nc->after_noise = noise;
    if (!keep || strlen(w) > KW_TOKEN_MAX) return;
    for (const char *p = nc->b->s; p && *p;) { // linear: names are short
        size_t l = strcspn(p, " ");
        if (l == strlen(w) && !strncmp(p, w, l)) return;
        p += l + (p[l] == ' ');
    }
    sb_word(nc->b, w, strlen(w));
}

enum { CK_OTHER, CK_UPPER, CK_LOWER, CK_DIGIT };

static int char_kind(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LT: return CK_UPPER;
    case UTF8PROC_CATEGORY_ND: return CK_DIGIT;
    default: return is_word_char(c) ? CK_LOWER : CK_OTHER;
    }
}

// Word boundary between the previous char (kind a) and the current one (b),
// with `next` the kind after b: camelCase, ABCWord, letter/digit changes.
static int boundary(int a, int b, int next)
{
    if ((a == CK_DIGIT) != (b == CK_DIGIT)) return 1;
    if (a == CK_LOWER && b == CK_UPPER) return 1;
    return a == CK_UPPER && b == CK_UPPER && next == CK_LOWER;
}

typedef struct {
    char w[KW_TOKEN_MAX * 4 + 8];
    size_t n;
    int overflow;
} wordbuf;

static void wb_flush(namectx *nc, wordbuf *wb)
{
    if (wb->n && !wb->overflow) {
        wb->w[wb->n] = 0;
        name_word(nc, wb->w);
    }
    wb->n = 0;
    wb->overflow = 0;
}

static void wb_add(wordbuf *wb, int32_t c)
{
    uint8_t enc[4];
    utf8proc_ssize_t l = utf8proc_encode_char(utf8proc_tolower(c), enc);
    if (wb->n + (size_t)l >= sizeof wb->w - 1)
        wb->overflow = 1;
    else
        memcpy(wb->w + wb->n, enc, (size_t)l), wb->n += (size_t)l;
}

// Decodes up to 3 code points of s[0..n) starting at i (invalid bytes read as
// a separator) into c[] with their lengths in l[].
static void peek(const uint8_t *s, size_t n, size_t i, int32_t c[3], utf8proc_ssize_t l[3])
{
    for (int k = 0; k < 3; k++) {
        c[k] = -1, l[k] = 0;
        if (i >= n) continue;
        l[k] = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c[k]);
        if (l[k] <= 0) l[k] = 1, c[k] = ' ';
        i += (size_t)l[k];
    }
}

// Splits one path component s[0..n) into words.
static void name_split(namectx *nc, const char *s, size_t n)
{
    wordbuf wb = {.n = 0};
    const uint8_t *p = (const uint8_t *)s;
    int prev = CK_OTHER;
    for (size_t i = 0; i < n;) {
        int32_t c[3];
        utf8proc_ssize_t l[3];
        peek(p, n, i, c, l);
        int kind = c[0] < 0 ? CK_OTHER : char_kind(c[0]);
        int next = c[1] < 0 ? CK_OTHER : char_kind(c[1]);
        if (kind == CK_OTHER)
            wb_flush(nc, &wb);
        else {
            if (prev != CK_OTHER && boundary(prev, kind, next)) wb_flush(nc, &wb);
            wb_add(&wb, c[0]);
        }
        prev = kind;
        i += (size_t)l[0];
    }
    wb_flush(nc, &wb);
}

// Length of the file name without a short alphanumeric extension.
static size_t stem_len(const char *name, size_t n)
{
    const char *dot = memrchr(name, '.', n);
    if (!dot || dot == name) return n;
    size_t el = n - (size_t)(dot + 1 - name);
    if (el < 1 || el > 5) return n;
    for (const char *q = dot + 1; q < name + n; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'))) return n;
    return (size_t)(dot - name);
}

// Byte offset in path where the folders to use start (see kw_name_words()).
static size_t dirs_start(const char *path, size_t file_at, const char *root)
{
    size_t rl = root ? strlen(root) : 0;
    while (rl > 1 && root[rl - 1] == '/') rl--;
    if (rl && !strncmp(path, root, rl) && (path[rl] == '/' || rl == 1)) {
        const char *base = memrchr(root, '/', rl);
        return base ? (size_t)(base + 1 - root) : 0; // root's own last name too
    }
    size_t at = file_at, dirs = 0;
    while (at > 0 && dirs < KW_NAME_DIRS) {
        at--;
        while (at > 0 && path[at - 1] != '/') at--;
        dirs++;
    }
    return at;
}

int kw_name_words(const char *path, const char *root, char **out)
{
    sbuf b = {0};
    namectx nc = {.b = &b};
    *out = NULL;
    size_t n = path ? strlen(path) : 0;
    if (n > KW_TEXT_MAX) return lisa_seterr(LISA_ETOOBIG, "keywords: path of %zu bytes", n);
    const char *slash = n ? memrchr(path, '/', n) : NULL;
    size_t file_at = slash ? (size_t)(slash + 1 - path) : 0;
    for (size_t i = dirs_start(path ? path : "", file_at, root); i < file_at;) {
        size_t l = strcspn(path + i, "/");
        if (i + l > file_at) l = file_at - i;
        name_split(&nc, path + i, l);
        i += l + 1;
    }
    nc.after_noise = 0;
    name_split(&nc, path + file_at, stem_len(path + file_at, n - file_at));
    return sb_finish(&b, out, "file name words");
}

// ---------------------------------------------------------------- FTS5 query

// Appends "term" with any double quote doubled (FTS5 string syntax).
static void quoted(sbuf *b, const char *t, size_t n)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        sb_put(b, t + i, 1);
        if (t[i] == '"') sb_put(b, "\"", 1);
    }
    sb_put(b, "\"", 1);
}

// 1 when the token t[0..n) is one character of a script written without
// spaces (a unigram of kw_clean()).
static int is_unigram_token(const char *t, size_t n)
{
    int32_t c;
    utf8proc_ssize_t l = utf8proc_iterate((const uint8_t *)t, (utf8proc_ssize_t)n, &c);
    return l > 0 && (size_t)l == n && is_unigram(c);
}

typedef struct {
    const char *t[KW_QUERY_TERMS];
    size_t n[KW_QUERY_TERMS];
    int run[KW_QUERY_TERMS]; // 1: t is a run of unigram tokens
    int count;
} terms;

static void term_add(terms *ts, const char *t, size_t n, int run)
{
    for (int j = 0; j < ts->count; j++)
        if (ts->n[j] == n && !strncmp(ts->t[j], t, n)) return;
    if (ts->count < KW_QUERY_TERMS) ts->t[ts->count] = t, ts->n[ts->count] = n, ts->run[ts->count++] = run;
}

// The end of the run of unigram tokens at p (CJK text, "東 京 タ ワ ー" in
// the cleaned form).
static const char *unigram_end(const char *p)
{
    const char *end = p;
    for (const char *q = p;;) {
        size_t l = strcspn(q, " ");
        if (!l || !is_unigram_token(q, l)) return end;
        end = q + l;
        q += l + (q[l] == ' ');
    }
}

// A run of unigram tokens is matched as all of its character bigrams, each an
// FTS5 phrase: ("東 京" AND "京 タ" AND "タ ワ" AND "ワ ー"). The index holds
// the characters in order, so a two-character phrase matches exactly where
// the two stand side by side, and AND keeps the word together while allowing
// it anywhere in the text. Single characters OR'ed (before) found every text
// that shared one character ("京都" found "東京"). Measured with
// bench/cjk/cjk_search.py (docs/search.md).
static void put_run(sbuf *b, const char *t, size_t n)
{
    const char *end = t + n, *prev = NULL;
    int pairs = 0;
    for (const char *q = t; q < end;) {
        size_t l = strcspn(q, " ");
        if (prev) {
            if (pairs++)
                sb_put(b, " AND ", 5);
            else
                sb_put(b, "(", 1);
            quoted(b, prev, (size_t)(q + l - prev));
        }
        prev = q;
        q += l + (q[l] == ' ');
    }
    if (pairs)
        sb_put(b, ")", 1);
    else
        quoted(b, t, n); // one character: itself
}

int kw_query(kw *k, const char *query, char **out)
{
    char *clean = NULL;
    sbuf b = {0};
    terms ts = {.count = 0};
    int rc = kw_clean(k, query, KW_CLEAN, &clean);
    *out = NULL;
    if (rc < 0) return rc;
    for (const char *p = clean; *p && ts.count < KW_QUERY_TERMS;) {
        size_t l = strcspn(p, " ");
        int run = is_unigram_token(p, l);
        if (run) l = (size_t)(unigram_end(p) - p);
        term_add(&ts, p, l, run);
        p += l + (p[l] == ' ');
    }
    for (int j = 0; j < ts.count; j++) {
        if (j) sb_put(&b, " OR ", 4);
        if (ts.run[j])
            put_run(&b, ts.t[j], ts.n[j]);
        else
            quoted(&b, ts.t[j], ts.n[j]);
    }
    free(clean);
    if (ts.count == 0) return 0;
    return sb_finish(&b, out, "query");
}

// ---------------------------------------------------------------- chips

// 1 when the lowercased word w (n bytes) is worth a chip.
static int chip_ok(const char *w, size_t n, int32_t first, int ncp)
{
    if (ncp == 1 && !is_unigram(first)) return 0; // "s", "7", "a"
    int digits = 1;
    for (size_t i = 0; i < n; i++) digits &= w[i] >= '0' && w[i] <= '9';
    if (digits) return n == 4 && (!strncmp(w, "19", 2) || !strncmp(w, "20", 2));
    return !kw_is_stopword(w);
}

static int chip_add(char **chips, int max, int *n, const char *w, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(chips[i], w)) return 0;
    if (*n >= max) return 0;
    if (!(chips[*n] = strndup(w, len))) return lisa_seterr(LISA_ENOMEM, "chips: out of memory");
    (*n)++;
    return 0;
}

int kw_chips(const char *text, char **chips, int max, int *n)
{
    if (!text) return 0;
    size_t len = strlen(text);
    if (len > KW_TEXT_MAX) return lisa_seterr(LISA_ETOOBIG, "chips: text over %d bytes", KW_TEXT_MAX);
    if (check_utf8(text, len) < 0) return lisa_errcode();
    const uint8_t *p = (const uint8_t *)text;
    char w[KW_TOKEN_MAX + 8];
    size_t wn = 0;
    int ncp = 0, rc = 0, too_long = 0;
    int32_t first = 0;
    for (size_t i = 0; i <= len && rc == 0 && *n < max;) {
        int32_t c = 0;
        utf8proc_ssize_t l = i < len ? utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c) : 1;
        int word = i < len && l > 0 && is_word_char(c);
        if (word) {
            uint8_t enc[4];
            utf8proc_ssize_t e = utf8proc_encode_char(utf8proc_tolower(c), enc);
            if (wn + (size_t)e > KW_TOKEN_MAX) too_long = 1;
            if (!too_long) memcpy(w + wn, enc, (size_t)e), wn += (size_t)e;
            if (!ncp++) first = c;
        }
        if (!word && wn) { // a word ends
            w[wn] = 0;
            if (!too_long && chip_ok(w, wn, first, ncp)) rc = chip_add(chips, max, n, w, wn);
            wn = 0, ncp = 0, too_long = 0;
        }
        i += l > 0 ? (size_t)l : 1;
    }
    return rc;
}
