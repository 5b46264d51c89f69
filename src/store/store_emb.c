// Embeddings: one fp16 BLOB per (model id, image), the whole-model matrix
// load for the brute-force scan, and the change log the ANN index follows.
#include "store/store_int.h"
#include "base/err.h"
#include "base/half.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_model(const store *s, const char *model_id, int dim)
{
    if (!model_id || !*model_id || strlen(model_id) >= STORE_MODEL_ID_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: model id empty or over %d bytes", s->path, STORE_MODEL_ID_MAX - 1);
    if (dim < 1 || dim > STORE_DIM_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: model %s: dimension %d outside [1, %d]", s->path, model_id, dim,
                           STORE_DIM_MAX);
    return 0;
}

int store_embedding_put(store *s, int64_t id, const char *model_id, int dim, const float *vec)
{
    sqlite3_stmt *st;
    uint16_t h[STORE_DIM_MAX];
    int rc = check_model(s, model_id, dim);
    if (rc < 0 || (rc = store__stmt(s, ST_EMB_PUT, &st)) < 0) return rc;
    half_from_f32_n(vec, h, (size_t)dim);
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, dim);
    sqlite3_bind_blob(st, 4, h, dim * (int)sizeof *h, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st); // h is on this stack frame
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return lisa_seterr(LISA_ENOTFOUND, "%s: embedding for missing image id %lld", s->path, (long long)id);
    return store__err(s, rc, "embedding put");
}

int store_embedding_has(store *s, int64_t id, const char *model_id, int dim)
{
    sqlite3_stmt *st;
    if (!model_id || store__stmt(s, ST_EMB_HAS, &st) < 0) return 0;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, dim);
    int has = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return has;
}

int store_embedding_copy(store *s, int64_t from, int64_t to)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_EMB_COPY, &st);
    if (rc < 0) return rc;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return lisa_seterr(LISA_ENOTFOUND, "%s: embedding copy to missing image id %lld", s->path, (long long)to);
    return store__err(s, rc, "embedding copy");
}

// Column col of st (a BLOB) when it is exactly dim fp16 values, else NULL
// with the error recorded.
static const uint16_t *blob_f16(store *s, sqlite3_stmt *st, int col, int dim, int64_t id)
{
    const void *b = sqlite3_column_blob(st, col);
    int nb = sqlite3_column_bytes(st, col);
    if (!b || nb != dim * 2) {
        lisa_seterr(LISA_EFORMAT, "%s: embedding of image %lld: %d bytes, want %d (fp16)", s->path, (long long)id, nb,
                    dim * 2);
        return NULL;
    }
    return b;
}

// Copies column col of st into dst (dim floats) when it is a dim-fp16 BLOB.
static int blob_vec(store *s, sqlite3_stmt *st, int col, int dim, float *dst, int64_t id)
{
    const uint16_t *h = blob_f16(s, st, col, dim, id);
    if (!h) return lisa_errcode(); // blob_f16 said why
    half_to_f32_n(h, dst, (size_t)dim);
    return 0;
}

int store_embedding_get(store *s, int64_t id, const char *model_id, int dim, float *vec)
{
    sqlite3_stmt *st;
    int rc = check_model(s, model_id, dim);
    if (rc < 0 || (rc = store__stmt(s, ST_EMB_GET, &st)) < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, dim);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return lisa_seterr(LISA_ENOTFOUND, "%s: image %lld has no %d-d embedding of %s", s->path, (long long)id, dim,
                           model_id);
    if (rc != SQLITE_ROW) return store__err(s, rc, "embedding get");
    rc = blob_vec(s, st, 0, dim, vec, id);
    sqlite3_reset(st);
    return rc;
}

static int count_rows(store *s, const char *model_id, int dim, size_t *n)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_EMB_COUNT, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int(st, 2, dim);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) return store__err(s, rc, "embedding count");
    *n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int store_embedding_count(store *s, const char *model_id, int dim, int64_t *n)
{
    size_t c = 0;
    int rc = check_model(s, model_id, dim);
    if (rc == 0) rc = count_rows(s, model_id, dim, &c);
    *n = (int64_t)c;
    return rc;
}

static int alloc_matrix(store *s, size_t n, int dim, size_t elem, void **mat, int64_t **ids)
{
    size_t cells, bytes, idb;
    if (lisa_mul(n, (size_t)dim, &cells) || lisa_mul(cells, elem, &bytes) || lisa_mul(n, sizeof(int64_t), &idb))
        return lisa_seterr(LISA_ETOOBIG, "%s: %zu x %d embedding matrix overflows", s->path, n, dim);
    *mat = malloc(bytes);
    *ids = malloc(idb);
    if (*mat && *ids) return 0;
    free(*mat);
    free(*ids);
    *mat = NULL;
    *ids = NULL;
    return lisa_seterr(LISA_ENOMEM, "%s: %zu-byte embedding matrix", s->path, bytes);
}

// Fills (n, dim) rows of mat: float32 when f32, else fp16 (copied as stored).
static int fill_matrix(store *s, const char *model_id, int dim, int f32, void *mat, int64_t *ids, size_t cap, size_t *n)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_EMB_LOAD, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int(st, 2, dim);
    *n = 0;
    while (*n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[*n] = sqlite3_column_int64(st, 0);
        const uint16_t *h = blob_f16(s, st, 1, dim, ids[*n]);
        if (!h) {
            rc = lisa_errcode(); // blob_f16 said why
            break;
        }
        if (f32)
            half_to_f32_n(h, (float *)mat + *n * (size_t)dim, (size_t)dim);
        else
            memcpy((uint16_t *)mat + *n * (size_t)dim, h, (size_t)dim * 2);
        ++*n;
    }
    sqlite3_reset(st);
    if (rc < 0) return rc;
    if (rc == 0 || rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
    return store__err(s, rc, "embedding load");
}

static int load_any(store *s, const char *model_id, int dim, int f32, void **mat, int64_t **ids, size_t *n)
{
    size_t cap = 0;
    int opened, rc = check_model(s, model_id, dim);
    *mat = NULL;
    *ids = NULL;
    *n = 0;
    if (rc < 0 || (rc = store__read_begin(s, &opened)) < 0) return rc;
    rc = count_rows(s, model_id, dim, &cap);
    if (rc == 0 && cap > 0) rc = alloc_matrix(s, cap, dim, f32 ? sizeof(float) : sizeof(uint16_t), mat, ids);
    if (rc == 0 && cap > 0) rc = fill_matrix(s, model_id, dim, f32, *mat, *ids, cap, n);
    store__read_end(s, opened);
    if (rc < 0 || *n == 0) {
        free(*mat);
        free(*ids);
        *mat = NULL;
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int store_embeddings_load(store *s, const char *model_id, int dim, float **mat, int64_t **ids, size_t *n)
{
    void *m;
    int rc = load_any(s, model_id, dim, 1, &m, ids, n);
    *mat = m;
    return rc;
}

int store_embeddings_load_f16(store *s, const char *model_id, int dim, uint16_t **mat, int64_t **ids, size_t *n)
{
    void *m;
    int rc = load_any(s, model_id, dim, 0, &m, ids, n);
    *mat = m;
    return rc;
}

int store_embedding_get_f16(store *s, int64_t id, const char *model_id, int dim, uint16_t *vec)
{
    sqlite3_stmt *st;
    int rc = check_model(s, model_id, dim);
    if (rc < 0 || (rc = store__stmt(s, ST_EMB_GET, &st)) < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, dim);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return lisa_seterr(LISA_ENOTFOUND, "%s: image %lld has no %d-d embedding of %s", s->path, (long long)id, dim,
                           model_id);
    if (rc != SQLITE_ROW) return store__err(s, rc, "embedding get");
    const uint16_t *h = blob_f16(s, st, 0, dim, id);
    if (h) memcpy(vec, h, (size_t)dim * 2);
    sqlite3_reset(st);
    return h ? 0 : lisa_errcode(); // blob_f16 said why
}

// ---------------------------------------------------------------- change log

int store_emb_log_max(store *s, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_EMB_LOG_MAX, &st);
    if (rc < 0) return rc;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) return store__err(s, rc, "embedding log max");
    *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int store_emb_log_read(store *s, const char *model_id, int64_t after, int max, int64_t *seqs, int64_t *ids, int *n)
{
    sqlite3_stmt *st;
    *n = 0;
    if (max < 1) return lisa_seterr(LISA_EINVAL, "%s: embedding log read of %d rows", s->path, max);
    int rc = store__stmt(s, ST_EMB_LOG, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        seqs[*n] = sqlite3_column_int64(st, 0);
        ids[*n] = sqlite3_column_int64(st, 1);
        ++*n;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "embedding log read");
}

static void pruned_key(char *key, size_t cap, const char *model_id)
{
    snprintf(key, cap, "emb_log_pruned:%s", model_id);
}

int store_emb_log_pruned(store *s, const char *model_id, int64_t *through)
{
    char key[STORE_MODEL_ID_MAX + 32], *v = NULL;
    pruned_key(key, sizeof key, model_id);
    *through = 0;
    int rc = store_meta_get(s, key, &v);
    if (rc == LISA_ENOTFOUND) return lisa_clearerr(), 0;
    if (rc == 0) *through = strtoll(v, NULL, 10);
    free(v);
    return rc;
}

int store_emb_log_prune(store *s, const char *model_id, int64_t through)
{
    char key[STORE_MODEL_ID_MAX + 32], val[32], sql[128];
    int64_t old;
    int rc = check_model(s, model_id, 1);
    if (rc < 0 || (rc = store__sp_begin(s)) < 0) return rc;
    rc = store_emb_log_pruned(s, model_id, &old);
    if (rc == 0 && through > old) {
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql, "DELETE FROM emb_log WHERE model = ?1 AND seq <= %lld", (long long)through);
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            store__bind_text(st, 1, model_id);
            rc = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        rc = rc == SQLITE_DONE ? 0 : store__err(s, rc, "embedding log prune");
        pruned_key(key, sizeof key, model_id);
        snprintf(val, sizeof val, "%lld", (long long)through);
        if (rc == 0) rc = store_meta_set(s, key, val);
    }
    return store__sp_end(s, rc);
}

// ---------------------------------------------------------------- SQL function

// lisa_vec_f16(blob): a float32 blob (length a multiple of 4) as fp16.
static void sql_vec_f16(sqlite3_context *ctx, int nval, sqlite3_value **val)
{
    (void)nval;
    const float *f = sqlite3_value_blob(val[0]);
    int nb = sqlite3_value_bytes(val[0]);
    if (nb % 4 || nb / 4 > STORE_DIM_MAX) {
        sqlite3_result_error(ctx, "lisa_vec_f16: blob is not a float32 vector", -1);
        return;
    }
    uint16_t h[STORE_DIM_MAX];
    float tmp[STORE_DIM_MAX];
    memcpy(tmp, f, (size_t)nb); // the blob may be unaligned
    half_from_f32_n(tmp, h, (size_t)nb / 4);
    sqlite3_result_blob(ctx, h, nb / 2, SQLITE_TRANSIENT);
}

int store__vec_register(store *s)
{
    int rc = sqlite3_create_function(s->db, "lisa_vec_f16", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_vec_f16,
                                     NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__err(s, rc, "registering lisa_vec_f16");
}
