// The query language parser (grammar: docs/search.md, summary: query.h).
#include "search/query.h"

#include "base/err.h"
#include "search/keywords.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PART_SHOW 60 // bytes of a part quoted in an error

// ---------------------------------------------------------------- helpers

// A part as the user typed it, for error messages.
typedef struct {
    const char *s;
    size_t n;
} span;

static int bad(span p, const char *fmt, const char *detail)
{
    char why[256];
    snprintf(why, sizeof why, fmt, detail);
    size_t n = p.n < PART_SHOW ? p.n : PART_SHOW;
    return lisa_seterr(LISA_EINVAL, "query part '%.*s%s': %s", (int)n, p.s, n < p.n ? "..." : "", why);
}

static int valid_utf8(const unsigned char *s, size_t *where)
{
    for (size_t i = 0; s[i];) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return *where = i, 0;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return *where = i, 0;
        if (len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f))) return *where = i, 0;
        if (len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))) return *where = i, 0;
        i += (size_t)len;
    }
    return 1;
}

static int add_clause(query *q, span p, int kind, int neg, store_clause **out)
{
    if (q->f.n == STORE_CLAUSES_MAX) return bad(p, "more than %s filters and phrases in one query", "32");
    store_clause *c = &q->f.c[q->f.n++];
    memset(c, 0, sizeof *c);
    c->kind = kind, c->neg = neg;
    *out = c;
    return 0;
}

static int set_text(store_clause *c, span p, const char *v, size_t n)
{
    if (n >= sizeof c->text) return bad(p, "value over %s bytes", "511");
    memcpy(c->text, v, n), c->text[n] = 0;
    return 0;
}

// Appends s (n bytes) to the growing q->text with a separating space.
static int text_add(query *q, const char *s, size_t n)
{
    size_t have = q->text ? strlen(q->text) : 0;
    char *t = realloc(q->text, have + n + 2);
    if (!t) return lisa_seterr(LISA_ENOMEM, "query text");
    if (have) t[have++] = ' ';
    memcpy(t + have, s, n), t[have + n] = 0;
    q->text = t;
    q->n_words++;
    return 0;
}

// ---------------------------------------------------------------- keyword clauses

// A MATCH clause for the words of s: one FTS5 phrase of their cleaned forms.
static int match_clause(query *q, kw *k, span p, const char *s, size_t n, int neg)
{
    char *raw = strndup(s, n), *clean = NULL;
    if (!raw) return lisa_seterr(LISA_ENOMEM, "query");
    int rc = kw_clean(k, raw, KW_CLEAN, &clean);
    free(raw);
    if (rc < 0) return bad(p, "%s", lisa_errmsg_for(rc));
    store_clause *c = NULL;
    if (!clean[0])
        rc = bad(p, "%s", "nothing searchable is left (only stop words or symbols); drop it or quote other words");
    else if (strlen(clean) + 3 > sizeof c->text)
        rc = bad(p, "%s", "phrase too long");
    else if ((rc = add_clause(q, p, STORE_F_MATCH, neg, &c)) == 0)
        snprintf(c->text, sizeof c->text, "\"%s\"", clean); // cleaned tokens hold no quotes
    free(clean);
    return rc;
}

// ---------------------------------------------------------------- dates

static int days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

static int64_t unix_of(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    return (int64_t)timegm(&tm);
}

// "YYYY", "YYYY-MM" or "YYYY-MM-DD" into the period [*lo, *hi).
static int parse_period(span p, const char *v, int64_t *lo, int64_t *hi)
{
    int y = 0, m = 0, d = 0, n = 0;
    size_t len = strlen(v);
    if (len == 4 && sscanf(v, "%4d%n", &y, &n) == 1 && n == 4) {
        *lo = unix_of(y, 1, 1), *hi = unix_of(y + 1, 1, 1);
    } else if (len == 7 && sscanf(v, "%4d-%2d%n", &y, &m, &n) == 2 && n == 7) {
        if (m < 1 || m > 12) return bad(p, "month %s is not in 01..12", v + 5);
        *lo = unix_of(y, m, 1), *hi = m == 12 ? unix_of(y + 1, 1, 1) : unix_of(y, m + 1, 1);
    } else if (len == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10) {
        if (m < 1 || m > 12) return bad(p, "month in %s is not in 01..12", v);
        if (d < 1 || d > days_in(y, m)) return bad(p, "%s is not a day of that month", v);
        *lo = unix_of(y, m, d), *hi = *lo + 86400;
    } else {
        return bad(p, "'%s' is not a date: use YYYY, YYYY-MM or YYYY-MM-DD", v);
    }
    for (const char *c = v; *c; c++)
        if (!isdigit((unsigned char)*c) && *c != '-') return bad(p, "'%s' is not a date", v);
    if (y < 1800 || y > 2200) return bad(p, "year %s is not in 1800..2200", v);
    return 0;
}

static int parse_month(span p, const char *v)
{
    static const char *const names[] = {"january", "february", "march",     "april",   "may",      "june",
                                        "july",    "august",   "september", "october", "november", "december"};
    char *end;
    long m = strtol(v, &end, 10);
    if (*v && !*end) return m >= 1 && m <= 12 ? (int)m : bad(p, "month %s is not in 1..12", v);
    size_t n = strlen(v);
    for (int i = 0; n >= 3 && i < 12; i++)
        if (!strncasecmp(v, names[i], n) && n <= strlen(names[i])) return i + 1;
    return bad(p, "'%s' is not a month: use a name (july, jul) or 1..12", v);
}

// ---------------------------------------------------------------- numbers

static int parse_num(const char *s, char **end, double *x)
{
    errno = 0;
    *x = strtod(s, end);
    return *end != s && errno == 0 && isfinite(*x);
}

// size:[op]N(mp|kb|mb|gb): pixels or bytes, op one of > >= < <= (none: >=).
static int parse_size(query *q, span p, const char *v, int neg)
{
    int op = 0; // 0 >=, 1 >, 2 <=, 3 <
    if (v[0] == '>')
        op = v[1] == '=' ? 0 : 1, v += v[1] == '=' ? 2 : 1;
    else if (v[0] == '<')
        op = v[1] == '=' ? 2 : 3, v += v[1] == '=' ? 2 : 1;
    char *end;
    double x;
    if (!parse_num(v, &end, &x) || x < 0 || *v == '+' || *v == '-')
        return bad(p, "'%s' is not a size: use e.g. >12mp, <2mb, >=500kb", v);
    double unit = !strcasecmp(end, "mp")   ? 1e6
                  : !strcasecmp(end, "kb") ? 1e3
                  : !strcasecmp(end, "mb") ? 1e6
                  : !strcasecmp(end, "gb") ? 1e9
                                           : 0;
    if (unit == 0) return bad(p, "size unit '%s' is not mp (megapixels), kb, mb or gb", end);
    double n = x * unit;
    if (n > 1e15) return bad(p, "%s is too large", v);
    store_clause *c = NULL;
    int rc = add_clause(q, p, !strcasecmp(end, "mp") ? STORE_F_PIXELS : STORE_F_BYTES, neg, &c);
    if (rc < 0) return rc;
    c->lo = 0, c->hi = INT64_MAX;
    if (op == 0) c->lo = (int64_t)ceil(n);
    if (op == 1) c->lo = (int64_t)floor(n) + 1;
    if (op == 2) c->hi = (int64_t)floor(n);
    if (op == 3) c->hi = (int64_t)ceil(n) - 1;
    return 0;
}

static int parse_near(query *q, span p, const char *v, int neg)
{
    double a[3] = {0, 0, QUERY_NEAR_KM};
    int n = 0;
    const char *s = v;
    for (; n < 3; n++) {
        char *end;
        if (!parse_num(s, &end, &a[n])) break;
        s = end;
        if (*s != ',') {
            n++;
            break;
        }
        s++;
    }
    if (*s || n < 2) return bad(p, "'%s' is not a position: use near:LAT,LON or near:LAT,LON,KM", v);
    if (a[0] < -90 || a[0] > 90) return bad(p, "latitude in '%s' is not in -90..90", v);
    if (a[1] < -180 || a[1] > 180) return bad(p, "longitude in '%s' is not in -180..180", v);
    if (!(a[2] > 0 && a[2] <= 20038)) return bad(p, "radius in '%s' is not in (0, 20038] km", v);
    store_clause *c = NULL;
    int rc = add_clause(q, p, STORE_F_NEAR, neg, &c);
    if (rc == 0) c->lat = a[0], c->lon = a[1], c->km = a[2];
    return rc;
}

// ---------------------------------------------------------------- filters

// type:T or type:T1|T2|...: c->text gets the canonical names, comma-joined.
static int parse_type(query *q, span p, const char *v, int neg)
{
    static const char *const map[][2] = {{"jpeg", "jpeg"}, {"jpg", "jpeg"},  {"png", "png"},   {"webp", "webp"},
                                         {"gif", "gif"},   {"heic", "heif"}, {"heif", "heif"}, {"avif", "heif"},
                                         {"bmp", "bmp"},   {"tiff", "tiff"}, {"tif", "tiff"}};
    char names[STORE_CLAUSE_TEXT] = "";
    size_t at = 0;
    for (const char *t = v;; t++) {
        size_t n = strcspn(t, "|"), i = 0;
        for (; i < sizeof map / sizeof map[0]; i++)
            if (strlen(map[i][0]) == n && !strncasecmp(t, map[i][0], n)) break;
        if (i == sizeof map / sizeof map[0]) {
            char one[64];
            snprintf(one, sizeof one, "%.*s", (int)(n < 40 ? n : 40), t);
            return bad(p, "'%s' is not a type: use jpeg, png, webp, gif, heic, bmp or tiff (a|b for either)", one);
        }
        at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", at ? "," : "", map[i][1]);
        if (at >= sizeof names - 8) return bad(p, "%s", "too many types");
        t += n;
        if (!*t) break;
    }
    store_clause *c = NULL;
    int rc = add_clause(q, p, STORE_F_TYPE, neg, &c);
    if (rc == 0) snprintf(c->text, sizeof c->text, "%s", names);
    return rc;
}

static int parse_orient(query *q, span p, const char *v, int neg)
{
    int o = !strcasecmp(v, "portrait")    ? STORE_PORTRAIT
            : !strcasecmp(v, "landscape") ? STORE_LANDSCAPE
            : !strcasecmp(v, "square")    ? STORE_SQUARE
                                          : 0;
    if (!o) return bad(p, "'%s' is not an orientation: use portrait, landscape or square", v);
    store_clause *c = NULL;
    int rc = add_clause(q, p, STORE_F_ORIENT, neg, &c);
    if (rc == 0) c->lo = o;
    return rc;
}

static int parse_like(query *q, span p, const char *v, int sign)
{
    char *end;
    errno = 0;
    long long id = strtoll(v, &end, 10);
    if (!*v || *end || errno || id < 1 || !isdigit((unsigned char)*v))
        return bad(p, "'%s' is not an image id (a positive integer, as in /api/image/ID)", v);
    if (q->n_like == QUERY_LIKES_MAX) return bad(p, "more than %s like: parts", "16");
    q->like[q->n_like].id = id, q->like[q->n_like++].sign = sign;
    return 0;
}

static const char *const keys[] = {"after",  "before", "year", "month", "on",          "camera", "lens", "type",
                                   "folder", "name",   "text", "near",  "orientation", "size",   "like"};
#define NKEYS (sizeof keys / sizeof keys[0])

static int date_clause(query *q, span p, int key, const char *v, int neg)
{
    int64_t lo = 0, hi = 0;
    int rc = parse_period(p, v, &lo, &hi);
    store_clause *c = NULL;
    if (rc == 0) rc = add_clause(q, p, STORE_F_DATE, neg, &c);
    if (rc < 0) return rc;
    c->lo = key == 1 ? INT64_MIN : lo; // before: the start of the period is excluded
    c->hi = key == 0 ? INT64_MAX : key == 1 ? lo : hi;
    if (key == 2 && strlen(v) != 4) return bad(p, "year '%s' must be four digits", v);
    return 0;
}

static int text_clause(query *q, span p, int kind, const char *v, int neg)
{
    store_clause *c = NULL;
    int rc = add_clause(q, p, kind, neg, &c);
    return rc < 0 ? rc : set_text(c, p, v, strlen(v));
}

static int filter(query *q, span p, int key, const char *v, int sign)
{
    int neg = sign < 0;
    if (!*v) return bad(p, "%s: needs a value", keys[key]);
    switch (key) {
    case 0:
    case 1:
    case 2:
    case 4: return date_clause(q, p, key, v, neg);
    case 3: {
        int m = parse_month(p, v);
        store_clause *c = NULL;
        if (m < 0) return m;
        int rc = add_clause(q, p, STORE_F_MONTH, neg, &c);
        if (rc == 0) c->lo = m;
        return rc;
    }
    case 5: return text_clause(q, p, STORE_F_CAMERA, v, neg);
    case 6: return text_clause(q, p, STORE_F_LENS, v, neg);
    case 7: return parse_type(q, p, v, neg);
    case 8: return text_clause(q, p, STORE_F_FOLDER, v, neg);
    case 9: return text_clause(q, p, STORE_F_NAME, v, neg);
    case 10: return text_clause(q, p, STORE_F_OCR, v, neg);
    case 11: return parse_near(q, p, v, neg);
    case 12: return parse_orient(q, p, v, neg);
    case 13: return parse_size(q, p, v, neg);
    default: return parse_like(q, p, v, sign < 0 ? -1 : 1);
    }
}

// ---------------------------------------------------------------- parts

// The key of a part "key:...", or -1 when the part is a word; -2 (error set)
// for an unknown key. klen gets the key's length.
static int key_of(span p, const char *s, size_t *klen)
{
    size_t n = 0;
    while (isalpha((unsigned char)s[n]) && (s[n] & 0x80) == 0) n++;
    if (s[n] != ':' || n < 2) return -1;
    *klen = n;
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i]) == n && !strncasecmp(s, keys[i], n)) return (int)i;
    char k[64];
    snprintf(k, sizeof k, "%.*s", (int)(n < 40 ? n : 40), s);
    bad(p,
        "unknown filter '%s:'; filters are after: before: year: month: on: camera: lens: type: folder: name: "
        "text: near: orientation: size: like: (quote a word with a colon to search for it)",
        k);
    return -2;
}

// Reads a value at s: "quoted" (to the closing quote) or up to whitespace.
// *val gets a malloc'd copy, *next the position after it.
static int read_value(span *p, const char *s, char **val, const char **next)
{
    const char *e;
    if (*s == '"') {
        e = strchr(s + 1, '"');
        if (!e) {
            p->n = strlen(p->s);
            return bad(*p, "%s", "unterminated quote: add the closing \"");
        }
        *val = strndup(s + 1, (size_t)(e - s - 1));
        e++;
    } else {
        e = s + strcspn(s, " \t\r\n\f\v");
        *val = strndup(s, (size_t)(e - s));
    }
    p->n = (size_t)(e - p->s);
    *next = e;
    return *val ? 0 : lisa_seterr(LISA_ENOMEM, "query");
}

static int one_part(query *q, kw *k, const char *s, const char **next)
{
    span p = {s, strcspn(s, " \t\r\n\f\v")};
    int sign = 0;
    if (*s == '-' || *s == '+') sign = *s == '-' ? -1 : 1, s++;
    char *v = NULL;
    int rc;
    if (*s == '"') { // phrase
        if ((rc = read_value(&p, s, &v, next)) < 0) return rc;
        if (sign < 0)
            rc = match_clause(q, k, p, v, strlen(v), 1);
        else if (!v[0])
            rc = 0; // "" : nothing
        else if ((rc = match_clause(q, k, p, v, strlen(v), 0)) == 0)
            rc = text_add(q, v, strlen(v));
        free(v);
        return rc;
    }
    size_t klen = 0;
    int key = key_of(p, s, &klen);
    if (key == -2) return lisa_errcode(); // bad() said which key
    if (key >= 0) {
        if ((rc = read_value(&p, s + klen + 1, &v, next)) < 0) return rc;
        if (sign > 0 && key != 14)
            rc = bad(p, "'+' only goes with like: (+like:ID); drop it", NULL);
        else
            rc = filter(q, p, key, v, sign);
        free(v);
        return rc;
    }
    size_t n = strcspn(s, " \t\r\n\f\v");
    *next = s + n;
    if (!n) return 0; // a lone sign
    if (sign < 0) return match_clause(q, k, p, s, n, 1);
    return text_add(q, s, n);
}

// ---------------------------------------------------------------- parse

int query_parse(kw *k, const char *text, query **out)
{
    *out = NULL;
    if (!text) text = "";
    size_t len = strlen(text), where;
    if (len > QUERY_TEXT_MAX) return lisa_seterr(LISA_EINVAL, "query: %zu bytes, over %d", len, QUERY_TEXT_MAX);
    if (!valid_utf8((const unsigned char *)text, &where))
        return lisa_seterr(LISA_EINVAL, "query: not valid UTF-8 at byte %zu", where);
    query *q = calloc(1, sizeof *q);
    if (!q) return lisa_seterr(LISA_ENOMEM, "query");
    int rc = 0;
    for (const char *s = text; rc == 0;) {
        s += strspn(s, " \t\r\n\f\v");
        if (!*s) break;
        const char *next = s;
        rc = one_part(q, k, s, &next);
        if (rc == 0 && next == s) next++; // never loop in place
        s = next;
    }
    q->n_filters = 0;
    for (int i = 0; i < q->f.n; i++) q->n_filters += q->f.c[i].kind != STORE_F_MATCH;
    if (rc == 0 && !q->text && !(q->text = strdup(""))) rc = lisa_seterr(LISA_ENOMEM, "query");
    if (rc < 0) {
        query_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

void query_free(query *q)
{
    if (!q) return;
    free(q->text);
    free(q);
}

int query_ranks(const query *q)
{
    return q->n_words > 0 || q->n_like > 0;
}
