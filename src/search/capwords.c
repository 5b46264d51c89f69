// BLIP caption filler folding (see capwords.h).
#include "search/capwords.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 512

typedef struct {
    char *w[MAX_WORDS];
    int n;
} words;

static int word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

// Splits a lowercased copy of s (buf, KW_CAPTION_MAX + 1 bytes) into out.
static void split(const char *s, char *buf, words *out)
{
    size_t n = 0;
    out->n = 0;
    for (; s && *s && n < KW_CAPTION_MAX; s++, n++) buf[n] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
    buf[n] = 0;
    for (char *p = buf; *p && out->n < MAX_WORDS;) {
        while (*p && !word_char((unsigned char)*p)) *p++ = 0;
        if (!*p) break;
        out->w[out->n++] = p;
        while (*p && word_char((unsigned char)*p)) p++;
    }
}

static int is_filler_word(const char *w)
{
    return !strncmp(w, "araf", 4) || !strncmp(w, "arraf", 5);
}

// Length in words of a filler phrase starting at w[i], or 0.
static int filler_phrase(const words *t, int i)
{
    static const char *const phrases[][3] = {
        {"there", "is", NULL}, {"there", "are", NULL},  {"there's", NULL, NULL},
        {"close", "up", NULL}, {"closeup", NULL, NULL}, {"in", "the", "background"},
    };
    for (size_t p = 0; p < sizeof phrases / sizeof phrases[0]; p++) {
        int k = 0;
        while (k < 3 && phrases[p][k] && i + k < t->n && !strcmp(t->w[i + k], phrases[p][k])) k++;
        if (k == 3 || !phrases[p][k]) return k;
    }
    return 0;
}

static int in_list(const words *t, int n, const char *w)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t->w[i], w)) return 1;
    return 0;
}

int kw_caption_fold(const char *caption, const char *prompt, char **out)
{
    char *cb = malloc(KW_CAPTION_MAX + 1), *pb = malloc(KW_CAPTION_MAX + 1);
    words *c = malloc(sizeof *c), *p = malloc(sizeof *p), *kept = malloc(sizeof *kept);
    *out = NULL;
    if (!cb || !pb || !c || !p || !kept) {
        free(cb), free(pb), free(c), free(p), free(kept);
        return lisa_seterr(LISA_ENOMEM, "caption keywords: out of memory");
    }
    split(caption, cb, c);
    split(prompt, pb, p);
    kept->n = 0;
    size_t len = 0;
    int start = 0; // the prompt the caption starts with
    while (start < p->n && start < c->n && !strcmp(c->w[start], p->w[start])) start++;
    if (start < p->n) start = 0;
    for (int i = start; i < c->n; i++) {
        int skip = filler_phrase(c, i);
        if (skip) {
            i += skip - 1;
            continue;
        }
        const char *w = c->w[i];
        if (is_filler_word(w) || in_list(kept, kept->n, w)) continue;
        kept->w[kept->n++] = c->w[i];
        len += strlen(w) + 1;
    }
    char *s = malloc(len + 1);
    if (s) {
        size_t at = 0;
        for (int i = 0; i < kept->n; i++) {
            size_t l = strlen(kept->w[i]);
            if (i) s[at++] = ' ';
            memcpy(s + at, kept->w[i], l);
            at += l;
        }
        s[at] = 0;
    }
    free(cb), free(pb), free(c), free(p), free(kept);
    if (!s) return lisa_seterr(LISA_ENOMEM, "caption keywords: out of memory");
    *out = s;
    return 0;
}
