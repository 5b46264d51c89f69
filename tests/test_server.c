// The HTTP server end to end, in process on 127.0.0.1 with a free port, talked
// to with libcurl: every route's JSON shape, uploads (several files, 415, 413,
// safe unique names), build (202, 409, progress, completion, searches answered
// during it), the hostile path list for /api/image and /api/thumb, ETag/304,
// similar and delete, the bearer token, keyword-only answers without a model,
// static assets, and graceful shutdown with a request and a build in flight.
#include "testutil.h"
#include "base/err.h"
#include "image/image.h"
#include "server/assets.h"
#include "server/server.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TINY "build/models/tiny-a"
#define NGEN 240 // generated images in the --folder library (makes a build last long enough)
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
    assert_string_equal(str(file_n(o, 1), "name"), "my_photo_.png"); // path part gone, bad bytes '_'
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

static void check_result(const cJSON *x)
{
    const char *keys[] = {"id",     "name",       "rank",      "score",     "clip_score", "keyword_score", "cosine",
                          "bm25",   "matched_in", "thumb_url", "image_url", "caption",    "keywords",      "width",
                          "height", "date",       "size",      "format",    "camera",     "uploaded"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) has(x, keys[i]);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(x, "matched_in")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(x, "keywords")));
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
    int searched_during = 0, saw_progress = 0;
    for (int i = 0; i < 2000; i++) {
        cJSON *b = get_json(port, "/api/build", 200);
        int running = !strcmp(str(b, "state"), "running");
        if (running && num(b, "total") > 0) saw_progress = 1;
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
    r = request(port, "GET", "/api/image/gray.png", NULL, NULL); // stored as my_photo_.png? no: by base name
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
    r = request(port, "GET", "/api/image/my_photo_.png", NULL, NULL);
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

static void test_keyword_only(void **state)
{
    (void)state;
    srv *s = start(g_data, NULL, 1, 0);
    int port = srv_port(s);
    cJSON *q = get_json(port, "/api/search?query=land", 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(q, "keyword_only")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(q, "model")));
    assert_non_null(strstr(str(q, "message"), "lisa models pull clip-vit-base-patch32"));
    assert_string_equal(str(cJSON_GetObjectItem(q, "missing_model"), "install"),
                        "lisa models pull clip-vit-base-patch32");
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
} slow_ctx;

static size_t slow_read(char *buf, size_t size, size_t nitems, void *ud)
{
    slow_ctx *c = ud;
    if (c->sent >= 8) return 0;
    usleep(80000); // the body trickles in over ~0.6 s
    size_t n = size * nitems < 1024 ? size * nitems : 1024;
    memset(buf, 0, n);
    if (c->sent == 0) memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
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
    curl_mime_data_cb(p, 8 * 1024, slow_read, NULL, NULL, c);
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
    slow_ctx c = {port, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, slow_upload, &c);
    usleep(200000); // the upload is in flight
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    srv_stop(s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    assert_int_equal(c.status, 200); // finished, not cut off
    char p[1024];
    snprintf(p, sizeof p, "%s/images/slow.png", data2);
    assert_int_equal(access(p, F_OK), 0);
    double secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    assert_true(secs < 10);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_stats_build_shapes),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_build_and_search),
        cmocka_unit_test(test_search_errors),
        cmocka_unit_test(test_hostile_paths),
        cmocka_unit_test(test_files_etag),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_similar_delete),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_keyword_only),
        cmocka_unit_test(test_graceful_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
