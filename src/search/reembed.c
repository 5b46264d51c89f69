// Re-embedding every stored image for one model (reembed.h).
#include "search/reembed.h"

#include "base/clock.h"
#include "base/err.h"
#include "clip/clip.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int64_t *ids;
    char **paths;
    size_t n, cap;
    store *st;
    const char *model_id;
    int dim;
} todo_list;

static int collect(void *ud, const store_entry *e)
{
    todo_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids) l->ids = ids;
        char **paths = ids ? realloc(l->paths, cap * sizeof *paths) : NULL;
        if (!paths) return lisa_seterr(LISA_ENOMEM, "re-embed: list of %zu images", cap);
        l->paths = paths, l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(e->path))) return lisa_seterr(LISA_ENOMEM, "re-embed: image path");
    l->ids[l->n++] = e->id;
    return 0;
}

static void todo_free(todo_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths), free(l->ids);
}

// Keeps only the images without a vector for the model (the listing's
// callback must not query the store, so this is a second pass).
static int keep_missing(todo_list *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        int has = store_embedding_has(l->st, l->ids[i], l->model_id, l->dim);
        if (has < 0) return has;
        if (has) {
            free(l->paths[i]);
            continue;
        }
        l->ids[k] = l->ids[i], l->paths[k++] = l->paths[i];
    }
    l->n = k;
    return 0;
}

// Decodes and preprocesses one file into px; 0 or a negative code (skipped).
static int prepare(const char *path, const prep_cfg *pc, float *px)
{
    img_opts o;
    img_opts_init(&o);
    o.min_side = pc->shortest_edge ? pc->shortest_edge : pc->crop_h;
    img_t im;
    int orient, rc = img_load(path, &o, &im, &orient);
    if (rc < 0) return rc;
    rc = prep_image(&im, pc, px);
    img_release(&im);
    return rc;
}

// One batch [i, i + m): decode, embed, store in one transaction.
static int batch(const reembed_opts *o, todo_list *l, size_t i, size_t m, float *px, float *emb, reembed_stats *st)
{
    const prep_cfg *pc = clip_prep(o->model);
    size_t npx = (size_t)3 * pc->crop_h * pc->crop_w;
    int64_t ids[REEMBED_BATCH];
    int ne = 0;
    for (size_t j = 0; j < m; j++) {
        if (prepare(l->paths[i + j], pc, px + (size_t)ne * npx) < 0) {
            lisa_clearerr();
            st->failed++;
            continue;
        }
        ids[ne++] = l->ids[i + j];
    }
    int rc = ne ? clip_embed_images(o->model, px, ne, emb) : 0;
    if (rc == 0 && ne) rc = store_begin(l->st);
    for (int j = 0; rc == 0 && j < ne; j++) {
        rc = store_embedding_put(l->st, ids[j], o->model_id, l->dim, emb + (size_t)j * l->dim);
        if (rc == LISA_ENOTFOUND) rc = 0, lisa_clearerr(); // deleted meanwhile
    }
    if (rc == 0 && ne) rc = store_commit(l->st);
    if (rc < 0 && ne) store_rollback(l->st);
    if (rc == 0) st->embedded += ne, st->done += (long long)m;
    return rc;
}

int reembed_run(const reembed_opts *o, reembed_stats *out)
{
    reembed_stats st;
    memset(&st, 0, sizeof st);
    if (out) *out = st;
    if (!o || !o->data_dir || !o->model || !o->model_id || !*o->model_id)
        return lisa_seterr(LISA_EINVAL, "re-embed: needs a data dir, a model and its id");
    const prep_cfg *pc = clip_prep(o->model);
    if (!pc) return lisa_seterr(LISA_ENOTFOUND, "re-embed: model %s has no image preprocessor config", o->model_id);
    double t0 = mono_s();
    char path[4200];
    snprintf(path, sizeof path, "%s/lisa.db", o->data_dir);
    todo_list l = {.model_id = o->model_id, .dim = clip_dim(o->model)};
    int rc = store_open(path, STORE_CREATE, &l.st);
    if (rc == 0) rc = store_image_list(l.st, NULL, collect, &l);
    if (rc == 0) rc = keep_missing(&l);
    size_t npx = (size_t)3 * pc->crop_h * pc->crop_w;
    float *px = rc == 0 ? malloc(REEMBED_BATCH * npx * sizeof *px) : NULL;
    float *emb = px ? malloc((size_t)REEMBED_BATCH * l.dim * sizeof *emb) : NULL;
    if (rc == 0 && !emb) rc = lisa_seterr(LISA_ENOMEM, "re-embed: batch buffers");
    st.total = (long long)l.n;
    if (rc == 0 && o->on_progress) o->on_progress(o->ud, &st);
    for (size_t i = 0; rc == 0 && i < l.n && !(o->cancel && *o->cancel); i += REEMBED_BATCH) {
        size_t m = l.n - i < REEMBED_BATCH ? l.n - i : REEMBED_BATCH;
        rc = batch(o, &l, i, m, px, emb, &st);
        st.seconds = mono_s() - t0;
        if (rc == 0 && o->on_progress) o->on_progress(o->ud, &st);
    }
    free(px), free(emb);
    todo_free(&l);
    store_close(l.st);
    st.seconds = mono_s() - t0;
    if (out) *out = st;
    return rc;
}

// The library's counts (images, vectors per model) from data_dir's store.
static int library_stats(const char *data_dir, store_stats *ss)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lisa.db", data_dir);
    store *s;
    memset(ss, 0, sizeof *ss);
    int rc = store_open(path, STORE_CREATE, &s);
    if (rc < 0) return rc;
    rc = store_get_stats(s, ss);
    store_close(s);
    return rc;
}

int reembed_coverage(const char *data_dir, const char *model_id, int64_t *images, int64_t *with)
{
    store_stats ss;
    *images = *with = 0;
    int rc = library_stats(data_dir, &ss);
    if (rc == 0) *images = ss.images;
    for (int i = 0; rc == 0 && i < ss.n_models; i++)
        if (!strcmp(ss.models[i].id, model_id)) *with = ss.models[i].count;
    return rc;
}

int reembed_print_coverage(FILE *out, const char *data_dir, const char *active)
{
    store_stats ss;
    int rc = library_stats(data_dir, &ss);
    int seen = 0;
    for (int i = 0; rc == 0 && i < ss.n_models; i++) {
        int act = active && !strcmp(ss.models[i].id, active);
        seen |= act;
        fprintf(out, "vectors: %s %lld of %lld images (%.1f%%)%s\n", ss.models[i].id, (long long)ss.models[i].count,
                (long long)ss.images, ss.images ? 100.0 * (double)ss.models[i].count / (double)ss.images : 100.0,
                act ? ", active" : "");
    }
    if (rc == 0 && active && !seen)
        fprintf(out, "vectors: %s 0 of %lld images (0.0%%), active\n", active, (long long)ss.images);
    return rc;
}
