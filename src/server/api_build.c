// POST /api/build and GET /api/build: one background incremental index of
// DATA/images and the --folder folders at a time (docs/api.md).
#include "server/srv.h"
#include "base/err.h"
#include "caption/caption.h"
#include "model/modeldir.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void on_progress(void *ud, const indexer_progress *p)
{
    srv *s = ud;
    pthread_mutex_lock(&s->b_mu);
    snprintf(s->b.phase, sizeof s->b.phase, "%s", p->phase ? p->phase : "");
    s->b.done = p->done, s->b.total = p->total;
    s->b.rate = p->rate, s->b.eta = p->eta, s->b.elapsed = p->elapsed;
    pthread_mutex_unlock(&s->b_mu);
}

// The captioner for one build when blip-image-captioning-base is installed
// (loaded per build, so an idle server does not hold it); NULL otherwise.
static cap_model *build_captioner(srv *s)
{
    char dir[MODELDIR_PATH_MAX];
    cap_model *m = NULL;
    if (modeldir_resolve(NULL, s->data, MODELDIR_DEFAULT_CAPTION, dir, sizeof dir) < 0 ||
        modeldir_check(dir, MODELDIR_BLIP, NULL, NULL) < 0)
        return NULL;
    if (cap_load(dir, 0, &m) < 0) srv__log(s, "build: indexing without captions: %s", lisa_errmsg());
    return m;
}

static void *build_main(void *arg)
{
    srv *s = arg;
    const char *paths[SRV_FOLDERS_MAX + 1];
    int np = 0;
    paths[np++] = s->images;
    for (int i = 0; i < s->nfolders; i++) paths[np++] = s->folders[i];
    indexer_opts o;
    indexer_opts_init(&o);
    o.data_dir = s->data, o.model = s->model, o.model_id = s->model ? s->model_id : NULL;
    o.thumb_size = s->thumb_size, o.progress = 0, o.cancel = &s->b_cancel;
    o.on_progress = on_progress, o.ud = s;
    o.no_ocr = s->no_ocr, o.ocr_lang = s->ocr_lang[0] ? s->ocr_lang : NULL;
    cap_model *cm = s->no_captions ? NULL : build_captioner(s);
    o.captioner = cm;
    indexer_stats st;
    memset(&st, 0, sizeof st);
    double t0 = srv__now_ms();
    int rc = indexer_run(paths, np, &o, &st);
    cap_free(cm);
    pthread_mutex_lock(&s->b_mu);
    srv_build *b = &s->b;
    snprintf(b->state, sizeof b->state, "%s", rc < 0 ? "failed" : s->b_cancel ? "cancelled" : "done");
    if (rc < 0) snprintf(b->message, sizeof b->message, "%s", lisa_errmsg());
    snprintf(b->phase, sizeof b->phase, "done");
    iso_now(b->finished_at, sizeof b->finished_at);
    b->elapsed = (srv__now_ms() - t0) / 1e3, b->eta = 0;
    b->errors = st.failed;
    if (rc == 0) b->last = st, b->has_last = 1;
    pthread_mutex_unlock(&s->b_mu);
    srv__log(s, "build %s: %lld files, %lld new, %lld changed, %lld removed, %lld failed in %.1fs", b->state, st.files,
             st.added, st.changed, st.removed, st.failed, st.seconds);
    return NULL;
}

static void num_or_null(cJSON *o, const char *k, double v, int ok)
{
    if (ok)
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *srv__build_json(srv *s)
{
    pthread_mutex_lock(&s->b_mu);
    srv_build b = s->b;
    pthread_mutex_unlock(&s->b_mu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", b.state);
    if (b.phase[0])
        cJSON_AddStringToObject(o, "phase", b.phase);
    else
        cJSON_AddNullToObject(o, "phase");
    cJSON_AddNumberToObject(o, "done", (double)b.done);
    cJSON_AddNumberToObject(o, "total", (double)b.total);
    cJSON_AddNumberToObject(o, "rate", b.rate);
    num_or_null(o, "eta", b.eta, b.eta >= 0 && strcmp(b.state, "idle"));
    cJSON_AddNumberToObject(o, "elapsed", b.elapsed);
    cJSON_AddNumberToObject(o, "errors", (double)b.errors);
    if (b.started_at[0])
        cJSON_AddStringToObject(o, "started_at", b.started_at);
    else
        cJSON_AddNullToObject(o, "started_at");
    if (b.finished_at[0])
        cJSON_AddStringToObject(o, "finished_at", b.finished_at);
    else
        cJSON_AddNullToObject(o, "finished_at");
    if (b.message[0])
        cJSON_AddStringToObject(o, "message", b.message);
    else
        cJSON_AddNullToObject(o, "message");
    if (!b.has_last) {
        cJSON_AddNullToObject(o, "last");
        return o;
    }
    cJSON *l = cJSON_AddObjectToObject(o, "last");
    const indexer_stats *st = &b.last;
    cJSON_AddNumberToObject(l, "files", (double)st->files);
    cJSON_AddNumberToObject(l, "added", (double)st->added);
    cJSON_AddNumberToObject(l, "changed", (double)st->changed);
    cJSON_AddNumberToObject(l, "unchanged", (double)st->unchanged);
    cJSON_AddNumberToObject(l, "moved", (double)st->moved);
    cJSON_AddNumberToObject(l, "copied", (double)st->copied);
    cJSON_AddNumberToObject(l, "removed", (double)st->removed);
    cJSON_AddNumberToObject(l, "embedded", (double)st->embedded);
    cJSON_AddNumberToObject(l, "nonimage", (double)st->nonimage);
    cJSON_AddNumberToObject(l, "failed", (double)st->failed);
    cJSON_AddNumberToObject(l, "failed_before", (double)st->failed_before);
    cJSON_AddNumberToObject(l, "seconds", st->seconds);
    return o;
}

enum MHD_Result srv__build_get(srv *s, struct MHD_Connection *c)
{
    return http_json(c, 200, srv__build_json(s));
}

enum MHD_Result srv__build_post(srv *s, struct MHD_Connection *c)
{
    pthread_mutex_lock(&s->b_mu);
    if (!strcmp(s->b.state, "running")) {
        pthread_mutex_unlock(&s->b_mu);
        return http_error(c, 409, "build_running", "a build is already running; follow it with GET /api/build");
    }
    if (s->b_joinable) pthread_join(s->b_thread, NULL); // the last one has finished
    s->b_joinable = 0;
    srv_build fresh = {.eta = -1};
    fresh.last = s->b.last, fresh.has_last = s->b.has_last;
    snprintf(fresh.state, sizeof fresh.state, "running");
    snprintf(fresh.phase, sizeof fresh.phase, "scan");
    iso_now(fresh.started_at, sizeof fresh.started_at);
    s->b = fresh;
    s->b_cancel = atomic_load(&s->stopping);
    int err = pthread_create(&s->b_thread, NULL, build_main, s);
    if (err)
        snprintf(s->b.state, sizeof s->b.state, "failed"),
            snprintf(s->b.message, sizeof s->b.message, "cannot start a thread");
    else
        s->b_joinable = 1;
    pthread_mutex_unlock(&s->b_mu);
    if (err) return http_error(c, 500, "internal", "cannot start the build thread");
    srv__log(s, "build started");
    return http_json(c, 202, srv__build_json(s));
}

void srv__build_stop(srv *s)
{
    s->b_cancel = 1;
    pthread_mutex_lock(&s->b_mu);
    int j = s->b_joinable;
    s->b_joinable = 0;
    pthread_mutex_unlock(&s->b_mu);
    if (j) pthread_join(s->b_thread, NULL);
}
