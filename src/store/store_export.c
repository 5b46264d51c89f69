// `lisa export --json`: the whole library as one JSON document, streamed one
// image object at a time (built with cJSON) from one read snapshot.
#include "store/store_int.h"
#include "base/err.h"
#include "base/half.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- base64

// RFC 4648 base64 with padding of n bytes into a malloc'd string (NULL when
// out of memory). Used only for embedding bytes.
static char *base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

// ---------------------------------------------------------------- JSON helpers

// int64 values (mtime_ns ~ 1.7e18) do not survive a double, so they go in raw.
static void add_i64(cJSON *o, const char *k, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    cJSON_AddRawToObject(o, k, buf);
}

static void add_col(cJSON *o, const char *k, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL: cJSON_AddNullToObject(o, k); break;
    case SQLITE_INTEGER: add_i64(o, k, sqlite3_column_int64(st, col)); break;
    case SQLITE_FLOAT: cJSON_AddNumberToObject(o, k, sqlite3_column_double(st, col)); break;
    default: cJSON_AddStringToObject(o, k, (const char *)sqlite3_column_text(st, col)); break;
    }
}

static const char *const image_cols[] = {
    "id",          "path",       "size",      "mtime_ns",   "hash",  "width",      "height",
    "orientation", "date_taken", "date_unix", "make",       "model", "name_words", "meta_words",
    "caption",     "ocr_text",   "ocr_conf",  "indexed_at", "lens",  "gps_lat",    "gps_lon",
};
#define N_IMAGE_COLS (int)(sizeof image_cols / sizeof image_cols[0])

static const char export_sql[] = "SELECT i.id, i.path, i.size, i.mtime_ns, i.hash, i.width, i.height, i.orientation,"
                                 " i.date_taken, i.date_unix, i.make, i.model, i.name_words, i.meta_words, i.caption,"
                                 " i.ocr_text, i.ocr_conf, i.indexed_at, i.lens, i.gps_lat, i.gps_lon,"
                                 " f.name, f.meta, f.caption, f.ocr"
                                 " FROM images i LEFT JOIN image_fts f ON f.rowid = i.id ORDER BY i.id";

// ---------------------------------------------------------------- pieces

static int add_embeddings(store *s, cJSON *o, int64_t id)
{
    sqlite3_stmt *st;
    cJSON *arr = cJSON_AddArrayToObject(o, "embeddings");
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT model, dim, vec FROM embeddings WHERE image_id = ?1"
                                " ORDER BY model",
                                -1, &st, NULL);
    if (!arr || rc != SQLITE_OK)
        return rc != SQLITE_OK ? store__err(s, rc, "export") : lisa_seterr(LISA_ENOMEM, "export: out of memory");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        // Stored as fp16 (schema v4); exported as float32 as before.
        const uint16_t *h = sqlite3_column_blob(st, 2);
        int dim = sqlite3_column_int(st, 1), nb = sqlite3_column_bytes(st, 2);
        float f[STORE_DIM_MAX];
        if (h && dim > 0 && dim <= STORE_DIM_MAX && nb == 2 * dim) half_to_f32_n(h, f, (size_t)dim);
        char *b64 = h && nb == 2 * dim ? base64((const uint8_t *)f, (size_t)dim * 4) : NULL;
        if (!e || !b64) {
            cJSON_Delete(e);
            free(b64);
            sqlite3_finalize(st);
            return lisa_seterr(LISA_ENOMEM, "%s: export of image %lld", s->path, (long long)id);
        }
        add_col(e, "model", st, 0);
        add_col(e, "dim", st, 1);
        cJSON_AddStringToObject(e, "base64", b64);
        free(b64);
        cJSON_AddItemToArray(arr, e);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "export embeddings");
}

static cJSON *image_json(store *s, sqlite3_stmt *st, int flags, int *rc)
{
    static const char *const kw[] = {"name", "meta", "caption", "ocr"};
    cJSON *o = cJSON_CreateObject(), *k;
    if (!o) goto oom;
    for (int c = 0; c < N_IMAGE_COLS; c++) add_col(o, image_cols[c], st, c);
    if (!(k = cJSON_AddObjectToObject(o, "keywords"))) goto oom;
    for (int c = 0; c < 4; c++) add_col(k, kw[c], st, N_IMAGE_COLS + c);
    if ((flags & STORE_EXPORT_EMBEDDINGS) && (*rc = add_embeddings(s, o, sqlite3_column_int64(st, 0))) < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
oom:
    cJSON_Delete(o);
    *rc = lisa_seterr(LISA_ENOMEM, "%s: export", s->path);
    return NULL;
}

static int write_str(store *s, FILE *out, const char *str)
{
    if (fputs(str, out) >= 0) return 0;
    return lisa_seterr(LISA_EIO, "%s: export: write failed", s->path);
}

// The header object up to the opening bracket of "images".
static int write_head(store *s, FILE *out)
{
    sqlite3_stmt *st;
    cJSON *meta = cJSON_CreateObject();
    int rc = sqlite3_prepare_v2(s->db, "SELECT key, value FROM kv ORDER BY key", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        cJSON_Delete(meta);
        return store__err(s, rc, "export meta");
    }
    while (meta && sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddStringToObject(meta, (const char *)sqlite3_column_text(st, 0),
                                (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    char *m = meta ? cJSON_PrintUnformatted(meta) : NULL;
    cJSON_Delete(meta);
    if (!m) return lisa_seterr(LISA_ENOMEM, "%s: export meta", s->path);
    rc = fprintf(out,
                 "{\"format\":\"lisa-export\",\"version\":1,\"schema\":%d,\"meta\":%s,"
                 "\"images\":[",
                 STORE_SCHEMA_VERSION, m) < 0
             ? lisa_seterr(LISA_EIO, "%s: export: write failed", s->path)
             : 0;
    free(m);
    return rc;
}

static int write_images(store *s, FILE *out, int flags)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, export_sql, -1, &st, NULL), first = 1;
    if (rc != SQLITE_OK) return store__err(s, rc, "export");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int err = 0;
        cJSON *o = image_json(s, st, flags, &err);
        char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!txt) {
            rc = err ? err : lisa_seterr(LISA_ENOMEM, "%s: export", s->path);
            break;
        }
        err = write_str(s, out, first ? "\n" : ",\n");
        if (!err) err = write_str(s, out, txt);
        free(txt);
        first = 0;
        if ((rc = err) < 0) break;
    }
    sqlite3_finalize(st);
    if (rc < 0) return rc;
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "export");
}

int store_export_json(store *s, FILE *out, int flags)
{
    int opened, rc = store__read_begin(s, &opened);
    if (rc < 0) return rc;
    rc = write_head(s, out);
    if (rc == 0) rc = write_images(s, out, flags);
    if (rc == 0) rc = write_str(s, out, "\n]}\n");
    if (rc == 0 && fflush(out) != 0) rc = lisa_seterr(LISA_EIO, "%s: export: flush failed", s->path);
    store__read_end(s, opened);
    return rc;
}
