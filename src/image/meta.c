// EXIF/IPTC/XMP through libgexiv2: dates, camera, GPS, titles, keywords, and
// the words they give the keyword index. See meta.h.
#include "image/meta.h"
#include "base/err.h"

#include <errno.h>
#include <math.h>
#include "image/exiv2_shim.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t exiv2_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_ok;

static void init_exiv2(void)
{
    init_ok = x2_initialize();
}

void meta_clear(meta_info *m)
{
    free(m->title);
    free(m->headline);
    free(m->description);
    for (int i = 0; i < m->n_keywords; i++) free(m->keywords[i]);
    free(m->keywords);
    memset(m, 0, sizeof *m);
    m->date_unix = META_NO_DATE;
}

// ---------------------------------------------------------------- text

// A malloc'd UTF-8 copy of s: trimmed of spaces and NULs, Latin-1 decoded
// when it is not valid UTF-8 (old IPTC), cut at META_TEXT_MAX on a character
// boundary. NULL for empty text or out of memory.
static char *clean_text(const char *s)
{
    char *conv = NULL, *out;
    if (!s) return NULL;
    if (!g_utf8_validate(s, -1, NULL)) s = conv = g_convert(s, -1, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
    if (!s) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    if (n > META_TEXT_MAX) {
        n = META_TEXT_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    out = n ? strndup(s, n) : NULL;
    g_free(conv);
    return out;
}

// The first of tags present with a non-empty value, cleaned; NULL if none.
static char *first_text(GExiv2Metadata *md, const char *const *tags)
{
    for (; *tags; tags++) {
        GError *err = NULL;
        gchar *v = x2_tag_string(md, *tags, &err);
        if (err) g_error_free(err);
        char *t = clean_text(v);
        g_free(v);
        if (t) return t;
    }
    return NULL;
}

// XMP language alternatives come back as 'lang="x-default" text'.
static char *strip_lang(char *t)
{
    if (!t || strncmp(t, "lang=\"", 6)) return t;
    char *q = strchr(t + 6, '"');
    if (!q) return t;
    q++;
    while (*q == ' ') q++;
    memmove(t, q, strlen(q) + 1);
    if (*t) return t;
    free(t);
    return NULL;
}

// Copies cleaned v into dst[cap], cut on a character boundary.
static void copy_field(char *dst, size_t cap, const char *v)
{
    char *t = clean_text(v);
    size_t n = t ? strlen(t) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(dst, t, n);
    dst[n] = 0;
    free(t);
}

// ---------------------------------------------------------------- dates

// Reads "YYYY?MM?DD[?hh?mm?ss]" with any single separators (EXIF uses ':',
// XMP '-' and 'T'); all fields range-checked. 0 on success.
static int parse_date(const char *s, struct tm *tm)
{
    int v[6] = {0, 0, 0, 0, 0, 0}, w[6] = {4, 2, 2, 2, 2, 2}, k = 0;
    const char *p = s;
    for (; k < 6; k++) {
        if (k && *p && strchr(":-T ", *p))
            p++;
        else if (k)
            break;
        int d = 0;
        for (; d < w[k] && *p >= '0' && *p <= '9'; d++, p++) v[k] = v[k] * 10 + (*p - '0');
        if (d != w[k]) return -1;
    }
    if (k != 3 && k != 6) return -1; // date only, or date and time
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[0] < 1800 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1]) return -1;
    int leap = (v[0] % 4 == 0 && v[0] % 100) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap) return -1;
    if (v[3] > 23 || v[4] > 59 || v[5] > 60) return -1;
    *tm = (struct tm){
        .tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2], .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5]};
    return 0;
}

static int set_date(meta_info *m, const char *s)
{
    struct tm tm;
    if (!s || parse_date(s, &tm) < 0) return -1;
    char iso[80]; // fields are range-checked: always 19 characters
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    snprintf(m->date_taken, sizeof m->date_taken, "%.19s", iso);
    m->date_unix = (int64_t)timegm(&tm);
    return 0;
}

static char *tag_string(GExiv2Metadata *md, const char *tag)
{
    const char *const one[] = {tag, NULL};
    return first_text(md, one);
}

// IPTC keeps date and time in two datasets.
static int iptc_date(GExiv2Metadata *md, meta_info *m)
{
    char *d = tag_string(md, "Iptc.Application2.DateCreated"), buf[40];
    char *t = tag_string(md, "Iptc.Application2.TimeCreated");
    int rc = -1;
    if (d) {
        snprintf(buf, sizeof buf, "%s %.8s", d, t ? t : "");
        rc = set_date(m, t ? buf : d);
        if (rc < 0 && t) rc = set_date(m, d);
    }
    free(d);
    free(t);
    return rc;
}

static void read_date(GExiv2Metadata *md, meta_info *m)
{
    static const char *const tags[] = {
        "Exif.Photo.DateTimeOriginal", "Exif.Photo.DateTimeDigitized", "Exif.Image.DateTime",
        "Xmp.exif.DateTimeOriginal",   "Xmp.photoshop.DateCreated",    "Xmp.xmp.CreateDate",
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char *v = tag_string(md, tags[i]);
        int ok = set_date(m, v) == 0;
        free(v);
        if (ok) return;
    }
    iptc_date(md, m);
}

// ---------------------------------------------------------------- keywords

static int has_keyword(const meta_info *m, const char *fold)
{
    for (int i = 0; i < m->n_keywords; i++) {
        gchar *f = g_utf8_casefold(m->keywords[i], -1);
        int same = !strcmp(f, fold);
        g_free(f);
        if (same) return 1;
    }
    return 0;
}

static void add_keyword(meta_info *m, const char *raw)
{
    char *k = clean_text(raw);
    if (!k) return;
    gchar *fold = g_utf8_casefold(k, -1);
    int dup = has_keyword(m, fold);
    g_free(fold);
    if (dup || m->n_keywords >= META_KEYWORDS_MAX) {
        free(k);
        return;
    }
    if (!m->keywords) m->keywords = calloc(META_KEYWORDS_MAX, sizeof *m->keywords);
    if (!m->keywords) {
        free(k);
        return;
    }
    m->keywords[m->n_keywords++] = k;
}

// Each value of a repeatable tag; hierarchical ones ("A|B|C") add each level.
static void read_keywords(GExiv2Metadata *md, meta_info *m, const char *tag, int hier)
{
    GError *err = NULL;
    gchar **v = x2_tag_multiple(md, tag, &err);
    if (err) g_error_free(err);
    for (int i = 0; v && v[i]; i++) {
        if (!hier) {
            add_keyword(m, v[i]);
            continue;
        }
        gchar **lv = g_strsplit(v[i], "|", 16);
        for (int j = 0; lv && lv[j]; j++) add_keyword(m, lv[j]);
        g_strfreev(lv);
    }
    g_strfreev(v);
}

// ---------------------------------------------------------------- read

static void read_camera(GExiv2Metadata *md, meta_info *m)
{
    char *make = tag_string(md, "Exif.Image.Make"), *model = tag_string(md, "Exif.Image.Model");
    copy_field(m->make, sizeof m->make, make);
    copy_field(m->model, sizeof m->model, model);
    free(make);
    free(model);
    char *lens = tag_string(md, "Exif.Photo.LensModel");
    if (!lens || !*lens) free(lens), lens = tag_string(md, "Xmp.aux.Lens");
    copy_field(m->lens, sizeof m->lens, lens);
    free(lens);
    GError *err = NULL;
    long o = x2_has_tag(md, "Exif.Image.Orientation") ? x2_tag_long(md, "Exif.Image.Orientation", &err) : 0;
    if (err) g_error_free(err);
    m->orientation = o >= 1 && o <= 8 ? (int)o : 0;
}

// Latitude and longitude are required, altitude optional: gexiv2's combined
// getter fails when only the altitude is incomplete.
static void read_gps(GExiv2Metadata *md, meta_info *m)
{
    GError *err = NULL;
    double lon = 0, lat = 0, alt = 0;
    int ok = x2_gps_latitude(md, &lat, &err);
    if (ok && !err) ok = x2_gps_longitude(md, &lon, &err);
    if (err) g_error_free(err), err = NULL, ok = 0;
    if (ok && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && (lat != 0 || lon != 0)) {
        m->has_gps = 1;
        m->lat = lat, m->lon = lon;
        if (x2_gps_altitude(md, &alt, &err) && !err && isfinite(alt)) m->alt = alt;
        if (err) g_error_free(err);
    }
}

static void read_text(GExiv2Metadata *md, meta_info *m)
{
    static const char *const title[] = {"Xmp.dc.title", "Iptc.Application2.ObjectName", NULL};
    static const char *const head[] = {"Xmp.photoshop.Headline", "Iptc.Application2.Headline", NULL};
    static const char *const desc[] = {"Xmp.dc.description", "Iptc.Application2.Caption", "Exif.Image.ImageDescription",
                                       NULL};
    m->title = strip_lang(first_text(md, title));
    m->headline = strip_lang(first_text(md, head));
    m->description = strip_lang(first_text(md, desc));
    read_keywords(md, m, "Iptc.Application2.Keywords", 0);
    read_keywords(md, m, "Xmp.dc.subject", 0);
    read_keywords(md, m, "Xmp.lr.hierarchicalSubject", 1);
}

// Opens path, or the n bytes at data when data is not NULL (name labels errors).
static int open_md(const char *name, const uint8_t *data, size_t n, GExiv2Metadata **out)
{
    GError *err = NULL;
    GExiv2Metadata *md = x2_new();
    *out = NULL;
    if (!md) return lisa_seterr(LISA_ENOMEM, "%s: metadata reader", name);
    if (!(data ? x2_open_buf(md, data, n, &err) : x2_open_path(md, name, &err))) {
        int rc = lisa_seterr(LISA_EFORMAT, "%s: metadata: %s", name, err && err->message ? err->message : "unreadable");
        if (err) g_error_free(err);
        x2_free(md);
        return rc;
    }
    *out = md;
    return 0;
}

static int read_md(const char *name, const uint8_t *data, size_t n, meta_info *out)
{
    GExiv2Metadata *md;
    pthread_once(&init_once, init_exiv2);
    if (!init_ok) return lisa_seterr(LISA_EUNSUPPORTED, "%s: gexiv2 failed to initialise", name);
    pthread_mutex_lock(&exiv2_lock);
    int rc = open_md(name, data, n, &md);
    if (rc == 0) {
        read_date(md, out);
        read_camera(md, out);
        read_gps(md, out);
        read_text(md, out);
        x2_free(md);
    }
    pthread_mutex_unlock(&exiv2_lock);
    return rc;
}

int meta_read(const char *path, meta_info *out)
{
    struct stat sb;
    memset(out, 0, sizeof *out);
    out->date_unix = META_NO_DATE;
    if (stat(path, &sb) != 0)
        return lisa_seterr(errno == ENOENT ? LISA_ENOTFOUND : LISA_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return lisa_seterr(LISA_EIO, "%s: not a regular file", path);
    return read_md(path, NULL, 0, out);
}

int meta_read_buf(const uint8_t *data, size_t n, meta_info *out)
{
    memset(out, 0, sizeof *out);
    out->date_unix = META_NO_DATE;
    if (!data || !n) return lisa_seterr(LISA_EFORMAT, "metadata: empty buffer");
    return read_md("(buffer)", data, n, out);
}

// ---------------------------------------------------------------- words

int meta_date_words(const meta_info *m, char *buf, int n)
{
    static const char *const months[] = {"january", "february", "march",     "april",   "may",      "june",
                                         "july",    "august",   "september", "october", "november", "december"};
    static const char *const seasons[] = {"winter", "spring", "summer", "autumn"};
    int y, mo;
    if (n <= 0) return 0;
    buf[0] = 0;
    if (sscanf(m->date_taken, "%4d-%2d", &y, &mo) != 2 || mo < 1 || mo > 12) return 0;
    int season = (mo % 12) / 3; // Dec-Feb 0, Mar-May 1, Jun-Aug 2, Sep-Nov 3
    if (m->has_gps && m->lat < 0) season = (season + 2) % 4;
    int len = snprintf(buf, (size_t)n, "%d %s %s", y, months[mo - 1], seasons[season]);
    return len < n ? len : n - 1;
}

static void put_word(GString *s, const char *w)
{
    if (!w || !*w) return;
    if (s->len) g_string_append_c(s, ' ');
    g_string_append(s, w);
}

// Company suffixes in EXIF Make that carry no meaning ("NIKON CORPORATION").
static int is_company_word(const char *w)
{
    static const char *const co[] = {"corporation", "corp", "corp.", "co",   "co.",    "co.,ltd.",
                                     "ltd",         "ltd.", "inc",   "inc.", "company"};
    for (size_t i = 0; i < sizeof co / sizeof co[0]; i++)
        if (!g_ascii_strcasecmp(w, co[i])) return 1;
    return 0;
}

// Make without company suffixes, then model without a leading repeat of the
// make's first word ("Canon" + "Canon EOS 5D" -> "Canon EOS 5D").
static void put_camera(GString *s, const meta_info *m)
{
    gchar **mk = g_strsplit(m->make, " ", 8);
    for (int i = 0; mk && mk[i]; i++)
        if (!is_company_word(mk[i])) put_word(s, mk[i]);
    const char *model = m->model;
    size_t l = mk && mk[0] ? strlen(mk[0]) : 0;
    if (l && !g_ascii_strncasecmp(model, mk[0], l) && (model[l] == ' ' || !model[l])) model += l + (model[l] == ' ');
    put_word(s, model);
    g_strfreev(mk);
}

int meta_words(const meta_info *m, char **out)
{
    char dw[64];
    GString *s = g_string_new(NULL);
    put_camera(s, m);
    meta_date_words(m, dw, sizeof dw);
    put_word(s, dw);
    for (int i = 0; i < m->n_keywords; i++) put_word(s, m->keywords[i]);
    put_word(s, m->title);
    put_word(s, m->headline);
    put_word(s, m->description);
    *out = strdup(s->str);
    g_string_free(s, TRUE);
    return *out ? 0 : lisa_seterr(LISA_ENOMEM, "meta words");
}
