// Switching the active model without losing work (docs/models.md): when the
// server starts with a model whose vectors do not cover the library, the
// model with the most stored vectors keeps answering vector searches (it is
// loaded too, for the query side) while a background thread re-embeds the
// library for the active model (search/reembed.h: vectors only, no OCR,
// caption or keyword work). When the new vectors cover the library (at
// least as many images as the old model's do) the
// slots reopen their searches on the active model and the old one is freed
// at shutdown. And the per-model part of GET /api/stats.
#include "server/srv.h"
#include "base/err.h"
#include "clip/clip.h"
#include "model/modeldir.h"
#include "search/reembed.h"

#include <stdlib.h>
#include <string.h>

// Loads the model stored vectors call id, from DATA/models (or where the
// catalog puts it), else beside the active model's directory. 0 with *m NULL
// when it is not installed.
static int load_by_id(srv *s, const char *id, clip_model **m)
{
    char dir[MODELDIR_PATH_MAX + 300];
    *m = NULL;
    if (modeldir_resolve(NULL, s->data, id, dir, sizeof dir) == 0 && modeldir_check(dir, MODELDIR_CLIP, id, NULL) == 0)
        return clip_load(dir, 0, m);
    lisa_clearerr();
    const char *slash = strrchr(s->models_arg, '/');
    if (!slash) return 0;
    snprintf(dir, sizeof dir, "%.*s/%s", (int)(slash - s->models_arg), s->models_arg, id);
    if (modeldir_check(dir, MODELDIR_CLIP, id, NULL) < 0) return lisa_clearerr(), 0;
    return clip_load(dir, 0, m);
}

static void on_progress(void *ud, const reembed_stats *st)
{
    srv *s = ud;
    pthread_mutex_lock(&s->r_mu);
    s->r_done = st->done, s->r_total = st->total;
    pthread_mutex_unlock(&s->r_mu);
}

static void *reembed_thread(void *arg)
{
    srv *s = arg;
    reembed_opts o = {s->data, s->model, s->model_id, &s->r_cancel, on_progress, s};
    reembed_stats st;
    int64_t images, now = 0, before = 0;
    int rc = reembed_run(&o, &st);
    if (rc == 0) rc = reembed_coverage(s->data, s->model_id, &images, &now);
    if (rc == 0 && s->prev_model) rc = reembed_coverage(s->data, s->prev_model_id, &images, &before);
    pthread_mutex_lock(&s->r_mu);
    s->r_running = 0;
    // Switch once the new vectors cover at least what the old ones did (files
    // that no longer decode keep the old model answering, and are logged).
    if (rc == 0 && !s->r_cancel && now >= before) s->answer_prev = 0;
    pthread_mutex_unlock(&s->r_mu);
    atomic_fetch_add(&s->answer_gen, 1);
    if (rc < 0)
        srv__log(s, "re-embedding for %s failed: %s", s->model_id, lisa_errmsg_for(rc));
    else
        srv__log(s, "re-embedded %lld images for %s in %.1fs (%lld failed)%s", st.embedded, s->model_id, st.seconds,
                 st.failed, s->r_cancel ? ", cancelled" : "");
    return NULL;
}

int srv__reembed_start(srv *s)
{
    if (!s->model) return 0;
    char path[SRV_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", s->data);
    store *st;
    store_stats ss;
    memset(&ss, 0, sizeof ss);
    int rc = store_open(path, STORE_CREATE, &st);
    if (rc == 0) rc = store_get_stats(st, &ss), store_close(st);
    if (rc < 0) return rc;
    int64_t have = 0;
    int prev = -1;
    for (int i = 0; i < ss.n_models; i++) {
        if (!strcmp(ss.models[i].id, s->model_id))
            have = ss.models[i].count;
        else if (prev < 0 || ss.models[i].count > ss.models[prev].count)
            prev = i;
    }
    if (ss.images == 0 || have >= ss.images) return 0;
    if (prev >= 0 && ss.models[prev].count > have && (rc = load_by_id(s, ss.models[prev].id, &s->prev_model)) < 0) {
        srv__log(s, "model %s (previous vectors) does not load: %s", ss.models[prev].id, lisa_errmsg_for(rc));
        lisa_clearerr();
    }
    if (s->prev_model) {
        snprintf(s->prev_model_id, sizeof s->prev_model_id, "%s", ss.models[prev].id);
        s->answer_prev = 1;
    }
    s->r_running = 1, s->r_total = ss.images - have;
    if (pthread_create(&s->r_thread, NULL, reembed_thread, s) != 0) {
        s->r_running = 0, s->answer_prev = 0;
        return lisa_seterr(LISA_EIO, "cannot start the re-embedding thread");
    }
    s->r_joinable = 1;
    srv__log(s, "re-embedding %lld images for %s in the background; %s answers until then", s->r_total, s->model_id,
             s->prev_model ? s->prev_model_id : s->model_id);
    return 0;
}

void srv__reembed_stop(srv *s)
{
    s->r_cancel = 1;
    if (s->r_joinable) pthread_join(s->r_thread, NULL);
    s->r_joinable = 0;
}

void srv__reembed_free(srv *s)
{
    clip_free(s->prev_model);
    s->prev_model = NULL;
}

void srv__answering(srv *s, clip_model **m, const char **id)
{
    pthread_mutex_lock(&s->r_mu);
    int prev = s->answer_prev && s->prev_model;
    pthread_mutex_unlock(&s->r_mu);
    *m = prev ? s->prev_model : s->model;
    *id = prev ? s->prev_model_id : s->model_id;
}

// ---------------------------------------------------------------- stats

static double coverage(const store_stats *st, const char *id)
{
    if (st->images == 0) return 1;
    for (int i = 0; i < st->n_models; i++)
        if (!strcmp(st->models[i].id, id)) return (double)st->models[i].count / (double)st->images;
    return 0;
}

void srv__models_json(srv *s, cJSON *o, cJSON *models, const store_stats *st)
{
    clip_model *am;
    const char *aid;
    srv__answering(s, &am, &aid);
    if (s->model)
        cJSON_AddStringToObject(o, "active_model", s->model_id);
    else
        cJSON_AddNullToObject(o, "active_model");
    cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        cJSON *k = cJSON_GetObjectItem(m, "kind"), *n = cJSON_GetObjectItem(m, "name");
        int clip = k && cJSON_IsString(k) && !strcmp(k->valuestring, "clip");
        const char *name = n && cJSON_IsString(n) ? n->valuestring : "";
        cJSON_AddBoolToObject(m, "active", clip && s->model && !strcmp(name, s->model_id));
        cJSON_AddBoolToObject(m, "answering", clip && am && !strcmp(name, aid));
        if (clip)
            cJSON_AddNumberToObject(m, "coverage", coverage(st, name));
        else
            cJSON_AddNullToObject(m, "coverage");
    }
    pthread_mutex_lock(&s->r_mu);
    int running = s->r_running;
    long long done = s->r_done, total = s->r_total;
    pthread_mutex_unlock(&s->r_mu);
    if (!running) {
        cJSON_AddNullToObject(o, "reembed");
        return;
    }
    cJSON *r = cJSON_AddObjectToObject(o, "reembed");
    cJSON_AddStringToObject(r, "model", s->model_id);
    cJSON_AddNumberToObject(r, "done", (double)done);
    cJSON_AddNumberToObject(r, "total", (double)total);
}
