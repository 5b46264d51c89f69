// Filters and pages: the one WHERE clause built from a store_filter, the SQL
// functions it calls, ordered pages and reordering of id sets.
#include "store/store_int.h"
#include "base/err.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

// The image date, as the UI shows it: EXIF date taken (local time read as
// UTC), else the mtime converted to local time and read as UTC the same way.
#define DATE_EXPR                                                                                                      \
    "COALESCE(date_unix, CAST(strftime('%s', mtime_ns / 1000000000, 'unixepoch', 'localtime') AS INTEGER))"

#define WHERE_MAX (STORE_CLAUSES_MAX * 400 + 64)

// ---------------------------------------------------------------- SQL functions

// Case-folded, accent-stripped copy (malloc'd) for substring tests; NULL on
// invalid UTF-8 or no memory.
static char *fold(const unsigned char *t)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map(t, 0, &out,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE |
                                          UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
    return n < 0 ? NULL : (char *)out;
}

static int is_ascii(const unsigned char *t)
{
    for (; *t; t++)
        if (*t & 0x80) return 0;
    return 1;
}

// The folded needle, cached by SQLite for the statement (it is a bound parameter).
static const char *folded_needle(sqlite3_context *ctx, sqlite3_value *v)
{
    const char *fn = sqlite3_get_auxdata(ctx, 1);
    if (fn) return fn;
    const unsigned char *n = sqlite3_value_text(v);
    char *f = n ? fold(n) : NULL;
    if (!f) return NULL;
    sqlite3_set_auxdata(ctx, 1, f, free);
    return sqlite3_get_auxdata(ctx, 1) ? sqlite3_get_auxdata(ctx, 1) : NULL;
}

// lisa_has(haystack, needle): 1 when needle is in haystack, ignoring case and
// accents. An ASCII haystack (the common case: paths, camera names) is searched
// without folding it: folding ASCII is lower-casing, and an ASCII text cannot
// hold a folded needle with other characters.
static void fn_has(sqlite3_context *ctx, int nv, sqlite3_value **v)
{
    (void)nv;
    const unsigned char *h = sqlite3_value_text(v[0]);
    const char *fn = h ? folded_needle(ctx, v[1]) : NULL;
    if (!h || !fn) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    if (is_ascii(h)) {
        sqlite3_result_int(ctx, strcasestr((const char *)h, fn) != NULL);
        return;
    }
    char *fh = fold(h);
    sqlite3_result_int(ctx, fh && strstr(fh, fn) != NULL);
    free(fh);
}

static const char *base_of(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

// lisa_base(path): the file name.
static void fn_base(sqlite3_context *ctx, int nv, sqlite3_value **v)
{
    (void)nv;
    const char *p = (const char *)sqlite3_value_text(v[0]);
    if (p)
        sqlite3_result_text(ctx, base_of(p), -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

// lisa_format(path): canonical format name from the extension, NULL unknown.
static void fn_format(sqlite3_context *ctx, int nv, sqlite3_value **v)
{
    static const char *const map[][2] = {{"jpg", "jpeg"},  {"jpeg", "jpeg"}, {"jpe", "jpeg"},  {"png", "png"},
                                         {"webp", "webp"}, {"gif", "gif"},   {"heic", "heif"}, {"heif", "heif"},
                                         {"avif", "heif"}, {"bmp", "bmp"},   {"tif", "tiff"},  {"tiff", "tiff"}};
    (void)nv;
    const char *p = (const char *)sqlite3_value_text(v[0]);
    const char *dot = p ? strrchr(base_of(p), '.') : NULL;
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot + 1, map[i][0])) {
            sqlite3_result_text(ctx, map[i][1], -1, SQLITE_STATIC);
            return;
        }
    sqlite3_result_null(ctx);
}

// 1 when the components of want ("a/b", already folded) appear consecutively
// among the folder components of path (folded; the file name excluded).
static int has_components(const char *path, const char *want)
{
    const char *end = strrchr(path, '/');
    size_t wl = strlen(want);
    for (const char *p = path; end && p < end; p++) {
        if (p != path && p[-1] != '/') continue;
        if (*p == '/') continue;
        if ((size_t)(end - p) >= wl && !memcmp(p, want, wl) && (p[wl] == '/')) return 1;
    }
    return 0;
}

// lisa_folder(path, value): see STORE_F_FOLDER. The folded value is cached
// per statement; an ASCII path is lower-cased in place of folding it.
static void fn_folder(sqlite3_context *ctx, int nv, sqlite3_value **v)
{
    (void)nv;
    const char *p = (const char *)sqlite3_value_text(v[0]), *w = (const char *)sqlite3_value_text(v[1]);
    int ok = 0;
    if (p && w && *w == '/') {
        size_t wl = strlen(w);
        while (wl > 1 && w[wl - 1] == '/') wl--;
        ok = !strncmp(p, w, wl) && (p[wl] == '/' || wl == 1);
    } else if (p && w && *w) {
        char *fw = sqlite3_get_auxdata(ctx, 1);
        if (!fw && (fw = fold((const unsigned char *)w))) {
            size_t wl = strlen(fw);
            while (wl && fw[wl - 1] == '/') fw[--wl] = 0;
            sqlite3_set_auxdata(ctx, 1, fw, free);
            fw = sqlite3_get_auxdata(ctx, 1);
        }
        char low[STORE_PATH_MAX + 1], *fp = NULL;
        size_t pl = strlen(p);
        if (is_ascii((const unsigned char *)p) && pl < sizeof low) {
            for (size_t i = 0; i <= pl; i++) low[i] = (char)tolower((unsigned char)p[i]);
        } else if (!(fp = fold((const unsigned char *)p))) {
            fw = NULL;
        }
        ok = fw && *fw && has_components(fp ? fp : low, fw);
        free(fp);
    }
    sqlite3_result_int(ctx, ok);
}

// lisa_km(lat1, lon1, lat2, lon2): great-circle distance (haversine).
static void fn_km(sqlite3_context *ctx, int nv, sqlite3_value **v)
{
    (void)nv;
    for (int i = 0; i < 4; i++)
        if (sqlite3_value_type(v[i]) == SQLITE_NULL) {
            sqlite3_result_null(ctx);
            return;
        }
    const double r = M_PI / 180;
    double la1 = sqlite3_value_double(v[0]) * r, lo1 = sqlite3_value_double(v[1]) * r;
    double la2 = sqlite3_value_double(v[2]) * r, lo2 = sqlite3_value_double(v[3]) * r;
    double a = sin((la2 - la1) / 2), b = sin((lo2 - lo1) / 2);
    double h = a * a + cos(la1) * cos(la2) * b * b;
    sqlite3_result_double(ctx, 2 * 6371.0 * asin(sqrt(h < 1 ? h : 1)));
}

int store__query_register(store *s)
{
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {{"lisa_has", 2, fn_has},
               {"lisa_base", 1, fn_base},
               {"lisa_format", 1, fn_format},
               {"lisa_folder", 2, fn_folder},
               {"lisa_km", 4, fn_km}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int rc = sqlite3_create_function_v2(s->db, fns[i].name, fns[i].nargs,
                                            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, fns[i].fn,
                                            NULL, NULL, NULL);
        if (rc != SQLITE_OK) return store__err(s, rc, "registering the filter functions");
    }
    return 0;
}

// ---------------------------------------------------------------- WHERE

// The SQL of one clause with ?NNN parameters from *np on (bound by bind()).
static int clause_sql(const store_clause *c, int *np, char *buf, size_t cap)
{
    int p = *np;
    switch (c->kind) {
    case STORE_F_DATE: *np += 2; return snprintf(buf, cap, "%s >= ?%d AND %s < ?%d", DATE_EXPR, p, DATE_EXPR, p + 1);
    case STORE_F_MONTH:
        *np += 1;
        return snprintf(buf, cap, "CAST(strftime('%%m', %s, 'unixepoch') AS INTEGER) = ?%d", DATE_EXPR, p);
    case STORE_F_CAMERA:
        *np += 1;
        return snprintf(buf, cap, "lisa_has(COALESCE(make, '') || ' ' || COALESCE(model, ''), ?%d)", p);
    case STORE_F_LENS: *np += 1; return snprintf(buf, cap, "lisa_has(lens, ?%d)", p);
    case STORE_F_TYPE:
        *np += 1;
        return snprintf(buf, cap, "instr(',' || ?%d || ',', ',' || COALESCE(lisa_format(path), '?') || ',') > 0", p);
    case STORE_F_FOLDER: *np += 1; return snprintf(buf, cap, "lisa_folder(path, ?%d)", p);
    case STORE_F_NAME: *np += 1; return snprintf(buf, cap, "lisa_has(lisa_base(path), ?%d)", p);
    case STORE_F_OCR: *np += 1; return snprintf(buf, cap, "lisa_has(ocr_text, ?%d)", p);
    case STORE_F_NEAR:
        *np += 3;
        return snprintf(buf, cap, "gps_lat IS NOT NULL AND lisa_km(gps_lat, gps_lon, ?%d, ?%d) <= ?%d", p, p + 1,
                        p + 2);
    case STORE_F_ORIENT:
        return snprintf(buf, cap, "%s",
                        c->lo == STORE_PORTRAIT    ? "width > 0 AND height > width"
                        : c->lo == STORE_LANDSCAPE ? "height > 0 AND width > height"
                                                   : "width > 0 AND width = height");
    case STORE_F_PIXELS:
        *np += 2;
        return snprintf(buf, cap, "width > 0 AND width * height BETWEEN ?%d AND ?%d", p, p + 1);
    case STORE_F_BYTES: *np += 2; return snprintf(buf, cap, "size BETWEEN ?%d AND ?%d", p, p + 1);
    case STORE_F_MATCH:
        *np += 1;
        return snprintf(buf, cap, "id IN (SELECT rowid FROM image_fts WHERE image_fts MATCH ?%d)", p);
    }
    return -1;
}

// " WHERE ..." for f into buf ("" for no clauses); parameters start at ?first.
static int where_sql(store *s, const store_filter *f, int first, char *buf, size_t cap)
{
    size_t at = 0;
    int np = first;
    buf[0] = 0;
    if (f && (f->n < 0 || f->n > STORE_CLAUSES_MAX))
        return lisa_seterr(LISA_EINVAL, "%s: filter with %d clauses", s->path, f->n);
    for (int i = 0; f && i < f->n; i++) {
        char one[384];
        int l = clause_sql(&f->c[i], &np, one, sizeof one);
        if (l < 0 || (size_t)l >= sizeof one)
            return lisa_seterr(LISA_EINVAL, "%s: filter clause %d: unknown kind %d", s->path, i, f->c[i].kind);
        at += snprintf(buf + at, cap - at, "%s%s(%s)", i ? " AND " : " WHERE ", f->c[i].neg ? "NOT " : "", one);
    }
    return at < cap ? 0 : lisa_seterr(LISA_ETOOBIG, "%s: filter SQL too long", s->path);
}

static void bind_clauses(sqlite3_stmt *st, const store_filter *f, int first)
{
    int p = first;
    for (int i = 0; f && i < f->n; i++) {
        const store_clause *c = &f->c[i];
        switch (c->kind) {
        case STORE_F_DATE:
        case STORE_F_PIXELS:
        case STORE_F_BYTES:
            sqlite3_bind_int64(st, p++, c->lo);
            sqlite3_bind_int64(st, p++, c->hi);
            break;
        case STORE_F_MONTH: sqlite3_bind_int64(st, p++, c->lo); break;
        case STORE_F_NEAR:
            sqlite3_bind_double(st, p++, c->lat);
            sqlite3_bind_double(st, p++, c->lon);
            sqlite3_bind_double(st, p++, c->km);
            break;
        case STORE_F_ORIENT: break;
        default: sqlite3_bind_text(st, p++, c->text, -1, SQLITE_STATIC); break;
        }
    }
}

static int prepare(store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "filter");
}

// ---------------------------------------------------------------- ids, pages

int store_filter_ids(store *s, const store_filter *f, int64_t **ids, size_t *n)
{
    char where[WHERE_MAX], sql[WHERE_MAX + 64];
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *ids = NULL, *n = 0;
    int rc = where_sql(s, f, 1, where, sizeof where);
    if (rc < 0) return rc;
    snprintf(sql, sizeof sql, "SELECT id FROM images%s ORDER BY id", where);
    if ((rc = prepare(s, sql, &st)) < 0) return rc;
    bind_clauses(st, f, 1);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            int64_t *g = realloc(*ids, nc * sizeof *g);
            if (!g) {
                rc = lisa_seterr(LISA_ENOMEM, "%s: %zu filtered ids", s->path, nc);
                break;
            }
            *ids = g, cap = nc;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (rc == 0 && src != SQLITE_DONE) rc = store__err(s, src, "filter");
    sqlite3_finalize(st);
    if (rc < 0) free(*ids), *ids = NULL, *n = 0;
    return rc;
}

static const char *order_sql(int sort)
{
    switch (sort) {
    case STORE_SORT_DATE: return DATE_EXPR ", images.id";
    case STORE_SORT_NAME: return "lisa_base(path) COLLATE NOCASE, images.id";
    case STORE_SORT_NAME_DESC: return "lisa_base(path) COLLATE NOCASE DESC, images.id DESC";
    case STORE_SORT_ADDED_DESC: return "images.id DESC";
    case STORE_SORT_ADDED: return "images.id";
    default: return DATE_EXPR " DESC, images.id DESC";
    }
}

int store_page(store *s, const store_filter *f, int sort, int64_t offset, int limit, int64_t *ids, int *n,
               int64_t *total)
{
    char where[WHERE_MAX], sql[WHERE_MAX + 256];
    sqlite3_stmt *st = NULL;
    *n = 0, *total = 0;
    if (limit < 1 || limit > STORE_HITS_MAX || offset < 0)
        return lisa_seterr(LISA_EINVAL, "%s: page offset %lld limit %d", s->path, (long long)offset, limit);
    int rc = where_sql(s, f, 3, where, sizeof where), src, opened;
    if (rc < 0 || (rc = store__read_begin(s, &opened)) < 0) return rc;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM images%s", where);
    if ((rc = prepare(s, sql, &st)) < 0) goto out;
    bind_clauses(st, f, 3);
    if ((src = sqlite3_step(st)) != SQLITE_ROW) rc = store__err(s, src, "filter count");
    *total = rc == 0 ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st), st = NULL;
    if (rc < 0) goto out;
    snprintf(sql, sizeof sql, "SELECT id FROM images%s ORDER BY %s LIMIT ?1 OFFSET ?2", where, order_sql(sort));
    if ((rc = prepare(s, sql, &st)) < 0) goto out;
    sqlite3_bind_int(st, 1, limit);
    sqlite3_bind_int64(st, 2, offset);
    bind_clauses(st, f, 3);
    while ((src = sqlite3_step(st)) == SQLITE_ROW && *n < limit) ids[(*n)++] = sqlite3_column_int64(st, 0);
    if (src != SQLITE_ROW && src != SQLITE_DONE) rc = store__err(s, src, "filter page");
    sqlite3_finalize(st);
out:
    store__read_end(s, opened);
    return rc;
}

// ---------------------------------------------------------------- reorder

int store_order_ids(store *s, int64_t *ids, size_t n, int sort, size_t *out)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    if (out) *out = n;
    if (n < 2) return 0;
    int rc = store__exec(
        s, "CREATE TEMP TABLE IF NOT EXISTS lisa_order(id INTEGER PRIMARY KEY); DELETE FROM lisa_order", "order table");
    if (rc < 0) return rc;
    if ((rc = prepare(s, "INSERT OR IGNORE INTO temp.lisa_order(id) VALUES(?1)", &st)) < 0) return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, ids[i]);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE) rc = store__err(s, src, "order insert");
    }
    sqlite3_finalize(st), st = NULL;
    snprintf(sql, sizeof sql,
             "SELECT images.id FROM temp.lisa_order JOIN images ON images.id = lisa_order.id ORDER BY %s",
             order_sql(sort));
    if (rc == 0) rc = prepare(s, sql, &st);
    size_t k = 0;
    int src = SQLITE_DONE;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW && k < n) ids[k++] = sqlite3_column_int64(st, 0);
    if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE) rc = store__err(s, src, "order");
    sqlite3_finalize(st);
    store__exec(s, "DELETE FROM temp.lisa_order", "order table");
    if (rc == 0 && out) *out = k;
    return rc;
}
