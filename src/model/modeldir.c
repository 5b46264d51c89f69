// Model directory discovery and completeness checks.
#include "model/modeldir.h"
#include "base/err.h"
#include "base/json.h"
#include "base/file.h"
#include "model/checkpoint.h"
#include "model/hub.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (1u << 20)

const char *modeldir_data_dir(const char *flag)
{
    if (flag && *flag) return flag;
    const char *env = getenv("LISA_DATA");
    return env && *env ? env : "./data";
}

modeldir_kind modeldir_kind_of(const char *name)
{
    return name && !strncmp(name, "blip", 4) ? MODELDIR_BLIP : MODELDIR_CLIP;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// A regular, non-empty file.
static int has_file(const char *dir, const char *name)
{
    char path[MODELDIR_PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static int put_path(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    int n = b ? c ? snprintf(out, cap, "%s/%s/%s", a, b, c) : snprintf(out, cap, "%s/%s", a, b)
              : snprintf(out, cap, "%s", a);
    if (n < 0 || (size_t)n >= cap) return lisa_seterr(LISA_ETOOBIG, "%.200s...: path too long", a);
    return 0;
}

void modeldir_model_type(const char *dir, char *buf, size_t cap)
{
    char path[MODELDIR_PATH_MAX];
    cJSON *root;
    buf[0] = 0;
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path) return;
    if (lisa_read_json(path, CONFIG_MAX_BYTES, &root) < 0) return;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(t)) snprintf(buf, cap, "%s", t->valuestring);
    cJSON_Delete(root);
}

// Whether the model directory dir can serve a request for kind.
static int type_fits(const char *dir, modeldir_kind kind)
{
    char type[32];
    modeldir_model_type(dir, type, sizeof type);
    if (!type[0]) return kind == MODELDIR_CLIP; // unknown: assume the default model
    return kind == MODELDIR_BLIP ? !strncmp(type, "blip", 4) : !strncmp(type, "clip", 4) || !strcmp(type, "siglip");
}

static int resolve_name(const char *data_dir, const char *name, char *out, size_t cap)
{
    char repo[HUB_NAME_MAX], local[HUB_NAME_MAX];
    int rc;
    if ((rc = hub_resolve_name(name, repo, local)) < 0) return rc;
    const char *env = getenv("LISA_MODELS");
    if (env && *env && is_dir(env)) {
        char sub[MODELDIR_PATH_MAX];
        if (has_file(env, "config.json") && type_fits(env, modeldir_kind_of(local)))
            return put_path(out, cap, env, NULL, NULL);
        if (snprintf(sub, sizeof sub, "%s/%s", env, local) < (int)sizeof sub && is_dir(sub))
            return put_path(out, cap, sub, NULL, NULL);
    }
    return put_path(out, cap, modeldir_data_dir(data_dir), "models", local);
}

int modeldir_resolve(const char *explicit_dir, const char *data_dir, const char *name, char *out, size_t cap)
{
    if (explicit_dir && *explicit_dir) return put_path(out, cap, explicit_dir, NULL, NULL);
    if (name) return resolve_name(data_dir, name, out, cap);
    int rc = resolve_name(data_dir, MODELDIR_DEFAULT_CLIP, out, cap);
    if (rc < 0 || is_dir(out)) return rc;
    char legacy[MODELDIR_PATH_MAX];
    if (resolve_name(data_dir, MODELDIR_LEGACY_CLIP, legacy, sizeof legacy) == 0 && is_dir(legacy))
        return put_path(out, cap, legacy, NULL, NULL);
    return rc; // where `lisa models pull` would put the default
}

/* ---------------------------------------------------------------------------
 * Completeness
 * ------------------------------------------------------------------------- */

// The weights: model.safetensors, else an index whose shards are all present
// (a sharded pull installs the index first, so this also spots an interrupted one).
static const char *missing_weights(const char *dir)
{
    char path[MODELDIR_PATH_MAX];
    ckpt_index ix = {0};
    const char *what = NULL;
    if (has_file(dir, CKPT_SINGLE)) return NULL;
    if (!has_file(dir, CKPT_INDEX)) return CKPT_SINGLE;
    if (snprintf(path, sizeof path, "%s/" CKPT_INDEX, dir) >= (int)sizeof path || ckpt_index_load(path, &ix) < 0) {
        ckpt_index_release(&ix);
        return "a valid " CKPT_INDEX;
    }
    for (size_t i = 0; !what && i < ix.nshards; i++)
        if (!has_file(dir, ix.shards[i])) what = "shards named in " CKPT_INDEX;
    ckpt_index_release(&ix);
    return what;
}

static const char *first_missing(const char *dir, modeldir_kind kind)
{
    const char *weights;
    if (!has_file(dir, "config.json")) return "config.json";
    if ((weights = missing_weights(dir))) return weights;
    if (!has_file(dir, "preprocessor_config.json")) return "preprocessor_config.json";
    if (has_file(dir, "tokenizer.json")) return NULL;
    if (kind == MODELDIR_BLIP) return has_file(dir, "vocab.txt") ? NULL : "tokenizer.json";
    if (has_file(dir, "vocab.json") && has_file(dir, "merges.txt")) return NULL;
    return "tokenizer.json";
}

static int has_partial(const char *dir)
{
    char path[MODELDIR_PATH_MAX];
    DIR *d;
    struct dirent *e;
    int found = 0;
    if (snprintf(path, sizeof path, "%s/.partial", dir) >= (int)sizeof path) return 0;
    if (!(d = opendir(path))) return 0;
    while (!found && (e = readdir(d))) found = strstr(e->d_name, ".part") != NULL;
    closedir(d);
    return found;
}

int modeldir_check(const char *dir, modeldir_kind kind, const char *pull_name, const char **missing)
{
    const char *name = pull_name ? pull_name : kind == MODELDIR_BLIP ? MODELDIR_DEFAULT_CAPTION : MODELDIR_DEFAULT_CLIP;
    const char *what = is_dir(dir) ? first_missing(dir, kind) : "config.json";
    if (missing) *missing = what;
    if (!what) return 0;
    const char *alt = !strcmp(what, "tokenizer.json")
                          ? kind == MODELDIR_BLIP ? " (or vocab.txt)" : " (or vocab.json + merges.txt)"
                          : "";
    if (!is_dir(dir))
        return lisa_seterr(LISA_ENOTFOUND, "no model at %s; install it with: lisa models pull %s", dir, name);
    char path[MODELDIR_PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, what) < (int)sizeof path && stat(path, &st) == 0) // there, but
        return lisa_seterr(LISA_ENOTFOUND,
                           "model directory %s: %s is %s, not a model file%s; install it with: "
                           "lisa models pull %s",
                           dir, what,
                           S_ISDIR(st.st_mode)                          ? "a directory"
                           : S_ISREG(st.st_mode)                        ? "empty"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                        : "a pipe or socket",
                           has_partial(dir) ? " (a download was interrupted: the same command resumes it)" : "", name);
    return lisa_seterr(LISA_ENOTFOUND,
                       "model directory %s is missing %s%s%s; install it with: "
                       "lisa models pull %s",
                       dir, what, alt,
                       has_partial(dir) ? " (a download was interrupted: the same command resumes it)" : "", name);
}

/* ---------------------------------------------------------------------------
 * Listing
 * ------------------------------------------------------------------------- */

typedef struct {
    modeldir_entry *v;
    size_t n;
} list;

static uint64_t dir_bytes(const char *dir)
{
    char path[MODELDIR_PATH_MAX];
    struct dirent *e;
    struct stat st;
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    while ((e = readdir(d)))
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    closedir(d);
    return total;
}

static int already_listed(const list *l, const char *path)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(path, a)) return 0;
    for (size_t i = 0; i < l->n; i++)
        if (realpath(l->v[i].path, b) && !strcmp(a, b)) return 1;
    return 0;
}

static int add_entry(list *l, const char *path, const char *name)
{
    if (l->n >= MODELDIR_LIST_MAX || already_listed(l, path)) return 0;
    modeldir_entry *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    if (put_path(e->path, sizeof e->path, path, NULL, NULL) < 0) return 0; // skip, not fatal
    snprintf(e->name, sizeof e->name, "%s", name);
    modeldir_model_type(path, e->model_type, sizeof e->model_type);
    e->missing = first_missing(path, !strncmp(e->model_type, "blip", 4) ? MODELDIR_BLIP : MODELDIR_CLIP);
    e->bytes = dir_bytes(path);
    e->partial = has_partial(path);
    l->n++;
    return 0;
}

// Adds each non-hidden subdirectory of parent.
static void add_children(list *l, const char *parent)
{
    char path[MODELDIR_PATH_MAX];
    struct dirent *e;
    DIR *d = opendir(parent);
    if (!d) return;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && snprintf(path, sizeof path, "%s/%s", parent, e->d_name) < (int)sizeof path &&
            is_dir(path))
            add_entry(l, path, e->d_name);
    closedir(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const modeldir_entry *)a)->name, ((const modeldir_entry *)b)->name);
}

int modeldir_list(const char *data_dir, modeldir_entry **out, size_t *n)
{
    char models[MODELDIR_PATH_MAX];
    list l = {calloc(MODELDIR_LIST_MAX, sizeof(modeldir_entry)), 0};
    *out = NULL;
    *n = 0;
    if (!l.v) return lisa_seterr(LISA_ENOMEM, "model list: out of memory");
    if (put_path(models, sizeof models, modeldir_data_dir(data_dir), "models", NULL) == 0) add_children(&l, models);
    const char *env = getenv("LISA_MODELS");
    if (env && *env && is_dir(env)) {
        if (has_file(env, "config.json")) {
            const char *slash = strrchr(env, '/');
            add_entry(&l, env, slash && slash[1] ? slash + 1 : env);
        } else {
            add_children(&l, env);
        }
    }
    qsort(l.v, l.n, sizeof *l.v, by_name);
    *out = l.v;
    *n = l.n;
    return 0;
}
