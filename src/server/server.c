// Server lifecycle, request dispatch, auth and the per-thread slots (server.h).
#include "server/srv.h"
#include "base/err.h"
#include "clip/clip.h"
#include "model/modeldir.h"
#include "search/search.h"
#include "search/thumbs.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define SRV_URI_MAX 8192 // request-target bytes; longer is 414 uri_too_long (JSON)
// MHD's per-connection memory: the request line and headers must fit in it
// for the 414 above to be ours; a target past it gets MHD's own HTML 414.
#define SRV_CONN_MEMORY (256 * 1024)

enum { R_NONE, R_UPLOAD };

void srv__log(srv *s, const char *fmt, ...)
{
    if (s->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lisa serve: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void srv_opts_init(srv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->clip_weight = -1;
}

int srv_port(const srv *s)
{
    return s ? s->port : 0;
}

int srv__is_upload(const srv *s, const char *path)
{
    size_t n = strlen(s->images);
    return !strncmp(path, s->images, n) && path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/');
}

// ---------------------------------------------------------------- slots

srv_slot *srv__slot_get(srv *s)
{
    pthread_mutex_lock(&s->slot_mu);
    while (!s->free_slots) pthread_cond_wait(&s->slot_cv, &s->slot_mu);
    srv_slot *sl = s->free_slots;
    s->free_slots = sl->next;
    pthread_mutex_unlock(&s->slot_mu);
    return sl;
}

void srv__slot_put(srv *s, srv_slot *sl)
{
    if (!sl) return;
    pthread_mutex_lock(&s->slot_mu);
    sl->next = s->free_slots;
    s->free_slots = sl;
    pthread_cond_signal(&s->slot_cv);
    pthread_mutex_unlock(&s->slot_mu);
}

int srv__disk_full(const srv *s)
{
    struct statvfs v;
    return statvfs(s->data, &v) == 0 && v.f_bavail == 0;
}

int srv__slot_store(srv *s, srv_slot *sl)
{
    if (sl->st && store_disk_full(sl->st) && !srv__disk_full(s)) { // room again: back to read-write
        search_close(sl->sc), sl->sc = NULL;
        store_close(sl->st), sl->st = NULL;
    }
    if (sl->st) return 0;
    char path[SRV_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", s->data);
    return store_open(path, STORE_CREATE, &sl->st);
}

int srv__slot_search(srv *s, srv_slot *sl)
{
    int rc = 0, gen = atomic_load(&s->answer_gen);
    if (sl->sc && sl->sc_gen != gen) search_close(sl->sc), sl->sc = NULL; // the answering model changed
    if (!sl->sc) {
        clip_model *m;
        const char *id;
        srv__answering(s, &m, &id);
        search_opts so = {s->data, m, m ? id : NULL, s->missing[0] ? s->missing : NULL};
        rc = search_open(&so, &sl->sc);
        sl->sc_gen = gen;
    }
    return rc;
}

static void slots_free(srv *s)
{
    for (int i = 0; s->slots && i < s->threads; i++) {
        search_close(s->slots[i].sc);
        store_close(s->slots[i].st);
    }
    free(s->slots);
    s->slots = NULL;
}

// ---------------------------------------------------------------- dispatch

// 1 when the request may go on: no token configured, health, static files,
// or a matching "Authorization: Bearer T" header (or ?token=T).
static int authorized(srv *s, struct MHD_Connection *c, const char *path)
{
    int share = !strcmp(path, "/share"); // the PWA's share target is an upload
    if (!s->token || (!share && strncmp(path, "/api/", 5)) || !strcmp(path, "/api/health")) return 1;
    const char *h = http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        h += 7;
        while (*h == ' ') h++;
        if (http_token_eq(h, s->token)) return 1;
    }
    char tok[512];
    return http_param(c, "token", tok, sizeof tok) > 0 && http_token_eq(tok, s->token);
}

// Decodes the key after a route prefix; NULL (after answering 400) when bad.
static const char *route_key(struct MHD_Connection *c, const char *tail, char *buf, size_t cap, enum MHD_Result *rc)
{
    long n = http_unescape(tail, strlen(tail), buf, cap, 0);
    if (n < 0 || !http_valid_name(buf)) {
        *rc = http_error(c, 400, "bad_request", "malformed image name (ids, or file names without path parts)");
        return NULL;
    }
    return buf;
}

static int is(const char *m, const char *want)
{
    return !strcmp(m, want);
}

static enum MHD_Result dispatch_key(srv *s, struct MHD_Connection *c, const char *m, const char *path, double t0)
{
    char key[HTTP_NAME_MAX * 3 + 1];
    enum MHD_Result rc = MHD_NO;
    if (!strncmp(path, "/api/similar/", 13)) {
        if (!is(m, "GET") && !is(m, "HEAD")) return http_error(c, 405, "method_not_allowed", "use GET");
        return route_key(c, path + 13, key, sizeof key, &rc) ? srv__similar(s, c, key, t0) : rc;
    }
    int thumb = !strncmp(path, "/api/thumb/", 11);
    if (!route_key(c, path + 11, key, sizeof key, &rc)) return rc;
    if (is(m, "GET") || is(m, "HEAD")) return srv__file(s, c, key, thumb);
    if (!thumb && is(m, "DELETE")) return srv__delete(s, c, key);
    return http_error(c, 405, "method_not_allowed", thumb ? "use GET" : "use GET or DELETE");
}

static enum MHD_Result dispatch(srv *s, struct MHD_Connection *c, const char *m, const char *path, srv_req *q)
{
    double t0 = q->t0;
    if (!strncmp(path, "/api/similar/", 13) || !strncmp(path, "/api/image/", 11) || !strncmp(path, "/api/thumb/", 11))
        return dispatch_key(s, c, m, path, t0);
    int get = is(m, "GET") || is(m, "HEAD");
    if (!strcmp(path, "/api/health"))
        return get ? srv__health(s, c) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/search"))
        return get ? srv__search(s, c, t0) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/library"))
        return get ? srv__library(s, c, t0) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/stats"))
        return get ? srv__stats(s, c) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/build")) {
        if (get) return srv__build_get(s, c);
        if (is(m, "POST")) return srv__build_post(s, c);
        return http_error(c, 405, "method_not_allowed", "use GET or POST");
    }
    if (!strcmp(path, "/api/duplicates"))
        return get ? srv__duplicates(s, c) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/failures"))
        return get ? srv__failures_get(s, c) : http_error(c, 405, "method_not_allowed", "use GET");
    if (!strcmp(path, "/api/failures/retry"))
        return is(m, "POST") ? srv__failures_retry(s, c, q->body_buf, q->body_len)
                             : http_error(c, 405, "method_not_allowed", "use POST");
    if (!strcmp(path, "/api/upload") || !strcmp(path, "/share"))
        return http_error(c, 405, "method_not_allowed", "use POST with multipart/form-data");
    if (!strcmp(path, "/api/folders") || !strncmp(path, "/api/folders/", 13))
        return srv__folders(s, c, m, path, q->body_buf, q->body_len);
    if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api"))
        return http_error(c, 404, "not_found", "no such API route");
    if (!get) return http_error(c, 405, "method_not_allowed", "static files: use GET");
    return srv__static(s, c, path);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)c, (void)t;
    srv *s = cls;
    srv_req *q = *con_cls;
    if (!q) return;
    srv__upload_free(q->up);
    free(q->body_buf);
    if (q->counted) atomic_fetch_sub(&s->inflight, 1);
    free(q);
    *con_cls = NULL;
}

// MHD's URI log callback, called on the request line: starts the request's
// state (its clock, and the target's length for the NUL check).
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)c;
    srv_req *q = calloc(1, sizeof *q);
    if (q) q->t0 = mono_ms(), q->raw_uri = uri, q->raw_len = strlen(uri);
    return q;
}

// 1 when the request line held a raw NUL byte: MHD hands over the target
// up to it, but the version still lies after the whole target in its buffer.
static int nul_in_target(const srv_req *q, const char *url, const char *version)
{
    if (q->raw_uri != url || version <= url || version - url > SRV_URI_MAX + 2) return 0; // another layout
    return (size_t)(version - url - 1) > q->raw_len;
}

static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s); // the routes decode themselves (http_unescape refuses %00)
}

static enum MHD_Result unauthorized(struct MHD_Connection *c)
{
    cJSON *o = http_error_obj("unauthorized", "missing or wrong bearer token (Authorization: Bearer ...)");
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct MHD_Response *r = txt ? MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) return free(txt), MHD_NO;
    http_common_headers(r, "application/json; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"lisa\"");
    enum MHD_Result rc = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return rc;
}

// First call of a request (headers only): state, auth, upload set-up.
static enum MHD_Result first_call(srv *s, struct MHD_Connection *c, const char *path, const char *method,
                                  const char *version, void **con_cls)
{
    srv_req *q = *con_cls ? *con_cls : calloc(1, sizeof *q);
    if (!q) return MHD_NO;
    lisa_clearerr(); // this worker thread's message is this request's from here on
    if (!q->t0) q->t0 = mono_ms();
    q->started = q->counted = 1;
    atomic_fetch_add(&s->inflight, 1);
    *con_cls = q;
    if (atomic_load(&s->stopping)) return http_error(c, 503, "shutting_down", "the server is stopping");
    size_t target = q->raw_uri ? q->raw_len : strlen(path);
    if (target > SRV_URI_MAX || strlen(path) > SRV_URI_MAX)
        return http_error(c, 414, "uri_too_long", "The request address (%zu KB) is over the limit of %d KB.",
                          (target + 1023) / 1024, SRV_URI_MAX / 1024);
    if (nul_in_target(q, path, version)) return http_error(c, 400, "bad_request", "NUL byte in the request line");
    if (mono_ms() - q->t0 > s->deadline_ms) return MHD_NO; // headers trickled in past the deadline
    const char *host = http_header(c, MHD_HTTP_HEADER_HOST);
    if (!srv__host_ok(s, host))
        return http_error(c, 421, "misdirected",
                          "Host '%.200s' is not this server (127.0.0.1, localhost, the bound "
                          "address or a name given with --allow-host)",
                          host);
    if (!is(method, "GET") && !is(method, "HEAD") &&
        !srv__same_origin(s, http_header(c, MHD_HTTP_HEADER_ORIGIN), http_header(c, "Sec-Fetch-Site"), host))
        return http_error(c, 403, "forbidden", "cross-site request refused: only pages served by lisa may change it");
    if (!authorized(s, c, path)) return unauthorized(c);
    if (!strcmp(method, "POST") && (!strcmp(path, "/api/upload") || !strcmp(path, "/share"))) {
        q->route = R_UPLOAD, q->share = path[1] == 's';
        int rc = srv__upload_begin(s, c, q);
        if (rc == LISA_ETOOBIG) return http_error(c, 413, "too_large", "%s", lisa_errmsg_for(rc));
        if (rc < 0) return http_error(c, 400, "bad_request", "%s", lisa_errmsg_for(rc));
    }
    return MHD_YES;
}

// Keeps a non-upload body (JSON for POST /api/folders), up to SRV_BODY_MAX
// bytes; past that only counts it (413 below).
static int keep_body(srv_req *q, const char *data, size_t n)
{
    size_t have = q->body;
    q->body += n;
    if (q->body > SRV_BODY_MAX) return 0;
    char *b = realloc(q->body_buf, q->body + 1);
    if (!b) return -1;
    memcpy(b + have, data, n);
    b[q->body] = 0;
    q->body_buf = b, q->body_len = q->body;
    return 0;
}

// url is the raw (undecoded) path: unescape_none() leaves it alone so that
// the routes decode it themselves and refuse %00 and bad escapes.
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    srv *s = cls;
    srv_req *q = *con_cls;
    if (!q || !q->started) return first_call(s, c, url, method, version, con_cls);
    if (mono_ms() - q->t0 > s->deadline_ms) { // a slow client: the idle timer alone resets on every byte
        srv__log(s, "%s %s: past the %.0f s deadline, closed", method, url, s->deadline_ms / 1e3);
        return MHD_NO;
    }
    if (*upload_data_size) {
        int rc = q->route == R_UPLOAD ? srv__upload_feed(q, upload_data, *upload_data_size) : 0;
        if (rc < 0) {
            srv__log(s, "upload cut off: %s", lisa_errmsg_for(rc));
            return MHD_NO; // MHD cannot answer in the middle of a body: the connection is closed
        }
        if (q->route != R_UPLOAD && keep_body(q, upload_data, *upload_data_size) < 0) return MHD_NO;
        *upload_data_size = 0;
        if (q->body > SRV_BODY_MAX) return http_error(c, 413, "too_large", "request body too large for this route");
        return MHD_YES;
    }
    if (q->route == R_UPLOAD) return srv__upload_finish(s, c, q);
    return dispatch(s, c, method, url, q);
}

// ---------------------------------------------------------------- start/stop

static int mkdir_p(const char *path)
{
    char buf[SRV_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return lisa_seterr(LISA_ETOOBIG, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return lisa_seterr(LISA_EIO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return lisa_seterr(LISA_EIO, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

static int set_dirs(srv *s, const char *data)
{
    int rc = mkdir_p(data);
    if (rc < 0) return rc;
    char real[PATH_MAX];
    if (!realpath(data, real)) return lisa_seterr(LISA_EIO, "%s: %s", data, strerror(errno));
    if (strlen(real) > SRV_PATH_MAX - 32) return lisa_seterr(LISA_ETOOBIG, "%s: path too long", data);
    snprintf(s->data, sizeof s->data, "%s", real);
    snprintf(s->images, sizeof s->images, "%s/images", real);
    snprintf(s->thumbs, sizeof s->thumbs, "%s/thumbnails", real);
    snprintf(s->tmp, sizeof s->tmp, "%s/tmp", real);
    if ((rc = mkdir_p(s->images)) < 0 || (rc = mkdir_p(s->thumbs)) < 0 || (rc = mkdir_p(s->tmp)) < 0) return rc;
    DIR *d = opendir(s->tmp); // uploads left over by a crash
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "upload-", 7)) continue;
        char p[SRV_PATH_MAX + 320];
        snprintf(p, sizeof p, "%s/%s", s->tmp, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    thumbs_sweep_tmp(s->thumbs, THUMBS_TMP_AGE_S); // thumbnail writes cut off by a kill
    return 0;
}

static int copy_opts(srv *s, const srv_opts *o)
{
    s->max_upload = o->max_upload > 0 ? o->max_upload : SRV_UPLOAD_DEFAULT;
    s->max_request = SRV_REQUEST_FILES * s->max_upload + SRV_REQUEST_SLACK;
    s->deadline_ms = (o->deadline_s > 0 ? o->deadline_s : SRV_DEADLINE_S) * 1e3;
    s->top_k = o->top_k > 0 ? o->top_k : 20;
    if (s->top_k > SRV_TOPK_MAX) s->top_k = SRV_TOPK_MAX;
    s->clip_weight = o->clip_weight >= 0 && o->clip_weight <= 1 ? o->clip_weight : 0.7;
    s->thumb_size = o->thumb_size > 0 ? o->thumb_size : 320;
    s->no_ocr = o->no_ocr, s->no_captions = o->no_captions;
    s->auto_index = o->auto_index, s->watch_on = o->watch;
    if (o->ocr_lang && strlen(o->ocr_lang) >= sizeof s->ocr_lang)
        return lisa_seterr(LISA_EINVAL, "ocr_lang '%.80s': too long", o->ocr_lang);
    snprintf(s->ocr_lang, sizeof s->ocr_lang, "%s", o->ocr_lang ? o->ocr_lang : "");
    int cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = o->threads > 0 ? o->threads : (cpus > 4 ? cpus : 4);
    if (s->threads > SRV_THREADS_MAX) s->threads = SRV_THREADS_MAX;
    s->quiet = o->quiet;
    snprintf(s->version, sizeof s->version, "%s", o->version ? o->version : "unknown");
    if (o->token && o->token[0] && !(s->token = strdup(o->token))) return lisa_seterr(LISA_ENOMEM, "out of memory");
    if (o->host && strlen(o->host) >= sizeof s->bind) return lisa_seterr(LISA_EINVAL, "--host %s: too long", o->host);
    snprintf(s->bind, sizeof s->bind, "%s", o->host && o->host[0] ? o->host : "127.0.0.1");
    if (!s->token && !o->insecure_no_token && !srv__is_loopback(s->bind))
        return lisa_seterr(LISA_EINVAL,
                           "serving on %s reaches beyond this machine: set a token (LISA_TOKEN or --token T) "
                           "or pass --insecure-no-token",
                           s->bind);
    if (o->nallow_hosts < 0 || o->nallow_hosts > SRV_FOLDERS_MAX)
        return lisa_seterr(LISA_EINVAL, "at most %d --allow-host names", SRV_FOLDERS_MAX);
    if (o->nallow_hosts && !(s->hosts = calloc((size_t)o->nallow_hosts, sizeof *s->hosts)))
        return lisa_seterr(LISA_ENOMEM, "out of memory");
    for (int i = 0; i < o->nallow_hosts; i++, s->nhosts++) {
        if (!(s->hosts[i] = strdup(o->allow_hosts[i]))) return lisa_seterr(LISA_ENOMEM, "out of memory");
        for (char *p = s->hosts[i]; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    if (o->nfolders < 0 || o->nfolders > SRV_FOLDERS_MAX)
        return lisa_seterr(LISA_EINVAL, "at most %d folders", SRV_FOLDERS_MAX);
    s->folders = calloc((size_t)o->nfolders + 1, sizeof *s->folders);
    if (!s->folders) return lisa_seterr(LISA_ENOMEM, "out of memory");
    for (int i = 0; i < o->nfolders; i++) {
        char real[PATH_MAX];
        if (!realpath(o->folders[i], real))
            return lisa_seterr(LISA_ENOTFOUND, "folder %s: %s", o->folders[i], strerror(errno));
        if (!(s->folders[i] = strdup(real))) return lisa_seterr(LISA_ENOMEM, "out of memory");
        s->nfolders++;
    }
    snprintf(s->models_arg, sizeof s->models_arg, "%s", o->models ? o->models : "");
    return 0;
}

static int load_model(srv *s, const srv_opts *o)
{
    if (o->no_model) {
        snprintf(s->missing, sizeof s->missing,
                 "no CLIP model loaded; install one with: lisa models pull " MODELDIR_DEFAULT_CLIP);
        return 0;
    }
    int rc = search_model_load(o->models && o->models[0] ? o->models : NULL, s->data, 0, &s->model, s->model_id,
                               sizeof s->model_id, s->missing, sizeof s->missing);
    if (rc == 0 && s->model) s->missing[0] = 0;
    return rc;
}

static int bind_addr(const char *host, int port, struct sockaddr_storage *ss, int *v6)
{
    memset(ss, 0, sizeof *ss);
    if (!host || !*host || !strcmp(host, "localhost")) host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET, a4->sin_port = htons((uint16_t)port), *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6, a6->sin6_port = htons((uint16_t)port), *v6 = 1;
        return 0;
    }
    return lisa_seterr(LISA_EINVAL, "--host %s: not an IPv4/IPv6 address", host);
}

static int start_mhd(srv *s, const srv_opts *o)
{
    struct sockaddr_storage ss;
    int v6 = 0, rc = bind_addr(o->host, o->port, &ss, &v6);
    if (rc < 0) return rc;
    if (o->port < 0 || o->port > 65535) return lisa_seterr(LISA_EINVAL, "port %d out of range", o->port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, s, MHD_OPTION_URI_LOG_CALLBACK,
                            uri_log, s, MHD_OPTION_END);
    if (!s->d)
        return lisa_seterr(LISA_EIO, "cannot listen on %s:%d (port taken?)", o->host ? o->host : "127.0.0.1", o->port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    return 0;
}

static void srv_free(srv *s)
{
    if (!s) return;
    srv__reembed_stop(s);
    slots_free(s);
    srv__reembed_free(s);
    clip_free(s->model);
    srv__folders_free(s);
    free(s->token);
    for (int i = 0; i < s->nhosts; i++) free(s->hosts[i]);
    free(s->hosts);
    free(s->asset_etag);
    pthread_mutex_destroy(&s->slot_mu);
    pthread_cond_destroy(&s->slot_cv);
    pthread_mutex_destroy(&s->lat_mu);
    pthread_mutex_destroy(&s->b_mu);
    pthread_mutex_destroy(&s->f_mu);
    pthread_mutex_destroy(&s->ix_mu);
    free(s);
}

int srv_start(const srv_opts *o, srv **out)
{
    *out = NULL;
    if (!o->data_dir || !o->data_dir[0]) return lisa_seterr(LISA_EINVAL, "server: no data dir");
    srv *s = calloc(1, sizeof *s);
    if (!s) return lisa_seterr(LISA_ENOMEM, "server");
    pthread_mutex_init(&s->slot_mu, NULL);
    pthread_cond_init(&s->slot_cv, NULL);
    pthread_mutex_init(&s->lat_mu, NULL);
    pthread_mutex_init(&s->b_mu, NULL);
    pthread_mutex_init(&s->r_mu, NULL);
    pthread_mutex_init(&s->f_mu, NULL);
    pthread_mutex_init(&s->ix_mu, NULL);
    snprintf(s->b.state, sizeof s->b.state, "idle");
    s->t0 = mono_ms() / 1e3;
    int rc = copy_opts(s, o);
    if (rc == 0) rc = set_dirs(s, o->data_dir);
    if (rc == 0) rc = srv__folders_init(s);
    if (rc == 0) rc = load_model(s, o);
    if (rc == 0 && !(s->slots = calloc((size_t)s->threads, sizeof *s->slots)))
        rc = lisa_seterr(LISA_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < s->threads; i++) srv__slot_put(s, &s->slots[i]);
    if (rc == 0) rc = srv__assets_init(s);
    if (rc == 0) rc = srv__reembed_start(s);
    if (rc == 0) rc = start_mhd(s, o);
    if (rc == 0) rc = srv__watch_start(s); // catches up with what changed while stopped
    if (rc < 0) {
        srv_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void srv_stop(srv *s)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    // New requests get 503 shutting_down from here on. Not MHD_quiesce_daemon(): in libmicrohttpd 0.9.75 it races
    // its own epoll workers over removing the listen FD and aborts the process when a worker wins.
    double until = mono_ms() + SRV_DRAIN_MS;
    while (atomic_load(&s->inflight) > 0 && mono_ms() < until) usleep(10000);
    s->b_cancel = 1; // a watcher batch in flight stops after its batch
    srv__watch_stop(s);
    srv__build_stop(s);
    srv__reembed_stop(s);
    MHD_stop_daemon(s->d);
    srv_free(s);
}
