// Checkpoints: one model.safetensors, or an index and its shards.
#include "model/checkpoint.h"
#include "base/err.h"
#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_CAP 4096

struct ckpt {
    st_file **file; // nfile shards (or the one model.safetensors), owned
    size_t nfile;
    ckpt_index ix; // empty for model.safetensors
};

/* ---------------------------------------------------------------- the index */

int ckpt_valid_shard_name(const char *name)
{
    static const char ext[] = ".safetensors";
    size_t n = strlen(name), e = sizeof ext - 1;
    if (n <= e || n > CKPT_SHARD_NAME_MAX || name[0] == '.' || strcmp(name + n - e, ext)) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
        if (c == '.' && name[i + 1] == '.') return 0;
    }
    return 1;
}

void ckpt_index_release(ckpt_index *ix)
{
    for (size_t i = 0; i < ix->nshards; i++) free(ix->shards[i]);
    for (size_t i = 0; i < ix->n; i++) free(ix->map[i].tensor);
    free(ix->shards);
    free(ix->map);
    memset(ix, 0, sizeof *ix);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const ckpt_entry *)a)->tensor, ((const ckpt_entry *)b)->tensor);
}

// The weight_map object, with every value a valid shard name; *n its size.
static int check_map(const char *path, const cJSON *root, const cJSON **map, size_t *n)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root)) return lisa_seterr(LISA_EFORMAT, "%s: not a JSON object", path);
    if (meta && !cJSON_IsObject(meta)) return lisa_seterr(LISA_EFORMAT, "%s: metadata: not an object", path);
    if (!*map) return lisa_seterr(LISA_EFORMAT, "%s: weight_map: missing", path);
    if (!cJSON_IsObject(*map)) return lisa_seterr(LISA_EFORMAT, "%s: weight_map: not an object", path);
    int count = cJSON_GetArraySize(*map);
    if (count <= 0) return lisa_seterr(LISA_EFORMAT, "%s: weight_map: empty", path);
    if (count > ST_MAX_TENSORS)
        return lisa_seterr(LISA_ETOOBIG, "%s: weight_map: %d tensors (max %d)", path, count, ST_MAX_TENSORS);
    for (const cJSON *e = (*map)->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return lisa_seterr(LISA_EFORMAT, "%s: weight_map: %.200s: the shard is not a string", path, e->string);
        if (!ckpt_valid_shard_name(e->valuestring))
            return lisa_seterr(LISA_EFORMAT,
                               "%s: weight_map: %.200s: shard name '%.100s' is not a plain *.safetensors file name",
                               path, e->string, e->valuestring);
    }
    *n = (size_t)count;
    return 0;
}

// The distinct shard names of map, sorted (sort + unique: O(n log n) however
// hostile the map).
static int collect_shards(const char *path, const cJSON *map, size_t n, ckpt_index *ix)
{
    const char **all = malloc(n * sizeof *all);
    size_t k = 0, u = 0;
    if (!all) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    for (const cJSON *e = map->child; e; e = e->next) all[k++] = e->valuestring;
    qsort(all, k, sizeof *all, cmp_str);
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(all[i], all[i - 1])) all[u++] = all[i];
    int rc = 0;
    if (u > CKPT_MAX_SHARDS)
        rc = lisa_seterr(LISA_ETOOBIG, "%s: weight_map: %zu shards (max %d)", path, u, CKPT_MAX_SHARDS);
    else if (!(ix->shards = calloc(u, sizeof *ix->shards)))
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; rc == 0 && i < u; i++, ix->nshards++)
        if (!(ix->shards[i] = strdup(all[i]))) rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    free(all);
    return rc;
}

static size_t shard_of(const ckpt_index *ix, const char *name)
{
    char *const *hit = bsearch(&name, ix->shards, ix->nshards, sizeof *ix->shards, cmp_str);
    return (size_t)(hit - ix->shards); // every map value is among the shards
}

static int collect_entries(const char *path, const cJSON *map, size_t n, ckpt_index *ix)
{
    if (!(ix->map = calloc(n, sizeof *ix->map))) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    for (const cJSON *e = map->child; e; e = e->next, ix->n++) {
        if (!(ix->map[ix->n].tensor = strdup(e->string))) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
        ix->map[ix->n].shard = shard_of(ix, e->valuestring);
    }
    qsort(ix->map, ix->n, sizeof *ix->map, cmp_entry);
    for (size_t i = 1; i < ix->n; i++)
        if (!strcmp(ix->map[i].tensor, ix->map[i - 1].tensor))
            return lisa_seterr(LISA_EFORMAT, "%s: weight_map: tensor %.200s appears twice", path, ix->map[i].tensor);
    return 0;
}

static int index_from(const char *path, const cJSON *root, ckpt_index *ix)
{
    const cJSON *map;
    size_t n = 0;
    int rc = check_map(path, root, &map, &n);
    if (rc == 0) rc = collect_shards(path, map, n, ix);
    if (rc == 0) rc = collect_entries(path, map, n, ix);
    return rc;
}

int ckpt_index_load(const char *path, ckpt_index *ix)
{
    cJSON *root = NULL;
    memset(ix, 0, sizeof *ix);
    int rc = lisa_read_json(path, CKPT_INDEX_MAX_BYTES, &root);
    if (rc == 0) rc = index_from(path, root, ix);
    cJSON_Delete(root);
    return rc;
}

int ckpt_index_parse(const char *text, size_t len, const char *name, ckpt_index *ix)
{
    memset(ix, 0, sizeof *ix);
    if (len > CKPT_INDEX_MAX_BYTES) return lisa_seterr(LISA_ETOOBIG, "%s: over %u bytes", name, CKPT_INDEX_MAX_BYTES);
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = root ? index_from(name, root, ix) : lisa_seterr(LISA_EFORMAT, "%s: not valid JSON", name);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- open/close */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// Every tensor of the map must be in the shard the map names.
static int check_shards(const ckpt *c)
{
    for (size_t i = 0; i < c->ix.n; i++) {
        const ckpt_entry *e = &c->ix.map[i];
        if (!st_find(c->file[e->shard], e->tensor))
            return lisa_seterr(LISA_EFORMAT, "%s: weight_map: tensor %.200s is not in shard %s", CKPT_INDEX, e->tensor,
                               c->ix.shards[e->shard]);
    }
    return 0;
}

static int open_shards(ckpt *c, const char *dir, const char *index_path)
{
    char path[PATH_CAP];
    int rc;
    if ((rc = ckpt_index_load(index_path, &c->ix)) < 0) return rc;
    if (!(c->file = calloc(c->ix.nshards, sizeof *c->file))) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", dir);
    for (size_t i = 0; i < c->ix.nshards; i++, c->nfile++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, c->ix.shards[i]) >= (int)sizeof path)
            return lisa_seterr(LISA_ETOOBIG, "%s/%s: path too long", dir, c->ix.shards[i]);
        if (!is_file(path))
            return lisa_seterr(LISA_ENOTFOUND, "%s: weight_map: shard %s is missing (no file %s)", index_path,
                               c->ix.shards[i], path);
        if ((rc = st_open(path, &c->file[i])) < 0) return rc;
    }
    return check_shards(c);
}

int ckpt_open(const char *dir, ckpt **out)
{
    char single[PATH_CAP], index[PATH_CAP];
    int rc;
    *out = NULL;
    if (snprintf(single, sizeof single, "%s/" CKPT_SINGLE, dir) >= (int)sizeof single ||
        snprintf(index, sizeof index, "%s/" CKPT_INDEX, dir) >= (int)sizeof index)
        return lisa_seterr(LISA_ETOOBIG, "%.200s...: path too long", dir);
    ckpt *c = calloc(1, sizeof *c);
    if (!c) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", dir);
    if (!is_file(single) && is_file(index)) {
        rc = open_shards(c, dir, index);
    } else if (!(c->file = calloc(1, sizeof *c->file))) {
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", dir);
    } else {
        rc = st_open(single, &c->file[0]); // a missing file: its error names model.safetensors
        c->nfile = rc == 0;
    }
    if (rc < 0) {
        ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ckpt_close(ckpt *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nfile; i++) st_close(c->file[i]);
    free(c->file);
    ckpt_index_release(&c->ix);
    free(c);
}

int ckpt_sharded(const ckpt *c)
{
    return c->ix.n > 0;
}

size_t ckpt_nfiles(const ckpt *c)
{
    return c->nfile;
}

/* ---------------------------------------------------------------- lookup */

// The file that name must come from, or NULL when the index does not list it.
static st_file *file_of(const ckpt *c, const char *name)
{
    if (!ckpt_sharded(c)) return c->file[0];
    ckpt_entry key = {(char *)name, 0};
    const ckpt_entry *e = bsearch(&key, c->ix.map, c->ix.n, sizeof key, cmp_entry);
    return e ? c->file[e->shard] : NULL;
}

const st_tensor *ckpt_find(const ckpt *c, const char *name)
{
    st_file *f = file_of(c, name);
    return f ? st_find(f, name) : NULL;
}

int ckpt_get_f32(ckpt *c, const char *name, int ndim, const int64_t *shape, const float **out)
{
    st_file *f = file_of(c, name);
    *out = NULL;
    if (!f) return lisa_seterr(LISA_ENOTFOUND, "%s: tensor %s is missing", CKPT_INDEX, name);
    return st_get_f32(f, name, ndim, shape, out);
}
