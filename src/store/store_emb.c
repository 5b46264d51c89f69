// Embeddings: one float32 BLOB per (model id, image), and the whole-model
// matrix load for the brute-force scan.
#include "store/store_int.h"
#include "base/err.h"

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
    int rc = check_model(s, model_id, dim);
    if (rc < 0 || (rc = store__stmt(s, ST_EMB_PUT, &st)) < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, dim);
    sqlite3_bind_blob(st, 4, vec, dim * (int)sizeof(float), SQLITE_STATIC);
    rc = sqlite3_step(st);
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

// Copies column col of st (a BLOB) into dst when it is exactly dim floats.
static int blob_vec(store *s, sqlite3_stmt *st, int col, int dim, float *dst, int64_t id)
{
    const void *b = sqlite3_column_blob(st, col);
    int nb = sqlite3_column_bytes(st, col);
    if (!b || nb != dim * (int)sizeof(float))
        return lisa_seterr(LISA_EFORMAT, "%s: embedding of image %lld: %d bytes, want %d", s->path, (long long)id, nb,
                           dim * (int)sizeof(float));
    memcpy(dst, b, (size_t)nb);
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

static int alloc_matrix(store *s, size_t n, int dim, float **mat, int64_t **ids)
{
    size_t cells, bytes, idb;
    if (lisa_mul(n, (size_t)dim, &cells) || lisa_mul(cells, sizeof(float), &bytes) ||
        lisa_mul(n, sizeof(int64_t), &idb))
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

static int fill_matrix(store *s, const char *model_id, int dim, float *mat, int64_t *ids, size_t cap, size_t *n)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_EMB_LOAD, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, model_id);
    sqlite3_bind_int(st, 2, dim);
    *n = 0;
    while (*n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[*n] = sqlite3_column_int64(st, 0);
        if ((rc = blob_vec(s, st, 1, dim, mat + *n * (size_t)dim, ids[*n])) < 0) break;
        ++*n;
    }
    sqlite3_reset(st);
    if (rc < 0) return rc;
    if (rc == 0 || rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
    return store__err(s, rc, "embedding load");
}

int store_embeddings_load(store *s, const char *model_id, int dim, float **mat, int64_t **ids, size_t *n)
{
    size_t cap = 0;
    int opened, rc = check_model(s, model_id, dim);
    *mat = NULL;
    *ids = NULL;
    *n = 0;
    if (rc < 0 || (rc = store__read_begin(s, &opened)) < 0) return rc;
    rc = count_rows(s, model_id, dim, &cap);
    if (rc == 0 && cap > 0) rc = alloc_matrix(s, cap, dim, mat, ids);
    if (rc == 0 && cap > 0) rc = fill_matrix(s, model_id, dim, *mat, *ids, cap, n);
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
