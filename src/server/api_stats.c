// GET /api/stats and GET /api/health, and the search latency ring (docs/api.md).
#include "server/srv.h"
#include "base/err.h"
#include "clip/clip.h"
#include "model/modeldir.h"
#include "search/thumbs.h"
#include "search/search.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_SCAN_MAX 1000000 // entries counted per folder in stats

void srv__lat_record(srv *s, double ms)
{
    pthread_mutex_lock(&s->lat_mu);
    s->lat[s->lat_count % SRV_LAT_RING] = (float)ms;
    s->lat_count++;
    pthread_mutex_unlock(&s->lat_mu);
}

static int fcmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Nearest-rank percentile of the sorted v[0..n).
static double pct(const float *v, int n, double p)
{
    int k = (int)(p / 100.0 * n + 0.999999);
    k = k < 1 ? 1 : k > n ? n : k;
    return v[k - 1];
}

static cJSON *latency_json(srv *s)
{
    float v[SRV_LAT_RING], recent[SRV_LAT_RECENT];
    pthread_mutex_lock(&s->lat_mu);
    long long count = s->lat_count;
    int n = count < SRV_LAT_RING ? (int)count : SRV_LAT_RING;
    memcpy(v, s->lat, sizeof(float) * (size_t)n);
    int nr = n < SRV_LAT_RECENT ? n : SRV_LAT_RECENT;
    for (int i = 0; i < nr; i++) recent[i] = s->lat[(count - nr + i) % SRV_LAT_RING];
    pthread_mutex_unlock(&s->lat_mu);
    qsort(v, (size_t)n, sizeof *v, fcmp);
    cJSON *o = cJSON_CreateObject(), *r;
    cJSON_AddNumberToObject(o, "count", n);
    const double ps[] = {50, 95, 99};
    const char *names[] = {"p50", "p95", "p99"};
    for (int i = 0; i < 3; i++) {
        if (n)
            cJSON_AddNumberToObject(o, names[i], pct(v, n, ps[i]));
        else
            cJSON_AddNullToObject(o, names[i]);
    }
    r = cJSON_AddArrayToObject(o, "recent");
    for (int i = 0; i < nr; i++) cJSON_AddItemToArray(r, cJSON_CreateNumber(recent[i]));
    return o;
}

// Regular files directly in dir: count and bytes.
// Regular files in dir (only real thumbnails when thumbs: no *.tmp).
static void dir_usage(const char *dir, int thumbs, long long *count, long long *bytes)
{
    *count = *bytes = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct stat st;
    for (struct dirent *e; (e = readdir(d)) && *count < DIR_SCAN_MAX;)
        if (e->d_name[0] != '.' && (!thumbs || thumbs_is_name(e->d_name)) &&
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            (*count)++, *bytes += st.st_size;
    closedir(d);
}

static long long rss_bytes(void)
{
    long long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%lld %lld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void add_model(srv *s, cJSON *arr, const store_stats *st, const char *name, const char *kind, int loaded)
{
    char dir[MODELDIR_PATH_MAX + 300], install[300];
    const char *missing = "config.json";
    const char *explicit_dir = loaded || (!strcmp(kind, "clip") && s->models_arg[0]) ? s->models_arg : NULL;
    if (modeldir_resolve(explicit_dir && explicit_dir[0] ? explicit_dir : NULL, s->data, name, dir, sizeof dir) < 0)
        snprintf(dir, sizeof dir, "%s/models/%s", s->data, name);
    int installed = modeldir_check(dir, !strcmp(kind, "clip") ? MODELDIR_CLIP : MODELDIR_BLIP, name, &missing) == 0;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", loaded ? s->model_id : name);
    cJSON_AddStringToObject(m, "kind", kind);
    if (loaded) cJSON_AddStringToObject(m, "family", clip_siglip(s->model) ? "siglip" : "clip"); // model_type
    cJSON_AddBoolToObject(m, "installed", installed || loaded);
    cJSON_AddBoolToObject(m, "loaded", loaded);
    cJSON_AddStringToObject(m, "path", dir);
    if (missing && !installed && !loaded)
        cJSON_AddStringToObject(m, "missing", missing);
    else
        cJSON_AddNullToObject(m, "missing");
    snprintf(install, sizeof install, "lisa models pull %s", name);
    cJSON_AddStringToObject(m, "install", install);
    long long vectors = 0;
    int dim = 0;
    const char *vid = loaded ? s->model_id : name;
    for (int i = 0; i < st->n_models; i++)
        if (!strcmp(st->models[i].id, vid)) vectors = st->models[i].count, dim = st->models[i].dim;
    cJSON_AddNumberToObject(m, "vectors", (double)vectors);
    if (dim)
        cJSON_AddNumberToObject(m, "dim", dim);
    else
        cJSON_AddNullToObject(m, "dim");
    cJSON_AddItemToArray(arr, m);
}

enum MHD_Result srv__stats(srv *s, struct MHD_Connection *c)
{
    store_stats st;
    memset(&st, 0, sizeof st);
    srv_slot *sl = srv__slot_get(s);
    int err = srv__slot_store(s, sl);
    if (err == 0) err = store_get_stats(sl->st, &st);
    srv__slot_put(s, sl);
    if (err < 0) return http_error(c, 500, "internal", "stats: %s", lisa_errmsg_for(err));
    long long uploads, up_bytes, thumbs, thumb_bytes;
    dir_usage(s->images, 0, &uploads, &up_bytes);
    dir_usage(s->thumbs, 1, &thumbs, &thumb_bytes);
    cJSON *o = cJSON_CreateObject(), *models;
    cJSON_AddStringToObject(o, "version", s->version);
    cJSON_AddNumberToObject(o, "uptime_s", mono_ms() / 1e3 - s->t0);
    cJSON_AddNumberToObject(o, "images", (double)st.images);
    long long indexed = s->model ? 0 : st.images;
    for (int i = 0; s->model && i < st.n_models; i++)
        if (!strcmp(st.models[i].id, s->model_id)) indexed = st.models[i].count;
    cJSON_AddNumberToObject(o, "indexed", (double)indexed);
    cJSON_AddNumberToObject(o, "embeddings", (double)st.embeddings);
    cJSON_AddNumberToObject(o, "uploads", (double)uploads);
    cJSON_AddNumberToObject(o, "failed", (double)st.failed);
    cJSON_AddNumberToObject(o, "db_bytes", (double)st.db_bytes);
    cJSON_AddNumberToObject(o, "thumb_bytes", (double)thumb_bytes);
    cJSON_AddNumberToObject(o, "thumb_count", (double)thumbs);
    cJSON_AddBoolToObject(o, "disk_full", srv__disk_full(s));
    if (st.last_index[0])
        cJSON_AddStringToObject(o, "last_build", st.last_index);
    else
        cJSON_AddNullToObject(o, "last_build");
    models = cJSON_AddArrayToObject(o, "models");
    add_model(s, models, &st, MODELDIR_DEFAULT_CLIP, "clip", s->model != NULL);
    for (int i = 0; i < st.n_models; i++) // the other models with stored vectors (model switching)
        if (strcmp(st.models[i].id, s->model ? s->model_id : MODELDIR_DEFAULT_CLIP) &&
            strcmp(st.models[i].id, MODELDIR_DEFAULT_CLIP))
            add_model(s, models, &st, st.models[i].id, "clip", 0);
    add_model(s, models, &st, MODELDIR_DEFAULT_CAPTION, "caption", 0);
    srv__models_json(s, o, models, &st);
    cJSON_AddItemToObject(o, "latency_ms", latency_json(s));
    cJSON_AddNumberToObject(o, "rss_bytes", (double)rss_bytes());
    // The CLIP weights' precision: the loaded model's, else what a load would use.
    cJSON_AddStringToObject(o, "precision", s->model ? clip_precision(s->model) : clip_load_precision());
    cJSON_AddStringToObject(o, "kernel", s->model ? clip_model_kernel(s->model) : clip_kernel_path());
    cJSON_AddItemToObject(o, "build", srv__build_json(s));
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddNumberToObject(lim, "query_bytes", HTTP_QUERY_MAX);
    cJSON_AddNumberToObject(lim, "upload_bytes", (double)s->max_upload);
    char vi[1024];
    search_vector_index_json(&st, s->data, search_ann_min_default(s->data), vi, sizeof vi);
    cJSON_AddItemToObject(o, "vector_index", cJSON_Parse(vi));
    return http_json(c, 200, o);
}

enum MHD_Result srv__health(srv *s, struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "version", s->version);
    cJSON_AddNumberToObject(o, "uptime_s", mono_ms() / 1e3 - s->t0);
    if (s->model)
        cJSON_AddStringToObject(o, "model", s->model_id);
    else
        cJSON_AddNullToObject(o, "model");
    cJSON_AddBoolToObject(o, "keyword_only", s->model == NULL);
    pthread_mutex_lock(&s->b_mu);
    int building = !strcmp(s->b.state, "running");
    pthread_mutex_unlock(&s->b_mu);
    cJSON_AddBoolToObject(o, "building", building);
    cJSON_AddBoolToObject(o, "auth", s->token != NULL);
    cJSON_AddBoolToObject(o, "disk_full", srv__disk_full(s));
    return http_json(c, 200, o);
}
