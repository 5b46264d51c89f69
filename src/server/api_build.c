// POST /api/build and GET /api/build: one background incremental index of
// DATA/images and the library folders (api_folders.c) at a time
// (docs/api.md). The watcher's batches run through srv__build_run() too.
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
    s->b.found = p->found, s->b.done = p->done, s->b.total = p->total;
    s->b.errors = p->errors, s->b.steps = p->steps;
    snprintf(s->b.current, sizeof s->b.current, "%s", p->current ? p->current : "");
    s->b.rate = p->rate, s->b.eta = p->eta, s->b.elapsed = p->elapsed;
    pthread_mutex_unlock(&s->b_mu);
}

// The captioner for one build when blip-image-captioning-base is installed
// (loaded per build, so an idle server does not hold it); NULL otherwise.
static cap_model *build_captioner(srv *s)
{
    cap_model *m = NULL;
    int rc = cap_load_default(s->data, 0, &m);
    if (rc < 0 && rc != LISA_ENOTFOUND) srv__log(s, "build: indexing without captions: %s", lisa_errmsg_for(rc));
    return m;
}

// Runs one incremental index of paths and records it in s->b (claimed by
// the caller: state "running"). Holds ix_mu, so a folder removal never
// interleaves with a run; roots removed from the library meanwhile are
// dropped. With again, runs once more while srv_schedule_index() asked for
// it during the run (uploads meanwhile). Returns indexer_run's code; *st
// gets the counts of the last run.
int srv__build_run(srv *s, const char *const *paths, int np, int again, indexer_stats *st)
{
    indexer_opts o;
    indexer_opts_init(&o);
    o.data_dir = s->data, o.model = s->model, o.model_id = s->model ? s->model_id : NULL;
    o.thumb_size = s->thumb_size, o.progress = 0, o.cancel = &s->b_cancel;
    o.on_progress = on_progress, o.ud = s;
    o.no_ocr = s->no_ocr, o.ocr_lang = s->ocr_lang[0] ? s->ocr_lang : NULL;
    cap_model *cm = s->no_captions ? NULL : build_captioner(s);
    o.captioner = cm;
    memset(st, 0, sizeof *st);
    double t0 = mono_ms();
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&s->ix_mu);
        const char *live[SRV_FOLDERS_MAX + 1];
        int nl = srv__roots_filter(s, paths, np, live);
        rc = nl ? indexer_run(live, nl, &o, st) : 0;
        pthread_mutex_unlock(&s->ix_mu);
        pthread_mutex_lock(&s->b_mu); // srv_schedule_index() reads b_again under it too
        if (rc == 0 && again && !s->b_cancel && atomic_exchange(&s->b_again, 0)) {
            pthread_mutex_unlock(&s->b_mu);
            continue;
        }
        break;
    }
    cap_free(cm);
    srv_build *b = &s->b;
    snprintf(b->state, sizeof b->state, "%s", rc < 0 ? "failed" : s->b_cancel ? "cancelled" : "done");
    if (rc < 0) snprintf(b->message, sizeof b->message, "%s", lisa_errmsg_for(rc));
    snprintf(b->phase, sizeof b->phase, "done");
    b->current[0] = 0;
    iso_now(b->finished_at, sizeof b->finished_at);
    b->elapsed = (mono_ms() - t0) / 1e3, b->eta = 0;
    b->errors = st->failed;
    if (rc == 0) b->last = *st, b->has_last = 1;
    pthread_mutex_unlock(&s->b_mu);
    srv__log(s, "build %s: %lld files, %lld new, %lld changed, %lld moved, %lld removed, %lld failed in %.1fs",
             b->state, st->files, st->added, st->changed, st->moved, st->removed, st->failed, st->seconds);
    return rc;
}

static void *build_main(void *arg)
{
    srv *s = arg;
    int np = 0;
    char **paths = srv__library_roots(s, 1, &np);
    indexer_stats st;
    if (paths) {
        srv__build_run(s, (const char *const *)paths, np, 1, &st);
    } else {
        pthread_mutex_lock(&s->b_mu);
        snprintf(s->b.state, sizeof s->b.state, "failed");
        snprintf(s->b.message, sizeof s->b.message, "out of memory for the folder list");
        pthread_mutex_unlock(&s->b_mu);
    }
    srv__roots_free(paths, np);
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
    cJSON_AddNumberToObject(o, "found", (double)b.found);
    cJSON_AddNumberToObject(o, "done", (double)b.done);
    cJSON_AddNumberToObject(o, "total", (double)b.total);
    cJSON *steps = cJSON_AddObjectToObject(o, "steps");
    cJSON_AddNumberToObject(steps, "decode", (double)b.steps.decode);
    cJSON_AddNumberToObject(steps, "ocr", (double)b.steps.ocr);
    cJSON_AddNumberToObject(steps, "embed", (double)b.steps.embed);
    cJSON_AddNumberToObject(steps, "caption", (double)b.steps.caption);
    if (b.current[0])
        cJSON_AddStringToObject(o, "current", b.current);
    else
        cJSON_AddNullToObject(o, "current");
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

// With b_mu held: a fresh "running" state, or LISA_EBUSY while one runs.
static int claim_locked(srv *s, int is_auto)
{
    if (!strcmp(s->b.state, "running")) return lisa_seterr(LISA_EBUSY, "a build is already running");
    srv_build fresh = {.eta = -1};
    fresh.last = s->b.last, fresh.has_last = s->b.has_last;
    snprintf(fresh.state, sizeof fresh.state, "running");
    snprintf(fresh.phase, sizeof fresh.phase, "scan");
    iso_now(fresh.started_at, sizeof fresh.started_at);
    s->b = fresh;
    s->b_cancel = atomic_load(&s->stopping);
    s->b_auto = is_auto, s->b_started_ms = mono_ms();
    return 0;
}

int srv__build_claim(srv *s, int is_auto)
{
    pthread_mutex_lock(&s->b_mu);
    int rc = atomic_load(&s->stopping) ? lisa_seterr(LISA_EBUSY, "the server is stopping") : claim_locked(s, is_auto);
    pthread_mutex_unlock(&s->b_mu);
    return rc;
}

// Starts a background build: 0, LISA_EBUSY while one runs, or LISA_EIO.
int srv__build_start(srv *s, int is_auto)
{
    pthread_mutex_lock(&s->b_mu);
    if (!strcmp(s->b.state, "running")) {
        pthread_mutex_unlock(&s->b_mu);
        return lisa_seterr(LISA_EBUSY, "a build is already running");
    }
    if (s->b_joinable) pthread_join(s->b_thread, NULL); // the last one has finished
    s->b_joinable = 0;
    claim_locked(s, is_auto);
    int err = pthread_create(&s->b_thread, NULL, build_main, s);
    if (err)
        snprintf(s->b.state, sizeof s->b.state, "failed"),
            snprintf(s->b.message, sizeof s->b.message, "cannot start a thread");
    else
        s->b_joinable = 1;
    pthread_mutex_unlock(&s->b_mu);
    if (err) return lisa_seterr(LISA_EIO, "cannot start the build thread");
    srv__log(s, "build started");
    return 0;
}

// While an automatic build (the watcher's, or one after an upload) runs, a
// click on Build joins it (202 with that build): with auto_index on it
// covers DATA/images and every folder, as the click would.
static int join_auto(srv *s)
{
    pthread_mutex_lock(&s->b_mu);
    int join = !strcmp(s->b.state, "running") && s->b_auto && s->auto_index;
    pthread_mutex_unlock(&s->b_mu);
    return join;
}

enum MHD_Result srv__build_post(srv *s, struct MHD_Connection *c)
{
    if (join_auto(s)) return http_json(c, 202, srv__build_json(s));
    int rc = srv__build_start(s, 0);
    if (rc == LISA_EBUSY)
        return http_error(c, 409, "build_running", "a build is already running; follow it with GET /api/build");
    if (rc < 0) return http_error(c, 500, "internal", "cannot start the build thread");
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
