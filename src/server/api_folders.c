// The library's folders: GET/POST/DELETE /api/folders (docs/api.md), the
// watcher of DATA/images and the folders (search/watch.h), indexing after an
// upload, and the answer of the PWA's share target.
//
// The folders live in the store (schema v7). `--folder DIR` on the command
// line adds DIR to that list (once; it stays until removed), so the command
// line and the UI manage one list. DATA/images is built in: always indexed,
// never a row, never removable. A folder that is missing or unreadable is
// kept (a drive may come back) and skipped by builds; its images stay.
#include "server/srv.h"
#include "base/err.h"
#include "search/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------- the list

void srv__roots_free(char **r, int n)
{
    for (int i = 0; r && i < n; i++) free(r[i]);
    free(r);
}

char **srv__library_roots(srv *s, int with_images, int *n)
{
    pthread_mutex_lock(&s->f_mu);
    char **r = calloc((size_t)s->nfolders + 2, sizeof *r);
    int k = 0, ok = r != NULL;
    if (ok && with_images) ok = (r[k++] = strdup(s->images)) != NULL;
    for (int i = 0; ok && i < s->nfolders; i++) {
        struct stat sb;
        if (stat(s->folders[i], &sb) < 0 || !S_ISDIR(sb.st_mode) || access(s->folders[i], R_OK | X_OK) < 0) continue;
        ok = (r[k++] = strdup(s->folders[i])) != NULL;
    }
    pthread_mutex_unlock(&s->f_mu);
    if (!ok) return srv__roots_free(r, k), NULL;
    *n = k;
    return r;
}

int srv__roots_filter(srv *s, const char *const *paths, int np, const char **out)
{
    int k = 0;
    pthread_mutex_lock(&s->f_mu);
    for (int i = 0; i < np && k < SRV_FOLDERS_MAX + 1; i++) {
        int keep = !strcmp(paths[i], s->images);
        for (int f = 0; !keep && f < s->nfolders; f++) keep = !strcmp(paths[i], s->folders[f]);
        if (keep) out[k++] = paths[i];
    }
    pthread_mutex_unlock(&s->f_mu);
    return k;
}

static int list_fn(void *ud, const store_folder *f)
{
    srv *s = ud;
    if (s->nfolders >= SRV_FOLDERS_MAX) return 0;
    char *p = strdup(f->path);
    if (!p) return lisa_seterr(LISA_ENOMEM, "out of memory");
    s->folders[s->nfolders] = p, s->folder_ids[s->nfolders] = f->id, s->nfolders++;
    return 0;
}

// Replaces s->folders by the store's list (f_mu held, or before threads).
static int reload(srv *s, store *st)
{
    for (int i = 0; i < s->nfolders; i++) free(s->folders[i]);
    s->nfolders = 0;
    return store_folder_list(st, list_fn, s);
}

static int open_store(srv *s, store **st)
{
    char path[SRV_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", s->data);
    return store_open(path, STORE_CREATE, st);
}

int srv__folders_init(srv *s)
{
    if (!s->folder_ids && !(s->folder_ids = calloc(SRV_FOLDERS_MAX + 1, sizeof *s->folder_ids)))
        return lisa_seterr(LISA_ENOMEM, "out of memory");
    char **tmp = realloc(s->folders, (SRV_FOLDERS_MAX + 1) * sizeof *s->folders);
    if (!tmp) return lisa_seterr(LISA_ENOMEM, "out of memory");
    s->folders = tmp;
    store *st = NULL;
    int rc = open_store(s, &st);
    for (int i = 0; rc == 0 && i < s->nfolders; i++) { // the --folder ones join the list
        rc = store_folder_add(st, s->folders[i], NULL);
        if (rc > 0) rc = 0;
    }
    if (rc == 0) rc = reload(s, st);
    store_close(st);
    return rc;
}

void srv__folders_free(srv *s)
{
    for (int i = 0; s->folders && i < s->nfolders; i++) free(s->folders[i]);
    free(s->folders), free(s->folder_ids);
    s->folders = NULL, s->folder_ids = NULL, s->nfolders = 0;
}

// ---------------------------------------------------------------- watching

// The watcher's batches claim the build state (waiting for a build in
// flight), so /api/build shows them and POST /api/build answers 409 meanwhile.
// A batch that had to wait for a build someone asked for, which started
// after the batch's last event and covered everything (auto_index on), has
// nothing left to do: it is skipped rather than shown as one more build.
static int covered_locked(srv *s, double last_event_ms)
{
    return s->auto_index && !s->b_auto && s->b_started_ms > last_event_ms;
}

static int watch_run(void *ud, const char *const *roots, int n, indexer_stats *st)
{
    srv *s = ud;
    watch_status ws;
    watch_get_status(s->watch, &ws);
    int covered = 0;
    memset(st, 0, sizeof *st);
    for (;;) {
        if (atomic_load(&s->stopping)) return 0;
        pthread_mutex_lock(&s->b_mu);
        int running = !strcmp(s->b.state, "running"), done = !strcmp(s->b.state, "done");
        if (running) covered = covered_locked(s, ws.last_event_ms);
        pthread_mutex_unlock(&s->b_mu);
        if (!running && covered && done) return 0;
        if (!running && srv__build_claim(s, 1) == 0) break;
        usleep(100 * 1000);
    }
    return srv__build_run(s, roots, n, 0, st);
}

static void watch_roots_update(srv *s)
{
    int n = 0;
    char **r = s->watch ? srv__library_roots(s, s->auto_index, &n) : NULL;
    int rc = r ? watch_set_roots(s->watch, (const char *const *)r, n) : 0;
    if (rc < 0) srv__log(s, "watch: %s", lisa_errmsg_for(rc));
    srv__roots_free(r, n);
}

int srv__watch_start(srv *s)
{
    if (!s->watch_on) return 0;
    int n = 0;
    char **r = srv__library_roots(s, s->auto_index, &n);
    if (!r) return lisa_seterr(LISA_ENOMEM, "out of memory");
    indexer_opts_init(&s->wix);
    s->wix.data_dir = s->data;
    watch_opts wo;
    watch_opts_init(&wo);
    wo.ix = &s->wix, wo.run = watch_run, wo.ud = s, wo.catch_up = 1, wo.out = s->quiet ? NULL : stderr;
    int rc = watch_open((const char *const *)r, n, &wo, &s->watch);
    srv__roots_free(r, n);
    if (rc == 0) rc = watch_start(s->watch);
    if (rc < 0) { // watching is a convenience: the server runs without it
        srv__log(s, "not watching the folders: %s", lisa_errmsg_for(rc));
        watch_close(s->watch), s->watch = NULL;
    }
    return 0;
}

void srv__watch_kick(srv *s)
{
    if (s->watch) watch_kick(s->watch);
}

void srv__watch_stop(srv *s)
{
    watch_close(s->watch);
    s->watch = NULL;
}

void srv_schedule_index(srv *s)
{
    if (!s->auto_index || atomic_load(&s->stopping)) return;
    if (s->watch) return watch_kick(s->watch);
    pthread_mutex_lock(&s->b_mu);
    int running = !strcmp(s->b.state, "running");
    if (running) atomic_store(&s->b_again, 1); // the build in flight runs once more
    pthread_mutex_unlock(&s->b_mu);
    if (!running && srv__build_start(s, 1) == LISA_EBUSY) atomic_store(&s->b_again, 1);
}

// ---------------------------------------------------------------- JSON

static const char *status_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) return "missing";
    return access(path, R_OK | X_OK) < 0 ? "unreadable" : "ok";
}

static cJSON *folder_json(srv *s, store *st, int64_t id, const char *path, int builtin)
{
    cJSON *o = cJSON_CreateObject();
    int64_t n = 0;
    int counted = st && store_image_count_under(st, path, &n) == 0;
    const char *status = status_of(path);
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "path", path);
    if (counted)
        cJSON_AddNumberToObject(o, "images", (double)n);
    else
        cJSON_AddNullToObject(o, "images");
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddBoolToObject(o, "watching", s->watch && watch_is_watching(s->watch, path));
    cJSON_AddBoolToObject(o, "builtin", builtin);
    return o;
}

static enum MHD_Result folders_get(srv *s, struct MHD_Connection *c, store *st)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "folders");
    cJSON_AddItemToArray(a, folder_json(s, st, 0, s->images, 1));
    pthread_mutex_lock(&s->f_mu);
    for (int i = 0; i < s->nfolders; i++)
        cJSON_AddItemToArray(a, folder_json(s, st, s->folder_ids[i], s->folders[i], 0));
    pthread_mutex_unlock(&s->f_mu);
    cJSON_AddBoolToObject(o, "auto_index", s->auto_index);
    return http_json(c, 200, o);
}

// ---------------------------------------------------------------- POST

// 1 when a is b or lies under it.
static int within(const char *a, const char *b)
{
    size_t n = strlen(b);
    return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '/' || (n == 1 && b[0] == '/'));
}

// The path of a POST body, resolved into real; or answers 400 and returns 0.
static int post_path(struct MHD_Connection *c, const char *body, size_t n, char *real, enum MHD_Result *rc)
{
    cJSON *j = body && n ? cJSON_ParseWithLength(body, n) : NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "path");
    char want[SRV_PATH_MAX];
    int ok = cJSON_IsString(p) && p->valuestring[0] == '/' && strlen(p->valuestring) < sizeof want;
    if (ok) snprintf(want, sizeof want, "%s", p->valuestring);
    cJSON_Delete(j);
    if (!ok) return *rc = http_error(c, 400, "bad_request", "send JSON {\"path\": \"/absolute/folder\"}"), 0;
    struct stat sb;
    if (!realpath(want, real)) return *rc = http_error(c, 400, "bad_request", "%.300s: %s", want, strerror(errno)), 0;
    if (stat(real, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return *rc = http_error(c, 400, "bad_request", "%.300s is not a folder", want), 0;
    if (access(real, R_OK | X_OK) < 0)
        return *rc =
                   http_error(c, 400, "bad_request", "%.300s is not readable by the server: %s", want, strerror(errno)),
               0;
    return 1;
}

// A 409 answer when real clashes with the data dir or a folder, else 0.
static int clash(srv *s, struct MHD_Connection *c, const char *real, enum MHD_Result *rc)
{
    if (within(real, s->data))
        return *rc = http_error(c, 409, "exists", "%.300s is inside the data dir (%.300s), which is indexed already",
                                real, s->data),
               1;
    int hit = 0;
    pthread_mutex_lock(&s->f_mu);
    for (int i = 0; !hit && i < s->nfolders; i++) {
        if (!strcmp(real, s->folders[i]))
            hit = 1, *rc = http_error(c, 409, "exists", "%.300s is already a library folder", real);
        else if (within(real, s->folders[i]) || within(s->folders[i], real))
            hit = 1,
            *rc = http_error(c, 409, "exists", "%.300s overlaps the library folder %.300s", real, s->folders[i]);
    }
    if (!hit && s->nfolders >= SRV_FOLDERS_MAX)
        hit = 1, *rc = http_error(c, 409, "exists", "at most %d library folders", SRV_FOLDERS_MAX);
    pthread_mutex_unlock(&s->f_mu);
    return hit;
}

static enum MHD_Result folders_post(srv *s, struct MHD_Connection *c, store *st, const char *body, size_t n)
{
    char real[PATH_MAX];
    enum MHD_Result rc = MHD_NO;
    if (!post_path(c, body, n, real, &rc) || clash(s, c, real, &rc)) return rc;
    int64_t id = 0;
    pthread_mutex_lock(&s->f_mu);
    int e = store_folder_add(st, real, &id);
    if (e >= 0) e = reload(s, st);
    pthread_mutex_unlock(&s->f_mu);
    if (e < 0) return http_error(c, 500, "internal", "%s", lisa_errmsg_for(e));
    srv__log(s, "folder added: %s", real);
    if (s->watch)
        watch_roots_update(s); // the watcher indexes it and follows it
    else if (srv__build_start(s, 1) == LISA_EBUSY)
        atomic_store(&s->b_again, 1);
    return http_json(c, 201, folder_json(s, st, id, real, 0));
}

// ---------------------------------------------------------------- DELETE

static enum MHD_Result folders_delete(srv *s, struct MHD_Connection *c, store *st, const char *key)
{
    char *end;
    long long id = strtoll(key, &end, 10);
    if (!*key || *end || id < 0) return http_error(c, 400, "bad_request", "folder ids are integers");
    if (id == 0) return http_error(c, 400, "bad_request", "the uploads folder (DATA/images) is built in");
    char path[SRV_PATH_MAX];
    int found = 0;
    pthread_mutex_lock(&s->f_mu);
    for (int i = 0; i < s->nfolders; i++)
        if (s->folder_ids[i] == id) found = 1, snprintf(path, sizeof path, "%s", s->folders[i]);
    int e = found ? store_folder_remove(st, id) : 0;
    if (e >= 0 && found) e = reload(s, st);
    pthread_mutex_unlock(&s->f_mu);
    if (e < 0) return http_error(c, 500, "internal", "%s", lisa_errmsg_for(e));
    if (!found) return http_error(c, 404, "not_found", "no library folder with id %lld", id);
    watch_roots_update(s);
    int64_t removed = 0;
    s->b_cancel = 1; // a run in flight stops after its batch; the next one leaves the folder out
    pthread_mutex_lock(&s->ix_mu);
    e = store_image_delete_under(st, path, &removed);
    pthread_mutex_unlock(&s->ix_mu);
    if (e < 0) return http_error(c, 500, "internal", "%s", lisa_errmsg_for(e));
    srv__log(s, "folder removed: %s (%lld images dropped from the index)", path, (long long)removed);
    if (s->watch) watch_kick(s->watch); // resumes what the cancel cut short
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "removed", (double)removed);
    return http_json(c, 200, o);
}

enum MHD_Result srv__folders(srv *s, struct MHD_Connection *c, const char *method, const char *path, const char *body,
                             size_t n)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int list = !strcmp(path, "/api/folders");
    if (list && !get && strcmp(method, "POST")) return http_error(c, 405, "method_not_allowed", "use GET or POST");
    if (!list && strcmp(method, "DELETE")) return http_error(c, 405, "method_not_allowed", "use DELETE");
    srv_slot *sl = srv__slot_get(s);
    int rc = srv__slot_store(s, sl);
    enum MHD_Result r;
    if (rc < 0)
        r = http_error(c, 500, "internal", "%s", lisa_errmsg_for(rc));
    else if (list && get)
        r = folders_get(s, c, sl->st);
    else if (list)
        r = folders_post(s, c, sl->st, body, n);
    else
        r = folders_delete(s, c, sl->st, path + strlen("/api/folders/"));
    srv__slot_put(s, sl);
    return r;
}

// ---------------------------------------------------------------- share target

// POST /share (the manifest's share_target) is an upload; the installed app
// then lands on the UI, which says what arrived.
enum MHD_Result srv__share_answer(srv *s, struct MHD_Connection *c, int saved, int failed)
{
    (void)s;
    char loc[96];
    snprintf(loc, sizeof loc, "/?shared=%d&failed=%d", saved, failed);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return rc;
}
