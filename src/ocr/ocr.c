// OCR through Tesseract's C API, behind a cheap text-likelihood test.
#include "ocr/ocr.h"

#include "base/clock.h"
#include "base/err.h"

#include <tesseract/capi.h>

#include <ctype.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

// ---------------------------------------------------------------- grayscale resize

// Area-average (box) downscale of one row band, or bilinear upscale, from RGB
// to luma. Both are plain loops: at <= 2000 px this costs a few ms.
static uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
}

static void gray_down(const img_t *im, int w, int h, uint8_t *g)
{
    for (int y = 0; y < h; y++) {
        int y0 = (int)((int64_t)y * im->h / h), y1 = (int)((int64_t)(y + 1) * im->h / h);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < w; x++) {
            int x0 = (int)((int64_t)x * im->w / w), x1 = (int)((int64_t)(x + 1) * im->w / w);
            if (x1 <= x0) x1 = x0 + 1;
            uint32_t s = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) s += luma(im->px + ((size_t)yy * im->w + xx) * 3);
            g[(size_t)y * w + x] = (uint8_t)(s / (uint32_t)((y1 - y0) * (x1 - x0)));
        }
    }
}

static void gray_up(const img_t *im, int w, int h, uint8_t *g)
{
    for (int y = 0; y < h; y++) {
        float fy = (y + 0.5f) * im->h / h - 0.5f;
        int y0 = fy < 0 ? 0 : (int)fy, y1 = y0 + 1 < im->h ? y0 + 1 : y0;
        float wy = fy - y0 < 0 ? 0 : fy - y0;
        for (int x = 0; x < w; x++) {
            float fx = (x + 0.5f) * im->w / w - 0.5f;
            int x0 = fx < 0 ? 0 : (int)fx, x1 = x0 + 1 < im->w ? x0 + 1 : x0;
            float wx = fx - x0 < 0 ? 0 : fx - x0;
            const uint8_t *r0 = im->px + (size_t)y0 * im->w * 3, *r1 = im->px + (size_t)y1 * im->w * 3;
            float a = luma(r0 + x0 * 3) * (1 - wx) + luma(r0 + x1 * 3) * wx;
            float b = luma(r1 + x0 * 3) * (1 - wx) + luma(r1 + x1 * 3) * wx;
            g[(size_t)y * w + x] = (uint8_t)(a * (1 - wy) + b * wy + 0.5f);
        }
    }
}

int ocr_gray(const img_t *im, int w, int h, unsigned char **gray)
{
    *gray = NULL;
    if (w < 1 || h < 1 || w > 16384 || h > 16384 || !im->px)
        return lisa_seterr(LISA_EINVAL, "ocr: grayscale size %dx%d", w, h);
    uint8_t *g = malloc((size_t)w * h);
    if (!g) return lisa_seterr(LISA_ENOMEM, "ocr: grayscale %dx%d", w, h);
    if (w <= im->w && h <= im->h)
        gray_down(im, w, h, g);
    else
        gray_up(im, w, h, g);
    *gray = g;
    return 0;
}

double ocr_noise_sigma(const uint8_t *g, int w, int h)
{
    if (w < 3 || h < 3) return 0;
    double sum = 0;
    for (int y = 1; y < h - 1; y++) {
        const uint8_t *a = g + (size_t)(y - 1) * w, *b = a + w, *c = b + w;
        long row = 0;
        for (int x = 1; x < w - 1; x++) {
            int v = a[x - 1] + a[x + 1] + c[x - 1] + c[x + 1] - 2 * (a[x] + c[x] + b[x - 1] + b[x + 1]) + 4 * b[x];
            row += v < 0 ? -v : v;
        }
        sum += (double)row;
    }
    return sqrt(M_PI / 2) * sum / (6.0 * (w - 2) * (h - 2));
}

// In-place separable 5-tap Gaussian (sigma 1: weights 14 62 104 62 14 of
// 256), edges clamped. tmp holds w*h bytes.
static void smooth(uint8_t *g, int w, int h, uint8_t *tmp)
{
    static const int k[5] = {14, 62, 104, 62, 14};
    for (int y = 0; y < h; y++) {
        const uint8_t *s = g + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int acc = 128;
            for (int i = -2; i <= 2; i++) acc += k[i + 2] * s[x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i];
            tmp[(size_t)y * w + x] = (uint8_t)(acc >> 8);
        }
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int acc = 128;
            for (int i = -2; i <= 2; i++) {
                int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                acc += k[i + 2] * tmp[(size_t)yy * w + x];
            }
            g[(size_t)y * w + x] = (uint8_t)(acc >> 8);
        }
}

// w x h keeping the aspect of im with long side `side` (never 0).
static void fit(const img_t *im, double scale, int *w, int *h)
{
    *w = (int)(im->w * scale + 0.5), *h = (int)(im->h * scale + 0.5);
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
}

// ---------------------------------------------------------------- text test

// A glyph candidate: bounding box of one connected component.
typedef struct {
    int x0, y0, x1, y1; // inclusive-exclusive
    int next;           // chain link to the nearest aligned neighbour, -1 none
    int in;             // has a neighbour pointing to it
} glyph;

typedef struct {
    glyph *g;
    int n, cap;
} glyphs;

#define TEST_GLYPHS_MAX 20000
#define TEST_MIN_H 6 // glyph height range in pixels at OCR_TEST_SIDE
#define TEST_MAX_H 80
#define TEST_CONTRAST 18  // |pixel - local mean| that counts as ink
#define TEST_CHAIN_MIN 4  // glyphs in a run that counts as a line
#define TEST_SHARP_PCT 30 // steepest step / box range, percent (see sharp())

// Marks ink pixels of one polarity: darker (pol 0) or lighter (pol 1) than the
// local mean (box of radius r, from the integral image ii) by TEST_CONTRAST.
static void ink_mask(const uint8_t *g, const uint32_t *ii, int w, int h, int r, int pol, uint8_t *m)
{
    for (int y = 0; y < h; y++) {
        int ya = y - r < 0 ? 0 : y - r, yb = y + r + 1 > h ? h : y + r + 1;
        for (int x = 0; x < w; x++) {
            int xa = x - r < 0 ? 0 : x - r, xb = x + r + 1 > w ? w : x + r + 1;
            uint32_t s = ii[(size_t)yb * (w + 1) + xb] - ii[(size_t)ya * (w + 1) + xb] - ii[(size_t)yb * (w + 1) + xa] +
                         ii[(size_t)ya * (w + 1) + xa];
            int mean = (int)(s / (uint32_t)((yb - ya) * (xb - xa)));
            int d = pol ? g[(size_t)y * w + x] - mean : mean - g[(size_t)y * w + x];
            m[(size_t)y * w + x] = d > TEST_CONTRAST;
        }
    }
}

static int glyph_ok(int bw, int bh, int count)
{
    if (bh < TEST_MIN_H || bh > TEST_MAX_H || count < 12) return 0;
    if (bw > 3 * bh || bw < 1) return 0;
    double fill = (double)count / ((double)bw * bh);
    if (fill < 0.12) return 0;
    return fill <= 0.92 || bw * 3 <= bh; // solid blobs are not glyphs, thin strokes are
}

// Printed glyphs have sharp edges: the steepest one-pixel step at the
// component (max forward difference over its pixels) is a large part of the
// intensity range of its box. Blurred texture blobs (foliage, gravel, clouds)
// rise over many pixels: ratio ~0.1 against >= 0.4 for text, even
// antialiased and JPEG-compressed at OCR_TEST_SIDE.
static int sharp(const uint8_t *g, int w, int x0, int y0, int x1, int y1, int maxstep)
{
    int lo = 255, hi = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            int v = g[(size_t)y * w + x];
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    return hi > lo && maxstep * 100 >= (hi - lo) * TEST_SHARP_PCT;
}

// Flood-fills the 8-connected component at (sx, sy) of mask m (clearing it)
// and appends its box when it looks like a glyph. stack has w*h slots.
static int fill_component(const uint8_t *g, uint8_t *m, int w, int h, int sx, int sy, int *stack, glyphs *gs)
{
    int maxstep = 0;
    int sp = 0, count = 0, x0 = sx, x1 = sx, y0 = sy, y1 = sy;
    stack[sp++] = sy * w + sx;
    m[sy * w + sx] = 0;
    while (sp) {
        int p = stack[--sp], x = p % w, y = p / w;
        count++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        const uint8_t *q = g + (size_t)y * w + x;
        if (x + 1 < w && abs(q[1] - q[0]) > maxstep) maxstep = abs(q[1] - q[0]);
        if (y + 1 < h && abs(q[w] - q[0]) > maxstep) maxstep = abs(q[w] - q[0]);
        if (x > 0 && abs(q[-1] - q[0]) > maxstep) maxstep = abs(q[-1] - q[0]);
        if (y > 0 && abs(q[-w] - q[0]) > maxstep) maxstep = abs(q[-w] - q[0]);
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= w || ny >= h || !m[ny * w + nx]) continue;
                m[ny * w + nx] = 0;
                stack[sp++] = ny * w + nx;
            }
    }
    if (!glyph_ok(x1 - x0 + 1, y1 - y0 + 1, count) || gs->n >= TEST_GLYPHS_MAX) return 0;
    if (!sharp(g, w, x0, y0, x1, y1, maxstep)) return 0;
    if (gs->n == gs->cap) {
        int cap = gs->cap ? gs->cap * 2 : 256;
        glyph *v = realloc(gs->g, (size_t)cap * sizeof *v);
        if (!v) return lisa_seterr(LISA_ENOMEM, "ocr: out of memory for %d glyphs", cap);
        gs->g = v, gs->cap = cap;
    }
    gs->g[gs->n++] = (glyph){x0, y0, x1 + 1, y1 + 1, -1, 0};
    return 0;
}

static int find_glyphs(const uint8_t *g, uint8_t *m, int w, int h, int *stack, glyphs *gs)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[y * w + x]) {
                int rc = fill_component(g, m, w, h, x, y, stack, gs);
                if (rc < 0) return rc;
            }
    return 0;
}

static int cmp_x0(const void *a, const void *b)
{
    const glyph *p = a, *q = b;
    return p->x0 != q->x0 ? (p->x0 < q->x0 ? -1 : 1) : (p->y0 > q->y0) - (p->y0 < q->y0);
}

// Links each glyph to its nearest right-hand neighbour on the same text line
// (similar height, bottoms or centres level, gap under 1.2 heights), then
// counts glyphs in chains of >= 3 and the chains themselves.
static int chain_straight(const glyph *g, int head, int len);

static void align(glyph *g, int n, int *aligned, int *lines)
{
    if (n > 1) qsort(g, (size_t)n, sizeof *g, cmp_x0); // g may be NULL when n == 0
    for (int i = 0; i < n; i++) g[i].next = -1, g[i].in = 0;
    for (int i = 0; i < n; i++) {
        int hi = g[i].y1 - g[i].y0, best = -1, bestgap = 1 << 30;
        for (int j = i + 1; j < n && g[j].x0 <= g[i].x1 + hi + hi / 5; j++) {
            int hj = g[j].y1 - g[j].y0, hm = hi > hj ? hi : hj, hn = hi < hj ? hi : hj;
            int gap = g[j].x0 - g[i].x1;
            if (gap < -hm / 4 || 10 * hm > 16 * hn) continue;
            int db = abs(g[j].y1 - g[i].y1), dc = abs((g[j].y0 + g[j].y1) - (g[i].y0 + g[i].y1)) / 2;
            if ((db < dc ? db : dc) * 10 > 3 * hm) continue;
            if (gap < bestgap) bestgap = gap, best = j;
        }
        if (best >= 0 && !g[best].in) g[i].next = best, g[best].in = 1;
    }
    *aligned = *lines = 0;
    for (int i = 0; i < n; i++) {
        if (g[i].in) continue; // chain heads only
        int len = 0;
        for (int k = i; k >= 0; k = g[k].next) len++;
        if (len >= TEST_CHAIN_MIN && chain_straight(g, i, len)) *aligned += len, (*lines)++;
    }
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

// A text line has a baseline or a centre line, maybe skewed a little: after
// removing the median slope between neighbours (|slope| <= 0.2, ~11°), most
// glyphs' bottoms (or centres) lie within a fifth of the median height of the
// median. Chance chains of texture blobs drift from link to link and fail.
static int chain_straight(const glyph *g, int head, int len)
{
    int hs[64], xs[64], ys[2][64], m = len < 64 ? len : 64, k = head, best = 0;
    for (int i = 0; i < m; i++, k = g[k].next)
        hs[i] = g[k].y1 - g[k].y0, xs[i] = (g[k].x0 + g[k].x1) / 2, ys[0][i] = g[k].y1,
        ys[1][i] = (g[k].y0 + g[k].y1) / 2;
    qsort(hs, (size_t)m, sizeof *hs, cmp_int);
    int tol = hs[m / 2] / 5 + 1;
    for (int pass = 0; pass < 2; pass++) {
        int sl[64], r[64], tmp[64], on = 0;
        for (int i = 0; i + 1 < m; i++) // slopes in 1/1000
            sl[i] = xs[i + 1] > xs[i] ? 1000 * (ys[pass][i + 1] - ys[pass][i]) / (xs[i + 1] - xs[i]) : 0;
        qsort(sl, (size_t)(m - 1), sizeof *sl, cmp_int);
        int slope = sl[(m - 1) / 2];
        if (slope > 200 || slope < -200) continue;
        for (int i = 0; i < m; i++) r[i] = ys[pass][i] - slope * (xs[i] - xs[0]) / 1000;
        memcpy(tmp, r, (size_t)m * sizeof *tmp);
        qsort(tmp, (size_t)m, sizeof *tmp, cmp_int);
        for (int i = 0; i < m; i++) on += abs(r[i] - tmp[m / 2]) <= tol;
        if (on > best) best = on;
    }
    return best * 10 >= m * 7;
}

// Glyph boxes transposed: 90°-rotated text lines run vertically.
static void transpose(glyph *g, int n)
{
    for (int i = 0; i < n; i++) {
        glyph t = g[i];
        g[i] = (glyph){t.y0, t.x0, t.y1, t.x1, -1, 0};
    }
}

static int test_gray(const uint8_t *g, int w, int h, ocr_test_info *info)
{
    size_t n = (size_t)w * h;
    uint32_t *ii = calloc((size_t)(w + 1) * (h + 1), sizeof *ii);
    uint8_t *m = malloc(n);
    int *stack = malloc(n * sizeof *stack);
    glyphs gs = {0};
    int rc = ii && m && stack ? 0 : lisa_seterr(LISA_ENOMEM, "ocr: text test buffers");
    for (int y = 0; rc == 0 && y < h; y++) {
        uint32_t row = 0;
        for (int x = 0; x < w; x++) {
            row += g[(size_t)y * w + x];
            ii[(size_t)(y + 1) * (w + 1) + x + 1] = ii[(size_t)y * (w + 1) + x + 1] + row;
        }
    }
    int r = (w > h ? w : h) / 40;
    if (r < 8) r = 8;
    for (int pol = 0; rc == 0 && pol < 2; pol++) {
        ink_mask(g, ii, w, h, r, pol, m);
        gs.n = 0;
        if ((rc = find_glyphs(g, m, w, h, stack, &gs)) < 0) break;
        int ah, lh, av, lv;
        align(gs.g, gs.n, &ah, &lh);
        transpose(gs.g, gs.n);
        align(gs.g, gs.n, &av, &lv);
        info->glyphs += gs.n;
        info->aligned += ah > av ? ah : av;
        info->lines += ah > av ? lh : lv;
    }
    if (rc == LISA_ENOMEM) lisa_seterr(LISA_ENOMEM, "ocr: glyph list");
    free(gs.g), free(stack), free(m), free(ii);
    return rc;
}

int ocr_text_likely(const img_t *im, ocr_test_info *info)
{
    ocr_test_info tmp;
    if (!info) info = &tmp;
    memset(info, 0, sizeof *info);
    double t0 = mono_ms();
    int l = im->w > im->h ? im->w : im->h, w, h;
    fit(im, l > OCR_TEST_SIDE ? (double)OCR_TEST_SIDE / l : 1.0, &w, &h);
    uint8_t *g;
    int rc = ocr_gray(im, w, h, &g);
    if (rc == 0) rc = test_gray(g, w, h, info);
    free(g);
    info->ms = mono_ms() - t0;
    if (rc < 0) return rc;
    return info->aligned >= OCR_TEST_MIN_ALIGNED && info->lines >= OCR_TEST_MIN_LINES;
}

// ---------------------------------------------------------------- engine

struct ocr_engine {
    TessBaseAPI *api;
    int osd, timeout_ms, min_conf;
};

void ocr_opts_init(ocr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lang = OCR_LANG_DEFAULT;
    o->timeout_ms = OCR_TIMEOUT_MS_DEFAULT;
    o->min_conf = OCR_MIN_CONF_DEFAULT;
}

// "eng", "eng+deu", "chi_sim": letters, digits, '_' and '-' between '+'.
static int lang_check(const char *lang)
{
    size_t n = strlen(lang);
    if (!n || n >= OCR_LANG_MAX) return lisa_seterr(LISA_EINVAL, "ocr: language '%.64s' is empty or too long", lang);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)lang[i];
        int plus_ok = c == '+' && i > 0 && i + 1 < n && lang[i - 1] != '+';
        if (!isalnum(c) && c != '_' && c != '-' && !plus_ok)
            return lisa_seterr(LISA_EINVAL, "ocr: language '%s': bad character at %zu", lang, i);
    }
    return 0;
}

// The first language of lang whose traineddata is not in dir, into miss.
static int lang_missing(const char *dir, const char *lang, char *miss, size_t cap)
{
    char path[4096];
    for (const char *p = lang; *p;) {
        size_t k = strcspn(p, "+");
        snprintf(path, sizeof path, "%s/%.*s.traineddata", dir, (int)k, p);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            snprintf(miss, cap, "%.*s", (int)k, p);
            return 1;
        }
        p += k + (p[k] == '+');
    }
    return 0;
}

// Tesseract's default tessdata folder: $TESSDATA_PREFIX, else Debian's.
static void data_dir(const ocr_opts *o, char *out, size_t cap)
{
    const char *d = o->datapath ? o->datapath : getenv("TESSDATA_PREFIX");
    snprintf(out, cap, "%s", d && *d ? d : "/usr/share/tesseract-ocr/5/tessdata");
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') out[--n] = 0;
}

int ocr_new(const ocr_opts *o, ocr_engine **out)
{
    ocr_opts def;
    if (!o) ocr_opts_init(&def), o = &def;
    *out = NULL;
    const char *lang = o->lang && *o->lang ? o->lang : OCR_LANG_DEFAULT;
    int rc = lang_check(lang);
    if (rc < 0) return rc;
    char dir[4096], miss[OCR_LANG_MAX];
    data_dir(o, dir, sizeof dir);
    if (lang_missing(dir, lang, miss, sizeof miss))
        return lisa_seterr(LISA_ENOTFOUND,
                           "ocr: no traineddata for language '%s' in %s (Debian: apt-get install "
                           "tesseract-ocr-%s)",
                           miss, dir, miss);
    ocr_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->api = TessBaseAPICreate())) {
        free(e);
        return lisa_seterr(LISA_ENOMEM, "ocr: engine");
    }
    char *vars[] = {"debug_file"}, *vals[] = {"/dev/null"};
    if (TessBaseAPIInit4(e->api, dir, lang, OEM_LSTM_ONLY, NULL, 0, vars, vals, 1, 0) != 0) {
        ocr_free(e);
        return lisa_seterr(LISA_EFORMAT, "ocr: tesseract could not load '%s' from %s", lang, dir);
    }
    e->osd = !o->no_osd && !lang_missing(dir, "osd", miss, sizeof miss);
    e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : OCR_TIMEOUT_MS_DEFAULT;
    e->min_conf = o->min_conf >= 0 ? o->min_conf : OCR_MIN_CONF_DEFAULT;
    *out = e;
    return 0;
}

void ocr_free(ocr_engine *e)
{
    if (!e) return;
    if (e->api) TessBaseAPIEnd(e->api), TessBaseAPIDelete(e->api);
    free(e);
}

int ocr_has_osd(const ocr_engine *e)
{
    return e->osd;
}

void ocr_result_clear(ocr_result *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

// ---------------------------------------------------------------- recognition

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static int sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > OCR_TEXT_MAX) return 0; // keep what fits
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return lisa_seterr(LISA_ENOMEM, "ocr: out of memory for %zu bytes of text", cap);
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->s[b->n += n] = 0;
    return 0;
}

// A word worth indexing has a letter or digit (any non-ASCII byte counts).
static int wordish(const char *w)
{
    for (; *w; w++)
        if (isalnum((unsigned char)*w) || (unsigned char)*w >= 0x80) return 1;
    return 0;
}

// ---------------------------------------------------------------- word filter

// The next code point of s (advances *i; bad bytes read as U+FFFD).
static uint32_t next_cp(const unsigned char *s, size_t *i)
{
    uint32_t c = s[(*i)++];
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c >= 0x80 && !more) return 0xFFFD;
    c &= more == 3 ? 0x07 : more == 2 ? 0x0F : more == 1 ? 0x1F : 0x7F;
    for (; more; more--) {
        if ((s[*i] & 0xC0) != 0x80) return 0xFFFD;
        c = c << 6 | (s[(*i)++] & 0x3F);
    }
    return c;
}

enum { CP_PUNCT, CP_VOWEL, CP_CONS, CP_JOIN, CP_DIGIT, CP_OTHER };

// What a code point is to the filter. Latin-1 and Latin Extended letters are
// vowels or consonants too (accented vowels count as vowels); letters of other
// scripts are CP_OTHER; Latin-1 symbols and general punctuation are CP_PUNCT.
static int cp_class(uint32_t c)
{
    if (c < 0x80) {
        int l = c | 0x20;
        if (l >= 'a' && l <= 'z') return strchr("aeiouy", l) ? CP_VOWEL : CP_CONS;
        if (c >= '0' && c <= '9') return CP_DIGIT;
        return c == '\'' || c == '-' ? CP_JOIN : CP_PUNCT;
    }
    if (c < 0xC0 || c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x2BFF) || c == 0xFFFD) return CP_PUNCT;
    if (c == 0x2019) return CP_JOIN;
    if (c < 0x100) { // Latin-1 letters: à..ý (and their capitals) are vowels
        uint32_t l = c | 0x20;
        return (l >= 0xE0 && l <= 0xE6) || (l >= 0xE8 && l <= 0xEF) || (l >= 0xF2 && l <= 0xF6) ||
                       (l >= 0xF8 && l <= 0xFD)
                   ? CP_VOWEL
                   : CP_CONS;
    }
    if (c < 0x250) return CP_VOWEL; // Latin Extended: mostly accented letters; an ASCII consonant completes a word
    return CP_OTHER;
}

int ocr_word_real(const char *w)
{
    const unsigned char *s = (const unsigned char *)w;
    size_t n = strlen(w), i = 0;
    uint32_t cp[128];
    int k = 0;
    while (i < n && k < 128) cp[k++] = next_cp(s, &i);
    int a = 0, b = k;
    while (a < b && cp_class(cp[a]) == CP_PUNCT) a++; // "(word)." -> "word"
    while (b > a && (cp_class(cp[b - 1]) == CP_PUNCT || cp_class(cp[b - 1]) == CP_JOIN)) b--;
    int letters = 0, vowels = 0, cons = 0, other = 0, run = 1;
    for (int j = a; j < b; j++) {
        int c = cp_class(cp[j]);
        if (c == CP_PUNCT || c == CP_DIGIT) return 0; // "+44", "3ee", "a©b"
        letters += c != CP_JOIN, vowels += c == CP_VOWEL, cons += c == CP_CONS, other += c == CP_OTHER;
        run = j > a && (cp[j] | 0x20) == (cp[j - 1] | 0x20) ? run + 1 : 1;
        if (run >= 3 && c != CP_OTHER) return 0; // "eee", "SSS"
    }
    if (other) return other == letters && letters >= 2; // another script: no vowel rule
    return letters >= OCR_REAL_MIN && vowels && cons;
}

int ocr_line_keep(const char *line)
{
    char w[256];
    for (const char *p = line; *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t\n");
        if (!n) break;
        if (n < sizeof w) {
            memcpy(w, p, n), w[n] = 0;
            if (ocr_word_real(w)) return 1;
        }
        p += n;
    }
    return 0;
}

// The words of the line being read, held until its end decides (ocr_line_keep).
typedef struct {
    sbuf line;
    double sum; // their confidences
    int words;
} line_acc;

// Ends a line: appends it to b when it holds a real word, else drops it.
static int line_end(line_acc *l, sbuf *b, ocr_result *r, double *sum)
{
    int rc = 0;
    if (l->words && ocr_line_keep(l->line.s)) {
        if (b->n) rc = sb_add(b, "\n", 1);
        if (rc == 0) rc = sb_add(b, l->line.s, l->line.n);
        *sum += l->sum, r->words += l->words;
    } else {
        r->dropped += l->words;
    }
    l->line.n = 0, l->sum = 0, l->words = 0;
    if (l->line.s) l->line.s[0] = 0;
    return rc;
}

// Walks the recognised words: keeps those at or above the confidence floor,
// in the lines that hold a real word.
static int collect(ocr_engine *e, ocr_result *r)
{
    TessResultIterator *it = TessBaseAPIGetIterator(e->api);
    if (!it) return 0; // nothing recognised
    const TessPageIterator *pi = TessResultIteratorGetPageIterator(it);
    sbuf b = {0};
    line_acc l = {0};
    double sum = 0;
    int rc = sb_add(&b, "", 0);
    if (rc == 0) rc = sb_add(&l.line, "", 0);
    do {
        if (TessPageIteratorIsAtBeginningOf(pi, RIL_TEXTLINE)) rc = line_end(&l, &b, r, &sum);
        char *w = TessResultIteratorGetUTF8Text(it, RIL_WORD);
        float conf = TessResultIteratorConfidence(it, RIL_WORD);
        if (!w) continue;
        if (rc == 0 && conf >= e->min_conf && wordish(w)) {
            if (l.line.n) rc = sb_add(&l.line, " ", 1);
            if (rc == 0) rc = sb_add(&l.line, w, strlen(w));
            l.sum += conf, l.words++;
        } else {
            r->dropped++;
        }
        TessDeleteText(w);
    } while (rc == 0 && TessResultIteratorNext(it, RIL_WORD));
    if (rc == 0) rc = line_end(&l, &b, r, &sum);
    TessResultIteratorDelete(it);
    free(l.line.s);
    if (rc < 0) {
        free(b.s);
        return lisa_seterr(LISA_ENOMEM, "ocr: text");
    }
    r->text = b.s;
    r->conf = r->words ? sum / r->words / 100.0 : 0;
    return 0;
}

// One Tesseract pass over the gray image with page segmentation psm, within
// what is left of the deadline; the kept words go to *r.
static int pass(ocr_engine *e, const uint8_t *g, int w, int h, int psm, int budget_ms, ocr_result *r)
{
    TessBaseAPISetPageSegMode(e->api, (TessPageSegMode)psm);
    TessBaseAPISetImage(e->api, g, w, h, 1, w);
    ETEXT_DESC *mon = TessMonitorCreate();
    if (!mon) return lisa_seterr(LISA_ENOMEM, "ocr: monitor");
    double t0 = mono_ms();
    TessMonitorSetDeadlineMSecs(mon, budget_ms);
    TessBaseAPIRecognize(e->api, mon); // non-zero on a cancel: keep what was recognised
    r->timed_out = mono_ms() - t0 >= budget_ms;
    int rc = collect(e, r);
    TessMonitorDelete(mon);
    TessBaseAPIClear(e->api);
    return rc;
}

// Debian's libtesseract runs OpenMP teams inside each recognition; with one
// engine per pool thread that oversubscribes the cores (measured: 893 ms vs
// 282 ms for the screenshot fixture on 2 cores). OMP_THREAD_LIMIT would fix
// it but libgomp reads it only when it loads, so instead each thread that
// runs Tesseract sets max-active-levels to 0 for itself (the ICV is per
// thread in recent libgomp, global in older ones): every parallel region is
// then a team of one. Found with dlsym, so a Tesseract without OpenMP is fine.
static void omp_serial(void)
{
    static _Thread_local int done;
    if (done) return;
    done = 1;
    void (*set)(int);
    *(void **)&set = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");
    if (set) set(0);
}

int ocr_run(ocr_engine *e, const img_t *im, ocr_result *r)
{
    omp_serial();
    memset(r, 0, sizeof *r);
    double t0 = mono_ms();
    int l = im->w > im->h ? im->w : im->h, w, h;
    double scale = l > OCR_MAX_SIDE ? (double)OCR_MAX_SIDE / l : 1.0;
    if (l < OCR_MIN_SIDE)
        scale = (double)OCR_MIN_SIDE / l > OCR_UPSCALE_MAX ? OCR_UPSCALE_MAX : (double)OCR_MIN_SIDE / l;
    fit(im, scale, &w, &h);
    uint8_t *g;
    int rc = ocr_gray(im, w, h, &g);
    if (rc < 0) return rc;
    if (ocr_noise_sigma(g, w, h) >= OCR_NOISE_SIGMA) {
        uint8_t *tmp = malloc((size_t)w * h);
        if (!tmp) {
            free(g);
            return lisa_seterr(LISA_ENOMEM, "ocr: smoothing %dx%d", w, h);
        }
        smooth(g, w, h, tmp);
        free(tmp);
    }
    rc = pass(e, g, w, h, e->osd ? PSM_AUTO_OSD : PSM_AUTO, e->timeout_ms, r);
    int left = e->timeout_ms - (int)(mono_ms() - t0);
    if (rc == 0 && r->words < OCR_SPARSE_RETRY && left > 0) {
        ocr_result s;
        memset(&s, 0, sizeof s);
        rc = pass(e, g, w, h, e->osd ? PSM_SPARSE_TEXT_OSD : PSM_SPARSE_TEXT, left, &s);
        if (rc == 0 && s.words > r->words)
            ocr_result_clear(r), *r = s;
        else
            ocr_result_clear(&s);
    }
    if (rc == 0 && !r->text && !(r->text = strdup(""))) rc = lisa_seterr(LISA_ENOMEM, "ocr: text");
    free(g);
    r->ms = mono_ms() - t0;
    if (rc < 0) ocr_result_clear(r);
    return rc;
}
