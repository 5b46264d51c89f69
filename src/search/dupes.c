// Exact and near-duplicate groups (search/dupes.h).
#include "search/dupes.h"

#include "base/err.h"
#include "image/phash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t id;
    char *path;
    char sha[65];
    int has_phash;
    uint64_t phash;
} dup_img;

typedef struct {
    dup_img *v;
    size_t n, cap;
    int err;
} dup_list;

// ---------------------------------------------------------------- loading

static int collect(void *ud, const store_dup_entry *e)
{
    dup_list *l = ud;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        dup_img *v = realloc(l->v, nc * sizeof *v);
        if (!v) return l->err = lisa_seterr(LISA_ENOMEM, "duplicates: %zu images", nc);
        l->v = v, l->cap = nc;
    }
    dup_img *d = &l->v[l->n];
    if (!(d->path = strdup(e->path ? e->path : "")))
        return l->err = lisa_seterr(LISA_ENOMEM, "duplicates: copying a path");
    d->id = e->id, d->has_phash = e->has_phash, d->phash = e->phash;
    snprintf(d->sha, sizeof d->sha, "%s", e->sha256 ? e->sha256 : "");
    l->n++;
    return 0;
}

static void list_free(dup_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
}

#define PHASH_BATCH 256 // hashes written per transaction: a commit per hash would be a sync per hash

// The first image of each content gets a hash from its file when the store
// has none; later images of the content (consecutive) share it. Writes go
// in transactions of PHASH_BATCH (none is open when the caller holds one).
static int fill_phashes(store *s, dup_list *l, dupes_result *r)
{
    int rc = 0, open = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        dup_img *d = &l->v[i];
        if (i && !strcmp(d->sha, l->v[i - 1].sha)) {
            d->has_phash = l->v[i - 1].has_phash, d->phash = l->v[i - 1].phash;
            continue;
        }
        if (d->has_phash) continue;
        if (img_phash_load(d->path, &d->phash) < 0) {
            r->unreadable++;
            continue;
        }
        d->has_phash = 1;
        if (!open && (rc = store_begin(s)) < 0) break;
        open = 1;
        rc = store_phash_put(s, d->sha, d->phash);
        if (rc == 0 && ++r->hashed % PHASH_BATCH == 0) rc = store_commit(s), open = 0;
    }
    if (open && rc == 0) return store_commit(s);
    if (open) store_rollback(s);
    return rc;
}

// ---------------------------------------------------------------- groups

static int add_group(dupes_result *r, int kind, float sim, const int64_t *ids, int n)
{
    dupes_group *g = realloc(r->g, (size_t)(r->n + 1) * sizeof *g);
    if (!g) return lisa_seterr(LISA_ENOMEM, "duplicates: %d groups", r->n + 1);
    r->g = g;
    g = &r->g[r->n];
    if (!(g->ids = malloc((size_t)n * sizeof *g->ids))) return lisa_seterr(LISA_ENOMEM, "duplicates: a group");
    memcpy(g->ids, ids, (size_t)n * sizeof *ids);
    g->kind = kind, g->similarity = sim, g->n = n;
    r->n++;
    return 0;
}

static int exact_groups(const dup_list *l, dupes_result *r)
{
    int64_t *ids = malloc((l->n ? l->n : 1) * sizeof *ids);
    if (!ids) return lisa_seterr(LISA_ENOMEM, "duplicates: %zu ids", l->n);
    int rc = 0;
    for (size_t i = 0, j; rc == 0 && i < l->n; i = j) {
        for (j = i; j < l->n && !strcmp(l->v[j].sha, l->v[i].sha); j++) ids[j - i] = l->v[j].id;
        if (j - i > 1) rc = add_group(r, DUPES_EXACT, 1.0f, ids, (int)(j - i));
    }
    free(ids);
    return rc;
}

// One content: its lowest-id image, hash, and CLIP vector row (-1: none).
typedef struct {
    int64_t id;
    uint64_t phash;
    long row;
    int parent;
} content;

static int uf_find(content *c, int i)
{
    while (c[i].parent != i) i = c[i].parent = c[c[i].parent].parent;
    return i;
}

typedef struct {
    float *mat;
    int64_t *ids;
    size_t n;
    int dim;
} vecs;

static long vec_row(const vecs *v, int64_t id)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->ids[lo] == id ? (long)lo : -1;
}

static float cosine(const vecs *v, long a, long b)
{
    const float *x = v->mat + (size_t)a * v->dim, *y = v->mat + (size_t)b * v->dim;
    double dot = 0, nx = 0, ny = 0;
    for (int k = 0; k < v->dim; k++) dot += x[k] * y[k], nx += x[k] * x[k], ny += y[k] * y[k];
    return nx > 0 && ny > 0 ? (float)(dot / sqrt(nx * ny)) : 0.0f;
}

// The CLIP model with the most vectors, loaded (none: v->n == 0).
static int load_vectors(store *s, vecs *v, dupes_result *r)
{
    store_stats st;
    int rc = store_get_stats(s, &st), best = -1;
    if (rc < 0) return rc;
    for (int i = 0; i < st.n_models; i++)
        if (best < 0 || st.models[i].count > st.models[best].count) best = i;
    if (best < 0 || st.models[best].count < 2) return 0;
    v->dim = st.models[best].dim;
    rc = store_embeddings_load(s, st.models[best].id, v->dim, &v->mat, &v->ids, &v->n);
    if (rc == 0 && v->n) r->used_vectors = 1, snprintf(r->model, sizeof r->model, "%s", st.models[best].id);
    return rc;
}

static int pair_near(const dupes_opts *o, const vecs *v, const content *a, const content *b)
{
    int d = img_phash_distance(a->phash, b->phash);
    if (d <= o->max_distance) return 1;
    if (d > o->loose_distance || a->row < 0 || b->row < 0) return 0;
    return cosine(v, a->row, b->row) >= o->min_cosine;
}

// One near group per component of two or more contents: members are chained
// through next[] from each root (ascending), ids is scratch of nc entries.
static int emit_near(dupes_result *r, const content *c, const int *first, const int *next, int root, int64_t *ids)
{
    int n = 0, worst = 0;
    for (int i = first[root]; i >= 0; i = next[i]) {
        for (int j = first[root]; j != i; j = next[j]) {
            int d = img_phash_distance(c[i].phash, c[j].phash);
            if (d > worst) worst = d;
        }
        ids[n++] = c[i].id;
    }
    return n > 1 ? add_group(r, DUPES_NEAR, 1.0f - (float)worst / 64.0f, ids, n) : 0;
}

// Chains every content to its component's root, in ascending order.
static int emit_all(dupes_result *r, content *c, int nc, int64_t *ids)
{
    int *first = malloc((size_t)(nc ? nc : 1) * sizeof *first), *next = malloc((size_t)(nc ? nc : 1) * sizeof *next);
    int *last = malloc((size_t)(nc ? nc : 1) * sizeof *last), rc = 0;
    if (!first || !next || !last) rc = lisa_seterr(LISA_ENOMEM, "duplicates: %d contents", nc);
    for (int i = 0; rc == 0 && i < nc; i++) first[i] = last[i] = next[i] = -1;
    for (int i = 0; rc == 0 && i < nc; i++) {
        int root = uf_find(c, i);
        if (first[root] < 0)
            first[root] = i;
        else
            next[last[root]] = i;
        last[root] = i;
    }
    for (int i = 0; rc == 0 && i < nc; i++)
        if (first[i] >= 0) rc = emit_near(r, c, first, next, i, ids);
    free(first), free(next), free(last);
    return rc;
}

static int near_groups(store *s, const dupes_opts *o, const dup_list *l, dupes_result *r)
{
    content *c = malloc((l->n ? l->n : 1) * sizeof *c);
    int64_t *ids = malloc((l->n ? l->n : 1) * sizeof *ids);
    vecs v = {0};
    int nc = 0, rc = c && ids ? 0 : lisa_seterr(LISA_ENOMEM, "duplicates: %zu contents", l->n);
    if (rc == 0 && !o->no_vectors) rc = load_vectors(s, &v, r);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        const dup_img *d = &l->v[i];
        if (!d->has_phash || (i && !strcmp(d->sha, l->v[i - 1].sha))) continue;
        if (nc == DUPES_CONTENTS_MAX) {
            rc = lisa_seterr(LISA_ETOOBIG, "duplicates: more than %d distinct images", DUPES_CONTENTS_MAX);
            break;
        }
        c[nc] = (content){d->id, d->phash, v.n ? vec_row(&v, d->id) : -1, nc};
        nc++;
    }
    for (int i = 0; rc == 0 && i < nc; i++)
        for (int j = i + 1; j < nc; j++)
            if (uf_find(c, i) != uf_find(c, j) && pair_near(o, &v, &c[i], &c[j]))
                c[uf_find(c, j)].parent = uf_find(c, i);
    if (rc == 0) rc = emit_all(r, c, nc, ids);
    free(v.mat), free(v.ids), free(ids), free(c);
    return rc;
}

// ---------------------------------------------------------------- public

int dupes_find(store *s, const dupes_opts *opt, dupes_result *out)
{
    dupes_opts o = opt ? *opt : (dupes_opts){0};
    if (o.max_distance <= 0) o.max_distance = DUPES_PHASH_MAX;
    if (o.loose_distance <= 0) o.loose_distance = DUPES_PHASH_LOOSE;
    if (o.min_cosine <= 0) o.min_cosine = DUPES_COSINE_MIN;
    memset(out, 0, sizeof *out);
    dup_list l = {0};
    int rc = store_dup_list(s, collect, &l);
    if (rc > 0) rc = l.err;
    out->images = (int64_t)l.n;
    if (rc == 0) rc = fill_phashes(s, &l, out);
    if (rc == 0) rc = exact_groups(&l, out);
    if (rc == 0) rc = near_groups(s, &o, &l, out);
    list_free(&l);
    if (rc < 0) dupes_result_free(out);
    return rc;
}

void dupes_result_free(dupes_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) free(r->g[i].ids);
    free(r->g);
    memset(r, 0, sizeof *r);
}
