// The HTTP server end to end, in process on 127.0.0.1 with a free port, talked
// to with libcurl: every route's JSON shape, uploads (several files, 415, 413,
// names kept, unique suffixes; names and duplicates in full: test_names.c),
// build (202, 409, progress, completion, searches answered during it), the
// hostile path list for /api/image and /api/thumb, ETag/304, similar and
// delete, the bearer token, keyword-only answers without a model, static
// assets, and graceful shutdown with a request and a build in flight.
#include "testutil.h"
#include "base/err.h"
#include "image/image.h"
#include "server/assets.h"
#include "server/server.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// The fixture model of this test's build dir, in a buffer of its own: the
// server keeps the pointer.
static const char *tiny(void)
{
    static char p[1536];
    if (!p[0]) snprintf(p, sizeof p, "%s", tu_build("models/tiny-a"));
    return p;
}
#define TINY tiny()

#define NGEN 240  // generated images in the --folder library (makes a build last long enough)
#define NUPLOAD 4 // images test_upload saves (one of them a BMP)

static char g_data[512], g_lib[512];

// ---------------------------------------------------------------- HTTP client

typedef struct {
    long status;
    char *body;
    size_t n;
    char ctype[128];
    char etag[160];
    char last_mod[64];
} resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    size_t k = sz * nm;
    r->body = realloc(r->body, r->n + k + 1);
    memcpy(r->body + r->n, p, k);
    r->n += k;
    r->body[r->n] = 0;
    return k;
}

static void header_val(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl)) return;
    const char *v = line + nl;
    while (*v == ' ') v++;
    size_t len = n - (size_t)(v - line);
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n')) len--;
    snprintf(out, cap, "%.*s", (int)len, v);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    header_val(p, sz * nm, "ETag:", r->etag, sizeof r->etag);
    header_val(p, sz * nm, "Content-Type:", r->ctype, sizeof r->ctype);
    header_val(p, sz * nm, "Last-Modified:", r->last_mod, sizeof r->last_mod);
    return sz * nm;
}

static void resp_free(resp *r)
{
    free(r->body), memset(r, 0, sizeof *r);
}

// One request; hdr may be NULL; mime (multipart body) may be NULL.
static resp request(int port, const char *method, const char *path, const char *hdr, curl_mime *mime)
{
    resp r = {0};
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = hdr ? curl_slist_append(NULL, hdr) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); // send ../ as is
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (!strcmp(method, "POST") && !mime) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    if (mime) curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body) r.body = calloc(1, 1);
    return r;
}

// A request with up to 4 headers (NULL-terminated list) and a raw body (NULL: none).
static resp request_h(int port, const char *method, const char *path, const char *const *hdrs, const char *body)
{
    resp r = {0};
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = NULL;
    for (int i = 0; hdrs && hdrs[i]; i++) h = curl_slist_append(h, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body) r.body = calloc(1, 1);
    return r;
}

static cJSON *get_json(int port, const char *path, long want)
{
    resp r = request(port, "GET", path, NULL, NULL);
    if (r.status != want) fail_msg("GET %s: %ld, wanted %ld: %s", path, r.status, want, r.body);
    assert_string_equal(r.ctype, "application/json; charset=utf-8");
    cJSON *o = cJSON_Parse(r.body);
    if (!o) fail_msg("GET %s: not JSON: %s", path, r.body);
    resp_free(&r);
    return o;
}

// {"error": {"code": code, "message": "..."}} with status.
static void expect_error(resp *r, long status, const char *code)
{
    if (r->status != status) fail_msg("status %ld, wanted %ld: %s", r->status, status, r->body);
    cJSON *o = cJSON_Parse(r->body), *e = cJSON_GetObjectItem(o, "error");
    assert_non_null(e);
    if (code) assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, code);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    cJSON_Delete(o);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsNumber(v)) fail_msg("%s is not a number", k);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsString(v)) fail_msg("%s is not a string", k);
    return v->valuestring;
}

static void has(const cJSON *o, const char *k)
{
    if (!cJSON_HasObjectItem(o, k)) fail_msg("missing key %s", k);
}

// ---------------------------------------------------------------- fixtures

static void sh(const char *cmd)
{
    if (system(cmd) != 0) fail_msg("%s failed", cmd);
}

static void make_images(const char *dir, int n)
{
    mkdir(dir, 0755);
    img_t im;
    assert_int_equal(img_alloc(&im, 64, 48), 0);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < 64 * 48 * 3; i++) im.px[i] = (uint8_t)(i * (k + 3) + k * 7);
        char p[700];
        snprintf(p, sizeof p, "%s/gen%03d.jpg", dir, k);
        assert_int_equal(img_write_jpeg(&im, 90, p), 0);
    }
    img_release(&im);
}

static srv *start(const char *data, const char *token, int no_model, long long cap)
{
    srv_opts o;
    srv_opts_init(&o);
    static const char *folders[1];
    folders[0] = g_lib;
    o.data_dir = data, o.port = 0, o.models = TINY, o.quiet = 1, o.threads = 4, o.version = "test";
    o.token = token, o.no_model = no_model, o.max_upload = cap;
    o.folders = folders, o.nfolders = 1;
    srv *s = NULL;
    if (srv_start(&o, &s) < 0) fail_msg("srv_start: %s", lisa_errmsg());
    assert_true(srv_port(s) > 0);
    return s;
}

static int wait_build(int port, double seconds)
{
    for (double t = 0; t < seconds; t += 0.05) {
        cJSON *b = get_json(port, "/api/build", 200);
        int running = !strcmp(str(b, "state"), "running");
        cJSON_Delete(b);
        if (!running) return 0;
        usleep(50000);
    }
    return -1;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(g_data, sizeof g_data, "%s", tu_tmp("data"));
    snprintf(g_lib, sizeof g_lib, "%s", tu_tmp("lib"));
    make_images(g_lib, NGEN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

// ---------------------------------------------------------------- tests

static void test_health_stats_build_shapes(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    cJSON *h = get_json(port, "/api/health", 200);
    assert_string_equal(str(h, "status"), "ok");
    assert_string_equal(str(h, "model"), "tiny-a");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(h, "keyword_only")));
    cJSON_Delete(h);
    cJSON *b = get_json(port, "/api/build", 200);
    assert_string_equal(str(b, "state"), "idle");
    const char *bkeys[] = {"phase",  "done",       "total",       "rate",    "eta", "elapsed",
                           "errors", "started_at", "finished_at", "message", "last"};
    for (size_t i = 0; i < sizeof bkeys / sizeof *bkeys; i++) has(b, bkeys[i]);
    cJSON_Delete(b);
    cJSON *st = get_json(port, "/api/stats", 200);
    const char *keys[] = {"version",     "uptime_s",    "images",     "indexed", "embeddings", "uploads",   "db_bytes",
                          "thumb_bytes", "thumb_count", "last_build", "models",  "latency_ms", "rss_bytes", "build"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) has(st, keys[i]);
    assert_true(num(st, "rss_bytes") > 1e6);
    has(cJSON_GetObjectItem(st, "vector_index"), "kind"); // which vector index answers (search_vector_index_json)
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "models"), 0);
    assert_string_equal(str(m, "kind"), "clip");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "loaded")));
    cJSON *lat = cJSON_GetObjectItem(st, "latency_ms");
    has(lat, "p50"), has(lat, "p95"), has(lat, "p99"), has(lat, "recent");
    cJSON_Delete(st);
    srv_stop(s);
}

static curl_mime *mime_files(CURL *c, const char *const *paths, const char *const *names, int n)
{
    curl_mime *m = curl_mime_init(c);
    for (int i = 0; i < n; i++) {
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, "files");
        curl_mime_filedata(p, paths[i]);
        if (names && names[i]) curl_mime_filename(p, names[i]);
    }
    return m;
}

static cJSON *upload(int port, const char *const *paths, const char *const *names, int n, long want)
{
    CURL *c = curl_easy_init();
    curl_mime *m = mime_files(c, paths, names, n);
    resp r = request(port, "POST", "/api/upload", NULL, m);
    curl_mime_free(m);
    curl_easy_cleanup(c);
    if (r.status != want) fail_msg("upload: %ld, wanted %ld: %s", r.status, want, r.body);
    cJSON *o = cJSON_Parse(r.body);
    assert_non_null(o);
    resp_free(&r);
    return o;
}

static cJSON *file_n(cJSON *o, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(o, "files"), i);
}

static void test_upload(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 200 * 1024); // 200 KB cap
    int port = srv_port(s);
    // a fake JPEG over the cap, a text file, two real images and a real BMP
    uint8_t *big = calloc(1, 300 * 1024);
    big[0] = 0xff, big[1] = 0xd8, big[2] = 0xff, big[3] = 0xe0;
    tu_write(tu_tmp("big.jpg"), big, 300 * 1024);
    free(big);
    tu_write(tu_tmp("notes.txt"), "hello, not an image\n", 20);
    size_t nbmp;
    uint8_t *bmp = tu_read(tu_data("images/bmp/pal4.bmp"), &nbmp);
    tu_write(tu_tmp("old.bmp"), bmp, nbmp);
    free(bmp);
    char p0[512], p1[512], p2[512], p3[512], p4[512]; // tu_data() and tu_tmp() return one static buffer
    snprintf(p0, sizeof p0, "%s", tu_data("images/land.jpg"));
    snprintf(p1, sizeof p1, "%s", tu_data("images/gray.png"));
    const char *paths[] = {p0, p1, NULL, NULL, NULL};
    snprintf(p2, sizeof p2, "%s", tu_tmp("notes.txt"));
    snprintf(p3, sizeof p3, "%s", tu_tmp("big.jpg"));
    snprintf(p4, sizeof p4, "%s", tu_tmp("old.bmp"));
    paths[2] = p2, paths[3] = p3, paths[4] = p4;
    const char *names[] = {"land.jpg", "../../etc/my photo!.png", "notes.txt", "big.jpg", "old.bmp"};
    cJSON *o = upload(port, paths, names, 5, 200);
    assert_int_equal((int)num(o, "saved"), 3);
    assert_int_equal((int)num(o, "failed"), 2);
    assert_int_equal((int)num(file_n(o, 4), "status"), 200);
    assert_string_equal(str(file_n(o, 4), "name"), "old.bmp");
    assert_string_equal(str(file_n(o, 4), "format"), "bmp");
    assert_string_equal(str(file_n(o, 0), "name"), "land.jpg");
    assert_string_equal(str(file_n(o, 0), "format"), "jpeg");
    assert_string_equal(str(file_n(o, 1), "name"), "my photo!.png"); // path part gone, the name kept
    assert_int_equal((int)num(file_n(o, 2), "status"), 415);
    assert_string_equal(str(cJSON_GetObjectItem(file_n(o, 2), "error"), "code"), "unsupported_type");
    assert_int_equal((int)num(file_n(o, 3), "status"), 413);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(file_n(o, 3), "ok")));
    cJSON_Delete(o);
    // the same name again: never overwritten
    const char *again[] = {tu_data("images/gray.jpg")};
    const char *again_name[] = {"land.jpg"};
    o = upload(port, again, again_name, 1, 200);
    assert_string_equal(str(file_n(o, 0), "name"), "land-1.jpg");
    cJSON_Delete(o);
    char p[2200];
    size_t n1, n2;
    snprintf(p, sizeof p, "%s/images/land.jpg", g_data);
    uint8_t *a = tu_read(p, &n1), *b = tu_read(tu_data("images/land.jpg"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a), free(b);
    // only non-images: the request fails with 415; only oversize: 413
    const char *txt[] = {p2}, *bigp[] = {p3};
    o = upload(port, txt, NULL, 1, 415);
    cJSON_Delete(o);
    o = upload(port, bigp, NULL, 1, 413);
    cJSON_Delete(o);
    // nothing left behind in tmp, nothing but the saved images in images/
    snprintf(p, sizeof p, "test -z \"$(ls -A %s/tmp)\" && test $(ls %s/images | wc -l) -eq %d", g_data, g_data,
             NUPLOAD);
    sh(p);
    // not multipart: 400; GET: 405
    resp r = request(port, "POST", "/api/upload", "Content-Type: text/plain", NULL);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    r = request(port, "GET", "/api/upload", NULL, NULL);
    expect_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    srv_stop(s);
}

// ---------------------------------------------------------------- raw requests

// Sends n bytes of req to 127.0.0.1:port, then (close_early: closes at once)
// reads the answer into out (cap bytes, NUL-terminated). Returns its status,
// 0 when none came.
static int raw_http(int port, const void *req, size_t n, char *out, size_t cap, int close_early)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET, a.sin_port = htons((uint16_t)port), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail_msg("connect: %s", strerror(errno));
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, (const char *)req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; // the server may answer and close early
        off += (size_t)w;
    }
    if (close_early) {
        struct linger lg = {1, 0}; // a reset, as a client crash
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
        return 0;
    }
    size_t got = 0;
    for (ssize_t k; got + 1 < cap && (k = recv(fd, out + got, cap - 1 - got, 0)) > 0;) {
        got += (size_t)k;
        out[got] = 0;
        char *end = strstr(out, "\r\n\r\n"), *cl = strcasestr(out, "Content-Length:");
        if (end && cl && (size_t)(end + 4 - out) + strtoul(cl + 15, NULL, 10) <= got) break; // one full answer
    }
    out[got] = 0;
    close(fd);
    int status = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1) status = 0;
    return status;
}

// A multipart upload request for file (its bytes) named name, announcing
// content_length (< 0: the real length); *n gets the request's size.
static char *upload_req(int port, const uint8_t *file, size_t nfile, const char *name, long content_length,
                        const char *extra, size_t *n, size_t *body_at)
{
    char head[1024];
    int nb = snprintf(head, sizeof head,
                      "--bnd\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n",
                      name);
    static const char tail[] = "\r\n--bnd--\r\n";
    size_t body = (size_t)nb + nfile + sizeof tail - 1;
    char hdr[1024];
    int nh = snprintf(hdr, sizeof hdr,
                      "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Content-Type: multipart/form-data; boundary=bnd\r\nContent-Length: %ld\r\n%s\r\n",
                      port, content_length < 0 ? (long)body : content_length, extra ? extra : "");
    char *r = malloc((size_t)nh + body);
    memcpy(r, hdr, (size_t)nh);
    memcpy(r + nh, head, (size_t)nb);
    memcpy(r + nh + nb, file, nfile);
    memcpy(r + nh + nb + nfile, tail, sizeof tail - 1);
    *n = (size_t)nh + body, *body_at = (size_t)nh;
    return r;
}

static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

// Uploads are all or nothing: every truncation of the body (announced with a
// matching Content-Length, or cut short, or reset) leaves no file and is 400.
static void test_upload_integrity(void **state)
{
    (void)state;
    char data[600], images[700], tmp[700], out[8192];
    snprintf(data, sizeof data, "%s", tu_tmp("data_up"));
    snprintf(images, sizeof images, "%s/images", data);
    snprintf(tmp, sizeof tmp, "%s/tmp", data);
    srv *s = start(data, NULL, 1, 64 * 1024);
    int port = srv_port(s);
    size_t nfile, n, at;
    int st;
    uint8_t *png = tu_read(tu_data("images/gray.png"), &nfile);
    char *req = upload_req(port, png, nfile, "g.png", -1, NULL, &n, &at);
    assert_int_equal(raw_http(port, req, n, out, sizeof out, 0), 200); // whole: saved
    assert_int_equal(count_dir(images), 1);
    size_t body = n - at;
    for (size_t cut = 1; cut < body; cut += cut < 200 || cut > body - 40 ? 1 : 331) {
        char *r2 = upload_req(port, png, nfile, "g.png", (long)cut, NULL, &n, &at);
        st = raw_http(port, r2, at + cut, out, sizeof out, 0);
        if (st != 400) fail_msg("body cut at %zu of %zu: %d %s", cut, body, st, out);
        free(r2);
    }
    assert_int_equal(count_dir(images), 1);
    // short bodies: the client stops or resets mid-way; nothing is kept, not even in tmp
    for (int k = 0; k < 2; k++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET, a.sin_port = htons((uint16_t)port), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_true(send(fd, req, at + body - 30, MSG_NOSIGNAL) > 0);
        usleep(200000);
        if (k) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        } else {
            shutdown(fd, SHUT_WR);
        }
        close(fd);
    }
    for (int i = 0; i < 50 && count_dir(tmp); i++) usleep(100000);
    assert_int_equal(count_dir(tmp), 0);
    assert_int_equal(count_dir(images), 1);
    // an announced Content-Length over the request cap: 413 at once, before any body; with
    // Expect: 100-continue no "100 Continue" is sent
    free(req);
    const char *hdr =
        "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 2147483648\r\nExpect: 100-continue\r\n\r\n";
    assert_int_equal(raw_http(port, hdr, strlen(hdr), out, sizeof out, 0), 413);
    assert_non_null(strstr(out, "too_large"));
    assert_null(strstr(out, "100 Continue"));
    req = upload_req(port, png, nfile, "e.png", -1, "Expect: 100-continue\r\n", &n, &at);
    assert_int_equal(raw_http(port, req, at, out, sizeof out, 0), 100); // within the cap: go on
    free(req);
    // a chunked body over the cap is cut off (MHD 0.9.75 cannot queue an answer mid-body: the connection closes)
    const char *ch =
        "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=bnd\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    size_t nch = strlen(ch), big = 2 * 1024 * 1024; // over 4 x 64 KB + 1 MiB
    char *cr = malloc(nch + big + 64);
    memcpy(cr, ch, nch);
    int k = sprintf(cr + nch, "%zx\r\n", big);
    memset(cr + nch + k, 'x', big);
    memcpy(cr + nch + k + big, "\r\n0\r\n\r\n", 7);
    st = raw_http(port, cr, nch + k + big + 7, out, sizeof out, 0);
    if (st != 0 && st != 413) fail_msg("chunked body over the cap: %d", st);
    free(cr);
    assert_int_equal(count_dir(images), 1);
    free(png);
    srv_stop(s);
}

// A full disk is named as such: the data dir on a 256 KB tmpfs (root only).
static void test_upload_disk_full(void **state)
{
    (void)state;
    char data[600], cmd[1400], out[4096];
    snprintf(data, sizeof data, "%s", tu_tmp("data_full"));
    mkdir(data, 0755);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=256k tmpfs %s 2>/dev/null", data);
    if (geteuid() != 0 || system(cmd) != 0) skip();
    srv *s = start(data, NULL, 1, 1024 * 1024);
    int port = srv_port(s);
    size_t nfile = 600 * 1024, n, at;
    uint8_t *f = calloc(1, nfile);
    memcpy(f, "\x89PNG\r\n\x1a\n", 8);
    char *req = upload_req(port, f, nfile, "big.png", -1, NULL, &n, &at);
    int st = raw_http(port, req, n, out, sizeof out, 0);
    free(req), free(f);
    srv_stop(s);
    snprintf(cmd, sizeof cmd, "umount %s", data);
    sh(cmd);
    if (st != 507) fail_msg("disk full: %d %s", st, out);
    assert_non_null(strstr(out, "the disk is full"));
    assert_non_null(strstr(out, "disk_full"));
}

// The server's builds follow the OCR setting (`ocr = off` in lisa.conf or
// LISA_OCR reaches them through srv_opts): off, a sign's text is not read;
// on, the next build reads it.
static void test_build_ocr_setting(void **state)
{
    (void)state;
    char data[512], lib[600], p[700];
    snprintf(data, sizeof data, "%s", tu_tmp("data_ocr_setting"));
    snprintf(lib, sizeof lib, "%s/lib", data);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", data, lib);
    sh(cmd);
    snprintf(p, sizeof p, "%s/sign.jpg", lib);
    tu_copy(tu_build("ocr/text/sign.jpg"), p);
    for (int pass = 0; pass < 2; pass++) {
        srv_opts o;
        srv_opts_init(&o);
        const char *folders[] = {lib};
        o.data_dir = data, o.quiet = 1, o.no_model = 1, o.folders = folders, o.nfolders = 1;
        o.no_ocr = pass == 0, o.no_captions = 1;
        srv *s = NULL;
        assert_int_equal(srv_start(&o, &s), 0);
        resp r = request(srv_port(s), "POST", "/api/build", NULL, NULL);
        assert_int_equal(r.status, 202);
        resp_free(&r);
        assert_int_equal(wait_build(srv_port(s), 120), 0);
        cJSON *q = get_json(srv_port(s), "/api/library", 200);
        cJSON *res = cJSON_GetObjectItem(q, "results");
        assert_int_equal(cJSON_GetArraySize(res), 1);
        cJSON *ocr = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "ocr_text");
        if (pass == 0)
            assert_true(cJSON_IsNull(ocr));
        else
            assert_true(cJSON_IsString(ocr) && strlen(ocr->valuestring) > 0);
        cJSON_Delete(q);
        srv_stop(s);
    }
}

// A full disk still answers reads: search, stats, health and the image
// routes work from the existing index and say the disk is full; an upload
// says so too. (The data dir on a 3 MB tmpfs, root only.)
static void test_disk_full_reads(void **state)
{
    (void)state;
    char data[600], cmd[1600], out[4096], lib[700];
    snprintf(data, sizeof data, "%s", tu_tmp("data_fullr"));
    mkdir(data, 0755);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=3m tmpfs %s 2>/dev/null", data);
    if (geteuid() != 0 || system(cmd) != 0) skip();
    snprintf(lib, sizeof lib, "%s/lib", data);
    mkdir(lib, 0755);
    snprintf(cmd, sizeof cmd, "%s/land.jpg", lib);
    tu_copy(tu_data("images/land.jpg"), cmd);
    srv_opts o;
    srv_opts_init(&o);
    const char *folders[] = {lib};
    o.data_dir = data, o.quiet = 1, o.no_model = 1, o.folders = folders, o.nfolders = 1;
    srv *s = NULL;
    assert_int_equal(srv_start(&o, &s), 0);
    resp r = request(srv_port(s), "POST", "/api/build", NULL, NULL);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    assert_int_equal(wait_build(srv_port(s), 60), 0);
    srv_stop(s);
    snprintf(cmd, sizeof cmd, "dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; true", data);
    sh(cmd);
    assert_int_equal(srv_start(&o, &s), 0); // fresh connections on a full disk
    int port = srv_port(s);
    cJSON *q = get_json(port, "/api/search?query=land", 200);
    assert_int_equal((int)num(q, "count"), 1);
    cJSON_Delete(q);
    cJSON *st = get_json(port, "/api/stats", 200);
    assert_int_equal((int)num(st, "images"), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(st, "disk_full")));
    cJSON_Delete(st);
    cJSON *h = get_json(port, "/api/health", 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(h, "disk_full")));
    cJSON_Delete(h);
    r = request(port, "GET", "/api/image/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = request(port, "GET", "/api/thumb/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    size_t nfile, n, at;
    uint8_t *png = tu_read(tu_data("images/gray.png"), &nfile);
    char *req = upload_req(port, png, nfile, "g.png", -1, NULL, &n, &at);
    int code = raw_http(port, req, n, out, sizeof out, 0);
    free(req), free(png);
    if (code != 507 || !strstr(out, "the disk is full")) fail_msg("upload on a full disk: %d %s", code, out);
    // space again: stats say so, and the store is read-write again
    snprintf(cmd, sizeof cmd, "%s/filler", data);
    unlink(cmd);
    st = get_json(port, "/api/stats", 200);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(st, "disk_full")));
    cJSON_Delete(st);
    r = request(port, "DELETE", "/api/image/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    srv_stop(s);
    snprintf(cmd, sizeof cmd, "umount %s", data);
    sh(cmd);
}

static void check_result(const cJSON *x)
{
    const char *keys[] = {"id",     "name",       "rank",      "score",     "clip_score", "keyword_score", "cosine",
                          "bm25",   "matched_in", "thumb_url", "image_url", "caption",    "keywords",      "width",
                          "height", "date",       "size",      "format",    "camera",     "uploaded"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) has(x, keys[i]);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(x, "matched_in")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(x, "keywords")));
    if (cJSON_IsNull(cJSON_GetObjectItem(x, "score"))) return; // a listing: not scored
    double sc = num(x, "score");
    assert_true(sc >= 0 && sc <= 1.0001);
}

static void test_build_and_search(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    resp r = request(port, "POST", "/api/build", NULL, NULL);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    r = request(port, "POST", "/api/build", NULL, NULL);
    expect_error(&r, 409, "build_running");
    resp_free(&r);
    r = request_h(port, "POST", "/api/failures/retry", NULL, NULL); // a retry starts a build too: not now
    expect_error(&r, 409, "build_running");
    resp_free(&r);
    int searched_during = 0, saw_progress = 0, moves = 0, saw_current = 0, bad_steps = 0;
    double last_done = -1, found = 0;
    for (int i = 0; i < 2000; i++) {
        cJSON *b = get_json(port, "/api/build", 200);
        int running = !strcmp(str(b, "state"), "running");
        if (running && num(b, "total") > 0) saw_progress = 1;
        found = num(b, "found");
        if (running && !strcmp(str(b, "phase"), "index")) { // per file: done moves between the 32-image batches
            double done = num(b, "done");
            const cJSON *steps = cJSON_GetObjectItem(b, "steps");
            moves += done != last_done && last_done >= 0;
            last_done = done;
            saw_current |= done > 0 && cJSON_IsString(cJSON_GetObjectItem(b, "current"));
            bad_steps += num(steps, "decode") < done || num(steps, "embed") > num(steps, "decode");
            has(steps, "ocr"), has(steps, "caption"), has(b, "errors");
        }
        cJSON_Delete(b);
        if (!running) break;
        cJSON *q = get_json(port, "/api/search?query=gen&top_k=5", 200); // answered while building
        searched_during++;
        cJSON_Delete(q);
        usleep(20000);
    }
    assert_int_equal(wait_build(port, 60), 0);
    assert_true(searched_during > 0);
    assert_true(saw_progress);
    printf("build progress: done moved %d times over %d files\n", moves, NGEN + NUPLOAD);
    assert_true(moves > (NGEN + NUPLOAD) / 32 + 1); // more often than once per batch
    assert_true(saw_current);
    assert_int_equal(bad_steps, 0);
    assert_int_equal((int)found, NGEN + NUPLOAD);
    cJSON *b = get_json(port, "/api/build", 200);
    assert_string_equal(str(b, "state"), "done");
    assert_int_equal((int)num(cJSON_GetObjectItem(b, "last"), "added"), NGEN + NUPLOAD);
    cJSON_Delete(b);
    cJSON *q = get_json(port, "/api/search?query=land&top_k=5&clip_weight=0.25", 200);
    const char *keys[] = {"query", "top_k",      "clip_weight", "keyword_only", "message", "missing_model",
                          "model", "latency_ms", "text_ms",     "count",        "results"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) has(q, keys[i]);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(q, "keyword_only")));
    assert_true(num(q, "clip_weight") == 0.25);
    cJSON *res = cJSON_GetObjectItem(q, "results"), *x;
    assert_int_equal(cJSON_GetArraySize(res), (int)num(q, "count"));
    assert_true(cJSON_GetArraySize(res) >= 1 && cJSON_GetArraySize(res) <= 5);
    cJSON_ArrayForEach(x, res) check_result(x);
    x = cJSON_GetArrayItem(res, 0); // "land" is in the names of land.jpg and land-1.jpg only
    assert_true(!strncmp(str(x, "name"), "land", 4));
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(x, "matched_in"), 0)->valuestring, "name");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(x, "uploaded")));
    assert_true(num(x, "width") > 0);
    cJSON_Delete(q);
    cJSON *st = get_json(port, "/api/stats", 200);
    assert_int_equal((int)num(st, "images"), NGEN + NUPLOAD);
    assert_int_equal((int)num(st, "indexed"), NGEN + NUPLOAD);
    assert_true(num(cJSON_GetObjectItem(st, "latency_ms"), "count") >= 1);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "latency_ms"), "p99")));
    cJSON_Delete(st);
    srv_stop(s);
}

static void test_search_errors(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    const char *bad[] = {"/api/search",
                         "/api/search?query=",
                         "/api/search?query=%20%20",
                         "/api/search?query=a&top_k=0",
                         "/api/search?query=a&top_k=201",
                         "/api/search?query=a&top_k=x",
                         "/api/search?query=a&clip_weight=1.5",
                         "/api/search?query=a&clip_weight=nan",
                         "/api/search?query=a%00b",
                         "/api/search?query=%zz",
                         "/api/search?query=%c0%ae"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = request(port, "GET", bad[i], NULL, NULL);
        if (r.status != 400) fail_msg("%s: %ld", bad[i], r.status);
        expect_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    char longq[1200] = "/api/search?query=";
    memset(longq + strlen(longq), 'a', 1001);
    resp r = request(port, "GET", longq, NULL, NULL);
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    r = request(port, "PUT", "/api/search?query=a", NULL, NULL);
    expect_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    r = request(port, "GET", "/api/nope", NULL, NULL);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    cJSON *q = get_json(port, "/api/search?q=dog+on+grass", 200); // alias and '+' as space
    assert_string_equal(str(q, "query"), "dog on grass");
    cJSON_Delete(q);
    srv_stop(s);
}

// ids of one page of path (a library or search URL), appended to ids; returns the page's count.
static int page_ids(int port, const char *path, int64_t *ids, int *n, cJSON **keep)
{
    cJSON *q = get_json(port, path, 200), *x;
    int count = (int)num(q, "count");
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(q, "results")) ids[(*n)++] = (int64_t)num(x, "id");
    if (keep)
        *keep = q;
    else
        cJSON_Delete(q);
    return count;
}

static void test_library_paging(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    enum { ALL = NGEN + NUPLOAD };
    int64_t ids[ALL + 8];
    int n = 0;
    char url[256];
    cJSON *first = NULL;
    for (int off = 0; off < ALL + 100; off += 100) { // every photo reachable, each once
        snprintf(url, sizeof url, "/api/library?offset=%d&limit=100", off);
        page_ids(port, url, ids, &n, off ? NULL : &first);
    }
    assert_int_equal(n, ALL);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) assert_true(ids[i] != ids[j]);
    assert_int_equal((int)num(first, "total"), ALL);
    assert_int_equal((int)num(first, "count"), 100);
    assert_string_equal(str(first, "sort"), "-date");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(first, "listing")));
    cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "results"), 0);
    check_result(x);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "score"))); // a listing has no scores, not zeros
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "clip_score")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "keyword_score")));
    assert_int_equal((int)num(x, "rank"), 1);
    cJSON_Delete(first);
    snprintf(url, sizeof url, "/api/library?offset=%d&limit=5", ALL - 2); // the tail
    cJSON *q = get_json(port, url, 200);
    assert_int_equal((int)num(q, "count"), 2);
    assert_int_equal((int)num(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0), "rank"), ALL - 1);
    cJSON_Delete(q);

    q = get_json(port, "/api/library?sort=name&limit=200", 200); // by name; by added = by id
    const char *prev = "";
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(q, "results"))
    {
        assert_true(strcasecmp(prev, str(x, "name")) <= 0);
        prev = str(x, "name");
    }
    cJSON_Delete(q);
    n = 0;
    page_ids(port, "/api/library?sort=added&limit=200", ids, &n, NULL);
    for (int i = 1; i < n; i++) assert_true(ids[i - 1] < ids[i]);
    n = 0;
    page_ids(port, "/api/library?sort=-added&limit=200", ids, &n, NULL);
    for (int i = 1; i < n; i++) assert_true(ids[i - 1] > ids[i]);

    // filters: a query of filters only lists; combined and negated
    q = get_json(port, "/api/search?query=name:gen00&top_k=50", 200);
    assert_int_equal((int)num(q, "total"), 10);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(q, "listing")));
    cJSON_Delete(q);
    q = get_json(port, "/api/library?query=name:gen00+-name:gen001+type:jpeg", 200);
    assert_int_equal((int)num(q, "total"), 9);
    cJSON_Delete(q);
    q = get_json(port, "/api/search?query=type:png+year:1990", 200);
    assert_int_equal((int)num(q, "total"), 0);
    assert_non_null(strstr(str(q, "empty"), "No photos match the filters"));
    cJSON_Delete(q);

    // search paging: total over pages, offset moves the window, ranks continue
    q = get_json(port, "/api/search?query=land&top_k=1&clip_weight=0", 200);
    assert_int_equal((int)num(q, "total"), 2); // land.jpg and land-1.jpg
    assert_int_equal((int)num(q, "count"), 1);
    int64_t a = (int64_t)num(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0), "id");
    cJSON_Delete(q);
    q = get_json(port, "/api/search?query=land&top_k=1&offset=1&clip_weight=0", 200);
    x = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0);
    assert_true((int64_t)num(x, "id") != a);
    assert_int_equal((int)num(x, "rank"), 2);
    cJSON_Delete(q);
    q = get_json(port, "/api/search?query=land&sort=-date&clip_weight=0", 200); // the relevant set, re-ordered
    assert_int_equal((int)num(q, "total"), 2);
    assert_string_equal(str(q, "sort"), "-date");
    cJSON_Delete(q);

    // honest relevance: words nothing has are an explicit empty answer
    q = get_json(port, "/api/search?query=xyzzy+nothing&clip_weight=0", 200);
    assert_int_equal((int)num(q, "total"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(q, "results")), 0);
    assert_non_null(strstr(str(q, "empty"), "No matches"));
    cJSON_Delete(q);
    q = get_json(port, "/api/search?query=xyzzy+nothing", 200); // with CLIP: only what stands out, not all 244
    assert_true(num(q, "total") < ALL / 10);
    assert_true(num(q, "clip_cut") > -1 && num(q, "clip_cut") < 1);
    cJSON_Delete(q);

    const char *bad[] = {"/api/search?query=colour:red", "/api/search?query=after:2019-13", "/api/search?query=%22open",
                         "/api/library?query=like:999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = request(port, "GET", bad[i], NULL, NULL);
        expect_error(&r, 400, "bad_query");
        resp_free(&r);
    }
    const char *badp[] = {"/api/library?sort=size", "/api/library?offset=-1", "/api/library?limit=0",
                          "/api/search?query=a&sort=newest"};
    for (size_t i = 0; i < sizeof badp / sizeof *badp; i++) {
        resp r = request(port, "GET", badp[i], NULL, NULL);
        expect_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    resp r = request(port, "POST", "/api/library", NULL, NULL);
    expect_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    srv_stop(s);
}

// Every hostile name must answer 400 or 404 with a JSON error, never a file.
static void test_hostile_paths(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    char longname[600];
    memset(longname, 'a', 300), longname[300] = 0;
    char verylong[6000];
    memset(verylong, 'b', 5000), verylong[5000] = 0;
    const char *hostile[] = {"../",
                             "..",
                             ".",
                             "../../../../etc/passwd",
                             "..%2f..%2f..%2fetc%2fpasswd",
                             "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                             "%2e%2e",
                             "%2e",
                             "%2fetc%2fpasswd",
                             "/etc/passwd",
                             "//etc/passwd",
                             "land.jpg%00.png",
                             "land.jpg%00",
                             "%00",
                             "..%5c..%5cwindows%5cwin.ini",
                             "..\\..\\etc\\passwd",
                             "%5cetc%5cpasswd",
                             "%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
                             "%c0%ae%c0%ae",
                             "%e0%80%ae%e0%80%ae",
                             "%f0%80%80%ae",
                             "%ed%a0%80",
                             "%ff%fe",
                             "%",
                             "%2",
                             "%zz",
                             "land.jpg/../../../etc/passwd",
                             "images/land.jpg",
                             "..%252f..%252fetc",
                             "C:%5cwindows",
                             "land.jpg%0a",
                             "%7f",
                             "lisa.db",
                             "..%2flisa.db",
                             "thumbnails",
                             longname,
                             verylong,
                             "99999999",
                             "-1",
                             "0"};
    const char *routes[] = {"/api/image/", "/api/thumb/", "/api/similar/"};
    for (size_t ri = 0; ri < 3; ri++)
        for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
            char path[8000];
            snprintf(path, sizeof path, "%s%s", routes[ri], hostile[i]);
            resp r = request(port, "GET", path, NULL, NULL);
            if (r.status != 400 && r.status != 404) fail_msg("%s: %ld", path, r.status);
            if (strstr(r.body, "root:") || strstr(r.body, "SQLite")) fail_msg("%s leaked a file", path);
            assert_string_equal(r.ctype, "application/json; charset=utf-8");
            resp_free(&r);
        }
    // DELETE with hostile names must not remove anything either
    for (size_t i = 0; i < 12; i++) {
        char path[8000];
        snprintf(path, sizeof path, "/api/image/%s", hostile[i]);
        resp r = request(port, "DELETE", path, NULL, NULL);
        if (r.status != 400 && r.status != 404) fail_msg("DELETE %s: %ld", path, r.status);
        resp_free(&r);
    }
    srv_stop(s);
}

static void test_files_etag(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    resp r = request(port, "GET", "/api/image/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "image/jpeg");
    size_t n;
    uint8_t *want = tu_read(tu_data("images/land.jpg"), &n);
    assert_int_equal(r.n, n);
    assert_memory_equal(r.body, want, n);
    free(want);
    assert_int_equal(strlen(r.etag), 66); // "sha256"
    assert_true(r.last_mod[0] != 0);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", r.etag);
    resp r2 = request(port, "GET", "/api/image/land.jpg", hdr, NULL);
    assert_int_equal(r2.status, 304);
    assert_int_equal(r2.n, 0);
    resp_free(&r2);
    resp_free(&r);
    r = request(port, "GET", "/api/image/gray.png", NULL, NULL); // stored as "my photo!.png": not found by this name
    resp_free(&r);
    r = request(port, "GET", "/api/thumb/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "image/jpeg");
    assert_true(!strncmp(r.etag, "\"t-", 3));
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", r.etag);
    resp_free(&r);
    r = request(port, "GET", "/api/thumb/land.jpg", hdr, NULL);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    r = request(port, "GET", "/api/image/my%20photo!.png", NULL, NULL); // the name it was uploaded under
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "image/png");
    resp_free(&r);
    // by id, as the result URLs give them
    cJSON *q = get_json(port, "/api/search?query=land&top_k=1", 200);
    const char *url = str(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0), "image_url");
    r = request(port, "HEAD", url, NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    cJSON_Delete(q);
    srv_stop(s);
}

static void test_static(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    resp r = request(port, "GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_true(strstr(r.body, "<") != NULL);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", r.etag);
    resp_free(&r);
    r = request(port, "GET", "/index.html", hdr, NULL);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    for (size_t i = 0; i < srv_assets_n; i++) {
        char path[600];
        snprintf(path, sizeof path, "/%s", srv_assets[i].path);
        r = request(port, "GET", path, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.n, srv_assets[i].size);
        const char *dot = strrchr(path, '.');
        if (dot && !strcmp(dot, ".css")) assert_string_equal(r.ctype, "text/css; charset=utf-8");
        if (dot && !strcmp(dot, ".js")) assert_string_equal(r.ctype, "text/javascript; charset=utf-8");
        if (dot && !strcmp(dot, ".woff2")) assert_string_equal(r.ctype, "font/woff2");
        resp_free(&r);
    }
    r = request(port, "GET", "/../Makefile", NULL, NULL);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    r = request(port, "POST", "/index.html", NULL, NULL);
    expect_error(&r, 405, NULL);
    resp_free(&r);
    srv_stop(s);
}

static void test_similar_delete(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    cJSON *q = get_json(port, "/api/similar/gen007.jpg?top_k=4", 200);
    assert_string_equal(str(cJSON_GetObjectItem(q, "similar_to"), "name"), "gen007.jpg");
    cJSON *x, *res = cJSON_GetObjectItem(q, "results");
    assert_int_equal(cJSON_GetArraySize(res), 4);
    cJSON_ArrayForEach(x, res)
    {
        check_result(x);
        assert_string_not_equal(str(x, "name"), "gen007.jpg");
    }
    cJSON_Delete(q);
    // an upload: removed from the index and the disk
    char p[1024];
    snprintf(p, sizeof p, "%s/images/land-1.jpg", g_data);
    assert_int_equal(access(p, F_OK), 0);
    resp r = request(port, "DELETE", "/api/image/land-1.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    cJSON *o = cJSON_Parse(r.body);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "file_deleted")));
    cJSON_Delete(o);
    resp_free(&r);
    assert_int_not_equal(access(p, F_OK), 0);
    r = request(port, "DELETE", "/api/image/land-1.jpg", NULL, NULL);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    // a library file: out of the index, the file stays
    r = request(port, "DELETE", "/api/image/gen001.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "file_deleted")));
    cJSON_Delete(o);
    resp_free(&r);
    snprintf(p, sizeof p, "%s/gen001.jpg", g_lib);
    assert_int_equal(access(p, F_OK), 0);
    r = request(port, "GET", "/api/image/gen001.jpg", NULL, NULL);
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    srv_stop(s);
}

static void test_token(void **state)
{
    (void)state;
    srv *s = start(g_data, "s3cret-token", 0, 0);
    int port = srv_port(s);
    resp r = request(port, "GET", "/api/stats", NULL, NULL);
    expect_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = request(port, "GET", "/api/search?query=land", "Authorization: Bearer wrong", NULL);
    expect_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = request(port, "POST", "/api/build", "Authorization: Bearer s3cret-token-longer", NULL);
    expect_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = request(port, "GET", "/api/stats", "Authorization: Bearer s3cret-token", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = request(port, "GET", "/api/image/land.jpg?token=s3cret-token", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = request(port, "GET", "/api/health", NULL, NULL); // always open
    assert_int_equal(r.status, 200);
    cJSON *o = cJSON_Parse(r.body);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "auth")));
    cJSON_Delete(o);
    resp_free(&r);
    r = request(port, "GET", "/", NULL, NULL); // the UI shell is public
    assert_int_equal(r.status, 200);
    resp_free(&r);
    srv_stop(s);
}

// DNS rebinding (a foreign Host) gets 421; a cross-site page's POST/DELETE,
// the "simple" text/plain form included, gets 403 and changes nothing.
static void test_guard(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 0, 0);
    int port = srv_port(s);
    char evil[128], local[128], v6[128], self[128], other[128];
    snprintf(evil, sizeof evil, "Host: evil.example:%d", port);
    snprintf(local, sizeof local, "Host: LocalHost:%d", port);
    snprintf(v6, sizeof v6, "Host: [::1]:%d", port);
    snprintf(self, sizeof self, "Origin: http://127.0.0.1:%d", port);
    snprintf(other, sizeof other, "Origin: http://127.0.0.1:%d", port == 65535 ? 1 : port + 1);
    const char *bad_hosts[] = {
        evil,        "Host: evil.example", "Host: 10.0.0.1", "Host: 127.0.0.1.evil.example", "Host: 127.0.0.1:x",
        "Host: a b", "Host: [::1"};
    const char *paths[] = {"/api/search?query=land", "/", "/api/image/land.jpg", "/api/health"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof *bad_hosts; i++)
        for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) {
            const char *h[] = {bad_hosts[i], NULL};
            resp r = request_h(port, "GET", paths[k], h, NULL);
            if (r.status != 421) fail_msg("%s %s: %ld", bad_hosts[i], paths[k], r.status);
            expect_error(&r, 421, "misdirected");
            resp_free(&r);
        }
    const char *good_hosts[] = {local, v6, "Host: 127.0.0.1", "Host: localhost.", "Host: 127.0.0.9:1"};
    for (size_t i = 0; i < sizeof good_hosts / sizeof *good_hosts; i++) {
        const char *h[] = {good_hosts[i], NULL};
        resp r = request_h(port, "GET", "/api/search?query=land", h, NULL);
        if (r.status != 200) fail_msg("%s: %ld", good_hosts[i], r.status);
        resp_free(&r);
    }
    // cross-site state changes: the text/plain simple POST, a same-site page on another port, Origin null,
    // Sec-Fetch-Site alone, an upload and a DELETE
    const char *xs[][3] = {{"Origin: http://evil.example", "Content-Type: text/plain", NULL},
                           {other, "Content-Type: text/plain", NULL},
                           {"Origin: null", "Content-Type: text/plain", NULL},
                           {"Origin: file://", NULL, NULL},
                           {"Sec-Fetch-Site: cross-site", "Content-Type: text/plain", NULL},
                           {"Sec-Fetch-Site: same-site", self, NULL},
                           {"Origin: http://evil.example", "Content-Type: multipart/form-data; boundary=b", NULL}};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        resp r = request_h(port, "POST", i == 6 ? "/api/upload" : "/api/build", xs[i],
                           i == 6 ? "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n\r\n"
                                    "\x89PNG\r\n\x1a\n\r\n--b--\r\n"
                                  : "{}");
        if (r.status != 403) fail_msg("cross-site POST %zu: %ld %s", i, r.status, r.body);
        expect_error(&r, 403, "forbidden");
        resp_free(&r);
        const char *h[] = {xs[i][0], NULL};
        r = request_h(port, "DELETE", "/api/image/land.jpg", h, NULL);
        expect_error(&r, 403, "forbidden");
        resp_free(&r);
    }
    cJSON *b = get_json(port, "/api/build", 200); // nothing started, nothing saved or deleted
    assert_string_equal(str(b, "state"), "idle");
    cJSON_Delete(b);
    char p[1200];
    snprintf(p, sizeof p, "%s/images/x.png", g_data);
    assert_int_not_equal(access(p, F_OK), 0);
    resp r = request(port, "GET", "/api/image/land.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    // the UI's own page: same origin (and curl without Origin) may act
    const char *same[] = {self, "Sec-Fetch-Site: same-origin", "Content-Type: text/plain", NULL};
    r = request_h(port, "POST", "/api/build", same, "");
    assert_int_equal(r.status, 202);
    resp_free(&r);
    assert_int_equal(wait_build(port, 60), 0);
    srv_stop(s);
    // a configured name is accepted; beyond loopback without a token the server does not start
    srv_opts o;
    srv_opts_init(&o);
    const char *names[] = {"Photos.LAN"};
    o.data_dir = g_data, o.quiet = 1, o.no_model = 1, o.allow_hosts = names, o.nallow_hosts = 1;
    assert_int_equal(srv_start(&o, &s), 0);
    port = srv_port(s);
    const char *h[] = {"Host: photos.lan:8000", NULL};
    r = request_h(port, "GET", "/api/health", h, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    srv_stop(s);
    const char *beyond[] = {"0.0.0.0", "::", "192.0.2.1"}; // refused before any bind
    for (int i = 0; i < 3; i++) {
        srv_opts_init(&o);
        o.data_dir = g_data, o.quiet = 1, o.no_model = 1, o.host = beyond[i];
        s = NULL;
        assert_int_equal(srv_start(&o, &s), LISA_EINVAL);
        assert_null(s);
        assert_non_null(strstr(lisa_errmsg(), "--insecure-no-token"));
    }
    o.host = "192.0.2.1", o.token = "t0ken"; // a token passes the check (the bind then fails: not our address)
    assert_true(srv_start(&o, &s) < 0);
    assert_null(strstr(lisa_errmsg(), "--insecure-no-token"));
    o.token = NULL, o.insecure_no_token = 1;
    assert_true(srv_start(&o, &s) < 0);
    assert_non_null(strstr(lisa_errmsg(), "cannot listen"));
}

// A file swapped after indexing is never served: a symlink in its place or on
// the way to it, a renamed directory with another file under the old name, a
// hard link to another file; the thumbnail route too.
static void test_swap(void **state)
{
    (void)state;
    char data[600], lib[600], p[1400], q[1400];
    snprintf(data, sizeof data, "%s", tu_tmp("data_swap"));
    snprintf(lib, sizeof lib, "%s", tu_tmp("lib_swap"));
    mkdir(lib, 0755);
    snprintf(p, sizeof p, "%s/sub", lib);
    mkdir(p, 0755);
    const char *files[] = {"a.jpg", "sub/b.jpg", "c.jpg", "d.jpg"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", lib, files[i]);
        tu_copy(tu_data(i % 2 ? "images/gray.jpg" : "images/land.jpg"), p);
    }
    snprintf(p, sizeof p, "%s/secret.txt", data); // another file on the same file system
    mkdir(data, 0755);
    tu_write(p, "root:x:0:0:secret\n", 18);
    srv_opts o;
    srv_opts_init(&o);
    const char *folders[] = {lib};
    o.data_dir = data, o.quiet = 1, o.no_model = 1, o.folders = folders, o.nfolders = 1;
    srv *s = NULL;
    assert_int_equal(srv_start(&o, &s), 0);
    int port = srv_port(s);
    resp r = request(port, "POST", "/api/build", NULL, NULL);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    assert_int_equal(wait_build(port, 60), 0);
    const char *names[] = {"a.jpg", "b.jpg", "c.jpg", "d.jpg"};
    for (int i = 0; i < 4; i++) {
        snprintf(q, sizeof q, "/api/image/%s", names[i]);
        r = request(port, "GET", q, NULL, NULL);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    r = request(port, "GET", "/api/thumb/d.jpg", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    // a.jpg -> /etc/passwd; sub -> a copy of sub; c.jpg a hard link to secret.txt
    snprintf(p, sizeof p, "%s/a.jpg", lib);
    unlink(p);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof p, "%s/sub", lib);
    snprintf(q, sizeof q, "%s/sub_real", lib);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(symlink(q, p), 0);
    snprintf(p, sizeof p, "%s/c.jpg", lib);
    snprintf(q, sizeof q, "%s/secret.txt", data);
    unlink(p);
    assert_int_equal(link(q, p), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "/api/image/%s", names[i]);
        r = request(port, "GET", q, NULL, NULL);
        if (r.status != 404 || strstr(r.body, "root:")) fail_msg("%s after the swap: %ld", q, r.status);
        resp_free(&r);
    }
    // the directory renamed away and another one in its place with a different b.jpg
    snprintf(p, sizeof p, "%s/sub", lib);
    unlink(p);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/b.jpg", lib);
    tu_copy(tu_data("images/land.jpg"), p);
    r = request(port, "GET", "/api/image/b.jpg", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    // the thumbnail of d.jpg swapped for a symlink
    snprintf(p, sizeof p, "ls %s/thumbnails/*.jpg", data);
    FILE *f = popen(p, "r");
    int swapped = 0;
    while (fgets(q, sizeof q, f)) {
        q[strcspn(q, "\n")] = 0;
        unlink(q);
        assert_int_equal(symlink("/etc/passwd", q), 0);
        swapped++;
    }
    pclose(f);
    assert_true(swapped >= 1);
    r = request(port, "GET", "/api/thumb/d.jpg", NULL, NULL);
    if (r.status != 404 || strstr(r.body, "root:")) fail_msg("thumb after the swap: %ld", r.status);
    resp_free(&r);
    r = request(port, "GET", "/api/image/d.jpg", NULL, NULL); // untouched: still served
    assert_int_equal(r.status, 200);
    resp_free(&r);
    srv_stop(s);
}

// A raw NUL in the request line is 400 (MHD would hand over the target cut at
// it); a client trickling its body past the absolute deadline is cut off
// although every byte resets the idle timer.
static void test_nul_deadline(void **state)
{
    (void)state;
    char data[600], out[8192];
    snprintf(data, sizeof data, "%s", tu_tmp("data_dl"));
    srv_opts o;
    srv_opts_init(&o);
    o.data_dir = data, o.quiet = 1, o.no_model = 1, o.deadline_s = 1.5;
    srv *s = NULL;
    assert_int_equal(srv_start(&o, &s), 0);
    int port = srv_port(s);
    static const char lines[][48] = {"GET /api/health\0 HTTP/1.1", "GET /api/image/a.jpg\0../../etc/passwd HTTP/1.1",
                                     "GET /api/search?q=a\0b HTTP/1.1", "GET /\0x HTTP/1.1",
                                     "GET /api/health HTTP/1.1"};
    for (int i = 0; i < 5; i++) {
        char req[256];
        size_t n = strlen(lines[i]);
        if (i < 4) n += 1 + strlen(lines[i] + n + 1); // through the NUL to the end of the line
        memcpy(req, lines[i], n);
        n += (size_t)snprintf(req + n, sizeof req - n, "\r\nHost: 127.0.0.1\r\n\r\n");
        int st = raw_http(port, req, n, out, sizeof out, 0);
        if (st != (i < 4 ? 400 : 200)) fail_msg("request line %d: %d %s", i, st, out);
        if (i < 4) assert_non_null(strstr(out, "NUL byte"));
    }
    // the slow body: 50 bytes each 100 ms of a 64 KB upload (it would take 13 s)
    size_t nfile = 64 * 1024, n, at;
    uint8_t *f = calloc(1, nfile);
    memcpy(f, "\x89PNG\r\n\x1a\n", 8);
    char *req = upload_req(port, f, nfile, "slow.png", -1, NULL, &n, &at);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET, a.sin_port = htons((uint16_t)port), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    double secs = 0;
    struct timespec ta, tb;
    clock_gettime(CLOCK_MONOTONIC, &ta);
    size_t off = 0;
    while (off < n) {
        size_t k = off < at ? at : 50;
        if (off + k > n) k = n - off;
        if (send(fd, req + off, k, MSG_NOSIGNAL) <= 0) break;
        off += k;
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) break; // closed by the server
        usleep(100000);
        clock_gettime(CLOCK_MONOTONIC, &tb);
        secs = (double)(tb.tv_sec - ta.tv_sec) + (tb.tv_nsec - ta.tv_nsec) * 1e-9;
        if (secs > 10) break;
    }
    close(fd);
    free(req), free(f);
    if (off >= n || secs > 8) fail_msg("the slow upload was not cut off (%zu of %zu bytes, %.1f s)", off, n, secs);
    char p[700];
    snprintf(p, sizeof p, "%s/images", data);
    for (int i = 0; i < 20 && count_dir(p); i++) usleep(100000);
    assert_int_equal(count_dir(p), 0);
    srv_stop(s);
}

static void test_keyword_only(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 1, 0);
    int port = srv_port(s);
    cJSON *q = get_json(port, "/api/search?query=land", 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(q, "keyword_only")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(q, "model")));
    assert_non_null(strstr(str(q, "message"), "lisa models pull clip-vit-base-patch32-laion2b"));
    assert_string_equal(str(cJSON_GetObjectItem(q, "missing_model"), "install"),
                        "lisa models pull clip-vit-base-patch32-laion2b");
    cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0);
    assert_non_null(x);
    assert_string_equal(str(x, "name"), "land.jpg");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "cosine")));
    cJSON_Delete(q);
    resp r = request(port, "GET", "/api/similar/land.jpg", NULL, NULL);
    expect_error(&r, 400, "no_model");
    resp_free(&r);
    srv_stop(s);
}

// ---------------------------------------------------------------- graceful shutdown

typedef struct {
    int port;
    long status;
    int sent;
    uint8_t *png; // a real PNG (uploads are decoded before they are kept)
    size_t npng;
} slow_ctx;

static size_t slow_read(char *buf, size_t size, size_t nitems, void *ud)
{
    slow_ctx *c = ud;
    size_t chunk = (c->npng + 7) / 8, off = (size_t)c->sent * chunk, left = off < c->npng ? c->npng - off : 0;
    if (!left) return 0;
    usleep(80000); // the body trickles in over ~0.6 s, in 8 pieces
    size_t n = size * nitems < chunk ? size * nitems : chunk;
    if (n > left) n = left;
    memcpy(buf, c->png + off, n);
    c->sent++;
    return n;
}

static void *slow_upload(void *arg)
{
    slow_ctx *c = arg;
    CURL *h = curl_easy_init();
    curl_mime *m = curl_mime_init(h);
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, "files");
    curl_mime_filename(p, "slow.png");
    curl_mime_data_cb(p, (curl_off_t)c->npng, slow_read, NULL, NULL, c);
    resp r = request(c->port, "POST", "/api/upload", NULL, m);
    c->status = r.status;
    resp_free(&r);
    curl_mime_free(m);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    char data2[600];
    snprintf(data2, sizeof data2, "%s", tu_tmp("data2"));
    srv *s = start(data2, NULL, 0, 0);
    int port = srv_port(s);
    resp r = request(port, "POST", "/api/build", NULL, NULL); // a fresh build of NGEN images
    assert_int_equal(r.status, 202);
    resp_free(&r);
    slow_ctx c = {port, 0, 0, NULL, 0};
    c.png = tu_read(tu_data("images/gray.png"), &c.npng);
    pthread_t t;
    pthread_create(&t, NULL, slow_upload, &c);
    usleep(200000); // the upload is in flight
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    srv_stop(s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    free(c.png);
    assert_int_equal(c.status, 200); // finished, not cut off
    char p[1024];
    snprintf(p, sizeof p, "%s/images/slow.png", data2);
    assert_int_equal(access(p, F_OK), 0);
    double secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    if (secs >= 10) fail_msg("srv_stop took %.1f s", secs);
    // the build stopped at a batch boundary: every stored image is complete
    snprintf(p, sizeof p, "%s/lisa.db", data2);
    store *st;
    assert_int_equal(store_open(p, 0, &st), 0);
    int64_t n = -1;
    assert_int_equal(store_image_count(st, &n), 0);
    assert_true(n >= 0 && n <= NGEN);
    store_close(st);
    // the port is free again: a new server can take it
    srv_opts o;
    srv_opts_init(&o);
    o.data_dir = data2, o.port = port, o.quiet = 1, o.no_model = 1;
    srv *s2 = NULL;
    assert_int_equal(srv_start(&o, &s2), 0);
    srv_stop(s2);
}

// ---------------------------------------------------------------- failures, words, limits

static srv *start_lib(const char *data, const char *lib, long long cap)
{
    srv_opts o;
    srv_opts_init(&o);
    static const char *folders[1];
    folders[0] = lib;
    o.data_dir = data, o.port = 0, o.quiet = 1, o.threads = 4, o.version = "test", o.no_model = 1;
    o.no_captions = 1, o.max_upload = cap, o.folders = folders, o.nfolders = 1;
    srv *s = NULL;
    if (srv_start(&o, &s) < 0) fail_msg("srv_start: %s", lisa_errmsg());
    return s;
}

static void build_and_wait(int port)
{
    resp r = request(port, "POST", "/api/build", NULL, NULL);
    if (r.status != 202) fail_msg("POST /api/build: %ld %s", r.status, r.body);
    resp_free(&r);
    assert_int_equal(wait_build(port, 60), 0);
}

// A build names the files it could not read (GET /api/failures); a retry of
// one or all forgets them and builds again; a fixed file then leaves the list.
static void test_failures_api(void **state)
{
    (void)state;
    char lib[512], data[512], bad[700], good[2200], body[900];
    snprintf(lib, sizeof lib, "%s", tu_tmp("flib"));
    snprintf(data, sizeof data, "%s", tu_tmp("fdata"));
    make_images(lib, 2);
    snprintf(bad, sizeof bad, "%s/broken.jpg", lib);
    snprintf(good, sizeof good, "cp '%s' '%s'", tu_data("images/bad/truncated.jpg"), bad);
    sh(good);
    srv *s = start_lib(data, lib, 0);
    int port = srv_port(s);
    cJSON *f = get_json(port, "/api/failures", 200);
    assert_int_equal((int)num(f, "count"), 0);
    cJSON_Delete(f);
    build_and_wait(port);
    cJSON *b = get_json(port, "/api/build", 200);
    assert_int_equal((int)num(b, "errors"), 1);
    assert_int_equal((int)num(b, "found"), 3);
    cJSON_Delete(b);
    f = get_json(port, "/api/failures", 200);
    assert_int_equal((int)num(f, "count"), 1);
    cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(f, "failures"), 0);
    assert_string_equal(str(x, "name"), "broken.jpg");
    assert_non_null(strstr(str(x, "path"), "/flib/broken.jpg"));
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", str(x, "path")); // one: tried again, still broken
    assert_string_equal(str(x, "error"), "broken.jpg cannot be read (JPEG: truncated file).");
    assert_true(num(x, "size") > 0);
    assert_int_equal((int)strlen(str(x, "failed_at")), 20); // 2026-12-02T18:00:00Z
    assert_true(str(x, "failed_at")[19] == 'Z');
    cJSON_Delete(f);
    const char *json[] = {"Content-Type: application/json", NULL};
    resp r = request_h(port, "POST", "/api/failures/retry", json, "{\"path\": \"/no/such.jpg\"}");
    expect_error(&r, 404, "not_found");
    resp_free(&r);
    r = request_h(port, "POST", "/api/failures/retry", json, "[1, 2]");
    expect_error(&r, 400, "bad_request");
    resp_free(&r);
    r = request_h(port, "GET", "/api/failures/retry", NULL, NULL);
    expect_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    r = request_h(port, "POST", "/api/failures/retry", json, body);
    if (r.status != 202) fail_msg("retry: %ld %s", r.status, r.body);
    cJSON *o = cJSON_Parse(r.body);
    assert_string_equal(str(o, "state"), "running");
    cJSON_Delete(o);
    resp_free(&r);
    assert_int_equal(wait_build(port, 60), 0);
    b = get_json(port, "/api/build", 200);
    assert_int_equal((int)num(cJSON_GetObjectItem(b, "last"), "failed"), 1); // decoded again, not skipped
    cJSON_Delete(b);
    snprintf(good, sizeof good, "cp '%s' '%s' && touch -d 2001-01-01 '%s'", tu_data("images/gray.jpg"), bad, bad);
    sh(good);
    r = request_h(port, "POST", "/api/failures/retry", NULL, NULL); // all
    assert_int_equal(r.status, 202);
    resp_free(&r);
    assert_int_equal(wait_build(port, 60), 0);
    f = get_json(port, "/api/failures", 200);
    assert_int_equal((int)num(f, "count"), 0);
    cJSON_Delete(f);
    srv_stop(s);
}

// A GET whose URL is n bytes of query (malloc'd URL: request() caps at 8 KB).
static resp get_long(int port, size_t n)
{
    char *url = malloc(n + 100);
    int k = snprintf(url, n + 100, "http://127.0.0.1:%d/api/search?query=", port);
    memset(url + k, 'a', n);
    url[k + n] = 0;
    resp r = {0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("long GET: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    free(url);
    if (!r.body) r.body = calloc(1, 1);
    return r;
}

// Upload refusals are one sentence each, in MB, naming the file once; an
// undecodable or over-cap image is refused at upload (422 bad_image); a long
// URI is JSON 414; /api/stats gives the limits the UI checks before sending.
static void test_words_limits(void **state)
{
    (void)state;
    char lib[512], data[512];
    snprintf(lib, sizeof lib, "%s", tu_tmp("wlib"));
    snprintf(data, sizeof data, "%s", tu_tmp("wdata"));
    mkdir(lib, 0755);
    srv *s = start_lib(data, lib, 50LL * 1024 * 1024);
    int port = srv_port(s);
    uint8_t *big = calloc(1, 51 * 1024 * 1024);
    big[0] = 0xff, big[1] = 0xd8, big[2] = 0xff, big[3] = 0xe0;
    char pbig[600], pempty[600], ptxt[600], ptrunc[600], pbomb[600];
    snprintf(pbig, sizeof pbig, "%s", tu_tmp("w_big.jpg"));
    tu_write(pbig, big, 51 * 1024 * 1024);
    free(big);
    snprintf(pempty, sizeof pempty, "%s", tu_tmp("w_empty.jpg"));
    tu_write(pempty, "", 0);
    snprintf(ptxt, sizeof ptxt, "%s", tu_tmp("w_notes.txt"));
    tu_write(ptxt, "hello, not an image\n", 20);
    snprintf(ptrunc, sizeof ptrunc, "%s", tu_data("images/bad/truncated.jpg"));
    snprintf(pbomb, sizeof pbomb, "%s", tu_data("images/bad/bomb.jpg"));
    const char *paths[] = {pbig, pempty, ptxt, ptrunc, pbomb};
    const char *names[] = {"big.jpg", "x.jpg", "notes.txt", "cut.jpg", "IMG.jpg"};
    static const struct {
        int status;
        const char *code, *msg;
    } want[] = {
        {413, "too_large", "big.jpg is over the upload limit of 50 MB."},
        {422, "bad_image", "x.jpg is empty."},
        {415, "unsupported_type", "notes.txt is not a JPEG, PNG, WebP, GIF, HEIF, BMP or TIFF file."},
        {422, "bad_image", "cut.jpg cannot be read (JPEG: truncated file)."},
        {422, "bad_image", "IMG.jpg is 900 MP; the limit is 100 MP."},
    };
    cJSON *o = upload(port, paths, names, 5, 413);
    assert_int_equal((int)num(o, "saved"), 0);
    for (int i = 0; i < 5; i++) {
        cJSON *x = file_n(o, i), *e = cJSON_GetObjectItem(x, "error");
        assert_int_equal((int)num(x, "status"), want[i].status);
        assert_string_equal(str(e, "code"), want[i].code);
        assert_string_equal(str(e, "message"), want[i].msg);
    }
    cJSON_Delete(o);
    sh("true");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/images')\"", data); // nothing kept
    sh(cmd);
    resp r = get_long(port, 100 * 1000); // a 100 kB query: JSON, not MHD's HTML page
    expect_error(&r, 414, "uri_too_long");
    assert_string_equal(r.ctype, "application/json; charset=utf-8");
    resp_free(&r);
    r = get_long(port, 2000); // under the URI cap, over the query's: 400 from the search route
    expect_error(&r, 400, NULL);
    resp_free(&r);
    cJSON *st = get_json(port, "/api/stats", 200), *lim = cJSON_GetObjectItem(st, "limits");
    assert_int_equal((int)num(lim, "query_bytes"), 1000);
    assert_int_equal((long long)num(lim, "upload_bytes"), 50LL * 1024 * 1024);
    cJSON_Delete(st);
    srv_stop(s);
}

static int has_chip(const cJSON *arr, const char *w)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (!strcmp(e->valuestring, w)) return 1;
    return 0;
}

// A photo's XMP description comes back as the sentence it is; its chips are
// grouped by source, with no stop words or punctuation.
static void test_chips_description(void **state)
{
    (void)state;
    char lib[512], data[512], cmd[2400];
    snprintf(lib, sizeof lib, "%s", tu_tmp("clib"));
    snprintf(data, sizeof data, "%s", tu_tmp("cdata"));
    mkdir(lib, 0755);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/bondi.jpg'", tu_build("meta/full.jpg"), lib);
    sh(cmd);
    srv *s = start_lib(data, lib, 0);
    int port = srv_port(s);
    build_and_wait(port);
    cJSON *q = get_json(port, "/api/search?query=bondi", 200);
    cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "results"), 0);
    assert_non_null(x);
    assert_string_equal(str(x, "description"), "Waves and a red sky");
    cJSON *chips = cJSON_GetObjectItem(x, "chips"), *meta = cJSON_GetObjectItem(chips, "meta"), *e;
    const char *groups[] = {"caption", "ocr", "name", "meta"};
    for (int i = 0; i < 4; i++) {
        cJSON *g = cJSON_GetObjectItem(chips, groups[i]);
        if (!cJSON_IsArray(g)) fail_msg("chips.%s is not an array", groups[i]);
        assert_true(cJSON_GetArraySize(g) <= 12);
        cJSON_ArrayForEach(e, g)
        {
            const char *w = e->valuestring;
            if (strpbrk(w, ".,;:!?\"'()") || !strcmp(w, "over") || !strcmp(w, "the") || !strcmp(w, "at"))
                fail_msg("chips.%s has '%s'", groups[i], w);
        }
    }
    assert_true(has_chip(meta, "beach") && has_chip(meta, "café") && has_chip(meta, "東京"));
    assert_true(has_chip(meta, "harbour") && has_chip(meta, "bondi") && has_chip(meta, "sydney"));
    assert_false(has_chip(meta, "waves")); // the description is the sentence, not chips
    assert_true(has_chip(cJSON_GetObjectItem(chips, "name"), "bondi"));
    cJSON_Delete(q);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_stats_build_shapes),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_build_ocr_setting),
        cmocka_unit_test(test_upload_integrity),
        cmocka_unit_test(test_upload_disk_full),
        cmocka_unit_test(test_disk_full_reads),
        cmocka_unit_test(test_build_and_search),
        cmocka_unit_test(test_search_errors),
        cmocka_unit_test(test_library_paging),
        cmocka_unit_test(test_hostile_paths),
        cmocka_unit_test(test_files_etag),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_similar_delete),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_guard),
        cmocka_unit_test(test_swap),
        cmocka_unit_test(test_nul_deadline),
        cmocka_unit_test(test_keyword_only),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_failures_api),
        cmocka_unit_test(test_words_limits),
        cmocka_unit_test(test_chips_description),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
